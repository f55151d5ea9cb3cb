//! Runner A of the behaviour scenarios (`tests/behaviour/*.toml`, format in
//! `tests/behaviour/README.md`): each scenario is built on a fresh emulator
//! and every step runs the real binary (`clusterctl apply --output json`).
//! Runner B (`src/sim/behaviour_tests.rs`) runs the same files on the
//! simulator; both must agree with the expectations.
//!
//! Time: the emulator gets a virtual clock. `public.now()` (which comes
//! before `pg_catalog` on the database's search path) is the server's clock
//! plus an offset, and a step's `advance_s` moves the offset forward, so
//! the product's snapshot (`SELECT now()`), the catalog queries' windows and
//! the test helpers all see time pass as the simulator's clock does.

use crate::cli::{clusterctl, init_tables, strategy};
use crate::support::{Emulator, Pattern};

#[path = "../behaviour/format.rs"]
mod format;

use format::{Outcome, Scenario, Step};

/// Builds the scenario's clusters, replicas and strategy rows.
fn build(emu: &Emulator, sc: &Scenario) {
    emu.install_clock();
    for c in &sc.clusters {
        emu.create_cluster(&c.name);
        if c.index {
            emu.add_index(&c.name);
        }
        for (name, size) in &c.replicas {
            emu.add_replica(&c.name, name, size);
        }
    }
    init_tables(emu);
    for c in &sc.clusters {
        for (ty, config) in &c.strategies {
            strategy(emu, &c.name, ty, config.clone());
        }
    }
}

/// Applies the step's signals, runs one `clusterctl apply`, reads the result.
fn round(emu: &Emulator, sc: &Scenario, step: &Step) -> Outcome {
    emu.advance_clock(step.advance_s);
    // In-flight statements of the previous step have finished.
    emu.sql(
        "UPDATE mz_internal.mz_statement_execution_history
         SET finished_at = now(), finished_status = 'success', result_size = 8, rows_returned = 1,
             execution_strategy = 'standard'
         WHERE finished_at IS NULL",
    );
    // Replicas the previous apply created have started by now: Materialize
    // reports a new replica offline/`initializing` until its process is up
    // (reference §8.7), which takes seconds, less than a step.
    let starting = emu.query_strings(
        "SELECT c.name, r.name FROM mz_internal.mz_cluster_replica_statuses s
         JOIN mz_catalog.mz_cluster_replicas r ON r.id = s.replica_id
         JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
         WHERE s.status = 'offline' AND s.reason = 'initializing'",
    );
    for row in starting {
        if let [Some(cluster), Some(replica)] = &row[..] {
            emu.set_replica_online(cluster, replica);
        }
    }
    for (c, replica) in &step.hydrate {
        emu.set_hydrated(&sc.clusters[*c].name, replica, true);
    }
    for (c, replica, n) in &step.ooms {
        for secs_ago in 1..=i64::from(*n) {
            emu.add_crash(&sc.clusters[*c].name, replica, true, secs_ago);
        }
    }
    for a in &step.activity {
        let secs = i64::try_from(a.began_secs_ago).expect("began_secs_ago");
        emu.add_activity(&sc.clusters[a.cluster].name, secs, !a.in_flight);
    }
    // The step's statements are in the log when the run reads it: Materialize
    // flushes the log every few seconds (§1.11), and a step stands for the
    // state at the run, not the instant a statement began.
    emu.flush_statement_log();
    for (c, replica) in &step.fail {
        // The DDL itself, not the audit row that quotes it; its names
        // quoted as clusterctl's DDL quotes them.
        let ident = clusterctl::ddl::ident;
        let name = format!("{}.{}", ident(&sc.clusters[*c].name), ident(replica));
        let ddl = Pattern::regex(&format!(
            r"^\s*(CREATE|DROP) CLUSTER REPLICA {}",
            regex::escape(&name)
        ));
        emu.fail_statement(ddl, 1, "XX000", format::REFUSAL);
    }
    let max = step.max_actions.map(|n| n.to_string());
    let mut args = vec!["apply", "--output", "json"];
    if let Some(n) = &max {
        args.extend(["--max-actions", n]);
    }
    let run = clusterctl(emu, &args);
    // A refused DDL is a problem of the run (exit 3), not its failure.
    let expected = if step.fail.is_empty() { 0 } else { 3 };
    assert_eq!(
        run.code,
        expected,
        "tests/behaviour/{}.toml step {}: apply failed:\n{}",
        sc.name,
        step.number,
        run.all()
    );
    let doc = run.json();
    let mut actions = vec![Vec::new(); sc.clusters.len()];
    for r in doc["result"]["apply"]["results"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let cluster = r["cluster"].as_str().unwrap_or_default();
        let Some(c) = sc.clusters.iter().position(|x| x.name == cluster) else {
            panic!("an action on a cluster the scenario does not have: {r}");
        };
        let verb = match r["kind"].as_str().unwrap_or_default() {
            "create_replica" => "create".to_string(),
            "drop_replica" => "drop".to_string(),
            other => other.to_string(),
        };
        // A failed or unknown action says why in `error`, a skipped one in
        // `reason` (`exec::ActionStatus`).
        let status = match r["status"].as_str().unwrap_or_default() {
            "executed" => "executed".to_string(),
            other => {
                let why = r["error"].as_str().or(r["reason"].as_str());
                format!("{other}: {}", why.unwrap_or_default())
            }
        };
        actions[c].push(format::action_text(
            &verb,
            r["replica"].as_str().unwrap_or_default(),
            &status,
        ));
    }
    let replicas = sc.clusters.iter().map(|c| emu.replicas(&c.name)).collect();
    Outcome { replicas, actions }
}

#[test]
fn behaviour_scenarios_on_the_real_backend() {
    let mut failures = Vec::new();
    let scenarios = format::load_all();
    for sc in &scenarios {
        let emu = Emulator::start();
        build(&emu, sc);
        if let Err(e) = format::run_steps("real", sc, |step| round(&emu, sc, step)) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenario(s) failed on the real backend:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}
