//! End-to-end reconcile scenarios: the real binary against the emulator.

use serde_json::json;

use crate::cli::pairs;
use crate::cli::{
    audit, audit_ctx, backdate, clusterctl, init_tables, lit, replica_names, set_strategy,
    state_of, strategy,
};
use crate::support::Emulator;

#[test]
fn target_size_resize_is_zero_downtime() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("analytics", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );

    let dry = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        dry.stdout.contains("+ create replica r_50cc (50cc)"),
        "{}",
        dry.all()
    );
    assert_eq!(
        emu.replicas("analytics").len(),
        1,
        "dry-run changes nothing"
    );

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("analytics"),
        vec![
            ("r_25cc".into(), "25cc".into()),
            ("r_50cc".into(), "50cc".into())
        ]
    );
    // Not hydrated yet: the old replica stays.
    let again = clusterctl(&emu, &["apply"]).ok();
    assert!(again.stdout.contains("No changes"), "{}", again.all());
    assert_eq!(emu.replicas("analytics").len(), 2);

    emu.set_hydrated("analytics", "r_50cc", true);
    let retire = clusterctl(&emu, &["apply"]).ok();
    assert!(
        retire
            .stdout
            .contains(r#"DROP CLUSTER REPLICA "analytics"."r_25cc""#),
        "{}",
        retire.all()
    );
    assert_eq!(
        emu.replicas("analytics"),
        vec![("r_50cc".into(), "50cc".into())]
    );

    let trail = audit(&emu, "analytics");
    assert_eq!(trail.len(), 2);
    assert!(trail
        .iter()
        .all(|(_, executed, err)| *executed && err.is_none()));
}

/// Replicas are judged by what they are, not by the names a run gave them:
/// one renamed by hand (Materialize keeps its id, size and hydration) while
/// it hydrates is not created a second time, and the resize's name given
/// back afterwards changes nothing.
#[test]
fn a_replica_renamed_by_hand_mid_resize_is_not_created_again() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("analytics", "main", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc", "replica_name": "main"}),
    );
    let rename = |from: &str, to: &str| {
        postgres::Client::connect(&emu.url(), postgres::NoTls)
            .expect("connect")
            .batch_execute(&format!(
                r#"ALTER CLUSTER REPLICA "analytics"."{from}" RENAME TO "{to}""#
            ))
            .expect("renamed by hand");
    };
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "analytics"."main_50cc" (SIZE = '50cc')"#),
        "{}",
        run.all()
    );
    let id = emu.replica_id("analytics", "main_50cc");

    rename("main_50cc", "fresh");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(
        emu.replicas("analytics"),
        pairs(&[("fresh", "50cc"), ("main", "25cc")])
    );

    emu.set_hydrated("analytics", "fresh", true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"DROP CLUSTER REPLICA "analytics"."main""#),
        "{}",
        run.all()
    );
    rename("fresh", "main");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(emu.replicas("analytics"), pairs(&[("main", "50cc")]));
    assert_eq!(emu.replica_id("analytics", "main"), id);
}

#[test]
fn burst_covers_a_cold_replica_and_leaves_once_it_hydrates() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "800cc"}));

    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "c"."c-burst" (SIZE = '800cc')"#),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c-burst", "800cc"), ("r1", "25cc")])
    );

    // Still nothing else hydrated (even if the burst is): the burst stays.
    emu.set_hydrated("c", "c-burst", true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    emu.set_hydrated("c", "r1", true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."c-burst""#),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    let trail = audit(&emu, "c");
    let sqls: Vec<&str> = trail.iter().map(|(s, _, _)| s.as_str()).collect();
    assert_eq!(
        sqls,
        vec![
            r#"CREATE CLUSTER REPLICA "c"."c-burst" (SIZE = '800cc')"#,
            r#"DROP CLUSTER REPLICA "c"."c-burst""#,
        ]
    );
    assert!(trail.iter().all(|(_, ok, err)| *ok && err.is_none()));
    let ctx = audit_ctx(&emu, "c");
    assert!(ctx.iter().all(|c| c["strategy"] == "burst"), "{ctx:?}");
    assert!(
        ctx[0]["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("no replica is hydrated")),
        "{ctx:?}"
    );
    assert!(
        ctx[1]["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("r1 is hydrated")),
        "{ctx:?}"
    );
}

#[test]
fn idle_suspend_suspends_and_in_flight_demand_wakes_the_cluster() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));

    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."r1""#),
        "{}",
        run.all()
    );
    // The statement log keeps 99% of statements (Materialize's default
    // sample rate): 3600 s / 0.99 of silence is the evidence needed.
    assert!(
        run.stdout
            .contains("idle for 2h00m (threshold 1h00m, +37s for the sampled statement log)"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty(), "suspended");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("No changes"),
        "stays suspended: {}",
        run.all()
    );

    // A query waits on the suspended cluster, and the operator has since
    // configured a size: the cluster comes back at that size.
    emu.add_activity("c", 5, false);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
}

#[test]
fn idle_suspend_demand_brings_back_the_suspended_replicas() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "25cc");
    emu.add_replica("c", "big", "200cc");
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));

    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty());

    // A statement waits; Materialize shows it once its log is flushed
    // (every few seconds, reference §1.11).
    emu.add_activity("c", 1, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("statement(s) waiting"), "{}", run.all());
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("big", "200cc"), ("r1", "25cc")])
    );
}

/// Suspends `c` (idle for two hours, `idle_suspend` after one) with a
/// table `t` its users query; the session-cluster rule is on, so a query on
/// `c` while it has no replica fails as in Materialize (reference §8.10).
fn suspended_cluster_with_a_table() -> Emulator {
    let emu = Emulator::builder().strict_session_cluster(true).start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_activity("c", 2 * 3600, true);
    emu.sql("CREATE TABLE t (a int)");
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu
}

#[test]
fn a_query_refused_on_a_suspended_cluster_wakes_it() {
    // Materialize logs a statement before it runs and sets its cluster
    // before it checks for replicas, so the refused query is in the log
    // (`error`, on `c`; src/adapter/src/frontend_peek.rs): demand.
    let emu = suspended_cluster_with_a_table();
    let mut user = postgres::Client::connect(
        &format!("{}&application_name=app&options=--cluster%3Dc", emu.url()),
        postgres::NoTls,
    )
    .unwrap();
    let err = user.batch_execute("SELECT a FROM t").unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("0A000"), "{err}");
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["r1"], "{}", run.all());
}

#[test]
fn our_own_statements_on_a_suspended_cluster_do_not_wake_it() {
    // An operator's `status` with `c` as its session cluster is refused (no
    // replica), but Materialize logged what it sent on `c` before that (its
    // `SHOW cluster`). That is not demand: `c` stays suspended.
    let emu = suspended_cluster_with_a_table();
    clusterctl(&emu, &["status", "--exec-cluster", "c"]);
    emu.flush_statement_log();
    let ours = emu.query_one(&format!(
        "SELECT count(*) FROM mz_internal.mz_statement_execution_history_redacted
         WHERE cluster_id = '{}' AND application_name = 'clusterctl'",
        emu.cluster_id("c")
    ));
    assert_ne!(ours.as_deref(), Some("0"), "our statements are logged on c");
    // Nor is it use: `status` says `c` was last used two hours ago, by the
    // statement before its suspension, not seconds ago by ours.
    let c = crate::crash_loop::status_of(&emu, "c");
    assert_eq!(c["activity"]["state"], "idle", "{c:#}");
    let idle_s = c["activity"]["idle_seconds"].as_u64().unwrap_or_default();
    assert!((7000..8000).contains(&idle_s), "{c:#}");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert!(emu.replicas("c").is_empty(), "still suspended");
}

#[test]
fn a_statement_in_flight_for_days_keeps_its_cluster_awake() {
    // A SUBSCRIBE open since yesterday: it began before the activity
    // lookback (24 h), and was left out, so the cluster looked idle.
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "25cc");
    emu.add_activity("c", 26 * 3600, false);
    emu.add_activity("c", 2 * 3600, true);
    emu.flush_statement_log();
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
}

/// A two-hour query that finished five minutes ago: the cluster has been
/// idle for five minutes, not two hours (it was suspended at once; the
/// reference counts from the end too).
#[test]
fn idle_time_counts_from_the_end_of_a_long_query() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "25cc");
    emu.add_activity("c", 2 * 3600, true);
    emu.sql(
        "UPDATE mz_emulator.statement_log SET finished_at = now() - INTERVAL '5 minutes', \
         visible_at = now() - INTERVAL '5 minutes'",
    );
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 1800}));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
}

/// `batch` (idle_suspend + burst) with r1 (50cc), suspended by a first
/// run, then a statement waiting on it.
fn suspended_batch_with_demand() -> Emulator {
    let emu = Emulator::start();
    emu.create_cluster("batch");
    emu.add_index("batch");
    emu.add_replica("batch", "r1", "50cc");
    emu.add_activity("batch", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "batch", "idle_suspend", json!({"idle_after_s": 60}));
    strategy(
        &emu,
        "batch",
        "burst",
        json!({"burst_replica_size": "100cc"}),
    );
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("batch").is_empty(), "suspended");
    emu.add_activity("batch", 1, false);
    emu.flush_statement_log();
    emu
}

/// Once the normal replica hydrates, burst drops its replica: the cluster
/// ends on r1 alone.
fn burst_retires_once_r1_hydrates(emu: &Emulator) {
    emu.set_hydrated("batch", "r1", true);
    clusterctl(emu, &["apply"]).ok();
    assert_eq!(emu.replicas("batch"), pairs(&[("r1", "50cc")]));
}

#[test]
fn idle_suspend_completes_a_resume_that_max_actions_cut_short() {
    let emu = suspended_batch_with_demand();
    let run = clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert!(
        run.stdout.contains("--max-actions reached"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("batch"), pairs(&[("batch-burst", "100cc")]));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "batch"."r1" (SIZE = '50cc')"#),
        "the next run continues the resume: {}",
        run.all()
    );
    assert_eq!(
        emu.replicas("batch"),
        pairs(&[("batch-burst", "100cc"), ("r1", "50cc")])
    );
    burst_retires_once_r1_hydrates(&emu);
    // The run that created r1 recorded the resume done.
    let state = state_of(&emu, "batch").expect("state written");
    assert!(
        state["idle_suspend"].get("resuming").is_none(),
        "done once live: {state}"
    );
}

/// A wake's replicas are created by its run, whose state is written only
/// once they all were: an operator who then swaps a woken replica for
/// another by hand keeps that choice (the next run created it again, as
/// "not created yet", running both).
#[test]
fn a_woken_replica_an_operator_replaces_is_not_created_again() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r1", "50cc");
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 600}));
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu.add_activity("c", 1, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("Applied 1 of 1"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "50cc")]), "woken");
    postgres::Client::connect(&emu.url(), postgres::NoTls)
        .and_then(|mut c| {
            c.batch_execute("CREATE CLUSTER REPLICA c.r2 (SIZE = '100cc')")?;
            c.batch_execute("DROP CLUSTER REPLICA c.r1")
        })
        .expect("swap the replica by hand");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r2", "100cc")]));
}

#[test]
fn idle_suspend_retries_a_resume_whose_create_failed() {
    let emu = suspended_batch_with_demand();
    // The burst is created first; r1's CREATE fails.
    emu.fail_ddl(2, "53000", "out of capacity");
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(run.all().contains("1 failed"), "{}", run.all());
    assert_eq!(emu.replicas("batch"), pairs(&[("batch-burst", "100cc")]));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("batch"),
        pairs(&[("batch-burst", "100cc"), ("r1", "50cc")])
    );
    burst_retires_once_r1_hydrates(&emu);
}

#[test]
fn idle_suspend_does_not_resume_a_size_no_longer_offered_and_says_so() {
    let emu = suspended_batch_with_demand();
    // What was remembered at the suspension is no longer offered.
    let mut state = state_of(&emu, "batch").expect("state written");
    state["idle_suspend"]["suspended"][0]["size"] = json!("75cc");
    emu.sql(&format!(
        "UPDATE mz_cluster_strategy_state SET payload = {}::jsonb WHERE cluster_id = {}",
        lit(&state.to_string()),
        lit(&emu.cluster_id("batch"))
    ));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stderr.contains("not bringing back replica r1 (75cc)")
            && run.stderr.contains("size 75cc is not offered")
            && run.stderr.contains("cannot be resumed by idle_suspend")
            && run.stderr.contains("clusterctl wipe-state --cluster"),
        "{}",
        run.all()
    );
    assert!(
        emu.replicas("batch").is_empty(),
        "no CREATE that would fail"
    );
}

#[test]
fn idle_suspend_without_activity_data_does_not_suspend_unless_opted_in() {
    // A fresh emulator: the statement log has no rows at all.
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));

    let dry = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(dry.stdout.contains("No changes"), "{}", dry.all());
    assert!(
        dry.stdout.contains("no activity data"),
        "the note explains why: {}",
        dry.all()
    );
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert!(run.stdout.contains("no activity data"), "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), vec!["r1"]);

    set_strategy(
        &emu,
        "c",
        "idle_suspend",
        json!({"idle_after_s": 60, "suspend_when_unknown": true}),
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("suspend_when_unknown"),
        "the reason names the opt-in: {}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty());
}

#[test]
fn idle_suspend_gives_a_never_queried_cluster_a_grace_period() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    emu.create_cluster("busy");
    // Logging works (another cluster has rows), this one was never queried.
    emu.add_activity("busy", 10, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));

    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), vec!["r1"]);
    let state = state_of(&emu, "c").expect("state written");
    assert!(state["_controller"]["first_seen"].is_string(), "{state}");

    // An hour and more later (first seen moved back): suspended.
    backdate(&emu, "c", &["_controller", "first_seen"], 2 * 3600);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."r1""#),
        "{}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty());
}

/// A never-queried cluster, suspended, then its state wiped: the wipe
/// took the controller's first sight of it, from which its silence is
/// counted, so the run after it found the cluster idle for no time and
/// started what target_size and burst want, with no statement to wake it
/// (an outside check). It stays suspended until a statement comes.
#[test]
fn a_suspended_cluster_never_queried_stays_suspended_after_a_wipe() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    emu.create_cluster("busy");
    emu.add_activity("busy", 10, true);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "200cc"}));
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    clusterctl(&emu, &["apply"]).ok();
    backdate(&emu, "c", &["_controller", "first_seen"], 2 * 3600);
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");

    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    for _ in 0..2 {
        let run = clusterctl(&emu, &["apply"]).ok();
        assert!(
            !run.stdout.contains("CREATE CLUSTER REPLICA"),
            "{}",
            run.all()
        );
        assert!(emu.replicas("c").is_empty(), "{}", run.all());
    }
    // A statement wakes it, with what its suspension dropped.
    emu.set_setting("statement_log_flush_delay_s", "0");
    emu.add_activity("c", 0, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        emu.replicas("c").iter().any(|(name, _)| name == "r_25cc"),
        "{:?}: {}",
        emu.replicas("c"),
        run.all()
    );
}

/// A cluster suspended by hand (or by mz-clusterctl before a migration: no
/// trail of ours shows it) and never queried since: on the first sight its
/// silence counted from that moment, so target_size's replica was started
/// for an idle_after_s nobody asked for. With no replica it cannot have
/// served a statement the log would not show: silent since the log's
/// oldest statement, it stays suspended until one comes.
#[test]
fn a_cluster_suspended_by_hand_stays_suspended_on_the_first_sight() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.create_cluster("busy");
    // The log's oldest statement (another cluster's) began two hours ago.
    emu.add_activity("busy", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    for _ in 0..2 {
        let run = clusterctl(&emu, &["apply"]).ok();
        assert!(
            !run.stdout.contains("CREATE CLUSTER REPLICA"),
            "{}",
            run.all()
        );
        assert!(emu.replicas("c").is_empty(), "{}", run.all());
    }
    // A statement (flushed to the log) wakes it.
    emu.add_activity("c", 0, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["r_25cc"], "{}", run.all());
}

#[test]
fn idle_suspend_treats_a_log_silent_for_the_whole_lookback_as_unknown() {
    // The only statement in the log is two days old, older than the
    // lookback (max(24 h, idle_after_s)). Old rows say nothing about whether
    // logging still works (it may have been turned off since), so activity is
    // unknown and nothing is suspended; `suspend_when_unknown` opts in.
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    emu.create_cluster("d");
    emu.add_replica("d", "r1", "25cc");
    emu.add_activity("c", 2 * 24 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    strategy(
        &emu,
        "d",
        "idle_suspend",
        json!({"idle_after_s": 3600, "suspend_when_unknown": true}),
    );

    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["r1"], "{}", run.all());
    assert!(run.stdout.contains("no activity data"), "{}", run.all());
    assert!(emu.replicas("d").is_empty(), "opted in: {}", run.all());
}

/// A replica made by hand below the size serving that stays initializing
/// is given up as stuck after 50 minutes: dropped, its size not tried again
/// (it was taken for `shrink_to_fit`'s try of its size for ever, and made
/// again at every wake: an outside check).
#[test]
fn shrink_to_fit_gives_up_a_hand_made_replica_that_never_hydrates() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "c_100cc", "100cc");
    emu.set_hydrated("c", "c_100cc", true);
    emu.add_replica("c", "h3", "50cc");
    // Online 30 s after it was made, 51 minutes ago; never hydrated.
    emu.set_replica_started("c", "h3", 51 * 60, 30);
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."h3""#)
            && run
                .stdout
                .contains("h3 (50cc) has not hydrated in 51m (given up as stuck)"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c_100cc", "100cc"), ("c_25cc", "25cc")])
    );
    // 50cc is not tried again.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c_100cc", "100cc"), ("c_25cc", "25cc")])
    );
}

#[test]
fn shrink_to_fit_tries_every_size_and_keeps_the_smallest_healthy_one() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c_100cc", "100cc"), ("c_25cc", "25cc"), ("c_50cc", "50cc")])
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("No changes"),
        "nothing hydrated yet: {}",
        run.all()
    );

    emu.add_crash("c", "c_25cc", true, 60);
    emu.add_crash("c", "c_25cc", true, 30);
    emu.set_hydrated("c", "c_50cc", true);
    emu.set_hydrated("c", "c_100cc", true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."c_25cc""#) && run.stdout.contains("OOM"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."c_100cc""#)
            && run.stdout.contains("larger than needed"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("c_50cc", "50cc")]));

    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("c_50cc", "50cc")]));
    assert_eq!(audit(&emu, "c").len(), 5);
}

#[test]
fn target_size_burst_and_idle_suspend_work_together() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r_25cc", "25cc");
    emu.add_activity("c", 10, true);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "800cc"}));
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));

    // Nothing hydrated and a resize wanted: the new size and a burst.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("Applied 2 of 2 actions"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c-burst", "800cc"), ("r_25cc", "25cc"), ("r_50cc", "50cc")])
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    // The target hydrates: the old size and the burst both go.
    emu.set_hydrated("c", "r_50cc", true);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]));

    // Idle for two hours: suspended, even though target_size wants a replica.
    emu.sql("DELETE FROM mz_internal.mz_statement_execution_history");
    emu.add_activity("c", 2 * 3600, true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("idle for"), "{}", run.all());
    assert!(emu.replicas("c").is_empty());
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("No changes"),
        "stays suspended: {}",
        run.all()
    );

    // Demand: back at the target size, with a burst while it hydrates. The
    // waiting statement shows once Materialize flushes its log (§1.11).
    emu.add_activity("c", 1, false);
    emu.flush_statement_log();
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c-burst", "800cc"), ("r_50cc", "50cc")])
    );
    emu.set_hydrated("c", "r_50cc", true);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]));
}

#[test]
fn a_failed_ddl_stops_its_cluster_only_and_the_next_run_converges() {
    let emu = Emulator::start();
    emu.create_cluster("a");
    emu.add_index("a");
    emu.create_cluster("b");
    emu.add_index("b");
    init_tables(&emu);
    // a: three creates (c_100cc, c_25cc, c_50cc by name); b: one create.
    strategy(
        &emu,
        "a",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    strategy(&emu, "b", "target_size", json!({"target_size": "25cc"}));
    clusterctl(&emu, &["dry-run"]).ok();

    emu.fail_ddl(2, "XX000", "simulated failure");
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(run.stdout.contains("FAILED"), "{}", run.all());
    assert!(run.stdout.contains("simulated failure"), "{}", run.all());
    assert!(
        run.stdout
            .contains("Applied 3 of 4 actions on 2 clusters (1 failed)"),
        "{}",
        run.all()
    );
    // a: the first create ran, the second failed, the third ran all the
    // same (a cluster's creations do not rely on one another).
    assert_eq!(
        emu.replicas("a"),
        pairs(&[("a_100cc", "100cc"), ("a_50cc", "50cc")])
    );
    // b went on.
    assert_eq!(emu.replicas("b"), pairs(&[("r_25cc", "25cc")]));

    let trail = audit(&emu, "a");
    assert_eq!(trail.len(), 3, "{trail:?}");
    assert!(trail[0].1 && trail[0].2.is_none(), "{trail:?}");
    assert_eq!(
        trail[1],
        (
            r#"CREATE CLUSTER REPLICA "a"."a_25cc" (SIZE = '25cc')"#.to_string(),
            false,
            Some("simulated failure".to_string())
        )
    );
    assert!(trail[2].1, "{trail:?}");
    assert_eq!(audit(&emu, "b").len(), 1);
    assert!(
        state_of(&emu, "a").is_none(),
        "no state for a failed cluster"
    );
    assert!(state_of(&emu, "b").is_some());

    // No fault: the next run completes cleanly and the one after has nothing
    // left to do. (Which replicas `a` ends with: see
    // shrink_to_fit_retries_the_sizes_a_failed_run_did_not_create.)
    clusterctl(&emu, &["apply"]).ok();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert!(audit(&emu, "a").iter().skip(2).all(|(_, ok, _)| *ok));
    assert_eq!(emu.replicas("b"), pairs(&[("r_25cc", "25cc")]));
    assert!(state_of(&emu, "a").is_some());
}

/// A failed creation stops what may rely on it: the drop planned beside
/// it is not sent (here the burst's, whose drop comes with the target
/// size's creation), and the next run tries again.
#[test]
fn a_failed_create_stops_its_clusters_drops() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_replica("c", "c-burst", "400cc");
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "target_size",
        json!({"target_size": "50cc", "replica_name": "r1"}),
    );
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "400cc"}));
    let dry = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        dry.stdout.contains("+ create replica r1_50cc (50cc)")
            && dry.stdout.contains("- drop replica c-burst (400cc)"),
        "{}",
        dry.all()
    );
    emu.fail_ddl(1, "XX000", "simulated failure");
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(
        run.stdout
            .contains("Applied 0 of 2 actions on 1 cluster (1 failed, 1 skipped)"),
        "{}",
        run.all()
    );
    assert!(
        !emu.sql_log()
            .iter()
            .any(|q| q.starts_with("DROP CLUSTER REPLICA")),
        "the skipped drop was not attempted"
    );
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c-burst", "400cc"), ("r1", "25cc")])
    );
}

#[test]
fn shrink_to_fit_retries_the_sizes_a_failed_run_did_not_create() {
    let emu = Emulator::start();
    emu.create_cluster("a");
    emu.add_index("a");
    init_tables(&emu);
    strategy(
        &emu,
        "a",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    // a_100cc is created, a_25cc fails, a_50cc is created all the same (a
    // cluster's creations do not rely on one another).
    emu.fail_ddl(2, "XX000", "simulated failure");
    clusterctl(&emu, &["apply"]).code(3);
    assert_eq!(
        emu.replicas("a"),
        pairs(&[("a_100cc", "100cc"), ("a_50cc", "50cc")])
    );

    // Nothing is hydrated yet, so the search is still on: the next run must
    // start the size the failed run left out, as a clean run would have.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("a"),
        pairs(&[("a_100cc", "100cc"), ("a_25cc", "25cc"), ("a_50cc", "50cc")]),
        "the sizes that failed or were skipped are tried too"
    );
}

#[test]
fn hostile_names_are_addressed_exactly_end_to_end() {
    let emu = Emulator::start();
    let hostile = r#"a"; DROP TABLE x; --"#;
    let new_name = "b'; DROP TABLE x; --";
    emu.sql("CREATE TABLE x (a int)");
    emu.create_hydrated_cluster(hostile, hostile, "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        hostile,
        "target_size",
        json!({"target_size": "50cc", "replica_name": new_name}),
    );

    let run = clusterctl(&emu, &["apply"]).ok();
    let create =
        r#"CREATE CLUSTER REPLICA "a""; DROP TABLE x; --"."b'; DROP TABLE x; --" (SIZE = '50cc')"#;
    assert!(run.stdout.contains(create), "{}", run.all());
    assert_eq!(
        emu.replicas(hostile),
        pairs(&[(hostile, "25cc"), (new_name, "50cc")])
    );

    emu.set_hydrated(hostile, new_name, true);
    let run = clusterctl(&emu, &["apply"]).ok();
    let drop = r#"DROP CLUSTER REPLICA "a""; DROP TABLE x; --"."a""; DROP TABLE x; --""#;
    assert!(run.stdout.contains(drop), "{}", run.all());
    assert_eq!(emu.replicas(hostile), pairs(&[(new_name, "50cc")]));

    // Nothing else happened.
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM x").as_deref(),
        Some("0")
    );
    assert_eq!(emu.replicas("quickstart"), pairs(&[("r1", "25cc")]));
    let trail = audit(&emu, hostile);
    assert_eq!(
        trail,
        vec![
            (create.to_string(), true, None),
            (drop.to_string(), true, None)
        ]
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    // The session can run on it too (SET cluster quotes the name).
    emu.add_activity(hostile, 2 * 3600, true);
    strategy(&emu, hostile, "idle_suspend", json!({"idle_after_s": 60}));
    let run = clusterctl(&emu, &["apply", "--exec-cluster", hostile]).ok();
    assert!(run.stderr.contains("left alone"), "{}", run.all());
    assert_eq!(emu.replicas(hostile), pairs(&[(new_name, "50cc")]));
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM x").as_deref(),
        Some("0")
    );
}

/// A statement the server refuses every time (here a credit limit) was
/// sent again on every run, one failed audit row each: the second refusal
/// in a row makes the next run wait (two minutes, doubling), saying why
/// and with what error; an edit of the cluster's rows sends it at once,
/// and once it runs nothing is held.
#[test]
fn a_statement_refused_every_run_backs_off_until_the_rows_change() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let limit = "creating cluster replica would exceed the region's credit limit";
    emu.fail_every_statement("CREATE CLUSTER REPLICA", "53000", limit);
    let failed = |emu: &Emulator| {
        audit(emu, "c")
            .iter()
            .filter(|(_, executed, _)| !executed)
            .count()
    };
    // Twice in a row: the second attempt comes at once.
    clusterctl(&emu, &["apply"]);
    // status and describe both say it first (describe did not say it).
    let status = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let described = clusterctl(&emu, &["describe", "c", "-o", "json"])
        .ok()
        .json();
    for reason in [
        &status["result"]["clusters"][0]["reason"],
        &described["result"]["reason"],
    ] {
        let reason = reason.as_str().unwrap_or_default();
        assert!(
            reason.starts_with("its last attempt failed ") && reason.contains(limit),
            "{reason}"
        );
    }
    clusterctl(&emu, &["apply"]);
    assert_eq!(failed(&emu), 2, "{:?}", audit(&emu, "c"));
    // Then it waits: nothing sent, the plan says why.
    let held = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(failed(&emu), 2, "{:?}", audit(&emu, "c"));
    assert!(
        held.all().contains("was refused 2 times in a row") && held.all().contains(limit),
        "{}",
        held.all()
    );
    let dry = clusterctl(&emu, &["dry-run", "-o", "json"]).ok().json();
    let waiting = &dry["result"]["plan"]["clusters"][0]["waiting"][0];
    assert_eq!(waiting["action"], "create r_50cc (50cc)", "{dry:#}");
    assert!(
        waiting["in_seconds"]
            .as_u64()
            .is_some_and(|s| s > 60 && s <= 120),
        "{dry:#}"
    );
    // With the only replica hydrating (a burst's case), `status` still
    // says the refusal first: it said `Hydrating` (an outside check).
    emu.set_hydrated("c", "r_25cc", false);
    let status = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let c = &status["result"]["clusters"][0];
    assert_eq!(c["condition"], "Limited", "{status:#}");
    assert!(
        c["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused 2 times in a row")),
        "{status:#}"
    );
    emu.set_hydrated("c", "r_25cc", true);
    // The operator changes the rows: sent at once (refused again here).
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    clusterctl(&emu, &["apply"]);
    assert_eq!(failed(&emu), 3, "{:?}", audit(&emu, "c"));
    clusterctl(&emu, &["apply"]);
    assert_eq!(failed(&emu), 3, "held again: {:?}", audit(&emu, "c"));
    // A pause and its resume count as an edit too (they leave no newer
    // row to tell it by, and it stayed held).
    clusterctl(&emu, &["strategy", "pause", "c"]).ok();
    clusterctl(&emu, &["strategy", "resume", "c"]).ok();
    clusterctl(&emu, &["apply"]);
    assert_eq!(failed(&emu), 4, "{:?}", audit(&emu, "c"));
    // The cause removed and the rows edited: it runs.
    emu.clear_faults();
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    clusterctl(&emu, &["apply"]).ok();
    assert!(
        replica_names(&emu, "c").contains(&"r_50cc".to_string()),
        "{:?}",
        audit(&emu, "c")
    );
}

/// Statements cancelled as the lease could no longer be held were counted
/// as the server's refusals: two lease breaks made the cluster `Limited`,
/// its create backed off (an outside check). They are not refusals.
#[test]
fn statements_cancelled_for_a_lost_lease_are_no_refusals() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    emu.fail_every_statement("CREATE CLUSTER REPLICA", "53000", "over the credit limit");
    clusterctl(&emu, &["apply"]);
    clusterctl(&emu, &["apply"]);
    let held = |emu: &Emulator| {
        let dry = clusterctl(emu, &["dry-run", "-o", "json"]).ok().json();
        dry["result"]["plan"]["clusters"][0]["actions"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    };
    assert!(held(&emu), "refused twice: held");
    emu.sql(
        "UPDATE mz_cluster_strategy_actions SET error_message = \
         'cancelled, as the lease could no longer be held (broken): canceling statement' \
         WHERE NOT executed",
    );
    assert!(!held(&emu), "cancelled twice: sent");
}

/// A suspended cluster whose `burst` row's size is no longer allowed (an
/// admin narrowed `allowed_cluster_replica_sizes`), users waiting: woken by
/// `idle_suspend` alone, with an alert naming the invalid row (the whole
/// cluster was skipped and stayed empty under its users: an outside
/// check).
#[test]
fn users_waiting_wake_a_suspended_cluster_whose_burst_row_is_invalid() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "100cc"}));
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("c", 7200, true);
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu.set_setting("allowed_cluster_replica_sizes", "25cc,50cc");
    emu.add_activity("c", 5, false);
    let run = clusterctl(&emu, &["apply"]);
    assert!(
        emu.replicas("c")
            .iter()
            .any(|(n, s)| n == "r1" && s == "25cc"),
        "{}",
        run.all()
    );
    assert!(run.all().contains("strategy rows invalid"), "{}", run.all());
    // Exit 3, as for a cluster skipped for invalid rows (it exited 0, so a
    // cron alerting on 3 missed the bad row while users waited: an
    // outside check).
    assert_eq!(run.code, 3, "{}", run.all());
}
