//! One simulated replica's life: provisioned, hydrating, hydrated, OOM-killed
//! and restarted. A replica hydrates `hydration_work / cores` (times a
//! factor drawn per hydration) after it starts, unless the memory the
//! workload needs exceeds its own first: then it is killed, waits
//! `restart_delay`, and starts again. A replica too small at its start is
//! killed `oom_every` later without ever hydrating; one that hydrated is
//! killed the instant the need outgrows it (growth, a spike, load) or, with
//! `crash_every`, that long after each hydration. Times are ms since start.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::scenario::Workload;
use crate::model::{CrashInfo, ReplicaSize, Size};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Being provisioned, or restarting after a kill: hydration starts at `until`.
    Starting { until: i64 },
    /// Hydrating since `from` until `until`, when it is hydrated — or
    /// killed, if `killed`; it would have been hydrated at `done`.
    Hydrating {
        from: i64,
        until: i64,
        done: i64,
        killed: bool,
    },
    /// Hydrated since `since` until it is killed at `until` (`i64::MAX`: never).
    Hydrated { since: i64, until: i64 },
}

/// A replica that exists (or existed) in the simulated environment.
#[derive(Debug, Clone)]
pub struct SimReplica {
    pub id: u64,
    pub name: String,
    pub size: Size,
    pub credits_per_hour: f64,
    memory: f64,
    cores: f64,
    pub created_ms: i64,
    /// When its drop took effect.
    pub gone_ms: Option<i64>,
    /// OOM kill times (all of them, for the report and the crash window).
    pub ooms: Vec<i64>,
    /// When it was first hydrated, if ever.
    pub first_hydrated_ms: Option<i64>,
    /// Finished stretches of being hydrated.
    spans: Vec<(i64, i64)>,
    phase: Phase,
}

/// What a replica's transitions depend on besides itself.
pub struct Physics<'a> {
    pub workload: &'a Workload,
    pub restart_ms: i64,
    pub rng: &'a mut ChaCha8Rng,
}

impl SimReplica {
    /// A replica created at `t` that starts hydrating at `start`.
    pub fn new(id: u64, name: &str, size: &ReplicaSize, t: i64, start: i64) -> SimReplica {
        SimReplica {
            id,
            name: name.to_string(),
            size: size.name.clone(),
            credits_per_hour: size.credits_per_hour,
            memory: size.memory_bytes,
            cores: size.cpu_cores,
            created_ms: t,
            gone_ms: None,
            ooms: Vec::new(),
            first_hydrated_ms: None,
            spans: Vec::new(),
            phase: Phase::Starting { until: start },
        }
    }

    pub fn hydrated_at(&self, t: i64) -> bool {
        matches!(self.phase, Phase::Hydrated { since, .. } if since <= t)
    }

    /// Whether it was hydrated at `t` (any time in its life so far).
    pub fn was_hydrated_at(&self, t: i64) -> bool {
        self.hydrated_intervals(i64::MAX)
            .iter()
            .any(|(a, b)| *a <= t && t < *b)
    }

    /// Since when it has been hydrated, if it is.
    pub fn hydrated_since(&self) -> Option<i64> {
        match self.phase {
            Phase::Hydrated { since, .. } => Some(since),
            _ => None,
        }
    }

    /// Of `total` objects, how many it reports hydrated at `t`: all once
    /// hydrated, none while starting, and while hydrating the share of its
    /// hydration done (never all: the last one hydrates it).
    pub fn objects_at(&self, t: i64, total: u32) -> u32 {
        if self.hydrated_at(t) {
            return total;
        }
        match self.phase {
            Phase::Hydrating { from, done, .. } if done > from && t > from => {
                let share = (t - from) as f64 / (done - from) as f64;
                ((share * f64::from(total)).floor() as u32).min(total.saturating_sub(1))
            }
            _ => 0,
        }
    }

    pub fn is_hydrated(&self) -> bool {
        matches!(self.phase, Phase::Hydrated { .. })
    }

    /// When its next transition happens (`i64::MAX`: none).
    pub fn next_event(&self) -> i64 {
        match self.phase {
            Phase::Starting { until } | Phase::Hydrating { until, .. } => until,
            Phase::Hydrated { until, .. } => until,
        }
    }

    /// When it was hydrated, up to `end`.
    pub fn hydrated_intervals(&self, end: i64) -> Vec<(i64, i64)> {
        let mut out = self.spans.clone();
        if let Phase::Hydrated { since, .. } = self.phase {
            if since < end {
                out.push((since, end));
            }
        }
        out
    }

    /// Hydrated now, at once (the state it starts the run in).
    pub fn start_hydrated(&mut self, t: i64, p: &mut Physics) {
        self.become_hydrated(t, p);
    }

    /// Handles the transition due at `t` (`next_event`); returns whether
    /// it became hydrated.
    pub fn step(&mut self, t: i64, p: &mut Physics) -> bool {
        match self.phase {
            Phase::Starting { .. } => {
                self.start_hydrating(t, p);
                // Zero work: hydrated in the same instant.
                if self.next_event() == t {
                    return self.step(t, p);
                }
                false
            }
            Phase::Hydrating { killed: false, .. } => {
                self.become_hydrated(t, p);
                true
            }
            Phase::Hydrating { killed: true, .. } | Phase::Hydrated { .. } => {
                self.kill(t, p.restart_ms);
                false
            }
        }
    }

    fn start_hydrating(&mut self, s: i64, p: &mut Physics) {
        let w = p.workload;
        let nominal = w.hydration_core_ms / self.cores.max(1e-3);
        if w.need.at(s) > self.memory {
            self.phase = Phase::Hydrating {
                from: s,
                until: s + w.oom_every_ms,
                done: s + nominal.ceil() as i64,
                killed: true,
            };
            return;
        }
        let v = w.hydration_variance;
        let factor = if v > 0.0 {
            1.0 + p.rng.random_range(-v..=v)
        } else {
            1.0
        };
        let done = s + (nominal * factor).ceil() as i64;
        self.phase = match w.need.first_above(self.memory, s, done) {
            Some(k) => Phase::Hydrating {
                from: s,
                until: k,
                done,
                killed: true,
            },
            None => Phase::Hydrating {
                from: s,
                until: done,
                done,
                killed: false,
            },
        };
    }

    fn become_hydrated(&mut self, h: i64, p: &Physics) {
        let w = p.workload;
        let outgrown = w.need.first_above(self.memory, h, i64::MAX);
        let crash = w.crash_every_ms.map(|c| h + c);
        let until = match (outgrown, crash) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(i64::MAX),
        };
        self.first_hydrated_ms.get_or_insert(h);
        self.phase = Phase::Hydrated { since: h, until };
    }

    fn kill(&mut self, t: i64, restart_ms: i64) {
        self.ooms.push(t);
        self.close_span(t);
        self.phase = Phase::Starting {
            until: t + restart_ms,
        };
    }

    fn close_span(&mut self, t: i64) {
        if let Phase::Hydrated { since, .. } = self.phase {
            if since < t {
                self.spans.push((since, t));
            }
        }
    }

    /// Its drop takes effect at `t`.
    pub fn retire(&mut self, t: i64) {
        self.close_span(t);
        self.gone_ms = Some(t);
        self.phase = Phase::Starting { until: i64::MAX };
    }

    /// A managed cluster's cut-over renames it at `t`: the record so far
    /// goes to the history, this one continues from `t` (each name's lane
    /// in the plot has one replica at a time).
    pub fn split(&mut self, t: i64) -> SimReplica {
        let mut before = self.clone();
        before.retire(t);
        self.created_ms = t;
        self.spans.clear();
        self.ooms.clear();
        if let Phase::Hydrated { since, .. } = &mut self.phase {
            *since = (*since).max(t);
        }
        before
    }

    pub fn crash_info(
        &self,
        t: i64,
        window: i64,
        start: chrono::DateTime<chrono::Utc>,
    ) -> CrashInfo {
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
            last_crash: recent
                .first()
                .map(|o| start + chrono::Duration::milliseconds(*o)),
            first_crash: recent
                .last()
                .map(|o| start + chrono::Duration::milliseconds(*o)),
            last_offline: None,
        }
    }

    /// Credits it cost from its creation until `until`.
    pub fn cost(&self, until: i64) -> f64 {
        self.credits_per_hour * (until - self.created_ms).max(0) as f64
            / super::scenario::HOUR as f64
    }

    /// Test hook: hydrated from `t` on, until something kills it.
    #[cfg(test)]
    pub(crate) fn force_hydrated(&mut self, t: i64) {
        self.close_span(t);
        self.first_hydrated_ms.get_or_insert(t);
        self.phase = Phase::Hydrated {
            since: t,
            until: i64::MAX,
        };
    }

    /// Test hook: `n` OOM kills in the second before `t`; it stays down.
    #[cfg(test)]
    pub(crate) fn force_ooms(&mut self, t: i64, n: u32) {
        for k in (1..=i64::from(n)).rev() {
            self.ooms.push(t - k * 1000);
        }
        self.close_span(t);
        self.phase = Phase::Starting { until: i64::MAX };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_hydrate_in_step_with_the_hydration() {
        let size = ReplicaSize {
            name: Size("25cc".into()),
            credits_per_hour: 0.25,
            memory_bytes: 2.0 * f64::from(1 << 30),
            cpu_cores: 0.25,
        };
        let mut r = SimReplica::new(1, "r1", &size, 0, 100);
        assert_eq!(r.objects_at(50, 10), 0, "starting");
        r.phase = Phase::Hydrating {
            from: 100,
            until: 1100,
            done: 1100,
            killed: false,
        };
        let at = |r: &SimReplica, t| r.objects_at(t, 10);
        assert_eq!(
            [
                at(&r, 100),
                at(&r, 199),
                at(&r, 200),
                at(&r, 600),
                at(&r, 1099)
            ],
            [0, 0, 1, 5, 9],
            "one by one, never all before it is hydrated"
        );
        // Killed before it hydrates: the share it got to.
        r.phase = Phase::Hydrating {
            from: 100,
            until: 400,
            done: 1100,
            killed: true,
        };
        assert_eq!(at(&r, 399), 2);
        r.phase = Phase::Hydrated {
            since: 1100,
            until: i64::MAX,
        };
        assert_eq!(at(&r, 1100), 10, "hydrated: all of them");
        assert_eq!(r.objects_at(1100, 1), 1);
    }
}
