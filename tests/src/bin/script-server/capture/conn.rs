//! One connection of the capturing server: a buffered reader over the
//! socket (in clear, or TLS after STARTTLS) whose every wait is bounded
//! and which notices when the test is done (then the client gets one more
//! second), and the record of what the client sent.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};
use serde_json::{json, Value};

use super::b64;

/// The largest line or body the server keeps.
pub const MAX_BODY: usize = 16 << 20;

/// How long one socket read waits before the deadlines are looked at.
const POLL: Duration = Duration::from_millis(50);

/// The bound for a write, and for a TLS handshake.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a client still gets once the test is done.
const GRACE: Duration = Duration::from_secs(1);

/// One command line as received.
pub struct Line {
    /// Received over TLS.
    pub tls: bool,
    /// The bytes, line ending included.
    pub raw: Vec<u8>,
}

/// One message body as received.
pub struct Body {
    /// `"data"` or `"bdat"`.
    pub kind: &'static str,
    /// The bytes on the wire (DATA: dot-stuffed, terminator included;
    /// BDAT: the chunks one after the other).
    pub wire: Vec<u8>,
    /// The size of each chunk (one for DATA).
    pub chunks: Vec<usize>,
    /// A BDAT transaction the client never ended with LAST.
    pub unfinished: bool,
}

/// What the server saw on one connection.
#[derive(Default)]
pub struct ConnCapture {
    /// Every command line.
    pub lines: Vec<Line>,
    /// The AUTH line and the lines read during AUTH.
    pub auth: Vec<Vec<u8>>,
    /// The message bodies.
    pub bodies: Vec<Body>,
    /// What the client sent after the 220 to STARTTLS (attack modes and
    /// failed handshakes).
    pub after_starttls: Option<Vec<u8>>,
    /// A handshake succeeded.
    pub tls: bool,
    /// Why a handshake failed.
    pub tls_error: String,
    /// Deviations from the protocol.
    pub errors: Vec<String>,
    /// Every byte received in clear.
    pub raw: Vec<u8>,
    /// What came after the session ended.
    pub tail: Vec<u8>,
}

impl ConnCapture {
    /// The capture as a JSON object (see the module documentation).
    pub fn to_json(&self) -> Value {
        json!({
            "lines": self.lines.iter()
                .map(|l| json!({"tls": l.tls, "raw": b64(&l.raw)}))
                .collect::<Vec<_>>(),
            "auth": self.auth.iter().map(|a| b64(a)).collect::<Vec<_>>(),
            "bodies": self.bodies.iter()
                .map(|b| json!({
                    "kind": b.kind,
                    "wire": b64(&b.wire),
                    "chunks": b.chunks,
                    "unfinished": b.unfinished,
                }))
                .collect::<Vec<_>>(),
            "afterStartTls": self.after_starttls.as_deref().map_or(Value::Null, b64),
            "tls": self.tls,
            "tlsError": self.tls_error,
            "errors": self.errors,
            "raw": b64(&self.raw),
            "tail": b64(&self.tail),
        })
    }
}

/// The transport, in clear or TLS.
enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

/// A client connection and what it sent.
pub struct Conn<'a> {
    transport: Option<Transport>,
    /// Bytes read; those from `start` on are not consumed yet.
    buffer: Vec<u8>,
    start: usize,
    eof: bool,
    deadline: Instant,
    done: &'a AtomicBool,
    /// What the client sent.
    pub cap: ConnCapture,
}

impl<'a> Conn<'a> {
    /// Wraps an accepted connection; reads end at `deadline` at the latest,
    /// or [`GRACE`] after `done` is set.
    pub fn new(tcp: TcpStream, deadline: Instant, done: &'a AtomicBool) -> io::Result<Conn<'a>> {
        tcp.set_nonblocking(false)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(POLL))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Conn {
            transport: Some(Transport::Plain(tcp)),
            buffer: Vec::new(),
            start: 0,
            eof: false,
            deadline,
            done,
            cap: ConnCapture::default(),
        })
    }

    /// True once the session went through TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Some(Transport::Tls(_)))
    }

    /// Reads what is available, waiting at most `wait`; false at the end
    /// of the stream or when nothing came in time.
    fn fill(&mut self, wait: Duration) -> bool {
        if self.eof {
            return false;
        }
        let until = self.deadline.min(Instant::now() + wait);
        let mut grace_until = None;
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let tls = self.is_tls();
            let result = match &mut self.transport {
                Some(Transport::Plain(s)) => s.read(&mut chunk),
                Some(Transport::Tls(s)) => s.read(&mut chunk),
                None => Ok(0),
            };
            match result {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    if !tls {
                        self.cap.raw.extend_from_slice(&chunk[..n]);
                    }
                    self.buffer.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    self.eof = true;
                    return false;
                }
            }
            let now = Instant::now();
            if grace_until.is_none() && self.done.load(Ordering::SeqCst) {
                grace_until = Some(now + GRACE);
            }
            if now >= until || grace_until.is_some_and(|g| now >= g) {
                return false;
            }
        }
    }

    /// One line including its LF (or what is left at the end); `None` when
    /// nothing more comes within `wait`.
    pub fn line(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let until = Instant::now() + wait;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.pending()[scanned..].iter().position(|&b| b == b'\n') {
                return Some(self.take(scanned + pos + 1));
            }
            scanned = self.pending().len();
            let left = until.saturating_duration_since(Instant::now());
            if scanned > MAX_BODY || !self.fill(left) {
                return (scanned > 0).then(|| self.take(scanned));
            }
        }
    }

    /// Exactly `n` bytes, or fewer at the end of the stream or after `wait`.
    pub fn bytes(&mut self, n: usize, wait: Duration) -> Vec<u8> {
        let until = Instant::now() + wait;
        while self.pending().len() < n && self.fill(until.saturating_duration_since(Instant::now()))
        {
        }
        self.take(n.min(self.pending().len()))
    }

    /// Everything the client sends until it closes or `wait` passes.
    pub fn drain(&mut self, wait: Duration) -> Vec<u8> {
        let until = Instant::now() + wait;
        while Instant::now() < until && self.fill(until.saturating_duration_since(Instant::now())) {
        }
        self.take(self.pending().len())
    }

    /// The bytes read and not consumed yet.
    fn pending(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// Consumes the next `n` pending bytes; the buffer is compacted once
    /// most of it is consumed, so that reading a body line by line stays
    /// linear.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buffer[self.start..self.start + n].to_vec();
        self.start += n;
        if self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buffer.len() {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        out
    }

    /// Writes `bytes` (a failure is left for the next read to notice).
    pub fn send(&mut self, bytes: &[u8]) {
        let _ = match &mut self.transport {
            Some(Transport::Plain(s)) => s.write_all(bytes).and_then(|()| s.flush()),
            Some(Transport::Tls(s)) => s.write_all(bytes).and_then(|()| s.flush()),
            None => Ok(()),
        };
    }

    /// Records a command line and its defects.
    pub fn record(&mut self, raw: &[u8]) {
        let tls = self.is_tls();
        self.cap.lines.push(Line {
            tls,
            raw: raw.to_vec(),
        });
        let show = || format!("{:?}", String::from_utf8_lossy(raw));
        if !raw.ends_with(b"\r\n") {
            self.cap
                .errors
                .push(format!("command line without CRLF: {}", show()));
        }
        if raw[..raw.len().saturating_sub(2)]
            .iter()
            .any(|b| matches!(b, b'\r' | b'\n' | b'\0'))
        {
            self.cap
                .errors
                .push(format!("CR, LF or NUL inside a command line: {}", show()));
        }
    }

    /// The server side of a TLS handshake after the 220 to STARTTLS. On
    /// failure the error is kept in [`ConnCapture::tls_error`] and what the
    /// client sends in the next second in [`ConnCapture::after_starttls`].
    pub fn start_tls(&mut self, config: Arc<rustls::ServerConfig>) -> bool {
        if !self.pending().is_empty() {
            let early = self.take(self.pending().len());
            self.cap.errors.push(format!(
                "bytes after STARTTLS before the handshake: {:?}",
                String::from_utf8_lossy(&early)
            ));
        }
        let Some(Transport::Plain(mut tcp)) = self.transport.take() else {
            self.cap.tls_error = "STARTTLS again over TLS".into();
            return false;
        };
        let result = ServerConnection::new(config)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            .and_then(|mut server| {
                tcp.set_read_timeout(Some(IO_TIMEOUT))?;
                while server.is_handshaking() {
                    if server.complete_io(&mut tcp)? == (0, 0) {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                tcp.set_read_timeout(Some(POLL))?;
                Ok(server)
            });
        match result {
            Ok(server) => {
                self.transport = Some(Transport::Tls(Box::new(StreamOwned::new(server, tcp))));
                self.cap.tls = true;
                true
            }
            Err(e) => {
                let _ = tcp.set_read_timeout(Some(POLL));
                self.transport = Some(Transport::Plain(tcp));
                self.cap.tls_error = e.to_string();
                self.cap.after_starttls = Some(self.drain(GRACE));
                false
            }
        }
    }

    /// Closes the connection (after a TLS close_notify when TLS is on).
    pub fn close(&mut self) {
        match self.transport.take() {
            Some(Transport::Plain(tcp)) => {
                let _ = tcp.shutdown(Shutdown::Both);
            }
            Some(Transport::Tls(mut tls)) => {
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(&mut tls.sock);
                let _ = tls.sock.shutdown(Shutdown::Both);
            }
            None => {}
        }
    }
}
