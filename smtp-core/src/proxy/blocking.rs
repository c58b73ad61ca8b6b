//! The proxy handshake over a blocking stream: the codecs of `socks5` and
//! `http` driven with exact reads (never a byte of the mail server's
//! greeting read ahead), within the connect timeout.

use std::io::{self, Read, Write};

use super::{http, socks5, Proxy, ProxyKind};
use crate::error::Result;

/// Opens the tunnel to `host:port` through `proxy` on `stream`, which is
/// connected to the proxy and has its read and write timeouts set.
pub(crate) fn handshake<S: Read + Write>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
) -> Result<()> {
    let io = |step: &'static str| move |e: io::Error| proxy.step_error(step, e);
    match proxy.kind {
        ProxyKind::Socks5 { .. } => {
            stream
                .write_all(&socks5::greeting(proxy))
                .map_err(io("greeting"))?;
            let mut two = [0u8; 2];
            stream.read_exact(&mut two).map_err(io("greeting"))?;
            if socks5::method_chosen(proxy, two)? {
                stream
                    .write_all(&socks5::auth_request(proxy)?)
                    .map_err(io("authentication"))?;
                stream.read_exact(&mut two).map_err(io("authentication"))?;
                socks5::auth_result(proxy, two)?;
            }
            stream
                .write_all(&socks5::connect_request(proxy, host, port)?)
                .map_err(io("connect"))?;
            let mut head = [0u8; 5];
            stream.read_exact(&mut head).map_err(io("connect"))?;
            let len = socks5::connect_reply_len(proxy, head)?;
            let mut rest = vec![0u8; len - head.len()];
            stream.read_exact(&mut rest).map_err(io("connect"))?;
            Ok(())
        }
        ProxyKind::HttpConnect => {
            stream
                .write_all(&http::connect_request(proxy, host, port)?)
                .map_err(io("request"))?;
            // One octet at a time: what follows the head is the server's.
            let mut head = Vec::with_capacity(256);
            let mut byte = [0u8; 1];
            loop {
                stream.read_exact(&mut byte).map_err(io("response"))?;
                head.push(byte[0]);
                if head.ends_with(b"\r\n\r\n") || head.len() > http::MAX_RESPONSE_HEAD {
                    return match http::response(proxy, &head)? {
                        Some(_) => Ok(()),
                        None => Err(proxy.step_error("response", "the response head is too long")),
                    };
                }
            }
        }
    }
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
        handshake(&mut s, &proxy, "mail.example.org", 587).unwrap();
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
        handshake(&mut s, &proxy, "mail.example.org", 465).unwrap();
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
            let err = handshake(&mut script(input), proxy, "m.example", 25).unwrap_err();
            assert!(matches!(err, crate::Error::Connect { .. }), "{err:?}");
        }
    }
}
