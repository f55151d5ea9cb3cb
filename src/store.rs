//! Our own tables: strategies (read), state (read, versioned write), audit
//! trail (append), and the migrations that create them. Every write is a
//! single statement in autocommit, correct without constraints or
//! multi-statement transactions, because Materialize offers neither.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};

use crate::db::{Client, DbError};
use crate::ddl;
use crate::model::{ClusterId, StrategyRow, STATE_VERSION};

pub const STRATEGIES: &str = "mz_cluster_strategies";
pub const STATE: &str = "mz_cluster_strategy_state";
pub const ACTIONS: &str = "mz_cluster_strategy_actions";
pub const MIGRATIONS: &str = "clusterctl_schema_migrations";
pub const LEASE: &str = "clusterctl_lease";

/// Versioned migrations, applied in order, each recorded once applied.
pub const MIGRATION_FILES: &[(i32, &str, &str)] = &[
    (
        1,
        "create_tables",
        include_str!("../migrations/0001_create_tables.sql"),
    ),
    (2, "lease", include_str!("../migrations/0002_lease.sql")),
];

/// Rows per multi-row INSERT, to stay far below the parameter limit.
const CHUNK: usize = 500;

#[derive(Debug, Clone, Default)]
pub struct Store {
    schema: Option<String>,
}

/// One audit row: an action about to be attempted. Its outcome is recorded
/// on the same row afterwards (`audit_outcome`).
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub action_id: String,
    pub cluster_id: ClusterId,
    pub action_sql: String,
    pub decision_ctx: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub fn new(schema: Option<String>) -> Store {
        Store { schema }
    }

    pub fn table(&self, name: &str) -> String {
        ddl::table(self.schema.as_deref(), name)
    }

    fn prefix(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.", ddl::ident(s)),
            None => String::new(),
        }
    }

    /// The SQL that creates everything, statement by statement (for `init
    /// --print`, the README, and `migrate`).
    pub fn migration_statements(&self, sql: &str) -> Vec<String> {
        let prefix = self.prefix();
        let body: String = sql
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n");
        body.split(';')
            .map(|s| s.trim().replace("__SCHEMA__.", &prefix))
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The statement creating the table that records applied migrations
    /// (also printed by `init --print`).
    pub fn migrations_table_statement(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version INT NOT NULL, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)",
            self.table(MIGRATIONS)
        )
    }

    /// Versions recorded as applied; `None` when the migrations table does
    /// not exist yet.
    async fn applied_versions(&self, c: &Client) -> Result<Option<Vec<i32>>, DbError> {
        let sql = format!("SELECT version FROM {}", self.table(MIGRATIONS));
        match c.query_typed(&sql, &[]).await {
            Ok(rows) => Ok(Some(
                rows.iter().filter_map(|r| r.try_get(0).ok()).collect(),
            )),
            Err(e) if DbError::is_missing_table(&e) => Ok(None),
            Err(e) => Err(DbError::query("reading applied migrations", &e)),
        }
    }

    /// Creates or upgrades our tables; returns the versions applied now.
    /// When every migration is recorded it issues no DDL at all, so a role
    /// without `CREATE` works once the tables exist (`init --print`).
    pub async fn migrate(&self, c: &Client) -> Result<Vec<i32>, DbError> {
        let done = match self.applied_versions(c).await? {
            Some(done) if MIGRATION_FILES.iter().all(|(v, _, _)| done.contains(v)) => {
                return Ok(Vec::new())
            }
            Some(done) => done,
            None => {
                if let Some(schema) = &self.schema {
                    let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", ddl::ident(schema));
                    c.batch_execute(&sql)
                        .await
                        .map_err(|e| DbError::query(format!("creating schema {schema}"), &e))?;
                }
                c.batch_execute(&self.migrations_table_statement())
                    .await
                    .map_err(|e| DbError::query("creating the migrations table", &e))?;
                Vec::new()
            }
        };
        let table = self.table(MIGRATIONS);
        let mut applied = Vec::new();
        for (version, name, sql) in MIGRATION_FILES {
            if done.contains(version) {
                continue;
            }
            for stmt in self.migration_statements(sql) {
                c.batch_execute(&stmt).await.map_err(|e| {
                    DbError::query(format!("applying migration {version} ({name})"), &e)
                })?;
            }
            let record =
                format!("INSERT INTO {table} (version, name, applied_at) VALUES ($1, $2, now())");
            c.execute(&record, &[version, name])
                .await
                .map_err(|e| DbError::query(format!("recording migration {version}"), &e))?;
            applied.push(*version);
        }
        Ok(applied)
    }

    pub async fn strategies(&self, c: &Client) -> Result<Vec<StrategyRow>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT cluster_id, strategy_type, config::text, updated_at FROM {}",
            self.table(STRATEGIES)
        );
        let rows = c.query_typed(&sql, &[]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let config_text: Option<String> = r.try_get(2)?;
            // jsonb is always valid JSON; a NULL config is reported by the
            // strategy parser as "must be a JSON object".
            let config = config_text
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or(serde_json::Value::Null);
            out.push(StrategyRow {
                cluster_id: ClusterId(r.try_get::<_, Option<String>>(0)?.unwrap_or_default()),
                strategy_type: r.try_get::<_, Option<String>>(1)?.unwrap_or_default(),
                config,
                updated_at: r.try_get(3)?,
            });
        }
        Ok(out)
    }

    /// The newest state per cluster; rows of another `state_version` (the
    /// reference's, or a future one) are ignored: that cluster starts fresh.
    pub async fn states(
        &self,
        c: &Client,
    ) -> Result<BTreeMap<ClusterId, serde_json::Value>, tokio_postgres::Error> {
        let sql = format!(
            "SELECT DISTINCT ON (cluster_id) cluster_id, state_version, payload::text \
             FROM {} ORDER BY cluster_id, updated_at DESC",
            self.table(STATE)
        );
        let rows = c.query_typed(&sql, &[]).await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let id: Option<String> = r.try_get(0)?;
            let version: Option<i32> = r.try_get(1)?;
            let payload: Option<String> = r.try_get(2)?;
            let (Some(id), Some(STATE_VERSION), Some(payload)) = (id, version, payload) else {
                continue;
            };
            if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_str(&payload) {
                out.insert(ClusterId(id), v);
            }
        }
        Ok(out)
    }

    /// Writes new state versions: insert the new rows, then delete older
    /// versions of the same clusters. Readers take the newest row, so a crash
    /// between the two statements is harmless.
    pub async fn write_states(
        &self,
        c: &Client,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let at_text = at.to_rfc3339();
        let table = self.table(STATE);
        for chunk in states.chunks(CHUNK) {
            let mut values = Vec::new();
            let mut params: Vec<String> = Vec::new();
            for (id, payload) in chunk {
                let n = params.len();
                values.push(format!(
                    "(${}, {STATE_VERSION}, ${}::text::jsonb, ${}::text::timestamptz)",
                    n + 1,
                    n + 2,
                    n + 3
                ));
                params.push(id.0.clone());
                params.push(payload.to_string());
                params.push(at_text.clone());
            }
            let sql = format!(
                "INSERT INTO {table} (cluster_id, state_version, payload, updated_at) VALUES {}",
                values.join(", ")
            );
            execute_text(c, &sql, &params)
                .await
                .map_err(|e| DbError::query("writing state", &e))?;
            let ids: Vec<String> = chunk.iter().map(|(id, _)| id.0.clone()).collect();
            let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "DELETE FROM {table} WHERE updated_at < $1::text::timestamptz AND cluster_id IN ({})",
                placeholders.join(", ")
            );
            let mut params = vec![at_text.clone()];
            params.extend(ids);
            execute_text(c, &sql, &params)
                .await
                .map_err(|e| DbError::query("removing old state versions", &e))?;
        }
        Ok(())
    }

    /// Records an action before it is attempted (`executed` NULL = outcome
    /// not known yet), so a crash mid-DDL still leaves a trace.
    pub async fn audit_intent(&self, c: &Client, row: &AuditRow) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {} (action_id, cluster_id, action_sql, decision_ctx, executed, error_message, created_at) \
             VALUES ($1, $2, $3, $4::text::jsonb, NULL, NULL, $5::text::timestamptz)",
            self.table(ACTIONS)
        );
        let params = [
            row.action_id.clone(),
            row.cluster_id.0.clone(),
            row.action_sql.clone(),
            row.decision_ctx.to_string(),
            row.created_at.to_rfc3339(),
        ];
        execute_text(c, &sql, &params)
            .await
            .map_err(|e| DbError::query("writing the audit row", &e))?;
        Ok(())
    }

    /// Records how an attempted action ended.
    pub async fn audit_outcome(
        &self,
        c: &Client,
        action_id: &str,
        executed: bool,
        error: Option<&str>,
    ) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET executed = $2, error_message = $3 WHERE action_id = $1",
            self.table(ACTIONS)
        );
        let id = action_id.to_string();
        let err = error.map(str::to_string);
        let params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
            (&id, Type::TEXT),
            (&executed, Type::BOOL),
            (&err, Type::TEXT),
        ];
        execute_typed(c, &sql, params)
            .await
            .map_err(|e| DbError::query("recording the action's outcome", &e))?;
        Ok(())
    }

    /// Audit rows whose outcome was never recorded (the run was killed
    /// mid-action): (action_id, cluster_id, kind, replica).
    pub async fn unresolved_actions(
        &self,
        c: &Client,
    ) -> Result<Vec<(String, String, String, String)>, DbError> {
        let sql = format!(
            "SELECT action_id, cluster_id, decision_ctx->>'kind', decision_ctx->>'replica' FROM {} \
             WHERE executed IS NULL AND error_message IS NULL",
            self.table(ACTIONS)
        );
        let rows = c
            .query_typed(&sql, &[])
            .await
            .map_err(|e| DbError::query("reading unfinished actions", &e))?;
        Ok(rows
            .iter()
            .map(|r| {
                let get = |i| {
                    r.try_get::<_, Option<String>>(i)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                };
                (get(0), get(1), get(2), get(3))
            })
            .collect())
    }

    /// Deletes state rows: all of them, or those of the given clusters.
    pub async fn wipe_states(
        &self,
        c: &Client,
        clusters: Option<&[ClusterId]>,
    ) -> Result<u64, DbError> {
        let table = self.table(STATE);
        let n = match clusters {
            None => c
                .execute(&format!("DELETE FROM {table}"), &[])
                .await
                .map_err(|e| DbError::query("wiping state", &e))?,
            Some(ids) => {
                let mut total = 0;
                for chunk in ids.chunks(CHUNK) {
                    let placeholders: Vec<String> =
                        (1..=chunk.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "DELETE FROM {table} WHERE cluster_id IN ({})",
                        placeholders.join(", ")
                    );
                    let params: Vec<String> = chunk.iter().map(|c| c.0.clone()).collect();
                    total += execute_text(c, &sql, &params)
                        .await
                        .map_err(|e| DbError::query("wiping state", &e))?;
                }
                total
            }
        };
        Ok(n)
    }
}

/// Runs a statement whose parameters are all text, in one round trip.
async fn execute_text(
    c: &Client,
    sql: &str,
    params: &[String],
) -> Result<u64, tokio_postgres::Error> {
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
        .collect();
    execute_typed(c, sql, typed).await
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
