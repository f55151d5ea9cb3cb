//! Connecting to Materialize (or anything speaking its wire protocol): a
//! deadpool pool, TLS through rustls per `sslmode`, the session set-up
//! (`SET cluster`), and turning driver errors into one readable line.
//! Knows nothing of strategies or plans.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use thiserror::Error;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{Connection, SslMode};

#[derive(Debug, Error)]
pub enum DbError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("{context}: {reason}")]
    Query {
        context: String,
        reason: String,
        transient: bool,
    },
    #[error("{context}: no answer within {}s", .after.as_secs())]
    Timeout { context: String, after: Duration },
}

impl DbError {
    pub fn query(context: impl Into<String>, e: &tokio_postgres::Error) -> DbError {
        DbError::Query {
            context: context.into(),
            reason: describe(e),
            transient: is_transient(e),
        }
    }

    /// Worth retrying: the connection broke or the server asked us to retry.
    pub fn transient(&self) -> bool {
        match self {
            DbError::Connect { .. } | DbError::Timeout { .. } => true,
            DbError::Query { transient, .. } => *transient,
            DbError::Tls(_) => false,
        }
    }

    /// SQLSTATE of the server error, if the server sent one.
    pub fn is_missing_table(e: &tokio_postgres::Error) -> bool {
        e.as_db_error().is_some_and(|d| {
            d.code() == &tokio_postgres::error::SqlState::UNDEFINED_TABLE
                || d.message().contains("unknown catalog item")
                || d.message().contains("does not exist")
        })
    }
}

/// Transient: connection refused/reset/closed, I/O errors, and server
/// errors that mean "try again" (connection exceptions, serialization
/// failures, shutdowns, too many connections, another operation in
/// progress). Everything else (unknown size, permission denied, syntax) is
/// permanent and never retried.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let msg = db.message().to_ascii_lowercase();
        return code.starts_with("08")
            || matches!(
                code,
                "40001" | "57P01" | "57P02" | "57P03" | "53300" | "55006"
            )
            || msg.contains("another operation is in progress")
            || msg.contains("another operation in progress")
            || msg.contains("please try again");
    }
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        source = cause.source();
    }
    false
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
}

pub type Client = deadpool_postgres::Object;

impl Db {
    pub fn new(conn: &Connection, exec_cluster: Option<String>) -> Result<Db, DbError> {
        let tls = make_tls(conn)?;
        let manager_cfg = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(conn.pg.clone(), tls, manager_cfg);
        let pool = Pool::builder(manager)
            .max_size(4)
            .build()
            .map_err(|e| DbError::Tls(e.to_string()))?;
        Ok(Db {
            pool,
            target: target_of(conn),
            display: conn.display.clone(),
            exec_cluster,
        })
    }

    /// A ready connection. With an exec cluster, the session runs on it, so
    /// our own reads and writes never land on a cluster we may suspend.
    pub async fn client(&self) -> Result<Client, DbError> {
        let client = self.pool.get().await.map_err(|e| DbError::Connect {
            target: self.target.clone(),
            reason: pool_reason(&e),
        })?;
        if let Some(cluster) = &self.exec_cluster {
            let set = format!("SET cluster = {}", crate::ddl::ident(cluster));
            client
                .batch_execute(&set)
                .await
                .map_err(|e| DbError::query(format!("setting cluster {cluster}"), &e))?;
        }
        Ok(client)
    }

    /// The redacted connection string.
    pub fn display(&self) -> &str {
        &self.display
    }
}

fn target_of(conn: &Connection) -> String {
    let host = conn
        .pg
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = conn.pg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

fn pool_reason(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(pg) => {
            let d = describe(pg);
            if d.contains("UnknownIssuer") || d.contains("invalid peer certificate") {
                format!("{d} (the server's certificate is not signed by a trusted CA; check sslrootcert)")
            } else {
                d
            }
        }
        deadpool_postgres::PoolError::Timeout(_) => "timed out".into(),
        other => other.to_string(),
    }
}

fn make_tls(conn: &Connection) -> Result<MakeRustlsConnect, DbError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError::Tls(e.to_string()))?;
    let roots = Arc::new(root_store(conn)?);
    let verify_chain = conn.ssl_mode == SslMode::VerifyCa
        || (conn.ssl_mode == SslMode::Require && conn.ssl_root_cert.is_some());
    let config = match conn.ssl_mode {
        SslMode::VerifyFull => builder.with_root_certificates(roots).with_no_client_auth(),
        // libpq: require with a root certificate behaves like verify-ca.
        _ if verify_chain => {
            let inner =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| DbError::Tls(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(conn: &Connection) -> Result<RootCertStore, DbError> {
    let mut store = RootCertStore::empty();
    match &conn.ssl_root_cert {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                DbError::Tls(format!("reading sslrootcert {}: {e}", path.display()))
            })?;
            let mut reader = std::io::BufReader::new(pem.as_slice());
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert =
                    cert.map_err(|e| DbError::Tls(format!("parsing {}: {e}", path.display())))?;
                store
                    .add(cert)
                    .map_err(|e| DbError::Tls(format!("loading {}: {e}", path.display())))?;
            }
            if store.is_empty() {
                return Err(DbError::Tls(format!(
                    "no certificate found in {}",
                    path.display()
                )));
            }
        }
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(store)
}

/// `sslmode=require`: encrypt, but do not authenticate the server (libpq's meaning).
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `sslmode=verify-ca`: the chain must lead to a trusted root; the host name
/// is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        inter: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end, inter, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Default connect timeout when the URL gives none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
