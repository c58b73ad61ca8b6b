//! CRAM-MD5 (RFC 2195): one challenge, answered with
//! `username SP lowercase-hex(HMAC-MD5(key = password, challenge))`.

use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use md5::Md5;
use zeroize::Zeroizing;

use super::credentials::UserPassword;
use super::error::complete_if;
use super::{Credentials, Mechanism, SaslError, SaslMechanism, SaslStep};

type HmacMd5 = Hmac<Md5>;

/// The client side of CRAM-MD5.
#[derive(Debug)]
pub struct CramMd5Client {
    login: UserPassword,
    responded: bool,
}

impl CramMd5Client {
    /// Builds a CRAM-MD5 client; needs password credentials. CRAM-MD5 has no
    /// authorization identity, so an authzid is ignored.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        Ok(CramMd5Client {
            login: credentials.user_password(Mechanism::CramMd5)?,
            responded: false,
        })
    }

    fn digest_hex(&self, challenge: &[u8]) -> Result<Zeroizing<String>, SaslError> {
        let mut mac =
            <HmacMd5 as Mac>::new_from_slice(self.login.password.as_bytes()).map_err(|_| {
                SaslError::Internal {
                    mechanism: Mechanism::CramMd5,
                    reason: "HMAC-MD5 rejected the key".to_owned(),
                }
            })?;
        mac.update(challenge);
        let digest = Zeroizing::new(mac.finalize().into_bytes().to_vec());
        let mut hex = Zeroizing::new(String::with_capacity(digest.len() * 2));
        for byte in digest.iter() {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        Ok(hex)
    }
}

impl SaslMechanism for CramMd5Client {
    fn mechanism(&self) -> Mechanism {
        Mechanism::CramMd5
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(None)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        if self.responded {
            return Err(SaslError::UnexpectedChallenge {
                mechanism: Mechanism::CramMd5,
            });
        }
        if challenge.is_empty() {
            return Err(SaslError::MalformedChallenge {
                mechanism: Mechanism::CramMd5,
                reason: "the challenge is empty; RFC 2195 requires a unique string such as \
                         <1896.697170952@host>"
                    .to_owned(),
            });
        }
        let hex = self.digest_hex(challenge)?;
        let username = self.login.username.as_bytes();
        let mut response = Zeroizing::new(Vec::with_capacity(username.len() + 1 + hex.len()));
        response.extend_from_slice(username);
        response.push(b' ');
        response.extend_from_slice(hex.as_bytes());
        self.responded = true;
        Ok(SaslStep::new(response))
    }

    fn finish(&mut self, _success_data: Option<&[u8]>) -> Result<(), SaslError> {
        complete_if(self.responded, Mechanism::CramMd5)
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
        let cases = vectors["cram_md5"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let credentials = Credentials::password(
                case["user"].as_str().unwrap(),
                case["secret"].as_str().unwrap(),
            );
            let mut client = CramMd5Client::new(&credentials).unwrap();
            assert!(client.initial_response().unwrap().is_none());
            let challenge = case["challenge"].as_str().unwrap().as_bytes().to_vec();
            if let Some(challenge_b64) = case["challenge_b64"].as_str() {
                assert_eq!(BASE64.decode(challenge_b64).unwrap(), challenge);
            }
            let step = client.respond(&challenge).unwrap();
            assert_eq!(
                step.response.as_slice(),
                case["response"].as_str().unwrap().as_bytes(),
                "{}",
                case["source"]
            );
            if let Some(response_b64) = case["response_b64"].as_str() {
                assert_eq!(BASE64.encode(step.response.as_slice()), response_b64);
            }
            client.finish(None).unwrap();
        }
    }

    fn client() -> CramMd5Client {
        CramMd5Client::new(&Credentials::password("tim", "tanstaaftanstaaf")).unwrap()
    }

    #[test]
    fn empty_challenge_is_malformed() {
        assert!(matches!(
            client().respond(b""),
            Err(SaslError::MalformedChallenge {
                mechanism: Mechanism::CramMd5,
                ..
            })
        ));
    }

    #[test]
    fn second_challenge_is_unexpected() {
        let mut client = client();
        client.respond(b"<1.2@host>").unwrap();
        assert!(matches!(
            client.respond(b"<3.4@host>"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn binary_challenge_is_answered() {
        let step = client().respond(b"\x00\xff\x01").unwrap();
        assert_eq!(step.response.len(), "tim ".len() + 32);
    }

    #[test]
    fn finish_without_response_is_incomplete() {
        assert!(matches!(
            client().finish(None),
            Err(SaslError::IncompleteExchange { .. })
        ));
    }

    #[test]
    fn wrong_secret_kind() {
        let error = CramMd5Client::new(&Credentials::bearer_token("tim", "tok")).unwrap_err();
        assert!(matches!(error, SaslError::WrongSecretKind { .. }));
    }
}
