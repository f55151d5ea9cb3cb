//! The `schedule` strategy end to end. The clock is the database's `now()`,
//! so windows are built relative to it: a cron firing every minute and
//! lasting an hour is always active; a cron for a fixed day in 2020 never is.

use serde_json::json;

use crate::cli::pairs;
use crate::cli::{audit_ctx, clusterctl, init_tables, set_strategy, state_of};
use crate::support::Emulator;

#[test]
fn schedule_switches_size_without_downtime_then_suspends_outside_windows() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    init_tables(&emu);
    set_strategy(
        &emu,
        "c",
        "schedule",
        json!({"timezone": "Europe/Berlin", "prewarm_s": 600,
               "windows": [{"cron": "0 * * * * *", "duration_s": 3600, "size": "50cc", "replicas": 2}],
               "default": {"replicas": 0}}),
    );

    // Window active: two 50cc replicas are created, the 25cc one stays.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_25cc", "25cc"), ("r_50cc", "50cc"), ("r_50cc_2", "50cc")])
    );
    // One of two hydrated: still nothing retired.
    emu.set_hydrated("c", "r_50cc", true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    emu.set_hydrated("c", "r_50cc_2", true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."r_25cc""#),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_50cc", "50cc"), ("r_50cc_2", "50cc")])
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    // Both hydrations were measured and kept in the strategy's state slot.
    let state = state_of(&emu, "c").expect("state written");
    let slot = &state["schedule"];
    assert!(slot["hydration_s"].as_f64().is_some(), "{state}");
    assert_eq!(slot["runs"].as_array().map(Vec::len), Some(2), "{state}");
    assert_eq!(slot["pending"], json!({}), "{state}");

    // Only a window long past: the default suspends the cluster, even its
    // last hydrated replicas.
    set_strategy(
        &emu,
        "c",
        "schedule",
        json!({"timezone": "Europe/Berlin",
               "windows": [{"cron": "0 0 12 1 Jan * 2020", "duration_s": 60, "size": "50cc"}],
               "default": {"replicas": 0}}),
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."r_50cc""#),
        "{}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty(), "suspended");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());

    let ctx = audit_ctx(&emu, "c");
    assert!(ctx.iter().all(|c| c["strategy"] == "schedule"), "{ctx:?}");
    let reasons: Vec<&str> = ctx
        .iter()
        .filter_map(|c| c["reasons"][0].as_str())
        .collect();
    assert!(
        reasons[0].starts_with("window '0 * * * * *' (Europe/Berlin) wants 2×50cc until "),
        "{reasons:?}"
    );
    assert!(
        reasons
            .last()
            .is_some_and(|r| r.contains("no window active: default wants the cluster suspended")),
        "{reasons:?}"
    );
}

#[test]
fn schedule_without_default_leaves_the_cluster_alone_and_bad_rows_are_reported() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    set_strategy(
        &emu,
        "c",
        "schedule",
        json!({"timezone": "UTC",
               "windows": [{"cron": "0 0 12 1 Jan * 2020", "duration_s": 60, "size": "800cc"}]}),
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));

    set_strategy(
        &emu,
        "c",
        "schedule",
        json!({"timezone": "Europe/Berln",
               "windows": [{"cron": "0 0 8 * * Mon-Fri", "duration_s": 3600, "size": "800cc"}]}),
    );
    let run = clusterctl(&emu, &["dry-run"]);
    assert!(
        run.all().contains("did you mean 'Europe/Berlin'"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
}
