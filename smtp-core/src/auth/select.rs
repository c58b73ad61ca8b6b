//! The selection policy: which mechanism to authenticate with, given what
//! the server offers, the kind of secret and an optional forced choice.

use super::{Credentials, Mechanism, SaslError};

/// Chooses the mechanism to authenticate with.
///
/// With `forced`, that mechanism is used if it suits the credentials and the
/// server offers it. Otherwise the strongest mechanism both sides support is
/// chosen: for passwords ScramSha256 > ScramSha1 > CramMd5 > Plain > Login,
/// for bearer tokens OAuthBearer > XOAuth2. `offered` is the server's AUTH
/// list as raw names (compared case-insensitively; unknown names ignored).
pub fn select_mechanism(
    offered: &[String],
    credentials: &Credentials,
    forced: Option<Mechanism>,
) -> Result<Mechanism, SaslError> {
    let is_offered = |mechanism: Mechanism| {
        offered
            .iter()
            .any(|name| Mechanism::from_name(name) == Some(mechanism))
    };
    if let Some(mechanism) = forced {
        if mechanism.uses_bearer_token() != credentials.is_bearer_token() {
            return Err(SaslError::WrongSecretKind {
                mechanism,
                needs: mechanism.needed_secret(),
            });
        }
        if !is_offered(mechanism) {
            return Err(SaslError::NotOffered {
                mechanism,
                offered: offered.to_vec(),
            });
        }
        return Ok(mechanism);
    }
    let preference = Mechanism::preference_for(credentials);
    preference
        .iter()
        .copied()
        .find(|&mechanism| is_offered(mechanism))
        .ok_or_else(|| SaslError::NoCompatibleMechanism {
            offered: offered.to_vec(),
            usable: preference
                .iter()
                .map(|mechanism| mechanism.name())
                .collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tests::{names, password, token};

    #[test]
    fn select_prefers_strongest_password_mechanism() {
        let cases: &[(&[&str], Mechanism)] = &[
            (
                &["LOGIN", "PLAIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"],
                Mechanism::ScramSha256,
            ),
            (
                &["LOGIN", "PLAIN", "CRAM-MD5", "SCRAM-SHA-1"],
                Mechanism::ScramSha1,
            ),
            (&["LOGIN", "PLAIN", "CRAM-MD5"], Mechanism::CramMd5),
            (&["LOGIN", "PLAIN"], Mechanism::Plain),
            (&["PLAIN", "LOGIN"], Mechanism::Plain),
            (&["LOGIN"], Mechanism::Login),
            (&["GSSAPI", "NTLM", "LOGIN", "XOAUTH2"], Mechanism::Login),
            (&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1"], Mechanism::ScramSha1),
            (&["OAUTHBEARER", "XOAUTH2", "PLAIN"], Mechanism::Plain),
        ];
        for (offered, expected) in cases {
            let selected = select_mechanism(&names(offered), &password(), None).unwrap();
            assert_eq!(selected, *expected, "offered {offered:?}");
        }
    }

    #[test]
    fn select_prefers_oauthbearer_for_tokens() {
        let cases: &[(&[&str], Mechanism)] = &[
            (&["XOAUTH2", "OAUTHBEARER", "PLAIN"], Mechanism::OAuthBearer),
            (&["PLAIN", "XOAUTH2", "LOGIN"], Mechanism::XOAuth2),
            (&["oauthbearer"], Mechanism::OAuthBearer),
        ];
        for (offered, expected) in cases {
            let selected = select_mechanism(&names(offered), &token(), None).unwrap();
            assert_eq!(selected, *expected, "offered {offered:?}");
        }
    }

    #[test]
    fn select_compares_names_case_insensitively() {
        let offered = names(&["plain", "Login", "scram-SHA-1"]);
        assert_eq!(
            select_mechanism(&offered, &password(), None).unwrap(),
            Mechanism::ScramSha1
        );
        assert_eq!(
            select_mechanism(&offered, &password(), Some(Mechanism::Login)).unwrap(),
            Mechanism::Login
        );
    }

    #[test]
    fn select_forced_mechanism() {
        let offered = names(&["PLAIN", "LOGIN", "SCRAM-SHA-256"]);
        assert_eq!(
            select_mechanism(&offered, &password(), Some(Mechanism::Plain)).unwrap(),
            Mechanism::Plain
        );
        let error = select_mechanism(&offered, &password(), Some(Mechanism::CramMd5)).unwrap_err();
        match &error {
            SaslError::NotOffered {
                mechanism,
                offered: listed,
            } => {
                assert_eq!(*mechanism, Mechanism::CramMd5);
                assert_eq!(listed, &offered);
            }
            other => panic!("unexpected {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("CRAM-MD5") && message.contains("PLAIN, LOGIN, SCRAM-SHA-256"));
        // Forced but not offered at all: still an error.
        let error = select_mechanism(&[], &password(), Some(Mechanism::Plain)).unwrap_err();
        assert!(matches!(error, SaslError::NotOffered { .. }));
        assert!(error.to_string().contains("nothing"));
    }

    #[test]
    fn select_forced_mechanism_must_match_secret_kind() {
        let offered = names(&["PLAIN", "XOAUTH2"]);
        let error = select_mechanism(&offered, &password(), Some(Mechanism::XOAuth2)).unwrap_err();
        assert!(matches!(
            error,
            SaslError::WrongSecretKind {
                mechanism: Mechanism::XOAuth2,
                needs: "a bearer token"
            }
        ));
        assert_eq!(
            error.to_string(),
            "mechanism XOAUTH2 authenticates with a bearer token, but a password was given"
        );
        let error = select_mechanism(&offered, &token(), Some(Mechanism::Plain)).unwrap_err();
        assert!(matches!(
            error,
            SaslError::WrongSecretKind {
                mechanism: Mechanism::Plain,
                needs: "a password"
            }
        ));
    }

    #[test]
    fn select_password_against_token_only_server() {
        let offered = names(&["XOAUTH2"]);
        let error = select_mechanism(&offered, &password(), None).unwrap_err();
        match &error {
            SaslError::NoCompatibleMechanism {
                offered: listed,
                usable,
            } => {
                assert_eq!(listed, &offered);
                assert_eq!(
                    usable,
                    &vec!["SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        let message = error.to_string();
        assert!(
            message.contains("the server offers XOAUTH2 only but a password was given"),
            "{message}"
        );
        assert!(message.contains("SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN"));
        assert!(message.contains("bearer token"));
    }

    #[test]
    fn select_token_against_password_only_server() {
        let offered = names(&["PLAIN", "LOGIN"]);
        let error = select_mechanism(&offered, &token(), None).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("the server offers only PLAIN, LOGIN but a bearer token was given"),
            "{message}"
        );
        assert!(message.contains("OAUTHBEARER, XOAUTH2"));
    }

    #[test]
    fn select_with_empty_or_unknown_offer() {
        for offered in [names(&[]), names(&["GSSAPI", "NTLM"])] {
            for credentials in [password(), token()] {
                let error = select_mechanism(&offered, &credentials, None).unwrap_err();
                assert!(
                    matches!(error, SaslError::NoCompatibleMechanism { .. }),
                    "{error:?}"
                );
                let message = error.to_string();
                assert!(message.starts_with("no usable AUTH mechanism"), "{message}");
            }
        }
        let message = select_mechanism(&[], &password(), None)
            .unwrap_err()
            .to_string();
        assert!(message.contains("offers none"), "{message}");
    }
}
