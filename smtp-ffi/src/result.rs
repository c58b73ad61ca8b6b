//! The one result enum every fallible function returns, its static
//! descriptions, and the mapping from [`smtp_core::Error`].

use std::ffi::{c_char, c_int, CStr};

use smtp_core::Error;

/// The result of every function that can fail. The numbers are stable:
/// new values may be added, existing ones never change meaning.
///
/// After any value other than `SMTP_OK`, `smtp_last_message()` gives the
/// details (with the server's reply when there was one) and
/// `smtp_last_reply_code()` / `smtp_last_enhanced_code()` the server's
/// codes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_result {
    /// Success.
    SMTP_OK = 0,
    /// No address of the server accepted a TCP connection (or the name did
    /// not resolve).
    SMTP_ERR_CONNECT = 1,
    /// The server did not answer, or did not take data, in time.
    SMTP_ERR_TIMEOUT = 2,
    /// TLS could not be set up (STARTTLS not offered or refused, handshake
    /// failure) or the server's certificate was refused.
    SMTP_ERR_TLS = 3,
    /// The server refused a command with a 4xx or 5xx reply (see
    /// `smtp_last_reply_code()`).
    SMTP_ERR_REJECTED = 4,
    /// Every recipient was refused, or with the all-or-nothing recipient
    /// policy at least one was; nothing was sent. The per-recipient
    /// replies are available through `smtp_client_recipient()`.
    SMTP_ERR_RECIPIENTS_REFUSED = 5,
    /// The server refused the credentials (usually 535), or the
    /// authentication exchange failed.
    SMTP_ERR_AUTH = 6,
    /// Credentials were set but the server offers no mechanism that can use
    /// them (or no AUTH at all). Nothing was sent unauthenticated.
    SMTP_ERR_NO_COMPATIBLE_AUTH = 7,
    /// Credentials would have gone without TLS to a server that is not on
    /// this machine; refused (see `smtp_client_set_insecure_plaintext_auth()`).
    SMTP_ERR_PLAINTEXT_AUTH_REFUSED = 8,
    /// The server broke the protocol (malformed or over-long reply); the
    /// connection was closed.
    SMTP_ERR_PROTOCOL = 9,
    /// A value passed in is invalid (a bad address, CR or LF in a header,
    /// a bad URL, an unknown mechanism name, an out-of-range enum value...).
    /// Detected before anything was sent.
    SMTP_ERR_INVALID_INPUT = 10,
    /// The message needs something the server does not offer (SMTPUTF8,
    /// 8BITMIME) or is larger than its SIZE limit. Nothing was sent.
    SMTP_ERR_UNSUPPORTED = 11,
    /// The connection failed after the message started to go out: the
    /// server may or may not have accepted it. Check before sending again.
    SMTP_ERR_DELIVERY_UNKNOWN = 12,
    /// An attachment file could not be read while sending; the message was
    /// not delivered.
    SMTP_ERR_BODY_READ = 13,
    /// The client is not connected: `smtp_client_connect()` was not called,
    /// or the session ended (QUIT, a 421 from the server, an earlier fatal
    /// error). Connect again.
    SMTP_ERR_NOT_CONNECTED = 14,
    /// Any other network or I/O failure.
    SMTP_ERR_IO = 15,
    /// The outbox's directory could not be read or written (disk full, no
    /// permission): nothing was queued. Transient.
    SMTP_ERR_SPOOL = 16,
    /// A required pointer argument was NULL.
    SMTP_ERR_NULL_PARAMETER = 100,
    /// A string argument was not valid UTF-8.
    SMTP_ERR_INVALID_UTF8 = 101,
    /// An internal error (a Rust panic) was caught; it is a bug in libsmtp.
    /// The client handle involved was disconnected.
    SMTP_ERR_PANIC = 102,
    /// An error this version of the C API has no specific code for.
    SMTP_ERR_OTHER = 199,
}

impl smtp_result {
    /// Every value, in numeric order.
    pub(crate) const ALL: [smtp_result; 21] = [
        smtp_result::SMTP_OK,
        smtp_result::SMTP_ERR_CONNECT,
        smtp_result::SMTP_ERR_TIMEOUT,
        smtp_result::SMTP_ERR_TLS,
        smtp_result::SMTP_ERR_REJECTED,
        smtp_result::SMTP_ERR_RECIPIENTS_REFUSED,
        smtp_result::SMTP_ERR_AUTH,
        smtp_result::SMTP_ERR_NO_COMPATIBLE_AUTH,
        smtp_result::SMTP_ERR_PLAINTEXT_AUTH_REFUSED,
        smtp_result::SMTP_ERR_PROTOCOL,
        smtp_result::SMTP_ERR_INVALID_INPUT,
        smtp_result::SMTP_ERR_UNSUPPORTED,
        smtp_result::SMTP_ERR_DELIVERY_UNKNOWN,
        smtp_result::SMTP_ERR_BODY_READ,
        smtp_result::SMTP_ERR_NOT_CONNECTED,
        smtp_result::SMTP_ERR_IO,
        smtp_result::SMTP_ERR_SPOOL,
        smtp_result::SMTP_ERR_NULL_PARAMETER,
        smtp_result::SMTP_ERR_INVALID_UTF8,
        smtp_result::SMTP_ERR_PANIC,
        smtp_result::SMTP_ERR_OTHER,
    ];

    /// The value with this number, if there is one.
    pub(crate) fn from_int(value: c_int) -> Option<smtp_result> {
        Self::ALL.into_iter().find(|r| *r as c_int == value)
    }

    /// The static description.
    pub(crate) fn description(self) -> &'static CStr {
        use smtp_result::*;
        match self {
            SMTP_OK => c"success",
            SMTP_ERR_CONNECT => c"could not connect to the server",
            SMTP_ERR_TIMEOUT => c"the server did not answer in time",
            SMTP_ERR_TLS => c"TLS could not be set up or the certificate was refused",
            SMTP_ERR_REJECTED => c"the server refused a command",
            SMTP_ERR_RECIPIENTS_REFUSED => c"recipients refused; nothing was sent",
            SMTP_ERR_AUTH => c"authentication failed",
            SMTP_ERR_NO_COMPATIBLE_AUTH => c"no usable authentication mechanism",
            SMTP_ERR_PLAINTEXT_AUTH_REFUSED => c"refusing to send credentials without TLS",
            SMTP_ERR_PROTOCOL => c"the server broke the SMTP protocol",
            SMTP_ERR_INVALID_INPUT => c"invalid argument",
            SMTP_ERR_UNSUPPORTED => c"the server cannot take this message",
            SMTP_ERR_DELIVERY_UNKNOWN => {
                c"delivery state unknown: the server may or may not have accepted the message"
            }
            SMTP_ERR_BODY_READ => c"reading an attachment failed; the message was not sent",
            SMTP_ERR_NOT_CONNECTED => c"not connected",
            SMTP_ERR_IO => c"network or I/O error",
            SMTP_ERR_NULL_PARAMETER => c"a required pointer argument was NULL",
            SMTP_ERR_SPOOL => c"the outbox could not be read or written",
            SMTP_ERR_INVALID_UTF8 => c"a string argument is not valid UTF-8",
            SMTP_ERR_PANIC => c"internal error in libsmtp (a bug)",
            SMTP_ERR_OTHER => c"other error",
        }
    }
}

impl From<&Error> for smtp_result {
    fn from(error: &Error) -> smtp_result {
        use smtp_result::*;
        match error {
            Error::Connect { .. } => SMTP_ERR_CONNECT,
            Error::Timeout { .. } => SMTP_ERR_TIMEOUT,
            Error::Tls { .. } => SMTP_ERR_TLS,
            Error::Rejected { .. } => SMTP_ERR_REJECTED,
            Error::RecipientsRefused { .. } => SMTP_ERR_RECIPIENTS_REFUSED,
            Error::Auth { .. } => SMTP_ERR_AUTH,
            Error::NoCompatibleAuth { .. } => SMTP_ERR_NO_COMPATIBLE_AUTH,
            Error::PlaintextAuthRefused { .. } => SMTP_ERR_PLAINTEXT_AUTH_REFUSED,
            Error::Protocol { .. } => SMTP_ERR_PROTOCOL,
            Error::InvalidInput { .. } => SMTP_ERR_INVALID_INPUT,
            Error::Unsupported { .. } => SMTP_ERR_UNSUPPORTED,
            Error::DeliveryUnknown { .. } => SMTP_ERR_DELIVERY_UNKNOWN,
            Error::BodyRead(_) => SMTP_ERR_BODY_READ,
            Error::NotConnected(_) => SMTP_ERR_NOT_CONNECTED,
            Error::Io { .. } => SMTP_ERR_IO,
            Error::Spool { .. } => SMTP_ERR_SPOOL,
            // smtp_core::Error is #[non_exhaustive]: a variant added later
            // maps here until it gets a code of its own.
            #[allow(unreachable_patterns)]
            _ => SMTP_ERR_OTHER,
        }
    }
}

/// Why a call failed: a problem with the arguments found at the boundary,
/// or an error from smtp-core.
#[derive(Debug)]
pub(crate) enum Failure {
    /// This required pointer argument was NULL.
    Null(&'static str),
    /// This string argument is not UTF-8.
    Utf8(&'static str),
    /// From smtp-core (including invalid input it detected).
    Core(Error),
    /// A failure in one element of an array argument, e.g.
    /// `messages[3].recipients[1]` for a NULL recipient: `inner` with
    /// its field name replaced by `path`.
    At { path: String, inner: Box<Failure> },
}

impl Failure {
    pub(crate) fn code(&self) -> smtp_result {
        match self {
            Failure::Null(_) => smtp_result::SMTP_ERR_NULL_PARAMETER,
            Failure::Utf8(_) => smtp_result::SMTP_ERR_INVALID_UTF8,
            Failure::Core(e) => e.into(),
            Failure::At { inner, .. } => inner.code(),
        }
    }

    /// This failure, found in the array element at `path` (a string
    /// argument's name becomes the path).
    pub(crate) fn at(self, path: String) -> Failure {
        Failure::At {
            path,
            inner: Box::new(self),
        }
    }

    /// An invalid-input failure detected by this crate.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Failure {
        Failure::Core(Error::InvalidInput {
            field,
            reason: reason.into(),
        })
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Core(e)
    }
}

/// Returns a static, NUL-terminated English description of a result code:
/// "success" for `SMTP_OK`, "unknown result code" for a number that is not
/// a `smtp_result` value.
///
/// `result` is an `int` rather than `smtp_result` so that any number can
/// be passed safely.
///
/// Ownership: the string is static; never free it. Never returns NULL.
/// Thread-safety: may be called from any thread. Does not change
/// `smtp_last_message()`.
#[no_mangle]
pub extern "C" fn smtp_result_str(result: c_int) -> *const c_char {
    match smtp_result::from_int(result) {
        Some(r) => r.description().as_ptr(),
        None => c"unknown result code".as_ptr(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_and_unique() {
        let numbers: Vec<c_int> = smtp_result::ALL.iter().map(|r| *r as c_int).collect();
        assert_eq!(
            numbers,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 100, 101, 102, 199]
        );
        for r in smtp_result::ALL {
            assert_eq!(smtp_result::from_int(r as c_int), Some(r));
            assert!(!r.description().to_bytes().is_empty());
        }
        assert_eq!(smtp_result::from_int(17), None);
        assert_eq!(smtp_result::from_int(-1), None);
    }

    #[test]
    fn unknown_code_has_a_description() {
        // SAFETY: smtp_result_str returns a static NUL-terminated string.
        let s = unsafe { CStr::from_ptr(smtp_result_str(12345)) };
        assert_eq!(s.to_str().unwrap(), "unknown result code");
    }
}
