//! Read-only views for operators: `status` (per cluster: replicas, what the
//! controller wants, activity, last action, and a condition with a reason)
//! and `check` (every strategy row validated against the live environment).
//! Both read one snapshot and run the pure planner; neither writes anything.
//! The row validation here is also what `strategy set` runs before writing.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use crate::db::{Client, DbError};
use crate::exec::ExecError;
use crate::model::{Cluster, ClusterId, Snapshot, StrategyRow};
use crate::ops::{Completion, Context, Output};
use crate::plan::{self, ActionKind, ClusterPlan, Outcome, PlanOptions, FORMAT_VERSION, PAUSE};
use crate::store::{Store, ACTIONS};
use crate::strategy::{Idle, StrategyConfig, StrategyKind};
use crate::table::{self, Cell, Tone};

// ---------------------------------------------------------------------------
// Row validation (check, strategy set)

pub use crate::strategy::known_keys;

/// Every strategy type a row may have: the strategies, and `pause`.
pub fn known_types() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = StrategyKind::ALL.iter().map(|k| k.as_str()).collect();
    v.push(PAUSE);
    v
}

pub use crate::strategy::suggest;

/// " (did you mean 'x'?)" when a candidate is close, else nothing.
fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates) {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem with a strategy row or a cluster's set of rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Stable machine-readable kind: dangling_cluster, unknown_type,
    /// unknown_key, invalid_config, conflicting_strategies, unmanageable,
    /// duplicate_rows.
    pub code: &'static str,
    pub cluster_id: ClusterId,
    /// `None` when the cluster does not exist.
    pub cluster: Option<String>,
    pub strategy_type: Option<String>,
    pub message: String,
}

/// Problems of one row's type and config, as (code, message).
pub fn validate_config(
    ty: &str,
    config: &serde_json::Value,
    sizes: &crate::model::SizeCatalog,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let unknown_keys = |out: &mut Vec<(&'static str, String)>| {
        if let Some(obj) = config.as_object() {
            let known = known_keys(ty);
            for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
                out.push((
                    "unknown_key",
                    format!(
                        "unknown config key '{key}'{}, ignored; keys of {ty} are: {}",
                        did_you_mean(key, known),
                        known.join(", ")
                    ),
                ));
            }
        }
    };
    if ty == PAUSE {
        match config {
            serde_json::Value::Object(o) => {
                if o.get("reason")
                    .is_some_and(|r| !r.is_string() && !r.is_null())
                {
                    out.push(("invalid_config", "key 'reason': must be a string".into()));
                }
                unknown_keys(&mut out);
            }
            _ => out.push((
                "invalid_config",
                "config of a pause row must be a JSON object ({} or {\"reason\": \"...\"})".into(),
            )),
        }
        return out;
    }
    let Some(kind) = StrategyKind::parse(ty) else {
        out.push((
            "unknown_type",
            format!(
                "unknown strategy type '{ty}'{}; known types are: {}",
                did_you_mean(ty, &known_types()),
                known_types().join(", ")
            ),
        ));
        return out;
    };
    if let Err(e) = StrategyConfig::parse(kind, config, sizes) {
        out.push(("invalid_config", e.to_string()));
    }
    unknown_keys(&mut out);
    out
}

/// The result of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub format_version: u32,
    pub command: &'static str,
    pub rows_checked: usize,
    pub clusters_checked: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

/// Validates every strategy row (the newest per cluster and type) against the
/// snapshot. Pure.
pub fn check_snapshot(snap: &Snapshot, filter: Option<&Regex>) -> CheckReport {
    let mut groups: BTreeMap<(ClusterId, String), Vec<&StrategyRow>> = BTreeMap::new();
    for row in &snap.strategies {
        groups
            .entry((row.cluster_id.clone(), row.strategy_type.clone()))
            .or_default()
            .push(row);
    }
    let name_of = |id: &ClusterId| snap.cluster(id).map(|c| c.name.clone());
    let selected = |id: &ClusterId| match (filter, snap.cluster(id)) {
        (None, _) => true,
        (Some(re), Some(c)) => re.is_match(&c.name),
        (Some(re), None) => re.is_match(&id.0),
    };
    let mut findings = Vec::new();
    let mut by_cluster: BTreeMap<ClusterId, Vec<String>> = BTreeMap::new();
    let mut rows_checked = 0;
    for ((id, ty), group) in &groups {
        if !selected(id) {
            continue;
        }
        rows_checked += group.len();
        by_cluster.entry(id.clone()).or_default().push(ty.clone());
        let finding = |severity, code, message: String| Finding {
            severity,
            code,
            cluster_id: id.clone(),
            cluster: name_of(id),
            strategy_type: Some(ty.clone()),
            message,
        };
        if group.len() > 1 {
            findings.push(finding(
                Severity::Warning,
                "duplicate_rows",
                format!(
                    "{} rows for this type; the newest is used (`clusterctl strategy set` replaces them with one)",
                    group.len()
                ),
            ));
        }
        let newest = group
            .iter()
            .max_by_key(|r| r.updated_at)
            .copied()
            .unwrap_or(group[0]);
        for (code, message) in validate_config(ty, &newest.config, &snap.sizes) {
            let severity = if code == "unknown_key" {
                Severity::Warning
            } else {
                Severity::Error
            };
            findings.push(finding(severity, code, message));
        }
    }
    for (id, types) in &by_cluster {
        let finding = |severity, code, message: String| Finding {
            severity,
            code,
            cluster_id: id.clone(),
            cluster: name_of(id),
            strategy_type: None,
            message,
        };
        let Some(cluster) = snap.cluster(id) else {
            findings.push(finding(
                Severity::Error,
                "dangling_cluster",
                format!(
                    "no cluster has id {id} (dropped?); remove its rows with `clusterctl strategy rm {id}`"
                ),
            ));
            continue;
        };
        let kinds: Vec<StrategyKind> = types
            .iter()
            .filter_map(|t| StrategyKind::parse(t))
            .collect();
        for message in plan::combination_errors(cluster, &kinds) {
            findings.push(finding(Severity::Error, "conflicting_strategies", message));
        }
        if let Some(reason) = plan::unmanageable(snap, cluster) {
            findings.push(finding(
                Severity::Warning,
                "unmanageable",
                format!("has strategies but the controller leaves it alone: {reason}"),
            ));
        }
    }
    findings.sort_by(|a, b| {
        (&a.cluster, &a.cluster_id, a.severity).cmp(&(&b.cluster, &b.cluster_id, b.severity))
    });
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    CheckReport {
        format_version: FORMAT_VERSION,
        command: "check",
        rows_checked,
        clusters_checked: by_cluster.len(),
        errors,
        warnings: findings.len() - errors,
        findings,
    }
}

pub fn check_text(r: &CheckReport) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let who = match &f.cluster {
            Some(name) => format!("cluster {name} ({})", f.cluster_id),
            None => format!("cluster id {}", f.cluster_id),
        };
        let ty = f
            .strategy_type
            .as_ref()
            .map(|t| format!(": {t}"))
            .unwrap_or_default();
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(s, "{sev}: {who}{ty}: {}", f.message);
    }
    let _ = write!(
        s,
        "Checked {} strategy row{} on {} cluster{}: ",
        r.rows_checked,
        plural(r.rows_checked),
        r.clusters_checked,
        plural(r.clusters_checked)
    );
    if r.findings.is_empty() {
        s.push_str("no problems.\n");
    } else {
        let _ = writeln!(
            s,
            "{} error{}, {} warning{}.",
            r.errors,
            plural(r.errors),
            r.warnings,
            plural(r.warnings)
        );
    }
    s
}

/// `check`: exit 0 when clean, 3 (problems) otherwise.
pub async fn check(ctx: &Context) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    let snap = crate::snapshot::load(&client, &ctx.store, &ctx.snapshot).await?;
    let report = check_snapshot(&snap, ctx.common.cluster_filter.as_ref());
    let out = Output {
        stdout: if ctx.common.json {
            json_line(&report)
        } else {
            check_text(&report)
        },
        ..Output::default()
    };
    let completion = if report.findings.is_empty() {
        Completion::Clean
    } else {
        Completion::WithProblems
    };
    Ok((out, completion))
}

// ---------------------------------------------------------------------------
// status

/// A cluster's condition, most urgent first when several apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Condition {
    Paused,
    Invalid,
    NotManageable,
    CrashLooping,
    Bursting,
    Resizing,
    Suspended,
    Hydrating,
    SignalUnknown,
    Converged,
    /// `--all` only: a cluster without strategy rows.
    Unconfigured,
}

impl Condition {
    fn tone(self) -> Tone {
        match self {
            Condition::Converged => Tone::Good,
            Condition::Invalid | Condition::CrashLooping => Tone::Bad,
            Condition::Unconfigured | Condition::Suspended => Tone::Dim,
            _ => Tone::Warn,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaStatus {
    pub name: String,
    pub size: Option<String>,
    pub hydrated: bool,
    pub crashes: u32,
    pub ooms: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WantedReplica {
    pub name: String,
    pub size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityStatus {
    /// busy (statements running or waiting), idle, new (never queried and
    /// never seen by the controller: its grace period starts with the next
    /// apply), or unknown (the statement log has no data).
    pub state: &'static str,
    /// Seconds since the last statement began (or since the controller first
    /// saw the cluster); null when busy or unknown.
    pub idle_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastAction {
    pub at: DateTime<Utc>,
    pub seconds_ago: u64,
    pub kind: Option<String>,
    pub replica: Option<String>,
    pub sql: String,
    /// null: the outcome was never recorded (the run was interrupted).
    pub executed: Option<bool>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    pub cluster_id: ClusterId,
    pub cluster: String,
    pub condition: Condition,
    pub reason: String,
    pub strategies: Vec<String>,
    pub replicas: Vec<ReplicaStatus>,
    /// What the controller wants: live + creates − drops.
    pub desired: Vec<WantedReplica>,
    pub pending_actions: usize,
    pub activity: ActivityStatus,
    pub last_action: Option<LastAction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub format_version: u32,
    pub command: &'static str,
    pub now: DateTime<Utc>,
    pub clusters: Vec<ClusterStatus>,
}

/// Needs: our audit table. The newest action per cluster, in one statement.
fn last_actions_sql(store: &Store) -> String {
    format!(
        "SELECT DISTINCT ON (cluster_id) cluster_id, created_at, action_sql, executed, \
         error_message, decision_ctx->>'kind', decision_ctx->>'replica' \
         FROM {} WHERE cluster_id IS NOT NULL ORDER BY cluster_id, created_at DESC",
        store.table(ACTIONS)
    )
}

async fn last_actions(
    c: &Client,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<BTreeMap<ClusterId, LastAction>, DbError> {
    let rows = c
        .query_typed(&last_actions_sql(store), &[])
        .await
        .map_err(|e| DbError::query("reading the last actions", &e))?;
    let mut out = BTreeMap::new();
    for r in rows {
        let parsed = (|| {
            let id: String = r.try_get(0).ok()?;
            let at: DateTime<Utc> = r.try_get(1).ok()?;
            Some((
                ClusterId(id),
                LastAction {
                    at,
                    seconds_ago: (now - at).num_seconds().max(0) as u64,
                    sql: r
                        .try_get::<_, Option<String>>(2)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    executed: r.try_get(3).ok()?,
                    error: r.try_get(4).ok()?,
                    kind: r.try_get(5).ok()?,
                    replica: r.try_get(6).ok()?,
                },
            ))
        })();
        if let Some((id, a)) = parsed {
            out.insert(id, a);
        }
    }
    Ok(out)
}

/// One row per cluster that has strategies (every user cluster with `all`).
/// Pure: the snapshot, its plan, and the last actions.
pub fn status_of(
    snap: &Snapshot,
    filter: Option<&Regex>,
    all: bool,
    last: &BTreeMap<ClusterId, LastAction>,
) -> StatusReport {
    let plan = plan::plan(
        snap,
        &PlanOptions {
            cluster_filter: filter.cloned(),
            ..PlanOptions::default()
        },
    );
    let mut types: BTreeMap<&ClusterId, Vec<String>> = BTreeMap::new();
    for row in &snap.strategies {
        let v = types.entry(&row.cluster_id).or_default();
        if !v.contains(&row.strategy_type) {
            v.push(row.strategy_type.clone());
        }
    }
    let mut clusters = Vec::new();
    for cluster in &snap.clusters {
        if filter.is_some_and(|re| !re.is_match(&cluster.name)) {
            continue;
        }
        let cp = plan.clusters.iter().find(|p| p.cluster_id == cluster.id);
        if cp.is_none() && (!all || cluster.is_system()) {
            continue;
        }
        let mut strategies = types.get(&cluster.id).cloned().unwrap_or_default();
        strategies.sort_by_key(|t| StrategyKind::parse(t).map_or(u8::MAX, |k| k.priority()));
        let (condition, reason) = condition(snap, cluster, cp);
        clusters.push(ClusterStatus {
            cluster_id: cluster.id.clone(),
            cluster: cluster.name.clone(),
            condition,
            reason,
            strategies,
            replicas: cluster
                .replicas
                .iter()
                .map(|r| ReplicaStatus {
                    name: r.name.clone(),
                    size: r.size.as_ref().map(|s| s.0.clone()),
                    hydrated: r.hydrated,
                    crashes: r.crash.crashes,
                    ooms: r.crash.ooms,
                })
                .collect(),
            desired: desired_of(cluster, cp),
            pending_actions: cp.map_or(0, |p| p.actions.len()),
            activity: activity_of(snap, cluster, cp),
            last_action: last.get(&cluster.id).cloned(),
        });
    }
    clusters.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    StatusReport {
        format_version: FORMAT_VERSION,
        command: "status",
        now: snap.now,
        clusters,
    }
}

fn desired_of(cluster: &Cluster, cp: Option<&ClusterPlan>) -> Vec<WantedReplica> {
    let mut want: BTreeMap<String, Option<String>> = cluster
        .replicas
        .iter()
        .map(|r| (r.name.clone(), r.size.as_ref().map(|s| s.0.clone())))
        .collect();
    for a in cp.map(|p| p.actions.as_slice()).unwrap_or_default() {
        match a.kind {
            ActionKind::CreateReplica => {
                want.insert(a.replica.clone(), a.size.as_ref().map(|s| s.0.clone()));
            }
            ActionKind::DropReplica => {
                want.remove(&a.replica);
            }
            ActionKind::SetSize => {
                let size = a.size.as_ref().map(|s| s.0.clone());
                for v in want.values_mut() {
                    *v = size.clone();
                }
            }
            ActionKind::SetReplicationFactor => {
                let n = a.replication_factor.unwrap_or_default().max(0) as usize;
                let size = cluster.size.as_ref().map(|s| s.0.clone());
                want = (1..=n).map(|i| (format!("r{i}"), size.clone())).collect();
            }
        }
    }
    want.into_iter()
        .map(|(name, size)| WantedReplica { name, size })
        .collect()
}

fn activity_of(snap: &Snapshot, cluster: &Cluster, cp: Option<&ClusterPlan>) -> ActivityStatus {
    let idle = match cp {
        Some(p) => p.signals.idle,
        None if cluster.activity.in_flight > 0 => Idle::Busy,
        None => match cluster.activity.last_begin {
            Some(t) => Idle::For(((snap.now - t).num_milliseconds() as f64 / 1000.0).max(0.0)),
            None => Idle::Unknown,
        },
    };
    match idle {
        Idle::Busy => ActivityStatus {
            state: "busy",
            idle_seconds: None,
        },
        // Never queried and never seen before: the grace period starts now.
        Idle::For(_) if cluster.activity.last_begin.is_none() && !seen_before(snap, cluster) => {
            ActivityStatus {
                state: "new",
                idle_seconds: None,
            }
        }
        Idle::For(s) => ActivityStatus {
            state: "idle",
            idle_seconds: Some(s.max(0.0) as u64),
        },
        Idle::Unknown => ActivityStatus {
            state: "unknown",
            idle_seconds: None,
        },
    }
}

/// Whether the controller has recorded this cluster before (its
/// `first_seen`, the start of a never-queried cluster's grace period).
fn seen_before(snap: &Snapshot, cluster: &Cluster) -> bool {
    snap.states
        .get(&cluster.id)
        .and_then(|s| s.get("_controller"))
        .is_some()
}

/// The condition and its reason; see `Condition` for the precedence.
fn condition(snap: &Snapshot, cluster: &Cluster, cp: Option<&ClusterPlan>) -> (Condition, String) {
    let Some(cp) = cp else {
        return match plan::unmanageable(snap, cluster) {
            Some(r) => (Condition::NotManageable, r),
            None => (Condition::Unconfigured, "no strategies configured".into()),
        };
    };
    match &cp.outcome {
        Outcome::Paused { reason } => {
            let r = match reason {
                Some(r) => format!("paused by an operator: {r}"),
                None => "paused by an operator".into(),
            };
            return (Condition::Paused, r);
        }
        Outcome::Invalid { errors } => return (Condition::Invalid, errors.join("; ")),
        Outcome::Unmanageable { reason } => return (Condition::NotManageable, reason.clone()),
        _ => {}
    }
    if let Some(r) = cluster.replicas.iter().find(|r| r.crash.crashes >= 2) {
        return (
            Condition::CrashLooping,
            format!(
                "replica {} went offline {} times ({} OOM) in the crash window",
                r.name, r.crash.crashes, r.crash.ooms
            ),
        );
    }
    let why = |a: &plan::Action| {
        let verb = a.kind.verb();
        format!(
            "{verb} {}: {}: {}",
            a.replica,
            a.strategy,
            a.reasons.join("; ")
        )
    };
    if let Some(a) = cp
        .actions
        .iter()
        .find(|a| a.strategy == StrategyKind::Burst && a.kind == ActionKind::CreateReplica)
    {
        return (Condition::Bursting, why(a));
    }
    if !cp.actions.is_empty() {
        let reasons: Vec<String> = cp.actions.iter().map(why).collect();
        return (Condition::Resizing, reasons.join("; "));
    }
    let has = |k: StrategyKind| cp.strategies.contains(&k);
    let burst_name = format!("{}-burst", cluster.name);
    if has(StrategyKind::Burst) && cluster.replica(&burst_name).is_some() {
        return (
            Condition::Bursting,
            format!("{burst_name} runs until another replica is hydrated"),
        );
    }
    if cluster.replicas.is_empty() {
        let r = if has(StrategyKind::IdleSuspend) {
            "no replicas (idle_suspend); a new statement brings them back on the next run"
        } else {
            "no replicas"
        };
        return (Condition::Suspended, r.into());
    }
    let waiting: Vec<&str> = cluster
        .replicas
        .iter()
        .filter(|r| !r.hydrated)
        .map(|r| r.name.as_str())
        .collect();
    if !waiting.is_empty() {
        return (
            Condition::Hydrating,
            format!("waiting for {} to hydrate", waiting.join(", ")),
        );
    }
    if has(StrategyKind::IdleSuspend) && cp.signals.idle == Idle::Unknown {
        return (
            Condition::SignalUnknown,
            "the statement log has no data: idle_suspend cannot tell whether the cluster is idle"
                .into(),
        );
    }
    (
        Condition::Converged,
        "the replicas are what the strategies want".into(),
    )
}

/// A short age: 45s, 12m, 3h5m, 2d3h.
pub fn short_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if d > 0 && h > 0 => format!("{d}d{h}h"),
        _ if d > 0 => format!("{d}d"),
        _ if h > 0 && m > 0 => format!("{h}h{m}m"),
        _ if h > 0 => format!("{h}h"),
        _ if m > 0 => format!("{m}m"),
        _ => format!("{s}s"),
    }
}

fn replica_text(r: &ReplicaStatus) -> String {
    let mut parts = vec![r.size.clone().unwrap_or_else(|| "?".into())];
    parts.push(if r.hydrated { "hydrated" } else { "hydrating" }.into());
    if r.crashes > 0 {
        parts.push(format!(
            "{} crash{}",
            r.crashes,
            if r.crashes == 1 { "" } else { "es" }
        ));
    }
    if r.ooms > 0 {
        parts.push(format!("{} OOM", r.ooms));
    }
    format!("{} ({})", r.name, parts.join(", "))
}

fn list_or_none(items: Vec<String>) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

pub fn status_text(r: &StatusReport, style: table::Style) -> String {
    if r.clusters.is_empty() {
        return "No clusters with strategies (use --all to list every user cluster).\n".into();
    }
    let rows: Vec<Vec<Cell>> = r
        .clusters
        .iter()
        .map(|c| {
            let idle = match (c.activity.state, c.activity.idle_seconds) {
                (_, Some(s)) => short_duration(s),
                (state, None) => state.to_string(),
            };
            let last = match &c.last_action {
                None => "-".to_string(),
                Some(a) => {
                    let what = match (&a.kind, &a.replica) {
                        (Some(k), Some(r)) => {
                            format!("{} {r}", k.strip_suffix("_replica").unwrap_or(k))
                        }
                        _ => a.sql.clone(),
                    };
                    let result = match a.executed {
                        Some(true) => "",
                        Some(false) => " (failed)",
                        None => " (outcome unknown)",
                    };
                    format!("{what}{result} {} ago", short_duration(a.seconds_ago))
                }
            };
            vec![
                Cell::new(format!("{} ({})", c.cluster, c.cluster_id)),
                Cell::tone(format!("{:?}", c.condition), c.condition.tone()),
                Cell::new(list_or_none(c.replicas.iter().map(replica_text).collect())),
                Cell::new(list_or_none(
                    c.desired
                        .iter()
                        .map(|w| format!("{} ({})", w.name, w.size.as_deref().unwrap_or("?")))
                        .collect(),
                )),
                Cell::new(list_or_none(c.strategies.clone())),
                Cell::new(idle),
                Cell::new(last),
                Cell::new(c.reason.clone()),
            ]
        })
        .collect();
    table::render(
        &[
            "CLUSTER",
            "CONDITION",
            "REPLICAS",
            "WANT",
            "STRATEGIES",
            "IDLE",
            "LAST ACTION",
            "REASON",
        ],
        &rows,
        style,
    )
}

/// `status [--all]`: read-only.
pub async fn status(ctx: &Context, all: bool) -> Result<(Output, Completion), ExecError> {
    let client = ctx.db.client().await?;
    let snap = crate::snapshot::load(&client, &ctx.store, &ctx.snapshot).await?;
    let last = last_actions(&client, &ctx.store, snap.now).await?;
    let report = status_of(&snap, ctx.common.cluster_filter.as_ref(), all, &last);
    let out = Output {
        stdout: if ctx.common.json {
            json_line(&report)
        } else {
            status_text(&report, table::Style::detect())
        },
        ..Output::default()
    };
    Ok((out, Completion::Clean))
}

pub(crate) fn json_line<T: Serialize>(v: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SizeCatalog;
    use serde_json::json;

    #[test]
    fn known_keys_match_the_parsers() {
        let sizes = SizeCatalog::cloud_defaults();
        let full = [
            (
                StrategyKind::TargetSize,
                json!({"target_size": "25cc", "replica_name": "r"}),
            ),
            (
                StrategyKind::Schedule,
                json!({"timezone": "UTC", "prewarm_s": 60, "default": {"replicas": 0},
                       "windows": [{"cron": "0 0 8 * * *", "duration_s": 60, "size": "25cc"}]}),
            ),
            (
                StrategyKind::ShrinkToFit,
                json!({"max_replica_size": "50cc", "cooldown_s": 1, "min_oom_count": 1, "min_crash_count": 1}),
            ),
            (
                StrategyKind::Burst,
                json!({"burst_replica_size": "50cc", "cooldown_s": 1, "linger_s": 60, "max_burst_s": 600}),
            ),
            (
                StrategyKind::IdleSuspend,
                json!({"idle_after_s": 60, "cooldown_s": 1, "suspend_when_unknown": true}),
            ),
            (
                StrategyKind::Limits,
                json!({"max_replicas": 2, "max_credits_per_hour": 1.5}),
            ),
            (
                StrategyKind::Stabilization,
                json!({"scale_down_after_s": 300, "scale_up_after_s": 0}),
            ),
        ];
        for kind in StrategyKind::ALL {
            assert!(
                full.iter().any(|(k, _)| *k == kind),
                "{kind}: add it to known_keys and to this test"
            );
        }
        for (kind, cfg) in full {
            let keys: Vec<&str> = cfg
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut known = known_keys(kind.as_str()).to_vec();
            known.sort();
            let mut keys = keys;
            keys.sort();
            assert_eq!(known, keys, "{kind}");
            let (_, unknown) = StrategyConfig::parse(kind, &cfg, &sizes).unwrap();
            assert!(unknown.is_empty(), "{kind}: {unknown:?}");
        }
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(suggest("idle_suspnd", &known_types()), Some("idle_suspend"));
        assert_eq!(suggest("targetsize", &known_types()), Some("target_size"));
        assert_eq!(suggest("autoscale", &known_types()), None);
        assert_eq!(
            suggest("idle_after", known_keys("idle_suspend")),
            Some("idle_after_s")
        );
    }

    #[test]
    fn validation_cases() {
        let sizes = SizeCatalog::cloud_defaults();
        let codes = |ty: &str, cfg: serde_json::Value| -> Vec<&'static str> {
            validate_config(ty, &cfg, &sizes)
                .into_iter()
                .map(|(c, _)| c)
                .collect()
        };
        assert!(codes("target_size", json!({"target_size": "25cc"})).is_empty());
        assert_eq!(
            codes("target_size", json!({"target_size": "80cc"})),
            ["invalid_config"]
        );
        assert_eq!(
            codes("idle_suspend", json!({"idle_after_s": "1h"})),
            ["invalid_config"]
        );
        assert_eq!(
            codes("target_size", json!({"target_sise": "25cc"})),
            ["invalid_config", "unknown_key"]
        );
        assert_eq!(codes("idle_suspnd", json!({})), ["unknown_type"]);
        assert!(codes("pause", json!({})).is_empty());
        assert!(codes("pause", json!({"reason": "incident 42"})).is_empty());
        assert_eq!(codes("pause", json!({"reason": 1})), ["invalid_config"]);
        assert_eq!(codes("pause", json!([])), ["invalid_config"]);
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(720), "12m");
        assert_eq!(short_duration(3600 * 3 + 300), "3h5m");
        assert_eq!(short_duration(86400 * 2 + 3600 * 3), "2d3h");
        assert_eq!(short_duration(86400), "1d");
    }

    #[test]
    fn a_cluster_never_seen_nor_queried_is_new_not_idle() {
        use crate::model::{Activity, Cluster, Schedule, Snapshot, StrategyRow};
        let cluster = Cluster {
            id: ClusterId("u2".into()),
            name: "c".into(),
            managed: false,
            size: None,
            replication_factor: None,
            schedule: Schedule::Manual,
            has_singleton_source: false,
            replicas: vec![],
            activity: Activity::default(),
        };
        let mut snap = Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            clusters: vec![cluster],
            strategies: vec![StrategyRow {
                cluster_id: ClusterId("u2".into()),
                strategy_type: "idle_suspend".into(),
                config: json!({"idle_after_s": 600}),
                updated_at: None,
            }],
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        let state = |snap: &Snapshot| {
            status_of(snap, None, false, &BTreeMap::new()).clusters[0]
                .activity
                .state
        };
        assert_eq!(state(&snap), "new");
        snap.states.insert(
            ClusterId("u2".into()),
            json!({"_controller": {"first_seen": snap.now.to_rfc3339()}}),
        );
        assert_eq!(state(&snap), "idle");
    }
}
