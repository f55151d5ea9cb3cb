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
use crate::strategy::{Change, Ctx, Desired, Idle, StrategyConfig, StrategyKind};

/// Version of the JSON documents we print; bumped on incompatible changes.
pub const FORMAT_VERSION: u32 = 1;

/// Strategy type of the row that pauses the controller for a cluster
/// (`clusterctl strategy pause`); not a strategy, never "unknown".
pub const PAUSE: &str = "pause";

/// State slot the coordinator keeps for itself (not a strategy).
const CONTROLLER_SLOT: &str = "_controller";

#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Only clusters whose name matches.
    pub cluster_filter: Option<Regex>,
    /// `WAIT UNTIL READY` timeout of a managed cluster's graceful resize;
    /// on timeout Materialize rolls back.
    pub resize_timeout: std::time::Duration,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            cluster_filter: None,
            resize_timeout: std::time::Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    CreateReplica,
    DropReplica,
    /// Managed clusters: `ALTER CLUSTER … SET (REPLICATION FACTOR = n)`
    /// (0 suspends).
    SetReplicationFactor,
    /// Managed clusters: `ALTER CLUSTER … SET (SIZE = …)`, graceful (the
    /// old replicas serve until the new ones are hydrated).
    SetSize,
}

impl ActionKind {
    /// A short verb for summaries and tables.
    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::CreateReplica => "create",
            ActionKind::DropReplica => "drop",
            ActionKind::SetReplicationFactor => "set replication factor",
            ActionKind::SetSize => "resize",
        }
    }
}

/// One DDL statement and why it is wanted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Action {
    pub kind: ActionKind,
    pub cluster_id: ClusterId,
    pub cluster: String,
    /// The replica (empty for cluster-level actions on managed clusters).
    pub replica: String,
    pub size: Option<Size>,
    /// The new replication factor (`SetReplicationFactor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i64>,
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
    /// Conditions an operator must act on (e.g. a burst that gave up).
    pub alerts: Vec<String>,
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
/// Read with the strategy's own parser (which needs no sizes for
/// idle_suspend), so `3600.0` counts like `3600`; invalid rows are skipped
/// here and reported by the planner.
pub fn max_idle_after_s(rows: &[StrategyRow]) -> u64 {
    let no_sizes = crate::model::SizeCatalog::default();
    rows.iter()
        .filter(|r| StrategyKind::parse(&r.strategy_type) == Some(StrategyKind::IdleSuspend))
        .filter_map(|r| StrategyConfig::parse(StrategyKind::IdleSuspend, &r.config, &no_sizes).ok())
        .filter_map(|(cfg, _)| cfg.idle_after_s())
        .max()
        .unwrap_or(0)
}

pub fn plan(snap: &Snapshot, opts: &PlanOptions) -> Plan {
    let mut warnings = Vec::new();
    let rows = newest_rows(snap, opts, &mut warnings);
    let mut clusters = Vec::with_capacity(rows.len());
    for cluster in &snap.clusters {
        if let Some(re) = &opts.cluster_filter {
            if !re.is_match(&cluster.name) {
                continue;
            }
        }
        let Some(cluster_rows) = rows.get(&cluster.id) else {
            continue;
        };
        clusters.push(plan_cluster(snap, opts, cluster, cluster_rows));
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
    opts: &PlanOptions,
    warnings: &mut Vec<String>,
) -> BTreeMap<ClusterId, Vec<&'a StrategyRow>> {
    // One index instead of a linear search per row (10 000 clusters).
    let by_id: std::collections::HashMap<&ClusterId, &Cluster> =
        snap.clusters.iter().map(|c| (&c.id, c)).collect();
    let selected = |id: &ClusterId| match (&opts.cluster_filter, by_id.get(id)) {
        (Some(re), Some(c)) => re.is_match(&c.name),
        _ => true,
    };
    let label = |id: &ClusterId| match by_id.get(id) {
        Some(c) => format!("cluster {} ({id})", c.name),
        None => format!("cluster id {id}"),
    };
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
        if group.len() > 1 && selected(&id) {
            warnings.push(format!(
                "{}: {} rows for strategy '{ty}'; using the newest (updated_at {})",
                label(&id),
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
        if !by_id.contains_key(id) {
            warnings.push(format!(
                "strategy rows for cluster id {id}, which does not exist (dropped cluster?)"
            ));
        }
    }
    out
}

fn plan_cluster(
    snap: &Snapshot,
    opts: &PlanOptions,
    cluster: &Cluster,
    rows: &[&StrategyRow],
) -> ClusterPlan {
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
        alerts: Vec::new(),
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
    let configs = match parse_rows(snap, cluster, rows) {
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
    let burst_replica = configs
        .iter()
        .any(|c| c.kind() == StrategyKind::Burst)
        .then(|| crate::strategy::burst_name(&cluster.name));
    let mut desired = Desired::from_cluster(cluster);
    let mut new_state = fresh_state(&state, &configs, snap.now);
    for cfg in &configs {
        let slot = new_state
            .entry(cfg.kind().as_str().to_string())
            .or_insert(serde_json::Value::Null);
        cfg.prepare(&ctx, &mut desired, slot);
    }
    for cfg in &configs {
        let slot = new_state
            .entry(cfg.kind().as_str().to_string())
            .or_insert(serde_json::Value::Null);
        // The burst replica is the burst strategy's: the strategies that pick
        // the size would otherwise retire it as "another size" before its
        // linger ends. Suspension and limits still see it.
        let hidden = match (&burst_replica, cfg.kind()) {
            (
                Some(name),
                StrategyKind::TargetSize | StrategyKind::Schedule | StrategyKind::ShrinkToFit,
            ) => desired.replicas.remove_entry(name),
            _ => None,
        };
        cfg.decide(&ctx, &mut desired, slot);
        if let Some((name, replica)) = hidden {
            match &desired.suspending {
                // A suspension empties the cluster, burst replica included.
                Some(change) => {
                    desired.removed.insert(name, change.clone());
                }
                None => {
                    desired.replicas.entry(name).or_insert(replica);
                }
            }
        }
    }
    discard_moot_decisions(cluster, &desired, &state, &mut new_state);
    enforce_invariants(cluster, &snap.sizes, &mut desired);
    cp.suspending = desired.suspending.is_some();
    cp.notes.append(&mut desired.notes);
    cp.alerts.append(&mut desired.alerts);
    cp.actions = if cluster.managed {
        diff_managed(cluster, &desired, opts, &mut cp.notes)
    } else {
        diff(cluster, &desired, &mut cp.notes)
    };
    let new_state = serde_json::Value::Object(new_state);
    if new_state != state {
        cp.new_state = Some(new_state);
    }
    cp
}

/// While a cluster is suspended and stays suspended, the other strategies'
/// decisions (re-adding replicas the suspension removes again) never reach
/// the catalog: keep their previous state, so nothing is rewritten every
/// round and no cooldown starts from a decision that never happened.
fn discard_moot_decisions(
    cluster: &Cluster,
    desired: &Desired,
    old: &serde_json::Value,
    new_state: &mut serde_json::Map<String, serde_json::Value>,
) {
    let Some(suspender) = &desired.suspending else {
        return;
    };
    if !cluster.replicas.is_empty() {
        return;
    }
    for (key, slot) in new_state.iter_mut() {
        if key == CONTROLLER_SLOT || key == suspender.strategy.as_str() {
            continue;
        }
        *slot = old.get(key).cloned().unwrap_or(serde_json::Value::Null);
    }
}

/// Strategy combinations that cannot work on this cluster (also used by
/// `check`): two strategies that both choose the size, and strategies that
/// need replicas of several sizes on a managed cluster.
pub fn combination_errors(cluster: &Cluster, kinds: &[StrategyKind]) -> Vec<String> {
    let has = |k: StrategyKind| kinds.contains(&k);
    let mut errors = Vec::new();
    if cluster.managed {
        for kind in [StrategyKind::Burst, StrategyKind::ShrinkToFit] {
            if has(kind) {
                errors.push(format!(
                    "{kind} is not supported on managed clusters (all their replicas have one size); \
                     use target_size/idle_suspend, or convert with ALTER CLUSTER … SET (MANAGED = false)"
                ));
            }
        }
    }
    // Each of these picks the size: one creates what the other drops, every run.
    let sizers = [
        StrategyKind::TargetSize,
        StrategyKind::Schedule,
        StrategyKind::ShrinkToFit,
    ];
    for (i, a) in sizers.iter().enumerate() {
        for b in &sizers[i + 1..] {
            if has(*a) && has(*b) {
                errors.push(format!(
                    "{a} and {b} both choose the replica size and would undo each other; keep one"
                ));
            }
        }
    }
    errors
}

/// Valid configs in priority order, plus notes (unknown keys); or every error.
fn parse_rows(
    snap: &Snapshot,
    cluster: &Cluster,
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
            Err(e) => errors.push(format!(
                "strategy {kind}: {e}{}",
                typo_hint(kind, &row.config)
            )),
        }
    }
    let kinds: Vec<StrategyKind> = configs.iter().map(StrategyConfig::kind).collect();
    errors.extend(combination_errors(cluster, &kinds));
    if !errors.is_empty() {
        return Err(errors);
    }
    configs.sort_by_key(|c| c.kind().priority());
    Ok((configs, notes))
}

/// "; unknown key 'target_sise' (did you mean 'target_size'?)" for keys the
/// strategy does not read: a typo is often why a required key is missing.
fn typo_hint(kind: StrategyKind, raw: &serde_json::Value) -> String {
    let Some(obj) = raw.as_object() else {
        return String::new();
    };
    let known = crate::strategy::known_keys(kind.as_str());
    obj.keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| match crate::strategy::suggest(k, known) {
            Some(s) => format!("; unknown key '{k}' (did you mean '{s}'?)"),
            None => format!("; unknown key '{k}'"),
        })
        .collect()
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
    match &cluster.schedule {
        Schedule::Manual => {}
        Schedule::OnRefresh => {
            return Some("Materialize schedules this cluster itself (SCHEDULE = ON REFRESH)".into())
        }
        // Any other native automation (newer releases add schedule and
        // auto-scaling types): Materialize owns the replicas, so do we not.
        Schedule::Other(kind) => {
            return Some(format!(
                "Materialize automates this cluster itself (schedule type '{kind}')"
            ))
        }
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
            .filter(|r| r.hydrated && !d.given_up.contains(&r.name))
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
                    replication_factor: None,
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
            replication_factor: None,
            sql: ddl::drop_replica(&cluster.name, &live.name),
            strategy: change.strategy,
            reasons: vec![change.reason.clone()],
        });
    }
    actions
}

/// Managed clusters: the desired replica set becomes a (size, replication
/// factor) pair. New replicas of one size mean a graceful resize to it;
/// otherwise the count of desired replicas is the replication factor.
fn diff_managed(
    cluster: &Cluster,
    d: &Desired,
    opts: &PlanOptions,
    notes: &mut Vec<String>,
) -> Vec<Action> {
    let rf_now = cluster
        .replication_factor
        .unwrap_or(cluster.replicas.len() as i64);
    let action = |kind, size: Option<Size>, rf: Option<i64>, sql: String, change: &Change| Action {
        kind,
        cluster_id: cluster.id.clone(),
        cluster: cluster.name.clone(),
        replica: String::new(),
        size,
        replication_factor: rf,
        sql,
        strategy: change.strategy,
        reasons: vec![change.reason.clone()],
    };
    if d.replicas.is_empty() {
        let Some(change) = d.removed.values().next() else {
            return Vec::new();
        };
        if rf_now == 0 {
            return Vec::new();
        }
        let sql = ddl::set_replication_factor(&cluster.name, 0);
        return vec![action(
            ActionKind::SetReplicationFactor,
            None,
            Some(0),
            sql,
            change,
        )];
    }
    let added: Vec<(&Size, &Change)> = d
        .replicas
        .iter()
        .filter(|(n, _)| cluster.replica(n).is_none())
        .filter_map(|(_, r)| r.added_by.as_ref().map(|c| (&r.size, c)))
        .collect();
    let new_sizes: std::collections::BTreeSet<&Size> = added.iter().map(|(s, _)| *s).collect();
    if new_sizes.len() > 1 {
        notes.push(format!(
            "managed cluster: strategies want replicas of several sizes ({}); a managed cluster has one size, so nothing is changed",
            new_sizes.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", ")
        ));
        return Vec::new();
    }
    let current = cluster.size.as_ref();
    let target = new_sizes.first().copied().or(current);
    let Some(target) = target else {
        notes.push("managed cluster without a size in the catalog: nothing is changed".into());
        return Vec::new();
    };
    let count = d.replicas.values().filter(|r| &r.size == target).count() as i64;
    let mut actions = Vec::new();
    if Some(target) != current {
        let change = added.iter().find(|(s, _)| *s == target).map(|(_, c)| *c);
        if let Some(change) = change {
            let sql = ddl::set_size_graceful(&cluster.name, target, opts.resize_timeout);
            actions.push(action(
                ActionKind::SetSize,
                Some(target.clone()),
                None,
                sql,
                change,
            ));
        }
    }
    let rf_change = added
        .first()
        .map(|(_, c)| *c)
        .or_else(|| d.removed.values().next());
    if count != rf_now {
        if let Some(change) = rf_change {
            let sql = ddl::set_replication_factor(&cluster.name, count);
            actions.push(action(
                ActionKind::SetReplicationFactor,
                None,
                Some(count),
                sql,
                change,
            ));
        }
    }
    actions
}

#[cfg(test)]
mod tests;
