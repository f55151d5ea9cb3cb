//! Strategies: each turns signals into changes of a cluster's desired replica
//! set. They run in priority order, each sees what the previous ones decided,
//! and each keeps its own slot of the cluster's state. Strategies never touch
//! a database and never read the clock: `now` comes in through `Ctx`.
//! Rules that hold across strategies (last hydrated replica, source replica)
//! are enforced by the coordinator in `plan`, not here.

mod burst;
mod config;
mod idle_suspend;
pub mod keys;
mod limits;
pub mod predict;
mod schedule;
mod shrink_to_fit;
mod slot;
mod stabilization;
mod target_size;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Cluster, Size, SizeCatalog};

pub use burst::{
    burst_name, burst_names, burst_replica, held_back as burst_held_back, BurstConfig,
};
pub use config::{given_twice, read_json, ConfigError};
pub use idle_suspend::{
    idle_evidence_s, recorded_interval_s, remembered, wakes_at_its_size, IdleSuspendConfig,
    Remembered, SuspendedReplica, FORGOTTEN_AS_STUCK, MIN_SAMPLE_RATE,
};
pub use limits::{at_once as at_once_under_limits, breach as limits_breach, Breach, LimitsConfig};
pub use schedule::ScheduleConfig;
pub use shrink_to_fit::ShrinkToFitConfig;
pub use slot::StateSlot;
pub use stabilization::StabilizationConfig;
pub use target_size::TargetSizeConfig;

/// The strategy types, in priority order (lowest runs first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    TargetSize,
    /// Replicas by the clock: cron windows in a timezone.
    Schedule,
    ShrinkToFit,
    Burst,
    IdleSuspend,
    /// Guard rails, applied after every strategy.
    Limits,
    /// Delays drops (and optionally creates) until wanted long enough.
    Stabilization,
}

impl StrategyKind {
    pub const ALL: [StrategyKind; 7] = [
        StrategyKind::TargetSize,
        StrategyKind::Schedule,
        StrategyKind::ShrinkToFit,
        StrategyKind::Burst,
        StrategyKind::IdleSuspend,
        StrategyKind::Limits,
        StrategyKind::Stabilization,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::TargetSize => "target_size",
            StrategyKind::Schedule => "schedule",
            StrategyKind::ShrinkToFit => "shrink_to_fit",
            StrategyKind::Burst => "burst",
            StrategyKind::IdleSuspend => "idle_suspend",
            StrategyKind::Limits => "limits",
            StrategyKind::Stabilization => "stabilization",
        }
    }

    /// Why a stored state slot cannot be read as this strategy's state
    /// (a plan then alerts and starts it afresh); `None` when it can, or
    /// holds nothing. The same parse as a plan's ([`StateSlot`]).
    pub fn state_error(self, slot: &serde_json::Value) -> Option<String> {
        fn check<S: for<'de> Deserialize<'de>>(slot: &serde_json::Value) -> Option<String> {
            let slot::Stored::<S>::Unreadable(e) = slot::Stored::read(Some(slot)) else {
                return None;
            };
            let e = e.to_string();
            // serde names the Rust type ("expected struct BurstState").
            Some(match e.find(", expected struct ") {
                Some(at) => format!("{}, expected an object", &e[..at]),
                None => e,
            })
        }
        match self {
            StrategyKind::TargetSize => check::<target_size::TargetSizeState>(slot),
            StrategyKind::Schedule => check::<schedule::ScheduleState>(slot),
            StrategyKind::ShrinkToFit => check::<shrink_to_fit::ShrinkToFitState>(slot),
            StrategyKind::Burst => check::<burst::BurstState>(slot),
            StrategyKind::IdleSuspend => check::<idle_suspend::IdleSuspendState>(slot),
            StrategyKind::Limits => check::<limits::LimitsState>(slot),
            StrategyKind::Stabilization => check::<stabilization::StabilizationState>(slot),
        }
    }

    pub fn parse(s: &str) -> Option<StrategyKind> {
        StrategyKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Same priorities as the reference implementation.
    pub fn priority(self) -> u8 {
        self as u8
    }

    pub fn names() -> String {
        StrategyKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Strategies that choose the replica size: two of them on one cluster
    /// undo each other, and neither sees replicas another strategy owns
    /// (the burst replica) when choosing.
    pub fn chooses_size(self) -> bool {
        matches!(
            self,
            StrategyKind::TargetSize | StrategyKind::Schedule | StrategyKind::ShrinkToFit
        )
    }

    /// Strategies that need replicas of several sizes at once, which a
    /// managed cluster (one size for all its replicas) cannot have.
    pub fn needs_mixed_sizes(self) -> bool {
        matches!(self, StrategyKind::Burst | StrategyKind::ShrinkToFit)
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated strategy configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "strategy_type", rename_all = "snake_case")]
pub enum StrategyConfig {
    TargetSize(TargetSizeConfig),
    Schedule(ScheduleConfig),
    ShrinkToFit(ShrinkToFitConfig),
    Burst(BurstConfig),
    IdleSuspend(IdleSuspendConfig),
    Limits(LimitsConfig),
    Stabilization(StabilizationConfig),
}

impl StrategyConfig {
    /// Validates a stored config against the offered sizes. Unknown keys are
    /// returned as warnings: the reference ignores them, so we do too.
    pub fn parse(
        kind: StrategyKind,
        raw: &serde_json::Value,
        sizes: &SizeCatalog,
    ) -> Result<(StrategyConfig, Vec<String>), ConfigError> {
        let obj = config::Obj::new(raw)?;
        match StrategyConfig::parse_obj(kind, &obj, sizes) {
            Ok(cfg) => Ok((cfg, obj.unknown_keys())),
            Err(mut first) => {
                first.more = StrategyConfig::further_errors(kind, raw, sizes, &first);
                Err(first)
            }
        }
    }

    /// The errors of a row's other keys: parsed again without each key
    /// found wrong (a required one given a valid stand-in of its kind),
    /// until it parses or the next error is about a key already seen. A
    /// key inside a window (`windows[0].duration_s`) is taken out alone, so
    /// the window's other wrong keys are said too (they were said only once
    /// the first was fixed); a whole element (`windows[0]`) as its top key.
    fn further_errors(
        kind: StrategyKind,
        raw: &serde_json::Value,
        sizes: &SizeCatalog,
        first: &ConfigError,
    ) -> Vec<ConfigError> {
        let mut root = raw.clone();
        if !root.is_object() {
            return Vec::new();
        }
        let parse = |root: &serde_json::Value| {
            config::Obj::new(root).and_then(|obj| StrategyConfig::parse_obj(kind, &obj, sizes))
        };
        let mut seen = BTreeSet::new();
        let mut more: Vec<ConfigError> = Vec::new();
        let mut key = first.key.clone();
        loop {
            let path = config::KeyPath::of(&key);
            let next = match path.nested_leaf() {
                Some(leaf) => {
                    // Inside an element: a valid stand-in in its place
                    // (taken out, an optional key's default could make
                    // another one required), out when there is none (an
                    // unknown key).
                    seen.insert(key.clone());
                    match keys::nested_stand_in(leaf, sizes) {
                        Some(v) => path.insert_into(&mut root, v),
                        None => {
                            path.remove_from(&mut root);
                        }
                    }
                    parse(&root)
                }
                None => {
                    let top = path.top().to_string();
                    if !seen.insert(top.clone()) || !path.remove_from(&mut root) {
                        break;
                    }
                    let mut next = parse(&root);
                    // Required (the error is about it again), or needed
                    // beside another the row does not give (a limits row
                    // with one key: taken out, the row was told it needs
                    // a key it had): a stand-in, so the rest can be read.
                    let needed =
                        |e: &ConfigError| e.top_key() == top || raw.get(e.top_key()).is_none();
                    if matches!(&next, Err(e) if needed(e)) {
                        let Some(stand_in) = keys::stand_in(kind, &top, sizes) else {
                            break;
                        };
                        path.insert_into(&mut root, stand_in);
                        next = parse(&root);
                    }
                    next
                }
            };
            match next {
                Err(e) if !seen.contains(&e.key) && !seen.contains(e.top_key()) => {
                    key = e.key.clone();
                    more.push(e);
                }
                _ => break,
            }
        }
        more
    }

    fn parse_obj(
        kind: StrategyKind,
        obj: &config::Obj,
        sizes: &SizeCatalog,
    ) -> Result<StrategyConfig, ConfigError> {
        Ok(match kind {
            StrategyKind::TargetSize => {
                StrategyConfig::TargetSize(TargetSizeConfig::parse(obj, sizes)?)
            }
            StrategyKind::Schedule => StrategyConfig::Schedule(ScheduleConfig::parse(obj, sizes)?),
            StrategyKind::ShrinkToFit => {
                StrategyConfig::ShrinkToFit(ShrinkToFitConfig::parse(obj, sizes)?)
            }
            StrategyKind::Burst => StrategyConfig::Burst(BurstConfig::parse(obj, sizes)?),
            StrategyKind::IdleSuspend => {
                StrategyConfig::IdleSuspend(IdleSuspendConfig::parse(obj)?)
            }
            StrategyKind::Limits => StrategyConfig::Limits(LimitsConfig::parse(obj)?),
            StrategyKind::Stabilization => {
                StrategyConfig::Stabilization(StabilizationConfig::parse(obj)?)
            }
        })
    }

    pub fn kind(&self) -> StrategyKind {
        match self {
            StrategyConfig::TargetSize(_) => StrategyKind::TargetSize,
            StrategyConfig::Schedule(_) => StrategyKind::Schedule,
            StrategyConfig::ShrinkToFit(_) => StrategyKind::ShrinkToFit,
            StrategyConfig::Burst(_) => StrategyKind::Burst,
            StrategyConfig::IdleSuspend(_) => StrategyKind::IdleSuspend,
            StrategyConfig::Limits(_) => StrategyKind::Limits,
            StrategyConfig::Stabilization(_) => StrategyKind::Stabilization,
        }
    }

    /// Whether this config accepts downtime to resize a managed cluster on
    /// a release without graceful resize (`allow_downtime`).
    pub fn allows_downtime(&self) -> bool {
        match self {
            StrategyConfig::TargetSize(c) => c.allow_downtime,
            StrategyConfig::Schedule(c) => c.allow_downtime,
            _ => false,
        }
    }

    /// The most replicas this config ever asks for at once (a schedule's
    /// largest window or default), where it fixes a count.
    pub fn most_replicas(&self) -> Option<u32> {
        match self {
            StrategyConfig::Schedule(c) => c
                .windows
                .iter()
                .map(|w| &w.shape)
                .chain(c.default.as_ref())
                .map(|s| s.replicas)
                .max(),
            _ => None,
        }
    }

    /// The sizes this config runs replicas of, each named as a key of its
    /// row: `target_size`'s, a schedule's windows' and default's, and
    /// `shrink_to_fit`'s largest (it starts every size up to it while it
    /// looks for the one that fits). What a burst would stand in for on a
    /// cold start ([`burst::held_back`]).
    pub fn sizes_run(&self) -> Vec<(String, &Size)> {
        match self {
            StrategyConfig::TargetSize(c) => vec![("target_size".into(), &c.target_size)],
            StrategyConfig::ShrinkToFit(c) => vec![(
                "shrink_to_fit's max_replica_size".into(),
                &c.max_replica_size,
            )],
            StrategyConfig::Schedule(c) => c
                .windows
                .iter()
                .enumerate()
                .filter_map(|(i, w)| {
                    Some((format!("schedule window {}", i + 1), w.shape.size.as_ref()?))
                })
                .chain(
                    c.default
                        .iter()
                        .filter_map(|d| Some(("schedule's default".to_string(), d.size.as_ref()?))),
                )
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A schedule's windows that never open again after `now` (1-based,
    /// with their cron): [`schedule::ended_windows`].
    pub fn ended_windows(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<(usize, &str)> {
        match self {
            StrategyConfig::Schedule(c) => schedule::ended_windows(c, now),
            _ => Vec::new(),
        }
    }

    /// The largest idle threshold this config waits for (sizes the activity lookback).
    pub fn idle_after_s(&self) -> Option<u64> {
        match self {
            StrategyConfig::IdleSuspend(c) => Some(c.idle_after_s),
            _ => None,
        }
    }

    /// A replica this strategy owns on the cluster (the burst replica): the
    /// strategies that choose the size do not see it, so they never retire
    /// it as "another size" while its owner still wants it.
    pub fn owned_replica<'c>(&self, ctx: &'c Ctx) -> Option<&'c str> {
        match self {
            StrategyConfig::Burst(_) => Some(ctx.burst.as_str()),
            _ => None,
        }
    }

    /// Days of statement history this config learns from (`idle_suspend`
    /// with `predict`); `None` when it does not predict.
    pub fn history_days(&self) -> Option<u64> {
        match self {
            StrategyConfig::IdleSuspend(c) => c.predict.as_ref().map(|p| p.history_days),
            _ => None,
        }
    }

    /// When this strategy may next decide differently with every other
    /// input (and its state slot) held still, in a way that is not monotone
    /// in time — a window opening or closing, a prewarm due; `None` for
    /// strategies that only react to signals or to thresholds being
    /// crossed. The plan carries the earliest (`next_decision_at`): the
    /// simulator plans again by then and `apply --watch` wakes up then.
    pub fn next_clock_change(&self, ctx: &Ctx, state: &mut StateSlot) -> Option<DateTime<Utc>> {
        match self {
            StrategyConfig::Schedule(c) => state.read(|st| schedule::next_change(c, ctx.now, st)),
            StrategyConfig::IdleSuspend(c) => {
                state.read(|st| idle_suspend::next_change(c, ctx, st))
            }
            _ => None,
        }
    }

    /// Whether new statements could change this strategy's decision before
    /// its next clock change (`next_clock_change`); otherwise more statements
    /// only make the cluster busier. The simulator replans on arrivals then.
    pub fn activity_sensitive(&self, ctx: &Ctx, state: &mut StateSlot) -> bool {
        match self {
            StrategyConfig::IdleSuspend(c) if c.predict.is_some() => {
                state.read(|st| idle_suspend::activity_sensitive(c, ctx, st))
            }
            _ => false,
        }
    }

    /// What a predicting strategy learned and expects; `None` for others.
    pub fn prediction(&self, ctx: &Ctx, state: &mut StateSlot) -> Option<predict::Prediction> {
        match self {
            StrategyConfig::IdleSuspend(c) if c.predict.is_some() => {
                state.read(|st| idle_suspend::prediction(c, ctx, st))
            }
            _ => None,
        }
    }

    /// Runs before every strategy's `decide` (in priority order): the place
    /// for decisions later strategies must see (idle_suspend's wake).
    pub fn prepare(&self, ctx: &Ctx, desired: &mut Desired, state: &mut StateSlot) {
        if let StrategyConfig::IdleSuspend(c) = self {
            if state.update_afresh(|s, fresh| idle_suspend::prepare(c, ctx, desired, s, fresh)) {
                unreadable_state(self.kind(), desired);
            }
        }
    }

    /// Once the plan's actions are known: `created` names the replicas
    /// they create. The state is written only when every action of the
    /// cluster ran (`exec::apply`), so those replicas are live by then, and
    /// idle_suspend's resume no longer lists them as due: one an operator
    /// drops before the next run is not created again.
    pub fn planned(&self, state: &mut StateSlot, created: &[&str]) {
        if let StrategyConfig::IdleSuspend(_) = self {
            // An unreadable slot was alerted on by `prepare`.
            state.update(|s| idle_suspend::planned(s, created));
        }
    }

    /// Runs the strategy: edits `desired`, updates its own state slot.
    pub fn decide(&self, ctx: &Ctx, desired: &mut Desired, state: &mut StateSlot) {
        let unreadable = match self {
            StrategyConfig::TargetSize(c) => {
                state.update(|s| target_size::decide(c, ctx, desired, s))
            }
            StrategyConfig::Schedule(c) => state.update(|s| schedule::decide(c, ctx, desired, s)),
            StrategyConfig::ShrinkToFit(c) => {
                state.update(|s| shrink_to_fit::decide(c, ctx, desired, s))
            }
            StrategyConfig::Burst(c) => state.update(|s| burst::decide(c, ctx, desired, s)),
            StrategyConfig::IdleSuspend(c) => {
                state.update(|s| idle_suspend::decide(c, ctx, desired, s))
            }
            StrategyConfig::Limits(c) => state.update(|s| limits::decide(c, ctx, desired, s)),
            StrategyConfig::Stabilization(c) => {
                state.update(|s| stabilization::decide(c, ctx, desired, s))
            }
        };
        if unreadable {
            unreadable_state(self.kind(), desired);
        }
    }
}

/// Materialize's limit on an identifier, bytes (reference §3).
pub const MAX_IDENT_BYTES: usize = 255;

/// The prefixes of the names Materialize reserves for its own objects: a
/// replica so named is refused (`replica name "mz_r" is reserved`; its
/// catalog's `is_reserved_name`, case-sensitive on the name as created).
pub const RESERVED_PREFIXES: [&str; 3] = ["mz_", "pg_", "external_"];

/// The reserved prefix `name` begins with, if any ([`RESERVED_PREFIXES`]).
pub fn reserved_prefix(name: &str) -> Option<&'static str> {
    RESERVED_PREFIXES.into_iter().find(|p| name.starts_with(p))
}

/// Why Materialize would refuse to create a replica named `name`, if it
/// would: the one rule for a configured `replica_name` and for a replica
/// a suspension remembers (`its name is …`).
pub fn refused_replica_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("its name is empty".into());
    }
    if name.len() > MAX_IDENT_BYTES {
        return Some(format!(
            "its name is {} bytes, over Materialize's limit of {MAX_IDENT_BYTES}",
            name.len()
        ));
    }
    let prefix = reserved_prefix(name)?;
    let [a, b, c] = RESERVED_PREFIXES;
    Some(format!(
        "its name begins with '{prefix}', which Materialize reserves for its own objects: \
         it refuses the replica (`replica name \"{name}\" is reserved`); choose a name that \
         does not begin with {a}, {b} or {c}"
    ))
}

/// The name of a replica a strategy derives from its cluster's name and a
/// suffix (`-burst`, `_200cc`). Within [`MAX_IDENT_BYTES`]: when the
/// cluster's name leaves no room for the suffix it is cut (at a character
/// boundary) and marked with a hash of the whole name, so the replica is
/// named the same on every run and two clusters sharing a long prefix get
/// different names.
pub fn derived_replica_name(cluster: &str, suffix: &str) -> String {
    if cluster.len() + suffix.len() <= MAX_IDENT_BYTES {
        return format!("{cluster}{suffix}");
    }
    let hash = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, cluster.as_bytes()).simple();
    let hash = &hash.to_string()[..8];
    let mut cut = MAX_IDENT_BYTES
        .saturating_sub(suffix.len() + hash.len() + 1)
        .min(cluster.len());
    while !cluster.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}{suffix}", &cluster[..cut])
}

/// The longest statement history any valid row waits for (the largest
/// `idle_after_s`), read with the strategy's own parser so `3600.0` counts
/// like `3600`; invalid rows are skipped here and reported by the planner.
/// Bounded by [`keys::MAX_SECONDS`], whatever the table holds.
pub fn longest_idle_after_s(rows: &[crate::model::StrategyRow]) -> u64 {
    let no_sizes = SizeCatalog::default();
    rows.iter()
        .filter(|r| StrategyKind::parse(&r.strategy_type) == Some(StrategyKind::IdleSuspend))
        .filter_map(|r| StrategyConfig::parse(StrategyKind::IdleSuspend, &r.config, &no_sizes).ok())
        .filter_map(|(cfg, _)| cfg.idle_after_s())
        .max()
        .unwrap_or(0)
}

/// Whether this cluster's `idle_suspend` may need its last suspension from
/// the audit trail this run (`idle_suspend::reads_the_trail`, the planner's
/// own test, on the cluster's state): no replica runs and its slot
/// remembers nothing to wake with (unless the trail was read for it with
/// nothing to recall since it last ran one), or its slot began afresh (a
/// wiped state) in an earlier run. `plan::reads_the_trail_for` asks it of
/// every cluster the plan would run `idle_suspend` for.
pub fn recalls_from_trail(cluster: &Cluster, state: Option<&serde_json::Value>) -> bool {
    let slot = state
        .and_then(|s| s.get(StrategyKind::IdleSuspend.as_str()))
        .unwrap_or(&serde_json::Value::Null);
    idle_suspend::reads_the_trail(cluster, &read_state(slot))
}

/// What a cluster's strategies learned of its workload, carried to the
/// cluster that takes over its rows (`strategy mv`, after a blue/green
/// swap), which would otherwise learn it all again: its state, holding
/// only that, and each strategy's part said (`shrink_to_fit: 100cc fits`).
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    pub state: serde_json::Value,
    pub what: Vec<String>,
}

/// [`Carried`] from a cluster's whole `state` (the object keyed by
/// strategy type), for the strategies of `kinds` (the rows that move) on a
/// cluster that is managed or not (`to_managed`): `shrink_to_fit`'s sizes
/// found to fit and too small, a predicting `idle_suspend`'s hydration
/// times and margin, a `schedule`'s hydration time. What belongs to the
/// old cluster's replicas (cooldowns, a suspension's replicas, a prewarm
/// under way) is not carried, nor any other strategy's state. `None` when nothing was learned (an unreadable
/// slot holds nothing).
pub fn carried(
    state: &serde_json::Value,
    kinds: &[StrategyKind],
    to_managed: bool,
) -> Option<Carried> {
    let mut slots = serde_json::Map::new();
    let mut what = Vec::new();
    for &kind in kinds {
        let Some(slot) = state.get(kind.as_str()) else {
            continue;
        };
        fn stored<S: Serialize>((st, said): (S, String)) -> Option<(serde_json::Value, String)> {
            Some((serde_json::to_value(st).ok()?, said))
        }
        let kept = match kind {
            StrategyKind::ShrinkToFit => shrink_to_fit::carried(&read_state(slot)).and_then(stored),
            StrategyKind::Schedule => schedule::carried(&read_state(slot)).and_then(stored),
            StrategyKind::IdleSuspend => {
                idle_suspend::carried(&read_state(slot), to_managed).and_then(stored)
            }
            _ => None,
        };
        if let Some((value, said)) = kept {
            slots.insert(kind.as_str().to_string(), value);
            what.push(format!("{kind}: {said}"));
        }
    }
    (!slots.is_empty()).then(|| Carried {
        state: serde_json::Value::Object(slots),
        what,
    })
}

/// The clusters whose valid rows learn their demand from the statement
/// history (`idle_suspend` with `predict`), and the most days any learns
/// from; `None` when none does (the snapshot then reads no history).
pub fn predicting_clusters(
    rows: &[crate::model::StrategyRow],
) -> Option<(u64, Vec<crate::model::ClusterId>)> {
    let no_sizes = SizeCatalog::default();
    let mut ids: Vec<crate::model::ClusterId> = Vec::new();
    let mut days = 0;
    for r in rows
        .iter()
        .filter(|r| StrategyKind::parse(&r.strategy_type) == Some(StrategyKind::IdleSuspend))
    {
        if let Some(d) = StrategyConfig::parse(StrategyKind::IdleSuspend, &r.config, &no_sizes)
            .ok()
            .and_then(|(cfg, _)| cfg.history_days())
        {
            days = days.max(d);
            ids.push(r.cluster_id.clone());
        }
    }
    ids.sort();
    ids.dedup();
    (!ids.is_empty()).then_some((days, ids))
}

/// A strategy's state slot, typed, read in place (no copy of the JSON). A
/// slot that does not parse (an older or foreign layout) starts fresh
/// rather than failing the cluster.
fn read_state<S: for<'de> Deserialize<'de> + Default>(slot: &serde_json::Value) -> S {
    S::deserialize(slot).unwrap_or_default()
}

/// Our state for a cluster mz-clusterctl's `idle_suspend` suspended, from
/// its state row's payload (`last_suspend.suspended_replicas`, each
/// `{"name", "size"}`, the name as its DROP spelled it, and its time, UTC
/// without a zone): `{"idle_suspend": {"suspended": …, "suspended_at": …}}`.
/// `None` when it suspended nothing we can bring back (no list, or no
/// replica with a size).
pub fn import_reference(payload: &serde_json::Value) -> Option<serde_json::Value> {
    let last = payload.get("last_suspend")?;
    let at = last
        .get("timestamp")
        .and_then(|t| t.as_str())
        .and_then(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|t| t.and_utc())
                })
        })?;
    let suspended: Vec<serde_json::Value> = last
        .get("suspended_replicas")?
        .as_array()?
        .iter()
        .filter_map(|r| {
            let name = r.get("name")?.as_str()?.trim();
            // Its DROP's last part: `"r1"` when it was quoted.
            let name = name
                .strip_prefix('"')
                .and_then(|n| n.strip_suffix('"'))
                .map_or(name.to_string(), |n| n.replace("\"\"", "\""));
            let size = r.get("size")?.as_str()?;
            (!name.is_empty() && !size.is_empty())
                .then(|| serde_json::json!({"name": name, "size": size}))
        })
        .collect();
    if suspended.is_empty() {
        return None;
    }
    Some(serde_json::json!({
        "idle_suspend": {
            "suspended": suspended,
            "suspended_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "from_reference": true,
        }
    }))
}

/// What a plan says when a strategy's state could not be read.
fn unreadable_state(kind: StrategyKind, desired: &mut Desired) {
    desired.alert(
        kind,
        "its saved state could not be read (edited by hand, or another tool's layout): it starts \
         afresh; cooldowns, a suspension's replicas and learned sizes are forgotten",
    );
}

/// How long a cluster has gone without queries, as far as we can tell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "seconds", rename_all = "snake_case")]
pub enum Idle {
    /// Statements are running or waiting right now.
    Busy,
    /// Idle for this many seconds (measured from the last statement begin, or
    /// from when the controller first saw the cluster).
    For(f64),
    /// The statement log has no data at all: idleness cannot be judged.
    Unknown,
}

/// What a strategy may look at.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub cluster: &'a Cluster,
    pub sizes: &'a SizeCatalog,
    pub now: DateTime<Utc>,
    pub idle: Idle,
    /// The statement log's sample rate (`None`: not known, taken as complete).
    pub sample_rate: Option<f64>,
    /// The cluster's learned demand profile, for strategies that predict
    /// (`None`: no statement history was read, or it was unreadable).
    pub profile: Option<&'a predict::Profile>,
    /// How often the controller runs (a wake may come one interval late).
    pub interval_s: u64,
    /// The preparations made from `profile` during this plan.
    pub prepared: predict::forecast::Prepared,
    /// When `idle` counts from because the statement log works but has no
    /// statement of the cluster in its lookback: the controller's first
    /// sight of it, or earlier where a replica ran through the log's
    /// silence (`plan::coordinate::silent_since`).
    pub idle_since_seen: Option<DateTime<Utc>>,
    /// What the audit trail shows of the cluster's last suspension by this
    /// controller (`None`: none, or the trail was not read).
    pub last_suspension: Option<&'a crate::model::LastSuspension>,
    /// The audit trail's last suspensions were read for this plan
    /// (`Snapshot::suspensions_read`).
    pub trail_read: bool,
    /// Materialize's `max_replicas_per_cluster` (`None`: not known).
    pub replica_limit: Option<u32>,
    /// The cluster's burst replica ([`burst_replica`]), whether or not it
    /// runs: `burst` retires it, the others leave it alone.
    pub burst: String,
    /// DROPs of the cluster's replicas that got no answer in time (a run
    /// gave up on them, or a retry ran them after an attempt without
    /// one) in the audit trail's last day, or whose outcome was never
    /// recorded: `(replica, when its intent was written)`. Any of them may
    /// have reached the server late, after the replica was made again
    /// (`Snapshot::unfinished`; idle_suspend wakes again when a wake's
    /// replicas vanish so).
    pub late_drops: Vec<crate::model::SentDrop>,
    /// The `--schema` our tables were read from (`Environment::schema`): a
    /// fix said names it.
    pub schema: Option<&'a str>,
    /// A strategy of the cluster chooses its size (`StrategyKind::
    /// chooses_size`): a managed wake whose remembered size can no longer
    /// be made still wakes, at the size that strategy chooses (kept
    /// suspended, it stayed so under its users though a `target_size` row
    /// chose an offered size: an outside check).
    pub size_chosen: bool,
}

impl Ctx<'_> {
    pub fn hydrated(&self, replica: &str) -> bool {
        self.cluster.replica(replica).is_some_and(|r| r.hydrated)
    }

    /// The stuck rule, every strategy's: how long `r` has hydrated, when
    /// that is four expected hydrations and ten minutes or more (it is
    /// most likely stuck: not hydrated, not crashing); `None` otherwise.
    /// `expected_s`: the cluster's learned hydration (predictive
    /// `idle_suspend`), else [`predict::hydration::DEFAULT_S`] (50 minutes
    /// then). `timed_s`: how long the strategy that asked for it has timed
    /// it, else counted since the catalog shows it (a replica made by
    /// hand or by another strategy); unknown, not given up.
    pub fn stuck_for(
        &self,
        r: &crate::model::Replica,
        expected_s: Option<i64>,
        timed_s: Option<i64>,
    ) -> Option<i64> {
        if r.hydrated || r.crash.crashes > 0 {
            return None;
        }
        let expected = expected_s.unwrap_or(i64::from(predict::hydration::DEFAULT_S));
        timed_s
            .or_else(|| r.since.map(|t| (self.now - t).num_seconds().max(0)))
            .filter(|s| *s >= 4 * expected + 600)
    }

    /// Hydrated, and neither crash looping nor offline lately
    /// ([`Replica::unproven`]): a replica to retire others for. The one
    /// rule of every strategy that retires replicas once a new one serves
    /// (`target_size`, `schedule`, `burst`, `shrink_to_fit`).
    ///
    /// [`Replica::unproven`]: crate::model::Replica::unproven
    pub fn proven(&self, replica: &str) -> bool {
        self.cluster
            .replica(replica)
            .is_some_and(|r| r.hydrated && !r.unproven(self.now))
    }

    /// The first of `names` that is live and not [`Ctx::proven`] for a
    /// kill or a loop, why, with until when `staying` stays
    /// ([`Replica::why_unproven`]), and in how many seconds, when known
    /// ([`Replica::proven_in`]): what every strategy that holds a
    /// retirement back for it says.
    ///
    /// [`Replica::why_unproven`]: crate::model::Replica::why_unproven
    /// [`Replica::proven_in`]: crate::model::Replica::proven_in
    pub fn why_unproven<'a>(
        &self,
        names: impl IntoIterator<Item = &'a String>,
        staying: &str,
    ) -> Option<(&'a str, String, Option<u64>)> {
        names.into_iter().find_map(|n| {
            let r = self.cluster.replica(n)?;
            let why = r.why_unproven(self.now, staying)?;
            Some((n.as_str(), why, r.proven_in(self.now)))
        })
    }

    /// How many replicas can be created before any is dropped
    /// ([`Cluster::room_for_creates`]).
    pub fn room_for_creates(&self) -> Option<usize> {
        self.cluster.room_for_creates(self.replica_limit)
    }

    /// Statements are waiting and no replica can serve them: waking the
    /// cluster bypasses every cooldown.
    pub fn demand_waiting(&self) -> bool {
        self.cluster.demand_waiting()
    }
}

/// Who changed a replica, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub strategy: StrategyKind,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredReplica {
    pub size: Size,
    /// Set when a strategy added (or re-added) it in this round.
    pub added_by: Option<Change>,
}

/// A replica created or dropped, as held-back work says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaStep {
    Create,
    Drop,
}

impl ReplicaStep {
    /// `create r1 (800cc)`, `drop c-burst (800cc)`: a held-back change of
    /// replica `name`, in one form for every strategy and limit (status's
    /// REASON, describe's and the plan's waiting lines); without the size
    /// where it is not known.
    pub fn of(self, name: &str, size: Option<&Size>) -> String {
        let verb = match self {
            ReplicaStep::Create => "create",
            ReplicaStep::Drop => "drop",
        };
        match size {
            Some(size) => format!("{verb} {name} ({size})"),
            None => format!("{verb} {name}"),
        }
    }
}

/// A change a strategy wants but holds back this round, and when it will
/// happen (`dry-run` reports such a cluster as waiting, `describe` lists it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deferred {
    /// The strategy holding it back; `None` for a fact (a replica hydrating).
    pub strategy: Option<StrategyKind>,
    /// What will happen: `drop r1`, `create r_50cc`.
    pub action: String,
    pub reason: String,
    /// Seconds until it is due, when known.
    pub in_seconds: Option<u64>,
    /// Held back by a limit: only [`Self::limited_create`] sets it.
    #[serde(skip)]
    pub limit: bool,
    /// Held back because the server refused it run after run (the refusal
    /// backoff, `plan::refused`): `status` says `Limited`, with it, before
    /// any other wait (a refused burst said `Hydrating`: an outside check).
    #[serde(skip)]
    pub refused: bool,
}

impl Deferred {
    /// A create a limit holds back (`strategy`: the `limits` row, or `None`
    /// for Materialize's `max_replicas_per_cluster`): due at no known time,
    /// [`Self::held_by_limit`].
    pub fn limited_create(
        strategy: Option<StrategyKind>,
        name: &str,
        size: &Size,
        why: String,
    ) -> Deferred {
        Deferred {
            strategy,
            ..Deferred::limited(ReplicaStep::Create.of(name, Some(size)), why)
        }
    }

    /// Any action a limit holds back (`action`: `create r1 (800cc)`,
    /// `resize to 800cc`): Materialize's region-wide
    /// `max_credit_consumption_rate`, which no strategy row sets.
    pub fn limited(action: String, why: String) -> Deferred {
        Deferred {
            strategy: None,
            action,
            reason: why,
            in_seconds: None,
            limit: true,
            refused: false,
        }
    }

    /// Held back by a limit ([`Self::limited_create`]): only a change of
    /// the limit or of the other replicas lets it through (facts such as a
    /// hydration say `hydrate`, an interrupted run's held actions have a
    /// deadline).
    pub fn held_by_limit(&self) -> bool {
        self.limit
    }
}

/// A replica name as `(stem, number)` for ordering: `r_50cc_12` is
/// `("r_50cc", 12)`, `r_50cc` is `("r_50cc", 1)` (as
/// `schedule::replica_name` numbers them), so 10 sorts after 9.
fn numbered(name: &str) -> (&str, u64) {
    match name.rsplit_once('_') {
        Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (stem, n.parse().unwrap_or(u64::MAX))
        }
        _ => (name, 1),
    }
}

/// The replica set the strategies want, by name. Starts as the live set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Desired {
    pub replicas: BTreeMap<String, DesiredReplica>,
    /// Live replicas a strategy removed, with the reason.
    pub removed: BTreeMap<String, Change>,
    /// Set by a strategy that empties the cluster on purpose.
    pub suspending: Option<Change>,
    /// Decisions that changed nothing but an operator should see.
    pub notes: Vec<String>,
    /// Changes held back this round, with when they are due.
    pub deferred: Vec<Deferred>,
    /// Conditions an operator must act on (shown without -v, counted in metrics).
    pub alerts: Vec<String>,
    /// Live replicas removed deliberately even if one is the last hydrated
    /// replica (a burst that gave up): the coordinator does not keep them.
    pub given_up: std::collections::BTreeSet<String>,
    /// Set while the cluster is warmed ahead of predicted demand and no
    /// user waits yet (why): `burst` then starts no burst replica.
    pub prewarming: Option<String>,
    /// A strategy wants no replica now, on purpose (a schedule's window
    /// of zero), whether or not one runs: `idle_suspend` does not take the
    /// empty cluster for one whose memory was lost.
    pub held_empty: Option<Change>,
    /// Replicas kept only until the size that replaces them hydrates
    /// ([`Self::outgoing_other_sizes`]): nothing waits for them to hydrate.
    pub outgoing: std::collections::BTreeSet<String>,
    /// Replicas an earlier strategy of this round wanted created that a
    /// later one replaced by another size
    /// ([`Self::drop_unborn_other_sizes`]), with their size and the earlier
    /// strategy's change: a wake that a resize takes over is still the
    /// wake's in the plan and the audit trail (it was credited to the
    /// resize alone).
    pub superseded: BTreeMap<String, Superseded>,
}

/// A replica an earlier strategy of the round wanted created, replaced by
/// another size ([`Desired::superseded`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Superseded {
    pub size: Size,
    /// The earlier strategy's change (a wake's).
    pub wanted: Change,
    /// The strategy whose size replaced it: its create alone says so.
    pub by: StrategyKind,
}

impl Desired {
    pub fn from_cluster(cluster: &Cluster) -> Desired {
        let replicas = cluster
            .replicas
            .iter()
            .filter(|r| !r.is_temporary())
            .filter_map(|r| {
                let size = r.size.clone()?;
                Some((
                    r.name.clone(),
                    DesiredReplica {
                        size,
                        added_by: None,
                    },
                ))
            })
            .collect();
        Desired {
            replicas,
            ..Desired::default()
        }
    }

    pub fn add(&mut self, name: &str, size: &Size, strategy: StrategyKind, reason: String) {
        self.removed.remove(name);
        self.outgoing.remove(name);
        let change = Change { strategy, reason };
        self.replicas.insert(
            name.to_string(),
            DesiredReplica {
                size: size.clone(),
                added_by: Some(change),
            },
        );
    }

    pub fn remove(&mut self, name: &str, strategy: StrategyKind, reason: String) {
        if self.replicas.remove(name).is_some() {
            self.removed
                .insert(name.to_string(), Change { strategy, reason });
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.replicas.contains_key(name)
    }

    pub fn has_size(&self, size: &Size) -> bool {
        self.replicas.values().any(|r| &r.size == size)
    }

    /// Materialize's `max_replicas_per_cluster` leaves no room for a
    /// replica of `size` the strategy `kind` wants (creates run before
    /// drops): one replica of another size is retired first, while at
    /// least one other hydrated replica keeps serving, and the create
    /// follows on the next run. Without that the cluster waited for good
    /// ("once others are gone", which nothing made happen): `target_size`
    /// did, then `schedule` (an outside check). `true` when it retired one.
    pub fn make_room(&mut self, ctx: &Ctx, size: &Size, kind: StrategyKind) -> bool {
        if ctx.room_for_creates() != Some(0) {
            return false;
        }
        let others: Vec<(String, bool, bool)> = self
            .replicas
            .iter()
            .filter(|(n, r)| &r.size != size && ctx.cluster.replica(n).is_some())
            .map(|(n, _)| (n.clone(), ctx.hydrated(n), ctx.proven(n)))
            .collect();
        let serving = others.iter().filter(|(_, h, _)| *h).count();
        let proven = others.iter().filter(|(_, _, p)| *p).count();
        // A replica that does not serve goes first; then one that serves
        // but is not to be relied on (crash looping, killed lately) while
        // another serves on; a proven one only when another proven one
        // serves on. The last by name went whatever its health: a healthy
        // replica was retired beside a crash-looping one, which then left
        // nothing serving (an outside check).
        let pick = others
            .iter()
            .rev()
            .find(|(_, h, _)| !h)
            .or_else(|| {
                others
                    .iter()
                    .rev()
                    .find(|(_, h, p)| *h && !p)
                    .filter(|_| serving >= 2)
            })
            .or_else(|| {
                others
                    .iter()
                    .rev()
                    .find(|(_, _, p)| *p)
                    .filter(|_| proven >= 2)
            });
        let Some((name, hydrated, reliable)) = pick.cloned() else {
            return false;
        };
        // Who serves meanwhile, as it is: "the others serve" was said of a
        // cluster whose only replica was hydrating (an outside check).
        let meanwhile = match (hydrated, serving) {
            (true, _) if !reliable => {
                "it is not to be relied on (crash looping, or killed lately); the others serve \
                 meanwhile"
                    .to_string()
            }
            (true, _) => "the others serve meanwhile".to_string(),
            (false, 0) => format!(
                "it does not serve yet, and nothing else does until the {size} replica is \
                 hydrated"
            ),
            (false, _) => "it does not serve yet; the others serve meanwhile".to_string(),
        };
        self.remove(
            &name,
            kind,
            format!(
                "max_replicas_per_cluster leaves no room for a {size} replica: retiring {name} \
                 first: {meanwhile}"
            ),
        );
        self.defer(
            kind,
            format!("create a {size} replica"),
            format!("once {name} is gone (max_replicas_per_cluster)"),
            None,
        );
        true
    }

    pub fn names(&self) -> Vec<String> {
        self.replicas.keys().cloned().collect()
    }

    pub fn note(&mut self, strategy: StrategyKind, text: impl Into<String>) {
        self.notes.push(format!("{strategy}: {}", text.into()));
    }

    /// Records a change held back this round and when it is due.
    pub fn defer(
        &mut self,
        strategy: StrategyKind,
        action: String,
        reason: String,
        in_seconds: Option<u64>,
    ) {
        self.deferred.push(Deferred {
            strategy: Some(strategy),
            action,
            reason,
            in_seconds,
            limit: false,
            refused: false,
        });
    }

    /// Drops replicas of other sizes that an earlier phase of this round
    /// wanted to create (e.g. idle_suspend waking the cluster with what it
    /// ran before): creating them only to retire them later is waste.
    pub fn drop_unborn_other_sizes(
        &mut self,
        cluster: &Cluster,
        size: &Size,
        strategy: StrategyKind,
    ) {
        let unborn: Vec<(String, Size, Option<Change>)> = self
            .replicas
            .iter()
            .filter(|(n, r)| {
                &r.size != size && r.added_by.is_some() && cluster.replica(n).is_none()
            })
            .map(|(n, r)| {
                let earlier = r.added_by.clone().filter(|c| c.strategy != strategy);
                (n.clone(), r.size.clone(), earlier)
            })
            .collect();
        for (name, other, earlier) in unborn {
            if let Some(wanted) = earlier {
                self.superseded.insert(
                    name.clone(),
                    Superseded {
                        size: other.clone(),
                        wanted,
                        by: strategy,
                    },
                );
            }
            self.remove(
                &name,
                strategy,
                format!("not creating {name} ({other}): the size wanted is {size}"),
            );
        }
    }

    /// What the replicas this round replaced were wanted for
    /// ([`Self::superseded`]), for a create by `strategy`, the one that
    /// replaced them (a burst beside it replaced nothing):
    /// `instead of r1 (25cc) that idle_suspend wanted: resume after …`.
    pub fn superseded_reasons(&self, strategy: StrategyKind) -> Vec<String> {
        self.superseded
            .iter()
            .filter(|(_, s)| s.by == strategy)
            .map(|(name, s)| {
                format!(
                    "instead of {name} ({}) that {} wanted: {}",
                    s.size, s.wanted.strategy, s.wanted.reason
                )
            })
            .collect()
    }

    /// The replicas not of `size` are kept only until the `size` ones
    /// hydrate (a zero-downtime resize): the plan waits for those, not for
    /// an old size still hydrating (it said "waiting: hydrate r_50cc" after
    /// the target moved on from 50cc).
    pub fn outgoing_other_sizes(&mut self, size: &Size) {
        let other = self.replicas.iter().filter(|(_, r)| &r.size != size);
        self.outgoing.extend(other.map(|(n, _)| n.clone()));
    }

    /// The replicas of another size than `size`: what a change to `size`
    /// retires once its replicas serve.
    pub fn other_sizes(&self, size: &Size) -> Vec<(String, Size)> {
        self.replicas
            .iter()
            .filter(|(_, r)| &r.size != size)
            .map(|(n, r)| (n.clone(), r.size.clone()))
            .collect()
    }

    /// The retirement of `others` held back until the replica replacing
    /// them has served long enough ([`Ctx::why_unproven`]: `why`, due in
    /// `in_seconds`): waiting work with its time, not a note (the cluster
    /// is not converged, and a plan minutes later drops them).
    pub fn hold_retirements(
        &mut self,
        strategy: StrategyKind,
        others: &[(String, Size)],
        why: &str,
        in_seconds: Option<u64>,
    ) {
        for (name, size) in others {
            self.defer(
                strategy,
                ReplicaStep::Drop.of(name, Some(size)),
                why.to_string(),
                in_seconds,
            );
        }
    }

    /// `action` held back by the strategy's `cooldown_s` for `left` more
    /// seconds: waiting work, due when the cooldown ends.
    pub fn defer_for_cooldown(
        &mut self,
        strategy: StrategyKind,
        action: String,
        cooldown_s: u64,
        left: i64,
    ) {
        let why = format!(
            "cooldown_s {cooldown_s}: the last change was {}s ago",
            cooldown_s as i64 - left
        );
        self.defer(strategy, action, why, Some(left.max(0) as u64));
    }

    /// Removes a live replica on purpose, exempt from the last-hydrated rule.
    pub fn give_up(&mut self, name: &str, strategy: StrategyKind, reason: String) {
        self.remove(name, strategy, reason);
        self.given_up.insert(name.to_string());
    }

    pub fn alert(&mut self, strategy: StrategyKind, text: impl Into<String>) {
        self.alerts.push(format!("{strategy}: {}", text.into()));
    }

    /// Takes back replicas this round wanted to create, most expensive
    /// first (`cheapest_first`: the cheapest), while `over` says the set is
    /// beyond a limit (and why). The largest size a `shrink_to_fit` probe
    /// wants is cut last either way, unless the set is beyond the limit
    /// without any other addition: it is the one that serves if any does
    /// (and hydrates soonest), so a probe cut to its cheapest sizes would
    /// keep users waiting for them to fail; the sizes cut are probed later
    /// ([`shrink_to_fit`]). Live replicas are never touched. Returns what
    /// was cut, with the reason. The one mechanism behind `limits` and
    /// Materialize's own limit.
    pub fn cut_additions(
        &mut self,
        cluster: &Cluster,
        sizes: &SizeCatalog,
        cheapest_first: bool,
        mut over: impl FnMut(&Desired) -> Option<String>,
    ) -> Vec<(String, Size, String)> {
        let mut added: Vec<(String, Size, f64)> = self
            .replicas
            .iter()
            .filter(|(n, r)| r.added_by.is_some() && cluster.replica(n).is_none())
            .map(|(n, r)| (n.clone(), r.size.clone(), sizes.credits(&r.size)))
            .collect();
        added.sort_by(|a, b| {
            let by_cost = b.2.total_cmp(&a.2);
            if cheapest_first {
                by_cost.reverse()
            } else {
                by_cost
            }
            // Among equals, the highest numbered first: `r_50cc_10` before
            // `r_50cc_9`, and `r_50cc` (the first) last.
            .then_with(|| numbered(&b.0).cmp(&numbered(&a.0)))
        });
        let probe_largest = self
            .replicas
            .iter()
            .filter(|(n, r)| {
                cluster.replica(n).is_none()
                    && r.added_by
                        .as_ref()
                        .is_some_and(|c| c.strategy == StrategyKind::ShrinkToFit)
            })
            .max_by_key(|(_, r)| sizes.rank(&r.size))
            .map(|(n, _)| n.clone());
        if let Some(i) = added
            .iter()
            .position(|a| Some(&a.0) == probe_largest.as_ref())
        {
            // Cut last, unless cutting everything else does not bring the
            // set within the limit: then by cost alone.
            let mut protected = added.clone();
            let last = protected.remove(i);
            protected.push(last);
            let mut trial = self.clone();
            let cut = trial.cut_in_order(protected, &mut over);
            if cut
                .iter()
                .all(|(n, _, _)| Some(n) != probe_largest.as_ref())
            {
                *self = trial;
                return cut;
            }
        }
        self.cut_in_order(added, &mut over)
    }

    fn cut_in_order(
        &mut self,
        order: Vec<(String, Size, f64)>,
        over: &mut impl FnMut(&Desired) -> Option<String>,
    ) -> Vec<(String, Size, String)> {
        let mut cut = Vec::new();
        for (name, size, _) in order {
            let Some(why) = over(self) else {
                break;
            };
            self.replicas.remove(&name);
            cut.push((name, size, why));
        }
        cut
    }
}

/// Seconds elapsed since a stored timestamp, for cooldowns.
pub(crate) fn cooldown_left(
    last: Option<DateTime<Utc>>,
    cooldown_s: u64,
    now: DateTime<Utc>,
) -> Option<i64> {
    let last = last?;
    let left = cooldown_s as i64 - (now - last).num_seconds();
    (left > 0).then_some(left)
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Builders for strategy unit tests.
    use super::*;
    use crate::model::{Activity, ClusterId, CrashInfo, Replica};

    pub fn sizes() -> SizeCatalog {
        SizeCatalog::cloud_defaults()
    }

    /// Held-back work as tests compare it: (action, reason, due in).
    pub fn waiting(list: &[Deferred]) -> Vec<(&str, &str, Option<u64>)> {
        list.iter()
            .map(|w| (w.action.as_str(), w.reason.as_str(), w.in_seconds))
            .collect()
    }

    /// Held-back work as tests compare it when the reason does not
    /// matter: (action, due in).
    pub fn due(list: &[Deferred]) -> Vec<(&str, Option<u64>)> {
        list.iter()
            .map(|w| (w.action.as_str(), w.in_seconds))
            .collect()
    }

    pub fn replica(name: &str, size: &str, hydrated: bool) -> Replica {
        Replica {
            id: format!("u{}", 100 + name.len()),
            name: name.to_string(),
            size: Some(Size(size.to_string())),
            hydrated,
            crash: CrashInfo::default(),
            owner_id: None,
            since: None,
            objects: None,
            offline: false,
        }
    }

    pub fn ooming(mut r: Replica, ooms: u32) -> Replica {
        r.crash = CrashInfo {
            crashes: ooms,
            ooms,
            last_crash: None,
            first_crash: None,
            last_offline: None,
        };
        r
    }

    /// `r` OOM-killed once, `mins` minutes before [`now`].
    pub fn killed_ago(r: Replica, mins: i64) -> Replica {
        killed_before(r, now(), mins)
    }

    /// `r` OOM-killed once, `mins` minutes before `at`.
    pub fn killed_before(r: Replica, at: DateTime<Utc>, mins: i64) -> Replica {
        let mut r = ooming(r, 1);
        r.crash.last_crash = Some(at - chrono::TimeDelta::minutes(mins));
        r.crash.first_crash = r.crash.last_crash;
        r
    }

    pub fn cluster(name: &str, replicas: Vec<Replica>) -> Cluster {
        let replicas = replicas
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.id = format!("u{}", 10 + i);
                r
            })
            .collect();
        Cluster {
            replicas,
            ..Cluster::empty(ClusterId("u9".into()), name)
        }
    }

    /// Runs `f` (typically one strategy's `decide`) on `cl` as of `at`,
    /// starting from the live replica set; returns the desired set.
    pub fn decide_in(
        cl: &Cluster,
        idle: Idle,
        at: DateTime<Utc>,
        f: impl FnOnce(&Ctx, &mut Desired),
    ) -> Desired {
        decide_with(cl, idle, at, None, f)
    }

    /// [`decide_in`] with a demand profile (predictive strategies).
    pub fn decide_with(
        cl: &Cluster,
        idle: Idle,
        at: DateTime<Utc>,
        profile: Option<&predict::Profile>,
        f: impl FnOnce(&Ctx, &mut Desired),
    ) -> Desired {
        // The statement log says what `idle` says, as the planner derives
        // one from the other (`plan::coordinate::idle_of`), unless the
        // test gave the cluster an activity of its own.
        let logged;
        let cl = if cl.activity == Activity::default() {
            let mut with = cl.clone();
            match idle {
                Idle::Busy => with.activity.in_flight = 1,
                Idle::For(s) => {
                    with.activity.last_begin =
                        Some(at - chrono::Duration::milliseconds((s * 1000.0) as i64))
                }
                Idle::Unknown => {}
            }
            logged = with;
            &logged
        } else {
            cl
        };
        decide_unlogged(cl, idle, at, profile, None, f)
    }

    /// [`decide_with`] for a cluster the statement log never mentions:
    /// `idle` is counted from `since_seen`, the controller's first sight
    /// of it (`None`: as given, with the cluster's own activity).
    pub fn decide_unlogged(
        cl: &Cluster,
        idle: Idle,
        at: DateTime<Utc>,
        profile: Option<&predict::Profile>,
        since_seen: Option<DateTime<Utc>>,
        f: impl FnOnce(&Ctx, &mut Desired),
    ) -> Desired {
        let sizes = sizes();
        let ctx = Ctx {
            cluster: cl,
            sizes: &sizes,
            now: at,
            idle,
            sample_rate: None,
            profile,
            interval_s: 60,
            prepared: Default::default(),
            idle_since_seen: since_seen,
            last_suspension: None,
            trail_read: false,
            replica_limit: None,
            burst: burst_name(&cl.name),
            late_drops: Vec::new(),
            schema: None,
            size_chosen: false,
        };
        let mut d = Desired::from_cluster(cl);
        f(&ctx, &mut d);
        d
    }

    pub fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod state_errors {
    use super::*;

    #[test]
    fn a_slot_that_does_not_parse_says_why_without_rust_type_names() {
        let kind = StrategyKind::Burst;
        assert_eq!(kind.state_error(&serde_json::Value::Null), None);
        assert_eq!(kind.state_error(&serde_json::json!({})), None);
        let why = kind.state_error(&serde_json::json!(17)).unwrap_or_default();
        assert_eq!(why, "invalid type: integer `17`, expected an object");
        let why = kind
            .state_error(&serde_json::json!({"burst_since": 42}))
            .unwrap_or_default();
        assert!(why.starts_with("invalid type: integer `42`"), "{why}");
        for k in StrategyKind::ALL {
            assert!(k.state_error(&serde_json::json!("x")).is_some(), "{k:?}");
        }
    }
}

#[cfg(test)]
mod carried_state {
    use super::*;
    use serde_json::json;

    /// A state as earlier runs wrote it: knowledge of the workload beside
    /// what belongs to the cluster's replicas.
    fn learned() -> serde_json::Value {
        json!({
            "shrink_to_fit": {"fits": "100cc", "last_decision_ts": "2026-11-30T08:00:00Z"},
            "idle_suspend": {
                "suspended": [{"name": "r1", "size": "100cc"}],
                "suspended_at": "2026-11-30T18:00:00Z",
                "predict": {
                    "hydrations": {
                        "pending": {"r1": {"size": "100cc", "since": "2026-11-30T07:00:00Z"}},
                        "by_size": {"100cc": [420], "25cc": []}
                    },
                    "margin_s": 59.6,
                    "miss_since": "2026-11-30T08:00:00Z",
                    "began": "2026-11-30T08:01:00Z",
                    "hits": 9,
                    "misses": 2,
                    "interval_s": 60
                }
            },
            "burst": {"cooldown_until": "2026-11-30T08:00:00Z"},
            "schedule": {
                "pending": {"r_100cc": {"size": "100cc", "requested_at": "2026-11-30T07:00:00Z"}},
                "runs": [{"replica": "r_100cc", "size": "100cc",
                          "requested_at": "2026-11-29T07:00:00Z",
                          "hydrated_at": "2026-11-29T07:11:00Z"}],
                "hydration_s": 660.0
            }
        })
    }

    #[test]
    fn the_moved_strategies_carry_what_they_learned_and_no_replica_of_theirs() {
        let kinds = [
            StrategyKind::IdleSuspend,
            StrategyKind::ShrinkToFit,
            StrategyKind::Burst,
        ];
        let c = carried(&learned(), &kinds, false).expect("something was learned");
        assert_eq!(
            c.what,
            [
                "idle_suspend: hydration times of 100cc (1 sample) and a margin of 1m",
                "shrink_to_fit: 100cc fits",
            ]
        );
        assert_eq!(
            c.state,
            json!({
                "shrink_to_fit": {"too_small": null, "too_small_at": null, "fits": "100cc",
                                  "last_decision_ts": null},
                "idle_suspend": {
                    "suspended": [], "suspended_at": null, "resumed_at": null,
                    "predict": {
                        "hydrations": {"by_size": {"100cc": [420]}}, "margin_s": 59.6,
                        "miss_since": null, "miss_predicted": false, "scored": null,
                        "hits": 9, "misses": 2, "interval_s": 60
                    },
                    "check_trail": true
                }
            })
        );
        // What the carried slots hold is read back as the strategies' state.
        for kind in [StrategyKind::IdleSuspend, StrategyKind::ShrinkToFit] {
            assert_eq!(kind.state_error(&c.state[kind.as_str()]), None, "{kind}");
        }
        // A managed destination is suspended in one statement: its slot does
        // not read the trail.
        let managed = carried(&learned(), &kinds, true).expect("something was learned");
        assert_eq!(managed.state["idle_suspend"]["check_trail"], json!(null));
    }

    #[test]
    fn a_schedule_carries_its_hydration_time_not_the_replicas_it_waits_on() {
        let c = carried(&learned(), &[StrategyKind::Schedule], false).expect("it learned");
        assert_eq!(c.what, ["schedule: a hydration time of 11m (1 hydration)"]);
        assert_eq!(
            c.state,
            json!({"schedule": {
                "pending": {},
                "runs": [{"replica": "r_100cc", "size": "100cc",
                          "requested_at": "2026-11-29T07:00:00Z",
                          "hydrated_at": "2026-11-29T07:11:00Z"}],
                "hydration_s": 660.0
            }})
        );
        assert_eq!(
            StrategyKind::Schedule.state_error(&c.state["schedule"]),
            None
        );
        let never = json!({"schedule": {"pending": {}, "runs": []}});
        assert_eq!(carried(&never, &[StrategyKind::Schedule], false), None);
        // A time no hydration takes (written by hand) is not carried.
        let negative = json!({"schedule": {"runs": [], "hydration_s": -5.0}});
        assert_eq!(carried(&negative, &[StrategyKind::Schedule], false), None);
    }

    #[test]
    fn only_the_moved_strategies_and_what_they_learned_are_carried() {
        let state = learned();
        let only = carried(&state, &[StrategyKind::ShrinkToFit], false).expect("it learned");
        assert_eq!(only.what, ["shrink_to_fit: 100cc fits"]);
        assert!(only.state.get("idle_suspend").is_none(), "{}", only.state);
        assert_eq!(
            carried(
                &state,
                &[StrategyKind::Burst, StrategyKind::TargetSize],
                false
            ),
            None
        );
        // Nothing learned: a slot unreadable, without a prediction, or whose
        // sizes have no sample.
        let nothing = json!({
            "shrink_to_fit": "not a state",
            "idle_suspend": {"suspended": [], "predict": {"hydrations": {"by_size": {"25cc": []}}}}
        });
        let both = [StrategyKind::ShrinkToFit, StrategyKind::IdleSuspend];
        assert_eq!(carried(&nothing, &both, false), None);
        let reactive = json!({"idle_suspend": {"suspended_at": "2026-11-30T18:00:00Z"}});
        assert_eq!(carried(&reactive, &both, false), None);
        assert_eq!(carried(&json!({}), &both, false), None);
    }
}

#[cfg(test)]
mod config_errors {
    use super::*;
    use serde_json::json;

    fn error(kind: StrategyKind, raw: serde_json::Value) -> ConfigError {
        match StrategyConfig::parse(kind, &raw, &SizeCatalog::cloud_defaults()) {
            Ok(_) => panic!("{raw} parsed"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_row_with_several_wrong_keys_names_each_once() {
        let e = error(
            StrategyKind::Burst,
            json!({"burst_replica_size": "7cc", "cooldown_s": -1, "linger_s": "soon", "max_burst_s": 600}),
        );
        let keys = all_keys(&e);
        assert_eq!(
            keys,
            ["burst_replica_size", "cooldown_s", "linger_s"],
            "{e}"
        );
        let text = e.to_string();
        assert!(text.starts_with("key 'burst_replica_size': "), "{text}");
        assert!(text.contains("; and key 'cooldown_s': "), "{text}");
        assert!(text.contains("; and key 'linger_s': "), "{text}");
    }

    /// The keys an error names, first and further ones.
    fn all_keys(e: &ConfigError) -> Vec<&str> {
        std::iter::once(e)
            .chain(&e.more)
            .map(|e| e.key.as_str())
            .collect()
    }

    #[test]
    fn a_missing_required_key_does_not_hide_the_others_nor_a_windows_other_keys() {
        // The missing size is said, and with a stand-in the rest is read.
        let e = error(StrategyKind::Burst, json!({"cooldown_s": -1}));
        assert_eq!(e.key, "burst_replica_size");
        assert_eq!(e.more.len(), 1, "{e}");
        assert_eq!(e.more[0].key, "cooldown_s", "{e}");
        // A window's error and the row's other key.
        let e = error(
            StrategyKind::Schedule,
            json!({"windows": [{"cron": "nonsense", "duration_s": 60, "replicas": [{"size": "25cc"}]}], "timezone": "Mars/Olympus"}),
        );
        let all: Vec<&str> = std::iter::once(&e)
            .chain(&e.more)
            .map(|e| e.top_key())
            .collect();
        assert!(all.contains(&"windows") && all.contains(&"timezone"), "{e}");
        // Each wrong key of a window, without one made up: `replicas` is
        // wrong, and its default (1) would make the missing size required.
        let keys = all_keys(&e);
        assert_eq!(
            keys,
            ["timezone", "windows[0].cron", "windows[0].replicas"],
            "{e}"
        );
        // The review's row: three wrong keys, two in one window, said at
        // once (the replicas only once the others were fixed).
        let e = error(
            StrategyKind::Schedule,
            json!({"timezone": "Mars/Base", "windows": [{"cron": "@daily", "duration_s": 30, "size": "50cc", "replicas": 17}]}),
        );
        let keys = all_keys(&e);
        assert_eq!(
            keys,
            ["timezone", "windows[0].duration_s", "windows[0].replicas"],
            "{e}"
        );
        // An element that is no object stands for its list.
        let e = error(
            StrategyKind::Schedule,
            json!({"timezone": "UTC", "windows": [5], "prewarm_s": -1}),
        );
        let keys = all_keys(&e);
        assert_eq!(keys, ["prewarm_s", "windows[0]"], "{e}");
        // One wrong key: no "and".
        let e = error(StrategyKind::IdleSuspend, json!({"idle_after_s": -5}));
        assert!(e.more.is_empty() && !e.to_string().contains("; and"), "{e}");
        // A limits row whose one key is wrong is not told it lacks a key.
        let e = error(StrategyKind::Limits, json!({"max_credits_per_hour": 0}));
        assert_eq!(e.key, "max_credits_per_hour", "{e}");
        assert!(e.more.is_empty(), "{e}");
    }
}

#[cfg(test)]
mod derived_names {
    use super::*;

    #[test]
    fn numbered_names_order_by_their_number() {
        let mut names = [
            "r_50cc_10",
            "r_50cc",
            "r_50cc_9",
            "r_50cc_2",
            "etl-burst",
            "r_25cc",
        ];
        names.sort_by_key(|n| numbered(n));
        assert_eq!(
            names,
            [
                "etl-burst",
                "r_25cc",
                "r_50cc",
                "r_50cc_2",
                "r_50cc_9",
                "r_50cc_10"
            ]
        );
        assert_eq!(numbered("a_"), ("a_", 1));
        assert_eq!(numbered("x_99999999999999999999"), ("x", u64::MAX));
    }

    #[test]
    fn a_short_cluster_name_is_kept_whole() {
        assert_eq!(burst_name("bi"), "bi-burst");
        assert_eq!(
            shrink_to_fit::replica_name("bi", &Size::from("200cc")),
            "bi_200cc"
        );
        let fits = "x".repeat(MAX_IDENT_BYTES - 6);
        assert_eq!(burst_name(&fits), format!("{fits}-burst"));
    }

    #[test]
    fn a_replica_name_is_refused_as_materialize_would_refuse_it() {
        assert_eq!(
            refused_replica_name(&"x".repeat(255)),
            None,
            "255 bytes is the limit"
        );
        assert_eq!(
            refused_replica_name(&"x".repeat(256)).as_deref(),
            Some("its name is 256 bytes, over Materialize's limit of 255")
        );
        assert_eq!(
            refused_replica_name("").as_deref(),
            Some("its name is empty")
        );
        for (name, prefix) in [
            ("mz_r", "mz_"),
            ("pg_r", "pg_"),
            ("external_r", "external_"),
        ] {
            let why = refused_replica_name(name).unwrap_or_default();
            assert!(
                why.starts_with(&format!("its name begins with '{prefix}'")),
                "{why}"
            );
        }
        for name in ["MZ_r", "r_mz_", "mz", "pgr", "r1"] {
            assert_eq!(refused_replica_name(name), None, "{name}");
        }
    }

    #[test]
    fn a_long_one_is_cut_and_marked_within_the_limit() {
        // 20 two-byte characters then ASCII: 255 bytes, a cut that would
        // fall inside a character moves back to its start.
        let long = format!("{}{}", "é".repeat(20), "x".repeat(215));
        let other = format!("{}{}", "é".repeat(20), "y".repeat(215));
        let one_more = format!("{}x", "x".repeat(MAX_IDENT_BYTES - 6));
        for cluster in [&long, &other, &one_more] {
            for suffix in ["-burst", "_800cc", "_1600cc"] {
                let n = derived_replica_name(cluster, suffix);
                assert!(n.len() <= MAX_IDENT_BYTES, "{} bytes", n.len());
                assert!(n.ends_with(suffix), "{n}");
                assert_eq!(
                    n,
                    derived_replica_name(cluster, suffix),
                    "the same every run"
                );
            }
        }
        assert_eq!(burst_name(&one_more).len(), MAX_IDENT_BYTES);
        // The same prefix, different clusters: different names.
        assert_ne!(burst_name(&long), burst_name(&other));
        let cut = "é".repeat(127) + "z";
        assert_eq!(cut.len(), 255);
        let n = burst_name(&cut);
        assert!(n.len() <= MAX_IDENT_BYTES && n.ends_with("-burst"), "{n}");
        // 255 − 7 − 9 = 239 falls inside the 120th "é": cut before it.
        let n = derived_replica_name(&cut, "_1600cc");
        assert_eq!(n.len(), 238 + 9 + 7, "{n}");
        assert!(
            n.starts_with(&"é".repeat(119)) && n.ends_with("_1600cc"),
            "{n}"
        );
        // A suffix too long to leave any room still gives a name (no panic).
        let _ = derived_replica_name(&long, &"s".repeat(300));
    }
}

#[cfg(test)]
mod key_table {
    //! The key table is the parsers' key list: a config with every key of
    //! the table parses with no key left unread, and the parser reads no key
    //! the table lacks.
    use super::*;
    use serde_json::json;

    fn full(kind: StrategyKind) -> serde_json::Value {
        match kind {
            StrategyKind::TargetSize => {
                json!({"target_size": "25cc", "replica_name": "r", "allow_downtime": true})
            }
            StrategyKind::Schedule => {
                json!({"timezone": "UTC", "prewarm_s": 60, "default": {"replicas": 0},
                       "windows": [{"cron": "0 0 8 * * *", "duration_s": 60, "size": "25cc"}],
                       "allow_downtime": false})
            }
            StrategyKind::ShrinkToFit => json!({"max_replica_size": "50cc", "cooldown_s": 1,
                                                 "min_oom_count": 1, "min_crash_count": 1}),
            StrategyKind::Burst => json!({"burst_replica_size": "50cc", "cooldown_s": 1,
                                          "linger_s": 60, "max_burst_s": 600}),
            StrategyKind::IdleSuspend => {
                json!({"idle_after_s": 60, "cooldown_s": 1, "suspend_when_unknown": true,
                       "predict": true, "history_days": 14, "prewarm_margin_s": 60})
            }
            StrategyKind::Limits => json!({"max_replicas": 2, "max_credits_per_hour": 1.5}),
            StrategyKind::Stabilization => {
                json!({"scale_down_after_s": 300, "scale_up_after_s": 0})
            }
        }
    }

    #[test]
    fn the_table_is_what_the_parsers_read() {
        let sizes = SizeCatalog::cloud_defaults();
        for kind in StrategyKind::ALL {
            let cfg = full(kind);
            let obj = config::Obj::new(&cfg).unwrap();
            StrategyConfig::parse_obj(kind, &obj, &sizes).unwrap();
            let mut read = obj.read_keys();
            read.sort();
            let mut table = kind.key_names();
            table.sort();
            assert_eq!(read, table, "{kind}");
            assert!(obj.unknown_keys().is_empty(), "{kind}");
        }
    }
}

#[cfg(test)]
mod fuzz {
    //! The config parser takes whatever is in the table: any JSON must give
    //! a config or an error naming a key, never a panic.
    use super::*;
    use proptest::prelude::*;

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            "\\PC{0,12}".prop_map(serde_json::Value::String),
            prop_oneof![Just("25cc"), Just("50cc"), Just("7cc"), Just("")]
                .prop_map(|s| serde_json::json!(s)),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let keys = prop_oneof![
                Just("target_size".to_string()),
                Just("replica_name".to_string()),
                Just("max_replica_size".to_string()),
                Just("burst_replica_size".to_string()),
                Just("idle_after_s".to_string()),
                Just("cooldown_s".to_string()),
                Just("min_oom_count".to_string()),
                Just("max_replicas".to_string()),
                Just("max_credits_per_hour".to_string()),
                Just("timezone".to_string()),
                Just("windows".to_string()),
                Just("default".to_string()),
                "\\PC{0,8}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_json_parses_or_names_a_key(raw in arb_json(), kind in 0usize..StrategyKind::ALL.len()) {
            let kind = StrategyKind::ALL[kind];
            match StrategyConfig::parse(kind, &raw, &SizeCatalog::cloud_defaults()) {
                Ok((cfg, _unknown)) => prop_assert_eq!(cfg.kind(), kind),
                Err(e) => {
                    prop_assert!(!e.key.is_empty());
                    prop_assert!(!e.message.is_empty());
                }
            }
        }
    }
}

#[cfg(test)]
mod reference_import {
    use super::*;

    /// mz-clusterctl's `last_suspend`, as its idle_suspend writes it: the
    /// time without a zone (UTC), names as its DROP spelled them (quoted
    /// or not), a size that may be null (left out).
    #[test]
    fn what_the_reference_suspended_becomes_idle_suspends_memory() {
        let payload = serde_json::json!({
            "last_decision_ts": "2026-12-07T05:30:00.123456",
            "last_suspend": {
                "timestamp": "2026-12-07T05:30:00.123456",
                "replicas_removed": 3,
                "reason": "idle",
                "suspended_replicas": [
                    {"name": "r1", "size": "50cc"},
                    {"name": "\"a \"\"b\"\"\"", "size": "25cc"},
                    {"name": "gone", "size": null}
                ]
            },
            "cluster_name": "c"
        });
        assert_eq!(
            import_reference(&payload),
            Some(serde_json::json!({"idle_suspend": {
                "suspended": [
                    {"name": "r1", "size": "50cc"},
                    {"name": "a \"b\"", "size": "25cc"}
                ],
                "suspended_at": "2026-12-07T05:30:00Z",
                "from_reference": true
            }}))
        );
        // Nothing it can bring back: nothing imported.
        for nothing in [
            serde_json::json!({"last_suspend": null}),
            serde_json::json!({"last_decision_ts": "2026-12-07T05:30:00"}),
            serde_json::json!({"last_suspend": {"timestamp": "2026-12-07T05:30:00",
                                                "suspended_replicas": [{"name": "x", "size": null}]}}),
        ] {
            assert_eq!(import_reference(&nothing), None, "{nothing}");
        }
    }
}

#[cfg(test)]
mod make_room {
    use super::testutil::*;
    use super::*;

    /// What `make_room` says of who serves while it retires a replica for
    /// a new size at `max_replicas_per_cluster`: "the others serve" was
    /// said of a cluster whose only replica was hydrating.
    #[test]
    fn it_says_who_serves_while_a_replica_is_retired() {
        let said = |replicas: Vec<crate::model::Replica>, limit: u32| {
            let cl = cluster("c", replicas);
            let d = decide_in(&cl, Idle::Busy, now(), |ctx, d| {
                let ctx = Ctx {
                    replica_limit: Some(limit),
                    ..ctx.clone()
                };
                d.make_room(&ctx, &Size::from("100cc"), StrategyKind::TargetSize);
            });
            d.removed
                .values()
                .map(|c| c.reason.clone())
                .collect::<Vec<_>>()
        };
        let alone = said(vec![replica("r1", "50cc", false)], 1);
        assert!(
            alone.len() == 1
                && alone[0].ends_with("nothing else does until the 100cc replica is hydrated"),
            "{alone:?}"
        );
        let beside = said(
            vec![replica("r1", "50cc", false), replica("r2", "50cc", true)],
            2,
        );
        assert!(
            beside.len() == 1
                && beside[0].ends_with("it does not serve yet; the others serve meanwhile"),
            "{beside:?}"
        );
        let two = said(
            vec![replica("r1", "50cc", true), replica("r2", "50cc", true)],
            2,
        );
        assert!(
            two.len() == 1 && two[0].ends_with("first: the others serve meanwhile"),
            "{two:?}"
        );
    }

    /// Of two serving replicas, the one killed lately (crash looping) goes,
    /// whatever the names' order: the healthy one went, and the looping
    /// one then left nothing serving (an outside check). Two looping ones
    /// and nothing else serving: one goes while the other serves on, as
    /// before; a lone serving replica never goes.
    #[test]
    fn a_replica_not_to_rely_on_is_retired_before_a_healthy_one() {
        let retired = |replicas: Vec<crate::model::Replica>| {
            let cl = cluster("c", replicas);
            let d = decide_in(&cl, Idle::Busy, now(), |ctx, d| {
                let ctx = Ctx {
                    replica_limit: Some(2),
                    ..ctx.clone()
                };
                d.make_room(&ctx, &Size::from("100cc"), StrategyKind::TargetSize);
            });
            d.removed.into_iter().collect::<Vec<_>>()
        };
        for (looping, healthy) in [("r1", "r2"), ("r2", "r1")] {
            let gone = retired(vec![
                killed_ago(replica(looping, "50cc", true), 1),
                replica(healthy, "50cc", true),
            ]);
            assert_eq!(gone.len(), 1, "{gone:?}");
            assert_eq!(gone[0].0, looping, "{gone:?}");
            assert!(gone[0].1.reason.contains("not to be relied on"), "{gone:?}");
        }
        let both = retired(vec![
            killed_ago(replica("r1", "50cc", true), 1),
            killed_ago(replica("r2", "50cc", true), 1),
        ]);
        assert_eq!(both.len(), 1, "{both:?}");
        let lone = retired(vec![
            killed_ago(replica("r1", "50cc", true), 1),
            replica("r2", "50cc", false),
        ]);
        assert_eq!(lone.len(), 1, "{lone:?}");
        assert_eq!(lone[0].0, "r2", "the one that does not serve: {lone:?}");
    }
}
