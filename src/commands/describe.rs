//! `describe CLUSTER` (like `kubectl describe`): everything about one
//! cluster in one place: its strategies with their config, validation and
//! state; its replicas with size, hydration, age and crashes; the signals;
//! what the planner would do now and what is pending with when it is due;
//! and the recent history including strategy changes. Read-only: one
//! snapshot, one statement for replica ages, one for the history. The
//! condition is `status`'s, decided there.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::history::{entry_of, HistoryEntry};
use super::status::{self, ActivityStatus, Condition};
use super::{resolve, CommandError, Context};
use crate::db::store::ActionFilter;
use crate::model::{ClusterId, PAUSE};
use crate::plan::rows::{self, Finding};
use crate::plan::{self, Action, Deferred, PlanOptions, PlanState, Selection};
use crate::strategy::StrategyKind;

#[derive(Debug, Clone, Serialize)]
pub struct DescribedStrategy {
    pub strategy_type: String,
    /// Null when it cannot be read (`config_unreadable` says why).
    pub config: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_unreadable: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Older rows of the same type, ignored.
    pub older_rows: usize,
    /// What the strategy keeps between runs (its state slot), if anything.
    pub state: serde_json::Value,
    /// Why the state slot cannot be read (the next plan starts it afresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_unreadable: Option<String>,
    /// The validator's findings on this row.
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DescribedReplica {
    pub id: String,
    pub name: String,
    pub size: Option<String>,
    pub hydrated: bool,
    /// How many of the cluster's objects it reports hydrated (absent when
    /// the cluster has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objects: Option<crate::model::Objects>,
    /// Offline now, not starting (`Replica::offline`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// Seconds since its first status event (null when unknown).
    pub age_seconds: Option<u64>,
    pub crashes: u32,
    pub ooms: u32,
    pub last_crash: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DescribedSignals {
    pub activity: ActivityStatus,
    pub last_activity: Option<DateTime<Utc>>,
    pub in_flight: u32,
    /// Whether the statement log had any row at all (else activity is unknown).
    pub statement_log_has_rows: bool,
    /// Why the statement log could not be read (activity is then unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement_log_unreadable: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub now: DateTime<Utc>,
    pub cluster_id: ClusterId,
    pub cluster: String,
    pub managed: bool,
    pub size: Option<String>,
    pub replication_factor: Option<i64>,
    pub condition: Condition,
    pub reason: String,
    /// The plan's word: converged, waiting, changes, …; null without strategies.
    pub plan: Option<PlanState>,
    pub strategies: Vec<DescribedStrategy>,
    /// Problems of the set of rows (conflicts), not of one row.
    pub findings: Vec<Finding>,
    pub replicas: Vec<DescribedReplica>,
    pub signals: DescribedSignals,
    /// What the next `apply` would do.
    pub actions: Vec<Action>,
    /// Pending work not due yet, with when it is due.
    pub waiting: Vec<Deferred>,
    pub notes: Vec<String>,
    pub alerts: Vec<String>,
    /// What `idle_suspend` with `predict` learned: the demand profile,
    /// hydration times, the lead and the next wake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<crate::strategy::predict::Prediction>,
    /// The newest audit rows of the cluster: actions and strategy changes.
    pub history: Vec<HistoryEntry>,
}

/// `describe CLUSTER`: read-only.
pub async fn describe(
    ctx: &Context,
    cluster: &str,
    history_limit: u32,
) -> Result<Description, CommandError> {
    let mut backend = ctx.backend();
    // What the plan alone reads per cluster (the trail's last suspensions,
    // the statement history), for this cluster only: the argument selects
    // what `resolve` finds (`Selection::args` reads it as `find_cluster`).
    backend.plans(&Selection::names(&[cluster]));
    let snap = crate::exec::Backend::snapshot(&mut backend).await?;
    let target = resolve(&snap, cluster, false)?;
    let Some(c) = snap.cluster(&target.id) else {
        return Err(CommandError::NotFound(format!("no cluster {cluster}")));
    };
    let plan = plan::plan(
        &snap,
        &PlanOptions {
            // By name: names win over ids (`plan::Bound`), and another
            // cluster may be named like this one's id.
            selection: Selection::names(&[&c.name]),
            ..PlanOptions::default()
        },
    );
    let cp = plan.clusters.iter().find(|p| p.cluster_id == c.id);
    let (condition, reason) = status::condition(&snap, c, cp);
    let names = vec![(c.id.clone(), c.name.clone())];
    let ids = [c.id.clone()];
    let filter = ActionFilter {
        clusters: Some(&ids),
        limit: Some(history_limit),
        ..ActionFilter::default()
    };
    let store = &ctx.store;
    // `--history 0`: none, and the trail is not read.
    let records = match history_limit {
        0 => Vec::new(),
        _ => {
            backend
                .retrying("reading the audit trail", async |conn| {
                    store.actions(conn, &filter).await
                })
                .await?
        }
    };

    let in_effect = rows::in_effect(&snap.strategies)
        .remove(&c.id)
        .unwrap_or_default();
    let validated = rows::validate(Some(c), &in_effect, &snap.sizes);
    let state = snap.states.get(&c.id);
    let rank = |t: &str| StrategyKind::parse(t).map_or(u8::MAX, |k| k.priority());
    let mut strategies: Vec<DescribedStrategy> = in_effect
        .iter()
        .map(|r| {
            let ty = r.row.strategy_type.clone();
            let state = state
                .and_then(|s| s.get(&ty))
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            DescribedStrategy {
                findings: validated
                    .findings
                    .iter()
                    .filter(|f| f.strategy_type.as_deref() == Some(ty.as_str()))
                    .cloned()
                    .collect(),
                state_unreadable: StrategyKind::parse(&ty).and_then(|k| k.state_error(&state)),
                state,
                config: r.row.config.clone(),
                config_unreadable: r.row.unreadable.clone(),
                updated_at: r.row.updated_at,
                older_rows: r.older,
                strategy_type: ty,
            }
        })
        .collect();
    strategies.sort_by_key(|s| (s.strategy_type == PAUSE, rank(&s.strategy_type)));
    let replicas = c
        .replicas
        .iter()
        .map(|r| DescribedReplica {
            id: r.id.clone(),
            name: r.name.clone(),
            size: r.size.as_ref().map(|s| s.0.clone()),
            hydrated: r.hydrated,
            objects: r.objects,
            offline: r.offline,
            age_seconds: r.since.map(|t| (snap.now - t).num_seconds().max(0) as u64),
            crashes: r.crash.crashes,
            ooms: r.crash.ooms,
            last_crash: r.crash.last_crash,
        })
        .collect();
    Ok(Description {
        now: snap.now,
        cluster_id: c.id.clone(),
        cluster: c.name.clone(),
        managed: c.managed,
        size: c.size.as_ref().map(|s| s.0.clone()),
        replication_factor: c.replication_factor,
        condition,
        reason,
        plan: cp.map(plan::ClusterPlan::state),
        strategies,
        findings: validated
            .findings
            .iter()
            .filter(|f| f.strategy_type.is_none())
            .cloned()
            .collect(),
        replicas,
        signals: DescribedSignals {
            activity: status::activity_of(&snap, c, cp),
            last_activity: snap.last_statement(c),
            in_flight: c.activity.in_flight,
            statement_log_has_rows: snap.activity_log_has_rows,
            statement_log_unreadable: snap.env.activity_error.clone(),
        },
        actions: cp.map(|p| p.actions.clone()).unwrap_or_default(),
        waiting: cp.map(|p| p.waiting.clone()).unwrap_or_default(),
        notes: cp.map(|p| p.notes.clone()).unwrap_or_default(),
        alerts: cp.map(|p| p.alerts.clone()).unwrap_or_default(),
        prediction: cp.and_then(|p| p.prediction.as_deref().cloned()),
        history: {
            let by_id = super::history::names_by_id(&names);
            records.into_iter().map(|r| entry_of(r, &by_id)).collect()
        },
    })
}
