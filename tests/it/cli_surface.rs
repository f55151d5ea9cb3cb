//! The command-line surface as an operator uses it: filters, wipe-state,
//! read-only dry-runs, JSON output, the session's own cluster.

use serde_json::json;

use crate::cli::{
    audit, clusterctl, command, init_tables, lit, replica_names, run_cmd, states, strategy, Run,
};
use crate::support::Emulator;

fn no_backtrace(run: &Run) {
    for needle in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
        assert!(!run.all().contains(needle), "{needle}: {}", run.all());
    }
}

/// Two builds of one crate version are told apart: `--version` and every
/// audit row's `controller` carry the commit the binary was built from
/// (`build.rs`); every build said `clusterctl 0.1.0`, and an upgrade's
/// trail could not say which release wrote a row (an outside check).
#[test]
fn the_version_and_the_trail_name_the_commit_built_from() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let version = clusterctl::VERSION;
    match &head {
        Some(commit) if std::env::var_os("CLUSTERCTL_BUILD_COMMIT").is_none() => assert_eq!(
            version,
            format!("{}+{commit}", env!("CARGO_PKG_VERSION")),
            "built from this checkout"
        ),
        // Built from a source archive, or with the commit given.
        _ => assert!(version.starts_with(env!("CARGO_PKG_VERSION")), "{version}"),
    }
    let mut cmd = command();
    cmd.arg("--version");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(run.stdout.trim(), format!("clusterctl {version}"));

    let emu = Emulator::start();
    init_tables(&emu);
    emu.create_hydrated_cluster("c", "r1", "25cc");
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    clusterctl(&emu, &["apply"]).ok();
    let rows = crate::cli::audit_ctx(&emu, "c");
    assert!(!rows.is_empty());
    for ctx in rows {
        assert_eq!(ctx["controller"], format!("clusterctl {version}"), "{ctx}");
    }
}

#[test]
fn cluster_filter_limits_the_plan_and_bad_regexes_are_usage_errors() {
    let emu = Emulator::start();
    for name in ["prod_a", "prod_b", "dev_a", "dev_bad"] {
        emu.create_cluster(name);
    }
    init_tables(&emu);
    for name in ["prod_a", "prod_b", "dev_a"] {
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    strategy(
        &emu,
        "dev_bad",
        "target_size",
        json!({"target_size": "7cc"}),
    );

    let dry = clusterctl(&emu, &["dry-run", "--filter-clusters", "^prod_"]).ok();
    assert!(dry.stdout.contains("cluster prod_a"), "{}", dry.all());
    assert!(dry.stdout.contains("cluster prod_b"), "{}", dry.all());
    assert!(!dry.all().contains("dev_"), "{}", dry.all());
    assert!(dry.stdout.contains("Plan: 2 to create"), "{}", dry.all());

    // The invalid dev_bad row is outside the filter: a clean exit.
    clusterctl(&emu, &["apply", "--filter-clusters", "^prod_"]).ok();
    assert_eq!(replica_names(&emu, "prod_a"), vec!["r_25cc"]);
    assert_eq!(replica_names(&emu, "prod_b"), vec!["r_25cc"]);
    assert!(emu.replicas("dev_a").is_empty());
    assert!(audit(&emu, "dev_a").is_empty());

    // Unanchored, like grep.
    let run = clusterctl(&emu, &["apply", "--filter-clusters", "ev_a"]).ok();
    assert_eq!(
        replica_names(&emu, "dev_a"),
        vec!["r_25cc"],
        "{}",
        run.all()
    );
    assert!(emu.replicas("dev_bad").is_empty());

    // A pattern that selects nothing says so, once.
    for cmd in ["dry-run", "apply", "check"] {
        let none = clusterctl(&emu, &[cmd, "--filter-clusters", "^nomatch$"]).ok();
        let said = "--filter-clusters '^nomatch$' selects no cluster with strategies";
        assert_eq!(none.all().matches(said).count(), 1, "{cmd}: {}", none.all());
    }

    for cmd in ["dry-run", "apply", "wipe-state"] {
        emu.reset_stats();
        let bad = clusterctl(&emu, &[cmd, "--filter-clusters", "("]).code(64);
        no_backtrace(&bad);
        assert!(bad.stdout.is_empty(), "{}", bad.all());
        let lines: Vec<&str> = bad.stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line: {}", bad.all());
        assert!(
            lines[0].starts_with("error: --filter-clusters"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with("invalid regular expression '(': unclosed group (at character 1)"),
            "{}",
            lines[0]
        );
        assert_eq!(emu.stats().statements, 0, "{cmd}: never connected");
    }
}

#[test]
fn an_empty_cluster_name_is_a_usage_error_not_every_cluster() {
    // `--cluster "$CLUSTER"` with the variable unset must not become a
    // fleet-wide apply or wipe.
    let emu = Emulator::start();
    emu.create_cluster("a");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "25cc"}));
    let cases: [&[&str]; 11] = [
        &["apply", "--cluster", ""],
        &["apply", "--cluster", " "],
        &["dry-run", "--cluster", ","],
        &["wipe-state", "--cluster", "", "--yes"],
        &["status", "--cluster", "a,"],
        &["describe", ""],
        &["strategy", "pause", " "],
        // The same for the regex: `--filter-clusters "$PREFIX"`.
        &["wipe-state", "--filter-clusters", "", "--yes"],
        &["apply", "--filter-clusters", ""],
        &["dry-run", "--cluster-regex", " "],
        &["strategy", "ls", "--filter-clusters", ""],
    ];
    for args in cases {
        emu.reset_stats();
        let run = clusterctl(&emu, args).code(64);
        no_backtrace(&run);
        assert!(
            run.stderr.contains("empty (an unset variable?)"),
            "{args:?}: {}",
            run.all()
        );
        assert_eq!(emu.stats().statements, 0, "{args:?}: never connected");
    }
    assert!(emu.replicas("a").is_empty());
}

/// The usage after a usage error is the command's own, as `--help` shows
/// it: clap's listed the options given (and the URL from the environment)
/// as if they were required (`unlock --force --exec-cluster <NAME>
/// --postgres-url <URL>`).
#[test]
fn a_usage_error_shows_the_commands_own_usage() {
    let emu = Emulator::start();
    let run = clusterctl(&emu, &["unlock", "--exec-cluster", "ops"]).code(64);
    no_backtrace(&run);
    let usage: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("Usage:"))
        .collect();
    assert_eq!(
        usage,
        ["Usage: clusterctl unlock [OPTIONS] --force"],
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("  --force"), "{}", run.all());
}

/// Clusters keep_me, wipe_a and wipe_b with a target_size row each, after
/// an apply that wrote their state.
#[test]
fn a_name_that_is_another_clusters_id_selects_the_cluster_of_that_name_only() {
    // Cluster `b` is named after `a`'s id: `--cluster <a's id>` is `b`, as
    // `describe` and `strategy set` take it, everywhere.
    let emu = Emulator::start();
    let a_id = emu.create_cluster("a");
    emu.create_cluster(&a_id);
    init_tables(&emu);
    for name in ["a", a_id.as_str()] {
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    let named = emu.cluster_id(&a_id);
    assert_ne!(named, a_id);
    let run = |argv: &[&str]| {
        let mut argv = argv.to_vec();
        argv.extend(["--cluster", a_id.as_str()]);
        let run = clusterctl(&emu, &argv);
        assert!(run.code == 0 || run.code == 2, "{argv:?}: {}", run.all());
        run.stdout
    };
    let dry = run(&["dry-run"]);
    assert!(dry.contains(&format!("cluster {a_id} ({named})")), "{dry}");
    assert!(dry.contains("on 1 cluster"), "{dry}");
    assert!(!dry.contains("cluster a ("), "{dry}");
    let status: Vec<String> = run(&["status"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    assert_eq!(status.len(), 1, "{status:?}");
    assert!(status[0].starts_with(&format!("{a_id} ")), "{status:?}");
    let check = run(&["check"]);
    assert!(check.contains("on 1 cluster"), "{check}");
    let listed: Vec<String> = run(&["strategy", "ls"])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].starts_with(&format!("{a_id} ({named})")),
        "{listed:?}"
    );
    // describe selects its cluster by name, which no id can shadow.
    let b_id = emu.create_cluster("b");
    emu.create_cluster(&b_id);
    strategy(&emu, "b", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, &b_id, "target_size", json!({"target_size": "100cc"}));
    let described = clusterctl(&emu, &["describe", "b", "-o", "json"])
        .ok()
        .json();
    let text = described.to_string();
    assert!(text.contains("r_50cc"), "b's own plan: {text}");
    assert!(
        !text.contains("r_100cc"),
        "not the plan of the cluster named {b_id}: {text}"
    );
    clusterctl(&emu, &["apply", "--cluster", &a_id]).ok();
    assert_eq!(replica_names(&emu, &a_id), vec!["r_25cc"]);
    assert!(emu.replicas("a").is_empty(), "cluster a was not selected");
    let run = clusterctl(&emu, &["wipe-state", "--cluster", &a_id, "-o", "json"]).ok();
    assert_eq!(
        run.json()["result"]["clusters"],
        json!([named]),
        "{}",
        run.all()
    );
    let run = clusterctl(&emu, &["history", "--cluster", &a_id, "-o", "json"]).ok();
    let entries = run.json()["result"]["entries"].clone();
    let clusters: Vec<&str> = entries
        .as_array()
        .map(|v| v.iter().filter_map(|e| e["cluster"].as_str()).collect())
        .unwrap_or_default();
    assert!(!clusters.is_empty(), "{}", run.all());
    assert!(clusters.iter().all(|c| *c == a_id), "{clusters:?}");
}

fn three_with_state() -> Emulator {
    let emu = Emulator::start();
    for name in ["keep_me", "wipe_a", "wipe_b"] {
        emu.create_cluster(name);
    }
    init_tables(&emu);
    for name in ["keep_me", "wipe_a", "wipe_b"] {
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    clusterctl(&emu, &["apply"]).ok();
    emu
}

#[test]
fn wipe_state_all_or_matching_clusters() {
    let emu = three_with_state();
    let ids = |emu: &Emulator| -> Vec<String> {
        let mut v: Vec<String> = states(emu).into_iter().map(|(c, _, _)| c).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&emu).len(), 3);

    let run = clusterctl(&emu, &["wipe-state", "--filter-clusters", "^wipe_"]).ok();
    assert!(
        run.stdout.contains("2 matching clusters (2 rows deleted)"),
        "{}",
        run.all()
    );
    assert_eq!(ids(&emu), vec![emu.cluster_id("keep_me")]);

    let run = clusterctl(&emu, &["wipe-state", "--filter-clusters", "^nothing$"]).ok();
    assert!(run.stdout.contains("0 rows deleted"), "{}", run.all());
    assert_eq!(ids(&emu).len(), 1);
    // Nothing wiped of a selection: mz-clusterctl's `--cluster` said (an
    // old cron line's `wipe-state --cluster ops` wiped nothing, silently).
    assert!(
        run.stderr
            .contains("in mz-clusterctl, `wipe-state --cluster NAME` named"),
        "{}",
        run.all()
    );

    let doc = clusterctl(
        &emu,
        &["wipe-state", "--cluster", "keep_me", "--output", "json"],
    )
    .ok()
    .json();
    assert_eq!(doc["format_version"], 2);
    assert_eq!(doc["result"]["rows_deleted"], 1);
    assert!(ids(&emu).is_empty());

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(ids(&emu).len(), 3, "state comes back on the next apply");
    let run = clusterctl(&emu, &["wipe-state"]).ok();
    assert!(
        run.stdout.contains("all clusters (3 rows deleted)"),
        "{}",
        run.all()
    );
    assert!(ids(&emu).is_empty());
    // Replicas are not touched by wiping state.
    assert_eq!(replica_names(&emu, "wipe_a"), vec!["r_25cc"]);
}

/// The `wipe_state` audit rows: (decision_ctx, executed, cluster_id).
/// The command line the (only) wipe's audit row recorded.
fn wipe_line(emu: &Emulator) -> Option<String> {
    emu.query_one(
        "SELECT action_sql FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'wipe_state'",
    )
}

fn wipe_rows(emu: &Emulator) -> Vec<(serde_json::Value, bool, String)> {
    emu.query_strings(
        "SELECT decision_ctx::text, executed::text, cluster_id FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'wipe_state' ORDER BY created_at",
    )
    .into_iter()
    .map(|r| {
        let ctx = r[0].as_deref().and_then(|t| serde_json::from_str(t).ok());
        (
            ctx.unwrap_or_default(),
            r[1].as_deref() == Some("true"),
            r[2].clone().unwrap_or_default(),
        )
    })
    .collect()
}

/// A wipe of a cluster whose name a shell would split: its audit line and
/// `history`'s WHY quote the name, so ` spaced` is not read as `spaced`.
#[test]
fn a_wipe_names_the_cluster_as_a_shell_takes_it() {
    let emu = three_with_state();
    emu.create_cluster(" spaced");
    strategy(
        &emu,
        " spaced",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    clusterctl(&emu, &["apply"]).ok();
    clusterctl(&emu, &["wipe-state", "--cluster", " spaced"]).ok();
    assert_eq!(
        wipe_line(&emu).as_deref(),
        Some("-- clusterctl wipe-state --cluster ' spaced'")
    );
    let text = clusterctl(&emu, &["history", "--limit", "1"]).ok().stdout;
    assert!(
        text.contains("deleted 1 state row of ' spaced' (by "),
        "{text}"
    );
}

/// The kinds of `history --cluster CLUSTER`'s entries, newest first.
fn history_kinds(emu: &Emulator, cluster: &str) -> Vec<String> {
    let doc = clusterctl(emu, &["history", "--cluster", cluster, "-o", "json"])
        .ok()
        .json();
    doc["result"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["kind"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// A cluster renamed to `wb`, wiped, then dropped (and another made as
/// `wb`): `history --cluster wb` shows that wipe, which named it `wb`
/// (its own rows were all under its earlier name: the wipe was left out,
/// an outside check).
#[test]
fn a_wipe_of_a_cluster_renamed_to_a_name_is_that_names_history() {
    let emu = Emulator::start();
    emu.create_cluster("wb_old");
    init_tables(&emu);
    strategy(
        &emu,
        "wb_old",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    clusterctl(&emu, &["apply"]).ok();
    let mz = |sql: &str| {
        postgres::Client::connect(&emu.url(), postgres::NoTls)
            .expect("connect")
            .batch_execute(sql)
            .expect(sql);
    };
    mz("ALTER CLUSTER wb_old RENAME TO wb");
    clusterctl(&emu, &["wipe-state", "--cluster", "wb", "--yes"]).ok();
    mz("DROP CLUSTER wb CASCADE");
    emu.create_cluster("wb");
    assert_eq!(history_kinds(&emu, "wb"), ["wipe_state"]);
    // Its earlier name has what it did under it.
    assert!(history_kinds(&emu, "wb_old").contains(&"create_replica".to_string()));
}

#[test]
fn wipe_state_is_audited_once_per_run_and_history_shows_it() {
    let emu = three_with_state();

    // Some clusters: one audit row (one INSERT) naming them, who, how many.
    emu.clear_sql_log();
    clusterctl(&emu, &["wipe-state", "--filter-clusters", "^wipe_"]).ok();
    let inserts: Vec<String> = emu
        .writes()
        .into_iter()
        .filter(|q| q.contains("mz_cluster_strategy_actions"))
        .collect();
    assert_eq!(inserts.len(), 1, "{inserts:#?}");
    let rows = wipe_rows(&emu);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (ctx, executed, cluster_id) = &rows[0];
    assert!(executed, "{ctx}");
    assert_eq!(cluster_id, "", "one row for the run, as unlock's");
    assert_eq!(ctx["rows_deleted"], 2, "{ctx}");
    assert_eq!(
        ctx["clusters"],
        json!([
            {"id": emu.cluster_id("wipe_a"), "name": "wipe_a"},
            {"id": emu.cluster_id("wipe_b"), "name": "wipe_b"},
        ]),
        "{ctx}"
    );
    assert!(
        ctx["by"]["user"].as_str().is_some_and(|u| u.contains('@')),
        "{ctx}"
    );
    let text = clusterctl(&emu, &["history", "--limit", "1"]).ok().stdout;
    assert!(
        text.contains("wipe-state") && text.contains("deleted 2 state rows of wipe_a, wipe_b (by "),
        "{text}"
    );
    // The command line as given, its selection too (a whole wipe's is
    // bare): `history -o wide` tells the two apart.
    assert_eq!(
        wipe_line(&emu).as_deref(),
        Some("-- clusterctl wipe-state --filter-clusters '^wipe_'")
    );

    // All clusters: said so, in the table and in JSON.
    clusterctl(&emu, &["wipe-state"]).ok();
    assert_eq!(wipe_rows(&emu).len(), 2);
    let text = clusterctl(&emu, &["history", "--limit", "1"]).ok().stdout;
    assert!(
        text.contains("deleted 1 state row of all clusters (by "),
        "{text}"
    );
    let doc = clusterctl(&emu, &["history", "--limit", "1", "-o", "json"])
        .ok()
        .json();
    let entry = &doc["result"]["entries"][0];
    assert_eq!(entry["kind"], "wipe_state", "{doc:#}");
    assert_eq!(entry["result"], "executed", "{doc:#}");
    assert_eq!(entry["wiped"]["clusters"], json!(null), "{doc:#}");
    assert_eq!(entry["wiped"]["rows_deleted"], 1, "{doc:#}");
    assert!(entry["wiped"]["by"]["user"].is_string(), "{doc:#}");

    // A cluster's history has the wipes of its state: those that named it
    // and those of all clusters.
    let kinds = |cluster: &str| history_kinds(&emu, cluster);
    assert_eq!(
        kinds("wipe_b"),
        ["wipe_state", "wipe_state", "create_replica"]
    );
    assert_eq!(kinds("keep_me"), ["wipe_state", "create_replica"]);

    // A wipe that deleted nothing changed nothing: no row.
    let run = clusterctl(&emu, &["wipe-state", "--output", "json"])
        .ok()
        .json();
    assert_eq!(run["result"]["rows_deleted"], 0);
    assert_eq!(run["result"]["audited"], false);
    assert_eq!(wipe_rows(&emu).len(), 2);

    // A cluster created after a wipe of all had no state it wiped: its
    // history starts with the next wipe.
    let wipes = |cluster: &str| kinds(cluster).iter().filter(|k| *k == "wipe_state").count();
    emu.create_cluster("later");
    strategy(&emu, "later", "target_size", json!({"target_size": "25cc"}));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(wipes("later"), 0);
    clusterctl(&emu, &["wipe-state"]).ok();
    assert_eq!(wipes("later"), 1);
    assert_eq!(wipes("keep_me"), 2);
    let newest = emu.query_strings(
        "SELECT decision_ctx->>'newest_cluster' FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'wipe_state' AND decision_ctx->'clusters' = 'null' \
         ORDER BY created_at",
    );
    let (keep_me, later) = (emu.cluster_id("keep_me"), emu.cluster_id("later"));
    let wipe_b = emu.cluster_id("wipe_b");
    assert_eq!(newest, [[Some(wipe_b)], [Some(later)]], "{keep_me}");
    // One that names none readable (an older clusterctl's, or written by
    // hand) is every cluster's; one that names an older cluster is not.
    let newest_is = |value: &str| {
        emu.sql(&format!(
            "UPDATE mz_cluster_strategy_actions SET decision_ctx = \
             jsonb_set(decision_ctx, '{{newest_cluster}}', {}::jsonb) \
             WHERE decision_ctx->>'kind' = 'wipe_state' AND decision_ctx->'clusters' = 'null'",
            lit(value)
        ))
    };
    newest_is(&format!("\"{keep_me}\""));
    assert_eq!(wipes("later"), 0);
    assert_eq!(wipes("keep_me"), 2);
    for unreadable in ["null", "\"x7\"", "\"u99999999999999999999\"", "7"] {
        newest_is(unreadable);
        assert_eq!(wipes("later"), 2, "{unreadable}");
    }
}

#[test]
fn a_wipe_whose_audit_write_fails_stands_and_warns() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(states(&emu).len(), 1);
    emu.fail_statement(
        "INSERT INTO",
        1,
        "42501",
        "permission denied for table mz_cluster_strategy_actions",
    );
    let run = clusterctl(&emu, &["wipe-state"]).ok();
    assert!(states(&emu).is_empty(), "the wipe stands: {}", run.all());
    assert!(run.stdout.contains("1 row deleted"), "{}", run.all());
    assert!(
        run.stderr
            .contains("warning: the state is wiped, but no audit row records it")
            && run.stderr.contains("permission denied"),
        "{}",
        run.all()
    );
    assert!(wipe_rows(&emu).is_empty());

    // JSON says it too; the audit table gone is the same case.
    clusterctl(&emu, &["apply"]).ok();
    emu.sql("DROP TABLE mz_cluster_strategy_actions");
    let doc = clusterctl(&emu, &["wipe-state", "-o", "json"]).ok().json();
    assert_eq!(doc["result"]["rows_deleted"], 1, "{doc:#}");
    assert_eq!(doc["result"]["audited"], false, "{doc:#}");
    assert!(
        doc["result"]["audit_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not exist")),
        "{doc:#}"
    );
}

#[test]
fn dry_run_without_tables_says_how_to_create_them() {
    let emu = Emulator::start();
    emu.reset_stats();
    let run = clusterctl(&emu, &["dry-run"]).code(1);
    no_backtrace(&run);
    assert!(run.stderr.contains("tables are missing"), "{}", run.all());
    assert!(
        run.stderr.contains("clusterctl apply"),
        "says how: {}",
        run.all()
    );
    assert!(emu.writes().is_empty(), "{:?}", emu.sql_log());
    assert_eq!(
        emu.query_one("SELECT (to_regclass('mz_cluster_strategies') IS NULL)::text")
            .as_deref(),
        Some("true"),
        "dry-run created nothing"
    );
}

#[test]
fn dry_run_never_writes() {
    let emu = Emulator::start();
    emu.create_cluster("resize");
    emu.add_index("resize");
    emu.add_replica("resize", "r_25cc", "25cc");
    emu.add_replica("resize", "r_50cc", "50cc");
    emu.set_hydrated("resize", "r_50cc", true);
    emu.create_cluster("sleepy");
    emu.add_replica("sleepy", "r1", "25cc");
    // Up: it serves the run that uses it as the session cluster (§8.7).
    emu.set_replica_online("sleepy", "r1");
    emu.add_activity("sleepy", 2 * 3600, true);
    emu.create_cluster("fresh");
    init_tables(&emu);
    strategy(
        &emu,
        "resize",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    strategy(&emu, "sleepy", "idle_suspend", json!({"idle_after_s": 60}));
    strategy(
        &emu,
        "fresh",
        "shrink_to_fit",
        json!({"max_replica_size": "50cc"}),
    );
    let catalog = |emu: &Emulator| ["resize", "sleepy", "fresh"].map(|c| emu.replicas(c));
    let before = catalog(&emu);

    emu.reset_stats();
    let text = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        text.stdout
            .contains("Plan: 2 to create, 2 to drop, on 3 clusters"),
        "{}",
        text.all()
    );
    clusterctl(&emu, &["dry-run", "--output", "json"]).ok();
    clusterctl(&emu, &["dry-run", "--exec-cluster", "sleepy"]).ok();
    let log = emu.sql_log();
    assert!(!log.is_empty());
    assert!(emu.writes().is_empty(), "writes: {:?}", emu.writes());
    assert_eq!(emu.stats().ddl, 0);
    assert_eq!(catalog(&emu), before);
    assert!(states(&emu).is_empty());
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM mz_cluster_strategy_actions")
            .as_deref(),
        Some("0")
    );

    // A role that can only read works too. Without mz_monitor_redacted it
    // cannot read the statement log (reference §8.4): activity is unknown,
    // so "sleepy" is not suspended, and it is said; the rest of the plan is
    // the same.
    let url = emu.readonly_url("public");
    let mut cmd = command();
    cmd.arg("dry-run").env("DATABASE_URL", url);
    let ro = run_cmd(cmd).ok();
    assert!(
        ro.stdout.contains("Plan: 2 to create, 1 to drop"),
        "{}",
        ro.all()
    );
    assert!(
        ro.stderr.contains("the statement log cannot be read")
            && ro.stderr.contains("mz_monitor_redacted"),
        "{}",
        ro.all()
    );
}

#[test]
fn json_output_of_dry_run_and_apply() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));

    let check_action = |a: &serde_json::Value| {
        assert_eq!(a["kind"], "create_replica", "{a}");
        assert_eq!(a["cluster"], "c", "{a}");
        assert_eq!(a["replica"], "r_50cc", "{a}");
        assert_eq!(a["size"], "50cc", "{a}");
        assert_eq!(
            a["sql"], r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#,
            "{a}"
        );
        assert_eq!(a["strategy"], "target_size", "{a}");
        let reasons = a["reasons"].as_array().expect("reasons");
        assert!(
            !reasons.is_empty() && reasons.iter().all(|r| r.is_string()),
            "{a}"
        );
    };

    let dry = clusterctl(&emu, &["dry-run", "--output", "json"]).ok();
    let doc = dry.json();
    assert_eq!(doc["format_version"], 2, "{doc}");
    assert_eq!(doc["command"], "dry-run", "{doc}");
    assert_eq!(doc["ok"], true, "{doc}");
    let clusters = doc["result"]["plan"]["clusters"]
        .as_array()
        .expect("clusters");
    assert_eq!(clusters.len(), 1, "{doc}");
    assert_eq!(clusters[0]["cluster"], "c");
    assert_eq!(clusters[0]["status"], "changes");
    let actions = clusters[0]["actions"].as_array().expect("actions");
    assert_eq!(actions.len(), 1, "{doc}");
    check_action(&actions[0]);
    assert_eq!(emu.replicas("c").len(), 1, "dry-run changed nothing");

    let applied = clusterctl(&emu, &["apply", "--output", "json"]).ok();
    let doc = applied.json();
    assert_eq!(doc["format_version"], 2, "{doc}");
    assert_eq!(doc["command"], "apply", "{doc}");
    check_action(&doc["result"]["plan"]["clusters"][0]["actions"][0]);
    let results = doc["result"]["apply"]["results"]
        .as_array()
        .expect("results");
    assert_eq!(results.len(), 1, "{doc}");
    check_action(&results[0]);
    assert_eq!(results[0]["status"], "executed", "{doc}");
    assert!(results[0]["action_id"].is_string(), "{doc}");
    assert!(doc["result"]["apply"]["run_id"].is_string(), "{doc}");

    // A converged run is still one JSON document.
    let doc = clusterctl(&emu, &["apply", "--output", "json"]).ok().json();
    assert_eq!(
        doc["result"]["apply"]["results"].as_array().map(Vec::len),
        Some(0)
    );
    // r_50cc exists but is not hydrated yet: the retirement of r_25cc waits.
    assert_eq!(doc["result"]["plan"]["clusters"][0]["status"], "waiting");
}

#[test]
fn the_exec_cluster_is_reported_and_never_changed() {
    let emu = Emulator::start();
    for name in ["ops", "idle"] {
        emu.create_cluster(name);
        emu.add_replica(name, "r1", "25cc");
        emu.set_replica_online(name, "r1"); // serves as the session cluster (§8.7)
        emu.add_activity(name, 2 * 3600, true);
    }
    init_tables(&emu);
    for name in ["ops", "idle"] {
        strategy(&emu, name, "idle_suspend", json!({"idle_after_s": 3600}));
    }

    let dry = clusterctl(
        &emu,
        &["dry-run", "--exec-cluster", "ops", "--output", "json"],
    )
    .ok();
    let doc = dry.json();
    let ops = doc["result"]["plan"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == "ops")
        .expect("ops is reported")
        .clone();
    assert_eq!(ops["status"], "unmanageable", "{ops}");
    assert!(
        ops["actions"].as_array().is_some_and(Vec::is_empty),
        "{ops}"
    );

    emu.reset_stats();
    for _ in 0..2 {
        let run = clusterctl(&emu, &["apply", "--exec-cluster", "ops"]).ok();
        assert!(
            run.stderr.contains("cluster ops")
                && run.stderr.contains("left alone")
                && run.stderr.contains("session runs on this cluster"),
            "{}",
            run.all()
        );
        assert!(!run.stdout.contains(r#""ops"."r1""#), "{}", run.all());
    }
    assert!(
        emu.sql_log()
            .iter()
            .any(|q| q.contains(r#"SET cluster = "ops""#)),
        "the session runs on ops: {:?}",
        emu.sql_log()
    );
    assert_eq!(replica_names(&emu, "ops"), vec!["r1"]);
    assert!(audit(&emu, "ops").is_empty());
    assert!(
        emu.replicas("idle").is_empty(),
        "the other idle cluster is suspended"
    );
}

#[test]
fn clusters_the_controller_must_not_touch_are_reported_not_changed() {
    let emu = Emulator::start();
    emu.create_cluster("refreshed");
    emu.add_replica("refreshed", "r1", "25cc");
    emu.set_schedule("refreshed", "on-refresh");
    for name in ["refreshed", "quickstart", "mz_system"] {
        emu.add_activity(name, 2 * 3600, true);
    }
    init_tables(&emu);
    for name in ["refreshed", "quickstart", "mz_system"] {
        strategy(&emu, name, "idle_suspend", json!({"idle_after_s": 60}));
    }
    // A row for a cluster that has since been dropped.
    emu.sql(
        r#"INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config)
           VALUES ('u999', 'idle_suspend', '{"idle_after_s": 60}')"#,
    );

    let run = clusterctl(&emu, &["apply"]).ok();
    for (name, why) in [
        ("refreshed", "SCHEDULE = ON REFRESH"),
        ("quickstart", "session runs on this cluster"),
        ("mz_system", "system cluster"),
    ] {
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(&format!("cluster {name} (")))
            .unwrap_or_else(|| panic!("{name} not reported:\n{}", run.all()));
        assert!(line.starts_with("warning:") && line.contains(why), "{line}");
    }
    assert!(
        run.stderr.contains("no cluster has id u999 (dropped?)"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    for name in ["refreshed", "quickstart", "mz_system"] {
        assert_eq!(replica_names(&emu, name), vec!["r1"], "{name}");
    }
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM mz_cluster_strategy_actions")
            .as_deref(),
        Some("0")
    );
}

#[test]
fn arguments_that_are_not_utf8_or_json_spelled_short_are_usage_errors() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    // Not UTF-8 (a byte 0xff in the password): clap's usage error, not a
    // panic quoting the connection string.
    let url = OsStr::from_bytes(b"postgres://u:S3cr3tMarker\xff@127.0.0.1:1/db");
    let cases: [Vec<&OsStr>; 3] = [
        vec![OsStr::new("dry-run"), OsStr::new("--postgres-url"), url],
        vec![OsStr::new("dry-run"), url],
        vec![OsStr::from_bytes(b"dry\xff")],
    ];
    for args in cases {
        let mut cmd = command();
        cmd.args(&args).env("RUST_BACKTRACE", "1");
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        no_backtrace(&run);
        assert!(!run.all().contains("S3cr3tMarker"), "{}", run.all());
    }
    // `-ojson` and `-o=json` ask for a JSON error document as `-o json` does.
    for flag in [
        &["-o", "json"][..],
        &["-ojson"],
        &["-o=json"],
        &["--output=json"],
    ] {
        let mut cmd = command();
        cmd.arg("dry-run").args(flag).arg("--bogus");
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{flag:?}: {}", run.all());
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{flag:?}: {e}: {}", run.all()));
        assert_eq!(doc["error"]["code"], "usage", "{flag:?}");
    }
    // What has no JSON form says so, as a JSON document.
    for args in [
        &["man", "-o", "json"][..],
        &["completions", "bash", "-o", "json"],
    ] {
        let mut cmd = command();
        cmd.args(args);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        let doc: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.all()));
        assert_eq!(doc["error"]["code"], "usage", "{args:?}");
    }
}

#[test]
fn a_database_url_that_is_not_utf8_is_named_and_stops_only_what_connects() {
    use std::os::unix::ffi::OsStrExt as _;
    let url = std::ffi::OsStr::from_bytes(b"postgres://u:S3cr3tMarker\xff@127.0.0.1:1/db");
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/wake-5s.toml");
    // A command that does not connect is not refused for it.
    let mut cmd = command();
    cmd.arg("simulate").arg(&scenario).env("DATABASE_URL", url);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.all());
    // One that connects names the variable, never its value; a `.env`
    // does not stand in for a DATABASE_URL that was set.
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=postgres://dotenv@127.0.0.1:1/db\n",
    )
    .expect("write .env");
    for args in [&["status"][..], &["status", "-o", "json"]] {
        let mut cmd = command();
        cmd.args(args)
            .current_dir(dir.path())
            .env("DATABASE_URL", url)
            .env("RUST_BACKTRACE", "1");
        let run = run_cmd(cmd);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        no_backtrace(&run);
        assert!(
            run.all().contains("DATABASE_URL is not valid UTF-8"),
            "{args:?}: {}",
            run.all()
        );
        assert!(!run.all().contains("S3cr3tMarker"), "{}", run.all());
        assert!(!run.all().contains("dotenv@"), "{}", run.all());
    }
}

#[test]
fn an_empty_database_url_is_named_not_taken_for_no_url() {
    // `.env` is not read for a variable the environment sets, even to
    // nothing: the error says so rather than "put DATABASE_URL in .env".
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(".env"),
        "DATABASE_URL=postgres://dotenv@127.0.0.1:1/db\n",
    )
    .expect("write .env");
    for value in ["", " "] {
        for args in [&["dry-run"][..], &["dry-run", "-o", "json"]] {
            let mut cmd = command();
            cmd.args(args)
                .current_dir(dir.path())
                .env("DATABASE_URL", value);
            let run = run_cmd(cmd);
            assert_eq!(run.code, 1, "{args:?}: {}", run.all());
            no_backtrace(&run);
            let all = run.all();
            assert!(
                all.contains("DATABASE_URL is set but empty")
                    && all.contains("a .env is not read for a variable that is set")
                    && !all.contains("no database given"),
                "{value:?} {args:?}: {all}"
            );
            assert!(!all.contains("dotenv@"), "{all}");
        }
    }
    // Unset, with no .env: no database given, as before.
    let empty = tempfile::tempdir().expect("tempdir");
    let mut cmd = command();
    cmd.arg("dry-run").current_dir(empty.path());
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("no database given"), "{}", run.all());
    // An empty --postgres-url beside a DATABASE_URL that is set: the flag
    // is named, a usage error (it was "no database given … set DATABASE_URL").
    for flag in [&["--postgres-url", ""][..], &["--postgres-url= "]] {
        let mut cmd = command();
        cmd.arg("dry-run")
            .args(flag)
            .current_dir(empty.path())
            .env("DATABASE_URL", "postgres://u:pw@127.0.0.1:1/db");
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{flag:?}: {}", run.all());
        assert!(
            run.stderr.contains("--postgres-url is empty"),
            "{flag:?}: {}",
            run.all()
        );
    }
}

#[test]
fn output_that_cannot_be_written_is_an_error_line_or_a_quiet_exit() {
    // A full disk: one error line, exit 1.
    for args in [&["init", "--print"][..], &["completions", "bash"], &["man"]] {
        let mut cmd = command();
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        cmd.args(args).stdout(full).env("RUST_BACKTRACE", "1");
        let run = run_cmd(cmd);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        no_backtrace(&run);
        assert!(
            run.stderr.contains("No space left on device"),
            "{args:?}: {}",
            run.all()
        );
    }
    // A reader that went away (`| head`): a quiet exit, as yes(1) does.
    for args in [&["init", "--print"][..], &["completions", "bash"]] {
        let mut cmd = command();
        cmd.args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .env("RUST_BACKTRACE", "1");
        let mut child = cmd.spawn().expect("spawn");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn control_characters_from_the_database_are_shown_escaped() {
    let emu = Emulator::start();
    emu.create_cluster("a");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "25cc"}));
    let reason = "line1\nline2\u{1b}[31mred\u{1b}]0;pwned\u{7}";
    clusterctl(&emu, &["strategy", "pause", "a", "--reason", reason]).ok();
    // A strategy type that holds them (written by hand): `describe` showed
    // it raw in its Strategies section.
    emu.create_cluster("b");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) VALUES ({}, {}, '{{}}')",
        lit(&emu.cluster_id("b")),
        lit(reason)
    ));
    for args in [
        &["status"][..],
        &["status", "-o", "wide"],
        &["describe", "a"],
        &["describe", "b"],
        &["dry-run", "-v"],
        &["strategy", "ls"],
        &["check"],
    ] {
        let run = clusterctl(&emu, args);
        assert!(run.code == 0 || run.code == 3, "{args:?}: {}", run.all());
        for c in ['\u{1b}', '\u{7}'] {
            assert!(!run.all().contains(c), "{args:?}: {:?}", run.all());
        }
        assert!(
            !run.all().lines().any(|l| l.starts_with("line2")),
            "{args:?}: a line of its own: {}",
            run.all()
        );
    }
}

#[test]
fn a_line_break_in_a_cluster_name_never_starts_a_line() {
    let emu = Emulator::start();
    let name = "team\nX-injected";
    let id = emu.create_cluster(name);
    emu.create_cluster("quiet");
    init_tables(&emu);
    // Actions and notes that name the cluster: a create, an idle wait, a pause.
    strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    strategy(&emu, name, "idle_suspend", json!({"idle_after_s": 600}));
    strategy(&emu, "quiet", "target_size", json!({"target_size": "25cc"}));
    for args in [
        &["dry-run", "-v"][..],
        &["status"],
        &["status", "-o", "wide"],
        &["describe", name],
        &["strategy", "ls"],
        &["check"],
        &["doctor"],
        &["apply", "-v"],
        &["history", "--cluster", name],
        &["strategy", "pause", name, "--reason", "maintenance"],
        &["status"],
        &["dry-run", "-v"],
        &["wipe-state", "--cluster", name],
    ] {
        let run = clusterctl(&emu, args);
        assert!([0, 2, 3].contains(&run.code), "{args:?}: {}", run.all());
        assert!(
            !run.all()
                .lines()
                .any(|l| l.trim_start().starts_with("X-injected")),
            "{args:?}: the name's second half is a line of its own:\n{}",
            run.all()
        );
    }
    // A suggested command names such a cluster by its id.
    let run = clusterctl(&emu, &["strategy", "pause", name]).ok();
    assert!(
        run.stdout
            .contains(&format!("`clusterctl strategy resume {id}`")),
        "{}",
        run.all()
    );
}

#[test]
fn empty_names_are_usage_errors_before_connecting() {
    let emu = Emulator::start();
    let cases: [&[&str]; 6] = [
        &["init", "--print", "--schema", ""],
        &["init", "--print", "--role", " "],
        &["dry-run", "--schema", ""],
        &["dry-run", "--exec-cluster", ""],
        &["dry-run", "--exec-cluster", "ops", "--create-replica", ""],
        &["history", "--replica", ""],
    ];
    for args in cases {
        emu.reset_stats();
        let run = clusterctl(&emu, args).code(64);
        no_backtrace(&run);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("empty (an unset variable?)"),
            "{args:?}: {}",
            run.all()
        );
        assert_eq!(emu.stats().statements, 0, "{args:?}: never connected");
    }
}

#[test]
fn an_empty_history_range_is_a_usage_error() {
    let emu = Emulator::start();
    init_tables(&emu);
    // The example is in the words the bounds were given in.
    for (since, until, example) in [
        ("1d", "2d", "--since 2d --until 1d"),
        (
            "2026-11-21",
            "2026-11-20",
            "--since 2026-12-01T00:00:00Z --until",
        ),
    ] {
        emu.reset_stats();
        let run = clusterctl(&emu, &["history", "--since", since, "--until", until]).code(64);
        assert!(
            run.stderr.contains("--since is later than --until") && run.stderr.contains(example),
            "{}",
            run.all()
        );
        assert_eq!(emu.stats().statements, 0, "never connected");
    }
    clusterctl(&emu, &["history", "--since", "2d", "--until", "1d"]).ok();
}

#[test]
fn wipe_state_names_a_cluster_that_exists_or_the_id_of_one_dropped() {
    let emu = Emulator::start();
    emu.create_cluster("keep");
    emu.create_cluster("gone");
    init_tables(&emu);
    for c in ["keep", "gone"] {
        strategy(&emu, c, "target_size", json!({"target_size": "25cc"}));
    }
    clusterctl(&emu, &["apply"]).ok();
    let gone = emu.cluster_id("gone");
    assert_eq!(states(&emu).len(), 2);
    // A name nothing has: an error, as for every --cluster.
    let run = clusterctl(&emu, &["wipe-state", "--cluster", "kep", "--yes"]).code(64);
    assert!(run.stderr.contains("did you mean 'keep'"), "{}", run.all());
    // Worded as every command's --cluster error, saying what else it read.
    assert!(
        run.stderr
            .contains("--cluster kep: no cluster has that name or id, and no state row names it")
            && run
                .stderr
                .contains("--cluster takes exact names or ids, --filter-clusters REGEX a pattern"),
        "{}",
        run.all()
    );
    assert_eq!(states(&emu).len(), 2);
    // Several: each named (only the first was), as history does.
    for cmd in [&["wipe-state", "--yes"][..], &["history"]] {
        let mut args = cmd.to_vec();
        args.extend(["--cluster", "nope_a,keep,nope_b"]);
        let run = clusterctl(&emu, &args).code(64);
        assert!(
            run.stderr
                .contains("--cluster: 2 names are no cluster's name or id: nope_a")
                && run.stderr.contains(", nope_b"),
            "{cmd:?}: {}",
            run.all()
        );
    }
    // The state of a dropped cluster, by its id.
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = '{gone}'; \
         DELETE FROM mz_catalog.mz_clusters WHERE id = '{gone}'"
    ));
    let run = clusterctl(&emu, &["wipe-state", "--cluster", &gone, "--yes"]).ok();
    assert!(run.stdout.contains("(1 row deleted)"), "{}", run.all());
    let left: Vec<String> = states(&emu).into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(left, vec![emu.cluster_id("keep")]);
    // A row of another state version (the Python tool's), of a cluster
    // dropped since: not ours to wipe (the README: a rollback to the
    // reference finds its rows), so the id names nothing.
    emu.sql(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ('u99', 1, '{}'::jsonb, now())",
    );
    let run = clusterctl(&emu, &["wipe-state", "--cluster", "u99", "--yes"]);
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(
        run.stderr.contains("no state row names it"),
        "{}",
        run.all()
    );
    let left: Vec<(String, i32)> = states(&emu).into_iter().map(|(c, v, _)| (c, v)).collect();
    assert_eq!(left, [(emu.cluster_id("keep"), 2), ("u99".to_string(), 1)]);
}

#[test]
fn a_negative_value_is_named_as_a_bad_value_not_an_unknown_flag() {
    let cases: [&[&str]; 6] = [
        &["dry-run", "--statement-timeout", "-1s"],
        &["dry-run", "--max-retries", "-1"],
        &["history", "--until", "-1h"],
        &["history", "--limit", "-1"],
        &[
            "strategy",
            "set",
            "c",
            "idle_suspend",
            "--idle-after-s",
            "-5m",
        ],
        &["simulate", "x.toml", "--seed", "-1"],
    ];
    for args in cases {
        let mut cmd = command();
        cmd.args(args);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        let bad = args.last().copied().unwrap_or_default();
        assert!(
            run.stderr.contains(&format!("invalid value '{bad}'")),
            "{args:?}: {}",
            run.all()
        );
    }
}

#[test]
fn an_invalid_log_filter_is_said_and_the_default_used() {
    // It was ignored silently: `-v` then seemed to do nothing.
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/scenarios/wake-5s.toml"
    );
    let mut cmd = command();
    cmd.args(["simulate", scenario, "--days", "1"])
        .env("CLUSTERCTL_LOG", "clusterctl=verbose[");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains("CLUSTERCTL_LOG=clusterctl=verbose[ is not a log filter"),
        "{}",
        run.all()
    );
    // A valid one is taken as it is, without a word.
    let mut cmd = command();
    cmd.args(["simulate", scenario, "--days", "1"])
        .env("CLUSTERCTL_LOG", "clusterctl=warn");
    let run = run_cmd(cmd);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.stderr.contains("not a log filter"), "{}", run.all());
}

/// A scenario file that is not TOML, or missing, is the operator's file
/// to mend: `error.code` `config` (it was `io`), exit 1, the file named.
#[test]
fn a_bad_scenario_file_is_a_config_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\ndays = [\n").expect("write");
    let missing = dir.path().join("missing.toml");
    for path in [&bad, &missing] {
        let mut cmd = command();
        cmd.arg("simulate").arg(path).args(["-o", "json"]);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 1, "{}", run.all());
        let doc = run.json();
        assert_eq!(doc["error"]["code"], "config", "{doc:#}");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        assert!(
            doc["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(name)),
            "{doc:#}"
        );
    }
}

/// `-q` is errors only: an invalid row's error is said, a dangling row's
/// warning and the statement log's note are not (they were).
#[test]
fn quiet_says_errors_only() {
    let emu = Emulator::start();
    init_tables(&emu);
    emu.create_hydrated_cluster("ok", "r_25cc", "25cc");
    strategy(&emu, "ok", "target_size", json!({"target_size": "25cc"}));
    emu.create_hydrated_cluster("bad", "r1", "25cc");
    strategy(&emu, "bad", "target_size", json!({"target_size": "huge"}));
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         VALUES ('u999', 'target_size', '{\"target_size\": \"25cc\"}', now())",
    );
    let loud = clusterctl(&emu, &["dry-run"]);
    assert!(loud.stderr.contains("warning: "), "{}", loud.all());
    let run = clusterctl(&emu, &["dry-run", "-q"]);
    assert_eq!(run.code, loud.code, "{}", run.all());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(!lines.is_empty(), "{}", run.all());
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("error: ") && l.contains("bad")),
        "{}",
        run.all()
    );
}

/// `simulate --compare` draws no single run: `--timeline` and `--plot` are
/// refused with it (they were ignored without a word); and the run the
/// alternatives are compared with is named after `--strategies`' file when
/// one is given (it was called "current").
#[test]
fn simulate_compare_names_its_runs_and_refuses_what_it_cannot_draw() {
    let dir = tempfile::tempdir().expect("temp dir");
    let alt = |name: &str, size: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        let text = format!(
            "name = \"{name}\"\n[[clusters]]\nmatch = \"adhoc\"\nstrategies = [{{ type = \
             \"target_size\", config = {{ target_size = \"{size}\" }} }}]\n"
        );
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8").to_string()
    };
    let (small, large) = (alt("small", "25cc"), alt("large", "50cc"));
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/scenarios/wake-5s.toml"
    );
    let timeline = dir.path().join("t.csv");
    for flag in ["--timeline", "--plot"] {
        let mut cmd = command();
        cmd.args([
            "simulate",
            scenario,
            "--days",
            "1",
            "--compare",
            &large,
            flag,
        ])
        .arg(&timeline);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{flag}: {}", run.all());
        assert!(run.stderr.contains("--compare"), "{flag}: {}", run.all());
    }
    assert!(!timeline.exists());
    let mut cmd = command();
    cmd.args(["simulate", scenario, "--days", "1", "-o", "json"])
        .args(["--strategies", &small, "--compare", &large]);
    let doc = run_cmd(cmd).ok().json();
    let names: Vec<&str> = doc["result"]["runs"]
        .as_array()
        .map(|runs| runs.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["small", "large"], "{doc:#}");
}

/// `describe` of a cluster the statement log has nothing of (the exec
/// cluster, whose statements are clusterctl's own, or one never queried)
/// says why its activity is unknown as the log is: no rows at all, or
/// none of its own (it said "the statement log has no rows" while the JSON
/// beside it said the log had some).
#[test]
fn describe_says_why_activity_is_unknown_as_the_log_is() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("a", "r1", "25cc");
    emu.create_hydrated_cluster("quiet", "r1", "25cc");
    init_tables(&emu);
    let activity = |emu: &Emulator| {
        let out = clusterctl(emu, &["describe", "quiet"]).ok().stdout;
        out.lines()
            .find(|l| l.trim_start().starts_with("Activity:"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        activity(&emu).contains("unknown (the statement log has no rows)"),
        "{}",
        activity(&emu)
    );
    emu.add_activity("a", 60, true);
    let described = clusterctl(&emu, &["describe", "quiet", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        described["result"]["signals"]["statement_log_has_rows"], true,
        "{described:#}"
    );
    assert!(
        activity(&emu).contains("unknown (no statement of its own in the statement log"),
        "{}",
        activity(&emu)
    );
}

/// A session cluster whose name begins with a hyphen, as the hint of
/// `--cluster -dash` names it (`--exec-cluster -dash`): it was an unknown
/// flag `-d` (an outside re-check).
#[test]
fn exec_cluster_takes_a_name_beginning_with_a_hyphen() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("-dash", "r1", "25cc");
    emu.set_replica_online("-dash", "r1");
    init_tables(&emu);
    let run = clusterctl(&emu, &["dry-run", "--exec-cluster", "-dash"]).ok();
    assert!(!run.stderr.contains("unexpected argument"), "{}", run.all());
}

/// `status` at a fleet's scale: a line of totals by condition, and
/// `--condition`/`--not-condition` to list only some (3 000 lines with no
/// totals and `grep -v Converged` was the way: the thirty-fifth session's
/// outside check at scale).
#[test]
fn status_counts_the_conditions_and_lists_only_those_asked_for() {
    let emu = Emulator::start();
    for name in ["done1", "done2", "empty"] {
        emu.create_cluster(name);
    }
    for name in ["done1", "done2"] {
        emu.add_replica(name, "r_25cc", "25cc");
        emu.set_hydrated(name, "r_25cc", true);
    }
    init_tables(&emu);
    for name in ["done1", "done2", "empty"] {
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    let listed = |args: &[&str]| -> Vec<String> {
        let mut argv = vec!["status"];
        argv.extend(args);
        let run = clusterctl(&emu, &argv);
        assert_eq!(run.code, 0, "{argv:?}: {}", run.all());
        run.stdout.lines().map(str::to_string).collect()
    };
    let all = listed(&[]);
    assert_eq!(all.len(), 5, "{all:#?}");
    assert_eq!(all[4], "3 clusters: 1 Resuming, 2 Converged.", "{all:#?}");
    // Any case, comma-separated; the totals stay the selection's.
    let some = listed(&["--condition", "resuming,suspended"]);
    assert_eq!(some.len(), 3, "{some:#?}");
    assert!(some[1].starts_with("empty "), "{some:#?}");
    assert_eq!(some[2], all[4], "{some:#?}");
    let unsettled = listed(&["--not-condition", "Converged"]);
    assert_eq!(unsettled, some, "{unsettled:#?}");
    let none = listed(&["--condition", "CrashLooping"]);
    assert_eq!(
        none,
        ["No cluster in the conditions asked for. 3 clusters: 1 Resuming, 2 Converged."],
        "{none:#?}"
    );
    // JSON: the clusters listed, the counts of all.
    let doc = clusterctl(&emu, &["status", "--condition", "Converged", "-o", "json"])
        .ok()
        .json();
    let names: Vec<&str> = doc["result"]["clusters"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["cluster"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["done1", "done2"], "{doc:#}");
    assert_eq!(
        doc["result"]["counts"],
        json!({"Resuming": 1, "Converged": 2}),
        "{doc:#}"
    );
    // A condition that does not exist is a usage error naming them.
    let bad = clusterctl(&emu, &["status", "--condition", "Sleeping"]);
    assert_eq!(bad.code, 64, "{}", bad.all());
    assert!(bad.stderr.contains("possible values"), "{}", bad.all());
}

/// A simulation's statements act on no database: `-v` does not log them
/// as `apply` logs its DDL ("executing DROP …" at INFO, which a log
/// pipeline reads as a live run: an outside check); `-vv` shows them,
/// marked simulated, with the simulated time.
#[test]
fn a_simulations_statements_are_not_logged_as_executed() {
    let root = env!("CARGO_MANIFEST_DIR");
    let scenario = format!("{root}/examples/scenarios/nightly-batch.toml");
    let run = |v: &str| {
        let mut cmd = command();
        cmd.args(["simulate", &scenario, "--days", "1", v]);
        run_cmd(cmd)
    };
    let info = run("-v");
    assert_eq!(info.code, 0, "{}", info.all());
    assert!(!info.stderr.contains("executing"), "{}", info.stderr);
    let debug = run("-vv");
    assert!(
        debug
            .stderr
            .contains("executing (simulated) simulated=true at=2026-"),
        "{}",
        debug.stderr
    );
    // No history is said by leaving it out: `--history 0s` built a
    // backtest's scenario it then refused (an outside check).
    let mut cmd = command();
    cmd.args(["simulate", &scenario, "--history", "0s"]);
    let zero = run_cmd(cmd);
    assert_eq!(zero.code, 64, "{}", zero.all());
    assert!(zero.stderr.contains("is no history"), "{}", zero.all());
}
