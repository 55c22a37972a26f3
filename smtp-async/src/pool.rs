//! A connection pool for the async clients: a bounded number of
//! connections shared fairly by many tasks, reused while healthy, closed
//! politely. What to reuse, probe, retire or retry is
//! [`smtpkit_client::pool`]'s, shared with the blocking pool.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_lock::{Semaphore, SemaphoreGuardArc};
pub use smtpkit_client::PoolConfig;
use smtpkit_client::{MessageOptions, Reuse};
use smtpkit_proto::UsageError;

use crate::{
    Body, BodySource, Client, ClientSettings, DeliveryReport, Envelope, Error, IntoMessage, Runtime,
};

struct Idle<R: Runtime> {
    client: Client<R>,
    since: Instant,
}

struct Inner<R: Runtime> {
    settings: ClientSettings,
    config: PoolConfig,
    idle: Mutex<Vec<Idle<R>>>,
    /// Connections that have done their share: QUIT on the next `get`,
    /// `maintain` or `close` (a drop cannot await).
    retiring: Mutex<Vec<Client<R>>>,
    permits: Arc<Semaphore>,
}

impl<R: Runtime> Inner<R> {
    fn take_retiring(&self) -> Vec<Client<R>> {
        std::mem::take(&mut *self.retiring.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn pop_idle(&self) -> Option<Idle<R>> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }
}

/// A pool of connections to one server. Cheap to clone; every clone shares
/// the connections.
///
/// - At most `max_connections` are open (a fair semaphore).
/// - An idle connection used within `probe_after` is reused as it is (one
///   round trip per message); one idle longer is probed first (NOOP, or
///   RSET with `mail.smtp.userset`); one idle past `idle_timeout` is closed
///   with QUIT.
/// - A connection that sent `max_messages_per_connection` messages (or
///   reached the server's LIMITS MAILMAX) is retired with QUIT.
/// - [`send`](Pool::send) tries a message again on a fresh connection, with
///   backoff, after a transient failure before its end of data was
///   written (never after: then it may have been delivered).
/// - [`close`](Pool::close) QUITs every idle connection;
///   [`maintain`](Pool::maintain) keeps `min_idle` open.
pub struct Pool<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for Pool<R> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Pool<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field(
                "server",
                &format_args!(
                    "{}:{}",
                    self.inner.settings.host,
                    self.inner.settings.port()
                ),
            )
            .field("config", &self.inner.config)
            .field("idle", &self.idle_count())
            .finish()
    }
}

/// A connection borrowed from a [`Pool`]; it goes back when dropped, if it
/// is still healthy and has not done its share.
pub struct Pooled<R: Runtime> {
    client: Option<Client<R>>,
    inner: Arc<Inner<R>>,
    _permit: SemaphoreGuardArc,
}

impl<R: Runtime> std::ops::Deref for Pooled<R> {
    type Target = Client<R>;
    fn deref(&self) -> &Client<R> {
        // Taken only in Drop.
        match &self.client {
            Some(c) => c,
            None => unreachable!("a Pooled holds its client until dropped"),
        }
    }
}

impl<R: Runtime> std::ops::DerefMut for Pooled<R> {
    fn deref_mut(&mut self) -> &mut Client<R> {
        match &mut self.client {
            Some(c) => c,
            None => unreachable!("a Pooled holds its client until dropped"),
        }
    }
}

impl<R: Runtime> Drop for Pooled<R> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        // A closed or cancelled connection is dropped: its state is
        // unknown, nothing polite can be said on it.
        if client.is_closed() {
            return;
        }
        if self
            .inner
            .config
            .spent(client.messages_sent(), client.mail_max())
        {
            self.inner
                .retiring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(client);
            return;
        }
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Idle {
                client,
                since: R::now(),
            });
    }
}

impl<R: Runtime> Pool<R> {
    /// A pool for the server in `settings`.
    pub fn new(settings: ClientSettings, config: PoolConfig) -> Pool<R> {
        let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
        Pool {
            inner: Arc::new(Inner {
                settings,
                config,
                idle: Mutex::new(Vec::new()),
                retiring: Mutex::new(Vec::new()),
                permits,
            }),
        }
    }

    /// Idle connections now.
    pub fn idle_count(&self) -> usize {
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// QUITs (without waiting for the reply) the connections that have
    /// done their share.
    async fn quit_retiring(&self) {
        for client in self.inner.take_retiring() {
            let _ = client.quit_without_waiting().await;
        }
    }

    /// Borrows a connection: waits (first come, first served) while
    /// `max_connections` are in use, then reuses an idle one (probed if it
    /// has been idle a while) or connects.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn get(&self) -> Result<Pooled<R>, Error> {
        let permit = self.inner.permits.acquire_arc().await;
        self.quit_retiring().await;
        while let Some(mut idle) = self.inner.pop_idle() {
            match self.inner.config.reuse(idle.since, R::now()) {
                Reuse::Retire => {
                    let _ = idle.client.quit_without_waiting().await;
                    continue;
                }
                Reuse::Probe if !idle.client.is_connected().await => continue,
                _ => {}
            }
            return Ok(Pooled {
                client: Some(idle.client),
                inner: Arc::clone(&self.inner),
                _permit: permit,
            });
        }
        let client = Client::connect(&self.inner.settings).await?;
        Ok(Pooled {
            client: Some(client),
            inner: Arc::clone(&self.inner),
            _permit: permit,
        })
    }

    /// Sends one message on a pooled connection; after a transient failure
    /// before its end of data was written (the connection could not be
    /// made or was lost, a 421), tries again on a fresh connection, up to
    /// `retries` times with doubling `retry_backoff` (a streamed
    /// [`Body::Reader`] is tried once: it cannot be read again).
    ///
    /// # Errors
    /// The last attempt's, as [`Client::send`].
    pub async fn send(
        &self,
        envelope: Envelope,
        body: impl Into<Body>,
    ) -> Result<DeliveryReport, Error> {
        let prepare = |body: Body| {
            let envelope = envelope.clone();
            async move { Ok((envelope, crate::open_body::<R>(body).await)) }
        };
        self.send_with_retries(body.into(), prepare).await
    }

    /// Sends a whole RFC 5322 message, as [`Client::send_message`]
    /// (envelope from the header, `Bcc:` not transmitted, only the header
    /// held in memory: a file is streamed; or a message a builder made,
    /// [`IntoMessage`]), with [`send`](Self::send)'s retries.
    ///
    /// # Errors
    /// [`Error::Message`] when the header names no sender or recipient
    /// (nothing is sent), else as [`send`](Self::send).
    pub async fn send_message(
        &self,
        message: impl IntoMessage<Body>,
    ) -> Result<DeliveryReport, Error> {
        let (envelope, body) = message.into_message()?.into_parts();
        // One Date: and Message-ID: for every try of this message.
        let options = MessageOptions::of(&self.inner.settings).for_one_message();
        let options = &options;
        let prepare = |body: Body| crate::read_whole::<R>(body, envelope.clone(), options);
        self.send_with_retries(body, prepare).await
    }

    async fn send_with_retries<F>(
        &self,
        body: Body,
        prepare: impl Fn(Body) -> F,
    ) -> Result<DeliveryReport, Error>
    where
        F: Future<Output = Result<(Envelope, BodySource<R>), Error>>,
    {
        let mut next = Some(body);
        let mut attempt = 0;
        while let Some(body) = next.take() {
            next = body.replay();
            let (envelope, source) = prepare(body).await?;
            let result = match self.get().await {
                Ok(mut connection) => connection.send_source(envelope, source).await,
                Err(e) => Err(Error::not_connected(&envelope, e)),
            };
            match self
                .inner
                .config
                .next_attempt(&result, next.is_some(), &mut attempt)
            {
                Some(wait) => R::sleep_until(R::now() + wait).await,
                None => return result,
            }
        }
        Err(Error::Usage(UsageError::Busy))
    }

    /// Closes the retiring and expired connections, then opens connections
    /// until `min_idle` are idle (as far as `max_connections` allows).
    /// Run it now and then (a timer task) to keep a warm pool.
    ///
    /// # Errors
    /// A connection that could not be made.
    pub async fn maintain(&self) -> Result<(), Error> {
        self.quit_retiring().await;
        let mut kept = Vec::new();
        while let Some(idle) = self.inner.pop_idle() {
            if self.inner.config.reuse(idle.since, R::now()) == Reuse::Retire {
                let _ = idle.client.quit_without_waiting().await;
            } else {
                kept.push(idle);
            }
        }
        kept.reverse();
        let missing = self.inner.config.min_idle.saturating_sub(kept.len());
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(kept);
        for _ in 0..missing {
            let Some(permit) = self.inner.permits.try_acquire_arc() else {
                break;
            };
            let client = Client::connect(&self.inner.settings).await?;
            drop(Pooled {
                client: Some(client),
                inner: Arc::clone(&self.inner),
                _permit: permit,
            });
        }
        Ok(())
    }

    /// QUITs every idle connection (waiting for the reply with
    /// `mail.smtp.quitwait`) and every retiring one. Connections still
    /// borrowed go back to the pool as usual; close again after them.
    pub async fn close(&self) {
        self.quit_retiring().await;
        while let Some(idle) = self.inner.pop_idle() {
            let _ = idle.client.close().await;
        }
    }
}
