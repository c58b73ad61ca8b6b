//! The protocol state machine: greeting, EHLO/HELO, STARTTLS, AUTH, the
//! mail transaction (pipelined when offered), RSET, NOOP, QUIT.

use std::io::Read;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use zeroize::Zeroizing;

use crate::auth::{self, Mechanism};
use crate::capabilities::Capabilities;
use crate::command::{self, Command, MailParams};
use crate::config::{Config, PlaintextAuthPolicy, RecipientPolicy};
use crate::data::{self, CopyError};
use crate::error::{Error, Phase, Result, TlsErrorKind};
use crate::message::{FitBuffers, FitLines};
use crate::net::{Connection, Deadline, TlsInfo};
use crate::reply::{Reply, ReplyBuilder};
use crate::tls::Security;
use crate::transcript::{Direction, Transcript};

/// Most `334` challenges answered in one AUTH exchange.
pub const MAX_AUTH_ROUNDS: usize = 8;

/// The sender and recipients of one message (RFC 5321 envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    from: String,
    to: Vec<String>,
    size: Option<u64>,
    eight_bit: bool,
}

impl Envelope {
    /// An envelope from `from` (the empty string is the null sender `<>`)
    /// to each address in `to`. Addresses are bare (`user@example.org`,
    /// no angle brackets, no display name) and are checked here: CR, LF,
    /// NUL and RFC 5321 length limits are refused.
    pub fn new<I, S>(from: impl Into<String>, to: I) -> Result<Envelope>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let from = from.into();
        command::validate_address(&from, "sender address", true)?;
        let to: Vec<String> = to.into_iter().map(Into::into).collect();
        if to.is_empty() {
            return Err(Error::invalid("recipient address", "no recipient given"));
        }
        for address in &to {
            command::validate_address(address, "recipient address", false)?;
        }
        Ok(Envelope {
            from,
            to,
            size: None,
            eight_bit: false,
        })
    }

    /// Declares the message size in octets, sent as `SIZE=` when the
    /// server offers SIZE, and checked against the server's limit first.
    pub fn with_size(mut self, size: u64) -> Envelope {
        self.size = Some(size);
        self
    }

    /// Declares that the body has 8-bit content (`BODY=8BITMIME`).
    pub fn with_8bit_body(mut self, eight_bit: bool) -> Envelope {
        self.eight_bit = eight_bit;
        self
    }

    /// The sender (empty for the null sender).
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The recipients.
    pub fn to(&self) -> &[String] {
        &self.to
    }

    /// True when an address has non-ASCII characters (needs SMTPUTF8).
    pub fn needs_smtputf8(&self) -> bool {
        !self.from.is_ascii() || self.to.iter().any(|a| !a.is_ascii())
    }
}

/// The server's answer for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The address as given.
    pub address: String,
    /// The reply to its `RCPT TO`.
    pub reply: Reply,
}

impl RecipientResult {
    /// True when the server accepted this recipient.
    pub fn accepted(&self) -> bool {
        self.reply.is_positive()
    }
}

/// The outcome of a successful send: the message was accepted for the
/// accepted recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// Every recipient, in order, with its reply.
    pub recipients: Vec<RecipientResult>,
    /// The server's reply to the end of the message (often holds a queue id).
    pub reply: Reply,
}

impl SendReport {
    /// The recipients the server accepted.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| r.accepted())
    }

    /// The recipients the server refused (the message did not go to them).
    pub fn refused(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| !r.accepted())
    }

    /// True when every recipient was accepted.
    pub fn all_accepted(&self) -> bool {
        self.recipients.iter().all(RecipientResult::accepted)
    }
}

/// An SMTP session: connected, greeted, TLS and AUTH done as configured,
/// ready to send any number of messages.
///
/// Dropping a client sends `QUIT` without waiting for the reply.
pub struct Client {
    conn: Option<Connection>,
    config: Config,
    transcript: Transcript,
    greeting: Reply,
    capabilities: Capabilities,
    authenticated: Option<Mechanism>,
    /// Why the session can no longer be used, once it cannot.
    closed: Option<String>,
    wbuf: Vec<u8>,
    /// Body blocks reused by every message of the session.
    body_buffers: data::BodyBuffers,
    /// The line fitter's buffers, also kept across messages.
    fit_buffers: FitBuffers,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field(
                "server",
                &format_args!("{}:{}", self.config.host, self.config.port),
            )
            .field("encrypted", &self.is_encrypted())
            .field("authenticated", &self.authenticated)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Client {
    /// Connects, reads the greeting, says EHLO (HELO if refused), sets up
    /// TLS as the configured [`Security`] mode says, and authenticates if
    /// credentials are set.
    pub fn connect(config: Config) -> Result<Client> {
        config.validate()?;
        let security = config.security();
        let tls_config = match security {
            Security::None => None,
            _ => Some(config.tls.client_config()?),
        };
        let deadline = Deadline::after(config.timeouts.total);
        let transcript = Transcript::new(config.transcript.clone());
        let mut conn =
            Connection::connect(&config.host, config.port, config.timeouts.connect, deadline)?;
        transcript.line_with(Direction::Info, || format!("connected to {}", conn.peer()));
        if security == Security::Implicit {
            let tls_config = tls_config.clone().expect("built for every TLS mode");
            conn = conn.start_tls(
                tls_config,
                crate::tls::server_name(config.tls_server_name())?,
                config.timeouts.command,
            )?;
            transcript.line_with(Direction::Info, || tls_note(conn.tls_info()));
        }
        let mut client = Client {
            conn: Some(conn),
            transcript,
            greeting: Reply::new(0, None, Vec::new()),
            capabilities: Capabilities::default(),
            authenticated: None,
            closed: None,
            wbuf: Vec::with_capacity(1024),
            body_buffers: data::BodyBuffers::default(),
            fit_buffers: FitBuffers::default(),
            config,
        };
        client.greet()?;
        client.hello()?;
        if matches!(security, Security::StartTls | Security::StartTlsIfOffered) {
            let tls_config = tls_config.expect("built for every TLS mode");
            client.start_tls(tls_config, security == Security::StartTls)?;
        }
        if client.config.credentials.is_some() {
            client.authenticate()?;
        }
        client.set_deadline(None);
        Ok(client)
    }

    /// The server's greeting.
    pub fn greeting(&self) -> &Reply {
        &self.greeting
    }

    /// What the server offers (from the last EHLO: the one over TLS when
    /// TLS is on).
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// True when the session runs over TLS.
    pub fn is_encrypted(&self) -> bool {
        self.conn.as_ref().is_some_and(Connection::is_tls)
    }

    /// The TLS session details, when TLS is on.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.conn.as_ref().and_then(Connection::tls_info)
    }

    /// The mechanism we authenticated with, if we did.
    pub fn authenticated_with(&self) -> Option<Mechanism> {
        self.authenticated
    }

    /// True while the session can still be used.
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
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
    /// (or, with [`RecipientPolicy::AllOrNothing`], any is refused) the
    /// transaction is reset and [`Error::RecipientsRefused`] returned.
    pub fn send(&mut self, envelope: &Envelope, body: &mut dyn Read) -> Result<SendReport> {
        self.ensure_open()?;
        self.set_deadline(Deadline::after(self.config.timeouts.total));
        // Taken out for the transaction, which borrows them beside `self`.
        let mut buffers = std::mem::take(&mut self.body_buffers);
        let mut fit_buffers = std::mem::take(&mut self.fit_buffers);
        let mut fitted = FitLines::new(body, self.config.long_lines, &mut fit_buffers);
        let result = self.transaction(envelope, &mut fitted, &mut buffers);
        fit_buffers.recycle();
        self.fit_buffers = fit_buffers;
        buffers.recycle();
        self.body_buffers = buffers;
        self.set_deadline(None);
        result
    }

    /// Sends a message held in memory. SIZE and 8BITMIME are derived from
    /// the bytes.
    pub fn send_bytes(&mut self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        let mut envelope = envelope.clone();
        if envelope.size.is_none() {
            envelope.size = Some(message.len() as u64);
        }
        if !message.is_ascii() {
            envelope.eight_bit = true;
        }
        self.send(&envelope, &mut &message[..])
    }

    /// `NOOP`: checks that the server is still there.
    pub fn noop(&mut self) -> Result<Reply> {
        self.ensure_open()?;
        let reply = self.command(&Command::Noop)?;
        if reply.is_positive() {
            Ok(reply)
        } else {
            Err(Error::Rejected {
                phase: Phase::Noop,
                reply,
            })
        }
    }

    /// `RSET`: abandons any transaction in progress.
    pub fn reset(&mut self) -> Result<()> {
        self.ensure_open()?;
        let reply = self.command(&Command::Rset)?;
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

    /// `QUIT`, then closes the connection. The session cannot be used after.
    pub fn quit(&mut self) -> Result<()> {
        self.ensure_open()?;
        let result = self.command(&Command::Quit);
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

    // ----- connection set-up -------------------------------------------

    fn greet(&mut self) -> Result<()> {
        let timeout = self.config.timeouts.greeting;
        let reply = self.read_reply(Phase::Greeting, timeout)?;
        if reply.code() != 220 {
            self.close(format!("greeting refused: {reply}"));
            return Err(Error::Rejected {
                phase: Phase::Greeting,
                reply,
            });
        }
        self.greeting = reply;
        Ok(())
    }

    fn client_name(&self) -> String {
        if let Some(name) = &self.config.client_name {
            return name.clone();
        }
        if let Some(host) = local_host_name() {
            return host;
        }
        match self.conn.as_ref().and_then(Connection::local_addr) {
            Some(std::net::SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
            Some(a) => format!("[{}]", a.ip()),
            None => "[127.0.0.1]".into(),
        }
    }

    /// EHLO, falling back to HELO when the server does not know EHLO.
    fn hello(&mut self) -> Result<()> {
        let name = self.client_name();
        let reply = self.command(&Command::Ehlo(name.clone()))?;
        if reply.is_positive() {
            self.capabilities = Capabilities::from_ehlo(&reply);
            return Ok(());
        }
        if !matches!(reply.code(), 500 | 502) {
            self.close(format!("EHLO refused: {reply}"));
            return Err(Error::Rejected {
                phase: Phase::Ehlo,
                reply,
            });
        }
        self.transcript
            .line(Direction::Info, "EHLO not supported; falling back to HELO");
        let reply = self.command(&Command::Helo(name))?;
        if !reply.is_positive() {
            self.close(format!("HELO refused: {reply}"));
            return Err(Error::Rejected {
                phase: Phase::Helo,
                reply,
            });
        }
        self.capabilities = Capabilities {
            server_name: reply.first_line().split(' ').next().unwrap_or("").into(),
            ..Capabilities::default()
        };
        Ok(())
    }

    fn start_tls(
        &mut self,
        tls: std::sync::Arc<rustls::ClientConfig>,
        required: bool,
    ) -> Result<()> {
        if !self.capabilities.starttls {
            if required {
                self.polite_close("STARTTLS not offered");
                return Err(Error::Tls {
                    phase: Phase::StartTls,
                    kind: TlsErrorKind::NotOffered,
                    message: "the server does not offer STARTTLS and TLS is required (security \"starttls\"); nothing else was sent".into(),
                });
            }
            self.transcript.line(
                Direction::Info,
                "STARTTLS not offered; continuing without TLS",
            );
            return Ok(());
        }
        let reply = self.command(&Command::StartTls)?;
        if reply.code() != 220 {
            if required {
                self.polite_close("STARTTLS refused");
                return Err(Error::Tls {
                    phase: Phase::StartTls,
                    kind: TlsErrorKind::StartTlsRefused,
                    message: format!("the server answered STARTTLS with {reply}; TLS is required, nothing else was sent"),
                });
            }
            self.transcript.line_with(Direction::Info, || {
                format!("STARTTLS refused ({reply}); continuing without TLS")
            });
            return Ok(());
        }
        let mut conn = self.conn.take().ok_or_else(|| self.not_connected())?;
        let injected = match conn.has_unread_input() {
            Ok(injected) => injected,
            Err(e) => {
                conn.shutdown();
                self.closed = Some("could not check for data injected after STARTTLS".into());
                return Err(Error::Tls {
                    phase: Phase::StartTls,
                    kind: TlsErrorKind::Handshake,
                    message: format!("could not check whether the server sent data after its 220 reply to STARTTLS ({e}); connection closed before the TLS handshake"),
                });
            }
        };
        if injected {
            conn.shutdown();
            self.closed = Some("data injected after STARTTLS".into());
            return Err(Error::Tls {
                phase: Phase::StartTls,
                kind: TlsErrorKind::InjectedData,
                message: "the server sent data after its 220 reply to STARTTLS and before the TLS handshake (a response-injection attack or a broken server); connection closed".into(),
            });
        }
        let name = crate::tls::server_name(self.config.tls_server_name())?;
        match conn.start_tls(tls, name, self.config.timeouts.command) {
            Ok(conn) => self.conn = Some(conn),
            Err(e) => {
                self.closed = Some(format!("TLS handshake failed: {e}"));
                return Err(e);
            }
        }
        self.transcript
            .line_with(Direction::Info, || tls_note(self.tls_info()));
        // RFC 3207 4.2: forget everything learned before TLS.
        self.capabilities = Capabilities::default();
        self.hello()
    }

    // ----- authentication ----------------------------------------------

    fn authenticate(&mut self) -> Result<()> {
        let Some(credentials) = self.config.credentials.clone() else {
            return Ok(());
        };
        let conn = self.conn.as_ref().ok_or_else(|| self.not_connected())?;
        if !conn.is_tls() {
            let allowed = match self.config.plaintext_auth {
                PlaintextAuthPolicy::InsecureAlways => true,
                PlaintextAuthPolicy::LoopbackOnly => conn.peer_is_loopback(),
                PlaintextAuthPolicy::Never => false,
            };
            if !allowed {
                self.polite_close("credentials refused without TLS");
                return Err(Error::PlaintextAuthRefused {
                    server: format!("{}:{}", self.config.host, self.config.port),
                });
            }
        }
        let offered = self.capabilities.auth.clone();
        if offered.is_empty() {
            self.polite_close("no AUTH offered");
            return Err(Error::NoCompatibleAuth {
                offered,
                reason: "the server offers no AUTH; the message was not sent unauthenticated"
                    .into(),
            });
        }
        let mechanism = match auth::select_mechanism(&offered, &credentials, self.config.mechanism)
        {
            Ok(m) => m,
            Err(e) => {
                self.polite_close("no usable AUTH mechanism");
                return Err(Error::NoCompatibleAuth {
                    offered,
                    reason: e.to_string(),
                });
            }
        };
        let auth_error = |reason: String, reply: Option<Reply>| Error::Auth {
            mechanism,
            reply,
            reason,
        };
        let mut sasl = auth::new_mechanism(mechanism, &credentials)
            .map_err(|e| auth_error(e.to_string(), None))?;
        let timeout = self.config.timeouts.command;
        let initial = if mechanism.sends_initial_response() {
            sasl.initial_response()
                .map_err(|e| auth_error(e.to_string(), None))?
                .map(|ir| {
                    if ir.is_empty() {
                        // RFC 4954 4: an empty initial response is sent as "=".
                        Zeroizing::new("=".to_string())
                    } else {
                        encode_sasl(&ir)
                    }
                })
        } else {
            None
        };
        if initial
            .as_ref()
            .is_some_and(|ir| ir.len() + 2 > command::MAX_AUTH_LINE)
        {
            // Not even a line of its own can carry it (RFC 4954 4).
            self.polite_close("initial response too long");
            return Err(Error::invalid(
                "authentication data",
                format!(
                    "the {} initial response is longer than the {} octets an AUTH line may carry",
                    mechanism.name(),
                    command::MAX_AUTH_LINE
                ),
            ));
        }
        // An initial response that would make the AUTH line too long is
        // sent after the server's first (empty) challenge instead.
        let fits = |ir: &Zeroizing<String>| {
            ir.len() + mechanism.name().len() + 8 <= command::MAX_AUTH_LINE
        };
        let (inline, mut deferred) = match initial {
            Some(ir) if fits(&ir) => (Some(ir), None),
            other => (None, other),
        };
        self.send_secret_command(&Command::Auth {
            mechanism: mechanism.name(),
            initial_response: inline,
        })?;
        let mut rounds = 0;
        loop {
            let reply = self.read_reply(Phase::Auth, timeout)?;
            match reply.code() {
                235 => {
                    if let Err(e) = sasl.finish(None) {
                        // The server says yes but could not prove who it
                        // is (SCRAM): do not trust this connection.
                        self.close(format!("AUTH not verified: {e}"));
                        return Err(auth_error(e.to_string(), Some(reply)));
                    }
                    self.authenticated = Some(mechanism);
                    return Ok(());
                }
                334 => {
                    rounds += 1;
                    if rounds > MAX_AUTH_ROUNDS {
                        self.cancel_auth()?;
                        return Err(auth_error(
                            format!("the server sent more than {MAX_AUTH_ROUNDS} challenges"),
                            Some(reply),
                        ));
                    }
                    if let Some(ir) = deferred.take() {
                        self.send_secret_command(&Command::AuthResponse(ir))?;
                        continue;
                    }
                    let challenge = match decode_challenge(reply.first_line()) {
                        Some(c) => c,
                        None => {
                            self.cancel_auth()?;
                            return Err(auth_error(
                                "the server's challenge is not valid base64".into(),
                                Some(reply),
                            ));
                        }
                    };
                    match sasl.respond(&challenge) {
                        Ok(step) => {
                            if let Some(note) = &step.note {
                                self.transcript.line(Direction::Info, note);
                            }
                            let response = Command::AuthResponse(encode_sasl(&step.response));
                            let mut probe = Zeroizing::new(Vec::new());
                            if let Err(e) = response.to_wire(&mut probe) {
                                self.cancel_auth()?;
                                return Err(e);
                            }
                            self.send_secret_command(&response)?;
                        }
                        Err(e) => {
                            self.cancel_auth()?;
                            return Err(auth_error(e.to_string(), None));
                        }
                    }
                }
                _ => {
                    let reason = if reply.text().is_empty() {
                        format!("the server answered {}", reply.code())
                    } else {
                        reply.text()
                    };
                    return Err(auth_error(reason, Some(reply)));
                }
            }
        }
    }

    /// Sends `*` to abandon an AUTH exchange and reads the server's answer,
    /// so the session stays in step.
    fn cancel_auth(&mut self) -> Result<()> {
        let cancel = Command::AuthResponse(Zeroizing::new("*".into()));
        self.send_secret_command(&cancel)?;
        let reply = self.read_reply(Phase::Auth, self.config.timeouts.command)?;
        if reply.code() == 235 {
            // A server that takes the cancel as success is not one to trust.
            self.close("server accepted a cancelled AUTH".into());
        }
        Ok(())
    }

    /// Writes a command that carries credentials: the transcript shows it
    /// hidden and the buffer is wiped afterwards.
    fn send_secret_command(&mut self, cmd: &Command) -> Result<()> {
        let mut line = Zeroizing::new(Vec::new());
        cmd.to_wire(&mut line)?;
        self.transcript
            .line_with(Direction::Sent, || cmd.to_transcript());
        self.write(&line, Phase::Auth, self.config.timeouts.command)
    }

    // ----- the mail transaction ------------------------------------------

    fn transaction(
        &mut self,
        envelope: &Envelope,
        body: &mut FitLines<'_>,
        buffers: &mut data::BodyBuffers,
    ) -> Result<SendReport> {
        let caps = &self.capabilities;
        let smtputf8 = envelope.needs_smtputf8();
        if smtputf8 && !caps.smtputf8 {
            return Err(Error::Unsupported {
                extension: "SMTPUTF8",
                reason:
                    "an address has non-ASCII characters and the server does not offer SMTPUTF8"
                        .into(),
            });
        }
        if envelope.eight_bit && !caps.eight_bit_mime {
            return Err(Error::Unsupported {
                extension: "8BITMIME",
                reason: "the body has 8-bit content and the server does not offer 8BITMIME (encode it as quoted-printable or base64)".into(),
            });
        }
        if let (Some(size), Some(limit)) = (envelope.size, caps.size) {
            if limit > 0 && size > limit {
                return Err(Error::Unsupported {
                    extension: "SIZE",
                    reason: format!(
                        "the message is {size} octets and the server takes at most {limit}"
                    ),
                });
            }
        }
        let pipelined = self.config.pipelining && caps.pipelining;
        let chunking = self.config.chunking && caps.chunking;
        // With "all or nothing", the body waits until every RCPT reply is
        // in: a pipelined DATA that got 354, or a pipelined BDAT LAST,
        // would deliver to the recipients accepted so far.
        let pipeline_body =
            pipelined && self.config.recipient_policy == RecipientPolicy::DeliverToAccepted;

        // The start of the body is read (and its lines checked) before
        // anything is sent, so a body that fails or is refused costs
        // nothing: with BDAT the first chunk, a small message's only one;
        // with DATA the first PREFETCH octets.
        let mut repaired_len = None;
        if !chunking {
            body.prefetch(PREFETCH).map_err(body_read_error)?;
            repaired_len = body.repaired_len();
        }
        let data::BodyBuffers { read, out, chunk } = buffers;
        let mut chunks = chunking.then(|| BdatChunks::new(&mut *body, read, out));
        let mut last = false;
        if let Some(source) = chunks.as_mut() {
            last = source.next(chunk).map_err(body_read_error)?;
            if last && source.repaired() {
                repaired_len = Some(chunk.len());
            }
        }
        let mut params = MailParams {
            size: envelope.size.filter(|_| caps.size.is_some()),
            eight_bit: envelope.eight_bit,
            smtputf8,
        };
        // A repaired message is longer: declare what will be sent.
        if let (Some(len), Some(size)) = (repaired_len, params.size) {
            params.size = Some(size.max(len as u64));
        }

        let mut commands = Vec::with_capacity(envelope.to.len() + 2);
        commands.push(Command::MailFrom {
            from: envelope.from.clone(),
            params,
        });
        commands.extend(envelope.to.iter().map(|to| Command::RcptTo(to.clone())));
        if pipeline_body {
            commands.push(match chunks {
                Some(_) => Command::Bdat {
                    size: chunk.len() as u64,
                    last,
                },
                None => Command::Data,
            });
        }
        // Format everything first: an invalid argument fails before a byte is sent.
        let mut batch = Vec::with_capacity(64 * commands.len());
        for cmd in &commands {
            cmd.to_wire(&mut batch)?;
        }

        let mut replies = Vec::with_capacity(commands.len());
        if pipelined {
            for cmd in &commands {
                self.transcript
                    .line_with(Direction::Sent, || cmd.to_transcript());
            }
            let body_in_batch = pipeline_body && chunks.is_some();
            let chunk_apart = body_in_batch && chunk.len() > COPY_LIMIT;
            if body_in_batch {
                if !chunk_apart {
                    batch.extend_from_slice(chunk);
                }
                self.note_chunk(chunk.len());
            }
            let mut written = self.write(&batch, Phase::MailFrom, self.config.timeouts.mail);
            if written.is_ok() && chunk_apart {
                written = self.write(chunk, Phase::Body, self.config.timeouts.data_block);
            }
            if let Err(e) = written {
                return Err(if body_in_batch && last {
                    delivery_unknown(Phase::Body, e)
                } else {
                    e
                });
            }
            // Read every reply, even after a failure, so the session stays in step.
            for cmd in &commands {
                let timeout = self.timeout_for(cmd.phase());
                match self.read_reply(cmd.phase(), timeout) {
                    Ok(reply) => replies.push(reply),
                    Err(e) if body_in_batch && last => {
                        return Err(delivery_unknown(cmd.phase(), e))
                    }
                    Err(e) => return Err(e),
                }
            }
        } else {
            for (i, cmd) in commands.iter().enumerate() {
                let reply = self.command(cmd)?;
                let mail_failed = i == 0 && !reply.is_positive();
                replies.push(reply);
                if mail_failed {
                    break;
                }
            }
        }

        let mut replies = replies.into_iter();
        let mail_reply = replies.next().ok_or_else(|| Error::Protocol {
            phase: Phase::MailFrom,
            reason: "no reply to MAIL FROM".into(),
        })?;
        let recipients: Vec<RecipientResult> = envelope
            .to
            .iter()
            .zip(replies.by_ref())
            .map(|(address, reply)| RecipientResult {
                address: address.clone(),
                reply,
            })
            .collect();
        let body_reply = replies.next();
        let pending_data = if chunks.is_some() {
            None
        } else {
            body_reply.as_ref()
        };

        if !mail_reply.is_positive() {
            self.abort_transaction(pending_data)?;
            return Err(Error::Rejected {
                phase: Phase::MailFrom,
                reply: mail_reply,
            });
        }
        let accepted = recipients.iter().filter(|r| r.accepted()).count();
        let refuse = accepted == 0
            || (self.config.recipient_policy == RecipientPolicy::AllOrNothing
                && accepted < recipients.len());
        if refuse {
            self.abort_transaction(pending_data)?;
            return Err(Error::RecipientsRefused {
                refused: recipients.into_iter().filter(|r| !r.accepted()).collect(),
            });
        }
        let reply = match chunks {
            Some(mut source) => self.send_chunks(&mut source, chunk, last, body_reply)?,
            None => {
                let data_reply = match body_reply {
                    Some(reply) => reply,
                    None => self.command(&Command::Data)?,
                };
                if data_reply.code() != 354 {
                    self.abort_transaction(None)?;
                    return Err(Error::Rejected {
                        phase: Phase::Data,
                        reply: data_reply,
                    });
                }
                self.send_body(body, buffers)?;
                self.read_reply(Phase::EndOfData, self.config.timeouts.data_end)
                    .map_err(|e| delivery_unknown(Phase::EndOfData, e))?
            }
        };
        if !reply.is_positive() {
            return Err(Error::Rejected {
                phase: Phase::EndOfData,
                reply,
            });
        }
        Ok(SendReport { recipients, reply })
    }

    /// Sends the BDAT chunks still to go (the first one too unless it was
    /// pipelined, in which case `first_reply` is its reply) and returns the
    /// reply to the last one. A failure on the last chunk is
    /// [`Error::DeliveryUnknown`]; any I/O failure closes the session.
    fn send_chunks(
        &mut self,
        source: &mut BdatChunks<'_, '_>,
        chunk: &mut Vec<u8>,
        mut last: bool,
        first_reply: Option<Reply>,
    ) -> Result<Reply> {
        let mut reply = match first_reply {
            Some(reply) => reply,
            None => self.send_chunk(chunk, last)?,
        };
        while !last {
            if !reply.is_positive() {
                self.abort_transaction(None)?;
                return Err(Error::Rejected {
                    phase: Phase::Body,
                    reply,
                });
            }
            last = match source.next(chunk) {
                Ok(last) => last,
                Err(e) => {
                    // Without LAST the server never delivers the message.
                    self.close(format!("reading the body failed: {e}"));
                    return Err(body_read_error(e));
                }
            };
            reply = self.send_chunk(chunk, last)?;
        }
        Ok(reply)
    }

    /// Writes `BDAT n [LAST]` and the chunk (in one write up to
    /// [`COPY_LIMIT`]); reads the reply.
    /// A failure on the last chunk leaves the delivery unknown; on any
    /// other it is certain that nothing was delivered (no LAST, no message).
    fn send_chunk(&mut self, chunk: &[u8], last: bool) -> Result<Reply> {
        let cmd = Command::Bdat {
            size: chunk.len() as u64,
            last,
        };
        let apart = chunk.len() > COPY_LIMIT;
        let mut wire = Vec::with_capacity(if apart { 32 } else { chunk.len() + 32 });
        cmd.to_wire(&mut wire)?;
        if !apart {
            wire.extend_from_slice(chunk);
        }
        self.transcript
            .line_with(Direction::Sent, || cmd.to_transcript());
        self.note_chunk(chunk.len());
        let phase = cmd.phase();
        let outcome = |e| if last { delivery_unknown(phase, e) } else { e };
        let timeout = self.config.timeouts.data_block;
        self.write(&wire, phase, timeout).map_err(outcome)?;
        if apart {
            self.write(chunk, phase, timeout).map_err(outcome)?;
        }
        self.read_reply(phase, self.timeout_for(phase))
            .map_err(outcome)
    }

    fn note_chunk(&self, size: usize) {
        self.transcript.line_with(Direction::Sent, || {
            format!("[message chunk, {size} octets]")
        });
    }

    /// Streams the body after a 354; on failure the session is closed.
    fn send_body(&mut self, body: &mut dyn Read, buffers: &mut data::BodyBuffers) -> Result<()> {
        let timeout = self.config.timeouts.data_block;
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::NotConnected("closed".into()))?;
        let mut writer = conn.body_writer(timeout);
        let result = data::copy_data_with(body, &mut writer, data::DEFAULT_BLOCK_SIZE, buffers);
        match result {
            Ok(size) => {
                self.transcript.line_with(Direction::Sent, || {
                    format!("[message body, {size} octets, then the final dot]")
                });
                Ok(())
            }
            Err(CopyError::Source(e)) => {
                // Not ending the message means the server discards it.
                self.close(format!("reading the body failed: {e}"));
                Err(body_read_error(e))
            }
            Err(CopyError::Sink(e)) => {
                // The terminator did not leave whole: nothing is delivered.
                let cause = crate::net::io_error(Phase::Body, timeout, e);
                self.close(format!("sending the body failed: {cause}"));
                Err(cause)
            }
            Err(CopyError::Flush(e)) => {
                let cause = crate::net::io_error(Phase::Body, timeout, e);
                self.close(format!("sending the end of the body failed: {cause}"));
                Err(Error::DeliveryUnknown {
                    phase: Phase::EndOfData,
                    cause: Box::new(cause),
                })
            }
        }
    }

    /// Ends a transaction that will not deliver: a pipelined DATA that got
    /// 354 is answered with an empty message to a server that has no
    /// recipients (RFC 2920 3.1), then RSET.
    fn abort_transaction(&mut self, data_reply: Option<&Reply>) -> Result<()> {
        if data_reply.is_some_and(|r| r.code() == 354) {
            self.write(b".\r\n", Phase::EndOfData, self.config.timeouts.data_block)?;
            self.transcript.line(Direction::Sent, ".");
            self.read_reply(Phase::EndOfData, self.config.timeouts.data_end)?;
        }
        let reply = self.command(&Command::Rset)?;
        if !reply.is_positive() {
            self.close(format!("RSET refused: {reply}"));
        }
        Ok(())
    }

    // ----- plumbing -----------------------------------------------------

    fn timeout_for(&self, phase: Phase) -> Duration {
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

    /// Sends one command and reads its reply (any code; `421` is an error
    /// that closes the session).
    fn command(&mut self, cmd: &Command) -> Result<Reply> {
        let phase = cmd.phase();
        let timeout = self.timeout_for(phase);
        let mut line = std::mem::take(&mut self.wbuf);
        line.clear();
        let formatted = cmd.to_wire(&mut line);
        let written = formatted.and_then(|()| {
            self.transcript
                .line_with(Direction::Sent, || cmd.to_transcript());
            self.write(&line, phase, timeout)
        });
        self.wbuf = line;
        written?;
        self.read_reply(phase, timeout)
    }

    fn write(&mut self, bytes: &[u8], phase: Phase, timeout: Duration) -> Result<()> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::NotConnected("closed".into()))?;
        if let Err(e) = conn.write_all(bytes, phase, timeout) {
            self.close(format!("write failed: {e}"));
            return Err(e);
        }
        Ok(())
    }

    /// Reads one whole reply. Any failure, and a `421`, closes the session.
    fn read_reply(&mut self, phase: Phase, timeout: Duration) -> Result<Reply> {
        let until = Instant::now() + timeout;
        let result = self.read_reply_inner(phase, timeout, until);
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

    fn read_reply_inner(
        &mut self,
        phase: Phase,
        timeout: Duration,
        until: Instant,
    ) -> Result<Reply> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::NotConnected("closed".into()))?;
        let mut builder = ReplyBuilder::new();
        loop {
            let line = conn.read_line(phase, timeout, until)?;
            if self.transcript.enabled() {
                self.transcript
                    .line(Direction::Received, &String::from_utf8_lossy(&line));
            }
            match builder.push_line(&line) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => {
                    return Err(Error::Protocol {
                        phase,
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    fn set_deadline(&mut self, deadline: Option<Deadline>) {
        if let Some(conn) = self.conn.as_mut() {
            conn.set_deadline(deadline);
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.conn.is_some() {
            Ok(())
        } else {
            Err(self.not_connected())
        }
    }

    fn not_connected(&self) -> Error {
        Error::NotConnected(
            self.closed
                .clone()
                .unwrap_or_else(|| "the session is closed".into()),
        )
    }

    fn close(&mut self, why: String) {
        if let Some(conn) = self.conn.take() {
            conn.shutdown();
            self.transcript
                .line_with(Direction::Info, || format!("connection closed: {why}"));
        }
        self.closed.get_or_insert(why);
    }

    /// Sends QUIT without waiting long for the answer, then closes.
    fn polite_close(&mut self, why: &str) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = conn.write_all(b"QUIT\r\n", Phase::Quit, Duration::from_secs(1));
            self.transcript.line(Direction::Sent, "QUIT");
        }
        self.close(why.into());
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            let _ = conn.write_all(b"QUIT\r\n", Phase::Quit, Duration::from_secs(1));
            conn.shutdown();
        }
    }
}

/// Size of every BDAT chunk but the last.
pub(crate) const BDAT_CHUNK: usize = 1024 * 1024;

/// Reads the caller's body and cuts it into normalised BDAT chunks of
/// exactly [`BDAT_CHUNK`] octets (the last one shorter), holding at most
/// one chunk and one read block.
struct BdatChunks<'a, 'f> {
    body: &'a mut FitLines<'f>,
    normalizer: data::BdatNormalizer,
    input: &'a mut data::ReadBlock,
    pending: &'a mut Vec<u8>,
}

impl<'a, 'f> BdatChunks<'a, 'f> {
    /// Reads `body` through the session's reused blocks.
    fn new(
        body: &'a mut FitLines<'f>,
        read: &'a mut data::ReadBlock,
        pending: &'a mut Vec<u8>,
    ) -> BdatChunks<'a, 'f> {
        pending.clear();
        BdatChunks {
            body,
            normalizer: data::BdatNormalizer::new(),
            input: read,
            pending,
        }
    }

    /// Whether the line fitter repaired something so far.
    fn repaired(&self) -> bool {
        self.body.repaired()
    }

    /// Replaces `out` with the next chunk; true when it ends the body.
    fn next(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        out.clear();
        while self.pending.len() <= BDAT_CHUNK {
            let input = self
                .input
                .fill_from(&mut *self.body, data::DEFAULT_BLOCK_SIZE)?;
            if input.is_empty() {
                self.normalizer.finish(self.pending);
                // Swapped, not copied: both vectors go back to the session.
                std::mem::swap(out, self.pending);
                return Ok(true);
            }
            self.normalizer.encode(input, self.pending);
        }
        out.extend_from_slice(&self.pending[..BDAT_CHUNK]);
        self.pending.drain(..BDAT_CHUNK);
        Ok(false)
    }
}

/// A chunk up to this size is copied behind its command so that both go
/// in one write; a larger one is written on its own (its command first),
/// since a copy would hold the chunk twice.
const COPY_LIMIT: usize = 64 * 1024;

/// How much of a message is read (and its lines checked) before anything
/// of it is sent (1 MiB, as much as the first BDAT chunk).
const PREFETCH: usize = BDAT_CHUNK;

/// A failure reading the caller's body: a line that could not be fitted
/// is the caller's input, anything else a read error.
fn body_read_error(e: std::io::Error) -> Error {
    match crate::message::long_line_error(&e) {
        Some(long) => Error::invalid("message", long.to_string()),
        None => Error::BodyRead(e),
    }
}

/// A failure once the end of the message may have reached the server:
/// the message may or may not have been accepted. A 421 stays a refusal.
fn delivery_unknown(phase: Phase, cause: Error) -> Error {
    match cause {
        e @ (Error::Rejected { .. } | Error::DeliveryUnknown { .. }) => e,
        cause => Error::DeliveryUnknown {
            phase,
            cause: Box::new(cause),
        },
    }
}

fn encode_sasl(bytes: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(BASE64.encode(bytes))
}

fn decode_challenge(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    BASE64.decode(text).ok()
}

fn tls_note(info: Option<&TlsInfo>) -> String {
    match info {
        Some(i) => format!("TLS established: {} {}", i.version, i.cipher_suite),
        None => "TLS established".into(),
    }
}

/// This machine's host name, if it looks like a fully qualified domain
/// name (servers often refuse bare names in EHLO).
fn local_host_name() -> Option<String> {
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

    #[test]
    fn challenge_decoding() {
        assert_eq!(decode_challenge(""), Some(vec![]));
        assert_eq!(
            decode_challenge("VXNlcm5hbWU6"),
            Some(b"Username:".to_vec())
        );
        assert_eq!(decode_challenge("not base64!"), None);
    }

    #[test]
    fn empty_sasl_response_is_empty_line() {
        assert_eq!(encode_sasl(b"").as_str(), "");
        assert_eq!(encode_sasl(b"abc").as_str(), "YWJj");
    }
}
