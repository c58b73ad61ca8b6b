//! The protocol state machine: greeting, EHLO/HELO, STARTTLS, AUTH, the
//! mail transaction (pipelined when offered), RSET, NOOP, QUIT.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::auth::{self, Mechanism};
use crate::capabilities::Capabilities;
use crate::command::{self, Command, MailParams};
use crate::config::{Config, PlaintextAuthPolicy, RecipientPolicy};
use crate::data::{self, CopyError};
use crate::error::{Error, Phase, Result, TlsErrorKind};
use crate::message::{FitBuffers, FitLines};
use crate::net::{Connection, Deadline, TlsInfo};
use crate::reply::{Reply, ReplyBuilder};
use crate::report::RecipientResult;
use crate::report::SendReport;
use crate::tls::Security;
use crate::transcript::{Direction, Transcript};

mod authenticate;
mod send;
mod transaction;

pub use crate::envelope::Envelope;

/// Most `334` challenges answered in one AUTH exchange.
pub const MAX_AUTH_ROUNDS: usize = 8;

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
                &format_args!("{}:{}", self.config.host, self.config.port()),
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
        let mut conn = Connection::connect(
            &config.host,
            config.port(),
            config.timeouts.connect,
            deadline,
        )?;
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
}
