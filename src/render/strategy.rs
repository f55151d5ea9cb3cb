//! `strategy set|rm|mv|ls|pause|resume`: one line saying what was written or
//! removed (warnings and notes on stderr), the table of rows in effect; and their JSON
//! documents.

use std::fmt::Write;

use super::table::{self, Cell, Tone};
use super::{body_of, plural, TextStyle, View};
use crate::commands::strategy::{Listing, Moved, Removed, Written};
use crate::model::{StrategyRow, PAUSE};

impl View for Written {
    fn text(&self, _style: &TextStyle) -> String {
        if self.strategy_type == PAUSE {
            let until = crate::plan::rows::pause_until(&self.config)
                .map(|t| {
                    format!(
                        " until {} or",
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )
                })
                .unwrap_or_default();
            return format!(
                "Paused {}: the controller leaves it alone{until} until `clusterctl strategy resume {}`.\n",
                self.target.display(),
                self.target.arg()
            );
        }
        let verb = if self.rows_replaced > 0 {
            "Replaced"
        } else {
            "Set"
        };
        format!(
            "{verb} strategy {} of {}: {}\n",
            self.strategy_type,
            self.target.display(),
            self.config
        )
    }

    fn messages(&self) -> Vec<String> {
        let warnings = self.warnings.iter().map(|w| format!("warning: {w}"));
        warnings
            .chain(self.notes.iter().map(|n| format!("note: {n}")))
            .collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

impl View for Removed {
    fn text(&self, _style: &TextStyle) -> String {
        let who = self.target.display();
        let n = self.rows_deleted;
        match (self.command, n) {
            ("strategy resume", 0) => format!("{who} is not paused.\n"),
            ("strategy resume", _) => {
                format!("Resumed {who}: the controller manages it again.\n")
            }
            (_, 0) => {
                let of = self
                    .strategy_type
                    .as_ref()
                    .map(|t| format!(" of type {t}"))
                    .unwrap_or_default();
                format!("{who} has no strategy rows{of}; nothing removed.\n")
            }
            _ => format!(
                "Removed {n} strategy row{} ({}) of {who}.\n",
                plural(n as usize),
                self.types.join(", ")
            ),
        }
    }

    fn messages(&self) -> Vec<String> {
        self.notes.iter().map(|n| format!("note: {n}")).collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

impl View for Moved {
    fn text(&self, _style: &TextStyle) -> String {
        let n = self.strategies.len();
        let types: Vec<&str> = self
            .strategies
            .iter()
            .map(|r| r.strategy_type.as_str())
            .collect();
        format!(
            "Moved {n} strategy row{} ({}) from {} to {}.\n",
            plural(n),
            types.join(", "),
            self.from.display(),
            self.to.display()
        )
    }

    fn messages(&self) -> Vec<String> {
        let warnings = self.warnings.iter().map(|w| format!("warning: {w}"));
        warnings
            .chain(self.notes.iter().map(|n| format!("note: {n}")))
            .collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

/// Characters of a config `strategy ls` shows in its table.
const CONFIG_WIDTH: usize = 120;

impl View for Listing {
    fn text(&self, style: &TextStyle) -> String {
        if self.strategies.is_empty() {
            return "No strategies (add one with `clusterctl strategy set CLUSTER TYPE --config JSON`).\n"
                .into();
        }
        let rows: Vec<Vec<Cell>> = self
            .strategies
            .iter()
            .map(|l| {
                let cluster = match &l.cluster {
                    Some(n) => Cell::new(format!("{n} ({})", l.cluster_id)),
                    None => Cell::tone(format!("{} (no such cluster)", l.cluster_id), Tone::Bad),
                };
                let mut updated = l
                    .updated_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
                    .unwrap_or_else(|| "unknown".into());
                if l.older_rows > 0 {
                    let _ = write!(updated, " (+{} other ignored)", l.older_rows);
                }
                let ty = if !l.problems.is_empty() {
                    Cell::tone(format!("{} (invalid)", l.strategy_type), Tone::Bad)
                } else if l.strategy_type == PAUSE {
                    Cell::tone(&l.strategy_type, Tone::Warn)
                } else {
                    Cell::new(&l.strategy_type)
                };
                vec![
                    cluster,
                    ty,
                    // A long config would widen every row: `-o wide` and
                    // `-o json` have it whole.
                    Cell::new({
                        let config =
                            StrategyRow::config_text(&l.config, l.config_unreadable.as_deref());
                        match style.wide {
                            true => config,
                            false => crate::model::clip(&config, CONFIG_WIDTH),
                        }
                    }),
                    Cell::new(updated),
                ]
            })
            .collect();
        table::render_plain(
            &["CLUSTER", "TYPE", "CONFIG", "UPDATED"],
            &rows,
            style.table.color,
        )
    }

    /// One warning per invalid row: the controller skips its cluster.
    fn messages(&self) -> Vec<String> {
        self.strategies
            .iter()
            .filter(|l| !l.problems.is_empty())
            .map(|l| {
                let cluster = match &l.cluster {
                    Some(n) => format!("{} ({})", crate::model::printable(n), l.cluster_id),
                    None => format!("{} (no such cluster)", l.cluster_id),
                };
                format!(
                    "warning: strategy {} of {cluster} is invalid, so the controller skips the \
                     cluster: {}",
                    l.strategy_type,
                    l.problems.join("; ")
                )
            })
            .collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}
