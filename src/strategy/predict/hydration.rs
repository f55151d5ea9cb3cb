//! How long the cluster's replicas take to be ready, learned per size from
//! its own past: each replica the plan asks for is timed from the request
//! to the first plan that sees it hydrated (provisioning included, at most
//! one interval late). A sighting that comes long after the plan before it
//! saw the replica still cold ([`trusted_gap_s`]: the controller stopped
//! for hours) teaches nothing: it would be learned as the outage's length,
//! and every wake for a week would come hours early (an outside check).
//! A size never seen is estimated from the nearest size
//! that was, scaled by their CPU (hydration is work over cores); with no
//! sample at all a default is assumed and said so.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{human_duration, Cluster, Size, SizeCatalog};

/// Samples kept per size, newest last.
const KEPT: usize = 8;
/// The estimate is the largest of the newest this many samples.
const RECENT: usize = 5;
/// A replica that took longer than this was most likely crash-looping.
const MAX_SAMPLE_S: u32 = 6 * 3600;
/// Assumed when nothing was ever measured.
pub const DEFAULT_S: u32 = 600;

/// A replica asked for and not yet seen hydrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub size: Size,
    pub since: DateTime<Utc>,
    /// The last plan that saw it not hydrated yet (`None`: none since the
    /// request, `since`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_cold: Option<DateTime<Utc>>,
}

/// The longest time between the last sighting of a replica still cold and
/// the one that finds it hydrated for that to be a sample: three of the
/// controller's intervals (`interval_s`), and at least five minutes. Longer
/// (the controller stopped, cron was down), when it hydrated is not known.
pub fn trusted_gap_s(interval_s: u64) -> i64 {
    i64::try_from(interval_s.saturating_mul(3))
        .unwrap_or(i64::MAX)
        .max(300)
}

/// Hydration times per size, in the strategy's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hydrations {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, Pending>,
    /// Seconds from request to hydrated, per size, oldest first.
    #[serde(default)]
    pub by_size: BTreeMap<Size, Vec<u32>>,
}

/// Where an estimate comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum Basis {
    /// The largest of this size's newest samples.
    Learned { samples: usize },
    /// Scaled from another size's samples by CPU.
    Scaled { from: Size },
    /// Nothing measured yet.
    Assumed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub size: Size,
    pub seconds: u32,
    #[serde(flatten)]
    pub basis: Basis,
}

impl Estimate {
    /// `11m on 200cc`, `10m on 200cc (assumed)`, `3m on 800cc (scaled from 200cc)`.
    pub fn describe(&self) -> String {
        let base = format!(
            "{} on {}",
            human_duration(u64::from(self.seconds)),
            self.size
        );
        match &self.basis {
            Basis::Learned { .. } => base,
            Basis::Scaled { from } => format!("{base} (scaled from {from})"),
            Basis::Assumed => format!("{base} (assumed: none seen yet)"),
        }
    }
}

impl Hydrations {
    /// One plan's observations: replicas seen hydrated give a sample; the
    /// replicas this plan creates (`creating`) start their clock. A pending
    /// replica that no longer exists (never created, or dropped before it
    /// hydrated) gives none, nor does one that crashed meanwhile, nor one
    /// last seen cold longer ago than [`trusted_gap_s`] of the controller's
    /// `interval_s`.
    pub fn observe(
        &mut self,
        cluster: &Cluster,
        creating: &[(String, Size)],
        now: DateTime<Utc>,
        interval_s: u64,
    ) {
        let mut done: Vec<(Size, u32)> = Vec::new();
        self.pending.retain(|name, p| match cluster.replica(name) {
            None => false,
            Some(r) if r.hydrated => {
                // A sighting dated before the request or the last cold one
                // (the server's clock stepped back) is no time at all: it
                // was learned as 0 s, and a daily cluster left 4 days a
                // week to wake on demand (an outside check).
                let gap = (now - p.seen_cold.unwrap_or(p.since)).num_seconds();
                let trusted = (0..=trusted_gap_s(interval_s)).contains(&gap) && now >= p.since;
                if r.crash.crashes == 0 && trusted {
                    let s = (now - p.since)
                        .num_seconds()
                        .clamp(0, i64::from(MAX_SAMPLE_S));
                    done.push((p.size.clone(), s as u32));
                }
                false
            }
            Some(_) => {
                p.seen_cold = Some(now);
                true
            }
        });
        for (size, s) in done {
            let v = self.by_size.entry(size).or_default();
            v.push(s);
            let excess = v.len().saturating_sub(KEPT);
            v.drain(..excess);
        }
        for (name, size) in creating {
            if cluster.replica(name).is_none() {
                self.pending.entry(name.clone()).or_insert(Pending {
                    size: size.clone(),
                    since: now,
                    seen_cold: None,
                });
            }
        }
    }

    /// How long a replica of `size` is expected to take.
    pub fn estimate(&self, size: &Size, sizes: &SizeCatalog) -> Estimate {
        if let Some(s) = self.learned(size) {
            return Estimate {
                size: size.clone(),
                seconds: s,
                basis: Basis::Learned {
                    samples: self.by_size[size].len(),
                },
            };
        }
        let rank = sizes.rank(size);
        let nearest = self
            .by_size
            .keys()
            .filter(|k| self.learned(k).is_some())
            .min_by_key(|k| match (rank, sizes.rank(k)) {
                (Some(a), Some(b)) => a.abs_diff(b),
                _ => usize::MAX,
            });
        match nearest {
            Some(k) => {
                let base = self.learned(k).unwrap_or(DEFAULT_S);
                let cores = |s: &Size| sizes.get(s).map(|z| z.cpu_cores).filter(|c| *c > 0.0);
                let scaled = match (cores(k), cores(size)) {
                    (Some(a), Some(b)) => (f64::from(base) * a / b).ceil() as u32,
                    _ => base,
                };
                Estimate {
                    size: size.clone(),
                    seconds: scaled.min(MAX_SAMPLE_S),
                    basis: Basis::Scaled { from: k.clone() },
                }
            }
            None => Estimate {
                size: size.clone(),
                seconds: DEFAULT_S,
                basis: Basis::Assumed,
            },
        }
    }

    fn learned(&self, size: &Size) -> Option<u32> {
        let v = self.by_size.get(size)?;
        v.iter().rev().take(RECENT).copied().max()
    }

    /// When a replica being timed and still cold must be seen again for
    /// its hydration to stay a sample ([`trusted_gap_s`]), an interval
    /// early: a plan's next decision (`next_change`). The controller runs
    /// every interval anyway; the simulator, which skips rounds where
    /// nothing changes, plans then, as the controller's runs would have
    /// seen the replica.
    pub fn next_sighting(&self, cluster: &Cluster, interval_s: u64) -> Option<DateTime<Utc>> {
        let within = trusted_gap_s(interval_s)
            .saturating_sub(i64::try_from(interval_s).unwrap_or(i64::MAX))
            .max(1);
        self.pending
            .iter()
            .filter(|(name, _)| cluster.replica(name).is_some_and(|r| !r.hydrated))
            .filter_map(|(_, p)| {
                p.seen_cold
                    .unwrap_or(p.since)
                    .checked_add_signed(chrono::Duration::seconds(within))
            })
            .min()
    }

    /// Seconds a replica has been hydrating, when this strategy timed it.
    pub fn hydrating_for(&self, name: &str, now: DateTime<Utc>) -> Option<i64> {
        self.pending
            .get(name)
            .map(|p| (now - p.since).num_seconds().max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::*;
    use chrono::Duration;

    #[test]
    fn learned_per_size_from_request_to_hydrated() {
        let mut h = Hydrations::default();
        let t0 = now();
        let s200 = Size::from("200cc");
        h.observe(
            &cluster("c", vec![]),
            &[("r".into(), s200.clone())],
            t0,
            300,
        );
        // Created, hydrating.
        let cold = cluster("c", vec![replica("r", "200cc", false)]);
        h.observe(&cold, &[], t0 + Duration::minutes(5), 300);
        assert!(h.by_size.is_empty());
        let warm = cluster("c", vec![replica("r", "200cc", true)]);
        h.observe(&warm, &[], t0 + Duration::minutes(11), 300);
        assert_eq!(h.by_size[&s200], vec![660]);
        assert!(h.pending.is_empty());
        let sizes = sizes();
        let e = h.estimate(&s200, &sizes);
        assert_eq!(e.seconds, 660);
        assert_eq!(e.describe(), "11m on 200cc");
        // A size never seen: scaled by CPU (800cc has 4x the cores).
        let e = h.estimate(&Size::from("800cc"), &sizes);
        assert_eq!(e.seconds, 165);
        assert_eq!(e.describe(), "2m45s on 800cc (scaled from 200cc)");
        // Two sizes seen: the nearest in rank is scaled (600cc from 800cc's
        // 2m, not from 100cc's 20m).
        let mut two = Hydrations::default();
        two.by_size.insert(Size::from("100cc"), vec![1200]);
        two.by_size.insert(Size::from("800cc"), vec![120]);
        let e = two.estimate(&Size::from("600cc"), &sizes);
        assert_eq!(e.seconds, 160, "{}", e.describe());
        // Sizes without their cores (`--replica-sizes` names them only):
        // taken as they were learned, never scaled to nothing or to hours.
        let named = SizeCatalog::from_names(&["a".into(), "b".into()]);
        let mut bare = Hydrations::default();
        bare.by_size.insert(Size::from("a"), vec![600]);
        let e = bare.estimate(&Size::from("b"), &named);
        assert_eq!(e.seconds, 600, "{}", e.describe());
        // Nothing seen at all.
        let e = Hydrations::default().estimate(&s200, &sizes);
        assert_eq!((e.seconds, e.basis), (DEFAULT_S, Basis::Assumed));
        // A slow hydration of two hours, seen cold every run, is learned
        // as it was; one of a day counts as the six-hour cap (it was most
        // likely crash-looping).
        for (hours, learned) in [(2, 7200), (24, 6 * 3600)] {
            let mut h = Hydrations::default();
            h.observe(
                &cluster("c", vec![]),
                &[("r".into(), s200.clone())],
                t0,
                300,
            );
            for run in 1..hours * 12 {
                h.observe(&cold, &[], t0 + Duration::minutes(5 * run), 300);
            }
            h.observe(&warm, &[], t0 + Duration::hours(hours), 300);
            assert_eq!(h.by_size[&s200], vec![learned]);
        }
    }

    /// The controller stopped for hours after a wake (cron down, a
    /// restart): the first run after finds the replica hydrated, but when
    /// it hydrated is not known. Learned as the outage's length (5 h for a
    /// 3-minute hydration), it made every wake for a week come hours early
    /// (an outside check): it teaches nothing. A gap within three
    /// intervals (five minutes at least) is a sample, as it was.
    #[test]
    fn a_sighting_after_an_outage_teaches_nothing() {
        let s = Size::from("50cc");
        let t0 = now();
        let cold = cluster("c", vec![replica("r", "50cc", false)]);
        let warm = cluster("c", vec![replica("r", "50cc", true)]);
        let learned = |gap_min: i64, interval_s: u64| {
            let mut h = Hydrations::default();
            h.observe(
                &cluster("c", vec![]),
                &[("r".into(), s.clone())],
                t0,
                interval_s,
            );
            h.observe(&cold, &[], t0 + Duration::minutes(1), interval_s);
            h.observe(&warm, &[], t0 + Duration::minutes(1 + gap_min), interval_s);
            assert!(h.pending.is_empty());
            h.by_size.get(&s).cloned().unwrap_or_default()
        };
        assert_eq!(learned(5 * 60, 60), Vec::<u32>::new());
        assert_eq!(learned(3, 60), vec![240]);
        assert_eq!(learned(5, 60), vec![360], "five minutes at least");
        assert_eq!(learned(6, 60), Vec::<u32>::new());
        // Cron every 5 minutes: three of its intervals.
        assert_eq!(learned(15, 300), vec![960]);
        assert_eq!(learned(16, 300), Vec::<u32>::new());
        // The clock stepped back: a sighting before the last cold one, or
        // before the request, teaches nothing (it was learned as 0 s).
        assert_eq!(learned(-2, 60), Vec::<u32>::new());
        // Never seen cold after the request: counted from it.
        let mut h = Hydrations::default();
        h.observe(&cluster("c", vec![]), &[("r".into(), s.clone())], t0, 60);
        h.observe(&warm, &[], t0 + Duration::hours(5), 60);
        assert!(h.by_size.is_empty());
    }

    #[test]
    fn the_estimate_is_the_largest_recent_sample() {
        let s = Size::from("100cc");
        let mut h = Hydrations::default();
        h.by_size
            .insert(s.clone(), vec![9000, 300, 320, 310, 500, 305, 330]);
        // 9000 is older than the newest five.
        assert_eq!(h.estimate(&s, &sizes()).seconds, 500);
        // At most eight kept.
        let t0 = now();
        for i in 0..3 {
            let name = format!("r{i}");
            h.observe(&cluster("c", vec![]), &[(name.clone(), s.clone())], t0, 60);
            h.observe(
                &cluster("c", vec![replica(&name, "100cc", true)]),
                &[],
                t0 + Duration::seconds(200),
                60,
            );
        }
        assert_eq!(h.by_size[&s].len(), 8);
    }

    #[test]
    fn replicas_that_vanish_or_crash_teach_nothing() {
        let s = Size::from("100cc");
        let mut h = Hydrations::default();
        let t0 = now();
        h.observe(&cluster("c", vec![]), &[("r".into(), s.clone())], t0, 60);
        // Never created (the DDL failed, or a later strategy cut it).
        h.observe(&cluster("c", vec![]), &[], t0 + Duration::minutes(1), 60);
        assert!(h.pending.is_empty());
        h.observe(&cluster("c", vec![]), &[("r".into(), s.clone())], t0, 60);
        let crashed = cluster("c", vec![ooming(replica("r", "100cc", true), 1)]);
        h.observe(&crashed, &[], t0 + Duration::minutes(3), 60);
        assert!(h.by_size.is_empty());
    }
}
