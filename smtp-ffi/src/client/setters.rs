//! The `smtp_client_set_*` entry points: each records one setting of an
//! `smtp_client` (credentials, security, trust, names, timeouts, policies,
//! extensions, the transcript callback) for its next connect.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;
use std::sync::Arc;

use smtp_core::{Config, Credentials, Mechanism, PlaintextAuthPolicy};

use super::{smtp_client, with_client};
use crate::args::{long_lines_arg, opt_str_arg, recipient_policy_arg, security_arg, str_arg};
use crate::result::{smtp_result, Failure};
use crate::settings::{timeouts_from_ms, CTranscript};
use crate::types::{smtp_token_callback, smtp_transcript_callback};

/// Takes the configuration out to pass it through a `with_*` method
/// (they consume and return it); the placeholder left behind is replaced
/// at once.
fn take(config: &mut Config) -> Config {
    std::mem::take(config)
}

/// Sets one option by name, as a URL's query or the configuration file
/// would: `name` is one of the options listed in the README ("port",
/// "security", "user", "password", "token", "token_refresh_margin",
/// "auth", "client_name",
/// "ca_file", "system_roots", "tls_server_name", "timeout",
/// "connect_timeout", "total_timeout", "pipelining", "chunking",
/// "long_lines", "recipient_policy", "plaintext_auth", "proxy", "host",
/// "url"),
/// `value` its text ("on"/"off", seconds, a mode name...). An unknown
/// name or a bad value gives `SMTP_ERR_INVALID_INPUT`, with
/// `smtp_last_message()` naming the option (and, for an unknown one,
/// listing the accepted names); nothing changes then. Later settings
/// replace earlier ones. Applies to the next connect. `client`, `name`
/// and `value` must not be NULL; both strings are copied (a password is
/// wiped from the library's memory when replaced or freed).
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_option(
    client: *mut smtp_client,
    name: *const c_char,
    value: *const c_char,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: NULL or NUL-terminated strings valid during the call.
        let (name, value) = unsafe { (str_arg(name, "name")?, str_arg(value, "value")?) };
        c.config.set(name, value)?;
        Ok(())
    })
}

/// Sets the user name and password to authenticate with (the strongest
/// mechanism both sides support is used: SCRAM-SHA-256, SCRAM-SHA-1,
/// CRAM-MD5, PLAIN, LOGIN). With credentials, the default security mode
/// requires TLS.
///
/// `user` NULL or "" removes the credentials (`password` is then ignored
/// and may be NULL); otherwise `password` must not be NULL. Both are
/// copied; the library's copy of the password is wiped when replaced or
/// when the client is freed. Applies to the next connect.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_credentials(
    client: *mut smtp_client,
    user: *const c_char,
    password: *const c_char,
) -> smtp_result {
    // SAFETY: the caller's guarantees are passed on unchanged.
    unsafe { set_secret(client, user, password, "password", Credentials::password) }
}

/// Sets an OAuth 2.0 bearer token to authenticate with (OAUTHBEARER or
/// XOAUTH2), instead of a password.
///
/// `user` NULL or "" removes the credentials (`token` is then ignored);
/// otherwise `token` must not be NULL. Copied; the token is wiped from the
/// library's memory when replaced or freed. Applies to the next connect.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_bearer_token(
    client: *mut smtp_client,
    user: *const c_char,
    token: *const c_char,
) -> smtp_result {
    // SAFETY: the caller's guarantees are passed on unchanged.
    unsafe { set_secret(client, user, token, "token", Credentials::bearer_token) }
}

/// Authenticates as `user` with OAuth 2.0 access tokens from `callback`
/// (OAUTHBEARER or XOAUTH2), which the library asks for a token before
/// AUTH when it has none or its token expires within the refresh margin
/// (option "token_refresh_margin", default 600 seconds), and once more,
/// connecting again once, when the server refuses the token as expired or
/// invalid (535, 454, a 4.7.x reply, Exchange's "501 5.5.127"). See
/// `smtp_token_callback` for what the callback does and on which thread.
///
/// `user` NULL or "" keeps the user set before (or set later with the
/// "user" option or a URL). NULL `callback` removes the provider and the
/// credentials. A password or token set later replaces the provider.
/// `userdata` is passed back unchanged, never dereferenced by the library;
/// it must stay valid while the client may connect (until the provider is
/// replaced or the client is freed). Applies to the next connect. `client`
/// must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_token_provider(
    client: *mut smtp_client,
    user: *const c_char,
    callback: smtp_token_callback,
    userdata: *mut c_void,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let user = unsafe { opt_str_arg(user, "user") }?.filter(|u| !u.is_empty());
        set_token_provider(&mut c.config, user, callback, userdata)
    })
}

/// The body of `smtp_client_set_token_provider()` and
/// `smtp_pool_set_token_provider()` on a configuration.
pub(crate) fn set_token_provider(
    config: &mut Config,
    user: Option<&str>,
    callback: smtp_token_callback,
    userdata: *mut c_void,
) -> Result<(), Failure> {
    match crate::token::CTokenProvider::of(callback, userdata) {
        None => *config = take(config).without_credentials(),
        Some(provider) => {
            if let Some(user) = user {
                config.set("user", user)?;
            }
            config.set_token_provider(provider);
        }
    }
    Ok(())
}

/// The body of the two credential setters: `user` NULL or "" removes the
/// credentials, otherwise `secret` (named `field` in errors) is required.
///
/// # Safety
/// As for [`smtp_client_set_credentials`].
unsafe fn set_secret(
    client: *mut smtp_client,
    user: *const c_char,
    secret: *const c_char,
    field: &'static str,
    make: fn(String, String) -> Credentials,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: NULL or NUL-terminated strings valid during the call.
        let user = unsafe { opt_str_arg(user, "user") }?.filter(|u| !u.is_empty());
        c.config = match user {
            None => take(&mut c.config).without_credentials(),
            Some(user) => {
                // SAFETY: as above.
                let secret = unsafe { str_arg(secret, field) }?;
                take(&mut c.config).with_credentials(make(user.to_string(), secret.to_string()))
            }
        };
        Ok(())
    })
}

/// Sets the security mode: a `smtp_security` value (passed as int; any
/// other number gives `SMTP_ERR_INVALID_INPUT`). `SMTP_SECURITY_DEFAULT`
/// goes back to the mode the port, URL and credentials imply. Applies to
/// the next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_security(
    client: *mut smtp_client,
    security: c_int,
) -> smtp_result {
    with_client(client, |c| {
        c.config = match security_arg(security)? {
            Some(security) => take(&mut c.config).with_security(security),
            None => take(&mut c.config).with_automatic_security(),
        };
        Ok(())
    })
}

/// Trusts the CA certificates in the PEM file at `path`, in addition to
/// the system's (a server with a private CA). May be called several times;
/// the files add up. The file must exist now (`SMTP_ERR_INVALID_INPUT`
/// otherwise); it is read at each connect.
///
/// `client` and `path` must not be NULL. `path` (UTF-8) is copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_add_ca_file(
    client: *mut smtp_client,
    path: *const c_char,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: as above.
        let path = unsafe { str_arg(path, "path") }?;
        if !Path::new(path).is_file() {
            return Err(Failure::invalid(
                "CA file",
                format!("{path} does not exist or is not a file"),
            ));
        }
        c.config = take(&mut c.config).with_ca_file(path);
        Ok(())
    })
}

/// DANGEROUS: with `on` true, accepts any server certificate for any name,
/// so anyone on the network path can read and change the session,
/// credentials included. Only for tests; use `smtp_client_add_ca_file()`
/// for a private CA. Applies to the next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_dangerous_accept_invalid_certs(
    client: *mut smtp_client,
    on: bool,
) -> smtp_result {
    with_client(client, |c| {
        c.config = take(&mut c.config).dangerous_accept_invalid_certs(on);
        Ok(())
    })
}

/// Sets the name sent with EHLO/HELO. NULL goes back to the default (this
/// machine's fully qualified name, else its address as "[192.0.2.1]").
/// Checked at connect (`SMTP_ERR_INVALID_INPUT`). Copied. `client` must
/// not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_client_name(
    client: *mut smtp_client,
    name: *const c_char,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: as above.
        let name = unsafe { opt_str_arg(name, "name") }?;
        c.config = match name {
            Some(name) => take(&mut c.config).with_client_name(name),
            None => take(&mut c.config).with_default_client_name(),
        };
        Ok(())
    })
}

/// Sets the timeouts, in milliseconds; 0 keeps the library default for
/// that one. `connect_ms`: opening the TCP connection (default 30 s).
/// `io_ms`: each wait for the server (defaults follow RFC 5321: 5 minutes
/// for most commands, up to 10 minutes after the message). `total_ms`: a
/// limit on each whole call such as connect or send (default none).
/// Replaces the URL's timeout option. Applies to the next connect.
/// `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_timeouts(
    client: *mut smtp_client,
    connect_ms: u32,
    io_ms: u32,
    total_ms: u32,
) -> smtp_result {
    with_client(client, |c| {
        c.config = take(&mut c.config).with_timeouts(timeouts_from_ms(connect_ms, io_ms, total_ms));
        Ok(())
    })
}

/// Forces one SASL mechanism by name ("PLAIN", "LOGIN", "CRAM-MD5",
/// "SCRAM-SHA-1", "SCRAM-SHA-256", "XOAUTH2", "OAUTHBEARER"; any case)
/// instead of choosing the strongest offered. NULL or "" goes back to
/// automatic choice. An unknown name gives `SMTP_ERR_INVALID_INPUT`.
/// Applies to the next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_mechanism(
    client: *mut smtp_client,
    name: *const c_char,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: as above.
        let name = unsafe { opt_str_arg(name, "name") }?.filter(|n| !n.trim().is_empty());
        c.config = match name {
            None => take(&mut c.config).with_automatic_mechanism(),
            Some(name) => {
                take(&mut c.config).with_mechanism(Mechanism::from_name(name).ok_or_else(|| {
                    Failure::invalid("mechanism", format!("unknown SASL mechanism {name:?}"))
                })?)
            }
        };
        Ok(())
    })
}

/// Sets what happens when some recipients are refused: a
/// `smtp_recipient_policy` value passed as int (default
/// `SMTP_RECIPIENTS_DELIVER_TO_ACCEPTED`). Applies to the next connect.
/// `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_recipient_policy(
    client: *mut smtp_client,
    policy: c_int,
) -> smtp_result {
    with_client(client, |c| {
        c.config = take(&mut c.config).with_recipient_policy(recipient_policy_arg(policy)?);
        Ok(())
    })
}

/// INSECURE: with `on` true, credentials may be sent without TLS to any
/// server, not only to one on this machine, and
/// `SMTP_SECURITY_STARTTLS_IF_OFFERED` is allowed with credentials
/// (an attacker who removes STARTTLS then reads them). Off by default.
/// Applies to the next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_insecure_plaintext_auth(
    client: *mut smtp_client,
    on: bool,
) -> smtp_result {
    with_client(client, |c| {
        let policy = match (on, c.config.plaintext_auth_policy()) {
            (true, _) => PlaintextAuthPolicy::InsecureAlways,
            // Off never loosens a stricter policy (plaintext_auth=never).
            (false, PlaintextAuthPolicy::InsecureAlways) => PlaintextAuthPolicy::LoopbackOnly,
            (false, policy) => policy,
        };
        c.config = take(&mut c.config)
            .with_plaintext_auth_policy(policy)
            .insecure_opportunistic_tls_with_credentials(on);
        Ok(())
    })
}

/// Sets a callback that receives the session transcript: every line sent
/// and received, without line endings, with authentication data replaced
/// by "[credentials hidden]" (never a password, a token or their base64).
/// See `smtp_transcript_callback` for when and how it is called.
/// `userdata` is passed back unchanged; the library never dereferences it,
/// and it must stay valid while the client may call the callback (until
/// it is replaced, or the client is freed). NULL `callback` turns the
/// transcript off. Applies to the next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_transcript(
    client: *mut smtp_client,
    callback: smtp_transcript_callback,
    userdata: *mut c_void,
) -> smtp_result {
    with_client(client, |c| {
        c.config = match callback {
            Some(callback) => {
                Arc::new(CTranscript { callback, userdata }).install(take(&mut c.config))
            }
            None => take(&mut c.config).without_transcript(),
        };
        Ok(())
    })
}

/// Turns PIPELINING (RFC 2920) on or off: on by default, used when the
/// server offers it (MAIL, every RCPT and DATA in one write). Off costs a
/// round trip per command; for servers that mishandle it. Applies to the
/// next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_pipelining(
    client: *mut smtp_client,
    on: bool,
) -> smtp_result {
    with_client(client, |c| {
        c.config = take(&mut c.config).with_pipelining(on);
        Ok(())
    })
}

/// Turns CHUNKING (RFC 3030, BDAT) on or off: on by default, used when the
/// server offers it (with PIPELINING, a whole message in one round trip).
/// Off sends DATA. Applies to the next connect. `client` must not be NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_chunking(
    client: *mut smtp_client,
    on: bool,
) -> smtp_result {
    with_client(client, |c| {
        c.config = take(&mut c.config).with_chunking(on);
        Ok(())
    })
}

/// Sets what happens to a message with a line over 998 octets (RFC 5322's
/// limit): a `smtp_long_lines` value passed as int (any other number gives
/// `SMTP_ERR_INVALID_INPUT`). Replaces the URL's `long_lines` option.
///
/// With `SMTP_LONG_LINES_REPAIR` (the default) a long header line is
/// folded at whitespace, a text part in 7bit or 8bit (or a message without
/// MIME headers) is re-encoded as quoted-printable (its
/// Content-Transfer-Encoding rewritten, "MIME-Version: 1.0" added if
/// missing), quoted-printable lines get soft line breaks and base64 lines
/// are cut at 76 characters; a long line that cannot be repaired so (a
/// header line without whitespace, a non-text part, a signed message)
/// makes the send fail with `SMTP_ERR_INVALID_INPUT`. With
/// `SMTP_LONG_LINES_REFUSE` every message with a long line fails so. In
/// both cases `smtp_last_message()` names the line; for messages up to
/// 1 MiB nothing was sent (no MAIL FROM). This applies to every send,
/// raw ones included. Applies to the next connect. `client` must not be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_set_long_lines(
    client: *mut smtp_client,
    policy: c_int,
) -> smtp_result {
    with_client(client, |c| {
        c.config = take(&mut c.config).with_long_lines(long_lines_arg(policy)?);
        Ok(())
    })
}
