//! Delivery defaults of a configuration: the NOTIFY and RET every message
//! gets unless it sets its own, whether a server without DSN gets messages
//! without them, REQUIRETLS and MT-PRIORITY for every message. One place,
//! so that URLs, configuration files, the C ABI, PHP's Mailer options and
//! smtp-send's settings all mean the same.

use std::borrow::Cow;

use super::Config;
use crate::dsn::{DsnReturn, Extensions, Notify, RecipientParams};
use crate::error::Result;

/// The defaults (none unless set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DsnDefaults {
    pub(crate) notify: Option<Notify>,
    pub(crate) ret: Option<DsnReturn>,
    pub(crate) if_offered: bool,
    pub(crate) require_tls: bool,
    pub(crate) priority: Option<i8>,
}

impl DsnDefaults {
    /// `ext` (of an envelope with `recipients` recipients) with these
    /// defaults filling what it does not set; borrowed when there are none.
    pub(crate) fn merged<'e>(&self, ext: &'e Extensions, recipients: usize) -> Cow<'e, Extensions> {
        if *self == DsnDefaults::default() {
            return Cow::Borrowed(ext);
        }
        let mut merged = ext.clone();
        merged.ret = merged.ret.or(self.ret);
        merged.dsn_if_offered |= self.if_offered;
        merged.require_tls |= self.require_tls;
        merged.priority = merged.priority.or(self.priority);
        if let Some(notify) = self.notify {
            if merged.recipients.len() != recipients {
                merged.recipients = vec![RecipientParams::default(); recipients];
            }
            for params in &mut merged.recipients {
                params.notify = params.notify.or(Some(notify));
            }
        }
        Cow::Owned(merged)
    }
}

impl Config {
    /// Asks for delivery status notifications for every recipient of every
    /// message that does not ask for its own (option `dsn_notify`).
    /// [`Notify::NEVER`] combined with another is refused.
    pub fn with_dsn_notify(mut self, notify: Notify) -> Result<Config> {
        self.dsn.notify = Some(notify.checked()?);
        Ok(self)
    }

    /// What notifications return for messages that do not say (option
    /// `dsn_return`).
    pub fn with_dsn_return(mut self, ret: DsnReturn) -> Config {
        self.dsn.ret = Some(ret);
        self
    }

    /// With `true`, a server without DSN gets every message without the
    /// DSN parameters (reported as omitted) instead of an
    /// [`Error::Unsupported`](crate::Error::Unsupported) (option
    /// `dsn_if_offered`).
    pub fn with_dsn_if_offered(mut self, on: bool) -> Config {
        self.dsn.if_offered = on;
        self
    }

    /// `REQUIRETLS` on every message (option `requiretls`): each send is
    /// refused before anything is sent unless the session is TLS and the
    /// server offers REQUIRETLS.
    pub fn with_require_tls(mut self, on: bool) -> Config {
        self.dsn.require_tls = on;
        self
    }

    /// `MT-PRIORITY` (-9 to 9) for messages that do not set their own
    /// (option `mt_priority`), sent when the server offers it.
    pub fn with_priority(mut self, priority: i8) -> Result<Config> {
        self.dsn.priority = Some(crate::dsn::check_priority(priority)?);
        Ok(self)
    }

    /// Sets `mt_priority` from text (`off` or empty: none).
    pub(super) fn set_priority(&mut self, value: &str) -> Result<()> {
        self.dsn.priority = match value.trim() {
            "" | "off" | "none" => None,
            text => Some(crate::dsn::check_priority(text.parse().map_err(|_| {
                crate::Error::invalid("priority", format!("must be -9 to 9 or off, not {text:?}"))
            })?)?),
        };
        Ok(())
    }

    /// The default NOTIFY, if any.
    pub fn dsn_notify(&self) -> Option<Notify> {
        self.dsn.notify
    }

    /// The default RET, if any.
    pub fn dsn_return(&self) -> Option<DsnReturn> {
        self.dsn.ret
    }

    /// Sets `dsn_notify` from text (`off` or empty: none).
    pub(super) fn set_dsn_notify(&mut self, value: &str) -> Result<()> {
        self.dsn.notify = match value.trim() {
            "" | "off" | "none" => None,
            text => Some(Notify::parse(text)?),
        };
        Ok(())
    }

    /// Sets `dsn_return` from text (`off` or empty: none).
    pub(super) fn set_dsn_return(&mut self, value: &str) -> Result<()> {
        self.dsn.ret = match value.trim() {
            "" | "off" | "none" => None,
            text => Some(DsnReturn::parse(text)?),
        };
        Ok(())
    }
}
