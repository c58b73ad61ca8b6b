//! The delivery status notifications a run asks for (`-N`, `-R`, `-V`,
//! and the `dsn_notify` / `dsn_return` configuration keys), put on the
//! envelope of a raw message or on a composed one.

use smtp_core::{DsnReturn, Envelope, Message, Notify};

use crate::args::Options;
use crate::settings::Settings;

/// What this run asks for; the command line wins over the configuration.
#[derive(Debug, Clone, Default)]
pub struct DsnRequest {
    notify: Option<Notify>,
    ret: Option<DsnReturn>,
    envelope_id: Option<String>,
}

impl DsnRequest {
    /// The request of `opts` over `settings`.
    pub fn new(opts: &Options, settings: &Settings) -> DsnRequest {
        DsnRequest {
            notify: opts.dsn_notify.or(settings.dsn_notify),
            ret: opts.dsn_return.or(settings.dsn_return),
            envelope_id: opts.envelope_id.clone(),
        }
    }

    /// `envelope` with the request applied (NOTIFY for every recipient).
    pub fn apply_to_envelope(&self, mut envelope: Envelope) -> smtp_core::Result<Envelope> {
        if let Some(notify) = self.notify {
            envelope = envelope.with_notify(notify)?;
        }
        if let Some(ret) = self.ret {
            envelope = envelope.with_dsn_return(ret);
        }
        if let Some(id) = &self.envelope_id {
            envelope = envelope.with_envelope_id(id)?;
        }
        Ok(envelope)
    }

    /// The same for a composed message.
    pub fn apply_to_message(&self, message: &mut Message) -> smtp_core::Result<()> {
        if let Some(notify) = self.notify {
            message.notify(notify)?;
        }
        if let Some(ret) = self.ret {
            message.dsn_return(ret);
        }
        if let Some(id) = &self.envelope_id {
            message.envelope_id(id)?;
        }
        Ok(())
    }
}
