//! Delivering what the outbox holds: each due message under its lock, over
//! one connection, its recipients' results recorded as they come (an
//! accepted recipient is never sent again), failures bounced to the
//! sender, the rest deferred on the retry schedule.

use std::collections::{HashSet, VecDeque};
use std::io::{Seek, SeekFrom};
use std::time::SystemTime;

use super::dsn::{wants_notification, Report};
use super::policy::random_unit;
use super::state::{one_line, RecipientState, RecipientStatus, State};
use super::{Lock, Outbox, QueueId};
use crate::client::Client;
use crate::config::{Config, RecipientPolicy};
use crate::dsn::Notify;
use crate::envelope::Envelope;
use crate::error::{Error, Result};

/// What happened to one message in a delivery run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every recipient accepted: the message left the queue.
    Delivered,
    /// Done, but some recipients failed for good: they were bounced to the
    /// sender (unless the sender is null) and the message left the queue.
    Bounced,
    /// Some recipients are still open: tried again at `next`.
    Deferred {
        /// The next attempt.
        next: SystemTime,
    },
    /// Another runner holds the message; left alone.
    Busy,
    /// Its files are broken (see [`Entry::problem`](super::Entry)); left
    /// in the queue for a person to look at.
    Broken(String),
}

/// One message of a delivery run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageReport {
    /// Its id.
    pub id: QueueId,
    /// What happened.
    pub outcome: Outcome,
    /// Its recipients after the run.
    pub recipients: Vec<RecipientState>,
    /// The error of this attempt, if it failed as a whole.
    pub error: Option<String>,
    /// The connection died after the message's end was sent: it may have
    /// been delivered already, and the next attempt may duplicate it.
    pub possible_duplicate: bool,
    /// The id of the bounce or delay warning queued for the sender.
    pub notification: Option<QueueId>,
}

/// The result of [`Outbox::deliver_due`] and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The messages tried (or found busy or broken), in order.
    pub messages: Vec<MessageReport>,
}

impl DeliveryReport {
    /// How many messages left the queue delivered (or bounced).
    pub fn done(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| matches!(m.outcome, Outcome::Delivered | Outcome::Bounced))
            .count()
    }

    /// How many were deferred.
    pub fn deferred(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| matches!(m.outcome, Outcome::Deferred { .. }))
            .count()
    }
}

/// The connection a run uses: opened from a configuration when the first
/// message needs it (and again after it dropped), or the caller's. One
/// lives per run, so the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Connection<'a> {
    Config {
        config: Config,
        client: Option<Client>,
        /// Why connecting failed in this run: the other messages are
        /// deferred with it rather than waiting for the same failure.
        down: Option<String>,
    },
    Borrowed(&'a mut Client),
}

impl Connection<'_> {
    fn client(&mut self) -> std::result::Result<&mut Client, String> {
        match self {
            Connection::Borrowed(client) => Ok(client),
            Connection::Config {
                config,
                client,
                down,
            } => {
                if let Some(why) = down {
                    return Err(why.clone());
                }
                if client.as_ref().is_some_and(|c| !c.is_connected()) {
                    *client = None;
                }
                if client.is_none() {
                    match Client::connect(config.clone()) {
                        Ok(c) => *client = Some(c),
                        Err(e) => {
                            let why = e.to_string();
                            *down = Some(why.clone());
                            return Err(why);
                        }
                    }
                }
                Ok(client.as_mut().expect("connected above"))
            }
        }
    }

    fn finish(self) {
        if let Connection::Config {
            client: Some(mut client),
            ..
        } = self
        {
            let _ = client.quit();
        }
    }
}

/// Most messages sent in one pipelined run.
const BATCH: usize = 100;

/// A message past its checks, waiting in a batch to be sent: its lock
/// (the open message file, read as the body) and the rest.
struct Pending {
    lock: super::MessageLock,
    meta: Meta,
}

/// What a batch knows of one message beside its file.
struct Meta {
    id: QueueId,
    state: State,
    offset: u64,
    /// Whether a state file exists beside the message (see `retire`).
    state_file: bool,
    /// Too old: its open recipients failed; nothing is sent.
    expired: bool,
    /// Recorded: its report and, once it left the queue, the file to free.
    settled: Option<(MessageReport, Option<std::path::PathBuf>)>,
}

/// What [`Outbox::begin`] made of a message.
enum Begun {
    /// Nothing to send: done (reported, or not worth a line).
    Done(Option<MessageReport>),
    /// To be sent in the next batch (boxed: a state is large).
    Send(Box<Pending>),
}

/// A message locked and read for delivery, or why it is not.
enum Prepared {
    Ready(super::MessageLock, super::Message),
    Busy,
    Gone,
    Broken(String),
}

/// Which messages a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Those whose next attempt has come.
    Due,
    /// Every message not held.
    All,
}

impl Outbox {
    /// Delivers the messages whose next attempt has come, over one
    /// connection made from `config` when the first one needs it. Each
    /// recipient's result is recorded as it comes; a recipient refused for
    /// good is bounced to the sender; the others are retried on the
    /// schedule. Only an error of the spool itself is an `Err`: delivery
    /// failures are in the report.
    pub fn deliver_due(&self, config: &Config) -> Result<DeliveryReport> {
        self.run(self.connection(config), Which::Due, SystemTime::now())
    }

    /// Delivers every message not held, due or not.
    pub fn flush(&self, config: &Config) -> Result<DeliveryReport> {
        self.run(self.connection(config), Which::All, SystemTime::now())
    }

    /// [`Outbox::flush`] (or, with `due_only`, [`Outbox::deliver_due`])
    /// over a session the caller opened; it stays open.
    pub fn deliver_with(&self, client: &mut Client, due_only: bool) -> Result<DeliveryReport> {
        let which = if due_only { Which::Due } else { Which::All };
        self.run(Connection::Borrowed(client), which, SystemTime::now())
    }

    /// [`Outbox::deliver_due`] as if the time were `now` (for tests of the
    /// schedule).
    #[doc(hidden)]
    pub fn deliver_due_at(&self, config: &Config, now: SystemTime) -> Result<DeliveryReport> {
        self.run(self.connection(config), Which::Due, now)
    }

    fn connection(&self, config: &Config) -> Connection<'static> {
        // Per-recipient results need the accepted ones delivered even when
        // others are refused.
        Connection::Config {
            config: config
                .clone()
                .with_recipient_policy(RecipientPolicy::DeliverToAccepted),
            client: None,
            down: None,
        }
    }

    fn run(
        &self,
        mut connection: Connection<'_>,
        which: Which,
        now: SystemTime,
    ) -> Result<DeliveryReport> {
        let mut report = DeliveryReport::default();
        let mut todo: VecDeque<QueueId> = VecDeque::new();
        let mut seen = HashSet::new();
        // The queue's messages are locked and read a few ahead by another
        // thread; notifications queued in this run follow, read here.
        let ids = self.ids()?;
        let (ready, prepared) =
            std::sync::mpsc::sync_channel::<(QueueId, Result<Prepared>)>(2 * BATCH);
        let ahead = self.clone();
        let preparing = std::thread::Builder::new()
            .name("outbox-read".into())
            .spawn(move || {
                for id in ids {
                    let work = ahead.prepare(&id);
                    if ready.send((id, work)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| crate::outbox::spool_error("starting a thread", e))?;
        // Messages go out in batches over the one connection, pipelined
        // across messages; notifications queued in this run follow.
        let mut batch: Vec<Pending> = Vec::new();
        let result = (|| {
            let mut step = |id: QueueId,
                            work: Result<Prepared>,
                            batch: &mut Vec<Pending>,
                            report: &mut DeliveryReport,
                            connection: &mut Connection<'_>| {
                if !seen.insert(id.clone()) {
                    return Ok(());
                }
                match self.begin(&id, work?, which, now)? {
                    Begun::Done(Some(message)) => report.messages.push(message),
                    Begun::Done(None) => {}
                    Begun::Send(pending) => {
                        batch.push(*pending);
                        if batch.len() >= BATCH {
                            self.send_batch(batch, connection, now, report)?;
                        }
                    }
                }
                Ok::<(), Error>(())
            };
            for (id, work) in prepared.iter() {
                step(id, work, &mut batch, &mut report, &mut connection)?;
            }
            self.send_batch(&mut batch, &mut connection, now, &mut report)?;
            let mut next = 0;
            loop {
                // Notifications queued by the messages reported so far.
                todo.extend(
                    report.messages[next..]
                        .iter()
                        .filter_map(|m| m.notification.clone()),
                );
                next = report.messages.len();
                let Some(id) = todo.pop_front() else {
                    break;
                };
                let work = self.prepare(&id);
                step(id, work, &mut batch, &mut report, &mut connection)?;
                if todo.is_empty() {
                    self.send_batch(&mut batch, &mut connection, now, &mut report)?;
                }
            }
            Ok(())
        })();
        // A spool error mid-run leaves the locked messages as they were.
        drop(batch);
        drop(prepared);
        let _ = preparing.join();
        connection.finish();
        result.map(|()| report)
    }

    /// One message under its lock; `None` when there was nothing to do.
    /// Locks a message and reads its state: the file work before a
    /// delivery, done ahead by another thread while the connection is busy
    /// with the message before.
    fn prepare(&self, id: &QueueId) -> Result<Prepared> {
        let mut lock = match self.try_lock(id)? {
            Lock::Held(lock) => lock,
            Lock::Busy => return Ok(Prepared::Busy),
            // Delivered by another runner meanwhile.
            Lock::Gone => return Ok(Prepared::Gone),
        };
        Ok(match self.read_state_from(id, &mut lock.file)? {
            Err(reason) => Prepared::Broken(reason),
            Ok(message) => Prepared::Ready(lock, message),
        })
    }

    /// The checks before a message is sent: held, not due, expired (its
    /// open recipients fail now) or broken ones are done here; the others
    /// come back ready to send, their file at the message's start.
    fn begin(
        &self,
        id: &QueueId,
        prepared: Prepared,
        which: Which,
        now: SystemTime,
    ) -> Result<Begun> {
        let blank = |outcome| MessageReport {
            id: id.clone(),
            outcome,
            recipients: Vec::new(),
            error: None,
            possible_duplicate: false,
            notification: None,
        };
        let (mut lock, message) = match prepared {
            Prepared::Ready(lock, message) => (lock, message),
            Prepared::Busy => return Ok(Begun::Done(Some(blank(Outcome::Busy)))),
            Prepared::Gone => return Ok(Begun::Done(None)),
            Prepared::Broken(reason) => {
                return Ok(Begun::Done(Some(blank(Outcome::Broken(reason)))))
            }
        };
        let (mut state, offset, state_file) = (message.state, message.offset, message.state_file);
        if state.held || (which == Which::Due && state.next_attempt > now) {
            return Ok(Begun::Done(None));
        }
        let expired = now
            .duration_since(state.created)
            .is_ok_and(|age| age > self.policy.lifetime);
        if expired {
            for r in state.recipients.iter_mut().filter(|r| r.status.is_open()) {
                r.status = RecipientStatus::Failed;
            }
        } else if let Err(e) = lock.file.seek(SeekFrom::Start(offset)) {
            return Ok(Begun::Done(Some(blank(Outcome::Broken(format!(
                "cannot read its message file: {e}"
            ))))));
        }
        // Nothing open (a runner died between recording the last reply and
        // retiring the message): settled without sending.
        let nothing_open = !state.recipients.iter().any(|r| r.status.is_open());
        Ok(Begun::Send(Box::new(Pending {
            lock,
            meta: Meta {
                id: id.clone(),
                state,
                offset,
                state_file,
                expired: expired || nothing_open,
                settled: None,
            },
        })))
    }

    /// Sends the batch's messages (those not expired) over the connection,
    /// pipelined across messages; each one's outcome is recorded (state
    /// written, or the message retired, and the sender notified) as its
    /// reply comes, before the client reads or writes anything more.
    fn send_batch(
        &self,
        batch: &mut Vec<Pending>,
        connection: &mut Connection<'_>,
        now: SystemTime,
        report: &mut DeliveryReport,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut files = Vec::with_capacity(batch.len());
        let mut metas = Vec::with_capacity(batch.len());
        for p in batch.iter_mut() {
            files.push(Some(&mut p.lock.file));
            metas.push(&mut p.meta);
        }
        let mut spool_error: Option<Error> = None;
        let mut settle = |meta: &mut Meta, error: Option<String>| {
            if spool_error.is_some() {
                return;
            }
            match self.settle(meta, error, now) {
                Ok(settled) => meta.settled = Some(settled),
                Err(e) => spool_error = Some(e),
            }
        };
        let sending: Vec<usize> = (0..metas.len()).filter(|&i| !metas[i].expired).collect();
        if !sending.is_empty() {
            match connection.client() {
                Err(why) => {
                    for &i in &sending {
                        defer_open(&mut metas[i].state, &why);
                        settle(metas[i], Some(why.clone()));
                    }
                }
                Ok(client) => {
                    let mut envelopes: Vec<(usize, Envelope)> = Vec::with_capacity(sending.len());
                    for &i in &sending {
                        match open_envelope(client, &metas[i].state) {
                            Ok(envelope) => envelopes.push((i, envelope)),
                            Err(e) => {
                                // An address this server cannot take
                                // (SMTPUTF8): for good.
                                fail_open(&mut metas[i].state, &e.to_string());
                                settle(metas[i], Some(e.to_string()));
                            }
                        }
                    }
                    // Signed at delivery when the configuration has DKIM.
                    let signer = client.dkim_signer();
                    let mut sent = Vec::with_capacity(envelopes.len());
                    let mut messages = Vec::with_capacity(envelopes.len());
                    for (i, envelope) in envelopes {
                        let file = files[i].take().expect("each file once");
                        match crate::client::sign_file(signer.as_deref(), file) {
                            Ok(reader) => {
                                // SIZE covers the signature too.
                                let signature = reader.get_ref().0.get_ref().len() as u64;
                                let mut declared = envelope.clone();
                                declared.size = declared.size.map(|s| s + signature);
                                messages.push((declared, reader));
                                sent.push((i, envelope));
                            }
                            Err(e) => {
                                defer_open(&mut metas[i].state, &e.to_string());
                                settle(metas[i], Some(e.to_string()));
                            }
                        }
                    }
                    client.send_many_with(messages, |k, result| {
                        let (i, envelope) = &sent[k];
                        let meta = &mut *metas[*i];
                        let error = record_outcome(&mut meta.state, envelope, result);
                        settle(meta, error);
                    });
                }
            }
        }
        for meta in metas.iter_mut().filter(|m| m.settled.is_none()) {
            settle(meta, None);
        }
        if let Some(e) = spool_error {
            return Err(e);
        }
        for pending in batch.drain(..) {
            let Pending { lock, meta } = pending;
            let (message, done) = meta.settled.expect("every message settled above");
            // Closed (and unlocked) before another thread frees it.
            drop(lock);
            if let Some(done) = done {
                // Its blocks are freed off the delivery's path.
                self.freer.free(done);
            }
            report.messages.push(message);
        }
        Ok(())
    }

    /// Records an attempt: the message leaves the queue when no recipient
    /// is open (bounced to the sender for those that failed), or is
    /// deferred on the schedule (its state written). Returns its report
    /// and, when it left the queue, the file to free.
    fn settle(
        &self,
        meta: &mut Meta,
        error: Option<String>,
        now: SystemTime,
    ) -> Result<(MessageReport, Option<std::path::PathBuf>)> {
        let Meta {
            id,
            state,
            offset,
            state_file,
            expired,
            ..
        } = meta;
        let (id, offset, state_file, expired) = (&*id, *offset, *state_file, *expired);
        let mut done = None;
        let open = state.recipients.iter().any(|r| r.status.is_open());
        let mut notification = None;
        let outcome = if open {
            state.attempts = state.attempts.saturating_add(1);
            let next = now + self.policy.delay_with_jitter(state.attempts, random_unit());
            state.next_attempt = next;
            state.last_error = error.clone();
            let warn_due = self.policy.warn_after.is_some_and(|after| {
                now.duration_since(state.created)
                    .is_ok_and(|age| age >= after)
            });
            if warn_due && !state.warned && !state.sender.is_empty() {
                let delayed: Vec<&RecipientState> = state
                    .recipients
                    .iter()
                    .filter(|r| r.status.is_open())
                    .filter(|r| wants_notification(state, r, Notify::DELAY))
                    .collect();
                if !delayed.is_empty() {
                    notification = Some(self.notify(
                        Report::Delayed,
                        state,
                        &delayed,
                        false,
                        now,
                        (id, offset),
                    )?);
                }
                state.warned = true;
            }
            self.write_state(id, state)?;
            Outcome::Deferred { next }
        } else {
            let failed: Vec<&RecipientState> = state
                .recipients
                .iter()
                .filter(|r| r.status == RecipientStatus::Failed)
                .collect();
            let bounced: Vec<&RecipientState> = failed
                .iter()
                .copied()
                .filter(|r| wants_notification(state, r, Notify::FAILURE))
                .collect();
            // Never a bounce of a bounce: a null sender gets none.
            if !bounced.is_empty() && !state.sender.is_empty() {
                notification = Some(self.notify(
                    Report::Failed,
                    state,
                    &bounced,
                    expired,
                    now,
                    (id, offset),
                )?);
            }
            done = Some(self.retire(id, state_file)?);
            if failed.is_empty() {
                Outcome::Delivered
            } else {
                Outcome::Bounced
            }
        };
        let report = MessageReport {
            id: id.clone(),
            outcome,
            recipients: state.recipients.clone(),
            error,
            possible_duplicate: state.possible_duplicate,
            notification,
        };
        Ok((report, done))
    }
}

/// Marks every open recipient deferred with `why`.
fn defer_open(state: &mut State, why: &str) {
    for r in state.recipients.iter_mut().filter(|r| r.status.is_open()) {
        r.status = RecipientStatus::Deferred;
        r.reply = Some(one_line(why));
    }
}

/// The envelope of a message's open recipients, in wire form for this
/// server.
fn open_envelope(client: &Client, state: &State) -> Result<Envelope> {
    let open: Vec<String> = state
        .recipients
        .iter()
        .filter(|r| r.status.is_open())
        .map(|r| r.address.clone())
        .collect();
    let mut envelope = Envelope::new(state.sender.clone(), open)?
        .with_size(state.size)
        .with_8bit_body(state.eight_bit);
    envelope.ext = open_extensions(state);
    client.wire_envelope(&envelope, false)
}

/// The message's extension parameters for its open recipients (in their
/// order), each keeping its own.
fn open_extensions(state: &State) -> crate::dsn::Extensions {
    let ext = &state.extensions;
    let recipients = if ext.recipients.is_empty() {
        Vec::new()
    } else {
        state
            .recipients
            .iter()
            .zip(&ext.recipients)
            .filter(|(r, _)| r.status.is_open())
            .map(|(_, p)| p.clone())
            .collect()
    };
    crate::dsn::Extensions {
        recipients,
        ..ext.clone()
    }
}

/// Records one message's result; the error of the attempt as a whole.
fn record_outcome(
    state: &mut State,
    envelope: &Envelope,
    result: &Result<crate::report::SendReport>,
) -> Option<String> {
    match result {
        Ok(report) => {
            record(state, envelope, &report.recipients);
            None
        }
        Err(Error::RecipientsRefused { refused }) => {
            record(state, envelope, refused);
            None
        }
        Err(e) => {
            let why = match e.reply() {
                Some(reply) => reply.to_string(),
                None => e.to_string(),
            };
            if matches!(e, Error::DeliveryUnknown { .. }) {
                state.possible_duplicate = true;
            }
            if e.is_transient() || matches!(e, Error::NotConnected(_) | Error::BodyRead(_)) {
                defer_open(state, &why);
            } else {
                fail_open(state, &why);
            }
            Some(e.to_string())
        }
    }
}

/// Marks every open recipient failed with `why`.
fn fail_open(state: &mut State, why: &str) {
    for r in state.recipients.iter_mut().filter(|r| r.status.is_open()) {
        r.status = RecipientStatus::Failed;
        r.reply = Some(one_line(why));
    }
}

/// Records the server's reply for each recipient of `envelope` (wire
/// addresses, in the order of the state's open recipients).
fn record(state: &mut State, envelope: &Envelope, results: &[crate::report::RecipientResult]) {
    let open: Vec<usize> = state
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status.is_open())
        .map(|(i, _)| i)
        .collect();
    for (slot, wire) in open.iter().zip(envelope.to()) {
        let Some(result) = results.iter().find(|r| &r.address == wire) else {
            continue;
        };
        let r = &mut state.recipients[*slot];
        r.reply = Some(one_line(&result.reply.to_string()));
        r.status = if result.accepted() {
            RecipientStatus::Delivered
        } else if result.reply.is_transient() {
            RecipientStatus::Deferred
        } else {
            RecipientStatus::Failed
        };
    }
}
