//! The connection: TCP (every resolved address in order), an optional
//! rustls layer, per-phase timeouts and a bounded line reader.
//!
//! The session sees one `Connection` whatever the transport, so TLS slots
//! in under it without changes there.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::error::{Error, Phase, TlsErrorKind};
use crate::reply::MAX_LINE_LEN;

/// Read buffer size: a whole maximal line fits, with room to spare.
const READ_BUF_LEN: usize = MAX_LINE_LEN + 4096;

/// How much later than its step's limit a socket timeout may fire. The
/// socket's timeout is reset only when it is longer than the time left by
/// more than this (or much shorter): two `setsockopt` calls per step were
/// a fifth of the client's CPU time per message on loopback.
const TIMEOUT_SLACK: Duration = Duration::from_millis(2);

enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

/// What [`socket_has_pending`] needs from a socket; a trait so tests can
/// inject failures.
trait PeekSocket {
    fn set_nonblocking(&self, on: bool) -> io::Result<()>;
    fn peek(&self, buf: &mut [u8]) -> io::Result<usize>;
}

impl PeekSocket for TcpStream {
    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, on)
    }

    fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::peek(self, buf)
    }
}

/// True when bytes wait unread in the socket, checked without blocking.
/// Any failure (switching to non-blocking, peeking, switching back) is an
/// error: the check did not happen, or the socket is left in a mode the
/// rest of the connection does not expect.
fn socket_has_pending(sock: &impl PeekSocket) -> io::Result<bool> {
    sock.set_nonblocking(true)?;
    let mut probe = [0u8; 1];
    let peeked = loop {
        match sock.peek(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    let restored = sock.set_nonblocking(false);
    let pending = match peeked {
        Ok(n) => n > 0,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => return Err(e),
    };
    restored?;
    Ok(pending)
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The overall limit of one public call: when it passes, whatever phase
/// is running fails with a timeout that reports `total`.
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

/// An open connection to the server.
pub(crate) struct Connection {
    stream: Stream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    peer: SocketAddr,
    /// Limit for the current public call (the overall deadline).
    deadline: Option<Deadline>,
    tls_info: Option<TlsInfo>,
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

impl Connection {
    /// Resolves `host` and tries each address in order until one accepts.
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
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address");
        for addr in addrs {
            let (left, after) = time_left(timeout, Instant::now() + timeout, deadline);
            if left.is_zero() {
                return Err(Error::Timeout {
                    phase: Phase::Connect,
                    after,
                });
            }
            let timeout = left;
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(tcp) => {
                    // Every protocol step is written whole; Nagle would only
                    // delay the last small segment until the peer's delayed ACK.
                    tcp.set_nodelay(true)
                        .map_err(|e| io_error(Phase::Connect, timeout, e))?;
                    return Ok(Connection {
                        stream: Stream::Plain(tcp),
                        buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
                        start: 0,
                        end: 0,
                        peer: addr,
                        deadline,
                        tls_info: None,
                        armed: None,
                    });
                }
                Err(e) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
            }
        }
        Err(Error::Connect {
            server,
            source: last,
        })
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.stream.tcp().local_addr().ok()
    }

    /// True when the peer is on this machine (127.0.0.0/8, ::1, or an
    /// IPv4-mapped loopback address).
    pub(crate) fn peer_is_loopback(&self) -> bool {
        match self.peer.ip() {
            IpAddr::V4(v4) => v4.is_loopback(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    pub(crate) fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Deadline>) {
        self.deadline = deadline;
    }

    /// Makes the socket's timeouts at most the smaller of `timeout` and
    /// the time left before the deadline (give or take [`TIMEOUT_SLACK`]);
    /// Err(Timeout) if nothing is left. Returns the duration a timeout
    /// during this step should report.
    ///
    /// The timeout already set is kept when it is close enough, so it may
    /// be shorter than the time left: callers treat a socket timeout as
    /// final only when [`Connection::retry_after_timeout`] says so.
    fn arm(&mut self, phase: Phase, timeout: Duration, until: Instant) -> Result<Duration, Error> {
        let (left, after) = time_left(timeout, until, self.deadline);
        if left.is_zero() {
            return Err(Error::Timeout { phase, after });
        }
        let close_enough = matches!(self.armed,
            Some(armed) if armed <= left + TIMEOUT_SLACK && armed >= left / 2);
        if !close_enough {
            self.armed = None;
            let tcp = self.stream.tcp();
            tcp.set_read_timeout(Some(left))
                .and_then(|()| tcp.set_write_timeout(Some(left)))
                .map_err(|e| io_error(phase, after, e))?;
            self.armed = Some(left);
        }
        Ok(after)
    }

    /// After a socket operation timed out: true (with the socket's
    /// timeouts set to exactly the time left) when the step still has time,
    /// because the timeout kept by [`Connection::arm`] was shorter.
    fn retry_after_timeout(&mut self, err: &io::Error, timeout: Duration, until: Instant) -> bool {
        if !matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return false;
        }
        let (left, _) = time_left(timeout, until, self.deadline);
        if left < TIMEOUT_SLACK {
            return false;
        }
        self.armed = None;
        let tcp = self.stream.tcp();
        let armed = tcp
            .set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)));
        if armed.is_err() {
            return false;
        }
        self.armed = Some(left);
        true
    }

    /// Writes all of `bytes` within `timeout`.
    pub(crate) fn write_all(
        &mut self,
        bytes: &[u8],
        phase: Phase,
        timeout: Duration,
    ) -> Result<(), Error> {
        let until = Instant::now() + timeout;
        let after = self.arm(phase, timeout, until)?;
        let mut written = 0;
        // Each pass writes something or ends in an error; a timeout is
        // retried only while the step has time left.
        while written < bytes.len() {
            match self.stream.write(&bytes[written..]) {
                Ok(0) => return Err(io_error(phase, after, io::ErrorKind::WriteZero.into())),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.retry_after_timeout(&e, timeout, until) => {}
                Err(e) => return Err(io_error(phase, after, e)),
            }
        }
        self.flush_within(phase, after, timeout, until)
    }

    /// Flushes the TLS layer's buffered records (nothing for plain TCP).
    fn flush_within(
        &mut self,
        phase: Phase,
        after: Duration,
        timeout: Duration,
        until: Instant,
    ) -> Result<(), Error> {
        loop {
            match self.stream.flush() {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if self.retry_after_timeout(&e, timeout, until) => {}
                Err(e) => return Err(io_error(phase, after, e)),
            }
        }
    }

    /// A writer for the message body: each write is bounded by `timeout`
    /// (RFC 5321's data block timeout) and the overall deadline.
    pub(crate) fn body_writer(&mut self, timeout: Duration) -> BodyWriter<'_> {
        BodyWriter {
            conn: self,
            timeout,
        }
    }

    /// Reads one line (without its CRLF or LF) within the time left before
    /// `until`. A line longer than [`MAX_LINE_LEN`] is a protocol error,
    /// detected without reading the rest of it.
    pub(crate) fn read_line(
        &mut self,
        phase: Phase,
        timeout: Duration,
        until: Instant,
    ) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line_end = self.start + pos;
                let mut line = &self.buf[self.start..line_end];
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
                let line = line.to_vec();
                self.start = line_end + 1;
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                return Ok(line);
            }
            if self.end - self.start >= MAX_LINE_LEN {
                return Err(Error::Protocol {
                    phase,
                    reason: format!("reply line longer than {MAX_LINE_LEN} bytes"),
                });
            }
            if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            let after = self.arm(phase, timeout, until)?;
            let n = loop {
                match self.stream.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if self.retry_after_timeout(&e, timeout, until) => continue,
                    Err(e) => return Err(io_error(phase, after, e)),
                }
            };
            if n == 0 {
                return Err(Error::Io {
                    phase,
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ),
                });
            }
            self.end += n;
        }
    }

    /// True when the server has sent bytes we have not read: in our buffer,
    /// in the TLS layer, or waiting in the socket. Used right after the
    /// `220` to `STARTTLS`, when anything more is an injection attempt.
    ///
    /// Fails closed: an error means the socket could not be checked (or
    /// could not be put back into blocking mode), and the caller must not
    /// go on.
    pub(crate) fn has_unread_input(&mut self) -> io::Result<bool> {
        if self.start < self.end {
            return Ok(true);
        }
        socket_has_pending(self.stream.tcp())
    }

    /// Runs the TLS handshake over this (plain) connection.
    pub(crate) fn start_tls(
        self,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Connection, Error> {
        let phase = Phase::TlsHandshake;
        let Connection {
            stream,
            buf,
            peer,
            deadline,
            ..
        } = self;
        let mut tcp = match stream {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(_) => {
                return Err(Error::Protocol {
                    phase,
                    reason: "TLS is already active".into(),
                })
            }
        };
        let mut tls = ClientConnection::new(config, name).map_err(|e| Error::Tls {
            phase,
            kind: TlsErrorKind::Config,
            message: e.to_string(),
        })?;
        let until = Instant::now() + timeout;
        while tls.is_handshaking() {
            let (left, after) = time_left(timeout, until, deadline);
            if left.is_zero() {
                return Err(Error::Timeout { phase, after });
            }
            tcp.set_read_timeout(Some(left))
                .and_then(|()| tcp.set_write_timeout(Some(left)))
                .map_err(|e| io_error(phase, after, e))?;
            // One socket operation per turn, so the time left is checked
            // before each read: a server dripping the handshake one byte
            // at a time cannot outlast the timeout.
            let step = if tls.wants_write() {
                tls.write_tls(&mut tcp).map(|_| ())
            } else {
                match tls.read_tls(&mut tcp) {
                    Ok(0) => Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed during the handshake",
                    )),
                    Ok(_) => tls
                        .process_new_packets()
                        .map(|_| ())
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
                    Err(e) => Err(e),
                }
            };
            match step {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Send our alert, if any, before reporting.
                    let _ = tls.write_tls(&mut tcp);
                    return Err(handshake_error(e, after));
                }
            }
        }
        // Flush what the handshake left to send (the client Finished).
        while tls.wants_write() {
            let (left, after) = time_left(timeout, until, deadline);
            if left.is_zero() {
                return Err(Error::Timeout { phase, after });
            }
            tcp.set_write_timeout(Some(left))
                .map_err(|e| io_error(phase, after, e))?;
            tls.write_tls(&mut tcp)
                .map_err(|e| handshake_error(e, after))?;
        }
        quick_ack(&tcp);
        let info = TlsInfo {
            version: tls
                .protocol_version()
                .map(|v| v.as_str().unwrap_or("TLS").replace('_', "."))
                .unwrap_or_default(),
            cipher_suite: tls
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            peer_certificates: tls
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        };
        Ok(Connection {
            stream: Stream::Tls(Box::new(StreamOwned::new(tls, tcp))),
            buf,
            start: 0,
            end: 0,
            peer,
            deadline,
            tls_info: Some(info),
            // The handshake set the socket's timeouts itself.
            armed: None,
        })
    }

    /// Closes the connection at once (no QUIT).
    pub(crate) fn shutdown(&self) {
        let _ = self.stream.tcp().shutdown(Shutdown::Both);
    }
}

/// Asks Linux to acknowledge the next segments at once instead of after
/// the delayed-ACK timer. After a TLS 1.3 handshake the server sends its
/// session tickets and then (implicit TLS) the greeting; a server with
/// Nagle's algorithm on holds the greeting until the tickets are
/// acknowledged, which costs 40 ms when we delay the ACK.
#[cfg(target_os = "linux")]
fn quick_ack(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option value of the
    // size given; failure only loses the optimisation.
    unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_tcp: &TcpStream) {}

fn handshake_error(err: io::Error, timeout: Duration) -> Error {
    let phase = Phase::TlsHandshake;
    if let Some(tls) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        let (kind, message) = crate::tls::classify(tls);
        return Error::Tls {
            phase,
            kind,
            message,
        };
    }
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
            phase,
            after: timeout,
        },
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Error::Tls {
            phase,
            kind: TlsErrorKind::Handshake,
            message: "the server closed the connection during the TLS handshake".into(),
        },
        _ => Error::Tls {
            phase,
            kind: TlsErrorKind::Handshake,
            message: err.to_string(),
        },
    }
}

/// Writes message body bytes with the data block timeout.
pub(crate) struct BodyWriter<'a> {
    conn: &'a mut Connection,
    timeout: Duration,
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let until = Instant::now() + self.timeout;
        self.conn
            .arm(Phase::Body, self.timeout, until)
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data block timeout"))?;
        loop {
            match self.conn.stream.write(buf) {
                Err(e) if self.conn.retry_after_timeout(&e, self.timeout, until) => {}
                result => return result,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let until = Instant::now() + self.timeout;
        self.conn
            .arm(Phase::Body, self.timeout, until)
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data block timeout"))?;
        loop {
            match self.conn.stream.flush() {
                Err(e) if self.conn.retry_after_timeout(&e, self.timeout, until) => {}
                result => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    /// A socket whose every call is scripted.
    struct Scripted {
        to_nonblocking: io::Result<()>,
        peek: RefCell<Option<io::Result<usize>>>,
        to_blocking: io::Result<()>,
        blocking: Cell<bool>,
    }

    fn copy(r: &io::Result<()>) -> io::Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }

    impl Scripted {
        fn new(peek: io::Result<usize>) -> Scripted {
            Scripted {
                to_nonblocking: Ok(()),
                peek: RefCell::new(Some(peek)),
                to_blocking: Ok(()),
                blocking: Cell::new(true),
            }
        }
    }

    impl PeekSocket for Scripted {
        fn set_nonblocking(&self, on: bool) -> io::Result<()> {
            let r = copy(if on {
                &self.to_nonblocking
            } else {
                &self.to_blocking
            });
            if r.is_ok() {
                self.blocking.set(!on);
            }
            r
        }

        fn peek(&self, _buf: &mut [u8]) -> io::Result<usize> {
            assert!(!self.blocking.get(), "peek on a blocking socket");
            self.peek.borrow_mut().take().expect("one peek")
        }
    }

    fn err(kind: io::ErrorKind) -> io::Error {
        io::Error::new(kind, "scripted")
    }

    #[test]
    fn probe_reports_pending_bytes() {
        let s = Scripted::new(Ok(1));
        assert!(socket_has_pending(&s).unwrap());
        assert!(s.blocking.get());
        let s = Scripted::new(Err(err(io::ErrorKind::WouldBlock)));
        assert!(!socket_has_pending(&s).unwrap());
        assert!(s.blocking.get());
        // End of stream: nothing injected; the handshake reports the close.
        assert!(!socket_has_pending(&Scripted::new(Ok(0))).unwrap());
    }

    #[test]
    fn probe_fails_closed_when_nonblocking_is_refused() {
        let mut s = Scripted::new(Ok(1));
        s.to_nonblocking = Err(err(io::ErrorKind::Other));
        assert!(socket_has_pending(&s).is_err());
        // And even when no bytes wait, "cannot check" is not "clean".
        let mut s = Scripted::new(Err(err(io::ErrorKind::WouldBlock)));
        s.to_nonblocking = Err(err(io::ErrorKind::Other));
        assert!(socket_has_pending(&s).is_err());
    }

    #[test]
    fn probe_fails_when_blocking_mode_cannot_be_restored() {
        for peek in [Ok(0), Ok(1), Err(err(io::ErrorKind::WouldBlock))] {
            let mut s = Scripted::new(peek);
            s.to_blocking = Err(err(io::ErrorKind::Other));
            assert!(socket_has_pending(&s).is_err());
        }
    }

    #[test]
    fn probe_fails_on_peek_errors_but_restores_blocking_mode() {
        let s = Scripted::new(Err(err(io::ErrorKind::ConnectionReset)));
        assert!(socket_has_pending(&s).is_err());
        assert!(s.blocking.get());
    }

    #[test]
    fn probe_on_a_real_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        assert!(!socket_has_pending(&client).unwrap());
        server.write_all(b"x").unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while !socket_has_pending(&client).unwrap() {
            assert!(Instant::now() < until, "byte never arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Back in blocking mode: a read with a timeout waits for it.
        client
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 2];
        assert_eq!((&client).read(&mut buf).unwrap(), 1);
        let started = Instant::now();
        assert!((&client).read(&mut buf).is_err());
        assert!(started.elapsed() >= Duration::from_millis(80));
    }
}
