//! The scorecard of a run: per cluster and in total, how well the users were
//! served — the share of queries served within `served_within` of their
//! first attempt (failed and unfinished queries count as not served), with
//! the time a hydrated replica covered the demand beside it and the worst
//! daily cold start — and what it cost, against the oracle (a lower bound no
//! run serving every query can beat, `oracle`) and always-on at the size the
//! cluster needs. Rendered as text or JSON; both are views of `Scorecard`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::demand::{self, intersect, length, Arrivals};
use super::engine::{Run, Slot};
use super::oracle::{self, Baseline, Oracle};
use super::scenario::{OnNoReplica, Scenario, SECOND};
use crate::plan::ActionKind;

/// Version of the JSON document (2: per-query service, the true oracle).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize)]
pub struct Scorecard {
    pub format_version: u32,
    pub scenario: ScenarioInfo,
    pub clusters: Vec<ClusterCard>,
    pub total: Totals,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub days: f64,
    pub interval_s: f64,
    pub seed: u64,
    pub ticks: i64,
    pub clusters: usize,
    /// A query served within this of its first attempt is served well.
    pub served_within_s: f64,
    pub on_no_replica: String,
    pub rounds: Rounds,
}

/// The controller's rounds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rounds {
    pub scheduled: u64,
    /// Failed before acting (`controller.failure_rate`).
    pub failed: u64,
    /// Not started: a blocking managed resize held the controller.
    pub blocked: u64,
}

/// How the queries fared.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Service {
    pub queries: u64,
    /// Served within `served_within_s` of the first attempt: the headline.
    pub served_within: u64,
    pub served_within_pct: f64,
    /// Served at all (however late).
    pub served: u64,
    /// Served after waiting.
    pub waited: u64,
    /// Every attempt failed (the cluster had no replica each time).
    pub failed: u64,
    /// Attempts that failed, retries included.
    pub failed_attempts: u64,
    /// Still waiting or between retries at the end.
    pub unfinished: u64,
    /// Queries no size could have served (the need exceeds every size).
    pub unservable: u64,
    /// Waits of the served and unfinished queries.
    pub p95_wait_s: f64,
    pub worst_wait_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Actions {
    pub create: u64,
    pub drop: u64,
    pub failed: u64,
    /// Managed clusters: `ALTER CLUSTER … SET (SIZE | REPLICATION FACTOR)`.
    pub alter: u64,
    /// `"<strategy> <create|drop|resize|set replication factor>"` → count.
    pub by_strategy: BTreeMap<String, u64>,
}

/// The worst wait from a day's first query to the first query of that day
/// served.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ColdStart {
    /// Over the days whose first query was served in the end (0 when none
    /// was): a day never served is in `days_never_served`.
    pub worst_s: f64,
    /// The day it happened (`YYYY-MM-DD`), if any day was served.
    pub day: Option<String>,
    /// Days with queries none of which was ever served (their cold start
    /// counts to the end of the run). Not a day whose first query came
    /// too close to the end for any controller to serve it
    /// ([`Scenario::fastest_wake_ms`]): it is cut off, not unserved.
    pub days_never_served: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterCard {
    pub name: String,
    pub credits: f64,
    /// The lower bound for serving every query within `served_within_s`.
    pub oracle: Baseline,
    /// `credits / oracle.credits` (absent when the oracle spends nothing).
    pub vs_oracle: Option<f64>,
    /// Always-on at the size the cluster needs.
    pub always_on: Baseline,
    /// Saving against always-on, percent.
    pub savings_pct: f64,
    pub service: Service,
    /// Demand time with a hydrated replica / all demand time, percent.
    pub time_coverage_pct: f64,
    pub demand_s: f64,
    pub covered_s: f64,
    pub worst_daily_cold_start: ColdStart,
    pub actions: Actions,
    pub ooms: u64,
    /// Time from each resize request to the old replica's retirement.
    pub resize_to_retire_s: Vec<f64>,
    /// Alerts the planner raised (each condition once, the first text seen).
    pub alerts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub credits: f64,
    pub oracle_credits: f64,
    pub vs_oracle: Option<f64>,
    pub always_on_credits: f64,
    pub savings_pct: f64,
    pub service: Service,
    pub time_coverage_pct: f64,
    pub demand_s: f64,
    pub covered_s: f64,
    /// The worst cluster's, with its day, and the cluster-days never
    /// served summed: the shape of each cluster's.
    pub worst_daily_cold_start: ColdStart,
    /// `worst_daily_cold_start.worst_s` (kept for readers of format 1).
    pub worst_daily_cold_start_s: f64,
    /// `worst_daily_cold_start.days_never_served` (kept for readers of
    /// format 1).
    pub days_never_served: u64,
    pub actions: Actions,
    pub ooms: u64,
    pub max_resize_to_retire_s: Option<f64>,
    pub alerts: u64,
    /// Clusters no strategy runs, when there are some: counted in every
    /// total above, left out of the summary's "the strategies spent".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_alone: Option<LeftAlone>,
}

/// Clusters no strategy runs (no row in any phase, or one Materialize
/// schedules itself, `on-refresh`): they run as they are. A backtest
/// `--from-history` counted the session cluster and `quickstart` in what
/// "the strategies spent", and in its ratio (an outside check).
#[derive(Debug, Clone, Serialize)]
pub struct LeftAlone {
    pub clusters: Vec<String>,
    pub credits: f64,
    pub oracle_credits: f64,
    pub always_on_credits: f64,
}

/// Whether no strategy runs the cluster ([`LeftAlone`]).
fn left_alone(spec: &super::scenario::ClusterSpec) -> bool {
    spec.schedule == crate::model::Schedule::OnRefresh
        || spec.phases.iter().all(|p| p.rows.is_empty())
}

/// When a hydrated replica existed.
pub fn coverage(slot: &Slot, horizon: i64) -> Vec<(i64, i64)> {
    demand::merge(
        slot.sim
            .history
            .iter()
            .chain(slot.sim.replicas.iter())
            .flat_map(|r| r.hydrated_intervals(r.gone_ms.unwrap_or(horizon)))
            .collect(),
    )
}

/// The first attempts of the cluster's queries (the same stream the run drew).
pub fn arrivals(slot_index: usize, slot: &Slot, sc: &Scenario) -> Vec<i64> {
    let w = &slot.sim.spec.workload;
    Arrivals::new(sc.seed, slot_index as u64, &w.occurrences, &w.begins).all()
}

/// The oracle of one cluster of the run, from the first attempts the run
/// recorded (the same as `arrivals`: the demand does not depend on the run).
pub fn oracle_of(slot: &Slot, sc: &Scenario) -> Oracle {
    oracle::oracle(&slot.sim.spec, sc, &slot.sim.stats.first_attempts)
}

fn service_of(slot: &Slot, sc: &Scenario, unservable: u64) -> Service {
    let st = &slot.sim.stats;
    let unfinished = st.unfinished as usize;
    let served_waits = &st.waits[..st.waits.len().saturating_sub(unfinished)];
    let late = served_waits
        .iter()
        .filter(|w| **w > sc.clients.served_within_ms)
        .count() as u64;
    let within = st.served - late;
    let (p95, worst) = p95_and_worst(st.served + st.unfinished, &st.waits);
    Service {
        queries: st.requests,
        served_within: within,
        served_within_pct: round(share_of(within as f64, st.requests as f64)),
        served: st.served,
        waited: served_waits.len() as u64,
        failed: st.failed,
        failed_attempts: st.failed_attempts,
        unfinished: st.unfinished,
        unservable,
        p95_wait_s: p95,
        worst_wait_s: worst,
    }
}

/// Nearest-rank p95 over `n` waits of which `waits` are the non-zero ones.
fn p95_and_worst(n: u64, waits: &[i64]) -> (f64, f64) {
    let mut w: Vec<i64> = waits.iter().copied().filter(|w| *w > 0).collect();
    w.sort_unstable();
    let zeros = n.saturating_sub(w.len() as u64);
    let p95 = if n == 0 {
        0
    } else {
        let rank = ((n as f64) * 0.95).ceil() as u64;
        if rank <= zeros {
            0
        } else {
            w.get((rank - zeros - 1) as usize).copied().unwrap_or(0)
        }
    };
    (
        p95 as f64 / SECOND as f64,
        w.last().copied().unwrap_or(0) as f64 / SECOND as f64,
    )
}

/// Days with queries (`first`, `i64::MAX`: none) none of which was served
/// (`served`, `i64::MAX`: none), but for a day whose first query came after
/// `cut_off` (too close to the end for any controller to serve it: a
/// statement logged seconds before a replay's end is no day never served).
fn never_served(first: &[i64], served: &[i64], cut_off: i64) -> u64 {
    first
        .iter()
        .zip(served)
        .filter(|(f, s)| **f <= cut_off && **s == i64::MAX)
        .count() as u64
}

fn cold_start_of(slot: &Slot, sc: &Scenario) -> ColdStart {
    let st = &slot.sim.stats;
    let worst = st
        .day_first
        .iter()
        .zip(&st.day_served)
        .enumerate()
        // Days served: a day never served is counted apart (its wait
        // counted to the run's end read as 158h59m in a 7-day run where
        // the table said `never (7d)`: an outside check).
        .filter(|(_, (f, s))| **f < i64::MAX && **s < i64::MAX)
        .map(|(d, (f, s))| (s - f, d))
        .max();
    let days_never_served = never_served(
        &st.day_first,
        &st.day_served,
        sc.horizon_ms - sc.fastest_wake_ms(),
    );
    ColdStart {
        days_never_served,
        worst_s: worst
            .map(|(w, _)| w.max(0) as f64 / SECOND as f64)
            .unwrap_or(0.0),
        day: worst.map(|(_, d)| {
            (sc.start.date_naive() + chrono::Days::new(d as u64))
                .format("%Y-%m-%d")
                .to_string()
        }),
    }
}

fn share_of(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        100.0
    }
}

fn saving(cost: f64, base: f64) -> f64 {
    if base > 0.0 {
        100.0 * (1.0 - cost / base)
    } else {
        0.0
    }
}

fn ratio(cost: f64, oracle: f64) -> Option<f64> {
    (oracle > 0.0).then(|| round(cost / oracle))
}

fn actions_of(slot: &Slot) -> Actions {
    let mut a = Actions::default();
    for m in &slot.actions {
        if !m.ok {
            a.failed += 1;
            continue;
        }
        let verb = match m.kind {
            ActionKind::CreateReplica => {
                a.create += 1;
                "create"
            }
            ActionKind::DropReplica => {
                a.drop += 1;
                "drop"
            }
            ActionKind::SetReplicationFactor | ActionKind::SetSize => {
                a.alter += 1;
                m.kind.verb()
            }
        };
        *a.by_strategy
            .entry(format!("{} {verb}", m.strategy))
            .or_default() += 1;
    }
    a
}

fn cluster_card(slot: &Slot, orc: &Oracle, sc: &Scenario) -> ClusterCard {
    let spec = &slot.sim.spec;
    let dem = spec.workload.demand_intervals(sc.horizon_ms);
    let cov = coverage(slot, sc.horizon_ms);
    let demand_ms = length(&dem);
    let covered_ms = length(&intersect(&dem, &cov));
    let always_on = oracle::always_on(spec, sc);
    let credits = slot.sim.credits;
    let mut alerts: Vec<(i64, String)> = slot.alerts.values().cloned().collect();
    alerts.sort();
    ClusterCard {
        name: spec.name.clone(),
        credits: round(credits),
        oracle: Baseline {
            size: orc.size.as_ref().map(|s| s.0.clone()),
            credits: round(orc.credits),
        },
        vs_oracle: ratio(credits, orc.credits),
        savings_pct: round(saving(credits, always_on.credits)),
        always_on: Baseline {
            credits: round(always_on.credits),
            ..always_on
        },
        service: service_of(slot, sc, orc.unservable),
        time_coverage_pct: round(share_of(covered_ms as f64, demand_ms as f64)),
        demand_s: demand_ms as f64 / SECOND as f64,
        covered_s: covered_ms as f64 / SECOND as f64,
        worst_daily_cold_start: cold_start_of(slot, sc),
        actions: actions_of(slot),
        ooms: slot
            .sim
            .history
            .iter()
            .chain(slot.sim.replicas.iter())
            .map(|r| r.ooms.len() as u64)
            .sum(),
        resize_to_retire_s: slot
            .resize_ms
            .iter()
            .map(|m| *m as f64 / SECOND as f64)
            .collect(),
        alerts: alerts.into_iter().map(|(_, text)| text).collect(),
    }
}

/// Rounds to 1/1000 so that reports stay byte-stable and readable.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The oracles of every cluster (in order), computed on the cores there are.
pub fn oracles(sc: &Scenario, run: &Run) -> Vec<Oracle> {
    let n = run.slots.len();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4)
        .min(n.max(1));
    if threads <= 1 {
        return run.slots.iter().map(|s| oracle_of(s, sc)).collect();
    }
    let mut out: Vec<Option<Oracle>> = vec![None; n];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, oracle_of(&run.slots[i], sc)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(part) = h.join() {
                for (i, o) in part {
                    out[i] = Some(o);
                }
            }
        }
    });
    out.into_iter()
        .enumerate()
        .map(|(i, o)| o.unwrap_or_else(|| oracle_of(&run.slots[i], sc)))
        .collect()
}

pub fn build(sc: &Scenario, run: &Run) -> Scorecard {
    build_with(sc, run, &oracles(sc, run))
}

pub fn build_with(sc: &Scenario, run: &Run, oracles: &[Oracle]) -> Scorecard {
    let clusters: Vec<ClusterCard> = run
        .slots
        .iter()
        .zip(oracles)
        .map(|(s, o)| cluster_card(s, o, sc))
        .collect();
    let sum = |f: &dyn Fn(&ClusterCard) -> f64| round(clusters.iter().map(f).sum::<f64>());
    let credits = sum(&|c| c.credits);
    let always_on_credits = sum(&|c| c.always_on.credits);
    let oracle_credits = round(oracles.iter().map(|o| o.credits).sum());
    let demand_s = sum(&|c| c.demand_s);
    let covered_s = sum(&|c| c.covered_s);
    let all_waits: Vec<i64> = run
        .slots
        .iter()
        .flat_map(|s| s.sim.stats.waits.iter().copied())
        .collect();
    let mut service = Service::default();
    for c in &clusters {
        let s = &c.service;
        service.queries += s.queries;
        service.served_within += s.served_within;
        service.served += s.served;
        service.waited += s.waited;
        service.failed += s.failed;
        service.failed_attempts += s.failed_attempts;
        service.unfinished += s.unfinished;
        service.unservable += s.unservable;
    }
    service.served_within_pct = round(share_of(
        service.served_within as f64,
        service.queries as f64,
    ));
    (service.p95_wait_s, service.worst_wait_s) =
        p95_and_worst(service.served + service.unfinished, &all_waits);
    let mut actions = Actions::default();
    for c in &clusters {
        actions.create += c.actions.create;
        actions.drop += c.actions.drop;
        actions.failed += c.actions.failed;
        actions.alter += c.actions.alter;
        for (k, v) in &c.actions.by_strategy {
            *actions.by_strategy.entry(k.clone()).or_default() += v;
        }
    }
    // The ratio of the sums as run, not of the rounded figures: with a
    // small oracle the rounding moved it (one cluster's total said 71.57x
    // beside its row's 71.52x).
    let run_credits: f64 = run.slots.iter().map(|s| s.sim.credits).sum();
    let run_oracle: f64 = oracles.iter().map(|o| o.credits).sum();
    let cold = ColdStart {
        days_never_served: clusters
            .iter()
            .map(|c| c.worst_daily_cold_start.days_never_served)
            .sum(),
        ..clusters
            .iter()
            .map(|c| &c.worst_daily_cold_start)
            // A served day before none (a tie at 0s: always hydrated).
            .max_by(|a, b| {
                (a.worst_s, a.day.is_some())
                    .partial_cmp(&(b.worst_s, b.day.is_some()))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .cloned()
            .unwrap_or_default()
    };
    let total = Totals {
        credits,
        oracle_credits,
        vs_oracle: ratio(run_credits, run_oracle),
        always_on_credits,
        savings_pct: round(saving(credits, always_on_credits)),
        service,
        time_coverage_pct: round(share_of(covered_s, demand_s)),
        demand_s,
        covered_s,
        worst_daily_cold_start_s: cold.worst_s,
        days_never_served: cold.days_never_served,
        worst_daily_cold_start: cold,
        actions,
        ooms: clusters.iter().map(|c| c.ooms).sum(),
        max_resize_to_retire_s: clusters
            .iter()
            .flat_map(|c| c.resize_to_retire_s.iter().copied())
            .reduce(f64::max),
        alerts: clusters.iter().map(|c| c.alerts.len() as u64).sum(),
        left_alone: None,
    };
    let alone: Vec<usize> = (0..clusters.len())
        .filter(|&i| left_alone(&run.slots[i].sim.spec))
        .collect();
    let total = Totals {
        left_alone: (!alone.is_empty()).then(|| LeftAlone {
            clusters: alone.iter().map(|&i| clusters[i].name.clone()).collect(),
            credits: round(alone.iter().map(|&i| run.slots[i].sim.credits).sum()),
            oracle_credits: round(alone.iter().map(|&i| oracles[i].credits).sum()),
            always_on_credits: round(alone.iter().map(|&i| clusters[i].always_on.credits).sum()),
        }),
        ..total
    };
    // What the strategies ran, from the figures as run (the rounded
    // totals less the rounded rest moved the ratio).
    let run_by_strategies = (0..clusters.len())
        .filter(|i| !alone.contains(i) || alone.len() == clusters.len())
        .fold((0.0, 0.0, 0.0), |(c, o, a), i| {
            (
                c + run.slots[i].sim.credits,
                o + oracles[i].credits,
                a + clusters[i].always_on.credits,
            )
        });
    let summary = interpret(&total, sc, run_by_strategies);
    Scorecard {
        format_version: FORMAT_VERSION,
        scenario: ScenarioInfo {
            name: sc.name.clone(),
            description: sc.description.clone(),
            days: round(sc.days()),
            interval_s: sc.interval_ms as f64 / SECOND as f64,
            seed: sc.seed,
            ticks: sc.ticks(),
            clusters: clusters.len(),
            served_within_s: sc.clients.served_within_ms as f64 / SECOND as f64,
            on_no_replica: match sc.materialize.on_no_replica {
                OnNoReplica::Error => "error".into(),
                OnNoReplica::Wait => "wait".into(),
            },
            rounds: Rounds {
                scheduled: run.rounds.scheduled,
                failed: run.rounds.failed,
                blocked: run.rounds.blocked,
            },
        },
        clusters,
        total,
        summary,
    }
}

/// The summary: `(credits, oracle, always_on)` are those of the clusters
/// the strategies run as run (all of them when every one is left alone),
/// the clusters left alone said apart.
fn interpret(t: &Totals, sc: &Scenario, (credits, oracle, always_on): (f64, f64, f64)) -> String {
    // (Every cluster left alone: the totals are theirs.)
    let some_run = t
        .left_alone
        .as_ref()
        .filter(|a| a.clusters.len() < sc.clusters.len());
    let vs = ratio(credits, oracle);
    let (credits, oracle, always_on) = (round(credits), round(oracle), round(always_on));
    let savings = round(saving(credits, always_on));
    let vs_oracle = match vs {
        // Under the bound only by not serving: said, not read as a win.
        Some(r) if r < 1.0 => format!(
            "{} the oracle's lower bound ({}), which only a run that does not serve every \
             query can spend less than",
            ratio_text(Some(r)),
            num(oracle)
        ),
        Some(r) => format!(
            "{} the oracle's lower bound ({})",
            ratio_text(Some(r)),
            num(oracle)
        ),
        None => "the oracle spends nothing (no servable demand)".to_string(),
    };
    let (who, apart) = match (&t.left_alone, some_run) {
        (None, _) => ("The strategies".to_string(), String::new()),
        (Some(_), None) => (
            "No strategy runs any cluster: as they ran, they".to_string(),
            String::new(),
        ),
        (_, Some(a)) => {
            let n = sc.clusters.len() - a.clusters.len();
            (
                format!("On the {n} cluster(s) they run, the strategies"),
                format!(
                    " {} cluster(s) no strategy runs ({}) spent {} credits as they ran \
                     (TOTAL counts them).",
                    a.clusters.len(),
                    names_said(&a.clusters),
                    num(a.credits)
                ),
            )
        }
    };
    // The service figures are every cluster's: said so when some are
    // left alone (read after "the strategies", they seemed theirs: an
    // outside check).
    let over = match some_run {
        Some(_) => format!("Over all {} clusters, ", sc.clusters.len()),
        None => String::new(),
    };
    let s = &t.service;
    let spent = format!(
        "{who} spent {} credits: {vs_oracle}, {} than always-on at the needed size ({}).{apart}",
        num(credits),
        than_always_on(savings),
        num(always_on),
    );
    // Nothing to serve: not "100.0% of 0 queries … covered 100.0% of the
    // demand time" (an outside check of a backtest of a quiet cluster).
    if s.queries == 0 {
        return format!("{spent} {over}no query came, so no service is measured.");
    }
    format!(
        "{spent} {over}{} of {} queries were served within {} ({} failed for good, {} unfinished at \
         the end); a hydrated replica covered {} of the demand time; {}.",
        pct(s.served_within_pct),
        s.queries,
        secs(sc.clients.served_within_ms as f64 / SECOND as f64),
        s.failed,
        s.unfinished,
        pct(t.time_coverage_pct),
        cold_sentence(&t.worst_daily_cold_start),
    )
}

/// A share of queries or of demand time as a cell: `-` with none to
/// share (`100.0%` of nothing read as perfect service).
fn share_cell(pct_value: f64, of: f64) -> String {
    match of > 0.0 {
        true => pct(pct_value),
        false => "-".into(),
    }
}

/// Cluster names as a summary lists them: the first five, then how many
/// more.
pub fn names_said(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    match names.len() - shown.len() {
        0 => shown.join(", "),
        m => format!("{} and {m} more", shown.join(", ")),
    }
}

/// The summary's words for the worst daily cold start: the days served,
/// and apart, the days none of whose queries was ever served.
fn cold_sentence(c: &ColdStart) -> String {
    let days = |n: u64| match n {
        1 => "1 cluster-day".to_string(),
        n => format!("{n} cluster-days"),
    };
    match (c.days_never_served, c.day.is_some()) {
        (0, _) => format!("the worst daily cold start was {}", secs(c.worst_s)),
        (n, true) => format!(
            "the worst daily cold start was {} on the days served, and on {} no query was ever \
             served",
            secs(c.worst_s),
            days(n)
        ),
        (n, false) => format!("no query was ever served, on {} with queries", days(n)),
    }
}

/// A percentage with `decimals` digits, and more where those would hide
/// that it is not whole: 99.957 of queries served is `99.96%`, not
/// `100.0%`; 0.04 % is `0.04%`, not `0.0%`; never `-0.0%`.
pub fn percent(x: f64, decimals: usize) -> String {
    for d in decimals..=4 {
        let text = format!("{x:.d$}");
        let shown: f64 = text.parse().unwrap_or(x);
        let hides = (shown == 100.0 && x != 100.0) || (shown == 0.0 && x != 0.0);
        if !hides {
            return match shown == 0.0 {
                true => format!("{:.d$}%", 0.0),
                false => format!("{text}%"),
            };
        }
    }
    // Within 0.00005 of 0 or 100: said as that.
    let x = if x.abs() < 1.0 { 0.0 } else { x };
    format!("{x:.decimals$}%")
}

/// A percentage as tables and summaries say it: one decimal
/// ([`percent`]).
pub fn pct(x: f64) -> String {
    percent(x, 1)
}

/// `12.5`, `1234`, `0.031`: enough digits to compare, no more.
pub fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// `0s`, `45s`, `12m05s`, `3h02m`.
pub fn secs(s: f64) -> String {
    let s = s.round() as i64;
    if s < 60 {
        format!("{s}s")
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s < 3600 {
        format!("{}m", s / 60)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Columns sized to their content; the first is left-aligned.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| crate::model::display_width(&r[c]))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            // By display width: `{:<w$}` pads by characters.
            let pad = " ".repeat(widths[c].saturating_sub(crate::model::display_width(cell)));
            if c == 0 {
                let _ = write!(line, "{cell}{pad}");
            } else {
                let _ = write!(line, "  {pad}{cell}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// ` +3 alter` for managed clusters' cluster-level changes.
fn alter_cell(n: u64) -> String {
    if n > 0 {
        format!(" +{n} alter")
    } else {
        String::new()
    }
}

fn resize_cell(v: &[f64]) -> String {
    match v.iter().copied().reduce(f64::max) {
        None => "-".into(),
        Some(max) if v.len() == 1 => secs(max),
        Some(max) => format!("{}x, max {}", v.len(), secs(max)),
    }
}

/// A saving against always-on (percent) as every sentence says it:
/// `89.2% less`, or `89.2% more` for a run that spent more (a plot said
/// "-89.2% below always-on" where the summary said more: an outside
/// check).
pub fn than_always_on(savings_pct: f64) -> String {
    let side = if savings_pct >= 0.0 { "less" } else { "more" };
    format!("{} {side}", pct(savings_pct.abs()))
}

/// The worst daily cold start as a cell: `12m43s`; `12m43s, never (3d)`
/// with days none of whose queries was served (`never (3d)` alone hid the
/// worst of the days served: an outside check); `never (3d)` when no day
/// was.
pub fn cold_cell(c: &ColdStart) -> String {
    match (c.days_never_served, &c.day) {
        (0, _) => secs(c.worst_s),
        (n, Some(_)) => format!("{}, never ({n}d)", secs(c.worst_s)),
        (n, None) => format!("never ({n}d)"),
    }
}

/// A ratio to the oracle as every table, line and plot writes it: `1.07x`,
/// whole from 100 (`1237091x` beside an oracle of almost nothing read as
/// `1237090.91x`), `-` when there is none (the oracle spends nothing).
pub fn ratio_text(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) => format!("{r:.2}x"),
        None => "-".into(),
    }
}

fn baseline_cell(b: &Baseline) -> String {
    format!("{} ({})", num(b.credits), b.size.as_deref().unwrap_or("-"))
}

fn actions_cell(a: &Actions) -> String {
    format!(
        "{}/{}{}{}",
        a.create,
        a.drop,
        alter_cell(a.alter),
        if a.failed > 0 {
            format!(" ({} failed)", a.failed)
        } else {
            String::new()
        }
    )
}

pub fn text(r: &Scorecard) -> String {
    let s = &r.scenario;
    let mut out = format!(
        "scenario {}: {} days at a {} interval, seed {}, {} cluster(s)\n",
        crate::model::printable(&s.name),
        num(s.days),
        secs(s.interval_s),
        s.seed,
        s.clusters
    );
    if let Some(first) = s.description.lines().next() {
        let _ = writeln!(out, "{first}");
    }
    out.push('\n');
    let within = format!("served<={}", secs(s.served_within_s));
    let resizes = r.clusters.iter().any(|c| !c.resize_to_retire_s.is_empty());
    let mut head = vec![
        "cluster".to_string(),
        "credits".into(),
        "vs oracle".into(),
        "oracle".into(),
        "always-on".into(),
        "saved".into(),
        within,
        "failed".into(),
        "coverage".into(),
        "cold start".into(),
        "p95 wait".into(),
        "create/drop".into(),
        "OOMs".into(),
    ];
    if resizes {
        head.push("resize->retired".into());
    }
    let mut rows = vec![head];
    for c in &r.clusters {
        let sv = &c.service;
        // A name from the catalog (`--from-history`) with a line break
        // broke the table: shown escaped, as every table shows it.
        let mut row = vec![
            crate::model::printable(&c.name),
            num(c.credits),
            ratio_text(c.vs_oracle),
            baseline_cell(&c.oracle),
            baseline_cell(&c.always_on),
            pct(c.savings_pct),
            share_cell(sv.served_within_pct, sv.queries as f64),
            sv.failed.to_string(),
            share_cell(c.time_coverage_pct, c.demand_s),
            cold_cell(&c.worst_daily_cold_start),
            secs(sv.p95_wait_s),
            actions_cell(&c.actions),
            c.ooms.to_string(),
        ];
        if resizes {
            row.push(resize_cell(&c.resize_to_retire_s));
        }
        rows.push(row);
    }
    let t = &r.total;
    let mut total = vec![
        "TOTAL".into(),
        num(t.credits),
        ratio_text(t.vs_oracle),
        num(t.oracle_credits),
        num(t.always_on_credits),
        pct(t.savings_pct),
        share_cell(t.service.served_within_pct, t.service.queries as f64),
        t.service.failed.to_string(),
        share_cell(t.time_coverage_pct, t.demand_s),
        cold_cell(&t.worst_daily_cold_start),
        secs(t.service.p95_wait_s),
        actions_cell(&t.actions),
        t.ooms.to_string(),
    ];
    if resizes {
        total.push(
            t.max_resize_to_retire_s
                .map(secs)
                .unwrap_or_else(|| "-".into()),
        );
    }
    if r.clusters.len() > 40 {
        // A fleet: the clusters that cost most above their oracle, then the total.
        let mut idx: Vec<usize> = (0..r.clusters.len()).collect();
        let excess = |i: usize| r.clusters[i].credits - r.clusters[i].oracle.credits;
        idx.sort_by(|a, b| excess(*b).total_cmp(&excess(*a)).then(a.cmp(b)));
        let mut picked: Vec<Vec<String>> = vec![rows[0].clone()];
        picked.extend(idx.iter().take(15).map(|i| rows[i + 1].clone()));
        picked.push(
            std::iter::once(format!(
                "… {} more (see --output json)",
                r.clusters.len() - 15
            ))
            .chain(std::iter::repeat_n(String::new(), rows[0].len() - 1))
            .collect(),
        );
        rows = picked;
    }
    rows.push(total);
    out.push_str(&table(&rows));
    let mut kinds: Vec<String> = t
        .actions
        .by_strategy
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if kinds.is_empty() {
        kinds.push("none".into());
    }
    let sv = &t.service;
    let _ = writeln!(
        out,
        // The first four add up to the queries; "waited" counts served
        // queries with any wait, within the threshold too (it was said
        // among them, and the parts summed to more: an outside check).
        "\nqueries: {} ({} served within {}, {} served later, {} failed for good, {} unfinished at the end; {} served after a wait of any length; {} attempts failed, retries included; {} unservable)",
        sv.queries,
        sv.served_within,
        secs(s.served_within_s),
        sv.served.saturating_sub(sv.served_within),
        sv.failed,
        sv.unfinished,
        sv.waited,
        sv.failed_attempts,
        sv.unservable
    );
    let _ = writeln!(out, "actions: {}", kinds.join(", "));
    let _ = writeln!(
        out,
        "controller rounds: {} ({} failed, {} held by a blocking resize)",
        s.rounds.scheduled, s.rounds.failed, s.rounds.blocked
    );
    let alerts: Vec<String> = r
        .clusters
        .iter()
        .flat_map(|c| {
            c.alerts
                .iter()
                .map(move |a| crate::model::printable(&format!("  {}: {a}", c.name)))
        })
        .collect();
    if !alerts.is_empty() {
        let _ = writeln!(out, "alerts raised by the planner:");
        for a in alerts.iter().take(20) {
            let _ = writeln!(out, "{a}");
        }
        if alerts.len() > 20 {
            let _ = writeln!(out, "  … {} more (see --output json)", alerts.len() - 20);
        }
    }
    let _ = writeln!(
        out,
        "served<={w} = queries served within {w} of their first attempt (failed and unfinished count as not served); \
         coverage = demand time with a hydrated replica; cold start = the worst wait, over the days, from a day's \
         first query to its first query served (never (Nd): N days none was, beside the worst of the days served; a day \
         whose first query came too late to be served before the end left out); oracle = a lower bound on any run that serves every query within {w}; \
         always-on = the cheapest size that holds the workload's peak memory, all the time.",
        w = secs(s.served_within_s)
    );
    let _ = writeln!(out, "\n{}", r.summary);
    out
}

#[cfg(test)]
mod tests {
    use super::{cold_cell, never_served, percent, ratio_text, ColdStart};

    /// A share of nothing is `-`, not 100.0%.
    #[test]
    fn a_share_of_nothing_is_a_dash() {
        assert_eq!(super::share_cell(100.0, 0.0), "-");
        assert_eq!(super::share_cell(99.5, 10.0), "99.5%");
    }

    /// A saving is said as less or more, never as a negative saving.
    #[test]
    fn a_saving_is_said_less_or_more_than_always_on() {
        assert_eq!(super::than_always_on(56.2), "56.2% less");
        assert_eq!(super::than_always_on(-89.2), "89.2% more");
    }

    /// The cold start cell says the worst of the days served beside the
    /// days none was, and only the latter when no day was.
    #[test]
    fn a_cold_start_cell_keeps_the_served_days_worst() {
        let mut c = ColdStart {
            worst_s: 763.0,
            day: Some("2026-01-05".into()),
            days_never_served: 0,
        };
        assert_eq!(cold_cell(&c), "12m43s");
        c.days_never_served = 3;
        assert_eq!(cold_cell(&c), "12m43s, never (3d)");
        c.day = None;
        c.worst_s = 0.0;
        assert_eq!(cold_cell(&c), "never (3d)");
    }

    /// A day never served is one whose first query came early enough to
    /// be served; one logged too close to the end is cut off, not counted
    /// (a backtest said `never (1d)` of a statement seconds before its
    /// end). A served day and a day without queries are not counted.
    #[test]
    fn a_day_whose_first_query_came_too_late_to_serve_is_not_never_served() {
        const NONE: i64 = i64::MAX;
        let first = [100, 200, NONE, 900, 1_000];
        let served = [NONE, 250, NONE, NONE, NONE];
        assert_eq!(never_served(&first, &served, 950), 2);
        assert_eq!(never_served(&first, &served, 1_000), 3);
        assert_eq!(never_served(&first, &served, 99), 0);
    }

    /// One way to write a ratio to the oracle, whole from 100.
    #[test]
    fn a_ratio_to_the_oracle_is_written_one_way() {
        assert_eq!(ratio_text(Some(1.0749)), "1.07x");
        assert_eq!(ratio_text(Some(0.0)), "0.00x");
        assert_eq!(ratio_text(Some(1_237_090.91)), "1237091x");
        assert_eq!(ratio_text(None), "-");
    }

    /// A share short of whole is never said whole, nor a small one none.
    #[test]
    fn a_percentage_never_reads_whole_or_nothing_when_it_is_not() {
        assert_eq!(percent(99.957, 1), "99.96%");
        assert_eq!(percent(99.94, 1), "99.9%");
        assert_eq!(percent(100.0, 1), "100.0%");
        assert_eq!(percent(0.04, 1), "0.04%");
        assert_eq!(percent(0.0, 1), "0.0%");
        assert_eq!(percent(-0.0, 1), "0.0%");
        assert_eq!(percent(-0.02, 1), "-0.02%");
        assert_eq!(percent(-0.000001, 1), "0.0%");
        assert_eq!(percent(99.999, 2), "99.999%");
        assert_eq!(percent(12.34, 1), "12.3%");
    }
}
