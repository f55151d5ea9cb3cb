//! `burst`: while nothing else is hydrated (cold start, resize, resume), add a
//! large replica named `<cluster>-burst` so queries are served; drop it once
//! another replica is hydrated (after `linger_s`, if set). A burst is never
//! on for ever: after `max_burst_s` without any other replica hydrating it is
//! dropped, an alert is raised, and it is not tried again until another
//! replica hydrates (the cluster's normal size is probably too small).
//! `max_burst_s` counts from when the burst replica last started, or from
//! when another replica last hydrated one more of the cluster's objects
//! than any had before (a slow hydration that progresses is no reason to
//! drop the only hydrated replica; a replica that restarts and hydrates the
//! same objects again is not progress): a burst that a suspension dropped
//! starts afresh on the next wake. A burst that
//! serves while the other replicas OOM-loop raises an alert too (the normal
//! size is too small, and the burst is quietly paying for it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::{cooldown_left, Ctx, Desired, ReplicaStep, StrategyConfig, StrategyKind};
use crate::model::{human_duration, Cluster, Size, SizeCatalog, RECOVERED_AFTER};

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

    /// The largest of `standing_in` (what the burst would stand in for,
    /// each with its size) that the burst's size is not above in the
    /// catalog's order (credits, then CPU, then memory): beside it a burst
    /// hydrates no sooner and holds no more, so it would only double the
    /// cost. A size the catalog does not rank (one the region no longer
    /// offers) is not judged. The one rule of the strategy, which starts no
    /// such burst, and of the warning `check` gives up front
    /// ([`held_back`]).
    pub fn not_above<'a, T>(
        &self,
        sizes: &SizeCatalog,
        standing_in: impl IntoIterator<Item = (T, &'a Size)>,
    ) -> Option<(T, &'a Size)> {
        let burst = sizes.rank(&self.burst_replica_size)?;
        standing_in
            .into_iter()
            .filter_map(|(who, size)| Some((who, size, sizes.rank(size)?)))
            .filter(|(_, _, rank)| *rank >= burst)
            .max_by_key(|(_, _, rank)| *rank)
            .map(|(who, size, _)| (who, size))
    }
}

/// Why a burst row would start no burst on this cluster, said up front by
/// `check`, `doctor` and `strategy set` (the plan's note came only when a
/// cold start found it so): its size is not above a replica the cluster
/// runs (the burst's own aside) or a size its other strategies run
/// ([`StrategyConfig::sizes_run`]), by [`BurstConfig::not_above`]. Not said
/// of a managed cluster, which refuses `burst` anyway (an error).
pub fn held_back(
    c: &BurstConfig,
    cluster: &Cluster,
    state: Option<&serde_json::Value>,
    configs: &[StrategyConfig],
    sizes: &SizeCatalog,
) -> Option<String> {
    if cluster.managed {
        return None;
    }
    let burst = burst_replica(cluster, state);
    let st: BurstState = state
        .and_then(|s| s.get(KIND.as_str()))
        .map(super::read_state)
        .unwrap_or_default();
    if let Some(r) = foreign(c, cluster, &burst, &st) {
        return Some(format!("{KIND}: {}", foreign_text(r)));
    }
    let running = cluster
        .replicas
        .iter()
        .filter(|r| r.name != burst)
        .filter_map(|r| Some((format!("replica {}", r.name), r.size.as_ref()?)));
    let configured = configs.iter().flat_map(StrategyConfig::sizes_run);
    let (who, size) = c.not_above(sizes, running.chain(configured))?;
    Some(format!(
        "{KIND}: burst_replica_size {} is no larger than {who} ({size}), so no burst is started \
         beside a replica of that size (it would hydrate no sooner and hold no more); set \
         burst_replica_size above the cluster's size",
        c.burst_replica_size
    ))
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurstState {
    pub last_decision_ts: Option<DateTime<Utc>>,
    pub burst_since: Option<DateTime<Utc>>,
    /// Since when another replica has been hydrated while the burst runs.
    #[serde(default)]
    pub others_hydrated_since: Option<DateTime<Utc>>,
    /// Set when `max_burst_s` ran out; cleared once another replica hydrates.
    #[serde(default)]
    pub gave_up_at: Option<DateTime<Utc>>,
    /// The burst replica it started: after the cluster is renamed, that is
    /// still the one to retire (its name came from the old name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The size it started that replica with: one of its name and another
    /// size was made by hand after ours went (dropped by hand, a size
    /// chosen by the operator), and is theirs (burst dropped it: an outside
    /// check). Absent in state written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_size: Option<crate::model::Size>,
    /// While the burst runs, the most objects another replica has reported
    /// hydrated, and when that mark was last raised: `max_burst_s` counts
    /// from then too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// A size of the replicas the burst stood in for that crash-looped
    /// while it ran, and when that was last seen: a replica of that size
    /// retires the burst only once it has run [`RECOVERED_AFTER`] since it
    /// was made, even a new one (one woken after a suspension, with no
    /// kill of its own yet, retired the burst at its first hydration and
    /// was OOM-killed 25 s later, leaving nothing serving: an outside
    /// check). Forgotten when the burst retires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub looped: Option<Looped>,
}

/// A size that crash-looped while the burst ran ([`BurstState::looped`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Looped {
    pub size: crate::model::Size,
    pub at: DateTime<Utc>,
}

/// A high-water mark of hydrated objects and when it was reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub objects: u32,
    pub at: DateTime<Utc>,
}

pub fn burst_name(cluster: &str) -> String {
    super::derived_replica_name(cluster, "-burst")
}

/// The names a burst replica of `cluster` may have: ours, and
/// mz-clusterctl's ([`burst_replica`] takes either for the burst's).
pub fn burst_names(cluster: &str) -> [String; 2] {
    [burst_name(cluster), reference_burst_name(cluster)]
}

/// The name mz-clusterctl gives its burst replica.
fn reference_burst_name(cluster: &str) -> String {
    super::derived_replica_name(cluster, "_burst")
}

/// The cluster's burst replica, from its whole state (the object keyed by
/// strategy type): the one `burst` started, while it runs (the cluster may
/// have been renamed since, and its name came from the old name), else
/// mz-clusterctl's `<cluster>_burst` while it runs (a burst the reference
/// left running at a migration: a second one was added beside it, and kept
/// for good once both hydrated), else `<cluster>-burst`. The one rule of
/// `burst`, of the strategies that leave the burst alone (`idle_suspend`,
/// those that choose the size) and of `status`: the plan carries it as
/// [`Ctx::burst`].
pub fn burst_replica(cluster: &Cluster, state: Option<&serde_json::Value>) -> String {
    let started = state
        .and_then(|s| s.get(KIND.as_str()))
        .map(super::read_state::<BurstState>)
        .and_then(|st| st.replica);
    started
        .into_iter()
        .chain(std::iter::once(reference_burst_name(&cluster.name)))
        .find(|n| cluster.replica(n).is_some())
        .unwrap_or_else(|| burst_name(&cluster.name))
}

/// A replica of our burst's name (`<cluster>-burst`) that `burst`'s state
/// does not record starting and that is not of `burst_replica_size`: one
/// an operator made by hand, most likely, so left alone. `burst` took any
/// replica of that name for its own, dropped it once another served, and
/// never started its own while it was there (an outside check). The
/// reference's `<cluster>_burst` is its burst whatever its size (it
/// matched its burst by name alone). One rule for the strategy and for
/// what `check` says up front ([`held_back`]).
fn foreign<'a>(
    c: &BurstConfig,
    cluster: &'a Cluster,
    name: &str,
    st: &BurstState,
) -> Option<&'a crate::model::Replica> {
    let r = cluster.replica(name)?;
    let started = st.replica.as_deref() == Some(name)
        && st
            .replica_size
            .as_ref()
            .is_none_or(|size| r.size.as_ref() == Some(size));
    let ours = started
        || r.size.as_ref() == Some(&c.burst_replica_size)
        || name == reference_burst_name(&cluster.name);
    (!ours).then_some(r)
}

/// What is said of a [`foreign`] replica: what is known, and the way out
/// either way (its state wiped while a burst of an earlier size ran looks
/// the same).
fn foreign_text(r: &crate::model::Replica) -> String {
    let size = r.size.as_ref().map_or("?", |s| s.0.as_str());
    format!(
        "replica {} ({size}) has the burst replica's name, but burst's state does not record \
         starting it at that size (made by hand, or a burst of an earlier burst_replica_size \
         whose state was wiped) and it is not of burst_replica_size: it is left alone, and no burst \
         starts while it has that name (drop it by hand if it is an old burst, or rename it)",
        crate::model::printable(&r.name)
    )
}

pub(super) fn decide(c: &BurstConfig, ctx: &Ctx, d: &mut Desired, st: &mut BurstState) {
    let name = ctx.burst.clone();
    if let Some(r) = foreign(c, ctx.cluster, &name, st) {
        // An alert: burst cannot work until someone acts, and a note is
        // shown with -v only (an outside re-check).
        d.alert(KIND, foreign_text(r));
        return;
    }
    let others: Vec<String> = d.replicas.keys().filter(|n| **n != name).cloned().collect();
    let other_hydrated = others.iter().find(|n| ctx.hydrated(n)).cloned();
    let has_burst = d.contains(&name);
    match ctx.cluster.replica(&name) {
        None => {
            // Not running (dropped by a suspension or by hand, or created
            // this round): an earlier burst's time does not count against
            // this one.
            st.burst_since = has_burst.then_some(ctx.now);
            st.others_hydrated_since = None;
            st.progress = None;
        }
        // Running, and the state does not say since when (wiped, or never
        // written: the run that made it had a refused action beside it):
        // since the replica was made, as far as the catalog tells, else
        // now. It ran on uncounted, and max_burst_s never came (an outside
        // check).
        Some(r) if st.burst_since.is_none() && has_burst => {
            st.burst_since = Some(r.since.map_or(ctx.now, |t| t.min(ctx.now)));
        }
        Some(_) => {}
    }
    if other_hydrated.is_some() {
        st.gave_up_at = None;
    } else {
        st.others_hydrated_since = None;
    }
    if has_burst {
        remember_a_loop(ctx, st, &others);
    }
    match (other_hydrated, has_burst) {
        // One whose state outgrows its memory after hydration serves
        // between its kills: a burst dropped for it left the cluster with
        // that loop.
        (Some(ready), true) => match others
            .iter()
            .find(|n| ctx.proven(n) && new_of_a_looped_size(ctx, st, n).is_none())
        {
            Some(proven) => retire(c, ctx, d, st, &name, proven),
            None => {
                // Its linger counts from a replica that serves for good.
                st.others_hydrated_since = None;
                if let Some((n, looped, left)) = others
                    .iter()
                    .find_map(|n| new_of_a_looped_size(ctx, st, n).map(|(l, s)| (n, l, s)))
                {
                    d.defer(
                        KIND,
                        drop_of(ctx, &name),
                        format!(
                            "{n} is hydrated, but its size {} crash-looped while the burst ran \
                             (last at {}): the burst stays until it has run {} since it was made",
                            looped.size,
                            looped.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            human_duration(RECOVERED_AFTER.num_seconds().unsigned_abs())
                        ),
                        Some(left),
                    );
                } else if let Some((ready, why, in_seconds)) =
                    ctx.why_unproven([&ready], "the burst stays")
                {
                    // Due once it has served long enough: waiting work.
                    d.defer(
                        KIND,
                        drop_of(ctx, &name),
                        format!("{ready} is hydrated but {why}"),
                        in_seconds,
                    );
                }
            }
        },
        (None, true) => {
            let looping = oom_looping(ctx, &others);
            raise_progress(ctx, st, &others);
            if !give_up_if_too_long(c, ctx, d, st, &name, &looping) {
                alert_if_others_oom_loop(ctx, d, &name, &looping);
            }
        }
        (None, false) if !others.is_empty() => start(c, ctx, d, st, &name, &others),
        _ => {}
    }
}

/// Whether `cooldown_s` holds back `action` (`create x`, `drop x`): then it
/// is waiting work, with when it is due (status said Converged).
fn cooling_down(
    c: &BurstConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &BurstState,
    action: String,
) -> bool {
    if ctx.demand_waiting() {
        return false;
    }
    match cooldown_left(st.last_decision_ts, c.cooldown_s, ctx.now) {
        Some(left) => {
            d.defer_for_cooldown(KIND, action, c.cooldown_s, left);
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
    others: &[String],
) {
    if let Some(at) = st.gave_up_at {
        // An alert while nothing hydrates (the give-up's own run alerted,
        // and the next ones said only "Hydrating", though users still
        // waited with no burst to come: an outside check).
        // With the cause and its fix when the others OOM-loop (this alert
        // took the place of the crash loop's, and its advice: an outside
        // check).
        let looping = oom_looping(ctx, others);
        let cause = match looping.is_empty() {
            true => String::new(),
            false => format!(
                "; {} OOM-loop: the cluster's normal size is too small for its workload, \
                 raise it",
                looping.join(", ")
            ),
        };
        d.alert(
            KIND,
            format!(
                "gave up bursting at {}, and no replica is hydrated: users wait until one \
                 does (no burst again until another replica hydrates){cause}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        );
        return;
    }
    if let Some(why) = d.prewarming.clone() {
        d.note(
            KIND,
            format!("no burst: the cluster is warming ahead of predicted demand and nobody waits ({why})"),
        );
        return;
    }
    let standing_in = others
        .iter()
        .filter_map(|n| Some((n.as_str(), &d.replicas.get(n)?.size)));
    if let Some((other, size)) = c.not_above(ctx.sizes, standing_in) {
        d.note(
            KIND,
            format!(
                "no burst: {} is no larger than {other} ({size}), so it would hydrate no sooner \
                 and hold no more; set burst_replica_size above the cluster's size",
                c.burst_replica_size
            ),
        );
        return;
    }
    let create = ReplicaStep::Create.of(name, Some(&c.burst_replica_size));
    if cooling_down(c, ctx, d, st, create) {
        return;
    }
    // A crash-looping replica is not hydrating (it read "1 hydrating"
    // beside the plan's "crash looping, not hydrating": an outside check).
    let looping = others
        .iter()
        .filter(|n| {
            ctx.cluster
                .replica(n)
                .is_some_and(|r| r.crash_looping(ctx.now))
        })
        .count();
    let state = match (others.len() - looping, looping) {
        (h, 0) => format!("{h} hydrating"),
        (0, l) => format!("{l} crash looping"),
        (h, l) => format!("{h} hydrating, {l} crash looping"),
    };
    let reason = format!(
        "no replica is hydrated ({state}): bursting with {}",
        c.burst_replica_size
    );
    d.add(name, &c.burst_replica_size, KIND, reason);
    st.burst_since = Some(ctx.now);
    // What is hydrated already is the mark to pass, not progress.
    let already = most_hydrated(ctx, others);
    st.progress = (already > 0).then_some(Progress {
        objects: already,
        at: ctx.now,
    });
    st.replica = Some(name.to_string());
    st.replica_size = Some(c.burst_replica_size.clone());
    st.last_decision_ts = Some(ctx.now);
}

/// The burst replica's drop held back, with its size.
fn drop_of(ctx: &Ctx, name: &str) -> String {
    let size = ctx.cluster.replica(name).and_then(|r| r.size.as_ref());
    ReplicaStep::Drop.of(name, size)
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
            drop_of(ctx, name),
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
    if cooling_down(c, ctx, d, st, drop_of(ctx, name)) {
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
    st.looped = None;
}

/// Records the size of a replica the burst stands in for that crash-loops
/// while it runs ([`BurstState::looped`]).
fn remember_a_loop(ctx: &Ctx, st: &mut BurstState, others: &[String]) {
    let looping = others
        .iter()
        .filter_map(|n| ctx.cluster.replica(n))
        .filter(|r| r.crash_looping(ctx.now))
        .find_map(|r| r.size.clone());
    if let Some(size) = looping {
        st.looped = Some(Looped { size, at: ctx.now });
    }
}

/// `name`, of a size that crash-looped while the burst ran, made less than
/// [`RECOVERED_AFTER`] ago: that record, and the seconds left. A replica
/// whose creation is not known (the simulator) is not held.
fn new_of_a_looped_size<'a>(
    ctx: &Ctx,
    st: &'a BurstState,
    name: &str,
) -> Option<(&'a Looped, u64)> {
    let looped = st.looped.as_ref()?;
    let r = ctx.cluster.replica(name)?;
    if r.size.as_ref() != Some(&looped.size) {
        return None;
    }
    let ran = (ctx.now - r.since?).num_seconds();
    let left = RECOVERED_AFTER.num_seconds() - ran;
    (left > 0).then_some((looped, left.unsigned_abs()))
}

/// The replicas the burst stands in for that are killed again and again
/// before they hydrate (`Replica::crash_looping`, the rule `status` uses), as
/// the alerts name them.
fn oom_looping(ctx: &Ctx, others: &[String]) -> Vec<String> {
    others
        .iter()
        .filter_map(|n| ctx.cluster.replica(n))
        .filter(|r| !r.hydrated && r.crash_looping(ctx.now))
        .map(|r| format!("{} ({} OOM kills recently)", r.name, r.crash.ooms))
        .collect()
}

/// The burst serves while the replicas it stands in for are OOM-killed
/// again and again (`looping`, [`oom_looping`]): nothing else will ever
/// hydrate, and the burst's size is paid every time the cluster runs.
fn alert_if_others_oom_loop(ctx: &Ctx, d: &mut Desired, name: &str, looping: &[String]) {
    if !ctx.hydrated(name) || looping.is_empty() {
        return;
    }
    d.alert(
        KIND,
        format!(
            "the burst replica {name} is serving while {} OOM-loop: the cluster's normal size is too small for its workload; raise it (the burst is paying for the difference)",
            looping.join(", ")
        ),
    );
}

/// The most objects one of `others` reports hydrated (0: none, or the
/// backend does not tell).
fn most_hydrated(ctx: &Ctx, others: &[String]) -> u32 {
    others
        .iter()
        .filter_map(|n| ctx.cluster.replica(n))
        .filter_map(|r| r.objects)
        .map(|o| o.hydrated)
        .max()
        .unwrap_or(0)
}

/// Raises the high-water mark of objects the other replicas report
/// hydrated.
fn raise_progress(ctx: &Ctx, st: &mut BurstState, others: &[String]) {
    let best = most_hydrated(ctx, others);
    if best > st.progress.map_or(0, |p| p.objects) {
        st.progress = Some(Progress {
            objects: best,
            at: ctx.now,
        });
    }
}

fn give_up_if_too_long(
    c: &BurstConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut BurstState,
    name: &str,
    looping: &[String],
) -> bool {
    // Only a burst that is running has run for any time.
    if ctx.cluster.replica(name).is_none() {
        return false;
    }
    let (Some(max), Some(since)) = (c.max_burst_s, st.burst_since) else {
        return false;
    };
    let secs = |from: DateTime<Utc>| (ctx.now - from).num_seconds().max(0) as u64;
    let ran = secs(since);
    let progress = st.progress.filter(|p| p.at > since);
    let quiet = progress.map_or(ran, |p| secs(p.at));
    if quiet < max {
        if let (Some(p), true) = (progress, ran >= max) {
            d.note(
                KIND,
                format!(
                    "burst ran {ran}s, past max_burst_s {max}, but another replica is still \
                     hydrating: {} object(s) hydrated, the latest {}s ago; max_burst_s counts \
                     from then",
                    p.objects, quiet
                ),
            );
        }
        return false;
    }
    // A replica that keeps being killed is why nothing hydrated: said, with
    // what giving up means (nothing serves once the burst is gone).
    let burst_looping = ctx
        .cluster
        .replica(name)
        .filter(|r| r.crash_looping(ctx.now));
    let why = match progress {
        // The burst itself was killed again and again: its size is what
        // is too small (the reason blamed the normal size, whose replica
        // was never killed: an outside check).
        None if looping.is_empty() && burst_looping.is_some() => {
            let r = burst_looping.map(|r| (r.crash.crashes, r.size.clone()));
            let (kills, size) = r.unwrap_or_default();
            format!(
                "burst ran {ran}s (max_burst_s {max}) and no replica hydrated: the burst \
                 replica {name} ({}) crash-loops itself ({kills} kills), so burst_replica_size \
                 is too small for this workload too; nothing serves once it is gone: raise \
                 burst_replica_size and the cluster's size",
                size.map_or("?".to_string(), |s| s.0)
            )
        }
        None if !looping.is_empty() => format!(
            "burst ran {ran}s (max_burst_s {max}) and no other replica hydrated: {} OOM-loop, so \
             the cluster's normal size is too small for its workload; nothing serves once the \
             burst is gone: raise it",
            looping.join(", ")
        ),
        None => format!(
            "burst ran {ran}s (max_burst_s {max}) and no other replica hydrated, though none \
             was killed: the cluster's normal size is probably too small, or its objects \
             hydrate slowly"
        ),
        Some(p) => format!(
            "burst ran {ran}s and no other replica hydrated a further object for {quiet}s \
             (max_burst_s {max}; {} object(s) hydrated at most): the cluster's normal size is \
             probably too small",
            p.objects
        ),
    };
    d.give_up(name, KIND, format!("giving up: {why}"));
    d.alert(KIND, why);
    st.gave_up_at = Some(ctx.now);
    st.burst_since = None;
    st.progress = None;
    st.last_decision_ts = Some(ctx.now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Replica;
    use crate::strategy::testutil::*;
    use crate::strategy::Idle;

    /// As a plan runs it: the burst replica read from the stored state.
    fn run(cl: &crate::model::Cluster, cfg: serde_json::Value, st: &mut BurstState) -> Desired {
        let stored = serde_json::json!({ "burst": serde_json::to_value(&*st).unwrap() });
        decide_in(cl, Idle::Busy, now(), |ctx, d| {
            let ctx = Ctx {
                burst: burst_replica(cl, Some(&stored)),
                ..ctx.clone()
            };
            let c = BurstConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
            decide(&c, &ctx, d, st)
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
            // mz-clusterctl's burst, left running at a migration: ours, not
            // a second one beside it, and retired as ours once r1 serves.
            (
                "the reference's burst kept while others hydrate",
                vec![
                    replica("r1", "25cc", false),
                    replica("c_burst", "800cc", false),
                ],
                vec!["c_burst", "r1"],
            ),
            (
                "the reference's burst dropped once another hydrates",
                vec![
                    replica("r1", "25cc", true),
                    replica("c_burst", "800cc", true),
                ],
                vec!["r1"],
            ),
        ];
        for (name, replicas, want) in cases {
            let cl = cluster("c", replicas);
            let d = run(&cl, cfg.clone(), &mut BurstState::default());
            assert_eq!(d.names(), want, "{name}");
        }
    }

    /// A burst no larger than a replica it would stand in for hydrates no
    /// sooner and holds no more: it only doubled the cost.
    #[test]
    fn no_burst_of_a_size_no_larger_than_the_cluster_runs() {
        let cfg = serde_json::json!({"burst_replica_size": "100cc"});
        // (replicas, the one named for holding back the burst)
        for (replicas, larger) in [
            (vec![replica("r1", "100cc", false)], Some("r1 (100cc)")),
            (vec![replica("r1", "200cc", false)], Some("r1 (200cc)")),
            (
                vec![replica("r1", "25cc", false), replica("r2", "200cc", false)],
                Some("r2 (200cc)"),
            ),
            (vec![replica("r1", "50cc", false)], None),
        ] {
            let cl = cluster("c", replicas);
            let mut st = BurstState::default();
            let d = run(&cl, cfg.clone(), &mut st);
            assert_eq!(d.contains("c-burst"), larger.is_none(), "{:?}", d.notes);
            assert_eq!(st.burst_since.is_some(), larger.is_none());
            if let Some(larger) = larger {
                let note = format!("no burst: 100cc is no larger than {larger}");
                assert!(d.notes.iter().any(|n| n.contains(&note)), "{:?}", d.notes);
            }
        }
    }

    /// `check` warns of a burst the strategy would not start, by the same
    /// rule: what the cluster runs (its own burst aside) and the sizes its
    /// other strategies run. A size the catalog does not rank is not judged.
    #[test]
    fn a_burst_no_larger_than_the_cluster_is_said_up_front() {
        let burst = |size: &str| {
            let cfg = serde_json::json!({ "burst_replica_size": size });
            BurstConfig::parse(&Obj::new(&cfg).unwrap(), &sizes()).unwrap()
        };
        let config =
            |kind, cfg: serde_json::Value| StrategyConfig::parse(kind, &cfg, &sizes()).unwrap().0;
        let target = config(
            StrategyKind::TargetSize,
            serde_json::json!({"target_size": "200cc"}),
        );
        let shrink = config(
            StrategyKind::ShrinkToFit,
            serde_json::json!({"max_replica_size": "100cc"}),
        );
        let schedule = config(
            StrategyKind::Schedule,
            serde_json::json!({"timezone": "UTC", "windows": [
                {"cron": "0 0 8 * * Mon-Fri", "duration_s": 3600, "replicas": 0},
                {"cron": "0 0 9 * * Mon-Fri", "duration_s": 3600, "size": "400cc"}
            ]}),
        );
        // (burst size, replicas, other rows, what holds it back)
        type Case<'a> = (&'a str, Vec<Replica>, Vec<StrategyConfig>, Option<&'a str>);
        let cases: Vec<Case> = vec![
            (
                "100cc",
                vec![replica("r1", "100cc", false)],
                vec![],
                Some("replica r1 (100cc)"),
            ),
            (
                "100cc",
                vec![replica("r1", "25cc", true), replica("r2", "200cc", false)],
                vec![],
                Some("replica r2 (200cc)"),
            ),
            ("100cc", vec![replica("r1", "50cc", false)], vec![], None),
            (
                "100cc",
                vec![],
                vec![target.clone()],
                Some("target_size (200cc)"),
            ),
            ("800cc", vec![], vec![target], None),
            (
                "100cc",
                vec![],
                vec![shrink.clone()],
                Some("shrink_to_fit's max_replica_size (100cc)"),
            ),
            (
                "200cc",
                vec![replica("r1", "25cc", false)],
                vec![shrink],
                None,
            ),
            (
                "300cc",
                vec![],
                vec![schedule],
                Some("schedule window 2 (400cc)"),
            ),
            // Its own replica is not what it stands in for.
            (
                "100cc",
                vec![replica("c-burst", "100cc", true)],
                vec![],
                None,
            ),
            // A size the region no longer offers is not judged.
            (
                "25cc",
                vec![replica("r1", "legacy-xl", false)],
                vec![],
                None,
            ),
        ];
        for (size, replicas, others, larger) in cases {
            let b = burst(size);
            let mut configs = others;
            configs.push(StrategyConfig::Burst(b.clone()));
            let got = held_back(&b, &cluster("c", replicas), None, &configs, &sizes());
            match larger {
                Some(larger) => {
                    let want = format!(
                        "burst: burst_replica_size {size} is no larger than {larger}, so no \
                         burst is started"
                    );
                    assert!(
                        got.as_ref().is_some_and(|g| g.starts_with(&want)),
                        "{got:?}"
                    );
                }
                None => assert_eq!(got, None, "{size}"),
            }
        }
        // A managed cluster refuses burst (an error): nothing more to say.
        let mut managed = cluster("c", vec![replica("r1", "100cc", false)]);
        managed.managed = true;
        let b = burst("100cc");
        let configs = [StrategyConfig::Burst(b.clone())];
        assert_eq!(held_back(&b, &managed, None, &configs, &sizes()), None);
    }

    /// The warning and the strategy are one rule: said exactly where the
    /// strategy, on a cold start of the same replicas, starts no burst.
    #[test]
    fn the_warning_is_the_strategys_rule() {
        for size in ["25cc", "50cc", "100cc", "200cc", "800cc"] {
            let cfg = serde_json::json!({ "burst_replica_size": size });
            let b = BurstConfig::parse(&Obj::new(&cfg).unwrap(), &sizes()).unwrap();
            let configs = [StrategyConfig::Burst(b.clone())];
            for replicas in [
                vec![replica("r1", "50cc", false)],
                vec![replica("r1", "25cc", false), replica("r2", "200cc", false)],
            ] {
                let cl = cluster("c", replicas);
                let d = run(&cl, cfg.clone(), &mut BurstState::default());
                let warned = held_back(&b, &cl, None, &configs, &sizes()).is_some();
                assert_eq!(warned, !d.contains("c-burst"), "{size}: {:?}", d.notes);
            }
        }
    }

    /// A replica of the burst's name made by hand (not of the burst size,
    /// not started by burst) is the operator's: kept, and no burst while it
    /// has the name; said by the plan and up front. One of the burst's
    /// size, or one burst started, is the burst.
    #[test]
    fn a_replica_of_the_bursts_name_made_by_hand_is_left_alone() {
        let cfg = serde_json::json!({"burst_replica_size": "200cc"});
        let said = |d: &Desired| {
            d.alerts
                .iter()
                .any(|n| n.contains("does not record starting it"))
        };
        for hydrated in [true, false] {
            let cl = cluster(
                "c",
                vec![
                    replica("c-burst", "25cc", hydrated),
                    replica("r1", "50cc", !hydrated),
                ],
            );
            let d = run(&cl, cfg.clone(), &mut BurstState::default());
            assert_eq!(d.names(), vec!["c-burst", "r1"], "hydrated {hydrated}");
            assert!(said(&d), "{:?}", d.notes);
            let c = BurstConfig::parse(&Obj::new(&cfg).unwrap(), &sizes()).unwrap();
            let up_front = held_back(&c, &cl, None, &[], &sizes());
            assert!(
                up_front
                    .as_deref()
                    .is_some_and(|w| w.starts_with("burst: replica c-burst (25cc)")),
                "{up_front:?}"
            );
        }
        let ours = cluster(
            "c",
            vec![
                replica("c-burst", "200cc", true),
                replica("r1", "50cc", true),
            ],
        );
        let d = run(&ours, cfg.clone(), &mut BurstState::default());
        assert_eq!(d.names(), vec!["r1"], "the burst's size: retired");
        let started = BurstState {
            replica: Some("c-burst".into()),
            ..Default::default()
        };
        let resized = cluster(
            "c",
            vec![
                replica("c-burst", "25cc", true),
                replica("r1", "50cc", true),
            ],
        );
        let d = run(&resized, cfg.clone(), &mut started.clone());
        assert_eq!(d.names(), vec!["r1"], "started by burst: retired");
        assert!(!said(&d));
        // Started at 200cc, and now of another size: ours went, and one
        // was made by hand under its name (it was dropped as the burst).
        let replaced = BurstState {
            replica_size: Some(Size::from("200cc")),
            ..started.clone()
        };
        let d = run(&resized, cfg.clone(), &mut replaced.clone());
        assert_eq!(d.names(), vec!["c-burst", "r1"], "made by hand: kept");
        assert!(said(&d));
        // Started at 25cc, an earlier burst_replica_size: still ours.
        let earlier = BurstState {
            replica_size: Some(Size::from("25cc")),
            ..started.clone()
        };
        let d = run(&resized, cfg.clone(), &mut earlier.clone());
        assert_eq!(d.names(), vec!["r1"], "an earlier size of ours: retired");
        // The reference's burst, whatever its size: retired (it matched
        // its burst by name alone).
        let reference = cluster(
            "c",
            vec![
                replica("c_burst", "25cc", true),
                replica("r1", "50cc", true),
            ],
        );
        let d = run(&reference, cfg, &mut BurstState::default());
        assert_eq!(d.names(), vec!["r1"], "the reference's: retired");
        assert!(!said(&d));
    }

    #[test]
    fn a_burst_started_before_the_cluster_was_renamed_is_still_its_own() {
        // `old` became `c`: its `old-burst` runs. It used to be left for
        // good beside a new `c-burst`.
        let mut st = BurstState {
            burst_since: Some(now() - chrono::Duration::seconds(60)),
            replica: Some("old-burst".into()),
            ..Default::default()
        };
        let cfg = serde_json::json!({"burst_replica_size": "800cc"});
        let hydrating = cluster(
            "c",
            vec![
                replica("r1", "25cc", false),
                replica("old-burst", "800cc", true),
            ],
        );
        let d = run(&hydrating, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["old-burst", "r1"], "no second burst");
        let ready = cluster(
            "c",
            vec![
                replica("r1", "25cc", true),
                replica("old-burst", "800cc", true),
            ],
        );
        let d = run(&ready, cfg, &mut st);
        assert_eq!(d.names(), vec!["r1"], "retired");
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
        // Waiting work, due when the cooldown ends (status said Converged).
        assert_eq!(d.deferred.len(), 1, "{:?}", d.deferred);
        assert_eq!(d.deferred[0].action, "drop c-burst (800cc)");
        assert_eq!(d.deferred[0].in_seconds, Some(50));
    }

    /// A size that crash-looped while the burst ran: a replica of it, even
    /// one new since (woken after a suspension, no kill of its own yet),
    /// retires the burst only once it has run 10 minutes (it retired it at
    /// its first hydration and was OOM-killed 25 s later: an outside
    /// check). Another size retires it as before.
    #[test]
    fn a_new_replica_of_a_size_that_looped_does_not_retire_the_burst_at_once() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc"});
        // Seen looping while the burst serves: remembered.
        let looping = cluster(
            "c",
            vec![
                ooming(replica("r1", "25cc", false), 3),
                replica("c-burst", "800cc", true),
            ],
        );
        let mut st = BurstState::default();
        run(&looping, cfg.clone(), &mut st);
        assert_eq!(st.looped.as_ref().map(|l| l.size.0.as_str()), Some("25cc"));
        // Woken: a new r1, made a minute ago, hydrated, no kill.
        let woken = |size: &str, mins: i64| {
            let mut r1 = replica("r1", size, true);
            r1.since = Some(now() - chrono::Duration::minutes(mins));
            cluster("c", vec![r1, replica("c-burst", "800cc", true)])
        };
        let d = run(&woken("25cc", 1), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(d.deferred.len(), 1, "{:?}", d.deferred);
        assert!(
            d.deferred[0]
                .reason
                .contains("its size 25cc crash-looped while the burst ran"),
            "{:?}",
            d.deferred
        );
        assert_eq!(d.deferred[0].in_seconds, Some(540));
        // Ten minutes in: retired, and the size forgotten.
        let d = run(&woken("25cc", 11), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(st.looped.is_none());
        // Another size retires it at once.
        let mut st = BurstState {
            looped: Some(Looped {
                size: Size::from("25cc"),
                at: now(),
            }),
            ..Default::default()
        };
        assert_eq!(run(&woken("50cc", 1), cfg, &mut st).names(), vec!["r1"]);
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
        // Half a minute in: waiting work, due when the linger ends.
        st.others_hydrated_since = Some(now() - chrono::Duration::seconds(30));
        let d = run(&cl, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(d.deferred.len(), 1, "{:?}", d.deferred);
        assert_eq!(d.deferred[0].action, "drop c-burst (800cc)");
        assert_eq!(d.deferred[0].in_seconds, Some(90));
        assert!(
            d.notes.iter().any(|n| n.contains("burst lingers 90s more")),
            "{:?}",
            d.notes
        );
        st.others_hydrated_since = Some(now() - chrono::Duration::seconds(121));
        let d = run(&cl, cfg, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
    }

    /// A replica hydrated again after a kill within the last 10 minutes
    /// does not retire the burst (its state may outgrow its memory after
    /// hydration, as a loop that serves between kills), nor start its
    /// linger; one that has served 10 minutes since does.
    #[test]
    fn a_replica_killed_lately_does_not_retire_the_burst() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "linger_s": 60});
        let with = |r1| cluster("c", vec![r1, replica("c-burst", "800cc", true)]);
        let mut st = BurstState {
            others_hydrated_since: Some(now() - chrono::Duration::seconds(600)),
            ..BurstState::default()
        };
        let d = run(
            &with(killed_ago(replica("r1", "25cc", true), 3)),
            cfg.clone(),
            &mut st,
        );
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert!(d.notes.is_empty() && d.alerts.is_empty(), "{d:?}");
        // Waiting work, due when r1 has served 10 minutes since its kill.
        assert_eq!(
            waiting(&d.deferred),
            [(
                "drop c-burst (800cc)",
                "r1 is hydrated but went offline (killed or crashed) less than 10m ago: \
                 the burst stays until it has served that long without",
                Some(420)
            )]
        );
        assert_eq!(st.others_hydrated_since, None);
        // Served 11 minutes since its kill: the linger starts, then ends.
        let proven = with(killed_ago(replica("r1", "25cc", true), 11));
        let d = run(&proven, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(st.others_hydrated_since, Some(now()));
        st.others_hydrated_since = Some(now() - chrono::Duration::seconds(61));
        assert_eq!(run(&proven, cfg, &mut st).names(), vec!["r1"]);
    }

    /// `c-burst` serves while `r1` hydrates.
    fn bursting() -> crate::model::Cluster {
        cluster(
            "c",
            vec![
                replica("r1", "25cc", false),
                replica("c-burst", "800cc", true),
            ],
        )
    }

    #[test]
    fn max_burst_s_is_reached_at_its_second() {
        let cl = bursting();
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        for (ran, gives_up) in [(599, false), (600, true)] {
            let mut st = BurstState {
                burst_since: Some(now() - chrono::Duration::seconds(ran)),
                ..Default::default()
            };
            let d = run(&cl, cfg.clone(), &mut st);
            assert_eq!(st.gave_up_at.is_some(), gives_up, "ran {ran}s");
            assert_eq!(d.contains("c-burst"), !gives_up, "ran {ran}s");
        }
    }

    /// `bursting()` with `r1` reporting `hydrated` of 10 objects.
    fn bursting_with(hydrated: u32) -> crate::model::Cluster {
        let mut cl = bursting();
        cl.replicas[0].objects = Some(crate::model::Objects {
            hydrated,
            total: 10,
        });
        cl
    }

    /// A burst that started 900 s ago, whose mark of `objects` hydrated
    /// objects was raised `ago` seconds ago.
    fn marked(objects: u32, ago: i64) -> BurstState {
        BurstState {
            burst_since: Some(now() - chrono::Duration::seconds(900)),
            progress: Some(Progress {
                objects,
                at: now() - chrono::Duration::seconds(ago),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_hydration_that_progresses_earns_the_burst_time() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        // Ran 900 s; r1 hydrated a further object 100 s ago: kept, said so.
        let mut st = marked(4, 100);
        let d = run(&bursting_with(4), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert!(st.gave_up_at.is_none());
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("4 object(s) hydrated, the latest 100s ago")),
            "{:?}",
            d.notes
        );
        // Its last progress 600 s ago: given up, saying how far it got.
        st = marked(4, 600);
        let d = run(&bursting_with(4), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(
            d.alerts
                .iter()
                .any(|a| a.contains("for 600s") && a.contains("4 object(s) hydrated at most")),
            "{:?}",
            d.alerts
        );
        // One more object than the mark is progress, now.
        let mut st = marked(4, 700);
        let d = run(&bursting_with(5), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(st.progress.map(|p| (p.objects, p.at)), Some((5, now())));
    }

    #[test]
    fn a_restart_that_hydrates_the_same_objects_again_is_no_progress() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        // r1 had 6 objects hydrated, restarted, and is back at 6: the mark
        // was raised 650 s ago, so the burst gives up.
        let mut st = marked(6, 650);
        let d = run(&bursting_with(6), cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(st.gave_up_at.is_some());
    }

    #[test]
    fn what_was_hydrated_when_the_burst_started_is_no_progress() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        // r1 has 3 of 10 hydrated as the burst starts: the mark, at its start.
        let mut cold = cluster("c", vec![replica("r1", "25cc", false)]);
        cold.replicas[0].objects = Some(crate::model::Objects {
            hydrated: 3,
            total: 10,
        });
        let mut st = BurstState::default();
        let d = run(&cold, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(st.progress.map(|p| (p.objects, p.at)), Some((3, now())));
        // Nothing hydrated as it starts: no mark yet.
        let mut none = cold.clone();
        none.replicas[0].objects = Some(crate::model::Objects {
            hydrated: 0,
            total: 10,
        });
        let mut fresh = BurstState::default();
        run(&none, cfg.clone(), &mut fresh);
        assert!(fresh.burst_since.is_some() && fresh.progress.is_none());
        // 600 s later, still 3: given up as if nothing was reported.
        st.burst_since = st.burst_since.map(|t| t - chrono::Duration::seconds(600));
        st.progress = st.progress.map(|p| Progress {
            at: p.at - chrono::Duration::seconds(600),
            ..p
        });
        let d = run(&bursting_with(3), cfg, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(
            d.alerts
                .iter()
                .any(|a| a
                    .contains("burst ran 600s (max_burst_s 600) and no other replica hydrated")),
            "{:?}",
            d.alerts
        );
    }

    /// A burst running whose state does not say since when (wiped, or
    /// never written): counted from when the replica was made, so
    /// `max_burst_s` comes (it ran on uncounted: an outside check); the
    /// alert after the give-up names the loop and its fix.
    #[test]
    fn a_burst_the_state_forgot_is_counted_from_its_replica() {
        let mut cl = bursting();
        if let Some(b) = cl.replicas.iter_mut().find(|r| r.name == "c-burst") {
            b.since = Some(now() - chrono::Duration::minutes(20));
        }
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        let mut st = BurstState::default();
        let d = run(&cl, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"], "given up: {:?}", d.alerts);
        assert!(st.gave_up_at.is_some());
        // Made a minute ago: kept, and counted from then.
        if let Some(b) = cl.replicas.iter_mut().find(|r| r.name == "c-burst") {
            b.since = Some(now() - chrono::Duration::minutes(1));
        }
        let mut st = BurstState::default();
        let d = run(&cl, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(st.burst_since, Some(now() - chrono::Duration::minutes(1)));
        // Given up beside a replica that OOM-loops: the alert says so.
        let mut r1 = replica("r1", "25cc", false);
        r1.crash.crashes = 4;
        r1.crash.ooms = 4;
        r1.crash.last_crash = Some(now());
        let after = cluster("c", vec![r1]);
        let mut gave_up = BurstState {
            gave_up_at: Some(now() - chrono::Duration::minutes(5)),
            ..Default::default()
        };
        let d = run(&after, cfg, &mut gave_up);
        assert!(
            d.alerts.iter().any(|a| a.contains("gave up bursting at")
                && a.contains("OOM-loop: the cluster's normal size is too small")),
            "{:?}",
            d.alerts
        );
    }

    /// The burst's reason counts a crash-looping replica as such, not as
    /// hydrating.
    #[test]
    fn a_burst_beside_a_crash_looping_replica_says_it_loops() {
        let mut r1 = replica("r1", "25cc", false);
        r1.crash.crashes = 3;
        r1.crash.ooms = 3;
        r1.crash.last_crash = Some(now());
        let cl = cluster("c", vec![r1, replica("r2", "25cc", false)]);
        let d = run(
            &cl,
            serde_json::json!({"burst_replica_size": "800cc"}),
            &mut BurstState::default(),
        );
        let reason = d
            .replicas
            .get("c-burst")
            .and_then(|r| r.added_by.as_ref())
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        assert!(
            reason.contains("(1 hydrating, 1 crash looping)"),
            "{reason}"
        );
    }

    #[test]
    fn max_burst_gives_up_with_an_alert_and_does_not_retry() {
        let cl = bursting();
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        let mut st = BurstState {
            burst_since: Some(now() - chrono::Duration::seconds(601)),
            ..Default::default()
        };
        let d = run(&cl, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert_eq!(d.alerts.len(), 1, "{:?}", d.alerts);
        // Nothing loops here: no loop is named.
        assert!(
            d.alerts[0].contains(
                "though none was killed: the cluster's normal size is probably too small"
            ) && !d.alerts[0].contains("OOM-loop"),
            "{:?}",
            d.alerts
        );
        assert!(st.gave_up_at.is_some());
        let after = cluster("c", vec![replica("r1", "25cc", false)]);
        let d = run(&after, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["r1"], "no new burst after giving up");
        // Still an alert while nothing serves (it said only "Hydrating").
        assert!(
            d.alerts.iter().any(|a| a.contains("gave up bursting at")),
            "{:?}",
            d.alerts
        );
        // The burst itself crash looping: its size is blamed, not the
        // normal one (whose replica was never killed).
        let mut looping_burst = bursting();
        if let Some(b) = looping_burst
            .replicas
            .iter_mut()
            .find(|r| r.name == "c-burst")
        {
            b.crash.crashes = 29;
            b.crash.ooms = 29;
            b.crash.last_crash = Some(now());
        }
        let mut fresh = BurstState {
            burst_since: Some(now() - chrono::Duration::seconds(601)),
            ..Default::default()
        };
        let d = run(&looping_burst, cfg.clone(), &mut fresh);
        assert!(
            d.alerts
                .iter()
                .any(|a| a.contains("crash-loops itself (29 kills)")
                    && a.contains("burst_replica_size is too small")),
            "{:?}",
            d.alerts
        );
        let hydrated = cluster("c", vec![replica("r1", "25cc", true)]);
        run(&hydrated, cfg, &mut st);
        assert!(
            st.gave_up_at.is_none(),
            "cleared once another replica hydrates"
        );
    }

    #[test]
    fn giving_up_beside_a_crash_looping_replica_says_so() {
        let mut r1 = replica("r1", "25cc", false);
        r1.crash = crate::model::CrashInfo {
            crashes: 5,
            ooms: 5,
            last_crash: Some(now()),
            first_crash: None,
            last_offline: None,
        };
        let cl = cluster("c", vec![r1, replica("c-burst", "800cc", true)]);
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        let mut st = BurstState {
            burst_since: Some(now() - chrono::Duration::seconds(601)),
            ..Default::default()
        };
        let d = run(&cl, cfg, &mut st);
        assert_eq!(d.names(), vec!["r1"], "given up as documented");
        assert_eq!(
            d.alerts,
            [
                "burst: burst ran 601s (max_burst_s 600) and no other replica hydrated: r1 (5 OOM \
              kills recently) OOM-loop, so the cluster's normal size is too small for its \
              workload; nothing serves once the burst is gone: raise it"
            ],
        );
    }

    #[test]
    fn a_burst_dropped_by_a_suspension_starts_afresh_on_the_next_wake() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc", "max_burst_s": 600});
        // The last burst started two days ago and was dropped by a suspension
        // (the state still says so).
        let mut st = BurstState {
            burst_since: Some(now() - chrono::Duration::days(2)),
            ..Default::default()
        };
        // The wake: the normal replica is back, hydrating; no burst yet.
        let waking = cluster("c", vec![replica("r1", "25cc", false)]);
        let d = run(&waking, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"], "a new burst");
        assert_eq!(st.burst_since, Some(now()));
        // One round later the burst runs: it has not run for too long.
        let running = cluster(
            "c",
            vec![
                replica("r1", "25cc", false),
                replica("c-burst", "800cc", true),
            ],
        );
        let d = run(&running, cfg.clone(), &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert!(d.alerts.is_empty(), "{:?}", d.alerts);
        assert!(st.gave_up_at.is_none());
        // State written by an older version, where the wake itself brought
        // the burst back (the desired set has it, the cluster not yet).
        let mut old = BurstState {
            burst_since: Some(now() - chrono::Duration::days(2)),
            ..Default::default()
        };
        let d = decide_in(&waking, Idle::Busy, now(), |ctx, d| {
            d.add(
                "c-burst",
                &Size::from("800cc"),
                StrategyKind::IdleSuspend,
                "resume".into(),
            );
            let c = BurstConfig::parse(&Obj::new(&cfg).unwrap(), ctx.sizes).unwrap();
            decide(&c, ctx, d, &mut old)
        });
        assert_eq!(d.names(), vec!["c-burst", "r1"], "not given up");
        assert!(d.alerts.is_empty() && old.gave_up_at.is_none());
        assert_eq!(old.burst_since, Some(now()));
    }

    #[test]
    fn a_burst_serving_beside_an_oom_loop_raises_an_alert() {
        let cfg = serde_json::json!({"burst_replica_size": "800cc"});
        let cases = vec![
            (
                "looping",
                ooming(replica("r1", "25cc", false), 6),
                true,
                true,
            ),
            (
                "one OOM is not a loop",
                ooming(replica("r1", "25cc", false), 1),
                true,
                false,
            ),
            (
                "burst not hydrated yet",
                ooming(replica("r1", "25cc", false), 6),
                false,
                false,
            ),
            (
                "merely hydrating",
                replica("r1", "25cc", false),
                true,
                false,
            ),
        ];
        for (name, normal, burst_hydrated, alert) in cases {
            let cl = cluster(
                "c",
                vec![normal, replica("c-burst", "800cc", burst_hydrated)],
            );
            let d = run(&cl, cfg.clone(), &mut BurstState::default());
            assert_eq!(d.names(), vec!["c-burst", "r1"], "{name}");
            assert_eq!(d.alerts.len(), usize::from(alert), "{name}: {:?}", d.alerts);
            if alert {
                assert!(d.alerts[0].contains("r1") && d.alerts[0].contains("too small"));
            }
        }
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
