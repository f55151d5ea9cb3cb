//! Scenario files: what the simulated environment looks like (sizes, clusters,
//! workloads) and which strategies run on it. Parsed from TOML or JSON with
//! unknown keys refused; every error names the key and, where the format
//! allows, the line. The result is fully resolved: fleets expanded, jitter
//! drawn from the seed, durations in milliseconds, strategy configs validated
//! with the product's own parser.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Datelike, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer};

use crate::model::{ClusterId, ReplicaSize, Size, SizeCatalog};
use crate::strategy::{StrategyConfig, StrategyKind};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
pub const SECOND: i64 = 1000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// A fully resolved scenario. Times are milliseconds since `start`.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub start: DateTime<Utc>,
    pub horizon_ms: i64,
    pub interval_ms: i64,
    pub seed: u64,
    pub sizes: SizeCatalog,
    pub statement_logging: bool,
    /// How far back the crash counts look (the real snapshot's window).
    pub crash_window_ms: i64,
    pub clusters: Vec<ClusterSpec>,
}

#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub id: ClusterId,
    pub name: String,
    pub workload: Workload,
    /// Strategy rows over time, sorted by `at_ms`; the first is at 0.
    pub phases: Vec<Phase>,
    pub initial_replicas: Vec<InitialReplica>,
    /// A managed cluster (`managed = true`): its size and replication
    /// factor; its replicas are `r1`..`rN` (`initial_replicas`).
    pub managed: Option<ManagedSpec>,
}

/// The configuration of a managed cluster at the start.
#[derive(Debug, Clone)]
pub struct ManagedSpec {
    pub size: Size,
    pub replication_factor: u32,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub at_ms: i64,
    /// `(strategy_type, config)` exactly as a database row holds them.
    pub rows: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub struct InitialReplica {
    pub name: String,
    pub size: Size,
    pub hydrated: bool,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub memory_bytes: f64,
    /// Hydration work in core-milliseconds: a replica of `c` cores hydrates
    /// in `work / c`.
    pub hydration_core_ms: f64,
    pub oom_every_ms: i64,
    /// A replica that hydrates crashes this long after each hydration and
    /// hydrates again from scratch (a replica that keeps crashing).
    pub crash_every_ms: Option<i64>,
    pub service_ms: i64,
    pub trace: Trace,
}

#[derive(Debug, Clone)]
pub enum Trace {
    /// Recurring windows of Poisson arrivals.
    Windows(Vec<Window>),
    /// Statement begin times (ms since start), sorted.
    Begins(Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Window {
    pub start_ms: i64,
    pub duration_ms: i64,
    pub every_ms: Option<i64>,
    pub weekdays_only: bool,
    pub qps: f64,
}

impl Scenario {
    pub fn days(&self) -> f64 {
        self.horizon_ms as f64 / DAY as f64
    }

    pub fn ticks(&self) -> i64 {
        self.horizon_ms / self.interval_ms
    }
}

impl Workload {
    /// Hydration time on a size, or `None` when the size is too small and
    /// crash-loops instead.
    pub fn hydration_ms(&self, size: &ReplicaSize) -> Option<i64> {
        if size.memory_bytes < self.memory_bytes {
            return None;
        }
        let cores = size.cpu_cores.max(1e-3);
        Some((self.hydration_core_ms / cores).ceil() as i64)
    }
}

impl Window {
    /// Occurrences `[start, end)` that begin before `horizon`.
    pub fn occurrences(&self, horizon: i64, start: DateTime<Utc>) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        let mut s = self.start_ms;
        while s < horizon {
            let weekday = (start + chrono::Duration::milliseconds(s)).weekday();
            let weekend = matches!(weekday, Weekday::Sat | Weekday::Sun);
            if !(self.weekdays_only && weekend) {
                out.push((s, s + self.duration_ms));
            }
            match self.every_ms {
                Some(e) => s += e,
                None => break,
            }
        }
        out
    }
}

/// A scenario error: what is wrong and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioError(pub String);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// ---------------------------------------------------------------- raw format

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    #[serde(default)]
    description: String,
    days: Option<f64>,
    duration: Option<Dur>,
    interval: Option<Dur>,
    seed: Option<u64>,
    start: Option<String>,
    #[serde(default = "yes")]
    statement_logging: bool,
    sizes: Option<Vec<RawSize>>,
    clusters: Vec<RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSize {
    name: String,
    credits_per_hour: f64,
    memory_gib: f64,
    cpu_cores: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: String,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    jitter: RawJitter,
    workload: RawWorkload,
    #[serde(default)]
    strategies: Vec<RawStrategy>,
    #[serde(default)]
    initial_replicas: Vec<RawReplica>,
    #[serde(default)]
    reconfigure: Vec<RawReconfigure>,
    /// A managed cluster: Materialize keeps `replication_factor` replicas
    /// `r1`..`rN` of `size`.
    #[serde(default)]
    managed: bool,
    size: Option<String>,
    replication_factor: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJitter {
    start: Option<Dur>,
    #[serde(default)]
    memory: f64,
    #[serde(default)]
    hydration: f64,
    #[serde(default)]
    qps: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrategy {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "empty_object")]
    config: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplica {
    name: String,
    size: String,
    #[serde(default = "yes")]
    hydrated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReconfigure {
    at: Dur,
    strategies: Vec<RawStrategy>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    memory_gib: f64,
    hydration_work: Dur,
    oom_every: Option<Dur>,
    crash_every: Option<Dur>,
    service_time: Option<Dur>,
    #[serde(default)]
    windows: Vec<RawWindow>,
    trace_csv: Option<String>,
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
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

/// A duration: `"90s"`, `"5m"`, `"1h30m"`, `"2d"`, `"250ms"`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Dur(i64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Any {
            Int(i64),
            Float(f64),
            Text(String),
        }
        let ms = match Any::deserialize(d)? {
            Any::Int(s) => Some(s.saturating_mul(SECOND)),
            Any::Float(s) => Some((s * SECOND as f64).round() as i64),
            Any::Text(t) => parse_duration(&t),
        };
        match ms {
            Some(ms) if ms >= 0 => Ok(Dur(ms)),
            _ => Err(serde::de::Error::custom(
                "invalid duration: use e.g. \"90s\", \"5m\", \"1h30m\", \"2d\" or a number of seconds",
            )),
        }
    }
}

/// Parses `1d2h30m15s250ms`-style durations into milliseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(digits);
        let value: f64 = num.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit.trim() {
            "ms" => 1,
            "s" | "sec" => SECOND,
            "m" | "min" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => 7 * DAY,
            _ => return None,
        };
        total = total.checked_add((value * scale as f64).round() as i64)?;
        rest = next;
    }
    Some(total)
}

/// A window start: a time of day on the first day (`"22:00"`) or an offset
/// from the start of the simulation (`"36h"`).
#[derive(Debug, Clone, Copy)]
struct Start(i64);

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = if let Some((h, m)) = text.split_once(':') {
            match (h.trim().parse::<i64>(), m.trim().parse::<i64>()) {
                (Ok(h), Ok(m)) if (0..24).contains(&h) && (0..60).contains(&m) => {
                    Some(h * HOUR + m * MINUTE)
                }
                _ => None,
            }
        } else {
            parse_duration(&text)
        };
        parsed.map(Start).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid start '{text}': use a time of day (\"22:00\") or an offset (\"36h\")"
            ))
        })
    }
}

// ------------------------------------------------------------- line lookup

/// Where the elements of a TOML scenario start, to put a line number on
/// errors found after parsing (unknown size, invalid strategy config).
#[derive(Debug, Default, Deserialize)]
struct Spans {
    #[serde(default)]
    clusters: Vec<toml::Spanned<ClusterSpans>>,
}

#[derive(Debug, Default, Deserialize)]
struct ClusterSpans {
    #[serde(default)]
    strategies: Vec<toml::Spanned<toml::Value>>,
    #[serde(default)]
    initial_replicas: Vec<toml::Spanned<toml::Value>>,
    #[serde(default)]
    reconfigure: Vec<ReconfigureSpans>,
}

#[derive(Debug, Default, Deserialize)]
struct ReconfigureSpans {
    #[serde(default)]
    strategies: Vec<toml::Spanned<toml::Value>>,
}

/// Where in the file an element is: its path, plus a line when known.
struct Locator {
    text: Option<String>,
    spans: Spans,
}

impl Locator {
    fn line_of(&self, offset: usize) -> Option<usize> {
        let text = self.text.as_ref()?;
        Some(text[..offset.min(text.len())].matches('\n').count() + 1)
    }

    fn at(&self, span: Option<std::ops::Range<usize>>) -> String {
        match span.and_then(|s| self.line_of(s.start)) {
            Some(line) => format!(" (line {line})"),
            None => String::new(),
        }
    }

    fn cluster(&self, i: usize) -> String {
        self.at(self.spans.clusters.get(i).map(|c| c.span()))
    }

    fn strategy(&self, c: usize, phase: Option<usize>, s: usize) -> String {
        let cs = self.spans.clusters.get(c).map(|c| c.get_ref());
        let span = match phase {
            None => cs.and_then(|c| c.strategies.get(s)).map(|v| v.span()),
            Some(p) => cs
                .and_then(|c| c.reconfigure.get(p))
                .and_then(|r| r.strategies.get(s))
                .map(|v| v.span()),
        };
        self.at(span)
    }

    fn replica(&self, c: usize, r: usize) -> String {
        let span = self
            .spans
            .clusters
            .get(c)
            .and_then(|cs| cs.get_ref().initial_replicas.get(r))
            .map(|v| v.span());
        self.at(span)
    }
}

// ------------------------------------------------------------------ loading

/// Reads a scenario file (`.json` is JSON, anything else TOML).
#[allow(clippy::disallowed_methods)] // the scenario's file, named by the user
pub fn load(path: &Path, seed_override: Option<u64>) -> Result<Scenario, ScenarioError> {
    let text = read_bounded(path, MAX_SCENARIO_BYTES)
        .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, is_json, base, seed_override)
        .map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))
}

/// Scenarios are a few kilobytes, traces a few megabytes: a bound keeps
/// `simulate /dev/zero` (or a mistaken path) from reading for ever.
const MAX_SCENARIO_BYTES: u64 = 4 << 20;
const MAX_TRACE_BYTES: u64 = 256 << 20;

/// A text file of at most `max` bytes.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // files named by the user
fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "larger than {} MiB; refusing to read it",
            max >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Parses scenario text; `base` resolves relative `trace_csv` paths.
pub fn parse(
    text: &str,
    is_json: bool,
    base: &Path,
    seed_override: Option<u64>,
) -> Result<Scenario, ScenarioError> {
    let (raw, locator) = if is_json {
        let raw: RawScenario = serde_json::from_str(text)
            .map_err(|e| ScenarioError(format!("invalid scenario: {e}")))?;
        (
            raw,
            Locator {
                text: None,
                spans: Spans::default(),
            },
        )
    } else {
        let raw: RawScenario = toml::from_str(text).map_err(|e| {
            ScenarioError(format!("invalid scenario: {}", e.to_string().trim_end()))
        })?;
        let spans = toml::from_str(text).unwrap_or_default();
        (
            raw,
            Locator {
                text: Some(text.to_string()),
                spans,
            },
        )
    };
    resolve(raw, &locator, base, seed_override)
}

fn resolve(
    raw: RawScenario,
    loc: &Locator,
    base: &Path,
    seed_override: Option<u64>,
) -> Result<Scenario, ScenarioError> {
    let err = |m: String| Err(ScenarioError(m));
    let horizon_ms = match (raw.days, raw.duration) {
        (Some(_), Some(_)) => return err("give either 'days' or 'duration', not both".into()),
        (Some(d), None) if d > 0.0 && d <= 3660.0 => (d * DAY as f64).round() as i64,
        (Some(d), None) => {
            return err(format!("key 'days': must be > 0 and at most 3660, got {d}"))
        }
        (None, Some(Dur(ms))) if ms > 0 => ms,
        (None, Some(_)) => return err("key 'duration': must be positive".into()),
        (None, None) => DAY,
    };
    let interval_ms = raw.interval.map(|d| d.0).unwrap_or(MINUTE);
    if interval_ms < SECOND {
        return err("key 'interval': must be at least 1s".into());
    }
    if horizon_ms / interval_ms > 10_000_000 {
        return err("keys 'days'/'interval': more than 10 million ticks".into());
    }
    let start = match &raw.start {
        None => DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ScenarioError(e.to_string()))?,
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| ScenarioError(format!("key 'start': '{s}' is not RFC 3339: {e}")))?,
    };
    let sizes = match &raw.sizes {
        None => SizeCatalog::cloud_defaults(),
        Some(list) => sizes_of(list)?,
    };
    if raw.clusters.is_empty() {
        return err("key 'clusters': at least one cluster is needed".into());
    }
    let seed = seed_override.or(raw.seed).unwrap_or(1);
    let mut jitter_rng = ChaCha8Rng::seed_from_u64(seed);
    jitter_rng.set_stream(u64::MAX);
    let mut clusters = Vec::new();
    let mut names = BTreeSet::new();
    for (ci, rc) in raw.clusters.iter().enumerate() {
        let here = format!("clusters[{ci}] '{}'{}", rc.name, loc.cluster(ci));
        let expanded = expand(rc, ci, loc, &sizes, base, horizon_ms, &mut jitter_rng)
            .map_err(|e| ScenarioError(format!("{here}: {}", e.0)))?;
        for mut spec in expanded {
            if !names.insert(spec.name.clone()) {
                return err(format!("{here}: duplicate cluster name '{}'", spec.name));
            }
            spec.id = ClusterId(format!("u{}", clusters.len() + 1));
            clusters.push(spec);
        }
    }
    Ok(Scenario {
        name: raw.name,
        description: raw.description.trim().to_string(),
        start,
        horizon_ms,
        interval_ms,
        seed,
        sizes,
        statement_logging: raw.statement_logging,
        crash_window_ms: crate::model::CRASH_WINDOW.as_millis() as i64,
        clusters,
    })
}

fn sizes_of(list: &[RawSize]) -> Result<SizeCatalog, ScenarioError> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let ok = s.credits_per_hour >= 0.0 && s.memory_gib > 0.0 && s.cpu_cores > 0.0;
        if !ok || s.name.is_empty() {
            return Err(ScenarioError(format!(
                "sizes[{i}] '{}': needs a name, credits_per_hour >= 0, memory_gib > 0 and cpu_cores > 0",
                s.name
            )));
        }
        out.push(ReplicaSize {
            name: Size(s.name.clone()),
            credits_per_hour: s.credits_per_hour,
            memory_bytes: s.memory_gib * GIB,
            cpu_cores: s.cpu_cores,
        });
    }
    if out.is_empty() {
        return Err(ScenarioError("key 'sizes': must not be empty".into()));
    }
    Ok(SizeCatalog::new(out))
}

/// One `[[clusters]]` entry → `count` clusters, jitter drawn per cluster.
fn expand(
    rc: &RawCluster,
    ci: usize,
    loc: &Locator,
    sizes: &SizeCatalog,
    base: &Path,
    horizon_ms: i64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<ClusterSpec>, ScenarioError> {
    if rc.count == 0 || rc.count > 10_000 {
        return Err(ScenarioError(format!(
            "key 'count': must be 1..=10000, got {}",
            rc.count
        )));
    }
    let mut phases = vec![(0, rc.strategies.clone(), None)];
    for (pi, r) in rc.reconfigure.iter().enumerate() {
        phases.push((r.at.0, r.strategies.clone(), Some(pi)));
    }
    phases.sort_by_key(|p| p.0);
    let mut resolved_phases = Vec::new();
    for (at_ms, rows, pi) in phases {
        let mut out = Vec::new();
        for (si, s) in rows.iter().enumerate() {
            let path = match pi {
                None => format!("strategies[{si}]"),
                Some(p) => format!("reconfigure[{p}].strategies[{si}]"),
            };
            let at = loc.strategy(ci, pi, si);
            let Some(kind) = StrategyKind::parse(&s.kind) else {
                return Err(ScenarioError(format!(
                    "{path}{at}: key 'type': unknown strategy type '{}'; known types are: {}",
                    s.kind,
                    StrategyKind::names()
                )));
            };
            let (_, unknown) = StrategyConfig::parse(kind, &s.config, sizes)
                .map_err(|e| ScenarioError(format!("{path}{at}: config {e}")))?;
            if let Some(key) = unknown.first() {
                return Err(ScenarioError(format!(
                    "{path}{at}: config key '{key}': unknown for strategy {kind}"
                )));
            }
            out.push((s.kind.clone(), s.config.clone()));
        }
        resolved_phases.push(Phase { at_ms, rows: out });
    }
    if resolved_phases.first().map(|p| p.at_ms) != Some(0) {
        resolved_phases.insert(
            0,
            Phase {
                at_ms: 0,
                rows: Vec::new(),
            },
        );
    }
    let mut initial = Vec::new();
    for (ri, r) in rc.initial_replicas.iter().enumerate() {
        let size = Size(r.size.clone());
        if !sizes.contains(&size) {
            return Err(ScenarioError(format!(
                "initial_replicas[{ri}]{}: key 'size': unknown size '{}'; sizes are: {}",
                loc.replica(ci, ri),
                r.size,
                sizes.names()
            )));
        }
        if initial.iter().any(|i: &InitialReplica| i.name == r.name) || r.name.is_empty() {
            return Err(ScenarioError(format!(
                "initial_replicas[{ri}]{}: key 'name': empty or duplicate replica name '{}'",
                loc.replica(ci, ri),
                r.name
            )));
        }
        initial.push(InitialReplica {
            name: r.name.clone(),
            size,
            hydrated: r.hydrated,
        });
    }
    let managed = managed_of(rc, sizes, &resolved_phases, &mut initial)?;
    let trace = trace_of(&rc.workload, base, horizon_ms)?;
    let width = rc.count.to_string().len();
    let mut out = Vec::new();
    for i in 1..=rc.count {
        let name = if rc.count == 1 {
            rc.name.replace("{i}", "1")
        } else if rc.name.contains("{i}") {
            rc.name.replace("{i}", &format!("{i:0width$}"))
        } else {
            format!("{}_{i:0width$}", rc.name)
        };
        let workload = jittered(&rc.workload, &rc.jitter, &trace, rng, rc.count > 1)?;
        out.push(ClusterSpec {
            id: ClusterId(String::new()),
            name,
            workload,
            phases: resolved_phases.clone(),
            initial_replicas: initial.clone(),
            managed: managed.clone(),
        });
    }
    Ok(out)
}

/// A managed cluster's size and replication factor: the explicit keys, or
/// the size and count of `initial_replicas` (which become `r1`..`rN`).
fn managed_of(
    rc: &RawCluster,
    sizes: &SizeCatalog,
    phases: &[Phase],
    initial: &mut Vec<InitialReplica>,
) -> Result<Option<ManagedSpec>, ScenarioError> {
    let err = |m: String| Err(ScenarioError(m));
    if !rc.managed {
        if rc.size.is_some() || rc.replication_factor.is_some() {
            return err("keys 'size' and 'replication_factor' need 'managed = true'".into());
        }
        return Ok(None);
    }
    for (ty, _) in phases.iter().flat_map(|p| p.rows.iter()) {
        if ty == "burst" || ty == "shrink_to_fit" {
            return err(format!(
                "strategy {ty} is not supported on managed clusters (all their replicas have one size)"
            ));
        }
    }
    let size = match (&rc.size, initial.first()) {
        (Some(s), _) => {
            let size = Size(s.clone());
            if !sizes.contains(&size) {
                return err(format!(
                    "key 'size': unknown size '{s}'; sizes are: {}",
                    sizes.names()
                ));
            }
            size
        }
        (None, Some(r)) => r.size.clone(),
        (None, None) => return err("a managed cluster needs 'size' (or 'initial_replicas')".into()),
    };
    if initial.iter().any(|r| r.size != size) {
        return err(format!(
            "key 'initial_replicas': a managed cluster's replicas all have its size '{size}'"
        ));
    }
    let rf = match rc.replication_factor {
        Some(n) if !initial.is_empty() && n as usize != initial.len() => {
            return err(format!(
                "key 'replication_factor': {n}, but {} initial_replicas",
                initial.len()
            ))
        }
        Some(n) if n > 32 => return err("key 'replication_factor': at most 32".into()),
        Some(n) => n,
        None if initial.is_empty() => 1,
        None => initial.len() as u32,
    };
    let hydrated: Vec<bool> = initial.iter().map(|r| r.hydrated).collect();
    *initial = (0..rf as usize)
        .map(|i| InitialReplica {
            name: format!("r{}", i + 1),
            size: size.clone(),
            hydrated: hydrated.get(i).copied().unwrap_or(true),
        })
        .collect();
    Ok(Some(ManagedSpec {
        size,
        replication_factor: rf,
    }))
}

#[allow(clippy::disallowed_methods)] // the trace file the scenario names
fn trace_of(w: &RawWorkload, base: &Path, horizon_ms: i64) -> Result<Trace, ScenarioError> {
    match (&w.trace_csv, w.windows.is_empty()) {
        (Some(_), false) => Err(ScenarioError(
            "workload: give either 'windows' or 'trace_csv', not both".into(),
        )),
        (Some(file), true) => {
            let path = base.join(file);
            let text = read_bounded(&path, MAX_TRACE_BYTES).map_err(|e| {
                ScenarioError(format!("workload key 'trace_csv': {}: {e}", path.display()))
            })?;
            let begins = parse_csv(&text, horizon_ms)
                .map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))?;
            Ok(Trace::Begins(begins))
        }
        (None, _) => {
            let mut out = Vec::new();
            for (i, rw) in w.windows.iter().enumerate() {
                if rw.duration.0 <= 0 || !(rw.qps >= 0.0 && rw.qps <= 1000.0) {
                    return Err(ScenarioError(format!(
                        "workload windows[{i}]: 'duration' must be positive and 'qps' within 0..=1000"
                    )));
                }
                if rw.every.is_some_and(|e| e.0 < rw.duration.0.max(MINUTE)) {
                    return Err(ScenarioError(format!(
                        "workload windows[{i}]: key 'every' must be at least the duration and 1m"
                    )));
                }
                out.push(Window {
                    start_ms: rw.start.0,
                    duration_ms: rw.duration.0,
                    every_ms: rw.every.map(|d| d.0),
                    weekdays_only: rw.weekdays_only,
                    qps: rw.qps,
                });
            }
            Ok(Trace::Windows(out))
        }
    }
}

/// Statement begin times: the first column of each line, as seconds since
/// the start of the simulation or an RFC 3339 time relative to the first
/// one. A header line and `#` comments are skipped.
pub fn parse_csv(text: &str, horizon_ms: i64) -> Result<Vec<i64>, ScenarioError> {
    let mut out = Vec::new();
    let mut first_abs: Option<DateTime<Utc>> = None;
    for (n, line) in text.lines().enumerate() {
        let field = line
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"');
        if field.is_empty() || field.starts_with('#') {
            continue;
        }
        let ms = if let Ok(secs) = field.parse::<f64>() {
            (secs * SECOND as f64).round() as i64
        } else if let Ok(t) = DateTime::parse_from_rfc3339(&field.replace(' ', "T")) {
            let t = t.with_timezone(&Utc);
            let first = *first_abs.get_or_insert(t);
            (t - first).num_milliseconds()
        } else if out.is_empty() && first_abs.is_none() {
            continue; // header
        } else {
            return Err(ScenarioError(format!(
                "line {}: '{field}' is neither seconds nor an RFC 3339 time",
                n + 1
            )));
        };
        if ms < 0 {
            return Err(ScenarioError(format!("line {}: negative time", n + 1)));
        }
        if ms < horizon_ms {
            out.push(ms);
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn jittered(
    w: &RawWorkload,
    j: &RawJitter,
    trace: &Trace,
    rng: &mut ChaCha8Rng,
    apply: bool,
) -> Result<Workload, ScenarioError> {
    for (key, v) in [
        ("memory", j.memory),
        ("hydration", j.hydration),
        ("qps", j.qps),
    ] {
        if !(0.0..1.0).contains(&v) {
            return Err(ScenarioError(format!(
                "jitter key '{key}': a fraction in 0..1, got {v}"
            )));
        }
    }
    let mut factor = |f: f64| {
        if apply && f > 0.0 {
            1.0 + rng.random_range(-f..=f)
        } else {
            1.0
        }
    };
    if w.memory_gib.is_nan() || w.memory_gib < 0.0 {
        return Err(ScenarioError(
            "workload key 'memory_gib': must be >= 0".into(),
        ));
    }
    let memory_bytes = w.memory_gib * GIB * factor(j.memory);
    let hydration_core_ms = w.hydration_work.0 as f64 * factor(j.hydration);
    let qps_factor = factor(j.qps);
    let shift = match j.start {
        Some(Dur(s)) if apply && s > 0 => rng.random_range(-s..=s),
        _ => 0,
    };
    let trace = match trace {
        Trace::Begins(b) => Trace::Begins(b.clone()),
        Trace::Windows(ws) => Trace::Windows(
            ws.iter()
                .map(|w| Window {
                    start_ms: (w.start_ms + shift).max(0),
                    qps: w.qps * qps_factor,
                    ..w.clone()
                })
                .collect(),
        ),
    };
    Ok(Workload {
        memory_bytes,
        hydration_core_ms,
        oom_every_ms: w.oom_every.map(|d| d.0).unwrap_or(5 * MINUTE).max(SECOND),
        crash_every_ms: w.crash_every.map(|d| d.0.max(SECOND)),
        service_ms: w.service_time.map(|d| d.0).unwrap_or(SECOND).max(1),
        trace,
    })
}
