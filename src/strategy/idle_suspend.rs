//! `idle_suspend`: no replicas after `idle_after_s` without queries; demand
//! (a recent or in-flight statement) brings them back. When the statement log
//! has no data at all the cluster is never suspended for idleness unless the
//! operator opts in with `suspend_when_unknown`. The log is sampled
//! (reference §8.6): below [`MIN_SAMPLE_RATE`] a silence proves nothing and
//! counts as unknown; between it and 1 the silence needed grows as
//! `idle_after_s / rate` ([`idle_evidence_s`]). A logged statement is always
//! evidence of activity, whatever the rate.

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
                "idle for {:.0}s, but the statement log is sampled: waiting for {needed}s of silence",
                idle_for.unwrap_or_default()
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
            "idle for {:.0}s (threshold {}s, {needed}s with the sampled statement log)",
            s, c.idle_after_s
        ),
        Some(s) => format!("idle for {:.0}s (threshold {}s)", s, c.idle_after_s),
        None => "no activity data and suspend_when_unknown is set".to_string(),
    };
    // Remember what ran, so demand brings back the same shape. Replicas a
    // previous strategy only just added are remembered too: they are what the
    // cluster should run when it wakes.
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
        st.suspended = before;
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
    if d.replicas.is_empty() {
        for r in &st.suspended {
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
            d.notes.iter().any(|n| n.contains("waiting for 1200s")),
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
