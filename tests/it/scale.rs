//! The snapshot costs a constant number of statements, whatever the number
//! of clusters.

use crate::cli::{clusterctl, findings, init_tables, replica_names, strategy};
use crate::support::{Emulator, Stats};

/// `n` clusters (`fleet_1`…, each with a 25cc replica `r1`), each with one
/// strategy row of `strategy_type` and `config`.
fn fleet(n: usize, strategy_type: &str, config: &str) -> Emulator {
    let emu = Emulator::start();
    emu.seed_clusters(n, "fleet_");
    init_tables(&emu);
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT id, '{strategy_type}', '{config}', now() \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'"
    ));
    emu
}

/// Seeds `n` clusters, each with a target_size strategy, and counts what one
/// dry-run sends.
fn dry_run_statements(n: usize) -> Stats {
    let emu = fleet(
        n,
        "target_size",
        r#"{"target_size": "25cc", "replica_name": "r1"}"#,
    );
    emu.reset_stats();
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stdout.contains(&format!("{n} clusters converged")),
        "{}",
        run.all()
    );
    emu.stats()
}

#[test]
fn dry_run_statement_count_does_not_grow_with_clusters() {
    let small = dry_run_statements(10);
    let large = dry_run_statements(500);
    eprintln!("statements for 10 clusters: {small:?}; for 500 clusters: {large:?}");
    assert_eq!(small.statements, large.statements);
    // Preflight (session cluster: 3) + snapshot (19: catalog, our tables,
    // mz-clusterctl's state rows, release, role, 8 settings, the audit
    // trail's unfinished actions with the highest migration recorded, for a
    // schema a newer clusterctl migrated, activity; not the trail's last
    // suspensions: every cluster runs a replica); README "Signals".
    assert!(small.statements <= 22, "{small:?}");
    assert_eq!(large.ddl, 0);
}

/// The same with every cluster learning its demand (`idle_suspend` with
/// `predict`): the statement history is one more statement, whatever the
/// number of clusters.
fn predictive_dry_run_statements(n: usize) -> Stats {
    let emu = fleet(
        n,
        "idle_suspend",
        r#"{"idle_after_s": 86400, "predict": true}"#,
    );
    // Two weeks of statements on every cluster, weekdays at 09:00.
    emu.add_activity_bulk("fleet_%", 14, 9 * 3600, 3600, 10);
    emu.reset_stats();
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stdout.contains(&format!("{n} clusters")),
        "{}",
        run.all()
    );
    emu.stats()
}

#[test]
fn the_statement_history_is_one_statement_whatever_the_clusters() {
    let small = predictive_dry_run_statements(10);
    let large = predictive_dry_run_statements(500);
    eprintln!("predictive: statements for 10 clusters: {small:?}; for 500 clusters: {large:?}");
    assert_eq!(small.statements, large.statements);
    let plain = dry_run_statements(10);
    assert_eq!(
        small.statements,
        plain.statements + 1,
        "one more: the history"
    );
    assert_eq!(large.ddl, 0);
}

/// `-vv` logs every statement we send through one choke point: as many
/// events as the server ran statements, each on one line with its duration
/// and what came back, the DDL among them.
#[test]
fn debug_logs_every_statement_sent() {
    let emu = fleet(3, "target_size", r#"{"target_size": "50cc"}"#);
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply", "-vv", "--log-format", "json"]).ok();
    let stats = emu.stats();
    let logged: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["target"] == "clusterctl::sql")
        .collect();
    assert_eq!(
        logged.len() as u64,
        stats.statements,
        "{stats:?}\n{}",
        run.stderr
    );
    for e in &logged {
        let sql = e["sql"].as_str().unwrap_or_default();
        assert!(!sql.is_empty() && !sql.contains('\n'), "{e}");
        assert!(e["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{e}");
    }
    let creates: Vec<&serde_json::Value> = logged
        .iter()
        .filter(|e| {
            e["sql"]
                .as_str()
                .is_some_and(|s| s.starts_with("CREATE CLUSTER REPLICA"))
        })
        .collect();
    assert_eq!(creates.len(), 3, "{}", run.stderr);
    assert_eq!(stats.ddl, 3);
    // Without -vv, none.
    let quiet = clusterctl(&emu, &["dry-run", "-v", "--log-format", "json"]).ok();
    assert!(
        !quiet.stderr.contains("clusterctl::sql"),
        "{}",
        quiet.stderr
    );
    // The statements alone (README: `CLUSTERCTL_LOG`).
    let mut cmd = crate::cli::command();
    cmd.args(["dry-run", "--log-format", "json"])
        .env("DATABASE_URL", emu.url())
        .env("CLUSTERCTL_LOG", "clusterctl::sql=debug");
    let only = crate::cli::run_cmd(cmd);
    assert_eq!(only.code, 0, "{}", only.all());
    let events: Vec<serde_json::Value> = only
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events.len() > 10 && events.iter().all(|e| e["sql"].is_string()),
        "{}",
        only.stderr
    );
}

/// The audit trail's last suspensions are a scan of the whole trail: read
/// only when a cluster with `idle_suspend` has no replica and its state
/// remembers nothing to wake with (a wiped state), or once, by the run
/// after the first to write a state that began afresh (wiped, or new: a
/// suspension an earlier run began may be under way), never on every run:
/// a cluster that runs nothing and whose trail shows nothing to recall is
/// not read for again until it runs a replica or its state is wiped (it
/// was read for on every run).
#[test]
fn the_trail_is_scanned_for_suspensions_only_when_a_cluster_forgot_its_wake() {
    let emu = fleet(3, "idle_suspend", r#"{"idle_after_s": 86400}"#);
    let scans_of = |emu: &Emulator, command: &str| {
        emu.reset_stats();
        clusterctl(emu, &[command]).ok();
        emu.logged("WITH drops AS").len()
    };
    let scans = |emu: &Emulator| scans_of(emu, "dry-run");
    assert_eq!(scans(&emu), 0, "every cluster runs a replica");
    assert_eq!(scans_of(&emu, "apply"), 0, "the first run writes the state");
    assert_eq!(scans(&emu), 1, "its states began afresh");
    assert_eq!(scans_of(&emu, "apply"), 1, "read once, for all three");
    assert_eq!(scans(&emu), 0, "and not again");
    emu.create_cluster("empty");
    strategy(
        &emu,
        "empty",
        "idle_suspend",
        serde_json::json!({"idle_after_s": 86400}),
    );
    assert_eq!(scans(&emu), 1, "no replica and nothing remembered");
    assert_eq!(scans_of(&emu, "apply"), 1, "read, and nothing to recall");
    assert_eq!(scans(&emu), 0, "not read on every run after");
    assert_eq!(scans_of(&emu, "apply"), 0);
    // Once it runs a replica, emptied by hand, it is read again (once).
    emu.add_replica("empty", "r1", "25cc");
    assert_eq!(scans_of(&emu, "apply"), 0, "a replica runs");
    postgres::Client::connect(&emu.url(), postgres::NoTls)
        .and_then(|mut c| c.batch_execute("DROP CLUSTER REPLICA empty.r1"))
        .expect("drop the replica by hand");
    assert_eq!(scans_of(&emu, "apply"), 1, "emptied since");
    assert_eq!(scans(&emu), 0);
    // A wiped state reads it again.
    clusterctl(&emu, &["wipe-state", "--cluster", "empty", "--yes"]).ok();
    assert_eq!(scans(&emu), 1, "wiped");
}

/// A cluster the plan leaves alone before its strategies run (paused, a
/// row in error, scheduled by Materialize itself) has the trail read for it
/// on no run, though it runs no replica and its state remembers nothing:
/// its state is never written, so it made every run scan the trail. Once
/// the plan runs it (the pause lifted), it is read for.
#[test]
fn the_trail_is_not_scanned_for_a_cluster_the_plan_leaves_alone() {
    let emu = fleet(1, "idle_suspend", r#"{"idle_after_s": 86400}"#);
    // `code`: a row in error makes a run exit 3, whatever else it does.
    let scans_of = |command: &[&str], code: i32| {
        emu.reset_stats();
        clusterctl(&emu, command).code(code);
        emu.logged("WITH drops AS").len()
    };
    // The fleet's fresh state is read for once, then never.
    for _ in 0..2 {
        scans_of(&["apply"], 0);
    }
    assert_eq!(scans_of(&["dry-run"], 0), 0, "settled");
    let idle = serde_json::json!({"idle_after_s": 86400});
    for name in ["paused", "invalid", "refreshed"] {
        emu.create_cluster(name);
    }
    strategy(&emu, "paused", "idle_suspend", idle.clone());
    clusterctl(&emu, &["strategy", "pause", "paused"]).ok();
    strategy(
        &emu,
        "invalid",
        "idle_suspend",
        serde_json::json!({"idle_after_s": "soon"}),
    );
    strategy(&emu, "refreshed", "idle_suspend", idle);
    emu.set_schedule("refreshed", "on-refresh");
    for _ in 0..2 {
        assert_eq!(scans_of(&["dry-run"], 3), 0, "all three are left alone");
        assert_eq!(scans_of(&["apply"], 3), 0, "all three are left alone");
    }
    // The pause lifted, the plan runs it: read once, as any such cluster.
    clusterctl(&emu, &["strategy", "resume", "paused"]).ok();
    assert_eq!(scans_of(&["apply"], 3), 1, "no replica, nothing remembered");
    assert_eq!(scans_of(&["apply"], 3), 0, "nothing to recall");
}

/// On a release with the auto-scaling relation, a cluster Materialize
/// scales itself is left alone, so the trail is read for it on no run,
/// though it has `idle_suspend`, no replica and nothing remembered: which
/// clusters need the trail is judged once the relation is read (it was
/// judged before, and such a cluster made every run scan the trail).
#[test]
fn the_trail_is_not_scanned_for_a_cluster_materialize_scales() {
    let emu = Emulator::builder().auto_scaling_relation(true).start();
    let auto = emu.create_managed_cluster("auto", "25cc", 0);
    emu.set_auto_scaling_strategy("auto", "800cc");
    let empty = emu.create_cluster("empty");
    init_tables(&emu);
    for name in ["auto", "empty"] {
        strategy(
            &emu,
            name,
            "idle_suspend",
            serde_json::json!({"idle_after_s": 86400}),
        );
    }
    let scans_of = |command: &str| {
        emu.reset_stats();
        clusterctl(&emu, &[command]).ok();
        emu.logged("WITH drops AS")
    };
    let scans = scans_of("dry-run");
    assert_eq!(scans.len(), 1, "{scans:?}");
    let names = |id: &str| scans[0].contains(&format!("'{id}'"));
    assert!(names(&empty) && !names(&auto), "{scans:?}");
    assert_eq!(
        scans_of("apply").len(),
        1,
        "read for empty: nothing to recall"
    );
    for command in ["dry-run", "apply", "dry-run"] {
        assert_eq!(scans_of(command), Vec::<String>::new(), "{command}");
    }
}

/// A run of some clusters (`--cluster b`) reads the audit trail and the
/// statement history for those alone. `a` would need both (no replica,
/// nothing remembered, and it learns its demand): a run over every
/// cluster reads them for it, a run of `b` does not, on every run (`a`'s
/// state is never written by it). `b`, suspended and its state wiped, is
/// still woken from its own rows of the trail, as a run over every
/// cluster wakes it.
#[test]
fn a_selection_reads_the_trail_and_the_history_only_for_what_it_plans() {
    let emu = Emulator::start();
    let b = emu.create_hydrated_cluster("b", "r1", "25cc");
    init_tables(&emu);
    strategy(
        &emu,
        "b",
        "idle_suspend",
        serde_json::json!({"idle_after_s": 60}),
    );
    emu.add_activity("b", 7200, true);
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("b").is_empty(), "suspended");
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    let a = emu.create_cluster("a");
    strategy(
        &emu,
        "a",
        "idle_suspend",
        serde_json::json!({"idle_after_s": 86400, "predict": true}),
    );
    emu.add_activity("b", 5, false);
    // (scans of the trail, reads of the history, b's actions)
    let run = |args: &[&str]| {
        emu.reset_stats();
        let plan = clusterctl(&emu, args).ok().json();
        let log = emu.sql_log();
        let scans: Vec<String> = log
            .iter()
            .filter(|q| q.contains("WITH drops AS"))
            .cloned()
            .collect();
        let history = log
            .iter()
            .filter(|q| q.contains("date_trunc('hour'"))
            .count();
        let actions = plan["result"]["plan"]["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["cluster"] == "b"))
            .map(|c| c["actions"].clone())
            .unwrap_or_default();
        (scans, history, actions)
    };
    let names = |sql: &str, id: &str| sql.contains(&format!("'{id}'"));
    let (all_scans, history, every) = run(&["dry-run", "-o", "json"]);
    assert_eq!(all_scans.len(), 1, "{all_scans:?}");
    assert_eq!(history, 1, "a learns its demand");
    let (scans, history, selected) = run(&["dry-run", "--cluster", "b", "-o", "json"]);
    assert_eq!(history, 0, "no cluster it plans predicts");
    assert_eq!(scans.len(), 1, "b forgot its wake: {scans:?}");
    assert!(names(&scans[0], &b) && !names(&scans[0], &a), "{scans:?}");
    assert!(names(&all_scans[0], &a) && names(&all_scans[0], &b));
    assert_eq!(selected, every, "b is planned as a run of all plans it");
    assert_eq!(selected[0]["kind"], "create_replica", "{selected:#}");
    assert_eq!(selected[0]["replica"], "r1", "{selected:#}");
    assert!(
        selected[0]["reasons"][0]
            .as_str()
            .is_some_and(|why| why.contains("per the audit trail")),
        "{selected:#}"
    );
    // `status` plans its selection alike.
    let status_of_b = |args: &[&str]| {
        let doc = clusterctl(&emu, args).ok().json();
        doc["result"]["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["cluster"] == "b"))
            .map(|c| (c["condition"].clone(), c["reason"].clone()))
            .unwrap_or_default()
    };
    let status = status_of_b(&["status", "--cluster", "b", "-o", "json"]);
    assert_eq!(status, status_of_b(&["status", "-o", "json"]));
    assert!(status.1.to_string().contains("r1"), "{status:?}");
    clusterctl(&emu, &["apply", "--cluster", "b"]).ok();
    assert_eq!(replica_names(&emu, "b"), ["r1"], "woken");
    // b remembers since; a still needs both, read by no run of b.
    for command in ["dry-run", "apply"] {
        let (scans, history, _) = run(&[command, "--cluster", "b", "-o", "json"]);
        assert_eq!((scans.len(), history), (0, 0), "{command}: {scans:?}");
    }
    let (scans, history, _) = run(&["dry-run", "-o", "json"]);
    assert_eq!(
        (scans.len(), history),
        (1, 1),
        "a run of all reads them for a"
    );
}

/// `status X` and `describe X` on a fleet where every cluster learns its
/// demand and its state began afresh (so a run over all clusters reads
/// the statement history and the trail's last suspensions for each): the
/// statements of each, and whether what they read per cluster names X
/// alone. The trail's newest action is read for X alone too, and only its
/// kind and replica of the decision context.
fn one_cluster_statements(n: usize) -> (u64, u64) {
    let emu = fleet(
        n,
        "idle_suspend",
        r#"{"idle_after_s": 86400, "predict": true}"#,
    );
    // Writes every cluster's state: the next plans read the trail for each.
    clusterctl(&emu, &["apply"]).ok();
    emu.sql(
        "INSERT INTO mz_cluster_strategy_actions \
         SELECT 'a' || id, id, 'DROP CLUSTER REPLICA x.r1', \
                jsonb_build_object('kind', 'drop_replica', 'replica', 'r1', \
                                   'reasons', jsonb_build_array(repeat('why ', 100))), \
                true, NULL, now() - INTERVAL '1 minute' \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'",
    );
    let (one, two) = (emu.cluster_id("fleet_1"), emu.cluster_id("fleet_2"));
    let per_cluster = |what: &str, needle: &str| {
        let reads: Vec<String> = emu.logged(needle);
        assert_eq!(reads.len(), 1, "{what}: {reads:?}");
        let names = |id: &str| reads[0].contains(&format!("'{id}'"));
        assert!(names(&one) && !names(&two), "{what} of {n}: {}", reads[0]);
    };

    emu.reset_stats();
    let status = clusterctl(&emu, &["status", "--cluster", "fleet_1", "-o", "json"])
        .ok()
        .json();
    let status_stats = emu.stats();
    let last = &status["result"]["clusters"][0]["last_action"];
    assert_eq!(
        (last["kind"].as_str(), last["replica"].as_str()),
        (Some("drop_replica"), Some("r1")),
        "{status:#}"
    );
    per_cluster("status's history", "date_trunc('hour'");
    let newest: Vec<String> =
        emu.logged("DISTINCT ON (cluster_id) action_id, cluster_id, action_sql");
    assert_eq!(newest.len(), 1, "{newest:?}");
    assert!(
        newest[0].contains("cluster_id IN ($1)") && !newest[0].contains("decision_ctx::text"),
        "the newest action of fleet_1 alone, its kind and replica: {}",
        newest[0]
    );

    emu.reset_stats();
    let described = clusterctl(&emu, &["describe", "fleet_1", "-o", "json"])
        .ok()
        .json();
    let describe_stats = emu.stats();
    assert_eq!(described["result"]["cluster"], "fleet_1", "{described:#}");
    per_cluster("describe's history", "date_trunc('hour'");
    per_cluster("describe's trail", "WITH drops AS");
    (status_stats.statements, describe_stats.statements)
}

/// `status X` and `describe X` read for X alone what they read per
/// cluster (the trail's newest action, its last suspensions, the statement
/// history by hour): `describe` read them for every cluster, `status` the
/// newest action of every cluster, whole. Their statement counts do not
/// grow with the fleet.
#[test]
fn status_and_describe_of_one_cluster_read_for_it_alone() {
    let small = one_cluster_statements(10);
    let large = one_cluster_statements(500);
    assert_eq!(small, large, "statements of status X and describe X");
}

/// Statements that record actions' outcomes (an UPDATE of the audit table,
/// each a read-then-write of the whole table in Materialize).
fn outcome_updates(emu: &Emulator) -> Vec<String> {
    emu.sql_log()
        .into_iter()
        .filter(|q| {
            q.trim_start().starts_with("UPDATE") && q.contains("mz_cluster_strategy_actions")
        })
        .collect()
}

/// A run's outcomes are recorded together: one statement for 20 actions
/// (each action had its own UPDATE, and each read the whole audit trail
/// in Materialize: 12 ms an action with an empty trail, 129 ms with
/// 300 000 rows, README "Known limit"); a failure goes with the next
/// intent, so its error is kept if the run dies after it.
#[test]
fn a_runs_outcomes_are_recorded_in_one_statement() {
    let emu = fleet(20, "target_size", r#"{"target_size": "50cc"}"#);
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply", "--filter-clusters", "^fleet_"]).ok();
    assert!(run.stdout.contains("Applied 20 of 20"), "{}", run.all());
    // The selection's line names a few, then how many more (one line of
    // every name was 45 KB at 3 000 clusters, every run).
    let selected = run
        .stdout
        .lines()
        .find(|l| l.starts_with("Selected by"))
        .unwrap_or_else(|| panic!("{}", run.all()));
    assert_eq!(selected.matches(" (u").count(), 10, "{selected}");
    assert!(
        selected.ends_with("and 10 more (`clusterctl status` with the same selection lists them)"),
        "{selected}"
    );
    let updates = outcome_updates(&emu);
    assert_eq!(updates.len(), 1, "{updates:?}");
    let open_or_failed = emu.query_one(
        "SELECT count(*) FROM mz_cluster_strategy_actions \
         WHERE executed IS NOT TRUE OR error_message IS NOT NULL",
    );
    assert_eq!(open_or_failed.as_deref(), Some("0"));
    let executed = emu.query_one(
        "SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed AND error_message IS NULL",
    );
    assert_eq!(executed.as_deref(), Some("20"));

    // A refused DDL's outcome is recorded with the next intent.
    emu.sql(
        "UPDATE mz_cluster_strategies SET config = '{\"target_size\": \"100cc\"}', updated_at = now()",
    );
    emu.reset_stats();
    emu.fail_ddl(3, "XX000", "refused for the test");
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(run.all().contains("refused for the test"), "{}", run.all());
    let updates = outcome_updates(&emu);
    assert_eq!(updates.len(), 2, "{updates:?}");
    let failed = emu.query_one(
        "SELECT count(*) FROM mz_cluster_strategy_actions \
         WHERE executed = false AND error_message LIKE '%refused for the test%'",
    );
    assert_eq!(failed.as_deref(), Some("1"));
    let open =
        emu.query_one("SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NULL");
    assert_eq!(open.as_deref(), Some("0"));
}

/// `apply --audit-retention`: settled rows older than the retention go,
/// once (not every run: each DELETE reads the whole table in
/// Materialize), audited; newer rows stay; too short a retention is
/// refused before connecting.
#[test]
fn audit_retention_prunes_old_settled_rows_once_and_audits_it() {
    let emu = fleet(
        2,
        "target_size",
        r#"{"target_size": "25cc", "replica_name": "r1"}"#,
    );
    let rows = |days: i64, n: i64| {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions
             SELECT md5(random()::text || g), 'u1', 'DROP CLUSTER REPLICA c.r',
                    '{{\"kind\": \"drop_replica\", \"reasons\": [\"a past run\"]}}', true, NULL,
                    now() - make_interval(days => {days})
             FROM generate_series(1, {n}) g"
        ))
    };
    rows(100, 5);
    rows(10, 3);
    // A row with an error but no outcome (not ours): not open, so pruned
    // as the settled ones are (it used to stay for ever).
    emu.sql(
        "INSERT INTO mz_cluster_strategy_actions VALUES ('foreign', 'u1', 'DROP CLUSTER REPLICA c.r', \
         '{\"kind\": \"drop_replica\"}', NULL, 'failed elsewhere', now() - INTERVAL '100 days')",
    );
    // `history` says it failed, as the run and the pruning judge it: not
    // `unknown` (which is what the next run settles).
    let foreign = clusterctl(&emu, &["history", "--failed", "--limit", "0", "-o", "json"])
        .ok()
        .json();
    let results: Vec<_> = foreign["result"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| (e["action_id"].clone(), e["result"].clone()))
        .collect();
    assert_eq!(
        results,
        [(serde_json::json!("foreign"), serde_json::json!("failed"))]
    );
    let count = |filter: &str| {
        emu.query_one(&format!(
            "SELECT count(*) FROM mz_cluster_strategy_actions WHERE {filter}"
        ))
    };
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply", "--audit-retention", "30d"]).ok();
    assert!(
        run.stdout
            .contains("Pruned 6 settled audit rows older than 30d (--audit-retention)."),
        "{}",
        run.all()
    );
    assert_eq!(
        count("created_at < now() - INTERVAL '30 days'").as_deref(),
        Some("0")
    );
    assert_eq!(
        count("decision_ctx->>'reasons' LIKE '%a past run%'").as_deref(),
        Some("3")
    );
    assert_eq!(
        count("decision_ctx->>'kind' = 'prune_audit' AND decision_ctx->>'rows_deleted' = '6'")
            .as_deref(),
        Some("1")
    );
    let deletes = |emu: &Emulator| {
        emu.sql_log()
            .into_iter()
            .filter(|q| q.starts_with("DELETE FROM \"mz_cluster_strategy_actions\""))
            .count()
    };
    assert_eq!(deletes(&emu), 1);
    let history = clusterctl(&emu, &["history"]).ok();
    assert!(
        history.stdout.contains("prune the audit trail")
            && history.stdout.contains("--audit-retention 30d: 6 settled"),
        "{}",
        history.all()
    );
    // JSON gives the figures as fields, as `apply -o json` did.
    let history = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let schema = crate::json_schema::schema();
    crate::json_schema::conforms(&schema, &history);
    let entries = history["result"]["entries"].as_array().cloned();
    let pruning = entries
        .unwrap_or_default()
        .into_iter()
        .find(|e| e["kind"] == "prune_audit");
    assert_eq!(
        pruning.map(|e| e["pruned"].clone()),
        Some(
            serde_json::json!({"rows_deleted": 6, "older_than_s": 2_592_000, "older_than": "30d"})
        ),
        "{history:#}"
    );

    // The oldest row left is 10 days old: nothing to prune for 20 more.
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply", "--audit-retention", "30d", "-o", "json"]).ok();
    assert_eq!(deletes(&emu), 0, "{:?}", emu.sql_log());
    assert!(run.json()["result"].get("plan").is_some(), "{}", run.stdout);
    assert!(
        run.json()["result"].get("pruned").is_none(),
        "{}",
        run.stdout
    );
    // JSON says what went.
    rows(100, 2);
    let run = clusterctl(&emu, &["apply", "--audit-retention", "30d", "-o", "json"]).ok();
    let pruned = &run.json()["result"]["pruned"];
    assert_eq!(
        (&pruned["rows_deleted"], &pruned["older_than"]),
        (&serde_json::json!(2), &serde_json::json!("30d")),
        "{}",
        run.stdout
    );

    let short = clusterctl(&emu, &["apply", "--audit-retention", "1d"]).code(64);
    assert!(short.stderr.contains("give at least 8d"), "{}", short.all());
}

/// `doctor` is where an operator learns that the trail wants pruning: a
/// large trail never pruned is a warning naming the flag, and once `apply
/// --audit-retention` pruned it, said as such.
#[test]
fn doctor_warns_of_a_large_trail_until_a_retention_prunes_it() {
    let emu = fleet(
        1,
        "target_size",
        r#"{"target_size": "25cc", "replica_name": "r1"}"#,
    );
    let audit_line = |out: &str| {
        out.lines()
            .skip_while(|l| !l.contains("the audit trail"))
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let run = clusterctl(&emu, &["doctor"]).ok();
    assert!(
        audit_line(&run.stdout).starts_with("ok       the audit trail is empty"),
        "{}",
        run.all()
    );
    emu.sql(
        "INSERT INTO mz_cluster_strategy_actions
         SELECT md5(g::text), 'u1', 'DROP CLUSTER REPLICA c.r',
                '{\"kind\": \"drop_replica\"}', true, NULL,
                now() - INTERVAL '200 days' + INTERVAL '1 hour' + make_interval(secs => g)
         FROM generate_series(1, 100000) g",
    );
    // The oldest is 199d22h59m59s old at the INSERT: still 199d however
    // slow the machine (it was a second short of 200d, and a run a second
    // later on a loaded machine said 200d).
    let run = clusterctl(&emu, &["doctor"]).ok();
    let said = audit_line(&run.stdout);
    assert!(
        said.starts_with("warning  the audit trail holds 100000 rows since ")
            && said.contains("(199d")
            && said.contains("fix: add `--audit-retention 90d` to `clusterctl apply`"),
        "{}",
        run.all()
    );
    let doc = clusterctl(&emu, &["doctor", "-o", "json"]).ok().json();
    let findings = findings(&doc);
    assert!(
        findings
            .iter()
            .any(|f| f["topic"] == "audit_trail" && f["level"] == "warning"),
        "{doc:#}"
    );

    clusterctl(&emu, &["apply", "--audit-retention", "90d"]).ok();
    let run = clusterctl(&emu, &["doctor"]).ok();
    let said = audit_line(&run.stdout);
    assert!(
        said.starts_with("info     the audit trail holds ")
            && said.contains("apply --audit-retention last pruned it at"),
        "{}",
        run.all()
    );
}
