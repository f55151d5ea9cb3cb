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

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Deserializer};

use super::workload::{self, RawJitter, RawWorkload};
use crate::model::{human_duration, ClusterId, ReplicaSize, Size, SizeCatalog};

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
    /// The demand as estimated before it was drawn, and held to
    /// [`MAX_QUERIES`] and [`MAX_OCCURRENCES`].
    pub estimate: workload::Estimate,
    /// What the file asks for that has no effect on this run (a spike or a
    /// reconfigure at or after its end): said, not refused.
    pub notes: Vec<String>,
    /// The trace files it read from disk (`trace_csv`, resolved): no output
    /// of the run may be written over them (`sim::check_outputs`).
    pub inputs: Vec<std::path::PathBuf>,
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
    /// The cluster its session runs on (`--exec-cluster`): left alone,
    /// whatever its strategies, as the real controller leaves it.
    pub exec_cluster: Option<String>,
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
        // 10^99 times a day would pass i64::MAX, and the retry's time with it.
        (self.backoff_ms as f64 * f)
            .min(MAX_DURATION_MS as f64)
            .round() as i64
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
    /// How Materialize schedules it (`schedule = "on-refresh"`: itself, and
    /// the controller leaves it alone, whatever its strategies).
    pub schedule: crate::model::Schedule,
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

    /// The least time from a query on a cluster without replicas to a
    /// replica that could serve it: the statement log shows it, the next
    /// round sees it and acts, the replica is provisioned (before any
    /// hydration). A day whose first query came later than this before
    /// the end could not have been served by any controller.
    pub fn fastest_wake_ms(&self) -> i64 {
        self.statement_log.flush_ms
            + self.interval_ms
            + self.controller.run_time_ms
            + self.materialize.provisioning_ms
    }

    /// Controller rounds: one at every multiple of the interval before the
    /// end, the first at the start (a last partial interval has its round).
    pub fn ticks(&self) -> i64 {
        (self.horizon_ms + self.interval_ms - 1) / self.interval_ms
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

/// The most memory a size or a workload may name, in GiB (64 TiB; the
/// largest cc size, 512C, has 4 TiB).
pub(super) const MAX_MEMORY_GIB: f64 = 65_536.0;
/// The most a size may cost per hour: sums over a long run stay readable.
pub(super) const MAX_CREDITS_PER_HOUR: f64 = 1e6;
/// The most cores a size may have.
pub(super) const MAX_CPU_CORES: f64 = 1e5;

/// Every number read from a scenario goes through here: it must be finite
/// (NaN fails every comparison and infinity passes `>= 0`, then prints as
/// `inf credits`) and within `range`. `key` names it in the error.
pub(super) fn number(
    key: &str,
    v: f64,
    range: impl std::ops::RangeBounds<f64>,
) -> Result<f64, ScenarioError> {
    use std::ops::Bound::{Excluded, Included, Unbounded};
    if v.is_finite() && range.contains(&v) {
        return Ok(v);
    }
    let mut bounds = Vec::new();
    match range.start_bound() {
        Included(lo) => bounds.push(format!("at least {lo}")),
        Excluded(lo) => bounds.push(format!("more than {lo}")),
        Unbounded => {}
    }
    match range.end_bound() {
        Included(hi) => bounds.push(format!("at most {hi}")),
        Excluded(hi) => bounds.push(format!("less than {hi}")),
        Unbounded => {}
    }
    let bounds = if bounds.is_empty() {
        String::new()
    } else {
        format!(" {}", bounds.join(" and "))
    };
    // A huge value in scientific notation (`1e300` printed 301 digits).
    let got = if v.is_finite() && v.abs() >= 1e15 {
        format!("{v:e}")
    } else {
        v.to_string()
    };
    Err(ScenarioError(format!(
        "key '{key}': must be a finite number{bounds}, got {got}"
    )))
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
    exec_cluster: Option<String>,
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
    /// `mz_clusters.schedule`: `manual` (default) or `on-refresh`.
    schedule: Option<String>,
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
            // NaN would read as 0 and infinity as the largest i64.
            Any::Float(s) if s.is_finite() => Some((s * SECOND as f64).round() as i64),
            Any::Float(_) => None,
            Any::Text(t) => parse_duration(&t),
        };
        match ms {
            Some(ms) if (0..=MAX_DURATION_MS).contains(&ms) => Ok(Dur(ms)),
            _ => Err(serde::de::Error::custom(
                "invalid duration: use e.g. \"90s\", \"5m\", \"1h30m\", \"2d\" (units ms, s, m, h, d, w; no years) or a number of seconds, at most 10 000 years",
            )),
        }
    }
}

/// The longest duration or offset a scenario may give: beyond any run (a
/// hydration that never ends is written as thousands of years), and far
/// enough from `i64::MAX` ms that sums and products of a few durations (a
/// start plus its noise plus a shift, a hydration on a thousandth of a
/// core) cannot overflow.
pub(super) const MAX_DURATION_MS: i64 = 10_000 * 365 * DAY;

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

/// A window start: a time of day (UTC, the calendar `weekly` and
/// `weekdays_only` follow) on the first day (`"22:00"`) or an offset from
/// the start of the simulation (`"36h"`), in ms.
#[derive(Debug, Clone, Copy)]
pub(super) struct Start {
    ms: i64,
    time_of_day: bool,
}

impl Start {
    /// Milliseconds from the simulation's `start`. A time of day counts
    /// from the start's midnight (UTC): a repeating window's first
    /// occurrence may be before the start (its later ones are at that time
    /// of day), a one-off one is the first such time at or after it.
    /// "22:00" read as an offset put demand at 22:00 only for a start at
    /// midnight (an outside check's: "10:00" of a 06:00 start came at 16:00).
    pub(super) fn from(&self, start: DateTime<Utc>, repeats: bool) -> i64 {
        if !self.time_of_day {
            return self.ms;
        }
        let since_midnight = since_midnight(start);
        match repeats {
            true => self.ms - since_midnight,
            false => (self.ms - since_midnight).rem_euclid(DAY),
        }
    }
}

/// Milliseconds since `t`'s midnight (UTC): where a time of day, and a
/// calendar day, begin relative to a simulation starting at `t`.
pub(super) fn since_midnight(t: DateTime<Utc>) -> i64 {
    i64::from(t.time().num_seconds_from_midnight()) * SECOND
        + i64::from(t.timestamp_subsec_millis())
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let parsed = if let Some((h, m)) = text.split_once(':') {
            match (h.trim().parse::<i64>(), m.trim().parse::<i64>()) {
                (Ok(h), Ok(m)) if (0..24).contains(&h) && (0..60).contains(&m) => Some(Start {
                    ms: h * HOUR + m * MINUTE,
                    time_of_day: true,
                }),
                _ => None,
            }
        } else {
            parse_duration(&text)
                .filter(|ms| (0..=MAX_DURATION_MS).contains(ms))
                .map(|ms| Start {
                    ms,
                    time_of_day: false,
                })
        };
        parsed.ok_or_else(|| {
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
    /// `days` (`simulate FILE --days N`): replaces the file's `days` or
    /// `duration`.
    pub days: Option<u32>,
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
    let raw: RawScenario = from_text("scenario", text, is_json)?;
    let (raw, locator) = if is_json {
        (
            raw,
            Locator {
                text: None,
                spans: Spans::default(),
            },
        )
    } else {
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

/// The line of each strategy row of each `[[clusters]]` entry of a TOML
/// text (an alternatives file's), for its errors found after parsing.
pub(super) fn strategy_lines(text: &str) -> Vec<Vec<Option<usize>>> {
    let locator = Locator {
        text: Some(text.to_string()),
        spans: toml::from_str(text).unwrap_or_default(),
    };
    locator
        .spans
        .clusters
        .iter()
        .map(|c| {
            c.get_ref()
                .strategies
                .iter()
                .map(|v| locator.line_of(v.span().start))
                .collect()
        })
        .collect()
}

/// What a syntax error quotes of the offending line, in characters: a
/// window around the error (a line of 100 000 `[` must not come back as
/// hundreds of kilobytes of error text).
const MAX_QUOTE_CHARS: usize = 200;
/// Each line of a parser's message, in characters: longer than a quote, as
/// its lists of the keys expected are, but a key it echoes is cut.
const MAX_MESSAGE_CHARS: usize = 1000;

/// Parses a scenario or alternative file (`what` names which, for the
/// error): the one place their syntax errors are formatted, the line
/// quoted and the message cut to a bound.
pub(super) fn from_text<T: serde::de::DeserializeOwned>(
    what: &str,
    text: &str,
    is_json: bool,
) -> Result<T, ScenarioError> {
    let message = if is_json {
        match serde_json::from_str(text) {
            Ok(v) => return Ok(v),
            Err(e) => e.to_string(),
        }
    } else {
        match toml::from_str(text) {
            Ok(v) => return Ok(v),
            Err(e) => toml_message(text, &e),
        }
    };
    let lines: Vec<String> = message
        .trim_end()
        .lines()
        .map(|l| crate::model::clip(l, MAX_MESSAGE_CHARS))
        .collect();
    Err(ScenarioError(format!(
        "invalid {what}: {}",
        lines.join("\n")
    )))
}

/// A TOML error as the toml crate writes it (position, the line with the
/// error marked, the message), but quoting at most [`MAX_QUOTE_CHARS`] of
/// the line around the error.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_string();
    };
    let mut at = span.start.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[..line_start].matches('\n').count() + 1;
    let content = text[line_start..line_end].trim_end_matches('\r');
    let column = text[line_start..at].chars().count();
    let len = content.chars().count();
    let from = if len <= MAX_QUOTE_CHARS {
        0
    } else {
        column
            .saturating_sub(MAX_QUOTE_CHARS / 2)
            .min(len - MAX_QUOTE_CHARS)
    };
    let mut quote: String = content.chars().skip(from).take(MAX_QUOTE_CHARS).collect();
    let mut caret = column - from;
    if from > 0 {
        quote.insert(0, '…');
        caret += 1;
    }
    if from + MAX_QUOTE_CHARS < len {
        quote.push('…');
    }
    // A span over several lines (a table missing a key) is marked to the
    // end of its first line: it drew a caret per character of the table.
    let marked = text
        .get(at..span.end.min(line_end))
        .map_or(1, |s| s.chars().count())
        .min(MAX_QUOTE_CHARS + 1 - (column - from).min(MAX_QUOTE_CHARS))
        .max(1);
    let gutter = " ".repeat(line.to_string().len() + 1);
    format!(
        "TOML parse error at line {line}, column {}\n{gutter}|\n{line} | {quote}\n{gutter}|{}{}\n{}",
        column + 1,
        " ".repeat(caret + 1),
        "^".repeat(marked),
        e.message().trim_end()
    )
}

fn resolve(
    raw: RawScenario,
    loc: &Locator,
    base: &Path,
    o: &Overrides,
    files: &BTreeMap<String, String>,
) -> Result<Scenario, ScenarioError> {
    use std::ops::Bound::{Excluded, Included};
    let seed_override = o.seed;
    let err = |m: String| Err(ScenarioError(m));
    let (days, duration) = match o.days {
        Some(d) => (Some(f64::from(d)), None),
        None => (raw.days, raw.duration),
    };
    let horizon_ms = match (days, duration) {
        (Some(_), Some(_)) => return err("give either 'days' or 'duration', not both".into()),
        (Some(d), None) => {
            let d = number("days", d, (Excluded(0.0), Included(3660.0)))?;
            (d * DAY as f64).round() as i64
        }
        (None, Some(Dur(ms))) if ms > 0 && ms <= 3660 * DAY => ms,
        (None, Some(_)) => {
            return err("key 'duration': must be positive and at most 3660 days".into())
        }
        (None, None) => DAY,
    };
    let interval_ms = raw.interval.map(|d| d.0).unwrap_or(MINUTE);
    if interval_ms < SECOND {
        return err("key 'interval': must be at least 1s".into());
    }
    if interval_ms > horizon_ms {
        return err(format!(
            "key 'interval': {} is longer than the run ({}): no controller round would follow the first",
            human_duration((interval_ms / SECOND) as u64),
            human_duration((horizon_ms / SECOND) as u64)
        ));
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
    // Every query takes some time: within nothing, none would be served.
    if clients.served_within_ms < SECOND {
        return err(format!(
            "key 'clients.served_within' (or --served-within): must be at least 1s, got {}ms",
            clients.served_within_ms
        ));
    }
    let history_ms = o.history_ms.or(raw.history.map(|d| d.0)).unwrap_or(0);
    if let Err(e) = check_history(history_ms) {
        return err(format!("key 'history': {e}"));
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
    let mut estimate = workload::Estimate::default();
    let mut notes = Vec::new();
    let inputs: Vec<std::path::PathBuf> = raw
        .clusters
        .iter()
        .filter_map(|rc| rc.workload.trace_csv())
        .filter(|file| !files.contains_key(*file))
        .map(|file| base.join(file))
        .collect();
    // A last partial interval has a round of its own.
    let rounds = (horizon_ms.max(0) as u64).div_ceil(interval_ms.max(1) as u64);
    let mut cluster_count: u64 = 0;
    for (ci, rc) in raw.clusters.iter().enumerate() {
        let here = format!("clusters[{ci}] '{}'{}", rc.name, loc.cluster(ci));
        cluster_count += u64::from(rc.count);
        within_rounds(cluster_count, rounds)
            .map_err(|e| ScenarioError(format!("{here}: {}", e.0)))?;
        let expanded = expand(rc, ci, loc, &sizes, &cx, &mut rng, &mut estimate)
            .map_err(|e| ScenarioError(format!("{here}: {}", e.0)))?;
        let reconfigures = rc
            .reconfigure
            .iter()
            .enumerate()
            .filter(|(_, r)| !workload::within_run(r.at.0, horizon_ms))
            .map(|(i, r)| (format!("reconfigure[{i}]"), r.at.0));
        let spikes = workload::spikes_after_the_end(&rc.workload, cx.start, horizon_ms);
        for (key, at) in reconfigures.chain(spikes) {
            notes.push(format!(
                "{here}: {key} at {} is at or after the end of the run ({}): it has no effect",
                human_duration((at / SECOND) as u64),
                human_duration((horizon_ms / SECOND) as u64)
            ));
        }
        // No size holds its workload: every replica OOMs, and the
        // always-on baseline (the cheapest size that holds the peak) is
        // priced at the largest, which does not either. Said once for the
        // entry, not per cluster of a `count`.
        let largest = super::oracle::most_memory(&sizes);
        let peak = expanded
            .iter()
            .map(|spec| spec.workload.need.max_over(horizon_ms))
            .fold(0.0, f64::max);
        if let Some(largest) = largest.filter(|l| peak > l.memory_bytes) {
            let gib = |b: f64| b / (1u64 << 30) as f64;
            notes.push(format!(
                "{here}: its workload needs up to {:.1} GiB, more than any size holds (the \
                 largest, {}, has {:.1} GiB): its replicas are OOM-killed, and always-on is \
                 priced at {}, which cannot serve it either",
                gib(peak),
                largest.name,
                gib(largest.memory_bytes),
                largest.name
            ));
        }
        for mut spec in expanded {
            if spec.name.trim().is_empty() {
                return err(format!("{here}: key 'name': must not be empty"));
            }
            if !names.insert(spec.name.clone()) {
                return err(format!("{here}: duplicate cluster name '{}'", spec.name));
            }
            // A limit lowered below what a cluster runs is a real state
            // (a backtest of such a region failed whole): Materialize keeps
            // the replicas and refuses more, as the simulated one does.
            let limit = materialize.max_replicas_per_cluster;
            if spec.initial_replicas.len() > limit as usize {
                notes.push(format!(
                    "{here}: key 'initial_replicas': {} replicas, over max_replicas_per_cluster \
                     ({limit}): Materialize keeps them and refuses more, so none is created \
                     until some go",
                    spec.initial_replicas.len()
                ));
            }
            spec.id = ClusterId(format!("u{}", clusters.len() + 1));
            clusters.push(spec);
        }
    }
    if let Some(exec) = &controller.exec_cluster {
        if !clusters.iter().any(|c| c.name == *exec) {
            let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
            return err(format!(
                "key 'controller.exec_cluster': no cluster is named '{exec}' (the scenario has {})",
                names.join(", ")
            ));
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
        estimate,
        notes,
        inputs,
    })
}

fn statement_log_of(raw: &RawScenario) -> Result<StatementLog, ScenarioError> {
    let s = &raw.statement_log;
    let sample_rate = number(
        "statement_log.sample_rate",
        s.sample_rate.unwrap_or(0.99),
        0.0..=1.0,
    )?;
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
    let failure_rate = number(
        "controller.failure_rate",
        c.failure_rate.unwrap_or(0.005),
        0.0..1.0,
    )?;
    Ok(Controller {
        run_time_ms,
        tick_jitter_ms,
        failure_rate,
        exec_cluster: c.exec_cluster.clone(),
    })
}

fn clients_of(c: &RawClients) -> Result<Clients, ScenarioError> {
    let backoff_multiplier = number(
        "clients.backoff_multiplier",
        c.backoff_multiplier.unwrap_or(2.0),
        1.0..=10.0,
    )?;
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

/// The statement history before the start a scenario may ask for (the
/// `history` key, `simulate --history`): up to 120 days.
pub fn check_history(ms: i64) -> Result<(), String> {
    if (0..=120 * DAY).contains(&ms) {
        Ok(())
    } else {
        Err("at most 120 days".into())
    }
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
    use std::ops::Bound::{Excluded, Included};
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let here = |e: ScenarioError| ScenarioError(format!("sizes[{i}] '{}': {}", s.name, e.0));
        if s.name.is_empty() {
            return Err(here(ScenarioError("key 'name': must not be empty".into())));
        }
        let credits_per_hour = number(
            "credits_per_hour",
            s.credits_per_hour,
            0.0..=MAX_CREDITS_PER_HOUR,
        )
        .map_err(here)?;
        let positive = |key, v, max| number(key, v, (Excluded(0.0), Included(max))).map_err(here);
        let memory_gib = positive("memory_gib", s.memory_gib, MAX_MEMORY_GIB)?;
        let cpu_cores = positive("cpu_cores", s.cpu_cores, MAX_CPU_CORES)?;
        if list[..i].iter().any(|o| o.name == s.name) {
            return Err(here(ScenarioError(
                "key 'name': duplicate size name".into(),
            )));
        }
        out.push(ReplicaSize {
            name: Size(s.name.clone()),
            credits_per_hour,
            memory_bytes: memory_gib * GIB,
            cpu_cores,
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
            unreadable: None,
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
    let effect: Vec<InEffect> = rows
        .iter()
        .map(|row| InEffect {
            row,
            older: 0,
            tied: false,
        })
        .collect();
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
    // Refused, not "ignored" as a live run's warning says: a typo would
    // change what is replayed.
    Err((at, f.as_refusal()))
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
        // Two sets of rows at one time is a mistake no order of
        // application would make right. (One after the end is allowed: a
        // scenario shortened by its `days` keeps its later reconfigures.)
        let at = r.at.0;
        let here = || format!("reconfigure[{pi}]: key 'at'");
        if at <= 0 {
            return Err(ScenarioError(format!(
                "{}: must be after the start (the initial strategies are the cluster's `strategies`)",
                here()
            )));
        }
        if rc.reconfigure[..pi].iter().any(|o| o.at.0 == at) {
            return Err(ScenarioError(format!(
                "{}: another reconfigure is at {} too",
                here(),
                human_duration((at / SECOND) as u64)
            )));
        }
        phases.push((at, r.strategies.clone(), Some(pi)));
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

/// The most queries a run may draw (the estimate, over every cluster). Each
/// is kept until the report, about 100 bytes with the oracle's arrays
/// (measured: 20 million on one cluster peak at 2.0 GiB, 2.5 GiB when they
/// all wait), so this keeps a run under about 2 GiB. fleet-100.toml draws
/// about 6 million.
pub const MAX_QUERIES: f64 = 16e6;
/// The most demand occurrences (a window's repetitions, spikes, of the run
/// and the history): a few hundred bytes each, drawn before the run.
pub const MAX_OCCURRENCES: f64 = 1e6;

/// The most clusters × controller rounds a run may take: each round's
/// figures are kept per cluster until the report (measured: about 0.6
/// bytes each, 3.1 GB for 10 000 clusters over a year at a minute), so
/// this keeps a run under about 2 GiB. A scenario within every other
/// bound, with no demand at all, took all of a machine's memory (an
/// outside check). fleet-100.toml takes 4.3 million.
pub const MAX_CLUSTER_ROUNDS: u64 = 3_000_000_000;

/// Refuses a run of `clusters` clusters over `rounds` controller rounds
/// that would not fit in memory ([`MAX_CLUSTER_ROUNDS`]), before any of it
/// is made.
fn within_rounds(clusters: u64, rounds: u64) -> Result<(), ScenarioError> {
    let taken = clusters.saturating_mul(rounds);
    if taken <= MAX_CLUSTER_ROUNDS {
        return Ok(());
    }
    Err(ScenarioError(format!(
        "too long a run for this many clusters: {clusters} cluster(s) (this entry and those \
         before it) over {rounds} controller rounds (the run's length, 'days' or --days, over \
         'interval') make {taken} cluster-rounds, more than the {MAX_CLUSTER_ROUNDS} a run can \
         hold in memory; shorten the run, lower the clusters' 'count', or raise 'interval'"
    )))
}

/// Refuses a scenario whose demand would not fit in memory, before any of
/// it is drawn (a day at 1000 queries/s is 86 million queries). `e` sums
/// the entries up to the one being resolved.
fn within_bounds(e: &workload::Estimate) -> Result<(), ScenarioError> {
    let million = |x: f64| format!("{:.1} million", x / 1e6);
    if e.peak_queries > MAX_QUERIES {
        return Err(ScenarioError(format!(
            "too much demand to simulate: up to an estimated {} queries (this entry and \
             those before it, a fleet's 'jitter.qps' at its bound), more than the {} a run \
             can hold in memory; lower 'days', the windows' and spikes' 'qps', the clusters' \
             'count' or 'jitter.qps', or the trace",
            million(e.peak_queries),
            million(MAX_QUERIES)
        )));
    }
    if e.occurrences > MAX_OCCURRENCES {
        return Err(ScenarioError(format!(
            "too much demand to simulate: an estimated {} demand occurrences (this entry \
             and those before it; each repetition of a window and each spike, of the run and \
             the history), more than {}; lower 'days', 'history' or the clusters' 'count', \
             raise the windows' 'every', or lower 'random_spikes.per_week'",
            million(e.occurrences),
            million(MAX_OCCURRENCES)
        )));
    }
    Ok(())
}

/// One `[[clusters]]` entry → `count` clusters, each with its own workload.
fn expand(
    rc: &RawCluster,
    ci: usize,
    loc: &Locator,
    sizes: &SizeCatalog,
    cx: &workload::Context,
    rng: &mut ChaCha8Rng,
    total: &mut workload::Estimate,
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
    let schedule = match rc.schedule.as_deref() {
        None | Some("manual") | Some("on-refresh") => {
            crate::model::Schedule::from_catalog(rc.schedule.clone())
        }
        Some(other) => {
            return Err(ScenarioError(format!(
                "key 'schedule': '{other}' is not manual or on-refresh"
            )))
        }
    };
    let shared = workload::shared(&rc.workload, cx)?;
    let mut each = workload::estimate(&rc.workload, &shared, cx);
    // Jitter applies to fleets only (`resolve`): bounded, not expected.
    each.peak_queries = if rc.count > 1 {
        each.queries * rc.jitter.peak_qps_factor(rc.count)
    } else {
        each.queries
    };
    total.add(&each, rc.count);
    within_bounds(total)?;
    let width = rc.count.to_string().len();
    let mut out = Vec::new();
    for i in 1..=rc.count {
        // One cluster keeps its name as written: `{i}` is a fleet's index
        // (a live cluster `simulate --from-history` writes may be named
        // `etl_{i}`; it was replayed as `etl_1`).
        let name = if rc.count == 1 {
            rc.name.clone()
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
            schedule: schedule.clone(),
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
    // A spreadsheet's export starts with a byte-order mark: its first line
    // was taken for a header, and its statement dropped.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
