//! The commands, as functions of plain option structs (no clap types):
//! connect → (migrate) → snapshot → plan → render or execute. The CLI layer
//! parses arguments into these options and maps the outcome to an exit code.

use std::time::Duration;

use regex::Regex;
use uuid::Uuid;

use crate::config::Connection;
use crate::db::{Db, DbError};
use crate::exec::{ApplyOptions, Backend, ExecError};
use crate::lease::{self, Holder};
use crate::pg::{PgBackend, RetryPolicy};
use crate::plan::{plan, Plan, PlanOptions};
use crate::report::{self, Verbosity};
use crate::snapshot::SnapshotOptions;
use crate::store::Store;

/// Options every database command shares.
#[derive(Debug, Clone)]
pub struct CommonOptions {
    pub url: Option<crate::config::DatabaseUrl>,
    pub cluster_filter: Option<Regex>,
    pub replica_sizes: Option<Vec<String>>,
    pub schema: Option<String>,
    pub exec_cluster: Option<String>,
    pub json: bool,
    pub verbosity: Verbosity,
    pub connect_timeout: Duration,
    /// Client-side deadline of every statement.
    pub statement_timeout: Duration,
    pub retry: RetryPolicy,
    /// How long a taken lease lasts unless renewed.
    pub lease_ttl: Duration,
    /// Wait this long for a held lease instead of exiting at once.
    pub lease_wait: Option<Duration>,
    /// At most this many DDL statements per run.
    pub max_actions: Option<usize>,
    /// `WAIT UNTIL READY` timeout of managed clusters' graceful resizes.
    pub resize_timeout: Duration,
    /// `dry-run --detailed-exitcode`: pending changes exit 2 (Terraform's convention).
    pub detailed_exitcode: bool,
}

impl Default for CommonOptions {
    fn default() -> Self {
        CommonOptions {
            url: None,
            cluster_filter: None,
            replica_sizes: None,
            schema: None,
            exec_cluster: None,
            json: false,
            verbosity: Verbosity::Normal,
            connect_timeout: crate::db::DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            lease_ttl: Duration::from_secs(300),
            lease_wait: None,
            max_actions: None,
            resize_timeout: Duration::from_secs(600),
            detailed_exitcode: false,
        }
    }
}

/// How a command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Everything asked for was done.
    Clean,
    /// Done, but some clusters were skipped (invalid configuration) or some
    /// actions failed.
    WithProblems,
    /// `dry-run` only: done, no problems, and the plan has actions.
    ChangesPending,
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
        let conn = Connection::parse(url.expose(), common.connect_timeout)
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
            resize_timeout: self.common.resize_timeout,
        }
    }

    pub fn backend(&self) -> PgBackend<'_> {
        let mut b = PgBackend::new(
            &self.db,
            &self.store,
            &self.snapshot,
            self.common.retry.clone(),
            self.common.statement_timeout,
        );
        b.set_resize_timeout(self.common.resize_timeout);
        b
    }
}

/// The one line printed when another controller holds the lease.
fn lease_busy(
    ctx: &Context,
    holder: &str,
    until: chrono::DateTime<chrono::Utc>,
) -> (Output, Completion) {
    let line = format!(
        "Another controller holds the lease ({holder}) until {}; not acting this time.",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let stdout = if ctx.common.json {
        serde_json::json!({
            "format_version": crate::plan::FORMAT_VERSION,
            "command": "lease",
            "lease": {"held_by": holder, "until": until},
        })
        .to_string()
            + "\n"
    } else {
        line + "\n"
    };
    (
        Output {
            stdout,
            stderr: Vec::new(),
        },
        Completion::Clean,
    )
}

/// What a command run under the lease came to.
#[derive(Debug)]
pub enum Leased<T> {
    Ran(T),
    /// Another controller holds the lease: nothing was done.
    Busy {
        holder: String,
        until: chrono::DateTime<chrono::Utc>,
    },
}

/// Runs `body` holding the lease; someone else's lease ends the command
/// cleanly (`Leased::Busy`), having done nothing.
async fn with_lease<'c, T, F>(
    ctx: &'c Context,
    backend: &mut PgBackend<'c>,
    run_id: Uuid,
    body: F,
) -> Result<Leased<T>, ExecError>
where
    F: AsyncFnOnce(&mut PgBackend<'c>) -> Result<T, ExecError>,
{
    let me = Holder::me(&run_id);
    match backend
        .acquire_lease(&me, ctx.common.lease_ttl, ctx.common.lease_wait)
        .await?
    {
        lease::Acquired::HeldBy { holder, until } => return Ok(Leased::Busy { holder, until }),
        lease::Acquired::Yes { .. } => backend.hold_lease(me, ctx.common.lease_ttl),
    }
    let result = body(backend).await;
    if let Err(e) = backend.release_lease().await {
        tracing::warn!("could not release the lease (it expires by itself): {e}");
    }
    result.map(Leased::Ran)
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
    let mut backend = ctx.backend();
    let snap = backend.snapshot().await?;
    let plan = plan(&snap, &ctx.plan_options());
    report::log_decisions(&plan);
    let mut out = Output::default();
    if ctx.common.json {
        out.stdout = report::dry_run_json(&plan);
        out.stdout.push('\n');
    } else {
        out.stderr = report::problems(&plan);
        out.stdout = report::plan_text(&plan, ctx.common.verbosity);
    }
    let completion = match completion(&plan, 0) {
        Completion::Clean if plan.action_count() > 0 => Completion::ChangesPending,
        other => other,
    };
    Ok((out, completion))
}

/// What one `apply` run saw and did: for rendering, metrics and watch mode.
#[derive(Debug)]
pub struct Applied {
    pub snapshot: crate::model::Snapshot,
    pub plan: Plan,
    pub report: crate::exec::ApplyReport,
}

/// `apply`: migrate, take the lease, plan, execute, audit, persist state.
pub async fn apply(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let run = apply_run(ctx, None).await?;
    Ok(render_apply(ctx, &run))
}

/// One `apply` run; with `stop`, a set flag ends it between two actions
/// (the remaining ones are reported as skipped).
pub async fn apply_run(
    ctx: &Context,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Result<Leased<Applied>, ExecError> {
    let mut backend = ctx.backend();
    if let Some(flag) = stop {
        backend.stop_on(flag);
    }
    let applied = backend.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let run_id = Uuid::new_v4();
    with_lease(ctx, &mut backend, run_id, async |backend| {
        // The snapshot is read under the lease: what another controller did
        // before us is already in it.
        let snap = backend.snapshot().await?;
        let settled = backend.settle_unfinished(&snap, &run_id).await?;
        if settled > 0 {
            tracing::warn!("{settled} action(s) of an interrupted run had no recorded outcome; settled from the catalog");
        }
        let plan = plan(&snap, &ctx.plan_options());
        report::log_decisions(&plan);
        let opts = ApplyOptions {
            max_actions: ctx.common.max_actions,
        };
        let report = crate::exec::apply(backend, &plan, run_id, &opts).await?;
        Ok(Applied {
            snapshot: snap,
            plan,
            report,
        })
    })
    .await
}

/// The text or JSON of an `apply` run, and how it ended.
pub fn render_apply(ctx: &Context, run: &Leased<Applied>) -> (Output, Completion) {
    let Applied { plan, report, .. } = match run {
        Leased::Ran(a) => a,
        Leased::Busy { holder, until } => return lease_busy(ctx, holder, *until),
    };
    let mut out = Output::default();
    if ctx.common.json {
        out.stdout = report::apply_json(plan, report);
        out.stdout.push('\n');
    } else {
        out.stderr = report::problems(plan);
        out.stdout = report::apply_text(plan, report, ctx.common.verbosity);
    }
    (out, completion(plan, report.failed()))
}

/// `unlock --force`: break the lease whoever holds it; audited.
pub async fn unlock(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let mut backend = ctx.backend();
    backend.migrate().await?;
    let store = backend.store();
    let (holder, until) = backend
        .retrying("breaking the lease", async |c| {
            lease::force_release(c, store).await
        })
        .await?;
    let row = crate::store::AuditRow {
        action_id: Uuid::new_v4().to_string(),
        cluster_id: crate::model::ClusterId(String::new()),
        action_sql: "-- clusterctl unlock --force".into(),
        decision_ctx: serde_json::json!({
            "kind": "unlock",
            "previous_holder": holder,
            "previous_until": until,
            "by": Holder::me(&Uuid::new_v4()).0,
        }),
        created_at: chrono::Utc::now(),
    };
    backend.audit(&row).await?;
    backend.audit_outcome(&row.action_id, true, None).await?;
    let out = Output {
        stdout: if holder.is_empty() {
            "The lease was free; nothing to break.\n".into()
        } else {
            format!(
                "Broke the lease held by {holder} (until {}).\n",
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        },
        stderr: Vec::new(),
    };
    Ok((out, Completion::Clean))
}

/// `wipe-state`: all state, or that of the clusters matching `--cluster`.
pub async fn wipe_state(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let mut backend = ctx.backend();
    backend.migrate().await?;
    let run_id = Uuid::new_v4();
    match with_lease(ctx, &mut backend, run_id, async |_| {
        wipe_state_locked(ctx).await
    })
    .await?
    {
        Leased::Ran(done) => Ok(done),
        Leased::Busy { holder, until } => Ok(lease_busy(ctx, &holder, until)),
    }
}

async fn wipe_state_locked(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
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
