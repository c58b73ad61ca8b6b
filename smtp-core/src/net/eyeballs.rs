//! Happy Eyeballs (RFC 8305 sections 4 and 5, the connection race; the
//! name is resolved first, by the system resolver) for the blocking
//! client: the addresses are tried in interleaved family order, the next
//! attempt started [`ATTEMPT_DELAY`] after the previous one (at once when
//! it fails), all in flight together; the first to connect wins and the
//! others are closed. The whole takes at most the connect timeout.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// How long an attempt runs alone before the next address is tried
/// (RFC 8305 5: "Connection Attempt Delay", recommended 250 ms).
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// How an attempt to connect to a list of addresses ended.
pub(crate) enum Attempts {
    /// Connected (to the address given).
    Connected(TcpStream, SocketAddr),
    /// Every address failed; the last error names its address.
    Failed(io::Error),
    /// `until` came first.
    TimedOut,
}

/// Connects to one of `addrs` (already in the order to try) by `until`.
pub(crate) fn connect_first(addrs: &[SocketAddr], until: Instant) -> Attempts {
    let mut in_flight: Vec<(Socket, SocketAddr)> = Vec::new();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
    let mut next = 0;
    let mut next_start = Instant::now();
    // Bounded: each turn starts an attempt, ends one, or waits for one of
    // those or for `until`; there are `addrs.len()` attempts at most.
    loop {
        let now = Instant::now();
        if now >= until {
            return Attempts::TimedOut;
        }
        if next < addrs.len() && (in_flight.is_empty() || now >= next_start) {
            let addr = addrs[next];
            next += 1;
            next_start = now + ATTEMPT_DELAY;
            match start(addr) {
                Ok(socket) => in_flight.push((socket, addr)),
                // Failed at once (no route for this family): the next
                // address is tried at once too (RFC 8305 5).
                Err(e) => {
                    last = named(addr, e);
                    next_start = now;
                }
            }
            if let Some(done) = take_connected(&mut in_flight, &mut last, 0) {
                return done;
            }
            continue;
        }
        if in_flight.is_empty() {
            return Attempts::Failed(last);
        }
        let wake = if next < addrs.len() {
            next_start.min(until)
        } else {
            until
        };
        let wait = wake.saturating_duration_since(now);
        let before = in_flight.len();
        if let Some(done) = take_connected(&mut in_flight, &mut last, millis(wait)) {
            return done;
        }
        if in_flight.len() < before {
            // An attempt failed: RFC 8305 5 starts the next one at once.
            next_start = Instant::now();
        }
    }
}

/// Starts a non-blocking connect (done or in progress).
fn start(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(socket),
        Err(e) => Err(e),
    }
}

/// Waits up to `wait_ms` for an attempt to finish; returns the winner,
/// dropping the failed attempts (their error kept in `last`).
fn take_connected(
    in_flight: &mut Vec<(Socket, SocketAddr)>,
    last: &mut io::Error,
    wait_ms: libc::c_int,
) -> Option<Attempts> {
    if in_flight.is_empty() {
        return None;
    }
    let mut fds: Vec<libc::pollfd> = in_flight
        .iter()
        .map(|(socket, _)| libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        })
        .collect();
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structures
    // that lives across the call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait_ms) };
    if ready == 0 {
        // The wait is over: the caller's loop checks the time again.
        return None;
    }
    if ready < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::Interrupted => None,
            // Not a state to wait out (it would spin until the deadline).
            _ => Some(Attempts::Failed(err)),
        };
    }
    let mut index = 0;
    for fd in &fds {
        if fd.revents == 0 {
            index += 1;
            continue;
        }
        let (socket, addr) = in_flight.remove(index);
        match socket.take_error() {
            Ok(None) if fd.revents & (libc::POLLERR | libc::POLLHUP) == 0 => {
                match socket.set_nonblocking(false) {
                    Ok(()) => return Some(Attempts::Connected(socket.into(), addr)),
                    Err(e) => *last = named(addr, e),
                }
            }
            Ok(None) => {
                *last = named(
                    addr,
                    io::Error::new(io::ErrorKind::ConnectionRefused, "connection failed"),
                )
            }
            Ok(Some(e)) | Err(e) => *last = named(addr, e),
        }
    }
    None
}

fn named(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{addr}: {e}"))
}

/// A poll(2) timeout: whole milliseconds, rounded up so a wait never
/// spins, capped to what `c_int` holds.
fn millis(wait: Duration) -> libc::c_int {
    let ms = wait.as_micros().div_ceil(1000);
    ms.min(libc::c_int::MAX as u128) as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_refused_address_moves_on_to_the_next_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let good = listener.local_addr().unwrap();
        // A port just freed: refused.
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let started = Instant::now();
        match connect_first(&[closed, good], started + Duration::from_secs(10)) {
            Attempts::Connected(_, addr) => assert_eq!(addr, good),
            Attempts::Failed(e) => panic!("failed: {e}"),
            Attempts::TimedOut => panic!("timed out"),
        }
    }

    #[test]
    fn all_refused_names_the_last_address() {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        match connect_first(&[closed], Instant::now() + Duration::from_secs(10)) {
            Attempts::Failed(e) => assert!(e.to_string().contains(&closed.to_string()), "{e}"),
            _ => panic!("expected a failure"),
        }
    }
}
