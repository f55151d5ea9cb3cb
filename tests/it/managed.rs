//! Managed clusters: the same strategies, carried out with ALTER CLUSTER
//! (graceful resize, replication factor) instead of replica DDL.

use serde_json::json;

use crate::cli::{audit, clusterctl, init_tables, strategy};
use crate::support::Emulator;

fn rf(emu: &Emulator, cluster: &str) -> Option<String> {
    emu.query_one(&format!(
        "SELECT replication_factor::text FROM mz_catalog.mz_clusters WHERE name = '{cluster}'"
    ))
}

#[test]
fn managed_cluster_resize_suspend_and_wake() {
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "25cc", 1);
    emu.add_index("m");
    emu.set_hydrated("m", "r1", true);
    init_tables(&emu);
    strategy(&emu, "m", "target_size", json!({"target_size": "100cc"}));
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 3600}));
    emu.add_activity("m", 60, true);

    // Resize: one graceful ALTER CLUSTER, no replica DDL.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"ALTER CLUSTER "m" SET (SIZE = '100cc') WITH (WAIT UNTIL READY"#),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("m"),
        vec![("r1".to_string(), "100cc".to_string())]
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    // Idle for two hours: replication factor 0.
    emu.sql("DELETE FROM mz_internal.mz_statement_execution_history");
    emu.add_activity("m", 2 * 3600, true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("SET (REPLICATION FACTOR = 0)"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("m").is_empty());
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"));

    // A query waits on the suspended cluster: back to one replica of 100cc.
    emu.add_activity("m", 5, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("SET (REPLICATION FACTOR = 1)"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("m"),
        vec![("r1".to_string(), "100cc".to_string())]
    );
    assert_eq!(audit(&emu, "m").len(), 3, "resize, suspend, resume");
}

#[test]
fn burst_on_a_managed_cluster_is_refused_with_a_reason() {
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "25cc", 1);
    init_tables(&emu);
    strategy(&emu, "m", "burst", json!({"burst_replica_size": "800cc"}));
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stderr.contains("not supported on managed clusters"),
        "{}",
        run.stderr
    );
    assert_eq!(
        emu.replicas("m"),
        vec![("r1".to_string(), "25cc".to_string())]
    );
}
