//! Desired replica set vs live catalog → ordered DDL actions. Unmanaged
//! clusters get one CREATE/DROP CLUSTER REPLICA per replica, creates first;
//! managed clusters get at most a resize (in the form the release supports,
//! `rules::ResizeForm`) and a replication-factor change. SQL text comes
//! from `ddl`, always quoted.

use super::rules::ResizeForm;
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
                    resize: None,
                    sql: ddl::create_replica(&cluster.name, name, &want.size),
                    strategy,
                    reasons: std::iter::once(reason)
                        .chain(d.superseded_reasons(strategy))
                        .collect(),
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
            resize: None,
            sql: ddl::drop_replica(&cluster.name, &live.name),
            strategy: change.strategy,
            reasons: vec![change.reason.clone()],
        });
    }
    actions
}

/// What a managed cluster's diff depends on besides the desired set.
pub(super) struct ManagedCtx<'a> {
    pub opts: &'a PlanOptions,
    pub form: ResizeForm,
    /// A strategy of the cluster sets `allow_downtime`.
    pub allow_downtime: bool,
    /// Why graceful resizes are known off here, if from the region's
    /// refusal ([`super::rules::graceful_refused`]).
    pub refused: String,
}

/// What the diff of a managed cluster wants said besides its actions.
#[derive(Default)]
pub(super) struct Said {
    pub notes: Vec<String>,
    pub alerts: Vec<String>,
    /// Nothing the strategies decided can be carried out (several sizes
    /// wanted, no size known): their decisions are moot this round.
    pub refused: bool,
    /// A resize the release cannot do without downtime, held back as a
    /// limit holds a create (`Limited`, never a silent `Converged`).
    pub held: Vec<crate::strategy::Deferred>,
}

/// Managed clusters: the desired replica set becomes a (size, replication
/// factor) pair. New replicas of one size mean a resize to it, in the form
/// the release supports; otherwise the count of desired replicas is the
/// replication factor. Where the release has no graceful resize, a resize
/// of a running cluster is a restart: done only with `allow_downtime`,
/// else reported and the cluster keeps its size.
pub(super) fn diff_managed(
    cluster: &Cluster,
    d: &Desired,
    m: &ManagedCtx,
    said: &mut Said,
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
        resize: None,
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
        said.notes.push(format!(
            "managed cluster: strategies want replicas of several sizes ({}); a managed cluster has one size, so nothing is changed",
            new_sizes.iter().map(|s| s.0.as_str()).collect::<Vec<_>>().join(", ")
        ));
        said.refused = true;
        return Vec::new();
    }
    let current = cluster.size.as_ref();
    let Some(wanted) = new_sizes.first().copied().or(current) else {
        said.notes
            .push("managed cluster without a size in the catalog: nothing is changed".into());
        said.refused = true;
        return Vec::new();
    };
    let mut actions = Vec::new();
    let mut resizing = false;
    let mut blocked = false;
    if Some(wanted) != current {
        if let Some(change) = added.iter().find(|(s, _)| *s == wanted).map(|(_, c)| *c) {
            match resize(cluster, wanted, change, m, rf_now) {
                Ok(a) => {
                    actions.push(a);
                    resizing = true;
                }
                Err(why) => {
                    said.alerts.push(format!("{}: {why}", change.strategy));
                    said.held.push(crate::strategy::Deferred {
                        strategy: Some(change.strategy),
                        ..crate::strategy::Deferred::limited(format!("resize to {wanted}"), why)
                    });
                    blocked = true;
                }
            }
        }
    }
    // The replicas wanted at the size the cluster will have. When the
    // resize cannot happen the cluster keeps its size: the replicas wanted
    // at it, or, when only the new size is wanted (waking a suspended
    // cluster), that many at the current size.
    let of_size = |size: &Size| d.replicas.values().filter(|r| &r.size == size).count() as i64;
    // A resize keeps the replication factor, as Materialize's does: the
    // strategy that asked for one replica of the new size is satisfied by
    // several (it was planned down to one in the blocking form, and kept
    // in the background form, where the change had to wait). More replicas
    // wanted at the new size are still asked for.
    // Likewise a wake at another size: as many as the wake wanted (the
    // replication factor its suspension ended), which the strategy of the
    // size replaced by one of its own (it came back at 1 from 2).
    let count = match current {
        Some(now) if blocked && of_size(now) > 0 => of_size(now),
        _ if resizing && rf_now > 0 => of_size(wanted).max(rf_now),
        _ if rf_now == 0 => of_size(wanted).max(d.superseded.len() as i64),
        _ => of_size(wanted),
    };
    // Back from zero replicas is a wake: the strategy that woke the
    // cluster, also when another one's resize took its replica over.
    let woken_by = (rf_now == 0)
        .then(|| d.superseded.values().next())
        .flatten();
    let rf_change = woken_by
        .map(|s| &s.wanted)
        .or_else(|| added.first().map(|(_, c)| *c))
        .or_else(|| d.removed.values().next());
    if count != rf_now {
        if let Some(change) = rf_change {
            if resizing && m.form == ResizeForm::Background && rf_now > 0 {
                // Materialize refuses it while the resize runs (55006).
                said.notes.push(format!(
                    "replication factor {count} waits for the resize to finish"
                ));
            } else {
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
    }
    actions
}

/// The resize action in the form the release supports, or why there is none.
fn resize(
    cluster: &Cluster,
    size: &Size,
    change: &Change,
    m: &ManagedCtx,
    rf_now: i64,
) -> Result<Action, String> {
    let mut reasons = vec![change.reason.clone()];
    let sql = match m.form {
        ResizeForm::Background => ddl::set_size(&cluster.name, size),
        ResizeForm::WaitUntilReady => {
            ddl::set_size_graceful(&cluster.name, size, m.opts.resize_timeout)
        }
        // Nothing runs, so nothing goes down.
        ResizeForm::Restart if rf_now == 0 || cluster.replicas.is_empty() => {
            ddl::set_size(&cluster.name, size)
        }
        ResizeForm::Restart if m.allow_downtime => {
            reasons.push(
                "this release has no graceful resize: Materialize replaces the replicas at once \
                 (downtime until they hydrate), allowed by allow_downtime"
                    .into(),
            );
            ddl::set_size(&cluster.name, size)
        }
        ResizeForm::Restart => {
            return Err(format!(
                "not resizable to {size} on this release without downtime{} (graceful resize \
                 needs v26.35 or later with enable_background_alter_cluster on, or \
                 enable_zero_downtime_cluster_reconfiguration); set \"allow_downtime\": true in \
                 its strategy to resize with a restart",
                m.refused
            ))
        }
    };
    Ok(Action {
        kind: ActionKind::SetSize,
        cluster_id: cluster.id.clone(),
        cluster: cluster.name.clone(),
        replica: String::new(),
        size: Some(size.clone()),
        replication_factor: None,
        resize: Some(m.form),
        sql,
        strategy: change.strategy,
        reasons,
    })
}

/// Decisions of the diff that no plan test pinned (cargo mutants):
/// straight on the function, with the desired set a strategy would leave.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testutil::{cluster, replica};
    use crate::strategy::StrategyKind;

    fn managed(rf: i64, size: &str) -> Cluster {
        let replicas = (1..=rf)
            .map(|i| replica(&format!("r{i}"), size, true))
            .collect();
        let mut c = cluster("m", replicas);
        c.managed = true;
        c.size = Some(Size::from(size));
        c.replication_factor = Some(rf);
        c
    }

    fn managed_diff(c: &Cluster, d: &Desired, form: ResizeForm) -> (Vec<Action>, Said) {
        let opts = PlanOptions::default();
        let m = ManagedCtx {
            opts: &opts,
            form,
            allow_downtime: false,
            refused: String::new(),
        };
        let mut said = Said::default();
        let actions = diff_managed(c, d, &m, &mut said);
        (actions, said)
    }

    fn kinds(actions: &[Action]) -> Vec<(ActionKind, Option<i64>)> {
        actions
            .iter()
            .map(|a| (a.kind, a.replication_factor))
            .collect()
    }

    #[test]
    fn a_name_held_at_another_size_is_left_and_said() {
        let c = cluster("c", vec![replica("r1", "25cc", true)]);
        let mut d = Desired::from_cluster(&c);
        d.add(
            "r1",
            &Size::from("50cc"),
            StrategyKind::TargetSize,
            "x".into(),
        );
        let mut notes = Vec::new();
        assert!(diff(&c, &d, &mut notes).is_empty());
        assert_eq!(
            notes,
            ["replica r1 exists with size 25cc but 50cc is wanted; leaving it (rename or drop it by hand)"]
        );
        // The same size: nothing to do, nothing said.
        let d = Desired::from_cluster(&c);
        let mut notes = Vec::new();
        assert!(diff(&c, &d, &mut notes).is_empty() && notes.is_empty());
    }

    #[test]
    fn a_managed_cluster_asked_for_two_sizes_changes_nothing() {
        let c = managed(1, "25cc");
        let mut d = Desired::from_cluster(&c);
        d.add("a", &Size::from("50cc"), StrategyKind::Schedule, "x".into());
        d.add(
            "b",
            &Size::from("100cc"),
            StrategyKind::Schedule,
            "x".into(),
        );
        let (actions, said) = managed_diff(&c, &d, ResizeForm::Background);
        assert!(actions.is_empty());
        assert!(
            said.notes[0].contains("several sizes (100cc, 50cc)"),
            "{:?}",
            said.notes
        );
        // One new size is a resize.
        let mut d = Desired::from_cluster(&c);
        d.add("a", &Size::from("50cc"), StrategyKind::Schedule, "x".into());
        let (actions, _) = managed_diff(&c, &d, ResizeForm::Background);
        assert_eq!(kinds(&actions), [(ActionKind::SetSize, None)]);
    }

    /// No graceful resize on this release and no `allow_downtime`: the
    /// cluster keeps its size and its replicas at that size (two here), not
    /// the one replica of the size it could not get.
    #[test]
    fn a_blocked_resize_keeps_the_replicas_at_the_current_size() {
        let c = managed(2, "25cc");
        let mut d = Desired::from_cluster(&c);
        d.add(
            "r_50cc",
            &Size::from("50cc"),
            StrategyKind::TargetSize,
            "x".into(),
        );
        let (actions, said) = managed_diff(&c, &d, ResizeForm::Restart);
        assert!(actions.is_empty(), "{:?}", kinds(&actions));
        assert!(
            said.alerts[0].contains("not resizable to 50cc"),
            "{:?}",
            said.alerts
        );
    }

    /// A replication factor waits for a background resize only while
    /// replicas run (Materialize refuses it then, 55006): a suspended
    /// cluster woken at a new size gets both at once, and a count change
    /// without a resize is never held back.
    #[test]
    fn only_a_running_background_resize_holds_the_replication_factor_back() {
        let asleep = managed(0, "25cc");
        let mut d = Desired::from_cluster(&asleep);
        d.add(
            "r_50cc",
            &Size::from("50cc"),
            StrategyKind::IdleSuspend,
            "x".into(),
        );
        let (actions, said) = managed_diff(&asleep, &d, ResizeForm::Background);
        assert_eq!(
            kinds(&actions),
            [
                (ActionKind::SetSize, None),
                (ActionKind::SetReplicationFactor, Some(1))
            ],
            "{:?}",
            said.notes
        );
        let c = managed(1, "25cc");
        let mut d = Desired::from_cluster(&c);
        d.add(
            "r2",
            &Size::from("25cc"),
            StrategyKind::Schedule,
            "x".into(),
        );
        let (actions, said) = managed_diff(&c, &d, ResizeForm::Background);
        assert_eq!(
            kinds(&actions),
            [(ActionKind::SetReplicationFactor, Some(2))],
            "{:?}",
            said.notes
        );
    }
}
