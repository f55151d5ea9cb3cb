//! Where the connection comes from (flag > `DATABASE_URL` > `.env`), how TLS
//! is asked for (`sslmode`, `sslrootcert`), and how a connection string is
//! shown to humans: never with its password.

// The shell: this module reads the clock, the environment, files and the
// database on purpose (clippy.toml bans that in the decision core).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(
        "no database given: pass --postgres-url, set DATABASE_URL, or put DATABASE_URL in .env"
    )]
    MissingUrl,
    #[error(
        "DATABASE_URL is not valid UTF-8 (its value is not shown): fix it, or pass --postgres-url"
    )]
    UrlNotUtf8,
    /// Set to nothing in the environment: `.env` is not read for a
    /// variable the environment sets, so its `DATABASE_URL` does not count.
    #[error(
        "DATABASE_URL is set but empty (a .env is not read for a variable that is set, even to \
         nothing): set it to a connection string, unset it to use .env, or pass --postgres-url"
    )]
    UrlEmpty,
    /// The string quoted: the masking of a `password=` written in text
    /// ends at a quote, so the `: ` after a last key's masked value stays.
    #[error("invalid connection string '{url}': {reason}")]
    BadUrl { url: String, reason: String },
    /// A simulation's scenario or alternative file that cannot be read or
    /// is wrong (the message names the file).
    #[error("{0}")]
    Scenario(String),
}

/// Whether the environment's `DATABASE_URL` was not UTF-8 and was set
/// aside ([`set_aside_non_utf8_url`]).
static URL_NOT_UTF8: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Sets aside a `DATABASE_URL` that is not UTF-8, before the command line
/// is parsed: clap would refuse every command for it, even those that do
/// not connect, as "invalid UTF-8 in one or more arguments". A command
/// that needs the database and has no other URL says what is wrong
/// ([`ConfigError::UrlNotUtf8`]). Called again after `.env` is read, so a
/// `.env` never stands in for a `DATABASE_URL` that was set.
pub fn set_aside_non_utf8_url() {
    let bad = std::env::var_os("DATABASE_URL").is_some_and(|v| v.to_str().is_none());
    if bad || URL_NOT_UTF8.load(std::sync::atomic::Ordering::Relaxed) {
        URL_NOT_UTF8.store(true, std::sync::atomic::Ordering::Relaxed);
        // Before any thread is started (`cli::main`'s first steps).
        std::env::remove_var("DATABASE_URL");
    }
}

/// Whether the environment set `DATABASE_URL` to nothing before `.env` was
/// read ([`note_empty_url`]).
static URL_EMPTY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Notes whether the environment sets `DATABASE_URL` to nothing, before
/// `.env` is read: clap takes an empty variable for no URL, and `.env`
/// never overrides a variable that is set, so a command would say no
/// database was given although `.env` has one ([`ConfigError::UrlEmpty`]).
pub fn note_empty_url() {
    // Blank counts as empty, as it does for `--postgres-url`.
    let empty = std::env::var_os("DATABASE_URL")
        .is_some_and(|v| v.to_str().is_some_and(|s| s.trim().is_empty()));
    URL_EMPTY.store(empty, std::sync::atomic::Ordering::Relaxed);
}

/// The error of a command that needs the database and was given none.
pub fn missing_url() -> ConfigError {
    if URL_NOT_UTF8.load(std::sync::atomic::Ordering::Relaxed) {
        ConfigError::UrlNotUtf8
    } else if URL_EMPTY.load(std::sync::atomic::Ordering::Relaxed) {
        ConfigError::UrlEmpty
    } else {
        ConfigError::MissingUrl
    }
}

/// A connection string whose `Debug` never shows the password, so no
/// options struct holding one can leak it into a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The real string, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(s.to_string()))
    }
}

/// libpq's sslmode values; tokio-postgres knows only the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// As a URL spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for SslMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                "unknown sslmode '{other}' (use disable, prefer, require, verify-ca or verify-full)"
            ))
            }
        })
    }
}

/// A parsed connection: tokio-postgres settings plus the TLS options it
/// cannot express.
#[derive(Debug, Clone)]
pub struct Connection {
    pub pg: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub ssl_root_cert: Option<PathBuf>,
    /// The URL with its password masked, for every message that names it.
    pub display: String,
}

/// The connection deadline a command was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectTimeout {
    /// `--connect-timeout`, given: it wins over the URL's.
    Given(Duration),
    /// No flag: the URL's `connect_timeout`, else this.
    Default(Duration),
}

impl ConnectTimeout {
    pub fn get(self) -> Duration {
        match self {
            ConnectTimeout::Given(t) | ConnectTimeout::Default(t) => t,
        }
    }
}

impl Connection {
    /// The connection of `url` (a URL or libpq's key=value form). A URL
    /// without a password takes `PGPASSWORD`'s, as libpq (and so the Python
    /// tool) does; whitespace around it (the newline of a mounted secret)
    /// is not part of it.
    pub fn parse(url: &str, connect_timeout: Duration) -> Result<Connection, ConfigError> {
        Connection::parse_with(url, ConnectTimeout::Default(connect_timeout))
    }

    /// [`Connection::parse`], with `--connect-timeout` as given: one given
    /// on the command line wins over the URL's `connect_timeout` (a value
    /// left in a shared secret silently lengthened the bound the flag set:
    /// an outside check); the default does not.
    pub fn parse_with(
        url: &str,
        connect_timeout: ConnectTimeout,
    ) -> Result<Connection, ConfigError> {
        let url = url.trim();
        let display = redact(url);
        let bad = |reason: String| ConfigError::BadUrl {
            url: display.clone(),
            reason,
        };
        check_url_shape(url).map_err(bad)?;
        let (rest, ssl_mode, root) =
            split_tls_params(url).map_err(|reason| bad(scrub(&reason, url)))?;
        let mut pg =
            tokio_postgres::Config::from_str(&rest).map_err(|e| bad(driver_reason(&e, url)))?;
        if pg.get_hosts().is_empty() {
            return Err(bad("no host given".into()));
        }
        // The driver says so only as it connects ("invalid configuration:
        // invalid number of ports", which read as a connection failure).
        let (hosts, ports) = (pg.get_hosts().len(), pg.get_ports().len());
        let empty_port = url
            .split(['?', '&', ' '])
            .any(|part| part.trim() == "port=" || part.trim() == "port=''");
        if empty_port {
            return Err(bad(
                "port= is empty: give a number, or leave it out (the URL's own port, else \
                 5432)"
                    .into(),
            ));
        }
        if ports > 1 && ports != hosts {
            return Err(bad(format!(
                "the ports do not match the {hosts} host{}: give one port for every host, or \
                 one each",
                crate::model::plural(hosts)
            )));
        }
        pg.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        match connect_timeout {
            ConnectTimeout::Given(t) => {
                pg.connect_timeout(t);
            }
            ConnectTimeout::Default(t) if pg.get_connect_timeout().is_none() => {
                pg.connect_timeout(t);
            }
            ConnectTimeout::Default(_) => {}
        }
        match pg.get_application_name() {
            None => {
                pg.application_name("clusterctl");
            }
            Some(name) if name.trim().is_empty() => {
                return Err(bad(application_name_risk(name).unwrap_or_default()))
            }
            Some(_) => {}
        }
        if pg.get_password().is_none() {
            if let Some(pw) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
                pg.password(pw.as_encoded_bytes());
            }
        }
        Ok(Connection {
            pg,
            ssl_mode,
            ssl_root_cert: root.map(PathBuf::from),
            display,
        })
    }
}

/// What an `application_name` of the connection string risks, if it is
/// not clusterctl's own: every statement of a session of that name is
/// taken for clusterctl's and left out of the activity signal
/// (`catalog::NOT_OURS`), so a workload of that name (a connection secret
/// shared with an application: `application_name=psql`) or of none (an
/// empty name) no longer keeps its cluster awake, and `idle_suspend`
/// suspended a cluster in use (an outside check). An empty one is refused;
/// one that does not say `clusterctl` is warned of.
fn application_name_risk(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some(
            "application_name is empty: clusterctl tells its own statements in the statement \
             log by it, so every workload that sets none would be left out of the activity \
             signal (idle_suspend would suspend clusters in use); leave it out (clusterctl's \
             is `clusterctl`) or give one no workload uses"
                .into(),
        );
    }
    (!name.to_lowercase().contains("clusterctl")).then(|| {
        format!(
            "the connection string sets application_name={}: clusterctl leaves every statement \
             of a session of that name out of the activity signal, taking it for its own; if a \
             workload uses that name, idle_suspend takes its clusters for idle. Leave it out \
             (clusterctl's is `clusterctl`) or give one with `clusterctl` in it",
            crate::model::echoed(name)
        )
    })
}

impl Connection {
    /// What the connection string's `application_name` risks, when it is
    /// not clusterctl's ([`application_name_risk`]): said once per
    /// command, as it connects.
    pub fn application_name_warning(&self) -> Option<String> {
        self.pg
            .get_application_name()
            .and_then(application_name_risk)
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL or key=value string, so
/// the rest can go to tokio-postgres, which rejects verify-ca/verify-full.
fn split_tls_params(url: &str) -> Result<(String, SslMode, Option<String>), String> {
    let mut mode = None;
    let mut root = None;
    let mut take = |k: &str, v: &str| -> Result<bool, String> {
        match k {
            "sslmode" => {
                mode = Some(v.parse::<SslMode>()?);
                Ok(true)
            }
            "sslrootcert" => {
                root = Some(v.to_string());
                Ok(true)
            }
            _ => Ok(false),
        }
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // The parameters start at the first `?` after the host, which starts
        // after the first `@` (the driver's reading: a password may hold `?`).
        let start = url_start(url).unwrap_or(0);
        let host_start = url[start..].find('@').map_or(start, |at| start + at + 1);
        match url[host_start..].find('?').map(|q| host_start + q) {
            None => url.to_string(),
            Some(q) => {
                let (base, query) = (&url[..q], &url[q + 1..]);
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(&percent_decode(k), &percent_decode(v))? {
                        kept.push(pair);
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        match key_values(url) {
            (pairs, true) => {
                let mut kept = Vec::new();
                for kv in pairs {
                    if !take(kv.key, &kv.value)? {
                        kept.push(format!("{}={}", kv.key, kv.raw));
                    }
                }
                kept.join(" ")
            }
            // The driver reports what is wrong with it.
            (_, false) => url.to_string(),
        }
    };
    // libpq 16: `sslrootcert=system` trusts the system's roots, and only
    // with the host name checked.
    if root.as_deref() == Some(SYSTEM_ROOTS) {
        return match mode {
            None | Some(SslMode::VerifyFull) => Ok((rest, SslMode::VerifyFull, root)),
            Some(weak) => Err(format!(
                "sslrootcert=system needs sslmode=verify-full (as libpq: the system's roots \
                 trust any host they signed for), not {}",
                weak.as_str()
            )),
        };
    }
    Ok((rest, mode.unwrap_or(SslMode::Prefer), root))
}

/// `sslrootcert`'s special value (libpq 16): the system's trust store
/// (`SSL_CERT_FILE` when set), not a file of that name.
pub const SYSTEM_ROOTS: &str = "system";

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------ redaction
//
// A connection string is shown to humans only through [`redact`], which
// follows tokio-postgres' parser (`tokio_postgres::Config::from_str`):
//
// - URL form (`postgres://` / `postgresql://`): the driver takes everything
//   up to the FIRST `@` as `user[:password]` (the password may hold `/`,
//   `?`, `#`, `:` unencoded), the host up to the next `/` or `?`, then the
//   database and `key=value&…` parameters (percent-decoded keys). Redaction
//   masks everything between the scheme and the LAST `@` except a plain user
//   name, so whatever the string contains, no reading of it (the driver's,
//   or a human's who forgot to encode an `@`) puts a password on screen.
// - key=value form: keywords up to whitespace or `=`, values unquoted (up to
//   whitespace, `\` escapes) or single-quoted (`\` escapes). Values of keys
//   not known to be harmless are masked; anything that does not tokenize is
//   masked to the end.
//
// [`Connection::parse`] refuses the strings where the driver and a human
// would disagree (an unencoded `@` in the password), so the host and user
// it reports never hold part of a password.

/// Keys whose values are never secret and help to read a message.
const SHOWN_KEYS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "dbname",
    "application_name",
    "options",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslnegotiation",
    "channel_binding",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "tcp_user_timeout",
    "target_session_attrs",
    "load_balance_hosts",
    "replication",
];

/// Keys of [`SHOWN_KEYS`] the connection does not take (client
/// certificates): named in the driver's refusal, left out of the list of
/// the options it does take.
const UNSUPPORTED_KEYS: &[&str] = &["sslcert", "sslkey", "sslpassword"];

/// Keys the driver knows whose values are secret: shown as `key=****`.
const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

/// libpq's keys the driver does not take, none of which holds a secret:
/// named in its refusal ("unknown option `…`" hid `service`, and nothing
/// said service files are not read: an outside check).
const LIBPQ_ONLY_KEYS: &[&str] = &[
    "service",
    "passfile",
    "requiressl",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "sslcompression",
    "gssencmode",
    "gsslib",
    "krbsrvname",
    "requirepeer",
    "client_encoding",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
];

/// A key name shown as written: one the driver knows, or a libpq key it
/// does not. Any other word may be part of a password split by a stray
/// quote or space (`password=a'b c=d` reads `c` as a key), so it is masked
/// with its value.
fn known_key(k: &str) -> bool {
    SHOWN_KEYS.contains(&k) || SECRET_KEYS.contains(&k) || LIBPQ_ONLY_KEYS.contains(&k)
}

use crate::model::MASK;

/// `scheme://` at the start of `s`: the index just after `://`.
fn url_start(s: &str) -> Option<usize> {
    let i = s.find("://")?;
    (scheme_before(&s[..i]) == Some(0)).then_some(i + 3)
}

/// Where the URL scheme that ends `s` (just before its `://`) begins: the
/// longest run of scheme characters (letters, digits, `+`, `-`, `.`) at
/// its end; `None` when there is none. Scheme characters hold no `:` or
/// `/`, so the schemes of two URLs in one text never overlap.
fn scheme_before(s: &str) -> Option<usize> {
    s.char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .last()
        .map(|(j, _)| j)
}

/// A user name that cannot be part of a password or of a mis-split URL.
fn plain_user(user: &str) -> bool {
    !user.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | '?' | '#' | '&' | '=')
    })
}

/// A keyword shown as written: an identifier.
fn plain_keyword(k: &str) -> bool {
    let mut chars = k.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The connection string with every password (and anything that may hold
/// one) replaced by `****`, in the URL form (`user:****@host`,
/// `?password=****`) and the key=value form (`password=****`).
pub fn redact(url: &str) -> String {
    match url_start(url) {
        Some(start) => redact_url(url, start),
        None => redact_key_values(url),
    }
}

fn redact_url(url: &str, start: usize) -> String {
    let rest = &url[start..];
    let mut out = url[..start].to_string();
    // When the last `@` may sit in the parameters (a `?` before it that is
    // not in the password), everything after it is parameters too.
    let mut in_query = false;
    let tail = match (rest.find('@'), rest.rfind('@')) {
        (Some(first), Some(at)) => {
            let userinfo = &rest[..at];
            let (user, has_password) = match userinfo.split_once(':') {
                Some((u, _)) => (u, true),
                None => (userinfo, false),
            };
            in_query = rest[first..at].contains('?') || (!plain_user(user) && user.contains('?'));
            if plain_user(user) {
                out.push_str(user);
                if has_password {
                    out.push(':');
                    out.push_str(MASK);
                }
            } else {
                out.push_str(MASK);
            }
            out.push('@');
            &rest[at + 1..]
        }
        _ => match not_a_port(rest) {
            // No `@`: what follows a host's `:` is a password, not a port.
            Some(at) => return format!("{out}{}{MASK}", &rest[..at]),
            None => rest,
        },
    };
    let split = if in_query {
        Some(("", tail))
    } else {
        tail.split_once('?')
    };
    match split {
        None => out.push_str(tail),
        Some((base, query)) => {
            out.push_str(base);
            if !in_query {
                out.push('?');
            }
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    _ if pair.is_empty() => String::new(),
                    Some((k, v)) if SHOWN_KEYS.contains(&percent_decode(k).as_str()) => {
                        format!("{k}={v}")
                    }
                    Some((k, _)) if known_key(k) => format!("{k}={MASK}"),
                    _ => MASK.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
    }
    out
}

/// In the part of a URL after `scheme://` that has no `@`: where the first
/// `host:port` whose port is not a port number (one to five digits) has
/// it, if any. That is a `user:password` whose `@host` is missing
/// (`postgres://u:pw/db`, or its `@` written `%40`): the driver reads the
/// password as a port, and everything after it may be password too.
fn not_a_port(rest: &str) -> Option<usize> {
    let hosts = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let mut offset = 0;
    for host in hosts.split(',') {
        // An IPv6 address holds `:` within its brackets.
        let after = match host.starts_with('[') {
            true => host.find(']').map_or(host.len(), |i| i + 1),
            false => 0,
        };
        if let Some(colon) = host[after..].find(':') {
            let port = &host[after + colon + 1..];
            let is_port = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
            if !is_port {
                return Some(offset + after + colon + 1);
            }
        }
        offset += host.len() + 1;
    }
    None
}

/// One `key=value` of the key=value form, as the driver tokenizes it.
struct KeyValue<'a> {
    key: &'a str,
    /// The value as written (quotes and escapes included).
    raw: &'a str,
    /// The value as the driver reads it.
    value: String,
}

/// Tokenizes the key=value form like tokio-postgres does; the second item
/// is `false` when the string stops making sense (the rest is unknown).
fn key_values(s: &str) -> (Vec<KeyValue<'_>>, bool) {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_ws = |mut i: usize| {
        while i < s.len() {
            let c = s[i..].chars().next().unwrap_or(' ');
            if !c.is_whitespace() {
                break;
            }
            i += c.len_utf8();
        }
        i
    };
    loop {
        i = skip_ws(i);
        if i >= s.len() {
            return (out, true);
        }
        let key_start = i;
        while i < s.len() {
            let c = s[i..].chars().next().unwrap_or(' ');
            if c.is_whitespace() || c == '=' {
                break;
            }
            i += c.len_utf8();
        }
        let key = &s[key_start..i];
        i = skip_ws(i);
        if bytes.get(i) != Some(&b'=') {
            return (out, false);
        }
        i = skip_ws(i + 1);
        let value_start = i;
        let mut value = String::new();
        let quoted = bytes.get(i) == Some(&b'\'');
        if quoted {
            i += 1;
        }
        let mut closed = !quoted;
        while i < s.len() {
            let c = s[i..].chars().next().unwrap_or(' ');
            if quoted && c == '\'' {
                i += 1;
                closed = true;
                break;
            }
            if !quoted && c.is_whitespace() {
                break;
            }
            i += c.len_utf8();
            if c == '\\' {
                if let Some(next) = s[i..].chars().next() {
                    value.push(next);
                    i += next.len_utf8();
                }
            } else {
                value.push(c);
            }
        }
        if !closed || (!quoted && value.is_empty()) {
            return (out, false);
        }
        out.push(KeyValue {
            key,
            raw: &s[value_start..i],
            value,
        });
    }
}

fn redact_key_values(s: &str) -> String {
    let (pairs, complete) = key_values(s);
    let mut words: Vec<String> = pairs
        .iter()
        .map(|kv| {
            if SHOWN_KEYS.contains(&kv.key) {
                format!("{}={}", kv.key, kv.raw)
            } else if known_key(kv.key) {
                format!("{}={MASK}", kv.key)
            } else {
                format!("{MASK}={MASK}")
            }
        })
        .collect();
    if !complete {
        words.push(MASK.to_string());
    }
    words.join(" ")
}

/// Everything in `url` that may be a password, as written and as the
/// driver decodes it (for scrubbing messages that might echo one).
fn secrets_of(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    match url_start(url) {
        Some(start) => {
            let rest = &url[start..];
            // The driver's reading (first `@`) and a human's (last `@`).
            for at in [rest.find('@'), rest.rfind('@')].into_iter().flatten() {
                if let Some((_, pw)) = rest[..at].split_once(':') {
                    out.push(pw.to_string());
                    out.push(percent_decode(pw));
                }
            }
            if let Some((_, query)) = rest.split_once('?') {
                for pair in query.split('&') {
                    match pair.split_once('=') {
                        Some((k, _)) if SHOWN_KEYS.contains(&percent_decode(k).as_str()) => {}
                        Some((_, v)) => {
                            out.push(v.to_string());
                            out.push(percent_decode(v));
                        }
                        None => out.push(pair.to_string()),
                    }
                }
            }
        }
        None => {
            for kv in key_values(url).0 {
                if !SHOWN_KEYS.contains(&kv.key) {
                    out.push(kv.raw.to_string());
                    out.push(kv.value);
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    // Longest first, so a secret is never half-replaced by a shorter one.
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

/// Removes every secret of `url` from a message that might echo it.
pub fn scrub(message: &str, url: &str) -> String {
    let mut out = message.to_string();
    for secret in secrets_of(url) {
        out = out.replace(&secret, MASK);
    }
    out
}

/// A driver error about the connection string, without anything it quotes
/// from the string except key names and `=`: the driver quotes the
/// character it choked on, which may belong to a password.
fn driver_reason(e: &tokio_postgres::Error, url: &str) -> String {
    let mut causes = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    // The driver's own "invalid connection string" repeats ours.
    if causes.len() > 1 && causes[0] == "invalid connection string" {
        causes.remove(0);
    }
    let text = causes.join(": ");
    // Quoted parts survive only if each is a known key or `=`; otherwise
    // everything from the first backtick on goes (a password may hold one).
    let parts: Vec<&str> = text.split('`').collect();
    let harmless = parts.len() % 2 == 1
        && parts
            .iter()
            .skip(1)
            .step_by(2)
            .all(|q| *q == "=" || known_key(q));
    let text = match (harmless, text.find('`')) {
        (false, Some(first)) if text.contains("unknown option") => {
            let options: Vec<&str> = SHOWN_KEYS
                .iter()
                .chain(SECRET_KEYS)
                .filter(|k| !UNSUPPORTED_KEYS.contains(k))
                .copied()
                .collect();
            format!(
                "{}`…` (not shown: a stray quote or space can make part of a password read as \
                 one; the options are {})",
                &text[..first],
                options.join(", ")
            )
        }
        (false, Some(first)) => format!("{}`…`", &text[..first]),
        _ => {
            let quoted = || parts.iter().skip(1).step_by(2);
            match (
                quoted().find(|q| LIBPQ_ONLY_KEYS.contains(q)),
                quoted().find(|q| UNSUPPORTED_KEYS.contains(q)),
            ) {
                (Some(key), _) => format!(
                    "{text} (`{key}` is a libpq option this client does not read: service \
                     files, passfiles and PGSERVICE are not read either; give the host, port, \
                     user, database and sslmode in the URL, the password there or in \
                     PGPASSWORD)"
                ),
                (None, Some(key)) => format!(
                    "{text} (`{key}`: client certificates are not supported; authenticate \
                     with a password, and verify the server with sslmode=verify-full and \
                     sslrootcert)"
                ),
                (None, None) => text,
            }
        }
    };
    scrub(&text, url)
}

/// The argument-parser's error text with every command-line argument that
/// may hold a connection string redacted (a URL given as a stray
/// positional argument, `--postgres-ur=postgres://…`).
pub fn redact_args<I, S>(text: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    redact_with(text, &arg_redactions(args, may_hold_secret)).into_owned()
}

/// Could this text be (or contain) a connection string with a password?
pub fn may_hold_secret(s: &str) -> bool {
    s.contains("://") || s.contains('@') || s.to_ascii_lowercase().contains("password")
}

/// Does this text read as a connection string with a password: a URL
/// ([`redact`] masks something in it) or key=value settings naming one,
/// from its start or from one of [`starts`] (after a comma of a list, a
/// URL within a path)? Narrower than [`may_hold_secret`]: a cluster name
/// or a path with an `@` in it is shown as given.
pub fn holds_password(s: &str) -> bool {
    starts(s).into_iter().any(|i| is_password_string(&s[i..]))
}

/// Where a JSON value (a strategy's config) holds a connection string
/// with its password ([`holds_password`]), in a string or a key: its path
/// (`replica_name`, `windows[0].size`; `a key` for a key of the top level),
/// or `None`. Such a config is never written nor used: a replica name from
/// it would put the password in Materialize's catalog, and every plan,
/// `status` and `history` would show it. So is text that every output
/// masks ([`redact_embedded`]: `r password=x`), which plans would show
/// other than it runs (`CREATE CLUSTER REPLICA "c"."r password=****"`).
pub fn password_in_json(v: &serde_json::Value) -> Option<String> {
    fn secret(s: &str) -> bool {
        holds_password(s) || redact_embedded(s) != s
    }
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        match v {
            serde_json::Value::String(s) => secret(s).then(|| path.to_string()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, &format!("{path}[{i}]"))),
            serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
                let inner = match path {
                    "" => k.clone(),
                    _ => format!("{path}.{k}"),
                };
                if secret(k) {
                    let named = match path {
                        "" => "a key".to_string(),
                        _ => format!("a key of {path}"),
                    };
                    return Some(named);
                }
                walk(item, &inner)
            }),
            _ => None,
        }
    }
    walk(v, "")
}

/// [`holds_password`] of a string read whole, from its start.
fn is_password_string(s: &str) -> bool {
    match url_start(s) {
        Some(_) => redact(s) != s,
        None => !key_values(s).0.is_empty() && s.to_ascii_lowercase().contains("password"),
    }
}

/// Where a connection string may begin in `s`: at its start; where each
/// URL within it begins, its scheme (after a comma of a list, `--cluster
/// a,URL`, or within a path, `/tmp/postgres://u:pw@h`); and after a comma
/// where a key=value setting begins, when `s` names a password. In order,
/// without repeats. Each part is scanned once: an argument is read on
/// every run, and a config given as a flag is long JSON with many commas.
fn starts(s: &str) -> Vec<usize> {
    let mut out = vec![0];
    for (i, _) in s.match_indices("://") {
        out.extend(scheme_before(&s[..i]));
    }
    if s.to_ascii_lowercase().contains("password") {
        for (i, _) in s.match_indices(',') {
            let rest = &s[i + 1..];
            let word = rest.find(|c: char| c == ',' || c == '=' || c.is_whitespace());
            if word.is_some_and(|end| end > 0 && rest[end..].starts_with('=')) {
                out.push(i + 1);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out.retain(|&i| i < s.len());
    out
}

/// `s` with what a connection string of it holds masked: from the first
/// of [`starts`] where `holds` (judging the text from there, whole) finds
/// one, redacted to its end (a password may hold commas: what follows it
/// in a list may be more of it). `None` when `holds` finds none.
fn redacted_within(s: &str, holds: fn(&str) -> bool) -> Option<String> {
    let at = starts(s).into_iter().find(|&i| holds(&s[i..]))?;
    Some(format!("{}{}", &s[..at], redact(&s[at..])))
}

/// What to replace in a message that may echo the command line: each
/// argument `holds` judges secret (whole, the value of `--flag=value`, and
/// each comma-separated part, as list flags split it) with its redacted
/// form, also as the message may have quoted it; longest first, so a
/// shorter one never half-replaces a longer one. A secret found past the
/// start of a value ([`redacted_within`]) is masked to the value's end,
/// and in each part from the one it begins in: a password holding a comma
/// is split by a list flag, and the part after the comma
/// (`--cluster 'postgres://u:a,b@h'` gives `b@h`) is masked up to its last
/// `@`. A list that holds one is refused before it is split
/// (`cli::args::parse_cluster_list`, `--replica-sizes`), so no message
/// quotes a part without an `@`.
fn arg_redactions<I, S>(args: I, holds: fn(&str) -> bool) -> Vec<(String, String)>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    // As written, and as a message may quote it: an SQL identifier (`""`)
    // or literal (`''`), a shell's single quotes (`'\''`, how a selection
    // or a command line is repeated), with hidden characters escaped
    // (`\u{1b}`); each also inside a JSON string or `{:?}` (`\"`). The
    // shell's form was missed: a password holding a quote or an ESC showed
    // past it (an outside check).
    let quotings: [fn(&str) -> String; 6] = [
        |s| s.to_string(),
        |s| s.replace('"', "\"\""),
        |s| s.replace('\'', "''"),
        |s| s.replace('\'', "'\\''"),
        |s| crate::model::printable(s),
        |s| crate::model::printable(&s.replace('\'', "'\\''")),
    ];
    let json = |s: &str| {
        let json = serde_json::to_string(s).unwrap_or_default();
        let inner = json.get(1..json.len().saturating_sub(1));
        inner.unwrap_or_default().to_string()
    };
    let mut out = Vec::new();
    let mut add = |secret: &str, shown: String| {
        for quote in quotings {
            let (secret, shown) = (quote(secret), quote(&shown));
            out.push((json(&secret), json(&shown)));
            out.push((secret, shown));
        }
    };
    for arg in args {
        let arg = arg.as_ref().to_string_lossy().into_owned();
        let value = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') && !flag.contains(' ') => {
                if let Some(shown) = redacted_within(value, holds) {
                    add(&arg, format!("{flag}={shown}"));
                }
                value
            }
            _ => &arg,
        };
        // The value whole, and from each start of a secret in it on.
        let secrets: Vec<usize> = starts(value)
            .into_iter()
            .filter(|&i| holds(&value[i..]))
            .collect();
        if let Some(shown) = redacted_within(value, holds) {
            add(value, shown);
        }
        for &i in secrets.iter().filter(|&&i| i > 0) {
            add(&value[i..], redact(&value[i..]));
        }
        // Each directory of it: a message about a file names the file's
        // directory (`--out postgres://u:pw@h/db`: no directory
        // `postgres://u:pw@h`), which the value whole does not match.
        if !secrets.is_empty() {
            for (j, _) in value.match_indices('/') {
                if let Some(shown) = redacted_within(&value[..j], holds) {
                    add(&value[..j], shown);
                }
            }
        }
        // Each part, as a list flag splits the value.
        let mut secret_before = false;
        for piece in value.split(',') {
            if let Some(shown) = redacted_within(piece, holds) {
                add(piece, shown);
                secret_before = true;
            } else if let Some(host) = piece.rfind('@').filter(|_| secret_before) {
                // More of a password split at a comma, up to its `@`.
                add(piece, format!("{MASK}{}", &piece[host..]));
            }
        }
    }
    out.retain(|(secret, shown)| !secret.is_empty() && secret != shown);
    out.sort_by_key(|(secret, _)| std::cmp::Reverse(secret.len()));
    out.dedup();
    out
}

fn redact_with<'a>(text: &'a str, redactions: &[(String, String)]) -> std::borrow::Cow<'a, str> {
    let mut out = std::borrow::Cow::Borrowed(text);
    for (secret, shown) in redactions {
        if out.contains(secret.as_str()) {
            out = std::borrow::Cow::Owned(out.replace(secret.as_str(), shown));
        }
    }
    out
}

/// `text` with every connection string of this process's command line
/// that holds a password redacted. Every door out of the process (stdout,
/// our stderr lines, the log) passes through it: a URL given where a name,
/// a size or a file belongs (`describe "$DATABASE_URL"`, a `--cluster` fed
/// the wrong variable) comes back in the message that refuses it.
///
/// Then, whatever the command line held, every connection string written
/// in the text itself is masked ([`redact_embedded`]): one that came from a
/// strategy row's config, the catalog, or a part of an argument the
/// message quotes without what surrounded it (a URL inside a JSON config).
pub fn redact_echoed(text: &str) -> std::borrow::Cow<'_, str> {
    static REDACTIONS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    let redactions = REDACTIONS.get_or_init(|| command_line_redactions(std::env::args_os()));
    match redact_with(text, redactions) {
        std::borrow::Cow::Borrowed(t) => redact_embedded(t),
        std::borrow::Cow::Owned(t) => match redact_embedded(&t) {
            std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Owned(t),
            std::borrow::Cow::Owned(masked) => std::borrow::Cow::Owned(masked),
        },
    }
}

/// `v` with every connection string in its strings and keys masked
/// ([`redact_embedded`]): what an operator's command writes to the audit
/// trail (a strategy type, a config, a pause's reason holding one by
/// mistake) is masked there too, not only where it is shown.
pub fn redact_json(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(masked) = redact_embedded(s) {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        Value::Object(map) => {
            let masked: serde_json::Map<String, Value> = std::mem::take(map)
                .into_iter()
                .map(|(k, mut v)| {
                    redact_json(&mut v);
                    (redact_embedded(&k).into_owned(), v)
                })
                .collect();
            *map = masked;
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Ends a connection string written in running text: a blank, a quote (as
/// a message quotes a value: `'…'`, `"…"`, `` `…` ``) or a JSON escape.
fn ends_embedded(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '\\')
}

/// `text` with every connection string written in it masked: each URL
/// (from its scheme to the first blank or quote, [`ends_embedded`]) as
/// [`redact`] masks it, and each `password=` value (any case: `PASSWORD`,
/// `sslpassword`, `?password=`) to its end (a quoted one to its closing
/// quote). A password holding a blank or a quote is masked only up to it:
/// the command line's own strings are masked whole before this
/// ([`redact_echoed`]); this is the backstop for the others.
pub fn redact_embedded(text: &str) -> std::borrow::Cow<'_, str> {
    let mut out = std::borrow::Cow::Borrowed(text);
    if text.contains("://") {
        let mut masked = String::with_capacity(text.len());
        let mut copied = 0;
        for (i, _) in text.match_indices("://") {
            if i < copied {
                continue;
            }
            let Some(start) = scheme_before(&text[copied..i]).map(|j| copied + j) else {
                continue;
            };
            let end = text[i + 3..]
                .find(ends_embedded)
                .map_or(text.len(), |e| i + 3 + e);
            masked.push_str(&text[copied..start]);
            masked.push_str(&redact(&text[start..end]));
            copied = end;
        }
        masked.push_str(&text[copied..]);
        if masked != text {
            out = std::borrow::Cow::Owned(masked);
        }
    }
    // Every line out passes here: no lowercase copy of one without it.
    let has_password = (out.as_bytes().windows(8)).any(|w| w.eq_ignore_ascii_case(b"password"));
    if !has_password {
        return out;
    }
    let lower = out.to_ascii_lowercase();
    let mut masked = String::with_capacity(out.len());
    let mut copied = 0;
    for (i, _) in lower.match_indices("password") {
        if i < copied {
            continue;
        }
        let after = i + "password".len();
        let rest = &out[after..];
        let blanks = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if !rest[blanks..].starts_with('=') {
            continue;
        }
        let value_at = after + blanks + 1;
        let value = &out[value_at..];
        let value = &value[value.len() - value.trim_start_matches([' ', '\t']).len()..];
        let value_at = out.len() - value.len();
        let len = match value.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(value.len(), |e| e + 2),
            None => value
                .find(|c: char| ends_embedded(c) || c == '&')
                .unwrap_or(value.len()),
        };
        if len == 0 || &value[..len] == MASK {
            continue;
        }
        masked.push_str(&out[copied..value_at]);
        masked.push_str(MASK);
        copied = value_at + len;
    }
    if copied == 0 {
        return out;
    }
    masked.push_str(&out[copied..]);
    std::borrow::Cow::Owned(masked)
}

/// What [`redact_echoed`] replaces, and with what, for a command line
/// `args`: every connection string holding a password, as a message may
/// quote it. Read once per process, over every argument (a config given as
/// a flag may be long JSON: `cargo bench --bench redact` times one).
pub fn command_line_redactions<I, S>(args: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    arg_redactions(args, is_password_string)
}

/// Lines of a `.env` whose value dotenv reads `$NAME` in as another
/// variable's value (unquoted or in double quotes): a password holding
/// `$` came out changed, and the authentication failure gave no hint (an
/// outside check). Said by line and key, never the value; single quotes
/// keep a value as written.
pub fn dotenv_substitutions(path: &std::path::Path, content: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(content);
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line);
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let value = value.trim_start();
            let substituted = !value.starts_with('\'')
                && value
                    .char_indices()
                    // `${NAME}` is meant; a bare `$` may not be.
                    .any(|(j, c)| {
                        c == '$' && !value[..j].ends_with('\\') && !value[j + 1..].starts_with('{')
                    });
            substituted.then(|| {
                format!(
                    "{} line {}: the value of {} holds `$`, which .env reads as the start of \
                     another variable's name (`$NAME`); if it is part of the value (a password), \
                     put the value in single quotes (write `${{NAME}}` for a variable)",
                    path.display(),
                    i + 1,
                    crate::model::echoed(key.trim())
                )
            })
        })
        .collect()
}

/// What to say about a `.env` (`path`, read as `content`) that could not
/// be loaded: never its content, which may hold a password (dotenvy's own
/// message quotes the line).
pub fn dotenv_error(path: &std::path::Path, content: &[u8], e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, _) => {
            let first = line.lines().next().unwrap_or_default();
            let text = String::from_utf8_lossy(content);
            // The line that is it, whole: a search for its text found it
            // inside an earlier line (`A=hello` for `hello`), and named a
            // line that was loaded (an outside check).
            let number = text
                .lines()
                .position(|l| l.trim() == first.trim())
                .map(|i| i + 1)
                .or_else(|| {
                    text.find(first)
                        .map(|at| text[..at].matches('\n').count() + 1)
                });
            format!(
                "{}: cannot parse {} (e.g. an unterminated quote); it and the lines after it were \
                 not loaded (the line is not shown: it may hold a password)",
                path.display(),
                number.map_or("a line".to_string(), |n| format!("line {n}"))
            )
        }
        dotenvy::Error::EnvVar(_) => format!(
            "{}: a variable it refers to is not valid unicode; not loaded",
            path.display()
        ),
        dotenvy::Error::Io(io) => format!("{}: cannot be read: {io}", path.display()),
        _ => format!("{}: could not be loaded", path.display()),
    }
}

/// Where the driver and a human would read a URL differently, refuse it
/// rather than connect somewhere unintended or print part of a password as
/// a host or user name.
fn check_url_shape(url: &str) -> Result<(), String> {
    let Some(start) = url_start(url) else {
        return match key_values(url) {
            (pairs, true) if !pairs.is_empty() => Ok(()),
            (pairs, _) if pairs.is_empty() => Err("neither a postgres:// URL nor key=value \
                 settings (host=… port=… user=… password=… dbname=…)"
                .into()),
            _ => Err(
                "a key=value setting is cut short (an unterminated quote, or a key \
                 without '=' or value)"
                    .into(),
            ),
        };
    };
    let scheme = &url[..start - 3];
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(format!(
            "unknown scheme '{}' (use postgres:// or postgresql://)",
            if plain_keyword(scheme) { scheme } else { "…" }
        ));
    }
    let rest = &url[start..];
    let Some(at) = rest.find('@') else {
        return match not_a_port(rest) {
            Some(_) => Err(
                "a port that is not a number: a user:password needs '@' and \
                 the host after it (postgres://user:password@host:6875/db); an '@' \
                 written %40 is part of the password"
                    .into(),
            ),
            None => Ok(()),
        };
    };
    if rest.matches('@').count() > 1 {
        return Err(
            "more than one '@': an '@' in the user name, the password or a \
             parameter must be percent-encoded as %40"
                .into(),
        );
    }
    let user = rest[..at].split(':').next().unwrap_or_default();
    if user.contains(['/', '?']) {
        return Err(
            "an '@' after the host (in the database name or a parameter) must be \
             percent-encoded as %40"
                .into(),
        );
    }
    let host = rest[at + 1..].split(['/', '?']).next().unwrap_or_default();
    if host.contains('@') {
        return Err("the user name or password contains an unencoded '@': \
             percent-encode it as %40"
            .into());
    }
    Ok(())
}

/// Warns when a `.env` holding a password can be read by others.
pub fn check_dotenv_permissions(path: &std::path::Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).ok()?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Some(format!(
                "{} is readable by other users (mode {:o}); it may hold a password: chmod 600 it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    let _ = path;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More ports than hosts (or fewer, but more than one) is an invalid
    /// connection string, said before any connection.
    #[test]
    fn ports_must_be_one_or_one_per_host() {
        let parse = |url: &str| Connection::parse(url, Duration::from_secs(1));
        let err = parse("postgres://u:pw@h/db?port=2,3")
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("do not match the 1 host") && !e.contains("pw@")),
            "{err:?}"
        );
        assert!(parse("postgres://u:pw@a:1,b:2/db").is_ok());
        assert!(parse("host=a,b port=5 user=u").is_ok());
        assert!(parse("host=a,b,c port=5,6 user=u").is_err());
        for empty in [
            "postgres://u:pw@h/db?port=",
            "postgres://u:pw@h/db?port=&sslmode=require",
        ] {
            let err = parse(empty)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("port= is empty"), "{empty}: {err}");
        }
    }

    /// A `$` in a `.env` value dotenv substitutes is said, by line and key,
    /// never the value; single quotes, escapes and comments are quiet.
    #[test]
    fn a_dollar_dotenv_substitutes_is_said_without_the_value() {
        let env = "A=1\nDATABASE_URL=postgres://u:pa$HOMEx@h/d\nB='pa$x'\n# C=$x\n\
                   export D=\"q$y\"\nE=pa\\$z\nF=${PW}\n";
        let said = dotenv_substitutions(std::path::Path::new(".env"), env.as_bytes());
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said[0].contains("line 2: the value of DATABASE_URL"),
            "{said:?}"
        );
        assert!(said[1].contains("line 5: the value of D"), "{said:?}");
        assert!(!said.concat().contains("HOME"), "{said:?}");
    }

    /// A workload's `application_name` in the connection string makes its
    /// statements look like clusterctl's (left out of the activity
    /// signal): warned of; an empty one, every nameless workload's, is
    /// refused; clusterctl's own, or one naming it, is quiet.
    #[test]
    fn an_application_name_of_a_workload_is_warned_of_and_an_empty_one_refused() {
        let conn = |q: &str| {
            Connection::parse(
                &format!("postgres://u:pw@h:6875/db{q}"),
                Duration::from_secs(1),
            )
        };
        let warning = |q: &str| conn(q).ok().and_then(|c| c.application_name_warning());
        assert_eq!(warning(""), None, "clusterctl's own by default");
        assert_eq!(warning("?application_name=clusterctl-prod"), None);
        assert_eq!(warning("?application_name=ClusterCtl"), None);
        let said = warning("?application_name=psql").unwrap_or_default();
        assert!(said.contains("application_name=psql"), "{said}");
        assert!(said.contains("idle_suspend"), "{said}");
        for empty in ["?application_name=", "?application_name=%20"] {
            let err = conn(empty).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("application_name is empty"), "{empty}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
        let kv = Connection::parse(
            "host=h user=u application_name='' password=pw",
            Duration::from_secs(1),
        );
        assert!(kv.is_err(), "key=value form too");
    }

    /// `--connect-timeout` given wins over the URL's `connect_timeout`;
    /// without the flag, the URL's wins over the default.
    #[test]
    fn a_given_connect_timeout_wins_over_the_urls() {
        let url = "postgres://u@127.0.0.1:6875/db?connect_timeout=15";
        let secs = |t: ConnectTimeout, url: &str| {
            Connection::parse_with(url, t)
                .ok()
                .and_then(|c| c.pg.get_connect_timeout().copied())
                .map(|d| d.as_secs())
        };
        let two = Duration::from_secs(2);
        assert_eq!(secs(ConnectTimeout::Given(two), url), Some(2));
        assert_eq!(secs(ConnectTimeout::Default(two), url), Some(15));
        let plain = "postgres://u@127.0.0.1:6875/db";
        assert_eq!(secs(ConnectTimeout::Default(two), plain), Some(2));
    }

    /// Connection strings written inside a message, wherever they came
    /// from (a row's config, a URL inside a JSON argument): masked, and
    /// the rest of the message kept.
    #[test]
    fn connection_strings_written_in_a_message_are_masked() {
        for (text, shown) in [
            (
                "key 'target_size': unknown size 'postgres://u:hunter2@h/db'; sizes are 25cc",
                "key 'target_size': unknown size 'postgres://u:****@h/db'; sizes are 25cc",
            ),
            (
                r#"{"message":"unknown key \"postgres://u:hunter2@h/db\""}"#,
                r#"{"message":"unknown key \"postgres://u:****@h/db\""}"#,
            ),
            (
                "CREATE CLUSTER REPLICA \"c2\".\"postgresql://u:p@ss@h:6875/db?sslmode=require\"",
                "CREATE CLUSTER REPLICA \"c2\".\"postgresql://u:****@h:6875/db?sslmode=require\"",
            ),
            (
                "a URL postgres://h/db?user=u&password=hunter2 and more",
                "a URL postgres://h/db?user=u&password=**** and more",
            ),
            (
                "name 'host=h PASSWORD = hunter2 user=u'",
                "name 'host=h PASSWORD = **** user=u'",
            ),
            (
                "dsn host=h password='a b' sslpassword=x&y",
                "dsn host=h password=**** sslpassword=****&y",
            ),
            (
                "see https://materialize.com/docs/",
                "see https://materialize.com/docs/",
            ),
            (
                "postgres://u:****@h/db, password=****",
                "postgres://u:****@h/db, password=****",
            ),
            (
                "the password is wrong; password= ",
                "the password is wrong; password= ",
            ),
            ("://x, a://", "://x, a://"),
        ] {
            assert_eq!(redact_embedded(text), shown, "{text}");
        }
        assert!(matches!(
            redact_embedded("plain text, nothing to hide"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_password_in_a_config_is_found_where_it_is() {
        let url = "postgres://u:hunter2@h/db";
        let at = |v: serde_json::Value| password_in_json(&v);
        assert_eq!(
            at(serde_json::json!({"replica_name": url})).as_deref(),
            Some("replica_name")
        );
        assert_eq!(
            at(serde_json::json!({"windows": [{"size": "25cc"}, {"size": url}]})).as_deref(),
            Some("windows[1].size")
        );
        assert_eq!(at(serde_json::json!({ url: 1 })).as_deref(), Some("a key"));
        assert_eq!(
            at(serde_json::json!({"w": {"host=h password=x": 1}})).as_deref(),
            Some("a key of w")
        );
        assert_eq!(
            at(serde_json::json!({"replica_name": "r@1", "target_size": "25cc", "n": 3})),
            None
        );
        // Text every output masks: a name shown other than it is (the
        // outside check's `--replica-name 'r password=hunter2'`).
        assert_eq!(
            at(serde_json::json!({"replica_name": "r password=hunter2"})).as_deref(),
            Some("replica_name")
        );
        assert_eq!(
            at(serde_json::json!({"replica_name": "r_password_2"})),
            None
        );
    }

    /// A key=value string whose last key is the password: the `: ` before
    /// the reason survives every door out (the backstop masked it with
    /// the password's value, `password=**** invalid value …`).
    #[test]
    fn a_bad_connection_strings_reason_keeps_its_separator() {
        let e = ConfigError::BadUrl {
            url: redact("host=h port=abc password=secret"),
            reason: "invalid value for option `port`".into(),
        };
        assert_eq!(
            redact_embedded(&e.to_string()),
            "invalid connection string 'host=h port=abc password=****': invalid value for option `port`"
        );
    }

    #[test]
    fn redacts_every_form() {
        assert_eq!(
            redact("postgres://u:s3cr%40t@h:6875/db?sslmode=require"),
            "postgres://u:****@h:6875/db?sslmode=require"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact("host=h user=u password=hunter2 sslmode=require"),
            "host=h user=u password=**** sslmode=require"
        );
        assert_eq!(
            redact("postgres://h/db?user=u&password=hunter2"),
            "postgres://h/db?user=u&password=****"
        );
    }

    /// Without an `@`, the driver reads `user:password` as `host:port`:
    /// the password was shown in full, as a port it refused.
    #[test]
    fn a_password_without_its_host_is_masked_and_refused() {
        for (url, shown) in [
            ("postgres://u:Secr3tPw/db", "postgres://u:****"),
            ("postgres://u:Secr3tPw", "postgres://u:****"),
            ("postgres://u:Secr3t?Pw/db", "postgres://u:****"),
            (
                "postgres://admin:Secr3tPw%40h:6875/db",
                "postgres://admin:****",
            ),
            ("postgres://u:12345678/db", "postgres://u:****"),
            (
                "postgres://h1:6875,u:Secr3tPw/db",
                "postgres://h1:6875,u:****",
            ),
            ("postgres://[::1]:x9Pw/db", "postgres://[::1]:****"),
            // Ports, shown.
            (
                "postgres://h:6875/db?sslmode=disable",
                "postgres://h:6875/db?sslmode=disable",
            ),
            (
                "postgres://h1:6875,h2,[::1]:5432/db",
                "postgres://h1:6875,h2,[::1]:5432/db",
            ),
            ("postgres://h/db", "postgres://h/db"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            let refused = Connection::parse(url, Duration::from_secs(1));
            if shown.contains(MASK) {
                let err = refused.unwrap_err().to_string();
                assert!(!err.contains("Secr3t") && !err.contains("x9Pw"), "{err}");
                assert!(err.contains("needs '@' and the host"), "{err}");
            }
        }
    }

    #[test]
    fn redaction_follows_the_driver_whatever_the_password_holds() {
        for (url, pw) in [
            ("postgres://u:Ab3/Xy+9Qw==@h:6875/db", "Ab3/Xy+9Qw=="),
            ("postgres://u:a?b#c@h/db?sslmode=disable", "a?b#c"),
            ("postgres://u:p@ss@h/db", "ss"),
            ("postgres://u:a:b%zz@h/db", "a:b%zz"),
            ("postgres://u:caf\u{e9}\u{1f600}@h/db", "caf\u{e9}"),
            ("postgres://h/db?password=a@b", "password=a"),
            ("postgres://h/db?password=a@secret&x=y", "secret"),
            ("postgres://u@h/db?application_name=x@y&password=zz", "zz"),
            ("postgres://h/db?pass%77ord=hunter2", "hunter2"),
            ("postgres://h/db?pasword=hunter2", "hunter2"),
            ("postgress://u:hunter2@h/db", "hunter2"),
            ("host=h password='a b\\' c' user=u", "a b"),
            ("host=h password=a\\ b user=u", "b user"),
            ("host=h password='unterminated user=u", "unterminated"),
            ("host=h hunter2", "hunter2"),
            ("u:hunter2@h=1", "hunter2"),
            // A quote in the password ends it: the rest reads as a key.
            (
                "host=h password='a0AAaAaa'LRCAR0nt=qN0PdP1Z user=u",
                "LRCAR0nt",
            ),
            ("postgres://h/db?sslmode=disable&LRCAR0nt=x", "LRCAR0nt"),
        ] {
            let shown = redact(url);
            assert!(!shown.contains(pw), "{url} -> {shown}");
            assert!(shown.contains(MASK), "{url} -> {shown}");
        }
        assert_eq!(
            redact("postgres://u:a/b?c@h:6875/db?sslmode=require&application_name=x"),
            "postgres://u:****@h:6875/db?sslmode=require&application_name=x"
        );
        assert_eq!(
            redact("host=h port=6875 user=u password='a b'"),
            "host=h port=6875 user=u password=****"
        );
    }

    #[test]
    fn urls_the_driver_would_misread_are_refused_without_echo() {
        for url in [
            "postgres://u:p@ss@127.0.0.1/db",
            "postgres://u:a/b@c@127.0.0.1/db",
            "postgres://127.0.0.1/db?password=se@cret",
            "postgress://u:secret@127.0.0.1/db",
            // The driver's "unknown option" names what a quote split off.
            "host=127.0.0.1 port=5432 password='a0AAaAaa'LRCAR0nt=qN0PdP1Z%/",
        ] {
            let err = Connection::parse(url, Duration::from_secs(1))
                .unwrap_err()
                .to_string();
            for part in ["ss@", "secret", "se@", "a/b", "LRCAR0nt", "a0AAaAaa", "qN0"] {
                assert!(!err.contains(part), "{url}: {err}");
            }
        }
        // An unknown option is not named, but the known ones are listed.
        let err = Connection::parse(
            "postgres://u:secret@127.0.0.1/db?bogus=1",
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown option `…` (not shown")
                && err.contains("sslmode")
                && !err.contains("bogus"),
            "{err}"
        );
        // A libpq option the driver does not take is named, and why.
        for url in [
            "postgres://u:secret@127.0.0.1/db?service=prod",
            "service=prod password=secret",
        ] {
            let err = Connection::parse(url, Duration::from_secs(1))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("unknown option `service`")
                    && err.contains("a libpq option this client does not read")
                    && !err.contains("secret"),
                "{url}: {err}"
            );
        }
        // A client certificate: named, and why.
        let err = Connection::parse(
            "postgres://u:secret@127.0.0.1/db?sslcert=/c.pem",
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("client certificates are not supported") && !err.contains("secret"),
            "{err}"
        );
        // Unencoded `/`, `?`, `#` and `:` are read as the driver reads them.
        let c = Connection::parse(
            "postgres://u:a/b?c#d:e@127.0.0.1:6875/db?sslmode=verify-full",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.pg.get_password(), Some("a/b?c#d:e".as_bytes()));
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(
            c.display,
            "postgres://u:****@127.0.0.1:6875/db?sslmode=verify-full"
        );
        let c = Connection::parse(
            "host=127.0.0.1 password = 'a  b' sslmode=disable",
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.pg.get_password(), Some("a  b".as_bytes()));
        assert_eq!(c.ssl_mode, SslMode::Disable);
    }

    #[test]
    fn driver_errors_quote_nothing_of_the_string() {
        let err = Connection::parse(
            "host=h password=x9secret9 port=nope",
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("x9secret9"), "{err}");
        let err = Connection::parse("hunter2", Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn clap_errors_and_dotenv_errors_are_redacted() {
        let text = "error: unexpected argument 'postgres://u:hunter2@h/db' found";
        let out = redact_args(text, ["clusterctl", "dry-run", "postgres://u:hunter2@h/db"]);
        assert_eq!(
            out,
            "error: unexpected argument 'postgres://u:****@h/db' found"
        );
        let out = redact_args(
            "unexpected argument '--postgres-ur=postgres://u:hunter2@h/db'",
            ["--postgres-ur=postgres://u:hunter2@h/db"],
        );
        assert!(!out.contains("hunter2"), "{out}");
        let dir = std::env::temp_dir().join(format!("clusterctl-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".env");
        // What loading a .env of `text` says of its first bad line.
        let said = |text: &str| {
            std::fs::write(&path, text).unwrap();
            let e = dotenvy::from_path_iter(&path)
                .unwrap()
                .find_map(Result::err)
                .unwrap();
            dotenv_error(&path, text.as_bytes(), &e)
        };
        let msg = said("A=1\nDATABASE_URL='postgres://u:hunter2@h/db\n");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
        // The line that is the bad one, not an earlier line holding its
        // text (`A=hello` for `hello`: it said line 1).
        let msg = said("A=hello\nB=2\nhello\n");
        assert!(msg.contains("cannot parse line 3"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A password holding a comma, in a list flag (`--cluster a,URL`),
    /// was split there, and the part before the comma redacted but the
    /// part after it (`ss@h/db`: what `--cluster` then names) echoed; a
    /// URL at the end of a path was not seen at all.
    #[test]
    fn a_password_split_by_a_list_or_behind_a_path_is_never_echoed() {
        assert!(holds_password("a,postgres://u:pa,ss@h/db"));
        assert!(holds_password("/tmp/postgres://u:pw@h"));
        assert!(holds_password("25cc,host=h password=x"));
        for plain in [
            "a,b",
            "/tmp/x://y",
            "team@prod,a",
            "https://h:443/x",
            ",://",
        ] {
            assert!(!holds_password(plain), "{plain}");
        }
        let args = [
            "clusterctl",
            "history",
            "--cluster",
            "a,postgres://u:pa,ss@h/db",
            "/tmp/postgres://u:pw9@h",
            "--out=/tmp/postgres://u:pw8@h",
            "x,/tmp/postgres://u:p7,q7@h,y",
            "team@prod,a",
            "postgres://u:pw5@h/db",
            "--out=/tmp/postgres://u:pw6@h/d/plan.json",
        ];
        let r = arg_redactions(args, is_password_string);
        for (text, shown) in [
            (
                "no cluster 'ss@h/db' (of a,postgres://u:pa,ss@h/db)",
                "no cluster '****@h/db' (of a,postgres://u:****@h/db)",
            ),
            (
                "no cluster 'postgres://u:pa'",
                "no cluster 'postgres://u:****'",
            ),
            (
                "cannot read /tmp/postgres://u:pw9@h: no such file",
                "cannot read /tmp/postgres://u:****@h: no such file",
            ),
            (
                "unexpected '--out=/tmp/postgres://u:pw8@h'",
                "unexpected '--out=/tmp/postgres://u:****@h'",
            ),
            (
                "'/tmp/postgres://u:p7' 'q7@h'",
                "'/tmp/postgres://u:****' '****@h'",
            ),
            ("a team@prod x", "a team@prod x"),
            // A file's directory, as `--out`'s refusal names it.
            (
                "the directory postgres://u:pw5@h does not exist",
                "the directory postgres://u:****@h does not exist",
            ),
            (
                "the directory /tmp/postgres://u:pw6@h/d does not exist",
                "the directory /tmp/postgres://u:****@h/d does not exist",
            ),
        ] {
            let out = redact_with(text, &r);
            assert_eq!(out, shown);
            for secret in ["pa", "ss", "pw9", "pw8", "p7", "q7", "pw5", "pw6"] {
                assert!(!out.contains(&format!("{secret}@")), "{out}");
                assert!(!out.contains(&format!(":{secret}")), "{out}");
            }
        }
    }

    /// Every argument is read for secrets on every run: a config given as
    /// a flag is long JSON with many commas, and reading it from each
    /// comma on (the text to its end each time) took seconds. What is
    /// found in it is checked here; how long the reading takes (under 2 s)
    /// is the benchmark's (`cargo bench --bench redact`).
    #[test]
    fn a_long_argument_is_read_once_per_part() {
        let json = format!(
            "[{}{{}}]",
            "{\"cron\": \"0 0 9 * * *\", \"size\": \"25cc\"},".repeat(20_000)
        );
        let with_url = format!("{json},postgres://u:pw@h");
        assert!(!holds_password(&json));
        assert!(holds_password(&with_url));
        let r = command_line_redactions(["clusterctl", json.as_str(), with_url.as_str()]);
        assert!(r
            .iter()
            .any(|(_, shown)| shown.ends_with("postgres://u:****@h")));
    }

    #[test]
    fn connection_strings_of_the_command_line_are_redacted_wherever_echoed() {
        let url = r#"postgres://u:Kx7"Wq2'Lm9@h/db"#;
        let args = [
            "clusterctl".to_string(),
            "describe".into(),
            url.into(),
            format!("--cluster=a,{url}"),
            "host=h password=Zq9secret".into(),
            // Not connection strings: shown as given.
            "team@prod".into(),
            "/var/lib/clusterctl@prod/m.prom".into(),
            "postgres://h/db?sslmode=disable".into(),
        ];
        let r = arg_redactions(&args, is_password_string);
        for (text, shown) in [
            (
                format!("cluster {url}: no"),
                r#"cluster postgres://u:****@h/db: no"#,
            ),
            (
                r#"schema "postgres://u:Kx7""Wq2'Lm9@h/db""#.to_string(),
                r#"schema "postgres://u:****@h/db""#,
            ),
            (
                r#"'postgres://u:Kx7"Wq2''Lm9@h/db'"#.to_string(),
                "'postgres://u:****@h/db'",
            ),
            (
                r#"{"message":"postgres://u:Kx7"Wq2'Lm9@h/db"}"#.to_string(),
                r#"{"message":"postgres://u:****@h/db"}"#,
            ),
            (
                format!("unexpected '--cluster=a,{url}'"),
                "unexpected '--cluster=a,postgres://u:****@h/db'",
            ),
            (
                "sizes: a, host=h password=Zq9secret".into(),
                "sizes: a, host=h password=****",
            ),
            (
                "team@prod /var/lib/clusterctl@prod/m.prom postgres://h/db?sslmode=disable".into(),
                "team@prod /var/lib/clusterctl@prod/m.prom postgres://h/db?sslmode=disable",
            ),
        ] {
            assert_eq!(redact_with(&text, &r), shown);
        }
    }

    #[test]
    fn parses_tls_modes_tokio_postgres_lacks() {
        let c = Connection::parse(
            "postgres://u:pw@localhost:6875/materialize?sslmode=verify-full&sslrootcert=/ca.pem",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyFull);
        assert_eq!(c.ssl_root_cert, Some(PathBuf::from("/ca.pem")));
        assert!(!c.display.contains("pw"));
    }

    /// libpq 16's `sslrootcert=system`: the system's roots, and the host
    /// name checked (verify-full by default, a weaker mode refused).
    #[test]
    fn sslrootcert_system_is_the_system_store_with_verify_full() {
        let parse = |q: &str| {
            Connection::parse(
                &format!("postgres://u:pw@h:6875/materialize?{q}"),
                Duration::from_secs(5),
            )
        };
        for q in [
            "sslrootcert=system",
            "sslrootcert=system&sslmode=verify-full",
            "sslmode=verify-full&sslrootcert=system",
        ] {
            let c = parse(q).map_err(|e| e.to_string());
            assert_eq!(
                c.map(|c| (c.ssl_mode, c.ssl_root_cert)),
                Ok((SslMode::VerifyFull, Some(PathBuf::from(SYSTEM_ROOTS)))),
                "{q}"
            );
        }
        for weak in ["require", "verify-ca", "prefer", "disable"] {
            let err = parse(&format!("sslmode={weak}&sslrootcert=system"))
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(
                err.as_ref().is_err_and(|e| e.contains(&format!(
                    "sslrootcert=system needs sslmode=verify-full (as libpq: the system's roots \
                     trust any host they signed for), not {weak}"
                ))),
                "{weak}: {err:?}"
            );
        }
    }

    #[test]
    fn bad_urls_are_clear_and_redacted() {
        let err = Connection::parse(
            "postgres://u:topsecret@h/db?sslmode=sometimes",
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown sslmode 'sometimes'"), "{err}");
        assert!(!err.contains("topsecret"), "{err}");
        let err = Connection::parse(
            "postgres://u:topsecret@h:notaport/db",
            Duration::from_secs(1),
        )
        .unwrap_err()
        .to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// Whatever a password holds, no form of connection string shows it.
        #[test]
        fn no_password_survives_redaction(
            pw in "[ -~\u{e9}\u{540d}\u{1f600}]{6,80}",
            user in "[a-z][a-z0-9_]{0,8}",
        ) {
            let quoted = pw.replace('\\', "\\\\").replace('\'', "\\'");
            // No six consecutive characters of the password, anywhere.
            let chars: Vec<char> = pw.chars().collect();
            let pieces: Vec<String> = chars.windows(6).map(|w| w.iter().collect()).collect();
            for url in [
                format!("postgres://{user}:{pw}@127.0.0.1:6875/db?sslmode=require"),
                format!("postgresql://{user}:{pw}@127.0.0.1/db"),
                format!("postgres://{user}@127.0.0.1/db?password={}", pw.replace('&', "%26")),
                format!("host=127.0.0.1 user={user} password='{quoted}' sslmode=disable"),
            ] {
                let shown = redact(&url);
                let err = Connection::parse(&url, Duration::from_secs(1)).err();
                let msg = err.map(|e| e.to_string()).unwrap_or_default();
                for piece in &pieces {
                    proptest::prop_assert!(!shown.contains(piece), "{} -> {}", url, shown);
                    proptest::prop_assert!(!msg.contains(piece), "{} -> {}", url, msg);
                }
            }
        }
    }

    #[test]
    fn debug_of_a_url_is_redacted() {
        let url: DatabaseUrl = "postgres://u:hunter2@h/db".parse().unwrap();
        assert_eq!(format!("{url:?}"), "\"postgres://u:****@h/db\"");
        assert_eq!(url.expose(), "postgres://u:hunter2@h/db");
    }

    #[test]
    fn scrub_removes_password_from_messages() {
        assert_eq!(
            scrub("could not auth as u:hunter2", "postgres://u:hunter2@h/db"),
            "could not auth as u:****"
        );
    }
}
