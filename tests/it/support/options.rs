//! What an [`Emulator`](super::Emulator) models: its options and builder.
//!
//! The default ([`Options::strict`]) is Materialize as it behaves by default
//! in production (reference §8), one knob per behaviour, each usable on its
//! own through [`EmulatorBuilder`]. [`Options::lenient`] is the emulator as
//! it was first written: a Materialize that carries out every DDL at once and
//! forgives what production refuses; a test that needs it (or any lenient
//! knob) says so with `.lenient()` or the knob, and a comment why.
//!
//! | knob                                 | lenient        | strict              | reference |
//! |--------------------------------------|----------------|---------------------|-----------|
//! | [`Release`] (resize behaviour)       | `Instant`      | `Background`        | §2.4, §8.1 |
//! | session-cluster rule                 | off            | on                  | §8.2 |
//! | new replica start-up (`initializing`) | online at once | online after 300 ms | §8.7 |
//! | `max_replicas_per_cluster`           | 1000           | 5                   | §8.5 |
//! | `max_credit_consumption_rate`        | 1024           | 1024                | §8.5 |
//! | `allowed_cluster_replica_sizes`      | empty (all)    | empty (all)         | §8.5 |
//! | monitor role needed for the log      | off            | on                  | §8.4 |
//! | statement log sample rate (default/max) | 1 / 1       | 0.99 / 0.99         | §8.6 |
//! | statement log flush delay            | 0              | 5 s                 | §1.11 |
//! | `mz_cluster_auto_scaling_strategies` | absent         | absent              | §8.8 |
//!
//! `CLUSTERCTL_EMULATOR_STRICT=0` in the environment makes lenient the base
//! of every [`Emulator::start`](super::Emulator::start) and
//! [`Emulator::builder`](super::Emulator::builder) (to see whether a failure
//! comes from the stricter world); explicit builder calls still override it.

use std::time::Duration;

use super::Emulator;

/// How long a new replica takes to start in the strict emulator: the shape
/// of Materialize's (offline/`initializing`, then online by itself; seconds
/// to minutes there), short enough that the suite stays fast.
pub const DEFAULT_REPLICA_STARTUP_DELAY: Duration = Duration::from_millis(300);

/// How `ALTER CLUSTER … SET (SIZE …)` behaves: the Materialize release the
/// emulator plays (details in `emulator_resize.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Lenient: every change happens at once; `WITH (WAIT …)` is accepted.
    /// Reports v26.34.0 (the release whose statements it accepts).
    Instant,
    /// Graceful reconfiguration gated by `enable_zero_downtime_cluster_reconfiguration`
    /// (off): `WITH (WAIT …)` is rejected, plain `SET (SIZE)` restarts the
    /// cluster. With the setting on it behaves as `Blocking`. v25.2.0.
    Gated,
    /// v26.34 and before: `WITH (WAIT …)` blocks the session behind
    /// `rN-pending` replicas; plain `SET (SIZE)` restarts the cluster.
    Blocking,
    /// v26.35 and later: `SET (SIZE)` returns at once and the controller
    /// cuts over in the background.
    Background,
}

impl Release {
    /// The `mz_version()` the release reports unless overridden.
    pub fn default_version(self) -> &'static str {
        match self {
            Release::Instant | Release::Blocking => "v26.34.0 (e0e0e0e0e)",
            Release::Gated => "v25.2.0 (e0e0e0e0e)",
            Release::Background => "v26.35.0 (e0e0e0e0e)",
        }
    }

    pub(super) fn setting(self) -> &'static str {
        match self {
            Release::Instant => "instant",
            Release::Gated => "gated",
            Release::Blocking => "blocking",
            Release::Background => "background",
        }
    }
}

/// Everything an emulator models; see the module docs for the two presets.
#[derive(Debug, Clone)]
pub struct Options {
    pub release: Release,
    /// Overrides [`Release::default_version`].
    pub mz_version: Option<String>,
    /// §8.2: statements that read or write a user relation run on the
    /// session's cluster and fail without a replica (0A000), for an unknown
    /// cluster, or without USAGE on it; `SET cluster` inside a transaction
    /// fails (25001).
    pub session_cluster_rule: bool,
    /// §8.7: `Some(d)`: a new replica's first status is offline/`initializing`;
    /// one made by DDL goes online by itself `d` later (its pod has started;
    /// hydration does not matter), any goes online when hydrated or through
    /// [`Emulator::set_replica_online`]. Meanwhile a statement that needs its
    /// cluster waits (§8.10). `None`: online at once.
    pub replica_startup_delay: Option<Duration>,
    /// §8.5: `SHOW max_replicas_per_cluster`, enforced on replica creation.
    pub max_replicas_per_cluster: u32,
    /// §8.4: reading the statement log needs `mz_monitor` (or
    /// `mz_monitor_redacted` for the redacted relations) unless superuser.
    pub monitor_role_required: bool,
    /// §8.6: `statement_logging_default_sample_rate` and `…_max_sample_rate`;
    /// [`Emulator::add_activity`] keeps a row with probability min(default, max).
    pub sample_rate_default: f64,
    pub sample_rate_max: f64,
    /// Seed of the sampler (runs are deterministic).
    pub sample_seed: u64,
    /// §1.11: a logged statement becomes visible this long after it began.
    pub statement_log_flush_delay: Duration,
    /// §8.8: `mz_internal.mz_cluster_auto_scaling_strategies` exists.
    pub auto_scaling_relation: bool,
    /// Further `mz_emulator.settings` rows (name, value), applied last.
    pub settings: Vec<(String, String)>,
}

impl Options {
    /// The emulator as it always was.
    pub fn lenient() -> Options {
        Options {
            release: Release::Instant,
            mz_version: None,
            session_cluster_rule: false,
            replica_startup_delay: None,
            max_replicas_per_cluster: 1000,
            monitor_role_required: false,
            sample_rate_default: 1.0,
            sample_rate_max: 1.0,
            sample_seed: 0x5eed,
            statement_log_flush_delay: Duration::ZERO,
            auto_scaling_relation: false,
            settings: Vec::new(),
        }
    }

    /// Everything Materialize does by default, newest release.
    pub fn strict() -> Options {
        Options {
            release: Release::Background,
            session_cluster_rule: true,
            replica_startup_delay: Some(DEFAULT_REPLICA_STARTUP_DELAY),
            max_replicas_per_cluster: 5,
            monitor_role_required: true,
            sample_rate_default: 0.99,
            sample_rate_max: 0.99,
            statement_log_flush_delay: Duration::from_secs(5),
            ..Options::lenient()
        }
    }

    /// Strict, unless `CLUSTERCTL_EMULATOR_STRICT=0`.
    pub fn from_env() -> Options {
        match std::env::var("CLUSTERCTL_EMULATOR_STRICT").as_deref() {
            Ok("0") | Ok("false") => Options::lenient(),
            _ => Options::strict(),
        }
    }

    /// The `mz_emulator.settings` rows: (name, value, visible to SHOW).
    pub(super) fn setting_rows(&self) -> Vec<(String, String, bool)> {
        let on = |b: bool| if b { "on" } else { "off" }.to_string();
        let background = self.release == Release::Background;
        let mut rows = vec![
            ("release".into(), self.release.setting().into(), false),
            (
                "mz_version".into(),
                self.mz_version
                    .clone()
                    .unwrap_or_else(|| self.release.default_version().into()),
                false,
            ),
            // Feature flags and dyncfgs: never visible to `SHOW` for our
            // users (see emulator.sql); they showed, and what the tests
            // passed on could not happen on Materialize (an outside check).
            (
                "enable_zero_downtime_cluster_reconfiguration".into(),
                on(self.release != Release::Gated),
                false,
            ),
            (
                "enable_background_alter_cluster".into(),
                on(background),
                false,
            ),
            (
                "default_cluster_reconfiguration_timeout".into(),
                "1d".into(),
                false,
            ),
            (
                "max_replicas_per_cluster".into(),
                self.max_replicas_per_cluster.to_string(),
                true,
            ),
            (
                "statement_logging_default_sample_rate".into(),
                self.sample_rate_default.to_string(),
                true,
            ),
            (
                "statement_logging_max_sample_rate".into(),
                self.sample_rate_max.to_string(),
                true,
            ),
            (
                "statement_logging_sample_rate".into(),
                self.sample_rate_default.to_string(),
                true,
            ),
            (
                "statement_log_flush_delay_s".into(),
                self.statement_log_flush_delay.as_secs_f64().to_string(),
                false,
            ),
            (
                "replica_startup_delay_ms".into(),
                self.replica_startup_delay
                    .map_or("off".into(), |d| d.as_millis().to_string()),
                false,
            ),
            (
                "monitor_role_required".into(),
                on(self.monitor_role_required),
                false,
            ),
        ];
        for (name, value) in &self.settings {
            match rows.iter_mut().find(|(n, _, _)| n == name) {
                Some(row) => row.1 = value.clone(),
                None => rows.push((name.clone(), value.clone(), true)),
            }
        }
        rows
    }
}

/// `Emulator::builder().materialize_release(Release::Blocking).strict_session_cluster(true).start()`.
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    pub(super) opts: Options,
}

impl EmulatorBuilder {
    /// Starts from everything Materialize does ([`Options::strict`]).
    pub fn strict(mut self) -> Self {
        self.opts = Options::strict();
        self
    }

    /// Starts from the lenient default, whatever the environment says.
    pub fn lenient(mut self) -> Self {
        self.opts = Options::lenient();
        self
    }

    pub fn materialize_release(mut self, release: Release) -> Self {
        self.opts.release = release;
        self
    }

    /// `mz_version()`, e.g. "v26.40.1 (0123abcde)".
    pub fn mz_version(mut self, version: &str) -> Self {
        self.opts.mz_version = Some(version.to_string());
        self
    }

    pub fn strict_session_cluster(mut self, on: bool) -> Self {
        self.opts.session_cluster_rule = on;
        self
    }

    /// §8.7: how long a new replica takes to come online (`None`: at once).
    pub fn replica_startup_delay(mut self, delay: Option<Duration>) -> Self {
        self.opts.replica_startup_delay = delay;
        self
    }

    pub fn max_replicas_per_cluster(mut self, n: u32) -> Self {
        self.opts.max_replicas_per_cluster = n;
        self
    }

    /// §8.5: the region's credit limit, credits per hour (`"3"`, `"0.5"`).
    pub fn max_credit_consumption_rate(self, credits: &str) -> Self {
        self.setting("max_credit_consumption_rate", credits)
    }

    /// §8.5: `allowed_cluster_replica_sizes` (empty: every size).
    pub fn allowed_cluster_replica_sizes(self, sizes: &[&str]) -> Self {
        self.setting("allowed_cluster_replica_sizes", &sizes.join(","))
    }

    pub fn monitor_role_required(mut self, on: bool) -> Self {
        self.opts.monitor_role_required = on;
        self
    }

    /// `statement_logging_default_sample_rate` and `…_max_sample_rate`.
    pub fn statement_sample_rate(mut self, default: f64, max: f64) -> Self {
        self.opts.sample_rate_default = default;
        self.opts.sample_rate_max = max;
        self
    }

    pub fn sample_seed(mut self, seed: u64) -> Self {
        self.opts.sample_seed = seed;
        self
    }

    pub fn statement_log_flush_delay(mut self, delay: Duration) -> Self {
        self.opts.statement_log_flush_delay = delay;
        self
    }

    pub fn auto_scaling_relation(mut self, present: bool) -> Self {
        self.opts.auto_scaling_relation = present;
        self
    }

    /// Any `mz_emulator.settings` row, e.g.
    /// `("enable_zero_downtime_cluster_reconfiguration", "on")`.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.opts
            .settings
            .push((name.to_string(), value.to_string()));
        self
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub fn start(self) -> Emulator {
        Emulator::with_options(self.opts)
    }
}
