//! Why a SASL exchange could not proceed: [`SaslError`], and the wording
//! of its messages (server text is made printable, secrets never appear).

use super::credentials::{SECRET_KIND_PASSWORD, SECRET_KIND_TOKEN};
use super::Mechanism;

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
pub(super) fn printable_server_text(text: &str, max_chars: usize) -> String {
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

/// `Ok` when the client finished its part of the exchange, else
/// [`SaslError::IncompleteExchange`]: what `finish()` answers for the
/// mechanisms that do not authenticate the server.
pub(super) fn complete_if(done: bool, mechanism: Mechanism) -> Result<(), SaslError> {
    if done {
        Ok(())
    } else {
        Err(SaslError::IncompleteExchange { mechanism })
    }
}
