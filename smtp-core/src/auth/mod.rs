//! SASL client mechanisms for SMTP AUTH (RFC 4954).
//!
//! Each mechanism lives in its own file and implements [`SaslMechanism`];
//! this module holds the shared types, the selection policy
//! ([`select_mechanism`]) and the factory ([`new_mechanism`]).
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

mod cram_md5;
mod credentials;
mod login;
mod oauthbearer;
mod plain;
mod scram;
mod xoauth2;

pub use cram_md5::CramMd5Client;
use credentials::check_no_ctrl_a;
pub use credentials::{Credentials, Secret};
use credentials::{SECRET_KIND_PASSWORD, SECRET_KIND_TOKEN};
pub use login::LoginClient;
pub use oauthbearer::OAuthBearerClient;
pub use plain::PlainClient;
pub use scram::{ScramClient, ScramHash, ScramSha1Client, ScramSha256Client, MAX_SCRAM_ITERATIONS};
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

/// Why authentication could not proceed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A credential field (or a test nonce) cannot be used; `reason` never
    /// contains the value.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// "username", "authzid", "password", "token" or "nonce".
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// No mechanism offered by the server works with these credentials.
    #[error("{}", describe_no_compatible(.offered, .usable))]
    NoCompatibleMechanism {
        /// The server's AUTH list, as received.
        offered: Vec<String>,
        /// The mechanisms this client could use with the given credentials.
        usable: Vec<&'static str>,
    },

    /// The forced mechanism is not in the server's AUTH list.
    #[error(
        "mechanism {mechanism} was requested but the server does not offer it (the server offers: {})",
        describe_offered(.offered)
    )]
    NotOffered {
        /// The mechanism that was asked for.
        mechanism: Mechanism,
        /// The server's AUTH list, as received.
        offered: Vec<String>,
    },

    /// The mechanism needs the other kind of secret.
    #[error(
        "mechanism {mechanism} authenticates with {needs}, but {} was given",
        other_secret_kind(.needs)
    )]
    WrongSecretKind {
        /// The mechanism that was asked for.
        mechanism: Mechanism,
        /// "a password" or "a bearer token".
        needs: &'static str,
    },

    /// The server's challenge does not follow the mechanism's syntax.
    #[error("malformed {mechanism} challenge from the server: {reason}")]
    MalformedChallenge {
        /// The mechanism in progress.
        mechanism: Mechanism,
        /// What is wrong with the challenge.
        reason: String,
    },

    /// The server sent a challenge after the mechanism's last step.
    #[error(
        "unexpected {mechanism} challenge: the client has nothing more to send, so the server is not following the mechanism"
    )]
    UnexpectedChallenge {
        /// The mechanism in progress.
        mechanism: Mechanism,
    },

    /// The SCRAM server signature is wrong: the server does not know the
    /// password (or the exchange was tampered with).
    #[error(
        "the server's SCRAM signature is wrong: it does not prove knowledge of the password (possible impersonation); aborting authentication"
    )]
    ServerSignatureMismatch,

    /// The server accepted authentication without proving it knows the
    /// password.
    #[error(
        "the server reported {mechanism} success without sending a valid server signature, so it never proved it knows the password; not trusting it"
    )]
    ServerNotVerified {
        /// The mechanism in progress.
        mechanism: Mechanism,
    },

    /// The server reported an error inside the mechanism (SCRAM `e=`).
    #[error("the server rejected {mechanism} authentication: {message}")]
    ServerError {
        /// The mechanism in progress.
        mechanism: Mechanism,
        /// The server's message (printable ASCII only), possibly with a hint.
        message: String,
    },

    /// The name is not a mechanism this client implements.
    #[error(
        "unknown SASL mechanism {0:?}; supported: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN, XOAUTH2, OAUTHBEARER"
    )]
    UnknownMechanism(String),

    /// The server reported success before the mechanism sent everything.
    #[error(
        "the server reported {mechanism} success before the client finished the exchange; not trusting it"
    )]
    IncompleteExchange {
        /// The mechanism in progress.
        mechanism: Mechanism,
    },

    /// The session called the mechanism's methods in the wrong order.
    #[error("{mechanism} exchange driven out of order: {reason}")]
    OutOfOrder {
        /// The mechanism in progress.
        mechanism: Mechanism,
        /// Which call was wrong.
        reason: &'static str,
    },

    /// The operating system's random generator or a cryptographic primitive
    /// failed.
    #[error("internal {mechanism} failure: {reason}")]
    Internal {
        /// The mechanism in progress.
        mechanism: Mechanism,
        /// What failed.
        reason: String,
    },
}

fn other_secret_kind(needs: &str) -> &'static str {
    if needs == SECRET_KIND_PASSWORD {
        SECRET_KIND_TOKEN
    } else {
        SECRET_KIND_PASSWORD
    }
}

fn describe_offered(offered: &[String]) -> String {
    if offered.is_empty() {
        return "nothing".to_owned();
    }
    offered
        .iter()
        .map(|name| printable_server_text(name, 40))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_no_compatible(offered: &[String], usable: &[&'static str]) -> String {
    let is_bearer = usable
        .iter()
        .any(|name| Mechanism::from_name(name).is_some_and(Mechanism::uses_bearer_token));
    let given = if is_bearer {
        SECRET_KIND_TOKEN
    } else {
        SECRET_KIND_PASSWORD
    };
    let usable_list = usable.join(", ");
    if offered.is_empty() {
        return format!(
            "no usable AUTH mechanism: the server offers none (is AUTH missing from its EHLO reply? \
             some servers offer AUTH only after STARTTLS); with {given} this client can use {usable_list}"
        );
    }
    let offered_list = describe_offered(offered);
    let mut message = if offered.len() == 1 {
        format!(
            "no usable AUTH mechanism: the server offers {offered_list} only but {given} was given"
        )
    } else {
        format!(
            "no usable AUTH mechanism: the server offers only {offered_list} but {given} was given"
        )
    };
    message.push_str(&format!("; with {given} this client can use {usable_list}"));
    let offers_other_kind = offered.iter().any(|name| {
        Mechanism::from_name(name)
            .is_some_and(|mechanism| mechanism.uses_bearer_token() != is_bearer)
    });
    if offers_other_kind {
        message.push_str(if is_bearer {
            " (the server's mechanisms need a password)"
        } else {
            " (XOAUTH2 and OAUTHBEARER need an OAuth 2.0 bearer token)"
        });
    }
    message
}

/// Server text made safe for messages: printable ASCII only (others become
/// '?'), at most `max_chars` characters.
fn printable_server_text(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.push_str("...");
    }
    out
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

/// The exchange XOAUTH2 and OAUTHBEARER share: one client message, sent as
/// the initial response or after the server's empty challenge; a challenge
/// after it carries the server's JSON error and gets `error_reply`, so that
/// the server can fail the AUTH command.
struct BearerExchange {
    mechanism: Mechanism,
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
    fn new(mechanism: Mechanism, prefix: &[u8], token: &str, error_reply: &'static [u8]) -> Self {
        let mut message = Zeroizing::new(Vec::with_capacity(prefix.len() + token.len() + 16));
        message.extend_from_slice(prefix);
        message.extend_from_slice(b"\x01auth=Bearer ");
        message.extend_from_slice(token.as_bytes());
        message.extend_from_slice(b"\x01\x01");
        BearerExchange {
            mechanism,
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

    fn finish(&self) -> Result<(), SaslError> {
        match self.state {
            BearerState::MessagePending => Err(SaslError::IncompleteExchange {
                mechanism: self.mechanism,
            }),
            BearerState::MessageSent | BearerState::ErrorAcknowledged => Ok(()),
        }
    }
}

impl fmt::Debug for BearerExchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerExchange")
            .field("mechanism", &self.mechanism)
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

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    fn password() -> Credentials {
        Credentials::password("user", "hunter2-secret")
    }

    fn token() -> Credentials {
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
        assert!(Credentials::bearer_token("a", "t").is_bearer_token());
        assert_eq!(
            Credentials::password("a", "b").with_authzid("").authzid(),
            None
        );
    }

    #[test]
    fn saslname_escaping() {
        assert_eq!(escape_saslname("plain"), "plain");
        assert_eq!(escape_saslname("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(escape_saslname("=,"), "=3D=2C");
    }

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
