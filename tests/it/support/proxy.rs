//! PostgreSQL wire-protocol proxy that makes PostgreSQL look like Materialize.
//!
//! Every message is passed through unchanged, except the query text of
//! simple queries ('Q') and Parse messages ('P'): Materialize cluster DDL and
//! `SET`/`SHOW cluster` are rewritten by [`super::ddl`] into calls of the
//! emulator's procedures. The proxy also counts statements, logs query texts
//! and injects the faults a test arms. It runs on its own tokio runtime on a
//! background thread, so tests stay synchronous.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::ddl;

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// Statement counters since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Simple-query ('Q') messages.
    pub queries: u64,
    /// Parse ('P') messages.
    pub parses: u64,
    /// Execute ('E') messages.
    pub executes: u64,
    /// Cluster DDL statements (in Q or P messages).
    pub ddl: u64,
    /// queries + executes: statements the server ran.
    pub statements: u64,
}

pub type Hook = Box<dyn FnOnce(&str) + Send>;

enum FaultKind {
    Fail { sqlstate: String, message: String },
    DropBefore,
    DropAfter,
    Hook(Hook),
}

struct Fault {
    /// Value of `Shared::ddl_seq` of the DDL statement it applies to.
    at: u64,
    kind: FaultKind,
}

#[derive(Default)]
pub struct Shared {
    queries: AtomicU64,
    parses: AtomicU64,
    executes: AtomicU64,
    ddl: AtomicU64,
    /// Every DDL statement ever seen; faults are armed relative to it.
    ddl_seq: AtomicU64,
    log: Mutex<Vec<String>>,
    faults: Mutex<Vec<Fault>>,
    /// Hooks on any statement whose text contains a pattern: (pattern,
    /// matches still to skip, hook).
    statement_hooks: Mutex<Vec<(String, u32, Hook)>>,
    delay: Mutex<Duration>,
}

impl Shared {
    pub fn stats(&self) -> Stats {
        let queries = self.queries.load(Ordering::SeqCst);
        let executes = self.executes.load(Ordering::SeqCst);
        Stats {
            queries,
            parses: self.parses.load(Ordering::SeqCst),
            executes,
            ddl: self.ddl.load(Ordering::SeqCst),
            statements: queries + executes,
        }
    }

    pub fn reset_stats(&self) {
        self.queries.store(0, Ordering::SeqCst);
        self.parses.store(0, Ordering::SeqCst);
        self.executes.store(0, Ordering::SeqCst);
        self.ddl.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }

    pub fn sql_log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn clear_sql_log(&self) {
        self.log.lock().unwrap().clear();
    }

    pub fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }

    fn arm(&self, nth: u32, kind: FaultKind) {
        assert!(nth >= 1, "faults count DDL statements from 1");
        let mut faults = self.faults.lock().unwrap();
        let at = self.ddl_seq.load(Ordering::SeqCst) + u64::from(nth);
        faults.push(Fault { at, kind });
    }

    pub fn fail_ddl(&self, nth: u32, sqlstate: &str, message: &str) {
        let (sqlstate, message) = (sqlstate.to_string(), message.to_string());
        self.arm(nth, FaultKind::Fail { sqlstate, message });
    }

    pub fn drop_connection_before_ddl(&self, nth: u32) {
        self.arm(nth, FaultKind::DropBefore);
    }

    pub fn drop_connection_after_ddl(&self, nth: u32) {
        self.arm(nth, FaultKind::DropAfter);
    }

    pub fn on_ddl(&self, nth: u32, hook: Hook) {
        self.arm(nth, FaultKind::Hook(hook));
    }

    /// Runs `hook` before forwarding the `nth` statement (from now) whose
    /// text contains `pattern`.
    pub fn on_statement(&self, pattern: &str, nth: u32, hook: Hook) {
        assert!(nth >= 1, "statement hooks count from 1");
        self.statement_hooks
            .lock()
            .unwrap()
            .push((pattern.to_string(), nth - 1, hook));
    }

    fn statement_hooks_for(&self, sql: &str) -> Vec<Hook> {
        let mut hooks = self.statement_hooks.lock().unwrap();
        let mut fired = Vec::new();
        let mut keep = Vec::new();
        for (pattern, skip, hook) in hooks.drain(..) {
            if !sql.contains(&pattern) {
                keep.push((pattern, skip, hook));
            } else if skip == 0 {
                fired.push(hook);
            } else {
                keep.push((pattern, skip - 1, hook));
            }
        }
        *hooks = keep;
        fired
    }

    /// Counts one DDL statement and takes the faults armed for it.
    fn next_ddl(&self) -> Vec<FaultKind> {
        let mut faults = self.faults.lock().unwrap();
        let seq = self.ddl_seq.fetch_add(1, Ordering::SeqCst) + 1;
        self.ddl.fetch_add(1, Ordering::SeqCst);
        let (hit, keep): (Vec<Fault>, Vec<Fault>) = faults.drain(..).partition(|f| f.at == seq);
        *faults = keep;
        hit.into_iter().map(|f| f.kind).collect()
    }
}

/// A running proxy; stops (closing all its connections) when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let shared = Arc::new(Shared::default());
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy port");
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mz-emulator-proxy-{}", addr.port()))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).unwrap();
                    tokio::select! {
                        _ = rx => {}
                        _ = accept_loop(listener, upstream, task_shared) => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("spawn proxy thread");
        Proxy {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            // A connection error only ends that connection.
            let _ = handle(client, upstream, shared).await;
        });
    }
}

/// Per-connection state shared by the two relay directions.
#[derive(Default)]
struct Conn {
    /// Discard server messages until ReadyForQuery, then close the connection.
    swallow: AtomicBool,
    /// Set `swallow` at the next Execute (a fault armed on a Parse).
    swallow_at_execute: AtomicBool,
}

async fn handle(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
    client.set_nodelay(true)?;
    let server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let mut cr = BufReader::new(cr);
    let mut cw = BufWriter::new(cw);
    let mut sw = BufWriter::new(sw);

    // Startup: untyped messages (length + code). TLS/GSS requests are refused
    // by the proxy; the StartupMessage goes through as is.
    loop {
        let len = cr.read_i32().await?;
        if !(8..=1 << 20).contains(&len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad startup length",
            ));
        }
        let mut body = vec![0; len as usize - 4];
        cr.read_exact(&mut body).await?;
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        match code {
            SSL_REQUEST | GSSENC_REQUEST => {
                cw.write_all(b"N").await?;
                cw.flush().await?;
            }
            _ => {
                sw.write_i32(len).await?;
                sw.write_all(&body).await?;
                sw.flush().await?;
                if code == CANCEL_REQUEST {
                    return Ok(());
                }
                break;
            }
        }
    }

    let conn = Arc::new(Conn::default());
    let sr = BufReader::with_capacity(64 * 1024, sr);
    tokio::select! {
        r = client_to_server(cr, sw, &shared, &conn) => r,
        r = server_to_client(sr, cw, &conn) => r,
    }
}

async fn read_msg<R: AsyncReadExt + Unpin>(r: &mut R) -> io::Result<Option<(u8, Vec<u8>)>> {
    let ty = match r.read_u8().await {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = r.read_i32().await?;
    if !(4..=1 << 30).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad message length",
        ));
    }
    let mut body = vec![0; len as usize - 4];
    r.read_exact(&mut body).await?;
    Ok(Some((ty, body)))
}

async fn write_msg(w: &mut BufWriter<OwnedWriteHalf>, ty: u8, body: &[u8]) -> io::Result<()> {
    w.write_u8(ty).await?;
    w.write_i32(body.len() as i32 + 4).await?;
    w.write_all(body).await
}

fn cstr(b: &[u8]) -> (String, usize) {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    (String::from_utf8_lossy(&b[..end]).into_owned(), end + 1)
}

/// What to do with one Q or P message.
#[derive(Default)]
struct Plan {
    /// New query text (None: forward the message unchanged).
    sql: Option<String>,
    hooks: Vec<(Hook, String)>,
    drop_before: bool,
    drop_after: bool,
}

fn plan_query(sql: &str, shared: &Shared) -> Plan {
    let mut plan = Plan::default();
    for hook in shared.statement_hooks_for(sql) {
        plan.hooks.push((hook, sql.trim().to_string()));
    }
    let mut pieces: Vec<String> = Vec::new();
    let mut changed = false;
    for piece in ddl::split_statements(sql) {
        let Some(rewrite) = ddl::rewrite_statement(piece) else {
            pieces.push(piece.to_string());
            continue;
        };
        changed = true;
        let mut new = rewrite.sql;
        if rewrite.ddl {
            for fault in shared.next_ddl() {
                match fault {
                    FaultKind::Fail { sqlstate, message } => {
                        new = ddl::raise_sql(&sqlstate, &message);
                    }
                    FaultKind::DropBefore => plan.drop_before = true,
                    FaultKind::DropAfter => plan.drop_after = true,
                    FaultKind::Hook(h) => plan.hooks.push((h, piece.trim().to_string())),
                }
            }
        }
        pieces.push(new);
    }
    if changed {
        plan.sql = Some(pieces.join(";"));
    }
    plan
}

/// Runs the plan's hooks; false when the connection must be closed now.
async fn run_hooks(plan: &mut Plan) -> bool {
    for (hook, stmt) in plan.hooks.drain(..) {
        // Hooks may block (sync postgres clients, killing processes).
        let _ = tokio::task::spawn_blocking(move || hook(&stmt)).await;
    }
    !plan.drop_before
}

async fn client_to_server(
    mut cr: BufReader<OwnedReadHalf>,
    mut sw: BufWriter<OwnedWriteHalf>,
    shared: &Shared,
    conn: &Conn,
) -> io::Result<()> {
    while let Some((ty, body)) = read_msg(&mut cr).await? {
        // One delay per round trip: before each simple query and each Sync.
        if matches!(ty, b'Q' | b'S') {
            let delay = *shared.delay.lock().unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        match ty {
            b'Q' => {
                shared.queries.fetch_add(1, Ordering::SeqCst);
                let (sql, _) = cstr(&body);
                shared.log.lock().unwrap().push(sql.clone());
                let mut plan = plan_query(&sql, shared);
                if !run_hooks(&mut plan).await {
                    return Ok(());
                }
                if plan.drop_after {
                    conn.swallow.store(true, Ordering::SeqCst);
                }
                match plan.sql {
                    Some(new) => {
                        let mut b = new.into_bytes();
                        b.push(0);
                        write_msg(&mut sw, b'Q', &b).await?;
                    }
                    None => write_msg(&mut sw, ty, &body).await?,
                }
            }
            b'P' => {
                shared.parses.fetch_add(1, Ordering::SeqCst);
                let (name, n1) = cstr(&body);
                let (sql, n2) = cstr(&body[n1..]);
                let rest = &body[(n1 + n2).min(body.len())..];
                shared.log.lock().unwrap().push(sql.clone());
                let mut plan = plan_query(&sql, shared);
                if !run_hooks(&mut plan).await {
                    return Ok(());
                }
                if plan.drop_after {
                    conn.swallow_at_execute.store(true, Ordering::SeqCst);
                }
                match plan.sql {
                    Some(new) => {
                        let mut b = Vec::with_capacity(body.len() + new.len());
                        b.extend_from_slice(name.as_bytes());
                        b.push(0);
                        b.extend_from_slice(new.as_bytes());
                        b.push(0);
                        b.extend_from_slice(rest);
                        write_msg(&mut sw, b'P', &b).await?;
                    }
                    None => write_msg(&mut sw, ty, &body).await?,
                }
            }
            b'E' => {
                shared.executes.fetch_add(1, Ordering::SeqCst);
                if conn.swallow_at_execute.swap(false, Ordering::SeqCst) {
                    conn.swallow.store(true, Ordering::SeqCst);
                }
                write_msg(&mut sw, ty, &body).await?;
            }
            _ => write_msg(&mut sw, ty, &body).await?,
        }
        if cr.buffer().is_empty() {
            sw.flush().await?;
        }
    }
    // The client is gone: tell the server, and relay its last words until it closes.
    sw.shutdown().await?;
    std::future::pending::<()>().await;
    Ok(())
}

async fn server_to_client(
    mut sr: BufReader<OwnedReadHalf>,
    mut cw: BufWriter<OwnedWriteHalf>,
    conn: &Conn,
) -> io::Result<()> {
    while let Some((ty, body)) = read_msg(&mut sr).await? {
        if conn.swallow.load(Ordering::SeqCst) {
            if ty == b'Z' {
                // The statement took effect; the client never learns.
                return Ok(());
            }
            continue;
        }
        write_msg(&mut cw, ty, &body).await?;
        if sr.buffer().is_empty() {
            cw.flush().await?;
        }
    }
    cw.flush().await?;
    Ok(())
}
