//! A statement the server refuses every time (a region's credit limit the
//! plan cannot see, a size or a setting it does not allow) is not sent
//! again on every run: each refusal in a row doubles the wait before the
//! next attempt, up to [`MAX_BACKOFF`], and an alert says what is refused
//! and why. One attempt more comes at once: a refusal once is often a
//! passing cause. Refusals count for an hour; the count starts over when
//! the statement runs, and the plan asks for another statement (each
//! counts on its own: a burst refused every run is held back while the
//! wake beside it runs), and a refused statement is sent at once when the
//! cluster's strategy rows are edited after its last refusal (an operator
//! who fixed the config is not kept waiting). This module owns that
//! judgement only; it reads no clock and sends nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ClusterPlan;
use crate::model::Refusal;

/// The longest wait between attempts of a statement refused every time:
/// a cause an operator removes (a credit limit raised) is retried within
/// it.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// How long after its `count`-th refusal in a row a statement waits: none
/// after the first, then two minutes, doubled for each refusal more, up to
/// [`MAX_BACKOFF`].
pub fn backoff(count: u32) -> Duration {
    match count {
        0 | 1 => Duration::ZERO,
        n => Duration::from_secs(60)
            .saturating_mul(1 << (n - 1).min(16))
            .min(MAX_BACKOFF),
    }
}

/// When `refusal`'s statement may be sent again.
pub fn retry_at(refusal: &Refusal) -> DateTime<Utc> {
    refusal.last_at + chrono::Duration::from_std(backoff(refusal.count)).unwrap_or_default()
}

/// Holds an action back when it is a statement refused in a row whose
/// wait is not over, and the cluster's rows were not edited since
/// (`rows_edited`, their newest `updated_at`), with the actions that do
/// not go on after a failed one ([`super::Action::goes_on_after`]: another
/// replica's creation does), until the wait is over
/// ([`super::ClusterPlan::hold_back`]); an alert says what was refused,
/// how often, and with what error.
pub(super) fn hold(
    cp: &mut ClusterPlan,
    refusals: &[Refusal],
    rows_edited: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let due = |r: &&Refusal| now < retry_at(r) && rows_edited.is_none_or(|t| t <= r.last_at);
    let Some((at, refused)) = cp.actions.iter().enumerate().find_map(|(i, a)| {
        refusals
            .iter()
            .filter(due)
            .find(|r| r.action == a.refused_as())
            .map(|r| (i, r))
    }) else {
        return;
    };
    let until = retry_at(refused);
    let secs = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let error = refused.error.as_deref().unwrap_or("no error recorded");
    let reason = format!(
        "refused {} times in a row, the last at {} ({error}); sent again at {}",
        refused.count,
        secs(refused.last_at),
        secs(until),
    );
    let first = cp.actions[at].clone();
    let (held, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut cp.actions)
        .into_iter()
        .enumerate()
        .partition(|(i, a)| *i == at || (*i > at && !a.goes_on_after(&first)));
    cp.actions = kept.into_iter().map(|(_, a)| a).collect();
    let held = held.into_iter().map(|(_, a)| a).collect();
    cp.hold_back(held, |_| reason.clone(), until, now, true);
    cp.alerts.push(format!(
        "`{}` was {reason}: each refusal doubles the wait, up to {} min; remove the cause \
         (a credit limit, a size or setting the region does not allow) or change what the \
         strategies ask for (an edit of the cluster's strategy rows sends it at once)",
        refused.sql,
        MAX_BACKOFF.as_secs() / 60,
    ));
}

/// How long a refusal counts: the snapshot reads those of the last hour
/// (a streak of the morning does not hold the evening's wake; at
/// [`MAX_BACKOFF`] an hour holds four).
pub const WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// What the audit trail's refusals become after `action` ended at `at`
/// (`error`: refused with it; `None`: executed), as the live snapshot
/// reads them from the trail: the simulator keeps them so.
pub fn record(
    refusals: &mut std::collections::BTreeMap<crate::model::ClusterId, Vec<Refusal>>,
    action: &super::Action,
    error: Option<&str>,
    at: DateTime<Utc>,
) {
    let cluster = &action.cluster_id;
    let what = action.refused_as();
    let list = refusals.entry(cluster.clone()).or_default();
    list.retain(|r| r.last_at > at - WINDOW);
    let Some(error) = error else {
        list.retain(|r| r.action != what);
        if list.is_empty() {
            refusals.remove(cluster);
        }
        return;
    };
    match list.iter_mut().find(|r| r.action == what) {
        Some(r) => {
            r.count = r.count.saturating_add(1);
            r.last_at = at;
            r.sql.clone_from(&action.sql);
            r.error = Some(error.to_string());
        }
        None => list.push(Refusal {
            sql: action.sql.clone(),
            action: what,
            count: 1,
            last_at: at,
            error: Some(error.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_the_second_refusal_up_to_the_cap() {
        let mins = |n| backoff(n).as_secs() / 60;
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 40].map(mins),
            [0, 0, 2, 4, 8, 15, 15],
            "none after one refusal, then 2, 4, 8 minutes, capped at 15"
        );
    }

    /// The simulator's bookkeeping counts as the trail is read: refusals
    /// of one action in a row, one count per action (told by what it
    /// does: the same resize with another timeout is the same), forgotten
    /// when that action runs, and none older than an hour.
    #[test]
    fn refusals_count_in_a_row_per_action_until_it_runs() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let min = chrono::Duration::minutes;
        let c = crate::model::ClusterId("u1".into());
        let action = |replica: &str, sql: &str| super::super::Action {
            kind: super::super::ActionKind::CreateReplica,
            cluster_id: c.clone(),
            cluster: "c".into(),
            replica: replica.into(),
            size: Some(crate::model::Size("25cc".into())),
            replication_factor: None,
            resize: None,
            sql: sql.into(),
            strategy: crate::strategy::StrategyKind::TargetSize,
            reasons: Vec::new(),
        };
        let (a, b, other) = (action("a", "A"), action("b", "B"), action("c", "C"));
        let mut r = std::collections::BTreeMap::new();
        let counts = |r: &std::collections::BTreeMap<_, Vec<Refusal>>| -> Vec<(String, u32)> {
            r.get(&c)
                .map(|l: &Vec<Refusal>| l.iter().map(|x| (x.sql.clone(), x.count)).collect())
                .unwrap_or_default()
        };
        record(&mut r, &a, Some("no"), t0);
        // The same action whatever its text: counted together, its last
        // text kept.
        record(&mut r, &action("a", "A'"), Some("no"), t0 + min(1));
        record(&mut r, &b, Some("no"), t0 + min(2));
        // Another action that runs forgets neither.
        record(&mut r, &other, None, t0 + min(2));
        assert_eq!(counts(&r), [("A'".into(), 2), ("B".into(), 1)]);
        assert_eq!(r[&c][0].last_at, t0 + min(1), "the newest refusal's time");
        // B runs: forgotten, A still counts.
        record(&mut r, &b, None, t0 + min(3));
        assert_eq!(counts(&r), [("A'".into(), 2)]);
        // An hour later the old refusals no longer count.
        record(&mut r, &b, Some("no"), t0 + min(62));
        assert_eq!(counts(&r), [("B".into(), 1)]);
        record(&mut r, &b, None, t0 + min(63));
        assert!(r.is_empty(), "{r:?}");
    }
}
