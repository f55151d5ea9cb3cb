//! `idle_suspend`: no replicas after `idle_after_s` without queries; demand
//! (a recent or in-flight statement) brings them back. When the statement log
//! has no data at all the cluster is never suspended for idleness unless the
//! operator opts in with `suspend_when_unknown`. The burst replica is not
//! remembered: on a wake `burst` decides afresh whether one is needed. The
//! log is sampled (reference §8.6): below [`MIN_SAMPLE_RATE`] a silence
//! proves nothing and counts as unknown; between it and 1 the silence needed
//! grows as `idle_after_s / rate` ([`idle_evidence_s`]). A logged statement
//! is always evidence of activity, whatever the rate.
//!
//! A resume is seen through: the replicas it brings back are added again
//! on every plan until they are live (a create that `--max-actions` held
//! back, or that failed, is not forgotten while the burst replica serves),
//! until the cluster is suspended again, or until a strategy that chooses
//! the size replaces them. A remembered replica that cannot be created (its
//! size is no longer offered, its name is over Materialize's 255 bytes) is
//! not: an alert names it and says what to do. A suspended cluster whose
//! slot was wiped (`wipe-state`, or by hand) is woken with what the audit
//! trail shows its last suspension dropped (`Ctx::last_suspension`); with
//! nothing usable there either, demand on it is an alert. A slot wiped in
//! the middle of a suspension spread over runs is made whole from the
//! trail by the next run ([`IdleSuspendState::check_trail`]).
//!
//! With `"predict": true` it also learns when the cluster's demand comes
//! (`predict`): it wakes the cluster one lead (learned hydration + one
//! interval + an adapted margin) before the earliest predicted onset and
//! keeps it warm until the latest; once users came, a session that is over
//! (it ran as long as the shortest past one from its first statement, then
//! a silence of eight mean gaps) is suspended in minutes; a predicted day
//! nobody came to is suspended as soon as its latest onset passed. Unpredicted demand still wakes it, as
//! without prediction. It never suspends a cluster whose normal replica is
//! still hydrating (the hydration would be paid again at the next wake), and
//! it wakes the cluster with what ran when it was suspended (the size
//! `shrink_to_fit` or `target_size` left it at). Prediction is a mode of
//! `idle_suspend` rather than its own strategy because it decides the same
//! thing — when the cluster runs — and two strategies deciding that would
//! undo each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::config::{ConfigError, Obj};
use super::keys;
use super::predict::{self, forecast, Forecast, Lead, PredictConfig, PredictState, Profile};
use super::{cooldown_left, Ctx, Desired, Idle, StrategyKind};
use crate::model::{human_duration, plural, Cluster, Size};

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
    /// Learn the demand and wake ahead of it (`"predict": true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predict: Option<PredictConfig>,
}

impl IdleSuspendConfig {
    pub(crate) fn parse(o: &Obj) -> Result<Self, ConfigError> {
        let predict = o.opt_bool(keys::PREDICT.name)?.unwrap_or(false);
        let history_days = o.opt_u64_in(keys::HISTORY_DAYS.name, 1, 56)?;
        let margin_s = o.opt_seconds_in(keys::PREWARM_MARGIN_S.name, 0, 3600)?;
        let lateness = o.opt_fraction(&keys::PREWARM_LATENESS)?;
        let target = o.opt_fraction(&keys::PREWARM_TARGET)?;
        for (key, given) in [
            (keys::HISTORY_DAYS.name, history_days.is_some()),
            (keys::PREWARM_MARGIN_S.name, margin_s.is_some()),
            (keys::PREWARM_LATENESS.name, lateness.is_some()),
            (keys::PREWARM_TARGET.name, target.is_some()),
        ] {
            if given && !predict {
                return Err(ConfigError::new(key, "only applies with \"predict\": true"));
            }
        }
        let defaults = PredictConfig::default();
        let aim = match (lateness, target) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    keys::PREWARM_TARGET.name,
                    "give prewarm_target or prewarm_lateness, not both",
                ))
            }
            (Some(l), None) => predict::Aim::Lateness(l),
            (None, Some(t)) => predict::Aim::Target(t),
            (None, None) => defaults.aim,
        };
        Ok(IdleSuspendConfig {
            idle_after_s: o.required_seconds(keys::IDLE_AFTER_S.name, 1)?,
            cooldown_s: o.opt_seconds(keys::COOLDOWN_S.name, 0)?.unwrap_or(0),
            suspend_when_unknown: o
                .opt_bool(keys::SUSPEND_WHEN_UNKNOWN.name)?
                .unwrap_or(false),
            predict: predict.then(|| PredictConfig {
                history_days: history_days.unwrap_or(defaults.history_days),
                margin_s: margin_s.unwrap_or(defaults.margin_s),
                aim,
            }),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuspendedReplica {
    pub name: String,
    pub size: Size,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleSuspendState {
    /// What was running when the cluster was suspended, to bring it back.
    #[serde(default)]
    pub suspended: Vec<SuspendedReplica>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub resumed_at: Option<DateTime<Utc>>,
    /// The replicas the last resume brings back that its plan did not
    /// create (held back by a limit or `stabilization`): each plan adds
    /// them again until they are live, the cluster is suspended again, or
    /// a strategy that chooses the size replaces them. Those a plan creates
    /// leave the list ([`planned`]): its state is written only once they
    /// all ran (a run cut short by `--max-actions` or a failure keeps the
    /// stored state, so the next plan resumes again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resuming: Vec<SuspendedReplica>,
    /// The predictive mode's memory (hydration times, margin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predict: Option<PredictState>,
    /// The slot began afresh (its state was wiped, or never written) and
    /// the audit trail has not been read for it since: a suspension an
    /// earlier run began may be under way, of which the slot knows at most
    /// what later runs dropped. The next plan reads the trail once
    /// ([`reads_the_trail`]), not this one: a dry-run, which never writes
    /// state, never does, and a run writes it once per wipe or new cluster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_trail: bool,
    /// The audit trail was read for this cluster while it ran no replica
    /// and the slot remembered nothing to wake with, and it showed nothing
    /// to recall: it is not read for that again (a scan of the whole trail)
    /// until the cluster runs a replica or its state is wiped. A suspension
    /// by this controller writes its state before its first drop, so none
    /// can happen unseen while this is set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nothing_to_recall: bool,
    /// Remembered replicas the stuck rule had given up on when they were
    /// dropped (alone then, they were the cluster's shape): a wake beside
    /// one that is not leaves them out (a slot wiped in the middle of a
    /// suspension remembered one alone, and the trail's recall put it
    /// beside the replica the first run dropped: it was made again at
    /// every wake, an outside check).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stuck: Vec<String>,
    /// When the DROP was sent that a wake was last made again for
    /// ([`wake_again_after_a_late_drop`]): a DROP lands once, so it is not
    /// blamed for a later loss (an operator's drop by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewoken_for: Option<DateTime<Utc>>,
    /// The suspension was mz-clusterctl's, imported from its state row
    /// (`import_reference`): forgotten by deleting that row, which
    /// `wipe-state` keeps (its advice to wipe did nothing: an outside
    /// check).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_reference: bool,
}

/// What idle_suspend's slot of a cluster's state remembers, for a replay
/// of the cluster elsewhere (`simulate --from-history`): reading the slot's
/// layout stays here, beside the code that writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Remembered {
    /// The replicas the next plan would bring back, as `resume` and
    /// `complete_resume` pick them: those remembered at the suspension while
    /// the cluster is held suspended, those still missing while a resume is
    /// under way; empty when neither (or nothing was remembered).
    pub wake: Vec<SuspendedReplica>,
    /// The predictive mode's hydration times per size (empty: none learned).
    pub hydrations: predict::hydration::Hydrations,
    /// `wake` is what the audit trail shows the last suspension dropped:
    /// the state remembered nothing (wiped), as `apply` then wakes with.
    pub from_trail: bool,
}

/// [`Remembered`] from a cluster's whole state (the object keyed by strategy
/// type); a missing or unreadable slot remembers nothing. A cluster with no
/// replica whose slot remembers nothing to wake with (its state wiped) is
/// woken with what the audit trail shows its last suspension dropped
/// (`last`), as `apply` wakes it ([`recall_from_trail`]); one whose wake a
/// late DROP may have undone (`late_drops`:
/// the plan's `doubt::sent_drops`), with what that wake brought back
/// and is gone ([`undone_by_a_late_drop`]).
pub fn remembered(
    cluster: &Cluster,
    state: Option<&serde_json::Value>,
    last: Option<&crate::model::LastSuspension>,
    late_drops: &[crate::model::SentDrop],
) -> Remembered {
    let st: IdleSuspendState = state
        .and_then(|s| s.get(KIND.as_str()))
        .map(super::read_state)
        .unwrap_or_default();
    let burst = super::burst_replica(cluster, state);
    let mut wake: Vec<SuspendedReplica> = to_wake_with(&st)
        .iter()
        .filter(|r| r.name != burst)
        .cloned()
        .collect();
    // A slot with no trace of a suspension or a wake (wiped, or never
    // written), and a trail that shows no wake since.
    let fresh = st.suspended_at.is_none() && st.resumed_at.is_none() && st.suspended.is_empty();
    let from_trail = wake.is_empty()
        && fresh
        && cluster.replicas.is_empty()
        && last.is_some_and(|l| !woken_since(l, &st));
    if let (true, Some(last)) = (from_trail, last) {
        wake = sized_drops(last, &burst).collect();
    }
    if let Some((woken, _)) = undone_by_a_late_drop(cluster, &st, &burst, late_drops) {
        wake = woken;
    }
    Remembered {
        from_trail: from_trail && !wake.is_empty(),
        wake,
        hydrations: st.predict.map(|p| p.hydrations).unwrap_or_default(),
    }
}

/// The controller's interval (seconds) that its last predictive plan
/// recorded in a cluster's state (the object keyed by strategy type); `None`
/// when none was (state written before it was, or not predictive), or when
/// it is unreadable or beyond what `--interval` accepts.
pub fn recorded_interval_s(state: Option<&serde_json::Value>) -> Option<u64> {
    let st: IdleSuspendState = state?.get(KIND.as_str()).map(super::read_state)?;
    st.predict?
        .interval_s
        .filter(|s| (1..=keys::MAX_SECONDS).contains(s))
}

/// What a cluster's slot learned of its workload, for the cluster that
/// takes over its rows (`strategy mv`; `to_managed`: whether that one is
/// managed): the predictive mode's hydration times per size and its
/// adapted margin, with the hits and misses that adapted it and the
/// controller's interval. What belongs to its replicas stays: a
/// suspension's replicas, a resume or a prewarm under way, the hydrations
/// still pending. The slot is new to that cluster, as one begun afresh is,
/// and reads the trail as such a slot does ([`afresh_reads_the_trail`]).
/// `None` when nothing was learned.
pub(super) fn carried(
    st: &IdleSuspendState,
    to_managed: bool,
) -> Option<(IdleSuspendState, String)> {
    let p = st.predict.as_ref()?;
    let by_size: std::collections::BTreeMap<Size, Vec<u32>> = p
        .hydrations
        .by_size
        .iter()
        .filter(|(_, samples)| !samples.is_empty())
        .map(|(size, samples)| (size.clone(), samples.clone()))
        .collect();
    let mut said = Vec::new();
    if !by_size.is_empty() {
        let sizes: Vec<String> = by_size
            .iter()
            .map(|(size, samples)| {
                let n = samples.len();
                format!("{size} ({n} sample{})", plural(n))
            })
            .collect();
        said.push(format!("hydration times of {}", sizes.join(", ")));
    }
    if let Some(m) = p.margin_s {
        said.push(format!(
            "a margin of {}",
            human_duration(m.max(0.0).round() as u64)
        ));
    }
    if said.is_empty() {
        return None;
    }
    let predict = PredictState {
        hydrations: predict::hydration::Hydrations {
            by_size,
            ..Default::default()
        },
        margin_s: p.margin_s,
        hits: p.hits,
        misses: p.misses,
        interval_s: p.interval_s,
        ..PredictState::default()
    };
    let kept = IdleSuspendState {
        predict: Some(predict),
        check_trail: afresh_reads_the_trail(to_managed),
        ..IdleSuspendState::default()
    };
    Some((kept, said.join(" and ")))
}

/// Whether a slot that begins afresh on a cluster (`managed` or not) has
/// the trail read by the next plan ([`IdleSuspendState::check_trail`]): a
/// suspension an earlier run began may be under way there, unless the
/// cluster is managed (suspended in one statement, nothing can be under
/// way while it runs replicas).
fn afresh_reads_the_trail(managed: bool) -> bool {
    !managed
}

/// What the next plan brings back, as `resume` and `complete_resume` pick
/// it: the replicas remembered at the suspension while the cluster is held
/// suspended, those still missing while a resume is under way.
fn to_wake_with(st: &IdleSuspendState) -> &[SuspendedReplica] {
    if st.suspended_at.is_some() {
        &st.suspended
    } else {
        &st.resuming
    }
}

/// Everything the predictive mode decides on in one plan.
pub struct Predicting<'a> {
    pub config: &'a PredictConfig,
    pub profile: &'a Profile,
    pub lead: Lead,
    /// How a wake with that lead is timed (the forecast and `describe`'s
    /// held-out share replay past days with it).
    pub timing: predict::Timing,
    pub forecast: Forecast,
}

/// The sizes the cluster runs with, or wakes with when suspended (not the
/// burst replica's).
fn wake_sizes(ctx: &Ctx, d: &Desired, st: &IdleSuspendState) -> Vec<Size> {
    let burst = ctx.burst.as_str();
    let mut v: Vec<Size> = if d.replicas.is_empty() {
        st.suspended
            .iter()
            .filter(|r| r.name != burst)
            .map(|r| r.size.clone())
            .collect()
    } else {
        d.replicas
            .iter()
            .filter(|(n, _)| **n != burst)
            .map(|(_, r)| r.size.clone())
            .collect()
    };
    v.sort();
    v.dedup();
    v
}

/// The predictive view of this plan, when the mode is on and a profile
/// could be learned.
pub fn predicting<'a>(
    c: &'a IdleSuspendConfig,
    ctx: &Ctx<'a>,
    d: &Desired,
    st: &IdleSuspendState,
) -> Option<Predicting<'a>> {
    let config = c.predict.as_ref()?;
    let profile = ctx.profile?;
    let empty = PredictState::default();
    let ps = st.predict.as_ref().unwrap_or(&empty);
    let lead = Lead::of(
        &ps.hydrations,
        &wake_sizes(ctx, d, st),
        ctx.sizes,
        ctx.interval_s,
        ps.margin(config),
    );
    let timing = lead.timing(config.margin_s);
    let forecast = ctx
        .prepared
        .forecast(profile, timing, config.aim, ctx.now, seen(ctx, ps));
    Some(Predicting {
        config,
        profile,
        lead,
        timing,
        forecast,
    })
}

/// What was seen of the cluster's statements: the latest, and where the
/// session under way began as recorded in `ps`.
fn seen(ctx: &Ctx, ps: &PredictState) -> predict::Seen {
    predict::Seen {
        last_begin: ctx.cluster.activity.last_begin,
        began: ps.began,
    }
}

/// Hits and misses of the predictions, before deciding: users that waited
/// for a replica widen the margin by their wait (when their demand was
/// predicted); users that found the cluster hydrated let it shrink.
fn score(ctx: &Ctx, p: &Predicting, st: &mut IdleSuspendState) {
    let ps = st.predict.get_or_insert_with(PredictState::default);
    let hydrated = ctx.cluster.any_hydrated();
    let recent = (2 * ctx.interval_s + 60) as f64;
    let demand_now =
        ctx.cluster.activity.in_flight > 0 || matches!(ctx.idle, Idle::For(s) if s < recent);
    let now = ctx.now;
    let current = p.forecast.current.as_ref();
    if let Some(b) = current.and_then(|(o, _)| o.began) {
        ps.began = Some(b);
    }
    if hydrated {
        // An occurrence is known by the onset it is aimed at, not its
        // wake: a lead learned since (a hydration time, a margin) moves the
        // wake, and the same day was scored again (an outside check).
        ps.served(p.config, now, current.map(|(o, _)| o.aimed));
        if let Some((o, predict::Phase::Started)) = current {
            ps.hit(p.config, o.aimed);
        }
    } else if demand_now {
        // Only users who came after the onset the wake was aimed at count
        // against the margin: earlier ones were left to wake it on demand
        // (`prewarm_target`, `prewarm_lateness`), and widening the margin
        // for them would undo that choice.
        let since = ctx.cluster.activity.last_begin.unwrap_or(now).min(now);
        let predicted = p.forecast.keep_warm().is_some_and(|o| since >= o.aimed);
        ps.waiting(since, predicted);
    }
}

/// Before every other strategy: a cluster with demand gets back what was
/// suspended, so the strategies that follow (e.g. `burst`) see the replicas
/// the cluster is waking with in this same round. In predictive mode, a
/// cluster whose predicted demand is near wakes too (and no burst starts
/// while nobody waits). `fresh`: the slot held no state (nothing, or
/// nothing that parses: see [`IdleSuspendState::check_trail`]).
pub(super) fn prepare(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
    fresh: bool,
) {
    let recalled = recall_from_trail(ctx, st, fresh);
    complete_resume(ctx, d, st);
    wake_again_after_a_late_drop(c, ctx, d, st);
    if c.predict.is_some() {
        prepare_predictive(c, ctx, d, st, recalled.as_deref());
    } else if new_demand(c, ctx, st) {
        let idle = idle_for(c, ctx).unwrap_or(0.0);
        resume(ctx, d, st, idle, None, recalled.as_deref());
    }
    if let Some(what) = recalled.filter(|_| st.suspended_at.is_some()) {
        d.note(
            KIND,
            format!("state was wiped; remembering {what}, for the next wake"),
        );
    }
}

/// Whether the audit trail's last suspension is read for this cluster
/// (the snapshot reads the trail only for the clusters the plan runs that
/// are so, the plan's `reads_the_trail_for`, and the plan recalls from it
/// only then): one with no replica whose slot remembers nothing to wake with,
/// or one whose slot began afresh and has not had the trail read since
/// ([`IdleSuspendState::check_trail`]).
pub(super) fn reads_the_trail(cluster: &crate::model::Cluster, st: &IdleSuspendState) -> bool {
    st.check_trail || (forgot_its_wake(cluster, st) && !st.nothing_to_recall)
}

/// No replica runs and the slot remembers nothing to wake with: what a
/// wiped state looks like on a suspended cluster.
fn forgot_its_wake(cluster: &crate::model::Cluster, st: &IdleSuspendState) -> bool {
    cluster.replicas.is_empty() && to_wake_with(st).is_empty()
}

/// A cluster whose slot lost its memory (its state was wiped, by
/// `wipe-state` or by hand) gets it back from the audit trail
/// (`Ctx::last_suspension`) when the trail shows a suspension by this
/// controller still under way there: nothing it dropped runs again, and
/// what runs, or what the slot remembers, ran when it was planned (a
/// suspension over several runs, wiped between them, leaves the rest
/// running, or remembered by a run that knew only its own drops). The
/// slot then holds what it would have kept: what the suspension dropped
/// and what still runs, or what the slot already remembers. Not when a
/// replica was created there since that suspension (the trail, or the
/// slot's last resume, says so): what ran after it is not known. Returns
/// what was recalled and from where, for the plan. `fresh`: the slot held
/// no state, so the next plan reads the trail unless this one did (a managed
/// cluster is suspended in one statement: nothing can be under way there
/// while it runs replicas).
fn recall_from_trail(ctx: &Ctx, st: &mut IdleSuspendState, fresh: bool) -> Option<String> {
    st.nothing_to_recall &= ctx.cluster.replicas.is_empty();
    if !reads_the_trail(ctx.cluster, st) || !ctx.trail_read {
        st.check_trail |= fresh && afresh_reads_the_trail(ctx.cluster.managed);
        return None;
    }
    // Read: done with, whatever it holds (a failed read is tried again).
    st.check_trail = false;
    let recalled = recall_read(ctx, st);
    // Not done with while what it shows cannot be made now (a size
    // withdrawn): read again, it wakes the cluster once it can (marked
    // done, the trail's memory was lost, and the cluster woke later at one
    // replica, not its two: an outside check).
    let blocked = ctx
        .last_suspension
        .filter(|last| !woken_since(last, st))
        .is_some_and(|last| {
            sized_drops(last, ctx.burst.as_str()).any(|r| not_creatable(ctx, &r).is_some())
        });
    st.nothing_to_recall = forgot_its_wake(ctx.cluster, st) && !blocked;
    recalled
}

/// [`recall_from_trail`] once the trail was read for the cluster.
fn recall_read(ctx: &Ctx, st: &mut IdleSuspendState) -> Option<String> {
    let last = ctx.last_suspension?;
    // A resume under way knows what it brings back.
    let resuming = st.suspended_at.is_none() && !st.resuming.is_empty();
    if resuming {
        return None;
    }
    let burst = ctx.burst.as_str();
    if woken_since(last, st) {
        return owed_by_a_partial_wake(ctx, st, last);
    }
    let running: Vec<SuspendedReplica> = ctx
        .cluster
        .replicas
        .iter()
        .filter(|r| r.name != burst)
        .filter_map(|r| {
            Some(SuspendedReplica {
                name: r.name.clone(),
                size: r.size.clone()?,
            })
        })
        .collect();
    // Not a replica made while it was suspended that a run of this slot,
    // begun afresh after the wipe, dropped and remembered (the trail knows
    // that drop kept the cluster suspended): the wake was of the hand-made
    // replica, 8 times the size it ran (an outside check).
    let remembered: Vec<SuspendedReplica> = to_wake_with(st)
        .iter()
        .filter(|r| {
            !last
                .made_while_suspended
                .iter()
                .any(|(n, size)| *n == r.name && size.as_ref() == Some(&r.size))
        })
        .cloned()
        .collect();
    // A managed cluster is suspended in one statement: not while it runs
    // replicas. Nothing the suspension dropped runs again, and what runs or
    // the slot remembers ran when it was planned.
    let under_way = (!ctx.cluster.managed || ctx.cluster.replicas.is_empty())
        && last
            .dropped
            .iter()
            .all(|(name, _)| ctx.cluster.replica(name).is_none())
        && running
            .iter()
            .chain(&remembered)
            .all(|r| last.live.contains(&r.name));
    if !under_way {
        return None;
    }
    // As `suspend` remembers: not the burst replica. Nor one that cannot
    // be created (a size withdrawn since): `wipe-state`, the fix its alert
    // suggests, would otherwise bring the same alert back from the trail.
    // Said in the wake's reason, not alerted on (it said nothing of them:
    // an outside check).
    let (dropped, left_out): (Vec<SuspendedReplica>, Vec<SuspendedReplica>) =
        sized_drops(last, burst)
            .filter(|d| !remembered.iter().any(|r| r.name == d.name))
            .partition(|r| not_creatable(ctx, r).is_none());
    if dropped.is_empty() {
        return None;
    }
    let mut what = format!(
        "{} as the last suspension dropped, by {}, per the audit trail",
        listed(&dropped),
        last.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    for r in &left_out {
        if let Some(why) = not_creatable(ctx, r) {
            what.push_str(&format!(
                "; not {} ({}), which it dropped too: {why}",
                shown(&r.name),
                shown(&r.size.0)
            ));
        }
    }
    let still: Vec<SuspendedReplica> = running
        .into_iter()
        .filter(|r| !remembered.iter().any(|m| m.name == r.name))
        .collect();
    if !remembered.is_empty() {
        what.push_str(&format!(", besides {} dropped since", listed(&remembered)));
    }
    if !still.is_empty() {
        what.push_str(&format!(", with {} still running", listed(&still)));
    }
    st.suspended = remembered.into_iter().chain(dropped).chain(still).collect();
    st.suspended_at = st.suspended_at.or(Some(last.at));
    st.resuming.clear();
    Some(what)
}

/// Whether the cluster was woken since the trail's last suspension: a
/// creation recorded after it, or a resume the slot remembers.
fn woken_since(last: &crate::model::LastSuspension, st: &IdleSuspendState) -> bool {
    last.last_created.is_some_and(|t| t >= last.at) || st.resumed_at.is_some_and(|t| t >= last.at)
}

/// What the trail's last suspension dropped that a wake can bring back:
/// not the burst replica (as `suspend` remembers), nor one whose row
/// lacks a size.
fn sized_drops<'a>(
    last: &'a crate::model::LastSuspension,
    burst: &'a str,
) -> impl Iterator<Item = SuspendedReplica> + 'a {
    last.dropped
        .iter()
        .filter(move |(name, _)| name != burst)
        .filter_map(|(name, size)| {
            Some(SuspendedReplica {
                name: name.clone(),
                size: size.clone()?,
            })
        })
}

/// `r1 (25cc), r2 (100cc)`, as reasons list replicas a wake brings back.
fn listed(list: &[SuspendedReplica]) -> String {
    list.iter()
        .map(|r| format!("{} ({})", shown(&r.name), shown(&r.size.0)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Woken since the trail's last suspension, with what runs now all among
/// what it dropped (same names and sizes, the burst replica aside): a wake
/// of that memory a run left partial (`--max-actions`, a kill), whose
/// state was wiped before it or not written by it (a run whose actions
/// were not all done writes none). The rest is still owed: resumed as
/// any resume under way. Anything else running means the shape was chosen
/// elsewhere: nothing is recalled.
fn owed_by_a_partial_wake(
    ctx: &Ctx,
    st: &mut IdleSuspendState,
    last: &crate::model::LastSuspension,
) -> Option<String> {
    let burst = ctx.burst.as_str();
    let dropped: Vec<SuspendedReplica> = sized_drops(last, burst).collect();
    let running: Vec<&crate::model::Replica> = ctx
        .cluster
        .replicas
        .iter()
        .filter(|r| r.name != burst)
        .collect();
    let among = |r: &&crate::model::Replica| {
        dropped
            .iter()
            .any(|d| d.name == r.name && r.size.as_ref() == Some(&d.size))
    };
    if running.is_empty() || !running.iter().all(among) {
        return None;
    }
    let owed: Vec<SuspendedReplica> = dropped
        .iter()
        .filter(|d| ctx.cluster.replica(&d.name).is_none())
        .filter(|d| not_creatable(ctx, d).is_none())
        .cloned()
        .collect();
    if owed.is_empty() {
        return None;
    }
    let listed = listed(&owed);
    st.suspended = dropped;
    st.resuming = owed;
    st.suspended_at = None;
    st.resumed_at = st.resumed_at.or(last.last_created);
    Some(format!(
        "{listed} still owed by a wake of what the last suspension dropped, by {}, per the \
         audit trail",
        last.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ))
}

fn prepare_predictive(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
    recalled: Option<&str>,
) {
    let mut reason = None;
    if let Some(p) = predicting(c, ctx, d, st) {
        let margin = st.predict.as_ref().map(|ps| ps.margin(p.config));
        score(ctx, &p, st);
        let p = if st.predict.as_ref().map(|ps| ps.margin(p.config)) != margin {
            predicting(c, ctx, d, st).unwrap_or(p)
        } else {
            p
        };
        if let Some((_, why)) = holding(ctx, &p, st) {
            if !ctx.demand_waiting() {
                d.prewarming = Some(why.clone());
            }
            reason = Some(why);
        }
    }
    if new_demand(c, ctx, st) {
        let idle = idle_for(c, ctx).unwrap_or(0.0);
        resume(ctx, d, st, idle, None, recalled);
    } else if let Some(why) = reason {
        resume(ctx, d, st, 0.0, Some(&why), recalled);
    }
}

/// Users since the suspension: what wakes a suspended cluster (with or
/// without prediction). A statement waiting, or one that began after the
/// suspension and within `idle_after_s` (after a controller outage, an old
/// one would wake the cluster only to suspend it again). Not a short idle
/// time alone: a cluster the log never mentions counts its silence from
/// the controller's first sight of it once its replicas are gone, and a
/// sampled log may have suspended it after recent activity.
///
/// A suspension dated after the database's now (its clock stepped back
/// since) cannot be ordered against the statements: any within
/// `idle_after_s` is taken as new (those made within the step, dated before
/// the suspension, never woke the cluster: an outside check).
fn new_demand(c: &IdleSuspendConfig, ctx: &Ctx, st: &IdleSuspendState) -> bool {
    ctx.cluster.activity.in_flight > 0
        || recent_statement(c, ctx)
            .is_some_and(|b| st.suspended_at.is_some_and(|s| b > s || s > ctx.now))
}

/// The last statement's begin, when within `idle_after_s`.
fn recent_statement(c: &IdleSuspendConfig, ctx: &Ctx) -> Option<DateTime<Utc>> {
    let b = ctx.cluster.activity.last_begin?;
    (((ctx.now - b).num_milliseconds() as f64) < c.idle_after_s as f64 * 1000.0).then_some(b)
}

/// The prewarm the cluster is held warm for, until when and why: the
/// forecast's, or one started earlier that a newer profile no longer
/// predicts (it is seen through). Records the forecast's in the state.
fn holding(
    ctx: &Ctx,
    p: &Predicting,
    st: &mut IdleSuspendState,
) -> Option<(DateTime<Utc>, String)> {
    let suspended_at = st.suspended_at;
    let ps = st.predict.get_or_insert_with(PredictState::default);
    let now_seen = seen(ctx, ps);
    if let Some(o) = p.forecast.keep_warm() {
        // Seen through: a hold a suspension ended, at or after its end, is
        // not begun again for the same occurrence (one whose wake is not
        // after that end), though the clock says it is still to come: the
        // server's clock stepped back over it (it woke the cluster again
        // for a day nobody came to: an outside check). Users still wake it.
        let seen_through = ps.hold.as_ref().is_some_and(|h| {
            let end = h.until(now_seen);
            suspended_at.is_some_and(|s| s >= end) && o.wake <= end
        });
        if seen_through {
            return None;
        }
        let why = predict::wake_reason(p.profile, o, &p.lead);
        let hold = match ps.hold.take() {
            // Once its session began, when it can end is known: not kept
            // to the latest onset an earlier run had to assume.
            Some(h) if h.wake == o.wake || h.until(now_seen) > ctx.now => predict::Hold {
                wake: h.wake.min(o.wake),
                until: h.until.max(o.hold_until),
                started_until: if o.began.is_some() {
                    o.started_until()
                } else {
                    h.started_until.max(o.started_until())
                },
                why: why.clone(),
            },
            _ => predict::Hold {
                wake: o.wake,
                until: o.hold_until,
                started_until: o.started_until(),
                why: why.clone(),
            },
        };
        let until = hold.until(now_seen);
        ps.hold = Some(hold);
        return Some((until, why));
    }
    match ps.hold.take() {
        Some(h) if h.until(now_seen) > ctx.now => {
            let r = (h.until(now_seen), h.why.clone());
            ps.hold = Some(h);
            Some(r)
        }
        // Over: kept (every reader asks whether it is still to come) for
        // the reason of the suspension that ends it, which says until when
        // it kept the cluster warm; the next hold replaces it.
        over => {
            ps.hold = over;
            None
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
    // A replica being resumed that a strategy before this one took out
    // again (one choosing the size wants another) is no longer owed. Those
    // that cannot be created stay, alerted on, until a replica runs.
    st.resuming
        .retain(|r| d.contains(&r.name) || not_creatable(ctx, r).is_some());
    nothing_to_wake_with(c, ctx, d, st);
    if c.predict.is_some() {
        decide_predictive(c, ctx, d, st);
        return;
    }
    let Some(idle_for) = known_idle(c, ctx, d) else {
        stays_suspended_unseen(ctx, d, st);
        return;
    };
    let needed = idle_evidence_s(c.idle_after_s, ctx.sample_rate);
    if let Some(at) = st.suspended_at {
        // Suspended and not woken by a statement (`prepare`): stays so,
        // whatever the other strategies would start and the idle time
        // says (a cluster the log never mentions counts its silence from
        // the controller's first sight of it, which a wiped state moves
        // to now), as with prediction.
        let reason = format!(
            "suspended {} ago, no statement since",
            human_duration((ctx.now - at).num_seconds().max(0) as u64)
        );
        suspend(c, ctx, d, st, reason, None);
        return;
    }
    let idle = match idle_for {
        Some(s) => s >= needed as f64,
        None => true,
    };
    if idle {
        suspend(c, ctx, d, st, idle_reason(c, idle_for, needed), None);
        return;
    }
    counted_since_seen(ctx, d, idle_for.unwrap_or_default(), needed as f64);
    if needed > c.idle_after_s
        && idle_for.is_some_and(|s| s >= c.idle_after_s as f64)
        && !d.replicas.is_empty()
    {
        d.note(
            KIND,
            format!(
                "idle for {}, but the statement log is sampled: waiting for {} of silence",
                human_duration(idle_for.unwrap_or_default().max(0.0) as u64),
                human_duration(needed)
            ),
        );
    }
}

/// A cluster this strategy suspended, with no replica, whose statements
/// cannot be judged (no activity data, or a log sampled too thinly to
/// trust): it stays suspended, as it does with a statement log that shows
/// none (a statement the log does show wakes it, `prepare`). The replicas
/// other strategies want are not started: turning statement logging off
/// woke every suspended cluster with a `target_size` row, and only those
/// (an outside check).
fn stays_suspended_unseen(ctx: &Ctx, d: &mut Desired, st: &IdleSuspendState) {
    let Some(at) = st.suspended_at else {
        return;
    };
    if !ctx.cluster.replicas.is_empty() || d.replicas.is_empty() {
        return;
    }
    let reason = format!(
        "suspended {} ago; the statement log cannot show a statement on it now, so it \
         stays suspended (a logged statement wakes it)",
        human_duration((ctx.now - at).num_seconds().max(0) as u64)
    );
    let wanted: Vec<String> = d.replicas.keys().cloned().collect();
    for name in wanted {
        d.remove(&name, KIND, reason.clone());
    }
    d.suspending = Some(super::Change {
        strategy: KIND,
        reason,
    });
}

/// The idle time to judge by: `Some(None)` when unknown and the operator
/// opted in to suspending anyway; `None` when nothing may be decided (no
/// activity data, or a log sampled too thinly for a silence to prove idleness).
fn known_idle(c: &IdleSuspendConfig, ctx: &Ctx, d: &mut Desired) -> Option<Option<f64>> {
    match ctx.idle {
        Idle::Busy => Some(Some(0.0)),
        Idle::For(s) if !too_thin(ctx) => Some(Some(s)),
        // A thin log's silence proves nothing, but a statement it did log
        // proves use: within `idle_after_s`, the cluster is not idle (an
        // opted-in cluster was suspended seconds after a query).
        Idle::For(s) if c.suspend_when_unknown && s < c.idle_after_s as f64 => Some(Some(s)),
        Idle::For(_) | Idle::Unknown if c.suspend_when_unknown => Some(None),
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
            None
        }
        Idle::Unknown => {
            if !d.replicas.is_empty() {
                d.note(
                    KIND,
                    "no activity data (statement log empty or unreadable): not suspending",
                );
            }
            None
        }
    }
}

fn decide_predictive(c: &IdleSuspendConfig, ctx: &Ctx, d: &mut Desired, st: &mut IdleSuspendState) {
    let creating: Vec<(String, Size)> = d
        .replicas
        .iter()
        .filter(|(n, _)| ctx.cluster.replica(n).is_none())
        .map(|(n, r)| (n.clone(), r.size.clone()))
        .collect();
    let ps = st.predict.get_or_insert_with(PredictState::default);
    ps.hydrations
        .observe(ctx.cluster, &creating, ctx.now, ctx.interval_s);
    // Kept for the plans of `describe`, `status` and `dry-run`; only the
    // controller's state is persisted, so it is the controller's interval.
    ps.interval_s = Some(ctx.interval_s);
    let Some(idle_for) = known_idle(c, ctx, d) else {
        stays_suspended_unseen(ctx, d, st);
        return;
    };
    let Some(p) = predicting(c, ctx, d, st) else {
        if !d.replicas.is_empty() {
            d.note(
                KIND,
                "no statement history to predict from (reading it needs the mz_monitor role): waking on demand only",
            );
        }
        let needed = idle_evidence_s(c.idle_after_s, ctx.sample_rate);
        if idle_for.is_none_or(|s| s >= needed as f64) {
            suspend(c, ctx, d, st, idle_reason(c, idle_for, needed), None);
        }
        return;
    };
    if d.replicas.is_empty() {
        return;
    }
    // Until when the hold an earlier run recorded kept it warm (it ends
    // in `holding`, which forgets it).
    let held_until = st
        .predict
        .as_ref()
        .and_then(|ps| Some(ps.hold.as_ref()?.until(seen(ctx, ps))));
    if let Some((until, _)) = holding(ctx, &p, st) {
        let what = p.forecast.keep_warm().map_or_else(
            || "a prewarm under way".to_string(),
            |o| format!("predicted demand {}", o.describe()),
        );
        d.note(
            KIND,
            format!(
                "keeping warm for {what} (until {})",
                forecast::beside(until, ctx.now)
            ),
        );
        return;
    }
    let (threshold, why) = p
        .forecast
        .threshold_held(ctx.now, c.idle_after_s, held_until);
    // A sampled log needs a longer silence as evidence, as without prediction.
    let threshold = idle_evidence_s(threshold.max(0.0).ceil() as u64, ctx.sample_rate) as f64;
    let idle = idle_for.unwrap_or(f64::INFINITY);
    if st.suspended_at.is_some() {
        // Suspended and not woken (`prepare`): stays so, whatever the
        // other strategies would start.
        let reason = format!("suspended: {}", predict::next_reason(&p.forecast));
        suspend(c, ctx, d, st, reason, Some(&p.lead));
        return;
    }
    if idle < threshold {
        counted_since_seen(ctx, d, idle, threshold);
        return;
    }
    if let Some(s) = p.forecast.too_close_to_suspend(ctx.now) {
        d.note(
            KIND,
            format!(
                "idle, but the next predicted demand wakes it in {} (within a lead, {}): not \
                 suspending (it would be made again before a suspension saved anything)",
                human_duration(s.max(0) as u64),
                human_duration(p.forecast.lead_s.max(0) as u64)
            ),
        );
        return;
    }
    if let Some(name) = hydrating(ctx, d, st, &p.lead) {
        d.note(
            KIND,
            format!("idle, but {name} has not hydrated yet: not suspending (its hydration would be lost)"),
        );
        return;
    }
    let idle_text = if idle.is_finite() {
        format!("idle {}", human_duration(idle.max(0.0) as u64))
    } else {
        "activity unknown".to_string()
    };
    let reason = format!("{idle_text}: {why}; {}", predict::next_reason(&p.forecast));
    suspend(c, ctx, d, st, reason, Some(&p.lead));
}

/// Not idle long enough only because the idle time counts from the
/// controller's first sight of the cluster or a replica's start
/// (`Ctx::idle_since_seen`: the statement log has no statement of it in
/// its lookback): said, so that "converged" is not read as "in use".
fn counted_since_seen(ctx: &Ctx, d: &mut Desired, idle_s: f64, needed_s: f64) {
    let Some(seen) = ctx.idle_since_seen else {
        return;
    };
    if d.replicas.is_empty() || idle_s >= needed_s {
        return;
    }
    // Idle since a replica it runs started: its statements, if any, are
    // older (the statement history's: `Snapshot::last_statement`).
    if ctx.cluster.oldest_replica_since() == Some(seen) {
        d.note(
            KIND,
            format!(
                "no statement of this cluster since a replica it runs started {} ago ({}): a \
                 silence from before it proves nothing, so it is suspended once idle {}",
                human_duration(idle_s.max(0.0) as u64),
                seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                human_duration(needed_s.max(0.0).ceil() as u64)
            ),
        );
        return;
    }
    d.note(
        KIND,
        format!(
            "no statement of this cluster in the statement log's lookback: idle counts from {} \
             ago ({}), when the controller first saw it or, if earlier, when the log's silence \
             began while the cluster ran its replicas or had none (a silence from before a \
             replica started proves nothing), so it is suspended once idle {}",
            human_duration(idle_s.max(0.0) as u64),
            seen.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            human_duration(needed_s.max(0.0).ceil() as u64)
        ),
    );
}

/// A normal (not burst) replica the cluster keeps that is still hydrating
/// and not crashing: suspending now would throw its hydration away. One
/// that hydrates for far longer than learned no longer counts
/// ([`given_up_as_stuck`]).
fn hydrating(ctx: &Ctx, d: &Desired, st: &IdleSuspendState, lead: &Lead) -> Option<String> {
    let lead = Some(lead);
    let burst = ctx.burst.as_str();
    d.replicas
        .keys()
        .filter(|n| **n != burst)
        .filter_map(|n| ctx.cluster.replica(n))
        .filter(|r| !r.hydrated && r.crash.crashes == 0)
        .find(|r| !given_up_as_stuck(ctx, st, lead, r))
        .map(|r| r.name.clone())
}

/// The live replicas the cluster keeps that the stuck rule gave up on
/// ([`given_up_as_stuck`]), for a suspension to forget.
fn stuck_replicas(
    ctx: &Ctx,
    d: &Desired,
    st: &IdleSuspendState,
    lead: Option<&Lead>,
) -> Vec<String> {
    d.replicas
        .keys()
        .filter_map(|n| ctx.cluster.replica(n))
        .filter(|r| given_up_as_stuck(ctx, st, lead, r))
        .map(|r| r.name.clone())
        .collect()
}

/// What the drop of a replica given up as stuck says, beside the
/// suspension's reason: a wake from the audit trail leaves such a drop
/// out (`Store::last_suspensions_sql`).
pub const FORGOTTEN_AS_STUCK: &str =
    "never hydrated (given up as stuck): not remembered for the wake";

/// The stuck rule ([`Ctx::stuck_for`], its one place): a live replica, not
/// hydrated and not crashing, that has hydrated for four learned
/// hydrations and ten minutes (without prediction, `lead` `None`: four
/// default ones, 50 minutes) is most likely stuck. It no longer holds an
/// idle predicting cluster awake ([`hydrating`]), and a suspension does
/// not remember it beside one that hydrated: it was made again, to
/// hydrate for nothing, at every wake (an outside check). Timed since
/// this strategy asked for it, else since the catalog shows it (a replica
/// made by hand or by another strategy: one that never hydrates held an
/// idle cluster awake for ever: an outside check); unknown, not given up.
fn given_up_as_stuck(
    ctx: &Ctx,
    st: &IdleSuspendState,
    lead: Option<&Lead>,
    r: &crate::model::Replica,
) -> bool {
    let expected = lead
        .and_then(|l| l.hydration.as_ref())
        .map(|e| i64::from(e.seconds));
    let timed = st
        .predict
        .as_ref()
        .and_then(|ps| ps.hydrations.hydrating_for(&r.name, ctx.now));
    ctx.stuck_for(r, expected, timed).is_some()
}

/// When the decision may next change by the clock alone in a way that is
/// not monotone (in predictive mode: a wake, the end of a hold, a threshold
/// that drops). An idle threshold being reached is not such a change: once
/// idle long enough a cluster stays so until a statement comes. Also when
/// a hydration being timed must be seen again
/// ([`predict::hydration::Hydrations::next_sighting`]).
pub(super) fn next_change(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    st: &IdleSuspendState,
) -> Option<DateTime<Utc>> {
    let sighting = st.predict.as_ref().and_then(|ps| {
        ps.hydrations
            .next_sighting(ctx.cluster, ctx.interval_s)
            .filter(|t| *t > ctx.now)
    });
    let d = Desired::from_cluster(ctx.cluster);
    let Some(p) = predicting(c, ctx, &d, st) else {
        return sighting;
    };
    let hold = st
        .predict
        .as_ref()
        .and_then(|ps| Some(ps.hold.as_ref()?.until(seen(ctx, ps))))
        .filter(|t| *t > ctx.now);
    [
        p.forecast.next_change(ctx.now, c.idle_after_s),
        hold,
        sighting,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// What the predictive mode learned and expects (`status`, `describe`).
pub(super) fn prediction(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    st: &IdleSuspendState,
) -> Option<predict::Prediction> {
    let d = Desired::from_cluster(ctx.cluster);
    let p = predicting(c, ctx, &d, st)?;
    let ps = st.predict.clone().unwrap_or_default();
    // The occurrence after the one held warm for: a cluster woken earlier
    // than the forecast's wake now says (a lead learned shorter since) is
    // held for that one, whose wake, still ahead, was shown as the next.
    let held_until = ps
        .hold
        .as_ref()
        .map(|h| h.until(seen(ctx, &ps)))
        .filter(|t| *t > ctx.now);
    let upcoming = match (&p.forecast.next, held_until) {
        (Some(o), Some(until)) if o.wake < until => p.forecast.then.as_ref(),
        (next, _) => next.as_ref(),
    };
    let mut hydration: Vec<predict::Estimate> = ps
        .hydrations
        .by_size
        .keys()
        .map(|s| ps.hydrations.estimate(s, ctx.sizes))
        .collect();
    if let Some(e) = &p.lead.hydration {
        if !hydration.iter().any(|h| h.size == e.size) {
            hydration.push(e.clone());
        }
    }
    Some(predict::Prediction {
        history: p.profile.span(),
        from: p.profile.from,
        until: p.profile.until,
        days_with_statements: p.profile.days_with_statements,
        windows: p
            .profile
            .windows
            .iter()
            .zip(&p.forecast.preparations)
            .map(|(w, prep)| {
                let held =
                    predict::forecast::held_out(w, &p.profile.observed, p.timing, p.config.aim);
                predict::WindowView::of(w, &p.profile.observed, prep, held)
            })
            .collect(),
        hydration,
        lead_s: p.lead.seconds(),
        margin_s: p.lead.margin_s,
        interval_s: p.lead.interval_s,
        phase: p.forecast.current.as_ref().map(|(_, ph)| *ph),
        next_demand: upcoming.map(|o| o.describe()),
        next_wake: upcoming.map(|o| o.wake),
        hits: ps.hits,
        misses: ps.misses,
    })
}

/// Whether new statements could change the decision before the next
/// clock change: while warm for predicted demand nobody came to yet.
pub(super) fn activity_sensitive(c: &IdleSuspendConfig, ctx: &Ctx, st: &IdleSuspendState) -> bool {
    let d = Desired::from_cluster(ctx.cluster);
    let held = st.predict.as_ref().is_some_and(|ps| {
        let seen = seen(ctx, ps);
        ps.hold
            .as_ref()
            .is_some_and(|h| h.until(seen) > ctx.now && !h.started(seen))
    });
    held || predicting(c, ctx, &d, st).is_some_and(|p| p.forecast.activity_sensitive())
}

/// Why an idle cluster is suspended: idle for `idle_for` against the
/// threshold (`needed`: longer for a sampled statement log), or its
/// activity unknown.
fn idle_reason(c: &IdleSuspendConfig, idle_for: Option<f64>, needed: u64) -> String {
    match idle_for {
        Some(s) if needed > c.idle_after_s => format!(
            "idle for {} (threshold {}, +{} for the sampled statement log)",
            human_duration(s.max(0.0) as u64),
            human_duration(c.idle_after_s),
            human_duration(needed - c.idle_after_s)
        ),
        Some(s) => format!(
            "idle for {} (threshold {})",
            human_duration(s.max(0.0) as u64),
            human_duration(c.idle_after_s)
        ),
        None => "activity is unknown (no statement log to trust) and suspend_when_unknown is set"
            .to_string(),
    }
}

fn suspend(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
    reason: String,
    lead: Option<&Lead>,
) {
    // The replicas the stuck rule gave up on, by the learned hydration
    // (`lead`; without prediction, the default one).
    let stuck = stuck_replicas(ctx, d, st, lead);
    // A resume still under way ends here: the cluster is suspended again.
    let resuming = !st.resuming.is_empty();
    if d.replicas.is_empty() {
        if resuming {
            st.resuming.clear();
            st.suspended_at = Some(ctx.now);
        }
        return;
    }
    if let Some(left) = cooldown_left(st.resumed_at, c.cooldown_s, ctx.now) {
        // Pending work with its time, not a note: the plan said
        // "converged" of a cluster it suspends in minutes (an outside
        // check).
        d.defer_for_cooldown(KIND, "suspend (idle)".into(), c.cooldown_s, left);
        return;
    }
    held_against_a_schedule(ctx, d);
    // Remember what ran, so demand brings back the same shape. Replicas a
    // previous strategy only just added are remembered too: they are what the
    // cluster should run when it wakes. Not the burst replica: brought back
    // beside a cold normal replica it would be dropped with it before
    // either served, and `burst` starts a fresh one when one is needed.
    let burst = ctx.burst.as_str();
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
    // A live replica another strategy let go of goes with the suspension
    // too, whether or not that drop could happen by itself (one running
    // the cluster's sources is dropped only to suspend): said as the
    // suspension's, the other reason after it (the trail blamed
    // `target_size` for a drop it had been refused).
    for (name, change) in d.removed.iter_mut() {
        if change.strategy != KIND && ctx.cluster.replica(name).is_some() {
            *change = super::Change {
                strategy: KIND,
                reason: format!("{reason} (and {}: {})", change.strategy, change.reason),
            };
        }
    }
    d.suspending = Some(super::Change {
        strategy: KIND,
        reason,
    });
    // On a managed cluster a replica a strategy wants beside the live ones
    // is a resize (one `SET (SIZE)`), not one more replica: what ran is
    // what comes back (a resize held back, e.g. after a rollback, woke it
    // with one replica of each size: twice its replication factor).
    let managed = ctx.cluster.managed;
    // Not a replica made after the suspension began (made by hand on a
    // suspended cluster, it was dropped at once and then woken every day:
    // an outside check): the catalog's first sight of it is after
    // `suspended_at`.
    let ran = |name: &str| {
        ctx.cluster.replica(name).is_none_or(|r| {
            st.suspended_at
                .zip(r.since)
                .is_none_or(|(at, since)| since <= at)
        })
    };
    let before: Vec<SuspendedReplica> = before
        .into_iter()
        .filter(|r| r.name != burst)
        .filter(|r| !managed || ctx.cluster.replica(&r.name).is_some())
        .filter(|r| ran(&r.name))
        .collect();
    // Not a replica given up as stuck beside one that is not: made again
    // at every wake, it hydrated for nothing (an outside check). Alone, it
    // is the cluster's shape and is remembered.
    // Beside what a suspension a run left unfinished (`--max-actions`)
    // remembers too: its last replica given up as stuck, dropped alone by
    // the next run, was remembered and made again (an outside check).
    let continuing =
        live_removed && st.suspended_at.is_some() && !resuming && !st.suspended.is_empty();
    let beside = before
        .iter()
        .chain(st.suspended.iter().filter(|_| continuing))
        .any(|r| !stuck.contains(&r.name));
    let forgotten: Vec<String> = if beside {
        before
            .iter()
            .filter(|r| stuck.contains(&r.name))
            .map(|r| r.name.clone())
            .collect()
    } else {
        Vec::new()
    };
    // Said on its drop, which the audit trail keeps: a wake from the trail
    // (a slot begun afresh, `wipe-state`) leaves it out too (it brought it
    // back: an outside check).
    for name in &forgotten {
        if let Some(change) = d.removed.get_mut(name) {
            change.reason = format!("{}; {name} {FORGOTTEN_AS_STUCK}", change.reason);
        }
    }
    let kept_stuck = stuck
        .iter()
        .filter(|n| !forgotten.contains(n) && before.iter().any(|r| &r.name == *n))
        .cloned();
    if continuing {
        st.stuck.extend(kept_stuck);
    } else if live_removed || st.suspended.is_empty() {
        st.stuck = kept_stuck.collect();
    }
    // Nor kept from before: a slot begun afresh after a wipe had it from
    // the trail's recall, as a replica still running then (the wake made
    // it again beside the others: an outside check).
    st.suspended.retain(|r| !forgotten.contains(&r.name));
    let before = before.into_iter().filter(|r| !forgotten.contains(&r.name));
    if continuing {
        // A suspension a run left unfinished (`--max-actions`, a failed or
        // killed DROP): what went then is remembered with the live replicas
        // that go now (not what strategies before this one want created
        // while the cluster is suspended).
        for r in before {
            let live = ctx.cluster.replica(&r.name).is_some();
            if live && !st.suspended.iter().any(|s| s.name == r.name) {
                st.suspended.push(r);
            }
        }
    } else if live_removed || st.suspended.is_empty() {
        st.suspended = before.collect();
    }
    st.resuming.clear();
    if live_removed || resuming {
        st.suspended_at = Some(ctx.now);
        // Our own suspension now: mz-clusterctl's is behind it.
        st.from_reference = false;
    }
}

/// A suspended cluster stays suspended while a `schedule` window wants
/// replicas (idle_suspend runs after it): said, or the plan shows the
/// cluster converged with its window open and nothing running.
fn held_against_a_schedule(ctx: &Ctx, d: &mut Desired) {
    if !ctx.cluster.replicas.is_empty() {
        return;
    }
    let wanted: Vec<String> = d
        .replicas
        .iter()
        .filter(|(_, r)| {
            r.added_by
                .as_ref()
                .is_some_and(|c| c.strategy == StrategyKind::Schedule)
        })
        .map(|(n, r)| format!("{n} ({})", r.size))
        .collect();
    if wanted.is_empty() {
        return;
    }
    d.note(
        KIND,
        format!(
            "schedule wants {} now, but the cluster is idle: it stays suspended until a \
             statement arrives (remove idle_suspend to run the schedule's windows whatever the demand)",
            wanted.join(", ")
        ),
    );
}

/// Demand on a cluster that has no replica, none wanted by the strategies
/// before this one, and nothing remembered to bring back: its state slot
/// was wiped (or never written), so nothing says what to wake it with.
/// A managed cluster says it (its `SIZE`): woken at it, one replica, as
/// the README promises of a cluster suspended by hand (`REPLICATION
/// FACTOR 0`). An unmanaged one: said, never a silent "converged".
fn nothing_to_wake_with(c: &IdleSuspendConfig, ctx: &Ctx, d: &mut Desired, st: &IdleSuspendState) {
    let remembered = !to_wake_with(st).is_empty();
    let demand = ctx.cluster.activity.in_flight > 0 || recent_statement(c, ctx).is_some();
    // This plan resumed it (a managed cluster's memory goes with its
    // resume): what could not come back was said there; "remembers
    // nothing" beside it contradicted it (an outside check).
    let resumed_now = st.resumed_at == Some(ctx.now);
    if remembered
        || resumed_now
        || !demand
        || d.held_empty.is_some()
        || !d.replicas.is_empty()
        || !ctx.cluster.replicas.is_empty()
    {
        return;
    }
    if let Some(size) = wakes_at_its_size(ctx.cluster, ctx.sizes) {
        let why = match ctx.cluster.activity.in_flight {
            0 => "a statement came".to_string(),
            n => format!("demand: {n} statement(s) waiting"),
        };
        d.add(
            "r1",
            size,
            KIND,
            format!(
                "resume ({why}): suspended elsewhere (replication factor 0), nothing \
                 remembered; woken at its size {size}, one replica"
            ),
        );
        return;
    }
    // A managed cluster whose size is no longer offered: Materialize adds
    // no replica to it but by ALTER CLUSTER (the advice below, to create
    // one, it refuses: an outside check).
    if let Some(size) = ctx.cluster.size.as_ref().filter(|_| ctx.cluster.managed) {
        d.alert(
            KIND,
            format!(
                "{} has demand but no replica: a managed cluster at replication factor 0 whose \
                 size {size} is no longer offered, and idle_suspend remembers nothing to bring \
                 back: give it an offered size (ALTER CLUSTER {} SET (SIZE = '…', REPLICATION \
                 FACTOR = 1), or a target_size row)",
                shown(&ctx.cluster.name),
                crate::ddl::ident(&ctx.cluster.name)
            ),
        );
        return;
    }
    // The trail's last suspension, none of whose replicas can be made
    // again (sizes withdrawn since): the cause, not "nor does the audit
    // trail" (it does: an outside check).
    let unmakeable: Vec<String> = ctx
        .last_suspension
        .filter(|last| ctx.trail_read && !woken_since(last, st))
        .map(|last| {
            sized_drops(last, ctx.burst.as_str())
                .filter_map(|r| {
                    not_creatable(ctx, &r)
                        .map(|why| format!("{} ({}): {why}", shown(&r.name), shown(&r.size.0)))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(last) = ctx.last_suspension.filter(|_| !unmakeable.is_empty()) {
        d.alert(
            KIND,
            format!(
                "{} has demand but no replica: idle_suspend remembers nothing to bring back \
                 ({}), and what the audit trail shows its last \
                 suspension dropped, by {}, cannot be made again: {}; create a replica of an \
                 offered size, or set a strategy that chooses the size (e.g. target_size) for \
                 this cluster",
                shown(&ctx.cluster.name),
                why_nothing_remembered(st),
                last.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                unmakeable.join("; ")
            ),
        );
        return;
    }
    d.alert(
        KIND,
        format!(
            "{} has demand but no replica, and idle_suspend remembers nothing to bring back \
             ({}) nor does the audit trail (no suspension by this controller, or a replica \
             created since): create a replica, or set a strategy that chooses the size (e.g. \
             target_size) for this cluster",
            shown(&ctx.cluster.name),
            why_nothing_remembered(st)
        ),
    );
}

/// Why the slot remembers nothing to wake with, for the alert: awake by
/// its state, what ran since it woke was dropped by someone else (a resume
/// done is not made again); else its state holds no suspension. The alert
/// said "its state was wiped or lost" of an intact state after a wake by
/// hand whose replica was dropped (an outside check).
fn why_nothing_remembered(st: &IdleSuspendState) -> String {
    match st.resumed_at {
        Some(at) => format!(
            "it was woken at {} and what ran since was dropped, not by idle_suspend: a wake \
             done is not made again",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "it holds no suspension: its state was wiped or lost, or it never suspended \
                 the cluster"
            .to_string(),
    }
}

/// The size a managed cluster wakes at when idle_suspend remembers
/// nothing of it: its own, while offered (`status` promises that wake by
/// the same rule).
pub fn wakes_at_its_size<'a>(
    cluster: &'a Cluster,
    sizes: &crate::model::SizeCatalog,
) -> Option<&'a Size> {
    cluster
        .size
        .as_ref()
        .filter(|s| cluster.managed && sizes.contains(s))
}

/// Wakes a suspended cluster with what its slot remembers; `recalled`: the
/// slot was wiped and that memory came from the audit trail (said in the
/// reason).
fn resume(
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
    idle_for: f64,
    predicted: Option<&str>,
    recalled: Option<&str>,
) {
    if st.suspended_at.is_none() {
        return;
    }
    let why = if let Some(p) = predicted {
        p.to_string()
    } else if ctx.cluster.activity.in_flight > 0 {
        format!(
            "demand: {} statement(s) waiting",
            ctx.cluster.activity.in_flight
        )
    } else {
        format!("activity {:.0}s ago", idle_for)
    };
    // (State written by older versions may still list the burst replica.)
    let burst = ctx.burst.as_str();
    let mut remembered: Vec<&SuspendedReplica> =
        st.suspended.iter().filter(|r| r.name != burst).collect();
    // Not one given up as stuck beside one that was not ([`IdleSuspendState::stuck`]).
    if remembered.iter().any(|r| !st.stuck.contains(&r.name)) {
        remembered.retain(|r| !st.stuck.contains(&r.name));
    }
    // A running replica the suspension did not remember (created by hand,
    // under another name or under a remembered name at another size)
    // means the cluster's shape was chosen elsewhere: nothing comes back.
    // The burst, or remembered replicas a resume whose state was not
    // saved (a create held back or failed) already created, leave the rest
    // of the resume due. (One made by hand under a remembered name at
    // another size had the rest brought back beside it: an outside check.)
    let running = d
        .replicas
        .iter()
        .map(|(n, live)| (n.as_str(), Some(&live.size)));
    st.resuming = if chosen_elsewhere(running, &remembered, burst) {
        // Said, not "converged" without a word (an outside check).
        let by_hand: Vec<String> = d
            .replicas
            .iter()
            .filter(|(n, _)| **n != burst)
            .map(|(n, r)| format!("{n} ({})", r.size))
            .collect();
        d.note(
            KIND,
            format!(
                "resume after suspension ({why}): woken by hand with {}, so nothing it \
                 remembered comes back beside it",
                by_hand.join(", ")
            ),
        );
        Vec::new()
    } else {
        remembered
            .into_iter()
            .filter(|r| ctx.cluster.replica(&r.name).is_none())
            .cloned()
            .collect()
    };
    let reason = match recalled {
        Some(what) => {
            format!("resume after suspension ({why}); state was wiped; waking with {what}")
        }
        // Where a replica nobody here made comes from (a 400cc replica
        // appeared with no word of mz-clusterctl: an outside re-check).
        None if st.from_reference => format!(
            "resume after suspension ({why}); waking with what mz-clusterctl's state row \
             says its suspension dropped"
        ),
        None => format!("resume after suspension ({why})"),
    };
    bring_back(ctx, d, &st.resuming, &reason, st.from_reference);
    if ctx.cluster.managed {
        // None can come back (its size withdrawn meanwhile) and no
        // strategy chooses another size: it stays suspended, remembering
        // them, and wakes with them once they can (a wake recorded with
        // nothing made forgot them, and the cluster woke later at one
        // replica, not its two: an outside check). The alert says why.
        // With a strategy that chooses the size, it wakes at that size.
        let blocked = !st.resuming.is_empty()
            && !ctx.size_chosen
            && st
                .resuming
                .iter()
                .all(|r| not_creatable(ctx, &at_the_clusters_size(ctx, r)).is_some());
        // Materialize names a managed cluster's replicas itself, so they
        // cannot be followed by name; its wake is one replication-factor
        // change, which a run that skips or fails it replans from the
        // suspension anyway.
        st.resuming.clear();
        if blocked {
            return;
        }
    }
    st.suspended_at = None;
    st.resumed_at = Some(ctx.now);
    st.stuck.clear();
}

/// A resume is done once every replica it brings back is live: until then
/// each plan adds the missing ones again. Those that cannot be created are
/// alerted on until another (not burst) replica runs the cluster.
fn complete_resume(ctx: &Ctx, d: &mut Desired, st: &mut IdleSuspendState) {
    if st.suspended_at.is_some() || st.resuming.is_empty() {
        return;
    }
    let burst = ctx.burst.as_str();
    st.resuming
        .retain(|r| ctx.cluster.replica(&r.name).is_none());
    if ctx.cluster.replicas.iter().any(|r| r.name != burst) {
        st.resuming.retain(|r| not_creatable(ctx, r).is_none());
    }
    let missing: Vec<&str> = st
        .resuming
        .iter()
        .filter(|r| not_creatable(ctx, r).is_none())
        .map(|r| r.name.as_str())
        .collect();
    let reason = format!(
        "completing the resume after suspension: {} not created yet",
        missing.join(", ")
    );
    bring_back(ctx, d, &st.resuming, &reason, st.from_reference);
}

/// Whether a running replica (name, size), not the burst replica, is one
/// the suspension did not remember by both name and size: made by hand,
/// under another name or under a remembered name at another size. Then
/// the cluster's shape was chosen elsewhere, and nothing remembered
/// comes back: not at a wake ([`resume`]), nor again after a late DROP
/// ([`undone_by_a_late_drop`], which compared names only: a replica made
/// by hand under a remembered name at another size had the rest made
/// again beside it).
fn chosen_elsewhere<'a>(
    mut running: impl Iterator<Item = (&'a str, Option<&'a Size>)>,
    remembered: &[&SuspendedReplica],
    burst: &str,
) -> bool {
    running.any(|(name, size)| {
        name != burst
            && !remembered
                .iter()
                .any(|r| r.name == name && size == Some(&r.size))
    })
}

/// A wake a late DROP may have undone: of the replicas the last wake
/// brought back (what the suspension before it remembered, not the burst
/// replica), those the unmanaged cluster no longer runs, one of which a
/// DROP that got no answer in time names (`late_drops`,
/// the plan's `doubt::sent_drops`), sent before the wake and able to
/// reach the server after it (the wake came within its window); nothing
/// else running but what the wake brought back and the burst replica
/// (else the shape was chosen elsewhere). The plan made the wake at once
/// while statements waited, and said so. A DROP counts once: the one a
/// later wake was made again for ([`IdleSuspendState::rewoken_for`]) is
/// not blamed again. A managed cluster wakes by its replication factor,
/// which no DROP changes. With the DROP that may have done it.
fn undone_by_a_late_drop<'a>(
    cluster: &Cluster,
    st: &IdleSuspendState,
    burst: &str,
    late_drops: &'a [crate::model::SentDrop],
) -> Option<(Vec<SuspendedReplica>, &'a crate::model::SentDrop)> {
    let woke = st.resumed_at?;
    if cluster.managed || st.suspended_at.is_some() || !st.resuming.is_empty() {
        return None;
    }
    let woken: Vec<&SuspendedReplica> = st.suspended.iter().filter(|r| r.name != burst).collect();
    let running = cluster
        .replicas
        .iter()
        .map(|r| (r.name.as_str(), r.size.as_ref()));
    let chosen_elsewhere = chosen_elsewhere(running, &woken, burst);
    let missing: Vec<SuspendedReplica> = woken
        .into_iter()
        .filter(|r| cluster.replica(&r.name).is_none())
        .cloned()
        .collect();
    if chosen_elsewhere || missing.is_empty() {
        return None;
    }
    let late = late_drops
        .iter()
        .filter(|l| l.sent <= woke && woke < l.until)
        .filter(|l| st.rewoken_for.is_none_or(|t| l.sent > t))
        .filter(|l| missing.iter().any(|r| r.name == l.replica))
        .max_by_key(|l| l.sent)?;
    Some((missing, late))
}

/// [`undone_by_a_late_drop`] while users want the cluster: what the wake
/// brought back and is gone is made again, saying why. idle_suspend, its
/// resume done, remembered nothing to wake with, and alerted "demand but
/// no replica" until someone created one by hand (an outside check).
fn wake_again_after_a_late_drop(
    c: &IdleSuspendConfig,
    ctx: &Ctx,
    d: &mut Desired,
    st: &mut IdleSuspendState,
) {
    let demand = ctx.cluster.activity.in_flight > 0 || recent_statement(c, ctx).is_some();
    let Some((missing, late)) =
        undone_by_a_late_drop(ctx.cluster, st, &ctx.burst, &ctx.late_drops).filter(|_| demand)
    else {
        return;
    };
    let Some(woke) = st.resumed_at else {
        return;
    };
    let at = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let reason = format!(
        "resume again: {} brought back by the wake at {} {} gone, and a DROP of {} sent at \
         {} that got no answer in time may have reached the server after that wake (a \
         network can deliver one late)",
        listed(&missing),
        at(&woke),
        match missing.len() {
            1 => "is",
            _ => "are",
        },
        shown(&late.replica),
        at(&late.sent)
    );
    st.rewoken_for = Some(late.sent);
    st.resuming = missing;
    st.resumed_at = Some(ctx.now);
    bring_back(ctx, d, &st.resuming, &reason, st.from_reference);
}

/// The plan creates `created` (see `StrategyConfig::planned`): the resume
/// under way no longer waits for them.
pub(super) fn planned(st: &mut IdleSuspendState, created: &[&str]) {
    st.resuming.retain(|r| !created.contains(&r.name.as_str()));
}

/// Adds the replicas of `list` that are not live, with `reason`; the ones
/// that cannot be created as remembered are not added but alerted on,
/// saying what to do.
fn bring_back(
    ctx: &Ctx,
    d: &mut Desired,
    list: &[SuspendedReplica],
    reason: &str,
    from_reference: bool,
) {
    let id = &ctx.cluster.id;
    let wipe = crate::model::clusterctl_command(ctx.schema, &format!("wipe-state --cluster {id}"));
    let forget = match from_reference {
        // Imported from mz-clusterctl's row, which `wipe-state` keeps.
        true => format!(
            "delete the suspension mz-clusterctl recorded (`DELETE FROM {} WHERE cluster_id = \
             '{id}' AND state_version = 1`), then `{wipe}`",
            crate::ddl::table_said(ctx.schema, "mz_cluster_strategy_state")
        ),
        false => format!("`{wipe}`"),
    };
    // A managed cluster takes no replica made by hand (Materialize refuses
    // `CREATE CLUSTER REPLICA` on it: the advice was impossible, an
    // outside check): its size is what to change.
    let by_hand = match ctx.cluster.managed {
        true => format!(
            "give it an offered size (ALTER CLUSTER {} SET (SIZE = '…'))",
            crate::ddl::ident(&ctx.cluster.name)
        ),
        false => "create a replica of an offered size by hand".to_string(),
    };
    let fix = format!(
        "set a strategy that chooses the size (e.g. target_size) for this cluster, \
         {by_hand}, or make idle_suspend forget it: {forget}"
    );
    let mut blocked = Vec::new();
    let mut comes_back = false;
    for r in list.iter().map(|r| at_the_clusters_size(ctx, r)) {
        let r = &r;
        if ctx.cluster.replica(&r.name).is_some() {
            comes_back = true;
            continue;
        }
        match not_creatable(ctx, r) {
            Some(why) => {
                d.alert(
                    KIND,
                    format!(
                        "not bringing back replica {} ({}) after the suspension: {why}; {fix}",
                        shown(&r.name),
                        shown(&r.size.0)
                    ),
                );
                blocked.push(shown(&r.name));
            }
            None => {
                d.add(&r.name, &r.size, KIND, reason.to_string());
                comes_back = true;
            }
        }
    }
    if !blocked.is_empty() && !comes_back {
        d.alert(
            KIND,
            format!(
                "the cluster cannot be resumed by idle_suspend: none of the replicas it ran \
                 when suspended ({}) can be created; {fix}",
                blocked.join(", ")
            ),
        );
    }
}

/// A remembered replica as a wake brings it back: a managed cluster's at
/// the cluster's size, which a suspension (replication factor 0) keeps. A
/// remembered size resized the cluster back over an operator's resize made
/// while it slept, and two remembered sizes were a wake no managed cluster
/// can take.
fn at_the_clusters_size(ctx: &Ctx, r: &SuspendedReplica) -> SuspendedReplica {
    match ctx.cluster.size.as_ref().filter(|_| ctx.cluster.managed) {
        Some(size) => SuspendedReplica {
            name: r.name.clone(),
            size: size.clone(),
        },
        None => r.clone(),
    }
}

/// Why a remembered replica cannot be created as it is (state written by
/// an older version, by hand, or before the size was withdrawn).
fn not_creatable(ctx: &Ctx, r: &SuspendedReplica) -> Option<String> {
    if let Some(why) = super::refused_replica_name(&r.name) {
        return Some(why);
    }
    if !ctx.sizes.contains(&r.size) {
        return Some(format!(
            "size {} {} (sizes are: {})",
            shown(&r.size.0),
            ctx.sizes.why_not_offered(&r.size),
            ctx.sizes.names()
        ));
    }
    None
}

/// A name as an alert shows it: at most 64 characters (a remembered name
/// may be any length).
fn shown(name: &str) -> String {
    crate::model::clip(name, 64)
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
            prepare(c, ctx, d, st, false);
            decide(c, ctx, d, st)
        })
    }

    /// A live replica another strategy let go of is dropped by the
    /// suspension, and said so, the other reason after it.
    #[test]
    fn a_suspension_says_it_drops_what_another_strategy_let_go_of() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let cl = cluster(
            "c",
            vec![replica("r1", "25cc", true), replica("r_50cc", "50cc", true)],
        );
        let d = decide_in(&cl, Idle::For(7200.0), now(), |ctx, d| {
            d.remove(
                "r1",
                StrategyKind::TargetSize,
                "retiring 25cc replica".into(),
            );
            let mut st = IdleSuspendState::default();
            prepare(&c, ctx, d, &mut st, false);
            decide(&c, ctx, d, &mut st)
        });
        assert!(d.suspending.is_some());
        for name in ["r1", "r_50cc"] {
            let change = &d.removed[name];
            assert_eq!(change.strategy, KIND, "{name}");
            assert!(change.reason.starts_with("idle for 2h"), "{change:?}");
        }
        assert!(
            d.removed["r1"]
                .reason
                .ends_with("(and target_size: retiring 25cc replica)"),
            "{:?}",
            d.removed
        );
    }

    #[test]
    fn demand_with_nothing_remembered_and_nothing_wanted_is_an_alert() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let empty = cluster("c", vec![]);
        let nothing = |d: &Desired| d.alerts.iter().any(|a| a.contains("remembers nothing"));
        // State wiped: demand, no replica, nothing to bring back.
        let d = step(&empty, &c, Idle::Busy, &mut IdleSuspendState::default());
        assert!(d.names().is_empty());
        assert!(nothing(&d), "{:?}", d.alerts);
        // Idle: nobody is kept waiting.
        let d = step(
            &empty,
            &c,
            Idle::For(7200.0),
            &mut IdleSuspendState::default(),
        );
        assert!(!nothing(&d), "{:?}", d.alerts);
        // Suspended with a memory: a wake, no alert.
        let mut st = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: Some(now() - chrono::Duration::hours(1)),
            ..Default::default()
        };
        let d = step(&empty, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(!nothing(&d), "{:?}", d.alerts);
        // Resumed before (its memory kept, suspended no more), then its
        // replicas dropped by hand: nothing brings them back either.
        let mut st = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            ..Default::default()
        };
        let d = step(&empty, &c, Idle::Busy, &mut st);
        assert!(d.names().is_empty());
        assert!(nothing(&d), "{:?}", d.alerts);
        // A managed cluster at replication factor 0 says its size: woken
        // at it, one replica (an outside check: it was "converged" with
        // users waiting, told to create a replica Materialize refuses).
        let mut managed = empty.clone();
        managed.managed = true;
        managed.size = Some(Size::from("50cc"));
        managed.replication_factor = Some(0);
        let d = step(&managed, &c, Idle::Busy, &mut IdleSuspendState::default());
        assert_eq!(d.names(), vec!["r1"]);
        assert_eq!(d.replicas["r1"].size, Size::from("50cc"));
        assert!(d.alerts.is_empty(), "{:?}", d.alerts);
        let d = step(
            &managed,
            &c,
            Idle::For(7200.0),
            &mut IdleSuspendState::default(),
        );
        assert!(d.names().is_empty(), "idle: left asleep");
        // Its size no longer offered: said, with the ALTER that wakes it
        // (not "create a replica", which Materialize refuses there).
        let mut withdrawn = managed.clone();
        withdrawn.size = Some(Size::from("999cc"));
        let d = step(&withdrawn, &c, Idle::Busy, &mut IdleSuspendState::default());
        assert!(d.names().is_empty());
        assert!(
            d.alerts
                .iter()
                .any(|a| a.contains("size 999cc is no longer offered")
                    && a.contains("ALTER CLUSTER")
                    && !a.contains("create a replica")),
            "{:?}",
            d.alerts
        );
        // A strategy before it wants a replica: that one wakes the cluster.
        let d = decide_in(&empty, Idle::Busy, now(), |ctx, d| {
            d.add(
                "r_50cc",
                &Size::from("50cc"),
                StrategyKind::TargetSize,
                "t".into(),
            );
            decide(&c, ctx, d, &mut IdleSuspendState::default())
        });
        assert!(!nothing(&d), "{:?}", d.alerts);
    }

    /// One round on an empty cluster `c` whose trail was read (`trail`:
    /// its last suspension, if any).
    fn round_with_trail(
        c: &IdleSuspendConfig,
        idle: Idle,
        trail: Option<&crate::model::LastSuspension>,
        st: &mut IdleSuspendState,
    ) -> Desired {
        decide_in(&cluster("c", vec![]), idle, now(), |ctx, d| {
            let ctx = Ctx {
                last_suspension: trail,
                trail_read: true,
                ..ctx.clone()
            };
            prepare(c, &ctx, d, st, false);
            decide(c, &ctx, d, st)
        })
    }

    /// A suspension an hour ago that dropped `dropped` (name, size).
    fn suspension_dropping(dropped: &[(&str, Option<&str>)]) -> crate::model::LastSuspension {
        let at = now() - chrono::Duration::hours(1);
        crate::model::LastSuspension {
            at,
            dropped: dropped
                .iter()
                .map(|(n, s)| (n.to_string(), s.map(Size::from)))
                .collect(),
            live: dropped.iter().map(|(n, _)| n.to_string()).collect(),
            last_created: Some(at - chrono::Duration::days(1)),
            made_while_suspended: Vec::new(),
        }
    }

    /// A replica the last suspension dropped whose size is no longer
    /// offered is left out of a wake rebuilt from the trail, and the wake's
    /// reason says so (it said nothing of it: an outside check).
    #[test]
    fn a_wake_from_the_trail_says_what_it_leaves_out() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let trail = suspension_dropping(&[("a", Some("25cc")), ("gone", Some("999cc"))]);
        let mut st = IdleSuspendState::default();
        let d = round_with_trail(&c, Idle::Busy, Some(&trail), &mut st);
        assert_eq!(d.names(), ["a"]);
        let why = d.replicas["a"]
            .added_by
            .as_ref()
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        assert!(
            why.contains("; not gone (999cc), which it dropped too: size 999cc is not offered"),
            "{why}"
        );
    }

    #[test]
    fn a_wiped_slot_is_given_back_what_the_trail_shows_the_last_suspension_dropped() {
        use crate::model::LastSuspension;
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let empty = cluster("c", vec![]);
        let trail = suspension_dropping(&[
            ("c-burst", Some("800cc")),
            ("r_200cc", Some("200cc")),
            ("r_unknown", None),
        ]);
        let at = trail.at;
        let run = |idle: Idle, trail: Option<&LastSuspension>, st: &mut IdleSuspendState| {
            round_with_trail(&c, idle, trail, st)
        };
        let nothing = |d: &Desired| d.alerts.iter().any(|a| a.contains("remembers nothing"));
        // Demand: woken with what the suspension dropped (not the burst
        // replica, not one whose size the row lacks), saying from where.
        let mut st = IdleSuspendState::default();
        let d = run(Idle::Busy, Some(&trail), &mut st);
        assert_eq!(d.names(), ["r_200cc"]);
        let why = d.replicas["r_200cc"]
            .added_by
            .as_ref()
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        assert!(
            why.contains(
                "state was wiped; waking with r_200cc (200cc) as the last suspension dropped, \
                 by 2026-11-21T11:00:00Z, per the audit trail"
            ),
            "{why}"
        );
        assert!(d.alerts.is_empty(), "{:?}", d.alerts);
        assert_eq!(st.resuming.len(), 1, "seen through as any resume");
        // No demand: nothing created, the memory kept for the next wake.
        let mut st = IdleSuspendState::default();
        let d = run(Idle::For(7200.0), Some(&trail), &mut st);
        assert!(d.names().is_empty());
        assert_eq!(st.suspended_at, Some(at));
        assert_eq!(to_wake_with(&st)[0].name, "r_200cc");
        assert!(
            d.notes.iter().any(|n| n.contains("remembering r_200cc")),
            "{:?}",
            d.notes
        );
        // A replica created after that suspension (woken since), only the
        // burst replica dropped, or no trail at all: nothing to wake with,
        // the alert stays.
        let woken = LastSuspension {
            last_created: Some(at + chrono::Duration::minutes(5)),
            ..trail.clone()
        };
        let burst_only = LastSuspension {
            dropped: vec![("c-burst".into(), Some(Size::from("800cc")))],
            ..trail.clone()
        };
        // Nor a size withdrawn since (the alert's `wipe-state` brought the
        // same alert back from the trail).
        let withdrawn = LastSuspension {
            dropped: vec![("r_75cc".into(), Some(Size::from("75cc")))],
            ..trail.clone()
        };
        for t in [Some(&woken), Some(&burst_only), Some(&withdrawn), None] {
            let d = run(Idle::Busy, t, &mut IdleSuspendState::default());
            assert!(d.names().is_empty(), "{t:?}");
            assert!(nothing(&d), "{t:?}: {:?}", d.alerts);
            // Only the withdrawn size is named as the cause: the trail
            // has the suspension.
            let trail_has_it = d
                .alerts
                .iter()
                .any(|a| a.contains("r_75cc (75cc): size 75cc is not offered"));
            assert_eq!(trail_has_it, t == Some(&withdrawn), "{t:?}: {:?}", d.alerts);
            assert_eq!(
                d.alerts
                    .iter()
                    .any(|a| a.contains("nor does the audit trail")),
                t != Some(&withdrawn),
                "{t:?}: {:?}",
                d.alerts
            );
        }
        // No demand, and the silence counted from now (the log never
        // mentions the cluster, and the wipe took the controller's first
        // sight of it): what a strategy before it wants is not started.
        let mut st = IdleSuspendState::default();
        let since = Some(now());
        let d = decide_unlogged(&empty, Idle::For(0.0), now(), None, since, |ctx, d| {
            let ctx = Ctx {
                last_suspension: Some(&trail),
                trail_read: true,
                ..ctx.clone()
            };
            d.add(
                "r_25cc",
                &Size::from("25cc"),
                StrategyKind::TargetSize,
                "t".into(),
            );
            prepare(&c, &ctx, d, &mut st, true);
            decide(&c, &ctx, d, &mut st)
        });
        assert!(d.names().is_empty(), "{:?}", d.names());
        assert_eq!(to_wake_with(&st)[0].name, "r_200cc");
        // A statement since: woken, as ever.
        let mut busy = empty.clone();
        busy.activity.in_flight = 1;
        let mut st = IdleSuspendState::default();
        let d = decide_in(&busy, Idle::Busy, now(), |ctx, d| {
            let ctx = Ctx {
                last_suspension: Some(&trail),
                trail_read: true,
                ..ctx.clone()
            };
            prepare(&c, &ctx, d, &mut st, true);
            decide(&c, &ctx, d, &mut st)
        });
        assert_eq!(d.names(), ["r_200cc"]);
        // A slot that remembers is not overridden by the trail.
        let mut st = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: Some(now() - chrono::Duration::minutes(30)),
            ..Default::default()
        };
        let d = run(Idle::Busy, Some(&trail), &mut st);
        assert_eq!(d.names(), ["r1"]);
        // The slot's own last resume: one before that suspension leaves
        // it to recall, one since means it was woken after it (what ran
        // then is not known).
        for (resumed, wakes) in [(-5, true), (5, false)] {
            let mut st = IdleSuspendState {
                resumed_at: Some(at + chrono::Duration::minutes(resumed)),
                ..Default::default()
            };
            let d = run(Idle::Busy, Some(&trail), &mut st);
            assert_eq!(
                !d.names().is_empty(),
                wakes,
                "resumed {resumed}m: {:?}",
                d.names()
            );
        }
    }

    /// A slot wiped in the middle of a suspension spread over runs: the
    /// trail, read once by the run after the first to see it empty, makes
    /// it whole (half suspended, or suspended by a run that knew only its
    /// own drops); a replica it did not see running, or a managed cluster
    /// running replicas, means no suspension is under way.
    #[test]
    fn a_slot_wiped_in_the_middle_of_a_suspension_is_made_whole_from_the_trail() {
        use crate::model::LastSuspension;
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let at = now() - chrono::Duration::hours(1);
        let trail = LastSuspension {
            at,
            dropped: vec![("r1".into(), Some(Size::from("25cc")))],
            live: vec!["r1".into(), "r2".into()],
            last_created: None,
            made_while_suspended: Vec::new(),
        };
        let r2 = || replica("r2", "100cc", true);
        let run = |cl: &crate::model::Cluster,
                   idle: Idle,
                   read: bool,
                   fresh: bool,
                   st: &mut IdleSuspendState| {
            decide_in(cl, idle, now(), |ctx, d| {
                let ctx = Ctx {
                    last_suspension: Some(&trail),
                    trail_read: read,
                    ..ctx.clone()
                };
                prepare(&c, &ctx, d, st, fresh);
                decide(&c, &ctx, d, st)
            })
        };
        let names = |st: &IdleSuspendState| {
            let mut v: Vec<String> = to_wake_with(st).iter().map(|r| r.name.clone()).collect();
            v.sort();
            v
        };
        let half = cluster("c", vec![r2()]);
        // The first run to see the slot empty: not read yet, flagged.
        let mut st = IdleSuspendState::default();
        run(&half, Idle::For(7200.0), false, true, &mut st);
        assert!(st.check_trail);
        assert_eq!(names(&st), ["r2"], "it knows only its own drop");
        // The next: read, merged, done with.
        let d = run(
            &cluster("c", vec![]),
            Idle::For(7200.0),
            true,
            false,
            &mut st,
        );
        assert!(!st.check_trail);
        assert_eq!(names(&st), ["r1", "r2"]);
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("besides r2 (100cc) dropped since")),
            "{:?}",
            d.notes
        );
        // Half suspended and read: demand brings back what went.
        let flagged = || IdleSuspendState {
            check_trail: true,
            ..Default::default()
        };
        let mut st = flagged();
        let d = run(&half, Idle::Busy, true, false, &mut st);
        assert_eq!(d.names(), ["r1", "r2"]);
        let why = d.replicas["r1"]
            .added_by
            .as_ref()
            .map(|c| c.reason.clone())
            .unwrap_or_default();
        assert!(why.contains("with r2 (100cc) still running"), "{why}");
        // Idle: the rest goes, and both are remembered.
        let mut st = flagged();
        let d = run(&half, Idle::For(7200.0), true, false, &mut st);
        assert!(d.names().is_empty());
        assert_eq!(names(&st), ["r1", "r2"]);
        // The slot remembers r2, whose drop has not run yet: recalled
        // once, beside what the trail dropped.
        let mut st = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r2".into(),
                size: Size::from("100cc"),
            }],
            suspended_at: Some(now() - chrono::Duration::minutes(10)),
            ..flagged()
        };
        run(&half, Idle::For(7200.0), true, false, &mut st);
        assert_eq!(names(&st), ["r1", "r2"]);
        // A replica the suspension did not see running: nothing recalled,
        // and the trail is not read again.
        let other = cluster("c", vec![r2(), replica("r3", "25cc", true)]);
        let mut st = flagged();
        let d = run(&other, Idle::Busy, true, false, &mut st);
        assert_eq!(d.names(), ["r2", "r3"]);
        assert!(!st.check_trail && st.suspended_at.is_none());
        // A failed read is tried again.
        let mut st = flagged();
        run(&half, Idle::Busy, false, false, &mut st);
        assert!(st.check_trail && st.suspended_at.is_none());
        // A managed cluster is suspended in one statement: never flagged.
        let mut managed = half.clone();
        managed.managed = true;
        let mut st = IdleSuspendState::default();
        run(&managed, Idle::Busy, false, true, &mut st);
        assert!(!st.check_trail);

        // A cluster with no replica and nothing remembered, whose trail
        // shows nothing to recall: read once, not on every run after.
        let empty = cluster("c", vec![]);
        let nothing = |cl: &crate::model::Cluster, read: bool, st: &mut IdleSuspendState| {
            decide_in(cl, Idle::Busy, now(), |ctx, d| {
                let ctx = Ctx {
                    last_suspension: None,
                    trail_read: read,
                    ..ctx.clone()
                };
                prepare(&c, &ctx, d, st, false);
                decide(&c, &ctx, d, st)
            })
        };
        let mut st = IdleSuspendState::default();
        assert!(reads_the_trail(&empty, &st));
        // Not while a replica runs, nor while the slot remembers a wake.
        assert!(!reads_the_trail(&half, &st));
        let remembers = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: Some(now()),
            ..Default::default()
        };
        assert!(!reads_the_trail(&empty, &remembers));
        nothing(&empty, false, &mut st);
        assert!(reads_the_trail(&empty, &st), "a failed read is tried again");
        nothing(&empty, true, &mut st);
        assert!(st.nothing_to_recall && !reads_the_trail(&empty, &st));
        // It stays so while the cluster runs nothing...
        nothing(&empty, false, &mut st);
        assert!(!reads_the_trail(&empty, &st));
        // ...and is forgotten once it runs a replica: emptied again later,
        // by hand, the trail is read again.
        nothing(&half, false, &mut st);
        assert!(!st.nothing_to_recall && reads_the_trail(&empty, &st));
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

    /// Without prediction too, a replica that never hydrated (stuck by
    /// the default hydration: 50 minutes) beside one that did is not
    /// remembered: it was made again at every wake, to hydrate for nothing
    /// (an outside check). Alone, it is the cluster's shape.
    #[test]
    fn a_replica_given_up_as_stuck_is_not_remembered_without_prediction() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let with_hand_made = |minutes: i64| {
            let mut h = replica("by_hand", "50cc", false);
            h.since = Some(now() - chrono::Duration::minutes(minutes));
            cluster("c", vec![replica("r1", "25cc", true), h])
        };
        let mut st = IdleSuspendState::default();
        let d = step(&with_hand_made(51), &c, Idle::For(120.0), &mut st);
        assert!(d.names().is_empty(), "{:?}", d.notes);
        let kept: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(kept, ["r1"]);
        let why = d.removed.get("by_hand").map(|c| c.reason.clone());
        assert!(
            why.as_deref()
                .is_some_and(|w| w.ends_with(&format!("; by_hand {FORGOTTEN_AS_STUCK}"))),
            "{why:?}"
        );
        let d = step(&cluster("c", vec![]), &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), ["r1"]);
        // Still within the bound: remembered.
        let mut st = IdleSuspendState::default();
        step(&with_hand_made(49), &c, Idle::For(120.0), &mut st);
        let kept: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(kept, ["by_hand", "r1"]);
        // Alone: remembered, marked stuck; woken alone, it comes back.
        let mut alone = with_hand_made(51);
        alone.replicas.remove(0);
        let mut st = IdleSuspendState::default();
        step(&alone, &c, Idle::For(120.0), &mut st);
        let kept: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(kept, ["by_hand"]);
        assert_eq!(st.stuck, ["by_hand"]);
        let mut woken = st.clone();
        let d = step(&cluster("c", vec![]), &c, Idle::Busy, &mut woken);
        assert_eq!(d.names(), ["by_hand"]);
        assert!(woken.stuck.is_empty());
        // Beside one that is not (the trail's recall after a wipe in the
        // middle of the suspension added r1): left out of the wake.
        st.suspended.push(SuspendedReplica {
            name: "r1".into(),
            size: Size::from("25cc"),
        });
        let d = step(&cluster("c", vec![]), &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), ["r1"]);
    }

    #[test]
    fn a_suspension_finished_by_a_later_run_remembers_every_replica() {
        // `apply --max-actions 1` dropped `main`; the next run drops `side`
        // and used to remember only `side`, so `main` never came back.
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let mut st = IdleSuspendState::default();
        let both = cluster(
            "c",
            vec![
                replica("main", "200cc", true),
                replica("side", "50cc", true),
            ],
        );
        let d = step(&both, &c, Idle::For(3600.0), &mut st);
        assert!(d.names().is_empty());
        let side_only = cluster("c", vec![replica("side", "50cc", true)]);
        let d = step(&side_only, &c, Idle::For(3600.0), &mut st);
        assert!(d.names().is_empty());
        let mut names: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["main", "side"]);
        // Demand wakes both.
        let d = step(&cluster("c", vec![]), &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["main", "side"]);
        // A replica the first run did not see (made by hand since) goes
        // with the rest and is remembered beside what went before.
        let mut st = IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "main".into(),
                size: Size::from("200cc"),
            }],
            suspended_at: Some(now() - chrono::Duration::minutes(5)),
            ..Default::default()
        };
        let d = step(&side_only, &c, Idle::For(3600.0), &mut st);
        assert!(d.names().is_empty());
        let names: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["main", "side"]);
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
            ..Default::default()
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
            resuming: Vec::new(),
            predict: None,
            check_trail: false,
            nothing_to_recall: false,
            stuck: Vec::new(),
            from_reference: false,
            rewoken_for: None,
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
        // A statement that began at the suspension's own instant was the
        // suspending run's to see: only a later one is demand.
        let at = |begun_s: f64| {
            let mut st = IdleSuspendState {
                suspended_at: Some(now() - chrono::Duration::seconds(300)),
                ..suspended()
            };
            step(&empty, &c, Idle::For(begun_s), &mut st).names()
        };
        assert!(at(300.0).is_empty());
        assert_eq!(at(299.0), vec!["r1"]);
    }

    /// A cluster the statement log never mentions counts its silence from
    /// its replica's start while it has one, and from the controller's
    /// first sight of it once suspended: that later, shorter silence is
    /// not demand (it woke such clusters with "activity 39s ago" and
    /// suspended them again a minute later, forever).
    #[test]
    fn a_short_silence_without_a_statement_does_not_wake() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let empty = cluster("c", vec![]);
        let suspended = |at| IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("25cc"),
            }],
            suspended_at: Some(at),
            ..Default::default()
        };
        let first_seen = now() - chrono::Duration::seconds(39);
        let mut st = suspended(now() - chrono::Duration::seconds(60));
        let d = decide_unlogged(
            &empty,
            Idle::For(39.0),
            now(),
            None,
            Some(first_seen),
            |ctx, d| {
                prepare(&c, ctx, d, &mut st, false);
                decide(&c, ctx, d, &mut st)
            },
        );
        assert!(d.names().is_empty(), "{:?}", d.names());
        assert!(st.suspended_at.is_some() && st.resumed_at.is_none());
        // A statement since the suspension wakes it; one from before does
        // not, nor one from after it but older than idle_after_s (a
        // controller that was down an hour would wake it only to suspend
        // it again).
        let at = |secs: i64| now() - chrono::Duration::seconds(secs);
        // A suspension dated in the future (the server's clock stepped
        // back two minutes since): a recent statement wakes it, an old one
        // does not.
        for (began, suspended_ago, wakes) in [
            (30, 60, true),
            (90, 60, false),
            (700, 3600, false),
            (5, -120, true),
            (700, -120, false),
        ] {
            let mut logged = empty.clone();
            logged.activity.last_begin = Some(at(began));
            let mut st = suspended(at(suspended_ago));
            let d = step(&logged, &c, Idle::For(began as f64), &mut st);
            assert_eq!(
                !d.names().is_empty(),
                wakes,
                "began {began}s ago, suspended {suspended_ago}s ago"
            );
        }
    }

    #[test]
    fn remembered_is_what_the_next_plan_brings_back() {
        let r = |name: &str, size: &str| SuspendedReplica {
            name: name.into(),
            size: Size::from(size),
        };
        let held = IdleSuspendState {
            suspended: vec![r("r1", "50cc"), r("c-burst", "400cc")],
            suspended_at: Some(now()),
            ..IdleSuspendState::default()
        };
        let state = |st: &IdleSuspendState| serde_json::json!({ "idle_suspend": serde_json::to_value(st).unwrap() });
        let c = &cluster("c", vec![]);
        // Held suspended: what was remembered, never the burst replica.
        assert_eq!(
            remembered(c, Some(&state(&held)), None, &[]).wake,
            vec![r("r1", "50cc")]
        );
        // A resume under way: what it still has to create.
        let resuming = IdleSuspendState {
            suspended_at: None,
            resuming: vec![r("r2", "25cc")],
            ..held.clone()
        };
        assert_eq!(
            remembered(c, Some(&state(&resuming)), None, &[]).wake,
            vec![r("r2", "25cc")]
        );
        // Running (resumed, nothing missing), no row, an unreadable slot: nothing.
        let running = IdleSuspendState {
            suspended_at: None,
            ..held
        };
        assert!(remembered(c, Some(&state(&running)), None, &[])
            .wake
            .is_empty());
        // Woken, then emptied by a DROP of r1 sent before the wake that
        // reached the server after it: what the wake brought back (as
        // `apply` wakes it again); not by a DROP sent after the wake.
        let woken = IdleSuspendState {
            resumed_at: Some(now() - chrono::Duration::minutes(5)),
            ..running.clone()
        };
        let sent = |ago: i64| {
            let sent = now() - chrono::Duration::minutes(ago);
            vec![crate::model::SentDrop {
                replica: "r1".into(),
                sent,
                until: sent + chrono::Duration::minutes(17),
            }]
        };
        assert_eq!(
            remembered(c, Some(&state(&woken)), None, &sent(10)).wake,
            vec![r("r1", "50cc")]
        );
        assert!(remembered(c, Some(&state(&woken)), None, &sent(1))
            .wake
            .is_empty());
        // Woken with r1 and r2; r1 gone to that DROP, and r2 made again by
        // hand at another size: the shape was chosen elsewhere, as a wake
        // reads it (r1 was made again beside it: names alone were compared).
        let two = IdleSuspendState {
            suspended: vec![r("r1", "50cc"), r("r2", "25cc")],
            ..woken.clone()
        };
        let by_hand = &cluster("c", vec![replica("r2", "100cc", true)]);
        assert!(remembered(by_hand, Some(&state(&two)), None, &sent(10))
            .wake
            .is_empty());
        let kept = &cluster("c", vec![replica("r2", "25cc", true)]);
        assert_eq!(
            remembered(kept, Some(&state(&two)), None, &sent(10)).wake,
            vec![r("r1", "50cc")]
        );
        assert_eq!(remembered(c, None, None, &[]), Remembered::default());
        let junk = serde_json::json!({"idle_suspend": "junk"});
        assert_eq!(remembered(c, Some(&junk), None, &[]), Remembered::default());
        // Wiped: what the trail shows the last suspension dropped, not the
        // burst replica (as `apply` wakes it); nothing once woken since.
        let mut last = crate::model::LastSuspension {
            at: now(),
            dropped: vec![
                ("r1".into(), Some(Size::from("50cc"))),
                ("c-burst".into(), Some(Size::from("400cc"))),
            ],
            live: Vec::new(),
            last_created: None,
            made_while_suspended: Vec::new(),
        };
        let wiped = remembered(c, None, Some(&last), &[]);
        assert_eq!(
            (wiped.wake, wiped.from_trail),
            (vec![r("r1", "50cc")], true)
        );
        assert!(remembered(c, Some(&state(&running)), Some(&last), &[])
            .wake
            .is_empty());
        last.last_created = Some(now());
        assert_eq!(remembered(c, None, Some(&last), &[]), Remembered::default());
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
            resuming: Vec::new(),
            predict: None,
            check_trail: false,
            nothing_to_recall: false,
            stuck: Vec::new(),
            from_reference: false,
            rewoken_for: None,
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
            prepare(&c, ctx, d, &mut st, false);
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
            resuming: Vec::new(),
            predict: None,
            check_trail: false,
            nothing_to_recall: false,
            stuck: Vec::new(),
            from_reference: false,
            rewoken_for: None,
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

    /// Suspended an hour ago while running `remembered` (name, size).
    fn suspended_with(remembered: &[(&str, &str)]) -> IdleSuspendState {
        IdleSuspendState {
            suspended: remembered
                .iter()
                .map(|(n, s)| SuspendedReplica {
                    name: n.to_string(),
                    size: Size::from(*s),
                })
                .collect(),
            suspended_at: Some(now() - chrono::Duration::hours(1)),
            ..IdleSuspendState::default()
        }
    }

    fn waiting(cl: crate::model::Cluster) -> crate::model::Cluster {
        let mut cl = cl;
        cl.activity.in_flight = 1;
        cl
    }

    fn added_reason(d: &Desired, name: &str) -> String {
        d.replicas
            .get(name)
            .and_then(|r| r.added_by.as_ref())
            .map(|a| a.reason.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_partial_resume_is_completed_on_the_next_plan_beside_the_burst() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let mut st = suspended_with(&[("r1", "50cc")]);
        let d = step(&waiting(cluster("c", vec![])), &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(st.suspended_at.is_none());
        assert_eq!(st.resuming.len(), 1, "owed until live");
        // The plan's state was saved but only the burst was created (r1 held
        // back by a limit or stabilization): r1 is added again.
        let bursting = waiting(cluster("c", vec![replica("c-burst", "100cc", false)]));
        let d = step(&bursting, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1"]);
        assert_eq!(d.replicas["r1"].size, Size::from("50cc"));
        assert!(
            added_reason(&d, "r1")
                .contains("completing the resume after suspension: r1 not created yet"),
            "{}",
            added_reason(&d, "r1")
        );
        assert!(d.alerts.is_empty(), "{:?}", d.alerts);
        // Once r1 is live the resume is done: nothing is added any more.
        let both = waiting(cluster(
            "c",
            vec![
                replica("c-burst", "100cc", true),
                replica("r1", "50cc", false),
            ],
        ));
        let d = step(&both, &c, Idle::Busy, &mut st);
        assert!(d.replicas.values().all(|r| r.added_by.is_none()));
        assert!(st.resuming.is_empty());
        let d = step(
            &waiting(cluster("c", vec![replica("r1", "50cc", true)])),
            &c,
            Idle::Busy,
            &mut st,
        );
        assert_eq!(d.names(), vec!["r1"]);
        assert_eq!(st, {
            let mut want = suspended_with(&[("r1", "50cc")]);
            want.suspended_at = None;
            want.resumed_at = Some(now());
            want
        });
    }

    #[test]
    fn a_create_that_was_skipped_or_failed_is_retried() {
        // A run that skips (`--max-actions`) or fails a cluster's action
        // keeps its old state: the next plan starts from the suspension
        // again, with the burst already created.
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let bursting = waiting(cluster("c", vec![replica("c-burst", "100cc", false)]));
        let mut st = suspended_with(&[("r1", "50cc"), ("r2", "25cc")]);
        let d = step(&bursting, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["c-burst", "r1", "r2"]);
        assert!(
            added_reason(&d, "r1").contains("resume after suspension (demand"),
            "{}",
            added_reason(&d, "r1")
        );
        // r1 was created, r2 failed: r2 alone is brought back.
        let mut st = suspended_with(&[("r1", "50cc"), ("r2", "25cc")]);
        let half = waiting(cluster(
            "c",
            vec![
                replica("c-burst", "100cc", false),
                replica("r1", "50cc", false),
            ],
        ));
        let d = step(&half, &c, Idle::Busy, &mut st);
        let added: Vec<&String> = d
            .replicas
            .iter()
            .filter(|(_, r)| r.added_by.is_some())
            .map(|(n, _)| n)
            .collect();
        assert_eq!(added, ["r2"]);
        assert_eq!(st.resuming.len(), 1);
        // A replica the suspension did not remember (created by hand) still
        // means the cluster's shape was chosen elsewhere.
        let mut st = suspended_with(&[("r1", "50cc")]);
        let by_hand = waiting(cluster("c", vec![replica("mine", "25cc", false)]));
        let d = step(&by_hand, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["mine"]);
        assert!(st.resuming.is_empty());
        // Under a remembered name at another size, likewise: the rest does
        // not come back beside it.
        let mut st = suspended_with(&[("r1", "50cc"), ("r2", "25cc")]);
        let by_hand = waiting(cluster("c", vec![replica("r1", "100cc", false)]));
        let d = step(&by_hand, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
        assert!(st.resuming.is_empty());
        assert!(st.suspended_at.is_none(), "{st:?}");
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("woken by hand with r1 (100cc)")),
            "{:?}",
            d.notes
        );
        // That replica dropped by hand later, users waiting: nothing comes
        // back (a wake done is not made again), and the alert says why,
        // not that the state was wiped (it is intact).
        let gone = waiting(cluster("c", vec![]));
        st.resumed_at = st.resumed_at.map(|t| t - chrono::Duration::minutes(5));
        let d = step(&gone, &c, Idle::Busy, &mut st);
        assert!(d.names().is_empty(), "{:?}", d.replicas);
        let alert = d.alerts.join("\n");
        assert!(
            alert.contains("it was woken at") && !alert.contains("wiped"),
            "{alert}"
        );
        let mut fresh = IdleSuspendState::default();
        let d = step(&gone, &c, Idle::Busy, &mut fresh);
        let alert = d.alerts.join("\n");
        assert!(
            alert.contains("its state was wiped or lost, or it never suspended"),
            "{alert}"
        );
    }

    #[test]
    fn remembered_replicas_that_cannot_be_created_are_alerted_and_skipped() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let long = "x".repeat(300);
        let empty = waiting(cluster("c", vec![]));
        let mut st = suspended_with(&[
            ("r1", "75cc"),
            (&long, "25cc"),
            ("r3", "25cc"),
            ("mz_r4", "25cc"),
        ]);
        let d = step(&empty, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r3"], "only what can be created");
        assert_eq!(d.alerts.len(), 3, "{:?}", d.alerts);
        assert!(
            d.alerts[2].contains("its name begins with 'mz_', which Materialize reserves"),
            "{:?}",
            d.alerts
        );
        let unknown = &d.alerts[0];
        assert!(
            unknown.starts_with("idle_suspend: not bringing back replica r1 (75cc)")
                && unknown.contains("size 75cc is not offered (sizes are: 25cc, 50cc")
                && unknown.contains("target_size")
                && unknown.contains("clusterctl wipe-state --cluster u9"),
            "{unknown}"
        );
        let too_long = &d.alerts[1];
        assert!(
            too_long.contains(&format!("replica {}… (25cc)", "x".repeat(64)))
                && too_long.contains("its name is 300 bytes, over Materialize's limit of 255")
                && !too_long.contains(&long),
            "{too_long}"
        );
        // Once a replica runs, the ones that cannot come back are let go.
        let d = step(
            &waiting(cluster("c", vec![replica("r3", "25cc", false)])),
            &c,
            Idle::Busy,
            &mut st,
        );
        assert!(d.alerts.is_empty(), "{:?}", d.alerts);
        assert!(st.resuming.is_empty());

        // Nothing can come back: said on every plan while nothing runs.
        let mut st = suspended_with(&[("r1", "75cc")]);
        for _ in 0..2 {
            let d = step(&empty, &c, Idle::Busy, &mut st);
            assert!(d.names().is_empty());
            assert_eq!(d.alerts.len(), 2, "{:?}", d.alerts);
            assert!(
                d.alerts[1].contains("the cluster cannot be resumed by idle_suspend")
                    && d.alerts[1].contains("(r1)"),
                "{:?}",
                d.alerts
            );
        }
        // Idle again: suspended again, the next demand tries (and says) anew.
        step(&cluster("c", vec![]), &c, Idle::For(120.0), &mut st);
        assert!(st.resuming.is_empty());
        assert_eq!(st.suspended_at, Some(now()));
        let d = step(&empty, &c, Idle::Busy, &mut st);
        assert_eq!(d.alerts.len(), 2, "{:?}", d.alerts);
    }

    #[test]
    fn a_resume_under_way_ends_with_a_new_suspension() {
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let resuming = || IdleSuspendState {
            suspended: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("50cc"),
            }],
            resuming: vec![SuspendedReplica {
                name: "r1".into(),
                size: Size::from("50cc"),
            }],
            resumed_at: Some(now() - chrono::Duration::minutes(5)),
            ..IdleSuspendState::default()
        };
        // The burst runs, r1 never came: the burst goes, r1 is remembered.
        let mut st = resuming();
        let bursting = cluster("c", vec![replica("c-burst", "100cc", true)]);
        let d = step(&bursting, &c, Idle::For(120.0), &mut st);
        assert!(d.names().is_empty());
        assert!(d.suspending.is_some());
        assert!(st.resuming.is_empty());
        assert_eq!(st.suspended_at, Some(now()));
        assert_eq!(st.suspended, resuming().suspended);
        // Nothing runs at all: suspended again all the same, so the next
        // demand resumes it.
        let mut st = resuming();
        let d = step(&cluster("c", vec![]), &c, Idle::For(120.0), &mut st);
        assert!(d.names().is_empty());
        assert!(st.resuming.is_empty());
        assert_eq!(st.suspended_at, Some(now()));
        let d = step(&waiting(cluster("c", vec![])), &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
    }

    #[test]
    fn a_managed_cluster_s_resume_is_not_followed_by_name() {
        // Materialize names the replica of the replication-factor change
        // itself: following "r2" would raise the factor on the next plan.
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let mut st = suspended_with(&[("r2", "100cc")]);
        let mut m = waiting(cluster("m", vec![]));
        m.managed = true;
        let d = step(&m, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r2"]);
        assert!(st.resuming.is_empty());
        let mut woken = waiting(cluster("m", vec![replica("r1", "100cc", false)]));
        woken.managed = true;
        let d = step(&woken, &c, Idle::Busy, &mut st);
        assert_eq!(d.names(), vec!["r1"]);
    }

    #[test]
    fn a_size_strategy_replacing_the_resumed_replica_ends_the_resume() {
        // target_size (run between idle_suspend's prepare and decide) takes
        // the remembered 50cc replica out for its 100cc one.
        let c = cfg(serde_json::json!({"idle_after_s": 60}));
        let mut st = suspended_with(&[("r1", "50cc")]);
        let d = decide_in(
            &waiting(cluster("c", vec![])),
            Idle::Busy,
            now(),
            |ctx, d| {
                prepare(&c, ctx, d, &mut st, false);
                d.drop_unborn_other_sizes(
                    ctx.cluster,
                    &Size::from("100cc"),
                    StrategyKind::TargetSize,
                );
                d.add(
                    "r_100cc",
                    &Size::from("100cc"),
                    StrategyKind::TargetSize,
                    "t".into(),
                );
                decide(&c, ctx, d, &mut st);
            },
        );
        assert_eq!(d.names(), vec!["r_100cc"]);
        assert!(st.resuming.is_empty(), "not owed any more");
        assert!(st.suspended_at.is_none());
    }

    /// A suspended cluster whose statements cannot be judged (no activity
    /// data, or a thinly sampled log) stays suspended, whatever another
    /// strategy wants: turning the statement log off woke every suspended
    /// cluster with a target_size row (an outside check). A running one
    /// is not suspended either.
    #[test]
    fn a_suspended_cluster_stays_so_while_its_statements_cannot_be_seen() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let run = |cl: &crate::model::Cluster, idle: Idle, sample_rate: f64| {
            let mut st = IdleSuspendState {
                suspended: vec![SuspendedReplica {
                    name: "r1".into(),
                    size: Size::from("25cc"),
                }],
                suspended_at: Some(now() - chrono::Duration::hours(2)),
                ..Default::default()
            };
            decide_in(cl, idle, now(), |ctx, d| {
                let ctx = Ctx {
                    sample_rate: Some(sample_rate),
                    ..ctx.clone()
                };
                d.add(
                    "r_50cc",
                    &Size::from("50cc"),
                    StrategyKind::TargetSize,
                    "t".into(),
                );
                prepare(&c, &ctx, d, &mut st, false);
                decide(&c, &ctx, d, &mut st)
            })
        };
        let empty = cluster("c", vec![]);
        for (idle, rate) in [(Idle::Unknown, 1.0), (Idle::For(10_800.0), 0.01)] {
            let d = run(&empty, idle, rate);
            assert!(d.names().is_empty(), "{idle:?}: {:?}", d.names());
            let why = d.removed.get("r_50cc").map(|c| c.reason.clone());
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.contains("stays suspended")),
                "{idle:?}: {why:?}"
            );
        }
        // Running (woken by hand): left running, as before.
        let live = cluster("c", vec![replica("r_50cc", "50cc", true)]);
        assert_eq!(run(&live, Idle::Unknown, 1.0).names(), ["r_50cc"]);
    }

    #[test]
    fn state_without_the_resume_list_loads_and_an_empty_one_is_not_written() {
        let old = serde_json::json!({
            "suspended": [{"name": "r1", "size": "50cc"}],
            "suspended_at": null,
            "resumed_at": "2026-11-21T11:00:00Z"
        });
        let st: IdleSuspendState = serde_json::from_value(old.clone()).unwrap();
        assert!(st.resuming.is_empty());
        assert_eq!(st.suspended.len(), 1);
        assert_eq!(serde_json::to_value(&st).unwrap(), old);
        let mut st = st;
        st.resuming = st.suspended.clone();
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(
            v["resuming"],
            serde_json::json!([{"name": "r1", "size": "50cc"}])
        );
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
        // Pending, with when it is due (a note made the plan "converged").
        assert_eq!(d.deferred.len(), 1, "{:?}", d.deferred);
        assert_eq!(d.deferred[0].action, "suspend (idle)");
        assert_eq!(d.deferred[0].in_seconds, Some(3500));
        assert!(d.deferred[0].reason.contains("cooldown_s 3600"));
    }

    #[test]
    fn idle_counted_from_the_first_sight_is_said_while_it_holds_the_cluster() {
        let c = cfg(serde_json::json!({"idle_after_s": 600}));
        let cl = cluster("c", vec![replica("r1", "25cc", true)]);
        let run = |idle: f64, seen: Option<DateTime<Utc>>| {
            decide_in(&cl, Idle::For(idle), now(), |ctx, d| {
                let ctx = Ctx {
                    idle_since_seen: seen,
                    ..ctx.clone()
                };
                decide(&c, &ctx, d, &mut IdleSuspendState::default())
            })
        };
        let said = |d: &Desired| d.notes.iter().any(|n| n.contains("first saw it"));
        // No statement in the log's lookback, first seen now: kept, and why.
        let d = run(0.0, Some(now()));
        assert_eq!(d.names(), ["r1"]);
        assert!(said(&d), "{:?}", d.notes);
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("suspended once idle 10m")),
            "{:?}",
            d.notes
        );
        // Seen long enough ago: suspended, nothing to explain.
        let d = run(600.0, Some(now() - chrono::Duration::seconds(600)));
        assert!(d.suspending.is_some() && !said(&d), "{:?}", d.notes);
        // Idle counted from a statement: nothing to explain either.
        let d = run(0.0, None);
        assert!(!said(&d), "{:?}", d.notes);
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
        let reason = |d: Desired| d.suspending.map(|c| c.reason).unwrap_or_default();
        assert_eq!(
            reason(at_rate(Some(0.5), Idle::For(1200.0))),
            "idle for 20m (threshold 10m, +10m for the sampled statement log)"
        );
        assert_eq!(
            reason(at_rate(Some(1.0), Idle::For(600.0))),
            "idle for 10m (threshold 10m)"
        );
        // Said only past idle_after_s, and only where replicas run.
        let waiting = |d: &Desired| {
            d.notes
                .iter()
                .any(|n| n.contains("statement log is sampled"))
        };
        assert!(!waiting(&at_rate(Some(0.5), Idle::For(300.0))));
        let empty = cluster("c", vec![]);
        let d = decide_in(&empty, Idle::For(900.0), now(), |ctx, d| {
            let ctx = Ctx {
                sample_rate: Some(0.5),
                ..ctx.clone()
            };
            decide(&c, &ctx, d, &mut IdleSuspendState::default())
        });
        assert!(!waiting(&d), "{:?}", d.notes);
        // A complete log, or an unknown rate: the threshold as configured.
        assert!(at_rate(Some(1.0), Idle::For(600.0)).suspending.is_some());
        assert!(at_rate(None, Idle::For(600.0)).suspending.is_some());
        // Exactly 10 %: still evidence, ten times the silence.
        assert!(at_rate(Some(0.1), Idle::For(5999.0)).suspending.is_none());
        assert_eq!(
            reason(at_rate(Some(0.1), Idle::For(6000.0))),
            "idle for 1h40m (threshold 10m, +1h30m for the sampled statement log)"
        );
        // Below 10 %: a silence proves nothing, however long.
        for idle in [1e9, 5.0] {
            let d = at_rate(Some(0.05), Idle::For(idle));
            assert!(
                d.suspending.is_none() && d.notes.iter().any(|n| n.contains("proves nothing")),
                "{idle}: {:?}",
                d.notes
            );
        }
        // Opted in to suspending without evidence: a long silence suspends,
        // but a statement the thin log did keep, within idle_after_s,
        // proves use.
        let opted = cfg(serde_json::json!({"idle_after_s": 600, "suspend_when_unknown": true}));
        let thin = |idle: Idle| {
            decide_in(&cl, idle, now(), |ctx, d| {
                let ctx = Ctx {
                    sample_rate: Some(0.05),
                    ..ctx.clone()
                };
                decide(&opted, &ctx, d, &mut IdleSuspendState::default())
            })
        };
        let d = thin(Idle::For(5.0));
        assert_eq!(d.names(), ["r1"]);
        assert!(d.suspending.is_none());
        assert!(thin(Idle::For(599.0)).suspending.is_none());
        assert!(thin(Idle::For(600.0)).suspending.is_some());
        assert!(thin(Idle::Unknown).suspending.is_some());
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

    mod predictive {
        use super::*;
        use crate::model::{Activity, Cluster};
        use crate::strategy::predict::{Hydrations, PredictState, Profile};
        use chrono::Duration;

        fn t(s: &str) -> DateTime<Utc> {
            DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
        }

        /// Weekdays: onsets 08:55..09:45 (median 09:20), ends 16:40..18:00,
        /// 0.03 q/s on a slow day; four weeks of history.
        fn office() -> Profile {
            crate::strategy::predict::forecast::tests::office()
        }

        fn cfg() -> IdleSuspendConfig {
            IdleSuspendConfig::parse(
                &Obj::new(&serde_json::json!({"idle_after_s": 1800, "predict": true, "prewarm_margin_s": 120}))
                    .unwrap(),
            )
            .unwrap()
        }

        /// Suspended the Friday before, with 200cc that hydrated in 11m.
        fn suspended() -> IdleSuspendState {
            let mut h = Hydrations::default();
            h.by_size.insert(Size::from("200cc"), vec![600, 660, 630]);
            IdleSuspendState {
                suspended: vec![SuspendedReplica {
                    name: "r_200cc".into(),
                    size: Size::from("200cc"),
                }],
                suspended_at: Some(t("2026-01-30T17:30:00Z")),
                resumed_at: None,
                resuming: Vec::new(),
                predict: Some(PredictState {
                    hydrations: h,
                    ..PredictState::default()
                }),
                check_trail: false,
                nothing_to_recall: false,
                stuck: Vec::new(),
                from_reference: false,
                rewoken_for: None,
            }
        }

        /// The same, woken since and running (not suspended).
        fn running() -> IdleSuspendState {
            IdleSuspendState {
                suspended_at: None,
                ..suspended()
            }
        }

        /// A hydrated 200cc replica whose users left on Friday at 17:00.
        fn warm_since_friday() -> Cluster {
            with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true)]),
                Some("2026-01-30T17:00:00Z"),
                0,
            )
        }

        fn with_activity(mut cl: Cluster, last: Option<&str>, in_flight: u32) -> Cluster {
            cl.activity = Activity {
                last_begin: last.map(t),
                in_flight,
                last_end: None,
            };
            cl
        }

        /// One round (prepare, then decide) at `now`.
        fn round(cl: &Cluster, now: &str, st: &mut IdleSuspendState) -> Desired {
            let c = cfg();
            let p = office();
            let now = t(now);
            let idle = match (cl.activity.in_flight, cl.activity.last_begin) {
                (n, _) if n > 0 => Idle::Busy,
                (_, Some(b)) => Idle::For((now - b).num_seconds() as f64),
                (_, None) => Idle::For(1e6),
            };
            decide_with(cl, idle, now, Some(&p), |ctx, d| {
                prepare(&c, ctx, d, st, false);
                decide(&c, ctx, d, st);
            })
        }

        #[test]
        fn wakes_one_lead_before_the_earliest_predicted_onset() {
            // Monday 2026-02-02; lead = 11m + 1m interval + 2m margin = 14m.
            let empty = with_activity(cluster("c", vec![]), Some("2026-01-30T17:00:00Z"), 0);
            let mut st = suspended();
            let d = round(&empty, "2026-02-02T08:40:00Z", &mut st);
            assert!(d.names().is_empty(), "not yet");
            let d = round(&empty, "2026-02-02T08:41:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            let why = &d.replicas["r_200cc"].added_by.as_ref().unwrap().reason;
            assert_eq!(
                why,
                "resume after suspension (predicted demand Mon 09:20±25m \
                 from 4 weeks of history; hydration 11m on 200cc + interval 1m + margin 2m: \
                 waking at 08:41)"
            );
            assert!(d.prewarming.is_some(), "no burst while nobody waits");
            assert!(st.suspended_at.is_none());
        }

        #[test]
        fn a_hold_under_way_is_never_cut_short_by_a_later_forecast() {
            // Woken at 08:36 with a 7m margin (lead 19m): held, while
            // nobody comes, until the latest onset 09:45 + 19m = 10:04.
            let empty = with_activity(cluster("c", vec![]), Some("2026-01-30T17:00:00Z"), 0);
            let mut st = suspended();
            st.predict.as_mut().unwrap().margin_s = Some(420.0);
            let d = round(&empty, "2026-02-02T08:36:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            let until = |st: &IdleSuspendState| {
                let h = st.predict.as_ref().unwrap().hold.as_ref().expect("a hold");
                (h.wake, h.until)
            };
            assert_eq!(
                until(&st),
                (t("2026-02-02T08:36:00Z"), t("2026-02-02T10:04:00Z"))
            );
            // The margin back to 2m at 08:47, the replica hydrated in 11m
            // as before (lead 14m): today's forecast now wakes at 08:41 and
            // holds until 09:59, but the hold under way keeps its wake and
            // its end.
            st.predict.as_mut().unwrap().margin_s = Some(120.0);
            let warm = warm_since_friday();
            round(&warm, "2026-02-02T08:47:00Z", &mut st);
            assert_eq!(
                until(&st),
                (t("2026-02-02T08:36:00Z"), t("2026-02-02T10:04:00Z"))
            );
            // At 10:01 nobody came: the forecast's hold is over (09:59),
            // the one under way is not: the replica stays until 10:04.
            let d = round(&warm, "2026-02-02T10:01:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"], "{:?}", d.notes);
            // ... and a statement then would change the decision.
            let (c, p) = (cfg(), office());
            let mut sensitive = None;
            decide_with(
                &warm,
                Idle::For(3600.0),
                t("2026-02-02T10:02:00Z"),
                Some(&p),
                |ctx, _| {
                    sensitive = Some(activity_sensitive(&c, ctx, &st));
                },
            );
            assert_eq!(sensitive, Some(true));
            let d = round(&warm, "2026-02-02T10:05:00Z", &mut st);
            assert!(d.names().is_empty(), "nobody came: {:?}", d.notes);
        }

        /// An occurrence is scored once: a lead learned after its wake (a
        /// margin, a hydration time) moves its wake, and the same day was
        /// counted a second hit (an outside check: `hits` 2 of one day).
        #[test]
        fn an_occurrence_is_scored_once_whatever_its_lead_since() {
            let empty = with_activity(cluster("c", vec![]), Some("2026-01-30T17:00:00Z"), 0);
            let mut st = suspended();
            let d = round(&empty, "2026-02-02T08:41:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            let came = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true)]),
                Some("2026-02-02T09:20:00Z"),
                1,
            );
            let hits = |st: &IdleSuspendState| st.predict.as_ref().map_or(0, |p| p.hits);
            round(&came, "2026-02-02T09:21:00Z", &mut st);
            assert_eq!(hits(&st), 1, "users found it hydrated");
            // A longer hydration learned since: a lead 10 minutes longer,
            // a wake 10 minutes earlier, the same occurrence.
            let p = st.predict.as_mut().unwrap();
            p.hydrations
                .by_size
                .insert(Size::from("200cc"), vec![1200, 1260, 1230]);
            round(&came, "2026-02-02T09:22:00Z", &mut st);
            round(&came, "2026-02-02T09:23:00Z", &mut st);
            assert_eq!(hits(&st), 1, "{:?}", st.predict);
        }

        #[test]
        fn the_next_decision_is_the_wake() {
            let empty = with_activity(cluster("c", vec![]), Some("2026-01-30T17:00:00Z"), 0);
            let st = suspended();
            let c = cfg();
            let p = office();
            let d = Desired::from_cluster(&empty);
            let sizes = sizes();
            let ctx = Ctx {
                cluster: &empty,
                sizes: &sizes,
                now: t("2026-02-02T06:00:00Z"),
                idle: Idle::For(3600.0),
                sample_rate: None,
                profile: Some(&p),
                interval_s: 60,
                prepared: Default::default(),
                idle_since_seen: None,
                last_suspension: None,
                trail_read: false,
                replica_limit: None,
                burst: crate::strategy::burst_name(&empty.name),
                late_drops: Vec::new(),
                schema: None,
                size_chosen: false,
            };
            let _ = d;
            // A lead (14m) before the wake the not-suspending-so-close rule
            // changes; then the wake itself.
            assert_eq!(next_change(&c, &ctx, &st), Some(t("2026-02-02T08:27:00Z")));
            // A prewarm a newer profile no longer predicts is seen through:
            // its end is a change too, when it is still ahead.
            let held = |until: &str| {
                let mut st = suspended();
                st.predict.as_mut().unwrap().hold = Some(predict::Hold {
                    wake: t("2026-02-02T05:00:00Z"),
                    until: t(until),
                    started_until: t(until),
                    why: "an older profile's".into(),
                });
                next_change(&c, &ctx, &st)
            };
            assert_eq!(
                held("2026-02-02T07:00:00Z"),
                Some(t("2026-02-02T07:00:00Z"))
            );
            assert_eq!(
                held("2026-02-02T06:00:00Z"),
                Some(t("2026-02-02T08:27:00Z"))
            );
            assert_eq!(
                held("2026-02-02T05:30:00Z"),
                Some(t("2026-02-02T08:27:00Z"))
            );
        }

        #[test]
        fn kept_warm_until_the_latest_onset_then_a_missed_day_suspends() {
            // A holiday: warm from 08:41, nobody comes.
            let warm = warm_since_friday();
            let mut st = running();
            let d = round(&warm, "2026-02-02T09:30:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            assert!(
                d.notes.iter().any(|n| n.contains("keeping warm")),
                "{:?}",
                d.notes
            );
            // The latest onset (09:45) + lead passed at 09:59.
            let d = round(&warm, "2026-02-02T09:59:00Z", &mut st);
            assert!(d.names().is_empty());
            let why = &d.suspending.as_ref().unwrap().reason;
            assert!(
                why.contains("predicted demand Mon 09:20±25m did not come by 09:59"),
                "{why}"
            );
            assert!(
                why.contains("next predicted demand Tue 09:20±25m, waking at Tue 08:41"),
                "{why}"
            );
            // An earlier run held it longer (its lead was longer then):
            // kept warm to 10:07, the reason says so, not 09:59 (an
            // outside check).
            let mut st = running();
            round(&warm, "2026-02-02T09:30:00Z", &mut st);
            st.predict.as_mut().unwrap().hold.as_mut().unwrap().until = t("2026-02-02T10:07:00Z");
            let d = round(&warm, "2026-02-02T10:03:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"], "held to 10:07");
            let d = round(&warm, "2026-02-02T10:08:00Z", &mut st);
            let why = &d.suspending.as_ref().expect("suspended").reason;
            assert!(
                why.contains("predicted demand Mon 09:20±25m did not come by 10:07"),
                "{why}"
            );
        }

        /// The server's clock stepped back over a missed occurrence after
        /// the suspension that ended its hold: the cluster was woken again
        /// for the same occurrence (an outside check). It stays suspended;
        /// users still wake it, and the next day's occurrence does.
        #[test]
        fn a_clock_stepped_back_over_a_missed_occurrence_does_not_wake_it_again() {
            let warm = warm_since_friday();
            let mut st = running();
            round(&warm, "2026-02-02T09:30:00Z", &mut st);
            let d = round(&warm, "2026-02-02T09:59:00Z", &mut st);
            assert!(d.suspending.is_some(), "the missed day suspends");
            let empty = with_activity(cluster("c", vec![]), Some("2026-01-30T17:00:00Z"), 0);
            let mut stepped = st.clone();
            let d = round(&empty, "2026-02-02T09:40:00Z", &mut stepped);
            assert!(d.names().is_empty(), "{:?}", d.replicas);
            assert!(stepped.suspended_at.is_some());
            let came = with_activity(cluster("c", vec![]), Some("2026-02-02T09:41:00Z"), 1);
            let d = round(&came, "2026-02-02T09:42:00Z", &mut st.clone());
            assert_eq!(d.names(), vec!["r_200cc"], "users wake it");
            let d = round(&empty, "2026-02-03T08:41:00Z", &mut st.clone());
            assert_eq!(d.names(), vec!["r_200cc"], "Tuesday's occurrence wakes it");
        }

        #[test]
        fn a_session_that_is_over_suspends_in_minutes() {
            let warm = cluster("c", vec![replica("r_200cc", "200cc", true)]);
            let mut st = running();
            // Users came at 09:02: where the session began is recorded.
            let came = with_activity(warm.clone(), Some("2026-02-02T09:02:00Z"), 0);
            round(&came, "2026-02-02T09:03:00Z", &mut st);
            assert_eq!(
                st.predict.as_ref().unwrap().began,
                Some(t("2026-02-02T09:02:00Z"))
            );
            // Before the earliest end a long lull is not the end (30 min rule).
            let lull = with_activity(warm.clone(), Some("2026-02-02T12:00:00Z"), 0);
            let d = round(&lull, "2026-02-02T12:20:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            // After 16:40, 8 mean gaps at 0.03 q/s (4m27s) of silence end it.
            let late = with_activity(warm.clone(), Some("2026-02-02T17:00:00Z"), 0);
            let d = round(&late, "2026-02-02T17:04:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"], "4 min < 4m27s");
            let d = round(&late, "2026-02-02T17:05:00Z", &mut st);
            assert!(d.names().is_empty());
            let why = &d.suspending.as_ref().unwrap().reason;
            assert!(
                why.starts_with("idle 5m: after 16:40, the earliest its session ends by past days"),
                "{why}"
            );
            // Resumed only by users after the suspension, not by the old ones.
            let gone = with_activity(cluster("c", vec![]), Some("2026-02-02T17:00:00Z"), 0);
            let d = round(&gone, "2026-02-02T17:10:00Z", &mut st);
            assert!(d.names().is_empty());
            let back = with_activity(cluster("c", vec![]), Some("2026-02-02T17:30:00Z"), 0);
            let d = round(&back, "2026-02-02T17:31:00Z", &mut st);
            assert_eq!(
                d.names(),
                vec!["r_200cc"],
                "late users wake it (reactively)"
            );
        }

        #[test]
        fn unpredicted_demand_still_wakes_the_cluster() {
            // Saturday: nothing predicted, a query fails and is logged.
            let empty = with_activity(cluster("c", vec![]), Some("2026-02-07T11:00:00Z"), 0);
            let mut st = suspended();
            let d = round(&empty, "2026-02-07T11:01:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            assert!(d.prewarming.is_none(), "a burst may help the users waiting");
            assert!(d.replicas["r_200cc"]
                .added_by
                .as_ref()
                .unwrap()
                .reason
                .contains("activity 60s ago"));
        }

        #[test]
        fn describe_lists_each_learned_size_once_and_the_lead_is_sensitive_while_warm_for_nobody() {
            let c = cfg();
            let p = office();
            let at = |cl: &Cluster, now: &str, st: &IdleSuspendState| {
                let mut out = None;
                decide_with(cl, Idle::For(3600.0), t(now), Some(&p), |ctx, _| {
                    out = Some((prediction(&c, ctx, st), activity_sensitive(&c, ctx, st)));
                });
                out.expect("ran")
            };
            // 200cc learned, and the lead's size: listed once.
            let empty = with_activity(cluster("c", vec![]), Some("2026-01-30T17:00:00Z"), 0);
            let (pred, _) = at(&empty, "2026-02-02T06:00:00Z", &suspended());
            let sizes: Vec<String> = pred
                .expect("a prediction")
                .hydration
                .iter()
                .map(|h| h.size.0.clone())
                .collect();
            assert_eq!(sizes, ["200cc"]);
            // Woken at 08:41 for 08:55, nobody yet at 08:50: a statement
            // now would change the decision (the session's end).
            let mut st = suspended();
            round(&empty, "2026-02-02T08:41:00Z", &mut st);
            let warm = warm_since_friday();
            assert!(at(&warm, "2026-02-02T08:50:00Z", &st).1);
            // Users came at 09:00: the session's end is known.
            let busy = with_activity(warm_since_friday(), Some("2026-02-02T09:00:00Z"), 0);
            round(&busy, "2026-02-02T09:01:00Z", &mut st);
            assert!(!at(&busy, "2026-02-02T09:02:00Z", &st).1);
        }

        #[test]
        fn outside_predicted_demand_it_suspends_at_the_threshold() {
            // Tuesday evening, no demand predicted until Wednesday: the
            // configured 30m of silence, to the second.
            let warm = with_activity(warm_since_friday(), Some("2026-02-03T19:30:00Z"), 0);
            let mut st = running();
            let d = round(&warm, "2026-02-03T19:59:59Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"], "{:?}", d.notes);
            let mut st = running();
            let d = round(&warm, "2026-02-03T20:00:00Z", &mut st);
            assert!(d.names().is_empty(), "{:?}", d.notes);
        }

        #[test]
        fn not_suspended_minutes_before_its_predicted_wake() {
            // Running since the weekend, idle since Friday 17:00; Monday's
            // wake is 08:41 (onset 08:55 - 11m hydration - 1m - 2m).
            let warm = warm_since_friday();
            let mut st = running();
            let d = round(&warm, "2026-02-02T08:37:30Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            assert!(
                d.notes
                    .iter()
                    .any(|n| n.contains("wakes it in 3m30s (within a lead, 14m)")),
                "{:?}",
                d.notes
            );
            // An hour earlier the wake is far: it suspends.
            let mut st = running();
            let d = round(&warm, "2026-02-02T07:37:30Z", &mut st);
            assert!(d.names().is_empty(), "{:?}", d.notes);
            // The bound is one lead (14m): suspended then, it would be
            // made again before it saved what the wake's lead costs
            // (within 5 minutes only, it was suspended minutes before its
            // own wake: an outside check). 839 s before the wake it
            // stays, 840 s it goes.
            let mut st = running();
            let d = round(&warm, "2026-02-02T08:27:01Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"], "{:?}", d.notes);
            let mut st = running();
            let d = round(&warm, "2026-02-02T08:27:00Z", &mut st);
            assert!(d.names().is_empty(), "{:?}", d.notes);
            // ... and the plan's next decision is then, not the wake.
            let (c, p, now) = (cfg(), office(), t("2026-02-02T08:20:00Z"));
            let idle = Idle::For((now - t("2026-01-30T17:00:00Z")).num_seconds() as f64);
            let mut next = None;
            decide_with(&warm, idle, now, Some(&p), |ctx, _| {
                next = next_change(&c, ctx, &running());
            });
            assert_eq!(next, Some(t("2026-02-02T08:27:00Z")));
        }

        #[test]
        fn never_suspends_while_the_normal_replica_hydrates() {
            // Users left at 17:00; the 200cc replica asked for at 17:05
            // (a crash restart, say) is still hydrating at 17:15.
            let cold = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", false)]),
                Some("2026-02-02T17:00:00Z"),
                0,
            );
            let mut st = running();
            st.predict.as_mut().unwrap().began = Some(t("2026-02-02T09:02:00Z"));
            st.predict.as_mut().unwrap().hydrations.pending.insert(
                "r_200cc".into(),
                crate::strategy::predict::hydration::Pending {
                    size: Size::from("200cc"),
                    since: t("2026-02-02T17:05:00Z"),
                    seen_cold: None,
                },
            );
            let d = round(&cold, "2026-02-02T17:15:00Z", &mut st);
            assert_eq!(d.names(), vec!["r_200cc"]);
            assert!(
                d.notes.iter().any(|n| n.contains("has not hydrated yet")),
                "{:?}",
                d.notes
            );
            // Once hydrated it may go.
            let warm = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true)]),
                Some("2026-02-02T17:00:00Z"),
                0,
            );
            let d = round(&warm, "2026-02-02T17:20:00Z", &mut st);
            assert!(d.names().is_empty());
            // A replica hydrating far longer than ever learned (10 h against
            // 11 m) is not protected: it is most likely stuck.
            let mut stuck = running();
            stuck.predict.as_mut().unwrap().hydrations.pending.insert(
                "r_200cc".into(),
                crate::strategy::predict::hydration::Pending {
                    size: Size::from("200cc"),
                    since: t("2026-02-02T17:05:00Z"),
                    seen_cold: None,
                },
            );
            let d = round(&cold, "2026-02-03T03:05:00Z", &mut stuck);
            assert!(d.names().is_empty(), "{:?}", d.notes);
            // The bound: four learned hydrations (11m) and ten minutes,
            // 54m after it was asked for.
            for (at, protected) in [
                ("2026-02-02T17:58:59Z", true),
                ("2026-02-02T17:59:00Z", false),
            ] {
                let mut st = running();
                st.predict.as_mut().unwrap().hydrations.pending.insert(
                    "r_200cc".into(),
                    crate::strategy::predict::hydration::Pending {
                        size: Size::from("200cc"),
                        since: t("2026-02-02T17:05:00Z"),
                        seen_cold: None,
                    },
                );
                let d = round(&cold, at, &mut st);
                assert_eq!(!d.names().is_empty(), protected, "{at}: {:?}", d.notes);
            }
            // ... and it learned how long that hydration took.
            let h = &st.predict.as_ref().unwrap().hydrations.by_size[&Size::from("200cc")];
            assert_eq!(h.last(), Some(&900));
            // A replica this strategy never timed (made by hand, or by
            // another strategy) counts from when the catalog shows it: one
            // that never hydrates held an idle cluster awake for ever (an
            // outside check); without that, still hydrating.
            let mut untimed = cluster("c", vec![replica("r_200cc", "200cc", false)]);
            for (since, protected) in [
                (None, true),
                (Some("2026-02-02T17:05:00Z"), true),
                (Some("2026-01-23T17:05:00Z"), false),
            ] {
                untimed.replicas[0].since = since.map(t);
                let idle = with_activity(untimed.clone(), Some("2026-02-02T17:00:00Z"), 0);
                let mut st = running();
                st.predict.as_mut().unwrap().began = Some(t("2026-02-02T09:02:00Z"));
                let d = round(&idle, "2026-02-02T17:15:00Z", &mut st);
                assert_eq!(!d.names().is_empty(), protected, "{since:?}: {:?}", d.notes);
            }
        }

        #[test]
        fn a_replica_given_up_as_stuck_is_not_remembered_beside_one_that_hydrated() {
            // Users left at 17:00. Beside the hydrated r_200cc, a replica
            // made by hand at 15:00 never hydrated: given up as stuck (four
            // learned hydrations of 11m and ten minutes), it is dropped with
            // the suspension and not made again at the wake (it was, at
            // every wake: an outside check).
            let mut by_hand = replica("by_hand", "200cc", false);
            by_hand.since = Some(t("2026-02-02T15:00:00Z"));
            let idle = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true), by_hand]),
                Some("2026-02-02T17:00:00Z"),
                0,
            );
            let mut st = running();
            st.predict.as_mut().unwrap().began = Some(t("2026-02-02T09:02:00Z"));
            let d = round(&idle, "2026-02-02T18:00:00Z", &mut st);
            assert!(d.replicas.is_empty(), "{:?}", d.notes);
            let kept: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(kept, vec!["r_200cc"]);
            let why = d.removed.get("by_hand").map(|c| c.reason.clone());
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.ends_with(&format!("; by_hand {FORGOTTEN_AS_STUCK}"))),
                "{why:?}"
            );
            // Within the bound (made at 17:30, 30m before) it is still
            // hydrating: the cluster is kept awake for it.
            let mut young = idle.clone();
            young.replicas[1].since = Some(t("2026-02-02T17:30:00Z"));
            let mut st = running();
            st.predict.as_mut().unwrap().began = Some(t("2026-02-02T09:02:00Z"));
            let d = round(&young, "2026-02-02T18:00:00Z", &mut st);
            assert_eq!(d.names(), vec!["by_hand", "r_200cc"], "{:?}", d.notes);
            // A suspension split over runs (`--max-actions`): the run that
            // drops the stuck replica alone does not remember it beside
            // r_200cc, which the first remembered.
            let mut left = idle.clone();
            left.replicas.remove(0);
            let mut st = suspended();
            st.suspended_at = Some(t("2026-02-02T17:59:00Z"));
            let d = round(&left, "2026-02-02T18:00:00Z", &mut st);
            assert!(d.replicas.is_empty(), "{:?}", d.notes);
            let kept: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(kept, vec!["r_200cc"]);
            let why = d.removed.get("by_hand").map(|c| c.reason.clone());
            assert!(
                why.as_deref()
                    .is_some_and(|w| w.contains(FORGOTTEN_AS_STUCK)),
                "{why:?}"
            );
            // Alone, the stuck replica is the cluster's shape: remembered.
            let mut alone = idle.clone();
            alone.replicas.remove(0);
            let mut st = running();
            st.predict.as_mut().unwrap().began = Some(t("2026-02-02T09:02:00Z"));
            let d = round(&alone, "2026-02-02T18:00:00Z", &mut st);
            assert!(d.replicas.is_empty(), "{:?}", d.notes);
            let kept: Vec<&str> = st.suspended.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(kept, vec!["by_hand"]);
        }

        /// The prediction's misses and margin after users came at `came`
        /// (on Monday 2026-02-02, `HH:MM`) to a replica still hydrating,
        /// seen a minute later, and hydrated at `hydrated` (the last
        /// statement then), seen a minute after that.
        fn after_a_wait(came: &str, hydrated: &str) -> (u32, f64) {
            after_a_wait_seen(came, 60, 3, hydrated)
        }

        /// [`after_a_wait`] with the still-hydrating replica seen
        /// `seen_after_s` after the users came, `in_flight` statements
        /// running then.
        fn after_a_wait_seen(
            came: &str,
            seen_after_s: i64,
            in_flight: u32,
            hydrated: &str,
        ) -> (u32, f64) {
            let at = |hm: &str, plus_s: i64| {
                (t(&format!("2026-02-02T{hm}:00Z")) + Duration::seconds(plus_s)).to_rfc3339()
            };
            let cold = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", false)]),
                Some(&at(came, 0)),
                in_flight,
            );
            let mut st = running();
            round(&cold, &at(came, seen_after_s), &mut st);
            let warm = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true)]),
                Some(&at(hydrated, 0)),
                0,
            );
            round(&warm, &at(hydrated, 60), &mut st);
            let ps = st.predict.as_ref().unwrap();
            (ps.misses, ps.margin(&cfg().predict.unwrap()))
        }

        #[test]
        fn users_waiting_on_a_late_prewarm_widen_the_margin() {
            // The replica was started at 08:41 for the 08:55 onset, but
            // users who came at 08:57 still waited (it hydrated late).
            assert_eq!(after_a_wait("08:57", "09:07"), (1, 120.0 + 660.0));
        }

        #[test]
        fn the_round_that_widens_the_margin_explains_with_it() {
            // Users waited from 08:57 to 09:07: the margin grows from 2m to
            // 13m in the round that sees the replica hydrated, and that
            // round's reason already wakes with it (11m + 1m + 13m).
            let at = |hm: &str| format!("2026-02-02T{hm}:00Z");
            let cold = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", false)]),
                Some(&at("08:57")),
                3,
            );
            let mut st = running();
            round(&cold, &at("08:58"), &mut st);
            let warm = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true)]),
                Some(&at("09:07")),
                0,
            );
            let d = round(&warm, &at("09:08"), &mut st);
            let ps = st.predict.as_ref().unwrap();
            assert_eq!(ps.margin(&cfg().predict.unwrap()), 780.0);
            let why = &ps.hold.as_ref().expect("held for the session").why;
            assert!(why.contains("waking at 08:30"), "{why}");
            let said = d.prewarming.expect("nobody waits: prewarming");
            assert!(
                said.contains("margin 13m: waking at 08:30"),
                "the round's own reason: {said}"
            );
        }

        #[test]
        fn a_statement_within_two_intervals_and_a_minute_is_demand_waiting() {
            // No statement in flight: one that began less than 2 × 60 s +
            // 60 s before the round is users waiting; one before is not.
            let waited = (1, 120.0 + 660.0);
            assert_eq!(after_a_wait_seen("08:57", 179, 0, "09:07"), waited);
            assert_eq!(after_a_wait_seen("08:57", 180, 0, "09:07"), (0, 120.0));
            assert_eq!(after_a_wait_seen("08:57", 180, 1, "09:07"), waited);
        }

        #[test]
        fn users_before_the_aimed_onset_do_not_widen_the_margin() {
            // Users came at 08:45, before the 08:55 onset the 08:41 wake
            // was aimed at: left to wake it on demand, not a late prewarm.
            assert_eq!(after_a_wait("08:45", "08:55"), (0, 120.0));
        }

        #[test]
        fn without_history_it_reacts_like_idle_suspend() {
            let c = cfg();
            let warm = with_activity(
                cluster("c", vec![replica("r_200cc", "200cc", true)]),
                Some("2026-02-02T17:00:00Z"),
                0,
            );
            let mut st = IdleSuspendState::default();
            let d = decide_with(
                &warm,
                Idle::For(1000.0),
                t("2026-02-02T17:16:40Z"),
                None,
                |ctx, d| {
                    prepare(&c, ctx, d, &mut st, false);
                    decide(&c, ctx, d, &mut st);
                },
            );
            assert_eq!(d.names(), vec!["r_200cc"]);
            assert!(
                d.notes.iter().any(|n| n.contains("mz_monitor")),
                "{:?}",
                d.notes
            );
            let d = decide_with(
                &warm,
                Idle::For(1800.0),
                t("2026-02-02T17:30:00Z"),
                None,
                |ctx, d| {
                    prepare(&c, ctx, d, &mut st, false);
                    decide(&c, ctx, d, &mut st);
                },
            );
            assert!(d.names().is_empty());
        }

        /// Below half and above one, a target is refused with one range,
        /// the one the flag says too (`KeyKind::Share`).
        #[test]
        fn a_prewarm_target_out_of_range_is_said_with_one_range() {
            for (v, got) in [(0.49, "0.49"), (1.0000001, "1.0000001")] {
                let row =
                    serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_target": v});
                let e = IdleSuspendConfig::parse(&Obj::new(&row).unwrap()).unwrap_err();
                assert_eq!(e.key, "prewarm_target");
                assert_eq!(
                    e.message,
                    format!("must be a share within 0.5..=1 (e.g. 0.995), got {got}")
                );
            }
            assert_eq!(
                keys::PREWARM_TARGET.kind.bounds(),
                Some((0.5, 1.0, "a share within 0.5..=1 (e.g. 0.995)"))
            );
        }

        #[test]
        fn prediction_keys_need_predict() {
            for v in [
                serde_json::json!({"idle_after_s": 60, "history_days": 14}),
                serde_json::json!({"idle_after_s": 60, "prewarm_margin_s": 60}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "history_days": 0}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "history_days": 57}),
                serde_json::json!({"idle_after_s": 60, "predict": "yes"}),
                serde_json::json!({"idle_after_s": 60, "prewarm_lateness": 0.3}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_lateness": 1.5}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_lateness": -0.1}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_lateness": "late"}),
                serde_json::json!({"idle_after_s": 60, "prewarm_target": 0.99}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_target": 0.49}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_target": 1.01}),
                serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_target": 0.99, "prewarm_lateness": 0.3}),
            ] {
                assert!(
                    IdleSuspendConfig::parse(&Obj::new(&v).unwrap()).is_err(),
                    "{v}"
                );
            }
            let c = IdleSuspendConfig::parse(
                &Obj::new(
                    &serde_json::json!({"idle_after_s": 60, "predict": true, "history_days": 14}),
                )
                .unwrap(),
            )
            .unwrap();
            let p = c.predict.unwrap();
            assert_eq!(p.history_days, 14);
            assert_eq!(
                p.aim,
                predict::Aim::Target(0.995),
                "aims for 99.5 % of the statements by default"
            );
            let c = IdleSuspendConfig::parse(
                &Obj::new(&serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_lateness": 0.25}))
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(c.predict.unwrap().aim, predict::Aim::Lateness(0.25));
            let c = IdleSuspendConfig::parse(
                &Obj::new(&serde_json::json!({"idle_after_s": 60, "predict": true, "prewarm_target": 0.98}))
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(c.predict.unwrap().aim, predict::Aim::Target(0.98));
            let _ = Duration::zero();
        }
    }
}
