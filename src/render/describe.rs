//! `describe CLUSTER`: labelled sections like `kubectl describe`
//! (strategies, replicas, signals, planned actions, pending work, history);
//! and its JSON document.

use std::fmt::Write;

use super::history::{action_of, result_cell, time_of, why_of};
use super::table::{self, Cell};
use super::{body_of, short_duration, TextStyle, View};
use crate::commands::describe::Description;
use crate::commands::status::deferred_text;
use crate::model::human_duration;

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Indents every line of a table by two spaces.
fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn describe_text(d: &Description, style: &TextStyle) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Name:        {}", super::printable(&d.cluster));
    let _ = writeln!(
        s,
        "ID:          {}",
        super::printable(&d.cluster_id.to_string())
    );
    match (&d.size, d.replication_factor) {
        (Some(size), Some(rf)) if d.managed => {
            let _ = writeln!(s, "Managed:     yes (SIZE {size}, REPLICATION FACTOR {rf})");
        }
        _ => {
            let _ = writeln!(s, "Managed:     {}", yes_no(d.managed));
        }
    }
    let _ = writeln!(s, "Condition:   {:?}", d.condition);
    let _ = writeln!(s, "Reason:      {}", super::printable(&d.reason));
    if let Some(p) = d.plan {
        let _ = writeln!(s, "Plan:        {}", p.as_str());
    }

    let _ = writeln!(s, "Strategies:");
    if d.strategies.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for st in &d.strategies {
        let updated = st
            .updated_at
            .map(|t| format!("  (updated {})", t.format("%Y-%m-%d %H:%M:%SZ")))
            .unwrap_or_default();
        let config =
            crate::model::StrategyRow::config_text(&st.config, st.config_unreadable.as_deref());
        let ty = super::printable(&st.strategy_type);
        let _ = writeln!(s, "  {ty}: {config}{updated}");
        if !st.state.is_null() {
            let _ = writeln!(s, "    state: {}", st.state);
        }
        if let Some(why) = &st.state_unreadable {
            let _ = writeln!(
                s,
                "    (the state cannot be read: {}; the next apply starts it afresh)",
                super::printable(why)
            );
        }
        for f in &st.findings {
            let _ = writeln!(s, "    {:?}: {}", f.severity, super::printable(&f.message));
        }
        if st.older_rows > 0 {
            let _ = writeln!(
                s,
                "    ({} other row{} ignored: not the newest)",
                st.older_rows,
                crate::model::plural(st.older_rows)
            );
        }
    }
    for f in &d.findings {
        let _ = writeln!(s, "  {:?}: {}", f.severity, super::printable(&f.message));
    }

    let _ = writeln!(s, "Replicas:");
    if d.replicas.is_empty() {
        let _ = writeln!(s, "  none");
    } else {
        let rows: Vec<Vec<Cell>> = d
            .replicas
            .iter()
            .map(|r| {
                vec![
                    Cell::new(r.name.clone()),
                    Cell::new(r.size.clone().unwrap_or_else(|| "?".into())),
                    // A replica still hydrating says how far it got.
                    Cell::new(match (r.hydrated, r.offline, r.objects) {
                        // Down: its objects' count says nothing of a
                        // hydration (it read "no (1/1)": an outside check).
                        (false, true, _) => "no (offline)".to_string(),
                        (false, false, Some(o)) => format!("no ({}/{})", o.hydrated, o.total),
                        _ => yes_no(r.hydrated).to_string(),
                    }),
                    Cell::new(
                        r.age_seconds
                            .map(short_duration)
                            .unwrap_or_else(|| "-".into()),
                    ),
                    Cell::new(r.crashes.to_string()),
                    Cell::new(r.ooms.to_string()),
                ]
            })
            .collect();
        s.push_str(&indent(&table::render_plain(
            &["NAME", "SIZE", "HYDRATED", "AGE", "CRASHES", "OOMS"],
            &rows,
            style.table.color,
        )));
    }

    let _ = writeln!(s, "Signals:");
    let activity = match (d.signals.activity.state, d.signals.activity.idle_seconds) {
        ("new", Some(secs)) => format!(
            "new (no statement seen; idle for {}: since the controller first saw it or, if earlier, the log's silence began while the cluster ran its replicas or had none)",
            human_duration(secs)
        ),
        ("new", None) => "new (no statement seen; idle from the next apply)".into(),
        (_, Some(secs)) => format!("idle for {}", human_duration(secs)),
        ("busy", None) => format!(
            "busy ({} statement{} in flight)",
            d.signals.in_flight,
            crate::model::plural(d.signals.in_flight)
        ),
        ("unknown", None) if d.signals.statement_log_unreadable.is_some() => format!(
            "unknown (the statement log cannot be read: {})",
            d.signals.statement_log_unreadable.as_deref().unwrap_or_default()
        ),
        ("unknown", None) if d.signals.statement_log_has_rows => {
            "unknown (no statement of its own in the statement log; clusterctl's own \
             statements are not counted)"
                .into()
        }
        ("unknown", None) => "unknown (the statement log has no rows)".into(),
        (state, None) => state.to_string(),
    };
    let _ = writeln!(s, "  Activity:  {activity}");
    if let Some(t) = d.signals.last_activity {
        let _ = writeln!(
            s,
            "  Last statement began or ended: {}",
            t.format("%Y-%m-%d %H:%M:%SZ")
        );
    }

    if let Some(p) = &d.prediction {
        describe_prediction(&mut s, p, d.now, style);
    }

    let _ = writeln!(s, "Planned now:");
    if d.actions.is_empty() {
        let _ = writeln!(s, "  nothing");
    }
    for a in &d.actions {
        let _ = writeln!(s, "  {}", super::printable(&a.sql));
        for r in &a.reasons {
            let _ = writeln!(s, "    why: {}: {}", a.strategy, super::printable(r));
        }
    }
    if !d.waiting.is_empty() {
        let _ = writeln!(s, "Waiting:");
        for w in &d.waiting {
            let _ = writeln!(s, "  {}", super::printable(&deferred_text(w)));
        }
    }
    if !d.alerts.is_empty() {
        let _ = writeln!(s, "Alerts:");
        for a in &d.alerts {
            let _ = writeln!(s, "  {}", super::printable(a));
        }
    }
    if !d.notes.is_empty() {
        let _ = writeln!(s, "Notes:");
        for n in &d.notes {
            let _ = writeln!(s, "  {}", super::printable(n));
        }
    }

    let _ = writeln!(s, "History (newest first):");
    if d.history.is_empty() {
        let _ = writeln!(s, "  none");
    } else {
        let rows: Vec<Vec<Cell>> = d
            .history
            .iter()
            .map(|e| {
                vec![
                    Cell::new(time_of(e)),
                    result_cell(e.result),
                    Cell::new(action_of(e)),
                    Cell::new(why_of(e)),
                ]
            })
            .collect();
        s.push_str(&indent(&table::render_plain(
            &["TIME", "RESULT", "ACTION", "WHY"],
            &rows,
            style.table.color,
        )));
    }
    s
}

/// `99.62%`, or `-` when there is nothing to say.
fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_string(), |p| format!("{p:.2}%"))
}

/// The `Demand profile:` section of a predicting cluster.
fn describe_prediction(
    s: &mut String,
    p: &crate::strategy::predict::Prediction,
    now: chrono::DateTime<chrono::Utc>,
    style: &TextStyle,
) {
    let range = format!(
        "{} to {}",
        p.from.format("%Y-%m-%d"),
        p.until.format("%Y-%m-%d")
    );
    if p.windows.is_empty() {
        // Nothing was learned: say what was read, not "learned from".
        if p.days() == 0 {
            let _ = writeln!(s, "Demand profile:");
        } else {
            let _ = writeln!(
                s,
                "Demand profile (read {} of statement history, {range}):",
                p.history
            );
        }
        let _ = writeln!(s, "  {}: waking on demand only", p.without_windows());
    } else {
        let _ = writeln!(
            s,
            "Demand profile (learned from {} of statement history, {range}; times UTC):",
            p.history
        );
        let rows: Vec<Vec<Cell>> = p
            .windows
            .iter()
            .map(|w| {
                vec![
                    Cell::new(w.days.clone()),
                    Cell::new(w.on_demand.clone()),
                    Cell::new(format!("{} ({}..{})", w.onset[1], w.onset[0], w.onset[2])),
                    Cell::new(w.aimed_onset.clone()),
                    Cell::new(pct(w.warm_in_past_pct)),
                    Cell::new(pct(w.held_out_pct)),
                    Cell::new(format!("{} ({}..{})", w.end[1], w.end[0], w.end[2])),
                    Cell::new(human_duration(w.shortest_session_s.max(0) as u64)),
                    Cell::new(format!("{}", w.rate_qps)),
                    Cell::new(w.seen_on_days.to_string()),
                ]
            })
            .collect();
        s.push_str(&indent(&table::render_plain(
            &[
                "PREWARMED",
                "ON DEMAND",
                "STARTS (RANGE)",
                "AIMED AT",
                "WARM IN PAST",
                "HELD OUT",
                "ENDS (RANGE)",
                "SHORTEST SESSION",
                "Q/S",
                "SEEN ON DAYS",
            ],
            &rows,
            style.table.color,
        )));
    }
    let hydration: Vec<String> = p.hydration.iter().map(|e| e.describe()).collect();
    let _ = writeln!(
        s,
        "  Hydration: {}",
        if hydration.is_empty() {
            "none seen yet".to_string()
        } else {
            hydration.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "  Lead:      {} (margin {}, interval {}); {} hit(s), {} miss(es)",
        human_duration(p.lead_s.max(0) as u64),
        human_duration(p.margin_s),
        human_duration(p.interval_s),
        p.hits,
        p.misses
    );
    match (&p.next_demand, p.next_wake) {
        (Some(demand), Some(wake)) => {
            let next_week = next_week(now, wake);
            let _ = writeln!(
                s,
                "  Next:      demand {demand}{next_week}, waking at {}",
                wake.format("%a %Y-%m-%d %H:%MZ")
            );
        }
        _ => {
            let _ = writeln!(s, "  Next:      no demand predicted within a week");
        }
    }
}

impl View for Description {
    fn text(&self, style: &TextStyle) -> String {
        describe_text(self, style)
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

/// ` next week` when the wake is six days or more ahead: "demand Sun
/// 19:35" on a Sunday would read as today's (held warm for already, it is
/// not the next).
fn next_week(
    now: chrono::DateTime<chrono::Utc>,
    wake: chrono::DateTime<chrono::Utc>,
) -> &'static str {
    match wake - now >= chrono::Duration::days(6) {
        true => " next week",
        false => "",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_demand_a_week_ahead_says_so() {
        let t = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap()
        };
        let now = t("2026-12-06T19:32:00Z");
        assert_eq!(
            super::next_week(now, t("2026-12-13T19:23:00Z")),
            " next week"
        );
        assert_eq!(super::next_week(now, t("2026-12-06T19:40:00Z")), "");
        assert_eq!(super::next_week(now, t("2026-12-11T08:00:00Z")), "");
    }
}
