//! `dry-run` and `apply`: the plan grouped by cluster, each action with its
//! reasons and SQL (`+` green, `-` red, `~` yellow on a terminal), clusters
//! with pending work as waiting with the reason, a Terraform-like summary,
//! the problems on stderr; the lines `apply` streams while it acts; and the
//! JSON documents of both.

use std::fmt::Write;
use std::time::Duration;

use super::{body_of, plural, TextStyle, Verbosity, View};
use crate::commands::reconcile::{Applied, DryRun};
use crate::commands::status::deferred_text;
use crate::commands::Completion;
use crate::exec::{count_kinds, ActionResult, ActionStatus, ApplyReport};
use crate::model::{human_duration, ClusterId};
use crate::plan::{Action, ActionKind, ClusterPlan, Outcome, Plan, PlanState, ResizeForm};

fn header(cp: &ClusterPlan) -> String {
    format!(
        "cluster {} ({})",
        super::printable(&cp.cluster),
        super::printable(&cp.cluster_id.0)
    )
}

/// A cluster's heading in a plan: [`header`] and its strategies, the same
/// in `dry-run` and `apply`.
fn plan_header(cp: &ClusterPlan) -> String {
    let strategies: Vec<&str> = cp.strategies.iter().map(|k| k.as_str()).collect();
    format!("{} [{}]", header(cp), strategies.join(", "))
}

/// ANSI colour of a plan line's marker, on a terminal only.
fn paint(text: &str, color: Option<anstyle::AnsiColor>, enabled: bool) -> String {
    match (color, enabled) {
        (Some(c), true) => {
            let style = anstyle::Style::new().fg_color(Some(c.into()));
            format!("{}{text}{}", style.render(), style.render_reset())
        }
        _ => text.to_string(),
    }
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
            Outcome::Paused { reason, until } => {
                let why = reason
                    .as_deref()
                    .map(|r| format!(" ({})", super::printable(r)))
                    .unwrap_or_default();
                let till = crate::plan::rows::pause_ends(*until);
                out.push(format!(
                    "note: {}: paused{why}; left alone{till} until `{}`",
                    header(cp),
                    crate::model::resume_command(
                        plan.schema.as_deref(),
                        crate::model::command_arg(&cp.cluster, &cp.cluster_id)
                    )
                ));
            }
            Outcome::Planned => {}
        }
        // Among the plan's problems (a watcher says them when they change:
        // a log line of every run repeated it for up to 16 minutes).
        if let Some(d) = &cp.in_doubt {
            out.push(format!(
                "warning: {}: {}",
                header(cp),
                super::printable(&d.reason)
            ));
        }
        for a in &cp.alerts {
            out.push(format!("warning: {}: {}", header(cp), super::printable(a)));
        }
    }
    out
}

/// One planned action: `+ create replica r_50cc (50cc)`; `asleep`: the
/// cluster runs no replica (a restart then takes nothing down).
fn action_line(a: &Action, asleep: bool, color: bool) -> String {
    let size = a.size.as_ref().map(|s| s.0.as_str()).unwrap_or("?");
    let (mark, tone, what) = match a.kind {
        ActionKind::CreateReplica => (
            "+",
            anstyle::AnsiColor::Green,
            format!("create replica {} ({size})", a.replica),
        ),
        ActionKind::DropReplica => (
            "-",
            anstyle::AnsiColor::Red,
            format!("drop replica {} ({size})", a.replica),
        ),
        ActionKind::SetSize => (
            "~",
            anstyle::AnsiColor::Yellow,
            format!(
                "resize (managed) to {size}, {}",
                match a.resize {
                    // Nothing runs to keep serving: it takes at once (it
                    // read as a graceful resize: an outside check).
                    Some(ResizeForm::Background | ResizeForm::WaitUntilReady) if asleep =>
                        "at once (no replica runs)",
                    Some(ResizeForm::Background) => "gracefully, in the background",
                    Some(ResizeForm::Restart) if asleep =>
                        "with a restart (no replica runs: no downtime)",
                    Some(ResizeForm::Restart) => "with a restart (downtime)",
                    Some(ResizeForm::WaitUntilReady) | None => "gracefully",
                }
            ),
        ),
        ActionKind::SetReplicationFactor => (
            "~",
            anstyle::AnsiColor::Yellow,
            format!(
                "set replication factor (managed) to {}",
                a.replication_factor.unwrap_or_default()
            ),
        ),
    };
    // A name holding a line break printed raw drew a plan line of its
    // own (a fake `+ create replica`: an outside check).
    paint(
        &format!("{mark} {}", super::printable(&what)),
        Some(tone),
        color,
    )
}

/// The plan, grouped by cluster, each action with its reasons; clusters
/// with pending work say what they wait for.
pub fn plan_text(plan: &Plan, style: &TextStyle) -> String {
    let verbosity = style.verbosity;
    let color = style.table.color;
    let mut s = String::new();
    for cp in &plan.clusters {
        let show_notes = verbosity == Verbosity::Verbose && !cp.notes.is_empty();
        // `-q` leaves out what waits: a cluster that only waits would be a
        // header over nothing.
        let waiting = !cp.waiting.is_empty() && verbosity != Verbosity::Quiet;
        if cp.actions.is_empty() && !show_notes && !waiting {
            continue;
        }
        let _ = writeln!(s, "{}", plan_header(cp));
        for a in &cp.actions {
            let _ = writeln!(s, "  {}", action_line(a, asleep(cp), color));
            for r in &a.reasons {
                let _ = writeln!(s, "      why: {}: {}", a.strategy, super::printable(r));
            }
            let _ = writeln!(s, "      sql: {}", super::printable(&a.sql));
        }
        if verbosity != Verbosity::Quiet {
            for d in &cp.waiting {
                let _ = writeln!(s, "  waiting: {}", super::printable(&deferred_text(d)));
            }
        }
        if show_notes {
            for n in &cp.notes {
                let _ = writeln!(s, "  note: {}", super::printable(n));
            }
        }
    }
    if verbosity != Verbosity::Quiet {
        s.push_str(&plan_summary(plan));
        s.push('\n');
    }
    s
}

fn count(plan: &Plan, state: PlanState) -> usize {
    plan.clusters.iter().filter(|c| c.state() == state).count()
}

pub fn plan_summary(plan: &Plan) -> String {
    let (creates, drops, alters) = count_kinds(plan.actions());
    let changing = count(plan, PlanState::Changes);
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
    let alerted = changing_with_an_alert(plan);
    if alerted > 0 {
        s.pop();
        let _ = write!(s, " ({alerted} with an alert).");
    }
    let _ = write!(s, " {}", clusters_summary(plan));
    s
}

/// The clusters with changes planned that have an alert too: counted in
/// the summaries, as a waiting one's alert is (they left it out when
/// changes were planned: an outside check).
fn changing_with_an_alert(plan: &Plan) -> usize {
    plan.clusters
        .iter()
        .filter(|c| c.state() == PlanState::Changes && !c.alerts.is_empty())
        .count()
}

/// Where the clusters stand, for `dry-run`'s and `apply`'s summaries alike:
/// `2 clusters converged, 1 waiting, 1 paused.`
fn clusters_summary(plan: &Plan) -> String {
    let converged = count(plan, PlanState::Converged);
    let mut parts = vec![format!(
        "{converged} cluster{} converged",
        plural(converged)
    )];
    parts.extend(other_states(plan));
    format!("{}.", parts.join(", "))
}

/// After actions, where the clusters the run did not change stand:
/// `3 other clusters converged, 1 paused.`; empty when there are none.
fn others_summary(plan: &Plan) -> String {
    let converged = count(plan, PlanState::Converged);
    let mut parts = Vec::new();
    if converged > 0 {
        parts.push(format!(
            "{converged} other cluster{} converged",
            plural(converged)
        ));
    }
    parts.extend(other_states(plan));
    if parts.is_empty() {
        return String::new();
    }
    format!(" {}.", parts.join(", "))
}

/// The counts of clusters neither converged nor changing, as
/// `1 waiting`, `1 paused`, … (none when zero).
fn other_states(plan: &Plan) -> Vec<String> {
    [
        (PlanState::Attention, "with an alert"),
        (PlanState::Waiting, "waiting"),
        (PlanState::Invalid, "skipped (invalid configuration)"),
        (PlanState::Unmanageable, "not manageable"),
        (PlanState::Paused, "paused"),
    ]
    .into_iter()
    .filter_map(|(state, what)| {
        let n = count(plan, state);
        (n > 0).then(|| format!("{n} {what}"))
    })
    .collect()
}

/// The verb of an action in progress lines: `creating`, `dropping`, …
fn doing(kind: ActionKind) -> (&'static str, &'static str) {
    match kind {
        ActionKind::CreateReplica => ("Creating", "Creation"),
        ActionKind::DropReplica => ("Dropping", "Drop"),
        ActionKind::SetSize => ("Resizing", "Resize"),
        ActionKind::SetReplicationFactor => ("Setting replication factor", "Change"),
    }
}

fn subject(a: &Action) -> String {
    if a.replica.is_empty() {
        a.cluster.clone()
    } else {
        format!("{}.{}", a.cluster, a.replica)
    }
}

/// No replica of the cluster ran when it was planned (a suspended managed
/// cluster): a resize takes at once, as its plan line and progress line
/// both say.
pub fn asleep(cp: &crate::plan::ClusterPlan) -> bool {
    cp.signals.replicas.is_empty()
}

/// A line `apply` streams: an action starting, still running after
/// `elapsed`, or finished after `elapsed` (Terraform's wording); `asleep`:
/// its cluster's ([`asleep`]).
pub fn progress_line(
    started: Option<&Action>,
    finished: Option<&ActionResult>,
    elapsed: Duration,
    asleep: bool,
    color: bool,
) -> String {
    let secs = human_duration(elapsed.as_secs());
    let line = match (started, finished) {
        (Some(a), None) if elapsed.is_zero() => {
            let (verb, _) = doing(a.kind);
            format!("{}: {verb}... [{}]", subject(a), a.sql)
        }
        (Some(a), None) => {
            let (verb, _) = doing(a.kind);
            format!(
                "{}: Still {}... [{secs} elapsed]",
                subject(a),
                verb.to_lowercase()
            )
        }
        (_, Some(r)) => {
            let (_, noun) = doing(r.action.kind);
            match &r.status {
                ActionStatus::Executed => paint(
                    &match r.action.resize {
                        // Nothing ran: it took at once (the line said
                        // replicas running meanwhile keep serving: an
                        // outside check).
                        Some(crate::plan::rules::ResizeForm::Background) if asleep => format!(
                            "{}: resize complete after {secs} (at once: no replica runs)",
                            subject(&r.action)
                        ),
                        // The statement returned; Materialize resizes on.
                        Some(crate::plan::rules::ResizeForm::Background) => format!(
                            "{}: resize started after {secs} (Materialize cuts over once the new \
                             replicas are hydrated; replicas running meanwhile keep serving)",
                            subject(&r.action)
                        ),
                        _ => format!("{}: {noun} complete after {secs}", subject(&r.action)),
                    },
                    Some(anstyle::AnsiColor::Green),
                    color,
                ),
                ActionStatus::Failed { error } => paint(
                    &format!(
                        "{}: {noun} FAILED after {secs}: {error}",
                        subject(&r.action)
                    ),
                    Some(anstyle::AnsiColor::Red),
                    color,
                ),
                ActionStatus::Skipped { reason } => {
                    format!("{}: skipped: {reason}", subject(&r.action))
                }
                ActionStatus::Unknown { error } => paint(
                    &format!(
                        "{}: {noun} outcome UNKNOWN after {secs}: {error}",
                        subject(&r.action)
                    ),
                    Some(anstyle::AnsiColor::Yellow),
                    color,
                ),
            }
        }
        (None, None) => String::new(),
    };
    // One line, whatever the names and the error in it hold.
    super::one_line(&line, color)
}

/// `No changes. 3 clusters converged, 1 waiting. Run …`, or after actions
/// `Applied 1 of 2 actions on 2 clusters (1 failed). 3 other clusters
/// converged, 1 waiting. Run …`
pub fn apply_summary(plan: &Plan, report: &ApplyReport) -> String {
    let total = report.results.len();
    let failed = report.failed();
    if total == 0 {
        return format!(
            "No changes. {} Run {}.",
            clusters_summary(plan),
            report.run_id
        );
    }
    // The clusters acted on: a cluster whose every action was skipped (a
    // limit, a stop, a change since the plan) was not.
    let mut on: Vec<&ClusterId> = report
        .results
        .iter()
        .filter(|r| !matches!(r.status, ActionStatus::Skipped { .. }))
        .map(|r| &r.action.cluster_id)
        .collect();
    on.sort();
    on.dedup();
    // Acted on none (each action skipped): not "on 0 clusters".
    let mut s = match on.len() {
        0 => format!(
            "Applied {} of {total} action{}",
            report.executed(),
            plural(total)
        ),
        n => format!(
            "Applied {} of {total} action{} on {n} cluster{}",
            report.executed(),
            plural(total),
            plural(n)
        ),
    };
    let parts: Vec<String> = [
        (failed, "failed"),
        (report.unknown(), "with an unknown outcome"),
        (report.skipped(), "skipped"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !parts.is_empty() {
        let _ = write!(s, " ({})", parts.join(", "));
    }
    s.push('.');
    match changing_with_an_alert(plan) {
        0 => {}
        1 if on.len() == 1 => s.push_str(" It has an alert."),
        1 => s.push_str(" 1 of them has an alert."),
        n => {
            let _ = write!(s, " {n} of them have an alert.");
        }
    }
    let _ = write!(s, "{} Run {}.", others_summary(plan), report.run_id);
    s
}

/// Whether `apply` shows the plan before running it (text on a stream):
/// only when the plan has actions. What waits is then in it, and the
/// report after the actions does not say it again.
pub fn plan_streamed_first(plan: &Plan) -> bool {
    plan.action_count() > 0
}

pub fn apply_text(plan: &Plan, report: &ApplyReport, style: &TextStyle) -> String {
    let verbosity = style.verbosity;
    let mut s = String::new();
    // What waits is said once, under its cluster as `dry-run` says it: in
    // the plan shown before the actions, else here.
    let show_waiting =
        verbosity != Verbosity::Quiet && !(style.streamed && plan_streamed_first(plan));
    let waiting = |s: &mut String, id: &crate::model::ClusterId| {
        let cp = plan.clusters.iter().find(|c| &c.cluster_id == id);
        for d in cp.map(|c| c.waiting.as_slice()).unwrap_or_default() {
            let _ = writeln!(s, "  waiting: {}", super::printable(&deferred_text(d)));
        }
    };
    let mut shown = std::collections::BTreeSet::new();
    if !style.streamed {
        let mut current = None;
        for r in &report.results {
            if current != Some(&r.action.cluster_id) {
                if let Some(previous) = current.filter(|_| show_waiting) {
                    waiting(&mut s, previous);
                }
                current = Some(&r.action.cluster_id);
                shown.insert(&r.action.cluster_id);
                let _ = writeln!(
                    s,
                    "cluster {} ({})",
                    super::printable(&r.action.cluster),
                    super::printable(&r.action.cluster_id.0)
                );
            }
            let mark = match &r.status {
                ActionStatus::Executed => "executed",
                ActionStatus::Failed { .. } => "FAILED  ",
                ActionStatus::Skipped { .. } => "skipped ",
                ActionStatus::Unknown { .. } => "UNKNOWN ",
            };
            let _ = writeln!(s, "  {mark} {}", r.action.sql);
            for reason in &r.action.reasons {
                let _ = writeln!(s, "           why: {}: {reason}", r.action.strategy);
            }
            match &r.status {
                ActionStatus::Failed { error } | ActionStatus::Unknown { error } => {
                    let _ = writeln!(s, "           error: {error}");
                }
                ActionStatus::Skipped { reason } => {
                    let _ = writeln!(s, "           {reason}");
                }
                ActionStatus::Executed => {}
            }
        }
        if let Some(last) = current.filter(|_| show_waiting) {
            waiting(&mut s, last);
        }
    }
    if show_waiting {
        for cp in plan
            .clusters
            .iter()
            .filter(|c| !shown.contains(&c.cluster_id))
        {
            if !cp.waiting.is_empty() {
                let _ = writeln!(s, "{}", plan_header(cp));
                waiting(&mut s, &cp.cluster_id);
            }
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
        let _ = writeln!(s, "{}", apply_summary(plan, report));
    }
    s
}

/// The plan as JSON: each cluster's `status` is its plan state
/// (`converged`, `waiting`, `changes`, `invalid`, `unmanageable`, `paused`).
pub fn plan_json(plan: &Plan) -> serde_json::Value {
    let mut v = body_of(plan);
    if let Some(clusters) = v.get_mut("clusters").and_then(|c| c.as_array_mut()) {
        for (json, cp) in clusters.iter_mut().zip(&plan.clusters) {
            if let Some(o) = json.as_object_mut() {
                o.insert("status".into(), cp.state().as_str().into());
            }
        }
    }
    v
}

fn completion(plan: &Plan, failed_actions: usize) -> Completion {
    if plan.invalid_count() > 0 || failed_actions > 0 {
        Completion::WithProblems
    } else {
        Completion::Clean
    }
}

impl View for DryRun {
    fn text(&self, style: &TextStyle) -> String {
        plan_text(&self.plan, style)
    }

    fn messages(&self) -> Vec<String> {
        let mut out = problems(&self.plan);
        if let Some(path) = &self.saved_to {
            let path = path.display().to_string();
            out.push(super::printable(&format!(
                "note: saved the plan to {path}: `{}` runs exactly its statements, and nothing if \
                 the region calls for others by then",
                crate::model::clusterctl_command(
                    self.plan.schema.as_deref(),
                    &format!("apply --plan {}", crate::model::shell_path(&path))
                )
            )));
        }
        out
    }

    fn body(&self) -> serde_json::Value {
        serde_json::json!({ "plan": plan_json(&self.plan) })
    }

    fn completion(&self) -> Completion {
        match completion(&self.plan, 0) {
            Completion::Clean if self.plan.action_count() > 0 => Completion::ChangesPending,
            other => other,
        }
    }
}

impl View for Applied {
    fn text(&self, style: &TextStyle) -> String {
        let mut s = apply_text(&self.plan, &self.report, style);
        if let Some(p) = &self.pruned {
            let _ = writeln!(
                s,
                "Pruned {} settled audit row{} older than {} (--audit-retention).",
                p.rows_deleted,
                plural(p.rows_deleted),
                p.older_than
            );
        }
        s
    }

    fn messages(&self) -> Vec<String> {
        problems(&self.plan)
    }

    fn body(&self) -> serde_json::Value {
        let mut body =
            serde_json::json!({ "plan": plan_json(&self.plan), "apply": body_of(&self.report) });
        if let (Some(p), Some(o)) = (&self.pruned, body.as_object_mut()) {
            o.insert("pruned".into(), serde_json::json!(p));
        }
        body
    }

    fn completion(&self) -> Completion {
        let interrupted = usize::from(self.report.interrupted);
        completion(
            &self.plan,
            self.report.failed() + self.report.unknown() + interrupted,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, ClusterId, Replica, Snapshot, StrategyRow};

    /// What waits for r1, hydrating.
    fn hydrating_r1() -> crate::strategy::Deferred {
        crate::strategy::Deferred {
            strategy: None,
            action: "hydrate r1".into(),
            reason: "r1 (25cc) is hydrating".into(),
            in_seconds: None,
            limit: false,
            refused: false,
        }
    }

    /// Plain text (no terminal, no colour) at `verbosity`.
    fn plain(verbosity: Verbosity) -> TextStyle {
        TextStyle {
            verbosity,
            table: crate::render::table::Style {
                tty: false,
                color: false,
            },
            wide: false,
            streamed: false,
        }
    }

    /// Two clusters: one at its target size, one whose row is invalid.
    fn converged_and_invalid() -> Plan {
        converged_invalid_and(&[])
    }

    /// Those two, and clusters with no replica whose target is 50cc.
    fn converged_invalid_and(to_create: &[&str]) -> Plan {
        let mut ok = Cluster::empty(ClusterId("u2".into()), "ok");
        ok.replicas.push(Replica {
            id: "u1".into(),
            ..crate::strategy::testutil::replica("r_25cc", "25cc", true)
        });
        let row = |id: &str, config: serde_json::Value| StrategyRow {
            cluster_id: ClusterId(id.into()),
            strategy_type: "target_size".into(),
            config,
            updated_at: None,
            unreadable: None,
        };
        let mut snap = Snapshot {
            sizes: crate::model::SizeCatalog::cloud_defaults(),
            clusters: vec![ok, Cluster::empty(ClusterId("u3".into()), "bad")],
            strategies: vec![
                row("u2", serde_json::json!({"target_size": "25cc"})),
                row("u3", serde_json::json!({"target_size": "huge"})),
            ],
            ..Snapshot::default()
        };
        for (i, name) in to_create.iter().enumerate() {
            let id = format!("u{}", 10 + i);
            snap.clusters
                .push(Cluster::empty(ClusterId(id.clone()), name));
            snap.strategies
                .push(row(&id, serde_json::json!({"target_size": "50cc"})));
        }
        crate::plan::plan(&snap, &crate::plan::PlanOptions::default())
    }

    /// A restart of a cluster that runs no replica (a wake on a release
    /// without graceful resize) takes nothing down: not said "downtime".
    #[test]
    fn a_restart_of_an_empty_cluster_is_not_said_downtime() {
        let a = Action {
            kind: ActionKind::SetSize,
            cluster_id: ClusterId("u2".into()),
            cluster: "m".into(),
            replica: String::new(),
            size: Some(crate::model::Size::from("100cc")),
            replication_factor: None,
            resize: Some(ResizeForm::Restart),
            sql: String::new(),
            strategy: crate::strategy::StrategyKind::TargetSize,
            reasons: Vec::new(),
        };
        assert!(action_line(&a, true, false)
            .ends_with("resize (managed) to 100cc, with a restart (no replica runs: no downtime)"));
        assert!(action_line(&a, false, false).ends_with("with a restart (downtime)"));
        // Nor is a background resize of it said graceful: it takes at once.
        let background = Action {
            resize: Some(ResizeForm::Background),
            ..a
        };
        assert!(action_line(&background, true, false)
            .ends_with("resize (managed) to 100cc, at once (no replica runs)"));
        assert!(action_line(&background, false, false).ends_with("gracefully, in the background"));
        // Its progress line says the same (it said replicas running
        // meanwhile keep serving).
        let done = crate::exec::ActionResult {
            action_id: "a".into(),
            action: background,
            status: crate::exec::ActionStatus::Executed,
        };
        let line = |asleep| progress_line(None, Some(&done), Duration::from_secs(2), asleep, false);
        assert_eq!(
            line(true),
            "m: resize complete after 2s (at once: no replica runs)"
        );
        assert!(line(false).contains("keep serving"), "{}", line(false));
    }

    /// Names and reasons from the database holding a line break are shown
    /// escaped: a replica name drew a plan line of its own (an outside
    /// check: a fake `+ create replica` over the real one).
    #[test]
    fn a_line_break_in_a_plan_line_is_escaped() {
        let mut plan = converged_invalid_and(&["x"]);
        let fake = "r\n  + create replica fake (25cc)";
        for c in plan.clusters.iter_mut().filter(|c| c.cluster == "x") {
            c.actions[0].replica = fake.into();
            c.actions[0].reasons.push(format!("instead of {fake}"));
            c.waiting.push(crate::strategy::Deferred {
                strategy: None,
                action: format!("drop {fake}"),
                reason: "x".into(),
                in_seconds: None,
                limit: false,
                refused: false,
            });
        }
        let text = plan_text(&plan, &plain(Verbosity::Normal));
        let creates = text
            .lines()
            .filter(|l| l.trim_start().starts_with("+ create"))
            .count();
        assert_eq!(creates, 1, "{text}");
        assert!(text.contains("r\\n  + create replica fake"), "{text}");
    }

    /// What holds a cluster in doubt is one of the plan's problems, on
    /// stderr as a warning naming the cluster (a watcher says problems when
    /// they change: a log line of every run repeated it for 16 minutes).
    #[test]
    fn a_cluster_in_doubt_is_a_problem_naming_it() {
        let mut plan = converged_and_invalid();
        for c in plan.clusters.iter_mut().filter(|c| c.cluster == "ok") {
            c.in_doubt = Some(Box::new(crate::plan::doubt::InDoubt {
                reason: "a DROP of r1 may still reach the server".into(),
                until: chrono::DateTime::UNIX_EPOCH,
            }));
        }
        let said = problems(&plan);
        assert!(
            said.contains(
                &"warning: cluster ok (u2): a DROP of r1 may still reach the server".to_string()
            ),
            "{said:?}"
        );
    }

    /// A cluster with an alert and nothing planned is counted `with an
    /// alert`, not converged; what it waits for is still printed.
    #[test]
    fn a_cluster_with_an_alert_is_not_counted_converged() {
        let mut plan = converged_and_invalid();
        for c in plan.clusters.iter_mut().filter(|c| c.cluster == "ok") {
            c.alerts.push("burst: gave up".into());
            c.waiting.push(hydrating_r1());
        }
        let text = plan_text(&plan, &plain(Verbosity::Normal));
        assert!(text.contains("waiting: "), "{text}");
        assert!(
            text.contains("0 clusters converged, 1 with an alert,"),
            "{text}"
        );
    }

    /// A cluster with an alert and changes planned is counted with the
    /// changes, its alert said beside them.
    #[test]
    fn a_changing_cluster_with_an_alert_is_said_so() {
        let mut plan = converged_invalid_and(&["x", "y"]);
        for c in plan.clusters.iter_mut().filter(|c| c.cluster == "x") {
            c.alerts.push("shrink_to_fit: kept".into());
        }
        let text = plan_text(&plan, &plain(Verbosity::Normal));
        assert!(
            text.contains("Plan: 2 to create, 0 to drop, on 2 clusters (1 with an alert). 1 cluster converged,"),
            "{text}"
        );
    }

    /// `-q` keeps the plan's actions and leaves out what waits: a cluster
    /// that only waited printed its header alone, over nothing.
    #[test]
    fn quiet_leaves_out_a_cluster_that_only_waits() {
        let mut plan = converged_invalid_and(&["x"]);
        for c in plan.clusters.iter_mut().filter(|c| c.cluster == "ok") {
            c.waiting.push(hydrating_r1());
        }
        let normal = plan_text(&plan, &plain(Verbosity::Normal));
        assert!(normal.contains("cluster ok (u2)"), "{normal}");
        let quiet = plan_text(&plan, &plain(Verbosity::Quiet));
        assert!(!quiet.contains("cluster ok"), "{quiet}");
        assert!(!quiet.contains("waiting"), "{quiet}");
        assert!(quiet.contains("cluster x (u10)"), "{quiet}");
        assert!(quiet.contains("+ create replica"), "{quiet}");
    }

    /// `apply --watch` (no plan streamed first) says what waits under its
    /// cluster, as `dry-run` does: it said it only for clusters without
    /// actions, in lines of another shape after every result.
    #[test]
    fn apply_says_what_waits_under_its_cluster_as_dry_run_does() {
        let mut plan = converged_invalid_and(&["x"]);
        let wait = |what: &str| crate::strategy::Deferred {
            strategy: None,
            action: format!("hydrate {what}"),
            reason: format!("{what} (25cc) is hydrating"),
            in_seconds: None,
            limit: false,
            refused: false,
        };
        for c in &mut plan.clusters {
            c.waiting.push(wait(&format!("{}-r1", c.cluster)));
        }
        plan.clusters.retain(|c| c.cluster != "bad");
        let report = ApplyReport {
            run_id: uuid::Uuid::nil(),
            results: plan
                .actions()
                .map(|a| ActionResult {
                    action_id: "a".into(),
                    action: a.clone(),
                    status: ActionStatus::Executed,
                })
                .collect(),
            changed_clusters: Vec::new(),
            states_written: 0,
            interrupted: false,
        };
        let style = |streamed| TextStyle {
            verbosity: Verbosity::Normal,
            table: crate::render::table::Style {
                tty: false,
                color: false,
            },
            wide: false,
            streamed,
        };
        // The cluster headers and what waits, in order.
        let shape = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("cluster ") || l.starts_with("  waiting: "))
                .map(|l| l.split(" [").next().unwrap_or(l).to_string())
                .collect()
        };
        let applied = apply_text(&plan, &report, &style(false));
        let planned = plan_text(&plan, &style(false));
        let expected = [
            "cluster ok (u2)",
            "  waiting: hydrate ok-r1: ok-r1 (25cc) is hydrating",
            "cluster x (u10)",
            "  waiting: hydrate x-r1: x-r1 (25cc) is hydrating",
        ];
        assert_eq!(shape(&planned), expected, "{planned}");
        // apply: the cluster with results first, then the others.
        assert_eq!(
            shape(&applied),
            [expected[2], expected[3], expected[0], expected[1]],
            "{applied}"
        );
        assert!(
            applied.contains("cluster x (u10)\n  executed CREATE"),
            "{applied}"
        );
        // Streamed: the plan said it before the actions.
        assert_eq!(
            shape(&apply_text(&plan, &report, &style(true))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn apply_says_where_the_clusters_stand_as_dry_run_does() {
        let plan = converged_and_invalid();
        let report = ApplyReport {
            run_id: uuid::Uuid::nil(),
            results: Vec::new(),
            changed_clusters: Vec::new(),
            states_written: 0,
            interrupted: false,
        };
        let standing = "1 cluster converged, 1 skipped (invalid configuration).";
        assert_eq!(plan_summary(&plan), format!("No changes. {standing}"));
        assert_eq!(
            apply_summary(&plan, &report),
            format!("No changes. {standing} Run {}.", uuid::Uuid::nil())
        );
    }

    #[test]
    fn after_actions_apply_says_how_many_clusters_changed_and_where_the_others_stand() {
        let report = |plan: &Plan, failed: usize| ApplyReport {
            run_id: uuid::Uuid::nil(),
            results: plan
                .actions()
                .enumerate()
                .map(|(i, a)| ActionResult {
                    action_id: format!("a{i}"),
                    action: a.clone(),
                    status: if i < failed {
                        ActionStatus::Failed {
                            error: "refused".into(),
                        }
                    } else {
                        ActionStatus::Executed
                    },
                })
                .collect(),
            changed_clusters: Vec::new(),
            states_written: 0,
            interrupted: false,
        };
        let nil = uuid::Uuid::nil();
        let plan = converged_invalid_and(&["x", "y"]);
        assert_eq!(
            apply_summary(&plan, &report(&plan, 1)),
            format!(
                "Applied 1 of 2 actions on 2 clusters (1 failed). 1 other cluster converged, \
                 1 skipped (invalid configuration). Run {nil}."
            )
        );
        // Nothing else to say of the others: no "0 clusters converged".
        let mut only = converged_invalid_and(&["x"]);
        only.clusters.retain(|c| c.cluster == "x");
        assert_eq!(
            apply_summary(&only, &report(&only, 0)),
            format!("Applied 1 of 1 action on 1 cluster. Run {nil}.")
        );
        // Its alert is said, as the plan's summary says it.
        only.clusters[0].alerts.push("shrink_to_fit: kept".into());
        assert_eq!(
            apply_summary(&only, &report(&only, 0)),
            format!("Applied 1 of 1 action on 1 cluster. It has an alert. Run {nil}.")
        );
        // Skipped actions are counted, and a cluster whose every action
        // was skipped (--max-actions, a stop) was not acted on: "Applied
        // 10 of 67 actions on 67 clusters" over 57 skipped.
        let mut skipped = report(&plan, 0);
        skipped.results[1].status = ActionStatus::Skipped {
            reason: "--max-actions reached".into(),
        };
        assert_eq!(
            apply_summary(&plan, &skipped),
            format!(
                "Applied 1 of 2 actions on 1 cluster (1 skipped). 1 other cluster converged, \
                 1 skipped (invalid configuration). Run {nil}."
            )
        );
        // Every action skipped: acted on no cluster, not "on 0 clusters".
        skipped.results[0].status = ActionStatus::Skipped {
            reason: "already gone".into(),
        };
        assert!(
            apply_summary(&plan, &skipped).starts_with("Applied 0 of 2 actions (2 skipped). "),
            "{}",
            apply_summary(&plan, &skipped)
        );
    }
}
