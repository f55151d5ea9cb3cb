//! Managed clusters: the same strategies, carried out with ALTER CLUSTER
//! (resize, replication factor) instead of replica DDL, in the form each
//! Materialize release supports (reference §2.4, §8.1): in the background
//! (v26.35+, the emulator's default), blocking until ready (v26.34), or not
//! at all without downtime (releases where graceful reconfiguration is
//! gated off).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{
    audit, audit_ctx, backdate, clusterctl, command, init_tables, pairs, run_cmd, set_strategy,
    strategy,
};
use crate::support::{Emulator, Release};

fn rf(emu: &Emulator, cluster: &str) -> Option<String> {
    emu.query_one(&format!(
        "SELECT replication_factor::text FROM mz_catalog.mz_clusters WHERE name = '{cluster}'"
    ))
}

/// A managed cluster `m` of 25cc with one hydrated replica r1, one index,
/// a statement a minute ago, and a target_size of 100cc.
fn managed_25cc(emu: &Emulator) {
    emu.create_managed_cluster("m", "25cc", 1);
    emu.add_index("m");
    emu.set_hydrated("m", "r1", true);
    emu.add_activity("m", 60, true);
    init_tables(emu);
    strategy(emu, "m", "target_size", json!({"target_size": "100cc"}));
}

/// How many statements the server saw that contain `needle`.
fn sent(emu: &Emulator, needle: &str) -> usize {
    emu.logged(needle).len()
}

/// A managed resize sent with no answer (the connection cut after the
/// server ran it) is not sent again: a second `ALTER … SET (SIZE)`
/// restarts the reconfiguration, and on a release whose plain form waits
/// (background mode off) each attempt waited its whole deadline: three
/// ALTERs, 11 minutes each, in one run (an outside check). The outcome is
/// unknown, said so, and the next run settles it from the catalog.
#[test]
fn a_resize_without_an_answer_is_never_sent_twice() {
    let emu = Emulator::start();
    managed_25cc(&emu);
    emu.cut_after_statement("ALTER CLUSTER", 1);
    let run = clusterctl(&emu, &["apply", "--max-retries", "3"]);
    assert_eq!(sent(&emu, "SET (SIZE"), 1, "{}", run.all());
    assert!(
        run.all().contains("whether it took effect is not known"),
        "{}",
        run.all()
    );
    // The resize runs (the server got it): settled so, nothing sent again.
    let next = clusterctl(&emu, &["apply"]);
    assert_eq!(sent(&emu, "SET (SIZE"), 1, "{}", next.all());
    let outcome = emu.query_one(
        "SELECT executed::text FROM mz_cluster_strategy_actions \
         WHERE action_sql LIKE 'ALTER CLUSTER%SIZE%'",
    );
    assert_eq!(outcome.as_deref(), Some("true"), "{}", next.all());
}

#[test]
fn managed_cluster_resize_suspend_and_wake() {
    // The newest release: the ALTER returns at once, Materialize cuts over
    // in the background once the new replica is ready. Run as production
    // does: a role that is no superuser, owns the cluster and its tables,
    // and may read the statement log.
    let emu = Emulator::start();
    let role = emu.create_role("ctl");
    emu.grant_role(&role, "mz_monitor_redacted");
    let run_as = |args: &[&str]| {
        let mut cmd = command();
        cmd.args(args).env("DATABASE_URL", role.url());
        run_cmd(cmd)
    };
    run_as(&["init"]).ok();
    emu.create_managed_cluster("m", "25cc", 1);
    emu.set_cluster_owner("m", &role.name);
    emu.add_index("m");
    emu.set_hydrated("m", "r1", true);
    emu.add_activity("m", 60, true);
    strategy(&emu, "m", "target_size", json!({"target_size": "100cc"}));
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 3600}));

    let run = run_as(&["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#)
            && !run.stdout.contains("WAIT UNTIL READY"),
        "plain SET (SIZE) on a background release: {}",
        run.all()
    );
    // Started, not "complete": Materialize resizes on.
    assert!(
        run.stdout.contains("m: resize started") && !run.stdout.contains("complete"),
        "{}",
        run.all()
    );
    // Still the old size: the new replica hydrates first.
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc"), ("r2", "100cc")]));

    // While it is in flight nothing is sent: no second ALTER (it would fold
    // into the first and reset its deadline), no replication-factor change
    // (55006), even for a cluster that has gone idle meanwhile.
    emu.sql("DELETE FROM mz_internal.mz_statement_execution_history");
    emu.add_activity("m", 2 * 3600, true);
    emu.clear_sql_log();
    let run = run_as(&["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 0, "{:?}", emu.sql_log());
    let plan = run_as(&["dry-run", "-v"]).ok();
    assert!(
        plan.stdout.contains("waiting for the resize to finish"),
        "{}",
        plan.all()
    );

    // The new replica is ready: Materialize cuts over; then the idle cluster
    // is suspended with replication factor 0.
    emu.set_hydrated("m", "r2", true);
    assert_eq!(emu.cluster_size("m").as_deref(), Some("100cc"));
    assert_eq!(emu.replicas("m"), pairs(&[("r2", "100cc")]));
    let run = run_as(&["apply"]).ok();
    assert!(
        run.stdout.contains("SET (REPLICATION FACTOR = 0)"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("m").is_empty());
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"));

    // A query waits on the suspended cluster: back to one replica of 100cc.
    emu.add_activity("m", 5, false);
    emu.flush_statement_log();
    let run = run_as(&["apply"]).ok();
    assert!(
        run.stdout.contains("SET (REPLICATION FACTOR = 1)"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("m").len(), 1);
    assert_eq!(emu.replicas("m")[0].1, "100cc");
    assert_eq!(audit(&emu, "m").len(), 3, "resize, suspend, resume");
}

/// `clusterctl ARGS` started, once its blocking resize of `m` waits
/// behind the `r1-pending` replica.
fn apply_blocked_on_pending(emu: &Emulator, args: &[&str]) -> std::process::Child {
    let mut cmd = command();
    cmd.args(args)
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start clusterctl");
    let started = Instant::now();
    while !emu.replicas("m").iter().any(|(n, _)| n == "r1-pending") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no pending replica: {:?}",
            emu.replicas("m")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

#[test]
fn a_blocking_release_resizes_with_wait_until_ready_and_rolls_back_on_timeout() {
    // v26.34: graceful only WITH (WAIT UNTIL READY …), which holds the
    // session behind `r1-pending` replicas until they are ready.
    let emu = Emulator::builder()
        .materialize_release(Release::Blocking)
        .start();
    managed_25cc(&emu);

    // Timeout: Materialize rolls back and says so (57014), not retried.
    let run = clusterctl(&emu, &["apply", "--resize-timeout", "1s"]).code(3);
    assert!(
        run.stdout
            .contains("WITH (WAIT UNTIL READY (TIMEOUT = '1s', ON TIMEOUT = 'ROLLBACK'))"),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("provided timeout lapsed"),
        "{}",
        run.all()
    );
    assert_eq!(sent(&emu, "SET (SIZE"), 1, "a timeout is not retried");
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));
    // Nor sent again by the next runs: it rolled back as a background
    // resize does at its deadline (it was sent every run, each holding
    // the run for --resize-timeout: an outside check).
    let run = clusterctl(&emu, &["apply", "--resize-timeout", "1s"]).ok();
    assert_eq!(sent(&emu, "SET (SIZE"), 1, "{}", run.all());
    assert!(
        run.all().contains("the resize to 100cc sent at")
            && run
                .all()
                .contains("failed (canceling statement, provided timeout lapsed"),
        "{}",
        run.all()
    );
    let status = clusterctl(&emu, &["status", "-o", "json"]).json();
    assert_eq!(
        status["result"]["clusters"][0]["condition"], "ResizeRolledBack",
        "{status:#}"
    );

    // Ready in time: the statement returns once the pending replica is.
    let emu = Emulator::builder()
        .materialize_release(Release::Blocking)
        .start();
    managed_25cc(&emu);
    let child = apply_blocked_on_pending(&emu, &["apply"]);
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    emu.set_hydrated("m", "r1-pending", true);
    let out = child.wait_with_output().expect("clusterctl ends");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "100cc")]));
    assert_eq!(emu.cluster_size("m").as_deref(), Some("100cc"));
}

#[test]
fn a_blocking_resize_cancelled_by_a_lost_lease_is_recorded_as_not_applied() {
    // `unlock --force` while our WAIT UNTIL READY blocks: the heartbeat
    // finds the lease taken, the statement is cancelled, and Materialize
    // rolls it back ("any interruption will cause a cancellation, no
    // cluster changes will take effect"). The answer is awaited, so the
    // trail says not applied instead of leaving the cluster in doubt until
    // the statement's deadline.
    let emu = Emulator::builder()
        .materialize_release(Release::Blocking)
        .start();
    managed_25cc(&emu);
    let child = apply_blocked_on_pending(&emu, &["apply", "--lease-ttl", "8s"]);
    let mut unlock = command();
    unlock
        .args(["unlock", "--force"])
        .env("DATABASE_URL", emu.url());
    assert_eq!(run_cmd(unlock).code, 0);
    let out = child.wait_with_output().expect("clusterctl ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("the lease was lost"), "{stdout}{stderr}");
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]), "rolled back");
    assert_eq!(
        emu.reconfiguration_status("m").as_deref(),
        Some("cancelled")
    );
    let trail = audit(&emu, "m");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(!trail[0].1, "not applied: {trail:?}");
    assert!(
        trail[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("cancelled, as the lease")),
        "{trail:?}"
    );
    // Nothing in doubt: the next run resizes at once.
    let status = clusterctl(&emu, &["status", "-o", "json"]).json();
    assert_ne!(
        status["result"]["clusters"][0]["condition"], "InDoubt",
        "{status:#}"
    );
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(plan.stdout.contains("SET (SIZE"), "{}", plan.all());
}

#[test]
fn without_graceful_resize_a_managed_cluster_is_resized_only_when_downtime_is_allowed() {
    // A release where graceful reconfiguration is gated off: WITH (WAIT …)
    // is refused and a plain SET (SIZE) restarts the cluster.
    let emu = Emulator::builder()
        .materialize_release(Release::Gated)
        .start();
    managed_25cc(&emu);

    // The gate is not visible to `SHOW` (Materialize's feature flags are
    // not, to our users): the graceful form is tried, and refused.
    let tried = clusterctl(&emu, &["apply"]).code(3);
    assert!(
        tried.stdout.contains("WAIT UNTIL READY")
            && tried
                .all()
                .contains("zero-downtime reconfiguration for alter cluster is not supported"),
        "{}",
        tried.all()
    );
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 1);
    // Known from then on: held back, and said, with when it is tried again.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert!(
        run.stderr.contains(
            "not resizable to 100cc on this release without downtime (it refused a graceful \
             resize as not supported at"
        ) && run.stderr.contains("one is tried again after"),
        "{}",
        run.all()
    );
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 1);
    // Not said converged (the target is not reached): held back, as by a limit.
    let status = clusterctl(&emu, &["status"]).ok();
    assert!(
        status.stdout.contains("Limited") && !status.stdout.contains("Converged"),
        "{}",
        status.all()
    );
    let check = clusterctl(&emu, &["check"]).code(3);
    assert!(
        check.stdout.contains("cannot resize it without downtime")
            && check
                .stdout
                .contains("it refused a graceful resize as not supported at"),
        "{}",
        check.all()
    );
    // So does doctor's line of the server.
    let doctor = clusterctl(&emu, &["doctor"]);
    assert!(
        doctor.stdout.contains("no bounded graceful resize")
            && doctor.stdout.contains("one is tried again after"),
        "{}",
        doctor.all()
    );

    // The operator accepts a restart.
    set_strategy(
        &emu,
        "m",
        "target_size",
        json!({"target_size": "100cc", "allow_downtime": true}),
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#)
            && run.stdout.contains("downtime"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "100cc")]));
}

#[test]
fn a_pending_updates_error_is_not_retried() {
    // 55006 means a reconfiguration is under way: it lasts minutes, so the
    // action fails and the next run waits for the resize to finish.
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "25cc", 1);
    emu.set_hydrated("m", "r1", true);
    emu.add_activity("m", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 3600}));
    emu.fail_ddl(1, "55006", "cannot alter clusters with pending updates");
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(
        run.stdout
            .contains("cannot alter clusters with pending updates"),
        "{}",
        run.all()
    );
    assert_eq!(sent(&emu, "REPLICATION FACTOR"), 1, "{:?}", emu.sql_log());
    assert_eq!(rf(&emu, "m").as_deref(), Some("1"));
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

/// Managed `m` (two 25cc replicas, hydrated, idle two hours) with
/// `idle_suspend`, suspended by a first run (replication factor 0).
fn suspended_managed_pair() -> Emulator {
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "25cc", 2);
    emu.add_index("m");
    emu.set_hydrated("m", "r1", true);
    emu.set_hydrated("m", "r2", true);
    emu.add_activity("m", 7200, true);
    init_tables(&emu);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 60}));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"), "suspended");
    emu
}

/// `m`'s state wiped, then a query waits on it: the dry-run's plan of `m`.
fn wiped_and_queried(emu: &Emulator) -> serde_json::Value {
    clusterctl(emu, &["wipe-state", "--yes"]).ok();
    emu.add_activity("m", 5, false);
    emu.flush_statement_log();
    let plan = clusterctl(emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    plan["result"]["plan"]["clusters"][0].clone()
}

/// An operator sets `m`'s replication factor to 0 by hand.
fn empty_by_hand(emu: &Emulator) {
    postgres::Client::connect(&emu.url(), postgres::NoTls)
        .expect("connect")
        .batch_execute(r#"ALTER CLUSTER "m" SET (REPLICATION FACTOR = 0)"#)
        .expect("emptied by hand");
}

/// Nothing remembered: `m`'s plan wakes it at its size, one replica (what
/// ran before is not known; users waited, "converged", told to create a
/// replica Materialize refuses on a managed cluster: an outside check).
fn assert_woken_at_its_size(m: &serde_json::Value) {
    assert_eq!(m["actions"].as_array().map(Vec::len), Some(1), "{m:#}");
    assert_eq!(m["actions"][0]["kind"], "set_replication_factor", "{m:#}");
    assert_eq!(m["actions"][0]["replication_factor"], 1, "{m:#}");
    let why = m["actions"][0]["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.contains("nothing remembered; woken at its size 25cc"),
        "{m:#}"
    );
    assert_eq!(m["alerts"], json!([]), "{m:#}");
}

#[test]
fn a_wiped_suspended_managed_cluster_wakes_with_the_factor_its_suspension_ended() {
    // A managed cluster is suspended by replication factor 0, not by drops:
    // with its state wiped, the trail's suspension row still says what it
    // ran, and demand brings that back.
    let emu = suspended_managed_pair();
    let m = &wiped_and_queried(&emu);
    assert_eq!(m["actions"][0]["kind"], "set_replication_factor", "{m:#}");
    assert_eq!(m["actions"][0]["replication_factor"], 2, "{m:#}");
    let why = m["actions"][0]["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.contains(
            "state was wiped; waking with r1 (25cc), r2 (25cc) as the last suspension dropped, by "
        ) && why.contains("per the audit trail"),
        "{m:#}"
    );
    assert_eq!(m["alerts"], json!([]), "{m:#}");
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(rf(&emu, "m").as_deref(), Some("2"), "woken as it ran");
    assert_eq!(emu.replicas("m").len(), 2);

    // Emptied by hand after that wake and wiped again: the trail's wake
    // (a factor above 0) is newer than its suspension, so what ran since
    // is not known: woken at its size, one replica.
    empty_by_hand(&emu);
    let m = &wiped_and_queried(&emu);
    assert_woken_at_its_size(m);
}

/// Audit rows without a time (written by hand) in a suspended cluster's
/// trail: a timeless suspension row was read as the newest suspension
/// (`DESC` puts NULL first) and, having no time, dropped by the parser, so
/// the wiped cluster had nothing to wake with; a timeless creation hid the
/// wake after the suspension, so a cluster emptied by hand since was woken
/// with a guess. Both are left out: the rows with times decide.
#[test]
fn timeless_rows_hide_neither_the_suspension_nor_the_wake() {
    let emu = suspended_managed_pair();
    let timeless = |id: &str, factor: u32| {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
             VALUES ('{id}', {}, 'ALTER CLUSTER m SET (REPLICATION FACTOR = {factor})', \
                     '{{\"kind\": \"set_replication_factor\", \"replication_factor\": {factor}, \
                        \"strategy\": \"idle_suspend\", \"run_id\": \"{id}\", \
                        \"signals\": {{\"replicas\": \"[]\"}}}}', true, NULL)",
            crate::cli::lit(&emu.cluster_id("m"))
        ));
    };
    timeless("timeless-suspension", 0);
    let m = &wiped_and_queried(&emu);
    assert_eq!(m["actions"][0]["replication_factor"], 2, "{m:#}");
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(rf(&emu, "m").as_deref(), Some("2"), "woken as it ran");
    // Emptied by hand since the wake: what ran is not known (woken at its
    // size, one replica, not the two of the suspension), whatever a
    // timeless creation says.
    empty_by_hand(&emu);
    timeless("timeless-creation", 1);
    let m = &wiped_and_queried(&emu);
    assert_woken_at_its_size(m);
}

/// The operator resizes a managed cluster that only `idle_suspend` runs,
/// and it goes idle while the resize is in flight (tenth session's review):
/// the suspension waits for the cut-over and then goes out; a query wakes
/// it at the size the operator chose. Before, the held-back suspension was
/// remembered with both sizes, the wake wanted two sizes of a cluster that
/// has one, changed nothing, and the cluster never woke again.
#[test]
fn a_managed_cluster_idle_through_an_operators_resize_wakes_at_its_size() {
    let emu = Emulator::start();
    init_tables(&emu);
    emu.create_managed_cluster("m", "25cc", 1);
    emu.add_index("m");
    emu.set_hydrated("m", "r1", true);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 60}));
    let mut mz = postgres::Client::connect(&emu.url(), postgres::NoTls).expect("connect");
    mz.batch_execute("ALTER CLUSTER m SET (SIZE = '50cc')")
        .expect("the operator's resize");
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc"), ("r2", "50cc")]));
    emu.add_activity("m", 3600, true);
    emu.clear_sql_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 0, "{}", run.all());
    // Cut over: the idle cluster is suspended.
    emu.set_hydrated("m", "r2", true);
    assert_eq!(emu.cluster_size("m").as_deref(), Some("50cc"));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("SET (REPLICATION FACTOR = 0)"),
        "{}",
        run.all()
    );
    // A query waits: back to one replica of 50cc.
    emu.add_activity("m", 5, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("SET (REPLICATION FACTOR = 1)"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("m").len(), 1, "{}", run.all());
    assert_eq!(emu.replicas("m")[0].1, "50cc");
}

/// `managed_25cc`'s background resize sent by an `apply`, its deadline
/// (one second, standing in for Materialize's default of a day) passed
/// with the new replica never hydrated: Materialize has rolled it back.
fn resize_past_its_deadline() -> Emulator {
    let emu = Emulator::start();
    emu.set_setting("default_cluster_reconfiguration_timeout", "1s");
    managed_25cc(&emu);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("m: resize started"), "{}", run.all());
    std::thread::sleep(Duration::from_millis(1300));
    emu
}

/// A background resize whose new replica never hydrates: at its deadline
/// Materialize's controller drops the new replica by itself (ON TIMEOUT
/// ROLLBACK, the default), with nothing to poke it. The next run must see
/// the resize as over, not wait on it for ever ("waiting for the resize"),
/// and not send the same resize again at once either: each attempt runs a
/// second set of replicas until its deadline. It holds it back and says
/// why (an alert, `status` ResizeRolledBack).
#[test]
fn a_background_resize_rolled_back_at_its_deadline_is_not_sent_again_blindly() {
    let emu = resize_past_its_deadline();
    // Nothing poked the controller; the product's own reads see the
    // rollback, and the plan says so instead of resending it.
    let plan = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        !plan.stdout.contains("waiting for the resize to finish")
            && !plan
                .stdout
                .contains(r#"ALTER CLUSTER "m" SET (SIZE = '100cc')"#)
            && plan.stdout.contains("did not take"),
        "the rolled-back resize is held back, said why: {}",
        plan.all()
    );
    emu.clear_sql_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(sent(&emu, "SET (SIZE = '100cc')"), 0, "{}", run.all());
    assert!(run.all().contains("did not take"), "{}", run.all());
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    let sizes: Vec<String> = emu.replicas("m").into_iter().map(|(_, s)| s).collect();
    assert_eq!(sizes, ["25cc"], "no new target replica");
    // status names the condition, with the time it is sent again.
    let status = clusterctl(&emu, &["status", "-o", "json"]).json();
    let m = &status["result"]["clusters"][0];
    assert_eq!(m["condition"], "ResizeRolledBack", "{status:#}");
    assert!(
        m["reason"]
            .as_str()
            .is_some_and(|r| r.contains("100cc") && r.contains("held back until")),
        "{status:#}"
    );
    // Run after run it is the same attempt: the backoff does not grow.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.all().contains("did not take"), "{}", run.all());
    assert!(!run.all().contains("attempts in a row"), "{}", run.all());
}

/// An executed `set_size` row without a time (written by hand: the column
/// allows NULL) read first among the cluster's resizes (`DESC` puts NULL
/// first), the parser dropped it for want of a time, and the resize that
/// did not take was sent again at once: the backoff was gone. It is left
/// out: the newest resize with a time is the one held back.
#[test]
fn a_timeless_resize_row_does_not_lift_the_backoff() {
    let emu = resize_past_its_deadline();
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions \
         (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
         VALUES ('timeless', {}, 'ALTER CLUSTER m SET (SIZE = ''50cc'')', \
                 '{{\"kind\": \"set_size\", \"size\": \"50cc\"}}', true, NULL)",
        crate::cli::lit(&emu.cluster_id("m"))
    ));
    emu.clear_sql_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.all().contains("did not take"), "{}", run.all());
    assert_eq!(sent(&emu, "SET (SIZE = '100cc')"), 0, "{}", run.all());
}

/// `apply --audit-retention` keeps a cluster's newest resize however old:
/// the plan reads it to hold back a resize that did not take, and the
/// backoff counts from when a plan saw it, which may be days after it was
/// sent (here the controller was stopped for a week). Before, the pruning
/// deleted it with the other old rows, and the next run sent the held-back
/// resize again at once. It also never makes every run prune.
#[test]
fn audit_retention_keeps_the_resize_a_backoff_holds_back() {
    let emu = resize_past_its_deadline();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.all().contains("did not take"), "{}", run.all());
    // Sent ten days ago, first seen not taken three days ago: held back
    // for as long as it ran, seven days, so for four more.
    emu.sql("UPDATE mz_cluster_strategy_actions SET created_at = created_at - INTERVAL '10 days'");
    let slot = ["_controller", "resize_not_taken"];
    backdate(&emu, "m", &[slot[0], slot[1], "sent_at"], 10 * 86_400);
    backdate(&emu, "m", &[slot[0], slot[1], "seen_at"], 3 * 86_400);
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions \
         SELECT md5(random()::text || g), {}, 'DROP CLUSTER REPLICA m.r', \
                '{{\"kind\": \"drop_replica\", \"reasons\": [\"a past run\"]}}', true, NULL, \
                now() - INTERVAL '100 days' \
         FROM generate_series(1, 3) g",
        crate::cli::lit(&emu.cluster_id("m"))
    ));
    emu.clear_sql_log();
    for _ in 0..2 {
        let run = clusterctl(&emu, &["apply", "--audit-retention", "8d"]).ok();
        assert!(run.all().contains("did not take"), "{}", run.all());
    }
    assert_eq!(sent(&emu, "SET (SIZE = '100cc')"), 0, "{:?}", emu.sql_log());
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    let kinds: Vec<String> = audit_ctx(&emu, "m")
        .iter()
        .filter_map(|c| c["kind"].as_str().map(str::to_string))
        .collect();
    assert_eq!(kinds, ["set_size"], "the old drops went, the resize stayed");
    let prunes = sent(&emu, r#"DELETE FROM "mz_cluster_strategy_actions""#);
    assert_eq!(prunes, 1, "pruned once, not every run: {:?}", emu.sql_log());
}

/// An operator makes a managed cluster unmanaged while a run is about to
/// resize it: the resize is withdrawn, not sent to fail ("SIZE not
/// supported for unmanaged clusters": exit 3 and a FAILED row that alerts),
/// and the next run plans replica DDL.
#[test]
fn a_cluster_made_unmanaged_after_the_snapshot_is_skipped_not_failed() {
    let emu = Emulator::start();
    managed_25cc(&emu);
    // At the guard's read of the replicas (the same, by id and name).
    let url = emu.url();
    emu.on_statement("WHERE r.cluster_id = $1", 1, move |_| {
        postgres::Client::connect(&url, postgres::NoTls)
            .expect("connect")
            .batch_execute(r#"ALTER CLUSTER "m" SET (MANAGED = false)"#)
            .expect("made unmanaged");
    });
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("was made managed or unmanaged"),
        "{}",
        run.all()
    );
    assert_eq!(sent(&emu, "SET (SIZE"), 0);
    let failed = clusterctl(&emu, &["history", "--failed", "-o", "json"]).json();
    assert_eq!(failed["result"]["entries"], json!([]), "{failed:#}");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "m"."r_100cc""#),
        "{}",
        run.all()
    );
}

/// A resize the server refuses, sent with a `--resize-timeout` of its own:
/// `status`, which plans with the default timeout, still says it was
/// refused and waits (a refusal was matched by the statement's text,
/// which carries the timeout: an outside check).
#[test]
fn a_refused_resize_is_known_whatever_timeout_it_was_sent_with() {
    let emu = Emulator::builder()
        .materialize_release(Release::Blocking)
        .start();
    managed_25cc(&emu);
    emu.fail_every_statement("SET (SIZE", "XX000", "size not permitted by the region");
    for _ in 0..2 {
        clusterctl(&emu, &["apply", "--resize-timeout", "15m"]).code(3);
    }
    assert_eq!(sent(&emu, "SET (SIZE"), 2);
    let reason = crate::cli::status_reason(&emu);
    assert!(
        reason.contains("refused 2 times in a row") && reason.contains("size not permitted"),
        "{reason}"
    );
    // Nor does the other timeout start the count over: still held.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(sent(&emu, "SET (SIZE"), 2);
}

/// A saved plan approved a graceful resize; the region changed before it
/// was applied (a release whose graceful resize is gated off, known from
/// its refusal), so the same statement would now restart the cluster:
/// refused, nothing done (it ran, with downtime: an outside check). An
/// edit of an action's strategy is refused too.
#[test]
fn a_saved_graceful_resize_is_not_applied_as_a_restart() {
    let emu = Emulator::start();
    managed_25cc(&emu);
    set_strategy(
        &emu,
        "m",
        "target_size",
        json!({"target_size": "100cc", "allow_downtime": true}),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plan.json");
    let path = path.to_string_lossy().to_string();
    let saved = clusterctl(&emu, &["dry-run", "--out", &path]).ok();
    assert!(
        saved.stdout.contains("in the background"),
        "{}",
        saved.all()
    );
    // An older release, whose graceful resize is gated off: the gate is
    // not visible to SHOW, so its refusal says so.
    emu.set_setting("release", "gated");
    emu.set_setting("mz_version", "v26.34.0 (e0e0e0e0e)");
    emu.set_setting("enable_zero_downtime_cluster_reconfiguration", "off");
    let tried = clusterctl(&emu, &["apply"]).code(3);
    assert!(
        tried.stdout.contains("WAIT UNTIL READY") && tried.all().contains("is not supported"),
        "{}",
        tried.all()
    );
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 1);
    let run = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    assert!(
        run.stderr
            .contains("as a resize done gracefully, in the background")
            && run.stderr.contains("now do it with a restart (downtime)"),
        "{}",
        run.all()
    );
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 1);
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));

    // Back on the newest release; the action's strategy edited in the file.
    emu.set_setting("release", "background");
    emu.set_setting("mz_version", "v26.35.0 (e0e0e0e0e)");
    let text = std::fs::read_to_string(&path).expect("the plan");
    let mut doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    doc["result"]["plan"]["clusters"][0]["actions"][0]["strategy"] = json!("burst");
    std::fs::write(&path, doc.to_string()).expect("write");
    let run = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    assert!(run.stderr.contains("the file was edited"), "{}", run.all());
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 1);
    std::fs::write(&path, &text).expect("write");
    clusterctl(&emu, &["apply", "--plan", &path]).ok();
    assert_eq!(sent(&emu, "ALTER CLUSTER"), 2);
}

/// A suspended managed cluster whose size is withdrawn while users come
/// stays suspended, remembering what it ran, and wakes with its two
/// replicas once the size is allowed again (the wake was recorded with
/// nothing made, and the cluster later woke at one replica: an outside
/// check).
#[test]
fn a_managed_wake_blocked_by_a_withdrawn_size_keeps_what_it_remembers() {
    let emu = suspended_at_factor_2();
    emu.set_setting("allowed_cluster_replica_sizes", "50cc,100cc");
    emu.add_activity("m", 5, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"), "{}", run.all());
    assert!(run.all().contains("not bringing back"), "{}", run.all());
    emu.set_setting("allowed_cluster_replica_sizes", "");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(rf(&emu, "m").as_deref(), Some("2"), "{}", run.all());
}

/// The same with a `target_size` row choosing an offered size: the wake
/// goes, at that size (kept suspended, the cluster stayed so under its
/// users though the row chose a size it could run: an outside check).
#[test]
fn a_managed_wake_blocked_by_a_withdrawn_size_goes_at_a_size_a_strategy_chooses() {
    let emu = suspended_at_factor_2();
    emu.set_setting("allowed_cluster_replica_sizes", "50cc,100cc");
    strategy(&emu, "m", "target_size", json!({"target_size": "100cc"}));
    emu.add_activity("m", 5, false);
    let run = clusterctl(&emu, &["apply"]);
    let size = emu.query_one("SELECT size FROM mz_catalog.mz_clusters WHERE name = 'm'");
    assert_eq!(size.as_deref(), Some("100cc"), "{}", run.all());
    assert_ne!(rf(&emu, "m").as_deref(), Some("0"), "{}", run.all());
}

/// The same after `wipe-state`: the trail's memory of the suspension is
/// kept while its size cannot be made, and the cluster wakes at factor 2
/// once it can (the trail was marked read with nothing to recall, and the
/// cluster later woke at one replica: an outside check).
#[test]
fn a_wiped_managed_wake_blocked_by_a_withdrawn_size_keeps_the_trails_memory() {
    let emu = suspended_at_factor_2();
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    emu.add_activity("m", 5, false);
    emu.set_setting("allowed_cluster_replica_sizes", "50cc,100cc");
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"), "{}", run.all());
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"), "{}", run.all());
    emu.set_setting("allowed_cluster_replica_sizes", "");
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(rf(&emu, "m").as_deref(), Some("2"), "{}", run.all());
}

/// Managed `m` (25cc, replication factor 2) with an `idle_suspend` row,
/// suspended by `apply` (factor 0).
fn suspended_at_factor_2() -> Emulator {
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "25cc", 2);
    init_tables(&emu);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("m", 7200, true);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(rf(&emu, "m").as_deref(), Some("0"));
    emu
}
