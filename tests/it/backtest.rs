//! `simulate --from-history`: a scenario built from a live Materialize (the
//! emulator with weeks of statement history), replayed in the simulator.
//! Read-only, a constant number of statements, and the written scenario
//! replays to the same figures.

use serde_json::json;

use crate::cli::{clusterctl, command, init_tables, run_cmd, strategy};
use crate::support::{ActivityHistory, Emulator, Stats};

const GIB: i64 = 1 << 30;

/// A small fleet with four weeks of office hours: `bi` (weekdays 09:00 to
/// 17:00 UTC, a query a minute) under reactive idle_suspend, `etl` (a
/// nightly hour) under target_size + idle_suspend, `idle` without demand
/// and with an invalid row.
fn fleet() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("bi", "r1", "100cc");
    emu.create_hydrated_cluster("etl", "r_200cc", "200cc");
    emu.create_hydrated_cluster("idle", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "bi", "idle_suspend", json!({"idle_after_s": 900}));
    strategy(&emu, "etl", "target_size", json!({"target_size": "200cc"}));
    strategy(&emu, "etl", "idle_suspend", json!({"idle_after_s": 1800}));
    // A row the planner refuses: `idle` replays without strategies, said so.
    strategy(
        &emu,
        "idle",
        "idle_suspend",
        json!({"idle_after_s": "soon"}),
    );
    emu.add_activity_history(&ActivityHistory {
        clusters: "bi".into(),
        days: 28,
        start_s: 9 * 3600,
        duration_s: 8 * 3600,
        per_hour: 60,
        weekdays_only: true,
        ..ActivityHistory::default()
    });
    emu.add_activity_history(&ActivityHistory {
        clusters: "etl".into(),
        days: 28,
        start_s: 2 * 3600,
        duration_s: 3600,
        per_hour: 120,
        ..ActivityHistory::default()
    });
    // bi's replica took 12 minutes to come online; it uses 3 GiB.
    emu.set_replica_started("bi", "r1", 20 * 86_400, 720);
    emu.set_replica_started("etl", "r_200cc", 20 * 86_400, 300);
    emu.set_replica_started("idle", "r1", 20 * 86_400, 2400);
    emu.set_replica_memory("bi", "r1", 3 * GIB);
    emu
}

/// An alternative strategy file in a temp dir.
fn alternative(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("alternative file");
    path.display().to_string()
}

/// `clusterctl simulate --from-history ARGS -o json`'s document.
fn backtest_json(emu: &Emulator, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["simulate", "--from-history"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    let run = clusterctl(emu, &all).ok();
    let doc = run.json();
    assert_eq!(doc["ok"], true, "{}", run.all());
    crate::json_schema::conforms(&crate::json_schema::schema(), &doc);
    doc
}

/// A run's cluster by name.
fn cluster<'a>(card: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    card["clusters"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["cluster"] == name || c["name"] == name)
        })
        .unwrap_or_else(|| panic!("no cluster {name} in {card:#}"))
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn replays_office_hours_and_a_predictive_alternative_wakes_ahead() {
    let emu = fleet();
    let dir = tempfile::tempdir().expect("temp dir");
    let predictive = alternative(
        dir.path(),
        "predictive.toml",
        "name = \"predictive\"\n[[clusters]]\nmatch = \"bi\"\nstrategies = [\n  \
         { type = \"idle_suspend\", config = { idle_after_s = 900, predict = true } },\n]\n",
    );
    let doc = backtest_json(&emu, &["--compare", &predictive]);
    let result = &doc["result"];
    let runs = result["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2, "{result:#}");
    assert_eq!(runs[0]["name"], "current");
    let (current, predicted) = (&runs[0]["scorecard"], &runs[1]["scorecard"]);
    // The replay: three weeks of office hours after a week of history.
    let fh = &result["from_history"];
    assert_eq!(fh["days"], 28);
    assert_eq!(fh["history_days"], 7.0);
    let notes = fh["notes"].to_string();
    assert!(
        notes.contains("cluster idle: strategy rows skipped"),
        "{notes}"
    );
    let bi = cluster(current, "bi");
    let queries = num(&bi["service"]["queries"]);
    // 15 weekdays × 8 h × 60 (sampled at 0.99 and weighed back).
    assert!((6500.0..=7500.0).contains(&queries), "{bi:#}");
    assert!(num(&bi["service"]["served_within_pct"]) > 80.0, "{bi:#}");
    let etl = cluster(current, "etl");
    assert!(num(&etl["service"]["queries"]) > 2000.0, "{etl:#}");
    // Reactive: each morning's first queries fail until the replica
    // hydrates (12 minutes, learned from the status history); predictive
    // wakes it ahead, from the history.
    let pbi = cluster(predicted, "bi");
    let reactive_failed = num(&bi["service"]["failed_attempts"]);
    let predictive_failed = num(&pbi["service"]["failed_attempts"]);
    assert!(reactive_failed > 0.0, "{bi:#}");
    assert!(
        predictive_failed < reactive_failed / 2.0,
        "predictive {predictive_failed} vs reactive {reactive_failed}"
    );
    assert!(
        num(&pbi["worst_daily_cold_start"]["worst_s"])
            < num(&bi["worst_daily_cold_start"]["worst_s"]),
        "{pbi:#}\n{bi:#}"
    );
    // The same demand in both runs.
    assert_eq!(pbi["service"]["queries"], bi["service"]["queries"]);
}

#[test]
fn our_own_polling_is_not_replayed_as_demand() {
    // Four weeks of another controller's polling (one statement a minute,
    // day and night) on `ops`, its --exec-cluster then, which Materialize
    // logged there. Not demand: `ops` replays without a query.
    let emu = fleet();
    emu.create_hydrated_cluster("ops", "r1", "25cc");
    strategy(&emu, "ops", "idle_suspend", json!({"idle_after_s": 900}));
    emu.add_activity_history(&ActivityHistory {
        clusters: "ops".into(),
        days: 28,
        duration_s: 86_400,
        per_hour: 60,
        application_name: Some("clusterctl".into()),
        ..ActivityHistory::default()
    });
    let doc = backtest_json(&emu, &[]);
    let ops = cluster(&doc["result"], "ops");
    assert_eq!(num(&ops["service"]["queries"]), 0.0, "{ops:#}");
}

#[test]
fn a_written_scenario_replays_to_identical_figures() {
    let emu = fleet();
    // The region's own replica limit goes into the scenario.
    emu.set_setting("max_replicas_per_cluster", "4");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bt.toml");
    let out_s = out.display().to_string();
    let built = backtest_json(&emu, &["--out", &out_s, "--seed", "7"]);
    assert!(dir.path().join("bt.traces").join("bi.csv").exists());
    let written = std::fs::read_to_string(&out).expect("scenario written");
    // With how the release resizes a managed cluster (the emulator's
    // release resizes in the background).
    assert!(
        written.contains(
            "[materialize]\nmanaged_resize = \"background\"\nmax_replicas_per_cluster = 4\n"
        ),
        "{written}"
    );
    assert!(dir.path().join("bt.traces").join("etl.csv").exists());
    let mut cmd = command();
    cmd.args(["simulate", &out_s, "--seed", "7", "--output", "json"]);
    let replayed = run_cmd(cmd).ok().json();
    let mut built_result = built["result"].clone();
    let fh = built_result
        .as_object_mut()
        .and_then(|o| o.remove("from_history"))
        .expect("from_history");
    assert_eq!(fh["out"], out_s.as_str());
    assert_eq!(built_result, replayed["result"]);
    // And the text scorecard, byte for byte (notes go to stderr).
    let text = clusterctl(&emu, &["simulate", "--from-history", "--out", &out_s]).ok();
    let mut cmd = command();
    cmd.args(["simulate", &out_s]);
    let replay_text = run_cmd(cmd).ok();
    assert_eq!(text.stdout, replay_text.stdout);
    assert!(text.stderr.contains("wrote"), "{}", text.all());
    // Written again for one cluster: the other's trace goes with it.
    clusterctl(
        &emu,
        &[
            "simulate",
            "--from-history",
            "--out",
            &out_s,
            "--cluster",
            "bi",
        ],
    )
    .ok();
    assert!(dir.path().join("bt.traces").join("bi.csv").exists());
    assert!(!dir.path().join("bt.traces").join("etl.csv").exists());
}

/// Statements one `simulate --from-history` sends with `n` clusters, each
/// with a strategy and two weeks of statements.
fn backtest_statements(n: usize) -> Stats {
    let emu = Emulator::start();
    emu.seed_clusters(n, "fleet_");
    init_tables(&emu);
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT id, 'idle_suspend', '{\"idle_after_s\": 900}', now() \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'",
    );
    emu.add_activity_bulk("fleet_%", 3, 9 * 3600, 3600, 10);
    emu.reset_stats();
    let doc = backtest_json(&emu, &["--days", "2"]);
    assert_eq!(
        doc["result"]["from_history"]["clusters"],
        n as u64 + 1,
        "fleet + quickstart"
    );
    emu.stats()
}

#[test]
fn the_statement_count_does_not_grow_with_clusters() {
    let small = backtest_statements(10);
    let large = backtest_statements(500);
    eprintln!("from-history: statements for 10 clusters: {small:?}; for 500 clusters: {large:?}");
    assert_eq!(small.statements, large.statements);
    // Preflight (session cluster: 3), the applied migrations (a schema a
    // newer clusterctl migrated, as every reading command) + the twenty
    // reads.
    assert!(small.statements <= 24, "{small:?}");
    assert_eq!(large.ddl, 0);
}

/// A written scenario's `[[clusters]]` entry of `name`, to the next one.
fn cluster_section<'a>(written: &'a str, name: &str) -> &'a str {
    let start = written
        .find(&format!("name = \"{name}\""))
        .unwrap_or_else(|| panic!("no cluster {name} in:\n{written}"));
    written[start..]
        .split("[[clusters]]")
        .next()
        .unwrap_or_default()
}

/// A cluster Materialize auto-scales (newest releases) is left alone by the
/// controller, so the replay leaves it alone too, whatever its rows say.
#[test]
fn an_auto_scaled_cluster_is_replayed_as_left_alone() {
    let emu = Emulator::builder().auto_scaling_relation(true).start();
    emu.create_managed_cluster("m", "100cc", 1);
    emu.add_index("m");
    emu.add_index("m");
    emu.set_auto_scaling_strategy("m", "800cc");
    emu.create_hydrated_cluster("bi", "r1", "100cc");
    init_tables(&emu);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 900}));
    strategy(&emu, "bi", "idle_suspend", json!({"idle_after_s": 900}));
    for name in ["m", "bi"] {
        emu.add_activity_history(&ActivityHistory {
            clusters: name.into(),
            days: 4,
            start_s: 9 * 3600,
            duration_s: 3600,
            per_hour: 60,
            ..ActivityHistory::default()
        });
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bt.toml");
    let out_s = out.display().to_string();
    let doc = backtest_json(&emu, &["--days", "4", "--out", &out_s]);
    let written = std::fs::read_to_string(&out).expect("scenario written");
    let section = |name: &str| cluster_section(&written, name);
    assert!(
        section("m").contains("schedule = \"on-refresh\"    # live: an auto-scaling strategy"),
        "{written}"
    );
    assert!(!section("bi").contains("schedule"), "{written}");
    // Its two indexes, as its replica reports them; bi's one is no key.
    assert!(section("m").contains("\nobjects = 2\n"), "{written}");
    assert!(!section("bi").contains("objects"), "{written}");
    // Idle most of the day, as bi: bi is suspended in the replay, m never.
    let bi = cluster(&doc["result"], "bi");
    assert!(num(&bi["actions"]["drop"]) >= 1.0, "{bi:#}");
    let m = cluster(&doc["result"], "m");
    assert_eq!(m["actions"]["create"], 0, "{m:#}");
    assert_eq!(m["actions"]["drop"], 0, "{m:#}");
}

#[test]
fn cluster_limits_the_replay_to_one() {
    let emu = fleet();
    for arg in ["bi".to_string(), emu.cluster_id("bi")] {
        let doc = backtest_json(&emu, &["--cluster", &arg]);
        let clusters = doc["result"]["clusters"].as_array().expect("clusters");
        assert_eq!(clusters.len(), 1, "{doc:#}");
        assert_eq!(clusters[0]["name"], "bi");
    }
    let run = clusterctl(&emu, &["simulate", "--from-history", "--cluster", "bj"]).code(64);
    assert!(run.stderr.contains("did you mean 'bi'"), "{}", run.all());
}

#[test]
fn bad_input_is_one_clear_error() {
    let emu = fleet();
    let usage = |args: &[&str], says: &str| {
        let run = clusterctl(&emu, args).code(64);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.all());
        assert!(!run.all().contains("panicked"), "{}", run.all());
    };
    usage(&["simulate", "--from-history", "--days", "0"], "--days");
    usage(&["simulate", "--from-history", "--days", "121"], "--days");
    usage(
        &["simulate", "x.toml", "--from-history"],
        "cannot be used with",
    );
    usage(&["simulate"], "<SCENARIO|--from-history>");
    usage(
        &["simulate", "x.toml", "--out", "y.toml"],
        "cannot be used with",
    );
    // Unreachable: one line, exit 1, no backtrace, no password.
    let mut cmd = command();
    cmd.args([
        "simulate",
        "--from-history",
        "--connect-timeout",
        "2",
        "--max-retries",
        "0",
    ])
    .env(
        "DATABASE_URL",
        "postgres://ops:s3cr3t-pw@127.0.0.1:1/materialize",
    )
    .env("RUST_BACKTRACE", "1");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.starts_with("error:"), "{}", run.all());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.all());
    assert!(run.stderr.contains("cannot connect"), "{}", run.all());
    assert!(!run.all().contains("s3cr3t-pw"), "{}", run.all());
    assert!(!run.all().contains("backtrace"), "{}", run.all());
    // No statement log: an error naming the role it needs.
    emu.set_setting("monitor_role_required", "on");
    let url = emu.create_role("reader").url();
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(user, _)| user.split_once(':'))
        .map(|(_, pw)| pw.to_string())
        .expect("a password in the role's URL");
    let mut cmd = command();
    cmd.args(["simulate", "--from-history"])
        .env("DATABASE_URL", &url);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("mz_monitor_redacted"), "{}", run.all());
    assert!(!run.all().contains(&password), "{}", run.all());
}

/// A `--compare` or `--strategies` file that cannot be read or parsed
/// fails before the live database is read (no statement, no temporary
/// replica) and before `--out` is written: the replay read it only after
/// the whole history, having written the scenario, so the `--help`
/// example's `predictive.toml`, run as written, cost a full read.
#[test]
fn a_bad_alternative_file_fails_before_anything_is_read() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("bi", "r1", "25cc");
    emu.create_cluster("ops");
    init_tables(&emu);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("backtest.toml");
    let out_arg = out.display().to_string();
    let missing = dir.path().join("predictive.toml").display().to_string();
    let broken = alternative(dir.path(), "broken.toml", "[[clusters]\n");
    for (flag, file) in [("--compare", &missing), ("--strategies", &broken)] {
        emu.reset_stats();
        emu.clear_sql_log();
        let run = clusterctl(
            &emu,
            &[
                "simulate",
                "--from-history",
                "--exec-cluster",
                "ops",
                "--create-replica",
                flag,
                file,
                "--out",
                &out_arg,
            ],
        );
        assert_eq!(run.code, 1, "{flag}: {}", run.all());
        assert!(run.stderr.starts_with("error: "), "{}", run.all());
        assert!(run.stderr.contains(file.as_str()), "{}", run.all());
        assert_eq!(emu.sql_log(), Vec::<String>::new(), "{flag}: {}", run.all());
        assert!(!out.exists(), "{flag}: --out was written: {}", run.all());
    }
}

/// A backtest that fails once the history is read (an alternative whose
/// patterns name no cluster) leaves `--out` as it was: the file and its
/// traces were replaced, saying nothing (an outside check).
#[test]
fn a_backtest_that_fails_leaves_its_out_file_alone() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("bi", "r1", "25cc");
    emu.create_cluster("ops");
    init_tables(&emu);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("keep.toml");
    std::fs::write(&out, "# mine\n").expect("write");
    let none = alternative(
        dir.path(),
        "none.toml",
        "name = \"n\"\n[[clusters]]\nmatch = \"zzz*\"\n\
         strategies = [{type = \"idle_suspend\", config = {idle_after_s = 60}}]\n",
    );
    let run = clusterctl(
        &emu,
        &[
            "simulate",
            "--from-history",
            "--exec-cluster",
            "ops",
            "--create-replica",
            "--compare",
            &none,
            "--out",
            &out.display().to_string(),
        ],
    )
    .code(1);
    assert!(
        run.stderr.contains("no `match` pattern names a cluster"),
        "{}",
        run.all()
    );
    assert_eq!(std::fs::read_to_string(&out).expect("read"), "# mine\n");
    assert!(!dir.path().join("keep.traces").exists(), "{}", run.all());
}

/// Every row of clusterctl's tables, and the catalog's clusters and replicas.
fn database_state(emu: &Emulator) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT cluster_id, strategy_type, config::text, updated_at::text FROM mz_cluster_strategies ORDER BY 1, 2",
        "SELECT count(*)::text FROM mz_cluster_strategy_state",
        "SELECT count(*)::text FROM mz_cluster_strategy_actions",
        "SELECT id, name, cluster_id, size FROM mz_catalog.mz_cluster_replicas ORDER BY id",
        "SELECT count(*)::text FROM mz_internal.mz_cluster_replica_status_history",
    ] {
        rows.extend(emu.query_strings(sql));
    }
    rows
}

#[test]
fn it_writes_nothing_to_the_database() {
    let emu = fleet();
    let before = database_state(&emu);
    emu.reset_stats();
    backtest_json(&emu, &[]);
    assert_eq!(emu.stats().ddl, 0);
    let writes = emu.writes();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(before, database_state(&emu));
}

fn notes_of(doc: &serde_json::Value) -> Vec<String> {
    doc["result"]["from_history"]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// Whether any note starts with `start` and contains `has`.
fn noted(notes: &[String], start: &str, has: &str) -> bool {
    notes
        .iter()
        .any(|n| n.starts_with(start) && n.contains(has))
}

#[test]
fn a_cluster_suspended_now_is_replayed_with_what_its_resume_brings_back() {
    let emu = fleet();
    // bi's last statement was three hours ago, whatever the time of day
    // (its history is complete past days only): apply suspends it,
    // idle_suspend remembers its replica in its state row (exit 3: `idle`'s
    // row is invalid).
    emu.add_activity("bi", 3 * 3600, true);
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(emu.replicas("bi").is_empty(), "bi suspended: {}", run.all());
    let doc = backtest_json(&emu, &[]);
    let bi = cluster(&doc["result"], "bi");
    eprintln!(
        "suspended bi replayed: {} queries, {}% served, {} credits",
        bi["service"]["queries"], bi["service"]["served_within_pct"], bi["credits"]
    );
    // Served as the real controller would: woken on demand, each morning
    // cold (it was 0 % with no replica to bring back).
    assert!(num(&bi["service"]["queries"]) > 6000.0, "{bi:#}");
    assert!(num(&bi["service"]["served_within_pct"]) > 80.0, "{bi:#}");
    assert!(num(&bi["credits"]) > 0.0, "{bi:#}");
    let notes = notes_of(&doc);
    assert!(
        noted(&notes, "cluster bi: suspended by idle_suspend", "r1 100cc"),
        "{notes:#?}"
    );
    // Its replica, dropped, left no start-up in the status history, and
    // reactive idle_suspend learns none: the hydration used is said.
    assert!(
        noted(&notes, "cluster bi: its hydration is unknown", "on 100cc"),
        "{notes:#?}"
    );
}

/// The same suspended cluster after `wipe-state`: its state remembers
/// nothing, so it was replayed without replicas (none of its demand
/// served) where `apply` wakes it with what the audit trail shows its
/// suspension dropped. The replay reads the trail as `apply` does.
#[test]
fn a_wiped_suspended_cluster_is_replayed_with_what_the_trail_shows_it_dropped() {
    let emu = fleet();
    emu.add_activity("bi", 3 * 3600, true);
    clusterctl(&emu, &["apply"]).code(3);
    assert!(emu.replicas("bi").is_empty(), "bi suspended");
    clusterctl(&emu, &["wipe-state", "--cluster", "bi", "--yes"]).ok();
    let doc = backtest_json(&emu, &[]);
    let notes = notes_of(&doc);
    assert!(
        noted(&notes, "cluster bi: suspended by idle_suspend", "r1 100cc")
            && noted(
                &notes,
                "cluster bi: suspended by idle_suspend",
                "its state wiped"
            ),
        "{notes:#?}"
    );
    let bi = cluster(&doc["result"], "bi");
    assert!(num(&bi["service"]["served_within_pct"]) > 80.0, "{bi:#}");
}

#[test]
fn a_suspended_managed_cluster_uses_the_hydration_idle_suspend_learned() {
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "50cc", 0);
    init_tables(&emu);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 600}));
    let id = emu.cluster_id("m");
    let payload = json!({"idle_suspend": {
        "suspended": [{"name": "r1", "size": "50cc"}],
        "suspended_at": "2026-01-01T00:00:00Z",
        "resumed_at": null,
        "predict": {"hydrations": {"by_size": {"50cc": [420]}}, "interval_s": 120},
    }});
    crate::cli::write_state(&emu, &id, &payload);
    emu.add_activity_bulk("m", 8, 10 * 3600, 3600, 60);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("m.toml");
    let doc = backtest_json(&emu, &["--days", "8", "--out", &out.display().to_string()]);
    let m = cluster(&doc["result"], "m");
    assert!(num(&m["service"]["served_within_pct"]) > 80.0, "{m:#}");
    let written = std::fs::read_to_string(&out).expect("scenario written");
    // Its replication factor back, cold; 420 s learned on 50cc (0.5 cores).
    assert!(
        written.contains("managed = true\nsize = \"50cc\"\nreplication_factor = 1\n"),
        "{written}"
    );
    assert!(written.contains("hydrated = false"), "{written}");
    assert!(written.contains("hydration_work = \"210s\""), "{written}");
    // Replayed at the interval its controller recorded, and said.
    assert!(written.contains("\ninterval = \"2m\"\n"), "{written}");
    assert!(
        noted(
            &notes_of(&doc),
            "replayed at a 2m interval",
            "as the controller recorded it"
        ),
        "{:#?}",
        notes_of(&doc)
    );
    assert!(
        !notes_of(&doc)
            .iter()
            .any(|n| n.contains("hydration is unknown")),
        "{:#?}",
        notes_of(&doc)
    );
}

#[test]
fn a_suspended_cluster_whose_replicas_are_unknown_is_said() {
    let emu = Emulator::start();
    emu.create_cluster("bi");
    init_tables(&emu);
    strategy(&emu, "bi", "idle_suspend", json!({"idle_after_s": 600}));
    emu.add_activity_bulk("bi", 4, 10 * 3600, 3600, 60);
    let doc = backtest_json(&emu, &["--days", "4"]);
    assert!(
        noted(
            &notes_of(&doc),
            "cluster bi: suspended (no replica) and the replicas idle_suspend would bring back are unknown",
            "no state row"
        ),
        "{:#?}",
        notes_of(&doc)
    );
}

#[test]
fn the_temporary_replica_of_create_replica_is_not_replayed() {
    let emu = fleet();
    emu.create_cluster("ops");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bt.toml");
    let out_s = out.display().to_string();
    let before = written_by_us(&emu);
    let args = [
        "--exec-cluster",
        "ops",
        "--create-replica",
        "--out",
        out_s.as_str(),
    ];
    let doc = backtest_json(&emu, &args);
    // The replica was there while the history was read, and dropped after.
    assert!(
        emu.sql_log()
            .iter()
            .any(|q| q.contains(r#"CREATE CLUSTER REPLICA "ops"."clusterctl_tmp_"#)),
        "{:?}",
        emu.sql_log()
    );
    assert!(emu.replicas("ops").is_empty());
    let written = std::fs::read_to_string(&out).expect("scenario written");
    assert!(!written.contains("clusterctl_tmp_"), "{written}");
    let ops = cluster(&doc["result"], "ops");
    assert_eq!(num(&ops["credits"]), 0.0, "{ops:#}");
    // Nothing else written but the audit rows of the temporary replica's
    // DDL (every DDL is audited).
    let audited = emu.query_strings(
        "SELECT decision_ctx->>'kind' FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'temporary_replica' = 'true' ORDER BY created_at",
    );
    assert_eq!(audited.len(), 2, "{audited:?}");
    emu.sql(
        "DELETE FROM mz_cluster_strategy_actions WHERE decision_ctx->>'temporary_replica' = 'true'",
    );
    assert_eq!(written_by_us(&emu), before);
}

/// clusterctl's tables and the catalog's replicas.
fn written_by_us(emu: &Emulator) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT cluster_id, strategy_type, config::text, updated_at::text FROM mz_cluster_strategies ORDER BY 1, 2",
        "SELECT cluster_id, payload::text FROM mz_cluster_strategy_state ORDER BY 1",
        "SELECT action_sql FROM mz_cluster_strategy_actions ORDER BY 1",
        "SELECT id, name, cluster_id, size FROM mz_catalog.mz_cluster_replicas ORDER BY id",
    ] {
        rows.extend(emu.query_strings(sql));
    }
    rows
}

#[test]
fn an_empty_statement_log_is_said() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("bi", "r1", "100cc");
    init_tables(&emu);
    strategy(&emu, "bi", "idle_suspend", json!({"idle_after_s": 900}));
    for (days, said) in [("28", "28 days"), ("1", "1 day")] {
        let doc = backtest_json(&emu, &["--days", days]);
        let notes = notes_of(&doc);
        let want = format!(
            "the statement log had no rows over the {said} (for the clusters replayed): \
             the figures say nothing about demand"
        );
        assert!(notes.contains(&want), "{notes:#?}");
    }
    // And on stderr, in the text output; "1 days" nowhere.
    let run = clusterctl(&emu, &["simulate", "--from-history", "--days", "1"]).ok();
    assert!(
        run.stderr
            .contains("note: the statement log had no rows over the 1 day"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("1 days"), "{}", run.all());
}

#[test]
fn a_bad_out_is_found_before_connecting() {
    // A database that would answer: a connection attempt would show.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("its address").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("no").join("bt.toml").display().to_string();
    let mut cmd = command();
    cmd.args([
        "simulate",
        "--from-history",
        "--create-replica",
        "--exec-cluster",
        "ops",
        "--out",
        &out,
        "--connect-timeout",
        "2",
        "--max-retries",
        "0",
    ])
    .env(
        "DATABASE_URL",
        format!("postgres://ops:s3cr3t-pw@127.0.0.1:{port}/materialize"),
    );
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.starts_with("error: --out"), "{}", run.all());
    assert!(run.stderr.contains("does not exist"), "{}", run.all());
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("connected before checking --out: {other:?}"),
    }
}

#[test]
fn out_names_a_file_in_a_directory_that_exists() {
    let emu = fleet();
    let dir = tempfile::tempdir().expect("temp dir");
    let entries = || std::fs::read_dir(dir.path()).expect("dir").count();
    // A missing directory: an error naming it, nothing created.
    let missing = dir.path().join("no").join("such");
    let out = missing.join("bt.toml").display().to_string();
    let run = clusterctl(&emu, &["simulate", "--from-history", "--out", &out]).code(1);
    assert!(run.stderr.starts_with("error: --out"), "{}", run.all());
    assert!(
        run.stderr.contains(&format!(
            "the directory {} does not exist",
            missing.display()
        )),
        "{}",
        run.all()
    );
    assert_eq!(entries(), 0, "nothing created");
    // An existing directory: refused before anything is written (no traces).
    let taken = dir.path().join("bt");
    std::fs::create_dir(&taken).expect("dir");
    let run = clusterctl(
        &emu,
        &[
            "simulate",
            "--from-history",
            "--out",
            &taken.display().to_string(),
        ],
    )
    .code(1);
    assert!(run.stderr.contains("is a directory"), "{}", run.all());
    assert_eq!(entries(), 1, "no bt.traces written");
    // An existing file is overwritten, and said.
    let file = dir.path().join("bt.toml");
    std::fs::write(&file, "old").expect("file");
    let file_s = file.display().to_string();
    let run = clusterctl(&emu, &["simulate", "--from-history", "--out", &file_s]).ok();
    assert!(
        run.stderr
            .contains(&format!("overwrote {file_s} (replay it")),
        "{}",
        run.all()
    );
    assert_ne!(std::fs::read_to_string(&file).expect("written"), "old");
    let doc = backtest_json(&emu, &["--out", &file_s]);
    assert_eq!(doc["result"]["from_history"]["overwrote"], true);
    let fresh = dir.path().join("fresh.toml").display().to_string();
    let doc = backtest_json(&emu, &["--out", &fresh]);
    assert_eq!(doc["result"]["from_history"]["overwrote"], false);
}

#[test]
fn unreadable_status_history_and_utilization_are_assumed_and_said() {
    // A role that may not read them (permission denied): the replay runs
    // with assumed hydration and memory, and says so.
    let emu = fleet();
    let denied = "permission denied for VIEW \"mz_internal.mz_cluster_replica_status_history\"";
    emu.fail_statement("mz_cluster_replica_status_history h", 1, "42501", denied);
    emu.fail_statement(
        "mz_internal.mz_cluster_replica_utilization u",
        1,
        "42501",
        "permission denied for VIEW \"mz_internal.mz_cluster_replica_utilization\"",
    );
    let doc = backtest_json(&emu, &[]);
    emu.clear_faults();
    let notes = notes_of(&doc);
    assert!(
        noted(
            &notes,
            "cannot read the replica status history",
            "permission denied"
        ) && noted(
            &notes,
            "cannot read the replica status history",
            "hydration assumed 10m"
        ),
        "{notes:?}"
    );
    assert!(
        noted(
            &notes,
            "cannot read replica utilization",
            "memory assumed half"
        ),
        "{notes:?}"
    );
    let bi = cluster(&doc["result"], "bi");
    assert!(num(&bi["service"]["queries"]) > 6000.0, "{bi:#}");

    // A cut connection is not a refusal: the read is retried and learns.
    emu.cut_before_statement("mz_cluster_replica_status_history h", 1);
    let doc = backtest_json(&emu, &[]);
    emu.clear_faults();
    let notes = notes_of(&doc);
    assert!(
        !notes.iter().any(|n| n.starts_with("cannot read")),
        "{notes:?}"
    );
}

#[test]
fn memory_is_the_peak_within_the_window_and_an_oom_says_its_size_was_too_small() {
    let emu = fleet();
    // bi uses 3 GiB now; it peaked at 6 GiB three days ago, and at 9 GiB
    // forty days ago, before the window.
    emu.add_memory_sample("bi", "r1", 6 * GIB, 3 * 86_400);
    emu.add_memory_sample("bi", "r1", 2 * GIB, 2 * 86_400);
    emu.add_memory_sample("bi", "r1", 9 * GIB, 40 * 86_400);
    // etl's 200cc replica was killed for memory twice last week.
    emu.add_crash("etl", "r_200cc", true, 6 * 86_400);
    emu.add_crash("etl", "r_200cc", true, 5 * 86_400);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("bt.toml");
    let out_s = out.display().to_string();
    let doc = backtest_json(&emu, &["--out", &out_s]);
    let written = std::fs::read_to_string(&out).expect("scenario written");
    let memory_gib = |cluster: &str| -> f64 {
        cluster_section(&written, cluster)
            .lines()
            .find_map(|l| l.strip_prefix("memory_gib = "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("memory_gib of {cluster} in:\n{written}"))
    };
    assert_eq!(memory_gib("bi"), 6.0, "the peak within the window");
    let sizes = emu.query_strings(
        "SELECT (memory_bytes::numeric / 1073741824.0)::text FROM mz_catalog.mz_cluster_replica_sizes WHERE size = '200cc'",
    );
    let gib_200cc: f64 = sizes[0][0]
        .as_deref()
        .and_then(|v| v.parse().ok())
        .expect("200cc's memory");
    let etl = memory_gib("etl");
    assert!(
        etl > gib_200cc && etl <= gib_200cc + 0.002,
        "{etl} vs {gib_200cc}"
    );
    let notes = notes_of(&doc);
    assert!(
        noted(
            &notes,
            "etl: r_200cc OOM-killed 2 times within the window on 200cc",
            "more than"
        ),
        "{notes:?}"
    );

    // A release or role without the history: the use now, said.
    emu.fail_statement(
        "mz_cluster_replica_utilization_history u",
        1,
        "42501",
        "permission denied for VIEW \"mz_internal.mz_cluster_replica_utilization_history\"",
    );
    let doc = backtest_json(&emu, &["--out", &out_s]);
    emu.clear_faults();
    let written = std::fs::read_to_string(&out).expect("scenario written");
    let at = written.find("name = \"bi\"").expect("bi");
    assert!(written[at..].contains("memory_gib = 3.0\n"), "{written}");
    assert!(
        noted(
            &notes_of(&doc),
            "cannot read the replica utilization history",
            "memory is what the replicas use now"
        ),
        "{:?}",
        notes_of(&doc)
    );
}

/// The cluster our session runs on is left alone by the controller, and
/// so by the replay: its strategies were replayed, and a backtest claimed
/// savings on it no run could make.
#[test]
fn the_session_cluster_is_replayed_as_the_controller_leaves_it() {
    let emu = fleet();
    let acted = |card: &serde_json::Value| {
        cluster(card, "bi")["actions"]
            .as_object()
            .expect("actions")
            .values()
            .filter_map(serde_json::Value::as_f64)
            .sum::<f64>()
    };
    let doc = backtest_json(&emu, &["--cluster", "bi", "--days", "7"]);
    assert!(acted(&doc["result"]) > 0.0, "{doc:#}");
    let doc = backtest_json(
        &emu,
        &["--cluster", "bi", "--days", "7", "--exec-cluster", "bi"],
    );
    assert_eq!(acted(&doc["result"]), 0.0, "{doc:#}");
}

/// `--out b.toml` clears `b.traces/` of the `.csv` files its scenario does
/// not name: a `--timeline` written there, and a `--compare` file read
/// from there, were deleted without a word (an outside check). Both are
/// refused before anything is read; the files stay.
#[test]
fn outputs_and_inputs_in_the_trace_directory_of_out_are_refused() {
    let emu = fleet();
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("b.toml").display().to_string();
    backtest_json(&emu, &["--out", &out]);
    let traces = dir.path().join("b.traces");
    let timeline = traces.join("timeline.csv").display().to_string();
    let run = clusterctl(
        &emu,
        &[
            "simulate",
            "--from-history",
            "--out",
            &out,
            "--timeline",
            &timeline,
        ],
    )
    .code(1);
    assert!(
        run.stderr
            .contains("the directory where --out writes its traces"),
        "{}",
        run.all()
    );
    let kept = traces.join("mine.csv");
    std::fs::write(&kept, "mine").expect("a file of the user's");
    let run = clusterctl(
        &emu,
        &[
            "simulate",
            "--from-history",
            "--out",
            &out,
            "--compare",
            &kept.display().to_string(),
        ],
    );
    assert_ne!(run.code, 0, "{}", run.all());
    assert_eq!(std::fs::read_to_string(&kept).ok().as_deref(), Some("mine"));
}
