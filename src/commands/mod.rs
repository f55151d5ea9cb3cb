//! The commands, one file per family, each a function of plain option
//! structs (no clap types) that returns a value: `reconcile` (dry-run,
//! apply, apply --watch), `strategy` (set, rm, mv, ls, pause, resume), `status`,
//! `check`, `history`, `init`, `admin` (unlock, wipe-state), `doctor`
//! (will it work here?), and `session` (the session-cluster check every
//! connected command passes first, and `--create-replica`). They never
//! print and never exit: `cli` renders what they return (`render`) and
//! maps it to an exit code. Errors are typed ([`CommandError`]).

// The shell: this module reads the clock, the environment, files and the
// database on purpose (clippy.toml bans that in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod admin;
pub mod backtest;
pub mod check;
pub mod describe;
pub mod doctor;
pub mod history;
pub mod init;
pub mod reconcile;
pub mod session;
pub mod status;
pub mod strategy;

use std::time::Duration;

use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::config::{ConfigError, Connection, DatabaseUrl};
use crate::db::catalog::SnapshotOptions;
use crate::db::lease::{self, Holder};
use crate::db::live::{LiveBackend, RetryPolicy};
use crate::db::store::Store;
use crate::db::{Db, DbError};

/// How a command failed: each kind has its own exit code in `cli`.
#[derive(Debug, Error)]
pub enum CommandError {
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// The connection settings are missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A cluster named on the command line does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A write that would leave an invalid configuration: nothing written.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(DbError),
    /// Our tables are missing, said for a command that never creates them
    /// (`wipe-state`): a database error as every command's
    /// [`DbError::TablesMissing`] is (JSON `database`), in its own words.
    #[error("{0}")]
    TablesMissing(String),
    /// A run the database stopped after it acted (a write of its
    /// bookkeeping failed after a DDL): the database's error as it came (a
    /// timeout stays a timeout), and what becomes of what the run did.
    #[error("{0}: the run stopped there: what it did is in the audit trail, and the next run settles from the catalog any action left without an outcome")]
    StoppedMidway(DbError),
    /// The session cluster cannot serve our tables (reference §8.2):
    /// nothing was done. A configuration error, like a wrong URL.
    #[error("{0}")]
    SessionCluster(String),
    /// `apply --plan`: the plan made now is not the saved one; nothing
    /// was done.
    #[error("{0}")]
    StalePlan(String),
    /// A signal ended the command before it finished.
    #[error("{0}")]
    Interrupted(String),
    /// Local files or the process environment (signals, sockets).
    #[error("{0}")]
    Io(String),
    /// An `apply` stopped after it began acting (a lost lease, a failed
    /// write of its bookkeeping): the error, and the results of what it
    /// did before (JSON's `error.results`; the text showed them as they
    /// came).
    #[error("{error}")]
    StoppedAfter {
        error: Box<CommandError>,
        results: Vec<crate::exec::ActionResult>,
    },
    /// A writing command found the lease held by a live controller.
    #[error("another controller holds the lease ({}) until {}; nothing was done ({})", crate::model::printable(.holder), lease::until_text(*.until), lease_busy_advice(*.waited, .until.is_none(), .schema.as_deref()))]
    LeaseBusy {
        holder: String,
        /// `--schema`: the installation whose lease it is, which `unlock`
        /// is told to name (without it, another installation's lease was
        /// broken: the lease is per installation).
        schema: Option<String>,
        /// `None`: held until broken (`lease::Row::until`).
        until: Option<DateTime<Utc>>,
        /// `--wait`, when given: how long it waited in vain.
        waited: Option<Duration>,
    },
}

impl From<DbError> for CommandError {
    /// A run a signal stopped before it did anything is interrupted, not
    /// failed on the database.
    fn from(e: DbError) -> CommandError {
        match e {
            DbError::Interrupted { .. } => CommandError::Interrupted(e.to_string()),
            e => CommandError::Db(e),
        }
    }
}

impl CommandError {
    /// The database's error, when the database is what failed.
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            CommandError::Db(e) | CommandError::StoppedMidway(e) => Some(e),
            CommandError::StoppedAfter { error, .. } => error.db_error(),
            _ => None,
        }
    }

    /// A stable, machine-readable name for the JSON `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::Usage(_) => "usage",
            CommandError::Config(_) => "config",
            CommandError::NotFound(_) => "not_found",
            CommandError::Refused(_) => "refused",
            CommandError::StalePlan(_) => "stale_plan",
            CommandError::Db(_)
            | CommandError::StoppedMidway(_)
            | CommandError::TablesMissing(_) => "database",
            CommandError::Interrupted(_) => "interrupted",
            CommandError::Io(_) => "io",
            CommandError::LeaseBusy { .. } => "lease_busy",
            CommandError::SessionCluster(_) => "session_cluster",
            CommandError::StoppedAfter { error, .. } => error.code(),
        }
    }

    /// What a run stopped by this error did before (`StoppedAfter`).
    pub fn results(&self) -> Option<&[crate::exec::ActionResult]> {
        match self {
            CommandError::StoppedAfter { results, .. } => Some(results),
            _ => None,
        }
    }
}

/// A bound of a time range given on the command line: a duration before
/// now (`2h`) or a time (`2026-11-22T10:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeBound {
    Ago(Duration),
    At(DateTime<Utc>),
}

impl TimeBound {
    /// Whether a range from `self` (`--since`) to `until` is empty, when
    /// that can be told without a clock: both durations or both times. A
    /// duration and a time compare only against the database's now (this
    /// host's clock may be off by a day): `false` then, and a range that
    /// turns out empty matches nothing, which the result says.
    pub fn surely_after(&self, until: &TimeBound) -> bool {
        match (self, until) {
            (TimeBound::Ago(since), TimeBound::Ago(until)) => since < until,
            (TimeBound::At(since), TimeBound::At(until)) => since > until,
            _ => false,
        }
    }

    /// For a pause: a duration counts from now.
    pub fn from_now(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeBound::Ago(d) => {
                now + chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::zero())
            }
            TimeBound::At(t) => *t,
        }
    }
}

/// Who runs this command, for audit rows of strategy changes: the OS user
/// and host, and the database role of the connection.
pub fn operator(opts: &DbOptions) -> serde_json::Value {
    let user = crate::process::os_user();
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".into());
    let role = opts
        .url
        .as_ref()
        .and_then(|u| Connection::parse_with(u.expose(), opts.connect_timeout).ok())
        .and_then(|c| c.pg.get_user().map(str::to_string));
    serde_json::json!({ "user": format!("{user}@{host}"), "role": role })
}

/// The audit row of an operator's command (a strategy change,
/// `wipe-state`, `unlock --force`, a pruning): one shape for all, written
/// in one INSERT as done. `decision_ctx` is `kind`, the controller, the
/// run it belongs to (`run_id`: the command's [`Context::run_id`], an
/// `apply`'s for its pruning, so `history --run` shows it with the rest),
/// the command's own `fields` (an object), then `by`: who ran it
/// ([`operator`]). No cluster of its own unless `cluster_id` names one.
pub fn operator_row(
    opts: &DbOptions,
    run_id: Uuid,
    kind: &str,
    cluster_id: crate::model::ClusterId,
    action_sql: String,
    fields: serde_json::Value,
    created_at: DateTime<Utc>,
) -> crate::exec::AuditRow {
    let mut ctx = serde_json::Map::new();
    ctx.insert("kind".into(), kind.into());
    ctx.insert("controller".into(), crate::CONTROLLER.into());
    ctx.insert("run_id".into(), run_id.to_string().into());
    if let serde_json::Value::Object(fields) = fields {
        for (key, mut value) in fields {
            // A connection string typed where a type, a config or a reason
            // belongs is masked in the trail as where it is shown (the
            // cluster's name is the catalog's: `history --cluster` finds
            // its rows by it).
            if !matches!(key.as_str(), "cluster" | "moved_to" | "moved_from") {
                crate::config::redact_json(&mut value);
            }
            ctx.insert(key, value);
        }
    }
    ctx.insert("by".into(), operator(opts));
    crate::exec::AuditRow {
        action_id: Uuid::new_v4().to_string(),
        cluster_id,
        // The command line's own connection strings first, whole (a
        // shell-quoted one holding a quote was masked only up to it), then
        // any written in it.
        action_sql: crate::config::redact_embedded(&crate::config::redact_echoed(&action_sql))
            .into_owned(),
        decision_ctx: serde_json::Value::Object(ctx),
        created_at,
    }
}

/// How a command ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Everything asked for was done.
    Clean,
    /// Done, but some clusters were skipped (invalid configuration), some
    /// actions failed, or `check` found problems.
    WithProblems,
    /// `dry-run` only: done, no problems, and the plan has actions.
    ChangesPending,
}

/// What every database command needs to connect.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: Option<DatabaseUrl>,
    pub replica_sizes: Option<Vec<String>>,
    pub schema: Option<String>,
    pub exec_cluster: Option<String>,
    /// `--create-replica`: a temporary replica of this size on the session
    /// cluster for the run.
    pub create_replica: Option<crate::model::Size>,
    /// `--create-replica-wait`: how long a run waits for that replica to
    /// come online.
    pub create_replica_wait: Duration,
    /// `--exec-cluster-wait`: how long a command waits for the session
    /// cluster to have a replica online.
    pub exec_cluster_wait: Duration,
    /// `--connect-timeout`, given or the default.
    pub connect_timeout: crate::config::ConnectTimeout,
    /// Client-side deadline of every statement.
    pub statement_timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            url: None,
            replica_sizes: None,
            schema: None,
            exec_cluster: None,
            create_replica: None,
            create_replica_wait: crate::commands::session::ONLINE_WITHIN,
            exec_cluster_wait: crate::commands::session::SESSION_ONLINE_WITHIN,
            connect_timeout: crate::config::ConnectTimeout::Default(
                crate::db::DEFAULT_CONNECT_TIMEOUT,
            ),
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

pub use crate::plan::DEFAULT_STATEMENT_TIMEOUT;

/// The controller lease of a writing command.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// How long a taken lease lasts unless renewed.
    pub ttl: Duration,
    /// Wait this long for a held lease instead of giving up at once.
    pub wait: Option<Duration>,
}

impl Default for LeaseOptions {
    fn default() -> Self {
        LeaseOptions {
            ttl: lease::DEFAULT_TTL,
            wait: None,
        }
    }
}

/// A connected command: the pool, our tables, the snapshot settings.
pub struct Context {
    pub db: Db,
    pub store: Store,
    pub snapshot: SnapshotOptions,
    pub opts: DbOptions,
    /// What the last snapshot read of the migrations table (a reading
    /// command's newer-schema warning rides on it).
    pub schema_seen: crate::db::migrate::SchemaSeen,
    /// This command's run: its audit rows carry it (`history --run`), and
    /// so does the lease it takes (`wipe-state`). An `apply` has one per run
    /// of its own.
    pub run_id: Uuid,
}

impl Context {
    pub fn new(opts: DbOptions) -> Result<Context, CommandError> {
        let url = opts.url.clone().ok_or_else(crate::config::missing_url)?;
        let conn = Connection::parse_with(url.expose(), opts.connect_timeout)?;
        if let Some(warning) = conn.application_name_warning() {
            tracing::warn!("{warning}");
        }
        tracing::info!(database = %conn.display, "connecting");
        let db = Db::new(&conn, opts.exec_cluster.clone())?;
        Ok(Context {
            db,
            store: Store::new(opts.schema.clone()),
            snapshot: SnapshotOptions {
                replica_sizes: opts.replica_sizes.clone(),
                exec_cluster: opts.exec_cluster.clone(),
                ..SnapshotOptions::default()
            },
            opts,
            schema_seen: Default::default(),
            run_id: Uuid::new_v4(),
        })
    }

    /// The executor's backend on this database.
    pub fn backend(&self) -> LiveBackend<'_> {
        LiveBackend::new(
            &self.db,
            &self.store,
            &self.snapshot,
            &self.schema_seen,
            self.opts.retry.clone(),
            self.opts.statement_timeout,
        )
    }

    /// [`Context::backend`], which a set `stop` flag (a signal) interrupts
    /// between attempts and actions.
    pub fn stoppable_backend(
        &self,
        stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> LiveBackend<'_> {
        let mut backend = self.backend();
        if let Some(flag) = stop {
            backend.stop_on(flag);
        }
        backend
    }
}

/// What a command run under the lease came to.
#[derive(Debug)]
pub enum Leased<T> {
    Ran(T),
    /// Another controller holds the lease and is live as far as we can
    /// tell (its lease is unexpired by the database's clock, and it is not
    /// a process that provably died on this host): nothing was done.
    Busy {
        /// The command that found it busy (`apply`).
        command: &'static str,
        holder: String,
        /// `None`: held until broken (`lease::Row::until`).
        until: Option<DateTime<Utc>>,
        /// `--wait`, when given: how long it waited in vain.
        waited: Option<Duration>,
    },
}

/// What to do about a lease held by another controller, given how long
/// `--wait` waited (it advised `--wait 30s` to one who had waited).
/// A lease that never expires (`for_ever`) is only broken, and one whose
/// controller is gone is broken sooner than waited out: said (it advised
/// `--wait 30s` alone, for a lease of an hour or for ever: an outside
/// check).
pub fn lease_busy_advice(waited: Option<Duration>, for_ever: bool, schema: Option<&str>) -> String {
    let unlock = crate::model::clusterctl_command(schema, "unlock --force");
    let brk = format!("`{unlock}` breaks it (audited)");
    match (for_ever, waited_for(waited)) {
        (true, _) => format!("it never expires: if that controller is gone, {brk}"),
        (false, Some(w)) => format!(
            "waited {w} for it with --wait: try again later, or wait longer; if that \
             controller is gone, {brk}"
        ),
        (false, None) => format!(
            "try again later, or wait for it with --wait 30s; if that controller is gone, {brk}"
        ),
    }
}

/// How long `--wait` waited for a busy lease (`1s`), when it did.
pub fn waited_for(waited: Option<Duration>) -> Option<String> {
    waited
        .filter(|w| !w.is_zero())
        .map(|w| humantime::format_duration(w).to_string())
}

/// The other installations (schemas holding clusterctl's tables), and
/// for each whose strategy table could be read, the clusters with strategy
/// rows both there and here (none: left out). The one read of `doctor`,
/// which names them, and of `strategy set`, which warns of its cluster.
pub(crate) async fn other_installations(
    backend: &mut LiveBackend<'_>,
    store: &Store,
) -> (
    Result<Vec<String>, DbError>,
    Vec<(String, Vec<crate::model::ClusterId>)>,
) {
    let others = backend
        .retrying("reading the catalog's other installations", async |c| {
            store.other_installations(c).await
        })
        .await;
    let mut shared = Vec::new();
    for schema in others.as_deref().unwrap_or_default() {
        let both = backend
            .retrying("reading another installation's strategy rows", async |c| {
                store.shared_with(c, schema).await
            })
            .await;
        match both {
            Ok(ids) if !ids.is_empty() => shared.push((schema.clone(), ids)),
            _ => {}
        }
    }
    (others, shared)
}

/// The other installations (schemas of clusterctl's tables) with strategy
/// rows of `id`, as `--schema` values: a command run with the wrong one
/// said only that the cluster had none (`strategy rm`, `dry-run
/// --cluster`: an outside check). Nothing when they cannot be read.
pub(crate) async fn schemas_with_rows_of(
    ctx: &Context,
    id: &crate::model::ClusterId,
) -> Vec<String> {
    let mut backend = ctx.backend();
    let others = backend
        .retrying("reading the catalog's other installations", async |c| {
            ctx.store.other_installations(c).await
        })
        .await;
    let mut out = Vec::new();
    for schema in others.unwrap_or_default() {
        let has = backend
            .retrying("reading another installation's strategy rows", async |c| {
                ctx.store.has_rows_in(c, &schema, id).await
            })
            .await;
        if has.unwrap_or(false) {
            out.push(schema);
        }
    }
    out
}

/// Where else rows of `id` are, said after what a command found here
/// ([`schemas_with_rows_of`]); `None` when nowhere.
pub(crate) async fn rows_elsewhere(
    ctx: &Context,
    id: &crate::model::ClusterId,
    command: &str,
) -> Option<String> {
    let schemas = schemas_with_rows_of(ctx, id).await;
    let first = schemas.first()?;
    let named: Vec<String> = schemas
        .iter()
        .map(|s| crate::model::shell_value(s))
        .collect();
    Some(format!(
        "it has strategy rows in schema {} (another installation of clusterctl): `{}`",
        named.join(", "),
        crate::model::clusterctl_command(Some(first), command)
    ))
}

/// Runs `body` holding the lease, renewed by a heartbeat for as long as
/// `body` runs; someone else's lease ends the command having done nothing
/// (`Leased::Busy`: for `apply`, a normal idle run; other commands turn it
/// into [`CommandError::LeaseBusy`]).
pub(crate) async fn with_lease<'c, T, F>(
    backend: &mut LiveBackend<'c>,
    lease: &LeaseOptions,
    run_id: Uuid,
    command: &'static str,
    body: F,
) -> Result<Leased<T>, CommandError>
where
    F: AsyncFnOnce(&mut LiveBackend<'c>) -> Result<T, CommandError>,
{
    let me = Holder::me(&run_id);
    if let lease::Acquired::HeldBy { holder, until } =
        backend.acquire_lease(&me, lease.ttl, lease.wait).await?
    {
        return Ok(Leased::Busy {
            command,
            holder,
            until,
            waited: lease.wait,
        });
    }
    let result = body(backend).await;
    if let Err(e) = backend.release_lease().await {
        tracing::warn!("could not release the lease (it expires by itself): {e}");
    }
    result.map(Leased::Ran)
}

/// A cluster named on the command line, by name or id.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Target {
    pub id: crate::model::ClusterId,
    /// `None` for an id that only strategy rows mention (dropped cluster).
    pub name: Option<String>,
    /// A dropped cluster's name as its audit rows recorded it, when it was
    /// named by it (`strategy rm gone`): its rows keep saying it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
}

impl Target {
    /// `cluster analytics (u2)`, or `cluster id u9 (no such cluster)`.
    /// The name as a shell takes it (`' u3'`: a name with blanks read as
    /// another, `cluster  u3 (u11)`: an outside check).
    pub fn display(&self) -> String {
        let typed = crate::plan::select::typed;
        match &self.name {
            Some(n) => format!("cluster {} ({})", typed(n), self.id),
            None => match &self.recorded {
                Some(n) => format!(
                    "cluster {} ({}, dropped: no such cluster)",
                    typed(n),
                    self.id
                ),
                None => format!("cluster id {} (no such cluster)", self.id),
            },
        }
    }

    /// The name an audit row records: its live name, else the one the
    /// trail recorded for it.
    pub fn recorded_name(&self) -> Option<&String> {
        self.name.as_ref().or(self.recorded.as_ref())
    }

    /// How a command line an audit row records names it: `arg`, as the
    /// operator gave it, quoted for a shell ([`crate::model::shell_arg`]);
    /// its id where no quoting keeps the line one line.
    pub fn as_given(&self, arg: &str) -> String {
        crate::model::shell_arg(arg).unwrap_or_else(|| self.id.0.clone())
    }

    /// How to name it in a suggested command ([`crate::model::command_arg`]).
    pub fn arg(&self) -> &str {
        match &self.name {
            Some(n) => crate::model::command_arg(n, &self.id),
            None => &self.id.0,
        }
    }
}

/// Resolves a name (preferred) or an id against the snapshot; with
/// `allow_dangling`, also an id that only strategy rows mention. A name
/// that is neither is a usage error, as for `--cluster`.
pub fn resolve(
    snap: &crate::model::Snapshot,
    arg: &str,
    allow_dangling: bool,
) -> Result<Target, CommandError> {
    // An id the rows hold as given, which no cluster has as its exact name
    // or id (` u3`, written by hand): those rows, not the cluster that the
    // name's blanks stripped find (its rows were removed, the bad one
    // kept: an outside check).
    let exact = crate::model::ClusterId(arg.to_string());
    let named_exactly = snap.clusters.iter().any(|c| c.name == arg || c.id == exact);
    if allow_dangling && !named_exactly && snap.has_rows(&exact) {
        return Ok(Target {
            id: exact,
            name: None,
            recorded: None,
        });
    }
    if let Some(c) = snap.find_cluster(arg) {
        return Ok(Target {
            id: c.id.clone(),
            name: Some(c.name.clone()),
            recorded: None,
        });
    }
    let names = snap.user_cluster_names();
    let e = crate::plan::SelectionError::no_such_cluster(
        arg,
        &names,
        false,
        snap.env.schema.as_deref(),
    );
    Err(CommandError::Usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection string typed where a strategy type, a config or a
    /// reason belongs was masked where shown and written whole to the
    /// trail (an outside check): masked there too; the cluster's recorded
    /// name is left as the catalog has it.
    #[test]
    fn an_operators_audit_row_masks_connection_strings() {
        let fields = serde_json::json!({
            "cluster": "c",
            "strategy_type": "host=h password=S3cretKV",
            "before": {"postgres://x:S3cretAll@h/d": {"reason": "postgres://u:S3cretR@h/d"}},
            "after": ["password=S3cretA"],
        });
        let row = operator_row(
            &DbOptions::default(),
            Uuid::new_v4(),
            "strategy_rm",
            crate::model::ClusterId("u2".into()),
            "-- clusterctl strategy rm c 'host=h password=S3cretKV'".into(),
            fields,
            Utc::now(),
        );
        let all = format!("{} {}", row.action_sql, row.decision_ctx);
        assert!(!all.contains("S3cret"), "{all}");
        assert_eq!(row.decision_ctx["cluster"], "c");
        assert_eq!(row.decision_ctx["kind"], "strategy_rm");
    }

    #[test]
    fn only_bounds_of_one_kind_are_compared_without_a_clock() {
        let h = |n: u64| TimeBound::Ago(Duration::from_secs(n * 3600));
        let at = |s: &str| {
            TimeBound::At(
                DateTime::parse_from_rfc3339(s)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_default(),
            )
        };
        assert!(h(1).surely_after(&h(2)), "--since 1h --until 2h");
        assert!(!h(2).surely_after(&h(1)));
        assert!(at("2026-12-02T12:00:00Z").surely_after(&at("2026-12-02T11:00:00Z")));
        assert!(!at("2026-12-02T11:00:00Z").surely_after(&at("2026-12-02T12:00:00Z")));
        // Mixed: only the database's now could tell.
        assert!(!h(3).surely_after(&at("2000-01-01T00:00:00Z")));
        assert!(!at("2999-01-01T00:00:00Z").surely_after(&h(3)));
    }
}
