//! `/metrics`, `/healthz` and `/readyz` over HTTP for `apply --watch
//! --metrics-addr`. Serves what `Metrics` holds; decides nothing.
//!
//! Health must answer whatever another client does (a kubelet that gets no
//! answer restarts the pod), so every connection is served by a task of its
//! own (hyper's HTTP/1 server) on a thread and runtime of its own, away
//! from the apply loop: a client that pipelines requests without reading
//! the answers stalls only its own connection. Each connection has a
//! header-read deadline, a cap on requests and on lifetime, and the number
//! of open connections is capped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::Metrics;

/// Readiness: a successful run within this many intervals.
const READY_INTERVALS: u32 = 3;
/// A connection must send a request's headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// After this many requests a connection is closed (`Connection: close`).
const REQUESTS_PER_CONNECTION: u32 = 100;
/// No connection lives longer than this.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 256;

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
    stop: Option<tokio::sync::oneshot::Sender<()>>,
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
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| format!("--metrics-addr {addr}: cannot listen: {e}"))?;
        let bound = listener
            .local_addr()
            .map_or_else(|_| addr.to_string(), |a| a.to_string());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the metrics server: {e}"))?;
        tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        tracing::error!("the metrics server cannot use its socket");
                        return;
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = serve(listener, metrics, health) => {}
                    }
                });
            })
            .map_err(|e| format!("cannot start the metrics server: {e}"))?;
        Ok(MetricsServer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, health: Arc<Health>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let (metrics, health) = (metrics.clone(), health.clone());
        tokio::spawn(async move {
            let served = Arc::new(AtomicU32::new(0));
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let n = served.fetch_add(1, Ordering::Relaxed) + 1;
                let mut response = respond(&req, &metrics, &health);
                if n >= REQUESTS_PER_CONNECTION {
                    response.headers_mut().insert(
                        hyper::header::CONNECTION,
                        hyper::header::HeaderValue::from_static("close"),
                    );
                }
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

fn respond(req: &Request<Incoming>, metrics: &Metrics, health: &Health) -> Response<Full<Bytes>> {
    let readable = matches!(*req.method(), Method::GET | Method::HEAD);
    let (status, content_type, body) = match req.uri().path() {
        _ if !readable => (405, PLAIN, "only GET and HEAD\n".to_string()),
        "/metrics" if wants_openmetrics(req) => (200, OPENMETRICS, metrics.openmetrics()),
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
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

fn wants_openmetrics(req: &Request<Incoming>) -> bool {
    req.headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .any(|v| {
            v.to_str()
                .is_ok_and(|v| v.contains("application/openmetrics-text"))
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
