//! What a run cost and how well it served, per cluster and in total, next to
//! two baselines computed from the same workload: always-on at the largest
//! size the cluster's strategies name, and the oracle (the smallest adequate
//! size running exactly while there is demand, plus its hydration lead time:
//! the lower bound). Rendered as text or JSON; both are two views of `Report`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::engine::{Run, Slot};
use super::scenario::{ClusterSpec, Scenario, Trace, HOUR, SECOND};
use crate::model::Size;
use crate::plan::ActionKind;

pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub scenario: ScenarioInfo,
    pub clusters: Vec<ClusterReport>,
    pub total: Totals,
    pub summary: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub days: f64,
    pub interval_s: f64,
    pub seed: u64,
    pub ticks: i64,
    pub clusters: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub size: Option<String>,
    pub credits: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Waits {
    pub queries: u64,
    pub waited: u64,
    pub p95_s: f64,
    pub worst_s: f64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Actions {
    pub create: u64,
    pub drop: u64,
    pub failed: u64,
    /// Managed clusters: `ALTER CLUSTER … SET (SIZE | REPLICATION FACTOR)`.
    pub alter: u64,
    /// `"<strategy> <create|drop|resize|set replication factor>"` → count.
    pub by_strategy: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub name: String,
    pub credits: f64,
    pub always_on: Baseline,
    /// The lower bound for the service this run gave: the smallest adequate
    /// size running exactly while demand was served, plus hydration lead.
    pub oracle: Baseline,
    /// The same oracle serving all demand (can exceed a strategy that left
    /// demand waiting).
    pub oracle_all_demand_credits: f64,
    /// Saving against always-on, percent.
    pub savings_pct: f64,
    pub demand_s: f64,
    pub served_s: f64,
    pub availability_pct: f64,
    pub waits: Waits,
    pub actions: Actions,
    pub ooms: u64,
    /// Time from each resize request to the old replica's retirement.
    pub resize_to_retire_s: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub credits: f64,
    pub always_on_credits: f64,
    pub oracle_credits: f64,
    pub savings_pct: f64,
    pub demand_s: f64,
    pub served_s: f64,
    pub availability_pct: f64,
    pub waits: Waits,
    pub actions: Actions,
    pub ooms: u64,
    pub max_resize_to_retire_s: Option<f64>,
}

/// Merged, sorted, non-overlapping intervals.
pub fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.retain(|(a, b)| b > a);
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

fn length(v: &[(i64, i64)]) -> i64 {
    v.iter().map(|(a, b)| b - a).sum()
}

/// The intersection of two merged interval lists.
fn intersect(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if hi > lo {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Parts of `a` not covered by `b` (both merged).
pub fn subtract(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(mut lo, hi) in a {
        for &(c0, c1) in b {
            if c1 <= lo || c0 >= hi {
                continue;
            }
            if c0 > lo {
                out.push((lo, c0));
            }
            lo = lo.max(c1);
        }
        if lo < hi {
            out.push((lo, hi));
        }
    }
    out
}

/// When the cluster has demand: its query windows, or each traced statement
/// for its service time.
pub fn demand(spec: &ClusterSpec, sc: &Scenario) -> Vec<(i64, i64)> {
    let v: Vec<(i64, i64)> = match &spec.workload.trace {
        Trace::Windows(ws) => ws
            .iter()
            .filter(|w| w.qps > 0.0)
            .flat_map(|w| w.occurrences(sc.horizon_ms, sc.start))
            .collect(),
        Trace::Begins(b) => b
            .iter()
            .map(|b| (*b, b + spec.workload.service_ms))
            .collect(),
    };
    merge(
        v.into_iter()
            .map(|(a, b): (i64, i64)| (a.max(0), b.min(sc.horizon_ms)))
            .collect(),
    )
}

/// When a hydrated replica existed.
pub fn coverage(slot: &Slot, horizon: i64) -> Vec<(i64, i64)> {
    merge(
        slot.sim
            .history
            .iter()
            .chain(slot.sim.replicas.iter())
            .flat_map(|r| r.hydrated_intervals(r.gone_ms.unwrap_or(horizon)))
            .collect(),
    )
}

/// The largest size named in the cluster's strategies (any phase).
fn largest_named(spec: &ClusterSpec, sc: &Scenario) -> Option<Size> {
    let named = spec
        .phases
        .iter()
        .flat_map(|p| p.rows.iter())
        .flat_map(|(_, cfg)| {
            // `schedule` names its sizes per window and in `default`.
            let nested = cfg
                .get("windows")
                .and_then(|w| w.as_array())
                .into_iter()
                .flatten()
                .chain(cfg.get("default"));
            ["target_size", "max_replica_size", "burst_replica_size"]
                .into_iter()
                .filter_map(|k| cfg.get(k))
                .chain(nested.filter_map(|o| o.get("size")))
                .filter_map(|v| v.as_str().map(Size::from))
                .collect::<Vec<_>>()
        })
        .chain(spec.initial_replicas.iter().map(|r| r.size.clone()))
        .chain(spec.managed.as_ref().map(|m| m.size.clone()));
    named.max_by_key(|s| sc.sizes.rank(s))
}

fn oracle(spec: &ClusterSpec, sc: &Scenario, demand: &[(i64, i64)]) -> Baseline {
    let w = &spec.workload;
    let Some(size) = sc
        .sizes
        .all()
        .iter()
        .find(|s| s.memory_bytes >= w.memory_bytes)
    else {
        return Baseline {
            size: None,
            credits: 0.0,
        };
    };
    let lead = w.hydration_ms(size).unwrap_or(0);
    let running = merge(
        demand
            .iter()
            .map(|(a, b)| ((a - lead).max(0), *b))
            .collect(),
    );
    Baseline {
        size: Some(size.name.0.clone()),
        credits: size.credits_per_hour * length(&running) as f64 / HOUR as f64,
    }
}

fn waits_of(queries: u64, waits: &[i64]) -> Waits {
    let mut w: Vec<i64> = waits.iter().copied().filter(|w| *w > 0).collect();
    w.sort_unstable();
    let zeros = queries.saturating_sub(w.len() as u64);
    let p95 = if queries == 0 {
        0
    } else {
        // Nearest rank over all queries, the zero waits first.
        let rank = ((queries as f64) * 0.95).ceil() as u64;
        if rank <= zeros {
            0
        } else {
            w.get((rank - zeros - 1) as usize).copied().unwrap_or(0)
        }
    };
    Waits {
        queries,
        waited: w.len() as u64,
        p95_s: p95 as f64 / SECOND as f64,
        worst_s: w.last().copied().unwrap_or(0) as f64 / SECOND as f64,
    }
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        100.0
    }
}

fn saving(cost: f64, base: f64) -> f64 {
    if base > 0.0 {
        100.0 * (1.0 - cost / base)
    } else {
        0.0
    }
}

fn actions_of(slot: &Slot) -> Actions {
    let mut a = Actions::default();
    for m in &slot.actions {
        if !m.ok {
            a.failed += 1;
            continue;
        }
        let verb = match m.kind {
            ActionKind::CreateReplica => {
                a.create += 1;
                "create"
            }
            ActionKind::DropReplica => {
                a.drop += 1;
                "drop"
            }
            ActionKind::SetReplicationFactor | ActionKind::SetSize => {
                a.alter += 1;
                m.kind.verb()
            }
        };
        *a.by_strategy
            .entry(format!("{} {verb}", m.strategy))
            .or_default() += 1;
    }
    a
}

fn cluster_report(slot: &Slot, sc: &Scenario) -> ClusterReport {
    let spec = &slot.sim.spec;
    let dem = demand(spec, sc);
    let cov = coverage(slot, sc.horizon_ms);
    let demand_ms = length(&dem);
    let served = intersect(&dem, &cov);
    let served_ms = length(&served);
    let big = largest_named(spec, sc);
    let always_on = Baseline {
        credits: big.as_ref().map(|s| sc.sizes.credits(s)).unwrap_or(0.0) * sc.horizon_ms as f64
            / HOUR as f64,
        size: big.map(|s| s.0),
    };
    let oracle_all = oracle(spec, sc, &dem);
    let oracle = oracle(spec, sc, &served);
    let credits = slot.sim.credits;
    ClusterReport {
        name: spec.name.clone(),
        credits: round(credits),
        savings_pct: round(saving(credits, always_on.credits)),
        always_on: Baseline {
            credits: round(always_on.credits),
            ..always_on
        },
        oracle: Baseline {
            credits: round(oracle.credits),
            ..oracle
        },
        oracle_all_demand_credits: round(oracle_all.credits),
        demand_s: demand_ms as f64 / SECOND as f64,
        served_s: served_ms as f64 / SECOND as f64,
        availability_pct: round(pct(served_ms as f64, demand_ms as f64)),
        waits: waits_of(slot.sim.stats.queries, &slot.sim.stats.waits),
        actions: actions_of(slot),
        ooms: slot
            .sim
            .history
            .iter()
            .chain(slot.sim.replicas.iter())
            .map(|r| r.ooms.len() as u64)
            .sum(),
        resize_to_retire_s: slot
            .resize_ms
            .iter()
            .map(|m| *m as f64 / SECOND as f64)
            .collect(),
    }
}

/// Rounds to 1/1000 so that reports stay byte-stable and readable.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub fn build(sc: &Scenario, run: &Run) -> Report {
    let clusters: Vec<ClusterReport> = run.slots.iter().map(|s| cluster_report(s, sc)).collect();
    let sum = |f: &dyn Fn(&ClusterReport) -> f64| round(clusters.iter().map(f).sum::<f64>());
    let credits = sum(&|c| c.credits);
    let always_on_credits = sum(&|c| c.always_on.credits);
    let oracle_credits = sum(&|c| c.oracle.credits);
    let demand_s = sum(&|c| c.demand_s);
    let served_s = sum(&|c| c.served_s);
    let all_waits: Vec<i64> = run
        .slots
        .iter()
        .flat_map(|s| s.sim.stats.waits.iter().copied())
        .collect();
    let queries = run.slots.iter().map(|s| s.sim.stats.queries).sum();
    let mut actions = Actions::default();
    for c in &clusters {
        actions.create += c.actions.create;
        actions.drop += c.actions.drop;
        actions.failed += c.actions.failed;
        actions.alter += c.actions.alter;
        for (k, v) in &c.actions.by_strategy {
            *actions.by_strategy.entry(k.clone()).or_default() += v;
        }
    }
    let total = Totals {
        credits,
        always_on_credits,
        oracle_credits,
        savings_pct: round(saving(credits, always_on_credits)),
        demand_s,
        served_s,
        availability_pct: round(pct(served_s, demand_s)),
        waits: waits_of(queries, &all_waits),
        actions,
        ooms: clusters.iter().map(|c| c.ooms).sum(),
        max_resize_to_retire_s: clusters
            .iter()
            .flat_map(|c| c.resize_to_retire_s.iter().copied())
            .reduce(f64::max),
    };
    let summary = interpret(&total);
    Report {
        format_version: FORMAT_VERSION,
        scenario: ScenarioInfo {
            name: sc.name.clone(),
            description: sc.description.clone(),
            days: round(sc.days()),
            interval_s: sc.interval_ms as f64 / SECOND as f64,
            seed: sc.seed,
            ticks: sc.ticks(),
            clusters: clusters.len(),
        },
        clusters,
        total,
        summary,
    }
}

fn interpret(t: &Totals) -> String {
    let vs_oracle = if t.oracle_credits > 0.0 {
        format!(
            "{:.2}x the oracle's lower bound",
            t.credits / t.oracle_credits
        )
    } else {
        "the oracle spends nothing (no demand)".to_string()
    };
    format!(
        "The strategies spent {} credits, {:.1}% {} than always-on at the largest size and {}, \
         with a hydrated replica for {:.1}% of the demand (p95 query wait {}).",
        num(t.credits),
        t.savings_pct.abs(),
        if t.savings_pct >= 0.0 { "less" } else { "more" },
        vs_oracle,
        t.availability_pct,
        secs(t.waits.p95_s)
    )
}

/// `12.5`, `1234`, `0.031`: enough digits to compare, no more.
pub fn num(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.abs() >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if x.abs() >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// `0s`, `45s`, `12m05s`, `3h02m`.
pub fn secs(s: f64) -> String {
    let s = s.round() as i64;
    if s < 60 {
        format!("{s}s")
    } else if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s < 3600 {
        format!("{}m", s / 60)
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// Columns sized to their content; the first is left-aligned.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map(Vec::len).unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, "{cell:<w$}", w = widths[c]);
            } else {
                let _ = write!(line, "  {cell:>w$}", w = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// ` +3 alter` for managed clusters' cluster-level changes.
fn alter_cell(n: u64) -> String {
    if n > 0 {
        format!(" +{n} alter")
    } else {
        String::new()
    }
}

fn resize_cell(v: &[f64]) -> String {
    match v.iter().copied().reduce(f64::max) {
        None => "-".into(),
        Some(max) if v.len() == 1 => secs(max),
        Some(max) => format!("{}x, max {}", v.len(), secs(max)),
    }
}

pub fn text(r: &Report) -> String {
    let s = &r.scenario;
    let mut out = format!(
        "scenario {}: {} days at a {} interval, seed {}, {} cluster(s)\n",
        s.name,
        num(s.days),
        secs(s.interval_s),
        s.seed,
        s.clusters
    );
    if let Some(first) = s.description.lines().next() {
        let _ = writeln!(out, "{first}");
    }
    out.push('\n');
    let mut rows = vec![vec![
        "cluster".to_string(),
        "credits".into(),
        "always-on".into(),
        "oracle".into(),
        "saved".into(),
        "avail".into(),
        "p95 wait".into(),
        "worst wait".into(),
        "create/drop".into(),
        "OOMs".into(),
        "resize->retired".into(),
    ]];
    for c in &r.clusters {
        rows.push(vec![
            c.name.clone(),
            num(c.credits),
            format!(
                "{} ({})",
                num(c.always_on.credits),
                c.always_on.size.as_deref().unwrap_or("-")
            ),
            format!(
                "{} ({})",
                num(c.oracle.credits),
                c.oracle.size.as_deref().unwrap_or("-")
            ),
            format!("{:.1}%", c.savings_pct),
            format!("{:.1}%", c.availability_pct),
            secs(c.waits.p95_s),
            secs(c.waits.worst_s),
            format!(
                "{}/{}{}{}",
                c.actions.create,
                c.actions.drop,
                alter_cell(c.actions.alter),
                if c.actions.failed > 0 {
                    format!(" ({} failed)", c.actions.failed)
                } else {
                    String::new()
                }
            ),
            c.ooms.to_string(),
            resize_cell(&c.resize_to_retire_s),
        ]);
    }
    let t = &r.total;
    rows.push(vec![
        "TOTAL".into(),
        num(t.credits),
        num(t.always_on_credits),
        num(t.oracle_credits),
        format!("{:.1}%", t.savings_pct),
        format!("{:.1}%", t.availability_pct),
        secs(t.waits.p95_s),
        secs(t.waits.worst_s),
        format!(
            "{}/{}{}",
            t.actions.create,
            t.actions.drop,
            alter_cell(t.actions.alter)
        ),
        t.ooms.to_string(),
        t.max_resize_to_retire_s
            .map(secs)
            .unwrap_or_else(|| "-".into()),
    ]);
    if r.clusters.len() > 40 {
        // A fleet: the biggest spenders, then the total.
        let mut idx: Vec<usize> = (1..=r.clusters.len()).collect();
        idx.sort_by(|a, b| {
            r.clusters[b - 1]
                .credits
                .total_cmp(&r.clusters[a - 1].credits)
                .then(a.cmp(b))
        });
        let mut picked: Vec<Vec<String>> = vec![rows[0].clone()];
        picked.extend(idx.iter().take(15).map(|i| rows[*i].clone()));
        picked.push(
            std::iter::once(format!(
                "… {} more (see --output json)",
                r.clusters.len() - 15
            ))
            .chain(std::iter::repeat_n(String::new(), rows[0].len() - 1))
            .collect(),
        );
        picked.push(rows[rows.len() - 1].clone());
        rows = picked;
    }
    out.push_str(&table(&rows));
    let mut kinds: Vec<String> = t
        .actions
        .by_strategy
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if kinds.is_empty() {
        kinds.push("none".into());
    }
    let _ = writeln!(
        out,
        "\nactions: {}; queries: {} ({} waited)",
        kinds.join(", "),
        t.waits.queries,
        t.waits.waited
    );
    let _ = writeln!(
        out,
        "always-on = the largest size the strategies name, running all the time; oracle = the smallest \
         adequate size, running exactly while this run served demand, plus its hydration lead (the \
         lower bound for the same service)."
    );
    let _ = writeln!(out, "\n{}", r.summary);
    out
}
