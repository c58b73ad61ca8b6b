//! The envelope of one message (sender, recipients, size, 8-bit body):
//! what a caller hands to a session, apart from the session itself.

use crate::command;
use crate::error::{Error, Result};

/// The sender and recipients of one message (RFC 5321 envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) size: Option<u64>,
    pub(crate) eight_bit: bool,
}

impl Envelope {
    /// An envelope from `from` (the empty string is the null sender `<>`)
    /// to each address in `to`. Addresses are bare (`user@example.org`,
    /// no angle brackets, no display name) and are checked here: CR, LF,
    /// NUL and RFC 5321 length limits are refused.
    pub fn new<I, S>(from: impl Into<String>, to: I) -> Result<Envelope>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let from = from.into();
        command::validate_address(&from, "sender address", true)?;
        let to: Vec<String> = to.into_iter().map(Into::into).collect();
        if to.is_empty() {
            return Err(Error::invalid("recipient address", "no recipient given"));
        }
        for address in &to {
            command::validate_address(address, "recipient address", false)?;
        }
        Ok(Envelope {
            from,
            to,
            size: None,
            eight_bit: false,
        })
    }

    /// Declares the message size in octets, sent as `SIZE=` when the
    /// server offers SIZE, and checked against the server's limit first.
    pub fn with_size(mut self, size: u64) -> Envelope {
        self.size = Some(size);
        self
    }

    /// Declares that the body has 8-bit content (`BODY=8BITMIME`).
    pub fn with_8bit_body(mut self, eight_bit: bool) -> Envelope {
        self.eight_bit = eight_bit;
        self
    }

    /// The same envelope for other recipients (checked like [`Envelope::new`]).
    pub(crate) fn with_recipients(&self, to: Vec<String>) -> Result<Envelope> {
        let mut other = Envelope::new(self.from.clone(), to)?;
        other.size = self.size;
        other.eight_bit = self.eight_bit;
        Ok(other)
    }

    /// The sender (empty for the null sender).
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The recipients.
    pub fn to(&self) -> &[String] {
        &self.to
    }

    /// True when an address has non-ASCII characters (needs SMTPUTF8).
    pub fn needs_smtputf8(&self) -> bool {
        !self.from.is_ascii() || self.to.iter().any(|a| !a.is_ascii())
    }
}
