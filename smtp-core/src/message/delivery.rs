//! The delivery options a composed message carries to its envelope:
//! delivery status notifications (RFC 3461), REQUIRETLS (RFC 8689) and
//! MT-PRIORITY (RFC 6710). Checked when set; applied when the envelope
//! is made.

use super::address::wire_address;
use super::Message;
use crate::dsn::{self, DsnReturn, Notify};
use crate::error::Result;
use crate::Envelope;

/// What a message asks of its envelope beyond the addresses.
#[derive(Debug, Clone, Default)]
pub(crate) struct Delivery {
    ret: Option<DsnReturn>,
    envid: Option<String>,
    notify: Option<Notify>,
    /// Per recipient as the caller wrote it: NOTIFY, ORCPT.
    recipients: Vec<(String, Option<Notify>, Option<String>)>,
    dsn_if_offered: bool,
    require_tls: bool,
    priority: Option<i8>,
}

impl Delivery {
    /// `envelope` with these options applied.
    pub(super) fn apply(&self, mut envelope: Envelope, smtputf8: bool) -> Result<Envelope> {
        if let Some(ret) = self.ret {
            envelope = envelope.with_dsn_return(ret);
        }
        if let Some(id) = &self.envid {
            envelope = envelope.with_envelope_id(id)?;
        }
        if let Some(notify) = self.notify {
            envelope = envelope.with_notify(notify)?;
        }
        for (address, notify, orcpt) in &self.recipients {
            let wire = wire_address(address, smtputf8, "recipient address")?;
            if let Some(notify) = notify {
                envelope = envelope.with_recipient_notify(&wire, *notify)?;
            }
            if let Some(orcpt) = orcpt {
                envelope = envelope.with_original_recipient(&wire, orcpt)?;
            }
        }
        envelope = envelope
            .with_dsn_if_offered(self.dsn_if_offered)
            .with_require_tls(self.require_tls);
        if let Some(priority) = self.priority {
            envelope = envelope.with_priority(priority)?;
        }
        Ok(envelope)
    }

    fn recipient(&mut self, address: &str) -> &mut (String, Option<Notify>, Option<String>) {
        let i = match self.recipients.iter().position(|r| r.0 == address) {
            Some(i) => i,
            None => {
                self.recipients.push((address.to_string(), None, None));
                self.recipients.len() - 1
            }
        };
        &mut self.recipients[i]
    }
}

impl Message {
    /// Asks for the whole message (`RET=FULL`) or its header (`RET=HDRS`)
    /// in delivery status notifications.
    pub fn dsn_return(&mut self, ret: DsnReturn) -> &mut Self {
        self.delivery.ret = Some(ret);
        self
    }

    /// Sets the envelope identifier (`ENVID`) notifications carry back;
    /// xtext-escaped, at most 100 characters once escaped.
    pub fn envelope_id(&mut self, id: &str) -> Result<&mut Self> {
        dsn::encode_envelope_id(id)?;
        self.delivery.envid = Some(id.to_string());
        Ok(self)
    }

    /// Asks for notifications (`NOTIFY`) for every recipient.
    pub fn notify(&mut self, notify: Notify) -> Result<&mut Self> {
        self.delivery.notify = Some(notify.checked()?);
        Ok(self)
    }

    /// Asks for notifications for one recipient (it must be one of the
    /// message's envelope recipients when the message is sent).
    pub fn recipient_notify(&mut self, address: &str, notify: Notify) -> Result<&mut Self> {
        let notify = notify.checked()?;
        self.delivery.recipient(address).1 = Some(notify);
        Ok(self)
    }

    /// Gives the original recipient (`ORCPT`) of one recipient.
    pub fn original_recipient(&mut self, address: &str, original: &str) -> Result<&mut Self> {
        dsn::encode_original_recipient(original)?;
        self.delivery.recipient(address).2 = Some(original.to_string());
        Ok(self)
    }

    /// With `true`, a server without DSN gets the message without the DSN
    /// parameters (the report says so) instead of an `Unsupported` error.
    pub fn dsn_if_offered(&mut self, on: bool) -> &mut Self {
        self.delivery.dsn_if_offered = on;
        self
    }

    /// `REQUIRETLS`: refused before sending unless the session is TLS and
    /// the server offers REQUIRETLS.
    pub fn require_tls(&mut self, on: bool) -> &mut Self {
        self.delivery.require_tls = on;
        self
    }

    /// `MT-PRIORITY`, -9 to 9, sent when the server offers it.
    pub fn priority(&mut self, priority: i8) -> Result<&mut Self> {
        self.delivery.priority = Some(dsn::check_priority(priority)?);
        Ok(self)
    }
}
