//! The Materialize emulator itself: DDL through the proxy, error texts,
//! session variables, counters, faults, catalog helpers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::cli::pairs;
use crate::support::{describe, Emulator, Stats};

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// (message, hint, sqlstate) of a statement that must fail.
fn error_of(client: &mut Client, sql: &str) -> (String, Option<String>, String) {
    let err = client
        .batch_execute(sql)
        .expect_err(&format!("expected an error from {sql}"));
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server error from {sql}, got {err}"));
    (
        db.message().to_string(),
        db.hint().map(str::to_string),
        db.code().code().to_string(),
    )
}

fn message_of(client: &mut Client, sql: &str) -> String {
    error_of(client, sql).0
}

#[test]
fn seeded_environment_looks_like_materialize_cloud() {
    let emu = Emulator::start();
    let clusters = emu.query_strings(
        "SELECT id, name, managed::text, size, replication_factor::text
         FROM mz_catalog.mz_clusters ORDER BY id",
    );
    let names: Vec<_> = clusters.iter().map(|r| r[1].clone().unwrap()).collect();
    assert_eq!(
        names,
        [
            "mz_system",
            "mz_catalog_server",
            "mz_probe",
            "mz_support",
            "mz_analytics",
            "quickstart"
        ]
    );
    assert_eq!(emu.replicas("quickstart"), pairs(&[("r1", "25cc")]));
    let sizes = emu.query_strings(
        "SELECT size FROM mz_catalog.mz_cluster_replica_sizes ORDER BY credits_per_hour",
    );
    assert_eq!(sizes.len(), 15);
    assert_eq!(sizes[0][0].as_deref(), Some("25cc"));
    assert_eq!(sizes[14][0].as_deref(), Some("512C"));
    // Unqualified catalog names resolve like in Materialize.
    let mut c = connect(&emu.url());
    let n: i64 = c
        .query_one("SELECT count(*) FROM mz_clusters", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 6);
    // Redacted views have the documented column order.
    let cols = emu.query_strings(
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
         FROM information_schema.columns
         WHERE table_schema = 'mz_internal' AND table_name = 'mz_statement_execution_history_redacted'",
    );
    assert_eq!(
        cols[0][0].as_deref(),
        Some(
            "id,prepared_statement_id,sample_rate,cluster_id,application_name,cluster_name,\
             database_name,search_path,transaction_isolation,execution_timestamp,transaction_id,\
             transient_index_id,mz_version,began_at,finished_at,finished_status,result_size,\
             rows_returned,execution_strategy"
        )
    );
    let n = emu.query_one(
        "SELECT count(*) FROM information_schema.columns
         WHERE table_schema = 'mz_internal' AND table_name = 'mz_recent_activity_log_redacted'",
    );
    assert_eq!(n.as_deref(), Some("28"));
}

#[test]
fn replica_ddl_with_hostile_names() {
    let emu = Emulator::start();
    emu.create_cluster("Odd Cluster");
    emu.sql("CREATE TABLE x (a int)");
    let mut c = connect(&emu.url());
    let hostile = r#"a"; DROP TABLE x; --"#;
    c.batch_execute(
        r#"CREATE CLUSTER REPLICA "Odd Cluster"."a""; DROP TABLE x; --" (SIZE = '25cc')"#,
    )
    .unwrap();
    assert_eq!(emu.replicas("Odd Cluster"), pairs(&[(hostile, "25cc")]));
    // Extended protocol, unparenthesised options, lower-case keywords.
    c.execute(
        r#"create cluster replica "Odd Cluster".R2 size '50cc'"#,
        &[],
    )
    .unwrap();
    assert_eq!(
        emu.replicas("Odd Cluster"),
        pairs(&[(hostile, "25cc"), ("r2", "50cc")])
    );
    c.execute(
        r#"DROP CLUSTER REPLICA "Odd Cluster"."a""; DROP TABLE x; --", "Odd Cluster".r2"#,
        &[],
    )
    .unwrap();
    assert!(emu.replicas("Odd Cluster").is_empty());
    emu.sql("SELECT * FROM x"); // still there
                                // IF [NOT] EXISTS are no-ops.
    c.batch_execute(r#"DROP CLUSTER REPLICA IF EXISTS "Odd Cluster".nope"#)
        .unwrap();
    c.batch_execute(r#"CREATE CLUSTER REPLICA "Odd Cluster".r1 (SIZE '25cc')"#)
        .unwrap();
    c.batch_execute(r#"CREATE CLUSTER REPLICA IF NOT EXISTS "Odd Cluster".r1 (SIZE '100cc')"#)
        .unwrap();
    assert_eq!(emu.replicas("Odd Cluster"), pairs(&[("r1", "25cc")]));
}

#[test]
fn replica_ddl_errors_match_materialize() {
    let emu = Emulator::start();
    emu.create_cluster("c1");
    emu.add_replica("c1", "r1", "25cc");
    emu.create_managed_cluster("m1", "25cc", 1);
    let mut c = connect(&emu.url());

    let (msg, hint, code) = error_of(&mut c, "CREATE CLUSTER REPLICA c1.r2 SIZE = 'huge'");
    assert_eq!(msg, "unknown cluster replica size huge");
    assert_eq!(code, "XX000");
    assert_eq!(
        hint.as_deref(),
        Some(
            "Valid cluster replica sizes are: 25cc, 50cc, 100cc, 200cc, 300cc, 400cc, 600cc, \
             800cc, 1200cc, 1600cc, 3200cc, 6400cc, 128C, 256C, 512C"
        )
    );
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER REPLICA c1.r1 SIZE = '25cc'"),
        "cannot create multiple replicas named 'r1' on cluster 'c1'"
    );
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER REPLICA m1.r9 SIZE = '25cc'"),
        "cannot modify managed cluster m1"
    );
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER REPLICA nope.r1 SIZE = '25cc'"),
        "unknown cluster 'nope'"
    );
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER REPLICA mz_system.r2 SIZE = '25cc'"),
        "system cluster 'mz_system' cannot be modified"
    );
    assert_eq!(
        message_of(&mut c, r#"CREATE CLUSTER REPLICA c1."" SIZE = '25cc'"#),
        "zero-length delimited identifier"
    );
    let long = "x".repeat(256);
    assert_eq!(
        message_of(
            &mut c,
            &format!("CREATE CLUSTER REPLICA c1.{long} SIZE = '25cc'")
        ),
        format!("identifier too long (len 256, max 255, value {long})")
    );
    assert_eq!(
        message_of(&mut c, "DROP CLUSTER REPLICA c1.r7"),
        r#"CLUSTER c1 has no CLUSTER REPLICA named "r7""#
    );
    assert_eq!(
        message_of(&mut c, "DROP CLUSTER REPLICA nope.r1"),
        "unknown cluster 'nope'"
    );
    assert_eq!(
        message_of(&mut c, "DROP CLUSTER REPLICA m1.r1"),
        "cannot drop replica of managed cluster"
    );
    assert_eq!(
        message_of(&mut c, "DROP CLUSTER REPLICA mz_system.r1"),
        "system cluster replica 'r1' cannot be modified"
    );
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER m1 SET REPLICATION FACTOR 2"),
        "Expected left parenthesis, found REPLICATION"
    );
    // Broken cluster DDL fails with a syntax error and never reaches PostgreSQL raw.
    let (msg, _, code) = error_of(&mut c, "CREATE CLUSTER REPLICA c1 SIZE '25cc'");
    assert_eq!(code, "42601", "{msg}");
    let (_, _, code) = error_of(&mut c, "DROP CLUSTER REPLICA 'c1'.r1");
    assert_eq!(code, "42601");
    // A failed statement in a batch stops the batch, like Materialize.
    assert_eq!(emu.replicas("c1"), pairs(&[("r1", "25cc")]));
    // Errors through the extended protocol too.
    let err = c
        .execute("CREATE CLUSTER REPLICA c1.r1 (SIZE '25cc')", &[])
        .unwrap_err();
    assert_eq!(
        err.as_db_error().unwrap().message(),
        "cannot create multiple replicas named 'r1' on cluster 'c1'"
    );
}

#[test]
fn managed_cluster_ddl() {
    let emu = Emulator::start();
    let mut c = connect(&emu.url());
    c.batch_execute("CREATE CLUSTER m (SIZE = '50cc', REPLICATION FACTOR = 2)")
        .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc"), ("r2", "50cc")]));
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER m SIZE '50cc'"),
        "cluster 'm' already exists"
    );
    c.batch_execute("ALTER CLUSTER m SET (REPLICATION FACTOR 1)")
        .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc")]));
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '100cc') WITH (WAIT UNTIL READY (TIMEOUT = '10m', ON TIMEOUT = 'COMMIT'))")
        .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "100cc")]));
    c.batch_execute(
        "ALTER CLUSTER m SET (SCHEDULE = ON REFRESH (HYDRATION TIME ESTIMATE = '1 hour'))",
    )
    .unwrap();
    let sched = emu.query_strings(&format!(
        "SELECT type, refresh_hydration_time_estimate::text FROM mz_internal.mz_cluster_schedules WHERE cluster_id = '{}'",
        emu.cluster_id("m")
    ));
    assert_eq!(
        sched,
        vec![vec![Some("on-refresh".into()), Some("01:00:00".into())]]
    );
    c.batch_execute("ALTER CLUSTER m SET (SCHEDULE = MANUAL)")
        .unwrap();
    c.batch_execute("ALTER CLUSTER m SET (MANAGED = false)")
        .unwrap();
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER m SET (SIZE '25cc')"),
        "SIZE not supported for unmanaged clusters"
    );
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER m SET (REPLICATION FACTOR 3)"),
        "REPLICATION FACTOR not supported for unmanaged clusters"
    );
    c.batch_execute("CREATE CLUSTER REPLICA m.extra SIZE '25cc'")
        .unwrap();
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER m SET (MANAGED)"),
        "Cannot convert unmanaged cluster to managed, invalid replica names: extra"
    );
    c.batch_execute("DROP CLUSTER REPLICA m.extra; ALTER CLUSTER m SET (MANAGED = true)")
        .unwrap();
    let row = emu.query_strings(
        "SELECT managed::text, size, replication_factor::text FROM mz_catalog.mz_clusters WHERE name = 'm'",
    );
    assert_eq!(
        row,
        vec![vec![
            Some("true".into()),
            Some("100cc".into()),
            Some("1".into())
        ]]
    );
    c.batch_execute("CREATE CLUSTER u (REPLICAS (a (SIZE '25cc'), b (SIZE = '50cc')))")
        .unwrap();
    assert_eq!(emu.replicas("u"), pairs(&[("a", "25cc"), ("b", "50cc")]));
    c.batch_execute("CREATE CLUSTER e REPLICAS ()").unwrap();
    assert!(emu.replicas("e").is_empty());
    emu.add_index("e");
    assert!(message_of(&mut c, "DROP CLUSTER e").starts_with("cannot drop cluster e"));
    c.batch_execute("DROP CLUSTER e CASCADE; DROP CLUSTER IF EXISTS nope")
        .unwrap();
    c.batch_execute("DROP CLUSTER u").unwrap();
    assert_eq!(
        message_of(&mut c, "DROP CLUSTER mz_probe"),
        "system cluster 'mz_probe' cannot be modified"
    );
    let n = emu.query_one("SELECT count(*) FROM mz_catalog.mz_clusters WHERE name IN ('e', 'u')");
    assert_eq!(n.as_deref(), Some("0"));
}

#[test]
fn session_cluster_variable() {
    let emu = Emulator::start();
    let mut c = connect(&emu.url());
    let show = |c: &mut Client| -> String {
        let rows = c.simple_query("SHOW cluster").unwrap();
        rows.into_iter()
            .find_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(show(&mut c), "quickstart");
    c.batch_execute("SET cluster = ops").unwrap();
    assert_eq!(show(&mut c), "ops");
    c.batch_execute("SET CLUSTER TO 'My Cluster'").unwrap();
    assert_eq!(show(&mut c), "My Cluster");
    c.batch_execute("SET cluster = \"Quoted\"; SELECT 1")
        .unwrap();
    let v: String = c.query_one("SHOW cluster", &[]).unwrap().get(0);
    assert_eq!(v, "Quoted");
    // Another session still has the default.
    let mut other = connect(&emu.url());
    assert_eq!(show(&mut other), "quickstart");
}

#[test]
fn statement_counting_and_log() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    let mut c = connect(&emu.url());
    emu.reset_stats();
    c.batch_execute("SELECT 1").unwrap();
    assert_eq!(
        emu.stats(),
        Stats {
            queries: 1,
            parses: 0,
            executes: 0,
            ddl: 0,
            statements: 1
        }
    );
    c.query("SELECT $1::int", &[&1i32]).unwrap();
    let s = emu.stats();
    assert_eq!((s.parses, s.executes, s.statements), (1, 1, 2));
    c.batch_execute(
        "CREATE CLUSTER REPLICA c.r1 SIZE '25cc'; CREATE CLUSTER REPLICA c.r2 SIZE '25cc'",
    )
    .unwrap();
    c.execute("DROP CLUSTER REPLICA c.r2", &[]).unwrap();
    let s = emu.stats();
    assert_eq!(s.ddl, 3);
    assert_eq!(s.queries, 2);
    let log = emu.sql_log();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0], "SELECT 1");
    assert_eq!(log[3], "DROP CLUSTER REPLICA c.r2");
    emu.reset_stats();
    assert_eq!(emu.stats(), Stats::default());
    assert!(emu.sql_log().is_empty());
    // Helpers go straight to PostgreSQL and are not counted.
    emu.add_replica("c", "r9", "25cc");
    assert_eq!(emu.stats(), Stats::default());
}

#[test]
fn fault_fail_ddl() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    let mut c = connect(&emu.url());
    c.batch_execute("SELECT 1").unwrap();
    emu.fail_ddl(2, "40001", "another operation is in progress");
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .unwrap();
    let (msg, _, code) = error_of(&mut c, "CREATE CLUSTER REPLICA c.r2 SIZE '25cc'");
    assert_eq!(
        (msg.as_str(), code.as_str()),
        ("another operation is in progress", "40001")
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
    // One-shot: the same statement works afterwards, also via Parse.
    emu.fail_ddl(1, "XX000", "boom");
    let err = c
        .execute("CREATE CLUSTER REPLICA c.r2 SIZE '25cc'", &[])
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().message(), "boom");
    c.execute("CREATE CLUSTER REPLICA c.r2 SIZE '25cc'", &[])
        .unwrap();
    assert_eq!(emu.replicas("c").len(), 2);
}

#[test]
fn fault_drop_connection_before_and_after_ddl() {
    let emu = Emulator::start();
    emu.create_cluster("c");

    emu.drop_connection_before_ddl(1);
    let mut c = connect(&emu.url());
    c.batch_execute("SELECT 1").unwrap();
    assert!(c
        .batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .is_err());
    assert!(c.is_closed() || c.batch_execute("SELECT 1").is_err());
    assert!(emu.replicas("c").is_empty(), "the DDL must not have run");

    emu.drop_connection_after_ddl(1);
    let mut c = connect(&emu.url());
    assert!(c
        .batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .is_err());
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "25cc")]),
        "the DDL took effect"
    );

    // Extended protocol: the DDL runs, the client sees only a closed connection.
    emu.drop_connection_after_ddl(1);
    let mut c = connect(&emu.url());
    assert!(c
        .execute("CREATE CLUSTER REPLICA c.r2 SIZE '25cc'", &[])
        .is_err());
    assert_eq!(emu.replicas("c").len(), 2);

    // New connections work again.
    let mut c = connect(&emu.url());
    c.batch_execute("DROP CLUSTER REPLICA c.r2").unwrap();
}

#[test]
fn fault_hook_runs_before_the_ddl() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    let seen = Arc::new(Mutex::new(String::new()));
    let (seen2, direct) = (seen.clone(), emu.direct_url());
    emu.on_ddl(1, move |stmt| {
        *seen2.lock().unwrap() = stmt.to_string();
        // A concurrent operator adds the same replica first.
        let mut admin = connect(&direct);
        admin
            .batch_execute(
                "SELECT mz_emulator.insert_replica((SELECT id FROM mz_catalog.mz_clusters WHERE name = 'c'), 'r1', '25cc')",
            )
            .unwrap();
    });
    let mut c = connect(&emu.url());
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER REPLICA c.r1 SIZE '50cc'"),
        "cannot create multiple replicas named 'r1' on cluster 'c'"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        "CREATE CLUSTER REPLICA c.r1 SIZE '50cc'"
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
}

#[test]
fn delay_models_round_trips() {
    let emu = Emulator::start();
    let mut c = connect(&emu.url());
    emu.set_delay(Duration::from_millis(150));
    let t = Instant::now();
    c.batch_execute("SELECT 1").unwrap();
    c.query_one("SELECT 1", &[]).unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    emu.set_delay(Duration::ZERO);
    let t = Instant::now();
    c.batch_execute("SELECT 1").unwrap();
    assert!(t.elapsed() < Duration::from_millis(150));
}

#[test]
fn replica_status_view_and_crashes() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    let r1 = emu.add_replica("c", "r1", "25cc");
    let r2 = emu.add_replica("c", "r2", "128C");
    emu.add_crash("c", "r1", true, 600); // before the replica's creation event
    emu.add_crash("c", "r2", false, -5); // newest event
    emu.add_crash("c", "r2", true, -10);
    let rows = emu.query_strings(&format!(
        "SELECT replica_id, process_id::text, status, reason
         FROM mz_internal.mz_cluster_replica_statuses
         WHERE replica_id IN ('{r1}', '{r2}') ORDER BY replica_id, process_id"
    ));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        vec![
            vec![s(&r1), s("0"), s("online"), None],
            vec![s(&r2), s("0"), s("offline"), s("oom-killed")],
            vec![s(&r2), s("1"), s("online"), None],
        ]
    );
    let ooms = emu.query_one(&format!(
        "SELECT count(*) FROM mz_internal.mz_cluster_replica_status_history
         WHERE replica_id = '{r2}' AND reason = 'oom-killed'"
    ));
    assert_eq!(ooms.as_deref(), Some("1"));
    // Dropped replicas leave the view; their history stays.
    let mut c = connect(&emu.url());
    c.batch_execute("DROP CLUSTER REPLICA c.r2").unwrap();
    let n = emu.query_one(&format!(
        "SELECT count(*) FROM mz_internal.mz_cluster_replica_statuses WHERE replica_id = '{r2}'"
    ));
    assert_eq!(n.as_deref(), Some("0"));
    let n = emu.query_one(&format!(
        "SELECT count(*) FROM mz_internal.mz_cluster_replica_status_history WHERE replica_id = '{r2}'"
    ));
    assert_eq!(n.as_deref(), Some("4"));
}

#[test]
fn hydration_activity_and_schedules() {
    let emu = Emulator::start();
    let cid = emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    let idx = emu.add_index("c");
    let mv = emu.add_materialized_view("c");
    let src = emu.add_source("c", "postgres");
    emu.add_source("c", "webhook");
    let rid = emu.replica_id("c", "r1");
    let hydrated = || {
        emu.query_strings(&format!(
            "SELECT object_id, hydrated::text FROM mz_internal.mz_hydration_statuses
             WHERE replica_id = '{rid}' ORDER BY object_id"
        ))
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        hydrated(),
        vec![
            vec![s(&idx), s("false")],
            vec![s(&mv), s("false")],
            vec![s(&src), s("false")],
        ]
    );
    emu.set_hydrated("c", "r1", true);
    assert!(hydrated().iter().all(|r| r[1].as_deref() == Some("true")));
    let n = emu.query_one(&format!(
        "SELECT count(*) FROM mz_internal.mz_compute_hydration_statuses WHERE replica_id = '{rid}' AND hydrated"
    ));
    assert_eq!(n.as_deref(), Some("2"));
    // A replica created later starts not hydrated.
    let mut c = connect(&emu.url());
    c.batch_execute("CREATE CLUSTER REPLICA c.r2 SIZE '25cc'")
        .unwrap();
    let n = emu.query_one(
        "SELECT count(*) FROM mz_internal.mz_hydration_statuses h
         JOIN mz_catalog.mz_cluster_replicas r ON r.id = h.replica_id
         WHERE r.name = 'r2' AND NOT h.hydrated",
    );
    assert_eq!(n.as_deref(), Some("3"));

    emu.add_activity("c", 3600, true);
    emu.add_activity("c", 10, false);
    emu.add_activity("c", 3 * 86400, true);
    let rows = emu.query_strings(&format!(
        "SELECT count(*), count(*) FILTER (WHERE finished_at IS NULL),
                (now() - max(began_at) < INTERVAL '11 seconds')::text
         FROM mz_internal.mz_statement_execution_history_redacted WHERE cluster_id = '{cid}'"
    ));
    assert_eq!(rows, vec![vec![s("3"), s("1"), s("true")]]);
    let n = emu.query_one(&format!(
        "SELECT count(*) FROM mz_internal.mz_recent_activity_log_redacted WHERE cluster_id = '{cid}'"
    ));
    assert_eq!(n.as_deref(), Some("2"));

    emu.set_schedule("c", "on-refresh");
    let t = emu.query_one(&format!(
        "SELECT type FROM mz_internal.mz_cluster_schedules WHERE cluster_id = '{cid}'"
    ));
    assert_eq!(t.as_deref(), Some("on-refresh"));
}

#[test]
fn seeds_ten_thousand_clusters_quickly() {
    let emu = Emulator::start();
    let t = Instant::now();
    emu.seed_clusters(10_000, "bulk_");
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let rows = emu.query_strings(
        "SELECT count(DISTINCT c.id), count(DISTINCT r.id), count(DISTINCT i.id),
                bool_and(h.hydrated)::text
         FROM mz_catalog.mz_clusters c
         JOIN mz_catalog.mz_cluster_replicas r ON r.cluster_id = c.id
         JOIN mz_catalog.mz_indexes i ON i.cluster_id = c.id
         JOIN mz_internal.mz_hydration_statuses h ON h.object_id = i.id AND h.replica_id = r.id
         WHERE c.name LIKE 'bulk\\_%'",
    );
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        vec![vec![s("10000"), s("10000"), s("10000"), s("true")]]
    );
    assert_eq!(emu.replicas("bulk_9999"), pairs(&[("r1", "25cc")]));
}

#[test]
fn readonly_role_reads_but_cannot_write() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    let url = emu.readonly_url("clusterctl");
    emu.sql("CREATE TABLE clusterctl.state (a int)");
    let mut ro = connect(&url);
    let n: i64 = ro
        .query_one("SELECT count(*) FROM mz_catalog.mz_clusters", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 7);
    ro.batch_execute("SELECT * FROM clusterctl.state").unwrap();
    assert!(ro
        .batch_execute("INSERT INTO clusterctl.state VALUES (1)")
        .is_err());
    assert!(ro
        .batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .is_err());
    assert!(ro
        .batch_execute("CREATE TABLE clusterctl.t (a int)")
        .is_err());
    assert!(emu.replicas("c").is_empty());
}

#[test]
fn many_concurrent_connections() {
    let emu = Emulator::start();
    for i in 0..40 {
        emu.create_cluster(&format!("c{i}"));
    }
    let url = emu.url();
    let threads: Vec<_> = (0..40)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = connect(&url);
                c.batch_execute(&format!("CREATE CLUSTER REPLICA c{i}.r1 SIZE '25cc'"))
                    .unwrap();
                for _ in 0..5 {
                    c.query("SELECT count(*) FROM mz_catalog.mz_cluster_replicas", &[])
                        .unwrap();
                }
                c.execute(&format!("CREATE CLUSTER REPLICA c{i}.r2 SIZE '50cc'"), &[])
                    .map_err(|e| describe(&e))
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let n = emu.query_one(
        "SELECT count(*) FROM mz_catalog.mz_cluster_replicas r
         JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id WHERE c.name LIKE 'c%'",
    );
    assert_eq!(n.as_deref(), Some("80"));
    assert_eq!(emu.stats().ddl, 80);
}

#[test]
fn tls_material_is_exported() {
    // scripts/pg.sh provides a CA for the server certificate and an unrelated one.
    if let (Some(ca), Some(wrong)) = (crate::support::ca_path(), crate::support::wrong_ca_path()) {
        let ca = std::fs::read_to_string(ca).unwrap();
        let wrong = std::fs::read_to_string(wrong).unwrap();
        assert!(ca.contains("BEGIN CERTIFICATE"));
        assert_ne!(ca, wrong);
    }
}
