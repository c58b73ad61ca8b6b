//! `smtp_send()`: one call that connects, authenticates, sends one text
//! message and says QUIT; what legacy C and PHP code needs.

use std::ffi::{c_char, c_int};

use smtp_core::{Client, Message, RecipientPolicy};

use crate::args::{opt_str_arg, security_arg, str_arg};
use crate::guard;
use crate::last;
use crate::result::smtp_result;
use crate::settings::config_for;

/// Sends one plain-text message in one call: connects, sets up TLS,
/// authenticates, sends, says QUIT.
///
/// - `server`: a host name or address ("mail.example.org", "192.0.2.1",
///   `[::1]`; "host:port" works too), or a URL
///   `smtp://[user:password@]host[:port][?options]` / `smtps://...` with
///   the options of `smtp_client_new_url()` (e.g. "?ca_file=/path/ca.pem"
///   to trust a private CA, "?timeout=30").
/// - `port`: 0 for the default: the URL's port, else 465 with
///   `SMTP_SECURITY_IMPLICIT`, else 587. Non-zero overrides the URL's.
/// - `security`: a `smtp_security` value (passed as int).
///   `SMTP_SECURITY_DEFAULT` requires TLS (STARTTLS, or implicit TLS on
///   port 465 and smtps://) when credentials are given; use
///   `SMTP_SECURITY_NONE` for a plaintext server on this machine.
/// - `user`, `password`: NULL or "" `user` means no authentication
///   (unless the URL carries credentials); otherwise `password` must not
///   be NULL. The strongest mechanism both sides support is used; the
///   password never travels unencrypted to another machine.
/// - `from`: the author, "Name <user@domain>" or "user@domain".
/// - `to`: one recipient or a comma-separated list
///   ("a@example.org, B <b@example.net>").
/// - `subject`, `body`: text in any language; `body` line breaks may be LF
///   or CRLF. Pass "" for none.
///
/// The message carries From, To, Subject, Date and Message-ID headers.
/// It is sent to every recipient or to none: if the server refuses any
/// recipient, nothing is sent and `SMTP_ERR_RECIPIENTS_REFUSED` is
/// returned.
///
/// Returns `SMTP_OK` (0) once the server accepted the message; then
/// `smtp_last_message()` holds its reply, e.g. "250 2.0.0 Ok: queued as
/// 4XyZ". Otherwise an error code, with the details in
/// `smtp_last_message()`, `smtp_last_reply_code()` and
/// `smtp_last_enhanced_code()`.
///
/// NULL `server`, `from`, `to`, `subject` or `body` gives
/// `SMTP_ERR_NULL_PARAMETER`. All strings are NUL-terminated UTF-8, only
/// read during the call. Blocks until done (default timeouts follow
/// RFC 5321: minutes; set "?timeout=SECONDS" in a URL for less).
/// Thread-safety: may be called from several threads at once.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn smtp_send(
    server: *const c_char,
    port: u16,
    security: c_int,
    user: *const c_char,
    password: *const c_char,
    from: *const c_char,
    to: *const c_char,
    subject: *const c_char,
    body: *const c_char,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: each pointer is NULL or a NUL-terminated string valid for
        // the duration of the call.
        let (server, user, from, to, subject, body) = unsafe {
            (
                str_arg(server, "server")?,
                opt_str_arg(user, "user")?,
                str_arg(from, "from")?,
                str_arg(to, "to")?,
                str_arg(subject, "subject")?,
                str_arg(body, "body")?,
            )
        };
        let security = security_arg(security)?;
        let user = user.filter(|u| !u.is_empty());
        // SAFETY: as above. Only needed (and so only checked) with a user.
        let password = match user {
            Some(_) => Some(unsafe { str_arg(password, "password") }?),
            None => unsafe { opt_str_arg(password, "password") }?,
        };

        // Compose first: a bad address fails before any connection.
        let mut message = Message::new();
        message.from(from)?.to(to)?.subject(subject)?;
        message.text(body);

        let mut config =
            config_for(server, port)?.with_recipient_policy(RecipientPolicy::AllOrNothing);
        if let Some(security) = security {
            config = config.with_security(security);
        }
        if let (Some(user), Some(password)) = (user, password) {
            config = config.with_password(user, password);
        }

        let mut client = Client::connect(config)?;
        let report = client.send_message(&message)?;
        // The message is accepted; a failing QUIT changes nothing.
        let _ = client.quit();
        last::set_reply(&report.reply);
        Ok(())
    })
}
