//! Sending composed and raw messages through a [`Client`]: the message
//! and raw-message APIs meet the session here, so that `message` knows
//! nothing of sessions.

use std::io::{Cursor, Read};

use super::{Client, Envelope, SendReport};
use crate::capabilities::Capabilities;
use crate::dkim::{DkimSigner, SignedReader, Spool};
use crate::error::Result;
use crate::message::raw::lines::map_message_line;
use crate::message::{wire_address, EncodeOptions, Message, RawMessage, RawOptions};

impl Client {
    /// Sends a composed message: encodes it for what the server offers
    /// (8bit parts only with 8BITMIME, UTF-8 addresses only with SMTPUTF8,
    /// IDNA domains otherwise), takes the envelope from
    /// [`Message::envelope`], and streams the message as it is encoded.
    ///
    /// An attachment file that cannot be read any more when its turn comes
    /// ends the transaction without delivering ([`Error::BodyRead`](crate::Error::BodyRead)).
    ///
    /// With DKIM configured ([`Config::with_dkim`](crate::Config::with_dkim))
    /// the message is encoded once to be signed, then again as it is sent
    /// (file attachments are read twice, nothing is held).
    pub fn send_message(&mut self, message: &Message) -> Result<SendReport> {
        let signer = self.dkim_signer();
        let (envelope, mut reader) =
            prepare_message(self.capabilities(), signer.as_deref(), message)?;
        self.send(&envelope, &mut reader)
    }

    /// Sends composed messages over this session, pipelined across
    /// messages as [`Client::send_many`] does; one result per message, in
    /// order (a message that cannot be encoded has its error, the others
    /// go on). Each message is encoded as it streams (with DKIM, each is
    /// encoded once more, before the batch, to be signed).
    pub fn send_many_messages(&mut self, messages: &[Message]) -> Vec<Result<SendReport>> {
        let signer = self.dkim_signer();
        let prepared = prepare_messages(self.capabilities(), signer.as_deref(), messages);
        let (sendable, mut results) = split_prepared(prepared);
        let sent = self.send_many(sendable.into_iter().map(|(_, e, r)| (e, r)).collect());
        merge_results(&mut results, sent);
        results
            .into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect()
    }

    /// Sends a message the caller formatted completely (headers and body),
    /// signed when the configuration has DKIM.
    ///
    /// With an `envelope`, the bytes go out as they are (after the
    /// DKIM-Signature fields, with DKIM: the message is then kept while it
    /// is hashed, in memory up to [`SPOOL_MEMORY`](crate::dkim::SPOOL_MEMORY),
    /// else in a private temporary file). Without one (the `sendmail -t`
    /// way) it is [`RawMessage::read`] with the default [`RawOptions`] and
    /// [`Client::send_raw_message`]: the envelope comes from the
    /// `Sender`/`From` and `To`/`Cc`/`Bcc` fields, the `Bcc` fields are
    /// removed, and the body streams through. [`Client::send`] is the one
    /// way to send bytes that are never signed.
    pub fn send_raw(
        &mut self,
        envelope: Option<&Envelope>,
        raw: &mut dyn Read,
    ) -> Result<SendReport> {
        match (envelope, self.dkim_signer()) {
            (Some(envelope), None) => self.send(envelope, raw),
            (Some(envelope), Some(signer)) => {
                let (signature, spool) = signer.sign_spooled(raw)?;
                let lines = signature.iter().filter(|&&b| b == b'\n').count() as u64;
                let envelope = with_signature_size(envelope, &signature);
                self.send(&envelope, &mut Cursor::new(signature).chain(spool))
                    // A refused line is numbered as the caller wrote it.
                    .map_err(|e| map_message_line(e, |n| n.checked_sub(lines).filter(|&n| n > 0)))
            }
            (None, _) => self.send_raw_message(&mut RawMessage::read(raw, &RawOptions::default())?),
        }
    }

    /// Sends a prepared raw message (see [`RawMessage::read`]): its
    /// addresses in wire form for this server (IDNA domains without
    /// SMTPUTF8), `BODY=8BITMIME` declared whenever the server offers it
    /// (the body is not read ahead to check), the body streamed. A
    /// refusal of a line over 998 octets names the line as the caller
    /// wrote it.
    ///
    /// With DKIM configured the message is read whole first, signed as it
    /// is kept (in memory up to [`SPOOL_MEMORY`](crate::dkim::SPOOL_MEMORY),
    /// else in a private temporary file), then sent from there after its
    /// signature.
    pub fn send_raw_message<R: Read>(&mut self, message: &mut RawMessage<R>) -> Result<SendReport> {
        let envelope = self.wire_envelope(message.envelope(), true)?;
        let outcome = match self.dkim_signer() {
            Some(signer) => {
                let mut body = sign_raw(&signer, message)?;
                self.send(&envelope, &mut body)
            }
            None => self.send(&envelope, message),
        };
        outcome.map_err(|e| message.renumber(e))
    }

    /// The envelope and the bytes [`Client::send_message`] would send for
    /// `message` to this server (signed when the configuration has DKIM),
    /// for callers that put composed messages into their own batches.
    pub fn prepare_message<'m>(
        &self,
        message: &'m Message,
    ) -> Result<(Envelope, SignedReader<'m>)> {
        prepare_message(self.capabilities(), self.dkim_signer().as_deref(), message)
    }

    /// The DKIM-Signature fields [`Client::send_raw`] would put before
    /// `message` (a whole message in memory); empty without DKIM.
    pub fn raw_signature(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self.dkim_signer() {
            Some(signer) => signer.sign_message(message),
            None => Ok(Vec::new()),
        }
    }

    /// The DKIM signer of this session's configuration, if any.
    pub(crate) fn dkim_signer(&self) -> Option<std::sync::Arc<DkimSigner>> {
        self.engine.config().and_then(|c| c.dkim.clone())
    }

    /// `envelope` with its addresses (as written) in wire form for this
    /// server: IDNA domains, UTF-8 local parts only with SMTPUTF8. With
    /// `assume_8bit`, `BODY=8BITMIME` is declared whenever the server
    /// offers it (for bodies not read ahead).
    pub(crate) fn wire_envelope(&self, envelope: &Envelope, assume_8bit: bool) -> Result<Envelope> {
        wire_envelope(self.capabilities(), envelope, assume_8bit)
    }
}

/// `envelope` with its declared SIZE grown by the signature put in front.
pub(crate) fn with_signature_size(envelope: &Envelope, signature: &[u8]) -> Envelope {
    let mut envelope = envelope.clone();
    envelope.size = envelope.size.map(|s| s + signature.len() as u64);
    envelope
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
    wire.ext = envelope.ext.clone();
    Ok(wire)
}

/// A composed message's envelope and reader for a server offering
/// `caps`, signed when there is a `signer`.
pub(crate) fn prepare_message<'m>(
    caps: &Capabilities,
    signer: Option<&DkimSigner>,
    message: &'m Message,
) -> Result<(Envelope, SignedReader<'m>)> {
    let options = EncodeOptions::for_server(caps);
    let reader = message.reader(&options)?;
    let envelope = message.envelope_with(&options, reader.uses_8bit())?;
    let reader = match signer {
        Some(signer) => signer.sign_reader(reader)?,
        None => SignedReader::unsigned(reader),
    };
    Ok((envelope, reader))
}

/// Each composed message's envelope and reader for a server offering
/// `caps`, or why it cannot be sent.
pub(crate) fn prepare_messages<'m>(
    caps: &Capabilities,
    signer: Option<&DkimSigner>,
    messages: &'m [Message],
) -> Vec<Result<(Envelope, SignedReader<'m>)>> {
    messages
        .iter()
        .map(|message| prepare_message(caps, signer, message))
        .collect()
}

/// A queued message in its file, from the file's position: signed (the
/// file read once to hash it, then from the same position again to send
/// it) when there is a `signer`.
pub(crate) fn sign_file<'f>(
    signer: Option<&DkimSigner>,
    file: &'f mut std::fs::File,
) -> Result<std::io::Chain<Cursor<Vec<u8>>, &'f mut std::fs::File>> {
    use std::io::{Seek, SeekFrom};
    let signature = match signer {
        Some(signer) => {
            let start = file.stream_position().map_err(crate::Error::BodyRead)?;
            let signature = signer.sign_message(&mut *file)?;
            file.seek(SeekFrom::Start(start))
                .map_err(crate::Error::BodyRead)?;
            signature
        }
        None => Vec::new(),
    };
    Ok(Cursor::new(signature).chain(file))
}

/// A raw message read whole and signed: its signature, then the message
/// as kept. Its line numbers in errors are shifted past the signature.
pub(crate) fn sign_raw<R: Read>(
    signer: &DkimSigner,
    message: &mut RawMessage<R>,
) -> Result<std::io::Chain<Cursor<Vec<u8>>, Spool>> {
    let (signature, spool) = signer.sign_spooled(message)?;
    let lines = signature.iter().filter(|&&b| b == b'\n').count() as u64;
    message.prepend_lines(lines);
    Ok(Cursor::new(signature).chain(spool))
}

/// The messages to send (with their place in the list) and the result
/// slots, the ones that could not be prepared already filled.
#[allow(clippy::type_complexity)]
pub(crate) fn split_prepared<R>(
    prepared: Vec<Result<(Envelope, R)>>,
) -> (Vec<(usize, Envelope, R)>, Vec<Option<Result<SendReport>>>) {
    let mut sendable = Vec::with_capacity(prepared.len());
    let mut results = Vec::with_capacity(prepared.len());
    for (i, p) in prepared.into_iter().enumerate() {
        match p {
            Ok((envelope, reader)) => {
                sendable.push((i, envelope, reader));
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    (sendable, results)
}

/// Fills the empty slots, in order, with the results of the messages sent.
pub(crate) fn merge_results(
    slots: &mut [Option<Result<SendReport>>],
    sent: Vec<Result<SendReport>>,
) {
    let mut sent = sent.into_iter();
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        *slot = Some(sent.next().unwrap_or_else(|| {
            Err(crate::Error::NotConnected(
                "the message was not sent".into(),
            ))
        }));
    }
}
