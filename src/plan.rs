//! The decision: `plan(snapshot, options) -> Plan`, a pure function. It picks
//! the clusters to manage, validates their strategy rows, runs the strategies
//! in priority order, enforces the rules every strategy obeys, and diffs the
//! desired replica set against the live one into ordered actions. No I/O and
//! no clock: `now` is the snapshot's.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Serialize;

use crate::ddl;
use crate::model::{Cluster, ClusterId, Schedule, Size, Snapshot, StrategyRow};
use crate::strategy::{Ctx, Desired, Idle, StrategyConfig, StrategyKind};

/// Version of the JSON documents we print; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Strategy type of the row that pauses the controller for a cluster
/// (`clusterctl strategy pause`); not a strategy, never "unknown".
pub const PAUSE: &str = "pause";

/// State slot the coordinator keeps for itself (not a strategy).
const CONTROLLER_SLOT: &str = "_controller";

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Only clusters whose name matches.
    pub cluster_filter: Option<Regex>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CreateReplica,
    DropReplica,
}

/// One DDL statement and why it is wanted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    pub cluster_id: ClusterId,
    pub cluster: String,
    pub replica: String,
    pub size: Option<Size>,
    pub sql: String,
    pub strategy: StrategyKind,
    pub reasons: Vec<String>,
}

/// What the planner decided for one cluster as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Strategies ran; `actions` may be empty (converged).
    Planned,
    /// The controller must not touch this cluster.
    Unmanageable { reason: String },
    /// A strategy row is invalid: the cluster is skipped this round.
    Invalid { errors: Vec<String> },
    /// An operator paused the controller for this cluster (a `pause` row):
    /// no actions, no state written.
    Paused { reason: Option<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaSignal {
    pub name: String,
    pub size: Option<Size>,
    pub hydrated: bool,
    pub crashes: u32,
    pub ooms: u32,
}

/// The signals a decision was based on (goes into the audit trail).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signals {
    pub idle: Idle,
    pub last_activity: Option<DateTime<Utc>>,
    pub in_flight: u32,
    pub replicas: Vec<ReplicaSignal>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterPlan {
    pub cluster_id: ClusterId,
    pub cluster: String,
    pub strategies: Vec<StrategyKind>,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub actions: Vec<Action>,
    /// A strategy empties the cluster on purpose this round.
    pub suspending: bool,
    pub notes: Vec<String>,
    pub signals: Signals,
    /// The live replica set the plan was computed from, `(name, size)`.
    #[serde(skip)]
    pub observed: Vec<(String, Option<Size>)>,
    /// New state payload to persist, when it changed.
    #[serde(skip)]
    pub new_state: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub now: DateTime<Utc>,
    pub clusters: Vec<ClusterPlan>,
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn actions(&self) -> impl Iterator<Item = &Action> {
        self.clusters.iter().flat_map(|c| c.actions.iter())
    }

    pub fn action_count(&self) -> usize {
        self.actions().count()
    }

    /// Clusters skipped because of invalid configuration.
    pub fn invalid_count(&self) -> usize {
        self.clusters
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Invalid { .. }))
            .count()
    }
}

/// The largest `idle_after_s` in any valid row, to size the activity lookback.
pub fn max_idle_after_s(rows: &[StrategyRow]) -> u64 {
    rows.iter()
        .filter(|r| StrategyKind::parse(&r.strategy_type) == Some(StrategyKind::IdleSuspend))
        .filter_map(|r| r.config.get("idle_after_s").and_then(|v| v.as_u64()))
        .max()
        .unwrap_or(0)
}

pub fn plan(snap: &Snapshot, opts: &PlanOptions) -> Plan {
    let mut warnings = Vec::new();
    let rows = newest_rows(snap, &mut warnings);
    let mut clusters = Vec::new();
    for cluster in &snap.clusters {
        if let Some(re) = &opts.cluster_filter {
            if !re.is_match(&cluster.name) {
                continue;
            }
        }
        let Some(cluster_rows) = rows.get(&cluster.id) else {
            continue;
        };
        clusters.push(plan_cluster(snap, cluster, cluster_rows));
    }
    Plan {
        format_version: FORMAT_VERSION,
        now: snap.now,
        clusters,
        warnings,
    }
}

/// Strategy rows by cluster, newest row per (cluster, type); warns about
/// duplicates and rows for clusters that do not exist.
fn newest_rows<'a>(
    snap: &'a Snapshot,
    warnings: &mut Vec<String>,
) -> BTreeMap<ClusterId, Vec<&'a StrategyRow>> {
    let mut by_key: BTreeMap<(ClusterId, &str), Vec<&StrategyRow>> = BTreeMap::new();
    for row in &snap.strategies {
        by_key
            .entry((row.cluster_id.clone(), row.strategy_type.as_str()))
            .or_default()
            .push(row);
    }
    let mut out: BTreeMap<ClusterId, Vec<&StrategyRow>> = BTreeMap::new();
    for ((id, ty), mut group) in by_key {
        group.sort_by_key(|r| std::cmp::Reverse(r.updated_at));
        if group.len() > 1 {
            warnings.push(format!(
                "cluster {id}: {} rows for strategy '{ty}'; using the newest (updated_at {})",
                group.len(),
                group[0]
                    .updated_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "unknown".into())
            ));
        }
        out.entry(id).or_default().push(group[0]);
    }
    for id in out.keys() {
        if snap.cluster(id).is_none() {
            warnings.push(format!(
                "strategy rows for cluster id {id}, which does not exist (dropped cluster?)"
            ));
        }
    }
    out
}

fn plan_cluster(snap: &Snapshot, cluster: &Cluster, rows: &[&StrategyRow]) -> ClusterPlan {
    let state = snap.states.get(&cluster.id).cloned().unwrap_or_default();
    let idle = idle_of(snap, cluster, &state);
    let mut cp = ClusterPlan {
        cluster_id: cluster.id.clone(),
        cluster: cluster.name.clone(),
        strategies: Vec::new(),
        outcome: Outcome::Planned,
        actions: Vec::new(),
        suspending: false,
        notes: Vec::new(),
        signals: signals_of(cluster, idle),
        observed: cluster
            .replicas
            .iter()
            .map(|r| (r.name.clone(), r.size.clone()))
            .collect(),
        new_state: None,
    };
    if let Some(pause) = rows.iter().find(|r| r.strategy_type == PAUSE) {
        cp.strategies = known_kinds(rows);
        cp.outcome = Outcome::Paused {
            reason: pause_reason(&pause.config),
        };
        return cp;
    }
    let configs = match parse_rows(snap, rows) {
        Ok((configs, notes)) => {
            cp.notes.extend(notes);
            configs
        }
        Err(errors) => {
            cp.strategies = known_kinds(rows);
            cp.outcome = Outcome::Invalid { errors };
            return cp;
        }
    };
    cp.strategies = configs.iter().map(StrategyConfig::kind).collect();
    if let Some(reason) = unmanageable(snap, cluster) {
        cp.outcome = Outcome::Unmanageable { reason };
        return cp;
    }

    let ctx = Ctx {
        cluster,
        sizes: &snap.sizes,
        now: snap.now,
        idle,
    };
    let mut desired = Desired::from_cluster(cluster);
    let mut new_state = fresh_state(&state, &configs, snap.now);
    for cfg in &configs {
        let slot = new_state
            .entry(cfg.kind().as_str().to_string())
            .or_insert(serde_json::Value::Null);
        cfg.decide(&ctx, &mut desired, slot);
    }
    enforce_invariants(cluster, &snap.sizes, &mut desired);
    cp.suspending = desired.suspending.is_some();
    cp.notes.append(&mut desired.notes);
    cp.actions = diff(cluster, &desired, &mut cp.notes);
    let new_state = serde_json::Value::Object(new_state);
    if new_state != state {
        cp.new_state = Some(new_state);
    }
    cp
}

/// Valid configs in priority order, plus notes (unknown keys); or every error.
fn parse_rows(
    snap: &Snapshot,
    rows: &[&StrategyRow],
) -> Result<(Vec<StrategyConfig>, Vec<String>), Vec<String>> {
    let mut configs = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    for row in rows {
        let Some(kind) = StrategyKind::parse(&row.strategy_type) else {
            errors.push(format!(
                "unknown strategy type '{}'; known types are: {}",
                row.strategy_type,
                StrategyKind::names()
            ));
            continue;
        };
        match StrategyConfig::parse(kind, &row.config, &snap.sizes) {
            Ok((cfg, unknown)) => {
                for key in unknown {
                    notes.push(format!("{kind}: ignoring unknown config key '{key}'"));
                }
                configs.push(cfg);
            }
            Err(e) => errors.push(format!("strategy {kind}: {e}")),
        }
    }
    let has = |k: StrategyKind| configs.iter().any(|c: &StrategyConfig| c.kind() == k);
    if has(StrategyKind::TargetSize) && has(StrategyKind::ShrinkToFit) {
        // Both pick the size: one creates what the other drops, every run.
        errors.push(
            "target_size and shrink_to_fit both choose the replica size and would undo each other; keep one"
                .into(),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    configs.sort_by_key(|c| c.kind().priority());
    Ok((configs, notes))
}

fn known_kinds(rows: &[&StrategyRow]) -> Vec<StrategyKind> {
    let mut kinds: Vec<StrategyKind> = rows
        .iter()
        .filter_map(|r| StrategyKind::parse(&r.strategy_type))
        .collect();
    kinds.sort();
    kinds
}

/// The reason given with a `pause` row (`{"reason": "..."}`), if any.
pub fn pause_reason(config: &serde_json::Value) -> Option<String> {
    config
        .get("reason")
        .and_then(|r| r.as_str())
        .filter(|r| !r.trim().is_empty())
        .map(str::to_string)
}

/// Why the controller must leave this cluster alone, if it must.
pub fn unmanageable(snap: &Snapshot, cluster: &Cluster) -> Option<String> {
    if cluster.is_system() {
        return Some("system cluster".into());
    }
    if snap.session_cluster.as_deref() == Some(cluster.name.as_str()) {
        return Some(
            "the controller's own session runs on this cluster (choose another with --exec-cluster)"
                .into(),
        );
    }
    if cluster.schedule == Schedule::OnRefresh {
        return Some("Materialize schedules this cluster itself (SCHEDULE = ON REFRESH)".into());
    }
    if cluster.managed {
        return Some(
            "managed cluster: not supported yet (convert with ALTER CLUSTER … SET (MANAGED = false))"
                .into(),
        );
    }
    if let Some(r) = cluster.replicas.iter().find(|r| r.size.is_none()) {
        return Some(format!(
            "replica {} has no size (unorchestrated): catalog data incomplete",
            r.name
        ));
    }
    None
}

fn idle_of(snap: &Snapshot, cluster: &Cluster, state: &serde_json::Value) -> Idle {
    if cluster.activity.in_flight > 0 {
        return Idle::Busy;
    }
    let secs = |t: DateTime<Utc>| ((snap.now - t).num_milliseconds() as f64 / 1000.0).max(0.0);
    if let Some(t) = cluster.activity.last_begin {
        return Idle::For(secs(t));
    }
    if !snap.activity_log_has_rows {
        return Idle::Unknown;
    }
    // Logging works but never saw this cluster: count from when we first did,
    // so a cluster never seen queried gets a full grace period.
    let first_seen = first_seen(state).unwrap_or(snap.now);
    Idle::For(secs(first_seen))
}

fn first_seen(state: &serde_json::Value) -> Option<DateTime<Utc>> {
    let s = state.get(CONTROLLER_SLOT)?.get("first_seen")?.as_str()?;
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The next state: the controller slot plus the slots of configured
/// strategies (slots of strategies no longer configured are dropped).
fn fresh_state(
    old: &serde_json::Value,
    configs: &[StrategyConfig],
    now: DateTime<Utc>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let first = first_seen(old).unwrap_or(now);
    out.insert(
        CONTROLLER_SLOT.into(),
        serde_json::json!({ "first_seen": first.to_rfc3339() }),
    );
    for cfg in configs {
        let key = cfg.kind().as_str();
        if let Some(v) = old.get(key) {
            out.insert(key.to_string(), v.clone());
        }
    }
    out
}

fn signals_of(cluster: &Cluster, idle: Idle) -> Signals {
    Signals {
        idle,
        last_activity: cluster.activity.last_begin,
        in_flight: cluster.activity.in_flight,
        replicas: cluster
            .replicas
            .iter()
            .map(|r| ReplicaSignal {
                name: r.name.clone(),
                size: r.size.clone(),
                hydrated: r.hydrated,
                crashes: r.crash.crashes,
                ooms: r.crash.ooms,
            })
            .collect(),
    }
}

/// The rules no strategy may break, unless the cluster is being suspended on
/// purpose: keep the last hydrated replica, keep the replica running the
/// cluster's singleton sources.
fn enforce_invariants(cluster: &Cluster, sizes: &crate::model::SizeCatalog, d: &mut Desired) {
    if d.suspending.is_some() {
        return;
    }
    let keeps_hydrated = cluster
        .replicas
        .iter()
        .any(|r| r.hydrated && d.contains(&r.name));
    if !keeps_hydrated {
        let last = cluster
            .replicas
            .iter()
            .filter(|r| r.hydrated)
            .min_by_key(|r| r.size.as_ref().and_then(|s| sizes.rank(s)));
        if let Some(r) = last {
            keep(d, r, "it is the last hydrated replica");
        }
    }
    if let Some(r) = cluster.source_replica() {
        if !d.contains(&r.name) {
            keep(d, r, "it runs the cluster's sources (oldest replica)");
        }
    }
}

fn keep(d: &mut Desired, r: &crate::model::Replica, why: &str) {
    let Some(size) = r.size.clone() else {
        return;
    };
    if let Some(change) = d.removed.remove(&r.name) {
        d.notes.push(format!(
            "kept {} although {} wanted it gone ({}): {why}",
            r.name, change.strategy, change.reason
        ));
    }
    d.replicas.insert(
        r.name.clone(),
        crate::strategy::DesiredReplica {
            size,
            added_by: None,
        },
    );
}

/// Desired vs live → actions: creates first (sorted by name), then drops, so
/// capacity is never lowered before its replacement exists.
fn diff(cluster: &Cluster, d: &Desired, notes: &mut Vec<String>) -> Vec<Action> {
    let mut actions = Vec::new();
    for (name, want) in &d.replicas {
        match cluster.replica(name) {
            None => {
                let (strategy, reason) = match &want.added_by {
                    Some(c) => (c.strategy, c.reason.clone()),
                    None => continue,
                };
                actions.push(Action {
                    kind: ActionKind::CreateReplica,
                    cluster_id: cluster.id.clone(),
                    cluster: cluster.name.clone(),
                    replica: name.clone(),
                    size: Some(want.size.clone()),
                    sql: ddl::create_replica(&cluster.name, name, &want.size),
                    strategy,
                    reasons: vec![reason],
                });
            }
            Some(live) if live.size.as_ref() != Some(&want.size) => notes.push(format!(
                "replica {name} exists with size {} but {} is wanted; leaving it (rename or drop it by hand)",
                live.size.as_ref().map(|s| s.0.as_str()).unwrap_or("?"),
                want.size
            )),
            Some(_) => {}
        }
    }
    for live in &cluster.replicas {
        if d.contains(&live.name) {
            continue;
        }
        let Some(change) = d.removed.get(&live.name) else {
            continue;
        };
        actions.push(Action {
            kind: ActionKind::DropReplica,
            cluster_id: cluster.id.clone(),
            cluster: cluster.name.clone(),
            replica: live.name.clone(),
            size: live.size.clone(),
            sql: ddl::drop_replica(&cluster.name, &live.name),
            strategy: change.strategy,
            reasons: vec![change.reason.clone()],
        });
    }
    actions
}

#[cfg(test)]
mod tests;
