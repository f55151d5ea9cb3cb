//! Operator commands on clusterctl's own tables, so nobody hand-writes SQL:
//! `strategy set|rm|ls|pause|resume` (validated against the live sizes
//! before anything is written), `history` (the audit trail) and `init`
//! (create the tables, or print the SQL and GRANTs for an admin).
//!
//! Materialize has no upsert and no multi-statement write transactions, so
//! every write is one statement: `set` inserts the new row with an explicit
//! `updated_at`, then deletes the older rows of the same (cluster, type);
//! readers take the newest row, so a crash between the two is harmless.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};

use crate::db::{Client, DbError};
use crate::exec::ExecError;
use crate::inspect::{json_line, validate_config};
use crate::model::{ClusterId, Snapshot, StrategyRow};
use crate::ops::{Completion, Context, Output};
use crate::plan::{self, FORMAT_VERSION, PAUSE};
use crate::store::{execute_typed, Store, ACTIONS, MIGRATIONS, MIGRATION_FILES, STATE, STRATEGIES};
use crate::strategy::StrategyKind;
use crate::table::{self, Cell, Tone};

/// A cluster named on the command line, by name or id.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    id: ClusterId,
    /// `None` for an id that only strategy rows mention (dropped cluster).
    name: Option<String>,
}

impl Target {
    fn display(&self) -> String {
        match &self.name {
            Some(n) => format!("cluster {n} ({})", self.id),
            None => format!("cluster id {} (no such cluster)", self.id),
        }
    }

    fn arg(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id.0)
    }
}

/// Resolves a name (preferred) or an id against the catalog; with
/// `allow_dangling`, also an id that only strategy rows mention.
fn resolve(snap: &Snapshot, arg: &str, allow_dangling: bool) -> Result<Target, ExecError> {
    if let Some(c) = snap.clusters.iter().find(|c| c.name == arg) {
        return Ok(Target {
            id: c.id.clone(),
            name: Some(c.name.clone()),
        });
    }
    if let Some(c) = snap.clusters.iter().find(|c| c.id.0 == arg) {
        return Ok(Target {
            id: c.id.clone(),
            name: Some(c.name.clone()),
        });
    }
    if allow_dangling && snap.strategies.iter().any(|r| r.cluster_id.0 == arg) {
        return Ok(Target {
            id: ClusterId(arg.to_string()),
            name: None,
        });
    }
    let names: Vec<&str> = snap
        .clusters
        .iter()
        .filter(|c| !c.is_system())
        .map(|c| c.name.as_str())
        .collect();
    let hint = match crate::inspect::suggest(arg, &names) {
        Some(s) => format!("; did you mean '{s}'?"),
        None => String::new(),
    };
    Err(ExecError::Other(format!(
        "no cluster named or with id '{arg}'{hint} (user clusters: {})",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )))
}

/// Rows of one cluster (and type), newest first.
fn rows_of<'a>(snap: &'a Snapshot, id: &ClusterId, ty: Option<&str>) -> Vec<&'a StrategyRow> {
    let mut rows: Vec<&StrategyRow> = snap
        .strategies
        .iter()
        .filter(|r| &r.cluster_id == id && ty.is_none_or(|t| r.strategy_type == t))
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
    rows
}

async fn load(ctx: &Context) -> Result<(Client, Snapshot), ExecError> {
    let client = ctx.db.client().await?;
    let snap = crate::snapshot::load(&client, &ctx.store, &ctx.snapshot).await?;
    Ok((client, snap))
}

/// Inserts the new row, then deletes older rows of the same (cluster, type).
/// `updated_at` is the database's now, or just after the newest existing
/// row should that be ahead (clock skew, hand-written rows).
async fn write_row(
    client: &Client,
    store: &Store,
    snap: &Snapshot,
    id: &ClusterId,
    ty: &str,
    config: &serde_json::Value,
) -> Result<(DateTime<Utc>, u64), ExecError> {
    let newest = rows_of(snap, id, Some(ty))
        .first()
        .and_then(|r| r.updated_at);
    let at = match newest {
        Some(t) if t >= snap.now => t + chrono::Duration::milliseconds(1),
        _ => snap.now,
    };
    let table = store.table(STRATEGIES);
    let at_text = at.to_rfc3339();
    let (cid, ty_s, cfg) = (id.0.clone(), ty.to_string(), config.to_string());
    let insert = format!(
        "INSERT INTO {table} (cluster_id, strategy_type, config, updated_at) \
         VALUES ($1, $2, $3::text::jsonb, $4::text::timestamptz)"
    );
    let params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&cid, Type::TEXT),
        (&ty_s, Type::TEXT),
        (&cfg, Type::TEXT),
        (&at_text, Type::TEXT),
    ];
    execute_typed(client, &insert, params)
        .await
        .map_err(|e| DbError::query("writing the strategy row", &e))?;
    let delete = format!(
        "DELETE FROM {table} WHERE cluster_id = $1 AND strategy_type = $2 \
         AND (updated_at < $3::text::timestamptz OR updated_at IS NULL)"
    );
    let params: Vec<(&(dyn ToSql + Sync), Type)> = vec![
        (&cid, Type::TEXT),
        (&ty_s, Type::TEXT),
        (&at_text, Type::TEXT),
    ];
    let replaced = execute_typed(client, &delete, params)
        .await
        .map_err(|e| DbError::query("removing the replaced strategy rows", &e))?;
    Ok((at, replaced))
}

async fn delete_rows(
    client: &Client,
    store: &Store,
    id: &ClusterId,
    ty: Option<&str>,
) -> Result<u64, ExecError> {
    let table = store.table(STRATEGIES);
    let cid = id.0.clone();
    let n = match ty {
        Some(ty) => {
            let ty = ty.to_string();
            let sql = format!("DELETE FROM {table} WHERE cluster_id = $1 AND strategy_type = $2");
            execute_typed(client, &sql, vec![(&cid, Type::TEXT), (&ty, Type::TEXT)]).await
        }
        None => {
            let sql = format!("DELETE FROM {table} WHERE cluster_id = $1");
            execute_typed(client, &sql, vec![(&cid, Type::TEXT)]).await
        }
    }
    .map_err(|e| DbError::query("removing strategy rows", &e))?;
    Ok(n)
}

#[derive(Serialize)]
struct WriteJson<'a> {
    format_version: u32,
    command: &'static str,
    cluster_id: &'a ClusterId,
    cluster: Option<&'a str>,
    strategy_type: &'a str,
    config: &'a serde_json::Value,
    updated_at: DateTime<Utc>,
    rows_replaced: u64,
    notes: Vec<String>,
}

/// Why the new row will not take effect right away, if it will not.
fn effect_notes(snap: &Snapshot, id: &ClusterId) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(c) = snap.cluster(id) {
        if let Some(reason) = plan::unmanageable(snap, c) {
            notes.push(format!(
                "the controller leaves this cluster alone: {reason}"
            ));
        }
    }
    notes
}

/// `strategy set CLUSTER TYPE CONFIG`: validate, then replace.
pub async fn strategy_set(
    ctx: &Context,
    cluster: &str,
    ty: &str,
    config: &serde_json::Value,
) -> Result<(Output, Completion), ExecError> {
    let (client, snap) = load(ctx).await?;
    let target = resolve(&snap, cluster, false)?;
    if ty == PAUSE {
        return Err(ExecError::Other(format!(
            "use `clusterctl strategy pause {}` to pause a cluster",
            target.arg()
        )));
    }
    let problems = validate_config(ty, config, &snap.sizes);
    if !problems.is_empty() {
        let msgs: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
        return Err(ExecError::Other(format!(
            "refusing to write strategy {ty} for {}: {}; nothing was written",
            target.display(),
            msgs.join("; ")
        )));
    }
    let rival = match ty {
        "target_size" => Some("shrink_to_fit"),
        "shrink_to_fit" => Some("target_size"),
        _ => None,
    };
    if let Some(rival) = rival.filter(|r| !rows_of(&snap, &target.id, Some(r)).is_empty()) {
        return Err(ExecError::Other(format!(
            "refusing to write strategy {ty} for {}: it has {rival}, and both choose the replica size; \
             remove it first with `clusterctl strategy rm {} {rival}`; nothing was written",
            target.display(),
            target.arg()
        )));
    }
    let (at, replaced) = write_row(&client, &ctx.store, &snap, &target.id, ty, config).await?;
    let mut notes = effect_notes(&snap, &target.id);
    if !rows_of(&snap, &target.id, Some(PAUSE)).is_empty() {
        notes.push(format!(
            "the cluster is paused: nothing changes until `clusterctl strategy resume {}`",
            target.arg()
        ));
    }
    let stdout = if ctx.common.json {
        json_line(&WriteJson {
            format_version: FORMAT_VERSION,
            command: "strategy set",
            cluster_id: &target.id,
            cluster: target.name.as_deref(),
            strategy_type: ty,
            config,
            updated_at: at,
            rows_replaced: replaced,
            notes: notes.clone(),
        })
    } else {
        let verb = if replaced > 0 { "Replaced" } else { "Set" };
        format!("{verb} strategy {ty} of {}: {config}\n", target.display())
    };
    let stderr = if ctx.common.json {
        Vec::new()
    } else {
        notes.into_iter().map(|n| format!("note: {n}")).collect()
    };
    Ok((Output { stdout, stderr }, Completion::Clean))
}

/// `strategy pause CLUSTER [--reason TEXT]`: a `pause` row.
pub async fn strategy_pause(
    ctx: &Context,
    cluster: &str,
    reason: Option<&str>,
) -> Result<(Output, Completion), ExecError> {
    let (client, snap) = load(ctx).await?;
    let target = resolve(&snap, cluster, false)?;
    let config = match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => serde_json::json!({ "reason": r }),
        None => serde_json::json!({}),
    };
    let (at, replaced) = write_row(&client, &ctx.store, &snap, &target.id, PAUSE, &config).await?;
    let stdout = if ctx.common.json {
        json_line(&WriteJson {
            format_version: FORMAT_VERSION,
            command: "strategy pause",
            cluster_id: &target.id,
            cluster: target.name.as_deref(),
            strategy_type: PAUSE,
            config: &config,
            updated_at: at,
            rows_replaced: replaced,
            notes: Vec::new(),
        })
    } else {
        format!(
            "Paused {}: the controller leaves it alone until `clusterctl strategy resume {}`.\n",
            target.display(),
            target.arg()
        )
    };
    Ok((
        Output {
            stdout,
            ..Output::default()
        },
        Completion::Clean,
    ))
}

#[derive(Serialize)]
struct RemoveJson<'a> {
    format_version: u32,
    command: &'static str,
    cluster_id: &'a ClusterId,
    cluster: Option<&'a str>,
    strategy_type: Option<&'a str>,
    rows_deleted: u64,
}

/// `strategy rm CLUSTER [TYPE]` and `strategy resume CLUSTER` (rm of the
/// pause row). Removing nothing is not an error.
pub async fn strategy_rm(
    ctx: &Context,
    cluster: &str,
    ty: Option<&str>,
    command: &'static str,
) -> Result<(Output, Completion), ExecError> {
    let (client, snap) = load(ctx).await?;
    let target = resolve(&snap, cluster, true)?;
    let existing = rows_of(&snap, &target.id, ty);
    let deleted = if existing.is_empty() {
        0
    } else {
        delete_rows(&client, &ctx.store, &target.id, ty).await?
    };
    let stdout = if ctx.common.json {
        json_line(&RemoveJson {
            format_version: FORMAT_VERSION,
            command,
            cluster_id: &target.id,
            cluster: target.name.as_deref(),
            strategy_type: ty,
            rows_deleted: deleted,
        })
    } else if command == "strategy resume" {
        if deleted == 0 {
            format!("{} is not paused.\n", target.display())
        } else {
            format!(
                "Resumed {}: the controller manages it again.\n",
                target.display()
            )
        }
    } else if deleted == 0 {
        let of = ty.map(|t| format!(" of type {t}")).unwrap_or_default();
        format!(
            "{} has no strategy rows{of}; nothing removed.\n",
            target.display()
        )
    } else {
        let mut types: Vec<&str> = existing.iter().map(|r| r.strategy_type.as_str()).collect();
        types.dedup();
        format!(
            "Removed {deleted} strategy row{} ({}) of {}.\n",
            if deleted == 1 { "" } else { "s" },
            types.join(", "),
            target.display()
        )
    };
    Ok((
        Output {
            stdout,
            ..Output::default()
        },
        Completion::Clean,
    ))
}

#[derive(Debug, Clone, Serialize)]
pub struct ListedStrategy {
    pub cluster_id: ClusterId,
    pub cluster: Option<String>,
    pub strategy_type: String,
    pub config: serde_json::Value,
    pub updated_at: Option<DateTime<Utc>>,
    /// Older rows of the same (cluster, type), ignored by the controller.
    pub older_rows: usize,
}

#[derive(Serialize)]
struct ListJson<'a> {
    format_version: u32,
    command: &'static str,
    strategies: &'a [ListedStrategy],
}

/// The effective rows (newest per cluster and type), by cluster name then
/// priority. Pure.
pub fn list_strategies(snap: &Snapshot, filter: Option<&regex::Regex>) -> Vec<ListedStrategy> {
    let mut out: Vec<ListedStrategy> = Vec::new();
    for row in &snap.strategies {
        let name = snap.cluster(&row.cluster_id).map(|c| c.name.clone());
        let shown = name.as_deref().unwrap_or(&row.cluster_id.0);
        if filter.is_some_and(|re| !re.is_match(shown)) {
            continue;
        }
        match out
            .iter_mut()
            .find(|l| l.cluster_id == row.cluster_id && l.strategy_type == row.strategy_type)
        {
            Some(l) => {
                l.older_rows += 1;
                if row.updated_at > l.updated_at {
                    l.config = row.config.clone();
                    l.updated_at = row.updated_at;
                }
            }
            None => out.push(ListedStrategy {
                cluster_id: row.cluster_id.clone(),
                cluster: name,
                strategy_type: row.strategy_type.clone(),
                config: row.config.clone(),
                updated_at: row.updated_at,
                older_rows: 0,
            }),
        }
    }
    let rank = |t: &str| StrategyKind::parse(t).map_or(u8::MAX, |k| k.priority());
    // Rows of clusters that no longer exist come last.
    out.sort_by(|a, b| {
        (
            a.cluster.is_none(),
            &a.cluster,
            &a.cluster_id,
            rank(&a.strategy_type),
            &a.strategy_type,
        )
            .cmp(&(
                b.cluster.is_none(),
                &b.cluster,
                &b.cluster_id,
                rank(&b.strategy_type),
                &b.strategy_type,
            ))
    });
    out
}

/// `strategy ls [--cluster REGEX]`.
pub async fn strategy_ls(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let (_client, snap) = load(ctx).await?;
    let listed = list_strategies(&snap, ctx.common.cluster_filter.as_ref());
    let stdout = if ctx.common.json {
        json_line(&ListJson {
            format_version: FORMAT_VERSION,
            command: "strategy ls",
            strategies: &listed,
        })
    } else if listed.is_empty() {
        "No strategies (add one with `clusterctl strategy set CLUSTER TYPE --config JSON`).\n"
            .into()
    } else {
        let rows: Vec<Vec<Cell>> = listed
            .iter()
            .map(|l| {
                let cluster = match &l.cluster {
                    Some(n) => Cell::new(format!("{n} ({})", l.cluster_id)),
                    None => Cell::tone(format!("{} (no such cluster)", l.cluster_id), Tone::Bad),
                };
                let mut updated = l
                    .updated_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
                    .unwrap_or_else(|| "unknown".into());
                if l.older_rows > 0 {
                    let _ = write!(updated, " (+{} older ignored)", l.older_rows);
                }
                let ty = if l.strategy_type == PAUSE {
                    Cell::tone(&l.strategy_type, Tone::Warn)
                } else {
                    Cell::new(&l.strategy_type)
                };
                vec![
                    cluster,
                    ty,
                    Cell::new(l.config.to_string()),
                    Cell::new(updated),
                ]
            })
            .collect();
        table::render(
            &["CLUSTER", "TYPE", "CONFIG", "UPDATED"],
            &rows,
            table::Style::detect(),
        )
    };
    Ok((
        Output {
            stdout,
            ..Output::default()
        },
        Completion::Clean,
    ))
}

// ---------------------------------------------------------------------------
// history

#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
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

#[derive(Serialize)]
struct HistoryJson<'a> {
    format_version: u32,
    command: &'static str,
    entries: &'a [HistoryEntry],
}

/// `history`: the audit trail, newest first.
pub async fn history(
    ctx: &Context,
    opts: &HistoryOptions,
) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    let clusters = client
        .query_typed("SELECT id, name FROM mz_catalog.mz_clusters", &[])
        .await
        .map_err(|e| DbError::query("reading clusters", &e))?;
    let names: Vec<(String, String)> = clusters
        .iter()
        .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
        .collect();
    let ids: Option<Vec<String>> = ctx.common.cluster_filter.as_ref().map(|re| {
        names
            .iter()
            .filter(|(_, n)| re.is_match(n))
            .map(|(id, _)| id.clone())
            .collect()
    });
    let entries = match &ids {
        Some(ids) if ids.is_empty() => Vec::new(),
        _ => read_history(&client, &ctx.store, opts, ids.as_deref(), &names).await?,
    };
    let stdout = if ctx.common.json {
        json_line(&HistoryJson {
            format_version: FORMAT_VERSION,
            command: "history",
            entries: &entries,
        })
    } else {
        history_text(&entries, table::Style::detect())
    };
    Ok((
        Output {
            stdout,
            ..Output::default()
        },
        Completion::Clean,
    ))
}

/// Needs: our audit table. One statement, filtered and limited in SQL.
async fn read_history(
    client: &Client,
    store: &Store,
    opts: &HistoryOptions,
    ids: Option<&[String]>,
    names: &[(String, String)],
) -> Result<Vec<HistoryEntry>, ExecError> {
    let mut params: Vec<String> = Vec::new();
    let mut sql = format!(
        "SELECT action_id, cluster_id, action_sql, decision_ctx::text, executed, error_message, created_at \
         FROM {} WHERE true",
        store.table(ACTIONS)
    );
    if let Some(since) = opts.since {
        params.push(format!("{} seconds", since.as_secs()));
        let _ = write!(
            sql,
            " AND created_at > now() - ${}::text::interval",
            params.len()
        );
    }
    if opts.failed {
        sql.push_str(" AND (executed = false OR executed IS NULL)");
    }
    if let Some(ids) = ids {
        let first = params.len() + 1;
        params.extend(ids.iter().cloned());
        let ph: Vec<String> = (first..first + ids.len())
            .map(|i| format!("${i}"))
            .collect();
        let _ = write!(sql, " AND cluster_id IN ({})", ph.join(", "));
    }
    let _ = write!(
        sql,
        " ORDER BY created_at DESC, action_id DESC LIMIT {}",
        opts.limit.max(1)
    );
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
        .collect();
    let rows = client.query_typed(&sql, &typed).await.map_err(|e| {
        if DbError::is_missing_table(&e) {
            ExecError::Other(format!(
                "the audit table {} does not exist: run `clusterctl init` (or `clusterctl init --print` for an admin)",
                store.table(ACTIONS)
            ))
        } else {
            DbError::query("reading the audit trail", &e).into()
        }
    })?;
    Ok(rows.iter().filter_map(|r| entry_of(r, names)).collect())
}

fn entry_of(r: &tokio_postgres::Row, names: &[(String, String)]) -> Option<HistoryEntry> {
    let cluster_id: Option<String> = r.try_get(1).ok()?;
    let ctx: serde_json::Value = r
        .try_get::<_, Option<String>>(3)
        .ok()?
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    let text = |k: &str| ctx.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let executed: Option<bool> = r.try_get(4).ok()?;
    let cluster = cluster_id
        .as_ref()
        .and_then(|id| names.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone()))
        .or_else(|| text("cluster"));
    Some(HistoryEntry {
        created_at: r.try_get(6).ok()?,
        action_id: r.try_get::<_, Option<String>>(0).ok()?.unwrap_or_default(),
        run_id: text("run_id"),
        cluster_id: cluster_id.map(ClusterId),
        cluster,
        result: match executed {
            Some(true) => "executed",
            Some(false) => "failed",
            None => "unknown",
        },
        kind: text("kind"),
        replica: text("replica"),
        size: text("size"),
        strategy: text("strategy"),
        reasons: ctx
            .get("reasons")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        sql: r.try_get::<_, Option<String>>(2).ok()?.unwrap_or_default(),
        error: r.try_get(5).ok()?,
    })
}

pub fn history_text(entries: &[HistoryEntry], style: table::Style) -> String {
    if entries.is_empty() {
        return "No actions recorded (for these filters).\n".into();
    }
    let rows: Vec<Vec<Cell>> = entries
        .iter()
        .map(|e| {
            let cluster = match (&e.cluster, &e.cluster_id) {
                (Some(n), Some(id)) => format!("{n} ({id})"),
                (None, Some(id)) => id.0.clone(),
                (Some(n), None) => n.clone(),
                (None, None) => "?".into(),
            };
            let result = match e.result {
                "executed" => Cell::tone("done", Tone::Good),
                "failed" => Cell::tone("FAILED", Tone::Bad),
                other => Cell::tone(other, Tone::Warn),
            };
            let action = match (&e.kind, &e.replica) {
                (Some(k), Some(r)) => {
                    let verb = k.strip_suffix("_replica").unwrap_or(k);
                    match &e.size {
                        Some(s) => format!("{verb} {r} ({s})"),
                        None => format!("{verb} {r}"),
                    }
                }
                _ => e.sql.clone(),
            };
            let mut why = match &e.strategy {
                Some(s) => format!("{s}: {}", e.reasons.join("; ")),
                None => e.reasons.join("; "),
            };
            if let Some(err) = &e.error {
                let _ = write!(why, "; error: {err}");
            }
            vec![
                Cell::new(e.created_at.format("%Y-%m-%d %H:%M:%SZ").to_string()),
                Cell::new(cluster),
                result,
                Cell::new(action),
                Cell::new(why),
            ]
        })
        .collect();
    table::render(
        &["TIME", "CLUSTER", "RESULT", "ACTION", "WHY"],
        &rows,
        style,
    )
}

/// Parses `--since`: 30s, 15m, 2h, 1d, or combinations (`1h30m`).
pub fn parse_since(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("--since: '{s}' is not a duration ({e}); use e.g. 30s, 15m, 2h, 1d"))
}

// ---------------------------------------------------------------------------
// init

/// Everything `apply` would create, as SQL an admin can run, followed by the
/// GRANTs a restricted role needs (README, "Required Materialize privileges").
pub fn init_sql(store: &Store, schema: Option<&str>, role: &str) -> String {
    let role_q = crate::ddl::ident(role);
    let mut s = String::from(
        "-- clusterctl: tables (what `clusterctl apply` / `clusterctl init` create).\n",
    );
    if let Some(schema) = schema {
        let _ = writeln!(
            s,
            "CREATE SCHEMA IF NOT EXISTS {};",
            crate::ddl::ident(schema)
        );
    }
    let _ = writeln!(s, "{};", store.migrations_table_statement());
    for (version, name, sql) in MIGRATION_FILES {
        let _ = writeln!(s, "-- migration {version}: {name}");
        for stmt in store.migration_statements(sql) {
            let _ = writeln!(s, "{stmt};");
        }
        let _ = writeln!(
            s,
            "INSERT INTO {} (version, name, applied_at) VALUES ({version}, {}, now());",
            store.table(MIGRATIONS),
            crate::ddl::literal(name)
        );
    }
    let schema_q = schema
        .map(crate::ddl::ident)
        .unwrap_or_else(|| "public".into());
    let _ = writeln!(
        s,
        "\n-- Privileges for the role clusterctl runs as ({role}; pass --role to change).\n\
         -- The role must exist: CREATE ROLE {role_q};\n\
         -- Statement history, for activity signals:\n\
         GRANT mz_monitor_redacted TO {role_q};\n\
         -- The tables' schema{}:\n\
         GRANT USAGE ON SCHEMA {schema_q} TO {role_q};\n\
         -- dry-run, status, check, history: read; apply: write state and the audit trail;\n\
         -- strategy set/rm/pause/resume: write strategies.\n\
         GRANT SELECT, INSERT, DELETE ON {} TO {role_q};\n\
         GRANT SELECT, INSERT, DELETE ON {} TO {role_q};\n\
         GRANT SELECT, INSERT, UPDATE ON {} TO {role_q};\n\
         GRANT SELECT ON {} TO {role_q};",
        if schema.is_none() {
            " (the connection's current schema; public by default)"
        } else {
            ""
        },
        store.table(STRATEGIES),
        store.table(STATE),
        store.table(ACTIONS),
        store.table(MIGRATIONS),
    );
    for (_, _, sql) in MIGRATION_FILES.iter().skip(1) {
        for table in created_tables(store, sql) {
            let _ = writeln!(s, "GRANT SELECT, INSERT, UPDATE ON {table} TO {role_q};");
        }
    }
    let _ = writeln!(
        s,
        "-- Each cluster it manages (creating and dropping replicas needs ownership):\n\
         -- ALTER CLUSTER <name> OWNER TO {role_q};\n\
         -- The --exec-cluster its own queries run on:\n\
         -- GRANT USAGE ON CLUSTER <name> TO {role_q};"
    );
    s
}

/// Tables a migration creates, for their GRANTs.
fn created_tables(store: &Store, sql: &str) -> Vec<String> {
    store
        .migration_statements(sql)
        .iter()
        .filter_map(|stmt| {
            let rest = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ")?;
            Some(rest.split([' ', '(']).next()?.to_string())
        })
        .collect()
}

/// `init`: create or upgrade the tables.
pub async fn init(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    let applied = ctx.store.migrate(&client).await?;
    let stdout = if ctx.common.json {
        json_line(&serde_json::json!({
            "format_version": FORMAT_VERSION,
            "command": "init",
            "migrations_applied": applied,
        }))
    } else if applied.is_empty() {
        "The tables are up to date (nothing to do).\n".to_string()
    } else {
        let v: Vec<String> = applied.iter().map(|v| v.to_string()).collect();
        format!(
            "Created clusterctl's tables (migration{} {} applied) in {}.\n",
            if v.len() == 1 { "" } else { "s" },
            v.join(", "),
            match &ctx.common.schema {
                Some(s) => format!("schema {s}"),
                None => "the connection's current schema".into(),
            }
        )
    };
    Ok((
        Output {
            stdout,
            ..Output::default()
        },
        Completion::Clean,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_operator_durations() {
        assert_eq!(parse_since("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_since("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86400));
        assert!(parse_since("soon").unwrap_err().contains("--since"));
    }

    #[test]
    fn init_sql_covers_every_table_and_grant() {
        let sql = init_sql(&Store::new(Some("ops".into())), Some("ops"), "clusterctl");
        for t in [STRATEGIES, STATE, ACTIONS] {
            assert!(
                sql.contains(&format!("CREATE TABLE IF NOT EXISTS \"ops\".{t} ")),
                "{t}"
            );
            assert!(sql.contains(&format!("ON \"ops\".\"{t}\" TO")), "{t}");
        }
        assert!(
            sql.contains("GRANT SELECT, INSERT, UPDATE ON \"ops\".clusterctl_lease"),
            "{sql}"
        );
        assert!(
            sql.contains("CREATE SCHEMA IF NOT EXISTS \"ops\";"),
            "{sql}"
        );
        assert!(
            sql.contains("GRANT mz_monitor_redacted TO \"clusterctl\";"),
            "{sql}"
        );
        assert!(sql.contains("GRANT USAGE ON SCHEMA \"ops\""), "{sql}");
        for (v, _, _) in MIGRATION_FILES {
            assert!(sql.contains(&format!("VALUES ({v}, ")), "{sql}");
        }
    }
}
