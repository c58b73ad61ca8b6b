//! XOAUTH2 (Google / Microsoft): one message,
//! `user={user}^Aauth=Bearer {token}^A^A`.
//!
//! On failure the server sends a 334 challenge holding a JSON error; the
//! client must answer it with an empty response, after which the server
//! fails the AUTH command.

use super::bearer::{BearerClient, BearerExchange};
use super::credentials::check_no_ctrl_a;
use super::{Credentials, Mechanism, SaslError};

/// The client side of XOAUTH2.
#[derive(Debug)]
pub struct XOAuth2Client {
    exchange: BearerExchange,
}

impl XOAuth2Client {
    /// Builds an XOAUTH2 client; needs bearer-token credentials. XOAUTH2 has
    /// no authorization identity, so an authzid is ignored.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        let token = credentials.token_for(Mechanism::XOAuth2)?;
        credentials.validate()?;
        check_no_ctrl_a(Mechanism::XOAuth2, "username", &credentials.username)?;
        check_no_ctrl_a(Mechanism::XOAuth2, "token", token)?;
        let prefix = format!("user={}", credentials.username);
        Ok(XOAuth2Client {
            // The error challenge is answered with an empty response.
            exchange: BearerExchange::new(Self::MECHANISM, prefix, token, b""),
        })
    }
}

impl BearerClient for XOAuth2Client {
    const MECHANISM: Mechanism = Mechanism::XOAuth2;

    fn exchange(&mut self) -> &mut BearerExchange {
        &mut self.exchange
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::auth::SaslMechanism;
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
