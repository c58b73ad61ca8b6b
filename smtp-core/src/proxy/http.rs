//! The HTTP CONNECT handshake (RFC 9110 9.3.6) as bytes: the request
//! (with `Proxy-Authorization: Basic` when credentials are set) and the
//! parsing of the proxy's response head. Only a 2xx opens the tunnel;
//! the response head is bounded, and any byte after it is the mail
//! server's.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::Proxy;
use crate::error::Result;

/// Longest response head taken from a proxy.
pub const MAX_RESPONSE_HEAD: usize = 8 * 1024;

/// The CONNECT request for `host:port` (an IPv6 address in brackets).
/// Wiped when dropped: it may hold the credentials.
pub fn connect_request(proxy: &Proxy, host: &str, port: u16) -> Result<Zeroizing<Vec<u8>>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.is_empty() || bare.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(proxy.step_error(
            "request",
            "the mail server's name cannot be sent to the proxy",
        ));
    }
    let authority = if bare.contains(':') {
        format!("[{bare}]:{port}")
    } else {
        format!("{bare}:{port}")
    };
    let mut out = Zeroizing::new(Vec::with_capacity(128));
    out.extend_from_slice(
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").as_bytes(),
    );
    if let Some(user) = proxy.user() {
        let pair = Zeroizing::new(format!("{user}:{}", proxy.password()));
        let token =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()));
        out.extend_from_slice(b"Proxy-Authorization: Basic ");
        out.extend_from_slice(token.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// Parses the response head at the start of `received`: `Ok(None)` while
/// it is incomplete, `Ok(Some(n))` when the tunnel is open (`n` octets
/// were the proxy's; what follows is the mail server's), an error for
/// another status, a malformed line, or a head over
/// [`MAX_RESPONSE_HEAD`].
pub fn response(proxy: &Proxy, received: &[u8]) -> Result<Option<usize>> {
    // Something that is not HTTP (an SMTP greeting from a server taken
    // for a proxy) fails at its first line, not at the connect timeout.
    let first_line_done = memchr::memchr(b'\n', received).is_some();
    if (first_line_done || received.len() >= 5)
        && !b"HTTP/".starts_with(&received[..received.len().min(5)])
    {
        return Err(proxy.step_error("response", "not an HTTP response"));
    }
    let Some(end) = memchr::memmem::find(received, b"\r\n\r\n") else {
        if received.len() > MAX_RESPONSE_HEAD {
            return Err(proxy.step_error("response", "the response head is too long"));
        }
        return Ok(None);
    };
    if end + 4 > MAX_RESPONSE_HEAD {
        return Err(proxy.step_error("response", "the response head is too long"));
    }
    let status_line = &received[..memchr::memmem::find(received, b"\r\n").unwrap_or(end)];
    let line = String::from_utf8_lossy(status_line);
    let mut words = line.splitn(3, ' ');
    let version = words.next().unwrap_or("");
    let code = words.next().unwrap_or("");
    let reason: String = words
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    if !version.starts_with("HTTP/1.")
        || code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(proxy.step_error("response", "not an HTTP response"));
    }
    match code.as_bytes()[0] {
        b'2' => Ok(Some(end + 4)),
        // 407 is the proxy's own refusal; tinyproxy answers 401 instead.
        _ if code == "407" || code == "401" => Err(proxy.step_error(
            "authentication",
            if proxy.has_credentials() {
                format!("the proxy refused the credentials ({code})")
            } else {
                format!("the proxy requires credentials ({code})")
            },
        )),
        _ => Err(proxy.step_error("response", format!("{code} {reason}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str) -> Proxy {
        Proxy::parse(url).unwrap()
    }

    #[test]
    fn requests() {
        let plain = proxy("http://h:3128");
        assert_eq!(
            &**connect_request(&plain, "mail.example.org", 587).unwrap(),
            b"CONNECT mail.example.org:587 HTTP/1.1\r\nHost: mail.example.org:587\r\n\r\n"
        );
        let with = proxy("http://ann:pw@h");
        let request = connect_request(&with, "::1", 465).unwrap();
        let text = String::from_utf8_lossy(&request);
        // base64("ann:pw") = YW5uOnB3
        assert!(text.starts_with("CONNECT [::1]:465 HTTP/1.1\r\n"), "{text}");
        assert!(
            text.contains("Proxy-Authorization: Basic YW5uOnB3\r\n"),
            "{text}"
        );
        assert!(connect_request(&plain, "a\r\nX: y", 25).is_err());
    }

    #[test]
    fn responses() {
        let p = proxy("http://ann:pw@h");
        assert_eq!(
            response(&p, b"HTTP/1.1 200 Connection established\r\n").unwrap(),
            None
        );
        let head = b"HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n220 mail ESMTP\r\n";
        assert_eq!(response(&p, head).unwrap(), Some(head.len() - 16));
        let refused = response(&p, b"HTTP/1.1 403 Forbidden\r\n\r\n")
            .unwrap_err()
            .to_string();
        assert!(refused.contains("403 Forbidden"), "{refused}");
        let auth = response(&p, b"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n")
            .unwrap_err()
            .to_string();
        assert!(
            auth.contains("refused the credentials") && !auth.contains("pw"),
            "{auth}"
        );
        assert!(
            response(&p, b"220 mail.example ESMTP\r\n\r\n").is_err(),
            "an SMTP server, not a proxy"
        );
        assert!(response(&p, &vec![b'x'; MAX_RESPONSE_HEAD + 1]).is_err());
        // Not HTTP: known at the first line (or five octets), not at the
        // end of a head that never comes.
        assert!(response(&p, b"220 m").is_err());
        assert!(response(&p, b"22\r\n").is_err());
        assert_eq!(response(&p, b"HTTP").unwrap(), None);
        assert_eq!(response(&p, b"HTTP/1.1 200 OK\r\n").unwrap(), None);
        let with = Proxy::parse("http://ann:pw@h").unwrap();
        let err = response(&with, b"HTTP/1.1 401 Unauthorized\r\n\r\n").unwrap_err();
        assert!(
            err.to_string().contains("HTTP CONNECT authentication"),
            "{err}"
        );
    }
}
