//! `apply --watch` as an operator runs it: a child process against the
//! emulator, changed while it runs, scraped over HTTP, stopped with SIGTERM.
//! Also the metrics textfile of one-shot runs and JSON logs.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cli::{audit, audit_ctx, clusterctl, command, init_tables, replica_names, strategy};
use crate::support::Emulator;

/// A `clusterctl` child process, killed (SIGKILL) if a test fails before
/// stopping it.
struct Daemon {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// `apply --watch --interval 1s` with `extra` arguments.
    fn watching(url: &str, extra: &[&str]) -> Daemon {
        let mut args = vec!["apply", "--watch", "--interval", "1s"];
        args.extend_from_slice(extra);
        Daemon::start(url, &args)
    }

    fn start(url: &str, args: &[&str]) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let err = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        let mut cmd = command();
        cmd.args(args)
            .env("DATABASE_URL", url)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        Daemon {
            child: Some(cmd.spawn().expect("start clusterctl")),
            dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The JSON documents its stdout holds so far, one a line.
    fn documents(&self) -> Vec<serde_json::Value> {
        let out = std::fs::read_to_string(self.dir.path().join("stdout")).unwrap_or_default();
        out.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn output(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            read("stdout"),
            read("stderr")
        )
    }

    fn still_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends SIGTERM and waits up to `within` for the exit code.
    fn terminate(&mut self, within: Duration) -> (i32, Duration) {
        signal_term(self.pid());
        self.wait_exit(within)
    }

    /// Waits up to `within` for the child to exit: (code, time waited).
    fn wait_exit(&mut self, within: Duration) -> (i32, Duration) {
        let started = Instant::now();
        let child = self.child.as_mut().expect("running");
        while started.elapsed() < within {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return (status.code().unwrap_or(-1), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "clusterctl did not exit within {within:?}\n{}",
            self.output()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn signal_term(pid: u32) {
    signal(pid, "-TERM");
}

fn signal(pid: u32, which: &str) {
    let status = std::process::Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {which} {pid} failed");
}

/// A hangup (the terminal of a watcher started by hand closed) stops it as
/// SIGTERM does: the run ends, the lease is given back, exit 0 (the
/// default ended it at once, exit 129: an outside check).
#[test]
fn quiet_is_errors_only_for_a_watcher_too() {
    let emu = crate::cli::converged_c();
    clusterctl(&emu, &["strategy", "pause", "c", "--reason", "maintenance"]).ok();
    let watched = |extra: &[&str]| {
        let mut args = vec!["-o", "json"];
        args.extend_from_slice(extra);
        let mut d = Daemon::watching(&emu.url(), &args);
        let started = Instant::now();
        while d.documents().len() < 2 && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(d.documents().len() >= 2, "{}", d.output());
        let (code, _) = d.terminate(Duration::from_secs(10));
        assert_eq!(code, 0, "{}", d.output());
        d.output()
    };
    let said = watched(&[]);
    assert!(
        said.contains("note: cluster c (u2): paused (maintenance)"),
        "{said}"
    );
    let quiet = watched(&["-q"]);
    assert!(!quiet.contains("note:"), "{quiet}");
}

#[test]
fn a_hangup_stops_a_watcher_gracefully() {
    let emu = crate::cli::converged_c();
    let mut d = Daemon::watching(&emu.url(), &["-o", "json"]);
    let started = Instant::now();
    while d.documents().is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!d.documents().is_empty(), "{}", d.output());
    signal(d.pid(), "-HUP");
    let (code, _) = d.wait_exit(Duration::from_secs(10));
    assert_eq!(code, 0, "exit code after SIGHUP\n{}", d.output());
    assert_eq!(lease_holder(&emu).as_deref(), Some(""), "{}", d.output());
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A plain HTTP/1.1 GET on loopback: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/openmetrics-text; version=1.0.0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// Polls `check` every 50 ms for up to `within`.
fn eventually(within: Duration, what: &str, daemon: &Daemon, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < within {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "timed out after {within:?} waiting for {what}\n{}",
        daemon.output()
    );
}

fn lease_holder(emu: &Emulator) -> Option<String> {
    emu.query_one("SELECT holder FROM clusterctl_lease WHERE name = 'controller'")
}

/// The value of the first sample line starting with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit_once(' '))
        .and_then(|(_, v)| v.parse().ok())
}

#[test]
fn watch_acts_on_a_later_run_serves_metrics_and_stops_on_sigterm() {
    let emu = Emulator::start();
    emu.create_cluster("watched");
    init_tables(&emu);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let scratch = tempfile::tempdir().expect("temp dir");
    let textfile = scratch.path().join("clusterctl.prom");
    let textfile_arg = textfile.to_string_lossy().into_owned();
    let mut d = Daemon::watching(
        &emu.url(),
        &["--metrics-addr", &addr, "--metrics-file", &textfile_arg],
    );
    eventually(Duration::from_secs(15), "/readyz 200", &d, || {
        get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert!(replica_names(&emu, "watched").is_empty());

    // The catalog changes while it runs: a later run acts on it.
    strategy(
        &emu,
        "watched",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    eventually(Duration::from_secs(10), "the replica", &d, || {
        replica_names(&emu, "watched") == ["r_25cc"]
    });
    // New replicas start `initializing` (reference §8.7): up, it converges.
    emu.set_replica_online("watched", "r_25cc");
    let (status, health) = get(port, "/healthz").expect("/healthz answers");
    assert_eq!((status, health.as_str()), (200, "ok\n"));
    let mut metrics = String::new();
    eventually(
        Duration::from_secs(10),
        "metrics of the acting run",
        &d,
        || {
            metrics = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
            sample(
                &metrics,
                "clusterctl_actions_total{kind=\"create_replica\",outcome=\"executed\"}",
            ) == Some(1.0)
                // From the snapshot: a run after the one that acted.
                && sample(
                    &metrics,
                    "clusterctl_cluster_credits_per_hour{cluster=\"watched\"",
                ) == Some(0.25)
        },
    );
    assert!(metrics.ends_with("# EOF\n"), "not OpenMetrics:\n{metrics}");
    assert_eq!(sample(&metrics, "clusterctl_lease_held"), Some(1.0));
    assert!(sample(&metrics, "clusterctl_runs_total{outcome=\"success\"}").unwrap_or(0.0) >= 2.0);
    assert!(sample(&metrics, "clusterctl_last_success_timestamp_seconds").unwrap_or(0.0) > 1.6e9);
    assert_eq!(
        sample(&metrics, "clusterctl_cluster_replicas{cluster=\"watched\""),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "clusterctl_clusters{condition=\"converged\"}"),
        Some(1.0)
    );
    let text = std::fs::read_to_string(&textfile).expect("the metrics textfile");
    assert!(
        text.contains("# TYPE clusterctl_runs_total counter"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");

    let (code, took) = d.terminate(Duration::from_secs(5));
    assert_eq!(code, 0, "exit code after SIGTERM\n{}", d.output());
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(lease_holder(&emu).as_deref(), Some(""), "{}", d.output());
    assert!(
        get(port, "/healthz").is_none(),
        "the metrics server outlived the process"
    );
    // No temporary file left next to the textfile (the lock file that
    // writers take turns on stays).
    let lock = scratch.path().join(".clusterctl.prom.lock");
    let leftovers: Vec<PathBuf> = std::fs::read_dir(scratch.path())
        .expect("read dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p != &textfile && p != &lock)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// SIGTERM arrives while the first of two DDL statements is on its way;
/// the process exits with `code`.
fn sigterm_during_an_action(args: &[&str], code: i32) {
    let emu = Emulator::start();
    emu.create_cluster("a_first");
    emu.create_cluster("b_second");
    init_tables(&emu);
    let pid = Arc::new(AtomicU32::new(0));
    let hook_pid = pid.clone();
    // SIGTERM arrives while the first DDL is on its way to the server.
    emu.on_ddl(1, move |_| {
        // Never `kill 0` (the whole process group): wait for the pid.
        let pid = loop {
            match hook_pid.load(Ordering::SeqCst) {
                0 => std::thread::sleep(Duration::from_millis(1)),
                pid => break pid,
            }
        };
        signal_term(pid);
    });
    strategy(
        &emu,
        "a_first",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    strategy(
        &emu,
        "b_second",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    let mut d = Daemon::start(&emu.url(), args);
    pid.store(d.pid(), Ordering::SeqCst);
    let (exit, _) = d.wait_exit(Duration::from_secs(15));
    assert_eq!(exit, code, "{}", d.output());
    // The action under way completed and has its audit row; the other was
    // never attempted; the lease is free for the next controller.
    assert_eq!(replica_names(&emu, "a_first"), ["r_25cc"], "{}", d.output());
    let rows = audit(&emu, "a_first");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].1, "executed: {rows:?}");
    assert!(replica_names(&emu, "b_second").is_empty());
    assert!(audit(&emu, "b_second").is_empty());
    assert_eq!(lease_holder(&emu).as_deref(), Some(""));
    assert!(
        d.output().contains("shutting down"),
        "the skipped action is reported:\n{}",
        d.output()
    );
}

#[test]
fn sigterm_during_an_action_finishes_it_audits_it_and_skips_the_rest() {
    sigterm_during_an_action(&["apply", "--watch", "--interval", "1s"], 0);
}

#[test]
fn sigterm_during_a_one_shot_apply_is_graceful_too() {
    // Exit 3, work left: the run did not do what it planned (it exited 0,
    // and cron took it for done).
    sigterm_during_an_action(&["apply"], 3);
}

#[test]
fn a_failing_run_is_logged_and_the_next_one_recovers() {
    let emu = Emulator::start();
    emu.create_cluster("flaky");
    init_tables(&emu);
    strategy(&emu, "flaky", "target_size", json!({"target_size": "25cc"}));
    // Runs fail (permanently, not retried) while the lease table is away.
    emu.sql("ALTER TABLE clusterctl_lease RENAME TO clusterctl_lease_away");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut d = Daemon::watching(&emu.url(), &["--metrics-addr", &addr]);
    eventually(Duration::from_secs(15), "a failed run", &d, || {
        get(port, "/metrics")
            .and_then(|(_, m)| sample(&m, "clusterctl_runs_total{outcome=\"error\"}"))
            .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(get(port, "/readyz").map(|(s, _)| s), Some(503));
    assert!(d.still_running(), "died on a failing run\n{}", d.output());
    assert!(replica_names(&emu, "flaky").is_empty());

    emu.sql("ALTER TABLE clusterctl_lease_away RENAME TO clusterctl_lease");
    eventually(Duration::from_secs(10), "recovery", &d, || {
        replica_names(&emu, "flaky") == ["r_25cc"]
    });
    eventually(Duration::from_secs(5), "/readyz 200", &d, || {
        get(port, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    let (code, _) = d.terminate(Duration::from_secs(5));
    assert_eq!(code, 0, "{}", d.output());
    assert!(d.output().contains("run failed"), "{}", d.output());
}

/// The session cluster's only replica goes offline while a watcher runs:
/// each run hung on its retries, then said "no answer within 5s", nothing
/// of the session cluster (an outside re-check). It is waited for, at most
/// `--exec-cluster-wait`, saying so, as at start-up; once back, runs act.
#[test]
fn a_session_cluster_that_goes_offline_under_a_watcher_is_waited_for_and_said() {
    let emu = Emulator::start();
    emu.create_readme_catalog();
    init_tables(&emu);
    let args = ["--exec-cluster", "ops", "--exec-cluster-wait", "2s"];
    let mut d = Daemon::watching(&emu.url(), &args);
    eventually(Duration::from_secs(15), "a first run", &d, || {
        d.output().contains("run finished")
    });
    emu.replica_offline("ops", "r1", Some("oom-killed"));
    eventually(Duration::from_secs(20), "the wait said", &d, || {
        let out = d.output();
        out.contains(r#""ops" has no replica online ("r1" not online"#)
            && out.contains("waiting up to 2s for one (--exec-cluster-wait)")
    });
    emu.set_replica_online("ops", "r1");
    emu.create_cluster("later");
    strategy(&emu, "later", "target_size", json!({"target_size": "25cc"}));
    eventually(Duration::from_secs(20), "a run that acts again", &d, || {
        replica_names(&emu, "later") == ["r_25cc"]
    });
    let (code, _) = d.terminate(Duration::from_secs(10));
    assert_eq!(code, 0, "{}", d.output());
}

#[test]
fn watch_without_a_database_stays_up_unready_and_stops_on_sigterm() {
    // Nothing listens on this port: every run fails to connect.
    let dead = free_port();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("postgres://u:secret-pw@127.0.0.1:{dead}/db?sslmode=disable");
    let mut d = Daemon::start(
        &url,
        &[
            "apply",
            "--watch",
            "--interval",
            "1s",
            "--max-retries",
            "0",
            "--connect-timeout",
            "1",
            "--metrics-addr",
            &addr,
        ],
    );
    eventually(Duration::from_secs(10), "two failed runs", &d, || {
        get(port, "/metrics")
            .and_then(|(_, m)| sample(&m, "clusterctl_runs_total{outcome=\"error\"}"))
            .is_some_and(|n| n >= 2.0)
    });
    assert_eq!(get(port, "/healthz").map(|(s, _)| s), Some(200));
    assert_eq!(get(port, "/readyz").map(|(s, _)| s), Some(503));
    assert_eq!(get(port, "/nope").map(|(s, _)| s), Some(404));
    let (code, _) = d.terminate(Duration::from_secs(5));
    assert_eq!(code, 0, "{}", d.output());
    assert!(!d.output().contains("secret-pw"), "{}", d.output());
}

#[test]
fn a_database_that_never_answers_does_not_hold_up_probes_or_sigterm() {
    // A server that accepts connections and says nothing: start-up retries
    // for a minute. Probes are answered meanwhile, and SIGTERM ends it at
    // once (nothing was done yet).
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = silent.local_addr().expect("addr").port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for c in silent.incoming().flatten() {
            if let Ok(mut v) = keep.lock() {
                v.push(c);
            }
        }
    });
    let url = format!("postgres://u:secret-pw@127.0.0.1:{dead}/db?sslmode=disable");
    for watch in [true, false] {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut args = vec!["apply"];
        if watch {
            args.extend(["--watch", "--metrics-addr", &addr]);
        }
        let mut d = Daemon::start(&url, &args);
        if watch {
            eventually(Duration::from_secs(5), "/healthz", &d, || {
                get(port, "/healthz").is_some_and(|(s, _)| s == 200)
            });
            assert_eq!(get(port, "/readyz").map(|(s, _)| s), Some(503));
        } else {
            std::thread::sleep(Duration::from_secs(1));
        }
        let (code, took) = d.terminate(Duration::from_secs(5));
        assert!(took < Duration::from_secs(5), "{took:?}: {}", d.output());
        assert_eq!(code, if watch { 0 } else { 1 }, "{}", d.output());
        assert!(d.output().contains("nothing was done"), "{}", d.output());
        assert!(!d.output().contains("secret-pw"), "{}", d.output());
    }
}

#[test]
fn watch_flags_are_checked() {
    let emu = Emulator::start();
    // --metrics-addr only means something with --watch (--interval is
    // also a cron's period: it/predict).
    clusterctl(&emu, &["apply", "--metrics-addr", "127.0.0.1:1"]).code(64);
    let run = clusterctl(&emu, &["apply", "--watch", "--interval", "soon"]).code(64);
    assert!(run.stderr.contains("not a duration"), "{}", run.all());
    // A port already taken is one error line, exit 1.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let run = clusterctl(&emu, &["apply", "--watch", "--metrics-addr", &addr]).code(1);
    assert!(run.stderr.contains("cannot listen"), "{}", run.all());
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A run whose release of the lease failed (its connection cut, or its
/// session cluster's replica dropped mid-run) leaves the lease held for a
/// TTL under that run's name. The same process's next run takes it back at
/// once: runs of one process follow each other, so the earlier one is over.
/// Before, the watcher waited out the TTL ("another controller holds the
/// lease") with nobody else acting.
#[test]
fn a_lease_a_failed_release_left_is_taken_back_by_the_next_run() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    emu.fail_statement("SET holder = ''", 1, "XX000", "injected: release failed");
    let mut d = Daemon::watching(&emu.url(), &["--lease-ttl", "10m"]);
    eventually(Duration::from_secs(15), "the failed release", &d, || {
        d.output().contains("could not release the lease")
    });
    let left = lease_holder(&emu).unwrap_or_default();
    assert!(!left.is_empty(), "the first run's lease is left behind");
    // A row added now is acted on by a later run, minutes before the lease
    // the first run left expires.
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    eventually(Duration::from_secs(15), "the replica", &d, || {
        replica_names(&emu, "c") == ["r_25cc"]
    });
    let (code, _) = d.terminate(Duration::from_secs(10));
    assert_eq!(code, 0, "{}", d.output());
    let out = d.output();
    assert!(
        out.contains("an earlier run of this process"),
        "the takeover is logged: {out}"
    );
    assert!(
        !out.contains("another controller holds the lease"),
        "no run waited for its own process: {out}"
    );
}

/// A watcher's temporary replica (`--create-replica`) lives as long as the
/// process. Dropped from elsewhere (as a run on another host does with one
/// an hour old), it is made again before the next run, which succeeds;
/// the watcher's replicas are audited and the last is dropped at SIGTERM.
#[test]
fn a_watchers_temporary_replica_dropped_elsewhere_is_made_again() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_cluster("c");
    init_tables(&emu);
    let temporary = || -> Vec<String> {
        emu.replicas("ops")
            .into_iter()
            .map(|(n, _)| n)
            .filter(|n| n.starts_with("clusterctl_tmp_"))
            .collect()
    };
    let mut d = Daemon::watching(&emu.url(), &["--exec-cluster", "ops", "--create-replica"]);
    // Watching: the replica came online (§8.7) and the runs began.
    eventually(Duration::from_secs(15), "the temporary replica", &d, || {
        temporary().len() == 1 && d.output().contains("watching:")
    });
    let first = temporary().remove(0);
    let first_id = emu.replica_id("ops", &first);
    let mut other = postgres::Client::connect(&emu.url(), postgres::NoTls).expect("connect");
    other
        .batch_execute(&format!(r#"DROP CLUSTER REPLICA ops."{first}""#))
        .expect("drop it elsewhere");
    // A new replica (its name, from the creation time in seconds, may be
    // the same when it is made within the second).
    eventually(
        Duration::from_secs(15),
        "a new temporary replica",
        &d,
        || match temporary().as_slice() {
            [name] => emu.replica_id("ops", name) != first_id,
            _ => false,
        },
    );
    // The runs after it work: a strategy row added now is acted on.
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    eventually(Duration::from_secs(15), "the replica", &d, || {
        replica_names(&emu, "c") == ["r_25cc"]
    });
    let second = temporary().remove(0);
    let (code, _) = d.terminate(Duration::from_secs(10));
    assert_eq!(code, 0, "{}", d.output());
    assert!(temporary().is_empty(), "{:?}", emu.replicas("ops"));
    // Its drop at exit is logged, as its creation was.
    let dropped = d
        .output()
        .lines()
        .any(|l| l.contains("dropped this run's temporary replica") && l.contains(&second));
    assert!(dropped, "{}", d.output());
    assert!(
        d.output()
            .contains(&format!("{first} of this process was gone")),
        "{}",
        d.output()
    );
    let want = [
        format!("create_replica {first}"),
        format!("create_replica {second}"),
        format!("drop_replica {second}"),
    ];
    assert_eq!(audited_kinds(&emu, "ops"), want, "{}", d.output());
}

/// The session cluster's temporary replicas, as (name, status), by name.
fn temporaries(emu: &Emulator) -> Vec<(String, String)> {
    emu.query_strings(
        "SELECT r.name, coalesce(min(s.status), '-')
         FROM mz_catalog.mz_cluster_replicas r
         JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
         LEFT JOIN mz_internal.mz_cluster_replica_statuses s ON s.replica_id = r.id
         WHERE c.name = 'ops' AND r.name LIKE 'clusterctl_tmp_%'
         GROUP BY r.name ORDER BY r.name",
    )
    .into_iter()
    .map(|r| {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        (text(0), text(1))
    })
    .collect()
}

/// A watcher with a temporary replica on `ops` (new replicas start
/// offline/`initializing` for 2 s, §8.7), `arm`ed once that replica is
/// online, then the database's clock moved 1300 s on, past the 20 minutes
/// after which it is renewed. Returns the replica's first name and its new
/// one, once there is one temporary replica again and of another name,
/// having checked every 20 ms until then that one of them was online.
fn renewed_temporary(
    emu: &Emulator,
    extra: &[&str],
    arm: impl FnOnce(&Emulator),
) -> (Daemon, String, String) {
    emu.install_clock();
    emu.create_cluster("ops");
    init_tables(emu);
    let mut args = vec!["--exec-cluster", "ops", "--create-replica"];
    args.extend_from_slice(extra);
    let d = Daemon::watching(&emu.url(), &args);
    eventually(
        Duration::from_secs(15),
        "the temporary replica",
        &d,
        || matches!(temporaries(emu).as_slice(), [(_, s)] if s == "online"),
    );
    let first = temporaries(emu).remove(0).0;
    arm(emu);
    emu.advance_clock(1300);
    let started = Instant::now();
    let second = loop {
        let now = temporaries(emu);
        assert!(
            now.iter().any(|(_, s)| s == "online"),
            "no temporary replica online: {now:?}\n{}",
            d.output()
        );
        if let [(name, _)] = now.as_slice() {
            if *name != first {
                break name.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not renewed: {now:?}\n{}",
            d.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    (d, first, second)
}

fn slow_replica_startups() -> Emulator {
    Emulator::builder()
        .replica_startup_delay(Some(Duration::from_secs(2)))
        .start()
}

/// Stops the watcher (SIGTERM, exit 0) and returns the session cluster's
/// audited temporary-replica DDL, sorted (the creations are dated by the
/// database's moved clock), each as "kind replica", and its output.
fn stopped_and_audited(mut d: Daemon, emu: &Emulator) -> (Vec<String>, String) {
    let (code, _) = d.terminate(Duration::from_secs(15));
    assert_eq!(code, 0, "{}", d.output());
    assert!(temporaries(emu).is_empty(), "{:?}", emu.replicas("ops"));
    let mut ops = audited_kinds(emu, "ops");
    ops.sort();
    (ops, d.output())
}

/// A watcher renews its temporary replica once it is 20 minutes old by the
/// database's clock (moved forward here) by renaming it: the same replica
/// (its id), online throughout, under a name that dates it afresh, so runs
/// elsewhere never take it for one a dead run left. Nothing is started: no
/// second replica is paid for, and no run waits for one.
#[test]
fn a_watcher_renews_its_temporary_replica_by_renaming_it() {
    let emu = slow_replica_startups();
    let id = std::sync::Mutex::new(String::new());
    let (d, first, second) = renewed_temporary(&emu, &[], |emu| {
        *id.lock().unwrap() = emu.replica_id("ops", &temporaries(emu)[0].0);
    });
    assert_eq!(
        emu.replica_id("ops", &second),
        *id.lock().unwrap(),
        "renamed in place"
    );
    assert_eq!(
        emu.logged("CREATE CLUSTER REPLICA").len(),
        1,
        "one replica made"
    );
    let (ops, _) = stopped_and_audited(d, &emu);
    let want = [
        format!("create_replica {first}"),
        format!("drop_replica {second}"),
        format!("rename_replica {first}"),
    ];
    assert_eq!(ops, want);
    let rename = crate::cli::audit_ctx(&emu, "ops")
        .into_iter()
        .find(|c| c["kind"] == "rename_replica")
        .expect("the rename is audited");
    assert_eq!(rename["renamed_to"], second.as_str(), "{rename}");
    let history = clusterctl(&emu, &["history", "--cluster", "ops"])
        .ok()
        .stdout;
    assert!(
        history.contains(&format!("rename {first} to {second} (25cc)")),
        "{history}"
    );
}

/// Where the rename is refused, the watcher renews its temporary replica
/// as before renames: by a new one, and the old one is dropped only once
/// the new one is online (new replicas start offline/`initializing`, §8.7,
/// and Materialize holds statements on a cluster without a replica
/// online), so at every moment one of them serves. The refusal is audited
/// and said.
#[test]
fn a_watcher_whose_rename_is_refused_keeps_its_replica_until_a_new_one_is_online() {
    let emu = slow_replica_startups();
    let (d, first, second) = renewed_temporary(&emu, &[], |emu| {
        emu.fail_statement("RENAME TO", 1, "XX000", "injected: rename refused");
    });
    let (ops, out) = stopped_and_audited(d, &emu);
    assert!(
        out.contains(&format!(
            "could not rename the temporary replica {first} (injected: rename refused)"
        )),
        "{out}"
    );
    let want = [
        format!("create_replica {first}"),
        format!("create_replica {second}"),
        format!("drop_replica {first}"),
        format!("drop_replica {second}"),
        format!("rename_replica {first}"),
    ];
    assert_eq!(ops, want);
}

/// A rename whose answer is lost (the connection closed after it ran) has
/// landed: the catalog, read again, says so, and the watcher keeps the
/// replica under its new name. When that read fails too (the network
/// still gone through every retry), the next run finds the replica of
/// this process under its new name and takes it: either way there is one
/// temporary replica, dropped at the end, and no leftover.
#[test]
fn a_renamed_temporary_replica_whose_answer_was_lost_is_kept_under_its_new_name() {
    for lost_read in [false, true] {
        let emu = slow_replica_startups();
        let (d, first, second) = renewed_temporary(&emu, &[], |emu| {
            emu.cut_after_statement("RENAME TO", 1);
            if lost_read {
                // Every attempt of the read after it (1 + 4 retries).
                emu.cut_after("RENAME TO", "c.managed, r.name, r.size", 5);
            }
        });
        assert_eq!(
            emu.logged("CREATE CLUSTER REPLICA").len(),
            1,
            "{}",
            d.output()
        );
        let unknown = "could not tell whether the temporary replica";
        if lost_read {
            eventually(Duration::from_secs(60), "the lost read", &d, || {
                d.output().contains(unknown)
            });
        }
        // The next runs keep it: no second one, none dropped.
        std::thread::sleep(Duration::from_secs(3));
        assert_eq!(temporaries(&emu).len(), 1, "{}", d.output());
        assert_eq!(temporaries(&emu)[0].0, second);
        let (ops, out) = stopped_and_audited(d, &emu);
        assert_eq!(out.contains(unknown), lost_read, "{out}");
        let want = [
            format!("create_replica {first}"),
            format!("drop_replica {second}"),
            format!("rename_replica {first}"),
        ];
        assert_eq!(ops, want, "lost read: {lost_read}");
    }
}

/// A one-shot `apply --metrics-file` against a database that is not
/// there: it fails (exit 1) and counts an error run in the file.
fn failed_cron_run(metrics_file: &str) {
    let bad = format!(
        "postgres://u:pw@127.0.0.1:{}/db?sslmode=disable",
        free_port()
    );
    let mut cmd = command();
    cmd.args([
        "apply",
        "--metrics-file",
        metrics_file,
        "--max-retries",
        "0",
    ])
    .env("DATABASE_URL", bad);
    let run = crate::cli::run_cmd(cmd);
    assert_eq!(run.code, 1, "{}", run.all());
}

/// A run's duration counts the session cluster's check before it (an
/// outside check read an 86 s stall on a locked catalog as a 32 ms run):
/// a one-shot run's in its metrics file, the watcher's first run's in its
/// log line.
#[test]
fn a_runs_duration_counts_the_session_clusters_check() {
    let emu = Emulator::start();
    emu.create_cluster("cron");
    init_tables(&emu);
    // The session check's own statement (a run reads privileges too).
    emu.delay_statements("'USAGE') OR mz_is_superuser", Duration::from_secs(2));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("clusterctl.prom");
    let file_arg = file.to_string_lossy().into_owned();
    clusterctl(&emu, &["apply", "--metrics-file", &file_arg]).ok();
    let text = read(&file);
    let sum = sample(&text, "clusterctl_run_duration_seconds_sum").unwrap_or_default();
    assert!(sum >= 2.0, "{text}");
    let d = Daemon::watching(&emu.url(), &["--log-format", "json"]);
    let first_run = || {
        d.output()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == "run finished")
    };
    eventually(
        Duration::from_secs(20),
        "the first run's log line",
        &d,
        || first_run().is_some(),
    );
    let line = first_run().unwrap_or_default();
    let ms = line["duration_ms"].as_u64().unwrap_or_default();
    assert!(ms >= 2000, "{line}");
}

#[test]
fn one_shot_apply_writes_a_cumulative_textfile() {
    let emu = Emulator::start();
    emu.create_cluster("cron");
    init_tables(&emu);
    strategy(&emu, "cron", "target_size", json!({"target_size": "25cc"}));
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("clusterctl.prom");
    let file_arg = file.to_string_lossy().into_owned();
    clusterctl(&emu, &["apply", "--metrics-file", &file_arg]).ok();
    let first = read(&file);
    assert_eq!(
        sample(
            &first,
            "clusterctl_actions_total{kind=\"create_replica\",outcome=\"executed\"}"
        ),
        Some(1.0),
        "{first}"
    );
    assert_eq!(
        sample(&first, "clusterctl_clusters{condition=\"changes\"}"),
        Some(1.0)
    );
    // The next cron run adds to the counters (the textfile is the memory);
    // the new replica is up by then (it starts `initializing`, §8.7).
    emu.set_replica_online("cron", "r_25cc");
    clusterctl(&emu, &["apply", "--metrics-file", &file_arg]).ok();
    let second = read(&file);
    assert_eq!(
        sample(&second, "clusterctl_runs_total{outcome=\"success\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &second,
            "clusterctl_actions_total{kind=\"create_replica\",outcome=\"executed\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&second, "clusterctl_clusters{condition=\"converged\"}"),
        Some(1.0)
    );
    // A failed run is counted too, and the last success time is kept.
    failed_cron_run(&file_arg);
    let third = read(&file);
    assert_eq!(
        sample(&third, "clusterctl_runs_total{outcome=\"error\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&third, "clusterctl_last_success_timestamp_seconds"),
        sample(&second, "clusterctl_last_success_timestamp_seconds")
    );
    // So is a run whose session cluster cannot serve (a cron whose
    // --exec-cluster was dropped counted nothing, so its alert never fired).
    let run = clusterctl(
        &emu,
        &[
            "apply",
            "--exec-cluster",
            "nosuch",
            "--metrics-file",
            &file_arg,
        ],
    );
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        sample(&read(&file), "clusterctl_runs_total{outcome=\"error\"}"),
        Some(2.0),
        "{}",
        run.all()
    );
}

/// A `--watch` process and cron runs may share one textfile: each run of
/// the watcher adds its counts to the file's under the lock, as a one-shot
/// run does, and never writes its own totals over the counts of the others.
#[test]
fn a_watcher_adds_to_a_textfile_it_shares_with_cron() {
    let emu = Emulator::start();
    emu.create_cluster("shared");
    init_tables(&emu);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("clusterctl.prom");
    let file_arg = file.to_string_lossy().into_owned();
    let count = |outcome: &str| {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        sample(
            &text,
            &format!("clusterctl_runs_total{{outcome=\"{outcome}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let d = Daemon::watching(&emu.url(), &["--metrics-file", &file_arg]);
    eventually(
        Duration::from_secs(15),
        "the watcher's first run",
        &d,
        || count("success") >= 1.0,
    );
    // A cron run against a database that is not there, meanwhile: a count
    // the watcher never makes itself.
    failed_cron_run(&file_arg);
    assert_eq!(count("error"), 1.0);
    let before = count("success");
    eventually(
        Duration::from_secs(15),
        "two more runs of the watcher",
        &d,
        || count("success") >= before + 2.0,
    );
    assert_eq!(count("error"), 1.0, "{}", read(&file));
}

#[test]
fn watch_json_prints_one_document_per_run_even_when_nothing_is_done() {
    // A converged fleet: text stays quiet, JSON says each run happened
    // (it printed nothing, so a consumer could not tell a dead process).
    let emu = Emulator::start();
    emu.create_cluster("quiet");
    init_tables(&emu);
    let mut d = Daemon::watching(&emu.url(), &["-o", "json"]);
    eventually(Duration::from_secs(20), "three JSON lines", &d, || {
        d.documents().len() >= 3
    });
    for doc in d.documents() {
        assert_eq!(doc["command"], "apply", "{doc:#}");
        assert_eq!(doc["ok"], true, "{doc:#}");
    }
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", d.output());
}

/// A run that finds the lease held, or fails, is a document too (an
/// outside check found only successful runs printed): a consumer of the
/// stream tells an outage or a busy lease from a dead process.
#[test]
fn watch_json_prints_a_document_for_a_busy_lease_and_a_failed_run() {
    let emu = Emulator::start();
    emu.create_cluster("quiet");
    init_tables(&emu);
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'other-host:1:run-x', \
         expires_at = now() + INTERVAL '600 seconds' WHERE name = 'controller'",
    );
    let mut d = Daemon::watching(&emu.url(), &["-o", "json"]);
    eventually(Duration::from_secs(20), "a lease_busy document", &d, || {
        d.documents()
            .iter()
            .any(|doc| doc["result"]["lease_busy"]["held_by"] == "other-host:1:run-x")
    });
    emu.sql(
        "UPDATE clusterctl_lease SET holder = '', expires_at = now() WHERE name = 'controller'",
    );
    emu.fail_statement(
        "mz_cluster_replica_sizes",
        1,
        "XX000",
        "injected: the read failed",
    );
    eventually(Duration::from_secs(20), "an error document", &d, || {
        d.documents().iter().any(|doc| {
            doc["ok"] == false
                && doc["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("injected: the read failed"))
        })
    });
    let lines = std::fs::read_to_string(d.dir.path().join("stdout")).unwrap_or_default();
    for line in lines.lines() {
        let doc: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON document per line ({e}): {line}"));
        assert_eq!(doc["command"], "apply", "{doc:#}");
    }
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", d.output());
}

#[test]
fn json_logs_have_one_event_per_decision() {
    let emu = Emulator::start();
    emu.create_cluster("logged");
    init_tables(&emu);
    strategy(
        &emu,
        "logged",
        "target_size",
        json!({"target_size": "25cc"}),
    );
    let run = clusterctl(&emu, &["dry-run", "-v", "--log-format", "json"]).ok();
    let events: Vec<serde_json::Value> = run
        .stderr
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{}", run.all()))
        })
        .collect();
    let decisions: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["message"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 1, "{events:?}");
    let d = decisions[0];
    assert_eq!(d["cluster"], "logged");
    assert_eq!(d["strategy"], "target_size");
    assert_eq!(d["kind"], "create_replica");
    assert!(
        d["reason"].as_str().is_some_and(|r| r.contains("25cc")),
        "{d}"
    );
    assert_eq!(d["level"], "INFO");
    assert!(d["timestamp"].is_string(), "{d}");
    // The plan itself still goes to stdout, untouched.
    assert!(
        run.stdout.contains("+ create replica r_25cc"),
        "{}",
        run.all()
    );
}

/// `bi`, predictive `idle_suspend`, suspended by a first run (users came
/// three hours ahead in four weeks of history), then the history moved
/// so that its prewarm is due `in_s` seconds after a watcher's first run
/// with a 10-minute interval (10m of assumed hydration + 10m of interval
/// ahead of the users): that run finds nothing to do yet.
fn prewarm_due_in(in_s: i64) -> Emulator {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("bi", "r1", "25cc");
    init_tables(&emu);
    crate::cli::strategy(
        &emu,
        "bi",
        "idle_suspend",
        json!({"idle_after_s": 600, "predict": true, "prewarm_margin_s": 0}),
    );
    let tod = || -> i64 {
        emu.query_one(
            "SELECT extract(epoch FROM (now() AT TIME ZONE 'UTC') \
             - date_trunc('day', now() AT TIME ZONE 'UTC'))::bigint",
        )
        .and_then(|s| s.parse().ok())
        .expect("time of day")
    };
    let history = |in_s: i64| {
        emu.add_activity_history(&crate::support::ActivityHistory {
            clusters: "bi".into(),
            // Not wrapped at midnight, and a day more than the window
            // (see tests/it/predict.rs).
            days: 29,
            start_s: tod() + in_s,
            duration_s: 3600,
            per_hour: 30,
            ..Default::default()
        })
    };
    // Users come three hours from now: idle, suspended.
    history(3 * 3600);
    clusterctl(&emu, &["apply"]).ok();
    assert!(replica_names(&emu, "bi").is_empty());
    emu.sql("DELETE FROM mz_emulator.statement_log");
    history(1200 + in_s);
    emu
}

/// `apply --watch` wakes up when the plan has a decision due (a prewarm),
/// not a whole `--interval` later (kube-rs's requeue-after).
#[test]
fn watch_runs_again_when_a_prewarm_is_due_not_a_whole_interval_later() {
    // With a 10-minute interval the lead is 10m of assumed hydration + 10m
    // of interval, so the prewarm is due in about 15 s.
    let emu = prewarm_due_in(15);
    let mut d = Daemon::start(&emu.url(), &["apply", "--watch", "--interval", "10m"]);
    eventually(
        Duration::from_secs(90),
        "the prewarm, well before the 10-minute interval",
        &d,
        || replica_names(&emu, "bi") == vec!["r1".to_string()],
    );
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", d.output());
    let out = d.output();
    assert!(out.contains("next_in_ms"), "{out}");
}

/// A watcher woken for a due prewarm that finds another run holding the
/// lease tries again soon after, not a whole interval later (it slept the
/// interval though the lease ended seconds later: an outside check).
#[test]
fn a_watcher_woken_for_a_due_decision_retries_soon_when_the_lease_is_busy() {
    let emu = prewarm_due_in(20);
    let mut d = Daemon::start(&emu.url(), &["apply", "--watch", "--interval", "10m"]);
    eventually(Duration::from_secs(60), "the first run", &d, || {
        d.output().contains("run finished")
    });
    // Another controller takes the lease until well past the prewarm.
    emu.hold_lease("other-host:4242:run-x", 35);
    eventually(
        Duration::from_secs(120),
        "the prewarm, once the lease is free, well before the 10-minute interval",
        &d,
        || replica_names(&emu, "bi") == vec!["r1".to_string()],
    );
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", d.output());
    let out = d.output();
    assert!(
        out.contains("another controller holds the lease"),
        "the watcher woke for the prewarm while the lease was held: {out}"
    );
}

/// SIGTERM while a run retries a server that does not answer, before it
/// did anything: the retries end at once (the watcher retried on for the
/// whole 25 s grace, though nothing was under way).
#[test]
fn a_signal_ends_the_retries_of_a_run_that_did_nothing_yet() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    emu.cut_every_statement("mz_cluster_strategies");
    let mut d = Daemon::watching(&emu.url(), &[]);
    eventually(Duration::from_secs(30), "a retry", &d, || {
        d.output().contains("retrying in")
    });
    let (code, _) = d.terminate(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", d.output());
    stopped_having_done_nothing(&d);
    assert!(replica_names(&emu, "c").is_empty());
    // A watcher logs its retries at info: each failed run is an error line
    // (an outage logged four warnings more per interval: an outside check).
    let out = d.output();
    let retries: Vec<&str> = out.lines().filter(|l| l.contains("retrying in")).collect();
    assert!(
        !retries.is_empty() && retries.iter().all(|l| l.contains("INFO")),
        "{out}"
    );
}

/// The watcher's last words after a signal that came before its run did
/// anything: the run stopped, nothing was done, and it is no failed run
/// (no "did not finish within 25s", no error line).
fn stopped_having_done_nothing(d: &Daemon) {
    let out = d.output();
    assert!(
        out.contains("stopped by a signal before it did anything"),
        "{out}"
    );
    assert!(!out.contains("did not finish within"), "{out}");
    assert!(!out.contains("ERROR"), "{out}");
}

/// `apply --exec-cluster ops --create-replica`, one-shot and `--watch`,
/// with the exit code each gives when a signal stops its start-up (a
/// one-shot run was interrupted: 1; a watcher stops cleanly: 0).
fn create_replica_runs() -> [(Vec<&'static str>, i32); 2] {
    let one_shot = vec!["apply", "--exec-cluster", "ops", "--create-replica"];
    let mut watch = one_shot.clone();
    watch.insert(1, "--watch");
    [(one_shot, 1), (watch, 0)]
}

/// An emulator whose new replicas take two minutes to come online, with
/// the session cluster `ops` (no replica) and clusterctl's tables.
fn ops_whose_replicas_start_slowly() -> Emulator {
    let emu = Emulator::builder()
        .replica_startup_delay(Some(Duration::from_secs(120)))
        .start();
    emu.create_cluster("ops");
    init_tables(&emu);
    emu
}

/// SIGTERM while `--create-replica`'s temporary replica starts: the run
/// stops at once and drops it, audited (it stayed for the next `apply`,
/// an hour away when that runs on another host, and the run said nothing
/// was done).
#[test]
fn a_signal_while_the_temporary_replica_starts_drops_it() {
    let emu = ops_whose_replicas_start_slowly();
    for (args, code) in create_replica_runs() {
        let mut d = Daemon::start(&emu.url(), &args);
        eventually(Duration::from_secs(30), "the temporary replica", &d, || {
            !replica_names(&emu, "ops").is_empty()
        });
        std::thread::sleep(Duration::from_millis(500));
        let (got, waited) = d.terminate(Duration::from_secs(60));
        assert_eq!(got, code, "{args:?}\n{}", d.output());
        assert!(
            waited < Duration::from_secs(20),
            "{waited:?}\n{}",
            d.output()
        );
        assert!(replica_names(&emu, "ops").is_empty(), "{}", d.output());
        let out = d.output();
        assert!(
            out.contains("started: dropped it; nothing else was done"),
            "{out}"
        );
    }
    let drops: Vec<String> = audit_ctx(&emu, "ops")
        .iter()
        .filter(|c| c["kind"] == "drop_replica")
        .filter_map(|c| c["reasons"][0].as_str().map(String::from))
        .collect();
    assert_eq!(drops.len(), 2, "{drops:?}");
    assert!(
        drops.iter().all(|r| r.contains("a signal came while")),
        "{drops:?}"
    );
}

/// A temporary replica that does not come online within
/// `--create-replica-wait` is dropped by the run that made it, audited: it
/// was left "for the next apply", and a cron of `--create-replica` runs
/// that all fail this way left one a run (an outside check).
#[test]
fn a_temporary_replica_that_does_not_come_online_in_time_is_dropped() {
    let emu = ops_whose_replicas_start_slowly();
    // One a run on another host left long ago goes too: a cron whose runs
    // all fail so never reached the end of a run, which drops it.
    let dead = "clusterctl_tmp_1000000000_otherhost_1_1_1";
    emu.add_replica("ops", dead, "25cc");
    emu.set_hydrated("ops", dead, true);
    for _ in 0..2 {
        let run = clusterctl(
            &emu,
            &[
                "apply",
                "--exec-cluster",
                "ops",
                "--create-replica",
                "--create-replica-wait",
                "2s",
            ],
        )
        .code(1);
        assert!(
            run.stderr
                .contains("did not come online within 2s (--create-replica-wait)")
                && run.stderr.contains("dropped it; nothing else was done"),
            "{}",
            run.all()
        );
        assert!(replica_names(&emu, "ops").is_empty(), "{}", run.all());
    }
    let drops = audit_ctx(&emu, "ops")
        .iter()
        .filter(|c| c["kind"] == "drop_replica")
        .count();
    assert_eq!(drops, 3, "two of its own, one left by a dead run");
    // The second run's creation could not record its outcome (no replica
    // to write it on): the next run settles it as run, since a recorded
    // drop removed the replica (it said "failed: found it not applied").
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1");
    emu.set_hydrated("ops", "r1", true);
    clusterctl(&emu, &["apply", "--exec-cluster", "ops"]).ok();
    let not_run = emu.query_strings(
        "SELECT count(*)::text FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'create_replica' AND executed IS DISTINCT FROM true",
    );
    assert_eq!(not_run, [[Some("0".to_string())]]);
    // The wait needs --create-replica.
    let run = clusterctl(&emu, &["apply", "--create-replica-wait", "2s"]);
    assert_eq!(run.code, 64, "{}", run.all());
}

/// SIGTERM while a one-shot `apply --wait` waits for a lease another
/// controller holds: it stops at once, saying nothing was done (it waited
/// out its 25 s grace and said the next run would settle an interrupted
/// action).
#[test]
fn a_signal_ends_a_wait_for_the_lease() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    emu.sql(
        "UPDATE clusterctl_lease SET holder = 'other-host:4242:run-x', \
         expires_at = now() + INTERVAL '600 seconds' WHERE name = 'controller'",
    );
    let mut d = Daemon::start(&emu.url(), &["apply", "--wait", "10m"]);
    std::thread::sleep(Duration::from_secs(2));
    let (code, waited) = d.terminate(Duration::from_secs(60));
    assert_eq!(code, 1, "{}", d.output());
    assert!(
        waited < Duration::from_secs(20),
        "{waited:?}\n{}",
        d.output()
    );
    let out = d.output();
    assert!(
        // Between two tries, or during one.
        out.contains("waiting for the lease: interrupted by a signal; nothing was done")
            || out.contains("taking the lease: interrupted by a signal; nothing was done"),
        "{out}"
    );
    assert!(!out.contains("settles an interrupted action"), "{out}");
    assert!(replica_names(&emu, "c").is_empty());
}

/// SIGTERM while a run's read hangs (a server that stopped answering in
/// the middle of a watch): the read is abandoned at once, as nothing was
/// done (the watcher waited out its 25 s grace and said the next run
/// would settle an interrupted action).
#[test]
fn a_signal_abandons_a_hung_read_of_a_run_that_did_nothing_yet() {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    // The snapshot's read of the rows (the statement that reads the
    // migrations names the table too, in quotes of a literal).
    emu.stall_statement(r#"FROM "mz_cluster_strategies""#, 1);
    let mut d = Daemon::watching(&emu.url(), &["--statement-timeout", "120"]);
    // The stalled read is the first run's snapshot.
    eventually(Duration::from_secs(30), "the lease taken", &d, || {
        emu.query_one(
            "SELECT count(*) FROM clusterctl_lease WHERE name <> 'migrations' AND expires_at > now()",
        )
            .as_deref()
            == Some("1")
    });
    std::thread::sleep(Duration::from_millis(500));
    let (code, waited) = d.terminate(Duration::from_secs(60));
    assert_eq!(code, 0, "{}", d.output());
    assert!(
        waited < Duration::from_secs(20),
        "{waited:?}\n{}",
        d.output()
    );
    stopped_having_done_nothing(&d);
    assert!(replica_names(&emu, "c").is_empty());
}

/// SIGTERM while a suspension waits for the statement log to catch up
/// (seconds before its first DROP): nothing of it goes out (the first DROP
/// did, 3 s after the signal, leaving the cluster half suspended).
#[test]
fn a_signal_during_the_wait_before_a_suspension_stops_its_first_drop() {
    let emu = Emulator::start();
    emu.create_hydrated_cluster("c", "r1", "25cc");
    emu.add_replica("c", "r2", "50cc");
    emu.set_hydrated("c", "r2", true);
    init_tables(&emu);
    strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 60}));
    emu.add_activity("c", 7200, true);
    let pid = Arc::new(AtomicU32::new(0));
    let hook_pid = pid.clone();
    // The snapshot's read of the statement log: the wait comes after it
    // (until the snapshot is 5 s old); the signal lands in it.
    emu.on_statement("mz_statement_execution_history_redacted", 1, move |_| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3));
            let pid = loop {
                match hook_pid.load(Ordering::SeqCst) {
                    0 => std::thread::sleep(Duration::from_millis(1)),
                    pid => break pid,
                }
            };
            signal_term(pid);
        });
    });
    let mut d = Daemon::start(&emu.url(), &["apply", "-v"]);
    pid.store(d.pid(), Ordering::SeqCst);
    let (code, _) = d.wait_exit(Duration::from_secs(60));
    let mut left = replica_names(&emu, "c");
    left.sort();
    assert_eq!(left, ["r1", "r2"], "{}", d.output());
    // Nothing was done, and it says so as a run stopped earlier does
    // (it exited 3, "Applied 0 of 2", as if actions were left over).
    assert_eq!(code, 1, "{}", d.output());
    assert!(
        d.output()
            .contains("a signal came before the run's first action; nothing was done"),
        "{}",
        d.output()
    );
    assert!(audit(&emu, "c").is_empty(), "{}", d.output());
}

/// "kind replica" of each audit row of `cluster`, as `audit_ctx` lists them.
fn audited_kinds(emu: &Emulator, cluster: &str) -> Vec<String> {
    crate::cli::audit_ctx(emu, cluster)
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["kind"].as_str().unwrap_or_default(),
                c["replica"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// SIGTERM while `--create-replica` writes its temporary replica's intent
/// to a database that does not answer: nothing was made yet, so the run
/// stops at once, as it did before the start-up took the signal itself
/// (it waited out the statement's deadline and every retry).
#[test]
fn a_signal_while_the_temporary_replicas_intent_hangs_stops_at_once() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    init_tables(&emu);
    emu.stall_statement("INSERT INTO \"mz_cluster_strategy_actions\"", 1);
    for (args, code) in create_replica_runs() {
        let mut d = Daemon::start(&emu.url(), &args);
        std::thread::sleep(Duration::from_secs(2));
        let (got, waited) = d.terminate(Duration::from_secs(120));
        assert_eq!(got, code, "{args:?}\n{}", d.output());
        assert!(
            waited < Duration::from_secs(5),
            "{waited:?}\n{}",
            d.output()
        );
        assert!(replica_names(&emu, "ops").is_empty(), "{}", d.output());
        emu.stall_statement("INSERT INTO \"mz_cluster_strategy_actions\"", 1);
    }
}

/// A watcher on the old image while a newer clusterctl migrates the tables
/// (a rolling upgrade): from its next run on it acts no more and says why,
/// each run, as a failed run (so probes and metrics show it); it did not
/// notice before.
#[test]
fn a_watcher_stops_acting_once_a_newer_clusterctl_migrated() {
    let emu = Emulator::start();
    emu.create_cluster("early");
    emu.create_cluster("later");
    init_tables(&emu);
    strategy(&emu, "early", "target_size", json!({"target_size": "25cc"}));
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut d = Daemon::watching(&emu.url(), &["--metrics-addr", &addr]);
    eventually(Duration::from_secs(15), "the first action", &d, || {
        replica_names(&emu, "early") == ["r_25cc"]
    });
    emu.sql(
        "INSERT INTO clusterctl_schema_migrations (version, name, applied_at) \
         VALUES (99, 'from_the_future', now())",
    );
    strategy(&emu, "later", "target_size", json!({"target_size": "25cc"}));
    eventually(Duration::from_secs(15), "two refused runs", &d, || {
        get(port, "/metrics")
            .and_then(|(_, m)| sample(&m, "clusterctl_runs_total{outcome=\"error\"}"))
            .is_some_and(|n| n >= 2.0)
    });
    assert!(d.still_running(), "{}", d.output());
    assert!(replica_names(&emu, "later").is_empty(), "{}", d.output());
    assert!(audit(&emu, "later").is_empty(), "{}", d.output());
    let (code, _) = d.terminate(Duration::from_secs(5));
    assert_eq!(code, 0, "{}", d.output());
    assert!(
        d.output().contains("schema version 99") && d.output().contains("upgrade this clusterctl"),
        "{}",
        d.output()
    );
}

/// A temporary replica a dead run left on the session cluster while a
/// watcher runs is dropped (audited) by the watcher's next run, with or
/// without a temporary replica of its own: each run of `--watch` is an
/// `apply`, and the watcher dropped such a replica only at its exit, one
/// that died while it ran never (an outside check: billed for its life).
#[test]
fn a_watcher_drops_a_temporary_replica_a_dead_run_left_while_it_runs() {
    for own in [false, true] {
        let emu = slow_replica_startups();
        emu.create_hydrated_cluster("ops", "r1", "25cc");
        emu.set_replica_online("ops", "r1");
        init_tables(&emu);
        let mut args = vec!["--exec-cluster", "ops"];
        if own {
            args.push("--create-replica");
        }
        let mut d = Daemon::watching(&emu.url(), &args);
        eventually(Duration::from_secs(30), "a first run", &d, || {
            !own || temporaries(&emu).iter().any(|(_, s)| s == "online")
        });
        std::thread::sleep(Duration::from_secs(2));
        // Left by a run on another host long ago (stale: a leftover).
        let dead = "clusterctl_tmp_1000000000_otherhost_1_1_1";
        emu.add_replica("ops", dead, "25cc");
        eventually(Duration::from_secs(30), "the leftover dropped", &d, || {
            !replica_names(&emu, "ops").iter().any(|n| n == dead)
        });
        assert!(d.still_running(), "{}", d.output());
        let (code, _) = d.terminate(Duration::from_secs(15));
        assert_eq!(code, 0, "{}", d.output());
        let drops: Vec<String> = audit_ctx(&emu, "ops")
            .iter()
            .filter(|c| c["kind"] == "drop_replica" && c["replica"] == dead)
            .map(|c| c["reasons"][0].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(drops.len(), 1, "own: {own}: {drops:?}\n{}", d.output());
        assert!(drops[0].contains("a run that died"), "{drops:?}");
    }
}

/// A signal while `--create-replica`'s intent is written, before the
/// CREATE: nothing is made, and the intent is closed as not attempted
/// (`skipped`). It was left open, and the next run settled it as failed:
/// `history --failed` listed a clean shutdown (an outside check).
#[test]
fn a_signal_before_the_temporary_replica_is_made_closes_its_intent() {
    let emu = slow_replica_startups();
    emu.create_hydrated_cluster("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1");
    init_tables(&emu);
    // The intent is written, its answer lost (the connection cut after it
    // ran); the signal comes as the write is tried again.
    let intent = "INSERT INTO \"mz_cluster_strategy_actions\"";
    emu.fault(intent, 1, crate::support::Action::CutAfterExecution);
    let pid = Arc::new(AtomicU32::new(0));
    let target = pid.clone();
    emu.on_statement(intent, 2, move |_| {
        let mut p = target.load(Ordering::SeqCst);
        while p == 0 {
            std::thread::sleep(Duration::from_millis(1));
            p = target.load(Ordering::SeqCst);
        }
        signal_term(p);
        // The signal is seen before the write's answer.
        std::thread::sleep(Duration::from_millis(300));
    });
    let mut d = Daemon::start(
        &emu.url(),
        &["apply", "--exec-cluster", "ops", "--create-replica"],
    );
    pid.store(d.pid(), Ordering::SeqCst);
    let (code, _) = d.wait_exit(Duration::from_secs(30));
    assert_eq!(code, 1, "{}", d.output());
    assert!(d.output().contains("nothing was done"), "{}", d.output());
    assert!(temporaries(&emu).is_empty(), "{}", d.output());
    let rows = emu.query_strings(
        "SELECT executed::text, error_message FROM mz_cluster_strategy_actions \
         WHERE decision_ctx->>'kind' = 'create_replica'",
    );
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0].as_deref(), Some("false"), "{rows:?}");
    assert!(
        rows[0][1]
            .as_deref()
            .is_some_and(|e| e.starts_with("not attempted: a signal came")),
        "{rows:?}"
    );
}

/// The clusterctl_tmp replicas anywhere in the region, as (cluster,
/// replica).
fn temporaries_anywhere(emu: &Emulator) -> Vec<(String, String)> {
    emu.query_strings(
        "SELECT c.name, r.name
         FROM mz_catalog.mz_cluster_replicas r
         JOIN mz_catalog.mz_clusters c ON c.id = r.cluster_id
         WHERE r.name LIKE 'clusterctl_tmp_%' ORDER BY 1, 2",
    )
    .into_iter()
    .map(|r| {
        let text = |i: usize| r[i].clone().unwrap_or_default();
        (text(0), text(1))
    })
    .collect()
}

/// A watcher whose `--exec-cluster` is swapped mid-watch (`ALTER CLUSTER
/// ops SWAP WITH ops_green`, a blue/green deployment): its temporary
/// replica stayed on the cluster now named `ops_green`, the renewal found
/// it "gone" and made another on `ops`, and the exit dropped only that
/// one: the first was billed until an `apply` there (the thirty-fifth
/// session's outside check). It is dropped from the cluster it was made
/// on, audited there, and the runs go on with one on `ops`.
#[test]
fn a_watchers_temporary_replica_follows_its_exec_clusters_name_across_a_swap() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    let green = emu.create_cluster("ops_green");
    init_tables(&emu);
    let d = Daemon::watching(&emu.url(), &["--exec-cluster", "ops", "--create-replica"]);
    eventually(Duration::from_secs(15), "a first run", &d, || {
        d.output().contains("run finished")
    });
    let first = temporaries(&emu).remove(0).0;
    let blue = emu.cluster_id("ops");
    emu.through_the_proxy("ALTER CLUSTER ops SWAP WITH ops_green");
    assert_eq!(emu.cluster_id("ops"), green);
    eventually(
        Duration::from_secs(30),
        "moved to ops",
        &d,
        || matches!(temporaries_anywhere(&emu).as_slice(), [(c, r)] if c == "ops" && *r != first),
    );
    let (_, out) = stopped_and_audited(d, &emu);
    assert!(temporaries_anywhere(&emu).is_empty(), "{out}");
    assert!(
        out.contains("is another cluster now (swapped or renamed)"),
        "{out}"
    );
    // The drop of the first is recorded on the cluster it was made on,
    // under the name that cluster has now.
    let dropped = emu.query_strings(&format!(
        "SELECT decision_ctx->>'cluster' FROM mz_cluster_strategy_actions
         WHERE cluster_id = '{blue}' AND decision_ctx->>'kind' = 'drop_replica'
           AND decision_ctx->>'replica' = '{first}' AND executed"
    ));
    assert_eq!(dropped, [[Some("ops_green".to_string())]], "{out}");
}

/// A reading command with `--create-replica` stopped by SIGTERM: its
/// temporary replica is dropped and audited, whether the signal comes
/// while the replica starts or while the command reads (`dry-run` and
/// `simulate --from-history` were killed by it and left the replica
/// running until an `apply` there: an outside check).
#[test]
fn a_signal_to_a_reading_command_drops_its_temporary_replica() {
    for (args, while_reading) in [
        (&["dry-run"][..], true),
        (&["dry-run"][..], false),
        (&["simulate", "--from-history", "--days", "1"][..], true),
    ] {
        let emu = match while_reading {
            true => Emulator::start(),
            false => slow_replica_startups(),
        };
        emu.create_cluster("ops");
        emu.create_cluster("c");
        init_tables(&emu);
        strategy(&emu, "c", "idle_suspend", json!({"idle_after_s": 600}));
        if while_reading {
            emu.delay_statements("mz_statement_execution_history", Duration::from_secs(20));
        }
        let mut argv = args.to_vec();
        argv.extend(["--exec-cluster", "ops", "--create-replica"]);
        let mut d = Daemon::start(&emu.url(), &argv);
        eventually(
            Duration::from_secs(15),
            "the temporary replica",
            &d,
            || match while_reading {
                true => matches!(temporaries(&emu).as_slice(), [(_, s)] if s == "online"),
                false => temporaries(&emu).len() == 1,
            },
        );
        std::thread::sleep(Duration::from_millis(300));
        let (code, waited) = d.terminate(Duration::from_secs(15));
        let context = format!("{args:?} while reading {while_reading}: {}", d.output());
        assert_ne!(code, 0, "{context}");
        assert!(waited < Duration::from_secs(10), "{waited:?}: {context}");
        assert!(temporaries(&emu).is_empty(), "{context}");
        let mut ops = audited_kinds(&emu, "ops");
        ops.sort();
        assert_eq!(ops.len(), 2, "{ops:?}: {context}");
        assert!(
            ops[0].starts_with("create_replica clusterctl_tmp_"),
            "{ops:?}"
        );
        assert!(
            ops[1].starts_with("drop_replica clusterctl_tmp_"),
            "{ops:?}"
        );
    }
}

/// Killed `--create-replica` runs' replicas up to Materialize's
/// max_replicas_per_cluster (5): every later `--create-replica` start
/// failed on the limit, and nothing dropped them (an outside check). An
/// `apply` drops them before it makes its own, audited.
#[test]
fn leftovers_at_the_replica_limit_are_dropped_before_a_new_temporary_replica() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.add_replica("ops", "r1", "25cc");
    emu.set_replica_online("ops", "r1");
    init_tables(&emu);
    let dead: Vec<String> = (1..=4)
        .map(|i| format!("clusterctl_tmp_1000000000_otherhost_{i}_1_1"))
        .collect();
    for name in &dead {
        emu.add_replica("ops", name, "25cc");
    }
    let run = clusterctl(
        &emu,
        &["apply", "--exec-cluster", "ops", "--create-replica"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(replica_names(&emu, "ops"), ["r1"], "{}", run.all());
    let dropped: Vec<String> = audit_ctx(&emu, "ops")
        .iter()
        .filter(|c| c["kind"] == "drop_replica")
        .filter_map(|c| c["replica"].as_str().map(str::to_string))
        .filter(|n| dead.contains(n))
        .collect();
    assert_eq!(dropped.len(), 4, "{dropped:?}\n{}", run.all());
}

/// A watcher whose `--exec-cluster` is renamed away (no cluster has the
/// name): its runs fail, saying why, and its temporary replica is dropped
/// from the cluster it was made on (it was billed until the watcher's
/// exit: an outside check); once a cluster has the name again, one is made
/// there; none is left at the exit.
#[test]
fn a_watcher_whose_exec_cluster_is_renamed_away_drops_its_temporary_replica() {
    let emu = Emulator::start();
    emu.create_cluster("ren1");
    init_tables(&emu);
    let d = Daemon::watching(&emu.url(), &["--exec-cluster", "ren1", "--create-replica"]);
    eventually(Duration::from_secs(15), "a first run", &d, || {
        d.output().contains("run finished")
    });
    emu.through_the_proxy("ALTER CLUSTER ren1 RENAME TO ren2");
    eventually(Duration::from_secs(30), "dropped from ren2", &d, || {
        temporaries_anywhere(&emu).is_empty()
    });
    emu.create_cluster("ren1");
    eventually(
        Duration::from_secs(30),
        "made on the new ren1",
        &d,
        || matches!(temporaries_anywhere(&emu).as_slice(), [(c, _)] if c == "ren1"),
    );
    let mut d = d;
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", d.output());
    assert!(temporaries_anywhere(&emu).is_empty(), "{}", d.output());
    assert!(
        d.output()
            .contains("the --exec-cluster \"ren1\" does not exist"),
        "{}",
        d.output()
    );
}

/// `status --watch` checks the session cluster first and makes its
/// temporary replica (`--create-replica`), as every other command does:
/// it ignored both and failed every refresh on a cluster without a
/// replica (an outside check). The replica is dropped at the exit.
#[test]
fn status_watch_checks_the_session_cluster_and_makes_its_temporary_replica() {
    let emu = Emulator::start();
    emu.create_cluster("qx");
    init_tables(&emu);
    let watch = [
        "status",
        "--watch",
        "--interval",
        "1s",
        "--exec-cluster",
        "qx",
    ];
    // Without a replica: stopped at once, saying how to fix it.
    let mut d = Daemon::start(&emu.url(), &watch);
    let (code, _) = d.wait_exit(Duration::from_secs(30));
    assert_eq!(code, 1, "{}", d.output());
    assert!(d.output().contains("--create-replica"), "{}", d.output());
    // With one made for it: refreshed on it, dropped at the exit.
    let mut args = watch.to_vec();
    args.push("--create-replica");
    let mut d = Daemon::start(&emu.url(), &args);
    eventually(Duration::from_secs(15), "a refresh", &d, || {
        d.output().contains("Every 1s: clusterctl status")
    });
    assert_eq!(temporaries_anywhere(&emu).len(), 1, "{}", d.output());
    let (code, _) = d.terminate(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", d.output());
    assert!(temporaries_anywhere(&emu).is_empty(), "{}", d.output());
    assert!(!d.output().contains("has no replicas"), "{}", d.output());
}

/// A connection holding the lock every DDL of the emulator takes first:
/// while it is held, a DDL waits on the server.
fn hold_ddl_lock(emu: &Emulator) -> postgres::Client {
    let mut holder =
        postgres::Client::connect(&emu.direct_url(), postgres::NoTls).expect("direct connection");
    holder
        .batch_execute("SELECT pg_advisory_lock(7463524, 1)")
        .expect("take the DDL lock");
    holder
}

/// `c` wanting a 25cc replica, and `clusterctl ARGS` started while the
/// DDL lock is held (the returned connection holds it): returned once its
/// CREATE waits on the server.
fn a_create_waiting_on_the_server(args: &[&str]) -> (Emulator, postgres::Client, Daemon) {
    let emu = Emulator::start();
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let holder = hold_ddl_lock(&emu);
    let d = Daemon::start(&emu.url(), args);
    eventually(
        Duration::from_secs(30),
        "the CREATE to reach the server",
        &d,
        || ddl_waits(&emu),
    );
    (emu, holder, d)
}

/// A statement waits on a lock on the server (a DDL on [`hold_ddl_lock`]'s).
fn ddl_waits(emu: &Emulator) -> bool {
    emu.query_one(
        "SELECT count(*)::text FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .as_deref()
        != Some("0")
}

/// A watcher whose run is abandoned at the shutdown grace exits 1, as a
/// one-shot `apply` does, saying so: it exited 0 with its CREATE's
/// outcome unknown (an outside check).
#[test]
fn a_watcher_whose_run_is_abandoned_at_the_grace_exits_non_zero() {
    let (_emu, _holder, mut d) =
        a_create_waiting_on_the_server(&["apply", "--watch", "--interval", "1s"]);
    let (code, _) = d.terminate(Duration::from_secs(60));
    assert_eq!(code, 1, "{}", d.output());
    assert!(
        d.output().contains("did not finish within 25s"),
        "{}",
        d.output()
    );
}

/// A run abandoned at the shutdown grace while its CREATE runs on the
/// server (blocked there, not at the proxy) cancels it before it exits: the
/// statement ran on past its deadline, landed after the next run had
/// judged it not applied and sent it again (an outside check: a replica
/// with two failed rows and no executed one).
#[test]
fn a_run_abandoned_at_the_shutdown_grace_cancels_its_statement() {
    let (emu, mut holder, mut d) = a_create_waiting_on_the_server(&["apply"]);
    let waiting = || ddl_waits(&emu);
    let (code, _) = d.terminate(Duration::from_secs(60));
    assert_eq!(code, 1, "{}", d.output());
    assert!(
        d.output().contains("did not finish within 25s"),
        "{}",
        d.output()
    );
    // Cancelled: nothing waits any more, and the lock's release makes
    // nothing.
    let gone = Instant::now();
    while waiting() && gone.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!waiting(), "the CREATE still waits\n{}", d.output());
    holder
        .batch_execute("SELECT pg_advisory_unlock(7463524, 1)")
        .expect("release the DDL lock");
    std::thread::sleep(Duration::from_millis(300));
    assert!(replica_names(&emu, "c").is_empty(), "{}", d.output());
    // The next run past the intent's deadline makes it once, with one
    // executed row (before it, the cluster is left alone: it may run).
    let mut next = clusterctl(&emu, &["apply"]).ok();
    let after = Instant::now();
    while replica_names(&emu, "c").is_empty() && after.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(500));
        next = clusterctl(&emu, &["apply"]).ok();
    }
    assert_eq!(replica_names(&emu, "c"), ["r_25cc"], "{}", next.all());
    let executed: Vec<_> = audit(&emu, "c").into_iter().filter(|row| row.1).collect();
    assert_eq!(executed.len(), 1, "{executed:?}\n{}", next.all());
}

/// `unlock --force` while a run's DDL hangs on the server: its retry after
/// the statement timeout finds the lease gone in the database and stops,
/// sending nothing more (it sent the statement twice more before the
/// heartbeat's renewal noticed: an outside check).
#[test]
fn a_ddl_is_not_sent_again_once_its_lease_was_broken() {
    let (emu, mut holder, mut d) =
        a_create_waiting_on_the_server(&["apply", "--statement-timeout", "3s"]);
    clusterctl(&emu, &["unlock", "--force"]).ok();
    let (code, _) = d.wait_exit(Duration::from_secs(60));
    holder
        .batch_execute("SELECT pg_advisory_unlock(7463524, 1)")
        .expect("release the DDL lock");
    assert_ne!(code, 0, "{}", d.output());
    assert!(d.output().contains("lease"), "{}", d.output());
    let sent = emu.logged("CREATE CLUSTER REPLICA");
    assert_eq!(sent.len(), 1, "{sent:?}\n{}", d.output());
}

/// A TCP relay from a free port of its own to `to`, opened once `after`
/// has passed: a database that cannot be reached, then can.
fn relay_after(to: u16, after: Duration) -> u16 {
    let port = free_port();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) else {
            return;
        };
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            for (mut from, mut into) in [
                (client.try_clone(), server.try_clone()),
                (server.try_clone(), client.try_clone()),
            ]
            .into_iter()
            .filter_map(|(a, b)| Some((a.ok()?, b.ok()?)))
            {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    port
}

/// A watcher with `--create-replica` started while the database cannot be
/// reached: it stayed up but never made its replica, and every run failed
/// on a session cluster with none, for its whole life (an outside check).
/// It prepares the session cluster before each run until it can.
#[test]
fn a_watcher_started_with_the_database_unreachable_makes_its_replica_later() {
    let emu = Emulator::start();
    emu.create_cluster("ops");
    emu.create_cluster("c");
    init_tables(&emu);
    strategy(&emu, "c", "target_size", json!({"target_size": "25cc"}));
    let url = emu.url();
    let proxy: u16 = url
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the proxy's port");
    let relay = relay_after(proxy, Duration::from_secs(8));
    let through = url.replace(
        &format!("127.0.0.1:{proxy}/"),
        &format!("127.0.0.1:{relay}/"),
    );
    let mut d = Daemon::watching(
        &through,
        &[
            "--exec-cluster",
            "ops",
            "--create-replica",
            "--connect-timeout",
            "1",
            "--max-retries",
            "1",
        ],
    );
    // Not reachable at the start: the watcher stays up, its runs fail.
    eventually(Duration::from_secs(8), "a failed run", &d, || {
        d.output().contains("run failed")
    });
    eventually(Duration::from_secs(40), "the replica of c", &d, || {
        replica_names(&emu, "c") == ["r_25cc"]
    });
    assert!(
        emu.replicas("ops")
            .iter()
            .any(|(n, _)| n.starts_with("clusterctl_tmp_")),
        "{}",
        d.output()
    );
    let (code, _) = d.terminate(Duration::from_secs(10));
    assert_eq!(code, 0, "{}", d.output());
}
