//! The blocking client: a driver of the protocol [`Engine`] over a TCP
//! socket, one request at a time on the caller's thread.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::auth::Mechanism;
use crate::capabilities::Capabilities;
use crate::config::Config;
use crate::data::ReadBlock;
use crate::engine::{Engine, Outcome, Peer, Step};
use crate::error::{Error, Result};
use crate::net::{Connection, Deadline, TlsInfo};
use crate::reply::Reply;
use crate::report::SendReport;

pub(crate) mod send;

pub(crate) use send::sign_file;
#[cfg(feature = "tokio")]
pub(crate) use send::wire_envelope;

pub use crate::engine::MAX_AUTH_ROUNDS;
pub use crate::envelope::Envelope;

/// An SMTP session: connected, greeted, TLS and AUTH done as configured,
/// ready to send any number of messages.
///
/// Dropping a client sends `QUIT` without waiting for the reply.
pub struct Client {
    engine: Engine,
    conn: Option<Connection>,
    server: String,
    /// Received bytes, handed to the engine.
    read_buf: Box<[u8]>,
    /// The caller's body is read into this, reused across messages.
    body_block: ReadBlock,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("encrypted", &self.is_encrypted())
            .field("authenticated", &self.authenticated_with())
            .field("closed", &self.engine.closed_reason())
            .finish()
    }
}

/// Size of the block received bytes are read into.
const READ_BUF_LEN: usize = 16 * 1024 + 512;

impl Client {
    /// Connects, reads the greeting, says EHLO (HELO if refused), sets up
    /// TLS as the configured [`Security`](crate::Security) mode says, and
    /// authenticates if credentials are set.
    ///
    /// With a relay list (`a.example,b.example`, see [`Config::servers`])
    /// the servers are tried in order until one is ready, moving on when
    /// one cannot be reached, fails TLS or answers 4xx before any message;
    /// [`Client::server`] and the transcript say which one it is. The
    /// total timeout, if set, covers them all.
    pub fn connect(config: Config) -> Result<Client> {
        config.validate()?;
        let deadline = Deadline::after(config.timeouts.total);
        let servers = config.servers()?;
        // Bounded by the list's length.
        for (index, (host, port)) in servers.iter().enumerate() {
            let one = config.for_one_server(host, *port);
            // The next server only while the total timeout has time left.
            let time_left = || deadline.is_none_or(|d| Instant::now() < d.at);
            match Client::connect_with_token(one, deadline) {
                Err(e) if crate::route::try_next(&config, &servers, index, &e, time_left()) => {}
                outcome => return outcome,
            }
        }
        Err(Error::invalid("host", "has no server"))
    }

    /// [`Client::connect_to`] with the token provider's current token,
    /// and once more with a new token if the server refused it
    /// (`auth/token.rs`); without a provider, just `connect_to`.
    fn connect_with_token(config: Config, deadline: Option<Deadline>) -> Result<Client> {
        let (mut attempt, first) = crate::auth::token::TokenAttempt::begin(config)?;
        match Client::connect_to(first, deadline) {
            Err(e) => match attempt.again(&e) {
                Some(next) => Client::connect_to(next?, deadline),
                None => Err(e),
            },
            connected => connected,
        }
    }

    /// [`Client::connect`] to one server (`config` names one).
    fn connect_to(config: Config, deadline: Option<Deadline>) -> Result<Client> {
        let server = crate::route::server_name(&config.host, config.port());
        let (host, port, connect) = (config.host.clone(), config.port(), config.timeouts.connect);
        // The engine checks the settings (TLS too) before anything connects.
        let proxy = config.proxy.clone();
        let mut engine = Engine::new(config, Instant::now())?;
        let conn = match &proxy {
            None => Connection::connect(&host, port, connect, deadline)?,
            Some(proxy) => {
                let started = Instant::now();
                let mut conn = Connection::connect(&proxy.host, proxy.port, connect, deadline)
                    .map_err(|e| proxy.unreachable(e))?;
                let target = match proxy.resolves_locally() {
                    true => crate::net::resolve_first(&host, port)?,
                    false => host.clone(),
                };
                // The connect timeout covers the proxy and the tunnel; the
                // total timeout, if set, covers everything.
                let mut until = started + connect;
                if let Some(deadline) = deadline {
                    until = until.min(deadline.at);
                }
                conn.tunnel(proxy, &target, port, until)?;
                conn
            }
        };
        let peer = Peer {
            remote: Some(conn.peer()),
            local: conn.local_addr(),
            host_name: crate::net::local_host_name(),
        };
        // The request's overall limit started before the TCP connect.
        let started = deadline.map_or_else(Instant::now, |d| d.at - d.total);
        engine.start_connect(peer, started)?;
        let mut client = Client {
            engine,
            conn: Some(conn),
            server,
            read_buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
            body_block: ReadBlock::default(),
        };
        match client.drive(&mut [], false) {
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

    /// What the server offers (from the last EHLO: the one over TLS when
    /// TLS is on).
    pub fn capabilities(&self) -> &Capabilities {
        self.engine.capabilities()
    }

    /// True when the session runs over TLS.
    pub fn is_encrypted(&self) -> bool {
        self.conn.is_some() && self.engine.is_encrypted()
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
        self.conn.is_some() && self.engine.is_open()
    }

    /// Sends one message: `MAIL FROM`, one `RCPT TO` per recipient, `DATA`
    /// and the body read from `body` to its end (line endings normalised to
    /// CRLF, dot-stuffed; never held whole in memory).
    ///
    /// No line over 998 octets reaches the wire (RFC 5322 2.1.1): as
    /// [`Config::with_long_lines`] says, long header lines are folded and
    /// parts re-encoded where the reader sees the same message, and
    /// anything else is refused with [`Error::InvalidInput`]. The first
    /// 1 MiB of the message is read and checked before anything is sent,
    /// so a refused message of that size costs no command and leaves the
    /// session usable; a line that cannot be repaired further into a larger
    /// message ends the transaction without its end of data (nothing is
    /// delivered) and closes the session.
    ///
    /// With PIPELINING the envelope goes out in one write. Refused
    /// recipients are reported in the [`SendReport`]; if none is accepted
    /// (or, with [`RecipientPolicy::AllOrNothing`](crate::RecipientPolicy::AllOrNothing), any is refused) the
    /// transaction is reset and [`Error::RecipientsRefused`] returned.
    ///
    /// The bytes go out as they are: not DKIM-signed even when the
    /// configuration has DKIM (as for `send_bytes` and `send_many`);
    /// [`Client::send_message`], [`Client::send_raw`] (with or without an
    /// envelope) and [`Client::send_raw_message`] sign.
    pub fn send(&mut self, envelope: &Envelope, body: &mut dyn Read) -> Result<SendReport> {
        self.ensure_open()?;
        self.engine.start_send(envelope.clone(), Instant::now())?;
        match self.drive(&mut [body], false) {
            Outcome::Sent(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// Sends a message held in memory. SIZE and 8BITMIME are derived from
    /// the bytes.
    pub fn send_bytes(&mut self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        self.send(&bytes_envelope(envelope, message), &mut &message[..])
    }

    /// Sends several messages over this session and returns one result
    /// per message, in order.
    ///
    /// With PIPELINING and CHUNKING each message's `MAIL`, `RCPT`s and
    /// its `BDAT ... LAST` chunk go out behind the previous message's
    /// without waiting for its replies (within a window of
    /// [`WINDOW_MESSAGES`](crate::engine::WINDOW_MESSAGES) messages and
    /// [`WINDOW_BYTES`](crate::engine::WINDOW_BYTES) octets), so a
    /// thousand small messages take a few round trips instead of a
    /// thousand; with PIPELINING alone the next message's envelope goes
    /// with the previous message's final dot (one round trip per message
    /// instead of two). A message behind another in a BDAT window is
    /// preceded by `RSET`, so whatever the previous one left, it starts
    /// clean. Messages over half a BDAT chunk (512 KiB) go on their own.
    ///
    /// Every reply is matched to its command: refused recipients, a
    /// refused message, a failed body are reported for that message only
    /// and the others go on. When the connection fails, each message
    /// without its final reply is `NotConnected` (not delivered) or
    /// [`Error::DeliveryUnknown`] (its end was written), never guessed.
    pub fn send_many<R: Read>(&mut self, messages: Vec<(Envelope, R)>) -> Vec<Result<SendReport>> {
        self.send_many_with(messages, |_, _| {})
    }

    /// [`Client::send_many`], calling `on_result(i, result)` for each
    /// message as its result comes in, before the client reads or writes
    /// anything more: a caller that records results durably (an outbox)
    /// loses at most the messages whose reply is being handled when it
    /// dies, never a whole batch.
    pub fn send_many_with<R: Read>(
        &mut self,
        messages: Vec<(Envelope, R)>,
        mut on_result: impl FnMut(usize, &Result<SendReport>),
    ) -> Vec<Result<SendReport>> {
        let count = messages.len();
        if let Err(e) = self.ensure_open() {
            return (0..count)
                .map(|_| Err(Error::NotConnected(e.to_string())))
                .collect();
        }
        let (envelopes, mut readers): (Vec<Envelope>, Vec<R>) = messages.into_iter().unzip();
        if let Err(e) = self.engine.start_send_many(envelopes, Instant::now()) {
            let why = e.to_string();
            return (0..count)
                .map(|_| Err(Error::NotConnected(why.clone())))
                .collect();
        }
        let mut bodies: Vec<&mut dyn Read> =
            readers.iter_mut().map(|r| r as &mut dyn Read).collect();
        match self.drive_with(&mut bodies, true, &mut on_result) {
            Outcome::SentMany(results) => results,
            other => {
                let why = unexpected(other).to_string();
                (0..count)
                    .map(|_| Err(Error::NotConnected(why.clone())))
                    .collect()
            }
        }
    }

    /// [`Client::send_many`] for messages held in memory, SIZE and
    /// 8BITMIME derived from the bytes as [`Client::send_bytes`] does.
    pub fn send_many_bytes<B: AsRef<[u8]>>(
        &mut self,
        messages: &[(Envelope, B)],
    ) -> Vec<Result<SendReport>> {
        let prepared = messages
            .iter()
            .map(|(envelope, bytes)| (bytes_envelope(envelope, bytes.as_ref()), bytes.as_ref()))
            .collect();
        self.send_many(prepared)
    }

    /// `NOOP`: checks that the server is still there.
    pub fn noop(&mut self) -> Result<Reply> {
        self.ensure_open()?;
        self.engine.start_noop(Instant::now())?;
        match self.drive(&mut [], false) {
            Outcome::Noop(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// `RSET`: abandons any transaction in progress.
    pub fn reset(&mut self) -> Result<()> {
        self.ensure_open()?;
        self.engine.start_reset(Instant::now())?;
        match self.drive(&mut [], false) {
            Outcome::Reset(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// `QUIT`, then closes the connection. The session cannot be used after.
    pub fn quit(&mut self) -> Result<()> {
        self.ensure_open()?;
        self.engine.start_quit(Instant::now())?;
        match self.drive(&mut [], false) {
            Outcome::Quit(result) => result,
            other => Err(unexpected(other)),
        }
    }

    /// True when the server sent something unasked (or closed the
    /// connection) while the session was idle: a pool does not reuse it.
    pub(crate) fn input_waiting(&self) -> bool {
        self.conn.as_ref().is_none_or(Connection::readable_now)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.conn.is_some() {
            if let Some(why) = self.engine.closed_reason() {
                return Err(Error::NotConnected(why.to_string()));
            }
            return Ok(());
        }
        Err(Error::NotConnected(
            self.engine
                .closed_reason()
                .unwrap_or("the session is closed")
                .to_string(),
        ))
    }

    /// Runs the engine's request to its end: writes what it gives, reads
    /// what it waits for, feeds it the bodies. With `both_ways` (a batch,
    /// whose replies pile up while its messages are written) it reads
    /// whatever arrives while it writes, so neither side's buffers fill
    /// up against the other.
    fn drive(&mut self, bodies: &mut [&mut dyn Read], both_ways: bool) -> Outcome {
        self.drive_with(bodies, both_ways, &mut |_, _| {})
    }

    /// [`Client::drive`], handing each batch result to `on_result` as it
    /// comes, before anything more is read or written.
    fn drive_with(
        &mut self,
        bodies: &mut [&mut dyn Read],
        both_ways: bool,
        on_result: &mut dyn FnMut(usize, &Result<SendReport>),
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
            match step {
                Step::Done(outcome) => {
                    self.after_request();
                    return outcome;
                }
                Step::Idle => {
                    return Outcome::Connected(Err(Error::NotConnected(
                        "no request is running".into(),
                    )))
                }
                Step::Write => {
                    let deadline = self.engine.deadline();
                    let Some(conn) = self.conn.as_mut() else {
                        self.engine.failed(std::io::ErrorKind::NotConnected.into());
                        continue;
                    };
                    if both_ways {
                        match conn.wait_both_ways(deadline) {
                            Ok((readable, writable)) => {
                                if readable {
                                    match conn.try_read(&mut self.read_buf) {
                                        Ok(0) => self.engine.received_eof(),
                                        Ok(n) => {
                                            self.engine.received(&self.read_buf[..n]);
                                            conn.quick_ack();
                                        }
                                        Err(e) if crate::net::is_timeout(&e) => {}
                                        Err(e) => self.engine.failed(e),
                                    }
                                }
                                if writable {
                                    let tls = self.engine.output_is_tls();
                                    let written = self.engine.with_output(|out| {
                                        if tls {
                                            conn.try_write_tls_records(out)
                                        } else {
                                            conn.try_write(out)
                                        }
                                    });
                                    match written {
                                        Ok(n) => self.engine.wrote(n),
                                        Err(e) if crate::net::is_timeout(&e) => {}
                                        Err(e) => self.engine.failed(e),
                                    }
                                }
                            }
                            Err(e) if crate::net::is_timeout(&e) => {}
                            Err(e) => self.engine.failed(e),
                        }
                        continue;
                    }
                    let tls = self.engine.output_is_tls();
                    let written = self.engine.with_output(|out| {
                        if tls {
                            conn.write_tls_records(out, deadline)
                        } else {
                            conn.write_some(out, deadline)
                        }
                    });
                    match written {
                        Ok(n) => self.engine.wrote(n),
                        Err(e) if crate::net::is_timeout(&e) => {}
                        Err(e) => self.engine.failed(e),
                    }
                }
                Step::Read => {
                    let deadline = self.engine.deadline();
                    let Some(conn) = self.conn.as_mut() else {
                        self.engine.failed(std::io::ErrorKind::NotConnected.into());
                        continue;
                    };
                    match conn.read_some(&mut self.read_buf, deadline) {
                        Ok(0) => self.engine.received_eof(),
                        Ok(n) => {
                            self.engine.received(&self.read_buf[..n]);
                            // After the TLS handshake, and while a batch's
                            // replies come: acknowledge at once (a server
                            // may hold data until the last is acknowledged).
                            if self.engine.take_quick_ack() || both_ways {
                                conn.quick_ack();
                            }
                        }
                        Err(e) if crate::net::is_timeout(&e) => {}
                        Err(e) => self.engine.failed(e),
                    }
                }
                Step::Body { max, message } => match bodies.get_mut(message) {
                    Some(reader) => match self.body_block.fill_from(&mut **reader, max) {
                        Ok(bytes) => self.engine.body_data(bytes),
                        Err(e) => self.engine.body_failed(e),
                    },
                    None => self.engine.body_data(&[]),
                },
            }
        }
    }

    /// After a request: wipes the body block; once the engine closed the
    /// session, writes what it left (QUIT) briefly and closes the socket.
    fn after_request(&mut self) {
        self.body_block.recycle();
        if !self.engine.is_open() {
            self.close_socket();
        }
    }

    fn close_socket(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let until = Instant::now() + Duration::from_secs(1);
            while self.engine.output_len() > 0 && Instant::now() < until {
                match self
                    .engine
                    .with_output(|out| conn.write_tls_records(out, Some(until)))
                {
                    Ok(n) => self.engine.wrote(n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            conn.shutdown();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.conn.is_some() {
            self.engine.quit_now();
            self.close_socket();
        }
    }
}

/// `envelope` with SIZE and 8BITMIME taken from the message's bytes
/// (unless set).
pub(crate) fn bytes_envelope(envelope: &Envelope, message: &[u8]) -> Envelope {
    let mut envelope = envelope.clone();
    if envelope.size.is_none() {
        envelope.size = Some(message.len() as u64);
    }
    if !message.is_ascii() {
        envelope.eight_bit = true;
    }
    envelope
}

/// An outcome of another request than the one started: a bug, reported
/// rather than panicking.
fn unexpected(outcome: Outcome) -> Error {
    Error::Protocol {
        phase: crate::Phase::Connect,
        reason: format!("internal error: unexpected outcome {outcome:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_validation() {
        assert!(Envelope::new("a@b.c", ["d@e.f"]).is_ok());
        assert!(Envelope::new("", ["d@e.f"]).is_ok());
        assert!(Envelope::new("a@b.c", Vec::<String>::new()).is_err());
        assert!(Envelope::new("a@b.c\r\nRCPT TO:<x@y>", ["d@e.f"]).is_err());
        assert!(Envelope::new("a@b.c", ["d@e.f", "x\n@y"]).is_err());
        assert!(Envelope::new("ü@b.c", ["d@e.f"]).unwrap().needs_smtputf8());
        assert!(!Envelope::new("a@b.c", ["d@e.f"]).unwrap().needs_smtputf8());
    }
}
