//! `status`: a table of clusters (condition, replicas, what the controller
//! wants, idle time, last action, reason), boxed and coloured on a
//! terminal, plain when piped; and its JSON document.

use super::table::{self, Cell, Tone};
use super::{body_of, TextStyle, View};
use crate::commands::status::{Condition, ReplicaStatus, StatusReport};
use crate::db::store::ActionResult;

fn tone(c: Condition) -> Tone {
    match c {
        Condition::Converged => Tone::Good,
        Condition::Invalid | Condition::CrashLooping => Tone::Bad,
        Condition::Unconfigured | Condition::Suspended => Tone::Dim,
        Condition::NotManageable => Tone::Dim,
        _ => Tone::Warn,
    }
}

/// A short age: 45s, 12m, 3h5m, 2d3h.
pub fn short_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if d > 0 && h > 0 => format!("{d}d{h}h"),
        _ if d > 0 => format!("{d}d"),
        _ if h > 0 && m > 0 => format!("{h}h{m}m"),
        _ if h > 0 => format!("{h}h"),
        _ if m > 0 => format!("{m}m"),
        _ => format!("{s}s"),
    }
}

fn replica_text(r: &ReplicaStatus) -> String {
    let mut parts = vec![r.size.clone().unwrap_or_else(|| "?".into())];
    parts.push(
        match (r.hydrated, r.offline) {
            (true, _) => "hydrated",
            (false, true) => "offline",
            (false, false) => "hydrating",
        }
        .into(),
    );
    // The OOM kills are among the crashes: `5 crashes (5 OOM)`, not
    // `5 crashes, 5 OOM`, which read as ten events (an outside check).
    if r.crashes > 0 {
        let of_them = match r.ooms {
            0 => String::new(),
            n => format!(" ({n} OOM)"),
        };
        parts.push(format!(
            "{} crash{}{of_them}",
            r.crashes,
            if r.crashes == 1 { "" } else { "es" }
        ));
    } else if r.ooms > 0 {
        parts.push(format!("{} OOM", r.ooms));
    }
    format!("{} ({})", r.name, parts.join(", "))
}

fn list_or_none(items: Vec<String>) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// `1/2`: hydrated replicas of all replicas (kubectl's READY).
fn ready(c: &crate::commands::status::ClusterStatus) -> String {
    let hydrated = c.replicas.iter().filter(|r| r.hydrated).count();
    format!("{hydrated}/{}", c.replicas.len())
}

/// The reason's room, at the least, in the narrow view.
const MIN_REASON: usize = 24;

/// The narrow table: CLUSTER, CONDITION, REPLICAS, AGE, REASON, within
/// `width` columns (the reason is cut to fit, and a cluster name too long
/// to leave it [`MIN_REASON`]; `-o wide` shows both whole).
fn narrow(r: &StatusReport, style: table::Style, width: usize) -> String {
    let rows: Vec<Vec<Cell>> = r
        .clusters
        .iter()
        .map(|c| {
            vec![
                Cell::new(c.cluster.clone()),
                Cell::tone(format!("{:?}", c.condition), tone(c.condition)),
                Cell::new(ready(c)),
                Cell::new(
                    c.age_seconds
                        .map(short_duration)
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::new(c.reason.clone()),
            ]
        })
        .collect();
    let headers = ["CLUSTER", "CONDITION", "REPLICAS", "AGE", "REASON"];
    let column = |rows: &[Vec<Cell>], i: usize| -> usize {
        rows.iter()
            .map(|row| crate::model::display_width(&row[i].text))
            .chain(std::iter::once(headers[i].len()))
            .max()
            .unwrap_or(0)
            + 2
    };
    // A cluster name is cut to leave the reason room (MIN_REASON) within
    // the width: a 200-character name made every line 230 wide (`-o wide`
    // shows names whole).
    let fixed: usize = (1..4).map(|i| column(&rows, i)).sum();
    let name_room = width.saturating_sub(fixed + MIN_REASON + 2).max(12);
    let mut rows = rows;
    for row in &mut rows {
        row[0].text = crate::model::fit_width(&row[0].text, name_room);
    }
    // Room left for the reason after the other columns and their gaps.
    let used = column(&rows, 0) + fixed;
    let room = width.saturating_sub(used).max(8);
    let rows: Vec<Vec<Cell>> = rows
        .into_iter()
        .map(|mut row| {
            row[4].text = crate::model::fit_width(&row[4].text, room);
            row
        })
        .collect();
    table::render_plain(&headers, &rows, style.color)
}

fn wide(r: &StatusReport, style: table::Style) -> String {
    let rows: Vec<Vec<Cell>> = r
        .clusters
        .iter()
        .map(|c| {
            let idle = match (c.activity.state, c.activity.idle_seconds) {
                ("new", Some(s)) => format!("new ({})", short_duration(s)),
                (_, Some(s)) => short_duration(s),
                (state, None) => state.to_string(),
            };
            let last = match &c.last_action {
                None => "-".to_string(),
                Some(a) => {
                    let what = match (&a.kind, &a.replica) {
                        (Some(k), Some(r)) if !r.is_empty() => {
                            format!("{} {r}", k.strip_suffix("_replica").unwrap_or(k))
                        }
                        (Some(k), _) => k.replace('_', " "),
                        _ => a.sql.clone(),
                    };
                    let result = match a.result {
                        ActionResult::Executed => "",
                        ActionResult::Failed => " (failed)",
                        ActionResult::Skipped => " (skipped)",
                        ActionResult::Unknown => " (outcome unknown)",
                    };
                    format!("{what}{result} {} ago", short_duration(a.seconds_ago))
                }
            };
            vec![
                Cell::new(c.cluster.clone()),
                Cell::new(c.cluster_id.0.clone()),
                Cell::tone(format!("{:?}", c.condition), tone(c.condition)),
                Cell::new(list_or_none(c.replicas.iter().map(replica_text).collect())),
                Cell::new(list_or_none(
                    c.desired
                        .iter()
                        .map(|w| format!("{} ({})", w.name, w.size.as_deref().unwrap_or("?")))
                        .collect(),
                )),
                Cell::new(list_or_none(c.strategies.clone())),
                Cell::new(idle),
                Cell::new(last),
                Cell::new(c.reason.clone()),
            ]
        })
        .collect();
    let mut headers = vec![
        "CLUSTER",
        "ID",
        "CONDITION",
        "REPLICAS",
        "WANT",
        "STRATEGIES",
        "IDLE",
        "LAST ACTION",
        "REASON",
    ];
    // The learned demand, when a cluster predicts it.
    let rows = if r.clusters.iter().any(|c| c.predicted.is_some()) {
        headers.push("PREDICTED");
        rows.into_iter()
            .zip(&r.clusters)
            .map(|(mut row, c)| {
                row.push(Cell::new(c.predicted.clone().unwrap_or_else(|| "-".into())));
                row
            })
            .collect()
    } else {
        rows
    };
    table::render_plain(&headers, &rows, style.color)
}

fn status_text(r: &StatusReport, style: &TextStyle) -> String {
    if r.clusters.is_empty() && r.filtered && !r.counts.is_empty() {
        return format!("No cluster in the conditions asked for. {}\n", r.totals());
    }
    if r.clusters.is_empty() {
        return "No clusters with strategies (use --all to list every user cluster).\n".into();
    }
    let mut s = if style.wide {
        wide(r, style.table)
    } else {
        let width = if style.table.tty {
            terminal_size::terminal_size()
                .map(|(w, _)| usize::from(w.0))
                .unwrap_or(80)
        } else {
            80
        };
        narrow(r, style.table, width)
    };
    // The fleet's totals under a table of several clusters, or of some.
    if r.filtered || r.clusters.len() > 1 {
        s.push_str(&r.totals());
        s.push('\n');
    }
    s
}

impl View for StatusReport {
    fn text(&self, style: &TextStyle) -> String {
        status_text(self, style)
    }

    fn messages(&self) -> Vec<String> {
        let warnings = self.warnings.iter().map(|w| format!("warning: {w}"));
        let notes = self.statement_log.note.iter().map(|n| format!("note: {n}"));
        warnings.chain(notes).collect()
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(45), "45s");
        assert_eq!(short_duration(720), "12m");
        assert_eq!(short_duration(3600 * 3 + 300), "3h5m");
        assert_eq!(short_duration(86400 * 2 + 3600 * 3), "2d3h");
        assert_eq!(short_duration(86400), "1d");
    }

    #[test]
    fn the_oom_kills_are_said_among_the_crashes() {
        let r = |crashes: u32, ooms: u32| {
            replica_text(&ReplicaStatus {
                name: "r".into(),
                size: Some("50cc".into()),
                hydrated: true,
                offline: false,
                crashes,
                ooms,
            })
        };
        assert_eq!(r(5, 5), "r (50cc, hydrated, 5 crashes (5 OOM))");
        assert_eq!(r(1, 0), "r (50cc, hydrated, 1 crash)");
        assert_eq!(r(0, 0), "r (50cc, hydrated)");
        // Down, not starting: offline, not hydrating (an outside check).
        let down = |offline| {
            replica_text(&ReplicaStatus {
                name: "r".into(),
                size: Some("50cc".into()),
                hydrated: false,
                offline,
                crashes: 0,
                ooms: 0,
            })
        };
        assert_eq!(down(true), "r (50cc, offline)");
        assert_eq!(down(false), "r (50cc, hydrating)");
    }
}
