//! LOGIN (draft-murchison-sasl-login): the server prompts for the username
//! and the password, one challenge each.
//!
//! Servers word the prompts differently (`Username:`, `User Name`, `login:`,
//! `Password:`...) and a few ask in an unusual order, so the prompt is read
//! rather than trusting the order; an unreadable prompt falls back to the
//! usual order.

use zeroize::Zeroizing;

use super::credentials::UserPassword;
use super::error::complete_if;
use super::{Credentials, Mechanism, SaslError, SaslMechanism, SaslStep};

/// The client side of LOGIN.
#[derive(Debug)]
pub struct LoginClient {
    login: UserPassword,
    username_sent: bool,
    password_sent: bool,
}

/// A field the LOGIN server can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LoginField {
    Username,
    Password,
}

impl LoginField {
    fn label(self) -> &'static str {
        match self {
            LoginField::Username => "username",
            LoginField::Password => "password",
        }
    }
}

/// What a prompt asks for.
#[derive(Debug, PartialEq, Eq)]
enum PromptReading {
    Asks(LoginField),
    NamesBoth,
    NamesNeither,
}

/// Reads a prompt whatever its case, spacing and punctuation: only the
/// letters count.
fn read_prompt(prompt: &[u8]) -> PromptReading {
    let letters: String = prompt
        .iter()
        .filter(|byte| byte.is_ascii_alphabetic())
        .map(|byte| char::from(byte.to_ascii_lowercase()))
        .collect();
    let names_password = letters.contains("pass");
    let names_username =
        letters.contains("user") || letters.contains("login") || letters.contains("name");
    match (names_username, names_password) {
        (true, false) => PromptReading::Asks(LoginField::Username),
        (false, true) => PromptReading::Asks(LoginField::Password),
        (true, true) => PromptReading::NamesBoth,
        (false, false) => PromptReading::NamesNeither,
    }
}

impl LoginClient {
    /// Builds a LOGIN client; needs password credentials. LOGIN has no
    /// authorization identity, so an authzid is ignored.
    pub fn new(credentials: &Credentials) -> Result<Self, SaslError> {
        Ok(LoginClient {
            login: credentials.user_password(Mechanism::Login)?,
            username_sent: false,
            password_sent: false,
        })
    }

    fn is_sent(&self, field: LoginField) -> bool {
        match field {
            LoginField::Username => self.username_sent,
            LoginField::Password => self.password_sent,
        }
    }

    /// The first field not yet sent, in the usual order.
    fn next_by_position(&self) -> Option<LoginField> {
        [LoginField::Username, LoginField::Password]
            .into_iter()
            .find(|&field| !self.is_sent(field))
    }

    fn send(&mut self, field: LoginField) -> Zeroizing<Vec<u8>> {
        match field {
            LoginField::Username => {
                self.username_sent = true;
                Zeroizing::new(self.login.username.as_bytes().to_vec())
            }
            LoginField::Password => {
                self.password_sent = true;
                Zeroizing::new(self.login.password.as_bytes().to_vec())
            }
        }
    }
}

impl SaslMechanism for LoginClient {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Login
    }

    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError> {
        Ok(None)
    }

    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError> {
        let unexpected = SaslError::UnexpectedChallenge {
            mechanism: Mechanism::Login,
        };
        let (field, why) = match read_prompt(challenge) {
            // Each field is answered once: a repeated question is a loop or a
            // failed login the server did not report properly.
            PromptReading::Asks(field) if self.is_sent(field) => return Err(unexpected),
            PromptReading::Asks(field) => (field, None),
            PromptReading::NamesBoth => (
                self.next_by_position().ok_or(unexpected)?,
                Some("named both fields"),
            ),
            PromptReading::NamesNeither => (
                self.next_by_position().ok_or(unexpected)?,
                Some("did not name a field"),
            ),
        };
        let step = SaslStep::new(self.send(field));
        Ok(match why {
            Some(why) => step.with_note(format!(
                "LOGIN prompt {why}; sent the {} by position",
                field.label()
            )),
            None => step,
        })
    }

    fn finish(&mut self, _success_data: Option<&[u8]>) -> Result<(), SaslError> {
        complete_if(self.username_sent && self.password_sent, Mechanism::Login)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::auth::{sasl_vectors, BASE64};

    const USER: &[u8] = b"alice@example.com";
    const PASSWORD: &[u8] = b"correct horse";

    fn login_client() -> LoginClient {
        LoginClient::new(&Credentials::password("alice@example.com", "correct horse")).unwrap()
    }

    #[test]
    fn vector_prompts() {
        let vectors = sasl_vectors();
        let login = &vectors["login"];
        let username_prompt = BASE64
            .decode(login["username_prompt_b64"].as_str().unwrap())
            .unwrap();
        let password_prompt = BASE64
            .decode(login["password_prompt_b64"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            username_prompt,
            login["username_prompt"].as_str().unwrap().as_bytes()
        );
        assert_eq!(
            password_prompt,
            login["password_prompt"].as_str().unwrap().as_bytes()
        );

        let mut client = login_client();
        assert!(client.initial_response().unwrap().is_none());
        let step = client.respond(&username_prompt).unwrap();
        assert_eq!(step.response.as_slice(), USER);
        assert!(step.note.is_none());
        let step = client.respond(&password_prompt).unwrap();
        assert_eq!(step.response.as_slice(), PASSWORD);
        client.finish(None).unwrap();
    }

    #[test]
    fn every_spelling_is_read() {
        let username_prompts: &[&[u8]] = &[
            b"Username:",
            b"User Name",
            b"username",
            b"login:",
            b"USERNAME:",
            b"  user name  ",
            b"Login",
            b"Benutzername:",
        ];
        let password_prompts: &[&[u8]] = &[
            b"Password:",
            b"password",
            b"PASSWORD",
            b"Pass word:",
            b"Passwort:",
        ];
        for prompt in username_prompts {
            assert_eq!(
                read_prompt(prompt),
                PromptReading::Asks(LoginField::Username),
                "{}",
                String::from_utf8_lossy(prompt)
            );
            let mut client = login_client();
            assert_eq!(client.respond(prompt).unwrap().response.as_slice(), USER);
        }
        for prompt in password_prompts {
            assert_eq!(
                read_prompt(prompt),
                PromptReading::Asks(LoginField::Password),
                "{}",
                String::from_utf8_lossy(prompt)
            );
            let mut client = login_client();
            assert_eq!(
                client.respond(prompt).unwrap().response.as_slice(),
                PASSWORD
            );
        }
    }

    #[test]
    fn password_asked_first() {
        let mut client = login_client();
        let step = client.respond(b"Password:").unwrap();
        assert_eq!(step.response.as_slice(), PASSWORD);
        let step = client.respond(b"Username:").unwrap();
        assert_eq!(step.response.as_slice(), USER);
        client.finish(None).unwrap();
    }

    #[test]
    fn unnamed_prompts_fall_back_to_position_with_note() {
        let prompts: &[&[u8]] = &[b"", b"???", b"\x00\xff\x10", b"Kennwort:"];
        for prompt in prompts {
            let mut client = login_client();
            let step = client.respond(prompt).unwrap();
            assert_eq!(step.response.as_slice(), USER);
            assert_eq!(
                step.note.as_deref(),
                Some("LOGIN prompt did not name a field; sent the username by position")
            );
            let step = client.respond(prompt).unwrap();
            assert_eq!(step.response.as_slice(), PASSWORD);
            assert_eq!(
                step.note.as_deref(),
                Some("LOGIN prompt did not name a field; sent the password by position")
            );
            client.finish(None).unwrap();
        }
    }

    #[test]
    fn mixed_named_and_unnamed_prompts() {
        let mut client = login_client();
        assert_eq!(
            client.respond(b"Password:").unwrap().response.as_slice(),
            PASSWORD
        );
        let step = client.respond(b"").unwrap();
        assert_eq!(step.response.as_slice(), USER);
        assert!(step.note.unwrap().contains("username"));
    }

    #[test]
    fn ambiguous_prompt_uses_position() {
        let mut client = login_client();
        let step = client.respond(b"Enter password for user:").unwrap();
        assert_eq!(step.response.as_slice(), USER);
        assert_eq!(
            step.note.as_deref(),
            Some("LOGIN prompt named both fields; sent the username by position")
        );
    }

    #[test]
    fn third_challenge_is_unexpected() {
        for third in [&b"Password:"[..], b"Username:", b"", b"garbage"] {
            let mut client = login_client();
            client.respond(b"Username:").unwrap();
            client.respond(b"Password:").unwrap();
            assert!(
                matches!(
                    client.respond(third),
                    Err(SaslError::UnexpectedChallenge {
                        mechanism: Mechanism::Login
                    })
                ),
                "{}",
                String::from_utf8_lossy(third)
            );
        }
    }

    #[test]
    fn repeated_field_is_unexpected() {
        let mut client = login_client();
        client.respond(b"Password:").unwrap();
        assert!(matches!(
            client.respond(b"Password:"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
        let mut second = login_client();
        second.respond(b"Username:").unwrap();
        assert!(matches!(
            second.respond(b"username"),
            Err(SaslError::UnexpectedChallenge { .. })
        ));
    }

    #[test]
    fn finish_before_both_sent_is_incomplete() {
        let mut client = login_client();
        client.respond(b"Username:").unwrap();
        assert!(matches!(
            client.finish(None),
            Err(SaslError::IncompleteExchange { .. })
        ));
    }

    #[test]
    fn notes_and_debug_never_show_password() {
        let mut client = login_client();
        let first = client.respond(b"").unwrap();
        let second = client.respond(b"").unwrap();
        for note in [first.note, second.note].into_iter().flatten() {
            assert!(!note.contains("correct horse"));
        }
        assert!(!format!("{client:?}").contains("correct horse"));
    }
}
