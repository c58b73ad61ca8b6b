//! Sending composed and raw messages through a [`Client`].

use std::io::{Cursor, Read};

use crate::error::{Error, Result};
use crate::session::{Client, Envelope, SendReport};

use super::address::wire_address;
use super::raw::{envelope_from_headers, read_header_block, strip_bcc};
use super::{EncodeOptions, Message, MAX_RAW_HEADER_BLOCK};

impl Client {
    /// Sends a composed message: encodes it for what the server offers
    /// (8bit parts only with 8BITMIME, UTF-8 addresses only with SMTPUTF8,
    /// IDNA domains otherwise), takes the envelope from
    /// [`Message::envelope`], and streams the message as it is encoded.
    ///
    /// An attachment file that cannot be read any more when its turn comes
    /// ends the transaction without delivering ([`Error::BodyRead`]).
    pub fn send_message(&mut self, message: &Message) -> Result<SendReport> {
        let options = EncodeOptions::for_server(self.capabilities());
        let mut reader = message.reader(&options)?;
        let envelope = message.envelope_with(&options, reader.uses_8bit())?;
        self.send(&envelope, &mut reader)
    }

    /// Sends a message the caller formatted completely (headers and body).
    ///
    /// With an `envelope`, the bytes go out as they are. Without one (the
    /// `sendmail -t` way) the header block is read first (at most
    /// [`MAX_RAW_HEADER_BLOCK`] bytes), the envelope is derived from its
    /// `Sender`/`From` and `To`/`Cc`/`Bcc` fields
    /// ([`envelope_from_headers`]), the `Bcc` fields are removed, and the
    /// rest streams through. Derived addresses get IDNA domains when the
    /// server lacks SMTPUTF8, and `BODY=8BITMIME` is declared whenever the
    /// server offers it (the body is not read ahead to check).
    pub fn send_raw(
        &mut self,
        envelope: Option<&Envelope>,
        raw: &mut dyn Read,
    ) -> Result<SendReport> {
        if let Some(envelope) = envelope {
            return self.send(envelope, raw);
        }
        let (block, rest) = read_header_block(raw, MAX_RAW_HEADER_BLOCK).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                Error::invalid("raw message", e.to_string())
            } else {
                Error::BodyRead(e)
            }
        })?;
        let derived = envelope_from_headers(&block)?;
        let caps = self.capabilities();
        let smtputf8 = caps.smtputf8;
        let convert = |a: &str, field| -> Result<String> {
            if a.is_empty() {
                Ok(String::new())
            } else {
                wire_address(a, smtputf8, field)
            }
        };
        let from = convert(derived.from(), "envelope sender")?;
        let to = derived
            .to()
            .iter()
            .map(|a| convert(a, "envelope recipient"))
            .collect::<Result<Vec<_>>>()?;
        let envelope = Envelope::new(from, to)?.with_8bit_body(caps.eight_bit_mime);
        let mut body = Cursor::new(strip_bcc(&block))
            .chain(Cursor::new(rest))
            .chain(raw);
        self.send(&envelope, &mut body)
    }
}
