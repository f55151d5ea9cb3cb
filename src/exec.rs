//! Carrying out a plan: one DDL statement at a time. Before each statement an
//! audit row records the intent; after it, the same row records the outcome,
//! so a run killed mid-DDL still leaves a trace. Just before a cluster's
//! actions its live replicas are re-read and compared with the snapshot (the
//! plan guard); the first failure stops that cluster's remaining actions
//! while other clusters go on; then the new state of every cluster that
//! completed is persisted. Written once against the `Backend` trait so the
//! real database and the simulator run the same engine.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::model::{ClusterId, Size, Snapshot};
use crate::plan::{Action, ActionKind, ClusterPlan, Plan};

/// One audit row: an action about to be attempted. Its outcome is recorded
/// on the same row afterwards (`Backend::audit_outcome`).
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub action_id: String,
    pub cluster_id: ClusterId,
    pub action_sql: String,
    pub decision_ctx: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Where plans come from and go to.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// What goes wrong on this backend (a lost connection, a lost lease).
    type Error;
    /// The backend's clock (wall clock, or the simulator's).
    fn now(&self) -> DateTime<Utc>;
    async fn snapshot(&mut self) -> Result<Snapshot, Self::Error>;
    /// Runs one DDL statement; the error is the server's message.
    async fn execute_ddl(&mut self, action: &Action) -> Result<(), String>;
    /// Records an action about to be attempted.
    async fn audit(&mut self, row: &AuditRow) -> Result<(), Self::Error>;
    /// Records how an attempted action ended.
    async fn audit_outcome(
        &mut self,
        _action_id: &str,
        _executed: bool,
        _error: Option<&str>,
    ) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), Self::Error>;
    /// The cluster's replicas right now, `(name, size)`, for the plan guard;
    /// `None` when the backend cannot change behind our back.
    async fn replicas_now(
        &mut self,
        _cluster: &ClusterId,
    ) -> Result<Option<Vec<(String, Option<Size>)>>, Self::Error> {
        Ok(None)
    }
    /// Called before each cluster: renews the lease, fails if it was lost.
    async fn keep_alive(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
    /// A shutdown was requested (SIGTERM/SIGINT): finish the action under
    /// way, attempt no other.
    fn stop_requested(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActionStatus {
    Executed,
    Failed {
        error: String,
    },
    /// Not attempted: an earlier action of the same cluster failed, or the
    /// cluster changed since the snapshot, or `--max-actions` was reached.
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    pub action_id: String,
    #[serde(flatten)]
    pub action: Action,
    #[serde(flatten)]
    pub status: ActionStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    pub run_id: Uuid,
    pub results: Vec<ActionResult>,
    /// Clusters skipped by the plan guard (changed since the snapshot).
    pub changed_clusters: Vec<String>,
    /// Clusters whose state was persisted.
    pub states_written: usize,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, ActionStatus::Failed { .. }))
            .count()
    }

    pub fn executed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.status == ActionStatus::Executed)
            .count()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// At most this many DDL statements in this run (`--max-actions`).
    pub max_actions: Option<usize>,
    /// Told what happens as it happens (`apply` streams it).
    pub observer: Option<Observer>,
}

/// What the executor is doing, for a caller that shows progress.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Before the first action: the plan about to be carried out.
    Plan(&'a Plan),
    /// An action is about to be sent.
    Started(&'a Action),
    /// An action ended (executed, failed or skipped).
    Finished(&'a ActionResult),
}

/// A progress callback (the caller measures time: the engine reads no clock).
#[derive(Clone)]
pub struct Observer(pub std::sync::Arc<dyn Fn(Progress<'_>) + Send + Sync>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

fn tell(opts: &ApplyOptions, p: Progress<'_>) {
    if let Some(o) = &opts.observer {
        (o.0)(p);
    }
}

/// Executes `plan` against `backend`.
pub async fn apply<B: Backend>(
    backend: &mut B,
    plan: &Plan,
    run_id: Uuid,
    opts: &ApplyOptions,
) -> Result<ApplyReport, B::Error> {
    let mut report = ApplyReport {
        run_id,
        results: Vec::new(),
        changed_clusters: Vec::new(),
        states_written: 0,
    };
    let mut budget = opts.max_actions.unwrap_or(usize::MAX);
    let mut states = Vec::new();
    tell(opts, Progress::Plan(plan));
    for cp in &plan.clusters {
        if !cp.actions.is_empty() {
            backend.keep_alive().await?;
        }
        let seen = report.results.len();
        let completed = apply_cluster(backend, cp, run_id, &mut budget, &mut report, opts).await?;
        // Skipped actions were never started: report them as they are known.
        for r in &report.results[seen..] {
            if matches!(r.status, ActionStatus::Skipped { .. }) {
                tell(opts, Progress::Finished(r));
            }
        }
        if completed {
            if let Some(state) = &cp.new_state {
                states.push((cp.cluster_id.clone(), state.clone()));
            }
        }
    }
    if !states.is_empty() {
        // Stamped with the database's clock (the snapshot's), so versions
        // order correctly even when controllers' clocks disagree.
        backend.persist_states(&states, plan.now).await?;
    }
    report.states_written = states.len();
    Ok(report)
}

/// Runs one cluster's actions; returns whether all of them were executed.
async fn apply_cluster<B: Backend>(
    backend: &mut B,
    cp: &ClusterPlan,
    run_id: Uuid,
    budget: &mut usize,
    report: &mut ApplyReport,
    opts: &ApplyOptions,
) -> Result<bool, B::Error> {
    if cp.actions.is_empty() {
        return Ok(true);
    }
    if let Some(now) = backend.replicas_now(&cp.cluster_id).await? {
        if !same_replicas(&now, &cp.observed) {
            // Reported with the skipped actions; logged for pipelines.
            tracing::info!(cluster = %cp.cluster, "replicas changed since the snapshot; skipping this round");
            report.changed_clusters.push(cp.cluster.clone());
            skip_all(cp, report, "the cluster's replicas changed since the plan was made (someone ran DDL?); skipped this round, the next run re-plans");
            return Ok(false);
        }
    }
    let mut stop: Option<String> = None;
    for action in &cp.actions {
        if stop.is_none() && *budget == 0 {
            stop = Some("--max-actions reached; the next run continues".into());
        }
        if stop.is_none() && backend.stop_requested() {
            stop = Some("shutting down (signal received); the next run continues".into());
        }
        if let Some(reason) = &stop {
            report.results.push(skipped(action, reason.clone()));
            continue;
        }
        *budget -= 1;
        tell(opts, Progress::Started(action));
        let (action_id, status) = run_action(backend, cp, action, run_id).await?;
        if let ActionStatus::Failed { error } = &status {
            stop = Some(format!(
                "an earlier action on {} failed: {error}",
                cp.cluster
            ));
        }
        let result = ActionResult {
            action_id,
            action: action.clone(),
            status,
        };
        tell(opts, Progress::Finished(&result));
        report.results.push(result);
    }
    Ok(stop.is_none())
}

async fn run_action<B: Backend>(
    backend: &mut B,
    cp: &ClusterPlan,
    action: &Action,
    run_id: Uuid,
) -> Result<(String, ActionStatus), B::Error> {
    let action_id = action_id(run_id, cp, action);
    let row = AuditRow {
        action_id: action_id.clone(),
        cluster_id: cp.cluster_id.clone(),
        action_sql: action.sql.clone(),
        decision_ctx: decision_ctx(run_id, cp, action),
        created_at: backend.now(),
    };
    // No DDL without its audit row: if the intent cannot be written, stop.
    backend.audit(&row).await?;
    tracing::info!(cluster = %cp.cluster, strategy = %action.strategy, sql = %action.sql, "executing");
    let outcome = backend.execute_ddl(action).await;
    backend
        .audit_outcome(
            &action_id,
            outcome.is_ok(),
            outcome.as_ref().err().map(String::as_str),
        )
        .await?;
    let status = match outcome {
        Ok(()) => ActionStatus::Executed,
        Err(error) => {
            // Reported with the action's result; logged for pipelines.
            tracing::info!(cluster = %cp.cluster, sql = %action.sql, %error, "action failed");
            ActionStatus::Failed { error }
        }
    };
    Ok((action_id, status))
}

/// A deterministic id per (run, cluster, action): a retried audit write
/// finds its own row instead of adding a second one.
fn action_id(run_id: Uuid, cp: &ClusterPlan, action: &Action) -> String {
    let name = format!("{}\u{0}{}", cp.cluster_id, action.sql);
    Uuid::new_v5(&run_id, name.as_bytes()).to_string()
}

fn skipped(action: &Action, reason: String) -> ActionResult {
    ActionResult {
        action_id: String::new(),
        action: action.clone(),
        status: ActionStatus::Skipped { reason },
    }
}

fn skip_all(cp: &ClusterPlan, report: &mut ApplyReport, reason: &str) {
    for action in &cp.actions {
        report.results.push(skipped(action, reason.to_string()));
    }
}

fn same_replicas(now: &[(String, Option<Size>)], observed: &[(String, Option<Size>)]) -> bool {
    let mut a = now.to_vec();
    let mut b = observed.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// Why an action was taken, for the audit row: enough to answer "why did
/// this replica disappear at 03:12?" from SQL alone.
fn decision_ctx(run_id: Uuid, cp: &ClusterPlan, action: &Action) -> serde_json::Value {
    serde_json::json!({
        "run_id": run_id.to_string(),
        "controller": concat!("clusterctl ", env!("CARGO_PKG_VERSION")),
        "cluster": cp.cluster,
        "strategy": action.strategy,
        "kind": action.kind,
        "replica": action.replica,
        "size": action.size,
        "reasons": action.reasons,
        "strategies": cp.strategies,
        "signals": cp.signals,
    })
}

/// Counts of what a plan would do, for summaries: (creates, drops,
/// cluster-level changes of managed clusters).
pub fn count_kinds<'a>(actions: impl Iterator<Item = &'a Action>) -> (usize, usize, usize) {
    actions.fold((0, 0, 0), |(c, d, m), a| match a.kind {
        ActionKind::CreateReplica => (c + 1, d, m),
        ActionKind::DropReplica => (c, d + 1, m),
        ActionKind::SetReplicationFactor | ActionKind::SetSize => (c, d, m + 1),
    })
}
