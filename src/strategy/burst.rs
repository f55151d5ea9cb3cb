//! `burst`: while nothing else is hydrated (cold start, resize, resume), add a
//! large replica named `<cluster>-burst` so queries are served; drop it once
//! another replica is hydrated.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::{cooldown_left, Ctx, Desired, StrategyKind};
use crate::model::{Size, SizeCatalog};

const KIND: StrategyKind = StrategyKind::Burst;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstConfig {
    pub burst_replica_size: Size,
    pub cooldown_s: u64,
}

impl BurstConfig {
    pub(crate) fn parse(o: &Obj, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        Ok(BurstConfig {
            burst_replica_size: o.size("burst_replica_size", sizes)?,
            cooldown_s: o.opt_u64("cooldown_s", 0)?.unwrap_or(0),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BurstState {
    pub last_decision_ts: Option<DateTime<Utc>>,
    pub burst_since: Option<DateTime<Utc>>,
}

pub fn burst_name(cluster: &str) -> String {
    format!("{cluster}-burst")
}

pub(super) fn decide(c: &BurstConfig, ctx: &Ctx, d: &mut Desired, st: &mut BurstState) {
    let name = burst_name(&ctx.cluster.name);
    let others: Vec<&String> = d.replicas.keys().filter(|n| **n != name).collect();
    let other_hydrated = others
        .iter()
        .find(|n| ctx.hydrated(n))
        .map(|n| n.to_string());
    let has_burst = d.contains(&name);
    let change_wanted = match (&other_hydrated, has_burst) {
        (None, false) => !others.is_empty(),
        (Some(_), true) => true,
        _ => false,
    };
    if !change_wanted {
        return;
    }
    if let Some(left) = cooldown_left(st.last_decision_ts, c.cooldown_s, ctx.now) {
        d.note(
            KIND,
            format!("cooldown: {left}s left before the next burst change"),
        );
        return;
    }
    match other_hydrated {
        None => {
            let reason = format!(
                "no replica is hydrated ({} hydrating): bursting with {}",
                others.len(),
                c.burst_replica_size
            );
            d.add(&name, &c.burst_replica_size, KIND, reason);
            st.burst_since = Some(ctx.now);
        }
        Some(ready) => {
            d.remove(
                &name,
                KIND,
                format!("{ready} is hydrated: burst no longer needed"),
            );
            st.burst_since = None;
        }
    }
    st.last_decision_ts = Some(ctx.now);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    fn run(cl: &crate::model::Cluster, cfg: serde_json::Value, st: &mut BurstState) -> Desired {
        let sizes = sizes();
        let c = BurstConfig::parse(&Obj::new(&cfg).unwrap(), &sizes).unwrap();
        let ctx = Ctx {
            cluster: cl,
            sizes: &sizes,
            now: now(),
            idle: Idle::Busy,
        };
        let mut d = Desired::from_cluster(cl);
        decide(&c, &ctx, &mut d, st);
        d
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
            burst_since: None,
        };
        let d = run(
            &cl,
            serde_json::json!({"burst_replica_size": "800cc", "cooldown_s": 60}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
    }
}
