//! The commands, as functions of plain option structs (no clap types):
//! connect → (migrate) → snapshot → plan → render or execute. The CLI layer
//! parses arguments into these options and maps the outcome to an exit code.

use std::time::Duration;

use regex::Regex;
use uuid::Uuid;

use crate::config::Connection;
use crate::db::{Db, DbError};
use crate::exec::{Backend, ExecError, PgBackend};
use crate::plan::{plan, Plan, PlanOptions};
use crate::report::{self, Verbosity};
use crate::snapshot::SnapshotOptions;
use crate::store::Store;

/// Options every database command shares.
#[derive(Debug, Clone)]
pub struct CommonOptions {
    pub url: Option<String>,
    pub cluster_filter: Option<Regex>,
    pub replica_sizes: Option<Vec<String>>,
    pub schema: Option<String>,
    pub exec_cluster: Option<String>,
    pub json: bool,
    pub verbosity: Verbosity,
    pub connect_timeout: Duration,
}

/// How a command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Everything asked for was done.
    Clean,
    /// Done, but some clusters were skipped (invalid configuration) or some
    /// actions failed.
    WithProblems,
}

/// What a command prints: stdout text and stderr lines.
#[derive(Debug, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: Vec<String>,
}

pub struct Context {
    pub db: Db,
    pub store: Store,
    pub snapshot: SnapshotOptions,
    pub common: CommonOptions,
}

impl Context {
    pub fn new(common: CommonOptions) -> Result<Context, ExecError> {
        let url = common
            .url
            .clone()
            .ok_or_else(|| ExecError::Other(crate::config::ConfigError::MissingUrl.to_string()))?;
        let conn = Connection::parse(&url, common.connect_timeout)
            .map_err(|e| ExecError::Other(e.to_string()))?;
        tracing::info!(database = %conn.display, "connecting");
        let db = Db::new(&conn, common.exec_cluster.clone())?;
        Ok(Context {
            db,
            store: Store::new(common.schema.clone()),
            snapshot: SnapshotOptions {
                replica_sizes: common.replica_sizes.clone(),
                exec_cluster: common.exec_cluster.clone(),
                ..SnapshotOptions::default()
            },
            common,
        })
    }

    fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            cluster_filter: self.common.cluster_filter.clone(),
        }
    }
}

fn completion(plan: &Plan, failed_actions: usize) -> Completion {
    if plan.invalid_count() > 0 || failed_actions > 0 {
        Completion::WithProblems
    } else {
        Completion::Clean
    }
}

/// `dry-run`: read-only; never writes, works for a SELECT-only role.
pub async fn dry_run(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    let mut backend = PgBackend {
        client: &client,
        store: &ctx.store,
        options: &ctx.snapshot,
    };
    let snap = backend.snapshot().await?;
    let plan = plan(&snap, &ctx.plan_options());
    let mut out = Output::default();
    if ctx.common.json {
        out.stdout = report::dry_run_json(&plan);
        out.stdout.push('\n');
    } else {
        out.stderr = report::problems(&plan);
        out.stdout = report::plan_text(&plan, ctx.common.verbosity);
    }
    Ok((out, completion(&plan, 0)))
}

/// `apply`: migrate, plan, execute, audit, persist state.
pub async fn apply(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    let applied = ctx.store.migrate(&client).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let mut backend = PgBackend {
        client: &client,
        store: &ctx.store,
        options: &ctx.snapshot,
    };
    let snap = backend.snapshot().await?;
    let plan = plan(&snap, &ctx.plan_options());
    let run_id = Uuid::new_v4();
    let report = crate::exec::apply(&mut backend, &plan, run_id).await?;
    let mut out = Output::default();
    if ctx.common.json {
        out.stdout = report::apply_json(&plan, &report);
        out.stdout.push('\n');
    } else {
        out.stderr = report::problems(&plan);
        out.stdout = report::apply_text(&plan, &report, ctx.common.verbosity);
    }
    Ok((out, completion(&plan, report.failed())))
}

/// `wipe-state`: all state, or that of the clusters matching `--cluster`.
pub async fn wipe_state(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    ctx.store.migrate(&client).await?;
    let ids = match &ctx.common.cluster_filter {
        None => None,
        Some(re) => {
            let rows = client
                .query_typed("SELECT id, name FROM mz_catalog.mz_clusters", &[])
                .await
                .map_err(|e| DbError::query("reading clusters", &e))?;
            let ids: Vec<crate::model::ClusterId> = rows
                .iter()
                .filter_map(|r| {
                    let id: String = r.try_get(0).ok()?;
                    let name: String = r.try_get(1).ok()?;
                    re.is_match(&name).then_some(crate::model::ClusterId(id))
                })
                .collect();
            Some(ids)
        }
    };
    let deleted = match &ids {
        Some(ids) if ids.is_empty() => 0,
        Some(ids) => ctx.store.wipe_states(&client, Some(ids)).await?,
        None => ctx.store.wipe_states(&client, None).await?,
    };
    let scope = match &ids {
        None => "all clusters".to_string(),
        Some(ids) => format!(
            "{} matching cluster{}",
            ids.len(),
            if ids.len() == 1 { "" } else { "s" }
        ),
    };
    let mut out = Output::default();
    if ctx.common.json {
        out.stdout = serde_json::json!({
            "format_version": crate::plan::FORMAT_VERSION,
            "command": "wipe-state",
            "clusters": ids.as_ref().map(|v| v.iter().map(|c| c.0.clone()).collect::<Vec<_>>()),
            "rows_deleted": deleted,
        })
        .to_string();
        out.stdout.push('\n');
    } else {
        out.stdout = format!(
            "Wiped strategy state of {scope} ({deleted} row{} deleted).\n",
            if deleted == 1 { "" } else { "s" }
        );
    }
    Ok((out, Completion::Clean))
}
