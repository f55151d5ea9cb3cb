//! The Materialize emulator itself: DDL through the proxy, error texts,
//! session variables, counters, faults, catalog helpers; and the production
//! behaviours of reference §8 (releases, the session cluster, privileges,
//! limits, the sampled statement log, replica status, newer relations), the
//! fault injection of issue 13 and clock skew. Every modelled Materialize
//! error is checked against [`MATERIALIZE_ERRORS`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};

use crate::cli::pairs;
use crate::support::{
    describe, libfaketime, product_command_with_clock_offset, with_clock_offset, Action, Emulator,
    HangingListener, Pattern, Release, Stats,
};

/// The emulator as it always was, whatever CLUSTERCTL_EMULATOR_STRICT says:
/// the tests of the lenient behaviour use it.
fn lenient() -> Emulator {
    Emulator::builder().lenient().start()
}

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

/// Runs each statement of `sql` in a query of its own, as a client must
/// for Materialize's DDL (refused in a query of several statements).
fn singly(client: &mut Client, sql: &str) {
    for stmt in crate::support::ddl::split_statements(sql) {
        if !stmt.trim().is_empty() {
            client
                .batch_execute(stmt)
                .unwrap_or_else(|e| panic!("{stmt}: {e}"));
        }
    }
}

fn message_of(client: &mut Client, sql: &str) -> String {
    error_of(client, sql).0
}

#[test]
fn seeded_environment_looks_like_materialize_cloud() {
    let emu = lenient();
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
    let emu = lenient();
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
    let emu = lenient();
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
    // Names Materialize reserves for its own objects (`is_reserved_name`:
    // the builtin prefixes, compared case and all).
    for name in ["mz_r", "pg_r", "external_r"] {
        assert_eq!(
            message_of(
                &mut c,
                &format!("CREATE CLUSTER REPLICA c1.{name} SIZE = '25cc'")
            ),
            format!("replica name \"{name}\" is reserved")
        );
    }
    c.batch_execute(r#"CREATE CLUSTER REPLICA c1."MZ_r" SIZE = '25cc'"#)
        .unwrap();
    c.batch_execute(r#"DROP CLUSTER REPLICA c1."MZ_r""#)
        .unwrap();
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
    let emu = lenient();
    let mut c = connect(&emu.url());
    c.batch_execute("CREATE CLUSTER m (SIZE = '50cc', REPLICATION FACTOR = 2)")
        .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc"), ("r2", "50cc")]));
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER m SIZE '50cc'"),
        "cluster 'm' already exists"
    );
    for name in ["mz_m", "pg_m", "external_m"] {
        assert_eq!(
            message_of(&mut c, &format!("CREATE CLUSTER {name} SIZE '50cc'")),
            format!("cluster name \"{name}\" is reserved")
        );
        assert_eq!(
            message_of(&mut c, &format!("ALTER CLUSTER m RENAME TO {name}")),
            format!("cluster name \"{name}\" is reserved")
        );
    }
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
    singly(
        &mut c,
        "DROP CLUSTER REPLICA m.extra; ALTER CLUSTER m SET (MANAGED = true)",
    );
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
    singly(
        &mut c,
        "DROP CLUSTER e CASCADE; DROP CLUSTER IF EXISTS nope",
    );
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
    let emu = lenient();
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
    let emu = lenient();
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
    singly(
        &mut c,
        "CREATE CLUSTER REPLICA c.r1 SIZE '25cc'; CREATE CLUSTER REPLICA c.r2 SIZE '25cc'",
    );
    c.execute("DROP CLUSTER REPLICA c.r2", &[]).unwrap();
    let s = emu.stats();
    assert_eq!(s.ddl, 3);
    assert_eq!(s.queries, 3);
    let log = emu.sql_log();
    assert_eq!(log.len(), 5, "{log:?}");
    assert_eq!(log[0], "SELECT 1");
    assert_eq!(log[4], "DROP CLUSTER REPLICA c.r2");
    emu.reset_stats();
    assert_eq!(emu.stats(), Stats::default());
    assert!(emu.sql_log().is_empty());
    // Helpers go straight to PostgreSQL and are not counted.
    emu.add_replica("c", "r9", "25cc");
    assert_eq!(emu.stats(), Stats::default());
}

#[test]
fn fault_fail_ddl() {
    let emu = lenient();
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
    let emu = lenient();
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

/// §2.4: a rename or a swap changes names only; ids and replicas stay.
#[test]
fn clusters_are_renamed_and_swapped_by_name_keeping_their_ids() {
    let emu = lenient();
    let a = emu.create_cluster("a");
    emu.add_replica("a", "r1", "25cc");
    let b = emu.create_cluster("b");
    let mut c = connect(&emu.url());
    c.batch_execute("ALTER CLUSTER a RENAME TO \"A b\"")
        .unwrap();
    assert_eq!(emu.cluster_id("A b"), a);
    assert_eq!(emu.replicas("A b"), pairs(&[("r1", "25cc")]));
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER \"A b\" RENAME TO b"),
        "cluster 'b' already exists"
    );
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER a RENAME TO z"),
        "unknown cluster 'a'"
    );
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER mz_system RENAME TO z"),
        "system cluster 'mz_system' cannot be modified"
    );
    c.batch_execute("ALTER CLUSTER b SWAP WITH \"A b\"")
        .unwrap();
    assert_eq!(emu.cluster_id("b"), a);
    assert_eq!(emu.cluster_id("A b"), b);
    assert_eq!(emu.replicas("b"), pairs(&[("r1", "25cc")]));
}

/// §2.4: a replica of an unmanaged cluster is renamed in place: its id,
/// size and hydration stay. Checks and texts as Materialize's planner and
/// catalog make them (cluster.slt, managed_cluster.slt).
#[test]
fn replicas_of_unmanaged_clusters_are_renamed_in_place() {
    let emu = lenient();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_replica("c", "r2", "50cc");
    let id = emu.replica_id("c", "r1");
    let mut c = connect(&emu.url());
    c.batch_execute("ALTER CLUSTER REPLICA c.r1 RENAME TO \"Old r1\"")
        .unwrap();
    assert_eq!(emu.replica_id("c", "Old r1"), id);
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("Old r1", "25cc"), ("r2", "50cc")])
    );
    let hydrated = emu.query_one(&format!(
        "SELECT bool_and(hydrated)::text FROM mz_internal.mz_hydration_statuses WHERE replica_id = '{id}'"
    ));
    assert_eq!(
        hydrated.as_deref(),
        Some("true"),
        "hydration stays with the id"
    );
    // The old name is free again, for CREATE as for a rename.
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .unwrap();
    for (sql, message) in [
        (
            "ALTER CLUSTER REPLICA c.r1 RENAME TO r2",
            "uniqueness violation".to_string(),
        ),
        (
            "ALTER CLUSTER REPLICA c.gone RENAME TO r9",
            r#"CLUSTER c has no CLUSTER REPLICA named "gone""#.to_string(),
        ),
        (
            "ALTER CLUSTER REPLICA nope.r1 RENAME TO r9",
            "unknown cluster 'nope'".to_string(),
        ),
        (
            "ALTER CLUSTER REPLICA c RENAME TO r9",
            "Expected dot, found RENAME".to_string(),
        ),
        (
            "ALTER CLUSTER REPLICA c.r1 RENAME TO mz_r1",
            r#"replica name "mz_r1" is reserved"#.to_string(),
        ),
        (
            "ALTER CLUSTER REPLICA mz_system.r1 RENAME TO r9",
            "cannot modify managed cluster mz_system".to_string(),
        ),
        (
            &format!("ALTER CLUSTER REPLICA c.r1 RENAME TO {}", "x".repeat(256)),
            format!(
                "identifier too long (len 256, max 255, value {})",
                "x".repeat(256)
            ),
        ),
    ] {
        assert_eq!(message_of(&mut c, sql), message, "{sql}");
    }
    // A rename to its own name changes nothing; IF EXISTS of a missing
    // replica or cluster does nothing.
    c.batch_execute("ALTER CLUSTER REPLICA c.r2 RENAME TO r2")
        .unwrap();
    c.batch_execute("ALTER CLUSTER REPLICA IF EXISTS c.gone RENAME TO r9")
        .unwrap();
    c.batch_execute("ALTER CLUSTER REPLICA IF EXISTS nope.r1 RENAME TO r9")
        .unwrap();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("Old r1", "25cc"), ("r1", "25cc"), ("r2", "50cc")])
    );
    // Managed clusters name their replicas themselves.
    emu.create_managed_cluster("m", "25cc", 1);
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER REPLICA m.r1 RENAME TO r9"),
        "cannot modify managed cluster m"
    );
}

#[test]
fn fault_hook_runs_before_the_ddl() {
    let emu = lenient();
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
    let emu = lenient();
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
    c.batch_execute("SELECT 1").unwrap();
}

#[test]
fn replica_status_view_and_crashes() {
    let emu = lenient();
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
    let emu = lenient();
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
fn seeds_ten_thousand_clusters() {
    let emu = lenient();
    emu.seed_clusters(10_000, "bulk_");
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
    let emu = lenient();
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
    let emu = lenient();
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

// ---------------------------------------------------------------------------
// Production behaviour (reference §8) and faults (issue 13)
// ---------------------------------------------------------------------------

/// Materialize's errors that the strict behaviours reproduce: (SQLSTATE,
/// message, where the message comes from, where the SQLSTATE comes from).
/// "§…" is the reference document (shared/reference/materialize-catalog.md;
/// `error_table_quotes_the_reference_document` checks those quotes); a path
/// is a file of MaterializeInc/materialize that was read for it.
const MATERIALIZE_ERRORS: &[(&str, &str, &str, &str)] = &[
    (
        "0A000",
        r#"CLUSTER "x" has no replicas available to service request"#,
        "§8.2",
        "§2.5",
    ),
    (
        "57014",
        "canceling statement, provided timeout lapsed",
        "§2.4",
        "§2.4",
    ),
    (
        "55006",
        "cannot alter clusters with pending updates",
        "§2.4",
        "§2.4",
    ),
    (
        "55006",
        "cannot change replication factor while a reconfiguration is in progress",
        "§8.1",
        "§8.1",
    ),
    (
        "53000",
        "creating cluster replica would violate max_replicas_per_cluster limit (desired: 99, limit: 5, current: 0)",
        "§2.1",
        "§2.5",
    ),
    // Catalog errors are XX000 (§2.5).
    ("XX000", "unknown cluster 'no_such_cluster'", "§2.3", "§2.5"),
    // AdapterError::InvalidSetCluster -> ACTIVE_SQL_TRANSACTION.
    (
        "25001",
        "SET cluster cannot be called in an active transaction",
        "§4",
        "src/adapter/src/error.rs",
    ),
    // UnauthorizedError::Ownership (a replica printed as a QualifiedReplica);
    // Unauthorized -> INSUFFICIENT_PRIVILEGE.
    (
        "42501",
        "must be owner of CLUSTER REPLICA c.r1",
        "src/sql/src/rbac.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42501",
        "must be owner of CLUSTER c",
        "src/sql/src/rbac.rs",
        "src/adapter/src/error.rs",
    ),
    // UnauthorizedError::Privilege with ErrorMessageObjectDescription (TYPE
    // "name", src/sql/src/catalog.rs); who may read the view: the access lists
    // in src/catalog/src/builtin/mz_internal.rs.
    (
        "42501",
        r#"permission denied for VIEW "mz_internal.mz_statement_execution_history_redacted""#,
        "src/sql/src/rbac.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42501",
        r#"permission denied for CLUSTER "private""#,
        "src/sql/src/rbac.rs",
        "src/adapter/src/error.rs",
    ),
    // VarError::RequiresFeatureFlag ("{} is not supported") with the flag's
    // desc in src/sql/src/session/vars/definitions.rs; a planning error (XX000).
    (
        "XX000",
        "Enable zero-downtime reconfiguration for alter cluster is not supported",
        "src/sql/src/session/vars/error.rs",
        "src/adapter/src/error.rs",
    ),
    // Materialize's own list of expected 55006 texts in its workload tests:
    // "cannot (change replication factor|change the cluster schedule|convert
    // cluster to unmanaged) while a reconfiguration is in progress".
    (
        "55006",
        "cannot change the cluster schedule while a reconfiguration is in progress",
        "Materialize workload tests",
        "Materialize workload tests",
    ),
    // CatalogError::UnknownItem and UnknownSchema, planning errors (XX000):
    // where PostgreSQL says `relation "…" does not exist` (42P01) and
    // `schema "…" does not exist` (3F000).
    (
        "XX000",
        "unknown catalog item 'public.no_such_table'",
        "src/sql/src/catalog.rs",
        "§2.5",
    ),
    (
        "XX000",
        "unknown catalog item 'no_such_table'",
        "src/sql/src/catalog.rs",
        "§2.5",
    ),
    (
        "XX000",
        "unknown schema 'no_such_schema'",
        "src/sql/src/catalog.rs",
        "§2.5",
    ),
    // UnrecognizedConfigurationParam -> UNDEFINED_OBJECT.
    (
        "42704",
        r#"unrecognized configuration parameter "enable_background_alter_cluster""#,
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    // The same for a feature flag or dyncfg to a user other than
    // Materialize's own (VarError::UnknownParameter from
    // VarDefinition::visible, src/sql/src/session/vars/definitions.rs).
    (
        "42704",
        r#"unrecognized configuration parameter "enable_zero_downtime_cluster_reconfiguration""#,
        "src/sql/src/session/vars/definitions.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42704",
        r#"unrecognized configuration parameter "default_cluster_reconfiguration_timeout""#,
        "src/sql/src/session/vars/definitions.rs",
        "src/adapter/src/error.rs",
    ),    // Transactions (refusals.rs): TransactionStatus::add_ops in
    // src/adapter/src/session.rs, handle_execute_inner in
    // src/adapter/src/coord/command_handler.rs.
    (
        "25006",
        "transaction in read-only mode",
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "25000",
        "transaction in write-only mode",
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "25000",
        "this transaction can only execute a single statement",
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "25000",
        "transactions which modify objects are restricted to just modifying objects",
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    // OperationProhibitsTransaction, with the statement's text.
    (
        "25001",
        "UPDATE t SET a = 1 cannot be run inside a transaction block",
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "25001",
        "DELETE FROM t cannot be run inside a transaction block",
        "src/adapter/src/error.rs",
        "src/adapter/src/error.rs",
    ),
    // PostgreSQL-only SQL. Parser errors ("Expected {what}, found {token}",
    // the form pinned in src/sql-parser/tests/testdata/insert) are
    // ParseError -> SYNTAX_ERROR.
    (
        "42601",
        r#"Expected a keyword at the beginning of a statement, found identifier "savepoint""#,
        "src/sql-parser/src/parser.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42601",
        "Expected end of statement, found TO",
        "src/sql-parser/src/parser.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42601",
        "Expected end of statement, found ON",
        "src/sql-parser/src/parser.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42601",
        "Expected end of statement, found FOR",
        "src/sql-parser/src/parser.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "42601",
        "Expected DATABASE, SCHEMA, ROLE, TYPE, INDEX, SINK, SOURCE, [TEMPORARY] TABLE, \
         SECRET, [OR REPLACE] [TEMPORARY] VIEW, or [OR REPLACE] MATERIALIZED VIEW after \
         CREATE, found identifier \"sequence\"",
        "src/sql-parser/src/parser.rs",
        "src/adapter/src/error.rs",
    ),
    // PlanError::UnknownFunction, a planning error (XX000).
    (
        "XX000",
        "function pg_advisory_lock(integer) does not exist",
        "src/sql/src/plan/error.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "XX000",
        "function nextval(unknown) does not exist",
        "src/sql/src/plan/error.rs",
        "src/adapter/src/error.rs",
    ),
    // plan_create_table: the unsafe feature flags' descs
    // (src/sql/src/session/vars/definitions.rs) with VarError's "{} is not
    // supported" (XX000); a column's REFERENCES or CHECK is
    // bail_unsupported! -> PlanError::Unsupported -> FEATURE_NOT_SUPPORTED.
    (
        "XX000",
        "CREATE TABLE with a primary key or unique constraint is not supported",
        "src/sql/src/plan/statement/ddl.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "XX000",
        "CREATE TABLE with a check constraint is not supported",
        "src/sql/src/plan/statement/ddl.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "XX000",
        "CREATE TABLE with a foreign key is not supported",
        "src/sql/src/plan/statement/ddl.rs",
        "src/adapter/src/error.rs",
    ),
    (
        "0A000",
        "CREATE TABLE with column constraint: REFERENCES t (a) not yet supported",
        "src/sql/src/plan/statement/ddl.rs",
        "src/adapter/src/error.rs",
    ),
];

#[test]
fn a_missing_relation_or_schema_is_named_as_materialize_names_it() {
    let emu = Emulator::start();
    let mut c = connect(&emu.url());
    for (sql, text) in [
        (
            "SELECT * FROM public.no_such_table",
            "unknown catalog item 'public.no_such_table'",
        ),
        (
            "SELECT * FROM no_such_table",
            "unknown catalog item 'no_such_table'",
        ),
        // PostgreSQL says the relation is missing; Materialize names the schema.
        (
            "SELECT * FROM no_such_schema.t",
            "unknown schema 'no_such_schema'",
        ),
        (
            "INSERT INTO no_such_schema.t VALUES (1)",
            "unknown schema 'no_such_schema'",
        ),
        (
            "CREATE TABLE no_such_schema.t (a int)",
            "unknown schema 'no_such_schema'",
        ),
    ] {
        expect_materialize_error(&mut c, sql, text);
    }
    // Through the extended protocol too, and the session goes on.
    let err = c.query("SELECT * FROM no_such_schema.t", &[]).unwrap_err();
    assert_materialize_error(&err, "unknown schema 'no_such_schema'");
    assert_eq!(c.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
}

/// Asserts that `err` is the table's error with this exact text.
#[track_caller]
fn assert_materialize_error(err: &postgres::Error, text: &str) {
    let (code, _, _, _) = MATERIALIZE_ERRORS
        .iter()
        .find(|(_, t, _, _)| *t == text)
        .unwrap_or_else(|| panic!("{text:?} is not in MATERIALIZE_ERRORS"));
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server error, got {err}"));
    assert_eq!(
        (db.message(), db.code().code()),
        (text, *code),
        "{}",
        describe(err)
    );
}

#[track_caller]
fn expect_materialize_error(c: &mut Client, sql: &str, text: &str) {
    let err = c
        .batch_execute(sql)
        .expect_err(&format!("expected an error from {sql}"));
    assert_materialize_error(&err, text);
}

/// The reference document, when this checkout sits next to it.
fn reference_document() -> Option<String> {
    let path = std::env::var_os("CLUSTERCTL_REFERENCE_DOC")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/reference/materialize-catalog.md")
        });
    std::fs::read_to_string(path).ok()
}

#[test]
fn error_table_quotes_the_reference_document() {
    let Some(doc) = reference_document() else {
        eprintln!("reference document not found; set CLUSTERCTL_REFERENCE_DOC to check the quotes");
        return;
    };
    // The document wraps lines inside quotes: compare with whitespace folded.
    let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let doc = fold(&doc);
    for (code, text, text_from, code_from) in MATERIALIZE_ERRORS {
        if text_from.starts_with('§') {
            assert!(
                doc.contains(&fold(text)),
                "{text_from}: {text:?} is not in the reference"
            );
        }
        if code_from.starts_with('§') {
            assert!(
                doc.contains(code),
                "{code_from}: SQLSTATE {code} is not in the reference"
            );
        }
    }
}

fn show(c: &mut Client, setting: &str) -> Result<String, postgres::Error> {
    let rows = c.simple_query(&format!("SHOW {setting}"))?;
    Ok(rows
        .into_iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .expect("a SHOW row"))
}

/// Polls `cond` until it holds (a bounded wait for another thread, not a timing assert).
#[track_caller]
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A managed cluster `name` of `size` × `rf` with one index, hydrated.
fn hydrated_managed(emu: &Emulator, name: &str, size: &str, rf: i64) {
    emu.create_managed_cluster(name, size, rf);
    emu.add_index(name);
    emu.hydrate_every_replica(name);
}

fn pending_replicas(emu: &Emulator) -> Vec<String> {
    emu.query_strings(
        "SELECT r.name FROM mz_internal.mz_pending_cluster_replicas p
         JOIN mz_catalog.mz_cluster_replicas r ON r.id = p.id ORDER BY r.name",
    )
    .into_iter()
    .map(|r| r[0].clone().unwrap())
    .collect()
}

#[test]
fn versions_and_settings_per_release() {
    for (release, version, num, zero_downtime, background) in [
        (Release::Instant, "v26.34.0", 2_603_400, "on", None),
        (Release::Gated, "v25.2.0", 2_500_200, "off", None),
        (Release::Blocking, "v26.34.0", 2_603_400, "on", None),
        (Release::Background, "v26.35.0", 2_603_500, "on", Some("on")),
    ] {
        let emu = Emulator::builder()
            .lenient()
            .materialize_release(release)
            .start();
        let mut c = connect(&emu.url());
        let v: String = c.query_one("SELECT mz_version()", &[]).unwrap().get(0);
        assert!(v.starts_with(&format!("{version} (")), "{release:?}: {v}");
        let n: i32 = c.query_one("SELECT mz_version_num()", &[]).unwrap().get(0);
        assert_eq!(n, num, "{release:?}");
        // The flags are the release's (what its DDL follows), but `SHOW`
        // refuses them to our users as Materialize does its feature flags
        // and dyncfgs (VarDefinition::visible: mz_system and mz_support
        // only).
        assert_eq!(
            emu.setting("enable_zero_downtime_cluster_reconfiguration")
                .as_deref(),
            Some(zero_downtime),
            "{release:?}"
        );
        assert_eq!(
            emu.setting("enable_background_alter_cluster").as_deref(),
            Some(background.unwrap_or("off")),
            "{release:?}"
        );
        for flag in [
            "enable_zero_downtime_cluster_reconfiguration",
            "enable_background_alter_cluster",
            "default_cluster_reconfiguration_timeout",
        ] {
            assert_materialize_error(
                &show(&mut c, flag).unwrap_err(),
                &format!(r#"unrecognized configuration parameter "{flag}""#),
            );
        }
        assert_eq!(show(&mut c, "max_replicas_per_cluster").unwrap(), "1000");
        // A setting users see (user_visible), on by default.
        assert_eq!(show(&mut c, "enable_rbac_checks").unwrap(), "on");
        assert_eq!(
            show(&mut c, "statement_logging_max_sample_rate").unwrap(),
            "1"
        );
    }
    // Versions and settings can be set per test.
    let emu = Emulator::builder()
        .lenient()
        .mz_version("v26.40.1 (0123abcde)")
        .statement_sample_rate(0.0, 0.99)
        .start();
    let mut c = connect(&emu.url());
    let n: i32 = c.query_one("SELECT mz_version_num()", &[]).unwrap().get(0);
    assert_eq!(n, 2_604_001);
    assert_eq!(
        show(&mut c, "statement_logging_default_sample_rate").unwrap(),
        "0"
    );
    emu.set_setting("max_replicas_per_cluster", "7");
    assert_eq!(show(&mut c, "max_replicas_per_cluster").unwrap(), "7");
    // PostgreSQL's own settings still answer.
    assert!(show(&mut c, "statement_timeout").is_ok());
}

#[test]
fn gated_release_rejects_graceful_resize_and_restarts_on_plain_resize() {
    let emu = Emulator::builder()
        .lenient()
        .materialize_release(Release::Gated)
        .start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let before = emu.replica_id("m", "r1");
    let mut c = connect(&emu.url());
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER m SET (SIZE = '50cc') WITH (WAIT UNTIL READY (TIMEOUT = '10m', ON TIMEOUT = 'ROLLBACK'))",
        "Enable zero-downtime reconfiguration for alter cluster is not supported",
    );
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));
    // A plain resize is a restart: the replica is replaced at once.
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '50cc')")
        .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc")]));
    assert_ne!(emu.replica_id("m", "r1"), before);
    assert_eq!(emu.cluster_size("m").as_deref(), Some("50cc"));
    // With the feature flag on, WAIT works (as in the blocking release).
    emu.set_setting("enable_zero_downtime_cluster_reconfiguration", "on");
    c.batch_execute(
        "ALTER CLUSTER m SET (SIZE = '100cc') WITH (WAIT UNTIL READY (TIMEOUT = '0s', ON TIMEOUT = 'COMMIT'))",
    )
    .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "100cc")]));
}

/// `ALTER CLUSTER m SET (SIZE = '50cc')` waiting until ready (600 s, then
/// `on_timeout`), on a session of its own.
fn resizing_to_50cc(
    emu: &Emulator,
    on_timeout: &'static str,
) -> std::thread::JoinHandle<Result<(), postgres::Error>> {
    let url = emu.url();
    std::thread::spawn(move || {
        connect(&url).batch_execute(&format!(
            "ALTER CLUSTER m SET (SIZE = '50cc') WITH (WAIT UNTIL READY (TIMEOUT = '600s', ON TIMEOUT = '{on_timeout}'))"
        ))
    })
}

#[test]
fn blocking_release_waits_for_pending_replicas() {
    let emu = Emulator::builder()
        .lenient()
        .materialize_release(Release::Blocking)
        .start();
    hydrated_managed(&emu, "m", "25cc", 2);
    let alter = resizing_to_50cc(&emu, "ROLLBACK");
    wait_until("pending replicas", || pending_replicas(&emu).len() == 2);
    assert_eq!(pending_replicas(&emu), ["r1-pending", "r2-pending"]);
    assert_eq!(
        emu.replicas("m"),
        pairs(&[
            ("r1", "25cc"),
            ("r1-pending", "50cc"),
            ("r2", "25cc"),
            ("r2-pending", "50cc")
        ])
    );
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    assert!(!alter.is_finished(), "the ALTER holds its session");
    // Meanwhile any other ALTER of the cluster is refused.
    let mut c = connect(&emu.url());
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER m SET (REPLICATION FACTOR 3)",
        "cannot alter clusters with pending updates",
    );
    emu.set_hydrated("m", "r1-pending", true);
    assert!(!alter.is_finished(), "r2-pending is not hydrated yet");
    emu.set_hydrated("m", "r2-pending", true);
    alter
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc"), ("r2", "50cc")]));
    assert_eq!(emu.cluster_size("m").as_deref(), Some("50cc"));
    assert!(pending_replicas(&emu).is_empty());
}

/// The proxy's half of "the pending replicas go with the statement": a
/// waiting statement that ends in a cancel the emulator's own loop did not
/// catch (one that lands in its COMMIT) is stood in for by another canceled
/// statement of the session the resize names as its waiter.
#[test]
fn a_canceled_waiter_loses_its_pending_replicas_before_it_hears_of_it() {
    let emu = Emulator::builder()
        .lenient()
        .materialize_release(Release::Blocking)
        .start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let alter = resizing_to_50cc(&emu, "ROLLBACK");
    wait_until("pending replica", || pending_replicas(&emu).len() == 1);
    // Another session becomes the resize's waiter, then is canceled.
    let mut waiter = connect(&emu.url());
    let pid: i32 = waiter
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    emu.sql(&format!(
        "UPDATE mz_emulator.reconfigurations SET waiter_pid = {pid} WHERE status = 'pending'"
    ));
    let cancel = waiter.cancel_token();
    let sleeper = std::thread::spawn(move || {
        let err = waiter.batch_execute("SELECT pg_sleep(30)").unwrap_err();
        // The pending replica is gone by the time the error arrives.
        (
            err.as_db_error().map(|d| d.code().code().to_string()),
            waiter,
        )
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    cancel.cancel_query(postgres::NoTls).unwrap();
    let (code, _waiter) = sleeper.join().unwrap();
    assert_eq!(code.as_deref(), Some("57014"));
    assert!(pending_replicas(&emu).is_empty());
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));
    assert_eq!(
        emu.reconfiguration_status("m").as_deref(),
        Some("cancelled")
    );
    // The statement that started it learns it was canceled.
    let err = alter.join().unwrap().unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "57014");
}

#[test]
fn blocking_release_timeouts_and_cancellation() {
    let emu = Emulator::builder()
        .lenient()
        .materialize_release(Release::Blocking)
        .start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let start = |on_timeout: &'static str| resizing_to_50cc(&emu, on_timeout);
    // ROLLBACK: the pending replicas go, the statement fails with 57014.
    let alter = start("ROLLBACK");
    wait_until("pending replica", || pending_replicas(&emu).len() == 1);
    emu.expire_reconfiguration("m");
    let err = alter.join().unwrap().unwrap_err();
    assert_materialize_error(&err, "canceling statement, provided timeout lapsed");
    assert_eq!(
        err.as_db_error().unwrap().hint(),
        Some("Consider increasing the timeout duration in the alter cluster statement.")
    );
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    // A zero timeout with ROLLBACK fails at once when nothing is ready.
    let mut c = connect(&emu.url());
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER m SET (SIZE = '50cc') WITH (WAIT UNTIL READY (TIMEOUT = '0s', ON TIMEOUT = 'ROLLBACK'))",
        "canceling statement, provided timeout lapsed",
    );
    // COMMIT: the cut-over happens at the deadline, hydrated or not.
    let alter = start("COMMIT");
    wait_until("pending replica", || pending_replicas(&emu).len() == 1);
    emu.expire_reconfiguration("m");
    alter.join().unwrap().unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc")]));
    // A canceled statement takes its pending replicas with it.
    let url = emu.url();
    let (tx, rx) = std::sync::mpsc::channel();
    let alter = std::thread::spawn(move || {
        let mut c = connect(&url);
        tx.send(c.cancel_token()).unwrap();
        c.batch_execute(
            "ALTER CLUSTER m SET (SIZE = '100cc') WITH (WAIT UNTIL READY (TIMEOUT = '600s'))",
        )
    });
    let cancel = rx.recv().unwrap();
    wait_until("pending replica", || pending_replicas(&emu).len() == 1);
    cancel.cancel_query(postgres::NoTls).unwrap();
    let err = alter.join().unwrap().unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "57014");
    // Gone with the statement, before the client saw the error, as in
    // Materialize (also when the cancel lands in the waiting loop's COMMIT,
    // which no block catches: the proxy rolls the resize back then).
    assert!(pending_replicas(&emu).is_empty());
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "50cc")]));
}

#[test]
fn background_release_resizes_in_the_background() {
    let emu = Emulator::builder()
        .lenient()
        .materialize_release(Release::Background)
        .start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let mut c = connect(&emu.url());
    // A plain resize returns at once; the size is the realized one until cut-over.
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '50cc')")
        .unwrap();
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc"), ("r2", "50cc")]));
    assert!(pending_replicas(&emu).is_empty(), "no -pending replicas");
    assert_eq!(emu.reconfiguration_status("m").as_deref(), Some("pending"));
    let row = emu.query_strings(&format!(
        "SELECT current_size, target_size, reconfiguration_in_flight::text
         FROM mz_internal.mz_cluster_reconfigurations WHERE cluster_id = '{}'",
        emu.cluster_id("m")
    ));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(row, vec![vec![s("25cc"), s("50cc"), s("true")]]);
    // A replication-factor change must wait.
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER m SET (REPLICATION FACTOR 2)",
        "cannot change replication factor while a reconfiguration is in progress",
    );
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER m SET (SCHEDULE = MANUAL)",
        "cannot change the cluster schedule while a reconfiguration is in progress",
    );
    // A second resize folds into the one in flight (new target, new replicas).
    c.batch_execute(
        "ALTER CLUSTER m SET (SIZE = '100cc') WITH (WAIT UNTIL READY (TIMEOUT = '1h'))",
    )
    .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc"), ("r3", "100cc")]));
    let in_flight = emu.query_one(&format!(
        "SELECT count(*) FROM mz_emulator.reconfigurations
         WHERE cluster_id = '{}' AND status = 'pending'
           AND deadline BETWEEN now() + INTERVAL '59 minutes' AND now() + INTERVAL '61 minutes'",
        emu.cluster_id("m")
    ));
    assert_eq!(
        in_flight.as_deref(),
        Some("1"),
        "one record, deadline reset"
    );
    // Cut-over once the target is hydrated.
    emu.set_hydrated("m", "r3", true);
    assert_eq!(emu.cluster_size("m").as_deref(), Some("100cc"));
    assert_eq!(emu.replicas("m"), pairs(&[("r3", "100cc")]));
    assert_eq!(emu.reconfiguration_status("m").as_deref(), Some("done"));
    // Now the replication factor may change (by count: a fresh name).
    c.batch_execute("ALTER CLUSTER m SET (REPLICATION FACTOR 2)")
        .unwrap();
    assert_eq!(
        emu.replicas("m"),
        pairs(&[("r3", "100cc"), ("r4", "100cc")])
    );
}

#[test]
fn background_release_deadlines_cancellation_and_waiting() {
    let emu = Emulator::builder()
        .lenient()
        .materialize_release(Release::Background)
        .start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let mut c = connect(&emu.url());
    // ON TIMEOUT defaults to ROLLBACK at the deadline (1 day by default).
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '50cc')")
        .unwrap();
    let deadline = emu.query_one(&format!(
        "SELECT (deadline - started_at)::text FROM mz_emulator.reconfigurations WHERE cluster_id = '{}'",
        emu.cluster_id("m")
    ));
    assert_eq!(deadline.as_deref(), Some("1 day"));
    emu.expire_reconfiguration("m");
    assert_eq!(
        emu.reconfiguration_status("m").as_deref(),
        Some("timed-out")
    );
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc")]));
    assert_eq!(emu.cluster_size("m").as_deref(), Some("25cc"));
    // ON TIMEOUT COMMIT cuts over at the deadline.
    c.batch_execute(
        "ALTER CLUSTER m SET (SIZE = '50cc') WITH (WAIT UNTIL READY (TIMEOUT = '1h', ON TIMEOUT = 'COMMIT'))",
    )
    .unwrap();
    emu.expire_reconfiguration("m");
    assert_eq!(emu.cluster_size("m").as_deref(), Some("50cc"));
    // Asking for the realized size cancels the resize in flight.
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '100cc')")
        .unwrap();
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '50cc')")
        .unwrap();
    assert_eq!(
        emu.reconfiguration_status("m").as_deref(),
        Some("cancelled")
    );
    assert_eq!(emu.cluster_size("m").as_deref(), Some("50cc"));
    assert_eq!(emu.replicas("m").len(), 1);
    // Without enable_background_alter_cluster the statement waits for the record.
    emu.set_setting("enable_background_alter_cluster", "off");
    let url = emu.url();
    let alter = std::thread::spawn(move || {
        connect(&url)
            .batch_execute("ALTER CLUSTER m SET (SIZE = '200cc')")
            .map_err(|e| describe(&e))
    });
    wait_until("target replica", || emu.replicas("m").len() == 2);
    assert!(!alter.is_finished());
    let target = emu
        .replicas("m")
        .into_iter()
        .find(|(_, size)| size == "200cc")
        .unwrap()
        .0;
    emu.set_hydrated("m", &target, true);
    alter.join().unwrap().unwrap();
    assert_eq!(emu.cluster_size("m").as_deref(), Some("200cc"));
}

/// The status of the cluster's latest reconfiguration record, read without
/// letting the controller catch up (the helpers do let it).
fn raw_reconfiguration_status(emu: &Emulator, cluster: &str) -> String {
    let cid = emu.cluster_id(cluster);
    emu.admin()
        .query_one(
            "SELECT status FROM mz_emulator.reconfigurations WHERE cluster_id = $1
             ORDER BY id DESC LIMIT 1",
            &[&cid],
        )
        .expect("raw reconfiguration status")
        .get(0)
}

/// (size, in flight, replicas as name:size) of a cluster, as a client of the
/// proxy reads them: the product's view.
fn cluster_as_read(c: &mut Client, cluster: &str) -> (String, bool, Vec<String>) {
    let row = c
        .query_one(
            "SELECT c.size, r.reconfiguration_in_flight
             FROM mz_catalog.mz_clusters c
             JOIN mz_internal.mz_cluster_reconfigurations r ON r.cluster_id = c.id
             WHERE c.name = $1",
            &[&cluster],
        )
        .expect("read the cluster through the proxy");
    let replicas = c
        .simple_query(&format!(
            "SELECT r.name || ':' || r.size FROM mz_catalog.mz_cluster_replicas r
             JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
             WHERE c.name = '{cluster}' ORDER BY r.name"
        ))
        .expect("read the replicas through the proxy")
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect();
    (row.get(0), row.get(1), replicas)
}

#[test]
fn a_background_resize_rolls_back_at_its_deadline_without_being_poked() {
    // Strict: the newest release, where the controller resizes in the background.
    let emu = Emulator::start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let mut c = connect(&emu.url());
    c.batch_execute(
        "ALTER CLUSTER m SET (SIZE = '50cc') \
         WITH (WAIT UNTIL READY (TIMEOUT = '1s', ON TIMEOUT = 'ROLLBACK'))",
    )
    .unwrap();
    let (size, in_flight, replicas) = cluster_as_read(&mut c, "m");
    assert_eq!(
        (size.as_str(), in_flight, replicas),
        (
            "25cc",
            true,
            vec!["r1:25cc".to_string(), "r2:50cc".to_string()]
        ),
        "in flight before the deadline"
    );
    std::thread::sleep(Duration::from_millis(1200));
    // A statement that reads none of what a resize changes leaves the
    // controller alone: nothing has poked it since the deadline.
    c.batch_execute("SELECT 1").unwrap();
    assert_eq!(raw_reconfiguration_status(&emu, "m"), "pending");
    // A reader after the deadline sees what Materialize's controller did by
    // itself: the target replicas dropped, the size never changed.
    let (size, in_flight, replicas) = cluster_as_read(&mut c, "m");
    assert_eq!(
        (size.as_str(), in_flight, replicas),
        ("25cc", false, vec!["r1:25cc".to_string()]),
        "rolled back at the deadline"
    );
    assert_eq!(raw_reconfiguration_status(&emu, "m"), "timed-out");
    // The cluster may be altered again at once.
    c.batch_execute("ALTER CLUSTER m SET (REPLICATION FACTOR 2)")
        .unwrap();
    assert_eq!(emu.replicas("m"), pairs(&[("r1", "25cc"), ("r2", "25cc")]));
}

#[test]
fn a_background_resize_cuts_over_when_its_target_hydrates_in_direct_sql() {
    let emu = Emulator::start();
    hydrated_managed(&emu, "m", "25cc", 1);
    let mut c = connect(&emu.url());
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '50cc')")
        .unwrap();
    let target = emu.replica_id("m", "r2");
    // The target comes up and hydrates, written straight into the catalog
    // (no helper that ticks): only the controller may notice.
    emu.sql(&format!(
        "SELECT mz_emulator.add_status_event('{target}', 'online', NULL);
         UPDATE mz_internal.mz_hydration_statuses SET hydrated = true WHERE replica_id = '{target}';
         UPDATE mz_internal.mz_compute_hydration_statuses SET hydrated = true
         WHERE replica_id = '{target}';"
    ));
    assert_eq!(raw_reconfiguration_status(&emu, "m"), "pending");
    // A plain read of the hydration relation (extended protocol) sees the
    // controller's cut-over already made: the old replica is gone.
    let hydration: Vec<String> = c
        .query(
            "SELECT r.name FROM mz_internal.mz_hydration_statuses h
             JOIN mz_catalog.mz_cluster_replicas r ON r.id = h.replica_id
             JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
             WHERE c.name = $1 ORDER BY r.name",
            &[&"m"],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hydration, ["r2"]);
    assert_eq!(raw_reconfiguration_status(&emu, "m"), "done");
    let (size, in_flight, replicas) = cluster_as_read(&mut c, "m");
    assert_eq!(
        (size.as_str(), in_flight, replicas),
        ("50cc", false, vec!["r2:50cc".to_string()])
    );
}

#[test]
fn own_tables_run_on_the_session_cluster() {
    let emu = Emulator::builder()
        .lenient()
        .strict_session_cluster(true)
        .start();
    emu.sql("CREATE TABLE t (a int, b timestamptz)");
    let mut c = connect(&emu.url());
    c.batch_execute("SELECT * FROM t").unwrap();
    // quickstart loses its only replica.
    emu.sql("SELECT mz_emulator.delete_replica('u1')");
    let err = c.batch_execute("SELECT * FROM t").unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(
        (db.message(), db.code().code()),
        (
            r#"CLUSTER "quickstart" has no replicas available to service request"#,
            "0A000"
        )
    );
    assert_eq!(
        db.hint(),
        Some("Use ALTER CLUSTER to adjust the replication factor of the cluster. Example:`ALTER CLUSTER <cluster-name> SET (REPLICATION FACTOR 1)`")
    );
    // Reads and writes of own tables, through both protocols.
    for sql in [
        "UPDATE t SET a = 2",
        "DELETE FROM public.t WHERE a = 1",
        "INSERT INTO t (a) SELECT 1",
        "INSERT INTO t (a, b) VALUES (1, now())",
    ] {
        let (_, _, code) = error_of(&mut c, sql);
        assert_eq!(code, "0A000", "{sql}");
    }
    let err = c
        .query("SELECT a FROM t WHERE a = $1", &[&1i32])
        .unwrap_err();
    assert_eq!(err.as_db_error().unwrap().code().code(), "0A000");
    // The connection is fine afterwards; catalog queries and constants need no replica.
    let n: i64 = c
        .query_one("SELECT count(*) FROM mz_catalog.mz_clusters", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 6);
    c.batch_execute("SELECT 1; SELECT now()").unwrap();
    c.execute(
        "INSERT INTO t (a, b) VALUES ($1, $2::text::timestamptz)",
        &[&7i32, &"2024-01-01 00:00:00+00"],
    )
    .unwrap();
    // Another cluster with a replica serves; an unknown one is accepted by
    // SET and fails the next statement that needs it.
    emu.create_cluster("x");
    emu.add_replica("x", "r1", "25cc");
    c.batch_execute("SET cluster = x; SELECT * FROM t").unwrap();
    emu.sql(&format!(
        "SELECT mz_emulator.delete_replica('{}')",
        emu.replica_id("x", "r1")
    ));
    expect_materialize_error(
        &mut c,
        "SELECT * FROM t",
        r#"CLUSTER "x" has no replicas available to service request"#,
    );
    let (_, hint, _) = error_of(&mut c, "SELECT * FROM t");
    assert_eq!(
        hint.as_deref(),
        Some("Use CREATE CLUSTER REPLICA to attach cluster replicas to the cluster")
    );
    c.batch_execute("SET cluster = no_such_cluster").unwrap();
    assert_eq!(show(&mut c, "cluster").unwrap(), "no_such_cluster");
    expect_materialize_error(
        &mut c,
        "SELECT * FROM t",
        "unknown cluster 'no_such_cluster'",
    );
    c.batch_execute("SELECT count(*) FROM mz_catalog.mz_cluster_replicas")
        .unwrap();
    // Materialize's connection option sets the session cluster too.
    let mut o = connect(&format!("{}&options=--cluster%3Dx", emu.url()));
    assert_eq!(show(&mut o, "cluster").unwrap(), "x");
    expect_materialize_error(
        &mut o,
        "SELECT * FROM t",
        r#"CLUSTER "x" has no replicas available to service request"#,
    );
    // SET cluster is refused once a transaction has done something
    // (`validate_set_cluster`: the transaction contains ops); before, it
    // may still choose its cluster.
    c.batch_execute("BEGIN").unwrap();
    c.batch_execute("SET cluster = no_such_cluster").unwrap();
    c.batch_execute("SELECT 1").unwrap();
    expect_materialize_error(
        &mut c,
        "SET cluster = quickstart",
        "SET cluster cannot be called in an active transaction",
    );
    c.batch_execute("ROLLBACK").unwrap();
    // An error injected into the extended protocol aborts the transaction.
    c.batch_execute("BEGIN").unwrap();
    assert!(c.query("SELECT a FROM t", &[]).is_err());
    let (_, _, code) = error_of(&mut c, "SELECT 1");
    assert_eq!(code, "25P02");
    c.batch_execute("ROLLBACK").unwrap();
    // Without the rule nothing is checked.
    emu.set_session_cluster_rule(false);
    c.batch_execute("SELECT * FROM t").unwrap();
}

#[test]
fn session_cluster_needs_usage() {
    let emu = Emulator::builder()
        .lenient()
        .strict_session_cluster(true)
        .start();
    let app = emu.create_role("app");
    emu.create_cluster("private");
    emu.add_replica("private", "r1", "25cc");
    let mut c = connect(&app.url());
    singly(&mut c, "CREATE TABLE mine (a int); SELECT * FROM mine");
    c.batch_execute("SET cluster = private").unwrap();
    expect_materialize_error(
        &mut c,
        "SELECT * FROM mine",
        r#"permission denied for CLUSTER "private""#,
    );
    emu.sql(&format!(
        "UPDATE mz_catalog.mz_clusters SET privileges = privileges || '{}=U/u1'::text
         WHERE name = 'private'",
        app.id
    ));
    c.batch_execute("SELECT * FROM mine").unwrap();
}

#[test]
fn superuser_and_cluster_privilege_functions_answer_for_the_session_role() {
    // §8.4: `mz_is_superuser()` and `has_cluster_privilege(cluster, priv)`.
    let emu = lenient();
    let app = emu.create_role("app");
    emu.create_cluster("private");
    let mut admin = connect(&emu.url());
    let mut c = connect(&app.url());
    let ask = |c: &mut Client, sql: &str| -> Option<bool> { c.query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(ask(&mut admin, "SELECT mz_is_superuser()"), Some(true));
    assert_eq!(ask(&mut c, "SELECT mz_is_superuser()"), Some(false));
    let usage = "SELECT has_cluster_privilege('private', 'USAGE')";
    assert_eq!(ask(&mut admin, usage), Some(true));
    assert_eq!(ask(&mut c, usage), Some(false));
    assert_eq!(
        ask(
            &mut c,
            "SELECT has_cluster_privilege('quickstart', 'USAGE')"
        ),
        Some(true),
        "quickstart: USAGE for PUBLIC"
    );
    emu.set_cluster_owner("private", &app.name);
    assert_eq!(
        ask(&mut c, usage),
        Some(true),
        "owners hold every privilege"
    );
}

#[test]
fn ddl_needs_ownership() {
    let emu = lenient();
    let app = emu.create_role("app");
    let other = emu.create_role("other");
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    emu.create_managed_cluster("m", "25cc", 1);
    let mut c = connect(&app.url());
    let me: String = c.query_one("SELECT current_role", &[]).unwrap().get(0);
    assert_eq!(me, app.name);
    let id = emu.query_one(&format!(
        "SELECT id FROM mz_catalog.mz_roles WHERE name = '{}'",
        app.name
    ));
    assert_eq!(id.as_deref(), Some(app.id.as_str()));
    expect_materialize_error(
        &mut c,
        "CREATE CLUSTER REPLICA c.r2 SIZE '25cc'",
        "must be owner of CLUSTER c",
    );
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER c SET (MANAGED = false)",
        "must be owner of CLUSTER c",
    );
    let (msg, _, code) = error_of(&mut c, "ALTER CLUSTER m SET (REPLICATION FACTOR 2)");
    assert_eq!(
        (msg.as_str(), code.as_str()),
        ("must be owner of CLUSTER m", "42501")
    );
    // A managed cluster's replica has no owner of its own to change: it
    // follows the cluster's (refused before privileges are checked).
    assert_eq!(
        message_of(
            &mut c,
            &format!("ALTER CLUSTER REPLICA m.r1 OWNER TO {}", other.name)
        ),
        "cannot modify managed cluster m"
    );
    let (msg, _, code) = error_of(&mut c, "CREATE CLUSTER mine (SIZE '25cc')");
    assert_eq!(
        (msg.as_str(), code.as_str()),
        ("permission denied for SYSTEM", "42501")
    );
    // Owning the cluster allows CREATE; the new replica belongs to the
    // cluster's owner (here its creator too; r3 below is made by another).
    emu.set_cluster_owner("c", &app.name);
    c.batch_execute("CREATE CLUSTER REPLICA c.r2 SIZE '25cc'")
        .unwrap();
    let owner = emu.query_one(&format!(
        "SELECT owner_id FROM mz_catalog.mz_cluster_replicas WHERE id = '{}'",
        emu.replica_id("c", "r2")
    ));
    assert_eq!(owner.as_deref(), Some(app.id.as_str()));
    // DROP and RENAME need ownership of the replica itself.
    expect_materialize_error(
        &mut c,
        "DROP CLUSTER REPLICA c.r1",
        "must be owner of CLUSTER REPLICA c.r1",
    );
    expect_materialize_error(
        &mut c,
        "ALTER CLUSTER REPLICA c.r1 RENAME TO r9",
        "must be owner of CLUSTER REPLICA c.r1",
    );
    emu.set_replica_owner("c", "r1", &app.name);
    c.batch_execute("DROP CLUSTER REPLICA c.r1").unwrap();
    // ALTER ... OWNER TO needs membership in the new owner.
    let (msg, _, code) = error_of(
        &mut c,
        &format!("ALTER CLUSTER REPLICA c.r2 OWNER TO {}", other.name),
    );
    assert_eq!(
        (msg, code),
        (
            format!("must be a member of \"{}\"", other.name),
            "42501".to_string()
        )
    );
    emu.grant_role(&app, &other.name);
    // The old owner's privileges, and those it granted, pass to the new
    // owner, merged with the new owner's own (update_privilege_owners):
    // the old owner keeps no privilege on the cluster.
    let (a, o) = (app.id.as_str(), other.id.as_str());
    emu.sql(&format!(
        "UPDATE mz_catalog.mz_clusters SET privileges = \
         ARRAY['{a}=UC/{a}', '=U/{a}', '{o}=U/{o}', 's1=U/s1'] WHERE name = 'c'"
    ));
    c.batch_execute(&format!("ALTER CLUSTER c OWNER TO {}", other.name))
        .unwrap();
    let owner = emu.query_one("SELECT owner_id FROM mz_catalog.mz_clusters WHERE name = 'c'");
    assert_eq!(owner.as_deref(), Some(other.id.as_str()));
    let privileges = emu.query_one(
        "SELECT array_to_string(privileges, ' ') FROM mz_catalog.mz_clusters WHERE name = 'c'",
    );
    assert_eq!(
        privileges.as_deref(),
        Some(format!("{o}=UC/{o} ={}/{o} s1=U/s1", "U").as_str())
    );
    // The cluster's replicas go with it (sequence_alter_owner).
    let replica_owner = |name: &str| {
        emu.query_one(&format!(
            "SELECT owner_id FROM mz_catalog.mz_cluster_replicas WHERE id = '{}'",
            emu.replica_id("c", name)
        ))
    };
    assert_eq!(replica_owner("r2").as_deref(), Some(other.id.as_str()));
    // ... and membership makes the member an owner too; what it creates
    // belongs to the cluster's owner, not to it.
    c.batch_execute("CREATE CLUSTER REPLICA c.r3 SIZE '25cc'")
        .unwrap();
    assert_eq!(replica_owner("r3").as_deref(), Some(other.id.as_str()));
    emu.grant_create_cluster(&app);
    c.batch_execute("CREATE CLUSTER mine (SIZE '25cc')")
        .unwrap();
    let owner = emu.query_one("SELECT owner_id FROM mz_catalog.mz_clusters WHERE name = 'mine'");
    assert_eq!(owner.as_deref(), Some(app.id.as_str()));
}

#[test]
fn statement_log_needs_a_monitor_role() {
    let emu = Emulator::builder()
        .lenient()
        .monitor_role_required(true)
        .start();
    emu.create_cluster("c");
    emu.add_activity("c", 10, true);
    let app = emu.create_role("app");
    let mut c = connect(&app.url());
    let redacted = "SELECT count(*) FROM mz_internal.mz_statement_execution_history_redacted";
    expect_materialize_error(
        &mut c,
        redacted,
        r#"permission denied for VIEW "mz_internal.mz_statement_execution_history_redacted""#,
    );
    // Even on an empty log.
    emu.sql("DELETE FROM mz_emulator.statement_log");
    assert!(c.batch_execute(redacted).is_err());
    // Status history is public.
    c.batch_execute("SELECT count(*) FROM mz_internal.mz_cluster_replica_status_history")
        .unwrap();
    emu.grant_role(&app, "mz_monitor_redacted");
    c.batch_execute(redacted).unwrap();
    c.batch_execute("SELECT count(*) FROM mz_internal.mz_recent_activity_log_redacted")
        .unwrap();
    let (msg, _, code) = error_of(
        &mut c,
        "SELECT count(*) FROM mz_internal.mz_statement_execution_history",
    );
    assert_eq!(
        (msg.as_str(), code.as_str()),
        (
            r#"permission denied for VIEW "mz_internal.mz_statement_execution_history""#,
            "42501"
        )
    );
    emu.grant_role(&app, "mz_monitor");
    c.batch_execute("SELECT count(*) FROM mz_internal.mz_statement_execution_history")
        .unwrap();
    // The superuser reads everything.
    let mut admin = connect(&emu.url());
    admin.batch_execute(redacted).unwrap();
}

#[test]
fn max_replicas_per_cluster_is_enforced() {
    let emu = Emulator::builder()
        .lenient()
        .max_replicas_per_cluster(5)
        .start();
    let mut c = connect(&emu.url());
    assert_eq!(show(&mut c, "max_replicas_per_cluster").unwrap(), "5");
    expect_materialize_error(
        &mut c,
        "CREATE CLUSTER big (SIZE = '25cc', REPLICATION FACTOR = 99)",
        "creating cluster replica would violate max_replicas_per_cluster limit (desired: 99, limit: 5, current: 0)",
    );
    let (_, hint, _) = error_of(
        &mut c,
        "CREATE CLUSTER big (SIZE = '25cc', REPLICATION FACTOR = 6)",
    );
    assert_eq!(
        hint.as_deref(),
        Some("Drop an existing cluster replica or contact support to request a limit increase.")
    );
    emu.set_setting("max_replicas_per_cluster", "2");
    emu.create_cluster("c");
    singly(
        &mut c,
        "CREATE CLUSTER REPLICA c.r1 SIZE '25cc'; CREATE CLUSTER REPLICA c.r2 SIZE '25cc'",
    );
    let (msg, _, code) = error_of(&mut c, "CREATE CLUSTER REPLICA c.r3 SIZE '25cc'");
    assert_eq!(
        (msg.as_str(), code.as_str()),
        (
            "creating cluster replica would violate max_replicas_per_cluster limit (desired: 3, limit: 2, current: 2)",
            "53000"
        )
    );
    emu.create_managed_cluster("m", "25cc", 1);
    let (msg, _, _) = error_of(&mut c, "ALTER CLUSTER m SET (REPLICATION FACTOR 3)");
    assert!(msg.contains("(desired: 3, limit: 2, current: 1)"), "{msg}");
    c.batch_execute("ALTER CLUSTER m SET (REPLICATION FACTOR 2)")
        .unwrap();
    assert_eq!(emu.replicas("c").len(), 2);
}

#[test]
fn the_region_credit_limit_is_enforced_as_materialize_does() {
    // Materialize's default, then a low limit. The quickstart replica
    // (25cc) counts; the system clusters' do not.
    let emu = Emulator::builder().lenient().start();
    let mut c = connect(&emu.url());
    assert_eq!(show(&mut c, "max_credit_consumption_rate").unwrap(), "1024");
    emu.set_setting("max_credit_consumption_rate", "3");
    assert_eq!(show(&mut c, "max_credit_consumption_rate").unwrap(), "3");
    emu.create_cluster("c");
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '200cc'")
        .unwrap();
    let (msg, hint, code) = error_of(&mut c, "CREATE CLUSTER REPLICA c.r2 SIZE '100cc'");
    assert_eq!(
        (msg.as_str(), code.as_str()),
        (
            "creating cluster replica would violate max_credit_consumption_rate limit (desired: 3.25, limit: 3, current: 2.25)",
            "53000"
        )
    );
    assert_eq!(
        hint.as_deref(),
        Some("Drop an existing cluster replica or contact support to request a limit increase.")
    );
    // Up to the limit is allowed (Materialize refuses `desired > limit`).
    // (One statement per query: Materialize refuses DDL in a query of
    // several.)
    for ddl in [
        "CREATE CLUSTER REPLICA c.r2 SIZE '50cc'",
        "CREATE CLUSTER REPLICA c.r3 SIZE '25cc'",
    ] {
        c.batch_execute(ddl)
            .unwrap_or_else(|e| panic!("{ddl}: {e}"));
    }
    // CREATE CLUSTER, managed or with replicas, counts all it creates.
    let (msg, _, _) = error_of(&mut c, "CREATE CLUSTER m (SIZE = '25cc')");
    assert!(
        msg.contains("(desired: 3.25, limit: 3, current: 3)"),
        "{msg}"
    );
    let (msg, _, _) = error_of(
        &mut c,
        "CREATE CLUSTER u REPLICAS (a (SIZE '25cc'), b (SIZE '25cc'))",
    );
    assert!(
        msg.contains("(desired: 3.5, limit: 3, current: 3)"),
        "{msg}"
    );
    // Drops free room.
    singly(
        &mut c,
        "DROP CLUSTER REPLICA c.r1; CREATE CLUSTER m (SIZE = '100cc')",
    );
    // Now 2: 25cc quickstart, 50cc, 25cc, and m's 100cc. A replication
    // factor change is its net change.
    let (msg, _, code) = error_of(&mut c, "ALTER CLUSTER m SET (REPLICATION FACTOR 3)");
    assert_eq!(code, "53000");
    assert!(msg.contains("(desired: 4, limit: 3, current: 2)"), "{msg}");
    // A restart (this release replaces the replicas at once) is judged by
    // its net change: 2 - 1 + 2 = 3.
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '200cc')")
        .unwrap();
    assert_eq!(emu.replicas("m"), [("r1".to_string(), "200cc".to_string())]);
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '100cc')")
        .unwrap();
    // A graceful resize creates the new replicas beside the old ones: 2 + 2.
    emu.set_setting("release", "background");
    let (msg, _, _) = error_of(&mut c, "ALTER CLUSTER m SET (SIZE = '200cc')");
    assert!(msg.contains("(desired: 4, limit: 3, current: 2)"), "{msg}");
    assert_eq!(emu.replicas("m"), [("r1".to_string(), "100cc".to_string())]);
    emu.set_setting("max_credit_consumption_rate", "4");
    c.batch_execute("ALTER CLUSTER m SET (SIZE = '200cc')")
        .unwrap();
}

#[test]
fn sizes_outside_allowed_cluster_replica_sizes_are_unknown_sizes() {
    let emu = Emulator::builder().lenient().start();
    let mut c = connect(&emu.url());
    assert_eq!(show(&mut c, "allowed_cluster_replica_sizes").unwrap(), "");
    emu.set_setting("allowed_cluster_replica_sizes", "25cc,50cc");
    assert_eq!(
        show(&mut c, "allowed_cluster_replica_sizes").unwrap(),
        r#""25cc", "50cc""#
    );
    emu.create_cluster("c");
    let (msg, hint, _) = error_of(&mut c, "CREATE CLUSTER REPLICA c.r1 SIZE '100cc'");
    assert_eq!(msg, "unknown cluster replica size 100cc");
    assert_eq!(
        hint.as_deref(),
        Some("Valid cluster replica sizes are: 25cc, 50cc")
    );
    let (msg, _, _) = error_of(&mut c, "CREATE CLUSTER m (SIZE = '800cc')");
    assert_eq!(msg, "unknown cluster replica size 800cc");
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '50cc'")
        .unwrap();
    // The catalog still lists every size.
    let listed: i64 = c
        .query_one(
            "SELECT count(*) FROM mz_catalog.mz_cluster_replica_sizes WHERE size = '100cc'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(listed, 1);
}

#[test]
fn statement_log_is_sampled_and_flushed_late() {
    let kept = |seed: u64| {
        let emu = Emulator::builder()
            .lenient()
            .statement_sample_rate(0.5, 1.0)
            .sample_seed(seed)
            .start();
        emu.create_cluster("c");
        for i in 0..200 {
            emu.add_activity("c", 60 + i, true);
        }
        let rows = emu.query_strings(
            "SELECT count(*)::text, min(sample_rate)::text, max(sample_rate)::text
             FROM mz_internal.mz_statement_execution_history",
        );
        let n: u64 = rows[0][0].as_deref().unwrap().parse().unwrap();
        assert_eq!(n + emu.activity_sampled_out(), 200);
        assert_eq!(rows[0][1].as_deref(), Some("0.5"));
        assert_eq!(rows[0][2].as_deref(), Some("0.5"));
        n
    };
    let a = kept(7);
    assert!((60..=140).contains(&a), "about half kept: {a}");
    assert_eq!(kept(7), a, "the same seed samples the same way");
    // The max rate caps the default; 0 logs nothing.
    let emu = Emulator::builder()
        .lenient()
        .statement_sample_rate(0.99, 0.0)
        .start();
    emu.create_cluster("c");
    emu.add_activity("c", 10, true);
    assert_eq!(emu.activity_sampled_out(), 1);
    // A flush delay hides what began recently until the log is flushed.
    let emu = Emulator::builder()
        .lenient()
        .statement_log_flush_delay(Duration::from_secs(5))
        .start();
    emu.create_cluster("c");
    emu.add_activity("c", 0, false);
    emu.add_activity("c", 60, true);
    let visible = || {
        emu.query_one("SELECT count(*) FROM mz_internal.mz_statement_execution_history_redacted")
    };
    assert_eq!(visible().as_deref(), Some("1"));
    emu.flush_statement_log();
    assert_eq!(visible().as_deref(), Some("2"));
}

/// Reference §1.11, §8.6: what runs through the proxy is in the statement
/// log, as Materialize logs every statement: on the session's cluster (or
/// mz_catalog_server for a catalog-only or constant query), with the
/// session's application_name, in flight (`finished_at` NULL) while it
/// runs, and with its outcome once done; a query refused on a cluster
/// without replicas is logged as an `error` on that cluster. Rows appear
/// after the flush delay.
#[test]
fn statements_through_the_proxy_are_logged() {
    let emu = Emulator::builder()
        .strict_session_cluster(true)
        .statement_sample_rate(0.99, 0.99)
        .statement_log_flush_delay(Duration::from_secs(5))
        .start();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    emu.set_replica_online("c", "r1");
    emu.create_cluster("x");
    emu.sql("CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let url = |cluster: &str| {
        format!(
            "{}&application_name=selftest&options=--cluster%3D{cluster}",
            emu.url()
        )
    };
    let mut c = connect(&url("c"));
    c.query("SELECT a FROM t", &[]).unwrap(); // extended protocol
    c.batch_execute("SELECT 1").unwrap(); // simple protocol
    let mut x = connect(&url("x"));
    let (_, _, code) = error_of(&mut x, "SELECT a FROM t");
    assert_eq!(code, "0A000");
    let running = std::thread::spawn({
        let url = url("c");
        move || {
            connect(&url)
                .batch_execute("SELECT pg_sleep(1.5) FROM t")
                .unwrap()
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = || {
        emu.query_strings(
            "SELECT cluster_name, cluster_id, finished_status, finished_at IS NULL,
                    error_message, sample_rate::text
             FROM mz_internal.mz_statement_execution_history
             WHERE application_name = 'selftest' ORDER BY began_at",
        )
    };
    assert_eq!(log(), Vec::<Vec<Option<String>>>::new(), "not flushed yet");
    emu.flush_statement_log();
    let s = |v: &str| Some(v.to_string());
    let (c_id, x_id) = (s(&emu.cluster_id("c")), s(&emu.cluster_id("x")));
    let no_replicas = s(r#"CLUSTER "x" has no replicas available to service request"#);
    let rate = s("0.99");
    let done = |cluster: &str, id: &Option<String>, status: &str, error: &Option<String>| {
        vec![
            s(cluster),
            id.clone(),
            s(status),
            s("f"),
            error.clone(),
            rate.clone(),
        ]
    };
    let catalog_server = s("s2");
    let in_flight = vec![s("c"), c_id.clone(), None, s("t"), None, rate.clone()];
    assert_eq!(
        log(),
        vec![
            done("c", &c_id, "success", &None),
            done("mz_catalog_server", &catalog_server, "success", &None),
            done("x", &x_id, "error", &no_replicas),
            in_flight,
        ]
    );
    running.join().unwrap();
    emu.flush_statement_log();
    assert_eq!(log()[3], done("c", &c_id, "success", &None));
}

/// §8.7, §8.10: a new replica starts offline/`initializing` and goes online
/// by itself once its start-up delay passed, hydrated or not, objects or
/// not; meanwhile a statement that needs its cluster is held (not failed)
/// until it is up, a cancel ends the hold, and a cluster without replicas
/// still fails at once.
#[test]
fn new_replicas_provision_and_statements_wait_for_them() {
    let delay = Duration::from_millis(1500);
    let emu = Emulator::builder()
        .strict()
        .replica_startup_delay(Some(delay))
        .start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.sql("CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let mut c = connect(&emu.url());
    c.batch_execute("SET cluster = c").unwrap();
    let t0 = Instant::now();
    let (_, _, code) = error_of(&mut c, "SELECT a FROM t");
    assert_eq!(code, "0A000");
    assert!(t0.elapsed() < delay, "no replica: at once");

    let made = Instant::now();
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .unwrap();
    let rid = emu.replica_id("c", "r1");
    let status = || {
        emu.query_strings(&format!(
            "SELECT status || '/' || coalesce(reason, '-')
             FROM mz_internal.mz_cluster_replica_statuses WHERE replica_id = '{rid}'"
        ))
    };
    let s = |v: &str| vec![vec![Some(v.to_string())]];
    assert_eq!(status(), s("offline/initializing"));
    // Extended and simple protocol alike: held until the replica is up.
    let rows = c.query("SELECT a FROM t", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(made.elapsed() >= delay, "held {:?}", made.elapsed());
    assert_eq!(status(), s("online/-"));
    // Online is not hydrated: the index is still hydrating.
    let hydrated = emu.query_one(&format!(
        "SELECT bool_or(hydrated)::text FROM mz_internal.mz_hydration_statuses WHERE replica_id = '{rid}'"
    ));
    assert_eq!(hydrated.as_deref(), Some("false"));

    // Without objects it goes online by itself too; a cancel ends the hold.
    emu.create_cluster("e");
    c.batch_execute("CREATE CLUSTER REPLICA e.r1 SIZE '25cc'")
        .unwrap();
    let mut other = connect(&emu.url());
    other.batch_execute("SET cluster = e").unwrap();
    let token = other.cancel_token();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        token.cancel_query(NoTls).expect("cancel");
    });
    let t1 = Instant::now();
    let (_, _, code) = error_of(&mut other, "SELECT a FROM t");
    canceller.join().unwrap();
    assert_eq!(code, "57014");
    assert!(t1.elapsed() < delay, "canceled after {:?}", t1.elapsed());
    std::thread::sleep(delay);
    let eid = emu.replica_id("e", "r1");
    let online = emu.query_one(&format!(
        "SELECT status FROM mz_internal.mz_cluster_replica_statuses WHERE replica_id = '{eid}'"
    ));
    assert_eq!(online.as_deref(), Some("online"));
    other.batch_execute("SELECT a FROM t").unwrap();
}

#[test]
fn new_replicas_start_initializing() {
    let emu = Emulator::builder()
        .lenient()
        // Starting until hydrated (longer than the test).
        .replica_startup_delay(Some(Duration::from_secs(600)))
        .start();
    emu.create_cluster("c");
    emu.add_index("c");
    let mut c = connect(&emu.url());
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '128C'")
        .unwrap();
    let rid = emu.replica_id("c", "r1");
    let statuses = || {
        emu.query_strings(&format!(
            "SELECT process_id::text, status, reason FROM mz_internal.mz_cluster_replica_statuses
             WHERE replica_id = '{rid}' ORDER BY process_id"
        ))
    };
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        statuses(),
        vec![
            vec![s("0"), s("offline"), s("initializing")],
            vec![s("1"), s("offline"), s("initializing")]
        ]
    );
    std::thread::sleep(Duration::from_millis(5)); // distinct event times
    emu.set_hydrated("c", "r1", true);
    assert!(statuses().iter().all(|r| r[1].as_deref() == Some("online")));
    std::thread::sleep(Duration::from_millis(5));
    emu.replica_offline("c", "r1", None);
    assert!(statuses()
        .iter()
        .all(|r| r[1].as_deref() == Some("offline") && r[2].is_none()));
    std::thread::sleep(Duration::from_millis(5));
    emu.replica_offline("c", "r1", Some("oom-killed"));
    assert!(statuses()
        .iter()
        .all(|r| r[2].as_deref() == Some("oom-killed")));
    std::thread::sleep(Duration::from_millis(5));
    emu.set_replica_online("c", "r1");
    let reasons = emu.query_strings(&format!(
        "SELECT coalesce(reason, '-') FROM mz_internal.mz_cluster_replica_status_history
         WHERE replica_id = '{rid}' AND process_id = 0 ORDER BY occurred_at"
    ));
    assert_eq!(
        reasons,
        vec![
            vec![s("initializing")],
            vec![s("-")],
            vec![s("-")],
            vec![s("oom-killed")],
            vec![s("-")]
        ]
    );
}

#[test]
fn auto_scaling_relation_is_optional_and_listed_in_mz_objects() {
    let listed = |emu: &Emulator| {
        emu.query_strings(
            "SELECT o.type, s.name FROM mz_catalog.mz_objects o
             JOIN mz_catalog.mz_schemas s ON s.id = o.schema_id
             WHERE o.name = 'mz_cluster_auto_scaling_strategies'",
        )
    };
    let emu = lenient();
    assert!(listed(&emu).is_empty());
    let mut c = connect(&emu.url());
    let (msg, _, code) = error_of(
        &mut c,
        "SELECT * FROM mz_internal.mz_cluster_auto_scaling_strategies",
    );
    // As Materialize says it (a release without the relation).
    assert_eq!(
        (msg.as_str(), code.as_str()),
        (
            "unknown catalog item 'mz_internal.mz_cluster_auto_scaling_strategies'",
            "XX000"
        )
    );
    let emu = Emulator::builder()
        .lenient()
        .auto_scaling_relation(true)
        .start();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(listed(&emu), vec![vec![s("table"), s("mz_internal")]]);
    emu.create_managed_cluster("m", "100cc", 1);
    let idx = emu.add_index("m");
    emu.set_auto_scaling_strategy("m", "800cc");
    let mut c = connect(&emu.url());
    let size: String = c
        .query_one(
            "SELECT s.strategy->'on_hydration'->>'hydration_size'
             FROM mz_internal.mz_cluster_auto_scaling_strategies s
             JOIN mz_catalog.mz_clusters c ON c.id = s.cluster_id WHERE c.name = 'm'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(size, "800cc");
    let ty = emu.query_one(&format!(
        "SELECT type FROM mz_catalog.mz_objects WHERE id = '{idx}'"
    ));
    assert_eq!(ty.as_deref(), Some("index"));
    let cols = emu.query_one(
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
         FROM information_schema.columns
         WHERE table_schema = 'mz_catalog' AND table_name = 'mz_objects'",
    );
    assert_eq!(
        cols.as_deref(),
        Some("id,oid,schema_id,name,type,owner_id,cluster_id,privileges")
    );
}

#[test]
fn strict_preset_turns_everything_on() {
    let emu = Emulator::builder().strict().start();
    let o = emu.options();
    assert_eq!(o.release, Release::Background);
    assert!(o.session_cluster_rule && o.replica_startup_delay.is_some() && o.monitor_role_required);
    let mut c = connect(&emu.url());
    assert_eq!(show(&mut c, "max_replicas_per_cluster").unwrap(), "5");
    // On, but not for our users to see (a dyncfg).
    assert_eq!(
        emu.setting("enable_background_alter_cluster").as_deref(),
        Some("on")
    );
    assert!(show(&mut c, "enable_background_alter_cluster").is_err());
    assert_eq!(
        show(&mut c, "statement_logging_default_sample_rate").unwrap(),
        "0.99"
    );
    emu.create_cluster("c");
    c.batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
        .unwrap();
    let status = emu.query_one(&format!(
        "SELECT reason FROM mz_internal.mz_cluster_replica_statuses WHERE replica_id = '{}'",
        emu.replica_id("c", "r1")
    ));
    assert_eq!(status.as_deref(), Some("initializing"));
    emu.sql("CREATE TABLE t (a int)");
    c.batch_execute("SET cluster = c").unwrap();
    emu.sql(&format!(
        "SELECT mz_emulator.delete_replica('{}')",
        emu.replica_id("c", "r1")
    ));
    let (_, _, code) = error_of(&mut c, "SELECT * FROM t");
    assert_eq!(code, "0A000");
}

#[test]
fn error_table_is_well_formed() {
    // Each entry of MATERIALIZE_ERRORS is raised by one of the tests in this
    // file (assert_materialize_error); this one guards the table itself.
    let mut seen = std::collections::HashSet::new();
    for (code, text, text_from, code_from) in MATERIALIZE_ERRORS {
        assert_eq!(code.len(), 5, "{text}");
        assert!(!text_from.is_empty() && !code_from.is_empty(), "{text}");
        assert!(seen.insert(*text), "{text} twice");
    }
}

// -- faults (issue 13) --------------------------------------------------------

/// Whether anything arrives on `stream` within `wait`.
fn answers_within(stream: &mut std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 16];
    matches!(stream.read(&mut buf), Ok(n) if n > 0)
}

/// An SSLRequest, the first thing a TLS-capable client sends.
fn ssl_request() -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&8i32.to_be_bytes());
    b[4..].copy_from_slice(&80_877_103i32.to_be_bytes());
    b
}

#[test]
fn hanging_listener_and_stalled_startups_never_answer() {
    use std::io::Write;
    let hang = HangingListener::start();
    let mut s = std::net::TcpStream::connect(hang.addr).unwrap();
    s.write_all(&ssl_request()).unwrap();
    assert!(!answers_within(&mut s, Duration::from_millis(300)));
    assert!(hang.url().contains(&hang.addr.port().to_string()));

    let emu = lenient();
    // The proxy answers an SSLRequest at once ('N')...
    let mut s = std::net::TcpStream::connect(emu.proxy_addr()).unwrap();
    s.write_all(&ssl_request()).unwrap();
    assert!(answers_within(&mut s, Duration::from_secs(10)));
    // ... except for a connection stalled at start-up.
    emu.stall_startups(1);
    let mut s = std::net::TcpStream::connect(emu.proxy_addr()).unwrap();
    s.write_all(&ssl_request()).unwrap();
    assert!(!answers_within(&mut s, Duration::from_millis(300)));
    // The next one works again.
    connect(&emu.url()).batch_execute("SELECT 1").unwrap();
}

#[test]
fn stalled_statements_keep_the_socket_open() {
    let emu = lenient();
    emu.stall_statement("SELECT 42", 1);
    emu.stall_statement(Pattern::regex(r"\$1::int \+ 43"), 1);
    let run = |sql: &'static str, extended: bool| {
        let url = emu.url();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let mut c = connect(&url);
            let r = if extended {
                c.query(sql, &[&1i32]).map(|_| ())
            } else {
                c.batch_execute(sql)
            };
            let _ = tx.send(r.is_ok());
        });
        (t, rx)
    };
    let (simple, simple_rx) = run("SELECT 42", false);
    let (extended, extended_rx) = run("SELECT $1::int + 43", true);
    // Other statements go through meanwhile.
    connect(&emu.url()).batch_execute("SELECT 41").unwrap();
    assert!(simple_rx.recv_timeout(Duration::from_millis(500)).is_err());
    assert!(extended_rx
        .recv_timeout(Duration::from_millis(500))
        .is_err());
    // Stopping the emulator closes the stalled connections.
    drop(emu);
    assert_eq!(simple_rx.recv().ok(), Some(false));
    assert_eq!(extended_rx.recv().ok(), Some(false));
    simple.join().unwrap();
    extended.join().unwrap();
}

#[test]
fn connections_cut_around_matching_statements() {
    let emu = lenient();
    emu.sql("CREATE TABLE t (a int)");
    let rows = || emu.query_one("SELECT count(*) FROM t");
    // After the response: the client saw success, the next statement fails.
    emu.cut_after_response("INSERT INTO t", 1);
    let mut c = connect(&emu.url());
    c.execute("INSERT INTO t VALUES ($1)", &[&1i32]).unwrap();
    assert!(c.batch_execute("SELECT 1").is_err());
    assert_eq!(rows().as_deref(), Some("1"));
    // After execution: it committed, the client never learns.
    emu.cut_after_statement("INSERT INTO t", 1);
    let mut c = connect(&emu.url());
    assert!(c.batch_execute("INSERT INTO t VALUES (2)").is_err());
    assert_eq!(rows().as_deref(), Some("2"));
    // Before: it never ran.
    emu.cut_before_statement("INSERT INTO t", 1);
    let mut c = connect(&emu.url());
    assert!(c.execute("INSERT INTO t VALUES ($1)", &[&3i32]).is_err());
    assert_eq!(rows().as_deref(), Some("2"));
    // The nth match only: the first goes through.
    emu.fail_statement("INSERT INTO t", 2, "40001", "injected");
    let mut c = connect(&emu.url());
    c.execute("INSERT INTO t VALUES ($1)", &[&4i32]).unwrap();
    let err = c
        .execute("INSERT INTO t VALUES ($1)", &[&5i32])
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!((db.message(), db.code().code()), ("injected", "40001"));
    c.execute("INSERT INTO t VALUES ($1)", &[&6i32]).unwrap();
    assert_eq!(rows().as_deref(), Some("4"));
}

#[test]
fn delays_apply_to_matching_statements_only() {
    let emu = lenient();
    emu.create_cluster("c");
    emu.delay_statements(
        Pattern::regex("(?i)CLUSTER REPLICA"),
        Duration::from_secs(3),
    );
    let url = emu.url();
    let started = Instant::now();
    let slow = std::thread::spawn(move || {
        connect(&url)
            .batch_execute("CREATE CLUSTER REPLICA c.r1 SIZE '25cc'")
            .map_err(|e| describe(&e))
    });
    // Another statement is not held up by the delayed one.
    let mut c = connect(&emu.url());
    c.batch_execute("SELECT 1").unwrap();
    assert!(!slow.is_finished(), "the replica DDL is still delayed");
    assert!(emu.replicas("c").is_empty());
    slow.join().unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(emu.replicas("c").len(), 1);
    emu.clear_faults();
    c.batch_execute("DROP CLUSTER REPLICA c.r1").unwrap();
    assert!(emu.replicas("c").is_empty());
    assert_eq!(emu.stats().ddl, 2, "statements are still counted");
}

/// A statement that reaches the server late (`Action::Late`, a silent
/// network): its client gave up at its deadline and dropped the connection
/// with a cancel request, which reached the server first and found nothing
/// to cancel; the statement runs all the same when it arrives.
#[test]
fn a_late_statement_runs_after_its_client_gave_up() {
    let emu = lenient();
    emu.sql("CREATE TABLE t (a int)");
    emu.sql("INSERT INTO t VALUES (0)");
    emu.fault("UPDATE t SET", 1, Action::Late(Duration::from_secs(2)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&emu.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(connection);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&1i32];
        let update = client.execute("UPDATE t SET a = $1", &params);
        let answer = tokio::time::timeout(Duration::from_millis(500), update).await;
        assert!(answer.is_err(), "no answer within the client's deadline");
        let _ = client
            .cancel_token()
            .cancel_query(tokio_postgres::NoTls)
            .await;
        drop(client);
        task.abort();
    });
    let value = || emu.query_one("SELECT a::text FROM t");
    assert_eq!(value().as_deref(), Some("0"), "not yet");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(value().as_deref(), Some("1"), "it ran late");
}

#[test]
fn clock_offset_applies_to_child_processes() {
    assert!(
        libfaketime().is_some(),
        "libfaketime is missing: scripts/test.sh installs the faketime package"
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    for offset in [86_400i64, -360] {
        let mut cmd = std::process::Command::new("date");
        with_clock_offset(&mut cmd, offset).arg("+%s");
        let before = now();
        let out = cmd.output().expect("run date");
        let after = now();
        let seen: i64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!(
            (before + offset - 5..=after + offset + 5).contains(&seen),
            "offset {offset}: date said {seen}, real clock {before}..{after}"
        );
    }
    // The product binary gets the same environment.
    let cmd = product_command_with_clock_offset(60);
    let envs: Vec<_> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
    assert!(envs.iter().any(|k| k == "LD_PRELOAD") && envs.iter().any(|k| k == "FAKETIME"));
}

/// Materialize's transaction rules (refusals.rs): a block reads, or writes
/// constant rows, or runs one DDL statement; UPDATE and DELETE run alone.
/// The allowed forms pass, in both protocols.
#[test]
fn transactions_do_one_kind_of_thing() {
    let emu = lenient();
    let mut c = connect(&emu.url());
    singly(&mut c, "CREATE TABLE t (a int); CREATE TABLE u (a int)");
    let count =
        |c: &mut Client| -> i64 { c.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0) };
    // Allowed: reads only; constant INSERTs into one table; each alone.
    c.batch_execute("BEGIN; SELECT a FROM t; SELECT a FROM u; COMMIT")
        .unwrap();
    c.batch_execute("BEGIN").unwrap();
    c.batch_execute("SELECT a FROM t").unwrap();
    c.query("SELECT a FROM u", &[]).unwrap();
    c.batch_execute("COMMIT").unwrap();
    c.batch_execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)")
        .unwrap();
    let mut tx = c.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES ($1)", &[&3i32]).unwrap();
    tx.query("SELECT 1", &[]).unwrap(); // a constant read has no timestamp
    tx.execute("INSERT INTO t VALUES (4)", &[]).unwrap();
    tx.commit().unwrap();
    assert_eq!(count(&mut c), 4);
    c.batch_execute("UPDATE t SET a = a + 1").unwrap();
    c.execute("DELETE FROM t WHERE a = $1", &[&5i32]).unwrap();
    assert_eq!(count(&mut c), 3);
    // One DDL statement in a block runs (at COMMIT in Materialize).
    c.batch_execute("BEGIN; CREATE TABLE v (a int); COMMIT")
        .unwrap();

    // A write after a read, a read after a write.
    c.batch_execute("BEGIN; SELECT a FROM t").unwrap();
    expect_materialize_error(
        &mut c,
        "INSERT INTO t VALUES (9)",
        "transaction in read-only mode",
    );
    c.batch_execute("ROLLBACK").unwrap();
    expect_materialize_error(
        &mut c,
        "INSERT INTO t VALUES (9); SELECT a FROM t",
        "transaction in write-only mode",
    );
    let mut tx = c.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES (9)", &[]).unwrap();
    let err = tx.query("SELECT a FROM t", &[]).unwrap_err();
    assert_materialize_error(&err, "transaction in write-only mode");
    drop(tx);
    assert_eq!(count(&mut c), 3, "the refused blocks wrote nothing");
    // UPDATE and DELETE only alone.
    c.batch_execute("BEGIN").unwrap();
    expect_materialize_error(
        &mut c,
        "UPDATE t SET a = 1",
        "UPDATE t SET a = 1 cannot be run inside a transaction block",
    );
    c.batch_execute("ROLLBACK").unwrap();
    expect_materialize_error(
        &mut c,
        "SELECT 1; DELETE FROM t",
        "DELETE FROM t cannot be run inside a transaction block",
    );
    let mut tx = c.transaction().unwrap();
    let err = tx.execute("DELETE FROM t", &[]).unwrap_err();
    assert_materialize_error(
        &err,
        "DELETE FROM t cannot be run inside a transaction block",
    );
    drop(tx);
    // DDL: the block's first statement is its only one.
    c.batch_execute("BEGIN; CREATE TABLE w (a int)").unwrap();
    expect_materialize_error(
        &mut c,
        "SELECT 1",
        "this transaction can only execute a single statement",
    );
    c.batch_execute("ROLLBACK").unwrap();
    c.batch_execute("BEGIN; ALTER TABLE v RENAME TO v2")
        .unwrap();
    expect_materialize_error(
        &mut c,
        "INSERT INTO t VALUES (1)",
        "transactions which modify objects are restricted to just modifying objects",
    );
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(count(&mut c), 3);
    // The emulator's own connection is PostgreSQL, not Materialize traffic.
    emu.sql("BEGIN; SELECT a FROM t; UPDATE t SET a = 1; COMMIT");
}

/// PostgreSQL-only SQL is refused with Materialize's words, through both
/// protocols; what Materialize takes still runs.
#[test]
fn postgres_only_sql_is_refused() {
    let emu = lenient();
    let mut c = connect(&emu.url());
    singly(&mut c, "CREATE TABLE t (a int NOT NULL DEFAULT 0, b text)");
    c.batch_execute("BEGIN").unwrap();
    expect_materialize_error(
        &mut c,
        "SAVEPOINT s",
        r#"Expected a keyword at the beginning of a statement, found identifier "savepoint""#,
    );
    c.batch_execute("ROLLBACK").unwrap();
    expect_materialize_error(
        &mut c,
        "ROLLBACK TO SAVEPOINT s",
        "Expected end of statement, found TO",
    );
    let sequence =
        "Expected DATABASE, SCHEMA, ROLE, TYPE, INDEX, SINK, SOURCE, [TEMPORARY] TABLE, \
         SECRET, [OR REPLACE] [TEMPORARY] VIEW, or [OR REPLACE] MATERIALIZED VIEW after \
         CREATE, found identifier \"sequence\"";
    for (sql, text) in [
        (
            "INSERT INTO t VALUES (1, 'x') ON CONFLICT DO NOTHING",
            "Expected end of statement, found ON",
        ),
        (
            "SELECT a FROM t FOR UPDATE",
            "Expected end of statement, found FOR",
        ),
        (
            "SELECT a FROM t FOR SHARE",
            "Expected end of statement, found FOR",
        ),
        (
            "SELECT pg_advisory_lock(1)",
            "function pg_advisory_lock(integer) does not exist",
        ),
        ("CREATE SEQUENCE s", sequence),
        (
            "SELECT nextval('s')",
            "function nextval(unknown) does not exist",
        ),
        (
            "CREATE TABLE k (a int PRIMARY KEY)",
            "CREATE TABLE with a primary key or unique constraint is not supported",
        ),
        (
            "CREATE TABLE k (a int NOT NULL, b int NOT NULL, UNIQUE (a, b))",
            "CREATE TABLE with a primary key or unique constraint is not supported",
        ),
        (
            "CREATE TABLE k (a int, CONSTRAINT positive CHECK (a > 0))",
            "CREATE TABLE with a check constraint is not supported",
        ),
        (
            "CREATE TABLE k (a int, FOREIGN KEY (a) REFERENCES t (a))",
            "CREATE TABLE with a foreign key is not supported",
        ),
        (
            "CREATE TABLE k (a int REFERENCES t (a))",
            "CREATE TABLE with column constraint: REFERENCES t (a) not yet supported",
        ),
    ] {
        expect_materialize_error(&mut c, sql, text);
        // Extended protocol: the same error when the statement runs.
        let err = c.execute(sql, &[]).unwrap_err();
        assert_materialize_error(&err, text);
    }
    // A syntax error fails the whole query before anything of it runs.
    expect_materialize_error(
        &mut c,
        "INSERT INTO t VALUES (1, 'x'); SELECT a FROM t FOR UPDATE",
        "Expected end of statement, found FOR",
    );
    let rows: i64 = c.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
    assert_eq!(rows, 0);
    let (_, hint, _) = error_of(&mut c, "SELECT pg_advisory_lock(1)");
    assert_eq!(
        hint.as_deref(),
        Some("No function matches the given name and argument types. You might need to add explicit type casts.")
    );
    // A UNIQUE over a nullable column is no key for Materialize: it takes
    // the table (and looks at no constraint after it).
    c.batch_execute("CREATE TABLE k (a int, UNIQUE (a))")
        .unwrap();
    // Words in strings and quoted names are data, not SQL.
    c.batch_execute("INSERT INTO t VALUES (1, 'for update on conflict')")
        .unwrap();
    c.query(r#"SELECT a AS "for", b AS "on" FROM t"#, &[])
        .unwrap();
    // Through the emulator's own connection PostgreSQL keeps its features.
    emu.sql("SELECT pg_advisory_lock(1); SELECT pg_advisory_unlock(1)");
}

/// DDL in a query of several statements (one implicit transaction) is
/// refused as Materialize refuses it, with the statement's text and 25001;
/// PostgreSQL ran it, and rolled a created replica back with the rest.
#[test]
fn ddl_in_a_query_of_several_statements_is_refused() {
    let emu = lenient();
    emu.create_cluster("c1");
    emu.add_replica("c1", "r1", "25cc");
    let mut c = connect(&emu.url());
    let (msg, _, code) = error_of(
        &mut c,
        "CREATE CLUSTER REPLICA c1.r2 (SIZE = '25cc'); SELECT 1",
    );
    assert_eq!(
        msg,
        "CREATE CLUSTER REPLICA c1.r2 (SIZE = '25cc') cannot be run inside a transaction block"
    );
    assert_eq!(code, "25001");
    let (msg, _, _) = error_of(&mut c, "SELECT 1; CREATE TABLE t_multi (a int)");
    assert!(msg.starts_with("CREATE TABLE t_multi"), "{msg}");
    assert_eq!(emu.replicas("c1").len(), 1);
    // Alone, with a trailing semicolon: as before.
    c.batch_execute("CREATE CLUSTER REPLICA c1.r2 (SIZE = '25cc');")
        .unwrap_or_else(|e| panic!("single DDL: {e}"));
    assert_eq!(emu.replicas("c1").len(), 2);
}

/// `(status/reason, hydrated)` of process 0 of a replica, every history row
/// oldest first, and whether every object of its cluster is hydrated on it
/// now (both hydration relations agree).
fn status_history(emu: &Emulator, rid: &str) -> (Vec<String>, bool) {
    let rows = emu.query_strings(&format!(
        "SELECT status || '/' || coalesce(reason, '-')
         FROM mz_internal.mz_cluster_replica_status_history
         WHERE replica_id = '{rid}' AND process_id = 0 ORDER BY occurred_at"
    ));
    let hydrated = emu.query_one(&format!(
        "SELECT (bool_and(h.hydrated) AND bool_and(c.hydrated))::text
         FROM mz_internal.mz_hydration_statuses h
         JOIN mz_internal.mz_compute_hydration_statuses c USING (object_id, replica_id)
         WHERE replica_id = '{rid}'"
    ));
    (
        rows.into_iter().filter_map(|r| r[0].clone()).collect(),
        hydrated.as_deref() == Some("true"),
    )
}

/// §6, §1.9, §1.10: an OOM kill takes the replica offline with reason
/// `oom-killed` and loses its hydration; the orchestrator restarts it after
/// the restart delay (online again, a second history row) and it hydrates
/// again in the time it took before. A statement on the cluster meanwhile
/// waits for the restart, as on a cluster whose replica is starting.
#[test]
fn an_oom_killed_replica_restarts_and_hydrates_again() {
    let emu = Emulator::builder().strict().start();
    emu.set_setting("replica_restart_delay_ms", "800");
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.sql("CREATE TABLE t (a int); INSERT INTO t VALUES (1)");
    let rid = emu.replica_id("c", "r1");
    std::thread::sleep(Duration::from_millis(5)); // distinct event times
    let killed = Instant::now();
    emu.oom_kill("c", "r1");
    let current = emu.query_strings(&format!(
        "SELECT status, reason FROM mz_internal.mz_cluster_replica_statuses WHERE replica_id = '{rid}'"
    ));
    let s = |v: &str| Some(v.to_string());
    assert_eq!(current, vec![vec![s("offline"), s("oom-killed")]]);
    let arranged = ["offline/initializing", "online/-"];
    let (rows, hydrated) = status_history(&emu, &rid);
    assert_eq!(rows, [&arranged[..], &["offline/oom-killed"]].concat());
    assert!(!hydrated);

    let mut c = connect(&emu.url());
    c.batch_execute("SET cluster = c").unwrap();
    c.batch_execute("SELECT a FROM t").unwrap();
    assert!(
        killed.elapsed() >= Duration::from_millis(800),
        "held until the restart"
    );
    let (rows, hydrated) = status_history(&emu, &rid);
    assert_eq!(
        rows,
        [&arranged[..], &["offline/oom-killed", "online/-"]].concat()
    );
    assert!(!hydrated || killed.elapsed() >= Duration::from_millis(2700));

    // It took 2 s to hydrate (set_hydrated's time), and takes it again.
    std::thread::sleep(Duration::from_millis(2900).saturating_sub(killed.elapsed()));
    let (rows, hydrated) = status_history(&emu, &rid);
    assert_eq!(rows.len(), 4, "no further event: {rows:?}");
    assert!(hydrated);
}

/// §6: a workload that does not fit its replica's memory makes it crash
/// loop: an `oom-killed` row each time it comes up, online in between,
/// never hydrated, written by the next read for a loop that began earlier.
/// A replica of a size with room, made by DDL, comes up and hydrates.
#[test]
fn a_workload_too_big_for_its_size_crash_loops_and_a_bigger_replica_hydrates() {
    let emu = Emulator::builder().strict().start();
    // Online and hydrated since an hour ago.
    emu.seed_clusters(1, "c");
    let rid = emu.replica_id("c1", "r1");
    // Up 1 s, restarted after 1 s: a kill every 2 s for the last 9 s.
    emu.set_workload_since(
        "c1",
        "50cc",
        Duration::from_millis(500),
        Duration::from_secs(1),
        9,
    );
    let (rows, hydrated) = status_history(&emu, &rid);
    assert!(!hydrated);
    let looped = &rows[1..];
    assert!(looped.len() >= 9, "{rows:?}");
    for (i, row) in looped.iter().enumerate() {
        let want = if i % 2 == 0 {
            "offline/oom-killed"
        } else {
            "online/-"
        };
        assert_eq!(row, want, "{rows:?}");
    }

    let mut c = connect(&emu.url());
    c.batch_execute("CREATE CLUSTER REPLICA c1.r2 SIZE '50cc'")
        .unwrap();
    let r2 = emu.replica_id("c1", "r2");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        status_history(&emu, &r2),
        (vec!["offline/initializing".into(), "online/-".into()], true)
    );
    let (later, hydrated) = status_history(&emu, &rid);
    assert!(!hydrated);
    assert!(later.len() >= rows.len() + 2, "still looping: {later:?}");
    assert!(later.iter().filter(|r| *r == "offline/oom-killed").count() >= 6);

    // The workload shrinks: from now on 25cc has room. The loop so far
    // stays in the history (read after a pause, the kills in it are
    // there); r1 hydrates (now if up, else once restarted), not killed again.
    std::thread::sleep(Duration::from_millis(1500));
    emu.set_workload(
        "c1",
        "25cc",
        Duration::from_millis(500),
        Duration::from_secs(1),
    );
    let (before, _) = status_history(&emu, &rid);
    assert!(before.len() > later.len(), "{before:?}");
    std::thread::sleep(Duration::from_millis(2000));
    let (after, hydrated) = status_history(&emu, &rid);
    assert!(hydrated, "{after:?}");
    assert_eq!(after.last().map(String::as_str), Some("online/-"));
    assert!(after.len() <= before.len() + 1, "{before:?} {after:?}");
}

/// §6: a workload whose state outgrows a replica's memory after hydration
/// (`set_growing_workload`) lets it hydrate and serve, then kills it,
/// restarts it, lets it hydrate again, and kills it again: a loop that
/// serves between its kills. Told by the virtual clock.
#[test]
fn a_workload_that_grows_after_hydration_kills_its_replica_after_it_served() {
    let emu = Emulator::builder().strict().start();
    emu.seed_clusters(1, "c");
    let rid = emu.replica_id("c1", "r1");
    emu.install_clock();
    // Hydrated now: killed 120 s from now; restarted 1 s later, it
    // hydrates in 30 s and is killed 120 s after that.
    emu.set_growing_workload(
        "c1",
        "50cc",
        Duration::from_secs(30),
        Duration::from_secs(120),
    );
    let mut seen = Vec::new();
    for (secs, want_hydrated, events) in [
        (100, true, 1),
        (30, false, 3),
        (30, true, 3),
        (120, false, 5),
        (30, true, 5),
    ] {
        emu.advance_clock(secs);
        let (rows, hydrated) = status_history(&emu, &rid);
        seen.push((rows.clone(), hydrated));
        assert_eq!(hydrated, want_hydrated, "{seen:?}");
        assert_eq!(rows.len(), events, "{seen:?}");
    }
    let (rows, _) = seen.pop().unwrap_or_default();
    assert_eq!(
        rows,
        [
            "online/-",
            "offline/oom-killed",
            "online/-",
            "offline/oom-killed",
            "online/-"
        ]
    );
}

#[test]
fn read_then_write_statements_on_one_table_run_one_after_the_other() {
    // Reference §8.3: Materialize holds a table's write lock from the read of
    // an UPDATE, DELETE or INSERT … SELECT to its write, so an INSERT …
    // WHERE NOT EXISTS never reads past another one's write in flight.
    // PostgreSQL lets it: the proxy takes the lock.
    let emu = Emulator::start();
    let url = emu.url();
    singly(
        &mut connect(&url),
        "CREATE TABLE rtw (k text, v int); INSERT INTO rtw VALUES ('held', 0)",
    );
    // A session straight to PostgreSQL (no Materialize client could) keeps
    // the first writer in flight: it holds the row the UPDATE needs, and
    // writes the row the second writer checks for, uncommitted.
    let mut holder = crate::support::admin_client(&crate::support::pg_url(), emu.database());
    let mut hold = holder.transaction().unwrap();
    hold.query("SELECT v FROM rtw WHERE k = 'held' FOR UPDATE", &[])
        .unwrap();
    hold.batch_execute("INSERT INTO rtw VALUES ('new', 1)")
        .unwrap();

    let update_url = url.clone();
    let update = std::thread::spawn(move || {
        connect(&update_url).execute("UPDATE rtw SET v = v + 1 WHERE k = 'held'", &[])
    });
    let mut watcher = crate::support::admin_client(&crate::support::pg_url(), emu.database());
    let blocked = "SELECT count(*) FROM pg_stat_activity \
                   WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE rtw%'";
    let deadline = Instant::now() + Duration::from_secs(30);
    while watcher.query_one(blocked, &[]).unwrap().get::<_, i64>(0) == 0 {
        assert!(
            Instant::now() < deadline,
            "the UPDATE never reached the server"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let insert_sql = "INSERT INTO rtw SELECT 'new', 2 \
                      WHERE NOT EXISTS (SELECT 1 FROM rtw WHERE k = 'new')";
    let insert_url = url.clone();
    let insert = std::thread::spawn(move || connect(&insert_url).execute(insert_sql, &[]));
    let reached_the_proxy = |sql: &str| {
        while !emu.sql_log().iter().any(|s| s == sql) {
            assert!(Instant::now() < deadline, "{sql} never reached the proxy");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    reached_the_proxy(insert_sql);
    // Time for PostgreSQL to run the INSERT, were it let through.
    std::thread::sleep(Duration::from_millis(300));
    assert!(!insert.is_finished(), "the INSERT ran beside the UPDATE");
    // A statement waiting for the lock can be canceled, as in Materialize.
    let mut deleting = connect(&url);
    let cancel = deleting.cancel_token();
    let delete_sql = "DELETE FROM rtw WHERE k = 'held'";
    let delete = std::thread::spawn(move || deleting.execute(delete_sql, &[]));
    reached_the_proxy(delete_sql);
    // Logged at its Parse: time for the proxy to reach its Execute (a
    // cancel sent before the statement arrives is for an earlier one).
    std::thread::sleep(Duration::from_millis(200));
    cancel.cancel_query(NoTls).unwrap();
    let err = delete.join().unwrap().expect_err("the DELETE was canceled");
    let code = err.as_db_error().map(|e| e.code().code().to_string());
    assert_eq!(code.as_deref(), Some("57014"), "{err}");
    hold.commit().unwrap();

    assert_eq!(update.join().unwrap().unwrap(), 1);
    assert_eq!(insert.join().unwrap().unwrap(), 0, "it read past the write");
    let rows = emu.query_one("SELECT count(*)::text FROM rtw WHERE k = 'new'");
    assert_eq!(rows.as_deref(), Some("1"));
    let held = emu.query_one("SELECT count(*)::text FROM rtw WHERE k = 'held'");
    assert_eq!(held.as_deref(), Some("1"), "the canceled DELETE ran");
}

/// A schema created through the proxy is listed in `mz_schemas`, and goes
/// with its DROP, as Materialize lists every schema: clusterctl checks a
/// `--schema` there, and one made by hand was "does not exist" to it.
#[test]
fn a_schema_made_through_the_proxy_is_in_mz_schemas() {
    let emu = Emulator::start();
    let mut client = connect(&emu.url());
    let listed = |emu: &Emulator| {
        emu.query_one("SELECT count(*)::text FROM mz_catalog.mz_schemas WHERE name = 'legacy2'")
    };
    client
        .batch_execute("CREATE SCHEMA legacy2")
        .expect("create");
    assert_eq!(listed(&emu).as_deref(), Some("1"));
    // clusterctl then finds the schema and says what is missing in it.
    client
        .batch_execute(
            "CREATE TABLE legacy2.mz_cluster_strategies (cluster_id TEXT NOT NULL, \
             strategy_type TEXT NOT NULL, config JSONB NOT NULL, updated_at TIMESTAMPTZ)",
        )
        .expect("table");
    let run = crate::cli::clusterctl(&emu, &["status", "--schema", "legacy2"]);
    assert!(
        !run.stderr.contains("schema \"legacy2\" does not exist")
            && run.stderr.contains("tables are missing"),
        "{}",
        run.all()
    );
    client
        .batch_execute("DROP SCHEMA legacy2 CASCADE")
        .expect("drop");
    assert_eq!(listed(&emu).as_deref(), Some("0"));
}

// ---------------------------------------------------------------------------
// An outside check's differences from the reference: the catalog for every
// role, GRANT/REVOKE on clusters and SYSTEM, option values, hydration of
// objects on clusters without replicas, session variables and SHOW.
// ---------------------------------------------------------------------------

/// §8.4: the catalog (mz_catalog, mz_internal) is readable by every role,
/// also one an admin creates with SQL through the proxy (not the test
/// helper, which grants by hand); only the statement log needs a monitor
/// role. Such a role read nothing: `permission denied for table mz_clusters`.
#[test]
fn a_role_created_through_the_proxy_reads_the_catalog() {
    let emu = Emulator::start();
    let role = format!("{}_v", emu.database());
    let mut admin = connect(&emu.url());
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'p'"))
        .unwrap();
    let url = format!(
        "postgres://{role}:p@127.0.0.1:{}/{}?sslmode=disable",
        emu.proxy_addr().port(),
        emu.database()
    );
    let mut v = connect(&url);
    for relation in [
        "mz_catalog.mz_clusters",
        "mz_catalog.mz_cluster_replicas",
        "mz_catalog.mz_cluster_replica_sizes",
        "mz_catalog.mz_roles",
        "mz_internal.mz_cluster_replica_status_history",
        "mz_internal.mz_cluster_replica_statuses",
        "mz_internal.mz_hydration_statuses",
        "mz_internal.mz_compute_hydration_statuses",
        // Created later, by configure_optional_relations (a strict
        // emulator is a background-resize release).
        "mz_internal.mz_cluster_reconfigurations",
    ] {
        v.batch_execute(&format!("SELECT count(*) FROM {relation}"))
            .unwrap_or_else(|e| panic!("{relation}: {}", describe(&e)));
    }
    let has: Option<bool> = v
        .query_one("SELECT has_cluster_privilege('quickstart', 'USAGE')", &[])
        .unwrap()
        .get(0);
    assert_eq!(has, Some(true));
    // The statement log still needs mz_monitor(_redacted).
    assert_eq!(
        message_of(
            &mut v,
            "SELECT count(*) FROM mz_internal.mz_statement_execution_history_redacted"
        ),
        r#"permission denied for VIEW "mz_internal.mz_statement_execution_history_redacted""#
    );
    drop(v);
    admin.batch_execute(&format!("DROP ROLE {role}")).unwrap();
}

fn cluster_acl(emu: &Emulator, cluster: &str) -> String {
    emu.query_one(&format!(
        "SELECT array_to_string(privileges, ' ') FROM mz_catalog.mz_clusters WHERE name = '{cluster}'"
    ))
    .unwrap_or_default()
}

/// §8.4: GRANT/REVOKE of cluster privileges (mz_clusters.privileges, the
/// owner as grantor) and of CREATECLUSTER on SYSTEM, with Materialize's
/// errors (acl.rs plan_update_privilege, rbac.rs): names resolve first,
/// then the privileges must fit the object, then the actor must own the
/// cluster (or be a superuser, for SYSTEM). Other GRANTs are PostgreSQL's.
#[test]
fn cluster_and_system_privileges_are_granted_and_revoked() {
    let emu = lenient();
    let app = emu.create_role("app");
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    let mut admin = connect(&emu.url());
    let mut c = connect(&app.url());
    let ask = |c: &mut Client, privilege: &str| -> Option<bool> {
        c.query_one(
            &format!("SELECT has_cluster_privilege('ops', '{privilege}')"),
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(ask(&mut c, "USAGE"), Some(false));
    admin
        .batch_execute(&format!("GRANT USAGE ON CLUSTER ops TO {}", app.name))
        .unwrap();
    assert_eq!(
        cluster_acl(&emu, "ops"),
        format!("u1=UC/u1 {}=U/u1", app.id)
    );
    assert_eq!(ask(&mut c, "USAGE"), Some(true));
    assert_eq!(ask(&mut c, "CREATE"), Some(false));
    admin
        .batch_execute(&format!(
            "grant create on cluster \"ops\" to \"{}\"",
            app.name
        ))
        .unwrap();
    assert_eq!(
        cluster_acl(&emu, "ops"),
        format!("u1=UC/u1 {}=UC/u1", app.id)
    );
    admin
        .batch_execute(&format!("REVOKE USAGE ON CLUSTER ops FROM {}", app.name))
        .unwrap();
    assert_eq!(
        cluster_acl(&emu, "ops"),
        format!("u1=UC/u1 {}=C/u1", app.id)
    );
    assert_eq!(ask(&mut c, "USAGE"), Some(false));
    // Lists of clusters and roles, ALL [PRIVILEGES], PUBLIC.
    admin
        .batch_execute(&format!(
            "GRANT ALL PRIVILEGES ON CLUSTER ops, quickstart TO {}, PUBLIC",
            app.name
        ))
        .unwrap();
    assert_eq!(
        cluster_acl(&emu, "ops"),
        format!("u1=UC/u1 {}=UC/u1 =UC/u1", app.id)
    );
    assert_eq!(
        cluster_acl(&emu, "quickstart"),
        format!("u1=UC/u1 =UC/u1 {}=UC/u1", app.id)
    );
    admin
        .batch_execute(&format!(
            "REVOKE ALL ON CLUSTER ops FROM PUBLIC, {}",
            app.name
        ))
        .unwrap();
    assert_eq!(cluster_acl(&emu, "ops"), "u1=UC/u1");
    admin
        .batch_execute("REVOKE CREATE ON CLUSTER quickstart FROM PUBLIC")
        .unwrap();
    assert_eq!(
        cluster_acl(&emu, "quickstart"),
        format!("u1=UC/u1 =U/u1 {}=UC/u1", app.id)
    );
    // Errors, in Materialize's order.
    let grant_to_app = |what: &str| format!("GRANT {what} TO {}", app.name);
    assert_eq!(
        error_of(&mut admin, &grant_to_app("USAGE ON CLUSTER nope, ops")),
        ("unknown cluster 'nope'".into(), None, "XX000".into())
    );
    assert_eq!(
        message_of(&mut admin, "GRANT USAGE ON CLUSTER ops TO no_such_role"),
        "unknown role 'no_such_role'"
    );
    assert_eq!(
        message_of(
            &mut admin,
            &grant_to_app("SELECT, USAGE, INSERT ON CLUSTER ops")
        ),
        r#"invalid privilege types INSERT, SELECT for CLUSTER "ops""#
    );
    assert_eq!(
        error_of(&mut c, &grant_to_app("USAGE ON CLUSTER ops")),
        ("must be owner of CLUSTER ops".into(), None, "42501".into())
    );
    assert_eq!(
        message_of(
            &mut c,
            &format!("REVOKE USAGE ON CLUSTER ops FROM {}", app.name)
        ),
        "must be owner of CLUSTER ops"
    );
    // CREATECLUSTER on SYSTEM: superusers grant it; it lets CREATE CLUSTER.
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER mine (SIZE '25cc')"),
        "permission denied for SYSTEM"
    );
    admin
        .batch_execute(&format!("GRANT CREATECLUSTER ON SYSTEM TO {}", app.name))
        .unwrap();
    c.batch_execute("CREATE CLUSTER mine (SIZE '25cc')")
        .unwrap();
    admin
        .batch_execute(&format!("REVOKE CREATECLUSTER ON SYSTEM FROM {}", app.name))
        .unwrap();
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER mine2 (SIZE '25cc')"),
        "permission denied for SYSTEM"
    );
    admin
        .batch_execute("GRANT CREATECLUSTER ON SYSTEM TO PUBLIC")
        .unwrap();
    c.batch_execute("CREATE CLUSTER mine2 (SIZE '25cc')")
        .unwrap();
    admin
        .batch_execute("REVOKE ALL PRIVILEGES ON SYSTEM FROM PUBLIC")
        .unwrap();
    let err = c
        .batch_execute(&grant_to_app("CREATECLUSTER ON SYSTEM"))
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(
        (db.message(), db.detail(), db.code().code()),
        (
            "permission denied to GRANT/REVOKE SYSTEM PRIVILEGES",
            Some("You must be a superuser to GRANT/REVOKE SYSTEM PRIVILEGES"),
            "42501"
        )
    );
    assert_eq!(
        message_of(&mut admin, &grant_to_app("USAGE ON SYSTEM")),
        "invalid privilege types USAGE for SYSTEM"
    );
    assert_eq!(
        emu.query_one("SELECT count(*) FROM mz_emulator.system_privileges")
            .as_deref(),
        Some("0")
    );
    // Everything else is PostgreSQL's, untouched.
    singly(
        &mut admin,
        &format!(
            "CREATE TABLE t (a int);
             GRANT SELECT, INSERT ON TABLE t TO {app};
             GRANT USAGE ON SCHEMA public TO {app};
             GRANT CONNECT ON DATABASE {db} TO {app};
             GRANT mz_monitor TO {app};
             REVOKE mz_monitor FROM {app}",
            app = app.name,
            db = emu.database()
        ),
    );
    c.batch_execute("INSERT INTO t VALUES (1)").unwrap();
}

/// The statements `clusterctl init --print --role R` and `clusterctl doctor
/// --print-sql` hand an admin (their GRANT forms, and the commented
/// `GRANT USAGE ON CLUSTER <name>` / `ALTER CLUSTER <name> OWNER TO` lines
/// filled in) run through the proxy, and give the role what they say:
/// USAGE on the cluster, so it may `SET cluster` and query its tables there.
#[test]
fn the_grants_clusterctl_prints_run_through_the_proxy() {
    let emu = Emulator::start();
    let role = emu.create_role("ctl");
    emu.create_hydrated_cluster("ops", "r1", "25cc");
    emu.create_hydrated_cluster("owned", "r1", "25cc");
    emu.create_hydrated_cluster("private", "r1", "25cc");
    let print = crate::cli::clusterctl(&emu, &["init", "--print", "--role", &role.name])
        .ok()
        .stdout;
    let role_q = format!("\"{}\"", role.name);
    let mut script = String::new();
    for line in print.lines() {
        if let Some(rest) = line.strip_prefix("-- GRANT USAGE ON CLUSTER <name> TO ") {
            script.push_str(&format!("GRANT USAGE ON CLUSTER \"ops\" TO {rest}\n"));
        } else if let Some(rest) = line.strip_prefix("-- ALTER CLUSTER <name> OWNER TO ") {
            script.push_str(&format!("ALTER CLUSTER \"owned\" OWNER TO {rest}\n"));
        } else if !line.starts_with("--") {
            script.push_str(line);
            script.push('\n');
        }
    }
    assert!(
        script.contains(&format!("GRANT USAGE ON CLUSTER \"ops\" TO {role_q};")),
        "{print}"
    );
    let mut admin = connect(&emu.url());
    singly(&mut admin, &script);
    let mut c = connect(&role.url());
    let usage = |c: &mut Client, cluster: &str| -> Option<bool> {
        c.query_one(
            &format!("SELECT has_cluster_privilege('{cluster}', 'USAGE')"),
            &[],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(usage(&mut c, "ops"), Some(true));
    assert_eq!(usage(&mut c, "owned"), Some(true), "the role owns it");
    assert_eq!(usage(&mut c, "private"), Some(false));
    c.batch_execute("SET cluster = ops").unwrap();
    c.batch_execute("SELECT count(*) FROM mz_cluster_strategies")
        .unwrap();
    // doctor, as the role, on a cluster it may not use: its script's GRANT.
    let mut cmd = crate::cli::command();
    cmd.args(["doctor", "--exec-cluster", "private", "--print-sql"])
        .env("DATABASE_URL", role.url());
    let doctor = crate::cli::run_cmd(cmd).code(3).stdout;
    let grants: Vec<&str> = doctor
        .lines()
        .filter(|l| l.starts_with("GRANT ") || l.starts_with("ALTER "))
        .collect();
    assert!(
        grants.contains(&format!("GRANT USAGE ON CLUSTER \"private\" TO {role_q};").as_str()),
        "{doctor}"
    );
    for grant in grants {
        admin
            .batch_execute(grant)
            .unwrap_or_else(|e| panic!("{grant}: {}", describe(&e)));
    }
    assert_eq!(usage(&mut c, "private"), Some(true));
    c.batch_execute("SET cluster = private").unwrap();
    c.batch_execute("SELECT count(*) FROM mz_cluster_strategies")
        .unwrap();
}

/// §2.4: on an unmanaged cluster RESET (SIZE) refuses the change itself, as
/// RESET (REPLICATION FACTOR) does; a managed one's SIZE has no default.
#[test]
fn reset_size_of_an_unmanaged_cluster_is_refused_as_a_change() {
    let emu = lenient();
    emu.create_cluster("u");
    emu.create_managed_cluster("m", "25cc", 1);
    let mut c = connect(&emu.url());
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER u RESET (SIZE)"),
        "Cannot change SIZE of unmanaged clusters"
    );
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER u RESET (REPLICATION FACTOR)"),
        "Cannot change REPLICATION FACTOR of unmanaged clusters"
    );
    assert_eq!(
        message_of(&mut c, "ALTER CLUSTER m RESET (SIZE)"),
        "SIZE has no default value"
    );
}

/// §2.2: `SIZE NULL` (like `SIZE 1`) is not a string; it was looked up as a
/// size named `null`.
#[test]
fn size_null_is_not_a_string() {
    let emu = lenient();
    emu.create_cluster("u");
    emu.create_managed_cluster("m", "25cc", 1);
    let mut c = connect(&emu.url());
    for sql in [
        "CREATE CLUSTER REPLICA u.r1 (SIZE NULL)",
        "CREATE CLUSTER REPLICA u.r1 SIZE = null",
        "CREATE CLUSTER n (SIZE NULL)",
        "ALTER CLUSTER m SET (SIZE NULL)",
        "CREATE CLUSTER REPLICA u.r1 (SIZE 1)",
    ] {
        assert_eq!(
            message_of(&mut c, sql),
            "invalid SIZE: cannot use value as string",
            "{sql}"
        );
    }
    // A quoted identifier is a name.
    assert_eq!(
        message_of(&mut c, "CREATE CLUSTER REPLICA u.r1 (SIZE \"null\")"),
        "unknown cluster replica size null"
    );
    assert!(emu.replicas("u").is_empty());
}

/// §2.2: the emulated environment has no availability zones, so any
/// AVAILABILITY ZONE is refused (it was accepted and dropped).
#[test]
fn an_availability_zone_is_unknown_without_zones() {
    let emu = lenient();
    emu.create_cluster("u");
    let mut c = connect(&emu.url());
    for sql in [
        "CREATE CLUSTER REPLICA u.r1 (SIZE '25cc', AVAILABILITY ZONE 'use1-az1')",
        "CREATE CLUSTER REPLICA u.r1 SIZE '25cc', AVAILABILITY ZONE = 'use1-az1'",
    ] {
        assert_eq!(
            error_of(&mut c, sql),
            (
                "unknown cluster replica availability zone use1-az1".into(),
                Some("No availability zones configured; do not specify AVAILABILITY ZONE".into()),
                "XX000".into()
            ),
            "{sql}"
        );
    }
    assert!(emu.replicas("u").is_empty());
    c.batch_execute("CREATE CLUSTER REPLICA u.r1 (SIZE '25cc')")
        .unwrap();
}

/// §1.7: an index or materialized view whose cluster has no replica shows
/// one row `replica_id NULL, hydrated false` (Materialize's LEFT JOIN to
/// compute hydration); with a replica, only the replica's rows. Sources are
/// not in it then (their rows come from replica statistics).
#[test]
fn objects_on_a_cluster_without_replicas_show_unhydrated() {
    let emu = lenient();
    emu.create_cluster("empty");
    let index = emu.add_index("empty");
    let source = emu.add_source("empty", "kafka");
    let mut c = connect(&emu.url());
    let rows = |c: &mut Client, id: &str| -> Vec<(Option<String>, Option<bool>)> {
        c.query(
            "SELECT replica_id, hydrated FROM mz_internal.mz_hydration_statuses
             WHERE object_id = $1 ORDER BY replica_id",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
    };
    assert_eq!(rows(&mut c, &index), vec![(None, Some(false))]);
    assert_eq!(rows(&mut c, &source), vec![]);
    let rid = emu.add_replica("empty", "r1", "25cc");
    assert_eq!(rows(&mut c, &index), vec![(Some(rid.clone()), Some(false))]);
    emu.set_hydrated("empty", "r1", true);
    assert_eq!(rows(&mut c, &index), vec![(Some(rid), Some(true))]);
    c.batch_execute("DROP CLUSTER REPLICA empty.r1").unwrap();
    assert_eq!(rows(&mut c, &index), vec![(None, Some(false))]);
}

/// §4, §1.12 and Materialize's SHOW statements: `SHOW search_path` says
/// `public` (mz_catalog is searched implicitly, and still is after a SET);
/// `statement_logging_sample_rate` is a session variable; `SHOW CLUSTERS`
/// and `SHOW CLUSTER REPLICAS` answer with Materialize's columns.
#[test]
fn session_variables_and_show_statements() {
    let emu = lenient();
    let mut c = connect(&emu.url());
    assert_eq!(show(&mut c, "search_path").unwrap(), "public");
    c.batch_execute("SET search_path = foo, public").unwrap();
    assert_eq!(show(&mut c, "search_path").unwrap(), "foo, public");
    c.batch_execute("SELECT count(*) FROM mz_clusters").unwrap();
    c.batch_execute("RESET search_path").unwrap();
    assert_eq!(show(&mut c, "search_path").unwrap(), "public");
    assert_eq!(show(&mut c, "statement_logging_sample_rate").unwrap(), "1");
    c.batch_execute("SET statement_logging_sample_rate = 0.5")
        .unwrap();
    assert_eq!(
        show(&mut c, "statement_logging_sample_rate").unwrap(),
        "0.5"
    );
    c.batch_execute("RESET statement_logging_sample_rate")
        .unwrap();
    assert_eq!(show(&mut c, "statement_logging_sample_rate").unwrap(), "1");

    emu.create_cluster("u");
    emu.add_replica("u", "r2", "50cc");
    emu.add_replica("u", "r1", "25cc");
    let rows = |c: &mut Client, sql: &str| -> Vec<Vec<String>> {
        c.simple_query(sql)
            .unwrap()
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(r) => Some(
                    (0..r.len())
                        .map(|i| r.get(i).unwrap_or("NULL").to_string())
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    };
    let columns = c.prepare("SHOW CLUSTERS").unwrap();
    let names: Vec<&str> = columns.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["name", "replicas", "comment"]);
    assert_eq!(
        rows(&mut c, "SHOW CLUSTERS LIKE 'u%'"),
        [["u", "r1 (25cc), r2 (50cc)", ""]]
    );
    assert_eq!(rows(&mut c, "SHOW CLUSTERS").len(), 7);
    let columns = c.prepare("SHOW CLUSTER REPLICAS").unwrap();
    let names: Vec<&str> = columns.columns().iter().map(|c| c.name()).collect();
    assert_eq!(names, ["cluster", "replica", "size", "ready", "comment"]);
    assert_eq!(
        rows(&mut c, "SHOW CLUSTER REPLICAS WHERE cluster = 'u'"),
        [["u", "r1", "25cc", "t", ""], ["u", "r2", "50cc", "t", ""]]
    );
}
