//! Scenario files: what the simulated environment looks like (sizes,
//! clusters, how Materialize, the controller and the clients behave) and
//! which strategies run on it. Parsed from TOML or JSON with unknown keys
//! refused; every error names the key and, where the format allows, the
//! line. The result is fully resolved: fleets expanded, demand drawn from the
//! seed (`workload`), durations in milliseconds, strategy configs validated
//! with the product's own parser.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer};

use super::workload::{self, RawJitter, RawWorkload};
use crate::model::{ClusterId, ReplicaSize, Size, SizeCatalog};

pub use super::workload::Workload;

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
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
    pub statement_log: StatementLog,
    pub materialize: Materialize,
    pub controller: Controller,
    pub clients: Clients,
    /// How far back the crash counts look (the real snapshot's window).
    pub crash_window_ms: i64,
    /// Statement log history before the start (`history`): demand drawn
    /// for that long before the run, seen only in the log.
    pub history_ms: i64,
    pub clusters: Vec<ClusterSpec>,
}

/// `mz_statement_execution_history` as the controller reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementLog {
    /// `false`: the log is empty (activity unknown).
    pub enabled: bool,
    /// Each statement is logged with this probability.
    pub sample_rate: f64,
    /// Logged begins and ends become visible at the next multiple of this.
    pub flush_ms: i64,
}

/// What a query on a cluster without replicas does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnNoReplica {
    /// Fails at once, as a SELECT does on Materialize (the client retries).
    Error,
    /// Waits for a replica, as a SUBSCRIBE does.
    Wait,
}

/// How `ALTER CLUSTER … SET (SIZE) WITH (WAIT UNTIL READY …)` behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeMode {
    /// Up to v26.34: the statement, and so the controller's round, waits
    /// until the new replicas are hydrated or the timeout rolls back.
    Blocking,
    /// From v26.35: returns at once, the resize goes on in the background.
    Background,
}

/// The simulated Materialize.
#[derive(Debug, Clone, PartialEq)]
pub struct Materialize {
    /// From a replica's creation until it starts hydrating.
    pub provisioning_ms: i64,
    /// From an OOM kill until the replica starts hydrating again.
    pub restart_ms: i64,
    pub on_no_replica: OnNoReplica,
    pub managed_resize: ResizeMode,
    /// `max_replicas_per_cluster` (§8.5): a CREATE beyond it is refused.
    pub max_replicas_per_cluster: u32,
}

/// The controller's rounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Controller {
    /// From the round's start (its snapshot) to its DDL taking effect.
    pub run_time_ms: i64,
    /// Each round starts up to this long after its scheduled time.
    pub tick_jitter_ms: i64,
    /// Probability that a round fails before acting (connection lost, …).
    pub failure_rate: f64,
}

/// The users' clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Clients {
    /// After a failed query, the first retry waits this long ...
    pub backoff_ms: i64,
    /// ... and each further one this many times longer.
    pub backoff_multiplier: f64,
    /// Attempts per query, the first included; then it counts as failed.
    pub attempts: u32,
    /// A query served within this of its first attempt is served well.
    pub served_within_ms: i64,
}

impl Clients {
    /// The wait before retry number `n` (1-based).
    pub fn backoff(&self, n: u32) -> i64 {
        let f = self.backoff_multiplier.powi(n.saturating_sub(1) as i32);
        (self.backoff_ms as f64 * f).round() as i64
    }
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

impl Scenario {
    pub fn days(&self) -> f64 {
        self.horizon_ms as f64 / DAY as f64
    }

    pub fn ticks(&self) -> i64 {
        self.horizon_ms / self.interval_ms
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
    history: Option<Dur>,
    #[serde(default = "yes")]
    statement_logging: bool,
    #[serde(default)]
    statement_log: RawStatementLog,
    #[serde(default)]
    materialize: RawMaterialize,
    #[serde(default)]
    controller: RawController,
    #[serde(default)]
    clients: RawClients,
    #[serde(default)]
    holidays: Vec<String>,
    sizes: Option<Vec<RawSize>>,
    clusters: Vec<RawCluster>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatementLog {
    enabled: Option<bool>,
    sample_rate: Option<f64>,
    flush_interval: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaterialize {
    provisioning: Option<Dur>,
    restart_delay: Option<Dur>,
    on_no_replica: Option<OnNoReplica>,
    managed_resize: Option<ResizeMode>,
    max_replicas_per_cluster: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawController {
    run_time: Option<Dur>,
    tick_jitter: Option<Dur>,
    failure_rate: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClients {
    retry_backoff: Option<Dur>,
    backoff_multiplier: Option<f64>,
    attempts: Option<u32>,
    served_within: Option<Dur>,
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
pub(super) struct Dur(pub i64);

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
pub(super) struct Start(pub i64);

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

/// What the command line may override in a scenario file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub seed: Option<u64>,
    /// `history`, ms.
    pub history_ms: Option<i64>,
    /// `clients.served_within`, ms.
    pub served_within_ms: Option<i64>,
}

/// Reads a scenario file (`.json` is JSON, anything else TOML).
pub fn load(path: &Path, seed_override: Option<u64>) -> Result<Scenario, ScenarioError> {
    load_with(
        path,
        &Overrides {
            seed: seed_override,
            ..Overrides::default()
        },
    )
}

/// [`load`] with command-line overrides.
#[allow(clippy::disallowed_methods)] // the scenario's file, named by the user
pub fn load_with(path: &Path, o: &Overrides) -> Result<Scenario, ScenarioError> {
    let text = read_bounded(path, MAX_SCENARIO_BYTES)
        .map_err(|e| ScenarioError(format!("{}: {e}", path.display())))?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let base = path.parent().unwrap_or(Path::new("."));
    parse_with(&text, is_json, base, o)
        .map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))
}

/// Scenarios are a few kilobytes, traces a few megabytes: a bound keeps
/// `simulate /dev/zero` (or a mistaken path) from reading for ever.
const MAX_SCENARIO_BYTES: u64 = 4 << 20;
pub(super) const MAX_TRACE_BYTES: u64 = 256 << 20;

/// A text file of at most `max` bytes ([`crate::files::read_text_bounded`]).
pub(super) fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    crate::files::read_text_bounded(path, max)
}

/// Parses scenario text; `base` resolves relative `trace_csv` paths.
pub fn parse(
    text: &str,
    is_json: bool,
    base: &Path,
    seed_override: Option<u64>,
) -> Result<Scenario, ScenarioError> {
    parse_with(
        text,
        is_json,
        base,
        &Overrides {
            seed: seed_override,
            ..Overrides::default()
        },
    )
}

/// [`parse`] with command-line overrides.
pub fn parse_with(
    text: &str,
    is_json: bool,
    base: &Path,
    o: &Overrides,
) -> Result<Scenario, ScenarioError> {
    parse_with_files(text, is_json, base, o, &BTreeMap::new())
}

/// [`parse_with`], with trace files given as text by their `trace_csv`
/// name (a scenario rendered in memory); names not in `files` are read
/// from disk relative to `base`.
pub fn parse_with_files(
    text: &str,
    is_json: bool,
    base: &Path,
    o: &Overrides,
    files: &BTreeMap<String, String>,
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
    resolve(raw, &locator, base, o, files)
}

fn resolve(
    raw: RawScenario,
    loc: &Locator,
    base: &Path,
    o: &Overrides,
    files: &BTreeMap<String, String>,
) -> Result<Scenario, ScenarioError> {
    let seed_override = o.seed;
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
    let statement_log = statement_log_of(&raw)?;
    let materialize = materialize_of(&raw.materialize)?;
    let controller = controller_of(&raw.controller, interval_ms)?;
    let mut clients = clients_of(&raw.clients)?;
    if let Some(ms) = o.served_within_ms {
        clients.served_within_ms = ms;
    }
    let history_ms = o.history_ms.or(raw.history.map(|d| d.0)).unwrap_or(0);
    if !(0..=120 * DAY).contains(&history_ms) {
        return err("key 'history': at most 120 days".into());
    }
    let holidays = holidays_of(&raw.holidays, start)?;
    let seed = seed_override.or(raw.seed).unwrap_or(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::MAX);
    let cx = workload::Context {
        base,
        horizon_ms,
        start,
        holidays: &holidays,
        on_no_replica: materialize.on_no_replica,
        history_ms,
        files,
    };
    let mut clusters = Vec::new();
    let mut names = BTreeSet::new();
    for (ci, rc) in raw.clusters.iter().enumerate() {
        let here = format!("clusters[{ci}] '{}'{}", rc.name, loc.cluster(ci));
        let expanded = expand(rc, ci, loc, &sizes, &cx, &mut rng)
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
        statement_log,
        materialize,
        controller,
        clients,
        crash_window_ms: crate::model::CRASH_WINDOW.as_millis() as i64,
        history_ms,
        clusters,
    })
}

fn statement_log_of(raw: &RawScenario) -> Result<StatementLog, ScenarioError> {
    let s = &raw.statement_log;
    let sample_rate = s.sample_rate.unwrap_or(0.99);
    if !(0.0..=1.0).contains(&sample_rate) {
        return Err(ScenarioError(format!(
            "key 'statement_log.sample_rate': a fraction in 0..=1, got {sample_rate}"
        )));
    }
    Ok(StatementLog {
        enabled: raw.statement_logging && s.enabled.unwrap_or(true),
        sample_rate,
        flush_ms: s.flush_interval.map(|d| d.0).unwrap_or(5 * SECOND),
    })
}

/// Materialize's default `max_replicas_per_cluster` (§8.5).
pub const MAX_REPLICAS_PER_CLUSTER: u32 = 5;

fn materialize_of(m: &RawMaterialize) -> Result<Materialize, ScenarioError> {
    let max_replicas_per_cluster = m
        .max_replicas_per_cluster
        .unwrap_or(MAX_REPLICAS_PER_CLUSTER);
    if max_replicas_per_cluster == 0 {
        return Err(ScenarioError(
            "key 'materialize.max_replicas_per_cluster': at least 1".into(),
        ));
    }
    Ok(Materialize {
        provisioning_ms: m.provisioning.map(|d| d.0).unwrap_or(MINUTE),
        restart_ms: m.restart_delay.map(|d| d.0).unwrap_or(10 * SECOND),
        on_no_replica: m.on_no_replica.unwrap_or(OnNoReplica::Error),
        managed_resize: m.managed_resize.unwrap_or(ResizeMode::Blocking),
        max_replicas_per_cluster,
    })
}

fn controller_of(c: &RawController, interval_ms: i64) -> Result<Controller, ScenarioError> {
    let run_time_ms = c
        .run_time
        .map(|d| d.0)
        .unwrap_or((2 * SECOND).min(interval_ms / 4));
    let tick_jitter_ms = c
        .tick_jitter
        .map(|d| d.0)
        .unwrap_or((5 * SECOND).min(interval_ms / 4));
    if run_time_ms + tick_jitter_ms >= interval_ms {
        return Err(ScenarioError(format!(
            "keys 'controller.run_time' + 'controller.tick_jitter' ({}) must be shorter than 'interval' ({})",
            crate::sim::scorecard::secs((run_time_ms + tick_jitter_ms) as f64 / 1000.0),
            crate::sim::scorecard::secs(interval_ms as f64 / 1000.0),
        )));
    }
    let failure_rate = c.failure_rate.unwrap_or(0.005);
    if !(0.0..1.0).contains(&failure_rate) {
        return Err(ScenarioError(format!(
            "key 'controller.failure_rate': a fraction in 0..1, got {failure_rate}"
        )));
    }
    Ok(Controller {
        run_time_ms,
        tick_jitter_ms,
        failure_rate,
    })
}

fn clients_of(c: &RawClients) -> Result<Clients, ScenarioError> {
    let backoff_multiplier = c.backoff_multiplier.unwrap_or(2.0);
    if !(1.0..=10.0).contains(&backoff_multiplier) {
        return Err(ScenarioError(format!(
            "key 'clients.backoff_multiplier': within 1..=10, got {backoff_multiplier}"
        )));
    }
    let attempts = c.attempts.unwrap_or(5);
    if !(1..=100).contains(&attempts) {
        return Err(ScenarioError(format!(
            "key 'clients.attempts': within 1..=100, got {attempts}"
        )));
    }
    Ok(Clients {
        backoff_ms: c.retry_backoff.map(|d| d.0).unwrap_or(30 * SECOND).max(1),
        backoff_multiplier,
        attempts,
        served_within_ms: c.served_within.map(|d| d.0).unwrap_or(10 * SECOND),
    })
}

/// Holiday dates → days since the start's date.
fn holidays_of(list: &[String], start: DateTime<Utc>) -> Result<BTreeSet<i64>, ScenarioError> {
    list.iter()
        .map(|d| {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map(|date| (date - start.date_naive()).num_days())
                .map_err(|e| ScenarioError(format!("key 'holidays': '{d}' is not YYYY-MM-DD: {e}")))
        })
        .collect()
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

/// One cluster's strategy rows, judged by the product's one validator
/// ([`crate::plan::rows::validate`], as the planner and `check` judge live
/// rows): unknown types, bad configs, conflicting strategies, strategies a
/// managed cluster cannot run. Stricter than production in two ways a
/// scenario should be: an unknown config key and a second row of a type are
/// errors, not warnings. `Err((index of the row, or None for the set,
/// message))`.
pub(super) fn validate_rows(
    rows: &[(String, serde_json::Value)],
    managed: bool,
    sizes: &SizeCatalog,
) -> Result<(), (Option<usize>, String)> {
    use crate::plan::rows::{validate, Code, InEffect};
    let id = ClusterId("sim".into());
    let mut cluster = crate::model::Cluster::empty(id.clone(), "sim");
    cluster.managed = managed;
    let rows: Vec<crate::model::StrategyRow> = rows
        .iter()
        .map(|(ty, config)| crate::model::StrategyRow {
            cluster_id: id.clone(),
            strategy_type: ty.clone(),
            config: config.clone(),
            updated_at: None,
        })
        .collect();
    for (i, r) in rows.iter().enumerate() {
        if rows[..i].iter().any(|p| p.strategy_type == r.strategy_type) {
            return Err((
                Some(i),
                format!(
                    "a second '{}' row: one row per strategy type",
                    r.strategy_type
                ),
            ));
        }
    }
    let effect: Vec<InEffect> = rows.iter().map(|row| InEffect { row, older: 0 }).collect();
    let v = validate(Some(&cluster), &effect, sizes);
    let Some(f) = v
        .findings
        .iter()
        .find(|f| f.is_error() || f.code == Code::UnknownKey)
    else {
        return Ok(());
    };
    let at = f
        .strategy_type
        .as_ref()
        .and_then(|t| rows.iter().position(|r| r.strategy_type == *t));
    Err((at, f.describe()))
}

/// A `[[clusters]]` entry's strategy rows over time, validated.
fn phases_of(
    rc: &RawCluster,
    ci: usize,
    loc: &Locator,
    sizes: &SizeCatalog,
) -> Result<Vec<Phase>, ScenarioError> {
    let mut phases = vec![(0, rc.strategies.clone(), None)];
    for (pi, r) in rc.reconfigure.iter().enumerate() {
        phases.push((r.at.0, r.strategies.clone(), Some(pi)));
    }
    phases.sort_by_key(|p| p.0);
    let mut resolved = Vec::new();
    for (at_ms, rows, pi) in phases {
        let out: Vec<(String, serde_json::Value)> = rows
            .iter()
            .map(|s| (s.kind.clone(), s.config.clone()))
            .collect();
        if let Err((si, message)) = validate_rows(&out, rc.managed, sizes) {
            let (path, at) = match (si, pi) {
                (Some(si), None) => (format!("strategies[{si}]"), loc.strategy(ci, pi, si)),
                (Some(si), Some(p)) => (
                    format!("reconfigure[{p}].strategies[{si}]"),
                    loc.strategy(ci, pi, si),
                ),
                (None, None) => ("strategies".to_string(), loc.strategy(ci, pi, 0)),
                (None, Some(p)) => (
                    format!("reconfigure[{p}].strategies"),
                    loc.strategy(ci, pi, 0),
                ),
            };
            return Err(ScenarioError(format!("{path}{at}: {message}")));
        }
        resolved.push(Phase { at_ms, rows: out });
    }
    if resolved.first().map(|p| p.at_ms) != Some(0) {
        resolved.insert(
            0,
            Phase {
                at_ms: 0,
                rows: Vec::new(),
            },
        );
    }
    Ok(resolved)
}

fn initial_of(
    rc: &RawCluster,
    ci: usize,
    loc: &Locator,
    sizes: &SizeCatalog,
) -> Result<Vec<InitialReplica>, ScenarioError> {
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
    Ok(initial)
}

/// One `[[clusters]]` entry → `count` clusters, each with its own workload.
fn expand(
    rc: &RawCluster,
    ci: usize,
    loc: &Locator,
    sizes: &SizeCatalog,
    cx: &workload::Context,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<ClusterSpec>, ScenarioError> {
    if rc.count == 0 || rc.count > 10_000 {
        return Err(ScenarioError(format!(
            "key 'count': must be 1..=10000, got {}",
            rc.count
        )));
    }
    let phases = phases_of(rc, ci, loc, sizes)?;
    let mut initial = initial_of(rc, ci, loc, sizes)?;
    let managed = managed_of(rc, sizes, &mut initial)?;
    let shared = workload::shared(&rc.workload, cx)?;
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
        let workload = workload::resolve(&rc.workload, &rc.jitter, &shared, cx, rng, rc.count > 1)?;
        out.push(ClusterSpec {
            id: ClusterId(String::new()),
            name,
            workload,
            phases: phases.clone(),
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
    initial: &mut Vec<InitialReplica>,
) -> Result<Option<ManagedSpec>, ScenarioError> {
    let err = |m: String| Err(ScenarioError(m));
    if !rc.managed {
        if rc.size.is_some() || rc.replication_factor.is_some() {
            return err("keys 'size' and 'replication_factor' need 'managed = true'".into());
        }
        return Ok(None);
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

/// A trace's statement begins: those in the run (ms since the start,
/// sorted) and those before it, in the statement log's `history` (negative).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    pub begins: Vec<i64>,
    pub history: Vec<i64>,
}

/// Statement begin times: the first column of each line, as seconds since
/// the start of the simulation or an RFC 3339 time relative to the first
/// one. A header line and `#` comments are skipped. Negative seconds are
/// statements before the start: with a `history` of `history_ms` those
/// within it go to the statement log's history (what predictive strategies
/// learn from), earlier ones are ignored, as are times past the end;
/// without a history a negative time is an error.
pub fn parse_csv(text: &str, horizon_ms: i64, history_ms: i64) -> Result<Trace, ScenarioError> {
    let mut out = Trace::default();
    let mut first_abs: Option<DateTime<Utc>> = None;
    let mut seen = false;
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
            if !secs.is_finite() {
                return Err(ScenarioError(format!(
                    "line {}: '{field}' is not a time",
                    n + 1
                )));
            }
            (secs * SECOND as f64).round() as i64
        } else if let Ok(t) = DateTime::parse_from_rfc3339(&field.replace(' ', "T")) {
            let t = t.with_timezone(&Utc);
            let first = *first_abs.get_or_insert(t);
            (t - first).num_milliseconds()
        } else if !seen {
            continue; // header
        } else {
            return Err(ScenarioError(format!(
                "line {}: '{field}' is neither seconds nor an RFC 3339 time",
                n + 1
            )));
        };
        seen = true;
        if ms < 0 {
            if history_ms <= 0 {
                return Err(ScenarioError(format!(
                    "line {}: negative time (before the start; give the scenario a 'history' to \
                     use it as statement log history)",
                    n + 1
                )));
            }
            if ms >= -history_ms {
                out.history.push(ms);
            }
        } else if ms < horizon_ms {
            out.begins.push(ms);
        }
    }
    out.begins.sort_unstable();
    out.history.sort_unstable();
    Ok(out)
}
