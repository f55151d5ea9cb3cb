//! The snapshot costs a constant number of statements, whatever the number
//! of clusters.

use crate::cli::{clusterctl, init_tables};
use crate::support::{Emulator, Stats};

/// Seeds `n` clusters, each with a target_size strategy, and counts what one
/// dry-run sends.
fn dry_run_statements(n: usize) -> Stats {
    let emu = Emulator::start();
    emu.seed_clusters(n, "fleet_");
    init_tables(&emu);
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT id, 'target_size', '{\"target_size\": \"25cc\", \"replica_name\": \"r1\"}', now() \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'",
    );
    emu.reset_stats();
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stdout.contains(&format!("{n} clusters converged")),
        "{}",
        run.all()
    );
    emu.stats()
}

#[test]
fn dry_run_statement_count_does_not_grow_with_clusters() {
    let small = dry_run_statements(10);
    let large = dry_run_statements(500);
    eprintln!("statements for 10 clusters: {small:?}; for 500 clusters: {large:?}");
    assert_eq!(small.statements, large.statements);
    // Preflight (session cluster: 3) + snapshot (15: catalog, our tables,
    // release, role, 6 settings, activity); README "Signals".
    assert!(small.statements <= 18, "{small:?}");
    assert_eq!(large.ddl, 0);
}
