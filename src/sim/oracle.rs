//! The two baselines a run is judged against, both computed from the demand
//! alone (the arrivals and the memory need a strategy faced, never what it
//! did):
//!
//! - **always-on**: the cheapest size whose memory covers the greatest need
//!   of the whole run, running all the time;
//! - **the oracle**: a lower bound on the credits of *any* run that serves
//!   every query within `served_within` (T) of its first attempt.
//!
//! Why no run can cost less (the argument the property test checks): take
//! any subset of the servable queries, sorted by first attempt
//! `a_1 ≤ a_2 ≤ …`. A query served at `s ∈ [a, a+T]` needs a replica
//! hydrated at `s`, of a size adequate then (memory ≥ need). Look at the
//! replica that serves `a_{j+1}` and its latest (re)start `σ`:
//! - if `σ ≤ a_j + T`, it lived unkilled over `[a_j+T, a_{j+1}]`, so it was
//!   adequate all that time and cost at least `∫ r_min(t) dt` there, where
//!   `r_min(t)` is the cheapest rate of a size adequate at `t` (a "stay");
//! - otherwise it spent at least `min(provisioning, restart_delay)` starting
//!   and the fastest hydration the variance allows on its size after
//!   `a_j + T` and before `s`, at its size's rate: at least `κ(a_{j+1})`, the
//!   cheapest such lead over sizes adequate somewhere in `[a, a+T]` (a
//!   "cold start").
//!
//! These charges fall in disjoint stretches of time of each replica, so a
//! run costs at least `κ(a_1) + Σ min(stay_j, κ(a_{j+1}))` for every subset;
//! the oracle is the largest such sum, found by a dynamic programme over the
//! queries (each query's predecessor in the subset: the latest one whose
//! stay would cost a full cold start, the one after it, or the query just
//! before — any choice gives a valid bound, these give a tight one: a
//! dense stream loses only `T` of stay per cold-start length). A replica
//! hydrated at the start stands for a query served at −T (it paid its lead
//! before the run, so every subset starts from it); otherwise the first
//! query of a subset has nothing charged before it, so its cold start
//! includes the full provisioning (none for a replica there from the start,
//! still hydrating). Queries no size can serve
//! are left out, and counted. Read as a schedule it is a clairvoyant
//! controller that starts the cheapest adequate replica one fastest
//! hydration before it is needed, keeps it across gaps shorter than a cold
//! start costs and changes size for free: a bound to measure against, not a
//! schedule to copy.

use super::scenario::{ClusterSpec, Scenario, HOUR};
use crate::model::Size;

/// A baseline: the credits, and the size that accounts for most of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Baseline {
    pub size: Option<String>,
    pub credits: f64,
}

/// The oracle's verdict on one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Oracle {
    pub credits: f64,
    /// The size that accounts for most of its credits.
    pub size: Option<Size>,
    /// The size of most of its cold starts (hydration cost included).
    pub cold_size: Option<Size>,
    /// Queries no size can serve within T (the need exceeds every size).
    pub unservable: u64,
    /// Cumulative credits over time, `(ms, credits)`, for the plot.
    pub spend: Vec<(i64, f64)>,
}

/// The size with the most memory: what always-on is priced at when no
/// size holds a workload's peak.
pub fn most_memory(sizes: &crate::model::SizeCatalog) -> Option<&crate::model::ReplicaSize> {
    sizes
        .all()
        .iter()
        .max_by(|a, b| a.memory_bytes.total_cmp(&b.memory_bytes))
}

/// Always-on at the size the cluster needs.
pub fn always_on(spec: &ClusterSpec, sc: &Scenario) -> Baseline {
    let peak = spec.workload.need.max_over(sc.horizon_ms);
    let sizes = sc.sizes.all();
    let size = sizes
        .iter()
        .filter(|s| s.memory_bytes >= peak)
        .min_by(|a, b| a.credits_per_hour.total_cmp(&b.credits_per_hour))
        .or_else(|| most_memory(&sc.sizes));
    Baseline {
        size: size.map(|s| s.name.0.clone()),
        credits: size.map(|s| s.credits_per_hour).unwrap_or(0.0) * sc.horizon_ms as f64
            / HOUR as f64,
    }
}

/// The cheapest adequate rate over time: pieces `[t0, t1)` with a size
/// index (`None`: no size is adequate), and the credits up to each piece.
struct RateFn {
    pieces: Vec<(i64, i64, Option<usize>)>,
    cum: Vec<f64>,
    rates: Vec<f64>,
}

impl RateFn {
    fn build(spec: &ClusterSpec, sc: &Scenario, until: i64) -> RateFn {
        let sizes = sc.sizes.all();
        let rates: Vec<f64> = sizes.iter().map(|s| s.credits_per_hour).collect();
        let cheapest_for = |need: f64| {
            (0..sizes.len())
                .filter(|i| sizes[*i].memory_bytes >= need)
                .min_by(|a, b| rates[*a].total_cmp(&rates[*b]))
        };
        let mut pieces = Vec::new();
        for (t0, t1, v0, v1) in spec.workload.need.pieces(0, until) {
            // Split where the (rising) need crosses a size's memory.
            let mut cuts = vec![t0, t1];
            if v1 > v0 {
                for s in sizes {
                    let m = s.memory_bytes;
                    if m > v0 && m < v1 {
                        let x = t0 as f64 + (m - v0) / (v1 - v0) * (t1 - t0) as f64;
                        cuts.push((x.ceil() as i64).clamp(t0, t1));
                    }
                }
                cuts.sort_unstable();
                cuts.dedup();
            }
            for w in cuts.windows(2) {
                let (a, b) = (w[0], w[1]);
                if b > a {
                    // The least need on [a, b) (it rises): the cheapest
                    // rate there is never above the true one.
                    let need = v0 + (v1 - v0) * ((a - t0) as f64 / (t1 - t0).max(1) as f64);
                    pieces.push((a, b, cheapest_for(need)));
                }
            }
        }
        let mut cum = Vec::with_capacity(pieces.len() + 1);
        let mut total = 0.0;
        cum.push(0.0);
        for (a, b, z) in &pieces {
            total += z.map(|z| rates[z]).unwrap_or(0.0) * (b - a) as f64 / HOUR as f64;
            cum.push(total);
        }
        RateFn { pieces, cum, rates }
    }

    fn piece(&self, t: i64) -> usize {
        self.pieces.partition_point(|p| p.1 <= t)
    }

    /// `∫ r_min` over `[x, y]`, with the size of the longest piece; `None`
    /// when no size is adequate somewhere in it.
    fn integral(&self, x: i64, y: i64) -> Option<(f64, Option<usize>)> {
        if y <= x {
            return Some((0.0, None));
        }
        let (i, j) = (self.piece(x), self.piece(y - 1));
        let mut main = (0, None);
        for k in i..=j.min(self.pieces.len().saturating_sub(1)) {
            let (a, b, z) = self.pieces[k];
            z?;
            let len = b.min(y) - a.max(x);
            if len > main.0 {
                main = (len, z);
            }
        }
        let at = |t: i64, k: usize| {
            let Some(&(a, _, z)) = self.pieces.get(k) else {
                return self.cum[self.cum.len() - 1];
            };
            self.cum[k]
                + z.map(|z| self.rates[z]).unwrap_or(0.0) * (t - a).max(0) as f64 / HOUR as f64
        };
        Some((at(y, j) - at(x, i), main.1))
    }
}

/// Prefix integrals at sorted times: credits of `r_min` and the time in
/// which no size is adequate (then a stay is impossible).
struct Prefix {
    credits: Vec<f64>,
    bad: Vec<i64>,
}

impl RateFn {
    /// `(∫_0^t r_min, time with no adequate size in [0, t))` at each of the
    /// sorted `times`.
    fn prefix(&self, times: &[i64]) -> Prefix {
        let mut credits = Vec::with_capacity(times.len());
        let mut bad = Vec::with_capacity(times.len());
        let (mut k, mut c, mut b) = (0usize, 0.0, 0i64);
        for &t in times {
            while k < self.pieces.len() && self.pieces[k].1 <= t {
                let (p0, p1, z) = self.pieces[k];
                match z {
                    Some(z) => c += self.rates[z] * (p1 - p0) as f64 / HOUR as f64,
                    None => b += p1 - p0,
                }
                k += 1;
            }
            let (mut ci, mut bi) = (c, b);
            if let Some(&(p0, _, z)) = self.pieces.get(k) {
                let part = (t - p0).max(0);
                match z {
                    Some(z) => ci += self.rates[z] * part as f64 / HOUR as f64,
                    None => bi += part,
                }
            }
            credits.push(ci);
            bad.push(bi);
        }
        Prefix { credits, bad }
    }
}

/// The cheapest cold start and its size (`None`: no size can serve).
type ColdStart = Option<(f64, usize)>;

/// How a query entered the bound: first of the subset, or after a
/// predecessor (`usize::MAX`: the replica hydrated at the start) by a stay
/// or a cold start.
#[derive(Debug, Clone, Copy)]
enum Step {
    First,
    After(usize, bool),
}

/// The servable queries with their cheapest cold starts.
struct Queries {
    /// First attempts (ms), sorted.
    a: Vec<i64>,
    /// The cheapest cold start after an earlier query of the subset (credits, size).
    kap: Vec<(f64, usize)>,
    /// The cheapest cold start of a subset's first query.
    kap_first: Vec<f64>,
    unservable: u64,
}

fn servable(spec: &ClusterSpec, sc: &Scenario, arrivals: &[i64]) -> Queries {
    let w = &spec.workload;
    let t_ok = sc.clients.served_within_ms;
    let sizes = sc.sizes.all();
    let m = &sc.materialize;
    let start0 = m.provisioning_ms.min(m.restart_ms);
    // The first query of a subset has nothing charged before it: its
    // server was created (provisioning) or existed from the start.
    let first_start = if spec.initial_replicas.is_empty() {
        m.provisioning_ms
    } else {
        0
    };
    let leads: Vec<f64> = sizes
        .iter()
        .map(|s| w.fastest_hydration_ms(s).max(0) as f64)
        .collect();
    // The cheapest cold start for a need, with `start` ms of starting
    // before hydration, and its size.
    let kappa_for = |need: f64, start: i64| -> ColdStart {
        (0..sizes.len())
            .filter(|i| sizes[*i].memory_bytes >= need)
            .map(|i| {
                let ms = start as f64 + leads[i];
                (sizes[i].credits_per_hour * ms / HOUR as f64, i)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0))
    };
    // Most of the time the need is the same as the last query's.
    let mut memo: Option<(f64, [ColdStart; 2])> = None;
    let constant = w.need.is_constant();
    let mut q = Queries {
        a: Vec::with_capacity(arrivals.len()),
        kap: Vec::with_capacity(arrivals.len()),
        kap_first: Vec::with_capacity(arrivals.len()),
        unservable: 0,
    };
    for &t in arrivals {
        let need = if constant {
            w.need.at(0)
        } else {
            w.need.min_over(t, t + t_ok)
        };
        let k = match memo {
            Some((n, k)) if n == need => k,
            _ => {
                let k = [kappa_for(need, start0), kappa_for(need, first_start)];
                memo = Some((need, k));
                k
            }
        };
        match k {
            [Some(k), Some(k0)] => {
                q.a.push(t);
                q.kap.push(k);
                q.kap_first.push(k0.0);
            }
            _ => q.unservable += 1,
        }
    }
    q
}

/// The dynamic programme: for each query, the best bound of a subset ending
/// with it, and how it got there.
fn best_subsets(
    q: &Queries,
    rate_fn: &RateFn,
    t_ok: i64,
    hydrated_at_start: bool,
) -> (Vec<f64>, Vec<Step>) {
    let n = q.a.len();
    let (a, kap) = (&q.a, &q.kap);
    let at = rate_fn.prefix(a);
    let after_t: Vec<i64> = a.iter().map(|t| t + t_ok).collect();
    let at_t = rate_fn.prefix(&after_t);
    let zero = rate_fn.prefix(&[0]);
    // A stay from `a_i + T` (or from 0 for the start) to `a_j`: `None` when
    // some of it has no adequate size.
    let stay = |from_c: f64, from_bad: i64, j: usize| -> Option<f64> {
        (at.bad[j] <= from_bad).then(|| (at.credits[j] - from_c).max(0.0))
    };
    let stay_from = |i: usize, j: usize| stay(at_t.credits[i], at_t.bad[i], j);
    let capped = |i: usize, j: usize| stay_from(i, j).is_none_or(|s| s >= kap[j].0);
    let mut best = vec![0.0; n];
    let mut how = vec![Step::First; n];
    // The latest predecessor whose stay costs a full cold start.
    let mut p: Option<usize> = None;
    for j in 0..n {
        let mut top = (f64::MIN, Step::First);
        let mut offer = |v: f64, step: Step| {
            if v > top.0 {
                top = (v, step);
            }
        };
        // A replica hydrated at the start paid its lead before the run: the
        // first query is then always charged from it (a stay from 0, or a
        // later cold start), never a free-standing first cold start.
        if !hydrated_at_start {
            offer(q.kap_first[j], Step::First);
        } else {
            match stay(zero.credits[0], zero.bad[0], j) {
                Some(s) if s < kap[j].0 => offer(s, Step::After(usize::MAX, true)),
                _ => offer(kap[j].0, Step::After(usize::MAX, false)),
            }
        }
        loop {
            let next = p.map_or(0, |p| p + 1);
            if next < j && capped(next, j) {
                p = Some(next);
            } else {
                break;
            }
        }
        while let Some(q) = p.filter(|q| !capped(*q, j)) {
            p = q.checked_sub(1);
        }
        if let Some(q) = p {
            offer(best[q] + kap[j].0, Step::After(q, false));
        }
        for i in [p.map_or(0, |q| q + 1), j.wrapping_sub(1)] {
            if i < j {
                if let Some(s) = stay_from(i, j) {
                    let term = s.min(kap[j].0);
                    offer(best[i] + term, Step::After(i, s < kap[j].0));
                }
            }
        }
        (best[j], how[j]) = top;
    }
    (best, how)
}

/// The oracle for one cluster whose queries first arrived at `arrivals`
/// (sorted).
pub fn oracle(spec: &ClusterSpec, sc: &Scenario, arrivals: &[i64]) -> Oracle {
    let t_ok = sc.clients.served_within_ms;
    let sizes = sc.sizes.all();
    let rate_fn = RateFn::build(spec, sc, sc.horizon_ms + t_ok + 1);
    let q = servable(spec, sc, arrivals);
    let hydrated_at_start = spec.initial_replicas.iter().any(|r| r.hydrated);
    let (best, how) = best_subsets(&q, &rate_fn, t_ok, hydrated_at_start);
    let (a, kap) = (&q.a, &q.kap);
    // The chosen subset, for the spend curve and the sizes.
    let mut chain = Vec::new();
    let mut j = a.len().checked_sub(1);
    while let Some(k) = j {
        chain.push(k);
        j = match how[k] {
            Step::After(i, _) if i != usize::MAX => Some(i),
            _ => None,
        };
    }
    chain.reverse();
    let mut by_size = vec![0.0; sizes.len()];
    let mut cold_by_size = vec![0.0; sizes.len()];
    let mut spend = Vec::new();
    let step_ms = (sc.horizon_ms / 2000).max(1);
    let mut prev_best = 0.0;
    for &k in &chain {
        let gain = best[k] - prev_best;
        prev_best = best[k];
        let size = match how[k] {
            Step::After(i, true) => {
                let from = if i == usize::MAX { 0 } else { a[i] + t_ok };
                rate_fn.integral(from, a[k]).and_then(|(_, z)| z)
            }
            _ => {
                cold_by_size[kap[k].1] += gain;
                Some(kap[k].1)
            }
        };
        if let Some(z) = size {
            by_size[z] += gain;
        }
        if spend
            .last()
            .is_none_or(|(t, _): &(i64, f64)| a[k] - t >= step_ms)
        {
            spend.push((a[k], best[k]));
        }
    }
    let total = best.last().copied().unwrap_or(0.0);
    spend.push((sc.horizon_ms, total));
    let dominant = |by: &[f64]| {
        (0..sizes.len())
            .filter(|i| by[*i] > 0.0)
            .max_by(|a, b| by[*a].total_cmp(&by[*b]))
            .map(|i| sizes[i].name.clone())
    };
    Oracle {
        credits: total,
        size: dominant(&by_size),
        cold_size: dominant(&cold_by_size),
        unservable: q.unservable,
        spend,
    }
}
