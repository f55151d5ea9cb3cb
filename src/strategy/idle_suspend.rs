//! `idle_suspend`: no replicas after `idle_after_s` without queries; demand
//! (a recent or in-flight statement) brings them back. When the statement log
//! has no data at all the cluster is never suspended for idleness unless the
//! operator opts in with `suspend_when_unknown`. The burst replica is not
//! remembered: on a wake `burst` decides afresh whether one is needed. The
//! log is sampled (reference §8.6): below [`MIN_SAMPLE_RATE`] a silence
//! proves nothing and counts as unknown; between it and 1 the silence needed
//! grows as `idle_after_s / rate` ([`idle_evidence_s`]). A logged statement
//! is always evidence of activity, whatever the rate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{cooldown_left, Ctx, Desired, Idle, StrategyKind};
use crate::model::Size;

const KIND: StrategyKind = StrategyKind::IdleSuspend;

/// Below this statement-log sample rate a silent log proves nothing:
/// idleness counts as unknown for suspending (README, "Signals").
pub const MIN_SAMPLE_RATE: f64 = 0.1;

/// How long a silence of the statement log proves `idle_after_s` of
/// idleness when the log keeps only a fraction `rate` of the statements:
/// `idle_after_s / rate`. With queries arriving at random, the chance that
/// every one of them was dropped is then what it is for a complete log
/// over `idle_after_s`. Unknown or complete logs (and rates too thin to
/// count, which suspend nothing) need `idle_after_s`.
pub fn idle_evidence_s(idle_after_s: u64, rate: Option<f64>) -> u64 {
    match rate {
        Some(r) if (MIN_SAMPLE_RATE..1.0).contains(&r) => {
            let scaled = (idle_after_s as f64 / r).ceil();
            if scaled >= keys::MAX_SECONDS as f64 {
                keys::MAX_SECONDS
            } else {
                scaled as u64
            }
        }
        _ => idle_after_s,
    }
}

/// The log keeps too few statements for a silence to mean anything.
fn too_thin(ctx: &Ctx) -> bool {
    ctx.sample_rate.is_some_and(|r| r < MIN_SAMPLE_RATE)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdleSuspendConfig {
    pub idle_after_s: u64,
    /// Minimum time between a resume and the next suspension.
    pub cooldown_s: u64,
    pub suspend_when_unknown: bool,
}

impl IdleSuspendConfig {
    pub(crate) fn parse(o: &Obj) -> Result<Self, ConfigError> {
        Ok(IdleSuspendConfig {
            idle_after_s: o.required_seconds(keys::IDLE_AFTER_S.name, 1)?,
            cooldown_s: o.opt_seconds(keys::COOLDOWN_S.name, 0)?.unwrap_or(0),
            suspend_when_unknown: o
                .opt_bool(keys::SUSPEND_WHEN_UNKNOWN.name)?
                .unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspendedReplica {
    pub name: String,
    pub size: Size,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdleSuspendState {
    /// What was running when the cluster was suspended, to bring it back.
    #[serde(default)]
    pub suspended: Vec<SuspendedReplica>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub resumed_at: Option<DateTime<Utc>>,
}

/// Before every other strategy: a cluster with demand gets back what was
/// suspended, so the strategies that follow (e.g. `burst`) see the replicas
/// the cluster is waking with in this same round.
pub(super) fn prepare(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
) {
    if let Some(idle_for) = idle_for(c, ctx) {
        if idle_for < c.idle_after_s as f64 {
            resume(ctx, d, st, idle_for);
        }
    }
}

/// Seconds idle; `None` when unknown (no activity data).
fn idle_for(_c: &IdleSuspendConfig, ctx: &Ctx) -> Option<f64> {
    match ctx.idle {
        Idle::Busy => Some(0.0),
        Idle::For(s) => Some(s),
        Idle::Unknown => None,
    }
}

/// After every other strategy: suspend an idle cluster.
pub(super) fn decide(c: &IdleSuspendConfig, ctx: &Ctx, d: &mut Desired, st: &mut IdleSuspendState) {
    let idle_for = match ctx.idle {
        Idle::Busy => Some(0.0),
        Idle::For(s) if !too_thin(ctx) => Some(s),
        Idle::For(_) | Idle::Unknown if c.suspend_when_unknown => None,
        Idle::For(_) => {
            if !d.replicas.is_empty() {
                d.note(
                    KIND,
                    format!(
                        "the statement log keeps under {:.0}% of statements: a silence proves nothing, not suspending",
                        MIN_SAMPLE_RATE * 100.0
                    ),
                );
            }
            return;
        }
        Idle::Unknown => {
            if !d.replicas.is_empty() {
                d.note(
                    KIND,
                    "no activity data (statement log empty or unreadable): not suspending",
                );
            }
            return;
        }
    };
    let needed = idle_evidence_s(c.idle_after_s, ctx.sample_rate);
    let idle = match idle_for {
        Some(s) => s >= needed as f64,
        None => true,
    };
    if idle {
        suspend(c, ctx, d, st, idle_for, needed);
    } else if needed > c.idle_after_s
        && idle_for.is_some_and(|s| s >= c.idle_after_s as f64)
        && !d.replicas.is_empty()
    {
        d.note(
            KIND,
            format!(
                "idle for {}, but the statement log is sampled: waiting for {} of silence",
                crate::model::human_duration(idle_for.unwrap_or_default().max(0.0) as u64),
                crate::model::human_duration(needed)
            ),
        );
    }
}

fn suspend(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
    idle_for: Option<f64>,
    needed: u64,
) {
    if d.replicas.is_empty() {
        return;
    }
    if let Some(left) = cooldown_left(st.resumed_at, c.cooldown_s, ctx.now) {
        d.note(
            KIND,
            format!("idle, but resumed recently: cooldown {left}s left"),
        );
        return;
    }
    let reason = match idle_for {
        Some(s) if needed > c.idle_after_s => format!(
            "idle for {} (threshold {}, +{} for the sampled statement log)",
            crate::model::human_duration(s.max(0.0) as u64),
            crate::model::human_duration(c.idle_after_s),
            crate::model::human_duration(needed - c.idle_after_s)
        ),
        Some(s) => format!(
            "idle for {} (threshold {})",
            crate::model::human_duration(s.max(0.0) as u64),
            crate::model::human_duration(c.idle_after_s)
        ),
        None => "no activity data and suspend_when_unknown is set".to_string(),
    };
    // Remember what ran, so demand brings back the same shape. Replicas a
    // previous strategy only just added are remembered too: they are what the
    // cluster should run when it wakes. Not the burst replica: brought back
    // beside a cold normal replica it would be dropped with it before
    // either served, and `burst` starts a fresh one when one is needed.
    let burst = super::burst_name(&ctx.cluster.name);
    let before: Vec<SuspendedReplica> = d
        .replicas
        .iter()
        .map(|(n, r)| SuspendedReplica {
            name: n.clone(),
            size: r.size.clone(),
        })
        .collect();
    let live_removed = before
        .iter()
        .any(|r| ctx.cluster.replica(&r.name).is_some());
    for r in &before {
        d.remove(&r.name, KIND, reason.clone());
    }
    d.suspending = Some(super::Change {
        strategy: KIND,
        reason,
    });
    if live_removed || st.suspended.is_empty() {
        st.suspended = before.into_iter().filter(|r| r.name != burst).collect();
    }
    if live_removed {
        st.suspended_at = Some(ctx.now);
    }
}

fn resume(ctx: &Ctx, d: &mut Desired, st: &mut IdleSuspendState, idle_for: f64) {
    if st.suspended_at.is_none() {
        return;
    }
    let why = if ctx.cluster.activity.in_flight > 0 {
        format!(
            "demand: {} statement(s) waiting",
            ctx.cluster.activity.in_flight
        )
    } else {
        format!("activity {:.0}s ago", idle_for)
    };
    // (State written by older versions may still list the burst replica.)
    let burst = super::burst_name(&ctx.cluster.name);
    if d.replicas.is_empty() {
        for r in st.suspended.iter().filter(|r| r.name != burst) {
            d.add(
                &r.name,
                &r.size,
                KIND,
                format!("resume after suspension ({why})"),
            );
        }
    }
    st.suspended_at = None;
    st.resumed_at = Some(ctx.now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::*;

    fn cfg(v: serde_json::Value) -> IdleSuspendConfig {
        IdleSuspendConfig::parse(&Obj::new(&v).unwrap()).unwrap()
    }

    fn step(
        cl: &crate::model::Cluster,
        c: &IdleSuspendConfig,
        idle: Idle,
        st: &mut IdleSuspendState,
    ) -> Desired {
        decide_in(cl, idle, now(), |ctx, d| {
            prepare(c, ctx, d, st);
            decide(c, ctx, d, st)
        })
    }

    #[test]
    fn table() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let unknown_ok =
            cfg(serde_json::json!({"idle_after_s": 600, "suspend_when_unknown": true}));
        let cl = cluster(
            "c",
            vec![replica("r1", "25cc", true), replica("r2", "50cc", true)],
        );
        let cases: Vec<(&str, &IdleSuspendConfig, Idle, Vec<&str>, bool)> = vec![
            (
                "busy keeps replicas",
                &c,
                Idle::Busy,
                vec!["r1", "r2"],
                false,
            ),
            (
                "short idle keeps replicas",
                &c,
                Idle::For(599.0),
                vec!["r1", "r2"],
                false,
            ),
            (
                "idle past threshold suspends",
                &c,
                Idle::For(600.0),
                vec![],
                true,
            ),
            (
                "unknown activity never suspends",
                &c,
                Idle::Unknown,
                vec!["r1", "r2"],
                false,
            ),
            (
                "unknown suspends when opted in",
                &unknown_ok,
                Idle::Unknown,
                vec![],
                true,
            ),
        ];
        for (name, c, idle, want, suspending) in cases {
            let d = step(&cl, c, idle, &mut IdleSuspendState::default());
            assert_eq!(d.names(), want, "{name}");
            assert_eq!(d.suspending.is_some(), suspending, "{name}");
        }
    }

    #[test]
    fn suspend_then_demand_resumes_the_same_replicas() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let mut st = IdleSuspendState::default();
        let live = cluster("c", vec![replica("r1", "25cc", true)]);
        let d = step(&live, &c, Idle::For(120.0), &mut st);
        assert!(d.names().is_empty());
        assert_eq!(st.suspended.len(), 1);

        let empty = cluster("c", vec![]);
        let d = step(&empty, &c, Idle::For(180.0), &mut st);
        assert!(d.names().is_empty(), "stays suspended while idle");

        let d = step(&empty, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert_eq!(d.replicas["r1"].size, Size::from("25cc"));
        assert!(st.suspended_at.is_none());
    }

    #[test]
    fn the_burst_replica_is_not_brought_back_on_a_wake() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let mut st = IdleSuspendState::default();
        let live = cluster(
            "c",
            vec![
                replica("r1", "25cc", false),
                replica("c-burst", "800cc", true),
            ],
        );
        let d = step(&live, &c, Idle::For(120.0), &mut st);
        assert!(d.names().is_empty(), "both go");
        let names: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["r1"], "only the normal replica is remembered");
        let empty = cluster("c", vec![]);
        let d = step(&empty, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        // State from an older version that remembered the burst.
        let mut old = IdleSuspendState {
            suspended: vec![
                SuspendedReplica {
                    name: "c-burst".into(),
                    size: Size::from("800cc"),
                },
                SuspendedReplica {
                    name: "r1".into(),
                    size: Size::from("25cc"),
                },
            ],
            suspended_at: Some(now() - chrono::Duration::hours(5)),
            resumed_at: None,
        };
        let d = step(&empty, &c, Idle::Busy, &mut old);
        assert_eq!(d.names(), vec!["r1"]);
    }

    /// Mutation testing found these decisions unpinned: the resume boundary,
    /// what a re-suspension remembers, the reason a wake gives, and when the
    /// "no activity data" note is due.
    #[test]
    fn resume_only_below_the_threshold() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let empty = cluster("c", vec![]);
        let suspended = || IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: Some(now() - chrono::Duration::hours(1)),
            resumed_at: None,
        };
        // Exactly at the threshold the cluster is still idle: no wake.
        let mut st = suspended();
        let d = step(&empty, &c, Idle::For(600.0), &mut st);
        assert!(d.names().is_empty());
        assert!(st.suspended_at.is_some(), "still suspended");
        assert!(st.resumed_at.is_none(), "no resume was recorded");
        // Just below it: demand, the replicas come back.
        let mut st = suspended();
        let d = step(&empty, &c, Idle::For(599.0), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert_eq!(st.resumed_at, Some(now()));
    }

    #[test]
    fn a_new_suspension_remembers_what_runs_now() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        // Woken before with r0; since then a strategy replaced it with r1.
        let mut st = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r0".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: None,
            resumed_at: Some(now() - chrono::Duration::hours(2)),
        };
        let live = cluster("c", vec![replica("r1", "50cc", true)]);
        let d = step(&live, &c, Idle::For(120.0), &mut st);
        assert!(d.names().is_empty());
        assert_eq!(
            st.suspended,
            vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("50cc"),
            }]
        );
        // Already suspended with nothing remembered: what the strategies
        // want now (not yet created) is remembered for the wake.
        let mut st = IdleSuspendState {
            suspended_at: Some(now() - chrono::Duration::hours(1)),
            ..IdleSuspendState::default()
        };
        let empty = cluster("c", vec![]);
        decide_in(&empty, Idle::For(7200.0), now(), |ctx, d| {
            d.add(
                "r_50cc",
                &Size::from("50cc"),
                StrategyKind::TargetSize,
                "t".into(),
            );
            prepare(&c, ctx, d, &mut st);
            decide(&c, ctx, d, &mut st);
        });
        assert_eq!(st.suspended.len(), 1);
        assert_eq!(st.suspended[0].name, "r_50cc");
    }

    #[test]
    fn a_wake_says_why() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let suspended = || IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: Some(now() - chrono::Duration::hours(1)),
            resumed_at: None,
        };
        let reason = |d: &Desired| {
            d.replicas["r1"]
                .added_by
                .as_ref()
                .map(|a| a.reason.clone())
                .unwrap_or_default()
        };
        let mut waiting = cluster("c", vec![]);
        waiting.activity.in_flight = 2;
        let d = step(&waiting, &c, Idle::Busy, &mut suspended());
        assert!(
            reason(&d).contains("demand: 2 statement(s) waiting"),
            "{}",
            reason(&d)
        );
        let d = step(&cluster("c", vec![]), &c, Idle::For(30.0), &mut suspended());
        assert!(reason(&d).contains("activity 30s ago"), "{}", reason(&d));
    }

    #[test]
    fn unknown_activity_is_noted_only_where_there_is_something_to_suspend() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let live = cluster("c", vec![replica("r1", "25cc", true)]);
        let d = step(&live, &c, Idle::Unknown, &mut IdleSuspendState::default());
        assert!(d.notes.iter().any(|n| n.contains("no activity data")));
        let d = step(
            &cluster("c", vec![]),
            &c,
            Idle::Unknown,
            &mut IdleSuspendState::default(),
        );
        assert!(d.notes.is_empty(), "{:?}", d.notes);
    }

    #[test]
    fn cooldown_delays_the_next_suspension_only() {
        let c = cfg(serde_json::json!({"idle_after_s": 60, "cooldown_s": 3600}));
        let mut st = IdleSuspendState {
            resumed_at: Some(now() - chrono::Duration::seconds(100)),
            ..Default::default()
        };
        let live = cluster("c", vec![replica("r1", "25cc", true)]);
        let d = step(&live, &c, Idle::For(120.0), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(d.notes.iter().any(|n| n.contains("cooldown")));
    }

    #[test]
    fn a_sampled_log_needs_a_longer_silence_and_a_thin_one_none_counts() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let cl = cluster("c", vec![replica("r1", "25cc", true)]);
        let at_rate = |rate: Option<f64>, idle: Idle| {
            decide_in(&cl, idle, now(), |ctx, d| {
                let ctx = Ctx {
                    sample_rate: rate,
                    ..ctx.clone()
                };
                decide(&c, &ctx, d, &mut IdleSuspendState::default())
            })
        };
        // Half the statements logged: 1200 s of silence are needed.
        let d = at_rate(Some(0.5), Idle::For(900.0));
        assert_eq!(d.names(), ["r1"]);
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("waiting for 20m of silence")),
            "{:?}",
            d.notes
        );
        assert!(at_rate(Some(0.5), Idle::For(1200.0)).suspending.is_some());
        // A complete log, or an unknown rate: the threshold as configured.
        assert!(at_rate(Some(1.0), Idle::For(600.0)).suspending.is_some());
        assert!(at_rate(None, Idle::For(600.0)).suspending.is_some());
        // Below 10 %: a silence proves nothing, however long.
        let d = at_rate(Some(0.05), Idle::For(1e9));
        assert!(d.suspending.is_none() && d.notes.iter().any(|n| n.contains("proves nothing")));
        assert_eq!(idle_evidence_s(600, Some(0.5)), 1200);
        assert_eq!(idle_evidence_s(600, Some(0.05)), 600);
        assert_eq!(idle_evidence_s(600, None), 600);
        assert_eq!(
            idle_evidence_s(keys::MAX_SECONDS, Some(0.5)),
            keys::MAX_SECONDS
        );
    }

    #[test]
    fn bad_configs() {
        for v in [
            serde_json::json!({}),
            serde_json::json!({"idle_after_s": 0}),
            serde_json::json!({"idle_after_s": -5}),
            serde_json::json!({"idle_after_s": "10"}),
            serde_json::json!({"idle_after_s": 10, "cooldown_s": -1}),
            serde_json::json!({"idle_after_s": 10, "suspend_when_unknown": "yes"}),
        ] {
            assert!(
                IdleSuspendConfig::parse(&Obj::new(&v).unwrap()).is_err(),
                "{v}"
            );
        }
    }
}
