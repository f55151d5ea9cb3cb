//! Scale benchmark: the real binary against the Materialize emulator with
//! N = 10 … 10 000 clusters, each with a `target_size` strategy it already
//! satisfies (so `apply` has nothing to do). For `dry-run` and for `apply`,
//! measures the statements the server ran (counted by the emulator's wire
//! proxy), the wall time of the process, and its peak RSS (VmHWM, polled
//! from /proc while it runs); then the same with 20 ms added to every round
//! trip. Prints a markdown table.
//!
//! Needs the throwaway PostgreSQL of scripts/pg.sh: run `scripts/bench.sh`.
//! `BENCH_SIZES=10,100` and `BENCH_RUNS=3` (median wall time, max RSS)
//! change the defaults. `BENCH_WRAP="valgrind --tool=massif"` runs every
//! measured command under a profiler (the numbers are then the profiler's).

// Test harnesses read files, the environment and the clock: the ban of
// clippy.toml is for the library's decision core.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

// Its unit tests' `use super::*` is unused when built as part of a bench.
#[path = "../tests/it/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::Emulator;

struct Measure {
    statements: u64,
    wall: Duration,
    rss_kib: u64,
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}

/// VmHWM of a running process, KiB (0 once it has exited).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Runs `clusterctl ARGS` against the emulator; wall time and peak RSS.
fn run(emu: &Emulator, args: &[&str], dir: &Path) -> (Duration, u64, String) {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let started = Instant::now();
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(env!("CARGO_BIN_EXE_clusterctl"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_clusterctl")),
    };
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", emu.url())
        .env_remove("CLUSTERCTL_LOG")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start clusterctl");
    let pid = child.id();
    let mut rss = 0;
    let status = loop {
        rss = rss.max(peak_rss_kib(pid));
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let wall = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.success(),
        "clusterctl {args:?} failed: {status}\n{stdout}\n{stderr}"
    );
    (wall, rss, stdout)
}

fn measure(emu: &Emulator, args: &[&str], n: usize, runs: usize, dir: &Path) -> Measure {
    let mut walls = Vec::new();
    let mut rss = 0;
    let mut statements = 0;
    for _ in 0..runs {
        emu.reset_stats();
        let (wall, peak, stdout) = run(emu, args, dir);
        let converged = format!("{n} clusters converged");
        assert!(
            stdout.contains("No changes.") && (args[0] == "apply" || stdout.contains(&converged)),
            "clusterctl {args:?} was expected to find nothing to do:\n{stdout}"
        );
        statements = emu.stats().statements;
        walls.push(wall);
        rss = rss.max(peak);
    }
    walls.sort();
    Measure {
        statements,
        wall: walls[walls.len() / 2],
        rss_kib: rss,
    }
}

/// N clusters, each with replica r1 (25cc, hydrated) and a target_size
/// strategy for exactly that replica; tables created and state written by
/// one untimed `apply`, so measured runs find nothing to change.
fn fleet(n: usize, dir: &Path) -> Emulator {
    let emu = Emulator::start();
    emu.seed_clusters(n, "fleet_");
    run(&emu, &["init"], dir);
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT id, 'target_size', '{\"target_size\": \"25cc\", \"replica_name\": \"r1\"}', now() \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'",
    );
    run(&emu, &["apply"], dir);
    emu
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench
    // targets too, and a benchmark is not a test: skip there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark skipped (run it with `cargo bench --bench scale`)");
        return;
    }
    // `cargo bench` passes `--bench`; nothing else to parse.
    let sizes = env_list("BENCH_SIZES", &[10, 100, 1_000, 10_000]);
    let runs = env_list("BENCH_RUNS", &[3])[0].max(1);
    let dir = std::env::temp_dir().join(format!("clusterctl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work dir");
    println!("clusterctl scale benchmark: median of {runs} runs, peak RSS is the max (VmHWM)\n");
    println!("| clusters | round trip | command | statements | wall time | peak RSS |");
    println!("|---:|---:|---|---:|---:|---:|");
    for &n in &sizes {
        let emu = fleet(n, &dir);
        for delay_ms in [0u64, 20] {
            emu.set_delay(Duration::from_millis(delay_ms));
            for cmd in ["dry-run", "apply"] {
                let m = measure(&emu, &[cmd], n, runs, &dir);
                println!(
                    "| {n} | {} | `{cmd}` | {} | {:.0} ms | {:.1} MiB |",
                    if delay_ms == 0 {
                        "loopback".to_string()
                    } else {
                        format!("+{delay_ms} ms")
                    },
                    m.statements,
                    m.wall.as_secs_f64() * 1000.0,
                    m.rss_kib as f64 / 1024.0
                );
            }
        }
        emu.set_delay(Duration::ZERO);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
