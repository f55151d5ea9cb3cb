//! What `simulate --from-history` reads: the clusters, their replicas and
//! sizes, the strategy rows and state, and what Materialize recorded over
//! the window (the statement log per cluster and minute, replica start-up
//! times, memory in use) and the audit trail's last suspension of each
//! cluster. Read-only, in twelve statements pipelined on one connection
//! whatever the number of clusters. The statement log is
//! required; the other recorded signals degrade to a note when the role
//! cannot read them.

use chrono::{DateTime, Utc};

use super::catalog::{self, CLUSTERS_SQL, SIZES_SQL};
use super::store::Store;
use super::{Client, DbError};
use crate::model::{ClusterId, Size};
use crate::sim::history::{Bucket, HydrationSample, LiveHistory, MemorySample, OomSample};

/// Needs: mz_internal.mz_statement_execution_history_redacted (the
/// mz_monitor or mz_monitor_redacted role), mz_catalog.mz_clusters. Logged
/// statements by user cluster (whose demand each is:
/// [`catalog::DEMAND_OF`]) and UTC minute over the `{days}` days before the current whole
/// minute, each counting 1/sample_rate (the log is sampled); ours
/// ([`catalog::NOT_OURS`]) left out. The last row
/// (cluster NULL) holds the log's mean sample rate over the window and the
/// window's end, so every row of the answer agrees on one clock.
const LOG_SQL: &str = "SELECT {of}, date_trunc('minute', h.began_at AT TIME ZONE 'UTC'), \
    sum(1.0 / greatest(h.sample_rate, 0.000001))::float8, NULL::float8, NULL::timestamp \
    FROM {log} \
    WHERE h.began_at AT TIME ZONE 'UTC' >= date_trunc('minute', now() AT TIME ZONE 'UTC') - INTERVAL '{days} days' \
      AND h.began_at AT TIME ZONE 'UTC' < date_trunc('minute', now() AT TIME ZONE 'UTC') \
      AND {of} LIKE 'u%' AND {not_ours} \
    GROUP BY {of}, date_trunc('minute', h.began_at AT TIME ZONE 'UTC') \
    UNION ALL \
    SELECT NULL::text, NULL::timestamp, NULL::float8, avg(sample_rate)::float8, \
           date_trunc('minute', now() AT TIME ZONE 'UTC') \
    FROM mz_internal.mz_statement_execution_history_redacted \
    WHERE began_at AT TIME ZONE 'UTC' >= date_trunc('minute', now() AT TIME ZONE 'UTC') - INTERVAL '{days} days' \
      AND began_at AT TIME ZONE 'UTC' < date_trunc('minute', now() AT TIME ZONE 'UTC') \
      AND cluster_id LIKE 'u%' AND {not_ours}";

/// Needs: mz_internal.mz_cluster_replica_status_history,
/// mz_catalog.mz_cluster_replicas. Per live replica of a user cluster: its
/// first status event, its first `offline`/`initializing` event and its
/// first `online` event. A replica whose first event is `initializing`
/// (Materialize writes it at creation, reference §8.7) took `online −
/// initializing` to start: in Materialize `online` means its processes run,
/// which comes before the dataflows are hydrated, so this is a lower bound
/// of the hydration the simulator models (no relation keeps a history of
/// hydration: `mz_compute_hydration_statuses` knows live replicas only).
/// Dropped replicas are left out: their size is no longer in the catalog;
/// a replica older than the history's retention (30 days) has no
/// `initializing` event left and gives no sample.
///
/// The same statement counts each replica's OOM kills within the window
/// (`reason = 'oom-killed'`): the workload needed more than its size.
const HYDRATION_SQL: &str = "SELECT r.cluster_id, r.size, min(h.occurred_at), \
    min(CASE WHEN h.status = 'offline' AND h.reason = 'initializing' THEN h.occurred_at END), \
    min(CASE WHEN h.status = 'online' THEN h.occurred_at END), r.name, \
    count(CASE WHEN h.reason = 'oom-killed' AND h.occurred_at > now() - INTERVAL '{days} days' \
    THEN 1 END) \
    FROM mz_internal.mz_cluster_replica_status_history h \
    JOIN mz_catalog.mz_cluster_replicas r ON r.id = h.replica_id \
    WHERE r.cluster_id LIKE 'u%' AND r.size IS NOT NULL \
    GROUP BY r.cluster_id, r.id, r.size, r.name";

/// Needs: mz_internal.mz_cluster_replica_utilization,
/// mz_catalog.mz_cluster_replicas, mz_cluster_replica_sizes. Memory in use
/// on each live replica of a user cluster now: `memory_percent` of each
/// process × the size's memory per process, summed over its processes.
const MEMORY_SQL: &str = "SELECT r.cluster_id, \
    sum(u.memory_percent / 100.0 * (s.memory_bytes::numeric)::float8)::float8, r.name \
    FROM mz_internal.mz_cluster_replica_utilization u \
    JOIN mz_catalog.mz_cluster_replicas r ON r.id = u.replica_id \
    JOIN mz_catalog.mz_cluster_replica_sizes s ON s.size = r.size \
    WHERE r.cluster_id LIKE 'u%' AND u.memory_percent IS NOT NULL \
    GROUP BY r.cluster_id, r.id, r.name";

/// Needs: mz_internal.mz_cluster_replica_utilization_history (Materialize
/// v0.116 and later), mz_catalog.mz_cluster_replicas,
/// mz_cluster_replica_sizes. The most memory each live replica of a user
/// cluster used within the window: the peak of each process, summed over
/// its processes (an upper bound when processes peak apart). Same columns
/// as [`MEMORY_SQL`].
const MEMORY_PEAK_SQL: &str = "SELECT cluster_id, sum(peak)::float8, name FROM (\
    SELECT r.cluster_id, r.id, r.name, u.process_id, \
    max(u.memory_percent / 100.0 * (s.memory_bytes::numeric)::float8) AS peak \
    FROM mz_internal.mz_cluster_replica_utilization_history u \
    JOIN mz_catalog.mz_cluster_replicas r ON r.id = u.replica_id \
    JOIN mz_catalog.mz_cluster_replica_sizes s ON s.size = r.size \
    WHERE r.cluster_id LIKE 'u%' AND u.memory_percent IS NOT NULL \
    AND u.occurred_at > now() - INTERVAL '{days} days' \
    GROUP BY r.cluster_id, r.id, r.name, u.process_id) p \
    GROUP BY cluster_id, id, name";

/// Needs: mz_version(). The release: how a managed resize runs.
const VERSION_SQL: &str = "SELECT mz_catalog.mz_version()";

/// The role the statement log needs, for the error when it cannot be read.
const LOG_ROLE_HINT: &str = "simulate --from-history needs the statement log: grant the \
    mz_monitor_redacted (or mz_monitor) role to the role clusterctl connects as";

fn q(context: &'static str) -> impl Fn(tokio_postgres::Error) -> DbError {
    move |e| DbError::query(format!("reading {context}"), &e)
}

/// Reads everything the scenario is built from, over the `days` before the
/// database's current minute. Statements: sizes, clusters, replicas,
/// strategy rows, strategy state, the statement log, status history,
/// utilization now and over the window, the settings every command reads
/// (eight `SHOW`s: the replica limit, how a resize runs, the allowed
/// sizes), the release, the auto-scaled clusters and the audit trail's
/// last suspensions — twenty, pipelined, whatever the number of clusters.
pub async fn read(c: &Client, store: &Store, days: u32) -> Result<LiveHistory, DbError> {
    let replicas_sql = catalog::replicas_sql(crate::model::CRASH_WINDOW);
    let over_window = |sql: &str| catalog::demand_sql(sql).replace("{days}", &days.to_string());
    let (log_sql, hydration_sql, peak_sql) = (
        over_window(LOG_SQL),
        over_window(HYDRATION_SQL),
        over_window(MEMORY_PEAK_SQL),
    );
    let suspensions_sql = store.every_last_suspension_sql();
    let (
        sizes,
        clusters,
        replicas,
        strategies,
        states,
        log,
        hydration,
        memory,
        peak,
        settings,
        version,
        auto,
        suspensions,
    ) = tokio::join!(
        c.query_typed(SIZES_SQL, &[]),
        catalog::parsed_rows(c, CLUSTERS_SQL, catalog::parse_cluster),
        catalog::parsed_rows(c, &replicas_sql, catalog::parse_replica),
        store.strategies(c),
        store.states(c),
        c.query_typed(&log_sql, &[]),
        c.query_typed(&hydration_sql, &[]),
        c.query_typed(MEMORY_SQL, &[]),
        c.query_typed(&peak_sql, &[]),
        catalog::read_settings(c),
        c.query_typed(VERSION_SQL, &[]),
        c.query_typed(catalog::AUTO_SCALING_SQL, &[]),
        c.query_typed(&suspensions_sql, &[]),
    );
    let settings = settings?;
    let version = version
        .ok()
        .and_then(|rows| rows.first().and_then(|r| r.try_get::<_, String>(0).ok()));
    let mut h = LiveHistory {
        days,
        env: crate::model::Environment {
            version,
            settings,
            ..Default::default()
        },
        sizes: catalog::parse_sizes(&sizes.map_err(q("replica sizes"))?),
        ..LiveHistory::default()
    };
    let mut clusters = clusters.map_err(q("clusters"))?;
    clusters.retain(|c| !c.is_system());
    let index = catalog::index_by_id(&clusters);
    catalog::attach_replicas(&mut clusters, &index, replicas.map_err(q("replicas"))?);
    let auto = match auto {
        // A release without the relation auto-scales nothing.
        Err(e) if super::Missing::of(&e) == Some(super::Missing::Table) => Ok(Vec::new()),
        other => catalog::optional(other, "reading the auto-scaling relation")?,
    };
    match auto {
        Ok(rows) => catalog::attach_auto_scaling(&mut clusters, &index, &rows),
        Err(why) => h.notes.push(format!(
            "cannot read mz_internal.mz_cluster_auto_scaling_strategies ({why}): a cluster \
             Materialize auto-scales is replayed as its strategies would run it"
        )),
    }
    h.clusters = clusters;
    let log = match log {
        Ok(rows) => rows,
        Err(e) if super::is_transient(&e) => return Err(q("the statement log")(e)),
        Err(e) => {
            return Err(DbError::Query {
                context: format!("reading the statement log ({LOG_ROLE_HINT})"),
                reason: super::describe(&e),
                transient: false,
            })
        }
    };
    h.strategies = match strategies {
        Ok(rows) => rows,
        Err(e) if super::Missing::of(&e).is_some() => {
            h.notes.push(format!(
                "clusterctl's tables are missing ({} does not exist): every cluster is replayed without strategies (try --compare)",
                store.table(super::store::STRATEGIES)
            ));
            Vec::new()
        }
        // Another tool's table of our name: said as every reader says it
        // (`missing_or`, then `explain_missing` asks the catalog; the raw
        // "column … does not exist" came out here: an outside check).
        Err(e) => {
            return Err(super::store::missing_or(
                &e,
                store,
                super::store::STRATEGIES,
                "reading strategies",
            ))
        }
    };
    // Missing with the strategies table: said once, above.
    h.states = match states {
        Ok(rows) => rows,
        Err(e) if super::Missing::of(&e).is_some() => Default::default(),
        Err(e) => {
            return Err(super::store::missing_or(
                &e,
                store,
                super::store::STATE,
                "reading strategy state",
            ))
        }
    };
    // What a suspended cluster whose state was wiped wakes with. Missing
    // with the other tables; another refusal is said.
    match suspensions {
        Ok(rows) => h.suspensions = Store::parse_last_suspensions(&rows),
        Err(e) if super::Missing::of(&e).is_some() => {}
        Err(e) if super::is_transient(&e) => return Err(q("the audit trail")(e)),
        Err(e) => h.notes.push(format!(
            "cannot read the audit trail ({}): a suspended cluster whose state was wiped is \
             replayed without what its last suspension dropped",
            super::describe(&e)
        )),
    }
    parse_log(&log, &mut h);
    match catalog::optional(hydration, "reading the replica status history")? {
        Ok(rows) => {
            h.hydrations = parse_hydrations(&rows);
            h.ooms = parse_ooms(&rows);
        }
        Err(why) => h.notes.push(format!(
            "cannot read the replica status history ({why}): hydration assumed {} on each cluster's size",
            crate::model::human_duration(crate::strategy::predict::hydration::DEFAULT_S.into())
        )),
    }
    match catalog::optional(memory, "reading replica utilization")? {
        Ok(rows) => h.memory = parse_memory(&rows),
        Err(why) => h.notes.push(format!(
            "cannot read replica utilization ({why}): memory assumed half of each cluster's size"
        )),
    }
    match catalog::optional(peak, "reading the replica utilization history")? {
        Ok(rows) => h.memory.extend(parse_memory(&rows)),
        Err(why) => h.notes.push(format!(
            "cannot read the replica utilization history ({why}): memory is what the replicas use now, not their peak"
        )),
    }
    Ok(h)
}

fn parse_log(rows: &[tokio_postgres::Row], h: &mut LiveHistory) {
    for r in rows {
        let cluster: Option<String> = r.try_get(0).ok().flatten();
        let Some(cluster) = cluster else {
            h.sample_rate = r.try_get::<_, Option<f64>>(3).ok().flatten();
            if let Some(until) = r
                .try_get::<_, Option<chrono::NaiveDateTime>>(4)
                .ok()
                .flatten()
            {
                h.until = until.and_utc();
            }
            continue;
        };
        let minute: Option<chrono::NaiveDateTime> = r.try_get(1).ok().flatten();
        let weight: Option<f64> = r.try_get(2).ok().flatten();
        if let (Some(minute), Some(weight)) = (minute, weight) {
            h.buckets.push(Bucket {
                cluster: ClusterId(cluster),
                minute: minute.and_utc(),
                weight,
            });
        }
    }
}

fn parse_hydrations(rows: &[tokio_postgres::Row]) -> Vec<HydrationSample> {
    rows.iter()
        .filter_map(|r| {
            let first: DateTime<Utc> = r.try_get(2).ok()?;
            let init: DateTime<Utc> = r.try_get::<_, Option<DateTime<Utc>>>(3).ok()??;
            let online: DateTime<Utc> = r.try_get::<_, Option<DateTime<Utc>>>(4).ok()??;
            if init != first || online <= init {
                return None;
            }
            Some(HydrationSample {
                cluster: ClusterId(r.try_get(0).ok()?),
                replica: r.try_get(5).ok()?,
                size: Size(r.try_get(1).ok()?),
                seconds: (online - init).num_milliseconds() as f64 / 1000.0,
            })
        })
        .collect()
}

/// Replicas OOM-killed within the window, from [`HYDRATION_SQL`]'s rows.
fn parse_ooms(rows: &[tokio_postgres::Row]) -> Vec<OomSample> {
    rows.iter()
        .filter_map(|r| {
            let kills: i64 = r.try_get(6).ok()?;
            Some(OomSample {
                cluster: ClusterId(r.try_get(0).ok()?),
                replica: r.try_get(5).ok()?,
                size: Size(r.try_get(1).ok()?),
                kills: u32::try_from(kills).ok().filter(|k| *k > 0)?,
            })
        })
        .collect()
}

fn parse_memory(rows: &[tokio_postgres::Row]) -> Vec<MemorySample> {
    rows.iter()
        .filter_map(|r| {
            Some(MemorySample {
                cluster: ClusterId(r.try_get(0).ok()?),
                replica: r.try_get(2).ok()?,
                bytes: r.try_get::<_, Option<f64>>(1).ok()??,
            })
        })
        .collect()
}
