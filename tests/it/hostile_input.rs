//! Bad input never takes the fleet down (issue 14): a hostile strategy row
//! only ever skips its own cluster, every duration and count on the command
//! line is bounded, a mistyped `--schema` is refused instead of starting an
//! empty set of tables, concurrent first runs converge, concurrent one-shot
//! runs never lose metrics, and a scenario of unbounded size fails fast.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::json;

use crate::cli::{clusterctl, command, init_tables, lit, one_error_line, run_cmd, strategy, Run};
use crate::support::Emulator;

/// The read commands, which must answer whatever the strategy table holds.
const READ_COMMANDS: &[&[&str]] = &[
    &["dry-run", "--output", "json"],
    &["status", "--output", "json"],
    &["check", "--output", "json"],
    &["strategy", "ls", "--output", "json"],
    &["history", "--output", "json"],
];

/// The plan entry of cluster `name` in a dry-run/apply JSON document.
fn planned<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["result"]["plan"]["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["cluster"] == name))
        .unwrap_or_else(|| panic!("cluster {name} not in the plan: {doc}"))
}

/// `good` is planned (one create) and every read command answers, exit 0
/// (clean) or 3 (problems found), never 1.
#[track_caller]
fn fleet_still_answers(emu: &Emulator, context: &str) {
    for args in READ_COMMANDS {
        let run = clusterctl(emu, args);
        assert!(
            run.code == 0 || run.code == 3,
            "{context}: `{}` failed:\n{}",
            args.join(" "),
            run.all()
        );
        assert!(!run.all().contains("panicked"), "{}", run.all());
        let doc = run.json();
        if args[0] == "dry-run" {
            let good = planned(&doc, "good");
            assert_eq!(good["status"], "changes", "{context}: {good}");
            assert_eq!(
                good["actions"][0]["replica"], "r_50cc",
                "{context}: the good cluster is planned: {good}"
            );
        }
    }
}

/// Two clusters: `good` (a valid row: create r_50cc) and `bad`.
fn two_clusters() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("good", "r1", "25cc");
    emu.create_hydrated_cluster("bad", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "good", "target_size", json!({"target_size": "50cc"}));
    emu.add_activity("good", 10, true);
    emu.add_activity("bad", 10, true);
    emu
}

/// A cluster named with Materialize's longest identifier (255 bytes, some
/// of them two-byte characters) still gets its burst and `shrink_to_fit`
/// replicas: their derived names are cut to fit, the same on every run.
#[test]
fn a_cluster_with_the_longest_name_gets_replicas_named_within_the_limit() {
    let emu = Emulator::start();
    let name = format!("{}{}", "é".repeat(20), "x".repeat(215));
    assert_eq!(name.len(), 255);
    emu.create_cluster(&name);
    emu.add_index(&name);
    emu.add_replica(&name, "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, &name, "burst", json!({"burst_replica_size": "800cc"}));
    clusterctl(&emu, &["apply"]).ok();
    let names: Vec<String> = emu.replicas(&name).into_iter().map(|(n, _)| n).collect();
    let burst = names
        .iter()
        .find(|n| n.ends_with("-burst"))
        .unwrap_or_else(|| panic!("no burst replica in {names:?}"));
    assert!(burst.len() <= 255, "{} bytes", burst.len());
    // The next run finds it by the same name: nothing more to do.
    let again = clusterctl(&emu, &["apply"]).ok();
    assert!(again.stdout.contains("No changes"), "{}", again.all());
    emu.set_hydrated(&name, "r1", true);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas(&name).len(), 1, "the burst left");
    // shrink_to_fit's candidates (`<cluster>_<size>`) likewise, on a
    // cluster whose name shares the first 20 characters.
    let other = format!("{}{}", "é".repeat(20), "y".repeat(215));
    emu.create_cluster(&other);
    emu.add_index(&other);
    strategy(
        &emu,
        &other,
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    clusterctl(&emu, &["apply"]).ok();
    let names: Vec<String> = emu.replicas(&other).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 3, "25cc, 50cc and 100cc: {names:?}");
    assert!(names.iter().all(|n| n.len() <= 255), "{names:?}");
    let again = clusterctl(&emu, &["apply"]).ok();
    assert!(again.stdout.contains("No changes"), "{}", again.all());
}

/// Inserts a raw strategy row: cluster id, type, config (JSON text, as
/// PostgreSQL reads it) and `updated_at` (SQL expression).
fn raw_row(emu: &Emulator, cluster_id: &str, ty: &str, config: &str, updated_at: &str) {
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         VALUES ({}, {}, {}::jsonb, {updated_at})",
        lit(cluster_id),
        lit(ty),
        lit(config)
    ));
}

/// A row dated `infinity` or past the years the client holds is read as
/// undated (the oldest of its cluster and type): `strategy set` and `rm`
/// said they replaced or removed it and left it, to take effect after.
#[test]
fn rows_dated_beyond_the_clients_years_are_removed_with_the_rest() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    let id = emu.cluster_id("c");
    let rows =
        || emu.query_strings("SELECT config->>'target_size' FROM mz_cluster_strategies ORDER BY 1");
    let set = [
        "strategy",
        "set",
        "c",
        "target_size",
        "--target-size",
        "50cc",
    ];
    for at in ["'infinity'", "'294276-12-31 23:59:59+00'"] {
        raw_row(&emu, &id, "target_size", r#"{"target_size": "100cc"}"#, at);
        let run = clusterctl(&emu, &set).ok();
        assert_eq!(rows(), [[Some("50cc".to_string())]], "{at}: {}", run.all());
        raw_row(&emu, &id, "target_size", r#"{"target_size": "100cc"}"#, at);
        let run = clusterctl(&emu, &["strategy", "rm", "c", "target_size"]).ok();
        assert!(rows().is_empty(), "{at}: {:?}\n{}", rows(), run.all());
    }
    // A row dated ahead: the new row is dated after it, to be the newest,
    // but its audit row is dated now (it was dated in the year 3000, first
    // in `history` for good).
    raw_row(
        &emu,
        &id,
        "target_size",
        r#"{"target_size": "100cc"}"#,
        "'3000-01-01'",
    );
    clusterctl(&emu, &set).ok();
    let dated = emu.query_strings(
        "SELECT (SELECT max(updated_at) > '2999-01-01' FROM mz_cluster_strategies)::text, \
                (SELECT max(created_at) < now() + INTERVAL '1 hour' FROM mz_cluster_strategy_actions)::text",
    );
    let t = Some("true".to_string());
    assert_eq!(dated, [[t.clone(), t]]);
}

/// A row with an empty cluster id and type (written by hand): `check`
/// says so, and the other cluster is still checked. It printed `cluster
/// id : : …`.
#[test]
fn check_names_an_empty_cluster_id_and_type() {
    let emu = two_clusters();
    raw_row(&emu, "", "", "{}", "now()");
    let run = clusterctl(&emu, &["check"]).code(3);
    assert!(
        run.stdout
            .contains("error: cluster id (empty): type (empty): "),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("Checked 2 strategy rows"),
        "{}",
        run.all()
    );
    // `strategy ls` says it too (`strategy  of  (no such cluster)`).
    let ls = clusterctl(&emu, &["strategy", "ls"]).ok();
    assert!(
        ls.all().contains("(empty id: no such cluster)") && !ls.all().contains("of  ("),
        "{}",
        ls.all()
    );
}

#[test]
fn an_idle_after_s_out_of_range_skips_only_its_cluster() {
    let emu = two_clusters();
    // Refused at parse time, with the reason, by both ways of `strategy set`.
    let run = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "bad",
            "idle_suspend",
            "--idle-after-s",
            "10000000000000000",
        ],
    );
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(run.stderr.contains("longer than a year"), "{}", run.stderr);
    let run = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "bad",
            "idle_suspend",
            "--config",
            r#"{"idle_after_s": 10000000000000000}"#,
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("at most 31622400"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);

    // Written behind our back, it skips its own cluster only.
    let bad = emu.cluster_id("bad");
    for idle in ["10000000000000000", "1e300", "31622401", "-1"] {
        emu.sql("DELETE FROM mz_cluster_strategies WHERE strategy_type = 'idle_suspend'");
        raw_row(
            &emu,
            &bad,
            "idle_suspend",
            &format!(r#"{{"idle_after_s": {idle}}}"#),
            "now()",
        );
        fleet_still_answers(&emu, idle);
        let run = clusterctl(&emu, &["apply"]);
        assert_eq!(run.code, 3, "{idle}: {}", run.all());
        assert!(
            run.stderr.contains("cluster bad (") && run.stderr.contains("idle_after_s"),
            "{idle}: {}",
            run.stderr
        );
        assert!(run.stdout.contains("r_50cc"), "{idle}: {}", run.all());
        // Back to the start: the good cluster has a create to plan again.
        emu.sql(
            "DELETE FROM mz_catalog.mz_cluster_replicas WHERE name = 'r_50cc'; \
             DELETE FROM mz_cluster_strategy_state",
        );
    }
    // Even once the cluster is gone, `strategy rm` removes the row.
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_clusters WHERE id = {}",
        lit(&bad)
    ));
    clusterctl(&emu, &["strategy", "rm", &bad]).ok();
    clusterctl(&emu, &["check"]).ok();
}

/// `updated_at` is any timestamp the database holds, including some the
/// client cannot represent; such a row was once an error for every command.
#[test]
fn an_unrepresentable_updated_at_skips_nothing_else() {
    let emu = two_clusters();
    let bad = emu.cluster_id("bad");
    for at in [
        "'infinity'",
        "'-infinity'",
        "'294276-12-31 23:59:59+00'",
        "'4713-01-01 00:00:00+00 BC'",
    ] {
        emu.sql(&format!(
            "DELETE FROM mz_cluster_strategies WHERE cluster_id = {}",
            lit(&bad)
        ));
        raw_row(&emu, &bad, "target_size", r#"{"target_size": "25cc"}"#, at);
        raw_row(&emu, &bad, "burst", r#"{"burst_replica_size": "nope"}"#, at);
        fleet_still_answers(&emu, at);
        let run = clusterctl(&emu, &["check"]);
        assert_eq!(run.code, 3, "{at}: {}", run.all());
        assert!(
            run.stdout.contains("unknown size 'nope'"),
            "{at}: {}",
            run.all()
        );
    }
}

/// An audit row without a `created_at` (written by hand: the column allows
/// NULL) sorted first, newest of all: `history --limit 1` said "No actions
/// recorded" when two did, and `status` showed no last action for its
/// cluster. It is the
/// oldest now, as a state row without `updated_at` is. And it is shown:
/// `history` left it out (it had no time to print); its time is `unknown`
/// now, as `strategy ls` says of a row without `updated_at` (JSON null).
/// Executed `create_replica` audit rows of cluster id `cluster`, written
/// by hand with `created_at` the SQL `at` (`NULL`, `'infinity'`).
fn executed_creates(emu: &Emulator, cluster: &str, ids: &[&str], at: &str) {
    for id in ids {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
             VALUES ({}, {}, 'SELECT 1', '{{\"kind\": \"create_replica\"}}', true, {at})",
            lit(id),
            lit(cluster)
        ));
    }
}

#[test]
fn an_audit_row_without_a_time_hides_no_other() {
    let emu = two_clusters();
    let good = emu.cluster_id("good");
    clusterctl(&emu, &["strategy", "pause", "good"]).ok();
    executed_creates(&emu, &good, &["timeless1", "timeless2"], "NULL");
    let doc = clusterctl(&emu, &["history", "--limit", "1", "-o", "json"])
        .ok()
        .json();
    let entries = doc["result"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{doc}");
    assert_eq!(entries[0]["kind"], "strategy_pause", "{doc}");
    let doc = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let good_status = doc["result"]["clusters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["cluster"] == "good"))
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(
        good_status["last_action"]["kind"], "strategy_pause",
        "{doc}"
    );
    let doc = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let entries = doc["result"]["entries"].as_array().expect("entries");
    let ids: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action_id"].as_str())
        .filter(|id| id.starts_with("timeless"))
        .collect();
    assert_eq!(ids, ["timeless2", "timeless1"], "shown, last: {doc}");
    assert_eq!(entries.len(), 3, "{doc}");
    assert_eq!(entries[2]["created_at"], json!(null), "{doc}");
    crate::json_schema::conforms(&crate::json_schema::schema(), &doc);
    let run = clusterctl(&emu, &["history"]).ok();
    let timeless: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("unknown "))
        .collect();
    assert_eq!(timeless.len(), 2, "{}", run.all());
    assert!(timeless[0].contains("create replica"), "{}", run.all());

    // A cluster whose rows all lack a time has no last action to show, and
    // of two rows of the same newest time one is shown, the same each time.
    let bad = emu.cluster_id("bad");
    let row = |id: &str, cluster: &str, kind: &str, at: &str| {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
             VALUES ('{id}', {}, 'SELECT 1', '{{\"kind\": \"{kind}\"}}', true, {at})",
            lit(cluster)
        ));
    };
    row("timeless3", &bad, "drop_replica", "NULL");
    let newest = "TIMESTAMPTZ '2100-01-01 00:00:00+00'";
    row("tie_b", &good, "create_replica", newest);
    row("tie_a", &good, "drop_replica", newest);
    let doc = clusterctl(&emu, &["status", "--all", "-o", "json"])
        .ok()
        .json();
    let of = |name: &str| crate::crash_loop::entry_of(&doc, name)["last_action"].clone();
    assert_eq!(of("bad"), json!(null), "{doc}");
    assert_eq!(of("good")["kind"], "create_replica", "{doc}");
    // The same read for one cluster (another plan of it).
    for (name, kind) in [("bad", json!(null)), ("good", json!("create_replica"))] {
        let one = clusterctl(&emu, &["status", "--cluster", name, "-o", "json"])
            .ok()
            .json();
        let last = &one["result"]["clusters"][0]["last_action"];
        assert_eq!(
            if last.is_null() { last } else { &last["kind"] },
            &kind,
            "{one}"
        );
    }
}

/// Audit rows dated `infinity` (PostgreSQL takes it; written by hand) were
/// left out of `history`, `describe` and `status` (their time does not
/// parse), and sorted first they took `--limit`'s places: `--limit 1`
/// said no action was recorded (the thirty-fourth session's outside check).
/// They are rows without a time: shown last, never a last action.
#[test]
fn an_audit_row_dated_infinity_is_one_without_a_time() {
    let emu = two_clusters();
    let good = emu.cluster_id("good");
    clusterctl(&emu, &["strategy", "pause", "good"]).ok();
    executed_creates(&emu, &good, &["endless1", "endless2"], "'infinity'");
    let doc = clusterctl(&emu, &["history", "--limit", "1", "-o", "json"])
        .ok()
        .json();
    let entries = doc["result"]["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1, "{doc}");
    assert_eq!(entries[0]["kind"], "strategy_pause", "{doc}");
    let doc = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let ids: Vec<&str> = doc["result"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 3, "every row: {doc}");
    assert!(
        ids[1..].iter().all(|id| id.starts_with("endless")),
        "last: {doc}"
    );
    let doc = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let last = &crate::crash_loop::entry_of(&doc, "good")["last_action"];
    assert_eq!(last["kind"], "strategy_pause", "{doc}");
    let one = clusterctl(&emu, &["status", "--cluster", "good", "-o", "json"])
        .ok()
        .json();
    let last = &one["result"]["clusters"][0]["last_action"];
    assert_eq!(last["kind"], "strategy_pause", "{one}");
    // In no range: `infinity` is after every --since.
    let doc = clusterctl(&emu, &["history", "--since", "1h", "-o", "json"])
        .ok()
        .json();
    let ids: Vec<&str> = doc["result"]["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action_id"].as_str())
        .collect();
    assert!(!ids.iter().any(|id| id.starts_with("endless")), "{doc}");
}

/// An outcome is written to open rows only: `apply` settling an open row
/// rewrote a settled one sharing its `action_id` (another tool's, or a
/// hand-written one) as "found it not applied" (outside check).
#[test]
fn settling_an_open_row_leaves_a_settled_one_of_the_same_id() {
    let emu = two_clusters();
    clusterctl(&emu, &["strategy", "pause", "good"]).ok();
    let bad = emu.cluster_id("bad");
    for (executed, ago) in [("true", "1 hour"), ("NULL", "59 minutes")] {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
             VALUES ('dup', {}, 'DROP CLUSTER REPLICA \"bad\".\"r9\"', \
             '{{\"kind\": \"drop_replica\", \"replica\": \"r9\"}}', {executed}, \
             now() - INTERVAL '{ago}')",
            lit(&bad)
        ));
    }
    clusterctl(&emu, &["apply"]).ok();
    let rows = emu.query_strings(
        "SELECT executed::text, error_message FROM mz_cluster_strategy_actions \
         WHERE action_id = 'dup' ORDER BY created_at",
    );
    assert_eq!(rows[0], [Some("true".to_string()), None], "{rows:?}");
    assert!(rows[1][0].is_some(), "the open row is settled: {rows:?}");
}

/// `wipe-state` deleted the reference's `state_version` 1 rows too, which
/// the README promises to leave for a rollback to mz-clusterctl.
#[test]
fn wipe_state_leaves_the_references_rows() {
    let emu = two_clusters();
    clusterctl(&emu, &["apply"]).ok();
    let good = emu.cluster_id("good");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state VALUES ({}, 1, '{{\"x\": 1}}', now()), \
         ('u999', 1, '{{\"x\": 2}}', now())",
        lit(&good)
    ));
    let versions = |emu: &Emulator| {
        emu.query_strings(
            "SELECT state_version::text, count(*)::text FROM mz_cluster_strategy_state \
             GROUP BY 1 ORDER BY 1",
        )
    };
    assert_eq!(versions(&emu)[0], [Some("1".into()), Some("2".into())]);
    clusterctl(&emu, &["wipe-state", "--cluster", "good", "--yes"]).ok();
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    assert_eq!(
        versions(&emu),
        [[Some("1".to_string()), Some("2".to_string())]]
    );
    // An id with only the reference's rows names nothing to wipe.
    let run = clusterctl(&emu, &["wipe-state", "--cluster", "u999", "--yes"]);
    assert_eq!(run.code, 64, "{}", run.all());
}

/// Every duration flag and every count flag: a value past its bound is one
/// clear line and exit 64, never a panic; the largest accepted value runs.
#[test]
fn every_duration_and_count_flag_is_bounded() {
    let emu = Emulator::start();
    init_tables(&emu);
    let huge = "18446744073709551616"; // u64::MAX + 1
    let cases: &[(&[&str], &str)] = &[
        (&["apply", "--lease-ttl"], "300000y"),
        (&["apply", "--wait"], "300000y"),
        (&["apply", "--statement-timeout"], "300000y"),
        (&["apply", "--resize-timeout"], "300000y"),
        (&["apply", "--watch", "--interval"], "300000y"),
        (&["wipe-state", "--lease-ttl"], "300000y"),
        (&["history", "--since"], "300000y"),
        (&["dry-run", "--connect-timeout"], huge),
        (&["dry-run", "--connect-timeout"], "31622401"),
        (&["dry-run", "--max-retries"], huge),
        (&["dry-run", "--max-retries"], "21"),
        (&["history", "--since"], "99999d"),
        (&["simulate", "x.toml", "--history"], "121d"),
        (&["apply", "--max-actions"], huge),
        (&["history", "--limit"], "4294967296"),
        (&["simulate", "x.toml", "--seed"], huge),
        (&["simulate", "x.toml", "--seed"], "1e9"),
        (&["describe", "c", "--history"], huge),
        (&["describe", "c", "--history"], "1e9"),
        // A hyphen value is a bad value, not an unknown flag.
        (&["dry-run", "--connect-timeout"], "-5m"),
        (&["dry-run", "--max-retries"], "-1x"),
        (&["describe", "c", "--history"], "-5"),
        (
            &["strategy", "set", "c", "idle_suspend", "--idle-after-s"],
            "300000y",
        ),
        (
            &["strategy", "set", "c", "shrink_to_fit", "--min-oom-count"],
            huge,
        ),
        (&["strategy", "set", "c", "limits", "--max-replicas"], huge),
        (
            &["strategy", "set", "c", "limits", "--max-credits-per-hour"],
            "1e400",
        ),
    ];
    for (args, value) in cases {
        let run = clusterctl(&emu, &[args, &[*value][..]].concat());
        assert_eq!(run.code, 64, "{args:?} {value}: {}", run.all());
        let line = one_error_line(&run);
        assert!(line.contains(value), "{args:?}: the value is named: {line}");
    }
    // The largest accepted values work (a year; the count limits).
    for args in [
        &["apply", "--lease-ttl", "366d", "--wait", "1s"][..],
        &[
            "dry-run",
            "--statement-timeout",
            "366d",
            "--resize-timeout",
            "366d",
        ],
        &[
            "dry-run",
            "--connect-timeout",
            "31622400",
            "--max-retries",
            "20",
        ],
        &["history", "--since", "366d", "--limit", "4294967295"],
        &["apply", "--max-actions", "18446744073709551615"],
    ] {
        clusterctl(&emu, args).ok();
    }
}

#[test]
fn a_schema_that_does_not_exist_is_created_only_by_init() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    let schema_exists = |name: &str| {
        emu.query_one(&format!(
            "SELECT count(*)::text FROM pg_namespace WHERE nspname = {}",
            lit(name)
        ))
        .as_deref()
            == Some("1")
    };
    for args in [
        &["apply"][..],
        &["wipe-state"],
        &["unlock", "--force"],
        &["dry-run"],
        &["status"],
        &["check"],
        &["history"],
        &["strategy", "ls"],
        &[
            "strategy",
            "set",
            "c",
            "target_size",
            "--target-size",
            "25cc",
        ],
        &["strategy", "rm", "c"],
        &["strategy", "pause", "c"],
        &["strategy", "resume", "c"],
        &["describe", "c"],
        &["doctor"],
    ] {
        let run = clusterctl(&emu, &[args, &["--schema", "typo"][..]].concat());
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        let line = one_error_line(&run);
        // Not "the tables are missing: run init" (which would create it).
        assert!(
            line.contains("schema \"typo\" does not exist"),
            "{args:?}: names the schema: {line}"
        );
        assert!(!schema_exists("typo"), "{args:?} created the schema");
    }
    // The writers say exactly what is wrong.
    let line = one_error_line(&clusterctl(&emu, &["apply", "--schema", "typo"]));
    assert!(line.contains("schema \"typo\" does not exist"), "{line}");
    assert!(line.contains("clusterctl init --schema typo"), "{line}");
    // Quoted as a shell takes it: the fix is pasted.
    let line = one_error_line(&clusterctl(&emu, &["status", "--schema", "my schema"]));
    assert!(
        line.contains("`clusterctl init --schema 'my schema'`"),
        "{line}"
    );

    // init creates it; then every command works in it.
    clusterctl(&emu, &["init", "--schema", "typo"]).ok();
    assert!(schema_exists("typo"));
    clusterctl(&emu, &["apply", "--schema", "typo"]).ok();
    clusterctl(&emu, &["wipe-state", "--schema", "typo"]).ok();
    // An existing schema without our tables: apply creates the tables.
    emu.sql("CREATE SCHEMA empty_but_there");
    clusterctl(&emu, &["apply", "--schema", "empty_but_there"]).ok();
    clusterctl(&emu, &["dry-run", "--schema", "empty_but_there"]).ok();
    // A schema whose name holds a space: its tables whole. `init` said at
    // every run that it made again `"my schema"."""my"` (four times).
    for _ in 0..2 {
        let init = clusterctl(&emu, &["init", "--schema", "my schema"]).ok();
        assert!(!init.all().contains("Made again"), "{}", init.all());
    }
    let print = clusterctl(&emu, &["init", "--print", "--schema", "my schema"]).ok();
    assert!(
        print
            .stdout
            .contains(r#"GRANT SELECT, INSERT, UPDATE ON "my schema"."clusterctl_lease" TO"#),
        "{}",
        print.stdout
    );
}

fn spawn(emu: &Emulator, args: &[&str]) -> Child {
    let mut cmd: Command = command();
    cmd.args(args)
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn clusterctl")
}

fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("clusterctl ends");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// (version, rows recording it), by version.
fn migration_rows(emu: &Emulator, schema: &str) -> Vec<(String, String)> {
    emu.query_strings(&format!(
        "SELECT version::text, count(*)::text FROM {schema}.clusterctl_schema_migrations \
         GROUP BY version ORDER BY version"
    ))
    .into_iter()
    .map(|r| {
        (
            r[0].clone().unwrap_or_default(),
            r[1].clone().unwrap_or_default(),
        )
    })
    .collect()
}

#[test]
fn twelve_concurrent_first_runs_all_succeed_and_record_each_migration_once() {
    for round in 0..3 {
        let emu = Emulator::start();
        emu.create_hydrated_cluster("c", "r1", "25cc");
        let children: Vec<Child> = (0..12)
            // Commands that may create the tables (wipe-state never does,
            // and a busy lease is an error for it).
            .map(|i| match i % 3 {
                0 => spawn(&emu, &["init"]),
                _ => spawn(&emu, &["apply"]),
            })
            .collect();
        for child in children {
            let run = finish(child);
            assert_eq!(run.code, 0, "round {round}: {}", run.all());
        }
        let rows = migration_rows(&emu, "public");
        assert!(!rows.is_empty());
        for (version, count) in &rows {
            assert_eq!(count, "1", "round {round}: migration {version}: {rows:?}");
        }
        let controller =
            emu.query_one("SELECT count(*)::text FROM clusterctl_lease WHERE name = 'controller'");
        assert_eq!(controller.as_deref(), Some("1"), "round {round}");
        // Every table is there and the lease works.
        clusterctl(&emu, &["apply"]).ok();
        clusterctl(&emu, &["init"]).ok();
    }
}

#[test]
fn the_sql_of_init_print_run_twice_is_harmless() {
    let emu = Emulator::start();
    let mut cmd = command();
    cmd.args(["init", "--print", "--schema", "ops"]);
    let printed = run_cmd(cmd).ok().stdout;
    let tables = printed.split("\n-- Privileges").next().unwrap_or_default();
    emu.sql(tables);
    emu.sql(tables);
    for (version, count) in migration_rows(&emu, "ops") {
        assert_eq!(count, "1", "migration {version} recorded twice");
    }
    let leases = emu.query_one("SELECT count(*)::text FROM ops.clusterctl_lease");
    assert_eq!(leases.as_deref(), Some("1"));
    let run = clusterctl(&emu, &["init", "--schema", "ops"]).ok();
    assert_eq!(run.stdout, "The tables are up to date (nothing to do).\n");
    clusterctl(&emu, &["apply", "--schema", "ops"]).ok();
}

/// Sum of `clusterctl_runs_total` over its outcomes.
fn runs_total(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("clusterctl_runs_total{"))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(_, v)| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

#[test]
fn thirty_overlapping_one_shot_runs_lose_no_count() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("clusterctl.prom");
    let path = file.to_str().expect("utf-8 path");
    let children: Vec<Child> = (0..30)
        .map(|_| spawn(&emu, &["apply", "--metrics-file", path]))
        .collect();
    for child in children {
        finish(child).ok();
    }
    let text = std::fs::read_to_string(&file).expect("metrics file written");
    assert_eq!(runs_total(&text), 30, "{text}");
    // And the next run adds to them.
    clusterctl(&emu, &["apply", "--metrics-file", path]).ok();
    let text = std::fs::read_to_string(&file).expect("metrics file");
    assert_eq!(runs_total(&text), 31, "{text}");
}

#[test]
fn a_metrics_file_or_plan_file_that_cannot_be_written_is_refused_before_connecting() {
    // Replacing a device or a link, or opening a FIFO (which waits for a
    // reader for ever), is not recording metrics: each is refused before
    // anything runs, and left as it was.
    let emu = Emulator::start();
    init_tables(&emu);
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("zero.prom");
    std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
    let fifo = dir.path().join("fifo.prom");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).expect("dir");
    // A directory where no file can be created (procfs refuses root too):
    // said before the run, not after it.
    let read_only = std::path::PathBuf::from("/proc/clusterctl.prom");
    for (path, why) in [
        (&link, "is a symbolic link"),
        (&fifo, "not a regular file"),
        (&sub, "is a directory"),
        (&read_only, "cannot create a file in the directory /proc"),
    ] {
        let arg = path.to_str().expect("utf-8 path");
        for argv in [
            vec!["apply", "--metrics-file", arg],
            vec!["apply", "--watch", "--metrics-file", arg],
            vec!["dry-run", "--out", arg],
        ] {
            emu.reset_stats();
            let mut child = spawn(&emu, &argv);
            assert!(
                wait_or_kill(&mut child, Duration::from_secs(20)),
                "{argv:?} hangs"
            );
            let run = finish(child);
            assert_eq!(run.code, 1, "{argv:?}: {}", run.all());
            let flag = argv[argv.len() - 2];
            assert!(
                run.stderr
                    .starts_with(&format!("error: {flag} {arg}: {why}")),
                "{argv:?}: {}",
                run.all()
            );
            assert_eq!(emu.stats().statements, 0, "{argv:?}: never connected");
        }
    }
    let meta = std::fs::symlink_metadata(&link).expect("the link");
    assert!(meta.file_type().is_symlink(), "the link is left as it was");
    use std::os::unix::fs::FileTypeExt as _;
    let meta = std::fs::symlink_metadata(&fifo).expect("the fifo");
    assert!(meta.file_type().is_fifo(), "the FIFO is left as it was");
    // A regular file that is not ours (too large to be a textfile, or
    // with no clusterctl_ series: a mistyped path) is refused before
    // connecting and left as it was: it was replaced.
    let big = dir.path().join("big.prom");
    std::fs::write(&big, vec![b'#'; (16 << 20) + 1]).expect("big file");
    let other = dir.path().join("plan.json");
    std::fs::write(&other, "{\"plan\": 1}\n").expect("another file");
    for (path, why) in [
        (&big, "larger than 16 MiB"),
        (&other, "no clusterctl_ series"),
    ] {
        emu.reset_stats();
        let run = clusterctl(&emu, &["apply", "--metrics-file", path.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}", run.all());
        assert!(
            run.stderr.contains(why) && run.stderr.contains("not replaced"),
            "{}",
            run.all()
        );
        assert_eq!(emu.stats().statements, 0, "never connected");
    }
    assert_eq!(
        std::fs::metadata(&big).map(|m| m.len()).ok(),
        Some((16 << 20) + 1)
    );
    assert_eq!(
        std::fs::read_to_string(&other).ok().as_deref(),
        Some("{\"plan\": 1}\n")
    );
}

/// Waits for the child; `None` (after killing it) when it is still running
/// after `limit` — a hang guard, not a timing assertion.
fn wait_or_kill(child: &mut Child, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    false
}

#[test]
fn simulate_dev_zero_fails_with_a_clear_message() {
    let mut cmd = command();
    cmd.args(["simulate", "/dev/zero"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let guarded = wait_or_kill(&mut child, Duration::from_secs(20));
    assert!(guarded, "simulate /dev/zero hangs");
    let run = finish(child);
    assert_eq!(run.code, 1, "{}", run.all());
    let line = one_error_line(&run);
    assert!(line.contains("/dev/zero"), "{line}");
    assert!(line.contains("not a regular file"), "{line}");
    // A regular file too large is refused by its size.
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("big.toml");
    std::fs::write(&big, vec![b'#'; 5 << 20]).expect("write");
    let mut cmd = command();
    cmd.arg("simulate").arg(&big);
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("larger than 4 MiB"), "{}", run.all());
}

/// A stderr that cannot be written (a full disk, a reader gone) loses the
/// lines, never the exit code: every command aborted with a panic (134)
/// where `eprintln!` failed, `apply` after its DDL, before its report.
#[test]
fn a_stderr_that_cannot_be_written_leaves_the_exit_code() {
    let full = || std::fs::File::create("/dev/full").expect("/dev/full");
    let dir = tempfile::tempdir().expect("temp dir");
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "name = \"x\"\ndayz = 1\n").expect("write");
    let cases: [(&[&str], i32); 3] = [
        // An error line.
        (&["simulate", typo.to_str().expect("utf-8")], 1),
        // Log lines (-v) and a refused connection's error.
        (
            &[
                "status",
                "-v",
                "--postgres-url",
                "postgres://u@127.0.0.1:1/db",
                "--max-retries",
                "0",
            ],
            1,
        ),
        // A usage error.
        (&["status", "--interval", "0s"], 64),
    ];
    for (args, code) in cases {
        let mut cmd = command();
        cmd.args(args).stdout(Stdio::null()).stderr(full());
        let status = cmd.status().expect("the clusterctl binary runs");
        assert_eq!(status.code(), Some(code), "{args:?}: {status:?}");
    }
}

// ------------------------------------------------------------- the fuzzer

/// Any JSON value, nested up to a few levels, with hostile leaves.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        extreme_number(),
        "[^\\x00]{0,40}".prop_map(|s| json!(s).to_string()),
        (1usize..200_000).prop_map(|n| json!("x".repeat(n)).to_string()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                let body: Vec<String> = kv
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", json!(k)))
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

/// Numbers no Rust integer or float type holds.
fn extreme_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("1e-400".to_string()),
        Just("-0".to_string()),
        Just("18446744073709551616".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("10000000000000000".to_string()),
        Just("1.7976931348623157e308".to_string()),
        Just(format!("1{}", "0".repeat(500))),
        Just("0.0000000000000000000000001".to_string()),
    ]
}

/// Config keys: every real one, and others.
fn key() -> impl Strategy<Value = String> {
    let mut real: Vec<String> = clusterctl::strategy::keys::all_keys()
        .into_iter()
        .map(|(k, _)| k.name.to_string())
        .collect();
    real.extend(["reason", "cron", "duration_s", "size", "replicas"].map(String::from));
    prop_oneof![prop::sample::select(real), "[^\\x00]{0,20}"]
}

/// A config: an object of real keys with hostile values, any JSON at all,
/// or a value nested far deeper than any parser's recursion limit.
fn config() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::collection::vec((key(), json_value()), 0..5).prop_map(|kv| {
            let body: Vec<String> =
                kv.into_iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
            format!("{{{}}}", body.join(","))
        }),
        1 => json_value(),
        1 => (100usize..2000, key()).prop_map(|(depth, k)| {
            format!("{{{}:{}1{}}}", json!(k), "[".repeat(depth), "]".repeat(depth))
        }),
    ]
}

fn strategy_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "target_size", "schedule", "shrink_to_fit", "burst", "idle_suspend", "limits",
            "stabilization", "pause",
        ])
        .prop_map(String::from),
        1 => "[^\\x00]{0,30}",
        1 => (1usize..100_000).prop_map(|n| "t".repeat(n)),
    ]
}

fn updated_at() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "now()",
        "NULL",
        "'infinity'",
        "'-infinity'",
        "'294276-12-31 23:59:59+00'",
        "'4713-01-01 00:00:00+00 BC'",
        "now() + INTERVAL '1000 years'",
    ])
    .prop_map(String::from)
}

/// Rows for the bad cluster (by id, by a dangling id, or by an id that is
/// not one at all).
fn bad_rows() -> impl Strategy<Value = Vec<(u8, String, String, String)>> {
    prop::collection::vec((0u8..3, strategy_type(), config(), updated_at()), 1..5)
}

#[test]
fn fuzzed_strategy_rows_only_ever_skip_their_own_cluster() {
    let emu = two_clusters();
    let bad = emu.cluster_id("bad");
    let config = ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let result = runner.run(&bad_rows(), |rows| {
        emu.sql("DELETE FROM mz_cluster_strategies WHERE cluster_id <> (SELECT id FROM mz_catalog.mz_clusters WHERE name = 'good')");
        for (target, ty, cfg, at) in &rows {
            let id = match target {
                0 => bad.clone(),
                1 => "u999999".to_string(),
                _ => "'; DROP TABLE mz_cluster_strategies; --".to_string(),
            };
            raw_row(&emu, &id, ty, cfg, at);
        }
        fleet_still_answers(&emu, &format!("{rows:?}"));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn statements_dated_in_the_future_are_taken_as_now_and_said() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("c", 7200, true);
    // A server clock stepped back: statements dated up to a day ahead.
    for ahead in [3600, 7200, 86_400] {
        emu.add_activity("c", -ahead, true);
    }
    // Already flushed to the log (the emulator shows a row once it is).
    emu.sql("UPDATE mz_emulator.statement_log SET visible_at = NULL WHERE began_at > now()");
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stderr.contains("dated after the database's clock"),
        "{}",
        run.all()
    );
    assert!(!run.stdout.contains("DROP"), "kept awake: {}", run.all());
    let status = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    let activity = &status["result"]["clusters"][0]["activity"];
    assert_eq!(activity["idle_seconds"], 0, "{status:#}");
    let shown = clusterctl(&emu, &["describe", "c"]).ok();
    let today = emu
        .query_one("SELECT to_char(now(), 'YYYY-MM-DD')")
        .unwrap_or_default();
    assert!(
        shown
            .stdout
            .lines()
            .any(|l| l.contains("Last statement began or ended") && l.contains(&today)),
        "not a date ahead: {}",
        shown.all()
    );
}

/// The clusters each `--cluster` value plans, by name, sorted.
fn planned_names(emu: &Emulator, selection: &[&str]) -> Result<Vec<String>, Run> {
    let mut args = vec!["dry-run", "--output", "json"];
    for s in selection {
        args.extend(["--cluster", s]);
    }
    let run = clusterctl(emu, &args);
    if run.code != 0 {
        return Err(run);
    }
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let mut names: Vec<String> = doc["result"]["plan"]["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| c["cluster"].as_str().expect("name").to_string())
        .collect();
    names.sort();
    Ok(names)
}

/// Materialize allows a cluster named `a,b` or ` spaced `: given whole,
/// `--cluster` and a command's CLUSTER argument mean that cluster; what
/// names no cluster is split at commas and read without blanks, as before.
#[test]
fn a_cluster_named_with_a_comma_or_blanks_can_be_selected() {
    let emu = Emulator::start();
    for name in ["a", "b", "a,b", " spaced "] {
        emu.create_hydrated_cluster(name, "r1", "25cc");
    }
    init_tables(&emu);
    for name in ["a", "b", "a,b", " spaced "] {
        strategy(&emu, name, "target_size", json!({"target_size": "50cc"}));
    }
    let names = |sel: &[&str]| planned_names(&emu, sel).unwrap_or_else(|r| panic!("{}", r.all()));
    assert_eq!(names(&["a,b"]), ["a,b"]);
    assert_eq!(names(&[" spaced "]), [" spaced "]);
    // Not a name: separate names, blanks around them dropped.
    assert_eq!(names(&["a, b"]), ["a", "b"]);
    assert_eq!(names(&["a,b", "b"]), ["a,b", "b"]);
    let id = emu.cluster_id(" spaced ");
    assert_eq!(names(&[&format!(" {id} ,a")]), [" spaced ", "a"]);
    // An empty name between commas: refused, never the others only.
    for value in [" , ", "b,a,"] {
        let run = planned_names(&emu, &[value]).expect_err("refused");
        assert_eq!(run.code, 64, "{}", run.all());
        assert!(
            one_error_line(&run).contains("empty (an unset variable?) between commas"),
            "{}",
            run.all()
        );
    }
    // The hint names the cluster so that it can be typed back.
    let run = planned_names(&emu, &["spaced"]).expect_err("refused");
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(
        run.stderr.contains("did you mean ' spaced '?"),
        "{}",
        run.all()
    );
    // A command's CLUSTER argument: the same rule.
    for (arg, shown) in [
        (" spaced ", "Name:         spaced "),
        ("a,b", "Name:        a,b"),
        (" a ", "Name:        a\n"),
    ] {
        let run = clusterctl(&emu, &["describe", arg]);
        assert_eq!(run.code, 0, "{}", run.all());
        assert!(run.stdout.contains(shown), "{arg:?}: {}", run.stdout);
    }
    let run = clusterctl(&emu, &["strategy", "pause", " spaced "]);
    assert_eq!(run.code, 0, "{}", run.all());
    let paused = emu.query_strings(
        "SELECT cluster_id FROM mz_cluster_strategies WHERE strategy_type = 'pause'",
    );
    assert_eq!(paused, [[Some(id)]], "only ' spaced ' is paused");
}

/// A cluster name with a terminal escape and a line break: `apply`'s
/// selection line showed it raw (every other output escapes it).
#[test]
fn the_selection_line_escapes_control_characters() {
    let emu = Emulator::start();
    let id = emu.create_hydrated_cluster("esc\u{1b}[31mred\nnl", "r1", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "esc\u{1b}[31mred\nnl",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    let run = clusterctl(&emu, &["apply", "--cluster", &id]).ok();
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Selected by"))
        .unwrap_or_else(|| panic!("{}", run.all()));
    assert!(
        line.ends_with(&format!("esc\\u{{1b}}[31mred\\nnl ({id})")),
        "{line}"
    );
}

/// Whole-number flags say what they want in words (they said "invalid
/// digit found in string", or took `-1` for an unknown flag), and a
/// duration in whole seconds refuses a fraction (`1.5s` was stored as 1).
#[test]
fn whole_number_flags_say_what_they_want() {
    for (args, want) in [
        (
            vec!["dry-run", "--connect-timeout", "1.5"],
            "'1.5' is not a whole number from 1 to",
        ),
        (
            vec!["dry-run", "--connect-timeout", "-1"],
            "'-1' is not a whole number from 1 to",
        ),
        (vec!["history", "--limit", "x"], "'x' is not a whole number"),
        // A config key's bounds are its row's: the flag names none that
        // the row then contradicts (it said "from 0 to 18446744073709551615").
        (
            vec!["strategy", "set", "c", "limits", "--max-replicas", "-1"],
            "'-1' is not a whole number\n",
        ),
        (
            vec!["dry-run", "--max-retries", "21"],
            "21 is not in 0..=20",
        ),
        (
            vec![
                "strategy",
                "set",
                "c",
                "idle_suspend",
                "--idle-after-s",
                "1.5s",
            ],
            "'1.5s' is not a whole number of seconds",
        ),
    ] {
        let mut cmd = command();
        cmd.args(&args);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        assert!(run.stderr.contains(want), "{args:?}: {}", run.all());
        assert!(!run.stderr.contains("invalid digit"), "{}", run.all());
    }
}

/// Audit and state rows written by hand, of every odd shape: a
/// `decision_ctx` that is no object (an array, a string, a number, JSON
/// null, SQL NULL), keys of the wrong type, numbers no parser holds, a
/// wipe or an unlock that names nothing usable, an open intent of no
/// known kind, a suspension whose replicas are not JSON; a state payload
/// that is no object, slots of the wrong type, a version from the future.
/// Every read command answers, `history` shows every row, and the good
/// cluster is planned and acted on.
#[test]
fn odd_audit_and_state_rows_stop_nothing() {
    let emu = two_clusters();
    let (good, bad) = (emu.cluster_id("good"), emu.cluster_id("bad"));
    let contexts = [
        "'[]'",
        "'\"text\"'",
        "'42'",
        "'null'",
        "NULL",
        r#"'{"kind": 42, "reasons": "not a list", "run_id": {}, "replica": [], "size": 1e400}'"#,
        r#"'{"kind": "wipe_state", "clusters": "all", "rows_deleted": -1, "by": 7}'"#,
        r#"'{"kind": "wipe_state", "clusters": [1, {"id": 2}, {"name": "x"}], "rows_deleted": 1e400}'"#,
        r#"'{"kind": "unlock", "previous_holder": 5, "broken_by": []}'"#,
        r#"'{"kind": "strategy_set", "strategy_type": 3, "before": [[[]]], "after": "x", "by": null}'"#,
        r#"'{"kind": "set_size", "size": 5, "strategy": "target_size"}'"#,
        r#"'{"kind": "drop_replica", "strategy": "idle_suspend", "run_id": "r", "replica": 5, "signals": {"replicas": "not json"}}'"#,
        r#"'{"kind": "set_replication_factor", "strategy": "idle_suspend", "replication_factor": "0", "run_id": "r", "signals": {"replicas": [{"name": 1}, "x", null]}}'"#,
    ];
    let mut n = 0;
    for cluster in [lit(&bad), "NULL".into(), "''".into()] {
        for (executed, error) in [("true", "NULL"), ("false", "'boom'")] {
            for ctx in &contexts {
                n += 1;
                emu.sql(&format!(
                    "INSERT INTO mz_cluster_strategy_actions \
                     (action_id, cluster_id, action_sql, decision_ctx, executed, error_message, \
                      created_at) \
                     VALUES ('odd{n}', {cluster}, NULL, {ctx}, {executed}, {error}, \
                             now() - INTERVAL '{n} minutes')"
                ));
            }
        }
    }
    // Open intents (outcome never recorded) of odd kinds, on the bad cluster.
    let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("this machine's boot id")
        .trim()
        .to_string();
    let ours = |uptime: &str| {
        format!(
            r#"'{{"kind": "create_replica", "replica": "r8", "boot": {{"id": "{boot_id}", "uptime_s": {uptime}}}}}'"#
        )
    };
    let odd = [
        r#"'{"kind": "no_such_kind", "replica": "r1"}'"#,
        r#"'{"kind": "create_replica", "replica": 5, "size": [], "deadline_s": "soon"}'"#,
        r#"'{"kind": "set_replication_factor", "replication_factor": "-1"}'"#,
        // Boot clocks (this machine's, of an intent written here) as data.
        r#"'{"kind": "create_replica", "replica": "r9", "boot": "garbage"}'"#,
        r#"'{"kind": "create_replica", "replica": "r9", "boot": {"id": 5, "uptime_s": "x"}}'"#,
        r#"'{"kind": "create_replica", "replica": "r9", "boot": {"id": "b", "uptime_s": 1e308}}'"#,
        r#"'{"kind": "drop_replica", "replica": "r9", "boot": {"id": "b", "uptime_s": -1e308}}'"#,
        r#"'{"kind": "drop_replica", "replica": "r9", "boot": []}'"#,
        "'[]'",
        "NULL",
    ];
    let ours = [ours("1e308"), ours("-1e308"), ours("0")];
    for ctx in odd.iter().copied().chain(ours.iter().map(String::as_str)) {
        n += 1;
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
             VALUES ('odd{n}', {}, 'SELECT 1', {ctx}, NULL, now() - INTERVAL '1 hour')",
            lit(&bad)
        ));
    }
    for (version, payload) in [
        ("1", "'[]'"),
        ("1", "'null'"),
        (
            "1",
            r#"'{"target_size": 5, "idle_suspend": [], "_controller": "x"}'"#,
        ),
        ("99", r#"'{"x": 1}'"#),
        ("-1", "'{}'"),
    ] {
        for id in [&good, &bad] {
            emu.sql(&format!(
                "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload) \
                 VALUES ({}, {version}, {payload})",
                lit(id)
            ));
        }
        fleet_still_answers(&emu, payload);
        for who in ["good", "bad"] {
            let run = clusterctl(&emu, &["describe", who]);
            assert!(run.code == 0 || run.code == 3, "{payload}: {}", run.all());
            assert!(!run.all().contains("panicked"), "{}", run.all());
        }
        emu.sql("DELETE FROM mz_cluster_strategy_state");
    }
    let doc = clusterctl(&emu, &["history", "--limit", "0", "-o", "json"])
        .ok()
        .json();
    crate::json_schema::conforms(&crate::json_schema::schema(), &doc);
    let shown = doc["result"]["entries"].as_array().map_or(0, Vec::len);
    assert!(shown >= n, "{n} odd rows, {shown} shown: {doc}");
    let run = clusterctl(&emu, &["apply"]);
    assert!(run.code == 0 || run.code == 3, "{}", run.all());
    assert!(
        emu.replicas("good").iter().any(|(r, _)| r == "r_50cc"),
        "{}",
        run.all()
    );
}

/// A lease holder is text from the database: one written by hand with a
/// line break and a terminal escape came out raw in `apply`'s busy line,
/// `wipe-state`'s error (a second `error:`-less line, and the escape sent
/// to the terminal) and `unlock --force`'s. It is shown escaped, as
/// `doctor` and `history` already showed it.
#[test]
fn a_lease_holders_control_characters_are_shown_escaped() {
    let emu = two_clusters();
    emu.sql(
        "UPDATE clusterctl_lease SET holder = E'evil\\n\\x1b[2Jfake', \
         expires_at = now() + INTERVAL '10 minutes' WHERE name = 'controller'",
    );
    for args in [
        &["apply"][..],
        &["wipe-state", "--yes"],
        &["unlock", "--force"],
    ] {
        let run = clusterctl(&emu, args);
        let all = run.all();
        assert!(
            !all.contains('\u{1b}') && !all.contains("evil\n") && all.contains(r"evil\n"),
            "{args:?}: {all:?}"
        );
    }
}

/// A large JSON file given as a saved plan is refused in memory near its
/// size: its result was held as a tree of JSON values, some forty times the
/// text (20 MB took 740 MB; a file near the 256 MiB bound, gigabytes).
#[test]
fn a_large_file_given_as_a_saved_plan_is_refused_without_its_weight_in_memory() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("plan.json");
    let numbers = "0,".repeat(10_000_000);
    let text = format!(
        "{{\"format_version\":2,\"command\":\"dry-run\",\"ok\":true,\"result\":[{numbers}0]}}"
    );
    std::fs::write(&file, text).expect("write");
    // Address space bounded to 400 MB: the process aborts if it holds the tree.
    let mut sh = Command::new("sh");
    sh.args(["-c", "ulimit -v 400000; exec \"$0\" apply --plan \"$1\""])
        .arg(env!("CARGO_BIN_EXE_clusterctl"))
        .arg(&file)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    let run = run_cmd(sh);
    assert_eq!(run.code, 64, "{}", run.all());
    assert!(
        one_error_line(&run).contains("not a dry-run's plan"),
        "{}",
        run.all()
    );
}

/// `-` names no file for a flag that reads or writes one: `dry-run --out -`
/// wrote a file named `-` (and `apply --plan -` read it back), where a
/// shell user meant stdout (an outside check). Refused before anything.
#[test]
fn a_dash_is_no_file_for_a_file_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    for args in [
        &["dry-run", "--out", "-"][..],
        &["apply", "--plan", "-"],
        &["apply", "--metrics-file", "-"],
        &["simulate", "x.toml", "--plot", "-"],
        &["simulate", "x.toml", "--timeline", "-"],
        &["simulate", "--from-history", "--out", "-"],
    ] {
        let mut cmd = command();
        cmd.args(args).current_dir(dir.path());
        let run = run_cmd(cmd);
        assert_eq!(run.code, 64, "{args:?}: {}", run.all());
        assert!(
            run.stderr.contains("'-' is no file here"),
            "{args:?}: {}",
            run.all()
        );
    }
    assert!(!dir.path().join("-").exists(), "no file named '-'");
    // A plan file that cannot be read is an error (1), as a missing
    // scenario file is; one that is not a plan, a usage error (64).
    let mut cmd = command();
    cmd.args(["apply", "--plan", "missing.json"])
        .current_dir(dir.path());
    let run = run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("--plan missing.json"), "{}", run.all());
}

/// A near miss of a cluster named with a blank of its own is no cluster,
/// not the cluster whose id the trimmed text is: `strategy rm 'u3 '`
/// beside a cluster named ' u3' removed the rows of u3 (an outside check).
#[test]
fn a_near_miss_of_a_blanked_name_is_refused_not_taken_for_an_id() {
    let emu = Emulator::start();
    let id = emu.create_cluster("batch");
    let blanked = format!(" {id}");
    emu.create_cluster(&blanked);
    init_tables(&emu);
    strategy(&emu, "batch", "target_size", json!({"target_size": "25cc"}));
    strategy(
        &emu,
        &blanked,
        "target_size",
        json!({"target_size": "50cc"}),
    );
    let near = format!("{id} ");
    let run = clusterctl(&emu, &["strategy", "rm", &near]).code(64);
    assert!(run.stderr.contains(&format!("'{near}'")), "{}", run.all());
    let rows = emu.query_strings("SELECT cluster_id FROM mz_cluster_strategies ORDER BY 1");
    assert_eq!(rows.len(), 2, "{}", run.all());
    // As typed, each is its cluster; a name with blanks is said quoted
    // (`of cluster  u3 (u11)` read as another name).
    let run = clusterctl(&emu, &["strategy", "rm", &blanked]).ok();
    assert!(
        run.stdout.contains(&format!("of cluster '{blanked}' (")),
        "{}",
        run.all()
    );
    clusterctl(&emu, &["strategy", "rm", &id]).ok();
    let rows = emu.query_strings("SELECT cluster_id FROM mz_cluster_strategies");
    assert!(rows.is_empty(), "{rows:?}");
}

/// The fix `check` gives for a row whose id holds control characters is
/// an escape string that matches the stored row: run as printed, it
/// removes it (the escaped `'u9\u{1b}[31m'` matched nothing).
#[test]
fn the_fix_for_an_id_with_control_characters_removes_that_row() {
    let emu = Emulator::start();
    init_tables(&emu);
    emu.sql(
        "INSERT INTO mz_cluster_strategies VALUES \
         (E'u9\\u001B[31m\\\\x', 'target_size', '{\"target_size\": \"25cc\"}', now())",
    );
    let run = clusterctl(&emu, &["check"]);
    let out = run.all();
    let said = out
        .lines()
        .find_map(|l| l.split_once("SQL: ").map(|(_, sql)| sql.to_string()))
        .unwrap_or_default();
    assert!(said.starts_with("DELETE FROM"), "{out}");
    let said = said.trim_end_matches([')', '.', ';']);
    emu.sql(said);
    let left = emu.query_strings("SELECT cluster_id FROM mz_cluster_strategies");
    assert!(left.is_empty(), "{said}: {left:?}\n{out}");
}
