//! Prometheus metrics of `apply` runs: what ran, how it ended, what it did,
//! and what the fleet looks like (replicas, credits, conditions). Fed from
//! the values a run already produced (snapshot, plan, apply report); it reads
//! no database and decides nothing. Rendered as OpenMetrics text for
//! `/metrics` (watch mode) or as Prometheus text for node-exporter's textfile
//! collector (`--metrics-file`, cron), written atomically.

// The shell: this module reads the clock, the environment, files and the
// database on purpose (clippy.toml bans that in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub mod http;

use crate::exec::{ActionStatus, ApplyReport};
use crate::model::Snapshot;
use crate::plan::{ActionKind, Plan, PlanState};

/// How a run ended (`clusterctl_runs_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// Everything planned was done (or nothing was needed).
    Success,
    /// Completed, but clusters were skipped or actions failed.
    Problems,
    /// Another controller held the lease: a normal, idle run.
    LeaseBusy,
    /// The run could not do its job (connection, permissions, ...).
    Error,
}

impl RunOutcome {
    pub const ALL: [RunOutcome; 4] = [
        RunOutcome::Success,
        RunOutcome::Problems,
        RunOutcome::LeaseBusy,
        RunOutcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Problems => "problems",
            RunOutcome::LeaseBusy => "lease_busy",
            RunOutcome::Error => "error",
        }
    }
}

/// Conditions a managed cluster can be in after planning: the plan's
/// states, named as `dry-run --output json` names them.
const CONDITIONS: [PlanState; 7] = [
    PlanState::Converged,
    PlanState::Waiting,
    PlanState::Changes,
    PlanState::Attention,
    PlanState::Unmanageable,
    PlanState::Invalid,
    PlanState::Paused,
];
/// Every kind, so the first failure of a managed cluster's resize is an
/// increase from 0 (its series appeared at 1, which `increase()` misses).
const ACTION_KINDS: [ActionKind; 4] = [
    ActionKind::CreateReplica,
    ActionKind::DropReplica,
    ActionKind::SetReplicationFactor,
    ActionKind::SetSize,
];

/// Every outcome an action is counted under ([`action_outcome`]), each
/// series from 0 and carried over by the textfile merge: `unknown` too (a
/// statement with no answer in time; a later run settles it from the
/// catalog), which the merge dropped, so `ClusterctlActionsFailing` never
/// saw a DDL that timed out (an outside check).
const ACTION_OUTCOMES: [&str; 4] = ["executed", "failed", "skipped", "unknown"];

/// The `outcome` label of an action's result, one of [`ACTION_OUTCOMES`].
fn action_outcome(status: &ActionStatus) -> &'static str {
    match status {
        ActionStatus::Executed => ACTION_OUTCOMES[0],
        ActionStatus::Failed { .. } => ACTION_OUTCOMES[1],
        ActionStatus::Skipped { .. } => ACTION_OUTCOMES[2],
        ActionStatus::Unknown { .. } => ACTION_OUTCOMES[3],
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    kind: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
    cluster_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    condition: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NoLabels {}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric the binary exports, in one registry.
pub struct Metrics {
    registry: Registry,
    runs: Family<OutcomeLabels, Counter>,
    run_duration: Histogram,
    actions: Family<ActionLabels, Counter>,
    replicas: Family<ClusterLabels, Gauge>,
    credits: Family<ClusterLabels, FloatGauge>,
    clusters: Family<ConditionLabels, Gauge>,
    crash_looping: Family<ClusterLabels, Gauge>,
    resize_rolled_back: Family<ClusterLabels, Gauge>,
    signal_known: Family<NoLabels, Gauge>,
    lease_held: Gauge,
    last_success: FloatGauge,
    /// Absent while no activity at all is in the lookback (unknown age).
    signal_age: Family<NoLabels, FloatGauge>,
    /// (name, type) of every registered metric.
    registered: Vec<(&'static str, &'static str)>,
    /// Updates and encodings do not interleave: a scrape never sees half a run.
    lock: Mutex<()>,
    /// The run-duration histogram's samples of a previous textfile
    /// (`_bucket{le=…}`, `_sum`, `_count`), added to ours when the textfile
    /// is written: the client library's histogram cannot be given counts.
    carried: Mutex<BTreeMap<String, f64>>,
}

/// The gauges that describe the fleet, which only a run under the lease
/// sets ([`Metrics::observe_run`]).
const FLEET_GAUGES: [&str; 7] = [
    "clusterctl_cluster_replicas",
    "clusterctl_cluster_credits_per_hour",
    "clusterctl_clusters",
    "clusterctl_cluster_crash_looping",
    "clusterctl_cluster_resize_rolled_back",
    "clusterctl_activity_signal_known",
    "clusterctl_signal_age_seconds",
];

/// How long a run waits for another's lock on the textfile before it
/// gives its counts up (it waited for ever, and a signal could not stop
/// it: an outside check).
const TEXTFILE_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Registers `metric` and remembers its name and type (a family without
/// samples is not encoded at all, so the registry cannot be asked).
fn register(
    r: &mut Registry,
    names: &mut Vec<(&'static str, &'static str)>,
    (name, ty): (&'static str, &'static str),
    help: &str,
    metric: impl prometheus_client::registry::Metric,
) {
    names.push((name, ty));
    r.register(name, help, metric);
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let runs = Family::<OutcomeLabels, Counter>::default();
        let run_duration = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        let actions = Family::<ActionLabels, Counter>::default();
        let replicas = Family::<ClusterLabels, Gauge>::default();
        let credits = Family::<ClusterLabels, FloatGauge>::default();
        let clusters = Family::<ConditionLabels, Gauge>::default();
        let crash_looping = Family::<ClusterLabels, Gauge>::default();
        let resize_rolled_back = Family::<ClusterLabels, Gauge>::default();
        let signal_known = Family::<NoLabels, Gauge>::default();
        let lease_held = Gauge::default();
        let last_success = FloatGauge::default();
        let signal_age = Family::<NoLabels, FloatGauge>::default();
        let build_info = Family::<VersionLabels, Gauge>::default();
        build_info
            .get_or_create(&VersionLabels {
                version: crate::VERSION,
            })
            .set(1);
        for o in RunOutcome::ALL {
            let _ = runs.get_or_create(&OutcomeLabels {
                outcome: o.as_str(),
            });
        }
        for kind in ACTION_KINDS {
            for outcome in ACTION_OUTCOMES {
                let _ = actions.get_or_create(&ActionLabels {
                    kind: kind.name().to_string(),
                    outcome,
                });
            }
        }
        let r = &mut registry;
        let mut names = Vec::new();
        register(
            r,
            &mut names,
            ("clusterctl_runs", "counter"),
            "apply runs, by outcome (success, problems, lease_busy, error)",
            runs.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_run_duration_seconds", "histogram"),
            "wall time of apply runs",
            run_duration.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_actions", "counter"),
            "replica DDL actions, by kind and outcome (executed, failed, skipped, unknown: no answer in time, settled by a later run)",
            actions.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_cluster_replicas", "gauge"),
            "replicas of each cluster with strategies, as of the last run's snapshot",
            replicas.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_cluster_credits_per_hour", "gauge"),
            "credits per hour of each cluster's replicas, as of the last run's snapshot",
            credits.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_clusters", "gauge"),
            "clusters with strategies, by state of the last plan (converged, waiting, changes, attention, unmanageable, invalid, paused)",
            clusters.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_cluster_crash_looping", "gauge"),
            "1 when a replica of the cluster is crash looping: offline twice or more in the crash window and not recovered since (last run's snapshot)",
            crash_looping.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_cluster_resize_rolled_back", "gauge"),
            "1 when the cluster's last resize did not take (Materialize rolled it back at its deadline) and the strategies want that size again",
            resize_rolled_back.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_activity_signal_known", "gauge"),
            "1 when activity is known (the statement log is readable, sampled at 10 % or more, and had rows in the lookback) or no idle_suspend row relies on it, 0 when idle_suspend cannot tell",
            signal_known.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_lease_held", "gauge"),
            "1 when the last run held the controller lease (this process acted), 0 otherwise",
            lease_held.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_last_success_timestamp_seconds", "gauge"),
            "Unix time of the end of the last run that completed without error",
            last_success.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_signal_age_seconds", "gauge"),
            "seconds between the last snapshot and the latest statement seen on any cluster (absent when the statement log had none)",
            signal_age.clone(),
        );
        register(
            r,
            &mut names,
            ("clusterctl_build_info", "gauge"),
            "always 1; the version label says which clusterctl runs",
            build_info,
        );
        Metrics {
            registry,
            runs,
            run_duration,
            actions,
            replicas,
            credits,
            clusters,
            crash_looping,
            resize_rolled_back,
            signal_known,
            lease_held,
            last_success,
            signal_age,
            registered: names,
            lock: Mutex::new(()),
            carried: Mutex::new(BTreeMap::new()),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one run: its outcome and duration, and, when it ran under the
    /// lease, what it did and what the fleet looked like.
    pub fn observe_run(
        &self,
        outcome: RunOutcome,
        elapsed: Duration,
        run: Option<(&Snapshot, &Plan, &ApplyReport)>,
        finished_at: DateTime<Utc>,
    ) {
        let _g = self.guard();
        self.runs
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
        self.run_duration.observe(elapsed.as_secs_f64());
        if outcome != RunOutcome::Error {
            self.last_success
                .set(finished_at.timestamp_millis() as f64 / 1000.0);
        }
        match run {
            Some((snapshot, plan, report)) => {
                self.lease_held.set(1);
                self.observe_applied(snapshot, plan, report);
            }
            None => {
                // Only the lease holder describes the fleet: a standby (or
                // a failed run) exports no per-cluster gauges, not stale ones
                // (a shared textfile keeps the holder's: `add_to_textfile`).
                self.lease_held.set(0);
                self.clear_fleet();
            }
        }
    }

    fn clear_fleet(&self) {
        self.replicas.clear();
        self.credits.clear();
        self.clusters.clear();
        self.crash_looping.clear();
        self.resize_rolled_back.clear();
        self.signal_age.clear();
        self.signal_known.clear();
    }

    fn observe_applied(&self, snapshot: &Snapshot, plan: &Plan, report: &ApplyReport) {
        for r in &report.results {
            let outcome = action_outcome(&r.status);
            let kind = r.action.kind.name().to_string();
            self.actions
                .get_or_create(&ActionLabels { kind, outcome })
                .inc();
        }
        // Clusters come and go: start from nothing every run.
        self.clear_fleet();
        let mut by_condition = [0i64; CONDITIONS.len()];
        for cp in &plan.clusters {
            if let Some(i) = CONDITIONS.iter().position(|c| *c == cp.state()) {
                by_condition[i] += 1;
            }
            let Some(cluster) = snapshot.cluster(&cp.cluster_id) else {
                continue;
            };
            let labels = ClusterLabels {
                cluster: cluster.name.clone(),
                cluster_id: cluster.id.0.clone(),
            };
            let credits: f64 = cluster
                .replicas
                .iter()
                .filter_map(|r| r.size.as_ref())
                .map(|s| snapshot.sizes.credits(s))
                .fold(0.0, |acc, c| acc + c);
            self.replicas
                .get_or_create(&labels)
                .set(cluster.replicas.len() as i64);
            // Made-up credits (`--replica-sizes`) are no price: no sample.
            if snapshot.sizes.credits_known() {
                self.credits.get_or_create(&labels).set(credits);
            }
            let looping = cluster
                .replicas
                .iter()
                .any(|r| r.crash_looping(snapshot.now));
            self.crash_looping
                .get_or_create(&labels)
                .set(i64::from(looping));
            self.resize_rolled_back
                .get_or_create(&labels)
                .set(i64::from(cp.rolled_back.is_some()));
        }
        for (i, condition) in CONDITIONS.iter().enumerate() {
            self.clusters
                .get_or_create(&ConditionLabels {
                    condition: condition.as_str(),
                })
                .set(by_condition[i]);
        }
        // By the rule every command judges it by (a log with rows but
        // sampled too thinly, or unreadable, is unknown too: it said 1),
        // where an idle_suspend row relies on it: without one nothing
        // needs it, and the alert on 0 fired for ever where a release logs
        // at 0 % by default (an outside check).
        let relied_on = crate::plan::relies_on_activity(&plan.clusters);
        self.signal_known.get_or_create(&NoLabels {}).set(i64::from(
            !relied_on || crate::plan::rules::activity_unknown(snapshot).is_none(),
        ));
        let latest = snapshot
            .clusters
            .iter()
            .filter_map(|c| c.activity.last_begin)
            .max();
        // Only where the signal is relied on, as the gauge above: a night
        // without statements in a region with no idle_suspend row fired
        // the shipped alert's age clause (an outside check).
        if let Some(t) = latest.filter(|_| relied_on) {
            let age = (snapshot.now - t).num_milliseconds().max(0) as f64 / 1000.0;
            self.signal_age.get_or_create(&NoLabels {}).set(age);
        }
    }

    /// OpenMetrics text (`/metrics`).
    pub fn openmetrics(&self) -> String {
        let _g = self.guard();
        let mut s = String::new();
        if prometheus_client::encoding::text::encode(&mut s, &self.registry).is_err() {
            s = "# EOF\n".into();
        }
        s
    }

    /// Prometheus text format 0.0.4, what node-exporter's textfile
    /// collector parses: counters are typed by their `_total` sample name,
    /// and there is no `# EOF` or `# UNIT`.
    pub fn prometheus_text(&self) -> String {
        let om = self.openmetrics();
        let counters: BTreeSet<&str> = om
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.strip_suffix(" counter"))
            .collect();
        let mut out = String::with_capacity(om.len());
        for line in om.lines() {
            if line == "# EOF" || line.starts_with("# UNIT ") {
                continue;
            }
            let renamed = ["# TYPE ", "# HELP "].iter().find_map(|p| {
                let rest = line.strip_prefix(p)?;
                let (name, tail) = rest.split_once(' ')?;
                counters
                    .contains(name)
                    .then(|| format!("{p}{name}_total {tail}"))
            });
            let _ = writeln!(out, "{}", renamed.as_deref().unwrap_or(line));
        }
        out
    }

    /// Every sample name the binary exports (counters with `_total`,
    /// histograms with `_bucket`, `_sum`, `_count`), for checking that
    /// dashboards and alert rules refer to real metrics.
    pub fn sample_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (name, ty) in &self.registered {
            match *ty {
                "counter" => {
                    names.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_string());
                }
            }
        }
        names
    }

    /// Carries the cumulative values of a previous textfile over (a cron
    /// job is a new process each run): run and action counters, and the
    /// last success time. Unknown or malformed lines are ignored.
    pub fn carry_over(&self, previous: &str) {
        let _g = self.guard();
        let not_after = (Utc::now() + chrono::Duration::seconds(crate::model::CLOCK_SLACK_S))
            .timestamp() as f64;
        for line in previous.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            if !value.is_finite() || value < 0.0 {
                continue;
            }
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (series, ""),
            };
            let label = |key: &str| {
                labels.split(',').find_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
                })
            };
            match name {
                "clusterctl_runs_total" => {
                    let known = label("outcome")
                        .and_then(|o| RunOutcome::ALL.into_iter().find(|r| r.as_str() == o));
                    if let Some(o) = known {
                        self.runs
                            .get_or_create(&OutcomeLabels {
                                outcome: o.as_str(),
                            })
                            .inc_by(value as u64);
                    }
                }
                "clusterctl_actions_total" => {
                    // Any kind the binary may name: snake_case words.
                    let kind = label("kind").filter(|k| {
                        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    });
                    let outcome = label("outcome")
                        .and_then(|o| ACTION_OUTCOMES.into_iter().find(|x| *x == o));
                    if let (Some(kind), Some(outcome)) = (kind, outcome) {
                        self.actions
                            .get_or_create(&ActionLabels { kind, outcome })
                            .inc_by(value as u64);
                    }
                }
                // The later of the file's and ours (a run that already
                // succeeded adds itself to the file under the lock), but
                // never one ahead of this host's clock: a run on a host a
                // day fast kept it a day ahead for every later run, and
                // `ClusterctlNotRunning` silent however they failed (an
                // outside check).
                "clusterctl_last_success_timestamp_seconds"
                    if value > self.last_success.get() && value <= not_after =>
                {
                    self.last_success.set(value);
                }
                "clusterctl_run_duration_seconds_bucket"
                | "clusterctl_run_duration_seconds_sum"
                | "clusterctl_run_duration_seconds_count" => {
                    if let Ok(mut carried) = self.carried.lock() {
                        *carried.entry(series.trim().to_string()).or_insert(0.0) += value;
                    }
                }
                _ => {}
            }
        }
    }

    /// Adds these counters (one run's) to those of the textfile. Runs may
    /// overlap (cron, a `--watch` process beside cron, two watchers): each
    /// holds an exclusive lock on a sidecar file (`.NAME.lock`, beside it;
    /// the collector reads only `*.prom`) from reading the previous counts
    /// until its rename, so no run writes over counts it has not read.
    /// Gauges are this run's.
    ///
    /// The lock is waited for [`TEXTFILE_LOCK_WAIT`] at most. A run that
    /// did not describe the fleet (it found the lease held, or failed)
    /// keeps the previous file's fleet gauges: a cron run beside a
    /// watcher erased the watcher's, and the alerts on them started over.
    pub fn add_to_textfile(&self, path: &Path) -> Result<(), String> {
        self.add_to_textfile_within(path, TEXTFILE_LOCK_WAIT)
    }

    /// [`Metrics::add_to_textfile`], waiting `wait` at most for the lock.
    fn add_to_textfile_within(&self, path: &Path, wait: Duration) -> Result<(), String> {
        check_textfile(path)?;
        let (dir, file_name) = textfile_parts(path)?;
        let lock_path = dir.join(format!(".{file_name}.lock"));
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
        let mut lock = fd_lock::RwLock::new(lock_file);
        let deadline = std::time::Instant::now() + wait;
        let _held = loop {
            match lock.try_write() {
                Ok(held) => break held,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= deadline {
                        return Err(format!(
                            "{} is held by another process for over {}: this run's counts \
                             are not written",
                            lock_path.display(),
                            crate::model::human_duration(wait.as_secs())
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(format!("locking {}: {e}", lock_path.display())),
            }
        };
        let previous = read_previous(path);
        if let Some(previous) = &previous {
            self.carry_over(previous);
        }
        // The run described the fleet when it held the lease (the gauge
        // says so): else the last holder's description stays.
        let kept = match self.lease_held.get() {
            1 => String::new(),
            _ => fleet_of(previous.as_deref().unwrap_or_default()),
        };
        self.write_textfile(path, &kept)
    }

    /// `text` with the carried histogram samples added to its own (a
    /// bucket the previous file had and this binary does not is dropped).
    fn with_carried(&self, text: &str) -> String {
        let Ok(carried) = self.carried.lock() else {
            return text.to_string();
        };
        if carried.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let added = line.rsplit_once(' ').and_then(|(series, value)| {
                let before = carried.get(series.trim())?;
                let own: f64 = value.trim().parse().ok()?;
                let sum = own + before;
                Some(if value.contains('.') || sum.fract() != 0.0 {
                    format!("{series} {sum}")
                } else {
                    format!("{series} {}", sum as u64)
                })
            });
            let _ = writeln!(out, "{}", added.as_deref().unwrap_or(line));
        }
        out
    }

    /// Writes the textfile atomically, our metrics and `kept` (lines of
    /// the previous file's kept as they were): a temporary file in the same
    /// directory, then a rename, so the collector never reads half a file.
    fn write_textfile(&self, path: &Path, kept: &str) -> Result<(), String> {
        let text = self.with_carried(&self.prometheus_text()) + kept;
        crate::files::write_atomically(path, text.as_bytes())
            .map_err(|e| format!("writing metrics to {}: {e}", path.display()))
    }
}

/// The fleet gauges of a previous textfile ([`FLEET_GAUGES`]), each
/// family's lines (`# HELP`, `# TYPE` and samples) together, as written.
fn fleet_of(previous: &str) -> String {
    let mut out = String::new();
    for family in FLEET_GAUGES {
        let of_family = |name: &str| name == family;
        for line in previous.lines() {
            let name = match line
                .strip_prefix("# HELP ")
                .or(line.strip_prefix("# TYPE "))
            {
                Some(rest) => rest.split(' ').next().unwrap_or_default(),
                None if line.starts_with('#') => continue,
                None => line.split(['{', ' ']).next().unwrap_or_default(),
            };
            if of_family(name) {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Whether `--metrics-file` names a file it may replace (a temporary file
/// is renamed over it): none yet, an empty one, or a textfile clusterctl
/// wrote; never another file (a mistyped `--metrics-file plan.json`
/// replaced it, a log line aside: an outside check). Checked before a
/// command connects, and again at each write (a watcher's file may change
/// meanwhile).
pub fn check_textfile(path: &Path) -> Result<(), String> {
    let refused = |why: String| format!("--metrics-file {}: {why}", path.display());
    crate::files::check_writable(path, true).map_err(refused)?;
    previous_counts(path).map(|_| ()).map_err(|why| {
        refused(format!(
            "{why}: not replaced (name the textfile clusterctl writes, or remove this one)"
        ))
    })
}

/// The directory and file name of a `--metrics-file`.
fn textfile_parts(path: &Path) -> Result<(&Path, String), String> {
    crate::files::file_parts(path)
        .map_err(|why| format!("--metrics-file {}: {why}", path.display()))
}

/// A textfile is a few kilobytes; anything past this is not ours.
const MAX_TEXTFILE_BYTES: u64 = 16 << 20;

/// The previous textfile, if there is one to carry over (at most
/// [`MAX_TEXTFILE_BYTES`], so `--metrics-file /dev/zero` cannot hang a run).
fn read_previous(path: &Path) -> Option<String> {
    match previous_counts(path) {
        Ok(text) => text,
        Err(why) => {
            tracing::warn!(
                "--metrics-file {}: {why}; its counts are not carried over: this run's counts \
                 replace them",
                path.display()
            );
            None
        }
    }
}

/// The previous textfile's text: `None` when there is none yet; an error
/// saying why when one is there that is not ours to carry over.
fn previous_counts(path: &Path) -> Result<Option<String>, String> {
    use std::io::Read as _;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read ({e})")),
    };
    let mut bytes = Vec::new();
    file.take(MAX_TEXTFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read ({e})"))?;
    if bytes.len() as u64 > MAX_TEXTFILE_BYTES {
        return Err(format!(
            "larger than {} MiB, not a metrics textfile",
            MAX_TEXTFILE_BYTES >> 20
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| "not text (not UTF-8), not a metrics textfile".to_string())?;
    let ours = text
        .lines()
        .any(|l| l.starts_with("clusterctl_") && l.rsplit_once(' ').is_some());
    if !ours && !text.trim().is_empty() {
        return Err("holds no clusterctl_ series, not a textfile clusterctl wrote".into());
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textfile_types_counters_by_their_sample_name() {
        let m = Metrics::new();
        m.observe_run(
            RunOutcome::Success,
            Duration::from_millis(120),
            None,
            Utc::now(),
        );
        let text = m.prometheus_text();
        assert!(
            text.contains("# TYPE clusterctl_runs_total counter"),
            "{text}"
        );
        assert!(
            text.contains("clusterctl_runs_total{outcome=\"success\"} 1"),
            "{text}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        assert!(m.openmetrics().ends_with("# EOF\n"));
    }

    #[test]
    fn a_previous_textfile_that_is_not_ours_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clusterctl.prom");
        assert_eq!(previous_counts(&path), Ok(None), "none yet");
        std::fs::write(&path, "").unwrap();
        assert_eq!(previous_counts(&path), Ok(Some(String::new())), "empty");
        std::fs::write(&path, "clusterctl_runs_total{outcome=\"success\"} 3\n").unwrap();
        assert!(previous_counts(&path).is_ok_and(|t| t.is_some()));
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(previous_counts(&path).is_err_and(|e| e.contains("UTF-8")));
        std::fs::write(&path, "node_load1 0.5\n").unwrap();
        assert!(previous_counts(&path).is_err_and(|e| e.contains("no clusterctl_ series")));
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(previous_counts(&path).is_err_and(|e| e.contains("cannot be read")));
    }

    /// A `--metrics-file` naming a file clusterctl did not write is never
    /// replaced (a mistyped path replaced a 212 KB README with metrics, a
    /// log line aside: an outside check); none, an empty one or ours is.
    #[test]
    fn a_file_that_is_not_a_textfile_of_ours_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        assert_eq!(check_textfile(&path), Ok(()), "none yet");
        std::fs::write(&path, "{\"plan\": 1}\n").unwrap();
        let refused = check_textfile(&path).expect_err("not ours");
        assert!(refused.contains("not replaced"), "{refused}");
        let m = Metrics::new();
        m.observe_run(
            RunOutcome::Success,
            Duration::from_secs(1),
            None,
            Utc::now(),
        );
        assert!(m.add_to_textfile(&path).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"plan\": 1}\n");
        std::fs::write(&path, "").unwrap();
        assert!(m.add_to_textfile(&path).is_ok(), "an empty one is");
        assert!(m.add_to_textfile(&path).is_ok(), "and ours then");
    }

    #[test]
    fn carry_over_accumulates_counters_and_keeps_last_success() {
        let first = Metrics::new();
        first.observe_run(
            RunOutcome::Success,
            Duration::from_secs(1),
            None,
            Utc::now(),
        );
        first.observe_run(RunOutcome::Error, Duration::from_secs(1), None, Utc::now());
        let second = Metrics::new();
        second.carry_over(&first.prometheus_text());
        second.observe_run(RunOutcome::Error, Duration::from_secs(1), None, Utc::now());
        let text = second.prometheus_text();
        assert!(
            text.contains("clusterctl_runs_total{outcome=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("clusterctl_runs_total{outcome=\"error\"} 2"),
            "{text}"
        );
        let last = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("clusterctl_last_success_timestamp_seconds "))
                .map(str::to_string)
        };
        assert_eq!(last(&text), last(&first.prometheus_text()));
        // Garbage is ignored, not an error.
        second.carry_over("clusterctl_runs_total{outcome=\"bogus\"} 7\nnot a metric\nx{ NaN");
        // A last success ahead of this host's clock (a run on a host a day
        // fast) is not kept: ours stands.
        let ahead = (Utc::now() + chrono::Duration::days(1)).timestamp();
        second.carry_over(&format!(
            "clusterctl_last_success_timestamp_seconds {ahead}"
        ));
        assert_eq!(
            last(&second.prometheus_text()),
            last(&first.prometheus_text())
        );
        let fast = (Utc::now() + chrono::Duration::seconds(30)).timestamp();
        second.carry_over(&format!("clusterctl_last_success_timestamp_seconds {fast}"));
        assert_ne!(
            last(&second.prometheus_text()),
            last(&first.prometheus_text()),
            "within a minute: kept"
        );
    }

    #[test]
    fn the_run_duration_histogram_adds_up_across_textfile_writes() {
        // Each cron run is a fresh process: its histogram held one run.
        let mut file = String::new();
        for secs in [1u64, 2, 400] {
            let run = Metrics::new();
            run.carry_over(&file);
            run.observe_run(
                RunOutcome::Success,
                Duration::from_secs(secs),
                None,
                Utc::now(),
            );
            file = run.with_carried(&run.prometheus_text());
        }
        let sample = |name: &str| -> f64 {
            file.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
                .unwrap_or(-1.0)
        };
        assert_eq!(
            sample("clusterctl_run_duration_seconds_count "),
            3.0,
            "{file}"
        );
        assert_eq!(
            sample("clusterctl_run_duration_seconds_sum "),
            403.0,
            "{file}"
        );
        assert_eq!(
            sample("clusterctl_run_duration_seconds_bucket{le=\"+Inf\"} "),
            3.0,
            "{file}"
        );
        assert!(
            file.contains("clusterctl_runs_total{outcome=\"success\"} 3"),
            "{file}"
        );
    }

    /// A successful run of `snap` that did nothing.
    fn observe_a_quiet_run(m: &Metrics, snap: &crate::model::Snapshot) {
        let plan = crate::plan::plan(snap, &crate::plan::PlanOptions::default());
        let report = ApplyReport {
            run_id: uuid::Uuid::nil(),
            results: vec![],
            changed_clusters: vec![],
            states_written: 0,
            interrupted: false,
        };
        m.observe_run(
            RunOutcome::Success,
            Duration::from_secs(1),
            Some((snap, &plan, &report)),
            Utc::now(),
        );
    }

    #[test]
    fn only_the_lease_holder_exports_per_cluster_gauges() {
        use crate::model::{ClusterId, Snapshot};
        let m = Metrics::new();
        observe_a_quiet_run(&m, &Snapshot::default());
        m.replicas
            .get_or_create(&ClusterLabels {
                cluster: "c".into(),
                cluster_id: ClusterId("u2".into()).0,
            })
            .set(2);
        let samples = |text: &str, name: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with(name))
                .map(str::to_string)
                .collect()
        };
        let text = m.prometheus_text();
        // No idle_suspend row relies on the (empty) log: known enough.
        let known = samples(&text, "clusterctl_activity_signal_known");
        assert!(
            known.len() == 1 && known[0].ends_with(" 1"),
            "{known:?}\n{text}"
        );
        assert_eq!(
            samples(&text, "clusterctl_cluster_replicas{").len(),
            1,
            "{text}"
        );
        m.observe_run(
            RunOutcome::LeaseBusy,
            Duration::from_secs(1),
            None,
            Utc::now(),
        );
        let text = m.prometheus_text();
        assert!(
            samples(&text, "clusterctl_cluster_replicas{").is_empty(),
            "{text}"
        );
        assert!(
            samples(&text, "clusterctl_activity_signal_known").is_empty(),
            "{text}"
        );
        assert!(text.contains("clusterctl_lease_held 0"), "{text}");
    }

    /// A shared textfile keeps the lease holder's fleet gauges when a run
    /// that did not hold the lease (or failed) writes it: a cron run beside
    /// a watcher erased them, and the alerts on them started over (an
    /// outside check). The next holder's run replaces them.
    #[test]
    fn a_run_without_the_lease_keeps_the_holders_fleet_gauges_in_the_textfile() {
        use crate::model::{ClusterId, Snapshot};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.prom");
        let replicas = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("clusterctl_cluster_replicas{"))
                .map(str::to_string)
                .collect()
        };
        let holder = Metrics::new();
        // What it keeps is the registry's gauges, by their names.
        for name in FLEET_GAUGES {
            assert!(holder.registered.contains(&(name, "gauge")), "{name}");
        }
        observe_a_quiet_run(&holder, &Snapshot::default());
        holder
            .replicas
            .get_or_create(&ClusterLabels {
                cluster: "c".into(),
                cluster_id: ClusterId("u2".into()).0,
            })
            .set(2);
        holder.add_to_textfile(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(replicas(&written).len(), 1, "{written}");
        for outcome in [RunOutcome::LeaseBusy, RunOutcome::Error] {
            let standby = Metrics::new();
            standby.observe_run(outcome, Duration::from_secs(1), None, Utc::now());
            standby.add_to_textfile(&path).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(replicas(&text), replicas(&written), "{outcome:?}: {text}");
            assert_eq!(
                text.matches("# TYPE clusterctl_cluster_replicas gauge")
                    .count(),
                1,
                "{text}"
            );
            assert!(text.contains("clusterctl_lease_held 0"), "{text}");
        }
        // The next holder describes the fleet as it is (none here).
        let next = Metrics::new();
        observe_a_quiet_run(&next, &Snapshot::default());
        next.add_to_textfile(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(replicas(&text).is_empty(), "{text}");
    }

    /// A lock held by another process is waited for a while, not for ever
    /// (a signal could not stop the wait: an outside check).
    #[test]
    fn a_held_textfile_lock_is_given_up_after_a_while() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc.prom");
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.path().join(".cc.prom.lock"))
            .unwrap();
        let mut other = fd_lock::RwLock::new(lock_file);
        let _held = other.write().unwrap();
        let m = Metrics::new();
        m.observe_run(
            RunOutcome::Success,
            Duration::from_secs(1),
            None,
            Utc::now(),
        );
        let started = std::time::Instant::now();
        let err = m
            .add_to_textfile_within(&path, Duration::from_secs(1))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_secs(1), "{err}");
        assert!(
            err.contains("is held by another process for over 1s"),
            "{err}"
        );
        assert!(!path.exists());
    }

    /// The activity signal is known by the rule every command uses: a log
    /// with rows but sampled below 10 % is unknown (it said 1 while
    /// `status` said unknown, so its alert never fired).
    #[test]
    fn a_thinly_sampled_log_is_an_unknown_activity_signal() {
        use crate::model::{Cluster, ClusterId, Snapshot, StrategyRow};
        let line_where = |series: &str, rate: f64, idle_suspend: bool| {
            let m = Metrics::new();
            let mut quiet = Cluster::empty(ClusterId("u2".into()), "c");
            quiet.activity.last_begin = Some(chrono::DateTime::UNIX_EPOCH);
            let mut snap = Snapshot {
                activity_log_has_rows: true,
                sizes: crate::model::SizeCatalog::cloud_defaults(),
                clusters: vec![quiet],
                strategies: vec![StrategyRow {
                    cluster_id: ClusterId("u2".into()),
                    strategy_type: if idle_suspend {
                        "idle_suspend"
                    } else {
                        "target_size"
                    }
                    .into(),
                    config: if idle_suspend {
                        serde_json::json!({"idle_after_s": 600})
                    } else {
                        serde_json::json!({"target_size": "25cc"})
                    },
                    updated_at: None,
                    unreadable: None,
                }],
                ..Snapshot::default()
            };
            snap.env.settings.statement_logging_max_sample_rate = Some(rate);
            observe_a_quiet_run(&m, &snap);
            m.prometheus_text()
                .lines()
                .find(|l| l.starts_with(series))
                .map(str::to_string)
        };
        let known_where = |rate: f64, idle_suspend: bool| {
            line_where("clusterctl_activity_signal_known", rate, idle_suspend)
        };
        let known = |rate: f64| known_where(rate, true);
        assert!(
            known(1.0).is_some_and(|l| l.ends_with(" 1")),
            "{:?}",
            known(1.0)
        );
        assert!(
            known(0.05).is_some_and(|l| l.ends_with(" 0")),
            "{:?}",
            known(0.05)
        );
        // No idle_suspend row relies on it: 1 (the alert on 0 fired for
        // ever where a release logs at 0 %: an outside check).
        let unused = known_where(0.0, false);
        assert!(
            unused.as_deref().is_some_and(|l| l.ends_with(" 1")),
            "{unused:?}"
        );
        // Nor its age (a night without statements fired the alert's age
        // clause where nothing relies on the log: an outside check).
        let age =
            |idle_suspend: bool| line_where("clusterctl_signal_age_seconds{", 1.0, idle_suspend);
        assert!(age(true).is_some(), "relied on: said");
        assert_eq!(age(false), None);
    }

    /// Every action kind's series starts at 0, so the first failure of a
    /// managed cluster's resize is an increase `ClusterctlActionsFailing`
    /// sees (a series born at 1 is not).
    #[test]
    fn every_action_kind_is_counted_from_zero() {
        let text = Metrics::new().prometheus_text();
        for kind in [
            "create_replica",
            "drop_replica",
            "set_replication_factor",
            "set_size",
        ] {
            let line = format!("clusterctl_actions_total{{kind=\"{kind}\",outcome=\"failed\"}} 0");
            assert!(text.contains(&line), "{line}\n{text}");
        }
    }

    /// Every outcome an action is counted under survives the textfile
    /// merge: `unknown` was dropped, so the next cron run lost the DDL that
    /// timed out before `ClusterctlActionsFailing` saw it (an outside check).
    #[test]
    fn every_action_outcome_is_carried_over_by_the_textfile_merge() {
        let first = Metrics::new();
        let mut previous = String::new();
        for (n, outcome) in ACTION_OUTCOMES.into_iter().enumerate() {
            let line = |v: usize| {
                format!("clusterctl_actions_total{{kind=\"set_size\",outcome=\"{outcome}\"}} {v}")
            };
            assert!(
                first.prometheus_text().contains(&line(0)),
                "{outcome} from 0"
            );
            previous.push_str(&format!("{}\n", line(n + 1)));
        }
        let second = Metrics::new();
        second.carry_over(&previous);
        let text = second.prometheus_text();
        for (n, outcome) in ACTION_OUTCOMES.into_iter().enumerate() {
            let line = format!(
                "clusterctl_actions_total{{kind=\"set_size\",outcome=\"{outcome}\"}} {}",
                n + 1
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
        let statuses = [
            ActionStatus::Executed,
            ActionStatus::Failed {
                error: String::new(),
            },
            ActionStatus::Skipped {
                reason: String::new(),
            },
            ActionStatus::Unknown {
                error: String::new(),
            },
        ];
        let named: BTreeSet<&str> = statuses.iter().map(action_outcome).collect();
        assert_eq!(named, ACTION_OUTCOMES.into_iter().collect());
    }

    #[test]
    fn registered_types_match_the_encoding() {
        let m = Metrics::new();
        let text = m.openmetrics();
        for (name, ty) in &m.registered {
            let line = format!("# TYPE {name} {ty}");
            // Families without samples yet are not encoded at all.
            if text.contains(&format!("# TYPE {name} ")) {
                assert!(text.contains(&line), "{line} not in\n{text}");
            }
        }
    }

    #[test]
    fn sample_names_include_counter_and_histogram_suffixes() {
        let names = Metrics::new().sample_names();
        for n in [
            "clusterctl_runs_total",
            "clusterctl_actions_total",
            "clusterctl_run_duration_seconds_bucket",
            "clusterctl_lease_held",
            "clusterctl_last_success_timestamp_seconds",
            "clusterctl_cluster_credits_per_hour",
        ] {
            assert!(names.contains(n), "{n} missing from {names:?}");
        }
    }
}
