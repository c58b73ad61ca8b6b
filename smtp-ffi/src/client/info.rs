//! What an `smtp_client` knows after connecting and sending: the
//! per-recipient results of the last send, the server's capabilities and
//! greeting, the mechanism used, and the TLS session.

use std::ffi::{c_char, c_int};

use super::{read_client, smtp_client, write_out, RecipientSlot, SessionInfo};
use crate::args::str_arg;
/// Returns the number of recipients the last send reported on (see
/// `smtp_client_send_message()`), 0 if none. NULL gives 0.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_recipient_count(client: *const smtp_client) -> usize {
    read_client(client, 0, |c| c.recipients.len())
}

/// Reads the server's reply for recipient `index` (0-based, in the order
/// given) of the last send: the address, the reply code (250 accepted, 550
/// refused...), the enhanced status code ("" if none) and the reply text.
///
/// Returns true and writes all four outputs, or returns false and writes
/// nothing (NULL `client` or output pointer, `index` out of range).
/// Ownership: the strings belong to the client and stay valid until the
/// next send, connect or `smtp_client_free()` on it. Does not change
/// `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_recipient(
    client: *const smtp_client,
    index: usize,
    address: *mut *const c_char,
    code: *mut c_int,
    enhanced: *mut *const c_char,
    text: *mut *const c_char,
) -> bool {
    read_client(client, false, |c| {
        if address.is_null() || code.is_null() || enhanced.is_null() || text.is_null() {
            return false;
        }
        let Some(r) = c.recipients.get(index).map(RecipientSlot::entry) else {
            return false;
        };
        write_out(address, r.address.as_ptr());
        write_out(code, r.code);
        write_out(enhanced, r.enhanced.as_ptr());
        write_out(text, r.text.as_ptr());
        true
    })
}

/// Returns the extensions the last message sent went without because the
/// server does not offer them and the message allowed it, comma-separated
/// ("DSN", "MT-PRIORITY", "DSN,MT-PRIORITY"); "" when it went with
/// everything it asked for, after a failed send, and after a batch
/// (`smtp_client_send_batch()` does not report per message here).
///
/// NULL if the client is NULL. The string belongs to the client and stays
/// valid until the next send or `smtp_client_free()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_omitted_extensions(
    client: *const smtp_client,
) -> *const c_char {
    read_client(client, std::ptr::null(), |c| c.omitted.as_ptr())
}

fn info_str(
    client: *const smtp_client,
    f: impl FnOnce(&SessionInfo) -> Option<*const c_char>,
) -> *const c_char {
    read_client(client, std::ptr::null(), |c| {
        c.info.as_ref().and_then(f).unwrap_or(std::ptr::null())
    })
}

/// Returns the extensions the server announced in its last EHLO reply (the
/// one over TLS when TLS is on), one per line as the server wrote them,
/// e.g. "PIPELINING\nSIZE 10240000\nAUTH PLAIN LOGIN\n8BITMIME"; "" after a
/// HELO fallback. For a "--serverinfo" style check.
///
/// NULL if the client is NULL or has not connected successfully. The
/// string belongs to the client and stays valid until the next connect or
/// `smtp_client_free()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_capabilities(client: *const smtp_client) -> *const c_char {
    info_str(client, |i| Some(i.capabilities.as_ptr()))
}

/// Returns true if the server announced the extension `keyword` (e.g.
/// "PIPELINING", "SMTPUTF8", "AUTH"; any case) in its last EHLO reply.
/// False if it did not, if no session was established, or if `client` or
/// `keyword` is NULL or not UTF-8.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_has_extension(
    client: *const smtp_client,
    keyword: *const c_char,
) -> bool {
    read_client(client, false, |c| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let Ok(keyword) = (unsafe { str_arg(keyword, "keyword") }) else {
            return false;
        };
        c.info.as_ref().is_some_and(|i| {
            i.keywords
                .iter()
                .any(|k| k.eq_ignore_ascii_case(keyword.trim()))
        })
    })
}

/// Returns the SASL mechanisms the server offers, upper-case, separated by
/// spaces (e.g. "PLAIN LOGIN CRAM-MD5"); "" if none. NULL if the client is
/// NULL or never connected. Valid until the next connect or free.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_auth_mechanisms(client: *const smtp_client) -> *const c_char {
    info_str(client, |i| Some(i.auth.as_ptr()))
}

/// Returns the server the session is connected to, `"host:port"` (`"[v6]:port"`
/// for an IPv6 address): with a relay list (`"a.example,b.example:2525"`),
/// the one that took the connection after the others failed. NULL if the
/// client is NULL or never connected. Valid until the next connect or free.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_server(client: *const smtp_client) -> *const c_char {
    info_str(client, |i| Some(i.server.as_ptr()))
}

/// Returns the server's greeting reply (e.g. "220 mail.example.org ESMTP").
/// NULL if the client is NULL or never connected. Valid until the next
/// connect or free.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_greeting(client: *const smtp_client) -> *const c_char {
    info_str(client, |i| Some(i.greeting.as_ptr()))
}

/// Returns the SASL mechanism the session authenticated with (e.g.
/// "SCRAM-SHA-256"), or NULL if it did not authenticate (or `client` is
/// NULL). The string is static.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_authenticated_with(
    client: *const smtp_client,
) -> *const c_char {
    info_str(client, |i| i.authenticated_with.map(|m| m.as_ptr()))
}

/// Returns the TLS protocol version of the session (e.g. "TLSv1.3"), or
/// NULL without TLS (or NULL `client`). Valid until the next connect or free.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_tls_version(client: *const smtp_client) -> *const c_char {
    info_str(client, |i| i.tls_version.as_ref().map(|s| s.as_ptr()))
}

/// Returns the TLS cipher suite of the session (e.g.
/// "TLS13_AES_256_GCM_SHA384"), or NULL without TLS (or NULL `client`).
/// Valid until the next connect or free.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_tls_cipher(client: *const smtp_client) -> *const c_char {
    info_str(client, |i| i.tls_cipher.as_ref().map(|s| s.as_ptr()))
}

/// Returns the server's certificate (the leaf, DER-encoded) and writes its
/// length to `*len_out`; returns NULL and writes nothing without TLS, or if
/// `client` or `len_out` is NULL. The bytes belong to the client and stay
/// valid until the next connect or free.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_peer_certificate(
    client: *const smtp_client,
    len_out: *mut usize,
) -> *const u8 {
    read_client(client, std::ptr::null(), |c| {
        if len_out.is_null() {
            return std::ptr::null();
        }
        match c.info.as_ref().and_then(|i| i.peer_certificate.as_ref()) {
            Some(der) => {
                write_out(len_out, der.len());
                der.as_ptr()
            }
            None => std::ptr::null(),
        }
    })
}
