//! Safety under concurrency and faults, each hazard injected through the
//! emulator: the lease, the plan guard, retries, deadlines, kill -9 at every
//! point of an apply, guard rails.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::pairs;
use crate::cli::{
    audit, clusterctl, clusterctl_gives_up, command, init_tables, late, late_by, lit,
    one_error_line, replica_names, run_cmd, state_of, strategy, Run,
};
use crate::support::{Emulator, Pattern};

/// `run_id`s of every audited action.
fn actors(emu: &Emulator) -> BTreeSet<String> {
    emu.query_strings("SELECT DISTINCT decision_ctx->>'run_id' FROM mz_cluster_strategy_actions")
        .into_iter()
        .filter_map(|r| r[0].clone())
        .collect()
}

#[test]
fn a_held_lease_means_one_line_and_exit_zero_and_unlock_breaks_it() {
    let emu = one_create_setup();
    emu.hold_lease("other-host:4242:run-x", 600);

    let run = clusterctl(&emu, &["apply"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.all());
    assert!(lines[0].contains("other-host:4242:run-x"), "{}", lines[0]);
    assert!(lines[0].contains("until"), "{}", lines[0]);
    assert!(
        emu.replicas("c").is_empty(),
        "nothing done without the lease"
    );

    let started = Instant::now();
    let run = clusterctl(&emu, &["apply", "--wait", "1s"]).ok();
    assert!(started.elapsed() >= Duration::from_secs(1), "--wait waits");
    assert!(emu.replicas("c").is_empty());
    assert!(
        run.stdout
            .contains("not acting this time (waited 1s for it)"),
        "{}",
        run.all()
    );
    // wipe-state, which fails: not advised to --wait after it waited.
    let run = clusterctl(&emu, &["wipe-state", "--yes", "--wait", "1s"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("waited 1s for it with --wait") && !run.stderr.contains("--wait 30s"),
        "{}",
        run.all()
    );

    let run = clusterctl(&emu, &["unlock", "--force"]).ok();
    assert!(
        run.stdout
            .contains("Broke the lease held by other-host:4242:run-x"),
        "{}",
        run.all()
    );
    let unlocks = emu.query_strings(
        "SELECT decision_ctx->>'previous_holder' FROM mz_cluster_strategy_actions WHERE decision_ctx->>'kind' = 'unlock'",
    );
    assert_eq!(
        unlocks,
        vec![vec![Some("other-host:4242:run-x".to_string())]],
        "unlock is audited"
    );

    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
    // unlock without --force is refused.
    assert_eq!(clusterctl(&emu, &["unlock"]).code, 64);

    // The break is applied, but its answer is lost (a cut connection): the
    // retry finds the lease free, and the break is audited all the same.
    emu.hold_lease("other-host:4242:run-y", 600);
    emu.cut_after_statement("SET holder = '', expires_at", 1);
    let run = clusterctl(&emu, &["unlock", "--force"]).ok();
    emu.clear_faults();
    assert!(
        run.stdout
            .contains("Broke the lease held by other-host:4242:run-y"),
        "{}",
        run.all()
    );
    let unlocks = emu.query_strings(
        "SELECT decision_ctx->>'previous_holder' FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'unlock' ORDER BY created_at",
    );
    assert_eq!(
        unlocks.last(),
        Some(&vec![Some("other-host:4242:run-y".to_string())]),
        "a retried unlock is audited: {unlocks:?}"
    );
}

/// How many times `unlock --force` is in the audit trail.
fn unlocks_audited(emu: &Emulator) -> usize {
    emu.query_strings(
        "SELECT 1 FROM mz_cluster_strategy_actions WHERE decision_ctx->>'kind' = 'unlock'",
    )
    .len()
}

/// Another run takes the lease (as a take does, dated now).
const RUN_Z_TAKES: &str = "UPDATE clusterctl_lease SET holder = 'other-host:4243:run-z', \
     expires_at = now() + INTERVAL '600 seconds', acquired_at = now() WHERE name = 'controller'";

/// `unlock --force` breaks the lease it read: when its holder gave it back
/// and another run took it before the break reached the server, the break
/// changes nothing and says so; a retry after a break whose answer was
/// lost breaks no lease taken since either. Both broke the new run's
/// lease, which may be acting.
#[test]
fn unlock_breaks_only_the_lease_it_read() {
    let emu = one_create_setup();
    let breaks = "SET holder = '', expires_at";
    emu.hold_lease("other-host:4242:run-x", 600);
    before_statement(&emu, breaks, RUN_Z_TAKES);
    let run = clusterctl(&emu, &["unlock", "--force"]).ok();
    assert!(
        run.stdout
            .contains("The lease held by other-host:4242:run-x (until ")
            && run
                .stdout
                .contains("taken by another run, before the break reached it: nothing was broken"),
        "{}",
        run.all()
    );
    assert_eq!(lease_row(&emu).0, "other-host:4243:run-z");
    assert_eq!(unlocks_audited(&emu), 0, "nothing was broken");

    // The break applied, its answer lost; run-z takes the lease before the
    // retry reads it. The break was run-x's, and is audited so.
    emu.hold_lease("other-host:4242:run-x", 600);
    emu.cut_after_statement(breaks, 1);
    before_nth_statement(&emu, "SELECT holder, expires_at", 2, RUN_Z_TAKES);
    let run = clusterctl(&emu, &["unlock", "--force"]).ok();
    assert!(
        run.stdout
            .contains("Broke the lease held by other-host:4242:run-x")
            && run.stderr.contains("retrying"),
        "{}",
        run.all()
    );
    assert_eq!(lease_row(&emu).0, "other-host:4243:run-z");
    assert_eq!(unlocks_audited(&emu), 1);
}

/// A break held past its attempt, whose command failed meanwhile: it
/// reaches the server later and changes nothing. It broke the lease
/// without an audit row, after the operator was told it failed.
#[test]
fn a_break_of_the_lease_that_lands_after_its_command_failed_changes_nothing() {
    let emu = one_create_setup();
    emu.hold_lease("other-host:4242:run-x", 600);
    let held = late(&emu, "SET holder = '', expires_at");
    let unlock = ["unlock", "--force", "--max-retries", "0"];
    let run = clusterctl_gives_up(&emu, &unlock);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("breaking the lease"), "{}", run.all());
    held.landed(&emu);
    assert_eq!(lease_row(&emu).0, "other-host:4242:run-x");
    assert_eq!(unlocks_audited(&emu), 0);
}

/// The holder releases between our failed take and our read of the row:
/// the row is free, and the run takes it (it said "Another controller
/// holds the lease () until 1970-01-01" and skipped its run).
/// A second lease row out of step with the first (a person added it; the
/// table has no key): while either is held by another controller, nobody
/// takes the lease. Taking the expired copy let two controllers act.
#[test]
fn a_lease_row_held_elsewhere_blocks_the_take_of_an_expired_copy() {
    let emu = one_create_setup();
    emu.sql(
        "INSERT INTO clusterctl_lease (name, holder, expires_at) \
         VALUES ('controller', 'other-host:4242:run-x', now() + INTERVAL '10 minutes')",
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("other-host:4242:run-x") && emu.replicas("c").is_empty(),
        "{}",
        run.all()
    );
    // Once it expires, both copies are taken together and stay in step.
    emu.sql(
        "UPDATE clusterctl_lease SET expires_at = now() - INTERVAL '1 second' WHERE holder <> ''",
    );
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c").len(), 1);
    let holders = emu.query_strings(
        "SELECT DISTINCT holder, expires_at::text FROM clusterctl_lease WHERE name = 'controller'",
    );
    assert_eq!(holders.len(), 1, "{holders:?}");
}

/// A lease row whose expiry is `infinity` (a person's hand) is held until
/// broken: `take` never takes it. The read that shows the lease
/// decoded no time from it and called it free: `doctor` said "the
/// controller lease is free" while every `apply` found it busy, and
/// `unlock --force` said "The lease was free; nothing to break" and left
/// it held for ever. One rule says held now, for both.
#[test]
fn a_lease_that_never_expires_is_held_wherever_it_is_shown() {
    let emu = one_create_setup();
    let v = crate::json_schema::schema();
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'other-host:4242:run-x', expires_at = 'infinity' \
         WHERE name = 'controller'",
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains("holds the lease (other-host:4242:run-x) until it is broken"),
        "{}",
        run.all()
    );
    let doc = clusterctl(&emu, &["apply", "-o", "json"]).ok().json();
    crate::json_schema::conforms(&v, &doc);
    assert_eq!(doc["result"]["lease_busy"]["until"], json!(null), "{doc}");
    // doctor: a blocker (it never expires: every apply does nothing until
    // it is broken; it said "apply will work here": an outside check).
    let doctor = clusterctl(&emu, &["doctor"]);
    assert_eq!(doctor.code, 3, "{}", doctor.all());
    assert!(
        doctor.stdout.lines().any(|l| l.starts_with("BLOCKER")
            && l.contains("lease is held by other-host:4242:run-x until it is broken")),
        "{}",
        doctor.all()
    );
    assert!(emu.replicas("c").is_empty());
    let run = clusterctl(&emu, &["unlock", "--force", "-o", "json"]).ok();
    let doc = run.json();
    crate::json_schema::conforms(&v, &doc);
    assert_eq!(doc["result"]["broken"], json!(true), "{doc}");
    assert_eq!(doc["result"]["previous_until"], json!(null), "{doc}");
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c").len(), 1, "free once broken");
}

/// Runs `sql` as the admin (another controller, a person) just before the
/// first statement matching `pattern` reaches the server.
fn before_statement(emu: &Emulator, pattern: &str, sql: &'static str) {
    before_nth_statement(emu, pattern, 1, sql);
}

/// [`before_statement`] of the `nth` statement matching `pattern`.
fn before_nth_statement(emu: &Emulator, pattern: &str, nth: u32, sql: &'static str) {
    let url = crate::support::pg_url();
    let db = emu.database().to_string();
    emu.on_statement(pattern, nth, move |_| {
        let mut c = crate::support::admin_client(&url, &db);
        let _ = c.batch_execute(sql);
    });
}

/// `apply` on [`one_create_setup`]'s cluster takes the lease and creates
/// its replica.
fn took_the_lease_and_acted(emu: &Emulator) {
    let run = clusterctl(emu, &["apply"]).ok();
    assert!(!run.stdout.contains("holds the lease"), "{}", run.all());
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_25cc", "25cc")]),
        "{}",
        run.all()
    );
}

/// The holder gives the lease back while we read it: we take it.
#[test]
fn a_lease_released_as_it_is_read_is_taken() {
    let emu = one_create_setup();
    emu.hold_lease("other-host:4242:run-x", 600);
    before_statement(
        &emu,
        "SELECT holder, expires_at, ",
        "UPDATE clusterctl_lease SET holder = '', \
         expires_at = TIMESTAMPTZ '1970-01-01 00:00:00+00' WHERE name = 'controller'",
    );
    took_the_lease_and_acted(&emu);
}

/// Another controller takes the lease and gives it back between our read
/// and our take: the take, sent against the read, changes nothing; the row
/// is read again and taken.
#[test]
fn a_lease_taken_and_given_back_between_the_read_and_the_take_is_read_again() {
    let emu = one_create_setup();
    let take = "AS other WHERE other.name";
    before_statement(
        &emu,
        take,
        "UPDATE clusterctl_lease SET acquired_at = now() + INTERVAL '1 second' \
         WHERE name = 'controller'",
    );
    let before = emu.sql_log().len();
    took_the_lease_and_acted(&emu);
    let log = emu.sql_log();
    let takes = log[before..].iter().filter(|s| s.contains(take)).count();
    assert_eq!(
        takes, 2,
        "the take sent against the first read, then the second"
    );
}

/// A take of the lease that reaches the server late (a silent network
/// holds it): its attempt gave up at its deadline (the cancel request it
/// sent found nothing to cancel, the statement not having arrived), a
/// later attempt took the lease, the run acted and gave it back, and only
/// then does the first take run. It finds a later take than the one it was sent against and
/// changes nothing: the lease stays free. It held the lease again, for
/// its TTL, for a run that was over.
#[test]
fn a_take_of_the_lease_that_runs_after_the_run_gave_it_back_changes_nothing() {
    let emu = one_create_setup();
    let take = "AS other WHERE other.name";
    emu.fault(
        take,
        1,
        crate::support::Action::Late(Duration::from_secs(4)),
    );
    let started = Instant::now();
    let before = emu.sql_log().len();
    let run = clusterctl(&emu, &["apply", "--statement-timeout", "1s"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_25cc", "25cc")]),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("taking the lease"), "{}", run.all());
    let log = emu.sql_log();
    let takes = log[before..].iter().filter(|s| s.contains(take)).count();
    assert_eq!(takes, 2, "the first take, given up, and the second");
    // The first take reaches the server 4 s after it was sent.
    std::thread::sleep(Duration::from_secs(6).saturating_sub(started.elapsed()));
    let lease = emu.query_strings(
        "SELECT holder, (expires_at < now())::text FROM clusterctl_lease WHERE name = 'controller'",
    );
    assert_eq!(
        lease,
        [[Some(String::new()), Some("true".into())]],
        "{}",
        run.all()
    );
}

/// Runs `clusterctl ARGS`, the first statement matching `pattern` from
/// now held `late` by a silent network, and SIGKILLs the run once that
/// statement was sent (before its attempt's deadline): what the run said,
/// and about when the statement was sent. It was sent once.
fn killed_once_sent(
    emu: &Emulator,
    args: &[&str],
    pattern: &str,
    late: Duration,
) -> (Run, Instant) {
    emu.fault(pattern, 1, crate::support::Action::Late(late));
    let before = emu.sql_log().len();
    let mut child = spawn(emu, args);
    let started = Instant::now();
    while !emu.sql_log()[before..].iter().any(|s| s.contains(pattern)) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{pattern} was never sent"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let run = finish(child);
    let sent = Instant::now();
    let times = emu.sql_log()[before..]
        .iter()
        .filter(|s| s.contains(pattern))
        .count();
    assert_eq!(times, 1, "{}", run.all());
    (run, sent)
}

/// A take of the lease on its way (a silent network holds it) when its run
/// is killed: nothing takes the row after the run's read, so only the
/// server's clock can tell the take is late. It reaches the server after
/// its attempt was over (the read's `now()` plus the statement timeout)
/// and changes nothing. It held the lease, for its TTL, for a run that was
/// gone (another host waits all of it).
#[test]
fn a_take_of_the_lease_that_arrives_after_its_run_was_killed_changes_nothing() {
    let emu = one_create_setup();
    // Killed while its take is held, before its attempt's deadline.
    let take = "AS other WHERE other.name";
    let late = Duration::from_secs(5);
    let (_, sent) = killed_once_sent(&emu, &["apply", "--statement-timeout", "3s"], take, late);
    // The take reaches the server 5 s after it was sent, 2 s after its
    // attempt was over.
    std::thread::sleep(Duration::from_secs(7).saturating_sub(sent.elapsed()));
    let (holder, left) = lease_row(&emu);
    assert!(
        holder.is_empty() || left <= 0.0,
        "held by {holder} for {left} s"
    );
    assert!(emu.replicas("c").is_empty());
    // The next run takes it at once and acts.
    took_the_lease_and_acted(&emu);
}

/// A renewal of the lease on its way (a silent network holds it) when its
/// run is killed, arriving after the lease expired: it extends nothing.
/// It held the lease again, for a run that was gone, for another TTL.
#[test]
fn a_renewal_that_arrives_after_its_lease_expired_changes_nothing() {
    let emu = one_create_setup();
    // The run sits in its DDL while its heartbeat renews the lease (10 s,
    // the least there is) every 2.5 s.
    emu.delay_statements("CREATE CLUSTER REPLICA", Duration::from_secs(10));
    let renewal = "SET expires_at = now() +";
    let late = Duration::from_secs(10);
    let (run, sent) = killed_once_sent(&emu, &["apply", "--lease-ttl", "10s"], renewal, late);
    // The lease ends 10 s after its take; the renewal arrives 10 s after
    // it was sent, 2.5 s after the take.
    std::thread::sleep(Duration::from_secs(11).saturating_sub(sent.elapsed()));
    assert_eq!(emu.logged(renewal).len(), 1, "{}", run.all());
    let (holder, left) = lease_row(&emu);
    assert!(!holder.is_empty(), "the killed run's holder stays");
    assert!(left <= 0.0, "held by {holder} for {left} s more");
}

/// Without our tables, Materialize names the missing relation in its own
/// words (`unknown catalog item '…'`, which the emulator answers): `history`
/// and `wipe-state` still say what is missing and how to create it.
#[test]
fn history_and_wipe_state_without_tables_say_how_to_create_them() {
    let fresh = Emulator::start();
    // In the words every command uses for missing tables (`history` said
    // "the audit table … does not exist" of its own), wipe-state adding
    // that there is nothing to wipe.
    for (args, own) in [
        (
            &["history"][..],
            "or have an admin run the SQL of `clusterctl init --print`",
        ),
        (&["wipe-state"], "there is no state to wipe"),
    ] {
        let run = clusterctl(&fresh, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        // One JSON code for it too (wipe-state's was `not_found`).
        let mut json = args.to_vec();
        json.extend(["-o", "json"]);
        let doc = clusterctl(&fresh, &json).json();
        assert_eq!(doc["error"]["code"], "database", "{args:?}: {doc:#}");
        let says = |t: &str| run.stderr.contains(t);
        assert!(
            run.stderr
                .starts_with("error: clusterctl's tables are missing (")
                && says(" does not exist)")
                && says("clusterctl init")
                && says(own),
            "{args:?}: {}",
            run.all()
        );
    }
}

#[test]
fn unlock_never_creates_tables_and_leaves_a_free_lease_alone() {
    let fresh = Emulator::start();
    let status = clusterctl(&fresh, &["status"]);
    let run = clusterctl(&fresh, &["unlock", "--force"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.code, status.code, "as status: {}", status.all());
    let missing = "error: clusterctl's tables are missing (";
    assert!(status.stderr.starts_with(missing), "{}", status.all());
    assert!(run.stderr.starts_with(missing), "{}", run.all());
    let tables = fresh.query_one(
        "SELECT count(*)::text FROM pg_tables \
         WHERE tablename LIKE 'clusterctl%' OR tablename LIKE 'mz_cluster_strateg%'",
    );
    assert_eq!(tables.as_deref(), Some("0"), "no table created");

    init_tables(&fresh);
    let run = clusterctl(&fresh, &["unlock", "--force"]).ok();
    assert_eq!(run.stdout, "The lease was free; nothing to break.\n");
    // Expired by the database's clock is free too.
    fresh.hold_lease("other-host:4242:run-x", -5);
    let run = clusterctl(&fresh, &["unlock", "--force"]).ok();
    assert_eq!(run.stdout, "The lease was free; nothing to break.\n");
    let audited = fresh.query_one("SELECT count(*)::text FROM mz_cluster_strategy_actions");
    assert_eq!(
        audited.as_deref(),
        Some("0"),
        "nothing broken, nothing audited"
    );
}

#[test]
fn concurrent_applies_one_actor_per_round_no_duplicates() {
    let emu = Emulator::start();
    for name in ["a", "b", "c"] {
        emu.create_hydrated_cluster(name, "r_25cc", "25cc");
    }
    init_tables(&emu);
    for name in ["a", "b", "c"] {
        strategy(&emu, name, "target_size", json!({"target_size": "50cc"}));
    }
    let round = |emu: &Emulator| -> Vec<Run> {
        let children: Vec<_> = (0..6)
            .map(|_| {
                let mut cmd = command();
                cmd.arg("apply")
                    .env("DATABASE_URL", emu.url())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                cmd.spawn().expect("spawn clusterctl")
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().expect("wait");
                Run {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }
            })
            .collect()
    };

    // Round 1: every cluster gets its 50cc replica, exactly once.
    let runs = round(&emu);
    for r in &runs {
        assert_eq!(r.code, 0, "{}", r.all());
    }
    let acted: Vec<&Run> = runs
        .iter()
        .filter(|r| r.stdout.contains("Applied "))
        .collect();
    assert_eq!(
        acted.len(),
        1,
        "one actor:\n{}",
        runs.iter()
            .map(Run::all)
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
    assert_eq!(actors(&emu).len(), 1);
    for name in ["a", "b", "c"] {
        assert_eq!(
            emu.replicas(name),
            pairs(&[("r_25cc", "25cc"), ("r_50cc", "50cc")])
        );
    }

    // Round 2: hydrated → the old replicas go, exactly once.
    for name in ["a", "b", "c"] {
        emu.set_hydrated(name, "r_50cc", true);
    }
    let runs = round(&emu);
    assert!(runs.iter().all(|r| r.code == 0));
    assert_eq!(
        runs.iter()
            .filter(|r| r.stdout.contains("Applied "))
            .count(),
        1
    );
    assert_eq!(actors(&emu).len(), 2, "one new actor in round 2");
    for name in ["a", "b", "c"] {
        assert_eq!(emu.replicas(name), pairs(&[("r_50cc", "50cc")]));
        assert_eq!(
            audit(&emu, name).len(),
            2,
            "one create and one drop, never repeated"
        );
    }
}

/// Blue/green: `blue` is to lose its old replica, `green` (no strategies)
/// runs one of the same name; the two swap names after the snapshot.
#[test]
fn plan_guard_skips_a_cluster_renamed_or_swapped_since_the_snapshot() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("blue", "r1", "25cc");
    emu.add_replica("blue", "r_50cc", "50cc");
    emu.set_hydrated("blue", "r_50cc", true);
    let green = emu.create_hydrated_cluster("green", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "blue", "target_size", json!({"target_size": "50cc"}));
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(plan.stdout.contains("- drop replica r1"), "{}", plan.all());
    // The swap lands between the snapshot and the first statement (at the
    // guard's read of the replicas, which are the same by id): DROP
    // CLUSTER REPLICA "blue"."r1" would take green's only replica.
    before_statement(
        &emu,
        "WHERE r.cluster_id = $1",
        "CALL mz_emulator.swap_clusters('blue', 'green')",
    );
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout
            .contains("was renamed, swapped with another or dropped"),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "no DDL by a name that moved");
    assert_eq!(emu.cluster_id("blue"), green, "the swap took place");
    assert_eq!(emu.replicas("blue"), pairs(&[("r1", "25cc")]));
    // The next run plans by the new name: the cluster with the strategy is
    // green now, and only its r1 goes.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("DROP CLUSTER REPLICA \"green\".\"r1\""),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("green"), pairs(&[("r_50cc", "50cc")]));
    assert_eq!(emu.replicas("blue"), pairs(&[("r1", "25cc")]));
}

#[test]
fn plan_guard_skips_a_cluster_changed_since_the_snapshot() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_replica("c", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    // Someone adds a replica by hand between our snapshot and our DDL.
    before_statement(
        &emu,
        "WHERE r.cluster_id = $1",
        "INSERT INTO mz_catalog.mz_cluster_replicas \
         SELECT 'u999', 'by_hand', id, '100cc', NULL, 'u1', false FROM mz_catalog.mz_clusters WHERE name = 'c'",
    );
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("changed since the plan was made"),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "no DDL on stale data");
    // The trail keeps the attempt, closed as not attempted: an UPDATE, as
    // every audit write of apply (it has no DELETE there).
    let trail = audit(&emu, "c");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(!trail[0].1, "{trail:?}");
    assert!(
        trail[0]
            .2
            .as_deref()
            .is_some_and(|e| e.starts_with("not attempted")),
        "{trail:?}"
    );
    let deletes = emu
        .logged("DELETE FROM \"mz_cluster_strategy_actions\"")
        .len();
    assert_eq!(deletes, 0);
    assert!(
        emu.sql_log()
            .iter()
            .any(|q| q.contains("UPDATE \"mz_cluster_strategy_actions\"")),
        "the log sees our statements"
    );
    // `history` says skipped, as apply did (it said FAILED, and `--failed`
    // listed it: a run that exited 0 fired failure alerts).
    let history = clusterctl(&emu, &["history", "-o", "json"]).json();
    assert_eq!(
        history["result"]["entries"][0]["result"], "skipped",
        "{history:#}"
    );
    let failed = clusterctl(&emu, &["history", "--failed", "-o", "json"]).json();
    assert_eq!(failed["result"]["entries"], json!([]), "{failed:#}");
    // And `status`, by the same rule (it said "(failed)").
    let status = clusterctl(&emu, &["status", "-o", "json"]).json();
    let last = &status["result"]["clusters"][0]["last_action"];
    assert_eq!(last["result"], "skipped", "{status:#}");
    let text = clusterctl(&emu, &["status", "-o", "wide"]).ok().stdout;
    assert!(
        text.contains("(skipped)") && !text.contains("(failed)"),
        "{text}"
    );
    // The next run re-plans with the new replica in view.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("r_50cc"), "{}", run.all());
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("by_hand", "100cc"), ("r_25cc", "25cc"), ("r_50cc", "50cc")])
    );
}

/// Cluster c serves on r_25cc and r_50cc, both hydrated; its
/// `target_size` 50cc retires r_25cc.
fn retiring_r_25cc(emu: &Emulator) {
    emu.create_cluster("c");
    emu.add_index("c");
    emu.add_replica("c", "r_25cc", "25cc");
    emu.add_replica("c", "r_50cc", "50cc");
    emu.set_hydrated("c", "r_25cc", true);
    emu.set_hydrated("c", "r_50cc", true);
    init_tables(emu);
    strategy(emu, "c", "target_size", json!({"target_size": "50cc"}));
}

#[test]
fn plan_guard_skips_a_drop_whose_replacement_stopped_serving_since_the_snapshot() {
    // The plan retires r_25cc because r_50cc is hydrated; before the DROP
    // goes out (another cluster's slow statement held the run), r_50cc is
    // OOM-killed. The guard read names and sizes only, so the last
    // serving replica went. Once r_50cc is restarted, hydrated again and
    // has served 10 minutes since the kill, a run retires r_25cc: the
    // guard held the drop back, not for ever.
    let emu = Emulator::start();
    emu.install_clock();
    retiring_r_25cc(&emu);
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        plan.stdout.contains("drop replica r_25cc"),
        "{}",
        plan.all()
    );
    let rid = emu.replica_id("c", "r_50cc");
    let url = crate::support::pg_url();
    let db = emu.database().to_string();
    emu.on_statement("WHERE r.cluster_id = $1", 1, move |_| {
        let mut c = crate::support::admin_client(&url, &db);
        let _ = c.execute("SELECT mz_emulator.oom_kill($1, now())", &[&rid]);
    });
    emu.reset_stats();
    let killed = Instant::now();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("changed since the plan was made"),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "{}", run.all());
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_25cc", "25cc"), ("r_50cc", "50cc")])
    );
    // Killed or re-hydrating: the plan waits for it.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("waiting: hydrate r_50cc") && emu.stats().ddl == 0,
        "{}",
        run.all()
    );
    // Restarted after 1 s, hydrated 2 s later (the time it took before):
    // killed lately, it retires nothing yet.
    std::thread::sleep(Duration::from_millis(3300).saturating_sub(killed.elapsed()));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_25cc", "25cc"), ("r_50cc", "50cc")]),
        "{}",
        run.all()
    );
    emu.advance_clock(600);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]));
}

#[test]
fn plan_guard_skips_a_drop_whose_replica_was_renamed_since_the_snapshot() {
    // The plan retires r_25cc; an operator renames it before the guard's
    // read. Sent as planned, the DROP would fail (`CLUSTER c has no CLUSTER
    // REPLICA named "r_25cc"`): the guard skips the round instead, and the
    // next run plans by the new name.
    let emu = Emulator::start();
    retiring_r_25cc(&emu);
    let url = emu.url();
    emu.on_statement("WHERE r.cluster_id = $1", 1, move |_| {
        postgres::Client::connect(&url, postgres::NoTls)
            .expect("connect")
            .batch_execute(r#"ALTER CLUSTER REPLICA "c"."r_25cc" RENAME TO "keep""#)
            .expect("renamed by hand");
    });
    emu.clear_sql_log();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("changed since the plan was made"),
        "{}",
        run.all()
    );
    assert_eq!(emu.logged("DROP CLUSTER REPLICA"), Vec::<String>::new());
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("keep", "25cc"), ("r_50cc", "50cc")])
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."keep""#),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]));
}

/// A suspension whose first DROP fails dropped nothing: the state written
/// with its intent goes back (it said "suspended" of a cluster that still
/// ran both replicas; the next run dropped them under a false reason, and a
/// wake made a replica that never existed: an outside check). The next run
/// suspends it afresh, remembering what runs then.
#[test]
fn a_suspension_whose_first_drop_fails_keeps_the_state_before_it() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    for r in ["r1", "r2"] {
        emu.add_replica("c", r, "25cc");
        emu.set_hydrated("c", r, true);
    }
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    let suspended_at = || {
        emu.query_strings(
            "SELECT coalesce(payload->'idle_suspend'->>'suspended_at', '') \
             FROM mz_cluster_strategy_state",
        )
    };
    emu.fail_ddl(1, "XX000", "simulated failure");
    let run = clusterctl(&emu, &["apply"]).code(3);
    assert!(run.stdout.contains("simulated failure"), "{}", run.all());
    assert_eq!(emu.replicas("c").len(), 2, "{}", run.all());
    let after = suspended_at();
    assert!(
        after.is_empty() || after == [vec![Some(String::new())]],
        "{after:?}\n{}",
        run.all()
    );
    // Planned again as a suspension of an idle cluster, not as the drops
    // of one suspended since.
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        plan.stdout.contains("idle for") && !plan.stdout.contains("suspended 0s ago"),
        "{}",
        plan.all()
    );
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty());
    let remembered = emu.query_strings(
        "SELECT r->>'name' FROM mz_cluster_strategy_state, \
         jsonb_array_elements(payload->'idle_suspend'->'suspended') AS r ORDER BY 1",
    );
    assert_eq!(
        remembered,
        [vec![Some("r1".to_string())], vec![Some("r2".to_string())]]
    );
}

#[test]
fn a_suspension_waits_for_the_statement_log_and_skips_a_cluster_queried_meanwhile() {
    // Materialize shows a statement in its log seconds after it began
    // (§8.6). A statement that began just before the snapshot was not in
    // it, and the cluster, idle for two hours until then, was suspended
    // under its user's feet.
    let idle_for_two_hours = || {
        let emu = Emulator::builder()
            .statement_sample_rate(1.0, 1.0)
            .statement_log_flush_delay(Duration::from_secs(5))
            .start();
        emu.create_cluster("c");
        emu.add_replica("c", "r1", "25cc");
        emu.add_activity("c", 2 * 3600, true);
        init_tables(&emu);
        strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
        emu
    };
    let emu = idle_for_two_hours();
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(plan.stdout.contains("drop replica r1"), "{}", plan.all());
    // A user's statement now: the log shows it in 5 s.
    emu.add_activity("c", 0, false);
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("a statement began on the cluster"),
        "{}",
        run.all()
    );
    assert_eq!(emu.stats().ddl, 0, "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
    // The suspension's state went with its intent: what was stored goes
    // back (it said "suspended" of a cluster nothing was dropped from, and
    // the next plan's reason "suspended 31m ago").
    let suspended = emu.query_strings(
        "SELECT coalesce(payload->'idle_suspend'->>'suspended_at', '') \
         FROM mz_cluster_strategy_state",
    );
    assert_eq!(suspended, [vec![Some(String::new())]], "{}", run.all());
    let trail = audit(&emu, "c");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(
        trail[0]
            .2
            .as_deref()
            .is_some_and(|e| e.starts_with("not attempted: a statement began")),
        "{trail:?}"
    );
    // The next run sees the statement in flight: nothing to do.
    let again = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "25cc")]),
        "{}",
        again.all()
    );
    // Without the new statement, the suspension goes out (after the wait).
    let quiet = idle_for_two_hours();
    let run = clusterctl(&quiet, &["apply"]).ok();
    assert_eq!(quiet.replicas("c"), pairs(&[]), "{}", run.all());
}

fn one_create_setup() -> Emulator {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    emu
}

/// The audit rows of `c` still open: `(executed IS NULL, deadline_s)`.
fn open_rows(emu: &Emulator) -> Vec<Option<String>> {
    emu.query_strings(
        "SELECT decision_ctx->>'deadline_s' FROM mz_cluster_strategy_actions \
         WHERE executed IS NULL AND error_message IS NULL",
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect()
}

#[test]
fn a_ddl_whose_answer_never_came_is_left_for_the_catalog_to_settle() {
    // The CREATE runs on the server, its answer is lost, and every retry's
    // connection is cut before it: the client cannot know the outcome.
    let emu = one_create_setup();
    emu.cut_after_statement("CREATE CLUSTER REPLICA", 1);
    for nth in 2..=3 {
        emu.cut_before_statement("CREATE CLUSTER REPLICA", nth);
    }
    let run = clusterctl(&emu, &["apply", "--max-retries", "2"]).code(3);
    assert!(run.stdout.contains("outcome UNKNOWN"), "{}", run.all());
    assert!(
        run.stdout.contains("1 with an unknown outcome"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
    // Not recorded as failed: the row stays open, and says how long after
    // it the last retry's statement could still run.
    let open = open_rows(&emu);
    assert_eq!(open.len(), 1, "{open:?} {:?}", audit(&emu, "c"));
    let deadline: f64 = open[0]
        .as_deref()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    assert!(deadline > 30.0, "the retries' time is added: {deadline}");
    // The next run finds the replica and settles the row as executed.
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(run.stdout.contains("No changes"), "{}", run.all());
    let trail = audit(&emu, "c");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(trail[0].1, "{trail:?}");
    assert!(
        trail[0]
            .2
            .as_deref()
            .unwrap_or_default()
            .contains("found it applied"),
        "{trail:?}"
    );

    // Never reached the server, and no answer: the same; once the deadline
    // (1 s and the retries' time) is over, the next run settles it as not
    // applied and creates the replica.
    let emu = one_create_setup();
    for nth in 1..=2 {
        emu.cut_before_statement("CREATE CLUSTER REPLICA", nth);
    }
    let args = ["apply", "--max-retries", "1", "--statement-timeout", "1s"];
    clusterctl(&emu, &args).code(3);
    assert!(emu.replicas("c").is_empty());
    assert_eq!(open_rows(&emu).len(), 1);
    let status = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        status["result"]["clusters"][0]["condition"], "InDoubt",
        "{status:#}"
    );
    std::thread::sleep(Duration::from_secs(4));
    clusterctl(&emu, &args).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
    let trail = audit(&emu, "c");
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert!(!trail[0].1, "settled as not applied: {trail:?}");
    assert!(trail[1].1, "{trail:?}");
}

#[test]
fn transient_failures_are_retried_and_never_repeat_work() {
    // Connection dropped before the DDL reached the server.
    let emu = one_create_setup();
    emu.drop_connection_before_ddl(1);
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(
        run.stderr.contains("retrying"),
        "each retry is logged: {}",
        run.all()
    );
    assert!(
        !run.stderr.contains("running DDL: running DDL"),
        "the context is said once: {}",
        run.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
    assert_eq!(
        audit(&emu, "c"),
        vec![(
            r#"CREATE CLUSTER REPLICA "c"."r_25cc" (SIZE = '25cc')"#.to_string(),
            true,
            None
        )]
    );

    // Connection dropped after the DDL took effect: the retry finds the
    // replica there and counts it as done, once.
    let emu = one_create_setup();
    emu.drop_connection_after_ddl(1);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("Applied 1 of 1 action"),
        "{}",
        run.all()
    );
    // Our line says what is retried; the pool's own line before it is
    // not shown without -vv.
    assert!(!run.stderr.contains("Connection error"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
    let trail = audit(&emu, "c");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(trail[0].1, "{trail:?}");
    // Said: a killed run's CREATE that landed late finds the same, and the
    // row read as this statement's own work.
    let history = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let note = history["result"]["entries"][0]["note"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        note.starts_with("its retry found it already done"),
        "{history:#}"
    );

    // "Try again" errors from the server are transient too.
    let emu = one_create_setup();
    emu.fail_ddl(
        1,
        "40001",
        "another operation is in progress, please try again",
    );
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
}

#[test]
fn permanent_errors_are_not_retried() {
    let emu = one_create_setup();
    emu.fail_ddl(1, "XX000", "unknown cluster replica size 25cc");
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert_eq!(emu.stats().ddl, 1, "sent once, not retried");
    assert!(!run.stderr.contains("retrying"), "{}", run.all());
}

#[test]
fn a_hung_server_never_hangs_the_run() {
    let emu = one_create_setup();
    emu.set_delay(Duration::from_secs(3));
    let started = Instant::now();
    let run = clusterctl(
        &emu,
        &["dry-run", "--statement-timeout", "1s", "--max-retries", "1"],
    );
    let took = started.elapsed();
    emu.set_delay(Duration::ZERO);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("no answer within 1s"), "{}", run.stderr);
    assert!(took < Duration::from_secs(15), "bounded: took {took:?}");
}

/// A scenario with several DDL statements and state writes in one run.
fn crash_setup() -> Emulator {
    let emu = Emulator::start();
    emu.create_cluster("s");
    emu.add_index("s");
    emu.create_cluster("t");
    emu.add_index("t");
    emu.add_replica("t", "r_25cc", "25cc");
    emu.add_replica("t", "r_50cc", "50cc");
    emu.set_hydrated("t", "r_25cc", true);
    emu.set_hydrated("t", "r_50cc", true);
    init_tables(&emu);
    strategy(
        &emu,
        "s",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    strategy(&emu, "t", "target_size", json!({"target_size": "50cc"}));
    emu
}

fn end_state(emu: &Emulator) -> Vec<Vec<(String, String)>> {
    vec![emu.replicas("s"), emu.replicas("t")]
}

/// Applies until nothing is left to do (at most `n` runs).
fn converge(emu: &Emulator, n: usize) {
    for _ in 0..n {
        let run = clusterctl(emu, &["apply"]);
        assert!(run.code == 0 || run.code == 3, "{}", run.all());
        if run.stdout.contains("No changes") {
            return;
        }
    }
    panic!("did not converge in {n} runs");
}

/// Starts `apply` and kills it with SIGKILL when the proxy sees the `nth`
/// statement containing `pattern` (the statement is still forwarded).
fn apply_killed_at(emu: &Emulator, pattern: &str, nth: u32) {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    // Armed before the process starts, so it cannot run past the point.
    let pid = Arc::new(AtomicU32::new(0));
    let target = Arc::clone(&pid);
    emu.on_statement(pattern, nth, move |_| {
        let mut p = target.load(Ordering::SeqCst);
        while p == 0 {
            std::thread::sleep(Duration::from_millis(1));
            p = target.load(Ordering::SeqCst);
        }
        let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
    });
    // A short statement deadline: an intent whose DDL never came is left
    // alone by the next runs until that deadline (plus a second) is over.
    let mut cmd = command();
    cmd.args(["apply", "--statement-timeout", "1s"])
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn clusterctl");
    pid.store(child.id(), Ordering::SeqCst);
    let status = child.wait().expect("wait");
    assert!(
        status.code().is_none(),
        "the run was killed at {pattern} #{nth} (status {status})"
    );
    // The statement the dead process had already sent still reaches the
    // server (the proxy forwards it after the hook), and an intent written
    // just before the kill may still have had its DDL under way: long
    // before the next cron run in real life; give it that moment here.
    std::thread::sleep(Duration::from_millis(2200));
}

#[test]
fn kill_9_at_any_point_converges_without_duplicates() {
    let reference = crash_setup();
    converge(&reference, 4);
    let want = end_state(&reference);
    let ddl_count = audit(&reference, "s").len() + audit(&reference, "t").len();
    assert!(
        ddl_count >= 4,
        "the scenario exercises several DDL statements"
    );

    // Before each intent row, at each DDL (sent, outcome unknown), at the
    // outcomes' update (one for the run: its outcomes go together), and
    // between the two state writes.
    let mut points: Vec<(&str, u32)> = vec![("UPDATE \"mz_cluster_strategy_actions\"", 1)];
    for k in 1..=ddl_count as u32 {
        points.push(("INSERT INTO \"mz_cluster_strategy_actions\"", k));
        points.push(("CLUSTER REPLICA", k));
    }
    points.push(("INSERT INTO \"mz_cluster_strategy_state\"", 1));
    points.push(("DELETE FROM \"mz_cluster_strategy_state\"", 1));

    for (pattern, nth) in points {
        let emu = crash_setup();
        apply_killed_at(&emu, pattern, nth);
        converge(&emu, 4);
        assert_eq!(end_state(&emu), want, "killed at {pattern} #{nth}");
        let unsettled = emu.query_one(
            "SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NULL AND error_message IS NULL",
        );
        assert_eq!(
            unsettled.as_deref(),
            Some("0"),
            "killed at {pattern} #{nth}: every attempt settled: {:?}",
            emu.query_strings(
                "SELECT action_id, cluster_id, action_sql, executed::text, error_message, decision_ctx->>'kind' \
                 FROM mz_cluster_strategy_actions ORDER BY created_at"
            )
        );
        let states = emu.query_one(
            "SELECT count(*) - count(DISTINCT cluster_id) FROM mz_cluster_strategy_state",
        );
        assert_eq!(
            states.as_deref(),
            Some("0"),
            "one state row per cluster after convergence"
        );
    }
}

#[test]
fn limits_cut_back_creates_with_a_reason() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "shrink_to_fit",
        json!({"max_replica_size": "200cc"}),
    );
    strategy(
        &emu,
        "c",
        "limits",
        json!({"max_replicas": 2, "max_credits_per_hour": 1.5}),
    );
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c_25cc", "25cc"), ("c_50cc", "50cc")])
    );
    assert!(
        run.stdout.contains("create c_200cc (200cc)") && run.stdout.contains("would exceed"),
        "{}",
        run.all()
    );
    // Held back by a limit is not converged: status and describe say what
    // waits and why (they said Converged of a target never reached).
    emu.create_hydrated_cluster("h", "r1", "25cc");
    strategy(&emu, "h", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "h", "limits", json!({"max_replicas": 1}));
    let status = clusterctl(&emu, &["status", "--cluster", "h", "-o", "json"]).json();
    let h = &status["result"]["clusters"][0];
    assert_eq!(h["condition"], "Limited", "{status:#}");
    let reason = h["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("create r_50cc (50cc)") && reason.contains("exceed max_replicas 1"),
        "{reason}"
    );
    let describe = clusterctl(&emu, &["describe", "h"]).ok();
    assert!(
        describe.stdout.contains("would exceed"),
        "{}",
        describe.all()
    );
    assert!(!describe.stdout.contains("Converged"), "{}", describe.all());
}

#[test]
fn max_actions_bounds_a_run() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    let run = clusterctl(&emu, &["apply", "--max-actions", "2"]).ok();
    assert!(
        run.stdout.contains("--max-actions reached"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c").len(), 2);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c").len(), 3, "the next run continues");
}

#[test]
fn a_bounded_run_adds_capacity_before_it_takes_any_away() {
    // `a` is idle (its suspension drops r1), `b` wants a larger replica.
    // With one action, the plan's order spent it on `a`'s drop.
    let emu = Emulator::builder().statement_sample_rate(1.0, 1.0).start();
    emu.create_cluster("a");
    emu.add_replica("a", "r1", "25cc");
    emu.add_activity("a", 2 * 3600, true);
    emu.create_cluster("b");
    emu.add_index("b");
    emu.add_replica("b", "r_25cc", "25cc");
    emu.set_hydrated("b", "r_25cc", true);
    emu.add_activity("b", 60, true);
    init_tables(&emu);
    strategy(&emu, "a", "idle_suspend", json!({"idle_after_s": 3600}));
    strategy(&emu, "b", "target_size", json!({"target_size": "50cc"}));
    let run = clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert_eq!(
        emu.replicas("b"),
        pairs(&[("r_25cc", "25cc"), ("r_50cc", "50cc")]),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("a"), pairs(&[("r1", "25cc")]), "{}", run.all());
    assert!(
        run.stdout.contains("--max-actions reached"),
        "{}",
        run.all()
    );
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("a").is_empty(), "the next run continues");
}

/// With a budget, users waiting on a cluster nothing serves come first:
/// a wake with statements waiting came after hundreds of resizes of
/// serving clusters listed before it (130 runs of `--max-actions 3`: an
/// outside check). `b`, a resize of a serving cluster, is listed first.
#[test]
fn a_bounded_run_serves_waiting_users_first() {
    let emu = Emulator::builder()
        .statement_sample_rate(1.0, 1.0)
        .statement_log_flush_delay(Duration::ZERO)
        .start();
    emu.create_hydrated_cluster("b", "r_25cc", "25cc");
    emu.create_cluster("w");
    emu.add_activity("w", 0, false);
    init_tables(&emu);
    strategy(&emu, "b", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "w", "target_size", json!({"target_size": "25cc"}));
    let listed = planned_clusters(&emu);
    assert_eq!(listed, ["b", "w"]);
    let run = clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert_eq!(
        emu.replicas("w"),
        pairs(&[("r_25cc", "25cc")]),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.replicas("b"),
        pairs(&[("r_25cc", "25cc")]),
        "{}",
        run.all()
    );
}

/// The clusters `dry-run` plans, in its order.
fn planned_clusters(emu: &Emulator) -> Vec<String> {
    let plan = clusterctl(emu, &["dry-run", "-o", "json"]).ok().json();
    plan["result"]["plan"]["clusters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["cluster"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The catalog's order is by id as a number: `u2` before `u10` (as text,
/// `u10` and `u11` came between `u1` and `u2` in every plan, and so in
/// the order actions ran and the credit limit admitted them: an outside
/// check).
#[test]
fn clusters_are_planned_in_the_order_they_were_made() {
    let emu = Emulator::start();
    let names: Vec<String> = (1..=11).map(|i| format!("c{i:02}")).collect();
    for n in &names {
        emu.create_cluster(n);
    }
    init_tables(&emu);
    for n in &names {
        strategy(&emu, n, "target_size", json!({"target_size": "25cc"}));
    }
    let listed = planned_clusters(&emu);
    assert_eq!(listed, names);
    let ids: Vec<String> = names.iter().map(|n| emu.cluster_id(n)).collect();
    assert!(ids.iter().any(|id| id.len() > 2), "ids past u9: {ids:?}");
}

#[test]
fn bad_input_changes_nothing() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_replica("c", "r1", "25cc");
    init_tables(&emu);
    let id = emu.cluster_id("c");
    for config in [
        "null",
        "[1, 2]",
        "\"idle\"",
        "{\"idle_after_s\": 0}",
        "{\"idle_after_s\": -60}",
        "{\"idle_after_s\": 1e400}",
        "{\"idle_after_s\": 60, \"cooldown_s\": \"soon\"}",
    ] {
        emu.sql("DELETE FROM mz_cluster_strategies");
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategies VALUES ({}, 'idle_suspend', {}::jsonb, now())",
            lit(&id),
            lit(config)
        ));
        emu.add_activity("c", 7200, true);
        let run = clusterctl(&emu, &["apply"]);
        assert_eq!(run.code, 3, "{config}: {}", run.all());
        assert!(
            run.stderr.contains("cluster c ("),
            "{config}: {}",
            run.stderr
        );
        assert!(!run.all().contains("panicked"), "{}", run.all());
        if config.contains("1e400") {
            // The key that cannot be read is named, not only the config.
            assert!(
                run.stderr.contains(
                    "the stored config cannot be read: key 'idle_after_s': number out of range"
                ),
                "{}",
                run.stderr
            );
            let check = clusterctl(&emu, &["check"]);
            assert_eq!(check.code, 3, "{}", check.all());
            assert!(
                check.all().contains("cannot be read") && !check.all().contains("got "),
                "{}",
                check.all()
            );
            // Shown as what it is, never as a made-up string config.
            let ls = clusterctl(&emu, &["strategy", "ls", "-o", "json"])
                .ok()
                .json();
            let listed = &ls["result"]["strategies"][0];
            assert_eq!(listed["config"], serde_json::Value::Null, "{ls}");
            assert!(
                listed["config_unreadable"]
                    .as_str()
                    .is_some_and(|w| w.starts_with("key 'idle_after_s': number out of range")),
                "{ls}"
            );
            let ls = clusterctl(&emu, &["strategy", "ls"]).ok().stdout;
            assert!(ls.contains("(cannot be read: key 'idle_after_s'"), "{ls}");
        }
        // Set over by hand: the audit row says what was replaced (it said
        // "none", as if there had been no row), a config that is null too.
        if ["null", "[1, 2]"].contains(&config) || config.contains("1e400") {
            let set = [
                "strategy",
                "set",
                "c",
                "idle_suspend",
                "--idle-after-s",
                "600",
            ];
            clusterctl(&emu, &set).ok();
            let history = clusterctl(&emu, &["history", "--limit", "1", "-o", "json"])
                .ok()
                .json();
            let before = &history["result"]["entries"][0]["change"]["before"];
            // The command line to run again: the config set, as --config.
            assert_eq!(
                history["result"]["entries"][0]["sql"],
                r#"-- clusterctl strategy set c idle_suspend --config '{"idle_after_s":600}'"#,
                "{history}"
            );
            match config {
                "null" => assert_eq!(before, &json!("(null)"), "{history}"),
                "[1, 2]" => assert_eq!(before, &json!([1, 2]), "{history}"),
                _ => assert!(
                    before.as_str().is_some_and(|b| b
                        .starts_with("(cannot be read: key 'idle_after_s': number out of range")),
                    "{history}"
                ),
            }
            let text = clusterctl(&emu, &["history", "--limit", "1"]).ok().stdout;
            assert!(!text.contains("none →"), "{text}");
        }
        assert_eq!(
            emu.replicas("c"),
            pairs(&[("r1", "25cc")]),
            "{config}: nothing changed"
        );
    }
    // Hostile and long names: unicode, quotes, semicolons, 255 bytes.
    let long = "é".repeat(127);
    for name in ["名前; DROP", "it's \"quoted\"", long.as_str()] {
        emu.create_cluster(name);
        strategy(
            &emu,
            name,
            "target_size",
            json!({"target_size": "25cc", "replica_name": name}),
        );
    }
    let run = clusterctl(&emu, &["apply", "--filter-clusters", "名前|quoted|é"]).ok();
    assert!(run.stdout.contains("Applied 3 of 3"), "{}", run.all());
    assert_eq!(
        emu.replicas(&long),
        vec![(long.clone(), "25cc".to_string())]
    );
    // Malformed URLs and unreachable hosts: one clear line, exit 1.
    for url in [
        "postgres://u:pw@[::1:6875/db",
        "not a url at all",
        "postgres://u:pw@127.0.0.1:1/db?connect_timeout=1",
    ] {
        let mut cmd = command();
        cmd.args(["dry-run", "--postgres-url", url]);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 1, "{url}: {}", run.all());
        one_error_line(&run);
    }
}

// ---- Issue 13: one actor at a time under real faults -------------------

/// This machine's host name, as the product reads it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("/proc/sys/kernel/hostname")
        .trim()
        .to_string()
}

/// (PID namespace inode, start time) of a process, as the product reads them.
fn process_identity(pid: u32) -> (u64, u64) {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/pid")).expect("ns link");
    let ns = link
        .to_string_lossy()
        .trim_start_matches("pid:[")
        .trim_end_matches(']')
        .parse()
        .expect("ns inode");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let (_, rest) = stat.rsplit_once(')').expect("stat format");
    let start = rest.split_whitespace().nth(19).expect("field 22");
    (ns, start.parse().expect("start time"))
}

fn lease_row(emu: &Emulator) -> (String, f64) {
    let row = emu.query_strings(
        "SELECT holder, extract(epoch FROM expires_at - now())::float8::text FROM clusterctl_lease \
         WHERE name = 'controller'",
    );
    (
        row[0][0].clone().unwrap_or_default(),
        row[0][1].as_deref().unwrap_or("0").parse().unwrap_or(0.0),
    )
}

/// Spawns `clusterctl ARGS` against the emulator, output captured.
fn spawn(emu: &Emulator, args: &[&str]) -> std::process::Child {
    let mut cmd = command();
    cmd.args(args)
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn clusterctl")
}

fn finish(child: std::process::Child) -> Run {
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Waits until someone holds the lease (a run under way).
fn wait_for_holder(emu: &Emulator) -> String {
    let started = Instant::now();
    loop {
        let (holder, left) = lease_row(emu);
        if !holder.is_empty() && left > 0.0 {
            return holder;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nobody took the lease"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_ddl_slower_than_the_lease_ttl_is_covered_by_the_heartbeat() {
    // A resize in progress: the new replica is hydrated, the old one goes.
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    emu.add_replica("c", "r_50cc", "50cc");
    emu.set_hydrated("c", "r_50cc", true);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    // A's DROP takes 14 s, longer than its 10 s lease.
    emu.delay_statements("DROP CLUSTER REPLICA", Duration::from_secs(14));
    let a = spawn(&emu, &["apply", "--lease-ttl", "10s"]);
    wait_for_holder(&emu);
    std::thread::sleep(Duration::from_secs(11));
    // Meanwhile someone changes the target back; B runs after A's TTL.
    emu.sql("DELETE FROM mz_cluster_strategies");
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let b = clusterctl(&emu, &["apply"]);
    let a = finish(a);
    emu.clear_faults();
    assert_eq!(a.code, 0, "{}", a.all());
    assert_eq!(b.code, 0, "{}", b.all());
    assert!(
        b.stdout.contains("Another controller holds the lease"),
        "A's heartbeat kept its lease through the slow DDL: {}",
        b.all()
    );
    assert!(
        !emu.replicas("c").is_empty(),
        "the cluster kept a replica: {:?}",
        audit(&emu, "c")
    );
}

#[test]
fn lease_expiry_follows_the_database_clock_not_the_controllers() {
    let emu = one_create_setup();
    // A live lease (5 minutes by the database's clock) on another host.
    emu.hold_lease("other-host:4242:run-x", 300);
    // A host whose clock is 6 minutes ahead does not take it.
    let mut cmd = crate::support::product_command_with_clock_offset(360);
    cmd.current_dir(std::env::temp_dir())
        .arg("apply")
        .env("DATABASE_URL", emu.url())
        .env("NO_COLOR", "1");
    let run = run_cmd(cmd).ok();
    assert!(
        run.stdout.contains("Another controller holds the lease"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty(), "nothing done");

    // A host a day ahead that dies holding the lease blocks the others for
    // its TTL by the database's clock, not for a day.
    emu.sql(
        "UPDATE clusterctl_lease SET holder = '', expires_at = '1970-01-01' WHERE name = 'controller'",
    );
    let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let target = pid.clone();
    emu.on_statement("CREATE CLUSTER REPLICA", 1, move |_| {
        kill_when_known(&target);
    });
    let mut cmd = crate::support::product_command_with_clock_offset(86_400);
    cmd.current_dir(std::env::temp_dir())
        .args(["apply", "--lease-ttl", "10s"])
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    pid.store(child.id(), std::sync::atomic::Ordering::SeqCst);
    assert!(child.wait().expect("wait").code().is_none(), "killed");
    let (holder, left) = lease_row(&emu);
    assert!(!holder.is_empty());
    assert!(
        left <= 10.5,
        "the lease ends within its TTL by the database's clock: {left}s left"
    );
    // Seen from another host (no takeover of a dead local process): busy
    // until the TTL, then free.
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'elsewhere' || substr(holder, strpos(holder, ':')) \
         WHERE name = 'controller'",
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("Another controller holds the lease"),
        "{}",
        run.all()
    );
    std::thread::sleep(Duration::from_secs_f64(left.max(0.0) + 1.0));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        !run.stdout.contains("Another controller"),
        "expired by the database's clock: {}",
        run.all()
    );
}

/// A run that must migrate (migration 2 unrecorded, as after an upgrade)
/// while the migration lock row is held by `holder` for `secs` by the
/// database's clock (negative: it expired that long ago), as a migrator
/// killed mid-migration leaves it.
fn migration_lock_held(emu: &Emulator, holder: &str, secs: i64) {
    emu.sql("DELETE FROM clusterctl_schema_migrations WHERE version = 2");
    emu.sql(&format!(
        "UPDATE clusterctl_lease SET holder = {}, expires_at = now() + INTERVAL '{secs} seconds' \
         WHERE name = 'migrations'",
        lit(holder)
    ));
}

/// `init` run with its wall clock `offset_secs` away; how long it took.
fn init_with_clock_offset(emu: &Emulator, offset_secs: i64) -> (Run, Duration) {
    let mut cmd = command();
    crate::support::with_clock_offset(&mut cmd, offset_secs);
    // Short deadlines: a lock judged by the host's clock used to end in
    // "no answer within" after the statement timeout.
    cmd.args(["init", "--statement-timeout", "5s", "--max-retries", "0"])
        .env("DATABASE_URL", emu.url());
    let started = Instant::now();
    let run = run_cmd(cmd);
    (run, started.elapsed())
}

/// A migration lock whose expiry is `infinity` (written by hand) is held
/// for ever: `take` never takes it. The read of it decoded no time and
/// called it free, so a run that had to migrate polled it without end
/// (never held for longer than the wait had left, never taken). Now it is
/// an error at once, saying how to free it.
#[test]
fn a_migration_lock_that_never_expires_is_an_error_not_a_hang() {
    let emu = Emulator::start();
    init_tables(&emu);
    migration_lock_held(&emu, "elsewhere:4242:run-w", 0);
    emu.sql("UPDATE clusterctl_lease SET expires_at = 'infinity' WHERE name = 'migrations'");
    let mut cmd = command();
    cmd.args(["init", "--max-retries", "0"])
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the clusterctl binary runs");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("init still waiting for the lock after 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the migration lock is held by elsewhere:4242:run-w with no end")
            && stderr.contains("WHERE name = 'migrations'"),
        "{stderr}"
    );
}

#[test]
fn the_migration_lock_follows_the_database_clock_not_the_migrators() {
    let emu = Emulator::start();
    init_tables(&emu);
    let recorded = || {
        emu.query_one("SELECT count(*)::text FROM clusterctl_schema_migrations WHERE version = 2")
    };
    // A migrator killed mid-migration: its lock expired a second ago by the
    // database's clock. A host an hour behind takes it at once (it used to
    // wait for an hour of its own time).
    migration_lock_held(&emu, "elsewhere:4242:run-x", -1);
    let (run, took) = init_with_clock_offset(&emu, -3600);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        took < Duration::from_secs(4),
        "waited {took:?}: {}",
        run.all()
    );
    assert_eq!(recorded().as_deref(), Some("1"), "{}", run.all());

    // A live migrator (4 s left by the database's clock): a host an hour
    // ahead waits for it instead of stealing the lock.
    migration_lock_held(&emu, "elsewhere:4242:run-y", 4);
    let (run, took) = init_with_clock_offset(&emu, 3600);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(took >= Duration::from_secs(3), "did not wait: {took:?}");
    assert_eq!(recorded().as_deref(), Some("1"), "{}", run.all());

    // A lock held for longer than any run waits: the error names the
    // holder and the end, and does not blame the server.
    migration_lock_held(&emu, "elsewhere:4242:run-z", 600);
    let (run, took) = init_with_clock_offset(&emu, 0);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("the migration lock is held by elsewhere:4242:run-z until"),
        "{}",
        run.all()
    );
    assert!(!run.stderr.contains("no answer"), "{}", run.all());
    assert!(
        !run.stderr.contains("creating clusterctl's tables"),
        "{}",
        run.all()
    );
    assert!(took < Duration::from_secs(4), "said so at once: {took:?}");
    assert_eq!(recorded().as_deref(), Some("0"));
}

#[test]
fn a_migrator_that_died_on_this_host_leaves_the_lock_at_once() {
    let emu = Emulator::start();
    init_tables(&emu);
    // The lock's holder ran on this host under a PID that now belongs to
    // another process (its start time differs): it died mid-migration, and
    // its lock would hold every run for ten minutes.
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let (ns, start) = process_identity(sleeper.id());
    let holder = format!("{}:{}:run-m:{ns}:{}", host_name(), sleeper.id(), start + 1);
    migration_lock_held(&emu, &holder, 600);
    let (run, _) = init_with_clock_offset(&emu, 0);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("took over the migration lock of {holder}"))
            && run.stderr.contains("PID now belongs to another process"),
        "{}",
        run.all()
    );
    assert_eq!(
        emu.query_one("SELECT count(*)::text FROM clusterctl_schema_migrations WHERE version = 2")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        emu.query_one("SELECT holder FROM clusterctl_lease WHERE name = 'migrations'")
            .as_deref(),
        Some(""),
        "released after migrating"
    );

    // A live migrator on this host (this test's process) keeps it.
    let (ns, start) = process_identity(std::process::id());
    let live = format!("{}:{}:run-l:{ns}:{start}", host_name(), std::process::id());
    migration_lock_held(&emu, &live, 600);
    let (run, _) = init_with_clock_offset(&emu, 0);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains(&format!("the migration lock is held by {live} until")),
        "{}",
        run.all()
    );
}

/// Kills the process whose PID `pid` will hold (SIGKILL).
fn kill_when_known(pid: &std::sync::atomic::AtomicU32) {
    let mut p = pid.load(std::sync::atomic::Ordering::SeqCst);
    while p == 0 {
        std::thread::sleep(Duration::from_millis(1));
        p = pid.load(std::sync::atomic::Ordering::SeqCst);
    }
    let _ = Command::new("kill").args(["-9", &p.to_string()]).status();
}

#[test]
fn a_live_holder_in_another_pid_namespace_is_not_taken_over() {
    if Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        panic!("this test needs `unshare --pid --fork --mount-proc` (root, util-linux)");
    }
    let emu = one_create_setup();
    emu.delay_statements("CREATE CLUSTER REPLICA", Duration::from_secs(4));
    let bin = env!("CARGO_BIN_EXE_clusterctl");
    // The holder is PID 3 of its namespace, the contender PID 2 of its own,
    // on the same host name: PID 3 does not exist where the contender looks.
    let holder = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c"])
        .arg(format!("sh -c '{bin} apply; true'; true"))
        .env("DATABASE_URL", emu.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare");
    wait_for_holder(&emu);
    let contender = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c"])
        .arg(format!("{bin} apply; true"))
        .env("DATABASE_URL", emu.url())
        .output()
        .expect("unshare");
    let holder = finish(holder);
    emu.clear_faults();
    let stdout = String::from_utf8_lossy(&contender.stdout);
    assert!(
        stdout.contains("Another controller holds the lease"),
        "{stdout}{}\n--- holder ---\n{}",
        String::from_utf8_lossy(&contender.stderr),
        holder.all()
    );
    assert_eq!(actors(&emu).len(), 1, "one actor");
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
}

/// `doctor` tells the truth about a lease whose holder died on this host:
/// an apply here takes it over at once. After a `kill -9` it said "apply
/// does nothing until it is free" and sent the operator to wait or to
/// `unlock --force`.
#[test]
fn doctor_says_a_lease_whose_holder_died_here_is_taken_over_at_once() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    let lease_line = |emu: &Emulator| {
        let out = clusterctl(emu, &["doctor"]).ok().stdout;
        out.lines()
            .find(|l| l.contains("controller lease"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string()
    };
    // This host, this PID namespace, a PID beyond Linux's pid_max.
    let (ns, start) = process_identity(std::process::id());
    let dead = format!("{}:{}:run-x:{ns}:{start}", host_name(), 1u32 << 30);
    emu.hold_lease(&dead, 600);
    let line = lease_line(&emu);
    assert!(line.starts_with("info"), "{line}");
    assert!(
        line.contains("died on this host (that process no longer exists)")
            && line.contains("an apply here takes it over at once"),
        "{line}"
    );
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(run.stderr.contains("took over the lease"), "{}", run.all());
    // A holder that may be acting (another host) is still a warning.
    emu.hold_lease("other-host:4242:run-x", 600);
    let line = lease_line(&emu);
    assert!(
        line.starts_with("warning") && line.contains("apply does nothing until it is free"),
        "{line}"
    );
}

/// The lease is one per installation (schema): a second installation's
/// controllers took their own lease and acted on a cluster the first one
/// held (an outside check; the README said one for the region). `doctor`
/// names the other schema, from either side.
#[test]
fn doctor_warns_of_another_installation_whose_lease_is_its_own() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    let alone = clusterctl(&emu, &["doctor"]).ok().stdout;
    assert!(!alone.contains("another installation"), "{alone}");
    clusterctl(&emu, &["init", "--schema", "other place"]).ok();
    for (args, other) in [
        (&["doctor"][..], r#"schema "other place""#),
        (&["doctor", "--schema", "other place"], r#"schema "public""#),
    ] {
        let out = clusterctl(&emu, args).ok().stdout;
        let line = out
            .lines()
            .find(|l| l.contains("another installation"))
            .unwrap_or_else(|| panic!("{args:?}: {out}"));
        assert!(
            line.starts_with("warning") && line.contains(other),
            "{args:?}: {line}"
        );
    }
    // A first install into a third schema (no tables of ours yet) makes a
    // third installation: said then too (it was said only once complete).
    emu.sql("CREATE SCHEMA fresh");
    let out = clusterctl(&emu, &["doctor", "--schema", "fresh", "-o", "json"]).json();
    let found = out["result"]["findings"].to_string();
    assert!(
        found.contains(r#"also in schema \"other place\", \"public\""#)
            && found.contains("clusterctl strategy ls --schema fresh"),
        "{out:#}"
    );
    // A cluster with rows in both: named, a blocker (two controllers at
    // once dropped each other's replicas, leaving it with none: an
    // outside check).
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let run = clusterctl(&emu, &["doctor"]);
    assert!(
        !run.stdout.contains("with strategy rows here and in"),
        "{}",
        run.all()
    );
    let set = [
        "strategy",
        "set",
        "c",
        "target_size",
        "--target-size",
        "50cc",
        "--schema",
        "other place",
    ];
    // The write itself says so (it wrote without a word: an outside
    // check), with the command that lists the other rows.
    let written = clusterctl(&emu, &set).ok();
    assert!(
        written.stderr.lines().any(|l| l.starts_with("warning:")
            && l.contains(r#"also has strategy rows in schema "public""#)
            && l.contains("`clusterctl strategy ls --cluster c --schema public`")),
        "{}",
        written.all()
    );
    // A dangling id with rows in both is no cluster two controllers act
    // on: not counted in the blocker (it was a blocker of its own).
    for table in [
        "mz_cluster_strategies",
        r#""other place".mz_cluster_strategies"#,
    ] {
        emu.sql(&format!(
            "INSERT INTO {table} VALUES ('u999', 'target_size', '{{\"target_size\": \"25cc\"}}', now())"
        ));
    }
    let run = clusterctl(&emu, &["doctor"]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stdout.lines().any(|l| l.starts_with("BLOCKER")
            && l.contains(
                r#"1 cluster with strategy rows here and in schema "other place": "c" (u"#
            )
            && !l.contains("u999")),
        "{}",
        run.all()
    );
}

#[test]
fn a_zombie_holder_or_a_reused_pid_is_taken_over_at_once() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.create_cluster("d");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    // Killed while holding the lease, and never reaped: a zombie.
    let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let target = pid.clone();
    emu.on_statement("CREATE CLUSTER REPLICA", 1, move |_| {
        kill_when_known(&target)
    });
    let mut zombie = spawn(&emu, &["apply"]);
    pid.store(zombie.id(), std::sync::atomic::Ordering::SeqCst);
    let stat_path = format!("/proc/{}/stat", zombie.id());
    let started = Instant::now();
    while !std::fs::read_to_string(&stat_path)
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run was not killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(
        run.stderr.contains("took over the lease") && run.stderr.contains("zombie"),
        "{}",
        run.all()
    );
    let _ = zombie.wait();
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));

    // A PID that now belongs to another process (start time differs).
    strategy(&emu, "d", "target_size", json!({"target_size": "25cc"}));
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    let (ns, start) = process_identity(sleeper.id());
    emu.hold_lease(
        &format!("{}:{}:run-y:{ns}:{}", host_name(), sleeper.id(), start + 1),
        600,
    );
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(
        run.stderr.contains("PID now belongs to another process"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("d"), pairs(&[("r_25cc", "25cc")]));
}

/// A lease taken on the third attempt, the first two unanswered for
/// longer than the TTL in all, is ours from the attempt that took it: the
/// run said "the lease was lost" at once and did nothing (its heartbeat
/// counted the lease from the first attempt's start).
#[test]
fn a_lease_taken_after_slow_attempts_is_not_lost_at_once() {
    let emu = one_create_setup();
    for nth in [1, 2] {
        emu.stall_statement("SET holder = $1, expires_at", nth);
    }
    let args = ["apply", "--lease-ttl", "10s", "--statement-timeout", "6s"];
    let run = clusterctl(&emu, &args).ok();
    assert!(
        run.stderr.contains("taking the lease: no answer within 6s"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("lease was lost"), "{}", run.all());
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
}

/// A DDL never sent because the lease was lost while its intent was
/// written (the heartbeat's renewals unanswered, the intent slow) is
/// recorded as not attempted: its intent stayed open, as if
/// the statement might still run, and held its cluster for the next run
/// until the statement's deadline had passed.
#[test]
fn a_ddl_never_sent_for_a_lost_lease_closes_its_intent() {
    let emu = one_create_setup();
    // Renewals unanswered: the heartbeat gives the lease up at about 18 s
    // (20 s less its 2 s margin); the database holds it ours until 20 s.
    for nth in [1, 2] {
        emu.stall_statement("SET expires_at = now()", nth);
    }
    emu.delay_statements(
        Pattern::regex("INSERT INTO .*mz_cluster_strategy_actions"),
        Duration::from_millis(19_000),
    );
    let run = clusterctl(&emu, &["apply", "--lease-ttl", "20s"]).code(1);
    assert!(run.stderr.contains("the lease was lost"), "{}", run.all());
    emu.clear_faults();
    assert_eq!(emu.stats().ddl, 0, "{}", run.all());
    let trail = audit(&emu, "c");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(
        !trail[0].1
            && trail[0].2.as_deref()
                == Some(
                    "not attempted: the lease was lost before the statement was sent (the run's \
                     error says why)"
                ),
        "{trail:?}"
    );
    let history = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    assert_eq!(
        history["result"]["entries"][0]["result"], "skipped",
        "{history:#}"
    );
    // Nothing holds the cluster: the next run acts at once.
    let next = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r_25cc", "25cc")]),
        "{}",
        next.all()
    );
}

/// A run that stops on a DDL left without an answer when its lease ran
/// out still records the outcomes of the actions before it: they waited
/// to go with a later statement and were dropped with the run, so the
/// trail left a CREATE that had taken effect open, for the next run to
/// guess from the catalog.
#[test]
fn a_run_stopped_by_a_lost_lease_records_what_it_did_before() {
    let emu = Emulator::start();
    for c in ["a", "b"] {
        emu.create_cluster(c);
    }
    init_tables(&emu);
    for c in ["a", "b"] {
        strategy(&emu, c, "target_size", json!({"target_size": "25cc"}));
    }
    // a's CREATE runs; b's is never answered, nor are the renewals.
    emu.stall_statement("CREATE CLUSTER REPLICA", 2);
    for nth in [1, 2, 3] {
        emu.stall_statement("SET expires_at = now()", nth);
    }
    let args = ["apply", "--lease-ttl", "10s", "--connect-timeout", "1"];
    let run = clusterctl(&emu, &args).code(1);
    emu.clear_faults();
    assert!(run.stderr.contains("the lease was lost"), "{}", run.all());
    assert_eq!(emu.replicas("a"), pairs(&[("r_25cc", "25cc")]));
    let a = audit(&emu, "a");
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].1 && a[0].2.is_none(), "recorded as executed: {a:?}");
    assert_eq!(open_rows(&emu).len(), 1, "b's alone: {}", run.all());
}

/// A run whose outcomes cannot be recorded (the database lost after its
/// DDL) says what becomes of them: it said only "recording the actions'
/// outcomes: connection closed", after "Creation complete".
#[test]
fn a_run_that_cannot_record_its_outcomes_says_the_next_run_settles_them() {
    let emu = one_create_setup();
    emu.cut_every_statement("SET executed = CASE");
    let run = clusterctl(&emu, &["apply", "--max-retries", "1"]).code(1);
    emu.clear_faults();
    assert!(
        run.stderr
            .contains("recording the actions' outcomes: connection closed: the run stopped there")
            && run.stderr.contains("the next run settles from the catalog"),
        "{}",
        run.all()
    );
    assert_eq!(open_rows(&emu).len(), 1);
    let next = clusterctl(&emu, &["apply"]).ok();
    assert!(open_rows(&emu).is_empty(), "{}", next.all());
    assert!(audit(&emu, "c")[0].1, "settled as executed");
}

#[test]
fn a_lost_lease_stops_the_run_before_its_next_ddl() {
    let emu = Emulator::start();
    emu.create_cluster("s");
    emu.add_index("s");
    init_tables(&emu);
    // Three creates on one cluster.
    strategy(
        &emu,
        "s",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    // During the first DDL another controller takes the lease (as if ours
    // had expired), and the DDL takes longer than a heartbeat period.
    let url = crate::support::pg_url();
    let db = emu.database().to_string();
    emu.on_statement("CREATE CLUSTER REPLICA", 1, move |_| {
        let mut c = crate::support::admin_client(&url, &db);
        let _ = c.batch_execute(
            "UPDATE clusterctl_lease SET holder = 'thief:1:run', expires_at = now() + INTERVAL '10 minutes' \
             WHERE name = 'controller'",
        );
        std::thread::sleep(Duration::from_secs(4));
    });
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply", "--lease-ttl", "10s", "-o", "json"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let doc = run.json();
    let error = doc["error"].to_string();
    assert!(error.contains("the lease was lost"), "{}", run.all());
    assert!(error.contains("thief"), "{}", run.all());
    assert_eq!(emu.stats().ddl, 1, "no DDL after the lease was lost");
    // Each planned action is in the results: the two never sent as
    // skipped (the one the lease check stopped before its intent was in
    // none: an outside check).
    let results = doc["error"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(results.len(), 3, "{doc:#}");
    let skipped = results.iter().filter(|r| r["status"] == "skipped").count();
    assert_eq!(skipped, 2, "{doc:#}");
    // Those with no audit row have no id: null, not "".
    assert!(
        results.iter().all(|r| r["action_id"] != "")
            && results.iter().any(|r| r["action_id"].is_null()),
        "{doc:#}"
    );
    // The DDL under way was cancelled (or landed): at most one replica.
    assert!(emu.replicas("s").len() <= 1, "{:?}", emu.replicas("s"));
}

#[test]
fn a_busy_lease_is_an_error_for_wipe_state_and_an_idle_apply() {
    let emu = one_create_setup();
    clusterctl(&emu, &["apply"]).ok();
    let states = || emu.query_one("SELECT count(*) FROM mz_cluster_strategy_state");
    let before = states();
    emu.hold_lease("other-host:4242:run-x", 600);
    let run = clusterctl(&emu, &["wipe-state"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(run.stdout, "", "{}", run.all());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: another controller holds the lease (other-host:4242:run-x)"),
        "{}",
        lines[0]
    );
    assert_eq!(states(), before, "nothing wiped");
    // apply: a normal idle run (the holder is live), its own command name.
    let run = clusterctl(&emu, &["apply", "--output", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(doc["command"], "apply", "{doc}");
    assert_eq!(
        doc["result"]["lease_busy"]["held_by"], "other-host:4242:run-x",
        "{doc}"
    );
}

/// An `apply` SIGKILLed right after sending its CREATE, which the server
/// takes `secs` more to run.
fn killed_while_its_create_runs(emu: &Emulator, secs: u64) {
    let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let target = pid.clone();
    emu.on_statement("CREATE CLUSTER REPLICA", 1, move |_| {
        kill_when_known(&target);
        std::thread::sleep(Duration::from_secs(secs));
    });
    let mut child = spawn(emu, &["apply"]);
    pid.store(child.id(), std::sync::atomic::Ordering::SeqCst);
    assert!(child.wait().expect("wait").code().is_none(), "killed");
}

/// The next `apply` holds the cluster: the killed run's CREATE is not sent
/// again.
fn the_next_run_holds_the_cluster(emu: &Emulator) {
    emu.reset_stats();
    let run = clusterctl(emu, &["apply"]).ok();
    assert_eq!(
        emu.stats().ddl,
        0,
        "the same CREATE is not sent again: {}",
        run.all()
    );
    assert!(run.stdout.contains("may still be running"), "{}", run.all());
    // The warning names the cluster it is about (it said "this cluster").
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("warning: cluster c (") && l.contains("may still be running")),
        "{}",
        run.all()
    );
}

/// Once the killed run's CREATE landed (`secs` from now), a run settles
/// it as executed, once.
fn settled_once_as_executed_after(emu: &Emulator, secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
    clusterctl(emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r_25cc", "25cc")]));
    let trail = audit(emu, "c");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(trail[0].1, "settled as executed: {trail:?}");
}

#[test]
fn a_run_killed_while_its_ddl_runs_on_the_server_is_settled_once() {
    let emu = one_create_setup();
    // The run dies right after sending its CREATE; the server takes 3 s more.
    killed_while_its_create_runs(&emu, 3);
    // Every plan shows the cluster held, not the CREATE as planned, and a
    // read-only command settles nothing.
    let dry = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let cp = &dry["result"]["plan"]["clusters"][0];
    assert_eq!(cp["status"], "waiting", "{dry:#}");
    assert_eq!(cp["actions"], serde_json::json!([]), "{dry:#}");
    assert_eq!(
        cp["waiting"][0]["action"], "create r_25cc (25cc)",
        "{dry:#}"
    );
    assert!(
        cp["in_doubt"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("may still be running")),
        "{dry:#}"
    );
    let status = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    assert_eq!(
        status["result"]["clusters"][0]["condition"], "InDoubt",
        "{status:#}"
    );
    let open =
        || emu.query_one("SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NULL");
    assert_eq!(
        open().as_deref(),
        Some("1"),
        "dry-run and status write nothing"
    );
    // The next run starts at once (the dead holder is taken over).
    the_next_run_holds_the_cluster(&emu);
    settled_once_as_executed_after(&emu, 4);
}

/// The same, with a step of the server's clock 10 minutes forward while
/// the killed run's CREATE still runs: by the server's clock its intent is
/// long past its deadline. The next run on this machine judges its age by
/// the machine's boot clock too (recorded with the intent), so it holds
/// the cluster instead of settling the CREATE as not applied and sending
/// it again.
#[test]
fn a_step_of_the_servers_clock_does_not_settle_a_ddl_a_run_killed_here_left_running() {
    let emu = one_create_setup();
    emu.install_clock();
    killed_while_its_create_runs(&emu, 4);
    let boot = emu.query_strings(
        "SELECT decision_ctx->'boot'->>'id', decision_ctx->'boot'->>'uptime_s' \
         FROM mz_cluster_strategy_actions WHERE executed IS NULL",
    );
    assert!(
        boot.len() == 1 && boot[0].iter().all(Option::is_some),
        "the intent records this machine's boot clock: {boot:?}"
    );
    emu.advance_clock(600);
    the_next_run_holds_the_cluster(&emu);
    assert_eq!(
        emu.query_one("SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NULL")
            .as_deref(),
        Some("1"),
        "left open, not settled as not applied"
    );
    settled_once_as_executed_after(&emu, 5);
}

#[test]
fn an_interrupted_managed_alter_is_settled_from_the_catalog() {
    let emu = Emulator::start();
    emu.create_managed_cluster("m", "25cc", 1);
    emu.add_index("m");
    init_tables(&emu);
    strategy(&emu, "m", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("m", 7200, true);
    apply_killed_at(&emu, "ALTER CLUSTER", 1);
    clusterctl(&emu, &["apply"]).ok();
    let id = emu.cluster_id("m");
    let rows = emu.query_strings(&format!(
        "SELECT executed::text, error_message FROM mz_cluster_strategy_actions WHERE cluster_id = {}",
        lit(&id)
    ));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("true"), "{rows:?}");
    assert!(
        rows[0][1]
            .as_deref()
            .unwrap_or_default()
            .contains("found it applied"),
        "{rows:?}"
    );
}

#[test]
fn writes_cut_after_they_committed_are_not_duplicated() {
    // The intent INSERT commits, the connection breaks before the answer.
    let emu = one_create_setup();
    emu.cut_after_statement("INSERT INTO \"mz_cluster_strategy_actions\"", 1);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        run.stdout.contains("Applied 1 of 1 action"),
        "{}",
        run.all()
    );
    let history = clusterctl(&emu, &["history", "--output", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&history.stdout).expect("json");
    let entries = doc["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "history lists the action once: {doc}");
    assert_eq!(entries[0]["result"], "executed", "{doc}");

    // The state INSERT commits, the connection breaks: one row per cluster
    // by the end of the same run.
    let emu = crash_setup();
    clusterctl(&emu, &["apply"]);
    emu.cut_after_statement("INSERT INTO \"mz_cluster_strategy_state\"", 1);
    let run = clusterctl(&emu, &["apply"]);
    assert!(run.code == 0 || run.code == 3, "{}", run.all());
    let extra = emu
        .query_one("SELECT count(*) - count(DISTINCT cluster_id) FROM mz_cluster_strategy_state");
    assert_eq!(extra.as_deref(), Some("0"), "one state row per cluster");
}

/// `strategy set t target_size --target-size SIZE` with the connection cut
/// after the first statement `cut` matches committed: the retry is seen.
fn set_target_cut_after(emu: &Emulator, cut: &str, size: &str) -> Run {
    emu.cut_after_statement(Pattern::regex(cut), 1);
    let run = clusterctl(
        emu,
        &["strategy", "set", "t", "target_size", "--target-size", size],
    )
    .ok();
    emu.clear_faults();
    assert!(
        run.stderr.contains("retrying"),
        "the cut was seen: {}",
        run.all()
    );
    run
}

#[test]
fn a_strategy_row_cut_after_it_committed_is_written_once() {
    // strategy set's INSERT commits, its answer is lost: the retry must not
    // leave two rows of the newest time (which `check` refuses).
    let emu = crash_setup();
    set_target_cut_after(&emu, "^INSERT INTO \"mz_cluster_strategies\"", "25cc");
    let rows = emu.query_strings(&format!(
        "SELECT config::text FROM mz_cluster_strategies WHERE cluster_id = '{}' \
         AND strategy_type = 'target_size'",
        emu.cluster_id("t")
    ));
    assert_eq!(
        rows,
        vec![vec![Some(r#"{"target_size": "25cc"}"#.to_string())]]
    );
    clusterctl(&emu, &["check"]).ok();

    // The DELETE of the replaced row commits, its answer is lost: the retry
    // deletes nothing, and it is still a replace.
    let run = set_target_cut_after(&emu, "^DELETE FROM \"mz_cluster_strategies\"", "50cc");
    assert!(
        run.stdout
            .starts_with("Replaced strategy target_size of cluster t ("),
        "{}",
        run.all()
    );
}

#[test]
fn operator_audit_rows_cut_after_they_committed_are_not_duplicated() {
    // Each operator command's audit INSERT commits and its connection
    // breaks before the answer: the retry must not write a second row.
    let emu = crash_setup();
    clusterctl(&emu, &["apply"]).ok();
    let kinds = |emu: &Emulator| {
        emu.query_strings(
            "SELECT decision_ctx->>'kind', count(*)::text FROM mz_cluster_strategy_actions \
             WHERE decision_ctx->>'kind' IN ('strategy_set', 'strategy_rm', 'wipe_state', 'unlock') \
             GROUP BY 1 ORDER BY 1",
        )
    };
    let insert = "INSERT INTO \"mz_cluster_strategy_actions\"";
    let commands: &[&[&str]] = &[
        &[
            "strategy",
            "set",
            "t",
            "target_size",
            "--target-size",
            "25cc",
        ],
        &["strategy", "rm", "t", "target_size"],
        &["wipe-state", "--yes"],
    ];
    for argv in commands {
        emu.cut_after_statement(insert, 1);
        let run = clusterctl(&emu, argv).ok();
        emu.clear_faults();
        assert!(
            run.stderr.contains("retrying"),
            "the cut was seen: {}",
            run.all()
        );
    }
    emu.hold_lease("other-host:4242:run-z", 600);
    emu.cut_after_statement(insert, 1);
    let run = clusterctl(&emu, &["unlock", "--force"]).ok();
    emu.clear_faults();
    assert!(
        run.stderr.contains("retrying"),
        "the cut was seen: {}",
        run.all()
    );
    let one = |k: &str| vec![Some(k.to_string()), Some("1".to_string())];
    assert_eq!(
        kinds(&emu),
        vec![
            one("strategy_rm"),
            one("strategy_set"),
            one("unlock"),
            one("wipe_state")
        ],
        "one audit row per command"
    );
    // Each is recorded as done in that one row (no intent left open).
    let open = emu
        .query_one("SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NOT TRUE");
    assert_eq!(open.as_deref(), Some("0"));
}

#[test]
fn open_audit_rows_with_absurd_deadlines_or_dates_neither_crash_nor_hold() {
    // Rows an operator, a restore or a bug could leave: a deadline of
    // thirty million years, one beyond any float Duration, a start in 9999.
    let emu = Emulator::start();
    emu.create_cluster("a");
    emu.create_cluster("b");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "25cc"}));
    strategy(&emu, "b", "target_size", json!({"target_size": "25cc"}));
    let (a, b) = (emu.cluster_id("a"), emu.cluster_id("b"));
    for (id, cluster, ctx, created) in [
        (
            "huge",
            &a,
            r#"{"kind":"create_replica","replica":"nope","deadline_s":1e15}"#,
            "now()",
        ),
        (
            "vast",
            &a,
            r#"{"kind":"create_replica","replica":"nope","deadline_s":1e20}"#,
            "now()",
        ),
        (
            "future",
            &b,
            r#"{"kind":"create_replica","replica":"nope"}"#,
            "'9999-01-01'::timestamptz",
        ),
    ] {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, error_message, created_at) \
             VALUES ({}, {}, 'x', {}::jsonb, NULL, NULL, {created})",
            lit(id),
            lit(cluster),
            lit(ctx)
        ));
    }
    let run = clusterctl(&emu, &["apply", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(!run.all().contains("internal error"), "{}", run.all());
    serde_json::from_str::<serde_json::Value>(&run.stdout).expect("one JSON document");
    // A deadline is believed up to a day: cluster a is left alone this
    // run; b's row is settled (no credible start), so b is managed.
    assert!(
        emu.replicas("a").is_empty(),
        "a is held: {:?}",
        emu.replicas("a")
    );
    assert_eq!(emu.replicas("b").len(), 1, "{}", run.all());
    let open = emu.query_one(
        "SELECT string_agg(action_id, ',' ORDER BY action_id) FROM mz_cluster_strategy_actions \
         WHERE executed IS NULL AND error_message IS NULL",
    );
    assert_eq!(open.as_deref(), Some("huge,vast"));
}

#[test]
fn a_lease_row_deleted_by_hand_is_put_back() {
    // A clean-up or a partial restore removed it: apply and unlock failed
    // for good while init and doctor said all was well.
    let emu = one_create_setup();
    emu.sql("DELETE FROM clusterctl_lease WHERE name = 'controller'");
    clusterctl(&emu, &["unlock", "--force"]).ok();
    emu.sql("DELETE FROM clusterctl_lease WHERE name = 'controller'");
    let run = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(
        run.stderr.contains("lease row was missing"),
        "{}",
        run.all()
    );
    assert_eq!(emu.replicas("c").len(), 1, "{}", run.all());
    let rows = emu.query_one("SELECT count(*) FROM clusterctl_lease WHERE name = 'controller'");
    assert_eq!(rows.as_deref(), Some("1"));
}

#[test]
fn a_lease_broken_by_unlock_stops_the_old_run_before_its_next_statement() {
    // `unlock --force` on a live run: the old holder used to keep sending
    // DDL until its heartbeat's next renewal (a quarter of the TTL).
    let emu = Emulator::start();
    for c in ["a", "b", "c"] {
        emu.create_cluster(c);
    }
    init_tables(&emu);
    for c in ["a", "b", "c"] {
        strategy(&emu, c, "target_size", json!({"target_size": "25cc"}));
    }
    let url = emu.url();
    emu.on_ddl(1, move |_| {
        let mut cmd = command();
        cmd.args(["unlock", "--force"]).env("DATABASE_URL", &url);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 0, "{}", run.all());
    });
    emu.reset_stats();
    let run = clusterctl(&emu, &["apply", "-o", "json"]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(
        run.all()
            .contains("the lease was lost: it was released or broken (`unlock --force`)"),
        "{}",
        run.all()
    );
    // The JSON says what ran before the stop (it said only the error).
    let doc = run.json();
    crate::json_schema::conforms(&crate::json_schema::schema(), &doc);
    let results = doc["error"]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let done: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or("?"),
                r["status"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    // The action the lost lease kept from being sent is among them, as
    // the trail has it (it was left out), and so is the next cluster's,
    // never begun (left out too: an outside check).
    assert_eq!(
        done,
        [
            ("create_replica", "executed"),
            ("create_replica", "skipped"),
            ("create_replica", "skipped")
        ],
        "{doc:#}"
    );
    assert_eq!(
        emu.stats().ddl,
        1,
        "no statement after the lease was taken: {}",
        run.all()
    );
    // The intent withdrawn says why (it said the cluster had changed).
    let history = clusterctl(&emu, &["history", "-o", "json"]).json();
    let skipped: Vec<&serde_json::Value> = history["result"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["result"] == "skipped")
        .collect();
    assert_eq!(skipped.len(), 1, "{history:#}");
    assert!(
        skipped[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("the lease was found no longer ours")),
        "{history:#}"
    );
    // The statement that ran before is recorded as run, not left
    // "unknown" for the next run (its outcome was waiting for a batch).
    let executed: Vec<&serde_json::Value> = history["result"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "create_replica")
        .filter(|e| e["result"] == "executed")
        .collect();
    assert_eq!(executed.len(), 1, "{history:#}");
    let open = emu.query_one(
        "SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NULL AND error_message IS NULL",
    );
    assert_eq!(open.as_deref(), Some("0"), "{history:#}");
    // The next run acts, and the withdrawn intent is closed, not open.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("a").len() + emu.replicas("b").len(), 2);
    let open = emu.query_one(
        "SELECT count(*) FROM mz_cluster_strategy_actions WHERE executed IS NULL AND error_message IS NULL",
    );
    assert_eq!(open.as_deref(), Some("0"));
}

#[test]
fn a_run_whose_lease_was_broken_during_its_last_statement_does_not_report_success() {
    // Its last round trip (the outcome and the states) checks the lease
    // too: it wrote them and said "Applied", exit 0.
    let emu = Emulator::start();
    emu.create_cluster("a");
    init_tables(&emu);
    strategy(&emu, "a", "target_size", json!({"target_size": "25cc"}));
    let url = emu.url();
    emu.on_ddl(1, move |_| {
        let mut cmd = command();
        cmd.args(["unlock", "--force"]).env("DATABASE_URL", &url);
        assert_eq!(run_cmd(cmd).code, 0);
    });
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.all().contains("the lease was lost"), "{}", run.all());
    // What happened is recorded: the statement ran.
    assert_eq!(emu.replicas("a").len(), 1);
    let trail = audit(&emu, "a");
    assert_eq!(trail.len(), 1, "{trail:?}");
    assert!(trail[0].1, "executed: {trail:?}");
}

/// A cluster `c` on `r1` (25cc) under idle_suspend, idle for two hours.
fn idle_for_two_hours() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("c", 7200, true);
    emu
}

#[test]
fn a_suspension_killed_at_its_drop_still_knows_what_to_bring_back() {
    let emu = idle_for_two_hours();
    // Killed as its DROP goes out: the state that remembers r1 went with
    // the intent, before it (it used to be written at the end of the run).
    apply_killed_at(&emu, "DROP CLUSTER REPLICA", 1);
    let state = state_of(&emu, "c").expect("state written with the intent");
    assert_eq!(
        state["idle_suspend"]["suspended"][0]["name"], "r1",
        "{state}"
    );
    std::thread::sleep(Duration::from_secs(3));
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    // A user comes: the cluster wakes with what it ran.
    emu.add_activity("c", 5, false);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), ["r1"]);
}

/// A run's state write (a suspension's, with its first DROP's intent) held
/// past its attempt: the retry writes it, the run ends, an operator wipes
/// the state, and only then does the first write reach the server. It
/// writes nothing: the wiped state stays wiped (it came back).
#[test]
fn a_state_write_that_lands_after_a_wipe_changes_nothing() {
    let emu = idle_for_two_hours();
    // Late enough for the whole run and the wipe.
    let held = late_by(&emu, STATE_INSERT, Duration::from_secs(12));
    a_wipe_comes_before(&emu, held);
}

/// The same after a snapshot that took five attempts: the state write's
/// deadline counts from the attempt that answered. Counted from the first,
/// it was later by the failed attempts and the waits between them (here
/// more than 11 s), and a write held 11 s landed after the wipe.
#[test]
fn a_state_write_after_a_retried_snapshot_is_held_to_its_own_attempt() {
    let emu = idle_for_two_hours();
    for nth in 1..=4 {
        emu.stall_statement("SELECT now(), mz_catalog.mz_version()", nth);
    }
    let held = late_by(&emu, STATE_INSERT, Duration::from_secs(11));
    a_wipe_comes_before(&emu, held);
}

/// The statement of a run's state write.
const STATE_INSERT: &str =
    "\"mz_cluster_strategy_state\" (cluster_id, state_version, payload, updated_at) ";

/// An `apply` that suspends `c` (its state write `held`, retried), then a
/// `wipe-state` before the held write lands: the wiped state stays wiped.
fn a_wipe_comes_before(emu: &Emulator, held: crate::cli::Late) {
    let run = clusterctl_gives_up(emu, &["apply"]).ok();
    assert!(
        emu.replicas("c").is_empty() && run.stderr.contains("recording actions"),
        "{}",
        run.all()
    );
    clusterctl(emu, &["wipe-state", "--yes"]).ok();
    assert!(!held.arrived(emu), "wiped before it lands");
    held.landed(emu);
    assert_eq!(state_of(emu, "c"), None);
}

/// A DELETE that reaches the server in time but finds its deadline passed
/// (the server's clock stepped an hour forward while it was on its way)
/// deleted nothing because it was refused, not because there was nothing:
/// `wipe-state`, `strategy set` (the row it replaces) and `strategy rm`
/// retry it, with a deadline counted from the new time, and delete. They
/// used to say "0 rows" and leave the rows (`set`: the replaced row stayed
/// beside the new one).
#[test]
fn a_delete_refused_by_a_step_of_the_servers_clock_is_retried() {
    let emu = idle_for_two_hours();
    emu.install_clock();
    clusterctl(&emu, &["apply"]).ok();
    assert!(state_of(&emu, "c").is_some(), "the suspension left state");

    emu.advance_clock_before("DELETE FROM \"mz_cluster_strategy_state\"", 1, 3600);
    let wiped = clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    assert!(wiped.stdout.contains("(1 row deleted)"), "{}", wiped.all());
    assert_eq!(state_of(&emu, "c"), None);

    // `strategy set`'s DELETE of the row it replaces, after its INSERT
    // was written: the retry finds its row and deletes the old one.
    emu.advance_clock_before("DELETE FROM \"mz_cluster_strategies\"", 1, 3600);
    let set = [
        "strategy",
        "set",
        "c",
        "idle_suspend",
        "--idle-after-s",
        "120",
    ];
    let replaced = clusterctl(&emu, &set).ok();
    let rows = emu.query_strings("SELECT config::text FROM mz_cluster_strategies");
    assert_eq!(rows.len(), 1, "{rows:?}\n{}", replaced.all());
    assert!(
        replaced.stderr.contains("passed the write's deadline"),
        "{}",
        replaced.all()
    );

    emu.advance_clock_before("DELETE FROM \"mz_cluster_strategies\"", 1, 3600);
    let removed = clusterctl(&emu, &["strategy", "rm", "c"]).ok();
    assert!(
        removed
            .stdout
            .contains("Removed 1 strategy row (idle_suspend)"),
        "{}",
        removed.all()
    );
    let left = emu.query_strings("SELECT strategy_type FROM mz_cluster_strategies");
    assert!(left.is_empty(), "{left:?}\n{}", removed.all());
}

/// A run's state write that arrives in time but is refused by its deadline,
/// as the server's clock stepped forward on its way, is retried with a
/// deadline from the server's time after the step. The retry's deadline
/// used to come from the run's follow of the database's clock, which does
/// not see the step: refused again, and as a retry it said nothing, so the
/// state was lost (a suspension's: the replicas to bring back). The step
/// comes before a suspension's state, written with its intent, then
/// before a wake's, written at the end of the run.
#[test]
fn a_runs_state_write_refused_by_a_step_of_the_servers_clock_is_retried() {
    let emu = idle_for_two_hours();
    emu.install_clock();
    let refused_once = |run: &Run| {
        assert_eq!(
            run.stderr.matches("passed the write's deadline").count(),
            1,
            "{}",
            run.all()
        );
    };
    let versions = || emu.query_strings("SELECT updated_at::text FROM mz_cluster_strategy_state");
    // Past the write's deadline (the statement timeout, 30 s), not the
    // lease's expiry (its TTL, 60 s, renewed every 15 s).
    let step = || emu.advance_clock_before("INSERT INTO \"mz_cluster_strategy_state\"", 1, 40);

    step();
    let suspended = clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "{}", suspended.all());
    refused_once(&suspended);
    let state = state_of(&emu, "c").expect("the suspension's state");
    assert_eq!(
        state["idle_suspend"]["suspended"][0]["name"], "r1",
        "{state}"
    );
    let first = versions();
    assert_eq!(first.len(), 1, "{first:?}");
    // The intent went with the refused state: its retry wrote it once.
    let actions = emu.query_strings("SELECT action_id FROM mz_cluster_strategy_actions");
    assert_eq!(actions.len(), 1, "{actions:?}");

    emu.add_activity("c", 5, false);
    step();
    let woken = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), ["r1"], "{}", woken.all());
    refused_once(&woken);
    let second = versions();
    assert!(
        second.len() == 1 && second != first,
        "{first:?} then {second:?}"
    );
    let state = state_of(&emu, "c").expect("the wake's state");
    let idle = &state["idle_suspend"];
    assert!(
        idle["suspended_at"].is_null() && idle["resumed_at"].is_string(),
        "{state}"
    );
}

/// 501 clusters, `fleet_1` to `fleet_501` (one more than a chunk of a
/// write, 500), and the tables.
fn fleet_past_a_chunk() -> Emulator {
    let emu = Emulator::start();
    emu.seed_clusters(501, "fleet_");
    init_tables(&emu);
    emu
}

/// A run's state of more than one chunk (500 clusters) whose second INSERT
/// is refused by a step of the server's clock, after the first wrote its
/// rows: the retry is a retry (it writes only what is not there yet), so
/// no cluster's state is written twice. Without `Refused`'s `wrote` the
/// retry took itself for a first attempt and wrote the first 500 again.
#[test]
fn a_runs_state_refused_after_its_first_chunk_is_written_once() {
    let emu = fleet_past_a_chunk();
    // New clusters: each idle_suspend slot begins afresh and the run
    // writes it (`check_trail`), with no DDL, at the end of the run.
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT id, 'idle_suspend', '{\"idle_after_s\": 86400}'::jsonb, now() \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'",
    );
    emu.install_clock();
    emu.advance_clock_before("INSERT INTO \"mz_cluster_strategy_state\"", 2, 40);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        run.stderr.matches("passed the write's deadline").count(),
        1,
        "{}",
        run.all()
    );
    let counts = emu.query_strings(
        "SELECT count(*)::text, count(DISTINCT cluster_id)::text, \
         count(DISTINCT (cluster_id, updated_at))::text FROM mz_cluster_strategy_state",
    );
    let n = Some("501".to_string());
    assert_eq!(counts, [[n.clone(), n.clone(), n]], "{}", run.all());
}

/// A step of the server's clock past the lease's expiry, while a run's
/// intent is on its way, stops the run before its DDL: the round trip of
/// the intent finds the lease no longer ours, and the run says why (it
/// used to say another controller held it, though none did).
#[test]
fn a_step_of_the_servers_clock_past_the_lease_stops_the_run_before_its_ddl() {
    let emu = idle_for_two_hours();
    emu.install_clock();
    emu.advance_clock_before("INSERT INTO \"mz_cluster_strategy_actions\"", 1, 3600);
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains(
            "the lease was lost: it expired by the database's clock before a renewal reached it (or that clock stepped forward)"
        ),
        "{}",
        run.all()
    );
    assert_eq!(replica_names(&emu, "c"), ["r1"], "no DDL\n{}", run.all());
}

/// A `wipe-state` of more than one chunk of clusters (500) whose second
/// DELETE is refused by a step of the server's clock, after the first
/// deleted its rows: the retry cannot count what the first attempt
/// deleted, so it says "at least", as after a lost answer (it said the
/// retry's count as if exact).
#[test]
fn a_wipe_refused_after_its_first_chunk_counts_a_lower_bound() {
    let emu = fleet_past_a_chunk();
    emu.sql(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         SELECT id, 2, '{}'::jsonb, now() FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'",
    );
    emu.install_clock();
    emu.advance_clock_before("DELETE FROM \"mz_cluster_strategy_state\"", 2, 3600);
    let wiped = clusterctl(
        &emu,
        &[
            "wipe-state",
            "--yes",
            "--filter-clusters",
            "fleet_.*",
            "-o",
            "json",
        ],
    )
    .ok();
    let left = emu.query_strings("SELECT count(*)::text FROM mz_cluster_strategy_state");
    assert_eq!(left, [[Some("0".to_string())]], "{}", wiped.all());
    let result = &wiped.json()["result"];
    assert_eq!(result["retried"], true, "{result:#}");
    assert_eq!(result["rows_deleted"], 1, "{result:#}");
}

/// A `wipe-state` whose DELETE ran but whose answer was lost (the
/// connection cut after it) is retried, and the retry finds nothing left.
/// It used to say "0 rows deleted" and write no audit row: a wipe that
/// `history` never showed. Now both say it was retried and count a lower
/// bound.
#[test]
fn a_wipe_whose_answer_was_lost_is_still_audited() {
    let emu = idle_for_two_hours();
    clusterctl(&emu, &["apply"]).ok();
    assert!(state_of(&emu, "c").is_some(), "the suspension left state");

    emu.cut_after_statement("DELETE FROM \"mz_cluster_strategy_state\"", 1);
    let wiped = clusterctl(&emu, &["wipe-state", "--yes", "-o", "json"]).ok();
    assert_eq!(state_of(&emu, "c"), None);
    let result = &wiped.json()["result"];
    assert_eq!(result["rows_deleted"], 0, "{result:#}");
    assert_eq!(result["retried"], true, "{result:#}");
    assert_eq!(result["audited"], true, "{result:#}");

    let history = clusterctl(&emu, &["history"]).ok();
    assert!(
        history
            .stdout
            .contains("deleted at least 0 state rows of all clusters (by ")
            && history.stdout.contains("an attempt before lost its answer"),
        "{}",
        history.all()
    );
}

#[test]
fn demand_on_a_suspended_cluster_whose_state_was_wiped_wakes_it_with_what_it_last_dropped() {
    let emu = idle_for_two_hours();
    // `other` never ran a replica this controller dropped: the trail has
    // nothing for it.
    emu.create_cluster("other");
    strategy(&emu, "other", "idle_suspend", json!({"idle_after_s": 60}));
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    assert!(state_of(&emu, "c").is_none(), "wiped");
    emu.add_activity("c", 5, false);
    emu.add_activity("other", 5, false);
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let of = |name: &str| {
        plan["result"]["plan"]["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["cluster"] == name))
            .cloned()
            .unwrap_or_default()
    };
    let c = of("c");
    assert_eq!(c["actions"][0]["kind"], "create_replica", "{c:#}");
    assert_eq!(c["actions"][0]["replica"], "r1", "{c:#}");
    assert_eq!(c["actions"][0]["size"], "25cc", "{c:#}");
    let why = c["actions"][0]["reasons"][0].as_str().unwrap_or_default();
    assert!(
        why.contains("state was wiped; waking with r1 (25cc) as the last suspension dropped, by ")
            && why.contains("per the audit trail"),
        "{c:#}"
    );
    assert_eq!(c["alerts"], json!([]), "{c:#}");
    // Nothing in the trail for `other`: still an alert.
    let other = of("other");
    assert_eq!(other["actions"], json!([]), "{other:#}");
    assert!(
        other["alerts"]
            .to_string()
            .contains("remembers nothing to bring back"),
        "{other:#}"
    );
    let status = clusterctl(&emu, &["status", "--output", "json"])
        .ok()
        .json();
    let reason = status["result"]["clusters"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["cluster"] == "other" || c["name"] == "other")
        })
        .map(|c| c["reason"].to_string())
        .unwrap_or_default();
    assert!(
        reason.contains("remembers nothing to bring back"),
        "not 'a new statement brings them back': {status:#}"
    );
    // Applied: the replica it ran is back, audited with where it came from.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
    let (sql, ok, _) = audit(&emu, "c").pop().expect("the create's row");
    assert!(sql.starts_with("CREATE CLUSTER REPLICA") && ok, "{sql}");
    assert!(emu.replicas("other").is_empty());
}

/// `c` on r1 (25cc), r_50cc and r_100cc, all hydrated, under target_size
/// 100cc: the plan retires r1, then r_50cc.
fn two_retirements() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    for (r, size) in [("r_50cc", "50cc"), ("r_100cc", "100cc")] {
        emu.add_replica("c", r, size);
        emu.set_hydrated("c", r, true);
    }
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "100cc"}));
    emu
}

/// [`two_retirements`] after a run the guard stopped after its first drop,
/// saying `why`: r_50cc is still there.
fn kept_the_serving_replica(emu: &Emulator, run: &Run, why: &str) {
    let mut left = replica_names(emu, "c");
    left.sort();
    assert_eq!(left, ["r_100cc", "r_50cc"], "{}", run.all());
    assert!(run.all().contains(why), "{}", run.all());
}

/// `replica` of `c` stops serving as the first statement reaches the
/// server.
fn stops_serving_at_the_first_statement(emu: &Emulator, replica: &str) {
    let direct = emu.direct_url();
    let id = emu.replica_id("c", replica);
    emu.on_ddl(1, move |_| {
        let mut db = postgres::Client::connect(&direct, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting: {e}"));
        db.execute("SELECT mz_emulator.set_hydrated($1, false)", &[&id])
            .unwrap_or_else(|e| panic!("set_hydrated: {e}"));
    });
}

/// The new replica is OOM-killed while the first of two drops runs: the
/// second drop, of the replica still serving, must not go out (the plan
/// guard read the replicas before the first statement only, and the
/// cluster was left with nothing hydrated, exit 0).
#[test]
fn a_replica_that_stops_serving_during_a_drop_keeps_the_one_still_serving() {
    let emu = two_retirements();
    stops_serving_at_the_first_statement(&emu, "r_100cc");
    let run = clusterctl(&emu, &["apply"]);
    kept_the_serving_replica(
        &emu,
        &run,
        "a replica the plan counted on to serve stopped serving",
    );
    // The drop that ran is reported once, executed; the other once,
    // skipped (the first was listed again as skipped, and counted).
    assert!(
        run.stdout.contains("Applied 1 of 2 actions"),
        "{}",
        run.all()
    );
    let skips = run
        .stdout
        .lines()
        .filter(|l| l.contains(": skipped:"))
        .count();
    assert_eq!(skips, 1, "{}", run.all());
}

/// The guard withdraws a drop with more of the cluster's drops after it:
/// its audit row says how many were not begun (the trail had one withdrawn
/// row where `apply` said three skipped: an outside check).
#[test]
fn a_withdrawn_intent_says_how_many_actions_after_it_were_not_begun() {
    let emu = three_retirements();
    stops_serving_at_the_first_statement(&emu, "r_50cc");
    let run = clusterctl(&emu, &["apply"]);
    assert!(
        run.stdout.contains("Applied 1 of 3 actions"),
        "{}",
        run.all()
    );
    let history = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let withdrawn: Vec<&str> = history["result"]["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|r| r["result"] == "skipped")
                .filter_map(|r| r["error"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(withdrawn.len(), 1, "{history:#}");
    assert!(
        withdrawn[0].starts_with("not attempted: a replica the plan counted on to serve")
            && withdrawn[0].ends_with("; the cluster's 1 action after it was not begun"),
        "{history:#}"
    );
}

/// `strategy pause` while a run acts on the cluster: the run sends it no
/// further DDL (it went on dropping replicas after the pause was
/// confirmed).
#[test]
fn a_pause_during_a_run_stops_its_next_statement_to_the_cluster() {
    let emu = two_retirements();
    let url = emu.url();
    emu.on_ddl(1, move |_| {
        let mut cmd = command();
        cmd.args(["strategy", "pause", "c", "--reason", "incident"])
            .env("DATABASE_URL", &url);
        let run = run_cmd(cmd);
        assert_eq!(run.code, 0, "{}", run.all());
    });
    let run = clusterctl(&emu, &["apply"]);
    kept_the_serving_replica(
        &emu,
        &run,
        "the cluster's strategy rows changed since the plan was made",
    );
    // Withdrawn, with why, in the audit trail.
    let history = clusterctl(&emu, &["history", "-o", "json"]).json();
    let skipped = history["result"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["result"] == "skipped")
        .count();
    assert_eq!(skipped, 1, "{history:#}");
    // Paused: the next run leaves it alone.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c").len(), 2);
}

/// A config changed by SQL during a run, `updated_at` kept: the guard
/// sees it as it sees `strategy set` (it compared the rows' count and
/// newest `updated_at` only).
#[test]
fn a_config_changed_by_sql_during_a_run_stops_its_next_statement() {
    let emu = two_retirements();
    let direct = emu.direct_url();
    let id = emu.cluster_id("c");
    emu.on_ddl(1, move |_| {
        let mut db = postgres::Client::connect(&direct, postgres::NoTls)
            .unwrap_or_else(|e| panic!("connecting: {e}"));
        let changed = db
            .execute(
                "UPDATE mz_cluster_strategies SET config = '{\"target_size\": \"50cc\"}' \
                 WHERE cluster_id = $1",
                &[&id],
            )
            .unwrap_or_else(|e| panic!("update: {e}"));
        assert_eq!(changed, 1);
    });
    let run = clusterctl(&emu, &["apply"]);
    kept_the_serving_replica(
        &emu,
        &run,
        "the cluster's strategy rows changed since the plan was made",
    );
}

/// A suspension that took two runs (`--max-actions 1`), then its state
/// wiped: the wake brings back what both runs dropped (it read the newest
/// run's drops only, and r1 never came back).
#[test]
fn a_wiped_suspension_made_in_two_runs_wakes_with_all_it_dropped() {
    let emu = idle_for_two_hours();
    emu.add_replica("c", "r2", "100cc");
    emu.set_hydrated("c", "r2", true);
    clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert_eq!(emu.replicas("c").len(), 1, "one dropped");
    clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    emu.add_activity("c", 5, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "25cc"), ("r2", "100cc")]),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("per the audit trail"), "{}", run.all());
}

/// A wake from the trail (the state wiped) spread over runs
/// (`--max-actions 1`): the runs after the first bring back the rest (an
/// outside check found them forgotten: the cluster kept one of its
/// replicas, with demand waiting).
#[test]
fn a_wiped_suspension_woken_over_several_runs_brings_back_all_it_dropped() {
    let emu = idle_for_two_hours();
    emu.add_replica("c", "r2", "100cc");
    emu.set_hydrated("c", "r2", true);
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    emu.add_activity("c", 5, false);
    clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert_eq!(emu.replicas("c").len(), 1, "one created");
    // The run after it writes the slot afresh (a run whose actions were
    // not all done writes no state), the one after reads the trail.
    let mut said = String::new();
    for _ in 0..2 {
        said.push_str(&clusterctl(&emu, &["apply"]).ok().all());
    }
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "25cc"), ("r2", "100cc")]),
        "{said}"
    );
    assert!(
        said.contains("completing the resume after suspension"),
        "{said}"
    );
}

/// `c` idle on r1 (25cc) and r2 (100cc), its suspension held back after
/// one drop (`--max-actions 1`), then its state wiped: half suspended.
fn half_suspended_then_wiped() -> Emulator {
    let emu = idle_for_two_hours();
    emu.add_replica("c", "r2", "100cc");
    emu.set_hydrated("c", "r2", true);
    clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert_eq!(emu.replicas("c").len(), 1, "one dropped");
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    emu
}

/// A suspension spread over two runs whose state was wiped between them:
/// the wake brings back what both dropped (the second run remembered only
/// its own drop, and the replica the first dropped never came back).
#[test]
fn a_suspension_wiped_between_its_runs_wakes_with_all_it_dropped() {
    let emu = half_suspended_then_wiped();
    clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu.add_activity("c", 5, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "25cc"), ("r2", "100cc")]),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("per the audit trail"), "{}", run.all());
}

/// Demand on a cluster left half suspended whose state was wiped: the
/// replica the suspension dropped comes back (nothing was remembered, and
/// the replica still running hid that the cluster was half suspended). The
/// trail is read by the run after the one that first sees the empty state.
#[test]
fn demand_on_a_half_suspended_cluster_whose_state_was_wiped_brings_back_what_went() {
    let emu = half_suspended_then_wiped();
    emu.add_activity("c", 5, false);
    clusterctl(&emu, &["apply"]).ok();
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "25cc"), ("r2", "100cc")]),
        "{}",
        run.all()
    );
    assert!(
        run.stdout.contains("state was wiped") && run.stdout.contains("still running"),
        "{}",
        run.all()
    );
    // Read once: the runs after it do not scan the trail again.
    emu.clear_sql_log();
    clusterctl(&emu, &["apply"]).ok();
    let scans = emu.logged("WITH drops AS").len();
    assert_eq!(scans, 0, "{:?}", emu.sql_log());
}

/// `apply --audit-retention` keeps a cluster's last suspension however
/// old: suspended for longer than the retention, its state then wiped, it
/// still wakes with what it ran (the pruning deleted the drops, and demand
/// met an alert).
#[test]
fn audit_retention_keeps_a_long_suspension_to_wake_with() {
    let emu = idle_for_two_hours();
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    prune_100_days_back(&emu);
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    emu.add_activity("c", 5, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]), "{}", run.all());
    assert!(run.stdout.contains("per the audit trail"), "{}", run.all());
}

/// What a pruning keeps of a suspension includes the creation that woke
/// the cluster after it: without it the trail would show the suspension
/// as still under way, and a wiped state would be given replicas that ran
/// before the wake.
#[test]
fn audit_retention_keeps_the_wake_after_the_last_suspension() {
    let emu = idle_for_two_hours();
    clusterctl(&emu, &["apply"]).ok();
    emu.add_activity("c", 5, false);
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), ["r1"], "woken");
    prune_100_days_back(&emu);
    let kinds: Vec<String> = crate::cli::audit_ctx(&emu, "c")
        .iter()
        .filter_map(|c| c["kind"].as_str().map(str::to_string))
        .collect();
    assert_eq!(kinds, ["drop_replica", "create_replica"]);
}

/// Moves `c`'s audit trail 100 days back, adds three rows of an older run
/// there (a drop of `target_size`'s), and prunes with
/// `--audit-retention 30d`: those three go.
fn prune_100_days_back(emu: &Emulator) {
    emu.sql("UPDATE mz_cluster_strategy_actions SET created_at = created_at - INTERVAL '100 days'");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions \
         SELECT md5(random()::text || g), {}, 'DROP CLUSTER REPLICA c.old', \
                '{{\"kind\": \"drop_replica\", \"strategy\": \"target_size\", \
                   \"reasons\": [\"a past run\"]}}', true, NULL, now() - INTERVAL '101 days' \
         FROM generate_series(1, 3) g",
        lit(&emu.cluster_id("c"))
    ));
    let run = clusterctl(emu, &["apply", "--audit-retention", "30d"]).ok();
    assert!(
        run.stdout.contains("Pruned 3 settled audit rows"),
        "{}",
        run.all()
    );
}

/// `apply --plan FILE` acts only as the saved dry-run said: the same
/// statements, in their order. A plan the region no longer calls for (a
/// row changed since) does nothing, writes nothing, exits 1 and says what
/// differs; one that still holds runs. A file that is no saved plan is
/// refused before connecting.
#[test]
fn a_saved_plan_is_applied_only_as_it_was_reviewed() {
    let emu = Emulator::start();
    for name in ["a", "b"] {
        emu.create_cluster(name);
        emu.add_replica(name, "r1", "25cc");
    }
    init_tables(&emu);
    for name in ["a", "b"] {
        strategy(
            &emu,
            name,
            "target_size",
            json!({"target_size": "50cc", "replica_name": "r_50cc"}),
        );
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("plan.json");
    let save = || {
        let run = clusterctl(&emu, &["dry-run", "--cluster", "a", "-o", "json"]).ok();
        std::fs::write(&file, &run.stdout).expect("save the plan");
        run
    };
    let path = file.to_string_lossy().into_owned();
    save();

    // The row changed after the review: the saved plan is stale.
    emu.sql(&format!(
        "UPDATE mz_cluster_strategies SET config = '{{\"target_size\": \"100cc\", \
         \"replica_name\": \"r_100cc\"}}', updated_at = now() WHERE cluster_id = {}",
        lit(&emu.cluster_id("a"))
    ));
    emu.reset_stats();
    let stale = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    for needle in [
        "nothing was done",
        "planned now, not saved: CREATE CLUSTER REPLICA \"a\".\"r_100cc\" (SIZE = '100cc') (cluster a)",
        "saved, not planned now: CREATE CLUSTER REPLICA \"a\".\"r_50cc\" (SIZE = '50cc') (cluster a)",
    ] {
        assert!(stale.stderr.contains(needle), "{needle}:\n{}", stale.all());
    }
    assert_eq!(emu.stats().ddl, 0, "{:?}", emu.sql_log());
    assert_eq!(replica_names(&emu, "a"), vec!["r1"]);
    assert!(audit(&emu, "a").is_empty(), "nothing audited");
    assert_eq!(state_of(&emu, "a"), None, "no state written");
    let json = clusterctl(&emu, &["apply", "--plan", &path, "-o", "json"])
        .code(1)
        .json();
    assert_eq!(json["error"]["code"], "stale_plan", "{json}");
    // Another selection than the plan's: refused, and it says why first
    // (it led with "not what the region calls for now").
    let other = clusterctl(&emu, &["apply", "--plan", &path, "--cluster", "b"]).code(1);
    let a = emu.cluster_id("a");
    let first = other.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: the plan saved ")
            && first.contains(&format!(
                "has statements for cluster a ({a}), which --cluster b leaves out; nothing was \
                 done. Apply it without --cluster or --filter-clusters"
            )),
        "{}",
        other.all()
    );
    assert!(
        !other.stderr.contains("not what the region"),
        "{}",
        other.all()
    );
    assert_eq!(replica_names(&emu, "b"), vec!["r1"]);

    // Saved again (`--out`, beside the plan's text) and reviewed: it runs,
    // exactly that, on the clusters it covered only (b's own change was
    // not reviewed).
    let saved = clusterctl(&emu, &["dry-run", "--cluster", "a", "--out", &path]).ok();
    assert!(
        saved.stdout.contains("+ create replica r_100cc (100cc)"),
        "{}",
        saved.all()
    );
    assert!(
        saved.stderr.contains(&format!(
            "note: saved the plan to {path}: `clusterctl apply --plan {path}`"
        )),
        "{}",
        saved.all()
    );
    // What the file says an action does, edited ("drop r1" over its
    // CREATE, for an approver reading the JSON): refused, nothing done
    // (only the statements were compared: an outside check). A reason
    // may say another time, and is not compared.
    let reviewed = std::fs::read_to_string(&file).expect("read the plan");
    let mut doc: serde_json::Value = serde_json::from_str(&reviewed).expect("JSON");
    let action = &mut doc["result"]["plan"]["clusters"][0]["actions"][0];
    action["kind"] = json!("drop_replica");
    action["replica"] = json!("r1");
    std::fs::write(&file, doc.to_string()).expect("write");
    let edited = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    assert!(
        edited
            .stderr
            .contains("the file was edited; nothing was done"),
        "{}",
        edited.all()
    );
    assert_eq!(replica_names(&emu, "a"), vec!["r1"]);
    // Another controller holds the lease: the reviewed plan did not run,
    // exit 1 (it was a busy run's 0, and a CI step went on as deployed).
    std::fs::write(&file, &reviewed).expect("write");
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'other-host:1:run', \
         expires_at = now() + interval '10 minutes'",
    );
    let busy = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    assert!(
        busy.stderr.contains("another controller holds the lease"),
        "{}",
        busy.all()
    );
    emu.sql("UPDATE clusterctl_lease SET holder = '', expires_at = now() - interval '1 second'");
    let mut doc: serde_json::Value = serde_json::from_str(&reviewed).expect("JSON");
    doc["result"]["plan"]["clusters"][0]["actions"][0]["reasons"] = json!(["approved"]);
    std::fs::write(&file, doc.to_string()).expect("write");
    let run = clusterctl(&emu, &["apply", "--plan", &path]).ok();
    assert!(run.stdout.contains("Applied 1 of 1"), "{}", run.all());
    assert_eq!(replica_names(&emu, "a"), vec!["r1", "r_100cc"]);
    assert_eq!(
        replica_names(&emu, "b"),
        vec!["r1"],
        "not in the saved plan"
    );
    // The next step (dropping r1 once r_100cc hydrates) was not in it.
    let sqls = || {
        let run = clusterctl(&emu, &["apply", "--plan", &path]);
        assert_eq!(run.code, 1, "{}", run.all());
        run.stderr
    };
    emu.set_hydrated("a", "r_100cc", true);
    assert!(
        sqls().contains("planned now, not saved: DROP CLUSTER REPLICA \"a\".\"r1\""),
        "the drop was never reviewed"
    );

    // A file that is no saved plan: refused before connecting.
    std::fs::write(&file, "password=hunter2").expect("write");
    let bad = clusterctl(&emu, &["apply", "--plan", &path]).code(64);
    assert!(
        bad.stderr.contains("not the JSON of `dry-run -o json`"),
        "{}",
        bad.all()
    );
    assert!(!bad.all().contains("hunter2"), "{}", bad.all());
    let status = clusterctl(&emu, &["status", "-o", "json"]).ok();
    std::fs::write(&file, &status.stdout).expect("write");
    let other = clusterctl(&emu, &["apply", "--plan", &path]).code(64);
    assert!(
        other.stderr.contains("the output of `status`"),
        "{}",
        other.all()
    );
    let watch = clusterctl(&emu, &["apply", "--plan", &path, "--watch"]).code(64);
    assert!(
        watch.stderr.contains("cannot be used with"),
        "{}",
        watch.all()
    );
    // A plan that could not be saved: refused before connecting.
    let nowhere = dir.path().join("no-such-dir").join("plan.json");
    let nowhere = nowhere.to_string_lossy().into_owned();
    let unsaved = clusterctl(&emu, &["dry-run", "--out", &nowhere]).code(1);
    assert!(
        unsaved.stderr.contains("does not exist"),
        "{}",
        unsaved.all()
    );
    // A connection string given as the file: the refusal names its
    // directory, password masked there too.
    for output in ["text", "json"] {
        let url = clusterctl(
            &emu,
            &[
                "dry-run",
                "--out",
                "postgres://u:hunter2@h/db",
                "-o",
                output,
            ],
        )
        .code(1);
        assert!(url.all().contains("u:****@h"), "{}", url.all());
        assert!(!url.all().contains("hunter2"), "{}", url.all());
    }
    // A plan reviewed for one region is never applied to another, though
    // its cluster ids, names and statements are the same there.
    emu.sql(&format!(
        "UPDATE mz_cluster_strategies SET config = '{{\"target_size\": \"50cc\", \
         \"replica_name\": \"r_50cc\"}}', updated_at = now() WHERE cluster_id = {}",
        lit(&emu.cluster_id("a"))
    ));
    clusterctl(&emu, &["dry-run", "--cluster", "a", "--out", &path]).ok();
    let saved_for = std::fs::read_to_string(&file).expect("the saved plan");
    assert!(
        saved_for.contains("\"environment_id\": \"mzemulator-"),
        "{saved_for}"
    );
    emu.set_setting("environment_id", "mzcloud-aws-eu-west-1-other-0");
    emu.reset_stats();
    let elsewhere = clusterctl(&emu, &["apply", "--plan", &path]).code(1);
    assert!(
        elsewhere
            .stderr
            .contains("the plan was saved for environment mzemulator-")
            && elsewhere
                .stderr
                .contains("and this is mzcloud-aws-eu-west-1-other-0; nothing was done"),
        "{}",
        elsewhere.all()
    );
    assert_eq!(emu.stats().ddl, 0, "{:?}", emu.sql_log());
}

/// `strategy set c target_size --target-size 50cc`: the strategies want
/// the size whose replica a late DROP names.
fn wants_50cc(emu: &Emulator) {
    let set = [
        "strategy",
        "set",
        "c",
        "target_size",
        "--target-size",
        "50cc",
    ];
    clusterctl(emu, &set).ok();
}

/// Cluster `c` with hydrated `r_50cc` and `r_<size>`, `target_size` at
/// `size`: an `apply` that gives up (2 s deadline) on its DROP of
/// `r_50cc`, which reaches the server 15 s after it is sent.
fn a_drop_of_r_50cc_given_up_on(size: &str) -> (Emulator, crate::cli::Late) {
    let (emu, held, run) = a_late_drop_of_r_50cc(size, "0");
    assert_eq!(run.code, 3, "{}", run.all());
    (emu, held)
}

/// [`a_drop_of_r_50cc_given_up_on`] with `retries` (`--max-retries`).
fn a_late_drop_of_r_50cc(size: &str, retries: &str) -> (Emulator, crate::cli::Late, Run) {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_50cc", "50cc");
    let other = format!("r_{size}");
    emu.add_replica("c", &other, size);
    emu.set_hydrated("c", &other, true);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": size}));
    let held = late_by(
        &emu,
        r#"DROP CLUSTER REPLICA "c"."r_50cc""#,
        Duration::from_secs(15),
    );
    let run = clusterctl_gives_up(&emu, &["apply", "--max-retries", retries]);
    (emu, held, run)
}

/// A DROP whose run gave up on it (its deadline passed, the answer never
/// came) reaches the server late: settled as not run at its deadline, the
/// next run, asked for that replica's size again, dropped the other, and
/// the late DROP left the cluster with none (an outside check with a relay
/// that held it). The other replica's drop now waits until the late one
/// cannot land any more; the cluster keeps a replica throughout.
#[test]
fn a_drop_that_lands_late_never_leaves_the_cluster_without_a_replica() {
    let (emu, held) = a_drop_of_r_50cc_given_up_on("25cc");
    // Past its deadline (2 s), before it lands: the strategies want 50cc
    // again, which would retire r_25cc.
    std::thread::sleep(Duration::from_secs(3));
    wants_50cc(&emu);
    let run = clusterctl(&emu, &["apply"]);
    assert!(
        !run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."r_25cc""#)
            && run.stdout.contains("may still reach the server"),
        "{}",
        run.all()
    );
    held.landed(&emu);
    assert_eq!(replica_names(&emu, "c"), ["r_25cc"], "a replica is left");
    // Once it landed (the catalog shows it), it ran: settled so, and the
    // strategies go on: r_50cc is made again.
    clusterctl(&emu, &["apply"]).ok();
    assert!(replica_names(&emu, "c").contains(&"r_50cc".to_string()));
    let outcome = emu.query_one(
        "SELECT executed::text FROM mz_cluster_strategy_actions \
         WHERE action_sql LIKE 'DROP CLUSTER REPLICA \"c\".\"r_50cc\"%'",
    );
    assert_eq!(outcome.as_deref(), Some("true"));
}

/// A suspension's DROP run by a retry after an attempt without an answer;
/// users come, and the wake is made at once (said); then the first
/// attempt reaches the server and empties the cluster again. idle_suspend,
/// its resume done, remembered nothing to wake with and alerted "demand
/// but no replica" until someone made one by hand (the thirty-ninth
/// session's outside check): the next run wakes it again, saying why.
#[test]
fn a_wake_undone_by_a_late_drop_is_made_again_while_users_wait() {
    // Every statement logged, and shown at once: the wake comes before
    // the first attempt lands.
    let emu = Emulator::builder()
        .statement_sample_rate(1.0, 1.0)
        .statement_log_flush_delay(Duration::ZERO)
        .start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    let held = late_by(
        &emu,
        r#"DROP CLUSTER REPLICA "c"."r1""#,
        Duration::from_secs(15),
    );
    let run = clusterctl_gives_up(&emu, &["apply", "--max-retries", "1"]);
    assert!(emu.replicas("c").is_empty(), "suspended: {}", run.all());
    assert!(!held.arrived(&emu), "the first attempt is on its way");
    // A user's statement waits: the wake is made at once.
    emu.add_activity("c", 0, false);
    let wake = clusterctl(&emu, &["apply", "-v"]).ok();
    assert!(
        wake.stdout
            .contains("is made now though a DROP of that name"),
        "{}\n---\n{}",
        run.all(),
        wake.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
    held.landed(&emu);
    assert!(emu.replicas("c").is_empty(), "the late DROP emptied it");
    let again = clusterctl(&emu, &["apply"]).ok();
    assert!(
        again
            .stdout
            .contains("resume again: r1 (25cc) brought back by the wake at")
            && !again.all().contains("remembers nothing to bring back"),
        "{}",
        again.all()
    );
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]));
}

/// Runs `stmt` (the DROP the proxy is about to forward) through the proxy
/// first, as a killed run's DROP of the same replica landing just before
/// ours would: ours then finds the replica gone.
fn dropped_first(emu: &Emulator) {
    let url = emu.url();
    emu.on_ddl(1, move |stmt| as_materialize_takes_it(&url, stmt));
}

/// Runs `sql` through the proxy at `url` (from a hook, which has no
/// `Emulator`), as an operator's psql would.
fn as_materialize_takes_it(url: &str, sql: &str) {
    let mut mz =
        postgres::Client::connect(url, postgres::NoTls).unwrap_or_else(|e| panic!("connect: {e}"));
    mz.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A DROP that finds its replica gone when it reaches the server (a killed
/// run's DROP of it landed first, or someone dropped it after the plan's
/// check) failed, exit 3, and `ClusterctlActionsFailing` could fire,
/// though the replica was gone as planned (the forty-first session's
/// outside check). It is recorded as not run, said "already gone", and
/// the cluster's other actions go on; it holds nothing back later.
#[test]
fn a_drop_whose_replica_is_already_gone_is_not_a_failure() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    for (r, size) in [("r_50cc", "50cc"), ("r_100cc", "100cc")] {
        emu.add_replica("c", r, size);
        emu.set_hydrated("c", r, true);
    }
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    dropped_first(&emu);
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains(": skipped: already gone when its DROP reached the server")
            && !run.all().contains("FAILED"),
        "{}",
        run.all()
    );
    // The second DROP went on in the same run.
    assert_eq!(replica_names(&emu, "c"), ["r_25cc"], "{}", run.all());
    let history = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let results: Vec<&str> = history["result"]["entries"]
        .as_array()
        .map(|e| e.iter().filter_map(|r| r["result"].as_str()).collect())
        .unwrap_or_default();
    let mut sorted = results.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["executed", "skipped"], "{history:#}");
    let failed = clusterctl(&emu, &["history", "--failed", "-o", "json"])
        .ok()
        .json();
    assert_eq!(
        failed["result"]["entries"].as_array().map(Vec::len),
        Some(0),
        "{failed:#}"
    );
    // Nothing is held back, nothing left to do.
    let again = clusterctl(&emu, &["apply"]).ok();
    assert!(again.stdout.starts_with("No changes."), "{}", again.all());
}

/// Cluster `c` serving on its new `r_50cc`, `target_size` 50cc: the run
/// drops r1, r2 and r3 (25cc).
fn three_retirements() -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_50cc", "50cc");
    for r in ["r1", "r2", "r3"] {
        emu.add_replica("c", r, "25cc");
        emu.set_hydrated("c", r, true);
    }
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    emu
}

/// A replica the run is about to drop, dropped by hand while an earlier
/// drop of the same retirement runs: the rest of the retirement goes on
/// (the new replica still serves), and its own DROP finds it gone. The
/// guard took it for a replica that stopped serving and held the other
/// drops back a run, and the "already gone" line was printed twice (an
/// outside check).
#[test]
fn a_replica_dropped_by_hand_during_a_retirement_does_not_hold_the_rest_back() {
    let emu = three_retirements();
    let url = emu.url();
    emu.on_ddl(1, move |stmt| {
        // Another of the replicas the run drops, not this statement's.
        let other = ["r1", "r2", "r3"]
            .into_iter()
            .find(|r| !stmt.contains(&format!("\"{r}\"")))
            .unwrap_or("r3");
        as_materialize_takes_it(&url, &format!("DROP CLUSTER REPLICA c.{other}"));
    });
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), ["r_50cc"], "{}", run.all());
    assert!(!run.stdout.contains("stopped serving"), "{}", run.all());
    let gone = run
        .stdout
        .lines()
        .filter(|l| l.contains(": skipped: already gone"))
        .count();
    assert_eq!(gone, 1, "said once: {}", run.all());
}

/// A suspension whose first DROP finds its replica gone: the other is
/// dropped in the same run, and the state written with the first intent
/// stays (it was put back as for a failure): the wake brings back both.
#[test]
fn a_suspension_whose_first_drop_finds_it_gone_remembers_both_replicas() {
    // Every statement logged, and shown at once: the user's wakes it.
    let emu = Emulator::builder()
        .statement_sample_rate(1.0, 1.0)
        .statement_log_flush_delay(Duration::ZERO)
        .start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_replica("c", "r2", "50cc");
    emu.set_hydrated("c", "r2", true);
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    dropped_first(&emu);
    let run = clusterctl(&emu, &["apply"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(emu.replicas("c").is_empty(), "suspended: {}", run.all());
    assert!(run.stdout.contains("already gone"), "{}", run.all());
    emu.add_activity("c", 0, false);
    let wake = clusterctl(&emu, &["apply"]).ok();
    let mut back = emu.replicas("c");
    back.sort();
    assert_eq!(
        back,
        pairs(&[("r1", "25cc"), ("r2", "50cc")]),
        "{}",
        wake.all()
    );
}

/// A late DROP names its cluster by name: after `ALTER CLUSTER c SWAP WITH
/// c_green` (a blue/green deploy) it lands on the cluster now named `c`,
/// which nothing held: the next run dropped that one's other replica and
/// the late DROP left it with none (the thirty-fourth session's outside
/// re-check). The cluster bearing the name is held too.
#[test]
fn a_late_drop_after_a_swap_never_leaves_the_cluster_of_its_name_without_a_replica() {
    let (emu, held) = a_drop_of_r_50cc_given_up_on("25cc");
    emu.create_hydrated_cluster("c_green", "r_50cc", "50cc");
    emu.add_replica("c_green", "r_25cc", "25cc");
    emu.set_hydrated("c_green", "r_25cc", true);
    strategy(
        &emu,
        "c_green",
        "target_size",
        json!({"target_size": "50cc"}),
    );
    emu.through_the_proxy("ALTER CLUSTER c SWAP WITH c_green");
    r_25cc_is_held_until_the_late_drop_lands(&emu, held);
}

/// `sql` as a client of Materialize sends it.
/// Past the given-up DROP's deadline (2 s), before it lands: the cluster
/// now named `c` wants 50cc, which would retire `r_25cc`; held, it is the
/// replica left once the late DROP of `r_50cc` lands.
fn r_25cc_is_held_until_the_late_drop_lands(emu: &Emulator, held: crate::cli::Late) {
    std::thread::sleep(Duration::from_secs(3));
    let run = clusterctl(emu, &["apply"]);
    assert!(
        !run.stdout.contains(r#"DROP CLUSTER REPLICA "c"."r_25cc""#)
            && run.stdout.contains("may still reach the server"),
        "{}",
        run.all()
    );
    held.landed(emu);
    assert_eq!(replica_names(emu, "c"), ["r_25cc"], "a replica is left");
}

/// A late DROP whose own cluster was dropped, and a cluster made again
/// under its name: the row was taken for run (its cluster gone) and
/// settled, nothing held the new cluster, the next run dropped its other
/// replica and the late DROP emptied it (the thirty-fifth session's outside
/// re-check; a blue/green swap followed by a drop of the old cluster is
/// the same).
#[test]
fn a_late_drop_whose_cluster_was_dropped_never_empties_the_one_made_under_its_name() {
    let (emu, held) = a_drop_of_r_50cc_given_up_on("25cc");
    emu.through_the_proxy("DROP CLUSTER c CASCADE");
    emu.create_hydrated_cluster("c", "r_50cc", "50cc");
    emu.add_replica("c", "r_25cc", "25cc");
    emu.set_hydrated("c", "r_25cc", true);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    r_25cc_is_held_until_the_late_drop_lands(&emu, held);
}

/// A state version written before a backward step of the server's clock
/// is dated in its future: it stayed the newest, and every state written
/// after the step was ignored until the clock caught up (an outside check
/// stepped it 10 minutes back). The next write deletes it with the older
/// versions.
#[test]
fn a_state_dated_in_the_servers_future_is_replaced_by_the_next_write() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let id = emu.cluster_id("c");
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_state (cluster_id, state_version, payload, updated_at) \
         VALUES ({}, 2, '{{\"stale\": true}}'::jsonb, now() + INTERVAL '601 seconds')",
        lit(&id)
    ));
    clusterctl(&emu, &["apply"]).ok();
    let rows: Vec<serde_json::Value> = crate::cli::states(&emu)
        .into_iter()
        .filter(|(c, v, _)| *c == id && *v == 2)
        .map(|(_, _, p)| p)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].get("stale").is_none(), "{rows:?}");
    assert!(rows[0]["_controller"]["first_seen"].is_string(), "{rows:?}");
}

/// The late DROP's replica dropped meanwhile by a later drop of ours
/// (which succeeded: the first had not run): made again under its name,
/// it was dropped by the late DROP when that landed, and the next run had
/// dropped the other replica: no replica left (the outside re-check).
/// While the DROP may land, a replica of its name is not made again.
#[test]
fn a_replica_is_not_made_again_under_the_name_a_late_drop_names() {
    let (emu, held) = a_drop_of_r_50cc_given_up_on("100cc");
    // Past its deadline, before it lands: the next run drops r_50cc again
    // (a drop of the same replica goes on), and it is gone.
    std::thread::sleep(Duration::from_secs(3));
    let again = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), ["r_100cc"], "{}", again.all());
    wants_50cc(&emu);
    for _ in 0..2 {
        let run = clusterctl(&emu, &["apply"]);
        assert!(
            !run.stdout.contains("CREATE CLUSTER REPLICA")
                && !run.stdout.contains("DROP CLUSTER REPLICA")
                && run
                    .stdout
                    .contains("made under that name before would be dropped"),
            "{}",
            run.all()
        );
        let status = clusterctl(&emu, &["status", "-o", "json"]).ok().json();
        assert_eq!(
            status["result"]["clusters"][0]["condition"], "InDoubt",
            "{status}"
        );
    }
    held.landed(&emu);
    assert_eq!(replica_names(&emu, "c"), ["r_100cc"], "a replica is left");
}

/// A DROP whose first attempt got no answer and whose retry ran: the first
/// attempt may still land, on a replica made again under its name (an
/// outside check emptied a cluster so, with the default retries). The
/// name is held as for a DROP given up on.
#[test]
fn a_drop_a_retry_ran_holds_its_name_while_the_first_attempt_may_land() {
    let (emu, held, run) = a_late_drop_of_r_50cc("100cc", "2");
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(replica_names(&emu, "c"), ["r_100cc"], "{}", run.all());
    wants_50cc(&emu);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        !run.stdout.contains("CREATE CLUSTER REPLICA")
            && run
                .stdout
                .contains("made under that name before would be dropped"),
        "{}",
        run.all()
    );
    held.landed(&emu);
    assert_eq!(replica_names(&emu, "c"), ["r_100cc"], "a replica is left");
}

/// Cluster `c` converged on its one replica `r1`, and a writer of
/// hand-made audit rows of `c` about replica `r2`, `minutes_ago`, open
/// but for an executed creation.
fn converged_with_rows_of_r2() -> (Emulator, impl Fn(&Emulator, &str, &str, u32)) {
    let emu = crate::cli::converged_c();
    let row = |emu: &Emulator, action: &str, kind: &str, minutes_ago: u32| {
        emu.sql(&format!(
            "INSERT INTO mz_cluster_strategy_actions \
             (action_id, cluster_id, action_sql, decision_ctx, executed, created_at) \
             VALUES ('{action}', {}, '-- {kind}', \
             '{{\"kind\": \"{kind}\", \"replica\": \"r2\", \"size\": \"25cc\", \
               \"cluster\": \"c\", \"deadline_s\": 30}}', {}, \
             now() - INTERVAL '{minutes_ago} minutes')",
            lit(&emu.cluster_id("c")),
            if kind == "create_replica" {
                "true"
            } else {
                "NULL"
            }
        ));
    };
    (emu, row)
}

/// Two open drops of one replica (a run gave up on its DROP, a later run
/// dropped the same replica and was killed before recording it), the
/// replica gone: both were settled as run, two executed rows for the one
/// drop that can have taken effect (the chaos test). The later one counts;
/// the earlier one is settled as not run. With a creation of the replica
/// between them, both ran.
#[test]
fn of_two_open_drops_of_one_replica_the_later_is_the_one_that_ran() {
    let executed = |made_between: bool| {
        let (emu, row) = converged_with_rows_of_r2();
        row(&emu, "first", "drop_replica", 50);
        if made_between {
            row(&emu, "made", "create_replica", 45);
        }
        row(&emu, "second", "drop_replica", 40);
        clusterctl(&emu, &["apply"]).ok();
        emu.query_strings(
            "SELECT action_id FROM mz_cluster_strategy_actions \
             WHERE action_id IN ('first', 'second') AND executed ORDER BY action_id",
        )
    };
    assert_eq!(executed(false), vec![vec![Some("second".to_string())]]);
    assert_eq!(executed(true).len(), 2);
}

/// A CREATE whose run gave up on it reaches the server after its deadline
/// (a lock, a proxy held it). The next run settled it as not applied, and
/// nothing ever said it ran: the trail showed no executed row for a replica
/// that existed (an outside check with a lock on the catalog). The run
/// after it finds the replica and corrects the row to executed, saying so.
#[test]
fn a_create_that_lands_after_it_was_settled_as_not_run_is_corrected() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r_25cc", "25cc");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let held = late_by(
        &emu,
        r#"CREATE CLUSTER REPLICA "c"."r_50cc""#,
        Duration::from_secs(10),
    );
    let run = clusterctl_gives_up(&emu, &["apply", "--max-retries", "0"]);
    assert_ne!(run.code, 0, "{}", run.all());
    // Past its deadline (2 s), before it lands: the strategies no longer
    // want 50cc; the run settles the CREATE as not applied.
    std::thread::sleep(Duration::from_secs(3));
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    clusterctl(&emu, &["apply"]).ok();
    let outcome = || {
        emu.query_strings(
            "SELECT executed::text, error_message FROM mz_cluster_strategy_actions \
             WHERE action_sql LIKE 'CREATE CLUSTER REPLICA \"c\".\"r_50cc\"%'",
        )
    };
    let first = outcome();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0][0].as_deref(), Some("false"), "{first:?}");
    // It lands: the next run finds its replica and corrects the row.
    held.landed(&emu);
    assert!(replica_names(&emu, "c").contains(&"r_50cc".to_string()));
    clusterctl(&emu, &["apply"]).ok();
    let corrected = outcome();
    assert_eq!(corrected.len(), 1, "{corrected:?}");
    assert_eq!(corrected[0][0].as_deref(), Some("true"), "{corrected:?}");
    assert!(
        corrected[0][1]
            .as_deref()
            .is_some_and(|e| e.contains("it landed later") && e.contains("corrected it to applied")),
        "{corrected:?}"
    );
    // `history -o json` gives it as a note of an action that ran, not as
    // an error (a script took an executed row with an error for a failure).
    let doc = clusterctl(&emu, &["history", "-o", "json"]).ok().json();
    let entries = doc["result"]["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let row = entries
        .iter()
        .find(|e| e["replica"] == "r_50cc" && e["kind"] == "create_replica")
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["result"], "executed", "{doc:#}");
    assert!(row["error"].is_null(), "{row:#}");
    assert!(
        row["note"]
            .as_str()
            .is_some_and(|n| n.contains("it landed later")),
        "{row:#}"
    );
    // Corrected once: a later run leaves it as it is.
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(outcome(), corrected);
}

/// A replica made by hand on a suspended cluster, nobody querying it, is
/// dropped to keep the cluster suspended. After `wipe-state`, the wake
/// read from the trail took that drop for the last suspension and woke
/// the cluster with the hand-made replica, not with what it ran (an
/// outside check): it wakes with r1. One used since (a statement after
/// the suspension) is the cluster's: woken with it.
#[test]
fn a_replica_dropped_to_keep_a_cluster_suspended_is_not_woken_after_a_wipe() {
    let emu = wiped_after_a_replica_made_by_hand_while_suspended("handmade", "50cc");
    let plan = clusterctl(&emu, &["dry-run", "--output", "json"])
        .ok()
        .json();
    let c = &plan["result"]["plan"]["clusters"][0];
    let made: Vec<(String, String)> = c["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                a["replica"].as_str().unwrap_or_default().to_string(),
                a["size"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(made, pairs(&[("r1", "25cc")]), "{c:#}");
}

/// The same, with the hand-made replica named as the one the suspension
/// dropped, at another size: the wake after `wipe-state` made r1 at the
/// hand-made one's size (an outside check); it is the size r1 ran at.
#[test]
fn a_replica_made_again_by_hand_under_a_suspended_name_is_not_woken_after_a_wipe() {
    let emu = wiped_after_a_replica_made_by_hand_while_suspended("r1", "200cc");
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "c"."r1" (SIZE = '25cc')"#)
            && !run.stdout.contains("200cc"),
        "{}",
        run.all()
    );
}

/// `c` (r1, 25cc) suspended by `apply`; then `name` of `size` made by hand
/// on it, dropped by the next run to keep it suspended; the state wiped;
/// a statement waiting on it now.
fn wiped_after_a_replica_made_by_hand_while_suspended(name: &str, size: &str) -> Emulator {
    let emu = idle_for_two_hours();
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu.add_replica("c", name, size);
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "kept suspended");
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    emu.add_activity("c", 5, false);
    emu
}

/// A replica made by hand on a suspended cluster that users then query is
/// the operator's wake, whatever its name: under a name the suspension
/// remembered but at another size, the rest came back beside it where
/// under another name nothing did (an outside check). Nothing comes back;
/// the next suspension remembers what ran then.
#[test]
fn a_replica_made_by_hand_under_a_remembered_name_is_the_operators_wake() {
    let emu = idle_for_two_hours();
    emu.add_replica("c", "r2", "50cc");
    emu.set_hydrated("c", "r2", true);
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu.add_replica("c", "r1", "100cc");
    emu.add_activity("c", 5, false);
    let plan = clusterctl(&emu, &["dry-run", "-v"]).ok();
    assert!(
        plan.stdout.contains("woken by hand with r1 (100cc)") && !plan.stdout.contains("r2"),
        "{}",
        plan.all()
    );
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), ["r1"], "{}", run.all());
    let state = state_of(&emu, "c").expect("the wake is recorded");
    let slot = &state["idle_suspend"];
    assert!(slot["suspended_at"].is_null(), "{state:#}");
    let resuming = slot["resuming"].as_array().map_or(0, Vec::len);
    assert_eq!(resuming, 0, "nothing left to bring back: {state:#}");
}

/// The wipe between the suspension and the run that drops a replica made
/// by hand while it was suspended: that run begins a slot afresh and
/// remembers the hand-made replica; the trail, read by the next plan,
/// knows its drop kept the cluster suspended, and the wake is of what the
/// suspension dropped (it woke at the hand-made size, 8 times r1's, or
/// with the hand-made one alone: an outside check).
#[test]
fn a_wipe_before_the_drop_of_a_replica_made_while_suspended_wakes_what_ran() {
    for (name, size) in [("r1", "200cc"), ("h9", "200cc")] {
        let emu = idle_for_two_hours();
        clusterctl(&emu, &["apply"]).ok();
        assert!(emu.replicas("c").is_empty(), "suspended");
        emu.add_replica("c", name, size);
        clusterctl(&emu, &["wipe-state", "--yes"]).ok();
        clusterctl(&emu, &["apply"]).ok();
        assert!(emu.replicas("c").is_empty(), "kept suspended");
        emu.add_activity("c", 5, false);
        let run = clusterctl(&emu, &["dry-run"]).ok();
        assert!(
            run.stdout
                .contains(r#"CREATE CLUSTER REPLICA "c"."r1" (SIZE = '25cc')"#)
                && !run.stdout.contains("200cc"),
            "{name}: {}",
            run.all()
        );
    }
}

/// A suspension split over runs (`--max-actions 1`) with a wipe between
/// them, beside a replica that never hydrated: the run after the wipe
/// drops that replica alone, and remembers it marked stuck; the wake (the
/// trail adding r1, which the first run dropped) leaves it out (it was
/// made again at every wake: an outside check).
#[test]
fn a_stuck_replica_remembered_alone_after_a_wipe_is_left_out_beside_another() {
    let emu = idle_for_two_hours();
    emu.add_replica("c", "h2", "50cc");
    emu.set_replica_started("c", "h2", 51 * 60, 5);
    let first = clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    assert_eq!(replica_names(&emu, "c"), ["h2"], "{}", first.all());
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("c").is_empty(), "suspended");
    emu.add_activity("c", 5, false);
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stdout
            .contains(r#"CREATE CLUSTER REPLICA "c"."r1" (SIZE = '25cc')"#)
            && !run.stdout.contains(r#""c"."h2""#),
        "{}",
        run.all()
    );
}

/// A suspension split over runs (`--max-actions 1`), wiped after its first
/// run, the stuck replica dropped last: the trail's recall remembered it as
/// still running, and the run that dropped it (saying it is not
/// remembered) left it remembered: the wake made it again (an outside
/// check). It is left out.
#[test]
fn a_stuck_replica_recalled_as_running_is_forgotten_when_dropped() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "50cc");
    emu.add_replica("c", "r2", "100cc");
    emu.set_hydrated("c", "r2", true);
    emu.add_replica("c", "zs", "25cc");
    emu.set_replica_started("c", "zs", 51 * 60, 5);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("c", 7200, true);
    clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    clusterctl(&emu, &["wipe-state", "--yes"]).ok();
    for _ in 0..3 {
        clusterctl(&emu, &["apply", "--max-actions", "1"]).ok();
    }
    assert!(emu.replicas("c").is_empty(), "{:?}", emu.replicas("c"));
    emu.add_activity("c", 5, false);
    let run = clusterctl(&emu, &["dry-run"]).ok();
    assert!(
        run.stdout.contains(r#""c"."r1""#)
            && run.stdout.contains(r#""c"."r2""#)
            && !run.stdout.contains(r#""c"."zs""#),
        "{}",
        run.all()
    );
}
