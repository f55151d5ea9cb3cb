//! Everything that talks to the database, and every SQL statement, by
//! concern: `catalog` (the snapshot: Materialize's catalog, read in a
//! constant number of statements), `store` (our own tables), `migrate`,
//! `lease`, and `live` (the executor's backend on a real database). This
//! module itself connects: a deadpool pool, TLS through rustls per
//! `sslmode` (`tls`), the session set-up (`SET cluster`), and turning driver
//! errors into one readable line.

// The shell: this module reads the clock, the environment, files and the
// database on purpose (clippy.toml bans that in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use thiserror::Error;
use tokio_postgres::types::{BorrowToSql, ToSql, Type};
use tokio_postgres::{Row, RowStream};

use crate::config::Connection;

pub mod catalog;
pub mod history;
pub mod lease;
pub mod live;
pub mod migrate;
pub mod session;
pub mod store;
mod tls;

#[derive(Debug, Error)]
pub enum DbError {
    /// `transient`: worth another attempt (refused, reset, timed out);
    /// otherwise it cannot succeed by retrying (unknown host, missing
    /// database, authentication, TLS).
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        target: String,
        reason: String,
        transient: bool,
    },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("{context}: {reason}")]
    Query {
        context: String,
        reason: String,
        transient: bool,
    },
    /// Our tables do not exist (`where_`: the one a statement read), the
    /// error of every command that needs them ([`store::missing_or`]).
    #[error("clusterctl's tables are missing ({where_} does not exist): run `{init}`, or have an admin run the SQL of `{init} --print` (`clusterctl apply` creates them too on a first install, but does not make again a table dropped by hand)")]
    TablesMissing {
        where_: String,
        /// `clusterctl init`, with the `--schema` the tables are in.
        init: String,
    },
    /// Tables named as ours that another tool made: they lack columns ours
    /// have, have one of ours with another type, or a NOT NULL column
    /// without a default that ours lacks ([`migrate::not_ours`]). `CREATE
    /// TABLE IF NOT EXISTS` leaves such a table as it is, so a migration
    /// "made" nothing and every command then failed on a column;
    /// clusterctl neither reads nor writes them.
    #[error("{}: {}", migrate::Foreign::said(.tables), migrate::Foreign::fix(.tables))]
    NotOurs { tables: Vec<migrate::Foreign> },
    /// The schema `--schema` names does not exist (`migrate::missing_schema`).
    #[error("{context}: {reason}")]
    SchemaMissing { context: String, reason: String },
    /// A newer clusterctl migrated our tables ([`migrate::newer_schema`]):
    /// this one must not write to them.
    #[error("clusterctl's tables are at schema version {recorded}, newer than this clusterctl knows (up to {known}): a newer clusterctl migrated them; upgrade this clusterctl (it writes nothing to tables a newer one migrated)")]
    SchemaNewer { recorded: i32, known: i32 },
    /// A write that arrived in time but found its deadline passed (a step
    /// of the server's clock, [`store::Attempt::refused`]): it wrote
    /// nothing, so its retry is no retry of a write that may have
    /// committed, unless the attempt wrote something before it (`wrote`:
    /// an earlier chunk, the intent beside a run's state). Transient.
    #[error("{context}: the database's clock passed the write's deadline while it was on its way (a step of the server's clock?)")]
    Refused { context: String, wrote: bool },
    #[error("{context}: no answer within {}s", .after.as_secs())]
    Timeout { context: String, after: Duration },
    /// Our controller lease is gone or could expire: no further DDL.
    #[error("the lease was lost: {0}; stopped before sending any further DDL")]
    LeaseLost(String),
    /// A shutdown signal came before the run did anything (no intent
    /// written): the statement or connection under way was abandoned.
    #[error("{context}: interrupted by a signal; nothing was done")]
    Interrupted { context: String },
}

impl DbError {
    /// A failed statement. One of our tables, or the `--schema`, found
    /// missing is classified by `store::missing_or` (the readers of our
    /// tables call it), so callers never match the server's words.
    pub fn query(context: impl Into<String>, e: &tokio_postgres::Error) -> DbError {
        DbError::Query {
            context: context.into(),
            reason: describe(e),
            transient: is_transient(e),
        }
    }

    /// The same error, from an attempt that wrote something before it:
    /// a refusal by the deadline ([`DbError::Refused`]) says so, as its
    /// retry is a retry of a write that committed in part.
    pub fn after_writing(self) -> DbError {
        match self {
            DbError::Refused { context, .. } => DbError::Refused {
                context,
                wrote: true,
            },
            other => other,
        }
    }

    /// The same error, with what to do about it after its reason.
    pub fn with_hint(self, hint: &str) -> DbError {
        match self {
            DbError::Query {
                context,
                reason,
                transient,
            } => DbError::Query {
                context,
                reason: format!("{reason}: {hint}"),
                transient,
            },
            other => other,
        }
    }

    /// Worth retrying: the connection broke or the server asked us to retry.
    pub fn transient(&self) -> bool {
        match self {
            DbError::Timeout { .. } | DbError::Refused { .. } => true,
            DbError::Connect { transient, .. } | DbError::Query { transient, .. } => *transient,
            DbError::Tls(_)
            | DbError::LeaseLost(_)
            | DbError::Interrupted { .. }
            | DbError::SchemaMissing { .. }
            | DbError::SchemaNewer { .. }
            | DbError::TablesMissing { .. }
            | DbError::NotOurs { .. } => false,
        }
    }
}

/// The database's clock as this host follows it: its `now()` when last
/// read, plus the time elapsed here since by the monotonic clock. This
/// host's wall clock may be off by any amount, so what we write (audit
/// rows, state versions) is dated by this, never by it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbClock {
    at: chrono::DateTime<chrono::Utc>,
    read: Instant,
    /// When the statement that read `at` was sent (at most `read`).
    sent: Instant,
}

impl DbClock {
    /// The database said `at`, just now.
    pub fn read(at: chrono::DateTime<chrono::Utc>) -> DbClock {
        DbClock::read_since(at, Instant::now())
    }

    /// The database said `at`, just now, in answer to a statement sent at
    /// `sent`.
    pub fn read_since(at: chrono::DateTime<chrono::Utc>, sent: Instant) -> DbClock {
        let read = Instant::now();
        DbClock {
            at,
            read,
            sent: sent.min(read),
        }
    }

    /// The database's time now, at the earliest: it said `at` before its
    /// answer reached us (the time between is not counted).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        Self::after(self.at, self.read)
    }

    /// The database's time now, at the latest: it said `at` after the
    /// statement was sent. What a deadline counts from, so that a write
    /// that arrives in time is never refused.
    pub fn latest(&self) -> chrono::DateTime<chrono::Utc> {
        Self::after(self.at, self.sent)
    }

    fn after(at: chrono::DateTime<chrono::Utc>, since: Instant) -> chrono::DateTime<chrono::Utc> {
        at + chrono::Duration::from_std(since.elapsed()).unwrap_or(chrono::Duration::zero())
    }
}

/// A statement refused for want of a privilege (42501, both servers).
pub fn refused(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|d| *d.code() == tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
}

/// What a server's "no such object" error says is missing: the one rule
/// for both servers. PostgreSQL says `relation "s.t" does not exist`
/// (42P01, also when the schema `s` is the one missing) and, on CREATE,
/// `schema "s" does not exist` (3F000); Materialize says `unknown catalog
/// item 's.t'` and `unknown schema 's'`, both XX000 (catalog reference
/// §2.5: match on the text there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Table,
    Schema,
}

impl Missing {
    pub fn of(e: &tokio_postgres::Error) -> Option<Missing> {
        use tokio_postgres::error::SqlState;
        let d = e.as_db_error()?;
        let says = |prefix: &str| d.message().starts_with(prefix);
        if d.code() == &SqlState::INVALID_SCHEMA_NAME || says("unknown schema") {
            Some(Missing::Schema)
        } else if d.code() == &SqlState::UNDEFINED_TABLE || says("unknown catalog item") {
            Some(Missing::Table)
        } else {
            None
        }
    }
}

/// The column a statement named that its table lacks, as the server says
/// it: PostgreSQL `column "c" does not exist` (42703; `column t.c does not
/// exist` when qualified), Materialize the same words under XX000
/// (catalog reference §2.5: match on the text there). On our tables, the
/// sign of a table of that name that another tool made
/// ([`store::missing_or`]). Empty when the server said 42703 in other
/// words.
pub fn unknown_column(e: &tokio_postgres::Error) -> Option<String> {
    let d = e.as_db_error()?;
    let named = column_named(d.message());
    match d.code() == &tokio_postgres::error::SqlState::UNDEFINED_COLUMN {
        true => Some(named.unwrap_or_default()),
        false => named,
    }
}

/// The column of a "column … does not exist" message, unqualified and
/// unquoted.
fn column_named(message: &str) -> Option<String> {
    let named = message
        .strip_prefix("column ")?
        .strip_suffix(" does not exist")?
        .trim_matches('"');
    let bare = named.rsplit_once('.').map_or(named, |(_, c)| c);
    Some(bare.trim_matches('"').to_string())
}

/// Transient: connection refused/reset/closed, I/O errors, and server
/// errors that mean "try again" (connection exceptions, serialization
/// failures, shutdowns, too many connections, another operation in
/// progress). Everything else (unknown size, permission denied, syntax) is
/// permanent and never retried. Notably 55006 (`cannot alter clusters with
/// pending updates`, `… while a reconfiguration is in progress`) is not
/// transient: a resize takes minutes, so the plan waits for it instead
/// (reference §8.1).
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let msg = db.message().to_ascii_lowercase();
        return code.starts_with("08")
            || matches!(code, "40001" | "57P01" | "57P02" | "57P03" | "53300")
            || msg.contains("another operation is in progress")
            || msg.contains("another operation in progress")
            || msg.contains("please try again");
    }
    if e.is_closed() {
        return true;
    }
    io_cause(e).is_some_and(transient_io)
}

/// The I/O error behind a driver error, if any.
fn io_cause(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = cause.source();
    }
    None
}

/// A broken or refused connection can work on the next attempt; a name that
/// does not resolve or a malformed answer (TLS) cannot.
fn transient_io(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | BrokenPipe
            | TimedOut
            | UnexpectedEof
            | Interrupted
            | WouldBlock
            | AddrNotAvailable
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    )
}

/// Whether a failed connection attempt is worth repeating. Missing
/// database, authentication and authorization failures, `server does not
/// support TLS`, certificate problems and unknown hosts are permanent.
pub fn connect_transient(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return !(code == "3D000" || code.starts_with("28") || code == "42501") && is_transient(e);
    }
    // Closed before the start-up was answered (a balancer restarting):
    // it was permanent, so a blip failed a run at once, or stopped one
    // mid-way without releasing its lease (an outside check).
    e.is_closed() || io_cause(e).is_some_and(transient_io)
}

/// One line: the server's message (and hint) or the client-side cause.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_string();
        if let Some(h) = db.hint() {
            s.push_str(&format!(" (hint: {h})"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

/// A pool of connections to one database, each set up identically.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    target: String,
    display: String,
    exec_cluster: Option<String>,
    /// Start-up deadline of a new connection: TCP, TLS and authentication.
    connect_timeout: Duration,
    /// For cancel requests.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    /// Cancel requests sent in the background ([`Db::abandon`]): a run
    /// abandoned at a shutdown waits for them before the process exits
    /// ([`Db::cancels_sent`]), or the runtime's end dropped them unsent.
    cancels: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// A pooled connection. Every statement clusterctl sends goes through these
/// methods: the one place where statements are logged, at debug (`-vv`),
/// on one line with their duration and what came back. Statements carry no
/// secret (the password travels only in the connection's start-up).
pub struct Client(deadpool_postgres::Object);

impl Client {
    pub async fn query_typed(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, tokio_postgres::Error> {
        let started = Instant::now();
        let result = self.0.query_typed(sql, params).await;
        logged(
            sql,
            started,
            result.as_ref().map(|rows| Some(rows.len() as u64)),
        );
        result
    }

    /// The rows as a stream: logged when the first answer came.
    pub async fn query_typed_raw<P, I>(
        &self,
        sql: &str,
        params: I,
    ) -> Result<RowStream, tokio_postgres::Error>
    where
        P: BorrowToSql,
        I: IntoIterator<Item = (P, Type)>,
    {
        let started = Instant::now();
        let result = self.0.query_typed_raw(sql, params).await;
        logged(sql, started, result.as_ref().map(|_| None));
        result
    }

    pub async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, tokio_postgres::Error> {
        let started = Instant::now();
        let result = self.0.execute(sql, params).await;
        logged(sql, started, result.as_ref().map(|n| Some(*n)));
        result
    }

    pub async fn batch_execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        let started = Instant::now();
        let result = self.0.batch_execute(sql).await;
        logged(sql, started, result.as_ref().map(|()| None));
        result
    }

    pub fn cancel_token(&self) -> tokio_postgres::CancelToken {
        self.0.cancel_token()
    }
}

/// Longest statement text a log line carries (a snapshot's reads are a few
/// kilobytes; a write of thousands of states may be far longer).
const LOGGED_SQL_CHARS: usize = 4096;

/// One debug event per statement: its text on one line, its duration and
/// its outcome (the rows it returned or changed, when known: a stream is
/// logged at its first answer).
fn logged(sql: &str, started: Instant, outcome: Result<Option<u64>, &tokio_postgres::Error>) {
    if !tracing::enabled!(target: "clusterctl::sql", tracing::Level::DEBUG) {
        return;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut text = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((cut, _)) = text.char_indices().nth(LOGGED_SQL_CHARS) {
        let total = text.chars().count();
        text.truncate(cut);
        text.push_str(&format!(" … ({total} characters)"));
    }
    match outcome {
        Ok(rows) => tracing::debug!(target: "clusterctl::sql", ms, rows, sql = %text, "statement"),
        Err(e) => {
            tracing::debug!(target: "clusterctl::sql", ms, sql = %text, "statement failed: {}", describe(e))
        }
    }
}

impl Db {
    pub fn new(conn: &Connection, exec_cluster: Option<String>) -> Result<Db, DbError> {
        let tls = tls::make_tls(conn)?;
        let manager_cfg = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(conn.pg.clone(), tls.clone(), manager_cfg);
        // The main connection, the lease heartbeat's, and room for one
        // replacing a discarded connection.
        let pool = Pool::builder(manager)
            .max_size(4)
            .build()
            .map_err(|e| DbError::Tls(e.to_string()))?;
        Ok(Db {
            pool,
            target: target_of(conn),
            display: conn.display.clone(),
            exec_cluster,
            connect_timeout: conn
                .pg
                .get_connect_timeout()
                .copied()
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            tls,
            cancels: Default::default(),
        })
    }

    /// A ready connection. With an exec cluster, the session runs on it, so
    /// our own reads and writes never land on a cluster we may suspend.
    /// The whole start-up (TCP, TLS, authentication, `SET cluster`) has the
    /// connect deadline: a server that accepts and never answers cannot
    /// hang us. A connection whose set-up failed is never pooled.
    pub async fn client(&self) -> Result<Client, DbError> {
        let deadline = self.connect_timeout;
        let timed_out = || DbError::Timeout {
            context: format!("connecting to {}", self.target),
            after: deadline,
        };
        let client = match tokio::time::timeout(deadline, self.pool.get()).await {
            Err(_) => return Err(timed_out()),
            Ok(r) => Client(r.map_err(|e| DbError::Connect {
                target: self.target.clone(),
                reason: pool_reason(&e),
                transient: pool_transient(&e),
            })?),
        };
        if let Some(cluster) = &self.exec_cluster {
            let set = format!("SET cluster = {}", crate::ddl::ident(cluster));
            let result = match tokio::time::timeout(deadline, client.batch_execute(&set)).await {
                Err(_) => Err(timed_out()),
                Ok(r) => r.map_err(|e| DbError::query(format!("setting cluster {cluster}"), &e)),
            };
            if let Err(e) = result {
                discard(client);
                return Err(e);
            }
        }
        Ok(client)
    }

    /// Asks the server to cancel what `client` is running, and returns how
    /// long to wait for the statement's answer (the connect deadline, which
    /// also bounds the request): the caller keeps the connection until then.
    pub async fn cancel(&self, client: &Client) -> Duration {
        let token = client.cancel_token();
        let _ =
            tokio::time::timeout(self.connect_timeout, token.cancel_query(self.tls.clone())).await;
        self.connect_timeout
    }

    /// Asks the server to cancel what `client` is running (best effort,
    /// bounded by the connect deadline, in the background) and closes the
    /// connection: used when a statement timed out or the lease ran out.
    pub fn abandon(&self, client: Client) {
        let token = client.cancel_token();
        let tls = self.tls.clone();
        let deadline = self.connect_timeout;
        discard(client);
        let sent = tokio::spawn(async move {
            let _ = tokio::time::timeout(deadline, token.cancel_query(tls)).await;
        });
        if let Ok(mut cancels) = self.cancels.lock() {
            cancels.retain(|c| !c.is_finished());
            cancels.push(sent);
        }
    }

    /// Waits for the cancel requests [`Db::abandon`] sent (each bounded by
    /// the connect deadline).
    pub async fn cancels_sent(&self) {
        let pending: Vec<_> = match self.cancels.lock() {
            Ok(mut cancels) => cancels.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for sent in pending {
            let _ = sent.await;
        }
    }

    /// Closes the pool's idle connections: after work was abandoned (a
    /// signal), those it handed back may still be busy with its statement,
    /// and what comes next would queue behind it. Later clients connect
    /// afresh.
    pub fn forget_idle(&self) {
        let _ = self.pool.retain(|_, _| false);
    }

    /// The redacted connection string.
    pub fn display(&self) -> &str {
        &self.display
    }
}

fn target_of(conn: &Connection) -> String {
    let ports = conn.pg.get_ports();
    let addrs = conn.pg.get_hostaddrs();
    let targets: Vec<String> = conn
        .pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            // One port for every host, or one each (libpq).
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            // `hostaddr` is what is dialled; the host name only checks the
            // certificate (the error named the host, not the address
            // refused: an outside check).
            let dialled = match addrs.get(i) {
                Some(std::net::IpAddr::V6(a)) => format!(" (address [{a}]:{port})"),
                Some(a) => format!(" (address {a}:{port})"),
                None => String::new(),
            };
            match h {
                tokio_postgres::config::Host::Tcp(s) if s.contains(':') => {
                    format!("[{s}]:{port}{dialled}")
                }
                tokio_postgres::config::Host::Tcp(s) => format!("{s}:{port}{dialled}"),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => {
                    format!("the socket in {} (port {port})", p.display())
                }
            }
        })
        .collect();
    match targets.len() {
        0 => "the default host".to_string(),
        _ => targets.join(" or "),
    }
}

/// Closes a connection instead of handing it back to the pool: after a
/// failure or a timeout it may be broken or still busy.
pub fn discard(client: Client) {
    drop(deadpool_postgres::Object::take(client.0));
}

fn pool_transient(e: &deadpool_postgres::PoolError) -> bool {
    match e {
        deadpool_postgres::PoolError::Backend(pg) => connect_transient(pg),
        deadpool_postgres::PoolError::Timeout(_) => true,
        _ => false,
    }
}

fn pool_reason(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(pg) => {
            let d = describe(pg);
            match tls_hint(&d) {
                Some(hint) => format!("{d} ({hint})"),
                None => d,
            }
        }
        deadpool_postgres::PoolError::Timeout(_) => "timed out".into(),
        other => other.to_string(),
    }
}

/// What to change in the connection string for a TLS failure, from the
/// driver's description of it.
/// rustls names a failure by its variant (`NotValidForName`) or, since
/// 0.23's contexts, in words ("certificate not valid for name …"): both are
/// read. A certificate refused for another reason is not said to be an
/// untrusted CA's (a host name mismatch was: an outside check).
fn tls_hint(described: &str) -> Option<&'static str> {
    let says = |words: &[&str]| words.iter().any(|w| described.contains(w));
    if says(&["NotValidForName", "not valid for name"]) {
        Some("the server's certificate is not for this host name; connect by the name it was issued for, or use sslmode=verify-ca")
    } else if says(&["UnknownIssuer", "unknown issuer"]) {
        Some("the server's certificate is not signed by a trusted CA; check sslrootcert")
    } else if says(&[
        "Expired",
        "certificate expired",
        "NotValidYet",
        "not valid yet",
    ]) {
        Some("the server's certificate is outside its validity period; check the server's certificate and this machine's clock")
    } else if described.contains("invalid peer certificate") {
        Some("the server's certificate was refused; check sslrootcert and the host name")
    } else if described.contains("password missing") {
        Some("the connection string has no password, and PGPASSWORD is not set or empty (clusterctl does not read .pgpass): put it in the string, percent-encoded, or in PGPASSWORD")
    } else if described.contains("server does not support TLS") {
        Some("the server offers no TLS: sslmode=prefer or disable connects without it")
    } else {
        None
    }
}

/// Default connect timeout when the URL gives none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::{column_named, tls_hint, DbClock};

    /// Both servers' words, bare or qualified; other errors are not it.
    #[test]
    fn the_column_a_server_says_is_missing_is_read_bare() {
        for (message, column) in [
            (r#"column "cluster_id" does not exist"#, Some("cluster_id")),
            ("column s.cluster_id does not exist", Some("cluster_id")),
            (
                r#"column "s.cluster_id" does not exist"#,
                Some("cluster_id"),
            ),
            (r#"column "Odd Name" does not exist"#, Some("Odd Name")),
            (r#"relation "t" does not exist"#, None),
            ("unknown catalog item 't'", None),
        ] {
            assert_eq!(column_named(message).as_deref(), column, "{message}");
        }
    }

    /// A deadline counts from the latest the database's time can be: from
    /// when the read was sent. Counted from its answer, a slow read (a
    /// snapshot of thousands of clusters) set every deadline too early and
    /// refused writes that arrived in time.
    #[test]
    fn the_latest_time_counts_from_when_the_read_was_sent() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let now = std::time::Instant::now();
        let sent = now
            .checked_sub(std::time::Duration::from_secs(3))
            .unwrap_or(now);
        let clock = DbClock::read_since(at, sent);
        let ahead = clock.latest() - clock.now();
        assert!(ahead >= chrono::Duration::milliseconds(2900), "{ahead}");
        assert!(clock.now() >= at);
        // Read at once: both the same.
        let clock = DbClock::read(at);
        assert!(clock.latest() - clock.now() < chrono::Duration::milliseconds(100));
    }

    #[test]
    fn tls_failures_say_what_to_change() {
        let name = "error performing TLS handshake: invalid peer certificate: NotValidForName";
        assert!(tls_hint(name).is_some_and(|h| h.contains("host name")));
        // rustls 0.23's words for it (an untrusted CA was said).
        let words = "error performing TLS handshake: invalid peer certificate: certificate not \
                     valid for name \"wrong.example\"; certificate is only valid for \
                     DnsName(\"localhost\") or IpAddress(127.0.0.1)";
        assert!(tls_hint(words).is_some_and(|h| h.contains("host name") && !h.contains("CA")));
        let ca = "error performing TLS handshake: invalid peer certificate: UnknownIssuer";
        assert!(tls_hint(ca).is_some_and(|h| h.contains("trusted CA")));
        let expired = "error performing TLS handshake: invalid peer certificate: certificate \
                       expired: verification time 1 (UNIX), but certificate is not valid after 0";
        assert!(tls_hint(expired).is_some_and(|h| h.contains("clock")));
        let other = "error performing TLS handshake: invalid peer certificate: BadSignature";
        assert!(tls_hint(other).is_some_and(|h| !h.contains("trusted CA")));
        let none = "error performing TLS handshake: server does not support TLS";
        assert!(tls_hint(none).is_some_and(|h| h.contains("sslmode=prefer")));
        assert_eq!(tls_hint("password authentication failed"), None);
        let missing = "invalid configuration: password missing";
        assert!(
            tls_hint(missing).is_some_and(|h| h.contains("PGPASSWORD") && h.contains(".pgpass"))
        );
    }
}
