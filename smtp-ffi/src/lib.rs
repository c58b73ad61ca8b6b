//! # smtp-ffi: the C ABI of smtp-core
//!
//! Built as `libsmtp.so` (SONAME `libsmtp.so.0`) and `libsmtp.a`, with the
//! header `include/smtp.h` generated from this crate by cbindgen (see
//! `cbindgen.toml` and `tests/header.rs`).
//!
//! Two ways in:
//!
//! * `smtp_send()`: one call that connects, authenticates and sends a
//!   text message, for legacy C and PHP code;
//! * handles: `smtp_client` (settings, connect, many messages per
//!   connection, raw messages, per-recipient results, capabilities),
//!   `smtp_message` (headers, text and HTML, attachments),
//!   `smtp_outbox` (a durable local queue delivered later over a client)
//!   and `smtp_pool` (a few connections shared by many threads).
//!
//! The rules every function follows (after rustls-ffi):
//!
//! * every fallible function returns a [`smtp_result`]; the details of the
//!   last one are in the calling thread's `smtp_last_message()`;
//! * a panic never crosses into C: each entry point catches it (a function
//!   returning `smtp_result` then returns `SMTP_ERR_PANIC`);
//! * every pointer is checked for NULL before use (`SMTP_ERR_NULL_PARAMETER`,
//!   or a documented meaning such as "default"); `*_free(NULL)` is a no-op;
//! * output parameters are written only on success;
//! * strings come in as NUL-terminated UTF-8 (`SMTP_ERR_INVALID_UTF8`
//!   otherwise), bytes as pointer + length (NULL allowed with length 0);
//! * enum values come in as `int` and are checked, so no number a caller
//!   passes is undefined behaviour;
//! * secrets copied into the library are wiped when dropped.
//!
//! Nothing here speaks SMTP: every function is a thin wrapper over
//! smtp-core.

// The C API uses C naming (`smtp_client`, `SMTP_OK`).
#![allow(non_camel_case_types)]
// Each function's documentation lands in the C header and states its
// contract in C terms (which pointers may be NULL, who owns what, how long
// a returned pointer stays valid): that is the safety contract.
#![allow(clippy::missing_safety_doc)]

// The header lists items in the order cbindgen meets them: these modules
// come first so it reads top-down (results, the last message, the
// one-call send, then the handles).
mod result;

mod last;

mod send;

mod client;

mod message;
// Delivery options of a message (DSN, REQUIRETLS, MT-PRIORITY).
mod delivery;

mod outbox;

mod pool;

// Internals.
mod args;
mod guard;
mod handles;
mod settings;
mod token;
mod types;

use std::ffi::c_char;

pub use client::*;
pub use last::{
    smtp_last_enhanced_code, smtp_last_message, smtp_last_reply_code, smtp_last_reply_text,
};
pub use message::*;
pub use outbox::*;
pub use pool::*;
pub use result::{smtp_result, smtp_result_str};
pub use send::smtp_send;
pub use types::{
    smtp_direction, smtp_long_lines, smtp_read_callback, smtp_recipient_policy, smtp_security,
    smtp_token_callback, smtp_transcript_callback,
};

/// This library's version, e.g. "0.1.0": the same as
/// `SMTP_VERSION_STRING` in the header the program was compiled with,
/// unless it runs with another build of the library.
///
/// The string is static and NUL-terminated; never NULL, never free it.
/// Thread-safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn smtp_version() -> *const c_char {
    VERSION_C.as_ptr().cast()
}

const VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
