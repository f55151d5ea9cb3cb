//! What a cluster's users ask for, resolved from the scenario before the run:
//! the realised occurrences of each demand window (each drawn anew: start,
//! length and rate vary per occurrence, weekly seasonality and holidays scale
//! the rate, one-off and random spikes add occurrences), the memory the
//! workload needs over time (`NeedFn`: base, growth with periodic resets,
//! spikes, load), and the Poisson arrivals over those occurrences. All of it
//! is a pure function of the scenario and the seed, never of what a strategy
//! does, so the oracle sees exactly the demand the strategies faced.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One realised occurrence of demand: Poisson arrivals at `qps` over
/// `[start, end)` (ms since the start of the simulation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occurrence {
    pub start: i64,
    pub end: i64,
    pub qps: f64,
    /// Extra memory the workload needs while it lasts (a spike's), bytes.
    pub extra_memory: f64,
}

/// The memory the workload needs over time, in bytes: piecewise linear,
/// non-decreasing inside each segment (growth), with jumps at segment
/// boundaries (resets, spikes, load changes). Before the first segment and
/// after the last, the nearest segment's rule extends.
#[derive(Debug, Clone, PartialEq)]
pub struct NeedFn {
    segs: Vec<Seg>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Seg {
    t0: i64,
    v0: f64,
    /// Bytes per ms, >= 0.
    slope: f64,
}

/// How the need is built (see `NeedFn::build`).
#[derive(Debug, Clone, Default)]
pub struct NeedSpec {
    pub base: f64,
    /// Growth in bytes per ms.
    pub growth: f64,
    /// The growth starts again from `base` at every multiple of this.
    pub reset_every_ms: Option<i64>,
    /// Extra bytes per query per second of the rate in force (the load).
    pub per_qps: f64,
}

impl NeedFn {
    pub fn constant(v: f64) -> NeedFn {
        NeedFn {
            segs: vec![Seg {
                t0: 0,
                v0: v,
                slope: 0.0,
            }],
        }
    }

    /// The need over `[0, horizon)`: `base`, plus growth since the last
    /// reset, plus the extra memory of the occurrences in force, plus
    /// `per_qps` times their rate.
    pub fn build(spec: &NeedSpec, occ: &[Occurrence], horizon: i64) -> NeedFn {
        let load = |o: &Occurrence| o.extra_memory + spec.per_qps * o.qps;
        let mut cuts: Vec<(i64, f64)> = Vec::new();
        for o in occ {
            let l = load(o);
            if l != 0.0 {
                cuts.push((o.start.max(0), l));
                cuts.push((o.end.max(0), -l));
            }
        }
        let growing = spec.growth > 0.0;
        if let (true, Some(every)) = (growing, spec.reset_every_ms) {
            let mut t = every;
            while t < horizon {
                cuts.push((t, 0.0));
                t += every;
            }
        }
        if cuts.is_empty() && !growing {
            return NeedFn::constant(spec.base);
        }
        cuts.sort_by_key(|a| a.0);
        let since_reset = |t: i64| match spec.reset_every_ms {
            Some(e) if e > 0 => t.rem_euclid(e),
            _ => t,
        };
        let mut segs = Vec::new();
        let mut extra = 0.0;
        let mut i = 0;
        let mut t = 0;
        loop {
            while i < cuts.len() && cuts[i].0 <= t {
                extra += cuts[i].1;
                i += 1;
            }
            // Sums of +x and -x can leave dust: no negative load.
            let extra_now = if extra.abs() < 1e-6 { 0.0 } else { extra };
            segs.push(Seg {
                t0: t,
                v0: spec.base + extra_now + spec.growth * since_reset(t) as f64,
                slope: spec.growth,
            });
            match cuts.get(i) {
                Some(&(next, _)) => t = next,
                None => break,
            }
        }
        NeedFn { segs }
    }

    fn seg_index(&self, t: i64) -> usize {
        self.segs.partition_point(|s| s.t0 <= t).saturating_sub(1)
    }

    fn seg_end(&self, i: usize) -> i64 {
        self.segs.get(i + 1).map(|s| s.t0).unwrap_or(i64::MAX)
    }

    pub fn at(&self, t: i64) -> f64 {
        let s = &self.segs[self.seg_index(t)];
        s.v0 + s.slope * (t - s.t0).max(0) as f64
    }

    /// Whether the need never changes.
    pub fn is_constant(&self) -> bool {
        self.segs.len() == 1 && self.segs[0].slope == 0.0
    }

    /// The first instant in `[from, until)` at which the need exceeds
    /// `memory`, if any.
    pub fn first_above(&self, memory: f64, from: i64, until: i64) -> Option<i64> {
        if from >= until {
            return None;
        }
        let mut i = self.seg_index(from);
        loop {
            let s = &self.segs[i];
            let lo = from.max(s.t0);
            let hi = self.seg_end(i).min(until);
            if lo < hi {
                let v_lo = s.v0 + s.slope * (lo - s.t0) as f64;
                if v_lo > memory {
                    return Some(lo);
                }
                if s.slope > 0.0 {
                    // need(t) > memory from the first ms past the crossing.
                    let cross = s.t0 as f64 + (memory - s.v0) / s.slope;
                    let t = (cross.floor() as i64 + 1).max(lo);
                    if t < hi {
                        return Some(t);
                    }
                }
            }
            if hi >= until || i + 1 >= self.segs.len() {
                return None;
            }
            i += 1;
        }
    }

    /// The least need over `[a, b]`.
    pub fn min_over(&self, a: i64, b: i64) -> f64 {
        let mut best = self.at(a);
        let mut i = self.seg_index(a) + 1;
        while i < self.segs.len() && self.segs[i].t0 <= b {
            best = best.min(self.segs[i].v0);
            i += 1;
        }
        best
    }

    /// The greatest need over `[0, horizon)`.
    pub fn max_over(&self, horizon: i64) -> f64 {
        let mut best = f64::MIN;
        for (i, s) in self.segs.iter().enumerate() {
            if s.t0 >= horizon {
                break;
            }
            let end = self.seg_end(i).min(horizon);
            best = best.max(s.v0 + s.slope * (end - s.t0 - 1).max(0) as f64);
        }
        best
    }

    /// Pieces `[t0, t1)` of `[from, to)` on which the need is linear, with
    /// the need at both ends (the end value is the limit from the left).
    pub fn pieces(&self, from: i64, to: i64) -> Vec<(i64, i64, f64, f64)> {
        let mut out = Vec::new();
        let mut i = self.seg_index(from);
        while i < self.segs.len() {
            let s = &self.segs[i];
            let lo = from.max(s.t0);
            let hi = self.seg_end(i).min(to);
            if lo < hi {
                let v = |t: i64| s.v0 + s.slope * (t - s.t0) as f64;
                out.push((lo, hi, v(lo), v(hi)));
            }
            if hi >= to {
                break;
            }
            i += 1;
        }
        out
    }
}

/// Query arrivals of one cluster: Poisson processes over the occurrences, or
/// a recorded trace. Draws come from one generator in a fixed order, so the
/// arrivals depend only on the scenario and the seed.
#[derive(Debug, Clone)]
pub struct Arrivals {
    rng: ChaCha8Rng,
    occ: Vec<Occurrence>,
    next_occ: usize,
    /// Occurrences under way: (next arrival, cursor, end, qps).
    active: Vec<(i64, f64, i64, f64)>,
    begins: Vec<i64>,
    begin_idx: usize,
}

impl Arrivals {
    pub fn new(seed: u64, stream: u64, occ: &[Occurrence], begins: &[i64]) -> Arrivals {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream);
        let mut a = Arrivals {
            rng,
            occ: occ.iter().filter(|o| o.qps > 0.0).copied().collect(),
            next_occ: 0,
            active: Vec::new(),
            begins: begins.to_vec(),
            begin_idx: 0,
        };
        a.fill();
        a
    }

    /// Every arrival, in order (the oracle's view).
    pub fn all(mut self) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            out.push(t);
            self.pop();
        }
        out
    }

    fn draw(rng: &mut ChaCha8Rng, from: f64, qps: f64) -> f64 {
        let u: f64 = rng.random();
        from + -(1.0 - u).ln() / qps * 1000.0
    }

    fn min_active(&self) -> Option<i64> {
        self.active.iter().map(|a| a.0).min()
    }

    /// Starts every occurrence that begins before the earliest pending arrival.
    fn fill(&mut self) {
        while let Some(o) = self.occ.get(self.next_occ).copied() {
            if self.min_active().is_some_and(|m| m < o.start) {
                break;
            }
            self.next_occ += 1;
            let next = Self::draw(&mut self.rng, o.start as f64, o.qps);
            if next < o.end as f64 {
                self.active.push((next.floor() as i64, next, o.end, o.qps));
            }
        }
    }

    pub fn peek(&self) -> Option<i64> {
        let b = self.begins.get(self.begin_idx).copied();
        match (self.min_active(), b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn pop(&mut self) {
        let b = self.begins.get(self.begin_idx).copied();
        let best = self
            .active
            .iter()
            .enumerate()
            .min_by_key(|(i, a)| (a.0, *i))
            .map(|(i, a)| (a.0, i));
        match (best, b) {
            (Some((n, i)), b) if b.is_none_or(|b| n < b) => {
                let (_, cursor, end, qps) = self.active[i];
                let next = Self::draw(&mut self.rng, cursor, qps);
                if next < end as f64 {
                    self.active[i] = (next.floor() as i64, next, end, qps);
                } else {
                    self.active.swap_remove(i);
                }
                self.fill();
            }
            (_, Some(_)) => self.begin_idx += 1,
            _ => {}
        }
    }
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

pub fn length(v: &[(i64, i64)]) -> i64 {
    v.iter().map(|(a, b)| b - a).sum()
}

/// The intersection of two merged interval lists.
pub fn intersect(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
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
    let mut j = 0;
    for &(mut lo, hi) in a {
        while j < b.len() && b[j].1 <= lo {
            j += 1;
        }
        let mut k = j;
        while k < b.len() && b[k].0 < hi {
            if b[k].0 > lo {
                out.push((lo, b[k].0));
            }
            lo = lo.max(b[k].1);
            k += 1;
        }
        if lo < hi {
            out.push((lo, hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    const DAY: i64 = 86_400_000;

    #[test]
    fn need_grows_resets_and_spikes() {
        let spec = NeedSpec {
            base: 10.0 * GIB,
            growth: GIB / DAY as f64,
            reset_every_ms: Some(7 * DAY),
            per_qps: 0.0,
        };
        let spike = Occurrence {
            start: 2 * DAY,
            end: 2 * DAY + 3_600_000,
            qps: 1.0,
            extra_memory: 4.0 * GIB,
        };
        let f = NeedFn::build(&spec, &[spike], 14 * DAY);
        assert!((f.at(0) - 10.0 * GIB).abs() < 1.0);
        assert!((f.at(DAY) - 11.0 * GIB).abs() < 1.0);
        assert!((f.at(2 * DAY) - 16.0 * GIB).abs() < 1.0, "spike on top");
        assert!((f.at(3 * DAY) - 13.0 * GIB).abs() < 1.0, "spike over");
        assert!((f.at(7 * DAY) - 10.0 * GIB).abs() < 1.0, "weekly reset");
        // 12 GiB are exceeded two days in (the spike is later)...
        let t = f.first_above(12.0 * GIB, 0, 14 * DAY).unwrap();
        assert!((t - 2 * DAY).abs() <= 1, "{t}");
        // ... 14 GiB first in the spike, 17 GiB never.
        assert_eq!(f.first_above(14.0 * GIB, 0, 14 * DAY), Some(2 * DAY));
        assert_eq!(f.first_above(17.0 * GIB, 0, 14 * DAY), None);
        assert!((f.min_over(6 * DAY, 8 * DAY) - 10.0 * GIB).abs() < 1.0);
        assert!((f.max_over(14 * DAY) - 17.0 * GIB).abs() < GIB * 0.01);
    }

    #[test]
    fn arrivals_follow_the_rate_and_stay_inside_occurrences() {
        let occ = [
            Occurrence {
                start: 0,
                end: 3_600_000,
                qps: 2.0,
                extra_memory: 0.0,
            },
            Occurrence {
                start: 1_800_000,
                end: 2_400_000,
                qps: 10.0,
                extra_memory: 0.0,
            },
        ];
        let all = Arrivals::new(3, 0, &occ, &[]).all();
        assert!(all.windows(2).all(|w| w[0] <= w[1]));
        assert!(all.iter().all(|t| (0..3_600_000).contains(t)));
        // 7200 + 6000 expected; Poisson: within a few standard deviations.
        let n = all.len() as f64;
        assert!((n - 13_200.0).abs() < 600.0, "{n}");
        let spike = all
            .iter()
            .filter(|t| (1_800_000..2_400_000).contains(*t))
            .count() as f64;
        assert!((spike - 7_200.0).abs() < 400.0, "{spike}");
        assert_eq!(all, Arrivals::new(3, 0, &occ, &[]).all(), "deterministic");
        // Poisson: gaps are exponential, their spread as large as their mean.
        let gaps: Vec<f64> = all
            .windows(2)
            .filter(|w| w[1] < 1_800_000)
            .map(|w| (w[1] - w[0]) as f64)
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        let cv = var.sqrt() / mean;
        assert!((mean - 500.0).abs() < 25.0, "{mean}");
        assert!((cv - 1.0).abs() < 0.06, "{cv}");
    }

    #[test]
    fn interval_helpers() {
        let a = merge(vec![(5, 10), (0, 3), (2, 4), (20, 30)]);
        assert_eq!(a, vec![(0, 4), (5, 10), (20, 30)]);
        let b = vec![(1, 6), (25, 40)];
        assert_eq!(intersect(&a, &b), vec![(1, 4), (5, 6), (25, 30)]);
        assert_eq!(subtract(&a, &b), vec![(0, 1), (6, 10), (20, 25)]);
        assert_eq!(length(&a), 19);
    }
}
