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
    #[error("invalid connection string {url}: {reason}")]
    BadUrl { url: String, reason: String },
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

impl Connection {
    pub fn parse(url: &str, connect_timeout: Duration) -> Result<Connection, ConfigError> {
        let display = redact(url);
        let bad = |reason: String| ConfigError::BadUrl {
            url: display.clone(),
            reason,
        };
        let (rest, ssl_mode, root) = split_tls_params(url).map_err(bad)?;
        let mut pg =
            tokio_postgres::Config::from_str(&rest).map_err(|e| bad(scrub(&e.to_string(), url)))?;
        if pg.get_hosts().is_empty() {
            return Err(bad("no host given".into()));
        }
        pg.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(connect_timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("clusterctl");
        }
        Ok(Connection {
            pg,
            ssl_mode,
            ssl_root_cert: root.map(PathBuf::from),
            display,
        })
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
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    if !take(k, &percent_decode(v))? {
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
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            if !take(k, v.trim_matches('\''))? {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    Ok((rest, mode.unwrap_or(SslMode::Prefer), root))
}

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

/// The connection string with any password replaced by `****`, in both the
/// URL form (`user:pw@host`, `?password=`) and the key=value form.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let after = scheme_end + 3;
        let authority_end = out[after..]
            .find(['/', '?'])
            .map(|i| after + i)
            .unwrap_or(out.len());
        if let Some(at) = out[after..authority_end].rfind('@') {
            let userinfo = &out[after..after + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(after + colon + 1..after + at, "****");
            }
        }
    }
    let re = regex::Regex::new(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*)");
    match re {
        Ok(re) => re.replace_all(&out, "${1}****").into_owned(),
        Err(_) => out,
    }
}

/// Removes the password of `url` from a message that might echo it.
pub fn scrub(message: &str, url: &str) -> String {
    match password_of(url) {
        Some(pw) if !pw.is_empty() => message.replace(&pw, "****"),
        _ => message.to_string(),
    }
}

fn password_of(url: &str) -> Option<String> {
    if let Some(scheme_end) = url.find("://") {
        let after = &url[scheme_end + 3..];
        let authority = &after[..after.find(['/', '?']).unwrap_or(after.len())];
        if let Some(at) = authority.rfind('@') {
            if let Some((_, pw)) = authority[..at].split_once(':') {
                return Some(percent_decode(pw));
            }
        }
    }
    let re = regex::Regex::new(r"(?i)password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)").ok()?;
    re.captures(url)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().trim_matches('\'').to_string())
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
