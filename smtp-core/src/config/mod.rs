//! The one configuration model: every connection setting, set from code
//! (the typed `with_*` methods here) or from text (`Config::set`, URLs,
//! configuration files, the C ABI and PHP: `options.rs`), checked in one
//! place before connecting.

mod dkim;
mod options;
mod server;

pub use options::{ConfigOption, OPTIONS};
pub use server::split_host_port;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::auth::{Credentials, Mechanism};
use crate::error::{Error, Result};
use crate::message::LongLines;
use crate::tls::{Security, TlsOptions};
use crate::transcript::{Direction, TranscriptFn};

/// Per-phase timeouts. Defaults follow RFC 5321 4.5.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the TCP connection (per address tried). Default 30 s.
    pub connect: Duration,
    /// The greeting: 5 minutes.
    pub greeting: Duration,
    /// EHLO, HELO, STARTTLS and the TLS handshake, AUTH, RSET, NOOP, QUIT: 5 minutes.
    pub command: Duration,
    /// MAIL FROM: 5 minutes.
    pub mail: Duration,
    /// Each RCPT TO: 5 minutes.
    pub rcpt: Duration,
    /// DATA, up to the 354: 2 minutes.
    pub data_init: Duration,
    /// Each write of the message body: 3 minutes.
    pub data_block: Duration,
    /// The reply after the end of the message: 10 minutes.
    pub data_end: Duration,
    /// A limit for each whole call (`connect`, `send`...), on top of the
    /// per-phase ones. None by default.
    pub total: Option<Duration>,
}

impl Timeouts {
    /// The RFC 5321 4.5.3.2 values (the `Default`).
    pub fn standard() -> Timeouts {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Timeouts {
            connect: Duration::from_secs(30),
            greeting: minutes(5),
            command: minutes(5),
            mail: minutes(5),
            rcpt: minutes(5),
            data_init: minutes(2),
            data_block: minutes(3),
            data_end: minutes(10),
            total: None,
        }
    }
}

impl Timeouts {
    /// Every per-phase timeout set to `each` (handy for interactive tools
    /// and tests); `total` unchanged.
    pub fn uniform(each: Duration) -> Timeouts {
        Timeouts {
            connect: each,
            greeting: each,
            command: each,
            mail: each,
            rcpt: each,
            data_init: each,
            data_block: each,
            data_end: each,
            total: None,
        }
    }
}

/// What to do when some recipients are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecipientPolicy {
    /// Deliver to the accepted recipients and report the refused ones
    /// (fail only when none is accepted).
    #[default]
    DeliverToAccepted,
    /// Send nothing unless every recipient is accepted.
    AllOrNothing,
}

/// When credentials may travel over a connection without TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlaintextAuthPolicy {
    /// Never.
    Never,
    /// Only to a loopback address (127.0.0.0/8, ::1): nothing leaves the machine.
    #[default]
    LoopbackOnly,
    /// Always: anyone on the path can read the credentials.
    InsecureAlways,
}

/// Everything needed to connect and authenticate: one value per setting,
/// whether it came from code, a URL, a configuration file, the C ABI or
/// PHP. Build it with [`Config::new`] or [`Config::from_url`] and the
/// `with_*` methods, or set options by name with [`Config::set`]; later
/// settings replace earlier ones, so layers (a system file, a user file,
/// the environment, the command line) apply in order onto one `Config`.
/// `Config::default()` has no server yet: set `host` or `url` before
/// connecting.
#[derive(Clone)]
pub struct Config {
    pub(crate) host: String,
    /// `None`: the default for the security mode (465 implicit, else 587).
    pub(crate) port: Option<u16>,
    pub(crate) security: Option<Security>,
    pub(crate) credentials: Option<Credentials>,
    /// Whether the credentials' secret was given (a user alone is not enough).
    secret_given: bool,
    /// A password or token set before any user: kept until the user comes.
    pending_secret: Option<Zeroizing<String>>,
    /// Secrets set by name are bearer tokens (the `token` option).
    secret_is_token: bool,
    pub(crate) mechanism: Option<Mechanism>,
    pub(crate) client_name: Option<String>,
    pub(crate) timeouts: Timeouts,
    pub(crate) recipient_policy: RecipientPolicy,
    pub(crate) tls: TlsOptions,
    pub(crate) plaintext_auth: PlaintextAuthPolicy,
    pub(crate) opportunistic_with_credentials: bool,
    pub(crate) pipelining: bool,
    pub(crate) chunking: bool,
    pub(crate) long_lines: LongLines,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) transcript: Option<TranscriptFn>,
    /// Signs every composed and raw message sent (`config/dkim.rs`).
    pub(crate) dkim: Option<crate::dkim::DkimSigner>,
    /// The `dkim_*` options as set by name, until they make a signer.
    dkim_text: dkim::DkimText,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port())
            .field("security", &self.security())
            .field("credentials", &self.credentials)
            .field("mechanism", &self.mechanism)
            .field("client_name", &self.client_name)
            .field("timeouts", &self.timeouts)
            .field("recipient_policy", &self.recipient_policy)
            .field("tls", &self.tls)
            .field("plaintext_auth", &self.plaintext_auth)
            .field("pipelining", &self.pipelining)
            .field("chunking", &self.chunking)
            .field("long_lines", &self.long_lines)
            .field("tls_server_name", &self.tls_server_name)
            .field("transcript", &self.transcript.is_some())
            .field("dkim", &self.dkim)
            .finish()
    }
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts::standard()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::for_host("")
    }
}

impl Config {
    /// Settings for `host:port` with secure defaults: TLS chosen from the
    /// port and credentials (see [`Config::security`]), certificates
    /// verified against the system roots.
    pub fn new(host: impl Into<String>, port: u16) -> Config {
        Config::for_host(host).with_port(port)
    }

    /// Settings for `host` on the port the security mode implies: 465 for
    /// implicit TLS, else 587 (submission).
    pub fn for_host(host: impl Into<String>) -> Config {
        Config {
            host: host.into(),
            port: None,
            security: None,
            credentials: None,
            secret_given: false,
            pending_secret: None,
            secret_is_token: false,
            mechanism: None,
            client_name: None,
            timeouts: Timeouts::default(),
            recipient_policy: RecipientPolicy::default(),
            tls: TlsOptions::new(),
            plaintext_auth: PlaintextAuthPolicy::default(),
            opportunistic_with_credentials: false,
            pipelining: true,
            chunking: true,
            long_lines: LongLines::Repair,
            tls_server_name: None,
            transcript: None,
            dkim: None,
            dkim_text: dkim::DkimText::default(),
        }
    }

    /// Settings for a server written as `host`, `host:port`, `[v6]`,
    /// `[v6]:port` or a bare IPv6 address (see [`split_host_port`]);
    /// without a port, the security mode's default.
    pub fn for_server(server: &str) -> Result<Config> {
        let (host, port) = split_host_port(server).ok_or_else(|| {
            Error::invalid(
                "server",
                "must be a host name, an address, host:port or [IPv6]:port",
            )
        })?;
        let config = Config::for_host(host);
        Ok(match port {
            Some(port) => config.with_port(port),
            None => config,
        })
    }

    /// Parses `smtp://[user[:password]@]host[:port][?option=value&...]` or
    /// `smtps://...`: user and password percent-decoded, every option one
    /// of [`OPTIONS`] (the same names as [`Config::set`]; an unknown one is
    /// an error). Ports default to 465 for `smtps` and 587 for `smtp`.
    pub fn from_url(url: &str) -> Result<Config> {
        let mut config = Config::default();
        config.set("url", url)?;
        Ok(config)
    }

    /// The server's host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Connects to this host instead.
    pub fn with_host(mut self, host: impl Into<String>) -> Config {
        self.host = host.into();
        self
    }

    /// The server's port: the one set, else 465 for implicit TLS and 587
    /// otherwise.
    pub fn port(&self) -> u16 {
        match (self.port, self.security) {
            (Some(port), _) => port,
            (None, Some(Security::Implicit)) => 465,
            (None, _) => 587,
        }
    }

    /// Connects to this port.
    pub fn with_port(mut self, port: u16) -> Config {
        self.port = Some(port);
        self
    }

    /// Goes back to the port the security mode implies (465 or 587).
    pub fn with_default_port(mut self) -> Config {
        self.port = None;
        self
    }

    /// The security mode that applies: the one set with
    /// [`Config::with_security`], else `Implicit` for port 465, else
    /// `StartTls` (required) for port 587 or when credentials are set,
    /// else `StartTlsIfOffered`.
    pub fn security(&self) -> Security {
        match self.security {
            Some(s) => s,
            None if self.port() == 465 => Security::Implicit,
            None if self.port() == 587 || self.credentials.is_some() => Security::StartTls,
            None => Security::StartTlsIfOffered,
        }
    }

    /// Sets the security mode.
    pub fn with_security(mut self, security: Security) -> Config {
        self.security = Some(security);
        self
    }

    /// Goes back to the security mode the port and credentials imply (see
    /// [`Config::security`]).
    pub fn with_automatic_security(mut self) -> Config {
        self.security = None;
        self
    }

    /// Authenticates with a user name and password.
    pub fn with_password(self, user: impl Into<String>, password: impl Into<String>) -> Config {
        self.with_credentials(Credentials::password(user, password))
    }

    /// Authenticates with an OAuth 2.0 bearer token (XOAUTH2 / OAUTHBEARER).
    pub fn with_bearer_token(self, user: impl Into<String>, token: impl Into<String>) -> Config {
        self.with_credentials(Credentials::bearer_token(user, token))
    }

    /// Authenticates with these credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Config {
        self.secret_is_token = credentials.is_bearer_token();
        self.credentials = Some(credentials);
        self.secret_given = true;
        self.pending_secret = None;
        self
    }

    /// Does not authenticate.
    pub fn without_credentials(mut self) -> Config {
        self.credentials = None;
        self.secret_given = false;
        self.pending_secret = None;
        self
    }

    /// Whether a password or token is set (with or without a user).
    pub fn has_secret(&self) -> bool {
        self.pending_secret.is_some() || (self.credentials.is_some() && self.secret_given)
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Forces one SASL mechanism instead of choosing the strongest offered.
    pub fn with_mechanism(mut self, mechanism: Mechanism) -> Config {
        self.mechanism = Some(mechanism);
        self
    }

    /// Chooses the strongest mechanism both sides support (the default).
    pub fn with_automatic_mechanism(mut self) -> Config {
        self.mechanism = None;
        self
    }

    /// The mechanism forced with [`Config::with_mechanism`], if any.
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// The name sent with EHLO/HELO. Default: this machine's host name if
    /// it is fully qualified, else the local address as a literal such as
    /// `[127.0.0.1]`.
    pub fn with_client_name(mut self, name: impl Into<String>) -> Config {
        self.client_name = Some(name.into());
        self
    }

    /// Goes back to the default EHLO name (see [`Config::with_client_name`]).
    pub fn with_default_client_name(mut self) -> Config {
        self.client_name = None;
        self
    }

    /// Sets all timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Config {
        self.timeouts = timeouts;
        self
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// What to do when some recipients are refused.
    pub fn with_recipient_policy(mut self, policy: RecipientPolicy) -> Config {
        self.recipient_policy = policy;
        self
    }

    /// The recipient policy in force.
    pub fn recipient_policy(&self) -> RecipientPolicy {
        self.recipient_policy
    }

    /// Trusts the CA certificates in this PEM file (in addition to the
    /// system roots). The file is read when connecting.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Config {
        self.tls.ca_files.push(path.into());
        self
    }

    /// Trusts these PEM CA certificates (in addition to the system roots).
    pub fn with_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Config {
        self.tls.ca_pem.push(pem.into());
        self
    }

    /// Whether the operating system's roots are trusted (default true).
    /// Turn off to trust only the CAs given with [`Config::with_ca_file`].
    pub fn with_system_roots(mut self, on: bool) -> Config {
        self.tls.system_roots = on;
        self
    }

    /// Presents this client certificate chain and key (PEM) when the
    /// server asks for one.
    pub fn with_client_certificate(mut self, chain_pem: Vec<u8>, key_pem: Vec<u8>) -> Config {
        self.tls.client_cert_pem = Some((chain_pem, Zeroizing::new(key_pem)));
        self
    }

    /// DANGEROUS: accepts any server certificate for any name, so anyone
    /// on the path can read and change the session. Only for tests.
    pub fn dangerous_accept_invalid_certs(mut self, on: bool) -> Config {
        self.tls.dangerous_accept_invalid_certs = on;
        self
    }

    /// When credentials may be sent without TLS (see
    /// [`PlaintextAuthPolicy`]; the default sends them in clear only to a
    /// loopback address).
    pub fn with_plaintext_auth_policy(mut self, policy: PlaintextAuthPolicy) -> Config {
        self.plaintext_auth = policy;
        self
    }

    /// The plaintext-credentials policy in force.
    pub fn plaintext_auth_policy(&self) -> PlaintextAuthPolicy {
        self.plaintext_auth
    }

    /// INSECURE: allows [`Security::StartTlsIfOffered`] with credentials,
    /// where an attacker who strips `STARTTLS` gets the session in clear
    /// (the plaintext policy still applies to the credentials).
    pub fn insecure_opportunistic_tls_with_credentials(mut self, on: bool) -> Config {
        self.opportunistic_with_credentials = on;
        self
    }

    /// Uses PIPELINING (RFC 2920) when the server offers it (default on).
    pub fn with_pipelining(mut self, on: bool) -> Config {
        self.pipelining = on;
        self
    }

    /// Uses CHUNKING (RFC 3030, `BDAT`) when the server offers it (default
    /// on): no dot-stuffing, and with PIPELINING a whole small message
    /// costs one round trip.
    pub fn with_chunking(mut self, on: bool) -> Config {
        self.chunking = on;
        self
    }

    /// What happens to a message with a line over 998 octets (RFC 5322
    /// 2.1.1), which strict servers refuse only after the whole body was
    /// sent: [`LongLines::Repair`] (the default) folds long header lines
    /// and re-encodes what can be re-encoded without changing what the
    /// reader sees, and refuses the rest; [`LongLines::Refuse`] refuses
    /// any such message (for messages that must go out exactly as they
    /// are). A refusal is [`Error::InvalidInput`](crate::Error::InvalidInput)
    /// and, for a message of up to 1 MiB, comes before anything of it is
    /// sent; see [`Client::send`](crate::Client::send).
    pub fn with_long_lines(mut self, policy: LongLines) -> Config {
        self.long_lines = policy;
        self
    }

    /// What happens to a line over 998 octets (see [`Config::with_long_lines`]).
    pub fn long_lines(&self) -> LongLines {
        self.long_lines
    }

    /// Whether PIPELINING is used when offered (see [`Config::with_pipelining`]).
    pub fn pipelining(&self) -> bool {
        self.pipelining
    }

    /// Whether CHUNKING is used when offered (see [`Config::with_chunking`]).
    pub fn chunking(&self) -> bool {
        self.chunking
    }

    /// Checks the certificate (and sends SNI) for this name instead of the
    /// host connected to: for connecting by IP address, or through a
    /// tunnel, to a server whose certificate names it.
    pub fn with_tls_server_name(mut self, name: impl Into<String>) -> Config {
        self.tls_server_name = Some(name.into());
        self
    }

    /// The name certificates are checked against: the one set with
    /// [`Config::with_tls_server_name`], else the host.
    pub fn tls_server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or(&self.host)
    }

    /// Receives every line sent and received, credentials hidden.
    pub fn with_transcript(
        mut self,
        sink: impl Fn(Direction, &str) + Send + Sync + 'static,
    ) -> Config {
        self.transcript = Some(std::sync::Arc::new(sink));
        self
    }

    /// Stops sending lines to the transcript sink.
    pub fn without_transcript(mut self) -> Config {
        self.transcript = None;
        self
    }

    /// Checks the settings as connecting would, without connecting: a
    /// front end calls it to report a bad setting when it is made.
    pub fn check(&self) -> Result<()> {
        self.validate()
    }

    /// Checks the settings before connecting.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.host.is_empty() {
            return Err(Error::invalid(
                "host",
                "is not set: give a server (a host, or a smtp:// or smtps:// URL)",
            ));
        }
        if self.host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(Error::invalid(
                "host",
                "contains a space or a control character",
            ));
        }
        if self.port() == 0 {
            return Err(Error::invalid("port", "must not be 0"));
        }
        if let Some(name) = &self.client_name {
            crate::command::validate_client_name(name)?;
        }
        if self.dkim.is_none() {
            self.dkim_text.validate()?;
        }
        if let Some(name) = &self.tls_server_name {
            // Checked before connecting, not only when TLS starts.
            crate::tls::server_name(name).map_err(|_| {
                Error::invalid(
                    "TLS server name",
                    "is not a valid DNS name or IP address for TLS",
                )
            })?;
        }
        if self.pending_secret.is_some() {
            return Err(Error::invalid(
                "user",
                "is not set, but a password or token is: set the user too",
            ));
        }
        if let Some(credentials) = &self.credentials {
            if !self.secret_given {
                let kind = if self.secret_is_token {
                    "token"
                } else {
                    "password"
                };
                return Err(Error::invalid(
                    if self.secret_is_token {
                        "token"
                    } else {
                        "password"
                    },
                    format!(
                        "is not set: user {:?} has no {kind}",
                        credentials.username()
                    ),
                ));
            }
            credentials.validate().map_err(|e| match e {
                crate::auth::SaslError::InvalidInput { field, reason } => {
                    Error::InvalidInput { field, reason }
                }
                other => Error::invalid("credentials", other.to_string()),
            })?;
            if self.security() == Security::StartTlsIfOffered
                && !self.opportunistic_with_credentials
            {
                return Err(Error::invalid(
                    "security",
                    "opportunistic STARTTLS with credentials lets an attacker strip TLS; use security \"starttls\", or turn on the insecure-opportunistic-TLS-with-credentials option",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_auth_policy_by_method_and_by_name() {
        use PlaintextAuthPolicy::*;
        let base = || Config::new("mail.example.org", 587);
        assert_eq!(base().plaintext_auth_policy(), LoopbackOnly);
        for (policy, name) in [
            (Never, "never"),
            (LoopbackOnly, "loopback_only"),
            (InsecureAlways, "insecure_always"),
        ] {
            assert_eq!(
                base().with_plaintext_auth_policy(policy).plaintext_auth,
                policy
            );
            let mut c = base().with_plaintext_auth_policy(InsecureAlways);
            c.set("plaintext_auth", name).unwrap();
            assert_eq!(c.plaintext_auth, policy, "{name}");
        }
        let mut c = base().with_plaintext_auth_policy(Never);
        assert!(c.set("plaintext_auth", "yes").is_err());
        assert_eq!(c.plaintext_auth, Never, "a bad value changes nothing");
    }

    #[test]
    fn options_by_name() {
        let mut c = Config::default();
        for (key, value) in [
            ("url", "smtp://mail.example.org"),
            ("port", "2525"),
            ("tls", "implicit"),
            ("mechanism", "plain"),
            ("helo", "client.example.org"),
            ("timeout", "7"),
            ("connect_timeout", "1.5"),
            ("total_timeout", "60"),
            ("pipelining", "off"),
            ("chunking", "no"),
            ("long_lines", "refuse"),
            ("recipient_policy", "all_or_nothing"),
            ("system_roots", "0"),
            ("tls_server_name", "mx.example.org"),
            ("ca_file", "/tmp/ca.pem"),
        ] {
            c.set(key, value)
                .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
        }
        assert_eq!((c.host(), c.port()), ("mail.example.org", 2525));
        assert_eq!(c.security(), Security::Implicit);
        assert_eq!(c.mechanism(), Some(Mechanism::Plain));
        assert_eq!(c.client_name.as_deref(), Some("client.example.org"));
        assert_eq!(c.timeouts().data_end, Duration::from_secs(7));
        assert_eq!(c.timeouts().connect, Duration::from_millis(1500));
        assert_eq!(c.timeouts().total, Some(Duration::from_secs(60)));
        assert!(!c.pipelining() && !c.chunking() && !c.tls.system_roots);
        assert_eq!(c.long_lines(), LongLines::Refuse);
        assert_eq!(c.recipient_policy(), RecipientPolicy::AllOrNothing);
        assert_eq!(c.tls_server_name(), "mx.example.org");
        assert_eq!(c.tls.ca_files, [PathBuf::from("/tmp/ca.pem")]);
        c.set("security", "auto").unwrap();
        c.set("auth", "AUTO").unwrap();
        assert_eq!(
            (c.security(), c.mechanism()),
            (Security::StartTlsIfOffered, None)
        );
        // Every name and alias in the table is known to set().
        for option in OPTIONS {
            for name in std::iter::once(&option.name).chain(option.aliases) {
                let err = Config::default().set(name, "\u{1}bad\u{1}");
                if let Err(Error::InvalidInput { field, reason }) = &err {
                    assert_ne!(*field, "option", "{name}: {reason}");
                }
            }
        }
    }

    #[test]
    fn unknown_or_bad_options_name_themselves() {
        let mut c = Config::new("h", 25);
        match c.set("pipelinig", "off") {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "option");
                assert!(reason.contains("\"pipelinig\""), "{reason}");
                assert!(reason.contains("pipelining, chunking"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        for (key, value) in [
            ("port", "0"),
            ("port", "65536"),
            ("timeout", "0"),
            ("timeout", "-1"),
            ("timeout", "soon"),
            ("chunking", "maybe"),
            ("auth", "kerberos"),
            ("user", ""),
            ("client_name", "a b"),
            ("tls_server_name", "not a name"),
            ("url", "smtp://h?url=smtp://x"),
        ] {
            match c.set(key, value) {
                Err(Error::InvalidInput { field, .. }) => assert_ne!(field, "option", "{key}"),
                other => panic!("{key}={value}: {other:?}"),
            }
        }
        // A bad URL leaves the settings as they were.
        assert!(c.set("url", "smtp://other:99999").is_err());
        assert_eq!((c.host(), c.port()), ("h", 25));
        assert!(Config::from_url("smtp://h?pipelinig=off").is_err());
    }

    #[test]
    fn credentials_by_name_in_any_order() {
        let mut a = Config::new("h", 587);
        a.set("user", "u").unwrap();
        a.set("password", "p").unwrap();
        let mut b = Config::new("h", 587);
        b.set("password", "p").unwrap();
        assert!(b.validate().is_err(), "a password without a user");
        b.set("user", "u").unwrap();
        for c in [&a, &b] {
            let creds = c.credentials().unwrap();
            assert_eq!((creds.username(), creds.secret_text()), ("u", "p"));
            assert!(!creds.is_bearer_token());
            assert!(c.validate().is_ok());
        }
        // A later layer changes one part and keeps the other.
        a.set("user", "v").unwrap();
        a.set("token", "1").unwrap();
        let creds = a.credentials().unwrap();
        assert_eq!((creds.username(), creds.secret_text()), ("v", "p"));
        assert!(creds.is_bearer_token());
        // A user alone: an error when connecting, naming what is missing.
        let c = Config::from_url("smtp://u@h").unwrap();
        assert_eq!(c.security(), Security::StartTls);
        match c.validate() {
            Err(Error::InvalidInput { field, reason }) => {
                assert_eq!(field, "password");
                assert!(reason.contains("no password"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(c.without_credentials().validate().is_ok());
    }

    #[test]
    fn ports_follow_security_until_set() {
        let c = Config::for_host("h");
        assert_eq!((c.port(), c.security()), (587, Security::StartTls));
        let c = Config::for_host("h").with_security(Security::Implicit);
        assert_eq!(c.port(), 465);
        let c = Config::from_url("smtp://h?security=implicit").unwrap();
        assert_eq!(c.port(), 465);
        let c = Config::from_url("smtps://u:p@h:2465")
            .unwrap()
            .with_port(26);
        assert_eq!((c.port(), c.security()), (26, Security::Implicit));
        assert_eq!(c.credentials().unwrap().username(), "u");
        assert_eq!(c.with_default_port().port(), 465);
        let c = Config::for_server("[::1]:2525").unwrap();
        assert_eq!((c.host(), c.port()), ("::1", 2525));
        let c = Config::for_server("::1").unwrap();
        assert_eq!((c.host(), c.port()), ("::1", 587));
        let c = Config::for_server(" mail.example.org:25 ").unwrap();
        assert_eq!((c.host(), c.port()), ("mail.example.org", 25));
        for bad in ["", "h:x", "[::1", "[]:25", ":25"] {
            assert!(Config::for_server(bad).is_err(), "{bad:?}");
        }
        assert!(Config::default().validate().is_err(), "no host");
    }

    #[test]
    fn url_with_credentials() {
        let c = Config::from_url("smtp://us%40er:p%3Ass%20w@mail.example.org:2525").unwrap();
        assert_eq!(c.host(), "mail.example.org");
        assert_eq!(c.port(), 2525);
        let creds = c.credentials().unwrap();
        assert_eq!(creds.username(), "us@er");
        assert_eq!(creds.secret_text(), "p:ss w");
        assert!(!creds.is_bearer_token());
        assert_eq!(c.security(), Security::StartTls);
    }

    #[test]
    fn url_defaults() {
        let c = Config::from_url("smtps://mail.example.org").unwrap();
        assert_eq!((c.port(), c.security()), (465, Security::Implicit));
        let c = Config::from_url("smtp://mail.example.org").unwrap();
        assert_eq!((c.port(), c.security()), (587, Security::StartTls));
        let c = Config::from_url("smtp://mail.example.org:25/").unwrap();
        assert_eq!(c.security(), Security::StartTlsIfOffered);
        let c =
            Config::from_url("smtp://[::1]:2525?security=none&auth=cram-md5&timeout=5").unwrap();
        assert_eq!(c.host(), "::1");
        assert_eq!(c.security(), Security::None);
        assert_eq!(c.mechanism, Some(Mechanism::CramMd5));
        assert_eq!(c.timeouts().greeting, Duration::from_secs(5));
        let c = Config::from_url("smtp://h?pipelining=off&chunking=0").unwrap();
        assert!(!c.pipelining && !c.chunking);
        assert!(Config::from_url("smtp://h?chunking=maybe").is_err());
        assert_eq!(Config::new("h", 25).long_lines(), LongLines::Repair);
        let c = Config::from_url("smtp://h?long_lines=refuse").unwrap();
        assert_eq!(c.long_lines(), LongLines::Refuse);
        let c = Config::from_url("smtp://h?long_lines=Repair").unwrap();
        assert_eq!(c.long_lines(), LongLines::Repair);
        assert!(Config::from_url("smtp://h?long_lines=fold").is_err());
        let c = Config::from_url("smtp://u:tok@h?token=1").unwrap();
        assert!(c.credentials().unwrap().is_bearer_token());
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "http://x",
            "x",
            "smtp://",
            "smtp://h:notaport",
            "smtp://h:99999",
            "smtp://h/path",
            "smtp://h?bogus=1",
            "smtp://h?security=maybe",
            "smtp://h\r\n:25",
            "smtp://[::1",
            "smtp://u:%ff@h",
        ] {
            assert!(Config::from_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_never_in_debug() {
        let c = Config::from_url("smtp://user:hunter2@h").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn opportunistic_with_credentials_needs_opt_in() {
        let c = Config::new("h", 25)
            .with_password("u", "p")
            .with_security(Security::StartTlsIfOffered);
        assert!(matches!(
            c.validate(),
            Err(Error::InvalidInput {
                field: "security",
                ..
            })
        ));
        assert!(c
            .insecure_opportunistic_tls_with_credentials(true)
            .validate()
            .is_ok());
    }

    #[test]
    fn validation() {
        assert!(Config::new("", 25).validate().is_err());
        assert!(Config::new("h", 0).validate().is_err());
        assert!(Config::new("h", 25)
            .with_client_name("a\r\nb")
            .validate()
            .is_err());
        assert!(Config::new("h", 25)
            .with_security(Security::StartTls)
            .with_password("u\0", "p")
            .validate()
            .is_err());
    }
}
