//! The tick loop: at every controller interval (plus a jitter drawn per
//! round) the environment advances to the round's start, the catalog's view
//! of each cluster becomes a `Snapshot`, the product's `plan::plan` decides
//! and `exec::apply` carries the plan out against `SimBackend`, whose DDL
//! takes effect `run_time` later. A round fails now and then before acting
//! (`failure_rate`); a blocking managed resize holds the controller until it
//! settles, and the rounds due meanwhile do not happen.
//!
//! Speed: a cluster whose inputs cannot change before its next event (next
//! arrival, hydration, OOM, …) is not re-planned at every tick. After a plan
//! with nothing to do, the same snapshot is planned at the last tick before
//! that event; if that is still a no-op the ticks in between are skipped,
//! otherwise a binary search finds the first tick that acts. This relies on
//! decisions with frozen inputs being monotone in time (thresholds such as
//! `idle_after_s` and cooldowns, once crossed, stay crossed). Clock-driven
//! strategies (`schedule`) are not monotone: their next window boundary
//! counts as an event (`clock_change`). `exact` mode
//! plans every tick and the tests check both give the same report.

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::env::{at, Pending, SimCluster};
use super::scenario::{ResizeMode, Scenario, DAY};
use super::SimError;
use crate::exec::{self, ActionStatus, AuditRow, Backend};
use crate::model::{ClusterId, Snapshot, StrategyRow};
use crate::plan::{self, ActionKind, ClusterPlan, Plan, PlanOptions};
use crate::strategy::StrategyKind;

/// An action as it happened, for the report and the plot.
#[derive(Debug, Clone)]
pub struct ActionMark {
    pub t: i64,
    pub kind: ActionKind,
    pub replica: String,
    pub size: Option<String>,
    pub strategy: StrategyKind,
    pub ok: bool,
    /// `SetReplicationFactor` on a managed cluster: the new factor.
    pub replication_factor: Option<i64>,
}

/// A replica set change that replaced running replicas by another size.
#[derive(Debug, Clone)]
struct OpenResize {
    at: i64,
    old: Vec<String>,
}

/// One cluster: the simulated environment plus the controller's view of it.
pub struct Slot {
    pub sim: SimCluster,
    snap: Snapshot,
    next_id: u64,
    next_check: i64,
    open_resizes: Vec<OpenResize>,
    pub resize_ms: Vec<i64>,
    pub actions: Vec<ActionMark>,
    /// Actions of the current tick, for the timeline.
    tick_actions: Vec<String>,
    /// Alerts the planner raised (numbers elided) → (first seen, text).
    pub alerts: BTreeMap<String, (i64, String)>,
    /// Failed query attempts counted in the timeline so far.
    timeline_errors: u64,
    /// Plans computed for this cluster (rounds and skip searches).
    pub plans: u64,
    /// The statement history the snapshot carries was read for the day
    /// ending at this midnight (ms since the start); `None`: not yet.
    demand_until: Option<i64>,
    /// Days of history the cluster's rows learn from (`None`: none predicts).
    history_days: Option<u64>,
}

/// Everything a run produced.
pub struct Run {
    pub slots: Vec<Slot>,
    pub plan_calls: u64,
    pub rounds: Rounds,
}

/// The controller's rounds: scheduled, failed, skipped while blocked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rounds {
    pub scheduled: u64,
    pub failed: u64,
    pub blocked: u64,
}

/// A pseudo-random number in [0, 1) for round `k` and purpose `salt`: the
/// same in every shard and mode, with no state to carry.
fn round_draw(seed: u64, k: i64, salt: u64) -> f64 {
    let mut z = seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// When round `k` starts: its scheduled time plus its jitter.
pub fn round_at(sc: &Scenario, k: i64) -> i64 {
    let j = sc.controller.tick_jitter_ms;
    let jitter = if j > 0 {
        (round_draw(sc.seed, k, 1) * j as f64) as i64
    } else {
        0
    };
    k * sc.interval_ms + jitter
}

/// Whether round `k` fails before acting.
pub fn round_fails(sc: &Scenario, k: i64) -> bool {
    let p = sc.controller.failure_rate;
    p > 0.0 && round_draw(sc.seed, k, 2) < p
}

/// The first round that starts at or after `t`.
fn first_round_from(sc: &Scenario, t: i64) -> i64 {
    let k = t.div_euclid(sc.interval_ms).max(0);
    if round_at(sc, k) >= t {
        k
    } else {
        k + 1
    }
}

/// The simulated database behind `exec::apply`.
pub struct SimBackend<'a> {
    now_ms: i64,
    start: DateTime<Utc>,
    slots: &'a mut [Slot],
    index: &'a BTreeMap<ClusterId, usize>,
    sc: &'a Scenario,
    lookback: i64,
    /// `WAIT UNTIL READY` timeout of managed clusters' graceful resizes.
    resize_timeout_ms: i64,
    /// When this round's DDL takes effect.
    effect_ms: i64,
}

impl SimBackend<'_> {
    fn slot(&mut self, id: &ClusterId) -> Option<&mut Slot> {
        let i = *self.index.get(id)?;
        self.slots.get_mut(i)
    }
}

impl Backend for SimBackend<'_> {
    fn simulated(&self) -> bool {
        true
    }

    type Error = SimError;

    fn now(&self) -> DateTime<Utc> {
        at(self.start, self.now_ms)
    }

    async fn snapshot(&mut self) -> Result<Snapshot, SimError> {
        let mut snap = Snapshot {
            now: self.now(),
            sizes: self.sc.sizes.clone(),
            activity_log_has_rows: log_has_rows(self.sc),
            env: environment(self.sc),
            session_cluster: self.sc.controller.exec_cluster.clone(),
            ..Snapshot::default()
        };
        for s in self.slots.iter() {
            let mut c = s.sim.empty_cluster();
            s.sim.observe(self.sc, self.now_ms, self.lookback, &mut c);
            snap.clusters.push(c);
            snap.strategies.extend(s.snap.strategies.iter().cloned());
            snap.states.extend(s.snap.states.clone());
            snap.last_resizes.extend(s.snap.last_resizes.clone());
            snap.refusals.extend(s.snap.refusals.clone());
        }
        Ok(snap)
    }

    async fn execute_ddl(
        &mut self,
        action: &crate::plan::Action,
        _intent: &AuditRow,
    ) -> Result<crate::exec::Ddl, SimError> {
        Ok(match self.submit(action) {
            Ok(()) => crate::exec::Ddl::Done,
            Err(e) => crate::exec::Ddl::Refused(e),
        })
    }

    async fn audit(&mut self, _row: &AuditRow) -> Result<(), SimError> {
        Ok(())
    }

    async fn persist_states(
        &mut self,
        states: &[(ClusterId, serde_json::Value)],
        _at: DateTime<Utc>,
    ) -> Result<(), SimError> {
        for (id, state) in states {
            if let Some(slot) = self.slot(id) {
                slot.snap.states.insert(id.clone(), state.clone());
            }
        }
        Ok(())
    }
}

impl SimBackend<'_> {
    /// Hands one DDL statement to the simulated cluster.
    fn submit(&mut self, action: &crate::plan::Action) -> Result<(), String> {
        let sizes = &self.sc.sizes;
        let p = match action.kind {
            ActionKind::CreateReplica => {
                let Some(size) = action.size.clone().filter(|s| sizes.contains(s)) else {
                    return Err(format!("unknown cluster replica size {:?}", action.size));
                };
                Pending::Create {
                    name: action.replica.clone(),
                    size,
                }
            }
            ActionKind::DropReplica => Pending::Drop {
                name: action.replica.clone(),
            },
            ActionKind::SetSize => {
                let Some(size) = action.size.clone().filter(|s| sizes.contains(s)) else {
                    return Err(format!("unknown cluster replica size {:?}", action.size));
                };
                Pending::SetSize {
                    size,
                    timeout_ms: self.resize_timeout_ms,
                    requested_ms: self.now_ms,
                }
            }
            ActionKind::SetReplicationFactor => {
                let n = action.replication_factor.unwrap_or(-1);
                let Ok(n) = u32::try_from(n) else {
                    return Err(format!("invalid REPLICATION FACTOR {n}"));
                };
                Pending::SetReplicationFactor { n }
            }
        };
        let effect = self.effect_ms;
        let Some(slot) = self.slot(&action.cluster_id) else {
            return Err(format!("unknown cluster '{}'", action.cluster));
        };
        slot.sim.submit(p)?;
        slot.sim.pending_at = effect;
        Ok(())
    }
}

fn rows_of(sim: &SimCluster, phase: usize, sc: &Scenario) -> Vec<StrategyRow> {
    let Some(p) = sim.spec.phases.get(phase) else {
        return Vec::new();
    };
    p.rows
        .iter()
        .map(|(ty, cfg)| StrategyRow {
            cluster_id: sim.spec.id.clone(),
            strategy_type: ty.clone(),
            config: cfg.clone(),
            updated_at: Some(at(sc.start, p.at_ms)),
            unreadable: None,
        })
        .collect()
}

/// What the controller reads of the simulated Materialize's settings
/// (`SHOW`): the replica limit it enforces.
fn environment(sc: &Scenario) -> crate::model::Environment {
    crate::model::Environment {
        settings: crate::model::Settings {
            max_replicas_per_cluster: Some(sc.materialize.max_replicas_per_cluster),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Whether the statement log has rows at all (the controller's own
/// statements are logged too, when anything is).
fn log_has_rows(sc: &Scenario) -> bool {
    sc.statement_log.enabled && sc.statement_log.sample_rate > 0.0
}

/// The activity lookback the real snapshot uses: max(24 h, largest idle_after_s).
pub fn lookback_ms(sc: &Scenario) -> i64 {
    let rows: Vec<StrategyRow> = sc
        .clusters
        .iter()
        .flat_map(|c| c.phases.iter())
        .flat_map(|p| p.rows.iter())
        .map(|(ty, cfg)| StrategyRow {
            cluster_id: ClusterId(String::new()),
            strategy_type: ty.clone(),
            config: cfg.clone(),
            updated_at: None,
            unreadable: None,
        })
        .collect();
    let min = crate::model::MIN_ACTIVITY_LOOKBACK.as_millis() as i64;
    min.max(crate::strategy::longest_idle_after_s(&rows) as i64 * 1000)
}

/// The planner's options in the simulation: the scenario's interval.
pub fn plan_options(sc: &Scenario) -> PlanOptions {
    PlanOptions {
        interval: Some(std::time::Duration::from_millis(
            sc.interval_ms.max(1000) as u64
        )),
        explain: false,
        ..PlanOptions::default()
    }
}

/// A shard's clusters (with their positions), its plan count and rounds.
type ShardResult = Result<(Vec<(usize, Slot)>, u64, Rounds), SimError>;

/// Whether a round can be held up by a blocking managed resize: then all
/// clusters share one controller clock and run in one shard.
fn can_block(sc: &Scenario) -> bool {
    sc.materialize.managed_resize == ResizeMode::Blocking
        && sc.clusters.iter().any(|c| c.managed.is_some())
}

/// Runs the scenario. `timeline`, when given, receives one CSV row per tick
/// per cluster. `exact` plans every cluster at every tick.
///
/// Clusters share nothing in the simulated environment (each has its own
/// random streams and replica ids; rounds' jitter and failures are drawn per
/// round, not per shard), so without a timeline or a blocking resize they are
/// split into shards run on their own threads, each inside one
/// current-thread runtime; the result does not depend on the split.
pub fn run(sc: &Scenario, exact: bool, timeline: Option<&mut dyn Write>) -> Result<Run, SimError> {
    let lookback = lookback_ms(sc);
    let slots = build_slots(sc);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    let shards = if timeline.is_some() || slots.len() < 8 || can_block(sc) {
        1
    } else {
        threads
    };
    let (mut slots, plan_calls, rounds) = if shards <= 1 {
        let mut slots = slots;
        let (calls, rounds) = run_shard(sc, exact, lookback, &mut slots, timeline)?;
        (slots, calls, rounds)
    } else {
        let n = slots.len();
        let mut parts: Vec<Vec<(usize, Slot)>> = (0..shards).map(|_| Vec::new()).collect();
        for (i, slot) in slots.into_iter().enumerate() {
            parts[i % shards].push((i, slot));
        }
        let results: Vec<ShardResult> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    s.spawn(move || {
                        let (idx, mut slots): (Vec<usize>, Vec<Slot>) = part.into_iter().unzip();
                        let (calls, rounds) = run_shard(sc, exact, lookback, &mut slots, None)?;
                        Ok((idx.into_iter().zip(slots).collect(), calls, rounds))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(SimError::Engine("a simulation thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut all: Vec<Option<Slot>> = (0..n).map(|_| None).collect();
        let mut calls = 0;
        let mut rounds = Rounds::default();
        for r in results {
            let (part, c, r) = r?;
            calls += c;
            // Every shard runs the same rounds.
            rounds = r;
            for (i, slot) in part {
                all[i] = Some(slot);
            }
        }
        (all.into_iter().flatten().collect(), calls, rounds)
    };
    for slot in slots.iter_mut() {
        step_env(slot, sc, sc.horizon_ms);
        slot.sim.finish(sc.horizon_ms);
    }
    Ok(Run {
        slots,
        plan_calls,
        rounds,
    })
}

fn build_slots(sc: &Scenario) -> Vec<Slot> {
    let mut slots = Vec::new();
    for (i, spec) in sc.clusters.iter().enumerate() {
        // Replica ids per cluster, so that ids do not depend on other clusters.
        let mut next_id = (i as u64 + 1) * 1_000_000;
        let sim = SimCluster::new(spec, sc, i as u64, &mut next_id);
        let days = history_days(&sim, sc);
        let snap = Snapshot {
            now: sc.start,
            sizes: sc.sizes.clone(),
            clusters: vec![sim.empty_cluster()],
            strategies: rows_of(&sim, 0, sc),
            states: BTreeMap::new(),
            activity_log_has_rows: log_has_rows(sc),
            activity_log_since: None,
            session_cluster: sc.controller.exec_cluster.clone(),
            env: environment(sc),
            demand: None,
            unfinished: Vec::new(),
            // The simulated controller's state is never wiped.
            suspensions: BTreeMap::new(),
            created_since: BTreeMap::new(),
            suspensions_read: false,
            // Filled in as the controller's background resizes execute.
            last_resizes: BTreeMap::new(),
            // Filled in as the simulated region refuses statements.
            refusals: BTreeMap::new(),
            // No run is interrupted here.
            local_clock: None,
        };
        slots.push(Slot {
            sim,
            snap,
            next_id,
            next_check: 0,
            open_resizes: Vec::new(),
            resize_ms: Vec::new(),
            actions: Vec::new(),
            tick_actions: Vec::new(),
            alerts: BTreeMap::new(),
            timeline_errors: 0,
            plans: 0,
            demand_until: None,
            history_days: days,
        });
    }
    slots
}

/// Days of statement history the cluster's rows learn from (the largest
/// `history_days` of any phase), if any predicts.
fn history_days(sim: &SimCluster, sc: &Scenario) -> Option<u64> {
    sim.spec
        .phases
        .iter()
        .flat_map(|p| p.rows.iter())
        .filter_map(|(ty, cfg)| {
            let kind = StrategyKind::parse(ty)?;
            let (c, _) = crate::strategy::StrategyConfig::parse(kind, cfg, &sc.sizes).ok()?;
            c.history_days()
        })
        .max()
}

/// The next UTC midnight after `t` (ms since the start).
fn next_midnight(sc: &Scenario, t: i64) -> i64 {
    let now = at(sc.start, t);
    let m = crate::strategy::predict::profile::midnight(now) + chrono::Duration::days(1);
    (m - sc.start).num_milliseconds()
}

/// Puts the statement history of the complete days before `t` in the
/// cluster's snapshot, as the catalog's aggregate would return it; read
/// again when a day completes.
fn refresh_demand(slot: &mut Slot, sc: &Scenario, t: i64) {
    let Some(days) = slot.history_days else {
        return;
    };
    if !log_has_rows(sc) {
        return;
    }
    let until = next_midnight(sc, t) - DAY;
    if slot.demand_until == Some(until) {
        return;
    }
    slot.demand_until = Some(until);
    // The log holds what happened since `history` before the start.
    let log_start = next_midnight(sc, -sc.history_ms - 1);
    // A `history` shorter than the time to the last midnight: nothing yet.
    let from = (until - days as i64 * DAY).max(log_start).min(until);
    let mut clusters = BTreeMap::new();
    let hours = slot.sim.demand_hours(sc, from, until);
    if !hours.is_empty() {
        clusters.insert(slot.sim.spec.id.clone(), hours);
    }
    let mut log = crate::model::DemandLog {
        from: at(sc.start, from),
        until: at(sc.start, until),
        clusters,
        profiles: BTreeMap::new(),
    };
    // Learned once for the day, not at every plan of it.
    let id = slot.sim.spec.id.clone();
    let profile = crate::strategy::predict::profile_of(&log, &id, days);
    log.profiles.insert(id, (days, profile));
    slot.snap.demand = Some(log);
}

fn run_shard(
    sc: &Scenario,
    exact: bool,
    lookback: i64,
    slots: &mut [Slot],
    timeline: Option<&mut dyn Write>,
) -> Result<(u64, Rounds), SimError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SimError::Io(format!("cannot start the runtime: {e}")))?;
    rt.block_on(shard_loop(sc, exact, lookback, slots, timeline))
}

async fn shard_loop(
    sc: &Scenario,
    exact: bool,
    lookback: i64,
    slots: &mut [Slot],
    mut timeline: Option<&mut dyn Write>,
) -> Result<(u64, Rounds), SimError> {
    let index: BTreeMap<ClusterId, usize> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| (s.sim.spec.id.clone(), i))
        .collect();
    if let Some(w) = timeline.as_mut() {
        writeln!(
            w,
            "time,cluster,replicas,credits_per_hour,waiting_queries,failed_queries,actions"
        )
        .map_err(io_err)?;
    }
    let opts = plan_options(sc);
    let ticks = sc.ticks();
    let mut plan_calls = 0u64;
    let mut rounds = Rounds::default();
    // A blocking managed resize in progress on this cluster.
    let mut blocked_by: Option<usize> = None;
    for k in 0..ticks {
        let t = round_at(sc, k);
        if t >= sc.horizon_ms {
            // The last partial interval's round, jittered past the end.
            break;
        }
        rounds.scheduled += 1;
        let mut todo: Vec<ClusterPlan> = Vec::new();
        let mut changed_any = Vec::with_capacity(slots.len());
        for slot in slots.iter_mut() {
            changed_any.push(step_env(slot, sc, t));
        }
        if blocked_by.is_some_and(|i| slots[i].sim.resizing()) {
            rounds.blocked += 1;
        } else if round_fails(sc, k) {
            blocked_by = None;
            rounds.failed += 1;
        } else {
            blocked_by = None;
            for (slot, changed) in slots.iter_mut().zip(changed_any) {
                if !(changed || exact || k >= slot.next_check) {
                    continue;
                }
                slot.sim
                    .observe(sc, t, lookback, &mut slot.snap.clusters[0]);
                slot.snap.now = at(sc.start, t);
                refresh_demand(slot, sc, t);
                let p = plan::plan(&slot.snap, &opts);
                plan_calls += 1;
                slot.plans += 1;
                note_alerts(slot, &p, t);
                let due = p.next_decision_at;
                let sensitive = p.clusters.iter().any(|c| c.activity_sensitive);
                if p.action_count() > 0 {
                    slot.next_check = k + 1;
                    todo.extend(p.clusters);
                    continue;
                }
                // No DDL: persist the new state as `exec::apply` would.
                for cp in p.clusters {
                    if let Some(state) = cp.new_state {
                        slot.snap.states.insert(cp.cluster_id, *state);
                    }
                }
                slot.next_check = if exact {
                    k + 1
                } else {
                    let matters = sensitive || activity_matters(slot);
                    if !matters {
                        // Statements running now end; new ones only add
                        // busyness: search as if idle since the last begin.
                        slot.snap.clusters[0].activity.in_flight = 0;
                    }
                    let e = slot
                        .sim
                        .next_change(t, sc.crash_window_ms, lookback, matters)
                        .min(clock_change(due, sc))
                        .min(match slot.demand_until {
                            Some(_) => next_midnight(sc, t),
                            None => i64::MAX,
                        })
                        .min(idle_deadline(slot, sc, t));
                    let (next, calls) = skip_until(slot, sc, k, e, &opts);
                    plan_calls += calls;
                    slot.plans += calls;
                    next
                };
            }
            if !todo.is_empty() {
                blocked_by = apply_tick(slots, &index, sc, lookback, t, k, todo).await?;
            }
        }
        if let Some(w) = timeline.as_mut() {
            write_rows(*w, slots, sc, t)?;
        }
    }
    Ok((plan_calls, rounds))
}

/// Alerts the planner raised for the cluster, by text with numbers elided
/// (the same condition, counted once), with the first time seen.
fn note_alerts(slot: &mut Slot, p: &Plan, t: i64) {
    for alert in p.clusters.iter().flat_map(|c| c.alerts.iter()) {
        let key: String = alert
            .split(|c: char| c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("N");
        slot.alerts.entry(key).or_insert((t, alert.clone()));
    }
}

/// Advances one cluster's environment to `t`; whether its inputs changed in
/// a way the tick loop cannot predict (DDL in effect, new strategy rows).
fn step_env(slot: &mut Slot, sc: &Scenario, t: i64) -> bool {
    let mut changed = false;
    if !slot.sim.pending.is_empty() {
        // The round's statements ran before `t`: their effect first.
        let at = slot.sim.pending_at.min(t);
        slot.sim.advance(at);
        changed = slot.sim.apply_pending(at, &sc.sizes, &mut slot.next_id);
    }
    slot.sim.advance(t);
    changed |= slot.sim.apply_pending(t, &sc.sizes, &mut slot.next_id);
    slot.resize_ms.append(&mut slot.sim.resize_done_ms);
    if changed && !slot.open_resizes.is_empty() {
        let live: Vec<String> = slot.sim.replicas.iter().map(|r| r.name.clone()).collect();
        let mut done = Vec::new();
        slot.open_resizes.retain_mut(|o| {
            o.old.retain(|n| live.contains(n));
            if o.old.is_empty() {
                done.push(t - o.at);
            }
            !o.old.is_empty()
        });
        slot.resize_ms.extend(done);
    }
    let phase = slot.sim.phase;
    if slot
        .sim
        .spec
        .phases
        .get(phase + 1)
        .is_some_and(|p| p.at_ms <= t)
    {
        slot.sim.phase += 1;
        slot.snap.strategies = rows_of(&slot.sim, slot.sim.phase, sc);
        changed = true;
    }
    changed
}

/// Whether new statements can change what the planner decides for the
/// cluster, after a round that decided nothing. Only idle_suspend (idleness)
/// and burst and shrink_to_fit (statements waiting with nothing hydrated
/// bypass their cooldowns) read activity; and while a replica is hydrated,
/// more activity only makes the cluster busier: idle_suspend keeps it (it
/// suspends on *lack* of activity, which the skip search sees as time
/// passing), and nothing waits with nothing hydrated. The skip search then
/// runs on the snapshot with no statement in flight (the ones running will
/// end; later ones only make it busier): it can only find a round too
/// early, and the round that acts re-reads the activity first.
fn activity_matters(slot: &Slot) -> bool {
    let reads = slot.snap.strategies.iter().any(|r| {
        matches!(
            StrategyKind::parse(&r.strategy_type),
            Some(StrategyKind::IdleSuspend | StrategyKind::Burst | StrategyKind::ShrinkToFit)
        )
    });
    reads && !slot.sim.any_hydrated()
}

/// When the cluster's last statement is `idle_after_s` old (its first round
/// that may suspend): not needed for correctness, but it spares the skip
/// search a binary search each time activity pushed the deadline back.
fn idle_deadline(slot: &Slot, sc: &Scenario, t: i64) -> i64 {
    let idle_after = crate::strategy::longest_idle_after_s(&slot.snap.strategies) as i64 * 1000;
    slot.snap.clusters[0]
        .activity
        .last_begin
        .map(|b| (b - sc.start).num_milliseconds() + idle_after)
        .filter(|d| idle_after > 0 && *d > t)
        .unwrap_or(i64::MAX)
}

/// When a decision of the cluster is due by the clock alone (a schedule's
/// window, a prewarm, an idle threshold: the plan's `next_decision_at`):
/// decisions are not monotone across such instants, so ticks are never
/// skipped past one.
fn clock_change(next_decision_at: Option<DateTime<Utc>>, sc: &Scenario) -> i64 {
    next_decision_at
        .map(|when| (when - sc.start).num_milliseconds())
        .unwrap_or(i64::MAX)
}

/// After a plan without DDL at tick `k`, the first tick that may act before
/// the inputs change at `event_ms`; plus the number of plans it took. State
/// written by the skipped ticks is not replayed: the strategies' state slots
/// only record times of their last decision, which the next real plan
/// overwrites (the exact-mode test checks that reports agree).
fn skip_until(
    slot: &mut Slot,
    sc: &Scenario,
    k: i64,
    event_ms: i64,
    opts: &PlanOptions,
) -> (i64, u64) {
    let event_tick = if event_ms == i64::MAX {
        sc.ticks()
    } else {
        first_round_from(sc, event_ms)
    };
    let mut hi = event_tick.min(sc.ticks()) - 1;
    if hi <= k {
        return (k + 1, 0);
    }
    let mut calls = 0;
    let probe = PlanOptions {
        new_state: false,
        ..opts.clone()
    };
    let mut acts = |tick: i64, slot: &mut Slot| {
        calls += 1;
        slot.snap.now = at(sc.start, round_at(sc, tick));
        plan::plan(&slot.snap, &probe).action_count() > 0
    };
    if !acts(hi, slot) {
        return (hi + 1, calls);
    }
    let mut lo = k;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if acts(mid, slot) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    (hi, calls)
}

async fn apply_tick(
    slots: &mut [Slot],
    index: &BTreeMap<ClusterId, usize>,
    sc: &Scenario,
    lookback: i64,
    t: i64,
    k: i64,
    clusters: Vec<ClusterPlan>,
) -> Result<Option<usize>, SimError> {
    let plan = Plan {
        format_version: plan::FORMAT_VERSION,
        now: at(sc.start, t),
        environment_id: None,
        schema: None,
        clusters,
        warnings: Vec::new(),
        next_decision_at: None,
        settle: Vec::new(),
    };
    // Replica sets before the DDL, to recognise resizes.
    let before: BTreeMap<ClusterId, Vec<(String, String)>> = plan
        .clusters
        .iter()
        .filter_map(|cp| {
            let slot = slots.get(*index.get(&cp.cluster_id)?)?;
            let live = slot
                .sim
                .replicas
                .iter()
                .filter(|r| {
                    !slot
                        .sim
                        .pending
                        .iter()
                        .any(|p| matches!(p, Pending::Drop { name } if *name == r.name))
                })
                .map(|r| (r.name.clone(), r.size.0.clone()))
                .collect();
            Some((cp.cluster_id.clone(), live))
        })
        .collect();
    let mut backend = SimBackend {
        now_ms: t,
        start: sc.start,
        slots,
        index,
        sc,
        lookback,
        resize_timeout_ms: PlanOptions::default().resize_timeout.as_millis() as i64,
        effect_ms: t + sc.controller.run_time_ms,
    };
    let report = exec::apply(
        &mut backend,
        &plan,
        Uuid::from_u128(k as u128),
        &exec::ApplyOptions::default(),
    )
    .await
    .map_err(|stopped| stopped.error)?;
    let mut blocked_by = None;
    for r in &report.results {
        let Some((i, slot)) = index
            .get(&r.action.cluster_id)
            .and_then(|i| Some((*i, slots.get_mut(*i)?)))
        else {
            continue;
        };
        let ok = r.status == ActionStatus::Executed;
        slot.record_refusal(r, at(sc.start, t));
        if r.action.kind == ActionKind::SetSize {
            if ok && sc.materialize.managed_resize == ResizeMode::Blocking {
                blocked_by = Some(i);
            }
            // The audit trail's newest resize that ran or failed, as the
            // live snapshot reads it: a background resize Materialize rolls
            // back at its deadline, or a blocking one that times out (its
            // statement fails), is then held back like on a real region,
            // not sent again every round.
            let failed = match &r.status {
                ActionStatus::Executed => Some(None),
                ActionStatus::Failed { error }
                    if error.contains(crate::plan::rolled_back::RESIZE_TIMED_OUT) =>
                {
                    Some(Some(error.clone()))
                }
                _ => None,
            };
            if let (Some(failed), Some(size)) = (failed, r.action.size.clone()) {
                slot.snap.last_resizes.insert(
                    r.action.cluster_id.clone(),
                    crate::model::LastResize {
                        size,
                        at: at(sc.start, t),
                        failed,
                    },
                );
            }
        }
        let size = r.action.size.as_ref().map(|s| s.0.clone());
        if ok
            && r.action.kind == ActionKind::CreateReplica
            && r.action.strategy != StrategyKind::Burst
        {
            let old: Vec<String> = before
                .get(&r.action.cluster_id)
                .map(|live| {
                    live.iter()
                        .filter(|(_, s)| Some(s) != size.as_ref())
                        .map(|(n, _)| n.clone())
                        .collect()
                })
                .unwrap_or_default();
            if !old.is_empty() {
                slot.open_resizes.push(OpenResize { at: t, old });
            }
        }
        let verb = match ok {
            true => r.action.kind.verb().to_string(),
            false => format!("{}(failed)", r.action.kind.verb()),
        };
        let object = match (r.action.kind, &size) {
            (ActionKind::SetReplicationFactor, _) => r
                .action
                .replication_factor
                .map(|n| n.to_string())
                .unwrap_or_default(),
            (ActionKind::SetSize, Some(size)) => size.clone(),
            _ => r.action.replica.clone(),
        };
        slot.tick_actions.push(format!("{verb} {object}"));
        slot.actions.push(ActionMark {
            t,
            kind: r.action.kind,
            replica: r.action.replica.clone(),
            size,
            strategy: r.action.strategy,
            ok,
            replication_factor: r.action.replication_factor,
        });
    }
    Ok(blocked_by)
}

fn write_rows(
    w: &mut dyn Write,
    slots: &mut [Slot],
    sc: &Scenario,
    t: i64,
) -> Result<(), SimError> {
    let time = at(sc.start, t).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for slot in slots.iter_mut() {
        let replicas: Vec<String> = slot
            .sim
            .replicas
            .iter()
            .map(|r| format!("{}:{}:{}", r.name, r.size, r.hydrated_at(t)))
            .collect();
        let errors = slot.sim.stats.failed_attempts - slot.timeline_errors;
        slot.timeline_errors = slot.sim.stats.failed_attempts;
        writeln!(
            w,
            "{time},{},{},{},{},{errors},{}",
            csv_field(&slot.sim.spec.name),
            csv_field(&replicas.join(";")),
            slot.sim.burn_rate(),
            slot.sim.waiting_count(),
            csv_field(&slot.tick_actions.join(";"))
        )
        .map_err(io_err)?;
        slot.tick_actions.clear();
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn io_err(e: std::io::Error) -> SimError {
    SimError::Io(format!("writing the timeline: {e}"))
}

impl Slot {
    /// The audit trail's refusals in a row after `r` ended at `at`, as the
    /// live snapshot reads them (`plan::refused`).
    pub(crate) fn record_refusal(&mut self, r: &crate::exec::ActionResult, at: DateTime<Utc>) {
        let error = match &r.status {
            ActionStatus::Executed => None,
            ActionStatus::Failed { error } => Some(error.as_str()),
            _ => return,
        };
        crate::plan::refused::record(&mut self.snap.refusals, &r.action, error, at);
    }
}

/// Test hooks for the behaviour scenarios (`sim::behaviour_tests`), which
/// run one controller round at a time instead of the tick loop.
#[cfg(test)]
impl Slot {
    /// The clusters of `sc` as `run` starts them.
    pub(crate) fn all_for_test(sc: &Scenario) -> Vec<Slot> {
        build_slots(sc)
    }

    /// The environment reaches `t`: pending DDL takes effect.
    pub(crate) fn step_to_for_test(&mut self, sc: &Scenario, t: i64) {
        step_env(self, sc, t);
    }
}

#[cfg(test)]
impl<'a> SimBackend<'a> {
    /// The simulated database at `now_ms` over `slots` (`index`: cluster id
    /// → position in `slots`).
    pub(crate) fn for_test(
        sc: &'a Scenario,
        slots: &'a mut [Slot],
        index: &'a BTreeMap<ClusterId, usize>,
        now_ms: i64,
    ) -> Self {
        SimBackend {
            now_ms,
            start: sc.start,
            slots,
            index,
            sc,
            lookback: lookback_ms(sc),
            resize_timeout_ms: PlanOptions::default().resize_timeout.as_millis() as i64,
            effect_ms: now_ms + sc.controller.run_time_ms,
        }
    }
}
