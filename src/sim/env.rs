//! The simulated Materialize: per cluster, its replicas (`replica`: each
//! provisioned, hydrating, hydrated or OOM-killed), DDL accepted and taking
//! effect when the controller's statement runs, and the queries of its
//! workload. A query runs at once on a hydrated replica, waits while the
//! cluster's replicas hydrate, and on a cluster with no replica at all fails
//! at once (`on_no_replica = "error"`, as Materialize) or waits (`"wait"`);
//! a failed query is retried by its client after a backoff, and counts as
//! failed once its attempts run out. Every attempt goes to the statement
//! log with the sample rate and becomes visible at the next flush: the
//! controller reads only that. Everything a report counts is recorded here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::demand::Arrivals;
use super::replica::{Physics, SimReplica};
use super::scenario::{Clients, ClusterSpec, OnNoReplica, Scenario, StatementLog, DAY, HOUR};
use crate::model::{Activity, Cluster, CrashInfo, Replica, ReplicaSize, Size, SizeCatalog};

pub fn at(start: chrono::DateTime<chrono::Utc>, ms: i64) -> chrono::DateTime<chrono::Utc> {
    start + chrono::Duration::milliseconds(ms)
}

/// DDL accepted but not yet in effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    Create {
        name: String,
        size: Size,
    },
    Drop {
        name: String,
    },
    /// Managed clusters: `ALTER CLUSTER … SET (SIZE = …) WITH (WAIT UNTIL
    /// READY (TIMEOUT = …, ON TIMEOUT = 'ROLLBACK'))`, requested at `requested_ms`.
    SetSize {
        size: Size,
        timeout_ms: i64,
        requested_ms: i64,
    },
    /// Managed clusters: `ALTER CLUSTER … SET (REPLICATION FACTOR = n)`.
    SetReplicationFactor {
        n: u32,
    },
}

/// A managed cluster's configuration. Its replicas are `r1`..`rN` of
/// `size`; during a graceful resize the new ones are `r1-pending`.. and the
/// old ones serve until all of those are hydrated, then the old ones are
/// dropped and the new ones renamed. Until that cut-over `mz_clusters`
/// shows the size still serving (catalog reference §8.1).
#[derive(Debug, Clone)]
pub struct Managed {
    pub size: Size,
    pub replication_factor: u32,
    pub resize: Option<Resize>,
}

/// A graceful resize in progress.
#[derive(Debug, Clone)]
pub struct Resize {
    pub requested_ms: i64,
    /// `ON TIMEOUT = 'ROLLBACK'`: the new replicas go, the old size stays.
    pub deadline_ms: i64,
    /// The size of the replicas still serving.
    pub old_size: Size,
}

const PENDING_SUFFIX: &str = "-pending";

/// One attempt of a query: waiting, or due (a retry).
#[derive(Debug, Clone, Copy)]
struct Attempt {
    /// The query's first attempt (what its wait counts from).
    first: i64,
    at: i64,
    /// 1 for the first attempt.
    n: u32,
    logged: bool,
}

#[derive(Debug, Clone, Copy)]
struct Running {
    end: i64,
    begin: i64,
    logged: bool,
}

/// What happened to the queries of one cluster.
#[derive(Debug, Clone, Default)]
pub struct QueryStats {
    /// Queries (first attempts).
    pub requests: u64,
    pub served: u64,
    /// Waits (first attempt to execution) of the served queries that
    /// waited, and of the queries still unserved at the end (to the end).
    pub waits: Vec<i64>,
    /// Queries whose attempts all failed.
    pub failed: u64,
    /// Attempts that failed (a query on a cluster without replicas).
    pub failed_attempts: u64,
    /// When attempts failed (the first 100 000, for the plot).
    pub error_times: Vec<i64>,
    /// Queries still waiting or between retries at the end.
    pub unfinished: u64,
    /// Attempts written to the statement log (the sampled ones).
    pub logged: u64,
    /// Every query's first attempt, in order (the oracle's demand).
    pub first_attempts: Vec<i64>,
    /// Per calendar day (UTC) from the start's: the first query's first
    /// attempt, and the first time a query of that day was served
    /// (`i64::MAX`: none).
    pub day_first: Vec<i64>,
    pub day_served: Vec<i64>,
    /// The start's time since its midnight (UTC), ms: days are calendar
    /// days, not 24-hour slices from the start (which named the day of a
    /// start at 23:00 for the next morning's wait).
    pub day_shift: i64,
}

const MAX_ERROR_TIMES: usize = 100_000;

/// Logged statements per hour: index 0 is the hour `base` (UTC hours since
/// the epoch, so hours are the catalog's `date_trunc('hour', …)`).
#[derive(Debug, Clone, Default)]
struct LogHours {
    base: i64,
    /// The scenario's start, ms since the epoch.
    start_ms: i64,
    hours: Vec<HourAgg>,
}

#[derive(Debug, Clone, Copy, Default)]
struct HourAgg {
    n: u32,
    first: i64,
    last: i64,
}

impl LogHours {
    fn new(sc: &Scenario) -> LogHours {
        let start_ms = sc.start.timestamp_millis();
        let base = (start_ms - sc.history_ms).div_euclid(HOUR);
        let end = (start_ms + sc.horizon_ms).div_euclid(HOUR);
        LogHours {
            base,
            start_ms,
            hours: vec![HourAgg::default(); (end - base + 1).max(0) as usize],
        }
    }

    /// A logged statement that began at `t` (ms since the start).
    fn record(&mut self, t: i64) {
        let i = (self.start_ms + t).div_euclid(HOUR) - self.base;
        if let Some(h) = usize::try_from(i).ok().and_then(|i| self.hours.get_mut(i)) {
            if h.n == 0 {
                h.first = t;
                h.last = t;
            } else {
                h.first = h.first.min(t);
                h.last = h.last.max(t);
            }
            h.n += 1;
        }
    }
}

/// The scenario settings a cluster's environment follows.
#[derive(Debug, Clone)]
struct Settings {
    log: StatementLog,
    clients: Clients,
    provisioning_ms: i64,
    restart_ms: i64,
    on_no_replica: OnNoReplica,
    max_replicas: u32,
}

/// One simulated cluster with its workload.
#[derive(Debug, Clone)]
pub struct SimCluster {
    pub spec: ClusterSpec,
    settings: Settings,
    /// Live replicas (creation order).
    pub replicas: Vec<SimReplica>,
    /// Replicas that are gone, for the report and the plot.
    pub history: Vec<SimReplica>,
    pub pending: Vec<Pending>,
    /// When the pending DDL takes effect (the controller's statement runs).
    pub pending_at: i64,
    pub arrivals: Arrivals,
    retries: BinaryHeap<Reverse<(i64, i64, u32)>>,
    waiting: VecDeque<Attempt>,
    waiting_logged: usize,
    running: VecDeque<Running>,
    /// Logged statement begins not yet flushed: (visible at, began).
    log_pending: VecDeque<(i64, i64)>,
    /// The latest logged, flushed statement begin.
    pub last_begin: Option<i64>,
    /// The latest logged, flushed statement end.
    pub last_end: Option<i64>,
    /// The flushed statement log by hour, for the demand history the
    /// snapshot carries (`history` before the start included).
    log_hours: LogHours,
    pub stats: QueryStats,
    pub credits: f64,
    pub phase: usize,
    /// Managed clusters: the configuration Materialize maintains.
    pub managed: Option<Managed>,
    /// Finished graceful resizes: request to retirement of the old replicas
    /// (ms), for the engine to collect.
    pub resize_done_ms: Vec<i64>,
    rng: ChaCha8Rng,
    log_rng: ChaCha8Rng,
}

fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl SimCluster {
    pub fn new(spec: &ClusterSpec, sc: &Scenario, stream: u64, next_id: &mut u64) -> SimCluster {
        let w = &spec.workload;
        let day_shift = super::scenario::since_midnight(sc.start);
        let days = ((sc.horizon_ms + day_shift) / DAY + 1) as usize;
        let mut c = SimCluster {
            spec: spec.clone(),
            settings: Settings {
                log: sc.statement_log.clone(),
                clients: sc.clients.clone(),
                provisioning_ms: sc.materialize.provisioning_ms,
                restart_ms: sc.materialize.restart_ms,
                on_no_replica: w.on_no_replica,
                max_replicas: sc.materialize.max_replicas_per_cluster,
            },
            replicas: Vec::new(),
            history: Vec::new(),
            pending: Vec::new(),
            pending_at: 0,
            arrivals: Arrivals::new(sc.seed, stream, &w.occurrences, &w.begins),
            retries: BinaryHeap::new(),
            waiting: VecDeque::new(),
            waiting_logged: 0,
            running: VecDeque::new(),
            log_pending: VecDeque::new(),
            last_begin: None,
            last_end: None,
            log_hours: LogHours::new(sc),
            stats: QueryStats {
                day_first: vec![i64::MAX; days],
                day_served: vec![i64::MAX; days],
                day_shift,
                ..QueryStats::default()
            },
            credits: 0.0,
            phase: 0,
            managed: spec.managed.as_ref().map(|m| Managed {
                size: m.size.clone(),
                replication_factor: m.replication_factor,
                resize: None,
            }),
            resize_done_ms: Vec::new(),
            rng: stream_rng(sc.seed, (1 << 32) + stream),
            log_rng: stream_rng(sc.seed, (2 << 32) + stream),
        };
        c.log_history(sc, stream);
        for r in &spec.initial_replicas {
            let Some(size) = sc.sizes.get(&r.size) else {
                continue;
            };
            // Existing replicas need no provisioning.
            let mut rep = SimReplica::new(*next_id, &r.name, size, 0, 0);
            *next_id += 1;
            let fits = w.need.at(0) <= size.memory_bytes;
            let mut p = c.physics();
            if r.hydrated && fits {
                rep.start_hydrated(0, &mut p);
            } else {
                rep.step(0, &mut p);
            }
            c.replicas.push(rep);
        }
        c
    }

    /// The statement log before the start (`history`): the workload's
    /// demand there, sampled as the log samples, from streams of its own.
    fn log_history(&mut self, sc: &Scenario, stream: u64) {
        let log = &self.settings.log;
        if !log.enabled || log.sample_rate <= 0.0 {
            return;
        }
        let w = &self.spec.workload;
        if w.history_occurrences.is_empty() && w.history_begins.is_empty() {
            return;
        }
        let mut arrivals = Arrivals::new(
            sc.seed ^ 0x4849_5354,
            stream,
            &w.history_occurrences,
            &w.history_begins,
        );
        let mut rng = stream_rng(sc.seed, (3 << 32) + stream);
        let rate = log.sample_rate;
        while let Some(t) = arrivals.peek() {
            arrivals.pop();
            if rate >= 1.0 || rng.random::<f64>() < rate {
                self.log_hours.record(t);
                // The live controller judges idleness by the log within its
                // lookback, the start's past included: a cluster idle before
                // the start was suspended `idle_after_s` into the replay
                // (an outside check).
                self.last_begin = Some(self.last_begin.map_or(t, |b| b.max(t)));
            }
        }
    }

    /// The flushed statement log of this cluster by hour over `[from, to)`
    /// (ms since the start), as the catalog's aggregate returns it.
    pub fn demand_hours(&self, sc: &Scenario, from: i64, to: i64) -> Vec<crate::model::DemandHour> {
        let lh = &self.log_hours;
        let rate = if sc.statement_log.sample_rate > 0.0 {
            sc.statement_log.sample_rate.min(1.0)
        } else {
            1.0
        };
        let idx = |t: i64| ((lh.start_ms + t).div_euclid(HOUR) - lh.base).max(0) as usize;
        let a = idx(from).min(lh.hours.len());
        let b = idx(to).clamp(a, lh.hours.len());
        lh.hours[a..b]
            .iter()
            .enumerate()
            .filter(|(_, h)| h.n > 0)
            .map(|(i, h)| crate::model::DemandHour {
                hour: chrono::DateTime::from_timestamp_millis((lh.base + (a + i) as i64) * HOUR)
                    .unwrap_or(sc.start),
                statements: f64::from(h.n) / rate,
                first: at(sc.start, h.first),
                last: at(sc.start, h.last),
            })
            .collect()
    }

    fn physics(&mut self) -> Physics<'_> {
        Physics {
            workload: &self.spec.workload,
            restart_ms: self.settings.restart_ms,
            rng: &mut self.rng,
        }
    }

    fn make_replica(&self, id: u64, name: &str, size: &ReplicaSize, t: i64) -> SimReplica {
        SimReplica::new(id, name, size, t, t + self.settings.provisioning_ms)
    }

    fn flush(&self, t: i64) -> i64 {
        let f = self.settings.log.flush_ms;
        if f <= 0 {
            t
        } else {
            (t.div_euclid(f) + 1) * f
        }
    }

    pub fn any_hydrated(&self) -> bool {
        self.replicas.iter().any(|r| r.is_hydrated())
    }

    /// Runs everything in `(from, to]` with the replica set fixed: replica
    /// transitions, query attempts (served, waiting or failing), queries
    /// finishing, the statement log flushing.
    pub fn advance(&mut self, to: i64) {
        loop {
            let next_replica = self
                .replicas
                .iter()
                .enumerate()
                .map(|(i, r)| (r.next_event(), i))
                .min();
            let arrival = self.arrivals.peek();
            let retry = self.retries.peek().map(|r| r.0 .0);
            let attempt = match (arrival, retry) {
                (Some(a), Some(r)) => Some(a.min(r)),
                (a, r) => a.or(r),
            };
            match (next_replica, attempt) {
                (Some((t, i)), a) if t <= to && a.is_none_or(|a| t <= a) => {
                    let mut p = Physics {
                        workload: &self.spec.workload,
                        restart_ms: self.settings.restart_ms,
                        rng: &mut self.rng,
                    };
                    if self.replicas[i].step(t, &mut p) {
                        self.serve_waiting(t);
                    }
                }
                (_, Some(a)) if a <= to => {
                    if retry == Some(a) {
                        if let Some(Reverse((_, first, n))) = self.retries.pop() {
                            self.attempt(first, n, a);
                        }
                    } else {
                        self.arrivals.pop();
                        self.attempt(a, 1, a);
                    }
                }
                _ => break,
            }
        }
        while self
            .running
            .front()
            .is_some_and(|r| self.flush(r.end) <= to)
        {
            if let Some(r) = self.running.pop_front().filter(|r| r.logged) {
                self.last_end = Some(self.last_end.map_or(r.end, |e| e.max(r.end)));
            }
        }
        while let Some(&(visible, began)) = self.log_pending.front() {
            if visible > to {
                break;
            }
            self.log_pending.pop_front();
            self.last_begin = Some(self.last_begin.map_or(began, |b| b.max(began)));
            self.log_hours.record(began);
        }
    }

    fn day(&self, t: i64) -> usize {
        ((t.max(0) + self.stats.day_shift) / DAY) as usize
    }

    /// Attempt `n` of the query first tried at `first`, at `t`.
    fn attempt(&mut self, first: i64, n: u32, t: i64) {
        if n == 1 {
            self.stats.requests += 1;
            self.stats.first_attempts.push(first);
            let day = self.day(first);
            if let Some(d) = self.stats.day_first.get_mut(day) {
                *d = (*d).min(first);
            }
        }
        let log = &self.settings.log;
        let logged = log.enabled
            && match log.sample_rate {
                r if r >= 1.0 => true,
                r if r <= 0.0 => false,
                r => self.log_rng.random::<f64>() < r,
            };
        if logged {
            self.stats.logged += 1;
            self.log_pending.push_back((self.flush(t), t));
        }
        let a = Attempt {
            first,
            at: t,
            n,
            logged,
        };
        if self.any_hydrated() {
            self.run(a, t);
        } else if self.replicas.is_empty() && self.settings.on_no_replica == OnNoReplica::Error {
            self.fail(a, t);
        } else {
            self.waiting_logged += usize::from(logged);
            self.waiting.push_back(a);
        }
    }

    fn run(&mut self, a: Attempt, t: i64) {
        self.stats.served += 1;
        if t > a.first {
            self.stats.waits.push(t - a.first);
        }
        let day = self.day(a.first);
        if let Some(d) = self.stats.day_served.get_mut(day) {
            *d = (*d).min(t);
        }
        self.running.push_back(Running {
            end: t + self.spec.workload.service_ms,
            begin: a.at,
            logged: a.logged,
        });
    }

    /// The attempt fails at `t` ("no replicas available to service
    /// request"); the client retries after its backoff, or gives up.
    fn fail(&mut self, a: Attempt, t: i64) {
        self.stats.failed_attempts += 1;
        if self.stats.error_times.len() < MAX_ERROR_TIMES {
            self.stats.error_times.push(t);
        }
        if a.n < self.settings.clients.attempts {
            let due = t + self.settings.clients.backoff(a.n);
            self.retries.push(Reverse((due, a.first, a.n + 1)));
        } else {
            self.stats.failed += 1;
        }
    }

    fn serve_waiting(&mut self, t: i64) {
        self.waiting_logged = 0;
        while let Some(a) = self.waiting.pop_front() {
            self.run(a, t);
        }
    }

    /// The last replica went away at `t`: queries waiting for it fail (with
    /// `on_no_replica = "error"`).
    fn fail_waiting(&mut self, t: i64) {
        if self.settings.on_no_replica != OnNoReplica::Error {
            return;
        }
        self.waiting_logged = 0;
        while let Some(a) = self.waiting.pop_front() {
            self.fail(a, t);
        }
    }

    /// Pending DDL takes effect (at `pending_at`, or `t` for a resize that
    /// settles). Returns whether anything changed.
    pub fn apply_pending(&mut self, t: i64, sizes: &SizeCatalog, next_id: &mut u64) -> bool {
        let resized = self.settle_resize(t);
        if self.pending.is_empty() {
            return resized;
        }
        let at = self.pending_at.min(t);
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Create { name, size } => self.spawn(at, sizes, next_id, &name, &size),
                Pending::Drop { name } => self.retire(at, |r| r.name == name),
                Pending::SetSize {
                    size,
                    timeout_ms,
                    requested_ms,
                } => self.set_size(at, sizes, next_id, size, at + timeout_ms, requested_ms),
                Pending::SetReplicationFactor { n } => {
                    self.set_replication_factor(at, sizes, next_id, n)
                }
            }
        }
        true
    }

    /// Drops the live replicas that match at `t`.
    fn retire(&mut self, t: i64, which: impl Fn(&SimReplica) -> bool) {
        let mut i = 0;
        while i < self.replicas.len() {
            if which(&self.replicas[i]) {
                let mut r = self.replicas.remove(i);
                r.retire(t);
                self.credits += r.cost(t);
                self.history.push(r);
            } else {
                i += 1;
            }
        }
        if self.replicas.is_empty() {
            self.fail_waiting(t);
        }
    }

    /// Creates replica `name` of `size` at `t`.
    fn spawn(&mut self, t: i64, sizes: &SizeCatalog, next_id: &mut u64, name: &str, size: &Size) {
        if let Some(sz) = sizes.get(size) {
            let rep = self.make_replica(*next_id, name, sz, t);
            *next_id += 1;
            self.replicas.push(rep);
        }
    }

    /// Managed: `r1`..`rn` (or `r1-pending`.. during a resize) exist, no more.
    fn converge(&mut self, t: i64, sizes: &SizeCatalog, next_id: &mut u64, suffix: &str) {
        let Some(m) = &self.managed else {
            return;
        };
        let (n, size) = (m.replication_factor as usize, m.size.clone());
        let names: Vec<String> = (1..=n).map(|i| format!("r{i}{suffix}")).collect();
        let pending = suffix == PENDING_SUFFIX;
        self.retire(t, |r| {
            r.name.ends_with(PENDING_SUFFIX) == pending && !names.contains(&r.name)
        });
        for name in &names {
            if !self.replicas.iter().any(|r| &r.name == name) {
                self.spawn(t, sizes, next_id, name, &size);
            }
        }
    }

    /// `ALTER CLUSTER … SET (SIZE)` in effect at `t`: graceful when replicas
    /// run (new ones are created, the old ones serve until they hydrate).
    fn set_size(
        &mut self,
        t: i64,
        sizes: &SizeCatalog,
        next_id: &mut u64,
        size: Size,
        deadline_ms: i64,
        requested_ms: i64,
    ) {
        let Some(m) = &mut self.managed else {
            return;
        };
        if m.size == size {
            return;
        }
        let serving = m
            .resize
            .take()
            .map(|r| r.old_size)
            .unwrap_or(m.size.clone());
        m.size = size.clone();
        // A resize in progress is superseded: its new replicas go.
        self.retire(t, |r| r.name.ends_with(PENDING_SUFFIX));
        if size == serving || self.replicas.is_empty() {
            return;
        }
        if let Some(m) = &mut self.managed {
            m.resize = Some(Resize {
                requested_ms,
                deadline_ms,
                old_size: serving,
            });
        }
        self.converge(t, sizes, next_id, PENDING_SUFFIX);
    }

    /// `ALTER CLUSTER … SET (REPLICATION FACTOR = n)` in effect at `t`
    /// (0 suspends, and ends a resize in progress).
    fn set_replication_factor(&mut self, t: i64, sizes: &SizeCatalog, next_id: &mut u64, n: u32) {
        let Some(m) = &mut self.managed else {
            return;
        };
        m.replication_factor = n;
        if n == 0 {
            m.resize = None;
            self.retire(t, |_| true);
            return;
        }
        let suffix = if m.resize.is_some() {
            PENDING_SUFFIX
        } else {
            ""
        };
        self.converge(t, sizes, next_id, suffix);
    }

    /// Managed: finishes a graceful resize at `t` once every new replica is
    /// hydrated (the old ones are dropped, the new ones take their names), or
    /// rolls it back at its deadline. Returns whether anything changed.
    fn settle_resize(&mut self, t: i64) -> bool {
        let Some(rz) = self.managed.as_ref().and_then(|m| m.resize.clone()) else {
            return false;
        };
        let new: Vec<usize> = (0..self.replicas.len())
            .filter(|i| self.replicas[*i].name.ends_with(PENDING_SUFFIX))
            .collect();
        let ready = !new.is_empty() && new.iter().all(|i| self.replicas[*i].hydrated_at(t));
        if ready {
            // Cut over when the last new replica hydrated.
            let at = new
                .iter()
                .filter_map(|i| self.replicas[*i].hydrated_since())
                .max()
                .unwrap_or(t)
                .min(t);
            self.retire(at, |r| !r.name.ends_with(PENDING_SUFFIX));
            for r in &mut self.replicas {
                let before = r.split(at);
                self.credits += before.cost(at);
                self.history.push(before);
                r.name = r.name.trim_end_matches(PENDING_SUFFIX).to_string();
            }
            self.resize_done_ms.push(at - rz.requested_ms);
        } else if t >= rz.deadline_ms {
            self.retire(rz.deadline_ms, |r| r.name.ends_with(PENDING_SUFFIX));
            if let Some(m) = &mut self.managed {
                m.size = rz.old_size.clone();
            }
        } else {
            return false;
        }
        if let Some(m) = &mut self.managed {
            m.resize = None;
        }
        true
    }

    /// DDL as Materialize would take it: names are unique among replicas
    /// that exist or are being created; only existing replicas can be dropped.
    pub fn submit(&mut self, p: Pending) -> Result<(), String> {
        let cluster = &self.spec.name;
        let exists = |n: &str| self.replicas.iter().any(|r| r.name == n);
        let creating = |n: &str| {
            self.pending
                .iter()
                .any(|p| matches!(p, Pending::Create { name, .. } if name == n))
        };
        let dropping = |n: &str| {
            self.pending
                .iter()
                .any(|p| matches!(p, Pending::Drop { name } if name == n))
        };
        let cluster_level = matches!(
            p,
            Pending::SetSize { .. } | Pending::SetReplicationFactor { .. }
        );
        if cluster_level != self.managed.is_some() {
            return Err(if cluster_level {
                format!(
                    "cluster '{cluster}' is unmanaged: SIZE and REPLICATION FACTOR cannot be set"
                )
            } else {
                format!("cannot create or drop replicas of managed cluster '{cluster}'")
            });
        }
        match &p {
            Pending::Create { name, .. } if (exists(name) && !dropping(name)) || creating(name) => {
                return Err(format!("cluster replica '{cluster}.{name}' already exists"));
            }
            Pending::Drop { name } if !exists(name) || dropping(name) => {
                return Err(format!("unknown cluster replica '{cluster}.{name}'"));
            }
            Pending::Create { .. } => {
                // The statements before it in the queue have run by then.
                let current = self.replica_count_after_pending();
                self.check_replica_limit(current, current + 1)?;
            }
            Pending::SetReplicationFactor { n } => {
                let current = self.replica_count_after_pending();
                self.check_replica_limit(current, *n as usize)?;
            }
            _ => {}
        }
        self.pending.push(p);
        Ok(())
    }

    /// The replicas once the queued statements have run (a managed
    /// cluster's: its replication factor).
    fn replica_count_after_pending(&self) -> usize {
        let mut n = match &self.managed {
            Some(m) => m.replication_factor as usize,
            None => self.replicas.len(),
        };
        for p in &self.pending {
            match p {
                Pending::Create { .. } => n += 1,
                Pending::Drop { .. } => n = n.saturating_sub(1),
                Pending::SetReplicationFactor { n: rf } => n = *rf as usize,
                Pending::SetSize { .. } => {}
            }
        }
        n
    }

    /// Materialize refuses to go beyond `max_replicas_per_cluster` (§8.5),
    /// never to stay where it is.
    fn check_replica_limit(&self, current: usize, desired: usize) -> Result<(), String> {
        let limit = self.settings.max_replicas as usize;
        if desired > limit && desired > current {
            return Err(format!(
                "creating cluster replica would violate max_replicas_per_cluster limit \
                 (desired: {desired}, limit: {limit}, current: {current})"
            ));
        }
        Ok(())
    }

    /// The next time after `t` at which something a decision reads may
    /// change (a conservative bound: every attempt counts). With
    /// `activity_matters` false, new statements are not counted: the
    /// caller knows they cannot change a decision (see the engine).
    pub fn next_change(
        &self,
        t: i64,
        crash_window: i64,
        lookback: i64,
        activity_matters: bool,
    ) -> i64 {
        let mut next = i64::MAX;
        let mut consider = |x: Option<i64>| {
            if let Some(x) = x.filter(|x| *x > t) {
                next = next.min(x);
            }
        };
        if activity_matters {
            consider(self.arrivals.peek());
            consider(self.retries.peek().map(|r| r.0 .0));
            consider(self.log_pending.front().map(|l| l.0));
            consider(self.running.front().map(|r| self.flush(r.end)));
        }
        consider(self.last_begin.map(|b| b + lookback));
        for r in &self.replicas {
            consider(Some(r.next_event()).filter(|e| *e < i64::MAX));
            // An OOM leaving the crash window changes the counts too.
            consider(
                r.ooms
                    .iter()
                    .find(|o| **o > t - crash_window)
                    .map(|o| o + crash_window),
            );
        }
        consider(self.spec.phases.get(self.phase + 1).map(|p| p.at_ms));
        consider(
            self.managed
                .as_ref()
                .and_then(|m| m.resize.as_ref())
                .map(|r| r.deadline_ms),
        );
        next
    }

    /// Logged statements that began and have not finished, as the log shows
    /// them at `t` (the env advanced to `t`).
    pub fn in_flight(&self, t: i64) -> u32 {
        let unflushed = self
            .waiting
            .iter()
            .rev()
            .take_while(|a| self.flush(a.at) > t)
            .filter(|a| a.logged)
            .count();
        let waiting = self.waiting_logged.saturating_sub(unflushed);
        let running = self
            .running
            .iter()
            .filter(|r| r.logged && self.flush(r.begin) <= t)
            .count();
        (waiting + running) as u32
    }

    /// A managed resize is requested or in progress.
    pub fn resizing(&self) -> bool {
        self.managed.as_ref().is_some_and(|m| m.resize.is_some())
            || self
                .pending
                .iter()
                .any(|p| matches!(p, Pending::SetSize { .. }))
    }

    /// Queries waiting for a replica right now.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    /// Writes the catalog's view of this cluster at `t` into `out`.
    pub fn observe(&self, sc: &Scenario, t: i64, lookback: i64, out: &mut Cluster) {
        let same_set = out.replicas.len() == self.replicas.len()
            && out
                .replicas
                .iter()
                .zip(&self.replicas)
                .all(|(o, r)| o.name == r.name && o.size.as_ref() == Some(&r.size));
        if !same_set {
            out.replicas = self
                .replicas
                .iter()
                .map(|r| Replica {
                    id: format!("u{}", r.id),
                    name: r.name.clone(),
                    size: Some(r.size.clone()),
                    hydrated: false,
                    crash: CrashInfo::default(),
                    owner_id: None,
                    since: None,
                    objects: None,
                    offline: false,
                })
                .collect();
        }
        let objects = self.spec.workload.objects;
        for (o, r) in out.replicas.iter_mut().zip(&self.replicas) {
            o.hydrated = r.hydrated_at(t);
            // One object: hydration is one event, as the catalog shows it.
            o.objects = (objects > 1).then(|| crate::model::Objects {
                hydrated: r.objects_at(t, objects),
                total: objects,
            });
            if !r.ooms.is_empty() || o.crash.crashes > 0 {
                o.crash = r.crash_info(t, sc.crash_window_ms, sc.start);
            }
        }
        if let Some(m) = &self.managed {
            out.managed = true;
            let shown = m.resize.as_ref().map(|r| &r.old_size).unwrap_or(&m.size);
            if out.size.as_ref() != Some(shown) {
                out.size = Some(shown.clone());
            }
            out.replication_factor = Some(i64::from(m.replication_factor));
        }
        out.activity = if sc.statement_log.enabled {
            Activity {
                last_begin: self
                    .last_begin
                    .filter(|b| *b > t - lookback)
                    .map(|b| at(sc.start, b)),
                in_flight: self.in_flight(t),
                last_end: self
                    .last_end
                    .filter(|e| *e > t - lookback)
                    .map(|e| at(sc.start, e)),
            }
        } else {
            Activity::default()
        };
    }

    pub fn empty_cluster(&self) -> Cluster {
        Cluster {
            schedule: self.spec.schedule.clone(),
            ..Cluster::empty(self.spec.id.clone(), &self.spec.name)
        }
    }

    /// Credits per hour of the live replicas.
    pub fn burn_rate(&self) -> f64 {
        // `+ 0.0`: an empty sum is -0.0, which would print as "-0".
        self.replicas
            .iter()
            .map(|r| r.credits_per_hour)
            .sum::<f64>()
            + 0.0
    }

    /// Closes the books at the end of the run.
    pub fn finish(&mut self, end: i64) {
        for r in &self.replicas {
            self.credits += r.cost(end);
        }
        let open: Vec<i64> = self
            .waiting
            .iter()
            .map(|a| a.first)
            .chain(self.retries.iter().map(|r| r.0 .1))
            .collect();
        self.stats.unfinished = open.len() as u64;
        self.stats.waits.extend(open.iter().map(|f| end - f));
    }
}

/// Test hooks for the behaviour scenarios, which set signals directly.
#[cfg(test)]
impl SimCluster {
    /// Statements of an earlier step have finished.
    pub(crate) fn clear_in_flight_for_test(&mut self) {
        self.waiting.clear();
        self.waiting_logged = 0;
        self.running.clear();
    }

    /// A logged statement that began at `began`, still running if `in_flight`.
    pub(crate) fn record_statement_for_test(&mut self, began: i64, in_flight: bool) {
        self.last_begin = Some(self.last_begin.map_or(began, |b| b.max(began)));
        if in_flight {
            self.waiting_logged += 1;
            self.waiting.push_back(Attempt {
                first: began,
                at: began,
                n: 1,
                logged: true,
            });
        }
    }
}
