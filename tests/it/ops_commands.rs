//! The operator commands (`strategy`, `status`, `check`, `history`, `init`,
//! `dry-run --detailed-exitcode`, `completions`, `man`), run as an operator
//! would: the real binary against PostgreSQL + the Materialize emulator.

use serde_json::json;

use crate::cli::{clusterctl, command, run_cmd, strategy, strategy_at, Run};
use crate::support::Emulator;

/// An emulator with clusterctl's tables created by `clusterctl init`.
fn emulator() -> Emulator {
    let emu = Emulator::start();
    clusterctl(&emu, &["init"]).ok();
    emu
}

fn strategy_rows(emu: &Emulator) -> Vec<(String, String, String)> {
    emu.query_strings(
        "SELECT cluster_id, strategy_type, config::text FROM mz_cluster_strategies \
         ORDER BY cluster_id, strategy_type, updated_at",
    )
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap_or_default(),
            r[1].clone().unwrap_or_default(),
            r[2].clone().unwrap_or_default(),
        )
    })
    .collect()
}

#[test]
fn strategy_set_validates_before_writing_and_replaces() {
    let emu = emulator();
    let id = emu.create_cluster("analytics");
    emu.add_replica("analytics", "r1", "25cc");

    // A size the environment does not offer: refused, nothing written.
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "target_size",
            "--target-size",
            "80cc",
        ],
    )
    .code(1);
    assert!(r.stderr.contains("unknown size '80cc'"), "{}", r.all());
    assert!(r.stderr.contains("nothing was written"), "{}", r.all());
    assert_eq!(r.stderr.trim().lines().count(), 1, "one line:\n{}", r.all());
    // Misspelt key, type and cluster get a suggestion; a wrong type of value
    // names the key. Each is refused (exit 1) with nothing written.
    for (args, expected) in [
        (
            [
                "analytics",
                "idle_suspend",
                "--config",
                r#"{"idle_after": 60}"#,
            ],
            "did you mean 'idle_after_s'?",
        ),
        (
            ["analytics", "idle_suspnd", "--config", "{}"],
            "did you mean 'idle_suspend'?",
        ),
        (
            [
                "analytics",
                "idle_suspend",
                "--config",
                r#"{"idle_after_s": "1h"}"#,
            ],
            "key 'idle_after_s'",
        ),
        (
            ["analytic", "target_size", "--target-size", "50cc"],
            "did you mean 'analytics'?",
        ),
    ] {
        let mut argv = vec!["strategy", "set"];
        argv.extend(args);
        let r = clusterctl(&emu, &argv).code(1);
        assert!(r.stderr.contains(expected), "{argv:?}: {}", r.all());
    }
    // Not JSON; no config at all: usage errors.
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "target_size",
            "--config",
            "{",
        ],
    )
    .code(64);
    let r = clusterctl(&emu, &["strategy", "set", "analytics", "target_size"]).code(64);
    assert!(r.stderr.contains("--target-size"), "{}", r.all());
    assert!(strategy_rows(&emu).is_empty());

    // Valid: by name with key flags, then by id with --config (replaces).
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "target_size",
            "--target-size",
            "50cc",
        ],
    )
    .ok();
    assert_eq!(
        r.stdout,
        format!(
            "Set strategy target_size of cluster analytics ({id}): {{\"target_size\":\"50cc\"}}\n"
        )
    );
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            &id,
            "target_size",
            "--config",
            r#"{"target_size": "100cc"}"#,
        ],
    )
    .ok();
    assert!(
        r.stdout.starts_with("Replaced strategy target_size"),
        "{}",
        r.all()
    );
    assert_eq!(
        strategy_rows(&emu),
        vec![(
            id.clone(),
            "target_size".into(),
            r#"{"target_size": "100cc"}"#.into()
        )]
    );

    // target_size and shrink_to_fit would undo each other: refused.
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "shrink_to_fit",
            "--max-replica-size",
            "100cc",
        ],
    )
    .code(1);
    assert!(
        r.stderr.contains("strategy rm analytics target_size"),
        "{}",
        r.all()
    );
    assert_eq!(strategy_rows(&emu).len(), 1);
}

/// Regression (issue 10): `strategy set` kept its own copy of the conflict
/// rules and accepted rows every later plan refused, so the cluster's
/// existing strategy silently stopped working. Now it asks the planner's
/// validator and refuses with the planner's words.
#[test]
fn strategy_set_refuses_what_the_planner_would_refuse() {
    let emu = emulator();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    emu.create_managed_cluster("managed", "25cc", 1);
    let set = |args: &[&str]| {
        let mut argv = vec!["strategy", "set"];
        argv.extend_from_slice(args);
        clusterctl(&emu, &argv)
    };
    set(&["analytics", "target_size", "--target-size", "50cc"]).ok();

    let schedule = r#"[{"cron": "0 0 8 * * *", "duration_s": 3600, "size": "50cc"}]"#;
    let r = set(&[
        "analytics",
        "schedule",
        "--timezone",
        "UTC",
        "--windows",
        schedule,
    ])
    .code(1);
    assert!(
        r.stderr
            .contains("target_size and schedule both choose the replica size"),
        "{}",
        r.all()
    );
    assert!(r.stderr.contains("nothing was written"), "{}", r.all());
    let r = set(&["managed", "burst", "--burst-replica-size", "50cc"]).code(1);
    assert!(
        r.stderr
            .contains("burst is not supported on managed clusters"),
        "{}",
        r.all()
    );
    assert_eq!(strategy_rows(&emu).len(), 1, "nothing but target_size");

    // The plan still carries out the existing strategy: nothing was broken.
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"]).json();
    let cluster = &plan["plan"]["clusters"][0];
    assert_eq!(cluster["status"], "planned", "{plan:#}");
    assert_eq!(cluster["actions"][0]["replica"], "r_50cc", "{plan:#}");
}

/// Regression (issue 10): the usage hint offered `--linger-s` and
/// `--max-burst-s`, which the parser then rejected. Every flag the hint
/// names is accepted, and durations take units.
#[test]
fn every_key_flag_the_usage_hint_names_exists() {
    let emu = emulator();
    emu.create_hydrated_cluster("batch", "r1", "25cc");
    let r = clusterctl(&emu, &["strategy", "set", "batch", "burst"]).code(64);
    let hint = r.stderr.clone();
    let flags: Vec<&str> = hint
        .split(|c: char| c.is_whitespace() || c == ',' || c == ')' || c == '(')
        .filter(|w| w.starts_with("--") && *w != "--config")
        .collect();
    assert_eq!(
        flags,
        [
            "--burst-replica-size",
            "--cooldown-s",
            "--linger-s",
            "--max-burst-s"
        ],
        "{hint}"
    );
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "batch",
            "burst",
            "--burst-replica-size",
            "50cc",
            "--cooldown-s",
            "2m",
            "--linger-s",
            "30m",
            "--max-burst-s",
            "1h",
        ],
    )
    .ok();
    let rows = strategy_rows(&emu);
    let config: serde_json::Value = serde_json::from_str(&rows[0].2).expect("json");
    assert_eq!(
        config,
        json!({"burst_replica_size": "50cc", "cooldown_s": 120, "linger_s": 1800, "max_burst_s": 3600})
    );
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "batch",
            "idle_suspend",
            "--idle-after-s",
            "10000000000000000",
        ],
    )
    .code(64);
    assert!(r.stderr.contains("longer than a year"), "{}", r.all());
}

#[test]
fn strategy_set_wins_over_rows_dated_in_the_future() {
    let emu = emulator();
    let id = emu.create_cluster("analytics");
    // A hand-written row from a client whose clock runs an hour ahead.
    strategy_at(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
        -3600,
    );
    strategy_at(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
        60,
    );
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "target_size",
            "--target-size",
            "100cc",
        ],
    )
    .ok();
    assert_eq!(
        strategy_rows(&emu),
        vec![(
            id,
            "target_size".into(),
            r#"{"target_size": "100cc"}"#.into()
        )]
    );
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    assert_eq!(plan["plan"]["clusters"][0]["actions"][0]["size"], "100cc");
}

#[test]
fn strategy_ls_and_rm() {
    let emu = emulator();
    let a = emu.create_cluster("analytics");
    let b = emu.create_cluster("batch");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    strategy(
        &emu,
        "batch",
        "burst",
        json!({"burst_replica_size": "100cc"}),
    );
    strategy(&emu, "batch", "idle_suspend", json!({"idle_after_s": 1800}));
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) \
         VALUES ('u999', 'target_size', '{\"target_size\": \"25cc\"}')",
    );

    let ls = clusterctl(&emu, &["strategy", "ls"]).ok();
    println!("{}", ls.stdout);
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert!(lines[0].starts_with("CLUSTER "), "{}", ls.stdout);
    assert!(
        lines[1].starts_with(&format!("analytics ({a})")),
        "{}",
        ls.stdout
    );
    assert!(lines[2].contains(&format!("batch ({b})")) && lines[2].contains("burst"));
    assert!(lines[3].contains("idle_suspend") && lines[3].contains(r#"{"idle_after_s":1800}"#));
    assert!(lines[4].contains("u999 (no such cluster)"), "{}", ls.stdout);
    assert!(!ls.stdout.contains('\u{1b}'), "no colour when piped");

    let json = clusterctl(
        &emu,
        &["strategy", "ls", "--cluster", "^bat", "--output", "json"],
    )
    .ok()
    .json();
    assert_eq!(json["command"], "strategy ls");
    assert_eq!(json["strategies"].as_array().map(Vec::len), Some(2));

    let r = clusterctl(&emu, &["strategy", "rm", "batch", "burst"]).ok();
    assert_eq!(
        r.stdout,
        format!("Removed 1 strategy row (burst) of cluster batch ({b}).\n")
    );
    let r = clusterctl(&emu, &["strategy", "rm", "batch", "burst"]).ok();
    assert!(
        r.stdout.contains("has no strategy rows of type burst"),
        "{}",
        r.all()
    );
    // A dangling row is removed by the id only the row mentions.
    clusterctl(&emu, &["strategy", "rm", "u999"]).ok();
    clusterctl(&emu, &["strategy", "rm", "analytics"]).ok();
    assert_eq!(
        strategy_rows(&emu),
        vec![(b, "idle_suspend".into(), r#"{"idle_after_s": 1800}"#.into())]
    );
    // --cluster means nothing to rm: refused rather than ignored.
    clusterctl(&emu, &["strategy", "rm", "batch", "--cluster", "x"]).code(64);
}

#[test]
fn pause_leaves_the_cluster_alone_and_every_plan_says_so() {
    let emu = emulator();
    emu.create_cluster("analytics");
    emu.add_replica("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );

    let r = clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--reason", "incident 42"],
    )
    .ok();
    assert!(
        r.stdout.starts_with("Paused cluster analytics"),
        "{}",
        r.all()
    );

    let dry = clusterctl(&emu, &["dry-run"]).ok();
    println!("{}", dry.all());
    assert!(!dry.stdout.contains("create replica"), "{}", dry.all());
    assert!(
        dry.stderr.contains(
            "paused (incident 42); left alone until `clusterctl strategy resume analytics`"
        ),
        "{}",
        dry.all()
    );
    assert!(dry.stdout.contains("1 paused"), "{}", dry.all());
    let json = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let cp = &json["plan"]["clusters"][0];
    assert_eq!(cp["status"], "paused");
    assert_eq!(cp["reason"], "incident 42");
    assert_eq!(cp["actions"], json!([]));

    let apply = clusterctl(&emu, &["apply"]).ok();
    assert!(apply.stderr.contains("paused"), "{}", apply.all());
    assert_eq!(
        emu.replicas("analytics"),
        vec![("r1".into(), "25cc".into())]
    );
    assert!(
        crate::cli::state_of(&emu, "analytics").is_none(),
        "no state written"
    );
    clusterctl(&emu, &["check"]).ok();

    let status = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    assert_eq!(status["clusters"][0]["condition"], "Paused");

    let r = clusterctl(&emu, &["strategy", "resume", "analytics"]).ok();
    assert!(
        r.stdout.starts_with("Resumed cluster analytics"),
        "{}",
        r.all()
    );
    let r = clusterctl(&emu, &["strategy", "resume", "analytics"]).ok();
    assert!(r.stdout.contains("is not paused"), "{}", r.all());
    let dry = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        dry.stdout.contains("+ create replica r_50cc (50cc)"),
        "{}",
        dry.all()
    );
}

#[test]
fn init_creates_the_tables_and_prints_sql_an_admin_can_run() {
    let emu = Emulator::start();
    let r = clusterctl(&emu, &["init"]).ok();
    assert!(
        r.stdout
            .starts_with("Created clusterctl's tables (migrations 1"),
        "{}",
        r.all()
    );
    let r = clusterctl(&emu, &["init"]).ok();
    assert_eq!(r.stdout, "The tables are up to date (nothing to do).\n");

    // --print needs no connection; its table part runs as is.
    // Roles are server-wide: a name of this test's own keeps reruns apart.
    let fresh = Emulator::start();
    let role = format!("{}_ctl", fresh.database());
    let mut cmd = command();
    cmd.args(["init", "--print", "--schema", "ops", "--role", &role]);
    let printed = run_cmd(cmd).ok().stdout;
    println!("{printed}");
    assert!(
        printed.contains(&format!("GRANT mz_monitor_redacted TO \"{role}\";")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("GRANT USAGE ON SCHEMA \"ops\" TO \"{role}\";")),
        "{printed}"
    );
    let tables = printed.split("\n-- Privileges").next().unwrap_or_default();
    fresh.sql(tables);
    let r = clusterctl(&fresh, &["init", "--schema", "ops"]).ok();
    assert_eq!(r.stdout, "The tables are up to date (nothing to do).\n");
    clusterctl(&fresh, &["dry-run", "--schema", "ops"]).ok();
    // The GRANT lines are valid too (PostgreSQL lacks the mz_monitor_redacted role).
    fresh.sql(&format!(
        "CREATE ROLE \"{role}\"; \
         DO $$ BEGIN CREATE ROLE mz_monitor_redacted; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    ));
    let grants: String = printed
        .lines()
        .filter(|l| l.starts_with("GRANT "))
        .collect::<Vec<_>>()
        .join("\n");
    fresh.sql(&grants);
}

#[test]
fn history_shows_the_audit_trail_newest_first() {
    let emu = emulator();
    emu.create_cluster("analytics");
    emu.add_replica("analytics", "r1", "25cc");
    emu.create_cluster("batch");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    strategy(&emu, "batch", "target_size", json!({"target_size": "25cc"}));
    emu.fail_ddl(2, "XX000", "the emulator says no");
    clusterctl(&emu, &["apply"]).code(3);
    // Make one action old.
    emu.sql(
        "UPDATE mz_cluster_strategy_actions SET created_at = created_at - INTERVAL '3 hours' \
         WHERE action_sql LIKE '%r_50cc%'",
    );

    let r = clusterctl(&emu, &["history"]).ok();
    println!("{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("TIME "), "{}", r.stdout);
    assert_eq!(lines.len(), 3, "{}", r.stdout);
    assert!(
        lines[1].contains("batch (") && lines[1].contains("FAILED"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].contains("error: the emulator says no"),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].contains("analytics (") && lines[2].contains("done"),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].contains("create r_50cc (50cc)")
            && lines[2].contains("target_size: ensure one replica of target size 50cc"),
        "{}",
        r.stdout
    );

    let only = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["history", "--output", "json"];
        all.extend_from_slice(args);
        let j = clusterctl(&emu, &all).ok().json();
        assert_eq!(j["format_version"], 1);
        assert_eq!(j["command"], "history");
        j["entries"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["cluster"].as_str().unwrap_or("?"), e["result"]))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(only(&["--failed"]), ["batch \"failed\""]);
    assert_eq!(only(&["--since", "2h"]), ["batch \"failed\""]);
    assert_eq!(
        only(&["--since", "1d", "--cluster", "^ana"]),
        ["analytics \"executed\""]
    );
    assert_eq!(only(&["--limit", "1"]), ["batch \"failed\""]);
    assert!(only(&["--cluster", "^nothing$"]).is_empty());
    let r = clusterctl(&emu, &["history", "--since", "soon"]).code(64);
    assert!(r.stderr.contains("30s, 15m, 2h, 1d"), "{}", r.all());
}

#[test]
fn status_gives_each_cluster_a_condition_and_a_reason() {
    let emu = emulator();
    // Converged: the target replica exists and is hydrated.
    emu.create_hydrated_cluster("conv", "r_25cc", "25cc");
    strategy(&emu, "conv", "target_size", json!({"target_size": "25cc"}));
    // Resizing: a 50cc replica is wanted.
    emu.create_cluster("grow");
    emu.add_replica("grow", "r1", "25cc");
    strategy(&emu, "grow", "target_size", json!({"target_size": "50cc"}));
    // Hydrating: the new replica exists, the old one waits for it.
    emu.create_hydrated_cluster("hyd", "r1", "25cc");
    emu.add_replica("hyd", "r_50cc", "50cc");
    strategy(&emu, "hyd", "target_size", json!({"target_size": "50cc"}));
    // CrashLooping: two OOM kills (an offline event without a reason is a
    // restart, not a crash, reference §8.7).
    emu.create_cluster("crashy");
    emu.add_replica("crashy", "r_25cc", "25cc");
    emu.add_crash("crashy", "r_25cc", true, 60);
    emu.add_crash("crashy", "r_25cc", false, 45);
    emu.add_crash("crashy", "r_25cc", true, 30);
    strategy(
        &emu,
        "crashy",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    // Bursting: nothing hydrated, so a burst replica is wanted.
    emu.create_cluster("bursty");
    emu.add_index("bursty");
    emu.add_replica("bursty", "r1", "25cc");
    strategy(
        &emu,
        "bursty",
        "burst",
        json!({"burst_replica_size": "100cc"}),
    );
    // Suspended, and SignalUnknown (the statement log is empty).
    emu.create_cluster("asleep");
    strategy(&emu, "asleep", "idle_suspend", json!({"idle_after_s": 60}));
    emu.create_cluster("unknown");
    emu.add_replica("unknown", "r1", "25cc");
    emu.set_hydrated("unknown", "r1", true);
    strategy(&emu, "unknown", "idle_suspend", json!({"idle_after_s": 60}));
    // Invalid, NotManageable, Paused.
    emu.create_cluster("bad");
    strategy(&emu, "bad", "target_size", json!({"target_size": "80cc"}));
    emu.create_cluster("refresh");
    emu.set_schedule("refresh", "on-refresh");
    strategy(
        &emu,
        "refresh",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    emu.create_cluster("held");
    strategy(&emu, "held", "pause", json!({}));
    // No strategies: only with --all.
    emu.create_cluster("plain");

    let r = clusterctl(&emu, &["status"]).ok();
    println!("{}", r.stdout);
    assert!(r.stdout.starts_with("CLUSTER "), "{}", r.stdout);
    assert!(!r.stdout.contains('\u{1b}'), "no colour when piped");
    assert!(!r.stdout.contains("plain ("), "{}", r.stdout);
    let json = clusterctl(&emu, &["status", "--all", "--output", "json"])
        .ok()
        .json();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["command"], "status");
    let by_name = |name: &str| -> serde_json::Value {
        json["clusters"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["cluster"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} missing: {json:#}"))
    };
    let expect = [
        ("conv", "Converged"),
        ("grow", "Resizing"),
        ("hyd", "Hydrating"),
        ("crashy", "CrashLooping"),
        ("bursty", "Bursting"),
        ("asleep", "Suspended"),
        ("unknown", "SignalUnknown"),
        ("bad", "Invalid"),
        ("refresh", "NotManageable"),
        ("held", "Paused"),
        ("plain", "Unconfigured"),
    ];
    for (name, condition) in expect {
        assert_eq!(
            by_name(name)["condition"],
            condition,
            "{name}: {:#}",
            by_name(name)
        );
    }
    let grow = by_name("grow");
    assert_eq!(
        grow["desired"],
        json!([{"name": "r1", "size": "25cc"}, {"name": "r_50cc", "size": "50cc"}])
    );
    assert_eq!(grow["pending_actions"], 1);
    assert!(grow["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("create r_50cc"));
    assert_eq!(
        by_name("unknown")["activity"],
        json!({"state": "unknown", "idle_seconds": null})
    );
    assert_eq!(by_name("crashy")["replicas"][0]["ooms"], 2);
    assert_eq!(
        by_name("crashy")["replicas"][0]["crashes"],
        2,
        "the reasonless restart is no crash"
    );
    assert!(by_name("bad")["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("80cc"));
    // The system clusters are never listed, even with --all.
    assert!(json["clusters"]
        .as_array()
        .is_some_and(|a| a.iter().all(|c| c["cluster_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('u')))));

    // Last action, after an apply; activity once the log has rows.
    clusterctl(&emu, &["apply", "--cluster", "^grow$"]).ok();
    emu.add_activity("grow", 90, false);
    let json = clusterctl(&emu, &["status", "--cluster", "^grow$", "--output", "json"])
        .ok()
        .json();
    let grow = &json["clusters"][0];
    assert_eq!(grow["last_action"]["kind"], "create_replica");
    assert_eq!(grow["last_action"]["replica"], "r_50cc");
    assert_eq!(grow["last_action"]["executed"], true);
    assert_eq!(grow["activity"]["state"], "busy");
    let text = clusterctl(&emu, &["status", "--cluster", "^grow$"])
        .ok()
        .stdout;
    assert!(
        text.contains("create r_50cc 0s ago") || text.contains("create r_50cc 1s ago"),
        "{text}"
    );
}

#[test]
fn check_reports_every_kind_of_problem() {
    let emu = emulator();
    emu.create_cluster("good");
    strategy(&emu, "good", "target_size", json!({"target_size": "25cc"}));
    let r = clusterctl(&emu, &["check"]).ok();
    assert_eq!(
        r.stdout,
        "Checked 1 strategy row on 1 cluster: no problems.\n"
    );

    emu.create_cluster("typo");
    strategy(&emu, "typo", "idle_suspnd", json!({"idle_after_s": 60}));
    emu.create_cluster("keys");
    strategy(
        &emu,
        "keys",
        "idle_suspend",
        json!({"idle_after_s": 60, "cooldown": 5}),
    );
    emu.create_cluster("types");
    strategy(&emu, "types", "idle_suspend", json!({"idle_after_s": "1h"}));
    emu.create_cluster("sizes");
    strategy(
        &emu,
        "sizes",
        "burst",
        json!({"burst_replica_size": "80cc"}),
    );
    emu.create_cluster("both");
    strategy(&emu, "both", "target_size", json!({"target_size": "25cc"}));
    strategy(
        &emu,
        "both",
        "shrink_to_fit",
        json!({"max_replica_size": "50cc"}),
    );
    emu.create_cluster("refresh");
    emu.set_schedule("refresh", "on-refresh");
    strategy(
        &emu,
        "refresh",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) \
         VALUES ('u999', 'target_size', '{\"target_size\": \"25cc\"}'), \
                ('s1', 'target_size', '{\"target_size\": \"25cc\"}')",
    );
    let before = strategy_rows(&emu);

    let r = clusterctl(&emu, &["check"]).code(3);
    println!("{}", r.stdout);
    for needle in [
        "unknown strategy type 'idle_suspnd' (did you mean 'idle_suspend'?)",
        "unknown config key 'cooldown' (did you mean 'cooldown_s'?), ignored",
        "key 'idle_after_s': must be a whole number",
        "unknown size '80cc'",
        "target_size and shrink_to_fit both choose the replica size",
        "SCHEDULE = ON REFRESH",
        "system cluster",
        "no cluster has id u999",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            r.stdout
        );
    }
    let j = clusterctl(&emu, &["check", "--output", "json"])
        .code(3)
        .json();
    assert_eq!(j["command"], "check");
    let codes: Vec<String> = j["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["code"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    for code in [
        "unknown_type",
        "unknown_key",
        "invalid_config",
        "conflicting_strategies",
        "unmanageable",
        "dangling_cluster",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "{code} missing from {codes:?}"
        );
    }
    // Only clusters matching --cluster; and check never writes.
    clusterctl(&emu, &["check", "--cluster", "^good$"]).ok();
    assert_eq!(strategy_rows(&emu), before);
}

#[test]
fn dry_run_detailed_exitcode_follows_terraform() {
    let emu = emulator();
    emu.create_cluster("analytics");
    emu.add_replica("analytics", "r_25cc", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    clusterctl(&emu, &["dry-run", "--detailed-exitcode"]).code(0);
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "target_size",
            "--target-size",
            "50cc",
        ],
    )
    .ok();
    clusterctl(&emu, &["dry-run", "--detailed-exitcode"]).code(2);
    clusterctl(&emu, &["dry-run"]).code(0);
    emu.create_cluster("bad");
    strategy(&emu, "bad", "target_size", json!({"target_size": "80cc"}));
    clusterctl(&emu, &["dry-run", "--detailed-exitcode"]).code(3);
    let mut cmd = command();
    cmd.args([
        "dry-run",
        "--detailed-exitcode",
        "--postgres-url",
        "postgres://u:p@127.0.0.1:1/x?sslmode=disable",
        "--connect-timeout",
        "1",
        "--max-retries",
        "0",
    ]);
    run_cmd(cmd).code(1);
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let mut cmd = command();
        cmd.args(["completions", shell]);
        let r = run_cmd(cmd).ok();
        assert!(r.stdout.contains("clusterctl"), "{shell}");
        assert!(
            r.stdout.contains("detailed-exitcode"),
            "{shell}: dry-run flags are completed"
        );
        assert!(
            r.stdout.contains("history"),
            "{shell}: every command is completed"
        );
    }
    let mut cmd = command();
    cmd.args(["completions", "tcsh"]);
    run_cmd(cmd).code(64);
    let mut cmd = command();
    cmd.arg("man");
    let r = run_cmd(cmd).ok();
    assert!(
        r.stdout.starts_with(".ie \\n(.g .ds Aq") || r.stdout.contains(".TH clusterctl"),
        "{}",
        &r.stdout[..200.min(r.stdout.len())]
    );
    assert!(r.stdout.contains(".TH clusterctl"), "roff title");
    assert!(r.stdout.contains("strategy"), "subcommands listed");
}

#[test]
fn every_command_has_help_with_an_example() {
    let commands: &[&[&str]] = &[
        &["dry-run"],
        &["apply"],
        &["wipe-state"],
        &["simulate"],
        &["strategy"],
        &["strategy", "set"],
        &["strategy", "rm"],
        &["strategy", "ls"],
        &["strategy", "pause"],
        &["strategy", "resume"],
        &["status"],
        &["check"],
        &["history"],
        &["init"],
        &["completions"],
        &["man"],
    ];
    for args in commands {
        let mut cmd = command();
        cmd.args(*args).arg("--help");
        let r: Run = run_cmd(cmd).ok();
        assert!(
            r.stdout.contains("Example"),
            "{args:?} --help has no example:\n{}",
            r.stdout
        );
    }
    let mut cmd = command();
    cmd.arg("--help");
    let r = run_cmd(cmd).ok();
    assert!(r.stdout.contains("2 changes pending"), "{}", r.stdout);
}

/// Prints a transcript of the operator commands for the README:
/// `cargo test --test it readme_transcript -- --ignored --nocapture`.
#[test]
#[ignore = "prints the README's examples; run by hand"]
fn readme_transcript() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    emu.create_cluster("batch");
    emu.add_index("batch");
    emu.add_replica("batch", "r1", "100cc");
    emu.create_cluster("etl");
    emu.add_replica("etl", "r1", "50cc");
    emu.add_crash("etl", "r1", true, 600);
    emu.add_crash("etl", "r1", false, 300);
    emu.add_activity("analytics", 40, true);
    let show = |args: &[&str]| {
        let r = clusterctl(&emu, args);
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains(' ') || a.contains('{') || a.contains('^') {
                    format!("'{a}'")
                } else {
                    a.to_string()
                }
            })
            .collect();
        println!("$ clusterctl {}", shown.join(" "));
        print!("{}", r.stdout);
        eprint!("{}", r.stderr);
        if r.code != 0 {
            println!("(exit code {})", r.code);
        }
        println!();
    };
    show(&["init"]);
    show(&[
        "strategy",
        "set",
        "analytics",
        "target_size",
        "--target-size",
        "50cc",
    ]);
    show(&[
        "strategy",
        "set",
        "analytics",
        "burst",
        "--burst-replica-size",
        "80cc",
    ]);
    show(&[
        "strategy",
        "set",
        "batch",
        "idle_suspend",
        "--config",
        r#"{"idle_after_s": 1800}"#,
    ]);
    show(&[
        "strategy",
        "set",
        "batch",
        "burst",
        "--burst-replica-size",
        "200cc",
    ]);
    show(&[
        "strategy",
        "set",
        "etl",
        "shrink_to_fit",
        "--max-replica-size",
        "100cc",
    ]);
    show(&[
        "strategy",
        "pause",
        "etl",
        "--reason",
        "OOM investigation, ticket 4711",
    ]);
    show(&["strategy", "ls"]);
    show(&["dry-run", "--detailed-exitcode"]);
    show(&["apply"]);
    show(&["status"]);
    show(&["history", "--since", "1h"]);
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) \
         SELECT id, 'idle_suspnd', '{\"idle_after\": 600}' FROM mz_catalog.mz_clusters WHERE name = 'analytics'",
    );
    show(&["check"]);
    show(&["strategy", "rm", "analytics", "idle_suspnd"]);
    show(&["strategy", "resume", "etl"]);
    show(&["check"]);
}
