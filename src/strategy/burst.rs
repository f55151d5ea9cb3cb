//! `burst`: while nothing else is hydrated (cold start, resize, resume), add a
//! large replica named `<cluster>-burst` so queries are served; drop it once
//! another replica is hydrated (after `linger_s`, if set). A burst is never
//! on for ever: after `max_burst_s` without any other replica hydrating it is
//! dropped, an alert is raised, and it is not tried again until another
//! replica hydrates (the cluster's normal size is probably too small).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{cooldown_left, Ctx, Desired, StrategyKind};
use crate::model::{Size, SizeCatalog};

const KIND: StrategyKind = StrategyKind::Burst;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstConfig {
    pub burst_replica_size: Size,
    pub cooldown_s: u64,
    /// Keep the burst this long after another replica is hydrated.
    pub linger_s: u64,
    /// Give up on a burst that has run this long with nothing else hydrating.
    pub max_burst_s: Option<u64>,
}

impl BurstConfig {
    pub(crate) fn parse(o: &Obj, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        Ok(BurstConfig {
            burst_replica_size: o.size(keys::BURST_REPLICA_SIZE.name, sizes)?,
            cooldown_s: o.opt_seconds(keys::COOLDOWN_S.name, 0)?.unwrap_or(0),
            linger_s: o.opt_seconds(keys::LINGER_S.name, 0)?.unwrap_or(0),
            max_burst_s: o.opt_seconds(keys::MAX_BURST_S.name, 60)?,
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BurstState {
    pub last_decision_ts: Option<DateTime<Utc>>,
    pub burst_since: Option<DateTime<Utc>>,
    /// Since when another replica has been hydrated while the burst runs.
    #[serde(default)]
    pub others_hydrated_since: Option<DateTime<Utc>>,
    /// Set when `max_burst_s` ran out; cleared once another replica hydrates.
    #[serde(default)]
    pub gave_up_at: Option<DateTime<Utc>>,
}

pub fn burst_name(cluster: &str) -> String {
    format!("{cluster}-burst")
}

pub(super) fn decide(c: &BurstConfig, ctx: &Ctx, d: &mut Desired, st: &mut BurstState) {
    let name = burst_name(&ctx.cluster.name);
    let others: Vec<String> = d.replicas.keys().filter(|n| **n != name).cloned().collect();
    let other_hydrated = others.iter().find(|n| ctx.hydrated(n)).cloned();
    let has_burst = d.contains(&name);
    if other_hydrated.is_some() {
        st.gave_up_at = None;
    } else {
        st.others_hydrated_since = None;
    }
    match (other_hydrated, has_burst) {
        (Some(ready), true) => retire(c, ctx, d, st, &name, &ready),
        (None, true) => give_up_if_too_long(c, ctx, d, st, &name),
        (None, false) if !others.is_empty() => start(c, ctx, d, st, &name, others.len()),
        _ => {}
    }
}

fn cooling_down(c: &BurstConfig, ctx: &Ctx, d: &mut Desired, st: &BurstState) -> bool {
    if ctx.demand_waiting() {
        return false;
    }
    match cooldown_left(st.last_decision_ts, c.cooldown_s, ctx.now) {
        Some(left) => {
            d.note(
                KIND,
                format!("cooldown: {left}s left before the next burst change"),
            );
            true
        }
        None => false,
    }
}

fn start(
    c: &BurstConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut BurstState,
    name: &str,
    hydrating: usize,
) {
    if let Some(at) = st.gave_up_at {
        d.note(
            KIND,
            format!(
                "gave up bursting at {}; not again until another replica hydrates",
                at.to_rfc3339()
            ),
        );
        return;
    }
    if cooling_down(c, ctx, d, st) {
        return;
    }
    let reason = format!(
        "no replica is hydrated ({hydrating} hydrating): bursting with {}",
        c.burst_replica_size
    );
    d.add(name, &c.burst_replica_size, KIND, reason);
    st.burst_since = Some(ctx.now);
    st.last_decision_ts = Some(ctx.now);
}

fn retire(
    c: &BurstConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut BurstState,
    name: &str,
    ready: &str,
) {
    let since = *st.others_hydrated_since.get_or_insert(ctx.now);
    let lingered = (ctx.now - since).num_seconds().max(0) as u64;
    if lingered < c.linger_s {
        d.defer(
            KIND,
            format!("drop {name}"),
            format!("{ready} is hydrated; the burst replica lingers"),
            Some(c.linger_s - lingered),
        );
        d.note(
            KIND,
            format!(
                "{ready} is hydrated; burst lingers {}s more",
                c.linger_s - lingered
            ),
        );
        return;
    }
    if cooling_down(c, ctx, d, st) {
        return;
    }
    d.remove(
        name,
        KIND,
        format!("{ready} is hydrated: burst no longer needed"),
    );
    st.burst_since = None;
    st.others_hydrated_since = None;
    st.last_decision_ts = Some(ctx.now);
}

fn give_up_if_too_long(
    c: &BurstConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut BurstState,
    name: &str,
) {
    let (Some(max), Some(since)) = (c.max_burst_s, st.burst_since) else {
        return;
    };
    let ran = (ctx.now - since).num_seconds().max(0) as u64;
    if ran < max {
        return;
    }
    let why = format!(
        "burst ran {ran}s (max_burst_s {max}) and no other replica hydrated: the cluster's normal size is probably too small"
    );
    d.give_up(name, KIND, format!("giving up: {why}"));
    d.alert(KIND, why);
    st.gave_up_at = Some(ctx.now);
    st.burst_since = None;
    st.last_decision_ts = Some(ctx.now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    fn run(cl: &crate::model::Cluster, cfg: serde_json::Value, st: &mut BurstState) -> Desired {
        decide_in(cl, Idle::Busy, now(), |ctx, d| {
            let c = BurstConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
            decide(&c, ctx, d, st)
        })
    }

    #[test]
    fn table() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc"});
        let cases = vec![
            (
                "cold replica gets a burst",
                vec![replica("r1", "25cc", false)],
                vec!["c-burst", "r1"],
            ),
            (
                "hydrated replica needs no burst",
                vec![replica("r1", "25cc", true)],
                vec!["r1"],
            ),
            (
                "burst dropped once another hydrates",
                vec![
                    replica("r1", "25cc", true),
                    replica("c-burst", "800cc", true),
                ],
                vec!["r1"],
            ),
            (
                "burst kept while others hydrate",
                vec![
                    replica("r1", "25cc", false),
                    replica("c-burst", "800cc", true),
                ],
                vec!["c-burst", "r1"],
            ),
            ("empty cluster: nothing to burst for", vec![], vec![]),
        ];
        for (name, replicas, want) in cases {
            let cl = cluster("c", replicas);
            let d = run(&cl, cfg.clone(), &mut BurstState::default());
            assert_eq!(d.names(), want, "{name}");
        }
    }

    #[test]
    fn cooldown_holds_changes() {
        let cl = cluster(
            "c",
            vec![
                replica("r1", "25cc", true),
                replica("c-burst", "800cc", true),
            ],
        );
        let mut st = BurstState {
            last_decision_ts: Some(now() - chrono::Duration::seconds(10)),
            ..Default::default()
        };
        let d = run(
            &cl,
            serde_json::json!({"burst_replica_size": "800cc", "cooldown_s": 60}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
    }

    #[test]
    fn linger_keeps_the_burst_a_little_longer() {
        let cl = cluster(
            "c",
            vec![
                replica("r1", "25cc", true),
                replica("c-burst", "800cc", true),
            ],
        );
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "linger_s": 120});
        let mut st = BurstState::default();
        let d = run(&cl, cfg.clone(), &mut st);
        assert_eq!(
            d.names(),
            vec!["c-burst", "r1"],
            "first sighting starts the linger"
        );
        st.others_hydrated_since = Some(now() - chrono::Duration::seconds(121));
        let d = run(&cl, cfg, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
    }

    #[test]
    fn max_burst_gives_up_with_an_alert_and_does_not_retry() {
        let cl = cluster(
            "c",
            vec![
                replica("r1", "25cc", false),
                replica("c-burst", "800cc", true),
            ],
        );
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        let mut st = BurstState {
            burst_since: Some(now() - chrono::Duration::seconds(601)),
            ..Default::default()
        };
        let d = run(&cl, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert_eq!(d.alerts.len(), 1, "{:?}", d.alerts);
        assert!(st.gave_up_at.is_some());
        let after = cluster("c", vec![replica("r1", "25cc", false)]);
        let d = run(&after, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"], "no new burst after giving up");
        let hydrated = cluster("c", vec![replica("r1", "25cc", true)]);
        run(&hydrated, cfg, &mut st);
        assert!(
            st.gave_up_at.is_none(),
            "cleared once another replica hydrates"
        );
    }

    #[test]
    fn waiting_demand_bypasses_the_cooldown() {
        let mut cl = cluster("c", vec![replica("r1", "25cc", false)]);
        cl.activity.in_flight = 3;
        let mut st = BurstState {
            last_decision_ts: Some(now() - chrono::Duration::seconds(5)),
            ..Default::default()
        };
        let d = run(
            &cl,
            serde_json::json!({"burst_replica_size": "800cc", "cooldown_s": 3600}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
    }
}
