//! Prints the README's example sessions from real runs of the binary
//! against the Materialize emulator (the one the tests use), so the
//! README shows what clusterctl really prints. Run it with
//! `scripts/readme-transcript.sh` (it starts the throwaway PostgreSQL the
//! emulator needs and builds the binary); paste the output into README.md.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

// The tests' emulator; the transcript uses only part of it.
#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use support::Emulator;

fn main() {
    let bin = std::env::var("CLUSTERCTL_BIN").unwrap_or_else(|_| "target/debug/clusterctl".into());
    let emu = Emulator::start();
    // The operator recorded in audit rows is USER@host: shown as alice@host,
    // not this machine's name.
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let neutral = |s: String| {
        if host.is_empty() {
            s
        } else {
            s.replace(&format!("alice@{host}"), "alice@host")
        }
    };
    let show = |args: &[&str]| {
        let out = std::process::Command::new(&bin)
            .args(args)
            .env("USER", "alice")
            .env("DATABASE_URL", emu.url())
            .env("NO_COLOR", "1")
            .env_remove("CLUSTERCTL_LOG")
            .output()
            .expect("the clusterctl binary runs");
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.contains([' ', '{', '^', '\'', '"']) {
                    format!("'{a}'")
                } else {
                    a.to_string()
                }
            })
            .collect();
        println!("$ clusterctl {}", shown.join(" "));
        print!(
            "{}",
            neutral(String::from_utf8_lossy(&out.stdout).into_owned())
        );
        print!(
            "{}",
            neutral(String::from_utf8_lossy(&out.stderr).into_owned())
        );
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            println!("(exit code {code})");
        }
        println!();
    };
    emu.create_readme_catalog();

    println!("## First run");
    show(&["check"]);
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
        "stabilization",
        "--scale-down-after-s",
        "10m",
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
        "--idle-after-s",
        "30m",
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
        "--until",
        "1d",
    ]);
    show(&["strategy", "pause", "etl"]);
    show(&["strategy", "ls"]);
    show(&["dry-run", "--detailed-exitcode"]);
    show(&["dry-run", "--cluster", "ops"]);
    show(&["apply", "--exec-cluster", "ops"]);
    emu.set_hydrated("analytics", "r_50cc", true);
    show(&["dry-run"]);
    show(&["status"]);
    show(&["status", "-o", "wide"]);
    show(&["describe", "analytics"]);
    show(&["history", "--since", "1h"]);
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) \
         SELECT id, 'idle_suspnd', '{\"idle_after\": 600}' FROM mz_catalog.mz_clusters WHERE name = 'analytics'",
    );
    show(&["check"]);
    show(&["strategy", "rm", "analytics", "idle_suspnd"]);
    show(&["strategy", "resume", "etl"]);
    show(&["check"]);
    show(&["status", "--cluster", "analytics", "--output", "json"]);
    doctor_transcript(&bin);
    predictive_transcript(&bin);
    backtest_transcript(&bin);
}

/// Predictive `idle_suspend` on a fresh emulator: four weeks of weekday
/// office hours in the statement log, the users due in eight minutes, the
/// cluster suspended; dry-run wakes it, describe shows the profile.
fn predictive_transcript(bin: &str) {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("reports", "r1", "200cc");
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // the --exec-cluster serves
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", emu.url())
            .env("USER", "alice")
            .env("NO_COLOR", "1")
            .env_remove("CLUSTERCTL_LOG")
            .output()
            .expect("the clusterctl binary runs");
        let host = hostname::get()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_default();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            if host.is_empty() {
                stdout
            } else {
                stdout.replace(&format!("alice@{host}"), "alice@host")
            },
            out.status.code().unwrap_or(-1),
        )
    };
    run(&["init"]);
    let now_s: i64 = emu
        .query_one(
            "SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') \
             - date_trunc('day', now() AT TIME ZONE 'UTC'))::bigint",
        )
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let history = |in_s: i64| {
        emu.add_activity_history(&support::ActivityHistory {
            clusters: "reports".into(),
            // Not wrapped at midnight: late in the day, yesterday's
            // session starts after midnight, today, so that its end is
            // within the activity lookback whatever the time of day; a
            // day more than the 28 whole days the product reads, since
            // yesterday's then falls today.
            days: 29,
            start_s: now_s + in_s,
            duration_s: 8 * 3600,
            per_hour: 40,
            jitter_s: 240,
            ..support::ActivityHistory::default()
        })
    };
    // The users come every day three hours from now: idle, it suspends.
    history(3 * 3600);
    println!("## predictive");
    for args in [
        &[
            "strategy",
            "set",
            "reports",
            "idle_suspend",
            "--idle-after-s",
            "30m",
            "--predict",
            "true",
        ][..],
        &["apply", "--exec-cluster", "ops", "--cluster", "reports"],
        &["dry-run", "--cluster", "reports"],
        &["describe", "reports"],
    ] {
        if args[0] == "dry-run" {
            // ... and now they are due in eight minutes: it wakes ahead.
            emu.sql("DELETE FROM mz_emulator.statement_log");
            history(8 * 60);
        }
        let (stdout, code) = run(args);
        println!("$ clusterctl {}", args.join(" "));
        print!("{stdout}");
        if code != 0 {
            println!("(exit code {code})");
        }
        println!();
    }
}

/// `doctor` as a restricted role would see it, on a fresh emulator: once
/// with a healthy --exec-cluster, once with the server's default cluster
/// (quickstart) suspended.
fn doctor_transcript(bin: &str) {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // the --exec-cluster serves
    let role = emu.create_role("ctl");
    emu.grant_role(&role, "mz_monitor_redacted");
    emu.sql(&format!(
        "UPDATE mz_catalog.mz_clusters SET privileges = privileges || '{}=U/u1'::text WHERE name = 'ops'",
        role.id
    ));
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", role.url())
            .env("NO_COLOR", "1")
            .env_remove("CLUSTERCTL_LOG")
            .output()
            .expect("the clusterctl binary runs")
    };
    run(&["init"]);
    emu.create_hydrated_cluster("analytics", "r1", "25cc");
    emu.set_cluster_owner("analytics", &role.name);
    emu.set_replica_owner("analytics", "r1", &role.name);
    emu.create_managed_cluster("batch", "100cc", 1);
    for (cluster, ty, config) in [
        ("analytics", "target_size", r#"{"target_size": "50cc"}"#),
        ("batch", "idle_suspend", r#"{"idle_after_s": 1800}"#),
    ] {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) \
             SELECT id, '{ty}', '{config}' FROM mz_catalog.mz_clusters WHERE name = '{cluster}'"
        ));
    }
    println!("## doctor");
    for args in [&["doctor", "--exec-cluster", "ops"][..], &["doctor"]] {
        if args.len() == 1 {
            // quickstart suspended
            emu.sql("DELETE FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = 'u1'");
        }
        let out = run(args);
        println!("$ clusterctl {}", args.join(" "));
        print!(
            "{}",
            String::from_utf8_lossy(&out.stdout).replace(&role.name, "clusterctl")
        );
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            println!("(exit code {code})");
        }
        println!();
    }
}

/// `simulate --from-history` on a fresh emulator with four weeks of office
/// hours on `bi` (reactive idle_suspend) and a nightly hour on `etl`,
/// compared with predictive idle_suspend on `bi`.
fn backtest_transcript(bin: &str) {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // the --exec-cluster serves
    emu.create_hydrated_cluster("bi", "r1", "100cc");
    emu.create_hydrated_cluster("etl", "r_200cc", "200cc");
    let dir = tempfile::tempdir().expect("temp dir");
    // Run in the temp dir (the files are named relative to it).
    let bin = std::fs::canonicalize(bin).expect("the clusterctl binary");
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", emu.url())
            .env("NO_COLOR", "1")
            .env_remove("CLUSTERCTL_LOG")
            .output()
            .expect("the clusterctl binary runs")
    };
    run(&["init"]);
    for (cluster, ty, config) in [
        ("bi", "idle_suspend", r#"{"idle_after_s": 900}"#),
        ("etl", "target_size", r#"{"target_size": "200cc"}"#),
        ("etl", "idle_suspend", r#"{"idle_after_s": 1800}"#),
    ] {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) \
             SELECT id, '{ty}', '{config}' FROM mz_catalog.mz_clusters WHERE name = '{cluster}'"
        ));
    }
    emu.add_activity_history(&support::ActivityHistory {
        clusters: "bi".into(),
        days: 28,
        start_s: 9 * 3600,
        duration_s: 8 * 3600,
        per_hour: 60,
        jitter_s: 1800,
        weekdays_only: true,
        ..support::ActivityHistory::default()
    });
    emu.add_activity_history(&support::ActivityHistory {
        clusters: "etl".into(),
        days: 28,
        start_s: 2 * 3600,
        duration_s: 3600,
        per_hour: 120,
        ..support::ActivityHistory::default()
    });
    emu.set_replica_started("bi", "r1", 20 * 86_400, 720);
    emu.set_replica_started("etl", "r_200cc", 20 * 86_400, 300);
    emu.set_replica_started("ops", "r1", 20 * 86_400, 60);
    emu.set_replica_memory("bi", "r1", 3 << 30);
    emu.set_replica_memory("etl", "r_200cc", 9 << 30);
    std::fs::write(
        dir.path().join("predictive.toml"),
        "name = \"predictive\"\n[[clusters]]\nmatch = \"bi\"\nstrategies = [\n  \
         { type = \"idle_suspend\", config = { idle_after_s = 900, predict = true } },\n]\n",
    )
    .expect("alternative file");
    println!("## Backtest");
    let args = [
        "simulate",
        "--from-history",
        "--exec-cluster",
        "ops",
        "--compare",
        "predictive.toml",
        "--out",
        "backtest.toml",
    ];
    let out = run(&args);
    println!("$ clusterctl {}", args.join(" "));
    print!("{}", String::from_utf8_lossy(&out.stdout));
    print!("{}", String::from_utf8_lossy(&out.stderr));
    let code = out.status.code().unwrap_or(-1);
    if code != 0 {
        println!("(exit code {code})");
    }
    println!();
}
