//! Sending composed and raw messages through a [`Client`]: the message
//! and raw-message APIs meet the session here, so that `message` knows
//! nothing of sessions.

use std::io::Read;

use super::{Client, Envelope, SendReport};
use crate::capabilities::Capabilities;
use crate::error::Result;
use crate::message::{wire_address, EncodeOptions, Message, RawMessage, RawOptions};

impl Client {
    /// Sends a composed message: encodes it for what the server offers
    /// (8bit parts only with 8BITMIME, UTF-8 addresses only with SMTPUTF8,
    /// IDNA domains otherwise), takes the envelope from
    /// [`Message::envelope`], and streams the message as it is encoded.
    ///
    /// An attachment file that cannot be read any more when its turn comes
    /// ends the transaction without delivering ([`Error::BodyRead`](crate::Error::BodyRead)).
    pub fn send_message(&mut self, message: &Message) -> Result<SendReport> {
        let options = EncodeOptions::for_server(self.capabilities());
        let mut reader = message.reader(&options)?;
        let envelope = message.envelope_with(&options, reader.uses_8bit())?;
        self.send(&envelope, &mut reader)
    }

    /// Sends a message the caller formatted completely (headers and body).
    ///
    /// With an `envelope`, the bytes go out as they are. Without one (the
    /// `sendmail -t` way) it is [`RawMessage::read`] with the default
    /// [`RawOptions`] and [`Client::send_raw_message`]: the envelope comes
    /// from the `Sender`/`From` and `To`/`Cc`/`Bcc` fields, the `Bcc`
    /// fields are removed, and the body streams through.
    pub fn send_raw(
        &mut self,
        envelope: Option<&Envelope>,
        raw: &mut dyn Read,
    ) -> Result<SendReport> {
        match envelope {
            Some(envelope) => self.send(envelope, raw),
            None => self.send_raw_message(&mut RawMessage::read(raw, &RawOptions::default())?),
        }
    }

    /// Sends a prepared raw message (see [`RawMessage::read`]): its
    /// addresses in wire form for this server (IDNA domains without
    /// SMTPUTF8), `BODY=8BITMIME` declared whenever the server offers it
    /// (the body is not read ahead to check), the body streamed. A
    /// refusal of a line over 998 octets names the line as the caller
    /// wrote it.
    pub fn send_raw_message<R: Read>(&mut self, message: &mut RawMessage<R>) -> Result<SendReport> {
        let envelope = self.wire_envelope(message.envelope(), true)?;
        let outcome = self.send(&envelope, message);
        outcome.map_err(|e| message.renumber(e))
    }

    /// `envelope` with its addresses (as written) in wire form for this
    /// server: IDNA domains, UTF-8 local parts only with SMTPUTF8. With
    /// `assume_8bit`, `BODY=8BITMIME` is declared whenever the server
    /// offers it (for bodies not read ahead).
    pub(crate) fn wire_envelope(&self, envelope: &Envelope, assume_8bit: bool) -> Result<Envelope> {
        wire_envelope(self.capabilities(), envelope, assume_8bit)
    }
}

/// [`Client::wire_envelope`] for a server offering `caps`.
pub(crate) fn wire_envelope(
    caps: &Capabilities,
    envelope: &Envelope,
    assume_8bit: bool,
) -> Result<Envelope> {
    let smtputf8 = caps.smtputf8;
    let convert = |a: &str, field| -> Result<String> {
        if a.is_empty() {
            Ok(String::new())
        } else {
            wire_address(a, smtputf8, field)
        }
    };
    let from = convert(envelope.from(), "envelope sender")?;
    let to = envelope
        .to()
        .iter()
        .map(|a| convert(a, "envelope recipient"))
        .collect::<Result<Vec<_>>>()?;
    let eight_bit = (assume_8bit || envelope.eight_bit) && caps.eight_bit_mime;
    let mut wire = Envelope::new(from, to)?.with_8bit_body(eight_bit);
    wire.size = envelope.size;
    Ok(wire)
}
