//! Our own tables: strategies (read), state (read, versioned write), audit
//! trail (append), and the migrations that create them. Every write is a
//! single statement in autocommit, correct without constraints or
//! multi-statement transactions, because Materialize offers neither.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use tokio_postgres::types::{ToSql, Type};

use crate::db::{Client, DbError};
use crate::ddl;
use crate::exec::{AuditRow, Outcome};
use crate::model::{
    ClusterId, LastResize, LastSuspension, RowsSeen, Size, StrategyRow, Unresolved, STATE_VERSION,
};

pub const STRATEGIES: &str = "mz_cluster_strategies";
pub const STATE: &str = "mz_cluster_strategy_state";
pub const ACTIONS: &str = "mz_cluster_strategy_actions";
pub const MIGRATIONS: &str = "clusterctl_schema_migrations";
pub const LEASE: &str = "clusterctl_lease";
/// The `kind` of a `wipe-state` audit row (`cluster_id` empty, the
/// clusters it wiped in `decision_ctx->'clusters'`, null for all).
pub const WIPE_KIND: &str = "wipe_state";

/// The key of a wipe of all clusters' audit row naming the newest cluster
/// then ([`crate::model::ClusterId::user_number`]): a cluster created
/// after it had no state it wiped.
pub const NEWEST_CLUSTER: &str = "newest_cluster";

/// What `apply` does to each of our tables (README, "Required Materialize
/// privileges"), for `doctor`.
pub const APPLY_PRIVILEGES: &[(&str, &[&str])] = &[
    (STRATEGIES, &["SELECT"]),
    (STATE, &["SELECT", "INSERT", "DELETE"]),
    (ACTIONS, &["SELECT", "INSERT", "UPDATE"]),
    (MIGRATIONS, &["SELECT"]),
    // INSERT puts back a lease row deleted by hand: without it apply
    // failed on "seeding the lease" while doctor said all was granted (an
    // outside check), and `init --print` grants it.
    (LEASE, &["SELECT", "INSERT", "UPDATE"]),
];

/// Why an intent was withdrawn before its statement was sent: its
/// recorded outcome is this text after [`WITHDRAWN_PREFIX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawn {
    /// The plan guard found the cluster changed; with how many of the
    /// cluster's actions after it are not begun.
    Changed(crate::exec::Changed, usize),
    /// The lease was found no longer ours (taken, or broken) in the same
    /// round trip.
    LeaseLost,
    /// The lease could no longer be held (renewals failed, or it was
    /// taken) after the intent was written: the statement was never sent.
    LeaseLapsed,
    /// A signal (SIGTERM, Ctrl-C) came after the intent was written, before
    /// the statement was sent.
    Signal,
    /// Another write or read of the intent's round trip was refused (a
    /// privilege missing): the run stops before the statement.
    Refused,
}

/// The start of the error of a statement cancelled as the lease could no
/// longer be held ([`crate::db::live`]): no refusal of the server's, so no
/// reason to hold the statement back ([`Store::refusals_sql`]; a lease
/// broken twice made a cluster `Limited`, its create backed off: an
/// outside check).
pub const LEASE_CANCELLED_PREFIX: &str = "cancelled, as the lease could no longer be held";

/// The start of the outcome a run records for an action an interrupted run
/// left open ([`crate::db::live::LiveBackend::settle_unfinished`]).
pub const SETTLED_PREFIX: &str = "its outcome was never recorded";

/// What the kind of every strategy change's audit row starts with
/// (`strategy_set`, `strategy_rm`, `strategy_pause`, …).
pub const STRATEGY_CHANGE: &str = "strategy_";

/// The start of every withdrawn intent's outcome (`skipped` in `history`).
pub const WITHDRAWN_PREFIX: &str = "not attempted: ";

impl Withdrawn {
    pub fn message(self) -> String {
        let why = match self {
            Withdrawn::Changed(changed, 0) => changed.what(),
            Withdrawn::Changed(changed, later) => {
                return format!(
                    "{WITHDRAWN_PREFIX}{}; the cluster's {later} action{} after it {} not begun",
                    changed.what(),
                    crate::model::plural(later as u64),
                    if later == 1 { "was" } else { "were" }
                );
            }
            Withdrawn::LeaseLost => {
                "the lease was found no longer ours before the statement (taken by another \
                 controller, or broken by `unlock --force`: the run's error says which)"
            }
            Withdrawn::LeaseLapsed => {
                "the lease was lost before the statement was sent (the run's error says why)"
            }
            Withdrawn::Signal => "a signal came before the statement was sent",
            Withdrawn::Refused => {
                "the bookkeeping written with it was refused before the statement was sent (the \
                 run's error says why)"
            }
        };
        format!("{WITHDRAWN_PREFIX}{why}")
    }
}

/// Strategy rows as every reader reads them: `cluster_id`, `strategy_type`,
/// `config::text`, `updated_at`.
fn strategy_rows(rows: &[tokio_postgres::Row]) -> Result<Vec<StrategyRow>, tokio_postgres::Error> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let config_text: Option<String> = r.try_get(2)?;
        // jsonb is always valid JSON; a NULL config is reported by the
        // strategy parser as "must be a JSON object".
        let (config, unreadable) = match config_text.map(|t| read_config(&t)) {
            Some(Ok(config)) => (config, None),
            Some(Err(why)) => (serde_json::Value::Null, Some(why)),
            None => (serde_json::Value::Null, None),
        };
        out.push(StrategyRow {
            cluster_id: ClusterId(r.try_get::<_, Option<String>>(0)?.unwrap_or_default()),
            strategy_type: r.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
            config,
            // A timestamp the client cannot represent (PostgreSQL's
            // 'infinity', years past 262143) counts as unknown: the row
            // is then the oldest of its (cluster, type), never an error
            // that stops every cluster.
            updated_at: r.try_get(3).ok().flatten(),
            unreadable,
        });
    }
    Ok(out)
}

/// Strategy rows dated `op` the time in parameter `p`, or read as undated:
/// NULL, or a date the client cannot hold (`infinity`, a year past
/// 262143), which readers take as unknown, the oldest of its cluster and
/// type ([`Store::strategies`]). Compared as text, which every server takes: a
/// removal or replacement said done left such a row in place, to take
/// effect after.
fn undated_or(op: &str, p: usize) -> String {
    format!(
        "(updated_at {op} ${p}::text::timestamptz OR {})",
        undated("updated_at")
    )
}

/// Whether a time column holds no time the client can read: NULL, or a
/// date it cannot hold (`infinity`, a year past 262143; written by hand).
/// Compared as text, which every server takes.
fn undated(column: &str) -> String {
    format!("({column} IS NULL OR {column}::text = 'infinity' OR {column}::text LIKE '______-%')")
}

/// One attempt of a write: `retry` when an attempt before may have
/// committed it (its answer was lost), and `by`, the server's time the
/// attempt was over ([`Store::write_deadline`], or from a run's clock of
/// the database for its state; `None` for a run's intents and outcomes,
/// harmless late, and the temporary replica's audit rows, which must not
/// need that replica). A write with
/// a deadline lands only before it ([`Attempt::in_time`]): one a silent
/// network held past its attempt (the command retried, failed or was
/// stopped meanwhile, and an operator or a run may have written since)
/// writes nothing.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub retry: bool,
    pub by: Option<String>,
}

impl Attempt {
    /// The write's guard, its deadline as parameter `$n` (which it adds to
    /// `params`): the server's `now()` before `by` ([`lease::in_time_sql`],
    /// the lease's rule), or `true` without a deadline.
    ///
    /// [`lease::in_time_sql`]: super::lease::in_time_sql
    pub fn in_time(&self, params: &mut Vec<String>) -> String {
        let sql = self.in_time_at(params.len() + 1);
        params.extend(self.by.clone());
        sql
    }

    /// A write of this attempt that only its deadline refused, though it
    /// arrived in time (its answer came back), so the database's clock
    /// stepped ([`Attempt::inserted`], [`Attempt::deleted`]). Transient:
    /// the retry writes it, with a deadline read from the server after the
    /// step (an INSERT in the form that finds a row written before).
    pub fn refused(&self, context: &str) -> DbError {
        DbError::Refused {
            context: context.into(),
            wrote: false,
        }
    }

    /// What an INSERT under [`Attempt::in_time`] that wrote `n` of its
    /// `all` rows did: all it had to, or a refusal by its deadline
    /// ([`Attempt::refused`]). A first attempt's INSERT has no other
    /// condition, so fewer rows is a refusal; a retry's writes nothing of
    /// what the attempt before committed, so one read of the deadline
    /// tells ([`Attempt::past`]). Without a deadline, nothing refuses.
    pub async fn inserted(
        &self,
        c: &Client,
        n: u64,
        all: u64,
        context: &str,
    ) -> Result<(), DbError> {
        if n >= all || self.by.is_none() {
            return Ok(());
        }
        if !self.retry || self.past(c, context).await? {
            return Err(self.refused(context));
        }
        Ok(())
    }

    /// What a DELETE under [`Attempt::in_time`] that deleted `n` rows did.
    /// Nothing deleted may be nothing to delete, or a refusal by the
    /// deadline of a DELETE that arrived in time: one read of the deadline
    /// tells them apart ([`Attempt::past`]), and a refusal is
    /// [`Attempt::refused`] (the retry, with a deadline of its own,
    /// deletes). Without a deadline, or with rows deleted, `n` as it is.
    pub async fn deleted(&self, c: &Client, n: u64, context: &str) -> Result<Deleted, DbError> {
        if n == 0 && self.by.is_some() && self.past(c, context).await? {
            return Err(self.refused(context));
        }
        Ok(Deleted {
            rows: n,
            retried: self.retry,
        })
    }

    /// Whether the server's clock has passed this attempt's deadline: one
    /// statement, asked only when a write under it wrote less than it
    /// could have (`false` without a deadline).
    async fn past(&self, c: &Client, context: &str) -> Result<bool, DbError> {
        let Some(by) = self.by.as_ref() else {
            return Ok(false);
        };
        let sql = format!("SELECT {}", self.in_time_at(1));
        let rows = c
            .query_typed(&sql, &text_params(std::slice::from_ref(by)))
            .await
            .map_err(|e| DbError::query(context, &e))?;
        match rows.first().and_then(|r| r.try_get::<_, bool>(0).ok()) {
            Some(in_time) => Ok(!in_time),
            None => Err(DbError::Query {
                context: context.into(),
                reason: "no answer to the read of the write's deadline".into(),
                transient: false,
            }),
        }
    }

    /// Whether this attempt's INSERT is a constant `INSERT … VALUES`, which
    /// needs no replica on the session cluster (reference §8.2): a first
    /// attempt without a deadline. Any other is an `INSERT … SELECT` under
    /// [`Attempt::unless_written`] and [`Attempt::in_time`].
    pub fn constant(&self) -> bool {
        !self.retry && self.by.is_none()
    }

    /// The condition of a retried INSERT: only where `written` (the query
    /// that finds what an attempt before may have committed, its answer
    /// lost) finds nothing, so a retry never writes a row twice; `true`
    /// on a first attempt.
    pub fn unless_written(&self, written: &str) -> String {
        match self.retry {
            true => format!("NOT EXISTS ({written})"),
            false => "true".into(),
        }
    }

    /// [`Attempt::in_time`] for a statement whose caller adds the
    /// deadline (when there is one) as parameter `$n` itself.
    pub fn in_time_at(&self, n: usize) -> String {
        match self.by {
            Some(_) => super::lease::in_time_sql(&format!("${n}")),
            None => "true".into(),
        }
    }
}

/// What a DELETE did ([`Attempt::deleted`]): the rows the attempt that
/// answered deleted, and whether it was a retry, after an attempt whose
/// answer was lost and which may have deleted rows too: `rows` is a lower
/// bound then (`wipe-state`, `strategy rm` and `mv` say so, and audit it
/// even at 0). In their JSON: `rows_deleted` and `retried`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    #[serde(rename = "rows_deleted")]
    pub rows: u64,
    pub retried: bool,
}

impl Deleted {
    /// Whether the command may have deleted something: rows now, or an
    /// attempt before whose answer was lost.
    pub fn maybe_any(&self) -> bool {
        self.rows > 0 || self.retried
    }
}

/// The server's `now()`, one statement.
async fn database_now(c: &Client) -> Result<DateTime<Utc>, DbError> {
    let reading = "reading the database's time";
    let rows = c
        .query_typed("SELECT now()", &[])
        .await
        .map_err(|e| DbError::query(reading, &e))?;
    rows.first()
        .and_then(|r| r.try_get(0).ok())
        .ok_or_else(|| DbError::Query {
            context: reading.into(),
            reason: "no time in the answer".into(),
            transient: false,
        })
}

/// Rows per multi-row INSERT, to stay far below the parameter limit.
const CHUNK: usize = 500;

/// What the snapshot's read of the audit trail found
/// ([`Store::parse_unfinished`]).
#[derive(Debug, Default)]
pub struct Unfinished {
    /// Actions without an outcome (a run killed mid-action).
    pub open: Vec<Unresolved>,
    /// Each cluster's newest executed resize.
    pub last_resizes: BTreeMap<ClusterId, LastResize>,
    /// Statements refused in a row, per cluster.
    pub refusals: BTreeMap<ClusterId, Vec<crate::model::Refusal>>,
    /// The migrations recorded, as far as the newer-schema rule needs them
    /// (the highest; empty: none), when the statement read them.
    pub schema: Option<Vec<i32>>,
    /// When the server last refused a graceful resize as gated off
    /// ([`Store::graceful_refused_sql`]).
    pub graceful_refused_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct Store {
    schema: Option<String>,
}

impl Store {
    pub fn new(schema: Option<String>) -> Store {
        Store { schema }
    }

    pub fn table(&self, name: &str) -> String {
        ddl::table(self.schema.as_deref(), name)
    }

    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// `clusterctl init`, with the `--schema` these tables are in: a fix
    /// said without it made them in the default schema, not this one.
    pub fn init_command(&self) -> String {
        self.command("init")
    }

    /// `clusterctl SUB` with the `--schema` these tables are in, as a fix
    /// names a command to run.
    pub fn command(&self, sub: &str) -> String {
        crate::model::clusterctl_command(self.schema.as_deref(), sub)
    }

    pub(super) fn prefix(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.", ddl::ident(s)),
            None => String::new(),
        }
    }

    pub async fn strategies(&self, c: &Client) -> Result<Vec<StrategyRow>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT cluster_id, strategy_type, config::text, updated_at FROM {}",
            self.table(STRATEGIES)
        );
        strategy_rows(&c.query_typed(&sql, &[]).await?)
    }

    /// One cluster's strategy rows as the plan guard compares them, read
    /// and chosen as [`Self::strategies`] and the plan read and choose them.
    pub async fn rows_seen(&self, c: &Client, id: &ClusterId) -> Result<RowsSeen, DbError> {
        let sql = format!(
            "SELECT cluster_id, strategy_type, config::text, updated_at FROM {} \
             WHERE cluster_id = $1",
            self.table(STRATEGIES)
        );
        let reading = "re-reading the cluster's strategy rows";
        let rows = c
            .query_typed(&sql, &[(&id.0, tokio_postgres::types::Type::TEXT)])
            .await
            .map_err(|e| missing_or(&e, self, STRATEGIES, reading))?;
        let rows = strategy_rows(&rows).map_err(|e| missing_or(&e, self, STRATEGIES, reading))?;
        Ok(crate::plan::rows::seen_of(id, &rows))
    }

    /// The newest state per cluster, of our `state_version`; rows of
    /// another (the reference's 1, or a future one) are neither read nor
    /// deleted: a cluster without one of ours starts fresh, and the
    /// reference finds its own rows again after a rollback.
    /// A row without `updated_at` (written by hand) is the oldest, not the
    /// newest (DESC puts NULLs first), and the next write removes it.
    pub async fn states(
        &self,
        c: &Client,
    ) -> Result<BTreeMap<ClusterId, serde_json::Value>, tokio_postgres::Error> {
        // Compacted one by one as read: the whole fleet's payloads at full
        // size at once cost 2.4 MiB more at 10 000 clusters (the scale
        // bench's peak RSS).
        self.newest_payloads(c, STATE_VERSION, crate::model::compact_json)
            .await
    }

    /// The newest state row's payload per cluster, of `version` (an object:
    /// another is skipped), each as `keep` leaves it.
    async fn newest_payloads(
        &self,
        c: &Client,
        version: i32,
        keep: fn(serde_json::Value) -> serde_json::Value,
    ) -> Result<BTreeMap<ClusterId, serde_json::Value>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT DISTINCT ON (cluster_id) cluster_id, payload::text \
             FROM {} WHERE state_version = {version} \
             ORDER BY cluster_id, updated_at DESC NULLS LAST",
            self.table(STATE)
        );
        let rows = c.query_typed(&sql, &[]).await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let id: Option<String> = r.try_get(0)?;
            let payload: Option<String> = r.try_get(1)?;
            let (Some(id), Some(payload)) = (id, payload) else {
                continue;
            };
            if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_str(&payload) {
                out.insert(ClusterId(id), keep(v));
            }
        }
        Ok(out)
    }

    /// The reference's newest state row (`state_version` 1) per cluster,
    /// its payload: read, never written nor deleted (what its
    /// `idle_suspend` suspended is imported once: [`import_reference`]).
    ///
    /// [`import_reference`]: crate::strategy::import_reference
    pub async fn reference_states(
        &self,
        c: &Client,
    ) -> Result<BTreeMap<ClusterId, serde_json::Value>, tokio_postgres::Error> {
        self.newest_payloads(c, 1, |v| v).await
    }

    /// Writes new state versions: insert the new rows, then delete the older
    /// versions (of our `state_version` only; and those dated in the
    /// server's future, left by a backward step of its clock) of the
    /// clusters whose new row is there. Readers take the
    /// newest row, so a crash between the two statements is harmless, and
    /// the delete never removes the only version (so both statements go in
    /// one round trip). A retry (`a.retry`: an earlier attempt may have
    /// committed before the connection broke) inserts only the rows that
    /// are missing, so the table converges to one row per cluster in the
    /// same run. With a deadline (`a.by`), an INSERT that arrives after it
    /// writes nothing (a state a silent network held past its run does not
    /// come back after a `wipe-state`), and neither does the DELETE beside
    /// it, which removes older versions only where this one is.
    pub async fn write_states(
        &self,
        c: &Client,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
        a: &Attempt,
    ) -> Result<(), DbError> {
        let at_text = at.to_rfc3339();
        let table = self.table(STATE);
        for (i, chunk) in states.chunks(CHUNK).enumerate() {
            let mut values = Vec::new();
            let mut params: Vec<String> = Vec::new();
            for (id, payload) in chunk {
                let n = params.len();
                values.push(format!(
                    "(${}::text, {STATE_VERSION}, ${}::text::jsonb, ${}::text::timestamptz)",
                    n + 1,
                    n + 2,
                    n + 3
                ));
                params.push(id.0.clone());
                params.push(payload.to_string());
                params.push(at_text.clone());
            }
            let insert = if !a.constant() {
                let written = a.unless_written(&format!(
                    "SELECT 1 FROM {table} s \
                     WHERE s.cluster_id = v.cluster_id AND s.updated_at = v.updated_at"
                ));
                format!(
                    "INSERT INTO {table} (cluster_id, state_version, payload, updated_at) \
                     SELECT v.cluster_id, v.state_version, v.payload, v.updated_at \
                     FROM (VALUES {}) AS v (cluster_id, state_version, payload, updated_at) \
                     WHERE {written} AND {}",
                    values.join(", "),
                    a.in_time(&mut params)
                )
            } else {
                format!(
                    "INSERT INTO {table} (cluster_id, state_version, payload, updated_at) VALUES {}",
                    values.join(", ")
                )
            };
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.0.clone()).collect();
            // Older versions, and one dated after this one and after the
            // server's now: written before a backward step of the server's
            // clock, it stayed the newest, and every later state was
            // ignored until the clock caught up (an outside check). One
            // dated after this one but not after now (an operator's write
            // meanwhile) stays.
            let delete = format!(
                "DELETE FROM {table} WHERE state_version = {STATE_VERSION} \
                 AND (updated_at < $1::text::timestamptz OR updated_at IS NULL \
                      OR (updated_at > $1::text::timestamptz AND updated_at > now())) \
                 AND cluster_id IN ({}) \
                 AND cluster_id IN (SELECT n.cluster_id FROM {table} AS n \
                   WHERE n.updated_at = $1::text::timestamptz)",
                placeholders(2, ids.len())
            );
            let mut delete_params = vec![at_text.clone()];
            delete_params.extend(ids);
            let (inserted, deleted) = futures_util::future::join(
                execute_text(c, &insert, &params),
                execute_text(c, &delete, &delete_params),
            )
            .await;
            let inserted = inserted.map_err(|e| missing_or(&e, self, STATE, "writing state"))?;
            deleted.map_err(|e| missing_or(&e, self, STATE, "removing old state versions"))?;
            a.inserted(c, inserted, chunk.len() as u64, "writing state")
                .await
                .map_err(|e| match i {
                    0 => e,
                    _ => e.after_writing(),
                })?;
        }
        Ok(())
    }

    /// Records an action before it is attempted (`executed` NULL = outcome
    /// not known yet), so a crash mid-DDL still leaves a trace. A retry
    /// (`retry`: the first attempt may have committed before its connection
    /// broke) inserts only if the row is not there yet: Materialize has no
    /// `ON CONFLICT`, and action ids are deterministic per run.
    pub async fn audit_intent(
        &self,
        c: &Client,
        row: &AuditRow,
        retry: bool,
    ) -> Result<(), DbError> {
        let a = Attempt { retry, by: None };
        self.insert_audit(c, row, None, None, Stamp::Row, &a).await
    }

    /// Records an action that already ended: one INSERT, stamped as
    /// `stamp` says. A first attempt without a deadline (`a.by`) and with
    /// the row's own time is a constant INSERT, which needs no replica on
    /// the session cluster (reference §8.2: the session cluster's temporary
    /// replica, audited as it is dropped). A retry (`a.retry`: the attempt
    /// before may have committed before its connection broke) inserts only
    /// if the row is not there yet, as [`Store::audit_intent`]'s does; that
    /// read, and the deadline's, run on the session cluster. With a
    /// deadline, an attempt that arrives after it writes nothing, so a
    /// first attempt held past its deadline never adds a second row beside
    /// its retry's.
    pub async fn audit_done(
        &self,
        c: &Client,
        row: &AuditRow,
        done: Done<'_>,
        stamp: Stamp,
        a: &Attempt,
    ) -> Result<(), DbError> {
        self.insert_audit(c, row, Some(done.executed), done.error, stamp, a)
            .await
    }

    /// One audit row: a retry inserts it only if no row has its id yet
    /// (`INSERT … SELECT`: Materialize has no `ON CONFLICT`), and an
    /// attempt with a deadline only before it.
    async fn insert_audit(
        &self,
        c: &Client,
        row: &AuditRow,
        executed: Option<bool>,
        error: Option<&str>,
        stamp: Stamp,
        a: &Attempt,
    ) -> Result<(), DbError> {
        let table = self.table(ACTIONS);
        let columns =
            "action_id, cluster_id, action_sql, decision_ctx, executed, error_message, created_at";
        let at_sql = match stamp {
            Stamp::DatabaseNow => "now()",
            Stamp::Row => "$7::text::timestamptz",
        };
        let values =
            format!("$1::text, $2::text, $3::text, $4::text::jsonb, $5::bool, $6::text, {at_sql}");
        let by_param = if stamp == Stamp::Row { 8 } else { 7 };
        let sql = if !a.constant() {
            let written =
                a.unless_written(&format!("SELECT 1 FROM {table} WHERE action_id = $1::text"));
            format!(
                "INSERT INTO {table} ({columns}) SELECT {values} WHERE {written} AND {}",
                a.in_time_at(by_param)
            )
        } else {
            format!("INSERT INTO {table} ({columns}) VALUES ({values})")
        };
        let ctx = row.decision_ctx.to_string();
        let at = row.created_at.to_rfc3339();
        let err = error.map(str::to_string);
        let mut params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&row.action_id, Type::TEXT),
            (&row.cluster_id.0, Type::TEXT),
            (&row.action_sql, Type::TEXT),
            (&ctx, Type::TEXT),
            (&executed, Type::BOOL),
            (&err, Type::TEXT),
        ];
        if stamp == Stamp::Row {
            params.push((&at, Type::TEXT));
        }
        if let Some(by) = &a.by {
            params.push((by, Type::TEXT));
        }
        let n = execute_typed(c, &sql, params)
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, "writing the audit row"))?;
        a.inserted(c, n, 1, "writing the audit row").await
    }

    /// Whether our role holds each privilege of [`APPLY_PRIVILEGES`], in
    /// one statement (`has_table_privilege`): `(table, privilege, held)`.
    /// Fails when a table is missing.
    pub async fn apply_privileges(
        &self,
        c: &Client,
        only: Option<&[String]>,
    ) -> Result<Vec<(String, &'static str, bool)>, tokio_postgres::Error> {
        let wanted: Vec<(String, &'static str)> = APPLY_PRIVILEGES
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (self.table(t), *p)))
            .filter(|(t, _)| only.is_none_or(|only| only.contains(t)))
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let calls: Vec<String> = wanted
            .iter()
            .map(|(t, p)| {
                format!(
                    "has_table_privilege({}, {})",
                    ddl::literal(t),
                    ddl::literal(p)
                )
            })
            .collect();
        let rows = c
            .query_typed(&format!("SELECT {}", calls.join(", ")), &[])
            .await?;
        let row = rows.first();
        Ok(wanted
            .into_iter()
            .enumerate()
            .map(|(i, (t, p))| {
                let held = row
                    .and_then(|r| r.try_get::<_, bool>(i).ok())
                    .unwrap_or(false);
                (t, p, held)
            })
            .collect())
    }

    /// Closes the intent of an action that was never attempted (the same
    /// round trip found the cluster changed or the lease taken, `why`): not
    /// executed, and why. An UPDATE, as every other audit write (`apply`
    /// has no DELETE on the audit trail, and the trail keeps the attempt).
    pub async fn withdraw_intent(
        &self,
        c: &Client,
        action_id: &str,
        why: Withdrawn,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET executed = false, error_message = $2 \
             WHERE action_id = $1 AND executed IS NULL",
            self.table(ACTIONS)
        );
        execute_text(c, &sql, &[action_id, &why.message()])
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, "withdrawing an audit row"))?;
        Ok(())
    }

    /// Records how an attempted action ended (idempotent).
    pub async fn audit_outcome(&self, c: &Client, outcome: &Outcome) -> Result<(), DbError> {
        self.audit_outcomes(c, std::slice::from_ref(outcome)).await
    }

    /// Records how attempted actions ended, all in one statement
    /// (idempotent; nothing to send for none). Only open rows: a settled
    /// row sharing an id (another tool's, or one another run settled
    /// first) keeps its outcome. Materialize runs an UPDATE as
    /// a read-then-write over the whole audit table, which has no index
    /// (§8.3): one statement for a run's outcomes reads it once, not once
    /// per action ([`crate::exec::OUTCOME_BATCH`] at most per statement).
    pub async fn audit_outcomes(&self, c: &Client, outcomes: &[Outcome]) -> Result<(), DbError> {
        for chunk in outcomes.chunks(crate::exec::OUTCOME_BATCH) {
            let n = chunk.len();
            let arms = |column: usize| -> String {
                (0..n)
                    .map(|i| format!("WHEN ${} THEN ${}", i + 1, n * column + i + 1))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let sql = format!(
                "UPDATE {} SET executed = CASE action_id {} END, \
                 error_message = CASE action_id {} END \
                 WHERE action_id IN ({}) AND executed IS NULL",
                self.table(ACTIONS),
                arms(1),
                arms(2),
                placeholders(1, n)
            );
            let mut params: Vec<(&(dyn ToSql + Sync), Type)> = Vec::with_capacity(3 * n);
            params.extend(chunk.iter().map(|o| (&o.action_id as _, Type::TEXT)));
            params.extend(chunk.iter().map(|o| (&o.executed as _, Type::BOOL)));
            params.extend(chunk.iter().map(|o| (&o.error as _, Type::TEXT)));
            execute_typed(c, &sql, params)
                .await
                .map_err(|e| missing_or(&e, self, ACTIONS, "recording the actions' outcomes"))?;
        }
        Ok(())
    }

    /// Corrects rows an earlier run settled as not run, whose statement
    /// landed since (`plan::doubt::Settle::landed_late`): executed, with
    /// `error` as the note that says so. Rare: one statement each.
    pub async fn correct_landed_late(
        &self,
        c: &Client,
        outcomes: &[Outcome],
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET executed = true, error_message = $2 \
             WHERE action_id = $1 AND NOT executed AND error_message LIKE {}",
            self.table(ACTIONS),
            ddl::literal(&format!("{SETTLED_PREFIX}%"))
        );
        for o in outcomes {
            let params: Vec<(&(dyn ToSql + Sync), Type)> =
                vec![(&o.action_id as _, Type::TEXT), (&o.error as _, Type::TEXT)];
            execute_typed(c, &sql, params)
                .await
                .map_err(|e| missing_or(&e, self, ACTIONS, "correcting a late action's outcome"))?;
        }
        Ok(())
    }

    /// Rewrites an open intent's decision context: a retried DDL records
    /// how long after the intent its statement may still be running
    /// (`deadline_s`), so a later run holds the cluster that long.
    pub async fn extend_intent(
        &self,
        c: &Client,
        action_id: &str,
        decision_ctx: &serde_json::Value,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET decision_ctx = $2::text::jsonb WHERE action_id = $1 AND executed IS NULL",
            self.table(ACTIONS)
        );
        let ctx = decision_ctx.to_string();
        let action_id = action_id.to_string();
        let params: Vec<(&(dyn ToSql + Sync), Type)> =
            vec![(&action_id, Type::TEXT), (&ctx, Type::TEXT)];
        execute_typed(c, &sql, params)
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, "recording the retry on the audit row"))?;
        Ok(())
    }

    /// Audit rows whose outcome was never recorded (the run was killed
    /// mid-action), and in the same statement each cluster's newest
    /// executed `set_size` action (its ninth column says which: `open`,
    /// `resize`): read with the snapshot, parsed by
    /// [`Store::parse_unfinished`].
    /// An open create or drop whose replica an executed drop recorded
    /// since removed is tagged `open_dropped`: a create ran (a temporary
    /// replica that did not come online is dropped before its creation's
    /// outcome can be written), though the catalog no longer shows it; a
    /// drop did not (the later one did). So is an open drop followed by
    /// another open drop of the same replica, with no creation of it
    /// between: both were taken for run once the replica was gone (two
    /// executed rows for one drop: the chaos test), though only one can
    /// have dropped it; the later one counts.
    pub fn unfinished_sql(&self) -> String {
        let table = self.table(ACTIONS);
        let kind = |k: crate::plan::ActionKind| ddl::literal(k.name());
        // Statements settled as not run lately, read again in one scan:
        // drops that may still land, settled as not run, their run having
        // given up on them (`SETTLED_PREFIX`), or run by a retry after an
        // attempt without an answer (`retried`): the plan holds a create
        // of the same name while they may ([`crate::plan::doubt`]); and
        // creates settled as not run, which may have landed since (a
        // statement the server held past its deadline): corrected to
        // executed when the catalog shows their replica, unless a later
        // create of it ran or is open (that replica would be its).
        let settled = format!(
            "SELECT action_id, cluster_id, decision_ctx->>'kind', decision_ctx->>'replica', \
             decision_ctx->>'size', NULL::text, decision_ctx->>'deadline_s', created_at, \
             'settled', decision_ctx->>'boot', decision_ctx->>'cluster' FROM {table} AS s \
             WHERE created_at > now() - INTERVAL '{window} seconds' AND (\
               (decision_ctx->>'kind' = {drop} \
                AND ((NOT executed AND error_message LIKE {prefix}) \
                     OR (executed AND decision_ctx->>'retried' = 'true'))) \
               OR (decision_ctx->>'kind' = {create} AND NOT executed \
                AND error_message LIKE {prefix} \
                AND NOT EXISTS (SELECT 1 FROM {table} AS l WHERE l.cluster_id = s.cluster_id \
                  AND l.decision_ctx->>'kind' = {create} \
                  AND l.decision_ctx->>'replica' = s.decision_ctx->>'replica' \
                  AND l.created_at > s.created_at AND (l.executed IS NULL OR l.executed))))",
            create = kind(crate::plan::ActionKind::CreateReplica),
            drop = kind(crate::plan::ActionKind::DropReplica),
            prefix = ddl::literal(&format!("{SETTLED_PREFIX}%")),
            window = crate::plan::doubt::LANDS_LATE_WITHIN.as_secs(),
        );
        format!(
            "SELECT action_id, cluster_id, decision_ctx->>'kind', decision_ctx->>'replica', \
             decision_ctx->>'size', decision_ctx->>'replication_factor', decision_ctx->>'deadline_s', \
             created_at, CASE WHEN decision_ctx->>'kind' IN ({create}, {drop}) AND EXISTS (\
               SELECT 1 FROM {table} AS d WHERE d.executed AND d.cluster_id = a.cluster_id \
               AND d.decision_ctx->>'kind' = {drop} \
               AND d.decision_ctx->>'replica' = a.decision_ctx->>'replica' \
               AND d.created_at >= a.created_at) THEN 'open_dropped' \
             WHEN decision_ctx->>'kind' = {drop} AND EXISTS (\
               SELECT 1 FROM {table} AS d WHERE d.executed IS NULL \
               AND d.cluster_id = a.cluster_id AND d.decision_ctx->>'kind' = {drop} \
               AND d.decision_ctx->>'replica' = a.decision_ctx->>'replica' \
               AND d.created_at > a.created_at AND NOT EXISTS (\
                 SELECT 1 FROM {table} AS m WHERE m.cluster_id = a.cluster_id \
                 AND m.decision_ctx->>'kind' = {create} \
                 AND m.decision_ctx->>'replica' = a.decision_ctx->>'replica' \
                 AND m.created_at > a.created_at AND m.created_at < d.created_at)) \
               THEN 'open_dropped' ELSE 'open' END, \
             decision_ctx->>'boot', decision_ctx->>'cluster' FROM {table} AS a WHERE {open} \
             UNION ALL {settled} \
             UNION ALL SELECT * FROM ({last_resizes}) AS last_resizes \
             UNION ALL {refusals} \
             UNION ALL {graceful_refused}",
            create = kind(crate::plan::ActionKind::CreateReplica),
            drop = kind(crate::plan::ActionKind::DropReplica),
            open = open_sql("a."),
            last_resizes = self.last_resizes_sql(),
            refusals = self.refusals_sql(),
            graceful_refused = self.graceful_refused_sql(),
        )
    }

    /// When the server last refused a graceful resize (`WITH (WAIT UNTIL
    /// READY …)`) because its release gates it off
    /// ([`crate::plan::rules::GRACEFUL_GATED_OFF`]), within
    /// [`crate::plan::rules::GRACEFUL_REFUSAL_KEPT`], in the columns of
    /// [`Store::unfinished_sql`] (tagged `graceful_refused`, the time in the
    /// eighth; none when never). The feature flag that gates it is not
    /// visible to `SHOW` for any user but Materialize's own (§8.1): the
    /// refusal is how a region says it is off.
    fn graceful_refused_sql(&self) -> String {
        format!(
            "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, max(created_at), \
               'graceful_refused', NULL, NULL FROM {table} \
             WHERE NOT executed AND decision_ctx->>'kind' = {set_size} \
             AND lower(error_message) LIKE {gated} \
             AND created_at > now() - INTERVAL '{kept} seconds'",
            table = self.table(ACTIONS),
            set_size = ddl::literal(crate::plan::ActionKind::SetSize.name()),
            gated = ddl::literal(&format!("%{}%", crate::plan::rules::GRACEFUL_GATED_OFF)),
            kept = crate::plan::rules::GRACEFUL_REFUSAL_KEPT.as_secs(),
        )
    }

    /// The statements the server refused in a row, per cluster, in the
    /// columns of [`Store::unfinished_sql`] (tagged `refused`: what the
    /// action does, its kind, replica and size, in the third to fifth
    /// columns and its replication factor in the seventh, how many in the
    /// sixth, the newest one's time in the eighth, an error in the tenth,
    /// the statement in the eleventh): rows of the last hour that failed
    /// (not withdrawn before being sent, nor settled as never recorded),
    /// the same action not executed on their cluster since, nor the
    /// cluster's strategy rows changed by a command since (`strategy rm`,
    /// `pause`, `resume` too: an edit that removes a row leaves no newer
    /// row to tell it by). Actions are told apart by what they do, not by
    /// their statement's text, which carries `--resize-timeout`. What the
    /// plan reads to hold a statement refused again for a while
    /// ([`crate::plan::refused`]).
    fn refusals_sql(&self) -> String {
        let table = self.table(ACTIONS);
        let same = |a: &str, b: &str| {
            ["kind", "replica", "size", "replication_factor"]
                .iter()
                .map(|k| {
                    format!(
                        "coalesce({a}.decision_ctx->>'{k}', '') = coalesce({b}.decision_ctx->>'{k}', '')"
                    )
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        format!(
            "SELECT NULL::text, f.cluster_id, f.decision_ctx->>'kind', \
               coalesce(f.decision_ctx->>'replica', ''), f.decision_ctx->>'size', \
               count(*)::text, f.decision_ctx->>'replication_factor', max(f.created_at), \
               'refused', max(f.error_message), max(f.action_sql) \
             FROM {table} AS f WHERE NOT f.executed AND f.cluster_id IS NOT NULL \
             AND f.decision_ctx->>'kind' IS NOT NULL AND f.error_message IS NOT NULL \
             AND f.error_message NOT LIKE {withdrawn} AND f.error_message NOT LIKE {settled} \
             AND f.error_message NOT LIKE {cancelled} AND f.error_message NOT LIKE {gone} \
             AND f.created_at > now() - INTERVAL '{window} seconds' \
             AND NOT EXISTS (SELECT 1 FROM {table} AS e WHERE e.cluster_id = f.cluster_id \
               AND e.created_at > f.created_at \
               AND e.created_at > now() - INTERVAL '{window} seconds' \
               AND ((e.executed AND {same_action}) \
                    OR e.decision_ctx->>'kind' LIKE {changed})) \
             GROUP BY f.cluster_id, f.decision_ctx->>'kind', \
               coalesce(f.decision_ctx->>'replica', ''), f.decision_ctx->>'size', \
               f.decision_ctx->>'replication_factor'",
            withdrawn = ddl::literal(&format!("{WITHDRAWN_PREFIX}%")),
            settled = ddl::literal(&format!("{SETTLED_PREFIX}%")),
            cancelled = ddl::literal(&format!("{LEASE_CANCELLED_PREFIX}%")),
            gone = ddl::literal(&format!("{}%", crate::exec::GONE_PREFIX)),
            changed = ddl::literal(&format!("{STRATEGY_CHANGE}%")),
            same_action = same("e", "f"),
            window = crate::plan::refused::WINDOW.num_seconds(),
        )
    }

    /// Each cluster's newest executed `set_size` action, in the columns of
    /// [`Store::unfinished_sql`]: what the plan reads to hold back a resize
    /// that did not take, and what a pruning keeps.
    ///
    /// A row without a time is left out. The controller always writes one,
    /// so a person wrote it, and the backoff counts from when the resize
    /// was sent: a resize sent at no known time cannot be held back. Read
    /// first (`DESC` puts NULL first), it took the place of the newest
    /// timed resize, the parser dropped it, and a resize that did not take
    /// was sent again at once.
    ///
    /// A resize whose statement Materialize failed at its `WAIT UNTIL
    /// READY` timeout counts too (its error in the tenth column: the
    /// reference's `canceling statement, provided timeout lapsed`, 57014):
    /// it rolled back as a background resize does at its deadline, and was
    /// sent again every run, each attempt holding the run for
    /// `--resize-timeout` (an outside check). Not another failure (one
    /// cancelled by our own lost lease says nothing of the size; a refusal
    /// every run has its own, shorter backoff: `plan::refused`).
    fn last_resizes_sql(&self) -> String {
        let table = self.table(ACTIONS);
        let set_size = ddl::literal(crate::plan::ActionKind::SetSize.name());
        format!(
            "SELECT DISTINCT ON (cluster_id) action_id, cluster_id, decision_ctx->>'kind', \
               NULL::text, decision_ctx->>'size', NULL::text, NULL::text, created_at, 'resize', \
               CASE WHEN executed THEN NULL ELSE coalesce(error_message, '') END, NULL::text \
             FROM {table} WHERE cluster_id IS NOT NULL AND created_at IS NOT NULL \
             AND (executed OR (NOT executed AND error_message LIKE {timed_out})) \
             AND decision_ctx->>'kind' = {set_size} \
             ORDER BY cluster_id, created_at DESC",
            timed_out = ddl::literal(&format!("%{}%", crate::plan::rolled_back::RESIZE_TIMED_OUT)),
        )
    }

    /// The audit rows (as `a`) that `apply --audit-retention` may delete
    /// once old enough: those not open ([`open_sql`]), but not a cluster's newest
    /// executed resize ([`Store::last_resizes_sql`], the very row the plan
    /// reads), nor the rows of its last suspension
    /// ([`Store::last_suspensions_rows_sql`]). The plan reads the resize
    /// however old it is (a resize that did not take is held back from when
    /// it was seen, up to a week after a deadline of any length): deleting
    /// it would send a held-back resize again early. The suspension's rows
    /// are what a suspended cluster whose state is wiped wakes with, and a
    /// cluster may stay suspended longer than any retention. So a few rows
    /// per cluster stay: one resize, one suspension's drops (a week of runs
    /// at most) and the creation after them. The oldest of these
    /// rows decides when to prune ([`Store::oldest_prunable`]), so a kept
    /// row never makes every run prune.
    fn prunable(&self) -> String {
        format!(
            "NOT ({}) AND a.action_id NOT IN \
             (SELECT kept.action_id FROM ({}) AS kept) AND a.action_id NOT IN \
             (SELECT suspensions.action_id FROM ({}) AS suspensions)",
            open_sql("a."),
            self.last_resizes_sql(),
            self.last_suspensions_rows_sql()
        )
    }

    /// [`Store::unfinished_sql`] with, in the same statement, the highest
    /// migration recorded (a row tagged `schema`, its version in the third
    /// column): the reading commands learn whether a newer clusterctl
    /// migrated the tables without a statement more. It fails where the
    /// migrations table does not exist (tables an earlier tool created):
    /// the snapshot then reads [`Store::unfinished_sql`].
    pub fn unfinished_and_schema_sql(&self) -> String {
        format!(
            "{} UNION ALL SELECT NULL, NULL, max(version)::text, NULL, NULL, NULL, NULL, \
             NULL::timestamptz, 'schema', NULL, NULL FROM {}",
            self.unfinished_sql(),
            self.table(MIGRATIONS)
        )
    }

    /// The unfinished rows, the newest executed resize per cluster, and
    /// the highest migration recorded when the statement read it.
    pub fn parse_unfinished(rows: &[tokio_postgres::Row]) -> Unfinished {
        let mut unfinished = Vec::new();
        let mut resizes = BTreeMap::new();
        let mut refusals: BTreeMap<ClusterId, Vec<crate::model::Refusal>> = BTreeMap::new();
        let mut schema = None;
        let mut graceful_refused_at = None;
        for r in rows {
            let get = |i| r.try_get::<_, Option<String>>(i).ok().flatten();
            let created_at: Option<DateTime<Utc>> = r.try_get(7).ok().flatten();
            if get(8).as_deref() == Some("schema") {
                let highest = get(2).and_then(|v| v.parse::<i32>().ok());
                schema = Some(highest.into_iter().collect());
                continue;
            }
            if get(8).as_deref() == Some("graceful_refused") {
                graceful_refused_at = created_at;
                continue;
            }
            if get(8).as_deref() == Some("refused") {
                let count = get(5).and_then(|v| v.parse::<u32>().ok());
                if let (Some(id), Some(kind), Some(count), Some(last_at)) =
                    (get(1), get(2), count, created_at)
                {
                    refusals
                        .entry(ClusterId(id))
                        .or_default()
                        .push(crate::model::Refusal {
                            sql: get(10).unwrap_or_default(),
                            action: crate::model::RefusedAction {
                                kind,
                                replica: get(3).unwrap_or_default(),
                                size: get(4),
                                replication_factor: get(6).and_then(|v| v.parse().ok()),
                            },
                            count,
                            last_at,
                            error: get(9),
                        });
                }
                continue;
            }
            if get(8).as_deref() == Some("resize") {
                if let (Some(id), Some(size), Some(at)) = (get(1), get(4), created_at) {
                    resizes.insert(
                        ClusterId(id),
                        LastResize {
                            size: Size(size),
                            at,
                            failed: get(9),
                        },
                    );
                }
                continue;
            }
            unfinished.push(Unresolved {
                action_id: get(0).unwrap_or_default(),
                cluster_id: ClusterId(get(1).unwrap_or_default()),
                kind: get(2).unwrap_or_default(),
                replica: get(3).unwrap_or_default(),
                size: get(4),
                replication_factor: get(5).and_then(|v| v.parse().ok()),
                deadline_s: get(6).and_then(|v| v.parse().ok()),
                created_at,
                // Data: a boot clock that does not parse is none.
                boot: get(9).and_then(|v| serde_json::from_str(&v).ok()),
                dropped_since: get(8).as_deref() == Some("open_dropped"),
                settled: get(8).as_deref() == Some("settled"),
                cluster_name: get(10),
            });
        }
        Unfinished {
            open: unfinished,
            last_resizes: resizes,
            refusals,
            schema,
            graceful_refused_at,
        }
    }

    /// How big and how old the audit trail is, by the database's clock,
    /// and when a row of kind `pruned_kind` (a pruning's own audit row) was
    /// last written: what `doctor` says of it (one read of the table, by
    /// `doctor` only).
    pub async fn trail_size(&self, c: &Client, pruned_kind: &str) -> Result<TrailSize, DbError> {
        let context = "reading the audit trail's size";
        let sql = format!(
            "SELECT now(), count(*), min(created_at), \
             max(CASE WHEN decision_ctx->>'kind' = {prune} THEN created_at END) FROM {table}",
            prune = ddl::literal(pruned_kind),
            table = self.table(ACTIONS)
        );
        let rows = c
            .query_typed(&sql, &[])
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, context))?;
        let (now, row) = clock_row(&rows, context)?;
        let rows_held: i64 = row
            .try_get(1)
            .map_err(|_| no_answer(context, "the database gave no count"))?;
        let at = |i| row.try_get(i).ok().flatten();
        Ok(TrailSize {
            now,
            rows: u64::try_from(rows_held).unwrap_or(0),
            oldest: at(2),
            last_pruned: at(3),
        })
    }

    /// The other schemas holding clusterctl's lease table: other
    /// installations, whose controllers take their own lease, not this
    /// one's (what `doctor` warns of). Needs: mz_catalog.mz_objects,
    /// mz_schemas.
    pub async fn other_installations(&self, c: &Client) -> Result<Vec<String>, DbError> {
        let sql = "SELECT DISTINCT s.name FROM mz_catalog.mz_objects o \
                   JOIN mz_catalog.mz_schemas s ON s.id = o.schema_id \
                   WHERE o.name = $1 AND o.type = 'table' \
                   AND s.name <> coalesce($2, current_schema()) ORDER BY 1";
        let ours = self.schema.clone();
        let rows = c
            .query_typed(
                sql,
                &[
                    (&LEASE, tokio_postgres::types::Type::TEXT),
                    (&ours, tokio_postgres::types::Type::TEXT),
                ],
            )
            .await
            .map_err(|e| DbError::query("reading the catalog's other installations", &e))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .collect())
    }

    /// The clusters with strategy rows both here and in the installation of
    /// `schema` (its `mz_cluster_strategies`): acted on by two controllers
    /// at once, each under its own lease. Empty when that table cannot be
    /// read (or has none in common).
    ///
    /// Every column of the subquery is qualified: over a table of ours
    /// without `cluster_id` (another tool's), a bare `cluster_id` was the
    /// outer row's, always in the list, and every cluster of the other
    /// installation was said to be acted on by two controllers (an outside
    /// check). Qualified, that table fails the statement instead.
    pub async fn shared_with(&self, c: &Client, schema: &str) -> Result<Vec<ClusterId>, DbError> {
        let sql = format!(
            "SELECT DISTINCT o.cluster_id FROM {}.{} AS o \
             WHERE o.cluster_id IN (SELECT s.cluster_id FROM {} AS s) ORDER BY 1",
            ddl::ident(schema),
            ddl::ident(STRATEGIES),
            self.table(STRATEGIES)
        );
        let rows = c
            .query_typed(&sql, &[])
            .await
            .map_err(|e| DbError::query("reading another installation's strategy rows", &e))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .map(ClusterId)
            .collect())
    }

    /// Whether the installation of `schema` (its `mz_cluster_strategies`)
    /// has strategy rows of `id`: a command run with the wrong `--schema`
    /// says where they are.
    pub async fn has_rows_in(
        &self,
        c: &Client,
        schema: &str,
        id: &ClusterId,
    ) -> Result<bool, DbError> {
        let sql = format!(
            "SELECT count(*) FROM {}.{} WHERE cluster_id = $1",
            ddl::ident(schema),
            ddl::ident(STRATEGIES),
        );
        let rows = c
            .query_typed(&sql, &[(&id.0, tokio_postgres::types::Type::TEXT)])
            .await
            .map_err(|e| DbError::query("reading another installation's strategy rows", &e))?;
        Ok(rows
            .first()
            .and_then(|r| r.try_get::<_, i64>(0).ok())
            .is_some_and(|n| n > 0))
    }

    /// The database's clock, and when the oldest row a pruning may delete
    /// ([`Store::prunable`]) was written: read by `apply
    /// --audit-retention` only, so runs without it do not read the trail
    /// once more.
    pub async fn oldest_prunable(
        &self,
        c: &Client,
    ) -> Result<(DateTime<Utc>, Option<DateTime<Utc>>), DbError> {
        let sql = format!(
            "SELECT now(), min(a.created_at) FROM {} AS a WHERE {}",
            self.table(ACTIONS),
            self.prunable()
        );
        let context = "reading the audit trail's age";
        let rows = c
            .query_typed(&sql, &[])
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, context))?;
        let (now, row) = clock_row(&rows, context)?;
        Ok((now, row.try_get(1).ok().flatten()))
    }

    /// Deletes the audit trail's settled rows written more than `older_than`
    /// ago by the database's clock (`apply --audit-retention`); open rows
    /// stay, for the next run to settle, and so do each cluster's newest
    /// resize and last suspension ([`Store::prunable`]). How many went.
    pub async fn prune_audit(&self, c: &Client, older_than: Duration) -> Result<u64, DbError> {
        let sql = format!(
            "DELETE FROM {} AS a WHERE {} AND a.created_at < now() - $1::text::interval",
            self.table(ACTIONS),
            self.prunable()
        );
        let interval = format!("{} seconds", older_than.as_secs());
        let context = "pruning the audit trail";
        execute_text(c, &sql, &[interval]).await.map_err(|e| {
            // Refused: the one privilege only --audit-retention needs,
            // which doctor does not check (the hint said doctor printed
            // it).
            match super::refused(&e) && super::Missing::of(&e).is_none() {
                true => DbError::query(context, &e).with_hint(&format!(
                    "it needs DELETE on {t} (GRANT DELETE ON {t} TO the role; `clusterctl init \
                     --print` lists it)",
                    t = self.table(ACTIONS)
                )),
                false => missing_or(&e, self, ACTIONS, context),
            }
        })
    }

    /// What the audit trail shows of the last suspension by this controller
    /// of each of `clusters` (those the plan may recall one for,
    /// `plan::reads_the_trail_for`), in one statement whatever their number
    /// (read with the snapshot, parsed by [`Store::parse_last_suspensions`]):
    /// the rows of [`Store::suspension_rows`], one per drop, with the newest
    /// creation's time.
    pub fn last_suspensions_sql(&self, clusters: &[ClusterId]) -> String {
        let ids: Vec<String> = clusters.iter().map(|id| ddl::literal(&id.0)).collect();
        self.last_suspensions_where(&format!("AND cluster_id IN ({})", ids.join(", ")))
    }

    /// [`Store::last_suspensions_sql`] of every cluster (`simulate
    /// --from-history`, which reads each cluster's once).
    pub fn every_last_suspension_sql(&self) -> String {
        self.last_suspensions_where("")
    }

    /// The last suspensions' rows of the clusters `clusters` (a condition
    /// on `cluster_id`, [`Store::suspension_rows`]) selects.
    /// A cluster with creations of ours and no suspension has a row too,
    /// with no drop time: its newest creation ([`Store::parse_last_creations`]).
    fn last_suspensions_where(&self, clusters: &str) -> String {
        format!(
            "{} SELECT cluster_id, replica, size, created_at, last_created, ran, newest_run, run_id, live, \
             last_activity FROM last \
             UNION ALL SELECT c.cluster_id, NULL::text, NULL::text, NULL::timestamptz, c.at, \
               NULL::text, NULL::bool, NULL::text, NULL::text, NULL::text FROM created AS c \
             WHERE NOT EXISTS (SELECT 1 FROM drops AS d WHERE d.cluster_id = c.cluster_id)",
            self.suspension_rows(clusters)
        )
    }

    /// The newest creation of ours on each cluster the rows of
    /// [`Store::last_suspensions_sql`] show with no suspension: a cluster we
    /// woke (from mz-clusterctl's row) and never suspended, then wiped, was
    /// woken from that row again (an outside check).
    pub fn parse_last_creations(
        rows: &[tokio_postgres::Row],
    ) -> BTreeMap<ClusterId, DateTime<Utc>> {
        rows.iter()
            .filter(|r| matches!(r.try_get::<_, Option<DateTime<Utc>>>(3), Ok(None)))
            .filter_map(|r| {
                let id: String = r.try_get::<_, Option<String>>(0).ok().flatten()?;
                let at: DateTime<Utc> = r.try_get::<_, Option<DateTime<Utc>>>(4).ok().flatten()?;
                Some((ClusterId(id), at))
            })
            .collect()
    }

    /// The audit rows [`Store::last_suspensions_sql`] reads, by `action_id`:
    /// what a pruning keeps ([`Store::prunable`]), so a cluster suspended
    /// longer than `--audit-retention` can still be woken from the trail
    /// once its state is wiped.
    fn last_suspensions_rows_sql(&self) -> String {
        format!(
            "{} SELECT action_id FROM last WHERE action_id IS NOT NULL \
             UNION ALL SELECT action_id FROM created \
             WHERE action_id IS NOT NULL AND cluster_id IN (SELECT n.cluster_id FROM newest AS n)",
            self.suspension_rows("")
        )
    }

    /// Which rows of the audit trail make each cluster's last suspension by
    /// this controller, as a `WITH` naming them `last` (the drops, with the
    /// cluster's newest creation's time as `last_created`) and `created`
    /// (each cluster's newest creation): the executed `idle_suspend` drops of the newest run that
    /// made any there (rows without a run id are not ours), the drops of
    /// earlier runs within a week before it and after the cluster's newest
    /// creation (a suspension held back by `--max-actions`, or killed
    /// between its drops, takes several runs: the parser keeps those that
    /// belong to it), with the replicas live when each was planned, and the
    /// newest executed creation on the cluster. A managed cluster is
    /// suspended by a replication factor of 0, not by drops: that row's
    /// signals list the replicas it ran (their JSON text, expanded by the
    /// parser), and a factor above 0 later is its creation.
    ///
    /// Rows without a time are left out of both. The controller always
    /// writes one, so a person wrote them, and every judgement here is by
    /// time: which run is the newest, which drops fall in the week before
    /// it, whether a creation came after them. `DESC` reads NULL first: a
    /// timeless drop became the newest run (the parser, needing a time,
    /// then dropped it and the cluster had no suspension to wake with),
    /// and a timeless creation hid the newest one (a cluster woken since
    /// was woken again with a guess instead of an alert).
    ///
    /// `clusters`: a further condition on the rows' `cluster_id` (empty:
    /// every cluster), in both reads of the table; each cluster's rows are
    /// judged among its own only, so it changes no other cluster's.
    fn suspension_rows(&self, clusters: &str) -> String {
        let table = self.table(ACTIONS);
        let kind = |k: crate::plan::ActionKind| ddl::literal(k.name());
        let drop = kind(crate::plan::ActionKind::DropReplica);
        let create = kind(crate::plan::ActionKind::CreateReplica);
        let factor = kind(crate::plan::ActionKind::SetReplicationFactor);
        let strategy = ddl::literal(crate::strategy::StrategyKind::IdleSuspend.as_str());
        // A replica given up as stuck, dropped with a suspension: not one
        // it brings back.
        let stuck = ddl::literal(&format!("%{}%", crate::strategy::FORGOTTEN_AS_STUCK));
        format!(
            "WITH drops AS (\
               SELECT action_id, cluster_id, decision_ctx->>'run_id' AS run_id, \
                      decision_ctx->>'replica' AS replica, decision_ctx->>'size' AS size, created_at, \
                      CASE WHEN decision_ctx->>'kind' = {factor} \
                           THEN decision_ctx->'signals'->>'replicas' END AS ran, \
                      decision_ctx->'signals'->>'replicas' AS live, \
                      decision_ctx->'signals'->>'last_activity' AS last_activity \
               FROM {table} WHERE executed AND cluster_id IS NOT NULL AND created_at IS NOT NULL \
               {clusters} AND decision_ctx->>'strategy' = {strategy} \
               AND coalesce(decision_ctx->>'reasons', '') NOT LIKE {stuck} \
               AND (decision_ctx->>'kind' = {drop} OR (decision_ctx->>'kind' = {factor} \
                    AND decision_ctx->>'replication_factor' = '0'))), \
             newest AS (\
               SELECT DISTINCT ON (cluster_id) cluster_id, run_id, created_at FROM drops \
               ORDER BY cluster_id, created_at DESC, run_id DESC), \
             created AS (\
               SELECT DISTINCT ON (cluster_id) cluster_id, action_id, created_at AS at FROM {table} \
               WHERE executed AND cluster_id IS NOT NULL AND created_at IS NOT NULL {clusters} \
                 AND (decision_ctx->>'kind' = {create} \
                 OR (decision_ctx->>'kind' = {factor} AND decision_ctx->>'replication_factor' <> '0')) \
               ORDER BY cluster_id, created_at DESC), \
             last AS (\
               SELECT d.action_id, d.cluster_id, d.replica, d.size, d.created_at, c.at AS last_created, \
                      d.ran, d.run_id = n.run_id AS newest_run, d.run_id, d.live, d.last_activity \
               FROM drops d JOIN newest n ON n.cluster_id = d.cluster_id \
               LEFT JOIN created c ON c.cluster_id = d.cluster_id \
               WHERE d.run_id = n.run_id OR (d.created_at > n.created_at - INTERVAL '7 days' \
                 AND (c.at IS NULL OR d.created_at > c.at)))"
        )
    }

    pub fn parse_last_suspensions(
        rows: &[tokio_postgres::Row],
    ) -> BTreeMap<ClusterId, LastSuspension> {
        let mut drops: BTreeMap<ClusterId, Vec<SuspensionDrop>> = BTreeMap::new();
        for r in rows {
            let text = |i| r.try_get::<_, Option<String>>(i).ok().flatten();
            let (Some(id), Ok(Some(at))) = (text(0), r.try_get::<_, Option<DateTime<Utc>>>(3))
            else {
                continue;
            };
            let dropped = match text(5) {
                Some(ran) => ran_replicas(&ran),
                None => text(1)
                    .map(|replica| vec![(replica, text(2).map(Size))])
                    .unwrap_or_default(),
            };
            drops
                .entry(ClusterId(id))
                .or_default()
                .push(SuspensionDrop {
                    at,
                    newest_run: r
                        .try_get::<_, Option<bool>>(6)
                        .ok()
                        .flatten()
                        .unwrap_or(false),
                    run: text(7).unwrap_or_default(),
                    dropped,
                    live: text(8)
                        .map(|l| ran_replicas(&l).into_iter().map(|(n, _)| n).collect())
                        .unwrap_or_default(),
                    last_created: r.try_get(4).ok().flatten(),
                    last_activity: text(9).and_then(|t| crate::model::utc_time(&t)),
                });
        }
        drops
            .into_iter()
            .filter_map(|(id, d)| Some((id, last_suspension(d)?)))
            .collect()
    }

    /// Which of these cluster ids have state rows of ours (`wipe-state
    /// --cluster` with the id of a dropped cluster; the reference's are not
    /// wiped): the ids only, not every payload.
    pub async fn state_ids(&self, c: &Client, ids: &[String]) -> Result<Vec<ClusterId>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT cluster_id FROM {} WHERE state_version = {STATE_VERSION} \
             AND cluster_id IN ({})",
            self.table(STATE),
            placeholders(1, ids.len())
        );
        let rows = c
            .query_typed(&sql, &text_params(ids))
            .await
            .map_err(|e| missing_or(&e, self, STATE, "reading state"))?;
        Ok(rows
            .iter()
            .filter_map(|r| r.try_get::<_, String>(0).ok())
            .map(ClusterId)
            .collect())
    }

    /// Deletes state rows of ours (`state_version` 2: the reference's 1
    /// stay, for a rollback to it): all of them, or those of the given
    /// clusters;
    /// none when the statement arrives after its attempt (`a.by`: what a
    /// run learned since stays). One refused by a step of the server's
    /// clock though it arrived in time fails the attempt
    /// ([`Attempt::deleted`]), not "nothing to wipe".
    pub async fn wipe_states(
        &self,
        c: &Client,
        clusters: Option<&[ClusterId]>,
        a: &Attempt,
    ) -> Result<Deleted, DbError> {
        let table = self.table(STATE);
        let n = match clusters {
            None => {
                let mut params = Vec::new();
                let sql = format!(
                    "DELETE FROM {table} WHERE state_version = {STATE_VERSION} AND {}",
                    a.in_time(&mut params)
                );
                let n = execute_text(c, &sql, &params)
                    .await
                    .map_err(|e| missing_or(&e, self, STATE, "wiping state"))?;
                a.deleted(c, n, "wiping state").await?
            }
            Some(ids) => {
                let mut total = 0;
                for chunk in ids.chunks(CHUNK) {
                    let mut params: Vec<String> = chunk.iter().map(|c| c.0.clone()).collect();
                    let sql = format!(
                        "DELETE FROM {table} WHERE state_version = {STATE_VERSION} \
                         AND cluster_id IN ({}) AND {}",
                        placeholders(1, chunk.len()),
                        a.in_time(&mut params)
                    );
                    let n = execute_text(c, &sql, &params)
                        .await
                        .map_err(|e| missing_or(&e, self, STATE, "wiping state"))?;
                    total += a
                        .deleted(c, n, "wiping state")
                        .await
                        .map_err(|e| if total > 0 { e.after_writing() } else { e })?
                        .rows;
                }
                Deleted {
                    rows: total,
                    retried: a.retry,
                }
            }
        };
        Ok(n)
    }

    /// When a write sent next on `c`, in an attempt `attempt` long, was
    /// over at the latest, by the server's clock (a read of its `now()`,
    /// [`lease::answer_by`]): [`Attempt::by`], which
    /// [`crate::db::live::LiveBackend::writing`] reads for each attempt.
    pub async fn write_deadline(&self, c: &Client, attempt: Duration) -> Result<String, DbError> {
        let now = database_now(c).await?;
        Ok(super::lease::answer_by(now, attempt))
    }

    /// The database's clock, read now on `c` (one statement): what a run
    /// follows again after its deadline was refused by a step of it.
    pub async fn read_clock(&self, c: &Client) -> Result<super::DbClock, DbError> {
        let sent = std::time::Instant::now();
        let now = database_now(c).await?;
        Ok(super::DbClock::read_since(now, sent))
    }

    /// Replaces the config of one (cluster, type): inserts the new row with
    /// an explicit `updated_at`, then deletes the older rows of that
    /// (cluster, type). Two statements, since Materialize has neither upsert
    /// nor multi-statement write transactions; readers take the newest row,
    /// so a crash between the two is harmless. A retry (`a.retry`) inserts
    /// only if the attempt before did not (that row has this `at`), so a
    /// connection cut after the INSERT committed leaves one row, not two
    /// sharing the newest time; statements that arrive after their attempt
    /// (`a.by`) write nothing. `replaces`: the command saw rows to replace,
    /// so a DELETE that deletes none asks whether its deadline refused it
    /// ([`Attempt::deleted`]); the retry, after the INSERT was written,
    /// finds that row and deletes. Returns the rows replaced.
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_strategy(
        &self,
        c: &Client,
        id: &ClusterId,
        ty: &str,
        config: &serde_json::Value,
        at: DateTime<Utc>,
        replaces: bool,
        a: &Attempt,
    ) -> Result<u64, DbError> {
        let table = self.table(STRATEGIES);
        let at_text = at.to_rfc3339();
        let columns = "cluster_id, strategy_type, config, updated_at";
        let values = "$1::text, $2::text, $3::text::jsonb, $4::text::timestamptz";
        let mut params = vec![
            id.0.clone(),
            ty.to_string(),
            config.to_string(),
            at_text.clone(),
        ];
        // The attempt before may have committed: its row has this
        // command's time.
        let written = a.unless_written(&format!(
            "SELECT 1 FROM {table} WHERE cluster_id = $1 AND strategy_type = $2 \
             AND updated_at = $4::text::timestamptz"
        ));
        let insert = format!(
            "INSERT INTO {table} ({columns}) SELECT {values} WHERE {written} AND {}",
            a.in_time(&mut params)
        );
        let n = execute_text(c, &insert, &params)
            .await
            .map_err(|e| missing_or(&e, self, STRATEGIES, "writing the strategy row"))?;
        // Refused: the rows it replaces are kept; the retry writes it.
        a.inserted(c, n, 1, "writing the strategy row").await?;
        let mut params = vec![id.0.clone(), ty.to_string(), at_text];
        let delete = format!(
            "DELETE FROM {table} WHERE cluster_id = $1 AND strategy_type = $2 AND {} AND {}",
            undated_or("<", 3),
            a.in_time(&mut params)
        );
        let context = "removing the replaced strategy rows";
        let n = execute_text(c, &delete, &params)
            .await
            .map_err(|e| missing_or(&e, self, STRATEGIES, context))?;
        if !replaces {
            return Ok(n);
        }
        let deleted = a
            .deleted(c, n, context)
            .await
            .map_err(DbError::after_writing)?;
        Ok(deleted.rows)
    }

    /// Writes `rows` (type and config) as a cluster's, all with `at`, in one
    /// statement (`strategy mv`), only while the cluster has no rows but
    /// these: either all are written or none. The move was planned for a
    /// cluster without rows; one written since by anyone else (another
    /// `strategy mv`, a `strategy set`) leaves the statement writing
    /// nothing. Materialize runs it as a read then a write under the table's
    /// write lock (catalog reference §8.3), so two at once cannot both
    /// write. A retry after an attempt that committed finds this command's
    /// own rows (same type, same `at`) and adds nothing; a statement that
    /// arrives after its attempt (`a.by`) writes nothing. Returns the rows
    /// written.
    pub async fn insert_strategies(
        &self,
        c: &Client,
        id: &ClusterId,
        rows: &[(String, serde_json::Value)],
        at: DateTime<Utc>,
        a: &Attempt,
    ) -> Result<u64, DbError> {
        let table = self.table(STRATEGIES);
        let mut params = vec![id.0.clone(), at.to_rfc3339()];
        let mut values = Vec::with_capacity(rows.len());
        for (ty, config) in rows {
            let n = params.len();
            values.push(format!(
                "($1::text, ${}::text, ${}::text::jsonb, $2::text::timestamptz)",
                n + 1,
                n + 2
            ));
            params.push(ty.clone());
            params.push(config.to_string());
        }
        let sql = format!(
            "INSERT INTO {table} (cluster_id, strategy_type, config, updated_at) \
             SELECT v.cluster_id, v.strategy_type, v.config, v.updated_at \
             FROM (VALUES {}) AS v (cluster_id, strategy_type, config, updated_at) \
             WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.cluster_id = v.cluster_id \
             AND (t.strategy_type = v.strategy_type OR t.updated_at IS DISTINCT FROM v.updated_at)) \
             AND {}",
            values.join(", "),
            a.in_time(&mut params),
        );
        execute_text(c, &sql, &params)
            .await
            .map_err(|e| missing_or(&e, self, STRATEGIES, "writing the strategy rows"))
    }

    /// Whether the cluster has strategy rows dated `at`: those a write of
    /// this command's committed (its answer lost to a cut connection).
    pub async fn has_rows_dated(
        &self,
        c: &Client,
        id: &ClusterId,
        at: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let reading = "re-reading the cluster's strategy rows";
        self.has_dated(c, STRATEGIES, id, at, reading).await
    }

    /// Whether `table` (strategies or state) has a row of the cluster dated
    /// `at`.
    async fn has_dated(
        &self,
        c: &Client,
        table: &str,
        id: &ClusterId,
        at: DateTime<Utc>,
        reading: &str,
    ) -> Result<bool, DbError> {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE cluster_id = $1::text \
             AND updated_at = $2::text::timestamptz",
            self.table(table)
        );
        let text = tokio_postgres::types::Type::TEXT;
        let rows = c
            .query_typed(&sql, &[(&id.0, text.clone()), (&at.to_rfc3339(), text)])
            .await
            .map_err(|e| missing_or(&e, self, table, reading))?;
        let mut n = 0i64;
        if let Some(row) = rows.first() {
            n = row
                .try_get(0)
                .map_err(|e| missing_or(&e, self, table, reading))?;
        }
        Ok(n > 0)
    }

    /// Writes `payload` as the state of cluster `id`, dated `at`, only
    /// while the cluster has none of our `state_version` (what `strategy
    /// mv` carries: a cluster with state of its own keeps it; Materialize
    /// runs the statement as a read then a write under the table's write
    /// lock), and before its attempt was over (`a.by`). Whether it was
    /// written: a retry (`a.retry`: the attempt before may have committed,
    /// its answer lost) that writes nothing asks whether that attempt's row
    /// is there.
    pub async fn insert_state_if_none(
        &self,
        c: &Client,
        id: &ClusterId,
        payload: &serde_json::Value,
        at: DateTime<Utc>,
        a: &Attempt,
    ) -> Result<bool, DbError> {
        let table = self.table(STATE);
        let mut params = vec![id.0.clone(), payload.to_string(), at.to_rfc3339()];
        let sql = format!(
            "INSERT INTO {table} (cluster_id, state_version, payload, updated_at) \
             SELECT $1::text, {STATE_VERSION}, $2::text::jsonb, $3::text::timestamptz \
             WHERE NOT EXISTS (SELECT 1 FROM {table} AS s \
             WHERE s.cluster_id = $1::text AND s.state_version = {STATE_VERSION}) AND {}",
            a.in_time(&mut params)
        );
        let n = execute_text(c, &sql, &params)
            .await
            .map_err(|e| missing_or(&e, self, STATE, "writing the carried state"))?;
        if n == 0 && a.retry {
            let reading = "re-reading the cluster's state";
            return self.has_dated(c, STATE, id, at, reading).await;
        }
        Ok(n > 0)
    }

    /// Deletes a cluster's strategy rows (all of them, or those of one
    /// type) dated `up_to` or earlier, or undated: those the command saw.
    /// A row written since (a `strategy set` landing between the command's
    /// snapshot and this statement is dated later) is kept, and so is every
    /// row when the statement arrives after its attempt (`a.by`). One
    /// refused by a step of the server's clock though it arrived in time
    /// fails the attempt ([`Attempt::deleted`]).
    pub async fn delete_strategies(
        &self,
        c: &Client,
        id: &ClusterId,
        ty: Option<&str>,
        up_to: DateTime<Utc>,
        a: &Attempt,
    ) -> Result<Deleted, DbError> {
        let table = self.table(STRATEGIES);
        let seen = undated_or("<=", 2);
        let mut params = vec![id.0.clone(), up_to.to_rfc3339()];
        let of_type = match ty {
            Some(ty) => {
                params.push(ty.to_string());
                " AND strategy_type = $3"
            }
            None => "",
        };
        let sql = format!(
            "DELETE FROM {table} WHERE cluster_id = $1 AND {seen}{of_type} AND {}",
            a.in_time(&mut params)
        );
        let n = execute_text(c, &sql, &params)
            .await
            .map_err(|e| missing_or(&e, self, STRATEGIES, "removing strategy rows"))?;
        a.deleted(c, n, "removing strategy rows").await
    }

    /// The audit trail, newest first, filtered and limited in SQL (one
    /// statement). `since_s`: only rows newer than that many seconds ago
    /// (the database's clock); `clusters`: only these cluster ids.
    pub async fn actions(
        &self,
        c: &Client,
        filter: &ActionFilter<'_>,
    ) -> Result<Vec<ActionRecord>, DbError> {
        self.actions_as(c, filter, |r| r).await
    }

    /// [`Store::actions`], each row made into a `T` as it arrives: the raw
    /// rows and their decision contexts are never all held at once
    /// (`history --limit 0` of 70 000 rows held 370 MB, 650 MB as JSON:
    /// an outside check at scale).
    pub async fn actions_as<T>(
        &self,
        c: &Client,
        filter: &ActionFilter<'_>,
        mut each: impl FnMut(ActionRecord) -> T,
    ) -> Result<Vec<T>, DbError> {
        let mut params: Vec<String> = Vec::new();
        let mut sql = format!(
            "{} FROM {} WHERE true",
            action_columns(),
            self.table(ACTIONS)
        );
        for (bound, op) in [(&filter.since, ">"), (&filter.until, "<=")] {
            match bound {
                Some(Bound::SecondsAgo(s)) => {
                    params.push(format!("{s} seconds"));
                    let _ = write!(
                        sql,
                        " AND created_at {op} now() - ${}::text::interval",
                        params.len()
                    );
                }
                Some(Bound::At(t)) => {
                    params.push(t.to_rfc3339());
                    let _ = write!(
                        sql,
                        " AND created_at {op} ${}::text::timestamptz",
                        params.len()
                    );
                }
                None => {}
            }
        }
        // A row without a time the client reads (NULL, `infinity`) is in
        // no range: NULL compares to nothing, `infinity` is after every
        // `--since`.
        if filter.since.is_some() || filter.until.is_some() {
            let _ = write!(sql, " AND NOT {}", undated("created_at"));
        }
        if let Some(replica) = filter.replica {
            params.push(replica.to_string());
            let _ = write!(sql, " AND decision_ctx->>'replica' = ${}", params.len());
        }
        if let Some(prefix) = filter.kind_prefix {
            // LIKE's own characters (`_` in every kind) match themselves.
            let escaped: String = prefix
                .chars()
                .flat_map(|c| match c {
                    '\\' | '%' | '_' => vec!['\\', c],
                    c => vec![c],
                })
                .collect();
            params.push(format!("{escaped}%"));
            let _ = write!(sql, " AND decision_ctx->>'kind' LIKE ${}", params.len());
        }
        if let Some(run) = filter.run {
            params.push(format!("{run}%"));
            let _ = write!(sql, " AND decision_ctx->>'run_id' LIKE ${}", params.len());
        }
        if filter.failed_only {
            let wanted: Vec<String> = ActionResult::ALL
                .into_iter()
                .filter(|r| r.needs_attention())
                .map(|r| ddl::literal(r.as_str()))
                .collect();
            let _ = write!(
                sql,
                " AND {} IN ({})",
                ActionResult::sql(),
                wanted.join(", ")
            );
        }
        if let Some(ids) = filter.clusters {
            let mut whose: Vec<String> = Vec::new();
            if !ids.is_empty() {
                let first = params.len() + 1;
                params.extend(ids.iter().map(|id| id.0.clone()));
                whose.push(format!(
                    "cluster_id IN ({})",
                    placeholders(first, ids.len())
                ));
            }
            for (id, name) in filter.recorded {
                params.push(id.0.clone());
                params.push(name.clone());
                whose.push(format!(
                    "(cluster_id = ${} AND decision_ctx->>'cluster' = ${})",
                    params.len() - 1,
                    params.len()
                ));
            }
            // A wipe is a row of the run, with no cluster of its own: it
            // belongs to every cluster it wiped (all, when it names none).
            let wiped: Vec<serde_json::Value> = ids
                .iter()
                .map(|id| serde_json::json!([{ "id": id.0 }]))
                .chain(
                    filter
                        .recorded
                        .iter()
                        .map(|(id, name)| serde_json::json!([{ "id": id.0, "name": name }])),
                )
                .collect();
            // A wipe of all: of a cluster that existed then (one numbered
            // no higher than the newest it recorded; any, where it recorded
            // none readable: an older row, or one written by hand).
            let oldest = ids
                .iter()
                .chain(filter.recorded.iter().map(|(id, _)| id))
                .map(ClusterId::user_number)
                .try_fold(u64::MAX, |low, n| Some(low.min(n?)));
            let all = "decision_ctx->'clusters' = 'null'::jsonb";
            let mut wipes = vec![match oldest {
                Some(n) if i64::try_from(n).is_ok() => {
                    params.push(n.to_string());
                    format!(
                        "({all} AND coalesce(CASE WHEN decision_ctx->>'{NEWEST_CLUSTER}' ~ \
                         '^u[0-9]{{1,18}}$' THEN substr(decision_ctx->>'{NEWEST_CLUSTER}', 2)::int8 \
                         >= ${}::text::int8 END, true))",
                        params.len()
                    )
                }
                _ => all.to_string(),
            }];
            for w in wiped {
                params.push(w.to_string());
                wipes.push(format!(
                    "decision_ctx->'clusters' @> ${}::text::jsonb",
                    params.len()
                ));
            }
            whose.push(format!(
                "(decision_ctx->>'kind' = {} AND ({}))",
                ddl::literal(WIPE_KIND),
                wipes.join(" OR ")
            ));
            let _ = write!(sql, " AND ({})", whose.join(" OR "));
        }
        // A row without a time (written by hand, or dated `infinity`) is
        // the oldest: first, it took the place of the newest under `--limit`.
        let _ = write!(
            sql,
            " ORDER BY {}, created_at DESC, action_id DESC",
            undated("created_at")
        );
        if let Some(limit) = filter.limit {
            let _ = write!(sql, " LIMIT {limit}");
        }
        let read = async {
            let stream = c.query_typed_raw(&sql, text_params(&params)).await?;
            let mut stream = std::pin::pin!(stream);
            let mut out = Vec::new();
            while let Some(row) = stream.try_next().await? {
                out.extend(ActionRecord::from_row(&row).map(&mut each));
            }
            out.shrink_to_fit();
            Ok(out)
        };
        read.await
            .map_err(|e| missing_or(&e, self, ACTIONS, "reading the audit trail"))
    }

    /// The clusters the audit trail knows by one of `args`, as an id or as
    /// the name its rows recorded (`decision_ctx->>'cluster'`; a wipe's,
    /// each of its `clusters`): a dropped cluster's rows keep both. `(id,
    /// recorded name)`, one per pair. A wipe's names count too: a cluster
    /// renamed to NAME, wiped, then dropped, had no row of its own under
    /// NAME, and `history --cluster NAME` left its wipe out (an outside
    /// check).
    pub async fn audited_clusters(
        &self,
        c: &Client,
        args: &[String],
    ) -> Result<Vec<(ClusterId, Option<String>)>, DbError> {
        if args.is_empty() {
            return Ok(Vec::new());
        }
        let ph = placeholders(1, args.len());
        let table = self.table(ACTIONS);
        // Hand-written rows may hold anything: only an array's objects.
        let sql = format!(
            "SELECT cluster_id, decision_ctx->>'cluster' FROM {table} \
             WHERE cluster_id IN ({ph}) OR decision_ctx->>'cluster' IN ({ph}) \
             UNION \
             SELECT w.c->>'id', w.c->>'name' FROM {table} AS a, \
             jsonb_array_elements(CASE WHEN jsonb_typeof(a.decision_ctx->'clusters') = 'array' \
             THEN a.decision_ctx->'clusters' ELSE '[]'::jsonb END) AS w (c) \
             WHERE a.decision_ctx->>'kind' = {} AND jsonb_typeof(w.c) = 'object' \
             AND w.c->>'id' IS NOT NULL \
             AND (w.c->>'id' IN ({ph}) OR w.c->>'name' IN ({ph}))",
            ddl::literal(WIPE_KIND)
        );
        let rows = c
            .query_typed(&sql, &text_params(args))
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, "reading the audit trail"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id: String = r.try_get(0).ok()?;
                Some((ClusterId(id), r.try_get(1).ok().flatten()))
            })
            .collect())
    }

    /// The newest action of each cluster of `clusters` (of every cluster
    /// with `None`), in one statement. Of its decision context only what
    /// `status` shows (the kind and the replica): a fleet's contexts, whole,
    /// were most of what `status` held.
    ///
    /// Rows with a time only (`status` shows an action's age; a row
    /// without one is `history`'s); of rows of the same newest time, the
    /// greatest `action_id`, the last row read. Two plans of the one
    /// answer, by how many rows they sort (PostgreSQL, 100 000 rows, no
    /// index, as Materialize's tables have none):
    /// - every cluster's: the newest time of each is a grouped `max`, joined
    ///   back to its rows (ties all come back, in `action_id` order): 70
    ///   ms, where a `DISTINCT ON` sorted the whole trail (270 ms);
    /// - a few clusters': a `DISTINCT ON` sorts only their rows, in one
    ///   scan (23 ms, the join's two scans 46 ms).
    pub async fn last_actions(
        &self,
        c: &Client,
        clusters: Option<&[ClusterId]>,
    ) -> Result<Vec<ActionRecord>, DbError> {
        let ids: Vec<&str> = clusters
            .unwrap_or_default()
            .iter()
            .map(|id| id.0.as_str())
            .collect();
        if clusters.is_some() && ids.is_empty() {
            return Ok(Vec::new());
        }
        let columns = columns_with_ctx(
            "jsonb_build_object('kind', decision_ctx->'kind', \
             'replica', decision_ctx->'replica')::text",
        );
        let table = self.table(ACTIONS);
        let sql = match clusters {
            Some(_) => format!(
                "SELECT DISTINCT ON (cluster_id) {} FROM {table} \
                 WHERE cluster_id IN ({}) AND NOT {} \
                 ORDER BY cluster_id, created_at DESC, action_id DESC",
                columns.trim_start_matches("SELECT "),
                placeholders(1, ids.len()),
                undated("created_at")
            ),
            None => format!(
                "{columns} FROM {table} JOIN (SELECT cluster_id AS newest_of, \
                 max(created_at) AS newest FROM {table} WHERE cluster_id IS NOT NULL \
                 AND NOT {} GROUP BY cluster_id) AS newest_times \
                 ON cluster_id = newest_of AND created_at = newest ORDER BY cluster_id, action_id",
                undated("created_at")
            ),
        };
        let rows = c
            .query_typed(&sql, &text_params(&ids))
            .await
            .map_err(|e| missing_or(&e, self, ACTIONS, "reading the last actions"))?;
        Ok(rows.iter().filter_map(ActionRecord::from_row).collect())
    }
}

/// What a refusal for want of a privilege on our tables adds to its
/// reason (`doctor`, which says the GRANT itself, leaves it out).
pub const DOCTOR_HINT: &str = "`clusterctl doctor` prints the GRANT this role needs";

/// A failed statement on our table `table`, as every reader says it: our
/// tables missing ([`DbError::TablesMissing`]), the `--schema` missing, a
/// column missing (the table is another tool's, [`DbError::NotOurs`]), a
/// privilege missing (pointing at `doctor`, which names the GRANT), or the
/// statement's own error. Whether a missing table is really a missing
/// schema (PostgreSQL says the relation is missing for both), and every
/// column a table of another tool's lacks, are asked by
/// `LiveBackend::explain_missing`.
pub fn missing_or(
    e: &tokio_postgres::Error,
    store: &Store,
    table: &str,
    context: impl Into<String>,
) -> DbError {
    let context = context.into();
    let column = super::unknown_column(e);
    match super::Missing::of(e) {
        Some(super::Missing::Table) => DbError::TablesMissing {
            where_: store.table(table),
            init: store.init_command(),
        },
        Some(super::Missing::Schema) => super::migrate::missing_schema(store),
        // Only the column the server named, of the table the statement is
        // about: what the catalog says of all of them is asked where it
        // can be (`explain_missing`).
        None if column.is_some() => DbError::NotOurs {
            tables: vec![super::migrate::Foreign {
                table: store.table(table),
                missing: column.filter(|c| !c.is_empty()).into_iter().collect(),
                ..Default::default()
            }],
        },
        // A write of the strategy rows is an operator's (`strategy set`,
        // `rm`, `mv`, `pause`): `doctor` checks what `apply` needs, which
        // reads them only.
        None if super::refused(e) && table == STRATEGIES && !context.starts_with("reading") => {
            DbError::query(context, e).with_hint(&format!(
                "`{} --print --role ROLE` prints the GRANTs of a role that runs the strategy \
                 commands",
                store.init_command()
            ))
        }
        None if super::refused(e) => DbError::query(context, e).with_hint(DOCTOR_HINT),
        None => DbError::query(context, e),
    }
}

/// The outcome an audit row of an ended action records.
#[derive(Debug, Clone, Copy)]
pub struct Done<'a> {
    pub executed: bool,
    pub error: Option<&'a str>,
}

impl Done<'static> {
    /// Executed, without an error.
    pub const OK: Done<'static> = Done {
        executed: true,
        error: None,
    };
}

/// Where an audit row's `created_at` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The row's own `created_at` (a parameter).
    Row,
    /// The database's `now()`, so the row sorts among the runs' rows
    /// (stamped by the database's clock) whatever this host's clock says;
    /// not constant, so it runs on the session cluster.
    DatabaseNow,
}

/// A bound of a time range: seconds before the database's now, or a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    SecondsAgo(u64),
    At(DateTime<Utc>),
}

/// Which audit rows to read.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter<'a> {
    /// Newer than this.
    pub since: Option<Bound>,
    /// Not newer than this.
    pub until: Option<Bound>,
    pub failed_only: bool,
    pub clusters: Option<&'a [ClusterId]>,
    /// With `clusters`: also the rows of these clusters recorded under this
    /// name (`decision_ctx->>'cluster'`), and only those: an earlier
    /// holder of a name (the other side of a swap) is in that name's
    /// history for the time it held it, not for what it did under another.
    pub recorded: &'a [(ClusterId, String)],
    /// Only rows whose kind (`decision_ctx->>'kind'`) starts with this
    /// (`history::STRATEGY_CHANGE`: every strategy change; a whole kind:
    /// that kind alone).
    pub kind_prefix: Option<&'a str>,
    /// Only actions on this replica (`decision_ctx->>'replica'`).
    pub replica: Option<&'a str>,
    /// Only actions of runs whose id starts so (`decision_ctx->>'run_id'`;
    /// hex digits and dashes only, `cli::args::parse_run_id`).
    pub run: Option<&'a str>,
    /// At most this many rows; `None` for all.
    pub limit: Option<u32>,
}

/// The one row of an aggregate read whose first column is the database's
/// `now()` (what judges the trail's age), and that time.
fn clock_row<'r>(
    rows: &'r [tokio_postgres::Row],
    context: &str,
) -> Result<(DateTime<Utc>, &'r tokio_postgres::Row), DbError> {
    rows.first()
        .and_then(|r| Some((r.try_get::<_, DateTime<Utc>>(0).ok()?, r)))
        .ok_or_else(|| no_answer(context, "the database gave no time"))
}

/// A read that came back without what it asked for.
fn no_answer(context: &str, reason: &str) -> DbError {
    DbError::Query {
        context: context.into(),
        reason: reason.into(),
        transient: false,
    }
}

/// The audit trail's size, as [`Store::trail_size`] reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrailSize {
    /// The database's clock.
    pub now: DateTime<Utc>,
    pub rows: u64,
    /// When the oldest row was written; `None` for an empty trail.
    pub oldest: Option<DateTime<Utc>>,
    /// When `apply --audit-retention` last pruned it, as its own audit
    /// row says (itself pruned after the retention).
    pub last_pruned: Option<DateTime<Utc>>,
}

/// One `idle_suspend` drop of the audit trail, as
/// [`Store::last_suspensions_sql`] returns it.
struct SuspensionDrop {
    at: DateTime<Utc>,
    /// Of the newest run that dropped anything on the cluster.
    newest_run: bool,
    run: String,
    dropped: Vec<(String, Option<Size>)>,
    /// The replicas live when its run planned it (its signals).
    live: Vec<String>,
    last_created: Option<DateTime<Utc>>,
    /// The cluster's last statement when its run planned it (its signals).
    last_activity: Option<DateTime<Utc>>,
}

/// `drops` without those of replicas made while the cluster was suspended
/// (by hand, with no statement since): a run that kept it suspended
/// dropped them, and no creation of ours came between (the read keeps
/// only the drops after the cluster's newest creation). They are no
/// suspension's: after `wipe-state` the cluster was woken with the
/// replica made by hand, and the suspension before, of the replicas it
/// really ran, was forgotten (an outside check). The newest run's drops of
/// replicas the run before it did not see live go, while no statement came
/// since that run (one that came woke it: what ran then is the cluster's),
/// and so do its drops of names the run before dropped (made again by
/// hand under the same name).
fn without_drops_while_suspended(
    mut drops: Vec<SuspensionDrop>,
) -> (Vec<SuspensionDrop>, Vec<(String, Option<Size>)>) {
    let mut any = false;
    let mut left_out = Vec::new();
    loop {
        let Some(newest) = drops.iter().max_by_key(|d| d.at).map(|d| d.run.clone()) else {
            return (drops, left_out);
        };
        let Some(earlier) = drops
            .iter()
            .filter(|d| d.run != newest)
            .max_by_key(|d| d.at)
            .map(|d| (d.run.clone(), d.at))
        else {
            break;
        };
        let quiet = drops
            .iter()
            .filter(|d| d.run == newest)
            .all(|d| d.last_activity.is_none_or(|t| t <= earlier.1));
        if !quiet {
            break;
        }
        let seen: Vec<String> = drops
            .iter()
            .filter(|d| d.run == earlier.0)
            .flat_map(|d| d.live.clone())
            .collect();
        // Nor one the run before dropped itself (executed): one of that
        // name dropped since was made again by hand (after `wipe-state`
        // the cluster woke at the hand-made one's size: an outside check).
        let gone: Vec<String> = drops
            .iter()
            .filter(|d| d.run == earlier.0)
            .flat_map(|d| d.dropped.iter().map(|(n, _)| n.clone()))
            .collect();
        let mut changed = false;
        for d in drops.iter_mut().filter(|d| d.run == newest) {
            let (kept, out): (Vec<_>, Vec<_>) = std::mem::take(&mut d.dropped)
                .into_iter()
                .partition(|(name, _)| seen.contains(name) && !gone.contains(name));
            changed |= !out.is_empty();
            d.dropped = kept;
            left_out.extend(out);
        }
        drops.retain(|d| !d.dropped.is_empty());
        if !changed {
            break;
        }
        any = true;
    }
    if !any {
        return (drops, left_out);
    }
    let newest = drops.iter().max_by_key(|d| d.at).map(|d| d.run.clone());
    for d in &mut drops {
        d.newest_run = Some(&d.run) == newest.as_ref();
    }
    (drops, left_out)
}

/// A cluster's last suspension from its drops: the newest run's, and
/// those of each run before it whose plan still saw live every replica the
/// later runs of the suspension dropped (a suspension held back by
/// `--max-actions`, or killed between its drops, takes several runs; a
/// wake after that read only the newest run's drops, so a replica dropped
/// by the first run never came back). A run whose plan did not see them
/// (an earlier suspension, the cluster woken by hand in between) ends it.
fn last_suspension(drops: Vec<SuspensionDrop>) -> Option<LastSuspension> {
    let (drops, made_while_suspended) = without_drops_while_suspended(drops);
    // The earlier runs, newest first.
    let mut runs: Vec<(DateTime<Utc>, &str)> = drops
        .iter()
        .filter(|d| !d.newest_run)
        .map(|d| (d.at, d.run.as_str()))
        .collect();
    runs.sort_by(|a, b| b.cmp(a));
    let mut dropped: Vec<(String, Option<Size>)> = drops
        .iter()
        .filter(|d| d.newest_run)
        .flat_map(|d| d.dropped.clone())
        .collect();
    let newest = drops.iter().filter(|d| d.newest_run).map(|d| d.at).max()?;
    let last_created = drops.iter().find_map(|d| d.last_created);
    let mut seen_runs = std::collections::BTreeSet::new();
    let mut joined = std::collections::BTreeSet::new();
    for (_, run) in runs {
        if !seen_runs.insert(run) {
            continue;
        }
        let of_run: Vec<&SuspensionDrop> = drops.iter().filter(|d| d.run == run).collect();
        let saw_them_live = of_run
            .iter()
            .all(|d| dropped.iter().all(|(name, _)| d.live.contains(name)));
        if !saw_them_live {
            break;
        }
        joined.insert(run);
        dropped.extend(of_run.iter().flat_map(|d| d.dropped.clone()));
    }
    if dropped.is_empty() {
        return None;
    }
    dropped.sort();
    dropped.dedup();
    let mut live: Vec<String> = drops
        .iter()
        .filter(|d| d.newest_run || joined.contains(d.run.as_str()))
        .flat_map(|d| d.live.clone())
        .collect();
    live.sort();
    live.dedup();
    Some(LastSuspension {
        at: newest,
        dropped,
        live,
        last_created,
        made_while_suspended,
    })
}

/// `(name, size)` of the replicas a managed cluster's suspension row says
/// it ran (`signals.replicas`, a JSON array of objects); nothing from text
/// that is not such an array.
fn ran_replicas(json: &str) -> Vec<(String, Option<Size>)> {
    let Ok(serde_json::Value::Array(list)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|r| {
            let name = r.get("name")?.as_str()?;
            let size = r
                .get("size")
                .and_then(|s| s.as_str())
                .map(|s| Size(s.into()));
            Some((name.to_string(), size))
        })
        .collect()
}

/// The columns of an audit row as [`ActionRecord::from_row`] reads them,
/// with its [`ActionResult`] (`RESULT`).
/// The decision context without what no reader of the trail shows: each
/// action's `signals` and `strategies` (most of a row's size: `history
/// --limit 0` held 6.5 KB a row, 650 MB for 100 000 rows). Kept whole in
/// the table for SQL readers. A context that is no object (written by
/// hand) is read as it is.
fn action_columns() -> String {
    columns_with_ctx(
        "(CASE WHEN jsonb_typeof(decision_ctx) = 'object' \
         THEN decision_ctx - 'signals' - 'strategies' ELSE decision_ctx END)::text",
    )
}

/// [`action_columns`] with `ctx` (text) read as the decision context.
fn columns_with_ctx(ctx: &str) -> String {
    format!(
        "SELECT action_id, cluster_id, action_sql, {ctx}, \
         executed, error_message, created_at, {} AS result",
        ActionResult::sql()
    )
}

/// An audit row still open, as SQL over its columns (`a`: the table's
/// alias and a dot, or nothing): no outcome recorded and no error. What
/// the next run settles ([`Store::unfinished_sql`]) and what a pruning
/// keeps ([`Store::prunable`]): one rule, so a row is either (a row with
/// an error but no outcome, not ours, was neither, and never pruned).
fn open_sql(a: &str) -> String {
    format!("{a}executed IS NULL AND {a}error_message IS NULL")
}

/// How an audited action ended, as `history`, `status` and `history
/// --failed` tell it. One rule, in SQL ([`ActionResult::sql`]), so the
/// filter and the rows it returns never disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionResult {
    Executed,
    Failed,
    /// Withdrawn before its statement was sent ([`Withdrawn`]), or a
    /// DROP that found its replica already gone ([`crate::exec::Ddl::Gone`]).
    Skipped,
    /// The outcome was never recorded (the run stopped before it).
    Unknown,
}

impl ActionResult {
    const ALL: [ActionResult; 4] = [
        ActionResult::Executed,
        ActionResult::Failed,
        ActionResult::Skipped,
        ActionResult::Unknown,
    ];

    /// The result of an audit row, as a SQL expression over its columns.
    /// `unknown` is exactly an open row ([`open_sql`]): what the next run
    /// settles and a pruning keeps. A row with an error but no outcome
    /// (another tool's) ended: it failed.
    fn sql() -> String {
        format!(
            "(CASE WHEN executed THEN 'executed' WHEN {open} THEN 'unknown' \
             WHEN error_message LIKE {withdrawn} OR error_message LIKE {gone} THEN 'skipped' \
             ELSE 'failed' END)",
            open = open_sql(""),
            withdrawn = ddl::literal(&format!("{WITHDRAWN_PREFIX}%")),
            gone = ddl::literal(&format!("{}%", crate::exec::GONE_PREFIX))
        )
    }

    fn parse(s: &str) -> Option<ActionResult> {
        ActionResult::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ActionResult::Executed => "executed",
            ActionResult::Failed => "failed",
            ActionResult::Skipped => "skipped",
            ActionResult::Unknown => "unknown",
        }
    }

    /// What `history --failed` shows: failed, or never known to have ended.
    fn needs_attention(self) -> bool {
        matches!(self, ActionResult::Failed | ActionResult::Unknown)
    }
}

/// One row of the audit table, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRecord {
    pub action_id: String,
    pub cluster_id: Option<ClusterId>,
    pub action_sql: String,
    /// `Null` when the row has none or it is not JSON.
    pub decision_ctx: serde_json::Value,
    /// `None`: the outcome was never recorded (the run was interrupted).
    pub executed: Option<bool>,
    pub error: Option<String>,
    /// `None`: the row has no time (written by hand: the column allows
    /// NULL). Shown as `unknown`, never hidden.
    pub created_at: Option<DateTime<Utc>>,
    pub result: ActionResult,
}

impl ActionRecord {
    fn from_row(r: &tokio_postgres::Row) -> Option<ActionRecord> {
        let ctx = r
            .try_get::<_, Option<String>>(3)
            .ok()?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null);
        Some(ActionRecord {
            action_id: r.try_get::<_, Option<String>>(0).ok()?.unwrap_or_default(),
            cluster_id: r.try_get::<_, Option<String>>(1).ok()?.map(ClusterId),
            action_sql: r.try_get::<_, Option<String>>(2).ok()?.unwrap_or_default(),
            decision_ctx: ctx,
            executed: r.try_get(4).ok()?,
            error: r.try_get(5).ok()?,
            // A time chrono cannot hold (PostgreSQL's `infinity`, written by
            // hand) is a row without a time, not a row left out.
            created_at: r.try_get(6).ok().flatten(),
            result: ActionResult::parse(r.try_get(7).ok()?)?,
        })
    }

    /// A text field of `decision_ctx` (`kind`, `replica`, `strategy`, …).
    pub fn ctx_text(&self, key: &str) -> Option<String> {
        self.decision_ctx
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }
}

/// Runs a statement whose parameters are all text, in one round trip.
pub(super) async fn execute_text<S: ToSql + Sync>(
    c: &Client,
    sql: &str,
    params: &[S],
) -> Result<u64, tokio_postgres::Error> {
    execute_typed(c, sql, text_params(params)).await
}

/// Parameters that are all text, typed as such for `query_typed`.
fn text_params<S: ToSql + Sync>(params: &[S]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
        .collect()
}

/// Runs a statement in one round trip (no separate prepare); returns the
/// number of rows it affected.
pub async fn execute_typed(
    c: &Client,
    sql: &str,
    params: Vec<(&(dyn ToSql + Sync), Type)>,
) -> Result<u64, tokio_postgres::Error> {
    let stream = c.query_typed_raw(sql, params).await?;
    let mut stream = std::pin::pin!(stream);
    while stream.try_next().await?.is_some() {}
    Ok(stream.rows_affected().unwrap_or(0))
}

/// `n` statement parameters from `$first` on: `$2, $3, $4`.
fn placeholders(first: usize, n: usize) -> String {
    let ph: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    ph.join(", ")
}

/// No strategy config nests beyond a few levels (`schedule`'s windows: 3).
pub const MAX_CONFIG_DEPTH: usize = 32;

/// A config as read, or why it cannot be (`StrategyRow::unreadable`): JSON
/// the parser cannot take (nested deeper than its recursion limit, a number
/// out of range) or nested deeper than [`MAX_CONFIG_DEPTH`]. Validation
/// refuses such a row with the reason; it is never a missing config.
fn read_config(text: &str) -> Result<serde_json::Value, String> {
    let (v, _) = crate::strategy::read_json(text)?;
    let v = bounded_config(v).map(crate::model::compact_json)?;
    // Not echoed, not used (`strategy set` refuses to write one).
    match crate::config::password_in_json(&v) {
        Some(at) => Err(format!(
            "{at} holds a connection string with its password, which is not shown nor used; \
             write the row without it"
        )),
        None => Ok(v),
    }
}

/// A config nested deeper than [`MAX_CONFIG_DEPTH`] is not echoed: the
/// JSON documents that show configs stay within every JSON parser's
/// recursion limit.
fn bounded_config(v: serde_json::Value) -> Result<serde_json::Value, String> {
    fn depth(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
            serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    if depth(&v) > MAX_CONFIG_DEPTH {
        Err(format!(
            "nested deeper than {MAX_CONFIG_DEPTH} levels, which no config needs"
        ))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fix a missing table's error names runs in the tables' schema
    /// (it said `clusterctl init`, which made them in the default one).
    #[test]
    fn a_missing_tables_fix_names_the_schema() {
        let said = |schema: Option<&str>| {
            let store = Store::new(schema.map(str::to_string));
            DbError::TablesMissing {
                where_: store.table(STATE),
                init: store.init_command(),
            }
            .to_string()
        };
        let s2 = said(Some("s2"));
        assert!(
            s2.contains("run `clusterctl init --schema s2`")
                && s2.contains("the SQL of `clusterctl init --schema s2 --print`"),
            "{s2}"
        );
        assert!(
            said(None).contains("run `clusterctl init`, or"),
            "{}",
            said(None)
        );
    }

    /// A suspension made over several runs is one; a run whose plan did
    /// not see live what later runs dropped belongs to another.
    #[test]
    fn a_suspension_spans_the_runs_that_saw_its_replicas() {
        let t = |m: i64| DateTime::from_timestamp(1_800_000_000 + m * 60, 0).unwrap_or_default();
        let drop = |m, run: &str, newest, name: &str, live: &[&str]| SuspensionDrop {
            at: t(m),
            newest_run: newest,
            run: run.into(),
            dropped: vec![(name.into(), Some(Size("25cc".into())))],
            live: live.iter().map(|s| s.to_string()).collect(),
            last_created: None,
            last_activity: None,
        };
        let names = |s: Option<LastSuspension>| -> Vec<String> {
            s.map(|s| s.dropped.into_iter().map(|(n, _)| n).collect())
                .unwrap_or_default()
        };
        // r1 and r2 live at the first run, r2 dropped by the second; an
        // older suspension of r0 (r1, r2 not live then) is not part of it.
        let drops = vec![
            drop(0, "old", false, "r0", &["r0"]),
            drop(10, "first", false, "r1", &["r1", "r2"]),
            drop(11, "second", true, "r2", &["r2"]),
        ];
        assert_eq!(names(last_suspension(drops)), ["r1", "r2"]);
        // The newest run alone.
        let drops = vec![drop(11, "second", true, "r2", &["r2"])];
        let s = last_suspension(drops);
        assert_eq!(s.as_ref().map(|s| s.at), Some(t(11)));
        assert_eq!(names(s), ["r2"]);
        // A run that did not see r2 live (woken by hand since, and used:
        // a statement after it): not it.
        let mut used = drop(11, "second", true, "r2", &["r2"]);
        used.last_activity = Some(t(10) + chrono::Duration::seconds(30));
        let drops = vec![drop(10, "first", false, "r1", &["r1"]), used];
        assert_eq!(names(last_suspension(drops)), ["r2"]);
        // r2 made by hand while the cluster was suspended, no statement
        // since: its drop kept the cluster suspended, and is no suspension
        // (after `wipe-state` the cluster woke with r2, not r1: an outside
        // check). Beside a replica the first run saw live, only r2 goes.
        let drops = vec![
            drop(10, "first", false, "r1", &["r1", "r3"]),
            drop(11, "second", true, "r2", &["r2"]),
        ];
        let s = last_suspension(drops);
        assert_eq!(s.as_ref().map(|s| s.at), Some(t(10)));
        assert_eq!(names(s), ["r1"]);
        let drops = vec![
            drop(10, "first", false, "r1", &["r1", "r3"]),
            drop(11, "second", true, "r2", &["r2", "r3"]),
            drop(11, "second", true, "r3", &["r2", "r3"]),
        ];
        assert_eq!(names(last_suspension(drops)), ["r1", "r3"]);
        // Made by hand under the name the suspension dropped, at another
        // size, and dropped to keep it suspended: the wake is of the size
        // the suspension dropped (it woke at the hand-made one's size
        // after `wipe-state`: an outside check).
        let mut by_hand = drop(11, "second", true, "r1", &["r1"]);
        by_hand.dropped = vec![("r1".into(), Some(Size("200cc".into())))];
        let drops = vec![drop(10, "first", false, "r1", &["r1"]), by_hand];
        let s = last_suspension(drops);
        assert_eq!(s.as_ref().map(|s| s.at), Some(t(10)));
        // Said as made while suspended: a slot begun afresh that
        // remembered it leaves it out (`idle_suspend::recall_read`).
        assert_eq!(
            s.as_ref().map(|s| s.made_while_suspended.clone()),
            Some(vec![("r1".to_string(), Some(Size("200cc".into())))])
        );
        assert_eq!(
            s.map(|s| s.dropped),
            Some(vec![("r1".to_string(), Some(Size("25cc".into())))])
        );
        // No newest run: nothing.
        assert!(last_suspension(vec![drop(10, "first", false, "r1", &["r1"])]).is_none());
    }

    #[test]
    fn a_managed_suspension_row_lists_what_it_ran() {
        let ran = r#"[{"name":"r1","size":"25cc","hydrated":true},{"name":"r2","size":null},{"size":"x"}]"#;
        assert_eq!(
            ran_replicas(ran),
            vec![
                ("r1".to_string(), Some(Size("25cc".into()))),
                ("r2".to_string(), None)
            ]
        );
        assert!(ran_replicas("{}").is_empty());
        assert!(ran_replicas("not json").is_empty());
    }

    #[test]
    fn configs_the_parser_refuses_are_named_not_null() {
        let deep = format!("{{\"k\":{}1{}}}", "[".repeat(5000), "]".repeat(5000));
        let why = read_config(&deep).unwrap_err();
        assert!(why.contains("recursion limit"), "{why}");
        let huge = read_config("{\"k\": 1e400}").unwrap_err();
        assert!(huge.starts_with("key 'k': number out of range"), "{huge}");
        assert_eq!(read_config("{\"k\": 1}"), Ok(serde_json::json!({"k": 1})));
    }

    #[test]
    fn deep_configs_are_not_echoed() {
        let nested = |d: usize| -> serde_json::Value {
            serde_json::from_str(&format!("{{\"k\":{}1{}}}", "[".repeat(d), "]".repeat(d))).unwrap()
        };
        let ok = nested(MAX_CONFIG_DEPTH - 1);
        assert_eq!(bounded_config(ok.clone()), Ok(ok));
        let deep = bounded_config(nested(MAX_CONFIG_DEPTH)).unwrap_err();
        assert!(deep.contains("nested deeper than 32 levels"), "{deep}");
        let schedule = serde_json::json!({"windows": [{"cron": "0 0 9 * * *", "size": "25cc"}]});
        assert_eq!(bounded_config(schedule.clone()), Ok(schedule));
    }

    /// The snapshot's read of the last suspensions is of the clusters it
    /// names, in both reads of the trail (the drops and the creations);
    /// what a pruning keeps is judged over every cluster.
    #[test]
    fn the_last_suspensions_are_read_for_the_clusters_named() {
        let store = Store::new(None);
        let ids = [ClusterId("u1".into()), ClusterId("it's".into())];
        let sql = store.last_suspensions_sql(&ids);
        let filter = "AND cluster_id IN ('u1', 'it''s')";
        assert_eq!(sql.matches(filter).count(), 2, "{sql}");
        assert!(!store.prunable().contains("cluster_id IN ('"));
    }

    #[test]
    fn placeholders_number_from_the_first() {
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(1, 1), "$1");
    }
}
