//! Shared pieces of the scripted TLS suites (`tls_scripted.rs`,
//! `tls_certificates.rs`): a test PKI, the client configurations, the
//! script fragments of STARTTLS, AUTH PLAIN and one message, the runners
//! of a TLS session that must work and of a handshake that must fail, and
//! the checks that no credentials left in clear.

use std::sync::Arc;
use std::time::Duration;

use crate::driver::Client;
use smtp_core::{Config, Error, Phase, Security, Timeouts, TlsErrorKind};

use crate::scripted::tls::{self, Issued, TestCa};
use crate::scripted::{Capture, ScriptedServer, CLIENT_NAME};
use crate::support::{b64, contains, wire, Fault, Session, EHLO, FROM, PASSWORD, USER};

/// Every client timeout in the ordinary tests.
pub const TIMEOUT: Duration = Duration::from_secs(2);
/// The short timeout of the stall tests.
pub const SHORT: Duration = Duration::from_millis(500);
/// Slack allowed over a timeout before a test calls the client too slow.
pub const SLACK: Duration = Duration::from_secs(1);

/// The message the TLS suites send.
pub const MESSAGE: &[u8] =
    b"From: <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: tls\r\n\r\nOver TLS.\r\n";

/// The names on the test servers' certificates.
pub const NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// The `220` to STARTTLS.
pub const STARTTLS_READY: &str = "220 2.0.0 Ready to start TLS";

/// A test CA and a server certificate it issued for [`NAMES`].
pub struct Pki {
    /// The CA.
    pub ca: TestCa,
    /// The server certificate it issued.
    pub server: Issued,
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

impl Pki {
    /// A new CA and a server certificate for [`NAMES`].
    pub fn new() -> Pki {
        let ca = TestCa::new();
        let server = ca.issue(NAMES);
        Pki { ca, server }
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> String {
        self.ca.ca_pem()
    }

    /// [`tls_session`] with this CA's server certificate and
    /// [`Pki::trusted`].
    pub fn session(
        &self,
        script: &str,
        security: Security,
        session: impl FnOnce(&mut Client),
    ) -> Capture {
        tls_session(
            script,
            self.server.server_config(),
            self.trusted(security),
            session,
        )
    }

    /// The configuration of the sessions that work: `security` to
    /// `localhost`, trusting this CA, the password set.
    pub fn trusted(&self, security: Security) -> impl FnOnce(&ScriptedServer) -> Config + 'static {
        let ca_pem = self.ca_pem();
        move |s| tls_config(s, "localhost", security, &ca_pem).with_password(USER, PASSWORD)
    }
}

/// A client configuration for `server` reached as `host`, trusting only
/// the CA in `ca_pem` (no system roots).
pub fn tls_config(server: &ScriptedServer, host: &str, security: Security, ca_pem: &str) -> Config {
    Config::new(host, server.port())
        .with_security(security)
        .with_client_name(CLIENT_NAME)
        .with_timeouts(Timeouts::uniform(TIMEOUT))
        .with_system_roots(false)
        .with_ca_pem(ca_pem.as_bytes().to_vec())
}

/// A CA that signed none of the servers' certificates.
pub fn unrelated_ca_pem() -> String {
    TestCa::new().ca_pem()
}

/// STARTTLS if offered, to `localhost`, trusting an unrelated CA.
pub fn opportunistic(server: &ScriptedServer) -> Config {
    tls_config(
        server,
        "localhost",
        Security::StartTlsIfOffered,
        &unrelated_ca_pem(),
    )
}

/// A session that must work over TLS: `script` on a server presenting
/// `server_tls`, the client configured by `config`. Checks that the
/// session is encrypted, runs `session` on the client, says QUIT and
/// checks that the script ran clean; returns what the server saw.
pub fn tls_session(
    script: &str,
    server_tls: Arc<rustls::ServerConfig>,
    config: impl FnOnce(&ScriptedServer) -> Config + 'static,
    session: impl FnOnce(&mut Client),
) -> Capture {
    let (_, cap) = Session::new(script)
        .tls(server_tls)
        .config(config)
        .run(|client| {
            assert!(client.is_encrypted());
            session(client)
        });
    cap
}

/// STARTTLS required, to `localhost`, trusting an unrelated CA, with the
/// password set: the configuration of the failure tests.
pub fn required_with_password(server: &ScriptedServer) -> Config {
    tls_config(server, "localhost", Security::StartTls, &unrelated_ca_pem())
        .with_password(USER, PASSWORD)
}

/// The AUTH PLAIN initial response for USER / PASSWORD.
pub fn plain_response() -> String {
    b64(format!("\0{USER}\0{PASSWORD}"))
}

/// `AUTH PLAIN` with [`plain_response`].
pub fn auth_plain_line() -> String {
    format!("AUTH PLAIN {}", plain_response())
}

/// `MAIL FROM` with the SIZE of [`MESSAGE`].
pub fn mail_line() -> String {
    format!("MAIL FROM:<{FROM}> SIZE={}", MESSAGE.len())
}

/// The plaintext part of a STARTTLS session and the TLS handshake: the
/// first EHLO offers STARTTLS and `before`, the EHLO over TLS offers
/// `after` (both lists as in the script language, comma-separated).
pub fn starttls_then(before: &str, after: &str) -> String {
    let before = if before.is_empty() {
        "STARTTLS".to_string()
    } else {
        format!("STARTTLS, {before}")
    };
    format!("hello {before}; < STARTTLS; > {STARTTLS_READY}; starttls; ehlo; ehlo-reply {after}")
}

/// The plaintext part of a STARTTLS session up to the `220`.
pub fn up_to_starttls_220() -> String {
    format!("hello STARTTLS, AUTH PLAIN LOGIN; < STARTTLS; > {STARTTLS_READY}")
}

/// The script of an AUTH PLAIN login that works.
pub fn auth_plain_ok() -> String {
    format!(
        "< {}; > 235 2.7.0 Authentication successful",
        auth_plain_line()
    )
}

/// `hello`, then AUTH PLAIN, one message ([`transaction`]) and QUIT.
pub fn login_send_quit(hello: &str) -> String {
    format!("{hello}; {}; {}; quit", auth_plain_ok(), transaction())
}

/// One message, one command and one reply at a time (the scripts never
/// offer PIPELINING), with SIZE offered by the script.
pub fn transaction() -> String {
    format!(
        "< {}; > 250 2.1.0 Ok; rcpt; > 250 2.1.5 Ok; < DATA; > 354 End data with <CR><LF>.<CR><LF>; body; > 250 2.0.0 Ok: queued as 7A11",
        mail_line()
    )
}

/// Nothing the client sent carries the credentials: no AUTH command, no
/// password, no base64 of it, of the user name, or of a PLAIN response.
#[track_caller]
pub fn assert_no_credentials(cap: &Capture) {
    for needle in [
        "AUTH".to_string(),
        PASSWORD.to_string(),
        b64(PASSWORD),
        b64(USER),
        plain_response(),
    ] {
        assert!(
            !contains(&cap.received, needle.as_bytes()),
            "the client sent {needle:?}: {:?}",
            cap.received_text()
        );
    }
}

/// `err` is a TLS error of this kind during this phase whose message
/// holds no secret.
#[track_caller]
pub fn assert_tls_error(err: &Error, phase: Phase, kind: TlsErrorKind) {
    match err {
        Error::Tls {
            phase: p,
            kind: k,
            message,
        } => {
            assert_eq!((*p, *k), (phase, kind), "{err}");
            assert!(!message.contains(PASSWORD), "{message}");
        }
        other => panic!("expected a TLS error ({kind:?} during {phase}), got {other:?}"),
    }
}

/// A server configuration presenting `issued` with only these TLS versions.
pub fn server_config_with_versions(
    issued: &Issued,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_protocol_versions(versions)
            .expect("ring supports these versions")
            .with_no_client_auth()
            .with_single_cert(issued.chain.clone(), issued.private_key())
            .expect("a valid certificate and key"),
    )
}

/// Runs STARTTLS (credentials set) against a server presenting
/// `server_tls`, expecting the handshake to fail with `kind`. Checks that
/// the client sent EHLO and STARTTLS in clear and nothing after them (no
/// credentials, no QUIT in clear, no data over TLS). Returns the server's
/// handshake error.
pub fn starttls_handshake_fails(
    name: &str,
    server_tls: Arc<rustls::ServerConfig>,
    kind: TlsErrorKind,
    config: impl FnOnce(&ScriptedServer) -> Config + 'static,
) -> String {
    let script = format!("{}; starttls; hangup", up_to_starttls_220());
    let (err, cap) = Fault::new(name, &script)
        .tls(server_tls)
        .config(|s| config(s).with_password(USER, PASSWORD))
        .fails(&format!("Tls TlsHandshake {kind:?}"))
        .unclean()
        .connect();
    assert_tls_error(&err, Phase::TlsHandshake, kind);
    assert_eq!(cap.received_text(), wire(&[EHLO, "STARTTLS"]), "{name}");
    assert!(cap.tls.is_none(), "{name}: {:?}", cap.tls);
    assert_eq!(cap.errors.len(), 1, "{name}: {:?}", cap.errors);
    assert!(
        cap.errors[0].starts_with("TLS handshake failed"),
        "{name}: {:?}",
        cap.errors
    );
    assert_no_credentials(&cap);
    cap.errors[0].clone()
}

/// STARTTLS required, the password set, and a server that breaks the
/// upgrade after `up_to_starttls_220` with `then`: the error must have
/// this class, and no credentials may have gone out. Returns the error
/// and the capture for the checks of each case.
pub fn upgrade_broken(name: &str, then: &str, class: &str) -> (Error, Capture) {
    let (err, cap) = Fault::new(name, &format!("{}; {then}", up_to_starttls_220()))
        .config(required_with_password)
        .fails(class)
        .connect();
    assert!(!err.to_string().contains(PASSWORD), "{name}: {err}");
    assert_no_credentials(&cap);
    (err, cap)
}
