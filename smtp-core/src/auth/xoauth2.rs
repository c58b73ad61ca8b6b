//! XOAUTH2 (Google / Microsoft): one message,
//! `user={user}^Aauth=Bearer {token}^A^A`.
//!
//! On failure the server sends a 334 challenge holding a JSON error; the
//! client must answer it with an empty response, after which the server
//! fails the AUTH command.

use std::fmt;

use zeroize::Zeroizing;

use super::{
    bearer_error_note, check_no_ctrl_a, Credentials, Mechanism, SaslError, SaslMechanism, SaslStep,
};

/// Progress of an XOAUTH2 exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    MessagePending,
    MessageSent,
    ErrorAcknowledged,
}

/// The client side of XOAUTH2.
pub struct XOAuth2Client {
    username: String,
    token: Zeroizing<String>,
    state: State,
}

impl XOAuth2Client {
    /// Builds an XOAUTH2 client; needs bearer-token credentials. XOAUTH2 has
    /// no authorization identity, so an authzid is ignored.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        let token = credentials.token_for(Mechanism::XOAuth2)?;
        credentials.validate()?;
        check_no_ctrl_a(Mechanism::XOAuth2, "username", &credentials.username)?;
        check_no_ctrl_a(Mechanism::XOAuth2, "token", token)?;
        Ok(XOAuth2Client {
            username: credentials.username.clone(),
            token: token.clone(),
            state: State::MessagePending,
        })
    }

    fn message(&self) -> Zeroizing<Vec<u8>> {
        let mut message = Zeroizing::new(Vec::with_capacity(
            self.username.len() + self.token.len() + 22,
        ));
        message.extend_from_slice(b"user=");
        message.extend_from_slice(self.username.as_bytes());
        message.extend_from_slice(b"\x01auth=Bearer ");
        message.extend_from_slice(self.token.as_bytes());
        message.extend_from_slice(b"\x01\x01");
        message
    }
}

impl SaslMechanism for XOAuth2Client {
    fn mechanism(&self) -> Mechanism {
        Mechanism::XOAuth2
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        if self.state != State::MessagePending {
            return Err(SaslError::OutOfOrder {
                mechanism: Mechanism::XOAuth2,
                reason: "initial_response() called after the message was already produced",
            });
        }
        self.state = State::MessageSent;
        Ok(Some(self.message()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        match self.state {
            // No initial response was sent: this is the server's "go ahead".
            State::MessagePending if challenge.is_empty() => {
                self.state = State::MessageSent;
                Ok(SaslStep::new(self.message()))
            }
            State::MessagePending => Err(SaslError::MalformedChallenge {
                mechanism: Mechanism::XOAuth2,
                reason: "expected an empty challenge before the client's message".to_owned(),
            }),
            State::MessageSent => {
                self.state = State::ErrorAcknowledged;
                Ok(SaslStep::empty().with_note(bearer_error_note(Mechanism::XOAuth2, challenge)))
            }
            State::ErrorAcknowledged => Err(SaslError::UnexpectedChallenge {
                mechanism: Mechanism::XOAuth2,
            }),
        }
    }

    fn finish(&mut self, _success_data: Option<&[u8]>) -> Result<(), SaslError> {
        match self.state {
            State::MessagePending => Err(SaslError::IncompleteExchange {
                mechanism: Mechanism::XOAuth2,
            }),
            State::MessageSent | State::ErrorAcknowledged => Ok(()),
        }
    }
}

impl fmt::Debug for XOAuth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XOAuth2Client")
            .field("username", &self.username)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::auth::{sasl_vectors, BASE64};

    const TOKEN: &str = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg";

    fn client() -> XOAuth2Client {
        XOAuth2Client::new(&Credentials::bearer_token("someuser@example.com", TOKEN)).unwrap()
    }

    #[test]
    fn vectors_match() {
        let vectors = sasl_vectors();
        let cases = vectors["xoauth2"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let credentials = Credentials::bearer_token(
                case["user"].as_str().unwrap(),
                case["token"].as_str().unwrap(),
            );
            let mut client = XOAuth2Client::new(&credentials).unwrap();
            let initial = client.initial_response().unwrap().unwrap();
            assert_eq!(
                initial.as_slice(),
                case["message"].as_str().unwrap().as_bytes()
            );
            assert_eq!(
                BASE64.encode(initial.as_slice()),
                case["message_b64"].as_str().unwrap()
            );
            client.finish(None).unwrap();
        }
    }

    #[test]
    fn error_challenge_gets_empty_answer_and_note() {
        let mut client = client();
        client.initial_response().unwrap();
        let step = client
            .respond(br#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#)
            .unwrap();
        assert!(step.response.is_empty());
        let note = step.note.unwrap();
        assert!(note.contains("status 401"), "{note}");
        assert!(note.contains("XOAUTH2"), "{note}");
        assert!(!note.contains(TOKEN));
        assert!(matches!(
            client.respond(b"{}"),
            Err(SaslError::UnexpectedChallenge {
                mechanism: Mechanism::XOAuth2
            })
        ));
    }

    #[test]
    fn binary_error_challenge_is_not_echoed() {
        let mut client = client();
        client.initial_response().unwrap();
        let step = client.respond(b"\x00\x01\xfe").unwrap();
        assert!(step.response.is_empty());
        assert!(step.note.unwrap().contains("not printable"));
    }

    #[test]
    fn message_on_empty_challenge_when_no_initial_response() {
        let mut client = client();
        let step = client.respond(b"").unwrap();
        assert!(step.response.starts_with(b"user=someuser@example.com\x01"));
        let step = client.respond(b"{\"status\":\"400\"}").unwrap();
        assert!(step.response.is_empty());
    }

    #[test]
    fn ctrl_a_in_fields_is_rejected() {
        let error = XOAuth2Client::new(&Credentials::bearer_token("a\u{1}b", "tok")).unwrap_err();
        assert!(matches!(
            error,
            SaslError::InvalidInput {
                field: "username",
                ..
            }
        ));
        let error =
            XOAuth2Client::new(&Credentials::bearer_token("ab", "to\u{1}kSECRET")).unwrap_err();
        assert!(matches!(
            error,
            SaslError::InvalidInput { field: "token", .. }
        ));
        assert!(!error.to_string().contains("SECRET"));
    }

    #[test]
    fn password_is_wrong_secret_kind() {
        assert!(matches!(
            XOAuth2Client::new(&Credentials::password("a", "b")),
            Err(SaslError::WrongSecretKind {
                mechanism: Mechanism::XOAuth2,
                needs: "a bearer token"
            })
        ));
    }

    #[test]
    fn debug_hides_token() {
        assert!(!format!("{:?}", client()).contains(TOKEN));
    }
}
