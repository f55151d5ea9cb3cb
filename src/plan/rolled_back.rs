//! A managed cluster's resize that did not take: the audit trail says the
//! controller sent `SET (SIZE = X)` and it ran, yet the cluster is not of
//! size X and no reconfiguration is in flight. On a release that resizes in
//! the background, Materialize rolled it back at its deadline (the target
//! never hydrated: OOM-killed, or slower than the deadline), or someone
//! changed the size back. Sending it again at once would repeat the same
//! attempt every deadline, each running a second set of replicas for
//! nothing: it is held back for a backoff and an alert says why. This module
//! owns that judgement only; it reads no clock and sends nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Action, ActionKind, ClusterPlan, PlanOptions};
use crate::model::{Cluster, LastResize, Size, Snapshot};
use crate::strategy::Deferred;

/// The shortest wait before a resize that did not take is sent again: the
/// causes (a size short of memory, hydration slower than the deadline)
/// rarely change within the hour.
pub const MIN_BACKOFF: Duration = Duration::from_secs(3600);

/// Key of the controller's state slot that remembers when a plan first saw
/// a resize had not taken (the backoff counts from then).
pub const STATE_KEY: &str = "resize_not_taken";

/// A resize to `size`, sent at `sent_at`, that did not take, and the
/// strategies want that size again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolledBack {
    pub size: Size,
    pub sent_at: DateTime<Utc>,
    /// When a plan first saw it had not taken (as `apply` recorded it).
    pub seen_at: DateTime<Utc>,
    /// Not sent again before then.
    pub retry_at: DateTime<Utc>,
    /// Held back by this plan (false: the backoff is over, it is sent once
    /// more).
    pub held: bool,
    pub reason: String,
}

/// The cluster's newest executed resize, when the cluster does not have
/// its size. The caller has checked no reconfiguration is in flight.
pub fn not_taken<'a>(snap: &'a Snapshot, cluster: &Cluster) -> Option<&'a LastResize> {
    if !cluster.managed {
        return None;
    }
    snap.last_resizes
        .get(&cluster.id)
        .filter(|last| cluster.size.as_ref() != Some(&last.size))
}

/// When a plan first saw `last` had not taken: the controller's record of
/// it (the same resize: size and time), else `now`.
pub fn first_seen(
    state: &serde_json::Value,
    last: &LastResize,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let record = state
        .get(super::CONTROLLER_SLOT)
        .and_then(|c| c.get(STATE_KEY));
    let text = |k: &str| record.and_then(|r| r.get(k)).and_then(|v| v.as_str());
    let time = |k: &str| {
        text(k)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    match (text("size"), time("sent_at"), time("seen_at")) {
        (Some(size), Some(sent), Some(seen)) if size == last.size.0 && sent == last.at => {
            seen.min(now)
        }
        _ => now,
    }
}

/// The record [`first_seen`] reads, for the controller's state slot.
pub fn record(last: &LastResize, seen_at: DateTime<Utc>) -> serde_json::Value {
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({ "size": last.size.0, "sent_at": ts(last.at), "seen_at": ts(seen_at) })
}

/// When the resize may be sent again: after as long as the failed attempt
/// ran (so the extra replicas run at most half the time), and at least
/// `--resize-timeout` and [`MIN_BACKOFF`], from when it was seen over.
pub fn retry_at(
    last: &LastResize,
    seen_at: DateTime<Utc>,
    resize_timeout: Duration,
) -> DateTime<Utc> {
    let ran = (seen_at - last.at).max(chrono::Duration::zero());
    let floor = chrono::Duration::from_std(resize_timeout.max(MIN_BACKOFF))
        .unwrap_or(chrono::Duration::hours(1));
    seen_at + ran.max(floor)
}

/// Holds back a resize to the size that did not take until its backoff
/// is over (with what follows it: a replication factor planned for the
/// new size), or lets it go once more after it; either way alerts. Returns
/// whether anything was held back.
pub(super) fn judge(
    snap: &Snapshot,
    opts: &PlanOptions,
    cluster: &Cluster,
    last: &LastResize,
    seen_at: DateTime<Utc>,
    actions: &mut Vec<Action>,
    cp: &mut ClusterPlan,
) -> bool {
    let Some(at) = actions
        .iter()
        .position(|a| a.kind == ActionKind::SetSize && a.size.as_ref() == Some(&last.size))
    else {
        return false;
    };
    let retry_at = retry_at(last, seen_at, opts.resize_timeout);
    let held = snap.now < retry_at;
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let size = &last.size.0;
    let factor = cluster.replication_factor.unwrap_or(1).max(1);
    let credits = factor as f64 * snap.sizes.credits(&last.size);
    let did_not_take = format!(
        "the resize to {size} sent at {} did not take: Materialize rolled it back at its \
         deadline (the new replicas never hydrated) or someone changed the size back",
        secs(last.at)
    );
    let next = if held {
        format!("held back until {}", secs(retry_at))
    } else {
        "sent once more after the backoff".to_string()
    };
    cp.alerts.push(format!(
        "{did_not_take}; each attempt runs {factor} replica{} of {size} ({} credits/h) beside \
         the current ones until its deadline, for nothing; {next}. Check that {size} has the \
         memory for this cluster (a target too small is OOM-killed while hydrating), give the \
         resize more time (Materialize's default_cluster_reconfiguration_timeout; \
         --resize-timeout on blocking releases), or choose another size",
        if factor == 1 { "" } else { "s" },
        super::region::credits_text(credits),
    ));
    let reason = format!("{did_not_take}; {next}");
    if held {
        let in_seconds = (retry_at - snap.now).num_seconds().max(0) as u64;
        for action in actions.split_off(at) {
            let what = match action.kind {
                ActionKind::SetSize => format!("resize to {size}"),
                _ => format!("{} (after the resize to {size})", action.kind.verb()),
            };
            cp.waiting.push(Deferred {
                strategy: None,
                action: what,
                reason: reason.clone(),
                in_seconds: Some(in_seconds),
                limit: false,
            });
        }
    } else if let Some(a) = actions.get_mut(at) {
        a.reasons.push(format!(
            "the previous resize to {size} (sent at {}) did not take; sent once more after the backoff",
            secs(last.at)
        ));
    }
    cp.rolled_back = Some(Box::new(RolledBack {
        size: last.size.clone(),
        sent_at: last.at,
        seen_at,
        retry_at,
        held,
        reason,
    }));
    held
}
