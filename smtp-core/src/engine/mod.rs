//! The SMTP client protocol with no I/O: an [`Engine`] takes the bytes
//! the server sent, the message body, the current time and the caller's
//! requests, and gives back the bytes to write, the instant it must be
//! woken by, and the outcome of each request. It owns every protocol
//! rule (the order of commands, pipelining, STARTTLS and the TLS layer,
//! AUTH, the reply and injection checks, the transcript and its
//! redaction); a driver only moves bytes and time.
//!
//! The protocol is written once, as sequential `async` code over the
//! engine's buffers; the engine polls it with a no-op waker, so it runs
//! exactly as far as the bytes at hand allow and then reports what it
//! needs ([`Step`]). There are no sockets, no clock and no threads here:
//! the blocking [`Client`](crate::Client) and the tokio `AsyncClient` are
//! two drivers of the same engine.
//!
//! A driver's loop:
//!
//! ```text
//! loop {
//!     match engine.poll(now()) {
//!         Step::Write => write from engine.with_output(..), then engine.wrote(n)
//!         Step::Read => read until engine.deadline(), then engine.received(bytes)
//!                       (or engine.received_eof(), or engine.failed(error))
//!         Step::Body { max } => read the caller's body, engine.body_data(bytes)
//!                               (empty at its end) or engine.body_failed(error)
//!         Step::Done(outcome) => return outcome,
//!         Step::Idle => nothing was asked,
//!     }
//! }
//! ```
//!
//! A driver that finds the deadline passed simply polls again with the
//! new time: the engine decides what timed out and reports it.

use core::net::SocketAddr;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::auth::Mechanism;
use crate::capabilities::Capabilities;
use crate::command::Command;
use crate::config::Config;
use crate::error::{Error, Phase, Result};
use crate::reply::Reply;
use crate::report::SendReport;
use crate::transcript::{Direction, Transcript};
use crate::{Envelope, TlsInfo};

mod authenticate;
mod batch;
mod body;
mod setup;
#[cfg(test)]
mod tests;
mod transaction;
mod wire;

pub use authenticate::MAX_AUTH_ROUNDS;
pub use batch::{WINDOW_BYTES, WINDOW_COMMANDS, WINDOW_MESSAGES};

use wire::{Link, Waiting, Wire};

/// What the engine needs from its driver next.
#[derive(Debug)]
pub enum Step {
    /// Write the output ([`Engine::with_output`], by [`Engine::deadline`]), then report
    /// how much went with [`Engine::wrote`].
    Write,
    /// Read from the server (by [`Engine::deadline`]) and hand the bytes
    /// to [`Engine::received`].
    Read,
    /// Read up to `max` octets of the message body and hand them to
    /// [`Engine::body_data`] (an empty slice at its end).
    Body {
        /// Most octets wanted now.
        max: usize,
        /// Which message of the request (0 for a single send; the
        /// position in the batch for [`Engine::start_send_many`]).
        message: usize,
    },
    /// The request finished.
    Done(Outcome),
    /// No request is running.
    Idle,
}

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    /// [`Engine::start_connect`]: greeted, TLS and AUTH done as configured.
    Connected(Result<()>),
    /// [`Engine::start_send`].
    Sent(Result<SendReport>),
    /// [`Engine::start_send_many`]: one result per message, in order.
    SentMany(Vec<Result<SendReport>>),
    /// [`Engine::start_noop`].
    Noop(Result<Reply>),
    /// [`Engine::start_reset`].
    Reset(Result<()>),
    /// [`Engine::start_quit`].
    Quit(Result<()>),
}

/// The connection a driver opened, as the engine needs to know it.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The server's address (for the transcript and the loopback rule of
    /// [`PlaintextAuthPolicy`](crate::PlaintextAuthPolicy)).
    pub remote: Option<SocketAddr>,
    /// Our end (the EHLO name's fallback).
    pub local: Option<SocketAddr>,
    /// This machine's fully qualified name, if it has one (the EHLO name
    /// when none is configured).
    pub host_name: Option<String>,
}

/// What the session learned while connecting.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub(crate) greeting: Reply,
    pub(crate) capabilities: Capabilities,
    pub(crate) tls_info: Option<TlsInfo>,
    pub(crate) authenticated: Option<Mechanism>,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            greeting: Reply::new(0, None, Vec::new()),
            capabilities: Capabilities::default(),
            tls_info: None,
            authenticated: None,
        }
    }
}

/// The protocol state a request runs on: moved into the request's
/// future while it runs and given back when it ends.
pub(crate) struct Session {
    pub(crate) config: Config,
    /// The TLS client settings, when the security mode uses TLS.
    pub(crate) tls_config: Option<Arc<rustls::ClientConfig>>,
    pub(crate) transcript: Transcript,
    pub(crate) facts: Facts,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    /// This machine's name, as the driver found it.
    pub(crate) host_name: Option<String>,
    /// Why the session can no longer be used, once it cannot.
    pub(crate) closed: Option<String>,
    pub(crate) link: Link,
    /// The body reader and its line fitter, kept across messages.
    pub(crate) body: Option<body::Body>,
    /// Body blocks reused by every message of the session.
    pub(crate) chunk: Vec<u8>,
    pub(crate) pending: Vec<u8>,
    wbuf: Vec<u8>,
}

type Task = Pin<Box<dyn Future<Output = (Box<Session>, Outcome)> + Send>>;

/// The protocol engine. See the [module documentation](self).
pub struct Engine {
    link: Link,
    session: Option<Box<Session>>,
    task: Option<Task>,
    facts: Facts,
    closed: Option<String>,
    /// The results of a batch, as they come.
    batch: Vec<Option<Result<SendReport>>>,
    /// Messages of the batch whose result came since the driver last asked.
    newly_finished: Vec<usize>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("busy", &self.task.is_some())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Engine {
    /// An engine for `config` (checked here), not yet connected. `now`
    /// is the driver's clock.
    pub fn new(config: Config, now: Instant) -> Result<Engine> {
        config.validate()?;
        // Built now: a broken TLS setting fails before anything connects.
        let tls_config = match config.security() {
            crate::Security::None => None,
            _ => Some(config.tls.client_config()?),
        };
        let link = Link(Arc::new(Mutex::new(Wire::new(now))));
        let session = Session {
            tls_config,
            transcript: Transcript::new(config.transcript.clone()),
            config,
            facts: Facts::default(),
            peer: None,
            local: None,
            host_name: None,
            closed: None,
            link: link.clone(),
            body: None,
            chunk: Vec::new(),
            pending: Vec::new(),
            wbuf: Vec::with_capacity(1024),
        };
        Ok(Engine {
            link,
            session: Some(Box::new(session)),
            task: None,
            facts: Facts::default(),
            closed: None,
            batch: Vec::new(),
            newly_finished: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> Option<&Config> {
        self.session.as_ref().map(|s| &s.config)
    }

    /// Starts the session on a connection the driver opened: implicit
    /// TLS if configured, the greeting, EHLO, STARTTLS, AUTH.
    pub fn start_connect(&mut self, peer: Peer, now: Instant) -> Result<()> {
        let mut session = self.begin(now, true)?;
        session.peer = peer.remote;
        session.local = peer.local;
        session.host_name = peer.host_name;
        self.run(session, |mut s| async move {
            let outcome = s.connect().await;
            (s, Outcome::Connected(outcome))
        });
        Ok(())
    }

    /// Starts sending one message to `envelope`; the body is asked for
    /// with [`Step::Body`].
    pub fn start_send(&mut self, envelope: Envelope, now: Instant) -> Result<()> {
        let session = self.begin(now, true)?;
        self.run(session, |mut s| async move {
            let outcome = s.send(&envelope).await;
            (s, Outcome::Sent(outcome))
        });
        Ok(())
    }

    /// Starts sending several messages over this session, pipelined
    /// across messages when the server allows (see
    /// [`Client::send_many`](crate::Client::send_many)); the body of
    /// message `i` is asked for with `Step::Body { message: i, .. }`.
    pub fn start_send_many(&mut self, envelopes: Vec<Envelope>, now: Instant) -> Result<()> {
        let session = self.begin(now, true)?;
        self.batch = (0..envelopes.len()).map(|_| None).collect();
        self.newly_finished.clear();
        self.run(session, |mut s| async move {
            s.send_many(&envelopes).await;
            (s, Outcome::SentMany(Vec::new()))
        });
        Ok(())
    }

    /// Starts a `NOOP`.
    pub fn start_noop(&mut self, now: Instant) -> Result<()> {
        let session = self.begin(now, false)?;
        self.run(session, |mut s| async move {
            let outcome = s.noop().await;
            (s, Outcome::Noop(outcome))
        });
        Ok(())
    }

    /// Starts an `RSET`.
    pub fn start_reset(&mut self, now: Instant) -> Result<()> {
        let session = self.begin(now, false)?;
        self.run(session, |mut s| async move {
            let outcome = s.reset().await;
            (s, Outcome::Reset(outcome))
        });
        Ok(())
    }

    /// Starts a `QUIT`; the session is closed after it.
    pub fn start_quit(&mut self, now: Instant) -> Result<()> {
        let session = self.begin(now, false)?;
        self.run(session, |mut s| async move {
            let outcome = s.quit().await;
            (s, Outcome::Quit(outcome))
        });
        Ok(())
    }

    /// Queues `QUIT` without waiting for its reply and closes the session
    /// (for a driver being dropped): write the output if you can.
    pub fn quit_now(&mut self) {
        if self.task.is_none() && self.closed.is_none() {
            self.link
                .write(b"QUIT\r\n", Phase::Quit, Duration::from_secs(1));
        }
        self.abandon("the client was dropped");
    }

    /// Gives up the running request, if any (its future was dropped by a
    /// driver's caller): the connection is out of step and is closed.
    pub fn abandon(&mut self, why: &str) {
        if self.task.take().is_some() {
            self.session = None;
        }
        self.closed.get_or_insert_with(|| why.to_string());
    }

    /// True while a request runs.
    pub fn is_busy(&self) -> bool {
        self.task.is_some()
    }

    /// True while the session can be used (connected, not closed).
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Why the session was closed, once it was.
    pub fn closed_reason(&self) -> Option<&str> {
        self.closed.as_deref()
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.facts.greeting
    }

    /// What the server offers (from the last EHLO).
    pub fn capabilities(&self) -> &Capabilities {
        &self.facts.capabilities
    }

    /// The TLS session details, once TLS is on.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.facts.tls_info.as_ref()
    }

    /// The mechanism the session authenticated with.
    pub fn authenticated_with(&self) -> Option<Mechanism> {
        self.facts.authenticated
    }

    /// True when the session runs over TLS.
    pub fn is_encrypted(&self) -> bool {
        self.facts.tls_info.is_some() && self.link.is_tls()
    }

    /// Advances the running request as far as the bytes at hand allow.
    pub fn poll(&mut self, now: Instant) -> Step {
        self.link.lock().set_now(now);
        // A request that waited for the output to go, and it went, runs
        // on at once; twice is enough for any request.
        for _ in 0..4 {
            let Some(task) = self.task.as_mut() else {
                return Step::Idle;
            };
            let mut cx = Context::from_waker(Waker::noop());
            let polled = task.as_mut().poll(&mut cx);
            self.collect_finished();
            if let Poll::Ready((session, mut outcome)) = polled {
                self.task = None;
                if let Outcome::SentMany(results) = &mut outcome {
                    *results = std::mem::take(&mut self.batch)
                        .into_iter()
                        .map(|r| {
                            r.unwrap_or_else(|| {
                                Err(Error::NotConnected("the message was not sent".into()))
                            })
                        })
                        .collect();
                }
                self.link.lock().end_request();
                if let Some(why) = &session.closed {
                    self.closed.get_or_insert_with(|| why.clone());
                }
                if matches!(outcome, Outcome::Connected(_)) {
                    self.facts = session.facts.clone();
                }
                self.session = Some(session);
                return Step::Done(outcome);
            }
            let w = self.link.lock();
            let pending_output = !w.output().is_empty();
            match w.waiting {
                Waiting::Body(max) => {
                    let message = w.body_index();
                    return Step::Body { max, message };
                }
                _ if pending_output => return Step::Write,
                Waiting::Input => return Step::Read,
                Waiting::Flush | Waiting::Nothing => {}
            }
        }
        // Unreachable by construction: every wait names what it waits for.
        Step::Read
    }

    /// The messages of a running batch whose result came in since the last
    /// call, in the order they came (see [`Engine::batch_result`]). A
    /// caller that must record each result before anything more happens
    /// (the outbox) does so between polls.
    pub fn take_finished(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.newly_finished)
    }

    /// The result of message `index` of the running batch, once it came.
    pub fn batch_result(&self, index: usize) -> Option<&Result<SendReport>> {
        self.batch.get(index).and_then(Option::as_ref)
    }

    fn collect_finished(&mut self) {
        let finished = std::mem::take(&mut self.link.lock().finished);
        for (index, result) in finished {
            if let Some(slot) = self.batch.get_mut(index) {
                *slot = Some(result);
                self.newly_finished.push(index);
            }
        }
    }

    /// The instant by which the driver must poll again (a timeout), if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.link.lock().deadline()
    }

    /// Gives the bytes waiting to be written to `write`, which returns
    /// how many it took (report them with [`Engine::wrote`]).
    pub fn with_output<R>(&self, write: impl FnOnce(&[u8]) -> R) -> R {
        write(self.link.lock().output())
    }

    /// True when the output is TLS records (from the start of the
    /// handshake on), false while it is plaintext.
    pub fn output_is_tls(&self) -> bool {
        self.link.is_tls()
    }

    /// Octets waiting to be written.
    pub fn output_len(&self) -> usize {
        self.link.lock().output().len()
    }

    /// `n` octets of the output were written.
    pub fn wrote(&mut self, n: usize) {
        self.link.lock().wrote(n);
    }

    /// Bytes the server sent.
    pub fn received(&mut self, bytes: &[u8]) {
        self.link.lock().received(bytes);
    }

    /// The server closed the connection.
    pub fn received_eof(&mut self) {
        self.link.lock().received_eof();
    }

    /// Reading or writing failed.
    pub fn failed(&mut self, error: io::Error) {
        self.link.lock().failed(error);
    }

    /// The next piece of the message body; an empty slice ends it.
    pub fn body_data(&mut self, bytes: &[u8]) {
        self.link.lock().body_data(bytes);
    }

    /// Reading the message body failed: the message is abandoned
    /// without its end, so the server never delivers a part of it.
    pub fn body_failed(&mut self, error: io::Error) {
        self.link.lock().body_failed(error);
    }

    /// True once after the TLS handshake finished: a driver on Linux
    /// asks for the next segments to be acknowledged at once (the server
    /// may hold its greeting until its session tickets are).
    pub fn take_quick_ack(&mut self) -> bool {
        self.link.lock().take_quick_ack()
    }

    fn begin(&mut self, now: Instant, total: bool) -> Result<Box<Session>> {
        if self.task.is_some() {
            return Err(Error::invalid(
                "request",
                "the engine is already running a request",
            ));
        }
        if let Some(why) = &self.closed {
            return Err(Error::NotConnected(why.clone()));
        }
        let session = self
            .session
            .take()
            .ok_or_else(|| Error::NotConnected("the session is closed".into()))?;
        let mut w = self.link.lock();
        w.set_now(now);
        w.set_total(if total {
            session.config.timeouts.total
        } else {
            None
        });
        Ok(session)
    }

    fn run<F, Fut>(&mut self, session: Box<Session>, request: F)
    where
        F: FnOnce(Box<Session>) -> Fut,
        Fut: Future<Output = (Box<Session>, Outcome)> + Send + 'static,
    {
        self.task = Some(Box::pin(request(session)));
    }
}

impl Session {
    pub(crate) fn timeout_for(&self, phase: Phase) -> Duration {
        let t = &self.config.timeouts;
        match phase {
            Phase::Greeting => t.greeting,
            Phase::MailFrom => t.mail,
            Phase::RcptTo => t.rcpt,
            Phase::Data => t.data_init,
            Phase::Body => t.data_block,
            Phase::EndOfData => t.data_end,
            Phase::Connect => t.connect,
            _ => t.command,
        }
    }

    fn ensure_open(&self) -> Result<()> {
        match &self.closed {
            None => Ok(()),
            Some(why) => Err(Error::NotConnected(why.clone())),
        }
    }

    /// Queues a command (the transcript shows it) without waiting.
    pub(crate) fn write_command(&mut self, cmd: &Command) -> Result<()> {
        let mut line = std::mem::take(&mut self.wbuf);
        line.clear();
        let formatted = cmd.to_wire(&mut line);
        if formatted.is_ok() {
            self.transcript
                .line_with(Direction::Sent, || cmd.to_transcript());
            self.link
                .write(&line, cmd.phase(), self.timeout_for(cmd.phase()));
        }
        self.wbuf = line;
        formatted
    }

    /// Sends one command and reads its reply (any code; `421` is an error
    /// that closes the session).
    pub(crate) async fn command(&mut self, cmd: &Command) -> Result<Reply> {
        self.write_command(cmd)?;
        let phase = cmd.phase();
        self.read_reply(phase, self.timeout_for(phase)).await
    }

    /// Reads one whole reply. Any failure, and a `421`, closes the session.
    pub(crate) async fn read_reply(&mut self, phase: Phase, timeout: Duration) -> Result<Reply> {
        let transcript = &self.transcript;
        let mut seen = |line: &[u8]| {
            if transcript.enabled() {
                transcript.line(Direction::Received, &String::from_utf8_lossy(line));
            }
        };
        let result = self.link.read_reply(phase, timeout, &mut seen).await;
        match result {
            Ok(reply) if reply.code() == 421 => {
                self.close(format!("server closing: {reply}"));
                Err(Error::Rejected { phase, reply })
            }
            Ok(reply) => Ok(reply),
            Err(e) => {
                self.close(format!("{e}"));
                Err(e)
            }
        }
    }

    pub(crate) fn close(&mut self, why: String) {
        if self.closed.is_none() {
            self.transcript
                .line_with(Direction::Info, || format!("connection closed: {why}"));
            self.closed = Some(why);
        }
    }

    /// Queues QUIT without waiting for the answer, then closes.
    pub(crate) fn polite_close(&mut self, why: &str) {
        if self.closed.is_none() {
            self.link
                .write(b"QUIT\r\n", Phase::Quit, Duration::from_secs(1));
            self.transcript.line(Direction::Sent, "QUIT");
        }
        self.close(why.into());
    }

    async fn noop(&mut self) -> Result<Reply> {
        self.ensure_open()?;
        let reply = self.command(&Command::Noop).await?;
        if reply.is_positive() {
            Ok(reply)
        } else {
            Err(Error::Rejected {
                phase: Phase::Noop,
                reply,
            })
        }
    }

    async fn reset(&mut self) -> Result<()> {
        self.ensure_open()?;
        let reply = self.command(&Command::Rset).await?;
        if reply.is_positive() {
            Ok(())
        } else {
            self.close(format!("RSET refused: {reply}"));
            Err(Error::Rejected {
                phase: Phase::Rset,
                reply,
            })
        }
    }

    async fn quit(&mut self) -> Result<()> {
        self.ensure_open()?;
        let result = self.command(&Command::Quit).await;
        self.close("QUIT was sent".into());
        match result {
            Ok(reply) if reply.is_positive() => Ok(()),
            Ok(reply) => Err(Error::Rejected {
                phase: Phase::Quit,
                reply,
            }),
            Err(e) => Err(e),
        }
    }
}
