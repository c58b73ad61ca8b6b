//! The proxy handshake over a tokio stream: the same exchanges as the
//! blocking driver, with exact reads, each step within the time limit.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

use super::handshake::Handshake;
use super::Proxy;
use crate::error::Result;

/// Opens the tunnel to `host:port` through `proxy` on `stream`, which is
/// connected to the proxy, by `until` (a step still waiting then is an
/// error naming it).
pub(crate) async fn handshake(
    stream: &mut TcpStream,
    proxy: &Proxy,
    host: &str,
    port: u16,
    until: tokio::time::Instant,
) -> Result<()> {
    let mut handshake = Handshake::new(proxy, host, port);
    let mut received = Vec::new();
    // Bounded: the HTTP head is read one octet at a time up to its limit.
    while let Some(exchange) = handshake.next(&received)? {
        let failed = |e: io::Error| proxy.step_error(exchange.step, e);
        let stalled = |_| proxy.stalled(exchange.step);
        if !exchange.send.is_empty() {
            timeout_at(until, stream.write_all(&exchange.send))
                .await
                .map_err(stalled)?
                .map_err(failed)?;
        }
        received.resize(exchange.read, 0);
        timeout_at(until, stream.read_exact(&mut received))
            .await
            .map_err(stalled)?
            .map_err(failed)?;
    }
    Ok(())
}
