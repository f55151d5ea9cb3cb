//! The simulated Materialize: per cluster, its replicas (hydrating, hydrated
//! or crash-looping with OOMs), pending DDL (takes effect at the next tick),
//! and the queries of its workload (arriving, waiting for a hydrated replica,
//! running). Everything a decision reads comes from here, and everything a
//! report counts is recorded here. Times are milliseconds since the start.

use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::scenario::{ClusterSpec, Scenario, Trace, Workload, HOUR};
use crate::model::{
    Activity, Cluster, CrashInfo, Replica, ReplicaSize, Schedule, Size, SizeCatalog,
};

/// A replica that exists (or existed) in the simulated environment.
#[derive(Debug, Clone)]
pub struct SimReplica {
    pub id: u64,
    pub name: String,
    pub size: Size,
    pub credits_per_hour: f64,
    pub created_ms: i64,
    /// When it is (or will be) hydrated; `None`: too small, it never is.
    pub hydrated_ms: Option<i64>,
    /// OOM kill times (all of them, for the report and the crash window).
    pub ooms: Vec<i64>,
    next_oom_ms: Option<i64>,
    oom_every_ms: i64,
    /// `crash_every`: hydrated for this long, then killed and hydrating
    /// again for `rehydrate_ms` (the kills are in `ooms`).
    crash_every_ms: Option<i64>,
    rehydrate_ms: i64,
    /// When its drop took effect.
    pub gone_ms: Option<i64>,
}

impl SimReplica {
    pub fn hydrated_at(&self, t: i64) -> bool {
        self.serving_from(t) == Some(t)
    }

    /// The first instant at or after `t` at which it is hydrated.
    pub fn serving_from(&self, t: i64) -> Option<i64> {
        let h = self.hydrated_ms?;
        if t <= h {
            return Some(h);
        }
        let Some(up) = self.crash_every_ms else {
            return Some(t);
        };
        let period = up + self.rehydrate_ms;
        let x = (t - h) % period;
        Some(if x < up { t } else { t + period - x })
    }

    /// When it was hydrated, up to `end`.
    pub fn hydrated_intervals(&self, end: i64) -> Vec<(i64, i64)> {
        let Some(h) = self.hydrated_ms else {
            return Vec::new();
        };
        let Some(up) = self.crash_every_ms else {
            return vec![(h, end)];
        };
        let period = up + self.rehydrate_ms;
        (0..)
            .map(|k| h + k * period)
            .take_while(|s| *s < end)
            .map(|s| (s, (s + up).min(end)))
            .collect()
    }

    fn crash_info(&self, t: i64, window: i64, start: chrono::DateTime<chrono::Utc>) -> CrashInfo {
        let recent: Vec<i64> = self
            .ooms
            .iter()
            .rev()
            .take_while(|o| **o > t - window)
            .copied()
            .collect();
        let n = recent.len() as u32;
        CrashInfo {
            crashes: n,
            ooms: n,
            last_crash: recent.first().map(|o| at(start, *o)),
        }
    }
}

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

/// A managed cluster's configuration as `mz_clusters` shows it. Its
/// replicas are `r1`..`rN` of `size`; during a graceful resize the new ones
/// are `r1-pending`..`rN-pending` and the old ones serve until all of those
/// are hydrated, then the old ones are dropped and the new ones renamed.
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

/// Poisson arrivals over the occurrences of one window.
#[derive(Debug, Clone)]
struct WindowGen {
    occurrences: Vec<(i64, i64)>,
    idx: usize,
    qps: f64,
    next: Option<i64>,
    cursor: f64,
}

impl WindowGen {
    fn advance(&mut self, rng: &mut ChaCha8Rng) {
        self.next = None;
        if self.qps <= 0.0 {
            return;
        }
        while let Some(&(s, e)) = self.occurrences.get(self.idx) {
            let from = self.cursor.max(s as f64);
            let u: f64 = rng.random();
            let next = from + -(1.0 - u).ln() / self.qps * 1000.0;
            if next < e as f64 {
                self.cursor = next;
                self.next = Some(next.floor() as i64);
                return;
            }
            self.idx += 1;
        }
    }
}

/// Query arrivals of one cluster: Poisson windows or a recorded trace.
#[derive(Debug, Clone)]
pub struct Arrivals {
    rng: ChaCha8Rng,
    gens: Vec<WindowGen>,
    begins: Vec<i64>,
    begin_idx: usize,
}

impl Arrivals {
    fn new(w: &Workload, sc: &Scenario, stream: u64) -> Arrivals {
        let mut rng = ChaCha8Rng::seed_from_u64(sc.seed);
        rng.set_stream(stream);
        let mut gens = Vec::new();
        let mut begins = Vec::new();
        match &w.trace {
            Trace::Windows(ws) => {
                for win in ws {
                    let mut g = WindowGen {
                        occurrences: win.occurrences(sc.horizon_ms, sc.start),
                        idx: 0,
                        qps: win.qps,
                        next: None,
                        cursor: 0.0,
                    };
                    g.advance(&mut rng);
                    gens.push(g);
                }
            }
            Trace::Begins(b) => begins = b.clone(),
        }
        Arrivals {
            rng,
            gens,
            begins,
            begin_idx: 0,
        }
    }

    pub fn peek(&self) -> Option<i64> {
        let g = self.gens.iter().filter_map(|g| g.next).min();
        let b = self.begins.get(self.begin_idx).copied();
        match (g, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn pop(&mut self) {
        let b = self.begins.get(self.begin_idx).copied();
        let best = self
            .gens
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.next.map(|n| (n, i)))
            .min();
        match (best, b) {
            (Some((n, i)), b) if b.is_none_or(|b| n < b) => {
                let Self { rng, gens, .. } = self;
                gens[i].advance(rng);
            }
            (_, Some(_)) => self.begin_idx += 1,
            _ => {}
        }
    }
}

/// Query and wait statistics of one cluster.
#[derive(Debug, Clone, Default)]
pub struct QueryStats {
    pub queries: u64,
    /// Waits of the queries that waited (ms); the others waited 0.
    pub waits: Vec<i64>,
}

/// One simulated cluster with its workload.
#[derive(Debug, Clone)]
pub struct SimCluster {
    pub spec: ClusterSpec,
    /// Live replicas (creation order).
    pub replicas: Vec<SimReplica>,
    /// Replicas that are gone, for the report and the plot.
    pub history: Vec<SimReplica>,
    pub pending: Vec<Pending>,
    pub arrivals: Arrivals,
    /// Arrival times of queries waiting for a hydrated replica.
    pub waiting: VecDeque<i64>,
    /// End times of queries running now (non-decreasing).
    running: VecDeque<i64>,
    pub last_begin: Option<i64>,
    pub stats: QueryStats,
    pub credits: f64,
    pub phase: usize,
    /// Managed clusters: the configuration Materialize maintains.
    pub managed: Option<Managed>,
    /// Finished graceful resizes: request to retirement of the old replicas
    /// (ms), for the engine to collect.
    pub resize_done_ms: Vec<i64>,
}

impl SimCluster {
    pub fn new(spec: &ClusterSpec, sc: &Scenario, stream: u64, next_id: &mut u64) -> SimCluster {
        let mut c = SimCluster {
            spec: spec.clone(),
            replicas: Vec::new(),
            history: Vec::new(),
            pending: Vec::new(),
            arrivals: Arrivals::new(&spec.workload, sc, stream),
            waiting: VecDeque::new(),
            running: VecDeque::new(),
            last_begin: None,
            stats: QueryStats::default(),
            credits: 0.0,
            phase: 0,
            managed: spec.managed.as_ref().map(|m| Managed {
                size: m.size.clone(),
                replication_factor: m.replication_factor,
                resize: None,
            }),
            resize_done_ms: Vec::new(),
        };
        for r in &spec.initial_replicas {
            let Some(size) = sc.sizes.get(&r.size) else {
                continue;
            };
            let mut rep = c.make_replica(*next_id, &r.name, size, 0);
            *next_id += 1;
            if r.hydrated && rep.hydrated_ms.is_some() {
                rep.hydrated_ms = Some(0);
                rep.next_oom_ms = rep.crash_every_ms;
            }
            c.replicas.push(rep);
        }
        c
    }

    fn make_replica(&self, id: u64, name: &str, size: &ReplicaSize, t: i64) -> SimReplica {
        let w = &self.spec.workload;
        let hyd = w.hydration_ms(size).map(|d| t + d);
        SimReplica {
            id,
            name: name.to_string(),
            size: size.name.clone(),
            credits_per_hour: size.credits_per_hour,
            created_ms: t,
            hydrated_ms: hyd,
            ooms: Vec::new(),
            next_oom_ms: match (hyd, w.crash_every_ms) {
                (None, _) => Some(t + w.oom_every_ms),
                (Some(h), Some(up)) => Some(h + up),
                (Some(_), None) => None,
            },
            oom_every_ms: match (hyd, w.crash_every_ms) {
                (Some(h), Some(up)) => up + (h - t),
                _ => w.oom_every_ms,
            },
            crash_every_ms: hyd.and(w.crash_every_ms),
            rehydrate_ms: hyd.map(|h| h - t).unwrap_or(0),
            gone_ms: None,
        }
    }

    /// The earliest time at or after `t` a live replica is hydrated, if any
    /// ever will be.
    fn first_hydrated(&self, t: i64) -> Option<i64> {
        self.replicas.iter().filter_map(|r| r.serving_from(t)).min()
    }

    /// Runs everything in `(from, to]` with the replica set fixed: OOM kills,
    /// arrivals (served at once, or waiting until a replica hydrates),
    /// queries finishing.
    pub fn advance(&mut self, to: i64) {
        for r in &mut self.replicas {
            while let Some(o) = r.next_oom_ms.filter(|o| *o <= to) {
                r.ooms.push(o);
                r.next_oom_ms = Some(o + r.oom_every_ms);
            }
        }
        let svc = self.spec.workload.service_ms;
        while let Some(&a) = self.waiting.front() {
            match self.first_hydrated(a).filter(|h| *h <= to) {
                Some(h) => {
                    self.waiting.pop_front();
                    self.stats.waits.push(h - a);
                    self.running.push_back(h + svc);
                }
                None => break,
            }
        }
        while let Some(a) = self.arrivals.peek().filter(|a| *a <= to) {
            self.arrivals.pop();
            self.stats.queries += 1;
            self.last_begin = Some(a);
            match self.first_hydrated(a) {
                Some(h) if h <= a => self.running.push_back(a + svc),
                Some(h) if h <= to => {
                    self.stats.waits.push(h - a);
                    self.running.push_back(h + svc);
                }
                _ => self.waiting.push_back(a),
            }
        }
        while self.running.front().is_some_and(|e| *e <= to) {
            self.running.pop_front();
        }
    }

    /// Pending DDL takes effect at `t`. Returns whether anything changed.
    pub fn apply_pending(&mut self, t: i64, sizes: &SizeCatalog, next_id: &mut u64) -> bool {
        let resized = self.settle_resize(t);
        if self.pending.is_empty() {
            return resized;
        }
        for p in std::mem::take(&mut self.pending) {
            match p {
                Pending::Create { name, size } => {
                    if let Some(sz) = sizes.get(&size) {
                        let rep = self.make_replica(*next_id, &name, sz, t);
                        *next_id += 1;
                        self.replicas.push(rep);
                    }
                }
                Pending::Drop { name } => self.retire(t, |r| r.name == name),
                Pending::SetSize {
                    size,
                    timeout_ms,
                    requested_ms,
                } => self.set_size(t, sizes, next_id, size, t + timeout_ms, requested_ms),
                Pending::SetReplicationFactor { n } => {
                    self.set_replication_factor(t, sizes, next_id, n)
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
                r.gone_ms = Some(t);
                self.credits += cost(&r, t);
                self.history.push(r);
            } else {
                i += 1;
            }
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
            self.retire(t, |r| !r.name.ends_with(PENDING_SUFFIX));
            // The renamed replica continues as a new record, so that each
            // name's lane in the plot has one replica at a time.
            for r in &mut self.replicas {
                let mut before = r.clone();
                before.gone_ms = Some(t);
                self.credits += cost(&before, t);
                self.history.push(before);
                r.name = r.name.trim_end_matches(PENDING_SUFFIX).to_string();
                r.created_ms = t;
                if r.crash_every_ms.is_none() {
                    // (With `crash_every` its crash cycle goes on unchanged.)
                    r.hydrated_ms = Some(t);
                }
            }
            self.resize_done_ms.push(t - rz.requested_ms);
        } else if t >= rz.deadline_ms {
            self.retire(t, |r| r.name.ends_with(PENDING_SUFFIX));
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
            _ => {}
        }
        self.pending.push(p);
        Ok(())
    }

    /// The next time after `t` at which something a decision reads changes.
    pub fn next_change(&self, t: i64, crash_window: i64, lookback: i64) -> i64 {
        let mut next = i64::MAX;
        let mut consider = |x: Option<i64>| {
            if let Some(x) = x.filter(|x| *x > t) {
                next = next.min(x);
            }
        };
        consider(self.arrivals.peek());
        consider(self.running.front().copied());
        consider(self.last_begin.map(|b| b + lookback));
        for r in &self.replicas {
            consider(r.hydrated_ms);
            consider(r.next_oom_ms);
            // Hydrated again after a crash (`crash_every`).
            if r.crash_every_ms.is_some() {
                consider(r.ooms.last().map(|o| o + r.rehydrate_ms));
            }
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

    /// Statements waiting or running.
    pub fn in_flight(&self) -> u32 {
        (self.waiting.len() + self.running.len()) as u32
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
                })
                .collect();
        }
        for (o, r) in out.replicas.iter_mut().zip(&self.replicas) {
            o.hydrated = r.hydrated_at(t);
            if !r.ooms.is_empty() || o.crash.crashes > 0 {
                o.crash = r.crash_info(t, sc.crash_window_ms, sc.start);
            }
        }
        if let Some(m) = &self.managed {
            out.managed = true;
            if out.size.as_ref() != Some(&m.size) {
                out.size = Some(m.size.clone());
            }
            out.replication_factor = Some(i64::from(m.replication_factor));
        }
        out.activity = if sc.statement_logging {
            Activity {
                last_begin: self
                    .last_begin
                    .filter(|b| *b > t - lookback)
                    .map(|b| at(sc.start, b)),
                in_flight: self.in_flight(),
            }
        } else {
            Activity::default()
        };
    }

    pub fn empty_cluster(&self) -> Cluster {
        Cluster {
            id: self.spec.id.clone(),
            name: self.spec.name.clone(),
            managed: false,
            size: None,
            replication_factor: None,
            schedule: Schedule::Manual,
            has_singleton_source: false,
            replicas: Vec::new(),
            activity: Activity::default(),
            owner_id: None,
            auto_scaling: false,
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
            self.credits += cost(r, end);
        }
        for a in &self.waiting {
            self.stats.waits.push(end - a);
        }
    }
}

fn cost(r: &SimReplica, until: i64) -> f64 {
    r.credits_per_hour * (until - r.created_ms).max(0) as f64 / HOUR as f64
}
