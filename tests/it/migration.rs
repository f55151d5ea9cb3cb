//! Drop-in for the Python mz-clusterctl: its command lines keep working
//! (one test per old command line), or fail loudly saying what to write
//! instead; never an empty plan and exit 0. Also the selection rules that
//! replace its regex `--cluster`: exact names or ids by default, patterns
//! only with `--filter-clusters`, and `apply` saying what it selected
//! before it acts.

use serde_json::json;

use crate::cli::{audit, clusterctl, findings, replica_names, strategy};
use crate::support::Emulator;

fn emulator() -> Emulator {
    let emu = Emulator::start();
    clusterctl(&emu, &["init"]).ok();
    emu
}

/// `mz-clusterctl apply --filter-clusters '^prod'`: a regex over names,
/// unanchored like its `re.search`.
#[test]
fn old_filter_clusters_keeps_its_meaning() {
    let emu = emulator();
    for name in ["prod_a", "prod_b", "dev_prod"] {
        emu.create_cluster(name);
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    let run = clusterctl(&emu, &["apply", "--filter-clusters", "^prod"]).ok();
    assert_eq!(replica_names(&emu, "prod_a"), ["r_25cc"], "{}", run.all());
    assert_eq!(replica_names(&emu, "prod_b"), ["r_25cc"]);
    assert!(emu.replicas("dev_prod").is_empty());
    clusterctl(&emu, &["apply", "--filter-clusters", "prod"]).ok();
    assert_eq!(replica_names(&emu, "dev_prod"), ["r_25cc"], "unanchored");
    // The same flag works on dry-run and wipe-state, as in the reference.
    clusterctl(&emu, &["dry-run", "--filter-clusters", "^prod"]).ok();
    let wiped = clusterctl(&emu, &["wipe-state", "--filter-clusters", "^prod_"]).ok();
    assert!(
        wiped.stdout.contains("2 matching clusters"),
        "{}",
        wiped.all()
    );
}

/// `mz-clusterctl dry-run --cluster ops` (ops: the cluster its queries ran
/// on) used to print "No changes" here and exit 0. Now it fails and points
/// at `--exec-cluster`.
#[test]
fn old_cluster_flag_naming_the_session_cluster_fails_loudly() {
    let emu = emulator();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // it serves (§8.7)
    emu.create_cluster("analytics");
    strategy(
        &emu,
        "analytics",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    for cmd in ["dry-run", "apply"] {
        let run = clusterctl(&emu, &[cmd, "--cluster", "ops"]).code(64);
        assert!(run.stdout.is_empty(), "{}", run.all());
        assert!(
            run.stderr.contains("cluster ops (")
                && run.stderr.contains("has no strategies")
                && run.stderr.contains("--exec-cluster ops"),
            "{}",
            run.all()
        );
        assert_eq!(run.stderr.lines().count(), 1, "once: {}", run.all());
    }
    // Already on it: no advice to write what was written.
    let run = clusterctl(
        &emu,
        &["dry-run", "--cluster", "ops", "--exec-cluster", "ops"],
    )
    .code(64);
    assert!(
        run.stderr.contains("has no strategies") && !run.stderr.contains("mz-clusterctl"),
        "{}",
        run.all()
    );
    // `check`, which mz-clusterctl did not have: no such advice either.
    let run = clusterctl(&emu, &["check", "--cluster", "ops"]).code(64);
    assert!(
        run.stderr.contains("has no strategies") && !run.stderr.contains("mz-clusterctl"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("analytics").is_empty(), "nothing acted");
    // What the old line meant, written the new way.
    let run = clusterctl(&emu, &["apply", "--exec-cluster", "ops"]).ok();
    assert_eq!(
        replica_names(&emu, "analytics"),
        ["r_25cc"],
        "{}",
        run.all()
    );
    assert_eq!(replica_names(&emu, "ops"), ["r1"]);
}

/// `mz-clusterctl apply --enable-experimental-strategies`: shrink_to_fit
/// runs (it is not experimental here, so it runs without the flag too).
#[test]
fn old_enable_experimental_strategies_runs_shrink_to_fit() {
    let emu = emulator();
    emu.create_cluster("fit");
    strategy(
        &emu,
        "fit",
        "shrink_to_fit",
        json!({"max_replica_size": "50cc"}),
    );
    let run = clusterctl(&emu, &["apply", "--enable-experimental-strategies"]).ok();
    assert_eq!(
        replica_names(&emu, "fit"),
        ["fit_25cc", "fit_50cc"],
        "{}",
        run.all()
    );
    clusterctl(&emu, &["dry-run", "--enable-experimental-strategies"]).ok();
    clusterctl(&emu, &["wipe-state", "--enable-experimental-strategies"]).ok();
}

/// `mz-clusterctl dry-run -v --postgres-url URL --replica-sizes 25cc,50cc`.
#[test]
fn old_connection_verbosity_and_sizes_flags_work() {
    let emu = emulator();
    emu.create_cluster("c");
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let mut cmd = crate::cli::command();
    cmd.args([
        "dry-run",
        "-v",
        "--postgres-url",
        &emu.url(),
        "--replica-sizes",
        "25cc,50cc",
    ]);
    let run = crate::cli::run_cmd(cmd).ok();
    assert!(
        run.stdout.contains("+ create replica r_50cc (50cc)"),
        "{}",
        run.all()
    );
    let mut cmd = crate::cli::command();
    cmd.args([
        "apply",
        "-vv",
        "--postgres-url",
        &emu.url(),
        "--replica-sizes",
        "25cc,50cc",
    ]);
    crate::cli::run_cmd(cmd).ok();
    assert_eq!(replica_names(&emu, "c"), ["r_50cc"]);
}

/// `--cluster analytics` no longer also means `analytics_dev`; ids work
/// wherever names do; apply says what it selected before it acts.
#[test]
fn cluster_selection_is_exact_takes_ids_and_is_announced() {
    let emu = emulator();
    let a = emu.create_cluster("analytics");
    let dev = emu.create_cluster("analytics_dev");
    for name in ["analytics", "analytics_dev"] {
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    let run = clusterctl(&emu, &["apply", "--cluster", "analytics"]).ok();
    assert_eq!(replica_names(&emu, "analytics"), ["r_25cc"]);
    assert!(emu.replicas("analytics_dev").is_empty(), "{}", run.all());
    let lines: Vec<&str> = run.stdout.lines().collect();
    let selected = lines
        .iter()
        .position(|l| *l == format!("Selected by --cluster analytics: analytics ({a})"))
        .unwrap_or_else(|| panic!("no selection line:\n{}", run.stdout));
    let acting = lines
        .iter()
        .position(|l| l.starts_with("analytics.r_25cc: Creating..."))
        .unwrap_or_else(|| panic!("no progress line:\n{}", run.stdout));
    assert!(selected < acting, "{}", run.stdout);

    // By id, everywhere: apply, status, describe, history.
    clusterctl(&emu, &["apply", "--cluster", &dev]).ok();
    assert_eq!(replica_names(&emu, "analytics_dev"), ["r_25cc"]);
    let status = clusterctl(&emu, &["status", "--cluster", &dev, "-o", "json"])
        .ok()
        .json();
    assert_eq!(status["result"]["clusters"][0]["cluster"], "analytics_dev");
    let d = clusterctl(&emu, &["describe", &dev, "-o", "json"])
        .ok()
        .json();
    assert_eq!(d["result"]["cluster"], "analytics_dev");
    let h = clusterctl(&emu, &["history", "--cluster", &dev, "-o", "json"])
        .ok()
        .json();
    let entries = h["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "{h:#}");
    assert_eq!(entries[0]["cluster"], "analytics_dev");
    assert_eq!(audit(&emu, "analytics_dev").len(), 1);

    // A typo is an error with a suggestion, not an empty plan.
    let run = clusterctl(&emu, &["apply", "--cluster", "analytic"]).code(64);
    assert!(
        run.stderr.contains("did you mean 'analytics'?"),
        "{}",
        run.all()
    );
    // Patterns only when asked (once the new replicas are up, both clusters
    // have converged).
    for name in ["analytics", "analytics_dev"] {
        emu.set_replica_online(name, "r_25cc");
    }
    let run = clusterctl(&emu, &["dry-run", "--filter-clusters", "^analytics"]).ok();
    assert!(run.stdout.contains("2 clusters converged"), "{}", run.all());
    clusterctl(
        &emu,
        &[
            "dry-run",
            "--cluster",
            "analytics",
            "--filter-clusters",
            "x",
        ],
    )
    .code(64);
}

/// Audit rows mz-clusterctl wrote: `history` shows the `reason` it kept in
/// `decision_ctx` (the WHY was empty), and its failure without a stray
/// separator before it.
#[test]
fn history_shows_the_reasons_of_the_references_rows() {
    let emu = emulator();
    emu.create_cluster("batch");
    let id = emu.cluster_id("batch");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions \
         (action_id, cluster_id, action_sql, decision_ctx, executed, error_message) VALUES \
         ('1b0b7a76-7f0e-4f6f-9a59-0c3d6d0c7d12', '{id}', \
          'CREATE CLUSTER REPLICA batch.batch_burst (SIZE ''800cc'')', \
          '{{\"action_index\": 1, \"total_actions\": 1, \"reason\": \"Creating burst replica - no other replicas are hydrated\"}}', \
          true, NULL), \
         ('9c1e4f52-2b7d-4c77-8f2c-3a4a5b6c7d8e', '{id}', 'DROP CLUSTER REPLICA batch.r1', \
          '{{\"action_index\": 1, \"total_actions\": 1, \"error\": \"boom\"}}', false, 'boom')"
    ));
    let run = clusterctl(&emu, &["history", "-o", "json"]).ok();
    let doc = run.json();
    let entries = doc["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reasons: Vec<String> = entries
        .iter()
        .flat_map(|e| e["reasons"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    assert_eq!(
        reasons,
        ["Creating burst replica - no other replicas are hydrated"],
        "{doc:#}"
    );
    let run = clusterctl(&emu, &["history"]).ok();
    assert!(
        run.stdout
            .contains("Creating burst replica - no other replicas are hydrated"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("error: boom"), "{}", run.all());
    assert!(!run.stdout.contains("; error: boom"), "{}", run.all());
}

/// A temporary replica a killed mz-clusterctl run left on the query
/// cluster: `doctor` says so, with the statement that drops it; no run
/// drops it (another tool's replica).
#[test]
fn doctor_names_the_references_leftover_temporary_replica() {
    let emu = emulator();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // it serves (§8.7)
    emu.add_replica("ops", "mzclusterctl", "25cc");
    let run = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]).ok();
    assert!(
        run.stdout.contains("mz-clusterctl's temporary replica")
            && run
                .stdout
                .contains(r#"DROP CLUSTER REPLICA "ops"."mzclusterctl""#),
        "{}",
        run.all()
    );
    clusterctl(&emu, &["apply", "--exec-cluster", "ops"]).ok();
    assert_eq!(replica_names(&emu, "ops"), ["mzclusterctl", "r1"]);
}

/// During a rolling upgrade an older clusterctl meets tables a newer one
/// migrated: version 99 here, where this one knows 1 and 2. (It ran
/// without a word before.)
fn migrated_by_a_newer_clusterctl() -> Emulator {
    let emu = emulator();
    emu.create_cluster("c1");
    strategy(&emu, "c1", "target_size", json!({"target_size": "25cc"}));
    emu.sql(
        "INSERT INTO clusterctl_schema_migrations (version, name, applied_at) \
         VALUES (99, 'from_the_future', now())",
    );
    emu.clear_sql_log();
    emu
}

/// Names both versions and what to do, without a backtrace.
fn says_newer(text: &str) -> bool {
    text.contains("schema version 99")
        && text.contains("(up to 2)")
        && text.contains("upgrade this clusterctl")
        && !text.contains("panicked")
}

/// Refused before its first write: exit 1 (as a missing table or schema),
/// one `error:` line, no statement that writes.
fn refuses(emu: &Emulator, args: &[&str]) {
    emu.clear_sql_log();
    let run = clusterctl(emu, args).code(1);
    assert!(says_newer(&run.stderr), "{args:?}: {}", run.all());
    assert!(run.stderr.starts_with("error: "), "{args:?}: {}", run.all());
    assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.all());
    assert_eq!(
        emu.writes(),
        Vec::<String>::new(),
        "{args:?}: {}",
        run.all()
    );
}

#[test]
fn apply_refuses_tables_a_newer_clusterctl_migrated() {
    let emu = migrated_by_a_newer_clusterctl();
    refuses(&emu, &["apply"]);
    refuses(&emu, &["init"]);
    // Nothing acted, audited or remembered.
    assert!(audit(&emu, "c1").is_empty());
    assert!(emu.replicas("c1").is_empty());
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM mz_cluster_strategy_state"),
        Some("0".into())
    );
}

#[test]
fn writing_commands_refuse_tables_a_newer_clusterctl_migrated() {
    let emu = migrated_by_a_newer_clusterctl();
    refuses(&emu, &["wipe-state", "--yes"]);
    refuses(
        &emu,
        &[
            "strategy",
            "set",
            "c1",
            "target_size",
            "--target-size",
            "50cc",
        ],
    );
    refuses(&emu, &["strategy", "rm", "c1"]);
    refuses(&emu, &["strategy", "pause", "c1"]);
    refuses(&emu, &["strategy", "resume", "c1"]);
    emu.create_cluster("c2");
    refuses(&emu, &["strategy", "mv", "c1", "c2"]);
    refuses(&emu, &["unlock", "--force"]);
    assert_eq!(
        emu.query_one("SELECT config->>'target_size' FROM mz_cluster_strategies"),
        Some("25cc".into())
    );
}

#[test]
fn reading_commands_warn_once_about_tables_a_newer_clusterctl_migrated() {
    let emu = migrated_by_a_newer_clusterctl();
    for args in [
        &["dry-run"][..],
        &["status"],
        &["check"],
        &["history"],
        &["describe", "c1"],
        &["strategy", "ls"],
    ] {
        let run = clusterctl(&emu, args).ok();
        let warned: Vec<_> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("warning: ") && says_newer(l))
            .collect();
        assert_eq!(warned.len(), 1, "{args:?}: {}", run.all());
        assert!(
            !run.stdout.contains("schema version"),
            "{args:?}: {}",
            run.all()
        );
    }
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(run.stdout.contains("c1"), "{}", run.all());
    assert_eq!(emu.writes(), Vec::<String>::new());
}

/// The reading commands that do not go through the common path say it
/// too: `simulate --from-history` once, `status --watch` to a pipe once and
/// again when the version changes (a terminal's screen, cleared before
/// each refresh, gets it with each). Neither said anything at first; then
/// the watcher said it with every refresh, on a pipe too.
#[test]
fn status_watch_and_simulate_from_history_warn_too() {
    let emu = migrated_by_a_newer_clusterctl();
    let run = clusterctl(&emu, &["simulate", "--from-history", "--days", "1"]).ok();
    let warned = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: ") && says_newer(l))
        .count();
    assert_eq!(warned, 1, "{}", run.all());

    let mut cmd = crate::cli::command();
    cmd.args(["status", "--watch", "--interval", "1s"])
        .env("DATABASE_URL", emu.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("clusterctl runs");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let mut refreshes = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .filter(|l| l.starts_with("Every 1s: clusterctl status"));
    // Three refreshes at version 99, then a newer one migrates again: two
    // more, of which at least the last read version 100.
    assert_eq!(refreshes.by_ref().take(3).count(), 3);
    emu.sql(
        "INSERT INTO clusterctl_schema_migrations (version, name, applied_at) \
         VALUES (100, 'further_still', now())",
    );
    assert_eq!(refreshes.take(2).count(), 2);
    let _ = child.kill();
    let _ = child.wait();
    let said: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(stderr))
        .map_while(Result::ok)
        .collect();
    let warned = |version: &str| {
        said.iter()
            .filter(|l| l.starts_with("warning: ") && l.contains(version))
            .count()
    };
    assert_eq!(warned("schema version 99,"), 1, "{said:#?}");
    assert_eq!(warned("schema version 100,"), 1, "{said:#?}");
    assert!(said.iter().any(|l| says_newer(l)), "{said:#?}");
    assert_eq!(emu.writes(), Vec::<String>::new());
}

/// The snapshot reads the highest migration in the statement that reads
/// the unfinished actions. Tables an earlier tool created have no
/// migrations table: that statement is made again without it, so a
/// reading command still sees the unfinished actions (it said they could
/// not be read) and says nothing of a newer schema.
#[test]
fn tables_without_a_migrations_table_are_read_whole() {
    let emu = migrated_by_a_newer_clusterctl();
    emu.sql("DROP TABLE clusterctl_schema_migrations");
    emu.clear_sql_log();
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(!run.all().contains("unfinished actions"), "{}", run.all());
    assert!(!run.all().contains("schema version"), "{}", run.all());
    assert!(run.stdout.contains("c1"), "{}", run.all());
    assert_eq!(emu.writes(), Vec::<String>::new());
    // With the migrations, then without them.
    let unfinished: Vec<String> = emu
        .sql_log()
        .into_iter()
        .filter(|s| s.contains("a.executed IS NULL AND a.error_message IS NULL"))
        .collect();
    assert_eq!(unfinished.len(), 2, "{unfinished:#?}");
    assert!(unfinished[0].contains("clusterctl_schema_migrations"));
    assert!(!unfinished[1].contains("clusterctl_schema_migrations"));
}

#[test]
fn doctor_says_a_newer_clusterctl_migrated_the_tables() {
    let emu = migrated_by_a_newer_clusterctl();
    // A blocker: exit 3, with the fix.
    let doc = clusterctl(&emu, &["doctor", "--output", "json"])
        .code(3)
        .json();
    let findings = findings(&doc);
    let newer: Vec<_> = findings
        .iter()
        .filter(|f| says_newer(&f.to_string()))
        .collect();
    assert_eq!(newer.len(), 1, "{doc:#}");
    assert_eq!(newer[0]["level"], "blocker", "{doc:#}");
    let text = clusterctl(&emu, &["doctor"]).code(3);
    assert!(text.stdout.contains("BLOCKER"), "{}", text.all());
}

/// A cluster mz-clusterctl's `idle_suspend` suspended (its state row,
/// version 1, says what it dropped) is woken by clusterctl with those
/// replicas when a statement comes: clusterctl ignored the reference's
/// state, alerted that nothing was remembered and left the users waiting
/// (an outside check). The reference's row is left as it was.
#[test]
fn a_cluster_the_reference_suspended_wakes_with_what_it_dropped() {
    let emu = emulator();
    let id = emu.create_cluster("rs");
    strategy(&emu, "rs", "idle_suspend", json!({"idle_after_s": 600}));
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ('{id}', 1, '{{\"last_suspend\": {{\"timestamp\": \"2026-12-07T05:30:00.123456\", \
         \"replicas_removed\": 2, \"reason\": \"idle\", \"suspended_replicas\": \
         [{{\"name\": \"r1\", \"size\": \"50cc\"}}, {{\"name\": \"\\\"r 2\\\"\", \"size\": \"25cc\"}}]}}, \
         \"cluster_name\": \"rs\"}}', now() - interval '1 hour')"
    ));
    // Idle: left asleep.
    let dry = clusterctl(&emu, &["dry-run"]).ok();
    assert!(!dry.stdout.contains("create replica"), "{}", dry.all());
    emu.add_activity("rs", 5, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(!run.stderr.contains("remembers nothing"), "{}", run.all());
    assert_eq!(replica_names(&emu, "rs"), ["r 2", "r1"], "{}", run.all());
    // Said where they come from (an outside re-check).
    assert!(
        run.stdout
            .contains("waking with what mz-clusterctl's state row says"),
        "{}",
        run.all()
    );
    let reference = emu.query_strings(&format!(
        "SELECT count(*)::text FROM mz_cluster_strategy_state \
         WHERE cluster_id = '{id}' AND state_version = 1"
    ));
    assert_eq!(reference, [[Some("1".to_string())]], "left in place");
}

/// A suspension mz-clusterctl recorded whose size the region no longer
/// offers: the way to forget it is deleting the reference's row, which
/// `wipe-state` keeps (its advice to wipe changed nothing: an outside
/// check); done, the warning goes.
#[test]
fn a_reference_suspension_that_cannot_come_back_is_forgotten_with_its_row() {
    let emu = emulator();
    let id = emu.create_cluster("rx");
    strategy(&emu, "rx", "idle_suspend", json!({"idle_after_s": 600}));
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ('{id}', 1, '{{\"last_suspend\": {{\"timestamp\": \"2026-12-07T05:30:00\", \
         \"suspended_replicas\": [{{\"name\": \"big\", \"size\": \"xlarge\"}}]}}}}', \
         now() - interval '1 hour')"
    ));
    emu.add_activity("rx", 5, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    let delete = format!(
        "DELETE FROM mz_cluster_strategy_state WHERE cluster_id = '{id}' AND state_version = 1"
    );
    assert!(run.stderr.contains(&delete), "{}", run.all());
    emu.sql(&delete);
    clusterctl(&emu, &["wipe-state", "--cluster", "rx", "--yes"]).ok();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(!run.all().contains("xlarge"), "{}", run.all());
}

/// A cluster woken from mz-clusterctl's row, never suspended by us,
/// emptied by hand and wiped: its next demand does not wake it from that
/// row again (our creation is newer: it did, with real DDL, twice: an
/// outside re-check).
#[test]
fn a_reference_suspension_we_woke_is_not_woken_from_again() {
    let emu = emulator();
    let id = emu.create_cluster("rs2");
    strategy(&emu, "rs2", "idle_suspend", json!({"idle_after_s": 600}));
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ('{id}', 1, '{{\"last_suspend\": {{\"timestamp\": \"2026-12-01T10:30:00\", \
         \"suspended_replicas\": [{{\"name\": \"stale\", \"size\": \"50cc\"}}]}}}}', \
         now() - interval '6 days')"
    ));
    emu.add_activity("rs2", 5, false);
    emu.flush_statement_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "rs2"), ["stale"], "{}", run.all());
    postgres::Client::connect(&emu.url(), postgres::NoTls)
        .expect("connect")
        .batch_execute("DROP CLUSTER REPLICA rs2.stale")
        .expect("dropped by hand");
    clusterctl(&emu, &["wipe-state", "--cluster", "rs2", "--yes"]).ok();
    emu.add_activity("rs2", 2, false);
    emu.flush_statement_log();
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        !plan.stdout.contains("create replica stale"),
        "{}",
        plan.all()
    );
}
