//! Delivery options of an `smtp_message`: delivery status notifications
//! (RFC 3461: RET, ENVID, NOTIFY, ORCPT), REQUIRETLS (RFC 8689) and
//! MT-PRIORITY (RFC 6710). They travel with the message to every send
//! (client, pool); the extensions a server lacked and the message went
//! without are read back with `smtp_client_omitted_extensions()`.

use std::ffi::{c_char, c_int};

use smtp_core::{DsnReturn, Notify};

use crate::args::{opt_str_arg, str_arg};
use crate::message::{smtp_message, with_message};
use crate::result::{smtp_result, Failure};

/// Asks delivery status notifications to return the whole message
/// (`"FULL"`) or its header only (`"HDRS"`).
///
/// `message` and `ret` must not be NULL. Anything but FULL or HDRS (any
/// case) gives `SMTP_ERR_INVALID_INPUT`.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_dsn_return(
    message: *mut smtp_message,
    ret: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let ret = unsafe { str_arg(ret, "ret") }?;
        m.dsn_return(DsnReturn::parse(ret)?);
        Ok(())
    })
}

/// Sets the envelope identifier (ENVID) that notifications carry back.
/// Any text: `+`, `=`, controls and non-ASCII characters are escaped
/// (xtext); at most 100 characters once escaped, else
/// `SMTP_ERR_INVALID_INPUT`.
///
/// `message` and `id` must not be NULL. Copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_envelope_id(
    message: *mut smtp_message,
    id: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let id = unsafe { str_arg(id, "id") }?;
        m.envelope_id(id)?;
        Ok(())
    })
}

/// Asks for notifications (NOTIFY) for `recipient`, or for every
/// recipient when `recipient` is NULL. `notify` is `"NEVER"` or a
/// comma-separated list of `SUCCESS`, `FAILURE` and `DELAY` (any case).
///
/// `message` and `notify` must not be NULL. NEVER combined with another,
/// or an unknown word, gives `SMTP_ERR_INVALID_INPUT`. A recipient that
/// is not among the message's envelope recipients makes the send fail
/// with `SMTP_ERR_INVALID_INPUT` before anything is sent.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_notify(
    message: *mut smtp_message,
    recipient: *const c_char,
    notify: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above (the recipient may be NULL).
        let recipient = unsafe { opt_str_arg(recipient, "recipient") }?;
        // SAFETY: as above.
        let notify = Notify::parse(unsafe { str_arg(notify, "notify") }?)?;
        match recipient {
            Some(address) => m.recipient_notify(address, notify)?,
            None => m.notify(notify)?,
        };
        Ok(())
    })
}

/// Gives the original recipient (ORCPT) of `recipient`: the address the
/// message was first sent to, before forwarding. Sent as `rfc822;` xtext,
/// or in RFC 6533's 7-bit `utf-8;` form for a non-ASCII address.
///
/// No argument may be NULL. An invalid address gives
/// `SMTP_ERR_INVALID_INPUT`.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_original_recipient(
    message: *mut smtp_message,
    recipient: *const c_char,
    original: *const c_char,
) -> smtp_result {
    with_message(message, |m| {
        // SAFETY: as above.
        let recipient = unsafe { str_arg(recipient, "recipient") }?;
        // SAFETY: as above.
        let original = unsafe { str_arg(original, "original") }?;
        m.original_recipient(recipient, original)?;
        Ok(())
    })
}

/// With `on`, a server that does not offer DSN gets the message without
/// the DSN parameters (and `smtp_client_omitted_extensions()` says
/// "DSN"); by default such a send fails with `SMTP_ERR_UNSUPPORTED`
/// before anything is sent.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_dsn_if_offered(
    message: *mut smtp_message,
    on: bool,
) -> smtp_result {
    with_message(message, |m| {
        m.dsn_if_offered(on);
        Ok(())
    })
}

/// With `on`, the message carries REQUIRETLS: it must travel over TLS
/// all the way. The send fails with `SMTP_ERR_UNSUPPORTED`, before
/// anything is sent, unless the session is TLS and the server offers
/// REQUIRETLS.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_require_tls(
    message: *mut smtp_message,
    on: bool,
) -> smtp_result {
    with_message(message, |m| {
        m.require_tls(on);
        Ok(())
    })
}

/// Sets MT-PRIORITY, -9 (lowest) to 9, sent when the server offers it
/// (otherwise left out, and `smtp_client_omitted_extensions()` says
/// "MT-PRIORITY"). Out of range gives `SMTP_ERR_INVALID_INPUT`.
#[no_mangle]
pub unsafe extern "C" fn smtp_message_set_priority(
    message: *mut smtp_message,
    priority: c_int,
) -> smtp_result {
    with_message(message, |m| {
        let priority =
            i8::try_from(priority).map_err(|_| Failure::invalid("priority", "outside -9..9"))?;
        m.priority(priority)?;
        Ok(())
    })
}
