//! One error type for everything the client does. Each variant says what a
//! caller can do about it; those that involve the server carry its reply.

use std::fmt;
use std::io;
use std::time::Duration;

use crate::reply::Reply;
use crate::report::RecipientResult;

/// The protocol step during which something happened. Steps may be added
/// in later versions: a `match` needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Resolving the name and opening the TCP connection.
    Connect,
    /// Waiting for the server's `220` greeting.
    Greeting,
    /// `EHLO`.
    Ehlo,
    /// `HELO` (fallback when `EHLO` is refused).
    Helo,
    /// `STARTTLS`.
    StartTls,
    /// The TLS handshake (implicit TLS or after `STARTTLS`).
    TlsHandshake,
    /// `AUTH` and its challenges.
    Auth,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO`.
    RcptTo,
    /// `DATA`, up to the `354` reply.
    Data,
    /// Sending the message body.
    Body,
    /// Waiting for the reply to the end of the message (the final dot or `BDAT LAST`).
    EndOfData,
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

impl Phase {
    /// A short name for messages, e.g. `"MAIL FROM"`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::Helo => "HELO",
            Phase::StartTls => "STARTTLS",
            Phase::TlsHandshake => "TLS handshake",
            Phase::Auth => "AUTH",
            Phase::MailFrom => "MAIL FROM",
            Phase::RcptTo => "RCPT TO",
            Phase::Data => "DATA",
            Phase::Body => "message body",
            Phase::EndOfData => "end of data",
            Phase::Rset => "RSET",
            Phase::Noop => "NOOP",
            Phase::Quit => "QUIT",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What went wrong in TLS. Kinds may be added in later versions: a
/// `match` needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The server does not offer `STARTTLS` but TLS is required.
    NotOffered,
    /// The server answered `STARTTLS` with something other than `220`.
    StartTlsRefused,
    /// The server sent bytes after its `220` reply to `STARTTLS` and before
    /// the handshake: a response-injection attempt.
    InjectedData,
    /// The certificate is signed by no trusted authority (self-signed, or a
    /// private CA that was not given to us).
    UnknownIssuer,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// The certificate is valid but not for the host name we connected to.
    NameMismatch,
    /// Any other certificate problem (revoked, bad usage, bad encoding...).
    BadCertificate,
    /// The handshake failed for another reason (protocol versions, ciphers,
    /// not TLS at all, connection closed during the handshake).
    Handshake,
    /// Our own TLS configuration is unusable (bad CA file, bad client certificate).
    Config,
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsErrorKind::NotOffered => "STARTTLS not offered",
            TlsErrorKind::StartTlsRefused => "STARTTLS refused",
            TlsErrorKind::InjectedData => "data injected before the TLS handshake",
            TlsErrorKind::UnknownIssuer => "certificate not trusted",
            TlsErrorKind::Expired => "certificate expired or not yet valid",
            TlsErrorKind::NameMismatch => "certificate is for another host name",
            TlsErrorKind::BadCertificate => "bad certificate",
            TlsErrorKind::Handshake => "handshake failed",
            TlsErrorKind::Config => "TLS configuration",
        })
    }
}

/// Every way sending mail can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No address of the server accepted a TCP connection.
    #[error("could not connect to {server}: {source}")]
    Connect {
        /// The server as given (`host:port`).
        server: String,
        /// The error from the last address tried.
        #[source]
        source: io::Error,
    },

    /// The server did not answer (or did not take our data) in time.
    #[error("timed out after {after:?} during {phase}")]
    Timeout {
        /// The step that timed out.
        phase: Phase,
        /// The timeout that expired.
        after: Duration,
    },

    /// TLS could not be set up, or the server's certificate was refused.
    #[error("TLS error during {phase} ({kind}): {message}")]
    Tls {
        /// The step (STARTTLS or the handshake).
        phase: Phase,
        /// What kind of failure.
        kind: TlsErrorKind,
        /// Details; never contains a secret.
        message: String,
    },

    /// The server refused a command with a 4xx or 5xx reply (a `421` means
    /// it is closing the connection).
    #[error("server refused {phase}: {reply}")]
    Rejected {
        /// The refused step.
        phase: Phase,
        /// The server's reply.
        reply: Reply,
    },

    /// Every recipient was refused, or (with
    /// [`RecipientPolicy::AllOrNothing`](crate::RecipientPolicy::AllOrNothing))
    /// at least one was. Nothing was sent.
    #[error("recipients refused: {}", format_refused(refused))]
    RecipientsRefused {
        /// Each refused recipient with the server's reply.
        refused: Vec<RecipientResult>,
    },

    /// Authentication failed: the server refused the credentials (`535`,
    /// `454`...) or the exchange broke off (bad challenge, server signature
    /// that does not verify).
    #[error("authentication with {mechanism} failed: {reason}")]
    Auth {
        /// The mechanism used.
        mechanism: crate::auth::Mechanism,
        /// The server's final reply, if the server gave one.
        reply: Option<Reply>,
        /// The server's text or what was wrong with the exchange.
        reason: String,
        /// What the mechanism found wrong with the exchange, when the
        /// failure is its finding (then `reason` is its message); `None`
        /// when the server refused or broke the AUTH command itself.
        #[source]
        source: Option<crate::auth::SaslError>,
    },

    /// Credentials were given but the server offers no mechanism we can
    /// use with them (or no AUTH at all). Nothing was sent unauthenticated.
    #[error("no usable authentication mechanism: {reason}")]
    NoCompatibleAuth {
        /// The server's AUTH list (empty when it offers no AUTH).
        offered: Vec<String>,
        /// Why none is usable.
        reason: String,
    },

    /// Credentials would travel over a connection without TLS to a
    /// non-loopback server; refused.
    #[error("refusing to send credentials to {server} without TLS; use TLS (security \"starttls\" or \"implicit\"), or turn on the insecure-plaintext-auth option if you accept that they can be read on the network")]
    PlaintextAuthRefused {
        /// The server.
        server: String,
    },

    /// The server's reply was malformed or broke a limit; the connection
    /// is closed because we can no longer tell where replies start.
    #[error("protocol error during {phase}: {reason}")]
    Protocol {
        /// The step.
        phase: Phase,
        /// What was wrong.
        reason: String,
    },

    /// A value given by the caller is invalid (CR or LF in an address, an
    /// over-long domain, a bad URL...). Detected before anything was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input.
        field: &'static str,
        /// Why; never repeats a secret.
        reason: String,
    },

    /// The message needs an extension the server does not offer
    /// (SMTPUTF8 for a UTF-8 address, 8BITMIME for an 8-bit body), or is
    /// larger than the server's SIZE limit. Nothing was sent.
    #[error("the server cannot take this message: {reason}")]
    Unsupported {
        /// The extension, e.g. `"SMTPUTF8"`, or `"SIZE"`.
        extension: &'static str,
        /// Details.
        reason: String,
    },

    /// The connection failed after the message body started to go out.
    /// The server may or may not have accepted the message: check before
    /// sending it again. The session is closed.
    #[error("delivery state unknown: the connection failed during {phase} ({cause}); the server may or may not have accepted the message")]
    DeliveryUnknown {
        /// The step during which it failed.
        phase: Phase,
        /// The underlying failure.
        #[source]
        cause: Box<Error>,
    },

    /// Reading the caller's message body failed. The connection was closed
    /// without ending the message, so no truncated message is delivered.
    #[error("reading the message body failed: {0}; the message was not sent")]
    BodyRead(#[source] io::Error),

    /// The session is closed (after `QUIT`, a `421`, or an earlier fatal
    /// error); connect again.
    #[error("not connected: {0}")]
    NotConnected(String),

    /// The outbox's directory could not be read or written (disk full, no
    /// permission, a file changed under it). Nothing half-written is
    /// visible in the queue; a message is queued only once its enqueue
    /// returned its id.
    #[error("outbox: {action}: {source}")]
    Spool {
        /// What was being done, with the path.
        action: String,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// Any other I/O failure on the connection.
    #[error("I/O error during {phase}: {source}")]
    Io {
        /// The step.
        phase: Phase,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn format_refused(refused: &[RecipientResult]) -> String {
    refused
        .iter()
        .map(|r| format!("<{}>: {}", r.address, r.reply))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// The server's reply involved, if any.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Error::Rejected { reply, .. } => Some(reply),
            Error::Auth { reply, .. } => reply.as_ref(),
            Error::RecipientsRefused { refused } => refused.first().map(|r| &r.reply),
            Error::DeliveryUnknown { cause, .. } => cause.reply(),
            _ => None,
        }
    }

    /// The protocol step, where one applies.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            Error::Connect { .. } => Some(Phase::Connect),
            Error::Timeout { phase, .. }
            | Error::Tls { phase, .. }
            | Error::Rejected { phase, .. }
            | Error::Protocol { phase, .. }
            | Error::DeliveryUnknown { phase, .. }
            | Error::Io { phase, .. } => Some(*phase),
            Error::RecipientsRefused { .. } => Some(Phase::RcptTo),
            Error::Auth { .. } | Error::NoCompatibleAuth { .. } => Some(Phase::Auth),
            Error::PlaintextAuthRefused { .. } => Some(Phase::Auth),
            Error::BodyRead(_) => Some(Phase::Body),
            _ => None,
        }
    }

    /// True when trying again later may succeed: a 4xx reply, a timeout or
    /// a network failure. (For [`Error::DeliveryUnknown`] a retry may
    /// deliver the message twice.)
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Timeout { .. } | Error::Io { .. } => true,
            // A full disk empties; a permission is a configuration to fix
            // while the caller keeps the message.
            Error::Spool { .. } => true,
            Error::DeliveryUnknown { .. } => true,
            Error::Rejected { reply, .. } => reply.is_transient(),
            Error::Auth { reply, .. } => reply.as_ref().is_some_and(Reply::is_transient),
            Error::RecipientsRefused { refused } => refused.iter().all(|r| r.reply.is_transient()),
            _ => false,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
