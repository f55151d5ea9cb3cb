//! The realism of the simulator, one knob at a time: noisy demand (per
//! occurrence, weekly, holidays, spikes, load), Materialize's failure
//! semantics for queries on a cluster without replicas, the sampled and
//! delayed statement log, the controller's jitter, run time and failures, a
//! blocking managed resize, hydration variance and memory growth.

use super::engine::{self, Slot};
use super::scenario::{DAY, GIB, HOUR, MINUTE, SECOND};
use super::tests::{calm, parse, sim};
use crate::plan::ActionKind;

fn base(workload: &str, strategies: &str, days: u32) -> String {
    format!(
        r#"
name = "t"
days = {days}
interval = "1m"

[[clusters]]
name = "c"
{strategies}

[clusters.workload]
{workload}
"#
    )
}

#[test]
fn every_occurrence_draws_its_own_start_length_and_rate() {
    let text = base(
        r#"memory_gib = 1
hydration_work = "1m"
windows = [{ start = "09:00", duration = "8h", every = "1d", qps = 0.1, noise = { start = "1h", duration = "30m", qps = 0.5 } }]"#,
        "",
        28,
    );
    let sc = parse(&text).unwrap();
    let occ = &sc.clusters[0].workload.occurrences;
    assert_eq!(occ.len(), 28);
    for (d, o) in occ.iter().enumerate() {
        let nominal = d as i64 * DAY + 9 * HOUR;
        assert!((o.start - nominal).abs() <= HOUR, "{d}: {o:?}");
        assert!(((o.end - o.start) - 8 * HOUR).abs() <= 30 * MINUTE, "{o:?}");
        assert!((0.05..=0.15).contains(&o.qps), "{o:?}");
    }
    let mut starts: Vec<i64> = occ.iter().map(|o| o.start % DAY).collect();
    starts.sort_unstable();
    starts.dedup();
    assert!(starts.len() > 20, "starts vary day to day: {starts:?}");
    let early = occ.iter().filter(|o| o.start % DAY < 9 * HOUR).count();
    assert!((5..=23).contains(&early), "both earlier and later: {early}");

    let skipping = text.replace("qps = 0.5 }", "qps = 0.5, skip = 0.3 }");
    let sc = parse(&skipping.replace("days = 28", "days = 100")).unwrap();
    let n = sc.clusters[0].workload.occurrences.len();
    assert!((55..=85).contains(&n), "about 70 of 100 days: {n}");
}

#[test]
fn weekly_seasonality_and_holidays_shape_the_week() {
    // 2026-01-05 is a Monday; Wednesday the 7th is a holiday.
    let text = format!(
        "holidays = [\"2026-01-07\"]\n{}",
        base(
            r#"memory_gib = 1
hydration_work = "1m"
weekly = [1, 1, 1, 1, 0.5, 0.2, 0]
windows = [
  { start = "10:00", duration = "1h", every = "1d", qps = 1.0 },
  { start = "12:00", duration = "1h", every = "1d", qps = 1.0, weekdays_only = true },
]"#,
            "",
            7,
        )
    );
    let sc = parse(&text).unwrap();
    let occ = &sc.clusters[0].workload.occurrences;
    let on_day = |d: i64| -> Vec<f64> {
        occ.iter()
            .filter(|o| o.start / DAY == d)
            .map(|o| o.qps)
            .collect()
    };
    assert_eq!(on_day(0), vec![1.0, 1.0], "Monday");
    assert_eq!(on_day(2), Vec::<f64>::new(), "the holiday is a Sunday");
    assert_eq!(on_day(4), vec![0.5, 0.5], "Friday at half rate");
    assert_eq!(on_day(5), vec![0.2], "Saturday: the weekday window is off");
    assert_eq!(on_day(6), Vec::<f64>::new(), "Sunday: factor 0");
}

const SPIKY: &str = r#"memory_gib = 6
hydration_work = "20m"
hydration_variance = 0.0
windows = [{ start = "00:00", duration = "1d", every = "1d", qps = 0.2 }]
spikes = [{ at = "1d14h", duration = "30m", qps = 5.0, memory_gib = 4 }]"#;

#[test]
fn a_spike_adds_demand_and_memory_and_kills_a_running_replica() {
    let text = calm(&base(
        SPIKY,
        r#"strategies = [{ type = "target_size", config = { target_size = "100cc" } }]
initial_replicas = [{ name = "r_100cc", size = "100cc" }]"#,
        3,
    ));
    let sc = parse(&text).unwrap();
    let w = &sc.clusters[0].workload;
    let at = DAY + 14 * HOUR;
    assert!(w.occurrences.iter().any(|o| o.start == at && o.qps == 5.0));
    assert!((w.need.at(at + MINUTE) - 10.0 * GIB).abs() < 1.0);
    assert!((w.need.at(at + HOUR) - 6.0 * GIB).abs() < 1.0);
    let (_, run, card) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    // 100cc (8 GiB) runs fine until the spike needs 10 GiB.
    assert_eq!(r.ooms.first(), Some(&at));
    assert!(r
        .ooms
        .iter()
        .all(|o| *o >= at && *o < at + 30 * MINUTE + 5 * MINUTE));
    assert!(r.was_hydrated_at(at + 30 * MINUTE + 25 * MINUTE));
    let c = &card.clusters[0];
    assert!(c.service.served_within_pct < 95.0, "{:?}", c.service);
    assert!(c.service.queries > (0.2 * 3.0 * 86400.0) as u64);
}

#[test]
fn random_spikes_come_from_the_seed_and_fall_in_the_demand() {
    let text = base(
        r#"memory_gib = 1
hydration_work = "1m"
windows = [{ start = "09:00", duration = "8h", every = "1d", qps = 0.1 }]
random_spikes = { per_week = 3, duration = "20m", qps = 2.0, memory_gib = 1 }"#,
        "",
        28,
    );
    let sc = parse(&text).unwrap();
    let occ = &sc.clusters[0].workload.occurrences;
    let spikes: Vec<_> = occ.iter().filter(|o| o.qps == 2.0).collect();
    assert!((4..=24).contains(&spikes.len()), "{}", spikes.len());
    for s in &spikes {
        let t = s.start % DAY;
        assert!((9 * HOUR..17 * HOUR).contains(&t), "{s:?}");
        assert_eq!(s.extra_memory, GIB);
    }
    let again = parse(&text).unwrap();
    assert_eq!(&again.clusters[0].workload.occurrences, occ);
}

#[test]
fn load_raises_the_memory_a_running_cluster_needs() {
    // 200cc (16 GiB): 6 GiB + 2 GiB per query/s fits at 1 q/s (8 GiB),
    // not during a 5 q/s burst on top (18 GiB).
    let workload = r#"memory_gib = 6
memory_per_qps_gib = 2
hydration_work = "20m"
hydration_variance = 0.0
windows = [{ start = "00:00", duration = "1d", every = "1d", qps = 1.0 }]
spikes = [{ at = "10h", duration = "15m", qps = 5.0 }]"#;
    let text = calm(&base(
        workload,
        r#"strategies = [{ type = "target_size", config = { target_size = "200cc" } }]
initial_replicas = [{ name = "r_200cc", size = "200cc" }]"#,
        1,
    ));
    let (sc, run, card) = sim(&text);
    let need = &sc.clusters[0].workload.need;
    assert!((need.at(HOUR) - 8.0 * GIB).abs() < 1.0);
    assert!((need.at(10 * HOUR + MINUTE) - 18.0 * GIB).abs() < 1.0);
    let r = &run.slots[0].sim.replicas[0];
    assert_eq!(r.ooms.first(), Some(&(10 * HOUR)));
    let c = &card.clusters[0];
    assert!(c.service.served_within < c.service.queries);
    // The always-on baseline is sized for the peak: 300cc holds 18 GiB.
    assert_eq!(c.always_on.size.as_deref(), Some("300cc"));
}

const SUSPENDED: &str = r#"strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "idle_suspend", config = { idle_after_s = 600 } },
]"#;

const FEW_QUERIES: &str = r#"memory_gib = 4
hydration_work = "1m"
hydration_variance = 0.0
windows = [{ start = "02:00", duration = "20m", every = "1d", qps = 0.05 }]"#;

#[test]
fn a_query_on_a_cluster_without_replicas_fails_at_once_and_is_retried() {
    let text = calm(&base(FEW_QUERIES, SUSPENDED, 2));
    let (_, _, card) = sim(&text);
    let sv = &card.clusters[0].service;
    // The first query of each night fails; the failure in the statement
    // log wakes the cluster; the retries are served once it hydrates.
    assert!(sv.failed_attempts >= 2, "{sv:?}");
    assert_eq!(sv.failed, 0, "{sv:?}");
    assert!(sv.waited >= 2 && sv.served == sv.queries, "{sv:?}");
    // Woken by the next round (within a minute), hydrated a minute later:
    // the retries wait no more than that.
    let cold = card.clusters[0].worst_daily_cold_start.worst_s;
    assert!((60.0..=125.0).contains(&cold), "{cold}");

    // Clients that do not retry lose those queries.
    let (_, _, card) = sim(&format!("{text}\n[clients]\nattempts = 1\n"));
    let sv = &card.clusters[0].service;
    assert!(sv.failed >= 2 && sv.failed == sv.failed_attempts, "{sv:?}");
    assert!(sv.served_within < sv.queries);

    // A SUBSCRIBE-like workload waits instead.
    let waiting = text.replace(
        "restart_delay = 0",
        "restart_delay = 0\non_no_replica = \"wait\"",
    );
    let (sc, _, card) = sim(&waiting);
    assert_eq!(
        sc.clusters[0].workload.on_no_replica,
        super::scenario::OnNoReplica::Wait
    );
    let sv = &card.clusters[0].service;
    assert_eq!(sv.failed_attempts, 0, "{sv:?}");
    assert!(sv.waited >= 2 && sv.served == sv.queries, "{sv:?}");
}

#[test]
fn the_controller_sees_only_sampled_statements_after_the_flush() {
    let text = base(
        r#"memory_gib = 1
hydration_work = "1m"
service_time = "10s"
windows = [{ start = "00:00", duration = "2h", qps = 1.0 }]"#,
        r#"initial_replicas = [{ name = "r", size = "100cc" }]"#,
        1,
    ) + "\n[statement_log]\nsample_rate = 0.5\nflush_interval = \"30s\"\n";
    let sc = parse(&text).unwrap();
    let mut slots = Slot::all_for_test(&sc);
    let sim = &mut slots[0].sim;
    let lookback = engine::lookback_ms(&sc);
    let mut seen = Vec::new();
    for s in 1..=7200 {
        let t = s * SECOND;
        sim.advance(t);
        let mut c = sim.empty_cluster();
        sim.observe(&sc, t, lookback, &mut c);
        if let Some(b) = c.activity.last_begin {
            let b = (b - sc.start).num_milliseconds();
            // Visible only from the flush after it began.
            assert!(b < t - t % (30 * SECOND), "{b} at {t}");
            seen.push(b);
        } else {
            assert!(t <= 30 * SECOND, "queries arrive at 1/s from 0");
        }
        // Logged and flushed statements not yet flushed as finished.
        assert!(c.activity.in_flight <= 30, "{}", c.activity.in_flight);
    }
    let st = &sim.stats;
    let share = st.logged as f64 / st.requests as f64;
    assert!((share - 0.5).abs() < 0.05, "{share}");
    seen.dedup();
    assert!(
        seen.len() >= 230,
        "a new latest begin at each flush: {}",
        seen.len()
    );
}

#[test]
fn a_sparser_log_wakes_later_and_an_empty_one_never_suspends() {
    let text =
        |rate: &str| calm(&base(FEW_QUERIES, SUSPENDED, 7)).replace("sample_rate = 1.0", rate);
    let (_, _, full) = sim(&text("sample_rate = 1.0"));
    let (_, _, sparse) = sim(&text("sample_rate = 0.2"));
    let (f, s) = (&full.clusters[0].service, &sparse.clusters[0].service);
    assert!(
        s.failed_attempts > f.failed_attempts,
        "unlogged failures do not wake the cluster: {s:?} vs {f:?}"
    );
    // Nothing logged at all: activity is unknown, the cluster never
    // suspends (and pays for it).
    let (_, run, none) = sim(&text("sample_rate = 0.0"));
    assert_eq!(none.clusters[0].actions.drop, 0);
    assert_eq!(run.slots[0].sim.stats.logged, 0);
    assert!(none.clusters[0].credits > 6.0 * 24.0);
}

#[test]
fn rounds_start_late_take_time_and_sometimes_fail() {
    let text = base(FEW_QUERIES, SUSPENDED, 3)
        + "\n[controller]\nrun_time = \"5s\"\ntick_jitter = \"20s\"\nfailure_rate = 0.2\n";
    let (sc, run, card) = sim(&text);
    let rounds = &card.scenario.rounds;
    assert_eq!(rounds.scheduled, 3 * 1440);
    let expect = 0.2 * rounds.scheduled as f64;
    assert!(
        (rounds.failed as f64 - expect).abs() < 0.15 * expect,
        "{rounds:?}"
    );
    let slot = &run.slots[0];
    assert!(!slot.actions.is_empty());
    for a in &slot.actions {
        let k = a.t / sc.interval_ms;
        assert_eq!(a.t, engine::round_at(&sc, k));
        assert!(a.t - k * sc.interval_ms < 20 * SECOND);
        assert!(!engine::round_fails(&sc, k));
    }
    for r in slot.sim.history.iter().chain(&slot.sim.replicas) {
        let a = slot.actions.iter().rev().find(|a| {
            a.kind == ActionKind::CreateReplica && a.replica == r.name && a.t <= r.created_ms
        });
        assert!(
            a.is_some_and(|a| r.created_ms - a.t == 5 * SECOND),
            "{}",
            r.created_ms
        );
    }
    let jitters: Vec<i64> = slot.actions.iter().map(|a| a.t % sc.interval_ms).collect();
    assert!(jitters.iter().any(|j| *j != jitters[0]), "{jitters:?}");
}

#[test]
fn a_blocking_managed_resize_holds_the_controller_for_every_cluster() {
    let text = |mode: &str| {
        calm(&format!(
            r#"
name = "t"
duration = "4h"
interval = "1m"

[[clusters]]
name = "managed"
managed = true
size = "100cc"
strategies = [{{ type = "target_size", config = {{ target_size = "100cc" }} }}]

[[clusters.reconfigure]]
at = "1h"
strategies = [{{ type = "target_size", config = {{ target_size = "200cc" }} }}]

[clusters.workload]
memory_gib = 4
hydration_work = "16m"
hydration_variance = 0.0
windows = [{{ start = "00:00", duration = "4h", qps = 0.1 }}]

[[clusters]]
name = "other"
{SUSPENDED}

[clusters.workload]
memory_gib = 4
hydration_work = "1m"
hydration_variance = 0.0
windows = [{{ start = "62m", duration = "20m", qps = 0.2 }}]
"#
        ))
        .replace(
            "restart_delay = 0",
            &format!("restart_delay = 0\nmanaged_resize = \"{mode}\""),
        )
    };
    let (_, _, blocking) = sim(&text("blocking"));
    let (_, _, background) = sim(&text("background"));
    // The resize takes 8 minutes (16 core-minutes on 2 cores), from 1h.
    assert!(
        (7..=8).contains(&blocking.scenario.rounds.blocked),
        "{:?}",
        blocking.scenario.rounds
    );
    assert_eq!(background.scenario.rounds.blocked, 0);
    assert_eq!(blocking.clusters[0].resize_to_retire_s, vec![480.0]);
    // Meanwhile the other cluster's wake waits for the controller.
    let cold = |c: &super::scorecard::Scorecard| c.clusters[1].worst_daily_cold_start.worst_s;
    assert!(
        cold(&blocking) >= cold(&background) + 240.0,
        "{} vs {}",
        cold(&blocking),
        cold(&background)
    );
}

#[test]
fn hydration_varies_from_replica_to_replica() {
    let text = calm(&base(
        r#"memory_gib = 1
hydration_work = "100m"
hydration_variance = 0.3
windows = [{ start = "00:00", duration = "1d", qps = 0.01 }]"#,
        r#"count = 30
strategies = [{ type = "target_size", config = { target_size = "100cc" } }]"#,
        1,
    ));
    let (_, run, _) = sim(&text);
    let times: Vec<i64> = run
        .slots
        .iter()
        .map(|s| s.sim.replicas[0].first_hydrated_ms.unwrap() - s.sim.replicas[0].created_ms)
        .collect();
    for t in &times {
        assert!((70 * MINUTE..=130 * MINUTE).contains(t), "{t}");
    }
    let (lo, hi) = (times.iter().min().unwrap(), times.iter().max().unwrap());
    assert!(hi - lo > 20 * MINUTE, "{times:?}");
}

#[test]
fn memory_growth_brings_ooms_mid_week_until_the_weekly_reset() {
    // 200cc holds 16 GiB: 10 GiB + 1.5 GiB a day outgrows it on day 4
    // (Friday), the weekly reset (Monday) lets it hydrate again.
    let text = calm(&base(
        r#"memory_gib = 10
memory_growth = { per_day_gib = 1.5, reset_every = "7d" }
hydration_work = "20m"
hydration_variance = 0.0
windows = [{ start = "00:00", duration = "1d", every = "1d", qps = 0.01 }]"#,
        r#"strategies = [{ type = "target_size", config = { target_size = "200cc" } }]
initial_replicas = [{ name = "r_200cc", size = "200cc" }]"#,
        14,
    ));
    let (_, run, card) = sim(&text);
    let r = &run.slots[0].sim.replicas[0];
    let first = r.ooms[0];
    assert!((first - 4 * DAY).abs() <= MINUTE, "{first}");
    assert!(r
        .ooms
        .iter()
        .all(|o| (*o >= 4 * DAY && *o <= 7 * DAY + 6 * MINUTE) || *o >= 11 * DAY));
    assert!(r.ooms.iter().any(|o| (*o - 11 * DAY).abs() <= MINUTE));
    let c = &card.clusters[0];
    assert!(
        c.time_coverage_pct < 60.0 && c.time_coverage_pct > 50.0,
        "{}",
        c.time_coverage_pct
    );
    assert_eq!(
        c.always_on.size.as_deref(),
        Some("300cc"),
        "sized for the peak"
    );
}

#[test]
fn the_demand_does_not_depend_on_the_run() {
    // The oracle reads the first attempts the run recorded; drawn again
    // from the seed they are the same, whatever the strategies did.
    let text = calm(&base(FEW_QUERIES, SUSPENDED, 3));
    let (sc, run, _) = sim(&text);
    let slot = &run.slots[0];
    let again = super::scorecard::arrivals(0, slot, &sc);
    assert!(!again.is_empty());
    assert_eq!(slot.sim.stats.first_attempts, again);
    let other = text.replace("idle_after_s = 600", "idle_after_s = 60000");
    let (_, run2, _) = sim(&other);
    assert_eq!(run2.slots[0].sim.stats.first_attempts, again);
}

/// A cluster of many objects reports them hydrated one by one, so `burst`
/// keeps its burst past `max_burst_s` while the normal replica progresses
/// (as on Materialize); with one object, hydration is one event and the
/// burst gives up at `max_burst_s`.
#[test]
fn objects_hydrate_one_by_one_and_keep_a_burst_that_waits_for_them() {
    let burst_gone = |objects: u32| {
        let text = calm(&base(
            &format!(
                r#"memory_gib = 1
hydration_work = "15m"
hydration_variance = 0.0
objects = {objects}
windows = [{{ start = "00:00", duration = "1d", every = "1d", qps = 0.1 }}]"#
            ),
            r#"strategies = [{ type = "burst", config = { burst_replica_size = "800cc", max_burst_s = 1200 } }]
initial_replicas = [{ name = "r1", size = "25cc", hydrated = false }]"#,
            1,
        ));
        let (_, run, _) = sim(&text);
        let sim = &run.slots[0].sim;
        let replicas: Vec<_> = sim.replicas.iter().chain(&sim.history).collect();
        let r1 = replicas.iter().find(|r| r.name == "r1").expect("r1");
        let names: Vec<&str> = replicas.iter().map(|r| r.name.as_str()).collect();
        let burst = replicas
            .iter()
            .find(|r| r.name == "c-burst")
            .unwrap_or_else(|| panic!("a burst: {names:?}"));
        let hydrated = r1.first_hydrated_ms.expect("r1 hydrates");
        (burst.created_ms, burst.gone_ms.expect("dropped"), hydrated)
    };
    // 15 core-minutes on 0.25 cores: r1 hydrates an hour in.
    let (created, gone, hydrated) = burst_gone(1);
    assert!(hydrated > 55 * MINUTE, "{hydrated}");
    assert!(
        gone >= created + 20 * MINUTE && gone < hydrated,
        "gave up at max_burst_s: created {created}, gone {gone}, r1 {hydrated}"
    );
    let (_, gone, hydrated) = burst_gone(10);
    assert!(
        gone >= hydrated,
        "kept until r1 hydrated: gone {gone}, r1 {hydrated}"
    );
}

#[test]
fn a_scenario_refuses_objects_out_of_range() {
    for n in ["0", "100001"] {
        let text = base(
            &format!("memory_gib = 1\nhydration_work = \"1m\"\nobjects = {n}"),
            "",
            1,
        );
        let e = parse(&text).unwrap_err();
        assert!(e.contains("objects"), "{n}: {e}");
    }
}
