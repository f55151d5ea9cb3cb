//! The rules every plan obeys, whatever the strategies want: which
//! combinations of strategies can work on a cluster, which clusters the
//! controller must leave alone, and the invariants enforced after the
//! strategies ran (never drop the last hydrated replica unless suspending
//! on purpose, keep the replica running the cluster's sources).

use crate::model::{Cluster, Replica, Schedule, SizeCatalog, Snapshot};
use crate::strategy::{Desired, DesiredReplica, StrategyKind};

/// Strategy combinations that cannot work on this cluster: two strategies
/// that both choose the size, and strategies that need replicas of several
/// sizes on a managed cluster.
pub fn combination_errors(cluster: &Cluster, kinds: &[StrategyKind]) -> Vec<String> {
    let mut errors = Vec::new();
    if cluster.managed {
        for kind in kinds.iter().filter(|k| k.needs_mixed_sizes()) {
            errors.push(format!(
                "{kind} is not supported on managed clusters (all their replicas have one size); \
                 use target_size/idle_suspend, or convert with ALTER CLUSTER … SET (MANAGED = false)"
            ));
        }
    }
    // Each of these picks the size: one creates what the other drops, every run.
    let sizers: Vec<&StrategyKind> = kinds.iter().filter(|k| k.chooses_size()).collect();
    for (i, a) in sizers.iter().enumerate() {
        for b in &sizers[i + 1..] {
            errors.push(format!(
                "{a} and {b} both choose the replica size and would undo each other; keep one"
            ));
        }
    }
    errors
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

/// The rules no strategy may break, unless the cluster is being suspended on
/// purpose: keep the last hydrated replica, keep the replica running the
/// cluster's singleton sources.
pub fn enforce_invariants(cluster: &Cluster, sizes: &SizeCatalog, d: &mut Desired) {
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

fn keep(d: &mut Desired, r: &Replica, why: &str) {
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
        DesiredReplica {
            size,
            added_by: None,
        },
    );
}
