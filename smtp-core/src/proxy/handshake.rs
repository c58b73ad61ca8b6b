//! The proxy handshake as a sequence of exchanges (bytes to send, then
//! exactly how many to read), so the blocking and the async driver run
//! the same steps and never read a byte of the mail server's greeting.

use zeroize::Zeroizing;

use super::{http, socks5, Proxy, ProxyKind};
use crate::error::Result;

/// One exchange with the proxy: write `send` (may be empty), then read
/// exactly `read` octets and give them to [`Handshake::next`].
pub(crate) struct Exchange {
    pub(crate) send: Zeroizing<Vec<u8>>,
    pub(crate) read: usize,
    /// The step, for errors ("greeting", "authentication"...).
    pub(crate) step: &'static str,
}

#[derive(Clone, Copy)]
enum State {
    Start,
    Method,
    Authenticated,
    ReplyHead,
    ReplyRest,
    ResponseHead,
    Done,
}

/// Where the handshake with a proxy stands.
pub(crate) struct Handshake<'a> {
    proxy: &'a Proxy,
    host: &'a str,
    port: u16,
    state: State,
    /// The HTTP response head read so far (one octet at a time).
    head: Vec<u8>,
}

impl<'a> Handshake<'a> {
    /// A handshake opening a tunnel to `host:port` through `proxy`.
    pub(crate) fn new(proxy: &'a Proxy, host: &'a str, port: u16) -> Handshake<'a> {
        Handshake {
            proxy,
            host,
            port,
            state: State::Start,
            head: Vec::new(),
        }
    }

    /// The next exchange, given what the previous one read (empty at the
    /// start); `None` when the tunnel is open.
    pub(crate) fn next(&mut self, received: &[u8]) -> Result<Option<Exchange>> {
        let proxy = self.proxy;
        let two = |r: &[u8]| {
            [
                r.first().copied().unwrap_or(0),
                r.get(1).copied().unwrap_or(0),
            ]
        };
        let (state, exchange) = match (self.state, proxy.kind) {
            (State::Start, ProxyKind::Socks5 { .. }) => (
                State::Method,
                exchange(Zeroizing::new(socks5::greeting(proxy)), 2, "greeting"),
            ),
            (State::Method, _) => {
                if socks5::method_chosen(proxy, two(received))? {
                    (
                        State::Authenticated,
                        exchange(socks5::auth_request(proxy)?, 2, "authentication"),
                    )
                } else {
                    (State::ReplyHead, self.connect()?)
                }
            }
            (State::Authenticated, _) => {
                socks5::auth_result(proxy, two(received))?;
                (State::ReplyHead, self.connect()?)
            }
            (State::ReplyHead, _) => {
                let mut head = [0u8; 5];
                head.copy_from_slice(&received[..5]);
                let len = socks5::connect_reply_len(proxy, head)?;
                (
                    State::ReplyRest,
                    exchange(
                        Zeroizing::new(Vec::new()),
                        len.saturating_sub(head.len()),
                        "connect",
                    ),
                )
            }
            (State::ReplyRest, _) => (State::Done, None),
            (State::Start, ProxyKind::HttpConnect) => (
                State::ResponseHead,
                exchange(
                    http::connect_request(proxy, self.host, self.port)?,
                    1,
                    "request",
                ),
            ),
            (State::ResponseHead, _) => {
                self.head.extend_from_slice(received);
                // Checked at its first five octets and at each line end, so
                // something that is not HTTP (an SMTP greeting) fails at
                // once rather than at the connect timeout.
                if self.head.len() == 5 || self.head.ends_with(b"\n") {
                    http::response(proxy, &self.head)?;
                }
                if self.head.ends_with(b"\r\n\r\n") || self.head.len() > http::MAX_RESPONSE_HEAD {
                    match http::response(proxy, &self.head)? {
                        Some(_) => (State::Done, None),
                        None => {
                            return Err(
                                proxy.step_error("response", "the response head is too long")
                            )
                        }
                    }
                } else {
                    (
                        State::ResponseHead,
                        exchange(Zeroizing::new(Vec::new()), 1, "response"),
                    )
                }
            }
            (State::Done, _) => (State::Done, None),
        };
        self.state = state;
        Ok(exchange)
    }

    fn connect(&self) -> Result<Option<Exchange>> {
        let request = socks5::connect_request(self.proxy, self.host, self.port)?;
        Ok(exchange(Zeroizing::new(request), 5, "connect"))
    }
}

fn exchange(send: Zeroizing<Vec<u8>>, read: usize, step: &'static str) -> Option<Exchange> {
    Some(Exchange { send, read, step })
}
