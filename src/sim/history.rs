//! `simulate --from-history`: a scenario built from what a live Materialize
//! recorded — its clusters, replicas, sizes and strategy rows, and the
//! statement log of the last `--days` — so strategies can be backtested on
//! the operator's own demand. Pure: [`build`] turns a [`LiveHistory`] (plain
//! data, read by `db::history`) into the scenario's TOML text and its trace
//! CSV texts; the simulator then parses that very text, so a scenario
//! written with `--out` replays to the same figures.
//!
//! Approximations, said in examples/scenarios/README.md too:
//! - demand is known per minute: a minute whose logged statements weigh
//!   `w` (each counts 1/sample_rate) becomes round(w) begins spread evenly
//!   over the minute;
//! - memory is the most the replicas used, now or within the window
//!   (`memory_percent` × the size's memory, from the utilization and its
//!   history), and more than the memory of a size a replica was OOM-killed
//!   on within the window; half the cluster's size when nothing is
//!   reported. One number for the whole replay: a workload whose memory
//!   grows through the week is replayed at its peak;
//! - hydration is the time from a live replica's first status event
//!   (offline, `initializing`) to its first `online` event, times the size's
//!   cores (hydration is work over cores); dropped replicas left no size, so
//!   a cluster without live replicas uses what predictive `idle_suspend`
//!   learned, if anything;
//! - a cluster `idle_suspend` holds suspended (no replica) is replayed with
//!   the replicas its next resume brings back, as if resumed at the start.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::scenario::{DAY, GIB, MINUTE, SECOND};
use crate::model::human_duration;
use crate::model::{Cluster, ClusterId, Replica, ReplicaSize, Size, SizeCatalog, StrategyRow};
use crate::plan::rows;
use crate::strategy::predict::hydration::{Basis, Hydrations};
use crate::strategy::{StrategyConfig, StrategyKind, SuspendedReplica};

/// Longest statement-log history kept before the replay's start.
pub const MAX_HISTORY_MS: i64 = 7 * DAY;
/// Hydration assumed when no replica's was ever seen (the predictive
/// strategy's own default), on the cluster's size.
pub const DEFAULT_HYDRATION_S: f64 = crate::strategy::predict::hydration::DEFAULT_S as f64;
/// At most this many begins are written for one minute (1000 per second).
const MAX_BEGINS_PER_MINUTE: u64 = 60_000;

/// What `simulate --from-history` read from the live Materialize.
#[derive(Debug, Clone, Default)]
pub struct LiveHistory {
    /// The end of the window (the database's clock, whole minute).
    pub until: DateTime<Utc>,
    /// The window's length.
    pub days: u32,
    pub sizes: SizeCatalog,
    /// The release and its settings (`mz_version()`, the `SHOW`s every
    /// command reads): how a managed resize runs, the sizes Materialize
    /// allows (`allowed_cluster_replica_sizes`), and its
    /// `max_replicas_per_cluster` (`None`: not readable; the simulator then
    /// assumes Materialize's default).
    pub env: crate::model::Environment,
    /// The cluster our session runs on (`--exec-cluster`, or the server's
    /// default): the controller leaves it alone, and so does the replay.
    pub session_cluster: Option<String>,
    /// User clusters with their replicas.
    pub clusters: Vec<Cluster>,
    /// The strategy rows (every row; the one validator picks those in effect).
    pub strategies: Vec<StrategyRow>,
    /// clusterctl's state, the newest row per cluster: what `idle_suspend`
    /// remembers of a cluster it suspended, and the hydration times it learned.
    pub states: BTreeMap<ClusterId, serde_json::Value>,
    /// What the audit trail shows each cluster's last suspension dropped:
    /// what a suspended cluster whose state was wiped wakes with.
    pub suspensions: BTreeMap<ClusterId, crate::model::LastSuspension>,
    /// The statement log by cluster and minute.
    pub buckets: Vec<Bucket>,
    /// The log's mean sample rate over the window (`None`: no rows).
    pub sample_rate: Option<f64>,
    pub hydrations: Vec<HydrationSample>,
    /// Memory in use now and the peaks within the window (the largest counts).
    pub memory: Vec<MemorySample>,
    /// Replicas OOM-killed within the window.
    pub ooms: Vec<OomSample>,
    /// Signals that could not be read (the run goes on without them).
    pub notes: Vec<String>,
}

/// Logged statements that began in one minute on one cluster, each
/// weighing 1/sample_rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub cluster: ClusterId,
    pub minute: DateTime<Utc>,
    pub weight: f64,
}

/// How long one replica took from its creation to `online`.
#[derive(Debug, Clone, PartialEq)]
pub struct HydrationSample {
    pub cluster: ClusterId,
    /// The replica's name (temporary replicas are left out by it).
    pub replica: String,
    pub size: Size,
    pub seconds: f64,
}

/// A live replica OOM-killed within the window: its workload needed more
/// memory than its size has.
#[derive(Debug, Clone, PartialEq)]
pub struct OomSample {
    pub cluster: ClusterId,
    /// The replica's name (temporary replicas are left out by it).
    pub replica: String,
    pub size: Size,
    pub kills: u32,
}

/// Memory in use on one live replica (now, or its peak within the window).
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySample {
    pub cluster: ClusterId,
    /// The replica's name (temporary replicas are left out by it).
    pub replica: String,
    pub bytes: f64,
}

/// How to name what is built.
#[derive(Debug, Clone)]
pub struct Options {
    /// The scenario's `name`.
    pub name: String,
    /// Directory of the trace files, relative to the scenario file
    /// (`out.traces` for `out.toml`).
    pub trace_dir: String,
    /// What the command line set of the replay (`--seed`, `--history`,
    /// `--served-within`): written into the scenario, so that `simulate
    /// FILE` replays the same figures without them.
    pub replay: super::scenario::Overrides,
}

/// A scenario as text: the TOML, its trace CSVs by their `trace_csv` name,
/// and what the operator should know about how it was built.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Built {
    pub toml: String,
    /// File name (under `trace_dir`) → contents.
    pub traces: BTreeMap<String, String>,
    /// Where the traces go, relative to the scenario file.
    pub trace_dir: String,
    pub notes: Vec<String>,
}

/// The statement-log history kept before the replay: a quarter of the
/// window, at most 7 days, in whole minutes. Predictive strategies learn
/// from it; the rest of the window is replayed.
pub fn history_ms(days: u32) -> i64 {
    let quarter = i64::from(days) * DAY / 4;
    quarter.min(MAX_HISTORY_MS) / MINUTE * MINUTE
}

/// The scenario for `h`. Errors only when there is nothing to replay.
pub fn build(h: &LiveHistory, o: &Options) -> Result<Built, String> {
    let mut notes = h.notes.clone();
    let allowed = h
        .env
        .settings
        .allowed_cluster_replica_sizes
        .as_deref()
        .unwrap_or_default();
    let sizes = allowed_sizes(h, allowed, usable_sizes(&h.sizes, &mut notes), &mut notes);
    // Rows are judged as live: a size only a live replica runs (kept in
    // the scenario for it) is not allowed to a row (a row naming one ran
    // in the replay, as another cluster ran that size: an outside check).
    let judged_by = sizes.clone().restrict_to(allowed);
    if sizes.is_empty() {
        return Err("the size catalog (mz_cluster_replica_sizes) has no usable size".into());
    }
    if h.clusters.is_empty() {
        return Err("no user cluster to replay".into());
    }
    let window_ms = i64::from(h.days) * DAY;
    let history = history_ms(h.days);
    let replay = window_ms - history;
    let start = h.until - chrono::Duration::milliseconds(replay);
    let mut out = String::new();
    let interval_s = interval_of(h, &mut notes);
    header(&mut out, h, o, start, replay, history, interval_s);
    sizes_toml(&mut out, &sizes);
    let by_cluster = group_buckets(&h.buckets);
    let in_effect = rows::in_effect(&h.strategies);
    let mut traces = BTreeMap::new();
    let mut defaulted_memory = Vec::new();
    for c in &h.clusters {
        let trace = by_cluster
            .get(&c.id)
            .map(|b| trace_csv(b, start))
            .filter(|t| !t.is_empty());
        let trace_name = trace.map(|text| {
            let name = trace_file(&o.trace_dir, c, &traces);
            traces.insert(name.clone(), text);
            name
        });
        let rows = in_effect.get(&c.id).map(Vec::as_slice).unwrap_or(&[]);
        let strategies = strategies_of(c, rows, &judged_by, h.until, &mut notes);
        let state = h.states.get(&c.id);
        let remembered = crate::strategy::remembered(c, state, h.suspensions.get(&c.id), &[]);
        let resumed = resumed(c, state, &remembered, &strategies, &sizes, &mut notes);
        let c = resumed.as_ref().unwrap_or(c);
        let memory = memory_of(c, h, &sizes, &strategies, &mut notes);
        if memory.1 {
            defaulted_memory.push(c.name.clone());
        }
        let work = hydration_work(c, &h.hydrations, &remembered.hydrations, &sizes);
        if resumed.is_some() {
            note_unknown_hydration(c, &work, &sizes, &mut notes);
        }
        cluster_toml(
            &mut out,
            c,
            &sizes,
            &strategies,
            memory.0,
            work.core_s,
            trace_name.as_deref(),
            &mut notes,
        );
    }
    let window_start = h.until - chrono::Duration::milliseconds(window_ms);
    match h.buckets.iter().map(|b| b.minute).min() {
        None => notes.push(format!(
            "the statement log had no rows over the {} (for the clusters replayed): \
             the figures say nothing about demand",
            days(h.days)
        )),
        // A log shorter than the window (`--days 120` over a 28-day log):
        // the days before its oldest row replay without demand, said (the
        // headline's savings were of empty months).
        Some(oldest) if oldest - window_start > chrono::Duration::days(1) => {
            notes.push(format!(
                "the statement log's oldest row read is from {}, {} into the {} window: \
                 the time before it replays without demand (a shorter --days fits the log)",
                oldest.format("%Y-%m-%d %H:%M UTC"),
                human_duration((oldest - window_start).num_seconds().max(0) as u64),
                days(h.days)
            ));
        }
        Some(_) => {}
    }
    if !defaulted_memory.is_empty() {
        notes.push(format!(
            "no memory utilization for {}: assumed half of the cluster's size",
            list(&defaulted_memory)
        ));
    }
    Ok(Built {
        toml: out,
        traces,
        trace_dir: o.trace_dir.clone(),
        notes,
    })
}

/// `1 day`, `28 days`.
fn days(n: u32) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    if names.len() <= SHOWN {
        names.join(", ")
    } else {
        format!(
            "{} and {} more",
            names[..SHOWN].join(", "),
            names.len() - SHOWN
        )
    }
}

/// A TOML string literal.
fn s(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML float.
fn f(x: f64) -> String {
    toml::Value::Float(x).to_string()
}

fn minutes(ms: i64) -> String {
    format!("\"{}m\"", ms / MINUTE)
}

/// A duration as the scenario reads it, exactly: whole minutes as such,
/// else milliseconds.
fn duration(ms: i64) -> String {
    match ms % MINUTE {
        0 => minutes(ms),
        _ => format!("\"{ms}ms\""),
    }
}

/// The controller's interval to replay at: the one it recorded in the
/// replayed clusters' state (predictive `idle_suspend`, the longest if they
/// differ: its prewarms start that much earlier), else a minute. One out
/// of range (over a day) is not taken, and said.
fn interval_of(h: &LiveHistory, notes: &mut Vec<String>) -> u64 {
    let recorded = h
        .clusters
        .iter()
        .filter_map(|c| crate::strategy::recorded_interval_s(h.states.get(&c.id)))
        .max();
    match recorded {
        Some(s) if (1..=86_400).contains(&s) => {
            notes.push(format!(
                "replayed at a {} interval, as the controller recorded it (idle_suspend's state)",
                human_duration(s)
            ));
            s
        }
        Some(s) => {
            notes.push(format!(
                "the controller recorded an interval of {s}s, over a day: replayed at 1m"
            ));
            60
        }
        None => 60,
    }
}

fn header(
    out: &mut String,
    h: &LiveHistory,
    o: &Options,
    start: DateTime<Utc>,
    replay: i64,
    history: i64,
    interval_s: u64,
) {
    let until = h.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let _ = writeln!(
        out,
        "# Built by `clusterctl simulate --from-history --days {}` from the live catalog\n\
         # and statement log until {until}: the first {} of the window is the\n\
         # statement log's history (what predictive strategies learn from), the rest\n\
         # is replayed. Demand is per minute (a minute's logged statements, each\n\
         # weighing 1/sample_rate, spread evenly over it); edit freely and replay with\n\
         # `clusterctl simulate FILE`.",
        h.days,
        human_duration((history / SECOND) as u64),
    );
    let _ = writeln!(out, "name = {}", s(&o.name));
    let _ = writeln!(
        out,
        "description = {}",
        s(&format!(
            "{} cluster(s) replayed from the statement log of the {} until {until}",
            h.clusters.len(),
            days(h.days)
        ))
    );
    let _ = writeln!(
        out,
        "start = {}",
        s(&start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    );
    let _ = writeln!(out, "duration = {}", minutes(replay));
    let history = o.replay.history_ms.unwrap_or(history);
    let _ = writeln!(out, "history = {}", duration(history));
    let interval = if interval_s % 60 == 0 {
        format!("{}m", interval_s / 60)
    } else {
        format!("{interval_s}s")
    };
    let _ = writeln!(out, "interval = \"{interval}\"");
    if let Some(seed) = o.replay.seed {
        let _ = writeln!(out, "seed = {seed}");
    }
    // Only a cluster the scenario has (`--cluster` may leave it out).
    let replayed = |name: &String| h.clusters.iter().any(|c| c.name == *name);
    if let Some(exec) = h.session_cluster.as_ref().filter(|n| replayed(n)) {
        let _ = writeln!(
            out,
            "\n[controller]\nexec_cluster = {}    # left alone, as the controller leaves its session's cluster",
            s(exec)
        );
    }
    // How this release resizes a managed cluster: a backtest of a
    // v26.35 region replayed its resizes as blocking ones, holding the
    // controller's rounds (an outside check).
    let resize = match crate::plan::rules::resize_form(&h.env) {
        crate::plan::ResizeForm::Background => "background",
        // A restart (no graceful resize) blocks no round either way: the
        // closest the simulator has is the blocking form.
        _ => "blocking",
    };
    let _ = writeln!(out, "\n[materialize]\nmanaged_resize = {}", s(resize));
    if let Some(limit) = h.env.settings.max_replicas_per_cluster.filter(|n| *n > 0) {
        let _ = writeln!(out, "max_replicas_per_cluster = {limit}");
    }
    if let Some(ms) = o.replay.served_within_ms {
        let _ = writeln!(out, "\n[clients]\nserved_within = {}", duration(ms));
    }
    if let Some(rate) = h.sample_rate.filter(|r| *r > 0.0 && *r <= 1.0) {
        let rate = (rate * 10_000.0).round() / 10_000.0;
        let _ = writeln!(
            out,
            "\n[statement_log]\nsample_rate = {}",
            f(rate.max(1e-4))
        );
    }
}

/// The sizes Materialize allows (`allowed_cluster_replica_sizes`; empty:
/// every size), and those the live replicas run: a row naming another is
/// refused by the replay's validator as by the live one (the replay ran
/// it: an outside check).
fn allowed_sizes(
    h: &LiveHistory,
    allowed: &[String],
    sizes: SizeCatalog,
    notes: &mut Vec<String>,
) -> SizeCatalog {
    if allowed.is_empty() {
        return sizes;
    }
    let running: BTreeSet<&str> = h
        .clusters
        .iter()
        .flat_map(|c| c.replicas.iter())
        .filter_map(|r| r.size.as_ref())
        .map(|s| s.0.as_str())
        .collect();
    let (kept, left): (Vec<_>, Vec<_>) = sizes
        .all()
        .iter()
        .cloned()
        .partition(|z| allowed.contains(&z.name.0) || running.contains(z.name.0.as_str()));
    if !left.is_empty() {
        let names: Vec<String> = left.iter().map(|z| z.name.0.clone()).collect();
        notes.push(format!(
            "sizes outside allowed_cluster_replica_sizes left out (Materialize refuses them): {}",
            list(&names)
        ));
    }
    SizeCatalog::new(kept)
}

/// Sizes the simulator can run: memory and CPU known, and every number
/// within what a scenario accepts (the written file must parse).
fn usable_sizes(sizes: &SizeCatalog, notes: &mut Vec<String>) -> SizeCatalog {
    use super::scenario::{MAX_CPU_CORES, MAX_CREDITS_PER_HOUR, MAX_MEMORY_GIB};
    let (ok, bad): (Vec<_>, Vec<_>) = sizes.all().iter().cloned().partition(|z| {
        z.memory_bytes > 0.0
            && z.memory_bytes / GIB <= MAX_MEMORY_GIB
            && z.cpu_cores > 0.0
            && z.cpu_cores <= MAX_CPU_CORES
            && (0.0..=MAX_CREDITS_PER_HOUR).contains(&z.credits_per_hour)
    });
    if !bad.is_empty() {
        let names: Vec<String> = bad.iter().map(|z| z.name.0.clone()).collect();
        notes.push(format!(
            "sizes without memory or CPU, or beyond what a scenario accepts, left out: {}",
            list(&names)
        ));
    }
    SizeCatalog::new(ok)
}

fn sizes_toml(out: &mut String, sizes: &SizeCatalog) {
    for z in sizes.all() {
        let _ = writeln!(
            out,
            "\n[[sizes]]\nname = {}\ncredits_per_hour = {}\nmemory_gib = {}\ncpu_cores = {}",
            s(&z.name.0),
            f(z.credits_per_hour),
            f(z.memory_bytes / GIB),
            f(z.cpu_cores)
        );
    }
}

fn group_buckets(buckets: &[Bucket]) -> BTreeMap<&ClusterId, Vec<&Bucket>> {
    let mut by: BTreeMap<&ClusterId, Vec<&Bucket>> = BTreeMap::new();
    for b in buckets {
        by.entry(&b.cluster).or_default().push(b);
    }
    for v in by.values_mut() {
        v.sort_by_key(|b| b.minute);
    }
    by
}

/// The statement begins of a cluster's minutes, as seconds since `start`
/// (negative: the history): round(weight) begins spread evenly over each
/// minute, at the middle of equal slices.
pub fn begins(buckets: &[&Bucket], start: DateTime<Utc>) -> Vec<i64> {
    let mut out = Vec::new();
    for b in buckets {
        if !(b.weight.is_finite() && b.weight > 0.0) {
            continue;
        }
        let n = (b.weight.round() as u64).min(MAX_BEGINS_PER_MINUTE);
        let base = (b.minute - start).num_milliseconds();
        for i in 0..n {
            // Integer arithmetic: the same begins on every machine.
            let offset = (2 * i + 1) * MINUTE as u64 / (2 * n);
            out.push(base + offset as i64);
        }
    }
    out.sort_unstable();
    out
}

fn trace_csv(buckets: &[&Bucket], start: DateTime<Utc>) -> String {
    let b = begins(buckets, start);
    if b.is_empty() {
        return String::new();
    }
    let mut out = String::with_capacity(b.len() * 12 + 80);
    out.push_str("# statement begins, seconds since the scenario's start (negative: history)\n");
    for ms in b {
        let sign = if ms < 0 { "-" } else { "" };
        let a = ms.unsigned_abs();
        let _ = writeln!(out, "{sign}{}.{:03}", a / 1000, a % 1000);
    }
    out
}

/// `DIR/<name>.csv`, the name reduced to safe characters; a cluster whose
/// reduced name is taken gets its id appended.
fn trace_file(dir: &str, c: &Cluster, taken: &BTreeMap<String, String>) -> String {
    let safe: String = c
        .name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '_' || ch == '-' {
                ch
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let name = format!("{dir}/{safe}.csv");
    if taken.contains_key(&name) {
        format!("{dir}/{safe}-{}.csv", c.id.0)
    } else {
        name
    }
}

/// The cluster's strategy rows in effect, as the planner would run them:
/// rows the one validator refuses (or a pause in force) leave the cluster
/// without strategies, as the planner leaves it alone; unknown keys are
/// dropped (the planner ignores them, the scenario parser refuses them).
fn strategies_of(
    c: &Cluster,
    rows: &[rows::InEffect],
    sizes: &SizeCatalog,
    now: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Vec<(String, serde_json::Value)> {
    if rows.is_empty() {
        return Vec::new();
    }
    let v = rows::validate(Some(c), rows, sizes);
    if !v.is_valid() {
        let why: Vec<String> = v.errors().map(|f| f.describe()).collect();
        notes.push(format!(
            "cluster {}: strategy rows skipped ({}); replayed without strategies, as the planner leaves it alone",
            c.name,
            why.join("; ")
        ));
        return Vec::new();
    }
    if v.paused.as_ref().is_some_and(|p| p.in_force(now)) {
        notes.push(format!(
            "cluster {}: paused; replayed without strategies",
            c.name
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for r in rows {
        let ty = r.row.strategy_type.as_str();
        let Some(kind) = StrategyKind::parse(ty) else {
            continue; // a pause no longer in force
        };
        let config = known_keys(kind, &r.row.config);
        match StrategyConfig::parse(kind, &config, sizes) {
            Ok(_) => out.push((ty.to_string(), config)),
            Err(e) => {
                notes.push(format!(
                    "cluster {}: strategy {ty} skipped: {e}; replayed without strategies",
                    c.name
                ));
                return Vec::new();
            }
        }
    }
    let needs_mixed = out
        .iter()
        .filter_map(|(ty, _)| StrategyKind::parse(ty))
        .any(|k| k.needs_mixed_sizes());
    if c.managed && needs_mixed {
        notes.push(format!(
            "cluster {}: burst and shrink_to_fit do not run on a managed cluster; replayed without strategies",
            c.name
        ));
        return Vec::new();
    }
    out.sort_by_key(|(ty, _)| StrategyKind::parse(ty).map(|k| k.priority()));
    out
}

/// The config's known keys, without nulls (TOML has none).
fn known_keys(kind: StrategyKind, config: &serde_json::Value) -> serde_json::Value {
    let known = kind.key_names();
    match config {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.iter()
                .filter(|(k, v)| known.contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// JSON as a TOML value: nulls dropped, integers kept, the rest floats.
fn toml_of(v: &serde_json::Value) -> Option<toml::Value> {
    Some(match v {
        serde_json::Value::Null => return None,
        serde_json::Value::Bool(b) => toml::Value::Boolean(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        serde_json::Value::String(t) => toml::Value::String(t.clone()),
        serde_json::Value::Array(a) => toml::Value::Array(a.iter().filter_map(toml_of).collect()),
        serde_json::Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), toml_of(v)?)))
                .collect(),
        ),
    })
}

/// The size a cluster runs (or would run) at: its managed size, its
/// largest live replica, its target size, else the smallest.
fn size_of(
    c: &Cluster,
    sizes: &SizeCatalog,
    strategies: &[(String, serde_json::Value)],
) -> Option<Size> {
    if let Some(z) = c.size.as_ref().filter(|z| sizes.contains(z)) {
        return Some(z.clone());
    }
    let live = c
        .replicas
        .iter()
        .filter_map(|r| r.size.as_ref())
        .filter(|z| sizes.contains(z))
        .max_by_key(|z| sizes.rank(z));
    if let Some(z) = live {
        return Some(z.clone());
    }
    let target = strategies
        .iter()
        .find(|(ty, _)| ty == "target_size")
        .and_then(|(_, cfg)| cfg.get("target_size"))
        .and_then(|v| v.as_str())
        .map(|t| Size(t.to_string()))
        .filter(|z| sizes.contains(z));
    target.or_else(|| sizes.all().first().map(|z| z.name.clone()))
}

/// GiB the cluster's dataflows need: the largest use on a live replica;
/// else half the cluster's size (`true`: defaulted).
fn memory_of(
    c: &Cluster,
    h: &LiveHistory,
    sizes: &SizeCatalog,
    strategies: &[(String, serde_json::Value)],
    notes: &mut Vec<String>,
) -> (f64, bool) {
    // Killed for memory on a size: it needed more than that size has (a
    // thousandth of a GiB more, what the scenario's precision keeps).
    let killed = h
        .ooms
        .iter()
        .filter(|o| o.cluster == c.id)
        .filter_map(|o| Some((o, sizes.get(&o.size)?.memory_bytes)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((o, bytes)) = killed {
        // What that estimate does to the replay, said: one real kill made
        // thousands of replayed ones, unremarked (an outside check).
        notes.push(format!(
            "{}: {} OOM-killed {} within the window on {}: memory taken as more than its {} \
             GiB, so the replay kills a replica of {} or smaller for memory every time it \
             hydrates (its OOM count says more of this estimate than of the strategies)",
            c.name,
            o.replica,
            if o.kills == 1 {
                "once".to_string()
            } else {
                format!("{} times", o.kills)
            },
            o.size,
            gib(bytes),
            o.size
        ));
    }
    let used = h
        .memory
        .iter()
        .filter(|m| m.cluster == c.id && m.bytes.is_finite() && m.bytes >= 0.0)
        .map(|m| m.bytes)
        .chain(killed.map(|(_, bytes)| bytes + GIB / 1000.0))
        .fold(None, |acc: Option<f64>, b| {
            Some(acc.map_or(b, |a| a.max(b)))
        });
    let (bytes, defaulted) = match used {
        Some(b) => (b, false),
        None => {
            let half = size_of(c, sizes, strategies)
                .and_then(|z| sizes.get(&z).map(|z| z.memory_bytes / 2.0))
                .unwrap_or(GIB);
            (half, true)
        }
    };
    (gib(bytes), defaulted)
}

/// Bytes as GiB to the thousandth, the precision a scenario keeps.
fn gib(bytes: f64) -> f64 {
    (bytes / GIB * 1000.0).round() / 1000.0
}

/// A cluster's hydration work and where it comes from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hydration {
    pub core_s: f64,
    pub basis: HydrationBasis,
}

/// Where a cluster's hydration work comes from, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HydrationBasis {
    /// Its own live replicas' start-ups in the status history.
    StatusHistory,
    /// What predictive `idle_suspend` timed on it (request to hydrated).
    Learned,
    /// The median of the whole fleet's start-ups.
    Fleet,
    /// Nothing seen anywhere: [`DEFAULT_HYDRATION_S`] on its size.
    Default,
}

/// Hydration work in core-seconds: the median of the cluster's own
/// samples (seconds × the size's cores), else what predictive
/// `idle_suspend` learned for its size (`learned`, from its state), else
/// the median of the whole fleet's samples, else the default on the
/// cluster's size.
pub fn hydration_work(
    c: &Cluster,
    samples: &[HydrationSample],
    learned: &Hydrations,
    sizes: &SizeCatalog,
) -> Hydration {
    let work = |s: &HydrationSample| {
        let cores = sizes.get(&s.size)?.cpu_cores;
        (s.seconds.is_finite() && s.seconds >= 0.0).then_some(s.seconds * cores)
    };
    let of = |core_s, basis| Hydration { core_s, basis };
    let own: Vec<f64> = samples
        .iter()
        .filter(|s| s.cluster == c.id)
        .filter_map(work)
        .collect();
    if let Some(m) = median(own) {
        return of(m, HydrationBasis::StatusHistory);
    }
    let (size, cores) = timed_on(c, sizes);
    if let Some(z) = size {
        let e = learned.estimate(&z.name, sizes);
        if e.basis != Basis::Assumed {
            return of(f64::from(e.seconds) * cores, HydrationBasis::Learned);
        }
    }
    if let Some(m) = median(samples.iter().filter_map(work).collect()) {
        return of(m, HydrationBasis::Fleet);
    }
    of(DEFAULT_HYDRATION_S * cores, HydrationBasis::Default)
}

/// The size a cluster's hydration is timed on when it has none of its own
/// ([`size_of`] without strategies), and its cores (1 when unknown).
fn timed_on<'s>(c: &Cluster, sizes: &'s SizeCatalog) -> (Option<&'s ReplicaSize>, f64) {
    let size = size_of(c, sizes, &[]).and_then(|z| sizes.get(&z));
    (size, size.map_or(1.0, |z| z.cpu_cores))
}

/// A cluster replayed from what a suspension remembers has no replica
/// whose start-up was recorded: when nothing was learned either, the
/// hydration written is a guess, and the note says which.
fn note_unknown_hydration(
    c: &Cluster,
    h: &Hydration,
    sizes: &SizeCatalog,
    notes: &mut Vec<String>,
) {
    let whose = match h.basis {
        HydrationBasis::StatusHistory | HydrationBasis::Learned => return,
        HydrationBasis::Fleet => "the median of the other clusters' start-ups",
        HydrationBasis::Default => "the default",
    };
    let (size, cores) = timed_on(c, sizes);
    let on = size.map(|z| format!(" on {}", z.name)).unwrap_or_default();
    notes.push(format!(
        "cluster {}: its hydration is unknown (no live replica in the status history, \
         none learned by predictive idle_suspend): assumed {}{on}, {whose}; \
         edit its hydration_work in a scenario written with --out",
        c.name,
        human_duration((h.core_s / cores.max(1e-9)).round().max(1.0) as u64),
    ));
}

/// A cluster `idle_suspend` holds suspended has no replica: replayed as
/// it is, the simulated controller would have nothing to bring back and
/// none of its demand would be served. It is replayed with the replicas
/// the real controller's next resume brings back (`wake`, what its state
/// remembers), not hydrated, as if resumed at the start: the simulated
/// `idle_suspend` then suspends it when idle and resumes it on demand as
/// the real one does. `None`: not such a cluster, or nothing usable is
/// remembered (said in a note unless another strategy chooses the size).
fn resumed(
    c: &Cluster,
    state: Option<&serde_json::Value>,
    remembered: &crate::strategy::Remembered,
    strategies: &[(String, serde_json::Value)],
    sizes: &SizeCatalog,
    notes: &mut Vec<String>,
) -> Option<Cluster> {
    let wake = &remembered.wake;
    let kinds = || {
        strategies
            .iter()
            .filter_map(|(ty, _)| StrategyKind::parse(ty))
    };
    if !c.replicas.is_empty() || !kinds().any(|k| k == StrategyKind::IdleSuspend) {
        return None;
    }
    // A managed cluster's replicas all have its size.
    let managed = c.managed.then_some(c.size.as_ref()).flatten();
    let usable: Vec<&SuspendedReplica> = wake
        .iter()
        .filter(|r| sizes.contains(&r.size) && managed.is_none_or(|z| *z == r.size))
        .collect();
    if usable.is_empty() {
        if !kinds().any(StrategyKind::chooses_size) {
            let why = match (state, wake.is_empty()) {
                (None, _) => "no state row",
                (Some(_), true) => "its state remembers none",
                (Some(_), false) => {
                    "the sizes it remembers are not the cluster's or not in the catalog"
                }
            };
            notes.push(format!(
                "cluster {}: suspended (no replica) and the replicas idle_suspend would bring \
                 back are unknown ({why}): replayed without replicas, none of its demand is \
                 served; give it initial_replicas in a scenario written with --out",
                c.name
            ));
        }
        return None;
    }
    let mut r = c.clone();
    r.replicas = usable
        .iter()
        .map(|s| Replica {
            id: String::new(),
            name: s.name.clone(),
            size: Some(s.size.clone()),
            hydrated: false,
            crash: Default::default(),
            owner_id: None,
            since: None,
            objects: None,
            offline: false,
        })
        .collect();
    if c.managed {
        r.replication_factor = Some(r.replicas.len() as i64);
    }
    let shown: Vec<String> = usable
        .iter()
        .map(|s| format!("{} {}", s.name, s.size))
        .collect();
    let whose = match remembered.from_trail {
        true => " (its state wiped: what the audit trail shows its last suspension dropped)",
        false => "",
    };
    notes.push(format!(
        "cluster {}: suspended by idle_suspend; replayed with the replicas its resume brings \
         back ({}){whose}, not hydrated, as if resumed at the start",
        c.name,
        list(&shown)
    ));
    Some(r)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[allow(clippy::too_many_arguments)]
fn cluster_toml(
    out: &mut String,
    c: &Cluster,
    sizes: &SizeCatalog,
    strategies: &[(String, serde_json::Value)],
    memory_gib: f64,
    work_s: f64,
    trace: Option<&str>,
    notes: &mut Vec<String>,
) {
    let _ = writeln!(out, "\n[[clusters]]\nname = {}", s(&c.name));
    let _ = writeln!(out, "# live id {}", c.id.0);
    match &c.schedule {
        // Materialize sizes it itself, as it schedules ON REFRESH ones: the
        // controller leaves it alone, and so does the replay.
        crate::model::Schedule::Manual if c.auto_scaling => {
            let _ = writeln!(
                out,
                "schedule = \"on-refresh\"    # live: an auto-scaling strategy"
            );
        }
        crate::model::Schedule::Manual => {}
        // Materialize schedules it itself: the replay leaves it alone (a
        // scenario knows one such schedule; any other has the same effect).
        crate::model::Schedule::OnRefresh => {
            let _ = writeln!(out, "schedule = \"on-refresh\"");
        }
        crate::model::Schedule::Other(kind) => {
            let _ = writeln!(out, "schedule = \"on-refresh\"    # live: {}", s(kind));
        }
    }
    if !strategies.is_empty() {
        out.push_str("strategies = [\n");
        for (ty, cfg) in strategies {
            let cfg = toml_of(cfg).unwrap_or(toml::Value::Table(Default::default()));
            let _ = writeln!(out, "  {{ type = {}, config = {} }},", s(ty), cfg);
        }
        out.push_str("]\n");
    }
    let replicas: Vec<&crate::model::Replica> = c
        .replicas
        .iter()
        .filter(|r| r.size.as_ref().is_some_and(|z| sizes.contains(z)))
        .collect();
    if replicas.len() < c.replicas.len() {
        notes.push(format!(
            "cluster {}: replicas of a size the catalog does not list are left out",
            c.name
        ));
    }
    let managed = c.managed.then(|| c.size.clone()).flatten();
    if let Some(size) = managed.filter(|z| sizes.contains(z)) {
        let rf = c.replication_factor.unwrap_or(1).clamp(0, 32);
        let _ = writeln!(
            out,
            "managed = true\nsize = {}\nreplication_factor = {rf}",
            s(&size.0)
        );
        // r1..rN of the cluster's size; mid-resize (rN-pending) they are
        // left to the replication factor (hydrated).
        let own: Vec<_> = replicas
            .iter()
            .filter(|r| r.size.as_ref() == Some(&size))
            .collect();
        if own.len() as i64 == rf && rf > 0 {
            replicas_toml(out, own.iter().map(|r| **r));
        }
    } else {
        if c.managed {
            notes.push(format!(
                "cluster {}: managed, of a size the catalog does not list; replayed as unmanaged",
                c.name
            ));
        }
        if !replicas.is_empty() {
            replicas_toml(out, replicas.iter().copied());
        }
    }
    let _ = writeln!(
        out,
        "\n[clusters.workload]\nmemory_gib = {}\nhydration_work = \"{}s\"",
        f(memory_gib),
        work_s.round().max(1.0) as i64
    );
    // Its objects, as its replicas report them (unknown without one).
    if let Some(n) = c
        .replicas
        .iter()
        .filter_map(|r| r.objects)
        .map(|o| o.total)
        .max()
        .filter(|n| *n > 1)
    {
        let _ = writeln!(out, "objects = {n}");
    }
    if let Some(t) = trace {
        let _ = writeln!(out, "trace_csv = {}", s(t));
    }
}

fn replicas_toml<'a>(out: &mut String, replicas: impl Iterator<Item = &'a crate::model::Replica>) {
    out.push_str("initial_replicas = [\n");
    for r in replicas {
        let size = r.size.as_ref().map(|z| z.0.as_str()).unwrap_or("");
        let _ = writeln!(
            out,
            "  {{ name = {}, size = {}, hydrated = {} }},",
            s(&r.name),
            s(size),
            r.hydrated
        );
    }
    out.push_str("]\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Replica;
    use crate::sim::scenario;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .expect("test time")
    }

    fn replica(name: &str, size: &str) -> Replica {
        Replica {
            id: format!("r-{name}"),
            name: name.into(),
            size: Some(Size(size.into())),
            hydrated: true,
            crash: Default::default(),
            owner_id: None,
            since: None,
            objects: None,
            offline: false,
        }
    }

    fn cluster(id: &str, name: &str, replicas: Vec<Replica>) -> Cluster {
        let mut c = Cluster::empty(ClusterId(id.into()), name);
        c.replicas = replicas;
        c
    }

    fn row(cluster: &str, ty: &str, config: serde_json::Value) -> StrategyRow {
        StrategyRow {
            cluster_id: ClusterId(cluster.into()),
            strategy_type: ty.into(),
            config,
            updated_at: None,
            unreadable: None,
        }
    }

    fn live() -> LiveHistory {
        LiveHistory {
            until: t("2026-03-01T00:00:00Z"),
            days: 28,
            sizes: SizeCatalog::cloud_defaults(),
            env: crate::model::Environment {
                settings: crate::model::Settings {
                    max_replicas_per_cluster: Some(3),
                    ..Default::default()
                },
                ..Default::default()
            },
            session_cluster: None,
            suspensions: BTreeMap::new(),
            clusters: vec![
                cluster("u2", "bi", vec![replica("r1", "100cc")]),
                cluster("u3", "etl", vec![]),
            ],
            strategies: vec![
                row("u2", "idle_suspend", json!({"idle_after_s": 900})),
                row(
                    "u2",
                    "target_size",
                    json!({"target_size": "100cc", "nonsense": 1}),
                ),
                row("u3", "target_size", json!({"target_size": "80cc"})),
            ],
            buckets: vec![
                Bucket {
                    cluster: ClusterId("u2".into()),
                    minute: t("2026-02-27T09:00:00Z"),
                    weight: 3.03,
                },
                Bucket {
                    cluster: ClusterId("u2".into()),
                    // In the history (before the replay's start).
                    minute: t("2026-02-02T09:00:00Z"),
                    weight: 1.01,
                },
            ],
            states: BTreeMap::new(),
            sample_rate: Some(0.99),
            hydrations: vec![
                HydrationSample {
                    cluster: ClusterId("u2".into()),
                    replica: "r1".into(),
                    size: Size("100cc".into()),
                    seconds: 300.0,
                },
                HydrationSample {
                    cluster: ClusterId("u2".into()),
                    replica: "r1".into(),
                    size: Size("200cc".into()),
                    seconds: 200.0,
                },
                HydrationSample {
                    cluster: ClusterId("u2".into()),
                    replica: "r1".into(),
                    size: Size("400cc".into()),
                    seconds: 100.0,
                },
            ],
            memory: vec![MemorySample {
                cluster: ClusterId("u2".into()),
                replica: "r1".into(),
                bytes: 3.0 * GIB,
            }],
            ooms: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn memory_is_the_peak_and_more_than_a_size_killed_for_memory() {
        let mut h = live();
        // A peak within the window beside the use now: the larger counts.
        h.memory.push(MemorySample {
            cluster: ClusterId("u2".into()),
            replica: "r1".into(),
            bytes: 5.5 * GIB,
        });
        let b = build(&h, &opts()).expect("built");
        assert_eq!(parse(&b).clusters[0].workload.memory_bytes, 5.5 * GIB);
        assert!(!b.notes.iter().any(|n| n.contains("OOM")), "{:?}", b.notes);
        // Killed on a size larger than the peak: more than that size has.
        let mem_100cc = h.sizes.get(&Size("100cc".into())).map(|z| z.memory_bytes);
        let mem_100cc = mem_100cc.expect("100cc is a size");
        h.ooms.push(OomSample {
            cluster: ClusterId("u2".into()),
            replica: "r1".into(),
            size: Size("100cc".into()),
            kills: 3,
        });
        let b = build(&h, &opts()).expect("built");
        let got = parse(&b).clusters[0].workload.memory_bytes;
        assert!(
            got > mem_100cc && got <= mem_100cc + GIB / 500.0,
            "{got} vs {mem_100cc}"
        );
        let note = b.notes.iter().find(|n| n.contains("OOM")).cloned();
        assert_eq!(
            note.as_deref(),
            Some(
                format!(
                    "bi: r1 OOM-killed 3 times within the window on 100cc: memory taken as more \
                     than its {} GiB, so the replay kills a replica of 100cc or smaller for \
                     memory every time it hydrates (its OOM count says more of this estimate \
                     than of the strategies)",
                    mem_100cc / GIB
                )
                .as_str()
            )
        );
        // Another cluster's kills are not this one's.
        h.ooms[0].cluster = ClusterId("u9".into());
        let b = build(&h, &opts()).expect("built");
        assert_eq!(parse(&b).clusters[0].workload.memory_bytes, 5.5 * GIB);
    }

    fn opts() -> Options {
        Options {
            name: "from-history".into(),
            trace_dir: "out.traces".into(),
            replay: Default::default(),
        }
    }

    /// What the command line set of the replay is written into the file,
    /// so that `simulate FILE` replays the same figures.
    #[test]
    fn the_replays_flags_are_written_into_the_scenario() {
        let h = live();
        let plain = parse(&build(&h, &opts()).expect("built"));
        let o = Options {
            replay: crate::sim::scenario::Overrides {
                seed: Some(5),
                days: None,
                history_ms: Some(3 * DAY + 1),
                served_within_ms: Some(5 * SECOND),
            },
            ..opts()
        };
        let b = build(&h, &o).expect("built");
        let sc = parse(&b);
        assert_eq!(sc.seed, 5);
        assert_eq!(sc.history_ms, 3 * DAY + 1);
        assert_eq!(sc.clients.served_within_ms, 5 * SECOND);
        assert_ne!(plain.seed, 5);
        assert_ne!(plain.clients.served_within_ms, 5 * SECOND);
        assert_eq!(plain.history_ms, history_ms(h.days));
    }

    /// The clusters the controller leaves alone are written so that the
    /// replay leaves them alone too: the session's (`[controller]
    /// exec_cluster`) and those Materialize schedules itself (`schedule`).
    #[test]
    fn what_the_controller_leaves_alone_is_written_so() {
        let mut h = live();
        h.session_cluster = Some("bi".into());
        h.clusters[1].schedule = crate::model::Schedule::Other("auto".into());
        let b = build(&h, &opts()).unwrap();
        let sc = parse(&b);
        assert_eq!(
            sc.controller.exec_cluster.as_deref(),
            Some("bi"),
            "{}",
            b.toml
        );
        assert_eq!(sc.clusters[1].schedule, crate::model::Schedule::OnRefresh);
        assert_eq!(sc.clusters[0].schedule, crate::model::Schedule::Manual);
        assert!(
            b.toml
                .contains("schedule = \"on-refresh\"    # live: \"auto\""),
            "{}",
            b.toml
        );
    }

    fn parse(b: &Built) -> scenario::Scenario {
        scenario::parse_with_files(
            &b.toml,
            false,
            std::path::Path::new(""),
            &scenario::Overrides::default(),
            &b.traces,
        )
        .unwrap_or_else(|e| panic!("{}\n{}", e.0, b.toml))
    }

    #[test]
    fn the_history_is_a_quarter_of_the_window_at_most_a_week() {
        assert_eq!(history_ms(28), 7 * DAY);
        assert_eq!(history_ms(120), 7 * DAY);
        assert_eq!(history_ms(8), 2 * DAY);
        assert_eq!(history_ms(1), 6 * 60 * MINUTE);
    }

    #[test]
    fn a_minute_of_weight_w_gives_round_w_begins_spread_evenly() {
        let start = t("2026-01-01T00:00:00Z");
        let b = |minute: &str, weight: f64| Bucket {
            cluster: ClusterId("u1".into()),
            minute: t(minute),
            weight,
        };
        let three = b("2026-01-01T00:01:00Z", 3.03);
        assert_eq!(begins(&[&three], start), vec![70_000, 90_000, 110_000]);
        let before = b("2025-12-31T23:59:00Z", 1.0);
        assert_eq!(begins(&[&before], start), vec![-30_000]);
        let rounded_away = b("2026-01-01T00:00:00Z", 0.4);
        let nan = b("2026-01-01T00:00:00Z", f64::NAN);
        assert!(begins(&[&rounded_away, &nan], start).is_empty());
        // Deterministic, and the weights (1/sample_rate) count.
        let sampled = b("2026-01-01T00:00:00Z", 2.0 / 0.5);
        assert_eq!(begins(&[&sampled], start).len(), 4);
        assert_eq!(
            begins(&[&sampled], start),
            begins(&[&sampled.clone()], start)
        );
    }

    #[test]
    fn hydration_work_is_seconds_times_cores_median_of_own_else_learned_else_fleet_else_default() {
        let h = live();
        let sizes = SizeCatalog::cloud_defaults();
        let none = Hydrations::default();
        let work = |c: &Cluster, samples: &[HydrationSample], learned: &Hydrations| {
            let w = hydration_work(c, samples, learned, &sizes);
            (w.core_s, w.basis)
        };
        // 300 s × 1 core, 200 s × 2, 100 s × 4: median 400 core-seconds.
        assert_eq!(
            work(&h.clusters[0], &h.hydrations, &none),
            (400.0, HydrationBasis::StatusHistory)
        );
        // etl has none of its own: the fleet's median.
        assert_eq!(
            work(&h.clusters[1], &h.hydrations, &none),
            (400.0, HydrationBasis::Fleet)
        );
        // What predictive idle_suspend learned comes before the fleet's:
        // 420 s on 50cc, a size of 0.5 cores.
        let mut learned = Hydrations::default();
        learned.by_size.insert(Size("50cc".into()), vec![420]);
        let mut on_50cc = h.clusters[1].clone();
        on_50cc.replicas = vec![replica("r1", "50cc")];
        assert_eq!(
            work(&on_50cc, &h.hydrations, &learned),
            (210.0, HydrationBasis::Learned)
        );
        // Nothing at all: the default on the smallest size (no replica, no target).
        assert_eq!(
            work(&h.clusters[1], &[], &none),
            (DEFAULT_HYDRATION_S * 0.25, HydrationBasis::Default)
        );
        assert_eq!(
            work(&h.clusters[0], &[], &none),
            (DEFAULT_HYDRATION_S * 1.0, HydrationBasis::Default)
        );
    }

    /// What the release and its settings make of the replay: how a managed
    /// resize runs (a v26.35 region's were replayed as blocking, holding
    /// the controller's rounds), and the sizes Materialize allows (a row
    /// naming another ran in the replay, refused live), those the live
    /// replicas run kept.
    #[test]
    fn the_release_and_its_allowed_sizes_shape_the_replay() {
        let mut h = live();
        let form = |h: &LiveHistory| {
            parse(&build(h, &opts()).expect("built"))
                .materialize
                .managed_resize
        };
        assert_eq!(
            form(&h),
            super::super::scenario::ResizeMode::Blocking,
            "no release known"
        );
        h.env.version = Some("v26.35.0 (abc)".into());
        assert_eq!(form(&h), super::super::scenario::ResizeMode::Background);
        h.env.settings.enable_background_alter_cluster = Some(false);
        assert_eq!(form(&h), super::super::scenario::ResizeMode::Blocking);
        h.env.settings.allowed_cluster_replica_sizes = Some(vec!["25cc".into(), "50cc".into()]);
        let b = build(&h, &opts()).expect("built");
        let names: Vec<String> = parse(&b)
            .sizes
            .all()
            .iter()
            .map(|z| z.name.0.clone())
            .collect();
        assert_eq!(names, ["25cc", "50cc", "100cc"], "bi runs 100cc");
        assert!(
            b.notes
                .iter()
                .any(|n| n.contains("outside allowed_cluster_replica_sizes left out")),
            "{:?}",
            b.notes
        );
        // Over a limit lowered since: kept, with a note.
        let mut over = live();
        over.env.settings.max_replicas_per_cluster = Some(1);
        let mut second = over.clusters[0].replicas[0].clone();
        second.name = "r2".into();
        over.clusters[0].replicas.push(second);
        // (Said by the parser of the built text, whose notes the backtest
        // reports: `sim::run_built`.)
        let over_notes = parse(&build(&over, &opts()).expect("built")).notes;
        assert!(
            over_notes.iter().any(|n| n.contains("'bi'")
                && n.contains("2 replicas, over max_replicas_per_cluster (1)")),
            "{over_notes:?}"
        );
        // bi's row naming 100cc is refused as live, though its replica
        // keeps the size in the scenario.
        assert!(
            b.notes
                .iter()
                .any(|n| n.starts_with("cluster bi: strategy rows skipped")
                    && n.contains("allowed_cluster_replica_sizes")),
            "{:?}",
            b.notes
        );
    }

    #[test]
    fn the_scenario_round_trips_through_the_scenario_parser() {
        let b = build(&live(), &opts()).expect("built");
        let sc = parse(&b);
        assert_eq!(sc.clusters.len(), 2);
        assert_eq!(sc.horizon_ms, 21 * DAY);
        assert_eq!(sc.history_ms, 7 * DAY);
        assert_eq!(sc.start, t("2026-02-08T00:00:00Z"));
        assert_eq!(sc.statement_log.sample_rate, 0.99);
        assert_eq!(sc.sizes, SizeCatalog::cloud_defaults());
        let bi = &sc.clusters[0];
        assert_eq!(bi.name, "bi");
        // Strategies as the rows hold them, the unknown key dropped.
        let rows = &bi.phases[0].rows;
        assert_eq!(
            rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ["target_size", "idle_suspend"]
        );
        assert_eq!(rows[0].1, json!({"target_size": "100cc"}));
        assert_eq!(rows[1].1, json!({"idle_after_s": 900}));
        assert_eq!(bi.initial_replicas.len(), 1);
        assert_eq!(bi.initial_replicas[0].size, Size("100cc".into()));
        // Memory from utilization, hydration from the status history.
        assert_eq!(bi.workload.memory_bytes, 3.0 * GIB);
        assert_eq!(bi.workload.hydration_core_ms, 400_000.0);
        // The trace: three begins in the run, one in the history.
        let day19_9h = 19 * DAY + 9 * 60 * MINUTE;
        assert_eq!(
            bi.workload.begins,
            vec![day19_9h + 10_000, day19_9h + 30_000, day19_9h + 50_000]
        );
        assert_eq!(
            bi.workload.history_begins,
            vec![-6 * DAY + 9 * 60 * MINUTE + 30_000]
        );
        assert_eq!(b.traces.len(), 1);
        assert!(b.traces.contains_key("out.traces/bi.csv"));
        // etl: no log rows, no trace; memory defaulted (half of the smallest size).
        let etl = &sc.clusters[1];
        assert!(etl.workload.begins.is_empty());
        assert_eq!(etl.workload.memory_bytes, 1.0 * GIB);
        // The region's replica limit, or Materialize's default unread.
        assert_eq!(sc.materialize.max_replicas_per_cluster, 3);
        let mut unread = live();
        unread.env.settings.max_replicas_per_cluster = None;
        let b = build(&unread, &opts()).expect("built");
        assert!(!b.toml.contains("max_replicas_per_cluster"), "{}", b.toml);
        assert_eq!(parse(&b).materialize.max_replicas_per_cluster, 5);
    }

    #[test]
    fn invalid_strategy_rows_are_skipped_with_a_note() {
        let b = build(&live(), &opts()).expect("built");
        let sc = parse(&b);
        assert!(sc.clusters[1].phases[0].rows.is_empty());
        let note = b
            .notes
            .iter()
            .find(|n| n.starts_with("cluster etl: strategy rows skipped"))
            .unwrap_or_else(|| panic!("{:?}", b.notes));
        assert!(note.contains("80cc"), "{note}");
        assert!(b
            .notes
            .iter()
            .any(|n| n.contains("no memory utilization for etl")));
        // Rows that are not even JSON objects, or of an unknown type: skipped too.
        let mut h = live();
        h.strategies = vec![
            row("u2", "idle_suspend", json!("nonsense")),
            row("u3", "teleport", json!({})),
        ];
        let b = build(&h, &opts()).expect("built");
        let sc = parse(&b);
        assert!(sc.clusters.iter().all(|c| c.phases[0].rows.is_empty()));
        assert_eq!(
            b.notes
                .iter()
                .filter(|n| n.contains("strategy rows skipped"))
                .count(),
            2
        );
    }

    #[test]
    fn live_sizes_hostile_names_and_managed_clusters_round_trip() {
        let mut h = live();
        h.sizes = SizeCatalog::new(vec![
            ReplicaSize {
                name: Size("M.1-\"small\"".into()),
                credits_per_hour: 1.5,
                memory_bytes: 12.5 * GIB,
                cpu_cores: 3.0,
            },
            ReplicaSize {
                name: Size("broken".into()),
                credits_per_hour: 1.0,
                memory_bytes: 0.0,
                cpu_cores: 0.0,
            },
        ]);
        let mut m = cluster(
            "u4",
            "weird \"name\" / ü",
            vec![
                replica("r1", "M.1-\"small\""),
                replica("r2", "M.1-\"small\""),
            ],
        );
        m.managed = true;
        m.size = Some(Size("M.1-\"small\"".into()));
        m.replication_factor = Some(2);
        h.clusters = vec![m];
        h.strategies = vec![row("u4", "idle_suspend", json!({"idle_after_s": 600}))];
        h.buckets = vec![Bucket {
            cluster: ClusterId("u4".into()),
            minute: t("2026-02-20T10:00:00Z"),
            weight: 1.0,
        }];
        let b = build(&h, &opts()).expect("built");
        let sc = parse(&b);
        assert_eq!(sc.sizes.all().len(), 1);
        assert_eq!(sc.sizes.all()[0].memory_bytes, 12.5 * GIB);
        let c = &sc.clusters[0];
        assert_eq!(c.name, "weird \"name\" / ü");
        assert_eq!(c.managed.as_ref().map(|m| m.replication_factor), Some(2));
        assert_eq!(c.initial_replicas.len(), 2);
        assert!(b.traces.contains_key("out.traces/weird__name_____.csv"));
        assert!(b.notes.iter().any(|n| n.contains("broken")));
    }

    #[test]
    fn trace_times_before_the_start_are_the_history() {
        let text = "# begins\n-7200.5\n-30\n0\n10.25\n99999\n";
        let t = scenario::parse_csv(text, 60_000, HOURLY).expect("trace");
        assert_eq!(t.begins, vec![0, 10_250]);
        // -7200.5 s is before the hour of history: ignored, like times past the end.
        assert_eq!(t.history, vec![-30_000]);
        let e = scenario::parse_csv(text, 60_000, 0).expect_err("no history");
        assert!(e.0.contains("line 2: negative time"), "{}", e.0);
        assert!(scenario::parse_csv("inf\n", 60_000, 0).is_err());
        // A spreadsheet's byte-order mark: the first statement is one.
        let t = scenario::parse_csv("\u{feff}100\n200\n", 600_000, 0).expect("trace");
        assert_eq!(t.begins, vec![100_000, 200_000]);
    }

    const HOURLY: i64 = 60 * MINUTE;

    /// `etl` suspended by idle_suspend (no replica), with `state` as its
    /// state row (`None`: no row).
    fn suspended_etl(state: Option<serde_json::Value>) -> LiveHistory {
        let mut h = live();
        h.strategies = vec![row("u3", "idle_suspend", json!({"idle_after_s": 600}))];
        h.states = state
            .map(|s| BTreeMap::from([(ClusterId("u3".into()), s)]))
            .unwrap_or_default();
        h
    }

    #[test]
    fn a_suspended_cluster_is_replayed_with_what_its_resume_brings_back() {
        let h = suspended_etl(Some(json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "25cc"}, {"name": "etl-burst", "size": "400cc"}],
            "suspended_at": "2026-02-28T20:00:00Z",
            "resumed_at": null,
            "predict": {"hydrations": {"by_size": {"25cc": [300]}}},
        }})));
        let b = build(&h, &opts()).expect("built");
        let etl = &parse(&b).clusters[1];
        // The remembered replica, not the burst one; cold, as if resumed.
        assert_eq!(etl.initial_replicas.len(), 1, "{}", b.toml);
        assert_eq!(etl.initial_replicas[0].name, "r1");
        assert_eq!(etl.initial_replicas[0].size, Size("25cc".into()));
        assert!(!etl.initial_replicas[0].hydrated);
        // The hydration predictive idle_suspend learned: 300 s × 0.25 cores.
        assert_eq!(etl.workload.hydration_core_ms, 75_000.0);
        assert!(
            b.notes
                .iter()
                .any(|n| n.starts_with("cluster etl: suspended by idle_suspend")
                    && n.contains("r1 25cc")),
            "{:?}",
            b.notes
        );
        assert!(!b.notes.iter().any(|n| n.contains("hydration is unknown")));

        // Nothing learned, no status history: the hydration is a guess, said.
        let mut h = suspended_etl(Some(json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "50cc"}],
            "suspended_at": "2026-02-28T20:00:00Z",
        }})));
        h.hydrations.clear();
        let b = build(&h, &opts()).expect("built");
        let etl = &parse(&b).clusters[1];
        assert_eq!(etl.initial_replicas[0].size, Size("50cc".into()));
        assert_eq!(
            etl.workload.hydration_core_ms,
            DEFAULT_HYDRATION_S * 0.5 * 1000.0
        );
        assert!(
            b.notes
                .iter()
                .any(|n| n.starts_with("cluster etl: its hydration is unknown")
                    && n.contains("assumed 10m on 50cc")),
            "{:?}",
            b.notes
        );
    }

    #[test]
    fn a_suspended_managed_cluster_gets_its_replication_factor_back() {
        let mut h = suspended_etl(Some(json!({"idle_suspend": {
            "suspended": [{"name": "r1", "size": "50cc"}, {"name": "r2", "size": "50cc"}],
            "suspended_at": "2026-02-28T20:00:00Z",
        }})));
        let etl = &mut h.clusters[1];
        etl.managed = true;
        etl.size = Some(Size("50cc".into()));
        etl.replication_factor = Some(0);
        let b = build(&h, &opts()).expect("built");
        let etl = &parse(&b).clusters[1];
        assert_eq!(etl.managed.as_ref().map(|m| m.replication_factor), Some(2));
        assert_eq!(etl.initial_replicas.len(), 2);
        assert!(etl.initial_replicas.iter().all(|r| !r.hydrated));
    }

    #[test]
    fn a_suspended_cluster_whose_replicas_are_unknown_is_said() {
        for (state, why) in [
            (None, "no state row"),
            (
                Some(
                    json!({"idle_suspend": {"suspended": [], "suspended_at": "2026-02-28T20:00:00Z"}}),
                ),
                "its state remembers none",
            ),
            (
                Some(
                    json!({"idle_suspend": {"suspended": [{"name": "r1", "size": "9000cc"}],
                                             "suspended_at": "2026-02-28T20:00:00Z"}}),
                ),
                "not in the catalog",
            ),
        ] {
            let b = build(&suspended_etl(state), &opts()).expect("built");
            assert!(parse(&b).clusters[1].initial_replicas.is_empty());
            assert!(
                b.notes.iter().any(
                    |n| n.starts_with("cluster etl: suspended (no replica)") && n.contains(why)
                ),
                "{why}: {:?}",
                b.notes
            );
        }
        // Not held suspended (resumed since): nothing comes back, as in the real one.
        let b = build(
            &suspended_etl(Some(json!({"idle_suspend": {
                "suspended": [{"name": "r1", "size": "25cc"}],
                "suspended_at": null,
            }}))),
            &opts(),
        )
        .expect("built");
        assert!(parse(&b).clusters[1].initial_replicas.is_empty());
    }

    #[test]
    fn an_empty_statement_log_is_said_and_one_day_is_singular() {
        let mut h = live();
        h.buckets.clear();
        h.days = 1;
        let b = build(&h, &opts()).expect("built");
        assert!(
            b.notes.iter().any(|n| n.starts_with(
                "the statement log had no rows over the 1 day (for the clusters replayed): \
                 the figures say nothing about demand"
            )),
            "{:?}",
            b.notes
        );
        assert!(
            b.toml.contains("statement log of the 1 day until"),
            "{}",
            b.toml
        );
        assert!(!b.toml.contains("1 days"), "{}", b.toml);
        // With rows, no such note.
        let b = build(&live(), &opts()).expect("built");
        assert!(!b.notes.iter().any(|n| n.contains("had no rows")));
        assert!(b.toml.contains("of the 28 days until"));
        // A log younger than the window: said, with where it begins.
        let mut young = live();
        let oldest = young.until - chrono::Duration::days(10);
        young.buckets.retain(|b| b.minute >= oldest);
        if young.buckets.is_empty() {
            young.buckets.push(Bucket {
                cluster: ClusterId("u2".into()),
                minute: oldest,
                weight: 1.0,
            });
        }
        let b = build(&young, &opts()).expect("built");
        assert!(
            b.notes.iter().any(
                |n| n.contains("the statement log's oldest row read is from")
                    && n.contains("the time before it replays without demand")
            ),
            "{:?}",
            b.notes
        );
        let mut full = live();
        full.buckets.push(Bucket {
            cluster: ClusterId("u2".into()),
            minute: full.until - chrono::Duration::days(28),
            weight: 1.0,
        });
        assert!(!build(&full, &opts())
            .expect("built")
            .notes
            .iter()
            .any(|n| n.contains("oldest row read")));
    }

    #[test]
    fn nothing_to_replay_is_an_error() {
        let mut h = live();
        h.clusters.clear();
        assert!(build(&h, &opts()).is_err());
    }
}
