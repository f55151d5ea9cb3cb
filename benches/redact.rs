//! Benchmark: reading a long argument for secrets. Every run reads its
//! whole command line once (`config::command_line_redactions`); a config
//! given as a flag may be long JSON with many commas, and reading it from
//! each comma on took seconds. `cargo bench --bench redact` times it (the
//! goal: under 2 s for 20 000 schedule windows, a URL at the end) and
//! exits 1 above the goal.

// Test harnesses read the clock: the ban of clippy.toml is for the
// library's decision core.
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

use std::time::{Duration, Instant};

const GOAL: Duration = Duration::from_secs(2);

fn main() {
    let json = format!(
        "[{}{{}}]",
        "{\"cron\": \"0 0 9 * * *\", \"size\": \"25cc\"},".repeat(20_000)
    );
    let with_url = format!("{json},postgres://u:pw@h");
    let read = || {
        let found = clusterctl::config::holds_password(&with_url)
            && !clusterctl::config::holds_password(&json);
        let r = clusterctl::config::command_line_redactions([
            "clusterctl",
            json.as_str(),
            with_url.as_str(),
        ]);
        found
            && r.iter()
                .any(|(_, shown)| shown.ends_with("postgres://u:****@h"))
    };
    // `cargo test --all-targets` (the suite, CI) runs bench targets too:
    // there it runs once, unoptimized and untimed, so a bench that no
    // longer runs fails the suite.
    if !std::env::args().any(|a| a == "--bench") {
        println!("smoke run (the benchmark is `cargo bench --bench redact`)");
        assert!(read(), "the URL at the end of the argument was not found");
        return;
    }
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            assert!(read(), "the URL at the end of the argument was not found");
            started.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "reading a {} KiB argument for secrets: median of 5 runs {:.1} ms (goal: under {} s)",
        with_url.len() >> 10,
        median.as_secs_f64() * 1000.0,
        GOAL.as_secs()
    );
    if median >= GOAL {
        eprintln!("over the goal");
        std::process::exit(1);
    }
}
