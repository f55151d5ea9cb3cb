//! A crash-looping replica end to end: the emulator's orchestrator
//! OOM-kills a replica whose size is too small for its cluster's workload
//! each time it comes up, before it hydrates, and restarts it
//! (`Emulator::set_workload`, reference §6), or after it hydrated and
//! served a while (`Emulator::set_growing_workload`); a larger size
//! hydrates by itself. What an operator sees (`status`, `describe`) and what each
//! strategy does, run after run across several kills and restarts.

use std::time::Duration;

use serde_json::json;

use crate::cli::{audit, backdate, clusterctl, init_tables, pairs, replica_names, strategy};
use crate::support::Emulator;

/// Up 1 s, restarted 1 s later: a kill every 2 s.
const UP: Duration = Duration::from_secs(1);
/// How long a replica with room takes to hydrate.
const HYDRATION: Duration = Duration::from_millis(500);

/// `c` with one index and replica `r1` of 25cc, hydrated until its workload
/// grew past 25cc `secs_ago` seconds ago: it has crash-looped since.
fn looping_cluster(secs_ago: i64) -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    // Created an hour ago: the loop's history follows its start.
    emu.sql(&format!(
        "UPDATE mz_internal.mz_cluster_replica_status_history
         SET occurred_at = occurred_at - INTERVAL '1 hour' WHERE replica_id = '{}'",
        emu.replica_id("c", "r1")
    ));
    emu.set_workload_since("c", "50cc", HYDRATION, UP, secs_ago);
    init_tables(&emu);
    emu
}

/// `c` with one index and replica `r1` of `size`, hydrated, on the
/// virtual clock, under a workload that needs 50cc and grows after
/// hydration: a smaller replica hydrates in 30 s and is OOM-killed 120 s
/// later, each time (one hydrated now: 120 s from now).
fn growing_cluster(size: &str) -> Emulator {
    let emu = Emulator::start();
    emu.install_clock();
    emu.create_hydrated_cluster("c", "r1", size);
    emu.set_growing_workload(
        "c",
        "50cc",
        Duration::from_secs(30),
        Duration::from_secs(120),
    );
    init_tables(&emu);
    emu
}

/// `apply` `runs` times, `pause` apart (spanning several kills and
/// restarts); returns every run's stdout.
fn apply_across_the_loop(emu: &Emulator, runs: usize, pause: Duration) -> Vec<String> {
    (0..runs)
        .map(|_| {
            let run = clusterctl(emu, &["apply"]).ok();
            std::thread::sleep(pause);
            run.stdout
        })
        .collect()
}

/// The DDL of the cluster's audit trail, oldest first, executed or not.
fn audited_sql(emu: &Emulator, cluster: &str) -> Vec<String> {
    audit(emu, cluster)
        .into_iter()
        .map(|(sql, _, _)| sql)
        .collect()
}

/// `target_size` 25cc kept beside the serving replica while it loops:
/// its create is the cluster's only DDL, and `status` says CrashLooping.
fn only_the_target_created_and_looping(emu: &Emulator, runs: &[String]) {
    assert_eq!(
        audited_sql(emu, "c"),
        [r#"CREATE CLUSTER REPLICA "c"."r_25cc" (SIZE = '25cc')"#],
        "{runs:#?}"
    );
    assert_eq!(status_of(emu, "c")["condition"], "CrashLooping");
}

/// `cluster`'s entry of `status -o json`.
pub(crate) fn status_of(emu: &Emulator, cluster: &str) -> serde_json::Value {
    let json = clusterctl(emu, &["status", "--output", "json"]).ok().json();
    entry_of(&json, cluster)
}

/// `cluster`'s entry of a `status -o json` document.
pub(crate) fn entry_of(json: &serde_json::Value, cluster: &str) -> serde_json::Value {
    json["result"]["clusters"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["cluster"] == cluster).cloned())
        .unwrap_or_else(|| panic!("{cluster} missing: {json:#}"))
}

/// Offline (killed) or online (restarted, hydrating again), the replica is
/// shown crash looping with its OOMs, never as hydrated, and what the plan
/// waits for says so: it used to read "r1 (25cc) is hydrating (OOM-killed
/// at …)", as if a wait would do.
#[test]
fn status_and_describe_show_a_crash_looping_replica_as_not_serving() {
    let emu = looping_cluster(30);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    // Samples 700 ms apart fall in both halves of the 2 s loop.
    for _ in 0..4 {
        let c = status_of(&emu, "c");
        assert_eq!(c["condition"], "CrashLooping", "{c:#}");
        let r = &c["replicas"][0];
        assert_eq!(r["hydrated"], false, "{c:#}");
        assert!(r["ooms"].as_u64().is_some_and(|n| n >= 14), "{c:#}");
        let waiting = c["waiting"][0]["reason"].as_str().unwrap_or_default();
        assert!(
            waiting.starts_with("r1 (25cc) is crash looping, not hydrating: ")
                && waiting.contains(" OOM kills in the crash window, the last at "),
            "{c:#}"
        );
        let describe = clusterctl(&emu, &["describe", "c"]).ok();
        let line = describe
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with("r1 "))
            .unwrap_or_else(|| panic!("{}", describe.all()));
        assert!(line.contains("no"), "not hydrated: {}", describe.all());
        assert!(
            describe
                .stdout
                .contains("hydrate r1: r1 (25cc) is crash looping")
                && !describe.stdout.contains("is hydrating"),
            "{}",
            describe.all()
        );
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// A loop that ended in place (the workload shrank back: the replica
/// restarts, hydrates and serves) is CrashLooping only while its last
/// kill is recent; ten minutes of serving later it is not, though its
/// kills stay in the crash window (an hour) and are still counted. It was
/// CrashLooping, and the metric 1, for that whole hour.
#[test]
fn a_replica_that_recovered_in_place_is_no_longer_crash_looping() {
    let emu = looping_cluster(30);
    emu.install_clock();
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    emu.set_workload("c", "25cc", HYDRATION, UP);
    // Restarted (at most 1 s) and hydrated (500 ms): serving.
    let mut c = status_of(&emu, "c");
    for _ in 0..40 {
        if c["replicas"][0]["hydrated"] == true {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        c = status_of(&emu, "c");
    }
    assert_eq!(c["replicas"][0]["hydrated"], true, "{c:#}");
    assert_eq!(c["condition"], "CrashLooping", "just recovered: {c:#}");

    emu.advance_clock(9 * 60);
    assert_eq!(status_of(&emu, "c")["condition"], "CrashLooping");
    emu.advance_clock(2 * 60);
    let c = status_of(&emu, "c");
    assert_eq!(c["condition"], "Converged", "{c:#}");
    assert!(
        c["replicas"][0]["ooms"].as_u64().is_some_and(|n| n >= 14),
        "its kills are still shown: {c:#}"
    );
}

/// `target_size` to a size that fits: the new replica hydrates by itself
/// and the looping one is retired; then nothing more, run after run.
#[test]
fn target_size_replaces_a_crash_looping_replica_with_a_size_that_fits() {
    let emu = looping_cluster(30);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    clusterctl(&emu, &["apply"]).ok();
    std::thread::sleep(Duration::from_millis(1200)); // up 300 ms, hydrated 500 ms later
    let runs = apply_across_the_loop(&emu, 4, Duration::from_millis(700));
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]), "{runs:#?}");
    assert_eq!(
        audited_sql(&emu, "c"),
        [
            r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#,
            r#"DROP CLUSTER REPLICA "c"."r1""#
        ],
        "{runs:#?}"
    );
}

/// `target_size` to a size too small: its replica crash-loops and the one
/// serving is never retired for it, however often the loop is seen.
#[test]
fn target_size_keeps_the_serving_replica_while_the_target_crash_loops() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "50cc");
    emu.set_workload("c", "50cc", HYDRATION, UP);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let runs = apply_across_the_loop(&emu, 6, Duration::from_millis(700));
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("r1", "50cc"), ("r_25cc", "25cc")]),
        "{runs:#?}"
    );
    only_the_target_created_and_looping(&emu, &runs);
}

/// A target size whose state outgrows its memory after hydration serves
/// between its kills (`Emulator::set_growing_workload`): a run may find it
/// hydrated again after its first kill, which is not a loop yet (one
/// kill). Under `stabilization` the old size's retirement had been wanted
/// since the target's first hydration, as every run saw it, and went
/// ahead: the cluster was left with the loop alone. A kill within the last
/// 10 minutes now holds the retirement back, which restarts
/// stabilization's wait, and the loop's second kill keeps it back.
#[test]
fn target_size_keeps_the_serving_replica_while_the_target_is_killed_after_hydrating() {
    let emu = growing_cluster("50cc");
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    strategy(
        &emu,
        "c",
        "stabilization",
        json!({"scale_down_after_s": 150}),
    );
    let both = pairs(&[("r1", "50cc"), ("r_25cc", "25cc")]);
    let mut runs = vec![clusterctl(&emu, &["apply"]).ok().stdout];
    // t = 40 s: r_25cc hydrated at 30 s; r1's retirement waits 150 s.
    // t = 200 s: killed at 150 s, restarted, hydrated again at 181 s.
    // t = 400 s: killed again at 301 s, hydrated at 332 s: a loop.
    for secs in [40, 160, 200] {
        emu.advance_clock(secs);
        runs.push(clusterctl(&emu, &["apply"]).ok().stdout);
        assert_eq!(emu.replicas("c"), both, "{runs:#?}");
        if secs == 160 {
            let described = clusterctl(&emu, &["describe", "c"]).ok().stdout;
            assert!(
                described
                    .contains("r_25cc (25cc) went offline (killed or crashed) less than 10m ago"),
                "{described}"
            );
        }
    }
    only_the_target_created_and_looping(&emu, &runs);
}

/// `shrink_to_fit` finds the size that fits by watching the loop: the
/// smaller size OOMs, the larger ones hydrate, and it keeps the smallest
/// healthy one; then nothing more, run after run.
#[test]
fn shrink_to_fit_drops_the_crash_looping_size_and_keeps_the_smallest_that_fits() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.set_workload("c", "50cc", HYDRATION, UP);
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "shrink_to_fit",
        json!({"max_replica_size": "100cc"}),
    );
    clusterctl(&emu, &["apply"]).ok();
    std::thread::sleep(Duration::from_millis(1500)); // c_25cc killed once
    let runs = apply_across_the_loop(&emu, 5, Duration::from_millis(700));
    assert_eq!(emu.replicas("c"), pairs(&[("c_50cc", "50cc")]), "{runs:#?}");
    let sql = audited_sql(&emu, "c");
    assert_eq!(
        sql.len(),
        5,
        "three creates, two drops: {sql:#?}\n{runs:#?}"
    );
    assert_eq!(
        sql.iter().filter(|s| s.starts_with("DROP")).count(),
        2,
        "{sql:#?}"
    );
}

/// `shrink_to_fit` whose largest size still OOMs: that replica is the only
/// one the cluster has, kept with an alert to raise the max, run after run.
#[test]
fn shrink_to_fit_keeps_its_largest_size_crash_looping_with_an_alert() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    emu.add_index("c");
    emu.set_workload("c", "100cc", HYDRATION, UP);
    init_tables(&emu);
    strategy(
        &emu,
        "c",
        "shrink_to_fit",
        json!({"max_replica_size": "25cc"}),
    );
    let runs = apply_across_the_loop(&emu, 6, Duration::from_millis(700));
    assert_eq!(emu.replicas("c"), pairs(&[("c_25cc", "25cc")]), "{runs:#?}");
    assert_eq!(
        audited_sql(&emu, "c"),
        [r#"CREATE CLUSTER REPLICA "c"."c_25cc" (SIZE = '25cc')"#],
        "{runs:#?}"
    );
    let last = clusterctl(&emu, &["apply"]).ok();
    assert!(last.all().contains("max_replica_size"), "{}", last.all());
}

/// `burst` beside a crash-looping replica: the burst replica (a size that
/// fits) serves and stays while the normal one never hydrates; the looping
/// replica is not dropped by `burst`; one create in all.
#[test]
fn burst_serves_beside_a_crash_looping_replica_and_stays() {
    let emu = looping_cluster(30);
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "100cc"}));
    let runs = apply_across_the_loop(&emu, 6, Duration::from_millis(700));
    assert_eq!(
        emu.replicas("c"),
        pairs(&[("c-burst", "100cc"), ("r1", "25cc")]),
        "{runs:#?}"
    );
    assert_eq!(
        audited_sql(&emu, "c"),
        [r#"CREATE CLUSTER REPLICA "c"."c-burst" (SIZE = '100cc')"#],
        "{runs:#?}"
    );
    let last = runs.last().map(String::as_str).unwrap_or_default();
    assert!(
        last.contains("crash looping, not hydrating")
            && last.contains("c-burst keeps serving meanwhile"),
        "{runs:#?}"
    );
}

/// `burst` beside a replica whose state outgrows its memory after
/// hydration: killed once, it hydrates again, and the burst that started
/// while nothing served stays (it was dropped there, and the next kill left
/// nothing serving); the second kill makes it a loop, and the burst stays.
#[test]
fn burst_stays_beside_a_replica_killed_after_hydrating() {
    let emu = growing_cluster("25cc");
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "100cc"}));
    let mut runs = vec![clusterctl(&emu, &["apply"]).ok().stdout];
    assert_eq!(replica_names(&emu, "c"), ["r1"], "{runs:#?}");
    // t = 125 s: killed at 120 s, hydrating again: the burst starts.
    // t = 185 s: r1 hydrated again at 151 s, killed 65 s before.
    // t = 305 s: killed again at 271 s, hydrated again at 302 s.
    for secs in [125, 60, 120] {
        emu.advance_clock(secs);
        runs.push(clusterctl(&emu, &["apply"]).ok().stdout);
        assert_eq!(replica_names(&emu, "c"), ["c-burst", "r1"], "{runs:#?}");
    }
    assert_eq!(
        audited_sql(&emu, "c"),
        [r#"CREATE CLUSTER REPLICA "c"."c-burst" (SIZE = '100cc')"#],
        "{runs:#?}"
    );
}

/// An idle cluster whose only replica crash-loops is suspended after its
/// idle time, whether the run reads it killed or restarted; then stays so.
#[test]
fn idle_suspend_suspends_an_idle_crash_looping_cluster() {
    for offset in [0, 1000] {
        let emu = looping_cluster(30);
        emu.add_activity("c", 2 * 3600, true);
        strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
        std::thread::sleep(Duration::from_millis(offset));
        let runs = apply_across_the_loop(&emu, 3, Duration::from_millis(700));
        assert!(emu.replicas("c").is_empty(), "suspended: {runs:#?}");
        assert_eq!(
            audited_sql(&emu, "c"),
            [r#"DROP CLUSTER REPLICA "c"."r1""#],
            "{runs:#?}"
        );
    }
}

/// An idle cluster whose replica is OOM-killed between the snapshot and the
/// suspension's DROP: a suspension drops every replica, so whether one
/// serves does not matter to it; the guard let the kill skip the round
/// (and a cluster whose replicas loop while serving was skipped run after
/// run: an outside check). It is suspended in the same run.
#[test]
fn an_oom_kill_under_a_suspension_does_not_hold_it_back() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_activity("c", 2 * 3600, true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 3600}));
    emu.set_setting("replica_restart_delay_ms", "20000");
    let rid = emu.replica_id("c", "r1");
    let url = crate::support::pg_url();
    let db = emu.database().to_string();
    emu.on_statement("WHERE r.cluster_id = $1", 1, move |_| {
        let mut c = crate::support::admin_client(&url, &db);
        let _ = c.execute("SELECT mz_emulator.oom_kill($1, now())", &[&rid]);
    });
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(
        !run.stdout.contains("changed since the plan was made"),
        "{}",
        run.all()
    );
    assert!(emu.replicas("c").is_empty(), "suspended: {}", run.all());
    assert_eq!(
        audited_sql(&emu, "c"),
        [r#"DROP CLUSTER REPLICA "c"."r1""#],
        "{}",
        run.all()
    );
}

/// A managed cluster crash looping at 25cc, `target_size` 50cc: the resize's
/// new replica hydrates by itself (the size fits), Materialize cuts over,
/// and nothing more is sent run after run.
/// A managed cluster `m` of 25cc whose workload needs 50cc (its replica
/// crash-loops), with a target_size of 50cc.
fn managed_looping(emu: &Emulator) {
    emu.create_managed_cluster("m", "25cc", 1);
    emu.add_index("m");
    emu.set_hydrated("m", "r1", true);
    emu.set_workload("m", "50cc", HYDRATION, UP);
    init_tables(emu);
    strategy(emu, "m", "target_size", json!({"target_size": "50cc"}));
}

#[test]
fn a_managed_crash_looping_cluster_is_resized_to_a_size_that_fits() {
    let emu = Emulator::start();
    managed_looping(&emu);
    let runs = apply_across_the_loop(&emu, 5, Duration::from_millis(700));
    assert_eq!(emu.cluster_size("m").as_deref(), Some("50cc"), "{runs:#?}");
    let replicas = emu.replicas("m");
    assert_eq!(replicas.len(), 1, "{replicas:?} {runs:#?}");
    assert_eq!(replicas[0].1, "50cc");
    let sql = audited_sql(&emu, "m");
    assert_eq!(sql.len(), 1, "one resize: {sql:#?}\n{runs:#?}");
    assert!(sql[0].starts_with("ALTER CLUSTER"), "{sql:#?}");
}

/// `target_size` and `burst` on a crash-looping cluster: the burst serves
/// until the target size (which fits) hydrates, then both the looping
/// replica and the burst go; two creates, two drops, then nothing.
#[test]
fn burst_and_target_size_end_a_crash_loop_once_and_stay_converged() {
    let emu = looping_cluster(30);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    strategy(&emu, "c", "burst", json!({"burst_replica_size": "100cc"}));
    let runs = apply_across_the_loop(&emu, 6, Duration::from_millis(700));
    assert_eq!(emu.replicas("c"), pairs(&[("r_50cc", "50cc")]), "{runs:#?}");
    let mut sql = audited_sql(&emu, "c");
    sql.sort();
    assert_eq!(
        sql,
        [
            r#"CREATE CLUSTER REPLICA "c"."c-burst" (SIZE = '100cc')"#,
            r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#,
            r#"DROP CLUSTER REPLICA "c"."c-burst""#,
            r#"DROP CLUSTER REPLICA "c"."r1""#,
        ],
        "{runs:#?}"
    );
    assert_eq!(status_of(&emu, "c")["condition"], "Converged");
}

/// `burst` with `max_burst_s` beside a replica that never hydrates (it
/// crash-loops): the burst gives up as documented, with an alert that
/// names the loop and says nothing serves once the burst is gone (it said
/// the size was "probably too small", beside a second alert that the
/// burst "is serving"), and does not come back run after run while the
/// loop goes on (no create, drop, create…).
#[test]
fn burst_gives_up_beside_a_crash_looping_replica_once_and_stays_given_up() {
    let emu = looping_cluster(30);
    strategy(
        &emu,
        "c",
        "burst",
        json!({"burst_replica_size": "100cc", "max_burst_s": 60}),
    );
    clusterctl(&emu, &["apply"]).ok();
    backdate(&emu, "c", &["burst", "burst_since"], 120);
    let gave_up = clusterctl(&emu, &["apply"]).ok();
    assert!(
        gave_up.all().contains("giving up")
            && gave_up.all().contains("OOM-loop")
            && gave_up
                .all()
                .contains("nothing serves once the burst is gone")
            && !gave_up.all().contains("is serving while"),
        "{}",
        gave_up.all()
    );
    let runs = apply_across_the_loop(&emu, 4, Duration::from_millis(700));
    assert_eq!(emu.replicas("c"), pairs(&[("r1", "25cc")]), "{runs:#?}");
    assert_eq!(
        audited_sql(&emu, "c"),
        [
            r#"CREATE CLUSTER REPLICA "c"."c-burst" (SIZE = '100cc')"#,
            r#"DROP CLUSTER REPLICA "c"."c-burst""#
        ],
        "{runs:#?}"
    );
    assert_eq!(status_of(&emu, "c")["condition"], "CrashLooping");
}

/// One OOM kill of a replica of several processes is one crash (each
/// process writes its own offline row: counted per row, a single kill of
/// a 128C replica read as a loop of two, which fired the crash-loop alert:
/// an outside check).
#[test]
fn one_kill_of_a_replica_of_several_processes_counts_once() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("big", "r1", "128C");
    init_tables(&emu);
    strategy(&emu, "big", "target_size", json!({"target_size": "128C"}));
    emu.oom_kill("big", "r1");
    let rows = emu.query_one(&format!(
        "SELECT count(*)::text FROM mz_internal.mz_cluster_replica_status_history \
         WHERE replica_id = '{}' AND reason = 'oom-killed'",
        emu.replica_id("big", "r1")
    ));
    assert_eq!(rows.as_deref(), Some("2"), "one row per process");
    let wide = clusterctl(&emu, &["status", "-o", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&wide.stdout).expect("JSON");
    let text = doc.to_string();
    assert!(!text.contains("\"crash_looping\":true"), "{text}");
    let describe = clusterctl(&emu, &["describe", "big", "-o", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&describe.stdout).expect("JSON");
    let replica = &doc["result"]["replicas"][0];
    assert_eq!(replica["crashes"], 1, "{replica}");
    assert_eq!(replica["ooms"], 1, "{replica}");
}

/// A new replica that goes offline without a reason (a panic's loop gives
/// none) does not retire the serving one while it flaps: it retired it
/// as hydrated, and seconds later nothing served (an outside check).
#[test]
fn target_size_keeps_the_serving_replica_while_the_new_one_goes_offline_without_a_reason() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_replica("c", "r_50cc", "50cc");
    emu.set_hydrated("c", "r_50cc", true);
    // Offline two minutes ago with no reason, back online since.
    emu.add_crash("c", "r_50cc", false, 120);
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "50cc"}));
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        replica_names(&emu, "c"),
        vec!["r1".to_string(), "r_50cc".to_string()],
        "{}",
        run.all()
    );
    let plan = clusterctl(&emu, &["dry-run"]).ok();
    assert!(plan.stdout.contains("went offline"), "{}", plan.all());
    // Ten minutes after, it is relied on.
    emu.sql(&format!(
        "UPDATE mz_internal.mz_cluster_replica_status_history \
         SET occurred_at = occurred_at - INTERVAL '10 minutes' WHERE replica_id = '{}'",
        emu.replica_id("c", "r_50cc")
    ));
    clusterctl(&emu, &["apply"]).ok();
    assert_eq!(replica_names(&emu, "c"), vec!["r_50cc".to_string()]);
}

/// A crash-looping managed cluster whose resize its release holds back (no
/// graceful resize, no downtime allowed): the alert says the size asked for
/// cannot be made now, not that a replica of it is on its way (under a name
/// a managed cluster never has: an outside check).
#[test]
fn a_held_back_resize_of_a_crash_looping_managed_cluster_is_not_said_on_its_way() {
    let emu = Emulator::builder()
        .materialize_release(crate::support::Release::Gated)
        .start();
    managed_looping(&emu);
    // The graceful form is tried once and refused: then held back.
    clusterctl(&emu, &["apply"]).code(3);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let all = loop {
        let all = clusterctl(&emu, &["dry-run"]).ok().all();
        if all.contains("crash looping") || std::time::Instant::now() > deadline {
            break all;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(all.contains("crash looping"), "{all}");
    assert!(!all.contains("on its way"), "{all}");
    assert!(
        all.contains("50cc is what its strategies ask for, but this plan cannot make it now"),
        "{all}"
    );
}

/// `shrink_to_fit` + `idle_suspend`: the largest size allowed, OOM-killed
/// once while nothing else serves, is kept and not known too small; the
/// suspension remembers it and the next statement wakes the cluster with
/// it (one kill made it "known too small", so the wake left it out and a
/// cluster with users stayed empty, with a false alert: an outside check).
#[test]
fn the_largest_size_killed_once_still_wakes_the_cluster() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("s2", "r1", "200cc");
    emu.add_crash("s2", "r1", true, 30);
    init_tables(&emu);
    strategy(
        &emu,
        "s2",
        "shrink_to_fit",
        json!({"max_replica_size": "200cc"}),
    );
    strategy(&emu, "s2", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("s2", 7200, true);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert!(emu.replicas("s2").is_empty(), "suspended: {}", run.all());
    emu.add_activity("s2", 5, false);
    let run = clusterctl(&emu, &["apply"]).ok();
    assert_eq!(
        emu.replicas("s2"),
        vec![("r1".to_string(), "200cc".to_string())],
        "{}",
        run.all()
    );
}
