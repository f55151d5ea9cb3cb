//! The live backend: Materialize (or anything speaking its protocol) over the
//! wire. Every statement has a client-side deadline (Materialize's
//! `statement_timeout` does not bound SELECTs), and transient failures
//! (connection refused/reset, timeouts, "try again" errors) are retried with
//! exponential backoff and jitter on a fresh connection, bounded in attempts
//! and total time. Permanent errors (unknown size, permission denied,
//! syntax) are never retried. A retried DDL that finds its work already done
//! (CREATE: the replica exists; DROP: it is gone) counts as done.

use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use chrono::{DateTime, Utc};

use thiserror::Error;

use super::catalog::{self, SnapshotError, SnapshotOptions};
use super::lease::{self, Holder};
use super::store::Store;
use super::{Client, Db, DbError};
use crate::exec::{AuditRow, Backend};
use crate::model::{ClusterId, Size, Snapshot};
use crate::plan::{Action, ActionKind};

/// What goes wrong on the live backend.
#[derive(Debug, Error)]
pub enum LiveError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the lease was lost (another controller took it after it expired); stopped before the next cluster")]
    LeaseLost,
}

/// How hard to try before giving up on a transient failure.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Upper bound on the total time spent waiting between attempts.
    pub max_total: Duration,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            max_total: Duration::from_secs(30),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    fn delays(&self) -> impl Iterator<Item = Duration> {
        backon::ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_retries)
            .with_total_delay(Some(self.max_total))
            .build()
    }
}

/// Errors that know whether they are worth retrying.
pub trait Retry: From<DbError> + std::fmt::Display {
    fn transient(&self) -> bool;
}

impl Retry for DbError {
    fn transient(&self) -> bool {
        DbError::transient(self)
    }
}

impl Retry for SnapshotError {
    fn transient(&self) -> bool {
        SnapshotError::transient(self)
    }
}

struct LeaseKeeper {
    me: Holder,
    ttl: Duration,
    renewed: Instant,
}

pub struct LiveBackend<'a> {
    db: &'a Db,
    client: Option<Client>,
    store: &'a Store,
    options: &'a SnapshotOptions,
    policy: RetryPolicy,
    statement_timeout: Duration,
    /// A graceful resize blocks until the new replicas are ready (or the
    /// resize timeout rolls it back): its deadline is that timeout plus a minute.
    resize_timeout: Duration,
    lease: Option<LeaseKeeper>,
    /// Set by the signal handler in watch mode.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl<'a> LiveBackend<'a> {
    pub fn new(
        db: &'a Db,
        store: &'a Store,
        options: &'a SnapshotOptions,
        policy: RetryPolicy,
        statement_timeout: Duration,
    ) -> Self {
        LiveBackend {
            db,
            client: None,
            store,
            options,
            policy,
            statement_timeout,
            resize_timeout: Duration::from_secs(600),
            lease: None,
            stop: None,
        }
    }

    pub fn set_resize_timeout(&mut self, d: Duration) {
        self.resize_timeout = d;
    }

    /// Stop between actions once `flag` is set (graceful shutdown).
    pub fn stop_on(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.stop = Some(flag);
    }

    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// From now on, renew this lease before each cluster's actions.
    pub fn hold_lease(&mut self, me: Holder, ttl: Duration) {
        self.lease = Some(LeaseKeeper {
            me,
            ttl,
            renewed: Instant::now(),
        });
    }

    async fn client(&mut self) -> Result<&Client, DbError> {
        if self.client.is_none() {
            self.client = Some(self.db.client().await?);
        }
        self.client.as_ref().ok_or_else(|| DbError::Connect {
            target: self.db.display().to_string(),
            reason: "no connection".into(),
        })
    }

    /// Runs `op` under the statement deadline, retrying transient failures
    /// on a fresh connection.
    pub async fn retrying<T, E: Retry>(
        &mut self,
        what: &str,
        mut op: impl AsyncFnMut(&Client) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut delays = self.policy.delays();
        let deadline = self.statement_timeout;
        loop {
            let result = match self.client().await {
                Ok(c) => match tokio::time::timeout(deadline, op(c)).await {
                    Ok(r) => r,
                    Err(_) => Err(E::from(DbError::Timeout {
                        context: what.to_string(),
                        after: deadline,
                    })),
                },
                Err(e) => Err(E::from(e)),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if e.transient() => {
                    // The connection may be broken or stuck: never reuse it.
                    self.client = None;
                    match delays.next() {
                        Some(delay) => {
                            tracing::warn!("{what}: {e}; retrying in {} ms", delay.as_millis());
                            tokio::time::sleep(delay).await;
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub async fn migrate(&mut self) -> Result<Vec<i32>, DbError> {
        let store = self.store;
        self.retrying("creating clusterctl's tables", async |c| {
            super::migrate::migrate(store, c).await
        })
        .await
    }

    /// Takes the lease (waiting up to `wait` for it).
    pub async fn acquire_lease(
        &mut self,
        me: &Holder,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<lease::Acquired, DbError> {
        let store = self.store;
        let started = Instant::now();
        loop {
            let got = self
                .retrying("taking the lease", async |c| {
                    lease::acquire(c, store, me, ttl).await
                })
                .await?;
            let waited_enough = wait.is_none_or(|w| started.elapsed() >= w);
            if matches!(got, lease::Acquired::Yes { .. }) || waited_enough {
                return Ok(got);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn release_lease(&mut self) -> Result<(), DbError> {
        let Some(keeper) = self.lease.take() else {
            return Ok(());
        };
        let store = self.store;
        self.retrying("releasing the lease", async |c| {
            lease::release(c, store, &keeper.me).await
        })
        .await
    }

    /// Settles audit rows a killed run left without an outcome, by looking
    /// at what the catalog shows now.
    pub async fn settle_unfinished(
        &mut self,
        snap: &Snapshot,
        run_id: &uuid::Uuid,
    ) -> Result<usize, DbError> {
        let store = self.store;
        let rows = self
            .retrying("reading unfinished actions", async |c| {
                store.unresolved_actions(c).await
            })
            .await?;
        for (action_id, cluster_id, kind, replica) in &rows {
            let exists = snap
                .cluster(&ClusterId(cluster_id.clone()))
                .is_some_and(|c| c.replica(replica).is_some());
            let took_effect = match kind.as_str() {
                "create_replica" => exists,
                "drop_replica" => !exists,
                _ => false,
            };
            let note = format!(
                "interrupted before its outcome was recorded; run {run_id} found it {}",
                if took_effect {
                    "applied"
                } else {
                    "not applied"
                }
            );
            self.retrying("settling an unfinished action", async |c| {
                store
                    .audit_outcome(c, action_id, took_effect, Some(&note))
                    .await
            })
            .await?;
        }
        Ok(rows.len())
    }
    /// One DDL statement, retried on transient errors.
    async fn execute_ddl_once(&mut self, action: &Action) -> Result<(), String> {
        let mut attempt = 0;

        let result = self
            .retrying("running DDL", async |c| {
                attempt += 1;
                // Simple-query protocol: one statement, autocommit.
                match c.batch_execute(&action.sql).await {
                    Ok(()) => Ok(()),
                    Err(e) if attempt > 1 && already_done(action.kind, &e) => {
                        tracing::info!(sql = %action.sql, "retry found the work already done");
                        Ok(())
                    }
                    Err(e) => Err(DbError::query("running DDL", &e)),
                }
            })
            .await;
        result.map_err(|e| match e {
            DbError::Query { reason, .. } => reason,
            other => other.to_string(),
        })
    }
}

/// A retried DDL whose first attempt took effect before the connection
/// broke: its second attempt finds the work done.
fn already_done(kind: ActionKind, e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return false;
    };
    let msg = db.message();
    match kind {
        ActionKind::CreateReplica => msg.contains("cannot create multiple replicas named"),
        ActionKind::DropReplica => msg.contains("has no CLUSTER REPLICA named"),
        // Setting a size or replication factor again is a no-op, not an error.
        ActionKind::SetReplicationFactor | ActionKind::SetSize => false,
    }
}

impl Backend for LiveBackend<'_> {
    type Error = LiveError;

    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn snapshot(&mut self) -> Result<Snapshot, LiveError> {
        let (store, options) = (self.store, self.options);
        Ok(self
            .retrying("reading the catalog", async |c| {
                catalog::load(c, store, options).await
            })
            .await?)
    }

    async fn execute_ddl(&mut self, action: &Action) -> Result<(), String> {
        let normal = self.statement_timeout;
        if action.kind == ActionKind::SetSize {
            self.statement_timeout = normal.max(self.resize_timeout + Duration::from_secs(60));
        }
        let result = self.execute_ddl_once(action).await;
        self.statement_timeout = normal;
        result
    }

    async fn audit(&mut self, row: &AuditRow) -> Result<(), LiveError> {
        let store = self.store;
        Ok(self
            .retrying("writing the audit row", async |c| {
                store.audit_intent(c, row).await
            })
            .await?)
    }

    async fn audit_outcome(
        &mut self,
        action_id: &str,
        executed: bool,
        error: Option<&str>,
    ) -> Result<(), LiveError> {
        let store = self.store;
        Ok(self
            .retrying("recording the outcome", async |c| {
                store.audit_outcome(c, action_id, executed, error).await
            })
            .await?)
    }

    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), LiveError> {
        let store = self.store;
        Ok(self
            .retrying("writing state", async |c| {
                store.write_states(c, states, at).await
            })
            .await?)
    }

    async fn replicas_now(
        &mut self,
        cluster: &ClusterId,
    ) -> Result<Option<Vec<(String, Option<Size>)>>, LiveError> {
        let rows = self
            .retrying("re-reading the cluster's replicas", async |c| {
                catalog::replicas_of(c, cluster).await
            })
            .await?;
        Ok(Some(rows))
    }

    fn stop_requested(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }

    async fn keep_alive(&mut self) -> Result<(), LiveError> {
        let Some(keeper) = &self.lease else {
            return Ok(());
        };
        if keeper.renewed.elapsed() < keeper.ttl / 3 {
            return Ok(());
        }
        let (me, ttl, store) = (keeper.me.clone(), keeper.ttl, self.store);
        let ours = self
            .retrying("renewing the lease", async |c| {
                lease::renew(c, store, &me, ttl).await
            })
            .await?;
        if !ours {
            return Err(LiveError::LeaseLost);
        }
        if let Some(k) = &mut self.lease {
            k.renewed = Instant::now();
        }
        Ok(())
    }
}
