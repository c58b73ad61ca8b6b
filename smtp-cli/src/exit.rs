//! Exit codes (sysexits.h) and the mapping from library errors to them.

use std::fmt;

use smtp_core::{Error, Phase, TlsErrorKind};

/// A sysexits.h exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: the message was accepted by the server.
    Ok,
    /// 64 EX_USAGE: bad command line (unknown flag, missing argument, no recipient).
    Usage,
    /// 65 EX_DATAERR: the message or an address in it is invalid.
    DataErr,
    /// 66 EX_NOINPUT: a body or attachment file cannot be read.
    NoInput,
    /// 67 EX_NOUSER: the server refused a recipient with a 5xx reply.
    NoUser,
    /// 69 EX_UNAVAILABLE: any other permanent (5xx) refusal, or a server
    /// that cannot be used as configured (no STARTTLS, bad certificate).
    Unavailable,
    /// 70 EX_SOFTWARE: an internal error.
    Software,
    /// 74 EX_IOERR: reading standard input or a file failed mid-way.
    IoErr,
    /// 75 EX_TEMPFAIL: a 4xx reply, a timeout, a network failure, or the
    /// delivery state is unknown. Trying later may work.
    TempFail,
    /// 76 EX_PROTOCOL: the server broke the protocol.
    Protocol,
    /// 77 EX_NOPERM: authentication failed or is impossible.
    NoPerm,
    /// 78 EX_CONFIG: bad or missing configuration, TLS configuration
    /// (CA file), or a failing password command.
    Config,
}

impl Exit {
    /// The numeric exit status.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 64,
            Exit::DataErr => 65,
            Exit::NoInput => 66,
            Exit::NoUser => 67,
            Exit::Unavailable => 69,
            Exit::Software => 70,
            Exit::IoErr => 74,
            Exit::TempFail => 75,
            Exit::Protocol => 76,
            Exit::NoPerm => 77,
            Exit::Config => 78,
        }
    }

    /// A short lower-case name for the log file (`ok`, `tempfail`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Usage => "usage",
            Exit::DataErr => "dataerr",
            Exit::NoInput => "noinput",
            Exit::NoUser => "nouser",
            Exit::Unavailable => "unavailable",
            Exit::Software => "software",
            Exit::IoErr => "ioerr",
            Exit::TempFail => "tempfail",
            Exit::Protocol => "protocol",
            Exit::NoPerm => "noperm",
            Exit::Config => "config",
        }
    }
}

/// A failure: the exit status and the one-line message for stderr.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The exit status.
    pub exit: Exit,
    /// What went wrong, one line, never a secret.
    pub message: String,
    /// The server's reply involved, if any (for the log file).
    pub reply: Option<String>,
}

impl Failure {
    /// A failure with this status and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: one_line(&message.into()),
            reply: None,
        }
    }

    /// 64 EX_USAGE.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Usage, message)
    }

    /// 78 EX_CONFIG.
    pub fn config(message: impl Into<String>) -> Failure {
        Failure::new(Exit::Config, message)
    }

    /// 65 EX_DATAERR.
    pub fn data(message: impl Into<String>) -> Failure {
        Failure::new(Exit::DataErr, message)
    }

    /// A library error, mapped with [`map_error`]; `context` (the server,
    /// or what was being done) prefixes the message unless it is in it.
    pub fn smtp(error: &Error, stage: Stage, context: &str) -> Failure {
        let text = error.to_string();
        let message = if context.is_empty() || text.contains(context) {
            text
        } else {
            format!("{context}: {text}")
        };
        let mut failure = Failure::new(map_error(error, stage), message);
        failure.reply = error.reply().map(ToString::to_string);
        failure
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where a library error came from, which decides how an
/// [`Error::InvalidInput`] is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Building the message or its envelope: invalid input is bad data (65).
    Message,
    /// Building the connection settings or connecting: invalid input is bad
    /// configuration (78).
    Connect,
    /// Sending: invalid input concerns the message or its addresses (65).
    Send,
}

/// The exit status for a library error.
///
/// | Error | Exit |
/// |---|---|
/// | `Connect`, `Timeout`, `Io`, `DeliveryUnknown`, `NotConnected` | 75 |
/// | `Tls` with kind `Config` (bad CA file, client certificate) | 78 |
/// | `Tls` `StartTlsRefused`, `Handshake` | 75 |
/// | `Tls` `NotOffered`, certificate not trusted/expired/wrong name/bad | 69 |
/// | `Tls` `InjectedData` | 76 |
/// | `Rejected` 4xx | 75 |
/// | `Rejected` 5xx at RCPT TO | 67, other phases 69 |
/// | `RecipientsRefused`: any 5xx | 67, all 4xx: 75 |
/// | `Auth` with a 4xx reply | 75, otherwise 77 |
/// | `NoCompatibleAuth` | 77 |
/// | `PlaintextAuthRefused` | 78 |
/// | `Protocol` | 76 |
/// | `InvalidInput` | 78 while configuring/connecting, else 65 |
/// | `Unsupported` (SMTPUTF8, 8BITMIME, SIZE) | 69 |
/// | `BodyRead` | 74 |
/// | anything else | 70 |
pub fn map_error(error: &Error, stage: Stage) -> Exit {
    match error {
        Error::Connect { .. }
        | Error::Timeout { .. }
        | Error::Io { .. }
        | Error::DeliveryUnknown { .. }
        | Error::Spool { .. }
        | Error::NotConnected(_) => Exit::TempFail,
        Error::Tls { kind, .. } => match kind {
            TlsErrorKind::Config => Exit::Config,
            TlsErrorKind::StartTlsRefused | TlsErrorKind::Handshake => Exit::TempFail,
            TlsErrorKind::InjectedData => Exit::Protocol,
            _ => Exit::Unavailable,
        },
        Error::Rejected { phase, reply } => {
            if reply.is_transient() {
                Exit::TempFail
            } else if *phase == Phase::RcptTo {
                Exit::NoUser
            } else {
                Exit::Unavailable
            }
        }
        Error::RecipientsRefused { refused } => {
            if refused.iter().any(|r| r.reply.is_permanent()) {
                Exit::NoUser
            } else {
                Exit::TempFail
            }
        }
        Error::Auth { reply, .. } => {
            if reply.as_ref().is_some_and(|r| r.is_transient()) {
                Exit::TempFail
            } else {
                Exit::NoPerm
            }
        }
        Error::NoCompatibleAuth { .. } => Exit::NoPerm,
        Error::PlaintextAuthRefused { .. } => Exit::Config,
        Error::Protocol { .. } => Exit::Protocol,
        Error::InvalidInput { .. } => match stage {
            Stage::Connect => Exit::Config,
            Stage::Message | Stage::Send => Exit::DataErr,
        },
        Error::Unsupported { .. } => Exit::Unavailable,
        Error::BodyRead(_) => Exit::IoErr,
        _ => Exit::Software,
    }
}

/// Replaces line breaks and other control characters with spaces so that
/// a message stays on one line.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_core::{RecipientResult, Reply};

    fn reply(code: u16) -> Reply {
        Reply::new(code, None, vec!["text".into()])
    }

    #[test]
    fn mapping() {
        let rejected = |phase, code| Error::Rejected {
            phase,
            reply: reply(code),
        };
        assert_eq!(
            map_error(&rejected(Phase::RcptTo, 550), Stage::Send),
            Exit::NoUser
        );
        assert_eq!(
            map_error(&rejected(Phase::MailFrom, 553), Stage::Send),
            Exit::Unavailable
        );
        assert_eq!(
            map_error(&rejected(Phase::EndOfData, 451), Stage::Send),
            Exit::TempFail
        );
        let refused = |codes: &[u16]| Error::RecipientsRefused {
            refused: codes
                .iter()
                .map(|&c| RecipientResult {
                    address: "a@b.example".into(),
                    reply: reply(c),
                })
                .collect(),
        };
        assert_eq!(map_error(&refused(&[450, 550]), Stage::Send), Exit::NoUser);
        assert_eq!(map_error(&refused(&[450]), Stage::Send), Exit::TempFail);
        let auth = |code| Error::Auth {
            mechanism: smtp_core::Mechanism::Plain,
            reply: Some(reply(code)),
            reason: "no".into(),
            source: None,
        };
        assert_eq!(map_error(&auth(535), Stage::Connect), Exit::NoPerm);
        assert_eq!(map_error(&auth(454), Stage::Connect), Exit::TempFail);
        let tls = |kind| Error::Tls {
            phase: Phase::TlsHandshake,
            kind,
            message: String::new(),
        };
        assert_eq!(
            map_error(&tls(TlsErrorKind::Config), Stage::Connect),
            Exit::Config
        );
        assert_eq!(
            map_error(&tls(TlsErrorKind::UnknownIssuer), Stage::Connect),
            Exit::Unavailable
        );
        let invalid = Error::InvalidInput {
            field: "host",
            reason: "x".into(),
        };
        assert_eq!(map_error(&invalid, Stage::Connect), Exit::Config);
        assert_eq!(map_error(&invalid, Stage::Send), Exit::DataErr);
        assert_eq!(
            map_error(
                &Error::Timeout {
                    phase: Phase::Greeting,
                    after: std::time::Duration::from_secs(1)
                },
                Stage::Connect
            ),
            Exit::TempFail
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("a\r\nb\tc"), "a  b c");
        assert_eq!(Failure::usage("x\ny").message, "x y");
    }
}
