//! The session cluster, checked before anything else (reference §8.2): every
//! read and write of our own tables runs on it, so a command refuses to
//! start, with one line naming the cluster and the fix, when it does not
//! exist, our role may not use it, or it has no replica. Nothing is written
//! before that check.
//!
//! `--create-replica [SIZE]` (as in the reference tool) gives the session
//! cluster a temporary replica for the run, dropped at the end. Crash-safe:
//! the replica's name says when and by which process it was made
//! (`clusterctl_tmp_<unix seconds>_<host>_<pid>_<pid namespace>_<start>`),
//! so a later run finds the ones a killed run left behind (its process
//! provably dead on this host, judged exactly as the lease judges a dead
//! holder, or older than [`STALE_AFTER`] when it ran elsewhere); `apply`
//! drops those and audits it, other commands report them. A `--watch`
//! process keeps its replica for its life and renews it ([`renew`]) so it
//! never looks left behind.
//!
//! A new replica starts offline/`initializing` and serves once its process
//! is up, seconds to minutes later (reference §8.7); until then Materialize
//! holds every statement on our tables. So a temporary replica is waited
//! for ([`wait_online`]) before the run uses it, and a renewed one before
//! the old one goes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{CommandError, Context};
use crate::db::session::{self, SessionCluster};
use crate::db::store::{Done, Stamp};
use crate::ddl;
use crate::exec::AuditRow;
use crate::model::Size;
use crate::process::Identity;

/// Names of temporary replicas start with this.
pub use crate::model::TEMP_PREFIX;

/// A temporary replica made on another host counts as left behind once
/// this old (runs take seconds to minutes; its process cannot be checked).
pub const STALE_AFTER: Duration = Duration::from_secs(3600);

/// A `--watch` process replaces its temporary replica by a fresh one this
/// old, well before runs elsewhere take it for a leftover ([`STALE_AFTER`]).
pub const RENEW_AFTER: Duration = Duration::from_secs(1200);

/// How long a new temporary replica may take to come online: Materialize
/// starts a replica's process in seconds to minutes (reference §8.7).
pub const ONLINE_WITHIN: Duration = Duration::from_secs(300);

/// How often a starting replica's status is read.
const ONLINE_POLL: Duration = Duration::from_millis(500);

/// The size `--create-replica` uses when given none (the reference's).
pub const DEFAULT_TEMP_SIZE: &str = "25cc";

/// The temporary replica of this run.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub name: String,
    /// The cluster it was made on: after `ALTER CLUSTER … SWAP WITH` or a
    /// rename of the `--exec-cluster`, its name is another cluster's, and
    /// the replica is found by this id.
    pub cluster_id: Option<crate::model::ClusterId>,
    pub size: Size,
    pub sql: String,
    pub created_at: DateTime<Utc>,
    /// Its creation is in the audit trail (written before the CREATE; not
    /// on a first run, whose tables are made on this replica: then it is
    /// audited when dropped or renewed).
    pub audited: bool,
}

/// The checked session cluster of a command.
#[derive(Debug, Clone)]
pub struct Session {
    pub cluster: SessionCluster,
    pub temporary: Option<Temporary>,
    /// Temporary replicas of runs that died.
    pub leftovers: Vec<String>,
}

/// How a message names the session cluster: named by the operator, or
/// the server's default.
fn source_of(sc: &SessionCluster) -> &'static str {
    match sc.explicit {
        true => "the --exec-cluster",
        false => "the session's default cluster",
    }
}

/// What keeps the session cluster from serving our tables, as one line
/// naming it and the fix; `None` when it can. `will_create`: a temporary
/// replica is about to be added.
pub fn problem(sc: &SessionCluster, will_create: bool) -> Option<String> {
    let name = ddl::ident(&sc.name);
    let source = source_of(sc);
    if sc.name.is_empty() {
        return Some(
            "the session has no cluster (SHOW cluster is empty): choose one with --exec-cluster NAME"
                .into(),
        );
    }
    if sc.id.is_none() {
        return Some(format!(
            "{source} {name} does not exist, and clusterctl's own tables are read and written on it; \
             choose an existing cluster with --exec-cluster NAME"
        ));
    }
    if sc.usage == Some(false) {
        let role = sc
            .role
            .as_deref()
            .map(ddl::ident)
            .unwrap_or("<role>".into());
        return Some(format!(
            "role {role} may not use {source} {name} (no USAGE privilege), on which clusterctl's \
             own tables are read and written; GRANT USAGE ON CLUSTER {name} TO {role}, or choose \
             another with --exec-cluster NAME"
        ));
    }
    if sc.replicas.is_empty() && !will_create {
        return Some(format!(
            "{source} {name} has no replica, so clusterctl's own tables cannot be read or written \
             on it; choose a cluster with a replica with --exec-cluster NAME, give {name} a \
             replica, or name an unmanaged cluster with --exec-cluster NAME --create-replica for \
             a temporary replica there"
        ));
    }
    None
}

/// How long a command waits by default for its session cluster to have a
/// replica online ([`not_online`]) before it stops saying so
/// (`--exec-cluster-wait`).
pub const SESSION_ONLINE_WITHIN: Duration = Duration::from_secs(120);

/// Every replica of the session cluster known not to be online (starting,
/// or offline: oom-killed, restarting): a query there waits until one is
/// (a run hung for minutes on its retries, then said only "no answer").
/// What keeps it from serving, naming the fix; `None` when a replica is
/// online, or one's status is not known yet (given the benefit of the
/// doubt), or a temporary replica is about to serve (`will_create`).
pub fn not_online(sc: &SessionCluster, will_create: bool) -> Option<String> {
    if sc.replicas.is_empty() || will_create || !sc.replicas.iter().all(|r| r.online == Some(false))
    {
        return None;
    }
    let source = source_of(sc);
    let name = ddl::ident(&sc.name);
    let names: Vec<String> = sc.replicas.iter().map(|r| ddl::ident(&r.name)).collect();
    Some(format!(
        "{source} {name} has no replica online ({} not online: starting, or offline), so \
         clusterctl's own tables cannot be read or written on it until one is (a query there \
         waits); see `SELECT * FROM mz_internal.mz_cluster_replica_statuses`, choose a cluster \
         with a replica online with --exec-cluster NAME, or name an unmanaged cluster with \
         --exec-cluster NAME --create-replica for a temporary replica there",
        names.join(", ")
    ))
}

/// Waits, at most `--exec-cluster-wait`, for the session cluster to
/// have a replica online ([`not_online`]), reading it again: the cluster
/// as it then is, or what keeps it from serving. With `stop`, a signal
/// abandons the wait.
async fn wait_for_a_replica_online(
    ctx: &Context,
    mut sc: SessionCluster,
    why: String,
    stop: Option<Arc<AtomicBool>>,
) -> Result<SessionCluster, CommandError> {
    let within = ctx.opts.exec_cluster_wait;
    let waited = || {
        format!(
            "waited {} (--exec-cluster-wait)",
            crate::model::human_duration(within.as_secs())
        )
    };
    if within.is_zero() {
        return Err(CommandError::SessionCluster(why));
    }
    tracing::warn!(
        "{why}; waiting up to {} for one (--exec-cluster-wait)",
        crate::model::human_duration(within.as_secs())
    );
    let exec = ctx.opts.exec_cluster.clone();
    let mut backend = ctx.stoppable_backend(stop);
    let started = Instant::now();
    loop {
        if started.elapsed() >= within {
            let why = not_online(&sc, false).unwrap_or(why);
            return Err(CommandError::SessionCluster(format!(
                "{why} ({})",
                waited()
            )));
        }
        tokio::time::sleep(ONLINE_POLL).await;
        if crate::exec::Backend::stop_requested(&backend) {
            return Err(CommandError::Interrupted(
                "a signal came while waiting for the session cluster's replica".into(),
            ));
        }
        let again = backend
            .retrying("checking the session cluster", async |c| {
                session::inspect(c, exec.as_deref()).await
            })
            .await?;
        let Some(again) = again else {
            return Ok(sc);
        };
        if let Some(p) = problem(&again, false) {
            return Err(CommandError::SessionCluster(p));
        }
        sc = again;
        if not_online(&sc, false).is_none() {
            return Ok(sc);
        }
    }
}

/// Checks the session cluster before anything else; with `--create-replica`
/// first gives it a temporary replica. Leaves the resolved cluster in the
/// context, so the snapshot need not ask again. `None` on a server without
/// clusters (plain PostgreSQL), where there is nothing to check.
///
/// A temporary replica that does not come online is dropped ([`abandon`]);
/// with `cleanup` (apply), so are those dead runs left
/// ([`drop_leftovers`]).
///
/// With `stop`, a signal ends it (`Interrupted`) with nothing left behind:
/// a read under way is abandoned, no replica is made after it, and a
/// temporary replica still starting is dropped ([`abandon`]).
pub async fn prepare(
    ctx: &mut Context,
    stop: Option<Arc<AtomicBool>>,
    cleanup: bool,
) -> Result<Option<Session>, CommandError> {
    let session = prepared(ctx, stop, cleanup).await?;
    if let Some(s) = &session {
        ctx.snapshot.exec_cluster = Some(s.cluster.name.clone());
    }
    Ok(session)
}

/// [`prepare`] without recording the session cluster's name in `ctx` (the
/// snapshot's `exec_cluster`): a watcher that could not prepare at its
/// start (the database unreachable) prepares before each run until it
/// can. `--create-replica` names its cluster (`--exec-cluster`), which the
/// snapshot already has.
pub async fn prepared(
    ctx: &Context,
    stop: Option<Arc<AtomicBool>>,
    cleanup: bool,
) -> Result<Option<Session>, CommandError> {
    let exec = ctx.opts.exec_cluster.clone();
    let create = ctx.opts.create_replica.clone();
    let Some(sc) = ctx
        .stoppable_backend(stop.clone())
        .retrying("checking the session cluster", async |c| {
            session::inspect(c, exec.as_deref()).await
        })
        .await?
    else {
        return Ok(None);
    };
    if let Some(p) = problem(&sc, create.is_some()) {
        return Err(CommandError::SessionCluster(p));
    }
    let sc = match not_online(&sc, create.is_some()) {
        Some(why) => wait_for_a_replica_online(ctx, sc, why, stop.clone()).await?,
        None => sc,
    };
    let me = Maker::me();
    let mut leftovers = leftovers(&sc);
    let mut sc = sc;
    // Those of dead runs go before ours is made (`apply`): a few killed
    // runs' replicas reached max_replicas_per_cluster, and every later
    // `--create-replica` start failed on the limit, leaving them there
    // (an outside check). Audited once ours is made (whatever becomes of
    // it: the audit waits for a replica that serves, as `abandon`'s does).
    let mut dropped_first = Vec::new();
    if let (Some(_), true, Some(id)) = (&create, cleanup, sc.id.clone()) {
        if !leftovers.is_empty() {
            let (records, warnings) = drop_leftovers(ctx, &sc, &id.0, &leftovers).await;
            for w in warnings {
                tracing::warn!("{w}");
            }
            let gone: Vec<&str> = records
                .iter()
                .filter(|(_, executed, _)| *executed)
                .filter_map(|(row, _, _)| row.decision_ctx["replica"].as_str())
                .collect();
            sc.replicas.retain(|r| !gone.contains(&r.name.as_str()));
            leftovers.retain(|n| !gone.contains(&n.as_str()));
            dropped_first = records;
        }
    }
    let temporary = match create {
        Some(size) => {
            let made = create_temporary(ctx, &sc, size, &me, stop).await;
            for w in audit(ctx, dropped_first).await {
                tracing::warn!("{w}");
            }
            let (t, online) = made?;
            match online {
                Ok(()) => Some(t),
                Err(CommandError::Interrupted(why)) => {
                    let said = abandon(ctx, &sc, &t, &why, &[]).await;
                    return Err(CommandError::Interrupted(said));
                }
                // Not online in time (or gone): dropped now, not left to
                // the next apply (a cron of `--create-replica` runs that
                // all fail this way would leave one a run); with `cleanup`
                // (apply) those dead runs left go too, which such a cron
                // would never reach the end of a run to drop.
                Err(e) => {
                    let dead = if cleanup { leftovers.as_slice() } else { &[] };
                    let why = format!("--create-replica: {e}");
                    let said = abandon(ctx, &sc, &t, &why, dead).await;
                    return Err(CommandError::SessionCluster(said));
                }
            }
        }
        None => None,
    };
    Ok(Some(Session {
        cluster: sc,
        temporary,
        leftovers,
    }))
}

/// Creates the temporary replica and waits until it is online
/// ([`wait_online`]). `Err`: none was made. `Ok((made, Err))`: it was made
/// but is not online (not within [`ONLINE_WITHIN`], a signal with `stop`,
/// or its status could not be read); the caller decides what becomes of it.
async fn create_temporary(
    ctx: &Context,
    sc: &SessionCluster,
    size: Size,
    me: &Maker,
    stop: Option<Arc<AtomicBool>>,
) -> Result<(Temporary, Result<(), CommandError>), CommandError> {
    if sc.managed && !sc.replicas.is_empty() {
        // It serves already: the flag is what is wrong, not the cluster.
        return Err(CommandError::SessionCluster(format!(
            "--create-replica: {} is a managed cluster that has a replica already, and \
             Materialize adds replicas to a managed cluster only by ALTER CLUSTER; run \
             without --create-replica",
            ddl::ident(&sc.name)
        )));
    }
    if sc.managed {
        let name = ddl::ident(&sc.name);
        return Err(CommandError::SessionCluster(format!(
            "--create-replica: {name} is a managed cluster, to which Materialize adds replicas \
             only by ALTER CLUSTER {name} SET (REPLICATION FACTOR 1); use an unmanaged cluster \
             with --exec-cluster NAME, or give {name} a replica that way"
        )));
    }
    let offered = ctx
        .stoppable_backend(stop.clone())
        .retrying("reading the replica sizes", async |c| {
            session::offered_sizes(c).await
        })
        .await?;
    if !offered.is_empty() && !offered.contains(&size.0) {
        return Err(CommandError::Usage(format!(
            "--create-replica {}: not a replica size this region offers and allows ({})",
            crate::model::printable(&size.0),
            offered.join(", ")
        )));
    }
    let now = sc.clock.now();
    let name = me.name_at(now);
    let cluster = sc.name.clone();
    // Intent before the DDL, as for every action: a run killed after the
    // CREATE leaves its row, which the next run settles from the catalog.
    let intent = sc.id.as_ref().map(|id| {
        let (row, _, _) = record(
            &ctx.run_id,
            &id.0,
            &cluster,
            Ddl::Create,
            &name,
            Some(&size),
            TEMPORARY_REASON,
            &Ok(String::new()),
            now,
        );
        row
    });
    let mut audited = false;
    if let Some(row) = &intent {
        let store = &ctx.store;
        // Nothing made yet: a signal abandons the write (a row it wrote
        // after all is settled as not applied by the next run).
        let written = ctx
            .stoppable_backend(stop.clone())
            .retrying("auditing the temporary replica", async |c| {
                // A plain INSERT … VALUES: the session cluster has no
                // replica yet to run an INSERT … SELECT on.
                store.audit_intent(c, row, false).await
            })
            .await;
        match written {
            Ok(()) => audited = true,
            // The tables do not exist yet (a first run makes them on this
            // replica): audited when it is dropped.
            Err(e) => tracing::debug!("the temporary replica's creation is audited later: {e}"),
        }
    }
    if stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
        // Nothing made: the intent is closed as not attempted (left open,
        // the next run settled it as failed, shown by `history --failed`
        // after a clean shutdown), also when the signal abandoned its write
        // (it may have landed; the UPDATE finds nothing otherwise); if that
        // fails, the next run settles it.
        if let Some(row) = &intent {
            let store = &ctx.store;
            let closed = ctx
                .backend()
                .retrying("closing the temporary replica's audit row", async |c| {
                    store
                        .withdraw_intent(c, &row.action_id, crate::db::store::Withdrawn::Signal)
                        .await
                })
                .await;
            if let Err(e) = closed {
                tracing::debug!("the next run settles the temporary replica's row: {e}");
            }
        }
        return Err(CommandError::Interrupted(
            "a signal came before the temporary replica was made: nothing was done".into(),
        ));
    }
    let intent = intent.filter(|_| audited);
    // Not retried: a retry after a lost connection could find it made and
    // fail; the next run drops whatever this one leaves.
    let client = ctx.db.client().await?;
    let made = session::create_replica(&client, &cluster, &name, &size).await;
    let online = match &made {
        Ok(_) => {
            tracing::info!(replica = %name, cluster = %cluster, "created a temporary replica for this run");
            wait_online(ctx, &cluster, &name, stop).await
        }
        Err(_) => Ok(()),
    };
    // Recording the outcome runs on the session cluster: with no other
    // replica and this one not online, it would only wait. The intent is
    // left as a killed run leaves it, and the next run settles it.
    let others = sc.replicas.iter().any(|r| r.name != name);
    let intent = intent.filter(|_| online.is_ok() || others);
    if let Some(row) = &intent {
        let outcome = crate::exec::Outcome {
            action_id: row.action_id.clone(),
            executed: made.is_ok(),
            error: made.as_ref().err().map(|e| e.to_string()),
        };
        let store = &ctx.store;
        let recorded = ctx
            .backend()
            .retrying("auditing the temporary replica", async |c| {
                store.audit_outcome(c, &outcome).await
            })
            .await;
        if let Err(e) = recorded {
            tracing::warn!("could not audit {}: {e}", row.action_sql);
        }
    }
    let sql = made.map_err(|e| CommandError::SessionCluster(format!("--create-replica: {e}")))?;
    let made = Temporary {
        name,
        cluster_id: sc.id.clone(),
        size,
        sql,
        created_at: now,
        audited,
    };
    Ok((made, online))
}

/// Waits until the new replica `name` of `cluster` is online: every process
/// reports online, and one without a status yet is starting (reference §7
/// item 4). At most `--create-replica-wait` ([`ONLINE_WITHIN`] by
/// default); each read is retried like the others. With `stop`, a signal
/// abandons the wait (`Interrupted`).
pub async fn wait_online(
    ctx: &Context,
    cluster: &str,
    name: &str,
    stop: Option<Arc<AtomicBool>>,
) -> Result<(), CommandError> {
    let mut backend = ctx.stoppable_backend(stop);
    let started = Instant::now();
    loop {
        let interrupted = || {
            CommandError::Interrupted(format!(
                "a signal came while the temporary replica {name} started"
            ))
        };
        let state = backend
            .retrying(
                "waiting for the temporary replica to come online",
                async |c| session::startup(c, cluster, name).await,
            )
            .await
            .map_err(|e| match e {
                crate::db::DbError::Interrupted { .. } => interrupted(),
                e => e.into(),
            })?;
        match state {
            session::Startup::Online => {
                tracing::info!(
                    replica = %name,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "the temporary replica is online"
                );
                return Ok(());
            }
            session::Startup::Gone => {
                return Err(CommandError::SessionCluster(format!(
                    "the temporary replica {name} was dropped before it came online"
                )))
            }
            session::Startup::Starting => {}
        }
        let within = ctx.opts.create_replica_wait;
        if started.elapsed() >= within {
            return Err(CommandError::SessionCluster(format!(
                "the temporary replica {name} did not come online within {} \
                 (--create-replica-wait)",
                crate::model::human_duration(within.as_secs())
            )));
        }
        tokio::time::sleep(ONLINE_POLL).await;
        if crate::exec::Backend::stop_requested(&backend) {
            return Err(interrupted());
        }
    }
}

/// What a `--watch` process does before each run to keep its temporary
/// replica, which lives as long as the process: once [`RENEW_AFTER`] old it
/// is renamed to a fresh name (new time, [`rename`]), so that runs on other
/// hosts, which cannot see the process, never take it for one a dead run
/// left ([`STALE_AFTER`]). Renamed, it keeps its id and serves throughout:
/// nothing is started, nothing waits. Where the rename is refused, it is
/// replaced by a new replica instead, as before renames: the old one goes
/// only once the new one is online, so the run after it never waits on a
/// starting replica; a new one that does not come online (or a signal,
/// `stop`, while it starts) is dropped and the old one kept. Made again
/// when it is gone (dropped by hand, or by such a run). Audited like the
/// others. Never fails the watch: what goes wrong is returned as warnings
/// and tried again next run.
///
/// With `cleanup` (`apply --watch`), each run also drops the temporary
/// replicas runs that died left on the session cluster since (audited), as
/// a one-shot `apply` does at its end: a watcher dropped them only at its
/// exit, and one that died while it ran never (an outside check: a replica
/// billed for the watcher's life). A reading command's watch
/// (`status --watch`) leaves them, as its one-shot form does.
pub async fn renew(
    ctx: &Context,
    s: &mut Session,
    stop: Arc<AtomicBool>,
    cleanup: bool,
) -> Vec<String> {
    let name = s.cluster.name.clone();
    let read = ctx
        .backend()
        .retrying("checking the session cluster", async |c| {
            session::inspect(c, Some(&name)).await
        })
        .await;
    let sc = match read {
        Ok(Some(sc)) => sc,
        Ok(None) => return Vec::new(),
        Err(e) => {
            return vec![match &s.temporary {
                Some(old) => format!("could not check the temporary replica {}: {e}", old.name),
                None => format!(
                    "could not check the session cluster {}: {e}",
                    ddl::ident(&name)
                ),
            }]
        }
    };
    let Some(cluster_id) = sc.id.clone() else {
        // No cluster has the --exec-cluster's name now (renamed or
        // dropped): every run fails until one does, and this process's
        // temporary replica, on the cluster it was made on, is dropped (it
        // was billed until the watcher's exit: an outside check); one is
        // made again once a cluster has the name.
        let mut warnings = vec![format!(
            "the --exec-cluster {} does not exist (renamed or dropped?): runs fail until a \
             cluster has that name",
            ddl::ident(&name)
        )];
        if let Some(old) = s.temporary.take() {
            let reason = format!(
                "the --exec-cluster {} no longer exists (renamed or dropped): this process's \
                 temporary replica is not left running",
                ddl::ident(&name)
            );
            let said = format!(
                "dropped this process's temporary replica {} from the cluster it was made on",
                old.name
            );
            warnings.extend(let_go(ctx, &sc, &old, &reason, said).await);
        }
        return warnings;
    };
    let dead = if cleanup { leftovers(&sc) } else { Vec::new() };
    let (records, mut warnings) = drop_leftovers(ctx, &sc, &cluster_id.0, &dead).await;
    warnings.extend(audit(ctx, records).await);
    // Those dropped are not dropped again at the exit.
    s.leftovers.retain(|n| !dead.contains(n));
    let Some(old) = s.temporary.clone() else {
        // Dropped when the name was no cluster's (above): made again on the
        // cluster that has it now.
        if let Some(size) = ctx.opts.create_replica.clone() {
            match create_temporary(ctx, &sc, size, &Maker::me(), Some(stop)).await {
                Ok((fresh, online)) => {
                    if let Err(e) = online {
                        warnings.push(format!(
                            "the new temporary replica {} is not online yet: {e}",
                            fresh.name
                        ));
                    }
                    s.temporary = Some(fresh);
                    s.cluster = sc;
                }
                Err(e) => warnings.push(format!("could not make a temporary replica: {e}")),
            }
            return warnings;
        }
        // No replica online since the watcher started (offline, OOM-killed,
        // restarting): waited for as at start-up, saying so, not a run
        // whose every statement hangs on its retries unexplained (an
        // outside re-check).
        if let Some(why) = not_online(&sc, false) {
            if let Err(e) = wait_for_a_replica_online(ctx, sc, why, Some(stop)).await {
                warnings.push(format!(
                    "{e}; the run goes on, its statements waiting for a replica"
                ));
            }
        }
        return warnings;
    };
    warnings.extend(keep_temporary(ctx, s, sc, cluster_id, old, stop).await);
    warnings
}

/// [`renew`]'s part for this process's own temporary replica `old`, on
/// the session cluster as just read (`sc`).
async fn keep_temporary(
    ctx: &Context,
    s: &mut Session,
    sc: SessionCluster,
    cluster_id: crate::model::ClusterId,
    old: Temporary,
    stop: Arc<AtomicBool>,
) -> Vec<String> {
    let me = Maker::me();
    let mut warnings = Vec::new();
    // The --exec-cluster's name is another cluster's now (`SWAP WITH`, a
    // rename): the replica stays on the cluster it was made on, which
    // this process would no longer renew nor drop at its exit (leaked
    // until an `apply` there). Dropped there; one is made on the cluster
    // of the name, where the runs' statements go now.
    let moved = old.cluster_id.as_ref().is_some_and(|id| *id != cluster_id);
    if moved {
        let reason = format!(
            "the --exec-cluster {} is another cluster now ({cluster_id}: swapped or renamed): \
             this process's temporary replica follows the name",
            ddl::ident(&sc.name)
        );
        let said = format!(
            "the --exec-cluster {} is another cluster now (swapped or renamed): dropped this \
             process's temporary replica {} from the cluster it was made on; making one on {}",
            ddl::ident(&sc.name),
            old.name,
            ddl::ident(&sc.name)
        );
        warnings.extend(let_go(ctx, &sc, &old, &reason, said).await);
        s.cluster = sc.clone();
        s.temporary = None;
    }
    let present = !moved && sc.replicas.iter().any(|r| r.name == old.name);
    if !present && !moved {
        if let Some(found) = renamed_unanswered(&sc, &me, &old) {
            let (fresh, warnings) = adopt(ctx, &sc, &cluster_id.0, &old, found).await;
            s.temporary = Some(fresh);
            return warnings;
        }
    }
    if present && !due_for_renewal(old.created_at, sc.clock.now()) {
        return warnings;
    }
    if present {
        match rename(ctx, &sc, &cluster_id.0, &old, &me).await {
            Renamed::Done(fresh, w) => {
                s.temporary = Some(fresh);
                return w;
            }
            Renamed::Unknown(w) => return w,
            Renamed::Refused(w) => warnings.extend(w),
        }
    }
    let made = create_temporary(ctx, &sc, old.size.clone(), &me, Some(stop)).await;
    let (fresh, online) = match made {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!(
                "could not renew the temporary replica {}: {e}",
                old.name
            ));
            return warnings;
        }
    };
    let cluster = sc.name.clone();
    let mut records = Vec::new();
    if let Err(e) = online {
        if !present {
            // Nothing to keep: the runs wait on the new one.
            warnings.push(format!(
                "the new temporary replica {} is not online yet: {e}",
                fresh.name
            ));
        } else {
            warnings.extend(keep_old(ctx, &sc, &cluster_id.0, &old, &fresh, e).await);
            return warnings;
        }
    }
    if !old.audited && !moved {
        records.push(created(&ctx.run_id, &cluster_id.0, &cluster, &old));
    }
    if present {
        let reason = format!(
            "renewed by {}: a --watch process renews its temporary replica every {}, \
             before runs elsewhere take it for one a dead run left",
            fresh.name,
            crate::model::human_duration(RENEW_AFTER.as_secs())
        );
        let (row, r) = drop_temporary(ctx, &sc, &old, &reason).await;
        if let Err(e) = &r {
            warnings.push(format!(
                "could not drop the renewed temporary replica {}: {e}; {}",
                old.name,
                next_apply_drops_it(ctx, &sc.name)
            ));
        }
        records.push(row);
    } else if !moved {
        warnings.push(format!(
            "the temporary replica {} of this process was gone (dropped elsewhere): made {}",
            old.name, fresh.name
        ));
    }
    s.temporary = Some(fresh);
    warnings.extend(audit(ctx, records).await);
    warnings
}

/// What became of a renewal by rename.
enum Renamed {
    /// Renamed: the replica under its new name, and warnings.
    Done(Temporary, Vec<String>),
    /// Refused (audited): it keeps its old name; renew it another way.
    Refused(Vec<String>),
    /// The answer was lost and the catalog could not be read: whether it
    /// took is for the next run to see ([`renamed_unanswered`]).
    Unknown(Vec<String>),
}

/// Renews `old` in place: `ALTER CLUSTER REPLICA … RENAME TO` a fresh name
/// of this process, dated now. A rename whose answer is lost (a cut
/// connection) may have landed: the catalog, read again, says which name
/// the replica has.
async fn rename(
    ctx: &Context,
    sc: &SessionCluster,
    cluster_id: &str,
    old: &Temporary,
    me: &Maker,
) -> Renamed {
    let at = sc.clock.now();
    let to = me.name_at(at);
    // Not retried: a retry after a lost answer could find it renamed and
    // fail; the catalog is read instead.
    let sent = match ctx.db.client().await {
        Ok(c) => session::rename_replica(&c, &sc.name, &old.name, &to).await,
        Err(e) => Err(e),
    };
    let outcome = match sent {
        Ok(sql) => Ok(sql),
        Err(e) => {
            let read = ctx
                .backend()
                .retrying("checking the session cluster", async |c| {
                    session::inspect(c, Some(&sc.name)).await
                })
                .await;
            let has =
                |now: &SessionCluster, name: &str| now.replicas.iter().any(|r| r.name == name);
            match read {
                Ok(Some(now)) if has(&now, &to) => {
                    Ok(ddl::rename_replica(&sc.name, &old.name, &to))
                }
                Ok(Some(now)) if has(&now, &old.name) => Err(match e {
                    crate::db::DbError::Query { reason, .. } => reason,
                    other => other.to_string(),
                }),
                _ => {
                    return Renamed::Unknown(vec![format!(
                        "could not tell whether the temporary replica {} was renamed to {to} \
                         ({e}); the next run looks again",
                        old.name
                    )])
                }
            }
        }
    };
    let reason = format!(
        "renewed as {to}: a --watch process renames its temporary replica every {}, before \
         runs elsewhere take it for one a dead run left; it keeps serving",
        crate::model::human_duration(RENEW_AFTER.as_secs())
    );
    let mut warnings = Vec::new();
    if let Err(e) = &outcome {
        warnings.push(format!(
            "could not rename the temporary replica {} ({e}); renewing it by a new one instead",
            old.name
        ));
    }
    let rename = (to.as_str(), reason.as_str(), &outcome, at);
    warnings.extend(audit_rename(ctx, sc, cluster_id, old, rename).await);
    match outcome {
        Ok(_) => Renamed::Done(
            Temporary {
                name: to,
                created_at: at,
                audited: true,
                ..old.clone()
            },
            warnings,
        ),
        Err(_) => Renamed::Refused(warnings),
    }
}

/// The newest replica of this process's other than `old`, when `old` is
/// gone: a rename whose answer was lost and whose outcome could not be
/// read then ([`Renamed::Unknown`]). With its creation time from its name.
fn renamed_unanswered(
    sc: &SessionCluster,
    me: &Maker,
    old: &Temporary,
) -> Option<(String, DateTime<Utc>)> {
    sc.replicas
        .iter()
        .filter(|r| r.name != old.name)
        .filter_map(|r| Some((r.name.clone(), me.made(&r.name)?)))
        .max_by_key(|(_, at)| *at)
}

/// Takes `found` ([`renamed_unanswered`]) as this process's temporary
/// replica, and audits the rename that made it.
async fn adopt(
    ctx: &Context,
    sc: &SessionCluster,
    cluster_id: &str,
    old: &Temporary,
    (to, at): (String, DateTime<Utc>),
) -> (Temporary, Vec<String>) {
    let reason = format!(
        "renewed as {to}: found under that name, the rename's answer having been lost; it kept \
         serving"
    );
    let outcome = Ok(ddl::rename_replica(&sc.name, &old.name, &to));
    let rename = (to.as_str(), reason.as_str(), &outcome, sc.clock.now());
    let warnings = audit_rename(ctx, sc, cluster_id, old, rename).await;
    let fresh = Temporary {
        name: to,
        created_at: at,
        audited: true,
        ..old.clone()
    };
    (fresh, warnings)
}

/// Audits the rename of `old` (`(to, reason, outcome, at)`), after its
/// creation when that was not audited yet.
async fn audit_rename(
    ctx: &Context,
    sc: &SessionCluster,
    cluster_id: &str,
    old: &Temporary,
    (to, reason, outcome, at): (&str, &str, &Result<String, String>, DateTime<Utc>),
) -> Vec<String> {
    let mut records = Vec::new();
    if !old.audited {
        records.push(created(&ctx.run_id, cluster_id, &sc.name, old));
    }
    let op = Ddl::Rename { to };
    records.push(record(
        &ctx.run_id,
        cluster_id,
        &sc.name,
        op,
        &old.name,
        Some(&old.size),
        reason,
        outcome,
        at,
    ));
    audit(ctx, records).await
}

/// A renewal whose new replica did not come online: the new one is dropped
/// and the old one, which still serves, kept (renewed next run).
async fn keep_old(
    ctx: &Context,
    sc: &SessionCluster,
    cluster_id: &str,
    old: &Temporary,
    fresh: &Temporary,
    why: CommandError,
) -> Vec<String> {
    let mut records = Vec::new();
    if !fresh.audited {
        records.push(created(&ctx.run_id, cluster_id, &sc.name, fresh));
    }
    let reason = format!(
        "a renewal of {} that did not come online ({why}); {} is kept",
        old.name, old.name
    );
    let (row, r) = drop_temporary(ctx, sc, fresh, &reason).await;
    records.push(row);
    let mut warnings = vec![format!(
        "could not renew the temporary replica {}: {why}; keeping it",
        old.name
    )];
    if let Err(e) = &r {
        warnings.push(format!(
            "could not drop {}: {e}; {}",
            fresh.name,
            next_apply_drops_it(ctx, &sc.name)
        ));
    }
    warnings.extend(audit(ctx, records).await);
    warnings
}

/// Drops this watcher's temporary replica `old` from the cluster it was
/// made on, whose name the `--exec-cluster` no longer is (a swap, a
/// rename, a drop), with `reason` audited: `said` when dropped, else why
/// not; then what auditing it could not write.
async fn let_go(
    ctx: &Context,
    sc: &SessionCluster,
    old: &Temporary,
    reason: &str,
    said: String,
) -> Vec<String> {
    let (row, r) = drop_temporary(ctx, sc, old, reason).await;
    let mut warnings = vec![match r {
        Ok(_) => said,
        Err(e) => format!(
            "could not drop this process's temporary replica {} from the cluster it was made on \
             ({e}); {}",
            old.name,
            next_apply_drops_it(ctx, &sc.name)
        ),
    }];
    warnings.extend(audit(ctx, vec![row]).await);
    warnings
}

/// The run's temporary replica did not serve (a signal came while it
/// started, or it did not come online in time, `why`): it is dropped and
/// audited, so that the run leaves nothing running (it was left to the
/// next `apply`, an hour away when that runs on another host, and never
/// when every run fails the same way). Its creation's intent row stays
/// without an outcome (recording one needs a replica of the session
/// cluster that serves); the next run settles it. Returns what to say.
async fn abandon(
    ctx: &Context,
    sc: &SessionCluster,
    t: &Temporary,
    why: &str,
    leftovers: &[String],
) -> String {
    let Some(cluster_id) = sc.id.as_ref().map(|id| id.0.clone()) else {
        return why.to_string();
    };
    let mut records = Vec::new();
    if !t.audited {
        records.push(created(&ctx.run_id, &cluster_id, &sc.name, t));
    }
    let reason = format!("{why}: dropped before it served, nothing else was done");
    let (row, r) = drop_temporary(ctx, sc, t, &reason).await;
    records.push(row);
    // Dropped before anything is audited: the audit runs on the session
    // cluster, where a replica still starting would hold it.
    let (dropped, warnings) = drop_leftovers(ctx, sc, &cluster_id, leftovers).await;
    records.extend(dropped);
    for w in warnings.into_iter().chain(audit(ctx, records).await) {
        tracing::warn!("{w}");
    }
    match r {
        Ok(_) => format!("{why}: dropped it; nothing else was done"),
        Err(e) => format!(
            "{why}, and it could not be dropped ({e}); {}",
            next_apply_drops_it(ctx, &sc.name)
        ),
    }
}

/// Whether a temporary replica made at `created` (the database's clock) is
/// to be renewed at `now`.
fn due_for_renewal(created: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    (now - created).num_seconds() >= RENEW_AFTER.as_secs() as i64
}

/// Drops the temporary replicas runs that died left behind (`leftovers`):
/// their audit records, and a warning for each that could not be dropped.
async fn drop_leftovers(
    ctx: &Context,
    sc: &SessionCluster,
    cluster_id: &str,
    leftovers: &[String],
) -> (Vec<(AuditRow, bool, Option<String>)>, Vec<String>) {
    let (mut records, mut warnings) = (Vec::new(), Vec::new());
    for name in leftovers {
        let at = sc.clock.now();
        let r = drop(ctx, &sc.name, name).await;
        let reason = "a run that died left this temporary replica behind";
        records.push(record(
            &ctx.run_id,
            cluster_id,
            &sc.name,
            Ddl::Drop,
            name,
            None,
            reason,
            &r,
            at,
        ));
        if let Err(e) = r {
            warnings.push(format!(
                "could not drop the leftover temporary replica {name}: {e}"
            ));
        }
    }
    (records, warnings)
}

/// The reason audited for a temporary replica's creation.
const TEMPORARY_REASON: &str =
    "--create-replica: a temporary replica on the session cluster for this run";

/// Who drops a temporary replica this process could not: the next `apply`
/// on its cluster (`--exec-cluster`; a plain `apply` on the server's
/// default cluster left it: an outside check), in our tables' schema.
pub(crate) fn next_apply_drops_it(ctx: &Context, cluster: &str) -> String {
    format!("the next `{}` drops it", apply_on(ctx, cluster))
}

/// The `apply` command that runs on `cluster` (and drops the temporary
/// replicas left there).
pub(crate) fn apply_on(ctx: &Context, cluster: &str) -> String {
    let apply = format!(
        "apply --exec-cluster {}",
        crate::model::shell_value(cluster)
    );
    crate::model::clusterctl_command(ctx.store.schema(), &apply)
}

/// Drops this run's temporary replica; with `cleanup` (apply) also the
/// ones killed runs left, and records both in the audit trail. Never fails
/// the command: what goes wrong is returned as warnings (a replica left
/// behind is dropped by the next apply).
pub async fn finish(ctx: &Context, s: Option<Session>, cleanup: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(s) = s else {
        return warnings;
    };
    let Some(cluster_id) = s.cluster.id.clone() else {
        return warnings;
    };
    let cluster = s.cluster.name.clone();
    let mut records = Vec::new();
    if cleanup {
        let (dropped, w) = drop_leftovers(ctx, &s.cluster, &cluster_id.0, &s.leftovers).await;
        records.extend(dropped);
        warnings.extend(w);
    } else {
        for name in &s.leftovers {
            warnings.push(format!(
                "the session cluster {} has a temporary replica {name} left by a run that died; {}",
                ddl::ident(&cluster),
                next_apply_drops_it(ctx, &cluster)
            ));
        }
    }
    if let Some(t) = &s.temporary {
        if !t.audited {
            records.push(created(&ctx.run_id, &cluster_id.0, &cluster, t));
        }
        // Audited whatever the command, as its creation was.
        let (row, r) = drop_temporary(ctx, &s.cluster, t, TEMPORARY_REASON).await;
        match &r {
            // Said as its creation was (a watcher's exit said nothing of
            // it: an outside check).
            Ok(_) => tracing::info!(
                replica = %t.name,
                cluster = %cluster,
                "dropped this run's temporary replica"
            ),
            Err(e) => warnings.push(format!(
                "could not drop this run's temporary replica {}: {e}; {}",
                t.name,
                next_apply_drops_it(ctx, &cluster)
            )),
        }
        records.push(row);
    }
    warnings.extend(audit(ctx, records).await);
    warnings
}

/// Records temporary replicas' DDL in the audit trail; what could not be
/// recorded is returned as warnings.
async fn audit(ctx: &Context, records: Vec<(AuditRow, bool, Option<String>)>) -> Vec<String> {
    let mut warnings = Vec::new();
    for (row, executed, error) in records {
        let store = &ctx.store;
        let result = ctx
            .backend()
            .retrying("auditing the temporary replica", async |c| {
                // Never retried as an `INSERT … SELECT`: the replica
                // that would run it is the one just dropped. A retry after
                // a cut connection may leave a second row.
                let done = Done {
                    executed,
                    error: error.as_deref(),
                };
                let unbounded = crate::db::store::Attempt::default();
                store
                    .audit_done(c, &row, done, Stamp::Row, &unbounded)
                    .await
            })
            .await;
        if let Err(e) = result {
            warnings.push(format!("could not audit {}: {e}", row.action_sql));
        }
    }
    warnings
}

async fn drop(ctx: &Context, cluster: &str, name: &str) -> Result<String, String> {
    let result = match ctx.db.client().await {
        Ok(c) => session::drop_replica(&c, cluster, name).await,
        Err(e) => Err(e),
    };
    result.map_err(|e| match e {
        crate::db::DbError::Query { reason, .. } => reason,
        other => other.to_string(),
    })
}

/// Drops temporary replica `t` from the cluster it was made on, under the
/// name that cluster has now (the session cluster `sc`'s name may be
/// another cluster's since: a swap, a rename): the audit row of the drop,
/// with `reason`, and its outcome (each caller words its own warning).
async fn drop_temporary(
    ctx: &Context,
    sc: &SessionCluster,
    t: &Temporary,
    reason: &str,
) -> ((AuditRow, bool, Option<String>), Result<String, String>) {
    let at = sc.clock.now();
    let home = match &t.cluster_id {
        Some(id) => ctx
            .backend()
            .retrying("finding the temporary replica's cluster", async |c| {
                session::cluster_name(c, id).await
            })
            .await
            .ok()
            .flatten(),
        None => None,
    };
    // Its cluster gone, or not found: the session cluster's name, as
    // before ids were kept (`IF EXISTS`: nothing there is no error).
    let home = home.unwrap_or_else(|| sc.name.clone());
    let cluster_id = t
        .cluster_id
        .as_ref()
        .or(sc.id.as_ref())
        .map_or("", |id| id.0.as_str());
    let r = drop(ctx, &home, &t.name).await;
    let row = record(
        &ctx.run_id,
        cluster_id,
        &home,
        Ddl::Drop,
        &t.name,
        Some(&t.size),
        reason,
        &r,
        at,
    );
    (row, r)
}

/// The audit row of a temporary replica's creation made after the fact,
/// dated when it was made.
fn created(
    run_id: &Uuid,
    cluster_id: &str,
    cluster: &str,
    t: &Temporary,
) -> (AuditRow, bool, Option<String>) {
    record(
        run_id,
        cluster_id,
        cluster,
        Ddl::Create,
        &t.name,
        Some(&t.size),
        TEMPORARY_REASON,
        &Ok(t.sql.clone()),
        t.created_at,
    )
}

/// What a temporary replica's audit row records.
#[derive(Debug, Clone, Copy)]
enum Ddl<'a> {
    Create,
    Drop,
    /// Renamed to this name (a `--watch` process's renewal).
    Rename {
        to: &'a str,
    },
}

impl Ddl<'_> {
    /// `decision_ctx->>'kind'`.
    fn kind(&self) -> &'static str {
        match self {
            Ddl::Create => "create_replica",
            Ddl::Drop => "drop_replica",
            Ddl::Rename { .. } => "rename_replica",
        }
    }

    fn sql(&self, cluster: &str, replica: &str, size: Option<&Size>) -> String {
        match self {
            Ddl::Create => size
                .map(|s| ddl::create_replica(cluster, replica, s))
                .unwrap_or_default(),
            Ddl::Drop => ddl::drop_replica_if_exists(cluster, replica),
            Ddl::Rename { to } => ddl::rename_replica(cluster, replica, to),
        }
    }
}

/// An audit row for a temporary replica's DDL, with its outcome, dated
/// `at` by the database's clock ([`crate::db::DbClock`]).
#[allow(clippy::too_many_arguments)]
fn record(
    run_id: &Uuid,
    cluster_id: &str,
    cluster: &str,
    op: Ddl<'_>,
    replica: &str,
    size: Option<&Size>,
    reason: &str,
    outcome: &Result<String, String>,
    at: DateTime<Utc>,
) -> (AuditRow, bool, Option<String>) {
    let kind = op.kind();
    let mut ctx = serde_json::json!({
        "run_id": run_id.to_string(),
        "controller": crate::CONTROLLER,
        "cluster": cluster,
        "strategy": null,
        "kind": kind,
        "replica": replica,
        "size": size,
        "reasons": [reason],
        "temporary_replica": true,
    });
    if let Ddl::Rename { to } = op {
        ctx["renamed_to"] = serde_json::json!(to);
    }
    let row = AuditRow {
        // The command's run id, and the time: one command is one run in
        // the trail (a temporary replica's create and drop had two run
        // ids: an outside check), and a replica made again under the same
        // name (within the second) is a row of its own.
        action_id: Uuid::new_v5(
            run_id,
            format!("{kind}\u{0}{replica}\u{0}{}", at.timestamp_micros()).as_bytes(),
        )
        .to_string(),
        cluster_id: crate::model::ClusterId(cluster_id.to_string()),
        action_sql: op.sql(cluster, replica, size),
        decision_ctx: ctx,
        created_at: at,
    };
    (row, outcome.is_ok(), outcome.as_ref().err().cloned())
}

/// Who makes temporary replicas: this process, as the lease knows it.
struct Maker {
    /// The host as it goes into a replica name ([`host_part`]).
    host: String,
    id: Identity,
}

impl Maker {
    fn me() -> Maker {
        Maker::of(Identity::current())
    }

    fn of(id: Identity) -> Maker {
        Maker {
            host: host_part(&id.host),
            id,
        }
    }

    /// When this process made the temporary replica `name`; `None` when
    /// another did (or it is not one).
    fn made(&self, name: &str) -> Option<DateTime<Utc>> {
        let (secs, maker) = parse_name(name)?;
        let ours =
            maker.host == self.host && maker.pid == self.id.pid && maker.start == self.id.start;
        ours.then(|| DateTime::from_timestamp(secs, 0)).flatten()
    }

    /// `clusterctl_tmp_<unix seconds>_<host>_<pid>_<pid namespace>_<start>`
    /// (the last two empty where /proc does not tell).
    fn name_at(&self, now: DateTime<Utc>) -> String {
        let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "{TEMP_PREFIX}{}_{}_{}_{}_{}",
            now.timestamp(),
            self.host,
            self.id.pid,
            opt(self.id.pid_ns),
            opt(self.id.start)
        )
    }
}

/// The host as it goes into a replica name: lowercase letters, digits and
/// dashes, at most 40 characters.
fn host_part(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect()
}

/// When and by whom a temporary replica was made, from its name; `host` is
/// the name's (sanitized) host.
fn parse_name(name: &str) -> Option<(i64, Identity)> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let parts: Vec<&str> = rest.split('_').collect();
    let [secs, host, pid, ns, start] = parts.as_slice() else {
        return None;
    };
    Some((
        secs.parse().ok()?,
        Identity {
            host: host.to_string(),
            pid: pid.parse().ok()?,
            pid_ns: ns.parse().ok(),
            start: start.parse().ok(),
        },
    ))
}

/// The session cluster's temporary replicas that runs which died left
/// behind ([`is_leftover`]): the next `apply` drops them.
pub fn leftovers(sc: &SessionCluster) -> Vec<String> {
    let me = Maker::me();
    sc.replicas
        .iter()
        .filter(|r| is_leftover(&r.name, &me, sc.clock.now()))
        .map(|r| r.name.clone())
        .collect()
}

/// A temporary replica no running process will drop: made by a process
/// that provably died on this host (the lease's judgement: gone, a zombie,
/// its PID reused), or, when that cannot be judged (made elsewhere),
/// older than [`STALE_AFTER`].
fn is_leftover(name: &str, me: &Maker, now: DateTime<Utc>) -> bool {
    let Some((created, mut maker)) = parse_name(name) else {
        return false;
    };
    if me.made(name).is_some() {
        return false;
    }
    if maker.host == me.host {
        // Same host by name: compare as the lease does.
        maker.host.clone_from(&me.id.host);
        if maker.dead_here().is_some() {
            return true;
        }
    }
    now.timestamp() - created > STALE_AFTER.as_secs() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    #[test]
    fn names_carry_their_maker_and_parse_back() {
        let me = Maker::of(Identity {
            host: "Build.Host_01".into(),
            pid: 4242,
            pid_ns: Some(4026531836),
            start: Some(1234),
        });
        let name = me.name_at(at(1_800_000_000));
        assert_eq!(
            name,
            "clusterctl_tmp_1800000000_build-host-01_4242_4026531836_1234"
        );
        let (created, id) = parse_name(&name).expect("parses");
        assert_eq!(created, 1_800_000_000);
        assert_eq!(
            (id.host.as_str(), id.pid, id.pid_ns, id.start),
            ("build-host-01", 4242, Some(4026531836), Some(1234))
        );
        assert!(parse_name("r1").is_none());
        assert!(parse_name("clusterctl_tmp_x_h_1__").is_none());
    }

    /// A rename whose outcome could not be read: the next run takes the
    /// newest replica of this very process under another name, never one
    /// of another process (another PID, or this PID started at another
    /// time), nor one that is not a temporary replica.
    #[test]
    fn a_lost_rename_is_found_among_this_process_replicas_only() {
        let me = Maker::me();
        let old = Temporary {
            name: me.name_at(at(1_800_000_000)),
            cluster_id: None,
            size: Size("25cc".into()),
            sql: String::new(),
            created_at: at(1_800_000_000),
            audited: true,
        };
        let other = |id: Identity, secs| Maker::of(id).name_at(at(secs));
        let cluster = |names: Vec<String>| SessionCluster {
            name: "ops".into(),
            explicit: true,
            id: None,
            managed: false,
            replicas: names
                .into_iter()
                .map(|name| session::SessionReplica {
                    name,
                    size: None,
                    online: None,
                })
                .collect(),
            role: None,
            usage: None,
            clock: crate::db::DbClock::read(at(1_800_001_400)),
        };
        let theirs = vec![
            "r1".to_string(),
            other(
                Identity {
                    pid: me.id.pid + 1,
                    ..me.id.clone()
                },
                1_800_002_000,
            ),
            other(
                Identity {
                    start: me.id.start.map(|s| s + 1),
                    ..me.id.clone()
                },
                1_800_002_000,
            ),
        ];
        assert_eq!(
            renamed_unanswered(&cluster(theirs.clone()), &me, &old),
            None
        );
        let mut names = theirs;
        names.push(old.name.clone());
        names.push(me.name_at(at(1_800_001_200)));
        names.push(me.name_at(at(1_800_001_300)));
        assert_eq!(
            renamed_unanswered(&cluster(names), &me, &old),
            Some((me.name_at(at(1_800_001_300)), at(1_800_001_300)))
        );
    }

    #[test]
    fn leftovers_are_dead_local_or_stale_remote_ones() {
        let me = Maker::me();
        let now = at(1_800_000_000);
        let ours = me.name_at(now);
        assert!(!is_leftover(&ours, &me, now), "our own");
        // This host, a PID no process has (beyond Linux's pid_max).
        let dead = Maker::of(Identity {
            pid: 1 << 30,
            ..me.id.clone()
        })
        .name_at(now);
        assert!(is_leftover(&dead, &me, now), "{dead}");
        // Our PID, but started at another time: a reused PID, not us.
        let reused = Maker::of(Identity {
            start: me.id.start.map(|s| s + 1),
            ..me.id.clone()
        })
        .name_at(now);
        assert!(is_leftover(&reused, &me, now), "{reused}");
        // Another PID namespace with the same host name: never judged.
        let other_ns = Maker::of(Identity {
            pid: 1 << 30,
            pid_ns: me.id.pid_ns.map(|n| n + 1),
            ..me.id.clone()
        })
        .name_at(now);
        assert!(!is_leftover(&other_ns, &me, now), "{other_ns}");
        let remote = |age: i64| {
            Maker::of(Identity {
                host: "there".into(),
                pid: 7,
                pid_ns: None,
                start: None,
            })
            .name_at(at(now.timestamp() - age))
        };
        assert!(!is_leftover(&remote(60), &me, now));
        assert!(is_leftover(&remote(7200), &me, now));
        assert!(!is_leftover("r1", &me, now));
    }

    #[test]
    fn a_watcher_renews_its_replica_long_before_others_take_it_for_a_leftover() {
        let made = at(1_800_000_000);
        let after = |s: i64| at(made.timestamp() + s);
        let renew = RENEW_AFTER.as_secs() as i64;
        assert!(!due_for_renewal(made, after(renew - 1)));
        assert!(due_for_renewal(made, after(renew)));
        // Seen from another host when a watcher running every 30 minutes
        // renews it at the latest: not yet a leftover (and one dropped all
        // the same is made again before the watcher's next run).
        let watcher = Maker::of(Identity {
            host: "there".into(),
            pid: 7,
            pid_ns: None,
            start: None,
        })
        .name_at(made);
        let me = Maker::me();
        assert!(!is_leftover(&watcher, &me, after(renew + 1800)));
        assert!(is_leftover(
            &watcher,
            &me,
            after(STALE_AFTER.as_secs() as i64 + 1)
        ));
    }

    fn cluster(replicas: &[&str], usage: Option<bool>) -> SessionCluster {
        SessionCluster {
            name: "ops".into(),
            explicit: true,
            id: Some(crate::model::ClusterId("u5".into())),
            managed: false,
            replicas: replicas
                .iter()
                .map(|n| session::SessionReplica {
                    name: n.to_string(),
                    size: None,
                    online: Some(true),
                })
                .collect(),
            role: Some("ctl".into()),
            usage,
            clock: crate::db::DbClock::read(at(0)),
        }
    }

    #[test]
    fn problems_name_the_cluster_and_the_fix() {
        assert_eq!(problem(&cluster(&["r1"], Some(true)), false), None);
        let none = problem(&cluster(&[], Some(true)), false).unwrap_or_default();
        assert!(none.contains(r#""ops" has no replica"#), "{none}");
        assert!(none.contains("--exec-cluster NAME"), "{none}");
        assert_eq!(problem(&cluster(&[], Some(true)), true), None);
        let usage = problem(&cluster(&["r1"], Some(false)), false).unwrap_or_default();
        assert!(
            usage.contains(r#"GRANT USAGE ON CLUSTER "ops" TO "ctl""#),
            "{usage}"
        );
        let mut missing = cluster(&["r1"], None);
        missing.id = None;
        let gone = problem(&missing, false).unwrap_or_default();
        assert!(gone.contains("does not exist"), "{gone}");
        // No replica online: a query there would wait (a run hung for
        // minutes). One online, or one whose status is unknown: it may
        // serve. A temporary replica is about to serve.
        let mut down = cluster(&["r1", "r2"], Some(true));
        for r in &mut down.replicas {
            r.online = Some(false);
        }
        assert_eq!(
            problem(&down, false),
            None,
            "waited for, not refused at once"
        );
        let said = not_online(&down, false).unwrap_or_default();
        assert!(
            said.contains(r#""ops" has no replica online ("r1", "r2" not online"#),
            "{said}"
        );
        assert_eq!(not_online(&down, true), None);
        for up in [Some(true), None] {
            down.replicas[1].online = up;
            assert_eq!(not_online(&down, false), None, "{up:?}");
        }
    }
}
