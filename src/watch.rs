//! `apply` as a service: `--watch` runs one `apply` per interval (±10 %
//! jitter, so replicas of a deployment do not pile onto the database at the
//! same instant) on one connection pool, until SIGTERM or SIGINT. A failing
//! run is logged and the next one tries again; a lease held by another
//! controller is a normal, idle run. On a signal the run under way finishes
//! its current action (audited), skips the rest, releases the lease, and the
//! process exits 0; a run that does not finish within [`SHUTDOWN_GRACE`] is
//! abandoned (the lease then expires by itself and the next run settles the
//! interrupted action). A one-shot `apply` handles signals the same way.
//! Metrics are served over HTTP (`--metrics-addr`) and/or written to a
//! textfile (`--metrics-file`, also for one-shot runs from cron).
//! Decides nothing: every run is `ops::apply_run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::exec::ExecError;
use crate::metrics::{Metrics, RunOutcome};
use crate::ops::{self, Applied, Completion, Context, Leased, Output};

/// How long a shutdown waits for the run under way (below Kubernetes'
/// default 30 s termination grace period).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// Readiness: a successful run within this many intervals.
const READY_INTERVALS: u32 = 3;

/// How `apply` runs: once or in a loop, and where metrics go.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub watch: bool,
    pub interval: Duration,
    pub metrics_addr: Option<SocketAddr>,
    pub metrics_file: Option<PathBuf>,
}

/// `apply`: once (with a metrics textfile when asked for), or `--watch`.
/// Either way SIGTERM/SIGINT end the run gracefully.
pub async fn apply(ctx: &Context, opts: &RunOptions) -> Result<(Output, Completion), ExecError> {
    if opts.watch {
        return watch(ctx, opts).await;
    }
    let shutdown = Shutdown::install()?;
    let metrics = opts.metrics_file.as_ref().map(|path| {
        let m = Metrics::new();
        if let Ok(previous) = std::fs::read_to_string(path) {
            m.carry_over(&previous);
        }
        (m, path)
    });
    let started = Instant::now();
    let result = shutdown
        .bounded(ops::apply_run(ctx, Some(shutdown.flag.clone())))
        .await
        .unwrap_or_else(|| {
            Err(ExecError::Other(format!(
                "interrupted by a signal: the run did not finish within {}s \
                 (the lease expires by itself; the next run settles an interrupted action)",
                SHUTDOWN_GRACE.as_secs()
            )))
        });
    if let Some((m, path)) = &metrics {
        record(m, &result, started.elapsed());
        if let Err(e) = m.write_textfile(path) {
            tracing::warn!("{e}");
        }
    }
    Ok(ops::render_apply(ctx, &result?))
}

fn outcome_of(result: &Result<Leased<Applied>, ExecError>) -> RunOutcome {
    match result {
        Err(_) => RunOutcome::Error,
        Ok(Leased::Busy { .. }) => RunOutcome::LeaseBusy,
        Ok(Leased::Ran(a)) if a.plan.invalid_count() > 0 || a.report.failed() > 0 => {
            RunOutcome::Problems
        }
        Ok(Leased::Ran(_)) => RunOutcome::Success,
    }
}

fn record(metrics: &Metrics, result: &Result<Leased<Applied>, ExecError>, elapsed: Duration) {
    metrics.observe_run(
        outcome_of(result),
        elapsed,
        result.as_ref().ok(),
        chrono::Utc::now(),
    );
}

async fn watch(ctx: &Context, opts: &RunOptions) -> Result<(Output, Completion), ExecError> {
    let metrics = Arc::new(Metrics::new());
    if let Some(previous) = opts
        .metrics_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        metrics.carry_over(&previous);
    }
    let health = Arc::new(Health::new(opts.interval));
    let _server = match opts.metrics_addr {
        Some(addr) => Some(MetricsServer::start(addr, metrics.clone(), health.clone())?),
        None => None,
    };
    let shutdown = Shutdown::install()?;
    tracing::info!(
        interval = %humantime::format_duration(opts.interval),
        "watching: one apply per interval until SIGTERM or SIGINT"
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
        u64::from(std::process::id()) ^ chrono::Utc::now().timestamp_micros() as u64,
    );
    let mut last_problems = Vec::new();
    loop {
        let started = Instant::now();
        let Some(result) = shutdown
            .bounded(ops::apply_run(ctx, Some(shutdown.flag.clone())))
            .await
        else {
            tracing::warn!(
                "the run under way did not finish within {}s of the signal; exiting without it \
                 (the lease expires by itself; the next run settles an interrupted action)",
                SHUTDOWN_GRACE.as_secs()
            );
            break;
        };
        let elapsed = started.elapsed();
        record(&metrics, &result, elapsed);
        if result.is_ok() {
            health.ok();
        }
        if let Some(path) = &opts.metrics_file {
            if let Err(e) = metrics.write_textfile(path) {
                tracing::warn!("{e}");
            }
        }
        let wait = jittered(opts.interval, &mut rng).saturating_sub(elapsed);
        report_run(ctx, &result, elapsed, wait, &mut last_problems);
        if shutdown.requested() || shutdown.sleep(wait).await {
            break;
        }
    }
    tracing::info!("stopped");
    Ok((Output::default(), Completion::Clean))
}

/// `interval` ±10 %.
fn jittered(interval: Duration, rng: &mut impl Rng) -> Duration {
    interval.mul_f64(rng.random_range(0.9..=1.1))
}

/// Prints what a run did (only when it did something: an idle fleet stays
/// quiet) and logs one line about it.
fn report_run(
    ctx: &Context,
    result: &Result<Leased<Applied>, ExecError>,
    elapsed: Duration,
    next_in: Duration,
    last_problems: &mut Vec<String>,
) {
    let next_in_ms = next_in.as_millis() as u64;
    let run = match result {
        Err(e) => {
            tracing::error!(error = %e, next_in_ms, "run failed; trying again next interval");
            return;
        }
        Ok(run) => run,
    };
    let (out, _) = ops::render_apply(ctx, run);
    match run {
        Leased::Busy { holder, until } => {
            tracing::info!(%holder, %until, next_in_ms, "another controller holds the lease; not acting this time");
        }
        Leased::Ran(a) => {
            if out.stderr != *last_problems {
                for line in &out.stderr {
                    eprintln!("{line}");
                }
                last_problems.clone_from(&out.stderr);
            }
            if !a.report.results.is_empty() {
                print!("{}", out.stdout);
            }
            tracing::info!(
                run_id = %a.report.run_id,
                clusters = a.plan.clusters.len(),
                actions = a.report.results.len(),
                executed = a.report.executed(),
                failed = a.report.failed(),
                duration_ms = elapsed.as_millis() as u64,
                next_in_ms,
                "run finished"
            );
        }
    }
}

/// SIGTERM/SIGINT: the first asks the run under way to stop between two
/// actions and the loop to end; a second exits at once.
struct Shutdown {
    flag: Arc<AtomicBool>,
    rx: tokio::sync::watch::Receiver<bool>,
}

impl Shutdown {
    fn install() -> Result<Shutdown, ExecError> {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| ExecError::Other(format!("cannot listen for {name}: {e}")))
        };
        let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let task_flag = flag.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("{name} received: finishing the action under way, then exiting");
            task_flag.store(true, Ordering::SeqCst);
            let _ = tx.send(true);
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            eprintln!("error: second signal: exiting now (the lease expires by itself; the next run settles an interrupted action)");
            std::process::exit(i32::from(crate::cli::exit::ERROR));
        });
        Ok(Shutdown { flag, rx })
    }

    fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    async fn signalled(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|stop| *stop).await.is_err() {
            // The signal task is gone: no signal can come any more.
            std::future::pending::<()>().await;
        }
    }

    /// Sleeps `d`; `true` when a signal cut the sleep short.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => false,
            _ = self.signalled() => true,
        }
    }

    /// Runs `fut` to completion, unless a signal came and [`SHUTDOWN_GRACE`]
    /// passed since.
    async fn bounded<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::select! {
            v = fut => Some(v),
            _ = async {
                self.signalled().await;
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } => None,
        }
    }
}

/// Readiness: a run completed (acting or finding the lease held) recently.
pub struct Health {
    interval: Duration,
    last_ok: Mutex<Option<Instant>>,
}

impl Health {
    pub fn new(interval: Duration) -> Health {
        Health {
            interval,
            last_ok: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_ok.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ok(&self) {
        *self.lock() = Some(Instant::now());
    }

    pub fn ready(&self) -> bool {
        self.lock()
            .is_some_and(|t| t.elapsed() <= self.interval * READY_INTERVALS)
    }
}

/// `/metrics`, `/healthz`, `/readyz` on their own thread; stopped on drop.
struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const PLAIN: &str = "text/plain; charset=utf-8";

impl MetricsServer {
    fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<MetricsServer, ExecError> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| ExecError::Other(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
        let server = Arc::new(server);
        let bound = server
            .server_addr()
            .to_ip()
            .map_or_else(|| addr.to_string(), |a| a.to_string());
        tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
        let worker = server.clone();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                for request in worker.incoming_requests() {
                    respond(request, &metrics, &health);
                }
            })
            .map_err(|e| ExecError::Other(format!("cannot start the metrics server: {e}")))?;
        Ok(MetricsServer {
            server,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn respond(request: tiny_http::Request, metrics: &Metrics, health: &Health) {
    use tiny_http::Method;
    let path = request.url().split('?').next().unwrap_or_default();
    let readable = matches!(request.method(), Method::Get | Method::Head);
    let (status, content_type, body) = match path {
        _ if !readable => (405, PLAIN, "only GET and HEAD\n".to_string()),
        "/metrics" if wants_openmetrics(&request) => (200, OPENMETRICS, metrics.openmetrics()),
        "/metrics" => (200, PROMETHEUS_TEXT, metrics.prometheus_text()),
        "/healthz" => (200, PLAIN, "ok\n".into()),
        "/readyz" if health.ready() => (200, PLAIN, "ready\n".into()),
        "/readyz" => (
            503,
            PLAIN,
            format!("not ready: no successful run in the last {READY_INTERVALS} intervals\n"),
        ),
        _ => (
            404,
            PLAIN,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    };
    let mut response = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", content_type) {
        response = response.with_header(h);
    }
    let _ = request.respond(response);
}

fn wants_openmetrics(request: &tiny_http::Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let base = Duration::from_secs(60);
        let waits: Vec<Duration> = (0..1000).map(|_| jittered(base, &mut rng)).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= Duration::from_secs(54) && *w <= Duration::from_secs(66)));
        // Not a constant: replicas of a deployment drift apart.
        assert!(waits.iter().any(|w| *w < Duration::from_secs(58)));
        assert!(waits.iter().any(|w| *w > Duration::from_secs(62)));
    }

    #[test]
    fn ready_only_after_a_recent_successful_run() {
        let h = Health::new(Duration::from_millis(20));
        assert!(!h.ready());
        h.ok();
        assert!(h.ready());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!h.ready());
    }
}
