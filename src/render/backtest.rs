//! `simulate --from-history`: the simulator's report as it printed it, the
//! notes on how the scenario was built on stderr, and in JSON the report
//! with `from_history` (window, clusters, file written, notes).

use super::{TextStyle, View};
use crate::commands::backtest::Backtest;
use crate::sim::history;

impl View for Backtest {
    fn text(&self, _style: &TextStyle) -> String {
        self.report.clone()
    }

    fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = self.notes.iter().map(|n| format!("note: {n}")).collect();
        if let Some(path) = &self.out {
            out.push(format!(
                "{} {} (replay it with `clusterctl simulate {}`)",
                if self.overwrote { "overwrote" } else { "wrote" },
                path.display(),
                path.display()
            ));
        }
        out
    }

    /// The simulator's JSON, plus `from_history`: how it was built.
    fn body(&self) -> serde_json::Value {
        let mut v: serde_json::Value =
            serde_json::from_str(&self.report).unwrap_or(serde_json::Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.remove("format_version");
            o.insert(
                "from_history".into(),
                serde_json::json!({
                    "days": self.days,
                    "history_days": history::history_ms(self.days) as f64
                        / crate::sim::scenario::DAY as f64,
                    "clusters": self.clusters,
                    "out": self.out.as_ref().map(|p| p.display().to_string()),
                    "overwrote": self.overwrote,
                    "notes": self.notes,
                }),
            );
        }
        v
    }
}
