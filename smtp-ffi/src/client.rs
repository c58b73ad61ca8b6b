//! `smtp_client`: a connection handle for everything beyond the one-call
//! `smtp_send()`: settings, explicit connect, many messages over one
//! session, raw messages, batches, per-recipient results, server
//! capabilities.

use std::ffi::{c_char, c_int, CString};

use smtp_core::{Client, Error, Mechanism, RecipientResult, SendReport};

use crate::args::{handle_mut, handle_ref, out_arg, str_arg};
use crate::guard;
use crate::last::{self, c_string};
use crate::message::smtp_message;
use crate::result::{smtp_result, Failure};
use crate::settings::config_for;

mod batch;
mod info;
mod proxy;
mod raw;
mod setters;

pub use batch::*;
pub use info::*;
pub use proxy::*;
pub use raw::*;
pub use setters::*;

/// A connection handle. Opaque: create it with `smtp_client_new()` or
/// `smtp_client_new_url()`, free it with `smtp_client_free()`.
///
/// Settings (`smtp_client_set_*`) apply to the next `smtp_client_connect()`;
/// changing them while connected does not affect the open session.
///
/// Thread-safety: a client may be moved to another thread between calls,
/// but must not be used by two threads at once. Different clients are
/// independent and may be used concurrently.
pub struct smtp_client {
    /// The settings for the next connect: the core's one configuration.
    config: smtp_core::Config,
    session: Option<Client>,
    info: Option<SessionInfo>,
    recipients: Vec<RecipientSlot>,
    /// The extensions the last message went without ("DSN,MT-PRIORITY").
    omitted: std::ffi::CString,
    /// Each message of the last `smtp_client_send_batch()`.
    batch: Vec<batch::BatchSlot>,
}

/// One recipient of the last send, turned into C strings only when the
/// caller asks for it (most bulk senders never do). Also what a pool's
/// send leaves for the calling thread (`pool.rs`).
pub(crate) struct RecipientSlot {
    result: RecipientResult,
    entry: std::cell::OnceCell<RecipientEntry>,
}

impl RecipientSlot {
    pub(crate) fn new(result: RecipientResult) -> RecipientSlot {
        RecipientSlot {
            result,
            entry: std::cell::OnceCell::new(),
        }
    }

    pub(crate) fn entry(&self) -> &RecipientEntry {
        self.entry.get_or_init(|| RecipientEntry::of(&self.result))
    }
}

/// What the last successful connect learnt, as C strings.
struct SessionInfo {
    server: CString,
    greeting: CString,
    capabilities: CString,
    keywords: Vec<String>,
    auth: CString,
    authenticated_with: Option<&'static std::ffi::CStr>,
    tls_version: Option<CString>,
    tls_cipher: Option<CString>,
    peer_certificate: Option<Vec<u8>>,
}

impl SessionInfo {
    fn of(client: &Client) -> SessionInfo {
        let caps = client.capabilities();
        let keywords = caps.keywords();
        let tls = client.tls_info();
        SessionInfo {
            server: c_string(client.server()),
            greeting: c_string(&client.greeting().to_string()),
            capabilities: c_string(&caps.raw.join("\n")),
            keywords,
            auth: c_string(&caps.auth.join(" ")),
            authenticated_with: client.authenticated_with().map(mechanism_c_name),
            tls_version: tls.map(|t| c_string(&t.version)),
            tls_cipher: tls.map(|t| c_string(&t.cipher_suite)),
            peer_certificate: tls.and_then(|t| t.peer_certificates.first().cloned()),
        }
    }
}

fn mechanism_c_name(m: Mechanism) -> &'static std::ffi::CStr {
    match m {
        Mechanism::ScramSha256 => c"SCRAM-SHA-256",
        Mechanism::ScramSha1 => c"SCRAM-SHA-1",
        Mechanism::CramMd5 => c"CRAM-MD5",
        Mechanism::Plain => c"PLAIN",
        Mechanism::Login => c"LOGIN",
        Mechanism::XOAuth2 => c"XOAUTH2",
        Mechanism::OAuthBearer => c"OAUTHBEARER",
    }
}

/// One recipient's reply, as C strings.
pub(crate) struct RecipientEntry {
    pub(crate) address: CString,
    pub(crate) code: c_int,
    pub(crate) enhanced: CString,
    pub(crate) text: CString,
}

impl RecipientEntry {
    fn of(r: &RecipientResult) -> RecipientEntry {
        RecipientEntry {
            address: c_string(&r.address),
            code: c_int::from(r.reply.code()),
            enhanced: c_string(
                &r.reply
                    .enhanced()
                    .map(|e| e.to_string())
                    .unwrap_or_default(),
            ),
            text: c_string(&r.reply.text()),
        }
    }
}

impl smtp_client {
    fn new(config: smtp_core::Config) -> smtp_client {
        smtp_client {
            config,
            session: None,
            info: None,
            recipients: Vec::new(),
            batch: Vec::new(),
            omitted: std::ffi::CString::default(),
        }
    }

    pub(crate) fn session(&mut self) -> Result<&mut Client, Failure> {
        self.session.as_mut().ok_or_else(|| {
            Failure::Core(Error::NotConnected(
                "call smtp_client_connect() first".to_string(),
            ))
        })
    }

    /// Forgets the per-recipient results of the last send (an outbox run
    /// used the session for other messages).
    pub(crate) fn forget_recipients(&mut self) {
        self.recipients.clear();
        self.omitted = std::ffi::CString::default();
    }

    /// Forgets what the last send left, as a new send starts.
    pub(crate) fn start_send(&mut self) {
        self.forget_recipients();
    }

    /// Records the outcome of a send: per-recipient results and the last reply.
    fn finish_send(&mut self, outcome: Result<SendReport, Error>) -> Result<(), Failure> {
        match outcome {
            Ok(report) => {
                last::set_reply(&report.reply);
                self.omitted = omitted_list(&report.omitted_extensions);
                self.recipients = report
                    .recipients
                    .into_iter()
                    .map(RecipientSlot::new)
                    .collect();
                Ok(())
            }
            Err(error) => {
                self.omitted = std::ffi::CString::default();
                if let Error::RecipientsRefused { refused } = &error {
                    self.recipients = refused.iter().cloned().map(RecipientSlot::new).collect();
                }
                Err(error.into())
            }
        }
    }
}

/// `"DSN,MT-PRIORITY"` from a report's omitted extensions.
pub(crate) fn omitted_list(names: &[&'static str]) -> std::ffi::CString {
    // Extension names are ASCII keywords without NUL.
    std::ffi::CString::new(names.join(",")).unwrap_or_default()
}

/// Runs the body of a client function returning `smtp_result`. After a
/// panic the session is dropped: its state is unknown.
fn with_client(
    client: *mut smtp_client,
    body: impl FnOnce(&mut smtp_client) -> Result<(), Failure>,
) -> smtp_result {
    let result = guard::result(|| {
        // SAFETY: the caller passes NULL or a live client that no other
        // thread uses during the call.
        let c = unsafe { handle_mut(client, "client") }?;
        body(c)
    });
    if result == smtp_result::SMTP_ERR_PANIC {
        guard::value((), || {
            // SAFETY: as above; the closure's borrow has ended.
            if let Some(c) = unsafe { client.as_mut() } {
                c.session = None;
            }
        });
    }
    result
}

/// Runs the body of a read-only client accessor: NULL or a panic give `fallback`.
fn read_client<T: Copy>(
    client: *const smtp_client,
    fallback: T,
    body: impl FnOnce(&smtp_client) -> T,
) -> T {
    guard::value(fallback, || {
        // SAFETY: the caller passes NULL or a live client not being
        // changed by another thread.
        match unsafe { handle_ref(client, "client") } {
            Ok(c) => body(c),
            Err(_) => fallback,
        }
    })
}

pub(crate) fn write_out<T>(out: *mut T, value: T) {
    // SAFETY: `out` was checked non-NULL by `out_arg`, and the caller
    // guarantees it points to writable storage for a T.
    unsafe { out.write(value) };
}

fn new_client(out: *mut *mut smtp_client, config: smtp_core::Config) {
    write_out(out, Box::into_raw(Box::new(smtp_client::new(config))));
    crate::handles::opened();
}

/// Creates a client for `host` and `port`, not yet connected.
///
/// `host` is a host name or an address ("mail.example.org", "192.0.2.1",
/// "::1" or `[::1]`; "host:port" is accepted too), or a relay list of
/// those separated by commas (`"a.example,b.example:2525,[::1]"`), tried in
/// order when connecting: the next is tried when one cannot be reached,
/// fails TLS or answers 4xx before any message (`smtp_client_server()`
/// says which one took the session). `port` 0 means 465 if the security
/// mode is `SMTP_SECURITY_IMPLICIT` when connecting, else 587; for a list,
/// `port` (or that default) applies to the items without their own.
///
/// On success writes a new handle to `*client_out`; the caller owns it and
/// must free it with `smtp_client_free()`. On failure `*client_out` is
/// not written. `host` and `client_out` must not be NULL
/// (`SMTP_ERR_NULL_PARAMETER`); `host` is copied.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_new(
    host: *const c_char,
    port: u16,
    client_out: *mut *mut smtp_client,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let host = unsafe { str_arg(host, "host") }?;
        let out = out_arg(client_out, "client_out")?;
        if host.contains("://") {
            return Err(Failure::invalid(
                "host",
                "is a URL; use smtp_client_new_url() for URLs",
            ));
        }
        new_client(out, config_for(host, port)?);
        Ok(())
    })
}

/// Creates a client from a URL, not yet connected:
/// `smtp://[user[:password]@]host[:port][?options]` or `smtps://...`.
/// User and password are percent-encoded ("%40" for '@'). Ports default
/// to 587 for smtp and 465 for smtps. Options: security=implicit,
/// starttls, opportunistic or none; auth=MECHANISM; client_name=NAME;
/// ca_file=PATH (a PEM CA to trust); timeout=SECONDS; token=1 (the
/// password is an OAuth bearer token). Setters called later override what
/// the URL says.
///
/// On success writes a new handle to `*client_out` (owned by the caller,
/// freed with `smtp_client_free()`); on failure (`SMTP_ERR_INVALID_INPUT`
/// for a bad URL) nothing is written. `url` and `client_out` must not be
/// NULL. `url` is copied; the password in it is wiped from the library's
/// memory when the client is freed.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_new_url(
    url: *const c_char,
    client_out: *mut *mut smtp_client,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: as above.
        let url = unsafe { str_arg(url, "url") }?;
        let out = out_arg(client_out, "client_out")?;
        if !url.contains("://") {
            return Err(Failure::invalid(
                "URL",
                "must start with smtp:// or smtps://",
            ));
        }
        new_client(out, config_for(url, 0)?);
        Ok(())
    })
}

/// Frees a client: sends QUIT without waiting for the reply if a session
/// is open, closes the connection, and wipes the credentials. NULL is a
/// no-op. The pointer, and every string obtained from the client, must
/// not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_free(client: *mut smtp_client) {
    guard::value((), || {
        if !client.is_null() {
            // SAFETY: the caller gives back a pointer from smtp_client_new*
            // that it will not use again.
            drop(unsafe { Box::from_raw(client) });
            crate::handles::closed();
        }
    })
}

/// Connects with the current settings: reads the greeting, says EHLO (HELO
/// if refused), sets up TLS as the security mode says, and authenticates
/// if credentials are set. A session already open is closed first (QUIT,
/// without waiting for the reply).
///
/// On success `smtp_last_message()` holds the server's greeting, and the
/// capability accessors (`smtp_client_capabilities()`...) describe the
/// session. On failure the client is not connected and may be connected
/// again. Blocks for up to the configured timeouts. `client` must not be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_connect(client: *mut smtp_client) -> smtp_result {
    with_client(client, |c| {
        // Dropping a session sends QUIT without waiting for the reply.
        c.session = None;
        c.info = None;
        c.start_send();
        c.batch.clear();
        let session = Client::connect(c.config.clone())?;
        c.info = Some(SessionInfo::of(&session));
        last::set_reply(session.greeting());
        c.session = Some(session);
        Ok(())
    })
}

/// Sends a composed message over the open session: the envelope comes from
/// the message (its From/Sender and To/Cc/Bcc, or the envelope addresses
/// set on it), the encoding from what the server offers. Can be called
/// any number of times per connection.
///
/// On success `smtp_last_message()` holds the server's final reply (often
/// with a queue id) and the per-recipient replies are available through
/// `smtp_client_recipient()` (with the default policy some recipients may
/// have been refused while the others got the message). On
/// `SMTP_ERR_RECIPIENTS_REFUSED` the refused recipients are listed there;
/// after other failures the list is empty.
///
/// `client` and `message` must not be NULL; the message is only read and
/// stays owned by the caller. `SMTP_ERR_NOT_CONNECTED` without an open
/// session.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_send_message(
    client: *mut smtp_client,
    message: *const smtp_message,
) -> smtp_result {
    with_client(client, |c| {
        // SAFETY: NULL or a live message not changed during the call.
        let message = unsafe { handle_ref(message, "message") }?;
        c.start_send();
        let outcome = c.session()?.send_message(&message.inner);
        c.finish_send(outcome)
    })
}

/// Sends NOOP: checks that the server is still there. The reply is in
/// `smtp_last_message()`. `client` must not be NULL;
/// `SMTP_ERR_NOT_CONNECTED` without an open session.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_noop(client: *mut smtp_client) -> smtp_result {
    with_client(client, |c| {
        let reply = c.session()?.noop()?;
        last::set_reply(&reply);
        Ok(())
    })
}

/// Sends RSET: abandons any transaction in progress (sends themselves
/// never leave one open). `client` must not be NULL;
/// `SMTP_ERR_NOT_CONNECTED` without an open session.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_reset(client: *mut smtp_client) -> smtp_result {
    with_client(client, |c| {
        c.session()?.reset()?;
        Ok(())
    })
}

/// Sends QUIT and closes the connection. The client keeps its settings and
/// can connect again; the capability accessors keep describing the
/// session that ended until the next connect. `client` must not be NULL;
/// `SMTP_ERR_NOT_CONNECTED` without an open session.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_quit(client: *mut smtp_client) -> smtp_result {
    with_client(client, |c| {
        let mut session = c
            .session
            .take()
            .ok_or_else(|| Failure::Core(Error::NotConnected("no session to quit".to_string())))?;
        session.quit()?;
        Ok(())
    })
}

/// Returns true while the client has a usable session (connected and not
/// ended by QUIT, a 421 or a fatal error). NULL gives false.
#[no_mangle]
pub unsafe extern "C" fn smtp_client_is_connected(client: *const smtp_client) -> bool {
    read_client(client, false, |c| {
        c.session.as_ref().is_some_and(Client::is_connected)
    })
}
