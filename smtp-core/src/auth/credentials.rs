//! Credentials: a user name with a password or an OAuth 2.0 bearer
//! token, kept out of every `Debug` output and wiped when dropped, and the
//! checks a value must pass before a mechanism may send it.

use std::fmt;

use zeroize::Zeroizing;

use super::*;

pub(super) const SECRET_KIND_PASSWORD: &str = "a password";
pub(super) const SECRET_KIND_TOKEN: &str = "a bearer token";

/// The secret part of [`Credentials`]. `Debug` never shows it; it is
/// wiped from memory when dropped.
#[derive(Clone)]
pub enum Secret {
    /// A password, for SCRAM, CRAM-MD5, PLAIN and LOGIN.
    Password(SecretString),
    /// An OAuth 2.0 access token, for XOAUTH2 and OAUTHBEARER.
    BearerToken(SecretString),
}

impl Secret {
    /// The password or token itself.
    pub fn as_str(&self) -> &str {
        match self {
            Secret::Password(value) | Secret::BearerToken(value) => value.as_str(),
        }
    }

    /// The secret's field name as used in [`SaslError::InvalidInput`].
    pub(super) fn field_name(&self) -> &'static str {
        match self {
            Secret::Password(_) => "password",
            Secret::BearerToken(_) => "token",
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(<redacted>)"),
            Secret::BearerToken(_) => f.write_str("BearerToken(<redacted>)"),
        }
    }
}

/// A password or token: wiped from memory when dropped, `<redacted>` in
/// `Debug` output, and not `Display`, so it is not printed by accident.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `value`; it is wiped when the `SecretString` is dropped.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(value.into()))
    }

    /// The secret text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What the user authenticates with. `Debug` never shows the secret; the
/// secret is zeroized on drop.
#[derive(Clone)]
pub struct Credentials {
    pub(super) username: String,
    pub(super) authzid: Option<String>,
    pub(super) secret: Secret,
}

impl Credentials {
    /// Credentials for the password mechanisms (SCRAM, CRAM-MD5, PLAIN, LOGIN).
    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            authzid: None,
            secret: Secret::Password(SecretString::new(password)),
        }
    }

    /// Credentials for the bearer-token mechanisms (OAUTHBEARER, XOAUTH2).
    pub fn bearer_token(username: impl Into<String>, token: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            authzid: None,
            secret: Secret::BearerToken(SecretString::new(token)),
        }
    }

    /// Acts on behalf of `authzid` (the authorization identity); an empty
    /// string means "none", as in RFC 4616.
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }

    /// The authentication identity.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The authorization identity, if one was set and is not empty.
    pub fn authzid(&self) -> Option<&str> {
        self.authzid
            .as_deref()
            .filter(|authzid| !authzid.is_empty())
    }

    /// The secret (password or bearer token).
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The secret's text, for rebuilding credentials with another user or kind.
    pub(crate) fn secret_text(&self) -> &str {
        self.secret.as_str()
    }

    /// The same user and authorization identity with `token` as a bearer
    /// token (a token provider's current token).
    pub(crate) fn with_bearer_token(&self, token: SecretString) -> Credentials {
        Credentials {
            username: self.username.clone(),
            authzid: self.authzid.clone(),
            secret: Secret::BearerToken(token),
        }
    }

    /// Whether the secret is a bearer token rather than a password.
    pub fn is_bearer_token(&self) -> bool {
        matches!(self.secret, Secret::BearerToken(_))
    }

    /// Checks that every field can be carried by the mechanisms.
    ///
    /// Rejects NUL, CR and LF in the username, authzid and secret, and an
    /// empty username or secret, with [`SaslError::InvalidInput`]; the reason
    /// never contains the value. Characters that SCRAM must escape (`,` and
    /// `=`) are fine: the SCRAM mechanism escapes them.
    pub fn validate(&self) -> Result<(), SaslError> {
        check_required("username", &self.username)?;
        if let Some(authzid) = &self.authzid {
            check_line_safe("authzid", authzid)?;
        }
        check_required(self.secret.field_name(), self.secret.as_str())
    }

    /// The username and password for `mechanism`, checked:
    /// [`SaslError::WrongSecretKind`] if these credentials hold a token,
    /// [`SaslError::InvalidInput`] if a field cannot be sent.
    pub(super) fn user_password(&self, mechanism: Mechanism) -> Result<UserPassword, SaslError> {
        let password = self.password_for(mechanism)?;
        self.validate()?;
        Ok(UserPassword {
            username: self.username.clone(),
            password: password.clone(),
        })
    }

    /// The password, or `WrongSecretKind` if these credentials hold a token.
    pub(super) fn password_for(
        &self,
        mechanism: Mechanism,
    ) -> Result<&Zeroizing<String>, SaslError> {
        match &self.secret {
            Secret::Password(password) => Ok(&password.0),
            Secret::BearerToken(_) => Err(SaslError::WrongSecretKind {
                mechanism,
                needs: SECRET_KIND_PASSWORD,
            }),
        }
    }

    /// The token, or `WrongSecretKind` if these credentials hold a password.
    pub(super) fn token_for(&self, mechanism: Mechanism) -> Result<&Zeroizing<String>, SaslError> {
        match &self.secret {
            Secret::BearerToken(token) => Ok(&token.0),
            Secret::Password(_) => Err(SaslError::WrongSecretKind {
                mechanism,
                needs: SECRET_KIND_TOKEN,
            }),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("authzid", &self.authzid)
            .field("secret", &self.secret)
            .finish()
    }
}

/// A username and password as the password mechanisms keep them: the
/// password wiped on drop and left out of `Debug`.
pub(super) struct UserPassword {
    pub(super) username: String,
    pub(super) password: Zeroizing<String>,
}

impl fmt::Debug for UserPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPassword")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

fn check_required(field: &'static str, value: &str) -> Result<(), SaslError> {
    if value.is_empty() {
        return Err(SaslError::InvalidInput {
            field,
            reason: "is empty".to_owned(),
        });
    }
    check_line_safe(field, value)
}

/// Rejects the bytes that would end or corrupt a SASL message or SMTP line.
fn check_line_safe(field: &'static str, value: &str) -> Result<(), SaslError> {
    let reason = if value.contains('\0') {
        "contains a NUL byte, which separates fields in SASL messages"
    } else if value.contains('\r') {
        "contains a carriage return (CR), which would end the SMTP line"
    } else if value.contains('\n') {
        "contains a line feed (LF), which would end the SMTP line"
    } else {
        return Ok(());
    };
    Err(SaslError::InvalidInput {
        field,
        reason: reason.to_owned(),
    })
}

/// Rejects Ctrl-A (0x01), the field separator of XOAUTH2 and OAUTHBEARER.
pub(super) fn check_no_ctrl_a(
    mechanism: Mechanism,
    field: &'static str,
    value: &str,
) -> Result<(), SaslError> {
    if value.contains('\u{1}') {
        return Err(SaslError::InvalidInput {
            field,
            reason: format!("contains a Ctrl-A (0x01) byte, which separates {mechanism} fields"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tests::{password, token};

    #[test]
    fn validate_accepts_ordinary_credentials() {
        password().validate().unwrap();
        token().validate().unwrap();
        Credentials::password("us,er=x", "p,a=ss")
            .with_authzid("admin")
            .validate()
            .unwrap();
        Credentials::password("user", "pw")
            .with_authzid("")
            .validate()
            .unwrap();
    }

    #[test]
    fn validate_rejects_nul_cr_lf_without_echoing() {
        let bad_values = ["bad\0VALUE-xyz", "bad\rVALUE-xyz", "bad\nVALUE-xyz"];
        for bad in bad_values {
            let cases = [
                ("username", Credentials::password(bad, "pw")),
                (
                    "authzid",
                    Credentials::password("user", "pw").with_authzid(bad),
                ),
                ("password", Credentials::password("user", bad)),
                ("token", Credentials::bearer_token("user", bad)),
                ("username", Credentials::bearer_token(bad, "tok")),
            ];
            for (field, credentials) in cases {
                let error = credentials.validate().unwrap_err();
                match &error {
                    SaslError::InvalidInput {
                        field: reported,
                        reason,
                    } => {
                        assert_eq!(*reported, field);
                        assert!(!reason.contains("VALUE-xyz"));
                    }
                    other => panic!("unexpected {other:?}"),
                }
                let message = error.to_string();
                assert!(
                    message.starts_with(&format!("invalid {field}: ")),
                    "{message}"
                );
                assert!(!message.contains("VALUE-xyz"), "{message}");
                assert!(!format!("{error:?}").contains("VALUE-xyz"));
            }
        }
    }

    #[test]
    fn validate_rejects_empty_username_and_secret() {
        for (field, credentials) in [
            ("username", Credentials::password("", "pw")),
            ("password", Credentials::password("user", "")),
            ("token", Credentials::bearer_token("user", "")),
        ] {
            let error = credentials.validate().unwrap_err();
            assert!(
                matches!(error, SaslError::InvalidInput { field: f, .. } if f == field),
                "{error:?}"
            );
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let credentials = Credentials::password("alice", "S3cr3t-pa55").with_authzid("bob");
        let debug = format!("{credentials:?}");
        assert!(debug.contains("alice") && debug.contains("bob"));
        assert!(!debug.contains("S3cr3t-pa55"), "{debug}");
        assert!(!format!("{:?}", credentials.secret()).contains("S3cr3t"));
        assert!(!format!("{:#?}", credentials).contains("S3cr3t"));

        let credentials = Credentials::bearer_token("alice", "ya29.T0KEN");
        let debug = format!("{credentials:?}");
        assert!(!debug.contains("T0KEN"), "{debug}");
        assert!(debug.contains("BearerToken(<redacted>)"));

        let step = SaslStep::new(Zeroizing::new(b"S3cr3t".to_vec())).with_note("hello");
        let debug = format!("{step:?}");
        assert!(
            !debug.contains("S3cr3t") && debug.contains("hello"),
            "{debug}"
        );
    }

    #[test]
    fn accessors() {
        let credentials = Credentials::password("alice", "pw").with_authzid("bob");
        assert_eq!(credentials.username(), "alice");
        assert_eq!(credentials.authzid(), Some("bob"));
        assert!(!credentials.is_bearer_token());
        assert!(matches!(credentials.secret(), Secret::Password(p) if p.as_str() == "pw"));
        assert_eq!(credentials.secret().as_str(), "pw");
        let token = Credentials::bearer_token("a", "t0k");
        assert!(matches!(token.secret(), Secret::BearerToken(t) if t.as_str() == "t0k"));
        assert_eq!(token.secret().as_str(), "t0k");
        assert_eq!(format!("{:?}", SecretString::new("t0k")), "<redacted>");
        assert!(Credentials::bearer_token("a", "t").is_bearer_token());
        assert_eq!(
            Credentials::password("a", "b").with_authzid("").authzid(),
            None
        );
    }
}
