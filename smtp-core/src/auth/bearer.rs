//! The bearer-token exchange XOAUTH2 and OAUTHBEARER share: one client
//! message carrying the token, then the answer to the server's JSON error
//! challenge. The two clients only build their message; [`BearerClient`]
//! makes each a [`SaslMechanism`] that runs this exchange.

use std::fmt;

use zeroize::Zeroizing;

use super::error::{complete_if, printable_server_text};
use super::{Mechanism, SaslError, SaslMechanism, SaslStep};

/// A client whose whole exchange is a [`BearerExchange`]; implementing it
/// makes the client a [`SaslMechanism`].
pub(super) trait BearerClient: Send {
    /// Which mechanism this is.
    const MECHANISM: Mechanism;

    /// The exchange the client built.
    fn exchange(&mut self) -> &mut BearerExchange;
}

impl<C: BearerClient> SaslMechanism for C {
    fn mechanism(&self) -> Mechanism {
        C::MECHANISM
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        self.exchange().initial_response()
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        self.exchange().respond(challenge)
    }

    fn finish(&mut self, _success_data: Option<&[u8]>) -> Result<(), SaslError> {
        let done = self.exchange().state != BearerState::MessagePending;
        complete_if(done, C::MECHANISM)
    }
}

/// The exchange XOAUTH2 and OAUTHBEARER share: one client message, sent as
/// the initial response or after the server's empty challenge; a challenge
/// after it carries the server's JSON error and gets `error_reply`, so that
/// the server can fail the AUTH command.
pub(super) struct BearerExchange {
    mechanism: Mechanism,
    /// What the message says before the token (`user=...` or `n,a=...,`):
    /// no secret, shown by `Debug`.
    prefix: String,
    /// Taken when sent, so the token is not kept once it has gone out.
    message: Zeroizing<Vec<u8>>,
    error_reply: &'static [u8],
    state: BearerState,
}

/// Progress of a [`BearerExchange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BearerState {
    MessagePending,
    MessageSent,
    ErrorAcknowledged,
}

impl BearerExchange {
    /// The message is `{prefix}^Aauth=Bearer {token}^A^A`; the caller has
    /// checked both for Ctrl-A.
    pub(super) fn new(
        mechanism: Mechanism,
        prefix: String,
        token: &str,
        error_reply: &'static [u8],
    ) -> Self {
        let mut message = Zeroizing::new(Vec::with_capacity(prefix.len() + token.len() + 16));
        message.extend_from_slice(prefix.as_bytes());
        message.extend_from_slice(b"\x01auth=Bearer ");
        message.extend_from_slice(token.as_bytes());
        message.extend_from_slice(b"\x01\x01");
        BearerExchange {
            mechanism,
            prefix,
            message,
            error_reply,
            state: BearerState::MessagePending,
        }
    }

    fn send_message(&mut self) -> Zeroizing<Vec<u8>> {
        self.state = BearerState::MessageSent;
        std::mem::take(&mut self.message)
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        if self.state != BearerState::MessagePending {
            return Err(SaslError::OutOfOrder {
                mechanism: self.mechanism,
                reason: "initial_response() called after the message was already produced",
            });
        }
        Ok(Some(self.send_message()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        match self.state {
            // No initial response was sent: this is the server's "go ahead".
            BearerState::MessagePending if challenge.is_empty() => {
                Ok(SaslStep::new(self.send_message()))
            }
            BearerState::MessagePending => Err(SaslError::MalformedChallenge {
                mechanism: self.mechanism,
                reason: "expected an empty challenge before the client's message".to_owned(),
            }),
            BearerState::MessageSent => {
                self.state = BearerState::ErrorAcknowledged;
                Ok(SaslStep::new(Zeroizing::new(self.error_reply.to_vec()))
                    .with_note(bearer_error_note(self.mechanism, challenge)))
            }
            BearerState::ErrorAcknowledged => Err(SaslError::UnexpectedChallenge {
                mechanism: self.mechanism,
            }),
        }
    }
}

impl fmt::Debug for BearerExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerExchange")
            .field("mechanism", &self.mechanism)
            .field("prefix", &self.prefix)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The transcript note for the JSON error challenge of XOAUTH2 / OAUTHBEARER.
/// The JSON never contains the token; it is shown only if printable ASCII.
fn bearer_error_note(mechanism: Mechanism, challenge: &[u8]) -> String {
    let printable = !challenge.is_empty()
        && challenge
            .iter()
            .all(|&byte| byte == b' ' || byte.is_ascii_graphic());
    let text = match std::str::from_utf8(challenge) {
        Ok(text) if printable => text,
        _ => {
            return format!(
                "{mechanism} server error (details not printable ASCII, not shown); sent the \
                 empty reply the mechanism requires, expect the server to fail the AUTH"
            )
        }
    };
    let status = json_string_field(text, "status")
        .map(|status| format!("status {}; ", printable_server_text(status, 40)))
        .unwrap_or_default();
    format!(
        "{mechanism} server error: {status}details {}",
        printable_server_text(text, 400)
    )
}

/// Finds `"name": "value"` or `"name": value` in a flat JSON object; enough
/// for a transcript note, not a JSON parser.
fn json_string_field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("\"{name}\"");
    let after_key = json.split_once(key.as_str())?.1.trim_start();
    let value = after_key.strip_prefix(':')?.trim_start();
    if let Some(quoted) = value.strip_prefix('"') {
        quoted.split_once('"').map(|(inner, _)| inner)
    } else {
        let end = value
            .find(|c: char| c == ',' || c == '}' || c.is_whitespace())
            .unwrap_or(value.len());
        value.get(..end).filter(|token| !token.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_note_extracts_status() {
        let note = bearer_error_note(
            Mechanism::XOAuth2,
            br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#,
        );
        assert!(note.contains("status 401"), "{note}");
        assert!(note.contains("https://mail.google.com/"), "{note}");
        let note = bearer_error_note(Mechanism::OAuthBearer, b"{\"status\": 400}");
        assert!(note.contains("status 400"), "{note}");
        let note = bearer_error_note(Mechanism::OAuthBearer, b"\xff\x00binary");
        assert!(note.contains("not printable"), "{note}");
        assert!(!note.contains("binary"), "{note}");
    }

    #[test]
    fn json_field_lookup_handles_odd_input() {
        assert_eq!(json_string_field(r#"{"status":"x"}"#, "status"), Some("x"));
        assert_eq!(json_string_field(r#"{"status":"#, "status"), None);
        assert_eq!(
            json_string_field(r#"{"status":"unterminated"#, "status"),
            None
        );
        assert_eq!(json_string_field(r#"{"status":}"#, "status"), None);
        assert_eq!(json_string_field("", "status"), None);
    }
}
