//! The mail transaction: MAIL FROM, RCPT TO, then the body through DATA
//! or BDAT chunks, pipelined where the server allows; which failures leave
//! the delivery unknown; ending a transaction that will not deliver.

use std::io::Read;

use super::*;

impl Client {
    pub(super) fn transaction(
        &mut self,
        envelope: &Envelope,
        body: &mut FitLines<'_>,
        buffers: &mut data::BodyBuffers,
    ) -> Result<SendReport> {
        let caps = &self.capabilities;
        let smtputf8 = envelope.needs_smtputf8();
        if smtputf8 && !caps.smtputf8 {
            return Err(Error::Unsupported {
                extension: "SMTPUTF8",
                reason:
                    "an address has non-ASCII characters and the server does not offer SMTPUTF8"
                        .into(),
            });
        }
        if envelope.eight_bit && !caps.eight_bit_mime {
            return Err(Error::Unsupported {
                extension: "8BITMIME",
                reason: "the body has 8-bit content and the server does not offer 8BITMIME (encode it as quoted-printable or base64)".into(),
            });
        }
        if let (Some(size), Some(limit)) = (envelope.size, caps.size) {
            if limit > 0 && size > limit {
                return Err(Error::Unsupported {
                    extension: "SIZE",
                    reason: format!(
                        "the message is {size} octets and the server takes at most {limit}"
                    ),
                });
            }
        }
        let pipelined = self.config.pipelining && caps.pipelining;
        let chunking = self.config.chunking && caps.chunking;
        // With "all or nothing", the body waits until every RCPT reply is
        // in: a pipelined DATA that got 354, or a pipelined BDAT LAST,
        // would deliver to the recipients accepted so far.
        let pipeline_body =
            pipelined && self.config.recipient_policy == RecipientPolicy::DeliverToAccepted;

        // The start of the body is read (and its lines checked) before
        // anything is sent, so a body that fails or is refused costs
        // nothing: with BDAT the first chunk, a small message's only one;
        // with DATA the first PREFETCH octets.
        let mut repaired_len = None;
        if !chunking {
            body.prefetch(PREFETCH).map_err(body_read_error)?;
            repaired_len = body.repaired_len();
        }
        let data::BodyBuffers { read, out, chunk } = buffers;
        let mut chunks = chunking.then(|| BdatChunks::new(&mut *body, read, out));
        let mut last = false;
        if let Some(source) = chunks.as_mut() {
            last = source.next(chunk).map_err(body_read_error)?;
            if last && source.repaired() {
                repaired_len = Some(chunk.len());
            }
        }
        let mut params = MailParams {
            size: envelope.size.filter(|_| caps.size.is_some()),
            eight_bit: envelope.eight_bit,
            smtputf8,
        };
        // A repaired message is longer: declare what will be sent.
        if let (Some(len), Some(size)) = (repaired_len, params.size) {
            params.size = Some(size.max(len as u64));
        }

        let mut commands = Vec::with_capacity(envelope.to.len() + 2);
        commands.push(Command::MailFrom {
            from: envelope.from.clone(),
            params,
        });
        commands.extend(envelope.to.iter().map(|to| Command::RcptTo(to.clone())));
        if pipeline_body {
            commands.push(match chunks {
                Some(_) => Command::Bdat {
                    size: chunk.len() as u64,
                    last,
                },
                None => Command::Data,
            });
        }
        // Format everything first: an invalid argument fails before a byte is sent.
        let mut batch = Vec::with_capacity(64 * commands.len());
        for cmd in &commands {
            cmd.to_wire(&mut batch)?;
        }

        let mut replies = Vec::with_capacity(commands.len());
        if pipelined {
            for cmd in &commands {
                self.transcript
                    .line_with(Direction::Sent, || cmd.to_transcript());
            }
            let body_in_batch = pipeline_body && chunks.is_some();
            let chunk_apart = body_in_batch && chunk.len() > COPY_LIMIT;
            if body_in_batch {
                if !chunk_apart {
                    batch.extend_from_slice(chunk);
                }
                self.note_chunk(chunk.len());
            }
            let mut written = self.write(&batch, Phase::MailFrom, self.config.timeouts.mail);
            if written.is_ok() && chunk_apart {
                written = self.write(chunk, Phase::Body, self.config.timeouts.data_block);
            }
            if let Err(e) = written {
                return Err(if body_in_batch && last {
                    delivery_unknown(Phase::Body, e)
                } else {
                    e
                });
            }
            // Read every reply, even after a failure, so the session stays in step.
            for cmd in &commands {
                let timeout = self.timeout_for(cmd.phase());
                match self.read_reply(cmd.phase(), timeout) {
                    Ok(reply) => replies.push(reply),
                    Err(e) if body_in_batch && last => {
                        return Err(delivery_unknown(cmd.phase(), e))
                    }
                    Err(e) => return Err(e),
                }
            }
        } else {
            for (i, cmd) in commands.iter().enumerate() {
                let reply = self.command(cmd)?;
                let mail_failed = i == 0 && !reply.is_positive();
                replies.push(reply);
                if mail_failed {
                    break;
                }
            }
        }

        let mut replies = replies.into_iter();
        let mail_reply = replies.next().ok_or_else(|| Error::Protocol {
            phase: Phase::MailFrom,
            reason: "no reply to MAIL FROM".into(),
        })?;
        let recipients: Vec<RecipientResult> = envelope
            .to
            .iter()
            .zip(replies.by_ref())
            .map(|(address, reply)| RecipientResult {
                address: address.clone(),
                reply,
            })
            .collect();
        let body_reply = replies.next();
        let pending_data = if chunks.is_some() {
            None
        } else {
            body_reply.as_ref()
        };

        if !mail_reply.is_positive() {
            self.abort_transaction(pending_data)?;
            return Err(Error::Rejected {
                phase: Phase::MailFrom,
                reply: mail_reply,
            });
        }
        let accepted = recipients.iter().filter(|r| r.accepted()).count();
        let refuse = accepted == 0
            || (self.config.recipient_policy == RecipientPolicy::AllOrNothing
                && accepted < recipients.len());
        if refuse {
            self.abort_transaction(pending_data)?;
            return Err(Error::RecipientsRefused {
                refused: recipients.into_iter().filter(|r| !r.accepted()).collect(),
            });
        }
        let reply = match chunks {
            Some(mut source) => self.send_chunks(&mut source, chunk, last, body_reply)?,
            None => {
                let data_reply = match body_reply {
                    Some(reply) => reply,
                    None => self.command(&Command::Data)?,
                };
                if data_reply.code() != 354 {
                    self.abort_transaction(None)?;
                    return Err(Error::Rejected {
                        phase: Phase::Data,
                        reply: data_reply,
                    });
                }
                self.send_body(body, buffers)?;
                self.read_reply(Phase::EndOfData, self.config.timeouts.data_end)
                    .map_err(|e| delivery_unknown(Phase::EndOfData, e))?
            }
        };
        if !reply.is_positive() {
            return Err(Error::Rejected {
                phase: Phase::EndOfData,
                reply,
            });
        }
        Ok(SendReport { recipients, reply })
    }

    /// Sends the BDAT chunks still to go (the first one too unless it was
    /// pipelined, in which case `first_reply` is its reply) and returns the
    /// reply to the last one. A failure on the last chunk is
    /// [`Error::DeliveryUnknown`]; any I/O failure closes the session.
    fn send_chunks(
        &mut self,
        source: &mut BdatChunks<'_, '_>,
        chunk: &mut Vec<u8>,
        mut last: bool,
        first_reply: Option<Reply>,
    ) -> Result<Reply> {
        let mut reply = match first_reply {
            Some(reply) => reply,
            None => self.send_chunk(chunk, last)?,
        };
        while !last {
            if !reply.is_positive() {
                self.abort_transaction(None)?;
                return Err(Error::Rejected {
                    phase: Phase::Body,
                    reply,
                });
            }
            last = match source.next(chunk) {
                Ok(last) => last,
                Err(e) => {
                    // Without LAST the server never delivers the message.
                    self.close(format!("reading the body failed: {e}"));
                    return Err(body_read_error(e));
                }
            };
            reply = self.send_chunk(chunk, last)?;
        }
        Ok(reply)
    }

    /// Writes `BDAT n [LAST]` and the chunk (in one write up to
    /// [`COPY_LIMIT`]); reads the reply.
    /// A failure on the last chunk leaves the delivery unknown; on any
    /// other it is certain that nothing was delivered (no LAST, no message).
    fn send_chunk(&mut self, chunk: &[u8], last: bool) -> Result<Reply> {
        let cmd = Command::Bdat {
            size: chunk.len() as u64,
            last,
        };
        let apart = chunk.len() > COPY_LIMIT;
        let mut wire = Vec::with_capacity(if apart { 32 } else { chunk.len() + 32 });
        cmd.to_wire(&mut wire)?;
        if !apart {
            wire.extend_from_slice(chunk);
        }
        self.transcript
            .line_with(Direction::Sent, || cmd.to_transcript());
        self.note_chunk(chunk.len());
        let phase = cmd.phase();
        let outcome = |e| if last { delivery_unknown(phase, e) } else { e };
        let timeout = self.config.timeouts.data_block;
        self.write(&wire, phase, timeout).map_err(outcome)?;
        if apart {
            self.write(chunk, phase, timeout).map_err(outcome)?;
        }
        self.read_reply(phase, self.timeout_for(phase))
            .map_err(outcome)
    }

    fn note_chunk(&self, size: usize) {
        self.transcript.line_with(Direction::Sent, || {
            format!("[message chunk, {size} octets]")
        });
    }

    /// Streams the body after a 354; on failure the session is closed.
    fn send_body(&mut self, body: &mut dyn Read, buffers: &mut data::BodyBuffers) -> Result<()> {
        let timeout = self.config.timeouts.data_block;
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::NotConnected("closed".into()))?;
        let mut writer = conn.body_writer(timeout);
        let result = data::copy_data_with(body, &mut writer, data::DEFAULT_BLOCK_SIZE, buffers);
        match result {
            Ok(size) => {
                self.transcript.line_with(Direction::Sent, || {
                    format!("[message body, {size} octets, then the final dot]")
                });
                Ok(())
            }
            Err(CopyError::Source(e)) => {
                // Not ending the message means the server discards it.
                self.close(format!("reading the body failed: {e}"));
                Err(body_read_error(e))
            }
            Err(CopyError::Sink(e)) => {
                // The terminator did not leave whole: nothing is delivered.
                let cause = crate::net::io_error(Phase::Body, timeout, e);
                self.close(format!("sending the body failed: {cause}"));
                Err(cause)
            }
            Err(CopyError::Flush(e)) => {
                let cause = crate::net::io_error(Phase::Body, timeout, e);
                self.close(format!("sending the end of the body failed: {cause}"));
                Err(Error::DeliveryUnknown {
                    phase: Phase::EndOfData,
                    cause: Box::new(cause),
                })
            }
        }
    }

    /// Ends a transaction that will not deliver: a pipelined DATA that got
    /// 354 is answered with an empty message to a server that has no
    /// recipients (RFC 2920 3.1), then RSET.
    fn abort_transaction(&mut self, data_reply: Option<&Reply>) -> Result<()> {
        if data_reply.is_some_and(|r| r.code() == 354) {
            self.write(b".\r\n", Phase::EndOfData, self.config.timeouts.data_block)?;
            self.transcript.line(Direction::Sent, ".");
            self.read_reply(Phase::EndOfData, self.config.timeouts.data_end)?;
        }
        let reply = self.command(&Command::Rset)?;
        if !reply.is_positive() {
            self.close(format!("RSET refused: {reply}"));
        }
        Ok(())
    }
}

/// Size of every BDAT chunk but the last.
pub(crate) const BDAT_CHUNK: usize = 1024 * 1024;

/// Reads the caller's body and cuts it into normalised BDAT chunks of
/// exactly [`BDAT_CHUNK`] octets (the last one shorter), holding at most
/// one chunk and one read block.
struct BdatChunks<'a, 'f> {
    body: &'a mut FitLines<'f>,
    normalizer: data::BdatNormalizer,
    input: &'a mut data::ReadBlock,
    pending: &'a mut Vec<u8>,
}

impl<'a, 'f> BdatChunks<'a, 'f> {
    /// Reads `body` through the session's reused blocks.
    fn new(
        body: &'a mut FitLines<'f>,
        read: &'a mut data::ReadBlock,
        pending: &'a mut Vec<u8>,
    ) -> BdatChunks<'a, 'f> {
        pending.clear();
        BdatChunks {
            body,
            normalizer: data::BdatNormalizer::new(),
            input: read,
            pending,
        }
    }

    /// Whether the line fitter repaired something so far.
    fn repaired(&self) -> bool {
        self.body.repaired()
    }

    /// Replaces `out` with the next chunk; true when it ends the body.
    fn next(&mut self, out: &mut Vec<u8>) -> std::io::Result<bool> {
        out.clear();
        while self.pending.len() <= BDAT_CHUNK {
            let input = self
                .input
                .fill_from(&mut *self.body, data::DEFAULT_BLOCK_SIZE)?;
            if input.is_empty() {
                self.normalizer.finish(self.pending);
                // Swapped, not copied: both vectors go back to the session.
                std::mem::swap(out, self.pending);
                return Ok(true);
            }
            self.normalizer.encode(input, self.pending);
        }
        out.extend_from_slice(&self.pending[..BDAT_CHUNK]);
        self.pending.drain(..BDAT_CHUNK);
        Ok(false)
    }
}

/// A chunk up to this size is copied behind its command so that both go
/// in one write; a larger one is written on its own (its command first),
/// since a copy would hold the chunk twice.
const COPY_LIMIT: usize = 64 * 1024;

/// How much of a message is read (and its lines checked) before anything
/// of it is sent (1 MiB, as much as the first BDAT chunk).
const PREFETCH: usize = BDAT_CHUNK;

/// A failure reading the caller's body: a line that could not be fitted
/// is the caller's input, anything else a read error.
fn body_read_error(e: std::io::Error) -> Error {
    match crate::message::long_line_error(&e) {
        Some(long) => Error::invalid("message", long.to_string()),
        None => Error::BodyRead(e),
    }
}

/// A failure once the end of the message may have reached the server:
/// the message may or may not have been accepted. A 421 stays a refusal.
fn delivery_unknown(phase: Phase, cause: Error) -> Error {
    match cause {
        e @ (Error::Rejected { .. } | Error::DeliveryUnknown { .. }) => e,
        cause => Error::DeliveryUnknown {
            phase,
            cause: Box::new(cause),
        },
    }
}
