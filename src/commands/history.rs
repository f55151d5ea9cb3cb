//! `history`: the audit trail (`mz_cluster_strategy_actions`), newest first:
//! the actions the controller took with the strategy and reasons each
//! carried in `decision_ctx`, the strategy changes operators made
//! (`strategy set|rm|pause|resume`, who, before → after), broken leases
//! (`unlock --force`, whose lease), and wiped state (`wipe-state`, which
//! clusters, how many rows, who). One statement for the rows, one for the
//! cluster names; writes nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{CommandError, Context, TimeBound};
use crate::db::catalog;
use crate::db::store::{ActionFilter, ActionRecord, ActionResult, Bound};
use crate::model::ClusterId;
use crate::plan::select::Bound as SelectionBound;
use crate::plan::{Selection, SelectionError};

/// How much of a run id `history -o wide` shows, and `--run` needs.
pub const RUN_ID_PREFIX: usize = 8;

#[derive(Debug, Clone, Default)]
pub struct HistoryOptions {
    pub selection: Selection,
    /// Only entries newer than this.
    pub since: Option<TimeBound>,
    /// Only entries up to this.
    pub until: Option<TimeBound>,
    /// Only actions on this replica.
    pub replica: Option<String>,
    /// Only actions that failed (or whose outcome was never recorded).
    pub failed: bool,
    /// Only actions of the run whose id starts so (`--run`).
    pub run: Option<String>,
    /// At most this many entries; 0 for all.
    pub limit: u32,
}

/// A strategy row changed by an operator: what it was and what it became.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyChange {
    pub strategy_type: Option<String>,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub by: serde_json::Value,
    /// `strategy mv`: the cluster the rows went to (on the source's row)
    /// or came from (on the destination's), `cluster_id` and `cluster`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_to: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<serde_json::Value>,
    /// `strategy mv`, on the destination's row: what the source's
    /// strategies had learned, carried into its state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carried: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// `None` for a row without a time (written by hand): shown as
    /// `unknown`, last, since nothing says when it was written.
    pub created_at: Option<DateTime<Utc>>,
    pub action_id: String,
    pub run_id: Option<String>,
    pub cluster_id: Option<ClusterId>,
    pub cluster: Option<String>,
    pub result: ActionResult,
    /// `create_replica`, `drop_replica`, …, `strategy_set`, `strategy_rm`,
    /// `strategy_pause`, `strategy_resume`, `strategy_mv`, `unlock`,
    /// `wipe_state`.
    pub kind: Option<String>,
    pub replica: Option<String>,
    pub size: Option<String>,
    pub strategy: Option<String>,
    pub reasons: Vec<String>,
    pub sql: String,
    /// Why it failed, or was not applied or not run.
    pub error: Option<String>,
    /// An action that ran, with a text: a later run's settlement ("found
    /// it applied", "it landed later … corrected it to applied"), or its
    /// retry's finding ([`crate::exec::FOUND_DONE`]). It was
    /// the `error` of an executed row, which a script took for a failure
    /// (an outside check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Strategy changes only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Box<StrategyChange>>,
    /// `unlock` only: whose lease was broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_holder: Option<String>,
    /// `unlock` only: who broke it, as strategy changes and wipes say who
    /// (`{"user", "role"}`; a lease holder's id in rows written before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_by: Option<serde_json::Value>,
    /// `wipe_state` only: whose state was wiped, how much, by whom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wiped: Option<Box<StateWipe>>,
    /// `prune_audit` only: how many rows an `--audit-retention` pruning
    /// deleted, and older than what (as `apply -o json` said it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<Box<super::reconcile::Pruned>>,
    /// `rename_replica` only (a `--watch` process's temporary replica,
    /// renewed): the replica's new name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<String>,
    /// `set_replication_factor` only: the factor set (0: a suspension).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i64>,
}

/// A `wipe-state` run, as its audit row recorded it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateWipe {
    /// `None`: every cluster's state.
    pub clusters: Option<Vec<WipedCluster>>,
    pub rows_deleted: u64,
    /// Its DELETE was retried after an attempt whose answer was lost:
    /// `rows_deleted` is a lower bound.
    pub retried: bool,
    pub by: serde_json::Value,
}

/// A cluster whose state was wiped: its name then, if it had one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WipedCluster {
    pub id: ClusterId,
    pub name: Option<String>,
}

impl StateWipe {
    /// The wipe an audit row recorded. Hand-written rows may hold anything:
    /// entries that are not `{"id": …}` are skipped, never a failure.
    fn of(ctx: &serde_json::Value) -> StateWipe {
        let text = |v: &serde_json::Value, k: &str| v.get(k)?.as_str().map(str::to_string);
        let clusters = ctx.get("clusters").and_then(|c| c.as_array()).map(|list| {
            list.iter()
                .filter_map(|c| {
                    Some(WipedCluster {
                        id: ClusterId(text(c, "id")?),
                        name: text(c, "name"),
                    })
                })
                .collect()
        });
        StateWipe {
            clusters,
            rows_deleted: ctx
                .get("rows_deleted")
                .and_then(|n| n.as_u64())
                .unwrap_or(0),
            retried: ctx.get("retried").and_then(|r| r.as_bool()) == Some(true),
            by: ctx.get("by").cloned().unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    pub entries: Vec<HistoryEntry>,
    /// More entries match than `--limit` showed.
    pub more: bool,
    pub limit: Option<u32>,
    /// Set when `--cluster` named something that is no cluster now: said in
    /// the text rather than an empty table.
    #[serde(skip)]
    pub unknown_cluster: Option<String>,
}

fn bound(b: &TimeBound) -> Bound {
    match b {
        TimeBound::Ago(d) => Bound::SecondsAgo(d.as_secs()),
        TimeBound::At(t) => Bound::At(*t),
    }
}

/// `history`: read-only.
pub async fn history(ctx: &Context, opts: &HistoryOptions) -> Result<HistoryReport, CommandError> {
    let mut backend = ctx.backend();
    let names = backend
        .retrying("reading clusters", async |c| {
            catalog::cluster_names(c).await
        })
        .await?;
    let store = &ctx.store;
    let live = || names.iter().map(|(_, name)| name.as_str());
    let selection = opts.selection.against(live());
    // What no live cluster is: each argument as read against the live
    // names, and a whole value with commas, which may be the recorded name
    // of a dropped cluster (`gone, too`).
    let mut asked: Vec<String> = selection
        .unknown(&names)
        .into_iter()
        .map(str::to_string)
        .collect();
    asked.extend(
        opts.selection
            .names
            .iter()
            .filter(|raw| raw.contains(',') && !live().any(|n| n == raw.as_str()))
            .cloned(),
    );
    // A live cluster's name: the trail's rows recorded under it for other
    // clusters count too (an earlier cluster of that name).
    asked.extend(
        selection
            .args()
            .filter(|a| live().any(|n| n == *a))
            .map(str::to_string),
    );
    let audited = backend
        .retrying("reading the audit trail", async |c| {
            store.audited_clusters(c, &asked).await
        })
        .await?;
    // The names the trail recorded count as names too (the whole-name
    // rule of `Selection::against`, over live and dropped clusters).
    let selection = opts
        .selection
        .against(live().chain(audited.iter().filter_map(|(_, n)| n.as_deref())));
    let uncatalogued: Vec<String> = selection
        .unknown(&names)
        .into_iter()
        .map(str::to_string)
        .collect();
    let ids = selected_ids(&opts.selection, &selection, &names, &audited)?;
    let unknown_cluster = uncatalogued.first().cloned();
    let limit = (opts.limit > 0).then_some(opts.limit);
    if ids
        .as_ref()
        .is_some_and(|s| s.ids.is_empty() && s.recorded.is_empty())
    {
        return Ok(HistoryReport {
            entries: Vec::new(),
            more: false,
            limit,
            unknown_cluster,
        });
    }
    let filter = ActionFilter {
        since: opts.since.as_ref().map(bound),
        until: opts.until.as_ref().map(bound),
        failed_only: opts.failed,
        clusters: ids.as_ref().map(|s| s.ids.as_slice()),
        recorded: ids.as_ref().map_or(&[], |s| s.recorded.as_slice()),
        replica: opts.replica.as_deref(),
        run: opts.run.as_deref(),
        kind_prefix: None,
        // One more than shown tells whether more exist.
        limit: limit.map(|l| l.saturating_add(1)),
    };
    let by_id = names_by_id(&names);
    // Each row made an entry as it comes: never all the rows at once.
    let mut entries = match backend
        .retrying("reading the audit trail", async |c| {
            store.actions_as(c, &filter, |r| entry_of(r, &by_id)).await
        })
        .await
    {
        Err(e) => return Err(backend.explain_missing(e).await.into()),
        Ok(entries) => entries,
    };
    let more = limit.is_some_and(|l| entries.len() > l as usize);
    if let Some(l) = limit {
        entries.truncate(l as usize);
    }
    Ok(HistoryReport {
        entries,
        more,
        limit,
        unknown_cluster,
    })
}

/// What the kind of every strategy change's audit row starts with
/// (`strategy_set`, `strategy_mv`, …: the command, by `strategy::audit`).
pub const STRATEGY_CHANGE: &str = crate::db::store::STRATEGY_CHANGE;

/// The ids a selection (`bound`: read against `names`) stands for: names
/// and ids of clusters that exist, and the clusters the audit trail
/// recorded under a live cluster's name (`audited`, see
/// `Store::audited_clusters`): a name's history is that of the cluster
/// holding it now, across renames (rows follow the id), and that of those
/// that held it before while they held it (a blue/green swap moves a
/// workload to another id, as does a cluster dropped and created again;
/// what the other side of a swap did under its new name is not this
/// name's, nor what a cluster renamed from it did since, whether or not
/// another holds the name now); plus clusters that no longer exist
/// but that the trail knows by that id or recorded name: their history
/// stays readable. A name neither knows is a usage error, as `--cluster` is
/// for every command.
pub fn selected_ids(
    sel: &Selection,
    bound: &SelectionBound,
    names: &[(ClusterId, String)],
    audited: &[(ClusterId, Option<String>)],
) -> Result<Option<Selected>, CommandError> {
    if sel.is_all() {
        return Ok(None);
    }
    let mut ids: Vec<ClusterId> = names
        .iter()
        .filter(|(id, name)| bound.matches_id(id, Some(name)))
        .map(|(id, _)| id.clone())
        .collect();
    let mut recorded: Vec<(ClusterId, String)> = Vec::new();
    for n in bound
        .args()
        .filter(|a| names.iter().any(|(_, name)| name == a))
    {
        for (id, _) in audited.iter().filter(|(_, r)| r.as_deref() == Some(n)) {
            recorded.push((id.clone(), n.to_string()));
        }
    }
    let mut unknown = Vec::new();
    for n in bound.unknown(names) {
        let known: Vec<&ClusterId> = audited
            .iter()
            .filter(|(id, recorded)| id.0 == n || recorded.as_deref() == Some(n))
            .map(|(id, _)| id)
            .collect();
        if known.is_empty() {
            let catalog: Vec<&str> = names.iter().map(|(_, name)| name.as_str()).collect();
            let hint = SelectionError::unknown_hint(n, &catalog, true, None);
            unknown.push((n.to_string(), hint));
            continue;
        }
        for id in known {
            // A live cluster that held this name before a rename: only its
            // rows under the name, as when another holds the name now
            // (what it did under its new name is that name's). A dropped
            // one, or one named by its id: all of it.
            let renamed = id.0 != n && names.iter().any(|(live, _)| live == id);
            if renamed {
                recorded.push((id.clone(), n.to_string()));
            } else if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    if let Some(e) = SelectionError::of_unknown(unknown) {
        return Err(CommandError::Usage(e.to_string()));
    }
    // A cluster selected whole needs no rows picked by name.
    recorded.retain(|(id, _)| !ids.contains(id));
    recorded.dedup();
    Ok(Some(Selected { ids, recorded }))
}

/// The clusters a `history` selection reads: `ids` whole, and the rows of
/// `recorded` clusters under the name given (an earlier holder of it).
#[derive(Debug, Default, PartialEq)]
pub struct Selected {
    pub ids: Vec<ClusterId>,
    pub recorded: Vec<(ClusterId, String)>,
}

/// One audit row as an entry, whatever wrote it.
/// Each cluster's name now, by id: what [`entry_of`] names a row's cluster
/// by (a scan of the clusters per row was 200 million comparisons for
/// 70 000 rows of a 3 000-cluster fleet).
pub type NamesById<'a> = std::collections::HashMap<&'a ClusterId, &'a str>;

/// [`NamesById`] of `names`.
pub fn names_by_id(names: &[(ClusterId, String)]) -> NamesById<'_> {
    names.iter().map(|(id, n)| (id, n.as_str())).collect()
}

pub fn entry_of(r: ActionRecord, names: &NamesById<'_>) -> HistoryEntry {
    let cluster = r
        .cluster_id
        .as_ref()
        .and_then(|id| names.get(id).map(|n| n.to_string()))
        .or_else(|| r.ctx_text("cluster"));
    let kind = r.ctx_text("kind");
    let change = kind
        .as_deref()
        .is_some_and(|k| k.starts_with(STRATEGY_CHANGE))
        .then(|| StrategyChange {
            strategy_type: r.ctx_text("strategy_type"),
            before: r
                .decision_ctx
                .get("before")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            after: r
                .decision_ctx
                .get("after")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            by: r
                .decision_ctx
                .get("by")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
            moved_to: r.decision_ctx.get("moved_to").cloned(),
            moved_from: r.decision_ctx.get("moved_from").cloned(),
            carried: r.decision_ctx.get("carried").cloned(),
        });
    let previous_holder = (kind.as_deref() == Some("unlock")).then(|| {
        let holder = r.ctx_text("previous_holder").unwrap_or_default();
        if holder.is_empty() {
            "nobody (the lease was free)".to_string()
        } else {
            holder
        }
    });
    let broken_by = previous_holder
        .as_ref()
        .and_then(|_| r.decision_ctx.get("by").cloned());
    let wiped =
        (kind.as_deref() == Some(super::admin::WIPE_KIND)).then(|| StateWipe::of(&r.decision_ctx));
    let pruned = (kind.as_deref() == Some(super::reconcile::PRUNE_KIND))
        .then(|| super::reconcile::Pruned::recorded(&r.decision_ctx));
    let renamed_to = r.ctx_text("renamed_to");
    let executed = r.result == ActionResult::Executed;
    HistoryEntry {
        created_at: r.created_at,
        run_id: r.ctx_text("run_id"),
        cluster,
        result: r.result,
        kind,
        replica: r.ctx_text("replica").filter(|s| !s.is_empty()),
        size: r.ctx_text("size"),
        strategy: r.ctx_text("strategy"),
        reasons: r
            .decision_ctx
            .get("reasons")
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            // mz-clusterctl's rows carry one `reason`.
            .or_else(|| r.ctx_text("reason").map(|reason| vec![reason]))
            .unwrap_or_default(),
        action_id: r.action_id,
        cluster_id: r.cluster_id.filter(|id| !id.0.is_empty()),
        sql: r.action_sql,
        error: r.error.clone().filter(|_| !executed),
        note: r.error.filter(|_| executed),
        change: change.map(Box::new),
        previous_holder,
        broken_by,
        wiped: wiped.map(Box::new),
        pruned: pruned.map(Box::new),
        renamed_to,
        replication_factor: r
            .decision_ctx
            .get("replication_factor")
            .and_then(serde_json::Value::as_i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ClusterId {
        ClusterId(s.into())
    }

    /// `history --cluster ARG` against live `analytics` (u2) and
    /// `analytics_dbt_deploy` (u1), after a swap, and a dropped `gone` (u9).
    fn select(arg: &str) -> Result<Option<Selected>, CommandError> {
        let names = vec![
            (id("u1"), "analytics_dbt_deploy".to_string()),
            (id("u2"), "analytics".to_string()),
        ];
        let audited = vec![
            (id("u1"), Some("analytics".to_string())),
            (id("u2"), Some("analytics_dbt_deploy".to_string())),
            (id("u9"), Some("gone".to_string())),
            // u2 was `blue` before a rename; no cluster holds it now.
            (id("u2"), Some("blue".to_string())),
        ];
        let sel = Selection {
            names: vec![arg.to_string()],
            pattern: None,
        };
        let bound = sel.against(names.iter().map(|(_, n)| n.as_str()));
        selected_ids(&sel, &bound, &names, &audited)
    }

    #[test]
    fn a_name_selects_its_holder_whole_and_earlier_holders_under_it() {
        let s = select("analytics").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            s,
            Some(Selected {
                ids: vec![id("u2")],
                recorded: vec![(id("u1"), "analytics".into())],
            })
        );
        // An id is that cluster alone.
        let s = select("u1").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            s,
            Some(Selected {
                ids: vec![id("u1")],
                recorded: Vec::new(),
            })
        );
        // A dropped cluster by the name its rows recorded, whole.
        let s = select("gone").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            s,
            Some(Selected {
                ids: vec![id("u9")],
                recorded: Vec::new(),
            })
        );
        // A live cluster's former name, which no cluster holds now: its
        // rows under that name only, as when another holds it (second
        // outside check: it showed what it did as `analytics` too).
        let s = select("blue").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            s,
            Some(Selected {
                ids: Vec::new(),
                recorded: vec![(id("u2"), "blue".into())],
            })
        );
        assert!(matches!(select("never"), Err(CommandError::Usage(_))));
        // No selection: every cluster.
        let all = Selection::all();
        let bound = all.against(std::iter::empty());
        assert_eq!(selected_ids(&all, &bound, &[], &[]).ok(), Some(None));
    }
}
