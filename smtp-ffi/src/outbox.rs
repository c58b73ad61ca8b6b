//! `smtp_outbox`: the durable local queue of smtp-core (`Outbox`) for C:
//! open a spool directory, enqueue composed or raw messages (each one is
//! on disk, synced, when the call returns its id), deliver them over an
//! open `smtp_client`, list and control what is queued.
//!
//! This file holds the handle, opening and enqueueing; `outbox/deliver.rs`
//! the delivery runs and their report, `outbox/list.rs` the listing and
//! the control calls.

use std::ffi::{c_char, c_int, CString};

use smtp_core::{EncodeOptions, Outbox, QueueId, RawMessage, RawOptions};

use crate::args::{bytes_arg, handle_mut, handle_ref, out_arg, str_arg};
use crate::client::{completed_args, raw_envelope};
use crate::guard;
use crate::last::c_string;
use crate::message::smtp_message;
use crate::result::{smtp_result, Failure};

mod deliver;
mod list;

pub use deliver::*;
pub use list::*;

/// A durable outbox: a spool directory holding messages until a server
/// took them. Opaque: create it with `smtp_outbox_open()`, free it with
/// `smtp_outbox_free()`.
///
/// A message is queued once `smtp_outbox_enqueue_*()` returned `SMTP_OK`:
/// it survives a crash or a power loss. Delivery
/// (`smtp_outbox_flush()`, `smtp_outbox_deliver_due()`) records each
/// recipient's result as it comes: an accepted recipient is never sent
/// again, a 4xx is retried later on an exponential backoff, a 5xx fails
/// that recipient and a delivery status notification (a bounce) is
/// queued to the sender. Credentials are never written to the spool.
///
/// Thread-safety: a handle may be used by one thread at a time (it may
/// move between threads between calls). Several handles, in one process
/// or in many, may use the same directory at once: enqueueing is
/// atomic and each message is delivered under a lock, so two runners
/// never send the same message.
pub struct smtp_outbox {
    pub(crate) inner: Outbox,
    /// The id of the last message enqueued through this handle.
    last_id: CString,
    /// The snapshot of the last `smtp_outbox_list()`.
    pub(crate) entries: Vec<list::EntrySlot>,
    /// The report of the last delivery run.
    pub(crate) report: Vec<deliver::ReportSlot>,
}

/// Runs the body of an outbox function returning `smtp_result`.
pub(crate) fn with_outbox(
    outbox: *mut smtp_outbox,
    body: impl FnOnce(&mut smtp_outbox) -> Result<(), Failure>,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: the caller passes NULL or a live outbox that no other
        // thread uses during the call.
        let o = unsafe { handle_mut(outbox, "outbox") }?;
        body(o)
    })
}

/// Runs the body of a read-only outbox accessor: NULL or a panic give
/// `fallback`.
pub(crate) fn read_outbox<T: Copy>(
    outbox: *const smtp_outbox,
    fallback: T,
    body: impl FnOnce(&smtp_outbox) -> T,
) -> T {
    guard::value(fallback, || {
        // SAFETY: the caller passes NULL or a live outbox not being
        // changed by another thread.
        match unsafe { handle_ref(outbox, "outbox") } {
            Ok(o) => body(o),
            Err(_) => fallback,
        }
    })
}

/// A queue id given by the caller.
///
/// # Safety
/// `id` is NULL or a NUL-terminated string valid during the call.
pub(crate) unsafe fn id_arg(id: *const c_char) -> Result<QueueId, Failure> {
    // SAFETY: forwarded caller guarantee.
    let text = unsafe { str_arg(id, "id") }?;
    Ok(QueueId::parse(text)?)
}

impl smtp_outbox {
    /// Remembers the id of a message just queued and hands it out.
    fn queued(&mut self, id: QueueId, id_out: *mut *const c_char) {
        self.last_id = c_string(id.as_str());
        if !id_out.is_null() {
            // SAFETY: non-NULL; the caller guarantees it points to
            // writable storage for a pointer.
            unsafe { id_out.write(self.last_id.as_ptr()) };
        }
    }
}

/// Opens the outbox in the directory `dir`, creating it (mode 0700) and
/// its subdirectories `tmp/`, `queue/` and `lock/` when missing. For a
/// spool shared by a group (a web server that enqueues, a service user
/// that delivers), create `dir` beforehand with mode 2770: the
/// subdirectories take its mode.
///
/// On success writes a new handle to `*outbox_out`; the caller owns it and
/// frees it with `smtp_outbox_free()`. On failure (`SMTP_ERR_SPOOL` when
/// the directory cannot be created or read) nothing is written. `dir` and
/// `outbox_out` must not be NULL; `dir` is copied.
/// Thread-safety: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_open(
    dir: *const c_char,
    outbox_out: *mut *mut smtp_outbox,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let dir = unsafe { str_arg(dir, "dir") }?;
        let out = out_arg(outbox_out, "outbox_out")?;
        if dir.is_empty() {
            return Err(Failure::invalid("dir", "is empty"));
        }
        let outbox = Box::new(smtp_outbox {
            inner: Outbox::open(dir)?,
            last_id: CString::default(),
            entries: Vec::new(),
            report: Vec::new(),
        });
        // SAFETY: checked non-NULL by out_arg; the caller guarantees
        // writable storage for a pointer.
        unsafe { out.write(Box::into_raw(outbox)) };
        crate::handles::opened();
        Ok(())
    })
}

/// Frees an outbox handle. The queued messages stay in the directory.
/// NULL is a no-op. The pointer, and every string obtained from the
/// handle, must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_free(outbox: *mut smtp_outbox) {
    guard::value((), || {
        if !outbox.is_null() {
            // SAFETY: the caller gives back a pointer from
            // smtp_outbox_open that it will not use again.
            drop(unsafe { Box::from_raw(outbox) });
            crate::handles::closed();
        }
    })
}

/// Queues a composed message: it is encoded as for a server that offers
/// no extension (7-bit: non-ASCII text quoted-printable or base64,
/// internationalized domains in IDNA form; addresses with a non-ASCII
/// local part are refused with `SMTP_ERR_INVALID_INPUT`, queue those with
/// `smtp_outbox_enqueue_raw()`), with its Date and Message-ID fixed now,
/// and the envelope taken from the message (its envelope addresses if
/// set, else Sender or From, and To, Cc and Bcc; the Bcc header is never
/// written). Attachment files are read now.
///
/// On success the message is on disk and synced; when `id_out` is not
/// NULL, `*id_out` receives its queue id (letters, digits and dots). The
/// id string belongs to the outbox: it stays valid until the next
/// `smtp_outbox_enqueue_*()` call on this handle or
/// `smtp_outbox_free()`; copy it to keep it. On failure nothing was
/// queued and `*id_out` is not written: `SMTP_ERR_SPOOL` when the disk
/// failed (full, no permission), `SMTP_ERR_BODY_READ` when an attachment
/// could not be read, `SMTP_ERR_INVALID_INPUT` for a message without From
/// or recipients.
///
/// `outbox` and `message` must not be NULL; the message is only read and
/// stays owned by the caller.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_enqueue_message(
    outbox: *mut smtp_outbox,
    message: *const smtp_message,
    id_out: *mut *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: NULL or a live message not changed during the call.
        let message = unsafe { handle_ref(message, "message") }?;
        // The server is not known yet: the conservative encoding, which
        // every server takes.
        let options = EncodeOptions::default();
        let envelope = message.inner.envelope(&options)?;
        let mut reader = message.inner.reader(&options)?;
        let id = o.inner.enqueue(&envelope, &mut reader)?;
        o.queued(id, id_out);
        Ok(())
    })
}

/// Queues a message the caller formatted completely (headers, empty line,
/// body): `len` bytes at `data`, stored as they are (LF line endings are
/// made CRLF when it is delivered).
///
/// Envelope, as for `smtp_client_send_raw()`: with `from` and `to_list`
/// both given, they are used as they are (`from` one address, "" for the
/// null sender; `to_list` a comma-separated list) and the bytes are kept
/// unchanged. With both NULL the envelope is taken from the headers
/// (Sender or From; To, Cc and Bcc) and the Bcc header lines are removed
/// before the message is stored. Only one of them NULL gives
/// `SMTP_ERR_NULL_PARAMETER`.
///
/// `id_out`, the results and the ownership of the id as for
/// `smtp_outbox_enqueue_message()`. `outbox` must not be NULL; `data` may
/// be NULL only when `len` is 0; everything is only read during the call.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_enqueue_raw(
    outbox: *mut smtp_outbox,
    from: *const c_char,
    to_list: *const c_char,
    data: *const u8,
    len: usize,
    id_out: *mut *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: strings NULL or NUL-terminated; data NULL or `len`
        // readable bytes; all valid during the call.
        let (envelope, data) =
            unsafe { (raw_envelope(from, to_list)?, bytes_arg(data, len, "data")?) };
        let id = match envelope {
            Some(envelope) => o.inner.enqueue(&envelope, &mut &data[..])?,
            None => o
                .inner
                .enqueue_raw(&mut RawMessage::read(data, &RawOptions::default())?)?,
        };
        o.queued(id, id_out);
        Ok(())
    })
}

/// Queues the complete message in the file at `path` (a UTF-8 path),
/// copied into the spool block by block: memory use does not grow with
/// the message. Envelope, `id_out` and results as for
/// `smtp_outbox_enqueue_raw()`; a file that cannot be opened gives
/// `SMTP_ERR_INVALID_INPUT`, a read error later `SMTP_ERR_BODY_READ`
/// (nothing queued either way). The file may be removed once this
/// returns.
///
/// `outbox` and `path` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_enqueue_raw_file(
    outbox: *mut smtp_outbox,
    from: *const c_char,
    to_list: *const c_char,
    path: *const c_char,
    id_out: *mut *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: strings NULL or NUL-terminated, valid during the call.
        let (envelope, path) = unsafe { (raw_envelope(from, to_list)?, str_arg(path, "path")?) };
        let mut file = std::fs::File::open(path)
            .map_err(|e| Failure::invalid("path", format!("cannot open {path:?}: {e}")))?;
        let id = match envelope {
            Some(envelope) => o.inner.enqueue(&envelope, &mut file)?,
            None => o
                .inner
                .enqueue_raw(&mut RawMessage::read(file, &RawOptions::default())?)?,
        };
        o.queued(id, id_out);
        Ok(())
    })
}

/// Queues a message the caller formatted, completed first exactly as
/// `smtp_client_send_raw_completed()` completes it (the same arguments:
/// Bcc removed; To, Subject, and with `author` From, Date, Message-ID and
/// MIME-Version added when missing; the envelope from `sender`,
/// `recipients` and, with `SMTP_RAW_RECIPIENTS_FROM_HEADERS` in `flags`,
/// the header's recipients). For code that falls back to the outbox
/// when a completed send failed for now. `id_out`, the results and the
/// ownership of the id as for `smtp_outbox_enqueue_message()`.
///
/// `outbox` must not be NULL; `data` may be NULL only when `len` is 0.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn smtp_outbox_enqueue_raw_completed(
    outbox: *mut smtp_outbox,
    sender: *const c_char,
    recipients: *const c_char,
    flags: c_int,
    author: *const c_char,
    to: *const c_char,
    subject: *const c_char,
    data: *const u8,
    len: usize,
    id_out: *mut *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: the caller's guarantees are passed on unchanged.
        let (options, data) =
            unsafe { completed_args(sender, recipients, flags, author, to, subject, data, len) }?;
        let id = o
            .inner
            .enqueue_raw(&mut RawMessage::read(data, &options)?)?;
        o.queued(id, id_out);
        Ok(())
    })
}
