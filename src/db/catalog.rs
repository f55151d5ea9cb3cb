//! Reading everything one round decides on, for all clusters at once, in a
//! constant number of statements: two pipelined rounds (catalog, sizes,
//! strategies, state, and the environment: release, settings, our role;
//! then activity, whose lookback depends on the strategies and the sample
//! rate, and the auto-scaling relation where the release has it). Where
//! it has it, the audit trail's last suspensions, when needed, wait for it
//! in a third.
//! Materialize-only types are cast in SQL so the same queries run on
//! Materialize and on the PostgreSQL emulation.
//!
//! Signals that only some releases or roles can read never fail the
//! snapshot: a `SHOW` of a setting the release lacks leaves that setting
//! unknown, and an unreadable statement log makes activity unknown
//! (reference §8.4, §8.6).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::store::{Store, STATE, STRATEGIES};
use super::{Client, DbError};
use crate::model::{
    Activity, Cluster, ClusterId, CrashInfo, Environment, Identity, Objects, Replica, ReplicaSize,
    RoleId, Schedule, Seen, Settings, Size, SizeCatalog, Snapshot, CRASH_WINDOW,
    MIN_ACTIVITY_LOOKBACK,
};
use crate::plan::Selection;

/// Needs: mz_catalog.mz_cluster_replica_sizes.
pub(super) const SIZES_SQL: &str = "SELECT size, credits_per_hour::float8, \
    (processes::numeric * cpu_nano_cores::numeric / 1000000000)::float8, \
    (processes::numeric * memory_bytes::numeric)::float8 \
    FROM mz_catalog.mz_cluster_replica_sizes";

/// Needs: mz_catalog.mz_clusters, mz_catalog.mz_sources, mz_internal.mz_cluster_schedules.
/// In the catalog's order, which every plan keeps (`dry-run`'s list, the
/// order actions run in, the region credit limit's "catalog order"): by
/// id as a number within its kind (`u2` before `u10`; ordered as text,
/// `u10` … `u19` came between `u1` and `u2`: an outside check).
pub(super) const CLUSTERS_SQL: &str =
    "SELECT c.id, c.name, c.managed, c.size, c.replication_factor::int8, s.type, \
    EXISTS (SELECT 1 FROM mz_catalog.mz_sources src WHERE src.cluster_id = c.id \
            AND src.type IN ('postgres', 'mysql', 'sql-server')), c.owner_id \
    FROM mz_catalog.mz_clusters c \
    LEFT JOIN mz_internal.mz_cluster_schedules s ON s.cluster_id = c.id \
    ORDER BY substr(c.id, 1, 1), length(c.id), c.id";

/// Needs: mz_catalog.mz_cluster_replicas, mz_indexes, mz_materialized_views,
/// mz_sources, mz_internal.mz_hydration_statuses, mz_cluster_replica_statuses,
/// mz_cluster_replica_status_history. A replica is hydrated when every user
/// index, materialized view and source of its cluster reports hydrated on it
/// and none of its processes is offline. `{crash_window}` is whole seconds.
/// A replica's oldest status event is when it was created (the history is
/// kept 30 days by default, so an older replica looks 30 days old).
/// A crash is an offline event whose reason means one ([`CRASH_REASONS`]):
/// new replicas start offline/`initializing` and restarts or maintenance
/// report a NULL reason, neither of which is the workload's fault (§8.7).
/// Each is counted once however many of the replica's processes report it
/// (one OOM of a replica of four processes counted four: an outside
/// check): events within the same second are one. An offline event with
/// a NULL reason is no crash, but a replica that had one lately is not one
/// to retire another for yet (`last_offline`: a panic loop reports no
/// reason, and its flapping replica retired the healthy one: an outside
/// check).
const REPLICAS_SQL: &str = "SELECT r.id, r.name, r.cluster_id, r.size, \
    COALESCE(h.objects, 0)::int8, COALESCE(h.hydrated, 0)::int8, COALESCE(st.offline, false), \
    COALESCE(cr.crashes, 0)::int8, COALESCE(cr.ooms, 0)::int8, cr.last_crash, r.owner_id, sh.since, \
    cr.first_crash, cr.last_offline, COALESCE(st.down, false) \
    FROM mz_catalog.mz_cluster_replicas r \
    LEFT JOIN ( \
        SELECT r2.id AS replica_id, count(*) AS objects, \
               sum(CASE WHEN hs.hydrated THEN 1 ELSE 0 END) AS hydrated \
        FROM mz_catalog.mz_cluster_replicas r2 \
        JOIN ( \
            SELECT id, cluster_id FROM mz_catalog.mz_indexes WHERE id LIKE 'u%' {and_cluster} \
            UNION ALL SELECT id, cluster_id FROM mz_catalog.mz_materialized_views \
                WHERE id LIKE 'u%' {and_cluster} \
            UNION ALL SELECT id, cluster_id FROM mz_catalog.mz_sources \
                WHERE id LIKE 'u%' AND cluster_id IS NOT NULL \
                AND type NOT IN ('webhook', 'progress', 'subsource') {and_cluster} \
        ) o ON o.cluster_id = r2.cluster_id \
        LEFT JOIN mz_internal.mz_hydration_statuses hs \
            ON hs.object_id = o.id AND hs.replica_id = r2.id \
        WHERE true {and_r2_cluster} \
        GROUP BY r2.id \
    ) h ON h.replica_id = r.id \
    LEFT JOIN ( \
        SELECT replica_id, bool_or(status = 'offline') AS offline, \
               bool_or(status = 'offline' AND reason IS DISTINCT FROM 'initializing') AS down \
        FROM mz_internal.mz_cluster_replica_statuses WHERE true {and_replica} GROUP BY replica_id \
    ) st ON st.replica_id = r.id \
    LEFT JOIN ( \
        SELECT replica_id, \
               count(DISTINCT CASE WHEN reason IN ({crash_reasons}) \
                   THEN date_trunc('second', occurred_at) END) AS crashes, \
               count(DISTINCT CASE WHEN reason = 'oom-killed' \
                   THEN date_trunc('second', occurred_at) END) AS ooms, \
               max(CASE WHEN reason IN ({crash_reasons}) THEN occurred_at END) AS last_crash, \
               min(CASE WHEN reason IN ({crash_reasons}) THEN occurred_at END) AS first_crash, \
               max(CASE WHEN reason IS NULL THEN occurred_at END) AS last_offline \
        FROM mz_internal.mz_cluster_replica_status_history \
        WHERE status = 'offline' AND (reason IN ({crash_reasons}) OR reason IS NULL) \
          AND occurred_at > now() - INTERVAL '{crash_window} seconds' {and_replica} \
        GROUP BY replica_id \
    ) cr ON cr.replica_id = r.id \
    LEFT JOIN ( \
        SELECT replica_id, min(occurred_at) AS since \
        FROM mz_internal.mz_cluster_replica_status_history WHERE true {and_replica} \
        GROUP BY replica_id \
    ) sh ON sh.replica_id = r.id \
    {where} ORDER BY r.cluster_id, r.id";

/// Statements of our own sessions, told by their `application_name`
/// (`clusterctl` unless the URL names another; in the redacted log too,
/// reference §1.11), are not demand: Materialize logs them on the session
/// cluster, where a `status` or an `--exec-cluster` of another run would
/// keep a cluster awake, or wake it, every time it runs. Every read of the
/// statement log leaves them out with this condition, and only with it.
pub(super) const NOT_OURS: &str =
    "application_name IS DISTINCT FROM current_setting('application_name')";

/// Needs: mz_internal.mz_statement_execution_history_redacted. Statement
/// *begins* count, and so do statements still running or waiting
/// (`finished_at IS NULL`), however long ago they began (a SUBSCRIBE open
/// for days, a query blocked on a suspended cluster): they are demand;
/// ours ([`NOT_OURS`]) are not, nor do they make the log non-empty.
/// The NULL-cluster group tells whether the log has any rows at all; the
/// oldest statement of all groups within the lookback, from when its
/// silence is evidence. Filled in by [`activity_sql`] only.
const ACTIVITY_SQL: &str = "SELECT cluster_id, max(began_at), \
    sum(CASE WHEN finished_at IS NULL THEN 1 ELSE 0 END)::int8, \
    min(CASE WHEN began_at > {since} THEN began_at END), max(finished_at) \
    FROM mz_internal.mz_statement_execution_history_redacted \
    WHERE (began_at > {since} OR finished_at IS NULL) AND {not_ours} {and} \
    GROUP BY cluster_id";

/// [`ACTIVITY_SQL`] from `since`, the lookback's start (an SQL
/// expression), and `and`, a further filter (empty, or the plan guard's
/// one cluster). The one place that fills it in: `doctor`'s probe sent it
/// with its placeholders, failed on `{`, and blamed the role's privileges.
fn activity_sql(since: &str, and: &str) -> String {
    ACTIVITY_SQL
        .replace("{since}", since)
        .replace("{not_ours}", NOT_OURS)
        .replace("{and}", and)
}

/// How long Materialize's statement log may take to show a statement
/// (§8.6: flushed about every 5 s).
pub const STATEMENT_LOG_FLUSH: Duration = Duration::from_secs(5);

/// Offline reasons that mean the workload crashed (§6, §8.7): Materialize's
/// own controller treats only `oom-killed` as a problem.
pub const CRASH_REASONS: &[&str] = &["oom-killed"];

/// Needs: mz_version(), mz_environment_id(), current_role,
/// mz_catalog.mz_objects, mz_schemas. The database's clock, the release,
/// who we are, whether this release has the auto-scaling relation (looked
/// up by name, so releases without it do not fail), and which environment
/// (region) this is.
const ENV_SQL: &str = "SELECT now(), mz_catalog.mz_version(), current_role::text, \
    EXISTS (SELECT 1 FROM mz_catalog.mz_objects o \
            JOIN mz_catalog.mz_schemas s ON s.id = o.schema_id \
            WHERE s.name = 'mz_internal' AND o.name = 'mz_cluster_auto_scaling_strategies'), \
    mz_catalog.mz_environment_id()";

/// Needs: mz_is_superuser() (RBAC releases). Optional.
const SUPERUSER_SQL: &str = "SELECT mz_is_superuser()";

/// Needs: mz_catalog.mz_roles, mz_role_members. Every role and its direct
/// memberships; the closure is taken here, so nesting of any depth counts.
/// Optional.
const ROLES_SQL: &str = "SELECT r.id, r.name, m.role_id \
    FROM mz_catalog.mz_roles r LEFT JOIN mz_catalog.mz_role_members m ON m.member = r.id";

/// Needs: mz_internal.mz_cluster_auto_scaling_strategies (newer releases;
/// the snapshot reads it only when `mz_objects` lists it).
pub(super) const AUTO_SCALING_SQL: &str =
    "SELECT DISTINCT cluster_id FROM mz_internal.mz_cluster_auto_scaling_strategies";

/// The settings read with `SHOW`, one statement each (a release without a
/// setting refuses its `SHOW`; that setting is then unknown).
pub const SETTINGS: [&str; 8] = [
    "max_replicas_per_cluster",
    "statement_logging_default_sample_rate",
    "statement_logging_max_sample_rate",
    "enable_zero_downtime_cluster_reconfiguration",
    "enable_background_alter_cluster",
    "enable_rbac_checks",
    "max_credit_consumption_rate",
    "allowed_cluster_replica_sizes",
];

const SHOW_CLUSTER_SQL: &str = "SHOW cluster";

#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// Crash/OOM lookback.
    pub crash_window: Duration,
    /// Minimum activity lookback; the largest `idle_after_s` extends it.
    pub min_activity_lookback: Duration,
    /// Sizes to use instead of the catalog's (`--replica-sizes`).
    pub replica_sizes: Option<Vec<String>>,
    /// The cluster our session runs on, when set explicitly.
    pub exec_cluster: Option<String>,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            crash_window: CRASH_WINDOW,
            min_activity_lookback: MIN_ACTIVITY_LOOKBACK,
            replica_sizes: None,
            exec_cluster: None,
        }
    }
}

fn q(context: &'static str) -> impl Fn(tokio_postgres::Error) -> DbError {
    move |e| DbError::query(format!("reading {context}"), &e)
}

/// [`REPLICAS_SQL`] with its crash window and reasons filled in: every
/// replica.
pub(super) fn replicas_sql(crash_window: Duration) -> String {
    replicas_sql_of(crash_window, None)
}

/// [`REPLICAS_SQL`] for every replica, or for those of the cluster whose id
/// is the parameter `param` (`$1`): every part of it read for that cluster
/// alone, so the plan guard's read before each DDL costs the same in a
/// fleet of any size (it aggregated every replica's hydration and status
/// history each time: 39 ms an action at 3 000 clusters).
fn replicas_sql_of(crash_window: Duration, param: Option<&str>) -> String {
    let crash_reasons: Vec<String> = CRASH_REASONS
        .iter()
        .map(|r| crate::ddl::literal(r))
        .collect();
    let (and_cluster, and_r2_cluster, and_replica, filter) = match param {
        Some(p) => (
            format!("AND cluster_id = {p}"),
            format!("AND r2.cluster_id = {p}"),
            format!(
                "AND replica_id IN (SELECT cr.id FROM mz_catalog.mz_cluster_replicas AS cr \
                 WHERE cr.cluster_id = {p})"
            ),
            format!("WHERE r.cluster_id = {p}"),
        ),
        None => Default::default(),
    };
    REPLICAS_SQL
        .replace("{crash_window}", &crash_window.as_secs().to_string())
        .replace("{crash_reasons}", &crash_reasons.join(", "))
        .replace("{and_cluster}", &and_cluster)
        .replace("{and_r2_cluster}", &and_r2_cluster)
        .replace("{and_replica}", &and_replica)
        .replace("{where}", &filter)
}

/// The snapshot. `plans`: the clusters the command plans (`--cluster`,
/// `--filter-clusters`); what only the plan uses, per cluster (the audit
/// trail's last suspensions, the statement history by hour), is read for
/// those alone ([`crate::plan::reads_the_trail_for`],
/// [`crate::plan::learns_demand`]). The catalog, the strategies, the state
/// and the activity are read whole whatever it says: names resolve, and
/// `status` and `check` show, against all of them.
pub async fn load(
    c: &Client,
    store: &Store,
    opts: &SnapshotOptions,
    plans: &Selection,
) -> Result<Snapshot, DbError> {
    let replicas_sql = replicas_sql(opts.crash_window);
    // Round one, pipelined on one connection.
    let unfinished_sql = store.unfinished_and_schema_sql();
    let (env, session, sizes, clusters, replicas, strategies, states, unfinished, reference) = tokio::join!(
        environment(c),
        async {
            match &opts.exec_cluster {
                Some(name) => Ok(Some(name.clone())),
                None => c
                    .query_typed(SHOW_CLUSTER_SQL, &[])
                    .await
                    .map(|rows| rows.first().and_then(|r| r.try_get(0).ok())),
            }
        },
        c.query_typed(SIZES_SQL, &[]),
        parsed_rows(c, CLUSTERS_SQL, parse_cluster),
        parsed_rows(c, &replicas_sql, parse_replica),
        store.strategies(c),
        store.states(c),
        c.query_typed(&unfinished_sql, &[]),
        store.reference_states(c),
    );
    let strategies = strategies
        .map_err(|e| super::store::missing_or(&e, store, STRATEGIES, "reading strategies"))?;
    let states =
        states.map_err(|e| super::store::missing_or(&e, store, STATE, "reading strategy state"))?;
    let (now, mut env) = env?;
    env.schema = store.schema().map(str::to_string);
    let session_cluster = session.map_err(q("the session cluster"))?;
    let sizes = match &opts.replica_sizes {
        // Priced by the catalog when it has them all (local setups may
        // name sizes it does not list, or lack a relation it reads).
        Some(names) => match sizes {
            Err(e) if super::is_transient(&e) => return Err(q("replica sizes")(e)),
            read => SizeCatalog::listed(names, read.ok().map(|rows| parse_sizes(&rows))),
        },
        None => parse_sizes(&sizes.map_err(q("replica sizes"))?),
    };
    // Materialize's catalog lists every size, allowed or not (its console
    // filters mz_cluster_replica_sizes by this setting itself).
    let sizes = sizes.restrict_to(
        env.settings
            .allowed_cluster_replica_sizes
            .as_deref()
            .unwrap_or_default(),
    );
    // The migrations read with them may fail where the actions do not
    // (tables an earlier tool created have no migrations table, so no newer
    // schema; a role granted only those tables): read without them then, a
    // statement more only there.
    let (unfinished, no_migrations) = match unfinished {
        Err(e) if !super::is_transient(&e) => {
            let no_table = super::Missing::of(&e) == Some(super::Missing::Table);
            (c.query_typed(&store.unfinished_sql(), &[]).await, no_table)
        }
        read => (read, false),
    };
    env.actions_missing = matches!(&unfinished, Err(e)
        if super::Missing::of(e) == Some(super::Missing::Table));
    let unfinished = match optional(unfinished, "reading unfinished actions")? {
        Ok(rows) => Store::parse_unfinished(&rows),
        Err(why) => {
            env.unfinished_error = Some(why);
            Default::default()
        }
    };
    env.schema_versions = match no_migrations {
        true if env.unfinished_error.is_none() => Some(Vec::new()),
        _ => unfinished.schema,
    };
    // The gate of graceful resizes is not visible to `SHOW` (§8.1): a
    // refusal as gated off, of late, says it is off.
    if env
        .settings
        .enable_zero_downtime_cluster_reconfiguration
        .is_none()
        && unfinished.graceful_refused_at.is_some()
    {
        env.settings.enable_zero_downtime_cluster_reconfiguration = Some(false);
        env.graceful_refused_at = unfinished.graceful_refused_at;
    }
    let (unfinished, last_resizes, refusals) = (
        unfinished.open,
        unfinished.last_resizes,
        unfinished.refusals,
    );
    let mut clusters = clusters.map_err(q("clusters"))?;
    let index = index_by_id(&clusters);
    attach_replicas(&mut clusters, &index, replicas.map_err(q("replicas"))?);
    // What mz-clusterctl's idle_suspend suspended is imported once the
    // trail is read (below, [`import_reference_suspensions`]).
    let reference = reference.unwrap_or_default();
    // What round one read: round two adds its signals to it.
    let mut snap = Snapshot {
        now,
        sizes,
        clusters,
        strategies,
        states,
        session_cluster,
        env,
        unfinished,
        last_resizes,
        refusals,
        ..Snapshot::default()
    };

    // Round two: activity over max(24 h, the largest idle_after_s scaled by
    // the sample rate), and the auto-scaling relation where it exists.
    let lookback = activity_lookback(opts, &snap.strategies, &snap.env.settings);
    let activity_sql = activity_sql(&format!("now() - INTERVAL '{lookback} seconds'"), "");
    // Pipelined: the activity, the auto-scaling relation, the demand
    // history of the predicting clusters the command plans and the audit
    // trail's last suspensions (only of the clusters it plans that forgot
    // what to wake with: a scan of the trail) go out together (one round
    // trip). Which clusters need the trail is judged once nothing read
    // later can leave one alone: at once where no cluster can auto-scale
    // (the release lacks the relation), else after this round, which
    // tells which clusters Materialize scales itself.
    let trail_now = !snap.env.auto_scaling_relation;
    let suspensions_sql = trail_now
        .then(|| last_suspensions_sql(store, &snap, plans))
        .flatten();
    let demand = crate::plan::learns_demand(&snap, plans);
    let (activity, auto_scaling, demand, suspensions) = tokio::join!(
        c.query_typed(&activity_sql, &[]),
        async {
            if snap.env.auto_scaling_relation {
                Some(c.query_typed(AUTO_SCALING_SQL, &[]).await)
            } else {
                None
            }
        },
        load_demand(c, demand, now),
        async {
            match &suspensions_sql {
                Some(sql) => Some(c.query_typed(sql, &[]).await),
                None => None,
            }
        }
    );
    snap.demand = demand;
    attach_suspensions(&mut snap, suspensions)?;
    match optional(activity, "reading the statement log")? {
        Ok(rows) => {
            snap.env.activity_future = attach_activity(&mut snap.clusters, &index, &rows, now);
            snap.activity_log_has_rows = !rows.is_empty();
            snap.activity_log_since = rows
                .iter()
                .filter_map(|r| r.try_get::<_, Option<DateTime<Utc>>>(3).ok().flatten())
                .min()
                .map(|t| t.min(now));
        }
        Err(why) => snap.env.activity_error = Some(why),
    }
    if let Some(result) = auto_scaling {
        match optional(result, "reading the auto-scaling relation")? {
            Ok(rows) => attach_auto_scaling(&mut snap.clusters, &index, &rows),
            Err(why) => snap.env.auto_scaling_error = Some(why),
        }
    }
    // A round of its own, on releases with the relation, and only when a
    // cluster still needs the trail: an auto-scaled cluster left alone
    // with no replica made every run scan it.
    if !trail_now {
        if let Some(sql) = last_suspensions_sql(store, &snap, plans) {
            let read = c.query_typed(&sql, &[]).await;
            attach_suspensions(&mut snap, Some(read))?;
        }
    }
    import_reference_suspensions(&mut snap, reference);
    Ok(snap)
}

/// What mz-clusterctl's idle_suspend suspended, for a cluster still empty
/// that has no state of ours: imported, so its first wake brings it back
/// (it was an alert, users waiting: an outside check). Not where our own
/// trail shows a suspension or a creation since (the cluster, woken or
/// suspended by us after it, then wiped, woke with the reference's stale
/// list, not what we had suspended: an outside check): the trail's
/// memory is the newer one. A table without the reference's rows, or
/// unreadable: nothing to do.
fn import_reference_suspensions(
    snap: &mut Snapshot,
    reference: std::collections::BTreeMap<ClusterId, serde_json::Value>,
) {
    for (id, payload) in reference {
        let empty = snap.cluster(&id).is_some_and(|c| c.replicas.is_empty());
        if !empty || snap.states.contains_key(&id) {
            continue;
        }
        let Some(ours) = crate::strategy::import_reference(&payload) else {
            continue;
        };
        let at = ours["idle_suspend"]["suspended_at"]
            .as_str()
            .and_then(crate::model::utc_time);
        let newer = |t: DateTime<Utc>| at.is_none_or(|at| t > at);
        let ours_since = snap
            .suspensions
            .get(&id)
            .is_some_and(|l| newer(l.at) || l.last_created.is_some_and(newer))
            || snap.created_since.get(&id).is_some_and(|t| newer(*t));
        if !ours_since {
            snap.states.insert(id, ours);
        }
    }
}

/// [`Store::last_suspensions_sql`] for the clusters the command plans that
/// may recall their wake from the trail
/// ([`crate::plan::reads_the_trail_for`]); `None` when none may.
fn last_suspensions_sql(store: &Store, snap: &Snapshot, plans: &Selection) -> Option<String> {
    let recalling = crate::plan::reads_the_trail_for(snap, plans);
    (!recalling.is_empty()).then(|| store.last_suspensions_sql(&recalling))
}

/// What the read of the last suspensions gave, if it was made: a refusal
/// leaves them unknown (said), a transient failure fails the snapshot.
fn attach_suspensions(
    snap: &mut Snapshot,
    read: Option<Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>>,
) -> Result<(), DbError> {
    let Some(read) = read else {
        return Ok(());
    };
    match optional(read, "reading the last suspensions")? {
        Ok(rows) => {
            snap.suspensions = Store::parse_last_suspensions(&rows);
            snap.created_since = Store::parse_last_creations(&rows);
            snap.suspensions_read = true;
        }
        Err(why) => snap.env.suspensions_error = Some(why),
    }
    Ok(())
}

/// The database's clock and what the server is and allows: release,
/// settings, our role (catalog only: works whatever the session cluster).
/// Pipelined; the activity signal is read with the snapshot.
pub async fn environment(c: &Client) -> Result<(DateTime<Utc>, Environment), DbError> {
    let (env_row, identity, settings) = tokio::join!(
        c.query_typed(ENV_SQL, &[]),
        read_identity(c),
        read_settings(c)
    );
    let env_rows = env_row.map_err(q("the server's clock and release"))?;
    let env_row = env_rows.first();
    let now: DateTime<Utc> = env_row
        .and_then(|r| r.try_get(0).ok())
        .unwrap_or_else(Utc::now);
    let current: Option<String> = env_row.and_then(|r| r.try_get(2).ok());
    let env = Environment {
        version: env_row.and_then(|r| r.try_get(1).ok()),
        settings: settings?,
        identity: identity?.resolve(current),
        auto_scaling_relation: env_row
            .and_then(|r| r.try_get::<_, bool>(3).ok())
            .unwrap_or(false),
        environment_id: env_row.and_then(|r| r.try_get(4).ok()),
        ..Environment::default()
    };
    Ok((now, env))
}

/// Whether our role can read the statement log: `None` when it can, else
/// the server's refusal (`doctor`, when no snapshot could be read).
pub async fn probe_activity(c: &Client) -> Result<Option<String>, DbError> {
    let sql = activity_sql("now() - INTERVAL '60 seconds'", "");
    Ok(optional(c.query_typed(&sql, &[]).await, "reading the statement log")?.err())
}

/// A signal some roles or releases cannot read: a server-side refusal
/// (permission denied, unknown relation) becomes `Ok(Err(reason))`, the
/// signal then being unknown; a transient failure stays an error, so the
/// whole snapshot is retried.
pub(super) fn optional(
    r: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
    context: &str,
) -> Result<Result<Vec<tokio_postgres::Row>, String>, DbError> {
    match r {
        Ok(rows) => Ok(Ok(rows)),
        Err(e) if super::is_transient(&e) => Err(DbError::query(context, &e)),
        Err(e) => Ok(Err(super::describe(&e))),
    }
}

/// Seconds of statement history to read: at least `min_activity_lookback`,
/// and long enough for the largest `idle_after_s` scaled by the sample rate
/// (a sampled log needs a longer silence as evidence, `idle_suspend`).
fn activity_lookback(
    opts: &SnapshotOptions,
    strategies: &[crate::model::StrategyRow],
    settings: &Settings,
) -> u64 {
    let idle = crate::strategy::longest_idle_after_s(strategies);
    let needed = crate::strategy::idle_evidence_s(idle, settings.sample_rate());
    opts.min_activity_lookback
        .as_secs()
        .max(needed)
        .min(crate::strategy::keys::MAX_SECONDS)
}

/// Roles and memberships, read before we know `current_role`'s id.
#[derive(Debug, Default)]
struct RoleRows {
    superuser: Option<bool>,
    /// (id, name, member of role id)
    rows: Vec<(String, String, Option<String>)>,
}

impl RoleRows {
    /// Our role's id and the closure of its memberships.
    fn resolve(self, current: Option<String>) -> Identity {
        let mut identity = Identity {
            superuser: self.superuser,
            ..Identity::default()
        };
        for (id, name, of) in &self.rows {
            let Some(id) = RoleId::parse(id) else {
                continue;
            };
            identity.role_names.insert(id, name.clone());
            if let Some(of) = of.as_deref().and_then(RoleId::parse) {
                identity.member_of.entry(id).or_default().push(of);
            }
        }
        // Ours, with the superuser bit only our session can read.
        match current.and_then(|current| identity.acting_as(&current)) {
            Some(ours) => Identity {
                superuser: identity.superuser,
                ..ours
            },
            None => identity,
        }
    }
}

/// Whether we are a superuser, and every role with its memberships. Both
/// optional: a release or role that cannot read them leaves ownership unjudged.
async fn read_identity(c: &Client) -> Result<RoleRows, DbError> {
    let (su, roles) = tokio::join!(
        c.query_typed(SUPERUSER_SQL, &[]),
        c.query_typed(ROLES_SQL, &[])
    );
    let mut out = RoleRows::default();
    if let Ok(rows) = optional(su, "reading whether we are a superuser")? {
        out.superuser = rows.first().and_then(|r| r.try_get(0).ok());
    }
    if let Ok(rows) = optional(roles, "reading roles")? {
        out.rows = rows
            .iter()
            .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?, r.try_get(2).ok()?)))
            .collect();
    }
    Ok(out)
}

/// `SHOW` of every setting in [`SETTINGS`], pipelined.
pub async fn read_settings(c: &Client) -> Result<Settings, DbError> {
    let shows: Vec<String> = SETTINGS.iter().map(|s| format!("SHOW {s}")).collect();
    let results =
        futures_util::future::join_all(shows.iter().map(|sql| c.query_typed(sql, &[]))).await;
    let mut values: Vec<Option<String>> = Vec::with_capacity(SETTINGS.len());
    for r in results {
        let v = match optional(r, "reading a setting")? {
            Ok(rows) => shown(&rows),
            Err(_) => None,
        };
        values.push(v);
    }
    let text = |i: usize| values.get(i).cloned().flatten();
    let number = |i: usize| text(i).and_then(|v| v.trim().parse::<f64>().ok());
    let flag = |i: usize| text(i).and_then(|v| parse_bool(&v));
    Ok(Settings {
        max_replicas_per_cluster: replica_limit(text(0)),
        statement_logging_default_sample_rate: number(1),
        statement_logging_max_sample_rate: number(2),
        enable_zero_downtime_cluster_reconfiguration: flag(3),
        enable_background_alter_cluster: flag(4),
        enable_rbac_checks: flag(5),
        max_credit_consumption_rate: number(6).filter(|n| n.is_finite() && *n >= 0.0),
        allowed_cluster_replica_sizes: text(7).map(|v| size_list(&v)),
    })
}

/// `allowed_cluster_replica_sizes` alone (empty: every size; also where
/// the release has no such setting).
pub(super) async fn allowed_sizes(c: &Client) -> Result<Vec<String>, DbError> {
    // The name of `SETTINGS`, which `read_settings` reads with the rest.
    let sql = format!("SHOW {}", SETTINGS[7]);
    let r = c.query_typed(&sql, &[]).await;
    Ok(match optional(r, "reading a setting")? {
        Ok(rows) => shown(&rows).map(|v| size_list(&v)).unwrap_or_default(),
        Err(_) => Vec::new(),
    })
}

/// `allowed_cluster_replica_sizes` as `SHOW` prints it: identifiers
/// separated by commas, each double-quoted (`"25cc", "50cc"`, an embedded
/// `"` doubled); empty when every size is allowed.
fn size_list(shown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = shown.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let Some(first) = chars.next() else {
            return out;
        };
        let mut name = String::new();
        if first == '"' {
            while let Some(c) = chars.next() {
                if c == '"' && chars.next_if_eq(&'"').is_none() {
                    break;
                }
                name.push(c);
            }
        } else {
            name.push(first);
            while let Some(c) = chars.next_if(|c| *c != ',') {
                name.push(c);
            }
            name = name.trim().to_string();
        }
        if !name.is_empty() {
            out.push(name);
        }
    }
}

/// The value a `SHOW` printed.
fn shown(rows: &[tokio_postgres::Row]) -> Option<String> {
    rows.first().and_then(|r| r.try_get::<_, String>(0).ok())
}

/// `max_replicas_per_cluster` as a count (negative or not a number:
/// unknown).
fn replica_limit(shown: Option<String>) -> Option<u32> {
    shown
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|n| *n >= 0.0)
        .map(|n| n.min(f64::from(u32::MAX)) as u32)
}

/// `on`/`off`, `true`/`false` as Materialize prints booleans.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" | "yes" => Some(true),
        "off" | "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// Whose demand a logged statement is: the cluster holding, now, the name
/// it was sent to, or the cluster it ran on when none holds that name (a
/// cluster renamed since). Users address a cluster by name (`SET cluster =
/// analytics`): after a blue/green swap (`ALTER CLUSTER … SWAP WITH`,
/// which keeps ids and trades names) or a cluster dropped and created
/// again, the workload's past is under its name, on another id. The one
/// rule for every read of demand history ([`DEMAND_SQL`], and
/// `simulate --from-history`'s log): `{log}` is the relation read, and
/// `{of}` the cluster a row counts for. What runs on a cluster now
/// ([`ACTIVITY_SQL`]) is by id: it is that cluster's.
pub(super) const DEMAND_LOG: &str = "mz_internal.mz_statement_execution_history_redacted h \
    LEFT JOIN mz_catalog.mz_clusters held ON held.name = h.cluster_name";
pub(super) const DEMAND_OF: &str = "coalesce(held.id, h.cluster_id)";

/// `sql` with [`DEMAND_LOG`] and [`DEMAND_OF`] filled in.
pub(super) fn demand_sql(sql: &str) -> String {
    sql.replace("{log}", DEMAND_LOG)
        .replace("{of}", DEMAND_OF)
        .replace("{not_ours}", NOT_OURS)
}

/// Needs: mz_internal.mz_statement_execution_history_redacted (the
/// mz_monitor or mz_monitor_redacted role), mz_catalog.mz_clusters. The
/// statement history of the clusters that learn their demand
/// (`idle_suspend` with `predict`) and that the command plans, by cluster
/// ([`DEMAND_OF`]) and UTC hour over the complete days `[{from},
/// {until})`: each logged statement counts 1/sample_rate times (the log is
/// sampled), with the hour's first and last begin; ours ([`NOT_OURS`])
/// left out. The last row (cluster NULL) holds the log's first begin in
/// the window, of every cluster: where its data starts. One statement,
/// whatever the number of clusters; sent only when a cluster the command
/// plans predicts.
const DEMAND_SQL: &str = "SELECT {of}, date_trunc('hour', h.began_at AT TIME ZONE 'UTC'), \
    sum(1.0 / greatest(h.sample_rate, 0.000001))::float8, min(h.began_at), max(h.began_at) \
    FROM {log} \
    WHERE h.began_at >= '{from}'::timestamptz AND h.began_at < '{until}'::timestamptz \
      AND {of} IN ({clusters}) AND {not_ours} \
    GROUP BY {of}, date_trunc('hour', h.began_at AT TIME ZONE 'UTC') \
    UNION ALL \
    SELECT NULL, NULL::timestamp, NULL::float8, min(began_at), NULL::timestamptz \
    FROM mz_internal.mz_statement_execution_history_redacted \
    WHERE began_at >= '{from}'::timestamptz AND began_at < '{until}'::timestamptz \
      AND {not_ours}";

/// The demand history of `clusters`, over its most days
/// ([`crate::plan::learns_demand`]); `None` when there are none, or when
/// the history cannot be read (no monitor role): their profile is then
/// unknown and they react only. Never fails the run.
async fn load_demand(
    c: &Client,
    clusters: Option<(u64, Vec<ClusterId>)>,
    now: DateTime<Utc>,
) -> Option<crate::model::DemandLog> {
    let (days, ids) = clusters?;
    let until = crate::strategy::predict::profile::midnight(now);
    let from = until - chrono::Duration::days(days as i64);
    let clusters: Vec<String> = ids.iter().map(|id| crate::ddl::literal(&id.0)).collect();
    let sql = demand_sql(DEMAND_SQL)
        .replace("{from}", &from.to_rfc3339())
        .replace("{until}", &until.to_rfc3339())
        .replace("{clusters}", &clusters.join(", "));
    match c.query_typed(&sql, &[]).await {
        Ok(rows) => Some(parse_demand(&rows, from, until)),
        Err(e) => {
            tracing::warn!(
                "cannot read the statement history for predictive idle_suspend ({}); \
                 waking on demand only (grant the mz_monitor_redacted role)",
                DbError::query("reading the statement history", &e)
            );
            None
        }
    }
}

/// Rows of [`DEMAND_SQL`] into a [`crate::model::DemandLog`].
fn parse_demand(
    rows: &[tokio_postgres::Row],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> crate::model::DemandLog {
    let mut log = crate::model::DemandLog {
        from: until,
        until,
        clusters: Default::default(),
        profiles: Default::default(),
    };
    for r in rows {
        let cluster: Option<String> = r.try_get(0).ok().flatten();
        let first: Option<DateTime<Utc>> = r.try_get(3).ok().flatten();
        let Some(cluster) = cluster else {
            // Where the log's data starts (its first day counts whole).
            if let Some(t) = first {
                log.from = crate::strategy::predict::profile::midnight(t).max(from);
            }
            continue;
        };
        let hour: Option<chrono::NaiveDateTime> = r.try_get(1).ok().flatten();
        let (Some(hour), Some(first), Some(last)) = (
            hour,
            first,
            r.try_get::<_, Option<DateTime<Utc>>>(4).ok().flatten(),
        ) else {
            continue;
        };
        let statements = r.try_get::<_, Option<f64>>(2).ok().flatten().unwrap_or(0.0);
        log.clusters
            .entry(ClusterId(cluster))
            .or_default()
            .push(crate::model::DemandHour {
                hour: hour.and_utc(),
                statements,
                first,
                last,
            });
    }
    for hours in log.clusters.values_mut() {
        hours.sort_by_key(|h| h.hour);
    }
    log
}

/// Needs: mz_catalog.mz_schemas. The error for a `--schema` that does not
/// exist, if it does not (`None` without `--schema`). Asked where a table
/// is found missing (`LiveBackend::explain_missing`), which PostgreSQL also
/// says of a missing schema, so nobody runs `init` on a typo.
pub async fn missing_schema(c: &Client, store: &Store) -> Result<Option<DbError>, DbError> {
    let Some(schema) = store.schema() else {
        return Ok(None);
    };
    let rows = c
        .query_typed(
            "SELECT 1 FROM mz_catalog.mz_schemas WHERE name = $1",
            &[(&schema, tokio_postgres::types::Type::TEXT)],
        )
        .await
        .map_err(|e| DbError::query("checking the schema", &e))?;
    Ok(rows
        .is_empty()
        .then(|| super::migrate::missing_schema(store)))
}

pub(super) fn parse_sizes(rows: &[tokio_postgres::Row]) -> SizeCatalog {
    SizeCatalog::new(
        rows.iter()
            .filter_map(|r| {
                Some(ReplicaSize {
                    name: Size(r.try_get(0).ok()?),
                    credits_per_hour: r.try_get::<_, Option<f64>>(1).ok()?.unwrap_or(0.0),
                    cpu_cores: r.try_get::<_, Option<f64>>(2).ok()?.unwrap_or(0.0),
                    memory_bytes: r.try_get::<_, Option<f64>>(3).ok()?.unwrap_or(0.0),
                })
            })
            .collect(),
    )
}

/// The rows of `sql`, each parsed as it arrives: at 10 000 clusters the
/// raw rows of the large queries would otherwise all be held at once, next
/// to what is parsed from them (peak RSS, README "Scale"). Rows that do not
/// parse are skipped.
pub(super) async fn parsed_rows<T>(
    c: &Client,
    sql: &str,
    parse: fn(&tokio_postgres::Row) -> Option<T>,
) -> Result<Vec<T>, tokio_postgres::Error> {
    use futures_util::TryStreamExt;
    let no_params: Vec<(
        &(dyn tokio_postgres::types::ToSql + Sync),
        tokio_postgres::types::Type,
    )> = Vec::new();
    let stream = c.query_typed_raw(sql, no_params).await?;
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(row) = stream.try_next().await? {
        out.extend(parse(&row));
    }
    // Growth by doubling leaves up to half the room unused.
    out.shrink_to_fit();
    Ok(out)
}

pub(super) fn parse_cluster(r: &tokio_postgres::Row) -> Option<Cluster> {
    let schedule = Schedule::from_catalog(r.try_get::<_, Option<String>>(5).ok()?);
    Some(Cluster {
        id: ClusterId(r.try_get(0).ok()?),
        name: r.try_get(1).ok()?,
        managed: r.try_get::<_, Option<bool>>(2).ok()?.unwrap_or(false),
        size: r.try_get::<_, Option<String>>(3).ok()?.map(Size),
        replication_factor: r.try_get(4).ok()?,
        schedule,
        has_singleton_source: r.try_get::<_, Option<bool>>(6).ok()?.unwrap_or(false),
        replicas: Vec::new(),
        activity: Activity::default(),
        owner_id: r
            .try_get::<_, Option<String>>(7)
            .ok()?
            .and_then(|o| RoleId::parse(&o)),
        auto_scaling: false,
    })
}

/// A replica and the id of its cluster.
pub(super) fn parse_replica(r: &tokio_postgres::Row) -> Option<(String, Replica)> {
    let cluster_id: String = r.try_get(2).ok()?;
    let objects: i64 = r.try_get(4).ok()?;
    let hydrated_objects: i64 = r.try_get(5).ok()?;
    let offline: bool = r.try_get(6).ok()?;
    let replica = Replica {
        id: r.try_get(0).ok()?,
        name: r.try_get(1).ok()?,
        size: r.try_get::<_, Option<String>>(3).ok()?.map(Size),
        hydrated: hydrated_objects >= objects && !offline,
        crash: CrashInfo {
            crashes: u32::try_from(r.try_get::<_, i64>(7).ok()?).unwrap_or(u32::MAX),
            ooms: u32::try_from(r.try_get::<_, i64>(8).ok()?).unwrap_or(u32::MAX),
            last_crash: r.try_get(9).ok()?,
            first_crash: r.try_get(12).ok().flatten(),
            last_offline: r.try_get(13).ok().flatten(),
        },
        owner_id: r
            .try_get::<_, Option<String>>(10)
            .ok()?
            .and_then(|o| RoleId::parse(&o)),
        since: r.try_get(11).ok().flatten(),
        offline: r.try_get(14).ok().unwrap_or(false),
        objects: (objects > 0).then(|| Objects {
            hydrated: u32::try_from(hydrated_objects).unwrap_or(u32::MAX),
            total: u32::try_from(objects).unwrap_or(u32::MAX),
        }),
    };
    Some((cluster_id, replica))
}

/// Position of each cluster by id, for attaching per-cluster rows.
pub(super) fn index_by_id(clusters: &[Cluster]) -> HashMap<String, usize> {
    clusters
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.0.clone(), i))
        .collect()
}

pub(super) fn attach_replicas(
    clusters: &mut [Cluster],
    index: &HashMap<String, usize>,
    replicas: Vec<(String, Replica)>,
) {
    for (cluster_id, replica) in replicas {
        if let Some(&i) = index.get(&cluster_id) {
            clusters[i].replicas.push(replica);
        }
    }
    // Growth by doubling leaves spare room in 10 000 small vectors.
    for c in clusters.iter_mut() {
        c.replicas.shrink_to_fit();
    }
}

/// Attaches each cluster's latest statement and statements in flight. A
/// statement dated after the database's clock (`now`: a clock stepped back)
/// is taken as beginning now, which keeps its cluster awake rather than
/// idle; the latest such date is returned, to be said.
fn attach_activity(
    clusters: &mut [Cluster],
    index: &HashMap<String, usize>,
    rows: &[tokio_postgres::Row],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut future = None;
    for r in rows {
        let Ok(Some(cluster_id)) = r.try_get::<_, Option<String>>(0) else {
            continue;
        };
        let Some(&i) = index.get(&cluster_id) else {
            continue;
        };
        let read = parse_activity(r);
        if let Some(t) = read.last_begin.filter(|t| *t > now) {
            future = future.max(Some(t));
        }
        clusters[i].activity = Activity {
            last_begin: read.last_begin.map(|t| t.min(now)),
            ..read
        };
    }
    future
}

/// A row of [`ACTIVITY_SQL`] as read (a begin in the future kept as is).
fn parse_activity(r: &tokio_postgres::Row) -> Activity {
    Activity {
        last_begin: r.try_get(1).ok().flatten(),
        last_end: r.try_get(4).ok().flatten(),
        in_flight: r
            .try_get::<_, Option<i64>>(2)
            .ok()
            .flatten()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0),
    }
}

pub(super) fn attach_auto_scaling(
    clusters: &mut [Cluster],
    index: &HashMap<String, usize>,
    rows: &[tokio_postgres::Row],
) {
    for r in rows {
        let Ok(Some(cluster_id)) = r.try_get::<_, Option<String>>(0) else {
            continue;
        };
        if let Some(&i) = index.get(&cluster_id) {
            clusters[i].auto_scaling = true;
        }
    }
}

/// Needs: mz_catalog.mz_clusters. Names by id, for commands that show or
/// select clusters without a whole snapshot.
const CLUSTER_NAMES_SQL: &str = "SELECT id, name FROM mz_catalog.mz_clusters";

/// Every cluster's (id, name).
pub async fn cluster_names(c: &Client) -> Result<Vec<(ClusterId, String)>, DbError> {
    let rows = c
        .query_typed(CLUSTER_NAMES_SQL, &[])
        .await
        .map_err(q("clusters"))?;
    Ok(rows
        .iter()
        .filter_map(|r| Some((ClusterId(r.try_get(0).ok()?), r.try_get(1).ok()?)))
        .collect())
}

/// One cluster's name now and whether it is managed, by its id (`None`:
/// dropped), for the plan guard: DDL addresses a cluster by name, and a
/// rename or a swap (blue/green deployments) keeps the id but gives the
/// name to another cluster; replica DDL and `ALTER CLUSTER … SET` each
/// fit one kind of cluster.
pub async fn identity_of(
    c: &Client,
    cluster: &ClusterId,
) -> Result<Option<(String, bool)>, DbError> {
    let rows = c
        .query_typed(
            "SELECT name, managed FROM mz_catalog.mz_clusters WHERE id = $1",
            &[(&cluster.0, tokio_postgres::types::Type::TEXT)],
        )
        .await
        .map_err(|e| DbError::query("re-reading the cluster's name", &e))?;
    Ok(rows
        .first()
        .and_then(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?))))
}

/// One cluster's activity since `since` ([`ACTIVITY_SQL`]), for the plan
/// guard of a suspension.
pub async fn activity_of(
    c: &Client,
    cluster: &ClusterId,
    since: DateTime<Utc>,
) -> Result<Activity, DbError> {
    use tokio_postgres::types::Type;
    let sql = activity_sql("$2", "AND cluster_id = $1");
    let rows = c
        .query_typed(
            &sql,
            &[(&cluster.0, Type::TEXT), (&since, Type::TIMESTAMPTZ)],
        )
        .await
        .map_err(|e| DbError::query("re-reading the cluster's activity", &e))?;
    Ok(rows.first().map(parse_activity).unwrap_or_default())
}

/// One cluster's replicas right now, `(name, size, hydrated)`, for the
/// plan guard: [`REPLICAS_SQL`] for that cluster, so "hydrated" means what
/// it means in the snapshot.
pub async fn replicas_of(c: &Client, cluster: &ClusterId) -> Result<Vec<Seen>, DbError> {
    let sql = replicas_sql_of(CRASH_WINDOW, Some("$1"));
    let rows = c
        .query_typed(&sql, &[(&cluster.0, tokio_postgres::types::Type::TEXT)])
        .await
        .map_err(|e| DbError::query("re-reading the cluster's replicas", &e))?;
    Ok(rows
        .iter()
        .filter_map(parse_replica)
        .map(|(_, r)| Seen::of(&r))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demand read counts a statement for the cluster holding the name
    /// it was sent to, and leaves no placeholder of the rule unfilled.
    #[test]
    fn demand_is_read_by_the_name_a_statement_was_sent_to() {
        let sql = demand_sql(DEMAND_SQL);
        assert!(sql.contains("LEFT JOIN mz_catalog.mz_clusters held ON held.name = h.cluster_name"));
        assert!(
            sql.contains("coalesce(held.id, h.cluster_id) IN ({clusters})"),
            "{sql}"
        );
        assert!(sql.contains(NOT_OURS), "{sql}");
        assert!(!sql.contains("{of}") && !sql.contains("{log}") && !sql.contains("{not_ours}"));
    }

    /// The plan guard's read of one cluster reads every part for that
    /// cluster alone (each aggregate over the whole fleet made a mass apply
    /// cost actions × clusters); the snapshot's reads every replica.
    #[test]
    fn one_clusters_replicas_are_read_for_that_cluster_alone() {
        let one = replicas_sql_of(CRASH_WINDOW, Some("$1"));
        assert!(!one.contains('{'), "{one}");
        assert_eq!(one.matches("cluster_id = $1").count(), 8, "{one}");
        let all = replicas_sql(CRASH_WINDOW);
        assert!(!all.contains('{') && !all.contains("$1"), "{all}");
    }

    #[test]
    fn the_replica_limit_is_a_count_or_unknown() {
        let limit = |v: &str| replica_limit(Some(v.to_string()));
        assert_eq!(limit("5"), Some(5));
        assert_eq!(limit(" 0 "), Some(0));
        assert_eq!(limit("1e12"), Some(u32::MAX));
        assert_eq!(limit("-1"), None);
        assert_eq!(limit("five"), None);
        assert_eq!(limit("NaN"), None);
        assert_eq!(replica_limit(None), None);
    }

    #[test]
    fn allowed_sizes_as_materialize_prints_them() {
        // `SHOW allowed_cluster_replica_sizes` prints `"25cc", "50cc"`
        // (Materialize's test_github_18189), empty for every size.
        assert_eq!(size_list(r#""25cc", "50cc""#), ["25cc", "50cc"]);
        assert_eq!(size_list(""), Vec::<String>::new());
        assert_eq!(size_list("25cc,50cc"), ["25cc", "50cc"]);
        assert_eq!(
            size_list(r#""a""b", "scale=1,workers=1""#),
            [r#"a"b"#, "scale=1,workers=1"]
        );
    }

    #[test]
    fn booleans_as_materialize_prints_them() {
        assert_eq!(parse_bool("on"), Some(true));
        assert_eq!(parse_bool(" OFF"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}

#[cfg(test)]
mod reference_tests {
    use super::*;
    use crate::model::{Cluster, LastSuspension};

    /// The reference's suspension is imported for an empty cluster with no
    /// state of ours, unless our trail shows a suspension or a creation
    /// after it (the newer memory: a wiped cluster woke with the
    /// reference's stale list).
    #[test]
    fn the_references_suspension_is_imported_unless_ours_is_newer() {
        let id = ClusterId("u2".into());
        let payload = serde_json::json!({"last_suspend": {
            "timestamp": "2026-12-07T05:30:00.123456",
            "suspended_replicas": [{"name": "r1", "size": "25cc"}]}});
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .ok()
        };
        let imported = |ours: Option<LastSuspension>, replicas: bool| {
            let mut cluster = Cluster::empty(id.clone(), "c");
            if replicas {
                cluster.replicas = vec![crate::strategy::testutil::replica("r9", "50cc", true)];
            }
            let mut snap = Snapshot {
                clusters: vec![cluster],
                ..Snapshot::default()
            };
            if let Some(l) = ours {
                snap.suspensions.insert(id.clone(), l);
            }
            import_reference_suspensions(
                &mut snap,
                std::collections::BTreeMap::from([(id.clone(), payload.clone())]),
            );
            snap.states.contains_key(&id)
        };
        let ours = |suspended: &str, created: Option<&str>| LastSuspension {
            at: at(suspended).expect("a time"),
            dropped: vec![("r_big".into(), Some(crate::model::Size::from("200cc")))],
            live: Vec::new(),
            last_created: created.and_then(at),
            made_while_suspended: Vec::new(),
        };
        assert!(imported(None, false), "nothing of ours");
        assert!(!imported(None, true), "it runs replicas");
        assert!(
            imported(Some(ours("2026-12-07T05:00:00Z", None)), false),
            "ours is older"
        );
        assert!(
            !imported(Some(ours("2026-12-07T06:00:00Z", None)), false),
            "we suspended it since"
        );
        assert!(
            !imported(
                Some(ours("2026-12-07T05:00:00Z", Some("2026-12-07T05:45:00Z"))),
                false
            ),
            "we woke it since"
        );
        // Woken by us, never suspended by us (an outside re-check).
        let mut cluster = Cluster::empty(id.clone(), "c");
        cluster.replicas.clear();
        let mut snap = Snapshot {
            clusters: vec![cluster],
            ..Snapshot::default()
        };
        snap.created_since
            .insert(id.clone(), at("2026-12-07T06:00:00Z").expect("a time"));
        import_reference_suspensions(
            &mut snap,
            std::collections::BTreeMap::from([(id.clone(), payload.clone())]),
        );
        assert!(!snap.states.contains_key(&id), "we woke it since");
    }
}
