//! `init`, `init --print`, `unlock` and `wipe-state`: one line each (a
//! wipe its audit trail missed adds a warning on stderr); and their JSON
//! documents.

use super::{body_of, plural, TextStyle, View};
use crate::commands::admin::{Unlocked, Wiped};
use crate::commands::init::{InitSql, Initialized};

impl View for Initialized {
    fn text(&self, _style: &TextStyle) -> String {
        let remade = match self.tables_remade.as_slice() {
            [] => String::new(),
            tables => format!(
                "Made again, empty, tables that were missing (dropped by hand?): {}.\n",
                tables.join(", ")
            ),
        };
        if self.migrations_applied.is_empty() {
            return match remade.is_empty() {
                true => "The tables are up to date (nothing to do).\n".to_string(),
                false => remade,
            };
        }
        let v: Vec<String> = self
            .migrations_applied
            .iter()
            .map(|v| v.to_string())
            .collect();
        format!(
            "Created clusterctl's tables (migration{} {} applied) in {}.\n{remade}",
            plural(v.len()),
            v.join(", "),
            match &self.schema {
                Some(s) => format!("schema {s}"),
                None => "the connection's current schema".into(),
            }
        )
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

impl View for InitSql {
    fn text(&self, _style: &TextStyle) -> String {
        self.sql.clone()
    }

    fn is_script(&self) -> bool {
        true
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

impl View for Unlocked {
    fn text(&self, _style: &TextStyle) -> String {
        let until = match self.previous_until {
            Some(t) => format!("until {}", crate::db::lease::until_text(Some(t))),
            None => "with no end: its expiry was infinity".into(),
        };
        let holder = crate::model::printable(&self.previous_holder);
        match (self.broken, self.previous_holder.is_empty()) {
            (true, _) => format!("Broke the lease held by {holder} ({until}).\n"),
            (false, true) => "The lease was free; nothing to break.\n".into(),
            (false, false) => format!(
                "The lease held by {holder} ({until}) was given back, or taken by another run, \
                 before the break reached it: nothing was broken (`clusterctl doctor` says who \
                 holds it now).\n"
            ),
        }
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}

impl View for Wiped {
    fn text(&self, _style: &TextStyle) -> String {
        let scope = match &self.clusters {
            None => "all clusters".to_string(),
            Some(ids) => format!("{} matching cluster{}", ids.len(), plural(ids.len())),
        };
        let n = self.deleted.rows;
        match self.deleted.retried {
            false => format!(
                "Wiped strategy state of {scope} ({n} row{} deleted).\n",
                plural(n as usize)
            ),
            true => format!(
                "Wiped strategy state of {scope} (at least {n} row{} deleted: {}).\n",
                plural(n as usize),
                super::LOST_ANSWER
            ),
        }
    }

    fn messages(&self) -> Vec<String> {
        let mut out = match &self.audit_error {
            Some(e) => vec![format!(
                "warning: the state is wiped, but no audit row records it ({e}); \
                 `history` will not show this wipe"
            )],
            None => Vec::new(),
        };
        // An old cron line's `--cluster ops` wiped nothing, silently (an
        // outside check): there it named the session's cluster.
        if self.clusters.is_some() && self.deleted.rows == 0 {
            out.push(
                "note: the selected clusters had no strategy state; in mz-clusterctl, \
                 `wipe-state --cluster NAME` named the cluster its queries ran on \
                 (`--exec-cluster NAME` here) and wiped every cluster's state, which \
                 `clusterctl wipe-state` without --cluster does"
                    .into(),
            );
        }
        out
    }

    fn body(&self) -> serde_json::Value {
        body_of(self)
    }
}
