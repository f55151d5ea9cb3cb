//! `strategy set|rm|ls|pause|resume`: configure strategies without SQL.
//! A write is validated first by the planner's own validator
//! (`plan::rows`) on the set of rows it would leave, so `strategy set`
//! refuses what the new row would make every later plan refuse, in the same
//! words; problems the cluster's other rows have anyway are warnings (the
//! write neither causes nor fixes them).
//! Every write also leaves an audit row (who, what, before → after) that
//! `history` shows. The SQL is `db::store`'s.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{resolve, CommandError, Context, Target, TimeBound};
use crate::db::store::{Deleted, Done, Stamp};
use crate::model::{ClusterId, Snapshot, StrategyRow, PAUSE};
use crate::plan::rows::{self, Code, InEffect};
use crate::plan::{rules, Selection};
use crate::strategy::StrategyKind;

/// A row written by `strategy set` or `strategy pause`.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    #[serde(skip)]
    pub command: &'static str,
    pub cluster_id: ClusterId,
    pub cluster: Option<String>,
    pub strategy_type: String,
    pub config: serde_json::Value,
    pub updated_at: DateTime<Utc>,
    pub rows_replaced: u64,
    /// The config of the row it replaced, if any.
    pub previous: Option<serde_json::Value>,
    /// Why the row will not take effect right away, if it will not.
    pub notes: Vec<String>,
    /// Problems of the cluster's other rows, which did not refuse the write
    /// but make the planner skip the cluster until they are fixed.
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub target: Target,
    /// The `--schema` of the tables written: the command it says names it.
    #[serde(skip)]
    pub schema: Option<String>,
}

/// Rows removed by `strategy rm` or `strategy resume`.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    #[serde(skip)]
    pub command: &'static str,
    pub cluster_id: ClusterId,
    pub cluster: Option<String>,
    pub strategy_type: Option<String>,
    /// The rows deleted (a lower bound when the DELETE was retried after
    /// a lost answer).
    #[serde(flatten)]
    pub deleted: Deleted,
    /// The types of the rows removed.
    #[serde(skip)]
    pub types: Vec<String>,
    #[serde(skip)]
    pub target: Target,
    /// Problems the remaining rows still have (the planner skips the
    /// cluster until they are fixed).
    pub notes: Vec<String>,
}

/// One row in effect, for `strategy ls`.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub cluster_id: ClusterId,
    pub cluster: Option<String>,
    pub strategy_type: String,
    /// Null when it cannot be read (`config_unreadable` says why).
    pub config: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_unreadable: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Older rows of the same (cluster, type), ignored by the controller.
    pub older_rows: usize,
    /// Why the row is invalid (the controller then skips the cluster): the
    /// row's own errors and those of the cluster's set of rows, as `check`
    /// finds them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub strategies: Vec<Listed>,
    /// The command that adds one, in the `--schema` read (said when there
    /// is none: run as printed without it, it wrote to another
    /// installation's table: an outside check).
    #[serde(skip)]
    pub add_command: String,
}

async fn snapshot(ctx: &Context) -> Result<Snapshot, CommandError> {
    Ok(crate::exec::Backend::snapshot(&mut ctx.backend()).await?)
}

/// The rows in effect for one cluster.
fn rows_of<'a>(snap: &'a Snapshot, id: &ClusterId) -> Vec<InEffect<'a>> {
    rows::in_effect(&snap.strategies)
        .remove(id)
        .unwrap_or_default()
}

/// The validator's errors for the rows `id` would have, as one message.
fn problems_of(snap: &Snapshot, id: &ClusterId, rows: &[InEffect]) -> Option<String> {
    let v = rows::validate_in(snap, id, snap.cluster(id), rows);
    let errors: Vec<String> = v.errors().map(|f| f.describe()).collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// The types among `rows` that the rule of combinations forbids next to `ty`.
fn conflicting_types(snap: &Snapshot, id: &ClusterId, ty: &str, rows: &[InEffect]) -> Vec<String> {
    let (Some(cluster), Some(new)) = (snap.cluster(id), StrategyKind::parse(ty)) else {
        return Vec::new();
    };
    rows.iter()
        .map(|r| r.row.strategy_type.as_str())
        .filter(|t| *t != ty)
        .filter(|t| {
            // The pair is wrong where neither is alone (a managed cluster
            // refuses burst whatever else it has: removing nothing helps).
            StrategyKind::parse(t).is_some_and(|other| {
                let errors =
                    |kinds: &[StrategyKind]| rules::combination_errors(cluster, kinds).len();
                errors(&[other, new]) > errors(&[other]) + errors(&[new])
            })
        })
        .map(str::to_string)
        .collect()
}

/// The `updated_at` of a replacing row: the database's now, or just after
/// the newest existing row should that be ahead (clock skew, hand-written
/// rows), so the new row is the newest.
fn write_time(snap: &Snapshot, id: &ClusterId, ty: &str) -> DateTime<Utc> {
    let newest = rows_of(snap, id)
        .iter()
        .find(|r| r.row.strategy_type == ty)
        .and_then(|r| r.row.updated_at);
    match newest {
        Some(t) if t >= snap.now => t + chrono::Duration::milliseconds(1),
        _ => snap.now,
    }
}

/// The config in effect of one (cluster, type), if any.
fn current(snap: &Snapshot, id: &ClusterId, ty: &str) -> Option<serde_json::Value> {
    rows_of(snap, id)
        .iter()
        .find(|r| r.row.strategy_type == ty)
        .map(|r| r.row.config.clone())
}

/// `line` is the command's arguments as the operator typed them (the
/// audit row's command line): the CLUSTER argument, then any flags.
async fn write(
    ctx: &Context,
    snap: &Snapshot,
    target: &Target,
    ty: &str,
    config: &serde_json::Value,
    command: &str,
    line: &[String],
) -> Result<(DateTime<Utc>, u64), CommandError> {
    let at = write_time(snap, &target.id, ty);
    // The row in effect, as the snapshot saw it: the audit's "before", and
    // how many rows the write replaces.
    let existing = rows_of(snap, &target.id)
        .into_iter()
        .find(|r| r.row.strategy_type == ty);
    let before = existing.as_ref().map(|r| r.row.audited_config());
    let seen = existing.map_or(0, |r| r.older as u64 + 1);
    let store = &ctx.store;
    let deleted = ctx
        .backend()
        .writing("writing the strategy row", async |c, a| {
            store
                .replace_strategy(c, &target.id, ty, config, at, seen > 0, a)
                .await
        })
        .await?;
    // A retry after an attempt whose DELETE committed deletes nothing: the
    // rows the snapshot saw were replaced all the same.
    let replaced = deleted.max(seen);
    let change = Change {
        ty: Some(ty),
        before: before.unwrap_or(serde_json::Value::Null),
        after: config.clone(),
        moved: None,
    };
    // Dated when it happened: `at` is later when a row was dated ahead
    // (by hand, a skewed clock), and such an audit row sorted first in
    // `history` for good, past every `--since` and `--audit-retention`.
    audit(ctx, target, command, line, change, snap.now).await?;
    Ok((at, replaced))
}

/// A change to one cluster's rows, for its audit row.
struct Change<'a> {
    /// The one type changed, or `None` for all of the cluster's rows.
    ty: Option<&'a str>,
    before: serde_json::Value,
    after: serde_json::Value,
    /// `strategy mv`: the other cluster, and which way the rows went.
    moved: Option<Other<'a>>,
}

/// The other cluster of a `strategy mv`, for each side's audit row.
#[derive(Clone, Copy)]
enum Other<'a> {
    /// On the source's row: where the rows went (`moved_to`).
    To(&'a Target),
    /// On the destination's row: where they came from (`moved_from`), and
    /// what came with them into its state (`carried`, when anything did).
    From(&'a Target, &'a [String]),
}

/// `strategy mv`, as its audit rows name the command.
const MV: &str = "strategy mv";

/// The audit kind of a strategy command's rows (`strategy mv` →
/// `strategy_mv`): what [`audit`] writes and what a reader looks for.
fn kind_of(command: &str) -> String {
    command.replace(' ', "_")
}

/// The audit rows `filter` selects, newest first.
async fn trail(
    ctx: &Context,
    filter: &crate::db::store::ActionFilter<'_>,
) -> Result<Vec<crate::db::store::ActionRecord>, CommandError> {
    let store = &ctx.store;
    Ok(ctx
        .backend()
        .retrying("reading the audit trail", async |c| {
            store.actions(c, filter).await
        })
        .await?)
}

/// The audit row of a strategy change: who, what, before → after. Written
/// after the change (it is done by then); a failure to write it is an error,
/// so an unaudited change never looks like a clean success. `given`: the
/// command's cluster arguments as the operator gave them
/// ([`Target::as_given`]).
async fn audit(
    ctx: &Context,
    target: &Target,
    command: &str,
    given: &[String],
    change: Change<'_>,
    at: DateTime<Utc>,
) -> Result<(), CommandError> {
    let mut fields = serde_json::json!({
        "cluster": target.recorded_name(),
        "strategy_type": change.ty,
        "before": change.before,
        "after": change.after,
    });
    // The command as it was given: a cluster by the name typed (quoted as a
    // shell needs), not by its id, which no one typed.
    let mut line = format!("-- clusterctl {command} {}", given.join(" "));
    // Pause and resume take no type (their row's is `pause`): `strategy
    // pause etl`.
    if let Some(t) = change
        .ty
        .filter(|_| !matches!(command, "strategy pause" | "strategy resume"))
    {
        line.push_str(&format!(" {}", crate::model::shell_value(t)));
    }
    // A set's config, as `--config JSON` (the key flags typed come to the
    // same): the line is the command to run again, not just its target.
    if command == "strategy set" {
        let config = crate::model::shell_value(&change.after.to_string());
        line.push_str(&format!(" --config {config}"));
    }
    let (moved, carried) = match change.moved {
        Some(Other::To(c)) => (Some(("moved_to", c)), &[][..]),
        Some(Other::From(c, carried)) => (Some(("moved_from", c)), carried),
        None => (None, &[][..]),
    };
    if let (Some((key, other)), Some(map)) = (moved, fields.as_object_mut()) {
        map.insert(
            key.into(),
            serde_json::json!({ "cluster_id": other.id, "cluster": other.recorded_name() }),
        );
        if !carried.is_empty() {
            map.insert("carried".into(), serde_json::json!(carried));
        }
    }
    let row = super::operator_row(
        &ctx.opts,
        ctx.run_id,
        &kind_of(command),
        target.id.clone(),
        line,
        fields,
        at,
    );
    ctx.backend().audit_done(&row, Done::OK, Stamp::Row).await?;
    Ok(())
}

/// The answer to `strategy set CLUSTER pause`: a pause row is written by
/// `strategy pause` (its reason and expiry as flags), never as a config.
pub fn pause_instead(cluster_arg: &str, schema: Option<&str>) -> CommandError {
    // A command line to change, as an unknown type is (exit 64).
    let command = |sub: &str| crate::model::clusterctl_command(schema, sub);
    CommandError::Usage(format!(
        "use `{}` to pause a cluster (--reason TEXT, --until 2h|TIME); `{}` ends the pause",
        command(&format!("strategy pause {cluster_arg}")),
        command("strategy resume")
    ))
}

/// `strategy set CLUSTER TYPE CONFIG`: validate the rows it would leave,
/// then replace.
pub async fn set(
    ctx: &Context,
    cluster: &str,
    ty: &str,
    config: &serde_json::Value,
) -> Result<Written, CommandError> {
    let snap = snapshot(ctx).await?;
    let target = resolve(&snap, cluster, false)?;
    if ty == PAUSE {
        return Err(pause_instead(target.arg(), snap.env.schema.as_deref()));
    }
    let new_row = StrategyRow {
        cluster_id: target.id.clone(),
        strategy_type: ty.to_string(),
        config: config.clone(),
        updated_at: Some(snap.now),
        unreadable: None,
    };
    let others: Vec<InEffect> = rows_of(&snap, &target.id)
        .into_iter()
        .filter(|r| r.row.strategy_type != ty)
        .collect();
    let mut after = others.clone();
    after.push(InEffect {
        row: &new_row,
        older: 0,
        tied: false,
    });
    after.sort_by(|a, b| a.row.strategy_type.cmp(&b.row.strategy_type));
    let judged = judge(&snap, &target.id, ty, &others, &after);
    if !judged.refused.is_empty() {
        let mut problems = judged.refused.join("; ");
        // The row that conflicts with the new one, by the same rule.
        let rivals = conflicting_types(&snap, &target.id, ty, &after);
        if !rivals.is_empty() {
            let rm: Vec<String> = rivals
                .iter()
                .map(|t| {
                    format!(
                        "`{}`",
                        snap.env
                            .command(&format!("strategy rm {} {t}", target.arg()))
                    )
                })
                .collect();
            problems.push_str(&format!(" (remove it first: {})", rm.join(", ")));
        }
        return Err(CommandError::Refused(format!(
            "refusing to write strategy {ty} for {}: {problems}; nothing was written",
            target.display()
        )));
    }
    let previous = current(&snap, &target.id, ty);
    let line = [target.as_given(cluster)];
    let (at, replaced) = write(ctx, &snap, &target, ty, config, "strategy set", &line).await?;
    let mut warnings: Vec<String> = judged
        .others_invalid(&snap.env, &target)
        .into_iter()
        .collect();
    // What the environment makes of the rows (as `check` says it): a
    // schedule asking for more replicas than max_replicas_per_cluster, a
    // burst no larger than what the cluster runs. Those of the new row, and
    // those of other rows that the write brings (a target_size as large as
    // the burst beside it); not those the other rows had already.
    if let Some(c) = snap.cluster(&target.id) {
        let findings = |rows: &[InEffect]| -> Vec<String> {
            let configs = rows::validate(Some(c), rows, &snap.sizes).configs;
            rules::environment_findings(&snap, c, &configs)
                .into_iter()
                .map(|(_, _, message)| message)
                .collect()
        };
        let had = findings(&rows_of(&snap, &target.id));
        let new_type = format!("{ty}: ");
        warnings.extend(
            findings(&after)
                .into_iter()
                .filter(|m| m.starts_with(&new_type) || !had.contains(m)),
        );
    }
    warnings.extend(acted_on_elsewhere(ctx, &target).await);
    let notes = notes_after_write(ctx, &snap, &target, &after);
    Ok(Written {
        command: "strategy set",
        cluster_id: target.id.clone(),
        cluster: target.name.clone(),
        strategy_type: ty.to_string(),
        config: config.clone(),
        updated_at: at,
        rows_replaced: replaced,
        previous,
        notes,
        warnings,
        target,
        schema: snap.env.schema.clone(),
    })
}

/// Another installation (schema of clusterctl's tables) with strategy rows
/// for the cluster too: two controllers act on it at once, each under its
/// own lease (`doctor` names it as a blocker; `strategy set` wrote
/// without a word: an outside check). Nothing when the catalog or their
/// table cannot be read.
async fn acted_on_elsewhere(ctx: &Context, target: &Target) -> Option<String> {
    // Its rows were just written here: the installations with rows of it
    // are those it has rows in both.
    let also = super::schemas_with_rows_of(ctx, &target.id).await;
    let first = also.first()?;
    let schemas: Vec<String> = also.iter().map(|s| crate::ddl::ident(s)).collect();
    Some(format!(
        "{} also has strategy rows in schema {} (another installation of clusterctl): two \
         controllers act on it at once, under two leases, and can drop each other's replicas; \
         keep its rows in one installation (`clusterctl strategy ls --cluster {} --schema {}` \
         lists the others)",
        target.display(),
        schemas.join(", "),
        target.arg(),
        crate::model::shell_value(first),
    ))
}

/// Why rows just written will not take effect right away, if they will not:
/// validated against `--replica-sizes`, a cluster the controller leaves
/// alone, a pause among them.
fn notes_after_write(
    ctx: &Context,
    snap: &Snapshot,
    target: &Target,
    after: &[InEffect],
) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(sizes) = &ctx.opts.replica_sizes {
        // What later runs plan with, unless they are given the same list.
        notes.push(format!(
            "validated against --replica-sizes ({}), not the server's sizes: a run without \
             that list refuses a size the server does not offer",
            sizes.join(", ")
        ));
    }
    if let Some(reason) = snap
        .cluster(&target.id)
        .and_then(|c| rules::unmanageable(snap, c))
    {
        notes.push(format!(
            "the controller leaves this cluster alone: {reason}"
        ));
    }
    notes.extend(pause_note(snap, target, after));
    notes
}

/// What a pause among a cluster's rows (`after` a write) holds back, and
/// until when: said after a write and by a `strategy mv` run again.
fn pause_note(snap: &Snapshot, target: &Target, after: &[InEffect]) -> Option<String> {
    let row = after.iter().find(|r| r.row.strategy_type == PAUSE)?;
    let until = rows::pause_until(&row.row.config);
    // An expired pause holds nothing back (the planner's rule).
    let pause = rows::Pause {
        reason: None,
        until,
    };
    pause.in_force(snap.now).then(|| {
        format!(
            "the cluster is paused: nothing changes{} until `{}`",
            rows::pause_ends(until),
            crate::model::resume_command(snap.env.schema.as_deref(), target.arg())
        )
    })
}

/// What a write of one row comes to, judged by the validator on the rows it
/// would leave.
struct Judged {
    /// Problems the write causes, which refuse it: the new row's own
    /// errors and unknown keys (the planner ignores unknown keys, as the
    /// reference does, but in a row being written one is a typo), and
    /// problems of the set that the other rows alone do not have (a
    /// conflict it introduces).
    refused: Vec<String>,
    /// The other rows' own problems: the write neither causes nor fixes
    /// them, so they do not refuse it, but the planner skips the cluster
    /// until they are gone.
    others: Vec<String>,
    /// The types of the other rows with errors of their own.
    invalid_types: Vec<String>,
}

fn judge(
    snap: &Snapshot,
    id: &ClusterId,
    ty: &str,
    others: &[InEffect],
    after: &[InEffect],
) -> Judged {
    let cluster = snap.cluster(id);
    let before = rows::validate_in(snap, id, cluster, others);
    let v = rows::validate_in(snap, id, cluster, after);
    // An invalid row's error already names its unknown keys.
    let row_invalid = v
        .findings
        .iter()
        .any(|f| f.is_error() && f.strategy_type.as_deref() == Some(ty));
    let refused = v
        .findings
        .iter()
        .filter(|f| match f.strategy_type.as_deref() {
            Some(t) => t == ty && (f.is_error() || (f.code == Code::UnknownKey && !row_invalid)),
            None => f.is_error() && !before.findings.contains(f),
        })
        .map(|f| f.as_refusal())
        .collect();
    let mut invalid_types: Vec<String> = before
        .errors()
        .filter_map(|f| f.strategy_type.clone())
        .collect();
    invalid_types.dedup();
    Judged {
        refused,
        others: before.errors().map(|f| f.describe()).collect(),
        invalid_types,
    }
}

impl Judged {
    /// The warning that the cluster's other rows are invalid, naming them
    /// and how to fix or remove them.
    fn others_invalid(&self, env: &crate::model::Environment, target: &Target) -> Option<String> {
        if self.others.is_empty() {
            return None;
        }
        let rm = |t: &str| {
            format!(
                "`{}`",
                env.command(&format!("strategy rm {} {t}", target.arg()))
            )
        };
        let rm = match self.invalid_types.as_slice() {
            [] => rm("TYPE"),
            types => types.iter().map(|t| rm(t)).collect::<Vec<_>>().join(", "),
        };
        Some(format!(
            "other strategy rows of {} are invalid, so the controller skips the cluster until \
             they are fixed (`clusterctl strategy set`) or removed ({rm}): {}",
            target.display(),
            self.others.join("; ")
        ))
    }
}

/// `strategy pause CLUSTER [--reason TEXT] [--until 2h|TIME]`: a `pause`
/// row. Pausing a paused cluster keeps its reason and expiry unless new
/// ones are given, and says so.
pub async fn pause(
    ctx: &Context,
    cluster: &str,
    reason: Option<&str>,
    until: Option<TimeBound>,
) -> Result<Written, CommandError> {
    let snap = snapshot(ctx).await?;
    let target = resolve(&snap, cluster, false)?;
    let previous = current(&snap, &target.id, PAUSE);
    let old = previous
        .as_ref()
        .map(|c| rows::Pause {
            reason: rows::pause_reason(c),
            until: rows::pause_until(c),
        })
        .filter(|p| p.in_force(snap.now));
    let given_reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let reason = given_reason
        .map(str::to_string)
        .or_else(|| old.as_ref().and_then(|p| p.reason.clone()));
    let given_until = until
        .map(|b| {
            let t = b.from_now(snap.now);
            if t <= snap.now {
                return Err(CommandError::Usage(format!(
                    "--until {}: that is not in the future",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
            // As a duration is (`--until 2y` is refused): a time in 9999
            // was a pause for good under another name (an outside check);
            // one without an end is `strategy pause` without --until.
            let year = chrono::Duration::seconds(
                i64::try_from(crate::strategy::keys::MAX_SECONDS).unwrap_or(i64::MAX),
            );
            if t > snap.now + year {
                return Err(CommandError::Usage(format!(
                    "--until {}: that is more than a year (366 days) ahead; leave --until \
                     out for a pause without an end",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )));
            }
            Ok(t)
        })
        .transpose()?;
    let until = given_until.or_else(|| old.as_ref().and_then(|p| p.until));
    let mut config = serde_json::Map::new();
    if let Some(r) = &reason {
        config.insert("reason".into(), r.clone().into());
    }
    if let Some(t) = until {
        config.insert(
            "until".into(),
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into(),
        );
    }
    let config = serde_json::Value::Object(config);
    let mut notes = Vec::new();
    if let Some(old) = &old {
        // What it was paused with, and what changes.
        let was = match &old.reason {
            Some(r) => format!("{} was already paused (reason: {r})", target.display()),
            None => format!("{} was already paused", target.display()),
        };
        let now = match (&reason, &old.reason) {
            (Some(new), Some(prev)) if new != prev => format!("; reason now: {new}"),
            (Some(new), None) => format!("; reason now: {new}"),
            _ => String::new(),
        };
        notes.push(format!("{was}{now}"));
    }
    // A pause row written by hand whose `until` is no time: its end is
    // dropped here, said (it was, silently: an outside check).
    let mut warnings = Vec::new();
    if given_until.is_none() {
        if let Some(bad) = previous
            .as_ref()
            .filter(|c| rows::pause_until(c).is_none())
            .and_then(|c| c.get("until"))
        {
            warnings.push(format!(
                "the pause row's until ({}) is not an RFC 3339 time, so it is dropped: this \
                 pause has no end (`{}` gives one)",
                crate::model::echoed(&bad.to_string()),
                snap.env
                    .command(&format!("strategy pause {} --until 2h|TIME", target.arg()))
            ));
        }
    }
    let line: Vec<String> = std::iter::once(target.as_given(cluster))
        .chain(pause_flags(given_reason, given_until))
        .collect();
    let (at, replaced) =
        write(ctx, &snap, &target, PAUSE, &config, "strategy pause", &line).await?;
    Ok(Written {
        command: "strategy pause",
        cluster_id: target.id.clone(),
        cluster: target.name.clone(),
        strategy_type: PAUSE.to_string(),
        config,
        updated_at: at,
        rows_replaced: replaced,
        previous,
        notes,
        warnings,
        target,
        schema: snap.env.schema.clone(),
    })
}

/// The flags of a `strategy pause` as its audit line records them: the
/// reason given (quoted as a shell takes it; left out when it holds a
/// control character, which would end the line: the row's `after` has
/// it), and the expiry given as the time it came to (`2h` would mean
/// another time to whoever reads the trail later).
fn pause_flags(reason: Option<&str>, until: Option<DateTime<Utc>>) -> Vec<String> {
    let reason = reason
        .filter(|r| !r.chars().any(char::is_control))
        .map(|r| format!("--reason={}", crate::model::shell_value(r)));
    let until = until.map(|t| {
        format!(
            "--until={}",
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    });
    reason.into_iter().chain(until).collect()
}

/// A dropped cluster named by the name its audit rows recorded, whose
/// strategy rows remain: `strategy rm t2` after `DROP CLUSTER t2` (it
/// suggested another, live cluster). One such cluster, or none.
async fn dropped_by_name(ctx: &Context, snap: &Snapshot, name: &str) -> Option<Target> {
    let ids: Vec<ClusterId> = dropped_named(ctx, snap, name)
        .await
        .into_iter()
        .filter(|id| snap.has_rows(id))
        .collect();
    match ids.as_slice() {
        [id] => Some(Target {
            id: id.clone(),
            name: None,
            recorded: Some(name.to_string()),
        }),
        _ => None,
    }
}

/// The dropped clusters (none in `snap`) whose audit rows recorded `name`
/// as theirs: how a command's argument names a dropped cluster by its
/// name ([`dropped_by_name`]; `strategy mv` run again after a move done
/// from one). None when the trail cannot be read.
async fn dropped_named(ctx: &Context, snap: &Snapshot, name: &str) -> Vec<ClusterId> {
    let store = &ctx.store;
    let args = [name.to_string()];
    let known = ctx
        .backend()
        .retrying("reading the audit trail", async |c| {
            store.audited_clusters(c, &args).await
        })
        .await
        .unwrap_or_default();
    let mut ids: Vec<ClusterId> = known
        .into_iter()
        .filter(|(id, recorded)| recorded.as_deref() == Some(name) && snap.cluster(id).is_none())
        .map(|(id, _)| id)
        .collect();
    ids.dedup();
    ids
}

/// The date up to which a removal deletes a cluster's rows: the latest
/// the snapshot saw (a row may be dated ahead of the database's clock) or
/// the snapshot's time. A row written after the snapshot is dated later
/// (`write_time`), so the removal keeps it.
fn seen_up_to(snap: &Snapshot, id: &ClusterId) -> DateTime<Utc> {
    snap.strategies
        .iter()
        .filter(|r| r.cluster_id == *id)
        .filter_map(|r| r.updated_at)
        .fold(snap.now, DateTime::max)
}

/// A cluster whose rows are to be removed or moved: a live one, an id
/// that only strategy rows mention, or a dropped cluster by the name its
/// audit rows recorded.
async fn resolve_with_rows(
    ctx: &Context,
    snap: &Snapshot,
    arg: &str,
) -> Result<Target, CommandError> {
    match resolve(snap, arg, true) {
        Ok(t) => Ok(t),
        Err(e) => dropped_by_name(ctx, snap, arg).await.ok_or(e),
    }
}

/// `strategy rm CLUSTER [TYPE]`; `strategy resume CLUSTER` is the removal
/// of the pause row. Removing nothing is not an error; an id that only
/// strategy rows mention (a dropped cluster) is accepted.
pub async fn remove(
    ctx: &Context,
    cluster: &str,
    ty: Option<&str>,
    command: &'static str,
) -> Result<Removed, CommandError> {
    let snap = snapshot(ctx).await?;
    let target = resolve_with_rows(ctx, &snap, cluster).await?;
    let existing = rows_of(&snap, &target.id);
    let removed: Vec<String> = existing
        .iter()
        .filter(|r| ty.is_none_or(|t| r.row.strategy_type == t))
        .map(|r| r.row.strategy_type.clone())
        .collect();
    let before: serde_json::Map<String, serde_json::Value> = existing
        .iter()
        .filter(|r| removed.contains(&r.row.strategy_type))
        .map(|r| (r.row.strategy_type.clone(), r.row.audited_config()))
        .collect();
    let deleted = if removed.is_empty() {
        Deleted::default()
    } else {
        let up_to = seen_up_to(&snap, &target.id);
        let store = &ctx.store;
        let deleted = ctx
            .backend()
            .writing("removing strategy rows", async |c, a| {
                store.delete_strategies(c, &target.id, ty, up_to, a).await
            })
            .await?;
        let before = match (ty, before.values().next()) {
            (Some(_), Some(v)) => v.clone(),
            _ => serde_json::Value::Object(before.clone()),
        };
        let change = Change {
            ty,
            before,
            after: serde_json::Value::Null,
            moved: None,
        };
        // Nothing removed at a first attempt: another command removed
        // them since the snapshot, and audited that.
        if deleted.maybe_any() {
            let line = [target.as_given(cluster)];
            audit(ctx, &target, command, &line, change, snap.now).await?;
        }
        deleted
    };
    let left: Vec<InEffect> = existing
        .into_iter()
        .filter(|r| !removed.contains(&r.row.strategy_type))
        .collect();
    let mut notes: Vec<String> = match (&target.name, left.is_empty()) {
        (Some(_), false) => problems_of(&snap, &target.id, &left)
            .map(|p| {
                format!("the remaining rows are still invalid, so the cluster stays skipped: {p}")
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    };
    // A burst running when its row goes: nothing retires it now (it ran
    // on, four times the normal size, with `status` saying converged: an
    // outside check).
    let burst_gone = removed.iter().any(|t| t == StrategyKind::Burst.as_str())
        && !left
            .iter()
            .any(|r| r.row.strategy_type == StrategyKind::Burst.as_str());
    if let Some(cluster) = snap.cluster(&target.id).filter(|_| burst_gone) {
        let name = crate::strategy::burst_replica(cluster, snap.states.get(&target.id));
        // A row left that chooses the size retires it as a replica of
        // another size ("no strategy drops it" was said, and target_size
        // dropped it seconds later: an outside check).
        let sizer = left
            .iter()
            .filter_map(|r| StrategyKind::parse(&r.row.strategy_type))
            .find(|k| k.chooses_size());
        if let Some(r) = cluster.replica(&name) {
            let what = format!(
                "the burst replica {} ({})",
                crate::plan::select::typed(&name),
                r.size.as_ref().map_or("unknown size", |s| s.0.as_str())
            );
            notes.push(match sizer {
                Some(k) => format!(
                    "{what} still runs: {k} retires it once a replica of the size it chooses \
                     serves"
                ),
                None => format!(
                    "{what} still runs, and no strategy drops it now: drop it when the \
                     cluster serves without it (DROP CLUSTER REPLICA {}.{})",
                    crate::ddl::ident(&cluster.name),
                    crate::ddl::ident(&name)
                ),
            });
        }
    }
    // A type of none of its rows (a typo): which types it has, and the
    // one meant (`strategy rm c targte_size` removed nothing without a
    // word of target_size: an outside check).
    if let (true, Some(t)) = (removed.is_empty(), ty) {
        let types: Vec<&str> = left.iter().map(|r| r.row.strategy_type.as_str()).collect();
        if !types.is_empty() {
            notes.push(format!(
                "its rows are of type {}{}",
                types
                    .iter()
                    .map(|t| crate::model::printable(t))
                    .collect::<Vec<_>>()
                    .join(", "),
                crate::strategy::keys::did_you_mean(t, &types)
            ));
        }
    }
    if removed.is_empty() {
        let again = match ty {
            Some(t) if command == "strategy rm" => format!("{command} {} {t}", target.arg()),
            _ => format!("{command} {}", target.arg()),
        };
        notes.extend(super::rows_elsewhere(ctx, &target.id, &again).await);
    }
    Ok(Removed {
        command,
        cluster_id: target.id.clone(),
        cluster: target.name.clone(),
        strategy_type: ty.map(str::to_string),
        deleted,
        types: removed,
        target,
        notes,
    })
}

/// Where rows of a type are listed among a cluster's: by the strategies'
/// priority, types the controller does not know (a `pause`) last.
fn rank(ty: &str) -> u8 {
    StrategyKind::parse(ty).map_or(u8::MAX, |k| k.priority())
}

/// `rows` in the order they are listed: by [`rank`], then type.
fn by_priority(rows: &mut [(String, serde_json::Value)]) {
    rows.sort_by(|a, b| (rank(&a.0), &a.0).cmp(&(rank(&b.0), &b.0)));
}

/// The type and config of each of a cluster's rows in effect.
fn configs_of(snap: &Snapshot, id: &ClusterId) -> Vec<(String, serde_json::Value)> {
    rows_of(snap, id)
        .iter()
        .map(|r| (r.row.strategy_type.clone(), r.row.config.clone()))
        .collect()
}

/// What `strategy mv` is to write: the source's rows in effect (type and
/// config), whether the destination has them already, and what `check`
/// would warn of them there.
#[derive(Debug)]
struct MovePlan {
    rows: Vec<(String, serde_json::Value)>,
    already_there: bool,
    warnings: Vec<String>,
}

/// `rows` as the destination's, written now.
fn rekeyed(
    snap: &Snapshot,
    dest: &Target,
    rows: &[(String, serde_json::Value)],
) -> Vec<StrategyRow> {
    rows.iter()
        .map(|(ty, config)| StrategyRow {
            cluster_id: dest.id.clone(),
            strategy_type: ty.clone(),
            config: config.clone(),
            updated_at: Some(snap.now),
            unreadable: None,
        })
        .collect()
}

/// Rows that are each the only one of their type.
fn in_effect(rows: &[StrategyRow]) -> Vec<InEffect<'_>> {
    rows.iter()
        .map(|row| InEffect {
            row,
            older: 0,
            tied: false,
        })
        .collect()
}

/// The decision of `strategy mv` (two different clusters), without a
/// database: refused when the source has no rows (saying so when the
/// destination has some: the two given the wrong way round), when the
/// destination has rows of its own (the same rows are an earlier move
/// stopped midway, to finish), or when the rows would be invalid there, by
/// the planner's own validator.
fn plan_move(snap: &Snapshot, source: &Target, dest: &Target) -> Result<MovePlan, CommandError> {
    let moving = rows_of(snap, &source.id);
    let there = configs_of(snap, &dest.id);
    if moving.is_empty() {
        let hint = if there.is_empty() {
            String::new()
        } else {
            format!(
                " ({} has: `{}` moves them the other way)",
                dest.display(),
                snap.env
                    .command(&format!("strategy mv {} {}", dest.arg(), source.arg()))
            )
        };
        return Err(CommandError::Refused(format!(
            "{} has no strategy rows{hint}; nothing was moved",
            source.display()
        )));
    }
    // A config that cannot be read cannot be written again as it is.
    if let Some(r) = moving.iter().find(|r| r.row.unreadable.is_some()) {
        return Err(CommandError::Refused(format!(
            "refusing to move the strategy rows of {}: its {} row cannot be read ({}); fix or \
             remove it first (`{}`); nothing was moved",
            source.display(),
            r.row.strategy_type,
            r.row.unreadable.as_deref().unwrap_or_default(),
            snap.env.command(&format!(
                "strategy rm {} {}",
                source.arg(),
                r.row.strategy_type
            ))
        )));
    }
    let rows = configs_of(snap, &source.id);
    let already_there = there == rows;
    if !there.is_empty() && !already_there {
        let types: Vec<&str> = there.iter().map(|(t, _)| t.as_str()).collect();
        return Err(CommandError::Refused(format!(
            "{} has strategy rows of its own ({}); remove them first (`{}`) or set the ones \
             wanted by hand; nothing was moved",
            dest.display(),
            types.join(", "),
            snap.env.command(&format!("strategy rm {}", dest.arg()))
        )));
    }
    let rekeyed = rekeyed(snap, dest, &rows);
    let after = in_effect(&rekeyed);
    let cluster = snap.cluster(&dest.id);
    let judged = rows::validate_in(snap, &dest.id, cluster, &after);
    let refused: Vec<String> = judged.errors().map(|f| f.as_refusal()).collect();
    if !refused.is_empty() {
        return Err(CommandError::Refused(format!(
            "refusing to move the strategy rows of {} to {}: {}; nothing was moved",
            source.display(),
            dest.display(),
            refused.join("; ")
        )));
    }
    let mut warnings: Vec<String> = judged
        .findings
        .iter()
        .filter(|f| !f.is_error())
        .map(|f| f.describe())
        .collect();
    if let Some(c) = cluster {
        warnings.extend(
            rules::environment_findings(snap, c, &judged.configs)
                .into_iter()
                .map(|(_, _, message)| message),
        );
    }
    let mut rows = rows;
    by_priority(&mut rows);
    Ok(MovePlan {
        rows,
        already_there,
        warnings,
    })
}

/// One row `strategy mv` moved.
#[derive(Debug, Clone, Serialize)]
pub struct MovedRow {
    pub strategy_type: String,
    pub config: serde_json::Value,
}

impl MovedRow {
    /// `rows` (type and config), as the result lists them.
    fn listed(rows: Vec<(String, serde_json::Value)>) -> Vec<MovedRow> {
        rows.into_iter()
            .map(|(strategy_type, config)| MovedRow {
                strategy_type,
                config,
            })
            .collect()
    }
}

/// What `strategy mv FROM TO` did.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub from_cluster_id: ClusterId,
    /// `None` for a dropped cluster.
    pub from_cluster: Option<String>,
    pub to_cluster_id: ClusterId,
    pub to_cluster: Option<String>,
    /// The rows in effect that moved, in priority order ([`rank`]).
    pub strategies: Vec<MovedRow>,
    /// The `updated_at` of the rows written for the destination.
    pub updated_at: DateTime<Utc>,
    /// Rows deleted from the source (with any older ones they hid; a
    /// lower bound when the DELETE was retried after a lost answer).
    #[serde(flatten)]
    pub deleted: Deleted,
    /// The destination had these very rows already (an earlier `strategy
    /// mv` stopped between its two writes, or they were written by hand):
    /// only their removal from the source was left to do.
    pub already_there: bool,
    /// What the source's strategies had learned of the workload, carried to
    /// the destination's state (`shrink_to_fit: 100cc fits`); empty when
    /// nothing was, or the destination has state of its own (a note says).
    pub carried: Vec<String>,
    pub notes: Vec<String>,
    /// What `check` would say of the rows on the destination.
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub from: Target,
    #[serde(skip)]
    pub to: Target,
}

/// `strategy mv FROM TO`: moves every row in effect of one cluster to
/// another (after a blue/green swap, the rows stay with the cluster that
/// ran them, now under the old name). Refused, with nothing written, when
/// the source has no rows, the destination has rows of its own, or the rows
/// would be invalid for the destination (a managed cluster refuses `burst`,
/// a size it is not offered). Materialize has no transaction that both
/// inserts and deletes: what the source's strategies learned is carried
/// into the destination's state first ([`carry_state`]), then the
/// destination's rows are written in one statement and the source's
/// deleted in another; a command stopped between them leaves both (or the
/// carried state alone), and the same command run again finishes it.
pub async fn mv(ctx: &Context, from: &str, to: &str) -> Result<Moved, CommandError> {
    let snap = snapshot(ctx).await?;
    let source = resolve_with_rows(ctx, &snap, from).await;
    let dest = resolve(&snap, to, false)?;
    // The same command run again after a move whose writes all landed (its
    // answer lost to a cut connection, or its last audit row): the source
    // has no rows left (a dropped one no name either), the destination has
    // what the move brought. That is a move done, not one to refuse.
    let there = configs_of(&snap, &dest.id);
    let source_has_rows = source
        .as_ref()
        .is_ok_and(|s| !rows_of(&snap, &s.id).is_empty());
    if !source_has_rows && !there.is_empty() {
        let configs = serde_json::Value::Object(there.into_iter().collect());
        let done = match (last_move_to(ctx, &dest, &configs).await?, &source) {
            (Some(m), Ok(s)) => (m.from.id == s.id).then_some(m),
            // A dropped source, which has no rows left to resolve it by:
            // its id, or the name its audit rows recorded (as a first run
            // finds a dropped source, `resolve_with_rows`).
            (Some(m), Err(_)) if snap.cluster(&m.from.id).is_none() => {
                let named = m.from.id.0 == from
                    || dropped_named(ctx, &snap, from).await.contains(&m.from.id);
                named.then_some(m)
            }
            _ => None,
        };
        if let Some(m) = done {
            let given = [m.from.as_given(from), dest.as_given(to)];
            return moved_already(ctx, &snap, m, dest, configs, &given).await;
        }
    }
    let source = source?;
    if source.id == dest.id {
        return Err(CommandError::Usage(format!(
            "FROM and TO are both {}: nothing to move",
            dest.display()
        )));
    }
    let MovePlan {
        rows,
        already_there,
        warnings,
    } = plan_move(&snap, &source, &dest)?;
    let at = snap.now;
    let store = &ctx.store;
    // The state goes first: an `apply` that sees TO's rows sees what was
    // carried too, never plans TO from nothing to write over it.
    let carry = carry_state(ctx, &snap, &source, &dest, &rows, at).await?;
    if !already_there {
        let written = ctx
            .backend()
            .writing("writing the strategy rows", async |c, a| {
                let n = store.insert_strategies(c, &dest.id, &rows, at, a).await?;
                // Nothing written on a retry: the attempt before may have.
                if n == 0 && a.retry {
                    return store.has_rows_dated(c, &dest.id, at).await;
                }
                Ok(n > 0)
            })
            .await?;
        if !written {
            // The state stays: another move of the same rows found it the
            // same as its own and carried nothing (it learned of the same
            // workload, which TO serves whatever its rows).
            let state = if carry.wrote {
                format!(
                    " (what the strategies of {} learned is in the state of {} now: {})",
                    source.display(),
                    dest.display(),
                    carry.what.join("; ")
                )
            } else {
                String::new()
            };
            return Err(CommandError::Refused(format!(
                "{} got strategy rows while this command moved those of {} (another `strategy \
                 mv` or `strategy set` at the same time); no row was moved{state}: `clusterctl \
                 strategy mv {} {}` again says where things stand",
                dest.display(),
                source.display(),
                source.arg(),
                dest.arg()
            )));
        }
    }
    let Carry {
        what: carried,
        kept,
        ..
    } = carry;
    let configs = serde_json::Value::Object(rows.iter().cloned().collect());
    let given = [source.as_given(from), dest.as_given(to)];
    // Run again after a move stopped between its writes: the destination's
    // side is recorded already, unless the stop came before its audit row.
    let recorded = already_there
        && last_move_to(ctx, &dest, &configs)
            .await?
            .is_some_and(|m| m.from.id == source.id);
    if !recorded {
        let change = Change {
            ty: None,
            before: serde_json::Value::Null,
            after: configs.clone(),
            moved: Some(Other::From(&source, &carried)),
        };
        audit(ctx, &dest, MV, &given, change, at).await?;
    }
    let up_to = seen_up_to(&snap, &source.id);
    let deleted = ctx
        .backend()
        .writing("removing strategy rows", async |c, a| {
            store.delete_strategies(c, &source.id, None, up_to, a).await
        })
        .await?;
    let change = Change {
        ty: None,
        before: configs,
        after: serde_json::Value::Null,
        moved: Some(Other::To(&dest)),
    };
    audit(ctx, &source, MV, &given, change, at).await?;
    let rekeyed = rekeyed(&snap, &dest, &rows);
    let mut notes = notes_after_write(ctx, &snap, &dest, &in_effect(&rekeyed));
    if already_there {
        notes.push(format!(
            "{} had these rows already (an earlier `strategy mv` stopped midway, or they were \
             written by hand): only their removal from {} was left to do",
            dest.display(),
            source.display()
        ));
    }
    notes.extend(kept);
    Ok(Moved {
        from_cluster_id: source.id.clone(),
        from_cluster: source.name.clone(),
        to_cluster_id: dest.id.clone(),
        to_cluster: dest.name.clone(),
        strategies: MovedRow::listed(rows),
        updated_at: at,
        deleted,
        already_there,
        carried,
        notes,
        warnings,
        from: source,
        to: dest,
    })
}

/// What [`carry_state`] did.
struct Carry {
    /// What was carried, each strategy's part said.
    what: Vec<String>,
    /// The note when TO has state of its own, which is kept.
    kept: Option<String>,
    /// Whether this command wrote TO's state (not a run before it).
    wrote: bool,
}

/// Carries what FROM's strategies learned of the workload to TO
/// ([`crate::strategy::carried`]: the sizes `shrink_to_fit` found, the
/// hydration times `idle_suspend` and `schedule` learned), so TO's
/// strategies do not learn it all again after every blue/green deploy; only
/// while TO has no state of its own, which is kept (said in the note
/// returned). Run again after a move that carried it, the same (TO's state
/// is what was carried), written by a run before.
async fn carry_state(
    ctx: &Context,
    snap: &Snapshot,
    source: &Target,
    dest: &Target,
    rows: &[(String, serde_json::Value)],
    at: DateTime<Utc>,
) -> Result<Carry, CommandError> {
    let nothing = |kept| Carry {
        what: Vec::new(),
        kept,
        wrote: false,
    };
    let kinds: Vec<StrategyKind> = rows
        .iter()
        .filter_map(|(ty, _)| StrategyKind::parse(ty))
        .collect();
    let managed = snap.cluster(&dest.id).is_some_and(|c| c.managed);
    let Some(carried) = snap
        .states
        .get(&source.id)
        .and_then(|st| crate::strategy::carried(st, &kinds, managed))
    else {
        return Ok(nothing(None));
    };
    let kept = |how: &str| {
        format!(
            "{} {how}: it is kept, and what the strategies of {} learned ({}) was not carried",
            dest.display(),
            source.display(),
            carried.what.join("; ")
        )
    };
    match snap.states.get(&dest.id) {
        Some(there) if *there == crate::model::compact_json(carried.state.clone()) => {
            return Ok(Carry {
                what: carried.what,
                kept: None,
                wrote: false,
            });
        }
        Some(_) => return Ok(nothing(Some(kept("has strategy state of its own")))),
        None => {}
    }
    let store = &ctx.store;
    let written = ctx
        .backend()
        .writing("writing the carried state", async |c, a| {
            store
                .insert_state_if_none(c, &dest.id, &carried.state, at, a)
                .await
        })
        .await?;
    if !written {
        return Ok(nothing(Some(kept(
            "got strategy state of its own meanwhile",
        ))));
    }
    Ok(Carry {
        what: carried.what,
        kept: None,
        wrote: true,
    })
}

/// A `strategy mv` the trail recorded on its destination's side.
struct LastMove {
    /// Its time (both sides' audit rows have it).
    at: DateTime<Utc>,
    /// Where the rows came from, as the row names it.
    from: Target,
}

/// The last change to `dest`'s rows, when it is a `strategy mv` that
/// brought it `configs` (the rows it has now): a move to `dest` whose
/// writes are done.
async fn last_move_to(
    ctx: &Context,
    dest: &Target,
    configs: &serde_json::Value,
) -> Result<Option<LastMove>, CommandError> {
    let ids = [dest.id.clone()];
    let filter = crate::db::store::ActionFilter {
        clusters: Some(&ids),
        kind_prefix: Some(super::history::STRATEGY_CHANGE),
        limit: Some(1),
        ..Default::default()
    };
    let Some(row) = trail(ctx, &filter).await?.into_iter().next() else {
        return Ok(None);
    };
    let d = &row.decision_ctx;
    let from = d["moved_from"]["cluster_id"].as_str();
    Ok(match (from, row.created_at) {
        (Some(id), Some(at)) if d["kind"] == kind_of(MV) && d["after"] == *configs => {
            Some(LastMove {
                at,
                from: Target {
                    id: ClusterId(id.to_string()),
                    name: d["moved_from"]["cluster"].as_str().map(str::to_string),
                    recorded: None,
                },
            })
        }
        _ => None,
    })
}

/// `strategy mv` run again after a move that was done: the source's audit
/// row is written if the first run stopped before it; nothing else is.
async fn moved_already(
    ctx: &Context,
    snap: &Snapshot,
    m: LastMove,
    dest: Target,
    configs: serde_json::Value,
    given: &[String],
) -> Result<Moved, CommandError> {
    // The source as it is now (renamed, dropped), else as the row named it.
    let source = match snap.cluster(&m.from.id) {
        Some(c) => Target {
            id: c.id.clone(),
            name: Some(c.name.clone()),
            recorded: None,
        },
        None => Target {
            id: m.from.id.clone(),
            name: None,
            recorded: m.from.name.clone(),
        },
    };
    let ids = [source.id.clone()];
    let kind = kind_of(MV);
    let filter = crate::db::store::ActionFilter {
        clusters: Some(&ids),
        kind_prefix: Some(&kind),
        since: Some(crate::db::store::Bound::At(
            m.at - chrono::Duration::milliseconds(1),
        )),
        ..Default::default()
    };
    let audited = trail(ctx, &filter)
        .await?
        .iter()
        .any(|r| r.decision_ctx["moved_to"]["cluster_id"] == serde_json::json!(dest.id));
    if !audited {
        let change = Change {
            ty: None,
            before: configs.clone(),
            after: serde_json::Value::Null,
            moved: Some(Other::To(&dest)),
        };
        audit(ctx, &source, MV, given, change, m.at).await?;
    }
    let mut rows: Vec<(String, serde_json::Value)> = configs
        .as_object()
        .into_iter()
        .flatten()
        .map(|(t, c)| (t.clone(), c.clone()))
        .collect();
    by_priority(&mut rows);
    let strategies = MovedRow::listed(rows);
    let mut notes = vec![format!(
        "these rows were moved from {} to {} already (at {}): nothing was left to do",
        source.display(),
        dest.display(),
        m.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )];
    notes.extend(pause_note(snap, &dest, &rows_of(snap, &dest.id)));
    Ok(Moved {
        from_cluster_id: source.id.clone(),
        from_cluster: source.name.clone(),
        to_cluster_id: dest.id.clone(),
        to_cluster: dest.name.clone(),
        strategies,
        updated_at: m.at,
        deleted: Deleted::default(),
        already_there: true,
        carried: Vec::new(),
        notes,
        warnings: Vec::new(),
        from: source,
        to: dest,
    })
}

/// The rows in effect (newest per cluster and type), by cluster name then
/// priority; rows of clusters that no longer exist come last. Pure.
pub fn list(snap: &Snapshot, selection: &Selection) -> Listing {
    let mut out = Vec::new();
    let selection = selection.in_snapshot(snap);
    // By id, not a scan per row (quadratic in a large fleet).
    let by_id = snap.cluster_index();
    for (id, rows) in rows::in_effect(&snap.strategies) {
        let cluster = by_id.get(&id).map(|&i| &snap.clusters[i]);
        let name = cluster.map(|c| c.name.clone());
        if !selection.matches_id(&id, name.as_deref()) {
            continue;
        }
        // As the plan and `check` judge them: the rows of a dropped
        // cluster's id that a live cluster is named like are removed with
        // SQL (`strategy ls` told to `strategy rm u30`, which removed the
        // rows of the cluster named u30: an outside check).
        let judged = rows::validate_in(snap, &id, cluster, &rows);
        for r in rows {
            let problems = judged
                .errors()
                .filter(|f| {
                    f.strategy_type
                        .as_ref()
                        .is_none_or(|t| *t == r.row.strategy_type)
                })
                .map(|f| f.message.clone())
                .collect();
            out.push(Listed {
                cluster_id: id.clone(),
                cluster: name.clone(),
                strategy_type: r.row.strategy_type.clone(),
                config: r.row.config.clone(),
                config_unreadable: r.row.unreadable.clone(),
                updated_at: r.row.updated_at,
                older_rows: r.older,
                problems,
            });
        }
    }
    out.sort_by(|a, b| {
        (
            a.cluster.is_none(),
            &a.cluster,
            &a.cluster_id,
            rank(&a.strategy_type),
            &a.strategy_type,
        )
            .cmp(&(
                b.cluster.is_none(),
                &b.cluster,
                &b.cluster_id,
                rank(&b.strategy_type),
                &b.strategy_type,
            ))
    });
    Listing {
        strategies: out,
        add_command: snap.env.command("strategy set CLUSTER TYPE --config JSON"),
    }
}

/// `strategy ls`: read-only.
pub async fn ls(ctx: &Context, selection: &Selection) -> Result<Listing, CommandError> {
    let snap = snapshot(ctx).await?;
    selection
        .check(&snap, false, true)
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    Ok(list(&snap, selection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cluster, SizeCatalog};
    use serde_json::json;

    /// A reason that would end the audit line (a newline) is left to the
    /// row's config; one a shell splits is quoted; an expiry is the time.
    #[test]
    fn a_pause_s_audit_flags_are_what_a_shell_runs() {
        let t = "2026-12-05T10:00:00Z".parse::<DateTime<Utc>>().ok();
        assert_eq!(
            pause_flags(Some("deploy freeze"), t),
            ["--reason='deploy freeze'", "--until=2026-12-05T10:00:00Z"]
        );
        assert_eq!(pause_flags(Some("-x"), None), ["--reason=-x"]);
        assert_eq!(
            pause_flags(Some("two\nlines"), t),
            ["--until=2026-12-05T10:00:00Z"]
        );
        assert!(pause_flags(None, None).is_empty());
    }

    fn row(id: &str, ty: &str, config: serde_json::Value) -> StrategyRow {
        StrategyRow {
            cluster_id: ClusterId(id.into()),
            strategy_type: ty.into(),
            config,
            updated_at: Some(chrono::DateTime::UNIX_EPOCH),
            unreadable: None,
        }
    }

    /// `old` (u1) and `new` (u2), unmanaged, and `m` (u3), managed.
    fn snap(strategies: Vec<StrategyRow>) -> Snapshot {
        let managed = Cluster {
            managed: true,
            ..Cluster::empty(ClusterId("u3".into()), "m")
        };
        Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            clusters: vec![
                Cluster::empty(ClusterId("u1".into()), "old"),
                Cluster::empty(ClusterId("u2".into()), "new"),
                managed,
            ],
            strategies,
            // The statement log has rows: activity is known.
            activity_log_has_rows: true,
            ..Default::default()
        }
    }

    fn target(id: &str, name: Option<&str>) -> Target {
        Target {
            id: ClusterId(id.into()),
            name: name.map(str::to_string),
            recorded: None,
        }
    }

    fn refusal(r: Result<MovePlan, CommandError>) -> String {
        match r {
            Err(CommandError::Refused(m)) => m,
            other => panic!("not refused: {other:?}"),
        }
    }

    /// What `check` warns of the rows on the destination is said, not
    /// refused: an unknown key the planner ignores.
    #[test]
    fn a_move_warns_of_what_check_would() {
        let s = snap(vec![row(
            "u1",
            "idle_suspend",
            json!({"idle_after_s": 60, "idle_aftr_s": 5}),
        )]);
        let plan = plan_move(&s, &target("u1", Some("old")), &target("u2", Some("new")));
        let plan = plan.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
        assert!(
            plan.warnings[0].contains("idle_aftr_s"),
            "{:?}",
            plan.warnings
        );
    }

    /// Rows in priority order (a `pause`, no strategy, last), not by name.
    #[test]
    fn moved_rows_are_listed_by_priority() {
        let s = snap(vec![
            row("u1", "pause", json!({})),
            row("u1", "burst", json!({"burst_replica_size": "100cc"})),
            row("u1", "target_size", json!({"target_size": "50cc"})),
        ]);
        let plan = plan_move(&s, &target("u1", Some("old")), &target("u2", Some("new")));
        let plan = plan.unwrap_or_else(|e| panic!("{e:?}"));
        let types: Vec<&str> = plan.rows.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, ["target_size", "burst", "pause"]);
    }

    /// A removal deletes up to the latest row it saw of that cluster (one
    /// dated ahead of the clock included), never by another's dates.
    #[test]
    fn a_removal_reaches_the_latest_row_it_saw_of_its_cluster() {
        let at = |h: i64| chrono::DateTime::UNIX_EPOCH + chrono::Duration::hours(h);
        let dated = |id: &str, h: i64| StrategyRow {
            updated_at: Some(at(h)),
            ..row(id, "burst", json!({}))
        };
        let mut s = snap(vec![dated("u1", 5), dated("u1", 7), dated("u2", 9)]);
        s.now = at(6);
        assert_eq!(seen_up_to(&s, &ClusterId("u1".into())), at(7));
        assert_eq!(seen_up_to(&s, &ClusterId("u3".into())), at(6));
    }

    #[test]
    fn a_move_takes_every_row_in_effect_in_priority_order() {
        let s = snap(vec![
            row("u1", "pause", json!({})),
            row("u1", "idle_suspend", json!({"idle_after_s": 60})),
            row("u1", "burst", json!({"burst_replica_size": "100cc"})),
            // An older row of the same type is not moved.
            StrategyRow {
                updated_at: None,
                ..row("u1", "burst", json!({"burst_replica_size": "50cc"}))
            },
        ]);
        let plan = plan_move(&s, &target("u1", Some("old")), &target("u2", Some("new")));
        let plan = plan.unwrap_or_else(|e| panic!("{e:?}"));
        let types: Vec<&str> = plan.rows.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, ["burst", "idle_suspend", "pause"]);
        assert_eq!(plan.rows[0].1, json!({"burst_replica_size": "100cc"}));
        assert!(!plan.already_there);
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        // A dropped source (no name) moves the same way.
        let plan = plan_move(&s, &target("u1", None), &target("u2", Some("new")));
        assert!(plan.is_ok(), "{plan:?}");
    }

    #[test]
    fn a_move_is_refused_where_rows_would_be_lost_or_invalid() {
        let from = target("u1", Some("old"));
        let to = target("u2", Some("new"));
        // Nothing to move; the wrong way round is said.
        let s = snap(vec![row("u2", "idle_suspend", json!({"idle_after_s": 60}))]);
        let m = refusal(plan_move(&s, &from, &to));
        assert!(
            m.contains(
                "cluster old (u1) has no strategy rows (cluster new (u2) has: \
                 `clusterctl strategy mv new old` moves them the other way)"
            ),
            "{m}"
        );
        let m = refusal(plan_move(&snap(vec![]), &from, &to));
        assert_eq!(
            m,
            "cluster old (u1) has no strategy rows; nothing was moved"
        );
        // The destination's own rows would be lost.
        let s = snap(vec![
            row("u1", "idle_suspend", json!({"idle_after_s": 60})),
            row("u2", "idle_suspend", json!({"idle_after_s": 120})),
        ]);
        let m = refusal(plan_move(&s, &from, &to));
        assert!(
            m.contains("cluster new (u2) has strategy rows of its own (idle_suspend)"),
            "{m}"
        );
        // Invalid there: a managed cluster runs no burst.
        let s = snap(vec![row(
            "u1",
            "burst",
            json!({"burst_replica_size": "100cc"}),
        )]);
        let m = refusal(plan_move(&s, &from, &target("u3", Some("m"))));
        assert!(
            m.starts_with(
                "refusing to move the strategy rows of cluster old (u1) to cluster m (u3): "
            ),
            "{m}"
        );
        assert!(m.contains("burst"), "{m}");
        // A config that cannot be read is not written again.
        let s = snap(vec![StrategyRow {
            unreadable: Some("nested too deep".into()),
            ..row("u1", "idle_suspend", serde_json::Value::Null)
        }]);
        let m = refusal(plan_move(&s, &from, &to));
        assert!(
            m.contains("its idle_suspend row cannot be read (nested too deep)"),
            "{m}"
        );
    }

    #[test]
    fn the_same_rows_on_both_are_a_move_to_finish() {
        let config = json!({"idle_after_s": 60});
        let s = snap(vec![
            row("u1", "idle_suspend", config.clone()),
            row("u2", "idle_suspend", config),
        ]);
        let plan = plan_move(&s, &target("u1", Some("old")), &target("u2", Some("new")));
        assert!(plan.is_ok_and(|p| p.already_there));
        // Another config is the destination's own.
        let s = snap(vec![
            row("u1", "idle_suspend", json!({"idle_after_s": 60})),
            row("u1", "burst", json!({"burst_replica_size": "100cc"})),
            row("u2", "idle_suspend", json!({"idle_after_s": 60})),
        ]);
        let plan = plan_move(&s, &target("u1", Some("old")), &target("u2", Some("new")));
        refusal(plan);
    }
}
