//! A scripted fault-injection SMTP server, in the style of curl's test
//! servers: it listens on a loopback port chosen by the operating system,
//! serves exactly one connection according to a list of [`Step`]s in a
//! background thread, and records every byte the client sent.
//!
//! ```no_run
//! use smtp_tests::scripted::{expect, hello, reply, ScriptedServer, Step};
//! use std::time::Duration;
//!
//! let mut script = hello(&["PIPELINING"]);
//! script.extend([
//!     expect("QUIT"),
//!     reply("221 bye"),
//!     Step::ExpectClose(Duration::from_secs(2)),
//! ]);
//! let server = ScriptedServer::start(script);
//! let mut client = smtp_core::Client::connect(server.config()).unwrap();
//! client.quit().unwrap();
//! let capture = server.finish();
//! capture.assert_clean();
//! assert_eq!(capture.received_text(), "EHLO client.test\r\nQUIT\r\n");
//! ```
//!
//! Nothing here waits forever: the server accepts for at most
//! [`ACCEPT_TIMEOUT`], every read and write is bounded by [`IO_TIMEOUT`]
//! (or by the step's own duration), lines and bodies have size limits, and
//! [`ScriptedServer::finish`] gives up loudly after [`FINISH_TIMEOUT`].
//!
//! The [`tls`] module makes certificates (a test CA, leaf certificates,
//! expired and self-signed ones) and rustls server configurations for the
//! [`Step::StartTls`] step.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};
use smtp_core::{Config, Security, Timeouts};

/// The bound for every socket read and write of the server (unless a step
/// gives its own duration).
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server waits for the client to connect.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`ScriptedServer::finish`] waits for the script to end before
/// it panics.
pub const FINISH_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest command line the server reads (a longer one is recorded as an
/// error and ends the script).
pub const MAX_LINE: usize = 1024 * 1024;

/// Largest body [`Step::ReadData`] and [`Step::ReadToClose`] keep.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The name the server gives in its greeting and EHLO reply.
pub const SERVER_NAME: &str = "mx.test";

/// The client name [`ScriptedServer::config`] sets, so that transcripts
/// are the same on every machine.
pub const CLIENT_NAME: &str = "client.test";

/// Decides the server's answer to one client line in [`Step::Converse`].
pub type Handler = Box<dyn FnMut(&str) -> Answer + Send>;

/// What a [`Handler`] does with the line it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Write these raw bytes and hand the next line to the handler.
    Reply(Vec<u8>),
    /// Write these raw bytes and go on with the next step.
    ReplyAndEnd(Vec<u8>),
    /// Write nothing and go on with the next step.
    End,
    /// Record this error in the capture and stop the script (the
    /// connection is closed).
    Fail(String),
}

/// One thing the server does, in script order.
pub enum Step {
    /// Write these raw bytes (see [`reply`], [`replies`] and [`raw`]).
    Send(Vec<u8>),
    /// Write these bytes one `write` call per byte, pausing between bytes
    /// (a zero pause still makes one segment per byte: the socket has
    /// `TCP_NODELAY`). If the client goes away meanwhile the script ends
    /// quietly with [`Capture::client_closed`] set.
    SendSlowly {
        /// The bytes.
        bytes: Vec<u8>,
        /// The pause after each byte.
        pause: Duration,
    },
    /// Write `prefix`, then `fill` bytes until `total` bytes in all were
    /// written, in 64 KiB writes and without a line ending: a reply line
    /// that never ends. Stops quietly (with [`Capture::client_closed`] set
    /// and the script ended) when the client closes; the number of bytes
    /// written is in [`Capture::flood_written`].
    Flood {
        /// The first bytes, e.g. `b"220 "`.
        prefix: Vec<u8>,
        /// The byte repeated after the prefix.
        fill: u8,
        /// How many bytes to write at most, prefix included.
        total: usize,
    },
    /// Read one line (up to LF); it must start with this prefix, ignoring
    /// ASCII case. A mismatch is recorded in [`Capture::errors`] and ends
    /// the script (the connection is closed).
    Expect(String),
    /// Read one line and accept anything.
    ExpectAny,
    /// Read lines and let a handler answer each one, for exchanges whose
    /// replies depend on what the client sent (SCRAM nonces) or whose
    /// length is not known in advance. At most `max_lines` lines are read;
    /// reaching the limit ends the step.
    Converse {
        /// Most lines handed to the handler.
        max_lines: usize,
        /// Decides what to do with each line.
        handler: Handler,
    },
    /// Read a DATA body up to and including the terminator line `.` CRLF,
    /// and store the raw wire bytes (dot-stuffing and terminator included)
    /// in [`Capture::bodies`]. If the client closes first, the partial body
    /// is stored, an error recorded and the script ends.
    ReadData,
    /// Read exactly this many raw bytes and store them in [`Capture::bodies`].
    ReadExact(usize),
    /// Read one `BDAT <size> [LAST]` command line (recorded in
    /// [`Capture::lines`]) and then exactly the announced number of octets,
    /// stored in [`Capture::bodies`]. A line that is not a BDAT command, or
    /// a size over [`MAX_BODY`], is recorded as an error and ends the script.
    ReadBdat,
    /// Read everything until the client closes (at most the given time) and
    /// store it as one entry of [`Capture::bodies`]. Not closing in time is
    /// an error.
    ReadToClose(Duration),
    /// Wait this long; the client must send nothing meanwhile (anything it
    /// sends is recorded as an error and ends the script). Use it to check
    /// that the client waits for a reply before its next command.
    ExpectSilence(Duration),
    /// Do nothing for this long.
    Sleep(Duration),
    /// Run a rustls server handshake with the configuration given to
    /// [`ScriptedServer::start_with_tls`]; the following steps go through
    /// TLS. For implicit TLS make it the first step; for STARTTLS put it
    /// after `expect("STARTTLS")` and `reply("220 ...")`. A failed handshake
    /// is recorded as an error starting with `"TLS handshake failed"` and
    /// ends the script.
    StartTls,
    /// Close the connection now (after a TLS close_notify when TLS is on);
    /// the script ends here.
    Close,
    /// Wait at most this long for the client to close the connection.
    /// Lines read meanwhile go to [`Capture::lines`]; any non-empty line
    /// other than `QUIT` is recorded as an error, and so is not closing in
    /// time.
    ExpectClose(Duration),
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Send(bytes) => write!(f, "Send({:?})", String::from_utf8_lossy(bytes)),
            Step::SendSlowly { bytes, pause } => write!(
                f,
                "SendSlowly({:?}, {pause:?})",
                String::from_utf8_lossy(bytes)
            ),
            Step::Flood {
                prefix,
                fill,
                total,
            } => write!(
                f,
                "Flood({:?}, fill {fill:#04x}, total {total})",
                String::from_utf8_lossy(prefix)
            ),
            Step::Expect(prefix) => write!(f, "Expect({prefix:?})"),
            Step::ExpectAny => f.write_str("ExpectAny"),
            Step::Converse { max_lines, .. } => write!(f, "Converse(max {max_lines} lines)"),
            Step::ReadData => f.write_str("ReadData"),
            Step::ReadExact(n) => write!(f, "ReadExact({n})"),
            Step::ReadBdat => f.write_str("ReadBdat"),
            Step::ReadToClose(d) => write!(f, "ReadToClose({d:?})"),
            Step::ExpectSilence(d) => write!(f, "ExpectSilence({d:?})"),
            Step::Sleep(d) => write!(f, "Sleep({d:?})"),
            Step::StartTls => f.write_str("StartTls"),
            Step::Close => f.write_str("Close"),
            Step::ExpectClose(d) => write!(f, "ExpectClose({d:?})"),
        }
    }
}

/// `Send` of one reply line; CRLF is appended.
pub fn reply(line: &str) -> Step {
    Step::Send(format!("{line}\r\n").into_bytes())
}

/// `Send` of several lines in one write, each followed by CRLF.
pub fn replies(lines: &[&str]) -> Step {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    Step::Send(bytes)
}

/// `Send` of raw bytes, written as given.
pub fn raw(bytes: &[u8]) -> Step {
    Step::Send(bytes.to_vec())
}

/// `Expect` of a line starting with `prefix` (ASCII case ignored).
pub fn expect(prefix: &str) -> Step {
    Step::Expect(prefix.to_string())
}

/// The usual greeting, `220 mx.test ESMTP scripted test server`.
pub fn greeting() -> Step {
    reply(&format!("220 {SERVER_NAME} ESMTP scripted test server"))
}

/// A successful EHLO reply announcing these extensions, one per line (e.g.
/// `&["PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN"]`), written at once.
pub fn ehlo_reply(extensions: &[&str]) -> Step {
    let mut lines = vec![format!("{SERVER_NAME} greets {CLIENT_NAME}")];
    lines.extend(extensions.iter().map(|e| e.to_string()));
    let last = lines.len() - 1;
    let mut bytes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        bytes.extend_from_slice(format!("250{sep}{line}\r\n").as_bytes());
    }
    Step::Send(bytes)
}

/// The opening of most scripts: [`greeting`], `expect("EHLO ")` and
/// [`ehlo_reply`] with these extensions.
pub fn hello(extensions: &[&str]) -> Vec<Step> {
    vec![greeting(), expect("EHLO "), ehlo_reply(extensions)]
}

/// A [`Step::Converse`] that answers exactly one line with whatever `f`
/// returns (raw bytes, CRLF included).
pub fn respond(f: impl FnOnce(&str) -> Vec<u8> + Send + 'static) -> Step {
    let mut f = Some(f);
    Step::Converse {
        max_lines: 1,
        handler: Box::new(move |line| match f.take() {
            Some(f) => Answer::ReplyAndEnd(f(line)),
            None => Answer::End,
        }),
    }
}

/// A [`Step::Converse`] with this handler, bounded to `max_lines` lines.
pub fn converse(max_lines: usize, handler: impl FnMut(&str) -> Answer + Send + 'static) -> Step {
    Step::Converse {
        max_lines,
        handler: Box::new(handler),
    }
}

/// What the server saw and what went wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capture {
    /// True when a client connected at all.
    pub connected: bool,
    /// Every byte the client sent (after TLS decryption), in order,
    /// including bytes read but not consumed by any step.
    pub received: Vec<u8>,
    /// Every line read by `Expect`, `ExpectAny`, `Converse`, `ReadBdat` and
    /// `ExpectClose`, without its line ending.
    pub lines: Vec<String>,
    /// The bodies read by `ReadData`, `ReadExact`, `ReadBdat` and
    /// `ReadToClose`, raw.
    pub bodies: Vec<Vec<u8>>,
    /// Everything that did not go as scripted (empty when all went well).
    pub errors: Vec<String>,
    /// True when the server saw the client close the connection (end of
    /// stream or reset).
    pub client_closed: bool,
    /// The TLS session, after a successful [`Step::StartTls`].
    pub tls: Option<TlsSeen>,
    /// Bytes written by [`Step::Flood`].
    pub flood_written: usize,
}

/// Facts about the TLS session the client opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSeen {
    /// The protocol version, e.g. `"TLSv1_3"`.
    pub version: String,
    /// The server name the client asked for (SNI), if it sent one.
    pub sni: Option<String>,
    /// The client's certificate chain (DER), when it presented one.
    pub client_certificates: Vec<Vec<u8>>,
}

impl Capture {
    /// [`Capture::received`] as text (invalid UTF-8 replaced).
    pub fn received_text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// Panics, showing the errors and the received bytes, unless the
    /// script ran without error.
    pub fn assert_clean(&self) {
        assert!(
            self.errors.is_empty(),
            "scripted server errors: {:#?}\nreceived: {:?}",
            self.errors,
            self.received_text()
        );
    }

    /// How many lines the client sent that start with `prefix` (ASCII case
    /// ignored).
    pub fn count_lines(&self, prefix: &str) -> usize {
        self.lines
            .iter()
            .filter(|l| starts_with_ignore_case(l, prefix))
            .count()
    }

    /// True when the client sent a line starting with `prefix` (ASCII case
    /// ignored).
    pub fn has_line(&self, prefix: &str) -> bool {
        self.lines
            .iter()
            .any(|l| starts_with_ignore_case(l, prefix))
    }
}

/// A one-connection SMTP server running a script in a background thread.
pub struct ScriptedServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    progress: Arc<Mutex<String>>,
    done: Option<mpsc::Receiver<Capture>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl fmt::Debug for ScriptedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl ScriptedServer {
    /// Listens on 127.0.0.1 (a port the OS picks) and runs `script` for the
    /// first connection. Panics if the script has [`Step::StartTls`]: use
    /// [`ScriptedServer::start_with_tls`] then.
    pub fn start(script: Vec<Step>) -> ScriptedServer {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), script, None)
    }

    /// Like [`ScriptedServer::start`], with the TLS configuration that
    /// [`Step::StartTls`] uses (see [`tls`]).
    pub fn start_with_tls(script: Vec<Step>, tls: Arc<rustls::ServerConfig>) -> ScriptedServer {
        Self::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), script, Some(tls))
    }

    /// The general form: listens on `ip`, which must be a loopback address
    /// (127.0.0.1 or ::1; anything else panics), port chosen by the OS.
    pub fn start_on(
        ip: IpAddr,
        script: Vec<Step>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ScriptedServer {
        assert!(
            ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST),
            "the scripted server listens on 127.0.0.1 or ::1 only, not {ip}"
        );
        if tls.is_none() && script.iter().any(|s| matches!(s, Step::StartTls)) {
            panic!("the script has Step::StartTls: use ScriptedServer::start_with_tls");
        }
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind a loopback port");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Mutex::new("waiting for the client to connect".to_string()));
        let (tx, rx) = mpsc::channel();
        let thread = {
            let stop = stop.clone();
            let progress = progress.clone();
            thread::Builder::new()
                .name(format!("scripted-smtp-{}", addr.port()))
                .spawn(move || {
                    let capture = serve(listener, script, tls, &stop, &progress);
                    let _ = tx.send(capture);
                })
                .expect("spawn the scripted server thread")
        };
        ScriptedServer {
            addr,
            stop,
            progress,
            done: Some(rx),
            thread: Some(thread),
        }
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A client configuration for this server to start from: no TLS
    /// ([`Security::None`]), client name [`CLIENT_NAME`], every timeout 2 s.
    pub fn config(&self) -> Config {
        Config::new(self.addr.ip().to_string(), self.addr.port())
            .with_security(Security::None)
            .with_client_name(CLIENT_NAME)
            .with_timeouts(Timeouts::uniform(Duration::from_secs(2)))
    }

    /// Waits for the script to end and returns what the server saw. If no
    /// client connected, the server stops waiting for one now. Panics if the
    /// script has not ended within [`FINISH_TIMEOUT`] (the message says
    /// which step it was at).
    pub fn finish(self) -> Capture {
        self.stop.store(true, Ordering::SeqCst);
        self.collect(FINISH_TIMEOUT)
    }

    /// Like [`ScriptedServer::finish`], but keeps waiting for a client
    /// (up to [`ACCEPT_TIMEOUT`]) first: for a client in another process
    /// that may not have connected yet. Panics if the script has not ended
    /// within [`ACCEPT_TIMEOUT`] plus [`FINISH_TIMEOUT`].
    pub fn wait(self) -> Capture {
        self.collect(ACCEPT_TIMEOUT + FINISH_TIMEOUT)
    }

    fn collect(mut self, limit: Duration) -> Capture {
        let rx = self.done.take().expect("finish is called once");
        match rx.recv_timeout(limit) {
            Ok(capture) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
                capture
            }
            Err(_) => {
                let at = self
                    .progress
                    .lock()
                    .map(|p| p.clone())
                    .unwrap_or_else(|_| "unknown".into());
                panic!(
                    "the scripted server did not finish within {limit:?} (at: {at}); \
                     is the client still connected?"
                );
            }
        }
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        // A test that panicked before finish(): let the thread end on its
        // own (every wait in it is bounded) without blocking here.
        self.stop.store(true, Ordering::SeqCst);
    }
}

// ----- the server thread ---------------------------------------------------

/// The transport, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

/// Why reading stopped.
enum ReadError {
    /// End of stream or reset: the client closed.
    Closed,
    /// Nothing arrived in time.
    Timeout,
    /// A line longer than [`MAX_LINE`].
    TooLong,
    /// Any other failure.
    Other(io::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed => f.write_str("the client closed the connection"),
            ReadError::Timeout => f.write_str("timed out"),
            ReadError::TooLong => write!(f, "line longer than {MAX_LINE} bytes"),
            ReadError::Other(e) => write!(f, "I/O error: {e}"),
        }
    }
}

/// What to do after a step.
enum Flow {
    Continue,
    Stop,
}

struct Session {
    stream: Stream,
    /// Bytes read and not yet consumed.
    pending: Vec<u8>,
    capture: Capture,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Runs `script` for the next connection on `listener` (a clone may be
/// passed: the listening socket stays open while other clones exist).
pub(crate) fn serve(
    listener: TcpListener,
    script: Vec<Step>,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: &AtomicBool,
    progress: &Mutex<String>,
) -> Capture {
    let Some(tcp) = accept(&listener, stop) else {
        return Capture::default();
    };
    drop(listener);
    let _ = tcp.set_nodelay(true);
    let mut session = Session {
        stream: Stream::Plain(tcp),
        pending: Vec::new(),
        capture: Capture {
            connected: true,
            ..Capture::default()
        },
        tls,
    };
    let count = script.len();
    for (i, step) in script.into_iter().enumerate() {
        if let Ok(mut p) = progress.lock() {
            *p = format!("step {} of {count}: {step:?}", i + 1);
        }
        if let Flow::Stop = session.run(step) {
            break;
        }
    }
    session.close();
    session.capture
}

/// Waits (bounded) for the client; gives up early once `stop` is set and
/// no connection is pending.
fn accept(listener: &TcpListener, stop: &AtomicBool) -> Option<TcpStream> {
    listener.set_nonblocking(true).ok()?;
    let until = Instant::now() + ACCEPT_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((tcp, _)) => {
                tcp.set_nonblocking(false).ok()?;
                return Some(tcp);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
        if stop.load(Ordering::SeqCst) || Instant::now() >= until {
            // One last look: a client that connected just before finish().
            return match listener.accept() {
                Ok((tcp, _)) => tcp.set_nonblocking(false).ok().map(|()| tcp),
                Err(_) => None,
            };
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn starts_with_ignore_case(line: &str, prefix: &str) -> bool {
    line.len() >= prefix.len()
        && line.is_char_boundary(prefix.len())
        && line[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn is_closed_kind(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

impl Session {
    fn error(&mut self, message: String) -> Flow {
        self.capture.errors.push(message);
        Flow::Stop
    }

    fn run(&mut self, step: Step) -> Flow {
        match step {
            Step::Send(bytes) => match self.write(&bytes) {
                Ok(()) => Flow::Continue,
                Err(e) => self.error(format!(
                    "writing {:?} failed: {e}",
                    String::from_utf8_lossy(&bytes)
                )),
            },
            Step::SendSlowly { bytes, pause } => {
                for byte in bytes {
                    if self.write(&[byte]).is_err() {
                        self.capture.client_closed = true;
                        return Flow::Stop;
                    }
                    thread::sleep(pause);
                }
                Flow::Continue
            }
            Step::Flood {
                prefix,
                fill,
                total,
            } => self.flood(&prefix, fill, total),
            Step::Expect(prefix) => match self.read_line(IO_TIMEOUT) {
                Ok(line) if starts_with_ignore_case(&line, &prefix) => Flow::Continue,
                Ok(line) => self.error(format!("expected {prefix:?}, got {line:?}")),
                Err(e) => self.read_failed(&format!("expecting {prefix:?}"), e),
            },
            Step::ExpectAny => match self.read_line(IO_TIMEOUT) {
                Ok(_) => Flow::Continue,
                Err(e) => self.read_failed("expecting any line", e),
            },
            Step::Converse { max_lines, handler } => self.converse(max_lines, handler),
            Step::ReadData => self.read_data(),
            Step::ReadExact(n) => self.read_exact(n),
            Step::ReadBdat => self.read_bdat(),
            Step::ReadToClose(limit) => self.read_to_close(limit),
            Step::ExpectSilence(quiet) => self.expect_silence(quiet),
            Step::Sleep(d) => {
                thread::sleep(d);
                Flow::Continue
            }
            Step::StartTls => self.start_tls(),
            Step::Close => {
                self.close();
                Flow::Stop
            }
            Step::ExpectClose(limit) => self.expect_close(limit),
        }
    }

    fn read_failed(&mut self, what: &str, e: ReadError) -> Flow {
        if let ReadError::Closed = e {
            self.capture.client_closed = true;
        }
        self.error(format!("{what}: {e}"))
    }

    // ----- writing ----------------------------------------------------------

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.tcp().set_write_timeout(Some(IO_TIMEOUT))?;
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Stream::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
        }
    }

    fn flood(&mut self, prefix: &[u8], fill: u8, total: usize) -> Flow {
        const CHUNK: usize = 64 * 1024;
        let mut chunk = vec![fill; CHUNK];
        let head = prefix.len().min(CHUNK).min(total);
        chunk[..head].copy_from_slice(&prefix[..head]);
        let mut written = 0;
        let mut first = true;
        while written < total {
            let n = CHUNK.min(total - written);
            let result = self.write(&chunk[..n]);
            if first {
                chunk[..head].fill(fill);
                first = false;
            }
            match result {
                Ok(()) => written += n,
                Err(e) if is_closed_kind(e.kind()) => {
                    self.capture.flood_written = written;
                    self.capture.client_closed = true;
                    return Flow::Stop;
                }
                Err(e) => {
                    self.capture.flood_written = written;
                    return self.error(format!("flood stalled after {written} bytes: {e}"));
                }
            }
        }
        self.capture.flood_written = written;
        Flow::Continue
    }

    // ----- reading ----------------------------------------------------------

    /// Reads more bytes into `pending` (and `received`), waiting at most
    /// until `until`.
    fn fill(&mut self, until: Instant) -> Result<(), ReadError> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadError::Timeout);
        }
        self.stream
            .tcp()
            .set_read_timeout(Some(left))
            .map_err(ReadError::Other)?;
        let mut buf = [0u8; 16 * 1024];
        let result = match &mut self.stream {
            Stream::Plain(s) => s.read(&mut buf),
            Stream::Tls(s) => s.read(&mut buf),
        };
        match result {
            Ok(0) => Err(ReadError::Closed),
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.capture.received.extend_from_slice(&buf[..n]);
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(ReadError::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if is_closed_kind(e.kind()) => Err(ReadError::Closed),
            Err(e) => Err(ReadError::Other(e)),
        }
    }

    /// Reads one raw line, LF included, waiting at most `timeout`.
    fn read_raw_line(&mut self, timeout: Duration) -> Result<Vec<u8>, ReadError> {
        let until = Instant::now() + timeout;
        let mut searched = 0;
        loop {
            if let Some(pos) = self.pending[searched..].iter().position(|&b| b == b'\n') {
                let end = searched + pos + 1;
                return Ok(self.pending.drain(..end).collect());
            }
            searched = self.pending.len();
            if self.pending.len() > MAX_LINE {
                return Err(ReadError::TooLong);
            }
            self.fill(until)?;
        }
    }

    /// Reads one command line and records it (without its line ending).
    fn read_line(&mut self, timeout: Duration) -> Result<String, ReadError> {
        let raw = self.read_raw_line(timeout)?;
        let crlf = raw.ends_with(b"\r\n");
        let text = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let line = String::from_utf8_lossy(text).into_owned();
        if !crlf {
            self.capture
                .errors
                .push(format!("line {line:?} ends with a bare LF, not CRLF"));
        }
        self.capture.lines.push(line.clone());
        Ok(line)
    }

    fn converse(&mut self, max_lines: usize, mut handler: Handler) -> Flow {
        for _ in 0..max_lines {
            let line = match self.read_line(IO_TIMEOUT) {
                Ok(line) => line,
                Err(e) => return self.read_failed("in a conversation", e),
            };
            match handler(&line) {
                Answer::Reply(bytes) => {
                    if let Err(e) = self.write(&bytes) {
                        return self.error(format!("writing a conversation reply failed: {e}"));
                    }
                }
                Answer::ReplyAndEnd(bytes) => {
                    return match self.write(&bytes) {
                        Ok(()) => Flow::Continue,
                        Err(e) => self.error(format!("writing a conversation reply failed: {e}")),
                    };
                }
                Answer::End => return Flow::Continue,
                Answer::Fail(message) => return self.error(message),
            }
        }
        Flow::Continue
    }

    fn read_data(&mut self) -> Flow {
        let mut body = Vec::new();
        loop {
            match self.read_raw_line(IO_TIMEOUT) {
                Ok(line) => {
                    let end = line == b".\r\n";
                    body.extend_from_slice(&line);
                    if end {
                        self.capture.bodies.push(body);
                        return Flow::Continue;
                    }
                    if body.len() > MAX_BODY {
                        self.capture.bodies.push(body);
                        return self.error(format!("DATA body longer than {MAX_BODY} bytes"));
                    }
                }
                Err(e) => {
                    // Keep what arrived, unterminated line included.
                    body.append(&mut self.pending);
                    self.capture.bodies.push(body);
                    return self.read_failed("reading the DATA body", e);
                }
            }
        }
    }

    fn read_exact(&mut self, n: usize) -> Flow {
        let until = Instant::now() + IO_TIMEOUT;
        while self.pending.len() < n {
            if let Err(e) = self.fill(until) {
                let partial = std::mem::take(&mut self.pending);
                self.capture.bodies.push(partial);
                return self.read_failed(&format!("reading {n} bytes"), e);
            }
        }
        let bytes = self.pending.drain(..n).collect();
        self.capture.bodies.push(bytes);
        Flow::Continue
    }

    fn read_bdat(&mut self) -> Flow {
        let line = match self.read_line(IO_TIMEOUT) {
            Ok(line) => line,
            Err(e) => return self.read_failed("expecting a BDAT command", e),
        };
        let mut words = line.split(' ');
        let verb = words.next().unwrap_or("");
        let size = words.next().and_then(|n| n.parse::<usize>().ok());
        let rest: Vec<&str> = words.collect();
        let well_formed =
            rest.is_empty() || (rest.len() == 1 && rest[0].eq_ignore_ascii_case("LAST"));
        match size {
            Some(size) if verb.eq_ignore_ascii_case("BDAT") && well_formed && size <= MAX_BODY => {
                self.read_exact(size)
            }
            _ => self.error(format!("expected \"BDAT <size> [LAST]\", got {line:?}")),
        }
    }

    fn read_to_close(&mut self, limit: Duration) -> Flow {
        let until = Instant::now() + limit;
        loop {
            if self.pending.len() > MAX_BODY {
                let body = std::mem::take(&mut self.pending);
                self.capture.bodies.push(body);
                return self.error(format!("more than {MAX_BODY} bytes before the close"));
            }
            match self.fill(until) {
                Ok(()) => {}
                Err(ReadError::Closed) => {
                    self.capture.client_closed = true;
                    let body = std::mem::take(&mut self.pending);
                    self.capture.bodies.push(body);
                    return Flow::Stop;
                }
                Err(e) => {
                    let body = std::mem::take(&mut self.pending);
                    self.capture.bodies.push(body);
                    return self.error(format!("waiting for the client to close: {e}"));
                }
            }
        }
    }

    fn expect_silence(&mut self, quiet: Duration) -> Flow {
        let until = Instant::now() + quiet;
        loop {
            if !self.pending.is_empty() {
                let early = String::from_utf8_lossy(&self.pending).into_owned();
                return self.error(format!(
                    "the client sent {early:?} without waiting for a reply"
                ));
            }
            match self.fill(until) {
                Ok(()) => {}
                Err(ReadError::Timeout) => return Flow::Continue,
                Err(ReadError::Closed) => {
                    self.capture.client_closed = true;
                    return Flow::Continue;
                }
                Err(e) => return self.error(format!("while expecting silence: {e}")),
            }
        }
    }

    fn expect_close(&mut self, limit: Duration) -> Flow {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.read_line(left) {
                Ok(line) => {
                    if !line.is_empty() && !line.eq_ignore_ascii_case("QUIT") {
                        self.capture.errors.push(format!(
                            "unexpected line {line:?} while waiting for the close"
                        ));
                    }
                }
                Err(ReadError::Closed) => {
                    self.capture.client_closed = true;
                    if !self.pending.is_empty() {
                        let rest = String::from_utf8_lossy(&self.pending).into_owned();
                        self.capture
                            .errors
                            .push(format!("unterminated data {rest:?} before the close"));
                    }
                    return Flow::Stop;
                }
                Err(e) => {
                    return self.error(format!("the client did not close within {limit:?}: {e}"))
                }
            }
        }
    }

    // ----- TLS and closing ------------------------------------------------------

    fn start_tls(&mut self) -> Flow {
        let Some(config) = self.tls.clone() else {
            return self.error("StartTls without a TLS configuration".into());
        };
        if !self.pending.is_empty() {
            return self.error(format!(
                "the client sent {} bytes before the TLS handshake started",
                self.pending.len()
            ));
        }
        let tcp = match &self.stream {
            Stream::Plain(tcp) => match tcp.try_clone() {
                Ok(tcp) => tcp,
                Err(e) => return self.error(format!("cloning the socket failed: {e}")),
            },
            Stream::Tls(_) => return self.error("StartTls while TLS is already on".into()),
        };
        let mut conn = match ServerConnection::new(config) {
            Ok(conn) => conn,
            Err(e) => return self.error(format!("TLS handshake failed: bad server config: {e}")),
        };
        let mut sock = tcp;
        let until = Instant::now() + IO_TIMEOUT;
        while conn.is_handshaking() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return self.error("TLS handshake failed: timed out".into());
            }
            let _ = sock.set_read_timeout(Some(left));
            let _ = sock.set_write_timeout(Some(left));
            if let Err(e) = conn.complete_io(&mut sock) {
                // Let the client see our alert, if rustls queued one.
                let _ = conn.write_tls(&mut sock);
                if is_closed_kind(e.kind()) {
                    self.capture.client_closed = true;
                }
                return self.error(format!("TLS handshake failed: {e}"));
            }
        }
        self.capture.tls = Some(TlsSeen {
            version: conn
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            sni: conn.server_name().map(str::to_string),
            client_certificates: conn
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default(),
        });
        self.stream = Stream::Tls(Box::new(StreamOwned::new(conn, sock)));
        Flow::Continue
    }

    fn close(&mut self) {
        if let Stream::Tls(s) = &mut self.stream {
            s.conn.send_close_notify();
            let _ = s.sock.set_write_timeout(Some(Duration::from_millis(500)));
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let _ = self.stream.tcp().shutdown(Shutdown::Both);
    }
}

/// Certificates and rustls server configurations for TLS tests, made with
/// rcgen (ECDSA P-256 keys) at run time.
pub mod tls {
    use std::sync::Arc;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    use rustls::crypto::CryptoProvider;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::RootCertStore;

    /// The ring crypto provider, as the client uses.
    pub fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// A certificate with its private key and the chain to present.
    #[derive(Debug, Clone)]
    pub struct Issued {
        /// The certificate, PEM.
        pub cert_pem: String,
        /// The certificate, DER.
        pub cert_der: CertificateDer<'static>,
        /// The private key, PKCS#8 PEM.
        pub key_pem: String,
        /// The private key, PKCS#8 DER.
        pub key_der: Vec<u8>,
        /// The chain to present, leaf first (the leaf alone for a
        /// self-signed certificate; the CA itself is not included).
        pub chain: Vec<CertificateDer<'static>>,
    }

    impl Issued {
        /// The private key for rustls.
        pub fn private_key(&self) -> PrivateKeyDer<'static> {
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
        }

        /// A server configuration presenting this certificate, TLS 1.2 and
        /// 1.3, no client authentication.
        pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
            server_config(self.chain.clone(), self.private_key())
        }
    }

    /// A server configuration presenting `chain` with `key`, TLS 1.2 and
    /// 1.3, ring provider, no client authentication.
    pub fn server_config(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Arc<rustls::ServerConfig> {
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("a valid certificate and key"),
        )
    }

    /// Validity periods.
    #[derive(Clone, Copy)]
    enum Validity {
        Current,
        Expired,
        NotYetValid,
    }

    fn params(names: &[&str], validity: Validity) -> CertificateParams {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("valid subject alternative names");
        let (from, until) = match validity {
            Validity::Current => ((2020, 1, 1), (2099, 12, 31)),
            Validity::Expired => ((2000, 1, 1), (2001, 1, 1)),
            Validity::NotYetValid => ((2090, 1, 1), (2099, 12, 31)),
        };
        params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
        params.not_after = rcgen::date_time_ymd(until.0, until.1, until.2);
        params
    }

    fn leaf_params(names: &[&str], validity: Validity, client: bool) -> CertificateParams {
        let mut params = params(names, validity);
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("test"));
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        params
    }

    /// A private certificate authority for tests.
    pub struct TestCa {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    impl std::fmt::Debug for TestCa {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("TestCa").finish_non_exhaustive()
        }
    }

    impl Default for TestCa {
        fn default() -> Self {
            TestCa::new()
        }
    }

    impl TestCa {
        /// A new CA, "smtp-tests CA", valid 2020-2099.
        pub fn new() -> TestCa {
            let key = KeyPair::generate().expect("generate a CA key");
            let mut params = params(&[], Validity::Current);
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(DnType::CommonName, "smtp-tests CA");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            let cert = params.self_signed(&key).expect("self-sign the CA");
            TestCa { cert, key }
        }

        /// The CA certificate, PEM (give it to `Config::with_ca_pem`).
        pub fn ca_pem(&self) -> String {
            self.cert.pem()
        }

        /// The CA certificate, DER.
        pub fn ca_der(&self) -> CertificateDer<'static> {
            self.cert.der().clone()
        }

        fn sign(&self, params: CertificateParams) -> Issued {
            let key = KeyPair::generate().expect("generate a key");
            let cert = params
                .signed_by(&key, &self.cert, &self.key)
                .expect("sign a certificate");
            Issued {
                cert_pem: cert.pem(),
                cert_der: cert.der().clone(),
                key_pem: key.serialize_pem(),
                key_der: key.serialize_der(),
                chain: vec![cert.der().clone()],
            }
        }

        /// A server certificate for these names (DNS names, or IP addresses
        /// such as `"127.0.0.1"`), valid 2020-2099.
        pub fn issue(&self, names: &[&str]) -> Issued {
            self.sign(leaf_params(names, Validity::Current, false))
        }

        /// A server certificate for these names that expired in 2001.
        pub fn expired(&self, names: &[&str]) -> Issued {
            self.sign(leaf_params(names, Validity::Expired, false))
        }

        /// A server certificate for these names valid only from 2090.
        pub fn not_yet_valid(&self, names: &[&str]) -> Issued {
            self.sign(leaf_params(names, Validity::NotYetValid, false))
        }

        /// A client certificate (extended key usage clientAuth) for `name`.
        pub fn issue_client(&self, name: &str) -> Issued {
            self.sign(leaf_params(&[name], Validity::Current, true))
        }

        /// A server configuration presenting `server` and requiring a client
        /// certificate issued by this CA.
        pub fn server_config_requiring_client_cert(
            &self,
            server: &Issued,
        ) -> Arc<rustls::ServerConfig> {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der()).expect("the CA certificate parses");
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .expect("a client verifier");
            Arc::new(
                rustls::ServerConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default TLS versions")
                    .with_client_cert_verifier(verifier)
                    .with_single_cert(server.chain.clone(), server.private_key())
                    .expect("a valid certificate and key"),
            )
        }
    }

    /// A self-signed server certificate for these names (not a CA, so a
    /// verifying client refuses it as signed by an unknown issuer).
    pub fn self_signed(names: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("generate a key");
        let cert = leaf_params(names, Validity::Current, false)
            .self_signed(&key)
            .expect("self-sign a certificate");
        Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            chain: vec![cert.der().clone()],
        }
    }
}
