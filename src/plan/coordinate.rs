//! One cluster's round: its validated strategies run in priority order,
//! each seeing what the previous ones decided and keeping its own state
//! slot; then the rules are enforced and the result diffed into actions.
//! Strategies declare what they own and whether they choose the size; the
//! coordinator never names a strategy.

use chrono::{DateTime, Utc};

use super::rows::{Finding, Validated};
use super::{
    diff, rolled_back, rules, Action, ActionKind, ClusterPlan, Outcome, PlanOptions, ReplicaSignal,
    Signals,
};
use crate::model::{Cluster, Replica, Snapshot};
use crate::strategy::{Ctx, Desired, Idle, StateSlot, StrategyConfig};

/// State slot the coordinator keeps for itself (not a strategy).
pub const CONTROLLER_SLOT: &str = "_controller";

/// Why the plan leaves a cluster before any of its strategies runs, if it
/// does: a pause in force, a row in error, or a rule that makes it
/// unmanageable. The one place for it: the plan stops here, and the
/// snapshot reads the audit trail for no cluster left so
/// ([`super::reads_the_trail_for`]).
pub(super) fn left_alone(snap: &Snapshot, cluster: &Cluster, rows: &Validated) -> Option<Outcome> {
    if let Some(p) = rows.paused.as_ref().filter(|p| p.in_force(snap.now)) {
        return Some(Outcome::Paused {
            reason: p.reason.clone(),
            until: p.until,
        });
    }
    if !rows.is_valid() {
        return Some(Outcome::Invalid {
            errors: rows.errors().map(Finding::describe).collect(),
        });
    }
    rules::unmanageable(snap, cluster).map(|reason| Outcome::Unmanageable { reason })
}

/// The valid `idle_suspend` row of a cluster that runs no replica while
/// statements wait on it: the one strategy that runs when the others'
/// rows are invalid (its wake; nothing else the others would decide).
fn wake_despite(cluster: &Cluster, configs: &[StrategyConfig]) -> Option<StrategyConfig> {
    if !cluster.replicas.is_empty() || cluster.activity.in_flight == 0 {
        return None;
    }
    configs
        .iter()
        .find(|c| matches!(c, StrategyConfig::IdleSuspend(_)))
        .cloned()
}

pub(super) fn plan_cluster(
    snap: &Snapshot,
    opts: &PlanOptions,
    cluster: &Cluster,
    rows: Validated,
    observed_rows: crate::model::RowsSeen,
) -> ClusterPlan {
    let null = serde_json::Value::Null;
    let state = snap.states.get(&cluster.id).unwrap_or(&null);
    let (idle, idle_since_seen) = idle_of(snap, cluster, state);
    let mut cp = ClusterPlan {
        cluster_id: cluster.id.clone(),
        cluster: cluster.name.clone(),
        strategies: rows.kinds.clone(),
        outcome: Outcome::Planned,
        actions: Vec::new(),
        suspending: false,
        notes: Vec::new(),
        alerts: Vec::new(),
        signals: signals_of(snap, cluster, idle),
        observed: cluster
            .replicas
            .iter()
            .map(crate::model::Seen::of)
            .collect(),
        observed_rows,
        observed_activity: None,
        new_state: None,
        state_before: None,
        waiting: Vec::new(),
        next_decision_at: None,
        prediction: None,
        in_doubt: None,
        held_empty: None,
        rolled_back: None,
        activity_sensitive: false,
        invalid_rows: false,
    };
    let left = left_alone(snap, cluster, &rows);
    if !matches!(left, Some(Outcome::Paused { .. })) {
        if let Some(p) = &rows.paused {
            cp.notes.push(format!(
                "the pause expired at {}; `{}` removes its row",
                p.until.map(|t| t.to_rfc3339()).unwrap_or_default(),
                crate::model::resume_command(
                    snap.env.schema.as_deref(),
                    crate::model::command_arg(&cluster.name, &cluster.id)
                )
            ));
        }
        cp.notes.extend(
            rows.findings
                .iter()
                .filter(|f| !f.is_error())
                .map(Finding::describe),
        );
    }
    let mut configs = rows.configs;
    match (left, wake_despite(cluster, &configs)) {
        // Users wait on a suspended cluster whose other rows no longer
        // validate (an admin narrowed the allowed sizes below a `burst`
        // row's): its wake runs alone, said (the whole cluster was
        // skipped, and stayed empty under its users: an outside check).
        (Some(Outcome::Invalid { errors }), Some(wake)) => {
            cp.alerts.push(format!(
                "strategy rows invalid: {}; users wait on this suspended cluster, so \
                 idle_suspend wakes it alone; the other rows are skipped until fixed",
                errors.join("; ")
            ));
            configs = vec![wake];
            cp.invalid_rows = true;
        }
        (Some(outcome), _) => {
            cp.outcome = outcome;
            return cp;
        }
        (None, _) => {}
    }

    // The demand profile, learned once per plan for the strategies that
    // predict, from the weeks of history read (empty when the log has no
    // rows there). Not only while the last day has rows: after a quiet
    // weekend with no statement anywhere, Monday's wake was skipped
    // without a word (an outside check).
    let learned;
    let profile = match configs
        .iter()
        .filter_map(StrategyConfig::history_days)
        .max()
        .zip(snap.demand.as_ref())
    {
        Some((days, log)) => match log.profiles.get(&cluster.id).filter(|(d, _)| *d == days) {
            Some((_, p)) => Some(p),
            None => {
                learned = crate::strategy::predict::profile_of(log, &cluster.id, days);
                Some(&learned)
            }
        },
        None => None,
    };
    let ctx = Ctx {
        cluster,
        sizes: &snap.sizes,
        now: snap.now,
        idle,
        sample_rate: snap.env.settings.sample_rate(),
        profile,
        interval_s: opts.interval_s(Some(state)),
        prepared: Default::default(),
        idle_since_seen,
        last_suspension: snap.suspensions.get(&cluster.id),
        trail_read: snap.suspensions_read,
        replica_limit: snap.env.settings.max_replicas_per_cluster,
        burst: crate::strategy::burst_replica(cluster, Some(state)),
        late_drops: super::doubt::sent_drops(snap, &cluster.id),
        schema: snap.env.schema.as_deref(),
        size_chosen: configs.iter().any(|c| c.kind().chooses_size()),
    };
    let mut desired = Desired::from_cluster(cluster);
    let mut slots: Vec<StateSlot> = configs
        .iter()
        .map(|cfg| StateSlot::new(state.get(cfg.kind().as_str())))
        .collect();
    for (cfg, slot) in configs.iter().zip(&mut slots) {
        cfg.prepare(&ctx, &mut desired, slot);
    }
    for (cfg, slot) in configs.iter().zip(&mut slots) {
        let hidden = hide_owned_replicas(&configs, cfg, &ctx, &mut desired);
        cfg.decide(&ctx, &mut desired, slot);
        for (name, replica) in hidden {
            match &desired.suspending {
                // A suspension empties the cluster, owned replicas included.
                Some(change) => {
                    desired.removed.insert(name, change.clone());
                }
                None => {
                    desired.replicas.entry(name).or_insert(replica);
                }
            }
        }
    }
    discard_moot_decisions(cluster, &desired, &configs, &mut slots);
    rules::enforce_invariants(cluster, &snap.sizes, &mut desired);
    rules::enforce_replica_limit(
        cluster,
        &snap.sizes,
        snap.env.settings.max_replicas_per_cluster,
        snap.now,
        &mut desired,
    );
    cp.suspending = desired.suspending.is_some();
    cp.held_empty = desired
        .held_empty
        .as_ref()
        .map(|c| Box::new(format!("{}: {}", c.strategy, c.reason)));
    if cp.suspending && !matches!(idle, Idle::Unknown) {
        cp.observed_activity = Some(Box::new(cluster.activity.clone()));
    }
    cp.notes.append(&mut desired.notes);
    cp.waiting = waiting_of(cluster, &desired, snap.now);
    cp.alerts.append(&mut desired.alerts);
    let strategies_alerted = !cp.alerts.is_empty();
    let (actions, moot, resized) = if cluster.managed {
        managed_actions(snap, opts, cluster, state, &configs, &desired, &mut cp)
    } else {
        (
            diff::diff(cluster, &desired, &mut cp.notes),
            false,
            Resized::default(),
        )
    };
    cp.actions = actions;
    if !strategies_alerted {
        cp.alerts.extend(nothing_serves_a_loop(
            cluster,
            &desired,
            &cp.actions,
            &snap.sizes,
            snap.now,
        ));
    }
    // Work a strategy held back that a later one does now (a lingering
    // burst replica a suspension drops) is not also waiting: the plan
    // said both "drop nb-burst" and "waiting: drop nb-burst in 1h25m".
    // Both are worded by one rule (`Action::held`).
    let done: Vec<String> = cp.actions.iter().map(crate::plan::Action::held).collect();
    cp.waiting.retain(|d| !done.contains(&d.action));
    let created: Vec<&str> = cp
        .actions
        .iter()
        .filter(|a| a.kind == crate::plan::ActionKind::CreateReplica)
        .map(|a| a.replica.as_str())
        .collect();
    for (cfg, slot) in configs.iter().zip(&mut slots) {
        cfg.planned(slot, &created);
    }
    if moot {
        // Nothing the strategies decided reaches the catalog: their state
        // stays as stored (a suspension held back by a resize in flight
        // was remembered, and a wake that could not happen was recorded
        // as done, so the cluster never woke).
        for slot in &mut slots {
            slot.restore();
        }
    }
    // Work held back for a known time (a stabilization's drop "in 1s", a
    // burst's linger) is a decision due by the clock too: a watcher woke
    // a whole interval later (an outside check).
    cp.next_decision_at = next_decision(&ctx, &configs, &mut slots)
        .into_iter()
        .chain(waits_end(&cp.waiting, snap.now))
        .min();
    if opts.explain {
        cp.prediction = configs
            .iter()
            .zip(&mut slots)
            .find_map(|(cfg, slot)| cfg.prediction(&ctx, slot).map(Box::new));
    }
    cp.activity_sensitive = configs
        .iter()
        .zip(&mut slots)
        .any(|(cfg, slot)| cfg.activity_sensitive(&ctx, slot));
    if opts.new_state {
        // Only some strategies ran (the wake despite invalid rows): the
        // others' state slots are kept as stored, not dropped as
        // unconfigured.
        cp.new_state =
            new_state(state, &configs, &slots, snap.now, &resized, cp.invalid_rows).map(Box::new);
        if cp.state_goes_first() {
            cp.state_before = Some(Box::new(state.clone()));
        }
    }
    cp
}

/// The earliest instant a strategy's decision changes by the clock alone
/// (a schedule window, a prewarm), judged with the state this plan leaves.
fn next_decision(
    ctx: &Ctx,
    configs: &[StrategyConfig],
    slots: &mut [StateSlot],
) -> Option<DateTime<Utc>> {
    configs
        .iter()
        .zip(slots)
        .filter_map(|(cfg, slot)| cfg.next_clock_change(ctx, slot))
        .filter(|t| *t > ctx.now)
        .min()
}

/// When the first wait listed with its time ends; one due already (0 s
/// left) is no decision ahead (the watcher would wake at once, again and
/// again, for it).
fn waits_end(waiting: &[crate::strategy::Deferred], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    waiting
        .iter()
        .filter_map(|d| d.in_seconds.filter(|s| *s > 0))
        .map(|s| now + chrono::Duration::seconds(s as i64))
        .min()
}

/// What a replica that is not hydrated is doing: hydrating (for how long),
/// or offline, which is no hydration (`status` said "hydrating" of a
/// replica whose process was down: an outside check).
fn doing(r: &Replica, now: DateTime<Utc>) -> String {
    match r.offline {
        true => "is offline (it hydrates once it is back online)".to_string(),
        false => format!("is hydrating{}", hydrating_for(r, now)),
    }
}

/// Pending work: what strategies held back, then every replica the
/// cluster keeps that is still hydrating (a resize waits for it), but one
/// kept only until another size replaces it.
fn waiting_of(
    cluster: &Cluster,
    desired: &Desired,
    now: DateTime<Utc>,
) -> Vec<crate::strategy::Deferred> {
    let mut out = desired.deferred.clone();
    if desired.suspending.is_some() {
        return out;
    }
    for r in cluster.replicas.iter().filter(|r| !r.hydrated) {
        if !desired.replicas.contains_key(&r.name) || desired.outgoing.contains(&r.name) {
            continue;
        }
        // Nor one whose drop is only held back (a burst lingering or
        // stabilizing): nothing waits for it ("r_25cc keeps serving until
        // it is" said it backwards).
        let leaving = crate::strategy::ReplicaStep::Drop.of(&r.name, r.size.as_ref());
        if out.iter().any(|d| d.action == leaving) {
            continue;
        }
        let size = r.size.as_ref().map(|s| s.0.as_str()).unwrap_or("?");
        // Only those the plan keeps (not a burst given up on this round).
        let serving: Vec<&str> = cluster
            .replicas
            .iter()
            .filter(|o| o.hydrated && o.name != r.name && desired.replicas.contains_key(&o.name))
            .map(|o| o.name.as_str())
            .collect();
        let keep = if serving.len() == 1 { "keeps" } else { "keep" };
        out.push(crate::strategy::Deferred {
            strategy: None,
            action: format!("hydrate {}", r.name),
            reason: match (r.crash_looping(now), serving.is_empty()) {
                (true, true) => looping(r, size),
                (true, false) => format!(
                    "{}; {} {keep} serving meanwhile",
                    looping(r, size),
                    serving.join(", ")
                ),
                (false, true) => format!("{} ({size}) {}{}", r.name, doing(r, now), crashed(r)),
                (false, false) => format!(
                    "{} ({size}) {}{}; {} {keep} serving until it is",
                    r.name,
                    doing(r, now),
                    crashed(r),
                    serving.join(", ")
                ),
            },
            in_seconds: None,
            limit: false,
            refused: false,
        });
    }
    out
}

/// A replica the plan keeps that crash-loops while no other serves: users
/// wait until an operator acts (it was only "waiting: hydrate r1", exit 0,
/// nothing on stderr: an outside check). Said once a strategy has not
/// said it already (`shrink_to_fit` and `burst` have their own).
fn nothing_serves_a_loop(
    cluster: &Cluster,
    desired: &Desired,
    actions: &[Action],
    sizes: &crate::model::SizeCatalog,
    now: DateTime<Utc>,
) -> Option<String> {
    if desired.suspending.is_some()
        || cluster
            .replicas
            .iter()
            .any(|r| r.hydrated && desired.replicas.contains_key(&r.name))
    {
        return None;
    }
    let r = cluster
        .replicas
        .iter()
        .find(|r| desired.replicas.contains_key(&r.name) && r.crash_looping(now))?;
    let size = r.size.as_ref().map_or("?", |s| s.0.as_str());
    // A larger size the plan keeps or makes is on its way: no advice to
    // raise what was raised (it told to, while the raise hydrated: an
    // outside check).
    // Only one that runs or that this plan makes: a managed cluster's
    // resize held back (no graceful resize on its release) was said to be
    // on its way, under a replica name it would never have (an outside
    // check).
    let coming = |name: &str, size: &crate::model::Size| {
        cluster.replica(name).is_some()
            // A managed cluster's resize in flight: the new size's
            // replicas run under Materialize's names.
            || cluster
                .replicas
                .iter()
                .any(|o| o.name != r.name && o.size.as_ref() == Some(size))
            || actions.iter().any(|a| match a.kind {
                ActionKind::CreateReplica => a.replica == name,
                ActionKind::SetSize => a.size.as_ref() == Some(size),
                _ => false,
            })
    };
    let larger = |d: &&crate::strategy::DesiredReplica| {
        r.size.as_ref().is_some_and(|s| sizes.above(&d.size, s))
    };
    let wanted = desired
        .replicas
        .iter()
        .filter(|(name, _)| name.as_str() != r.name)
        .find(|(_, d)| larger(d));
    let raised = desired
        .replicas
        .iter()
        .filter(|(name, _)| name.as_str() != r.name)
        .filter(|(name, d)| coming(name, &d.size))
        .find(|(_, d)| larger(d));
    // A managed cluster's replicas are named by Materialize: its resize is
    // said by its size.
    let raised = raised.map(|(name, d)| match cluster.managed {
        true => (format!("a {} replica", d.size), d),
        false => (name.clone(), d),
    });
    let fix = match (raised, r.crash.ooms > 0) {
        (Some((name, d)), _) if cluster.managed => {
            format!(
                "{name} is on its way (the resize to {}) and serves once it is hydrated",
                d.size
            )
        }
        (Some((name, d)), _) => format!(
            "{name} ({}) is on its way and serves once it is hydrated",
            d.size
        ),
        // Asked for, and held back (the warnings say why).
        (None, _) if wanted.is_some() => format!(
            "{} is what its strategies ask for, but this plan cannot make it now (the \
             cluster's warnings say why)",
            wanted.map_or(String::new(), |(_, d)| d.size.0.clone())
        ),
        // The burst's own size is burst_replica_size (the advice named
        // target_size and schedule, which the cluster may not have: an
        // outside check).
        (None, true) if crate::strategy::burst_names(&cluster.name).contains(&r.name) => {
            format!(
                "{size} is probably too small for this cluster's workload: raise \
                 burst_replica_size"
            )
        }
        (None, true) => format!(
            "{size} is probably too small for this cluster's workload: raise the size its \
             strategy asks for (target_size, schedule), or let shrink_to_fit choose it"
        ),
        (None, false) => {
            "look at the replica's status history (mz_cluster_replica_status_history) for \
                  why it crashes"
                .to_string()
        }
    };
    Some(format!(
        "{}; no other replica serves, so the cluster's users wait: {fix}",
        looping(r, size)
    ))
}

/// How long a replica not hydrated has been so, when a minute or more: since
/// it was made or last went down, as far as the status history tells (a
/// replica hydrating for two hours read as one made a second ago: an
/// outside check).
fn hydrating_for(r: &Replica, now: DateTime<Utc>) -> String {
    let Some(up) = r.since.max(r.crash.last_offline) else {
        return String::new();
    };
    // A crash since says when itself ([`crashed`]).
    if r.crash.last_crash.is_some_and(|c| c >= up) {
        return String::new();
    }
    let secs = (now - up).num_seconds();
    match secs >= 60 {
        true => format!(" for {}", crate::model::human_duration(secs.unsigned_abs())),
        false => String::new(),
    }
}

/// A crash in the window, said with "hydrating": alone, that hid an OOM
/// that just took the replica that was to serve.
fn crashed(r: &Replica) -> String {
    match (r.crash.last_crash, r.crash.ooms > 0) {
        (Some(at), true) => format!(" (OOM-killed at {})", at.format("%H:%M:%SZ")),
        (Some(at), false) => format!(" (crashed at {})", at.format("%H:%M:%SZ")),
        (None, _) => String::new(),
    }
}

/// A replica crash looping ([`Replica::crash_looping`]) is not hydrating: its
/// orchestrator restarts it and it is killed again before it hydrates, so
/// "hydrating", and another replica serving "until it is", promised what
/// does not come.
fn looping(r: &Replica, size: &str) -> String {
    let what = if r.crash.ooms == r.crash.crashes {
        "OOM kills"
    } else {
        "crashes"
    };
    let last = r.crash.last_crash.map_or(String::new(), |at| {
        format!(", the last at {}", at.format("%H:%M:%SZ"))
    });
    format!(
        "{} ({size}) is crash looping, not hydrating: {} {what} in the crash window{last}",
        r.name, r.crash.crashes
    )
}

/// A managed cluster's actions: none while a reconfiguration is in flight
/// (Materialize would refuse a replication-factor change and fold a second
/// resize into the first), else the diff in the form the release supports
/// (a resize that did not take is held back for a while,
/// [`rolled_back`]); whether the strategies' decisions are moot (held back
/// or refused); and the controller's records of the last resize
/// ([`Resized`]).
fn managed_actions(
    snap: &Snapshot,
    opts: &PlanOptions,
    cluster: &Cluster,
    state: &serde_json::Value,
    configs: &[StrategyConfig],
    desired: &Desired,
    cp: &mut ClusterPlan,
) -> (Vec<crate::plan::Action>, bool, Resized) {
    if let Some(waiting) = rules::reconfiguration_in_flight(cluster) {
        cp.waiting.push(crate::strategy::Deferred {
            strategy: None,
            action: "resize".into(),
            reason: waiting.clone(),
            in_seconds: None,
            limit: false,
            refused: false,
        });
        // A suspension the strategies want waits for it too (a
        // replication-factor change is refused meanwhile): said, or the
        // plan showed a resize waiting and nothing of the suspension, the
        // old and new replicas running up to Materialize's deadline (an
        // outside check).
        if let Some(s) = desired
            .suspending
            .as_ref()
            .filter(|_| cluster.replication_factor != Some(0))
        {
            cp.waiting.push(crate::strategy::Deferred {
                strategy: Some(s.strategy),
                action: "suspend".into(),
                reason: format!(
                    "{}; waits for the resize in flight (Materialize refuses a replication-factor \
                     change until it cut over or rolled back)",
                    s.reason
                ),
                in_seconds: None,
                limit: false,
                refused: false,
            });
        }
        cp.notes.push(waiting);
        let kept = Resized {
            not_taken: rolled_back::kept(state),
            took: rolled_back::took_kept(state),
        };
        return (Vec::new(), true, kept);
    }
    let m = diff::ManagedCtx {
        opts,
        form: rules::resize_form(&snap.env),
        refused: rules::graceful_refused(&snap.env),
        allow_downtime: configs.iter().any(StrategyConfig::allows_downtime),
    };
    let mut said = diff::Said::default();
    let mut actions = diff::diff_managed(cluster, desired, &m, &mut said);
    cp.notes.append(&mut said.notes);
    cp.alerts.append(&mut said.alerts);
    cp.waiting.append(&mut said.held);
    let Some(last) = rolled_back::not_taken(snap, cluster, state) else {
        let took = Resized {
            not_taken: None,
            took: rolled_back::took_record(snap, cluster, state),
        };
        return (actions, said.refused, took);
    };
    let seen = rolled_back::seen(state, last, snap.now);
    let asked = configs
        .iter()
        .any(|c| matches!(c, StrategyConfig::TargetSize(t) if t.target_size == last.size));
    let not_taken = rolled_back::NotTaken { last, seen, asked };
    let held = rolled_back::judge(snap, opts, cluster, not_taken, &mut actions, cp);
    let not_taken = Resized {
        not_taken: Some(rolled_back::record(last, seen)),
        took: None,
    };
    (actions, said.refused || held, not_taken)
}

/// The controller's records of a managed cluster's last resize, for its
/// state slot: that it did not take ([`rolled_back::STATE_KEY`]), or that
/// a plan saw it take ([`rolled_back::TOOK_KEY`]).
#[derive(Debug, Default)]
struct Resized {
    not_taken: Option<serde_json::Value>,
    took: Option<serde_json::Value>,
}

/// A strategy that chooses the size does not see the replicas other
/// strategies own (the burst replica): it would otherwise retire them as
/// "another size" before their owner is done. They are taken out of the
/// desired set for its turn and returned.
fn hide_owned_replicas(
    configs: &[StrategyConfig],
    cfg: &StrategyConfig,
    ctx: &Ctx,
    desired: &mut Desired,
) -> Vec<(String, crate::strategy::DesiredReplica)> {
    if !cfg.kind().chooses_size() {
        return Vec::new();
    }
    configs
        .iter()
        .filter(|other| other.kind() != cfg.kind())
        .filter_map(|other| other.owned_replica(ctx))
        .filter_map(|name| desired.replicas.remove_entry(name))
        .collect()
}

/// While a cluster is suspended and stays suspended, the other strategies'
/// decisions (re-adding replicas the suspension removes again) never reach
/// the catalog: keep their previous state, so nothing is rewritten every
/// round and no cooldown starts from a decision that never happened.
fn discard_moot_decisions(
    cluster: &Cluster,
    desired: &Desired,
    configs: &[StrategyConfig],
    slots: &mut [StateSlot],
) {
    let Some(suspender) = &desired.suspending else {
        return;
    };
    if !cluster.replicas.is_empty() {
        return;
    }
    for (cfg, slot) in configs.iter().zip(slots) {
        if cfg.kind() != suspender.strategy {
            slot.restore();
        }
    }
}

/// How long the cluster has been idle: from the last statement begin or
/// end ([`crate::model::Activity::last_used`], else the statement
/// history's: [`Snapshot::last_statement`]); when
/// logging works but never saw this cluster, from when the controller first
/// saw it (a full grace period: that moment is returned too, for the plan to
/// say so); unknown when the log has no data at all.
pub(super) fn idle_of(
    snap: &Snapshot,
    cluster: &Cluster,
    state: &serde_json::Value,
) -> (Idle, Option<DateTime<Utc>>) {
    if cluster.activity.in_flight > 0 {
        return (Idle::Busy, None);
    }
    let secs = |t: DateTime<Utc>| ((snap.now - t).num_milliseconds() as f64 / 1000.0).max(0.0);
    if let Some(t) = cluster.activity.last_used() {
        return (Idle::For(secs(t)), None);
    }
    if !snap.activity_log_has_rows {
        return (Idle::Unknown, None);
    }
    // Silent for longer than the lookback, with a statement in the
    // history: silent since then, or since a replica it still runs began
    // (a silence from before it proves nothing).
    // The replica's start is returned when it bounds the silence, for the
    // plan to say why a cluster silent for days is kept.
    if let Some(last) = snap.last_statement(cluster) {
        return match cluster.oldest_replica_since() {
            Some(replica) if replica > last => (Idle::For(secs(replica)), Some(replica)),
            _ => (Idle::For(secs(last)), None),
        };
    }
    let from = silent_since(snap, cluster, first_seen(state).unwrap_or(snap.now));
    (Idle::For(secs(from)), Some(from))
}

/// When the idle time of a cluster the statement log does not mention
/// counts from: the controller's first sight of it (`first_seen`), or
/// earlier where the log proves the silence. It does from its oldest
/// statement read (within the lookback) for as long as a replica the
/// cluster still runs existed (its `since`): a silence from before either
/// (a replica just created, a log just enabled) proves nothing. A cluster
/// with no replica cannot have served a statement since the log's oldest
/// one (or its silence would name it): it is silent since then, so a
/// cluster suspended by hand, or before a `wipe-state` or a migration the
/// trail does not show, is not woken for a grace period nobody asked for.
fn silent_since(snap: &Snapshot, cluster: &Cluster, first_seen: DateTime<Utc>) -> DateTime<Utc> {
    let Some(log) = snap.activity_log_since else {
        return first_seen;
    };
    if cluster.replicas.is_empty() {
        return first_seen.min(log);
    }
    match cluster.oldest_replica_since() {
        Some(replica) => first_seen.min(log.max(replica)),
        None => first_seen,
    }
}

/// When the controller first saw the cluster, from its own state slot.
pub fn first_seen(state: &serde_json::Value) -> Option<DateTime<Utc>> {
    crate::model::utc_time(state.get(CONTROLLER_SLOT)?.get("first_seen")?.as_str()?)
}

/// The next state, when it differs from the stored one: the controller
/// slot plus the slots of configured strategies (slots of strategies no
/// longer configured are dropped, unless `keep_others`: only some of the
/// cluster's strategies ran, the wake despite invalid rows), the stored
/// ones first. Built only when something changed: an unchanged state is
/// not copied.
fn new_state(
    old: &serde_json::Value,
    configs: &[StrategyConfig],
    slots: &[StateSlot],
    now: DateTime<Utc>,
    resized: &Resized,
    keep_others: bool,
) -> Option<serde_json::Value> {
    let first = first_seen(old).unwrap_or(now);
    let mut controller = serde_json::json!({ "first_seen": first.to_rfc3339() });
    if let Some(c) = controller.as_object_mut() {
        for (key, record) in [
            (rolled_back::STATE_KEY, &resized.not_taken),
            (rolled_back::TOOK_KEY, &resized.took),
        ] {
            if let Some(record) = record {
                c.insert(key.into(), record.clone());
            }
        }
    }
    let changed: Vec<Option<serde_json::Value>> =
        slots.iter().map(StateSlot::changed_json).collect();
    // Configured kinds are distinct (rows are one per type): the stored
    // state has the same slots when it has as many and each of them.
    let same_slots = old.as_object().is_some_and(|o| {
        (keep_others || o.len() == configs.len() + 1)
            && configs.iter().all(|c| o.contains_key(c.kind().as_str()))
    });
    let unchanged = same_slots
        && old.get(CONTROLLER_SLOT) == Some(&controller)
        && changed.iter().all(Option::is_none);
    if unchanged {
        return None;
    }
    let mut out = serde_json::Map::new();
    out.insert(CONTROLLER_SLOT.into(), controller);
    // Stored slots keep their place; new ones follow, in priority order.
    let stored = |cfg: &StrategyConfig| old.get(cfg.kind().as_str()).is_some();
    let mut all: Vec<_> = configs.iter().zip(slots).zip(changed).collect();
    // A stable sort: stored slots first, each group in priority order.
    all.sort_by_key(|((cfg, _), _)| !stored(cfg));
    for ((cfg, slot), changed) in all {
        out.insert(cfg.kind().as_str().to_string(), slot.json(changed));
    }
    if let (true, Some(stored)) = (keep_others, old.as_object()) {
        for (key, slot) in stored {
            out.entry(key.clone()).or_insert_with(|| slot.clone());
        }
    }
    Some(serde_json::Value::Object(out))
}

fn signals_of(snap: &Snapshot, cluster: &Cluster, idle: Idle) -> Signals {
    Signals {
        idle,
        last_activity: snap.last_statement(cluster),
        in_flight: cluster.activity.in_flight,
        replicas: cluster
            .replicas
            .iter()
            .map(|r| ReplicaSignal {
                name: r.name.clone(),
                size: r.size.clone(),
                hydrated: r.hydrated,
                crashes: r.crash.crashes,
                ooms: r.crash.ooms,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_wait_still_ahead_is_the_next_decision() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let wait = |in_seconds: Option<u64>| crate::strategy::Deferred {
            strategy: None,
            action: "drop r1".into(),
            reason: String::new(),
            in_seconds,
            limit: false,
            refused: false,
        };
        let waiting = [wait(Some(0)), wait(None), wait(Some(90)), wait(Some(30))];
        assert_eq!(
            waits_end(&waiting, now),
            Some(now + chrono::Duration::seconds(30))
        );
        assert_eq!(waits_end(&[wait(Some(0)), wait(None)], now), None);
    }
}
