//! Production behaviour (reference §8) that the lenient emulator used to
//! forgive, end to end against the strict one: the session cluster and
//! `--create-replica`, ownership and the monitor role for a non-superuser
//! role, `max_replicas_per_cluster`, a sampled statement log, what counts
//! as a crash, clusters Materialize scales itself, and `doctor`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{
    audit_ctx, clusterctl, command, findings, init_tables, one_error_line, run_cmd, strategy, Run,
};
use crate::support::{Emulator, Role};

/// `clusterctl ARGS` logged in as `role`.
fn as_role(role: &Role, args: &[&str]) -> Run {
    let mut cmd = command();
    cmd.args(args).env("DATABASE_URL", role.url());
    run_cmd(cmd)
}

/// Whether our tables exist.
fn tables_exist(emu: &Emulator) -> bool {
    emu.query_one("SELECT (to_regclass('public.mz_cluster_strategies') IS NOT NULL)::text")
        .as_deref()
        == Some("true")
}

/// Names of the cluster's replicas that are temporary ones of ours.
fn temporary(emu: &Emulator, cluster: &str) -> Vec<String> {
    emu.replicas(cluster)
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("clusterctl_tmp_"))
        .collect()
}

#[test]
fn a_session_cluster_that_cannot_serve_stops_the_run_first_with_the_fix() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_hydrated_cluster("c", "r1", "25cc");
    let no_replica = |run: &Run, name: &str| {
        assert_eq!(run.code, 1, "{}", run.all());
        let line = one_error_line(run);
        assert!(
            line.contains(&format!("\"{name}\" has no replica"))
                && line.contains("--exec-cluster NAME")
                && line.contains("--create-replica"),
            "{}",
            run.all()
        );
    };

    // --exec-cluster without a replica: nothing is written, not even our tables.
    emu.clear_sql_log();
    let run = clusterctl(&emu, &["apply", "--exec-cluster", "ops"]);
    no_replica(&run, "ops");
    assert!(!tables_exist(&emu), "nothing written: {:?}", emu.sql_log());
    assert!(emu
        .sql_log()
        .iter()
        .all(|q| !q.to_uppercase().contains("CREATE TABLE")));

    // The server's default cluster (quickstart), suspended.
    init_tables(&emu);
    emu.sql("DELETE FROM mz_catalog.mz_cluster_replicas WHERE cluster_id = 'u1'");
    for cmd in ["dry-run", "apply", "status", "check", "history"] {
        no_replica(&clusterctl(&emu, &[cmd]), "quickstart");
    }

    // A cluster that does not exist.
    let run = clusterctl(&emu, &["dry-run", "--exec-cluster", "nope"]).code(1);
    assert!(
        run.stderr.contains(r#""nope" does not exist"#) && run.stderr.contains("--exec-cluster"),
        "{}",
        run.all()
    );

    // A cluster whose only replica is not online (starting, or offline):
    // a query there waits for it. The run hung for minutes on its
    // retries, then said "no answer within 30s"; `doctor` the same.
    emu.add_replica("ops", "r1", "25cc");
    emu.replica_offline("ops", "r1", Some("oom-killed"));
    // Now it waits a while for one (`--exec-cluster-wait`), saying so,
    // then stops with the fix.
    for (cmd, wait) in [("dry-run", "0s"), ("status", "2s")] {
        let args = [cmd, "--exec-cluster", "ops", "--exec-cluster-wait", wait];
        let run = clusterctl(&emu, &args).code(1);
        assert!(
            run.stderr
                .contains(r#""ops" has no replica online ("r1" not online"#)
                && run.stderr.contains("--create-replica"),
            "{}",
            run.all()
        );
        assert_eq!(
            run.stderr.contains("waiting up to 2s for one"),
            wait == "2s",
            "{}",
            run.all()
        );
    }
    // One coming online while it waits: the command goes on.
    let waiting = {
        let mut cmd = command();
        cmd.args([
            "dry-run",
            "--exec-cluster",
            "ops",
            "--exec-cluster-wait",
            "1m",
        ])
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd.spawn().expect("start clusterctl")
    };
    std::thread::sleep(Duration::from_secs(2));
    emu.set_replica_online("ops", "r1");
    let out = waiting.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("waiting up to 1m for one"), "{stderr}");
    emu.replica_offline("ops", "r1", Some("oom-killed"));
    let doctor = clusterctl(&emu, &["doctor", "--exec-cluster", "ops", "-o", "json"]);
    assert_eq!(doctor.code, 3, "{}", doctor.all());
    let report = doctor.json();
    assert_eq!(report["result"]["blockers"], 1, "{report:#}");
    assert!(
        report["result"]["findings"]
            .to_string()
            .contains("has no replica online"),
        "{report:#}"
    );
    emu.set_replica_online("ops", "r1");
    clusterctl(&emu, &["dry-run", "--exec-cluster", "ops"]).ok();

    // A role that may not use the cluster.
    let role = emu.create_role("ctl");
    emu.sql("UPDATE mz_catalog.mz_clusters SET privileges = ARRAY['u1=UC/u1'] WHERE name = 'ops'");
    let run = as_role(&role, &["dry-run", "--exec-cluster", "ops"]).code(1);
    assert!(
        run.stderr.contains(&format!(
            r#"GRANT USAGE ON CLUSTER "ops" TO "{}""#,
            role.name
        )),
        "{}",
        run.all()
    );
}

/// A superuser with no grant on the `--exec-cluster` may use it. The
/// emulator's `has_cluster_privilege` answers as Materialize's (no grant,
/// no privilege: the inquiry ignores superuser status); every command
/// refused such a role in production, while the emulator said yes.
#[test]
fn a_superuser_without_a_grant_may_use_the_exec_cluster() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // it serves (§8.7)
    init_tables(&emu);
    let role = emu.create_role("su");
    emu.sql(&format!("ALTER ROLE {} SUPERUSER", role.name));
    emu.sql("UPDATE mz_catalog.mz_clusters SET privileges = ARRAY['u1=UC/u1'] WHERE name = 'ops'");
    let mut db = postgres::Client::connect(&role.url(), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connecting: {e}"));
    let row = db
        .query_one(
            "SELECT has_cluster_privilege('ops', 'USAGE'), mz_is_superuser()",
            &[],
        )
        .unwrap_or_else(|e| panic!("inquiry: {e}"));
    assert_eq!(
        (row.get::<_, bool>(0), row.get::<_, bool>(1)),
        (false, true)
    );
    for cmd in [
        &["dry-run", "--exec-cluster", "ops"][..],
        &["doctor", "--exec-cluster", "ops"],
    ] {
        let run = as_role(&role, cmd);
        assert_eq!(run.code, 0, "{cmd:?}: {}", run.all());
        assert!(!run.all().contains("GRANT USAGE"), "{}", run.all());
    }
}

/// A new replica starts offline/`initializing`, and Materialize holds every
/// statement on its cluster until it is online (§8.7, §8.10): the run waits
/// for its temporary replica to come online before it touches its tables,
/// so a start-up longer than the statement timeout does not time out its
/// statements (before, they did, and only retries saved a short start-up).
#[test]
fn create_replica_waits_until_the_temporary_replica_is_online() {
    let startup = Duration::from_secs(3);
    let emu = Emulator::builder()
        .replica_startup_delay(Some(startup))
        .start();
    emu.create_cluster("ops");
    emu.create_cluster("c");
    let args = [
        "apply",
        "--exec-cluster",
        "ops",
        "--create-replica",
        "--statement-timeout",
        "1s",
    ];
    let t0 = Instant::now();
    let run = clusterctl(&emu, &args).ok();
    assert!(t0.elapsed() >= startup, "{:?}: {}", t0.elapsed(), run.all());
    assert!(tables_exist(&emu), "{}", run.all());
    assert!(emu.replicas("ops").is_empty(), "dropped after the run");
    // Not through retries of statements held past their timeout.
    assert!(!run.all().contains("no answer within"), "{}", run.all());
}

/// A `--create-replica` size the region does not offer is said before
/// anything is sent: exit 64, nothing made, nothing in the trail (the
/// refused CREATE's row could not be settled on an empty session cluster,
/// and the next run called it killed: an outside check).
#[test]
fn a_temporary_replica_of_a_size_not_offered_is_refused_up_front() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    init_tables(&emu);
    emu.reset_stats();
    let run = clusterctl(
        &emu,
        &[
            "status",
            "--exec-cluster",
            "ops",
            "--create-replica",
            "80cc",
        ],
    )
    .code(64);
    assert!(
        run.stderr
            .contains("--create-replica 80cc: not a replica size this region offers and allows (")
            && run.stderr.contains("25cc, 50cc"),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "{}", run.all());
    assert!(emu.replicas("ops").is_empty());
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM mz_cluster_strategy_actions")
            .as_deref(),
        Some("0")
    );
    // `apply` alike: it went on without its replica, acting (an outside
    // re-check).
    emu.create_hydrated_cluster("c", "r1", "25cc");
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let run = clusterctl(
        &emu,
        &["apply", "--exec-cluster", "ops", "--create-replica", "80cc"],
    )
    .code(64);
    assert!(
        run.stderr
            .contains("--create-replica 80cc: not a replica size"),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "{}", run.all());
    // A size the catalog lists but `allowed_cluster_replica_sizes` does not.
    emu.set_setting("allowed_cluster_replica_sizes", "50cc,100cc");
    let run = clusterctl(
        &emu,
        &["dry-run", "--exec-cluster", "ops", "--create-replica"],
    )
    .code(64);
    assert!(
        run.stderr.contains(
            "--create-replica 25cc: not a replica size this region offers and allows (50cc, 100cc)"
        ),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "{}", run.all());
}

/// The temporary replica's audit rows are dated by the database's clock,
/// as every other row of a run: a controller a day ahead wrote its drop a
/// day in the future (this host's clock), so `history` showed it as the
/// newest event for a day and `--since` windows caught it out of place.
#[test]
fn temporary_replica_rows_follow_the_database_clock_not_the_hosts() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_cluster("c");
    init_tables(&emu);
    for offset in [86_400, -86_400] {
        let mut cmd = crate::support::product_command_with_clock_offset(offset);
        cmd.args(["apply", "--exec-cluster", "ops", "--create-replica"])
            .env("DATABASE_URL", emu.url())
            .env_remove("CLUSTERCTL_LOG")
            .env("NO_COLOR", "1");
        run_cmd(cmd).ok();
    }
    let id = emu.cluster_id("ops");
    let rows = emu.query_strings(&format!(
        "SELECT decision_ctx->>'kind',                 round(abs(extract(epoch FROM created_at - now())))::text          FROM mz_cluster_strategy_actions WHERE cluster_id = '{id}' ORDER BY created_at"
    ));
    assert_eq!(rows.len(), 4, "{rows:?}");
    for row in &rows {
        let off: f64 = row[1]
            .as_deref()
            .unwrap_or("inf")
            .parse()
            .unwrap_or(f64::MAX);
        assert!(off < 600.0, "dated by the host's clock: {rows:?}");
    }
}

#[test]
fn create_replica_serves_the_run_and_is_dropped_and_audited() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r_25cc", "25cc");
    emu.set_hydrated("c", "r_25cc", true);

    // The tables are created and used on the temporary replica.
    let args = ["apply", "--exec-cluster", "ops", "--create-replica"];
    clusterctl(&emu, &args).ok();
    assert!(tables_exist(&emu));
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let run = clusterctl(&emu, &args).ok();
    assert!(run.stdout.contains("r_50cc"), "{}", run.all());
    assert!(emu.replicas("ops").is_empty(), "dropped after the run");
    assert!(
        emu.sql_log().iter().any(|q| q
            .contains(r#"CREATE CLUSTER REPLICA "ops"."clusterctl_tmp_"#)
            && q.contains("(SIZE = '25cc')")),
        "{:?}",
        emu.sql_log()
    );
    let ops = audit_ctx(&emu, "ops");
    let kinds: Vec<&str> = ops.iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "create_replica",
            "drop_replica",
            "create_replica",
            "drop_replica"
        ],
        "{ops:?}"
    );
    assert!(
        ops.iter().all(|c| c["temporary_replica"] == true),
        "{ops:?}"
    );

    // A size of one's own; a managed session cluster is refused with the fix.
    clusterctl(
        &emu,
        &[
            "dry-run",
            "--exec-cluster",
            "ops",
            "--create-replica",
            "50cc",
        ],
    )
    .ok();
    assert!(emu
        .sql_log()
        .iter()
        .any(|q| q.contains("clusterctl_tmp_") && q.contains("(SIZE = '50cc')")));
    emu.create_managed_cluster("mops", "25cc", 0);
    let run = clusterctl(
        &emu,
        &["dry-run", "--exec-cluster", "mops", "--create-replica"],
    )
    .code(1);
    assert!(
        run.stderr.contains("managed cluster")
            && run.stderr.contains("REPLICATION FACTOR 1")
            && run.stderr.contains("--exec-cluster NAME"),
        "{}",
        run.all()
    );
    // One with a replica serves as it is: the flag is what to drop.
    emu.create_managed_cluster("mops1", "25cc", 1);
    let run = clusterctl(
        &emu,
        &["dry-run", "--exec-cluster", "mops1", "--create-replica"],
    )
    .code(1);
    assert!(
        run.stderr.contains("has a replica already")
            && run.stderr.contains("run without --create-replica"),
        "{}",
        run.all()
    );
    // --create-replica belongs to --exec-cluster, as in the reference.
    clusterctl(&emu, &["dry-run", "--create-replica"]).code(64);
}

#[test]
fn a_temporary_replica_left_by_a_killed_run_is_dropped_and_audited_by_the_next_apply() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_hydrated_cluster("c", "r1", "25cc");
    clusterctl(
        &emu,
        &["apply", "--exec-cluster", "ops", "--create-replica"],
    )
    .ok();

    // A run hangs after creating its temporary replica, and is killed.
    emu.stall_statement("mz_cluster_strategy_state", 1);
    let mut cmd = command();
    cmd.args(["apply", "--exec-cluster", "ops", "--create-replica"])
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start clusterctl");
    let started = Instant::now();
    while temporary(&emu, "ops").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no temporary replica"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().expect("kill -9");
    let _ = child.wait();
    emu.clear_faults();
    let left = temporary(&emu, "ops");
    assert_eq!(left.len(), 1, "{left:?}");
    // Its creation was audited before the CREATE, not at the end of the run.
    let created = audit_ctx(&emu, "ops")
        .into_iter()
        .find(|c| c["replica"] == left[0].as_str() && c["kind"] == "create_replica");
    assert!(created.is_some(), "{:?}", audit_ctx(&emu, "ops"));

    // The leftover serves the next dry-run, which reports it and keeps it.
    let run = clusterctl(&emu, &["dry-run", "--exec-cluster", "ops"]).ok();
    assert!(
        run.stderr.contains(&left[0])
            && run.stderr.contains(
                "left by a run that died; the next `clusterctl apply --exec-cluster ops` drops it"
            ),
        "{}",
        run.all()
    );
    assert_eq!(temporary(&emu, "ops"), left);
    // doctor warns about it (it costs credits until the next apply).
    let run = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]);
    assert!(
        run.stdout.contains(&left[0])
            && run.stdout.contains("was left by a run that died")
            && run.stdout.contains("`clusterctl apply --exec-cluster ops`"),
        "{}",
        run.all()
    );

    // The next apply drops it, and its own, and says so in the audit trail.
    clusterctl(
        &emu,
        &["apply", "--exec-cluster", "ops", "--create-replica"],
    )
    .ok();
    assert!(
        temporary(&emu, "ops").is_empty(),
        "{:?}",
        emu.replicas("ops")
    );
    let dropped = audit_ctx(&emu, "ops")
        .into_iter()
        .find(|c| c["replica"] == left[0].as_str() && c["kind"] == "drop_replica")
        .expect("the leftover's drop is audited");
    assert_eq!(dropped["kind"], "drop_replica");
    assert!(
        dropped["reasons"][0]
            .as_str()
            .is_some_and(|r| r.contains("a run that died")),
        "{dropped}"
    );
}

/// A non-superuser role, as clusterctl runs in production: member of
/// mz_monitor_redacted, owner of its tables.
fn ctl_role(emu: &Emulator) -> Role {
    let role = emu.create_role("ctl");
    emu.grant_role(&role, "mz_monitor_redacted");
    as_role(&role, &["init"]).ok();
    role
}

#[test]
fn clusters_our_role_does_not_own_are_reported_with_the_statement_that_fixes_it() {
    let emu = Emulator::start();
    let role = ctl_role(&emu);
    for name in ["mine", "theirs", "mixed"] {
        emu.create_cluster(name);
        if name != "theirs" {
            emu.set_cluster_owner(name, &role.name);
        }
        emu.add_replica(name, "r1", "25cc");
        strategy(&emu, name, "target_size", json!({"target_size": "50cc"}));
    }
    // Replicas have owners of their own: DROP needs that one.
    emu.set_replica_owner("mixed", "r1", "mz_system");

    let run = as_role(&role, &["apply"]).ok();
    assert!(run.stdout.contains(r#""mine"."r_50cc""#), "{}", run.all());
    assert!(
        !run.stdout.contains("theirs") && !run.stdout.contains("mixed"),
        "{}",
        run.all()
    );
    // Each fix, exactly as the operator can run it.
    let fixes = [
        format!(r#"ALTER CLUSTER "theirs" OWNER TO "{}""#, role.name),
        format!(
            r#"ALTER CLUSTER REPLICA "theirs"."r1" OWNER TO "{}""#,
            role.name
        ),
        format!(
            r#"ALTER CLUSTER REPLICA "mixed"."r1" OWNER TO "{}""#,
            role.name
        ),
    ];
    for fix in &fixes {
        assert!(run.stderr.contains(fix), "{fix}: {}", run.all());
    }
    assert!(
        !run.stderr.contains(r#"ALTER CLUSTER "mixed" OWNER"#),
        "mixed's cluster is ours: {}",
        run.all()
    );
    assert!(
        run.stderr.contains("must be owner"),
        "says why: {}",
        run.all()
    );
    let check = as_role(&role, &["check"]).code(3);
    assert!(check.stdout.contains(&fixes[0]), "{}", check.all());

    // The operator runs the fixes (as an admin); the next run manages both.
    let mut admin = postgres::Client::connect(&emu.url(), postgres::NoTls).expect("admin");
    for fix in &fixes {
        admin.batch_execute(fix).expect("the fix runs");
    }
    let run = as_role(&role, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#""theirs"."r_50cc""#) && run.stdout.contains(r#""mixed"."r_50cc""#),
        "{}",
        run.all()
    );
    assert!(!run.stderr.contains("OWNER TO"), "{}", run.all());
}

#[test]
fn without_the_monitor_role_activity_is_unknown_said_and_a_check_problem() {
    let emu = Emulator::start();
    let role = emu.create_role("ro");
    as_role(&role, &["init"]).ok();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.set_cluster_owner("c", &role.name);
    emu.set_replica_owner("c", "r1", &role.name);
    emu.add_activity("c", 2 * 3600, true);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));

    let run = as_role(&role, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert!(
        run.stderr.contains("the statement log cannot be read")
            && run.stderr.contains("mz_monitor_redacted"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c").len(), 1);
    let check = as_role(&role, &["check", "--output", "json"])
        .code(3)
        .json();
    let codes: Vec<&str> = check["result"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert_eq!(codes, ["signal_unknown"], "{check:#}");
    assert_eq!(
        check["result"]["statement_log"]["readable"], false,
        "{check:#}"
    );
    let status = as_role(&role, &["status", "--output", "json"]).ok().json();
    assert_eq!(
        status["result"]["clusters"][0]["condition"], "SignalUnknown",
        "{status:#}"
    );
    // describe says why, not that the log (which has rows) is empty.
    let described = as_role(&role, &["describe", "c"]).ok().stdout;
    assert!(
        described.contains("Activity:  unknown (the statement log cannot be read: ")
            && !described.contains("has no rows"),
        "{described}"
    );
    let doc = as_role(&role, &["describe", "c", "-o", "json"]).ok().json();
    assert!(
        doc["result"]["signals"]["statement_log_unreadable"]
            .as_str()
            .is_some_and(|why| why.contains("permission denied")),
        "{doc:#}"
    );

    // With the role granted, the same cluster is suspended.
    emu.grant_role(&role, "mz_monitor_redacted");
    as_role(&role, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty());
}

/// The GRANTs `init --print` hands an admin, run as SQL, are what `doctor`
/// sees next: the role is a member of mz_monitor_redacted and the log is
/// readable, one judgement. The emulator kept memberships in a table only
/// its test helper filled, so `doctor` said the role was no member (the
/// log "unreadable") and, three lines below, that the log was readable.
#[test]
fn the_grants_init_print_hands_an_admin_are_what_doctor_sees() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_activity("c", 60, true);
    let role = emu.create_role("ctl");
    let print = clusterctl(&emu, &["init", "--print", "--role", &role.name]).ok();
    emu.sql(&print.stdout);
    let run = as_role(&role, &["doctor", "--output", "json"]);
    let doc = run.json();
    let findings = findings(&doc);
    let of = |topic: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["topic"] == topic)
            .map(|f| format!("{} {}", f["level"], f["message"]))
            .collect()
    };
    assert_eq!(of("monitor_role"), Vec::<String>::new(), "{doc:#}");
    let log = of("statement_log");
    assert!(
        log.len() == 1 && log[0].starts_with("\"ok\""),
        "{log:?}: {doc:#}"
    );
}

/// The blocker of `topic` among a doctor document's findings.
fn blocker(doc: &serde_json::Value, topic: &str) -> Option<serde_json::Value> {
    doc["result"]["findings"]
        .as_array()?
        .iter()
        .find(|f| f["topic"] == topic && f["level"] == "blocker")
        .cloned()
}

/// A role that may not even read clusterctl's tables: doctor reports it
/// (exit 3, the GRANTs among the blockers), where it failed on the read
/// (exit 1) and told the operator to run doctor.
#[test]
fn doctor_reports_a_role_that_cannot_read_the_tables() {
    let emu = Emulator::start();
    init_tables(&emu);
    let role = emu.create_role("blind");
    emu.create_hydrated_cluster("c", "r1", "25cc");
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    let run = as_role(&role, &["doctor", "-o", "json"]);
    assert_eq!(run.code, 3, "{}", run.all());
    let doc = run.json();
    crate::json_schema::conforms(&crate::json_schema::schema(), &doc);
    let privileges = blocker(&doc, "privileges");
    assert!(
        privileges.is_some_and(|f| f["fix"]
            .as_str()
            .is_some_and(|x| x.contains("GRANT SELECT ON \"mz_cluster_strategies\""))),
        "{doc:#}"
    );
    assert!(
        !run.all().contains("`clusterctl doctor` prints the GRANT"),
        "{}",
        run.all()
    );
    // A session cluster the role may not use: its GRANT is in the script
    // (`--print-sql` said nothing doctor found was fixed by SQL).
    emu.create_hydrated_cluster("private", "r1", "25cc");
    let script = as_role(
        &role,
        &["doctor", "--exec-cluster", "private", "--print-sql"],
    )
    .code(3)
    .stdout;
    assert!(
        script.contains(&format!(
            "GRANT USAGE ON CLUSTER \"private\" TO \"{}\";",
            role.name
        )),
        "{script}"
    );
}

/// A table of ours dropped by hand (every migration recorded): the
/// commands name that table (the state's missing was said as the
/// strategies table's), and the fix they name recreates it: `init` makes
/// it again (it found the migrations recorded and did nothing).
#[test]
fn a_table_dropped_by_hand_is_named_and_its_fix_recreates_it() {
    let emu = Emulator::start();
    init_tables(&emu);
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.sql("ALTER TABLE mz_cluster_strategy_state RENAME TO gone_state");
    let run = clusterctl(&emu, &["dry-run"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("\"mz_cluster_strategy_state\" does not exist")
            && run
                .stderr
                .contains("does not make again a table dropped by hand"),
        "{}",
        run.all()
    );
    let doc = clusterctl(&emu, &["doctor", "-o", "json"]).code(3).json();
    let tables = blocker(&doc, "tables");
    assert!(
        tables.is_some_and(|f| f["message"]
            .as_str()
            .is_some_and(|m| m.contains("mz_cluster_strategy_state"))
            && f["fix"]
                .as_str()
                .is_some_and(|x| x.contains("clusterctl init --print"))),
        "{doc:#}"
    );
    // init makes it again, empty, and says so; then every command works.
    let run = clusterctl(&emu, &["init"]).ok();
    assert!(
        run.stdout
            .contains("Made again, empty, tables that were missing (dropped by hand?): \"mz_cluster_strategy_state\""),
        "{}",
        run.all()
    );
    clusterctl(&emu, &["dry-run"]).ok();
    clusterctl(&emu, &["doctor"]).ok();
    let again = clusterctl(&emu, &["init"]).ok();
    assert!(again.stdout.contains("nothing to do"), "{}", again.all());

    // The audit trail and the lease, which the snapshot does not read or
    // reads as optional: doctor said "apply will work here" over either,
    // and apply said only the server's "unknown catalog item".
    for (table, renamed) in [
        ("mz_cluster_strategy_actions", "gone_actions"),
        ("clusterctl_lease", "gone_lease"),
    ] {
        emu.sql(&format!("ALTER TABLE {table} RENAME TO {renamed}"));
        let doc = clusterctl(&emu, &["doctor", "-o", "json"]).code(3).json();
        assert!(
            blocker(&doc, "tables")
                .is_some_and(|f| f["message"].as_str().is_some_and(|m| m.contains(table))),
            "{table}: {doc:#}"
        );
        let run = clusterctl(&emu, &["apply"]).code(1);
        assert!(
            run.stderr.contains(&format!(
                "clusterctl's tables are missing (\"{table}\" does not exist): run `clusterctl init`"
            )),
            "{table}: {}",
            run.all()
        );
        clusterctl(&emu, &["init"]).ok();
        clusterctl(&emu, &["apply"]).ok();
    }
}

/// Another tool's table under one of our names, in the schema given.
fn foreign_strategies_table(emu: &Emulator, schema: &str) {
    emu.sql(&format!(
        "CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.mz_cluster_strategies (name text, settings jsonb); \
         INSERT INTO {schema}.mz_cluster_strategies VALUES ('theirs', '{{}}')"
    ));
}

/// Says the table is another tool's, the columns it lacks and the way
/// out, on one `error:` line, exit 1.
#[track_caller]
fn says_not_ours(run: &Run, table: &str, lacks: &str) {
    says_not_ours_as(
        run,
        table,
        &format!("it lacks the columns {lacks} that clusterctl's has"),
    );
}

/// Says the table is another tool's, how it differs (`says`) and the way
/// out, on one `error:` line, exit 1.
#[track_caller]
fn says_not_ours_as(run: &Run, table: &str, says: &str) {
    assert_eq!(run.code, 1, "{}", run.all());
    let error = one_error_line(run);
    assert!(
        error.contains(&format!("table {table} is not clusterctl's: {says}"))
            && error.contains("rename or drop that table")
            && error.contains("--schema NAME"),
        "{}",
        run.all()
    );
}

/// A `--schema` holding another tool's `mz_cluster_strategies` (columns
/// `name`, `settings`): `init` said it created clusterctl's tables and
/// exited 0 (`CREATE TABLE IF NOT EXISTS` skipped that one), then every
/// command failed on `column "cluster_id" does not exist` (an outside
/// check). `init` and `apply` refuse before creating anything, and the
/// reading commands name the table and what it lacks. Their table is left
/// as it was.
#[test]
fn init_refuses_another_tools_table_of_our_name() {
    let emu = Emulator::start();
    foreign_strategies_table(&emu, "qa");
    let lacks = "cluster_id, strategy_type, config, updated_at";
    for args in [
        &["init", "--schema", "qa"][..],
        &["apply", "--schema", "qa"],
    ] {
        let run = clusterctl(&emu, args);
        says_not_ours(&run, r#""qa"."mz_cluster_strategies""#, lacks);
        assert!(!run.stdout.contains("Created"), "{args:?}: {}", run.all());
    }
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM pg_tables WHERE schemaname = 'qa'"),
        Some("1".into()),
        "nothing created beside it"
    );
    for args in [
        &["dry-run", "--schema", "qa"][..],
        &["status", "--schema", "qa"],
        &["check", "--schema", "qa"],
        &["strategy", "ls", "--schema", "qa"],
    ] {
        says_not_ours(
            &clusterctl(&emu, args),
            r#""qa"."mz_cluster_strategies""#,
            lacks,
        );
    }
    assert_eq!(
        emu.query_one("SELECT name FROM qa.mz_cluster_strategies"),
        Some("theirs".into())
    );
    // Renamed away, as the error says: init makes ours.
    emu.sql("ALTER TABLE qa.mz_cluster_strategies RENAME TO their_strategies");
    clusterctl(&emu, &["init", "--schema", "qa"]).ok();
    clusterctl(&emu, &["dry-run", "--schema", "qa"]).ok();
}

/// Every migration recorded, and then one of our tables replaced by
/// another tool's of the same name: `init` (which found nothing to do)
/// refuses, and a command reading that table names it (not the strategies
/// table every read starts with) with every column it lacks, not only the
/// one the server named.
#[test]
fn a_table_of_ours_replaced_by_anothers_is_named_by_init_and_every_reader() {
    let emu = Emulator::start();
    init_tables(&emu);
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.sql(
        "ALTER TABLE mz_cluster_strategy_state RENAME TO our_state; \
         CREATE TABLE mz_cluster_strategy_state (cluster_id text, note text)",
    );
    let lacks = "state_version, payload, updated_at";
    says_not_ours(
        &clusterctl(&emu, &["init"]),
        r#""mz_cluster_strategy_state""#,
        lacks,
    );
    says_not_ours(
        &clusterctl(&emu, &["dry-run"]),
        r#""mz_cluster_strategy_state""#,
        lacks,
    );
}

/// A VIEW under one of our names, with every column ours has: its reads
/// work, so it was taken for our table, and Materialize refuses every
/// write to a view ("cannot insert into view '…'"; PostgreSQL wrote
/// through a simple view to its table). `init` refuses it before making
/// anything, and once our migrations are recorded, a run whose write it
/// refuses says whose it is and sends no DDL.
#[test]
fn a_view_of_our_name_is_named_and_never_written() {
    let emu = Emulator::start();
    emu.sql(
        "CREATE TABLE their_strategies (cluster_id text, strategy_type text, config jsonb, \
         updated_at timestamptz); \
         CREATE VIEW mz_cluster_strategies AS SELECT * FROM their_strategies",
    );
    let run = clusterctl(&emu, &["init"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let error = one_error_line(&run);
    assert!(
        error.contains(
            "\"mz_cluster_strategies\" is a view, not clusterctl's table (another tool's view \
             of the same name?)"
        ) && error.contains("rename or drop it"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'"),
        Some("1".into()),
        "nothing created beside it"
    );
    emu.sql("DROP VIEW mz_cluster_strategies");

    // Our tables, then the audit trail replaced by a view of its rows.
    init_tables(&emu);
    emu.create_hydrated_cluster("c", "r1", "25cc");
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    emu.sql(
        "ALTER TABLE mz_cluster_strategy_actions RENAME TO our_actions; \
         CREATE VIEW mz_cluster_strategy_actions AS SELECT * FROM our_actions",
    );
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("\"mz_cluster_strategy_actions\" is a view, not clusterctl's table"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("c"),
        [("r1".to_string(), "25cc".to_string())],
        "no DDL without its audit row"
    );
    // The strategies replaced by a view of their rows after `init`: every
    // later apply read it and sent DDL from its rows, and the writing
    // commands changed rows through it (an outside check). Each refuses,
    // saying what it is, and nothing changes.
    emu.sql(
        "DROP VIEW mz_cluster_strategy_actions; \
         ALTER TABLE our_actions RENAME TO mz_cluster_strategy_actions; \
         ALTER TABLE mz_cluster_strategies RENAME TO our_strategies; \
         CREATE VIEW mz_cluster_strategies AS SELECT * FROM our_strategies",
    );
    let rows = || emu.query_strings("SELECT strategy_type, config::text FROM our_strategies");
    let before = rows();
    for args in [
        &["apply"][..],
        &["strategy", "pause", "c"],
        &["strategy", "rm", "c", "target_size"],
        &[
            "strategy",
            "set",
            "c",
            "target_size",
            "--target-size",
            "100cc",
        ],
    ] {
        let run = clusterctl(&emu, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            one_error_line(&run)
                .contains("\"mz_cluster_strategies\" is a view, not clusterctl's table"),
            "{args:?}: {}",
            run.all()
        );
    }
    assert_eq!(rows(), before, "nothing written through it");
    assert_eq!(
        emu.replicas("c"),
        [("r1".to_string(), "25cc".to_string())],
        "no DDL from its rows"
    );
}

/// A table of one of our names with every column ours has, but one of
/// another type (`cluster_id integer`, `payload text` where ours are
/// `text` and `jsonb`), or with a NOT NULL column ours lacks and no
/// default (every INSERT of ours fails on it): `init` said it created
/// clusterctl's tables, and the first write failed with a raw SQL error
/// (an outside check). It refuses, naming the table, the column and both
/// types, or the column; nothing is created beside it. More columns that
/// are nullable, or have a default, are harmless: `init` makes the rest
/// and the tables are read.
#[test]
fn init_refuses_a_table_of_our_name_with_other_types_or_a_required_column() {
    let emu = Emulator::start();
    let strategies = |schema: &str, cluster_id: &str, more: &str| {
        emu.sql(&format!(
            "CREATE SCHEMA {schema}; \
             CREATE TABLE {schema}.mz_cluster_strategies (cluster_id {cluster_id} NOT NULL, \
             strategy_type text NOT NULL, config jsonb NOT NULL, \
             updated_at timestamptz DEFAULT now(){more})"
        ))
    };
    let created = |schema: &str| {
        emu.query_one(&format!(
            "SELECT count(*)::text FROM pg_tables WHERE schemaname = '{schema}'"
        ))
    };
    strategies("qa", "integer", "");
    says_not_ours_as(
        &clusterctl(&emu, &["init", "--schema", "qa"]),
        r#""qa"."mz_cluster_strategies""#,
        "its column cluster_id is integer where clusterctl's is text",
    );
    assert_eq!(created("qa"), Some("1".into()), "nothing created beside it");
    strategies("qb", "text", ", owner text NOT NULL");
    says_not_ours_as(
        &clusterctl(&emu, &["init", "--schema", "qb"]),
        r#""qb"."mz_cluster_strategies""#,
        "it has the column owner NOT NULL without a default, which clusterctl's lacks",
    );
    assert_eq!(created("qb"), Some("1".into()), "nothing created beside it");
    // The reverse (text where ours is jsonb), in an installation where
    // every migration is recorded: `init` looks all the same.
    init_tables(&emu);
    emu.sql(
        "ALTER TABLE mz_cluster_strategy_state RENAME TO our_state; \
         CREATE TABLE mz_cluster_strategy_state (cluster_id text NOT NULL, \
         state_version int NOT NULL, payload text NOT NULL, updated_at timestamptz)",
    );
    says_not_ours_as(
        &clusterctl(&emu, &["init"]),
        r#""mz_cluster_strategy_state""#,
        "its column payload is text where clusterctl's is jsonb",
    );
    strategies(
        "qc",
        "text",
        ", note text, n int NOT NULL DEFAULT 0, at timestamptz NOT NULL DEFAULT now()",
    );
    clusterctl(&emu, &["init", "--schema", "qc"]).ok();
    clusterctl(&emu, &["dry-run", "--schema", "qc"]).ok();
}

/// On a Materialize whose information_schema.columns has no `is_nullable`
/// nor `column_default` (older releases: nine columns), the check still
/// runs: missing columns and types are judged, a fresh schema is created,
/// and nothing else fails on the read.
#[test]
fn the_check_of_our_tables_works_where_the_catalog_shows_no_nullability() {
    let emu = Emulator::start();
    let older = || {
        emu.fault(
            "is_nullable::text",
            1,
            // As Materialize says it: a plan error, XX000 (its
            // AdapterError::PlanError maps to INTERNAL_ERROR).
            crate::support::Action::Fail {
                sqlstate: "XX000".into(),
                message: "column \"is_nullable\" does not exist".into(),
            },
        )
    };
    emu.sql(
        "CREATE SCHEMA qa; CREATE TABLE qa.mz_cluster_strategies (cluster_id integer NOT NULL, \
         strategy_type text NOT NULL, config jsonb NOT NULL, updated_at timestamptz)",
    );
    older();
    says_not_ours_as(
        &clusterctl(&emu, &["init", "--schema", "qa"]),
        r#""qa"."mz_cluster_strategies""#,
        "its column cluster_id is integer where clusterctl's is text",
    );
    older();
    let run = clusterctl(&emu, &["init"]).ok();
    assert!(!run.all().contains("is_nullable"), "{}", run.all());
    older();
    clusterctl(&emu, &["init"]).ok();
}

/// Another tool's table of one of our names, with our migrations recorded
/// over it (`init --print` run by hand: `CREATE TABLE IF NOT EXISTS` left
/// it as it was): every command that reads it says whose it is (a raw
/// Rust type error reached each: an outside re-check).
#[test]
fn a_foreign_table_under_recorded_migrations_is_said_by_every_reader() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.sql(
        "CREATE SCHEMA qa; CREATE TABLE qa.mz_cluster_strategies (cluster_id integer NOT NULL, \
         strategy_type text NOT NULL, config jsonb NOT NULL, updated_at timestamptz)",
    );
    let user = emu.user();
    let printed = clusterctl(
        &emu,
        &["init", "--print", "--schema", "qa", "--role", user.as_str()],
    )
    .ok();
    assert!(
        printed.stdout.contains("run `clusterctl doctor` first"),
        "{}",
        printed.all()
    );
    emu.sql(&printed.stdout);
    emu.sql("INSERT INTO qa.mz_cluster_strategies VALUES (2, 'target_size', '{}', now())");
    for args in [
        &["apply"][..],
        &["status"],
        &["strategy", "ls"],
        &["dry-run"],
        &["simulate", "--from-history"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--schema", "qa"]);
        let run = clusterctl(&emu, &args);
        assert!(!run.all().contains("Rust type"), "{args:?}: {}", run.all());
        says_not_ours_as(
            &run,
            r#""qa"."mz_cluster_strategies""#,
            "its column cluster_id is integer where clusterctl's is text",
        );
    }
}

/// Every past migration's tables, as a clusterctl of that time left them
/// (the first alone: mz-clusterctl's three, before the lease), are ours:
/// `init` migrates them the rest of the way, a second `init` (everything
/// recorded) finds nothing wrong, and they are read.
#[test]
fn the_tables_every_past_migration_made_are_ours() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .expect("the migrations")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let emu = Emulator::start();
    for upto in 1..=files.len() {
        let schema = format!("upto{upto}");
        emu.sql(&format!("CREATE SCHEMA {schema}"));
        for file in &files[..upto] {
            let sql = std::fs::read_to_string(file).expect("a migration");
            emu.sql(&sql.replace("__SCHEMA__.", &format!("{schema}.")));
        }
        for args in [&["init"][..], &["init"], &["dry-run"], &["status"]] {
            let mut args = args.to_vec();
            args.extend(["--schema", &schema]);
            let run = clusterctl(&emu, &args).ok();
            assert!(!run.all().contains("not clusterctl's"), "{}", run.all());
        }
    }
}

/// `doctor` over a `--schema` holding another tool's
/// `mz_cluster_strategies`, beside an installation in `public`: one
/// blocker saying the table is not ours, with the fix. It said the first
/// apply would create the tables (it creates nothing over that one), that
/// they could not be read (pointing at a privileges finding it never
/// made), and that every cluster of `public` had strategy rows in both
/// installations, acted on by two controllers: the subquery's bare
/// `cluster_id`, absent from that table, was the outer row's (an outside
/// check).
#[test]
fn doctor_says_once_that_a_table_of_our_name_is_anothers() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1");
    init_tables(&emu);
    for name in ["c1", "c2"] {
        emu.create_cluster(name);
        strategy(&emu, name, "target_size", json!({"target_size": "25cc"}));
    }
    foreign_strategies_table(&emu, "qa");
    let doc = clusterctl(
        &emu,
        &[
            "doctor",
            "--schema",
            "qa",
            "--exec-cluster",
            "ops",
            "-o",
            "json",
        ],
    )
    .code(3)
    .json();
    let findings = findings(&doc);
    let tables: Vec<_> = findings.iter().filter(|f| f["topic"] == "tables").collect();
    assert_eq!(tables.len(), 1, "{doc:#}");
    let message = tables[0]["message"].as_str().unwrap_or_default();
    assert!(
        tables[0]["level"] == "blocker"
            && message.contains(r#"table "qa"."mz_cluster_strategies" is not clusterctl's"#)
            && message.contains("cluster_id, strategy_type, config, updated_at")
            && tables[0]["fix"]
                .as_str()
                .is_some_and(|f| f.contains("rename or drop that table")),
        "{doc:#}"
    );
    let all = doc.to_string();
    for wrong in [
        "the first apply creates",
        "could not be read",
        "strategy rows here and in schema",
    ] {
        assert!(!all.contains(wrong), "{wrong}: {doc:#}");
    }
}

/// `doctor --print-sql` hands an admin what fixes a role's privileges and
/// ownership as one script: run as it is, the role's doctor finds nothing
/// left to block apply. A cluster whose name holds a newline is escaped in
/// its comment line and stays inside its quoted identifier in the
/// statement: no text of the catalog's becomes a statement of the script
/// (the table it names is still there after the script ran). Written to a
/// file (not a terminal), every name is as the catalog has it.
#[test]
fn the_script_doctor_prints_for_an_admin_fixes_what_it_found() {
    let emu = Emulator::start();
    init_tables(&emu);
    let role = emu.create_role("weak");
    // A control character other than a line break is written as it is
    // too (escaped, `\u{1b}`, the statement named another cluster).
    for name in [
        "c",
        "odd\nDROP TABLE mz_cluster_strategies",
        "esc\u{1b}[31mred",
    ] {
        emu.create_hydrated_cluster(name, "r1", "25cc");
        strategy(&emu, name, "idle_suspend", json!({"idle_after_s": 60}));
    }
    emu.sql(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}",
        role.name
    ));
    let before = as_role(&role, &["doctor", "-o", "json"]).code(3).json();
    crate::json_schema::conforms(&crate::json_schema::schema(), &before);
    let script = as_role(&role, &["doctor", "--print-sql"]).code(3).stdout;
    // The script is each finding's `sql`, in order (the odd name's two
    // span two lines each).
    let statements: Vec<String> = before["result"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["sql"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_str().map(|s| format!("{s};")))
        .collect();
    assert_eq!(statements.len(), 13, "{before:#}");
    assert!(
        script.contains("ALTER CLUSTER \"esc\u{1b}[31mred\" OWNER TO"),
        "{script}"
    );
    let in_script: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("GRANT ") || l.starts_with("ALTER CLUSTER \"c\""))
        .collect();
    assert_eq!(in_script, statements[..in_script.len()], "{script}");
    for needle in [
        "GRANT mz_monitor_redacted TO",
        "GRANT INSERT ON \"mz_cluster_strategy_state\" TO",
        r#"ALTER CLUSTER "c" OWNER TO"#,
        r#"ALTER CLUSTER REPLICA "c"."r1" OWNER TO"#,
        "-- warning cluster: cluster odd\\nDROP TABLE",
    ] {
        assert!(script.contains(needle), "{needle}: {script}");
    }
    // An admin runs it as `psql -f` does: one statement at a time (a
    // statement ends with `;` at the end of a line; a name with a newline
    // continues it), through the emulated Materialize, which runs no DDL
    // in a transaction block.
    let mut admin = postgres::Client::connect(&emu.url(), postgres::NoTls).expect("admin");
    let mut statement = String::new();
    for line in script.lines() {
        if statement.is_empty() && (line.is_empty() || line.starts_with("-- ")) {
            continue;
        }
        statement.push_str(line);
        statement.push('\n');
        if line.ends_with(';') {
            admin
                .batch_execute(&statement)
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
            statement.clear();
        }
    }
    assert!(statement.is_empty(), "{statement}");
    assert!(tables_exist(&emu), "{script}");
    let after = as_role(&role, &["doctor", "--print-sql"]).ok().stdout;
    assert!(
        after.contains("-- Nothing doctor found is fixed by SQL."),
        "{after}"
    );
    let doc = as_role(&role, &["doctor", "-o", "json"]).ok().json();
    assert_eq!(doc["result"]["blockers"], 0, "{doc:#}");
    let findings = findings(&doc);
    assert!(
        findings.iter().all(|f| f.get("sql").is_none()
            && !f["message"]
                .as_str()
                .is_some_and(|m| m.contains("not manageable"))),
        "{doc:#}"
    );
}

/// Under the region's credit limit, a cluster with no replica (its users'
/// queries fail at once, §8.10) gets the room before one that serves and
/// wants a larger size, though the latter comes first in the catalog.
#[test]
fn the_credit_limit_gives_the_room_to_a_cluster_that_serves_nobody_first() {
    // Live: quickstart and a, 25cc each (0.5). b's 100cc makes 1.5; a's
    // 200cc would then make 3.5 > 2.6 (alone it would fit: 2.5).
    let emu = Emulator::start();
    emu.set_setting("max_credit_consumption_rate", "2.6");
    emu.create_cluster("a");
    emu.add_replica("a", "r1", "25cc");
    emu.set_hydrated("a", "r1", true);
    emu.create_cluster("b");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "200cc"}));
    strategy(&emu, "b", "target_size", json!({"target_size": "100cc"}));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("b"),
        [("r_100cc".to_string(), "100cc".to_string())],
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("a"), [("r1".to_string(), "25cc".to_string())]);
    let status = clusterctl(&emu, &["status", "--cluster", "a"]).ok();
    assert!(status.stdout.contains("Limited"), "{}", status.all());
}

#[test]
fn apply_holds_back_what_the_regions_credit_limit_would_refuse() {
    // A region limited to 3 credits/h (Materialize refuses beyond it with
    // 53000, half-way through a run). Live: quickstart, a and b, 25cc each.
    let emu = Emulator::start();
    emu.set_setting("max_credit_consumption_rate", "3");
    for name in ["a", "b"] {
        emu.create_cluster(name);
        emu.add_replica(name, "r1", "25cc");
        emu.set_hydrated(name, "r1", true);
    }
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "200cc"}));
    strategy(&emu, "b", "target_size", json!({"target_size": "100cc"}));

    // a's 200cc fits (0.75 + 2); b's 100cc would make 3.75: it waits.
    let doc = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let b = &doc["result"]["plan"]["clusters"][1];
    assert_eq!(b["cluster"], "b", "{doc:#}");
    assert_eq!(b["actions"], json!([]), "{b:#}");
    let held = &b["waiting"][0];
    assert_eq!(held["action"], "create r_100cc (100cc)", "{b:#}");
    assert!(
        held["reason"].as_str().is_some_and(|r| r.contains(
            "(max_credit_consumption_rate 3): it would take the region to 3.75 credits/h"
        )),
        "{held:#}"
    );
    // The same under `--replica-sizes` naming sizes the catalog prices: the
    // live 25cc replicas count, listed or not. A size it does not know
    // leaves the credits unknown, and the plan says the limit is not judged.
    for (sizes, judged) in [("100cc,200cc", true), ("100cc,200cc,1", false)] {
        let doc = clusterctl(
            &emu,
            &["dry-run", "--replica-sizes", sizes, "--output", "json"],
        )
        .ok()
        .json();
        let plan = &doc["result"]["plan"];
        let reason = plan["clusters"][1]["waiting"][0]["reason"].as_str();
        assert_eq!(
            reason.is_some_and(|r| r.contains("it would take the region to 3.75 credits/h")),
            judged,
            "{sizes}: {plan:#}"
        );
        let unjudged = plan["warnings"].as_array().into_iter().flatten().any(|w| {
            w.as_str().is_some_and(|w| {
                w.contains("credit limit (max_credit_consumption_rate 3) is not judged")
            })
        });
        assert_eq!(unjudged, !judged, "{sizes}: {plan:#}");
    }
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("a"),
        [
            ("r1".to_string(), "25cc".to_string()),
            ("r_200cc".to_string(), "200cc".to_string())
        ]
    );
    assert_eq!(emu.replicas("b"), [("r1".to_string(), "25cc".to_string())]);
    let failed = clusterctl(&emu, &["history", "--failed", "-o", "json"]).json();
    assert_eq!(failed["result"]["entries"], json!([]), "{failed:#}");
    let status = clusterctl(&emu, &["status", "--cluster", "b", "-o", "wide"])
        .ok()
        .stdout;
    assert!(
        status.contains("Limited") && status.contains("max_credit_consumption_rate"),
        "{status}"
    );
    let doctor = clusterctl(&emu, &["doctor"]).stdout;
    assert!(
        doctor.contains("max_credit_consumption_rate is 3 credits/h and the region's replicas use 2.75 credits/h"),
        "{doctor}"
    );
    // Sizes the catalog does not price: no made-up figure.
    let made_up = clusterctl(&emu, &["doctor", "--replica-sizes", "25cc,200cc,xl"]).stdout;
    assert!(
        made_up.contains(
            "the region's rate is not known: --replica-sizes names sizes without their credits"
        ) && !made_up.contains("replicas use"),
        "{made_up}"
    );

    // a's old replica goes once the new one serves (a drop is never held
    // back); b still does not fit (2.5 + 1), until the limit is raised.
    emu.set_hydrated("a", "r_200cc", true);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("a"),
        [("r_200cc".to_string(), "200cc".to_string())]
    );
    assert_eq!(emu.replicas("b").len(), 1);
    emu.set_setting("max_credit_consumption_rate", "4");
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("b").len(), 2);
    let failed = clusterctl(&emu, &["history", "--failed", "-o", "json"]).json();
    assert_eq!(failed["result"]["entries"], json!([]), "{failed:#}");
}

#[test]
fn a_release_without_the_credit_settings_plans_as_before() {
    // `SHOW` refuses both (a release or role without them): nothing is
    // held back for them, and `doctor` says the limit is unknown.
    let emu = Emulator::start();
    emu.sql(
        "SELECT mz_emulator.set_setting('max_credit_consumption_rate', '1024', false), \
                mz_emulator.set_setting('allowed_cluster_replica_sizes', '', false)",
    );
    emu.create_cluster("a");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "200cc"}));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("a"),
        [("r_200cc".to_string(), "200cc".to_string())]
    );
    let doctor = clusterctl(&emu, &["doctor", "-o", "json"]).json();
    assert_eq!(
        doctor["result"]["server"]["max_credit_consumption_rate"],
        json!(null),
        "{doctor:#}"
    );
    assert!(
        doctor
            .to_string()
            .contains("max_credit_consumption_rate could not be read"),
        "{doctor:#}"
    );
}

#[test]
fn a_size_the_region_does_not_allow_makes_its_row_invalid() {
    let emu = Emulator::start();
    emu.set_setting("allowed_cluster_replica_sizes", "25cc,50cc");
    emu.create_cluster("a");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "800cc"}));
    let run = clusterctl(&emu, &["check"]);
    assert!(
        run.stdout
            .contains("size '800cc' is not in Materialize's allowed_cluster_replica_sizes")
            || run
                .stderr
                .contains("size '800cc' is not in Materialize's allowed_cluster_replica_sizes"),
        "{}",
        run.all()
    );
    assert!(
        run.all().contains("allowed sizes are: 25cc, 50cc"),
        "{}",
        run.all()
    );
    clusterctl(&emu, &["apply"]);
    assert!(emu.replicas("a").is_empty());
}

#[test]
fn plans_never_go_beyond_max_replicas_per_cluster() {
    // Materialize's default limit: 5 replicas per cluster.
    let emu = Emulator::start();
    emu.create_cluster("fresh");
    emu.add_index("fresh");
    init_tables(&emu);
    strategy(
        &emu,
        "fresh",
        "shrink_to_fit",
        json!({"max_replica_size": "800cc"}),
    );
    let doc = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let cp = &doc["result"]["plan"]["clusters"][0];
    let mut created: Vec<&str> = cp["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["size"].as_str())
        .collect();
    created.sort_by_key(|s| s.trim_end_matches("cc").parse::<u32>().unwrap_or(0));
    // The cheapest, and the probe's largest (the one that serves if any
    // does): the sizes between are tried once it serves.
    assert_eq!(
        created,
        ["25cc", "50cc", "100cc", "200cc", "800cc"],
        "{cp:#}"
    );
    // The others wait for room: pending work, not a converged cluster.
    let waiting: Vec<String> = cp["waiting"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| format!("{} {}", w["action"], w["reason"]))
        .collect();
    for size in ["300cc", "400cc", "600cc"] {
        assert!(
            waiting
                .iter()
                .any(|w| w.contains(&format!("create fresh_{size}"))
                    && w.contains("max_replicas_per_cluster (5)")),
            "{waiting:?}"
        );
    }
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("fresh").len(), 5);

    // The small ones OOM, 800cc serves: they go, and the sizes the limit
    // kept out are tried beside it.
    for size in ["25cc", "50cc", "100cc", "200cc"] {
        emu.add_crash("fresh", &format!("fresh_{size}"), true, 30);
    }
    emu.set_hydrated("fresh", "fresh_800cc", true);
    clusterctl(&emu, &["apply"]).ok();
    let mut sizes: Vec<String> = emu.replicas("fresh").into_iter().map(|(_, s)| s).collect();
    sizes.sort();
    assert_eq!(sizes, ["800cc"]);
    clusterctl(&emu, &["apply"]).ok();
    let mut sizes: Vec<String> = emu.replicas("fresh").into_iter().map(|(_, s)| s).collect();
    sizes.sort();
    assert_eq!(sizes, ["300cc", "400cc", "600cc", "800cc"]);
    // 300cc fits: the larger ones go.
    emu.set_hydrated("fresh", "fresh_300cc", true);
    clusterctl(&emu, &["apply"]).ok();
    let sizes: Vec<String> = emu.replicas("fresh").into_iter().map(|(_, s)| s).collect();
    assert_eq!(sizes, ["300cc"]);
}

#[test]
fn a_sampled_statement_log_needs_a_longer_silence_and_a_thin_one_proves_nothing() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_activity("c", 5000, true);
    assert_eq!(
        emu.activity_sampled_out(),
        0,
        "the seed keeps the first statement"
    );
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));

    // Half the statements are logged: 5000 s of silence is not 7200 s.
    emu.set_setting("statement_logging_default_sample_rate", "0.5");
    emu.set_setting("statement_logging_max_sample_rate", "0.5");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    let plan = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        plan.stdout.contains("waiting for 2h00m of silence"),
        "{}",
        plan.all()
    );
    let status = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        status["result"]["statement_log"]["sample_rate"], 0.5,
        "{status:#}"
    );
    let status = clusterctl(&emu, &["status"]).ok();
    assert!(
        status.stderr.contains("keeps 50% of statements"),
        "{}",
        status.all()
    );

    // One statement in twenty: a silence proves nothing at all.
    // (The statement is logged before the rate drops, so it is there.)
    emu.sql("DELETE FROM mz_internal.mz_statement_execution_history");
    emu.set_setting("statement_logging_default_sample_rate", "1");
    emu.set_setting("statement_logging_max_sample_rate", "1");
    emu.add_activity("c", 20_000, true);
    assert_eq!(emu.activity_sampled_out(), 0);
    emu.set_setting("statement_logging_max_sample_rate", "0.05");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    assert!(
        run.stderr.contains("keeps 5% of statements"),
        "{}",
        run.all()
    );
    let check = clusterctl(&emu, &["check"]).code(3);
    assert!(
        check.stdout.contains("idle_suspend: cannot tell")
            && !check.stdout.contains("idle_suspend: idle_suspend"),
        "{}",
        check.all()
    );

    // Back to half: 20 000 s of silence is evidence enough.
    emu.set_setting("statement_logging_max_sample_rate", "0.5");
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains("threshold 1h00m, +1h00m for the sampled statement log"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty());

    // The note is for what is shown: a cluster without idle_suspend
    // does not rely on the log (it was said for every selection).
    emu.create_cluster("other");
    strategy(&emu, "other", "target_size", json!({"target_size": "25cc"}));
    let note = |cluster: &str| {
        clusterctl(&emu, &["status", "--cluster", cluster, "-o", "json"])
            .ok()
            .json()["result"]["statement_log"]["note"]
            .clone()
    };
    assert_eq!(note("other"), serde_json::Value::Null);
    assert!(
        note("c").as_str().is_some_and(|n| n.contains("50%")),
        "{}",
        note("c")
    );
}

#[test]
fn only_a_crash_reason_counts_as_a_crash() {
    let emu = crate::cli::converged_c();
    // Restarts and maintenance (no reason), and a new replica initializing.
    emu.replica_offline("c", "r1", None);
    emu.set_replica_online("c", "r1");
    emu.replica_offline("c", "r1", None);
    emu.set_replica_online("c", "r1");
    emu.add_replica("c", "r2", "25cc");
    let replicas = |emu: &Emulator| {
        clusterctl(emu, &["status", "--output", "json"]).ok().json()["result"]["clusters"][0]
            ["replicas"]
            .clone()
    };
    let r = replicas(&emu);
    assert_eq!(
        (r[0]["crashes"].clone(), r[1]["crashes"].clone()),
        (json!(0), json!(0)),
        "{r:#}"
    );
    emu.replica_offline("c", "r1", Some("oom-killed"));
    let r = replicas(&emu);
    assert_eq!(
        (r[0]["crashes"].clone(), r[0]["ooms"].clone()),
        (json!(1), json!(1)),
        "{r:#}"
    );
}

#[test]
fn clusters_materialize_scales_itself_are_left_alone() {
    // A release with the auto-scaling relation (§8.8); most have none and
    // must not fail on its absence (every other test).
    let emu = Emulator::builder().auto_scaling_relation(true).start();
    emu.create_managed_cluster("auto", "25cc", 1);
    emu.set_auto_scaling_strategy("auto", "800cc");
    emu.create_managed_cluster("plain", "25cc", 1);
    init_tables(&emu);
    for c in ["auto", "plain"] {
        strategy(&emu, c, "target_size", json!({"target_size": "100cc"}));
    }
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stderr.contains("cluster auto")
            && run
                .stderr
                .contains("Materialize scales this cluster itself"),
        "{}",
        run.all()
    );
    assert!(
        !run.stdout.contains(r#"ALTER CLUSTER "auto""#),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains(r#"ALTER CLUSTER "plain""#),
        "{}",
        run.all()
    );
}

#[test]
fn doctor_says_whether_apply_will_work() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1"); // it serves (§8.7)
                                         // Before the first apply: apply would create the tables.
    let run = clusterctl(&emu, &["doctor"]).ok();
    assert!(
        run.stdout.contains(
            "the first apply creates clusterctl's tables: \"clusterctl_schema_migrations\""
        ),
        "{}",
        run.all()
    );
    // Without a snapshot the statement log is probed on its own: readable
    // (the probe went out with its placeholders unfilled, failed on `{`
    // and told a superuser to grant mz_monitor_redacted).
    assert!(
        run.stdout.contains("statement log readable") && !run.stdout.contains("mz_monitor"),
        "{}",
        run.all()
    );
    assert!(!tables_exist(&emu), "doctor writes nothing");
    init_tables(&emu);

    // Healthy: exit 0, and every topic answered.
    let run = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]).ok();
    for needle in [
        "v26.35.0",
        "in the background",
        r#"session cluster "ops" (--exec-cluster): replicas r1"#,
        "keeps 99% of statements",
        "max_replicas_per_cluster is 5",
        "the controller lease is free",
        "apply will work here",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.all());
    }
    // A lease another controller holds: who, until when, and the way out
    // (the stuck-lease runbook starts here).
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'otherhost:4242:run', \
         expires_at = now() + INTERVAL '10 minutes' WHERE name = 'controller'",
    );
    let run = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]).ok();
    assert!(
        run.stdout.contains("held by otherhost:4242:run until")
            && run.stdout.contains("unlock --force"),
        "{}",
        run.all()
    );
    emu.sql(
        "UPDATE clusterctl_lease SET holder = '', expires_at = now() WHERE name = 'controller'",
    );
    let doc = clusterctl(&emu, &["doctor", "--output", "json"])
        .ok()
        .json();
    assert_eq!(doc["command"], "doctor");
    assert_eq!(doc["result"]["server"]["resize_form"], "background");
    assert_eq!(doc["result"]["server"]["max_replicas_per_cluster"], 5);
    assert_eq!(doc["result"]["blockers"], 0, "{doc:#}");

    // Rows every run skips, or of no cluster: apply works for the others,
    // and doctor points at check, which names each (it said nothing).
    emu.create_hydrated_cluster("fine", "r1", "25cc");
    strategy(&emu, "fine", "target_size", json!({"target_size": "25cc"}));
    emu.create_hydrated_cluster("skipped", "r1", "25cc");
    strategy(&emu, "skipped", "target_size", json!({"target_size": 5}));
    emu.sql(
        "INSERT INTO mz_cluster_strategies VALUES ('u999', 'idle_suspend', '{}', now()), \
         ('u998', 'idle_suspend', '{}', now())",
    );
    let run = clusterctl(&emu, &["doctor", "--exec-cluster", "ops"]).ok();
    assert!(
        run.stdout.contains(
            "1 cluster with invalid strategy rows, skipped by every run; \
             2 strategy rows naming no cluster"
        ) && run.stdout.contains("clusterctl check")
            && run.stdout.contains("apply will work here"),
        "{}",
        run.all()
    );
    emu.sql("DELETE FROM mz_cluster_strategies");

    // A session cluster without a replica blocks apply: exit 3, with the fix.
    emu.create_cluster("empty");
    let run = clusterctl(&emu, &["doctor", "--exec-cluster", "empty"]).code(3);
    assert!(
        run.stdout.contains("BLOCKER") && run.stdout.contains("--exec-cluster NAME"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("syntax error"), "{}", run.all());

    // A role without the monitor role, table privileges or cluster
    // ownership: each said, with its fix.
    let role = emu.create_role("weak");
    emu.create_hydrated_cluster("c", "r1", "25cc");
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    emu.sql(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}",
        role.name
    ));
    let run = as_role(&role, &["doctor"]).code(3);
    for needle in [
        "GRANT mz_monitor_redacted TO",
        "GRANT INSERT ON \"mz_cluster_strategy_state\" TO",
        "not manageable",
        r#"ALTER CLUSTER "c" OWNER TO"#,
        "block",
    ] {
        assert!(run.stdout.contains(needle), "{needle}: {}", run.all());
    }
}

/// A write of the intent's round trip refused (the role may not delete
/// the state's old versions, which a suspension writes with its first
/// DROP's intent): the DROP is never sent. Its intent was left open, and
/// the next run held the cluster for the late-DROP window, then called it
/// failed "the run was killed" (an outside check). It is closed as not
/// attempted; the next run, granted, suspends at once.
#[test]
fn an_intent_whose_bookkeeping_was_refused_is_closed_as_not_attempted() {
    let emu = Emulator::start();
    init_tables(&emu);
    let role = emu.create_role("ctl");
    emu.grant_role(&role, "mz_monitor_redacted");
    emu.sql(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {0}; \
         REVOKE DELETE ON mz_cluster_strategy_state FROM {0}",
        role.name
    ));
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.set_cluster_owner("c", &role.name);
    emu.set_replica_owner("c", "r1", &role.name);
    emu.add_activity("c", 7200, true);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    let run = as_role(&role, &["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(emu.replicas("c").len(), 1, "nothing dropped: {}", run.all());
    let rows = emu.query_strings(
        "SELECT executed::text, error_message FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'drop_replica'",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("false"), "{rows:?}");
    assert!(
        rows[0][1]
            .as_deref()
            .is_some_and(|e| e.starts_with("not attempted: the bookkeeping written with it")),
        "{rows:?}"
    );
    emu.sql(&format!(
        "GRANT DELETE ON mz_cluster_strategy_state TO {}",
        role.name
    ));
    let next = as_role(&role, &["apply"]);
    assert_eq!(next.code, 0, "{}", next.all());
    assert!(
        !next.all().contains("may still reach the server"),
        "{}",
        next.all()
    );
    assert!(emu.replicas("c").is_empty(), "{}", next.all());
}

/// A role without USAGE on the schema of clusterctl's tables: doctor said
/// only that table privileges "could not be checked", and `--print-sql`
/// printed no GRANT (an outside re-check). It names the GRANT; run, the
/// table GRANTs follow on the next round.
#[test]
fn doctor_prints_the_schema_usage_a_role_lacks() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    clusterctl(&emu, &["init", "--schema", "ctl"]).ok();
    let role = emu.create_role("nosch");
    let script = as_role(&role, &["doctor", "--schema", "ctl", "--print-sql"])
        .code(3)
        .stdout;
    let grant = format!("GRANT USAGE ON SCHEMA \"ctl\" TO \"{}\";", role.name);
    assert!(script.contains(&grant), "{script}");
    emu.sql(&format!("GRANT USAGE ON SCHEMA ctl TO {}", role.name));
    let next = as_role(&role, &["doctor", "--schema", "ctl", "--print-sql"])
        .code(3)
        .stdout;
    assert!(
        !next.contains("USAGE ON SCHEMA") && next.contains("GRANT SELECT ON \"ctl\"."),
        "{next}"
    );
}

/// `apply --audit-retention` as a role granted what `init --print` grants
/// but the trail's DELETE (listed there for it since): the pruning's
/// warning says the privilege (it said doctor printed the GRANT; doctor,
/// which does not check it, said every privilege was granted).
#[test]
fn a_pruning_refused_names_the_delete_it_needs() {
    let emu = Emulator::start();
    init_tables(&emu);
    let role = emu.create_role("noprune");
    emu.sql(&format!(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {0}; \
         REVOKE DELETE ON mz_cluster_strategy_actions FROM {0}",
        role.name
    ));
    emu.sql(
        "INSERT INTO mz_cluster_strategy_actions VALUES ('old', 'u1', '-- old', \
         '{\"kind\": \"strategy_set\"}', true, NULL, now() - INTERVAL '30 days')",
    );
    let run = as_role(&role, &["apply", "--audit-retention", "8d"]).ok();
    assert!(
        run.stderr.contains(
            "could not prune the audit trail (--audit-retention): pruning the audit trail: "
        ) && run.stderr.contains(
            "it needs DELETE on \"mz_cluster_strategy_actions\" (GRANT DELETE ON \
             \"mz_cluster_strategy_actions\" TO the role; `clusterctl init --print` lists it)"
        ) && !run.stderr.contains("`clusterctl doctor` prints the GRANT"),
        "{}",
        run.all()
    );
}

/// A reviewer's read-only role: its dry-run judges ownership as itself
/// ("not manageable", exit 0 under `--detailed-exitcode` while `apply`
/// would act: an outside check), and with `--as-role` as the role `apply`
/// runs as, whose plan it then shows.
#[test]
fn a_read_only_dry_run_judges_ownership_as_the_role_apply_runs_as() {
    let emu = Emulator::start();
    init_tables(&emu);
    emu.create_hydrated_cluster("c", "r1", "25cc");
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let reviewer = emu.create_role("reviewer");
    emu.sql(&format!(
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}",
        reviewer.name
    ));
    let owner = emu
        .query_one(
            "SELECT r.name FROM mz_catalog.mz_roles r \
             JOIN mz_catalog.mz_clusters c ON c.owner_id = r.id WHERE c.name = 'c'",
        )
        .expect("the cluster's owner");
    let plan = |extra: &[&str]| {
        let mut args = vec!["dry-run", "--detailed-exitcode"];
        args.extend_from_slice(extra);
        as_role(&reviewer, &args)
    };
    let own = plan(&[]).code(0);
    assert!(
        own.stdout.contains("not manageable") && !own.stdout.contains("r_50cc"),
        "{}",
        own.all()
    );
    let theirs = plan(&["--as-role", &owner]).code(2);
    assert!(
        theirs.stdout.contains("+ create replica r_50cc (50cc)")
            && !theirs.all().contains("not manageable"),
        "{}",
        theirs.all()
    );
    // The reviewer's role, named: as without the flag.
    plan(&["--as-role", &reviewer.name]).code(0);
    let empty = plan(&["--as-role", ""]).code(64);
    assert!(
        empty.stderr.contains("empty (an unset variable?)"),
        "{}",
        empty.all()
    );
    let unknown = plan(&["--as-role", "nobody"]).code(64);
    assert!(
        unknown
            .stderr
            .contains("--as-role nobody: no role has that name"),
        "{}",
        unknown.all()
    );
}

/// mz-clusterctl's three tables, granted as it granted them (no UPDATE on
/// the audit trail), before our first apply: doctor lists only the tables
/// to make, and names the privilege the first apply needs on the audit
/// trail (it said "apply will work here", and the first apply failed after
/// its DDL ran: an outside check).
#[test]
fn doctor_checks_the_references_tables_before_the_first_apply() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1");
    emu.sql(
        "CREATE TABLE mz_cluster_strategies (cluster_id TEXT NOT NULL, strategy_type TEXT NOT NULL, \
         config JSONB NOT NULL, updated_at TIMESTAMPTZ DEFAULT now()); \
         CREATE TABLE mz_cluster_strategy_state (cluster_id TEXT NOT NULL, state_version INT NOT \
         NULL, payload JSONB NOT NULL, updated_at TIMESTAMPTZ DEFAULT now()); \
         CREATE TABLE mz_cluster_strategy_actions (action_id TEXT NOT NULL, cluster_id TEXT, \
         action_sql TEXT, decision_ctx JSONB, executed BOOL, error_message TEXT, created_at \
         TIMESTAMPTZ DEFAULT now());",
    );
    let role = emu.create_role("ref");
    emu.sql(&format!(
        "GRANT SELECT, INSERT, DELETE ON mz_cluster_strategies, mz_cluster_strategy_state, \
         mz_cluster_strategy_actions TO {}",
        role.name
    ));
    postgres::Client::connect(&emu.url(), postgres::NoTls)
        .expect("connect")
        .batch_execute(&format!("GRANT USAGE ON CLUSTER ops TO {}", role.name))
        .expect("grant");
    let doc = as_role(&role, &["doctor", "--exec-cluster", "ops", "-o", "json"])
        .code(3)
        .json();
    let findings = findings(&doc);
    let said = |topic: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["topic"] == topic)
            .map(|f| {
                format!(
                    "{} {}",
                    f["message"].as_str().unwrap_or_default(),
                    f["fix"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    let tables = said("tables").join("\n");
    assert!(
        tables.contains("\"clusterctl_lease\"")
            && !tables.contains("creates \"mz_cluster_strategies\"")
            && tables.contains("it keeps"),
        "{doc:#}"
    );
    let privileges = said("privileges").join("\n");
    assert!(
        privileges.contains("GRANT UPDATE ON \"mz_cluster_strategy_actions\""),
        "{doc:#}"
    );
}

/// One command is one run in the audit trail: a one-shot `apply
/// --create-replica`'s temporary replica (its create and its drop) and
/// its actions carry one run id (the create and the drop had two, and the
/// actions a third: an outside check).
#[test]
fn a_one_shot_apply_with_a_temporary_replica_is_one_run() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    clusterctl(
        &emu,
        &["apply", "--exec-cluster", "ops", "--create-replica"],
    )
    .ok();
    let runs: std::collections::BTreeSet<String> = ["ops", "c"]
        .iter()
        .flat_map(|c| audit_ctx(&emu, c))
        .filter_map(|c| c["run_id"].as_str().map(String::from))
        .collect();
    let rows = audit_ctx(&emu, "ops").len() + audit_ctx(&emu, "c").len();
    assert_eq!(rows, 3, "{:?}", audit_ctx(&emu, "ops"));
    assert_eq!(runs.len(), 1, "{runs:?}");
}
