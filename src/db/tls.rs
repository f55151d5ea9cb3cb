//! TLS for the connection, as libpq's `sslmode` asks for it: `require`
//! encrypts without authenticating the server, `verify-ca` checks the chain
//! only, `verify-full` the chain and the host name. Roots come from
//! `sslrootcert` (`system`: the system's trust store, as libpq 16), else
//! the Mozilla roots (webpki-roots).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::DbError;
use crate::config::{Connection, SslMode};

pub(super) fn make_tls(conn: &Connection) -> Result<MakeRustlsConnect, DbError> {
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
        _ => {
            let chain = match verify_chain {
                true => Some(
                    rustls::client::WebPkiServerVerifier::builder_with_provider(
                        roots,
                        provider.clone(),
                    )
                    .build()
                    .map_err(|e| DbError::Tls(e.to_string()))?,
                ),
                false => None,
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LibpqVerifier { chain, provider }))
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// CA bundles are a few hundred kilobytes.
const MAX_ROOT_CERT_BYTES: u64 = 16 << 20;

fn root_store(conn: &Connection) -> Result<RootCertStore, DbError> {
    let mut store = RootCertStore::empty();
    // As libpq: `disable` and `prefer` never verify, so they read no root.
    let verifies = !matches!(conn.ssl_mode, SslMode::Disable | SslMode::Prefer);
    match conn.ssl_root_cert.as_ref().filter(|_| verifies) {
        Some(path) if path.as_os_str() == crate::config::SYSTEM_ROOTS => {
            let found = rustls_native_certs::load_native_certs();
            // As OpenSSL reads a bundle: a certificate it cannot use is
            // skipped, not fatal.
            let (_added, _skipped) = store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let why: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(DbError::Tls(format!(
                    "sslrootcert=system: no certificate found in this system's trust store{}",
                    match why.is_empty() {
                        true => String::new(),
                        false => format!(" ({})", why.join("; ")),
                    }
                )));
            }
        }
        Some(path) => {
            let pem = crate::files::read_bounded(path, MAX_ROOT_CERT_BYTES).map_err(|e| {
                DbError::Tls(format!("reading sslrootcert {}: {e}", path.display()))
            })?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
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

/// libpq's weaker modes. `require`: encrypt, but do not authenticate the
/// server (`chain` is `None`). `verify-ca`: the chain must lead to a trusted
/// root, the host name is not checked. Signatures are always verified with
/// the provider's algorithms, so the handshake itself is sound.
#[derive(Debug)]
struct LibpqVerifier {
    chain: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        inter: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end, inter, name, ocsp, now) {
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
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, algs)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn conn(query: &str) -> Connection {
        let url = format!("postgres://u:pw@127.0.0.1:1/db?{query}");
        Connection::parse(&url, Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn the_root_file_is_a_bounded_regular_file_read_only_when_verifying() {
        // Refused at once, instead of reading /dev/zero until memory runs out.
        for mode in ["verify-full", "verify-ca", "require"] {
            let e = make_tls(&conn(&format!("sslmode={mode}&sslrootcert=/dev/zero")))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("not a regular file"), "{mode}: {e}");
        }
        // As libpq, modes that never verify read no root at all.
        for mode in ["disable", "prefer"] {
            let q = format!("sslmode={mode}&sslrootcert=/nonexistent/ca.pem");
            assert!(make_tls(&conn(&q)).is_ok(), "{mode}");
        }
    }
}
