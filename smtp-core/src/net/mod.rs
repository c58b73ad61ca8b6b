//! The blocking driver's socket: TCP (the resolved addresses raced,
//! Happy Eyeballs, RFC 8305),
//! read and write timeouts set from the engine's deadlines, and the
//! machine facts the engine asks for (addresses, host name).
//!
//! TLS is not here: it runs inside the engine, over these bytes.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::error::{Error, Phase};

#[cfg(feature = "tokio")]
pub(crate) mod async_connect;
pub(crate) mod eyeballs;

/// How much later than its deadline a socket timeout may fire. The
/// socket's timeout is reset only when it is longer than the time left by
/// more than this (or much shorter): two `setsockopt` calls per step were
/// a fifth of the client's CPU time per message on loopback.
const TIMEOUT_SLACK: Duration = Duration::from_millis(2);

/// The overall limit of one public call, for the TCP connect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) total: Duration,
}

impl Deadline {
    pub(crate) fn after(total: Option<Duration>) -> Option<Deadline> {
        total.map(|total| Deadline {
            at: Instant::now() + total,
            total,
        })
    }
}

/// How long a step may take: the smaller of its own timeout (until
/// `until`) and the deadline, and which of the two a timeout reports.
fn time_left(
    timeout: Duration,
    until: Instant,
    deadline: Option<Deadline>,
) -> (Duration, Duration) {
    let now = Instant::now();
    let left = until.saturating_duration_since(now);
    match deadline {
        Some(d) if d.at.saturating_duration_since(now) < left => {
            (d.at.saturating_duration_since(now), d.total)
        }
        _ => (left, timeout),
    }
}

/// Facts about an established TLS session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// Protocol version, e.g. `"TLSv1.3"`.
    pub version: String,
    /// Cipher suite name.
    pub cipher_suite: String,
    /// The server's certificate chain, DER, leaf first.
    pub peer_certificates: Vec<Vec<u8>>,
}

/// An open TCP connection to the server.
pub(crate) struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    /// The read and write timeouts currently set on the socket.
    armed: Option<Duration>,
}

/// Maps an I/O error during `phase` to our error type.
pub(crate) fn io_error(phase: Phase, after: Duration, err: io::Error) -> Error {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout { phase, after },
        _ => Error::Io { phase, source: err },
    }
}

/// True for the errors a socket timeout gives.
pub(crate) fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// The first address `host` resolves to, as text (for a proxy that is
/// given addresses, `socks5l://`).
pub(crate) fn resolve_first(host: &str, port: u16) -> Result<String, Error> {
    let server = crate::route::server_name(host, port);
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let first = (bare, port)
        .to_socket_addrs()
        .map_err(|source| Error::Connect {
            server: server.clone(),
            source,
        })?
        .next()
        .ok_or_else(|| Error::Connect {
            server,
            source: io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address"),
        })?;
    Ok(first.ip().to_string())
}

impl Connection {
    /// Resolves `host` and connects to one of its addresses, Happy
    /// Eyeballs style (`eyeballs`), within the connect timeout.
    pub(crate) fn connect(
        host: &str,
        port: u16,
        timeout: Duration,
        deadline: Option<Deadline>,
    ) -> Result<Connection, Error> {
        let server = format!("{host}:{port}");
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let addrs: Vec<SocketAddr> = (bare, port)
            .to_socket_addrs()
            .map_err(|source| Error::Connect {
                server: server.clone(),
                source,
            })?
            .collect();
        let (left, after) = time_left(timeout, Instant::now() + timeout, deadline);
        let addrs = crate::route::interleave(addrs);
        match eyeballs::connect_first(&addrs, Instant::now() + left) {
            eyeballs::Attempts::Connected(tcp, addr) => {
                // Every protocol step is written whole; Nagle would only
                // delay the last small segment until the peer's delayed ACK.
                tcp.set_nodelay(true)
                    .map_err(|e| io_error(Phase::Connect, after, e))?;
                Ok(Connection {
                    tcp,
                    peer: addr,
                    armed: None,
                })
            }
            eyeballs::Attempts::Failed(source) => Err(Error::Connect { server, source }),
            eyeballs::Attempts::TimedOut => Err(Error::Timeout {
                phase: Phase::Connect,
                after,
            }),
        }
    }

    /// Opens the tunnel to `host:port` through `proxy` (this connection
    /// is to the proxy), all of it by `until`: the socket's timeouts are
    /// set to the time left before each exchange, so a proxy dribbling
    /// one byte at a time cannot stretch it.
    pub(crate) fn tunnel(
        &mut self,
        proxy: &crate::proxy::Proxy,
        host: &str,
        port: u16,
        until: Instant,
    ) -> Result<(), Error> {
        self.armed = None;
        let outcome = crate::proxy::blocking::handshake(&mut self.tcp, proxy, host, port, |tcp| {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            tcp.set_read_timeout(Some(left))?;
            tcp.set_write_timeout(Some(left))
        });
        // The timeouts set here are not the ones `arm` remembers.
        self.armed = None;
        outcome
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp.local_addr().ok()
    }

    /// Makes the socket's timeouts about the time left before `deadline`
    /// (give or take [`TIMEOUT_SLACK`]; at least a millisecond). A socket
    /// timeout is never final: the engine decides what timed out.
    fn arm(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        let left = match deadline {
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
            None => Duration::from_secs(3600),
        };
        let close_enough = matches!(self.armed,
            Some(armed) if armed <= left + TIMEOUT_SLACK && armed >= left / 2);
        if !close_enough {
            self.armed = None;
            self.tcp.set_read_timeout(Some(left))?;
            self.tcp.set_write_timeout(Some(left))?;
            self.armed = Some(left);
        }
        Ok(())
    }

    /// One write of (some of) `bytes`, by `deadline`.
    pub(crate) fn write_some(
        &mut self,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        self.arm(deadline)?;
        match self.tcp.write(bytes) {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            other => other,
        }
    }

    /// [`Connection::write_some`] for TLS records. A function of its own
    /// so that memory checkers can tell these writes apart: valgrind
    /// reports ring's AVX2 hashing as uninitialised data in every record
    /// (see bindings/c/valgrind.supp), never in the plaintext path.
    #[inline(never)]
    pub(crate) fn write_tls_records(
        &mut self,
        bytes: &[u8],
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        self.write_some(bytes, deadline)
    }

    /// One read, by `deadline`.
    pub(crate) fn read_some(
        &mut self,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<usize> {
        self.arm(deadline)?;
        self.tcp.read(buf)
    }

    /// Waits until the socket can be read or written (or `deadline`):
    /// (readable, writable).
    pub(crate) fn wait_both_ways(&self, deadline: Option<Instant>) -> io::Result<(bool, bool)> {
        use std::os::fd::AsRawFd;
        let millis = match deadline {
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, i32::MAX as u128) as libc::c_int,
            None => -1,
        };
        let mut fd = libc::pollfd {
            fd: self.tcp.as_raw_fd(),
            events: libc::POLLIN | libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd, its count given.
        let n = unsafe { libc::poll(&mut fd, 1, millis) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Err(io::ErrorKind::TimedOut.into());
        }
        // An error or hang-up shows as readable: the read reports it.
        let readable = fd.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
        Ok((readable, fd.revents & libc::POLLOUT != 0))
    }

    /// True when the socket can be read now: bytes or the end of the
    /// stream wait (an idle session should have neither).
    pub(crate) fn readable_now(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd {
            fd: self.tcp.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, its count given; no waiting.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        n != 0
    }

    /// One write that never blocks.
    pub(crate) fn try_write(&self, bytes: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::send(
                self.tcp.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// [`Connection::try_write`] for TLS records (see
    /// [`Connection::write_tls_records`]).
    #[inline(never)]
    pub(crate) fn try_write_tls_records(&self, bytes: &[u8]) -> io::Result<usize> {
        self.try_write(bytes)
    }

    /// One read that never blocks.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: the buffer is valid for its length.
        let n = unsafe {
            libc::recv(
                self.tcp.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Closes the connection at once.
    pub(crate) fn shutdown(&self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// See [`quick_ack_fd`].
    pub(crate) fn quick_ack(&self) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            quick_ack_fd(self.tcp.as_raw_fd());
        }
    }
}

/// Asks Linux to acknowledge the next segments at once instead of after
/// the delayed-ACK timer. After a TLS 1.3 handshake the server sends its
/// session tickets and then (implicit TLS) the greeting; a server with
/// Nagle's algorithm on holds the greeting until the tickets are
/// acknowledged, which costs 40 ms when we delay the ACK.
#[cfg(target_os = "linux")]
pub(crate) fn quick_ack_fd(fd: std::os::fd::RawFd) {
    let on: libc::c_int = 1;
    // SAFETY: a socket descriptor the caller owns and a c_int option value
    // of the size given; failure only loses the optimisation.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// This machine's host name, if it looks like a fully qualified domain
/// name (servers often refuse bare names in EHLO).
pub(crate) fn local_host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0)?;
    let name = std::str::from_utf8(&buf[..len]).ok()?;
    let valid = name.contains('.')
        && !name.starts_with('.')
        && !name.ends_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then(|| name.to_string())
}
