//! A connection pool for the blocking client, for programs that send from
//! many threads: the async pool's behaviour (probe only after
//! `probe_after`, QUIT when retiring, retries before the end of data), its
//! decisions taken from the same [`smtpkit_client::pool`].

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub use smtpkit_client::PoolConfig;
use smtpkit_client::{MessageOptions, Reuse};
use smtpkit_proto::{DeliveryReport, Envelope, UsageError};

use crate::{Body, BodySource, Client, ClientSettings, Clock, Error, IntoMessage, SystemClock};

struct Idle<C: Clock> {
    client: Client<C>,
    since: Instant,
}

struct State<C: Clock> {
    idle: Vec<Idle<C>>,
    /// Connections that have done their share, to QUIT outside the lock.
    retiring: Vec<Client<C>>,
    in_use: usize,
}

impl<C: Clock> Default for State<C> {
    fn default() -> Self {
        State {
            idle: Vec::new(),
            retiring: Vec::new(),
            in_use: 0,
        }
    }
}

struct Inner<C: Clock> {
    settings: ClientSettings,
    config: PoolConfig,
    state: Mutex<State<C>>,
    returned: Condvar,
}

impl<C: Clock> Inner<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A pool of blocking connections to one server, shared by threads.
/// Cheap to clone; see `smtpkit_async::Pool` for the behaviour, which is the
/// same.
pub struct Pool<C: Clock = SystemClock> {
    inner: Arc<Inner<C>>,
}

impl<C: Clock> Clone for Pool<C> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<C: Clock> std::fmt::Debug for Pool<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .field("idle", &self.idle_count())
            .finish_non_exhaustive()
    }
}

/// A connection borrowed from a [`Pool`]; it goes back when dropped, if it
/// is still healthy and has not done its share.
pub struct Pooled<C: Clock = SystemClock> {
    client: Option<Client<C>>,
    inner: Arc<Inner<C>>,
}

impl<C: Clock> std::ops::Deref for Pooled<C> {
    type Target = Client<C>;
    fn deref(&self) -> &Client<C> {
        // Taken only in Drop.
        match &self.client {
            Some(c) => c,
            None => unreachable!("a Pooled holds its client until dropped"),
        }
    }
}

impl<C: Clock> std::ops::DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut Client<C> {
        match &mut self.client {
            Some(c) => c,
            None => unreachable!("a Pooled holds its client until dropped"),
        }
    }
}

impl<C: Clock> Drop for Pooled<C> {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.in_use = state.in_use.saturating_sub(1);
        if let Some(client) = self.client.take() {
            if client.is_closed() {
                // Nothing polite can be said on a closed connection.
            } else if self
                .inner
                .config
                .spent(client.messages_sent(), client.mail_max())
            {
                state.retiring.push(client);
            } else {
                state.idle.push(Idle {
                    client,
                    since: C::now(),
                });
            }
        }
        drop(state);
        self.inner.returned.notify_one();
    }
}

impl Pool {
    /// A pool for the server in `settings`.
    pub fn new(settings: ClientSettings, config: PoolConfig) -> Pool {
        Pool::with_clock(settings, config)
    }
}

impl<C: Clock> Pool<C> {
    /// [`Pool::new`] on clock `C`: idle times, the retry backoff and the
    /// connections' deadlines are read from it.
    pub fn with_clock(settings: ClientSettings, config: PoolConfig) -> Pool<C> {
        Pool {
            inner: Arc::new(Inner {
                settings,
                config,
                state: Mutex::new(State::default()),
                returned: Condvar::new(),
            }),
        }
    }

    /// Idle connections now.
    pub fn idle_count(&self) -> usize {
        self.inner.lock().idle.len()
    }

    fn quit_retiring(&self) {
        let retiring = std::mem::take(&mut self.inner.lock().retiring);
        for client in retiring {
            let _ = client.quit_without_waiting();
        }
    }

    /// Borrows a connection: waits while `max_connections` are in use,
    /// then reuses an idle one (probed if it has been idle a while) or
    /// connects.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn get(&self) -> Result<Pooled<C>, Error> {
        self.quit_retiring();
        let max = self.inner.config.max_connections.max(1);
        let mut state = self.inner.lock();
        while state.in_use >= max {
            state = self
                .inner
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.in_use += 1;
        let pooled = |client| Pooled {
            client: Some(client),
            inner: Arc::clone(&self.inner),
        };
        while let Some(mut idle) = state.idle.pop() {
            drop(state);
            match self.inner.config.reuse(idle.since, C::now()) {
                Reuse::Retire => {
                    let _ = idle.client.quit_without_waiting();
                }
                Reuse::Probe if !idle.client.is_connected() => {}
                _ => return Ok(pooled(idle.client)),
            }
            state = self.inner.lock();
        }
        drop(state);
        match Client::connect_with_clock(&self.inner.settings, None) {
            Ok(client) => Ok(pooled(client)),
            Err(e) => {
                self.inner.lock().in_use -= 1;
                self.inner.returned.notify_one();
                Err(e)
            }
        }
    }

    /// Sends one message on a pooled connection, trying again on a fresh
    /// one after a transient failure before its end of data was written
    /// (as `smtpkit_async::Pool::send`). A file is streamed, and read
    /// again for a retry; a [`Body::Reader`] is tried once.
    ///
    /// # Errors
    /// The last attempt's, as [`Client::send`].
    pub fn send<'a>(
        &self,
        envelope: Envelope,
        body: impl Into<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        self.send_with_retries(body.into(), |body| Ok((envelope.clone(), body.into())))
    }

    /// Sends a whole RFC 5322 message, as [`Client::send_message`]
    /// (envelope from the header, `Bcc:` not transmitted, only the header
    /// held in memory; or a message a builder made, [`IntoMessage`]),
    /// with [`send`](Self::send)'s retries.
    ///
    /// # Errors
    /// [`Error::Message`] when the header names no sender or recipient
    /// (nothing is sent), else as [`send`](Self::send).
    pub fn send_message<'a>(
        &self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        // One Date: and Message-ID: for every try of this message.
        let options = MessageOptions::of(&self.inner.settings).for_one_message();
        crate::with_whole(message, |body, envelope| {
            self.send_with_retries(body, |body| {
                crate::read_whole(body, envelope.clone(), &options)
            })
        })
    }

    fn send_with_retries<'a>(
        &self,
        body: Body<'a>,
        prepare: impl Fn(Body<'a>) -> Result<(Envelope, BodySource<'a>), Error>,
    ) -> Result<DeliveryReport, Error> {
        let mut next = Some(body);
        let mut attempt = 0;
        loop {
            let Some(body) = next.take() else {
                return Err(Error::Usage(UsageError::Busy));
            };
            next = body.replay();
            let (envelope, source) = prepare(body)?;
            let result = match self.get() {
                Ok(mut connection) => connection.send_source(envelope, source),
                Err(e) => Err(Error::not_connected(&envelope, e)),
            };
            let replayable = next.is_some();
            match self
                .inner
                .config
                .next_attempt(&result, replayable, &mut attempt)
            {
                Some(wait) => C::sleep(wait),
                None => return result,
            }
        }
    }

    /// Closes the retiring and expired connections, then opens connections
    /// until `min_idle` are idle (as far as `max_connections` allows).
    ///
    /// # Errors
    /// A connection that could not be made.
    pub fn maintain(&self) -> Result<(), Error> {
        self.quit_retiring();
        let expired: Vec<Idle<C>> = {
            let mut state = self.inner.lock();
            let now = C::now();
            let (expired, kept) = std::mem::take(&mut state.idle)
                .into_iter()
                .partition(|i| self.inner.config.reuse(i.since, now) == Reuse::Retire);
            state.idle = kept;
            expired
        };
        for idle in expired {
            let _ = idle.client.quit_without_waiting();
        }
        loop {
            {
                let mut state = self.inner.lock();
                let room = state.in_use + state.idle.len() < self.inner.config.max_connections;
                if state.idle.len() >= self.inner.config.min_idle || !room {
                    return Ok(());
                }
                state.in_use += 1;
            }
            let client = Client::connect_with_clock(&self.inner.settings, None);
            let mut state = self.inner.lock();
            state.in_use -= 1;
            state.idle.push(Idle {
                client: client?,
                since: C::now(),
            });
        }
    }

    /// QUITs every idle connection (waiting for the reply with
    /// `mail.smtp.quitwait`) and every retiring one.
    pub fn close(&self) {
        self.quit_retiring();
        let idle = std::mem::take(&mut self.inner.lock().idle);
        for i in idle {
            let _ = i.client.close();
        }
    }
}
