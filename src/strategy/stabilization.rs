//! `stabilization`: the HPA convention against churn. A drop of a live
//! replica is carried out only once the strategies have wanted it for
//! `scale_down_after_s` (default 300 s) without interruption; a create only
//! once wanted for `scale_up_after_s` (default 0: at once). A flapping signal
//! restarts the clock every time it flips, so it cannot make replicas churn.
//! Deliberate suspensions are not delayed: `idle_after_s` is their window.
//! Nor are creates while no replica is hydrated (a wake, a cold start):
//! every query fails meanwhile, and there is nothing to churn.
//! Runs after every strategy and after `limits`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{Ctx, Desired, DesiredReplica, ReplicaStep, StrategyKind};

const KIND: StrategyKind = StrategyKind::Stabilization;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StabilizationConfig {
    pub scale_down_after_s: u64,
    pub scale_up_after_s: u64,
}

impl StabilizationConfig {
    pub(crate) fn parse(o: &Obj) -> Result<Self, ConfigError> {
        Ok(StabilizationConfig {
            scale_down_after_s: o
                .opt_seconds(keys::SCALE_DOWN_AFTER_S.name, 0)?
                .unwrap_or(300),
            scale_up_after_s: o.opt_seconds(keys::SCALE_UP_AFTER_S.name, 0)?.unwrap_or(0),
        })
    }
}

/// Since when each change has been wanted without interruption.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StabilizationState {
    #[serde(default)]
    pub drop_wanted_since: BTreeMap<String, DateTime<Utc>>,
    #[serde(default)]
    pub create_wanted_since: BTreeMap<String, DateTime<Utc>>,
}

/// Since when the drop of `name` has been wanted: from now on a first
/// sight, from a kill of a replica that stays (`kill`, not in the future)
/// that came since.
fn wanted_since(
    st: &mut StabilizationState,
    name: &str,
    now: DateTime<Utc>,
    kill: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let since = st.drop_wanted_since.entry(name.to_string()).or_insert(now);
    if let Some(at) = kill.filter(|at| *at > *since && *at <= now) {
        *since = at;
    }
    *since
}

fn held_for(since: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    (now - since).num_seconds().max(0) as u64
}

pub(super) fn decide(
    c: &StabilizationConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut StabilizationState,
) {
    // Scale-down: live replicas the strategies removed.
    let drops: Vec<String> = if d.suspending.is_some() {
        Vec::new()
    } else {
        d.removed
            .keys()
            .filter(|n| ctx.cluster.replica(n).is_some())
            .cloned()
            .collect()
    };
    // Drops another strategy wants but holds back itself (a retirement
    // waiting for the new replica to prove itself, a cooldown, a linger):
    // wanted all the same, so their clock runs meanwhile. It started only
    // once the hold ended, and the two waits ran one after the other (the
    // plan said "in 55s", then "in 5m": an outside check).
    let held: Vec<String> = if d.suspending.is_some() {
        Vec::new()
    } else {
        ctx.cluster
            .replicas
            .iter()
            .filter(|r| {
                let drop = ReplicaStep::Drop.of(&r.name, r.size.as_ref());
                d.deferred
                    .iter()
                    .any(|x| x.strategy.is_some_and(|k| k != KIND) && x.action == drop)
            })
            .map(|r| r.name.clone())
            .collect()
    };
    st.drop_wanted_since
        .retain(|n, _| drops.contains(n) || held.contains(n));
    // A replica that stays, killed or crashed: what the drops were wanted
    // for is not stable, so their wait starts again from it. A drop of the
    // only size that fit was wanted for five minutes in a row by
    // `shrink_to_fit` while the smaller sizes it counted on were
    // OOM-killed in turn: the larger one went before any smaller one had
    // served that long (an outside check).
    let last_kill = ctx
        .cluster
        .replicas
        .iter()
        .filter(|r| d.replicas.contains_key(&r.name))
        .filter_map(|r| Some((r.crash.last_crash?, r.name.as_str())))
        .max();
    let kill = last_kill.map(|(at, _)| at);
    for name in &held {
        wanted_since(st, name, ctx.now, kill);
    }
    for name in drops {
        let since = wanted_since(st, &name, ctx.now, kill);
        let held = held_for(since, ctx.now);
        if held >= c.scale_down_after_s {
            st.drop_wanted_since.remove(&name);
            continue;
        }
        let Some(size) = ctx.cluster.replica(&name).and_then(|r| r.size.clone()) else {
            continue;
        };
        let change = d.removed.remove(&name);
        let action = ReplicaStep::Drop.of(&name, Some(&size));
        d.replicas.insert(
            name.clone(),
            DesiredReplica {
                size,
                added_by: None,
            },
        );
        let why = change
            .as_ref()
            .map(|c| format!(" ({}: {})", c.strategy, c.reason))
            .unwrap_or_default();
        d.defer(
            KIND,
            action,
            change
                .map(|c| format!("{}: {}", c.strategy, c.reason))
                .unwrap_or_else(|| "wanted by the strategies".into()),
            Some(c.scale_down_after_s - held),
        );
        let restarted = match last_kill.filter(|(at, _)| *at == since) {
            Some((_, other)) => format!(" since {other} went offline (killed or crashed)"),
            None => String::new(),
        };
        d.note(
            KIND,
            format!("keeping {name}: its drop{why} has been wanted for {held}s{restarted} of scale_down_after_s {}", c.scale_down_after_s),
        );
    }
    // Scale-up: replicas the strategies want to create, unless nothing
    // serves without them.
    let serving = ctx.cluster.replicas.iter().any(|r| r.hydrated);
    let creates: Vec<String> = d
        .replicas
        .iter()
        .filter(|(n, r)| serving && r.added_by.is_some() && ctx.cluster.replica(n).is_none())
        .map(|(n, _)| n.clone())
        .collect();
    st.create_wanted_since.retain(|n, _| creates.contains(n));
    for name in creates {
        let since = *st
            .create_wanted_since
            .entry(name.clone())
            .or_insert(ctx.now);
        let held = held_for(since, ctx.now);
        if held >= c.scale_up_after_s {
            st.create_wanted_since.remove(&name);
            continue;
        }
        let removed = d.replicas.remove(&name);
        let action = ReplicaStep::Create.of(&name, removed.as_ref().map(|r| &r.size));
        let reason = removed
            .and_then(|r| r.added_by)
            .map(|c| format!("{}: {}", c.strategy, c.reason))
            .unwrap_or_else(|| "wanted by the strategies".into());
        d.defer(KIND, action, reason, Some(c.scale_up_after_s - held));
        d.note(
            KIND,
            format!(
                "not creating {name} yet: wanted for {held}s of scale_up_after_s {}",
                c.scale_up_after_s
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Size;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    fn step(
        cl: &crate::model::Cluster,
        c: &StabilizationConfig,
        st: &mut StabilizationState,
        at: DateTime<Utc>,
        edit: impl Fn(&mut Desired),
    ) -> Desired {
        decide_in(cl, Idle::Busy, at, |ctx, d| {
            edit(d);
            decide(c, ctx, d, st)
        })
    }

    #[test]
    fn drops_wait_for_the_window_and_flapping_restarts_it() {
        let c = StabilizationConfig::parse(&Obj::new(&serde_json::json!({})).unwrap()).unwrap();
        assert_eq!(c.scale_down_after_s, 300);
        let cl = cluster(
            "c",
            vec![
                replica("r1", "25cc", true),
                replica("c-burst", "800cc", true),
            ],
        );
        let drop_burst =
            |d: &mut Desired| d.remove("c-burst", StrategyKind::Burst, "r1 hydrated".into());
        let mut st = StabilizationState::default();
        let t0 = now();
        let d = step(&cl, &c, &mut st, t0, drop_burst);
        assert_eq!(d.names(), vec!["c-burst", "r1"], "kept at first");
        let d = step(
            &cl,
            &c,
            &mut st,
            t0 + chrono::Duration::seconds(120),
            drop_burst,
        );
        assert!(d.contains("c-burst"));
        // Due when the window is out: 180 s after 120 s of 300 (what
        // `apply --watch` wakes for).
        assert_eq!(due(&d.deferred), [("drop c-burst (800cc)", Some(180))]);
        // The signal flips: nobody wants the drop; then it is wanted again.
        step(
            &cl,
            &c,
            &mut st,
            t0 + chrono::Duration::seconds(180),
            |_| {},
        );
        let d = step(
            &cl,
            &c,
            &mut st,
            t0 + chrono::Duration::seconds(360),
            drop_burst,
        );
        assert!(d.contains("c-burst"), "the clock restarted");
        let d = step(
            &cl,
            &c,
            &mut st,
            t0 + chrono::Duration::seconds(660),
            drop_burst,
        );
        assert!(!d.contains("c-burst"), "held 300s without interruption");
    }

    /// A replica that stays killed while a drop is wanted starts its wait
    /// again: the larger size stays until the smaller ones serve
    /// `scale_down_after_s` without a kill (whatever the strategy's reason
    /// says meanwhile).
    #[test]
    fn a_kill_of_a_replica_that_stays_restarts_a_drops_wait() {
        let c = StabilizationConfig::parse(&Obj::new(&serde_json::json!({})).unwrap()).unwrap();
        let t0 = now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let with_kill = |killed: Option<i64>| {
            let mut small = replica("c_200cc", "200cc", true);
            small.crash.last_crash = killed.map(at);
            cluster("c", vec![replica("c_400cc", "400cc", true), small])
        };
        let drop_large = |d: &mut Desired| {
            d.remove(
                "c_400cc",
                StrategyKind::ShrinkToFit,
                "c_200cc is hydrated and healthy".into(),
            )
        };
        let mut st = StabilizationState::default();
        let d = step(&with_kill(None), &c, &mut st, at(0), drop_large);
        assert!(d.contains("c_400cc"));
        // Killed at 200 s, hydrated again: the wait counts from the kill.
        let d = step(&with_kill(Some(200)), &c, &mut st, at(320), drop_large);
        assert!(
            d.contains("c_400cc"),
            "wanted 320 s, but 120 s since the kill"
        );
        assert_eq!(due(&d.deferred), [("drop c_400cc (400cc)", Some(180))]);
        assert!(
            d.notes.iter().any(|n| n.contains(
                "wanted for 120s since c_200cc went offline (killed or crashed) of scale_down_after_s 300"
            )),
            "{:?}",
            d.notes
        );
        let d = step(&with_kill(Some(200)), &c, &mut st, at(499), drop_large);
        assert!(d.contains("c_400cc"));
        let d = step(&with_kill(Some(200)), &c, &mut st, at(500), drop_large);
        assert!(!d.contains("c_400cc"), "300 s without a kill");
        // A kill before the drop was wanted, or of the replica dropped,
        // does not hold it.
        let mut st = StabilizationState::default();
        let old = with_kill(Some(-60));
        step(&old, &c, &mut st, at(0), drop_large);
        assert!(!step(&old, &c, &mut st, at(300), drop_large).contains("c_400cc"));
        let mut dropped = with_kill(None);
        dropped.replicas[0].crash.last_crash = Some(at(100));
        let mut st = StabilizationState::default();
        step(&dropped, &c, &mut st, at(0), drop_large);
        assert!(!step(&dropped, &c, &mut st, at(300), drop_large).contains("c_400cc"));
    }

    /// A drop another strategy holds back itself (a retirement waiting
    /// for the new replica to prove itself) is wanted all the same: once
    /// that hold ends, the window has run meanwhile (the two waits ran in
    /// turn, and the plan's time was wrong).
    #[test]
    fn a_drop_another_strategy_holds_back_is_wanted_meanwhile() {
        let c = StabilizationConfig::parse(&Obj::new(&serde_json::json!({})).unwrap()).unwrap();
        let t0 = now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let cl = cluster(
            "c",
            vec![replica("r1", "25cc", true), replica("r_50cc", "50cc", true)],
        );
        let held = |d: &mut Desired| {
            d.defer(
                StrategyKind::TargetSize,
                ReplicaStep::Drop.of("r1", Some(&Size::from("25cc"))),
                "r_50cc went offline less than 10m ago".into(),
                Some(60),
            )
        };
        let retire =
            |d: &mut Desired| d.remove("r1", StrategyKind::TargetSize, "retiring 25cc".into());
        let mut st = StabilizationState::default();
        step(&cl, &c, &mut st, at(0), held);
        step(&cl, &c, &mut st, at(200), held);
        let d = step(&cl, &c, &mut st, at(400), retire);
        assert!(!d.contains("r1"), "wanted since 0 s: {:?}", d.notes);
        // Without the hold before, it waits the window.
        let mut st = StabilizationState::default();
        let d = step(&cl, &c, &mut st, at(400), retire);
        assert!(d.contains("r1"));
    }

    #[test]
    fn suspensions_are_not_delayed_and_creates_can_be() {
        let c = StabilizationConfig::parse(
            &Obj::new(&serde_json::json!({"scale_up_after_s": 60})).unwrap(),
        )
        .unwrap();
        let cl = cluster("c", vec![replica("r1", "25cc", true)]);
        let mut st = StabilizationState::default();
        let d = step(&cl, &c, &mut st, now(), |d| {
            d.remove("r1", StrategyKind::IdleSuspend, "idle".into());
            d.suspending = Some(crate::strategy::Change {
                strategy: StrategyKind::IdleSuspend,
                reason: "idle".into(),
            });
        });
        assert!(d.names().is_empty());
        let add = |d: &mut Desired| {
            d.add(
                "r2",
                &Size::from("50cc"),
                StrategyKind::TargetSize,
                "resize".into(),
            )
        };
        let d = step(&cl, &c, &mut st, now(), add);
        assert!(!d.contains("r2"));
        let d = step(&cl, &c, &mut st, now() + chrono::Duration::seconds(20), add);
        let due: Vec<_> = d.deferred.iter().map(|x| x.in_seconds).collect();
        assert_eq!(due, [Some(40)], "due when 60 s are out");
        let d = step(&cl, &c, &mut st, now() + chrono::Duration::seconds(60), add);
        assert!(d.contains("r2"));
        // Nothing hydrated (a wake, a cold start): created at once, as
        // every query fails until it is.
        let mut st = StabilizationState::default();
        for cold in [
            cluster("c", vec![]),
            cluster("c", vec![replica("r1", "25cc", false)]),
        ] {
            let d = step(&cold, &c, &mut st, now(), add);
            assert!(d.contains("r2"), "{:?}", cold.replicas);
        }
    }
}
