//! PLAIN (RFC 4616): one message, `authzid NUL authcid NUL password`.

use zeroize::Zeroizing;

use super::credentials::UserPassword;
use super::error::complete_if;
use super::{Credentials, Mechanism, SaslError, SaslMechanism, SaslStep};

/// The client side of PLAIN.
#[derive(Debug)]
pub struct PlainClient {
    authzid: String,
    login: UserPassword,
    message_sent: bool,
}

impl PlainClient {
    /// Builds a PLAIN client; needs password credentials.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        Ok(PlainClient {
            authzid: credentials.authzid().unwrap_or_default().to_owned(),
            login: credentials.user_password(Mechanism::Plain)?,
            message_sent: false,
        })
    }

    fn message(&self) -> Zeroizing<Vec<u8>> {
        let UserPassword { username, password } = &self.login;
        let mut message = Zeroizing::new(Vec::with_capacity(
            self.authzid.len() + username.len() + password.len() + 2,
        ));
        message.extend_from_slice(self.authzid.as_bytes());
        message.push(0);
        message.extend_from_slice(username.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        message
    }
}

impl SaslMechanism for PlainClient {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Plain
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        if self.message_sent {
            return Err(SaslError::OutOfOrder {
                mechanism: Mechanism::Plain,
                reason: "initial_response() called after the message was already produced",
            });
        }
        self.message_sent = true;
        Ok(Some(self.message()))
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        if self.message_sent {
            return Err(SaslError::UnexpectedChallenge {
                mechanism: Mechanism::Plain,
            });
        }
        // No initial response was sent, so this is the server's empty "go ahead".
        if !challenge.is_empty() {
            return Err(SaslError::MalformedChallenge {
                mechanism: Mechanism::Plain,
                reason: "expected an empty challenge before the client's message".to_owned(),
            });
        }
        self.message_sent = true;
        Ok(SaslStep::new(self.message()))
    }

    fn finish(&mut self, _success_data: Option<&[u8]>) -> Result<(), SaslError> {
        complete_if(self.message_sent, Mechanism::Plain)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::auth::{sasl_vectors, BASE64};

    #[test]
    fn vectors_match() {
        let vectors = sasl_vectors();
        let cases = vectors["plain"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let credentials = Credentials::password(
                case["authcid"].as_str().unwrap(),
                case["password"].as_str().unwrap(),
            )
            .with_authzid(case["authzid"].as_str().unwrap());
            let mut client = PlainClient::new(&credentials).unwrap();
            let initial = client.initial_response().unwrap().unwrap();
            assert_eq!(
                BASE64.encode(initial.as_slice()),
                case["message_b64"].as_str().unwrap(),
                "{}",
                case["source"]
            );
            if let Some(command) = case["command"].as_str() {
                assert_eq!(
                    format!("AUTH PLAIN {}", BASE64.encode(initial.as_slice())),
                    command
                );
            }
            client.finish(None).unwrap();
        }
    }

    #[test]
    fn challenge_after_message_is_unexpected() {
        let mut client = PlainClient::new(&Credentials::password("tim", "pw")).unwrap();
        client.initial_response().unwrap();
        assert!(matches!(
            client.respond(b""),
            Err(SaslError::UnexpectedChallenge {
                mechanism: Mechanism::Plain
            })
        ));
        assert!(matches!(
            client.respond(b"anything"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn message_on_empty_challenge_when_no_initial_response() {
        let mut client = PlainClient::new(&Credentials::password("tim", "pw")).unwrap();
        let step = client.respond(b"").unwrap();
        assert_eq!(step.response.as_slice(), b"\0tim\0pw");
        assert!(client.respond(b"").is_err());
        client.finish(None).unwrap();

        let mut client = PlainClient::new(&Credentials::password("tim", "pw")).unwrap();
        assert!(matches!(
            client.respond(b"junk"),
            Err(SaslError::MalformedChallenge { .. })
        ));
    }

    #[test]
    fn finish_before_message_is_incomplete() {
        let mut client = PlainClient::new(&Credentials::password("tim", "pw")).unwrap();
        assert!(matches!(
            client.finish(None),
            Err(SaslError::IncompleteExchange { .. })
        ));
    }

    #[test]
    fn initial_response_twice_is_out_of_order() {
        let mut client = PlainClient::new(&Credentials::password("tim", "pw")).unwrap();
        client.initial_response().unwrap();
        assert!(matches!(
            client.initial_response(),
            Err(SaslError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn debug_hides_password() {
        let client = PlainClient::new(&Credentials::password("tim", "S3cret")).unwrap();
        let debug = format!("{client:?}");
        assert!(
            debug.contains("tim") && !debug.contains("S3cret"),
            "{debug}"
        );
    }
}
