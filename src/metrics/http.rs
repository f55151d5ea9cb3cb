//! `/metrics`, `/healthz` and `/readyz` over HTTP for `apply --watch
//! --metrics-addr`, on a thread of its own so a slow database never delays
//! a scrape. Serves what `Metrics` holds; decides nothing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Metrics;

/// Readiness: a successful run within this many intervals.
const READY_INTERVALS: u32 = 3;

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
pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const PLAIN: &str = "text/plain; charset=utf-8";

impl MetricsServer {
    pub fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
    ) -> Result<MetricsServer, String> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
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
            .map_err(|e| format!("cannot start the metrics server: {e}"))?;
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
    fn ready_only_after_a_recent_successful_run() {
        let h = Health::new(Duration::from_millis(20));
        assert!(!h.ready());
        h.ok();
        assert!(h.ready());
        std::thread::sleep(Duration::from_millis(80));
        assert!(!h.ready());
    }
}
