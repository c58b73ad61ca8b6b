//! Connection settings as the C API collects them: a server (host and
//! port, or a URL) plus whatever the caller set, turned into a
//! [`smtp_core::Config`] at connect time. Keeping them apart lets a port
//! of 0 follow the security mode chosen later (465 for implicit TLS, else
//! 587), and lets a setter override what a URL said.

use std::ffi::{c_char, c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use smtp_core::{
    Config, Credentials, Direction, LongLines, Mechanism, RecipientPolicy, Security, Timeouts,
};
use zeroize::Zeroizing;

use crate::last::c_string;
use crate::result::Failure;
use crate::types::smtp_direction;

/// Where to connect.
#[derive(Clone)]
pub(crate) enum Server {
    /// A host name or address and a port (0: chosen from the security mode).
    Host { host: String, port: u16 },
    /// Everything a `smtp://` or `smtps://` URL said.
    Url(Box<Config>),
}

impl Server {
    /// `server` is a URL (it has `://`) or a host, `host:port`, `[v6]`,
    /// `[v6]:port` or a bare IPv6 address. A non-zero `port` wins over a
    /// port in `server`.
    pub(crate) fn parse(server: &str, port: u16) -> Result<Server, Failure> {
        if server.contains("://") {
            let config = if port == 0 {
                Config::from_url(server)?
            } else {
                // The rewritten URL may hold a password: wiped when dropped.
                let url = url_with_port(server, port);
                Config::from_url(&url)?
            };
            return Ok(Server::Url(Box::new(config)));
        }
        let (host, in_string) = split_host_port(server)?;
        Ok(Server::Host {
            host,
            port: if port != 0 {
                port
            } else {
                in_string.unwrap_or(0)
            },
        })
    }
}

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
fn split_host_port(server: &str) -> Result<(String, Option<u16>), Failure> {
    let bad = || Failure::invalid("server", "must be a host name, an address or host:port");
    let server = server.trim();
    if server.is_empty() {
        return Err(Failure::invalid("server", "is empty"));
    }
    if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?,
            ),
        };
        return Ok((host.to_string(), port));
    }
    match server.matches(':').count() {
        0 => Ok((server.to_string(), None)),
        1 => {
            let (host, port) = server.split_once(':').ok_or_else(bad)?;
            let port = port.parse().map_err(|_| bad())?;
            Ok((host.to_string(), Some(port)))
        }
        // A bare IPv6 address.
        _ => Ok((server.to_string(), None)),
    }
}

/// `url` with its port replaced by `port`. A URL this cannot make sense of
/// is returned unchanged, for `Config::from_url` to report.
pub(crate) fn url_with_port(url: &str, port: u16) -> Zeroizing<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Zeroizing::new(url.to_string());
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, slash) = match before_query.strip_suffix('/') {
        Some(a) => (a, "/"),
        None => (before_query, ""),
    };
    if authority.contains('/') {
        return Zeroizing::new(url.to_string());
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let host = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(end) => &hostport[..=end],
            None => return Zeroizing::new(url.to_string()),
        }
    } else {
        hostport.rsplit_once(':').map_or(hostport, |(h, _)| h)
    };
    let mut out = Zeroizing::new(String::with_capacity(url.len() + 6));
    out.push_str(scheme);
    out.push_str("://");
    if let Some(userinfo) = userinfo {
        out.push_str(userinfo);
        out.push('@');
    }
    out.push_str(host);
    out.push(':');
    out.push_str(&port.to_string());
    out.push_str(slash);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A C transcript callback and its user pointer.
pub(crate) struct CTranscript {
    pub(crate) callback: unsafe extern "C" fn(*mut c_void, c_int, *const c_char),
    pub(crate) userdata: *mut c_void,
}

// SAFETY: the callback is only ever invoked synchronously on the thread
// that called into the library (smtp-core calls transcript sinks inline);
// the C API documents that the user pointer is handed back on that
// thread. smtp-core requires Send + Sync only because its sink type is
// shared through an Arc.
unsafe impl Send for CTranscript {}
// SAFETY: see above.
unsafe impl Sync for CTranscript {}

impl CTranscript {
    fn line(&self, direction: Direction, line: &str) {
        // A Rust panic here (it would take an allocation failure) must not
        // cross the C frames of the caller's callback: catch it and drop
        // the line.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let text: CString = c_string(line);
            let direction = smtp_direction::from(direction) as c_int;
            // SAFETY: the caller registered this function with this user
            // pointer; the line is NUL-terminated and lives for the call.
            unsafe { (self.callback)(self.userdata, direction, text.as_ptr()) };
        }));
    }
}

/// Everything set on a client, applied when it connects.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) server: Server,
    pub(crate) security: Option<Security>,
    /// `None`: as the URL said; `Some(None)`: no credentials.
    pub(crate) credentials: Option<Option<Credentials>>,
    /// `None`: as the URL said; `Some(None)`: automatic.
    pub(crate) mechanism: Option<Option<Mechanism>>,
    pub(crate) client_name: Option<String>,
    pub(crate) ca_files: Vec<String>,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) timeouts: Option<Timeouts>,
    pub(crate) recipient_policy: Option<RecipientPolicy>,
    pub(crate) insecure_plaintext_auth: bool,
    pub(crate) transcript: Option<Arc<CTranscript>>,
    /// `None`: as the URL said (on unless `?pipelining=0`).
    pub(crate) pipelining: Option<bool>,
    /// `None`: as the URL said (on unless `?chunking=0`).
    pub(crate) chunking: Option<bool>,
    /// `None`: as the URL said (repair unless `?long_lines=refuse`).
    pub(crate) long_lines: Option<LongLines>,
}

impl Settings {
    pub(crate) fn new(server: Server) -> Settings {
        Settings {
            server,
            security: None,
            credentials: None,
            mechanism: None,
            client_name: None,
            ca_files: Vec::new(),
            accept_invalid_certs: false,
            timeouts: None,
            recipient_policy: None,
            insecure_plaintext_auth: false,
            transcript: None,
            pipelining: None,
            chunking: None,
            long_lines: None,
        }
    }

    /// The smtp-core configuration for the next connection.
    pub(crate) fn config(&self) -> Config {
        let mut config = match &self.server {
            Server::Host { host, port } => {
                let port = match (*port, self.security) {
                    (0, Some(Security::Implicit)) => 465,
                    (0, _) => 587,
                    (p, _) => p,
                };
                Config::new(host.clone(), port)
            }
            Server::Url(config) => (**config).clone(),
        };
        if let Some(security) = self.security {
            config = config.with_security(security);
        }
        if let Some(credentials) = &self.credentials {
            config = config.with_credentials(credentials.clone());
        }
        if let Some(mechanism) = self.mechanism {
            config = config.with_mechanism(mechanism);
        }
        if let Some(name) = &self.client_name {
            config = config.with_client_name(name.clone());
        }
        for file in &self.ca_files {
            config = config.with_ca_file(file);
        }
        if self.accept_invalid_certs {
            config = config.dangerous_accept_invalid_certs(true);
        }
        if let Some(timeouts) = self.timeouts {
            config = config.with_timeouts(timeouts);
        }
        if let Some(policy) = self.recipient_policy {
            config = config.with_recipient_policy(policy);
        }
        if self.insecure_plaintext_auth {
            config = config
                .insecure_allow_plaintext_auth(true)
                .insecure_opportunistic_tls_with_credentials(true);
        }
        if let Some(on) = self.pipelining {
            config = config.with_pipelining(on);
        }
        if let Some(on) = self.chunking {
            config = config.with_chunking(on);
        }
        if let Some(policy) = self.long_lines {
            config = config.with_long_lines(policy);
        }
        if let Some(transcript) = &self.transcript {
            let transcript = Arc::clone(transcript);
            config =
                config.with_transcript(move |direction, line| transcript.line(direction, line));
        }
        config
    }
}

/// Timeouts from milliseconds, 0 meaning the library default.
pub(crate) fn timeouts_from_ms(connect_ms: u32, io_ms: u32, total_ms: u32) -> Timeouts {
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let mut t = if io_ms == 0 {
        Timeouts::default()
    } else {
        Timeouts::uniform(ms(io_ms))
    };
    t.connect = if connect_ms == 0 {
        Timeouts::default().connect
    } else {
        ms(connect_ms)
    };
    t.total = (total_ms != 0).then(|| ms(total_ms));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_in_urls_are_replaced() {
        let cases = [
            ("smtp://h", "smtp://h:2525"),
            ("smtp://h:25", "smtp://h:2525"),
            (
                "smtps://u:p%40ss@h:465/?ca_file=/x",
                "smtps://u:p%40ss@h:2525/?ca_file=/x",
            ),
            (
                "smtp://u@x:p@[::1]:25?auth=plain",
                "smtp://u@x:p@[::1]:2525?auth=plain",
            ),
            ("smtp://[::1]", "smtp://[::1]:2525"),
            ("smtp://h/path", "smtp://h/path"),
        ];
        for (input, expected) in cases {
            assert_eq!(url_with_port(input, 2525).as_str(), expected, "{input}");
        }
    }

    #[test]
    fn servers_parse() {
        let host = |s: &str, p: u16| match Server::parse(s, p).unwrap() {
            Server::Host { host, port } => (host, port),
            Server::Url(_) => panic!("not a URL: {s}"),
        };
        assert_eq!(host("mail.example.org", 0), ("mail.example.org".into(), 0));
        assert_eq!(
            host("mail.example.org:25", 0),
            ("mail.example.org".into(), 25)
        );
        assert_eq!(
            host("mail.example.org:25", 2525),
            ("mail.example.org".into(), 2525)
        );
        assert_eq!(host("[::1]:25", 0), ("::1".into(), 25));
        assert_eq!(host("::1", 26), ("::1".into(), 26));
        assert!(Server::parse("", 0).is_err());
        assert!(Server::parse("h:x", 0).is_err());
        assert!(Server::parse("[::1", 0).is_err());
        match Server::parse("smtp://u:pw@h:26", 2525).unwrap() {
            Server::Url(c) => assert_eq!((c.host(), c.port()), ("h", 2525)),
            Server::Host { .. } => panic!("a URL"),
        }
    }

    #[test]
    fn default_ports_follow_security() {
        let s = |security| {
            let mut s = Settings::new(Server::Host {
                host: "h".into(),
                port: 0,
            });
            s.security = security;
            s.config()
        };
        assert_eq!(s(None).port(), 587);
        assert_eq!(s(Some(Security::Implicit)).port(), 465);
        assert_eq!(s(Some(Security::Implicit)).security(), Security::Implicit);
        assert_eq!(s(Some(Security::None)).port(), 587);
    }

    #[test]
    fn timeouts() {
        let t = timeouts_from_ms(0, 0, 0);
        assert_eq!(t, Timeouts::default());
        let t = timeouts_from_ms(1500, 2000, 9000);
        assert_eq!(t.connect, Duration::from_millis(1500));
        assert_eq!(t.data_end, Duration::from_secs(2));
        assert_eq!(t.total, Some(Duration::from_secs(9)));
    }
}
