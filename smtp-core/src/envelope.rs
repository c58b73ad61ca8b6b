//! The envelope of one message (sender, recipients, size, 8-bit body,
//! and the extension parameters: DSN, REQUIRETLS, MT-PRIORITY): what a
//! caller hands to a session, apart from the session itself.

use crate::command;
use crate::dsn::{self, DsnReturn, Extensions, Notify, RecipientParams};
use crate::error::{Error, Result};
use crate::message::same_address;

/// The sender and recipients of one message (RFC 5321 envelope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
    pub(crate) size: Option<u64>,
    pub(crate) eight_bit: bool,
    pub(crate) ext: Extensions,
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
            ext: Extensions::default(),
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
        other.ext = Extensions {
            recipients: Vec::new(),
            ..self.ext.clone()
        };
        if !self.ext.recipients.is_empty() {
            other.ext.recipients = other
                .to
                .iter()
                .map(|a| self.recipient_params(a).cloned().unwrap_or_default())
                .collect();
        }
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

    /// Asks for the whole message (`RET=FULL`) or its header
    /// (`RET=HDRS`) in delivery status notifications (RFC 3461).
    pub fn with_dsn_return(mut self, ret: DsnReturn) -> Envelope {
        self.ext.ret = Some(ret);
        self
    }

    /// Sets the envelope identifier (`ENVID`, RFC 3461) that delivery
    /// status notifications carry back. Any text: `+`, `=`, controls and
    /// non-ASCII characters are xtext-escaped; at most 100 characters once
    /// escaped.
    pub fn with_envelope_id(mut self, id: &str) -> Result<Envelope> {
        self.ext.envid = Some(dsn::encode_envelope_id(id)?);
        Ok(self)
    }

    /// Asks for notifications (`NOTIFY`) for every recipient.
    /// [`Notify::NEVER`] combined with another is refused.
    pub fn with_notify(mut self, notify: Notify) -> Result<Envelope> {
        let notify = notify.checked()?;
        self.recipient_slots();
        for params in &mut self.ext.recipients {
            params.notify = Some(notify);
        }
        Ok(self)
    }

    /// Asks for notifications for one recipient (every occurrence of
    /// `address` among the recipients).
    pub fn with_recipient_notify(mut self, address: &str, notify: Notify) -> Result<Envelope> {
        let notify = notify.checked()?;
        for params in self.params_for(address)? {
            params.notify = Some(notify);
        }
        Ok(self)
    }

    /// Gives the original recipient (`ORCPT`, RFC 3461) of `address`:
    /// the address the message was first sent to, before forwarding or
    /// alias expansion. Sent as `rfc822;` xtext, or in RFC 6533's 7-bit
    /// `utf-8;` form for a non-ASCII address.
    pub fn with_original_recipient(mut self, address: &str, original: &str) -> Result<Envelope> {
        let orcpt = dsn::encode_original_recipient(original)?;
        for params in self.params_for(address)? {
            params.orcpt = Some(orcpt.clone());
        }
        Ok(self)
    }

    /// With `true`, a server that does not offer DSN gets the message
    /// without the DSN parameters, and the send report lists `DSN` among
    /// the omitted extensions. By default such a send fails with
    /// [`Error::Unsupported`] before anything is sent.
    pub fn with_dsn_if_offered(mut self, on: bool) -> Envelope {
        self.ext.dsn_if_offered = on;
        self
    }

    /// `REQUIRETLS` (RFC 8689): the message must travel over TLS all the
    /// way. Refused before anything is sent unless the session is TLS and
    /// the server offers REQUIRETLS.
    pub fn with_require_tls(mut self, on: bool) -> Envelope {
        self.ext.require_tls = on;
        self
    }

    /// `MT-PRIORITY` (RFC 6710), -9 (lowest) to 9, sent when the server
    /// offers it and otherwise left out (the send report says so).
    pub fn with_priority(mut self, priority: i8) -> Result<Envelope> {
        self.ext.priority = Some(dsn::check_priority(priority)?);
        Ok(self)
    }

    /// The `RET` asked for.
    pub fn dsn_return(&self) -> Option<DsnReturn> {
        self.ext.ret
    }

    /// The envelope identifier as sent (xtext-encoded).
    pub fn envelope_id(&self) -> Option<&str> {
        self.ext.envid.as_deref()
    }

    /// The `NOTIFY` and `ORCPT` parameters of a recipient, if any.
    pub fn recipient_params(&self, address: &str) -> Option<&RecipientParams> {
        let i = self.to.iter().position(|a| same_address(a, address))?;
        self.ext.recipients.get(i)
    }

    /// True when `REQUIRETLS` is asked for.
    pub fn requires_tls(&self) -> bool {
        self.ext.require_tls
    }

    /// The `MT-PRIORITY` asked for.
    pub fn priority(&self) -> Option<i8> {
        self.ext.priority
    }

    /// One parameter slot per recipient.
    fn recipient_slots(&mut self) {
        if self.ext.recipients.len() != self.to.len() {
            self.ext.recipients = vec![RecipientParams::default(); self.to.len()];
        }
    }

    /// The parameter slots of every occurrence of `address`.
    fn params_for(&mut self, address: &str) -> Result<Vec<&mut RecipientParams>> {
        if !self.to.iter().any(|a| same_address(a, address)) {
            return Err(Error::invalid(
                "recipient address",
                "not one of the envelope's recipients".to_string(),
            ));
        }
        self.recipient_slots();
        let to = &self.to;
        Ok(self
            .ext
            .recipients
            .iter_mut()
            .zip(to.iter())
            .filter(|(_, a)| same_address(a, address))
            .map(|(p, _)| p)
            .collect())
    }
}
