//! The session cluster (reference §8.2): Materialize runs every read and
//! write of our own tables on the session's cluster, so it must exist, our
//! role must have USAGE on it, and it must have a replica. This module reads
//! that (three catalog-only statements, which Materialize routes to
//! `mz_catalog_server`, so they work even when the session cluster cannot
//! serve) and carries out `--create-replica`'s DDL. What to make of it is
//! `commands::session`'s business.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::types::Type;

use super::{Client, DbError};
use crate::ddl;
use crate::model::{ClusterId, Size};

const SHOW_CLUSTER_SQL: &str = "SHOW cluster";

/// Needs: mz_catalog.mz_clusters, mz_cluster_replicas. The database's
/// clock and the cluster with its replicas (one row per replica).
/// Each replica with whether it is online: every process `online`
/// (`mz_cluster_replica_statuses`, catalog-only, one row per process);
/// NULL where it has no status yet.
const CLUSTER_SQL: &str = "SELECT now(), c.id, c.managed, r.name, r.size, \
    (SELECT bool_and(s.status = 'online') FROM mz_internal.mz_cluster_replica_statuses s \
     WHERE s.replica_id = r.id) \
    FROM mz_catalog.mz_clusters c \
    LEFT JOIN mz_catalog.mz_cluster_replicas r ON r.cluster_id = c.id \
    WHERE c.name = $1 ORDER BY r.name";

/// Needs: current_role, has_cluster_privilege, mz_is_superuser (RBAC
/// releases). Optional. A superuser may use any cluster, but the inquiry
/// function does not consider it (Materialize's docs): without the
/// `mz_is_superuser()`, a superuser with no grant on the cluster was
/// refused by every command.
const USAGE_SQL: &str =
    "SELECT current_role::text, has_cluster_privilege($1, 'USAGE') OR mz_is_superuser()";

/// Needs: mz_catalog.mz_clusters, mz_cluster_replicas,
/// mz_internal.mz_cluster_replica_statuses (catalog-only, so it runs while
/// the session cluster cannot serve). One row per process of the replica;
/// a NULL status where it has none yet (reference §7 item 4).
const REPLICA_STATUS_SQL: &str = "SELECT s.status \
    FROM mz_catalog.mz_cluster_replicas r \
    JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id \
    LEFT JOIN mz_internal.mz_cluster_replica_statuses s ON s.replica_id = r.id \
    WHERE c.name = $1 AND r.name = $2";

/// Where a replica is in its start-up (reference §8.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// Every process reports online: it serves.
    Online,
    /// Still starting (offline/`initializing`, or no status yet), or down.
    Starting,
    /// No such replica (dropped elsewhere).
    Gone,
}

/// A replica of the session cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReplica {
    pub name: String,
    pub size: Option<Size>,
    /// Every process online; `None` when its status is not known (none
    /// reported yet, or not readable).
    pub online: Option<bool>,
}

/// The session cluster as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionCluster {
    /// `--exec-cluster`, or the server's default (`SHOW cluster`).
    pub name: String,
    /// Named with `--exec-cluster` (else the server's default).
    pub explicit: bool,
    /// `None`: no cluster of that name.
    pub id: Option<ClusterId>,
    pub managed: bool,
    pub replicas: Vec<SessionReplica>,
    /// Our role, as `current_role` names it.
    pub role: Option<String>,
    /// USAGE on the cluster; `None` when the release cannot say.
    pub usage: Option<bool>,
    /// The database's clock, as of this read.
    #[serde(skip)]
    pub clock: super::DbClock,
}

/// Reads the session cluster: `exec_cluster`, or the server's default.
/// `None` from a server without clusters (plain PostgreSQL refuses `SHOW
/// cluster`): there is nothing to check.
pub async fn inspect(
    c: &Client,
    exec_cluster: Option<&str>,
) -> Result<Option<SessionCluster>, DbError> {
    let (name, explicit) = match exec_cluster {
        Some(n) => (n.to_string(), true),
        None => {
            let rows = match c.query_typed(SHOW_CLUSTER_SQL, &[]).await {
                Ok(rows) => rows,
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_OBJECT) => {
                    return Ok(None)
                }
                Err(e) => {
                    return Err(DbError::query(
                        "reading the session cluster (SHOW cluster)",
                        &e,
                    ))
                }
            };
            let name: String = rows
                .first()
                .and_then(|r| r.try_get(0).ok())
                .unwrap_or_default();
            (name, false)
        }
    };
    let param: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 1] = [(&name, Type::TEXT)];
    let (cluster, usage) = tokio::join!(
        c.query_typed(CLUSTER_SQL, &param),
        c.query_typed(USAGE_SQL, &param),
    );
    let rows = cluster.map_err(|e| DbError::query("reading the session cluster", &e))?;
    let first = rows.first();
    let now = first
        .and_then(|r| r.try_get::<_, DateTime<Utc>>(0).ok())
        .unwrap_or_default();
    let id: Option<String> = first.and_then(|r| r.try_get(1).ok());
    let managed = first
        .and_then(|r| r.try_get::<_, Option<bool>>(2).ok().flatten())
        .unwrap_or(false);
    let replicas = rows
        .iter()
        .filter_map(|r| {
            let name: String = r.try_get::<_, Option<String>>(3).ok()??;
            let size: Option<String> = r.try_get(4).ok()?;
            Some(SessionReplica {
                name,
                size: size.map(Size),
                online: r.try_get::<_, Option<bool>>(5).ok().flatten(),
            })
        })
        .collect();
    // An unknown function or a transient error leaves USAGE unknown: the
    // statements themselves will say.
    let (role, usage) = match usage {
        Ok(rows) => (
            rows.first().and_then(|r| r.try_get(0).ok()),
            rows.first().and_then(|r| r.try_get(1).ok()),
        ),
        Err(_) => (None, None),
    };
    Ok(Some(SessionCluster {
        name,
        explicit,
        id: id.map(ClusterId),
        managed,
        replicas,
        role,
        usage,
        clock: super::DbClock::read(now),
    }))
}

/// The replica sizes the region offers (`mz_cluster_replica_sizes`,
/// cheapest first, those `allowed_cluster_replica_sizes` allows), read
/// before a temporary replica is made: a size it does not offer is said up
/// front, not sent (the refused CREATE could not be audited on a session
/// cluster without a replica, and the next run called it killed: an
/// outside check).
pub async fn offered_sizes(c: &Client) -> Result<Vec<String>, DbError> {
    let (rows, allowed) = tokio::join!(
        c.query_typed(
            "SELECT size FROM mz_catalog.mz_cluster_replica_sizes \
             ORDER BY credits_per_hour, size",
            &[],
        ),
        super::catalog::allowed_sizes(c)
    );
    let rows = rows.map_err(|e| DbError::query("reading the replica sizes", &e))?;
    let allowed = allowed?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<_, String>(0).ok())
        .filter(|s| allowed.is_empty() || allowed.contains(s))
        .collect())
}

/// `CREATE CLUSTER REPLICA cluster.name (SIZE = size)`.
pub async fn create_replica(
    c: &Client,
    cluster: &str,
    name: &str,
    size: &Size,
) -> Result<String, DbError> {
    let sql = ddl::create_replica(cluster, name, size);
    send(c, sql, "creating", name).await
}

/// Sends one DDL about the temporary replica `name`; returns its SQL, for
/// the audit trail. A failure says what was being done (`doing`) to it.
async fn send(c: &Client, sql: String, doing: &str, name: &str) -> Result<String, DbError> {
    c.batch_execute(&sql)
        .await
        .map_err(|e| DbError::query(format!("{doing} the temporary replica {name}"), &e))?;
    Ok(sql)
}

/// Whether replica `name` of `cluster` is online yet.
pub async fn startup(c: &Client, cluster: &str, name: &str) -> Result<Startup, DbError> {
    let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 2] =
        [(&cluster, Type::TEXT), (&name, Type::TEXT)];
    let rows = c
        .query_typed(REPLICA_STATUS_SQL, &params)
        .await
        .map_err(|e| DbError::query(format!("reading the status of replica {name}"), &e))?;
    let statuses: Vec<Option<String>> = rows.iter().map(|r| r.try_get(0).ok().flatten()).collect();
    Ok(startup_of(&statuses))
}

/// A replica's start-up from its processes' statuses.
fn startup_of(statuses: &[Option<String>]) -> Startup {
    if statuses.is_empty() {
        Startup::Gone
    } else if statuses.iter().all(|s| s.as_deref() == Some("online")) {
        Startup::Online
    } else {
        Startup::Starting
    }
}

/// The name cluster `id` has now; `None` when it is gone.
pub async fn cluster_name(c: &Client, id: &ClusterId) -> Result<Option<String>, DbError> {
    let rows = c
        .query_typed(
            "SELECT name FROM mz_catalog.mz_clusters WHERE id = $1",
            &[(&id.0, Type::TEXT)],
        )
        .await
        .map_err(|e| DbError::query("reading the cluster's name", &e))?;
    Ok(rows.first().and_then(|r| r.try_get(0).ok()))
}

/// `DROP CLUSTER REPLICA IF EXISTS cluster.name` (another run may race us
/// to a leftover).
pub async fn drop_replica(c: &Client, cluster: &str, name: &str) -> Result<String, DbError> {
    send(
        c,
        ddl::drop_replica_if_exists(cluster, name),
        "dropping",
        name,
    )
    .await
}

/// `ALTER CLUSTER REPLICA cluster.name RENAME TO to`: a `--watch` process
/// renews its temporary replica in place.
pub async fn rename_replica(
    c: &Client,
    cluster: &str,
    name: &str,
    to: &str,
) -> Result<String, DbError> {
    send(c, ddl::rename_replica(cluster, name, to), "renaming", name).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_serves_once_every_process_is_online() {
        let s = |v: &[Option<&str>]| -> Vec<Option<String>> {
            v.iter().map(|x| x.map(str::to_string)).collect()
        };
        assert_eq!(startup_of(&[]), Startup::Gone);
        assert_eq!(startup_of(&s(&[Some("online")])), Startup::Online);
        assert_eq!(
            startup_of(&s(&[Some("online"), Some("offline")])),
            Startup::Starting
        );
        // No status row yet: a brand-new replica, still starting.
        assert_eq!(startup_of(&s(&[None])), Startup::Starting);
    }
}
