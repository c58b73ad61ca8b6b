//! The async pool (feature `tokio`): sessions of the [`AsyncClient`]
//! shared by tasks, the same policy as the blocking [`Pool`](super::Pool).

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{recipient_groups, stale_connection, Idle, Limiter, PoolOptions, Shelf};
use crate::async_client::AsyncClient;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::report::SendReport;
use crate::Envelope;

/// A pool of async sessions to one server, shared by tasks (`Clone`,
/// `Send`, `Sync`; clones share the sessions). Its futures are `Send`.
///
/// ```no_run
/// use smtp_core::{AsyncPool, Config, Envelope, PoolOptions};
///
/// # async fn handler(pool: AsyncPool) -> Result<(), smtp_core::Error> {
/// let envelope = Envelope::new("app@example.org", ["user@example.net"])?;
/// pool.send_bytes(&envelope, b"Subject: hi\r\n\r\nHello.\r\n").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AsyncPool {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    options: PoolOptions,
    /// One permit per session lent or being opened. Idle sessions hold
    /// none, and a session goes on the shelf before its permit is given
    /// back: whoever holds a permit finds an idle session or room for a
    /// new one, so at most `max_connections` are ever open.
    permits: Arc<Semaphore>,
    shelf: Mutex<Shelf<AsyncClient>>,
    limiter: Mutex<Limiter>,
}

impl std::fmt::Debug for AsyncPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shelf = self.inner.lock_shelf();
        f.debug_struct("AsyncPool")
            .field("open", &shelf.open)
            .field("idle", &shelf.idle.len())
            .field("options", &self.inner.options)
            .finish()
    }
}

/// A session lent by an [`AsyncPool`]; it goes back when dropped.
pub struct AsyncPooledClient {
    client: Option<AsyncClient>,
    permit: Option<OwnedSemaphorePermit>,
    sent: u64,
    pool: Arc<Inner>,
}

impl std::fmt::Debug for AsyncPooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPooledClient")
            .field("client", &self.client)
            .field("sent", &self.sent)
            .finish()
    }
}

impl Inner {
    fn lock_shelf(&self) -> MutexGuard<'_, Shelf<AsyncClient>> {
        self.shelf.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_limiter(&self) -> MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl AsyncPool {
    /// A pool for `config` (checked now); sessions open as they are needed.
    pub fn new(config: Config, options: PoolOptions) -> Result<AsyncPool> {
        config.validate()?;
        if options.max_connections == 0 {
            return Err(Error::invalid(
                "pool option",
                "max_connections must be at least 1",
            ));
        }
        Ok(AsyncPool {
            inner: Arc::new(Inner {
                permits: Arc::new(Semaphore::new(options.max_connections)),
                config,
                options,
                shelf: Mutex::new(Shelf::new()),
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

    /// Lends a session: an idle one still alive, or a new one; waits
    /// (within the connect timeout) while `max_connections` are lent.
    pub async fn get(&self) -> Result<AsyncPooledClient> {
        let inner = &self.inner;
        let timeout = inner.config.timeouts.connect;
        let permit =
            match tokio::time::timeout(timeout, inner.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(_)) => return Err(Error::NotConnected("the pool is closed".into())),
                Err(_) => {
                    return Err(super::blocking::busy(
                        inner.options.max_connections,
                        timeout,
                    ))
                }
            };
        loop {
            let idle = {
                let mut expired = Vec::new();
                let mut shelf = inner.lock_shelf();
                if shelf.closed {
                    return Err(Error::NotConnected("the pool is closed".into()));
                }
                let idle = shelf.take(Instant::now(), &inner.options, &mut expired);
                if idle.is_none() {
                    shelf.open += 1;
                }
                drop(shelf);
                // Dropping a client closes it.
                drop(expired);
                idle
            };
            let Some(Idle {
                mut client,
                since,
                sent,
            }) = idle
            else {
                return match AsyncClient::connect(inner.config.clone()).await {
                    Ok(client) => Ok(AsyncPooledClient {
                        client: Some(client),
                        permit: Some(permit),
                        sent: 0,
                        pool: inner.clone(),
                    }),
                    Err(e) => {
                        inner.lock_shelf().open -= 1;
                        Err(e)
                    }
                };
            };
            let alive = client.is_connected()
                && !client.input_waiting()
                && (since.elapsed() < inner.options.noop_after || client.noop().await.is_ok());
            if alive {
                return Ok(AsyncPooledClient {
                    client: Some(client),
                    permit: Some(permit),
                    sent,
                    pool: inner.clone(),
                });
            }
            inner.lock_shelf().open -= 1;
            drop(client);
        }
    }

    /// Sends a message held in memory on a pooled session, within the
    /// rate limit; see [`Pool::send_bytes`](super::Pool::send_bytes).
    pub async fn send_bytes(&self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        let groups = recipient_groups(envelope.to(), self.inner.options.max_recipients);
        let mut groups_sent = super::GroupReport::default();
        for group in groups {
            let part = envelope.with_recipients(group)?;
            let sent = self.send_part(&part, message).await;
            groups_sent.add(part.to(), sent)?;
        }
        groups_sent.finish()
    }

    /// Sends a message the caller formatted, held in memory, as
    /// [`AsyncPool::send_bytes`] does, signed first when the configuration
    /// has DKIM.
    pub async fn send_raw(&self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        match self.inner.config.dkim() {
            None => self.send_bytes(envelope, message).await,
            Some(signer) => {
                let mut signed = signer.sign_message(message)?;
                signed.extend_from_slice(message);
                self.send_bytes(envelope, &signed).await
            }
        }
    }

    async fn send_part(&self, envelope: &Envelope, message: &[u8]) -> Result<SendReport> {
        self.wait_for_rate().await;
        let mut lent = self.get().await?;
        let reused = lent.sent > 0;
        let mut result = lent.send_bytes(envelope, message).await;
        lent.sent += 1;
        if reused {
            if let Err(e) = &result {
                if stale_connection(e) && !lent.is_connected() {
                    drop(lent);
                    lent = self.get().await?;
                    result = lent.send_bytes(envelope, message).await;
                    lent.sent += 1;
                }
            }
        }
        drop(lent);
        self.observe(&result);
        result
    }

    /// Sends a composed message on a pooled session.
    pub async fn send_message(&self, message: &Message) -> Result<SendReport> {
        self.wait_for_rate().await;
        let mut lent = self.get().await?;
        let reused = lent.sent > 0;
        let mut result = lent.send_message(message).await;
        lent.sent += 1;
        if reused {
            if let Err(e) = &result {
                if stale_connection(e) && !lent.is_connected() {
                    drop(lent);
                    lent = self.get().await?;
                    result = lent.send_message(message).await;
                    lent.sent += 1;
                }
            }
        }
        drop(lent);
        self.observe(&result);
        result
    }

    /// Sends several messages in memory on one session, pipelined across
    /// messages (see [`AsyncClient::send_many_bytes`]).
    pub async fn send_many_bytes<B: AsRef<[u8]>>(
        &self,
        messages: &[(Envelope, B)],
    ) -> Vec<Result<SendReport>> {
        for _ in messages {
            self.wait_for_rate().await;
        }
        let mut lent = match self.get().await {
            Ok(lent) => lent,
            Err(e) => {
                let why = e.to_string();
                return messages
                    .iter()
                    .map(|_| Err(Error::NotConnected(why.clone())))
                    .collect();
            }
        };
        let results = lent.send_many_bytes(messages).await;
        lent.sent += messages.len() as u64;
        drop(lent);
        for r in &results {
            self.observe(r);
        }
        results
    }

    /// Refuses new requests and closes every idle session.
    pub fn close(&self) {
        let idle: Vec<_> = {
            let mut shelf = self.inner.lock_shelf();
            shelf.closed = true;
            let idle: Vec<_> = shelf.idle.drain(..).collect();
            shelf.open -= idle.len();
            idle
        };
        self.inner.permits.close();
        drop(idle);
    }

    async fn wait_for_rate(&self) {
        let wait = self
            .inner
            .lock_limiter()
            .reserve(Instant::now(), &self.inner.options);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    fn observe(&self, result: &Result<SendReport>) {
        self.inner.lock_limiter().observe(
            Instant::now(),
            &self.inner.options,
            result.as_ref().err(),
        );
    }
}

impl AsyncPooledClient {
    /// How many messages this session has sent.
    pub fn sent(&self) -> u64 {
        self.sent
    }
}

impl Deref for AsyncPooledClient {
    type Target = AsyncClient;

    fn deref(&self) -> &AsyncClient {
        self.client.as_ref().expect("present until dropped")
    }
}

impl DerefMut for AsyncPooledClient {
    fn deref_mut(&mut self) -> &mut AsyncClient {
        self.client.as_mut().expect("present until dropped")
    }
}

impl Drop for AsyncPooledClient {
    fn drop(&mut self) {
        let (Some(client), Some(permit)) = (self.client.take(), self.permit.take()) else {
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
            // Dropping queues QUIT if the socket takes it, and closes.
            drop(client);
        } else {
            shelf.put(Idle {
                client,
                since: Instant::now(),
                sent: self.sent,
            });
            drop(shelf);
        }
        // Given back only now that the session is on the shelf.
        drop(permit);
    }
}
