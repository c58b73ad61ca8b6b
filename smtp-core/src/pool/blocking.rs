//! The blocking pool: sessions of the blocking [`Client`] shared by
//! threads, behind a mutex and a condition variable.

use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::{recipient_groups, stale_connection, Idle, Limiter, PoolOptions, Shelf};
use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::report::SendReport;
use crate::Envelope;

/// A pool of blocking sessions to one server, shared by threads
/// (`Pool` is `Clone`, `Send` and `Sync`; clones share the sessions).
///
/// ```no_run
/// use smtp_core::{Config, Envelope, Pool, PoolOptions};
///
/// # fn main() -> Result<(), smtp_core::Error> {
/// let config = Config::from_url("smtp://user:secret@mail.example.org:587")?;
/// let pool = Pool::new(config, PoolOptions::default())?;
/// let envelope = Envelope::new("app@example.org", ["user@example.net"])?;
/// pool.send_bytes(&envelope, b"Subject: hi\r\n\r\nHello.\r\n")?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    options: PoolOptions,
    shelf: Mutex<Shelf<Client>>,
    returned: Condvar,
    limiter: Mutex<Limiter>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shelf = self.inner.lock_shelf();
        f.debug_struct("Pool")
            .field(
                "server",
                &format_args!("{}:{}", self.inner.config.host, self.inner.config.port()),
            )
            .field("open", &shelf.open)
            .field("idle", &shelf.idle.len())
            .field("options", &self.inner.options)
            .finish()
    }
}

/// A session lent by a [`Pool`]; it goes back when dropped (or is closed,
/// when it is no longer usable or has sent its share of messages).
pub struct PooledClient {
    client: Option<Client>,
    sent: u64,
    pool: Arc<Inner>,
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient")
            .field("client", &self.client)
            .field("sent", &self.sent)
            .finish()
    }
}

impl Inner {
    fn lock_shelf(&self) -> MutexGuard<'_, Shelf<Client>> {
        self.shelf.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_limiter(&self) -> MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Pool {
    /// A pool for `config` (checked now); sessions open as they are needed.
    pub fn new(config: Config, options: PoolOptions) -> Result<Pool> {
        config.validate()?;
        if options.max_connections == 0 {
            return Err(Error::invalid(
                "pool option",
                "max_connections must be at least 1",
            ));
        }
        Ok(Pool {
            inner: Arc::new(Inner {
                config,
                options,
                shelf: Mutex::new(Shelf::new()),
                returned: Condvar::new(),
                limiter: Mutex::new(Limiter::new()),
            }),
        })
    }

    /// The pool's options.
    pub fn options(&self) -> &PoolOptions {
        &self.inner.options
    }

    /// Sessions open now (idle and lent).
    pub fn open_connections(&self) -> usize {
        self.inner.lock_shelf().open
    }

    /// Sessions idle now.
    pub fn idle_connections(&self) -> usize {
        self.inner.lock_shelf().idle.len()
    }

    /// Lends a session: an idle one that is still alive, or a new one;
    /// waits (within the connect timeout) while `max_connections` are lent.
    pub fn get(&self) -> Result<PooledClient> {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.config.timeouts.connect;
        loop {
            let mut expired = Vec::new();
            let mut shelf = inner.lock_shelf();
            if shelf.closed {
                return Err(Error::NotConnected("the pool is closed".into()));
            }
            let now = Instant::now();
            if let Some(idle) = shelf.take(now, &inner.options, &mut expired) {
                drop(shelf);
                close_all(expired);
                match self.revive(idle) {
                    Some(lent) => return Ok(lent),
                    None => continue,
                }
            }
            if shelf.open < inner.options.max_connections {
                shelf.open += 1;
                drop(shelf);
                close_all(expired);
                return match Client::connect(inner.config.clone()) {
                    Ok(client) => Ok(PooledClient {
                        client: Some(client),
                        sent: 0,
                        pool: inner.clone(),
                    }),
                    Err(e) => {
                        inner.lock_shelf().open -= 1;
                        inner.returned.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(busy(
                    inner.options.max_connections,
                    inner.config.timeouts.connect,
                ));
            }
            let (guard, _) = inner
                .returned
                .wait_timeout(shelf, left)
                .unwrap_or_else(|p| p.into_inner());
            drop(guard);
            close_all(expired);
        }
    }

    /// Checks an idle session before lending it: one the server closed
    /// (or that says anything unasked) is closed and replaced; one idle
    /// for longer than `noop_after` must answer `NOOP`.
    fn revive(&self, idle: Idle<Client>) -> Option<PooledClient> {
        let Idle {
            mut client,
            since,
            sent,
        } = idle;
        let alive = client.is_connected()
            && !client.input_waiting()
            && (since.elapsed() < self.inner.options.noop_after || client.noop().is_ok());
        if !alive {
            drop(client);
            self.inner.lock_shelf().open -= 1;
            self.inner.returned.notify_one();
            return None;
        }
        Some(PooledClient {
            client: Some(client),
            sent,
            pool: self.inner.clone(),
        })
    }

    /// Sends one message on a pooled session (see [`Client::send`]),
    /// within the rate limit. A session found dead before the message
    /// started is replaced and the message sent on the new one.
    pub fn send(&self, envelope: &Envelope, body: &mut dyn Read) -> Result<SendReport> {
        if self.needs_groups(envelope) {
            return Err(Error::invalid(
                "envelope",
                "more recipients than the pool's max_recipients: send the message from memory (send_bytes) so it can go in several transactions",
            ));
        }
        // Not sent again on a stale session: the body was read already.
        self.with_session(|client| client.send(envelope, body), false)
    }

    /// Sends a message held in memory (see [`Client::send_bytes`]); with
    /// more recipients than `max_recipients`, in several transactions
    /// (the report lists every recipient; the reply is the last one's).
    pub fn send_bytes(&self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        let groups = recipient_groups(envelope.to(), self.inner.options.max_recipients);
        let mut groups_sent = super::GroupReport::default();
        for group in groups {
            let part = envelope.with_recipients(group)?;
            let sent = self.with_session(|client| client.send_bytes(&part, message), true);
            groups_sent.add(part.to(), sent)?;
        }
        groups_sent.finish()
    }

    /// Sends a message the caller formatted, held in memory, as
    /// [`Pool::send_bytes`] does, signed first when the configuration has
    /// DKIM (the signature fields go before a copy of `message`).
    pub fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        match self.inner.config.dkim() {
            None => self.send_bytes(envelope, message),
            Some(signer) => {
                let mut signed = signer.sign_message(message)?;
                signed.extend_from_slice(message);
                self.send_bytes(envelope, &signed)
            }
        }
    }

    /// Sends a composed message (see [`Client::send_message`]).
    pub fn send_message(&self, message: &Message) -> Result<SendReport> {
        self.with_session(|client| client.send_message(message), true)
    }

    /// Sends several messages in memory on one session, pipelined across
    /// messages (see [`Client::send_many_bytes`]); the rate limit counts
    /// each message.
    pub fn send_many_bytes<B: AsRef<[u8]>>(
        &self,
        messages: &[(Envelope, B)],
    ) -> Vec<Result<SendReport>> {
        for _ in messages {
            self.wait_for_rate();
        }
        let mut lent = match self.get() {
            Ok(lent) => lent,
            Err(e) => {
                let why = e.to_string();
                return messages
                    .iter()
                    .map(|_| Err(Error::NotConnected(why.clone())))
                    .collect();
            }
        };
        let results = lent.send_many_bytes(messages);
        lent.sent += messages.len() as u64;
        let mut limiter = self.inner.lock_limiter();
        let now = Instant::now();
        for r in &results {
            limiter.observe(now, &self.inner.options, r.as_ref().err());
        }
        results
    }

    /// Closes every idle session (with `QUIT`) and refuses new requests;
    /// lent sessions are closed when they come back.
    pub fn close(&self) {
        let idle: Vec<Client> = {
            let mut shelf = self.inner.lock_shelf();
            shelf.closed = true;
            let idle: Vec<Client> = shelf.idle.drain(..).map(|i| i.client).collect();
            shelf.open -= idle.len();
            idle
        };
        self.inner.returned.notify_all();
        for mut client in idle {
            let _ = client.quit();
        }
    }

    /// Closes the idle sessions past their idle timeout now (they are
    /// also closed whenever the pool is used).
    pub fn expire_idle(&self) {
        let mut expired = Vec::new();
        self.inner
            .lock_shelf()
            .expire(Instant::now(), &self.inner.options, &mut expired);
        self.inner.returned.notify_all();
        close_all(expired);
    }

    fn needs_groups(&self, envelope: &Envelope) -> bool {
        self.inner
            .options
            .max_recipients
            .is_some_and(|max| max > 0 && envelope.to().len() > max)
    }

    fn wait_for_rate(&self) {
        let wait = self
            .inner
            .lock_limiter()
            .reserve(Instant::now(), &self.inner.options);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }

    /// Runs `send` on a lent session within the rate limit; a session that
    /// turns out dead before the message started is replaced once.
    fn with_session(
        &self,
        mut send: impl FnMut(&mut Client) -> Result<SendReport>,
        retry_stale: bool,
    ) -> Result<SendReport> {
        self.wait_for_rate();
        let mut lent = self.get()?;
        let reused = lent.sent > 0;
        let mut result = send(&mut lent);
        lent.sent += 1;
        if retry_stale && reused {
            if let Err(e) = &result {
                if stale_connection(e) && !lent.is_connected() {
                    drop(lent);
                    let mut fresh = self.get()?;
                    result = send(&mut fresh);
                    fresh.sent += 1;
                    lent = fresh;
                }
            }
        }
        drop(lent);
        self.inner.lock_limiter().observe(
            Instant::now(),
            &self.inner.options,
            result.as_ref().err(),
        );
        result
    }
}

impl PooledClient {
    /// How many messages this session has sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until dropped")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        let Some(mut client) = self.client.take() else {
            return;
        };
        let pool = &self.pool;
        let used_up = pool
            .options
            .max_messages_per_connection
            .is_some_and(|max| self.sent >= max);
        let mut shelf = pool.lock_shelf();
        if shelf.closed || used_up || !client.is_connected() {
            shelf.open -= 1;
            drop(shelf);
            pool.returned.notify_one();
            if client.is_connected() {
                let _ = client.quit();
            }
            return;
        }
        shelf.put(Idle {
            client,
            since: Instant::now(),
            sent: self.sent,
        });
        drop(shelf);
        pool.returned.notify_one();
    }
}

fn close_all(clients: Vec<Client>) {
    for mut client in clients {
        let _ = client.quit();
    }
}

/// Every session stayed lent for as long as a connect may take: not a
/// server's timeout, the pool's own limit.
pub(crate) fn busy(max: usize, waited: std::time::Duration) -> Error {
    Error::NotConnected(format!(
        "all {max} sessions of the pool stayed busy for {waited:?} (max_connections)"
    ))
}
