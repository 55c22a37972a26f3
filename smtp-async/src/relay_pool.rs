//! Sending through an ordered list of relays on any runtime: one
//! [`Pool`] per relay, the decisions (failover, per-recipient retry,
//! circuit breakers, rate limits) taken by [`smtpkit_client::relay`], as
//! the blocking `RelayPool` takes them.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smtpkit_client::MessageOptions;
use smtpkit_client::relay::{Breakers, RelayAction, RelayReport, RelaySend, RelaySet};
use smtpkit_proto::Envelope;

use crate::{Body, BodySource, Error, IntoMessage, Pool, PoolConfig, Runtime};

/// A pool of connections to each relay of a [`RelaySet`], shared by
/// tasks; cheap to clone. A message's recipients go to the first relay
/// that takes the session; recipients a relay refuses for now are tried
/// again on it after a backoff; a relay whose session fails is skipped
/// for the cool-down while the others carry on. Each message ends with a
/// [`RelayReport`]: every recipient's outcome and the relay it came from.
/// A wait for a rate-limit slot sleeps on the runtime and is counted in
/// the report.
///
/// The relay set decides the retries and sends partially
/// ([`RelaySet::pools`]).
pub struct RelayPool<R: Runtime> {
    set: Arc<RelaySet>,
    pools: Arc<Vec<Pool<R>>>,
    breakers: Arc<Mutex<Breakers>>,
}

impl<R: Runtime> Clone for RelayPool<R> {
    fn clone(&self) -> Self {
        RelayPool {
            set: Arc::clone(&self.set),
            pools: Arc::clone(&self.pools),
            breakers: Arc::clone(&self.breakers),
        }
    }
}

impl<R: Runtime> RelayPool<R> {
    /// Pools for `set`'s relays, each with `config` (but no retries).
    pub fn new(set: RelaySet, config: PoolConfig) -> RelayPool<R> {
        let pools = set
            .pools(config)
            .map(|(settings, config)| Pool::new(settings, config))
            .collect();
        RelayPool {
            breakers: Arc::new(Mutex::new(Breakers::new(set.relays().len()))),
            pools: Arc::new(pools),
            set: Arc::new(set),
        }
    }

    /// The relay set.
    pub fn set(&self) -> &RelaySet {
        &self.set
    }

    /// The relays' breakers now: which are skipped, why, how often.
    pub fn breakers(&self) -> Breakers {
        self.lock().clone()
    }

    /// Sends `body` to `envelope`'s recipients through the relays.
    ///
    /// # Errors
    /// Only when nothing could be sent at all. Refusals, deferrals and
    /// lost relays are in the report.
    pub async fn send(
        &self,
        envelope: Envelope,
        body: impl Into<Body>,
    ) -> Result<RelayReport, Error> {
        let prepare = |body: Body, subset: Option<Envelope>| {
            let envelope = subset.unwrap_or_else(|| envelope.clone());
            async move { Ok((envelope, crate::open_body::<R>(body).await)) }
        };
        self.run(body.into(), prepare).await
    }

    /// Sends a whole RFC 5322 message, as `Client::send_message`
    /// (envelope from the header, `Bcc:` not transmitted, `Date:` and
    /// `Message-ID:` added when missing: the same ones through every
    /// relay; the first relay's settings decide the header's completion).
    ///
    /// # Errors
    /// [`Error::Message`] when the message cannot be sent as it is
    /// (nothing is sent).
    pub async fn send_message(
        &self,
        message: impl IntoMessage<Body>,
    ) -> Result<RelayReport, Error> {
        let (envelope, body) = message.into_message()?.into_parts();
        let options = match self.set.relays().first() {
            Some(relay) => MessageOptions::of(&relay.settings).for_one_message(),
            None => MessageOptions::of(&crate::ClientSettings::dangerous_plaintext("localhost")),
        };
        let options = &options;
        let prepare = |body: Body, subset: Option<Envelope>| {
            crate::read_whole::<R>(body, subset.or_else(|| envelope.clone()), options)
        };
        self.run(body, prepare).await
    }

    /// The loop: the relay set says what to do, this performs it.
    /// `prepare` makes a body's source for an envelope: the message's own
    /// for the first send (`None`), the remaining recipients' after.
    async fn run<F>(
        &self,
        body: Body,
        prepare: impl Fn(Body, Option<Envelope>) -> F,
    ) -> Result<RelayReport, Error>
    where
        F: Future<Output = Result<(Envelope, BodySource<R>), Error>>,
    {
        let mut next = body.replay();
        let (envelope, first) = prepare(body, None).await?;
        let mut first = Some(first);
        let mut send = RelaySend::new(&self.set, envelope);
        loop {
            let action = send.next(&self.lock(), R::now());
            match action {
                RelayAction::Done(report) => return Ok(report),
                RelayAction::Sleep(until) => R::sleep_until(until).await,
                RelayAction::Send { relay, envelope } => {
                    let source = match (first.take(), next.take()) {
                        (Some(source), body) => {
                            next = body;
                            Ok(source)
                        }
                        (None, Some(body)) => {
                            next = body.replay();
                            prepare(body, Some(envelope.clone()))
                                .await
                                .map(|(_, source)| source)
                        }
                        (None, None) => Err(Error::Body(std::io::Error::other(
                            "the body cannot be read again for the remaining recipients",
                        ))),
                    };
                    let result = match (source, self.pools.get(relay)) {
                        (Ok(source), Some(pool)) => match pool.get().await {
                            Ok(mut connection) => {
                                connection.send_source(envelope.clone(), source).await
                            }
                            Err(e) => Err(Error::not_connected(&envelope, e)),
                        },
                        (Ok(_), None) => Err(Error::Io(std::io::Error::other(format!(
                            "relay #{relay} is not in the set"
                        )))),
                        (Err(e), _) => Err(e),
                    };
                    send.on_result(relay, &result, &mut self.lock(), R::now());
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Breakers> {
        self.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every relay's pool (QUIT on each idle connection).
    pub async fn close(&self) {
        for pool in self.pools.iter() {
            pool.close().await;
        }
    }
}
