//! The mail transaction: MAIL FROM, RCPT TO, then the body through DATA
//! or BDAT chunks, pipelined where the server allows; which failures leave
//! the delivery unknown; ending a transaction that will not deliver.

use super::body::{BdatChunks, Body, BDAT_CHUNK};
use super::wire::SinkFailure;
use super::Session;
use crate::command::{Command, MailParams};
use crate::config::RecipientPolicy;
use crate::dsn::Omitted;
use crate::error::{Error, Phase, Result};
use crate::reply::Reply;
use crate::report::{RecipientResult, SendReport};
use crate::transcript::Direction;
use crate::Envelope;

impl Session {
    /// Sends one message; the body comes from the driver.
    pub(super) async fn send(&mut self, envelope: &Envelope) -> Result<SendReport> {
        self.ensure_open()?;
        let (mut body, mut chunk, mut pending) = self.take_buffers();
        body.start(self.config.long_lines);
        let result = self
            .transaction(envelope, &mut body, &mut chunk, &mut pending)
            .await;
        self.put_buffers(body, chunk, pending);
        result
    }

    /// The body reader and blocks kept across messages, taken out for a
    /// transaction (which borrows them beside `self`).
    pub(super) fn take_buffers(&mut self) -> (Body, Vec<u8>, Vec<u8>) {
        let body = self
            .body
            .take()
            .unwrap_or_else(|| Body::new(self.link.clone()));
        (
            body,
            std::mem::take(&mut self.chunk),
            std::mem::take(&mut self.pending),
        )
    }

    /// Puts them back, giving back what a large message needed.
    pub(super) fn put_buffers(&mut self, mut body: Body, mut chunk: Vec<u8>, mut pending: Vec<u8>) {
        body.recycle();
        for v in [&mut chunk, &mut pending] {
            v.clear();
            if v.capacity() > KEPT_CAPACITY {
                *v = Vec::new();
            }
        }
        self.body = Some(body);
        self.chunk = chunk;
        self.pending = pending;
    }

    /// What the server must offer for this envelope, checked before
    /// anything is sent; the extensions to leave out, noted in the
    /// transcript.
    pub(super) fn check_envelope(&mut self, envelope: &Envelope) -> Result<Omitted> {
        let omitted = self.extensions_to_omit(envelope)?;
        if omitted.has(Omitted::DSN) {
            self.transcript.line(
                Direction::Info,
                "the server does not offer DSN: sending without NOTIFY, ORCPT, RET and ENVID, as asked",
            );
        }
        if omitted.has(Omitted::MT_PRIORITY) {
            self.transcript.line(
                Direction::Info,
                "the server does not offer MT-PRIORITY: sending without it",
            );
        }
        Ok(omitted)
    }

    /// The extensions this envelope asks for and the server lacks, or why
    /// the message cannot go to this server.
    fn extensions_to_omit(&self, envelope: &Envelope) -> Result<Omitted> {
        let caps = &self.facts.capabilities;
        let ext = self.config.dsn.merged(&envelope.ext, envelope.to.len());
        let mut omitted = Omitted::default();
        if ext.require_tls {
            if !(self.facts.tls_info.is_some() && self.link.is_tls()) {
                return Err(Error::Unsupported {
                    extension: "REQUIRETLS",
                    reason: "REQUIRETLS needs a TLS session, and this one is not encrypted".into(),
                });
            }
            if self.config.tls.dangerous_accept_invalid_certs {
                // RFC 8689 4.2.1: the server's certificate must be verified.
                return Err(Error::Unsupported {
                    extension: "REQUIRETLS",
                    reason: "REQUIRETLS needs a verified server certificate, and certificate checks are off (dangerous_accept_invalid_certs)".into(),
                });
            }
            if !caps.requiretls {
                return Err(Error::Unsupported {
                    extension: "REQUIRETLS",
                    reason: "the message requires TLS all the way (REQUIRETLS) and the server does not offer REQUIRETLS".into(),
                });
            }
        }
        if ext.wants_dsn() && !caps.dsn {
            if !ext.dsn_if_offered {
                return Err(Error::Unsupported {
                    extension: "DSN",
                    reason: "delivery status notifications were asked for (NOTIFY, ORCPT, RET or ENVID) and the server does not offer DSN".into(),
                });
            }
            omitted.add(Omitted::DSN);
        }
        if ext.priority.is_some() && !caps.mt_priority {
            omitted.add(Omitted::MT_PRIORITY);
        }
        if envelope.needs_smtputf8() && !caps.smtputf8 {
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
        Ok(omitted)
    }

    /// The MAIL and RCPT commands for `envelope`, without the parameters
    /// of the `omitted` extensions; a repaired message declares the size
    /// that will be sent.
    pub(super) fn envelope_commands(
        &self,
        envelope: &Envelope,
        repaired_len: Option<usize>,
        omitted: Omitted,
        commands: &mut Vec<Command>,
    ) {
        let caps = &self.facts.capabilities;
        let ext = self.config.dsn.merged(&envelope.ext, envelope.to.len());
        let dsn = !omitted.has(Omitted::DSN);
        let mut params = MailParams {
            size: envelope.size.filter(|_| caps.size.is_some()),
            eight_bit: envelope.eight_bit,
            smtputf8: envelope.needs_smtputf8(),
            ret: ext.ret.filter(|_| dsn),
            envid: ext.envid.clone().filter(|_| dsn),
            require_tls: ext.require_tls,
            priority: ext.priority.filter(|_| !omitted.has(Omitted::MT_PRIORITY)),
        };
        if let (Some(len), Some(size)) = (repaired_len, params.size) {
            params.size = Some(size.max(len as u64));
        }
        commands.push(Command::MailFrom {
            from: envelope.from.clone(),
            params,
        });
        for (i, to) in envelope.to.iter().enumerate() {
            let params = match ext.recipients.get(i) {
                Some(params) if dsn => params.clone(),
                _ => Default::default(),
            };
            commands.push(Command::RcptTo {
                to: to.clone(),
                params,
            });
        }
    }

    pub(super) async fn transaction(
        &mut self,
        envelope: &Envelope,
        body: &mut Body,
        chunk: &mut Vec<u8>,
        pending: &mut Vec<u8>,
    ) -> Result<SendReport> {
        let omitted = self.check_envelope(envelope)?;
        let caps = &self.facts.capabilities;
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
            body.prefetch(PREFETCH).await.map_err(body_read_error)?;
            repaired_len = body.repaired_len();
        }
        let mut chunks = chunking.then(|| BdatChunks::new(&mut *body, pending));
        let mut last = false;
        if let Some(source) = chunks.as_mut() {
            last = source.next(chunk).await.map_err(body_read_error)?;
            if last && source.repaired() {
                repaired_len = Some(chunk.len());
            }
        }
        let mut commands = Vec::with_capacity(envelope.to.len() + 2);
        self.envelope_commands(envelope, repaired_len, omitted, &mut commands);
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
            if body_in_batch {
                batch.extend_from_slice(chunk);
                self.note_chunk(chunk.len());
            }
            self.link
                .write(&batch, Phase::MailFrom, self.config.timeouts.mail);
            let end = self.link.queued_total();
            // Read every reply, even after a failure, so the session stays in step.
            for cmd in &commands {
                let timeout = self.timeout_for(cmd.phase());
                match self.read_reply(cmd.phase(), timeout).await {
                    Ok(reply) => replies.push(reply),
                    // Only once the whole last chunk left may the server
                    // have the message.
                    Err(e) if body_in_batch && last && self.link.written_total() >= end => {
                        return Err(delivery_unknown(cmd.phase(), e))
                    }
                    Err(e) => return Err(e),
                }
            }
        } else {
            for (i, cmd) in commands.iter().enumerate() {
                let reply = self.command(cmd).await?;
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
            self.abort_transaction(pending_data).await?;
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
            self.abort_transaction(pending_data).await?;
            return Err(Error::RecipientsRefused {
                refused: recipients.into_iter().filter(|r| !r.accepted()).collect(),
            });
        }
        let reply = match chunks {
            Some(mut source) => {
                self.send_chunks(&mut source, chunk, last, body_reply)
                    .await?
            }
            None => {
                let data_reply = match body_reply {
                    Some(reply) => reply,
                    None => self.command(&Command::Data).await?,
                };
                if data_reply.code() != 354 {
                    self.abort_transaction(None).await?;
                    return Err(Error::Rejected {
                        phase: Phase::Data,
                        reply: data_reply,
                    });
                }
                self.send_body(body, pending).await?;
                let timeout = self.config.timeouts.data_end;
                match self.read_reply(Phase::EndOfData, timeout).await {
                    Ok(reply) => reply,
                    // The terminator did not leave whole: nothing is delivered.
                    Err(e) if !self.link.end_of_message_written() => return Err(e),
                    Err(e) => return Err(delivery_unknown(Phase::EndOfData, e)),
                }
            }
        };
        if !reply.is_positive() {
            return Err(Error::Rejected {
                phase: Phase::EndOfData,
                reply,
            });
        }
        Ok(SendReport {
            recipients,
            reply,
            omitted_extensions: omitted.names(),
        })
    }

    /// Sends the BDAT chunks still to go (the first one too unless it was
    /// pipelined, in which case `first_reply` is its reply) and returns the
    /// reply to the last one. A failure on the last chunk is
    /// [`Error::DeliveryUnknown`]; any I/O failure closes the session.
    async fn send_chunks(
        &mut self,
        source: &mut BdatChunks<'_>,
        chunk: &mut Vec<u8>,
        mut last: bool,
        first_reply: Option<Reply>,
    ) -> Result<Reply> {
        let mut reply = match first_reply {
            Some(reply) => reply,
            None => self.send_chunk(chunk, last).await?,
        };
        while !last {
            if !reply.is_positive() {
                self.abort_transaction(None).await?;
                return Err(Error::Rejected {
                    phase: Phase::Body,
                    reply,
                });
            }
            last = match source.next(chunk).await {
                Ok(last) => last,
                Err(e) => {
                    // Without LAST the server never delivers the message.
                    self.close(format!("reading the body failed: {e}"));
                    return Err(body_read_error(e));
                }
            };
            reply = self.send_chunk(chunk, last).await?;
        }
        Ok(reply)
    }

    /// Writes `BDAT n [LAST]` and the chunk; reads the reply.
    /// A failure on the last chunk leaves the delivery unknown; on any
    /// other it is certain that nothing was delivered (no LAST, no message).
    async fn send_chunk(&mut self, chunk: &[u8], last: bool) -> Result<Reply> {
        let cmd = Command::Bdat {
            size: chunk.len() as u64,
            last,
        };
        let mut wire = Vec::with_capacity(32);
        cmd.to_wire(&mut wire)?;
        self.transcript
            .line_with(Direction::Sent, || cmd.to_transcript());
        self.note_chunk(chunk.len());
        let phase = cmd.phase();
        let timeout = self.config.timeouts.data_block;
        self.link.write(&wire, phase, timeout);
        self.link.write(chunk, phase, timeout);
        let outcome = |e| if last { delivery_unknown(phase, e) } else { e };
        self.read_reply(phase, self.timeout_for(phase))
            .await
            .map_err(outcome)
    }

    pub(super) fn note_chunk(&self, size: usize) {
        self.transcript.line_with(Direction::Sent, || {
            format!("[message chunk, {size} octets]")
        });
    }

    /// Streams the body after a 354, its end last; on failure the
    /// session is closed.
    pub(super) async fn send_body(&mut self, body: &mut Body, pending: &mut Vec<u8>) -> Result<()> {
        let timeout = self.config.timeouts.data_block;
        match body.encode_data(pending, timeout).await {
            Ok(size) => {
                self.link
                    .write_end_of_message(pending, Phase::Body, timeout);
                self.transcript.line_with(Direction::Sent, || {
                    format!("[message body, {size} octets, then the final dot]")
                });
                Ok(())
            }
            Err(e) => {
                let error = body_read_error(e);
                if matches!(error, Error::BodyRead(_) | Error::InvalidInput { .. }) {
                    // Not ending the message means the server discards it.
                    self.close(format!("reading the body failed: {error}"));
                } else {
                    // Writing failed while the body streamed: the
                    // terminator did not leave, nothing is delivered.
                    self.close(format!("sending the body failed: {error}"));
                }
                Err(error)
            }
        }
    }

    /// Ends a transaction that will not deliver: a pipelined DATA that got
    /// 354 is answered with an empty message to a server that has no
    /// recipients (RFC 2920 3.1), then RSET.
    pub(super) async fn abort_transaction(&mut self, data_reply: Option<&Reply>) -> Result<()> {
        if data_reply.is_some_and(|r| r.code() == 354) {
            self.link
                .write(b".\r\n", Phase::EndOfData, self.config.timeouts.data_block);
            self.transcript.line(Direction::Sent, ".");
            self.read_reply(Phase::EndOfData, self.config.timeouts.data_end)
                .await?;
        }
        let reply = self.command(&Command::Rset).await?;
        if !reply.is_positive() {
            self.close(format!("RSET refused: {reply}"));
        }
        Ok(())
    }
}

/// What the chunk and pending vectors keep between messages: a large
/// BDAT chunk is given back after its message.
const KEPT_CAPACITY: usize = 3 * crate::data::DEFAULT_BLOCK_SIZE + 4096;

/// How much of a message is read (and its lines checked) before anything
/// of it is sent (1 MiB, as much as the first BDAT chunk).
pub(super) const PREFETCH: usize = BDAT_CHUNK;

/// A failure reading the caller's body: a line that could not be fitted
/// is the caller's input, anything else a read error.
pub(super) fn body_read_error(e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<SinkFailure>()) {
        let inner = e.into_inner().expect("checked");
        let SinkFailure(cause) = *inner.downcast::<SinkFailure>().expect("checked");
        return cause;
    }
    match crate::message::long_line_error(&e) {
        Some(long) => Error::invalid("message", long.to_string()),
        None => Error::BodyRead(e),
    }
}

/// A failure once the end of the message may have reached the server:
/// the message may or may not have been accepted. A 421 stays a refusal.
pub(super) fn delivery_unknown(phase: Phase, cause: Error) -> Error {
    match cause {
        e @ (Error::Rejected { .. } | Error::DeliveryUnknown { .. }) => e,
        cause => Error::DeliveryUnknown {
            phase,
            cause: Box::new(cause),
        },
    }
}
