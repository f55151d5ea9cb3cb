//! `dry-run` and `apply`: the plan grouped by cluster, each action with its
//! reasons and SQL, a Terraform-like summary, the problems on stderr; and
//! the JSON documents of both.

use std::fmt::Write;

use super::{body_of, plural, TextStyle, Verbosity, View};
use crate::commands::reconcile::{Applied, DryRun};
use crate::commands::Completion;
use crate::exec::{count_kinds, ActionStatus, ApplyReport};
use crate::plan::{ActionKind, ClusterPlan, Outcome, Plan, ResizeForm};

fn header(cp: &ClusterPlan) -> String {
    format!("cluster {} ({})", cp.cluster, cp.cluster_id)
}

/// Problems that are not actions: invalid rows, clusters we must not touch,
/// global warnings. Printed on stderr in text mode.
pub fn problems(plan: &Plan) -> Vec<String> {
    let mut out: Vec<String> = plan
        .warnings
        .iter()
        .map(|w| format!("warning: {w}"))
        .collect();
    for cp in &plan.clusters {
        match &cp.outcome {
            Outcome::Invalid { errors } => {
                for e in errors {
                    out.push(format!("error: {}: {e}; cluster skipped", header(cp)));
                }
            }
            Outcome::Unmanageable { reason } => {
                out.push(format!(
                    "warning: {}: has strategies but is left alone: {reason}",
                    header(cp)
                ));
            }
            Outcome::Paused { reason } => {
                let why = reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default();
                out.push(format!(
                    "note: {}: paused{why}; left alone until `clusterctl strategy resume {}`",
                    header(cp),
                    cp.cluster
                ));
            }
            Outcome::Planned => {}
        }
        for a in &cp.alerts {
            out.push(format!("warning: {}: {a}", header(cp)));
        }
    }
    out
}

/// The plan, grouped by cluster, each action with its reasons.
pub fn plan_text(plan: &Plan, verbosity: Verbosity) -> String {
    let mut s = String::new();
    for cp in &plan.clusters {
        let show_notes = verbosity == Verbosity::Verbose && !cp.notes.is_empty();
        if cp.actions.is_empty() && !show_notes {
            continue;
        }
        let strategies: Vec<&str> = cp.strategies.iter().map(|k| k.as_str()).collect();
        let _ = writeln!(s, "{} [{}]", header(cp), strategies.join(", "));
        for a in &cp.actions {
            let size = a.size.as_ref().map(|s| s.0.as_str()).unwrap_or("?");
            let _ = match a.kind {
                ActionKind::CreateReplica => {
                    writeln!(s, "  + create replica {} ({size})", a.replica)
                }
                ActionKind::DropReplica => writeln!(s, "  - drop replica {} ({size})", a.replica),
                ActionKind::SetSize => writeln!(
                    s,
                    "  ~ resize (managed) to {size}, {}",
                    match a.resize {
                        Some(ResizeForm::Background) => "gracefully, in the background",
                        Some(ResizeForm::Restart) => "with a restart (downtime)",
                        Some(ResizeForm::WaitUntilReady) | None => "gracefully",
                    }
                ),
                ActionKind::SetReplicationFactor => writeln!(
                    s,
                    "  ~ set replication factor (managed) to {}",
                    a.replication_factor.unwrap_or_default()
                ),
            };
            for r in &a.reasons {
                let _ = writeln!(s, "      why: {}: {r}", a.strategy);
            }
            let _ = writeln!(s, "      sql: {}", a.sql);
        }
        if show_notes {
            for n in &cp.notes {
                let _ = writeln!(s, "  note: {n}");
            }
        }
    }
    if verbosity != Verbosity::Quiet {
        s.push_str(&plan_summary(plan));
        s.push('\n');
    }
    s
}

pub fn plan_summary(plan: &Plan) -> String {
    let (creates, drops, alters) = count_kinds(plan.actions());
    let changing = plan
        .clusters
        .iter()
        .filter(|c| !c.actions.is_empty())
        .count();
    let converged = plan
        .clusters
        .iter()
        .filter(|c| c.actions.is_empty() && c.outcome == Outcome::Planned)
        .count();
    let mut s = if creates + drops + alters == 0 {
        "No changes.".to_string()
    } else if alters == 0 {
        format!(
            "Plan: {creates} to create, {drops} to drop, on {changing} cluster{}.",
            plural(changing)
        )
    } else {
        format!(
            "Plan: {creates} to create, {drops} to drop, {alters} to alter, on {changing} cluster{}.",
            plural(changing)
        )
    };
    let _ = write!(s, " {converged} cluster{} converged", plural(converged));
    let invalid = plan.invalid_count();
    if invalid > 0 {
        let _ = write!(s, ", {invalid} skipped (invalid configuration)");
    }
    let unmanageable = plan
        .clusters
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Unmanageable { .. }))
        .count();
    if unmanageable > 0 {
        let _ = write!(s, ", {unmanageable} not manageable");
    }
    let paused = plan
        .clusters
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Paused { .. }))
        .count();
    if paused > 0 {
        let _ = write!(s, ", {paused} paused");
    }
    s.push('.');
    s
}

pub fn apply_text(plan: &Plan, report: &ApplyReport, verbosity: Verbosity) -> String {
    let mut s = String::new();
    let mut current = None;
    for r in &report.results {
        if current.as_ref() != Some(&r.action.cluster_id) {
            let _ = writeln!(s, "cluster {} ({})", r.action.cluster, r.action.cluster_id);
            current = Some(r.action.cluster_id.clone());
        }
        let mark = match &r.status {
            ActionStatus::Executed => "done   ".to_string(),
            ActionStatus::Failed { .. } => "FAILED ".to_string(),
            ActionStatus::Skipped { .. } => "skipped".to_string(),
        };
        let _ = writeln!(s, "  {mark} {}", r.action.sql);
        for reason in &r.action.reasons {
            let _ = writeln!(s, "          why: {}: {reason}", r.action.strategy);
        }
        match &r.status {
            ActionStatus::Failed { error } => {
                let _ = writeln!(s, "          error: {error}");
            }
            ActionStatus::Skipped { reason } => {
                let _ = writeln!(s, "          {reason}");
            }
            ActionStatus::Executed => {}
        }
    }
    if verbosity == Verbosity::Verbose {
        for cp in &plan.clusters {
            for n in &cp.notes {
                let _ = writeln!(s, "note: {}: {n}", header(cp));
            }
        }
    }
    if verbosity != Verbosity::Quiet {
        let total = report.results.len();
        let failed = report.failed();
        if total == 0 {
            let _ = write!(s, "No changes.");
        } else {
            let _ = write!(
                s,
                "Applied {} of {total} action{}",
                report.executed(),
                plural(total)
            );
            if failed > 0 {
                let _ = write!(s, " ({failed} failed)");
            }
            s.push('.');
        }
        let invalid = plan.invalid_count();
        if invalid > 0 {
            let _ = write!(s, " {invalid} skipped (invalid configuration).");
        }
        let _ = writeln!(s, " Run {}.", report.run_id);
    }
    s
}

fn completion(plan: &Plan, failed_actions: usize) -> Completion {
    if plan.invalid_count() > 0 || failed_actions > 0 {
        Completion::WithProblems
    } else {
        Completion::Clean
    }
}

impl View for DryRun {
    fn command(&self) -> &'static str {
        "dry-run"
    }

    fn text(&self, style: &TextStyle) -> String {
        plan_text(&self.plan, style.verbosity)
    }

    fn messages(&self) -> Vec<String> {
        problems(&self.plan)
    }

    fn body(&self) -> serde_json::Value {
        serde_json::json!({ "plan": body_of(&self.plan) })
    }

    fn completion(&self) -> Completion {
        match completion(&self.plan, 0) {
            Completion::Clean if self.plan.action_count() > 0 => Completion::ChangesPending,
            other => other,
        }
    }
}

impl View for Applied {
    fn command(&self) -> &'static str {
        "apply"
    }

    fn text(&self, style: &TextStyle) -> String {
        apply_text(&self.plan, &self.report, style.verbosity)
    }

    fn messages(&self) -> Vec<String> {
        problems(&self.plan)
    }

    fn body(&self) -> serde_json::Value {
        serde_json::json!({ "plan": body_of(&self.plan), "apply": body_of(&self.report) })
    }

    fn completion(&self) -> Completion {
        completion(&self.plan, self.report.failed())
    }
}
