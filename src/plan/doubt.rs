//! Actions an interrupted run left without an outcome (`apply` killed
//! between sending a statement and recording what it did): what the
//! catalog shows of each, and the clusters on which such a statement may
//! still be running on the server. The one rule behind `apply`'s settling
//! and the "in doubt" every plan shows (`dry-run`, `status`, `describe`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ActionKind;
use crate::model::{ClusterId, Snapshot, Unresolved};

/// Added to a deadline before an action is believed over.
const IN_DOUBT_MARGIN: Duration = Duration::from_secs(1);
/// How far past a row's end by the server's clock this machine's boot
/// clock still holds it ([`by_boot_clock`]): a step of the server's clock
/// larger than this is not covered.
const BOOT_CLOCK_TRUSTED: Duration = Duration::from_secs(24 * 3600);
/// How long after its deadline a DROP its run gave up on (a timeout, a
/// kill) may still reach the server: TCP retransmits what a closed socket
/// had sent until `tcp_retries2` is exhausted (about 15 minutes with
/// Linux's default), and a proxy on the way may hold what it accepted. A
/// DROP settled as not run at its deadline landed after the next run,
/// counting on that replica, had dropped the other: the cluster was left
/// with none (an outside check). Within this window its row stays open
/// and no other replica of its cluster is dropped ([`LateDrop`]).
pub const LATE_DELIVERY: Duration = Duration::from_secs(16 * 60);

/// How long after its intent a statement settled as not run is read
/// again, in case it landed since: a DROP holds a create of its name while
/// it may ([`LATE_DELIVERY`]), a CREATE whose replica appeared is corrected
/// to executed ([`Settle::landed_late`]).
pub const LANDS_LATE_WITHIN: Duration = Duration::from_secs(24 * 3600);
/// A recorded deadline beyond this, and beyond this run's own longest
/// (a managed resize's `--resize-timeout`), is not believed.
const MAX_RECORDED_DEADLINE: Duration = Duration::from_secs(24 * 3600);

/// How long a DDL statement of `kind` may run before it is given up: the
/// statement timeout, or for a managed resize (`WAIT UNTIL READY`) its
/// timeout and a minute, whichever is longer.
pub fn ddl_deadline(
    kind: ActionKind,
    statement_timeout: Duration,
    resize_timeout: Duration,
) -> Duration {
    match kind {
        ActionKind::SetSize => statement_timeout.max(resize_timeout + Duration::from_secs(60)),
        _ => statement_timeout,
    }
}

/// An unfinished action whose effect the catalog shows (or not): `apply`
/// records it as the outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Settle {
    pub action_id: String,
    pub executed: bool,
    /// A CREATE an earlier run settled as not run at its deadline, whose
    /// replica the catalog shows since: it landed late (a statement the
    /// server held, a lock, a silent network). Its row is corrected to
    /// executed: the trail showed no executed row for a replica that ran
    /// (an outside check).
    pub landed_late: bool,
}

/// A cluster an interrupted run's statement may still be running on: left
/// alone until `until`, when the next run settles it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InDoubt {
    pub reason: String,
    pub until: DateTime<Utc>,
}

/// A DROP that has not run and may still reach the server until `until`
/// ([`LATE_DELIVERY`]): its replica may still go, so no other replica of
/// the cluster is dropped while it is there (a drop of the same replica is
/// harmless: one of the two fails), nor is a replica made again under its
/// name ([`hold_for_late_drops`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LateDrop {
    pub replica: String,
    pub sent: Option<DateTime<Utc>>,
    pub until: DateTime<Utc>,
}

/// What the unfinished audit rows of a snapshot come to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unfinished {
    pub settle: Vec<Settle>,
    pub in_doubt: BTreeMap<ClusterId, InDoubt>,
    pub late_drops: BTreeMap<ClusterId, Vec<LateDrop>>,
}

/// Judges every unfinished row of `snap`: an action whose effect is visible
/// is settled as executed; one whose effect is not visible is settled as
/// not executed once its statement cannot be running any more (its
/// deadline, recorded with it, has passed by the database's clock and, for
/// a row written on this machine, by its boot clock: [`by_boot_clock`]),
/// and until then holds its cluster. Rows of an older release carry no
/// deadline: this run's own (`statement_timeout`, `resize_timeout`) stands
/// in.
pub fn judge(snap: &Snapshot, statement_timeout: Duration, resize_timeout: Duration) -> Unfinished {
    let mut out = Unfinished::default();
    for row in &snap.unfinished {
        // A start in the future (the database's clock wrote it) is not
        // believed either.
        let deadline = recorded_deadline(row, statement_timeout, resize_timeout);
        let held = chrono::Duration::from_std(deadline + IN_DOUBT_MARGIN)
            .unwrap_or(chrono::Duration::zero());
        let until = |held: chrono::Duration| {
            let by_server = row
                .created_at
                .filter(|t| *t <= snap.now + chrono::Duration::minutes(1))
                .and_then(|t| t.checked_add_signed(held))
                .filter(|t| *t > snap.now);
            by_server.max(by_boot_clock(snap, row, held))
        };
        // A DROP of a replica by its name that has not run may still land
        // until then, on a replica made again under that name too: its
        // replica still there, or gone by a later drop of ours (which this
        // one would have made fail), or settled so. One whose replica is
        // gone otherwise ran (or someone dropped it meanwhile: not covered,
        // as a wake after a killed suspension would wait 16 minutes).
        let executed = !row.settled && took_effect(snap, row);
        let late = chrono::Duration::from_std(LATE_DELIVERY).unwrap_or_default();
        let late_until = until(held + late).filter(|_| row.kind == "drop_replica" && !executed);
        if let Some(until) = late_until {
            let late = LateDrop {
                replica: row.replica.clone(),
                sent: row.created_at,
                until,
            };
            // The DROP names its cluster by the name it had: it lands on
            // the cluster of that name, another one after `ALTER CLUSTER …
            // SWAP WITH` or a rename (held too), and on the row's own
            // should the name come back to it within the window.
            let named = row
                .cluster_name
                .as_deref()
                .and_then(|n| snap.clusters.iter().find(|c| c.name == n))
                .map(|c| &c.id)
                .filter(|id| **id != row.cluster_id);
            for id in std::iter::once(&row.cluster_id).chain(named) {
                out.late_drops
                    .entry(id.clone())
                    .or_default()
                    .push(late.clone());
            }
        }
        if row.settled {
            // Read for a CREATE only while no later create of its replica
            // ran or is open (`Store::unfinished_sql`): the replica of its
            // name and size is its own.
            if row.kind == "create_replica" && took_effect(snap, row) {
                out.settle.push(Settle {
                    action_id: row.action_id.clone(),
                    executed: true,
                    landed_late: true,
                });
            }
            continue;
        }
        // Another drop of its replica ran since: this one cannot have
        // taken effect (it would have made that one fail).
        let superseded = row.kind == "drop_replica" && row.dropped_since;
        // A managed resize that got no answer may reach the server late as
        // a DROP may: sent again at its deadline, the late one restarted
        // the reconfiguration (an outside check). Its cluster is held the
        // window too.
        let held_for = match row.kind.as_str() {
            "set_size" => held + late,
            _ => held,
        };
        if !executed && !superseded {
            if let Some(until) = until(held_for) {
                let entry = out
                    .in_doubt
                    .entry(row.cluster_id.clone())
                    .or_insert(InDoubt {
                        reason: String::new(),
                        until,
                    });
                entry.until = entry.until.max(until);
                entry.reason = format!(
                    "an interrupted run's action on this cluster may still be running on the server \
                     (its deadline ends {}); left alone this run, the next run settles it",
                    entry.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                );
                continue;
            }
            // Past its deadline, it may still land: left open until then.
            if late_until.is_some() {
                continue;
            }
        }
        out.settle.push(Settle {
            action_id: row.action_id.clone(),
            executed,
            landed_late: false,
        });
    }
    out
}

/// Until when the row's statement may still run by this machine's boot
/// clock, when the row was written on this machine (the same boot): its
/// age there is real time, whatever the server's clock did since (a step
/// forward made it look over, a step back made its start look to come).
/// `judge` holds the row while either clock says it may still run. A row
/// dated more than a second after this reading (hand-written) is not
/// believed, nor is this clock once the server's puts the row more than
/// [`BOOT_CLOCK_TRUSTED`] past its end: a boot clock that does not run
/// (a container whose clock is offset anew at each start) would
/// otherwise hold the cluster for ever.
fn by_boot_clock(
    snap: &Snapshot,
    row: &Unresolved,
    held: chrono::Duration,
) -> Option<DateTime<Utc>> {
    if let Some(created) = row.created_at {
        let trusted = chrono::Duration::from_std(BOOT_CLOCK_TRUSTED).ok()?;
        if snap.now.signed_duration_since(created) > held + trusted {
            return None;
        }
    }
    let age = snap.local_clock.as_ref()?.since(row.boot.as_ref()?)?;
    if age < -1.0 {
        return None;
    }
    // Saturating: a row is data.
    let age = chrono::Duration::milliseconds((age.max(0.0) * 1000.0) as i64);
    let left = held - age;
    (left > chrono::Duration::zero())
        .then(|| snap.now.checked_add_signed(left))
        .flatten()
}

/// The deadline a row's statement ran under: the one it recorded, unless
/// not believable (a row is data: negative, not finite, or longer than any
/// statement of ours), else this run's for its kind (`statement_timeout`,
/// `resize_timeout`: rows of an older release carry none).
fn recorded_deadline(
    row: &Unresolved,
    statement_timeout: Duration,
    resize_timeout: Duration,
) -> Duration {
    let believed = MAX_RECORDED_DEADLINE.max(ddl_deadline(
        ActionKind::SetSize,
        statement_timeout,
        resize_timeout,
    ));
    row.deadline_s
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(believed.as_secs_f64())))
        .unwrap_or_else(|| ddl_deadline(kind_of(&row.kind), statement_timeout, resize_timeout))
}

/// The DROPs of a cluster's replicas that got no answer in time (given
/// up on, or retried after an attempt without one, in the trail's last
/// day; or never given an outcome), with until when each could still reach
/// the server: its deadline ([`recorded_deadline`], this release's default
/// statement timeout for a row without one) and [`LATE_DELIVERY`]. What
/// `idle_suspend` reads to tell a wake a late DROP undid (`Ctx::late_drops`,
/// and `status`'s promise).
pub fn sent_drops(snap: &Snapshot, id: &ClusterId) -> Vec<crate::model::SentDrop> {
    let defaults = super::PlanOptions::default();
    snap.unfinished
        .iter()
        .filter(|u| &u.cluster_id == id && u.kind == ActionKind::DropReplica.name())
        .filter_map(|u| {
            let sent = u.created_at?;
            let deadline =
                recorded_deadline(u, defaults.statement_timeout, defaults.resize_timeout);
            let window = chrono::Duration::from_std(deadline + IN_DOUBT_MARGIN + LATE_DELIVERY)
                .unwrap_or_default();
            Some(crate::model::SentDrop {
                replica: u.replica.clone(),
                sent,
                until: sent.checked_add_signed(window)?,
            })
        })
        .collect()
}

/// Whether the catalog shows what the row's statement would have done.
fn took_effect(snap: &Snapshot, row: &Unresolved) -> bool {
    let cluster = snap.cluster(&row.cluster_id);
    match row.kind.as_str() {
        // Dropped since, by a recorded drop: it ran.
        "create_replica" if row.dropped_since => true,
        "create_replica" => cluster
            .and_then(|c| c.replica(&row.replica))
            .is_some_and(|r| {
                row.size
                    .as_deref()
                    .is_none_or(|s| r.size.as_ref().is_none_or(|have| have.0 == s))
            }),
        "drop_replica" if row.dropped_since => false,
        // Its cluster gone (dropped, perhaps after a blue/green swap) says
        // nothing of the DROP, which names a cluster: it may still land on
        // the one bearing that name now. Taken for run, it was settled and
        // that cluster held by nothing: the next run dropped its other
        // replica and the late DROP emptied it (an outside re-check).
        "drop_replica" => cluster.is_some_and(|c| c.replica(&row.replica).is_none()),
        // At that size, or on its way to it: a reconfiguration in flight
        // to it is the statement's (settled as not run while it ran, its
        // rollback was sent again at once, with no backoff nor alert: an
        // outside check).
        "set_size" => cluster.is_some_and(|c| {
            let wanted = |s: Option<&crate::model::Size>| {
                row.size.is_some() && s.map(|s| s.0.as_str()) == row.size.as_deref()
            };
            wanted(c.size.as_ref())
                || super::rules::replicas_cutting_over(c).any(|r| wanted(r.size.as_ref()))
        }),
        "set_replication_factor" => cluster.is_some_and(|c| {
            row.replication_factor.is_some() && c.replication_factor == row.replication_factor
        }),
        _ => false,
    }
}

/// The action kind an audit row names (`decision_ctx->>'kind'`).
pub fn kind_of(kind: &str) -> ActionKind {
    match kind {
        "drop_replica" => ActionKind::DropReplica,
        "set_size" => ActionKind::SetSize,
        "set_replication_factor" => ActionKind::SetReplicationFactor,
        _ => ActionKind::CreateReplica,
    }
}

/// Holds back, while a DROP its run gave up on may still land
/// ([`LateDrop`]): the drops of the cluster's other replicas while that
/// replica is there (it may still go: the cluster could be left with
/// none), and a create of a replica under its name (the late DROP would
/// drop that one). Each becomes pending work with the reason; the cluster
/// is in doubt (`status` says so).
pub(super) fn hold_for_late_drops(
    cp: &mut super::ClusterPlan,
    late: &[LateDrop],
    cluster: &crate::model::Cluster,
    now: DateTime<Utc>,
) {
    let named: Vec<&str> = late.iter().map(|l| l.replica.as_str()).collect();
    let still_there = named.iter().any(|n| cluster.replica(n).is_some());
    // Statements wait on a cluster with nothing hydrated (a wake): its
    // replica is made now, name and all. A late DROP that lands after it
    // costs one outage more, which the next run ends; held back, it was a
    // sure outage of the whole window, 16 minutes for every user after any
    // suspension whose DROP needed a retry (an outside check).
    let users_wait = cluster.demand_waiting();
    let held_back = |a: &super::Action| match a.kind {
        ActionKind::DropReplica => still_there && !named.contains(&a.replica.as_str()),
        ActionKind::CreateReplica => !users_wait && named.contains(&a.replica.as_str()),
        _ => false,
    };
    if users_wait {
        for a in cp
            .actions
            .iter()
            .filter(|a| a.kind == ActionKind::CreateReplica && named.contains(&a.replica.as_str()))
        {
            cp.notes.push(format!(
                "{} is made now though a DROP of that name that got no answer in time may \
                 still reach the server (statements wait on the cluster): should it land, the \
                 cluster is left without it until the next run makes it again (idle_suspend \
                 wakes it again while users want it; a strategy that sizes the cluster makes \
                 its replica again)",
                crate::ddl::ident(&a.replica)
            ));
        }
    }
    let (held, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut cp.actions)
        .into_iter()
        .partition(held_back);
    cp.actions = kept;
    // The late DROP that holds each action: a create, the one of its name;
    // a drop, the latest of those whose replica is still there (the reason
    // named the latest of all, another replica's, with its time).
    let holder = |a: &super::Action| -> Option<&LateDrop> {
        late.iter()
            .filter(|l| match a.kind {
                ActionKind::CreateReplica => l.replica == a.replica,
                _ => cluster.replica(&l.replica).is_some(),
            })
            .max_by_key(|l| l.until)
    };
    let Some(until) = held.iter().filter_map(holder).map(|l| l.until).max() else {
        cp.actions.extend(held);
        return;
    };
    let why = |a: &super::Action| {
        let Some(l) = holder(a) else {
            return String::new();
        };
        let sent = l
            .sent
            .map(|t| {
                format!(
                    " sent at {}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            })
            .unwrap_or_default();
        let until = l.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let dropped = crate::ddl::ident(&l.replica);
        match a.kind {
            ActionKind::CreateReplica => format!(
                "a DROP of {dropped}{sent} that got no answer in time may still reach the \
                 server until {until} (a network can deliver it late): a replica made under that \
                 name before would be dropped by it"
            ),
            _ => format!(
                "a DROP of {dropped}{sent} that got no answer in time may still reach the \
                 server until {until} (a network can deliver it late): no other replica is \
                 dropped before, or the cluster could be left with none"
            ),
        }
    };
    let reason = held.last().map(&why).unwrap_or_default();
    let doubt = InDoubt { reason, until };
    wait_out(cp, held, doubt, why, now);
}

/// Holds a planned cluster's actions back: each becomes pending work with
/// the reason, and the cluster's new state is not written (it assumed the
/// actions ran).
pub(super) fn hold(cp: &mut super::ClusterPlan, doubt: &InDoubt, now: DateTime<Utc>) {
    let held = std::mem::take(&mut cp.actions);
    wait_out(cp, held, doubt.clone(), |_| doubt.reason.clone(), now);
}

/// Makes `held` pending work until `doubt.until`, each with its reason
/// (`reason_of`, [`super::ClusterPlan::hold_back`]), and the cluster in
/// doubt (`status` says so). The one rule of [`hold`] and
/// [`hold_for_late_drops`].
fn wait_out(
    cp: &mut super::ClusterPlan,
    held: Vec<super::Action>,
    doubt: InDoubt,
    reason_of: impl Fn(&super::Action) -> String,
    now: DateTime<Utc>,
) {
    cp.hold_back(held, reason_of, doubt.until, now, false);
    cp.in_doubt = Some(Box::new(doubt));
}
