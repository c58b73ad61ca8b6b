//! OAUTHBEARER (RFC 7628): one message,
//! `n,a={authzid},^Aauth=Bearer {token}^A^A`.
//!
//! On failure the server sends a 334 challenge holding a JSON error; the
//! client must answer it with a single `^A` (kvsep), after which the server
//! fails the AUTH command (RFC 7628 section 3.2.3).

use super::bearer::{BearerClient, BearerExchange};
use super::credentials::check_no_ctrl_a;
use super::{escape_saslname, Credentials, Mechanism, SaslError};

/// The client side of OAUTHBEARER.
#[derive(Debug)]
pub struct OAuthBearerClient {
    /// Its message starts with the GS2 header, `n,a={authzid},`.
    exchange: BearerExchange,
}

impl OAuthBearerClient {
    /// Builds an OAUTHBEARER client; needs bearer-token credentials. The
    /// authorization identity sent is the authzid if set, else the username.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        let token = credentials.token_for(Mechanism::OAuthBearer)?;
        credentials.validate()?;
        let (field, authzid) = match credentials.authzid() {
            Some(authzid) => ("authzid", authzid),
            None => ("username", credentials.username()),
        };
        check_no_ctrl_a(Mechanism::OAuthBearer, field, authzid)?;
        check_no_ctrl_a(Mechanism::OAuthBearer, "token", token)?;
        let gs2_header = format!("n,a={},", escape_saslname(authzid));
        Ok(OAuthBearerClient {
            // The error challenge is answered with a single kvsep.
            exchange: BearerExchange::new(Self::MECHANISM, gs2_header, token, b"\x01"),
        })
    }
}

impl BearerClient for OAuthBearerClient {
    const MECHANISM: Mechanism = Mechanism::OAuthBearer;

    fn exchange(&mut self) -> &mut BearerExchange {
        &mut self.exchange
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::SaslMechanism;

    const TOKEN: &str = "vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg==";

    fn client() -> OAuthBearerClient {
        OAuthBearerClient::new(&Credentials::bearer_token("user@example.com", TOKEN)).unwrap()
    }

    #[test]
    fn initial_response_format() {
        let mut client = client();
        let initial = client.initial_response().unwrap().unwrap();
        assert_eq!(
            initial.as_slice(),
            format!("n,a=user@example.com,\x01auth=Bearer {TOKEN}\x01\x01").as_bytes()
        );
        client.finish(None).unwrap();
    }

    #[test]
    fn authzid_is_escaped_and_preferred() {
        let mut client =
            OAuthBearerClient::new(&Credentials::bearer_token("we,ird=name", "tok")).unwrap();
        let initial = client.initial_response().unwrap().unwrap();
        assert!(initial.starts_with(b"n,a=we=2Cird=3Dname,\x01auth=Bearer tok"));

        let credentials = Credentials::bearer_token("user", "tok").with_authzid("boss");
        let mut client = OAuthBearerClient::new(&credentials).unwrap();
        let initial = client.initial_response().unwrap().unwrap();
        assert!(initial.starts_with(b"n,a=boss,\x01"));
    }

    #[test]
    fn error_challenge_gets_kvsep_then_unexpected() {
        let mut client = client();
        client.initial_response().unwrap();
        let step = client
            .respond(br#"{"status":"invalid_token","scope":"example_scope","openid-configuration":"https://example.com/.well-known/openid-configuration"}"#)
            .unwrap();
        assert_eq!(step.response.as_slice(), b"\x01");
        let note = step.note.unwrap();
        assert!(note.contains("status invalid_token"), "{note}");
        assert!(!note.contains(TOKEN));
        assert!(matches!(
            client.respond(b"{}"),
            Err(SaslError::UnexpectedChallenge {
                mechanism: Mechanism::OAuthBearer
            })
        ));
    }

    #[test]
    fn message_on_empty_challenge_when_no_initial_response() {
        let mut client = client();
        let step = client.respond(b"").unwrap();
        assert!(step.response.starts_with(b"n,a=user@example.com,\x01"));
        assert!(matches!(
            client.initial_response(),
            Err(SaslError::OutOfOrder { .. })
        ));
    }

    #[test]
    fn password_is_wrong_secret_kind() {
        assert!(matches!(
            OAuthBearerClient::new(&Credentials::password("a", "b")),
            Err(SaslError::WrongSecretKind {
                mechanism: Mechanism::OAuthBearer,
                ..
            })
        ));
    }

    #[test]
    fn ctrl_a_is_rejected() {
        assert!(matches!(
            OAuthBearerClient::new(&Credentials::bearer_token("a", "t\u{1}k")),
            Err(SaslError::InvalidInput { field: "token", .. })
        ));
        assert!(matches!(
            OAuthBearerClient::new(&Credentials::bearer_token("a\u{1}", "tk")),
            Err(SaslError::InvalidInput {
                field: "username",
                ..
            })
        ));
    }

    #[test]
    fn debug_hides_token() {
        assert!(!format!("{:?}", client()).contains(TOKEN));
    }
}
