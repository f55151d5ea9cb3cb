//! `status`: one row per cluster, with its replicas, what the controller
//! wants, its activity, the last action and a condition with a reason. Read
//! from one snapshot and the audit trail, computed by the pure planner;
//! writes nothing. Rendering is `render::status`. The condition is decided
//! here once; `describe` shows the same one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{CommandError, Context};
use crate::db::store::ActionResult;
use crate::model::{human_duration, Cluster, ClusterId, Snapshot};
use crate::plan::rows;
use crate::plan::rules;
use crate::plan::{
    self, ActionKind, ClusterPlan, Deferred, Outcome, PlanOptions, PlanState, Selection,
    CONTROLLER_SLOT,
};
use crate::strategy::{Idle, StrategyKind};

/// A cluster's condition, most urgent first when several apply (the
/// order of the variants, which `Ord` follows). Its names are `status`'s
/// CONDITION column and `--condition`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum Condition {
    Paused,
    Invalid,
    NotManageable,
    /// An interrupted run's statement may still be running on the server:
    /// the cluster is left alone until its deadline (`plan::doubt`).
    InDoubt,
    CrashLooping,
    /// The cluster's last resize did not take (Materialize rolled it back
    /// at its deadline) and the strategies want that size again: held back
    /// until a backoff is over, then sent once more (`plan::rolled_back`).
    ResizeRolledBack,
    /// A burst replica is being created, or runs until another hydrates.
    Bursting,
    /// The plan drops every replica (idle).
    Suspending,
    /// The plan brings replicas back to a suspended cluster.
    Resuming,
    /// Other changes are planned.
    Resizing,
    /// A change is held back, with the time left: by `stabilization`, or
    /// a retirement until the replica replacing it has served 10 minutes
    /// since a kill (`target_size`, `schedule`).
    Stabilizing,
    /// A change is held back by a limit (a `limits` row, or Materialize's
    /// `max_replicas_per_cluster`), with the reason: not converged.
    Limited,
    /// A replica is hydrating; what it replaces waits for it.
    Hydrating,
    /// Nothing planned or waiting, but the plan alerts: an operator must
    /// act (a replica named like the burst keeps bursts from starting, a
    /// burst gave up, no larger size is allowed). It said `Converged`
    /// where `dry-run` counted the cluster "with an alert" (an outside
    /// check).
    Attention,
    Suspended,
    SignalUnknown,
    Converged,
    /// A cluster without strategy rows (`--all`, or named with `--cluster`).
    Unconfigured,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    pub name: String,
    pub size: Option<String>,
    pub hydrated: bool,
    /// Offline now, not starting (`Replica::offline`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    pub crashes: u32,
    pub ooms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WantedReplica {
    pub name: String,
    pub size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityStatus {
    /// busy (statements running or waiting), idle, new (no statement seen:
    /// idle since the controller first saw it or, if earlier, the log's
    /// silence began while the cluster ran its replicas or had none, or
    /// from the next apply when neither), or unknown (the statement log has
    /// no data).
    pub state: &'static str,
    /// Seconds since the last statement began (new: counted as `state`
    /// says);
    /// null when busy or unknown, or new and neither.
    pub idle_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastAction {
    pub at: DateTime<Utc>,
    pub seconds_ago: u64,
    pub kind: Option<String>,
    pub replica: Option<String>,
    pub sql: String,
    /// null: the outcome was never recorded (the run was interrupted).
    pub executed: Option<bool>,
    /// As `history` tells it (a withdrawn action: `skipped`).
    pub result: ActionResult,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    pub cluster_id: ClusterId,
    pub cluster: String,
    pub condition: Condition,
    pub reason: String,
    pub strategies: Vec<String>,
    pub replicas: Vec<ReplicaStatus>,
    /// What the controller wants: live + creates − drops.
    pub desired: Vec<WantedReplica>,
    pub pending_actions: usize,
    pub activity: ActivityStatus,
    pub last_action: Option<LastAction>,
    /// Seconds since the controller last changed the cluster (its last
    /// action), null when it never did.
    pub age_seconds: Option<u64>,
    /// The plan's word for the cluster: converged, waiting, changes, …
    pub plan: Option<PlanState>,
    /// Pending work not due this round, with when it is due.
    pub waiting: Vec<Deferred>,
    /// The learned demand profile, one line (`idle_suspend` with `predict`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub now: DateTime<Utc>,
    pub clusters: Vec<ClusterStatus>,
    /// The activity signal: readable, sample rate, what it means.
    pub statement_log: rules::StatementLog,
    /// What the plan warns of besides the clusters shown: rows of no
    /// cluster (dropped), duplicate rows, the region's credit limit, as
    /// `dry-run` says them.
    pub warnings: Vec<String>,
    /// How many clusters are in each condition, of every cluster the
    /// selection lists (`--condition` filters `clusters` only): a fleet's
    /// totals at a glance.
    pub counts: BTreeMap<Condition, usize>,
    /// `clusters` lists only some conditions (`--condition`,
    /// `--not-condition`).
    #[serde(skip)]
    pub filtered: bool,
}

/// `status --condition`/`--not-condition`: the conditions it lists (all
/// when both are empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConditionFilter {
    pub only: Vec<Condition>,
    pub not: Vec<Condition>,
}

impl ConditionFilter {
    pub fn keeps(&self, c: Condition) -> bool {
        (self.only.is_empty() || self.only.contains(&c)) && !self.not.contains(&c)
    }

    pub fn is_all(&self) -> bool {
        self.only.is_empty() && self.not.is_empty()
    }
}

impl StatusReport {
    /// Keeps the clusters whose condition `filter` lists; the counts stay
    /// those of every cluster.
    pub fn keep(mut self, filter: &ConditionFilter) -> StatusReport {
        if !filter.is_all() {
            self.clusters.retain(|c| filter.keeps(c.condition));
            self.filtered = true;
        }
        self
    }

    /// `40 clusters: 35 Converged, 3 Suspended, 2 Hydrating.`, most urgent
    /// condition first.
    pub fn totals(&self) -> String {
        let total: usize = self.counts.values().sum();
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(c, n)| format!("{n} {c:?}"))
            .collect();
        format!(
            "{total} cluster{}: {}.",
            crate::model::plural(total),
            parts.join(", ")
        )
    }
}

/// One row per cluster that has strategies (every user cluster with `all`).
/// Pure: the snapshot, its plan, and the last actions.
pub fn status_of(
    snap: &Snapshot,
    selection: &Selection,
    all: bool,
    last: &BTreeMap<ClusterId, LastAction>,
) -> StatusReport {
    let plan = plan::plan(
        snap,
        &PlanOptions {
            selection: selection.clone(),
            ..PlanOptions::default()
        },
    );
    let in_effect = rows::in_effect(&snap.strategies);
    // Each cluster's plan by id, not a scan per cluster (quadratic in a
    // large fleet).
    let planned: std::collections::HashMap<&ClusterId, &ClusterPlan> =
        plan.clusters.iter().map(|p| (&p.cluster_id, p)).collect();
    let mut clusters = Vec::new();
    let selection_in = selection.in_snapshot(snap);
    for cluster in &snap.clusters {
        if !selection_in.matches(cluster) {
            continue;
        }
        let cp = planned.get(&cluster.id).copied();
        // A cluster named on the command line is shown even without rows.
        let named = !selection.names.is_empty();
        if cp.is_none() && (!(all || named) || cluster.is_system()) {
            continue;
        }
        let mut strategies: Vec<String> = in_effect
            .get(&cluster.id)
            .map(|rows| rows.iter().map(|r| r.row.strategy_type.clone()).collect())
            .unwrap_or_default();
        strategies.sort_by_key(|t| StrategyKind::parse(t).map_or(u8::MAX, |k| k.priority()));
        let (condition, reason) = condition(snap, cluster, cp);
        clusters.push(ClusterStatus {
            cluster_id: cluster.id.clone(),
            cluster: cluster.name.clone(),
            condition,
            reason,
            strategies,
            replicas: cluster
                .replicas
                .iter()
                .map(|r| ReplicaStatus {
                    name: r.name.clone(),
                    size: r.size.as_ref().map(|s| s.0.clone()),
                    hydrated: r.hydrated,
                    offline: r.offline,
                    crashes: r.crash.crashes,
                    ooms: r.crash.ooms,
                })
                .collect(),
            desired: desired_of(cluster, cp),
            pending_actions: cp.map_or(0, |p| p.actions.len()),
            activity: activity_of(snap, cluster, cp),
            last_action: last.get(&cluster.id).cloned(),
            age_seconds: last.get(&cluster.id).map(|a| a.seconds_ago),
            plan: cp.map(ClusterPlan::state),
            waiting: cp.map(|p| p.waiting.clone()).unwrap_or_default(),
            predicted: cp.and_then(|p| p.prediction.as_ref()).map(|p| p.summary()),
        });
    }
    clusters.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    let mut counts = BTreeMap::new();
    for c in &clusters {
        *counts.entry(c.condition).or_insert(0) += 1;
    }
    let shown: std::collections::HashSet<&ClusterId> =
        clusters.iter().map(|c| &c.cluster_id).collect();
    let statement_log = rules::statement_log(snap, |id| shown.contains(id));
    StatusReport {
        now: snap.now,
        clusters,
        // The statement log's problem is its note already.
        warnings: plan
            .warnings
            .iter()
            .filter(|w| {
                statement_log
                    .note
                    .as_ref()
                    .is_none_or(|n| !w.starts_with(n.as_str()))
            })
            .cloned()
            .collect(),
        statement_log,
        counts,
        filtered: false,
    }
}

pub fn desired_of(cluster: &Cluster, cp: Option<&ClusterPlan>) -> Vec<WantedReplica> {
    let mut want = in_flight_target(cluster).unwrap_or_else(|| {
        cluster
            .replicas
            .iter()
            .map(|r| (r.name.clone(), r.size.as_ref().map(|s| s.0.clone())))
            .collect()
    });
    // A managed cluster's size as the plan leaves it: a wake at a new size
    // is a resize then a replication factor, whose replicas have the new
    // size (they showed the old one).
    let mut size = cluster.size.as_ref().map(|s| s.0.clone());
    for a in cp.map(|p| p.actions.as_slice()).unwrap_or_default() {
        match a.kind {
            ActionKind::CreateReplica => {
                want.insert(a.replica.clone(), a.size.as_ref().map(|s| s.0.clone()));
            }
            ActionKind::DropReplica => {
                want.remove(&a.replica);
            }
            ActionKind::SetSize => {
                size = a.size.as_ref().map(|s| s.0.clone());
                for v in want.values_mut() {
                    *v = size.clone();
                }
            }
            ActionKind::SetReplicationFactor => {
                let n = a.replication_factor.unwrap_or_default().max(0) as usize;
                want = (1..=n).map(|i| (format!("r{i}"), size.clone())).collect();
            }
        }
    }
    want.into_iter()
        .map(|(name, size)| WantedReplica { name, size })
        .collect()
}

/// A managed cluster's resize in flight ([`rules::replicas_cutting_over`]):
/// what it ends with, the new replicas under the names they keep once
/// Materialize cuts over (`r1-pending` becomes `r1`); the live set shows
/// both sizes meanwhile, and the plan holds every change back.
fn in_flight_target(cluster: &Cluster) -> Option<BTreeMap<String, Option<String>>> {
    let new: BTreeMap<String, Option<String>> = rules::replicas_cutting_over(cluster)
        .map(|r| {
            let name = r.name.strip_suffix("-pending").unwrap_or(&r.name);
            (name.to_string(), r.size.as_ref().map(|s| s.0.clone()))
        })
        .collect();
    (!new.is_empty()).then_some(new)
}

pub fn activity_of(snap: &Snapshot, cluster: &Cluster, cp: Option<&ClusterPlan>) -> ActivityStatus {
    let idle = match cp {
        Some(p) => p.signals.idle,
        None if cluster.activity.in_flight > 0 => Idle::Busy,
        None => match snap.last_statement(cluster) {
            Some(t) => Idle::For(((snap.now - t).num_milliseconds() as f64 / 1000.0).max(0.0)),
            None => Idle::Unknown,
        },
    };
    // No statement seen in a log that cannot be trusted (unreadable, or
    // sampled at 0): unknown, as the plan's note says, not "new" (an
    // outside check).
    let unseen = snap.last_statement(cluster).is_none();
    if unseen && !matches!(idle, Idle::Busy) && rules::activity_unknown(snap).is_some() {
        return ActivityStatus {
            state: "unknown",
            idle_seconds: None,
        };
    }
    match idle {
        Idle::Busy => ActivityStatus {
            state: "busy",
            idle_seconds: None,
        },
        // No statement seen: new whether or not the controller saw it
        // (`status` and `describe` say so before and after the first
        // apply); its grace period runs from when it first did, or from
        // a replica's start the log's silence covers (`idle_of`).
        Idle::For(s) if unseen => ActivityStatus {
            state: "new",
            idle_seconds: (seen_before(snap, cluster) || s >= 1.0).then_some(s.max(0.0) as u64),
        },
        Idle::For(s) => ActivityStatus {
            state: "idle",
            idle_seconds: Some(s.max(0.0) as u64),
        },
        Idle::Unknown => ActivityStatus {
            state: "unknown",
            idle_seconds: None,
        },
    }
}

/// Whether the controller has recorded this cluster before (its
/// `first_seen`, the start of a never-queried cluster's grace period).
fn seen_before(snap: &Snapshot, cluster: &Cluster) -> bool {
    snap.states
        .get(&cluster.id)
        .and_then(|s| s.get(CONTROLLER_SLOT))
        .is_some()
}

/// When a deferred change is due, for a reason: `in 4m`, or nothing.
pub fn due(d: &Deferred) -> String {
    match d.in_seconds {
        Some(0) => " (due now)".into(),
        Some(s) => format!(" in {}", human_duration(s)),
        None => String::new(),
    }
}

/// `drop r1 in 4m (stabilization: burst: r2 is hydrated)`.
pub fn deferred_text(d: &Deferred) -> String {
    match d.strategy {
        Some(k) => format!("{}{} ({k}: {})", d.action, due(d), d.reason),
        None => format!("{}{}: {}", d.action, due(d), d.reason),
    }
}

/// The condition and its reason; see `Condition` for the precedence. A
/// statement planned again that the server refused last time (the
/// snapshot's refusals, `plan::refused`) is said first, with when and the
/// error: a DDL refused every run showed as a plain `Resizing`, and put
/// last, an 80-column table cut it off (outside checks). `status` and
/// `describe` both say it by this rule (`describe` did not).
pub fn condition(
    snap: &Snapshot,
    cluster: &Cluster,
    cp: Option<&ClusterPlan>,
) -> (Condition, String) {
    let (condition, reason) = condition_of(snap, cluster, cp);
    // The plan's first alert, said after what ranks above `Attention`
    // (waiting work, planned actions, a crash loop): a cluster with both
    // read `Hydrating` or `Resuming` with no word of the alert its plan
    // gave (an outside check). A rolled-back resize's reason is its alert.
    let alert = cp
        .and_then(|p| p.alerts.first())
        .filter(|_| {
            !matches!(
                condition,
                Condition::Attention | Condition::ResizeRolledBack
            )
        })
        .filter(|a| !reason.contains(a.as_str()));
    let reason = match alert {
        Some(a) => format!("{reason}; alert: {a}"),
        None => reason,
    };
    let refused = snap
        .refusals
        .get(&cluster.id)
        .into_iter()
        .flatten()
        .filter(|r| cp.is_some_and(|p| p.actions.iter().any(|a| a.refused_as() == r.action)))
        .max_by_key(|r| r.last_at);
    match refused {
        Some(r) => {
            let ago = (snap.now - r.last_at).num_seconds().max(0) as u64;
            let times = match r.count {
                1 => String::new(),
                n => format!(" ({n} times in a row)"),
            };
            let reason = format!(
                "its last attempt failed {} ago{times}: {}; {reason}",
                human_duration(ago),
                r.error.as_deref().unwrap_or("no error recorded")
            );
            (condition, reason)
        }
        None => (condition, reason),
    }
}

fn condition_of(
    snap: &Snapshot,
    cluster: &Cluster,
    cp: Option<&ClusterPlan>,
) -> (Condition, String) {
    let Some(cp) = cp else {
        return match rules::unmanageable(snap, cluster) {
            Some(r) => (Condition::NotManageable, r),
            None => (Condition::Unconfigured, "no strategies configured".into()),
        };
    };
    match &cp.outcome {
        Outcome::Paused { reason, until } => {
            let mut r = match reason {
                Some(r) => format!("paused by an operator: {r}"),
                None => "paused by an operator".into(),
            };
            if let Some(t) = until {
                let left = (*t - snap.now).num_seconds().max(0) as u64;
                r.push_str(&format!(" (expires in {})", human_duration(left)));
            }
            return (Condition::Paused, r);
        }
        Outcome::Invalid { errors } => return (Condition::Invalid, errors.join("; ")),
        Outcome::Unmanageable { reason } => return (Condition::NotManageable, reason.clone()),
        Outcome::Planned => {}
    }
    if let Some(d) = &cp.in_doubt {
        return (Condition::InDoubt, d.reason.clone());
    }
    if let Some(r) = cluster.replicas.iter().find(|r| r.crash_looping(snap.now)) {
        return (
            Condition::CrashLooping,
            format!(
                "replica {} went offline {} times ({} OOM) in the crash window",
                r.name, r.crash.crashes, r.crash.ooms
            ),
        );
    }
    if let Some(r) = &cp.rolled_back {
        return (Condition::ResizeRolledBack, r.reason.clone());
    }
    let why = |a: &plan::Action| {
        let verb = a.kind.verb();
        let what = if a.replica.is_empty() {
            verb.to_string()
        } else {
            format!("{verb} {}", a.replica)
        };
        format!("{what}: {}: {}", a.strategy, a.reasons.join("; "))
    };
    if !cp.actions.is_empty() {
        let reasons: Vec<String> = cp.actions.iter().map(why).collect();
        let burst = cp
            .actions
            .iter()
            .any(|a| a.strategy == StrategyKind::Burst && a.kind == ActionKind::CreateReplica);
        let creates = |a: &plan::Action| {
            a.kind == ActionKind::CreateReplica
                || (a.kind == ActionKind::SetReplicationFactor
                    && a.replication_factor.unwrap_or_default() > 0)
        };
        // What idle_suspend creates is a resume, whether the cluster is
        // empty or already has the burst replica an interrupted wake made.
        let resumes = cp
            .actions
            .iter()
            .any(|a| a.strategy == StrategyKind::IdleSuspend && creates(a));
        let condition = if burst {
            Condition::Bursting
        } else if cp.suspending {
            Condition::Suspending
        } else if resumes || (cluster.replicas.is_empty() && cp.actions.iter().any(creates)) {
            Condition::Resuming
        } else {
            Condition::Resizing
        };
        return (condition, reasons.join("; "));
    }
    // A statement the server refuses run after run: its cause is the
    // operator's to remove, whatever else waits.
    if let Some(d) = cp.waiting.iter().find(|d| d.refused) {
        return (Condition::Limited, deferred_text(d));
    }
    // A managed cluster's reconfiguration in flight: whatever the
    // strategies want waits for it (a suspension says so).
    if let Some(d) = cp
        .waiting
        .iter()
        .find(|d| d.strategy.is_none() && d.action == "resize")
    {
        return (Condition::Resizing, deferred_text(d));
    }
    if let Some(d) = cp.waiting.iter().find(|d| {
        !d.held_by_limit()
            && matches!(
                d.strategy,
                Some(
                    StrategyKind::Stabilization
                        | StrategyKind::TargetSize
                        | StrategyKind::Schedule
                        | StrategyKind::IdleSuspend
                )
            )
    }) {
        return (Condition::Stabilizing, deferred_text(d));
    }
    if let Some(d) = cp.waiting.iter().find(|d| d.held_by_limit()) {
        return (Condition::Limited, deferred_text(d));
    }
    // A replica hydrating; then a drop kept for an operator (the replica
    // running the cluster's sources: it said Hydrating with every replica
    // hydrated, an outside check).
    let unowned = || cp.waiting.iter().filter(|d| d.strategy.is_none());
    if let Some(d) = unowned().find(|d| d.action.starts_with("hydrate ")) {
        return (Condition::Hydrating, deferred_text(d));
    }
    if let Some(d) = unowned().next() {
        return (Condition::Limited, deferred_text(d));
    }
    if let Some(d) = cp
        .waiting
        .iter()
        .find(|d| d.strategy == Some(StrategyKind::Burst))
    {
        return (Condition::Bursting, deferred_text(d));
    }
    let has = |k: StrategyKind| cp.strategies.contains(&k);
    let burst_name = crate::strategy::burst_replica(cluster, snap.states.get(&cluster.id));
    // Running beside a hydrated replica with nothing held: not a burst
    // (one made by hand under its name, left alone; it said "Bursting"
    // of a cluster the plan called converged: an outside check).
    let others_serve = cluster
        .replicas
        .iter()
        .any(|r| r.name != burst_name && r.hydrated);
    if has(StrategyKind::Burst) && cluster.replica(&burst_name).is_some() && !others_serve {
        return (
            Condition::Bursting,
            format!("{burst_name} runs until another replica is hydrated"),
        );
    }
    // An alert with nothing planned or held back: the operator's to act on
    // (users waiting with nothing remembered to wake the cluster with read
    // `Suspended`, out of `--condition Attention`: an outside check).
    if let Some(alert) = cp.alerts.first() {
        return (Condition::Attention, alert.clone());
    }
    if cluster.replicas.is_empty() {
        // A managed cluster's own size: what idle_suspend wakes it at when
        // it remembers nothing.
        let managed_size = crate::strategy::wakes_at_its_size(cluster, &snap.sizes);
        let r = if let Some(why) = &cp.held_empty {
            // A schedule's default of 0: not idle_suspend's memory (it said
            // "remembers none", of a cluster a schedule row holds empty:
            // an outside check).
            format!("no replicas: {why}; statements wait until it wants replicas again")
        } else if has(StrategyKind::IdleSuspend)
            && crate::strategy::remembered(
                cluster,
                snap.states.get(&cluster.id),
                snap.suspensions.get(&cluster.id),
                &crate::plan::doubt::sent_drops(snap, &cluster.id),
            )
            .wake
            .is_empty()
            && managed_size.is_none()
        {
            // Never suspended by it (made without replicas, or emptied by
            // hand), or its memory gone with no trail of its suspension: a
            // statement brings nothing back (the promise was made, and the
            // next apply said "remembers nothing to bring back").
            "no replicas, and idle_suspend remembers none to bring back: a statement does not \
             wake it (give it a replica, or a target_size or schedule row that makes one)"
                .into()
        } else if has(StrategyKind::IdleSuspend) {
            "no replicas (idle_suspend); a new statement brings them back on the next run".into()
        } else {
            "no replicas".to_string()
        };
        return (Condition::Suspended, r);
    }
    if has(StrategyKind::IdleSuspend)
        && (cp.signals.idle == Idle::Unknown || rules::activity_problem(snap).is_some())
    {
        let why = rules::activity_unknown(snap)
            .unwrap_or_else(|| "the statement log has no data for it".into());
        return (
            Condition::SignalUnknown,
            format!("idle_suspend cannot tell whether the cluster is idle: {why}"),
        );
    }
    (
        Condition::Converged,
        "the replicas are what the strategies want".into(),
    )
}

/// The newest action of each cluster, from the audit trail.
pub fn last_actions(
    records: Vec<crate::db::store::ActionRecord>,
    now: DateTime<Utc>,
) -> BTreeMap<ClusterId, LastAction> {
    records
        .into_iter()
        .filter_map(|r| {
            let id = r.cluster_id.clone()?;
            // `Store::last_actions` reads rows with a time only: a row
            // without one says nothing of the action's age (`history`
            // shows it). Of rows of the same time, the last read counts.
            let at = r.created_at?;
            Some((
                id,
                LastAction {
                    at,
                    seconds_ago: (now - at).num_seconds().max(0) as u64,
                    kind: r.ctx_text("kind"),
                    replica: r.ctx_text("replica"),
                    sql: r.action_sql,
                    executed: r.executed,
                    result: r.result,
                    error: r.error,
                },
            ))
        })
        .collect()
}

/// `status [--all]`: read-only.
pub async fn status(
    ctx: &Context,
    selection: &Selection,
    all: bool,
    conditions: &ConditionFilter,
) -> Result<StatusReport, CommandError> {
    let mut backend = ctx.backend();
    // Its plan is of the selection (`status_of`).
    backend.plans(selection);
    let snap = crate::exec::Backend::snapshot(&mut backend).await?;
    selection
        .check(&snap, false, false)
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    let store = &ctx.store;
    // Of the selected clusters only: `status X` read every cluster's.
    let selected: Option<Vec<ClusterId>> = (!selection.is_all()).then(|| {
        let bound = selection.in_snapshot(&snap);
        snap.clusters
            .iter()
            .filter(|c| bound.matches(c))
            .map(|c| c.id.clone())
            .collect()
    });
    let records = backend
        .retrying("reading the last actions", async |c| {
            store.last_actions(c, selected.as_deref()).await
        })
        .await?;
    Ok(status_of(&snap, selection, all, &last_actions(records, snap.now)).keep(conditions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SizeCatalog;
    use serde_json::json;

    /// `status` of the one cluster `c` (u2) with `rows`, after `last`.
    fn status_of_one(
        c: crate::model::Cluster,
        rows: Vec<crate::model::StrategyRow>,
        last: Option<LastAction>,
    ) -> ClusterStatus {
        let snap = crate::model::Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            clusters: vec![c],
            strategies: rows,
            activity_log_has_rows: true,
            ..crate::model::Snapshot::default()
        };
        let last = last
            .map(|a| BTreeMap::from([(ClusterId("u2".into()), a)]))
            .unwrap_or_default();
        status_of(&snap, &Selection::all(), false, &last)
            .clusters
            .remove(0)
    }

    /// A strategy row of cluster `id`.
    fn row(id: &str, ty: &str, config: serde_json::Value) -> crate::model::StrategyRow {
        crate::model::StrategyRow {
            cluster_id: ClusterId(id.into()),
            strategy_type: ty.into(),
            config,
            updated_at: None,
            unreadable: None,
        }
    }

    /// The narrow view keeps to 80 columns whatever the names: a
    /// 200-character cluster name made every line 230 wide (review).
    #[test]
    fn the_narrow_view_cuts_a_long_cluster_name_to_fit() {
        use crate::model::{Cluster, Snapshot, StrategyRow};
        use crate::render::{table, TextStyle, Verbosity, View};
        let long = "x".repeat(200);
        let mut snap = Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            clusters: vec![
                Cluster::empty(ClusterId("u2".into()), &long),
                Cluster::empty(ClusterId("u3".into()), "short"),
            ],
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        for id in ["u2", "u3"] {
            snap.strategies.push(StrategyRow {
                cluster_id: ClusterId(id.into()),
                strategy_type: "target_size".into(),
                config: json!({"target_size": "50cc"}),
                updated_at: None,
                unreadable: None,
            });
        }
        let report = status_of(&snap, &Selection::all(), false, &BTreeMap::new());
        let style = TextStyle {
            verbosity: Verbosity::Normal,
            table: table::Style {
                tty: false,
                color: false,
            },
            wide: false,
            streamed: false,
        };
        let text = report.text(&style);
        for line in text.lines() {
            assert!(crate::model::display_width(line) <= 80, "{line}");
        }
        assert!(text.contains("xxxxxxxx…"), "{text}");
        assert!(text.contains("short "), "{text}");
        // Each reason keeps its room.
        assert!(text.lines().all(|l| !l.ends_with("hydra…")), "{text}");
    }

    /// A drop kept for an operator (the replica running the cluster's
    /// sources) is `Limited`, with every replica hydrated: it said
    /// `Hydrating` (an outside check).
    #[test]
    fn a_drop_kept_for_an_operator_is_limited_not_hydrating() {
        use crate::model::{Cluster, Replica};
        let mut c = Cluster::empty(ClusterId("u2".into()), "src");
        c.has_singleton_source = true;
        c.replicas = vec![
            Replica {
                id: "u1".into(),
                ..crate::strategy::testutil::replica("r1", "25cc", true)
            },
            Replica {
                id: "u2".into(),
                ..crate::strategy::testutil::replica("r_50cc", "50cc", true)
            },
        ];
        let rows = vec![row("u2", "target_size", json!({"target_size": "50cc"}))];
        let c = status_of_one(c, rows, None);
        assert_eq!(c.condition, Condition::Limited, "{}", c.reason);
        assert!(
            c.reason.contains("runs the cluster's sources"),
            "{}",
            c.reason
        );
    }

    /// An empty cluster a schedule's default holds at 0 replicas, with
    /// idle_suspend beside it and a statement waiting: the reason is the
    /// schedule's (it said idle_suspend "remembers none to bring back").
    #[test]
    fn an_empty_cluster_a_schedule_holds_empty_says_so() {
        use crate::model::{Activity, Cluster};
        let mut c = Cluster::empty(ClusterId("u2".into()), "s");
        c.activity = Activity {
            last_begin: Some(chrono::DateTime::UNIX_EPOCH),
            in_flight: 1,
            last_end: None,
        };
        let rows = vec![
            row(
                "u2",
                "schedule",
                json!({"timezone": "UTC", "default": {"size": "25cc", "replicas": 0},
                       "windows": [{"cron": "0 0 3 1 1 *", "duration_s": 3600, "size": "50cc"}]}),
            ),
            row("u2", "idle_suspend", json!({"idle_after_s": 600})),
        ];
        let c = status_of_one(c, rows, None);
        assert_eq!(c.condition, Condition::Suspended, "{}", c.reason);
        assert!(
            c.reason.starts_with("no replicas: schedule: ")
                && c.reason
                    .ends_with("statements wait until it wants replicas again"),
            "{}",
            c.reason
        );
    }

    /// A statement planned again that failed last time is said first in
    /// the reason (a DDL refused every run showed as a plain `Resizing`,
    /// and put last, an 80-column table cut it off).
    #[test]
    fn a_statement_that_failed_last_time_is_said() {
        use crate::model::{Cluster, Refusal, Snapshot};
        let reason = |sql: &str| {
            let c = Cluster::empty(ClusterId("u2".into()), "c");
            let rows = vec![row("u2", "target_size", json!({"target_size": "50cc"}))];
            let mut snap = Snapshot {
                sizes: SizeCatalog::cloud_defaults(),
                clusters: vec![c.clone()],
                strategies: rows,
                activity_log_has_rows: true,
                ..Snapshot::default()
            };
            let planned = crate::plan::plan(&snap, &PlanOptions::default());
            let refused = planned.clusters[0].actions[0].refused_as();
            // Another replica's creation: not this plan's.
            let action = match sql.contains("r_50cc") {
                true => refused,
                false => crate::model::RefusedAction {
                    replica: "r_25cc".into(),
                    ..refused
                },
            };
            snap.refusals.insert(
                ClusterId("u2".into()),
                vec![Refusal {
                    sql: sql.into(),
                    action,
                    count: 1,
                    last_at: snap.now - chrono::Duration::minutes(2),
                    error: Some("would exceed the credit limit".into()),
                }],
            );
            let p = crate::plan::plan(&snap, &PlanOptions::default());
            condition(&snap, &c, p.clusters.first()).1
        };
        let same = reason(r#"CREATE CLUSTER REPLICA "c"."r_50cc" (SIZE = '50cc')"#);
        assert!(
            same.starts_with("its last attempt failed 2m ago: would exceed the credit limit; "),
            "{same}"
        );
        let other = reason(r#"CREATE CLUSTER REPLICA "c"."r_25cc" (SIZE = '25cc')"#);
        assert!(!other.contains("last attempt failed"), "{other}");
    }

    /// WANT of a managed cluster resized: what it ends with, named as
    /// Materialize names the replicas (seventh review: the old size).
    #[test]
    fn a_managed_clusters_want_has_the_size_it_is_resized_to() {
        use crate::model::{Cluster, Size, Snapshot, StrategyRow};
        let managed = |rf: i64, replicas: &[(&str, &str)]| {
            let mut c = Cluster::empty(ClusterId("u2".into()), "m");
            c.managed = true;
            c.size = Some(Size::from("25cc"));
            c.replication_factor = Some(rf);
            c.replicas = replicas
                .iter()
                .map(|(n, size)| crate::strategy::testutil::replica(n, size, false))
                .collect();
            c.activity.in_flight = 1;
            c
        };
        let want = |cluster: Cluster| {
            let snap = Snapshot {
                sizes: SizeCatalog::cloud_defaults(),
                clusters: vec![cluster],
                strategies: vec![StrategyRow {
                    cluster_id: ClusterId("u2".into()),
                    strategy_type: "target_size".into(),
                    config: json!({"target_size": "50cc"}),
                    updated_at: None,
                    unreadable: None,
                }],
                activity_log_has_rows: true,
                ..Snapshot::default()
            };
            let status = status_of(&snap, &Selection::all(), false, &BTreeMap::new());
            let c = &status.clusters[0];
            let shown: Vec<String> = c
                .desired
                .iter()
                .map(|w| format!("{} ({})", w.name, w.size.as_deref().unwrap_or("?")))
                .collect();
            (c.pending_actions, shown)
        };
        // Suspended, woken at the new size: a resize, then the factor.
        assert_eq!(want(managed(0, &[])), (2, vec!["r1 (50cc)".to_string()]));
        // Running at 25cc: the resize.
        assert_eq!(
            want(managed(1, &[("r1", "25cc")])),
            (1, vec!["r1 (50cc)".to_string()])
        );
        // The resize in flight: nothing is sent, the pending replica is
        // what the cluster ends with.
        let in_flight = managed(1, &[("r1", "25cc"), ("r1-pending", "50cc")]);
        assert_eq!(want(in_flight), (0, vec!["r1 (50cc)".to_string()]));
    }

    #[test]
    fn a_cluster_never_seen_nor_queried_is_new_not_idle() {
        use crate::model::{Cluster, Snapshot, StrategyRow};
        let cluster = Cluster::empty(ClusterId("u2".into()), "c");
        let mut snap = Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            clusters: vec![cluster],
            strategies: vec![StrategyRow {
                cluster_id: ClusterId("u2".into()),
                strategy_type: "idle_suspend".into(),
                config: json!({"idle_after_s": 600}),
                updated_at: None,
                unreadable: None,
            }],
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        let state = |snap: &Snapshot| {
            let a = status_of(snap, &Selection::all(), false, &BTreeMap::new()).clusters[0]
                .activity
                .clone();
            (a.state, a.idle_seconds)
        };
        assert_eq!(state(&snap), ("new", None));
        // Seen by an apply five minutes ago, still never queried: new, idle
        // since then (it said `idle 0s` beside `describe`'s new).
        let seen = snap.now - chrono::Duration::minutes(5);
        snap.states.insert(
            ClusterId("u2".into()),
            json!({"_controller": {"first_seen": seen.to_rfc3339()}}),
        );
        assert_eq!(state(&snap), ("new", Some(300)));
        // A log with no rows at all (logging off, sampled at 0): unknown,
        // as the plan says, not new (an outside check).
        snap.activity_log_has_rows = false;
        assert_eq!(state(&snap), ("unknown", None));
        snap.activity_log_has_rows = true;
        // Queried: idle since its last statement.
        snap.clusters[0].activity.last_begin = Some(snap.now - chrono::Duration::seconds(20));
        assert_eq!(state(&snap), ("idle", Some(20)));
    }

    #[test]
    fn a_resume_that_finds_its_burst_already_made_is_resuming() {
        use crate::model::{Activity, Cluster, Replica, Snapshot, StrategyRow};
        let id = ClusterId("u2".into());
        let row = |ty: &str, config: serde_json::Value| StrategyRow {
            cluster_id: id.clone(),
            strategy_type: ty.into(),
            config,
            updated_at: None,
            unreadable: None,
        };
        // A wake was killed after creating the burst replica: the normal
        // one is still to come back.
        let mut cluster = Cluster::empty(id.clone(), "c");
        cluster.replicas.push(Replica {
            id: "u1".into(),
            ..crate::strategy::testutil::replica("c-burst", "100cc", false)
        });
        let mut snap = Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            clusters: vec![cluster],
            strategies: vec![
                row("burst", json!({"burst_replica_size": "100cc"})),
                row("idle_suspend", json!({"idle_after_s": 60})),
            ],
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        snap.clusters[0].activity = Activity {
            last_begin: Some(snap.now - chrono::Duration::seconds(20)),
            in_flight: 0,
            last_end: None,
        };
        let suspended_at = (snap.now - chrono::Duration::hours(1)).to_rfc3339();
        snap.states.insert(
            id,
            json!({"idle_suspend": {
                "suspended": [{"name": "r1", "size": "50cc"}],
                "suspended_at": suspended_at,
            }}),
        );
        let report = status_of(&snap, &Selection::all(), false, &BTreeMap::new());
        let c = &report.clusters[0];
        assert_eq!(c.condition, Condition::Resuming, "{}", c.reason);
        assert!(
            c.reason.starts_with("create r1: idle_suspend"),
            "{}",
            c.reason
        );
    }
}
