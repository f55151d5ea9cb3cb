//! PostgreSQL wire-protocol proxy that makes PostgreSQL look like Materialize.
//!
//! Every message is passed through unchanged, except:
//! - the query text of simple queries ('Q') and Parse messages ('P'):
//!   Materialize cluster DDL, `SET`/`SHOW cluster` and `SHOW` of the modelled
//!   settings are rewritten by [`super::ddl`] into calls of the emulator's
//!   procedures;
//! - statements Materialize refuses (refusals.rs: its transaction rules,
//!   judged against the transaction the server's ReadyForQuery status
//!   reports, and PostgreSQL-only SQL) become Materialize's error: in a
//!   simple query the refused statement is replaced by one that raises it;
//!   in the extended protocol PostgreSQL-only SQL is replaced at its Parse,
//!   and a statement the transaction refuses at its Execute (as injected
//!   errors are, below);
//! - statements that read or write a user relation while the session-cluster
//!   rule is on (reference §8.2): the proxy tracks each session's `cluster`,
//!   asks `mz_emulator.session_cluster_error` on a side connection, and turns
//!   the statement into Materialize's error when the cluster cannot serve it,
//!   or holds it while the cluster's replicas are all still starting (§8.7,
//!   §8.10: Materialize waits for one) until one is online, the client
//!   cancels it, or the client goes away.
//!
//! A read-then-write statement (UPDATE, DELETE, INSERT … SELECT) holds its
//! table's write lock, taken in the proxy, from before it is forwarded to the
//! server's answer (ReadyForQuery), so two of them on one table run one after
//! the other, as in Materialize (reference §8.3); PostgreSQL would run them
//! side by side, each reading without the other's write.
//!
//! Before a statement that reads what a managed resize changes (clusters,
//! replicas, their statuses and hydration, the reconfiguration relation) it
//! lets the emulator's reconfiguration controller catch up on the side
//! connection, as Materialize's controller advances by itself (reference
//! §2.4, §8.1): a reader never sees a lapsed deadline as still in flight.
//!
//! It also counts statements, logs query texts and injects the faults a test
//! arms (issue 13): fail, stall (keep the socket open and never answer), cut
//! the connection before a statement, after it ran but before the client
//! hears of it, or right after its response, delay only matching statements,
//! stall new connections at start-up. A statement is matched when it is
//! executed: at its 'Q' message, or at the 'E' (Execute) of a portal bound to
//! a parsed statement. Errors injected into the extended protocol replace the
//! Execute with one of a portal that does not exist and rewrite the server's
//! error on the way back, so PostgreSQL's own protocol state (skip to Sync,
//! aborted transaction) stays right.
//!
//! It keeps Materialize's statement log (reference §1.11, §8.6): each
//! statement it forwards begins a row (the session's cluster, or
//! `mz_catalog_server` for catalog-only queries; the session's
//! application_name) and the server's answer ends it (`success`, `error`,
//! `canceled`; a connection that ends first: `canceled`). The events are
//! buffered and written in one statement when something may read the log:
//! before a statement through the proxy that names it, and before any use
//! of the emulator's admin connection (mod.rs), so the suite pays one round
//! trip per read, none per statement.
//!
//! It runs on its own tokio runtime on a background thread, so tests stay
//! synchronous.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use super::{ddl, refusals, route};

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// Prefix of the portals that carry injected errors.
const ERROR_PORTAL: &str = "__mz_emulator_error_";

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

/// Which statements a fault applies to: the statement text contains a
/// string (`"INSERT INTO"` converts to this), or matches a regular
/// expression ([`Pattern::regex`]).
#[derive(Debug, Clone)]
pub enum Pattern {
    Contains(String),
    Regex(regex::Regex),
}

impl Pattern {
    /// A regular expression (`regex` crate syntax; `(?i)` for any case).
    pub fn regex(re: &str) -> Pattern {
        Pattern::Regex(regex::Regex::new(re).expect("a valid regular expression"))
    }

    fn matches(&self, sql: &str) -> bool {
        match self {
            Pattern::Contains(s) => sql.contains(s.as_str()),
            Pattern::Regex(re) => re.is_match(sql),
        }
    }
}

impl From<&str> for Pattern {
    fn from(s: &str) -> Pattern {
        Pattern::Contains(s.to_string())
    }
}

impl From<String> for Pattern {
    fn from(s: String) -> Pattern {
        Pattern::Contains(s)
    }
}

/// What a fault rule does to a matching statement.
#[derive(Debug, Clone)]
pub enum Action {
    /// Never answer: the statement is not forwarded, the socket stays open.
    Stall,
    /// Close the connection instead of forwarding the statement.
    CutBefore,
    /// Forward it; close the connection once it has run, before the client
    /// sees its response (the outcome is unknown to the client).
    CutAfterExecution,
    /// Forward it and its response; then close the connection (when the
    /// client next sends anything, so it reads the whole response first).
    CutAfterResponse,
    /// Wait this long before forwarding it.
    Delay(Duration),
    /// Reach the server this late, the client's close (it gave up
    /// meanwhile) later still, as a network that delays both in order: it
    /// runs whatever the client did since (a cancel request sent meanwhile
    /// reached the server first and found nothing to cancel), and its
    /// answer never reaches the client.
    Late(Duration),
    /// Answer with this error instead of running it.
    Fail { sqlstate: String, message: String },
}

struct Rule {
    pattern: Pattern,
    /// Matches still to let through before the rule fires.
    skip: u32,
    /// Firings left (None: every match).
    remaining: Option<u32>,
    action: Action,
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

/// An error to answer with: (SQLSTATE, message, hint).
type ErrorReply = refusals::Refusal;

pub struct Shared {
    queries: AtomicU64,
    parses: AtomicU64,
    executes: AtomicU64,
    ddl: AtomicU64,
    /// Every DDL statement ever seen; DDL faults are armed relative to it.
    ddl_seq: AtomicU64,
    log: Mutex<Vec<String>>,
    faults: Mutex<Vec<Fault>>,
    /// Hooks on any statement whose text contains a pattern: (pattern,
    /// matches still to skip, hook).
    statement_hooks: Mutex<Vec<(String, u32, Hook)>>,
    rules: Mutex<Vec<Rule>>,
    delay: Mutex<Duration>,
    /// New connections still to stall at start-up.
    startup_stalls: AtomicU32,
    startup_closes: AtomicU32,
    /// Reference §8.2: statements on user relations need a usable session cluster.
    session_cluster_rule: AtomicBool,
    /// Server process ids whose cancel request came while the proxy may
    /// hold their statement (a held statement never reached the server).
    cancels: Mutex<HashSet<i32>>,
    markers: AtomicU64,
    /// Statements [`Action::Late`] held that have reached the server.
    lates_arrived: AtomicU64,
    /// Each user table's write lock (reference §8.3), by table name.
    write_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Statement-log events not yet written (§1.11).
    pub statement_log: StatementLog,
    side_config: tokio_postgres::Config,
    side: tokio::sync::OnceCell<tokio_postgres::Client>,
}

impl Shared {
    fn new(side_config: tokio_postgres::Config) -> Shared {
        Shared {
            queries: AtomicU64::new(0),
            parses: AtomicU64::new(0),
            executes: AtomicU64::new(0),
            ddl: AtomicU64::new(0),
            ddl_seq: AtomicU64::new(0),
            log: Mutex::default(),
            faults: Mutex::default(),
            statement_hooks: Mutex::default(),
            rules: Mutex::default(),
            delay: Mutex::default(),
            startup_stalls: AtomicU32::new(0),
            startup_closes: AtomicU32::new(0),
            session_cluster_rule: AtomicBool::new(false),
            cancels: Mutex::default(),
            markers: AtomicU64::new(0),
            lates_arrived: AtomicU64::new(0),
            write_locks: Mutex::default(),
            statement_log: StatementLog::default(),
            side_config,
            side: tokio::sync::OnceCell::new(),
        }
    }

    /// How many statements [`Action::Late`] held have reached the server.
    pub fn lates_arrived(&self) -> u64 {
        self.lates_arrived.load(Ordering::SeqCst)
    }

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

    pub fn set_session_cluster_rule(&self, on: bool) {
        self.session_cluster_rule.store(on, Ordering::SeqCst);
    }

    pub fn session_cluster_rule(&self) -> bool {
        self.session_cluster_rule.load(Ordering::SeqCst)
    }

    pub fn stall_startups(&self, n: u32) {
        self.startup_stalls.fetch_add(n, Ordering::SeqCst);
    }

    fn take_startup_stall(&self) -> bool {
        self.startup_stalls
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub fn close_startups(&self, n: u32) {
        self.startup_closes.fetch_add(n, Ordering::SeqCst);
    }

    fn take_startup_close(&self) -> bool {
        self.startup_closes
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Arms `action` for the `nth` statement from now matching `pattern`,
    /// then `times - 1` further matches (`times` None: every match from the
    /// `nth` on).
    pub fn add_rule(&self, pattern: Pattern, nth: u32, times: Option<u32>, action: Action) {
        assert!(nth >= 1, "statements are counted from 1");
        self.rules.lock().unwrap().push(Rule {
            pattern,
            skip: nth - 1,
            remaining: times,
            action,
        });
    }

    pub fn clear_rules(&self) {
        self.rules.lock().unwrap().clear();
    }

    /// The actions of the rules a statement fires (counting it for the others).
    fn take_actions(&self, sql: &str) -> Vec<Action> {
        let mut rules = self.rules.lock().unwrap();
        let mut fired = Vec::new();
        rules.retain_mut(|rule| {
            if !rule.pattern.matches(sql) {
                return true;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                return true;
            }
            fired.push(rule.action.clone());
            match &mut rule.remaining {
                None => true,
                Some(n) => {
                    *n -= 1;
                    *n > 0
                }
            }
        });
        fired
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

    /// Drops the statement hooks that have not run yet.
    pub fn clear_statement_hooks(&self) {
        self.statement_hooks.lock().unwrap().clear();
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

    /// The side connection (superuser, the emulator's database).
    async fn side(&self) -> Option<&tokio_postgres::Client> {
        self.side
            .get_or_try_init(|| async {
                let (client, connection) = self.side_config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                Ok::<_, tokio_postgres::Error>(client)
            })
            .await
            .ok()
    }

    /// Lets the emulator's reconfiguration controller catch up before a
    /// statement that reads what a resize changes is forwarded: Materialize's
    /// controller runs by itself, so such a reader never sees a deadline that
    /// has passed (or a target that is ready) as still in flight. The tick
    /// commits on the side connection first, so the statement sees it.
    async fn settle_reconfigurations(&self) {
        if let Some(side) = self.side().await {
            let _ = side
                .batch_execute("SELECT mz_emulator.tick_reconfigurations_for_reader()")
                .await;
        }
    }

    /// Materialize's error for a statement naming `refs` on a session whose
    /// cluster is `cluster` (None: it may run).
    async fn session_cluster_error(
        &self,
        cluster: &str,
        role: &str,
        refs: &[String],
    ) -> Option<ErrorReply> {
        let side = self.side().await?;
        let rows = side
            .query(
                "SELECT code, message, hint FROM mz_emulator.session_cluster_error($1, $2, $3)",
                &[&cluster, &role, &refs],
            )
            .await
            .ok()?;
        rows.first().map(|r| (r.get(0), r.get(1), r.get(2)))
    }
}

/// Statement-log events the proxy saw and has not written yet.
#[derive(Default)]
pub struct StatementLog {
    events: Mutex<Vec<(Instant, LogEvent)>>,
    seq: AtomicU64,
    /// Held from taking events to having written them: writes go in the
    /// order of the events (an end written before its begin would leave
    /// the statement in flight for ever, which is demand).
    pub writer: tokio::sync::Mutex<()>,
}

enum LogEvent {
    Begin {
        id: uuid::Uuid,
        seq: u64,
        cluster: String,
        app: String,
    },
    End {
        id: uuid::Uuid,
        status: &'static str,
        message: Option<String>,
    },
    /// Begun, then never executed (after an error earlier in its batch).
    Forget { id: uuid::Uuid },
}

impl Shared {
    /// Logs the begin of a statement of `session`; its id, to end it with.
    fn log_begin(&self, session: &Session, sql: &str) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let cluster = if route::runs_on_catalog_server(sql) {
            "mz_catalog_server".to_string()
        } else {
            session.cluster.clone()
        };
        let seq = self.statement_log.seq.fetch_add(1, Ordering::SeqCst);
        let app = session.application_name.clone();
        let event = LogEvent::Begin {
            id,
            seq,
            cluster,
            app,
        };
        self.push_log(event);
        id
    }

    fn push_log(&self, event: LogEvent) {
        let mut events = self.statement_log.events.lock().unwrap();
        events.push((Instant::now(), event));
    }

    /// The buffered events as the argument of `mz_emulator.log_statements`
    /// (None: nothing to write), each dated by its age now. The caller
    /// holds `statement_log.writer` until they are written.
    pub fn take_statement_log(&self) -> Option<String> {
        let events = std::mem::take(&mut *self.statement_log.events.lock().unwrap());
        if events.is_empty() {
            return None;
        }
        let now = Instant::now();
        let rows: Vec<serde_json::Value> = events
            .into_iter()
            .map(|(at, e)| {
                let age = now.duration_since(at).as_secs_f64();
                match e {
                    LogEvent::Begin {
                        id,
                        seq,
                        cluster,
                        app,
                    } => serde_json::json!({"k": "b", "id": id, "seq": seq, "cluster": cluster,
                                            "app": app, "age": age}),
                    LogEvent::End {
                        id,
                        status,
                        message,
                    } => serde_json::json!({"k": "e", "id": id, "age": age, "status": status,
                                            "message": message}),
                    LogEvent::Forget { id } => serde_json::json!({"k": "f", "id": id}),
                }
            })
            .collect();
        Some(serde_json::Value::Array(rows).to_string())
    }

    /// Writes the buffered events on the side connection (before a
    /// statement that may read the log is forwarded).
    async fn write_statement_log(&self) {
        let _writer = self.statement_log.writer.lock().await;
        let Some(events) = self.take_statement_log() else {
            return;
        };
        if let Some(side) = self.side().await {
            let _ = side
                .execute(
                    "SELECT mz_emulator.log_statements($1::text::jsonb)",
                    &[&events],
                )
                .await;
        }
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
    /// A proxy in front of `upstream`; `side` reaches the emulator's database
    /// as a superuser (for the session-cluster check).
    pub fn start(upstream: SocketAddr, side: tokio_postgres::Config) -> Proxy {
        let shared = Arc::new(Shared::new(side));
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

/// A TCP listener that accepts connections and never says a word: a server
/// that hangs in the connection's start-up (issue 13 §2). Dropping it closes
/// every connection it accepted.
pub struct HangingListener {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HangingListener {
    pub fn start() -> HangingListener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind hanging listener");
        let addr = listener.local_addr().expect("listener address");
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("hanging-listener-{}", addr.port()))
            .spawn(move || {
                let mut held = Vec::new();
                for conn in listener.incoming() {
                    if thread_stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        held.push(conn);
                    }
                }
            })
            .expect("spawn hanging listener");
        HangingListener {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// `postgres://u:p@127.0.0.1:port/db` for this listener.
    pub fn url(&self) -> String {
        format!(
            "postgres://user:password@127.0.0.1:{}/db?sslmode=disable",
            self.addr.port()
        )
    }
}

impl Drop for HangingListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
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
struct Conn {
    /// Discard server messages until ReadyForQuery, then close the connection.
    swallow: AtomicBool,
    /// A statement [`Action::Late`] held went on: what the client sent
    /// behind it was on its way with it.
    late: AtomicBool,
    /// Set `swallow` at the next Execute (a fault armed on a Parse).
    swallow_at_execute: AtomicBool,
    /// Forward server messages through the next ReadyForQuery, then close
    /// the connection when the client sends its next message.
    close_after_ready: AtomicBool,
    /// The response was delivered: close at the client's next message.
    cut_at_next_message: AtomicBool,
    /// Transaction status of the last ReadyForQuery (b'I', b'T', b'E').
    txn_status: AtomicU8,
    /// ReadyForQuery messages saying no transaction is open: each ends
    /// whatever the session's transaction had done.
    idle_readies: AtomicU64,
    /// Injected errors: (marker in the server's error, reply).
    error_rewrites: Mutex<Vec<(String, ErrorReply)>>,
    /// The server side told the client side to cut the connection.
    sever: tokio::sync::Notify,
    /// The server session's process id (BackendKeyData; 0 before it).
    backend_pid: AtomicI32,
    /// Statements forwarded and not yet answered, in order, with a `None`
    /// at the end of each batch (a simple query, or a Sync).
    log_queue: Mutex<VecDeque<Option<uuid::Uuid>>>,
    /// Batches sent to the server, each answered by one ReadyForQuery: the
    /// start-up, then each simple query and each Sync.
    batches_sent: AtomicU64,
    /// ReadyForQuery messages the server sent: the batches answered.
    batches_answered: AtomicU64,
    /// Write locks held: (the batch whose answer releases it, table, guard).
    write_locks: Mutex<Vec<(u64, String, tokio::sync::OwnedMutexGuard<()>)>>,
}

impl Conn {
    /// The server answered the oldest statement of the current batch.
    fn end_statement(&self, shared: &Shared, status: &'static str, message: Option<String>) {
        let mut queue = self.log_queue.lock().unwrap();
        if let Some(Some(id)) = queue.front().copied() {
            queue.pop_front();
            shared.push_log(LogEvent::End {
                id,
                status,
                message,
            });
        }
    }

    /// ReadyForQuery: statements of the batch still unanswered never ran
    /// (the server skipped them after an error).
    fn end_batch(&self, shared: &Shared) {
        let mut queue = self.log_queue.lock().unwrap();
        while let Some(Some(id)) = queue.pop_front() {
            shared.push_log(LogEvent::Forget { id });
        }
    }

    /// The connection ended with statements unanswered: canceled, as
    /// Materialize cancels the statements of a session that goes away.
    fn end_all(&self, shared: &Shared) {
        let mut queue = self.log_queue.lock().unwrap();
        for id in queue.drain(..).flatten() {
            shared.push_log(LogEvent::End {
                id,
                status: "canceled",
                message: None,
            });
        }
    }
}

impl Default for Conn {
    fn default() -> Conn {
        Conn {
            swallow: AtomicBool::new(false),
            late: AtomicBool::new(false),
            swallow_at_execute: AtomicBool::new(false),
            close_after_ready: AtomicBool::new(false),
            cut_at_next_message: AtomicBool::new(false),
            txn_status: AtomicU8::new(b'I'),
            idle_readies: AtomicU64::new(0),
            error_rewrites: Mutex::default(),
            sever: tokio::sync::Notify::new(),
            backend_pid: AtomicI32::new(0),
            log_queue: Mutex::default(),
            batches_sent: AtomicU64::new(1),
            batches_answered: AtomicU64::new(0),
            write_locks: Mutex::default(),
        }
    }
}

/// What the client side of a connection knows about its session.
struct Session {
    /// The startup user (the role privileges are checked for).
    user: String,
    /// The session's cluster (`SET cluster`), reference §8.2.
    cluster: String,
    /// The startup's `application_name` (the statement log records it).
    application_name: String,
    /// Prepared statements: name -> (text, rewritten by the emulator).
    statements: HashMap<String, (String, bool)>,
    /// Portals: name -> statement name.
    portals: HashMap<String, String>,
    /// The transaction as Materialize would see it (refusals.rs).
    txn: refusals::Txn,
    /// `Conn::idle_readies` when `txn` was last brought up to date.
    idle_seen: u64,
}

impl Session {
    /// Brings the transaction up to date with what the server said last:
    /// a transaction that ended is forgotten, an open block is a block.
    /// Inside one query of several statements the rules follow BEGIN and
    /// COMMIT themselves (`refusals::Txn::check`).
    fn sync_txn(&mut self, conn: &Conn) {
        let idle = conn.idle_readies.load(Ordering::SeqCst);
        if idle != self.idle_seen {
            self.idle_seen = idle;
            self.txn.reset();
        }
        match conn.txn_status.load(Ordering::SeqCst) {
            b'T' => self.txn.in_block(),
            b'E' => self.txn.failed(),
            _ => {}
        }
    }
}

async fn handle(client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
    client.set_nodelay(true)?;
    if shared.take_startup_stall() {
        let (cr, _cw) = client.into_split();
        return drain(&mut BufReader::new(cr)).await;
    }
    if shared.take_startup_close() {
        // Closed (EOF) before the start-up is answered: a balancer
        // restarting, a proxy giving up on its upstream.
        return Ok(());
    }
    let server = TcpStream::connect(upstream).await?;
    server.set_nodelay(true)?;
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let mut cr = BufReader::new(cr);
    let mut cw = BufWriter::new(cw);
    let mut sw = BufWriter::new(sw);

    // Startup: untyped messages (length + code). TLS/GSS requests are refused
    // by the proxy; the StartupMessage goes through, with Materialize's
    // `options=--cluster=x` turned into the emulator's setting.
    let (user, cluster, application_name);
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
            CANCEL_REQUEST => {
                if let [_, _, _, _, a, b, c, d, ..] = body[..] {
                    shared
                        .cancels
                        .lock()
                        .unwrap()
                        .insert(i32::from_be_bytes([a, b, c, d]));
                }
                sw.write_i32(len).await?;
                sw.write_all(&body).await?;
                sw.flush().await?;
                return Ok(());
            }
            _ => {
                let startup = Startup::parse(&body);
                let body = startup.encode();
                sw.write_i32(body.len() as i32 + 4).await?;
                sw.write_all(&body).await?;
                sw.flush().await?;
                user = startup.param("user").unwrap_or_default().to_string();
                application_name = startup
                    .param("application_name")
                    .unwrap_or_default()
                    .to_string();
                cluster = startup.cluster.unwrap_or_else(|| "quickstart".to_string());
                break;
            }
        }
    }

    let conn = Arc::new(Conn::default());
    let session = Session {
        user,
        cluster,
        application_name,
        statements: HashMap::new(),
        portals: HashMap::new(),
        txn: refusals::Txn::default(),
        idle_seen: 0,
    };
    let sr = BufReader::with_capacity(64 * 1024, sr);
    let r = tokio::select! {
        r = client_to_server(cr, sw, &shared, &conn, session) => r,
        r = server_to_client(sr, cw, &shared, &conn) => r,
    };
    conn.end_all(&shared);
    r
}

/// A StartupMessage: protocol version and parameters.
struct Startup {
    version: [u8; 4],
    params: Vec<(String, String)>,
    /// The session cluster given as `options=--cluster=x` (or `-c cluster=x`).
    cluster: Option<String>,
}

impl Startup {
    fn parse(body: &[u8]) -> Startup {
        let mut version = [0u8; 4];
        version.copy_from_slice(&body[..4]);
        let mut params = Vec::new();
        let mut b = &body[4..];
        while !b.is_empty() && b[0] != 0 {
            let (k, n1) = cstr(b);
            let (v, n2) = cstr(&b[n1.min(b.len())..]);
            params.push((k, v));
            b = &b[(n1 + n2).min(b.len())..];
        }
        let mut startup = Startup {
            version,
            params,
            cluster: None,
        };
        startup.take_cluster_option();
        startup
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Materialize reads `--cluster=x` / `-c cluster=x` from `options`;
    /// PostgreSQL would refuse it, so it becomes `-c mz_emulator.cluster=x`.
    fn take_cluster_option(&mut self) {
        let Some((_, options)) = self.params.iter_mut().find(|(k, _)| k == "options") else {
            return;
        };
        let mut words: Vec<String> = options.split_whitespace().map(str::to_string).collect();
        let mut i = 0;
        while i < words.len() {
            let w = words[i].clone();
            let value = if let Some(v) = w.strip_prefix("--cluster=") {
                Some((v.to_string(), 1))
            } else if let Some(v) = w.strip_prefix("-ccluster=") {
                Some((v.to_string(), 1))
            } else if w == "-c" {
                words
                    .get(i + 1)
                    .and_then(|n| n.strip_prefix("cluster="))
                    .map(|v| (v.to_string(), 2))
            } else {
                None
            };
            match value {
                Some((v, n)) => {
                    words.splice(
                        i..i + n,
                        ["-c".to_string(), format!("mz_emulator.cluster={v}")],
                    );
                    self.cluster = Some(v);
                    i += 2;
                }
                None => i += 1,
            }
        }
        *options = words.join(" ");
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = self.version.to_vec();
        for (k, v) in &self.params {
            b.extend_from_slice(k.as_bytes());
            b.push(0);
            b.extend_from_slice(v.as_bytes());
            b.push(0);
        }
        b.push(0);
        b
    }
}

/// Never answers: reads (and drops) whatever the client sends until it goes.
async fn drain(cr: &mut BufReader<OwnedReadHalf>) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    while cr.read(&mut buf).await? > 0 {}
    Ok(())
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
    /// Statement pieces as sent to the server, and whether the emulator
    /// rewrote each (a rewritten piece is cluster DDL or a session command).
    pieces: Vec<(String, bool)>,
    hooks: Vec<(Hook, String)>,
    drop_before: bool,
    drop_after: bool,
    /// Pieces replaced by Materialize's refusal (refusals.rs).
    refused: HashSet<usize>,
    /// Whether the transaction rules judged the pieces (a simple query);
    /// a Parse is judged when it is executed.
    judged: bool,
}

impl Plan {
    fn rewritten(&self) -> bool {
        self.pieces.iter().any(|(_, r)| *r)
    }

    fn sql(&self) -> String {
        let pieces: Vec<&str> = self.pieces.iter().map(|(p, _)| p.as_str()).collect();
        pieces.join(";")
    }
}

/// Plans a simple query (`txn`: the session's transaction, which its
/// statements are judged against in order) or a Parse (`None`: judged at
/// Execute). What Materialize refuses becomes its error (refusals.rs): a
/// syntax error fails the whole query before anything runs, as Materialize
/// parses all of it first; any other refusal fails its statement, and
/// PostgreSQL rolls back what the statements before it did in the same
/// transaction.
fn plan_query(sql: &str, shared: &Shared, mut txn: Option<&mut refusals::Txn>) -> Plan {
    let mut plan = Plan {
        judged: txn.is_some(),
        ..Plan::default()
    };
    for hook in shared.statement_hooks_for(sql) {
        plan.hooks.push((hook, sql.trim().to_string()));
    }
    let pieces = ddl::split_statements(sql);
    let several = pieces.iter().filter(|p| !p.trim().is_empty()).count() > 1;
    if let Some(txn) = txn.as_deref_mut() {
        txn.implicit(several);
    }
    let syntax_error = pieces
        .iter()
        .filter_map(|p| refusals::unsupported(p))
        .find(|(code, _, _)| code == refusals::SYNTAX_ERROR);
    if let Some((code, message, hint)) = syntax_error {
        plan.pieces.push((
            ddl::raise_sql_with_hint(&code, &message, hint.as_deref()),
            true,
        ));
        plan.refused.insert(0);
        return plan;
    }
    for (i, piece) in pieces.into_iter().enumerate() {
        let refusal = refusals::unsupported(piece)
            .or_else(|| txn.as_deref_mut().and_then(|t| t.check(piece)));
        if let Some((code, message, hint)) = refusal {
            let raise = ddl::raise_sql_with_hint(&code, &message, hint.as_deref());
            plan.pieces.push((raise, true));
            plan.refused.insert(i);
            continue;
        }
        let Some(rewrite) = ddl::rewrite_statement(piece) else {
            plan.pieces.push((piece.to_string(), false));
            continue;
        };
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
        plan.pieces.push((new, true));
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

/// The verdict of `mz_emulator.session_cluster_error` on a cluster whose
/// replicas are all still starting: hold the statement.
const HELD: &str = "held";

/// How often a held statement asks again whether its cluster can serve.
const HOLD_POLL: Duration = Duration::from_millis(50);

/// How long the emulator holds a statement before it gives up with an
/// error of its own. Materialize holds it for as long as it takes; this cap
/// only keeps a test that forgot to bring a replica online from hanging the
/// suite (clusterctl's own statements time out on the client well before).
const MAX_HOLD: Duration = Duration::from_secs(120);

/// The client went away while its statement was held.
struct ClientGone;

/// The error the session-cluster rule raises for `sql` on this session.
/// While the cluster's replicas are all starting, the statement is held, as
/// Materialize holds it, until one is online; a cancel request for the
/// session ends the hold with Materialize's cancel error, and a client that
/// closes the connection (a client-side timeout) ends it for good.
async fn session_cluster_check(
    shared: &Shared,
    session: &Session,
    sql: &str,
    conn: &Conn,
    client: &mut OwnedReadHalf,
    watch_close: bool,
) -> Result<Option<ErrorReply>, ClientGone> {
    if !shared.session_cluster_rule() {
        return Ok(None);
    }
    let Some(refs) = route::relation_refs(sql) else {
        return Ok(None);
    };
    let held_since = Instant::now();
    let verdict = async {
        loop {
            let verdict = shared
                .session_cluster_error(&session.cluster, &session.user, &refs)
                .await;
            if !matches!(&verdict, Some((code, _, _)) if code == HELD) {
                return verdict;
            }
            if held_since.elapsed() >= MAX_HOLD {
                let message = format!(
                    "emulator: held {}s on cluster {} whose replicas never came online \
                     (does the test bring them online?)",
                    MAX_HOLD.as_secs(),
                    session.cluster
                );
                return Some(("XX000".to_string(), message, None));
            }
            tokio::time::sleep(HOLD_POLL).await;
        }
    };
    Ok(
        wait_as_statement(shared, conn, client, verdict, watch_close)
            .await?
            .unwrap_or_else(Some),
    )
}

/// A statement arrives: a cancel request for the session sent before it was
/// for an earlier statement (the server answered that one), not for this.
fn forget_cancels(shared: &Shared, conn: &Conn) {
    let pid = conn.backend_pid.load(Ordering::SeqCst);
    shared.cancels.lock().unwrap().remove(&pid);
}

/// Waits for `done` on behalf of a statement not yet forwarded, as
/// Materialize makes the statement wait: a cancel request for the session
/// since the statement arrived ends the wait with Materialize's cancel
/// error (`Err`), and a client that closes the connection (a client-side
/// timeout) ends it for good.
async fn wait_as_statement<T>(
    shared: &Shared,
    conn: &Conn,
    client: &mut OwnedReadHalf,
    done: impl std::future::Future<Output = T>,
    mut watch_close: bool,
) -> Result<Result<T, ErrorReply>, ClientGone> {
    let pid = conn.backend_pid.load(Ordering::SeqCst);
    tokio::pin!(done);
    // A client that sends nothing more while it waits: its end of file says
    // it is gone (unless the statement came late: its close is later still).
    // One that sent more already is only watched for cancels.
    loop {
        let mut byte = [0u8; 1];
        tokio::select! {
            biased;
            value = &mut done => return Ok(Ok(value)),
            r = client.peek(&mut byte), if watch_close => match r {
                Ok(0) | Err(_) => return Err(ClientGone),
                Ok(_) => watch_close = false,
            },
            () = tokio::time::sleep(HOLD_POLL) => {}
        }
        if shared.cancels.lock().unwrap().remove(&pid) {
            let message = "canceling statement due to user request".to_string();
            return Ok(Err(("57014".to_string(), message, None)));
        }
    }
}

/// Takes the write lock of the table `sql` reads then writes, if it does
/// (reference §8.3), for the connection's next batch; its ReadyForQuery
/// releases it (`server_to_client`). A lock the connection holds already
/// for a batch still in flight is kept until this one's answer. What was
/// sent before is flushed first, so the answers that release the locks it
/// waits for can come.
async fn take_write_lock(
    shared: &Shared,
    conn: &Conn,
    sql: &str,
    server: &mut BufWriter<OwnedWriteHalf>,
    client: &mut OwnedReadHalf,
    watch_close: bool,
) -> io::Result<Result<Option<ErrorReply>, ClientGone>> {
    let Some(table) = route::read_then_write_target(sql) else {
        return Ok(Ok(None));
    };
    server.flush().await?;
    let batch = conn.batches_sent.load(Ordering::SeqCst) + 1;
    let lock = {
        let mut held = conn.write_locks.lock().unwrap();
        if let Some(entry) = held.iter_mut().find(|(_, t, _)| *t == table) {
            entry.0 = batch;
            return Ok(Ok(None));
        }
        let mut locks = shared.write_locks.lock().unwrap();
        locks.entry(table.clone()).or_default().clone()
    };
    // As for a held statement, a cap keeps a test that never lets go of
    // the lock from hanging the suite.
    let locked = tokio::time::timeout(MAX_HOLD, lock.lock_owned());
    Ok(
        match wait_as_statement(shared, conn, client, locked, watch_close).await {
            Err(gone) => Err(gone),
            Ok(Ok(Ok(guard))) => {
                conn.write_locks.lock().unwrap().push((batch, table, guard));
                Ok(None)
            }
            Ok(Ok(Err(_))) => {
                let message = format!(
                    "emulator: waited {}s for the write lock of table {table} \
                 (does the test keep a writer in flight?)",
                    MAX_HOLD.as_secs()
                );
                Ok(Some(("XX000".to_string(), message, None)))
            }
            Ok(Err(canceled)) => Ok(Some(canceled)),
        },
    )
}

/// Follows `SET cluster` / `RESET cluster` in the pieces of a simple query
/// or a Parse. Materialize refuses them once the transaction has done
/// something (refusals.rs): a refused piece changes nothing, and a Parse is
/// refused against the transaction as it stands.
fn track_session_cluster(plan: &mut Plan, original: &str, session: &mut Session) {
    let originals = ddl::split_statements(original);
    for (i, ((piece, _), original)) in plan.pieces.iter_mut().zip(originals).enumerate() {
        let Some(change) = ddl::session_cluster_change(original) else {
            continue;
        };
        if plan.refused.contains(&i) {
            continue;
        }
        if !plan.judged && session.txn.refuses_set_cluster() {
            let (code, message, _) = refusals::set_cluster_in_transaction();
            *piece = ddl::raise_sql(&code, &message);
            continue;
        }
        session.cluster = change.unwrap_or_else(|| "quickstart".to_string());
    }
}

/// Whether a statement waiting (for a replica, a write lock) gives up when
/// its client closes: not one [`Action::Late`] held, nor one the client
/// sent behind it (the network delivers them together, before the close).
/// The statement's own late hold sets `conn.late` as it fires
/// ([`apply_actions`]), before it waits.
fn watch_close(conn: &Conn) -> bool {
    !conn.late.load(Ordering::SeqCst)
}

/// What the fired rules ask for, applied around forwarding one statement.
#[derive(Default)]
struct Effects {
    stall: bool,
    /// [`Action::Late`]: the client's close is not seen before it runs.
    late: bool,
    cut_before: bool,
    cut_after_execution: bool,
    cut_after_response: bool,
    fail: Option<ErrorReply>,
}

async fn apply_actions(shared: &Shared, conn: &Conn, actions: Vec<Action>) -> Effects {
    let mut fx = Effects::default();
    for action in actions {
        match action {
            Action::Stall => fx.stall = true,
            Action::CutBefore => fx.cut_before = true,
            Action::CutAfterExecution => fx.cut_after_execution = true,
            Action::CutAfterResponse => fx.cut_after_response = true,
            Action::Delay(d) => tokio::time::sleep(d).await,
            Action::Late(d) => {
                tokio::time::sleep(d).await;
                // It arrives now: a cancel sent meanwhile was for nothing.
                forget_cancels(shared, conn);
                fx.late = true;
                conn.late.store(true, Ordering::SeqCst);
                shared.lates_arrived.fetch_add(1, Ordering::SeqCst);
            }
            Action::Fail { sqlstate, message } => fx.fail = Some((sqlstate, message, None)),
        }
    }
    fx
}

async fn client_to_server(
    mut cr: BufReader<OwnedReadHalf>,
    mut sw: BufWriter<OwnedWriteHalf>,
    shared: &Shared,
    conn: &Conn,
    mut session: Session,
) -> io::Result<()> {
    loop {
        let msg = tokio::select! {
            msg = read_msg(&mut cr) => msg?,
            () = conn.sever.notified() => {
                // End the server session; read (and drop) what the client
                // still sends until it closes, so the close is a clean FIN.
                sw.shutdown().await?;
                return drain(&mut cr).await;
            }
        };
        let Some((ty, body)) = msg else { break };
        if conn.cut_at_next_message.load(Ordering::SeqCst) {
            sw.shutdown().await?;
            return Ok(());
        }
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
                forget_cancels(shared, conn);
                let (sql, _) = cstr(&body);
                shared.log.lock().unwrap().push(sql.clone());
                let mut fx = apply_actions(shared, conn, shared.take_actions(&sql)).await;
                if fx.stall {
                    return drain(&mut cr).await;
                }
                if fx.cut_before {
                    return Ok(());
                }
                session.sync_txn(conn);
                let mut plan = plan_query(&sql, shared, Some(&mut session.txn));
                if !run_hooks(&mut plan).await {
                    return Ok(());
                }
                track_session_cluster(&mut plan, &sql, &mut session);
                if fx.fail.is_none()
                    && plan.pieces.iter().any(|(piece, rewritten)| {
                        !rewritten && route::reads_reconfiguration_state(piece)
                    })
                {
                    shared.settle_reconfigurations().await;
                }
                for (piece, rewritten) in plan.pieces.iter_mut() {
                    if *rewritten {
                        continue;
                    }
                    let Ok(verdict) = session_cluster_check(
                        shared,
                        &session,
                        piece,
                        conn,
                        cr.get_mut(),
                        watch_close(conn),
                    )
                    .await
                    else {
                        return Ok(());
                    };
                    if let Some((code, message, hint)) = verdict {
                        *piece = ddl::raise_sql_with_hint(&code, &message, hint.as_deref());
                        *rewritten = true;
                    }
                }
                let alone: Vec<_> = plan
                    .pieces
                    .iter()
                    .filter(|(piece, _)| !piece.trim().is_empty())
                    .collect();
                if let ([(piece, false)], None) = (&alone[..], &fx.fail) {
                    let Ok(verdict) = take_write_lock(
                        shared,
                        conn,
                        piece,
                        &mut sw,
                        cr.get_mut(),
                        watch_close(conn),
                    )
                    .await?
                    else {
                        return Ok(());
                    };
                    fx.fail = verdict;
                }
                if plan.drop_after || fx.cut_after_execution || fx.late {
                    conn.swallow.store(true, Ordering::SeqCst);
                }
                if fx.cut_after_response {
                    conn.close_after_ready.store(true, Ordering::SeqCst);
                }
                log_batch(shared, conn, &session, ddl::split_statements(&sql)).await;
                let out = match fx.fail {
                    Some((code, message, _)) => ddl::raise_sql(&code, &message),
                    None if plan.rewritten() => plan.sql(),
                    None => sql,
                };
                let mut b = out.into_bytes();
                b.push(0);
                conn.batches_sent.fetch_add(1, Ordering::SeqCst);
                write_msg(&mut sw, b'Q', &b).await?;
            }
            b'P' => {
                shared.parses.fetch_add(1, Ordering::SeqCst);
                let (name, n1) = cstr(&body);
                let (sql, n2) = cstr(&body[n1..]);
                let rest = &body[(n1 + n2).min(body.len())..];
                shared.log.lock().unwrap().push(sql.clone());
                session.sync_txn(conn);
                let mut plan = plan_query(&sql, shared, None);
                if !run_hooks(&mut plan).await {
                    return Ok(());
                }
                track_session_cluster(&mut plan, &sql, &mut session);
                if plan.drop_after {
                    conn.swallow_at_execute.store(true, Ordering::SeqCst);
                }
                session
                    .statements
                    .insert(name.clone(), (sql.clone(), plan.rewritten()));
                if plan.rewritten() {
                    let new = plan.sql();
                    let mut b = Vec::with_capacity(body.len() + new.len());
                    b.extend_from_slice(name.as_bytes());
                    b.push(0);
                    b.extend_from_slice(new.as_bytes());
                    b.push(0);
                    b.extend_from_slice(rest);
                    write_msg(&mut sw, b'P', &b).await?;
                } else {
                    write_msg(&mut sw, ty, &body).await?;
                }
            }
            b'B' => {
                let (portal, n1) = cstr(&body);
                let (statement, _) = cstr(&body[n1.min(body.len())..]);
                session.portals.insert(portal, statement);
                write_msg(&mut sw, ty, &body).await?;
            }
            b'E' => {
                shared.executes.fetch_add(1, Ordering::SeqCst);
                forget_cancels(shared, conn);
                if conn.swallow_at_execute.swap(false, Ordering::SeqCst) {
                    conn.swallow.store(true, Ordering::SeqCst);
                }
                let (portal, _) = cstr(&body);
                let statement = session
                    .portals
                    .get(&portal)
                    .and_then(|s| session.statements.get(s))
                    .cloned();
                let mut fx = Effects::default();
                if let Some((sql, rewritten)) = &statement {
                    fx = apply_actions(shared, conn, shared.take_actions(sql)).await;
                    if fx.stall {
                        return drain(&mut cr).await;
                    }
                    if fx.cut_before {
                        return Ok(());
                    }
                    if fx.fail.is_none() {
                        // Materialize judges a statement against its
                        // transaction when it executes it.
                        session.sync_txn(conn);
                        fx.fail = session.txn.check(sql);
                    }
                    if fx.fail.is_none() && !rewritten {
                        if route::reads_reconfiguration_state(sql) {
                            shared.settle_reconfigurations().await;
                        }
                        let Ok(verdict) = session_cluster_check(
                            shared,
                            &session,
                            sql,
                            conn,
                            cr.get_mut(),
                            watch_close(conn),
                        )
                        .await
                        else {
                            return Ok(());
                        };
                        fx.fail = verdict;
                    }
                    if fx.fail.is_none() {
                        let Ok(verdict) = take_write_lock(
                            shared,
                            conn,
                            sql,
                            &mut sw,
                            cr.get_mut(),
                            watch_close(conn),
                        )
                        .await?
                        else {
                            return Ok(());
                        };
                        fx.fail = verdict;
                    }
                }
                if fx.cut_after_execution || fx.late {
                    conn.swallow.store(true, Ordering::SeqCst);
                }
                if fx.cut_after_response {
                    conn.close_after_ready.store(true, Ordering::SeqCst);
                }
                let sql = statement.as_ref().map_or("", |(sql, _)| sql.as_str());
                if route::reads_statement_log(sql) {
                    shared.write_statement_log().await;
                }
                let id = shared.log_begin(&session, sql);
                conn.log_queue.lock().unwrap().push_back(Some(id));
                match fx.fail {
                    Some(reply) => {
                        let marker = format!(
                            "{ERROR_PORTAL}{}",
                            shared.markers.fetch_add(1, Ordering::SeqCst)
                        );
                        let mut b = marker.clone().into_bytes();
                        b.extend_from_slice(&[0, 0, 0, 0, 0]);
                        conn.error_rewrites.lock().unwrap().push((marker, reply));
                        write_msg(&mut sw, ty, &b).await?;
                    }
                    None => write_msg(&mut sw, ty, &body).await?,
                }
            }
            b'S' => {
                conn.log_queue.lock().unwrap().push_back(None);
                conn.batches_sent.fetch_add(1, Ordering::SeqCst);
                write_msg(&mut sw, ty, &body).await?;
            }
            b'C' => {
                let (name, _) = cstr(body.get(1..).unwrap_or_default());
                if body.first() == Some(&b'S') {
                    session.statements.remove(&name);
                } else {
                    session.portals.remove(&name);
                }
                write_msg(&mut sw, ty, &body).await?;
            }
            _ => write_msg(&mut sw, ty, &body).await?,
        }
        // What follows a late statement (its Sync, the statements the
        // client pipelined behind it) was on its way with it: it reaches
        // the server at once, whatever the proxy does next.
        if cr.buffer().is_empty() || conn.late.load(Ordering::SeqCst) {
            sw.flush().await?;
        }
    }
    // The client is gone: tell the server, and relay its last words until it closes.
    sw.shutdown().await?;
    std::future::pending::<()>().await;
    Ok(())
}

/// Logs the begin of each statement of a simple query (its text as the
/// client sent it), then the end of the batch; first writes what was
/// logged before when the query may read the log.
async fn log_batch(shared: &Shared, conn: &Conn, session: &Session, pieces: Vec<&str>) {
    if pieces.iter().any(|p| route::reads_statement_log(p)) {
        shared.write_statement_log().await;
    }
    let ids: Vec<_> = pieces
        .iter()
        .filter(|p| !p.trim().is_empty())
        .map(|p| shared.log_begin(session, p))
        .collect();
    let mut queue = conn.log_queue.lock().unwrap();
    queue.extend(ids.into_iter().map(Some));
    queue.push_back(None);
}

/// The server's ErrorResponse (as the client sees it) ends the statement
/// it answers: `canceled` for 57014, else `error`.
fn log_error(shared: &Shared, conn: &Conn, body: &[u8]) {
    let status = match error_field(body, b'C').as_deref() {
        Some("57014") => "canceled",
        _ => "error",
    };
    conn.end_statement(shared, status, error_field(body, b'M'));
}

/// The ErrorResponse body for an injected error.
fn error_body((code, message, hint): &ErrorReply) -> Vec<u8> {
    let mut b = Vec::new();
    let mut field = |t: u8, v: &str| {
        b.push(t);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    };
    field(b'S', "ERROR");
    field(b'V', "ERROR");
    field(b'C', code);
    field(b'M', message);
    if let Some(h) = hint {
        field(b'H', h);
    }
    b.push(0);
    b
}

/// The injected error a server ErrorResponse stands for, if any.
fn injected_error(conn: &Conn, body: &[u8]) -> Option<ErrorReply> {
    let text = String::from_utf8_lossy(body);
    if !text.contains(ERROR_PORTAL) {
        return None;
    }
    let mut rewrites = conn.error_rewrites.lock().unwrap();
    let i = rewrites
        .iter()
        .position(|(marker, _)| text.contains(&format!("\"{marker}\"")))?;
    Some(rewrites.remove(i).1)
}

/// A canceled or timed-out statement: a blocking resize it was waiting on
/// is rolled back before the client hears of it, as Materialize drops the
/// pending replicas with the statement (a cancel that lands in the
/// emulator's COMMIT between its steps is caught by nothing else).
async fn waiting_statement_failed(shared: &Shared, conn: &Conn) {
    let pid = conn.backend_pid.load(Ordering::SeqCst);
    if pid == 0 {
        return;
    }
    if let Some(side) = shared.side().await {
        let _ = side
            .execute("SELECT mz_emulator.waiting_statement_failed($1)", &[&pid])
            .await;
    }
}

/// A field of an ErrorResponse body (`C` the SQLSTATE, `M` the message).
fn error_field(body: &[u8], tag: u8) -> Option<String> {
    let mut rest = body;
    while let Some((&t, tail)) = rest.split_first() {
        if t == 0 {
            return None;
        }
        let (value, used) = cstr(tail);
        if t == tag {
            return Some(value);
        }
        rest = tail.get(used..)?;
    }
    None
}

/// Materialize's words where PostgreSQL says a relation or a schema does
/// not exist: `unknown catalog item 's.t'` and `unknown schema 's'`, both
/// XX000 (catalog reference §2.5). On a read, PostgreSQL says the relation
/// is missing when its schema is (`relation "s.t" does not exist`), where
/// Materialize names the schema: the schema is looked up.
async fn materialize_missing(shared: &Shared, body: &[u8]) -> Option<ErrorReply> {
    let message = error_field(body, b'M')?;
    let quoted = |prefix: &str| {
        message
            .strip_prefix(prefix)?
            .strip_suffix("\" does not exist")
            .map(str::to_string)
    };
    let unknown_schema = |s: &str| ("XX000".to_string(), format!("unknown schema '{s}'"), None);
    match error_field(body, b'C')?.as_str() {
        "3F000" => quoted("schema \"").map(|s| unknown_schema(&s)),
        "42P01" => {
            let name = quoted("relation \"")?;
            if let Some((schema, _)) = name.rsplit_once('.') {
                let side = shared.side().await?;
                let rows = side
                    .query("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema])
                    .await
                    .ok()?;
                if rows.is_empty() {
                    return Some(unknown_schema(schema));
                }
            }
            Some((
                "XX000".to_string(),
                format!("unknown catalog item '{name}'"),
                None,
            ))
        }
        _ => None,
    }
}

/// Closes the client's side of the connection after what was written so far
/// (it reads all of it, then end of file) and has the other direction end
/// the server session.
async fn sever(mut cw: BufWriter<OwnedWriteHalf>, conn: &Conn) -> io::Result<()> {
    cw.flush().await?;
    cw.shutdown().await?;
    conn.sever.notify_one();
    std::future::pending::<()>().await;
    Ok(())
}

async fn server_to_client(
    mut sr: BufReader<OwnedReadHalf>,
    mut cw: BufWriter<OwnedWriteHalf>,
    shared: &Shared,
    conn: &Conn,
) -> io::Result<()> {
    while let Some((ty, body)) = read_msg(&mut sr).await? {
        if ty == b'Z' {
            // The batch is answered: its statements' write locks go.
            let answered = conn.batches_answered.fetch_add(1, Ordering::SeqCst) + 1;
            conn.write_locks
                .lock()
                .unwrap()
                .retain(|(batch, _, _)| *batch > answered);
            if let Some(&status) = body.first() {
                conn.txn_status.store(status, Ordering::SeqCst);
                if status == b'I' {
                    conn.idle_readies.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        match ty {
            b'C' | b'I' | b's' => conn.end_statement(shared, "success", None),
            b'Z' => conn.end_batch(shared),
            _ => {}
        }
        if conn.swallow.load(Ordering::SeqCst) {
            if ty == b'E' {
                log_error(shared, conn, &body);
            }
            if ty == b'Z' {
                // The statement took effect; the client never learns.
                return sever(cw, conn).await;
            }
            continue;
        }
        if ty == b'K' && body.len() >= 4 {
            let pid = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            conn.backend_pid.store(pid, Ordering::SeqCst);
        }
        if ty == b'E' && error_field(&body, b'C').as_deref() == Some("57014") {
            waiting_statement_failed(shared, conn).await;
        }
        match ty {
            b'E' => {
                let reply = match injected_error(conn, &body) {
                    Some(reply) => Some(reply),
                    None => materialize_missing(shared, &body).await,
                };
                let body = match reply {
                    Some(reply) => error_body(&reply),
                    None => body,
                };
                log_error(shared, conn, &body);
                write_msg(&mut cw, ty, &body).await?;
            }
            _ => write_msg(&mut cw, ty, &body).await?,
        }
        if ty == b'Z' && conn.close_after_ready.swap(false, Ordering::SeqCst) {
            // Cut once the client has read all of it: some clients drop a
            // response that arrives together with the end of the connection.
            conn.cut_at_next_message.store(true, Ordering::SeqCst);
        }
        if sr.buffer().is_empty() {
            cw.flush().await?;
        }
    }
    cw.flush().await?;
    Ok(())
}
