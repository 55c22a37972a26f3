//! Sending through an ordered list of relays on blocking sockets: one
//! [`Pool`] per relay, the decisions (failover, per-recipient retry,
//! circuit breakers, rate limits) taken by [`smtpkit_client::relay`].

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smtpkit_client::MessageOptions;
use smtpkit_client::relay::{Breakers, RelayAction, RelayReport, RelaySend, RelaySet};
use smtpkit_proto::Envelope;

use crate::{Body, BodySource, Clock, Error, IntoMessage, Pool, PoolConfig, SystemClock};

/// A pool of connections to each relay of a [`RelaySet`], shared by
/// threads; cheap to clone. A message's recipients go to the first relay
/// that takes the session; recipients a relay refuses for now are tried
/// again on it after a backoff; a relay whose session fails is skipped
/// for the cool-down while the others carry on. Each message ends with a
/// [`RelayReport`]: every recipient's outcome and the relay it came from.
///
/// The relay set decides the retries and sends partially
/// ([`RelaySet::pools`]).
pub struct RelayPool<C: Clock = SystemClock> {
    set: Arc<RelaySet>,
    pools: Arc<Vec<Pool<C>>>,
    breakers: Arc<Mutex<Breakers>>,
}

impl<C: Clock> Clone for RelayPool<C> {
    fn clone(&self) -> Self {
        RelayPool {
            set: Arc::clone(&self.set),
            pools: Arc::clone(&self.pools),
            breakers: Arc::clone(&self.breakers),
        }
    }
}

impl RelayPool {
    /// Pools for `set`'s relays, each with `config` (but no retries).
    pub fn new(set: RelaySet, config: PoolConfig) -> RelayPool {
        RelayPool::with_clock(set, config)
    }
}

impl<C: Clock> RelayPool<C> {
    /// [`RelayPool::new`] on clock `C`.
    pub fn with_clock(set: RelaySet, config: PoolConfig) -> RelayPool<C> {
        let pools = set
            .pools(config)
            .map(|(settings, config)| Pool::with_clock(settings, config))
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
    /// Only when nothing could be sent at all (a body that cannot be
    /// read). Refusals, deferrals and lost relays are in the report.
    pub fn send<'a>(
        &self,
        envelope: Envelope,
        body: impl Into<Body<'a>>,
    ) -> Result<RelayReport, Error> {
        self.run(body.into(), |body, subset| {
            Ok((subset.unwrap_or_else(|| envelope.clone()), body.into()))
        })
    }

    /// Sends a whole RFC 5322 message, as [`crate::Client::send_message`]
    /// (envelope from the header, `Bcc:` not transmitted, `Date:` and
    /// `Message-ID:` added when missing: the same ones through every
    /// relay, so that a receiving system can tell a copy; the first
    /// relay's settings decide the header's completion).
    ///
    /// # Errors
    /// [`Error::Message`] when the message cannot be sent as it is
    /// (nothing is sent).
    pub fn send_message<'a>(
        &self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<RelayReport, Error> {
        let options = match self.set.relays().first() {
            Some(relay) => MessageOptions::of(&relay.settings).for_one_message(),
            None => MessageOptions::of(&crate::ClientSettings::dangerous_plaintext("localhost")),
        };
        crate::with_whole(message, |body, envelope| {
            self.run(body, |body, subset| {
                crate::read_whole(body, subset.or_else(|| envelope.clone()), &options)
            })
        })
    }

    /// The loop: the relay set says what to do, this performs it.
    /// `prepare` makes a body's source for an envelope: the message's own
    /// for the first send (`None`), the remaining recipients' after.
    fn run<'a>(
        &self,
        body: Body<'a>,
        prepare: impl Fn(Body<'a>, Option<Envelope>) -> Result<(Envelope, BodySource<'a>), Error>,
    ) -> Result<RelayReport, Error> {
        let mut next = body.replay();
        let (envelope, first) = prepare(body, None)?;
        let mut first = Some(first);
        let mut send = RelaySend::new(&self.set, envelope);
        loop {
            let action = send.next(&self.lock(), C::now());
            match action {
                RelayAction::Done(report) => return Ok(report),
                RelayAction::Sleep(until) => C::sleep(until.saturating_duration_since(C::now())),
                RelayAction::Send { relay, envelope } => {
                    let source = match (first.take(), next.take()) {
                        (Some(source), body) => {
                            next = body;
                            Ok(source)
                        }
                        (None, Some(body)) => {
                            next = body.replay();
                            prepare(body, Some(envelope.clone())).map(|(_, source)| source)
                        }
                        (None, None) => Err(Error::Body(std::io::Error::other(
                            "the body cannot be read again for the remaining recipients",
                        ))),
                    };
                    let result = source.and_then(|source| {
                        let pool = self.pools.get(relay).ok_or_else(|| unknown_relay(relay))?;
                        match pool.get() {
                            Ok(mut connection) => connection.send_source(envelope.clone(), source),
                            Err(e) => Err(Error::not_connected(&envelope, e)),
                        }
                    });
                    send.on_result(relay, &result, &mut self.lock(), C::now());
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Breakers> {
        self.breakers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every relay's pool (QUIT on each idle connection).
    pub fn close(&self) {
        for pool in self.pools.iter() {
            pool.close();
        }
    }
}

/// The relay set named a relay it does not have (it never does: its
/// indices come from the same list).
fn unknown_relay(relay: usize) -> Error {
    Error::Io(std::io::Error::other(format!(
        "relay #{relay} is not in the set"
    )))
}
