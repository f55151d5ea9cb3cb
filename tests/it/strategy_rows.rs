//! Strategy rows and state rows as an operator (or the Python reference)
//! leaves them: duplicates, invalid configs, foreign state versions.

use serde_json::json;

use crate::cli::{
    audit, clusterctl, init_tables, lit, replica_names, state_of, states, strategy, strategy_at,
};
use crate::support::Emulator;

#[test]
fn duplicate_rows_newest_updated_at_wins_with_a_warning() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    // Inserted newest first, so insertion order cannot be what decides.
    strategy_at(&emu, "c", "target_size", json!({"target_size": "50cc"}), 10);
    strategy_at(
        &emu,
        "c",
        "target_size",
        json!({"target_size": "25cc"}),
        3600,
    );
    strategy_at(
        &emu,
        "c",
        "target_size",
        json!({"target_size": "100cc"}),
        7200,
    );

    let dry = clusterctl(&emu, &["dry-run"]).ok();
    let warning = dry
        .stderr
        .lines()
        .find(|l| l.contains("3 rows for strategy 'target_size'"))
        .unwrap_or_else(|| panic!("no duplicate warning:\n{}", dry.all()));
    assert!(warning.starts_with("warning:"), "{warning}");
    assert!(warning.contains(&emu.cluster_id("c")), "{warning}");
    assert!(warning.contains("newest"), "{warning}");

    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stderr.contains("3 rows for strategy"), "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), vec!["r_50cc"]);

    // A newer row takes over.
    strategy_at(&emu, "c", "target_size", json!({"target_size": "25cc"}), 0);
    emu.set_hydrated("c", "r_50cc", true);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["r_25cc", "r_50cc"]);

    // The JSON plan carries the warning too.
    let doc = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let warnings = doc["result"]["plan"]["warnings"]
        .as_array()
        .expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("4 rows"))),
        "{doc}"
    );
}

#[test]
fn an_invalid_row_skips_its_cluster_and_the_others_go_on() {
    let emu = Emulator::start();
    for name in ["good", "bad", "odd", "mixed"] {
        emu.create_cluster(name);
        emu.add_replica(name, "r1", "25cc");
    }
    init_tables(&emu);
    strategy(&emu, "good", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "bad", "idle_suspend", json!({"idle_after_s": "ten"}));
    strategy(&emu, "odd", "autoscale", json!({"max": 3}));
    // One valid and one invalid row: the whole cluster is skipped.
    strategy(&emu, "mixed", "target_size", json!({"target_size": "50cc"}));
    strategy(
        &emu,
        "mixed",
        "burst",
        json!({"burst_replica_size": "80cc"}),
    );

    let dry = clusterctl(&emu, &["dry-run"]).code(3);
    assert!(dry.stdout.contains("r_50cc"), "{}", dry.all());

    let run = clusterctl(&emu, &["apply"]).code(3);
    assert_eq!(replica_names(&emu, "good"), vec!["r1", "r_50cc"]);
    for name in ["bad", "odd", "mixed"] {
        assert_eq!(replica_names(&emu, name), vec!["r1"], "{name} untouched");
        assert!(audit(&emu, name).is_empty(), "{name}");
        assert!(state_of(&emu, name).is_none(), "{name}: no state");
    }
    let line = |needle: &str| -> String {
        run.stderr
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", run.all()))
            .to_string()
    };
    // Names the cluster, the key, what was found and what is allowed.
    let bad = line("cluster bad ");
    assert!(bad.starts_with("error:"), "{bad}");
    assert!(bad.contains("idle_after_s"), "{bad}");
    assert!(bad.contains("\"ten\""), "{bad}");
    assert!(bad.contains("number of seconds >= 1"), "{bad}");
    assert!(bad.contains("skipped"), "{bad}");
    let odd = line("cluster odd ");
    assert!(odd.contains("unknown strategy type 'autoscale'"), "{odd}");
    assert!(
        ["target_size", "shrink_to_fit", "burst", "idle_suspend"]
            .iter()
            .all(|k| odd.contains(k)),
        "{odd}"
    );
    let mixed = line("cluster mixed ");
    assert!(mixed.contains("burst_replica_size"), "{mixed}");
    assert!(mixed.contains("unknown size '80cc'"), "{mixed}");
    assert!(mixed.contains("25cc, 50cc"), "lists the sizes: {mixed}");
    assert!(
        dry.stdout.contains("3 skipped (invalid configuration)"),
        "{}",
        dry.all()
    );

    // JSON reports the same, still exit 3.
    let json = clusterctl(&emu, &["dry-run", "--output", "json"]).code(3);
    let doc = json.json();
    let bad = doc["result"]["plan"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == "bad")
        .expect("bad is in the plan")
        .clone();
    assert_eq!(bad["status"], "invalid", "{bad}");
    assert!(bad["errors"][0]
        .as_str()
        .is_some_and(|e| e.contains("idle_after_s")));

    // `strategy ls` marks the invalid rows, not their valid neighbours,
    // and says the controller skips those clusters.
    let ls = clusterctl(&emu, &["strategy", "ls"]).ok();
    let row = |cluster: &str, ty: &str| -> String {
        ls.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{cluster} ")) && l.contains(ty))
            .unwrap_or_else(|| panic!("no {cluster} {ty} row:\n{}", ls.all()))
            .to_string()
    };
    assert!(
        row("mixed", "burst").contains("burst (invalid)"),
        "{}",
        ls.all()
    );
    assert!(
        !row("mixed", "target_size").contains("invalid"),
        "{}",
        ls.all()
    );
    assert!(
        !row("good", "target_size").contains("invalid"),
        "{}",
        ls.all()
    );
    assert!(
        row("bad", "idle_suspend").contains("(invalid)"),
        "{}",
        ls.all()
    );
    let warned: Vec<&str> = ls.stderr.lines().collect();
    assert_eq!(warned.len(), 3, "bad, mixed, odd: {}", ls.all());
    assert!(
        warned
            .iter()
            .any(|w| w.starts_with("warning: strategy burst of mixed (")
                && w.contains("skips the cluster")
                && w.contains("unknown size '80cc'")),
        "{}",
        ls.all()
    );
    let doc = clusterctl(&emu, &["strategy", "ls", "-o", "json"])
        .ok()
        .json();
    let listed = doc["result"]["strategies"].as_array().unwrap();
    let problems = |cluster: &str, ty: &str| {
        listed
            .iter()
            .find(|l| l["cluster"] == cluster && l["strategy_type"] == ty)
            .unwrap_or_else(|| panic!("{cluster} {ty}: {doc:#}"))["problems"]
            .clone()
    };
    assert!(problems("mixed", "target_size").is_null(), "{doc:#}");
    assert!(
        problems("mixed", "burst")[0]
            .as_str()
            .is_some_and(|p| p.contains("burst_replica_size")),
        "{doc:#}"
    );
}

#[test]
fn state_is_one_row_per_cluster_and_foreign_versions_are_ignored() {
    let emu = Emulator::start();
    for name in ["a", "b"] {
        emu.create_hydrated_cluster(name, "r_25cc", "25cc");
    }
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "b", "burst", json!({"burst_replica_size": "800cc"}));
    let (a, b) = (emu.cluster_id("a"), emu.cluster_id("b"));
    let one_row_each = |when: &str| {
        let rows = states(&emu);
        let mut ids: Vec<&str> = rows.iter().map(|(c, _, _)| c.as_str()).collect();
        ids.sort();
        let mut want = vec![a.as_str(), b.as_str()];
        want.sort();
        assert_eq!(ids, want, "{when}: {rows:?}");
        assert!(rows.iter().all(|(_, v, _)| *v == 2), "{when}: {rows:?}");
    };

    clusterctl(&emu, &["apply"]).ok();
    one_row_each("first apply");
    let payload = state_of(&emu, "a").unwrap();
    assert!(
        payload["target_size"].is_object(),
        "keyed by strategy: {payload}"
    );
    assert!(payload.get("burst").is_none(), "{payload}");
    assert!(state_of(&emu, "b").unwrap()["burst"].is_object());

    // Several rounds with state changes (the resize completes) and without.
    emu.set_hydrated("a", "r_50cc", true);
    for round in 0..3 {
        clusterctl(&emu, &["apply"]).ok();
        one_row_each(&format!("apply {round}"));
    }
    assert_eq!(replica_names(&emu, "a"), vec!["r_50cc"]);

    // A state row of an unknown version (a future one, or the Python
    // reference's 1) is ignored, not an error. If it were read, this payload
    // would resume the replica "ghost" on the empty, busy cluster c.
    emu.create_cluster("c");
    emu.add_activity("c", 5, true);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    let c = emu.cluster_id("c");
    let ghost = json!({
        "idle_suspend": {
            "suspended": [{"name": "ghost", "size": "25cc"}],
            "suspended_at": "2020-01-01T00:00:00Z"
        }
    });
    let put = |id: &str, version: i32, payload: &serde_json::Value| {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
             VALUES ({}, {version}, {}::jsonb, now())",
            lit(id),
            lit(&payload.to_string())
        ));
    };
    for version in [99, 1] {
        put(&c, version, &ghost);
        // The reference's layout, on a cluster with state of its own.
        put(
            &a,
            version,
            &json!({"last_action": "resize", "pending": true}),
        );
        let run = clusterctl(&emu, &["apply"]).ok();
        assert!(!run.stderr.contains("error"), "{}", run.all());
        assert!(!run.stdout.contains("ghost"), "{}", run.all());
        assert!(emu.replicas("c").is_empty(), "v{version} ignored");
        assert_eq!(replica_names(&emu, "a"), vec!["r_50cc"]);
    }

    // The same payload as version 2 is read: the control for the above.
    put(&c, 2, &ghost);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("ghost"), "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), vec!["ghost"]);
    // One row of ours per cluster; the others' rows are left as they were
    // (the first apply after a migration deleted every row mz-clusterctl
    // wrote, and a rollback to it lost its state).
    let rows = states(&emu);
    for id in [&a, &b, &c] {
        assert_eq!(
            rows.iter().filter(|(c, v, _)| c == id && *v == 2).count(),
            1,
            "{id}: {rows:?}"
        );
    }
    for id in [&a, &c] {
        let mut others: Vec<i32> = rows
            .iter()
            .filter(|(c, v, _)| c == id && *v != 2)
            .map(|(_, v, _)| *v)
            .collect();
        others.sort();
        assert_eq!(others, [1, 99], "{id}: {rows:?}");
    }
}

#[test]
fn rows_as_new_as_each_other_and_a_pause_without_a_time_are_reported() {
    let emu = Emulator::start();
    emu.create_cluster("tie");
    emu.create_cluster("held");
    init_tables(&emu);
    // One statement: both rows get the same now(); the database returns
    // them in no promised order, so the choice must not follow it.
    let tie = emu.cluster_id("tie");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config) VALUES \
         ({id}, 'target_size', '{{\"target_size\": \"50cc\"}}'), \
         ({id}, 'target_size', '{{\"target_size\": \"100cc\"}}')",
        id = lit(&tie)
    ));
    let first = clusterctl(&emu, &["dry-run", "--cluster", "tie"]).ok();
    assert!(
        first.stderr.contains("share the newest updated_at"),
        "{}",
        first.all()
    );
    // Touch the other row: a table may now return them the other way.
    emu.sql(
        "UPDATE mz_cluster_strategies SET config = config WHERE config->>'target_size' = '50cc'",
    );
    let second = clusterctl(&emu, &["dry-run", "--cluster", "tie"]).ok();
    let size = |out: &str| {
        out.lines()
            .find(|l| l.contains("create replica"))
            .map(str::to_string)
    };
    assert_eq!(
        size(&first.stdout),
        size(&second.stdout),
        "{}\n{}",
        first.all(),
        second.all()
    );

    // A pause whose `until` is not a time is invalid (exit 3), not a pause
    // without end; the cluster is left alone either way.
    strategy(&emu, "held", "pause", json!({"until": "tomorrow"}));
    strategy(&emu, "held", "target_size", json!({"target_size": "25cc"}));
    let dry = clusterctl(
        &emu,
        &["dry-run", "--cluster", "held", "--detailed-exitcode"],
    )
    .code(3);
    assert!(dry.all().contains("key 'until'"), "{}", dry.all());
    let status = clusterctl(&emu, &["status", "--cluster", "held"]);
    assert!(status.stdout.contains("Invalid"), "{}", status.all());
    clusterctl(&emu, &["apply", "--cluster", "held"]).code(3);
    assert!(emu.replicas("held").is_empty());
}

#[test]
fn a_state_row_without_updated_at_is_the_oldest_and_goes() {
    // Written by hand (or a restore): it used to be read as the newest for
    // ever (DESC puts NULLs first) and was never deleted, so every run
    // started from it: a stabilization drop stayed "in 1m" for good.
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "c", "stabilization", json!({"scale_down_after_s": 1}));
    let c = emu.cluster_id("c");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ({}, 2, '{{}}'::jsonb, NULL)",
        lit(&c)
    ));
    clusterctl(&emu, &["apply"]).ok();
    emu.set_hydrated("c", "r_50cc", true);
    clusterctl(&emu, &["apply"]).ok(); // wants the drop, stabilizes
    std::thread::sleep(std::time::Duration::from_millis(1100));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["r_50cc"]);
    let nulls =
        emu.query_one("SELECT count(*) FROM mz_cluster_strategy_state WHERE updated_at IS NULL");
    assert_eq!(nulls.as_deref(), Some("0"));
}

#[test]
fn rows_of_a_dropped_cluster_named_by_id_are_warned_about() {
    let emu = Emulator::start();
    emu.create_cluster("gone");
    init_tables(&emu);
    strategy(&emu, "gone", "target_size", json!({"target_size": "25cc"}));
    let gone = emu.cluster_id("gone");
    emu.sql(&format!(
        "DELETE FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = '{gone}'; \
         DELETE FROM mz_catalog.mz_clusters WHERE id = '{gone}'"
    ));
    emu.create_cluster("other");
    strategy(&emu, "other", "target_size", json!({"target_size": "25cc"}));
    let warned = |run: &crate::cli::Run| {
        run.stderr.contains(&format!(
            "warning: strategy rows: no cluster has id {gone} (dropped?); remove its rows with \
             `clusterctl strategy rm {gone}`, or move them to the cluster now serving its \
             workload (after a blue/green swap) with `clusterctl strategy mv {gone} CLUSTER`"
        ))
    };
    for args in [&["dry-run"][..], &["apply"], &["status"]] {
        let run = clusterctl(&emu, args).ok();
        assert!(warned(&run), "{args:?}: {}", run.all());
    }
    let status = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
    let warnings = status["result"]["warnings"].to_string();
    assert!(
        warnings.contains(&format!("no cluster has id {gone}")),
        "{status}"
    );
    // Not when the selection leaves the id out.
    for args in [
        &["dry-run", "--cluster", "other"][..],
        &["status", "--cluster", "other"],
        &["dry-run", "--filter-clusters", "^oth"],
    ] {
        let run = clusterctl(&emu, args).ok();
        assert!(!warned(&run), "{args:?}: {}", run.all());
    }
    // Named, it is no cluster to plan (exit 64, saying how to remove them).
    let run = clusterctl(&emu, &["dry-run", "--cluster", &gone]).code(64);
    assert!(run.stderr.contains("strategy rm"), "{}", run.all());
}

/// A `replica_name` Materialize reserves (`mz_`, `pg_`, `external_`) is
/// refused as the row is read, as every other invalid value: the DDL it
/// would send fails on every run (`replica name "mz_main" is reserved`),
/// and the cluster would never reach its size. `strategy set` refuses to
/// write it; a row written by hand skips its cluster only.
#[test]
fn a_replica_name_materialize_reserves_is_refused_before_any_ddl() {
    let emu = Emulator::start();
    for name in ["good", "reserved"] {
        emu.create_cluster(name);
        emu.add_replica(name, "r1", "25cc");
    }
    init_tables(&emu);
    strategy(&emu, "good", "target_size", json!({"target_size": "50cc"}));
    let config = json!({"target_size": "50cc", "replica_name": "mz_main"});
    strategy(&emu, "reserved", "target_size", config.clone());

    let set = clusterctl(
        &emu,
        &[
            "strategy",
            "set",
            "good",
            "target_size",
            &config.to_string(),
        ],
    )
    .code(1);
    assert!(
        set.stderr
            .contains(r#"Materialize reserves for its own objects: it refuses the replica (`replica name "mz_main" is reserved`)"#)
            && set.stderr.contains("nothing was written"),
        "{}",
        set.all()
    );

    let run = clusterctl(&emu, &["apply"]).code(3);
    assert_eq!(replica_names(&emu, "good"), vec!["r1", "r_50cc"]);
    assert_eq!(replica_names(&emu, "reserved"), vec!["r1"]);
    assert!(audit(&emu, "reserved").is_empty(), "no DDL was tried");
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("cluster reserved "))
        .unwrap_or_else(|| panic!("no line for the cluster:\n{}", run.all()));
    assert!(
        line.starts_with("error:")
            && line.contains("replica_name")
            && line.contains("its name begins with 'mz_'")
            && line.contains("skipped"),
        "{line}"
    );
}
