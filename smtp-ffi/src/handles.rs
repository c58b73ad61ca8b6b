//! How many handles (clients, messages, pools, outboxes) are alive in this
//! process: created and not yet freed. A leak check for hosts that must not
//! keep anything across requests (php-fpm workers) and for the tests.

use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A handle was created and handed to the caller.
pub(crate) fn opened() {
    LIVE.fetch_add(1, Ordering::Relaxed);
}

/// A handle was freed.
pub(crate) fn closed() {
    // Never below zero, whatever a caller does.
    let _ = LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// Returns the number of handles (`smtp_client`, `smtp_message`,
/// `smtp_pool`, `smtp_outbox`) created in this process and not yet freed.
/// A host that frees everything it creates per request (a php-fpm worker)
/// sees the same number at the end of every request. Any thread.
#[no_mangle]
pub extern "C" fn smtp_live_handles() -> usize {
    LIVE.load(Ordering::Relaxed)
}
