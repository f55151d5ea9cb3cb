//! Carrying out a plan: one DDL statement at a time, an audit row for every
//! action attempted, the first failure stops that cluster's remaining
//! actions (others go on), then the new state of every cluster that had no
//! failure is persisted. Written once against the `Backend` trait so the
//! real database and the simulator run the same engine.

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

use crate::db::{describe, Client, DbError};
use crate::model::{ClusterId, Snapshot};
use crate::plan::{Action, ActionKind, ClusterPlan, Plan};
use crate::snapshot::{SnapshotError, SnapshotOptions};
use crate::store::{AuditRow, Store};

#[derive(Debug, Error)]
pub enum ExecError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}")]
    Other(String),
}

/// Where plans come from and go to.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// The backend's clock (the database's, or the simulator's).
    fn now(&self) -> DateTime<Utc>;
    async fn snapshot(&mut self) -> Result<Snapshot, ExecError>;
    /// Runs one DDL statement; the error is the server's message.
    async fn execute_ddl(&mut self, action: &Action) -> Result<(), String>;
    async fn audit(&mut self, row: &AuditRow) -> Result<(), ExecError>;
    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), ExecError>;
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActionStatus {
    Executed,
    Failed {
        error: String,
    },
    /// Not attempted: an earlier action of the same cluster failed.
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

/// Executes `plan` against `backend`.
pub async fn apply<B: Backend>(
    backend: &mut B,
    plan: &Plan,
    run_id: Uuid,
) -> Result<ApplyReport, ExecError> {
    let mut results = Vec::new();
    let mut states = Vec::new();
    for cp in &plan.clusters {
        let failed = apply_cluster(backend, cp, run_id, &mut results).await?;
        if !failed {
            if let Some(state) = &cp.new_state {
                states.push((cp.cluster_id.clone(), state.clone()));
            }
        }
    }
    if !states.is_empty() {
        let at = backend.now();
        backend.persist_states(&states, at).await?;
    }
    Ok(ApplyReport {
        run_id,
        results,
        states_written: states.len(),
    })
}

/// Returns whether an action of the cluster failed.
async fn apply_cluster<B: Backend>(
    backend: &mut B,
    cp: &ClusterPlan,
    run_id: Uuid,
    results: &mut Vec<ActionResult>,
) -> Result<bool, ExecError> {
    let mut failure: Option<String> = None;
    for action in &cp.actions {
        let action_id = Uuid::new_v4().to_string();
        if let Some(first) = &failure {
            results.push(ActionResult {
                action_id,
                action: action.clone(),
                status: ActionStatus::Skipped {
                    reason: format!("an earlier action on {} failed: {first}", cp.cluster),
                },
            });
            continue;
        }
        tracing::info!(cluster = %cp.cluster, strategy = %action.strategy, sql = %action.sql, "executing");
        let outcome = backend.execute_ddl(action).await;
        let row = AuditRow {
            action_id: action_id.clone(),
            cluster_id: cp.cluster_id.clone(),
            action_sql: action.sql.clone(),
            decision_ctx: decision_ctx(run_id, cp, action),
            executed: outcome.is_ok(),
            error_message: outcome.as_ref().err().cloned(),
            created_at: backend.now(),
        };
        // An action we cannot audit stops the run: the trail must be complete.
        backend.audit(&row).await?;
        let status = match outcome {
            Ok(()) => ActionStatus::Executed,
            Err(error) => {
                tracing::warn!(cluster = %cp.cluster, sql = %action.sql, %error, "action failed");
                failure = Some(error.clone());
                ActionStatus::Failed { error }
            }
        };
        results.push(ActionResult {
            action_id,
            action: action.clone(),
            status,
        });
    }
    Ok(failure.is_some())
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

/// The real thing: Materialize (or the emulator) over the wire.
pub struct PgBackend<'a> {
    pub client: &'a Client,
    pub store: &'a Store,
    pub options: &'a SnapshotOptions,
}

impl Backend for PgBackend<'_> {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn snapshot(&mut self) -> Result<Snapshot, ExecError> {
        Ok(crate::snapshot::load(self.client, self.store, self.options).await?)
    }

    async fn execute_ddl(&mut self, action: &Action) -> Result<(), String> {
        // Simple-query protocol, one statement, autocommit.
        self.client
            .batch_execute(&action.sql)
            .await
            .map_err(|e| describe(&e))
    }

    async fn audit(&mut self, row: &AuditRow) -> Result<(), ExecError> {
        Ok(self.store.audit(self.client, row).await?)
    }

    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), ExecError> {
        Ok(self.store.write_states(self.client, states, at).await?)
    }
}

/// Counts of what a plan would do, for summaries.
pub fn count_kinds<'a>(actions: impl Iterator<Item = &'a Action>) -> (usize, usize) {
    actions.fold((0, 0), |(c, d), a| match a.kind {
        ActionKind::CreateReplica => (c + 1, d),
        ActionKind::DropReplica => (c, d + 1),
    })
}
