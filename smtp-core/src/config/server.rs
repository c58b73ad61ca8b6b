//! Where the server is, as text: `host[:port]` forms, comma-separated
//! relay lists, and `smtp://` / `smtps://` URLs taken apart into
//! [`Config`] settings.

use percent_encoding::percent_decode_str;

use super::Config;
use crate::error::{Error, Result};
use crate::tls::Security;

/// Splits `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address
/// (two colons or more, no port) into a host and a port. Surrounding
/// blanks are ignored. `None` for an empty host, a bad port or an
/// unclosed bracket.
pub fn split_host_port(server: &str) -> Option<(String, Option<u16>)> {
    let server = server.trim();
    if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?.parse().ok()?),
        };
        return (!host.is_empty()).then(|| (host.to_string(), port));
    }
    let (host, port) = match server.matches(':').count() {
        0 => (server, None),
        1 => {
            let (host, port) = server.split_once(':')?;
            (host, Some(port.parse().ok()?))
        }
        _ => (server, None),
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// Percent-decodes a URL part into UTF-8.
fn decode(text: &str, field: &'static str) -> Result<String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::invalid(field, "is not UTF-8 after percent-decoding"))
}

impl Config {
    /// Applies a URL: the server (host, port: the URL's, else the scheme's
    /// default), the scheme's security (`smtps`: implicit TLS, `smtp`:
    /// automatic), the user and password when it has them, then each
    /// query option through [`Config::set`].
    pub(super) fn apply_url(&mut self, url: &str) -> Result<()> {
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
        // A URL's host needs brackets around an IPv6 address. A relay list
        // (`a.example,b.example:2525`) is kept whole: `servers` splits it.
        let (host, port) = if hostport.contains(',') {
            let list = Config::for_host(hostport);
            list.servers().map_err(|_| bad("bad server list"))?;
            (hostport.to_string(), None)
        } else {
            split_host_port(hostport)
                .filter(|(host, _)| hostport.starts_with('[') || !host.contains(':'))
                .ok_or_else(|| bad("bad host or port"))?
        };
        self.host = host;
        self.port = port;
        self.security = implicit.then_some(Security::Implicit);
        if let Some(userinfo) = userinfo {
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let user = decode(user, "URL user")?;
            if !user.is_empty() {
                self.set_user(user);
            }
            if let Some(pass) = pass {
                let pass = zeroize::Zeroizing::new(decode(pass, "URL password")?);
                self.set_secret(&pass);
            }
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if key == "url" {
                return Err(bad("must not hold a url option"));
            }
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| bad("option value is not UTF-8"))?;
            self.set(key, &value)?;
        }
        Ok(())
    }
}

impl Config {
    /// The servers to try, in order, each with its port: the host setting
    /// split at commas (`a.example,b.example:2525,[::1]`), an item without
    /// a port taking the configured one (or the security mode's default).
    /// One server for a host without commas.
    pub fn servers(&self) -> Result<Vec<(String, u16)>> {
        if !self.host.contains(',') {
            return Ok(vec![(self.host.clone(), self.port())]);
        }
        self.host
            .split(',')
            .map(|item| {
                let (host, port) = split_host_port(item).ok_or_else(|| {
                    Error::invalid(
                        "host",
                        format!(
                            "server list item {:?} must be a host name, an address, host:port or [IPv6]:port",
                            item.trim()
                        ),
                    )
                })?;
                Ok((host, port.unwrap_or_else(|| self.port())))
            })
            .collect()
    }

    /// These settings for one server of the list.
    pub(crate) fn for_one_server(&self, host: &str, port: u16) -> Config {
        let mut config = self.clone();
        config.host = host.to_string();
        config.port = Some(port);
        config
    }
}
