//! The last message of each thread: the server's last reply or the error
//! text of the last call that returned a `smtp_result`, kept in a
//! `thread_local!` so threads never see each other's.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, CStr, CString};

use smtp_core::Reply;

use crate::result::Failure;

/// `None` stands for the empty string (`CString` has no `const` constructor).
struct Last {
    message: Option<CString>,
    code: u16,
    enhanced: Option<CString>,
    reply_text: Option<CString>,
    /// A reply whose texts are not formatted yet: most calls are never
    /// asked for them, and formatting every reply cost a bulk sender more
    /// than the rest of the binding's work per message.
    unformatted: Option<Reply>,
}

impl Last {
    const fn empty() -> Last {
        Last {
            message: None,
            code: 0,
            enhanced: None,
            reply_text: None,
            unformatted: None,
        }
    }

    /// Formats a pending reply; the message is the reply itself unless a
    /// failure's text was stored with it. The strings are made once per
    /// stored reply, so pointers handed out earlier stay valid.
    fn format(&mut self) {
        if let Some(reply) = self.unformatted.take() {
            if self.message.is_none() {
                self.message = non_empty(&reply.to_string());
            }
            self.enhanced = reply.enhanced().and_then(|e| non_empty(&e.to_string()));
            self.reply_text = non_empty(&reply.text());
        }
    }
}

fn non_empty(text: &str) -> Option<CString> {
    (!text.is_empty()).then(|| c_string(text))
}

fn ptr_of(s: &Option<CString>) -> *const c_char {
    s.as_deref().map_or(c"".as_ptr(), CStr::as_ptr)
}

thread_local! {
    static LAST: RefCell<Last> = const { RefCell::new(Last::empty()) };
}

/// A C string from text that may hold NUL bytes (they become U+FFFD).
pub(crate) fn c_string(text: &str) -> CString {
    match CString::new(text) {
        Ok(c) => c,
        Err(_) => CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default(),
    }
}

/// Replaces the calling thread's last message: a text, a server reply
/// (formatted when first asked for), or both.
fn store(message: Option<&str>, reply: Option<&Reply>) {
    let stored = Last {
        message: message.and_then(non_empty),
        code: reply.map_or(0, Reply::code),
        enhanced: None,
        reply_text: None,
        unformatted: reply.cloned(),
    };
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = stored;
        }
    });
}

/// Forgets the last message (at the start of each call returning a result).
pub(crate) fn clear() {
    let _ = LAST.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = Last::empty();
        }
    });
}

/// Records a server reply after a successful step (e.g. `250 2.0.0 Ok: queued as X`).
pub(crate) fn set_reply(reply: &Reply) {
    store(None, Some(reply));
}

/// Records a plain message without a server reply.
pub(crate) fn set_message(message: &str) {
    store(Some(message), None);
}

/// Records a failure: its text, plus the server's reply when one was involved.
pub(crate) fn set_failure(failure: &Failure) {
    store(Some(&failure_text(failure)), failure_reply(failure));
}

/// A failure's text for people: what went wrong, with the server's reply
/// when one was involved ("... (server said: 550 5.1.1 ...)").
pub(crate) fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Null(name) => format!("NULL pointer passed for `{name}`"),
        Failure::Utf8(name) => format!("`{name}` is not valid UTF-8"),
        Failure::At { path, inner } => match inner.as_ref() {
            Failure::Null(_) => format!("NULL pointer passed for `{path}`"),
            Failure::Utf8(_) => format!("`{path}` is not valid UTF-8"),
            other => format!("{path}: {}", failure_text(other)),
        },
        Failure::Core(error) => error_text(error),
    }
}

/// The server reply that goes with a failure, if any.
fn failure_reply(failure: &Failure) -> Option<&Reply> {
    match failure {
        Failure::Core(error) => error.reply(),
        Failure::At { inner, .. } => failure_reply(inner),
        Failure::Null(_) | Failure::Utf8(_) => None,
    }
}

/// An error's text, with the server's reply when the text lacks it.
pub(crate) fn error_text(error: &smtp_core::Error) -> String {
    let mut text = error.to_string();
    if let Some(reply) = error.reply() {
        let said = reply.to_string();
        if !text.contains(&said) {
            text.push_str(" (server said: ");
            text.push_str(&said);
            text.push(')');
        }
    }
    text
}

/// Returns the last server reply or error text of the calling thread, as
/// NUL-terminated UTF-8: after a failure, what went wrong (with the
/// server's reply, e.g. "authentication with PLAIN failed: ... (server
/// said: 535 5.7.8 Error: authentication failed)"); after a success that
/// talked to the server, its last reply (e.g. "250 2.0.0 Ok: queued as
/// 4XyZ"); otherwise "". It never contains a password or token.
///
/// Each call to a function that returns `smtp_result` replaces it (on the
/// calling thread only); functions that return anything else never
/// change it.
///
/// Ownership: the string belongs to the library. It stays valid until the
/// calling thread next calls a function returning `smtp_result`, or
/// exits. Copy it to keep it. Never returns NULL.
/// Thread-safety: each thread has its own last message.
#[no_mangle]
pub extern "C" fn smtp_last_message() -> *const c_char {
    last_ptr(|last| ptr_of(&last.message))
}

/// Returns the SMTP reply code that goes with `smtp_last_message()` (e.g.
/// 535 after refused credentials, 250 after an accepted message), or 0
/// when no server reply was involved.
///
/// Thread-safety: per thread, like `smtp_last_message()`.
#[no_mangle]
pub extern "C" fn smtp_last_reply_code() -> c_int {
    std::panic::catch_unwind(|| {
        LAST.try_with(|last| last.try_borrow().map_or(0, |l| c_int::from(l.code)))
            .unwrap_or(0)
    })
    .unwrap_or(0)
}

/// Returns the RFC 3463 enhanced status code that goes with
/// `smtp_last_message()`, e.g. "5.7.8", or "" when the server sent none.
///
/// Ownership and lifetime: as for `smtp_last_message()`. Never returns NULL.
/// Thread-safety: per thread.
#[no_mangle]
pub extern "C" fn smtp_last_enhanced_code() -> *const c_char {
    last_ptr(|last| ptr_of(&last.enhanced))
}

/// Returns the text of the server reply that goes with
/// `smtp_last_message()`, without the reply code and the enhanced status
/// code (the lines of a multi-line reply joined with a space), e.g.
/// "Error: authentication failed: authentication failure" after a 535;
/// "" when no server reply was involved. For bindings that report the
/// code, the enhanced code and the server's words separately.
///
/// Ownership and lifetime: as for `smtp_last_message()`. Never returns NULL.
/// Thread-safety: per thread.
#[no_mangle]
pub extern "C" fn smtp_last_reply_text() -> *const c_char {
    last_ptr(|last| ptr_of(&last.reply_text))
}

fn last_ptr(f: impl Fn(&Last) -> *const c_char) -> *const c_char {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        LAST.try_with(|last| {
            last.try_borrow_mut()
                .map(|mut l| {
                    l.format();
                    f(&l)
                })
                .ok()
        })
        .ok()
        .flatten()
    }))
    .ok()
    .flatten()
    .unwrap_or(c"".as_ptr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(ptr: *const c_char) -> String {
        // SAFETY: the accessors never return NULL; the string stays valid
        // until the next store on this thread.
        unsafe { CStr::from_ptr(ptr) }.to_str().unwrap().to_owned()
    }

    #[test]
    fn reply_text_follows_the_last_reply() {
        let reply = smtp_core::reply::parse_reply(
            b"535-5.7.8 Error:\r\n535 5.7.8 authentication failed\r\n",
        )
        .unwrap();
        set_reply(&reply);
        assert_eq!(smtp_last_reply_code(), 535);
        assert_eq!(
            text_of(smtp_last_reply_text()),
            "Error: authentication failed"
        );
        // Pointers handed out stay valid while the reply is current.
        let message = smtp_last_message();
        assert_eq!(text_of(smtp_last_enhanced_code()), "5.7.8");
        assert_eq!(smtp_last_message(), message);
        assert_eq!(text_of(message), "535 5.7.8 Error: authentication failed");
        set_message("no reply here");
        assert_eq!(text_of(smtp_last_reply_text()), "");
        clear();
        assert_eq!(text_of(smtp_last_reply_text()), "");
        assert_eq!(text_of(smtp_last_message()), "");
    }
}
