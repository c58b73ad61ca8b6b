//! Listing an `smtp_outbox` (a snapshot read by `smtp_outbox_list()`,
//! then per-entry accessors in the style of `smtp_client_recipient()`)
//! and the control calls: hold, release, requeue, remove.

use std::ffi::{c_char, c_int, CString};
use std::time::{SystemTime, UNIX_EPOCH};

use smtp_core::outbox::{Entry, RecipientStatus};

use super::{id_arg, read_outbox, smtp_outbox, with_outbox};
use crate::last::c_string;
use crate::result::smtp_result;

/// Where one recipient of a queued message stands
/// (`smtp_outbox_entry_recipient()`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_recipient_status {
    /// Not tried yet.
    SMTP_RECIPIENT_PENDING = 0,
    /// Refused for now (4xx, or the attempt failed): tried again later.
    SMTP_RECIPIENT_DEFERRED = 1,
    /// Accepted by the server: never sent again.
    SMTP_RECIPIENT_DELIVERED = 2,
    /// Refused for good (5xx, or the message's lifetime ran out).
    SMTP_RECIPIENT_FAILED = 3,
}

impl smtp_recipient_status {
    fn of(status: RecipientStatus) -> smtp_recipient_status {
        match status {
            RecipientStatus::Pending => smtp_recipient_status::SMTP_RECIPIENT_PENDING,
            RecipientStatus::Deferred => smtp_recipient_status::SMTP_RECIPIENT_DEFERRED,
            RecipientStatus::Delivered => smtp_recipient_status::SMTP_RECIPIENT_DELIVERED,
            RecipientStatus::Failed => smtp_recipient_status::SMTP_RECIPIENT_FAILED,
            // RecipientStatus is #[non_exhaustive]: a later kind reads as
            // pending (still to be tried) until it gets a value of its own.
            #[allow(unreachable_patterns)]
            _ => smtp_recipient_status::SMTP_RECIPIENT_PENDING,
        }
    }
}

/// One listed message, as C values.
pub(crate) struct EntrySlot {
    entry: Entry,
    id: CString,
    sender: CString,
    last_error: CString,
    problem: CString,
    recipients: Vec<(CString, smtp_recipient_status, CString)>,
}

impl EntrySlot {
    fn of(entry: Entry) -> EntrySlot {
        EntrySlot {
            id: c_string(entry.id.as_str()),
            sender: c_string(&entry.sender),
            last_error: c_string(entry.last_error.as_deref().unwrap_or("")),
            problem: c_string(entry.problem.as_deref().unwrap_or("")),
            recipients: entry
                .recipients
                .iter()
                .map(|r| {
                    (
                        c_string(&r.address),
                        smtp_recipient_status::of(r.status),
                        c_string(r.reply.as_deref().unwrap_or("")),
                    )
                })
                .collect(),
            entry,
        }
    }
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Reads field `f` of entry `index`, or `fallback`.
fn entry_field<T: Copy>(
    outbox: *const smtp_outbox,
    index: usize,
    fallback: T,
    f: impl FnOnce(&EntrySlot) -> T,
) -> T {
    read_outbox(outbox, fallback, |o| {
        o.entries.get(index).map_or(fallback, f)
    })
}

/// Reads the queue into a snapshot that the `smtp_outbox_entry_*()`
/// accessors read: every message, oldest first, those with broken files
/// included (see `smtp_outbox_entry_problem()`). Writes the number of
/// entries to `*count_out` when it is not NULL (also available as
/// `smtp_outbox_count()`).
///
/// The snapshot replaces the previous one: strings obtained from the
/// accessors before are invalid afterwards. `SMTP_ERR_SPOOL` when the
/// directory cannot be read (the old snapshot is then kept). `outbox`
/// must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_list(
    outbox: *mut smtp_outbox,
    count_out: *mut usize,
) -> smtp_result {
    with_outbox(outbox, |o| {
        let entries = o.inner.list()?;
        o.entries = entries.into_iter().map(EntrySlot::of).collect();
        if !count_out.is_null() {
            // SAFETY: non-NULL; the caller guarantees writable storage.
            unsafe { count_out.write(o.entries.len()) };
        }
        Ok(())
    })
}

/// Returns the number of entries in the snapshot of the last
/// `smtp_outbox_list()` on this handle (0 before the first, or for NULL).
/// It does not read the directory. Does not change `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_count(outbox: *const smtp_outbox) -> usize {
    read_outbox(outbox, 0, |o| o.entries.len())
}

/// Returns the queue id of entry `index` (0-based) of the snapshot, or
/// NULL when `outbox` is NULL or `index` is out of range.
///
/// Ownership of this and every string the `smtp_outbox_entry_*()`
/// accessors return: it belongs to the outbox and stays valid until the
/// next `smtp_outbox_list()` or `smtp_outbox_free()` on it. None of them
/// changes `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_id(
    outbox: *const smtp_outbox,
    index: usize,
) -> *const c_char {
    entry_field(outbox, index, std::ptr::null(), |e| e.id.as_ptr())
}

/// Returns the envelope sender of entry `index` ("" for the null sender
/// of a bounce, and for an entry whose state is broken), or NULL when
/// out of range.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_sender(
    outbox: *const smtp_outbox,
    index: usize,
) -> *const c_char {
    entry_field(outbox, index, std::ptr::null(), |e| e.sender.as_ptr())
}

/// Returns the size in bytes of entry `index` as stored (0 when out of
/// range or its state is broken).
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_size(outbox: *const smtp_outbox, index: usize) -> u64 {
    entry_field(outbox, index, 0, |e| e.entry.size)
}

/// Returns how many delivery attempts entry `index` had (0 when out of
/// range).
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_attempts(
    outbox: *const smtp_outbox,
    index: usize,
) -> u32 {
    entry_field(outbox, index, 0, |e| e.entry.attempts)
}

/// Returns when entry `index` was queued, in seconds since 1970-01-01 UTC
/// (0 when out of range or its state is broken).
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_created(
    outbox: *const smtp_outbox,
    index: usize,
) -> i64 {
    entry_field(outbox, index, 0, |e| unix_seconds(e.entry.created))
}

/// Returns when entry `index` is tried next by `smtp_outbox_deliver_due()`,
/// in seconds since 1970-01-01 UTC (0 when out of range or its state is
/// broken).
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_next_attempt(
    outbox: *const smtp_outbox,
    index: usize,
) -> i64 {
    entry_field(outbox, index, 0, |e| unix_seconds(e.entry.next_attempt))
}

/// Returns true when entry `index` is held (`smtp_outbox_hold()`): not
/// delivered until released. False when out of range.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_held(outbox: *const smtp_outbox, index: usize) -> bool {
    entry_field(outbox, index, false, |e| e.entry.held)
}

/// Returns true when a connection died after the end of entry `index` was
/// sent: the server may have it already, and its next delivery may be a
/// duplicate. False when out of range.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_possible_duplicate(
    outbox: *const smtp_outbox,
    index: usize,
) -> bool {
    entry_field(outbox, index, false, |e| e.entry.possible_duplicate)
}

/// Returns the error that last deferred entry `index` as a whole ("" if
/// none), or NULL when out of range.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_last_error(
    outbox: *const smtp_outbox,
    index: usize,
) -> *const c_char {
    entry_field(outbox, index, std::ptr::null(), |e| e.last_error.as_ptr())
}

/// Returns what is wrong with the files of entry `index` ("" when
/// nothing is), e.g. "corrupt state file: truncated (no end line)" or a
/// message file without state; or NULL when out of range. Such a message
/// is listed, never delivered, and removed only by `smtp_outbox_remove()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_problem(
    outbox: *const smtp_outbox,
    index: usize,
) -> *const c_char {
    entry_field(outbox, index, std::ptr::null(), |e| e.problem.as_ptr())
}

/// Returns the number of recipients of entry `index` (0 when out of range
/// or its state is broken).
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_recipient_count(
    outbox: *const smtp_outbox,
    index: usize,
) -> usize {
    entry_field(outbox, index, 0, |e| e.recipients.len())
}

/// Reads recipient `recipient` (0-based) of entry `index`: its envelope
/// address, its status (a `smtp_recipient_status` value) and the server's
/// last reply about it ("" if none yet), e.g. "550 5.1.1 no such user".
///
/// Returns true and writes all three outputs, or false and writes nothing
/// (NULL `outbox` or output pointer, an index out of range). The strings
/// belong to the outbox, as for `smtp_outbox_entry_id()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_entry_recipient(
    outbox: *const smtp_outbox,
    index: usize,
    recipient: usize,
    address: *mut *const c_char,
    status: *mut c_int,
    reply: *mut *const c_char,
) -> bool {
    read_outbox(outbox, false, |o| {
        if address.is_null() || status.is_null() || reply.is_null() {
            return false;
        }
        let Some((a, s, r)) = o
            .entries
            .get(index)
            .and_then(|e| e.recipients.get(recipient))
        else {
            return false;
        };
        // SAFETY: each pointer was checked non-NULL; the caller
        // guarantees writable storage.
        unsafe {
            address.write(a.as_ptr());
            status.write(*s as c_int);
            reply.write(r.as_ptr());
        }
        true
    })
}

/// Holds the message `id`: it stays queued and is not delivered until
/// released.
///
/// Errors for this and the other control calls: `SMTP_ERR_INVALID_INPUT`
/// for text that is not a queue id, an id not in the queue, or (but for
/// `smtp_outbox_remove()`) a message whose state file is broken;
/// `SMTP_ERR_SPOOL` when a runner is delivering the message right now (try
/// again) or the disk fails. `outbox` and `id` must not be NULL. The
/// snapshot of `smtp_outbox_list()` is not changed: list again to see the
/// effect.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_hold(
    outbox: *mut smtp_outbox,
    id: *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let id = unsafe { id_arg(id) }?;
        Ok(o.inner.hold(&id)?)
    })
}

/// Releases the held message `id`; its schedule is unchanged. Errors as
/// for `smtp_outbox_hold()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_release(
    outbox: *mut smtp_outbox,
    id: *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: as above.
        let id = unsafe { id_arg(id) }?;
        Ok(o.inner.release(&id)?)
    })
}

/// Makes the message `id` due now (and releases it if held), for the next
/// `smtp_outbox_deliver_due()`. Errors as for `smtp_outbox_hold()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_requeue(
    outbox: *mut smtp_outbox,
    id: *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: as above.
        let id = unsafe { id_arg(id) }?;
        Ok(o.inner.requeue(&id)?)
    })
}

/// Removes the message `id` from the queue without delivering it (also
/// one whose files are broken). No bounce is sent. Errors as for
/// `smtp_outbox_hold()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_remove(
    outbox: *mut smtp_outbox,
    id: *const c_char,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: as above.
        let id = unsafe { id_arg(id) }?;
        Ok(o.inner.remove(&id)?)
    })
}
