//! `doctor`: one line per finding, most serious first, each with its fix;
//! then whether `apply` will work. And its JSON document.

use std::fmt::Write;

use super::{body_of, plural, TextStyle, View};
use crate::commands::doctor::{DoctorReport, DoctorSql, Finding, Level};
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

/// `doctor --print-sql`: the fixes that are SQL, as one script for an
/// admin (clusterctl runs none of it), each under a comment naming what it
/// fixes; the fixes that are not SQL after them, as comments. Every
/// comment is one line: a control character in a name is escaped, so no
/// text of the catalog's becomes a statement.
fn doctor_sql(role: Option<&str>, findings: &[Finding]) -> String {
    let comment = |s: &str| format!("-- {}", super::printable(s));
    let heading = |f: &Finding| comment(&format!("{} {}: {}", label(f.level), f.topic, f.message));
    let role = role.map(crate::ddl::ident);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}",
        comment(&format!(
            "clusterctl doctor --print-sql: statements an admin runs to fix what doctor found{}.",
            role.as_ref()
                .map(|r| format!(" for role {r}"))
                .unwrap_or_default()
        ))
    );
    let _ = writeln!(
        s,
        "-- clusterctl runs none of them. Review each first: they are for the role \
         `clusterctl apply` runs as (run doctor as that role)."
    );
    let with_sql: Vec<_> = findings.iter().filter(|f| !f.sql.is_empty()).collect();
    if with_sql.is_empty() {
        let _ = writeln!(s, "\n-- Nothing doctor found is fixed by SQL.");
    }
    for f in &with_sql {
        let _ = writeln!(s, "\n{}", heading(f));
        for stmt in &f.sql {
            let _ = writeln!(s, "{stmt};");
        }
    }
    let by_hand: Vec<(&Finding, &String)> = findings
        .iter()
        .filter(|f| f.sql.is_empty())
        .filter_map(|f| Some((f, f.fix.as_ref()?)))
        .collect();
    if !by_hand.is_empty() {
        let _ = writeln!(s, "\n-- Not SQL: fixes for a person.");
    }
    for (f, fix) in by_hand {
        let _ = writeln!(s, "{}", heading(f));
        let _ = writeln!(s, "{}", comment(&format!("  fix: {fix}")));
    }
    s
}

/// The script as text; JSON as `doctor`'s (each finding's `sql`), and the
/// same exit code.
impl View for DoctorSql {
    fn text(&self, _style: &TextStyle) -> String {
        doctor_sql(self.0.role.as_deref(), &self.0.findings)
    }

    fn is_script(&self) -> bool {
        true
    }

    fn body(&self) -> serde_json::Value {
        self.0.body()
    }

    fn completion(&self) -> Completion {
        self.0.completion()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(level: Level, message: &str, fix: Option<&str>, sql: &[&str]) -> Finding {
        Finding {
            level,
            topic: "cluster",
            message: message.into(),
            fix: fix.map(str::to_string),
            sql: sql.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The statements under a comment naming their finding; the fixes
    /// that are not SQL after them as comments; a finding without a fix
    /// not at all; a newline in a message escaped within its comment line.
    #[test]
    fn the_script_is_the_sql_fixes_then_the_others_as_comments() {
        let findings = [
            finding(Level::Ok, "fine", None, &[]),
            finding(
                Level::Warning,
                "cluster a\nDROP x: not manageable",
                Some("ALTER … (when …)"),
                &[r#"ALTER CLUSTER "a" OWNER TO "ctl""#],
            ),
            finding(
                Level::Blocker,
                "left by a run",
                Some("run `clusterctl apply`"),
                &[],
            ),
        ];
        let script = doctor_sql(Some("ctl"), &findings);
        let lines: Vec<&str> = script.lines().collect();
        assert!(lines[0].contains(r#"for role "ctl"."#), "{script}");
        let body = &lines[3..];
        assert_eq!(
            body,
            [
                r"-- warning cluster: cluster a\nDROP x: not manageable",
                r#"ALTER CLUSTER "a" OWNER TO "ctl";"#,
                "",
                "-- Not SQL: fixes for a person.",
                "-- BLOCKER cluster: left by a run",
                "--   fix: run `clusterctl apply`",
            ],
            "{script}"
        );
        let none = doctor_sql(None, &findings[..1]);
        assert!(
            none.contains("-- Nothing doctor found is fixed by SQL.")
                && !none.contains("for role")
                && !none.contains("Not SQL"),
            "{none}"
        );
    }
}
