//! The async client (feature `tokio`): a driver of the protocol
//! [`Engine`] over a tokio `TcpStream`. Same engine, same rules and the
//! same errors as the blocking [`Client`](crate::Client).
//!
//! Cancellation: a future of this client may be dropped at any await.
//! Dropping one mid-request leaves the connection out of step with the
//! server, so the next call closes it and returns
//! [`Error::NotConnected`]; it never sends on a connection whose state it
//! does not know. A message whose send was cancelled after its end was
//! written may have been delivered, like any
//! [`Error::DeliveryUnknown`].

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::net::TcpStream;

use crate::auth::Mechanism;
use crate::capabilities::Capabilities;
use crate::config::Config;
use crate::data::DEFAULT_BLOCK_SIZE;
use crate::engine::{Engine, Outcome, Peer, Step};
use crate::error::{Error, Phase, Result};
use crate::message::{Message, RawMessage, RawOptions};
use crate::reply::Reply;
use crate::report::SendReport;
use crate::{Envelope, TlsInfo};

/// An SMTP session driven by tokio: connected, greeted, TLS and AUTH done
/// as configured, ready to send any number of messages. Its futures are
/// `Send` (when the body reader is).
///
/// Dropping a client queues `QUIT` if the socket takes it at once, and
/// closes the connection.
pub struct AsyncClient {
    engine: Engine,
    stream: Option<TcpStream>,
    server: String,
    read_buf: Box<[u8]>,
    body_buf: Box<[u8]>,
}

impl std::fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClient")
            .field("server", &self.server)
            .field("encrypted", &self.is_encrypted())
            .field("authenticated", &self.authenticated_with())
            .field("closed", &self.engine.closed_reason())
            .finish()
    }
}

/// Size of the block received bytes are read into.
const READ_BUF_LEN: usize = 16 * 1024 + 512;

/// Where a request's message body comes from. A request's future is
/// `Send` when its reader is.
enum BodySource<'a, R: ?Sized> {
    None,
    Sync(&'a mut R),
    Async(&'a mut (dyn AsyncRead + Unpin + Send)),
    /// A batch: the body of message `i` is `[i]`.
    Many(&'a mut [&'a mut R]),
}

/// No body (the reader type of requests without one).
type NoBody = BodySource<'static, std::io::Empty>;

impl AsyncClient {
    /// Connects (through the proxy if one is set; the host's addresses
    /// raced, Happy Eyeballs), reads the greeting, says EHLO, sets up
    /// TLS and authenticates, as [`Client::connect`](crate::Client::connect)
    /// does, relay list and failover included.
    pub async fn connect(config: Config) -> Result<AsyncClient> {
        config.validate()?;
        let started = Instant::now();
        let servers = config.servers()?;
        // Bounded by the list's length.
        for (index, (host, port)) in servers.iter().enumerate() {
            let one = config.for_one_server(host, *port);
            // The next server only while the total timeout has time left.
            let total = config.timeouts.total;
            let time_left = || total.is_none_or(|t| started.elapsed() < t);
            match AsyncClient::connect_with_token(one, started).await {
                Err(e) if crate::route::try_next(&config, &servers, index, &e, time_left()) => {}
                outcome => return outcome,
            }
        }
        Err(Error::invalid("host", "has no server"))
    }

    /// [`AsyncClient::connect_to`] with the token provider's current
    /// token, and once more with a new token if the server refused it
    /// (`auth/token.rs`). The provider is synchronous: it runs on the
    /// runtime's thread, blocking it while it fetches.
    async fn connect_with_token(config: Config, started: Instant) -> Result<AsyncClient> {
        let (mut attempt, first) = crate::auth::token::TokenAttempt::begin(config)?;
        match AsyncClient::connect_to(first, started).await {
            Err(e) => match attempt.again(&e) {
                Some(next) => AsyncClient::connect_to(next?, started).await,
                None => Err(e),
            },
            connected => connected,
        }
    }

    /// [`AsyncClient::connect`] to one server (`config` names one).
    async fn connect_to(config: Config, started: Instant) -> Result<AsyncClient> {
        let server = crate::route::server_name(&config.host, config.port());
        let (host, port) = (config.host.clone(), config.port());
        let (connect_timeout, total) = (config.timeouts.connect, config.timeouts.total);
        let proxy = config.proxy.clone();
        // The engine checks the settings (TLS too) before anything connects.
        let mut engine = Engine::new(config, started)?;
        let stream = crate::net::async_connect::connect(
            &host,
            port,
            proxy.as_ref(),
            connect_timeout,
            total,
            started,
        )
        .await?;
        // Every step is written whole; Nagle would only delay the last segment.
        let _ = stream.set_nodelay(true);
        let peer = Peer {
            remote: stream.peer_addr().ok(),
            local: stream.local_addr().ok(),
            host_name: crate::net::local_host_name(),
        };
        engine.start_connect(peer, started)?;
        let mut client = AsyncClient {
            engine,
            stream: Some(stream),
            server,
            read_buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
            body_buf: vec![0; DEFAULT_BLOCK_SIZE].into_boxed_slice(),
        };
        match client.drive(NoBody::None).await {
            Outcome::Connected(result) => result.map(|()| client),
            other => Err(unexpected(other)),
        }
    }

    /// The server this client is connected to, `host:port` (with a relay
    /// list, the one that took the connection).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        self.engine.greeting()
    }

    /// What the server offers (from the last EHLO).
    pub fn capabilities(&self) -> &Capabilities {
        self.engine.capabilities()
    }

    /// True when the session runs over TLS.
    pub fn is_encrypted(&self) -> bool {
        self.stream.is_some() && self.engine.is_encrypted()
    }

    /// The TLS session details, when TLS is on.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.engine.tls_info()
    }

    /// The mechanism we authenticated with, if we did.
    pub fn authenticated_with(&self) -> Option<Mechanism> {
        self.engine.authenticated_with()
    }

    /// True while the session can still be used.
    pub fn is_connected(&self) -> bool {
        self.stream.is_some() && self.engine.is_open() && !self.engine.is_busy()
    }

    /// True when the server sent something unasked (or closed the
    /// connection) while the session was idle: a pool does not reuse it.
    pub(crate) fn input_waiting(&self) -> bool {
        let Some(stream) = self.stream.as_ref() else {
            return true;
        };
        let mut probe = [0u8; 1];
        !matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Sends one message, its body read from `body` to its end; see
    /// [`Client::send`](crate::Client::send).
    pub async fn send<R>(&mut self, envelope: &Envelope, body: &mut R) -> Result<SendReport>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
    {
        self.begin()?;
        self.engine.start_send(envelope.clone(), Instant::now())?;
        let mut wrapped = AsyncBody(body);
        let body: BodySource<'_, std::io::Empty> = BodySource::Async(&mut wrapped);
        match self.drive(body).await {
            Outcome::Sent(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// Sends a message held in memory; SIZE and 8BITMIME are derived from
    /// the bytes.
    pub async fn send_bytes(&mut self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        let envelope = crate::client::bytes_envelope(envelope, message);
        let mut body = message;
        self.send_reader(&envelope, &mut body).await
    }

    /// Sends a composed message; see
    /// [`Client::send_message`](crate::Client::send_message). Attachment
    /// files are read on this task as the message streams.
    /// With DKIM configured, the message is encoded once on this task to
    /// be signed (attachment files read), then again as it is sent.
    pub async fn send_message(&mut self, message: &Message) -> Result<SendReport> {
        let signer = self.engine.config().and_then(|c| c.dkim.clone());
        let (envelope, mut reader) =
            crate::client::send::prepare_message(self.capabilities(), signer.as_deref(), message)?;
        self.send_reader(&envelope, &mut reader).await
    }

    /// Sends a message the caller formatted completely; see
    /// [`Client::send_raw`](crate::Client::send_raw). Without an envelope
    /// it comes from the header fields and `Bcc` is removed.
    pub async fn send_raw(
        &mut self,
        envelope: Option<&Envelope>,
        raw: &[u8],
    ) -> Result<SendReport> {
        let mut bytes = raw;
        match envelope {
            Some(envelope) => match self.engine.config().and_then(|c| c.dkim.clone()) {
                Some(signer) => {
                    let signature = signer.sign_message(raw)?;
                    let lines = signature.iter().filter(|&&b| b == b'\n').count() as u64;
                    let envelope = crate::client::send::with_signature_size(envelope, &signature);
                    let mut signed = std::io::Read::chain(&signature[..], raw);
                    self.send_reader(&envelope, &mut signed).await.map_err(|e| {
                        crate::message::raw::lines::map_message_line(e, |n| {
                            n.checked_sub(lines).filter(|&n| n > 0)
                        })
                    })
                }
                None => self.send_reader(envelope, &mut bytes).await,
            },
            None => {
                let mut message = RawMessage::read(&mut bytes, &RawOptions::default())?;
                let envelope =
                    crate::client::wire_envelope(self.capabilities(), message.envelope(), true)?;
                let outcome = match self.engine.config().and_then(|c| c.dkim.clone()) {
                    Some(signer) => {
                        let mut body = crate::client::send::sign_raw(&signer, &mut message)?;
                        self.send_reader(&envelope, &mut body).await
                    }
                    None => self.send_reader(&envelope, &mut message).await,
                };
                outcome.map_err(|e| message.renumber(e))
            }
        }
    }

    /// Sends several messages over this session, pipelined across
    /// messages; see [`Client::send_many`](crate::Client::send_many).
    /// The bodies are blocking readers (in memory, or files).
    pub async fn send_many<R: Read>(
        &mut self,
        messages: Vec<(Envelope, R)>,
    ) -> Vec<Result<SendReport>> {
        self.send_many_with(messages, |_, _| {}).await
    }

    /// [`AsyncClient::send_many`], calling `on_result(i, result)` for each
    /// message as its result comes in, before the client reads or writes
    /// anything more (see [`Client::send_many_with`](crate::Client::send_many_with)).
    pub async fn send_many_with<R: Read>(
        &mut self,
        messages: Vec<(Envelope, R)>,
        mut on_result: impl FnMut(usize, &Result<SendReport>) + Send,
    ) -> Vec<Result<SendReport>> {
        let count = messages.len();
        let started = self
            .begin()
            .map(|()| messages.into_iter().unzip::<_, _, Vec<_>, Vec<_>>())
            .and_then(|(envelopes, readers)| {
                self.engine.start_send_many(envelopes, Instant::now())?;
                Ok(readers)
            });
        let mut readers = match started {
            Ok(readers) => readers,
            Err(e) => {
                let why = e.to_string();
                return (0..count)
                    .map(|_| Err(Error::NotConnected(why.clone())))
                    .collect();
            }
        };
        let mut bodies: Vec<&mut R> = readers.iter_mut().collect();
        match self
            .drive_with(BodySource::Many(&mut bodies), &mut on_result)
            .await
        {
            Outcome::SentMany(results) => results,
            other => {
                let why = unexpected(other).to_string();
                (0..count)
                    .map(|_| Err(Error::NotConnected(why.clone())))
                    .collect()
            }
        }
    }

    /// [`AsyncClient::send_many`] for messages held in memory, SIZE and
    /// 8BITMIME derived from the bytes.
    pub async fn send_many_bytes<B: AsRef<[u8]>>(
        &mut self,
        messages: &[(Envelope, B)],
    ) -> Vec<Result<SendReport>> {
        let prepared = messages
            .iter()
            .map(|(envelope, bytes)| {
                let bytes = bytes.as_ref();
                (crate::client::bytes_envelope(envelope, bytes), bytes)
            })
            .collect();
        self.send_many(prepared).await
    }

    /// Sends composed messages over this session, pipelined across
    /// messages; see [`Client::send_many_messages`](crate::Client::send_many_messages).
    pub async fn send_many_messages(&mut self, messages: &[Message]) -> Vec<Result<SendReport>> {
        use crate::client::send::{merge_results, prepare_messages, split_prepared};
        let signer = self.engine.config().and_then(|c| c.dkim.clone());
        let prepared = prepare_messages(self.capabilities(), signer.as_deref(), messages);
        let (sendable, mut results) = split_prepared(prepared);
        let sent = self
            .send_many(sendable.into_iter().map(|(_, e, r)| (e, r)).collect())
            .await;
        merge_results(&mut results, sent);
        results
            .into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect()
    }

    /// `NOOP`: checks that the server is still there.
    pub async fn noop(&mut self) -> Result<Reply> {
        self.begin()?;
        self.engine.start_noop(Instant::now())?;
        match self.drive(NoBody::None).await {
            Outcome::Noop(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// `RSET`: abandons any transaction in progress.
    pub async fn reset(&mut self) -> Result<()> {
        self.begin()?;
        self.engine.start_reset(Instant::now())?;
        match self.drive(NoBody::None).await {
            Outcome::Reset(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// `QUIT`, then closes the connection.
    pub async fn quit(&mut self) -> Result<()> {
        self.begin()?;
        self.engine.start_quit(Instant::now())?;
        match self.drive(NoBody::None).await {
            Outcome::Quit(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// Sends one message whose body comes from a blocking reader (in
    /// memory, or a file), read on this task as the message streams.
    /// The future is `Send` when the reader is.
    pub async fn send_reader<R: Read + ?Sized>(
        &mut self,
        envelope: &Envelope,
        body: &mut R,
    ) -> Result<SendReport> {
        self.begin()?;
        self.engine.start_send(envelope.clone(), Instant::now())?;
        match self.drive(BodySource::Sync(body)).await {
            Outcome::Sent(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// Checks the client can take a request: a request whose future was
    /// dropped left the connection out of step, and it is closed now.
    fn begin(&mut self) -> Result<()> {
        if self.engine.is_busy() {
            self.engine
                .abandon("a request was cancelled before it finished; the connection was closed");
            self.stream = None;
        }
        if self.stream.is_none() || !self.engine.is_open() {
            return Err(Error::NotConnected(
                self.engine
                    .closed_reason()
                    .unwrap_or("the session is closed")
                    .to_string(),
            ));
        }
        Ok(())
    }

    async fn drive<R: Read + ?Sized>(&mut self, body: BodySource<'_, R>) -> Outcome {
        self.drive_with(body, &mut |_, _| {}).await
    }

    /// [`AsyncClient::drive`], handing each batch result to `on_result`
    /// as it comes, before anything more is read or written.
    async fn drive_with<R: Read + ?Sized>(
        &mut self,
        mut body: BodySource<'_, R>,
        on_result: &mut (dyn FnMut(usize, &Result<SendReport>) + Send),
    ) -> Outcome {
        loop {
            let step = self.engine.poll(Instant::now());
            for i in self.engine.take_finished() {
                // The last results are in the outcome once the batch ended.
                let result = match &step {
                    Step::Done(Outcome::SentMany(results)) => results.get(i),
                    _ => self.engine.batch_result(i),
                };
                if let Some(result) = result {
                    on_result(i, result);
                }
            }
            let deadline = self.engine.deadline();
            match step {
                Step::Done(outcome) => {
                    if !self.engine.is_open() {
                        self.close_stream().await;
                    }
                    return outcome;
                }
                Step::Idle => {
                    return Outcome::Connected(Err(Error::NotConnected(
                        "no request is running".into(),
                    )))
                }
                Step::Write => {
                    let Some(stream) = self.stream.as_ref() else {
                        self.engine.failed(io::ErrorKind::NotConnected.into());
                        continue;
                    };
                    // Replies are read while writing, so a batch's replies
                    // never fill the buffers against its messages.
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    match until(deadline, stream.ready(interest)).await {
                        None => {}
                        Some(Err(e)) => self.engine.failed(e),
                        Some(Ok(ready)) => {
                            if ready.is_readable() || ready.is_read_closed() {
                                match stream.try_read(&mut self.read_buf) {
                                    Ok(0) => self.engine.received_eof(),
                                    Ok(n) => self.engine.received(&self.read_buf[..n]),
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                                    Err(e) => self.engine.failed(e),
                                }
                            }
                            if ready.is_writable() {
                                match self.engine.with_output(|out| stream.try_write(out)) {
                                    Ok(n) => self.engine.wrote(n),
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                                    Err(e) => self.engine.failed(e),
                                }
                            }
                        }
                    }
                }
                Step::Read => {
                    let batch = matches!(body, BodySource::Many(_));
                    let Some(stream) = self.stream.as_mut() else {
                        self.engine.failed(io::ErrorKind::NotConnected.into());
                        continue;
                    };
                    // Through AsyncRead: tokio takes a short read as "no
                    // more for now" and waits, with no extra system call.
                    match until(deadline, stream.read(&mut self.read_buf)).await {
                        None => {}
                        Some(Ok(0)) => self.engine.received_eof(),
                        Some(Ok(n)) => {
                            self.engine.received(&self.read_buf[..n]);
                            // While a batch's replies come, acknowledge at
                            // once: a server may hold its last replies until
                            // the earlier ones are acknowledged.
                            if self.engine.take_quick_ack() || batch {
                                quick_ack(stream);
                            }
                        }
                        Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Some(Err(e)) => self.engine.failed(e),
                    }
                }
                Step::Body { max, message } => {
                    let max = max.min(self.body_buf.len());
                    let buf = &mut self.body_buf[..max];
                    let read = match &mut body {
                        BodySource::None => Ok(0),
                        BodySource::Sync(reader) => read_retrying(&mut **reader, buf),
                        BodySource::Async(reader) => reader.read(buf).await,
                        BodySource::Many(readers) => match readers.get_mut(message) {
                            Some(reader) => read_retrying(&mut **reader, buf),
                            None => Ok(0),
                        },
                    };
                    match read {
                        Ok(n) => {
                            // A reader reporting more than it has is clamped.
                            let n = n.min(max);
                            self.engine.body_data(&buf[..n]);
                            // What it held of the message: wiped before reuse.
                            buf[..n].fill(0);
                        }
                        Err(e) => self.engine.body_failed(e),
                    }
                }
            }
        }
    }

    /// Writes what the engine left (QUIT) if the socket takes it within a
    /// second, then closes.
    async fn close_stream(&mut self) {
        if let Some(stream) = self.stream.take() {
            let deadline = Some(Instant::now() + Duration::from_secs(1));
            while self.engine.output_len() > 0 {
                match until(deadline, stream.writable()).await {
                    Some(Ok(())) => match self.engine.with_output(|out| stream.try_write(out)) {
                        Ok(n) => self.engine.wrote(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    },
                    _ => break,
                }
            }
        }
    }
}

impl Drop for AsyncClient {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            if !self.engine.is_busy() && self.engine.is_open() {
                self.engine.quit_now();
                let _ = self.engine.with_output(|out| stream.try_write(out));
            }
        }
    }
}

/// Waits for `ready` until `deadline`: None when the deadline came first
/// (the engine then decides what timed out).
async fn until<F: std::future::Future>(deadline: Option<Instant>, ready: F) -> Option<F::Output> {
    match deadline {
        Some(at) => tokio::time::timeout_at(tokio::time::Instant::from_std(at), ready)
            .await
            .ok(),
        None => Some(ready.await),
    }
}

fn read_retrying<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

#[cfg(target_os = "linux")]
fn quick_ack(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    crate::net::quick_ack_fd(stream.as_raw_fd());
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_stream: &TcpStream) {}

/// An `AsyncRead` of unknown size behind a `dyn` pointer.
struct AsyncBody<'a, R: ?Sized>(&'a mut R);

impl<R: AsyncRead + Unpin + ?Sized> AsyncRead for AsyncBody<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

fn unexpected(outcome: Outcome) -> Error {
    Error::Protocol {
        phase: Phase::Connect,
        reason: format!("internal error: unexpected outcome {outcome:?}"),
    }
}
