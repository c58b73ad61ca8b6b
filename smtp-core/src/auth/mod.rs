//! SASL client mechanisms for SMTP AUTH (RFC 4954): the mechanism names,
//! the interface a session drives them through ([`SaslMechanism`]) and
//! the factory ([`new_mechanism`]).
//!
//! Each mechanism lives in its own file; so do the credentials
//! (`credentials.rs`), the selection policy ([`select_mechanism`], in
//! `select.rs`), the errors ([`SaslError`], in `error.rs`) and the
//! exchange XOAUTH2 and OAUTHBEARER share (`bearer.rs`); OAuth 2.0
//! token providers and their cache are in `token.rs`.
//!
//! How a session drives a mechanism:
//!
//! 1. `select_mechanism(&offered, &credentials, forced)` picks a name;
//! 2. `new_mechanism(mechanism, &credentials)` builds the client side;
//! 3. `initial_response()` gives the bytes for the `AUTH` line (or `None`).
//!    A session that decides not to send an initial response (for example
//!    because the line would be too long) simply does not call it: the
//!    mechanism then answers the server's empty `334` with that message;
//! 4. every `334` challenge, base64-decoded, goes to `respond()`;
//! 5. on `235`, `finish()` confirms the exchange is complete from our side
//!    (SCRAM: the server proved it knows the password).
//!
//! No secret (password, token, their base64, derived keys) ever appears in
//! an error message, a `Debug` output or a [`SaslStep::note`].

use std::fmt;
use std::str::FromStr;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use zeroize::Zeroizing;

mod bearer;
mod cram_md5;
mod credentials;
mod error;
mod login;
mod oauthbearer;
mod plain;
mod scram;
mod select;
pub(crate) mod token;
mod xoauth2;

pub use cram_md5::CramMd5Client;
pub use credentials::{Credentials, Secret, SecretString};
use credentials::{SECRET_KIND_PASSWORD, SECRET_KIND_TOKEN};
use error::printable_server_text;
pub use error::SaslError;
pub use login::LoginClient;
pub use oauthbearer::OAuthBearerClient;
pub use plain::PlainClient;
pub use scram::{ScramClient, ScramHash, ScramSha1Client, ScramSha256Client, MAX_SCRAM_ITERATIONS};
pub use select::select_mechanism;
pub use token::{
    is_token_refusal, AccessToken, TokenError, TokenProvider, DEFAULT_TOKEN_REFRESH_MARGIN,
};
pub use xoauth2::XOAuth2Client;

/// A SASL mechanism name we implement.
///
/// Order of preference: ScramSha256 > ScramSha1 > CramMd5 > Plain > Login;
/// XOAuth2 / OAuthBearer only when the credentials are a bearer token
/// (OAuthBearer > XOAuth2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677), without channel binding.
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802), without channel binding.
    ScramSha1,
    /// CRAM-MD5 (RFC 2195).
    CramMd5,
    /// PLAIN (RFC 4616).
    Plain,
    /// LOGIN (draft-murchison-sasl-login).
    Login,
    /// XOAUTH2 (Google / Microsoft OAuth 2.0 bearer token).
    XOAuth2,
    /// OAUTHBEARER (RFC 7628).
    OAuthBearer,
}

impl Mechanism {
    /// Every mechanism this module implements.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::XOAuth2,
        Mechanism::OAuthBearer,
    ];

    /// Mechanisms usable with a password, strongest first.
    pub const PASSWORD_PREFERENCE: [Mechanism; 5] = [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
    ];

    /// Mechanisms usable with a bearer token, preferred first.
    pub const BEARER_PREFERENCE: [Mechanism; 2] = [Mechanism::OAuthBearer, Mechanism::XOAuth2];

    /// The registered SASL name, as used on the `AUTH` line.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a mechanism name, ignoring ASCII case and surrounding spaces.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.name().eq_ignore_ascii_case(name))
    }

    /// Whether this mechanism authenticates with an OAuth 2.0 bearer token
    /// rather than a password.
    pub fn uses_bearer_token(self) -> bool {
        matches!(self, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
    }

    /// Whether the client speaks first (an initial response on the `AUTH` line).
    pub fn sends_initial_response(self) -> bool {
        !matches!(self, Mechanism::Login | Mechanism::CramMd5)
    }

    /// Whether the secret itself travels to the server (only base64-encoded),
    /// so the exchange must only run inside TLS.
    pub fn sends_secret_in_clear(self) -> bool {
        matches!(
            self,
            Mechanism::Plain | Mechanism::Login | Mechanism::XOAuth2 | Mechanism::OAuthBearer
        )
    }

    /// Mechanisms usable with this kind of credentials, preferred first.
    pub fn preference_for(credentials: &Credentials) -> &'static [Mechanism] {
        if credentials.is_bearer_token() {
            &Self::BEARER_PREFERENCE
        } else {
            &Self::PASSWORD_PREFERENCE
        }
    }

    /// The kind of secret this mechanism needs, phrased for error messages.
    fn needed_secret(self) -> &'static str {
        if self.uses_bearer_token() {
            SECRET_KIND_TOKEN
        } else {
            SECRET_KIND_PASSWORD
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = SaslError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Mechanism::from_name(name).ok_or_else(|| SaslError::UnknownMechanism(name.to_owned()))
    }
}

/// One answer to a server challenge.
pub struct SaslStep {
    /// The raw response bytes; the session base64-encodes them.
    pub response: Zeroizing<Vec<u8>>,
    /// An optional remark for the debug transcript; never contains a secret.
    pub note: Option<String>,
}

impl SaslStep {
    /// A step answering with `response` and no note.
    pub fn new(response: Zeroizing<Vec<u8>>) -> Self {
        SaslStep {
            response,
            note: None,
        }
    }

    /// A step answering with an empty response.
    pub fn empty() -> Self {
        SaslStep::new(Zeroizing::new(Vec::new()))
    }

    /// Attaches a note for the debug transcript.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

impl fmt::Debug for SaslStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslStep")
            .field(
                "response",
                &format_args!("<{} bytes redacted>", self.response.len()),
            )
            .field("note", &self.note)
            .finish()
    }
}

/// The client side of one SASL exchange.
pub trait SaslMechanism: Send {
    /// Which mechanism this is.
    fn mechanism(&self) -> Mechanism;

    /// The initial response to send on the AUTH line (raw bytes; `None` =
    /// wait for the first 334). Called once, before any `respond()`.
    fn initial_response(&mut self) -> Result<Option<Zeroizing<Vec<u8>>>, SaslError>;

    /// Answers one decoded 334 challenge (raw bytes after base64 decoding by
    /// the session).
    fn respond(&mut self, challenge: &[u8]) -> Result<SaslStep, SaslError>;

    /// The server said 235. Returns `Err` if the exchange is not complete from
    /// our side (SCRAM: the server signature was never received and verified
    /// => [`SaslError::ServerNotVerified`]). `success_data` is `None` in SMTP
    /// normally.
    fn finish(&mut self, success_data: Option<&[u8]>) -> Result<(), SaslError>;
}

/// Builds the client side of `mechanism` for these credentials.
///
/// Fails if the mechanism needs a password and a token was given (or vice
/// versa), or if the credentials are invalid.
pub fn new_mechanism(
    mechanism: Mechanism,
    credentials: &Credentials,
) -> Result<Box<dyn SaslMechanism>, SaslError> {
    Ok(match mechanism {
        Mechanism::ScramSha256 => Box::new(ScramSha256Client::new(credentials)?),
        Mechanism::ScramSha1 => Box::new(ScramSha1Client::new(credentials)?),
        Mechanism::CramMd5 => Box::new(CramMd5Client::new(credentials)?),
        Mechanism::Plain => Box::new(PlainClient::new(credentials)?),
        Mechanism::Login => Box::new(LoginClient::new(credentials)?),
        Mechanism::XOAuth2 => Box::new(XOAuth2Client::new(credentials)?),
        Mechanism::OAuthBearer => Box::new(OAuthBearerClient::new(credentials)?),
    })
}

/// Escapes a SCRAM / GS2 `saslname`: ',' as "=2C" and '=' as "=3D" (RFC 5802).
fn escape_saslname(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ',' => escaped.push_str("=2C"),
            '=' => escaped.push_str("=3D"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Standard base64 for what we send.
const BASE64: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Standard base64 for what we receive, padding optional because some
/// servers drop it.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[cfg(test)]
fn sasl_vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../testdata/sasl.json"))
        .expect("testdata/sasl.json is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A server's AUTH list.
    pub(super) fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    /// Password credentials; the password is easy to look for in output.
    pub(super) fn password() -> Credentials {
        Credentials::password("user", "hunter2-secret")
    }

    /// Bearer-token credentials; the token is easy to look for in output.
    pub(super) fn token() -> Credentials {
        Credentials::bearer_token("user@example.com", "ya29.secret-token")
    }

    #[test]
    fn mechanism_names_round_trip() {
        for mechanism in Mechanism::ALL {
            assert_eq!(Mechanism::from_name(mechanism.name()), Some(mechanism));
            assert_eq!(
                Mechanism::from_name(&mechanism.name().to_ascii_lowercase()),
                Some(mechanism)
            );
            assert_eq!(mechanism.to_string(), mechanism.name());
            assert_eq!(mechanism.name().parse::<Mechanism>().unwrap(), mechanism);
        }
        assert_eq!(
            Mechanism::from_name(" scram-sha-256 "),
            Some(Mechanism::ScramSha256)
        );
        assert_eq!(Mechanism::from_name("Cram-Md5"), Some(Mechanism::CramMd5));
        assert_eq!(Mechanism::from_name("GSSAPI"), None);
        assert_eq!(Mechanism::from_name(""), None);
        let error = "NTLM".parse::<Mechanism>().unwrap_err();
        assert!(matches!(error, SaslError::UnknownMechanism(ref name) if name == "NTLM"));
        assert!(error.to_string().contains("NTLM"));
    }

    #[test]
    fn mechanism_properties() {
        use Mechanism::*;
        for mechanism in Mechanism::ALL {
            let bearer = matches!(mechanism, XOAuth2 | OAuthBearer);
            assert_eq!(mechanism.uses_bearer_token(), bearer);
            let initial = !matches!(mechanism, Login | CramMd5);
            assert_eq!(mechanism.sends_initial_response(), initial);
        }
        assert!(Plain.sends_secret_in_clear());
        assert!(!ScramSha256.sends_secret_in_clear());
        assert!(!CramMd5.sends_secret_in_clear());
    }

    #[test]
    fn initial_response_presence_matches_mechanism() {
        for mechanism in Mechanism::ALL {
            let credentials = if mechanism.uses_bearer_token() {
                token()
            } else {
                password()
            };
            let mut client = new_mechanism(mechanism, &credentials).unwrap();
            assert_eq!(client.mechanism(), mechanism);
            let initial = client.initial_response().unwrap();
            assert_eq!(
                initial.is_some(),
                mechanism.sends_initial_response(),
                "{mechanism}"
            );
        }
    }

    #[test]
    fn new_mechanism_rejects_wrong_secret_kind() {
        for mechanism in Mechanism::ALL {
            let wrong = if mechanism.uses_bearer_token() {
                password()
            } else {
                token()
            };
            let error = new_mechanism(mechanism, &wrong).err().unwrap();
            assert!(
                matches!(error, SaslError::WrongSecretKind { mechanism: m, .. } if m == mechanism),
                "{mechanism}: {error}"
            );
            let message = error.to_string();
            assert!(!message.contains("secret-token") && !message.contains("hunter2"));
        }
    }

    #[test]
    fn new_mechanism_rejects_invalid_credentials() {
        for mechanism in Mechanism::ALL {
            let credentials = if mechanism.uses_bearer_token() {
                Credentials::bearer_token("user\r\n", "tok")
            } else {
                Credentials::password("user\r\n", "pw")
            };
            let error = new_mechanism(mechanism, &credentials).err().unwrap();
            assert!(
                matches!(
                    error,
                    SaslError::InvalidInput {
                        field: "username",
                        ..
                    }
                ),
                "{mechanism}: {error}"
            );
        }
    }

    #[test]
    fn saslname_escaping() {
        assert_eq!(escape_saslname("plain"), "plain");
        assert_eq!(escape_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(escape_saslname("=,"), "=3D=2C");
    }

    fn credentials_for(mechanism: Mechanism) -> Credentials {
        if mechanism.uses_bearer_token() {
            token()
        } else {
            password()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Arbitrary server bytes never panic any mechanism, and the exchange
        /// stays bounded: at most a few challenges are ever answered.
        #[test]
        fn arbitrary_challenges_never_panic(
            challenges in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..6),
            send_initial in any::<bool>(),
            success_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..60)),
        ) {
            for mechanism in Mechanism::ALL {
                let mut client = new_mechanism(mechanism, &credentials_for(mechanism)).unwrap();
                if send_initial {
                    let _ = client.initial_response();
                }
                let mut answered = 0;
                for challenge in &challenges {
                    if client.respond(challenge).is_ok() {
                        answered += 1;
                    }
                }
                prop_assert!(answered <= 3, "{} answered {} challenges", mechanism, answered);
                let _ = client.finish(success_data.as_deref());
            }
        }

        /// Arbitrary text challenges never make an error or note leak a secret.
        #[test]
        fn errors_and_notes_never_leak_secrets(
            challenges in prop::collection::vec("\\PC{0,80}", 1..5),
        ) {
            for mechanism in Mechanism::ALL {
                let mut client = new_mechanism(mechanism, &credentials_for(mechanism)).unwrap();
                let _ = client.initial_response();
                for challenge in &challenges {
                    let text = match client.respond(challenge.as_bytes()) {
                        Ok(step) => step.note.unwrap_or_default(),
                        Err(error) => format!("{error} {error:?}"),
                    };
                    prop_assert!(!text.contains("hunter2") && !text.contains("secret-token"));
                }
            }
        }
    }
}
