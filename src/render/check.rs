//! `check`: one line per finding, then a count; and its JSON document.

use std::fmt::Write;

use super::{body_of, plural, TextStyle, View};
use crate::commands::check::CheckReport;
use crate::commands::Completion;
use crate::plan::rows::Severity;

fn check_text(r: &CheckReport) -> String {
    let mut s = String::new();
    for f in &r.findings {
        // An empty id or type (a row written by hand) is said, not left
        // as a gap (`cluster id : : …`).
        let who = match (&f.cluster, f.cluster_id.0.is_empty()) {
            (Some(name), _) => format!("cluster {name} ({})", f.cluster_id),
            (None, true) => "cluster id (empty)".to_string(),
            (None, false) => format!("cluster id {}", f.cluster_id),
        };
        let ty = f
            .strategy_type
            .as_ref()
            .map(|t| match t.is_empty() {
                true => ": type (empty)".to_string(),
                false => format!(": {t}"),
            })
            .unwrap_or_default();
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // One line per finding, whatever the names in it hold.
        let line = format!("{sev}: {who}{ty}: {}", f.message);
        let _ = writeln!(s, "{}", super::printable(&line));
    }
    let _ = write!(
        s,
        "Checked {} strategy row{} on {} cluster{}: ",
        r.rows_checked,
        plural(r.rows_checked),
        r.clusters_checked,
        plural(r.clusters_checked)
    );
    if r.findings.is_empty() {
        s.push_str("no problems.\n");
    } else {
        let _ = writeln!(
            s,
            "{} error{}, {} warning{}.",
            r.errors,
            plural(r.errors),
            r.warnings,
            plural(r.warnings)
        );
    }
    s
}

impl View for CheckReport {
    fn text(&self, _style: &TextStyle) -> String {
        check_text(self)
    }

    fn messages(&self) -> Vec<String> {
        let warning = self
            .nothing_selected
            .iter()
            .map(|w| format!("warning: {w}"));
        let notes = self.statement_log.note.iter().map(|n| format!("note: {n}"));
        warning.chain(notes).collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }

    fn completion(&self) -> Completion {
        if self.findings.is_empty() {
            Completion::Clean
        } else {
            Completion::WithProblems
        }
    }
}
