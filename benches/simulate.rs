//! Benchmark: the 100-cluster fleet, 30 simulated days at a 1-minute interval.
//! `cargo bench --bench simulate` prints the wall time of several runs.

// Test harnesses read files, the environment and the clock: the ban of
// clippy.toml is for the library's decision core.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench
    // targets too, and a benchmark is not a test: skip there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark skipped (run it with `cargo bench --bench simulate`)");
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scenarios/fleet-100.toml");
    let runs: usize = std::env::var("SIM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let sc = match clusterctl::sim::scenario::load(&path, None) {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut times: Vec<Duration> = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let report = match clusterctl::sim::simulate(&sc, false) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        times.push(t.elapsed());
        last = Some(report);
    }
    times.sort();
    if let Some(r) = last {
        println!(
            "simulate {}: {} clusters x {} ticks ({} days at {}s)",
            r.scenario.name,
            r.scenario.clusters,
            r.scenario.ticks,
            r.scenario.days,
            r.scenario.interval_s
        );
        println!(
            "credits {:.1} (always-on {:.1}, oracle {:.1}), availability {:.2}%",
            r.total.credits,
            r.total.always_on_credits,
            r.total.oracle_credits,
            r.total.availability_pct
        );
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!(
        "wall time over {} runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        times.len(),
        times.first().map(ms).unwrap_or(0.0),
        times.get(times.len() / 2).map(ms).unwrap_or(0.0),
        times.last().map(ms).unwrap_or(0.0)
    );
}
