//! A cluster's `[clusters.workload]` table: its raw keys, and their
//! resolution into a `Workload` — the memory it needs over time, how long
//! it takes to hydrate, how its replicas crash, and the realised occurrences
//! of its demand (per-occurrence noise, weekly seasonality, holidays, spikes).
//! Everything random is drawn here from the scenario's seed, once, before the
//! run.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, Datelike, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use super::demand::{NeedFn, NeedSpec, Occurrence};
use super::scenario::{
    number, parse_csv, Dur, OnNoReplica, ScenarioError, Start, DAY, GIB, MAX_MEMORY_GIB, MINUTE,
    SECOND,
};
use crate::model::ReplicaSize;

/// What a cluster's users do and what its dataflows need.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Memory the dataflows need at the start (bytes), before growth, spikes and load.
    pub memory_bytes: f64,
    /// Memory needed over time: a replica with less is OOM-killed.
    pub need: NeedFn,
    /// Hydration work in core-milliseconds: a replica of `c` cores hydrates
    /// in `work / c`, times a factor drawn in `1 ± hydration_variance`.
    pub hydration_core_ms: f64,
    pub hydration_variance: f64,
    /// The indexes, materialized views and sources the cluster maintains:
    /// a hydrating replica reports them hydrated one by one, evenly over
    /// its hydration (1: hydration is one event, as the catalog shows a
    /// cluster with a single object).
    pub objects: u32,
    /// A replica too small when it starts is OOM-killed this long after.
    pub oom_every_ms: i64,
    /// A replica that hydrates crashes this long after each hydration.
    pub crash_every_ms: Option<i64>,
    pub service_ms: i64,
    pub on_no_replica: OnNoReplica,
    /// Demand: Poisson arrivals over these (sorted by start) ...
    pub occurrences: Vec<Occurrence>,
    /// ... or statement begin times from a trace (sorted).
    pub begins: Vec<i64>,
    /// The same demand before the run (`history`, negative times): only the
    /// statement log sees it — what a controller deployed at the start
    /// finds there. Drawn from its own stream, so it moves nothing else.
    pub history_occurrences: Vec<Occurrence>,
    /// A trace's statement begins before the start (negative, sorted,
    /// within `history`): the statement log's history, as recorded.
    pub history_begins: Vec<i64>,
}

impl Workload {
    /// Nominal hydration time on a size, or `None` when the size is too
    /// small for the starting memory and crash-loops instead.
    pub fn hydration_ms(&self, size: &ReplicaSize) -> Option<i64> {
        if size.memory_bytes < self.memory_bytes {
            return None;
        }
        Some(self.nominal_hydration_ms(size))
    }

    pub fn nominal_hydration_ms(&self, size: &ReplicaSize) -> i64 {
        let cores = size.cpu_cores.max(1e-3);
        (self.hydration_core_ms / cores).ceil() as i64
    }

    /// The shortest hydration the variance allows (the oracle's).
    pub fn fastest_hydration_ms(&self, size: &ReplicaSize) -> i64 {
        (self.nominal_hydration_ms(size) as f64 * (1.0 - self.hydration_variance)).floor() as i64
    }

    /// When the cluster has demand: its occurrences, or each traced
    /// statement for its service time; clipped to `[0, horizon)`.
    pub fn demand_intervals(&self, horizon: i64) -> Vec<(i64, i64)> {
        let v: Vec<(i64, i64)> = if self.begins.is_empty() {
            self.occurrences
                .iter()
                .filter(|o| o.qps > 0.0)
                .map(|o| (o.start, o.end))
                .collect()
        } else {
            self.begins
                .iter()
                .map(|b| (*b, b + self.service_ms))
                .collect()
        };
        super::demand::merge(
            v.into_iter()
                .map(|(a, b)| (a.max(0), b.min(horizon)))
                .collect(),
        )
    }
}

// ---------------------------------------------------------------- raw format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWorkload {
    memory_gib: f64,
    hydration_work: Dur,
    hydration_variance: Option<f64>,
    objects: Option<u32>,
    oom_every: Option<Dur>,
    crash_every: Option<Dur>,
    service_time: Option<Dur>,
    memory_growth: Option<RawGrowth>,
    #[serde(default)]
    memory_per_qps_gib: f64,
    on_no_replica: Option<OnNoReplica>,
    weekly: Option<Vec<f64>>,
    #[serde(default)]
    windows: Vec<RawWindow>,
    #[serde(default)]
    spikes: Vec<RawSpike>,
    random_spikes: Option<RawRandomSpikes>,
    trace_csv: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrowth {
    per_day_gib: f64,
    reset_every: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    start: Start,
    duration: Dur,
    every: Option<Dur>,
    #[serde(default)]
    weekdays_only: bool,
    qps: f64,
    #[serde(default)]
    noise: RawNoise,
}

/// Drawn anew for every occurrence of a window.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoise {
    start: Option<Dur>,
    duration: Option<Dur>,
    #[serde(default)]
    qps: f64,
    #[serde(default)]
    skip: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpike {
    at: Start,
    duration: Dur,
    #[serde(default)]
    qps: f64,
    #[serde(default)]
    memory_gib: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRandomSpikes {
    per_week: f64,
    duration: Dur,
    #[serde(default)]
    qps: f64,
    #[serde(default)]
    memory_gib: f64,
}

/// Per-cluster variation of a fleet (`jitter` on a `[[clusters]]` entry),
/// drawn once per cluster.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJitter {
    start: Option<Dur>,
    #[serde(default)]
    memory: f64,
    #[serde(default)]
    hydration: f64,
    #[serde(default)]
    qps: f64,
}

impl RawJitter {
    /// What a fleet of `count` members' rates may be scaled by in all:
    /// each draws its factor uniformly within ±`qps` once, so their mean
    /// stays within four standard deviations (`qps`/√(3·count) each) of 1,
    /// and never beyond 1 + `qps`. The demand's estimate must assume it:
    /// two members at ±99 % drew 18.6 million queries where 10.4 were
    /// expected.
    pub(super) fn peak_qps_factor(&self, count: u32) -> f64 {
        let q = self.qps.clamp(0.0, 1.0);
        1.0 + q.min(4.0 * q / (3.0 * f64::from(count.max(1))).sqrt())
    }
}

/// What the workload's resolution needs from the scenario.
pub(super) struct Context<'a> {
    pub base: &'a Path,
    pub horizon_ms: i64,
    pub start: DateTime<Utc>,
    /// Days (since the start's date) that are holidays.
    pub holidays: &'a BTreeSet<i64>,
    pub on_no_replica: OnNoReplica,
    /// Statement history before the start to draw (ms; 0: none).
    pub history_ms: i64,
    /// Trace files given as text (by their `trace_csv` name) instead of
    /// read from disk: a scenario rendered in memory (`simulate
    /// --from-history`) is parsed exactly as its written files would be.
    pub files: &'a std::collections::BTreeMap<String, String>,
}

/// The most objects a cluster may maintain in a scenario.
const MAX_OBJECTS: u32 = 100_000;

/// The parts of a workload shared by every cluster of a fleet entry.
pub(super) struct Shared {
    trace: super::scenario::Trace,
}

/// Checks the workload's keys and reads its trace, once per entry.
pub(super) fn shared(w: &RawWorkload, cx: &Context) -> Result<Shared, ScenarioError> {
    let err = |m: &str| Err(ScenarioError(format!("workload {m}")));
    num("memory_gib", w.memory_gib, 0.0..=MAX_MEMORY_GIB)?;
    num(
        "hydration_variance",
        w.hydration_variance.unwrap_or(0.0),
        0.0..1.0,
    )?;
    if w.objects.is_some_and(|n| !(1..=MAX_OBJECTS).contains(&n)) {
        return err(&format!("key 'objects': 1 to {MAX_OBJECTS}"));
    }
    num(
        "memory_per_qps_gib",
        w.memory_per_qps_gib,
        0.0..=MAX_MEMORY_GIB,
    )?;
    if let Some(g) = &w.memory_growth {
        num(
            "memory_growth.per_day_gib",
            g.per_day_gib,
            0.0..=MAX_MEMORY_GIB,
        )?;
        if g.reset_every.is_some_and(|r| r.0 < MINUTE) {
            return err("key 'memory_growth.reset_every': at least 1m");
        }
    }
    if let Some(week) = &w.weekly {
        if week.len() != 7 {
            return err("key 'weekly': seven factors (Monday first), each within 0..=100");
        }
        for (d, f) in week.iter().enumerate() {
            num(&format!("weekly[{d}]"), *f, 0.0..=100.0)?;
        }
    }
    for (i, s) in w.spikes.iter().enumerate() {
        if s.duration.0 <= 0 {
            return err(&format!("key 'spikes[{i}].duration': must be positive"));
        }
        num(&format!("spikes[{i}].qps"), s.qps, 0.0..=MAX_QPS)?;
        num(
            &format!("spikes[{i}].memory_gib"),
            s.memory_gib,
            0.0..=MAX_MEMORY_GIB,
        )?;
    }
    if let Some(r) = &w.random_spikes {
        if r.duration.0 <= 0 {
            return err("key 'random_spikes.duration': must be positive");
        }
        num("random_spikes.per_week", r.per_week, 0.0..=1000.0)?;
        num("random_spikes.qps", r.qps, 0.0..=MAX_QPS)?;
        num(
            "random_spikes.memory_gib",
            r.memory_gib,
            0.0..=MAX_MEMORY_GIB,
        )?;
    }
    for (i, rw) in w.windows.iter().enumerate() {
        if rw.duration.0 <= 0 {
            return err(&format!("key 'windows[{i}].duration': must be positive"));
        }
        num(&format!("windows[{i}].qps"), rw.qps, 0.0..=MAX_QPS)?;
        if rw.every.is_some_and(|e| e.0 < rw.duration.0.max(MINUTE)) {
            return err(&format!(
                "windows[{i}]: key 'every' must be at least the duration and 1m"
            ));
        }
        num(&format!("windows[{i}].noise.qps"), rw.noise.qps, 0.0..1.0)?;
        num(&format!("windows[{i}].noise.skip"), rw.noise.skip, 0.0..1.0)?;
        // Each occurrence lasts from 0 to twice the window's duration, and
        // moves by less than the window's period: a larger noise drew
        // occurrences over years for a day's run (it hung).
        if rw.noise.duration.is_some_and(|n| n.0 > rw.duration.0) {
            return err(&format!(
                "windows[{i}]: key 'noise.duration' must be at most the window's duration"
            ));
        }
        if let (Some(n), Some(e)) = (rw.noise.start, rw.every) {
            if n.0 > e.0 {
                return err(&format!(
                    "windows[{i}]: key 'noise.start' must be at most 'every'"
                ));
            }
        }
    }
    let trace = match (&w.trace_csv, w.windows.is_empty()) {
        (Some(_), false) => return err("give either 'windows' or 'trace_csv', not both"),
        (Some(file), true) => {
            let path = cx.base.join(file);
            let text = match cx.files.get(file) {
                Some(text) => text.clone(),
                None => super::scenario::read_bounded(&path, super::scenario::MAX_TRACE_BYTES)
                    .map_err(|e| {
                        ScenarioError(format!("workload key 'trace_csv': {}: {e}", path.display()))
                    })?,
            };
            parse_csv(&text, cx.horizon_ms, cx.history_ms)
                .map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))?
        }
        (None, _) => super::scenario::Trace::default(),
    };
    Ok(Shared { trace })
}

/// What a workload will draw, in expectation (before any of it is drawn).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    /// Queries of the run: each is kept to the end (its first attempt,
    /// its wait, the oracle's arrays: about 100 bytes).
    pub queries: f64,
    /// Demand occurrences (every repetition of a window, every spike), of
    /// the run and of the history: each is kept too.
    pub occurrences: f64,
    /// The most queries a fleet's jitter may draw (`queries` is what it
    /// expects): what the bound is checked against. Set by the scenario's
    /// expansion of each entry, which knows its fleet.
    pub peak_queries: f64,
}

impl Estimate {
    /// Adds `n` clusters of `other`.
    pub fn add(&mut self, other: &Estimate, n: u32) {
        self.queries += other.queries * f64::from(n);
        self.occurrences += other.occurrences * f64::from(n);
        self.peak_queries += other.peak_queries * f64::from(n);
    }
}

/// The expected queries and occurrences of one cluster of this workload:
/// each window's rate times its length times its repetitions (scaled by
/// the weekly factors, weekends off for `weekdays_only`, skipped days),
/// spikes and random spikes alike, or the trace's statements. The
/// history's queries are drawn one at a time and only counted by hour, so
/// only its occurrences count.
impl RawWorkload {
    /// The trace file it names (`trace_csv`), as written.
    pub(super) fn trace_csv(&self) -> Option<&str> {
        self.trace_csv.as_deref()
    }
}

pub(super) fn estimate(w: &RawWorkload, shared: &Shared, cx: &Context) -> Estimate {
    let mut e = Estimate::default();
    if !shared.trace.begins.is_empty() || !shared.trace.history.is_empty() {
        e.queries = shared.trace.begins.len() as f64;
        return e;
    }
    let secs = |ms: i64| ms.max(0) as f64 / SECOND as f64;
    for rw in &w.windows {
        let days: f64 = (0..7)
            .map(|d| {
                let off = rw.weekdays_only && d >= 5;
                let f = w.weekly.as_ref().and_then(|wk| wk.get(d)).copied();
                if off {
                    0.0
                } else {
                    f.unwrap_or(1.0)
                }
            })
            .sum::<f64>()
            / 7.0;
        let rate = rw.qps * days * (1.0 - rw.noise.skip);
        let length = rw.duration.0.max(MINUTE);
        // A one-off window's start (a repeating one's count needs none).
        let once_at = rw.start.from(cx.start, false);
        for (span, run) in [(cx.horizon_ms, true), (cx.history_ms, false)] {
            let (n, active) = match rw.every {
                Some(Dur(every)) => {
                    let n = (span as f64 / every as f64).ceil();
                    (n, (n * length as f64).min(span as f64) as i64)
                }
                None if run && once_at < span => (1.0, length.min(span - once_at)),
                None => (0.0, 0),
            };
            e.occurrences += n;
            if run {
                e.queries += rate * secs(active);
            }
        }
    }
    for s in &w.spikes {
        e.occurrences += 1.0;
        e.queries += s.qps * secs(s.duration.0.min(cx.horizon_ms - s.at.from(cx.start, false)));
    }
    if let Some(r) = &w.random_spikes {
        for (span, run) in [(cx.horizon_ms, true), (cx.history_ms, false)] {
            let n = r.per_week * span as f64 / (7 * DAY) as f64;
            e.occurrences += n;
            if run {
                e.queries += n * r.qps * secs(r.duration.0);
            }
        }
    }
    e
}

/// The most queries per second a window or spike may ask for.
const MAX_QPS: f64 = 1000.0;

/// [`number`] for a key of the workload table.
fn num(key: &str, v: f64, range: impl std::ops::RangeBounds<f64>) -> Result<f64, ScenarioError> {
    number(key, v, range).map_err(|e| ScenarioError(format!("workload {}", e.0)))
}

/// One cluster's workload. `fleet`: whether `jitter` applies (a `count > 1`
/// entry); `rng` is the scenario's resolution stream.
pub(super) fn resolve(
    w: &RawWorkload,
    j: &RawJitter,
    shared: &Shared,
    cx: &Context,
    rng: &mut ChaCha8Rng,
    fleet: bool,
) -> Result<Workload, ScenarioError> {
    for (key, v) in [
        ("jitter.memory", j.memory),
        ("jitter.hydration", j.hydration),
        ("jitter.qps", j.qps),
    ] {
        number(key, v, 0.0..1.0)?;
    }
    let mut factor = |f: f64| {
        if fleet && f > 0.0 {
            1.0 + rng.random_range(-f..=f)
        } else {
            1.0
        }
    };
    let memory_bytes = w.memory_gib * GIB * factor(j.memory);
    let hydration_core_ms = w.hydration_work.0 as f64 * factor(j.hydration);
    let qps_factor = factor(j.qps);
    let shift = match j.start {
        Some(Dur(s)) if fleet && s > 0 => rng.random_range(-s..=s),
        _ => 0,
    };
    // Each cluster's demand draws from its own generator, seeded from the
    // scenario's stream, so adding a window elsewhere does not move it.
    let demand_seed = rng.random::<u64>();
    let mut demand_rng: ChaCha8Rng = rand::SeedableRng::seed_from_u64(demand_seed);
    let mut occurrences = Vec::new();
    let mut history_occurrences = Vec::new();
    if shared.trace.begins.is_empty() && shared.trace.history.is_empty() {
        for rw in &w.windows {
            occurrences.extend(window_occurrences(
                rw,
                shift,
                qps_factor,
                w.weekly.as_deref(),
                cx,
                (0, cx.horizon_ms),
                &mut demand_rng,
            ));
        }
        occurrences.extend(spikes(w, cx, &occurrences, &mut demand_rng));
        if cx.history_ms > 0 {
            let mut hist_rng: ChaCha8Rng =
                rand::SeedableRng::seed_from_u64(demand_seed ^ 0x4849_5354_4f52_5921);
            let span = (-cx.history_ms, 0);
            for rw in &w.windows {
                history_occurrences.extend(window_occurrences(
                    rw,
                    shift,
                    qps_factor,
                    w.weekly.as_deref(),
                    cx,
                    span,
                    &mut hist_rng,
                ));
            }
            history_occurrences.extend(random_spikes(w, span, &history_occurrences, &mut hist_rng));
            history_occurrences.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)));
        }
    }
    occurrences.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)));
    let growth = w.memory_growth.as_ref();
    let spec = NeedSpec {
        base: memory_bytes,
        growth: growth
            .map(|g| g.per_day_gib * GIB / DAY as f64)
            .unwrap_or(0.0),
        reset_every_ms: growth.and_then(|g| g.reset_every.map(|d| d.0)),
        per_qps: w.memory_per_qps_gib * GIB,
    };
    Ok(Workload {
        memory_bytes,
        need: NeedFn::build(&spec, &occurrences, cx.horizon_ms),
        hydration_core_ms,
        hydration_variance: w.hydration_variance.unwrap_or(0.2),
        objects: w.objects.unwrap_or(1),
        oom_every_ms: w.oom_every.map(|d| d.0).unwrap_or(5 * MINUTE).max(SECOND),
        crash_every_ms: w.crash_every.map(|d| d.0.max(SECOND)),
        service_ms: w.service_time.map(|d| d.0).unwrap_or(SECOND).max(1),
        on_no_replica: w.on_no_replica.unwrap_or(cx.on_no_replica),
        occurrences,
        begins: shared.trace.begins.clone(),
        history_occurrences,
        history_begins: shared.trace.history.clone(),
    })
}

/// The occurrences of one window that overlap `span` (the run, or the
/// history before it). A start shifted before the window's first day keeps
/// the window's rhythm (a 01:00 window shifted by −2 h happens at 23:00
/// every day); an occurrence that began before the span is cut at its
/// start, like demand already under way.
fn window_occurrences(
    rw: &RawWindow,
    shift: i64,
    qps_factor: f64,
    weekly: Option<&[f64]>,
    cx: &Context,
    span: (i64, i64),
    rng: &mut ChaCha8Rng,
) -> Vec<Occurrence> {
    let (from, to) = span;
    let n = &rw.noise;
    let start_noise = n.start.map(|d| d.0).unwrap_or(0);
    let dur_noise = n.duration.map(|d| d.0).unwrap_or(0);
    let first = rw.start.from(cx.start, rw.every.is_some()) + shift;
    let mut nominal = match rw.every {
        // The earliest occurrence that can still reach into the span.
        Some(Dur(e)) => {
            let reach = rw.duration.0 + dur_noise + start_noise;
            first + ((from - first - reach).div_euclid(e) + 1) * e
        }
        // A one-off window happens in the run only.
        None if from < 0 => return Vec::new(),
        None => first,
    };
    let mut out = Vec::new();
    while nominal < to + start_noise {
        let when = cx.start + chrono::Duration::milliseconds(nominal);
        let day = (when.date_naive() - cx.start.date_naive()).num_days();
        let holiday = cx.holidays.contains(&day);
        let weekday = if holiday {
            Weekday::Sun
        } else {
            when.weekday()
        };
        let weekend = matches!(weekday, Weekday::Sat | Weekday::Sun);
        let week = weekly
            .map(|w| w[weekday.num_days_from_monday() as usize])
            .unwrap_or(1.0);
        // Draw every noise term for every occurrence, used or not, so one
        // skipped day does not shift the draws of the next.
        let ds = draw_sym(rng, start_noise);
        let dd = draw_sym(rng, dur_noise);
        let dq = if n.qps > 0.0 {
            1.0 + rng.random_range(-n.qps..=n.qps)
        } else {
            1.0
        };
        let skipped = n.skip > 0.0 && rng.random::<f64>() < n.skip;
        let start = nominal + ds;
        let end = start + (rw.duration.0 + dd).max(MINUTE);
        let qps = rw.qps * qps_factor * week * dq;
        let off = skipped || (rw.weekdays_only && weekend);
        if !off && qps > 0.0 && end > from && start < to {
            out.push(Occurrence {
                start: start.max(from),
                end: end.min(to),
                qps,
                extra_memory: 0.0,
            });
        }
        match rw.every {
            Some(Dur(e)) => nominal += e,
            None => break,
        }
    }
    out
}

fn draw_sym(rng: &mut ChaCha8Rng, max: i64) -> i64 {
    if max > 0 {
        rng.random_range(-max..=max)
    } else {
        0
    }
}

/// The workload's one-off spikes, and its random ones: a Poisson number of
/// them, each starting at a uniformly drawn instant of the demand (of the
/// whole run when there is none).
fn spikes(
    w: &RawWorkload,
    cx: &Context,
    demand: &[Occurrence],
    rng: &mut ChaCha8Rng,
) -> Vec<Occurrence> {
    let mut out: Vec<Occurrence> = w
        .spikes
        .iter()
        .map(|s| (s, s.at.from(cx.start, false)))
        .map(|(s, at)| Occurrence {
            start: at,
            end: (at + s.duration.0).min(cx.horizon_ms),
            qps: s.qps,
            extra_memory: s.memory_gib * GIB,
        })
        .filter(|o| within_run(o.start, cx.horizon_ms))
        .collect();
    out.extend(random_spikes(w, (0, cx.horizon_ms), demand, rng));
    out
}

/// Whether something that starts at `at` (ms from the start) happens in a
/// run of `horizon_ms`: a spike or a reconfigure at or after the end is
/// accepted (a scenario shortened by `days` keeps them) and has no effect.
pub(super) fn within_run(at: i64, horizon_ms: i64) -> bool {
    at < horizon_ms
}

/// The one-off spikes that start at or after the run's end, as their key
/// and start ([`within_run`]).
pub(super) fn spikes_after_the_end(
    w: &RawWorkload,
    start: DateTime<Utc>,
    horizon_ms: i64,
) -> Vec<(String, i64)> {
    w.spikes
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("workload.spikes[{i}]"), s.at.from(start, false)))
        .filter(|(_, at)| !within_run(*at, horizon_ms))
        .collect()
}

/// The workload's random spikes within `span`: a Poisson number of them,
/// each at a uniformly drawn instant of the demand (of the whole span
/// when there is none).
fn random_spikes(
    w: &RawWorkload,
    span: (i64, i64),
    demand: &[Occurrence],
    rng: &mut ChaCha8Rng,
) -> Vec<Occurrence> {
    let mut out = Vec::new();
    let Some(r) = &w.random_spikes else {
        return out;
    };
    let weeks = (span.1 - span.0) as f64 / (7 * DAY) as f64;
    let n = poisson(rng, r.per_week * weeks);
    let spans: Vec<(i64, i64)> = if demand.is_empty() {
        vec![span]
    } else {
        super::demand::merge(demand.iter().map(|o| (o.start, o.end)).collect())
    };
    let total: i64 = spans.iter().map(|(a, b)| b - a).sum();
    for _ in 0..n {
        let mut x = rng.random_range(0..total.max(1));
        let mut at = 0;
        for (a, b) in &spans {
            if x < b - a {
                at = a + x;
                break;
            }
            x -= b - a;
        }
        out.push(Occurrence {
            start: at,
            end: (at + r.duration.0).min(span.1),
            qps: r.qps,
            extra_memory: r.memory_gib * GIB,
        });
    }
    out
}

/// A Poisson draw (Knuth's method; means here are small).
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 500.0 {
        return mean.round() as u64;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}
