//! What the server answered for a message: its reply for each recipient
//! and its reply to the end of the message. Both a successful send
//! ([`SendReport`]) and a refusal ([`Error::RecipientsRefused`]) carry
//! the per-recipient answers.
//!
//! [`Error::RecipientsRefused`]: crate::Error::RecipientsRefused

use crate::reply::Reply;

/// The server's answer for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientResult {
    /// The address as given.
    pub address: String,
    /// The reply to its `RCPT TO`.
    pub reply: Reply,
}

impl RecipientResult {
    /// True when the server accepted this recipient.
    pub fn accepted(&self) -> bool {
        self.reply.is_positive()
    }
}

/// The outcome of a successful send: the message was accepted for the
/// accepted recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// Every recipient, in order, with its reply.
    pub recipients: Vec<RecipientResult>,
    /// The server's reply to the end of the message (often holds a queue id).
    pub reply: Reply,
    /// Extensions the message asked for that the server does not offer
    /// and that were left out as the caller allowed (`"DSN"` with
    /// [`Envelope::with_dsn_if_offered`](crate::Envelope::with_dsn_if_offered),
    /// `"MT-PRIORITY"`); empty when everything asked for was sent.
    pub omitted_extensions: Vec<&'static str>,
}

impl SendReport {
    /// The recipients the server accepted.
    pub fn accepted(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| r.accepted())
    }

    /// The recipients the server refused (the message did not go to them).
    pub fn refused(&self) -> impl Iterator<Item = &RecipientResult> {
        self.recipients.iter().filter(|r| !r.accepted())
    }

    /// True when every recipient was accepted.
    pub fn all_accepted(&self) -> bool {
        self.recipients.iter().all(RecipientResult::accepted)
    }
}
