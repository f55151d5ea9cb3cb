//! `limits`: guard rails, not a strategy. Runs last and cuts back what the
//! strategies want to create so a cluster never goes above `max_replicas`
//! replicas or `max_credits_per_hour`. It never drops a live replica: a
//! cluster already above a limit is reported and only kept from growing.

use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{Ctx, Desired, StrategyKind};
use crate::model::{Size, SizeCatalog};

const KIND: StrategyKind = StrategyKind::Limits;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitsConfig {
    pub max_replicas: Option<u64>,
    pub max_credits_per_hour: Option<f64>,
}

impl LimitsConfig {
    pub(crate) fn parse(o: &Obj) -> Result<Self, ConfigError> {
        let cfg = LimitsConfig {
            max_replicas: o.opt_u64(keys::MAX_REPLICAS.name, 1)?,
            max_credits_per_hour: o.opt_positive_f64(keys::MAX_CREDITS_PER_HOUR.name)?,
        };
        if cfg.max_replicas.is_none() && cfg.max_credits_per_hour.is_none() {
            return Err(ConfigError::new(
                keys::MAX_REPLICAS.name,
                "a limits row needs max_replicas and/or max_credits_per_hour",
            ));
        }
        Ok(cfg)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitsState {}

pub(super) fn decide(c: &LimitsConfig, ctx: &Ctx, d: &mut Desired, _st: &mut LimitsState) {
    // Newly added replicas, most expensive first, are cut first.
    // Not converged: what the strategies want and the limit holds back is
    // waiting work, with its reason (it was a note, and `status` said
    // Converged of a cluster that could never reach its target).
    for (name, size, why) in d.cut_additions(ctx.cluster, ctx.sizes, false, |d| exceeded(c, ctx, d))
    {
        let why = format!("{why} (raise the limit, or ask for less)");
        // A managed cluster's replicas are Materialize's to name: what waits
        // is the resize (it named a replica that would never exist).
        let held = match ctx.cluster.managed {
            true => super::Deferred {
                strategy: Some(KIND),
                ..super::Deferred::limited(format!("resize to {size}"), why)
            },
            false => super::Deferred::limited_create(Some(KIND), &name, &size, why),
        };
        // A managed cluster's replicas of one size are one resize: said
        // once (it was listed once per replica wanted).
        if !d.deferred.iter().any(|x| x.action == held.action) {
            d.deferred.push(held);
        }
    }
    if let Some(max) = c
        .max_credits_per_hour
        .filter(|_| !ctx.sizes.credits_known())
    {
        d.note(
            KIND,
            format!(
                "max_credits_per_hour {max} is not judged: --replica-sizes names sizes without \
                 their credits"
            ),
        );
    }
    if let Some(why) = exceeded(c, ctx, d) {
        d.note(
            KIND,
            format!("already {why}; not adding replicas (live ones are never dropped for a limit)"),
        );
    }
}

/// Whether the replicas live at once during the plan exceed a limit: the
/// wanted ones, and the live ones it drops, since creates run before drops
/// (a replacement was created beside the replica it replaces, over the
/// limit until the drop).
fn exceeded(c: &LimitsConfig, ctx: &Ctx, d: &Desired) -> Option<String> {
    let (sizes, during) = at_once(ctx.cluster, d);
    Some(match breach(c, ctx.sizes, &sizes)? {
        Breach::Replicas { count, max } => {
            format!("{count} replicas{during} would exceed max_replicas {max}")
        }
        Breach::Credits { credits, max } => {
            format!("{credits} credits/h{during} would exceed max_credits_per_hour {max}")
        }
    })
}

/// A limit the replicas live at once go beyond.
pub enum Breach {
    Replicas { count: u64, max: u64 },
    Credits { credits: f64, max: f64 },
}

/// The first limit of `c` that `at_once`, the replicas live at once,
/// go beyond. Made-up credits (`--replica-sizes` naming sizes the catalog
/// does not price) are no measure of a budget: not judged, and said
/// ([`decide`]). The one rule of the plan's `limits` and of the warning of
/// a resize it never lets through (`rules::environment_findings`).
pub fn breach(c: &LimitsConfig, sizes: &SizeCatalog, at_once: &[&Size]) -> Option<Breach> {
    let count = at_once.len() as u64;
    if let Some(max) = c.max_replicas.filter(|max| count > *max) {
        return Some(Breach::Replicas { count, max });
    }
    let max = c.max_credits_per_hour.filter(|_| sizes.credits_known())?;
    let credits: f64 = at_once.iter().map(|s| sizes.credits(s)).sum();
    (credits > max + 1e-9).then_some(Breach::Credits { credits, max })
}

/// The replicas live at once while a plan wanting `d` runs on `cluster`
/// (a managed one's as Materialize runs them), and how to say it.
pub fn at_once<'a>(
    cluster: &'a crate::model::Cluster,
    d: &'a Desired,
) -> (Vec<&'a Size>, &'static str) {
    match cluster.managed {
        true => managed_at_once(cluster, d),
        false => unmanaged_at_once(cluster, d),
    }
}

/// The replicas of an unmanaged cluster live at once during the plan:
/// the wanted ones, and the live ones it drops, since creates run before
/// drops; and how to say it.
fn unmanaged_at_once<'a>(
    cluster: &'a crate::model::Cluster,
    d: &'a Desired,
) -> (Vec<&'a Size>, &'static str) {
    let dropped: Vec<&Size> = cluster
        .replicas
        .iter()
        .filter(|r| !d.contains(&r.name))
        .filter_map(|r| r.size.as_ref())
        .collect();
    let before_drops = match dropped.is_empty() {
        true => "",
        false => " at once (creates run before drops)",
    };
    let sizes = d
        .replicas
        .values()
        .map(|r| &r.size)
        .chain(dropped)
        .collect();
    (sizes, before_drops)
}

/// The replicas of a managed cluster live at once during the plan, as
/// Materialize runs them: a resize to a new size keeps the replication
/// factor (at least; more where more are wanted) and runs the new set
/// beside the old one until the cut-over; otherwise the wanted count at
/// the cluster's size. Counted as one added replica, a resize of a
/// cluster at replication factor 3 went past both limits (an outside
/// check).
fn managed_at_once<'a>(
    cluster: &'a crate::model::Cluster,
    d: &'a Desired,
) -> (Vec<&'a Size>, &'static str) {
    let current = cluster.size.as_ref();
    let new = d
        .replicas
        .iter()
        .filter(|(n, _)| cluster.replica(n).is_none())
        .map(|(_, r)| &r.size)
        .find(|s| Some(*s) != current);
    let Some(new) = new else {
        return unmanaged_at_once(cluster, d);
    };
    let rf_now = cluster
        .replication_factor
        .unwrap_or(cluster.replicas.len() as i64)
        .max(0) as usize;
    let wanted = d.replicas.values().filter(|r| &r.size == new).count();
    let woken = match rf_now {
        0 => d.superseded.len(),
        _ => 0,
    };
    let n = wanted.max(rf_now).max(woken);
    let live = cluster.replicas.iter().filter_map(|r| r.size.as_ref());
    let sizes: Vec<&Size> = live.chain(std::iter::repeat_n(new, n)).collect();
    let during = match cluster.replicas.is_empty() {
        true => "",
        false => " at once (the old replicas serve until the resize cuts over)",
    };
    (sizes, during)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Size;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    /// A managed cluster's resize counts as Materialize runs it: the
    /// replication factor's replicas of the new size beside the old ones
    /// until the cut-over (it counted one replica: a resize of a cluster
    /// at factor 3 went past both limits), and what waits is the resize.
    #[test]
    fn a_managed_resize_counts_its_replication_factor() {
        let mut cl = cluster(
            "m",
            vec![
                replica("r1", "50cc", true),
                replica("r2", "50cc", true),
                replica("r3", "50cc", true),
            ],
        );
        cl.managed = true;
        cl.size = Some(Size::from("50cc"));
        cl.replication_factor = Some(3);
        for (cfg, why) in [
            (
                serde_json::json!({"max_credits_per_hour": 3.5}),
                "4.5 credits/h at once (the old replicas serve until the resize cuts over) \
                 would exceed max_credits_per_hour 3.5",
            ),
            (
                serde_json::json!({"max_replicas": 4}),
                "6 replicas at once (the old replicas serve until the resize cuts over) \
                 would exceed max_replicas 4",
            ),
        ] {
            let d = run_after(StrategyKind::TargetSize, &cl, &[("r_100cc", "100cc")], cfg);
            assert!(!d.contains("r_100cc"), "{:?}", d.names());
            assert_eq!(d.deferred.len(), 1, "{:?}", d.deferred);
            assert_eq!(d.deferred[0].action, "resize to 100cc");
            assert!(d.deferred[0].reason.starts_with(why), "{:?}", d.deferred);
        }
        // Two replicas of the new size wanted are one resize held back.
        let two = [("r_100cc", "100cc"), ("r_100cc_2", "100cc")];
        let d = run_after(
            StrategyKind::Schedule,
            &cl,
            &two,
            serde_json::json!({"max_replicas": 4}),
        );
        assert_eq!(d.deferred.len(), 1, "{:?}", d.deferred);
        // Within both: it goes.
        let roomy = serde_json::json!({"max_credits_per_hour": 10, "max_replicas": 6});
        let d = run_after(
            StrategyKind::TargetSize,
            &cl,
            &[("r_100cc", "100cc")],
            roomy,
        );
        assert!(d.contains("r_100cc"), "{:?}", d.deferred);
    }

    /// `limits` after `kind` wanted to add `add`.
    fn run_after(
        kind: StrategyKind,
        cl: &crate::model::Cluster,
        add: &[(&str, &str)],
        cfg: serde_json::Value,
    ) -> Desired {
        let c = LimitsConfig::parse(&Obj::new(&cfg).unwrap()).unwrap();
        decide_in(cl, Idle::Busy, now(), |ctx, d| {
            for (n, s) in add {
                d.add(n, &Size::from(*s), kind, "try".into());
            }
            decide(&c, ctx, d, &mut LimitsState::default())
        })
    }

    #[test]
    fn table() {
        let live = cluster("c", vec![replica("r1", "100cc", true)]);
        type Case = (
            &'static str,
            Vec<(&'static str, &'static str)>,
            serde_json::Value,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "within limits",
                vec![("a", "25cc")],
                serde_json::json!({"max_replicas": 2}),
                vec!["a", "r1"],
            ),
            (
                "max_replicas cuts the most expensive additions first",
                vec![("a", "25cc"), ("b", "800cc")],
                serde_json::json!({"max_replicas": 2}),
                vec!["a", "r1"],
            ),
            (
                "credits cap",
                vec![("a", "25cc"), ("b", "200cc")],
                serde_json::json!({"max_credits_per_hour": 1.5}),
                vec!["a", "r1"],
            ),
            (
                "live replicas are never dropped",
                vec![],
                serde_json::json!({"max_credits_per_hour": 0.5}),
                vec!["r1"],
            ),
        ];
        for (name, add, cfg, want) in cases {
            let d = run_after(StrategyKind::Burst, &live, &add, cfg);
            assert_eq!(d.names(), want, "{name}");
            // What was cut waits, held by this row (`describe` names it).
            let cut = add.iter().filter(|(n, _)| !want.contains(n)).count();
            assert_eq!(d.deferred.len(), cut, "{name}: {:?}", d.deferred);
            assert!(
                d.deferred
                    .iter()
                    .all(|w| w.limit && w.strategy == Some(StrategyKind::Limits)),
                "{name}: {:?}",
                d.deferred
            );
        }
    }

    #[test]
    fn a_probes_largest_size_is_cut_last() {
        let live = cluster("c", vec![replica("r1", "100cc", true)]);
        let probe = [("a", "25cc"), ("b", "50cc"), ("c", "800cc")];
        let run = |cfg| run_after(StrategyKind::ShrinkToFit, &live, &probe, cfg);
        let two = serde_json::json!({"max_replicas": 2});
        assert_eq!(run(two).names(), ["c", "r1"]);
        let three = serde_json::json!({"max_replicas": 3});
        assert_eq!(run(three).names(), ["a", "c", "r1"]);
        // Alone beyond the limit, it is cut too.
        let budget = serde_json::json!({"max_credits_per_hour": 2});
        assert_eq!(run(budget).names(), ["a", "b", "r1"]);
    }

    #[test]
    fn bad_configs() {
        for v in [
            serde_json::json!({}),
            serde_json::json!({"max_replicas": 0}),
            serde_json::json!({"max_credits_per_hour": -1}),
            serde_json::json!({"max_credits_per_hour": "lots"}),
        ] {
            assert!(LimitsConfig::parse(&Obj::new(&v).unwrap()).is_err(), "{v}");
        }
    }

    /// Creates run before drops: a replacement is created beside the
    /// replica it replaces, so both count (tenth session's review: 200cc
    /// and 25cc live, 25cc dropped and 50cc created, 2.75 credits/h at
    /// once under a 2.5 limit). The 50cc waits for the next run.
    #[test]
    fn a_replica_dropped_in_the_same_plan_counts_until_the_drop() {
        let live = cluster(
            "c",
            vec![
                replica("c_200cc", "200cc", true),
                replica("c_25cc", "25cc", false),
            ],
        );
        for (cfg, why) in [
            (
                serde_json::json!({"max_credits_per_hour": 2.5}),
                "2.75 credits/h at once (creates run before drops) would exceed \
                 max_credits_per_hour 2.5",
            ),
            (
                serde_json::json!({"max_replicas": 2}),
                "3 replicas at once (creates run before drops) would exceed max_replicas 2",
            ),
        ] {
            let c = LimitsConfig::parse(&Obj::new(&cfg).unwrap()).unwrap();
            let d = decide_in(&live, Idle::Busy, now(), |ctx, d| {
                d.remove("c_25cc", StrategyKind::ShrinkToFit, "too small".into());
                d.add(
                    "c_50cc",
                    &Size::from("50cc"),
                    StrategyKind::ShrinkToFit,
                    "try".into(),
                );
                decide(&c, ctx, d, &mut LimitsState::default())
            });
            assert_eq!(d.names(), ["c_200cc"], "{cfg}");
            assert!(
                d.deferred.iter().any(|w| w.reason.starts_with(why)),
                "{cfg}: {:?}",
                d.deferred
            );
        }
        // Without the drop pending, 200cc and 50cc fit both limits.
        let after = cluster("c", vec![replica("c_200cc", "200cc", true)]);
        let d = run_after(
            StrategyKind::ShrinkToFit,
            &after,
            &[("c_50cc", "50cc")],
            serde_json::json!({"max_credits_per_hour": 2.5, "max_replicas": 2}),
        );
        assert_eq!(d.names(), ["c_200cc", "c_50cc"]);
    }
}
