//! `dry-run`, `apply` and `apply --watch`: connect → (migrate → lease) →
//! snapshot → plan → (execute, audit, persist). `--watch` runs one apply per
//! interval (±10 % jitter, so replicas of a deployment do not pile onto the
//! database at the same instant), or sooner when the plan has a decision
//! due by the clock (`next_decision_at`: a prewarm, a schedule window, an
//! idle threshold, the end of a listed wait; kube-rs's requeue-after), on one connection pool, until SIGTERM or
//! SIGINT; a failing run is logged and the next one tries again; a lease
//! held by another controller is a normal, idle run. On a signal the run
//! under way finishes its current action (audited), skips the rest,
//! releases the lease (a run that did nothing yet stops at once: the
//! backend abandons what it waited for); a run that does not finish within
//! [`SHUTDOWN_GRACE`] is abandoned (the lease then expires by itself and the
//! next run settles the interrupted action). Decides nothing: `plan` does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use uuid::Uuid;

use super::{with_lease, CommandError, Context, LeaseOptions, Leased};
use crate::exec::{ApplyOptions as ExecOptions, ApplyReport};
use crate::metrics::{http::Health, Metrics, RunOutcome};
use crate::model::Snapshot;
use crate::plan::{plan, Plan, PlanOptions};

/// How long a shutdown waits for the run under way (below Kubernetes'
/// default 30 s termination grace period).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// What `dry-run` computed.
#[derive(Debug)]
pub struct DryRun {
    pub plan: Plan,
    /// Where the plan was saved (`dry-run --out`), for `apply --plan`.
    pub saved_to: Option<std::path::PathBuf>,
}

/// What one `apply` run saw and did: for rendering, metrics and watch mode.
#[derive(Debug)]
pub struct Applied {
    pub snapshot: Snapshot,
    pub plan: Plan,
    pub report: ApplyReport,
    /// What `--audit-retention` deleted this run, if it pruned.
    pub pruned: Option<Pruned>,
}

/// A pruning of the audit trail (`apply --audit-retention`), as `apply`
/// reports it and `history` shows its audit row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Pruned {
    pub rows_deleted: u64,
    pub older_than_s: u64,
    /// The retention as the operator gives it (`90d`).
    pub older_than: String,
}

impl Pruned {
    fn new(rows_deleted: u64, keep: Duration) -> Pruned {
        Pruned {
            rows_deleted,
            older_than_s: keep.as_secs(),
            older_than: retention_text(keep),
        }
    }

    /// The pruning a `prune_audit` audit row recorded (its decision
    /// context, as [`prune_audit`] writes it). Hand-written rows may hold
    /// anything: a missing figure reads as 0, never a failure.
    pub fn recorded(ctx: &serde_json::Value) -> Pruned {
        let number = |k: &str| ctx.get(k).and_then(|n| n.as_u64()).unwrap_or(0);
        Pruned::new(
            number("rows_deleted"),
            Duration::from_secs(number("older_than_s")),
        )
    }
}

/// How `apply` acts.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub plan: PlanOptions,
    pub lease: LeaseOptions,
    /// At most this many DDL statements in this run.
    pub max_actions: Option<usize>,
    /// Told the plan before acting and each action as it starts and ends.
    pub progress: Option<crate::exec::Observer>,
    /// Settled audit rows older than this are deleted (`--audit-retention`).
    pub audit_retention: Option<Duration>,
    /// Act only when the plan is this one (`--plan`).
    pub saved: Option<crate::plan::saved::SavedPlan>,
}

/// The shortest `--audit-retention`: a rolled-back resize's backoff reads
/// the newest resize of each cluster from the trail for up to a week.
pub const AUDIT_RETENTION_MIN: Duration = Duration::from_secs(8 * 86_400);

/// Whether the trail is pruned this run: its oldest settled row is older
/// than the retention by a day, so a fleet's runs delete once a day, not
/// every run (each DELETE reads the whole table in Materialize, §8.3).
pub fn prune_due(
    oldest: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    keep: Duration,
) -> bool {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    oldest.is_some_and(|t| {
        keep.checked_add(&chrono::Duration::days(1))
            .and_then(|d| now.checked_sub_signed(d))
            .is_some_and(|limit| t < limit)
    })
}

/// When due ([`prune_due`]), deletes the trail's settled rows older than
/// `keep` and audits that it did (who, how many, since when):
/// housekeeping, so a failure is a warning and the next run tries again.
async fn prune_audit(
    ctx: &Context,
    backend: &mut crate::db::live::LiveBackend<'_>,
    run_id: Uuid,
    keep: Duration,
) -> Option<Pruned> {
    let store = &ctx.store;
    let age = backend
        .retrying("reading the audit trail's age", async |c| {
            store.oldest_prunable(c).await
        })
        .await;
    match age {
        Ok((now, oldest)) if prune_due(oldest, now, keep) => {}
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!("could not read the audit trail's age (--audit-retention): {e}; the next run tries again");
            return None;
        }
    }
    let deleted = backend
        .retrying("pruning the audit trail", async |c| {
            store.prune_audit(c, keep).await
        })
        .await;
    let n = match deleted {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("could not prune the audit trail (--audit-retention): {e}; the next run tries again");
            return None;
        }
    };
    let pruned = Pruned::new(n, keep);
    let keep_text = &pruned.older_than;
    tracing::info!(
        rows_deleted = n,
        "pruned the audit trail: settled rows older than {keep_text}"
    );
    let row = super::operator_row(
        &ctx.opts,
        run_id,
        PRUNE_KIND,
        crate::model::ClusterId(String::new()),
        "-- clusterctl apply --audit-retention".into(),
        serde_json::json!({
            "rows_deleted": pruned.rows_deleted,
            "older_than_s": pruned.older_than_s,
            "reasons": [format!(
                "--audit-retention {keep_text}: {n} settled audit row(s) older than that deleted"
            )],
        }),
        // Not used: stamped with the database's now().
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
    );
    if let Err(e) = backend
        .audit_done(
            &row,
            crate::db::store::Done::OK,
            crate::db::store::Stamp::DatabaseNow,
        )
        .await
    {
        tracing::warn!("could not audit the pruning of the audit trail: {e}");
    }
    Some(pruned)
}

/// A retention as the operator gives it: whole days as `90d` (not
/// `90d00h`, which reads as a different value from the flag's).
fn retention_text(keep: Duration) -> String {
    match keep.as_secs() {
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s => crate::model::human_duration(s),
    }
}

/// The audit row's kind of a pruning of the trail.
pub const PRUNE_KIND: &str = "prune_audit";

/// How `apply --watch` loops, and where metrics go.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    pub interval: Duration,
    pub metrics_addr: Option<SocketAddr>,
    pub metrics_file: Option<PathBuf>,
}

/// `dry-run`: read-only; never writes, works for a SELECT-only role.
/// `as_role`: judge ownership as that role, not the connected one
/// ([`crate::model::Identity::acting_as`]).
pub async fn dry_run(
    ctx: &Context,
    opts: &PlanOptions,
    as_role: Option<&str>,
) -> Result<DryRun, CommandError> {
    let mut backend = ctx.backend();
    backend.plans(&opts.selection);
    let mut snap = crate::exec::Backend::snapshot(&mut backend).await?;
    if let Some(name) = as_role {
        snap.env.identity = snap.env.identity.acting_as(name).ok_or_else(|| {
            CommandError::Usage(format!(
                "--as-role {}: no role has that name (mz_roles)",
                crate::model::printable(name)
            ))
        })?;
    }
    check_selection(ctx, &snap, opts).await?;
    let plan = plan(&snap, opts);
    log_decisions(&plan);
    Ok(DryRun {
        plan,
        saved_to: None,
    })
}

/// One `apply` run: migrate, take the lease, snapshot, settle what an
/// interrupted run left, plan, execute, audit, persist. With `stop`, a set
/// flag ends it between two actions (the rest is reported as skipped).
/// `run_id`: the command's for a one-shot `apply` (its temporary replica's
/// rows carry it too), a new one for each run of `--watch`.
pub async fn apply_once(
    ctx: &Context,
    opts: &ApplyOptions,
    stop: Option<Arc<AtomicBool>>,
    run_id: Uuid,
) -> Result<Leased<Applied>, CommandError> {
    let mut backend = ctx.stoppable_backend(stop);
    backend.set_resize_timeout(opts.plan.resize_timeout);
    backend.plans(&opts.plan.selection);
    let applied = backend.migrate().await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    with_lease(
        &mut backend,
        &opts.lease,
        run_id,
        "apply",
        async |backend| {
            // The snapshot is read under the lease: what another controller did
            // before us is already in it.
            let snap = crate::exec::Backend::snapshot(backend).await?;
            check_selection(ctx, &snap, &opts.plan).await?;
            if snap.env.actions_missing {
                // Dropped by hand: said with its fix, as every missing table
                // of ours is (it was the server's "unknown catalog item").
                return Err(CommandError::Db(crate::db::DbError::TablesMissing {
                    where_: ctx.store.table(crate::db::store::ACTIONS),
                    init: ctx.store.init_command(),
                }));
            }
            if let Some(why) = &snap.env.unfinished_error {
                // Settling and holding what an interrupted run may still be
                // doing needs the audit trail: never act without it.
                return Err(CommandError::Db(crate::db::DbError::Query {
                    context: "reading unfinished actions".into(),
                    reason: why.clone(),
                    transient: false,
                }));
            }
            let mut plan = plan(&snap, &opts.plan);
            // Before any write of the run's own: a stale saved plan does nothing.
            if let Some(saved) = &opts.saved {
                saved
                    .admit(&mut plan, &snap, &opts.plan.selection)
                    .map_err(CommandError::StalePlan)?;
            }
            let settled = backend.settle_unfinished(&plan, &run_id).await?;
            if settled > 0 {
                tracing::warn!(
                    "{settled} action(s) of another run had no recorded outcome (killed, cut off, \
                 no answer in time, or not recorded yet); settled from the catalog"
                );
            }
            log_decisions(&plan);
            let exec = ExecOptions {
                max_actions: opts.max_actions,
                observer: opts.progress.clone(),
            };
            let report = match crate::exec::apply(backend, &plan, run_id, &exec).await {
                Ok(report) => report,
                // A write refused by another tool's table (or view) of one
                // of our names says whose it is, as every read does.
                Err(mut stopped) => {
                    stopped.error = backend.explain_missing(stopped.error).await;
                    return Err(stopped_midway(stopped));
                }
            };
            // Stopped by a signal before its first action (during the wait
            // for the statement log before a suspension's first DROP): it did
            // nothing, and says so as a run stopped earlier does (exit 1 for a
            // one-shot run), not "applied 0 of 1" with actions left (exit 3).
            if report.interrupted
                && report
                    .results
                    .iter()
                    .all(|r| matches!(r.status, crate::exec::ActionStatus::Skipped { .. }))
            {
                return Err(CommandError::Interrupted(
                    "a signal came before the run's first action; nothing was done".into(),
                ));
            }
            let pruned = match opts.audit_retention {
                Some(keep) if !report.interrupted => prune_audit(ctx, backend, run_id, keep).await,
                _ => None,
            };
            Ok(Applied {
                snapshot: snap,
                plan,
                report,
                pruned,
            })
        },
    )
    .await
}

/// A run stopped by a failed write of its bookkeeping (the database lost
/// after a DDL) says what becomes of what it did
/// ([`CommandError::StoppedMidway`], the error kept as it came); a lost
/// lease or a signal says so itself. What the run did before is kept
/// with the error ([`CommandError::StoppedAfter`]) unless a signal
/// stopped it (`--watch` ends on that error as it is).
fn stopped_midway(stopped: crate::exec::Stopped<crate::db::DbError>) -> CommandError {
    use crate::db::DbError;
    let error = match stopped.error {
        e @ DbError::Interrupted { .. } => return e.into(),
        e @ DbError::LeaseLost(_) => e.into(),
        other => CommandError::StoppedMidway(other),
    };
    if stopped.report.results.is_empty() {
        return error;
    }
    CommandError::StoppedAfter {
        error: Box::new(error),
        results: stopped.report.results,
    }
}

/// `apply` once, ended gracefully by SIGTERM/SIGINT, recording metrics in
/// `metrics_file` when given (cron's textfile collector). The run's
/// duration counts from `started`, before the session cluster's check
/// (a stall there is the run's: an outside check read an 86 s wait on a
/// locked catalog as a 32 ms run).
pub async fn apply(
    ctx: &Context,
    opts: &ApplyOptions,
    metrics_file: Option<&std::path::Path>,
    shutdown: &Shutdown,
    started: Instant,
) -> Result<Leased<Applied>, CommandError> {
    let result = match shutdown
        // The command's run id: its temporary replica's rows (`--create-
        // replica`) and its actions are one run in the trail.
        .bounded(apply_once(ctx, opts, Some(shutdown.flag()), ctx.run_id))
        .await
    {
        Some(result) => result,
        None => {
            // Its statement under way was cancelled as the run was dropped.
            ctx.db.cancels_sent().await;
            Err(abandoned())
        }
    };
    if let Some(path) = metrics_file {
        add_to_textfile(path, result.as_ref(), started.elapsed());
    }
    match result {
        // A reviewed plan that did not run is a failure of the step that
        // applies it (a CI's `apply --plan approved.json && deployed` went
        // on, exit 0: an outside check); a cron's busy run is not.
        Ok(Leased::Busy {
            holder,
            until,
            waited,
            ..
        }) if opts.saved.is_some() => Err(CommandError::LeaseBusy {
            holder,
            schema: ctx.store.schema().map(str::to_string),
            until,
            waited,
        }),
        other => other,
    }
}

/// Adds one run's counts to the textfile's, under its lock: one-shot runs
/// (cron) and every run of `--watch` alike, so that processes sharing a
/// file, overlapping or one after another, never write over each other's
/// counts. Gauges are the run's own.
fn add_to_textfile(
    path: &std::path::Path,
    result: Result<&Leased<Applied>, &CommandError>,
    elapsed: Duration,
) {
    let run = Metrics::new();
    record(&run, result, elapsed);
    if let Err(e) = run.add_to_textfile(path) {
        tracing::warn!("{e}");
    }
}

/// A one-shot `apply` whose database did not answer before the run began
/// (the session cluster's check ran out of retries, or found it cannot
/// serve: missing, without a replica or USAGE): counted as a failed
/// run in the metrics file, as a run that failed later would be.
pub fn failed_to_start(
    metrics_file: Option<&std::path::Path>,
    e: CommandError,
    elapsed: Duration,
) -> CommandError {
    if let Some(path) = metrics_file {
        add_to_textfile(path, Err(&e), elapsed);
    }
    e
}

/// `--cluster NAME` that names no cluster, or one without strategies, is
/// an error, never an empty plan (see `plan::select`). One without
/// strategies here that has rows in another installation says where
/// (`--schema`).
async fn check_selection(
    ctx: &Context,
    snap: &Snapshot,
    opts: &PlanOptions,
) -> Result<(), CommandError> {
    let Err(e) = opts.selection.check(snap, true, false) else {
        return Ok(());
    };
    let mut message = e.to_string();
    if let crate::plan::SelectionError::NoStrategies { arg, .. } = &e {
        if let Some(c) = snap.find_cluster(arg) {
            let again = format!("dry-run --cluster {}", crate::model::shell_value(arg));
            if let Some(elsewhere) = super::rows_elsewhere(ctx, &c.id, &again).await {
                message.push_str(&format!("; {elsewhere}"));
            }
        }
    }
    Err(CommandError::Usage(message))
}

fn abandoned() -> CommandError {
    CommandError::Interrupted(format!(
        "interrupted by a signal: the run did not finish within {}s \
         (the lease expires by itself; the next run settles an interrupted action)",
        SHUTDOWN_GRACE.as_secs()
    ))
}

/// One run of `apply --watch`, for the caller to show.
pub struct WatchRun<'a> {
    pub result: &'a Result<Leased<Applied>, CommandError>,
    pub elapsed: Duration,
    /// Until the next run.
    pub next_in: Duration,
}

/// What `apply --watch` serves on `--metrics-addr` (`/metrics`, `/healthz`,
/// `/readyz`), started before anything else so a probe gets an answer
/// while the process starts (a database that does not answer can take a
/// minute of retries).
pub struct Serving {
    /// This process's counts since it started (/metrics); the textfile has
    /// everybody's.
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    _server: Option<crate::metrics::http::MetricsServer>,
}

/// Starts what `--metrics-addr` asks for (nothing without it).
pub fn serve(wopts: &WatchOptions) -> Result<Serving, CommandError> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::new(wopts.interval));
    let _server = match wopts.metrics_addr {
        Some(addr) => Some(
            crate::metrics::http::MetricsServer::start(addr, metrics.clone(), health.clone())
                .map_err(CommandError::Io)?,
        ),
        None => None,
    };
    Ok(Serving {
        metrics,
        health,
        _server,
    })
}

/// `apply --watch`: one apply per interval until a signal. `before_run`
/// comes before each (to keep the session cluster's temporary replica);
/// `on_run` sees every run (to print what it did); the loop never ends on
/// a failed run. A run's duration (its log line, its metrics, the wait
/// until the next) counts `before_run` in, and the first run's counts
/// from `started` (the process's session check before the loop).
#[allow(clippy::too_many_arguments)]
pub async fn watch(
    ctx: &Context,
    opts: &ApplyOptions,
    wopts: &WatchOptions,
    serving: Serving,
    shutdown: &Shutdown,
    started: Instant,
    mut before_run: impl AsyncFnMut(),
    mut on_run: impl FnMut(WatchRun<'_>),
) -> Result<(), CommandError> {
    let Serving {
        metrics,
        health,
        _server,
    } = serving;
    tracing::info!(
        interval = %humantime::format_duration(wopts.interval),
        "watching: one apply per interval until SIGTERM, SIGINT or SIGHUP"
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(u64::from(std::process::id()) ^ seed);
    let mut due = Due::default();
    let mut first = Some(started);
    loop {
        // A signal that came while the process started (or the loop slept)
        // ends it before another run.
        if shutdown.requested() {
            break;
        }
        let began = first.take().unwrap_or_else(Instant::now);
        before_run().await;
        let started = Instant::now();
        let Some(result) = shutdown
            .bounded(apply_once(ctx, opts, Some(shutdown.flag()), Uuid::new_v4()))
            .await
        else {
            // Its statement under way was cancelled as the run was dropped;
            // the exit says what was left (it exited 0, as a watcher that
            // finished its run does: an outside check).
            ctx.db.cancels_sent().await;
            return Err(abandoned());
        };
        if let Err(CommandError::Interrupted(e)) = &result {
            tracing::info!("the run under way was stopped by a signal before it did anything: {e}");
            break;
        }
        // Tables a newer clusterctl migrated fail each run before it writes
        // (`migrate::run`), as any failure does, rather than end the
        // watcher: it keeps failing /readyz and counting errors where the
        // operator looks, and the rolling upgrade replaces it anyway. An
        // exit would only have its supervisor restart it into the same
        // refusal, and a crash loop says less than an error line.
        let elapsed = began.elapsed();
        record(&metrics, result.as_ref(), elapsed);
        if result.is_ok() {
            health.ok();
        }
        if let Some(path) = &wopts.metrics_file {
            add_to_textfile(path, result.as_ref(), elapsed);
        }
        // From the run's snapshot on; the wait counts from `began`.
        let due_in = due
            .after(seen(&result), started, wopts.interval)
            .map(|d| d + started.duration_since(began));
        let next_in = next_wait(jittered(wopts.interval, &mut rng), elapsed, due_in);
        log_run(&result, elapsed, next_in);
        on_run(WatchRun {
            result: &result,
            elapsed,
            next_in,
        });
        if shutdown.requested() || shutdown.sleep(next_in).await {
            break;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// `interval` ±10 %.
fn jittered(interval: Duration, rng: &mut impl Rng) -> Duration {
    interval.mul_f64(rng.random_range(0.9..=1.1))
}

/// What a run of the watcher tells of the next decision due by the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    /// It ran: its plan's `next_decision_at` (a prewarm, a window, an idle
    /// threshold), as a time after its snapshot by the database's clock;
    /// `None` when nothing is due by the clock alone.
    Planned(Option<Duration>),
    /// Another controller held the lease.
    Busy,
    /// It failed.
    Failed,
}

fn seen(result: &Result<Leased<Applied>, CommandError>) -> Seen {
    match result {
        Ok(Leased::Ran(a)) => Seen::Planned(
            a.plan
                .next_decision_at
                .map(|at| (at - a.plan.now).to_std().unwrap_or(Duration::ZERO)),
        ),
        Ok(Leased::Busy { .. }) => Seen::Busy,
        Err(_) => Seen::Failed,
    }
}

/// The decision the watcher's last plan wanted a run for, remembered
/// across runs that find the lease held: the watcher woken for it that
/// finds another run holding the lease (a one-shot `apply` whose snapshot
/// came before the decision was due) tries again after the floor of
/// [`next_wait`], not a whole interval later (an outside check), for up
/// to an interval past the decision; a standby with nothing due keeps to
/// the interval.
#[derive(Debug, Default)]
struct Due(Option<Instant>);

impl Due {
    /// When, after `started` (the run's start), the next run is due by the
    /// clock, given what the run saw.
    fn after(&mut self, seen: Seen, started: Instant, interval: Duration) -> Option<Duration> {
        match seen {
            Seen::Planned(due) => {
                self.0 = due.map(|d| started + d);
                due
            }
            Seen::Busy => {
                let at = self.0?;
                match started.checked_duration_since(at) {
                    Some(late) if late > interval => {
                        self.0 = None;
                        None
                    }
                    _ => Some(at.saturating_duration_since(started)),
                }
            }
            // A failed run is tried again at the interval: no tighter loop
            // on a database that fails.
            Seen::Failed => None,
        }
    }
}

/// Until the next run (kube-rs's requeue-after): the jittered interval, or
/// sooner when the plan has a decision due by the clock (`due`, from the
/// snapshot), less the time this run took. Waking early waits at least a
/// tenth of the interval (1 s to 10 s): a fleet with a decision due every
/// few seconds does not make the loop spin. A decision is waited for a
/// second past it ([`DUE_SLACK`]): `elapsed` counts from before the
/// snapshot, so a wake on the dot took the next snapshot milliseconds
/// early, found nothing due, and the decision waited the floor.
fn next_wait(interval: Duration, elapsed: Duration, due: Option<Duration>) -> Duration {
    let regular = interval.saturating_sub(elapsed);
    let floor = (interval / 10).clamp(Duration::from_secs(1), Duration::from_secs(10));
    match due {
        Some(d) => regular.min((d.saturating_sub(elapsed) + DUE_SLACK).max(floor)),
        None => regular,
    }
}

/// How long past a decision's time the watcher wakes for it.
const DUE_SLACK: Duration = Duration::from_secs(1);

fn outcome_of(result: Result<&Leased<Applied>, &CommandError>) -> RunOutcome {
    match result {
        Err(_) => RunOutcome::Error,
        Ok(Leased::Busy { .. }) => RunOutcome::LeaseBusy,
        Ok(Leased::Ran(a))
            if a.plan.invalid_count() > 0 || a.report.failed() + a.report.unknown() > 0 =>
        {
            RunOutcome::Problems
        }
        Ok(Leased::Ran(_)) => RunOutcome::Success,
    }
}

fn record(metrics: &Metrics, result: Result<&Leased<Applied>, &CommandError>, elapsed: Duration) {
    let ran = match result {
        Ok(Leased::Ran(a)) => Some((&a.snapshot, &a.plan, &a.report)),
        _ => None,
    };
    metrics.observe_run(outcome_of(result), elapsed, ran, chrono::Utc::now());
}

/// One log line per run of `--watch`.
fn log_run(result: &Result<Leased<Applied>, CommandError>, elapsed: Duration, next_in: Duration) {
    let next_in_ms = next_in.as_millis() as u64;
    match result {
        Err(e) => {
            tracing::error!(error = %e, next_in_ms, "run failed; trying again next interval")
        }
        Ok(Leased::Busy { holder, until, .. }) => {
            let until = crate::db::lease::until_text(*until);
            tracing::info!(%holder, %until, next_in_ms, "another controller holds the lease; not acting this time")
        }
        Ok(Leased::Ran(a)) => tracing::info!(
            run_id = %a.report.run_id,
            // As `clusterctl_runs_total` names it (success or problems).
            outcome = outcome_of(result.as_ref()).as_str(),
            clusters = a.plan.clusters.len(),
            actions = a.report.results.len(),
            executed = a.report.executed(),
            failed = a.report.failed(),
            unknown = a.report.unknown(),
            duration_ms = elapsed.as_millis() as u64,
            next_in_ms,
            "run finished"
        ),
    }
}

/// For log pipelines: one `info` event per decision (planned action), with
/// the cluster, the strategy and the reason as fields, and one per cluster
/// skipped for invalid configuration (`info` too: the output says it).
fn log_decisions(plan: &Plan) {
    for cp in &plan.clusters {
        if let crate::plan::Outcome::Invalid { errors } = &cp.outcome {
            // The command's output says so (stderr, once): info here.
            tracing::info!(
                cluster = %cp.cluster,
                cluster_id = %cp.cluster_id,
                reason = %errors.join("; "),
                "cluster skipped: invalid configuration"
            );
        }
        for a in &cp.actions {
            tracing::info!(
                cluster = %cp.cluster,
                cluster_id = %cp.cluster_id,
                strategy = %a.strategy,
                reason = %a.reasons.join("; "),
                kind = a.kind.name(),
                replica = %a.replica,
                size = a.size.as_ref().map(|s| s.0.as_str()).unwrap_or(""),
                sql = %a.sql,
                "decision"
            );
        }
    }
}

/// SIGTERM/SIGINT/SIGHUP: the first asks the run under way to stop between two
/// actions and the loop to end; a second one is [`Shutdown::forced`], for
/// the caller to exit at once.
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    rx: tokio::sync::watch::Receiver<u8>,
}

impl Shutdown {
    /// Listens for signals (inside a tokio runtime).
    pub fn install() -> Result<Shutdown, CommandError> {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| CommandError::Io(format!("cannot listen for {name}: {e}")))
        };
        let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
        // A hangup (the terminal of a watcher started by hand closed) stops
        // it as SIGTERM does: the default ended it at once, mid-action (an
        // outside check).
        let mut hup = listen(SignalKind::hangup(), "SIGHUP")?;
        let flag = Arc::new(AtomicBool::new(false));
        // The flag is set by the signal handler itself, not by the task
        // below, which the runtime may schedule late on a busy machine: a
        // signal received before an action starts always stops it.
        for (sig, name) in [
            (signal_hook::consts::SIGTERM, "SIGTERM"),
            (signal_hook::consts::SIGINT, "SIGINT"),
            (signal_hook::consts::SIGHUP, "SIGHUP"),
        ] {
            signal_hook::flag::register(sig, flag.clone())
                .map_err(|e| CommandError::Io(format!("cannot listen for {name}: {e}")))?;
        }
        let (tx, rx) = tokio::sync::watch::channel(0u8);
        let task_flag = flag.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
            };
            let said = format!(
                "{name} received: finishing the action under way (up to {}s), then exiting; \
                 a second signal exits at once",
                SHUTDOWN_GRACE.as_secs()
            );
            // Said where someone pressed Ctrl-C (a one-shot command logs
            // warnings only, and its progress went on as if nothing came,
            // so a second signal followed: an outside check); logged too.
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr().lock(), "{said}");
            }
            tracing::info!("{said}");
            task_flag.store(true, Ordering::SeqCst);
            let _ = tx.send(1);
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
                _ = hup.recv() => {},
            }
            let _ = tx.send(2);
        });
        Ok(Shutdown { flag, rx })
    }

    pub fn flag(&self) -> Arc<AtomicBool> {
        self.flag.clone()
    }

    fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    async fn signals(&self, n: u8) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|got| *got >= n).await.is_err() {
            // The signal task is gone: no signal can come any more.
            std::future::pending::<()>().await;
        }
    }

    /// Completes when a second signal arrived: the caller exits at once.
    pub async fn forced(&self) {
        self.signals(2).await
    }

    /// Runs `fut`, the start-up before any action, unless a signal comes
    /// first (`None`): nothing was done yet, so there is nothing to finish.
    pub async fn unless_signalled<T>(
        &self,
        fut: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        if self.requested() {
            return None;
        }
        tokio::select! {
            v = fut => Some(v),
            _ = self.signals(1) => None,
        }
    }

    /// Sleeps `d`; `true` when a signal cut the sleep short.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.signals(1) => true,
        }
    }

    /// Runs `fut` to completion, unless a signal came and [`SHUTDOWN_GRACE`]
    /// passed since.
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            v = fut => Some(v),
            _ = async {
                self.signals(1).await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run stopped after it acted says what becomes of what it did, and
    /// keeps the database's error as it came: a timeout stays a timeout
    /// (the hint made every one a `Query`), the line is the one it was.
    #[test]
    fn a_run_stopped_midway_keeps_the_databases_error() {
        use crate::db::DbError;
        let hint = "the run stopped there: what it did is in the audit trail, and the next run \
                    settles from the catalog any action left without an outcome";
        let context = "recording the actions' outcomes".to_string();
        // Before any action ended: the error alone.
        let stopped_midway = |error| {
            stopped_midway(crate::exec::Stopped {
                error,
                report: crate::exec::ApplyReport {
                    run_id: uuid::Uuid::nil(),
                    results: Vec::new(),
                    changed_clusters: Vec::new(),
                    states_written: 0,
                    interrupted: false,
                },
            })
        };
        let e = stopped_midway(DbError::Timeout {
            context: context.clone(),
            after: Duration::from_secs(30),
        });
        assert!(
            matches!(e.db_error(), Some(DbError::Timeout { .. })),
            "{e:?}"
        );
        assert_eq!(e.code(), "database");
        assert_eq!(
            e.to_string(),
            format!("{context}: no answer within 30s: {hint}")
        );
        let e = stopped_midway(DbError::Query {
            context: context.clone(),
            reason: "connection closed".into(),
            transient: true,
        });
        assert!(e.db_error().is_some_and(DbError::transient), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("{context}: connection closed: {hint}")
        );
        // A lost lease and a signal say so themselves.
        let e = stopped_midway(DbError::LeaseLost("it expired".into()));
        assert!(
            matches!(e, CommandError::Db(DbError::LeaseLost(_))),
            "{e:?}"
        );
        let e = stopped_midway(DbError::Interrupted { context });
        assert!(matches!(e, CommandError::Interrupted(_)), "{e:?}");
    }

    #[test]
    fn a_retention_of_whole_days_is_said_in_days() {
        let days = |d: u64| Duration::from_secs(d * 86_400);
        assert_eq!(retention_text(days(90)), "90d");
        assert_eq!(retention_text(days(8) + Duration::from_secs(3600)), "8d01h");
    }

    #[test]
    fn a_pruning_is_read_back_from_its_audit_row() {
        let row = serde_json::json!({"rows_deleted": 5, "older_than_s": 2_592_000, "reasons": []});
        assert_eq!(
            Pruned::recorded(&row),
            Pruned {
                rows_deleted: 5,
                older_than_s: 2_592_000,
                older_than: "30d".into(),
            }
        );
        // A row written by hand: what is missing reads as nothing.
        let hand = Pruned::recorded(&serde_json::json!({"rows_deleted": "many"}));
        assert_eq!((hand.rows_deleted, hand.older_than_s), (0, 0));
    }

    #[test]
    fn the_trail_is_pruned_once_a_day_past_the_retention() {
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
        let keep = Duration::from_secs(30 * 86_400);
        let ago = |h: i64| Some(now - chrono::Duration::hours(h));
        assert!(!prune_due(None, now, keep), "an empty trail");
        assert!(!prune_due(ago(30 * 24), now, keep), "just at the retention");
        assert!(
            !prune_due(ago(31 * 24 - 1), now, keep),
            "not a day past it yet"
        );
        assert!(prune_due(ago(31 * 24 + 1), now, keep));
        assert!(!prune_due(ago(31 * 24), now, keep), "exactly a day past it");
        assert!(
            !prune_due(ago(1), now, Duration::MAX),
            "a retention beyond any date"
        );
    }

    #[test]
    fn the_next_run_comes_when_a_decision_is_due() {
        let m = Duration::from_secs(60);
        let s = Duration::from_secs;
        // Nothing due: the interval, less the run's time.
        assert_eq!(next_wait(m, s(2), None), s(58));
        // A prewarm due in 20 s of the snapshot, the run took 2 s: a
        // second past it (on the dot, the next snapshot came milliseconds
        // early and the prewarm waited the floor).
        assert_eq!(next_wait(m, s(2), Some(s(20))), s(19));
        // Due later than the interval: the interval.
        assert_eq!(next_wait(m, s(2), Some(s(600))), s(58));
        // Due already (or while the run ran): soon, not at once (a tenth
        // of the interval, 1 s to 10 s).
        assert_eq!(next_wait(m, s(5), Some(s(3))), s(6));
        assert_eq!(next_wait(m, s(0), Some(s(0))), s(6));
        assert_eq!(next_wait(s(5), s(0), Some(s(0))), s(1));
        assert_eq!(next_wait(s(3600), s(0), Some(s(0))), s(10));
        // A run that took longer than the interval: at once, as before.
        assert_eq!(next_wait(m, s(70), None), s(0));
        assert_eq!(next_wait(m, s(70), Some(s(10))), s(0));
    }

    /// A decision the watcher woke for is tried again soon while another
    /// run holds the lease (it slept a whole interval: an outside check);
    /// a standby with nothing due, or long past it, keeps to the interval.
    #[test]
    fn a_due_decision_is_remembered_while_the_lease_is_busy() {
        let m = Duration::from_secs(600);
        let s = Duration::from_secs;
        let t0 = Instant::now();
        let mut due = Due::default();
        // A standby that never ran: nothing due.
        assert_eq!(due.after(Seen::Busy, t0, m), None);
        // The plan wants a run 15 s after t0.
        assert_eq!(due.after(Seen::Planned(Some(s(15))), t0, m), Some(s(15)));
        // Woken for it, the lease is busy: due now, so the next wait is
        // the floor of `next_wait` (10 s at a 10-minute interval).
        assert_eq!(due.after(Seen::Busy, t0 + s(16), m), Some(s(0)));
        assert_eq!(next_wait(m, s(0), Some(s(0))), s(10));
        // A failed run waits the interval, and forgets nothing.
        assert_eq!(due.after(Seen::Failed, t0 + s(26), m), None);
        assert_eq!(due.after(Seen::Busy, t0 + s(36), m), Some(s(0)));
        // Busy before the decision (woken by the interval): wait for it.
        let mut early = Due::default();
        early.after(Seen::Planned(Some(s(300))), t0, m);
        assert_eq!(early.after(Seen::Busy, t0 + s(100), m), Some(s(200)));
        // Busy for more than an interval past it: back to the interval.
        assert_eq!(due.after(Seen::Busy, t0 + s(15) + m + s(1), m), None);
        assert_eq!(due.after(Seen::Busy, t0 + s(16), m), None);
        // A run replaces what is remembered, with nothing too.
        due.after(Seen::Planned(Some(s(5))), t0, m);
        assert_eq!(due.after(Seen::Planned(None), t0 + s(6), m), None);
        assert_eq!(due.after(Seen::Busy, t0 + s(7), m), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let base = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..1000).map(|_| jittered(base, &mut rng)).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= Duration::from_secs(54) && *w <= Duration::from_secs(66)));
        // Not a constant: replicas of a deployment drift apart.
        assert!(waits.iter().any(|w| *w < Duration::from_secs(58)));
        assert!(waits.iter().any(|w| *w > Duration::from_secs(62)));
    }
}
