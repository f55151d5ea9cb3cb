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

/// The longest wait between attempts of a resize that keeps not taking.
pub const MAX_BACKOFF: Duration = Duration::from_secs(7 * 24 * 3600);

/// What Materialize says of a `WAIT UNTIL READY` resize whose new replicas
/// were not ready by its timeout (57014; it rolled back): such a failed
/// resize did not take either.
pub const RESIZE_TIMED_OUT: &str = "provided timeout lapsed";

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
    /// Resizes to this size in a row that did not take, this one included.
    pub attempts: u32,
    /// Not sent again before then.
    pub retry_at: DateTime<Utc>,
    /// Held back by this plan (false: the backoff is over, it is sent once
    /// more).
    pub held: bool,
    pub reason: String,
}

/// Key of the controller's state slot that remembers the newest resize a
/// plan saw the cluster at (it took): a size changed by hand after it is
/// no resize that did not take ([`not_taken`]).
pub const TOOK_KEY: &str = "resize_took";

/// The cluster's newest executed resize, when the cluster does not have
/// its size and no plan saw it take ([`took`]): a size changed by hand
/// after a resize that took was called a rollback, with advice about
/// memory and an hour's hold (an outside check). The caller has checked
/// no reconfiguration is in flight.
pub fn not_taken<'a>(
    snap: &'a Snapshot,
    cluster: &Cluster,
    state: &serde_json::Value,
) -> Option<&'a LastResize> {
    if !cluster.managed {
        return None;
    }
    snap.last_resizes
        .get(&cluster.id)
        .filter(|last| cluster.size.as_ref() != Some(&last.size) && !took(state, last))
}

/// The controller's record that a plan saw `last` take, for its state
/// slot, when the cluster has that size or the record says so already;
/// [`not_taken`] reads it.
pub fn took_record(
    snap: &Snapshot,
    cluster: &Cluster,
    state: &serde_json::Value,
) -> Option<serde_json::Value> {
    let last = snap
        .last_resizes
        .get(&cluster.id)
        .filter(|_| cluster.managed)?;
    (cluster.size.as_ref() == Some(&last.size) || took(state, last)).then(|| {
        serde_json::json!({
            "size": last.size.0,
            "sent_at": last.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
    })
}

/// Whether the controller's record says a plan saw `last` take (times to
/// the millisecond, as [`seen`] compares them).
fn took(state: &serde_json::Value, last: &LastResize) -> bool {
    let Some(record) = state
        .get(super::CONTROLLER_SLOT)
        .and_then(|c| c.get(TOOK_KEY))
    else {
        return false;
    };
    let sent = time_at(record, "sent_at");
    record.get("size").and_then(serde_json::Value::as_str) == Some(last.size.0.as_str())
        && sent.is_some_and(|t| t.timestamp_millis() == last.at.timestamp_millis())
}

/// How a plan sees `last`, a resize that did not take, from the
/// controller's record of earlier plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// When a plan first saw it had not taken (the backoff counts from
    /// then).
    pub at: DateTime<Utc>,
    /// How many resizes to this size in a row did not take, this one
    /// included: each doubles the backoff.
    pub attempts: u32,
    /// `at` is what the controller recorded, not this plan's first sight:
    /// until `apply` records it, each plan sees it first (the backoff's end
    /// moved with every `status`: it is said "at least until" then).
    pub recorded: bool,
}

/// The controller's record of a resize that did not take, read back
/// ([`record`] writes it).
struct Stored {
    size: String,
    sent_at: DateTime<Utc>,
    seen_at: DateTime<Utc>,
    attempts: u32,
}

/// A time a record of the controller's slot keeps under `key`.
fn time_at(record: &serde_json::Value, key: &str) -> Option<DateTime<Utc>> {
    crate::model::utc_time(record.get(key)?.as_str()?)
}

fn stored(state: &serde_json::Value) -> Option<Stored> {
    let record = state.get(super::CONTROLLER_SLOT)?.get(STATE_KEY)?;
    let time = |k: &str| time_at(record, k);
    Some(Stored {
        size: record.get("size")?.as_str()?.to_string(),
        sent_at: time("sent_at")?,
        seen_at: time("seen_at")?,
        // Records written before attempts were counted: the first.
        attempts: record
            .get("attempts")
            .and_then(serde_json::Value::as_u64)
            .map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX).max(1)),
    })
}

/// When a plan first saw `last` had not taken, and how many attempts in a
/// row that makes: the controller's record of the same resize (size and
/// time) as it is; of an earlier resize to the same size that did not take
/// either (it was sent once more after its backoff, and failed again), one
/// attempt more, seen `now`; else the first attempt, seen `now`.
///
/// Times compare to the millisecond: the record keeps milliseconds, the
/// trail's `created_at` microseconds, and the same resize read back must
/// not count as one more attempt each run.
pub fn seen(state: &serde_json::Value, last: &LastResize, now: DateTime<Utc>) -> Seen {
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    match stored(state) {
        Some(s) if s.size == last.size.0 && ms(s.sent_at) == ms(last.at) => Seen {
            at: s.seen_at.min(now),
            attempts: s.attempts,
            recorded: true,
        },
        Some(s) if s.size == last.size.0 && ms(s.sent_at) < ms(last.at) => Seen {
            at: now,
            attempts: s.attempts.saturating_add(1),
            recorded: false,
        },
        _ => Seen {
            at: now,
            attempts: 1,
            recorded: false,
        },
    }
}

/// The record [`seen`] reads, for the controller's state slot.
pub fn record(last: &LastResize, seen: Seen) -> serde_json::Value {
    let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({
        "size": last.size.0,
        "sent_at": ts(last.at),
        "seen_at": ts(seen.at),
        "attempts": seen.attempts,
    })
}

/// The stored record, kept as it is while a resize is in flight: the
/// attempt under way may not take either, and then counts as one more.
pub fn kept(state: &serde_json::Value) -> Option<serde_json::Value> {
    stored(state)?;
    state.get(super::CONTROLLER_SLOT)?.get(STATE_KEY).cloned()
}

/// The stored record that a resize took, kept as it is while another
/// resize is in flight.
pub fn took_kept(state: &serde_json::Value) -> Option<serde_json::Value> {
    state.get(super::CONTROLLER_SLOT)?.get(TOOK_KEY).cloned()
}

/// When the resize may be sent again: after as long as the failed attempt
/// ran (so the extra replicas run at most half the time), and at least
/// `--resize-timeout` and [`MIN_BACKOFF`], from when it was seen over;
/// doubled for each earlier attempt in a row that did not take either, up
/// to [`MAX_BACKOFF`] (a size that never takes costs a few hours a week,
/// not half of every day).
pub fn retry_at(last: &LastResize, seen: Seen, resize_timeout: Duration) -> DateTime<Utc> {
    let ran = (seen.at - last.at).max(chrono::Duration::zero());
    let floor = chrono::Duration::from_std(resize_timeout.max(MIN_BACKOFF))
        .unwrap_or(chrono::Duration::hours(1));
    let max = chrono::Duration::from_std(MAX_BACKOFF).unwrap_or(chrono::Duration::days(7));
    let base = ran.max(floor);
    // Never shorter than the attempt ran, even past the cap.
    let cap = max.max(base);
    let doublings = seen.attempts.saturating_sub(1).min(20);
    let grown = base.checked_mul(1 << doublings).unwrap_or(cap);
    seen.at + grown.min(cap)
}

/// A wake at the size the cluster has, the resize it was planned with held
/// back: as many replicas as the strategies want at their size, but no
/// more than their credits buy at this one (at least one). Three replicas
/// wanted of 50cc woke three of the 200cc the cluster still had, four times
/// the spend (an outside check). The action is rewritten; the reason says
/// so. Nothing when the credits are not known (`--replica-sizes`).
fn wake_within_spend(
    snap: &Snapshot,
    cluster: &Cluster,
    wanted_size: &Size,
    action: &mut Action,
) -> Option<String> {
    let have = cluster.size.as_ref()?;
    let wanted = action.replication_factor?;
    let (per_have, per_wanted) = (snap.sizes.credits(have), snap.sizes.credits(wanted_size));
    if !snap.sizes.credits_known() || per_have <= 0.0 || per_wanted <= 0.0 {
        return None;
    }
    let affordable = (wanted as f64 * per_wanted / per_have).floor() as i64;
    let n = affordable.clamp(1, wanted);
    if n >= wanted {
        return None;
    }
    action.replication_factor = Some(n);
    action.sql = crate::ddl::set_replication_factor(&cluster.name, n);
    Some(format!(
        "{n} replica{} of {have}, not {wanted}: {wanted} of {wanted_size} cost {} credits/h, \
         and a wake at the size it has costs no more (at least one replica)",
        crate::model::plural(n as usize),
        super::region::credits_text(wanted as f64 * per_wanted),
    ))
}

/// A managed cluster's last resize that did not take, as [`judge`] weighs
/// it: when a plan first saw it so ([`Seen`]), and whether a
/// `target_size` row still asks for that size (`asked`).
pub(super) struct NotTaken<'a> {
    pub last: &'a LastResize,
    pub seen: Seen,
    pub asked: bool,
}

/// Holds back a resize to the size that did not take until its backoff
/// is over (with what follows it: a replication factor planned for the
/// new size, but not a wake), or lets it go once more after it; either way
/// alerts. Returns whether the strategies' decisions are moot: held back,
/// with no wake going.
pub(super) fn judge(
    snap: &Snapshot,
    opts: &PlanOptions,
    cluster: &Cluster,
    not_taken: NotTaken<'_>,
    actions: &mut Vec<Action>,
    cp: &mut ClusterPlan,
) -> bool {
    let NotTaken { last, seen, asked } = not_taken;
    // Nothing runs (a suspended cluster woken now): sent to it, a size that
    // did not take leaves nothing serving (the resize takes at once, with
    // no old replica to roll back to: an outside check). It waits for the
    // cluster to serve at the size it has, then goes gracefully.
    let asleep = cluster.replication_factor == Some(0) || cluster.replicas.is_empty();
    let at = actions
        .iter()
        .position(|a| a.kind == ActionKind::SetSize && a.size.as_ref() == Some(&last.size));
    // Held suspended, nothing is planned for it; a `target_size` row that
    // (`asked`) still wants that size keeps it said (the cluster read
    // `Suspended`, converged, with no word of it: an outside check).
    if at.is_none() && !(asleep && asked) {
        return false;
    }
    let retry_at = retry_at(last, seen, opts.resize_timeout);
    let backoff_over = snap.now >= retry_at;
    let held = !backoff_over || asleep;
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let size = &last.size.0;
    // What an attempt would run: at the factor planned beside it (a wake
    // of a suspended cluster brings back 2: the alert said 1), else the
    // cluster's.
    let planned = actions
        .iter()
        .filter(|a| a.kind == ActionKind::SetReplicationFactor)
        .filter_map(|a| a.replication_factor)
        .max();
    let factor = planned.or(cluster.replication_factor).unwrap_or(1).max(1);
    let credits = factor as f64 * snap.sizes.credits(&last.size);
    let in_a_row = match seen.attempts {
        1 => String::new(),
        n => format!(" ({n} attempts in a row; each doubles the backoff)"),
    };
    let did_not_take = match &last.failed {
        // A blocking resize (`WAIT UNTIL READY`) that timed out rolled back
        // too, its statement failing.
        Some(error) => format!(
            "the resize to {size} sent at {} failed{in_a_row} ({}): on a release that resizes \
             with WAIT UNTIL READY, the new replicas were not ready by --resize-timeout and \
             Materialize rolled it back",
            secs(last.at),
            match error.is_empty() {
                true => "no error recorded",
                false => error.as_str(),
            }
        ),
        None => format!(
            "the resize to {size} sent at {} did not take{in_a_row}: Materialize rolled it back \
             at its deadline (the new replicas never hydrated) or someone changed the size back",
            secs(last.at)
        ),
    };
    let next = if !backoff_over && seen.recorded {
        format!("held back until {}", secs(retry_at))
    } else if !backoff_over {
        format!(
            "held back at least until {} (the backoff counts from the first `apply` that sees \
             it)",
            secs(retry_at)
        )
    } else if held {
        "sent once more after the backoff, once the cluster runs replicas at the size it has \
         (nothing else would serve if it does not take)"
            .to_string()
    } else {
        "sent once more after the backoff".to_string()
    };
    // Made-up credits (`--replica-sizes`) are not shown as a price.
    let price = match snap.sizes.credits_known() {
        true => format!(" ({} credits/h)", super::region::credits_text(credits)),
        false => String::new(),
    };
    cp.alerts.push(format!(
        "{did_not_take}; each attempt runs {factor} replica{} of {size}{price} beside \
         the current ones until its deadline, for nothing; {next}. Check that {size} has the \
         memory for this cluster (a target too small is OOM-killed while hydrating), give the \
         resize more time (Materialize's default_cluster_reconfiguration_timeout; \
         --resize-timeout on blocking releases), or choose another size",
        crate::model::plural(factor),
    ));
    let reason = format!("{did_not_take}; {next}");
    // Not planned (held suspended): the strategies' decisions stand.
    let mut moot = held && at.is_some();
    if held {
        // Due when the cluster serves, once the backoff is over.
        let in_seconds = (!backoff_over).then(|| (retry_at - snap.now).num_seconds().max(0) as u64);
        // A wake (the factor up from 0) is not held with the resize: users
        // of a suspended cluster waited out the backoff, an hour to a week
        // (an outside check). It wakes at the size it has.
        let mut woken = Vec::new();
        let held_back = at.map(|at| actions.split_off(at)).unwrap_or_default();
        for mut action in held_back {
            let wake = asleep
                && action.kind == ActionKind::SetReplicationFactor
                && action.replication_factor.is_some_and(|n| n > 0);
            if wake {
                action.reasons.push(format!(
                    "at the size it has ({}): the resize to {size} waits ({next})",
                    cluster.size.as_ref().map_or("unknown", |s| s.0.as_str())
                ));
                if let Some(why) = wake_within_spend(snap, cluster, &last.size, &mut action) {
                    action.reasons.push(why);
                }
                woken.push(action);
                continue;
            }
            let what = match action.kind {
                ActionKind::SetSize => format!("resize to {size}"),
                _ => format!("{} (after the resize to {size})", action.kind.verb()),
            };
            cp.waiting.push(Deferred {
                strategy: None,
                action: what,
                reason: reason.clone(),
                in_seconds,
                limit: false,
                refused: false,
            });
        }
        // The wake ran: the strategies' decisions are not moot (their
        // state records it), only the resize's.
        moot = woken.is_empty() && at.is_some();
        actions.extend(woken);
    } else if let Some(a) = at.and_then(|at| actions.get_mut(at)) {
        a.reasons.push(format!(
            "the previous resize to {size} (sent at {}) did not take; sent once more after the backoff",
            secs(last.at)
        ));
    }
    cp.rolled_back = Some(Box::new(RolledBack {
        size: last.size.clone(),
        sent_at: last.at,
        seen_at: seen.at,
        attempts: seen.attempts,
        retry_at,
        held,
        reason,
    }));
    moot
}
