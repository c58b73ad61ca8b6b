//! The one configuration model: every connection setting, set from code
//! (the typed `with_*` methods here) or from text (`Config::set`, URLs,
//! configuration files, the C ABI and PHP: `options.rs`), checked in one
//! place before connecting.

mod delivery;
mod dkim;
mod options;
mod server;
mod token;

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
    /// Where bearer tokens come from, with the token cache every clone
    /// shares (`auth/token.rs`); the credentials then hold no secret.
    pub(crate) token: Option<crate::auth::token::TokenSource>,
    /// A cached token expiring within this is replaced before use.
    pub(crate) token_refresh_margin: Duration,
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
    pub(crate) dsn: delivery::DsnDefaults,
    /// The proxy the connection goes through, if any.
    pub(crate) proxy: Option<crate::proxy::Proxy>,
    /// Signs every composed and raw message sent (`config/dkim.rs`).
    pub(crate) dkim: Option<std::sync::Arc<crate::dkim::DkimSigner>>,
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
            .field("token_provider", &self.token.is_some())
            .field("token_refresh_margin", &self.token_refresh_margin)
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
            .field("dsn", &self.dsn)
            .field("proxy", &self.proxy)
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
            token: None,
            token_refresh_margin: crate::auth::DEFAULT_TOKEN_REFRESH_MARGIN,
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
            dsn: delivery::DsnDefaults::default(),
            proxy: None,
            dkim: None,
            dkim_text: dkim::DkimText::default(),
        }
    }

    /// Settings for a server written as `host`, `host:port`, `[v6]`,
    /// `[v6]:port` or a bare IPv6 address (see [`split_host_port`]);
    /// without a port, the security mode's default.
    ///
    /// A comma-separated list (`a.example,b.example:2525`) is a relay list
    /// tried in order (see [`Config::servers`]).
    pub fn for_server(server: &str) -> Result<Config> {
        if server.contains(',') {
            let config = Config::for_host(server.trim());
            config.servers()?;
            return Ok(config);
        }
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

    /// Authenticates with these credentials (replacing a token provider).
    pub fn with_credentials(mut self, credentials: Credentials) -> Config {
        self.secret_is_token = credentials.is_bearer_token();
        self.credentials = Some(credentials);
        self.secret_given = true;
        self.pending_secret = None;
        self.token = None;
        self
    }

    /// Does not authenticate.
    pub fn without_credentials(mut self) -> Config {
        self.credentials = None;
        self.secret_given = false;
        self.pending_secret = None;
        self.token = None;
        self
    }

    /// Whether a password or token (or a token provider) is set, with or
    /// without a user.
    pub fn has_secret(&self) -> bool {
        self.pending_secret.is_some()
            || self.token.is_some()
            || (self.credentials.is_some() && self.secret_given)
    }

    /// The credentials, if any. With a token provider their token is
    /// empty: the provider's goes in when connecting.
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
        for (host, port) in self.servers()? {
            if host.is_empty() || port == 0 {
                return Err(Error::invalid(
                    "host",
                    "has an empty server or port 0 in its list",
                ));
            }
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
        if self.token.is_some() && self.credentials.is_none() {
            return Err(Error::invalid(
                "user",
                "is not set, but an OAuth 2.0 token provider is: set the user too",
            ));
        }
        if let Some(credentials) = &self.credentials {
            // The provider's token is checked when it comes.
            let placeholder;
            let credentials = match &self.token {
                Some(_) => {
                    placeholder =
                        credentials.with_bearer_token(crate::auth::SecretString::new("token"));
                    &placeholder
                }
                None => credentials,
            };
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
mod tests;
