//! `smtp_pool`: smtp-core's blocking connection pool (`Pool`) for C: a few
//! sessions to one server shared by any number of threads, each send
//! borrowing an idle session (or opening one, up to `max_connections`)
//! and giving it back. The settings are those of `smtp_client_new_url()`
//! plus the pool options by name (`PoolOptions::set`); the outcome of a
//! send is the calling thread's, like everything else in the C API.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use smtp_core::{
    Config, ConfigOption, Envelope, Error, Pool, PoolOptions, SendReport, POOL_OPTIONS,
};

use crate::args::{bytes_arg, handle_ref, opt_str_arg, out_arg, str_arg};
use crate::client::{write_out, RecipientSlot};
use crate::guard;
use crate::last;
use crate::message::smtp_message;
use crate::result::{smtp_result, Failure};
use crate::settings::config_for;
use crate::types::smtp_token_callback;

/// A pool of connections to one server, shared by threads. Opaque: create
/// it with `smtp_pool_new()`, free it with `smtp_pool_free()`.
///
/// A send (`smtp_pool_send_raw()`, `smtp_pool_send_message()`) borrows an
/// idle session, or opens a new one while fewer than `max_connections`
/// are open, or waits (up to the connect timeout) for one to come back;
/// the session goes back to the pool when the send returns. An idle
/// session the server closed meanwhile is replaced before the message
/// starts, never reported as the message's failure. Idle sessions are
/// closed after `idle_timeout`, sessions retired after
/// `max_messages_per_connection`, and `rate` spaces the messages of the
/// whole pool (see `smtp_pool_set_option()`).
///
/// Settings (`smtp_pool_set_option()`) are fixed by the first send: the
/// pool is built then, with the settings of that moment.
///
/// Thread-safety: every function but `smtp_pool_free()` may be called on
/// the same pool from any number of threads at once; that is what a pool
/// is for. The outcome of a send (`smtp_last_message()`,
/// `smtp_pool_recipient()`) belongs to the thread that sent.
/// `smtp_pool_free()` must be the last call, once no other thread uses
/// the pool.
pub struct smtp_pool {
    /// Tells this pool's sends apart in the per-thread results.
    id: u64,
    state: Mutex<State>,
}

/// A pool's life: settings, then the running pool.
enum State {
    /// Not used yet: the settings may change.
    Setup {
        config: Box<Config>,
        options: PoolOptions,
    },
    /// Built at the first send (or connection count) that needed it; its
    /// settings are fixed. Stays after `smtp_pool_close()`, which closes
    /// it in place.
    Running(Pool),
    /// Closed before it was ever used.
    Closed,
}

/// The ids of pools; never reused, so a result cannot be read through
/// another pool that happens to get the same address.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The outcome of the calling thread's last pool send: which pool, and
/// each recipient's reply.
struct LastSend {
    pool: u64,
    recipients: Vec<RecipientSlot>,
}

thread_local! {
    static LAST_SEND: RefCell<Option<LastSend>> = const { RefCell::new(None) };
}

/// Replaces the calling thread's pool send results.
fn set_last_send(value: Option<LastSend>) {
    let _ = LAST_SEND.try_with(|last| {
        if let Ok(mut last) = last.try_borrow_mut() {
            *last = value;
        }
    });
}

/// Reads the calling thread's results of the last send through `pool`;
/// `fallback` when it has none (or its storage is gone: the thread is
/// exiting).
fn with_last_send<T: Copy>(pool: u64, fallback: T, f: impl FnOnce(&[RecipientSlot]) -> T) -> T {
    LAST_SEND
        .try_with(|last| match last.try_borrow() {
            Ok(last) => match last.as_ref() {
                Some(l) if l.pool == pool => f(&l.recipients),
                _ => fallback,
            },
            Err(_) => fallback,
        })
        .unwrap_or(fallback)
}

impl smtp_pool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running pool, built now from the settings if this is its
    /// first use. The lock is held only for that: sends run outside it.
    fn pool(&self) -> Result<Pool, Failure> {
        let mut state = self.lock();
        let pool = match &*state {
            State::Running(pool) => return Ok(pool.clone()),
            State::Closed => return Err(closed()),
            State::Setup { config, options } => {
                Pool::new(config.as_ref().clone(), options.clone())?
            }
        };
        *state = State::Running(pool.clone());
        Ok(pool)
    }

    /// The running pool if there is one, for the counters.
    fn running(&self) -> Option<Pool> {
        match &*self.lock() {
            State::Running(pool) => Some(pool.clone()),
            _ => None,
        }
    }

    /// Records a send's outcome for the calling thread: the server's last
    /// reply and the per-recipient replies (the refused ones when every
    /// recipient was refused).
    fn finish(&self, outcome: Result<SendReport, Error>) -> Result<(), Failure> {
        match outcome {
            Ok(report) => {
                last::set_reply(&report.reply);
                set_last_send(Some(LastSend {
                    pool: self.id,
                    recipients: report
                        .recipients
                        .into_iter()
                        .map(RecipientSlot::new)
                        .collect(),
                }));
                Ok(())
            }
            Err(error) => {
                if let Error::RecipientsRefused { refused } = &error {
                    set_last_send(Some(LastSend {
                        pool: self.id,
                        recipients: refused.iter().cloned().map(RecipientSlot::new).collect(),
                    }));
                }
                Err(error.into())
            }
        }
    }
}

fn closed() -> Failure {
    Failure::Core(Error::NotConnected("the pool is closed".into()))
}

/// Runs the body of a pool function returning `smtp_result`. Only a
/// shared reference is ever made: other threads may be in the pool too.
fn with_pool(
    pool: *const smtp_pool,
    body: impl FnOnce(&smtp_pool) -> Result<(), Failure>,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: the caller passes NULL or a live pool, not being freed.
        let p = unsafe { handle_ref(pool, "pool") }?;
        body(p)
    })
}

/// Runs the body of a pool accessor: NULL or a panic give `fallback`.
fn read_pool<T: Copy>(
    pool: *const smtp_pool,
    fallback: T,
    body: impl FnOnce(&smtp_pool) -> T,
) -> T {
    guard::value(fallback, || {
        // SAFETY: as above.
        match unsafe { pool.as_ref() } {
            Some(p) => body(p),
            None => fallback,
        }
    })
}

/// Creates a pool for a server, not connected yet. `url` is a URL,
/// `smtp://[user[:password]@]host[:port][?options]` or `smtps://...`,
/// with the same defaults and options as `smtp_client_new_url()`
/// (security, auth, client_name, ca_file, timeout, token...); or a server
/// as `smtp_client_new()` takes it (`"mail.example.org"`, `"host:port"`,
/// `"[::1]:25"`; the port then follows the security mode, 465 for implicit
/// TLS, else 587). Sessions open as sends need them. The pool options are
/// not URL options: set them with `smtp_pool_set_option()`.
///
/// On success writes a new handle to `*pool_out`; the caller owns it and
/// frees it with `smtp_pool_free()`. On failure (`SMTP_ERR_INVALID_INPUT`
/// for a bad URL or server) nothing is written. `url` and `pool_out` must
/// not be NULL. `url` is copied; the password in it is wiped from the
/// library's memory when the pool is freed. Thread-safety: may be called
/// from any thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_new(
    url: *const c_char,
    pool_out: *mut *mut smtp_pool,
) -> smtp_result {
    guard::result(|| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let url = unsafe { str_arg(url, "url") }?;
        let out = out_arg(pool_out, "pool_out")?;
        let config = config_for(url, 0)?;
        let pool = smtp_pool {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State::Setup {
                config: Box::new(config),
                options: PoolOptions::default(),
            }),
        };
        write_out(out, Box::into_raw(Box::new(pool)));
        crate::handles::opened();
        Ok(())
    })
}

/// Sets one option by name, before the pool's first send.
///
/// Pool options: "max_connections" (sessions open at once, 1 to 1024,
/// default 4), "idle_timeout" (an idle session is closed after this,
/// default "60s"), "max_messages_per_connection" (a session is closed
/// after this many messages, default 100; "none" for no limit),
/// "noop_after" (an idle session older than this answers NOOP before it
/// is reused, default "30s"), "rate" (messages per second for the whole
/// pool, e.g. "2.5"; default none), "max_recipients" (a message with more
/// recipients goes in several transactions; default none), "backoff" and
/// "max_backoff" (the pause after the server said it is overloaded, 421
/// or a 4.7.x "too many", doubled up to the maximum; default "1s" and
/// "60s"). Durations are "500ms", "90s", "5m", "2h" or seconds.
///
/// Every option of `smtp_client_set_option()` is accepted too ("user",
/// "password", "security", "ca_file", "timeout", "connect_timeout",
/// "auth", "client_name", "recipient_policy", "long_lines", "proxy"...):
/// the sessions of the pool are made with them ("proxy" takes the URLs
/// of `smtp_client_set_proxy()`).
///
/// An unknown name or a bad value gives `SMTP_ERR_INVALID_INPUT`, with
/// `smtp_last_message()` naming the option (for an unknown name, listing
/// the pool's and the client's options); nothing changes then. After the
/// pool's first send (or after `smtp_pool_close()`) the settings are fixed:
/// every call gives `SMTP_ERR_INVALID_INPUT` and changes nothing.
///
/// `pool`, `name` and `value` must not be NULL; both strings are copied
/// (a password is wiped from the library's memory when replaced or
/// freed). Thread-safety: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_set_option(
    pool: *mut smtp_pool,
    name: *const c_char,
    value: *const c_char,
) -> smtp_result {
    with_pool(pool, |p| {
        // SAFETY: NULL or NUL-terminated strings valid during the call.
        let (name, value) = unsafe { (str_arg(name, "name")?, str_arg(value, "value")?) };
        let mut state = p.lock();
        let State::Setup { config, options } = &mut *state else {
            return Err(Failure::invalid(
                "pool option",
                format!("{name}: the pool's settings are fixed once it has sent (or was closed); set options before the first send"),
            ));
        };
        if POOL_OPTIONS.contains(&name) {
            options.set(name, value)?;
        } else if ConfigOption::named(name).is_some() {
            config.set(name, value)?;
        } else {
            let client: Vec<&str> = smtp_core::OPTIONS.iter().map(|o| o.name).collect();
            return Err(Failure::invalid(
                "option",
                format!(
                    "{name:?} is not an option; the pool options are {}; the client options are {}",
                    POOL_OPTIONS.join(", "),
                    client.join(", ")
                ),
            ));
        }
        Ok(())
    })
}

/// Authenticates the pool's sessions as `user` with OAuth 2.0 access
/// tokens from `callback`, as `smtp_client_set_token_provider()` does for
/// a client: one token, cached and shared by every session of the pool,
/// asked for again when it expires within the refresh margin or a server
/// refused it. The callback runs on the thread whose send opens a session,
/// possibly on several threads at once: it must be thread-safe (see
/// `smtp_token_callback`).
///
/// `user` NULL or "" keeps the user set before (or later with the "user"
/// option); NULL `callback` removes the provider and the credentials.
/// `userdata` must stay valid until the pool is freed. Only before the
/// pool's first send (`SMTP_ERR_INVALID_INPUT` after). `pool` must not be
/// NULL. Thread-safety: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_set_token_provider(
    pool: *mut smtp_pool,
    user: *const c_char,
    callback: smtp_token_callback,
    userdata: *mut c_void,
) -> smtp_result {
    with_pool(pool, |p| {
        // SAFETY: NULL or a NUL-terminated string valid during the call.
        let user = unsafe { opt_str_arg(user, "user") }?.filter(|u| !u.is_empty());
        let mut state = p.lock();
        let State::Setup { config, .. } = &mut *state else {
            return Err(Failure::invalid(
                "token provider",
                "the pool's settings are fixed once it has sent (or was closed); set the provider before the first send",
            ));
        };
        crate::client::set_token_provider(config, user, callback, userdata)
    })
}

/// Sends a message the caller formatted completely (headers, empty line,
/// body): `len` bytes at `data`, on a session of the pool, with the
/// envelope `from` (one address, "" for the null sender) and `to_list`
/// (a comma-separated list; display names allowed). The bytes go out as
/// they are (LF or CRLF line endings, sent as CRLF; dot-stuffed; SIZE and
/// 8BITMIME declared from the bytes), as with `smtp_client_send_raw()`.
/// With more recipients than `max_recipients` the message goes in several
/// transactions.
///
/// Returns `SMTP_OK` once the server accepted the message;
/// `smtp_last_message()` then holds its final reply (e.g. "250 2.0.0 Ok:
/// queued as 4XyZ") and `smtp_pool_recipient()` each recipient's reply
/// (with the default recipient policy some may have been refused while
/// the others got it). Otherwise an error as for
/// `smtp_client_send_raw()` (`SMTP_ERR_RECIPIENTS_REFUSED` with the
/// refused recipients in `smtp_pool_recipient()`), or the error of
/// opening a session (`SMTP_ERR_CONNECT`, `SMTP_ERR_AUTH`...);
/// `SMTP_ERR_TIMEOUT` when every session stayed busy for the connect
/// timeout; `SMTP_ERR_NOT_CONNECTED` after `smtp_pool_close()`. A session
/// found dead before the message started is replaced and the message sent
/// on the new one.
///
/// `pool`, `from` and `to_list` must not be NULL (an envelope taken from
/// the headers needs a client: `smtp_client_send_raw()`); `data` may be
/// NULL only when `len` is 0. The data is only read during the call.
/// Blocks until done (and first within the `rate`). Thread-safety: may be
/// called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_send_raw(
    pool: *mut smtp_pool,
    from: *const c_char,
    to_list: *const c_char,
    data: *const u8,
    len: usize,
) -> smtp_result {
    set_last_send(None);
    with_pool(pool, |p| {
        // SAFETY: strings NULL or NUL-terminated; data NULL or `len`
        // readable bytes; all valid during the call.
        let (from, to_list, data) = unsafe {
            (
                str_arg(from, "from")?,
                str_arg(to_list, "to_list")?,
                bytes_arg(data, len, "data")?,
            )
        };
        let envelope = Envelope::parse(from, to_list)?;
        let outcome = p.pool()?.send_raw(&envelope, data);
        p.finish(outcome)
    })
}

/// Sends a composed message on a session of the pool: envelope and
/// encoding as for `smtp_client_send_message()` (from the message, for
/// what the server offers). Results as for `smtp_pool_send_raw()`.
///
/// `pool` and `message` must not be NULL. The message is only read, and
/// stays owned by the caller; several threads may send the same message
/// at once, as long as none changes it meanwhile. Thread-safety: may be
/// called from any number of threads at once.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_send_message(
    pool: *mut smtp_pool,
    message: *const smtp_message,
) -> smtp_result {
    set_last_send(None);
    with_pool(pool, |p| {
        // SAFETY: NULL or a live message not changed during the call.
        let message = unsafe { handle_ref(message, "message") }?;
        let outcome = p.pool()?.send_message(&message.inner);
        p.finish(outcome)
    })
}

/// Returns how many per-recipient replies the calling thread's last send
/// through `pool` left: every recipient of an accepted message, the
/// refused ones after `SMTP_ERR_RECIPIENTS_REFUSED`, 0 otherwise (and
/// for NULL, or when this thread's last pool send went through another
/// pool). Does not change `smtp_last_message()`. Thread-safety: per
/// thread, like `smtp_last_message()`.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_recipient_count(pool: *const smtp_pool) -> usize {
    read_pool(pool, 0, |p| with_last_send(p.id, 0, <[RecipientSlot]>::len))
}

/// Reads the server's reply for recipient `index` (0-based, in the order
/// given) of the calling thread's last send through `pool`, as
/// `smtp_client_recipient()` does for a client: the address, the reply
/// code (250 accepted, 550 refused...), the enhanced status code ("" if
/// none) and the reply text.
///
/// Returns true and writes all four outputs, or false and writes nothing
/// (NULL `pool` or output pointer, `index` out of range, no send through
/// this pool being this thread's last). Ownership: the strings belong to
/// the library and stay valid until the calling thread's next
/// `smtp_pool_send_*()` call (on any pool), or its exit. Does not change
/// `smtp_last_message()`. Thread-safety: per thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_recipient(
    pool: *const smtp_pool,
    index: usize,
    address: *mut *const c_char,
    code: *mut c_int,
    enhanced: *mut *const c_char,
    text: *mut *const c_char,
) -> bool {
    read_pool(pool, false, |p| {
        if address.is_null() || code.is_null() || enhanced.is_null() || text.is_null() {
            return false;
        }
        with_last_send(p.id, false, |recipients| {
            let Some(r) = recipients.get(index).map(RecipientSlot::entry) else {
                return false;
            };
            write_out(address, r.address.as_ptr());
            write_out(code, r.code);
            write_out(enhanced, r.enhanced.as_ptr());
            write_out(text, r.text.as_ptr());
            true
        })
    })
}

/// Returns how many sessions the pool has open now: idle ones, lent ones
/// (sending) and ones being opened; never more than `max_connections`.
/// 0 before the first send, and for NULL. Does not change
/// `smtp_last_message()`. Thread-safety: may be called from any thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_open_connections(pool: *const smtp_pool) -> usize {
    read_pool(pool, 0, |p| {
        p.running().map_or(0, |pool| pool.open_connections())
    })
}

/// Returns how many of the pool's sessions are idle now (open, waiting
/// for the next send). 0 before the first send, and for NULL. Does not
/// change `smtp_last_message()`. Thread-safety: may be called from any
/// thread.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_idle_connections(pool: *const smtp_pool) -> usize {
    read_pool(pool, 0, |p| {
        p.running().map_or(0, |pool| pool.idle_connections())
    })
}

/// Closes the pool: every idle session says QUIT (waiting for the reply)
/// and is closed now; a session still sending on another thread is closed
/// when that send returns. Later sends give `SMTP_ERR_NOT_CONNECTED`, and
/// the settings stay fixed: a closed pool cannot be opened again (free it,
/// and make a new one). Closing a closed pool does nothing. Blocks while
/// the idle sessions say QUIT. `pool` must not be NULL. Thread-safety: may
/// be called from any thread, while others send.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_close(pool: *mut smtp_pool) -> smtp_result {
    with_pool(pool, |p| {
        let running = {
            let mut state = p.lock();
            match &*state {
                State::Running(pool) => Some(pool.clone()),
                State::Setup { .. } => {
                    *state = State::Closed;
                    None
                }
                State::Closed => None,
            }
        };
        if let Some(pool) = running {
            pool.close();
        }
        Ok(())
    })
}

/// Frees a pool: its idle sessions send QUIT without waiting for the
/// reply and are closed, and the credentials are wiped. NULL is a no-op.
/// No other thread may be using the pool, or use it afterwards: this is
/// the last call on it. Strings from `smtp_pool_recipient()` stay valid
/// (they belong to the calling thread) until its next pool send.
#[no_mangle]
pub unsafe extern "C" fn smtp_pool_free(pool: *mut smtp_pool) {
    guard::value((), || {
        if !pool.is_null() {
            // SAFETY: the caller gives back a pointer from smtp_pool_new
            // that no thread uses any more.
            drop(unsafe { Box::from_raw(pool) });
            crate::handles::closed();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::ptr;

    fn last_message() -> String {
        // SAFETY: never NULL; valid until the next call returning smtp_result.
        unsafe { CStr::from_ptr(crate::last::smtp_last_message()) }
            .to_string_lossy()
            .into_owned()
    }

    /// A pool for a port nothing listens on: no test here connects.
    fn pool() -> *mut smtp_pool {
        let mut p = ptr::null_mut();
        // SAFETY: valid string and output pointer.
        let r = unsafe { smtp_pool_new(c"smtp://127.0.0.1:1?security=none".as_ptr(), &mut p) };
        assert_eq!(r, smtp_result::SMTP_OK, "{}", last_message());
        p
    }

    #[test]
    fn null_arguments_are_typed_errors() {
        use smtp_result::SMTP_ERR_NULL_PARAMETER as NULL;
        let p = pool();
        let data = b"Subject: x\r\n\r\nbody\r\n";
        let mut out = ptr::null_mut();
        // SAFETY: every pointer is NULL or valid for the call.
        unsafe {
            assert_eq!(smtp_pool_new(ptr::null(), &mut out), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `url`");
            assert_eq!(smtp_pool_new(c"smtp://h".as_ptr(), ptr::null_mut()), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `pool_out`");
            assert!(out.is_null());
            let (a, b) = (c"max_connections".as_ptr(), c"2".as_ptr());
            assert_eq!(smtp_pool_set_option(ptr::null_mut(), a, b), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `pool`");
            assert_eq!(smtp_pool_set_option(p, ptr::null(), b), NULL);
            assert_eq!(smtp_pool_set_option(p, a, ptr::null()), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `value`");
            let (from, to) = (c"a@example.test".as_ptr(), c"b@example.test".as_ptr());
            let (d, n) = (data.as_ptr(), data.len());
            assert_eq!(smtp_pool_send_raw(ptr::null_mut(), from, to, d, n), NULL);
            assert_eq!(smtp_pool_send_raw(p, ptr::null(), to, d, n), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `from`");
            assert_eq!(smtp_pool_send_raw(p, from, ptr::null(), d, n), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `to_list`");
            assert_eq!(smtp_pool_send_raw(p, from, to, ptr::null(), n), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `data`");
            assert_eq!(smtp_pool_send_message(p, ptr::null()), NULL);
            assert_eq!(last_message(), "NULL pointer passed for `message`");
            assert_eq!(smtp_pool_close(ptr::null_mut()), NULL);
            assert_eq!(smtp_pool_recipient_count(ptr::null()), 0);
            assert_eq!(smtp_pool_open_connections(ptr::null()), 0);
            assert_eq!(smtp_pool_idle_connections(ptr::null()), 0);
            let (mut addr, mut code, mut enh, mut text) =
                (ptr::null(), 0, ptr::null(), ptr::null());
            assert!(!smtp_pool_recipient(
                ptr::null(),
                0,
                &mut addr,
                &mut code,
                &mut enh,
                &mut text
            ));
            assert!(!smtp_pool_recipient(
                p,
                0,
                ptr::null_mut(),
                &mut code,
                &mut enh,
                &mut text
            ));
            // Nothing was built by all that.
            assert_eq!(smtp_pool_open_connections(p), 0);
            smtp_pool_free(ptr::null_mut());
            smtp_pool_free(p);
        }
    }

    #[test]
    fn options_by_name_and_their_errors() {
        let p = pool();
        let set = |name: &CStr, value: &CStr| {
            // SAFETY: a live pool and NUL-terminated strings.
            unsafe { smtp_pool_set_option(p, name.as_ptr(), value.as_ptr()) }
        };
        assert_eq!(set(c"max_connections", c"2"), smtp_result::SMTP_OK);
        assert_eq!(set(c"idle_timeout", c"500ms"), smtp_result::SMTP_OK);
        assert_eq!(set(c"rate", c"none"), smtp_result::SMTP_OK);
        // The client's options too, by the same names as for a client.
        assert_eq!(set(c"timeout", c"5"), smtp_result::SMTP_OK);
        assert_eq!(set(c"pipelining", c"off"), smtp_result::SMTP_OK);

        assert_eq!(
            set(c"max_conections", c"2"),
            smtp_result::SMTP_ERR_INVALID_INPUT
        );
        let text = last_message();
        assert!(text.contains("\"max_conections\""), "{text}");
        assert!(
            text.contains("max_connections") && text.contains("pipelining"),
            "{text}"
        );
        assert_eq!(
            set(c"max_connections", c"0"),
            smtp_result::SMTP_ERR_INVALID_INPUT
        );
        assert!(
            last_message().contains("max_connections"),
            "{}",
            last_message()
        );
        assert_eq!(
            set(c"timeout", c"soon"),
            smtp_result::SMTP_ERR_INVALID_INPUT
        );
        assert!(last_message().contains("timeout"), "{}", last_message());

        // SAFETY: a live pool.
        unsafe {
            assert_eq!(smtp_pool_close(p), smtp_result::SMTP_OK);
            assert_eq!(smtp_pool_close(p), smtp_result::SMTP_OK);
        }
        assert_eq!(
            set(c"max_connections", c"3"),
            smtp_result::SMTP_ERR_INVALID_INPUT
        );
        assert!(last_message().contains("fixed"), "{}", last_message());
        let data = b"Subject: x\r\n\r\nbody\r\n";
        // SAFETY: a live pool, valid strings and bytes.
        let r = unsafe {
            smtp_pool_send_raw(
                p,
                c"a@example.test".as_ptr(),
                c"b@example.test".as_ptr(),
                data.as_ptr(),
                data.len(),
            )
        };
        assert_eq!(r, smtp_result::SMTP_ERR_NOT_CONNECTED);
        assert!(last_message().contains("closed"), "{}", last_message());
        // SAFETY: the pool is not used again.
        unsafe { smtp_pool_free(p) };
    }

    #[test]
    fn urls_and_servers() {
        let mut p = ptr::null_mut();
        // SAFETY: valid strings and output pointer.
        unsafe {
            for bad in [c"smtp://h?max_connections=2", c"", c"h:x", c"[::1"] {
                let r = smtp_pool_new(bad.as_ptr(), &mut p);
                assert_eq!(r, smtp_result::SMTP_ERR_INVALID_INPUT, "{bad:?}");
            }
            assert!(p.is_null());
            for good in [
                c"mail.example.org",
                c"127.0.0.1:2525",
                c"[::1]:25",
                c"smtps://h",
            ] {
                let r = smtp_pool_new(good.as_ptr(), &mut p);
                assert_eq!(r, smtp_result::SMTP_OK, "{good:?}");
                smtp_pool_free(p);
                p = ptr::null_mut();
            }
        }
    }
}
