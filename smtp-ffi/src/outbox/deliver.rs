//! Delivery runs of an `smtp_outbox` over an open `smtp_client`
//! (`smtp_outbox_flush()`, `smtp_outbox_deliver_due()`) and the report of
//! the last run, message by message.

use std::ffi::{c_char, c_int, CString};

use smtp_core::outbox::{MessageReport, Outcome};

use super::{read_outbox, smtp_outbox, with_outbox};
use crate::args::handle_mut;
use crate::client::smtp_client;
use crate::last::c_string;
use crate::result::smtp_result;

/// What a delivery run did with one message (`smtp_outbox_report()`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_outbox_outcome {
    /// Every recipient accepted: the message left the queue.
    SMTP_OUTBOX_DELIVERED = 0,
    /// Done, but some recipients failed for good (5xx, or the message's
    /// lifetime ran out): a bounce was queued to the sender (unless the
    /// sender is null) and the message left the queue.
    SMTP_OUTBOX_BOUNCED = 1,
    /// Some recipients are still open (4xx, connection trouble): the
    /// message stays queued for a later attempt.
    SMTP_OUTBOX_DEFERRED = 2,
    /// Another runner was delivering it: left alone.
    SMTP_OUTBOX_BUSY = 3,
    /// Its files are broken (a corrupt state file...): left in the queue,
    /// never delivered; see the error text.
    SMTP_OUTBOX_BROKEN = 4,
}

/// One message of the last run, as C values.
pub(crate) struct ReportSlot {
    id: CString,
    outcome: smtp_outbox_outcome,
    notification: CString,
    error: CString,
}

impl ReportSlot {
    fn of(m: &MessageReport) -> ReportSlot {
        let (outcome, broken) = match &m.outcome {
            Outcome::Delivered => (smtp_outbox_outcome::SMTP_OUTBOX_DELIVERED, None),
            Outcome::Bounced => (smtp_outbox_outcome::SMTP_OUTBOX_BOUNCED, None),
            Outcome::Deferred { .. } => (smtp_outbox_outcome::SMTP_OUTBOX_DEFERRED, None),
            Outcome::Busy => (smtp_outbox_outcome::SMTP_OUTBOX_BUSY, None),
            Outcome::Broken(why) => (smtp_outbox_outcome::SMTP_OUTBOX_BROKEN, Some(why)),
            // Outcome is #[non_exhaustive]: a later kind reads as deferred
            // (the message stays queued) until it gets a value of its own.
            #[allow(unreachable_patterns)]
            _ => (smtp_outbox_outcome::SMTP_OUTBOX_DEFERRED, None),
        };
        ReportSlot {
            id: c_string(m.id.as_str()),
            outcome,
            notification: c_string(m.notification.as_ref().map_or("", |n| n.as_str())),
            error: c_string(broken.or(m.error.as_ref()).map_or("", String::as_str)),
        }
    }
}

/// Writes `value` through an optional output pointer.
fn put(out: *mut usize, value: usize) {
    if !out.is_null() {
        // SAFETY: non-NULL; the caller guarantees writable storage.
        unsafe { out.write(value) };
    }
}

/// One delivery run over the client's session.
unsafe fn run(
    outbox: *mut smtp_outbox,
    client: *mut smtp_client,
    due_only: bool,
    delivered: *mut usize,
    deferred: *mut usize,
    bounced: *mut usize,
) -> smtp_result {
    with_outbox(outbox, |o| {
        // SAFETY: NULL or a live client no other thread uses during the
        // call (a different type from the outbox: no aliasing).
        let c = unsafe { handle_mut(client, "client") }?;
        c.forget_recipients();
        let report = o.inner.deliver_with(c.session()?, due_only)?;
        o.report = report.messages.iter().map(ReportSlot::of).collect();
        let count = |kind| o.report.iter().filter(|r| r.outcome == kind).count();
        put(delivered, count(smtp_outbox_outcome::SMTP_OUTBOX_DELIVERED));
        put(deferred, count(smtp_outbox_outcome::SMTP_OUTBOX_DEFERRED));
        put(bounced, count(smtp_outbox_outcome::SMTP_OUTBOX_BOUNCED));
        Ok(())
    })
}

/// Delivers every queued message that is not held, due or not, over the
/// open session of `client` (which stays open): each recipient's result
/// is recorded as it comes; accepted recipients are never sent again;
/// a 4xx or a connection failure defers the open recipients (retried on
/// the backoff schedule: about 1 minute, doubling, at most 1 hour); a 5xx
/// fails that recipient, and once a message is done a bounce (an RFC 3464
/// delivery status notification) about its failed recipients is queued to
/// its sender and delivered in the same run. With the client's default
/// recipient policy the accepted recipients get the message when others
/// are refused; with `SMTP_RECIPIENTS_ALL_OR_NOTHING` nothing is sent and
/// the accepted ones stay open.
///
/// Delivery failures are not errors: they are in the report. Returns
/// `SMTP_OK` once the run is over, with the number of messages delivered
/// (every recipient accepted), deferred (still queued) and bounced (done,
/// some recipients failed) written to each of `delivered`, `deferred` and
/// `bounced` that is not NULL; `smtp_outbox_report_count()` and
/// `smtp_outbox_report()` give each message. Errors: `SMTP_ERR_SPOOL`
/// when the spool cannot be read or written, `SMTP_ERR_NOT_CONNECTED`
/// when the client has no session (connect it first). Messages another
/// runner is delivering are skipped (`SMTP_OUTBOX_BUSY`).
///
/// `outbox` and `client` must not be NULL. The client's per-recipient
/// results (`smtp_client_recipient()`) are cleared. Blocks while it
/// delivers.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_flush(
    outbox: *mut smtp_outbox,
    client: *mut smtp_client,
    delivered: *mut usize,
    deferred: *mut usize,
    bounced: *mut usize,
) -> smtp_result {
    // SAFETY: forwarded caller guarantees.
    unsafe { run(outbox, client, false, delivered, deferred, bounced) }
}

/// `smtp_outbox_flush()` for the messages whose next attempt has come
/// (new ones, and deferred ones whose wait is over): what a queue runner
/// calls periodically (cron, a timer). Same arguments and results.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_deliver_due(
    outbox: *mut smtp_outbox,
    client: *mut smtp_client,
    delivered: *mut usize,
    deferred: *mut usize,
    bounced: *mut usize,
) -> smtp_result {
    // SAFETY: forwarded caller guarantees.
    unsafe { run(outbox, client, true, delivered, deferred, bounced) }
}

/// Returns how many messages the last `smtp_outbox_flush()` or
/// `smtp_outbox_deliver_due()` on this handle tried (or found busy or
/// broken), bounces it queued and delivered included; 0 before the first
/// run or for NULL. Does not change `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_report_count(outbox: *const smtp_outbox) -> usize {
    read_outbox(outbox, 0, |o| o.report.len())
}

/// Reads message `index` (0-based, in the order tried) of the last
/// delivery run: its queue id, its outcome (a `smtp_outbox_outcome`
/// value), the id of the bounce (or delay warning) queued about it ("" if
/// none), and the error that deferred or failed it as a whole ("" if
/// none, e.g. when only some recipients were refused; the reason for
/// `SMTP_OUTBOX_BROKEN`).
///
/// Returns true and writes all four outputs, or false and writes nothing
/// (NULL `outbox` or output pointer, `index` out of range). Ownership:
/// the strings belong to the outbox and stay valid until the next run or
/// `smtp_outbox_free()`. Does not change `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_outbox_report(
    outbox: *const smtp_outbox,
    index: usize,
    id: *mut *const c_char,
    outcome: *mut c_int,
    notification: *mut *const c_char,
    error: *mut *const c_char,
) -> bool {
    read_outbox(outbox, false, |o| {
        if id.is_null() || outcome.is_null() || notification.is_null() || error.is_null() {
            return false;
        }
        let Some(r) = o.report.get(index) else {
            return false;
        };
        // SAFETY: each pointer was checked non-NULL; the caller
        // guarantees writable storage.
        unsafe {
            id.write(r.id.as_ptr());
            outcome.write(r.outcome as c_int);
            notification.write(r.notification.as_ptr());
            error.write(r.error.as_ptr());
        }
        true
    })
}
