//! TLS settings and the rustls client configuration built from them.
//!
//! rustls with the `ring` provider: pure Rust plus a little C and assembly
//! compiled by `cc`, so C and PHP users link nothing else and the build
//! needs no cmake or Go.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Phase, TlsErrorKind};

/// How the connection is protected. Modes may be added in later versions:
/// a `match` needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Security {
    /// TLS from the first byte ("SMTPS", port 465, `smtps://`).
    Implicit,
    /// Plain connection upgraded with `STARTTLS`, which is required: if the
    /// server does not offer it or refuses it, nothing else is sent.
    StartTls,
    /// `STARTTLS` when the server offers it, plaintext otherwise. Not
    /// allowed together with credentials unless the caller opts in with
    /// [`Config::insecure_opportunistic_tls_with_credentials`](crate::Config::insecure_opportunistic_tls_with_credentials).
    StartTlsIfOffered,
    /// No TLS at all.
    None,
}

impl Security {
    /// Parses `implicit`/`tls`/`smtps`, `starttls`, `opportunistic`, `none`.
    pub fn from_name(name: &str) -> Option<Security> {
        match name.to_ascii_lowercase().as_str() {
            "implicit" | "tls" | "smtps" | "ssl" => Some(Security::Implicit),
            "starttls" | "required" => Some(Security::StartTls),
            "opportunistic" | "starttls-if-offered" | "may" => Some(Security::StartTlsIfOffered),
            "none" | "plain" | "off" => Some(Security::None),
            _ => None,
        }
    }
}

/// Certificate and key material for TLS. `Default` is [`TlsOptions::new`].
#[derive(Clone)]
pub(crate) struct TlsOptions {
    /// Trust the operating system's root certificates (default true; when
    /// the system has none, the Mozilla roots compiled in are used).
    pub system_roots: bool,
    /// Extra trusted CA certificates, PEM.
    pub ca_pem: Vec<Vec<u8>>,
    /// Extra trusted CA files, PEM, read at connect time.
    pub ca_files: Vec<PathBuf>,
    /// Client certificate chain and private key, PEM.
    pub client_cert_pem: Option<(Vec<u8>, zeroize::Zeroizing<Vec<u8>>)>,
    /// Accept any certificate for any name. Only for tests and broken
    /// servers; makes TLS useless against an active attacker.
    pub dangerous_accept_invalid_certs: bool,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("system_roots", &self.system_roots)
            .field("ca_pem", &self.ca_pem.len())
            .field("ca_files", &self.ca_files)
            .field("client_cert", &self.client_cert_pem.is_some())
            .field(
                "dangerous_accept_invalid_certs",
                &self.dangerous_accept_invalid_certs,
            )
            .finish()
    }
}

fn config_error(message: impl Into<String>) -> Error {
    Error::Tls {
        phase: Phase::TlsHandshake,
        kind: TlsErrorKind::Config,
        message: message.into(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's roots, loaded once per process (reading /etc/ssl/certs
/// takes milliseconds we should not spend per connection).
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(found.certs);
        if store.is_empty() {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        store
    })
}

impl Default for TlsOptions {
    fn default() -> TlsOptions {
        TlsOptions::new()
    }
}

impl TlsOptions {
    /// Default options: system roots, nothing else.
    pub fn new() -> TlsOptions {
        TlsOptions {
            system_roots: true,
            ca_pem: Vec::new(),
            ca_files: Vec::new(),
            client_cert_pem: None,
            dangerous_accept_invalid_certs: false,
        }
    }

    /// Builds the rustls configuration (TLS 1.2 and 1.3 only).
    pub(crate) fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(e.to_string()))?;
        let builder = if self.dangerous_accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
        } else {
            let mut roots = if self.system_roots {
                system_roots().clone()
            } else {
                RootCertStore::empty()
            };
            for path in &self.ca_files {
                let pem = std::fs::read(path).map_err(|e| {
                    config_error(format!("cannot read CA file {}: {e}", path.display()))
                })?;
                add_pem_roots(&mut roots, &pem, &path.display().to_string())?;
            }
            for pem in &self.ca_pem {
                add_pem_roots(&mut roots, pem, "CA bundle")?;
            }
            if roots.is_empty() {
                return Err(config_error("no trusted CA certificates"));
            }
            builder.with_root_certificates(roots)
        };
        let config = match &self.client_cert_pem {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
                    .collect::<Result<_, _>>()
                    .map_err(|e| config_error(format!("bad client certificate PEM: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|_| config_error("bad client private key PEM"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| config_error(format!("client certificate: {e}")))?
            }
        };
        Ok(Arc::new(config))
    }
}

fn add_pem_roots(roots: &mut RootCertStore, pem: &[u8], what: &str) -> Result<(), Error> {
    let mut added = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| config_error(format!("bad PEM in {what}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config_error(format!("bad certificate in {what}: {e}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(config_error(format!("no certificate found in {what}")));
    }
    Ok(())
}

/// The name used for SNI and certificate checks: a DNS name or an IP
/// address (brackets around IPv6 literals removed).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_string())
        .map_err(|_| Error::invalid("host", "is not a valid DNS name or IP address for TLS"))
}

/// Maps a rustls error to our kinds, saying which check failed.
pub(crate) fn classify(err: &rustls::Error) -> (TlsErrorKind, String) {
    let kind = match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                TlsErrorKind::UnknownIssuer
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsErrorKind::Expired,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsErrorKind::NameMismatch
            }
            _ => TlsErrorKind::BadCertificate,
        },
        _ => TlsErrorKind::Handshake,
    };
    let message = match kind {
        TlsErrorKind::UnknownIssuer => format!(
            "{err}; the certificate is not signed by a trusted CA (self-signed or a private CA: add its certificate as a CA file)"
        ),
        TlsErrorKind::Expired => format!("{err}; the server's certificate has expired or is not valid yet"),
        TlsErrorKind::NameMismatch => format!(
            "{err}; the certificate does not name the host we connected to (connect by the name on the certificate)"
        ),
        _ => err.to_string(),
    };
    (kind, message)
}

/// Verifier behind `dangerous_accept_invalid_certs`: checks the handshake
/// signatures (so the session is still encrypted to the key holder) but
/// not who holds the key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_new() {
        let d = TlsOptions::default();
        let n = TlsOptions::new();
        assert!(d.system_roots);
        assert_eq!(d.system_roots, n.system_roots);
        assert_eq!(d.ca_pem, n.ca_pem);
        assert_eq!(d.ca_files, n.ca_files);
        assert_eq!(d.client_cert_pem.is_some(), n.client_cert_pem.is_some());
        assert_eq!(
            d.dangerous_accept_invalid_certs,
            n.dangerous_accept_invalid_certs
        );
        assert_eq!(format!("{d:?}"), format!("{n:?}"));
    }

    #[test]
    fn security_names() {
        assert_eq!(Security::from_name("SMTPS"), Some(Security::Implicit));
        assert_eq!(Security::from_name("starttls"), Some(Security::StartTls));
        assert_eq!(
            Security::from_name("opportunistic"),
            Some(Security::StartTlsIfOffered)
        );
        assert_eq!(Security::from_name("none"), Some(Security::None));
        assert_eq!(Security::from_name("bogus"), None);
    }

    #[test]
    fn server_names() {
        assert!(server_name("localhost").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("bad name").is_err());
    }

    #[test]
    fn default_config_builds() {
        TlsOptions::new().client_config().unwrap();
    }

    #[test]
    fn bad_ca_pem_is_a_config_error() {
        let opts = TlsOptions {
            ca_pem: vec![b"not a certificate".to_vec()],
            ..TlsOptions::new()
        };
        let err = opts.client_config().unwrap_err();
        assert!(matches!(
            err,
            Error::Tls {
                kind: TlsErrorKind::Config,
                ..
            }
        ));
        let opts = TlsOptions {
            ca_files: vec!["/nonexistent/ca.pem".into()],
            ..TlsOptions::new()
        };
        assert!(opts.client_config().is_err());
    }

    #[test]
    fn classification() {
        let e = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(classify(&e).0, TlsErrorKind::UnknownIssuer);
        let e = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(classify(&e).0, TlsErrorKind::Expired);
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(classify(&e).0, TlsErrorKind::NameMismatch);
        let e = rustls::Error::HandshakeNotComplete;
        assert_eq!(classify(&e).0, TlsErrorKind::Handshake);
    }
}
