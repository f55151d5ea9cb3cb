//! `check`: every strategy row validated against the live environment by
//! the planner's own validator (`plan::rows`), plus the clusters the
//! controller would leave alone. Reads one snapshot; writes nothing.

use serde::Serialize;

use super::{CommandError, Context};
use crate::model::{ClusterId, Snapshot};
use crate::plan::rows::{self, Code, Severity};
use crate::plan::{rules, Selection, SelectionError};

/// One problem, with the cluster it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub code: Code,
    pub cluster_id: ClusterId,
    /// `None` when the cluster does not exist.
    pub cluster: Option<String>,
    pub strategy_type: Option<String>,
    pub message: String,
}

/// The result of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub rows_checked: usize,
    pub clusters_checked: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
    /// The activity signal: readable, sample rate, what it means.
    pub statement_log: rules::StatementLog,
    /// A pattern that selected no cluster with strategies, said on stderr
    /// (the JSON document's `clusters_checked` is 0).
    #[serde(skip)]
    pub nothing_selected: Option<String>,
}

/// Validates every row in effect (and counts the ignored older ones).
/// Pure: the snapshot only.
pub fn check_snapshot(snap: &Snapshot, selection: &Selection) -> CheckReport {
    let by_id = snap.cluster_index();
    let mut findings = Vec::new();
    let mut rows_checked = 0;
    let mut clusters_checked = 0;
    let selection_in = selection.in_snapshot(snap);
    for (id, in_effect) in rows::in_effect(&snap.strategies) {
        let cluster = by_id.get(&id).map(|&i| &snap.clusters[i]);
        if !selection_in.matches_id(&id, cluster.map(|c| c.name.as_str())) {
            continue;
        }
        clusters_checked += 1;
        rows_checked += in_effect.iter().map(|r| 1 + r.older).sum::<usize>();
        let name = cluster.map(|c| c.name.clone());
        let finding = |severity, code, strategy_type, message| Finding {
            severity,
            code,
            cluster_id: id.clone(),
            cluster: name.clone(),
            strategy_type,
            message,
        };
        let validated = rows::validate_in(snap, &id, cluster, &in_effect);
        if let Some(c) = cluster {
            for (code, ty, message) in rules::environment_findings(snap, c, &validated.configs) {
                // The line names the type already (`…: burst: …`): once.
                let message = ty
                    .and_then(|t| message.strip_prefix(t)?.strip_prefix(": "))
                    .map_or_else(|| message.clone(), str::to_string);
                let ty = ty.map(str::to_string);
                findings.push(finding(Severity::Warning, code, ty, message));
            }
        }
        for f in validated.findings {
            findings.push(finding(f.severity, f.code, f.strategy_type, f.message));
        }
        if let Some(reason) = cluster.and_then(|c| rules::unmanageable(snap, c)) {
            findings.push(finding(
                Severity::Warning,
                Code::Unmanageable,
                None,
                format!("has strategies but the controller leaves it alone: {reason}"),
            ));
        }
    }
    findings.sort_by(|a, b| {
        (&a.cluster, &a.cluster_id, a.severity).cmp(&(&b.cluster, &b.cluster_id, b.severity))
    });
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    CheckReport {
        rows_checked,
        clusters_checked,
        errors,
        warnings: findings.len() - errors,
        findings,
        statement_log: rules::statement_log(snap, |id| {
            let name = by_id.get(id).map(|&i| snap.clusters[i].name.as_str());
            selection_in.matches_id(id, name)
        }),
        nothing_selected: selection.nothing_selected(clusters_checked),
    }
}

/// `check`: read-only.
pub async fn check(ctx: &Context, selection: &Selection) -> Result<CheckReport, CommandError> {
    let snap = crate::exec::Backend::snapshot(&mut ctx.backend()).await?;
    selection.check(&snap, true, true).map_err(|e| {
        // mz-clusterctl had no `check`: its `--cluster` is no hint here.
        let e = match e {
            SelectionError::NoStrategies { arg, cluster, .. } => SelectionError::NoStrategies {
                arg,
                cluster,
                reference_hint: false,
            },
            e => e,
        };
        CommandError::Usage(e.to_string())
    })?;
    Ok(check_snapshot(&snap, selection))
}
