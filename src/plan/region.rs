//! The region's credit limit: Materialize refuses a replica that would take
//! the credits per hour of all user replicas of the region beyond
//! `max_credit_consumption_rate` (reference §8.5). This pass runs over the
//! whole plan, after every cluster was planned, because the limit is shared:
//! creates that do not fit are held back as waiting work with the reason
//! (`status` says Limited). The room goes first to the clusters none of
//! whose replicas serves (a wake, a cold start: their users' queries fail
//! or wait), then to the others (a burst, a larger size, a probe), each in
//! catalog order (the order `dry-run` lists the clusters), so every run
//! holds back the same ones. Drops are never held back, and never counted
//! as freeing room within the run (creates run before drops, and another
//! cluster's create may run before a drop).

use super::rules::ResizeForm;
use super::{ActionKind, ClusterPlan, Outcome};
use crate::model::{Cluster, Size, SizeCatalog, Snapshot};
use crate::strategy::Deferred;

/// The credits per hour the region's user replicas use now, as Materialize
/// counts them (`validate_resource_limits` in src/adapter/src/coord/ddl.rs:
/// every replica of a user cluster with a size, pending ones included;
/// system clusters' replicas are not counted).
pub fn live_credits(snap: &Snapshot) -> f64 {
    snap.clusters
        .iter()
        .filter(|c| !c.is_system())
        .flat_map(|c| &c.replicas)
        .filter_map(|r| r.size.as_ref())
        .map(|s| snap.sizes.credits(s))
        .sum()
}

/// A rate for messages: at most four decimals, no trailing zeros.
pub fn credits_text(credits: f64) -> String {
    let rounded = (credits * 10_000.0).round() / 10_000.0;
    format!("{rounded}")
}

/// Holds back what does not fit under the region's credit limit; returns
/// a warning when the limit cannot be judged.
pub(super) fn enforce_credit_limit(
    snap: &Snapshot,
    clusters: &mut [ClusterPlan],
) -> Option<String> {
    let limit = snap.env.settings.max_credit_consumption_rate?;
    if !snap.sizes.credits_known() {
        return Some(format!(
            "the region's credit limit (max_credit_consumption_rate {}) is not judged: \
             --replica-sizes names sizes without their credits",
            credits_text(limit)
        ));
    }
    let live = live_credits(snap);
    let by_id = snap.cluster_index();
    let cluster_of = |cp: &ClusterPlan| by_id.get(&cp.cluster_id).map(|&i| &snap.clusters[i]);
    // Those serving nobody first; a stable sort keeps the catalog order
    // within each group.
    let mut order: Vec<usize> = (0..clusters.len()).collect();
    order.sort_by_key(|&i| cluster_of(&clusters[i]).is_some_and(Cluster::any_hydrated));
    let mut added = 0.0;
    for i in order {
        let cp = &mut clusters[i];
        if !matches!(cp.outcome, Outcome::Planned) {
            continue;
        }
        let Some(cluster) = cluster_of(cp) else {
            continue;
        };
        let mut budget = Budget {
            limit,
            live,
            added: &mut added,
        };
        hold_back(cp, cluster, &snap.sizes, &mut budget);
    }
    None
}

struct Budget<'a> {
    limit: f64,
    live: f64,
    /// What the creates admitted so far add, across clusters.
    added: &'a mut f64,
}

impl Budget<'_> {
    /// Admits `cost` if the region stays within the limit (Materialize
    /// refuses only beyond it: `desired > limit`).
    fn admit(&mut self, cost: f64) -> Result<(), String> {
        let desired = self.live + *self.added + cost;
        if cost <= 0.0 || desired <= self.limit + 1e-9 {
            *self.added += cost.max(0.0);
            return Ok(());
        }
        Err(format!(
            "Materialize's region credit limit (max_credit_consumption_rate {}): it would \
             take the region to {} credits/h (live replicas {}{}); it waits until replicas \
             elsewhere are gone (or ask for a higher limit)",
            credits_text(self.limit),
            credits_text(desired),
            credits_text(self.live),
            if *self.added > 0.0 {
                format!(", this run's earlier creates {}", credits_text(*self.added))
            } else {
                String::new()
            }
        ))
    }
}

/// One cluster's actions, in order: each that adds credits is admitted or
/// held back. Once one is held back, the cluster's later creating actions
/// wait with it (a managed cluster's `SET (SIZE)` then `SET (REPLICATION
/// FACTOR)` must not wake it at the old size).
fn hold_back(cp: &mut ClusterPlan, cluster: &Cluster, sizes: &SizeCatalog, budget: &mut Budget) {
    let mut shape = Shape {
        size: cluster.size.clone(),
        factor: cluster.replication_factor.unwrap_or(0).max(0),
        live: cluster
            .replicas
            .iter()
            .filter_map(|r| r.size.as_ref())
            .map(|s| sizes.credits(s))
            .sum(),
    };
    let mut held_reason: Option<String> = None;
    let mut kept = Vec::with_capacity(cp.actions.len());
    for action in std::mem::take(&mut cp.actions) {
        let cost = shape.cost(&action, sizes);
        let verdict = match &held_reason {
            Some(first) if cost > 0.0 => Err(format!(
                "waits for {first}, held back by the region's credit limit"
            )),
            _ => budget.admit(cost),
        };
        match verdict {
            Ok(()) => {
                shape.apply(&action);
                kept.push(action);
            }
            Err(why) => {
                let held = match (&action.kind, &action.size) {
                    // Said as every limit says a held create.
                    (ActionKind::CreateReplica, Some(size)) => {
                        Deferred::limited_create(None, &action.replica, size, why)
                    }
                    _ => Deferred::limited(action.held(), why),
                };
                held_reason.get_or_insert(held.action.clone());
                cp.waiting.push(held);
            }
        }
    }
    cp.actions = kept;
    if held_reason.is_some() {
        // The strategies' new state assumed every action ran (a wake
        // recorded as done would never be made again): kept as stored,
        // as for a cluster whose actions are in doubt.
        cp.new_state = None;
    }
}

/// A managed cluster's size and factor as its actions change them, and
/// what its replicas cost now.
struct Shape {
    size: Option<Size>,
    factor: i64,
    live: f64,
}

impl Shape {
    /// The credits per hour an action adds to the region while it runs.
    fn cost(&self, action: &super::Action, sizes: &SizeCatalog) -> f64 {
        let price = |s: &Option<Size>| s.as_ref().map(|s| sizes.credits(s)).unwrap_or(0.0);
        match action.kind {
            ActionKind::CreateReplica => price(&action.size),
            ActionKind::DropReplica => 0.0,
            // A graceful resize creates the new replicas beside the old
            // ones (pending replicas, or the controller's targets); a
            // restart drops and creates in one catalog transaction, which
            // Materialize judges by its net change.
            ActionKind::SetSize => {
                let new = self.factor as f64 * price(&action.size);
                match action.resize {
                    Some(ResizeForm::Restart) => (new - self.live).max(0.0),
                    _ => new,
                }
            }
            ActionKind::SetReplicationFactor => {
                let more = action.replication_factor.unwrap_or(0) - self.factor;
                more.max(0) as f64 * price(&self.size)
            }
        }
    }

    fn apply(&mut self, action: &super::Action) {
        match action.kind {
            ActionKind::SetSize => self.size = action.size.clone(),
            ActionKind::SetReplicationFactor => {
                self.factor = action.replication_factor.unwrap_or(self.factor)
            }
            ActionKind::CreateReplica | ActionKind::DropReplica => {}
        }
    }
}
