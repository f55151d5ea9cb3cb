//! `strategy set|rm|mv|ls|pause|resume`: one line saying what was written or
//! removed (warnings and notes on stderr), the table of rows in effect; and their JSON
//! documents.

use std::fmt::Write;

use super::table::{self, Cell, Tone};
use super::{body_of, plural, TextStyle, View};
use crate::commands::strategy::{Listing, Moved, Removed, Written};
use crate::model::{StrategyRow, PAUSE};

/// What a strategy command says on stderr besides its result: its
/// warnings, then its notes.
fn said(warnings: &[String], notes: &[String]) -> Vec<String> {
    let warnings = warnings.iter().map(|w| format!("warning: {w}"));
    warnings
        .chain(notes.iter().map(|n| format!("note: {n}")))
        .collect()
}

impl View for Written {
    fn text(&self, _style: &TextStyle) -> String {
        if self.strategy_type == PAUSE {
            let until = crate::plan::rows::pause_ends(crate::plan::rows::pause_until(&self.config));
            return format!(
                "Paused {}: the controller leaves it alone{until} until `{}`.\n",
                self.target.display(),
                crate::model::resume_command(self.schema.as_deref(), self.target.arg())
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
        said(&self.warnings, &self.notes)
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

impl View for Removed {
    fn text(&self, _style: &TextStyle) -> String {
        let who = self.target.display();
        let n = self.deleted.rows;
        match (self.command, self.deleted.maybe_any()) {
            ("strategy resume", false) => format!("{who} is not paused.\n"),
            ("strategy resume", true) => {
                format!("Resumed {who}: the controller manages it again.\n")
            }
            (_, true) if self.deleted.retried => format!(
                "Removed at least {n} strategy row{} ({}) of {who}: {}.\n",
                plural(n),
                self.types.join(", "),
                super::LOST_ANSWER
            ),
            (_, false) => {
                let of = self
                    .strategy_type
                    .as_ref()
                    .map(|t| format!(" of type {t}"))
                    .unwrap_or_default();
                format!("{who} has no strategy rows{of}; nothing removed.\n")
            }
            _ => format!(
                "Removed {n} strategy row{} ({}) of {who}.\n",
                plural(n),
                self.types.join(", ")
            ),
        }
    }

    fn messages(&self) -> Vec<String> {
        said(&[], &self.notes)
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
        let (from, to, types, s) = (
            self.from.display(),
            self.to.display(),
            types.join(", "),
            plural(n),
        );
        // Run again: the rows were there already (only the removal from
        // FROM was left, or nothing): the headline says which, not "Moved".
        let headline = match (self.already_there, self.deleted.maybe_any()) {
            (false, _) => format!("Moved {n} strategy row{s} ({types}) from {from} to {to}.\n"),
            (true, false) => format!(
                "Nothing to move: the {n} strategy row{s} ({types}) {} moved from {from} to \
                 {to} already.\n",
                if n == 1 { "was" } else { "were" }
            ),
            (true, true) => format!(
                "Finished moving {n} strategy row{s} ({types}) from {from} to {to}: they were \
                 there already, their removal from {from} was left.\n"
            ),
        };
        if self.carried.is_empty() {
            return headline;
        }
        format!(
            "{headline}Carried what its strategies learned to {to}: {}.\n",
            self.carried.join("; ")
        )
    }

    fn messages(&self) -> Vec<String> {
        said(&self.warnings, &self.notes)
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

/// Characters of a config `strategy ls` shows in its table.
const CONFIG_WIDTH: usize = 120;

/// A row's cluster id that no cluster has, an empty one said so (a row
/// written by hand: `strategy target_size of  (no such cluster)`).
fn dangling(id: &crate::model::ClusterId) -> String {
    match id.0.is_empty() {
        true => "(empty id: no such cluster)".into(),
        false => format!("{id} (no such cluster)"),
    }
}

impl View for Listing {
    fn text(&self, style: &TextStyle) -> String {
        if self.strategies.is_empty() {
            return format!("No strategies (add one with `{}`).\n", self.add_command);
        }
        let rows: Vec<Vec<Cell>> = self
            .strategies
            .iter()
            .map(|l| {
                let cluster = match &l.cluster {
                    Some(n) => Cell::new(format!("{n} ({})", l.cluster_id)),
                    None => Cell::tone(dangling(&l.cluster_id), Tone::Bad),
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
                    None => dangling(&l.cluster_id),
                };
                format!(
                    "warning: strategy {} of {cluster} is invalid, so the controller skips the \
                     cluster: {}",
                    crate::model::strategy_type_shown(&l.strategy_type),
                    l.problems.join("; ")
                )
            })
            .collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::strategy::MovedRow;
    use crate::commands::Target;
    use crate::model::ClusterId;

    /// The headline of `strategy mv` says what this run did: a move, the
    /// end of one stopped midway, or nothing (run again after it was done).
    #[test]
    fn a_moves_headline_says_what_this_run_did() {
        let target = |id: &str, name: &str| Target {
            id: ClusterId(id.into()),
            name: Some(name.into()),
            recorded: None,
        };
        let moved = |already_there: bool, rows: u64| Moved {
            from_cluster_id: ClusterId("u1".into()),
            from_cluster: Some("blue".into()),
            to_cluster_id: ClusterId("u2".into()),
            to_cluster: Some("green".into()),
            strategies: vec![MovedRow {
                strategy_type: "target_size".into(),
                config: serde_json::json!({"target_size": "25cc"}),
            }],
            updated_at: chrono::DateTime::UNIX_EPOCH,
            deleted: crate::db::store::Deleted {
                rows,
                retried: false,
            },
            already_there,
            carried: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
            from: target("u1", "blue"),
            to: target("u2", "green"),
        };
        let style = TextStyle {
            verbosity: crate::render::Verbosity::Normal,
            table: table::Style {
                tty: false,
                color: false,
            },
            wide: false,
            streamed: false,
        };
        assert_eq!(
            moved(false, 1).text(&style),
            "Moved 1 strategy row (target_size) from cluster blue (u1) to cluster green (u2).\n"
        );
        assert_eq!(
            moved(true, 1).text(&style),
            "Finished moving 1 strategy row (target_size) from cluster blue (u1) to cluster \
             green (u2): they were there already, their removal from cluster blue (u1) was left.\n"
        );
        assert_eq!(
            moved(true, 0).text(&style),
            "Nothing to move: the 1 strategy row (target_size) was moved from cluster blue (u1) \
             to cluster green (u2) already.\n"
        );
        // Its DELETE retried after a lost answer: the attempt before
        // removed them, this run finished the move.
        let retried = Moved {
            deleted: crate::db::store::Deleted {
                rows: 0,
                retried: true,
            },
            ..moved(true, 0)
        };
        assert!(
            retried
                .text(&style)
                .starts_with("Finished moving 1 strategy row"),
            "{}",
            retried.text(&style)
        );
        let carried = Moved {
            carried: vec!["shrink_to_fit: 100cc fits".into()],
            ..moved(false, 1)
        };
        assert_eq!(
            carried.text(&style),
            "Moved 1 strategy row (target_size) from cluster blue (u1) to cluster green (u2).\n\
             Carried what its strategies learned to cluster green (u2): shrink_to_fit: 100cc \
             fits.\n"
        );
    }
}
