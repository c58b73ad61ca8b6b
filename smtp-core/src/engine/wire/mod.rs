//! The engine's side of the connection: bytes received and bytes to send,
//! the TLS layer between them and the protocol, the deadline of whatever
//! the protocol waits for, and the message body the driver feeds in.
//!
//! The protocol code (an `async fn` run by [`super::Engine`]) reaches it
//! through a [`Link`]; the driver through the engine's methods. Nothing
//! here touches a socket or reads a clock: time is what the driver said.
//! The TLS layer's own steps are in `tls.rs`.

use std::future::poll_fn;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use rustls::ClientConnection;

use crate::error::{Error, Phase, Result, TlsErrorKind};
use crate::reply::{Reply, ReplyBuilder, MAX_LINE_LEN};

mod tls;

use tls::tls_receive;

/// Output beyond this makes the engine ask the driver to write before it
/// asks for more of the body: the body streams with bounded memory.
pub(crate) const HIGH_WATER: usize = 64 * 1024;

/// What the protocol code waits for, as the driver must see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Nothing: the protocol code is running or done.
    Nothing,
    /// The output to be written.
    Flush,
    /// Input from the server.
    Input,
    /// Up to this many octets of the message body.
    Body(usize),
}

/// Why the connection failed, as the driver or the TLS layer reported it.
#[derive(Debug)]
enum Failure {
    /// A socket error on read or write.
    Io(io::Error),
    /// The server closed the connection.
    Eof,
    /// The TLS layer refused what the server sent.
    Tls(rustls::Error),
    /// Plaintext arrived where the TLS handshake should start.
    Injected,
    /// More unread input than any reply to what was sent can be.
    Flood,
}

/// Most received octets held unread. A batch window has at most
/// [`WINDOW_COMMANDS`](crate::engine::WINDOW_COMMANDS) commands in flight,
/// whose replies take a small part of this; a server sending more is
/// flooding the client.
pub(crate) const MAX_UNREAD: usize = 8 * 1024 * 1024;

/// The overall limit of one request: when it passes, whatever step is
/// running fails with a timeout that reports `total`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) total: Duration,
}

/// The message body as the driver hands it in.
#[derive(Debug, Default)]
struct BodyInbox {
    data: Vec<u8>,
    pos: usize,
    ended: bool,
    error: Option<io::Error>,
}

/// Everything the engine and the protocol code share.
pub(crate) struct Wire {
    /// The time the driver last gave.
    now: Instant,
    /// Received plaintext: `input[start..]` is unread.
    pub(crate) input: Vec<u8>,
    start: usize,
    /// Bytes to write: `out[written..]` is still to go.
    out: Vec<u8>,
    written: usize,
    /// Octets ever queued for writing and ever written, to place marks.
    queued_total: u64,
    written_total: u64,
    /// Where the end of the current message lies in `queued_total`.
    end_mark: Option<u64>,
    /// When the output must be written by, and what a timeout reports.
    write_deadline: Option<(Instant, Phase, Duration)>,
    /// When the input being waited for must arrive by.
    read_deadline: Option<(Instant, Phase, Duration)>,
    /// The request's overall limit.
    total: Option<Deadline>,
    failure: Option<Failure>,
    /// Set once a failure was reported to the protocol code.
    broken: bool,
    tls: Option<Box<ClientConnection>>,
    /// Right after `STARTTLS`: the first bytes must be a TLS record.
    expect_tls_record: bool,
    /// The handshake just finished: the driver should acknowledge fast.
    quick_ack: bool,
    /// The output holds credentials in clear: wiped once written.
    wipe: bool,
    /// How many times the output was wiped (the tests look).
    #[cfg(test)]
    pub(crate) wipes: usize,
    body: BodyInbox,
    /// Which message of the request the body being read belongs to.
    body_index: usize,
    /// Messages of a batch whose result is in, in the order they came.
    pub(crate) finished: Vec<(usize, Result<crate::report::SendReport>)>,
    pub(crate) waiting: Waiting,
}

impl BodyInbox {
    /// Empties it for the next body, keeping a block of ordinary size.
    fn reset(&mut self) {
        self.data.clear();
        if self.data.capacity() > 256 * 1024 {
            self.data = Vec::new();
        }
        self.pos = 0;
        self.ended = false;
        self.error = None;
    }
}

impl Wire {
    pub(crate) fn new(now: Instant) -> Wire {
        Wire {
            now,
            input: Vec::with_capacity(4096),
            start: 0,
            out: Vec::with_capacity(4096),
            written: 0,
            queued_total: 0,
            written_total: 0,
            end_mark: None,
            write_deadline: None,
            read_deadline: None,
            total: None,
            failure: None,
            broken: false,
            tls: None,
            expect_tls_record: false,
            quick_ack: false,
            wipe: false,
            #[cfg(test)]
            wipes: 0,
            body: BodyInbox::default(),
            body_index: 0,
            finished: Vec::new(),
            waiting: Waiting::Nothing,
        }
    }

    /// The message whose body is being read.
    pub(crate) fn body_index(&self) -> usize {
        self.body_index
    }

    pub(crate) fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    pub(crate) fn set_total(&mut self, total: Option<Duration>) {
        self.total = total.map(|total| Deadline {
            at: self.now + total,
            total,
        });
    }

    // ----- the driver's side ----------------------------------------------

    pub(crate) fn output(&self) -> &[u8] {
        &self.out[self.written..]
    }

    pub(crate) fn wrote(&mut self, n: usize) {
        let n = n.min(self.out.len() - self.written);
        self.written += n;
        self.written_total += n as u64;
        if self.written == self.out.len() {
            if std::mem::take(&mut self.wipe) {
                zeroize::Zeroize::zeroize(&mut self.out);
                #[cfg(test)]
                {
                    self.wipes += 1;
                }
            }
            self.out.clear();
            self.written = 0;
            self.write_deadline = None;
        } else if let Some((_, phase, timeout)) = self.write_deadline {
            // Each write that makes progress restarts the clock (the data
            // block timeout is per write, RFC 5321 4.5.3.2.5).
            self.write_deadline = Some((self.now + timeout, phase, timeout));
        }
    }

    pub(crate) fn received(&mut self, bytes: &[u8]) {
        if self.failure.is_some() || self.broken {
            return;
        }
        if self.expect_tls_record && !bytes.is_empty() {
            self.expect_tls_record = false;
            // A handshake (22) or alert (21) record; anything else is
            // plaintext the server (or someone on the path) slipped in.
            if !matches!(bytes[0], 21 | 22) {
                self.failure = Some(Failure::Injected);
                return;
            }
        }
        // What was read goes; a batch's replies keep arriving while
        // earlier ones are read, so the buffer would never empty itself.
        if self.start == self.input.len() {
            self.input.clear();
            self.start = 0;
        } else if self.start >= 64 * 1024 {
            self.input.drain(..self.start);
            self.start = 0;
        }
        match self.tls.as_deref_mut() {
            None => self.input.extend_from_slice(bytes),
            Some(tls) => {
                if let Err(f) = tls_receive(tls, bytes, &mut self.input, &mut self.out) {
                    self.failure = Some(f);
                }
                self.queued_total = self.written_total + (self.out.len() - self.written) as u64;
            }
        }
        if self.unread_input() > MAX_UNREAD {
            self.input = Vec::new();
            self.start = 0;
            self.failure = Some(Failure::Flood);
        }
    }

    pub(crate) fn received_eof(&mut self) {
        if self.failure.is_none() {
            self.failure = Some(Failure::Eof);
        }
    }

    pub(crate) fn failed(&mut self, error: io::Error) {
        if self.failure.is_none() {
            self.failure = Some(Failure::Io(error));
        }
    }

    pub(crate) fn body_data(&mut self, bytes: &[u8]) {
        let b = &mut self.body;
        if b.pos == b.data.len() {
            b.data.clear();
            b.pos = 0;
        }
        if bytes.is_empty() {
            b.ended = true;
        } else {
            b.data.extend_from_slice(bytes);
        }
    }

    pub(crate) fn body_failed(&mut self, error: io::Error) {
        self.body.error = Some(error);
    }

    pub(crate) fn take_quick_ack(&mut self) -> bool {
        std::mem::take(&mut self.quick_ack)
    }

    /// The instant by which the driver must poll again, if any.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let step = match self.waiting {
            Waiting::Flush | Waiting::Body(_) => self.write_deadline.map(|d| d.0),
            Waiting::Input if !self.output().is_empty() => self.write_deadline.map(|d| d.0),
            Waiting::Input => self.read_deadline.map(|d| d.0),
            Waiting::Nothing => None,
        };
        match (step, self.total) {
            (Some(s), Some(t)) => Some(s.min(t.at)),
            (s, t) => s.or(t.map(|t| t.at)),
        }
    }

    /// Drops what a finished request left: unread body, marks, deadlines.
    pub(crate) fn end_request(&mut self) {
        self.body.reset();
        self.body_index = 0;
        self.end_mark = None;
        self.read_deadline = None;
        self.total = None;
        self.waiting = Waiting::Nothing;
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    // ----- the protocol's side --------------------------------------------

    /// Queues `bytes` (through TLS when it is on), to be written within
    /// `timeout`.
    fn queue(&mut self, bytes: &[u8], phase: Phase, timeout: Duration) {
        if self.output().is_empty() || self.write_deadline.is_none() {
            self.write_deadline = Some((self.now + timeout, phase, timeout));
        }
        match self.tls.as_deref_mut() {
            None => self.out.extend_from_slice(bytes),
            Some(tls) => {
                // The buffer limit is lifted, so the writer takes it all.
                let _ = tls.writer().write_all(bytes);
                while tls.wants_write() {
                    if tls.write_tls(&mut self.out).is_err() {
                        break;
                    }
                }
            }
        }
        self.queued_total = self.written_total + (self.out.len() - self.written) as u64;
    }

    /// The error for a failure seen while waiting in `phase` (whose own
    /// timeout is `after`); the connection is unusable from then on.
    fn take_failure(&mut self, phase: Phase) -> Option<Error> {
        if let Some(failure) = self.failure.take() {
            self.broken = true;
            return Some(match failure {
                Failure::Io(e) => match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                        phase,
                        after: self.step_timeout(phase),
                    },
                    _ => Error::Io { phase, source: e },
                },
                Failure::Eof => Error::Io {
                    phase,
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ),
                },
                Failure::Tls(e) => Error::Io {
                    phase,
                    source: io::Error::new(io::ErrorKind::InvalidData, e),
                },
                Failure::Flood => flood(phase),
                Failure::Injected => Error::Tls {
                    phase: Phase::StartTls,
                    kind: TlsErrorKind::InjectedData,
                    message: "the server sent data after its 220 reply to STARTTLS and before the TLS handshake (a response-injection attack or a broken server); connection closed".into(),
                },
            });
        }
        if self.broken {
            return Some(Error::NotConnected("closed".into()));
        }
        None
    }

    fn step_timeout(&self, phase: Phase) -> Duration {
        [self.read_deadline, self.write_deadline]
            .into_iter()
            .flatten()
            .find(|d| d.1 == phase)
            .map(|d| d.2)
            .unwrap_or_default()
    }

    /// A timeout if the output has not gone by its deadline (or the
    /// request's), else None.
    fn write_timed_out(&self) -> Option<Error> {
        let (until, phase, timeout) = self.write_deadline?;
        if self.output().is_empty() {
            return None;
        }
        self.timed_out(until, phase, timeout)
    }

    fn timed_out(&self, until: Instant, phase: Phase, timeout: Duration) -> Option<Error> {
        match self.total {
            Some(t) if t.at <= self.now && t.at <= until => Some(Error::Timeout {
                phase,
                after: t.total,
            }),
            _ if until <= self.now => Some(Error::Timeout {
                phase,
                after: timeout,
            }),
            _ => None,
        }
    }

    /// One line of input, without its line ending, if a whole one is here.
    fn take_line(&mut self) -> Option<&[u8]> {
        let pending = &self.input[self.start..];
        let pos = memchr::memchr(b'\n', pending)?;
        let line_start = self.start;
        self.start += pos + 1;
        let mut line = &self.input[line_start..line_start + pos];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        Some(line)
    }

    fn unread_input(&self) -> usize {
        self.input.len() - self.start
    }
}

/// The protocol code's handle on the [`Wire`].
#[derive(Clone)]
pub(crate) struct Link(pub(crate) Arc<Mutex<Wire>>);

impl Link {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Wire> {
        // A panic while holding the lock is caught at the C boundary; the
        // wire's state is still consistent byte buffers.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues bytes to write within `timeout`; never waits.
    pub(crate) fn write(&self, bytes: &[u8], phase: Phase, timeout: Duration) {
        self.lock().queue(bytes, phase, timeout);
    }

    /// Queues a line that carries credentials: the output buffer is wiped
    /// once it has been written (with TLS the buffer holds only records).
    pub(crate) fn write_secret(&self, bytes: &[u8], phase: Phase, timeout: Duration) {
        let mut w = self.lock();
        w.queue(bytes, phase, timeout);
        if w.tls.is_none() {
            w.wipe = true;
        }
    }

    /// Queues the end of a message and remembers where it ends.
    pub(crate) fn write_end_of_message(&self, bytes: &[u8], phase: Phase, timeout: Duration) {
        let mut w = self.lock();
        w.queue(bytes, phase, timeout);
        w.end_mark = Some(w.queued_total);
    }

    /// Starts reading the body of message `index` of the request.
    pub(crate) fn next_body(&self, index: usize) {
        let mut w = self.lock();
        w.body.reset();
        w.body_index = index;
    }

    /// Message `index` of a batch has its result.
    pub(crate) fn finished(&self, index: usize, result: Result<crate::report::SendReport>) {
        self.lock().finished.push((index, result));
    }

    /// Octets ever queued for writing.
    pub(crate) fn queued_total(&self) -> u64 {
        self.lock().queued_total
    }

    /// Octets ever written.
    pub(crate) fn written_total(&self) -> u64 {
        self.lock().written_total
    }

    /// True once every octet up to the end of the message was written.
    pub(crate) fn end_of_message_written(&self) -> bool {
        let w = self.lock();
        w.end_mark.is_some_and(|mark| w.written_total >= mark)
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.lock().is_tls()
    }

    /// Waits until everything queued has been written.
    pub(crate) async fn flush(&self, phase: Phase) -> Result<()> {
        poll_fn(|_| {
            let mut w = self.lock();
            if w.output().is_empty() {
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Ok(()));
            }
            // A write failure is reported in the phase of what was written.
            let phase = w.write_deadline.map_or(phase, |d| d.1);
            if let Some(e) = w.take_failure(phase) {
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Err(e));
            }
            if let Some(e) = w.write_timed_out() {
                w.broken = true;
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Err(e));
            }
            w.waiting = Waiting::Flush;
            Poll::Pending
        })
        .await
    }

    /// Waits for one line from the server (after the output has gone).
    /// A line longer than [`MAX_LINE_LEN`] is a protocol error, found
    /// without waiting for the rest of it.
    pub(crate) async fn read_line(&self, phase: Phase, timeout: Duration) -> Result<Vec<u8>> {
        self.flush(phase).await?;
        let mut armed = false;
        poll_fn(|_| {
            let mut w = self.lock();
            if !armed {
                armed = true;
                w.read_deadline = Some((w.now + timeout, phase, timeout));
            }
            if let Some(line) = w.take_line() {
                let line = line.to_vec();
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Ok(line));
            }
            let fail = if w.unread_input() >= MAX_LINE_LEN {
                w.broken = true;
                Some(Error::Protocol {
                    phase,
                    reason: format!("reply line longer than {MAX_LINE_LEN} bytes"),
                })
            } else if let Some(e) = w.take_failure(phase) {
                Some(e)
            } else {
                let (until, _, _) = w.read_deadline.expect("armed above");
                let timed_out = w.timed_out(until, phase, timeout);
                if timed_out.is_some() {
                    w.broken = true;
                }
                timed_out
            };
            if let Some(e) = fail {
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Err(e));
            }
            w.waiting = Waiting::Input;
            Poll::Pending
        })
        .await
    }

    /// Waits for one whole reply, feeding each line to `seen` (the
    /// transcript).
    pub(crate) async fn read_reply(
        &self,
        phase: Phase,
        timeout: Duration,
        seen: &mut (dyn FnMut(&[u8]) + Send),
    ) -> Result<Reply> {
        let mut builder = ReplyBuilder::new();
        loop {
            let line = self.read_line(phase, timeout).await?;
            seen(&line);
            match builder.push_line(&line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => {
                    self.lock().broken = true;
                    return Err(Error::Protocol {
                        phase,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// Waits for the next piece of the message body, at most `max`
    /// octets, and hands it to `take`; Ok(false) at its end. Asks the
    /// driver to write first while the output is above [`HIGH_WATER`].
    pub(crate) async fn body(
        &self,
        max: usize,
        phase: Phase,
        take: &mut (dyn FnMut(&[u8]) + Send),
    ) -> io::Result<bool> {
        poll_fn(|_| {
            let mut w = self.lock();
            if let Some(e) = w.body.error.take() {
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Err(e));
            }
            if w.output().len() > HIGH_WATER {
                if let Some(e) = w.take_failure(phase).or_else(|| w.write_timed_out()) {
                    w.broken = true;
                    w.waiting = Waiting::Nothing;
                    return Poll::Ready(Err(io::Error::other(SinkFailure(e))));
                }
                w.waiting = Waiting::Flush;
                return Poll::Pending;
            }
            let b = &mut w.body;
            if b.pos < b.data.len() {
                let end = b.data.len().min(b.pos + max);
                take(&b.data[b.pos..end]);
                b.pos = end;
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Ok(true));
            }
            if b.ended {
                w.waiting = Waiting::Nothing;
                return Poll::Ready(Ok(false));
            }
            w.waiting = Waiting::Body(max);
            Poll::Pending
        })
        .await
    }

    /// True when the server sent anything we have not read.
    pub(crate) fn has_unread_input(&self) -> bool {
        self.lock().unread_input() > 0
    }
}

/// A write failure met while waiting to hand over more of the body.
#[derive(Debug)]
pub(crate) struct SinkFailure(pub(crate) Error);

impl std::fmt::Display for SinkFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SinkFailure {}

/// The error for a server that sent more than [`MAX_UNREAD`] unasked.
pub(crate) fn flood(phase: Phase) -> Error {
    Error::Protocol {
        phase,
        reason: format!(
            "the server sent more than {} KiB that no command had asked for yet; connection closed",
            MAX_UNREAD / 1024
        ),
    }
}
