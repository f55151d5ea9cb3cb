//! Predictive `idle_suspend` end to end: the binary against the emulator
//! with weeks of statement history, read in one statement; suspended with
//! the next predicted demand named, woken ahead of it, kept warm until
//! users come; a history it cannot read leaves it reacting only.

use serde_json::json;

use crate::cli::{audit, clusterctl, init_tables, replica_names, state_of, strategy};
use crate::support::{ActivityHistory, Emulator};

/// Seconds since UTC midnight on the database's clock.
fn time_of_day(emu: &Emulator) -> i64 {
    emu.query_one(
        "SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') \
         - date_trunc('day', now() AT TIME ZONE 'UTC'))::bigint",
    )
    .and_then(|s| s.parse().ok())
    .expect("time of day")
}

/// Four weeks of an hour of statements every day (in the window the
/// product reads), starting `in_s` seconds from now's time of day.
fn history(emu: &Emulator, in_s: i64) -> u64 {
    emu.add_activity_history(&ActivityHistory {
        clusters: "bi".into(),
        // Not wrapped at midnight: late in the day, yesterday's session
        // is after midnight, today, within the activity lookback (wrapped,
        // it ended over a day ago and the cluster would look new). Each
        // session is then a day later, and yesterday's falls after the 28
        // whole days before today's midnight the product reads: one day
        // more keeps four weeks in that window whatever the time of day.
        days: 29,
        start_s: time_of_day(emu) + in_s,
        duration_s: 3600,
        per_hour: 30,
        ..ActivityHistory::default()
    })
}

fn setup() -> Emulator {
    // Every statement logged: the replica here hydrates at once (0 s
    // learned), so a wake on demand costs only the half interval until a
    // run sees the users, and a day whose first statements the sampler
    // dropped (its onset two minutes late) is rightly left to wake on
    // demand; which day that is would then depend on the sampler's hash.
    let emu = Emulator::builder().statement_sample_rate(1.0, 1.0).start();
    emu.create_hydrated_cluster("bi", "r1", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "bi",
        "idle_suspend",
        json!({"idle_after_s": 600, "predict": true}),
    );
    emu
}

/// [`setup`], suspended while the users are hours away, who are now due
/// in `in_s` seconds (the history replaced).
fn suspended_then_due_in(in_s: i64) -> Emulator {
    let emu = setup();
    assert!(history(&emu, 3 * 3600) > 700);
    clusterctl(&emu, &["apply"]).ok();
    assert!(replica_names(&emu, "bi").is_empty(), "idle: suspended");
    emu.sql("DELETE FROM mz_emulator.statement_log");
    history(&emu, in_s);
    emu
}

#[test]
fn suspended_with_the_next_demand_named_then_woken_ahead_of_it() {
    let emu = setup();
    // Users come every day three hours from now; the last left ~20 h ago.
    assert!(history(&emu, 3 * 3600) > 700);
    clusterctl(&emu, &["apply"]).ok();
    assert!(replica_names(&emu, "bi").is_empty(), "idle: suspended");
    let (sql, ok, _) = audit(&emu, "bi").pop().expect("an audited drop");
    assert!(sql.contains("DROP CLUSTER REPLICA") && ok, "{sql}");
    let ctx = crate::cli::audit_ctx(&emu, "bi").pop().unwrap_or_default();
    let reason = ctx.to_string();
    assert!(
        reason.contains("next predicted demand") && reason.contains("waking at"),
        "{reason}"
    );

    // Now the users are due in five minutes: a dry-run wakes it, saying why.
    emu.sql("DELETE FROM mz_emulator.statement_log");
    history(&emu, 300);
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let cp = &plan["result"]["plan"]["clusters"][0];
    let action = &cp["actions"][0];
    assert_eq!(action["kind"], "create_replica", "{cp:#}");
    assert_eq!(action["replica"], "r1");
    let why = action["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.contains("predicted demand") && why.contains("from 4 weeks of history"),
        "{why}"
    );
    assert!(why.contains("hydration 10m on 25cc (assumed"), "{why}");
    assert!(
        cp["next_decision_at"].is_string(),
        "the plan says when to look again: {cp:#}"
    );

    // Applied: created; nobody came yet, and it stays warm.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "bi"), vec!["r1"]);
    emu.set_hydrated("bi", "r1", true);
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let cp = &plan["result"]["plan"]["clusters"][0];
    assert_eq!(cp["actions"].as_array().map(Vec::len), Some(0), "{cp:#}");
    assert!(cp["notes"].to_string().contains("keeping warm"), "{cp:#}");
    // It learned how long that hydration took (from the request to the
    // first run that saw it hydrated).
    clusterctl(&emu, &["apply"]).ok();
    let st = state_of(&emu, "bi").expect("state");
    let samples = &st["idle_suspend"]["predict"]["hydrations"]["by_size"]["25cc"];
    assert_eq!(samples.as_array().map(Vec::len), Some(1), "{st:#}");

    // `describe` and `status -o wide` show what it learned.
    let d = clusterctl(&emu, &["describe", "bi"]).ok();
    assert!(
        d.stdout
            .contains("Demand profile (learned from 4 weeks of statement history"),
        "{}",
        d.all()
    );
    assert!(d.stdout.contains("daily"), "{}", d.all());
    assert!(d.stdout.contains("Hydration: "), "{}", d.all());
    let s = clusterctl(&emu, &["status", "-o", "wide"]).ok();
    assert!(
        s.stdout.contains("PREDICTED") && s.stdout.contains("daily"),
        "{}",
        s.all()
    );
    let json = clusterctl(&emu, &["describe", "bi", "--output", "json"])
        .ok()
        .json();
    let p = &json["result"]["prediction"];
    assert_eq!(p["history"], "4 weeks", "{json:#}");
    assert_eq!(p["windows"][0]["days"], "daily");
    assert_eq!(p["hydration"][0]["basis"], "learned");
    // What the aim served warm on the past days, and on each week held
    // out: four weeks of the same hour, so both meet the default target.
    let w = &p["windows"][0];
    for share in ["warm_in_past_pct", "held_out_pct"] {
        let pct = w[share].as_f64().unwrap_or_default();
        assert!((99.5..=100.0).contains(&pct), "{share}: {w:#}");
    }
    assert!(d.stdout.contains("WARM IN PAST"), "{}", d.all());
    // The shortest past session: an hour of statements every two minutes,
    // from the first to the last, and never more than the hour.
    let shortest = w["shortest_session_s"].as_i64().unwrap_or_default();
    assert!((3000..=3600).contains(&shortest), "{w:#}");
    assert!(d.stdout.contains("SHORTEST SESSION"), "{}", d.all());
    conforms(&json);
}

/// The document conforms to the published JSON Schema.
fn conforms(doc: &serde_json::Value) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/render/clusterctl.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("the schema file");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let v = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn a_history_it_cannot_read_leaves_it_reacting_only() {
    let emu = setup();
    history(&emu, 300);
    // Users two minutes ago: busy, nothing to suspend.
    emu.add_activity("bi", 120, true);
    emu.flush_statement_log();
    emu.fail_statement(
        "mz_statement_execution_history_redacted WHERE began_at >=",
        1,
        "42501",
        "permission denied for VIEW \"mz_internal.mz_statement_execution_history_redacted\"",
    );
    let run = clusterctl(&emu, &["dry-run", "--output", "json"]).ok();
    let plan = run.json();
    let cp = &plan["result"]["plan"]["clusters"][0];
    assert_eq!(cp["actions"].as_array().map(Vec::len), Some(0), "{cp:#}");
    assert!(
        cp["notes"].to_string().contains("no statement history"),
        "{cp:#}"
    );
    assert!(run.stderr.contains("mz_monitor_redacted"), "{}", run.all());
}

#[test]
fn a_cron_period_given_as_interval_starts_the_wake_earlier() {
    let emu = suspended_then_due_in(15 * 60);
    let creates = |args: &[&str]| {
        let plan = clusterctl(&emu, args).ok().json();
        plan["result"]["plan"]["clusters"][0]["actions"]
            .as_array()
            .map(|a| a.len())
            .unwrap_or(0)
    };
    // A 1-minute controller: 10 min assumed hydration + 1 min + 1 min
    // margin = 12 min of lead, not due yet.
    assert_eq!(creates(&["dry-run", "--output", "json"]), 0);
    // A 5-minute cron (before, --interval needed --watch): 16 min, due.
    let every_5m = ["dry-run", "--output", "json", "--interval", "5m"];
    assert_eq!(creates(&every_5m), 1);
    clusterctl(&emu, &["apply", "--interval", "5m"]).ok();
    assert_eq!(replica_names(&emu, "bi"), ["r1"]);
}

/// A wake reviewed as a saved plan: `dry-run --out` plans with the
/// interval the cron recorded (5 min: due), and `apply --plan` with no
/// `--interval` must plan with the same one, or the reviewed wake (due only
/// with the cron's longer lead) is refused as stale.
#[test]
fn a_saved_plan_is_applied_with_the_interval_it_was_planned_with() {
    let emu = setup();
    assert!(history(&emu, 3 * 3600) > 700);
    clusterctl(&emu, &["apply", "--interval", "5m"]).ok();
    assert!(replica_names(&emu, "bi").is_empty(), "idle: suspended");
    emu.sql("DELETE FROM mz_emulator.statement_log");
    history(&emu, 15 * 60);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("plan.json");
    let path = file.to_string_lossy().into_owned();
    let saved = clusterctl(&emu, &["dry-run", "--out", &path]).ok();
    assert!(saved.stdout.contains("+ create replica"), "{}", saved.all());
    let run = clusterctl(&emu, &["apply", "--plan", &path]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(replica_names(&emu, "bi"), ["r1"]);
    // The cron's interval stays recorded: a hand-run apply of a reviewed
    // plan is not the controller.
    let state = state_of(&emu, "bi").unwrap_or_default();
    assert_eq!(
        state["idle_suspend"]["predict"]["interval_s"], 300,
        "{state:#}"
    );
}

/// Sessions of `duration_s` on each of the last four weeks' days, the
/// latest of which ended `ended_ago_s` before now.
fn sessions(emu: &Emulator, cluster: &str, duration_s: i64, ended_ago_s: i64) -> u64 {
    emu.add_activity_history(&ActivityHistory {
        clusters: cluster.into(),
        days: 29,
        // Day 1's session begins at now − 1 day + (start_s − time of day).
        start_s: time_of_day(emu) + 86_400 - ended_ago_s - duration_s,
        duration_s,
        per_hour: 60,
        ..ActivityHistory::default()
    })
}

/// The third review's fleet: `apply` suspended `bi` and reported `etl`
/// converged. `etl`'s nightly job last ran 35 hours ago, beyond the
/// statement log's 24-hour lookback, and its replica started since: its
/// idle time counts from that start (a silence from before proves
/// nothing): kept for `idle_after_s`, and the plan says so instead of a
/// bare "converged". `describe` shows the history's last statement, not
/// "new (no statement seen)" (an outside check).
#[test]
fn a_cluster_silent_over_the_whole_lookback_is_kept_from_the_first_sight_and_says_so() {
    let emu = Emulator::builder().statement_sample_rate(1.0, 1.0).start();
    emu.create_hydrated_cluster("bi", "r1", "100cc");
    emu.create_hydrated_cluster("etl", "r_200cc", "200cc");
    init_tables(&emu);
    strategy(&emu, "bi", "idle_suspend", json!({"idle_after_s": 900}));
    strategy(&emu, "etl", "target_size", json!({"target_size": "200cc"}));
    strategy(
        &emu,
        "etl",
        "idle_suspend",
        json!({"idle_after_s": 1800, "predict": true}),
    );
    assert!(sessions(&emu, "bi", 8 * 3600, 21 * 3600) > 10_000);
    assert!(sessions(&emu, "etl", 4 * 3600, 35 * 3600) > 5_000);
    clusterctl(&emu, &["apply"]).ok();
    assert!(replica_names(&emu, "bi").is_empty(), "idle 21 h: suspended");
    assert_eq!(replica_names(&emu, "etl"), ["r_200cc"]);
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let etl = plan["result"]["plan"]["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["cluster"] == "etl"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(etl["status"], "converged", "{etl:#}");
    let notes = etl["notes"].to_string();
    assert!(
        notes.contains("no statement of this cluster since a replica it runs started")
            && notes.contains("suspended once idle 30m"),
        "{etl:#}"
    );
    let d = clusterctl(&emu, &["describe", "etl", "-o", "json"])
        .ok()
        .json();
    let signals = &d["result"]["signals"];
    assert_eq!(signals["activity"]["state"], "idle", "{signals:#}");
    let last = signals["last_activity"].as_str().unwrap_or_default();
    let ago_s: i64 = emu
        .query_one(&format!(
            "SELECT extract(epoch FROM now() - '{last}'::timestamptz)::bigint::text"
        ))
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    assert!(
        (34 * 3600..36 * 3600).contains(&ago_s),
        "the history's last statement, 35 h ago: {signals:#}"
    );
}

#[test]
fn describe_and_status_show_the_wake_the_controller_will_make() {
    let emu = setup();
    // A cron every five minutes suspends the cluster while its users are
    // hours away, and names the wake it aims at: 10 min assumed hydration
    // + 5 min + 1 min margin before them.
    assert!(history(&emu, 3 * 3600) > 700);
    clusterctl(&emu, &["apply", "--interval", "5m"]).ok();
    assert!(replica_names(&emu, "bi").is_empty(), "idle: suspended");
    let reason = crate::cli::audit_ctx(&emu, "bi")
        .pop()
        .unwrap_or_default()
        .to_string();
    let waking = reason
        .split_once("waking at ")
        .map(|(_, rest)| rest.chars().take("Mon 08:41".len()).collect::<String>())
        .unwrap_or_else(|| panic!("a wake named: {reason}"));

    // `describe` and `status` are given no interval: they plan with the
    // controller's, and show the same wake.
    let d = clusterctl(&emu, &["describe", "bi", "--output", "json"])
        .ok()
        .json();
    let p = &d["result"]["prediction"];
    assert_eq!(p["interval_s"], 300, "{p:#}");
    let next_wake = p["next_wake"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.format("%a %H:%M").to_string());
    assert_eq!(
        next_wake.as_deref(),
        Some(waking.as_str()),
        "{reason}\n{p:#}"
    );
    let text = clusterctl(&emu, &["describe", "bi"]).ok();
    assert!(text.stdout.contains("interval 5m"), "{}", text.all());
    let s = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    let predicted = s["result"]["clusters"][0]["predicted"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        predicted.ends_with(&format!("next wake {waking}")),
        "{predicted} against {reason}"
    );
    // A dry-run without --interval agrees; one with --interval plans with it.
    let interval_of = |args: &[&str]| {
        let plan = clusterctl(&emu, args).ok().json();
        plan["result"]["plan"]["clusters"][0]["prediction"]["interval_s"].clone()
    };
    assert_eq!(interval_of(&["dry-run", "--output", "json"]), 300);
    let explicit = ["dry-run", "--output", "json", "--interval", "2m"];
    assert_eq!(interval_of(&explicit), 120);
}

/// [`setup`]'s history, and `quiet`: hydrated, predicting, with no
/// statement of its own.
fn with_a_quiet_predicting_cluster() -> Emulator {
    let emu = setup();
    assert!(history(&emu, 3 * 3600) > 700);
    emu.create_hydrated_cluster("quiet", "r1", "25cc");
    strategy(
        &emu,
        "quiet",
        "idle_suspend",
        json!({"idle_after_s": 600, "predict": true}),
    );
    emu
}

#[test]
fn describe_says_what_was_read_for_a_cluster_without_demand() {
    let emu = with_a_quiet_predicting_cluster();
    let d = clusterctl(&emu, &["describe", "quiet"]).ok();
    assert!(
        d.stdout
            .contains("Demand profile (read 4 weeks of statement history")
            && d.stdout
                .contains("  no statement in 4 weeks: waking on demand only"),
        "{}",
        d.all()
    );
    assert!(!d.stdout.contains("learned from"), "{}", d.all());
    let json = clusterctl(&emu, &["describe", "quiet", "--output", "json"])
        .ok()
        .json();
    assert_eq!(json["result"]["prediction"]["days_with_statements"], 0);
    conforms(&json);
    // `bi`'s profile is learned from the days it had statements on.
    assert_learned_four_weeks(&emu, "bi");
}

/// `describe CLUSTER` says its profile was learned from [`history`]'s
/// four weeks, in text and JSON.
fn assert_learned_four_weeks(emu: &Emulator, cluster: &str) {
    let d = clusterctl(emu, &["describe", cluster]).ok();
    assert!(
        d.stdout
            .contains("Demand profile (learned from 4 weeks of statement history"),
        "{}",
        d.all()
    );
    let json = clusterctl(emu, &["describe", cluster, "--output", "json"])
        .ok()
        .json();
    let days = json["result"]["prediction"]["days_with_statements"]
        .as_u64()
        .unwrap_or_default();
    assert!((27..=28).contains(&days), "{json:#}");
}

#[test]
fn our_own_polling_is_not_learned_as_demand() {
    // Four weeks of another controller's polling (a statement a minute, day
    // and night) on `quiet`, its --exec-cluster then, which Materialize
    // logged there: no demand to learn.
    let emu = with_a_quiet_predicting_cluster();
    emu.add_activity_history(&ActivityHistory {
        clusters: "quiet".into(),
        days: 29,
        duration_s: 86_400,
        per_hour: 60,
        application_name: Some("clusterctl".into()),
        ..ActivityHistory::default()
    });
    let json = clusterctl(&emu, &["describe", "quiet", "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        json["result"]["prediction"]["days_with_statements"], 0,
        "{json:#}"
    );
}

/// A blue/green deployment swaps the cluster users query by name with a
/// fresh twin (`ALTER CLUSTER bi SWAP WITH bi_dbt_deploy`): the workload's
/// weeks of history are under its name, on the other id. The cluster
/// holding the name now learns from them, live and in a backtest.
#[test]
fn the_demand_of_a_name_follows_it_across_a_blue_green_swap() {
    let emu = setup();
    assert!(history(&emu, 3 * 3600) > 700);
    let old = emu.cluster_id("bi");
    emu.create_hydrated_cluster("bi_dbt_deploy", "r1", "25cc");
    emu.sql("CALL mz_emulator.swap_clusters('bi', 'bi_dbt_deploy')");
    clusterctl(&emu, &["strategy", "mv", "bi_dbt_deploy", "bi"]).ok();
    assert_ne!(emu.cluster_id("bi"), old);
    assert_learned_four_weeks(&emu, "bi");
    // The backtest reads the same: bi's demand, none for the old twin.
    let run = clusterctl(
        &emu,
        &["simulate", "--from-history", "--days", "7", "-o", "json"],
    )
    .ok()
    .json();
    let queries = |name: &str| {
        run["result"]["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .and_then(|c| c.pointer("/service/queries"))
            .and_then(|q| q.as_u64())
    };
    assert!(queries("bi").is_some_and(|q| q > 100), "{run:#}");
    assert_eq!(queries("bi_dbt_deploy"), Some(0), "{run:#}");
}

/// No statement anywhere in the last day (a quiet weekend), weeks of them
/// before: the predicted wake still comes (the profile was dropped with
/// the day's activity unknown, and Monday's users met a suspended cluster
/// without a word: an outside check).
#[test]
fn a_quiet_day_before_does_not_keep_the_predicted_wake_from_coming() {
    // Users due in five minutes, as every day, but none in the last day.
    let emu = suspended_then_due_in(300);
    emu.sql("DELETE FROM mz_emulator.statement_log WHERE began_at > now() - INTERVAL '25 hours'");
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let cp = &plan["result"]["plan"]["clusters"][0];
    let action = &cp["actions"][0];
    assert_eq!(action["kind"], "create_replica", "{cp:#}");
    let why = action["reasons"][0].as_str().unwrap_or_default();
    assert!(why.contains("predicted demand"), "{why}");
}

/// A replica made by hand that never hydrates beside a hydrated one, on a
/// cluster whose predicting row's first run suspends it: the suspension
/// gives it up as stuck (its drop says so), and the wake, which reads the
/// trail for a slot begun afresh, does not make it again (it did: the
/// trail took its drop for part of the suspension, an outside check).
#[test]
fn a_replica_given_up_as_stuck_is_not_woken_from_the_trail() {
    let emu = Emulator::builder()
        .statement_sample_rate(1.0, 1.0)
        .statement_log_flush_delay(std::time::Duration::ZERO)
        .start();
    emu.create_hydrated_cluster("p", "r1", "25cc");
    emu.set_replica_started("p", "r1", 90_000, 60);
    emu.add_replica("p", "hand", "25cc");
    emu.set_replica_started("p", "hand", 7200, 60);
    init_tables(&emu);
    // Each day's hour of use starts three hours from now: idle now.
    emu.add_activity_history(&ActivityHistory {
        clusters: "p".into(),
        days: 29,
        start_s: time_of_day(&emu) + 3 * 3600,
        duration_s: 3600,
        per_hour: 30,
        ..ActivityHistory::default()
    });
    strategy(
        &emu,
        "p",
        "idle_suspend",
        json!({"idle_after_s": 600, "predict": true}),
    );
    clusterctl(&emu, &["apply"]).ok();
    assert!(replica_names(&emu, "p").is_empty(), "suspended");
    let dropped = audit(&emu, "p");
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    emu.add_activity("p", 2, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "p"), ["r1"], "{}", run.all());
}
