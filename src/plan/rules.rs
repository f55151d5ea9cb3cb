//! The rules every plan obeys, whatever the strategies want: which
//! combinations of strategies can work on a cluster, which clusters the
//! controller must leave alone (and why: system, session cluster, native
//! automation, ownership our role lacks), the invariants enforced after the
//! strategies ran (never drop the last hydrated replica unless suspending
//! on purpose, keep the replica running the cluster's sources, never go
//! beyond Materialize's `max_replicas_per_cluster`), and what the server's
//! release and settings allow: how a managed cluster is resized, whether a
//! reconfiguration is still in flight, how much silence of a sampled
//! statement log proves idleness (reference §8).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ddl;
use crate::model::{Cluster, Environment, Replica, Schedule, Size, SizeCatalog, Snapshot};
use crate::strategy::{
    Deferred, Desired, DesiredReplica, StrategyConfig, StrategyKind, MIN_SAMPLE_RATE,
};

/// Strategy combinations that cannot work on this cluster: two strategies
/// that both choose the size, and strategies that need replicas of several
/// sizes on a managed cluster.
pub fn combination_errors(cluster: &Cluster, kinds: &[StrategyKind]) -> Vec<String> {
    let mut errors = Vec::new();
    if cluster.managed {
        for kind in kinds.iter().filter(|k| k.needs_mixed_sizes()) {
            errors.push(format!(
                "{kind} is not supported on managed clusters (all their replicas have one size); \
                 use target_size/idle_suspend, or convert with ALTER CLUSTER … SET (MANAGED = false)"
            ));
        }
    }
    // Each of these picks the size: one creates what the other drops, every run.
    let sizers: Vec<&StrategyKind> = kinds.iter().filter(|k| k.chooses_size()).collect();
    for (i, a) in sizers.iter().enumerate() {
        for b in &sizers[i + 1..] {
            errors.push(format!(
                "{a} and {b} both choose the replica size and would undo each other; keep one"
            ));
        }
    }
    errors
}

/// A `replica_name` (`target_size`'s) that a `burst` row of the cluster
/// takes for its own replica (`<cluster>-burst`, or mz-clusterctl's
/// `<cluster>_burst`): burst counted the target size's replica as its
/// burst, dropped it once another replica hydrated, and the cluster showed
/// converged at the old size (an outside check). One message per such row.
pub fn name_conflicts(cluster: &Cluster, configs: &[StrategyConfig]) -> Vec<String> {
    if !configs.iter().any(|c| c.kind() == StrategyKind::Burst) {
        return Vec::new();
    }
    let burst = crate::strategy::burst_names(&cluster.name);
    configs
        .iter()
        .filter_map(|c| match c {
            StrategyConfig::TargetSize(t) if burst.contains(&t.replica_name) => Some(format!(
                "target_size's key 'replica_name': {:?} is the name burst gives its replica on \
                 this cluster, so burst would take the target size's replica for its own and \
                 drop it; choose another name",
                crate::model::printable(&t.replica_name)
            )),
            _ => None,
        })
        .collect()
}

/// A resize the cluster's own `limits` row never lets through
/// (`target_size`'s, or a `schedule` window's or default's): the new size
/// runs beside every live replica until it is hydrated (a managed
/// cluster's, its replication factor's replicas of it), and `limits`
/// never drops a live replica, so it waits for ever (`strategy set` and
/// `check` said nothing: an outside check, then of `schedule`'s). As the
/// plan counts it (`limits`).
fn resize_over_limits(
    snap: &Snapshot,
    cluster: &Cluster,
    configs: &[StrategyConfig],
) -> Vec<(crate::plan::rows::Code, Option<&'static str>, String)> {
    let Some(limits) = configs.iter().find_map(|c| match c {
        StrategyConfig::Limits(l) => Some(l),
        _ => None,
    }) else {
        return Vec::new();
    };
    let live = || cluster.replicas.iter().filter_map(|r| r.size.as_ref());
    if live().next().is_none() {
        return Vec::new();
    }
    // Each resize a row asks for: who, to what, how many of it, and where.
    let mut resizes: Vec<(StrategyKind, &Size, u32, String)> = Vec::new();
    for c in configs {
        match c {
            StrategyConfig::TargetSize(t) => {
                resizes.push((StrategyKind::TargetSize, &t.target_size, 1, String::new()))
            }
            StrategyConfig::Schedule(s) => {
                let shapes = s
                    .windows
                    .iter()
                    .map(|w| (&w.shape, format!(" (window {:?})", w.cron)))
                    .chain(s.default.iter().map(|d| (d, " (default)".to_string())));
                for (shape, whence) in shapes {
                    let Some(size) = shape.size.as_ref().filter(|_| shape.replicas > 0) else {
                        continue;
                    };
                    let known = |r: &(StrategyKind, &Size, u32, String)| {
                        r.0 == StrategyKind::Schedule && r.1 == size && r.2 == shape.replicas
                    };
                    if !resizes.iter().any(known) {
                        resizes.push((StrategyKind::Schedule, size, shape.replicas, whence));
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (kind, size, n, whence) in resizes {
        if live().any(|s| s == size) {
            continue;
        }
        // The live replicas and the new size beside them, counted as
        // `limits` counts a plan (names no replica can have: NUL).
        let mut wanted = Desired::from_cluster(cluster);
        for i in 0..n {
            wanted.add(&format!("\0{i}"), size, kind, String::new());
        }
        let (at_once, _) = crate::strategy::at_once_under_limits(cluster, &wanted);
        let over = match crate::strategy::limits_breach(limits, &snap.sizes, &at_once) {
            Some(crate::strategy::Breach::Replicas { max, .. }) => {
                format!("max_replicas {max}")
            }
            Some(crate::strategy::Breach::Credits { max, .. }) => format!(
                "max_credits_per_hour {}",
                crate::plan::region::credits_text(max)
            ),
            None => continue,
        };
        let credits: f64 = at_once.iter().map(|s| snap.sizes.credits(s)).sum();
        let fix = match (
            cluster.managed,
            cluster.replication_factor.unwrap_or(1) <= 1,
        ) {
            // At factor 1, lowering it is suspending the cluster.
            (true, true) => "raise the limit",
            (true, false) => "raise the limit, or lower its replication factor first",
            (false, _) => "raise the limit, or drop a replica by hand first",
        };
        let to = match n {
            1 => size.to_string(),
            n => format!("{n}×{size}"),
        };
        out.push((
            crate::plan::rows::Code::ConflictingStrategies,
            Some(kind.as_str()),
            format!(
                "{kind}: the resize to {to}{whence} runs {} replicas ({} credits/h) at once, the \
                 new size beside the live ones until it is hydrated, over the limits row's \
                 {over}: it never goes ({fix})",
                at_once.len(),
                crate::plan::region::credits_text(credits),
                kind = kind.as_str(),
            ),
        ));
    }
    out
}

/// Why the controller must leave this cluster alone, if it must: the one
/// place for such rules (`plan`, `check`, `status` and `doctor` ask here).
pub fn unmanageable(snap: &Snapshot, cluster: &Cluster) -> Option<String> {
    if cluster.is_system() {
        return Some("system cluster".into());
    }
    if snap.session_cluster.as_deref() == Some(cluster.name.as_str()) {
        return Some(
            "the controller's own session runs on this cluster (choose another with --exec-cluster)"
                .into(),
        );
    }
    match &cluster.schedule {
        Schedule::Manual => {}
        Schedule::OnRefresh => {
            return Some("Materialize schedules this cluster itself (SCHEDULE = ON REFRESH)".into())
        }
        // Any other native automation (newer releases add schedule and
        // auto-scaling types): Materialize owns the replicas, so do we not.
        Schedule::Other(kind) => {
            return Some(format!(
                "Materialize automates this cluster itself (schedule type '{kind}')"
            ))
        }
    }
    if cluster.auto_scaling {
        return Some(
            "Materialize scales this cluster itself (it has an auto-scaling strategy)".into(),
        );
    }
    if let Some(r) = cluster.replicas.iter().find(|r| r.size.is_none()) {
        return Some(format!(
            "replica {} has no size (unorchestrated): catalog data incomplete",
            r.name
        ));
    }
    ownership_problem(&snap.env, cluster)
}

/// What our role does not own of a cluster, and the statements that give
/// it ([`ownership`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Ownership {
    /// Our role's name.
    pub role: String,
    /// `the cluster (owner x)`, `replica r1 (owner x)`.
    pub missing: Vec<String>,
    /// The exact `ALTER … OWNER TO …` statements, one per object.
    pub fixes: Vec<String>,
}

/// DDL our role would be refused (§8.4): `CREATE CLUSTER REPLICA` and
/// `ALTER CLUSTER` need ownership of the cluster, `DROP CLUSTER REPLICA`
/// ownership of the replica (replicas have their own owners). With the
/// exact `… OWNER TO …` statements that fix it (what the plan's reason
/// says and `doctor --print-sql` prints). Not judged when our role could
/// not be read, or when RBAC is off (self-managed: everyone is a
/// superuser).
pub fn ownership(env: &Environment, cluster: &Cluster) -> Option<Ownership> {
    if env.settings.enable_rbac_checks == Some(false) {
        return None;
    }
    let id = &env.identity;
    let role = id.role.as_ref()?;
    let mut missing = Vec::new();
    let mut fixes = Vec::new();
    if let Some(owner) = &cluster.owner_id {
        if id.acts_as(owner) == Some(false) {
            missing.push(format!("the cluster (owner {})", id.name_of(owner)));
            fixes.push(ddl::alter_cluster_owner(&cluster.name, &role.name));
        }
    }
    // A managed cluster's replicas are Materialize's: only ALTER CLUSTER is sent.
    if !cluster.managed {
        for r in &cluster.replicas {
            let Some(owner) = &r.owner_id else { continue };
            if id.acts_as(owner) == Some(false) {
                missing.push(format!("replica {} (owner {})", r.name, id.name_of(owner)));
                fixes.push(ddl::alter_replica_owner(&cluster.name, &r.name, &role.name));
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    Some(Ownership {
        role: role.name.clone(),
        missing,
        fixes,
    })
}

/// [`ownership`]'s finding as the plan's reason says it. Judged for the
/// role of this command, which is `apply`'s only if the same role runs
/// both: an operator's role is told so, not to take the cluster from the
/// controller.
fn ownership_problem(env: &Environment, cluster: &Cluster) -> Option<String> {
    let o = ownership(env, cluster)?;
    Some(format!(
        "role {} does not own {}, so Materialize would refuse its DDL (must be owner); \
         fix: {} ({})",
        o.role,
        o.missing.join(", "),
        o.fixes.join("; "),
        o.applies_when()
    ))
}

impl Ownership {
    /// The caveat every fix of it carries.
    fn applies_when(&self) -> String {
        format!("when {} is the role `clusterctl apply` runs as", self.role)
    }
}

/// How a managed cluster's size change is sent on this release (§2.4, §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResizeForm {
    /// v26.35 and later: a plain `SET (SIZE)` returns at once and
    /// Materialize cuts over in the background once the new replicas are
    /// ready (the old ones serve meanwhile).
    Background,
    /// Graceful and blocking: `WITH (WAIT UNTIL READY (TIMEOUT …, ON
    /// TIMEOUT = 'ROLLBACK'))` holds the session until the new replicas are
    /// ready, or rolls back.
    WaitUntilReady,
    /// No graceful resize: a plain `SET (SIZE)` replaces the replicas at
    /// once (downtime until the new ones hydrate).
    Restart,
}

/// The first release whose plain `SET (SIZE)` is graceful (docs, "Cluster
/// resizing"; reference §2.4).
pub const BACKGROUND_RESIZE_SINCE: (u32, u32, u32) = (26, 35, 0);

impl ResizeForm {
    /// One line for plans and `doctor`.
    pub fn describe(self) -> &'static str {
        match self {
            ResizeForm::Background => {
                "plain ALTER CLUSTER … SET (SIZE); Materialize reconfigures in the background \
                 and cuts over once the new replicas are ready"
            }
            ResizeForm::WaitUntilReady => {
                "ALTER CLUSTER … SET (SIZE) WITH (WAIT UNTIL READY (…, ON TIMEOUT = 'ROLLBACK')): \
                 graceful, the statement waits for the new replicas"
            }
            ResizeForm::Restart => {
                "no bounded graceful resize on this release with these settings: ALTER CLUSTER \
                 … SET (SIZE) is done only where a strategy sets allow_downtime"
            }
        }
    }
}

/// How Materialize refuses a graceful resize on a release that gates it
/// off (the feature flag's description, "Enable zero-downtime
/// reconfiguration for alter cluster", and " is not supported"), lower
/// case.
pub const GRACEFUL_GATED_OFF: &str =
    "zero-downtime reconfiguration for alter cluster is not supported";

/// The first release on which a graceful resize is tried while its gate
/// is unknown: the v25 series, the first of Materialize's releases by year
/// (older ones are not tried: whether they parse `WITH (WAIT …)` at all is
/// not known).
pub const GRACEFUL_TRIED_SINCE: (u32, u32, u32) = (25, 0, 0);

/// How long such a refusal says the region gates graceful resizes off:
/// then one is tried again (the flag may have been turned on meanwhile).
pub const GRACEFUL_REFUSAL_KEPT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// When the region's gate of graceful resizes is known off from its
/// refusal (the flag is not visible to `SHOW`), said with when a graceful
/// resize is tried again, as a parenthesis to put after "without
/// downtime"; empty otherwise. The one wording of `check`, `doctor` and
/// every plan's warning (the plan's said neither: an outside re-check).
pub fn graceful_refused(env: &Environment) -> String {
    env.graceful_refused_at
        .map(|at| {
            let again = at + chrono::Duration::from_std(GRACEFUL_REFUSAL_KEPT).unwrap_or_default();
            format!(
                " (it refused a graceful resize as not supported at {}: \
                 enable_zero_downtime_cluster_reconfiguration is off; one is tried again after \
                 {})",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                again.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )
        })
        .unwrap_or_default()
}

/// The resize form this server supports: by release first, then by its
/// settings. Without any evidence (the simulator) the graceful blocking form.
///
/// Materialize shows its feature flags and dyncfgs
/// (`enable_zero_downtime_cluster_reconfiguration`,
/// `enable_background_alter_cluster`) to its own users only: for ours,
/// `SHOW` refuses them, and they are unknown (the emulator showed them,
/// and every resize of a release before v26.35 was held back as not
/// graceful: an outside check). Unknown on such a release, the graceful
/// form is tried; a refusal as gated off ([`GRACEFUL_GATED_OFF`]) then
/// counts as the flag off for [`GRACEFUL_REFUSAL_KEPT`].
pub fn resize_form(env: &Environment) -> ResizeForm {
    let s = &env.settings;
    match env.version_number() {
        Some(v) if v >= BACKGROUND_RESIZE_SINCE => {
            // Self-managed installs may keep background mode off: the plain
            // statement then waits (for a day by default), so bound it,
            // with `WAIT UNTIL READY`, which the zero-downtime flag gates
            // there too (sent without it, it was refused: an outside
            // check); without either, nothing bounds a graceful resize.
            match (
                s.enable_background_alter_cluster,
                s.enable_zero_downtime_cluster_reconfiguration,
            ) {
                (Some(false), Some(true)) => ResizeForm::WaitUntilReady,
                (Some(false), _) => ResizeForm::Restart,
                _ => ResizeForm::Background,
            }
        }
        Some(v) => match s.enable_zero_downtime_cluster_reconfiguration {
            Some(true) => ResizeForm::WaitUntilReady,
            None if v >= GRACEFUL_TRIED_SINCE => ResizeForm::WaitUntilReady,
            _ => ResizeForm::Restart,
        },
        None => match s.enable_zero_downtime_cluster_reconfiguration {
            Some(false) => ResizeForm::Restart,
            _ => ResizeForm::WaitUntilReady,
        },
    }
}

/// A managed cluster whose reconfiguration is still in flight: replicas of
/// another size than `mz_clusters.size` (the new ones of a background
/// resize, or `rN-pending` ones of a blocking one). Materialize refuses a
/// replication-factor change meanwhile (55006) and folds a second size
/// change into the first, resetting its deadline: nothing is sent until it
/// finished.
pub fn reconfiguration_in_flight(cluster: &Cluster) -> Option<String> {
    let size = cluster.size.as_ref()?;
    let other: Vec<String> = replicas_cutting_over(cluster)
        .map(|r| {
            format!(
                "{} ({})",
                r.name,
                r.size.as_ref().map(|s| s.0.as_str()).unwrap_or("?")
            )
        })
        .collect();
    if other.is_empty() {
        return None;
    }
    Some(format!(
        "waiting for the resize to finish: {} not yet cut over (the cluster is at {size} \
         until Materialize switches)",
        other.join(", ")
    ))
}

/// A managed cluster's replicas of a resize in flight: those of another
/// size than `mz_clusters.size`, or named `rN-pending` (none for an
/// unmanaged cluster).
pub fn replicas_cutting_over(cluster: &Cluster) -> impl Iterator<Item = &crate::model::Replica> {
    let size = cluster.size.as_ref().filter(|_| cluster.managed);
    cluster.replicas.iter().filter(move |r| {
        size.is_some() && (r.size.as_ref() != size || r.name.ends_with("-pending"))
    })
}

/// Why idleness cannot be judged for suspending a cluster, if it cannot:
/// the log is unreadable, sampled too thinly, or empty.
pub fn activity_unknown(snap: &Snapshot) -> Option<String> {
    activity_problem(snap).or_else(|| {
        (!snap.activity_log_has_rows).then(|| {
            "the statement log has no rows in the lookback window (statement logging off, \
             or every statement sampled away): activity is unknown"
                .to_string()
        })
    })
}

/// An activity signal an operator must fix (a warning, and a `check`
/// problem, wherever `idle_suspend` relies on it): the statement log is
/// unreadable for our role, or sampled too thinly to prove anything.
pub fn activity_problem(snap: &Snapshot) -> Option<String> {
    if let Some(e) = &snap.env.activity_error {
        return Some(format!(
            "the statement log cannot be read ({e}): activity is unknown; grant the role \
             mz_monitor_redacted (or mz_monitor)"
        ));
    }
    if let Some(rate) = snap.env.settings.sample_rate() {
        if rate < MIN_SAMPLE_RATE {
            return Some(format!(
                "statement logging keeps {} of statements (below {}): a silent log proves \
                 nothing, so activity counts as unknown",
                percent(rate),
                percent(MIN_SAMPLE_RATE)
            ));
        }
    }
    None
}

/// What the environment keeps a cluster's valid strategies from doing, as
/// `(code, message)` warnings for `check` and `doctor`: `idle_suspend`
/// without a trustworthy activity signal, a size-choosing strategy on a
/// managed cluster whose release cannot resize it without downtime, a
/// burst no larger than the cluster's replicas or its configured size.
pub fn environment_findings(
    snap: &Snapshot,
    cluster: &Cluster,
    configs: &[crate::strategy::StrategyConfig],
) -> Vec<(crate::plan::rows::Code, Option<&'static str>, String)> {
    use crate::plan::rows::Code;
    let mut out = Vec::new();
    let has = |k: StrategyKind| configs.iter().any(|c| c.kind() == k);
    if has(StrategyKind::IdleSuspend) {
        // As `status` says (SignalUnknown): an empty log too, since
        // idle_suspend then never suspends.
        if let Some(why) = activity_unknown(snap) {
            out.push((
                Code::SignalUnknown,
                Some(StrategyKind::IdleSuspend.as_str()),
                format!("idle_suspend: cannot tell whether the cluster is idle: {why}"),
            ));
        }
    }
    // More replicas than Materialize allows: the plan creates what fits
    // (and hands over), but never all of them.
    let limit = snap.env.settings.max_replicas_per_cluster;
    for c in configs {
        if let (Some(wanted), Some(limit)) = (c.most_replicas(), limit) {
            if wanted > limit {
                out.push((
                    Code::Unsupported,
                    Some(c.kind().as_str()),
                    format!(
                        "{}: asks for {wanted} replicas at once, but max_replicas_per_cluster is \
                         {limit}: at most {limit} will run (lower it, or ask for a higher limit)",
                        c.kind().as_str()
                    ),
                ));
            }
        }
    }
    // A burst no larger than what it would stand in for is never started:
    // said before a cold start finds it so.
    for c in configs {
        if let crate::strategy::StrategyConfig::Burst(b) = c {
            let state = snap.states.get(&cluster.id);
            if let Some(why) =
                crate::strategy::burst_held_back(b, cluster, state, configs, &snap.sizes)
            {
                out.push((
                    Code::BurstNotLarger,
                    Some(StrategyKind::Burst.as_str()),
                    why,
                ));
            }
        }
    }
    // A size whose one replica already costs more than the cluster's own
    // `limits` row allows is never created: a target never reached, a
    // wake that never comes (`check` said "no problems": an outside check).
    let cap = configs.iter().find_map(|c| match c {
        crate::strategy::StrategyConfig::Limits(l) => l.max_credits_per_hour,
        _ => None,
    });
    if let Some(cap) = cap.filter(|_| snap.sizes.credits_known()) {
        for c in configs
            .iter()
            .filter(|c| c.kind() != StrategyKind::ShrinkToFit)
        {
            let burst = match c {
                crate::strategy::StrategyConfig::Burst(b) => {
                    vec![("burst_replica_size".to_string(), &b.burst_replica_size)]
                }
                _ => Vec::new(),
            };
            for (key, size) in c.sizes_run().into_iter().chain(burst) {
                let credits = snap.sizes.credits(size);
                if credits > cap {
                    out.push((
                        Code::ConflictingStrategies,
                        Some(c.kind().as_str()),
                        format!(
                            "{key}: one {size} replica costs {} credits/h, over the limits row's \
                             max_credits_per_hour {}: it is never created (raise the limit, or \
                             choose a smaller size)",
                            crate::plan::region::credits_text(credits),
                            crate::plan::region::credits_text(cap)
                        ),
                    ));
                }
            }
        }
    }
    out.extend(resize_over_limits(snap, cluster, configs));
    // On a managed cluster Materialize retires the old size itself, at the
    // new one's first hydration: stabilization's guard does not hold it
    // (nothing said so, and a size OOM-killed after hydrating left nothing
    // serving: an outside check).
    if cluster.managed && has(StrategyKind::Stabilization) {
        out.push((
            Code::Unsupported,
            Some(StrategyKind::Stabilization.as_str()),
            "stabilization: on a managed cluster Materialize retires the old replicas itself \
             once the new size first hydrates, so scale_down_after_s does not keep them while \
             the new size proves itself (a size whose state outgrows its memory after \
             hydration leaves nothing serving); for that guard, convert the cluster with ALTER \
             CLUSTER … SET (MANAGED = false)"
                .to_string(),
        ));
    }
    for (n, cron) in configs.iter().flat_map(|c| c.ended_windows(snap.now)) {
        out.push((
            Code::Ended,
            Some(StrategyKind::Schedule.as_str()),
            format!(
                "schedule: window {n} ('{cron}') never opens again: its calendar has no start \
                 after {} (a year gone by?); fix its cron or remove the window",
                snap.now.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    let sizes_it = configs.iter().any(|c| c.kind().chooses_size());
    if cluster.managed
        && sizes_it
        && resize_form(&snap.env) == ResizeForm::Restart
        && !configs.iter().any(|c| c.allows_downtime())
    {
        // On a release that has background resizes, the settings are
        // what blocks (it said "or upgrade" of the newest release: an
        // outside check).
        let cure = match snap.env.version_number() {
            Some(v) if v >= BACKGROUND_RESIZE_SINCE => {
                "turn enable_background_alter_cluster (or \
                 enable_zero_downtime_cluster_reconfiguration) on"
            }
            _ => "upgrade",
        };
        let refused = graceful_refused(&snap.env);
        out.push((
            Code::Unsupported,
            None,
            format!(
                "managed cluster: this release ({}) with these settings cannot resize it \
                 without downtime{refused}; set \"allow_downtime\": true to resize with a \
                 restart, or {cure}",
                snap.env.version.as_deref().unwrap_or("unknown version")
            ),
        ));
    }
    out
}

/// The statement log as the activity signal sees it, for `status`,
/// `check` and `doctor`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementLog {
    /// Our role could read it.
    pub readable: bool,
    /// Effective sample rate (min of the default and max settings); null
    /// when the settings could not be read.
    pub sample_rate: Option<f64>,
    /// What it means for idle_suspend, when it is not a complete log.
    pub note: Option<String>,
}

/// The statement log as `idle_suspend` sees it; the note only where a
/// strategy row of that type, of a cluster `shown` accepts (the command's
/// selection), relies on it.
pub fn statement_log(
    snap: &Snapshot,
    shown: impl Fn(&crate::model::ClusterId) -> bool,
) -> StatementLog {
    StatementLog {
        readable: snap.env.activity_error.is_none(),
        sample_rate: snap.env.settings.sample_rate(),
        note: relies_on_activity_of(snap, shown)
            .then(|| activity_unknown(snap).or_else(|| sampling_note(&snap.env)))
            .flatten(),
    }
}

/// What an operator must know about the statement log (`doctor`): a
/// problem of the log itself, or, where an `idle_suspend` row relies on
/// it, a log without rows (idle_suspend then never suspends).
pub fn activity_warning(snap: &Snapshot) -> Option<String> {
    if relies_on_activity(snap) {
        activity_unknown(snap)
    } else {
        activity_problem(snap)
    }
}

fn relies_on_activity(snap: &Snapshot) -> bool {
    relies_on_activity_of(snap, |_| true)
}

/// Whether an `idle_suspend` row of a cluster `shown` accepts relies on
/// the statement log.
fn relies_on_activity_of(
    snap: &Snapshot,
    shown: impl Fn(&crate::model::ClusterId) -> bool,
) -> bool {
    snap.strategies.iter().any(|r| {
        StrategyKind::parse(&r.strategy_type) == Some(StrategyKind::IdleSuspend)
            && shown(&r.cluster_id)
    })
}

/// A sample rate below 1, said plainly, or `None` for a complete log.
pub fn sampling_note(env: &Environment) -> Option<String> {
    let rate = env.settings.sample_rate()?;
    (MIN_SAMPLE_RATE..1.0).contains(&rate).then(|| {
        let factor = format!("{:.2}", 1.0 / rate);
        format!(
            "statement logging keeps {} of statements: idle_suspend waits {}× idle_after_s \
             of silence before suspending",
            percent(rate),
            factor.trim_end_matches('0').trim_end_matches('.')
        )
    })
}

/// `0.99` → `99%`, `0.055` → `5.5%`.
pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
    }
}

/// Materialize refuses a replica beyond `max_replicas_per_cluster` (§8.5):
/// additions are cut until the cluster fits, and the plan says which and
/// why. The most expensive go first, unless users want the cluster now
/// and no replica serves them ([`Cluster::wanted_unserved`]): then the
/// cheapest, since the larger sizes hydrate soonest and hold the most (a
/// burst replica, the largest sizes `shrink_to_fit` tries). Creates run before drops, so on an
/// unmanaged cluster every live replica still counts when a new one is
/// created; a managed cluster's replication factor is the desired count.
pub fn enforce_replica_limit(
    cluster: &Cluster,
    sizes: &SizeCatalog,
    limit: Option<u32>,
    now: DateTime<Utc>,
    d: &mut Desired,
) {
    let room = cluster.room_for_creates(limit);
    let Some(limit) = limit else {
        return;
    };
    let limit = limit as usize;
    let over = |d: &Desired| {
        let added = d
            .replicas
            .keys()
            .filter(|n| cluster.replica(n).is_none())
            .count();
        match room {
            Some(room) => (added > room).then(|| cluster.replicas.len() + added),
            None => (d.replicas.len() > limit).then_some(d.replicas.len()),
        }
    };
    let cut = d.cut_additions(cluster, sizes, cluster.wanted_unserved(now), |d| {
        over(d).map(|n| {
            format!(
                "{n} replicas would exceed Materialize's max_replicas_per_cluster ({limit}); \
                 it can be created once others are gone (or ask for a higher limit)"
            )
        })
    });
    // Not converged: work held back, shown as waiting with its reason.
    for (name, size, why) in cut {
        d.deferred
            .push(Deferred::limited_create(None, &name, &size, why));
    }
}

/// The rules no strategy may break, unless the cluster is being suspended on
/// purpose: keep the last hydrated replica, keep the replica running the
/// cluster's singleton sources.
pub fn enforce_invariants(cluster: &Cluster, sizes: &SizeCatalog, d: &mut Desired) {
    if d.suspending.is_some() {
        return;
    }
    let keeps_hydrated = cluster
        .replicas
        .iter()
        .any(|r| r.hydrated && d.contains(&r.name));
    if !keeps_hydrated {
        let last = cluster
            .replicas
            .iter()
            .filter(|r| r.hydrated && !r.is_temporary() && !d.given_up.contains(&r.name))
            .min_by_key(|r| r.size.as_ref().and_then(|s| sizes.rank(s)));
        if let Some(r) = last {
            keep(d, r, "it is the last hydrated replica");
        }
    }
    if let Some(r) = cluster.source_replica() {
        if !d.contains(&r.name) {
            let wanted = d.removed.get(&r.name).cloned();
            keep(d, r, "it runs the cluster's sources (oldest replica)");
            // Kept for good, both sizes billed: waiting work for an
            // operator, never "converged".
            if let Some(change) = wanted {
                d.deferred.push(crate::strategy::Deferred {
                    strategy: None,
                    action: crate::strategy::ReplicaStep::Drop.of(&r.name, r.size.as_ref()),
                    reason: format!(
                        "{} wants it gone ({}), but it runs the cluster's sources: dropping it \
                         restarts them on another replica; drop it by hand when that is acceptable",
                        change.strategy, change.reason
                    ),
                    in_seconds: None,
                    limit: false,
                    refused: false,
                });
            }
        }
    }
}

fn keep(d: &mut Desired, r: &Replica, why: &str) {
    let Some(size) = r.size.clone() else {
        return;
    };
    if let Some(change) = d.removed.remove(&r.name) {
        d.notes.push(format!(
            "kept {} although {} wanted it gone ({}): {why}",
            r.name, change.strategy, change.reason
        ));
    }
    d.replicas.insert(
        r.name.clone(),
        DesiredReplica {
            size,
            added_by: None,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClusterId, Identity, Replica, Role, RoleId, Settings, Size};
    use crate::strategy::StrategyKind;

    /// A strategy row's config, parsed against the cloud's sizes.
    fn parsed(kind: StrategyKind, raw: serde_json::Value) -> crate::strategy::StrategyConfig {
        let sizes = SizeCatalog::cloud_defaults();
        match crate::strategy::StrategyConfig::parse(kind, &raw, &sizes) {
            Ok((c, _)) => c,
            Err(e) => panic!("{raw}: {e:?}"),
        }
    }

    fn env(
        version: Option<&str>,
        zero_downtime: Option<bool>,
        background: Option<bool>,
    ) -> Environment {
        Environment {
            version: version.map(str::to_string),
            settings: Settings {
                enable_zero_downtime_cluster_reconfiguration: zero_downtime,
                enable_background_alter_cluster: background,
                ..Settings::default()
            },
            ..Environment::default()
        }
    }

    #[test]
    fn the_resize_form_follows_the_release_then_its_settings() {
        use ResizeForm::*;
        let cases = [
            (
                "newest",
                env(Some("v26.35.0 (abc)"), None, Some(true)),
                Background,
            ),
            (
                "newer, flag gone",
                env(Some("v26.40.2 (abc)"), None, None),
                Background,
            ),
            // `WAIT UNTIL READY` is gated by the zero-downtime flag there
            // too: without it, refused (an outside check).
            (
                "background switched off, zero-downtime on",
                env(Some("v26.35.0"), Some(true), Some(false)),
                WaitUntilReady,
            ),
            (
                "background switched off, zero-downtime off or unknown",
                env(Some("v26.35.0"), None, Some(false)),
                Restart,
            ),
            (
                "background switched off, zero-downtime off",
                env(Some("v26.35.0"), Some(false), Some(false)),
                Restart,
            ),
            (
                "blocking release",
                env(Some("v26.34.0 (abc)"), Some(true), None),
                WaitUntilReady,
            ),
            (
                "gated off",
                env(Some("v25.2.0 (abc)"), Some(false), None),
                Restart,
            ),
            (
                "older than the flag",
                env(Some("v0.99.0"), None, None),
                Restart,
            ),
            (
                "a blocking release whose gate SHOW does not show: tried",
                env(Some("v26.34.0 (abc)"), None, None),
                WaitUntilReady,
            ),
            (
                "no evidence (simulator)",
                env(None, None, None),
                WaitUntilReady,
            ),
            (
                "unknown version, gated off",
                env(None, Some(false), None),
                Restart,
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(resize_form(&e), want, "{name}");
        }
    }

    fn replica(name: &str, size: &str, owner: &str) -> Replica {
        Replica {
            id: format!("u{}", name.len()),
            name: name.into(),
            size: Some(Size(size.into())),
            hydrated: true,
            crash: Default::default(),
            owner_id: RoleId::parse(owner),
            since: None,
            objects: None,
            offline: false,
        }
    }

    fn managed(size: &str, replicas: Vec<Replica>) -> Cluster {
        Cluster {
            managed: true,
            size: Some(Size(size.into())),
            replication_factor: Some(1),
            replicas,
            ..Cluster::empty(ClusterId("u7".into()), "m")
        }
    }

    #[test]
    fn a_reconfiguration_is_in_flight_while_replicas_of_another_size_exist() {
        let settled = managed("25cc", vec![replica("r1", "25cc", "u1")]);
        assert_eq!(reconfiguration_in_flight(&settled), None);
        let background = managed(
            "25cc",
            vec![replica("r1", "25cc", "u1"), replica("r2", "100cc", "u1")],
        );
        let why = reconfiguration_in_flight(&background).unwrap_or_default();
        assert!(
            why.contains("waiting for the resize to finish") && why.contains("r2 (100cc)"),
            "{why}"
        );
        let blocking = managed(
            "25cc",
            vec![
                replica("r1", "25cc", "u1"),
                replica("r1-pending", "25cc", "u1"),
            ],
        );
        assert!(reconfiguration_in_flight(&blocking).is_some());
        let mut unmanaged = background.clone();
        unmanaged.managed = false;
        assert_eq!(reconfiguration_in_flight(&unmanaged), None);
    }

    fn snap_as(role: &str, holds: &[&str], superuser: bool, clusters: Vec<Cluster>) -> Snapshot {
        let mut identity = Identity {
            role: RoleId::parse(role).map(|id| Role {
                id,
                name: "ctl".into(),
            }),
            superuser: Some(superuser),
            ..Identity::default()
        };
        identity.holds = holds.iter().filter_map(|s| RoleId::parse(s)).collect();
        identity
            .role_names
            .extend(RoleId::parse("u1").map(|id| (id, "admin".to_string())));
        Snapshot {
            clusters,
            env: Environment {
                identity,
                ..Environment::default()
            },
            ..Snapshot::default()
        }
    }

    #[test]
    fn ownership_our_role_lacks_is_reported_with_the_fix() {
        let mut c = Cluster {
            owner_id: RoleId::parse("u1"),
            replicas: vec![replica("r1", "25cc", "u5"), replica("r2", "25cc", "u1")],
            ..Cluster::empty(ClusterId("u7".into()), "c")
        };
        let s = snap_as("u5", &["u5"], false, vec![c.clone()]);
        let why = unmanageable(&s, &c).unwrap_or_default();
        assert!(why.contains(r#"ALTER CLUSTER "c" OWNER TO "ctl""#), "{why}");
        // Judged for this command's role: the fix is for `apply`'s.
        assert!(
            why.contains("(when ctl is the role `clusterctl apply` runs as)"),
            "{why}"
        );
        assert!(
            why.contains(r#"ALTER CLUSTER REPLICA "c"."r2" OWNER TO "ctl""#),
            "{why}"
        );
        assert!(!why.contains(r#""c"."r1""#), "{why}");
        // Through membership of the owning role, as a superuser, without RBAC,
        // or when our role is unknown: nothing to report.
        assert_eq!(
            unmanageable(&snap_as("u5", &["u5", "u1"], false, vec![]), &c),
            None
        );
        assert_eq!(
            unmanageable(&snap_as("u5", &["u5"], true, vec![]), &c),
            None
        );
        let mut no_rbac = snap_as("u5", &["u5"], false, vec![]);
        no_rbac.env.settings.enable_rbac_checks = Some(false);
        assert_eq!(unmanageable(&no_rbac, &c), None);
        assert_eq!(unmanageable(&Snapshot::default(), &c), None);
        // A managed cluster's replicas are Materialize's: only the cluster counts.
        c.managed = true;
        c.owner_id = RoleId::parse("u5");
        assert_eq!(
            unmanageable(&snap_as("u5", &["u5"], false, vec![]), &c),
            None
        );
    }

    #[test]
    fn the_replica_limit_cuts_the_most_expensive_additions_and_counts_live_ones() {
        let sizes = SizeCatalog::cloud_defaults();
        let c = Cluster {
            replicas: vec![replica("a", "25cc", "u1"), replica("b", "50cc", "u1")],
            ..Cluster::empty(ClusterId("u7".into()), "c")
        };
        let limited = |limit: u32, burst: bool| {
            let mut d = Desired::from_cluster(&c);
            for (n, s) in [("x", "100cc"), ("y", "800cc"), ("z", "200cc")] {
                d.add(n, &Size(s.into()), StrategyKind::ShrinkToFit, "try".into());
            }
            if burst {
                d.add(
                    "w",
                    &Size("1600cc".into()),
                    StrategyKind::Burst,
                    "burst".into(),
                );
            }
            // `b` goes in this round, but creates run first: it still counts.
            d.remove("b", StrategyKind::ShrinkToFit, "bigger".into());
            enforce_replica_limit(&c, &sizes, Some(limit), test_now(), &mut d);
            d
        };
        // The probe's largest size (800cc) is cut last: the next most
        // expensive goes.
        let d = limited(4, false);
        assert_eq!(d.names(), ["a", "x", "y"]);
        // Held back, not done: waiting work with its reason.
        assert!(
            d.deferred.iter().any(|w| w.action == "create z (200cc)"
                && w.reason.contains("5 replicas would exceed")
                && w.reason.contains("max_replicas_per_cluster (4)")),
            "{:?}",
            d.deferred
        );
        // A managed cluster: the desired count is its replication factor,
        // cut only beyond the limit.
        let managed = Cluster {
            managed: true,
            ..c.clone()
        };
        let factor = |limit: u32| {
            let mut d = Desired::from_cluster(&managed);
            for n in ["x", "y"] {
                d.add(
                    n,
                    &Size("25cc".into()),
                    StrategyKind::TargetSize,
                    "more".into(),
                );
            }
            enforce_replica_limit(&managed, &sizes, Some(limit), test_now(), &mut d);
            d.names().len()
        };
        assert_eq!(factor(4), 4);
        assert_eq!(factor(3), 3);
        assert_eq!(limited(3, false).names(), ["a", "y"]);
        // Only the probe's largest: another strategy's addition is cut by
        // cost, however large.
        assert_eq!(limited(4, true).names(), ["a", "x", "y"]);
        assert_eq!(limited(5, true).names(), ["a", "x", "y", "z"]);
        let mut unlimited = Desired::from_cluster(&c);
        unlimited.add(
            "x",
            &Size("100cc".into()),
            StrategyKind::ShrinkToFit,
            "try".into(),
        );
        enforce_replica_limit(&c, &sizes, None, test_now(), &mut unlimited);
        assert_eq!(unlimited.names(), ["a", "b", "x"]);
    }

    fn test_now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-05T09:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn with_users_unserved_the_replica_limit_cuts_the_cheapest_additions() {
        let sizes = SizeCatalog::cloud_defaults();
        let now = test_now();
        let mut c = Cluster::empty(ClusterId("u7".into()), "c");
        let probe = |c: &Cluster| {
            let mut d = Desired::from_cluster(c);
            for s in ["25cc", "50cc", "100cc", "200cc", "400cc"] {
                d.add(s, &Size(s.into()), StrategyKind::ShrinkToFit, "try".into());
            }
            enforce_replica_limit(c, &sizes, Some(3), now, &mut d);
            d.names()
        };
        // Nobody there: the cheapest are kept, and the probe's largest,
        // the one that serves if any does.
        assert_eq!(probe(&c), ["25cc", "400cc", "50cc"]);
        // Statements waiting, or turned away in the last five minutes (no
        // replica: they fail at once): the largest, soonest hydrated.
        c.activity.in_flight = 3;
        assert_eq!(probe(&c), ["100cc", "200cc", "400cc"]);
        c.activity.in_flight = 0;
        c.activity.last_begin = Some(now - chrono::Duration::seconds(299));
        assert_eq!(probe(&c), ["100cc", "200cc", "400cc"]);
        c.activity.last_begin = Some(now - chrono::Duration::seconds(300));
        assert_eq!(probe(&c), ["25cc", "400cc", "50cc"]);
        // A hydrated replica serves them: cost first again.
        c.activity.in_flight = 3;
        c.replicas = vec![replica("r", "800cc", "u1")];
        c.replicas[0].hydrated = true;
        assert_eq!(probe(&c), ["25cc", "400cc", "r"]);
    }

    /// What `check` and `doctor` warn of: only for the strategies the
    /// environment hinders, each named.
    #[test]
    fn findings_name_what_the_environment_keeps_a_strategy_from_doing() {
        use crate::plan::rows::Code;
        use crate::strategy::StrategyConfig;
        let cfg = parsed;
        let idle = cfg(
            StrategyKind::IdleSuspend,
            serde_json::json!({"idle_after_s": 600}),
        );
        let schedule = |replicas: u32| {
            cfg(
                StrategyKind::Schedule,
                serde_json::json!({"timezone": "UTC", "windows": [{"cron": "0 0 8 * * *",
                    "duration_s": 3600, "size": "50cc", "replicas": replicas}]}),
            )
        };
        let c = Cluster::empty(ClusterId("u2".into()), "c");
        let found = |s: &Snapshot, configs: &[StrategyConfig]| -> Vec<(Code, Option<&str>)> {
            environment_findings(s, &c, configs)
                .into_iter()
                .map(|(code, kind, _)| (code, kind))
                .collect()
        };
        let mut s = Snapshot {
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        s.env.settings.max_replicas_per_cluster = Some(5);
        assert_eq!(found(&s, &[idle.clone(), schedule(5)]), []);
        assert_eq!(
            found(&s, &[schedule(6)]),
            [(Code::Unsupported, Some("schedule"))]
        );
        // A log without rows: idle_suspend cannot tell, where it is asked.
        s.activity_log_has_rows = false;
        assert_eq!(
            found(&s, std::slice::from_ref(&idle)),
            [(Code::SignalUnknown, Some("idle_suspend"))]
        );
        assert_eq!(found(&s, &[schedule(1)]), []);

        // A size to set on a managed cluster this release cannot resize
        // without a restart: said, unless downtime is allowed.
        let target = |downtime: bool| {
            cfg(
                StrategyKind::TargetSize,
                serde_json::json!({"target_size": "50cc", "allow_downtime": downtime}),
            )
        };
        let managed = Cluster {
            managed: true,
            ..c.clone()
        };
        let on = |release: Environment, cluster: &Cluster, configs: &[StrategyConfig]| {
            let s = Snapshot {
                env: release,
                activity_log_has_rows: true,
                ..Snapshot::default()
            };
            environment_findings(&s, cluster, configs)
                .into_iter()
                .map(|(code, kind, _)| (code, kind))
                .collect::<Vec<_>>()
        };
        let old = || env(Some("v0.99.0"), None, None);
        assert_eq!(
            on(old(), &managed, &[target(false)]),
            [(Code::Unsupported, None)]
        );
        assert_eq!(on(old(), &managed, &[target(true)]), []);
        assert_eq!(on(old(), &c, &[target(false)]), []);
        // Nothing to resize: nothing said.
        assert_eq!(on(old(), &managed, &[idle]), []);
        let newest = env(Some("v26.35.0 (abc)"), None, Some(true));
        assert_eq!(on(newest, &managed, &[target(false)]), []);
        // The newest release with both settings off: the settings are the
        // cure, not an upgrade.
        let said = |release: Environment| {
            let s = Snapshot {
                env: release,
                activity_log_has_rows: true,
                ..Snapshot::default()
            };
            environment_findings(&s, &managed, &[target(false)])
                .into_iter()
                .map(|(_, _, m)| m)
                .collect::<Vec<_>>()
        };
        let off = said(env(Some("v26.35.0 (abc)"), Some(false), Some(false)));
        assert!(
            off.len() == 1
                && off[0].contains("turn enable_background_alter_cluster")
                && !off[0].contains("upgrade"),
            "{off:?}"
        );
        assert!(said(old()).iter().any(|m| m.ends_with("or upgrade")));
    }

    /// A size whose one replica costs more than the cluster's own `limits`
    /// row allows is a contradiction `check` names (it said "no problems":
    /// an outside check); `shrink_to_fit`'s largest is only what it may
    /// try, not one.
    #[test]
    fn a_size_over_the_limits_rows_credits_is_a_conflict() {
        use crate::plan::rows::Code;
        use crate::strategy::StrategyConfig;
        let cfg = parsed;
        let limits = cfg(
            StrategyKind::Limits,
            serde_json::json!({"max_credits_per_hour": 1}),
        );
        let target = |size: &str| {
            cfg(
                StrategyKind::TargetSize,
                serde_json::json!({"target_size": size}),
            )
        };
        let shrink = cfg(
            StrategyKind::ShrinkToFit,
            serde_json::json!({"max_replica_size": "800cc"}),
        );
        let s = Snapshot {
            sizes: SizeCatalog::cloud_defaults(),
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        let c = Cluster::empty(ClusterId("u2".into()), "c");
        let found = |configs: &[StrategyConfig]| -> Vec<(Code, Option<&str>, String)> {
            environment_findings(&s, &c, configs)
        };
        let over = found(&[limits.clone(), target("800cc")]);
        assert_eq!(over.len(), 1, "{over:?}");
        assert_eq!(over[0].0, Code::ConflictingStrategies);
        assert!(
            over[0]
                .2
                .contains("over the limits row's max_credits_per_hour 1"),
            "{over:?}"
        );
        assert!(found(&[limits.clone(), target("25cc")]).is_empty());
        assert!(found(&[limits.clone(), shrink]).is_empty());
        // A resize never let through: the new size beside the live one
        // (0.5 + 1 credits/h over 1; 2 replicas over 1), said once the
        // cluster runs another size.
        let mut running = c.clone();
        running.replicas = vec![crate::strategy::testutil::replica("r1", "50cc", true)];
        let resizes = |limits: &StrategyConfig, c: &Cluster| {
            environment_findings(&s, c, &[limits.clone(), target("100cc")])
        };
        let one = cfg(StrategyKind::Limits, serde_json::json!({"max_replicas": 1}));
        for (l, over) in [
            (&limits, "max_credits_per_hour 1"),
            (&one, "max_replicas 1"),
        ] {
            let f = resizes(l, &running);
            assert!(
                f.iter().any(
                    |(_, _, m)| m.contains("the resize to 100cc runs 2 replicas")
                        && m.contains(&format!("over the limits row's {over}: it never goes"))
                ),
                "{f:?}"
            );
            assert!(
                resizes(l, &c).is_empty(),
                "nothing runs: {:?}",
                resizes(l, &c)
            );
        }
        // A schedule's window and default alike, each shape once, and
        // not one the cluster runs (50cc) nor the suspension.
        let schedule = cfg(
            StrategyKind::Schedule,
            serde_json::json!({"timezone": "UTC", "windows": [
                {"cron": "0 0 8 * * Mon-Fri", "duration_s": 3600, "size": "100cc", "replicas": 2},
                {"cron": "0 0 9 * * Mon-Fri", "duration_s": 3600, "size": "100cc", "replicas": 2},
                {"cron": "0 0 1 * * *", "duration_s": 3600, "size": "50cc", "replicas": 1},
                {"cron": "0 0 3 * * *", "duration_s": 3600, "size": "800cc", "replicas": 0}],
                "default": {"size": "25cc", "replicas": 1}}),
        );
        let two = cfg(StrategyKind::Limits, serde_json::json!({"max_replicas": 2}));
        let f = environment_findings(&s, &running, &[two.clone(), schedule.clone()]);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(
            (f[0].0, f[0].1),
            (Code::ConflictingStrategies, Some("schedule"))
        );
        assert!(
            f[0].2.starts_with(
                "schedule: the resize to 2×100cc (window \"0 0 8 * * Mon-Fri\") runs 3 replicas"
            ) && f[0]
                .2
                .contains("over the limits row's max_replicas 2: it never goes"),
            "{f:?}"
        );
        let f = environment_findings(&s, &running, &[one.clone(), schedule.clone()]);
        assert_eq!(f.len(), 2, "the default's 25cc beside 50cc too: {f:?}");
        assert!(
            f[1].2
                .starts_with("schedule: the resize to 25cc (default) runs 2"),
            "{f:?}"
        );
        // stabilization cannot hold Materialize's own cut-over: said on a
        // managed cluster only.
        let stab = cfg(
            StrategyKind::Stabilization,
            serde_json::json!({"scale_down_after_s": 300}),
        );
        let mut managed = c.clone();
        managed.managed = true;
        let said = |c: &Cluster| {
            environment_findings(&s, c, &[stab.clone(), target("50cc")])
                .into_iter()
                .any(|(code, _, m)| code == Code::Unsupported && m.contains("MANAGED = false"))
        };
        assert!(said(&managed));
        assert!(!said(&c));
    }

    /// `doctor`'s warning: a log without rows only where `idle_suspend`
    /// relies on it; a problem of the log itself in any case.
    #[test]
    fn doctor_warns_of_an_empty_log_only_where_idle_suspend_relies_on_it() {
        let mut s = Snapshot::default();
        assert_eq!(activity_warning(&s), None, "no rows, no reliance");
        s.env.settings.statement_logging_default_sample_rate = Some(0.05);
        assert!(activity_warning(&s).is_some_and(|w| w.contains("keeps 5% of statements")));
        s.env.settings.statement_logging_default_sample_rate = None;
        let row = |ty: &str, config| crate::model::StrategyRow {
            cluster_id: ClusterId("u2".into()),
            strategy_type: ty.into(),
            config,
            updated_at: None,
            unreadable: None,
        };
        s.strategies.push(row(
            "target_size",
            serde_json::json!({"target_size": "25cc"}),
        ));
        assert_eq!(
            activity_warning(&s),
            None,
            "target_size does not rely on it"
        );
        s.strategies.push(row(
            "idle_suspend",
            serde_json::json!({"idle_after_s": 600}),
        ));
        let empty = activity_warning(&s);
        assert!(
            empty.is_some() && empty == activity_unknown(&s),
            "{empty:?}"
        );
        s.activity_log_has_rows = true;
        assert_eq!(activity_warning(&s), None);
    }

    /// A sampled log lengthens the silence that proves idleness, and says
    /// by how much; a complete log, or one too thin to prove anything (a
    /// problem of its own), says nothing of it.
    #[test]
    fn a_sampled_log_says_how_much_longer_idle_suspend_waits() {
        let note = |rate: Option<f64>| {
            let mut env = Environment::default();
            env.settings.statement_logging_default_sample_rate = rate;
            sampling_note(&env)
        };
        assert_eq!(
            note(Some(0.5)).as_deref(),
            Some(
                "statement logging keeps 50% of statements: idle_suspend waits 2× idle_after_s \
                 of silence before suspending"
            )
        );
        assert!(note(Some(0.99)).is_some_and(|n| n.contains("waits 1.01× idle_after_s")));
        assert_eq!(note(Some(1.0)), None);
        assert_eq!(note(Some(0.05)), None);
        assert_eq!(note(None), None);
    }

    #[test]
    fn each_resize_form_says_how_it_resizes() {
        assert!(ResizeForm::Background
            .describe()
            .contains("in the background"));
        assert!(ResizeForm::WaitUntilReady
            .describe()
            .contains("WAIT UNTIL READY"));
        assert!(ResizeForm::Restart.describe().contains("downtime"));
    }

    #[test]
    fn a_thin_or_unreadable_log_is_a_problem_an_empty_one_only_unknown() {
        let mut s = Snapshot {
            activity_log_has_rows: true,
            ..Snapshot::default()
        };
        assert_eq!(activity_unknown(&s), None);
        s.env.settings.statement_logging_default_sample_rate = Some(0.05);
        assert!(activity_problem(&s).is_some_and(|p| p.contains("keeps 5% of statements")));
        s.env.settings.statement_logging_default_sample_rate = Some(0.5);
        assert_eq!(activity_problem(&s), None);
        // The threshold itself still proves something.
        s.env.settings.statement_logging_default_sample_rate = Some(MIN_SAMPLE_RATE);
        assert_eq!(activity_problem(&s), None);
        s.env.activity_error = Some("permission denied".into());
        assert!(activity_problem(&s).is_some_and(|p| p.contains("mz_monitor_redacted")));
        s.env.activity_error = None;
        s.activity_log_has_rows = false;
        assert_eq!(activity_problem(&s), None);
        assert!(activity_unknown(&s).is_some());
    }
}
