//! `doctor`: one line per finding, most serious first, each with its fix;
//! then whether `apply` will work. And its JSON document.

use std::fmt::Write;

use super::{body_of, plural, TextStyle, View};
use crate::commands::doctor::{DoctorReport, Level};
use crate::commands::Completion;

fn label(l: Level) -> &'static str {
    match l {
        Level::Ok => "ok",
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Blocker => "BLOCKER",
    }
}

fn doctor_text(r: &DoctorReport) -> String {
    let mut s = String::new();
    for f in &r.findings {
        let _ = writeln!(s, "{:<8} {}", label(f.level), super::printable(&f.message));
        if let Some(fix) = &f.fix {
            let _ = writeln!(s, "         fix: {}", super::printable(fix));
        }
    }
    let warnings = format!("{} warning{}", r.warnings, plural(r.warnings));
    if r.blockers == 0 {
        let _ = writeln!(s, "Result: clusterctl apply will work here ({warnings}).");
    } else {
        let _ = writeln!(
            s,
            "Result: {} problem{} block{} clusterctl apply ({warnings}).",
            r.blockers,
            plural(r.blockers),
            if r.blockers == 1 { "s" } else { "" }
        );
    }
    s
}

impl View for DoctorReport {
    fn text(&self, _style: &TextStyle) -> String {
        doctor_text(self)
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }

    fn completion(&self) -> Completion {
        if self.blockers > 0 {
            Completion::WithProblems
        } else {
            Completion::Clean
        }
    }
}
