//! The proxy handshake over a blocking stream: the exchanges of
//! `handshake` driven with exact reads (never a byte of the mail
//! server's greeting read ahead), within the connect timeout.

use std::io::{self, Read, Write};

use super::handshake::Handshake;
use super::Proxy;
use crate::error::Result;

/// Opens the tunnel to `host:port` through `proxy` on `stream`, which is
/// connected to the proxy. `arm` runs before each exchange and sets the
/// stream's timeouts to the time left (an error when none is left), so
/// the whole handshake, however the proxy dribbles its bytes, ends by one
/// deadline.
pub(crate) fn handshake<S: Read + Write>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
    mut arm: impl FnMut(&mut S) -> io::Result<()>,
) -> Result<()> {
    let mut handshake = Handshake::new(proxy, host, port);
    let mut received = Vec::new();
    // Bounded: the HTTP head is read one octet at a time up to its limit,
    // and every exchange within the one deadline `arm` keeps.
    while let Some(exchange) = handshake.next(&received)? {
        let failed = |e: io::Error| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => proxy.stalled(exchange.step),
            _ => proxy.step_error(exchange.step, e),
        };
        arm(stream).map_err(failed)?;
        if !exchange.send.is_empty() {
            stream.write_all(&exchange.send).map_err(failed)?;
        }
        received.resize(exchange.read, 0);
        stream.read_exact(&mut received).map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that gives `input` and keeps what is written.
    struct Script {
        input: io::Cursor<Vec<u8>>,
        output: Vec<u8>,
    }

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.input.read(buf)
        }
    }

    impl Write for Script {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn script(input: &[u8]) -> Script {
        Script {
            input: io::Cursor::new(input.to_vec()),
            output: Vec::new(),
        }
    }

    #[test]
    fn socks5_with_authentication_leaves_the_greeting_unread() {
        let proxy = Proxy::parse("socks5://ann:pw@h").unwrap();
        let mut s =
            script(b"\x05\x02\x01\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x02\x4b220 greeting\r\n");
        handshake(&mut s, &proxy, "mail.example.org", 587, |_| Ok(())).unwrap();
        let mut rest = String::new();
        s.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "220 greeting\r\n");
        assert!(s
            .output
            .starts_with(b"\x05\x02\x00\x02\x01\x03ann\x02pw\x05\x01\x00\x03"));
    }

    #[test]
    fn http_connect_reads_only_the_head() {
        let proxy = Proxy::parse("http://h").unwrap();
        let mut s = script(b"HTTP/1.1 200 OK\r\n\r\n220 greeting\r\n");
        handshake(&mut s, &proxy, "mail.example.org", 465, |_| Ok(())).unwrap();
        let mut rest = String::new();
        s.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "220 greeting\r\n");
    }

    #[test]
    fn a_proxy_that_stops_or_refuses_is_a_connect_error() {
        let socks = Proxy::parse("socks5://h").unwrap();
        let http = Proxy::parse("http://h").unwrap();
        for (proxy, input) in [
            (&socks, &b"\x05"[..]),
            (&socks, b"\x05\x00\x05\x05\x00\x01\x00"),
            (&http, b"HTTP/1.1 200 OK\r\n"),
            (&http, b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
        ] {
            let err =
                handshake(&mut script(input), proxy, "m.example", 25, |_| Ok(())).unwrap_err();
            assert!(matches!(err, crate::Error::Connect { .. }), "{err:?}");
        }
    }

    #[test]
    fn a_mail_server_taken_for_an_http_proxy_fails_at_its_first_line() {
        let http = Proxy::parse("http://h").unwrap();
        let mut s = script(b"220 mail.example ESMTP\r\nnever read");
        let err = handshake(&mut s, &http, "m.example", 25, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("not an HTTP response"), "{err}");
        // Five octets were enough to tell.
        assert_eq!(s.input.position(), 5);
    }

    #[test]
    fn the_deadline_covers_the_whole_handshake() {
        // `arm` says no time is left at the fourth exchange: however the
        // proxy paces its bytes, the handshake stops there, naming the step.
        let http = Proxy::parse("http://h").unwrap();
        let mut s = script(b"HTTP/1.1 200 OK\r\n\r\n");
        let mut exchanges = 0;
        let err = handshake(&mut s, &http, "m.example", 25, |_| {
            exchanges += 1;
            match exchanges {
                4 => Err(io::ErrorKind::TimedOut.into()),
                _ => Ok(()),
            }
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("HTTP CONNECT response: no answer within the connect timeout"),
            "{err}"
        );
        assert_eq!(exchanges, 4);
    }
}
