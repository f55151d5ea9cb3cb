//! Desired replica set vs live catalog → ordered DDL actions. Unmanaged
//! clusters get one CREATE/DROP CLUSTER REPLICA per replica, creates first;
//! managed clusters get at most a graceful resize and a replication-factor
//! change. SQL text comes from `ddl`, always quoted.

use super::{Action, ActionKind, PlanOptions};
use crate::ddl;
use crate::model::{Cluster, Size};
use crate::strategy::{Change, Desired};

/// Desired vs live → actions: creates first (sorted by name), then drops, so
/// capacity is never lowered before its replacement exists.
pub(super) fn diff(cluster: &Cluster, d: &Desired, notes: &mut Vec<String>) -> Vec<Action> {
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
pub(super) fn diff_managed(
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
