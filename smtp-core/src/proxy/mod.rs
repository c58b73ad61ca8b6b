//! Proxies a connection can go through: SOCKS5 (RFC 1928, with RFC 1929
//! user/password) and HTTP CONNECT (RFC 9110 9.3.6, Basic credentials).
//! This module is I/O-free, like the engine: the proxy's address and
//! credentials from a URL, and for each protocol the bytes to send and
//! the parsing of what comes back, so both drivers run the same
//! handshake. Proxy credentials are secrets: wiped when dropped, never
//! shown by `Debug` or in an error.

pub(crate) mod blocking;
pub(crate) mod handshake;
pub mod http;
pub mod socks5;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;

use std::fmt;

use percent_encoding::percent_decode_str;
use zeroize::Zeroizing;

use crate::auth::SecretString;
use crate::error::{Error, Result};

/// Which protocol the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS5. `remote_dns`: the proxy resolves the mail server's name
    /// (`socks5h://`, and the default for `socks5://` too, so no DNS
    /// query leaves this machine); otherwise the client resolves it
    /// (`socks5l://`, "local").
    Socks5 {
        /// Whether the proxy resolves the target's name.
        remote_dns: bool,
    },
    /// An HTTP proxy's CONNECT method (`http://`).
    HttpConnect,
}

/// A proxy: its kind, address and optional credentials.
#[derive(Clone)]
pub struct Proxy {
    /// The protocol.
    pub kind: ProxyKind,
    /// The proxy's host (a name or an address, brackets removed).
    pub host: String,
    /// The proxy's port.
    pub port: u16,
    user: Option<String>,
    password: Option<SecretString>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl Proxy {
    /// Parses `socks5://[user[:password]@]host[:port]` (also `socks5h://`,
    /// `socks5l://`; port 1080 by default) or
    /// `http://[user[:password]@]host[:port]` (port 3128 by default).
    /// User and password may be percent-encoded. Anything else (a path, a
    /// query, another scheme, CR/LF, an empty host) is
    /// [`Error::InvalidInput`]; the error never repeats the password.
    pub fn parse(url: &str) -> Result<Proxy> {
        let bad = |reason: &str| Error::invalid("proxy", reason.to_string());
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected socks5://host:port or http://host:port"))?;
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "socks5" | "socks5h" => (ProxyKind::Socks5 { remote_dns: true }, 1080),
            "socks5l" => (ProxyKind::Socks5 { remote_dns: false }, 1080),
            "http" => (ProxyKind::HttpConnect, 3128),
            _ => return Err(bad("the scheme must be socks5, socks5h, socks5l or http")),
        };
        if rest.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(bad("holds a space or a control character"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("takes no path, query or fragment"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = crate::config::split_host_port(hostport)
            .ok_or_else(|| bad("expected host or host:port"))?;
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        if port == Some(0) {
            return Err(bad("the port must be 1 to 65535"));
        }
        let decode = |s: &str| -> Result<Zeroizing<String>> {
            let bytes = Zeroizing::new(percent_decode_str(s).collect::<Vec<u8>>());
            String::from_utf8(bytes.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| bad("credentials are not UTF-8 once percent-decoded"))
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (u, p) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = decode(u)?;
                if user.is_empty() {
                    return Err(bad("the user name is empty"));
                }
                let password = match p {
                    Some(p) => Some(SecretString::new(decode(p)?.as_str())),
                    None => None,
                };
                (Some(user.to_string()), password)
            }
        };
        Ok(Proxy {
            kind,
            host,
            port: port.unwrap_or(default_port),
            user,
            password,
        })
    }

    /// The user name, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// True for `socks5l://`: the mail server's name is resolved here.
    pub(crate) fn resolves_locally(&self) -> bool {
        matches!(self.kind, ProxyKind::Socks5 { remote_dns: false })
    }

    /// `err`, from connecting to the proxy itself, as an error that says
    /// it is the proxy that could not be reached.
    pub(crate) fn unreachable(&self, err: Error) -> Error {
        match err {
            Error::Connect { source, .. } => self.step_error("connection", source),
            Error::Timeout { after, .. } => {
                self.step_error("connection", format!("no answer within {after:?}"))
            }
            other => other,
        }
    }

    /// The error of a step the proxy did not answer in time.
    pub(crate) fn stalled(&self, step: &str) -> Error {
        self.step_error(step, "no answer within the connect timeout")
    }

    /// Whether credentials are set.
    pub fn has_credentials(&self) -> bool {
        self.user.is_some()
    }

    /// `host:port` of the proxy, for messages (never the credentials).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The password (empty when only a user was given).
    pub(crate) fn password(&self) -> &str {
        self.password.as_ref().map_or("", SecretString::as_str)
    }

    /// The error of a failed proxy step: a connection error naming the
    /// proxy and the step, never the credentials.
    pub fn step_error(&self, step: &str, reason: impl fmt::Display) -> Error {
        let kind = match self.kind {
            ProxyKind::Socks5 { .. } => "SOCKS5",
            ProxyKind::HttpConnect => "HTTP CONNECT",
        };
        // A refused proxy login is marked, so a relay list does not try the
        // same credentials once per server (`route::fails_over`).
        let io_kind = match step {
            "authentication" => std::io::ErrorKind::PermissionDenied,
            _ => std::io::ErrorKind::Other,
        };
        Error::Connect {
            server: format!("proxy {}", self.address()),
            source: std::io::Error::new(io_kind, format!("{kind} {step}: {reason}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_defaults() {
        let p = Proxy::parse("socks5://proxy.example:9050").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5 { remote_dns: true });
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 9050));
        assert!(!p.has_credentials());
        let p = Proxy::parse("socks5l://127.0.0.1").unwrap();
        assert_eq!(
            (p.kind, p.port),
            (ProxyKind::Socks5 { remote_dns: false }, 1080)
        );
        let p = Proxy::parse("http://u%40x:p%3Ass@[::1]:8080/").unwrap();
        assert_eq!(
            (p.kind, p.host.as_str(), p.port),
            (ProxyKind::HttpConnect, "::1", 8080)
        );
        assert_eq!((p.user(), p.password()), (Some("u@x"), "p:ss"));
        assert_eq!(p.address(), "[::1]:8080");
        assert_eq!(Proxy::parse("HTTP://h").unwrap().port, 3128);
    }

    #[test]
    fn bad_urls_are_invalid_input_without_the_password() {
        for bad in [
            "h:1080",
            "ftp://h",
            "socks5://",
            "socks5://user:secretpw@",
            "http://h/path",
            "http://h?x=1",
            "socks5://h:0",
            "socks5://h:99999",
            "socks5://:secretpw@h",
            "socks5://u:secret\r\npw@h",
            "socks5://u:%ff@h",
        ] {
            match Proxy::parse(bad) {
                Err(Error::InvalidInput { field, reason }) => {
                    assert_eq!(field, "proxy", "{bad}");
                    assert!(!reason.contains("secret"), "{bad}: {reason}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn debug_and_errors_hide_the_password() {
        let p = Proxy::parse("socks5://alice:s3cr3t@h:1").unwrap();
        let shown = format!("{p:?} {}", p.step_error("authentication", "refused"));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("SOCKS5 authentication: refused"), "{shown}");
        assert!(shown.contains("proxy h:1"), "{shown}");
    }
}
