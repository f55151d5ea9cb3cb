//! The operator commands (`strategy`, `status`, `check`, `history`, `init`,
//! `dry-run --detailed-exitcode`, `completions`, `man`), run as an operator
//! would: the real binary against PostgreSQL + the Materialize emulator.

use serde_json::json;

use crate::cli::{
    audit, clusterctl, clusterctl_gives_up, command, during, init_tables, late, pairs, run_cmd,
    state_of, states, strategy, strategy_at, write_state, Run,
};
use crate::support::Emulator;

/// An emulator with clusterctl's tables created by `clusterctl init`.
fn emulator() -> Emulator {
    let emu = Emulator::start();
    clusterctl(&emu, &["init"]).ok();
    emu
}

/// `analytics`, one 25cc replica `r1`, whose `target_size` wants 50cc:
/// one run of `apply` has something to do.
fn analytics_wanting_50cc() -> Emulator {
    let emu = emulator();
    emu.create_cluster("analytics");
    emu.add_replica("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
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

/// A target size's `replica_name` that burst takes for its own: refused
/// whichever row is written second (a burst row written after the target
/// size's was accepted, and the cluster skipped every run after).
#[test]
fn a_replica_name_burst_takes_is_refused_in_either_order() {
    let emu = emulator();
    emu.create_cluster("qt");
    let target = [
        "strategy",
        "set",
        "qt",
        "target_size",
        "--target-size",
        "50cc",
        "--replica-name",
        "qt-burst",
    ];
    let burst = [
        "strategy",
        "set",
        "qt",
        "burst",
        "--burst-replica-size",
        "200cc",
    ];
    for (first, second) in [(&target[..], &burst[..]), (&burst[..], &target[..])] {
        clusterctl(&emu, &["strategy", "rm", "qt"]);
        clusterctl(&emu, first).ok();
        let r = clusterctl(&emu, second).code(1);
        assert!(
            r.stderr.contains("refusing to write strategy")
                && r.stderr
                    .contains("is the name burst gives its replica on this cluster"),
            "{second:?}: {}",
            r.all()
        );
    }
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
    // A misspelt key or type gets a suggestion; a wrong type of value names
    // the key. Each is refused (exit 1) with nothing written.
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
            ["analytics", "TARGET_SIZE", "--config", "{}"],
            "did you mean 'target_size'?",
        ),
        (
            [
                "analytics",
                "idle_suspend",
                "--config",
                r#"{"idle_after_s": "1h"}"#,
            ],
            r#"key 'idle_after_s': must be a number of seconds >= 1, got string "1h": write 3600, a number, not text"#,
        ),
    ] {
        let mut argv = vec!["strategy", "set"];
        argv.extend(args);
        let r = clusterctl(&emu, &argv).code(1);
        assert!(r.stderr.contains(expected), "{argv:?}: {}", r.all());
    }
    // A key given twice (JSON keeps the last, silently) or a value no
    // JSON number holds is a usage error naming the key.
    for (config, expected) in [
        (
            r#"{"idle_after_s": 60, "idle_after_s": 6000}"#,
            "--config: key 'idle_after_s' is given more than once",
        ),
        (
            r#"{"idle_after_s": 1e400}"#,
            "--config: not valid JSON (key 'idle_after_s': number out of range",
        ),
    ] {
        let argv = [
            "strategy",
            "set",
            "analytics",
            "idle_suspend",
            "--config",
            config,
        ];
        let r = clusterctl(&emu, &argv).code(64);
        assert!(r.stderr.contains(expected), "{config}: {}", r.all());
    }
    // At any depth, in the config and in a key flag's JSON (a window's
    // size given twice kept the last: an outside check).
    let window = r#"{"cron": "0 0 8 * * *", "duration_s": 3600, "size": "50cc", "size": "100cc"}"#;
    let config = format!(r#"{{"timezone": "UTC", "windows": [{window}]}}"#);
    let flag = format!("[{window}]");
    for (argv, expected) in [
        (
            vec![
                "strategy",
                "set",
                "analytics",
                "schedule",
                "--config",
                &config,
            ],
            "--config: key 'windows[0].size' is given more than once",
        ),
        (
            vec![
                "strategy",
                "set",
                "analytics",
                "schedule",
                "--timezone",
                "UTC",
                "--windows",
                &flag,
            ],
            "key '[0].size' is given more than once",
        ),
    ] {
        let r = clusterctl(&emu, &argv).code(64);
        assert!(r.stderr.contains(expected), "{argv:?}: {}", r.all());
    }
    // A name that is no cluster is a usage error, as --cluster is.
    let argv = [
        "strategy",
        "set",
        "analytic",
        "target_size",
        "--target-size",
        "50cc",
    ];
    let r = clusterctl(&emu, &argv).code(64);
    assert!(
        r.stderr.contains("did you mean 'analytics'?"),
        "{argv:?}: {}",
        r.all()
    );
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
    // No config for a type that is none: what it is, not which flags.
    let r = clusterctl(&emu, &["strategy", "set", "analytics", "TARGET_SIZE"]).code(64);
    assert!(
        r.stderr
            .contains("unknown strategy type 'TARGET_SIZE' (did you mean 'target_size'?)"),
        "{}",
        r.all()
    );
    // A pause is its own command, with or without a config: a usage
    // error, as an unknown type is (it was exit 1).
    for extra in [&[][..], &["--config", "{}"]] {
        let mut argv = vec!["strategy", "set", "analytics", "pause"];
        argv.extend_from_slice(extra);
        let r = clusterctl(&emu, &argv).code(64);
        assert!(
            r.stderr
                .contains("use `clusterctl strategy pause analytics` to pause a cluster")
                && !r.stderr.contains("give the config"),
            "{argv:?}: {}",
            r.all()
        );
    }
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
    let cluster = &plan["result"]["plan"]["clusters"][0];
    assert_eq!(cluster["status"], "changes", "{plan:#}");
    assert_eq!(cluster["actions"][0]["replica"], "r_50cc", "{plan:#}");

    // A managed cluster refuses burst whatever else it has: the refusal
    // does not tell to remove its target_size (it did).
    set(&["managed", "target_size", "--target-size", "25cc"]).ok();
    let r = set(&["managed", "burst", "--burst-replica-size", "50cc"]).code(1);
    assert!(
        r.stderr.contains("not supported on managed clusters"),
        "{}",
        r.all()
    );
    assert!(!r.stderr.contains("strategy rm"), "{}", r.all());
}

/// An invalid row of another type does not refuse a valid write (the
/// config form, the key flags, `limits`): it is a warning naming that row
/// and how to fix or remove it. The new row's own problems, and a conflict
/// it brings, still refuse the write, in words about it alone.
#[test]
fn strategy_set_is_refused_only_for_what_the_new_row_causes() {
    let emu = emulator();
    let id = emu.create_hydrated_cluster("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "burst",
        json!({"burst_replica_size": "80cc"}),
    );
    let set = |args: &[&str]| {
        let mut argv = vec!["strategy", "set"];
        argv.extend_from_slice(args);
        clusterctl(&emu, &argv)
    };
    for args in [
        &[
            "analytics",
            "idle_suspend",
            "--config",
            r#"{"idle_after_s":60}"#,
        ][..],
        &["analytics", "target_size", "--target-size", "50cc"],
        &["analytics", "limits", "--max-replicas", "3"],
    ] {
        let r = set(args).ok();
        assert!(
            r.stdout.starts_with("Set strategy"),
            "{args:?}: {}",
            r.all()
        );
        assert!(
            r.stderr.contains(&format!(
                "warning: other strategy rows of cluster analytics ({id}) are invalid"
            )) && r
                .stderr
                .contains("`clusterctl strategy rm analytics burst`")
                && r.stderr.contains("strategy burst: ")
                && r.stderr.contains("80cc"),
            "{args:?}: {}",
            r.all()
        );
    }
    let types: Vec<String> = strategy_rows(&emu).into_iter().map(|r| r.1).collect();
    assert_eq!(types, ["burst", "idle_suspend", "limits", "target_size"]);
    let doc = set(&[
        "analytics",
        "limits",
        "--max-replicas",
        "2",
        "--output",
        "json",
    ])
    .ok()
    .json();
    let warnings = doc["result"]["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{doc:#}");
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("strategy burst")),
        "{doc:#}"
    );

    // The new row's own problem refuses it, and only it is named.
    let r = set(&[
        "analytics",
        "idle_suspend",
        "--config",
        r#"{"idle_after_s":"1h"}"#,
    ])
    .code(1);
    assert!(
        r.stderr.contains("refusing to write strategy idle_suspend")
            && r.stderr.contains("key 'idle_after_s'")
            && !r.stderr.contains("burst"),
        "{}",
        r.all()
    );
    // So does a conflict it brings with a valid row.
    let r = set(&["analytics", "shrink_to_fit", "--max-replica-size", "50cc"]).code(1);
    assert!(
        r.stderr.contains("both choose the replica size")
            && r.stderr.contains("nothing was written")
            && !r.stderr.contains("80cc"),
        "{}",
        r.all()
    );
    assert_eq!(strategy_rows(&emu).len(), 4, "nothing written");

    // A conflict between the other rows is theirs: a warning that says it.
    emu.create_hydrated_cluster("etl", "r1", "25cc");
    strategy(&emu, "etl", "target_size", json!({"target_size": "25cc"}));
    strategy(
        &emu,
        "etl",
        "shrink_to_fit",
        json!({"max_replica_size": "50cc"}),
    );
    let r = set(&["etl", "idle_suspend", "--idle-after-s", "30m"]).ok();
    assert!(
        r.stderr
            .contains("warning: other strategy rows of cluster etl")
            && r.stderr.contains("both choose the replica size"),
        "{}",
        r.all()
    );
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

/// `strategy set CLUSTER stabilization` without flags: every key has a
/// default, so the usage error says `'{}'` takes them all (it
/// listed the flags alone, as if one were needed); a type with a required
/// key is not told so.
#[test]
fn a_strategy_of_defaults_is_told_how_to_take_them() {
    let emu = emulator();
    emu.create_hydrated_cluster("batch", "r1", "25cc");
    let r = clusterctl(&emu, &["strategy", "set", "batch", "stabilization"]).code(64);
    assert!(
        r.stderr.contains("`'{}'` keeps every default"),
        "{}",
        r.all()
    );
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "batch",
            "stabilization",
            "--config",
            "{}",
        ],
    )
    .ok();
    assert_eq!(strategy_rows(&emu)[0].2, "{}");
    for ty in ["target_size", "burst", "idle_suspend", "limits", "schedule"] {
        let r = clusterctl(&emu, &["strategy", "set", "batch", ty]).code(64);
        assert!(!r.stderr.contains("'{}'"), "{ty}: {}", r.all());
    }
}

/// The config as the argument after the type, as one writes it first
/// (`strategy set batch idle_suspend '{"idle_after_s": 600}'`): the same
/// as `--config`, named `CONFIG` in its errors; with `--config` or a key
/// flag beside it, a usage error.
#[test]
fn the_config_may_follow_the_type() {
    let emu = emulator();
    emu.create_hydrated_cluster("batch", "r1", "25cc");
    let set = |extra: &[&str]| {
        let mut argv = vec!["strategy", "set", "batch", "idle_suspend"];
        argv.extend(extra);
        clusterctl(&emu, &argv)
    };
    set(&[r#"{"idle_after_s": 600}"#]).ok();
    assert_eq!(
        strategy_rows(&emu)
            .into_iter()
            .map(|(_, ty, config)| (ty, config))
            .collect::<Vec<_>>(),
        [(
            "idle_suspend".to_string(),
            r#"{"idle_after_s": 600}"#.to_string()
        )]
    );
    let r = set(&["[600]"]).code(64);
    assert!(
        r.stderr.contains("CONFIG: must be a JSON object"),
        "{}",
        r.all()
    );
    let r = set(&[r#"{"idle_after_s": "#]).code(64);
    assert!(r.stderr.contains("CONFIG: not valid JSON"), "{}", r.all());
    // A value alone, as if it were the key's: the shapes a config takes.
    let r = set(&["10m"]).code(64);
    assert!(
        r.stderr.contains(
            "CONFIG: not valid JSON (trailing characters at line 1 column 3); give a JSON object, \
             like '{\"target_size\": \"100cc\"}', or key flags (idle_suspend takes \
             --idle-after-s"
        ),
        "{}",
        r.all()
    );
    for beside in [
        &["--config", r#"{"idle_after_s": 60}"#][..],
        &["--idle-after-s", "60"],
    ] {
        let mut extra = vec![r#"{"idle_after_s": 60}"#];
        extra.extend(beside);
        let r = set(&extra).code(64);
        assert!(
            r.stderr.contains("cannot be used with"),
            "{beside:?}: {}",
            r.all()
        );
    }
    assert_eq!(strategy_rows(&emu)[0].2, r#"{"idle_after_s": 600}"#);
}

/// A key flag of another strategy type is a slip of the command line:
/// exit 64 before anything is read, naming the types that read it and the
/// flags this one takes. It was "unknown key 'cooldown_s'", exit 1, after
/// the catalog was read, with nothing said of the flag given.
#[test]
fn a_key_flag_of_another_type_names_the_types_that_read_it() {
    let emu = emulator();
    emu.create_hydrated_cluster("batch", "r1", "25cc");
    emu.clear_sql_log();
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "batch",
            "target_size",
            "--target-size",
            "50cc",
            "--cooldown-s",
            "5m",
        ],
    )
    .code(64);
    assert!(
        r.stderr.contains(
            "--cooldown-s is a key of shrink_to_fit, burst and idle_suspend, not of \
             target_size (target_size takes --target-size, --replica-name, --allow-downtime)"
        ),
        "{}",
        r.all()
    );
    assert_eq!(emu.sql_log(), Vec::<String>::new(), "{}", r.all());
    assert!(strategy_rows(&emu).is_empty());
    let r = clusterctl(
        &emu,
        &["strategy", "set", "batch", "burst", "--idle-after-s", "30m"],
    )
    .code(64);
    assert!(
        r.stderr
            .contains("--idle-after-s is a key of idle_suspend, not of burst"),
        "{}",
        r.all()
    );
}

/// The command lines the audit trail recorded that start with `prefix`,
/// oldest first.
fn command_lines(emu: &Emulator, prefix: &str) -> Vec<String> {
    emu.query_strings(&format!(
        "SELECT action_sql FROM mz_cluster_strategy_actions \
         WHERE action_sql LIKE '{prefix}%' ORDER BY created_at, action_id"
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap_or_default())
    .collect()
}

/// The audit row of `strategy pause` and `strategy resume` records the
/// command line that made the change, as `history -o wide` shows it: it
/// added the row's type (`strategy pause analytics pause`), a line that
/// does not run.
#[test]
fn pause_and_resume_are_audited_as_the_command_lines_they_are() {
    let emu = analytics_wanting_50cc();
    clusterctl(&emu, &["strategy", "pause", "analytics"]).ok();
    clusterctl(&emu, &["strategy", "resume", "analytics"]).ok();
    clusterctl(&emu, &["strategy", "rm", "analytics", "target_size"]).ok();
    assert_eq!(
        command_lines(&emu, "-- clusterctl strategy "),
        [
            "-- clusterctl strategy pause analytics",
            "-- clusterctl strategy resume analytics",
            "-- clusterctl strategy rm analytics target_size",
        ]
    );
}

/// A command a fix names runs on the `--exec-cluster` the command was
/// given: run as printed without it, on a default cluster with no
/// replica, it waited two minutes and failed (an outside check). Not twice
/// where the command names one itself.
#[test]
fn printed_commands_repeat_the_exec_cluster() {
    let emu = analytics_wanting_50cc();
    emu.create_hydrated_cluster("ops", "r1", "25cc");
    let run = clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--exec-cluster", "ops"],
    )
    .ok();
    assert!(
        run.stdout
            .contains("`clusterctl strategy resume analytics --exec-cluster ops`"),
        "{}",
        run.all()
    );
    let plain = clusterctl(&emu, &["strategy", "pause", "analytics"]).ok();
    assert!(
        plain
            .stdout
            .contains("`clusterctl strategy resume analytics`"),
        "{}",
        plain.all()
    );
    assert_eq!(
        command_lines(&emu, "-- clusterctl strategy "),
        [
            "-- clusterctl strategy pause analytics",
            "-- clusterctl strategy pause analytics",
        ],
        "the audit line is the change, not where it ran"
    );
}

/// `strategy pause`'s audit line records the flags given: the reason as a
/// shell takes it, the expiry as the time it came to (what `2h` meant when
/// it was typed), and the row's config says the same. A pause again with a
/// new reason alone records that reason alone (the expiry kept is in the
/// row, not on the line), and the output names the expiry as a plan does.
#[test]
fn a_pause_is_audited_with_the_reason_and_expiry_it_was_given() {
    let emu = analytics_wanting_50cc();
    let first = clusterctl(
        &emu,
        &[
            "strategy",
            "pause",
            "analytics",
            "--reason",
            "it's a freeze",
            "--until",
            "2h",
        ],
    )
    .ok();
    let until = strategy_rows(&emu)
        .into_iter()
        .find(|r| r.1 == "pause")
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.2).ok())
        .and_then(|c| c["until"].as_str().map(str::to_string))
        .expect("the pause row has its expiry");
    assert!(
        first.stdout.contains(&format!(
            "leaves it alone until {until} (the pause expires) or until `clusterctl strategy resume analytics`"
        )),
        "{}",
        first.all()
    );
    clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--reason", "incident-42"],
    )
    .ok();
    assert_eq!(
        command_lines(&emu, "-- clusterctl strategy pause "),
        [
            format!(
                r"-- clusterctl strategy pause analytics --reason='it'\''s a freeze' --until={until}"
            ),
            "-- clusterctl strategy pause analytics --reason=incident-42".to_string(),
        ]
    );
}

/// A pause that would have ended already is refused before anything is
/// written (exit 64), saying when it would have ended.
#[test]
fn a_pause_until_a_past_time_is_refused_and_writes_nothing() {
    let emu = analytics_wanting_50cc();
    let before = strategy_rows(&emu);
    let r = clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--until", "2020-01-01"],
    )
    .code(64);
    assert!(
        r.stderr
            .contains("--until 2020-01-01T00:00:00Z: that is not in the future"),
        "{}",
        r.all()
    );
    assert_eq!(strategy_rows(&emu), before);
    assert!(command_lines(&emu, "-- clusterctl strategy pause").is_empty());
    // Nor a time more than a year ahead, as a duration is not.
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "pause",
            "analytics",
            "--until",
            "9999-12-31T23:59:59Z",
        ],
    )
    .code(64);
    assert!(
        r.stderr.contains("more than a year (366 days) ahead"),
        "{}",
        r.all()
    );
    assert_eq!(strategy_rows(&emu), before);
}

/// A pause written by hand with an `until` that is no time: pausing again
/// without `--until` drops it, and says so (the end the operator meant
/// was lost silently: an outside check).
#[test]
fn pausing_over_a_pause_whose_until_is_no_time_says_it_has_no_end() {
    let emu = analytics_wanting_50cc();
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies VALUES ('{}', 'pause', \
         '{{\"until\": \"2026-12-08 10:00\", \"reason\": \"until tomorrow\"}}', now())",
        emu.cluster_id("analytics")
    ));
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "pause",
            "analytics",
            "--reason",
            "still looking",
        ],
    )
    .ok();
    assert!(
        r.stderr
            .contains("is not an RFC 3339 time, so it is dropped: this pause has no end"),
        "{}",
        r.all()
    );
    let r = clusterctl(&emu, &["strategy", "pause", "analytics", "--until", "2h"]).ok();
    assert!(!r.stderr.contains("no end"), "{}", r.all());
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
    // Said by `check` (a later hand INSERT with now() would lose to it
    // for an hour, silently: an outside check).
    let check = clusterctl(&emu, &["check", "-o", "json"]).json();
    let codes: Vec<String> = crate::cli::findings(&check)
        .iter()
        .filter_map(|f| f["code"].as_str().map(str::to_string))
        .collect();
    assert!(codes.contains(&"dated_ahead".to_string()), "{check:#}");
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
    assert_eq!(
        plan["result"]["plan"]["clusters"][0]["actions"][0]["size"],
        "100cc"
    );
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

    // A config longer than the table's column is clipped there; -o wide
    // shows it whole.
    let reason = "r".repeat(200);
    strategy(&emu, "analytics", "pause", json!({ "reason": reason }));
    let only = ["strategy", "ls", "--cluster", "analytics"];
    let text = clusterctl(&emu, &only).ok();
    assert!(
        !text.stdout.contains(&reason) && text.stdout.contains("rrr…"),
        "{}",
        text.stdout
    );
    let wide = clusterctl(&emu, &[&only[..], &["-o", "wide"]].concat()).ok();
    assert!(wide.stdout.contains(&reason), "{}", wide.stdout);

    let json = clusterctl(
        &emu,
        &[
            "strategy",
            "ls",
            "--filter-clusters",
            "^bat",
            "--output",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(json["command"], "strategy ls");
    assert_eq!(
        json["result"]["strategies"].as_array().map(Vec::len),
        Some(2)
    );

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

    // A dropped cluster, by the name its audit rows recorded (it said
    // "did you mean 'batch'?", another, live cluster).
    emu.create_cluster("gone");
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "gone",
            "target_size",
            "--target-size",
            "25cc",
        ],
    )
    .ok();
    let gone = emu.cluster_id("gone");
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_clusters WHERE id = '{gone}'"
    ));
    let r = clusterctl(&emu, &["strategy", "rm", "gone"]).ok();
    assert!(r.stdout.contains(&gone), "{}", r.all());
    assert!(
        strategy_rows(&emu).iter().all(|(id, _, _)| *id != gone),
        "{:?}",
        strategy_rows(&emu)
    );
    // Its audit row keeps the name it was named by, as the earlier ones
    // recorded it (it was null: `history` showed the id alone).
    let rm = emu.query_one(&format!(
        "SELECT decision_ctx->>'cluster' FROM mz_cluster_strategy_actions \
         WHERE cluster_id = '{gone}' AND decision_ctx->>'kind' = 'strategy_rm'"
    ));
    assert_eq!(rm.as_deref(), Some("gone"));
}

#[test]
fn pause_leaves_the_cluster_alone_and_every_plan_says_so() {
    let emu = analytics_wanting_50cc();

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
    let cp = &json["result"]["plan"]["clusters"][0];
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
    assert_eq!(status["result"]["clusters"][0]["condition"], "Paused");

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
        lines[1].contains("batch ") && lines[1].contains("FAILED"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].contains("error: the emulator says no"),
        "{}",
        r.stdout
    );
    assert!(
        lines[2].contains("analytics ") && lines[2].contains("executed"),
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
        assert_eq!(j["format_version"], 2);
        assert_eq!(j["command"], "history");
        j["result"]["entries"]
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
        only(&["--since", "1d", "--filter-clusters", "^ana"]),
        ["analytics \"executed\""]
    );
    assert_eq!(only(&["--limit", "1"]), ["batch \"failed\""]);
    assert!(only(&["--filter-clusters", "^nothing$"]).is_empty());
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
    assert_eq!(json["format_version"], 2);
    assert_eq!(json["command"], "status");
    let by_name = |name: &str| -> serde_json::Value {
        json["result"]["clusters"]
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
    // Never suspended by it: nothing to bring back, said so (it promised
    // "a new statement brings them back", and apply then woke nothing).
    assert!(
        by_name("asleep")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("idle_suspend remembers none to bring back")),
        "{:#}",
        by_name("asleep")
    );
    // Suspended by it, remembering its replica: the promise holds.
    emu.create_cluster("slept");
    strategy(&emu, "slept", "idle_suspend", json!({"idle_after_s": 60}));
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ('{}', 2, '{{\"idle_suspend\": {{\"suspended\": [{{\"name\": \"r1\", \"size\": \"25cc\"}}], \
         \"suspended_at\": \"2026-01-01T00:00:00Z\"}}}}', now())",
        emu.cluster_id("slept")
    ));
    let slept = clusterctl(&emu, &["status", "--cluster", "slept", "-o", "json"])
        .ok()
        .json();
    assert!(
        slept["result"]["clusters"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("a new statement brings them back")),
        "{slept:#}"
    );
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
    assert!(json["result"]["clusters"].as_array().is_some_and(|a| a
        .iter()
        .all(|c| c["cluster_id"]
            .as_str()
            .is_some_and(|id| id.starts_with('u')))));

    // Last action, after an apply; activity once the log has rows.
    clusterctl(&emu, &["apply", "--cluster", "grow"]).ok();
    emu.add_activity("grow", 90, false);
    let json = clusterctl(&emu, &["status", "--cluster", "grow", "--output", "json"])
        .ok()
        .json();
    let grow = &json["result"]["clusters"][0];
    assert_eq!(grow["last_action"]["kind"], "create_replica");
    assert_eq!(grow["last_action"]["replica"], "r_50cc");
    assert_eq!(grow["last_action"]["executed"], true);
    assert_eq!(grow["activity"]["state"], "busy");
    let text = clusterctl(&emu, &["status", "--cluster", "grow", "-o", "wide"])
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
    emu.create_cluster("ended");
    strategy(
        &emu,
        "ended",
        "schedule",
        json!({"timezone": "UTC", "windows": [{"cron": "0 0 8 1 1 * 2020-2025", "duration_s": 3600, "size": "25cc"}]}),
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
        "key 'idle_after_s': must be a number of seconds",
        "unknown size '80cc'",
        "target_size and shrink_to_fit both choose the replica size",
        "SCHEDULE = ON REFRESH",
        "system cluster",
        "no cluster has id u999",
        "window 1 ('0 0 8 1 1 * 2020-2025') never opens again",
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
    let codes: Vec<String> = j["result"]["findings"]
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
        "ended",
    ] {
        assert!(
            codes.iter().any(|c| c == code),
            "{code} missing from {codes:?}"
        );
    }
    // Only clusters matching --cluster; and check never writes.
    clusterctl(&emu, &["check", "--cluster", "good"]).ok();
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
    // Every command, as `--help` lists them (a new one cannot be left out).
    let mut commands: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = 0;
    while seen < commands.len() {
        let args = commands[seen].clone();
        seen += 1;
        let mut cmd = command();
        cmd.args(&args).arg("--help");
        let r: Run = run_cmd(cmd).ok();
        if !args.is_empty() {
            assert!(
                r.stdout.contains("Example"),
                "{args:?} --help has no example:\n{}",
                r.stdout
            );
        }
        let listed = r
            .stdout
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            // A description's second line is indented further.
            .filter_map(|l| l.strip_prefix("  ").filter(|l| !l.starts_with(' ')))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name != "help");
        for name in listed {
            let mut sub = args.clone();
            sub.push(name.to_string());
            commands.push(sub);
        }
    }
    let names: Vec<String> = commands.iter().map(|c| c.join(" ")).collect();
    for expected in ["unlock", "doctor", "strategy mv", "strategy resume", "man"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    let mut cmd = command();
    cmd.arg("--help");
    let r = run_cmd(cmd).ok();
    assert!(r.stdout.contains("2 changes pending"), "{}", r.stdout);
}

/// Runs `clusterctl ARGS` on a pseudo-terminal (`script(1)`), with `input`
/// typed on it; returns what the terminal showed and the exit code.
fn on_terminal(emu: &Emulator, args: &[&str], input: &str, env: &[(&str, &str)]) -> (String, i32) {
    let bin = env!("CARGO_BIN_EXE_clusterctl");
    let line = std::iter::once(bin.to_string())
        .chain(
            args.iter()
                .map(|a| format!("'{}'", a.replace('\'', "'\\''"))),
        )
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"])
        .env("DATABASE_URL", emu.url())
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("script(1) runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("script finishes");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn pause_config(emu: &Emulator) -> serde_json::Value {
    let rows: Vec<_> = strategy_rows(emu)
        .into_iter()
        .filter(|r| r.1 == "pause")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    serde_json::from_str(&rows[0].2).expect("json")
}

#[test]
fn pausing_twice_keeps_the_reason_and_until_expires_the_pause() {
    let emu = analytics_wanting_50cc();
    clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--reason", "incident 42"],
    )
    .ok();
    let again = clusterctl(&emu, &["strategy", "pause", "analytics"]).ok();
    assert!(
        again
            .stderr
            .contains("was already paused (reason: incident 42)"),
        "{}",
        again.all()
    );
    assert_eq!(pause_config(&emu), json!({"reason": "incident 42"}));
    // A new reason is said as new (it was shown as the old one).
    let renamed = clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--reason", "incident 43"],
    )
    .ok();
    assert!(
        renamed
            .stderr
            .contains("was already paused (reason: incident 42); reason now: incident 43"),
        "{}",
        renamed.all()
    );
    assert_eq!(pause_config(&emu), json!({"reason": "incident 43"}));

    // --until: the pause carries its expiry; status says when.
    let r = clusterctl(&emu, &["strategy", "pause", "analytics", "--until", "2h"]).ok();
    assert!(r.stdout.contains(" until 20"), "{}", r.all());
    let cfg = pause_config(&emu);
    assert_eq!(cfg["reason"], "incident 43", "the reason is kept: {cfg}");
    assert!(cfg["until"].is_string(), "{cfg}");
    let reason = crate::cli::status_reason(&emu);
    assert!(
        reason.contains("expires in 1h59m") || reason.contains("expires in 2h00m"),
        "{reason}"
    );
    let dry = clusterctl(&emu, &["dry-run"]).ok();
    assert!(!dry.stdout.contains("create replica"), "{}", dry.all());
    clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--until", "2020-01-01"],
    )
    .code(64);

    // Once the time has passed, the planner no longer honours the pause.
    emu.sql(
        "UPDATE mz_cluster_strategies SET config = jsonb_set(config, '{until}', \
         to_jsonb(to_char(now() at time zone 'utc' - interval '1 minute', \
         'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))) WHERE strategy_type = 'pause'",
    );
    let dry = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        dry.stdout.contains("+ create replica r_50cc (50cc)"),
        "{}",
        dry.all()
    );
    assert!(dry.stdout.contains("the pause expired at"), "{}", dry.all());
}

#[test]
fn strategy_changes_are_audited_and_history_shows_them() {
    let emu = emulator();
    let id = emu.create_cluster("analytics");
    let set = |size: &str| {
        clusterctl(
            &emu,
            &[
                "strategy",
                "set",
                "analytics",
                "target_size",
                "--target-size",
                size,
            ],
        )
        .ok();
    };
    set("25cc");
    set("50cc");
    clusterctl(&emu, &["strategy", "pause", "analytics", "--reason", "x"]).ok();
    clusterctl(&emu, &["strategy", "resume", "analytics"]).ok();
    // Without USER and LOGNAME (a CronJob, a container), the operator is
    // this uid's name, not "unknown".
    let mut rm = command();
    rm.args(["strategy", "rm", "analytics", "target_size"])
        .env("DATABASE_URL", emu.url())
        .env_remove("USER")
        .env_remove("LOGNAME");
    run_cmd(rm).ok();
    let h = clusterctl(&emu, &["history", "--cluster", &id, "-o", "json"])
        .ok()
        .json();
    let entries = h["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let kinds: Vec<&str> = entries.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "strategy_rm",
            "strategy_resume",
            "strategy_pause",
            "strategy_set",
            "strategy_set"
        ],
        "{h:#}"
    );
    let second_set = &entries[3]["change"];
    assert_eq!(second_set["before"], json!({"target_size": "25cc"}));
    assert_eq!(second_set["after"], json!({"target_size": "50cc"}));
    assert!(second_set["by"]["user"]
        .as_str()
        .is_some_and(|u| u.contains('@')));
    assert_eq!(
        entries[0]["change"]["before"],
        json!({"target_size": "50cc"})
    );
    assert_eq!(entries[0]["change"]["after"], json!(null));
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .expect("id -un");
    let by = entries[0]["change"]["by"]["user"]
        .as_str()
        .unwrap_or_default();
    assert!(by.starts_with(&format!("{me}@")), "{by} (expected {me}@…)");
    let text = clusterctl(&emu, &["history"]).ok().stdout;
    assert!(
        text.contains(
            r#"strategy set target_size  {"target_size":"25cc"} → {"target_size":"50cc"} (by "#
        ),
        "{text}"
    );
    // Each change is shown by describe too.
    let d = clusterctl(&emu, &["describe", "analytics"]).ok().stdout;
    assert!(d.contains("strategy rm target_size"), "{d}");
}

/// An incident review from the terminal: `apply` prints its run id,
/// `history --run` shows that run's actions alone, and `-o wide` adds each
/// row's run and the SQL it sent.
#[test]
fn history_shows_one_runs_actions_with_their_sql() {
    let emu = analytics_wanting_50cc();
    let run_of = |out: &str| -> String {
        out.split(" Run ")
            .nth(1)
            .map(|rest| rest.trim().trim_end_matches('.').to_string())
            .unwrap_or_default()
    };
    let first = run_of(&clusterctl(&emu, &["apply"]).ok().stdout);
    assert_eq!(first.len(), 36, "{first}");
    // A second run, with another action.
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "100cc"}),
    );
    let second = run_of(&clusterctl(&emu, &["apply"]).ok().stdout);
    assert_ne!(first, second);

    let r = clusterctl(&emu, &["history", "--run", &first[..8], "-o", "wide"]).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].contains(" RUN ") && lines[0].ends_with(" SQL"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1..].iter().all(|l| l.contains(&first[..8])),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains(r#"CREATE CLUSTER REPLICA "analytics"."r_50cc""#)
            && !r.stdout.contains("r_100cc"),
        "{}",
        r.stdout
    );
    // The whole id, in capitals, is the same run.
    let doc = clusterctl(
        &emu,
        &["history", "--run", &first.to_uppercase(), "-o", "json"],
    )
    .ok()
    .json();
    let entries = doc["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!entries.is_empty(), "{doc:#}");
    assert!(
        entries.iter().all(|e| e["run_id"] == first.as_str()),
        "{doc:#}"
    );
    // Without -o wide: neither column.
    let r = clusterctl(&emu, &["history"]).ok();
    assert!(
        !r.stdout.contains(" RUN ") && !r.stdout.contains("CREATE CLUSTER"),
        "{}",
        r.stdout
    );

    for bad in ["3f2a", "not-a-run-id", "3f2a'--"] {
        let r = clusterctl(&emu, &["history", "--run", bad]).code(64);
        assert!(r.stderr.contains("is not a run id"), "{bad}: {}", r.all());
    }
}

/// Every row a command writes carries its run: `strategy mv`'s two rows
/// share one, which `history --run` shows alone, and an `apply`'s pruning
/// is shown with that run's actions.
#[test]
fn an_operator_s_command_is_a_run_in_the_trail_and_a_pruning_is_its_apply_s() {
    let emu = analytics_wanting_50cc();
    emu.create_cluster("reporting");
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "stabilization",
            "--scale-down-after-s",
            "600",
        ],
    )
    .ok();
    clusterctl(&emu, &["strategy", "mv", "analytics", "reporting"]).ok();
    let entries = |args: &[&str]| -> Vec<serde_json::Value> {
        let doc = clusterctl(&emu, &[&["history", "-o", "json"], args].concat())
            .ok()
            .json();
        doc["result"]["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let runs_of = |kind: &str, of: &[serde_json::Value]| -> Vec<String> {
        of.iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["run_id"].as_str().unwrap_or("none").to_string())
            .collect()
    };
    let all = entries(&[]);
    let moved = runs_of("strategy_mv", &all);
    assert_eq!(moved.len(), 2, "{all:#?}");
    assert_eq!(moved[0].len(), 36, "{all:#?}");
    assert_eq!(moved[0], moved[1]);
    let set = runs_of("strategy_set", &all);
    assert_eq!(set.len(), 1, "{all:#?}");
    assert_ne!(set[0], moved[0], "each command is a run of its own");
    let one = entries(&["--run", &moved[0][..8]]);
    assert_eq!(runs_of("strategy_mv", &one), moved, "{one:#?}");
    assert_eq!(one.len(), 2, "{one:#?}");

    emu.sql("UPDATE mz_cluster_strategy_actions SET created_at = created_at - INTERVAL '100 days'");
    let apply = clusterctl(&emu, &["apply", "--audit-retention", "30d"]).ok();
    assert!(apply.stdout.contains("Pruned"), "{}", apply.all());
    let run = apply
        .stdout
        .split(" Run ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|id| id.trim_end_matches('.').to_string())
        .unwrap_or_default();
    assert_eq!(run.len(), 36, "{}", apply.all());
    let of_apply = entries(&["--run", &run]);
    for kind in ["prune_audit", "create_replica"] {
        assert_eq!(
            runs_of(kind, &of_apply),
            [run.as_str()],
            "{kind}: {of_apply:#?}"
        );
    }
}

#[test]
fn history_limits_hints_dates_replicas_and_unlocks() {
    let emu = emulator();
    let id = emu.create_cluster("c");
    // 60 old actions, one per minute, alternating replicas.
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions \
         SELECT 'a' || g, '{id}', 'DROP CLUSTER REPLICA x', \
                jsonb_build_object('kind', 'drop_replica', 'replica', 'r' || (g % 2), \
                                   'strategy', 'target_size', 'reasons', jsonb_build_array('why')), \
                true, NULL, TIMESTAMPTZ '2026-01-01 00:00:00+00' + g * INTERVAL '1 minute' \
         FROM generate_series(1, 60) g"
    ));
    let count = |args: &[&str]| -> (usize, bool) {
        let mut all = vec!["history", "-o", "json"];
        all.extend_from_slice(args);
        let j = clusterctl(&emu, &all).ok().json();
        (
            j["result"]["entries"].as_array().map_or(0, Vec::len),
            j["result"]["more"] == true,
        )
    };
    assert_eq!(count(&[]), (50, true));
    let r = clusterctl(&emu, &["history"]).ok();
    assert!(r.stderr.contains("more entries match"), "{}", r.all());
    assert_eq!(count(&["--limit", "0"]), (60, false));
    assert_eq!(count(&["--limit", "60"]), (60, false));
    assert_eq!(count(&["--limit", "1"]), (1, true));
    assert_eq!(
        count(&[
            "--since",
            "2026-01-01 00:30",
            "--until",
            "2026-01-01T00:40:00Z"
        ]),
        (10, false)
    );
    assert_eq!(
        count(&["--until", "2026-01-01 00:10", "--limit", "0"]),
        (10, false)
    );
    assert_eq!(count(&["--replica", "r1", "--limit", "0"]), (30, false));

    // An unlock row names whose lease was broken, and who broke it.
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'other-host:4242:run', \
         expires_at = now() + INTERVAL '10 minutes' WHERE name = 'controller'",
    );
    clusterctl(&emu, &["unlock", "--force"]).ok();
    let r = clusterctl(&emu, &["history", "--limit", "1"]).ok();
    assert!(
        r.stdout.contains("unlock --force")
            && r.stdout
                .contains("broke the lease held by other-host:4242:run (by "),
        "{}",
        r.all()
    );
    let doc = clusterctl(&emu, &["history", "--limit", "1", "-o", "json"])
        .ok()
        .json();
    let entry = &doc["result"]["entries"][0];
    assert_eq!(entry["previous_holder"], "other-host:4242:run", "{doc:#}");
    assert!(
        entry["broken_by"]["user"]
            .as_str()
            .is_some_and(|u| u.contains('@')),
        "{doc:#}"
    );
    let j = clusterctl(&emu, &["unlock", "--force", "-o", "json"])
        .ok()
        .json();
    assert_eq!(j["command"], "unlock");
    assert_eq!(j["result"]["previous_holder"], "");
    // Said outright, not only by an empty holder and 1970.
    assert_eq!(j["result"]["broken"], false);
}

#[test]
fn status_is_narrow_by_default_and_says_what_holds_a_cluster() {
    let emu = emulator();
    // A stabilization hold on a cluster that also has a live burst replica:
    // the condition is the hold, not "Bursting".
    emu.create_hydrated_cluster("hold", "r1", "25cc");
    emu.add_replica("hold", "r_50cc", "50cc");
    emu.set_hydrated("hold", "r_50cc", true);
    emu.add_replica("hold", "hold-burst", "100cc");
    strategy(&emu, "hold", "target_size", json!({"target_size": "50cc"}));
    strategy(
        &emu,
        "hold",
        "burst",
        json!({"burst_replica_size": "100cc"}),
    );
    strategy(
        &emu,
        "hold",
        "stabilization",
        json!({"scale_down_after_s": 600}),
    );
    // A resize waiting for its new replica to hydrate.
    emu.create_hydrated_cluster("grow", "r1", "25cc");
    emu.add_replica("grow", "r_50cc", "50cc");
    strategy(&emu, "grow", "target_size", json!({"target_size": "50cc"}));
    emu.create_cluster("a_cluster_with_a_rather_long_name");
    strategy(
        &emu,
        "a_cluster_with_a_rather_long_name",
        "target_size",
        json!({"target_size": "80cc"}),
    );

    let r = clusterctl(&emu, &["status"]).ok();
    println!("{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("CLUSTER") && lines[0].ends_with("REPLICAS  AGE  REASON"),
        "{}",
        r.stdout
    );
    assert!(
        lines.iter().all(|l| l.chars().count() <= 80),
        "{}",
        r.stdout
    );
    let json = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let find = |name: &str| {
        json["result"]["clusters"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["cluster"] == name).cloned())
            .unwrap_or_default()
    };
    assert_eq!(find("hold")["condition"], "Stabilizing", "{json:#}");
    let reason = find("hold")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with("drop hold-burst (100cc) in 10m (stabilization: burst: "),
        "{reason}"
    );
    assert_eq!(find("grow")["condition"], "Hydrating", "{json:#}");
    assert_eq!(find("grow")["plan"], "waiting");
    let wide = clusterctl(&emu, &["status", "-o", "wide"]).ok().stdout;
    assert!(
        wide.lines()
            .next()
            .is_some_and(|h| h.contains("LAST ACTION") && h.contains("WANT")),
        "{wide}"
    );
    assert!(
        wide.contains("target_size: key 'target_size': unknown size '80cc'"),
        "{wide}"
    );

    // dry-run reports both as waiting, with the reason, without -v.
    let dry = clusterctl(&emu, &["dry-run"]).code(3);
    assert!(
        dry.stdout.contains("  waiting: drop r1 (25cc) in 10m (stabilization: target_size: r_50cc (50cc) is hydrated; retiring 25cc replica)"),
        "{}",
        dry.all()
    );
    assert!(
        dry.stdout
            .contains("  waiting: hydrate r_50cc: r_50cc (50cc) is hydrating"),
        "{}",
        dry.all()
    );
    assert!(dry.stdout.contains("2 waiting"), "{}", dry.all());
}

#[test]
fn describe_shows_everything_about_one_cluster() {
    let emu = emulator();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    emu.add_replica("analytics", "r_50cc", "50cc");
    emu.set_hydrated("analytics", "r_50cc", true);
    emu.add_crash("analytics", "r1", true, 60);
    emu.add_activity("analytics", 7260, true);
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
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "stabilization",
            "--scale-down-after-s",
            "6m",
        ],
    )
    .ok();
    let d = clusterctl(&emu, &["describe", "analytics"]).ok().stdout;
    println!("{d}");
    for needle in [
        "Name:        analytics",
        "Condition:   Stabilizing",
        "Plan:        waiting",
        r#"target_size: {"target_size":"50cc"}"#,
        r#"stabilization: {"scale_down_after_s":360}"#,
        "NAME    SIZE  HYDRATED  AGE  CRASHES  OOMS",
        "Activity:  idle for 2h01m",
        "Waiting:\n  drop r1 (25cc) in 6m (stabilization: target_size: r_50cc (50cc) is hydrated; retiring 25cc replica)",
        "strategy set stabilization",
    ] {
        assert!(d.contains(needle), "missing {needle:?}:\n{d}");
    }
    let r1 = d
        .lines()
        .find(|l| l.trim_start().starts_with("r1 "))
        .unwrap_or_default();
    let cols: Vec<&str> = r1.split_whitespace().collect();
    assert_eq!(cols.len(), 6, "{r1}");
    assert_eq!(
        (cols[1], cols[2], cols[4], cols[5]),
        ("25cc", "yes", "1", "1"),
        "{r1}"
    );
    let j = clusterctl(&emu, &["describe", "analytics", "-o", "json"])
        .ok()
        .json();
    let res = &j["result"];
    assert_eq!(res["waiting"][0]["in_seconds"], 360, "{j:#}");
    assert_eq!(res["replicas"][0]["ooms"], 1, "{j:#}");
    assert!(res["replicas"][0]["age_seconds"].is_u64(), "{j:#}");
    assert_eq!(res["history"].as_array().map(Vec::len), Some(2), "{j:#}");
    for (n, shown) in [("0", 0), ("1", 1)] {
        let j = clusterctl(
            &emu,
            &["describe", "analytics", "--history", n, "-o", "json"],
        )
        .ok()
        .json();
        let history = j["result"]["history"].as_array().map(Vec::len);
        assert_eq!(history, Some(shown), "--history {n}: {j:#}");
    }
    let r = clusterctl(&emu, &["describe", "analytic"]).code(64);
    assert!(
        r.stderr.contains("did you mean 'analytics'?"),
        "{}",
        r.all()
    );
}

#[test]
fn apply_streams_each_action_with_its_elapsed_time() {
    let emu = emulator();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    // A DDL that takes 11 s, like a graceful resize.
    emu.on_ddl(1, |_| {
        std::thread::sleep(std::time::Duration::from_secs(11))
    });
    let r = clusterctl(&emu, &["apply"]).ok();
    println!("{}", r.stdout);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let pos = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?}:\n{}", r.stdout))
    };
    let plan = pos("  + create replica r_50cc (50cc)");
    let start = pos("analytics.r_50cc: Creating... [CREATE CLUSTER REPLICA");
    let still = pos("analytics.r_50cc: Still creating... [10s elapsed]");
    let done = pos("analytics.r_50cc: Creation complete after 1");
    let summary = pos("Applied 1 of 1 action on 1 cluster.");
    assert!(plan < start && start < still && still < done && done < summary);
    assert!(!r.stdout.contains('\u{1b}'), "no colour when piped");
    // JSON: one document, no progress lines.
    clusterctl(&emu, &["apply", "-o", "json"]).ok().json();
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let emu = emulator();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    let (tty, code) = on_terminal(&emu, &["dry-run"], "", &[]);
    assert_eq!(code, 0, "{tty}");
    assert!(tty.contains("\u{1b}[32m+ create replica r_50cc"), "{tty:?}");
    let (plain, _) = on_terminal(&emu, &["dry-run"], "", &[("NO_COLOR", "1")]);
    assert!(plain.contains("+ create replica r_50cc"), "{plain:?}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}

#[test]
fn wipe_state_asks_on_a_terminal_and_never_creates_tables() {
    let emu = emulator();
    emu.create_cluster("c");
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    clusterctl(&emu, &["apply"]).ok();
    let states = |emu: &Emulator| crate::cli::states(emu).len();
    assert_eq!(states(&emu), 1);
    let (out, code) = on_terminal(&emu, &["wipe-state"], "n\n", &[]);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains("[y/N]") && out.contains("nothing was wiped"),
        "{out}"
    );
    assert_eq!(states(&emu), 1);
    let (out, code) = on_terminal(&emu, &["wipe-state"], "y\n", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(states(&emu), 0);
    let (out, code) = on_terminal(&emu, &["wipe-state", "--yes"], "", &[]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("[y/N]"), "{out}");

    // Without tables: an error, and still no tables.
    let fresh = Emulator::start();
    let r = clusterctl(&fresh, &["wipe-state"]).code(1);
    assert!(r.stderr.starts_with("error: "), "{}", r.all());
    assert_eq!(
        fresh
            .query_one("SELECT (to_regclass('mz_cluster_strategy_state') IS NULL)::text")
            .as_deref(),
        Some("true")
    );
}

#[test]
fn problems_are_printed_once_and_logs_say_more_with_vv() {
    let emu = emulator();
    emu.create_cluster("bad");
    strategy(&emu, "bad", "target_size", json!({"target_size": "80cc"}));
    emu.create_cluster("good");
    strategy(&emu, "good", "target_size", json!({"target_size": "25cc"}));
    let r = clusterctl(&emu, &["dry-run"]).code(3);
    assert_eq!(
        r.stderr.matches("80cc").count(),
        1,
        "the problem once:\n{}",
        r.stderr
    );
    let r = clusterctl(&emu, &["dry-run", "-vv"]).code(3);
    assert!(
        r.stderr.contains("signals") && r.stderr.contains("cluster=good"),
        "{}",
        r.stderr
    );
    // With --log-format json every line is JSON, the invalid row's too
    // (it was a plain `error:` line among the JSON events).
    let r = clusterctl(&emu, &["dry-run", "-v", "--log-format", "json"]).code(3);
    for line in r.stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}\n{}", r.stderr));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("\"level\":\"ERROR\"") && l.contains("80cc")),
        "{}",
        r.stderr
    );
    // With --log-format json the final error line is JSON too.
    let mut cmd = command();
    cmd.args([
        "dry-run",
        "--log-format",
        "json",
        "--postgres-url",
        "postgres://u:pw@127.0.0.1:1/x?sslmode=disable",
        "--connect-timeout",
        "1",
        "--max-retries",
        "0",
    ]);
    let r = run_cmd(cmd).code(1);
    let last = r.stderr.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(v["level"], "ERROR");
    assert_eq!(v["code"], "database");
}

#[test]
fn init_print_sql_runs_twice_and_man_pages_cover_every_command() {
    let fresh = Emulator::start();
    let mut cmd = command();
    cmd.args(["init", "--print"]);
    let printed = run_cmd(cmd).ok().stdout;
    let tables = printed.split("\n-- Privileges").next().unwrap_or_default();
    fresh.sql(tables);
    fresh.sql(tables);
    assert_eq!(
        fresh
            .query_one("SELECT count(*)::text FROM clusterctl_schema_migrations")
            .as_deref(),
        Some("2")
    );
    clusterctl(&fresh, &["dry-run"]).ok();

    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = command();
    cmd.args(["man", "--out-dir"]).arg(dir.path());
    run_cmd(cmd).ok();
    let main = std::fs::read_to_string(dir.path().join("clusterctl.1")).expect("main page");
    for sub in [
        "dry-run",
        "apply",
        "wipe-state",
        "unlock",
        "simulate",
        "strategy",
        "status",
        "describe",
        "check",
        "history",
        "init",
        "completions",
        "man",
    ] {
        let page = dir.path().join(format!("clusterctl-{sub}.1"));
        assert!(page.exists(), "{} missing", page.display());
        let cited = format!("clusterctl\\-{}(1)", sub.replace('-', "\\-"));
        assert!(main.contains(&cited), "{sub} not cited as {cited}");
    }
    assert!(dir.path().join("clusterctl-strategy-set.1").exists());
    // The last directory of the path is made, not its parents (a typo is
    // said), and a file there is no directory.
    let mut cmd = command();
    cmd.args(["man", "--out-dir"]).arg(dir.path().join("new"));
    run_cmd(cmd).ok();
    assert!(dir.path().join("new/clusterctl.1").exists());
    let mut cmd = command();
    cmd.args(["man", "--out-dir"])
        .arg(dir.path().join("typo/man1"));
    let r = run_cmd(cmd).code(1);
    assert!(r.stderr.contains("does not exist"), "{}", r.all());
    assert!(!dir.path().join("typo").exists());
    let mut cmd = command();
    cmd.args(["man", "--out-dir"])
        .arg(dir.path().join("clusterctl.1"));
    let r = run_cmd(cmd).code(1);
    assert!(r.stderr.contains("is not a directory"), "{}", r.all());
    // The scenario simulate's help cites exists.
    let mut cmd = command();
    cmd.args(["simulate", "--help"]);
    let help = run_cmd(cmd).ok().stdout;
    let cited = help
        .split_whitespace()
        .find(|w| w.starts_with("examples/scenarios/") && w.ends_with(".toml"))
        .expect("a scenario is cited");
    assert!(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(cited)
            .exists(),
        "{cited}"
    );
    // Every file an example compares with ships, or the help says what it
    // is: `--compare predictive.toml`, run as written, found no such file
    // and nothing said what to write in it.
    let words: Vec<&str> = help.split_whitespace().collect();
    for file in words
        .windows(2)
        .filter(|w| w[0] == "--compare" && w[1].ends_with(".toml"))
        .map(|w| w[1])
    {
        let ships = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(file)
            .exists();
        assert!(
            ships || words.join(" ").contains(&format!("({file} below:")),
            "{file}:\n{help}"
        );
    }
}

#[test]
fn status_watch_refreshes() {
    let emu = emulator();
    emu.create_cluster("c");
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    // A second row of the type: a warning `status` says on stderr.
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let mut cmd = command();
    cmd.args(["status", "--watch", "--interval", "1s", "--cluster", "c"])
        .env("DATABASE_URL", emu.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("clusterctl runs");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut refreshes = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while refreshes < 3 && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(1)) {
            // With its selection, as watch(1) shows the command.
            if line.starts_with("Every 1s: clusterctl status --cluster c ") {
                refreshes += 1;
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(refreshes, 3, "three refreshes of the table");
    // Its warnings too (`--watch` said none: an outside check); to a
    // pipe, which keeps every line, once while they do not change.
    let mut said = String::new();
    std::io::Read::read_to_string(&mut { stderr }, &mut said).unwrap_or_default();
    let warned = said
        .lines()
        .filter(|l| l.starts_with("warning:") && l.contains("2 rows for strategy 'target_size'"))
        .count();
    assert_eq!(warned, 1, "{said}");

    // With -o json: one document per line (JSON Lines), not pretty
    // documents back to back, which no JSON parser reads as one.
    let mut cmd = command();
    cmd.args(["status", "--watch", "--interval", "1s", "-o", "json"])
        .env("DATABASE_URL", emu.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("clusterctl runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    for _ in 0..2 {
        let line = lines.next().and_then(Result::ok).unwrap_or_default();
        let doc: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(doc["command"], "status", "{doc:#}");
        assert_eq!(doc["result"]["clusters"][0]["cluster"], "c", "{doc:#}");
    }
    // SIGTERM (a service manager stopping it) is a clean exit, as SIGINT.
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = child.wait().expect("status --watch ends");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn each_command_shows_only_its_own_flags() {
    let help = |args: &[&str]| {
        let mut cmd = command();
        cmd.args(args).arg("--help");
        run_cmd(cmd).ok().stdout
    };
    for (args, absent) in [
        (&["unlock"][..], "--cluster "),
        (&["history"][..], "--resize-timeout"),
        (&["init"][..], "--replica-sizes"),
        (&["strategy", "set"][..], "--cluster "),
        (&["describe"][..], "--filter-clusters"),
        (&["status"][..], "--lease-ttl"),
    ] {
        let text = help(args);
        assert!(!text.contains(absent), "{args:?} lists {absent}:\n{text}");
    }
    assert!(help(&["history"]).contains("--replica <NAME>"));
    // `-o wide` says what it adds to history as the README does: the help
    // named the cluster ids alone.
    let wide = help(&["history"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        wide.contains("history: cluster ids, runs and the SQL sent"),
        "{wide}"
    );
    assert!(help(&["apply"]).contains("--enable-experimental-strategies"));
}

#[test]
fn a_name_that_is_no_cluster_is_a_usage_error_for_every_command() {
    let emu = emulator();
    emu.create_cluster("analytics");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    let set = [
        "strategy",
        "set",
        "analytic",
        "target_size",
        "--target-size",
        "25cc",
    ];
    for args in [
        &["describe", "analytic"][..],
        &set[..],
        &["strategy", "pause", "analytic"],
        &["strategy", "rm", "analytic"],
        &["history", "--cluster", "analytic"],
        &["status", "--cluster", "analytic"],
    ] {
        let r = clusterctl(&emu, args);
        assert_eq!(r.code, 64, "{args:?}: {}", r.all());
        assert!(
            r.stderr
                .contains("analytic: no cluster has that name or id (did you mean 'analytics'?)"),
            "{args:?}: {}",
            r.all()
        );
        let mut json = args.to_vec();
        json.extend(["-o", "json"]);
        let doc = clusterctl(&emu, &json).json();
        assert_eq!(doc["error"]["code"], "usage", "{args:?}: {doc:#}");
    }
    // A CLUSTER argument with no near name says where the names are: it
    // said "no cluster has that name or id" and no more.
    for args in [
        &["describe", "nosuch"][..],
        &["strategy", "pause", "nosuch"],
    ] {
        let r = clusterctl(&emu, args).code(64);
        assert!(
            r.stderr.contains(
                "cluster nosuch: no cluster has that name or id; \
                 `clusterctl status --all` lists the user clusters"
            ),
            "{args:?}: {}",
            r.all()
        );
    }
}

#[test]
fn the_id_of_a_dropped_cluster_is_no_cluster_to_plan_but_its_rows_are_listed() {
    // Strategy rows outlive their cluster: `strategy ls` and `check` show
    // them by id; a plan or `status` of that id is a usage error that says
    // how to remove them, not an empty plan with exit 0.
    let emu = emulator();
    emu.create_cluster("analytics");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         VALUES ('u99', 'target_size', '{\"target_size\": \"50cc\"}'::jsonb, now())",
    );
    for args in [
        &["apply", "--cluster", "u99"][..],
        &["dry-run", "--cluster", "u99"],
        &["status", "--cluster", "u99"],
    ] {
        let r = clusterctl(&emu, args).code(64);
        assert!(
            r.stderr.contains("u99: no cluster has that name or id")
                && r.stderr
                    .contains("`clusterctl strategy rm u99` removes them")
                && r.stderr
                    .contains("`clusterctl strategy mv u99 CLUSTER` moves them to another"),
            "{args:?}: {}",
            r.all()
        );
    }
    let ls = clusterctl(&emu, &["strategy", "ls", "--cluster", "u99"]).ok();
    assert!(ls.stdout.contains("u99"), "{}", ls.all());
    let check = clusterctl(&emu, &["check", "--cluster", "u99"]).code(3);
    assert!(check.stdout.contains("u99"), "{}", check.all());
}

#[test]
fn history_of_a_dropped_cluster_works_by_name_and_id() {
    let emu = emulator();
    let id = emu.create_cluster("gone");
    strategy(&emu, "gone", "target_size", json!({"target_size": "25cc"}));
    // A name with a comma: whole, as the trail recorded it (it was split
    // into `gone` and `too` once the cluster was dropped).
    let comma = emu.create_cluster("gone, too");
    strategy(
        &emu,
        "gone, too",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    clusterctl(&emu, &["apply"]).ok();
    for id in [&id, &comma] {
        emu.sql(&format!(
            "DELETE FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = '{id}'; \
             DELETE FROM mz_catalog.mz_clusters WHERE id = '{id}'"
        ));
    }
    let doc = clusterctl(&emu, &["history", "--cluster", "gone, too", "-o", "json"])
        .ok()
        .json();
    let entries = doc["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "{doc:#}");
    assert_eq!(entries[0]["cluster_id"], comma.as_str(), "{doc:#}");
    for arg in ["gone", id.as_str()] {
        let doc = clusterctl(&emu, &["history", "--cluster", arg, "-o", "json"])
            .ok()
            .json();
        let entries = doc["result"]["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(entries.len(), 1, "{arg}: {doc:#}");
        assert_eq!(entries[0]["cluster_id"], id.as_str(), "{arg}: {doc:#}");
    }
    // Neither the catalog nor the audit trail knows it.
    clusterctl(&emu, &["history", "--cluster", "never"]).code(64);
}

/// A name's history is that of the clusters that held it: the one holding
/// it now (by id, across renames) and those before it, as the trail
/// recorded them (a blue/green swap moves the workload to another id; so
/// does a cluster dropped and created again).
#[test]
fn history_of_a_name_follows_the_clusters_that_held_it() {
    let emu = emulator();
    let set = |cluster: &str, size: &str| {
        strategy(&emu, cluster, "target_size", json!({ "target_size": size }));
        let argv = ["strategy", "rm", cluster];
        clusterctl(&emu, &argv).ok();
    };
    let ids_of = |arg: &str| -> Vec<String> {
        let doc = clusterctl(&emu, &["history", "--cluster", arg, "-o", "json"])
            .ok()
            .json();
        let mut ids: Vec<String> = doc["result"]["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|e| e["cluster_id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let blue = emu.create_cluster("analytics");
    set("analytics", "25cc");
    let green = emu.create_cluster("analytics_dbt_deploy");
    set("analytics_dbt_deploy", "50cc");
    emu.sql("CALL mz_emulator.swap_clusters('analytics', 'analytics_dbt_deploy')");
    let both = {
        let mut v = vec![blue.clone(), green.clone()];
        v.sort();
        v
    };
    // Each name was held by both clusters.
    assert_eq!(ids_of("analytics"), both);
    assert_eq!(ids_of("analytics_dbt_deploy"), both);
    // An id is that cluster alone.
    assert_eq!(ids_of(&blue), vec![blue.clone()]);
    // What the other side does under its new name is not the old name's:
    // analytics shows blue for the time blue held it, no more.
    let rows_of = |arg: &str, id: &str| -> usize {
        let doc = clusterctl(&emu, &["history", "--cluster", arg, "-o", "json"])
            .ok()
            .json();
        let entries = doc["result"]["entries"].as_array().cloned();
        entries
            .unwrap_or_default()
            .iter()
            .filter(|e| e["cluster_id"] == json!(id))
            .count()
    };
    let held = rows_of("analytics", &blue);
    assert_eq!(held, 1);
    set("analytics_dbt_deploy", "75cc");
    assert_eq!(rows_of("analytics", &blue), held);
    assert_eq!(rows_of("analytics_dbt_deploy", &blue), held + 1);
    assert_eq!(rows_of(&blue, &blue), held + 1);
    // Dropped and created again under its name.
    let old = emu.create_cluster("x");
    set("x", "25cc");
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_clusters WHERE id = '{old}'"
    ));
    let new = emu.create_cluster("x");
    assert_eq!(ids_of("x"), vec![old.clone()]);
    set("x", "50cc");
    let mut v = vec![old, new];
    v.sort();
    assert_eq!(ids_of("x"), v);
}

#[test]
fn history_checks_a_relative_against_an_absolute_bound_by_no_host_clock() {
    let emu = emulator();
    let id = emu.create_cluster("c");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions \
         VALUES ('a1', '{id}', 'DROP CLUSTER REPLICA x', '{{\"kind\": \"drop_replica\"}}'::jsonb, \
                 true, NULL, now() - INTERVAL '1 hour')"
    ));
    // An hour ahead by the database's clock; a day behind this host's.
    let until = emu
        .query_one(
            "SELECT to_char((now() + INTERVAL '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')",
        )
        .unwrap_or_default();
    let mut cmd = command();
    crate::support::with_clock_offset(&mut cmd, 86_400);
    cmd.args(["history", "--since", "3h", "--until", &until, "-o", "json"])
        .env("DATABASE_URL", emu.url());
    let doc = run_cmd(cmd).ok().json();
    let entries = doc["result"]["entries"].as_array().map_or(0, Vec::len);
    assert_eq!(entries, 1, "{doc:#}");
    // Bounds of one kind are still checked before connecting.
    for (since, until) in [("1h", "2h"), ("2026-01-02", "2026-01-01")] {
        let r = clusterctl(&emu, &["history", "--since", since, "--until", until]).code(64);
        assert!(
            r.stderr.contains("--since is later than --until"),
            "{}",
            r.all()
        );
    }
}

#[test]
fn a_cluster_never_queried_is_new_in_status_and_describe_alike() {
    let emu = emulator();
    emu.create_hydrated_cluster("quiet", "r1", "25cc");
    emu.create_hydrated_cluster("busy", "r1", "25cc");
    strategy(&emu, "quiet", "idle_suspend", json!({"idle_after_s": 3600}));
    // When its replica started is not known (no status history): the log's
    // silence proves nothing before the controller's first sight.
    emu.sql(&format!(
        "DELETE FROM mz_internal.mz_cluster_replica_status_history WHERE replica_id = '{}'",
        emu.replica_id("quiet", "r1")
    ));
    // The statement log has rows, none of them `quiet`'s.
    emu.add_activity("busy", 30, true);
    emu.flush_statement_log();
    let idle_column = |emu: &Emulator| {
        let s = clusterctl(emu, &["status", "-o", "wide"]).ok().stdout;
        let header = s.lines().next().unwrap_or_default().to_string();
        let at = header.find("IDLE").unwrap_or_else(|| panic!("{s}"));
        let row = s
            .lines()
            .find(|l| l.starts_with("quiet"))
            .unwrap_or_else(|| panic!("{s}"))
            .to_string();
        row.get(at..)
            .map(|rest| rest.split("  ").next().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    let activity = |emu: &Emulator| {
        let d = clusterctl(emu, &["describe", "quiet"]).ok().stdout;
        d.lines()
            .find_map(|l| l.trim_start().strip_prefix("Activity:"))
            .map(|a| a.trim().to_string())
            .unwrap_or_else(|| panic!("{d}"))
    };
    // Before the first apply: new, its grace period not started.
    assert_eq!(idle_column(&emu), "new");
    assert_eq!(
        activity(&emu),
        "new (no statement seen; idle from the next apply)"
    );
    // After it: still new in both (status said `0s`), idle since then.
    clusterctl(&emu, &["apply"]).ok();
    let column = idle_column(&emu);
    assert!(column.starts_with("new ("), "{column}");
    let said = activity(&emu);
    assert!(
        said.starts_with("new (no statement seen; idle for ")
            && said.contains(": since the controller first saw it or, if earlier,"),
        "{said}"
    );
    let json = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let a = &json["result"]["clusters"][0]["activity"];
    assert_eq!(a["state"], "new", "{a}");
    assert!(a["idle_seconds"].is_u64(), "{a}");
}

#[test]
fn a_cluster_idle_through_the_logs_lookback_is_suspended_on_first_sight() {
    // The controller sees both for the first time (a first deployment, or
    // after `wipe-state`); neither has a statement in the log's lookback,
    // whose oldest statement (another cluster's) began three hours ago.
    let emu = emulator();
    emu.create_hydrated_cluster("old", "r1", "25cc");
    emu.set_replica_started("old", "r1", 20 * 86_400, 300);
    emu.create_hydrated_cluster("fresh", "r1", "25cc");
    emu.set_replica_started("fresh", "r1", 600, 300);
    emu.create_hydrated_cluster("busy", "r1", "25cc");
    for c in ["old", "fresh"] {
        strategy(&emu, c, "idle_suspend", json!({"idle_after_s": 3600}));
    }
    emu.add_activity("busy", 3 * 3600, true);
    emu.flush_statement_log();
    // Before any apply, status already counts `old`'s silence.
    let json = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let activity = |name: &str| {
        json["result"]["clusters"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c["cluster"] == name || c["name"] == name)
            })
            .map(|c| c["activity"].clone())
            .unwrap_or_default()
    };
    let old = activity("old");
    assert_eq!(old["state"], "new", "{json:#}");
    assert!(
        old["idle_seconds"]
            .as_u64()
            .is_some_and(|s| s >= 3 * 3600 - 60),
        "{old}"
    );
    // `old` ran through those three hours: idle, suspended at once. `fresh`
    // started ten minutes ago: idle ten minutes, kept.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("old").is_empty(), "{}", run.all());
    assert_eq!(emu.replicas("fresh").len(), 1, "{}", run.all());
    // (Ten minutes and a few seconds: the apply waited for the statement
    // log before suspending `old`.)
    let plan = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        plan.stdout
            .contains("no statement of this cluster since a replica it runs started 10m ago")
            || plan.stdout.contains("a replica it runs started 10m0"),
        "{}",
        plan.all()
    );
}

#[test]
fn a_schedule_asking_for_more_replicas_than_materialize_allows_is_said() {
    let emu = emulator();
    emu.create_hydrated_cluster("sched", "r1", "25cc");
    let set = |replicas: u32| {
        let windows = format!(
            r#"[{{"cron": "0 0 8 * * *", "duration_s": 3600, "size": "50cc", "replicas": {replicas}}}]"#
        );
        let argv = ["strategy", "set", "sched", "schedule", "--timezone", "UTC"];
        let mut argv = argv.to_vec();
        argv.extend(["--windows", &windows]);
        clusterctl(&emu, &argv).ok()
    };
    let run = set(6);
    let said = "schedule: asks for 6 replicas at once, but max_replicas_per_cluster is 5";
    assert!(run.all().contains(said), "{}", run.all());
    let check = clusterctl(&emu, &["check"]);
    assert!(check.all().contains(said), "{}", check.all());
    // Within the limit: nothing said.
    let run = set(5);
    assert!(
        !run.all().contains("max_replicas_per_cluster"),
        "{}",
        run.all()
    );
}

/// A window whose year has gone by never opens again: said when it is set
/// (it was written with exit 0 and nothing said, the README promising a
/// refusal); not an invalid row, so a row valid yesterday stays valid.
#[test]
fn a_schedule_window_that_never_opens_again_is_said() {
    let emu = emulator();
    emu.create_hydrated_cluster("sched", "r1", "25cc");
    let windows = r#"[{"cron": "0 0 8 * * *", "duration_s": 3600, "size": "50cc"},
                      {"cron": "0 0 0 1 1 * 2025-2026", "duration_s": 3600, "size": "50cc"}]"#;
    let argv = [
        "strategy",
        "set",
        "sched",
        "schedule",
        "--timezone",
        "UTC",
        "--windows",
        windows,
    ];
    let run = clusterctl(&emu, &argv).ok();
    assert!(
        run.stderr
            .contains("warning: schedule: window 2 ('0 0 0 1 1 * 2025-2026') never opens again"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("window 1"), "{}", run.all());
    // The row is valid: the plan goes on with the other window.
    clusterctl(&emu, &["dry-run"]).ok();
}

/// A burst no larger than what it would stand in for is never started:
/// said when it is set and by `check` (a warning: exit 3), where only a
/// plan's note said it, once a cold start found it so. Against what the
/// cluster runs and the size its other rows run; above both, nothing said.
#[test]
fn a_burst_no_larger_than_the_cluster_is_said_up_front() {
    let emu = emulator();
    emu.create_cluster("batch");
    emu.add_replica("batch", "r1", "100cc");
    let set = |cluster: &str, size: &str| {
        let argv = [
            "strategy",
            "set",
            cluster,
            "burst",
            "--burst-replica-size",
            size,
        ];
        clusterctl(&emu, &argv).ok()
    };
    let run = set("batch", "100cc");
    let said = "burst: burst_replica_size 100cc is no larger than replica r1 (100cc), so no \
                burst is started beside a replica of that size";
    assert!(
        run.stderr.contains(&format!("warning: {said}")),
        "{}",
        run.all()
    );
    let check = clusterctl(&emu, &["check"]).code(3);
    assert!(
        check
            .stdout
            .contains(&format!("): burst: {}", &said["burst: ".len()..])),
        "{}",
        check.all()
    );
    assert!(
        check.stdout.contains("0 errors, 1 warning."),
        "{}",
        check.all()
    );
    let j = clusterctl(&emu, &["check", "--output", "json"])
        .code(3)
        .json();
    assert_eq!(
        j["result"]["findings"][0]["code"], "burst_not_larger",
        "{j:#}"
    );
    assert_eq!(j["result"]["findings"][0]["severity"], "warning", "{j:#}");
    // What the plan says when it comes to it: the same rule.
    let plan = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        plan.stdout
            .contains("no burst: 100cc is no larger than r1 (100cc)"),
        "{}",
        plan.all()
    );
    // Larger: nothing said, and the burst starts.
    let run = set("batch", "200cc");
    assert!(!run.all().contains("no larger"), "{}", run.all());
    clusterctl(&emu, &["check"]).ok();
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        plan.stdout.contains("batch-burst (200cc)"),
        "{}",
        plan.all()
    );

    // The size its other rows run: a suspended cluster runs nothing, and
    // wakes with target_size's 200cc.
    emu.create_cluster("sized");
    strategy(
        &emu,
        "sized",
        "target_size",
        json!({"target_size": "200cc"}),
    );
    let run = set("sized", "200cc");
    assert!(
        run.stderr.contains(
            "warning: burst: burst_replica_size 200cc is no larger than target_size (200cc)"
        ),
        "{}",
        run.all()
    );
    let run = set("sized", "400cc");
    assert!(!run.all().contains("no larger"), "{}", run.all());
    // The other way round: a target_size that makes the burst beside it no
    // larger is said by the target_size's write, once; one that does not,
    // or a row of another type, says nothing of the burst.
    let target = |size: &str| {
        let argv = [
            "strategy",
            "set",
            "sized",
            "target_size",
            "--target-size",
            size,
        ];
        clusterctl(&emu, &argv).ok()
    };
    let run = target("400cc");
    assert!(
        run.stderr.contains(
            "warning: burst: burst_replica_size 400cc is no larger than target_size (400cc)"
        ),
        "{}",
        run.all()
    );
    let run = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "sized",
            "idle_suspend",
            "--idle-after-s",
            "30m",
        ],
    )
    .ok();
    assert!(!run.all().contains("no larger"), "{}", run.all());
    let run = target("100cc");
    assert!(!run.all().contains("no larger"), "{}", run.all());
}

/// `apply` says once what waits: in the plan it shows before the actions,
/// or after them when there was no plan to show.
#[test]
fn apply_says_once_what_waits() {
    let emu = emulator();
    emu.create_hydrated_cluster("grow", "r1", "25cc");
    emu.add_replica("grow", "r_50cc", "50cc");
    strategy(&emu, "grow", "target_size", json!({"target_size": "50cc"}));
    emu.create_hydrated_cluster("other", "r1", "25cc");
    strategy(&emu, "other", "target_size", json!({"target_size": "50cc"}));
    let waiting = "waiting: hydrate r_50cc: r_50cc (50cc) is hydrating";
    let run = clusterctl(&emu, &["apply"]);
    assert!(
        run.stdout.contains("Applied 1 of 1 action"),
        "{}",
        run.all()
    );
    assert_eq!(run.stdout.matches(waiting).count(), 1, "{}", run.all());
    // Nothing to do on `other` now, `grow` still hydrates: said once.
    emu.set_hydrated("other", "r_50cc", true);
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.stdout.matches(waiting).count(), 1, "{}", run.all());
    // Headed as in dry-run, with its strategies.
    assert!(
        run.stdout
            .contains("cluster grow (u2) [target_size]\n  waiting:"),
        "{}",
        run.all()
    );
}

#[test]
fn describe_says_when_a_state_slot_cannot_be_read_and_the_next_apply_replaces_it() {
    let emu = emulator();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    strategy(
        &emu,
        "c",
        "burst",
        json!({"burst_replica_size": "800cc", "cooldown_s": 3600}),
    );
    clusterctl(&emu, &["apply"]).ok();
    let mut state = crate::cli::state_of(&emu, "c").expect("state written");
    assert!(state["burst"].is_object(), "{state}");
    // Edited by hand: a time that is a number.
    state["burst"]["burst_since"] = json!(42);
    emu.sql(&format!(
        "UPDATE mz_cluster_strategy_state SET payload = {}::jsonb WHERE cluster_id = {}",
        crate::cli::lit(&state.to_string()),
        crate::cli::lit(&emu.cluster_id("c"))
    ));
    let d = clusterctl(&emu, &["describe", "c"]).ok().stdout;
    assert!(d.contains(r#""burst_since":42"#), "shown as stored:\n{d}");
    assert!(
        d.contains("(the state cannot be read: invalid type: integer `42`, expected ")
            && d.contains("the next apply starts it afresh)"),
        "{d}"
    );
    assert!(!d.contains("BurstState"), "no Rust type names:\n{d}");
    let j = clusterctl(&emu, &["describe", "c", "-o", "json"])
        .ok()
        .json();
    let why = &j["result"]["strategies"][0]["state_unreadable"];
    assert!(
        why.as_str().is_some_and(|w| w.contains("integer `42`")),
        "{j:#}"
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.all().contains("its saved state could not be read"),
        "{}",
        run.all()
    );
    let d = clusterctl(&emu, &["describe", "c"]).ok().stdout;
    assert!(!d.contains("cannot be read"), "replaced:\n{d}");
    let j = clusterctl(&emu, &["describe", "c", "-o", "json"])
        .ok()
        .json();
    assert!(
        j["result"]["strategies"][0]
            .get("state_unreadable")
            .is_none(),
        "{j:#}"
    );
}

/// `strategy set --replica-sizes` validates against the given list, and
/// says so (a size the server lacks was written without a word); a size
/// listed twice is refused.
#[test]
fn strategy_set_with_replica_sizes_says_what_it_was_validated_against() {
    let emu = emulator();
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    let r = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "analytics",
            "target_size",
            "--target-size",
            "zz",
            "--replica-sizes",
            "zz,yy",
        ],
    )
    .ok();
    assert!(
        r.all()
            .contains("validated against --replica-sizes (zz, yy), not the server's sizes"),
        "{}",
        r.all()
    );
    let r = clusterctl(&emu, &["status", "--replica-sizes", "25cc,25cc"]).code(64);
    assert!(r.stderr.contains("25cc is listed twice"), "{}", r.all());
}

/// `strategy mv` carries what the old cluster's strategies learned of the
/// workload (the sizes `shrink_to_fit` found, a predicting `idle_suspend`'s
/// hydration times and margin) to the cluster that serves after a
/// blue/green swap, and nothing that belongs to the old cluster's replicas:
/// the new one starts the size that fit instead of probing every size
/// again. A destination with state of its own keeps it.
#[test]
fn strategy_mv_carries_what_the_strategies_learned_of_the_workload() {
    let emu = emulator();
    let old = emu.create_cluster("analytics");
    emu.add_replica("analytics", "analytics_100cc", "100cc");
    let new = emu.create_cluster("analytics_dbt_deploy");
    strategy(
        &emu,
        "analytics",
        "shrink_to_fit",
        json!({"max_replica_size": "400cc"}),
    );
    strategy(
        &emu,
        "analytics",
        "idle_suspend",
        json!({"idle_after_s": 1800, "predict": true}),
    );
    // What earlier runs learned, and what belongs to the old replicas: a
    // cooldown, a size tried beside the one serving, a suspension, a
    // hydration pending, a prewarm under way.
    let learned = json!({
        "shrink_to_fit": {
            "too_small": "50cc", "too_small_at": "2026-11-20T08:00:00Z",
            "fits": "100cc", "tried_below": ["50cc"],
            "last_decision_ts": "2026-11-30T08:00:00Z"
        },
        "idle_suspend": {
            "suspended": [{"name": "analytics_100cc", "size": "100cc"}],
            "suspended_at": "2026-11-30T18:00:00Z", "resumed_at": null,
            "predict": {
                "hydrations": {
                    "pending": {"analytics_100cc": {"size": "100cc", "since": "2026-11-30T07:00:00Z"}},
                    "by_size": {"100cc": [420, 480], "200cc": []}
                },
                "margin_s": 180.0, "hits": 9, "misses": 2, "interval_s": 60,
                "hold": {"wake": "2026-11-30T07:50:00Z", "until": "2026-11-30T09:00:00Z",
                         "started_until": "2026-11-30T09:00:00Z", "why": "predicted"}
            }
        },
        "burst": {"cooldown_until": "2026-11-30T08:00:00Z"}
    });
    write_state(&emu, &old, &learned);
    emu.sql("CALL mz_emulator.swap_clusters('analytics', 'analytics_dbt_deploy')");

    let r = clusterctl(
        &emu,
        &["strategy", "mv", "analytics_dbt_deploy", "analytics"],
    )
    .ok();
    assert_eq!(
        r.stdout,
        format!(
            "Moved 2 strategy rows (shrink_to_fit, idle_suspend) from cluster \
             analytics_dbt_deploy ({old}) to cluster analytics ({new}).\n\
             Carried what its strategies learned to cluster analytics ({new}): shrink_to_fit: \
             100cc fits, 50cc is too small; idle_suspend: hydration times of 100cc (2 \
             samples) and a margin of 3m.\n"
        )
    );
    // Only the knowledge; the old cluster keeps its state as it was.
    let carried = state_of(&emu, "analytics").expect("the destination has state now");
    assert_eq!(
        carried["shrink_to_fit"],
        json!({"too_small": "50cc", "too_small_at": "2026-11-20T08:00:00Z",
               "fits": "100cc", "last_decision_ts": null}),
        "{carried:#}"
    );
    let idle = &carried["idle_suspend"];
    assert_eq!(idle["suspended"], json!([]), "{carried:#}");
    assert_eq!(idle["suspended_at"], json!(null), "{carried:#}");
    assert_eq!(
        idle["predict"],
        json!({"hydrations": {"by_size": {"100cc": [420, 480]}}, "margin_s": 180.0,
               "miss_since": null, "miss_predicted": false, "scored": null,
               "hits": 9, "misses": 2, "interval_s": 60}),
        "{carried:#}"
    );
    // New to this cluster, as a wiped slot is: the next plan reads the trail.
    assert_eq!(idle["check_trail"], json!(true), "{carried:#}");
    assert!(carried.get("burst").is_none(), "{carried:#}");
    assert_eq!(
        state_of(&emu, "analytics_dbt_deploy"),
        Some(learned.clone())
    );

    // The cluster that serves now starts the size that fit, not a probe of
    // every size up to 400cc.
    let plan = clusterctl(&emu, &["dry-run", "--cluster", "analytics", "-o", "json"])
        .ok()
        .json();
    let actions = plan["result"]["plan"]["clusters"][0]["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let creates: Vec<&str> = actions
        .iter()
        .filter(|a| a["kind"] == "create_replica")
        .filter_map(|a| a["size"].as_str())
        .collect();
    assert_eq!(creates, ["100cc"], "{plan:#}");
    // As deployed, at a larger size that serves: the size that fit is tried
    // beside it, alone.
    emu.add_replica("analytics", "r1", "400cc");
    emu.set_hydrated("analytics", "r1", true);
    let plan = clusterctl(&emu, &["dry-run", "--cluster", "analytics", "-o", "json"])
        .ok()
        .json();
    let actions = plan["result"]["plan"]["clusters"][0]["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let creates: Vec<(&str, &serde_json::Value)> = actions
        .iter()
        .filter(|a| a["kind"] == "create_replica")
        .filter_map(|a| Some((a["size"].as_str()?, &a["reasons"])))
        .collect();
    let why =
        json!(["try size 100cc beside 400cc, which serves: 100cc is the size that fit before"]);
    assert_eq!(creates, [("100cc", &why)], "{plan:#}");

    // The destination's trail records what came into its state.
    let h = clusterctl(&emu, &["history", "--cluster", &new, "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        h["result"]["entries"][0]["change"]["carried"],
        json!([
            "shrink_to_fit: 100cc fits, 50cc is too small",
            "idle_suspend: hydration times of 100cc (2 samples) and a margin of 3m"
        ]),
        "{h:#}"
    );

    // Run again: the move is done; the state is not written twice.
    clusterctl(
        &emu,
        &["strategy", "mv", "analytics_dbt_deploy", "analytics"],
    )
    .ok();
    assert_eq!(state_of(&emu, "analytics"), Some(carried));

    // A destination with state of its own keeps it, and says so.
    let other = emu.create_cluster("other");
    let own = json!({"shrink_to_fit": {"fits": "25cc"}});
    write_state(&emu, &other, &own);
    let r = clusterctl(
        &emu,
        &["strategy", "mv", "analytics", "other", "-o", "json"],
    )
    .ok()
    .json();
    assert_eq!(r["result"]["carried"], json!([]), "{r:#}");
    let notes = r["result"]["notes"].to_string();
    assert!(
        notes.contains(&format!(
            "cluster other ({other}) has strategy state of its own: it is kept, and what the \
             strategies of cluster analytics ({new}) learned (shrink_to_fit: 100cc fits, 50cc \
             is too small; idle_suspend: hydration times of 100cc (2 samples) and a margin of \
             3m) was not carried"
        )),
        "{r:#}"
    );
    assert_eq!(state_of(&emu, "other"), Some(own));
}

/// The carried state's write committed but its answer was lost (a cut
/// connection): the retry writes nothing more and the move still says
/// what it carried; stopped before its DELETE, the same command run again
/// finishes the move and finds the state it carried.
#[test]
fn strategy_mv_carries_the_state_once_across_a_lost_answer_and_a_rerun() {
    let emu = emulator();
    learned_a_fit(&emu, "blue", "100cc");
    let green = emu.create_cluster("green");
    let states_of = |id: &str| states(&emu).iter().filter(|(c, _, _)| c == id).count();
    emu.cut_after_statement("state_version, payload, updated_at) SELECT $1", 1);
    emu.cut_every_statement("DELETE FROM");
    let r = clusterctl(&emu, &["strategy", "mv", "blue", "green"]);
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(
        r.stderr.contains("writing the carried state"),
        "{}",
        r.all()
    );
    emu.clear_faults();
    assert_eq!(states_of(&green), 1);
    let carried = state_of(&emu, "green").expect("carried");
    assert_eq!(carried["shrink_to_fit"]["fits"], "100cc", "{carried:#}");
    let r = clusterctl(&emu, &["strategy", "mv", "blue", "green", "-o", "json"])
        .ok()
        .json();
    assert_eq!(r["result"]["already_there"], json!(true), "{r:#}");
    assert_eq!(
        r["result"]["carried"],
        json!(["shrink_to_fit: 100cc fits"]),
        "{r:#}"
    );
    assert!(
        !r["result"]["notes"].to_string().contains("of its own"),
        "{r:#}"
    );
    assert_eq!(states_of(&green), 1);
    assert_eq!(state_of(&emu, "green"), Some(carried));

    // The answer of the write alone lost: retried, said carried, once.
    let red = emu.create_cluster("red");
    emu.cut_after_statement("state_version, payload, updated_at) SELECT $1", 1);
    let r = clusterctl(&emu, &["strategy", "mv", "green", "red"]).ok();
    assert!(
        r.stdout
            .contains("Carried what its strategies learned to cluster red")
            && r.stdout.contains("shrink_to_fit: 100cc fits")
            && r.stderr.contains("writing the carried state")
            && r.stderr.contains("retrying"),
        "{}",
        r.all()
    );
    assert_eq!(states_of(&red), 1);
}

/// What is carried lands before the rows: an `apply` that sees the
/// destination's rows plans it from what was carried, never from nothing
/// (which it would then write over the carried state, or keep the carry
/// out). A second move of the same rows at once finds the state it would
/// carry there already and moves the rows; the first, refused, says the
/// state is in place.
#[test]
fn strategy_mv_carries_the_state_before_the_rows() {
    let emu = emulator();
    learned_a_fit(&emu, "blue", "100cc");
    let green = emu.create_cluster("green");
    // A controller's run while the move is between its writes.
    let applied = during(
        &emu,
        "state_version, payload, updated_at) SELECT $1",
        &["apply"],
    );
    let r = clusterctl(&emu, &["strategy", "mv", "blue", "green"]).ok();
    let applied = applied.ran();
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(
        r.stdout
            .contains(&format!("Carried what its strategies learned to cluster green ({green}): shrink_to_fit: 100cc fits")),
        "{}",
        r.all()
    );
    assert_eq!(
        state_of(&emu, "green").map(|s| s["shrink_to_fit"]["fits"].clone()),
        Some(json!("100cc"))
    );
    assert_eq!(emu.replicas("green"), pairs(&[]), "{}", applied.all());
    let plan = clusterctl(&emu, &["dry-run", "--cluster", "green", "-o", "json"])
        .ok()
        .json();
    let creates: Vec<serde_json::Value> = plan["result"]["plan"]["clusters"][0]["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["kind"] == "create_replica")
        .map(|a| a["size"].clone())
        .collect();
    assert_eq!(creates, [json!("100cc")], "{plan:#}");

    // Two moves of the same rows at once.
    let yellow = learned_a_fit(&emu, "yellow", "50cc");
    let red = emu.create_cluster("red");
    let (r, other) = two_moves_at_once(&emu, "yellow", "red");
    assert!(
        other.stdout.contains(&format!(
            "Carried what its strategies learned to cluster red ({red})"
        )),
        "{}",
        other.all()
    );
    assert!(
        r.stderr.contains(&format!(
            "no row was moved (what the strategies of cluster yellow ({yellow}) learned is in \
             the state of cluster red ({red}) now: shrink_to_fit: 50cc fits)"
        )),
        "{}",
        r.all()
    );
    let red_states = states(&emu)
        .into_iter()
        .filter(|(c, _, _)| *c == red)
        .count();
    assert_eq!(red_states, 1);
    assert_eq!(
        state_of(&emu, "red").map(|s| s["shrink_to_fit"]["fits"].clone()),
        Some(json!("50cc"))
    );
}

/// A blue/green deployment (dbt's `deploy_promote`): after the swap the
/// rows stay with the cluster that ran them, now under the twin's name;
/// `strategy mv` moves every row in effect, a pause too, to the cluster
/// that serves now, and refuses what would lose or break rows.
#[test]
fn strategy_mv_moves_every_row_after_a_blue_green_swap() {
    let emu = emulator();
    let old = emu.create_cluster("analytics");
    emu.add_replica("analytics", "r1", "25cc");
    let new = emu.create_cluster("analytics_dbt_deploy");
    emu.add_replica("analytics_dbt_deploy", "r1", "25cc");
    strategy(
        &emu,
        "analytics",
        "idle_suspend",
        json!({"idle_after_s": 1800}),
    );
    strategy(
        &emu,
        "analytics",
        "burst",
        json!({"burst_replica_size": "100cc"}),
    );
    clusterctl(
        &emu,
        &["strategy", "pause", "analytics", "--reason", "deploy"],
    )
    .ok();
    emu.sql("CALL mz_emulator.swap_clusters('analytics', 'analytics_dbt_deploy')");
    let before = strategy_rows(&emu);
    assert!(before.iter().all(|(id, _, _)| *id == old), "{before:?}");

    // The wrong way round: the serving cluster has no rows; said which way.
    let r = clusterctl(
        &emu,
        &["strategy", "mv", "analytics", "analytics_dbt_deploy"],
    )
    .code(1);
    assert!(
        r.stderr.contains(&format!(
            "cluster analytics ({new}) has no strategy rows (cluster analytics_dbt_deploy \
             ({old}) has: `clusterctl strategy mv analytics_dbt_deploy analytics` moves them \
             the other way); nothing was moved"
        )),
        "{}",
        r.all()
    );
    assert_eq!(strategy_rows(&emu), before);

    let r = clusterctl(
        &emu,
        &["strategy", "mv", "analytics_dbt_deploy", "analytics"],
    )
    .ok();
    assert_eq!(
        r.stdout,
        format!(
            "Moved 3 strategy rows (burst, idle_suspend, pause) from cluster \
             analytics_dbt_deploy ({old}) to cluster analytics ({new}).\n"
        )
    );
    assert!(
        r.stderr.contains(
            "the cluster is paused: nothing changes until `clusterctl strategy resume analytics`"
        ),
        "{}",
        r.all()
    );
    let moved: Vec<(String, String, String)> = before
        .iter()
        .map(|(_, t, c)| (new.clone(), t.clone(), c.clone()))
        .collect();
    assert_eq!(strategy_rows(&emu), moved);
    // The plan follows the rows: the serving cluster is paused, the old one
    // has no strategies.
    let plan = clusterctl(&emu, &["dry-run", "-o", "json"]).ok().json();
    let clusters = plan["result"]["plan"]["clusters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = clusters
        .iter()
        .filter_map(|c| c["cluster_id"].as_str())
        .collect();
    assert_eq!(ids, [new.as_str()], "{plan:#}");
    assert_eq!(clusters[0]["status"], "paused", "{plan:#}");

    // Each cluster's trail says where the rows went or came from.
    let h = clusterctl(&emu, &["history", "--cluster", "analytics"])
        .ok()
        .stdout;
    assert!(
        h.contains(&format!("strategy mv from analytics_dbt_deploy ({old})")),
        "{h}"
    );
    let h = clusterctl(&emu, &["history", "--cluster", &old, "-o", "json"])
        .ok()
        .json();
    let change = &h["result"]["entries"][0]["change"];
    assert_eq!(
        change["moved_to"],
        json!({"cluster_id": new, "cluster": "analytics"}),
        "{h:#}"
    );
    assert_eq!(change["after"], json!(null), "{h:#}");
    assert_eq!(
        change["before"]["burst"],
        json!({"burst_replica_size": "100cc"})
    );
    // Both rows quote the command as it was given.
    let command = "-- clusterctl strategy mv analytics_dbt_deploy analytics";
    assert_eq!(h["result"]["entries"][0]["sql"], command, "{h:#}");
    let h = clusterctl(&emu, &["history", "--cluster", &new, "-o", "json"])
        .ok()
        .json();
    assert_eq!(h["result"]["entries"][0]["sql"], command, "{h:#}");

    // Refused, nothing written: the destination has rows of its own, the
    // rows would be invalid there (a managed cluster runs no burst), the
    // same cluster twice, a source without rows.
    emu.create_cluster("other");
    strategy(&emu, "other", "target_size", json!({"target_size": "25cc"}));
    emu.create_managed_cluster("managed", "25cc", 1);
    let rows = strategy_rows(&emu);
    let r = clusterctl(&emu, &["strategy", "mv", "analytics", "other"]).code(1);
    assert!(
        r.stderr
            .contains("has strategy rows of its own (target_size)")
            && r.stderr.contains("`clusterctl strategy rm other`"),
        "{}",
        r.all()
    );
    let r = clusterctl(&emu, &["strategy", "mv", "analytics", "managed"]).code(1);
    assert!(
        r.stderr.contains("refusing to move the strategy rows")
            && r.stderr.contains("burst")
            && r.stderr.contains("nothing was moved"),
        "{}",
        r.all()
    );
    clusterctl(&emu, &["strategy", "mv", "analytics", &new]).code(64);
    clusterctl(&emu, &["strategy", "mv", "analytics_dbt_deploy", "other"]).code(1);
    assert_eq!(strategy_rows(&emu), rows);

    // A move stopped between its two writes left the rows on both: the same
    // command finishes it. The source here is a dropped cluster, by its id.
    let gone = emu.create_cluster("gone");
    strategy(&emu, "gone", "target_size", json!({"target_size": "50cc"}));
    let dest = emu.create_cluster("fresh");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT '{dest}', strategy_type, config, now() FROM mz_cluster_strategies \
         WHERE cluster_id = '{gone}'"
    ));
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_clusters WHERE id = '{gone}'"
    ));
    let r = clusterctl(&emu, &["strategy", "mv", &gone, "fresh", "-o", "json"]).ok();
    let doc = r.json();
    assert_eq!(doc["result"]["already_there"], json!(true), "{doc:#}");
    assert_eq!(doc["result"]["rows_deleted"], json!(1), "{doc:#}");
    let left: Vec<String> = strategy_rows(&emu)
        .into_iter()
        .filter(|(id, _, _)| *id == gone || *id == dest)
        .map(|(id, t, _)| format!("{id} {t}"))
        .collect();
    assert_eq!(left, [format!("{dest} target_size")]);
}

/// `strategy mv` stopped by a cut connection, between its two writes or
/// after them: the same command run again finishes it, says so, and each
/// cluster's trail records the move once.
#[test]
fn strategy_mv_run_again_after_a_cut_finishes_it_and_records_it_once() {
    let emu = emulator();
    let blue = emu.create_cluster("blue");
    let green = emu.create_cluster("green");
    strategy(&emu, "blue", "target_size", json!({"target_size": "25cc"}));
    let argv = ["strategy", "mv", "blue", "green", "-o", "json"];
    let moves_of = |id: &str| -> usize {
        let doc = clusterctl(&emu, &["history", "--cluster", id, "-o", "json"])
            .ok()
            .json();
        let entries = doc["result"]["entries"].as_array().cloned();
        entries
            .unwrap_or_default()
            .iter()
            .filter(|e| e["cluster_id"] == json!(id))
            .filter(|e| e["sql"] == "-- clusterctl strategy mv blue green")
            .count()
    };
    let moved = vec![(
        green.clone(),
        "target_size".to_string(),
        r#"{"target_size": "25cc"}"#.to_string(),
    )];

    // Cut before the DELETE, every time: the rows are on both.
    emu.cut_every_statement("DELETE FROM");
    let r = clusterctl(&emu, &argv);
    assert_ne!(r.code, 0, "{}", r.all());
    emu.clear_faults();
    assert_eq!(strategy_rows(&emu).len(), 2);
    let doc = clusterctl(&emu, &argv).ok().json();
    assert_eq!(doc["result"]["already_there"], json!(true), "{doc:#}");
    assert_eq!(doc["result"]["rows_deleted"], json!(1), "{doc:#}");
    assert_eq!(strategy_rows(&emu), moved);
    assert_eq!((moves_of(&blue), moves_of(&green)), (1, 1));

    // Every write landed but the source's audit row (the run stopped just
    // before it): run again, the move is done, its row is written.
    emu.sql(&format!(
        "DELETE FROM mz_cluster_strategy_actions WHERE cluster_id = '{blue}' \
         AND action_sql = '-- clusterctl strategy mv blue green'"
    ));
    let doc = clusterctl(&emu, &argv).ok().json();
    let note = doc["result"]["notes"][0].as_str().unwrap_or_default();
    assert!(
        note.contains("moved from cluster blue") && note.ends_with("nothing was left to do"),
        "{doc:#}"
    );
    assert_eq!(doc["result"]["rows_deleted"], json!(0), "{doc:#}");
    assert_eq!(
        doc["result"]["strategies"][0]["config"],
        json!({"target_size": "25cc"})
    );
    assert_eq!((moves_of(&blue), moves_of(&green)), (1, 1));
    // And again: nothing more is written.
    clusterctl(&emu, &argv).ok();
    assert_eq!((moves_of(&blue), moves_of(&green)), (1, 1));
    assert_eq!(strategy_rows(&emu), moved);
    // Rows the move did not bring are no move done: the wrong way round
    // is said as such.
    strategy(&emu, "green", "idle_suspend", json!({"idle_after_s": 60}));
    let r = clusterctl(&emu, &["strategy", "mv", "blue", "green"]).code(1);
    assert!(
        r.stderr.contains("has no strategy rows") && r.stderr.contains("the other way"),
        "{}",
        r.all()
    );
}

/// The command lines `strategy mv` records, by cluster: as given, a name
/// a shell would split quoted (it recorded the id of `it's odd`, a
/// command no one typed), one with a line break by its id.
fn move_lines(emu: &Emulator, id: &str) -> Vec<String> {
    emu.query_strings(&format!(
        "SELECT action_sql FROM mz_cluster_strategy_actions WHERE cluster_id = '{id}' \
         AND action_sql LIKE '-- clusterctl strategy %' ORDER BY created_at, action_id"
    ))
    .into_iter()
    .map(|r| r[0].clone().unwrap_or_default())
    .collect()
}

#[test]
fn strategy_commands_record_their_cluster_arguments_as_given() {
    let emu = emulator();
    let plain = emu.create_cluster("plain1");
    let odd = emu.create_cluster("it's odd");
    strategy(
        &emu,
        "plain1",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    clusterctl(&emu, &["strategy", "mv", "plain1", "it's odd"]).ok();
    let line = r"-- clusterctl strategy mv plain1 'it'\''s odd'";
    assert_eq!(move_lines(&emu, &plain), [line]);
    assert_eq!(move_lines(&emu, &odd), [line]);
    // Given by id, the id; the other commands alike.
    clusterctl(&emu, &["strategy", "mv", &odd, "plain1"]).ok();
    assert_eq!(
        move_lines(&emu, &odd)[1],
        format!("-- clusterctl strategy mv {odd} plain1")
    );
    clusterctl(&emu, &["strategy", "pause", "it's odd"]).ok();
    clusterctl(&emu, &["strategy", "rm", " plain1", "target_size"]).ok();
    assert_eq!(
        move_lines(&emu, &odd)[2],
        r"-- clusterctl strategy pause 'it'\''s odd'"
    );
    assert_eq!(
        move_lines(&emu, &plain)[2],
        "-- clusterctl strategy rm ' plain1' target_size"
    );
    // A line break no quoting keeps on one line: the id stands in.
    let broken = emu.create_cluster("two\nlines");
    clusterctl(&emu, &["strategy", "pause", "two\nlines"]).ok();
    assert_eq!(
        move_lines(&emu, &broken),
        [format!("-- clusterctl strategy pause {broken}")]
    );
}

/// A cluster whose name starts with a dash: the command takes `-dash` for
/// options, quoted or not (`strategy pause -- -dash` names it). The
/// commands we suggest and the lines the trail records name it by its id,
/// so each runs as written (they said `strategy resume -dash`: exit 64).
#[test]
fn a_name_that_starts_with_a_dash_is_suggested_and_recorded_by_its_id() {
    let emu = emulator();
    let id = emu.create_cluster("-dash");
    let paused = clusterctl(&emu, &["strategy", "pause", "--", "-dash"]).ok();
    let resume = format!("clusterctl strategy resume {id}");
    assert!(
        paused.stdout.contains(&format!("`{resume}`")),
        "{}",
        paused.stdout
    );
    assert_eq!(
        move_lines(&emu, &id),
        [format!("-- clusterctl strategy pause {id}")]
    );
    // The suggestion, run as written, does what it says.
    clusterctl(&emu, &["strategy", "resume", &id]).ok();
    assert_eq!(move_lines(&emu, &id).len(), 2);
}

/// A move done, then its source dropped: run again by the name the
/// source's audit rows recorded, it is a move done, as by the id (it was
/// "no such cluster"); a source's audit row left unwritten is written with
/// the command as given.
#[test]
fn strategy_mv_run_again_names_a_dropped_source_by_its_recorded_name() {
    let emu = emulator();
    let t2 = emu.create_cluster("t2");
    let fresh = emu.create_cluster("fresh");
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "t2",
            "target_size",
            "--target-size",
            "50cc",
        ],
    )
    .ok();
    clusterctl(&emu, &["strategy", "mv", "t2", "fresh"]).ok();
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_clusters WHERE id = '{t2}'"
    ));
    let line = "-- clusterctl strategy mv t2 fresh";
    for arg in ["t2", t2.as_str()] {
        let r = clusterctl(&emu, &["strategy", "mv", arg, "fresh", "-o", "json"]).ok();
        let doc = r.json();
        assert_eq!(doc["result"]["already_there"], json!(true), "{doc:#}");
        assert_eq!(doc["result"]["from_cluster_id"], json!(t2), "{doc:#}");
        let note = doc["result"]["notes"][0].as_str().unwrap_or_default();
        assert!(
            note.contains(&format!(
                "moved from cluster t2 ({t2}, dropped: no such cluster) to cluster fresh ({fresh})"
            )),
            "{doc:#}"
        );
        assert_eq!(move_lines(&emu, &t2)[1..], [line], "{arg}");
    }
    // Stopped before the source's audit row: the run by name writes it.
    emu.sql(&format!(
        "DELETE FROM mz_cluster_strategy_actions WHERE cluster_id = '{t2}' \
         AND action_sql = '{line}'"
    ));
    clusterctl(&emu, &["strategy", "mv", "t2", "fresh"]).ok();
    assert_eq!(move_lines(&emu, &t2)[1..], [line]);
    assert_eq!(move_lines(&emu, &fresh), [line]);
    // A name no audit row recorded is still no cluster.
    let r = clusterctl(&emu, &["strategy", "mv", "t3", "fresh"]).code(64);
    assert!(
        r.stderr.contains("no cluster has that name or id"),
        "{}",
        r.all()
    );
}

/// A pause with an end moves with the rows: the notes of the move and of
/// the same command run again say until when, in the plan's words (they
/// said "nothing changes until `strategy resume`").
#[test]
fn strategy_mv_says_until_when_a_moved_pause_holds() {
    let emu = emulator();
    emu.create_cluster("blue");
    emu.create_cluster("green");
    strategy(&emu, "blue", "target_size", json!({"target_size": "25cc"}));
    clusterctl(&emu, &["strategy", "pause", "blue", "--until", "2h"]).ok();
    let until = emu
        .query_one(
            "SELECT config->>'until' FROM mz_cluster_strategies WHERE strategy_type = 'pause'",
        )
        .unwrap_or_default();
    assert!(until.ends_with('Z'), "{until}");
    let note = format!(
        "note: the cluster is paused: nothing changes until {until} (the pause expires) or \
         until `clusterctl strategy resume green`"
    );
    let r = clusterctl(&emu, &["strategy", "mv", "blue", "green"]).ok();
    assert!(r.stderr.lines().any(|l| l == note), "{}", r.all());
    let r = clusterctl(&emu, &["strategy", "mv", "blue", "green"]).ok();
    assert!(r.stderr.contains("nothing was left to do"), "{}", r.all());
    assert!(r.stderr.lines().any(|l| l == note), "{}", r.all());
    // Not "Moved …" for a move that was done already.
    assert!(
        r.stdout
            .starts_with("Nothing to move: the 2 strategy rows (target_size, pause) were moved"),
        "{}",
        r.all()
    );
    // The plan says it in the same words.
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        plan.stderr.contains(&format!(
            "left alone until {until} (the pause expires) or until"
        )),
        "{}",
        plan.all()
    );
}

/// `strategy rm` and `strategy mv` delete the rows they saw: a row written
/// between their snapshot and their DELETE (another operator's `strategy
/// set`) is kept, not lost unseen.
#[test]
fn a_removal_keeps_a_row_written_since_it_looked() {
    let emu = emulator();
    let a = emu.create_cluster("analytics");
    let b = emu.create_cluster("blue");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    let write_before_delete = |cluster: &str, ty: &str, config: &str| {
        let url = crate::support::pg_url();
        let db = emu.database().to_string();
        let sql = format!(
            "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
             VALUES ('{cluster}', '{ty}', '{config}'::jsonb, now())"
        );
        emu.on_statement("DELETE FROM", 1, move |_| {
            let mut c = crate::support::admin_client(&url, &db);
            c.batch_execute(&sql).expect("the other operator's write");
        });
    };
    write_before_delete(&a, "idle_suspend", r#"{"idle_after_s": 60}"#);
    let r = clusterctl(&emu, &["strategy", "rm", "analytics"]).ok();
    assert!(
        r.stdout.contains("Removed 1 strategy row (target_size)"),
        "{}",
        r.all()
    );
    assert_eq!(
        strategy_rows(&emu),
        vec![(
            a.clone(),
            "idle_suspend".into(),
            r#"{"idle_after_s": 60}"#.into()
        )]
    );
    write_before_delete(&a, "burst", r#"{"burst_replica_size": "100cc"}"#);
    clusterctl(&emu, &["strategy", "mv", "analytics", "blue"]).ok();
    assert_eq!(
        strategy_rows(&emu),
        vec![
            (
                a,
                "burst".into(),
                r#"{"burst_replica_size": "100cc"}"#.into()
            ),
            (b, "idle_suspend".into(), r#"{"idle_after_s": 60}"#.into()),
        ]
    );
}

/// A `strategy rm` or `strategy resume` whose DELETE ran but whose answer
/// was lost (the connection cut after it) is retried, and the retry finds
/// nothing left: it used to say "nothing removed" ("is not paused") for
/// rows it had removed. It says what it removed, as a lower bound, and its
/// audit row stays. A DELETE that found the rows gone at its first attempt
/// (another operator removed them since the snapshot, and audited that)
/// says nothing was removed and writes no audit row of its own.
#[test]
fn a_removal_says_what_it_removed_when_its_answer_was_lost() {
    let emu = emulator();
    emu.create_cluster("analytics");
    let removals = |emu: &Emulator| {
        audit(emu, "analytics")
            .into_iter()
            .filter(|(sql, ..)| sql.contains("strategy rm") || sql.contains("strategy resume"))
            .count()
    };
    let rm = "DELETE FROM \"mz_cluster_strategies\"";

    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    emu.cut_after_statement(rm, 1);
    let r = clusterctl(&emu, &["strategy", "rm", "analytics"]).ok();
    assert!(
        r.stdout
            .contains("Removed at least 0 strategy rows (target_size) of cluster analytics")
            && r.stdout.contains("an attempt before lost its answer"),
        "{}",
        r.all()
    );
    assert!(strategy_rows(&emu).is_empty());
    assert_eq!(removals(&emu), 1, "audited");

    clusterctl(&emu, &["strategy", "pause", "analytics"]).ok();
    emu.cut_after_statement(rm, 1);
    let r = clusterctl(&emu, &["strategy", "resume", "analytics", "-o", "json"]).ok();
    let result = &r.json()["result"];
    assert_eq!(result["retried"], true, "{result:#}");
    assert!(strategy_rows(&emu).is_empty(), "resumed");
    assert_eq!(removals(&emu), 2, "audited");

    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    let (url, db) = (crate::support::pg_url(), emu.database().to_string());
    emu.on_statement(rm, 1, move |_| {
        crate::support::admin_client(&url, &db)
            .batch_execute("DELETE FROM mz_cluster_strategies")
            .expect("the other operator's removal");
    });
    let r = clusterctl(&emu, &["strategy", "rm", "analytics"]).ok();
    assert!(
        r.stdout.contains("has no strategy rows; nothing removed"),
        "{}",
        r.all()
    );
    assert_eq!(removals(&emu), 2, "nothing of its own to audit");
}

/// A `strategy set` whose INSERT a silent network holds past its attempt:
/// the command's retry writes the row, an operator removes it, and only
/// then does the first INSERT reach the server. It writes nothing: the row
/// stays removed. It came back, dated at the first command's snapshot.
/// `strategy mv`'s write of the rows is bounded the same way.
#[test]
fn a_strategy_row_written_late_does_not_come_back_after_its_removal() {
    let emu = emulator();
    emu.create_hydrated_cluster("batch", "r1", "25cc");
    let insert = "strategy_type, config, updated_at) SELECT $1::text";
    let held = late(&emu, insert);
    let set = [
        "strategy",
        "set",
        "batch",
        "target_size",
        "--target-size",
        "25cc",
    ];
    let r = clusterctl_gives_up(&emu, &set).ok();
    assert!(r.stderr.contains("writing the strategy row"), "{}", r.all());
    clusterctl(&emu, &["strategy", "rm", "batch"]).ok();
    assert_eq!(strategy_rows(&emu), []);
    held.landed(&emu);
    assert_eq!(
        emu.logged(insert).len(),
        2,
        "the first, late, and the retry"
    );
    assert_eq!(strategy_rows(&emu), []);
}

/// `strategy mv`'s carried state, held past its attempt: the retry carries
/// it, the operator wipes it, and only then does the first write reach
/// the server. It writes nothing: what was wiped stays wiped (it came
/// back, finding no state).
#[test]
fn carried_state_that_lands_late_does_not_come_back_after_a_wipe() {
    let emu = emulator();
    learned_a_fit(&emu, "blue", "100cc");
    emu.create_cluster("green");
    let held = late(&emu, "state_version, payload, updated_at) SELECT $1");
    let mv = ["strategy", "mv", "blue", "green"];
    let r = clusterctl_gives_up(&emu, &mv).ok();
    assert!(
        r.stdout.contains("shrink_to_fit: 100cc fits")
            && r.stderr.contains("writing the carried state"),
        "{}",
        r.all()
    );
    clusterctl(&emu, &["wipe-state", "--cluster", "green", "--yes"]).ok();
    held.landed(&emu);
    assert_eq!(state_of(&emu, "green"), None);
}

/// `wipe-state`'s DELETE, held past its attempt: the retry wipes, a run
/// learns anew, and only then does the first DELETE reach the server. It
/// deletes nothing: what was learned since stays (it was wiped).
#[test]
fn a_wipe_that_lands_late_keeps_what_was_learned_since() {
    let emu = emulator();
    let id = learned_a_fit(&emu, "blue", "100cc");
    let held = late(
        &emu,
        "strategy_state\" WHERE state_version = 2 AND cluster_id IN",
    );
    let wipe = ["wipe-state", "--cluster", "blue", "--yes"];
    let r = clusterctl_gives_up(&emu, &wipe).ok();
    assert!(
        r.stdout.contains("1 row deleted") && r.stderr.contains("wiping state"),
        "{}",
        r.all()
    );
    assert_eq!(state_of(&emu, "blue"), None);
    let learned = json!({"shrink_to_fit": {"fits": "200cc"}});
    write_state(&emu, &id, &learned);
    held.landed(&emu);
    assert_eq!(state_of(&emu, "blue"), Some(learned));
}

/// An operator's audit row held past its attempt lands after its retry
/// wrote it: it writes nothing. It was a second row with the same id.
#[test]
fn an_audit_row_that_lands_late_is_not_written_twice() {
    let emu = emulator();
    emu.create_hydrated_cluster("batch", "r1", "25cc");
    let held = late(&emu, "INTO \"mz_cluster_strategy_actions\"");
    let set = [
        "strategy",
        "set",
        "batch",
        "target_size",
        r#"{"target_size": "25cc"}"#,
    ];
    let r = clusterctl_gives_up(&emu, &set).ok();
    assert!(r.stderr.contains("writing the audit row"), "{}", r.all());
    held.landed(&emu);
    let rows = audit(&emu, "batch");
    assert_eq!(rows.len(), 1, "{rows:?}");
}

/// A cluster `name` whose `shrink_to_fit` (up to 400cc) found that
/// `fits` fits: its id.
fn learned_a_fit(emu: &Emulator, name: &str, fits: &str) -> String {
    let id = emu.create_cluster(name);
    strategy(
        emu,
        name,
        "shrink_to_fit",
        json!({"max_replica_size": "400cc"}),
    );
    write_state(emu, &id, &json!({"shrink_to_fit": {"fits": fits}}));
    id
}

/// `strategy mv FROM TO` run twice at once: the second lands whole
/// between the first's snapshot and its write of the rows. The first is
/// refused (exit 1), the second moves them; what each said.
fn two_moves_at_once(emu: &Emulator, from: &str, to: &str) -> (Run, Run) {
    let move_rows = ["strategy", "mv", from, to];
    let other = during(emu, "updated_at) SELECT v.", &move_rows);
    let r = clusterctl(emu, &move_rows);
    let other = other.ran();
    assert_eq!(
        (r.code, other.code),
        (1, 0),
        "{}\n---\n{}",
        r.all(),
        other.all()
    );
    (r, other)
}

/// Two `strategy mv` of the same rows at once (a deploy job retried while
/// the first still runs): the other's move lands whole between this one's
/// snapshot and its write. The write finds the destination holding rows and
/// writes nothing, so each row is there once; this one says so and changes
/// nothing, and run again it says the move is done.
#[test]
fn strategy_mv_beside_another_move_writes_the_rows_once() {
    let emu = emulator();
    let analytics = emu.create_cluster("analytics");
    let blue = emu.create_cluster("blue");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    strategy(
        &emu,
        "analytics",
        "idle_suspend",
        json!({"idle_after_s": 60}),
    );
    let (r, other) = two_moves_at_once(&emu, "analytics", "blue");
    assert!(
        other.stdout.starts_with("Moved 2 strategy rows"),
        "{}",
        other.all()
    );
    assert!(
        r.stderr.contains(&format!(
            "cluster blue ({blue}) got strategy rows while this command moved those of \
             cluster analytics ({analytics})"
        )) && r.stderr.contains("no row was moved:"),
        "{}",
        r.all()
    );
    assert_eq!(
        strategy_rows(&emu),
        vec![
            (
                blue.clone(),
                "idle_suspend".into(),
                r#"{"idle_after_s": 60}"#.into()
            ),
            (
                blue.clone(),
                "target_size".into(),
                r#"{"target_size": "25cc"}"#.into()
            ),
        ]
    );
    let again = clusterctl(&emu, &["strategy", "mv", "analytics", "blue"]).ok();
    assert!(
        again.stderr.contains("were moved from cluster analytics"),
        "{}",
        again.all()
    );
}

/// A `strategy mv` whose write committed but whose answer was lost (the
/// connection cut after the INSERT ran) retries it: the retry finds the
/// command's own rows, writes nothing, and the move goes on to the end.
#[test]
fn strategy_mv_retries_a_write_whose_answer_was_lost() {
    let emu = emulator();
    emu.create_cluster("analytics");
    let blue = emu.create_cluster("blue");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    emu.cut_after_statement("updated_at) SELECT v.", 1);
    let r = clusterctl(&emu, &["strategy", "mv", "analytics", "blue"]).ok();
    assert!(r.stdout.starts_with("Moved 1 strategy row"), "{}", r.all());
    assert_eq!(
        strategy_rows(&emu),
        vec![(
            blue,
            "target_size".into(),
            r#"{"target_size": "25cc"}"#.into()
        )]
    );
}

/// `doctor` over a region where apply would act on none of the clusters
/// with strategies (each left alone or skipped) is blocked, not "apply will
/// work here" (an outside check: 25 clusters not manageable, 4 skipped);
/// one manageable cluster is enough for apply to work.
#[test]
fn doctor_blocks_when_apply_would_act_on_no_cluster() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1");
    emu.create_cluster("refresh");
    emu.set_schedule("refresh", "on-refresh");
    emu.create_cluster("bad");
    init_tables(&emu);
    strategy(
        &emu,
        "refresh",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    strategy(&emu, "bad", "target_size", json!({"target_size": "80cc"}));
    let r = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]);
    assert_eq!(r.code, 3, "{}", r.all());
    assert!(
        r.stdout.contains(
            "apply would act on none of the 2 clusters with strategies: 1 not manageable, \
             1 skipped for invalid strategy rows"
        ),
        "{}",
        r.all()
    );
    emu.create_cluster("good");
    strategy(&emu, "good", "target_size", json!({"target_size": "25cc"}));
    let r = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]);
    assert!(!r.stdout.contains("apply would act on none"), "{}", r.all());
}

/// Tables in `--schema`: every fix said for them names it. The DELETE
/// `check` gave for a dangling row, run as said, removed the row of the
/// same id in the default schema's installation and left the bad one (an
/// outside check); `unlock --force` without it breaks another
/// installation's lease.
#[test]
fn fixes_said_for_tables_in_a_schema_name_the_schema() {
    let emu = emulator();
    clusterctl(&emu, &["init", "--schema", "qa s"]).ok();
    // An empty listing's way to add a row names it (run as said, it wrote
    // to the default schema's table).
    let r = clusterctl(&emu, &["strategy", "ls", "--schema", "qa s"]).ok();
    assert!(
        r.stdout
            .contains("`clusterctl strategy set CLUSTER TYPE --config JSON --schema 'qa s'`"),
        "{}",
        r.all()
    );
    for table in ["mz_cluster_strategies", r#""qa s".mz_cluster_strategies"#] {
        emu.sql(&format!(
            "INSERT INTO {table} VALUES ('U3', 'target_size', '{{\"target_size\": \"50cc\"}}', now())"
        ));
    }
    let r = clusterctl(&emu, &["check", "--schema", "qa s"]);
    let out = r.all();
    let said = r#"DELETE FROM "qa s"."mz_cluster_strategies" WHERE cluster_id = 'U3'"#;
    assert!(out.contains(said), "{out}");
    // Run as said, it removes that installation's row, not the other's.
    emu.sql(said);
    let left = |table: &str| {
        emu.query_strings(&format!("SELECT cluster_id FROM {table}"))
            .len()
    };
    assert_eq!(left("mz_cluster_strategies"), 1);
    assert_eq!(left(r#""qa s".mz_cluster_strategies"#), 0);
    // A lease held in that installation: the command that breaks it names
    // the schema.
    emu.sql(
        "UPDATE \"qa s\".clusterctl_lease SET holder = 'other-host:4242:run', \
         expires_at = now() + INTERVAL '10 minutes' WHERE name = 'controller'",
    );
    let r = clusterctl(&emu, &["wipe-state", "--schema", "qa s"]);
    assert!(
        r.all()
            .contains("`clusterctl unlock --force --schema 'qa s'` breaks it"),
        "{}",
        r.all()
    );
    let r = clusterctl(&emu, &["doctor", "--schema", "qa s"]);
    assert!(
        r.all()
            .contains("`clusterctl unlock --force --schema 'qa s'`"),
        "{}",
        r.all()
    );
    // A plan saved for that installation is applied to it only: without
    // its --schema (another installation's tables, lease and trail) it is
    // refused; the note of `--out` says the command with it.
    emu.sql("UPDATE \"qa s\".clusterctl_lease SET holder = '', expires_at = now() WHERE name = 'controller'");
    emu.create_cluster("d3");
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "d3",
            "target_size",
            "--target-size",
            "25cc",
            "--schema",
            "qa s",
        ],
    )
    .ok();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plan.json").to_string_lossy().to_string();
    let saved = clusterctl(&emu, &["dry-run", "--schema", "qa s", "--out", &path]).ok();
    assert!(
        saved
            .all()
            .contains(&format!("`clusterctl apply --plan {path} --schema 'qa s'`")),
        "{}",
        saved.all()
    );
    let run = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    assert!(
        run.stderr
            .contains("the plan was saved for the tables of --schema 'qa s'"),
        "{}",
        run.all()
    );
    clusterctl(&emu, &["apply", "--plan", &path, "--schema", "qa s"]).ok();
    assert_eq!(emu.replicas("d3").len(), 1);
    // Applied again, it no longer matches: the new plan to save names the
    // schema, as does the way to pause.
    let run = clusterctl(&emu, &["apply", "--plan", &path, "--schema", "qa s"]).code(1);
    assert!(
        run.stderr
            .contains("`clusterctl dry-run --out FILE --schema 'qa s'`"),
        "{}",
        run.all()
    );
    let run = clusterctl(
        &emu,
        &["strategy", "set", "d3", "pause", "--schema", "qa s"],
    )
    .code(64);
    assert!(
        run.stderr
            .contains("`clusterctl strategy pause d3 --schema 'qa s'`"),
        "{}",
        run.all()
    );
}

/// `strategy rm ' u3'` where the rows hold ` u3` (written by hand) and no
/// cluster has that exact name or id: those rows go, not the rows of u3,
/// which the blanks stripped found (an outside check).
#[test]
fn rm_of_an_id_the_rows_hold_as_given_removes_those_rows() {
    let emu = emulator();
    let id = emu.create_cluster("batch");
    strategy(&emu, "batch", "idle_suspend", json!({"idle_after_s": 600}));
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies VALUES (' {id}', 'burst', \
         '{{\"burst_replica_size\": \"200cc\"}}', now())"
    ));
    let given = format!(" {id}");
    clusterctl(&emu, &["strategy", "rm", &given]).ok();
    assert_eq!(
        strategy_rows(&emu)
            .into_iter()
            .map(|(c, t, _)| (c, t))
            .collect::<Vec<_>>(),
        vec![(id.clone(), "idle_suspend".to_string())]
    );
    // With no such row, blanks are stripped as before: the cluster's own.
    clusterctl(&emu, &["strategy", "rm", &given]).ok();
    assert!(strategy_rows(&emu).is_empty());
}

/// A cluster with nothing planned but an alert (a replica made by hand
/// under the burst's name keeps bursts from starting): `status` said
/// `Converged` where `dry-run` counted it "with an alert" (an outside
/// check). It is `Attention`, the alert its reason, in `status` and
/// `describe` alike.
#[test]
fn a_cluster_with_an_alert_and_nothing_planned_is_not_converged() {
    let emu = emulator();
    emu.create_hydrated_cluster("c3", "r1", "50cc");
    strategy(&emu, "c3", "burst", json!({"burst_replica_size": "200cc"}));
    emu.add_replica("c3", "c3-burst", "25cc");
    emu.set_hydrated("c3", "c3-burst", true);
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(plan.stdout.contains("1 with an alert"), "{}", plan.all());
    let json = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let c = &json["result"]["clusters"][0];
    assert_eq!(c["condition"], "Attention", "{c:#}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("burst replica's name"),
        "{c:#}"
    );
    let d = clusterctl(&emu, &["describe", "c3"]).ok();
    assert!(d.stdout.contains("Condition:   Attention"), "{}", d.all());
    // Users waiting on a cluster with no replica and nothing to wake it
    // with: `Attention` too (it read `Suspended`).
    emu.create_cluster("a5");
    strategy(&emu, "a5", "idle_suspend", json!({"idle_after_s": 600}));
    emu.add_activity("a5", 3, false);
    emu.flush_statement_log();
    let json = clusterctl(&emu, &["status", "--condition", "Attention", "-o", "json"])
        .ok()
        .json();
    let names: Vec<&str> = json["result"]["clusters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["cluster"].as_str())
        .collect();
    assert!(names.contains(&"a5") && names.contains(&"c3"), "{json:#}");
}

/// `strategy rm` of a type the cluster has no row of removes nothing and
/// says which types it has, with the one meant (a typo removed nothing
/// without a word: an outside check).
#[test]
fn strategy_rm_of_a_mistyped_type_says_the_one_meant() {
    let emu = emulator();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let run = clusterctl(&emu, &["strategy", "rm", "c", "targte_size"]).ok();
    assert!(
        run.all().contains("nothing removed")
            && run
                .all()
                .contains("its rows are of type target_size (did you mean 'target_size'?)"),
        "{}",
        run.all()
    );
    let rows = emu.query_one("SELECT count(*) FROM mz_cluster_strategies");
    assert_eq!(rows.as_deref(), Some("1"));
}

/// A cluster whose strategy rows are in another installation (`--schema`)
/// than the one a command reads: the command says where they are, with
/// the command for them (`strategy rm` said only "nothing removed", and
/// `dry-run --cluster` blamed mz-clusterctl's `--cluster`: an outside
/// check).
#[test]
fn a_cluster_with_rows_in_another_schema_is_said_so() {
    let emu = emulator();
    emu.create_cluster("elsewhere");
    init_tables(&emu);
    clusterctl(&emu, &["init", "--schema", "blue"]).ok();
    clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "elsewhere",
            "target_size",
            "--target-size",
            "25cc",
            "--schema",
            "blue",
        ],
    )
    .ok();
    // A third installation, without its rows: not named.
    clusterctl(&emu, &["init", "--schema", "green"]).ok();
    let run = clusterctl(&emu, &["strategy", "rm", "elsewhere"]).ok();
    assert!(!run.all().contains("green"), "{}", run.all());
    assert!(
        run.all().contains("nothing removed")
            && run.all().contains(
                "it has strategy rows in schema blue (another installation of clusterctl): \
                 `clusterctl strategy rm elsewhere --schema blue`"
            ),
        "{}",
        run.all()
    );
    let run = clusterctl(&emu, &["dry-run", "--cluster", "elsewhere"]).code(64);
    assert!(
        run.stderr
            .contains("`clusterctl dry-run --cluster elsewhere --schema blue`"),
        "{}",
        run.all()
    );
    // Where it has rows, nothing more is said.
    let run = clusterctl(
        &emu,
        &["dry-run", "--cluster", "elsewhere", "--schema", "blue"],
    )
    .ok();
    assert!(!run.all().contains("another installation"), "{}", run.all());
}

/// `strategy rm CLUSTER burst` while the burst replica runs says it still
/// runs and nothing drops it now (it ran on at four times the normal
/// size, `status` saying converged: an outside check).
#[test]
fn removing_the_burst_row_while_it_runs_says_so() {
    let emu = emulator();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "200cc"}));
    clusterctl(&emu, &["apply"]).ok();
    assert!(
        emu.replicas("c").iter().any(|(n, _)| n == "c-burst"),
        "{:?}",
        emu.replicas("c")
    );
    let run = clusterctl(&emu, &["strategy", "rm", "c", "burst"]).ok();
    assert!(
        run.all()
            .contains("the burst replica c-burst (200cc) still runs, and no strategy drops it now"),
        "{}",
        run.all()
    );
    // With a row that chooses the size, that row retires it (said so).
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "200cc"}));
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let run = clusterctl(&emu, &["strategy", "rm", "c", "burst"]).ok();
    assert!(
        run.all().contains(
            "the burst replica c-burst (200cc) still runs: target_size retires it once a replica \
             of the size it chooses serves"
        ),
        "{}",
        run.all()
    );
}

/// A replica whose process is down (offline with no reason, not starting)
/// is said offline, not "hydrating" (an operator waited for a hydration
/// that was not happening: an outside check).
#[test]
fn a_replica_that_is_down_is_said_offline_not_hydrating() {
    let emu = emulator();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    emu.replica_offline("c", "r_25cc", None);
    let run = clusterctl(&emu, &["status", "-o", "wide"]).ok();
    assert!(
        run.stdout.contains("r_25cc (25cc, offline)"),
        "{}",
        run.all()
    );
    let run = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        run.all()
            .contains("r_25cc (25cc) is offline (it hydrates once it is back online)"),
        "{}",
        run.all()
    );
    let run = clusterctl(&emu, &["describe", "c"]).ok();
    assert!(run.stdout.contains("no (offline)"), "{}", run.all());
    // Back online: hydrated again, and said so.
    emu.set_replica_online("c", "r_25cc");
    let run = clusterctl(&emu, &["status", "-o", "wide"]).ok();
    assert!(
        run.stdout.contains("r_25cc (25cc, hydrated"),
        "{}",
        run.all()
    );
}
