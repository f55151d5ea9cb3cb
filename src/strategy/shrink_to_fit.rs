//! `shrink_to_fit`: find the smallest size that holds the workload. Starts one
//! replica of every size up to `max_replica_size`, drops the ones that
//! crash-loop or OOM (they are too small), then drops every replica larger
//! than the smallest hydrated, healthy one. The size found is remembered:
//! when the cluster runs again (a wake, a crash) only that size is started,
//! until it stops fitting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{cooldown_left, Ctx, Desired, DesiredReplica, ReplicaStep, StrategyKind};
use crate::model::{human_duration, Replica, Size, SizeCatalog};

const KIND: StrategyKind = StrategyKind::ShrinkToFit;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShrinkToFitConfig {
    pub max_replica_size: Size,
    pub cooldown_s: u64,
    pub min_oom_count: u32,
    pub min_crash_count: u32,
    /// Forget a size found too small after this long (a size serves): the
    /// smaller sizes are then tried again beside it.
    pub refit_after_s: Option<u64>,
}

impl ShrinkToFitConfig {
    pub(crate) fn parse(o: &Obj, sizes: &SizeCatalog) -> Result<Self, ConfigError> {
        let count = |key| -> Result<u32, ConfigError> {
            let n = o.opt_u64(key, 1)?.unwrap_or(1);
            u32::try_from(n).map_err(|_| ConfigError::new(key, format!("is too large: {n}")))
        };
        Ok(ShrinkToFitConfig {
            max_replica_size: o.size(keys::MAX_REPLICA_SIZE.name, sizes)?,
            cooldown_s: o.opt_seconds(keys::COOLDOWN_S.name, 0)?.unwrap_or(0),
            min_oom_count: count(keys::MIN_OOM_COUNT.name)?,
            min_crash_count: count(keys::MIN_CRASH_COUNT.name)?,
            refit_after_s: o.opt_seconds(keys::REFIT_AFTER_S.name, 60)?,
        })
    }

    /// Why `r`'s size is given up, if it is: `min_oom_count` OOM kills,
    /// or `min_crash_count` crashes of another kind. OOM kills are crashes
    /// too: counted by both, one OOM reached the default `min_crash_count`
    /// of 1, and `min_oom_count` never held (mz-clusterctl's rule; an
    /// outside check).
    fn looping(&self, r: &Replica) -> Option<String> {
        let others = r.crash.crashes.saturating_sub(r.crash.ooms);
        if r.crash.ooms >= self.min_oom_count {
            Some(format!("{} OOM kill(s)", r.crash.ooms))
        } else if others >= self.min_crash_count {
            Some(format!("{others} crash(es) other than OOM kills"))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShrinkToFitState {
    /// Largest size seen crash-looping: not tried again (until
    /// `refit_after_s` after `too_small_at`).
    pub too_small: Option<Size>,
    /// When `too_small` was last found.
    #[serde(default)]
    pub too_small_at: Option<DateTime<Utc>>,
    /// The smallest size seen hydrated and healthy: the one to start.
    #[serde(default)]
    pub fits: Option<Size>,
    /// Sizes seen running beside a larger one that served, not known too
    /// small: each is tried once, so a try that ends without an outcome
    /// (the cluster suspended before it hydrated or failed) is not paid
    /// for again on every wake.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried_below: Vec<Size>,
    pub last_decision_ts: Option<DateTime<Utc>>,
}

/// What a cluster's slot learned of its workload, for the cluster that
/// takes over its rows (`strategy mv`): the size that fit and the size
/// found too small (with when, for `refit_after_s`), described. What
/// belongs to its replicas (the cooldown, the sizes tried beside the one
/// serving) stays. `None` when it learned neither.
pub(super) fn carried(st: &ShrinkToFitState) -> Option<(ShrinkToFitState, String)> {
    let kept = ShrinkToFitState {
        too_small: st.too_small.clone(),
        too_small_at: st.too_small.as_ref().and(st.too_small_at),
        fits: st.fits.clone(),
        ..ShrinkToFitState::default()
    };
    let said: Vec<String> = [
        kept.fits.as_ref().map(|f| format!("{f} fits")),
        kept.too_small.as_ref().map(|s| format!("{s} is too small")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!said.is_empty()).then(|| (kept, said.join(", ")))
}

pub fn replica_name(cluster: &str, size: &Size) -> String {
    super::derived_replica_name(cluster, &format!("_{size}"))
}

pub(super) fn decide(c: &ShrinkToFitConfig, ctx: &Ctx, d: &mut Desired, st: &mut ShrinkToFitState) {
    let left = cooldown_left(st.last_decision_ts, c.cooldown_s, ctx.now);
    if let (Some(left), false) = (left, ctx.demand_waiting()) {
        // What it would do now is waiting work, due when the cooldown ends
        // (it was a verbose note under "converged"); nothing changes.
        let (mut would, mut scratch) = (d.clone(), st.clone());
        step(c, ctx, &mut would, &mut scratch);
        let creates: Vec<String> = (would.replicas.iter())
            .filter(|(n, _)| !d.contains(n))
            .map(|(n, r)| ReplicaStep::Create.of(n, Some(&r.size)))
            .collect();
        let drops: Vec<String> = (d.replicas.iter())
            .filter(|(n, _)| !would.contains(n))
            .map(|(n, r)| ReplicaStep::Drop.of(n, Some(&r.size)))
            .collect();
        for action in creates.into_iter().chain(drops) {
            d.defer_for_cooldown(KIND, action, c.cooldown_s, left);
        }
        d.note(KIND, format!("cooldown: {left}s left"));
        return;
    }
    let before = d.names();
    step(c, ctx, d, st);
    if d.names() != before {
        st.last_decision_ts = Some(ctx.now);
    }
}

/// One decision, in order.
fn step(c: &ShrinkToFitConfig, ctx: &Ctx, d: &mut Desired, st: &mut ShrinkToFitState) {
    refit(c, ctx, d, st);
    drop_looping(c, ctx, d, st);
    start_candidates(c, ctx, d, st);
    drop_larger(c, ctx, d, st);
}

/// `refit_after_s` after a size was last found too small, while a size that
/// fits is known, it is tried again beside the one serving (workloads
/// shrink): the size below it becomes the one known too small, and the
/// clock starts again. One size per period, so a refit costs one replica.
fn refit(c: &ShrinkToFitConfig, ctx: &Ctx, d: &mut Desired, st: &mut ShrinkToFitState) {
    if st.too_small.is_some() && st.too_small_at.is_none() {
        // Found by a version that did not record when: the clock starts now.
        st.too_small_at = Some(ctx.now);
    }
    let (Some(after), Some(at), Some(small), Some(_)) = (
        c.refit_after_s,
        st.too_small_at,
        st.too_small.clone(),
        &st.fits,
    ) else {
        return;
    };
    let age = (ctx.now - at).num_seconds();
    if age < after as i64 {
        return;
    }
    d.note(
        KIND,
        format!(
            "{small} was found too small {} ago (refit_after_s {}): it is tried again",
            human_duration(age.max(0) as u64),
            human_duration(after)
        ),
    );
    st.too_small = ctx.sizes.below(&small);
    st.too_small_at = st.too_small.as_ref().map(|_| ctx.now);
    st.tried_below.clear();
}

fn drop_looping(c: &ShrinkToFitConfig, ctx: &Ctx, d: &mut Desired, st: &mut ShrinkToFitState) {
    let looping: Vec<(String, Size, String)> = d
        .replicas
        .iter()
        .filter_map(|(n, r)| {
            let live = ctx.cluster.replica(n)?;
            c.looping(live).map(|why| (n.clone(), r.size.clone(), why))
        })
        .collect();
    // A looping replica at the largest size allowed is the only one that
    // may ever serve (between its restarts): it stays, with an alert,
    // until another replica serves. Dropped, it left
    // the cluster with no replica and nothing to try, for good.
    let max_rank = ctx.sizes.rank(&c.max_replica_size);
    let others_serve = d.replicas.iter().any(|(n, _)| {
        !looping.iter().any(|(l, _, _)| l == n)
            && ctx
                .cluster
                .replica(n)
                .is_some_and(|live| live.hydrated && c.looping(live).is_none())
    });
    for (name, size, why) in looping {
        let kept = !others_serve && ctx.sizes.rank(&size) >= max_rank;
        if !kept {
            d.remove(&name, KIND, format!("{size} is too small: {why}"));
        } else {
            // "Too small", not "crash-loops": one OOM kill makes it so with
            // `min_oom_count` 1, where `status` says a replica crash-loops
            // at two (an outside check).
            d.alert(
                KIND,
                format!(
                    "{name} ({size}) is too small ({why} in the crash window) and no larger \
                     size is allowed: kept, as nothing else serves; raise max_replica_size"
                ),
            );
        }
        if st.fits.as_ref() == Some(&size) {
            st.fits = None;
        }
        // The largest size allowed, kept as nothing else serves, is not
        // known too small: recorded so, it was left out of the next wake
        // and of every probe after one OOM kill, and a cluster with users
        // was left with nothing for good (an outside check). The sizes
        // below it are (each holds less); it stays a size to run, alerted
        // on while it loops.
        let size = match kept {
            true => match ctx.sizes.below(&size) {
                Some(b) => b,
                None => continue,
            },
            false => size,
        };
        let bigger = match &st.too_small {
            Some(prev) => ctx.sizes.rank(&size) > ctx.sizes.rank(prev),
            None => true,
        };
        if bigger || st.too_small.as_ref() == Some(&size) {
            st.too_small = Some(size);
            st.too_small_at = Some(ctx.now);
        }
    }
}

/// Until a replica within the maximum is hydrated and healthy, keep one
/// replica of every candidate size: larger than any known-too-small size, at
/// most the maximum. Sizes already present are not added again, so a run
/// that created only some of them (a failed DDL) is completed by the next.
/// Once one serves, the sizes below it not known too small are tried
/// (sizes a replica limit kept out of the first probe, or a cluster that
/// already ran a large replica): the smallest that fits is the goal. Each
/// once: a try that ended without an outcome is not repeated.
fn start_candidates(c: &ShrinkToFitConfig, ctx: &Ctx, d: &mut Desired, st: &mut ShrinkToFitState) {
    let max_rank = ctx.sizes.rank(&c.max_replica_size);
    // A floor `--replica-sizes` leaves out still bounds the sizes offered.
    let floor = st.too_small.as_ref();
    let above_floor = |s: &Size| floor.is_none_or(|f| ctx.sizes.above(s, f));
    let serving = healthy(c, ctx, d)
        .filter(|(_, r)| ctx.sizes.rank(&r.size) <= max_rank)
        .map(|(_, r)| r.size.clone())
        .min_by_key(|s| ctx.sizes.rank(s));
    let known_fit = st.fits.clone().filter(|f| {
        let rank = ctx.sizes.rank(f);
        rank.is_some() && rank <= max_rank && above_floor(f)
    });
    if let Some(serving) = serving {
        let serving_rank = ctx.sizes.rank(&serving);
        let mut below: Vec<Size> = ctx
            .sizes
            .up_to(&serving)
            .into_iter()
            .filter(|s| s != &serving && above_floor(s))
            .collect();
        // The size that fit before, below the one serving (the cluster was
        // deployed, or woken, at a larger size: its state came with its
        // rows, `strategy mv`): tried alone, as when nothing serves. If it
        // fits, the sizes between are larger than needed; those below it
        // are tried once it serves. Not once it was tried here without an
        // outcome (it is not running, and was seen running before).
        let fit_first = known_fit.as_ref().filter(|f| {
            ctx.sizes.rank(f) < serving_rank && (d.has_size(f) || !st.tried_below.contains(f))
        });
        if let Some(fit) = fit_first {
            below.retain(|s| s == fit);
        }
        for (n, r) in &d.replicas {
            let running = ctx.cluster.replica(n).is_some();
            if running && below.contains(&r.size) && !st.tried_below.contains(&r.size) {
                st.tried_below.push(r.size.clone());
            }
        }
        give_up_stuck_tries(ctx, d, &mut st.tried_below, &serving);
        st.tried_below.retain(|s| above_floor(s));
        // One text for a try below the size that serves, whoever asked.
        let try_below = |s: &Size| match fit_first {
            Some(fit) if fit == s => {
                format!(
                    "try size {s} beside {serving}, which serves: {s} is the size that fit before"
                )
            }
            _ => format!(
                "try size {s} beside {serving}, which serves: whether {s} fits is not known yet"
            ),
        };
        adopt_unborn(ctx, d, |s| {
            if ctx.sizes.rank(s) >= serving_rank {
                Unborn::Keep
            } else if !above_floor(s) {
                Unborn::LeaveOut(format!("{s} is known to be too small"))
            } else {
                Unborn::Try(try_below(s))
            }
        });
        let untried: Vec<Size> = below
            .into_iter()
            .filter(|s| !st.tried_below.contains(s) && !d.has_size(s))
            .collect();
        for size in untried {
            let name = replica_name(&ctx.cluster.name, &size);
            d.add(&name, &size, KIND, try_below(&size));
        }
        return;
    }
    if let Some(fit) = &known_fit {
        adopt_unborn(ctx, d, |s| {
            if s == fit {
                Unborn::Try(format!("start {fit}, the size that fit before"))
            } else if ctx.sizes.rank(s) > ctx.sizes.rank(fit) {
                Unborn::Keep
            } else if !above_floor(s) {
                Unborn::LeaveOut(format!("{s} is known to be too small"))
            } else {
                Unborn::Try(format!(
                    "try size {s} beside {fit}, the size that fit before: whether {s} fits is not known yet"
                ))
            }
        });
        if d.has_size(fit) {
            d.note(
                KIND,
                format!("waiting for the {fit} replica (it fit before)"),
            );
        } else {
            let name = replica_name(&ctx.cluster.name, fit);
            d.add(
                &name,
                fit,
                KIND,
                format!("start {fit}, the size that fit before"),
            );
        }
        return;
    }
    let candidates: Vec<Size> = ctx
        .sizes
        .up_to(&c.max_replica_size)
        .into_iter()
        .filter(|s| above_floor(s))
        .collect();
    adopt_unborn(ctx, d, |s| {
        if candidates.contains(s) {
            Unborn::Try(format!("try size {s} (up to {})", c.max_replica_size))
        } else if !above_floor(s) {
            Unborn::LeaveOut(format!("{s} is known to be too small"))
        } else {
            Unborn::Keep
        }
    });
    if candidates.is_empty() {
        let said = format!(
            "every size up to {} is known too small ({} and below found so): raise \
             max_replica_size",
            c.max_replica_size,
            st.too_small.as_ref().map_or("none", |s| s.0.as_str())
        );
        // With nothing serving, the operator's to act on (a note under
        // "converged" hid it: an outside check lowered max_replica_size
        // below the only size that worked).
        let serves = healthy(c, ctx, d).next().is_some();
        match serves {
            true => d.note(KIND, said),
            false => d.alert(KIND, format!("{said}; no replica serves")),
        }
        return;
    }
    let missing: Vec<Size> = candidates.into_iter().filter(|s| !d.has_size(s)).collect();
    for size in missing {
        let name = replica_name(&ctx.cluster.name, &size);
        d.add(
            &name,
            &size,
            KIND,
            format!("try size {size} (up to {})", c.max_replica_size),
        );
    }
}

/// A replica below the size serving that has never hydrated, by the
/// stuck rule ([`Ctx::stuck_for`], with the default hydration): its try
/// ended without an outcome. Dropped, its size not tried again until a
/// refit: a replica made by hand that stayed initializing was taken for
/// this strategy's try for ever, remembered by a suspension and made again
/// at every wake (an outside check). Whoever made it: this strategy
/// decides which sizes run.
fn give_up_stuck_tries(ctx: &Ctx, d: &mut Desired, tried_below: &mut Vec<Size>, serving: &Size) {
    let serving_rank = ctx.sizes.rank(serving);
    let stuck: Vec<(String, Size, i64)> = d
        .replicas
        .iter()
        .filter(|(_, r)| ctx.sizes.rank(&r.size) < serving_rank)
        .filter_map(|(n, r)| {
            let live = ctx.cluster.replica(n)?;
            let s = ctx.stuck_for(live, None, None)?;
            Some((n.clone(), r.size.clone(), s))
        })
        .collect();
    for (name, size, s) in stuck {
        if !tried_below.contains(&size) {
            tried_below.push(size.clone());
        }
        d.remove(
            &name,
            KIND,
            format!(
                "{name} ({size}) has not hydrated in {} (given up as stuck): {size} is not \
                 tried again, {serving} serves",
                human_duration(s.max(0) as u64)
            ),
        );
    }
}

/// What becomes of a replica an earlier phase of this round wants created.
enum Unborn {
    /// Left as it is.
    Keep,
    /// This strategy's try: created with this reason.
    Try(String),
    /// Not created, for this reason.
    LeaveOut(String),
}

/// Which sizes run is this strategy's call (the module's doc), also on a
/// wake, which brings back what ran at the suspension (`idle_suspend` runs
/// first): a replica of a size known to be too small is not created, and
/// one this strategy would start is its own, with its reason and the
/// wake's (the plan named the wake alone for a probe, and a replica limit
/// did not keep the size that fit as it keeps the largest probe). `what`
/// decides each by its size.
fn adopt_unborn(ctx: &Ctx, d: &mut Desired, what: impl Fn(&Size) -> Unborn) {
    let unborn: Vec<(String, Size, String, Unborn)> = d
        .replicas
        .iter()
        .filter(|(n, _)| ctx.cluster.replica(n).is_none())
        .filter_map(|(n, r)| {
            let by = r.added_by.as_ref().filter(|c| c.strategy != KIND)?;
            let earlier = format!("{}: {}", by.strategy, by.reason);
            Some((n.clone(), r.size.clone(), earlier, what(&r.size)))
        })
        .collect();
    for (name, size, earlier, what) in unborn {
        match what {
            Unborn::Keep => {}
            Unborn::Try(reason) => d.add(
                &name,
                &size,
                KIND,
                format!("{reason}; brought back by {earlier}"),
            ),
            Unborn::LeaveOut(why) => {
                let reason = format!("not creating {name} ({size}): {why}");
                d.note(KIND, reason.clone());
                d.remove(&name, KIND, reason);
            }
        }
    }
}

/// The wanted replicas that are live, hydrated and not crash-looping.
fn healthy<'a>(
    c: &'a ShrinkToFitConfig,
    ctx: &'a Ctx,
    d: &'a Desired,
) -> impl Iterator<Item = (&'a String, &'a DesiredReplica)> {
    d.replicas.iter().filter(|(n, _)| {
        ctx.cluster
            .replica(n)
            .is_some_and(|live| live.hydrated && c.looping(live).is_none())
    })
}

fn drop_larger(c: &ShrinkToFitConfig, ctx: &Ctx, d: &mut Desired, st: &mut ShrinkToFitState) {
    // Within the thresholds, a replica killed lately retires nothing yet
    // (`Ctx::proven`, every strategy's rule): its size may serve only
    // between kills.
    let smallest = healthy(c, ctx, d)
        .filter(|(n, _)| ctx.proven(n))
        .min_by_key(|(_, r)| ctx.sizes.rank(&r.size))
        .map(|(n, r)| (n.clone(), r.size.clone()));
    let Some((best, best_size)) = smallest else {
        return;
    };
    // The smallest size seen serving. A larger one serving does not undo a
    // smaller fit (tried again beside it, `start_candidates`): only a loop
    // of its own does (`drop_looping`), or its size leaving the region.
    let smaller = st.fits.as_ref().and_then(|f| ctx.sizes.rank(f));
    if smaller.is_none_or(|f| ctx.sizes.rank(&best_size).is_some_and(|b| b <= f)) {
        st.fits = Some(best_size.clone());
    }
    let best_rank = ctx.sizes.rank(&best_size);
    let larger: Vec<(String, Size)> = d
        .replicas
        .iter()
        .filter(|(_, r)| ctx.sizes.rank(&r.size) > best_rank)
        .map(|(n, r)| (n.clone(), r.size.clone()))
        .collect();
    for (name, size) in larger {
        d.remove(
            &name,
            KIND,
            format!("{best} ({best_size}) is hydrated and healthy; {size} is larger than needed"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    fn run(
        cl: &crate::model::Cluster,
        cfg: serde_json::Value,
        st: &mut ShrinkToFitState,
    ) -> Desired {
        decide_in(cl, Idle::Busy, now(), |ctx, d| {
            let c = ShrinkToFitConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
            decide(&c, ctx, d, st)
        })
    }

    #[test]
    fn table() {
        let cfg = serde_json::json!({"max_replica_size": "100cc"});
        let cases = vec![
            (
                "empty cluster starts every size up to max",
                vec![],
                vec!["c_100cc", "c_25cc", "c_50cc"],
            ),
            (
                "smallest healthy wins",
                vec![
                    replica("c_25cc", "25cc", true),
                    replica("c_50cc", "50cc", true),
                    replica("c_100cc", "100cc", false),
                ],
                vec!["c_25cc"],
            ),
            (
                "OOM-looping smallest is dropped, next smallest wins",
                vec![
                    ooming(replica("c_25cc", "25cc", false), 2),
                    replica("c_50cc", "50cc", true),
                    replica("c_100cc", "100cc", true),
                ],
                vec!["c_50cc"],
            ),
            (
                "nothing hydrated: every candidate size runs",
                vec![
                    replica("c_25cc", "25cc", false),
                    replica("c_50cc", "50cc", false),
                ],
                vec!["c_100cc", "c_25cc", "c_50cc"],
            ),
            (
                "a run that created only some candidates is completed",
                vec![replica("c_25cc", "25cc", false)],
                vec!["c_100cc", "c_25cc", "c_50cc"],
            ),
            (
                "only a replica above max: candidates start",
                vec![replica("big", "800cc", true)],
                vec!["big", "c_100cc", "c_25cc", "c_50cc"],
            ),
        ];
        for (name, replicas, want) in cases {
            let cl = cluster("c", replicas);
            let d = run(&cl, cfg.clone(), &mut ShrinkToFitState::default());
            assert_eq!(d.names(), want, "{name}");
        }
    }

    #[test]
    fn a_cooldown_holds_changes_back_as_waiting_work() {
        // Three sizes serve; the two larger ones go once the cooldown ends
        // (status said Converged, "the replicas are what the strategies want").
        let cl = cluster(
            "c",
            vec![
                replica("c_25cc", "25cc", true),
                replica("c_50cc", "50cc", true),
                replica("c_100cc", "100cc", true),
            ],
        );
        let mut st = ShrinkToFitState {
            last_decision_ts: Some(now() - chrono::Duration::seconds(10)),
            ..Default::default()
        };
        let d = run(
            &cl,
            serde_json::json!({"max_replica_size": "100cc", "cooldown_s": 3600}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c_100cc", "c_25cc", "c_50cc"]);
        assert_eq!(
            due(&d.deferred),
            [
                ("drop c_100cc (100cc)", Some(3590)),
                ("drop c_50cc (50cc)", Some(3590))
            ]
        );
        assert_eq!(st.fits, None, "nothing decided during the cooldown");
    }

    #[test]
    fn the_cooldown_starts_when_the_replica_set_changes() {
        let cfg = serde_json::json!({"max_replica_size": "50cc", "cooldown_s": 600});
        // Converged (one healthy replica of the smallest size): no change,
        // no cooldown.
        let mut st = ShrinkToFitState::default();
        let converged = cluster("c", vec![replica("c_25cc", "25cc", true)]);
        run(&converged, cfg.clone(), &mut st);
        assert_eq!(st.last_decision_ts, None);
        // A change (the larger size goes): the cooldown starts now.
        let two = cluster(
            "c",
            vec![
                replica("c_25cc", "25cc", true),
                replica("c_50cc", "50cc", true),
            ],
        );
        let d = run(&two, cfg, &mut st);
        assert_eq!(d.names(), vec!["c_25cc"]);
        assert_eq!(st.last_decision_ts, Some(now()));
    }

    #[test]
    fn too_small_sizes_are_not_retried() {
        let mut st = ShrinkToFitState::default();
        let cl = cluster("c", vec![ooming(replica("c_25cc", "25cc", true), 1)]);
        let d = run(
            &cl,
            serde_json::json!({"max_replica_size": "100cc"}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c_100cc", "c_50cc"]);
        assert_eq!(st.too_small, Some(Size::from("25cc")));
    }

    #[test]
    fn the_largest_size_looping_alone_is_kept_with_an_alert() {
        // Dropped, it left the cluster with no replica and nothing to try.
        let mut st = ShrinkToFitState::default();
        let cl = cluster("c", vec![ooming(replica("c_50cc", "50cc", false), 1)]);
        let d = run(
            &cl,
            serde_json::json!({"max_replica_size": "50cc"}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c_50cc"]);
        // The sizes below it are known too small, not it: it is the only
        // one that may serve, so a wake or a probe brings it back (one OOM
        // kill left a cluster with users with nothing for good: an outside
        // check).
        assert_eq!(st.too_small, Some(Size::from("25cc")));
        let woken = cluster("c", vec![]);
        let mut asleep = st.clone();
        let d0 = run(
            &woken,
            serde_json::json!({"max_replica_size": "50cc"}),
            &mut asleep,
        );
        assert_eq!(d0.names(), vec!["c_50cc"]);
        // Until another replica serves (a raised max_replica_size).
        let raised = cluster(
            "c",
            vec![
                ooming(replica("c_50cc", "50cc", false), 2),
                replica("c_100cc", "100cc", true),
            ],
        );
        let mut after = st.clone();
        let d2 = run(
            &raised,
            serde_json::json!({"max_replica_size": "100cc"}),
            &mut after,
        );
        assert_eq!(d2.names(), vec!["c_100cc"]);
        assert!(
            d.alerts
                .iter()
                .any(|a| a.contains("c_50cc (50cc) is too small (")
                    && a.contains("raise max_replica_size")),
            "{:?}",
            d.alerts
        );
    }

    #[test]
    fn the_largest_size_looping_goes_only_once_another_replica_serves() {
        // A replica above the maximum (an operator's) serves: the looping
        // 50cc is not needed to serve and goes.
        let cfg = serde_json::json!({"max_replica_size": "50cc"});
        let looping = || ooming(replica("c_50cc", "50cc", false), 2);
        let serving = cluster("c", vec![looping(), replica("big", "800cc", true)]);
        let d = run(&serving, cfg.clone(), &mut ShrinkToFitState::default());
        assert_eq!(d.names(), vec!["big"]);
        assert!(d.alerts.is_empty(), "{:?}", d.alerts);
        // It does not serve yet: the looping 50cc stays, with the alert.
        let hydrating = cluster("c", vec![looping(), replica("big", "800cc", false)]);
        let d = run(&hydrating, cfg, &mut ShrinkToFitState::default());
        assert_eq!(d.names(), vec!["big", "c_50cc"]);
        assert!(
            d.alerts
                .iter()
                .any(|a| a.contains("c_50cc (50cc) is too small (")),
            "{:?}",
            d.alerts
        );
    }

    #[test]
    fn the_size_that_fit_is_the_only_one_started_again() {
        let cfg = serde_json::json!({"max_replica_size": "200cc"});
        let mut st = ShrinkToFitState::default();
        // 100cc is found to fit (50cc OOMs).
        let found = cluster(
            "c",
            vec![
                ooming(replica("c_50cc", "50cc", false), 2),
                replica("c_100cc", "100cc", true),
                replica("c_200cc", "200cc", true),
            ],
        );
        let d = run(&found, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c_100cc"]);
        assert_eq!(st.fits, Some(Size::from("100cc")));
        // The cluster wakes with its 100cc replica back, still hydrating:
        // no other size is tried.
        let waking = cluster("c", vec![replica("c_100cc", "100cc", false)]);
        let d = run(&waking, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c_100cc"]);
        // Empty (suspended by hand): only 100cc starts.
        let d = run(&cluster("c", vec![]), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c_100cc"]);
        // 100cc stops fitting (the workload grew): the search starts again
        // above it.
        let grown = cluster("c", vec![ooming(replica("c_100cc", "100cc", false), 3)]);
        let d = run(&grown, cfg, &mut st);
        assert_eq!(d.names(), vec!["c_200cc"]);
        assert_eq!(st.fits, None);
        assert_eq!(st.too_small, Some(Size::from("100cc")));
    }

    #[test]
    fn the_known_too_small_size_only_rises_and_its_time_is_renewed() {
        let cfg = serde_json::json!({"max_replica_size": "200cc"});
        let earlier = now() - chrono::Duration::hours(2);
        let known = || ShrinkToFitState {
            too_small: Some(Size::from("100cc")),
            too_small_at: Some(earlier),
            ..Default::default()
        };
        // A smaller size looping (a replica made by hand) does not lower it.
        let mut st = known();
        let small = cluster("c", vec![ooming(replica("c_50cc", "50cc", false), 2)]);
        run(&small, cfg.clone(), &mut st);
        assert_eq!(
            (st.too_small, st.too_small_at),
            (Some(Size::from("100cc")), Some(earlier))
        );
        // The same size looping again renews when it was found.
        let mut st = known();
        let again = cluster("c", vec![ooming(replica("c_100cc", "100cc", false), 2)]);
        run(&again, cfg, &mut st);
        assert_eq!(
            (st.too_small, st.too_small_at),
            (Some(Size::from("100cc")), Some(now()))
        );
    }

    #[test]
    fn a_fit_above_the_maximum_or_known_too_small_is_not_started_again() {
        // The maximum was lowered below the size that fit: the candidates
        // up to the new maximum start, not the old fit.
        let mut st = ShrinkToFitState {
            fits: Some(Size::from("200cc")),
            ..Default::default()
        };
        let empty = cluster("c", vec![]);
        let lowered = serde_json::json!({"max_replica_size": "50cc"});
        let d = run(&empty, lowered, &mut st);
        assert_eq!(d.names(), vec!["c_25cc", "c_50cc"]);
        // A fit that is also the size known too small: the search goes on
        // above it.
        let mut st = ShrinkToFitState {
            fits: Some(Size::from("50cc")),
            too_small: Some(Size::from("50cc")),
            too_small_at: Some(now()),
            ..Default::default()
        };
        let d = run(
            &empty,
            serde_json::json!({"max_replica_size": "100cc"}),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c_100cc"]);
    }

    #[test]
    fn a_known_fit_below_the_size_serving_is_tried_alone() {
        let cfg = serde_json::json!({"max_replica_size": "400cc"});
        // Deployed at 400cc (its state came with its rows) or woken at it:
        // 100cc fit before and 50cc is too small. Only 100cc is tried, not
        // every size between.
        let known = || ShrinkToFitState {
            fits: Some(Size::from("100cc")),
            too_small: Some(Size::from("50cc")),
            too_small_at: Some(now()),
            ..ShrinkToFitState::default()
        };
        let mut st = known();
        let serving = cluster("c", vec![replica("r1", "400cc", true)]);
        let d = run(&serving, cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_100cc", "r1"]);
        assert_eq!(
            d.replicas["c_100cc"]
                .added_by
                .as_ref()
                .map(|c| c.reason.as_str()),
            Some("try size 100cc beside 400cc, which serves: 100cc is the size that fit before")
        );
        // A larger size serving does not undo the fit.
        assert_eq!(st.fits, Some(Size::from("100cc")));
        // While it hydrates, nothing else is tried.
        let trying = cluster(
            "c",
            vec![
                replica("c_100cc", "100cc", false),
                replica("r1", "400cc", true),
            ],
        );
        assert_eq!(
            run(&trying, cfg.clone(), &mut st).names(),
            ["c_100cc", "r1"]
        );
        assert_eq!(st.fits, Some(Size::from("100cc")));
        // It fits: 400cc goes.
        let both = cluster(
            "c",
            vec![
                replica("c_100cc", "100cc", true),
                replica("r1", "400cc", true),
            ],
        );
        assert_eq!(run(&both, cfg.clone(), &mut st).names(), ["c_100cc"]);
        assert_eq!(st.fits, Some(Size::from("100cc")));
        // It OOMs instead: it is too small now, the sizes between are
        // tried, and the size serving is the fit.
        let mut st = known();
        let looping = cluster(
            "c",
            vec![
                ooming(replica("c_100cc", "100cc", false), 1),
                replica("r1", "400cc", true),
            ],
        );
        let d = run(&looping, cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_200cc", "c_300cc", "r1"]);
        assert_eq!(st.too_small, Some(Size::from("100cc")));
        assert_eq!(st.fits, Some(Size::from("400cc")));
        // Tried here before without an outcome (seen running, gone now):
        // the sizes below the one serving are tried as when no fit is known.
        let mut st = ShrinkToFitState {
            tried_below: vec![Size::from("100cc")],
            ..known()
        };
        let d = run(&serving, cfg, &mut st);
        assert_eq!(d.names(), ["c_200cc", "c_300cc", "r1"]);
        assert!(
            d.replicas["c_200cc"]
                .added_by
                .as_ref()
                .is_some_and(|c| c.reason.ends_with("whether 200cc fits is not known yet")),
            "{:?}",
            d.replicas["c_200cc"]
        );
    }

    #[test]
    fn what_is_carried_is_the_sizes_found_and_nothing_of_the_replicas() {
        let st = ShrinkToFitState {
            too_small: Some(Size::from("50cc")),
            too_small_at: Some(now()),
            fits: Some(Size::from("100cc")),
            tried_below: vec![Size::from("200cc")],
            last_decision_ts: Some(now()),
        };
        let (kept, said) = carried(&st).expect("something was learned");
        assert_eq!(
            kept,
            ShrinkToFitState {
                too_small: Some(Size::from("50cc")),
                too_small_at: Some(now()),
                fits: Some(Size::from("100cc")),
                ..ShrinkToFitState::default()
            }
        );
        assert_eq!(said, "100cc fits, 50cc is too small");
        // Either alone.
        let fits = ShrinkToFitState {
            fits: Some(Size::from("100cc")),
            ..ShrinkToFitState::default()
        };
        assert_eq!(carried(&fits).map(|(_, s)| s), Some("100cc fits".into()));
        let small = ShrinkToFitState {
            too_small: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        assert_eq!(
            carried(&small).map(|(k, s)| (k.too_small_at, s)),
            Some((None, "50cc is too small".into()))
        );
        // A cooldown and a try are not knowledge.
        let nothing = ShrinkToFitState {
            tried_below: vec![Size::from("200cc")],
            last_decision_ts: Some(now()),
            too_small_at: Some(now()),
            ..ShrinkToFitState::default()
        };
        assert_eq!(carried(&nothing), None);
    }

    /// A replica below the size serving that stays initializing (made by
    /// hand, or this strategy's try) is given up by the stuck rule: it
    /// was taken for the try of its size for ever, remembered by a
    /// suspension and made again at every wake (an outside check).
    #[test]
    fn a_try_that_never_hydrates_is_given_up_as_stuck() {
        let cfg = serde_json::json!({"max_replica_size": "200cc"});
        let with_hand_made = |minutes: i64| {
            let mut h3 = replica("h3", "100cc", false);
            h3.since = Some(now() - chrono::Duration::minutes(minutes));
            cluster("c", vec![replica("c_200cc", "200cc", true), h3])
        };
        // 49 minutes: still the try of 100cc (the default hydration is 10
        // minutes; the rule waits four and ten minutes more).
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        let d = run(&with_hand_made(49), cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_200cc", "h3"]);
        assert_eq!(st.tried_below, [Size::from("100cc")]);
        // 51 minutes: dropped, and 100cc is not tried again.
        let d = run(&with_hand_made(51), cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_200cc"]);
        let why = d.removed.get("h3").map(|c| c.reason.clone());
        assert_eq!(
            why.as_deref(),
            Some("h3 (100cc) has not hydrated in 51m (given up as stuck): 100cc is not tried again, 200cc serves")
        );
        let alone = cluster("c", vec![replica("c_200cc", "200cc", true)]);
        assert_eq!(run(&alone, cfg.clone(), &mut st).names(), ["c_200cc"]);
        // At the first sight too (a state that never saw the try): given
        // up, and its size remembered as tried.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        assert_eq!(
            run(&with_hand_made(51), cfg.clone(), &mut st).names(),
            ["c_200cc"]
        );
        assert_eq!(st.tried_below, [Size::from("100cc")]);
        // A crashing one is not stuck: the loop rule judges it.
        let mut crashing = with_hand_made(51);
        crashing.replicas[1] = ooming(crashing.replicas[1].clone(), 1);
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        let d = run(&crashing, cfg.clone(), &mut st);
        assert!(
            d.removed
                .get("h3")
                .is_none_or(|c| !c.reason.contains("stuck")),
            "{:?}",
            d.removed
        );
        // One of the size serving is no try: kept (a second replica of it
        // is the operator's, for availability).
        let mut same = with_hand_made(51);
        same.replicas[1].size = Some(Size::from("200cc"));
        let mut st = ShrinkToFitState::default();
        let d = run(&same, cfg.clone(), &mut st);
        assert!(d.names().contains(&"h3".to_string()), "{:?}", d.removed);
        // Below the loop rule's thresholds (one OOM kill of three), it is
        // neither looping nor stuck: kept.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        let lenient = serde_json::json!({"max_replica_size": "200cc", "min_oom_count": 3});
        let d = run(&crashing, lenient, &mut st);
        assert_eq!(d.names(), ["c_200cc", "h3"], "{:?}", d.removed);
    }

    #[test]
    fn sizes_below_the_one_serving_are_tried_until_known() {
        let cfg = serde_json::json!({"max_replica_size": "400cc"});
        // A replica limit kept 300cc out of the first probe: the smaller
        // sizes OOMed, 400cc serves, and 300cc is tried now.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("200cc")),
            ..ShrinkToFitState::default()
        };
        let serving = cluster("c", vec![replica("c_400cc", "400cc", true)]);
        let d = run(&serving, cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_300cc", "c_400cc"]);
        assert!(
            d.replicas["c_300cc"]
                .added_by
                .as_ref()
                .is_some_and(|c| c.reason
                    == "try size 300cc beside 400cc, which serves: whether 300cc fits is not known yet"),
            "{:?}",
            d.replicas["c_300cc"]
        );
        assert_eq!(st.fits, Some(Size::from("400cc")));
        // It fits: 400cc goes.
        let both = cluster(
            "c",
            vec![
                replica("c_300cc", "300cc", true),
                replica("c_400cc", "400cc", true),
            ],
        );
        assert_eq!(run(&both, cfg.clone(), &mut st).names(), ["c_300cc"]);
        assert_eq!(st.fits, Some(Size::from("300cc")));
        // It OOMs instead: 400cc stays, and nothing is tried again.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("200cc")),
            fits: Some(Size::from("400cc")),
            ..ShrinkToFitState::default()
        };
        let looping = cluster(
            "c",
            vec![
                ooming(replica("c_300cc", "300cc", false), 1),
                replica("c_400cc", "400cc", true),
            ],
        );
        assert_eq!(run(&looping, cfg.clone(), &mut st).names(), ["c_400cc"]);
        assert_eq!(st.too_small, Some(Size::from("300cc")));
        assert_eq!(run(&serving, cfg.clone(), &mut st).names(), ["c_400cc"]);
        // Or the cluster suspends before 300cc hydrates or fails: on the
        // next wake it is not tried again.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("200cc")),
            ..ShrinkToFitState::default()
        };
        let trying = cluster(
            "c",
            vec![
                replica("c_300cc", "300cc", false),
                replica("c_400cc", "400cc", true),
            ],
        );
        let d = run(&trying, cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_300cc", "c_400cc"]);
        assert_eq!(st.tried_below, [Size::from("300cc")]);
        assert_eq!(run(&serving, cfg.clone(), &mut st).names(), ["c_400cc"]);
        // The smallest sizes of a first probe, running beside the largest
        // when it serves, do not count as tries of the sizes cut from it.
        let mut st = ShrinkToFitState::default();
        let first = cluster(
            "c",
            vec![
                replica("c_25cc", "25cc", false),
                replica("c_50cc", "50cc", false),
                replica("c_400cc", "400cc", true),
            ],
        );
        let d = run(&first, cfg.clone(), &mut st);
        assert_eq!(
            d.names(),
            ["c_100cc", "c_200cc", "c_25cc", "c_300cc", "c_400cc", "c_50cc"]
        );
        // They OOM: known too small, they are tries no longer.
        let failed = cluster(
            "c",
            vec![
                ooming(replica("c_25cc", "25cc", false), 1),
                ooming(replica("c_50cc", "50cc", false), 1),
                replica("c_400cc", "400cc", true),
            ],
        );
        run(&failed, cfg.clone(), &mut st);
        assert_eq!(st.too_small, Some(Size::from("50cc")));
        assert!(st.tried_below.is_empty(), "{:?}", st.tried_below);
        // A cluster that already ran a replica within the maximum, nothing
        // known: every smaller size is tried beside it.
        let ran = cluster("c", vec![replica("r1", "100cc", true)]);
        let d = run(&ran, cfg, &mut ShrinkToFitState::default());
        assert_eq!(d.names(), ["c_25cc", "c_50cc", "r1"]);
    }

    #[test]
    fn sizes_found_too_small_are_tried_again_after_refit_after_s() {
        let cfg = serde_json::json!({"max_replica_size": "400cc", "refit_after_s": 86400});
        let mut st = ShrinkToFitState::default();
        let looping = cluster(
            "c",
            vec![
                ooming(replica("c_200cc", "200cc", false), 1),
                replica("c_300cc", "300cc", true),
            ],
        );
        assert_eq!(run(&looping, cfg.clone(), &mut st).names(), ["c_300cc"]);
        assert_eq!(st.too_small, Some(Size::from("200cc")));
        assert_eq!(st.too_small_at, Some(now()));
        assert_eq!(st.fits, Some(Size::from("300cc")));
        let serving = cluster("c", vec![replica("c_300cc", "300cc", true)]);
        // A day later to the second: the smaller sizes are tried again.
        st.too_small_at = Some(now() - chrono::Duration::seconds(86399));
        assert_eq!(run(&serving, cfg.clone(), &mut st).names(), ["c_300cc"]);
        st.too_small_at = Some(now() - chrono::Duration::seconds(86400));
        let d = run(&serving, cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_200cc", "c_300cc"]);
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("200cc was found too small 1d00h ago")),
            "{:?}",
            d.notes
        );
        assert_eq!(st.too_small, Some(Size::from("100cc")));
        assert_eq!(st.too_small_at, Some(now()));
        // It fits now: 300cc goes; a day later 100cc is tried.
        let both = cluster(
            "c",
            vec![
                replica("c_200cc", "200cc", true),
                replica("c_300cc", "300cc", true),
            ],
        );
        assert_eq!(run(&both, cfg.clone(), &mut st).names(), ["c_200cc"]);
        assert_eq!(st.fits, Some(Size::from("200cc")));
        st.too_small_at = Some(now() - chrono::Duration::days(1));
        let on_200 = cluster("c", vec![replica("c_200cc", "200cc", true)]);
        let d = run(&on_200, cfg.clone(), &mut st);
        assert_eq!(d.names(), ["c_100cc", "c_200cc"]);
        assert_eq!(st.too_small, Some(Size::from("50cc")));
        // The smallest size tried again: nothing is known too small.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("25cc")),
            too_small_at: Some(now() - chrono::Duration::days(1)),
            fits: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        let on_50 = cluster("c", vec![replica("c_50cc", "50cc", true)]);
        assert_eq!(
            run(&on_50, cfg.clone(), &mut st).names(),
            ["c_25cc", "c_50cc"]
        );
        assert_eq!((st.too_small.clone(), st.too_small_at), (None, None));
        // A size found too small by a version that did not record when:
        // the clock starts at the first run that sees it.
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("200cc")),
            fits: Some(Size::from("300cc")),
            ..ShrinkToFitState::default()
        };
        assert_eq!(run(&serving, cfg.clone(), &mut st).names(), ["c_300cc"]);
        assert_eq!(st.too_small_at, Some(now()));
        // Without the key (the default), never; nor while no size is known
        // to fit (the probe above the floor is under way).
        let stale = ShrinkToFitState {
            too_small: Some(Size::from("200cc")),
            too_small_at: Some(now() - chrono::Duration::days(30)),
            fits: Some(Size::from("300cc")),
            ..ShrinkToFitState::default()
        };
        let never = serde_json::json!({"max_replica_size": "400cc"});
        let mut st = stale.clone();
        assert_eq!(run(&serving, never, &mut st).names(), ["c_300cc"]);
        let mut st = ShrinkToFitState {
            fits: None,
            ..stale
        };
        let probing = cluster("c", vec![replica("c_300cc", "300cc", false)]);
        assert_eq!(run(&probing, cfg, &mut st).names(), ["c_300cc", "c_400cc"]);
        assert_eq!(st.too_small, Some(Size::from("200cc")));
        // Below a minute, refused.
        let v = serde_json::json!({"max_replica_size": "400cc", "refit_after_s": 59});
        let sizes = SizeCatalog::cloud_defaults();
        assert!(ShrinkToFitConfig::parse(&Obj::new(&v).unwrap(), &sizes).is_err());
    }

    #[test]
    fn thresholds_are_respected() {
        let cl = cluster("c", vec![ooming(replica("c_25cc", "25cc", true), 1)]);
        let d = run(
            &cl,
            serde_json::json!({"max_replica_size": "25cc", "min_oom_count": 3, "min_crash_count": 3}),
            &mut ShrinkToFitState::default(),
        );
        assert_eq!(d.names(), vec!["c_25cc"]);
    }

    /// `min_oom_count` holds with the default `min_crash_count`: an OOM
    /// kill is not also counted as a crash of another kind (one OOM gave
    /// up a size that fit: an outside check); other crashes still count.
    #[test]
    fn an_oom_kill_counts_toward_min_oom_count_only() {
        let c = |v| ShrinkToFitConfig::parse(&Obj::new(&v).unwrap(), &sizes()).unwrap();
        let two_ooms = c(serde_json::json!({"max_replica_size": "50cc", "min_oom_count": 2}));
        let once = ooming(replica("c_25cc", "25cc", true), 1);
        assert_eq!(two_ooms.looping(&once), None);
        let twice = ooming(replica("c_25cc", "25cc", true), 2);
        assert_eq!(two_ooms.looping(&twice).as_deref(), Some("2 OOM kill(s)"));
        let mut crashed = replica("c_25cc", "25cc", true);
        crashed.crash.crashes = 2;
        crashed.crash.ooms = 1;
        assert_eq!(
            two_ooms.looping(&crashed).as_deref(),
            Some("1 crash(es) other than OOM kills")
        );
    }

    /// Within its thresholds a size killed lately is kept, but retires no
    /// larger one until it has served 10 minutes since the kill.
    #[test]
    fn a_size_killed_lately_within_the_thresholds_retires_no_larger_one() {
        let cfg = serde_json::json!({"max_replica_size": "50cc", "min_oom_count": 3, "min_crash_count": 3});
        let with = |small| cluster("c", vec![small, replica("c_50cc", "50cc", true)]);
        let lately = with(killed_ago(replica("c_25cc", "25cc", true), 3));
        let d = run(&lately, cfg.clone(), &mut ShrinkToFitState::default());
        assert_eq!(d.names(), vec!["c_25cc", "c_50cc"]);
        assert!(d.removed.is_empty(), "{:?}", d.removed);
        let since = with(killed_ago(replica("c_25cc", "25cc", true), 11));
        let d = run(&since, cfg, &mut ShrinkToFitState::default());
        assert_eq!(d.names(), vec!["c_25cc"]);
    }

    /// `decide` (max 100cc) after `idle_suspend` added `brought` (name,
    /// size), as a wake does, with `why`.
    fn brought_back(
        cl: &crate::model::Cluster,
        st: &mut ShrinkToFitState,
        brought: &[(&str, &str)],
        why: &str,
    ) -> Desired {
        decide_in(cl, Idle::Busy, now(), |ctx, d| {
            for (name, size) in brought {
                d.add(
                    name,
                    &Size::from(*size),
                    StrategyKind::IdleSuspend,
                    why.into(),
                );
            }
            let cfg = serde_json::json!({"max_replica_size": "100cc"});
            let c = ShrinkToFitConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
            decide(&c, ctx, d, st)
        })
    }

    /// The first probe of a woken cluster (no size known to fit yet): what
    /// the wake brings back is this strategy's try if it is a candidate,
    /// left out if known too small, and left alone above the maximum.
    #[test]
    fn a_wake_during_the_first_probe_is_the_probes_try() {
        let cl = cluster("c", vec![]);
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("25cc")),
            too_small_at: Some(now()),
            ..ShrinkToFitState::default()
        };
        let brought = [("c_25cc", "25cc"), ("c_50cc", "50cc"), ("big", "800cc")];
        let d = brought_back(&cl, &mut st, &brought, "resume");
        assert_eq!(d.names(), ["big", "c_100cc", "c_50cc"]);
        let by = |n: &str| d.replicas[n].added_by.clone().unwrap();
        assert_eq!(by("big").strategy, StrategyKind::IdleSuspend);
        assert_eq!(by("c_50cc").strategy, KIND);
        assert_eq!(
            by("c_50cc").reason,
            "try size 50cc (up to 100cc); brought back by idle_suspend: resume"
        );
        assert_eq!(by("c_100cc").reason, "try size 100cc (up to 100cc)");
        assert_eq!(
            d.notes,
            ["shrink_to_fit: not creating c_25cc (25cc): 25cc is known to be too small"]
        );
    }

    /// A resume completed while a size serves (a run that created only some
    /// of the replicas): what it still brings back is this strategy's try,
    /// or left out when known too small.
    #[test]
    fn a_resume_completed_beside_a_serving_size_is_the_probes_try() {
        let cl = cluster("c", vec![replica("c_100cc", "100cc", true)]);
        let mut st = ShrinkToFitState {
            too_small: Some(Size::from("25cc")),
            too_small_at: Some(now()),
            fits: Some(Size::from("100cc")),
            ..ShrinkToFitState::default()
        };
        let brought = [("c_25cc", "25cc"), ("c_50cc", "50cc")];
        let d = brought_back(&cl, &mut st, &brought, "owed");
        assert_eq!(d.names(), ["c_100cc", "c_50cc"]);
        let why = d.replicas["c_50cc"].added_by.clone().unwrap();
        assert_eq!(why.strategy, KIND);
        assert_eq!(
            why.reason,
            "try size 50cc beside 100cc, which serves: whether 50cc fits is not known yet; \
             brought back by idle_suspend: owed"
        );
        assert_eq!(
            d.notes,
            ["shrink_to_fit: not creating c_25cc (25cc): 25cc is known to be too small"]
        );
    }

    /// A wake beside a larger size that serves, the size that fit known:
    /// each size below the one serving that the wake brings back is tried,
    /// and only the size that fit is said to have fit.
    #[test]
    fn a_wake_beside_a_serving_size_names_only_the_fit_as_having_fit() {
        let cl = cluster("c", vec![replica("c_100cc", "100cc", true)]);
        let mut st = ShrinkToFitState {
            fits: Some(Size::from("25cc")),
            ..ShrinkToFitState::default()
        };
        let brought = [("c_25cc", "25cc"), ("c_50cc", "50cc")];
        let d = brought_back(&cl, &mut st, &brought, "resume");
        assert_eq!(d.names(), ["c_100cc", "c_25cc", "c_50cc"]);
        let why = |n: &str| d.replicas[n].added_by.clone().unwrap().reason;
        assert_eq!(
            why("c_25cc"),
            "try size 25cc beside 100cc, which serves: 25cc is the size that fit before; \
             brought back by idle_suspend: resume"
        );
        assert_eq!(
            why("c_50cc"),
            "try size 50cc beside 100cc, which serves: whether 50cc fits is not known yet; \
             brought back by idle_suspend: resume"
        );
    }

    /// A wake with the size that fit known: that size is this strategy's
    /// start; a larger one the wake brings back is left as the wake's (the
    /// strategy drops it once the size that fit serves).
    #[test]
    fn a_wake_with_a_known_fit_starts_it_and_leaves_larger_ones_to_the_wake() {
        let mut st = ShrinkToFitState {
            fits: Some(Size::from("50cc")),
            ..ShrinkToFitState::default()
        };
        let brought = [("c_50cc", "50cc"), ("c_100cc", "100cc")];
        let d = brought_back(&cluster("c", vec![]), &mut st, &brought, "resume");
        assert_eq!(d.names(), ["c_100cc", "c_50cc"]);
        let by = |n: &str| d.replicas[n].added_by.clone().unwrap();
        assert_eq!(by("c_100cc").strategy, StrategyKind::IdleSuspend);
        assert_eq!(by("c_100cc").reason, "resume");
        assert_eq!(
            by("c_50cc").reason,
            "start 50cc, the size that fit before; brought back by idle_suspend: resume"
        );
    }
}
