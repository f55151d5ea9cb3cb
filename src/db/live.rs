//! The live backend: Materialize (or anything speaking its protocol) over the
//! wire. Every statement has a client-side deadline (Materialize's
//! `statement_timeout` does not bound SELECTs), and transient failures
//! (connection refused/reset, timeouts, "try again" errors) are retried with
//! exponential backoff and jitter on a fresh connection, bounded in attempts
//! and total time. Permanent errors (unknown size, permission denied,
//! syntax) are never retried. A retried DDL that finds its work already done
//! (CREATE: the replica exists; DROP: it is gone) counts as done; a DROP
//! that finds its replica gone at its first attempt did not run
//! ([`Ddl::Gone`]).

use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use chrono::{DateTime, Utc};

use super::catalog::{self, SnapshotOptions};
use super::lease::{self, Heartbeat, Holder};
use super::store::{Attempt, Done, Stamp, Store, Withdrawn};
use super::{Client, Db, DbError};
use crate::exec::{AuditRow, Backend, Bookkeeping, Changed, Ddl, Outcome};
use crate::model::{ClusterId, Snapshot};
use crate::plan::{Action, ActionKind};

/// How hard to try before giving up on a transient failure.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Upper bound on the total time spent waiting between attempts.
    pub max_total: Duration,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Each retry logged at `info`, not `warn`: a watcher says each failed
    /// run at `error`, and an outage logged four warnings more per interval
    /// (an outside check).
    pub quiet: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            max_total: Duration::from_secs(30),
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            quiet: false,
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
    /// A write refused by its deadline though it arrived
    /// ([`DbError::Refused`]): `Some(wrote)`, whether its attempt wrote
    /// anything before it; `None` for any other error.
    fn refusal(&self) -> Option<bool> {
        None
    }
}

impl Retry for DbError {
    fn transient(&self) -> bool {
        DbError::transient(self)
    }

    fn refusal(&self) -> Option<bool> {
        match self {
            DbError::Refused { wrote, .. } => Some(*wrote),
            _ => None,
        }
    }
}

/// What the attempts of a step before this one did, as far as its next
/// attempt must know: decided in one place ([`LiveBackend::attempts`])
/// for an operator's writes and a run's alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tried {
    /// One may have committed: it ran and failed without hearing that it
    /// wrote nothing (a cut or silent connection, a timeout that cancelled
    /// it, a refusal after it wrote a part). Its retry must not write a
    /// second time what that one wrote ([`Attempt::retry`]), and a DDL's
    /// may still be running on the server.
    may_have_written: bool,
    /// One was refused by its deadline though it arrived: the server's
    /// clock stepped forward, past the run's follow of it, so the next
    /// deadline is counted from a new read of it.
    refused: bool,
}

impl Tried {
    /// After an attempt of `op` that failed with `e`.
    fn failed<E: Retry>(self, e: &E) -> Tried {
        match e.refusal() {
            Some(wrote) => Tried {
                may_have_written: self.may_have_written || wrote,
                refused: true,
            },
            None => Tried {
                may_have_written: true,
                ..self
            },
        }
    }
}

/// The lease this run holds, and the heartbeat that keeps it.
struct HeldLease {
    me: Holder,
    heartbeat: Heartbeat,
}

pub struct LiveBackend<'a> {
    db: &'a Db,
    client: Option<Client>,
    store: &'a Store,
    options: &'a SnapshotOptions,
    /// The clusters the command plans: what the snapshot reads for the
    /// plan alone is read for them only (`catalog::load`). Every cluster
    /// unless set ([`LiveBackend::plans`]).
    plans: crate::plan::Selection,
    /// Where a snapshot leaves what it read of the migrations table.
    schema_seen: &'a super::migrate::SchemaSeen,
    policy: RetryPolicy,
    statement_timeout: Duration,
    /// A graceful resize blocks until the new replicas are ready (or the
    /// resize timeout rolls it back): its deadline is that timeout plus a minute.
    resize_timeout: Duration,
    lease: Option<HeldLease>,
    /// Set by the signal handler in watch mode.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The database's clock as of the last snapshot: our timestamps
    /// follow it, not this host's.
    clock: Option<super::DbClock>,
    /// This machine's boot clock read with `clock`, and the database's
    /// time it was read at: what dates an intent on this machine's
    /// timeline too ([`LiveBackend::with_deadline`]).
    boot: Option<(crate::model::BootClock, chrono::DateTime<chrono::Utc>)>,
    /// An intent of this run went out: from then on every step is retried
    /// after a shutdown signal too (its outcome must be recorded); before,
    /// a signal abandons the connection or statement under way and ends
    /// the retries, as nothing was done (a watcher stopped while the
    /// database did not answer waited out its 25 s grace).
    acted: bool,
    /// Giving the lease or the migration lock back ([`Self::releasing`]).
    releasing: bool,
    /// A statement of `client` is under way: a backend dropped meanwhile
    /// (a run abandoned at the shutdown grace) asks the server to cancel
    /// it ([`Drop`]). A CREATE left running past its deadline after a
    /// SIGTERM landed while the next run, judging by that deadline, sent
    /// it again (an outside check).
    in_flight: std::sync::atomic::AtomicBool,
}

impl Drop for LiveBackend<'_> {
    fn drop(&mut self) {
        if self.in_flight.load(std::sync::atomic::Ordering::SeqCst) {
            if let Some(c) = self.client.take() {
                tracing::info!("cancelling the statement under way (the run was abandoned)");
                self.db.abandon(c);
            }
        }
    }
}

/// An attempt of a run's write after `tried`, its deadline from the run's
/// clock of the database ([`DbClock::latest`]: no round trip more, as a
/// run's writes go with its other statements; later than the server's
/// time by the way of the snapshot's first statement, which reads
/// `now()`, to the server, never earlier), as [`lease::answer_by`] sets
/// every write's; none before the run read the database's time. After a
/// refusal by the deadline (a step of the server's clock, which that
/// clock does not see), the clock is read again on `c` first, and kept in
/// `clock` for the rest of the run: one statement more, only then.
async fn run_attempt(
    c: &Client,
    store: &Store,
    clock: &std::cell::Cell<Option<super::DbClock>>,
    tried: Tried,
    attempt: Duration,
) -> Result<Attempt, DbError> {
    if tried.refused && clock.get().is_some() {
        clock.set(Some(store.read_clock(c).await?));
    }
    Ok(Attempt {
        retry: tried.may_have_written,
        by: clock.get().map(|k| lease::answer_by(k.latest(), attempt)),
    })
}

/// How long a release waits for the server after a shutdown signal.
const RELEASE_AFTER_SIGNAL: Duration = Duration::from_secs(5);

impl<'a> LiveBackend<'a> {
    pub fn new(
        db: &'a Db,
        store: &'a Store,
        options: &'a SnapshotOptions,
        schema_seen: &'a super::migrate::SchemaSeen,
        policy: RetryPolicy,
        statement_timeout: Duration,
    ) -> Self {
        LiveBackend {
            db,
            client: None,
            store,
            options,
            plans: crate::plan::Selection::all(),
            schema_seen,
            policy,
            statement_timeout,
            resize_timeout: Duration::from_secs(600),
            lease: None,
            stop: None,
            clock: None,
            boot: None,
            acted: false,
            releasing: false,
            in_flight: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn set_resize_timeout(&mut self, d: Duration) {
        self.resize_timeout = d;
    }

    /// The snapshots are for plans of `selection` only: a run that plans
    /// some clusters of a large fleet reads the audit trail and the
    /// statement history for those alone (`catalog::load`).
    pub fn plans(&mut self, selection: &crate::plan::Selection) {
        self.plans = selection.clone();
    }

    /// Stop between actions once `flag` is set (graceful shutdown).
    pub fn stop_on(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.stop = Some(flag);
    }

    /// The client-side deadline of one attempt of a statement that is not
    /// DDL ([`LiveBackend::retrying`]).
    pub fn statement_timeout(&self) -> Duration {
        self.statement_timeout
    }

    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The client-side deadline of one attempt of this DDL.
    fn ddl_deadline(&self, kind: ActionKind) -> Duration {
        crate::plan::doubt::ddl_deadline(kind, self.statement_timeout, self.resize_timeout)
    }

    async fn connect(&mut self) -> Result<(), DbError> {
        if self.client.is_none() {
            self.client = Some(self.db.client().await?);
        }
        Ok(())
    }

    /// Closes the current connection (never handing it back to the pool):
    /// it failed, or a statement on it is still running (then the server is
    /// asked to cancel it).
    fn drop_connection(&mut self, busy: bool) {
        if let Some(c) = self.client.take() {
            if busy {
                self.db.abandon(c);
            } else {
                super::discard(c);
            }
        }
    }

    /// Runs `op` under the statement deadline, retrying transient failures
    /// on a fresh connection.
    pub async fn retrying<T, E: Retry>(
        &mut self,
        what: &str,
        mut op: impl AsyncFnMut(&Client) -> Result<T, E>,
    ) -> Result<T, E> {
        let deadline = self.statement_timeout;
        self.attempts(what, deadline, None, async |c, _| op(c).await)
            .await
    }

    /// [`LiveBackend::retrying`] for giving something back (the lease, the
    /// migration lock): a shutdown signal does not abandon it, but bounds
    /// each attempt to [`RELEASE_AFTER_SIGNAL`] (a server that does not
    /// answer then: the lease expires by itself).
    pub async fn releasing<T, E: Retry>(
        &mut self,
        what: &str,
        mut op: impl AsyncFnMut(&Client) -> Result<T, E>,
    ) -> Result<T, E> {
        let deadline = if crate::exec::Backend::stop_requested(self) {
            self.statement_timeout.min(RELEASE_AFTER_SIGNAL)
        } else {
            self.statement_timeout
        };
        let releasing = std::mem::replace(&mut self.releasing, true);
        let r = self
            .attempts(what, deadline, None, async |c, _| op(c).await)
            .await;
        self.releasing = releasing;
        r
    }

    /// Whether a shutdown signal abandons the attempt under way: before the
    /// run did anything (no intent written), unless it gives something back.
    fn abandons_on_signal(&self) -> bool {
        self.stop.is_some() && !self.acted && !self.releasing
    }

    /// Completes once a shutdown signal came (never without a stop flag).
    fn signalled(&self) -> impl std::future::Future<Output = ()> + use<> {
        let flag = self.stop.clone();
        async move {
            let Some(flag) = flag else {
                return std::future::pending().await;
            };
            while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// [`LiveBackend::retrying`] for an operator's write: each attempt
    /// first reads the server's `now()` and hands `op` its [`Attempt`]:
    /// whether an attempt before may have committed (its answer lost), and
    /// when this one is over by the server's clock, before which alone its
    /// statements land ([`Attempt::in_time`]). A write a silent network held
    /// past its attempt (the command retried, failed or was stopped, and
    /// others may have written since: an operator, a run) writes nothing.
    /// One round trip more per attempt; a run's state writes count their
    /// deadline from the run's clock of the database instead, with none
    /// more ([`run_attempt`]).
    pub async fn writing<T, E: Retry>(
        &mut self,
        what: &str,
        mut op: impl AsyncFnMut(&Client, &Attempt) -> Result<T, E>,
    ) -> Result<T, E> {
        let deadline = self.statement_timeout;
        let store = self.store;
        self.attempts(what, deadline, None, async |c, tried| {
            let a = Attempt {
                retry: tried.may_have_written,
                by: Some(store.write_deadline(c, deadline).await?),
            };
            op(c, &a).await
        })
        .await
    }

    /// Writes the audit row of an action that already ended (an operator's
    /// command), retrying transient failures: a retry never leaves a
    /// second row ([`Store::audit_done`]), nor does a first attempt that
    /// arrives late.
    pub async fn audit_done(
        &mut self,
        row: &AuditRow,
        done: Done<'_>,
        stamp: Stamp,
    ) -> Result<(), DbError> {
        let store = self.store;
        self.writing("writing the audit row", async |c, a| {
            store.audit_done(c, row, done, stamp, a).await
        })
        .await
    }

    /// The retry loop: each attempt has `deadline`; with `lease_need`, an
    /// attempt starts only when the lease is ours for longer than that, and
    /// is cancelled if the lease could expire while it runs. `op` gets
    /// what the attempts before it did ([`Tried`], decided here alone).
    async fn attempts<T, E: Retry>(
        &mut self,
        what: &str,
        deadline: Duration,
        lease_need: Option<Duration>,
        op: impl AsyncFnMut(&Client, Tried) -> Result<T, E>,
    ) -> Result<T, E> {
        self.attempts_sending(what, deadline, lease_need, true, op)
            .await
    }

    /// [`Self::attempts`]; with `resend` false, a statement that may have
    /// run (sent, with no answer in time) is not sent again: its error is
    /// returned (a managed resize: a second `ALTER … SET (SIZE)` starts the
    /// reconfiguration over, the first one's hydration lost).
    async fn attempts_sending<T, E: Retry>(
        &mut self,
        what: &str,
        deadline: Duration,
        lease_need: Option<Duration>,
        resend: bool,
        mut op: impl AsyncFnMut(&Client, Tried) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut delays = self.policy.delays();
        let mut tried = Tried::default();
        loop {
            if let (Some(need), Some(held)) = (lease_need, self.lease.as_mut()) {
                held.heartbeat
                    .ensure(need)
                    .await
                    .map_err(|why| E::from(DbError::LeaseLost(why)))?;
            }
            let abandons = self.abandons_on_signal();
            if abandons && crate::exec::Backend::stop_requested(self) {
                return Err(E::from(DbError::Interrupted {
                    context: what.to_string(),
                }));
            }
            let signalled = self.signalled();
            let connected = if abandons {
                tokio::select! {
                    r = self.connect() => Some(r),
                    () = signalled => None,
                }
            } else {
                Some(self.connect().await)
            };
            let Some(connected) = connected else {
                self.drop_connection(true);
                return Err(E::from(DbError::Interrupted {
                    context: what.to_string(),
                }));
            };
            let (mut abandoned, mut ran) = (false, false);
            let result = match connected {
                Err(e) => Err(E::from(e)),
                Ok(()) => {
                    let (Some(c), lease) = (self.client.as_ref(), self.lease.as_ref()) else {
                        continue;
                    };
                    let expired = async {
                        match (lease_need, lease) {
                            (Some(_), Some(held)) => held.heartbeat.expired().await,
                            _ => std::future::pending().await,
                        }
                    };
                    let timed_out = || {
                        E::from(DbError::Timeout {
                            context: what.to_string(),
                            after: deadline,
                        })
                    };
                    let signalled = self.signalled();
                    let in_flight = &self.in_flight;
                    let lost = {
                        ran = true;
                        in_flight.store(true, std::sync::atomic::Ordering::SeqCst);
                        let work = tokio::time::timeout(deadline, op(c, tried));
                        tokio::pin!(work);
                        let lost = tokio::select! {
                            r = &mut work => Ok(r.unwrap_or_else(|_| Err(timed_out()))),
                            // Nothing done yet: the statement (a read, or
                            // the lease's take, which a run that stops now
                            // leaves to expire) is abandoned.
                            () = signalled, if abandons => {
                                abandoned = true;
                                Ok(Err(E::from(DbError::Interrupted {
                                    context: what.to_string(),
                                })))
                            }
                            why = expired => {
                                // The statement may still run: cancel it,
                                // and wait a little for its answer.
                                let grace = self.db.cancel(c).await;
                                Err((why, tokio::time::timeout(grace, &mut work).await))
                            }
                        };
                        in_flight.store(false, std::sync::atomic::Ordering::SeqCst);
                        lost
                    };
                    match lost {
                        Ok(r) => r,
                        Err((why, answer)) => {
                            return match answer {
                                // It completed before the cancel landed.
                                Ok(Ok(Ok(v))) => {
                                    self.drop_connection(false);
                                    Ok(v)
                                }
                                // The server answered with an error (the
                                // cancel's, 57014): DDL is atomic, nothing
                                // took effect (Materialize rolls back even a
                                // cancelled WAIT UNTIL READY).
                                Ok(Ok(Err(e))) if !e.transient() => {
                                    self.drop_connection(false);
                                    let e = e.to_string();
                                    let e = e.strip_prefix(&format!("{what}: ")).unwrap_or(&e);
                                    Err(E::from(DbError::Query {
                                        context: what.to_string(),
                                        reason: format!(
                                            "{} ({why}): {e}",
                                            super::store::LEASE_CANCELLED_PREFIX
                                        ),
                                        transient: false,
                                    }))
                                }
                                // No answer: it may have run.
                                _ => {
                                    self.drop_connection(true);
                                    Err(E::from(DbError::LeaseLost(why)))
                                }
                            };
                        }
                    }
                }
            };
            if abandoned {
                self.drop_connection(true);
            }
            if let (Err(e), true) = (&result, ran) {
                tried = tried.failed(e);
            }
            match result {
                Ok(v) => return Ok(v),
                Err(e) if e.transient() && !resend && tried.may_have_written => {
                    self.drop_connection(true);
                    return Err(e);
                }
                Err(e) if e.transient() => {
                    // Broken, or still busy with the statement that timed
                    // out: never reuse it.
                    self.drop_connection(true);
                    if !self.acted && crate::exec::Backend::stop_requested(self) {
                        tracing::info!(
                            "{}; not retried: shutting down, and nothing was done yet",
                            in_context(what, &e)
                        );
                        return Err(e);
                    }
                    match delays.next() {
                        Some(delay) => {
                            let e = in_context(what, &e);
                            match self.policy.quiet {
                                true => tracing::info!("{e}; retrying in {} ms", delay.as_millis()),
                                false => {
                                    tracing::warn!("{e}; retrying in {} ms", delay.as_millis())
                                }
                            }
                            let signalled = self.signalled();
                            tokio::select! {
                                () = tokio::time::sleep(delay) => {}
                                () = signalled, if self.abandons_on_signal() => {}
                            }
                        }
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// What a statement on our tables found missing, explained by the
    /// catalog, the one place for every command. Our tables found missing
    /// ([`DbError::TablesMissing`]) may be the `--schema` missing, which
    /// PostgreSQL says the same way ([`catalog::missing_schema`]), so
    /// nobody runs `init` on a typo. A column found missing
    /// ([`DbError::NotOurs`], the one the server named) is a table of
    /// another tool's: every such table is named with every column it
    /// lacks ([`super::migrate::not_ours`]), so one fix does. Each question
    /// is retried; any other error, or one the question cannot settle, is
    /// returned as it is.
    pub async fn explain_missing(&mut self, e: DbError) -> DbError {
        let store = self.store;
        match e {
            DbError::TablesMissing { .. } => {
                let schema = self
                    .retrying("checking the schema", async |c| {
                        catalog::missing_schema(c, store).await
                    })
                    .await;
                match schema {
                    Ok(Some(missing)) => missing,
                    _ => e,
                }
            }
            // A column missing, or a read or a write that another tool's
            // table of our name would fail (another type, an extra NOT NULL
            // column: once our migrations are recorded over it, `init
            // --print` run by hand, a raw Rust type error reached every
            // command: an outside check): the catalog says whose table it
            // is; else the error stands.
            DbError::NotOurs { .. } | DbError::Query { .. } if asks_whose_table(&e) => {
                let foreign = self
                    .retrying("checking the columns of clusterctl's tables", async |c| {
                        super::migrate::not_ours(store, c).await
                    })
                    .await;
                match foreign {
                    Ok(tables) if !tables.is_empty() => DbError::NotOurs { tables },
                    _ => e,
                }
            }
            e => e,
        }
    }

    /// Whether a newer clusterctl migrated our tables: the error to refuse
    /// a write with, or to warn with ([`super::migrate::newer_schema`]).
    /// One statement (retried); `apply` and `init` learn it from the read
    /// migrating makes instead.
    pub async fn newer_schema(&mut self) -> Result<Option<DbError>, DbError> {
        let store = self.store;
        self.retrying("checking clusterctl's tables (migrations)", async |c| {
            super::migrate::check_not_newer(store, c).await
        })
        .await
    }

    /// Creates or upgrades our tables (never a schema): see
    /// [`super::migrate::run`].
    pub async fn migrate(&mut self) -> Result<Vec<i32>, DbError> {
        super::migrate::run(self, false).await
    }

    /// Takes the lease (waiting up to `wait` for it) and, once taken, keeps
    /// it alive with a heartbeat until [`LiveBackend::release_lease`].
    pub async fn acquire_lease(
        &mut self,
        me: &Holder,
        ttl: Duration,
        wait: Option<Duration>,
    ) -> Result<lease::Acquired, DbError> {
        let store = self.store;
        let attempt = self.statement_timeout;
        let started = Instant::now();
        loop {
            let sent = std::cell::Cell::new(tokio::time::Instant::now());
            let got = self
                .retrying("taking the lease", async |c| {
                    sent.set(tokio::time::Instant::now());
                    lease::acquire(c, store, me, ttl, attempt).await
                })
                .await?;
            if got == lease::Acquired::Yes {
                // The attempt that answered wrote the expiry from the
                // server's now(), after it began: its start is the safe
                // one (an earlier attempt whose answer was lost took it
                // too, and this one renewed it; the first attempt's start
                // lost a lease taken after slow attempts at once).
                let heartbeat = Heartbeat::start(
                    self.db.clone(),
                    store.clone(),
                    me.clone(),
                    ttl,
                    self.statement_timeout,
                    sent.get(),
                );
                self.lease = Some(HeldLease {
                    me: me.clone(),
                    heartbeat,
                });
                return Ok(got);
            }
            if wait.is_none_or(|w| started.elapsed() >= w) {
                return Ok(got);
            }
            let signalled = self.signalled();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = signalled, if self.abandons_on_signal() => {
                    return Err(DbError::Interrupted {
                        context: "waiting for the lease".into(),
                    });
                }
            }
        }
    }

    /// Why the lease is no longer ours, if it is not.
    pub fn lease_lost(&self) -> Option<String> {
        self.lease.as_ref().and_then(|h| h.heartbeat.lost())
    }

    /// Stops the heartbeat and gives the lease back (if still ours).
    pub async fn release_lease(&mut self) -> Result<(), DbError> {
        let Some(held) = self.lease.take() else {
            return Ok(());
        };
        drop(held.heartbeat);
        let store = self.store;
        self.releasing("releasing the lease", async |c| {
            lease::release(c, store, &held.me).await
        })
        .await
    }

    /// Records the outcome of audit rows a killed run left without one, as
    /// the plan judged them from the catalog (`plan::doubt`). Returns how
    /// many.
    pub async fn settle_unfinished(
        &mut self,
        plan: &crate::plan::Plan,
        run_id: &uuid::Uuid,
    ) -> Result<usize, DbError> {
        let store = self.store;
        let landed: Vec<Outcome> = plan
            .settle
            .iter()
            .filter(|s| s.landed_late)
            .map(|s| Outcome {
                action_id: s.action_id.clone(),
                executed: true,
                error: Some(format!(
                    "settled as not applied at its deadline, it landed later (the server held \
                     it): run {run_id} found its replica and corrected it to applied"
                )),
            })
            .collect();
        if !landed.is_empty() {
            self.retrying("correcting late actions' outcomes", async |c| {
                store.correct_landed_late(c, &landed).await
            })
            .await?;
        }
        let outcomes: Vec<Outcome> = plan
            .settle
            .iter()
            .filter(|s| !s.landed_late)
            .map(|s| Outcome {
                action_id: s.action_id.clone(),
                executed: s.executed,
                error: Some(format!(
                    // Not "killed" alone: a live run's row whose effect is
                    // already visible is settled too (a watcher's temporary
                    // replica, seen 30 ms after its intent: an outside check).
                    "{} (the run was killed, got no answer to it, lost the database, or had \
                     not recorded it yet); run {run_id} found it {}",
                    super::store::SETTLED_PREFIX,
                    if s.executed { "applied" } else { "not applied" }
                )),
            })
            .collect();
        if !outcomes.is_empty() {
            self.retrying("settling unfinished actions", async |c| {
                store.audit_outcomes(c, &outcomes).await
            })
            .await?;
        }
        Ok(outcomes.len() + landed.len())
    }

    /// The pipelined bookkeeping step (see [`Bookkeeping`]): every part in
    /// one round trip, retried as a whole (each part is idempotent).
    async fn pipelined(&mut self, step: &Bookkeeping<'_>) -> Result<Option<Changed>, DbError> {
        let store = self.store;
        let intent = step.intent.map(|row| self.with_deadline(row));
        // Before a statement, the lease is checked in the database too, in
        // the same round trip: the heartbeat notices a lease taken from us
        // (`unlock --force` on a live run) only at its next renewal.
        // So is it with the states: a late write is harmless (the newest
        // version wins, and one later than its deadline writes nothing),
        // but a run that lost its lease must not say it ended well.
        let me = (intent.is_some() || step.states.is_some())
            .then_some(self.lease.as_ref())
            .flatten()
            .map(|held| held.me.clone());
        // A suspension's guard reads statements since the latest one the
        // plan saw (since an hour ago when it saw none: the snapshot's
        // lookback is a day or more).
        let since = step.guard.and_then(|g| g.activity).map(|seen| {
            seen.last_begin
                .unwrap_or_else(|| self.now() - chrono::Duration::hours(1))
        });
        let (clock, deadline) = (std::cell::Cell::new(self.clock), self.statement_timeout);
        let changed = self
            .attempts("recording actions", deadline, None, async |c, tried| {
                let a = run_attempt(c, store, &clock, tried, deadline).await?;
                let outcome = async {
                    match step.outcomes {
                        [] => Ok(()),
                        outcomes => store.audit_outcomes(c, outcomes).await,
                    }
                };
                let later = step.guard.as_ref().map_or(0, |g| g.later);
                let guard = async {
                    let Some(g) = step.guard else {
                        return Ok(None);
                    };
                    let activity = async {
                        match since {
                            Some(since) => {
                                catalog::activity_of(c, g.cluster, since).await.map(Some)
                            }
                            None => Ok(None),
                        }
                    };
                    let replicas = async {
                        match g.replicas {
                            Some(_) => catalog::replicas_of(c, g.cluster).await.map(Some),
                            None => Ok(None),
                        }
                    };
                    let (replicas, activity, rows, identity) = futures_util::future::join4(
                        replicas,
                        activity,
                        store.rows_seen(c, g.cluster),
                        catalog::identity_of(c, g.cluster),
                    )
                    .await;
                    let identity = identity?;
                    Ok::<_, DbError>(
                        g.changed(
                            identity
                                .as_ref()
                                .map(|(name, managed)| (name.as_str(), *managed)),
                            replicas?.as_deref(),
                            activity?.as_ref(),
                            rows?,
                        ),
                    )
                };
                let write_intent = async {
                    match &intent {
                        Some(row) => store.audit_intent(c, row, a.retry).await,
                        None => Ok(()),
                    }
                };
                let states = async {
                    match step.states {
                        Some((states, at)) => store.write_states(c, states, at, &a).await,
                        None => Ok(()),
                    }
                };
                let ours = async {
                    match &me {
                        Some(me) => lease::holds(c, store, me).await.map(Some),
                        None => Ok(None),
                    }
                };
                let ((o, g, i, s), ours) = futures_util::future::join(
                    futures_util::future::join4(outcome, guard, write_intent, states),
                    ours,
                )
                .await;
                // The intent written, another part of the round trip
                // refused (a privilege on the state table, a read of the
                // guard's): its statement will not be sent. Withdrawn, so
                // the trail does not say a DROP may still land (the next
                // run held the cluster, then called it failed).
                let refused = [o.as_ref().err(), s.as_ref().err(), g.as_ref().err()]
                    .into_iter()
                    .flatten()
                    .any(|e| !e.transient());
                if let (true, Ok(()), Some(row)) = (refused, &i, &intent) {
                    if let Err(e) = store
                        .withdraw_intent(c, &row.action_id, Withdrawn::Refused)
                        .await
                    {
                        tracing::warn!("could not close the intent of {}: {e}", row.action_sql);
                    }
                }
                o?;
                i?;
                // Refused beside an intent, which was written: the retry
                // is a retry of the intent.
                s.map_err(|e| match &intent {
                    Some(_) => e.after_writing(),
                    None => e,
                })?;
                if let (Some(false), Some(me)) = (ours?, &me) {
                    if let Some(row) = &intent {
                        store
                            .withdraw_intent(c, &row.action_id, Withdrawn::LeaseLost)
                            .await?;
                    }
                    return Err(DbError::LeaseLost(lease::why_lost(c, store, me).await));
                }
                let changed = g?;
                if let (Some(changed), Some(row)) = (changed, &intent) {
                    store
                        .withdraw_intent(c, &row.action_id, Withdrawn::Changed(changed, later))
                        .await?;
                }
                Ok::<Option<Changed>, DbError>(changed)
            })
            .await;
        self.clock = clock.get();
        changed
    }

    /// The intent row with the DDL's deadline, so that a later run knows
    /// how long the statement may still have been running if we die, and
    /// this machine's boot clock at the row's time, so that a later run
    /// here knows how long ago that was whatever the server's clock does
    /// meanwhile (`plan::doubt`).
    fn with_deadline(&self, row: &AuditRow) -> AuditRow {
        let mut row = row.clone();
        let kind = row
            .decision_ctx
            .get("kind")
            .and_then(|k| k.as_str())
            .map(crate::plan::doubt::kind_of)
            .unwrap_or(ActionKind::CreateReplica);
        if let Some(ctx) = row.decision_ctx.as_object_mut() {
            ctx.insert(
                "deadline_s".into(),
                self.ddl_deadline(kind).as_secs_f64().into(),
            );
            if let Some((boot, at)) = &self.boot {
                let since = (row.created_at - *at).num_milliseconds() as f64 / 1000.0;
                if let Ok(v) = serde_json::to_value(boot.shifted(since)) {
                    ctx.insert("boot".into(), v);
                }
            }
        }
        row
    }

    /// How much of the lease `action` needs before it may start: its
    /// deadline, or for a statement that may block longer than half the
    /// TTL (a graceful resize) half the TTL, the heartbeat covering the rest.
    fn lease_need(&self, deadline: Duration) -> Option<Duration> {
        self.lease
            .as_ref()
            .map(|h| deadline.min(h.heartbeat.ttl() / 2))
    }
}

/// `what: e` for a retry's log line, unless `e` already begins with `what`
/// (an error built with the step's own context, as most are): the context
/// is said once, not "running DDL: running DDL: …" (nor the lease's
/// renewal "renewing the lease: renewing the lease: …": an outside check).
pub(super) fn in_context(what: &str, e: &impl std::fmt::Display) -> String {
    let e = e.to_string();
    match e.strip_prefix(what) {
        Some(rest) if rest.starts_with(':') => e,
        _ => format!("{what}: {e}"),
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
    type Error = DbError;

    /// The database's clock: the last snapshot's `now()` plus the time
    /// elapsed here since (this host's clock may be off by any amount).
    fn now(&self) -> DateTime<Utc> {
        match &self.clock {
            Some(clock) => clock.now(),
            None => Utc::now(),
        }
    }

    async fn snapshot(&mut self) -> Result<Snapshot, DbError> {
        let (store, options) = (self.store, self.options);
        let plans = self.plans.clone();
        // When the attempt that answered was sent: a failed attempt and
        // the wait after it are not the server's time since `now()`.
        let mut sent = Instant::now();
        let mut snap = match self
            .retrying("reading the catalog", async |c| {
                sent = Instant::now();
                catalog::load(c, store, options, &plans).await
            })
            .await
        {
            Ok(snap) => snap,
            Err(e) => return Err(self.explain_missing(e).await),
        };
        self.clock = Some(super::DbClock::read_since(snap.now, sent));
        let boot = crate::process::boot_clock();
        // As of when the statement that read `now()` was sent: an
        // interrupted run's intent is judged no older than it is.
        snap.local_clock = boot
            .as_ref()
            .map(|b| b.shifted(-sent.elapsed().as_secs_f64()));
        self.boot = boot.map(|b| (b, snap.now));
        if let Some(versions) = &snap.env.schema_versions {
            self.schema_seen.record(versions.clone());
        }
        Ok(snap)
    }

    async fn execute_ddl(&mut self, action: &Action, intent: &AuditRow) -> Result<Ddl, DbError> {
        let deadline = self.ddl_deadline(action.kind);
        let need = self.lease_need(deadline);
        let store = self.store;
        // How long after its intent the statement of attempt N may still
        // run: the intent's age when attempt N starts, plus its deadline.
        let age_at_start = (self.now() - intent.created_at)
            .to_std()
            .unwrap_or_default();
        let started = Instant::now();
        let intent = self.with_deadline(intent);
        let sent = std::cell::Cell::new(false);
        let gone = std::cell::Cell::new(None::<String>);
        let found_done = std::cell::Cell::new(false);
        let me = self.lease.as_ref().map(|held| held.me.clone());
        // A managed resize that got no answer is not sent again: a second
        // `ALTER … SET (SIZE)` restarts the reconfiguration (Materialize
        // folds it into the first and resets its deadline, or, blocking,
        // starts anew), and each attempt waited its whole deadline (three
        // resizes, 11 minutes each, in one run: an outside check). Its
        // outcome is unknown; the next run settles it from the catalog.
        let resend = action.kind != ActionKind::SetSize;
        let result = self
            .attempts_sending("running DDL", deadline, need, resend, async |c, tried| {
                if tried.may_have_written {
                    // Again only while the lease is ours by the database: a
                    // lease broken (`unlock --force`) while the first
                    // attempt hung was seen only at the heartbeat's next
                    // renewal, and the statement was sent twice more
                    // meanwhile (an outside check).
                    if let Some(me) = &me {
                        if !super::lease::holds(c, store, me).await? {
                            return Err(DbError::LeaseLost(
                                super::lease::why_lost(c, store, me).await,
                            ));
                        }
                    }
                    // The earlier attempt may still be running on the server
                    // (a cut connection cannot be cancelled): a later run
                    // must hold the cluster until this one is over too.
                    let mut ctx = intent.decision_ctx.clone();
                    if let Some(o) = ctx.as_object_mut() {
                        let until = age_at_start + started.elapsed() + deadline;
                        o.insert("deadline_s".into(), until.as_secs_f64().into());
                        // Its earlier attempt may land after this one ran
                        // (a DROP then drops a replica made again under
                        // its name): read back by the plans for a while.
                        o.insert("retried".into(), true.into());
                    }
                    store.extend_intent(c, &intent.action_id, &ctx).await?;
                }
                sent.set(true);
                // Simple-query protocol: one statement, autocommit.
                match c.batch_execute(&action.sql).await {
                    Ok(()) => Ok(()),
                    Err(e) if tried.may_have_written && already_done(action.kind, &e) => {
                        tracing::info!(sql = %action.sql, "retry found the work already done");
                        found_done.set(true);
                        Ok(())
                    }
                    // A first DROP that finds its replica gone: dropped
                    // since the plan's check (not a create's "exists",
                    // which may be another replica of that name).
                    Err(e)
                        if action.kind == ActionKind::DropReplica
                            && already_done(action.kind, &e) =>
                    {
                        gone.set(e.as_db_error().map(|db| db.message().to_string()));
                        Ok(())
                    }
                    Err(e) => Err(DbError::query("running DDL", &e)),
                }
            })
            .await;
        Ok(match result {
            Ok(()) => match gone.take() {
                Some(refusal) => Ddl::Gone(refusal),
                None if found_done.get() => Ddl::FoundDone,
                None => Ddl::Done,
            },
            // It may have run: the run stops with it open, and the next
            // run settles it from the catalog.
            Err(e @ DbError::LeaseLost(_)) if sent.get() => return Err(e),
            // Never sent: closed as not attempted (left open, it held its
            // cluster for the next run until its deadline).
            Err(DbError::LeaseLost(_)) => Ddl::NotSent(Withdrawn::LeaseLapsed.message()),
            // The server answered: DDL is atomic, nothing took effect.
            Err(DbError::Query {
                reason,
                transient: false,
                ..
            }) => Ddl::Refused(reason),
            // No answer to a statement that was sent: it may have run.
            Err(other) if sent.get() => Ddl::Unknown(other.to_string()),
            // Never sent (no connection could be made).
            Err(other) => Ddl::Refused(other.to_string()),
        })
    }

    async fn audit(&mut self, row: &AuditRow) -> Result<(), DbError> {
        let store = self.store;
        let row = self.with_deadline(row);
        self.attempts(
            "writing the audit row",
            self.statement_timeout,
            None,
            async |c, tried| store.audit_intent(c, &row, tried.may_have_written).await,
        )
        .await
    }

    async fn audit_outcomes(&mut self, outcomes: &[Outcome]) -> Result<(), DbError> {
        let store = self.store;
        self.retrying("recording the outcomes", async |c| {
            store.audit_outcomes(c, outcomes).await
        })
        .await
    }

    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let step = Bookkeeping {
            states: Some((states, at)),
            ..Bookkeeping::default()
        };
        self.pipelined(&step).await.map(|_| ())
    }

    async fn await_statement_log(&mut self, snapshot: DateTime<Utc>) {
        let caught_up =
            snapshot + chrono::Duration::from_std(catalog::STATEMENT_LOG_FLUSH).unwrap_or_default();
        if let Ok(left) = (caught_up - self.now()).to_std() {
            let left = left.min(catalog::STATEMENT_LOG_FLUSH);
            tracing::debug!(?left, "waiting for the statement log to show the snapshot's last seconds before a suspension");
            // In slices: a signal meanwhile ends the wait at once (the
            // run then stops before its first DROP), not seconds later.
            let until = tokio::time::Instant::now() + left;
            while tokio::time::Instant::now() < until && !crate::exec::Backend::stop_requested(self)
            {
                let slice = until.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::sleep(slice.min(std::time::Duration::from_millis(50))).await;
            }
        }
    }

    async fn bookkeeping(&mut self, step: Bookkeeping<'_>) -> Result<Option<Changed>, DbError> {
        // Before the attempt: one that wrote the intent and then broke is
        // retried to close it.
        self.acted |= step.intent.is_some();
        self.pipelined(&step).await
    }

    async fn lease_allows(&mut self, next: Option<&Action>) -> Result<(), DbError> {
        let need = match next {
            Some(action) => self.lease_need(self.ddl_deadline(action.kind)),
            None => self.lease.as_ref().map(|_| Duration::ZERO),
        };
        if let (Some(need), Some(held)) = (need, self.lease.as_mut()) {
            held.heartbeat
                .ensure(need)
                .await
                .map_err(DbError::LeaseLost)?;
        }
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// An error [`LiveBackend::explain_missing`] asks the catalog about: a
/// column of ours missing, or what another tool's table of our name makes
/// our statements fail with ([`super::migrate::foreign_shape`]).
fn asks_whose_table(e: &DbError) -> bool {
    match e {
        DbError::NotOurs { .. } => true,
        DbError::Query { reason, .. } => super::migrate::foreign_shape(reason),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_steps_context_is_said_once() {
        let ddl = DbError::Query {
            context: "running DDL".into(),
            reason: "connection closed".into(),
            transient: true,
        };
        assert_eq!(
            in_context("running DDL", &ddl),
            "running DDL: connection closed"
        );
        let timeout = DbError::Timeout {
            context: "releasing the lease".into(),
            after: Duration::from_secs(30),
        };
        assert_eq!(
            in_context("releasing the lease", &timeout),
            "releasing the lease: no answer within 30s"
        );
        // An error of another step (connecting) keeps the retried step's.
        let connect = DbError::Timeout {
            context: "connecting to db:6875".into(),
            after: Duration::from_secs(10),
        };
        assert_eq!(
            in_context("checking", &connect),
            "checking: connecting to db:6875: no answer within 10s"
        );
        // A context that merely begins the same is not the same.
        let other = DbError::Query {
            context: "running DDL twice".into(),
            reason: "x".into(),
            transient: true,
        };
        assert_eq!(
            in_context("running DDL", &other),
            "running DDL: running DDL twice: x"
        );
    }

    /// What an attempt's failure tells the next: a refusal by the deadline
    /// wrote nothing (unless its attempt wrote a part first), but asks for
    /// a new read of the server's clock; any other failure may have
    /// committed. Neither is forgotten by a later attempt.
    #[test]
    fn what_the_attempts_before_did_is_decided_from_how_they_failed() {
        let refused = DbError::Refused {
            context: "writing state".into(),
            wrote: false,
        };
        let lost = DbError::Timeout {
            context: "writing state".into(),
            after: Duration::from_secs(30),
        };
        let first = Tried::default();
        let after_refusal = first.failed(&refused);
        assert_eq!(
            after_refusal,
            Tried {
                may_have_written: false,
                refused: true
            }
        );
        assert_eq!(
            first.failed(&refused.after_writing()),
            Tried {
                may_have_written: true,
                refused: true
            }
        );
        let after_loss = first.failed(&lost);
        assert_eq!(
            after_loss,
            Tried {
                may_have_written: true,
                refused: false
            }
        );
        let refused = DbError::Refused {
            context: "writing state".into(),
            wrote: false,
        };
        assert_eq!(
            after_loss.failed(&refused),
            Tried {
                may_have_written: true,
                refused: true
            }
        );
        assert_eq!(
            after_refusal.failed(&lost),
            Tried {
                may_have_written: true,
                refused: true
            }
        );
    }
}
