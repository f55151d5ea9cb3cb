//! `schedule`: replicas by the clock. Windows are cron expressions read in an
//! IANA timezone, each with a size and a replica count (0 = suspended); the
//! largest active window wins, and outside every window `default` applies.
//! Replicas are started `prewarm_s` early (or earlier, when past runs show
//! that hydration takes longer), so they are hydrated when the window opens.
//! A change of size is zero-downtime, as with `target_size`: the new replicas
//! are created first, the others retired once every new one is hydrated.
//!
//! Config (stored in `mz_cluster_strategies.config`; keys in `config`):
//!
//! ```json
//! {"timezone": "Europe/Berlin", "prewarm_s": 600,
//!  "windows": [{"cron": "0 0 8 * * Mon-Fri", "duration_s": 36000, "size": "200cc", "replicas": 1},
//!              {"cron": "0 0 1 * * *", "duration_s": 7200, "size": "800cc", "replicas": 2}],
//!  "default": {"size": "25cc", "replicas": 0}}
//! ```
//!
//! A window occurrence starting at `start` is active from `start - prewarm`
//! until `start + duration_s` (the end is exclusive; replicas are kept for the
//! whole window, not retired `prewarm` early). Overlapping active windows
//! resolve to the largest (credits per hour × replicas; ties go to the larger
//! size, then to the window listed first). When an occurrence starts, daylight
//! saving time included, is `calendar`'s answer.
//!
//! This file is the decision: which window is active, the replicas it wants,
//! what the strategy learns about hydration, and when the decision may next
//! change. It must not parse config (`config`), compute cron occurrences
//! (`calendar`), touch a database or read the clock: `now` comes in through
//! `Ctx` or as an argument.

mod calendar;
mod config;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Change, Ctx, Desired, StrategyKind};
use crate::model::{human_duration, plural, Size, SizeCatalog};

pub use config::{ScheduleConfig, Shape, Window};

const KIND: StrategyKind = StrategyKind::Schedule;

/// Learned hydration times are padded by this much: starting a little early
/// costs a few minutes of credits, starting late costs a cold window.
const PREWARM_MARGIN: f64 = 1.2;
/// Weight of the newest hydration in the learned average.
const EWMA_ALPHA: f64 = 0.3;
/// A replica that took longer than this to hydrate was most likely
/// crash-looping; it must not teach us to start windows half a day early.
const MAX_SAMPLE_S: f64 = 6.0 * 3600.0;
/// Completed hydrations kept in state for operators to read.
const RUNS_KEPT: usize = 8;

impl Window {
    /// Only a window that needs replicas is worth starting early; one that
    /// suspends the cluster opens on time.
    fn prewarm(&self, prewarm_s: u64) -> Duration {
        if self.shape.replicas == 0 {
            Duration::zero()
        } else {
            Duration::seconds(prewarm_s as i64)
        }
    }
}

impl Shape {
    fn credits(&self, sizes: &SizeCatalog) -> f64 {
        self.size
            .as_ref()
            .map_or(0.0, |s| sizes.credits(s) * f64::from(self.replicas))
    }

    fn describe(&self) -> String {
        match (&self.size, self.replicas) {
            (Some(size), n) if n > 0 => format!("{n}×{size}"),
            _ => "the cluster suspended".into(),
        }
    }
}

/// A replica this strategy asked for and has not yet seen hydrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub size: Size,
    pub requested_at: DateTime<Utc>,
}

/// One observed hydration: from the plan that requested the replica to the
/// first plan that saw it hydrated (so at most one interval too long).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HydrationRun {
    pub replica: String,
    pub size: Size,
    pub requested_at: DateTime<Utc>,
    pub hydrated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    #[serde(default)]
    pub pending: BTreeMap<String, Pending>,
    /// The most recent hydrations, oldest first.
    #[serde(default)]
    pub runs: Vec<HydrationRun>,
    /// Exponentially weighted average of the hydration times, seconds.
    #[serde(default)]
    pub hydration_s: Option<f64>,
}

/// What a cluster's slot learned of its workload, for the cluster that
/// takes over its rows (`strategy mv`): its hydration times (the average
/// its prewarm leads by, and the runs it came from). The replicas it waits
/// on to hydrate stay. `None` when it learned none.
pub(super) fn carried(st: &ScheduleState) -> Option<(ScheduleState, String)> {
    let average = st.hydration_s.filter(|s| s.is_finite() && *s >= 0.0)?;
    let kept = ScheduleState {
        runs: st.runs.clone(),
        hydration_s: Some(average),
        ..ScheduleState::default()
    };
    let n = st.runs.len();
    let said = format!(
        "a hydration time of {} ({n} hydration{})",
        human_duration(average.round() as u64),
        plural(n)
    );
    Some((kept, said))
}

impl ScheduleState {
    /// Folds the replicas seen hydrated since the last plan into the
    /// average. A pending replica that does not exist at the next plan was
    /// never created (or was dropped): it gives no sample.
    fn learn(&mut self, ctx: &Ctx) {
        let mut done = Vec::new();
        self.pending
            .retain(|name, p| match ctx.cluster.replica(name) {
                None => false,
                Some(r) if r.hydrated => {
                    done.push(HydrationRun {
                        replica: name.clone(),
                        size: p.size.clone(),
                        requested_at: p.requested_at,
                        hydrated_at: ctx.now,
                    });
                    false
                }
                Some(_) => true,
            });
        for run in done {
            // Hydrated "before" it was asked for: the database's clock
            // stepped back meanwhile. No sample (clamped to 0 it taught a
            // hydration time of nothing: an outside check).
            if run.hydrated_at < run.requested_at {
                continue;
            }
            let secs = ((run.hydrated_at - run.requested_at).num_milliseconds() as f64 / 1000.0)
                .clamp(0.0, MAX_SAMPLE_S);
            self.hydration_s = Some(match self.hydration_s {
                Some(avg) => EWMA_ALPHA * secs + (1.0 - EWMA_ALPHA) * avg,
                None => secs,
            });
            self.runs.push(run);
        }
        let excess = self.runs.len().saturating_sub(RUNS_KEPT);
        self.runs.drain(..excess);
    }

    /// The configured prewarm, or the learned hydration time with a margin
    /// when that is longer.
    pub fn prewarm_s(&self, configured: u64) -> u64 {
        let learned = self.hydration_s.filter(|h| h.is_finite()).map_or(0, |h| {
            (h.clamp(0.0, MAX_SAMPLE_S) * PREWARM_MARGIN).ceil() as u64
        });
        configured.max(learned)
    }
}

/// The window chosen for `now`, with the occurrence that makes it active.
#[derive(Debug, Clone, PartialEq)]
struct Active<'a> {
    window: &'a Window,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

pub(super) fn decide(c: &ScheduleConfig, ctx: &Ctx, d: &mut Desired, st: &mut ScheduleState) {
    st.learn(ctx);
    let prewarm_s = st.prewarm_s(c.prewarm_s);
    let (shape, why) = match choose(c, ctx.sizes, ctx.now, prewarm_s) {
        Some(a) => (&a.window.shape, window_reason(c, &a, ctx.now, prewarm_s)),
        None => match &c.default {
            Some(shape) => (
                shape,
                format!("no window active: default wants {}", shape.describe()),
            ),
            None => {
                d.note(
                    KIND,
                    "no window active and no default: leaving the replicas as they are",
                );
                return;
            }
        },
    };
    match &shape.size {
        Some(size) if shape.replicas > 0 => {
            ensure(ctx, d, st, size, shape.replicas as usize, &why);
        }
        _ => suspend(d, &why),
    }
    // Replicas we no longer want will give no sample.
    st.pending.retain(|name, _| d.contains(name));
}

/// The largest active window at `now`, if any.
fn choose<'a>(
    c: &'a ScheduleConfig,
    sizes: &SizeCatalog,
    now: DateTime<Utc>,
    prewarm_s: u64,
) -> Option<Active<'a>> {
    let rank = |a: &Active| {
        a.window
            .shape
            .size
            .as_ref()
            .and_then(|s| sizes.rank(s))
            .unwrap_or(0)
    };
    c.windows
        .iter()
        .filter_map(|w| active(w, c.tz, now, prewarm_s))
        // `max_by` keeps the last of equals: walk backwards so the first
        // listed window wins a tie.
        .rev()
        .max_by(|a, b| {
            let credits = |x: &Active| x.window.shape.credits(sizes);
            credits(a)
                .total_cmp(&credits(b))
                .then(rank(a).cmp(&rank(b)))
        })
}

/// The occurrence of `w` that makes it active at `now`: one that starts in
/// `(now - duration, now + prewarm]`. One cron lookup (two when `now -
/// duration` falls in a repeated fall-back hour).
fn active(w: &Window, tz: Tz, now: DateTime<Utc>, prewarm_s: u64) -> Option<Active<'_>> {
    let duration = Duration::seconds(w.duration_s as i64);
    let start = w
        .schedule
        .next_start(tz, now.checked_sub_signed(duration)?)?;
    let opens = start.checked_sub_signed(w.prewarm(prewarm_s))?;
    (opens <= now).then(|| Active {
        window: w,
        start,
        end: start + duration,
    })
}

/// The windows (1-based, with their cron) that never open again after
/// `now`: no occurrence is open at `now` or starts later (a year gone by,
/// `0 0 0 1 1 * 2020`). Not an invalid row, as one valid yesterday would
/// become invalid with time: `check` and `strategy set` warn.
pub fn ended_windows(c: &ScheduleConfig, now: DateTime<Utc>) -> Vec<(usize, &str)> {
    c.windows
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            let duration = Duration::seconds(w.duration_s as i64);
            now.checked_sub_signed(duration)
                .and_then(|from| w.schedule.next_start(c.tz, from))
                .is_none()
        })
        .map(|(i, w)| (i + 1, w.cron.as_str()))
        .collect()
}

/// The next instant after `now` at which the chosen window may change (a
/// window opening, prewarm included, or closing), the state held still. The
/// decision is not monotone in time, so the simulator, which skips ticks
/// where nothing changes, must plan again by then.
pub(super) fn next_change(
    c: &ScheduleConfig,
    now: DateTime<Utc>,
    st: &ScheduleState,
) -> Option<DateTime<Utc>> {
    let prewarm_s = st.prewarm_s(c.prewarm_s);
    c.windows
        .iter()
        .flat_map(|w| {
            let prewarm = w.prewarm(prewarm_s);
            let duration = Duration::seconds(w.duration_s as i64);
            let closes = now
                .checked_sub_signed(duration)
                .and_then(|from| w.schedule.next_start(c.tz, from))
                .and_then(|s| s.checked_add_signed(duration));
            let opens = now
                .checked_add_signed(prewarm)
                .and_then(|from| w.schedule.next_start(c.tz, from))
                .and_then(|s| s.checked_sub_signed(prewarm));
            [closes, opens]
        })
        .flatten()
        .filter(|t| *t > now)
        .min()
}

fn window_reason(c: &ScheduleConfig, a: &Active, now: DateTime<Utc>, prewarm_s: u64) -> String {
    let local = |t: DateTime<Utc>| {
        let t = t.with_timezone(&c.tz);
        if t.date_naive() == now.with_timezone(&c.tz).date_naive() {
            t.format("%H:%M %Z").to_string()
        } else {
            t.format("%a %Y-%m-%d %H:%M %Z").to_string()
        }
    };
    let opens = if a.start > now {
        format!(" (opens {}, prewarm {prewarm_s}s)", local(a.start))
    } else {
        String::new()
    };
    format!(
        "window '{}' ({}) wants {} until {}{opens}",
        a.window.cron,
        c.timezone,
        a.window.shape.describe(),
        local(a.end)
    )
}

/// `r_<size>`, `r_<size>_2`, …
pub fn replica_name(size: &Size, i: usize) -> String {
    if i <= 1 {
        format!("r_{size}")
    } else {
        format!("r_{size}_{i}")
    }
}

/// Exactly `n` replicas of `size`; other sizes retired once all are hydrated.
fn ensure(ctx: &Ctx, d: &mut Desired, st: &mut ScheduleState, size: &Size, n: usize, why: &str) {
    d.drop_unborn_other_sizes(ctx.cluster, size, KIND);
    d.outgoing_other_sizes(size);
    // No replica of the size yet and no room for one: an old one goes
    // first (it waited for ever at the limit, as target_size once did).
    if n > 0 && !d.has_size(size) && d.make_room(ctx, size, KIND) {
        return;
    }
    let canonical = |name: &str| (1..=n).position(|i| replica_name(size, i) == name);
    let mut have: Vec<String> = d
        .replicas
        .iter()
        .filter(|(_, r)| &r.size == size)
        .map(|(name, _)| name.clone())
        .collect();
    // Keep hydrated ones first, then our own names in order.
    have.sort_by_key(|name| {
        (
            !ctx.hydrated(name),
            canonical(name).unwrap_or(usize::MAX),
            name.clone(),
        )
    });
    for extra in have.split_off(n.min(have.len())) {
        d.remove(&extra, KIND, format!("{why}: one {size} replica too many"));
    }
    let mut free = (1..).map(|i| replica_name(size, i));
    while have.len() < n {
        let Some(name) = free.by_ref().find(|name| !d.contains(name)) else {
            break;
        };
        d.add(&name, size, KIND, why.to_string());
        if ctx.cluster.replica(&name).is_none() {
            st.pending.entry(name.clone()).or_insert(Pending {
                size: size.clone(),
                requested_at: ctx.now,
            });
        }
        have.push(name);
    }
    let others = d.other_sizes(size);
    if others.is_empty() {
        return;
    }
    let waiting = have.iter().filter(|name| !ctx.hydrated(name)).count();
    // Waiting only for replicas Materialize's replica limit keeps out while
    // the others live, with those that exist hydrated: the others go now,
    // or neither would ever happen.
    let unborn = have
        .iter()
        .filter(|name| ctx.cluster.replica(name).is_none())
        .count();
    let crowded_out = waiting > 0
        && waiting == unborn
        && have.iter().any(|name| ctx.proven(name))
        && ctx.room_for_creates().is_some_and(|room| unborn > room);
    if waiting > 0 && !crowded_out {
        d.note(
            KIND,
            format!(
                "waiting for {waiting} of {n} {size} replica(s) to hydrate before retiring {}",
                others
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return;
    }
    // One whose state outgrows its memory after hydration serves between
    // its kills: retiring the others for it left the cluster with that loop.
    if let Some((name, held, in_seconds)) = ctx.why_unproven(&have, "the other sizes stay") {
        d.hold_retirements(
            KIND,
            &others,
            &format!("{name} ({size}) {held}"),
            in_seconds,
        );
        return;
    }
    for (name, other) in others {
        let reason = if crowded_out {
            format!(
                "{why}; the {} {size} replica(s) there are hydrated and max_replicas_per_cluster \
                 leaves no room for the other {unborn} until the old ones go: retiring {other} replica",
                n - unborn
            )
        } else {
            format!("{why}; {n}×{size} hydrated: retiring {other} replica")
        };
        d.remove(&name, KIND, reason);
    }
}

/// No replicas, on purpose (so the coordinator lets the last hydrated go).
fn suspend(d: &mut Desired, why: &str) {
    d.held_empty = Some(Change {
        strategy: KIND,
        reason: why.to_string(),
    });
    if d.replicas.is_empty() {
        return;
    }
    for name in d.names() {
        d.remove(&name, KIND, why.to_string());
    }
    d.suspending = Some(Change {
        strategy: KIND,
        reason: why.to_string(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, Replica};
    use crate::strategy::config::Obj;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;
    use serde_json::json;

    /// The config of the issue: business hours, a nightly batch, suspended otherwise.
    fn berlin() -> serde_json::Value {
        json!({"timezone": "Europe/Berlin", "prewarm_s": 600,
               "windows": [{"cron": "0 0 8 * * Mon-Fri", "duration_s": 36000, "size": "200cc", "replicas": 1},
                           {"cron": "0 0 1 * * *", "duration_s": 7200, "size": "800cc", "replicas": 2}],
               "default": {"size": "25cc", "replicas": 0}})
    }

    pub(super) fn parse(v: &serde_json::Value) -> ScheduleConfig {
        ScheduleConfig::parse(&Obj::new(v).unwrap(), &sizes()).unwrap()
    }

    pub(super) fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    pub(super) fn step(
        c: &ScheduleConfig,
        cl: &Cluster,
        now: DateTime<Utc>,
        st: &mut ScheduleState,
    ) -> Desired {
        decide_in(cl, Idle::Busy, now, |ctx, d| decide(c, ctx, d, st))
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            cfg: serde_json::Value,
            /// 2026-11-23 is a Monday; Berlin is on CET (UTC+1).
            now: &'static str,
            replicas: Vec<Replica>,
            want: Vec<&'static str>,
            removed: Vec<&'static str>,
            suspending: bool,
        }
        let mut no_default = berlin();
        no_default.as_object_mut().unwrap().remove("default");
        let overlap = json!({"timezone": "Europe/Berlin",
            "windows": [{"cron": "0 0 8 * * Mon-Fri", "duration_s": 36000, "size": "200cc"},
                        {"cron": "0 0 9 * * *", "duration_s": 3600, "size": "800cc", "replicas": 2},
                        {"cron": "0 0 9 * * *", "duration_s": 3600, "size": "1600cc", "replicas": 0}]});
        let h = |n, s| replica(n, s, true);
        let cold = |n, s| replica(n, s, false);
        let cases = vec![
            Case {
                name: "inside the business window: one 200cc",
                cfg: berlin(),
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![],
                want: vec!["r_200cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "prewarm starts it 10 minutes early",
                cfg: berlin(),
                now: "2026-11-23T07:50:00+01:00",
                replicas: vec![],
                want: vec!["r_200cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "before the prewarm: default (suspended), an empty cluster stays empty",
                cfg: berlin(),
                now: "2026-11-23T07:49:59+01:00",
                replicas: vec![],
                want: vec![],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "last second of the window",
                cfg: berlin(),
                now: "2026-11-23T17:59:59+01:00",
                replicas: vec![h("r_200cc", "200cc")],
                want: vec!["r_200cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "window closed: default suspends",
                cfg: berlin(),
                now: "2026-11-23T18:00:00+01:00",
                replicas: vec![h("r_200cc", "200cc")],
                want: vec![],
                removed: vec!["r_200cc"],
                suspending: true,
            },
            Case {
                name: "weekend: no business window",
                cfg: berlin(),
                now: "2026-11-21T10:00:00+01:00",
                replicas: vec![h("r_200cc", "200cc")],
                want: vec![],
                removed: vec!["r_200cc"],
                suspending: true,
            },
            Case {
                name: "nightly window: two 800cc, named r_800cc, r_800cc_2",
                cfg: berlin(),
                now: "2026-11-22T01:30:00+01:00",
                replicas: vec![],
                want: vec!["r_800cc", "r_800cc_2"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "a suspending window is not prewarmed",
                cfg: json!({"timezone": "Europe/Berlin", "prewarm_s": 600,
                    "windows": [{"cron": "0 0 12 * * *", "duration_s": 3600, "replicas": 0}],
                    "default": {"size": "25cc", "replicas": 1}}),
                now: "2026-11-23T11:55:00+01:00",
                replicas: vec![h("r_25cc", "25cc")],
                want: vec!["r_25cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "a suspending window, open",
                cfg: json!({"timezone": "Europe/Berlin", "prewarm_s": 600,
                    "windows": [{"cron": "0 0 12 * * *", "duration_s": 3600, "replicas": 0}],
                    "default": {"size": "25cc", "replicas": 1}}),
                now: "2026-11-23T12:00:00+01:00",
                replicas: vec![h("r_25cc", "25cc")],
                want: vec![],
                removed: vec!["r_25cc"],
                suspending: true,
            },
            Case {
                name: "no default: outside every window the cluster is left alone",
                cfg: no_default,
                now: "2026-11-23T20:00:00+01:00",
                replicas: vec![h("r_200cc", "200cc")],
                want: vec!["r_200cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "overlap: the largest active window wins",
                cfg: overlap.clone(),
                now: "2026-11-23T09:30:00+01:00",
                replicas: vec![],
                want: vec!["r_800cc", "r_800cc_2"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "overlap over: back to the business window",
                cfg: overlap,
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![h("r_800cc", "800cc"), h("r_800cc_2", "800cc")],
                want: vec!["r_200cc", "r_800cc", "r_800cc_2"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "switch: the new size is created, the old one kept",
                cfg: berlin(),
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![h("r_25cc", "25cc")],
                want: vec!["r_200cc", "r_25cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "switch: old kept while the new one hydrates",
                cfg: berlin(),
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![h("r_25cc", "25cc"), cold("r_200cc", "200cc")],
                want: vec!["r_200cc", "r_25cc"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "switch: old retired once the new one is hydrated",
                cfg: berlin(),
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![h("r_25cc", "25cc"), h("r_200cc", "200cc")],
                want: vec!["r_200cc"],
                removed: vec!["r_25cc"],
                suspending: false,
            },
            Case {
                name: "switch: one of two new replicas still cold: keep the old",
                cfg: berlin(),
                now: "2026-11-23T01:30:00+01:00",
                replicas: vec![
                    h("r_200cc", "200cc"),
                    h("r_800cc", "800cc"),
                    cold("r_800cc_2", "800cc"),
                ],
                want: vec!["r_200cc", "r_800cc", "r_800cc_2"],
                removed: vec![],
                suspending: false,
            },
            Case {
                name: "fewer replicas wanted: the extra one goes at once",
                cfg: berlin(),
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![h("r_200cc", "200cc"), h("r_200cc_2", "200cc")],
                want: vec!["r_200cc"],
                removed: vec!["r_200cc_2"],
                suspending: false,
            },
            Case {
                name: "fewer replicas wanted: a hydrated one is kept over a cold one",
                cfg: berlin(),
                now: "2026-11-23T10:00:00+01:00",
                replicas: vec![cold("r_200cc", "200cc"), h("r_200cc_2", "200cc")],
                want: vec!["r_200cc_2"],
                removed: vec!["r_200cc"],
                suspending: false,
            },
        ];
        for case in cases {
            let c = parse(&case.cfg);
            let cl = cluster("c", case.replicas);
            let d = step(&c, &cl, at(case.now), &mut ScheduleState::default());
            assert_eq!(d.names(), case.want, "{}", case.name);
            let removed: Vec<&str> = d.removed.keys().map(String::as_str).collect();
            assert_eq!(removed, case.removed, "{}", case.name);
            assert_eq!(d.suspending.is_some(), case.suspending, "{}", case.name);
        }
    }

    /// The window's size hydrated again after a kill within the last 10
    /// minutes (its state may outgrow its memory after hydration: a loop
    /// that serves between kills) retires no other size yet; once it has
    /// served 10 minutes since, it does.
    #[test]
    fn a_replica_killed_lately_retires_no_other_size() {
        let c = parse(&berlin());
        let now = at("2026-11-23T10:00:00+01:00");
        let with_kill_ago = |mins: i64| {
            let r = killed_before(replica("r_200cc", "200cc", true), now, mins);
            cluster("c", vec![replica("r_25cc", "25cc", true), r])
        };
        let d = step(&c, &with_kill_ago(3), now, &mut ScheduleState::default());
        assert_eq!(d.names(), ["r_200cc", "r_25cc"]);
        assert!(d.removed.is_empty(), "{:?}", d.removed);
        // Waiting work with its time, as `target_size` holds it: the
        // cluster is not converged (it was a note, and `status` said so).
        assert_eq!(
            waiting(&d.deferred),
            [(
                "drop r_25cc (25cc)",
                "r_200cc (200cc) went offline (killed or crashed) less than 10m ago: the other \
                 sizes stay until it has served that long without",
                Some(420)
            )]
        );
        let d = step(&c, &with_kill_ago(11), now, &mut ScheduleState::default());
        assert_eq!(d.names(), ["r_200cc"]);
    }

    #[test]
    fn reasons_name_the_window() {
        let c = parse(&berlin());
        let empty = cluster("c", vec![]);
        let reason = |now: &str| {
            let d = step(&c, &empty, at(now), &mut ScheduleState::default());
            d.replicas["r_200cc"].added_by.clone().unwrap().reason
        };
        assert_eq!(
            reason("2026-11-23T10:00:00+01:00"),
            "window '0 0 8 * * Mon-Fri' (Europe/Berlin) wants 1×200cc until 18:00 CET"
        );
        assert_eq!(
            reason("2026-11-23T07:55:00+01:00"),
            "window '0 0 8 * * Mon-Fri' (Europe/Berlin) wants 1×200cc until 18:00 CET \
             (opens 08:00 CET, prewarm 600s)"
        );
        // Open from its first second: nothing left to say of its opening.
        assert_eq!(
            reason("2026-11-23T08:00:00+01:00"),
            "window '0 0 8 * * Mon-Fri' (Europe/Berlin) wants 1×200cc until 18:00 CET"
        );
        let live = cluster("c", vec![replica("r_200cc", "200cc", true)]);
        let d = step(
            &c,
            &live,
            at("2026-11-23T19:00:00+01:00"),
            &mut ScheduleState::default(),
        );
        assert_eq!(
            d.suspending.unwrap().reason,
            "no window active: default wants the cluster suspended"
        );
    }

    #[test]
    fn learned_hydration_time_widens_the_prewarm() {
        let c = parse(&json!({"timezone": "Europe/Berlin", "prewarm_s": 60,
            "windows": [{"cron": "0 0 8 * * Mon-Fri", "duration_s": 36000, "size": "200cc"}],
            "default": {"replicas": 0}}));
        let mut st = ScheduleState::default();
        // Monday 07:59: the window is a minute away, the replica is requested.
        let d = step(
            &c,
            &cluster("c", vec![]),
            at("2026-11-23T07:59:00+01:00"),
            &mut st,
        );
        assert_eq!(d.names(), vec!["r_200cc"]);
        assert_eq!(
            st.pending["r_200cc"].requested_at,
            at("2026-11-23T07:59:00+01:00")
        );
        // Created, hydrating.
        let cold = cluster("c", vec![replica("r_200cc", "200cc", false)]);
        step(&c, &cold, at("2026-11-23T08:05:00+01:00"), &mut st);
        assert!(st.hydration_s.is_none());
        // First seen hydrated 15 minutes after the request.
        let warm = cluster("c", vec![replica("r_200cc", "200cc", true)]);
        step(&c, &warm, at("2026-11-23T08:14:00+01:00"), &mut st);
        assert_eq!(st.hydration_s, Some(900.0));
        assert!(st.pending.is_empty());
        assert_eq!(st.runs.len(), 1);
        assert_eq!(st.prewarm_s(60), 1080, "900 s × 1.2");

        // Tuesday 07:43: 17 minutes before the window. The configured 60 s
        // would wait; the learned 1080 s starts the replica now.
        let tuesday = at("2026-11-24T07:43:00+01:00");
        let d = step(&c, &cluster("c", vec![]), tuesday, &mut st.clone());
        assert_eq!(d.names(), vec!["r_200cc"]);
        let d = step(
            &c,
            &cluster("c", vec![]),
            tuesday,
            &mut ScheduleState::default(),
        );
        assert!(
            d.names().is_empty(),
            "without history the window is not open yet"
        );

        // A faster hydration moves the average: 0.3 × 300 + 0.7 × 900.
        st.pending.insert(
            "r_200cc".into(),
            Pending {
                size: Size::from("200cc"),
                requested_at: at("2026-11-24T07:43:00+01:00"),
            },
        );
        step(&c, &warm, at("2026-11-24T07:48:00+01:00"), &mut st);
        assert_eq!(st.hydration_s, Some(720.0));

        // Seen hydrated "before" it was asked for (the database's clock
        // stepped back): no sample, the average stands.
        st.pending.insert(
            "r_200cc".into(),
            Pending {
                size: Size::from("200cc"),
                requested_at: at("2026-11-25T07:43:00+01:00"),
            },
        );
        let runs = st.runs.len();
        step(&c, &warm, at("2026-11-25T07:23:00+01:00"), &mut st);
        assert_eq!(st.hydration_s, Some(720.0));
        assert_eq!(st.runs.len(), runs);
        assert!(st.pending.is_empty());
    }

    #[test]
    fn prewarm_from_state() {
        let st = |h: Option<f64>| ScheduleState {
            hydration_s: h,
            ..ScheduleState::default()
        };
        assert_eq!(st(None).prewarm_s(600), 600);
        assert_eq!(
            st(Some(100.0)).prewarm_s(600),
            600,
            "config wins when longer"
        );
        assert_eq!(st(Some(1000.0)).prewarm_s(600), 1200);
        assert_eq!(st(Some(1e12)).prewarm_s(0), 25_920, "capped at 6 h × 1.2");
        assert_eq!(st(Some(f64::NAN)).prewarm_s(5), 5);
    }

    #[test]
    fn replicas_that_never_appear_teach_nothing() {
        let c = parse(&berlin());
        let mut st = ScheduleState::default();
        let empty = cluster("c", vec![]);
        step(&c, &empty, at("2026-11-23T10:00:00+01:00"), &mut st);
        assert!(st.pending.contains_key("r_200cc"));
        // Not created (another strategy removed it, or the DDL failed): the
        // request starts over rather than counting the wait as hydration.
        step(&c, &empty, at("2026-11-23T11:00:00+01:00"), &mut st);
        assert_eq!(
            st.pending["r_200cc"].requested_at,
            at("2026-11-23T11:00:00+01:00")
        );
        // Window closed before it hydrated: forgotten, no sample.
        let cold = cluster("c", vec![replica("r_200cc", "200cc", false)]);
        step(&c, &cold, at("2026-11-23T19:00:00+01:00"), &mut st);
        assert!(st.pending.is_empty());
        assert!(st.hydration_s.is_none());
    }

    #[test]
    fn next_change_is_the_next_window_boundary() {
        let c = parse(&berlin());
        let st = ScheduleState::default();
        let next = |now: &str| next_change(&c, at(now), &st);
        // In business hours: when the window closes.
        assert_eq!(
            next("2026-11-23T10:00:00+01:00"),
            Some(at("2026-11-23T18:00:00+01:00"))
        );
        // After it: when the nightly window's prewarm starts.
        assert_eq!(
            next("2026-11-23T18:00:00+01:00"),
            Some(at("2026-11-24T00:50:00+01:00"))
        );
        // A learned, longer prewarm moves it earlier.
        let slow = ScheduleState {
            hydration_s: Some(1500.0),
            ..ScheduleState::default()
        };
        assert_eq!(
            next_change(&c, at("2026-11-23T18:00:00+01:00"), &slow),
            Some(at("2026-11-24T00:30:00+01:00"))
        );
    }

    #[test]
    fn simulator_replans_at_window_boundaries() {
        // The simulator skips ticks while nothing changes; a schedule changes
        // with the clock alone (here: Saturday's 01:00 window closes while the
        // workload is quiet until the next night). Fast and exact runs agree.
        let text = r#"
            name = "t"
            days = 3
            interval = "5m"
            start = "2026-01-09T00:00:00Z"
            [[clusters]]
            name = "c"
            strategies = [{ type = "schedule", config = { timezone = "Europe/London", windows = [
                { cron = "0 0 9 * * Mon-Fri", duration_s = 28800, size = "200cc" },
                { cron = "0 0 1 * * *", duration_s = 3600, size = "400cc" },
              ], prewarm_s = 600, default = { replicas = 0 } } }]
            [clusters.workload]
            memory_gib = 10
            hydration_work = "10m"
            windows = [{ start = "01:00", duration = "30m", every = "1d", qps = 0.1 }]
        "#;
        let sc = crate::sim::scenario::parse(text, false, std::path::Path::new("."), None).unwrap();
        crate::sim::assert_fast_path_exact(text);
        let fast = crate::sim::simulate(&sc, false).unwrap();
        let f = &fast.clusters[0];
        // Fri 01:00 + 09:00, Sat 01:00, Sun 01:00: created and retired each time.
        assert_eq!(f.actions.create, 4);
        assert_eq!(f.actions.drop, 4);
        // Always-on at the size the workload needs (10 GiB: 200cc).
        assert_eq!(f.always_on.size.as_deref(), Some("200cc"));
    }
}
#[cfg(test)]
mod ended_tests {
    use super::*;
    use crate::strategy::schedule::tests::{at, parse};
    use serde_json::json;

    /// A window whose calendar has no start after now never opens again;
    /// one open now, or with a start to come, is not ended.
    #[test]
    fn a_window_ends_with_its_last_occurrence() {
        let c = parse(&json!({"timezone": "UTC", "windows": [
            {"cron": "0 0 8 * * *", "duration_s": 3600, "size": "25cc"},
            {"cron": "0 0 8 1 1 * 2020-2025", "duration_s": 3600, "size": "25cc"},
            {"cron": "0 0 8 4 Dec * 2026", "duration_s": 7200, "size": "25cc"}]}));
        let ended = |t: &str| ended_windows(&c, at(t));
        assert_eq!(
            ended("2026-12-04T05:00:00Z"),
            [(2, "0 0 8 1 1 * 2020-2025")]
        );
        // The last occurrence open: not yet; closed: ended.
        assert_eq!(
            ended("2026-12-04T09:59:59Z"),
            [(2, "0 0 8 1 1 * 2020-2025")]
        );
        assert_eq!(
            ended("2026-12-04T10:00:00Z"),
            [(2, "0 0 8 1 1 * 2020-2025"), (3, "0 0 8 4 Dec * 2026")]
        );
        assert_eq!(ended("2025-01-01T07:00:00Z"), []);
    }
}
