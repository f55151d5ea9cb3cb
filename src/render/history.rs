//! `history`: the audit trail as a table (time, cluster, result, action,
//! why); and its JSON document.

use std::fmt::Write;

use super::table::{self, Cell, Tone};
use super::{body_of, TextStyle, View};
use crate::commands::history::{HistoryEntry, HistoryReport};

fn history_text(entries: &[HistoryEntry], style: table::Style) -> String {
    if entries.is_empty() {
        return "No actions recorded (for these filters).\n".into();
    }
    let rows: Vec<Vec<Cell>> = entries
        .iter()
        .map(|e| {
            let cluster = match (&e.cluster, &e.cluster_id) {
                (Some(n), Some(id)) => format!("{n} ({id})"),
                (None, Some(id)) => id.0.clone(),
                (Some(n), None) => n.clone(),
                (None, None) => "?".into(),
            };
            let result = match e.result {
                "executed" => Cell::tone("done", Tone::Good),
                "failed" => Cell::tone("FAILED", Tone::Bad),
                other => Cell::tone(other, Tone::Warn),
            };
            let action = match (&e.kind, &e.replica) {
                (Some(k), Some(r)) => {
                    let verb = k.strip_suffix("_replica").unwrap_or(k);
                    match &e.size {
                        Some(s) => format!("{verb} {r} ({s})"),
                        None => format!("{verb} {r}"),
                    }
                }
                _ => e.sql.clone(),
            };
            let mut why = match &e.strategy {
                Some(s) => format!("{s}: {}", e.reasons.join("; ")),
                None => e.reasons.join("; "),
            };
            if let Some(err) = &e.error {
                let _ = write!(why, "; error: {err}");
            }
            vec![
                Cell::new(e.created_at.format("%Y-%m-%d %H:%M:%SZ").to_string()),
                Cell::new(cluster),
                result,
                Cell::new(action),
                Cell::new(why),
            ]
        })
        .collect();
    table::render(
        &["TIME", "CLUSTER", "RESULT", "ACTION", "WHY"],
        &rows,
        style,
    )
}

impl View for HistoryReport {
    fn command(&self) -> &'static str {
        "history"
    }

    fn text(&self, style: &TextStyle) -> String {
        history_text(&self.entries, style.table)
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}
