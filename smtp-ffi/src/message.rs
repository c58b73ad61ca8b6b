//! `smtp_message`: composing a message (headers, text and HTML bodies,
//! attachments) for `smtp_client_send_message()`.
//!
//! Every setter checks its input at once (CR, LF and NUL can never start
//! a new header) and copies it: the caller's strings and buffers may be
//! freed as soon as the call returns.

use std::ffi::{c_char, c_int};

use smtp_core::{Attachment, Message};

use crate::args::{bytes_arg, handle_mut, opt_str_arg, str_arg};
use crate::guard;
use crate::result::{smtp_result, Failure};

/// A message being composed. Opaque: create it with `smtp_message_new()`,
/// free it with `smtp_message_free()`.
///
/// Thread-safety: the setters must not run while another thread uses the
/// message; sending only reads it, so several clients (on several
/// threads) may send the same message at once. A message may be sent any
/// number of times; each send carries the same Message-ID.
pub struct smtp_message {
    pub(crate) inner: Message,
}

/// Creates an empty message (no From, no recipients, no body). The Date
/// and Message-ID headers are added when it is sent.
///
/// Ownership: the caller owns the result and must free it with
/// `smtp_message_free()`. Returns NULL only if an internal error occurred.
/// Thread-safety: may be called from any thread.
#[no_mangle]
pub extern "C" fn smtp_message_new() -> *mut smtp_message {
    guard::value(std::ptr::null_mut(), || {
        crate::handles::opened();
        Box::into_raw(Box::new(smtp_message {
            inner: Message::new(),
        }))
    })
}

/// Frees a message from `smtp_message_new()`. NULL is a no-op.
///
/// The pointer must not be used afterwards. Freeing a message does not
/// affect clients it was sent with.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_free(message: *mut smtp_message) {
    guard::value((), || {
        if !message.is_null() {
            // SAFETY: the caller gives back a pointer from smtp_message_new
            // that it will not use again.
            drop(unsafe { Box::from_raw(message) });
            crate::handles::closed();
        }
    })
}

/// Runs a fallible setter on a message handle.
pub(crate) fn with_message(
    message: *mut smtp_message,
    f: impl FnOnce(&mut Message) -> Result<(), Failure>,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: the caller passes NULL or a live message it does not use
        // elsewhere during the call.
        let m = unsafe { handle_mut(message, "message") }?;
        f(&mut m.inner)
    })
}

/// Sets the author (the From header, and the envelope sender unless a
/// Sender or envelope sender is set): one mailbox, "Name <user@domain>"
/// or "user@domain". Replaces an earlier one.
///
/// `message` and `mailbox` must not be NULL (`SMTP_ERR_NULL_PARAMETER`).
/// Strings are NUL-terminated UTF-8 and copied. Returns
/// `SMTP_ERR_INVALID_INPUT` for anything but exactly one valid mailbox.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_from(
    message: *mut smtp_message,
    mailbox: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let mailbox = unsafe { str_arg(mailbox, "mailbox") }?;
        m.from(mailbox)?;
        Ok(())
    })
}

/// Sets the Sender header (the mailbox that actually sends, when it is not
/// the author); it also becomes the envelope sender.
///
/// `message` and `mailbox` must not be NULL. Copied; checked like
/// `smtp_message_set_from()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_sender(
    message: *mut smtp_message,
    mailbox: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let mailbox = unsafe { str_arg(mailbox, "mailbox") }?;
        m.sender(mailbox)?;
        Ok(())
    })
}

/// Adds To recipients: a comma-separated list such as
/// "a@example.org, \"Doe, Jane\" <jane@example.net>". May be called
/// several times; the recipients add up.
///
/// `message` and `list` must not be NULL. Copied. An empty or invalid list
/// gives `SMTP_ERR_INVALID_INPUT` and adds nothing.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_add_to(
    message: *mut smtp_message,
    list: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let list = unsafe { str_arg(list, "list") }?;
        m.to(list)?;
        Ok(())
    })
}

/// Adds Cc recipients (a comma-separated list, as for
/// `smtp_message_add_to()`).
///
/// `message` and `list` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_add_cc(
    message: *mut smtp_message,
    list: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let list = unsafe { str_arg(list, "list") }?;
        m.cc(list)?;
        Ok(())
    })
}

/// Adds blind-copy recipients (a comma-separated list): they receive the
/// message and no header names them.
///
/// `message` and `list` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_add_bcc(
    message: *mut smtp_message,
    list: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let list = unsafe { str_arg(list, "list") }?;
        m.bcc(list)?;
        Ok(())
    })
}

/// Adds Reply-To mailboxes (a comma-separated list).
///
/// `message` and `list` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_add_reply_to(
    message: *mut smtp_message,
    list: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let list = unsafe { str_arg(list, "list") }?;
        m.reply_to(list)?;
        Ok(())
    })
}

/// Sets the subject, in any language (non-ASCII text is encoded as RFC 2047
/// encoded words). Replaces an earlier one.
///
/// `message` and `subject` must not be NULL. Copied. CR or LF gives
/// `SMTP_ERR_INVALID_INPUT`.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_subject(
    message: *mut smtp_message,
    subject: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let subject = unsafe { str_arg(subject, "subject") }?;
        m.subject(subject)?;
        Ok(())
    })
}

/// Sets the plain-text body (replaces an earlier one). Line breaks may be
/// LF, CRLF or CR; they are sent as CRLF.
///
/// `message` and `text` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_text(
    message: *mut smtp_message,
    text: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let text = unsafe { str_arg(text, "text") }?;
        m.text(text);
        Ok(())
    })
}

/// Sets the HTML body (replaces an earlier one). With a text body too, the
/// message carries both as alternatives.
///
/// `message` and `html` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_html(
    message: *mut smtp_message,
    html: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let html = unsafe { str_arg(html, "html") }?;
        m.html(html);
        Ok(())
    })
}

/// Adds a header field, e.g. ("X-Mailer", "legacy-app 2.1"). The name is
/// printable ASCII without ':' or spaces; the value is text (encoded when
/// not ASCII). Names with a setter of their own (From, To, Subject...) go
/// to that setter; names the library writes itself (Date, MIME-Version,
/// Content-*) and List-Unsubscribe, List-Unsubscribe-Post and
/// TLS-Required (see `smtp_message_set_list_unsubscribe()` and
/// `smtp_message_set_tls_required_no()`) give `SMTP_ERR_INVALID_INPUT`.
///
/// `message`, `name` and `value` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_add_header(
    message: *mut smtp_message,
    name: *const c_char,
    value: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let (name, value) = unsafe { (str_arg(name, "name")?, str_arg(value, "value")?) };
        m.header(name, value)?;
        Ok(())
    })
}

/// Sets List-Unsubscribe (RFC 2369): `https` ("https://host/path...")
/// and `mailto` ("mailto:user@domain?subject=..."), either of which may
/// be NULL but not both. With `one_click` non-zero it also sets
/// "List-Unsubscribe-Post: List-Unsubscribe=One-Click" (RFC 8058), which
/// needs the https URI. Replaces what an earlier call set.
///
/// The URIs are written as given, so spaces, '<', '>', ',', '"', controls
/// and non-ASCII characters must be percent-encoded; an https URI needs a
/// host and no user information, a mailto URI one valid address; at most
/// 900 octets each. Anything else gives `SMTP_ERR_INVALID_INPUT` and
/// changes nothing. `smtp_message_add_header()` refuses these names.
///
/// `message` must not be NULL. Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_list_unsubscribe(
    message: *mut smtp_message,
    https: *const c_char,
    mailto: *const c_char,
    one_click: c_int,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: NULL or NUL-terminated strings valid during the call.
        let (https, mailto) =
            unsafe { (opt_str_arg(https, "https")?, opt_str_arg(mailto, "mailto")?) };
        match (one_click != 0, https) {
            (true, Some(https)) => m.list_unsubscribe_one_click(https, mailto)?,
            (true, None) if mailto.is_some() => {
                return Err(Failure::invalid(
                    "https",
                    "one-click unsubscribe (RFC 8058) needs an https URI",
                ))
            }
            _ => m.list_unsubscribe(https, mailto)?,
        };
        Ok(())
    })
}

/// With `on` non-zero the message carries "TLS-Required: No" (RFC 8689
/// section 5: relays may deliver it without the TLS their policy would
/// otherwise require); zero removes it. `smtp_message_add_header()`
/// refuses this name.
///
/// `message` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_tls_required_no(
    message: *mut smtp_message,
    on: c_int,
) -> smtp_result {
    with_message(message, |m| {
        m.tls_required_no(on != 0);
        Ok(())
    })
}

/// Sets the Message-ID ("<id@domain>" or "id@domain") instead of the
/// generated one.
///
/// `message` and `id` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_message_id(
    message: *mut smtp_message,
    id: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let id = unsafe { str_arg(id, "id") }?;
        m.message_id(id)?;
        Ok(())
    })
}

/// Sets In-Reply-To (one or more message ids, "<a@b> <c@d>").
///
/// `message` and `ids` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_in_reply_to(
    message: *mut smtp_message,
    ids: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let ids = unsafe { str_arg(ids, "ids") }?;
        m.in_reply_to(ids)?;
        Ok(())
    })
}

/// Sets References (message ids, oldest first).
///
/// `message` and `ids` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_references(
    message: *mut smtp_message,
    ids: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let ids = unsafe { str_arg(ids, "ids") }?;
        m.references(ids)?;
        Ok(())
    })
}

/// Sets the envelope sender (MAIL FROM) instead of the one derived from
/// Sender/From: a bare address, or "" for the null sender.
///
/// `message` and `address` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_envelope_from(
    message: *mut smtp_message,
    address: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let address = unsafe { str_arg(address, "address") }?;
        m.envelope_from(address)?;
        Ok(())
    })
}

/// Adds envelope recipients (RCPT TO; a comma-separated list). Once any is
/// added, they replace the recipients derived from To, Cc and Bcc.
///
/// `message` and `list` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_add_envelope_to(
    message: *mut smtp_message,
    list: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let list = unsafe { str_arg(list, "list") }?;
        m.envelope_to(list)?;
        Ok(())
    })
}

/// Attaches `len` bytes at `data` as a file called `filename` (only its
/// last path component is used). `content_type` ("application/pdf",
/// "text/csv; charset=utf-8") may be NULL: it is then guessed from the
/// file name's extension.
///
/// `message` and `filename` must not be NULL; `data` may be NULL only when
/// `len` is 0. The bytes are copied: the buffer may be freed after the call.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_attach_bytes(
    message: *mut smtp_message,
    filename: *const c_char,
    content_type: *const c_char,
    data: *const u8,
    len: usize,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: strings NULL or NUL-terminated; `data` NULL or `len`
        // readable bytes, all valid during the call.
        let (filename, content_type, data) = unsafe {
            (
                str_arg(filename, "filename")?,
                opt_str_arg(content_type, "content_type")?,
                bytes_arg(data, len, "data")?,
            )
        };
        m.attach(described(
            Attachment::bytes(data.to_vec()),
            Some(filename),
            content_type,
        ))?;
        Ok(())
    })
}

/// Attaches the file at `path`. The file must exist and be readable now
/// (`SMTP_ERR_INVALID_INPUT` otherwise); it is read block by block each
/// time the message is sent (`SMTP_ERR_BODY_READ` then if it became
/// unreadable). `filename`, the name shown to the recipient, may be NULL
/// for the path's last component; `content_type` may be NULL to guess it
/// from the name.
///
/// `message` and `path` must not be NULL. Paths are UTF-8. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_attach_file(
    message: *mut smtp_message,
    path: *const c_char,
    filename: *const c_char,
    content_type: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let (path, filename, content_type) = unsafe {
            (
                str_arg(path, "path")?,
                opt_str_arg(filename, "filename")?,
                opt_str_arg(content_type, "content_type")?,
            )
        };
        m.attach(described(Attachment::file(path), filename, content_type))?;
        Ok(())
    })
}

/// Adds an inline part from memory: an image the HTML body shows with
/// `<img src="cid:CONTENT_ID">`. `content_id` is given without "cid:"
/// (angle brackets optional) and must be unique in the message;
/// `filename` and `content_type` may be NULL (the type is then guessed
/// from the file name, else application/octet-stream).
///
/// `message` and `content_id` must not be NULL; `data` may be NULL only
/// when `len` is 0. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_inline_bytes(
    message: *mut smtp_message,
    content_id: *const c_char,
    filename: *const c_char,
    content_type: *const c_char,
    data: *const u8,
    len: usize,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let (content_id, filename, content_type, data) = unsafe {
            (
                str_arg(content_id, "content_id")?,
                opt_str_arg(filename, "filename")?,
                opt_str_arg(content_type, "content_type")?,
                bytes_arg(data, len, "data")?,
            )
        };
        m.inline(
            content_id,
            described(Attachment::bytes(data.to_vec()), filename, content_type),
        )?;
        Ok(())
    })
}

/// Adds an inline part read from the file at `path` when the message is
/// sent (see `smtp_message_inline_bytes()` and
/// `smtp_message_attach_file()`). `content_type` may be NULL.
///
/// `message`, `content_id` and `path` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_inline_file(
    message: *mut smtp_message,
    content_id: *const c_char,
    path: *const c_char,
    content_type: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let (content_id, path, content_type) = unsafe {
            (
                str_arg(content_id, "content_id")?,
                str_arg(path, "path")?,
                opt_str_arg(content_type, "content_type")?,
            )
        };
        m.inline(
            content_id,
            described(Attachment::file(path), None, content_type),
        )?;
        Ok(())
    })
}

/// `part` with the file name and content type the caller gave, if any
/// (NULL arrives as `None`).
fn described(part: Attachment, filename: Option<&str>, content_type: Option<&str>) -> Attachment {
    let part = match filename {
        Some(name) => part.filename(name),
        None => part,
    };
    match content_type {
        Some(content_type) => part.content_type(content_type),
        None => part,
    }
}
