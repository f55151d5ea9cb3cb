//! `history`: the audit trail (`mz_cluster_strategy_actions`), newest first,
//! with the strategy and reasons each action carried in `decision_ctx`.
//! One statement for the rows, one for the cluster names; writes nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use super::{CommandError, Context};
use crate::db::catalog;
use crate::db::store::{ActionFilter, ActionRecord};
use crate::model::ClusterId;

#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    /// Only clusters whose name matches.
    pub filter: Option<Regex>,
    /// Only actions newer than this.
    pub since: Option<Duration>,
    /// Only actions that failed (or whose outcome was never recorded).
    pub failed: bool,
    pub limit: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub created_at: DateTime<Utc>,
    pub action_id: String,
    pub run_id: Option<String>,
    pub cluster_id: Option<ClusterId>,
    pub cluster: Option<String>,
    /// executed, failed, or unknown (the run stopped before recording it).
    pub result: &'static str,
    pub kind: Option<String>,
    pub replica: Option<String>,
    pub size: Option<String>,
    pub strategy: Option<String>,
    pub reasons: Vec<String>,
    pub sql: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub entries: Vec<HistoryEntry>,
}

/// `history`: read-only.
pub async fn history(ctx: &Context, opts: &HistoryOptions) -> Result<HistoryReport, CommandError> {
    let mut backend = ctx.backend();
    let names = backend
        .retrying("reading clusters", async |c| {
            catalog::cluster_names(c).await
        })
        .await?;
    let ids: Option<Vec<ClusterId>> = opts.filter.as_ref().map(|re| {
        names
            .iter()
            .filter(|(_, n)| re.is_match(n))
            .map(|(id, _)| id.clone())
            .collect()
    });
    if ids.as_ref().is_some_and(|ids| ids.is_empty()) {
        return Ok(HistoryReport { entries: vec![] });
    }
    let filter = ActionFilter {
        since_s: opts.since.map(|d| d.as_secs()),
        failed_only: opts.failed,
        clusters: ids.as_deref(),
        limit: opts.limit,
    };
    let store = &ctx.store;
    let records = backend
        .retrying("reading the audit trail", async |c| {
            store.actions(c, &filter).await
        })
        .await?;
    let entries = records.into_iter().map(|r| entry_of(r, &names)).collect();
    Ok(HistoryReport { entries })
}

fn entry_of(r: ActionRecord, names: &[(ClusterId, String)]) -> HistoryEntry {
    let cluster = r
        .cluster_id
        .as_ref()
        .and_then(|id| names.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()))
        .or_else(|| r.ctx_text("cluster"));
    HistoryEntry {
        created_at: r.created_at,
        run_id: r.ctx_text("run_id"),
        cluster,
        result: match r.executed {
            Some(true) => "executed",
            Some(false) => "failed",
            None => "unknown",
        },
        kind: r.ctx_text("kind"),
        replica: r.ctx_text("replica"),
        size: r.ctx_text("size"),
        strategy: r.ctx_text("strategy"),
        reasons: r
            .decision_ctx
            .get("reasons")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        action_id: r.action_id,
        cluster_id: r.cluster_id,
        sql: r.action_sql,
        error: r.error,
    }
}
