//! The decision: `plan(snapshot, options) -> Plan`, a pure function. It picks
//! the clusters to manage, validates their rows (`rows`, the one validator),
//! runs the strategies in priority order (`coordinate`), enforces the rules
//! every strategy obeys (`rules`), and diffs the desired replica set against
//! the live one into ordered actions (`diff`). No I/O and no clock: `now` is
//! the snapshot's (the database's clock).

mod coordinate;
mod diff;
pub mod doubt;
pub mod refused;
pub mod region;
pub mod rolled_back;
pub mod rows;
pub mod rules;
pub mod saved;
pub mod select;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::model::{Cluster, ClusterId, Size, Snapshot};
use crate::strategy::{Idle, StrategyKind};

pub use crate::strategy::Deferred;
pub use coordinate::{first_seen, CONTROLLER_SLOT};
pub use rules::{resize_form, unmanageable, ResizeForm};
pub use select::{Selection, SelectionError};

/// Client-side deadline of a statement unless `--statement-timeout` says
/// otherwise; at most half the default lease TTL, so a DDL never starts
/// unless the lease is ours for longer than its deadline.
pub const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Version of the JSON documents we print; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// The clusters to plan (`--cluster`, `--filter-clusters`).
    pub selection: Selection,
    /// `WAIT UNTIL READY` timeout of a managed cluster's graceful resize;
    /// on timeout Materialize rolls back.
    pub resize_timeout: std::time::Duration,
    /// A DDL statement's deadline (`--statement-timeout`): how long an
    /// interrupted run's statement may still be running, for its audit
    /// rows that did not record one.
    pub statement_timeout: std::time::Duration,
    /// How often the controller runs (`--interval`; a cron's period): a
    /// prewarm starts one interval early, as the next run may come that late.
    /// `None`: each cluster is planned with the interval the controller
    /// recorded in its state (`describe`, `status`, `dry-run` without
    /// `--interval`); see [`PlanOptions::interval_s`].
    pub interval: Option<std::time::Duration>,
    /// Fill `ClusterPlan::prediction` (for people; the simulator skips it).
    pub explain: bool,
    /// Fill `ClusterPlan::new_state` (the simulator's probes of a quiet
    /// stretch only ask whether a plan acts, and drop the rest).
    pub new_state: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            selection: Selection::all(),
            resize_timeout: std::time::Duration::from_secs(600),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            interval: None,
            explain: true,
            new_state: true,
        }
    }
}

/// The interval a controller is taken to run at when nobody says otherwise
/// (`--interval`'s default): a cron line every minute.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl PlanOptions {
    /// The one rule for the interval a cluster's plan uses, in seconds: the
    /// one given (the controller's own, or an explicit `--interval`), else
    /// the one the controller recorded in the cluster's `state` when it
    /// last planned it, else [`DEFAULT_INTERVAL`]. So a `describe` shows
    /// the wake an `apply --watch --interval 10m` will make.
    pub fn interval_s(&self, state: Option<&serde_json::Value>) -> u64 {
        self.interval
            .map(|d| d.as_secs())
            .or_else(|| crate::strategy::recorded_interval_s(state))
            .unwrap_or(DEFAULT_INTERVAL.as_secs())
            .max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CreateReplica,
    DropReplica,
    /// Managed clusters: `ALTER CLUSTER … SET (REPLICATION FACTOR = n)`
    /// (0 suspends).
    SetReplicationFactor,
    /// Managed clusters: `ALTER CLUSTER … SET (SIZE = …)`, graceful where
    /// the release allows it (the old replicas serve until the new ones are
    /// hydrated; see [`rules::ResizeForm`]).
    SetSize,
}

impl ActionKind {
    /// Whether the statement is one only a managed cluster takes
    /// (Materialize refuses replica DDL there, and these elsewhere).
    pub fn managed(self) -> bool {
        matches!(self, ActionKind::SetReplicationFactor | ActionKind::SetSize)
    }

    /// `create_replica`, `drop_replica`, …, as in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::CreateReplica => "create_replica",
            ActionKind::DropReplica => "drop_replica",
            ActionKind::SetReplicationFactor => "set_replication_factor",
            ActionKind::SetSize => "set_size",
        }
    }

    /// A short verb for summaries and tables.
    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::CreateReplica => "create",
            ActionKind::DropReplica => "drop",
            ActionKind::SetReplicationFactor => "set replication factor",
            ActionKind::SetSize => "resize",
        }
    }
}

/// One DDL statement and why it is wanted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    pub cluster_id: ClusterId,
    pub cluster: String,
    /// The replica (empty for cluster-level actions on managed clusters).
    pub replica: String,
    pub size: Option<Size>,
    /// The new replication factor (`SetReplicationFactor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i64>,
    /// `SetSize`: how this release carries the resize out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resize: Option<rules::ResizeForm>,
    pub sql: String,
    pub strategy: StrategyKind,
    pub reasons: Vec<String>,
}

impl Action {
    /// What the action does, as its audit row records it: how a refusal
    /// of it is told from another statement's.
    pub fn refused_as(&self) -> crate::model::RefusedAction {
        crate::model::RefusedAction {
            kind: self.kind.name().to_string(),
            replica: self.replica.clone(),
            size: self.size.as_ref().map(|s| s.0.clone()),
            replication_factor: self.replication_factor,
        }
    }

    /// Whether this action still goes when `failed`, an earlier action of
    /// its cluster, failed or is held back: another replica's creation
    /// does (a cluster's creations do not rely on one another: a refused
    /// burst kept the wake's replica from being made, so users waited
    /// until their statements aged out: an outside check); nothing else
    /// does (a drop may rely on what was to be created, and a managed
    /// cluster's statements follow one another). The one rule of the
    /// executor and of held-back refusals ([`refused`]).
    pub fn goes_on_after(&self, failed: &Action) -> bool {
        failed.kind == ActionKind::CreateReplica && self.kind == ActionKind::CreateReplica
    }

    /// What the action does, as held-back work says it (the plan's
    /// waiting lines, status's REASON): `create r1 (800cc)`, `drop r1
    /// (25cc)`, `resize to 100cc`, `set replication factor 0`.
    pub fn held(&self) -> String {
        use crate::strategy::ReplicaStep;
        let size = self.size.as_ref();
        match self.kind {
            ActionKind::CreateReplica => ReplicaStep::Create.of(&self.replica, size),
            ActionKind::DropReplica => ReplicaStep::Drop.of(&self.replica, size),
            ActionKind::SetSize => format!("resize to {}", size.map_or("?", |s| s.0.as_str())),
            ActionKind::SetReplicationFactor => format!(
                "set replication factor {}",
                self.replication_factor.unwrap_or(0)
            ),
        }
    }
}

/// What the planner decided for one cluster as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Strategies ran; `actions` may be empty (converged).
    Planned,
    /// The controller must not touch this cluster.
    Unmanageable { reason: String },
    /// A strategy row is invalid: the cluster is skipped this round.
    Invalid { errors: Vec<String> },
    /// An operator paused the controller for this cluster (a `pause` row):
    /// no actions, no state written; until `until` when the pause expires.
    Paused {
        reason: Option<String>,
        until: Option<DateTime<Utc>>,
    },
}

/// Where a cluster stands after planning, in one word: what `dry-run`,
/// `apply`, `status` and the metrics call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanState {
    /// Nothing to do and nothing pending.
    Converged,
    /// Nothing to do this round, but work is pending (a replica hydrating,
    /// a deferred drop).
    Waiting,
    /// Actions are planned.
    Changes,
    /// Nothing planned, but an alert asks an operator to act (users wait
    /// with nothing to wake the cluster with, a burst that gave up, a size
    /// too small and no larger allowed): never "converged".
    Attention,
    Invalid,
    Unmanageable,
    Paused,
}

impl PlanState {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Converged => "converged",
            PlanState::Waiting => "waiting",
            PlanState::Changes => "changes",
            PlanState::Attention => "attention",
            PlanState::Invalid => "invalid",
            PlanState::Unmanageable => "unmanageable",
            PlanState::Paused => "paused",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaSignal {
    pub name: String,
    pub size: Option<Size>,
    pub hydrated: bool,
    pub crashes: u32,
    pub ooms: u32,
}

/// The signals a decision was based on (goes into the audit trail).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signals {
    pub idle: Idle,
    pub last_activity: Option<DateTime<Utc>>,
    pub in_flight: u32,
    pub replicas: Vec<ReplicaSignal>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterPlan {
    pub cluster_id: ClusterId,
    pub cluster: String,
    pub strategies: Vec<StrategyKind>,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub actions: Vec<Action>,
    /// A strategy empties the cluster on purpose this round.
    pub suspending: bool,
    pub notes: Vec<String>,
    /// Work that is pending but not due this round: a replica still
    /// hydrating, a drop deferred by stabilization or a lingering burst.
    pub waiting: Vec<Deferred>,
    /// Conditions an operator must act on (e.g. a burst that gave up).
    pub alerts: Vec<String>,
    /// The earliest instant a decision changes by the clock alone (a
    /// prewarm due, a schedule window opening or closing, the end of a
    /// wait listed in `waiting` with its time: a stabilization's drop, a
    /// cooldown): the controller should run again by then (kube-rs's
    /// requeue-after). A reactive idle threshold is not: an idle cluster
    /// stays idle until a statement comes, and the next regular run acts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_decision_at: Option<DateTime<Utc>>,
    /// What the cluster's predicting strategy learned and expects (its
    /// demand profile, hydration times, next wake).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Box<crate::strategy::predict::Prediction>>,
    /// An interrupted run's statement may still be running on this
    /// cluster: its actions are held back as pending work until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_doubt: Option<Box<doubt::InDoubt>>,
    /// A strategy holds the cluster without replicas on purpose (a
    /// schedule's default of 0), as `strategy: reason`: what `status` says
    /// of an empty cluster whose statements wait (boxed: few clusters have
    /// it, [`ClusterPlan`] stays small).
    #[serde(skip)]
    pub held_empty: Option<Box<String>>,
    /// The cluster's last resize did not take (Materialize rolled it back
    /// at its deadline) and the strategies want that size again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<Box<rolled_back::RolledBack>>,
    /// New statements could change the decision before then (a cluster
    /// warmed for predicted demand nobody came to yet).
    #[serde(skip)]
    pub activity_sensitive: bool,
    pub signals: Signals,
    /// The live replica set the plan was computed from (the plan guard).
    #[serde(skip)]
    pub observed: Vec<crate::model::Seen>,
    /// The cluster's strategy rows the plan was computed from (the plan
    /// guard).
    #[serde(skip)]
    pub observed_rows: crate::model::RowsSeen,
    /// The activity a suspension was decided on, when the statement log
    /// judged it (the plan guard reads it again once the log has caught
    /// up with the snapshot).
    #[serde(skip)]
    pub observed_activity: Option<Box<crate::model::Activity>>,
    /// New state payload to persist, when it changed.
    #[serde(skip)]
    pub new_state: Option<Box<serde_json::Value>>,
    /// The stored state a suspension's `new_state` replaces: that one is
    /// written with the first intent, before any drop, and this one back
    /// if the plan guard then skips the suspension (it said "suspended"
    /// of a cluster nothing was dropped from: an outside check).
    #[serde(skip)]
    pub state_before: Option<Box<serde_json::Value>>,
    /// Its strategy rows are invalid, and `idle_suspend` woke it alone for
    /// the users waiting: counted with the clusters skipped for invalid
    /// rows ([`Plan::invalid_count`], exit code 3), as the run after the
    /// wake counts it (that apply exited 0: an outside check).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub invalid_rows: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Carried for the simulator; the JSON envelope says it once.
    #[serde(skip)]
    pub format_version: u32,
    pub now: DateTime<Utc>,
    /// The environment (region) planned for: a saved plan applies to that
    /// one only (`saved`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_id: Option<String>,
    /// The `--schema` our tables were read from: a saved plan applies to
    /// that installation only (`saved`), and the fixes the plan says name
    /// it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub clusters: Vec<ClusterPlan>,
    pub warnings: Vec<String>,
    /// The earliest `next_decision_at` of the clusters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_decision_at: Option<DateTime<Utc>>,
    /// Interrupted runs' actions whose outcome the catalog now shows
    /// (`apply` records it).
    #[serde(skip)]
    pub settle: Vec<doubt::Settle>,
}

impl ClusterPlan {
    /// A suspension's new state (what the cluster wakes with) is written
    /// with its first action's intent, before any replica is dropped, not
    /// at the end of the run: lost after the drops, nothing would wake the
    /// cluster (the executor's rule; the plan keeps the state before it
    /// for then, [`ClusterPlan::state_before`]).
    pub fn state_goes_first(&self) -> bool {
        self.suspending && self.new_state.is_some() && !self.actions.is_empty()
    }

    /// Holds `held` back until `until`: each becomes pending work with its
    /// reason (`reason_of`), the cluster's new state is not written (it
    /// assumed they ran), and its next decision comes by then. The one
    /// rule of an action in doubt ([`doubt`]) and a refusal's wait
    /// ([`refused`]).
    pub(super) fn hold_back(
        &mut self,
        held: Vec<Action>,
        reason_of: impl Fn(&Action) -> String,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
        refused: bool,
    ) {
        let in_seconds = (until - now).num_seconds().max(0) as u64;
        for action in held {
            self.waiting.push(Deferred {
                strategy: None,
                action: action.held(),
                reason: reason_of(&action),
                in_seconds: Some(in_seconds),
                limit: false,
                refused,
            });
        }
        self.new_state = None;
        self.next_decision_at = Some(self.next_decision_at.map_or(until, |t| t.min(until)));
    }

    pub fn state(&self) -> PlanState {
        match &self.outcome {
            Outcome::Invalid { .. } => PlanState::Invalid,
            Outcome::Unmanageable { .. } => PlanState::Unmanageable,
            Outcome::Paused { .. } => PlanState::Paused,
            Outcome::Planned if !self.actions.is_empty() => PlanState::Changes,
            Outcome::Planned if !self.alerts.is_empty() => PlanState::Attention,
            Outcome::Planned if !self.waiting.is_empty() => PlanState::Waiting,
            Outcome::Planned => PlanState::Converged,
        }
    }
}

impl Plan {
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.clusters.iter().flat_map(|c| c.actions.iter())
    }

    pub fn action_count(&self) -> usize {
        self.actions().count()
    }

    /// Clusters skipped because of invalid configuration, and those whose
    /// wake ran alone despite it ([`ClusterPlan::invalid_rows`]).
    pub fn invalid_count(&self) -> usize {
        self.clusters
            .iter()
            .filter(|c| c.invalid_rows || matches!(c.outcome, Outcome::Invalid { .. }))
            .count()
    }
}

pub fn plan(snap: &Snapshot, opts: &PlanOptions) -> Plan {
    let mut warnings = Vec::new();
    let in_effect = rows::in_effect(&snap.strategies);
    let by_id = snap.cluster_index();
    let selection = opts.selection.in_snapshot(snap);
    let selected = |c: &Cluster| selection.matches(c);
    let unfinished = doubt::judge(snap, opts.statement_timeout, opts.resize_timeout);
    let mut clusters = Vec::with_capacity(in_effect.len());
    for (id, rows) in &in_effect {
        let cluster = by_id.get(id).map(|&i| &snap.clusters[i]);
        let validated = rows::validate_in(snap, id, cluster, rows);
        let Some(cluster) = cluster else {
            // Only the id is known: a pattern is matched against it. Said
            // as `check` says it, with how to remove the rows.
            if selection.matches_id(id, None) {
                warnings.extend(
                    validated
                        .findings
                        .iter()
                        .filter(|f| f.code == rows::Code::DanglingCluster)
                        .map(|f| format!("strategy rows: {}", f.message)),
                );
            }
            continue;
        };
        if !selected(cluster) {
            continue;
        }
        for f in validated
            .findings
            .iter()
            .filter(|f| f.code == rows::Code::DuplicateRows)
        {
            warnings.push(format!("cluster {} ({id}): {}", cluster.name, f.message));
        }
        let mut cp = coordinate::plan_cluster(snap, opts, cluster, validated, rows::seen(rows));
        if let Some(d) = unfinished.in_doubt.get(id) {
            doubt::hold(&mut cp, d, snap.now);
        }
        if let Some(late) = unfinished.late_drops.get(id) {
            doubt::hold_for_late_drops(&mut cp, late, cluster, snap.now);
        }
        if let Some(refusals) = snap.refusals.get(id) {
            let edited = rows.iter().filter_map(|r| r.row.updated_at).max();
            refused::hold(&mut cp, refusals, edited, snap.now);
        }
        clusters.push(cp);
    }
    // Catalog order (by id), as the clusters were read.
    clusters.sort_by_key(|cp| by_id.get(&cp.cluster_id).copied());
    // Shared by every cluster, so judged over the whole plan, in that order.
    warnings.extend(region::enforce_credit_limit(snap, &mut clusters));
    // Exact names that select nothing are refused before planning
    // (`Selection::check`); a pattern may, and an empty plan then says why.
    warnings.extend(opts.selection.nothing_selected(clusters.len()));
    warnings.extend(environment_warnings(snap, &clusters));
    Plan {
        format_version: FORMAT_VERSION,
        now: snap.now,
        environment_id: snap.env.environment_id.clone(),
        schema: snap.env.schema.clone(),
        next_decision_at: clusters.iter().filter_map(|c| c.next_decision_at).min(),
        clusters,
        warnings,
        settle: unfinished.settle,
    }
}

/// The clusters whose strategies a plan with `selection` runs, among
/// those `wanted` takes: in the catalog, selected (`Selection`'s own
/// matching, as [`plan`] selects), and not left alone before their
/// strategies run (paused, a row in error, unmanageable:
/// [`coordinate::left_alone`]). The one rule for what the snapshot reads
/// for the plan alone, per cluster ([`reads_the_trail_for`],
/// [`learns_demand`]): a `--cluster b` run reads nothing for a cluster `a`
/// it does not plan. `wanted` is the caller's cheap test, asked first
/// (validation parses every row). Judged on the snapshot as read so far:
/// a cluster that what is not read yet would leave alone (the auto-scaling
/// relation, read in the snapshot's second round) counts.
fn runs_strategies(
    snap: &Snapshot,
    selection: &Selection,
    wanted: impl Fn(&Cluster, &[rows::InEffect]) -> bool,
) -> Vec<ClusterId> {
    let by_id = snap.cluster_index();
    let selection = selection.in_snapshot(snap);
    rows::in_effect(&snap.strategies)
        .into_iter()
        .filter(|(id, rows)| {
            let Some(cluster) = by_id.get(id).map(|&i| &snap.clusters[i]) else {
                return false;
            };
            selection.matches(cluster)
                && wanted(cluster, rows)
                && coordinate::left_alone(
                    snap,
                    cluster,
                    &rows::validate(Some(cluster), rows, &snap.sizes),
                )
                .is_none()
        })
        .map(|(id, _)| id)
        .collect()
}

/// The clusters whose last suspensions the snapshot reads from the audit
/// trail (a scan of it; none, not read): those the plan runs
/// `idle_suspend` for ([`runs_strategies`]) that may need their own
/// (`strategy::recalls_from_trail`). So one cluster left alone with no
/// replica does not make every run scan the trail, nor does one another
/// `--cluster` selects. The snapshot asks once the auto-scaling relation
/// is read, where the release has it (`catalog::load`).
pub fn reads_the_trail_for(snap: &Snapshot, selection: &Selection) -> Vec<ClusterId> {
    runs_strategies(snap, selection, |cluster, rows| {
        rows.iter()
            .any(|r| StrategyKind::parse(&r.row.strategy_type) == Some(StrategyKind::IdleSuspend))
            && crate::strategy::recalls_from_trail(cluster, snap.states.get(&cluster.id))
    })
}

/// The statement history the snapshot reads for predictive
/// `idle_suspend` (`strategy::predicting_clusters`): the most days any
/// row learns from, and the predicting clusters the plan runs
/// ([`runs_strategies`]); `None` when it runs none. The window stays the
/// longest of every row, selected or not: where the log's data starts is
/// judged over it, and a cluster's profile depends on that, so a
/// selection plans a cluster exactly as a run over all clusters does.
pub fn learns_demand(snap: &Snapshot, selection: &Selection) -> Option<(u64, Vec<ClusterId>)> {
    let (days, predicting) = crate::strategy::predicting_clusters(&snap.strategies)?;
    let ids = runs_strategies(snap, selection, |cluster, _| {
        predicting.binary_search(&cluster.id).is_ok()
    });
    (!ids.is_empty()).then_some((days, ids))
}

/// Whether an `idle_suspend` row of a planned cluster relies on the
/// statement log (what the plan's warnings and the activity gauge judge).
pub fn relies_on_activity(clusters: &[ClusterPlan]) -> bool {
    clusters.iter().any(|cp| {
        cp.outcome == Outcome::Planned && cp.strategies.contains(&StrategyKind::IdleSuspend)
    })
}

/// Signals that failed or cannot be trusted, said once per plan where a
/// planned cluster relies on them.
fn environment_warnings(snap: &Snapshot, clusters: &[ClusterPlan]) -> Vec<String> {
    let mut out = Vec::new();
    let uses_activity = relies_on_activity(clusters);
    if uses_activity {
        if let Some(why) = rules::activity_problem(snap) {
            // A row with suspend_when_unknown does (it said "does not
            // suspend" above a drop whose reason was that flag: an outside
            // check).
            out.push(format!(
                "{why}; idle_suspend does not suspend (unless its row sets suspend_when_unknown), \
                 and a cluster it suspended stays so until a logged statement wakes it"
            ));
        }
        if let Some(t) = snap.env.activity_future {
            out.push(format!(
                "the statement log has statements dated after the database's clock (up to {}): \
                 taken as beginning now, so their clusters are not idle",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
    if let Some(e) = snap
        .env
        .suspensions_error
        .as_ref()
        .filter(|_| uses_activity)
    {
        out.push(format!(
            "the audit trail's last suspensions cannot be read ({e}): a suspended cluster whose \
             idle_suspend state was wiped is not woken with what it last dropped"
        ));
    }
    if let Some(e) = &snap.env.unfinished_error {
        out.push(format!(
            "the audit trail's unfinished actions cannot be read ({e}): an interrupted run's \
             action that may still be running is not shown, nor a resize Materialize rolled back"
        ));
    }
    if let Some(e) = &snap.env.auto_scaling_error {
        out.push(format!(
            "the auto-scaling relation of this release cannot be read ({e}): clusters \
             Materialize scales itself cannot be told apart"
        ));
    }
    out
}

#[cfg(test)]
mod tests;
