//! `history`: the audit trail as a table (time, cluster, result, action,
//! why): actions with their strategy and reasons, strategy changes with
//! who and before → after, broken leases with whose lease, wiped state with
//! whose and by whom; a hint when more entries exist than shown; and its
//! JSON document.

use std::fmt::Write;

use super::plural;
use super::table::{self, Cell, Tone};
use super::{body_of, TextStyle, View};
use crate::commands::admin::WIPE_KIND;
use crate::commands::history::{HistoryEntry, HistoryReport, StateWipe};
use crate::db::store::ActionResult;

fn compact(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "none".into(),
        other => other.to_string(),
    }
}

/// What the entry did, in a few words.
pub fn action_of(e: &HistoryEntry) -> String {
    if let Some(c) = &e.change {
        let verb = e
            .kind
            .as_deref()
            .unwrap_or("strategy_change")
            .replace('_', " ");
        if let Some(to) = &c.moved_to {
            return format!("{verb} to {}", moved_cluster(to));
        }
        if let Some(from) = &c.moved_from {
            return format!("{verb} from {}", moved_cluster(from));
        }
        return match c.strategy_type.as_deref() {
            Some(t) if t != crate::model::PAUSE => format!("{verb} {t}"),
            _ => verb,
        };
    }
    match (e.kind.as_deref(), &e.replica) {
        (Some("unlock"), _) => "unlock --force".into(),
        (Some(WIPE_KIND), _) => "wipe-state".into(),
        (Some(crate::commands::reconcile::PRUNE_KIND), _) => "prune the audit trail".into(),
        (Some(k), Some(r)) => {
            let verb = k.strip_suffix("_replica").unwrap_or(k);
            let r = match &e.renamed_to {
                Some(to) => format!("{r} to {to}"),
                None => r.clone(),
            };
            match &e.size {
                Some(s) => format!("{verb} {r} ({s})"),
                None => format!("{verb} {r}"),
            }
        }
        // A managed cluster's resize names its size (it said "set size"),
        // and a replication factor its value (a suspension and a wake
        // read alike).
        (Some(k), None) => match (&e.size, e.replication_factor) {
            (Some(s), _) => format!("{} {s}", k.replace('_', " ")),
            (None, Some(rf)) => format!("{} {rf}", k.replace('_', " ")),
            (None, None) => k.replace('_', " "),
        },
        _ => e.sql.clone(),
    }
}

/// The other cluster of a `strategy mv` row: `analytics (u5)`, or its id
/// alone when it had no name (dropped).
fn moved_cluster(v: &serde_json::Value) -> String {
    let id = v.get("cluster_id").and_then(|v| v.as_str()).unwrap_or("?");
    let id = crate::model::printable(id);
    match v.get("cluster").and_then(|v| v.as_str()) {
        Some(name) => format!("{} ({id})", crate::model::printable(name)),
        None => id.to_string(),
    }
}

/// Why (or, for an operator's change, who and before → after).
pub fn why_of(e: &HistoryEntry) -> String {
    if let Some(c) = &e.change {
        let by = who(&c.by);
        return format!("{} → {} (by {by})", compact(&c.before), compact(&c.after));
    }
    if let Some(holder) = &e.previous_holder {
        return match &e.broken_by {
            Some(by) => format!("broke the lease held by {holder} (by {})", who(by)),
            None => format!("broke the lease held by {holder}"),
        };
    }
    if let Some(w) = &e.wiped {
        return wipe_why(w);
    }
    let mut why = match &e.strategy {
        Some(s) => format!("{s}: {}", e.reasons.join("; ")),
        None => e.reasons.join("; "),
    };
    // An action that ran carries a note, not an error: a later run's
    // settlement ("its outcome was never recorded …; found it applied")
    // read as a failure (an outside check).
    for (label, text) in [("error", &e.error), ("note", &e.note)] {
        if let Some(text) = text {
            if !why.is_empty() {
                why.push_str("; ");
            }
            let _ = write!(why, "{label}: {text}");
        }
    }
    why
}

/// Who ran an operator's command, from its audit row's `by`: the user, or
/// the text itself (a lease holder's id, in `unlock` rows written before
/// they said who).
fn who(by: &serde_json::Value) -> &str {
    by.get("user")
        .and_then(|u| u.as_str())
        .or(by.as_str())
        .unwrap_or("unknown")
}

/// Clusters a wipe names in the table; the JSON document has them all.
const WIPED_SHOWN: usize = 5;

/// `deleted 3 state rows of a, b (by alice@host)`.
fn wipe_why(w: &StateWipe) -> String {
    let of = match &w.clusters {
        None => "all clusters".to_string(),
        Some(list) => {
            let mut names: Vec<String> = list
                .iter()
                .take(WIPED_SHOWN)
                .map(|c| {
                    // As an audit line names a cluster (` a` is not `a`,
                    // `a,b` is one): quoted for a shell, else by its id.
                    c.name
                        .as_deref()
                        .and_then(crate::model::shell_arg)
                        .unwrap_or_else(|| c.id.0.clone())
                })
                .collect();
            if list.len() > WIPED_SHOWN {
                names.push(format!("{} more", list.len() - WIPED_SHOWN));
            }
            names.join(", ")
        }
    };
    let (at_least, lost) = match w.retried {
        true => ("at least ", format!("; {}", super::LOST_ANSWER)),
        false => ("", String::new()),
    };
    format!(
        "deleted {at_least}{} state row{} of {of} (by {}{lost})",
        w.rows_deleted,
        plural(w.rows_deleted),
        who(&w.by)
    )
}

/// When the entry was written; `unknown` for a row without a time
/// (written by hand), as `strategy ls` says of a row without `updated_at`.
pub fn time_of(e: &HistoryEntry) -> String {
    e.created_at
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `executed` in green, `FAILED` in red, `skipped` and `unknown` in yellow.
pub fn result_cell(result: ActionResult) -> Cell {
    match result {
        ActionResult::Executed => Cell::tone("executed", Tone::Good),
        ActionResult::Failed => Cell::tone("FAILED", Tone::Bad),
        other => Cell::tone(other.as_str(), Tone::Warn),
    }
}

fn history_text(r: &HistoryReport, style: &TextStyle) -> String {
    if r.entries.is_empty() {
        return match &r.unknown_cluster {
            Some(c) => {
                format!("No actions recorded for '{c}' (no cluster has that name or id now).\n")
            }
            None => "No actions recorded (for these filters).\n".into(),
        };
    }
    let rows: Vec<Vec<Cell>> = r
        .entries
        .iter()
        .map(|e| {
            let cluster = match (&e.cluster, &e.cluster_id) {
                (Some(n), Some(id)) if style.wide => format!("{n} ({id})"),
                (Some(n), _) => n.clone(),
                (None, Some(id)) => id.0.clone(),
                (None, None) => "-".into(),
            };
            let mut row = vec![
                Cell::new(time_of(e)),
                Cell::new(cluster),
                result_cell(e.result),
                Cell::new(action_of(e)),
            ];
            if style.wide {
                row.push(Cell::new(run_of(e)));
            }
            row.push(Cell::new(why_of(e)));
            if style.wide {
                row.push(Cell::new(e.sql.clone()));
            }
            row
        })
        .collect();
    let headers: &[&str] = if style.wide {
        &["TIME", "CLUSTER", "RESULT", "ACTION", "RUN", "WHY", "SQL"]
    } else {
        &["TIME", "CLUSTER", "RESULT", "ACTION", "WHY"]
    };
    table::render_plain(headers, &rows, style.table.color)
}

/// The run an entry belongs to, as `history --run` takes it: the first
/// characters of its id; `-` for rows of no run (written by hand, or an
/// operator's command an earlier clusterctl recorded).
fn run_of(e: &HistoryEntry) -> String {
    match &e.run_id {
        Some(id) => id
            .chars()
            .take(crate::commands::history::RUN_ID_PREFIX)
            .collect(),
        None => "-".into(),
    }
}

impl View for HistoryReport {
    fn text(&self, style: &TextStyle) -> String {
        history_text(self, style)
    }

    fn messages(&self) -> Vec<String> {
        match (self.more, self.limit) {
            (true, Some(l)) => vec![format!(
                "note: showing the newest {l}; more entries match (--limit 0 shows all, --since/--until narrow)"
            )],
            _ => Vec::new(),
        }
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }

    /// Written straight from the entries (a `Value` of them took twice
    /// their memory).
    fn body_text(&self, one_line: bool) -> Option<serde_json::Result<String>> {
        Some(super::json_text_of(self, one_line))
    }
}

#[cfg(test)]
mod tests {
    use super::{action_of, who, why_of, wipe_why};
    use crate::commands::history::{HistoryEntry, StateWipe};
    use crate::db::store::ActionResult;
    use crate::model::ClusterId;
    use serde_json::json;

    /// An executed row of `kind` on cluster `m`.
    fn entry(kind: &str, replica: Option<&str>, size: Option<&str>) -> HistoryEntry {
        HistoryEntry {
            created_at: Some(chrono::DateTime::UNIX_EPOCH),
            action_id: "a".into(),
            run_id: None,
            cluster_id: None,
            cluster: Some("m".into()),
            result: ActionResult::Executed,
            kind: Some(kind.into()),
            replica: replica.map(str::to_string),
            size: size.map(str::to_string),
            strategy: None,
            reasons: Vec::new(),
            sql: String::new(),
            error: None,
            note: None,
            change: None,
            previous_holder: None,
            broken_by: None,
            wiped: None,
            pruned: None,
            renamed_to: None,
            replication_factor: None,
        }
    }

    /// An action that ran, with a text (a later run's settlement), says it
    /// as a note; a failed one as an error.
    #[test]
    fn an_executed_actions_text_is_a_note_not_an_error() {
        let settled = "its outcome was never recorded; found it applied";
        let mut e = entry("create_replica", Some("r1"), Some("25cc"));
        e.note = Some(settled.into());
        assert_eq!(why_of(&e), format!("note: {settled}"));
        e.result = ActionResult::Failed;
        e.note = None;
        e.error = Some("refused".into());
        assert_eq!(why_of(&e), "error: refused");
    }

    /// A wipe's WHY names each cluster as an audit line does: `a,b` is one
    /// cluster, ` spaced` is not `spaced`, a dropped one is its id.
    #[test]
    fn a_wipe_names_its_clusters_as_a_shell_takes_them() {
        use crate::commands::history::WipedCluster;
        let cluster = |id: &str, name: Option<&str>| WipedCluster {
            id: ClusterId(id.into()),
            name: name.map(str::to_string),
        };
        let w = StateWipe {
            clusters: Some(vec![
                cluster("u1", Some("plain")),
                cluster("u2", Some("a,b")),
                cluster("u3", Some(" spaced")),
                cluster("u4", Some("-dash")),
                cluster("u5", None),
            ]),
            rows_deleted: 5,
            retried: false,
            by: serde_json::json!({"user": "alice@host"}),
        };
        assert_eq!(
            wipe_why(&w),
            "deleted 5 state rows of plain, 'a,b', ' spaced', u4, u5 (by alice@host)"
        );
        let retried = StateWipe {
            clusters: None,
            rows_deleted: 0,
            retried: true,
            ..w
        };
        assert_eq!(
            wipe_why(&retried),
            "deleted at least 0 state rows of all clusters (by alice@host; an attempt before \
             lost its answer, and what it deleted is not counted)"
        );
    }

    #[test]
    fn a_managed_resize_names_its_size() {
        assert_eq!(
            action_of(&entry("set_size", None, Some("100cc"))),
            "set size 100cc"
        );
        assert_eq!(
            action_of(&entry("set_replication_factor", None, None)),
            "set replication factor"
        );
        let suspension = HistoryEntry {
            replication_factor: Some(0),
            ..entry("set_replication_factor", None, None)
        };
        assert_eq!(action_of(&suspension), "set replication factor 0");
        assert_eq!(
            action_of(&entry("create_replica", Some("r1"), Some("25cc"))),
            "create r1 (25cc)"
        );
        let renamed = HistoryEntry {
            renamed_to: Some("r2".into()),
            ..entry("rename_replica", Some("r1"), Some("25cc"))
        };
        assert_eq!(action_of(&renamed), "rename r1 to r2 (25cc)");
    }

    #[test]
    fn a_move_names_the_other_cluster_escaped_or_its_id_once_dropped() {
        let moved = |key: &str, other: serde_json::Value| {
            let mut e = entry("strategy_mv", None, None);
            let mut change = crate::commands::history::StrategyChange {
                strategy_type: None,
                before: json!(null),
                after: json!(null),
                by: json!(null),
                moved_to: None,
                moved_from: None,
                carried: None,
            };
            match key {
                "to" => change.moved_to = Some(other),
                _ => change.moved_from = Some(other),
            }
            e.change = Some(Box::new(change));
            action_of(&e)
        };
        assert_eq!(
            moved("to", json!({"cluster_id": "u5", "cluster": "analytics"})),
            "strategy mv to analytics (u5)"
        );
        assert_eq!(
            moved("from", json!({"cluster_id": "u1", "cluster": null})),
            "strategy mv from u1"
        );
        // A name from the trail is shown escaped, as every name is.
        assert_eq!(
            moved("to", json!({"cluster_id": "u2", "cluster": "a\u{1b}[31m"})),
            "strategy mv to a\\u{1b}[31m (u2)"
        );
    }

    #[test]
    fn who_ran_it_is_the_user_or_an_older_rows_holder_id() {
        assert_eq!(who(&json!({"user": "alice@h", "role": "mz"})), "alice@h");
        assert_eq!(who(&json!("host:42:uuid")), "host:42:uuid");
        assert_eq!(who(&json!({"role": "mz"})), "unknown");
        assert_eq!(who(&serde_json::Value::Null), "unknown");
    }
}
