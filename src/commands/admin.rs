//! Troubleshooting: `unlock --force` (break the controller lease, audited)
//! and `wipe-state` (forget strategy state, under the lease; audited).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{with_lease, CommandError, Context, LeaseOptions, Leased};
use crate::db::catalog;
use crate::db::lease;
use crate::db::live::LiveBackend;
use crate::db::store::{Deleted, Done, Stamp, NEWEST_CLUSTER};
use crate::db::DbError;
use crate::model::ClusterId;
use crate::plan::{Selection, SelectionError};

/// Whose lease `unlock --force` broke.
#[derive(Debug, Clone, Serialize)]
pub struct Unlocked {
    /// Whether a lease was broken. `false`: it was free (the holder is then
    /// empty and the time the epoch, as in format_version 2 from the
    /// start), or the lease read (its holder and time) ended before the
    /// break reached it (given back, or taken by another run: nothing is
    /// broken then, [`lease::force_release`]).
    pub broken: bool,
    /// Empty when the lease was free.
    pub previous_holder: String,
    /// `None` (null) for a lease held until broken (`lease::Row::until`).
    pub previous_until: Option<DateTime<Utc>>,
}

/// `unlock --force`: break the lease whoever holds it, as read; audited. Never
/// creates tables: without them there is no lease to break, and it says so
/// as every command that needs them does. A free lease is left alone and
/// nothing is audited (there was nobody's lease to break).
pub async fn unlock(ctx: &Context) -> Result<Unlocked, CommandError> {
    let mut backend = ctx.backend();
    let store = &ctx.store;
    let mut seen = None;
    let attempt = backend.statement_timeout();
    let broken = match backend
        .retrying("breaking the lease", async |c| {
            lease::force_release(c, store, &mut seen, attempt).await
        })
        .await
    {
        Err(e) => return Err(backend.explain_missing(e).await.into()),
        Ok(broken) => broken,
    };
    let (broken, previous) = match broken {
        lease::Broken::Free => (false, lease::Row::free()),
        lease::Broken::Ended(read) => (false, read),
        lease::Broken::Broke(previous) => {
            audit_unlock(&mut backend, ctx, &previous).await?;
            (true, previous)
        }
    };
    Ok(Unlocked {
        broken,
        previous_holder: previous.holder,
        previous_until: previous.until,
    })
}

/// The audit row of a broken lease: whose it was, until when, who broke it.
async fn audit_unlock(
    backend: &mut LiveBackend<'_>,
    ctx: &Context,
    previous: &lease::Row,
) -> Result<(), CommandError> {
    let row = super::operator_row(
        &ctx.opts,
        ctx.run_id,
        "unlock",
        ClusterId(String::new()),
        "-- clusterctl unlock --force".into(),
        serde_json::json!({
            "previous_holder": previous.holder,
            "previous_until": previous.until,
        }),
        // The database's clock, as the runs' audit rows (`Backend::now`).
        previous.db_now,
    );
    backend.audit_done(&row, Done::OK, Stamp::Row).await?;
    Ok(())
}

/// What `wipe-state` deleted.
#[derive(Debug, Clone, Serialize)]
pub struct Wiped {
    /// The clusters selected by the filter; `None` = all clusters.
    pub clusters: Option<Vec<ClusterId>>,
    /// The rows deleted (a lower bound when the DELETE was retried after
    /// a lost answer: audited whatever it counts).
    #[serde(flatten)]
    pub deleted: Deleted,
    /// Its audit row was written (a wipe that deleted nothing, at its
    /// first attempt, has none).
    pub audited: bool,
    /// Why the audit row of a wipe that deleted rows could not be written:
    /// the wipe stands, and says so in a warning.
    pub audit_error: Option<String>,
}

pub use crate::db::store::WIPE_KIND;

/// A cluster whose state a wipe selected: its id, and its name when a
/// cluster has that id (`None` for the id of a dropped cluster).
type Selected = (ClusterId, Option<String>);

/// `wipe-state`: all state, or that of the selected clusters. Never
/// creates tables: with none, there is no state to wipe (the lease read
/// fails and says so). A lease held by another controller is an error:
/// nothing was wiped. A wipe that deleted rows is audited (who, which
/// clusters, how many rows): the strategies then act on fresh state, and
/// whoever reads `history` afterwards learns why. The delete is done by
/// then, so a failed audit write is a warning, not a failed wipe.
pub async fn wipe_state(
    ctx: &Context,
    selection: &Selection,
    lease: &LeaseOptions,
) -> Result<Wiped, CommandError> {
    let mut backend = ctx.backend();
    let store = &ctx.store;
    let wiped = with_lease(
        &mut backend,
        lease,
        ctx.run_id,
        "wipe-state",
        async |backend| {
            let selected = select_for_wipe(backend, store, selection).await?;
            // A wipe of all names the newest cluster then: `history
            // --cluster` of one created since leaves it out.
            let newest = match selected {
                Some(_) => None,
                None => newest_cluster(backend).await?,
            };
            let ids: Option<Vec<ClusterId>> = selected
                .as_ref()
                .map(|s| s.iter().map(|(id, _)| id.clone()).collect());
            let deleted = match &ids {
                Some(ids) if ids.is_empty() => Deleted::default(),
                _ => {
                    backend
                        .writing("wiping state", async |c, a| {
                            store.wipe_states(c, ids.as_deref(), a).await
                        })
                        .await?
                }
            };
            let audit = match deleted.maybe_any() {
                false => None,
                true => {
                    let whose = Whose {
                        selected: selected.as_deref(),
                        newest,
                    };
                    Some(audit_wipe(backend, ctx, selection, whose, deleted).await)
                }
            };
            Ok(Wiped {
                clusters: ids,
                deleted,
                audited: matches!(audit, Some(Ok(()))),
                audit_error: audit.and_then(Result::err).map(|e| e.to_string()),
            })
        },
    )
    .await;
    let wiped = match wiped {
        Err(CommandError::Db(e)) => {
            return Err(match backend.explain_missing(e).await {
                DbError::TablesMissing { where_, init } => CommandError::TablesMissing(format!(
                    "clusterctl's tables are missing ({where_} does not exist): `{init}` \
                     makes them (wipe-state never does: it takes the lease and writes the \
                     audit trail, and with no tables there is no state to wipe)"
                )),
                e => e.into(),
            })
        }
        other => other?,
    };
    match wiped {
        Leased::Ran(w) => Ok(w),
        Leased::Busy {
            holder,
            until,
            waited,
            ..
        } => Err(CommandError::LeaseBusy {
            holder,
            schema: ctx.store.schema().map(str::to_string),
            until,
            waited,
        }),
    }
}

/// The clusters a selection stands for (`None`: all of them), with their
/// names. An exact name that is no cluster may be the id of a dropped
/// cluster whose state is still there; otherwise it is a mistake.
async fn select_for_wipe(
    backend: &mut LiveBackend<'_>,
    store: &crate::db::store::Store,
    selection: &Selection,
) -> Result<Option<Vec<Selected>>, CommandError> {
    if selection.is_all() {
        return Ok(None);
    }
    let names = backend
        .retrying("reading clusters", async |c| {
            catalog::cluster_names(c).await
        })
        .await?;
    let bound = selection.against(names.iter().map(|(_, name)| name.as_str()));
    let mut selected: Vec<Selected> = names
        .iter()
        .filter(|(id, name)| bound.matches_id(id, Some(name)))
        .map(|(id, name)| (id.clone(), Some(name.clone())))
        .collect();
    let unknown: Vec<String> = bound
        .unknown(&names)
        .into_iter()
        .map(str::to_string)
        .collect();
    if unknown.is_empty() {
        return Ok(Some(selected));
    }
    let with_state = backend
        .retrying("reading state", async |c| {
            store.state_ids(c, &unknown).await
        })
        .await?;
    let mut none = Vec::new();
    for arg in &unknown {
        let id = ClusterId(arg.clone());
        if !with_state.contains(&id) {
            let names: Vec<&str> = names.iter().map(|(_, n)| n.as_str()).collect();
            none.push((
                arg.to_string(),
                format!(
                    ", and no state row names it{}",
                    crate::strategy::keys::did_you_mean(arg, &names)
                ),
            ));
            continue;
        }
        selected.push((id, None));
    }
    match SelectionError::of_unknown(none) {
        Some(e) => Err(CommandError::Usage(e.to_string())),
        None => Ok(Some(selected)),
    }
}

/// A wipe's audit details: `retried` only when it was (rows written
/// before it existed, and every first attempt's, read as not retried).
/// The user cluster numbered highest now (`None` without any): every
/// cluster there is was created by then.
async fn newest_cluster(backend: &mut LiveBackend<'_>) -> Result<Option<ClusterId>, CommandError> {
    let names = backend
        .retrying("reading clusters", async |c| {
            catalog::cluster_names(c).await
        })
        .await?;
    Ok(names
        .into_iter()
        .filter_map(|(id, _)| Some((id.user_number()?, id)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, id)| id))
}

/// Whose state a wipe deleted: the clusters selected, or (`None`) all of
/// those there were, the newest of which is `newest`.
struct Whose<'a> {
    selected: Option<&'a [Selected]>,
    newest: Option<ClusterId>,
}

fn wipe_details(whose: Whose<'_>, deleted: Deleted) -> serde_json::Value {
    let clusters = whose.selected.map(|s| {
        s.iter()
            .map(|(id, name)| serde_json::json!({ "id": id, "name": name }))
            .collect::<Vec<_>>()
    });
    let mut details = serde_json::json!({ "clusters": clusters, "rows_deleted": deleted.rows });
    if let Some(newest) = whose.newest {
        details[NEWEST_CLUSTER] = serde_json::Value::String(newest.0);
    }
    if deleted.retried {
        details["retried"] = serde_json::Value::Bool(true);
    }
    details
}

/// The audit row of a wipe: which clusters (`null`: all), how many rows,
/// who (as for strategy changes), and the command with its selection as
/// given. One row for the run, no cluster of its own, as `unlock
/// --force`'s; one INSERT, stamped by the database's clock.
async fn audit_wipe(
    backend: &mut LiveBackend<'_>,
    ctx: &Context,
    selection: &Selection,
    whose: Whose<'_>,
    deleted: Deleted,
) -> Result<(), CommandError> {
    let line = match selection.is_all() {
        true => "-- clusterctl wipe-state".to_string(),
        false => format!("-- clusterctl wipe-state {}", selection.describe()),
    };
    let row = super::operator_row(
        &ctx.opts,
        ctx.run_id,
        WIPE_KIND,
        ClusterId(String::new()),
        crate::model::printable(&line),
        wipe_details(whose, deleted),
        // Not used: stamped with the database's now().
        DateTime::<Utc>::UNIX_EPOCH,
    );
    backend
        .audit_done(&row, Done::OK, Stamp::DatabaseNow)
        .await?;
    Ok(())
}
