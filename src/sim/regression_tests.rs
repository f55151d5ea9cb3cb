//! The bugs the simulator found, and behaviours a strategy must keep over
//! days, each replayed as a simulated scenario (the
//! strategies' own files).

use super::engine::Run;
use super::scenario::{DAY, HOUR, MINUTE};
use super::tests::{parse, sim};
use crate::plan::ActionKind;
use crate::strategy::StrategyKind;

fn creates(run: &Run, cluster: usize) -> Vec<&super::engine::ActionMark> {
    run.slots[cluster]
        .actions
        .iter()
        .filter(|a| a.ok && a.kind == ActionKind::CreateReplica)
        .collect()
}

/// A dashboard whose normal size hydrates slower than its morning hour of
/// demand lasts: only the burst ever serves, every morning.
const SLOW_MORNINGS: &str = r#"
name = "burst-wake"
days = 5
interval = "1m"

[[clusters]]
name = "dash"
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "burst", config = { burst_replica_size = "800cc", max_burst_s = 7200 } },
  { type = "idle_suspend", config = { idle_after_s = 900 } },
]
initial_replicas = [{ name = "r_100cc", size = "100cc" }]

[clusters.workload]
memory_gib = 6
hydration_work = "80m"          # 80 min on 100cc, 10 min on the 800cc burst
hydration_variance = 0.0
windows = [{ start = "09:00", duration = "1h", every = "1d", qps = 0.2 }]
"#;

#[test]
fn a_burst_dropped_by_a_suspension_bursts_again_on_every_wake() {
    // Before the fix the burst's start time survived the suspension: on the
    // second morning it "had run" for a day, gave up at once, and the
    // cluster served nothing for the rest of the run.
    let (_, run, card) = sim(SLOW_MORNINGS);
    let c = &card.clusters[0];
    assert!(c.alerts.is_empty(), "{:?}", c.alerts);
    let bursts: Vec<i64> = creates(&run, 0)
        .iter()
        .filter(|a| a.replica == "dash-burst")
        .map(|a| a.t / DAY)
        .collect();
    assert_eq!(bursts, vec![0, 1, 2, 3, 4], "a burst every morning");
    assert!(
        c.service.served_within_pct > 70.0,
        "served by the burst every day: {:?}",
        c.service
    );
}

/// A quiet cluster woken by a query now and then; its normal replica never
/// hydrates before the cluster is idle again, so the burst is running at
/// every suspension.
const QUIET: &str = r#"
name = "quiet-burst"
days = 2
interval = "1m"

[[clusters]]
name = "quiet"
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "burst", config = { burst_replica_size = "1600cc" } },
  { type = "idle_suspend", config = { idle_after_s = 600 } },
]

[clusters.workload]
memory_gib = 6
hydration_work = "30m"          # 30 min on 100cc: never before the cluster is idle again
hydration_variance = 0.0
windows = [{ start = "00:00", duration = "2d", qps = 0.0003 }]
"#;

#[test]
fn only_the_burst_strategy_brings_the_burst_replica_back() {
    // Before the fix idle_suspend remembered the burst replica and created
    // it on every wake itself, past the burst strategy's rules (cooldown,
    // max_burst_s, giving up).
    let (_, run, _) = sim(QUIET);
    let all = creates(&run, 0);
    let wakes: Vec<i64> = all
        .iter()
        .filter(|a| a.replica == "r_100cc" && a.strategy == StrategyKind::IdleSuspend)
        .map(|a| a.t)
        .collect();
    assert!(wakes.len() > 10, "{wakes:?}");
    for t in &wakes {
        let burst = all.iter().find(|a| a.t == *t && a.replica == "quiet-burst");
        assert_eq!(
            burst.map(|b| b.strategy),
            Some(StrategyKind::Burst),
            "the wake at {t} bursts, by the burst strategy's decision"
        );
    }
    assert!(all
        .iter()
        .filter(|a| a.replica == "quiet-burst")
        .all(|a| a.strategy == StrategyKind::Burst));
}

#[test]
fn a_burst_serving_every_night_beside_an_oom_loop_raises_an_alert() {
    let text = r#"
name = "oom-under-burst"
days = 3
interval = "1m"

[[clusters]]
name = "nightly"
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "burst", config = { burst_replica_size = "800cc" } },
  { type = "idle_suspend", config = { idle_after_s = 900 } },
]

[clusters.workload]
memory_gib = 12                 # 100cc (8 GiB) is OOM-killed again and again
hydration_work = "20m"
windows = [{ start = "01:00", duration = "1h", every = "1d", qps = 0.2 }]
"#;
    let (_, run, card) = sim(text);
    let c = &card.clusters[0];
    assert!(c.ooms > 20, "{}", c.ooms);
    assert!(
        c.service.served_within_pct > 50.0,
        "the burst serves: {:?}",
        c.service
    );
    assert_eq!(c.alerts.len(), 1, "{:?}", c.alerts);
    assert!(c.alerts[0].contains("OOM-loop") && c.alerts[0].contains("too small"));
    let first = run.slots[0]
        .alerts
        .values()
        .next()
        .map(|(t, _)| *t)
        .unwrap();
    assert!(first < DAY + 2 * HOUR, "raised the first night: {first}");
    assert_eq!(card.total.alerts, 1);
}

#[test]
fn shrink_to_fit_starts_only_the_size_that_fit_on_later_nights() {
    let text = r#"
name = "shrink-nightly"
days = 5
interval = "1m"

[[clusters]]
name = "ingest"
strategies = [
  { type = "shrink_to_fit", config = { max_replica_size = "800cc" } },
  { type = "idle_suspend", config = { idle_after_s = 900 } },
]

[clusters.workload]
memory_gib = 20                 # 300cc (24 GiB) is the smallest that holds it
hydration_work = "30m"
oom_every = "4m"
windows = [{ start = "01:00", duration = "2h", every = "1d", qps = 0.2 }]
"#;
    let (_, run, card) = sim(text);
    let later: Vec<String> = creates(&run, 0)
        .iter()
        .filter(|a| a.t > DAY)
        .map(|a| a.size.clone().unwrap_or_default())
        .collect();
    assert!(!later.is_empty());
    assert!(
        later.iter().all(|s| s == "300cc"),
        "after the first night only 300cc: {later:?}"
    );
    let c = &card.clusters[0];
    assert!(
        c.vs_oracle.unwrap() < 2.0,
        "{:?} {}",
        c.vs_oracle,
        c.credits
    );
}

#[test]
fn a_window_shifted_before_midnight_keeps_its_rhythm() {
    // 00:30 shifted by up to ±2 h: a negative shift is the evening before,
    // every day — not 00:00 (the start used to be clamped to 0).
    let text = r#"
name = "shifted"
days = 4
interval = "1m"

[[clusters]]
name = "etl"
count = 30
jitter = { start = "2h" }
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "idle_suspend", config = { idle_after_s = 900 } },
]

[clusters.workload]
memory_gib = 4
hydration_work = "5m"
windows = [{ start = "00:30", duration = "30m", every = "1d", qps = 0.1 }]
"#;
    let sc = parse(text).unwrap();
    let mut evening = 0;
    for c in &sc.clusters {
        let occ = &c.workload.occurrences;
        let tod = occ[occ.len() - 1].start % DAY;
        for o in occ {
            let clipped = o.start == 0 || o.end == sc.horizon_ms;
            assert!(o.end - o.start == 30 * MINUTE || clipped, "{o:?}");
            if o.start > 0 {
                assert_eq!(o.start % DAY, tod, "{}: the same time every day", c.name);
            }
        }
        assert!(
            !(tod == 0 && occ[0].start == 0 && occ.len() >= 4),
            "{}: clamped",
            c.name
        );
        if tod >= 22 * HOUR + 30 * MINUTE {
            evening += 1;
            // The first is the evening's, or the end of the one before the
            // run (which ends before 00:30: it started the evening before).
            let first = occ[0];
            assert!(
                first.start >= 22 * HOUR || (first.start == 0 && first.end < 30 * MINUTE),
                "{}: {first:?}",
                c.name
            );
        }
    }
    assert!(
        evening >= 5,
        "about a quarter shift before midnight: {evening}"
    );
    // In the run: an evening cluster's users come in the evening, not
    // after midnight.
    let (sc, run, _) = sim(text);
    for (i, slot) in run.slots.iter().enumerate() {
        let occ = &slot.sim.spec.workload.occurrences;
        if occ[occ.len() - 1].start % DAY >= 22 * HOUR + 30 * MINUTE {
            let arrivals = super::scorecard::arrivals(i, slot, &sc);
            assert!(!arrivals.is_empty());
            let small_hours = arrivals
                .iter()
                .filter(|t| (DAY + 30 * MINUTE..DAY + 22 * HOUR).contains(*t))
                .count();
            assert_eq!(small_hours, 0, "{}", slot.sim.spec.name);
        }
    }
}

/// A workload whose memory grows through the week and drops back (a weekly
/// compaction): `refit_after_s` finds the smaller size again after the
/// drop; without it the cluster stays on the week's largest size.
#[test]
fn refit_after_s_follows_a_workload_that_shrinks() {
    let scenario = |refit: &str| {
        format!(
            r#"
name = "refit"
days = 14
interval = "1m"

[[clusters]]
name = "ingest"
strategies = [{{ type = "shrink_to_fit", config = {{ max_replica_size = "400cc"{refit} }} }}]

[clusters.workload]
memory_gib = 6                  # 100cc holds it after each drop
hydration_work = "30m"
oom_every = "4m"
memory_growth = {{ per_day_gib = 2.5, reset_every = "7d" }}
windows = [{{ start = "00:00", duration = "1d", qps = 0.1 }}]
"#
        )
    };
    let (_, run, card) = sim(&scenario(", refit_after_s = 86400"));
    let (_, _, never) = sim(&scenario(""));
    // After the drop on day 7, the sizes below the week's largest are found
    // again, one a day: 200cc, then 100cc.
    let sizes_after_drop: Vec<String> = creates(&run, 0)
        .iter()
        .filter(|a| a.t > 7 * DAY && a.t < 9 * DAY)
        .map(|a| a.size.clone().unwrap_or_default())
        .collect();
    assert!(
        sizes_after_drop.contains(&"200cc".to_string())
            && sizes_after_drop.contains(&"100cc".to_string()),
        "{sizes_after_drop:?}"
    );
    let (with, without) = (&card.clusters[0], &never.clusters[0]);
    assert!(
        with.credits < 0.95 * without.credits,
        "{} vs {}",
        with.credits,
        without.credits
    );
    assert!(
        with.service.served_within_pct >= without.service.served_within_pct,
        "{:?} vs {:?}",
        with.service,
        without.service
    );
}

/// A predicting strategy whose scenario starts in the afternoon with a log
/// of six hours before it (what `simulate --from-history --days 1` writes):
/// the log began after the last midnight, so no whole day was logged yet.
/// The day's demand was sliced backwards (a panic, exit 101).
#[test]
fn a_log_younger_than_a_day_is_an_empty_history() {
    let (_, _, card) = sim(r#"
name = "short-log"
start = "2026-01-05T16:00:00Z"
days = 2
history = "6h"
interval = "1m"

[[clusters]]
name = "a"
strategies = [
  { type = "target_size", config = { target_size = "100cc" } },
  { type = "idle_suspend", config = { idle_after_s = 900, predict = true } },
]

[clusters.workload]
memory_gib = 4
hydration_work = "5m"
windows = [{ start = "0h", duration = "1h", every = "2h", qps = 0.1 }]
"#);
    let c = &card.clusters[0];
    assert!(c.service.queries > 0, "{:?}", c.service);
    assert!(c.credits > 0.0, "the cluster ran: {}", c.credits);
}
