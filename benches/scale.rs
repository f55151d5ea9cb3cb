//! Scale benchmark: the real binary against the Materialize emulator with
//! N = 10 … 10 000 clusters, each with a `target_size` strategy it already
//! satisfies (so `apply` has nothing to do). For `dry-run` and for `apply`,
//! measures the statements the server ran (counted by the emulator's wire
//! proxy), the wall time of the process, and its peak RSS (VmHWM, polled
//! from /proc while it runs); then the same with 20 ms added to every round
//! trip. Prints a markdown table.
//!
//! Then round trips of `apply` at work: 1000 clusters that each need one
//! CREATE, so one run executes 1000 actions: statements per action (above
//! those of an apply with nothing to do) and wall time, on loopback and with
//! 20 ms per round trip. That delay is a latency relay in front of the
//! emulator (10 ms each way, pipelined messages travel together), so it
//! rewards pipelining as a real network does. `BENCH_BIN=path` measures
//! another build of the binary (e.g. an older commit, for comparison).
//!
//! Then the operator's read-only commands (`status`, `describe`, `history`,
//! `check`, `strategy ls`, `doctor`) against the same fleet with a trail of
//! past actions: statements, wall time, peak RSS and the size of the
//! output (`BENCH_PART=ops`; `BENCH_OPS_SIZES`, `BENCH_OPS_TRAIL`,
//! `BENCH_OPS=status,doctor` for some commands only).
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
    run_at(&emu.url(), args, dir)
}

/// The binary measured: this build, or `BENCH_BIN`.
fn binary() -> String {
    std::env::var("BENCH_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_clusterctl").to_string())
}

/// Runs `clusterctl ARGS` against the database at `url`; it must succeed.
fn run_at(url: &str, args: &[&str], dir: &Path) -> (Duration, u64, String) {
    let (code, wall, rss, stdout) = run_code(url, args, dir);
    assert_eq!(code, Some(0), "clusterctl {args:?} failed\n{stdout}");
    (wall, rss, stdout)
}

/// Runs `clusterctl ARGS` against the database at `url`: its exit code,
/// wall time, peak RSS and standard output. A failure to start or an
/// exit code other than 0 or 3 (problems found) fails the bench.
fn run_code(url: &str, args: &[&str], dir: &Path) -> (Option<i32>, Duration, u64, String) {
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
            c.args(words).arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", url)
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
        matches!(status.code(), Some(0 | 3)),
        "clusterctl {args:?} failed: {status}\n{stdout}\n{stderr}"
    );
    (status.code(), wall, rss, stdout)
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

/// A TCP relay that delays every chunk by `one_way` in each direction;
/// chunks sent together (a pipeline) arrive together. Runs until the
/// process ends.
fn latency_relay(upstream: std::net::SocketAddr, one_way: Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind relay");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("relay address").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("relay runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("relay listener");
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    async fn pipe(
                        mut r: tokio::net::tcp::OwnedReadHalf,
                        mut w: tokio::net::tcp::OwnedWriteHalf,
                        one_way: Duration,
                    ) {
                        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(
                            tokio::time::Instant,
                            Vec<u8>,
                        )>();
                        let writer = tokio::spawn(async move {
                            while let Some((due, data)) = rx.recv().await {
                                tokio::time::sleep_until(due).await;
                                if w.write_all(&data).await.is_err() {
                                    break;
                                }
                            }
                            let _ = w.shutdown().await;
                        });
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(n) = r.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            let due = tokio::time::Instant::now() + one_way;
                            if tx.send((due, buf[..n].to_vec())).is_err() {
                                break;
                            }
                        }
                        drop(tx);
                        let _ = writer.await;
                    }
                    tokio::join!(pipe(cr, sw, one_way), pipe(sr, cw, one_way));
                });
            }
        });
    });
    port
}

/// `n` clusters that each need one CREATE (r1 25cc, target 50cc).
fn to_do(emu: &Emulator, n: usize, dir: &Path) {
    emu.seed_clusters(n, "todo_");
    run(emu, &["apply", "--filter-clusters", "^$"], dir);
    emu.sql(
        "INSERT INTO mz_cluster_strategies (cluster_id, strategy_type, config, updated_at) \
         SELECT id, 'target_size', '{\"target_size\": \"50cc\"}', now() \
         FROM mz_catalog.mz_clusters WHERE name LIKE 'todo_%'",
    );
}

/// `rows` settled audit rows of past runs, a year old to a minute old, each
/// with a decision context the size of a real one (about 600 bytes): the
/// trail a fleet has after months of work, which nothing prunes.
fn past_trail(emu: &Emulator, rows: usize) {
    if rows == 0 {
        return;
    }
    emu.sql(&format!(
        "INSERT INTO mz_cluster_strategy_actions
         SELECT md5(g::text), 'u' || (g % 1000), 'DROP CLUSTER REPLICA c.r_50cc',
                jsonb_build_object('run_id', md5((g / 7)::text), 'controller', 'clusterctl 0.1.0',
                                   'kind', 'drop_replica', 'replica', 'r_50cc', 'size', '50cc',
                                   'strategy', 'idle_suspend',
                                   'reasons', jsonb_build_array(repeat('idle for a while; ', 20))),
                true, NULL, now() - make_interval(secs => (g % 31536000)::double precision + 60)
         FROM generate_series(1, {rows}) g"
    ));
}

/// 1000 actions in one apply: statements per action and wall time.
/// `BENCH_TRAIL=N` puts N rows of past runs in the audit trail first;
/// `BENCH_FLEET=N` makes the fleet N clusters, those beyond the actions'
/// converged (an action's cost should not grow with the fleet).
fn actions(n: usize, runs: usize, dir: &Path) {
    let trail = env_list("BENCH_TRAIL", &[0])[0];
    let fleet = env_list("BENCH_FLEET", &[n])[0].max(n);
    println!(
        "\napply with {n} actions (one CREATE per cluster) in a fleet of {fleet}, {trail} past \
         audit rows; binary {}\n",
        binary()
    );
    println!("| round trip | statements | per action | wall time | per action |");
    println!("|---:|---:|---:|---:|---:|");
    for rtt_ms in [0u64, 20] {
        let mut walls = Vec::new();
        let mut per_action = 0.0;
        let mut total = 0;
        for _ in 0..runs {
            let emu = Emulator::start();
            if fleet > n {
                emu.seed_clusters(fleet - n, "idle_");
            }
            to_do(&emu, n, dir);
            past_trail(&emu, trail);
            let url = if rtt_ms == 0 {
                emu.url()
            } else {
                let relay = latency_relay(emu.proxy_addr(), Duration::from_millis(rtt_ms / 2));
                emu.url().replace(
                    &format!(":{}/", emu.proxy_addr().port()),
                    &format!(":{relay}/"),
                )
            };
            emu.reset_stats();
            let (wall, _, stdout) = run_at(&url, &["apply"], dir);
            assert!(
                stdout.contains(&format!("Applied {n} of {n} action")),
                "expected {n} actions:\n{stdout}"
            );
            let busy = emu.stats().statements;
            emu.reset_stats();
            let (_, _, idle) = run_at(&url, &["apply"], dir);
            assert!(idle.contains("No changes"), "{idle}");
            let baseline = emu.stats().statements;
            total = busy;
            per_action = busy.saturating_sub(baseline) as f64 / n as f64;
            walls.push(wall);
        }
        walls.sort();
        let wall = walls[walls.len() / 2];
        println!(
            "| {} | {total} | {per_action:.2} | {:.1} s | {:.1} ms |",
            if rtt_ms == 0 {
                "loopback".to_string()
            } else {
                format!("{rtt_ms} ms")
            },
            wall.as_secs_f64(),
            wall.as_secs_f64() * 1000.0 / n as f64
        );
    }
}

/// `rows` settled audit rows spread evenly over the fleet's clusters (of
/// `fleet`), a year old to a minute old, each with a real-sized decision
/// context: the trail `history`, `describe` and `status` read from.
fn fleet_trail(emu: &Emulator, rows: usize) {
    emu.sql(&format!(
        "WITH c AS (SELECT id, name, row_number() OVER (ORDER BY id) - 1 AS k \
                    FROM mz_catalog.mz_clusters WHERE name LIKE 'fleet_%'), \
              n AS (SELECT count(*) AS n FROM c) \
         INSERT INTO mz_cluster_strategy_actions \
         SELECT md5(g::text), c.id, 'DROP CLUSTER REPLICA ' || c.name || '.r_50cc', \
                jsonb_build_object('run_id', md5((g / 7)::text), 'controller', 'clusterctl 0.1.0', \
                                   'cluster', c.name, 'kind', 'drop_replica', 'replica', 'r_50cc', \
                                   'size', '50cc', 'strategy', 'shrink_to_fit', \
                                   'reasons', jsonb_build_array(repeat('smaller fits; ', 40)), \
                                   'strategies', jsonb_build_array('shrink_to_fit', 'idle_suspend'), \
                                   'signals', jsonb_build_object('idle', 'busy', \
                                     'last_activity', now(), 'in_flight', 0, \
                                     'replicas', (SELECT jsonb_agg(jsonb_build_object( \
                                       'name', 'r_' || s, 'size', s, 'hydrated', true, \
                                       'crashes', 0, 'ooms', 0, 'crash_looping', false)) \
                                       FROM unnest(ARRAY['25cc', '50cc', '100cc']) s))), \
                true, NULL, now() - make_interval(secs => (g % 31536000)::double precision + 60) \
         FROM generate_series(1, {rows}) g JOIN c ON c.k = g % (SELECT n FROM n)"
    ));
}

/// The commands an operator runs against the fleet, one row each: the
/// whole fleet, and one cluster of it (`fleet_1`).
const OPERATOR_COMMANDS: &[&[&str]] = &[
    &["status"],
    &["status", "--all"],
    &["status", "-o", "json"],
    &["status", "--cluster", "fleet_1"],
    &["describe", "fleet_1"],
    &["history"],
    &["history", "--cluster", "fleet_1"],
    &["history", "--limit", "0"],
    &["check"],
    &["strategy", "ls"],
    &["doctor"],
];

/// The operator's commands at `sizes` clusters (the converged fleet of
/// [`fleet`] with a trail of `trail` rows): statements, wall time, peak
/// RSS and the size of what it prints.
fn operator(sizes: &[usize], runs: usize, trail: usize, dir: &Path) {
    println!(
        "\noperator commands, {trail} audit rows spread over the fleet: median of {runs} runs\n"
    );
    println!("| clusters | command | statements | wall time | peak RSS | output |");
    println!("|---:|---|---:|---:|---:|---:|");
    // `BENCH_OPS=status,doctor`: only the commands listed (as in the table).
    let only = std::env::var("BENCH_OPS").unwrap_or_default();
    let wanted = |args: &[&str]| only.is_empty() || only.split(',').any(|c| c == args.join(" "));
    for &n in sizes {
        let emu = fleet(n, dir);
        fleet_trail(&emu, trail);
        for args in OPERATOR_COMMANDS.iter().filter(|a| wanted(a)) {
            let mut walls = Vec::new();
            let (mut rss, mut statements, mut bytes) = (0, 0, 0);
            for _ in 0..runs {
                emu.reset_stats();
                let (_, wall, peak, stdout) = run_code(&emu.url(), args, dir);
                statements = emu.stats().statements;
                bytes = stdout.len();
                walls.push(wall);
                rss = rss.max(peak);
            }
            walls.sort();
            println!(
                "| {n} | `{}` | {statements} | {:.0} ms | {:.1} MiB | {:.1} KiB |",
                args.join(" "),
                walls[walls.len() / 2].as_secs_f64() * 1000.0,
                rss as f64 / 1024.0,
                bytes as f64 / 1024.0
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`. `cargo test --all-targets` (the test
    // suite, CI) runs bench targets too: there the benchmark runs once at
    // its smallest sizes, untimed, so a bench that no longer runs fails the
    // suite (this one failed unseen for weeks when `--cluster` changed).
    let smoke = !std::env::args().any(|a| a == "--bench");
    if smoke {
        println!("smoke run (the benchmark is `cargo bench --bench scale`)");
    }
    let sizes = if smoke {
        vec![10]
    } else {
        env_list("BENCH_SIZES", &[10, 100, 1_000, 10_000])
    };
    let runs = if smoke {
        1
    } else {
        env_list("BENCH_RUNS", &[3])[0].max(1)
    };
    let dir = std::env::temp_dir().join(format!("clusterctl-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("work dir");
    let part = std::env::var("BENCH_PART").unwrap_or_default();
    let parts = |p: &str| part.is_empty() || part == p;
    if parts("actions") {
        let n = if smoke {
            10
        } else {
            env_list("BENCH_ACTIONS", &[1_000])[0].max(1)
        };
        actions(
            n,
            runs.min(env_list("BENCH_ACTION_RUNS", &[1])[0].max(1)),
            &dir,
        );
    }
    if parts("scale") {
        scale(&sizes, runs, &dir);
    }
    if parts("ops") {
        let trail = if smoke {
            1_000
        } else {
            env_list("BENCH_OPS_TRAIL", &[100_000])[0]
        };
        let sizes = if smoke {
            vec![10]
        } else {
            env_list("BENCH_OPS_SIZES", &[10, 1_000, 10_000])
        };
        operator(&sizes, runs, trail, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dry-run` and `apply` with nothing to do at `sizes` clusters, on
/// loopback and with 20 ms per round trip.
fn scale(sizes: &[usize], runs: usize, dir: &Path) {
    println!("clusterctl scale benchmark: median of {runs} runs, peak RSS is the max (VmHWM)\n");
    println!("| clusters | round trip | command | statements | wall time | peak RSS |");
    println!("|---:|---:|---|---:|---:|---:|");
    for &n in sizes {
        let emu = fleet(n, dir);
        for delay_ms in [0u64, 20] {
            emu.set_delay(Duration::from_millis(delay_ms));
            for cmd in ["dry-run", "apply"] {
                let m = measure(&emu, &[cmd], n, runs, dir);
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
}
