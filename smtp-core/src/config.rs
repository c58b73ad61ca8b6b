//! Connection settings, from code or from a one-line URL.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;

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

impl Default for Timeouts {
    fn default() -> Timeouts {
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

/// Everything needed to connect and authenticate.
#[derive(Clone)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: Option<Security>,
    pub(crate) credentials: Option<Credentials>,
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
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
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
            .finish()
    }
}

/// What a URL's on/off options may say.
const FLAG: &str = "pipelining and chunking must be 0, 1, true, false, yes, no, on or off";

/// Parses an on/off URL option value.
fn url_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Config {
    /// Settings for `host:port` with secure defaults: TLS chosen from the
    /// port and credentials (see [`Config::security`]), certificates
    /// verified against the system roots.
    pub fn new(host: impl Into<String>, port: u16) -> Config {
        Config {
            host: host.into(),
            port,
            security: None,
            credentials: None,
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
        }
    }

    /// Parses `smtp://[user[:password]@]host[:port][?options]` or
    /// `smtps://...`. User and password are percent-decoded. Options:
    /// `security=implicit|starttls|opportunistic|none`, `auth=MECHANISM`,
    /// `client_name=NAME`, `ca_file=PATH`, `timeout=SECONDS`,
    /// `token=1` (the password is an OAuth bearer token),
    /// `pipelining=0` and `chunking=0` (see [`Config::with_pipelining`]),
    /// `long_lines=repair|refuse` (see [`Config::with_long_lines`]).
    ///
    /// Ports default to 465 for `smtps` and 587 for `smtp`.
    pub fn from_url(url: &str) -> Result<Config> {
        let bad = |reason: &str| Error::invalid("URL", reason.to_string());
        if url.bytes().any(|b| b.is_ascii_control()) {
            return Err(bad("contains a control character"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("must start with smtp:// or smtps://"))?;
        let implicit = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(bad("scheme must be smtp or smtps")),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains('/') {
            return Err(bad("must not have a path"));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        let port = port.unwrap_or(if implicit { 465 } else { 587 });
        let mut config = Config::new(host, port);
        if implicit {
            config.security = Some(Security::Implicit);
        }
        let mut user_pass = None;
        if let Some(userinfo) = userinfo {
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let decode = |s: &str, field: &'static str| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|s| s.into_owned())
                    .map_err(|_| Error::invalid(field, "is not UTF-8 after percent-decoding"))
            };
            let user = decode(user, "URL user")?;
            let pass = pass.map(|p| decode(p, "URL password")).transpose()?;
            if !user.is_empty() {
                user_pass = Some((user, pass));
            }
        }
        let mut token = false;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| bad("option value is not UTF-8"))?;
            match key {
                "security" | "tls" => {
                    config.security = Some(Security::from_name(&value).ok_or_else(|| {
                        bad("security must be implicit, starttls, opportunistic or none")
                    })?);
                }
                "auth" | "mechanism" => {
                    config.mechanism = Some(
                        Mechanism::from_name(&value)
                            .ok_or_else(|| bad("unknown auth mechanism"))?,
                    );
                }
                "client_name" | "helo" | "ehlo" => config.client_name = Some(value.into_owned()),
                "ca_file" => config.tls.ca_files.push(PathBuf::from(value.as_ref())),
                "timeout" => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| bad("timeout must be whole seconds"))?;
                    config.timeouts = Timeouts::uniform(Duration::from_secs(secs));
                }
                "token" => token = matches!(value.as_ref(), "1" | "true" | "yes"),
                "pipelining" => config.pipelining = url_flag(&value).ok_or_else(|| bad(FLAG))?,
                "chunking" => config.chunking = url_flag(&value).ok_or_else(|| bad(FLAG))?,
                "long_lines" => {
                    config.long_lines = LongLines::from_name(&value)
                        .ok_or_else(|| bad("long_lines must be repair or refuse"))?;
                }
                _ => return Err(bad(&format!("unknown option {key:?}"))),
            }
        }
        if let Some((user, pass)) = user_pass {
            let secret = pass.unwrap_or_default();
            config.credentials = Some(if token {
                Credentials::bearer_token(user, secret)
            } else {
                Credentials::password(user, secret)
            });
        }
        Ok(config)
    }

    /// The server's host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The security mode that applies: the one set with
    /// [`Config::with_security`], else `Implicit` for port 465, else
    /// `StartTls` (required) for port 587 or when credentials are set,
    /// else `StartTlsIfOffered`.
    pub fn security(&self) -> Security {
        match self.security {
            Some(s) => s,
            None if self.port == 465 => Security::Implicit,
            None if self.port == 587 || self.credentials.is_some() => Security::StartTls,
            None => Security::StartTlsIfOffered,
        }
    }

    /// Sets the security mode.
    pub fn with_security(mut self, security: Security) -> Config {
        self.security = Some(security);
        self
    }

    /// Authenticates with a user name and password.
    pub fn with_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Config {
        self.credentials = Some(Credentials::password(user, password));
        self
    }

    /// Authenticates with an OAuth 2.0 bearer token (XOAUTH2 / OAUTHBEARER).
    pub fn with_bearer_token(
        mut self,
        user: impl Into<String>,
        token: impl Into<String>,
    ) -> Config {
        self.credentials = Some(Credentials::bearer_token(user, token));
        self
    }

    /// Sets (or with `None` removes) the credentials.
    pub fn with_credentials(mut self, credentials: Option<Credentials>) -> Config {
        self.credentials = credentials;
        self
    }

    /// The credentials, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Forces one SASL mechanism instead of choosing the strongest offered.
    pub fn with_mechanism(mut self, mechanism: Option<Mechanism>) -> Config {
        self.mechanism = mechanism;
        self
    }

    /// The name sent with EHLO/HELO. Default: this machine's host name if
    /// it is fully qualified, else the local address as a literal such as
    /// `[127.0.0.1]`.
    pub fn with_client_name(mut self, name: impl Into<String>) -> Config {
        self.client_name = Some(name.into());
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
        self.tls.client_cert_pem = Some((chain_pem, zeroize::Zeroizing::new(key_pem)));
        self
    }

    /// DANGEROUS: accepts any server certificate for any name, so anyone
    /// on the path can read and change the session. Only for tests.
    pub fn dangerous_accept_invalid_certs(mut self, on: bool) -> Config {
        self.tls.dangerous_accept_invalid_certs = on;
        self
    }

    /// INSECURE: `true` allows credentials over a connection without TLS
    /// to any server, not only loopback ones. `false` never loosens the
    /// policy: it turns [`PlaintextAuthPolicy::InsecureAlways`] back into
    /// the default [`PlaintextAuthPolicy::LoopbackOnly`] and leaves `Never`
    /// and `LoopbackOnly` as they are.
    pub fn insecure_allow_plaintext_auth(mut self, on: bool) -> Config {
        if on {
            self.plaintext_auth = PlaintextAuthPolicy::InsecureAlways;
        } else if self.plaintext_auth == PlaintextAuthPolicy::InsecureAlways {
            self.plaintext_auth = PlaintextAuthPolicy::LoopbackOnly;
        }
        self
    }

    /// Sets the full plaintext-credentials policy (see [`PlaintextAuthPolicy`]).
    pub fn with_plaintext_auth_policy(mut self, policy: PlaintextAuthPolicy) -> Config {
        self.plaintext_auth = policy;
        self
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

    /// Checks the settings before connecting.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.host.is_empty() {
            return Err(Error::invalid("host", "is empty"));
        }
        if self.host.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(Error::invalid(
                "host",
                "contains a space or a control character",
            ));
        }
        if self.port == 0 {
            return Err(Error::invalid("port", "must not be 0"));
        }
        if let Some(name) = &self.client_name {
            crate::command::validate_client_name(name)?;
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
        if let Some(credentials) = &self.credentials {
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

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return (!host.is_empty()).then(|| (host.to_string(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (s, None),
    };
    (!host.is_empty() && !host.contains(':')).then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;

    #[test]
    fn disallowing_plaintext_auth_never_loosens() {
        use PlaintextAuthPolicy::*;
        let base = || Config::new("mail.example.org", 587);
        for (start, on, expected) in [
            (Never, false, Never),
            (LoopbackOnly, false, LoopbackOnly),
            (InsecureAlways, false, LoopbackOnly),
            (Never, true, InsecureAlways),
            (LoopbackOnly, true, InsecureAlways),
            (InsecureAlways, true, InsecureAlways),
        ] {
            let c = base()
                .with_plaintext_auth_policy(start)
                .insecure_allow_plaintext_auth(on);
            assert_eq!(c.plaintext_auth, expected, "{start:?} then {on}");
        }
        // Twice false stays strict.
        let c = base()
            .with_plaintext_auth_policy(Never)
            .insecure_allow_plaintext_auth(false)
            .insecure_allow_plaintext_auth(false);
        assert_eq!(c.plaintext_auth, Never);
    }

    #[test]
    fn url_with_credentials() {
        let c = Config::from_url("smtp://us%40er:p%3Ass%20w@mail.example.org:2525").unwrap();
        assert_eq!(c.host(), "mail.example.org");
        assert_eq!(c.port(), 2525);
        let creds = c.credentials().unwrap();
        assert_eq!(creds.username(), "us@er");
        match creds.secret() {
            Secret::Password(p) => assert_eq!(p.as_str(), "p:ss w"),
            Secret::BearerToken(_) => panic!("expected a password"),
        }
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
