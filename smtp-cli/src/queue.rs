//! The outbox in smtp-send: sendmail mode's `--queue=never|on-failure|always`
//! (here), `-q`/`-qf` and `--queue-runner` (`queue/run.rs`), `-bp`
//! (`queue/list.rs`). The queue itself is [`smtp_core::Outbox`].

use std::io::Read;
use std::path::PathBuf;

use smtp_core::{Client, Error, Outbox, QueueId, RawMessage, SendReport};

use crate::exit::{map_error, Exit, Failure, Stage};
use crate::settings::{self, Purpose, QueueMode, Settings};

mod list;
mod run;

pub use list::list;
pub use run::{run_queue, runner};

/// What became of a message in sendmail mode.
pub enum Sent {
    /// The server took it now.
    Delivered(SendReport),
    /// It is in the outbox, to be delivered by `-q` or a runner.
    Queued {
        /// Its id in the outbox.
        id: QueueId,
        /// Why the attempt made before queueing failed (on-failure mode).
        error: Option<String>,
        /// The server's reply to that attempt, if any.
        reply: Option<String>,
    },
}

/// A spool error as smtp-send reports it: exit 75, saying that the
/// message is not queued.
pub fn spool_failure(error: &Error) -> Failure {
    Failure::new(
        Exit::TempFail,
        format!("the message was NOT queued: {error}"),
    )
}

/// Opens the outbox, or says why it cannot be.
pub fn open(dir: &Result<PathBuf, Failure>, settings: &Settings) -> Result<Outbox, Failure> {
    let dir = dir
        .as_ref()
        .map_err(|f| Failure::new(f.exit, f.message.clone()))?;
    Outbox::open(dir)
        .map(|outbox| outbox.with_policy(settings.retry))
        .map_err(|e| spool_failure(&e))
}

/// Sends (or queues) a sendmail-mode message as `settings.queue` says.
pub fn send<R: Read>(
    settings: &Settings,
    dir: &Result<PathBuf, Failure>,
    verbose: bool,
    message: &mut RawMessage<R>,
) -> Result<Sent, Failure> {
    match settings.queue {
        QueueMode::Never => {
            crate::deliver(settings, verbose, |client| client.send_raw_message(message))
                .map(Sent::Delivered)
        }
        QueueMode::Always => {
            // Nothing is sent: the web request never waits for the relay.
            let outbox = open(dir, settings)?;
            let id = outbox
                .enqueue_raw(message)
                .map_err(|e| read_or_spool_failure(&e))?;
            if verbose {
                eprintln!("smtp-send: queued as {id} in {}", outbox.dir().display());
            }
            Ok(Sent::Queued {
                id,
                error: None,
                reply: None,
            })
        }
        QueueMode::OnFailure => send_or_queue(settings, dir, verbose, message),
    }
}

/// A failure of the message's input stays what it is (74); anything else
/// while queueing is the spool's (75).
fn read_or_spool_failure(error: &Error) -> Failure {
    match error {
        Error::BodyRead(io) => Failure::new(
            Exit::IoErr,
            format!("reading the message from standard input: {io}"),
        ),
        _ => spool_failure(error),
    }
}

/// `--queue=on-failure`: deliver now, queue on a transient failure.
///
/// The message streams from standard input, a pipe that cannot be read
/// twice, and an attempt may fail after the server has read part of it.
/// So the attempt reads it through a [`smtp_core::outbox::Kept`] copy (an
/// unlinked file in the outbox's `tmp/`, not synced, gone with the
/// process): on success the copy is dropped and nothing was ever queued;
/// on a transient failure (exit 75: connection refused, timeout, 4xx, TLS
/// handshake, connection lost) the copy plus the unread rest, exactly the
/// bytes that were tried, are queued and synced, and only once
/// [`Outbox::enqueue_kept`] has returned is the message reported safe
/// (exit 0); on a permanent failure nothing is queued and the exit code is
/// the failure's. The message enters the queue only after the attempt has
/// ended, so no runner can send it while this process does: it is never
/// sent twice, except when the connection died after the final dot
/// (`DeliveryUnknown`), where the server may have it already; it is then
/// queued flagged as a possible duplicate (the outbox's at-least-once
/// rule). When the outbox cannot be used (unwritable, disk full) the
/// message is still sent; if that fails for now, the exit is 75 and the
/// error says it was not queued.
fn send_or_queue<R: Read>(
    settings: &Settings,
    dir: &Result<PathBuf, Failure>,
    verbose: bool,
    message: &mut RawMessage<R>,
) -> Result<Sent, Failure> {
    let mut spool = open(dir, settings).and_then(|outbox| {
        let kept = outbox.keeper().map_err(|e| spool_failure(&e))?;
        Ok((outbox, kept))
    });
    let mut config = settings::build_config(settings, Purpose::Send)?;
    if verbose {
        config = crate::with_transcript(config);
    }
    let server = settings.server().unwrap_or_default();
    let (error, stage) = match Client::connect(config) {
        Err(e) => (e, Stage::Connect),
        Ok(mut client) => {
            let result = match &mut spool {
                Ok((_, kept)) => kept.send_raw(&mut client, message),
                Err(_) => client.send_raw_message(message),
            };
            match result {
                Ok(report) => {
                    // The message is accepted; a failing QUIT changes nothing.
                    let _ = client.quit();
                    return Ok(Sent::Delivered(report));
                }
                Err(e) => (e, Stage::Send),
            }
        }
    };
    let failure = Failure::smtp(&error, stage, &server);
    if map_error(&error, stage) != Exit::TempFail {
        return Err(failure);
    }
    let (outbox, kept) = match spool {
        Ok(spool) => spool,
        Err(spool) => {
            return Err(Failure {
                message: format!("{}; {}", failure.message, spool.message),
                ..failure
            })
        }
    };
    let duplicate = matches!(error, Error::DeliveryUnknown { .. });
    match outbox.enqueue_kept(kept, message, &error) {
        Ok(id) => {
            if verbose {
                eprintln!(
                    "smtp-send: {}; queued as {id} in {} (smtp-send -q or the queue runner delivers it){}",
                    failure.message,
                    outbox.dir().display(),
                    if duplicate {
                        "; the server may have it already: its next delivery may be a duplicate"
                    } else {
                        ""
                    }
                );
            }
            Ok(Sent::Queued {
                id,
                error: Some(failure.message),
                reply: failure.reply,
            })
        }
        Err(e) => Err(Failure {
            message: format!("{}; {}", failure.message, read_or_spool_failure(&e).message),
            ..failure
        }),
    }
}
