//! The small enums of the C API. Functions take them as `int` so that any
//! number a C or PHP caller passes is checked instead of being undefined
//! behaviour.

/// How the connection is protected (the `security` argument of
/// `smtp_send()` and `smtp_client_set_security()`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_security {
    /// Chosen from the port and the credentials: implicit TLS for port 465
    /// and `smtps://` URLs; STARTTLS, required, for port 587 or whenever
    /// credentials are set; otherwise STARTTLS if the server offers it.
    SMTP_SECURITY_DEFAULT = 0,
    /// Plain connection upgraded with STARTTLS, which is required: if the
    /// server does not offer it, nothing else is sent.
    SMTP_SECURITY_STARTTLS = 1,
    /// TLS from the first byte ("SMTPS", usually port 465).
    SMTP_SECURITY_IMPLICIT = 2,
    /// STARTTLS when the server offers it, plaintext otherwise. Refused
    /// together with credentials unless insecure plaintext authentication
    /// is allowed (`smtp_client_set_insecure_plaintext_auth()`).
    SMTP_SECURITY_STARTTLS_IF_OFFERED = 3,
    /// No TLS. Credentials are then only sent to a server on this machine
    /// (loopback), unless insecure plaintext authentication is allowed.
    SMTP_SECURITY_NONE = 4,
}

/// What to do when some recipients of a message are refused
/// (`smtp_client_set_recipient_policy()`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_recipient_policy {
    /// Deliver to the accepted recipients; the send fails only when none
    /// is accepted. The refused ones are listed by `smtp_client_recipient()`.
    SMTP_RECIPIENTS_DELIVER_TO_ACCEPTED = 0,
    /// Send nothing unless every recipient is accepted.
    SMTP_RECIPIENTS_ALL_OR_NOTHING = 1,
}

/// What happens to a message with a line over 998 octets, the limit of
/// RFC 5322 (`smtp_client_set_long_lines()`, URL option
/// `long_lines=repair|refuse`). Checked for every message, raw ones
/// included, before it goes out.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_long_lines {
    /// The default: repair what can be repaired without changing what the
    /// reader sees (a long header line folded at whitespace, a text part
    /// re-encoded as quoted-printable, soft line breaks in a
    /// quoted-printable part, shorter lines in a base64 part); refuse the
    /// rest (a header line without whitespace, a non-text part, a signed
    /// message) with `SMTP_ERR_INVALID_INPUT`.
    SMTP_LONG_LINES_REPAIR = 0,
    /// Refuse every message with such a line (`SMTP_ERR_INVALID_INPUT`),
    /// for messages that must go out exactly as they are.
    SMTP_LONG_LINES_REFUSE = 1,
}

/// The `direction` argument of a transcript callback.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum smtp_direction {
    /// A line the client sent (authentication data replaced by
    /// "[credentials hidden]").
    SMTP_DIRECTION_SENT = 0,
    /// A line the server sent.
    SMTP_DIRECTION_RECEIVED = 1,
    /// A note from the library (connected, TLS established, ...).
    SMTP_DIRECTION_INFO = 2,
}

impl From<smtp_core::Direction> for smtp_direction {
    fn from(d: smtp_core::Direction) -> smtp_direction {
        match d {
            smtp_core::Direction::Sent => smtp_direction::SMTP_DIRECTION_SENT,
            smtp_core::Direction::Received => smtp_direction::SMTP_DIRECTION_RECEIVED,
            smtp_core::Direction::Info => smtp_direction::SMTP_DIRECTION_INFO,
        }
    }
}

/// A transcript callback: receives every line sent and received, without
/// line ending, with credentials replaced by "[credentials hidden]" (never
/// a password, a token or their base64).
///
/// `userdata` is the pointer given to `smtp_client_set_transcript()`;
/// `direction` is a `smtp_direction` value; `line` is NUL-terminated
/// UTF-8, valid only during the call (copy it to keep it).
///
/// It is called synchronously, on the thread that called the libsmtp
/// function doing the I/O. It must not unwind (C++ exception, longjmp)
/// into libsmtp and must not call libsmtp functions on the same client.
pub type smtp_transcript_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut std::ffi::c_void,
        direction: std::ffi::c_int,
        line: *const std::ffi::c_char,
    ),
>;

/// A body source for `smtp_client_send_raw_callback()`: copies up to `len`
/// bytes of the message into `buf` and returns how many it copied; 0 means
/// the message is complete, and a negative value means it could not be
/// read (the send then fails with `SMTP_ERR_BODY_READ` and the server
/// never sees the message as complete).
///
/// `userdata` is the pointer given to `smtp_client_send_raw_callback()`.
/// Called synchronously, on the calling thread, only during that call. It
/// must not unwind (C++ exception, longjmp) into libsmtp and must not call
/// libsmtp functions on the same client.
pub type smtp_read_callback = Option<
    unsafe extern "C" fn(userdata: *mut std::ffi::c_void, buf: *mut u8, len: usize) -> isize,
>;

/// An OAuth 2.0 token source for `smtp_client_set_token_provider()` and
/// `smtp_pool_set_token_provider()`: writes the current access token,
/// NUL-terminated, into `buf` (`cap` bytes, NUL included; 16 KiB), sets
/// `*expires_in` to the seconds it stays valid (a token endpoint's
/// `expires_in`; left at -1 when unknown) and returns 0. Any other return
/// value means no token (the connect then fails with `SMTP_ERR_AUTH`
/// before anything is sent, `smtp_last_message()` quoting the value).
///
/// The library asks before AUTH when it has no token or its token expires
/// within the refresh margin (option "token_refresh_margin", default 600
/// seconds), and once more when the server refused the token as expired
/// or invalid (then it connects again, once). The token must be visible
/// ASCII without spaces (RFC 6750); an empty or otherwise unusable token
/// is refused with `SMTP_ERR_AUTH`. `buf` is wiped as soon as the token
/// was copied out of it; the token is never logged.
///
/// `userdata` is the pointer given with the callback. The callback runs on
/// the thread that connects: the caller's thread for a client; for a pool,
/// whichever thread's send opens a session, possibly several at once, so
/// it must be thread-safe. It must not unwind (C++ exception, longjmp)
/// into libsmtp and must not call libsmtp functions on the same client or
/// pool.
pub type smtp_token_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut std::ffi::c_void,
        buf: *mut std::ffi::c_char,
        cap: usize,
        expires_in: *mut i64,
    ) -> std::ffi::c_int,
>;
