//! The async client's TCP connect: Happy Eyeballs (the RFC 8305
//! connection race) over tokio, the same order and delay as the blocking
//! `eyeballs`, and the proxy tunnel when one is set.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::time::timeout_at;

use super::eyeballs::ATTEMPT_DELAY;
use crate::error::{Error, Phase, Result};
use crate::proxy::Proxy;

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Connects to `host:port`, through `proxy` when set, within `timeout`
/// (and the request's `total` counted from `started`).
pub(crate) async fn connect(
    host: &str,
    port: u16,
    proxy: Option<&Proxy>,
    timeout: Duration,
    total: Option<Duration>,
    started: Instant,
) -> Result<TcpStream> {
    let mut until = Instant::now() + timeout;
    let mut after = timeout;
    if let Some(total) = total {
        if started + total < until {
            (until, after) = (started + total, total);
        }
    }
    let timed_out = || Error::Timeout {
        phase: Phase::Connect,
        after,
    };
    let Some(proxy) = proxy else {
        return tcp(host, port, until).await?.ok_or_else(timed_out);
    };
    let mut stream = match tcp(&proxy.host, proxy.port, until).await {
        Ok(Some(stream)) => stream,
        Ok(None) => return Err(proxy.unreachable(timed_out())),
        Err(e) => return Err(proxy.unreachable(e)),
    };
    let deadline = tokio::time::Instant::from_std(until);
    let target = if proxy.resolves_locally() {
        let server = crate::route::server_name(host, port);
        let lookup = tokio::net::lookup_host((bare(host), port));
        let first = timeout_at(deadline, lookup)
            .await
            .map_err(|_| timed_out())?
            .map_err(|source| Error::Connect {
                server: server.clone(),
                source,
            })?
            .next()
            .ok_or_else(|| Error::Connect {
                server,
                source: io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address"),
            })?;
        first.ip().to_string()
    } else {
        host.to_string()
    };
    crate::proxy::tokio::handshake(&mut stream, proxy, &target, port, deadline).await?;
    Ok(stream)
}

/// `host` without the brackets of an IPv6 address.
fn bare(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Resolves `host` and races its addresses; `None` when `until` passes.
async fn tcp(host: &str, port: u16, until: Instant) -> Result<Option<TcpStream>> {
    let server = crate::route::server_name(host, port);
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let deadline = tokio::time::Instant::from_std(until);
    let resolved =
        match tokio::time::timeout_at(deadline, tokio::net::lookup_host((bare, port))).await {
            Ok(resolved) => resolved.map_err(|source| Error::Connect {
                server: server.clone(),
                source,
            })?,
            Err(_) => return Ok(None),
        };
    let addrs = crate::route::interleave(resolved.collect());
    let mut in_flight: Vec<(SocketAddr, Attempt)> = Vec::new();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    let mut next = 0;
    let mut next_start = Instant::now();
    // Bounded: each turn starts an attempt, ends one, or waits for one of
    // those or for `until`; there are `addrs.len()` attempts at most.
    loop {
        let now = Instant::now();
        if now >= until {
            return Ok(None);
        }
        if next < addrs.len() && (in_flight.is_empty() || now >= next_start) {
            let addr = addrs[next];
            next += 1;
            in_flight.push((addr, Box::pin(TcpStream::connect(addr))));
            next_start = now + ATTEMPT_DELAY;
        }
        if in_flight.is_empty() {
            return Err(Error::Connect {
                server,
                source: last,
            });
        }
        let wake = if next < addrs.len() {
            next_start.min(until)
        } else {
            until
        };
        let first_done = std::future::poll_fn(|cx| {
            for (index, (_, attempt)) in in_flight.iter_mut().enumerate() {
                if let Poll::Ready(outcome) = attempt.as_mut().poll(cx) {
                    return Poll::Ready((index, outcome));
                }
            }
            Poll::Pending
        });
        let wake = tokio::time::Instant::from_std(wake);
        if let Ok((index, outcome)) = tokio::time::timeout_at(wake, first_done).await {
            let (addr, _) = in_flight.remove(index);
            match outcome {
                // The other attempts are dropped here, which closes them.
                Ok(stream) => return Ok(Some(stream)),
                Err(e) => {
                    last = io::Error::new(e.kind(), format!("{addr}: {e}"));
                    // RFC 8305 5: a failed attempt starts the next at once.
                    next_start = Instant::now();
                }
            }
        }
    }
}
