//! Sending a raw message now while keeping a copy of what the attempt
//! read, so that a caller who sends first and queues only on a transient
//! failure (smtp-send's `--queue=on-failure`) can queue exactly the bytes
//! it tried to send, although the message streams from a pipe that cannot
//! be read twice.
//!
//! The copy lives in an unlinked file of the outbox's `tmp/`: it takes no
//! memory, is never fsynced (only the queued copy must be durable), and
//! vanishes by itself when dropped or when the process dies.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::SystemTime;

use super::{spool_error, FirstTry, Outbox, QueueId};
use crate::client::Client;
use crate::error::Result;
use crate::message::RawMessage;
use crate::report::SendReport;

/// The bytes a sending attempt read from a raw message (see
/// [`Kept::send_raw`] and [`Outbox::enqueue_kept`]).
#[derive(Debug)]
pub struct Kept {
    /// The unlinked copy; `None` once writing it failed.
    file: Option<File>,
    /// Bytes written to it.
    len: u64,
    /// Why the copy is incomplete, when writing it failed.
    error: Option<io::Error>,
}

impl Kept {
    /// How many bytes are kept.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was kept (nothing was read from the message yet).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the copy is complete so far (writing it has not failed).
    pub fn is_whole(&self) -> bool {
        self.error.is_none()
    }

    /// [`Client::send_raw_message`], every byte the attempt reads from
    /// `message` also written to this copy. A failure to write the copy
    /// does not stop the attempt: the copy is marked incomplete (and
    /// [`Outbox::enqueue_kept`] will refuse it).
    pub fn send_raw<R: Read>(
        &mut self,
        client: &mut Client,
        message: &mut RawMessage<R>,
    ) -> Result<SendReport> {
        let envelope = client.wire_envelope(message.envelope(), true)?;
        let outcome = match client.dkim_signer() {
            // Signed: the whole message is read (and kept) first.
            Some(signer) => {
                let mut tee = Tee {
                    message: &mut *message,
                    kept: self,
                };
                let (signature, spool) = signer.sign_spooled(&mut tee)?;
                let lines = signature.iter().filter(|&&b| b == b'\n').count() as u64;
                message.prepend_lines(lines);
                client.send(&envelope, &mut io::Cursor::new(signature).chain(spool))
            }
            None => client.send(
                &envelope,
                &mut Tee {
                    message: &mut *message,
                    kept: self,
                },
            ),
        };
        outcome.map_err(|e| message.renumber(e))
    }

    /// Adds bytes read from the message to the copy.
    fn keep(&mut self, bytes: &[u8]) {
        let Some(file) = &mut self.file else { return };
        match file.write_all(bytes) {
            Ok(()) => self.len += bytes.len() as u64,
            Err(e) => {
                self.error = Some(e);
                self.file = None;
            }
        }
    }
}

/// Reads the message and keeps what it gives.
struct Tee<'a, R> {
    message: &'a mut RawMessage<R>,
    kept: &'a mut Kept,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.message.read(buf)?;
        self.kept.keep(&buf[..n]);
        Ok(n)
    }
}

impl Outbox {
    /// An empty copy for [`Kept::send_raw`]: a new file in `tmp/`, unlinked
    /// at once. Errors: [`Error::Spool`](crate::Error::Spool) when the
    /// outbox cannot take a file.
    pub fn keeper(&self) -> Result<Kept> {
        let path = self.tmp_path(&QueueId::new(), "keep");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| spool_error(format!("creating {}", path.display()), e))?;
        fs::remove_file(&path)
            .map_err(|e| spool_error(format!("removing {}", path.display()), e))?;
        Ok(Kept {
            file: Some(file),
            len: 0,
            error: None,
        })
    }

    /// Queues a message whose attempt through [`Kept::send_raw`] failed:
    /// the kept bytes, then what the attempt did not read of `message`,
    /// so the queue holds exactly the prepared message, with its envelope
    /// (addresses as written). `failure` is why the attempt failed: the
    /// entry's last error from the start (what `-bp` shows), and, when it
    /// is [`Error::DeliveryUnknown`](crate::Error::DeliveryUnknown) (the
    /// connection died after the end of the data was sent), the entry is
    /// marked a possible duplicate. Errors: [`Error::Spool`](crate::Error::Spool)
    /// when the copy is incomplete or the disk fails (nothing is queued
    /// then), and those of [`Outbox::enqueue`].
    pub fn enqueue_kept<R: Read>(
        &self,
        kept: Kept,
        message: &mut RawMessage<R>,
        failure: &crate::Error,
    ) -> Result<QueueId> {
        if let Some(e) = kept.error {
            return Err(spool_error("keeping a copy of the message being sent", e));
        }
        let mut file = kept.file.expect("a whole copy has its file");
        file.seek(SeekFrom::Start(0))
            .map_err(|e| spool_error("reading the kept copy of the message", e))?;
        let envelope = message.envelope().clone();
        let mut body = CopyThenRest {
            copy: file.take(kept.len),
            copy_done: false,
            rest: message,
        };
        let first_try = FirstTry {
            possible_duplicate: matches!(failure, crate::Error::DeliveryUnknown { .. }),
            error: Some(failure.to_string()),
        };
        self.enqueue_flagged(&envelope, &mut body, SystemTime::now(), first_try)
    }
}

/// The kept copy, then the rest of the message. A failure to read the
/// copy fails the queueing like a failure of the message's input (as
/// [`Error::BodyRead`](crate::Error::BodyRead)), its words saying which.
struct CopyThenRest<'a, R> {
    copy: io::Take<File>,
    copy_done: bool,
    rest: &'a mut RawMessage<R>,
}

impl<R: Read> Read for CopyThenRest<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.copy_done {
            let n = self
                .copy
                .read(buf)
                .map_err(|e| io::Error::new(e.kind(), format!("reading the kept copy: {e}")))?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.copy_done = true;
        }
        self.rest.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::RawOptions;

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "smtp-outbox-keep-{}-{}",
            std::process::id(),
            crate::message::new_id_local()
        ))
    }

    /// What an attempt that read `n` bytes before failing leaves queued.
    fn queued_after_reading(n: usize) -> (Vec<u8>, Vec<u8>, bool) {
        let dir = temp_dir();
        let outbox = Outbox::open(&dir).unwrap();
        let input = b"To: a@example.net\r\nSubject: s\r\n\r\nline one\r\nline two\r\n".repeat(50);
        let author = crate::message::Mailbox::parse("me@example.org").unwrap();
        let options = RawOptions::new()
            .sender("me@example.org")
            .unwrap()
            .complete_headers(author);
        let mut message = RawMessage::read(&input[..], &options).unwrap();
        let mut kept = outbox.keeper().unwrap();
        // Nothing of the keeper is visible in tmp/.
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        let mut read = vec![0u8; n];
        Tee {
            message: &mut message,
            kept: &mut kept,
        }
        .read_exact(&mut read)
        .unwrap();
        assert_eq!(kept.len(), n as u64);
        assert!(kept.is_whole() && kept.is_empty() == (n == 0));
        let failure = if n > 0 {
            crate::Error::DeliveryUnknown {
                phase: crate::Phase::EndOfData,
                cause: Box::new(crate::Error::NotConnected("closed".into())),
            }
        } else {
            crate::Error::NotConnected("refused".into())
        };
        let id = outbox.enqueue_kept(kept, &mut message, &failure).unwrap();
        let last = outbox.entry(&id).unwrap().unwrap().last_error;
        assert_eq!(last, Some(failure.to_string()));
        let file = fs::read(outbox.message_path(&id)).unwrap();
        // The message's bytes follow the envelope that opens its file.
        let start = memchr::memmem::find(&file, b"\nend\n").unwrap() + 5;
        let queued = file[start..].to_vec();
        let entry = outbox.entry(&id).unwrap().unwrap();
        assert_eq!(entry.sender, "me@example.org");
        assert_eq!(entry.recipients[0].address, "a@example.net");
        assert_eq!(entry.size, queued.len() as u64);
        // The whole prepared message, as one reading gives it.
        let mut whole = Vec::new();
        RawMessage::read(&input[..], &options.at(SystemTime::UNIX_EPOCH))
            .unwrap()
            .read_to_end(&mut whole)
            .unwrap();
        fs::remove_dir_all(&dir).unwrap();
        (queued, whole, entry.possible_duplicate)
    }

    #[test]
    fn the_queue_gets_the_kept_bytes_then_the_rest() {
        for n in [0, 1, 40, 500, 2000] {
            let (queued, whole, duplicate) = queued_after_reading(n);
            // Added Date and Message-ID differ between two readings; the
            // lengths and the bodies agree, and the queued head has them once.
            let text = String::from_utf8(queued.clone()).unwrap();
            assert_eq!(text.matches("\r\nMessage-ID: ").count(), 1, "{n}");
            assert!(queued.ends_with(b"line one\r\nline two\r\n"), "{n}");
            let body = |m: &[u8]| {
                let at = m.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                m[at..].to_vec()
            };
            assert_eq!(body(&queued), body(&whole), "{n}");
            assert_eq!(duplicate, n > 0);
        }
    }

    #[test]
    fn an_incomplete_copy_is_not_queued() {
        let dir = temp_dir();
        let outbox = Outbox::open(&dir).unwrap();
        let options = RawOptions::new()
            .sender("me@example.org")
            .unwrap()
            .recipients("a@example.net")
            .unwrap();
        let mut message = RawMessage::read(&b"Subject: s\r\n\r\nbody\r\n"[..], &options).unwrap();
        let mut kept = outbox.keeper().unwrap();
        kept.keep(b"Subject");
        kept.error = Some(io::Error::other("disk full"));
        kept.file = None;
        assert!(!kept.is_whole());
        let err = outbox
            .enqueue_kept(kept, &mut message, &crate::Error::NotConnected("x".into()))
            .unwrap_err();
        assert!(
            matches!(err, crate::Error::Spool { .. }) && err.to_string().contains("disk full"),
            "{err}"
        );
        assert!(outbox.list().unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
