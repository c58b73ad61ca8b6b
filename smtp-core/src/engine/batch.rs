//! Many messages over one session, pipelined across messages (RFC 2920
//! 3.1, RFC 3030): with CHUNKING, each message's envelope and its one
//! `BDAT ... LAST` chunk go out behind the previous message's without
//! waiting, within a bounded window; with PIPELINING alone, the next
//! message's `MAIL`, `RCPT`s and `DATA` go in the same write as the
//! previous message's final dot. Every reply is still read in order and
//! matched to its command, so each message's result is exact; when the
//! connection fails, each message without its final reply is reported
//! as not delivered or as [`Error::DeliveryUnknown`], by whether its end
//! had been written.

use std::collections::VecDeque;

use super::body::{BdatChunks, Body, BDAT_CHUNK};
use super::transaction::{body_read_error, delivery_unknown, PREFETCH};
use super::Session;
use crate::command::Command;
use crate::config::RecipientPolicy;
use crate::dsn::Omitted;
use crate::error::{Error, Phase, Result};
use crate::report::{RecipientResult, SendReport};
use crate::transcript::Direction;
use crate::Envelope;

/// Most messages whose final reply may be outstanding at once.
pub const WINDOW_MESSAGES: usize = 1000;

/// Most octets of messages whose final reply may be outstanding at once.
pub const WINDOW_BYTES: usize = 4 * 1024 * 1024;

/// Most commands whose reply may be outstanding at once (messages with
/// many recipients fill the window by their `RCPT`s).
pub const WINDOW_COMMANDS: usize = 10_000;

/// A message whose commands are written and whose replies are not all in.
struct Flight {
    index: usize,
    /// An `RSET` goes first (a message behind another in the window:
    /// whatever the previous one left, this one starts clean).
    rset: bool,
    /// Where the message's end lies in the output.
    end: u64,
    /// Octets written for it.
    bytes: usize,
    /// Commands written for it (each has a reply to come).
    commands: usize,
}

/// What the window holds: octets and commands whose replies are to come.
#[derive(Default)]
struct Load {
    bytes: usize,
    commands: usize,
}

impl Load {
    fn full(&self, messages: usize) -> bool {
        messages >= WINDOW_MESSAGES
            || self.bytes >= WINDOW_BYTES
            || self.commands >= WINDOW_COMMANDS
    }
}

/// How the connection ended, for the messages it leaves without replies.
struct Broken {
    why: String,
    /// The server closed with a reply (421): nothing after it was taken.
    certain: bool,
}

/// Which messages of the batch have their result (handed to the driver
/// through the link as each comes, so a caller can record it at once).
struct Results {
    link: super::wire::Link,
    done: Vec<bool>,
    /// The extensions each message goes without (known once it is prepared).
    omitted: Vec<Omitted>,
}

impl Results {
    fn set(&mut self, index: usize, mut result: Result<SendReport>) {
        self.done[index] = true;
        if let Ok(report) = &mut result {
            report.omitted_extensions = self.omitted[index].names();
        }
        self.link.finished(index, result);
    }

    fn is_set(&self, index: usize) -> bool {
        self.done[index]
    }
}

impl Session {
    /// Sends every message of `envelopes`; one result per message.
    pub(super) async fn send_many(&mut self, envelopes: &[Envelope]) {
        let mut results = Results {
            link: self.link.clone(),
            done: vec![false; envelopes.len()],
            omitted: vec![Omitted::default(); envelopes.len()],
        };
        let (mut body, mut chunk, mut pending) = self.take_buffers();
        let caps = &self.facts.capabilities;
        let pipelined = self.config.pipelining && caps.pipelining;
        let chunking = self.config.chunking && caps.chunking;
        // "All or nothing" needs every RCPT reply before any body.
        let across =
            pipelined && self.config.recipient_policy == RecipientPolicy::DeliverToAccepted;
        if self.closed.is_none() {
            self.transcript.line_with(Direction::Info, || {
                format!(
                    "sending {} messages{}",
                    envelopes.len(),
                    match (across, chunking) {
                        (true, true) => ", pipelined with BDAT",
                        (true, false) => ", pipelined after each final dot",
                        _ => "",
                    }
                )
            });
        }
        let run = Run {
            envelopes,
            body: &mut body,
            chunk: &mut chunk,
            pending: &mut pending,
        };
        match (across, chunking) {
            (true, true) => self.many_with_bdat(run, &mut results).await,
            (true, false) => self.many_with_data(run, &mut results).await,
            _ => self.many_one_by_one(run, &mut results).await,
        }
        self.put_buffers(body, chunk, pending);
        let why = self.closed.clone().unwrap_or_default();
        for i in 0..envelopes.len() {
            if !results.is_set(i) {
                results.set(i, Err(not_sent(&why)));
            }
        }
    }

    /// Without pipelining across messages: one transaction after another.
    async fn many_one_by_one(&mut self, run: Run<'_>, results: &mut Results) {
        for (i, envelope) in run.envelopes.iter().enumerate() {
            if self.closed.is_some() {
                return;
            }
            self.link.next_body(i);
            run.body.start(self.config.long_lines);
            let outcome = self
                .transaction(envelope, run.body, run.chunk, run.pending)
                .await;
            results.set(i, outcome);
        }
    }

    /// Starts message `i`: its body's start read and checked, nothing sent.
    async fn prepare(
        &mut self,
        i: usize,
        envelope: &Envelope,
        body: &mut Body,
        want: usize,
    ) -> Result<Omitted> {
        self.link.next_body(i);
        body.start(self.config.long_lines);
        let omitted = self.check_envelope(envelope)?;
        body.prefetch(want).await.map_err(body_read_error)?;
        Ok(omitted)
    }

    /// PIPELINING and CHUNKING: a window of messages, each `[RSET] MAIL
    /// RCPT... BDAT n LAST` and its chunk, written without waiting.
    async fn many_with_bdat(&mut self, run: Run<'_>, results: &mut Results) {
        let Run {
            envelopes,
            body,
            chunk,
            pending,
        } = run;
        let mut window: VecDeque<Flight> = VecDeque::new();
        let mut load = Load::default();
        let mut broken: Option<Broken> = None;
        let mut first = true;
        for (i, envelope) in envelopes.iter().enumerate() {
            if self.closed.is_some() {
                break;
            }
            let omitted = match self.prepare(i, envelope, body, BDAT_CHUNK).await {
                Ok(omitted) => omitted,
                Err(e) => {
                    results.set(i, Err(e));
                    continue;
                }
            };
            results.omitted[i] = omitted;
            if !body.fits_one_chunk(BDAT_CHUNK) {
                // A large message goes on its own, chunk after chunk.
                self.land(&mut window, &mut load, &mut broken, envelopes, results)
                    .await;
                if self.closed.is_some() {
                    break;
                }
                let outcome = self.transaction(envelope, body, chunk, pending).await;
                first = self.closed.is_none() && outcome.is_ok();
                results.set(i, outcome);
                continue;
            }
            let mut chunks = BdatChunks::new(body, pending);
            let last = match chunks.next(chunk).await {
                Ok(last) => last,
                Err(e) => {
                    results.set(i, Err(body_read_error(e)));
                    continue;
                }
            };
            debug_assert!(last, "fits_one_chunk said so");
            let repaired_len = chunks.repaired().then_some(chunk.len());
            let mut commands = Vec::with_capacity(envelope.to.len() + 3);
            let rset = !first;
            if rset {
                commands.push(Command::Rset);
            }
            self.envelope_commands(envelope, repaired_len, omitted, &mut commands);
            commands.push(Command::Bdat {
                size: chunk.len() as u64,
                last: true,
            });
            let mut wire = Vec::with_capacity(64 * commands.len() + chunk.len());
            if let Err(e) = commands.iter().try_for_each(|c| c.to_wire(&mut wire)) {
                results.set(i, Err(e));
                continue;
            }
            for cmd in &commands {
                self.transcript
                    .line_with(Direction::Sent, || cmd.to_transcript());
            }
            self.note_chunk(chunk.len());
            wire.extend_from_slice(chunk);
            self.link
                .write(&wire, Phase::MailFrom, self.config.timeouts.mail);
            window.push_back(Flight {
                index: i,
                rset,
                end: self.link.queued_total(),
                bytes: wire.len(),
                commands: commands.len(),
            });
            load.bytes += wire.len();
            load.commands += commands.len();
            first = false;
            while load.full(window.len()) {
                self.land_one(&mut window, &mut load, &mut broken, envelopes, results)
                    .await;
            }
        }
        self.land(&mut window, &mut load, &mut broken, envelopes, results)
            .await;
    }

    /// Reads the replies of every message in the window.
    async fn land(
        &mut self,
        window: &mut VecDeque<Flight>,
        load: &mut Load,
        broken: &mut Option<Broken>,
        envelopes: &[Envelope],
        results: &mut Results,
    ) {
        while !window.is_empty() {
            self.land_one(window, load, broken, envelopes, results)
                .await;
        }
    }

    /// Reads the replies of the oldest message in the window.
    async fn land_one(
        &mut self,
        window: &mut VecDeque<Flight>,
        load: &mut Load,
        broken: &mut Option<Broken>,
        envelopes: &[Envelope],
        results: &mut Results,
    ) {
        let Some(flight) = window.pop_front() else {
            return;
        };
        load.bytes -= flight.bytes;
        load.commands -= flight.commands;
        if let Some(b) = broken.as_ref() {
            results.set(flight.index, Err(self.lost(&flight, b)));
            return;
        }
        let envelope = &envelopes[flight.index];
        match self.read_flight(&flight, envelope).await {
            Ok(outcome) => results.set(flight.index, outcome),
            Err(e) => {
                let certain = matches!(e, Error::Rejected { .. });
                *broken = Some(Broken {
                    why: e.to_string(),
                    certain,
                });
                let end_written = self.link.written_total() >= flight.end;
                results.set(
                    flight.index,
                    Err(if end_written {
                        delivery_unknown(Phase::EndOfData, e)
                    } else {
                        e
                    }),
                );
            }
        }
    }

    /// The replies of one message in order: its result, or Err when the
    /// connection failed on the way.
    async fn read_flight(
        &mut self,
        flight: &Flight,
        envelope: &Envelope,
    ) -> Result<Result<SendReport>> {
        if flight.rset {
            // A refused RSET shows in the MAIL reply that follows.
            self.read_reply(Phase::Rset, self.timeout_for(Phase::Rset))
                .await?;
        }
        let (mail, recipients) = self.envelope_replies(envelope).await?;
        let last = self
            .read_reply(Phase::EndOfData, self.timeout_for(Phase::EndOfData))
            .await?;
        Ok(judge(mail, recipients, last))
    }

    /// The result of a message the connection failed before answering.
    fn lost(&self, flight: &Flight, broken: &Broken) -> Error {
        let end_written = self.link.written_total() >= flight.end;
        if end_written && !broken.certain {
            Error::DeliveryUnknown {
                phase: Phase::EndOfData,
                cause: Box::new(Error::NotConnected(format!(
                    "the connection failed before this message's reply ({})",
                    broken.why
                ))),
            }
        } else {
            not_sent(&broken.why)
        }
    }

    /// PIPELINING without CHUNKING: each message's envelope and `DATA` go
    /// out with the previous message's final dot; its final reply is read
    /// with them.
    async fn many_with_data(&mut self, run: Run<'_>, results: &mut Results) {
        let Run {
            envelopes,
            body,
            pending,
            ..
        } = run;
        // The message whose final dot is written and whose reply is not in.
        let mut awaiting: Option<(usize, Vec<RecipientResult>)> = None;
        for (i, envelope) in envelopes.iter().enumerate() {
            if self.closed.is_some() {
                break;
            }
            let omitted = match self.prepare(i, envelope, body, PREFETCH).await {
                Ok(omitted) => omitted,
                Err(e) => {
                    results.set(i, Err(e));
                    continue;
                }
            };
            results.omitted[i] = omitted;
            let mut commands = Vec::with_capacity(envelope.to.len() + 2);
            self.envelope_commands(envelope, body.repaired_len(), omitted, &mut commands);
            commands.push(Command::Data);
            let mut wire = Vec::with_capacity(64 * commands.len());
            if let Err(e) = commands.iter().try_for_each(|c| c.to_wire(&mut wire)) {
                results.set(i, Err(e));
                continue;
            }
            for cmd in &commands {
                self.transcript
                    .line_with(Direction::Sent, || cmd.to_transcript());
            }
            self.link
                .write(&wire, Phase::MailFrom, self.config.timeouts.mail);
            if let Some((previous, recipients)) = awaiting.take() {
                let outcome = self.final_reply(recipients).await;
                results.set(previous, outcome);
                if self.closed.is_some() {
                    // This message's commands may be written, its body is
                    // not: it was not delivered.
                    break;
                }
            }
            let (mail, recipients, data) = match self.data_envelope_replies(envelope).await {
                Ok(replies) => replies,
                Err(e) => {
                    results.set(i, Err(e));
                    break;
                }
            };
            let refusal = if !mail.is_positive() {
                Some(Error::Rejected {
                    phase: Phase::MailFrom,
                    reply: mail,
                })
            } else if !recipients.iter().any(RecipientResult::accepted) {
                Some(Error::RecipientsRefused {
                    refused: recipients.clone(),
                })
            } else {
                None
            };
            if let Some(refusal) = refusal {
                // A 354 is answered with an empty message, then RSET.
                let aborted = self.abort_transaction(Some(&data)).await;
                results.set(i, Err(refusal));
                if aborted.is_err() {
                    break;
                }
                continue;
            }
            if data.code() != 354 {
                let aborted = self.abort_transaction(None).await;
                results.set(
                    i,
                    Err(Error::Rejected {
                        phase: Phase::Data,
                        reply: data,
                    }),
                );
                if aborted.is_err() {
                    break;
                }
                continue;
            }
            if let Err(e) = self.send_body(body, pending).await {
                results.set(i, Err(e));
                break;
            }
            awaiting = Some((i, recipients));
        }
        if let Some((previous, recipients)) = awaiting.take() {
            results.set(previous, self.final_reply(recipients).await);
        }
    }
}

impl Session {
    /// The replies to `MAIL` and each `RCPT`, in order.
    async fn envelope_replies(
        &mut self,
        envelope: &Envelope,
    ) -> Result<(crate::Reply, Vec<RecipientResult>)> {
        let mail = self
            .read_reply(Phase::MailFrom, self.timeout_for(Phase::MailFrom))
            .await?;
        let mut recipients = Vec::with_capacity(envelope.to.len());
        for address in &envelope.to {
            let reply = self
                .read_reply(Phase::RcptTo, self.timeout_for(Phase::RcptTo))
                .await?;
            recipients.push(RecipientResult {
                address: address.clone(),
                reply,
            });
        }
        Ok((mail, recipients))
    }

    /// The replies to `MAIL`, each `RCPT` and `DATA`, in order.
    async fn data_envelope_replies(
        &mut self,
        envelope: &Envelope,
    ) -> Result<(crate::Reply, Vec<RecipientResult>, crate::Reply)> {
        let (mail, recipients) = self.envelope_replies(envelope).await?;
        let data = self
            .read_reply(Phase::Data, self.timeout_for(Phase::Data))
            .await?;
        Ok((mail, recipients, data))
    }

    /// The reply to a message's final dot.
    async fn final_reply(&mut self, recipients: Vec<RecipientResult>) -> Result<SendReport> {
        let timeout = self.config.timeouts.data_end;
        match self.read_reply(Phase::EndOfData, timeout).await {
            Ok(reply) if reply.is_positive() => Ok(SendReport {
                recipients,
                reply,
                omitted_extensions: Vec::new(),
            }),
            Ok(reply) => Err(Error::Rejected {
                phase: Phase::EndOfData,
                reply,
            }),
            // The terminator did not leave whole: nothing is delivered.
            Err(e) if !self.link.end_of_message_written() => Err(e),
            Err(e) => Err(delivery_unknown(Phase::EndOfData, e)),
        }
    }
}

/// What one message's batch needs beside the session.
struct Run<'a> {
    envelopes: &'a [Envelope],
    body: &'a mut Body,
    chunk: &'a mut Vec<u8>,
    pending: &'a mut Vec<u8>,
}

/// A message's result from its replies.
fn judge(
    mail: crate::Reply,
    recipients: Vec<RecipientResult>,
    last: crate::Reply,
) -> Result<SendReport> {
    if !mail.is_positive() {
        return Err(Error::Rejected {
            phase: Phase::MailFrom,
            reply: mail,
        });
    }
    if !recipients.iter().any(RecipientResult::accepted) {
        return Err(Error::RecipientsRefused {
            refused: recipients,
        });
    }
    if !last.is_positive() {
        return Err(Error::Rejected {
            phase: Phase::EndOfData,
            reply: last,
        });
    }
    Ok(SendReport {
        recipients,
        reply: last,
        omitted_extensions: Vec::new(),
    })
}

/// The result of a message never sent because the connection ended.
fn not_sent(why: &str) -> Error {
    Error::NotConnected(if why.is_empty() {
        "the message was not sent: the session is closed".into()
    } else {
        format!("the message was not sent: the connection ended earlier in the batch ({why})")
    })
}
