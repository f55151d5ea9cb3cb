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
    st.drop_wanted_since.retain(|n, _| drops.contains(n));
    for name in drops {
        let since = *st.drop_wanted_since.entry(name.clone()).or_insert(ctx.now);
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
        d.note(
            KIND,
            format!("keeping {name}: its drop{why} has been wanted for {held}s of scale_down_after_s {}", c.scale_down_after_s),
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
