//! A connection pool for the async clients: a bounded number of
//! connections shared fairly by many tasks, reused while healthy.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_lock::{Semaphore, SemaphoreGuardArc};

use crate::{Body, Client, ClientSettings, DeliveryReport, Envelope, Error, Runtime};

/// Pool limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once (and most concurrent sends).
    pub max_connections: usize,
    /// An idle connection older than this is closed instead of reused.
    pub idle_timeout: Duration,
    /// A connection is retired after this many messages (servers limit
    /// transactions per connection; LIMITS MAILMAX lowers it further).
    pub max_messages_per_connection: usize,
    /// Check an idle connection with NOOP (or RSET, `mail.smtp.userset`)
    /// before reusing it.
    pub check_before_reuse: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            max_messages_per_connection: 100,
            check_before_reuse: true,
        }
    }
}

struct Idle<R: Runtime> {
    client: Client<R>,
    since: Instant,
    sent: usize,
}

struct Inner<R: Runtime> {
    settings: ClientSettings,
    config: PoolConfig,
    idle: Mutex<Vec<Idle<R>>>,
    permits: Arc<Semaphore>,
}

/// A pool of connections to one server. Cheap to clone; every clone shares
/// the connections.
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
/// is still healthy.
pub struct Pooled<R: Runtime> {
    client: Option<Client<R>>,
    sent: usize,
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
        self.sent += 1;
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
        // A closed or cancelled connection, or one that has done its share,
        // is dropped (no QUIT: its state may be unknown).
        if client.is_closed() || self.sent >= self.inner.config.max_messages_per_connection {
            return;
        }
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Idle {
                client,
                since: R::now(),
                sent: self.sent,
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

    /// Borrows a connection: waits (first come, first served) while
    /// `max_connections` are in use, then reuses a healthy idle one or
    /// connects.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub async fn get(&self) -> Result<Pooled<R>, Error> {
        let permit = self.inner.permits.acquire_arc().await;
        loop {
            let candidate = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let Some(mut idle) = candidate else { break };
            if R::now().saturating_duration_since(idle.since) > self.inner.config.idle_timeout {
                continue;
            }
            if self.inner.config.check_before_reuse && !idle.client.is_connected().await {
                continue;
            }
            return Ok(Pooled {
                client: Some(idle.client),
                sent: idle.sent,
                inner: Arc::clone(&self.inner),
                _permit: permit,
            });
        }
        let client = Client::connect(&self.inner.settings).await?;
        Ok(Pooled {
            client: Some(client),
            sent: 0,
            inner: Arc::clone(&self.inner),
            _permit: permit,
        })
    }

    /// Sends one message on a pooled connection.
    ///
    /// # Errors
    /// As [`Client::send`]; a connection that failed is not reused.
    pub async fn send(
        &self,
        envelope: Envelope,
        body: impl Into<Body>,
    ) -> Result<DeliveryReport, Error> {
        let mut connection = self.get().await?;
        connection.send(envelope, body).await
    }
}
