//! Carrying out a plan: one DDL statement at a time. Before each statement an
//! audit row records the intent; after it, the same row records the outcome,
//! so a run killed mid-DDL still leaves a trace. Just before a cluster's
//! actions its live replicas are re-read and compared with the snapshot (the
//! plan guard); a failure stops that cluster's remaining actions (but
//! another replica's creation after a failed one:
//! `plan::Action::goes_on_after`)
//! while other clusters go on; then the new state of every cluster that
//! completed is persisted (a suspension's state goes with its first
//! intent instead, before any replica is dropped: it is what the cluster
//! wakes with). No DDL starts unless the backend says the
//! controller lease is ours for long enough; a lost lease stops the run.
//!
//! Round trips: the bookkeeping around a DDL goes to the backend as one
//! [`Bookkeeping`] step (earlier actions' outcomes, the plan guard's read,
//! the next intent), which the live backend pipelines into one round trip,
//! so an action costs two round trips (bookkeeping, DDL) instead of four.
//! The intent is still written (and confirmed) before its DDL is sent.
//! Outcomes are recorded a batch at a time ([`outcomes_due`]): each
//! statement that records them reads the whole audit table in Materialize.
//! Written once against the `Backend` trait so the real database and the
//! simulator run the same engine.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::model::{Activity, ClusterId, RowsSeen, Seen, Snapshot};
use crate::plan::{Action, ActionKind, ClusterPlan, Plan};

/// One audit row: an action about to be attempted. Its outcome is recorded
/// on the same row afterwards.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub action_id: String,
    pub cluster_id: ClusterId,
    pub action_sql: String,
    pub decision_ctx: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// How a DDL statement ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ddl {
    /// It took effect.
    Done,
    /// A retry found the work done (CREATE: the replica there; DROP: it
    /// gone): its own earlier attempt that got no answer did it, or an
    /// earlier run's statement that landed late; which, nothing tells.
    /// Recorded as executed, with [`FOUND_DONE`] said: it read as this
    /// statement's own work beside a killed run's row settled "not
    /// applied" (an outside check).
    FoundDone,
    /// The server refused it (its message): it did not take effect.
    Refused(String),
    /// No answer came (the connection was cut or the statement timed out
    /// after it was sent, and the retries ran out): it may have taken
    /// effect. Its audit row stays open; the next run settles it from the
    /// catalog (`plan::doubt`).
    Unknown(String),
    /// Never sent: the lease was lost after its intent was written. It
    /// did not take effect; the text is its audit row's outcome ("not
    /// attempted: …", as a withdrawn intent's), and the run stops at the
    /// lease before the next statement.
    NotSent(String),
    /// A DROP whose first attempt found its replica gone (the server's
    /// refusal): dropped after the plan guard's check, by another run's
    /// DROP that landed late or by someone else. What it was sent for
    /// holds, and nothing of its own ran: recorded as not run
    /// ([`gone_outcome`]), and the cluster's other actions go on.
    Gone(String),
}

/// The note of an action whose retry found its work done ([`Ddl::FoundDone`]).
pub const FOUND_DONE: &str = "its retry found it already done: by its own first attempt, which \
                              got no answer, or by an earlier run's statement that landed late";

/// The start of the outcome of a DROP that found its replica already gone
/// ([`Ddl::Gone`]): `skipped` in `history`, never a refusal to back off.
pub const GONE_PREFIX: &str = "already gone";

/// The audit outcome and the result's reason of a DROP that found its
/// replica gone, from the server's refusal.
fn gone_outcome(refusal: &str) -> String {
    format!(
        "{GONE_PREFIX} when its DROP reached the server (dropped since the plan's check, by \
         another run's DROP that landed late or by someone else; the server said: {refusal})"
    )
}

/// Whether a result is that of a DROP that found its replica gone.
fn found_gone(status: &ActionStatus) -> bool {
    matches!(status, ActionStatus::Skipped { reason } if reason.starts_with(GONE_PREFIX))
}

/// How an attempted action ended, for its audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub action_id: String,
    pub executed: bool,
    pub error: Option<String>,
}

/// What the plan guard compares before each statement to a cluster: its
/// strategy rows as the plan saw them; before the first statement and
/// before every drop, its replicas (those this run dropped left out, those
/// it created not compared: they hydrate meanwhile), so a replica that
/// stopped serving while an earlier statement ran keeps the one still
/// serving (the second of two drops went out after the new replica was
/// OOM-killed during the first); and, for a suspension the statement log
/// decided, its activity (the log shows a statement seconds after it
/// began, so the guard reads it once the log has caught up).
#[derive(Debug, Clone, Copy)]
pub struct Guard<'a> {
    pub cluster: &'a ClusterId,
    /// The name the plan's statements address the cluster by: compared
    /// before every statement, as they are sent by name.
    pub name: &'a str,
    /// Whether the statement is for a managed cluster
    /// ([`ActionKind::managed`]): compared before every statement too.
    pub managed: bool,
    /// `None`: not compared before this statement.
    pub replicas: Option<&'a [Seen]>,
    /// Before the first statement every difference counts; before a later
    /// drop only a replica expected to serve that no longer does (one that
    /// finished hydrating meanwhile skipped an unrelated drop).
    pub exact: bool,
    /// A deliberate suspension's (it drops every replica): which replicas
    /// there are counts, not whether each serves (a cluster whose
    /// replicas crash-looped while serving had its suspension skipped run
    /// after run: an outside check).
    pub suspending: bool,
    pub created: &'a [String],
    pub activity: Option<&'a Activity>,
    pub rows: RowsSeen,
    /// How many of the cluster's actions come after this one: not begun
    /// when the guard withdraws it, which its audit row says (the trail
    /// had one withdrawn row where `apply` said three skipped: an outside
    /// check).
    pub later: usize,
}

/// What the plan guard found changed since the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// The replicas: someone ran DDL, a replica crashed or stopped serving.
    Replicas,
    /// A replica the plan counted on to serve no longer does (OOM-killed,
    /// dropped): the next drop would leave less than planned.
    StoppedServing,
    /// A statement began on a cluster about to be suspended.
    Activity,
    /// The cluster's strategy rows: an operator paused it or changed its
    /// strategies while the run was acting.
    Strategies,
    /// The cluster's name: renamed, swapped with another or dropped, so
    /// the plan's statements would reach another cluster or none.
    Renamed,
    /// Made managed or unmanaged: the statement is for the other kind.
    Conversion,
}

impl Changed {
    /// What changed, in the words both the report and the audit trail use
    /// (the trail says "not attempted: " and this).
    pub fn what(self) -> &'static str {
        match self {
            Changed::Replicas => {
                "the cluster's replicas changed since the plan was made (one started or stopped \
                 serving, or someone ran DDL)"
            }
            Changed::StoppedServing => {
                "a replica the plan counted on to serve stopped serving during the run \
                 (OOM-killed or dropped?)"
            }
            Changed::Activity => {
                "a statement began on the cluster as the suspension was planned (the statement \
                 log shows one a few seconds late)"
            }
            Changed::Strategies => {
                "the cluster's strategy rows changed since the plan was made (strategy pause, \
                 set or rm, or an edit in SQL)"
            }
            Changed::Renamed => {
                "the cluster was renamed, swapped with another or dropped since the plan was \
                 made (its statements name it by the name the plan saw)"
            }
            Changed::Conversion => {
                "the cluster was made managed or unmanaged since the plan was made (its \
                 statements are for the other kind)"
            }
        }
    }

    /// Why the cluster's actions are skipped this round.
    pub fn skip_reason(self) -> String {
        format!(
            "{}: skipped this round, the next run plans again",
            self.what()
        )
    }
}

impl Guard<'_> {
    /// What changed, judged from the guard's reads: the cluster's name
    /// and whether it is managed (`None`: dropped), the strategy rows, the
    /// replicas (`None` when not read) and the activity (`None`:
    /// unchanged).
    pub fn changed(
        &self,
        identity: Option<(&str, bool)>,
        replicas: Option<&[Seen]>,
        activity: Option<&Activity>,
        rows: RowsSeen,
    ) -> Option<Changed> {
        match identity {
            Some((name, _)) if name != self.name => return Some(Changed::Renamed),
            None => return Some(Changed::Renamed),
            Some((_, managed)) if managed != self.managed => return Some(Changed::Conversion),
            Some(_) => {}
        }
        if rows != self.rows {
            return Some(Changed::Strategies);
        }
        if let (Some(now), Some(expected)) = (replicas, self.replicas) {
            let now: Vec<Seen> = now
                .iter()
                .filter(|r| !self.created.contains(&r.name))
                .cloned()
                .collect();
            if self.suspending {
                let shape = |v: &[Seen]| -> Vec<Seen> {
                    v.iter()
                        .map(|r| Seen {
                            hydrated: false,
                            ..r.clone()
                        })
                        .collect()
                };
                return (!same_replicas(&shape(&now), &shape(expected)))
                    .then_some(Changed::Replicas)
                    .or_else(|| self.activity_changed(activity));
            }
            if self.exact && !same_replicas(&now, expected) {
                return Some(Changed::Replicas);
            }
            let serves = |e: &Seen| now.iter().any(|r| r == e);
            if expected.iter().any(|e| e.hydrated && !serves(e)) {
                return Some(Changed::StoppedServing);
            }
        }
        self.activity_changed(activity)
    }

    /// A statement newer than the plan saw, when the guard reads activity.
    fn activity_changed(&self, activity: Option<&Activity>) -> Option<Changed> {
        match (activity, self.activity) {
            (Some(now), Some(seen)) if now.newer_than(seen) => Some(Changed::Activity),
            _ => None,
        }
    }
}

/// New states of clusters, and their version's timestamp.
pub type States<'a> = (&'a [(ClusterId, serde_json::Value)], DateTime<Utc>);

/// Bookkeeping that goes together, in this order: the outcomes of earlier
/// actions, the plan guard's read, the next intent, the states.
#[derive(Debug, Default)]
pub struct Bookkeeping<'a> {
    pub outcomes: &'a [Outcome],
    /// Re-read this cluster's replicas (and activity) and compare them with
    /// what the plan saw; when they differ, `intent` must not stay recorded.
    pub guard: Option<Guard<'a>>,
    pub intent: Option<&'a AuditRow>,
    pub states: Option<States<'a>>,
}

/// Where plans come from and go to.
#[allow(async_fn_in_trait)]
pub trait Backend {
    /// What goes wrong on this backend (a lost connection, a lost lease).
    type Error;
    /// The backend's clock (the database's, or the simulator's).
    fn now(&self) -> DateTime<Utc>;
    async fn snapshot(&mut self) -> Result<Snapshot, Self::Error>;
    /// Runs one DDL statement, whose intent is `intent` (a retry records
    /// on it how long the statement may still run); `Err` the run must stop
    /// with the outcome unknown (the lease ran out while it ran): the next
    /// run settles it from the catalog.
    async fn execute_ddl(&mut self, action: &Action, intent: &AuditRow)
        -> Result<Ddl, Self::Error>;
    /// Records an action about to be attempted.
    async fn audit(&mut self, row: &AuditRow) -> Result<(), Self::Error>;
    /// Records how attempted actions ended.
    async fn audit_outcomes(&mut self, _outcomes: &[Outcome]) -> Result<(), Self::Error> {
        Ok(())
    }
    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        at: DateTime<Utc>,
    ) -> Result<(), Self::Error>;
    /// Returns once the statement log shows what began before `snapshot`
    /// (Materialize flushes it every few seconds): a suspension's guard
    /// reads the activity after it.
    async fn await_statement_log(&mut self, _snapshot: DateTime<Utc>) {}
    /// One bookkeeping step; `Some` when the plan guard found the cluster
    /// changed (and the intent is not recorded). The live backend
    /// pipelines it, guard included; this default, for a backend nothing
    /// changes behind (the simulator), runs the other parts one after the
    /// other.
    async fn bookkeeping(&mut self, step: Bookkeeping<'_>) -> Result<Option<Changed>, Self::Error> {
        if !step.outcomes.is_empty() {
            self.audit_outcomes(step.outcomes).await?;
        }
        if let Some(row) = step.intent {
            self.audit(row).await?;
        }
        if let Some((states, at)) = step.states {
            self.persist_states(states, at).await?;
        }
        Ok(None)
    }
    /// Whether the controller lease allows what comes next: `Some(action)`
    /// is about to start (its deadline must fit in the lease), `None` the
    /// final state write. An error stops the run.
    async fn lease_allows(&mut self, _next: Option<&Action>) -> Result<(), Self::Error> {
        Ok(())
    }
    /// A shutdown was requested (SIGTERM/SIGINT): finish the action under
    /// way, attempt no other.
    fn stop_requested(&self) -> bool {
        false
    }
    /// Its statements act on no database (the simulator): what it runs is
    /// logged at debug, marked simulated, not as `apply`'s DDL is (a
    /// backtest's `-v` read "executing DROP …" like a live run to a log
    /// pipeline: an outside check).
    fn simulated(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ActionStatus {
    Executed,
    Failed {
        error: String,
    },
    /// Not attempted: an earlier action of the same cluster failed, or the
    /// cluster changed since the snapshot, or `--max-actions` was reached.
    Skipped {
        reason: String,
    },
    /// Sent, and whether it took effect is not known (no answer came, or
    /// the lease was lost while it ran): the next run settles it from the
    /// catalog.
    Unknown {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResult {
    /// Its audit row's id; empty for an action never sent and never
    /// written (`null` in JSON, not `""`).
    #[serde(serialize_with = "empty_as_null")]
    pub action_id: String,
    #[serde(flatten)]
    pub action: Action,
    #[serde(flatten)]
    pub status: ActionStatus,
}

/// An empty id as JSON's `null`.
fn empty_as_null<S: serde::Serializer>(id: &str, s: S) -> Result<S::Ok, S::Error> {
    match id {
        "" => s.serialize_none(),
        id => s.serialize_str(id),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    pub run_id: Uuid,
    pub results: Vec<ActionResult>,
    /// Clusters skipped by the plan guard (changed since the snapshot).
    pub changed_clusters: Vec<String>,
    /// Clusters whose state was persisted.
    pub states_written: usize,
    /// A shutdown signal left actions skipped: a one-shot `apply` then
    /// completed with problems (exit 3), not exit 0 as if all was done
    /// (when it skipped them all, the run did nothing: it is interrupted,
    /// `commands::reconcile::apply_once`).
    #[serde(skip)]
    pub interrupted: bool,
}

impl ApplyReport {
    pub fn failed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, ActionStatus::Failed { .. }))
            .count()
    }

    /// Actions sent whose outcome is not known (the next run settles them).
    pub fn unknown(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, ActionStatus::Unknown { .. }))
            .count()
    }

    /// Actions never sent (a limit, a stop, a change since the plan).
    pub fn skipped(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r.status, ActionStatus::Skipped { .. }))
            .count()
    }

    pub fn executed(&self) -> usize {
        self.results
            .iter()
            .filter(|r| r.status == ActionStatus::Executed)
            .count()
    }
}

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// At most this many DDL statements in this run (`--max-actions`).
    pub max_actions: Option<usize>,
    /// Told what happens as it happens (`apply` streams it).
    pub observer: Option<Observer>,
}

/// What the executor is doing, for a caller that shows progress.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Before the first action: the plan about to be carried out.
    Plan(&'a Plan),
    /// An action is about to be sent.
    Started(&'a Action),
    /// An action ended (executed, failed or skipped).
    Finished(&'a ActionResult),
}

/// A progress callback (the caller measures time: the engine reads no clock).
#[derive(Clone)]
pub struct Observer(pub std::sync::Arc<dyn Fn(Progress<'_>) + Send + Sync>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

fn tell(opts: &ApplyOptions, p: Progress<'_>) {
    if let Some(o) = &opts.observer {
        (o.0)(p);
    }
}

/// The run under way: the backend, what is still to be recorded, the report.
struct Run<'b, B> {
    backend: &'b mut B,
    run_id: Uuid,
    budget: usize,
    /// Outcomes of DDL not recorded yet, and since when the oldest waits:
    /// recorded with a later bookkeeping step ([`outcomes_due`]).
    pending: Vec<Outcome>,
    pending_since: Option<DateTime<Utc>>,
    /// The plan's time, which stamps the states written.
    plan_now: DateTime<Utc>,
    report: ApplyReport,
    /// Indices of the results told as they ended (sent statements): the
    /// skipped ones are told after their cluster, these not twice (a DROP
    /// that found its replica gone was said twice: an outside check).
    told: std::collections::BTreeSet<usize>,
}

/// A run the backend stopped after it began (a lost lease, a failed write
/// of its bookkeeping): its error, and what the run did before it (the
/// actions that ended, and the one under way, `Unknown`).
#[derive(Debug)]
pub struct Stopped<E> {
    pub error: E,
    pub report: ApplyReport,
}

/// Executes `plan` against `backend`.
pub async fn apply<B: Backend>(
    backend: &mut B,
    plan: &Plan,
    run_id: Uuid,
    opts: &ApplyOptions,
) -> Result<ApplyReport, Stopped<B::Error>> {
    let mut run = Run {
        backend,
        run_id,
        budget: opts.max_actions.unwrap_or(usize::MAX),
        pending: Vec::new(),
        pending_since: None,
        plan_now: plan.now,
        report: ApplyReport {
            run_id,
            results: Vec::new(),
            changed_clusters: Vec::new(),
            states_written: 0,
            interrupted: false,
        },
        told: std::collections::BTreeSet::new(),
    };
    match run.all(plan, opts).await {
        Ok(()) => Ok(run.report),
        Err(error) => Err(Stopped {
            error,
            report: run.report,
        }),
    }
}

impl<B: Backend> Run<'_, B> {
    /// Every cluster's actions, then the outcomes and states left to write.
    async fn all(&mut self, plan: &Plan, opts: &ApplyOptions) -> Result<(), B::Error> {
        let mut states = Vec::new();
        tell(opts, Progress::Plan(plan));
        let order = in_budget_order(plan, opts);
        for (k, cp) in order.iter().enumerate() {
            let seen = self.report.results.len();
            // A cluster in doubt (plan::doubt) has no actions and no new state.
            let completed = match self.cluster(cp, opts).await {
                Ok(completed) => completed,
                Err(e) => {
                    // What the stop kept from being sent is in the results
                    // as skipped (an `apply` that lost its lease left the
                    // other clusters' actions out of `error.results`: an
                    // outside check).
                    for later in &order[k + 1..] {
                        for a in &later.actions {
                            self.report.results.push(skipped(a, NOT_SENT.into()));
                        }
                    }
                    return Err(e);
                }
            };
            // Skipped actions were never started: report them as they are known.
            for (i, r) in self.report.results.iter().enumerate().skip(seen) {
                if matches!(r.status, ActionStatus::Skipped { .. }) && !self.told.contains(&i) {
                    tell(opts, Progress::Finished(r));
                }
            }
            // A completed suspension's state went with its first intent.
            if completed && !cp.state_goes_first() {
                if let Some(state) = &cp.new_state {
                    states.push((cp.cluster_id.clone(), (**state).clone()));
                }
            }
        }
        if let Err(e) = self.backend.lease_allows(None).await {
            self.flush().await;
            return Err(e);
        }
        let outcomes = self.take_pending();
        if !outcomes.is_empty() || !states.is_empty() {
            // Stamped with the database's clock (the snapshot's), so versions
            // order correctly even when controllers' clocks disagree.
            let step = Bookkeeping {
                outcomes: &outcomes,
                states: (!states.is_empty()).then_some((states.as_slice(), plan.now)),
                ..Bookkeeping::default()
            };
            self.backend.bookkeeping(step).await?;
        }
        self.report.states_written = states.len();
        Ok(())
    }

    /// Runs one cluster's actions; returns whether all of them were executed.
    async fn cluster(&mut self, cp: &ClusterPlan, opts: &ApplyOptions) -> Result<bool, B::Error> {
        if cp.actions.is_empty() {
            return Ok(true);
        }
        let mut stop: Option<String> = None;
        // An action that failed, and why: what does not go on after it
        // (`Action::goes_on_after`) is skipped.
        let mut failed: Option<(&Action, String)> = None;
        // What this run did to the cluster so far (the guard's expectation).
        let mut dropped: Vec<String> = Vec::new();
        let mut created: Vec<String> = Vec::new();
        for (i, action) in cp.actions.iter().enumerate() {
            // A suspension the statement log decided waits for the log to
            // catch up (seconds) before its guard reads it: before the
            // checks below, so a signal during the wait stops it too (the
            // first DROP went out after one).
            let waits = i == 0 && cp.observed_activity.is_some();
            if waits && self.budget > 0 && !self.backend.stop_requested() {
                self.backend.await_statement_log(self.plan_now).await;
            }
            if stop.is_none() && self.budget == 0 {
                stop = Some("--max-actions reached; the next run continues".into());
            }
            if stop.is_none() && self.backend.stop_requested() {
                stop = Some("shutting down (signal received); the next run continues".into());
                self.report.interrupted = true;
            }
            let after_failure = failed
                .as_ref()
                .filter(|(f, _)| !action.goes_on_after(f))
                .map(|(_, why)| why);
            if let Some(reason) = stop.as_ref().or(after_failure) {
                self.report.results.push(skipped(action, reason.clone()));
                continue;
            }
            // After the first statement, a replica this plan drops (this
            // statement or a later one) is not counted on: gone meanwhile
            // (dropped by hand, a killed run's DROP that landed), the rest
            // goes on, its own DROP finding it gone. It was taken for one
            // that stopped serving, and held back the other drops of a
            // cluster whose new replica served (an outside check).
            let to_drop = |name: &String| {
                i > 0
                    && cp.actions[i..]
                        .iter()
                        .any(|a| a.kind == ActionKind::DropReplica && a.replica == *name)
            };
            let expected: Vec<Seen> = cp
                .observed
                .iter()
                .filter(|r| !dropped.contains(&r.name) && !to_drop(&r.name))
                .cloned()
                .collect();
            // A later drop of a deliberate suspension relies on no replica:
            // they all go.
            let compare = i == 0 || (action.kind == ActionKind::DropReplica && !cp.suspending);
            let guard = Guard {
                cluster: &cp.cluster_id,
                name: &cp.cluster,
                managed: action.kind.managed(),
                replicas: compare.then_some(expected.as_slice()),
                exact: i == 0,
                suspending: cp.suspending,
                created: &created,
                activity: cp.observed_activity.as_deref().filter(|_| i == 0),
                rows: cp.observed_rows,
                later: cp.actions.len() - i - 1,
            };
            // A suspension's state (what to bring back) goes with the first
            // intent, before any replica is dropped: lost after the drops (a
            // kill, a cut connection) it would leave nothing to wake with.
            let early: Vec<(ClusterId, serde_json::Value)> = match &cp.new_state {
                Some(state) if i == 0 && cp.state_goes_first() => {
                    vec![(cp.cluster_id.clone(), (**state).clone())]
                }
                _ => Vec::new(),
            };
            let early = (!early.is_empty()).then_some((early.as_slice(), self.plan_now));
            let status = match self.action(cp, action, Some(guard), early, opts).await {
                Err(e) => {
                    // The rest of the cluster's actions: never sent.
                    for rest in &cp.actions[i + 1..] {
                        self.report.results.push(skipped(rest, NOT_SENT.into()));
                    }
                    return Err(e);
                }
                Ok(Ok(status)) => status,
                Ok(Err(changed)) => {
                    // Reported with the skipped actions; logged for pipelines.
                    tracing::info!(cluster = %cp.cluster, ?changed, "changed since the snapshot; skipping this round");
                    // The suspension's state went with this intent: what
                    // was stored before goes back, a version later.
                    if early.is_some() {
                        self.put_state_back(cp).await?;
                    }
                    self.report.changed_clusters.push(cp.cluster.clone());
                    // This action and the rest, not those already done
                    // (they were listed again as skipped, and counted).
                    let reason = changed.skip_reason();
                    let mut withdrawn = skipped(action, reason.clone());
                    withdrawn.action_id = action_id(self.run_id, cp, action);
                    self.report.results.push(withdrawn);
                    for rest in &cp.actions[i + 1..] {
                        self.report.results.push(skipped(rest, reason.clone()));
                    }
                    return Ok(false);
                }
            };
            self.budget -= 1;
            // A DROP that found its replica gone: the cluster is as it
            // planned, so the rest goes on (the guard still checks each
            // next statement), and a suspension's state stays. A later
            // run's DROP sent while a killed run's DROP of the same
            // replica was on its way failed here, exit 3 (an outside check).
            let gone = found_gone(&status);
            // The suspension's first DROP failed, or was not sent: nothing
            // was dropped, so the state written with its intent goes back
            // as for a skip (it said "suspended" of a cluster that still
            // ran both replicas, and a later wake made a replica that
            // never existed: an outside check). One with an unknown
            // outcome may have run: kept, the next run settles it.
            if early.is_some()
                && !gone
                && matches!(
                    status,
                    ActionStatus::Failed { .. } | ActionStatus::Skipped { .. }
                )
            {
                self.put_state_back(cp).await?;
            }
            if status == ActionStatus::Executed || gone {
                match action.kind {
                    ActionKind::CreateReplica => created.push(action.replica.clone()),
                    ActionKind::DropReplica => dropped.push(action.replica.clone()),
                    _ => {}
                }
            }
            match &status {
                ActionStatus::Failed { error } => {
                    let why = format!("an earlier action on {} failed: {error}", cp.cluster);
                    failed.get_or_insert((action, why));
                }
                ActionStatus::Unknown { .. } => {
                    stop = Some(format!(
                        "an earlier action on {} has an unknown outcome; the next run settles it",
                        cp.cluster
                    ));
                }
                // Never sent, the lease lost (`Ddl::NotSent`): nothing
                // more of the cluster runs, and its state is not written
                // as if it had all run.
                ActionStatus::Skipped { reason } if !gone => stop = Some(reason.clone()),
                _ => {}
            }
            let result = ActionResult {
                action_id: action_id(self.run_id, cp, action),
                action: action.clone(),
                status,
            };
            tell(opts, Progress::Finished(&result));
            self.told.insert(self.report.results.len());
            self.report.results.push(result);
        }
        Ok(stop.is_none() && failed.is_none())
    }

    /// Writes back the state stored before a suspension whose state went
    /// with its first intent ([`ClusterPlan::state_before`]), a version
    /// later, when that suspension dropped nothing.
    async fn put_state_back(&mut self, cp: &ClusterPlan) -> Result<(), B::Error> {
        let Some(before) = &cp.state_before else {
            return Ok(());
        };
        let back = [(cp.cluster_id.clone(), (**before).clone())];
        let at = self.plan_now + chrono::Duration::milliseconds(1);
        self.backend
            .bookkeeping(Bookkeeping {
                states: Some((&back, at)),
                ..Bookkeeping::default()
            })
            .await?;
        Ok(())
    }

    /// Intent (with the previous outcome and the guard), then the DDL;
    /// `Err` what the plan guard found changed.
    async fn action(
        &mut self,
        cp: &ClusterPlan,
        action: &Action,
        guard: Option<Guard<'_>>,
        states: Option<States<'_>>,
        opts: &ApplyOptions,
    ) -> Result<Result<ActionStatus, Changed>, B::Error> {
        if let Err(e) = self.backend.lease_allows(Some(action)).await {
            self.flush().await;
            // Never sent, and no intent written: among the results as
            // skipped (it was in none, text or JSON, nor in the trail: an
            // outside check).
            let withdrawn = skipped(action, NOT_SENT.into());
            tell(opts, Progress::Finished(&withdrawn));
            self.report.results.push(withdrawn);
            return Err(e);
        }
        let row = AuditRow {
            action_id: action_id(self.run_id, cp, action),
            cluster_id: cp.cluster_id.clone(),
            action_sql: action.sql.clone(),
            decision_ctx: decision_ctx(self.run_id, cp, action),
            created_at: self.backend.now(),
        };
        let outcomes = if outcomes_due(&self.pending, self.pending_since, row.created_at, action) {
            self.take_pending()
        } else {
            Vec::new()
        };
        // No DDL without its audit row: if the intent cannot be written, stop.
        let step = self
            .backend
            .bookkeeping(Bookkeeping {
                outcomes: &outcomes,
                guard,
                intent: Some(&row),
                states,
            })
            .await;
        let changed = match step {
            Ok(changed) => changed,
            Err(e) => {
                // Refused (a lease lost, found in the same round trip) or
                // failed: what ran before it is known, and recorded, not
                // left "unknown" for the next run (each outcome is written
                // once: again is harmless). The action was not sent: it
                // is among the results, as its trail row (closed as not
                // attempted where its intent was written) says.
                self.pending.extend(outcomes);
                self.flush().await;
                let mut withdrawn = skipped(action, NOT_SENT.into());
                withdrawn.action_id = row.action_id.clone();
                tell(opts, Progress::Finished(&withdrawn));
                self.report.results.push(withdrawn);
                return Err(e);
            }
        };
        if let Some(changed) = changed {
            return Ok(Err(changed));
        }
        let simulated = self.backend.simulated();
        match simulated {
            true => {
                tracing::debug!(simulated, at = %self.backend.now(), cluster = %cp.cluster, strategy = %action.strategy, sql = %action.sql, "executing (simulated)")
            }
            false => {
                tracing::info!(cluster = %cp.cluster, strategy = %action.strategy, sql = %action.sql, "executing")
            }
        }
        tell(opts, Progress::Started(action));
        let result = match self.backend.execute_ddl(action, &row).await {
            Ok(r) => r,
            Err(e) => {
                // The statement was sent (one that was not is `NotSent`):
                // end its line before the run stops.
                let unknown = ActionResult {
                    action_id: row.action_id.clone(),
                    action: action.clone(),
                    status: ActionStatus::Unknown {
                        error: "the run stopped while it ran (see the error); the next run \
                                settles it from the catalog"
                            .into(),
                    },
                };
                tell(opts, Progress::Finished(&unknown));
                self.report.results.push(unknown);
                // What ran before it is known: recorded, not left for the
                // next run to guess from the catalog.
                self.flush().await;
                return Err(e);
            }
        };
        // An unknown outcome leaves the audit row open for the next run.
        let outcome = match &result {
            Ddl::Done => Some(Outcome {
                action_id: row.action_id.clone(),
                executed: true,
                error: None,
            }),
            Ddl::FoundDone => Some(Outcome {
                action_id: row.action_id.clone(),
                executed: true,
                error: Some(FOUND_DONE.into()),
            }),
            Ddl::Refused(error) | Ddl::NotSent(error) => Some(Outcome {
                action_id: row.action_id.clone(),
                executed: false,
                error: Some(error.clone()),
            }),
            Ddl::Gone(refusal) => Some(Outcome {
                action_id: row.action_id.clone(),
                executed: false,
                error: Some(gone_outcome(refusal)),
            }),
            Ddl::Unknown(_) => None,
        };
        if let Some(outcome) = outcome {
            self.pending_since.get_or_insert(row.created_at);
            self.pending.push(outcome);
        }
        Ok(Ok(match result {
            Ddl::Done | Ddl::FoundDone => ActionStatus::Executed,
            Ddl::Refused(error) => {
                // Reported with the action's result; logged for pipelines.
                // A warning: a log pipeline alerting on the level saw
                // nothing of it at info (an outside check).
                match simulated {
                    true => {
                        tracing::debug!(simulated, cluster = %cp.cluster, sql = %action.sql, %error, "action failed (simulated)")
                    }
                    false => {
                        tracing::warn!(cluster = %cp.cluster, sql = %action.sql, %error, "action failed")
                    }
                }
                ActionStatus::Failed { error }
            }
            Ddl::NotSent(reason) => ActionStatus::Skipped { reason },
            Ddl::Gone(refusal) => {
                tracing::info!(cluster = %cp.cluster, sql = %action.sql, %refusal, "the replica was already gone");
                ActionStatus::Skipped {
                    reason: gone_outcome(&refusal),
                }
            }
            Ddl::Unknown(error) => {
                match simulated {
                    true => {
                        tracing::debug!(simulated, cluster = %cp.cluster, sql = %action.sql, %error, "action outcome unknown (simulated)")
                    }
                    false => {
                        tracing::warn!(cluster = %cp.cluster, sql = %action.sql, %error, "action outcome unknown")
                    }
                }
                ActionStatus::Unknown {
                    error: format!(
                        "{error}; whether it took effect is not known: the next run settles it \
                         from the catalog"
                    ),
                }
            }
        }))
    }

    /// The outcomes waiting to be recorded, taken.
    fn take_pending(&mut self) -> Vec<Outcome> {
        self.pending_since = None;
        std::mem::take(&mut self.pending)
    }

    /// Records the outcomes still waiting before the run stops (best
    /// effort: the next run settles them from the catalog otherwise).
    async fn flush(&mut self) {
        let outcomes = self.take_pending();
        if outcomes.is_empty() {
            return;
        }
        let step = Bookkeeping {
            outcomes: &outcomes,
            ..Bookkeeping::default()
        };
        if self.backend.bookkeeping(step).await.is_err() {
            tracing::warn!(
                "could not record the last actions' outcomes; the next run settles them"
            );
        }
    }
}

/// At most this many outcomes are recorded together (one statement: three
/// parameters each, far below the protocol's 65 535).
pub const OUTCOME_BATCH: usize = 64;

/// Outcomes waiting longer than this are recorded with the next intent.
pub const OUTCOMES_WAIT: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

/// Whether the outcomes waiting (`pending`, the oldest since `since`) go
/// with the intent of `next`, written at `now`. Each statement recording
/// outcomes reads the whole audit table in Materialize (an UPDATE is a
/// read-then-write, and the table has no index), so they wait to go
/// together: the run's last step records the rest. They go now when a
/// batch is full ([`OUTCOME_BATCH`]), when one is a
/// failure (its error is known only to this run: a killed run's open rows
/// are settled from the catalog, without it), when the oldest has waited
/// [`OUTCOMES_WAIT`] (what `status` and `history` show stays recent), and
/// before a resize, whose statement may run for many minutes.
fn outcomes_due(
    pending: &[Outcome],
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    next: &Action,
) -> bool {
    !pending.is_empty()
        && (pending.len() >= OUTCOME_BATCH
            || pending.iter().any(|o| !o.executed)
            || since.is_some_and(|t| now - t >= OUTCOMES_WAIT)
            || next.kind == ActionKind::SetSize)
}

/// A deterministic id per (run, cluster, action): a retried audit write
/// finds its own row instead of adding a second one.
pub fn action_id(run_id: Uuid, cp: &ClusterPlan, action: &Action) -> String {
    let name = format!("{}\u{0}{}", cp.cluster_id, action.sql);
    Uuid::new_v5(&run_id, name.as_bytes()).to_string()
}

/// Why an action a stopped run never sent is skipped.
const NOT_SENT: &str = "not sent: the run stopped before it (see the error)";

fn skipped(action: &Action, reason: String) -> ActionResult {
    ActionResult {
        action_id: String::new(),
        action: action.clone(),
        status: ActionStatus::Skipped { reason },
    }
}

/// The order clusters are carried out in: the plan's; with a budget
/// (`--max-actions`), clusters that add capacity (a wake, a burst, a
/// resize) before those that only take it away (a suspension, a
/// retirement), so a bounded run serves users before it saves credits;
/// and of those that add, first the clusters whose users wait with
/// nothing serving them, then the others nothing serves (a prewarm), as
/// the region's credit limit admits them (a wake with users waiting came
/// after hundreds of resizes, 130 runs of `--max-actions 3`: an outside
/// check).
fn in_budget_order<'p>(plan: &'p Plan, opts: &ApplyOptions) -> Vec<&'p ClusterPlan> {
    let mut order: Vec<&ClusterPlan> = plan.clusters.iter().collect();
    if opts.max_actions.is_some() {
        let only_removes = |cp: &ClusterPlan| {
            !cp.actions.is_empty()
                && cp.actions.iter().all(|a| match a.kind {
                    ActionKind::DropReplica => true,
                    ActionKind::SetReplicationFactor => a.replication_factor == Some(0),
                    ActionKind::CreateReplica | ActionKind::SetSize => false,
                })
        };
        let serves = |cp: &ClusterPlan| cp.signals.replicas.iter().any(|r| r.hydrated);
        order.sort_by_key(|cp| match () {
            _ if only_removes(cp) => 3,
            _ if serves(cp) => 2,
            _ if cp.signals.in_flight > 0 => 0,
            _ => 1,
        });
    }
    order
}

/// Whether the plan guard's read matches what the plan saw.
fn same_replicas(now: &[Seen], observed: &[Seen]) -> bool {
    let mut a = now.to_vec();
    let mut b = observed.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// Why an action was taken, for the audit row: enough to answer "why did
/// this replica disappear at 03:12?" from SQL alone.
fn decision_ctx(run_id: Uuid, cp: &ClusterPlan, action: &Action) -> serde_json::Value {
    serde_json::json!({
        "run_id": run_id.to_string(),
        "controller": crate::CONTROLLER,
        "cluster": cp.cluster,
        "strategy": action.strategy,
        "kind": action.kind,
        "replica": action.replica,
        "size": action.size,
        "replication_factor": action.replication_factor,
        "reasons": action.reasons,
        "strategies": cp.strategies,
        "signals": cp.signals,
    })
}

/// Counts of what a plan would do, for summaries: (creates, drops,
/// cluster-level changes of managed clusters).
pub fn count_kinds<'a>(actions: impl Iterator<Item = &'a Action>) -> (usize, usize, usize) {
    actions.fold((0, 0, 0), |(c, d, m), a| match a.kind {
        ActionKind::CreateReplica => (c + 1, d, m),
        ActionKind::DropReplica => (c, d + 1, m),
        ActionKind::SetReplicationFactor | ActionKind::SetSize => (c, d, m + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_wait_to_be_recorded_together() {
        let t0 = at(0).expect("a time");
        let create = Action {
            kind: ActionKind::CreateReplica,
            cluster_id: ClusterId("u1".into()),
            cluster: "c".into(),
            replica: "r1".into(),
            size: None,
            replication_factor: None,
            resize: None,
            sql: String::new(),
            strategy: crate::strategy::StrategyKind::TargetSize,
            reasons: Vec::new(),
        };
        let resize = Action {
            kind: ActionKind::SetSize,
            ..create.clone()
        };
        let done = |n: usize| -> Vec<Outcome> {
            (0..n)
                .map(|i| Outcome {
                    action_id: i.to_string(),
                    executed: true,
                    error: None,
                })
                .collect()
        };
        let soon = t0 + chrono::TimeDelta::seconds(9);
        assert!(!outcomes_due(&[], None, soon, &resize), "nothing to record");
        assert!(!outcomes_due(&done(1), Some(t0), soon, &create));
        assert!(!outcomes_due(
            &done(OUTCOME_BATCH - 1),
            Some(t0),
            soon,
            &create
        ));
        assert!(
            outcomes_due(&done(OUTCOME_BATCH), Some(t0), soon, &create),
            "a full batch"
        );
        assert!(
            outcomes_due(&done(1), Some(t0), t0 + OUTCOMES_WAIT, &create),
            "waited long enough"
        );
        assert!(
            outcomes_due(&done(1), Some(t0), soon, &resize),
            "before a resize"
        );
        let mut failed = done(2);
        failed[1].executed = false;
        failed[1].error = Some("refused".into());
        assert!(outcomes_due(&failed, Some(t0), soon, &create), "a failure");
    }

    fn at(s: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(1_800_000_000 + s, 0)
    }

    #[test]
    fn the_guard_says_what_changed() {
        let seen = vec![Seen {
            name: "r1".into(),
            size: Some("25cc".into()),
            hydrated: true,
        }];
        let idle = Activity {
            last_begin: at(0),
            in_flight: 0,
            last_end: None,
        };
        let id = ClusterId("u1".into());
        let row = |ty: &str| crate::model::StrategyRow {
            cluster_id: ClusterId("u1".into()),
            strategy_type: ty.into(),
            config: serde_json::json!({}),
            updated_at: at(-3600),
            unreadable: None,
        };
        let idle_row = row("idle_suspend");
        let rows = RowsSeen::of([(&idle_row, 0)]);
        let g = Guard {
            cluster: &id,
            name: "c",
            managed: false,
            replicas: Some(&seen),
            exact: true,
            suspending: false,
            created: &[],
            activity: Some(&idle),
            rows,
            later: 0,
        };
        // The name and kind the plan saw.
        let same = Some(("c", false));
        assert_eq!(g.changed(same, Some(&seen), Some(&idle), rows), None);
        // Read since the last statement seen: nothing newer.
        assert_eq!(
            g.changed(same, Some(&seen), Some(&Activity::default()), rows),
            None
        );
        assert_eq!(
            g.changed(same, Some(&seen), None, rows),
            None,
            "activity not read"
        );
        let newer = Activity {
            last_begin: at(1),
            in_flight: 0,
            last_end: None,
        };
        assert_eq!(
            g.changed(same, Some(&seen), Some(&newer), rows),
            Some(Changed::Activity)
        );
        let running = Activity {
            last_begin: None,
            in_flight: 1,
            last_end: None,
        };
        assert_eq!(
            g.changed(same, Some(&seen), Some(&running), rows),
            Some(Changed::Activity)
        );
        let older = Activity {
            last_begin: at(-60),
            in_flight: 0,
            last_end: None,
        };
        assert_eq!(g.changed(same, Some(&seen), Some(&older), rows), None);
        // Replicas first; a guard without activity ignores it.
        assert_eq!(
            g.changed(same, Some(&[]), Some(&newer), rows),
            Some(Changed::Replicas)
        );
        let plain = Guard {
            activity: None,
            ..g
        };
        assert_eq!(plain.changed(same, Some(&seen), Some(&newer), rows), None);
        // Never seen a statement: any is newer.
        let silent = Activity::default();
        let g = Guard {
            activity: Some(&silent),
            ..g
        };
        assert_eq!(
            g.changed(same, Some(&seen), Some(&newer), rows),
            Some(Changed::Activity)
        );
        // The strategy rows first: a pause written during the run.
        let pause_row = row("pause");
        let paused = RowsSeen::of([(&idle_row, 0), (&pause_row, 0)]);
        assert_eq!(
            g.changed(same, Some(&seen), None, paused),
            Some(Changed::Strategies)
        );
        let edited = RowsSeen::of([(&idle_row, 1)]);
        assert_eq!(
            g.changed(same, None, None, edited),
            Some(Changed::Strategies)
        );
        // Before a later drop: what this run dropped is not expected, what
        // it created is not compared (it hydrates meanwhile); a replica
        // that stopped serving is a change.
        let r2 = Seen {
            name: "r2".into(),
            size: Some("50cc".into()),
            hydrated: true,
        };
        let created = ["r_new".to_string()];
        let later = Guard {
            replicas: Some(std::slice::from_ref(&r2)),
            exact: false,
            created: &created,
            activity: None,
            ..g
        };
        let new = Seen {
            name: "r_new".into(),
            size: Some("100cc".into()),
            hydrated: false,
        };
        assert_eq!(
            later.changed(same, Some(&[r2.clone(), new.clone()]), None, rows),
            None
        );
        let oomed = Seen {
            hydrated: false,
            ..r2.clone()
        };
        assert_eq!(
            later.changed(same, Some(&[oomed, new.clone()]), None, rows),
            Some(Changed::StoppedServing)
        );
        assert_eq!(
            later.changed(same, Some(std::slice::from_ref(&new)), None, rows),
            Some(Changed::StoppedServing),
            "dropped by hand"
        );
        // A change that takes nothing away does not stop a later drop: a
        // replica finishing its hydration, one created by hand.
        let unhydrated = Seen {
            hydrated: false,
            ..r2.clone()
        };
        let pending = Guard {
            replicas: Some(std::slice::from_ref(&unhydrated)),
            ..later
        };
        let by_hand = Seen {
            name: "r9".into(),
            size: Some("25cc".into()),
            hydrated: true,
        };
        assert_eq!(
            pending.changed(same, Some(&[r2.clone(), by_hand]), None, rows),
            None
        );
        assert!(Changed::StoppedServing.what().contains("stopped serving"));
        assert!(Changed::Strategies.what().contains("strategy rows changed"));
        // Before the first statement, any difference counts.
        let first = Guard {
            exact: true,
            ..pending
        };
        assert_eq!(
            first.changed(same, Some(std::slice::from_ref(&r2)), None, rows),
            Some(Changed::Replicas)
        );
        // Not read before this statement: not compared.
        let unread = Guard {
            replicas: None,
            ..later
        };
        assert_eq!(unread.changed(same, Some(&[]), None, rows), None);
        // A suspension's first drop: a replica that stopped or started
        // serving is no change (they all go), another replica is, and so
        // is a statement.
        let suspension = Guard {
            suspending: true,
            activity: Some(&idle),
            ..first
        };
        assert_eq!(
            suspension.changed(same, Some(std::slice::from_ref(&unhydrated)), None, rows),
            None
        );
        assert_eq!(
            suspension.changed(same, Some(std::slice::from_ref(&r2)), None, rows),
            None
        );
        assert_eq!(
            suspension.changed(same, Some(&[r2.clone(), new.clone()]), None, rows),
            None,
            "made by this run: not compared"
        );
        let r9 = Seen {
            name: "r9".into(),
            size: Some("25cc".into()),
            hydrated: false,
        };
        assert_eq!(
            suspension.changed(same, Some(&[r2.clone(), r9]), None, rows),
            Some(Changed::Replicas)
        );
        assert_eq!(
            suspension.changed(same, Some(&[]), None, rows),
            Some(Changed::Replicas),
            "dropped by hand"
        );
        assert_eq!(
            suspension.changed(same, Some(std::slice::from_ref(&r2)), Some(&newer), rows),
            Some(Changed::Activity)
        );
        // The name first, before every statement: renamed or swapped, the
        // statements would address another cluster; dropped, none.
        assert_eq!(
            unread.changed(Some(("c_old", false)), None, None, rows),
            Some(Changed::Renamed)
        );
        assert_eq!(
            unread.changed(None, None, None, rows),
            Some(Changed::Renamed)
        );
        // Made managed since: replica DDL would be refused.
        assert_eq!(
            unread.changed(Some(("c", true)), None, None, rows),
            Some(Changed::Conversion)
        );
    }
}
