//! The `smtp_client_send_raw*` entry points: messages the caller
//! formatted, from memory, a file or a read callback, with an explicit
//! envelope or one taken from the headers (the library's raw-message
//! path, `smtp_core::RawMessage`).

use std::ffi::{c_char, c_int, c_void};

use smtp_core::{Envelope, Mailbox, RawMessage, RawOptions};

use super::{smtp_client, with_client};
use crate::args::{bytes_arg, opt_str_arg, str_arg};
use crate::result::{smtp_result, Failure};
use crate::types::smtp_read_callback;

/// Sends a message the caller formatted completely (headers, empty line,
/// body): `len` bytes at `data`. Line endings may be LF or CRLF (sent as
/// CRLF); lines starting with '.' are escaped; a lone "." line cannot end
/// the message early.
///
/// Envelope: with `from` and `to_list` both given, they are used as they
/// are (`from` is one address, "" for the null sender; `to_list` a
/// comma-separated list; display names allowed) and the bytes go out
/// unchanged. With both NULL the envelope is taken from the headers
/// (Sender or From; To, Cc and Bcc) and the Bcc header lines are removed
/// before sending. Only one of them NULL gives `SMTP_ERR_NULL_PARAMETER`.
///
/// `client` must not be NULL; `data` may be NULL only when `len` is 0. The
/// data is only read during the call. Results and per-recipient replies as
/// for `smtp_client_send_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_send_raw(
    client: *mut smtp_client,
    from: *const c_char,
    to_list: *const c_char,
    data: *const u8,
    len: usize,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: strings NULL or NUL-terminated; data NULL or `len`
        // readable bytes; all valid during the call.
        let (envelope, data) =
            unsafe { (raw_envelope(from, to_list)?, bytes_arg(data, len, "data")?) };
        c.start_send();
        let session = c.session()?;
        // SIZE and 8BITMIME from the bytes, as for a message in memory.
        let envelope = envelope.map(|e| {
            e.with_size(data.len() as u64)
                .with_8bit_body(!data.is_ascii())
        });
        let outcome = session.send_raw(envelope.as_ref(), &mut &data[..]);
        c.finish_send(outcome)
    })
}

/// Sends the complete message in the file at `path` (a UTF-8 path), read
/// block by block as it goes out: memory use does not grow with the
/// message. Envelope and results as for `smtp_client_send_raw()`; with an
/// explicit envelope the file's size is declared (as SIZE's estimate) to
/// servers that offer SIZE. A file that cannot
/// be opened gives `SMTP_ERR_INVALID_INPUT` before anything is sent; a
/// read error later gives `SMTP_ERR_BODY_READ`.
///
/// `client` and `path` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_send_raw_file(
    client: *mut smtp_client,
    from: *const c_char,
    to_list: *const c_char,
    path: *const c_char,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: strings NULL or NUL-terminated, valid during the call.
        let (envelope, path) = unsafe { (raw_envelope(from, to_list)?, str_arg(path, "path")?) };
        let mut file = std::fs::File::open(path)
            .map_err(|e| Failure::invalid("path", format!("cannot open {path:?}: {e}")))?;
        let size = file.metadata().ok().map(|m| m.len());
        c.start_send();
        let session = c.session()?;
        let outcome = match envelope {
            Some(envelope) => {
                let envelope = match size {
                    Some(size) => envelope.with_size(size),
                    None => envelope,
                };
                session.send_raw(Some(&envelope), &mut file)
            }
            None => session.send_raw(None, &mut file),
        };
        c.finish_send(outcome)
    })
}

/// Sends a complete message produced by `read`, called repeatedly for the
/// next bytes until it returns 0 (see `smtp_read_callback`): for bodies
/// generated on the fly or too large to hold in memory. Envelope and
/// results as for `smtp_client_send_raw()`.
///
/// `client` and `read` must not be NULL; `userdata` is passed back
/// unchanged and never dereferenced by the library.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_send_raw_callback(
    client: *mut smtp_client,
    from: *const c_char,
    to_list: *const c_char,
    read: smtp_read_callback,
    userdata: *mut c_void,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: strings NULL or NUL-terminated, valid during the call.
        let envelope = unsafe { raw_envelope(from, to_list)? };
        let read = read.ok_or(Failure::Null("read"))?;
        let mut source = CallbackReader { read, userdata };
        c.start_send();
        let session = c.session()?;
        let outcome = session.send_raw(envelope.as_ref(), &mut source);
        c.finish_send(outcome)
    })
}

/// Adapts a C read callback to `std::io::Read`.
struct CallbackReader {
    read: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> isize,
    userdata: *mut c_void,
}

impl std::io::Read for CallbackReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // SAFETY: the caller promised a callback that writes at most `len`
        // bytes to `buf`, which is valid and writable for that many.
        let n = unsafe { (self.read)(self.userdata, buf.as_mut_ptr(), buf.len()) };
        match usize::try_from(n) {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(_) => Err(std::io::Error::other(
                "the read callback returned more bytes than the buffer holds",
            )),
            Err(_) => Err(std::io::Error::other("the read callback reported an error")),
        }
    }
}

/// The envelope of a raw send: both NULL to take it from the headers,
/// else both given.
///
/// # Safety
/// `from` and `to_list` are NULL or NUL-terminated and valid for the call.
pub(crate) unsafe fn raw_envelope(
    from: *const c_char,
    to_list: *const c_char,
) -> Result<Option<Envelope>, Failure> {
    // SAFETY: as the function's contract says.
    let (from_arg, to_arg) =
        unsafe { (opt_str_arg(from, "from")?, opt_str_arg(to_list, "to_list")?) };
    match (from_arg, to_arg) {
        (None, None) => Ok(None),
        (Some(from), Some(to)) => Ok(Some(Envelope::parse(from, to)?)),
        (None, Some(_)) => Err(Failure::Null("from")),
        (Some(_), None) => Err(Failure::Null("to_list")),
    }
}

/// `smtp_client_send_raw_completed()` flag: the header's To, Cc and Bcc
/// (Resent-To, Resent-Cc and Resent-Bcc in a resent message) are
/// recipients too, as with `sendmail -t`.
pub const SMTP_RAW_RECIPIENTS_FROM_HEADERS: c_int = 1;

/// Sends a message the caller formatted (headers, empty line, body; `len`
/// bytes at `data`), completed as a submission server or `sendmail`
/// would: the `Bcc` fields removed; `To: to` added when `to` is not NULL
/// and the message has no To; `Subject: subject` (encoded as needed) when
/// `subject` is not NULL or "" and it has none; with `author` not NULL
/// (`Name <addr>` or `addr`), `From: author`, `Date`, `Message-ID` and
/// `MIME-Version` when missing. The header ends at the first empty line,
/// or at the first line that is not a header field (an empty line is
/// inserted there).
///
/// Envelope: the sender is `sender` (`Name <addr>`, `addr`, or "" / `<>`
/// for the null sender) when not NULL, else the message's Sender or From
/// (after `author` was added). The recipients are `recipients` (a
/// comma-separated list; NULL for none) plus, with
/// `SMTP_RAW_RECIPIENTS_FROM_HEADERS` in `flags`, the header's. No
/// recipient at all, a header address that cannot be parsed, or a header
/// block over 1 MiB gives `SMTP_ERR_INVALID_INPUT` before anything is
/// sent. An unknown flag gives `SMTP_ERR_INVALID_INPUT`.
///
/// `client` must not be NULL; `data` may be NULL only when `len` is 0.
/// Results and per-recipient replies as for `smtp_client_send_message()`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn smtp_client_send_raw_completed(
    client: *mut smtp_client,
    sender: *const c_char,
    recipients: *const c_char,
    flags: c_int,
    author: *const c_char,
    to: *const c_char,
    subject: *const c_char,
    data: *const u8,
    len: usize,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: the caller's guarantees are passed on unchanged.
        let (options, data) =
            unsafe { completed_args(sender, recipients, flags, author, to, subject, data, len) }?;
        let mut message = RawMessage::read(data, &options)?;
        c.start_send();
        let outcome = c.session()?.send_raw_message(&mut message);
        c.finish_send(outcome)
    })
}

/// The arguments of a completed raw message
/// (`smtp_client_send_raw_completed()`, `smtp_outbox_enqueue_raw_completed()`)
/// checked: the library's raw-message options and the message's bytes.
///
/// # Safety
/// The strings are NULL or NUL-terminated; `data` is NULL (with `len` 0)
/// or `len` readable bytes; all valid for the lifetime `'a`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn completed_args<'a>(
    sender: *const c_char,
    recipients: *const c_char,
    flags: c_int,
    author: *const c_char,
    to: *const c_char,
    subject: *const c_char,
    data: *const u8,
    len: usize,
) -> Result<(RawOptions, &'a [u8]), Failure> {
    // SAFETY: as the function's contract says.
    let (sender, recipients, author, to, subject, data) = unsafe {
        (
            opt_str_arg(sender, "sender")?,
            opt_str_arg(recipients, "recipients")?,
            opt_str_arg(author, "author")?,
            opt_str_arg(to, "to")?,
            opt_str_arg(subject, "subject")?,
            bytes_arg(data, len, "data")?,
        )
    };
    if flags & !SMTP_RAW_RECIPIENTS_FROM_HEADERS != 0 {
        return Err(Failure::invalid(
            "flags",
            format!("unknown flags {flags:#x}"),
        ));
    }
    let mut options =
        RawOptions::new().recipients_from_headers(flags & SMTP_RAW_RECIPIENTS_FROM_HEADERS != 0);
    if let Some(sender) = sender {
        options = options.sender(sender)?;
    }
    if let Some(recipients) = recipients.filter(|r| !r.trim().is_empty()) {
        options = options.recipients(recipients)?;
    }
    if let Some(to) = to.filter(|t| !t.trim().is_empty()) {
        options = options.to_when_missing(to)?;
    }
    if let Some(subject) = subject {
        options = options.subject_when_missing(subject)?;
    }
    if let Some(author) = author {
        options = options.complete_headers(Mailbox::parse(author)?);
    }
    Ok((options, data))
}
