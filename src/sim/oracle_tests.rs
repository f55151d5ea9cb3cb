//! The oracle: a true lower bound (no run that serves every query within the
//! threshold costs less, over random scenarios and size tables), tight on
//! simple cases, and choosing sizes by their cost including hydration.

use proptest::prelude::*;

use super::scenario;
use super::tests::{calm, sim};

#[test]
fn one_window_costs_its_cold_start_and_its_length() {
    // One size (2 credits/h, 2 cores); 10 min to hydrate, 1 min to
    // provision; one hour of dense queries.
    let text = r#"
name = "t"
days = 1
interval = "1m"

[[sizes]]
name = "m"
credits_per_hour = 2.0
memory_gib = 16
cpu_cores = 2

[[clusters]]
name = "c"

[clusters.workload]
memory_gib = 8
hydration_work = "20m"
hydration_variance = 0.0
windows = [{ start = "10:00", duration = "1h", qps = 2.0 }]

[materialize]
provisioning = "1m"
restart_delay = "10s"
"#;
    let (sc, run, card) = sim(text);
    let o = &card.clusters[0].oracle;
    assert_eq!(o.size.as_deref(), Some("m"));
    // A clairvoyant schedule pays 11 minutes of lead and the hour.
    let schedule = 2.0 * (11.0 + 60.0) / 60.0;
    assert!(o.credits <= schedule + 1e-9, "{}", o.credits);
    // The bound gives up at most T (10 s) per cold-start length of stay.
    assert!(o.credits > schedule - 2.0 * 0.07, "{}", o.credits);
    let orc = super::scorecard::oracle_of(&run.slots[0], &sc);
    assert_eq!(orc.unservable, 0);
    let last = orc.spend.last().unwrap();
    assert_eq!(last.0, sc.horizon_ms);
    assert!((last.1 - orc.credits).abs() < 1e-9);
    assert!(orc
        .spend
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
}

#[test]
fn a_replica_hydrated_at_the_start_owes_no_cold_start() {
    // Always on from a hydrated replica, queries from the first second, a
    // slow hydration: the run serves everything, so the bound must not
    // charge a cold start the run never paid.
    let text = r#"
name = "t"
days = 2
interval = "1m"

[[clusters]]
name = "c"
strategies = [{ type = "target_size", config = { target_size = "100cc" } }]
initial_replicas = [{ name = "r_100cc", size = "100cc" }]

[clusters.workload]
memory_gib = 6
hydration_work = "2h"
windows = [{ start = "00:00", duration = "1d", every = "1d", qps = 1.0 }]
"#;
    let (_, _, card) = sim(text);
    let c = &card.clusters[0];
    assert_eq!(c.service.served_within, c.service.queries);
    assert!(
        c.oracle.credits <= c.credits,
        "{} > {}",
        c.oracle.credits,
        c.credits
    );
    assert!(
        c.oracle.credits > 0.95 * c.credits,
        "tight: {}",
        c.oracle.credits
    );
}

/// Two sizes with the same memory: `slow` is cheaper by the hour, `fast`
/// hydrates 16 times faster. A short daily window: the cold start decides.
const TWO_SIZES: &str = r#"
name = "custom-sizes"
days = 4
interval = "1m"

[[sizes]]
name = "slow"
credits_per_hour = 1.0
memory_gib = 16
cpu_cores = 0.5

[[sizes]]
name = "fast"
credits_per_hour = 1.5
memory_gib = 16
cpu_cores = 8

[[clusters]]
name = "scheduled"
strategies = [{ type = "schedule", config = { timezone = "UTC", prewarm_s = 720, windows = [
    { cron = "0 0 9 * * *", duration_s = 900, size = "fast", replicas = 1 },
  ], default = { replicas = 0 } } }]

[clusters.workload]
memory_gib = 10
hydration_work = "60m"          # 2 h on slow, 7.5 min on fast
windows = [{ start = "09:00", duration = "15m", every = "1d", qps = 0.5 }]
"#;

#[test]
fn the_oracle_prices_hydration_and_is_not_beaten_with_custom_sizes() {
    let (sc, run, card) = sim(TWO_SIZES);
    let c = &card.clusters[0];
    // Cold starts on the faster size, serving priced at the cheapest
    // adequate rate (the bound changes size for free).
    let orc = super::scorecard::oracle_of(&run.slots[0], &sc);
    assert_eq!(
        orc.cold_size.as_ref().map(|s| s.0.as_str()),
        Some("fast"),
        "{orc:?}"
    );
    // Every day's queries found the prewarmed replica.
    assert_eq!(
        c.service.served_within, c.service.queries,
        "{:?}",
        c.service
    );
    assert!(
        c.credits >= c.oracle.credits,
        "{} < {}",
        c.credits,
        c.oracle.credits
    );
    assert!(c.vs_oracle.unwrap() < 2.0, "{:?}", c.vs_oracle);
    // One cluster: the total is that cluster.
    assert_eq!(card.total.vs_oracle, c.vs_oracle);
    // Always-on picks the cheapest size that holds the workload.
    assert_eq!(c.always_on.size.as_deref(), Some("slow"));
}

#[test]
fn the_oracle_serves_all_demand_whatever_the_run_did() {
    // A strategy that serves nothing (its size never hydrates) does not
    // shrink the oracle: the bound is the demand's, not the run's.
    let text = calm(&TWO_SIZES.replace(
        "strategies = [{ type = \"schedule\", config = { timezone = \"UTC\", prewarm_s = 720, windows = [\n    { cron = \"0 0 9 * * *\", duration_s = 900, size = \"fast\", replicas = 1 },\n  ], default = { replicas = 0 } } }]",
        "strategies = [{ type = \"target_size\", config = { target_size = \"slow\" } }]",
    ).replace("memory_gib = 10", "memory_gib = 10\nmemory_growth = { per_day_gib = 3 }"));
    let (_, _, card) = sim(&text);
    let c = &card.clusters[0];
    assert!(c.service.served_within < c.service.queries);
    assert!(c.oracle.credits > 0.5, "{:?}", c.oracle);
    // From day 2 the need (16+ GiB) exceeds every size: unservable.
    assert!(c.service.unservable > 0);
}

/// A random scenario: a size table, one workload, and the same workload
/// under several strategies (one cluster each).
#[derive(Debug, Clone)]
struct Case {
    sizes: Vec<(f64, f64, f64)>,
    memory_frac: f64,
    growth_gib: f64,
    spike_gib: f64,
    work_min: u32,
    variance: f64,
    windows: Vec<(u32, u32, f64, u32)>,
    served_within_s: u32,
    provisioning_s: u32,
    restart_s: u32,
    wait: bool,
    attempts: u32,
    failure_rate: f64,
    prewarm_extra_s: u32,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0.1f64..4.0, 1.0f64..40.0, 0.25f64..8.0), 2..5),
        0.05f64..0.9,
        prop_oneof![Just(0.0), 0.0f64..3.0],
        prop_oneof![Just(0.0), 0.0f64..6.0],
        prop_oneof![1u32..120, 60u32..600],
        0.0f64..0.4,
        prop::collection::vec(
            (
                prop_oneof![Just(0u32), 0u32..1380],
                5u32..300,
                0.002f64..0.5,
                0u32..60,
            ),
            1..3,
        ),
        (prop_oneof![1u32..15, 1u32..120], 0u32..180, 0u32..60),
        (any::<bool>(), 1u32..6, 0.0f64..0.05, 0u32..1800),
    )
        .prop_map(
            |(sizes, memory_frac, growth_gib, spike_gib, work_min, variance, windows, t, c)| Case {
                sizes,
                memory_frac,
                growth_gib,
                spike_gib,
                work_min,
                variance,
                windows,
                served_within_s: t.0,
                provisioning_s: t.1,
                restart_s: t.2,
                wait: c.0,
                attempts: c.1,
                failure_rate: c.2,
                prewarm_extra_s: c.3,
            },
        )
}

impl Case {
    fn text(&self) -> String {
        let mut out = format!(
            r#"
name = "random"
days = 2
interval = "1m"

[materialize]
provisioning = {}
restart_delay = {}
on_no_replica = "{}"

[controller]
failure_rate = {}

[clients]
served_within = {}
attempts = {}
"#,
            self.provisioning_s,
            self.restart_s,
            if self.wait { "wait" } else { "error" },
            self.failure_rate,
            self.served_within_s,
            self.attempts,
        );
        let max_mem = self.sizes.iter().map(|s| s.1).fold(0.0, f64::max);
        for (i, (credits, mem, cores)) in self.sizes.iter().enumerate() {
            out += &format!(
                "\n[[sizes]]\nname = \"s{i}\"\ncredits_per_hour = {credits}\nmemory_gib = {mem}\ncpu_cores = {cores}\n"
            );
        }
        let memory = max_mem * self.memory_frac;
        // The cheapest size that holds the starting need, and the biggest.
        let fits: Vec<usize> = (0..self.sizes.len())
            .filter(|i| self.sizes[*i].1 >= memory)
            .collect();
        let cheapest = fits
            .iter()
            .copied()
            .min_by(|a, b| self.sizes[*a].0.total_cmp(&self.sizes[*b].0))
            .unwrap_or(0);
        let biggest = (0..self.sizes.len())
            .max_by(|a, b| self.sizes[*a].1.total_cmp(&self.sizes[*b].1))
            .unwrap_or(0);
        let prewarm =
            (self.work_min * 60 * 3 + self.provisioning_s + self.prewarm_extra_s).min(86_400);
        let cron_windows: Vec<String> = self
            .windows
            .iter()
            .map(|(start, dur, _, _)| {
                // From an hour before the window (noise moves it) to its end.
                let from = (start + 1380) % 1440;
                format!(
                    "{{ cron = \"0 {} {} * * *\", duration_s = {}, size = \"s{biggest}\", replicas = 1 }}",
                    from % 60,
                    from / 60,
                    dur * 60 + 3600
                )
            })
            .collect();
        let strategies = [
            format!(
                "strategies = [{{ type = \"target_size\", config = {{ target_size = \"s{cheapest}\" }} }}]\ninitial_replicas = [{{ name = \"r_s{cheapest}\", size = \"s{cheapest}\" }}]"
            ),
            format!(
                "strategies = [{{ type = \"target_size\", config = {{ target_size = \"s{biggest}\" }} }}]\ninitial_replicas = [{{ name = \"r_s{biggest}\", size = \"s{biggest}\" }}]"
            ),
            format!(
                "strategies = [{{ type = \"schedule\", config = {{ timezone = \"UTC\", prewarm_s = {prewarm}, windows = [{}], default = {{ replicas = 0 }} }} }}]",
                cron_windows.join(", ")
            ),
            format!(
                "strategies = [\n  {{ type = \"target_size\", config = {{ target_size = \"s{cheapest}\" }} }},\n  {{ type = \"idle_suspend\", config = {{ idle_after_s = 600 }} }},\n]"
            ),
            format!(
                "strategies = [\n  {{ type = \"target_size\", config = {{ target_size = \"s{cheapest}\" }} }},\n  {{ type = \"burst\", config = {{ burst_replica_size = \"s{biggest}\" }} }},\n  {{ type = \"idle_suspend\", config = {{ idle_after_s = 1800 }} }},\n]"
            ),
            format!(
                "strategies = [\n  {{ type = \"shrink_to_fit\", config = {{ max_replica_size = \"s{biggest}\" }} }},\n]\ninitial_replicas = [{{ name = \"big\", size = \"s{biggest}\" }}]"
            ),
        ];
        let windows: Vec<String> = self
            .windows
            .iter()
            .map(|(start, dur, qps, noise)| {
                format!(
                    "{{ start = \"{start}m\", duration = \"{dur}m\", every = \"1d\", qps = {qps}, noise = {{ start = \"{noise}m\" }} }}"
                )
            })
            .collect();
        for (i, s) in strategies.iter().enumerate() {
            out += &format!(
                r#"
[[clusters]]
name = "c{i}"
{s}

[clusters.workload]
memory_gib = {memory}
memory_growth = {{ per_day_gib = {} }}
hydration_work = "{}m"
hydration_variance = {}
spikes = [{{ at = "1d3h", duration = "30m", qps = 0.1, memory_gib = {} }}]
windows = [{}]
"#,
                self.growth_gib,
                self.work_min,
                self.variance,
                self.spike_gib,
                windows.join(", ")
            );
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// No run costs less than the oracle while serving every query within
    /// the threshold; on a cluster that starts with a hydrated replica the
    /// oracle never exceeds always-on at the needed size (which serves
    /// everything from the start).
    #[test]
    fn no_run_that_serves_everything_beats_the_oracle(case in arb_case(), seed in any::<u64>()) {
        let text = case.text();
        let sc = scenario::parse(&text, false, std::path::Path::new("."), Some(seed))
            .map_err(|e| TestCaseError::fail(format!("{}\n{text}", e.0)))?;
        let card = super::simulate(&sc, false).unwrap();
        let mut full = 0;
        for (c, spec) in card.clusters.iter().zip(&sc.clusters) {
            let sv = &c.service;
            if sv.queries > 0 && sv.served_within == sv.queries {
                full += 1;
                prop_assert!(
                    c.credits + 1e-6 >= c.oracle.credits,
                    "{}: run {} < oracle {} while serving all {} queries\n{text}",
                    c.name, c.credits, c.oracle.credits, sv.queries
                );
            }
            // Always-on is a run the oracle bounds when it is one: a
            // replica hydrated from the start whose size holds the peak.
            let peak = spec.workload.need.max_over(sc.horizon_ms);
            let holds = sc.sizes.all().iter().any(|s| s.memory_bytes >= peak);
            if holds && spec.initial_replicas.iter().any(|r| r.hydrated) {
                prop_assert!(
                    c.oracle.credits <= c.always_on.credits + 1e-6,
                    "{}: oracle {} > always-on {}", c.name, c.oracle.credits, c.always_on.credits
                );
            }
        }
        // The always-on clusters serve everything unless the need outgrows
        // their size: the bound is exercised, not vacuous.
        let peak = sc.clusters[0].workload.need.max_over(sc.horizon_ms);
        let biggest = sc.sizes.all().iter().map(|s| s.memory_bytes).fold(0.0, f64::max);
        if peak <= biggest {
            prop_assert!(full >= 1, "{:#?}", card.clusters.iter().map(|c| &c.service).collect::<Vec<_>>());
        }
    }
}
