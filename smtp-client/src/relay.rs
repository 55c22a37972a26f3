//! Sending through an ordered list of relays, decided once for every
//! runtime: which relay a message's remaining recipients go to next, what
//! became of each recipient, when a relay is skipped for a while (its
//! circuit breaker) and when the next message may go (rate limits).
//! Decisions only, sans-IO: the relay pools of the client crates perform
//! them (connect, send, sleep).
//!
//! A message's recipients each end in exactly one [`Outcome`]:
//! - [`Delivered`](Outcome::Delivered) by one relay, never sent again;
//! - [`Rejected`](Outcome::Rejected) for good (a 5xx), never sent again;
//! - [`Unknown`](Outcome::Unknown): the end of data was written and no
//!   reply came, so the relay may have it; not sent again unless
//!   [`RelayPolicy::resend_unknown`] (the Message-ID stays the same, so
//!   the receiving side can drop a duplicate);
//! - [`Deferred`](Outcome::Deferred): refused for now (450, 451, 452) or
//!   never sent because no relay could take the session, on every one of
//!   [`RelayPolicy::max_attempts`].
//!
//! Deferred recipients are tried again on the same relay after a backoff
//! (a greylisting server wants the same client back); recipients a relay
//! could not take because its session failed (unreachable, 421, TLS,
//! authentication, a timeout) go to the next relay at once, and that
//! relay is skipped for [`RelayPolicy::cool_down`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use smtpkit_client::relay::{Breakers, Outcome, RecipientPlan, RelayPolicy, Step};
//! use smtpkit_proto::{Address, DeliveryReport, Envelope, MessageId, RecipientReport, RecipientStatus, Reply, ReplyCode};
//!
//! let a = Address::parse("a@example.org")?;
//! let b = Address::parse("b@example.org")?;
//! let envelope = Envelope::new(Address::parse("me@example.org")?, [a.clone(), b.clone()]);
//! let policy = RelayPolicy::default();
//! let mut breakers = Breakers::new(2);
//! let mut plan = RecipientPlan::new(&envelope);
//! let now = Instant::now();
//! // Both go to the first relay; it takes `a` and greylists `b`.
//! let Step::Send { relay: 0, recipients } = plan.next(&breakers, &policy, now) else { panic!() };
//! assert_eq!(recipients, [a.clone().into(), b.clone().into()]);
//! let greylisted = ReplyCode::new(451).ok_or("not a reply code")?;
//! let report = DeliveryReport::new(MessageId(0), vec![
//!     RecipientReport::new(a.clone(), RecipientStatus::Delivered(Reply::empty(ReplyCode::OK))),
//!     RecipientReport::new(b.clone(), RecipientStatus::Rejected(Reply::empty(greylisted))),
//! ], None);
//! plan.on_result(0, &Ok(report), &mut breakers, &policy, now);
//! // `b` alone, on the same relay, after the backoff.
//! assert_eq!(plan.next(&breakers, &policy, now), Step::Wait(now + policy.backoff));
//! let Step::Send { relay: 0, recipients } = plan.next(&breakers, &policy, now + policy.backoff) else { panic!() };
//! assert_eq!(recipients, [b.into()]);
//! assert!(matches!(plan.outcome(&a), Some(Outcome::Delivered { relay: 0, .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use smtpkit_proto::{
    Address, DeliveryReport, Envelope, FailureKind, Recipient, RecipientStatus, Reply, SessionError,
};

use crate::error::Error;

/// How a relay set behaves: [`RelayPolicy::default`], then the `with_*`
/// setters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayPolicy {
    /// How long a relay whose session failed is skipped (default 30 s).
    /// After it, the next message tries it again; if that fails too, it is
    /// skipped again.
    pub cool_down: Duration,
    /// How many times a recipient is sent at most (default 4): a
    /// recipient still deferred after that many is final as
    /// [`Outcome::Deferred`].
    pub max_attempts: u32,
    /// The wait before a deferred recipient is tried again on the same
    /// relay (default 1 s), doubled for each further try.
    pub backoff: Duration,
    /// Send again to recipients whose outcome is unknown (the end of data
    /// went out and no reply came): they may get the message twice, with
    /// the same Message-ID. Off by default.
    pub resend_unknown: bool,
}

impl Default for RelayPolicy {
    fn default() -> Self {
        RelayPolicy {
            cool_down: Duration::from_secs(30),
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            resend_unknown: false,
        }
    }
}

impl RelayPolicy {
    /// Sets [`cool_down`](Self::cool_down).
    #[must_use]
    pub fn with_cool_down(mut self, value: Duration) -> RelayPolicy {
        self.cool_down = value;
        self
    }
    /// Sets [`max_attempts`](Self::max_attempts).
    #[must_use]
    pub fn with_max_attempts(mut self, value: u32) -> RelayPolicy {
        self.max_attempts = value;
        self
    }
    /// Sets [`backoff`](Self::backoff).
    #[must_use]
    pub fn with_backoff(mut self, value: Duration) -> RelayPolicy {
        self.backoff = value;
        self
    }
    /// Sets [`resend_unknown`](Self::resend_unknown).
    #[must_use]
    pub fn with_resend_unknown(mut self, value: bool) -> RelayPolicy {
        self.resend_unknown = value;
        self
    }
}

/// The circuit breakers of a relay set, one per relay, shared by every
/// message the set sends.
#[derive(Debug, Clone)]
pub struct Breakers {
    relays: Vec<Breaker>,
}

/// One relay's breaker: closed (used), or open until a time, with why.
#[derive(Debug, Clone, Default)]
struct Breaker {
    open_until: Option<Instant>,
    reason: Option<String>,
    trips: u64,
}

impl Breakers {
    /// Closed breakers for `relays` relays.
    pub fn new(relays: usize) -> Breakers {
        Breakers {
            relays: vec![Breaker::default(); relays],
        }
    }

    /// How many relays.
    pub fn len(&self) -> usize {
        self.relays.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.relays.is_empty()
    }

    /// Whether `relay` is skipped now.
    pub fn is_open(&self, relay: usize, now: Instant) -> bool {
        self.relays
            .get(relay)
            .and_then(|b| b.open_until)
            .is_some_and(|until| now < until)
    }

    /// The first relay, in order, that is not skipped now.
    pub fn first_closed(&self, now: Instant) -> Option<usize> {
        (0..self.relays.len()).find(|&r| !self.is_open(r, now))
    }

    /// When the first skipped relay is tried again.
    pub fn next_closing(&self, now: Instant) -> Option<Instant> {
        self.relays
            .iter()
            .filter_map(|b| b.open_until)
            .filter(|&until| now < until)
            .min()
    }

    /// Skips `relay` for the cool-down: its session failed with `reason`.
    pub fn trip(&mut self, relay: usize, reason: String, now: Instant, policy: &RelayPolicy) {
        if let Some(b) = self.relays.get_mut(relay) {
            b.open_until = Some(now + policy.cool_down);
            b.reason = Some(reason);
            b.trips += 1;
        }
    }

    /// `relay` took a session: used again at once.
    pub fn close(&mut self, relay: usize) {
        if let Some(b) = self.relays.get_mut(relay) {
            b.open_until = None;
        }
    }

    /// Why `relay` was last skipped.
    pub fn reason(&self, relay: usize) -> Option<&str> {
        self.relays.get(relay).and_then(|b| b.reason.as_deref())
    }

    /// How many times `relay` was skipped (failovers away from it).
    pub fn trips(&self, relay: usize) -> u64 {
        self.relays.get(relay).map_or(0, |b| b.trips)
    }
}

/// What became of one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The relay (an index into the set) took the message for it.
    Delivered {
        /// The relay.
        relay: usize,
        /// Its reply.
        reply: Reply,
    },
    /// Refused for good (5xx), at RCPT or after the data.
    Rejected {
        /// The relay.
        relay: usize,
        /// Its reply.
        reply: Reply,
    },
    /// Still refused for now, or never taken, after every attempt.
    Deferred {
        /// The last relay that answered for it, if any.
        relay: Option<usize>,
        /// Its last reply, if a server gave one (else the relays' session
        /// failures say why: [`Breakers::reason`]).
        reply: Option<Reply>,
        /// How many times it was sent or tried.
        attempts: u32,
    },
    /// The end of data was written to `relay` and no reply came: it may
    /// have the message.
    Unknown {
        /// The relay.
        relay: usize,
    },
    /// The message cannot be sent as it is, by any relay (a line too
    /// long, a body that cannot be read): `reason` says why.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// The relay that took or refused it, if one did.
    pub fn relay(&self) -> Option<usize> {
        match self {
            Outcome::Delivered { relay, .. }
            | Outcome::Rejected { relay, .. }
            | Outcome::Unknown { relay } => Some(*relay),
            Outcome::Deferred { relay, .. } => *relay,
            Outcome::Failed { .. } => None,
        }
    }
}

/// What a relay pool does next for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send the message to these recipients through `relay`.
    Send {
        /// The relay (an index into the set).
        relay: usize,
        /// The recipients (with their DSN parameters), in envelope order.
        recipients: Vec<Recipient>,
    },
    /// Wait until then, and ask again.
    Wait(Instant),
    /// Every recipient has its outcome.
    Done,
}

/// A recipient on its way.
#[derive(Debug, Clone)]
struct Entry {
    recipient: Recipient,
    attempts: u32,
    /// The relay and reply of its last temporary refusal.
    last: Option<(usize, Reply)>,
    outcome: Option<Outcome>,
}

/// One message's recipients across a relay set: the next step, and each
/// recipient's outcome. Make one per message; the breakers are the set's.
#[derive(Debug, Clone)]
pub struct RecipientPlan {
    entries: Vec<Entry>,
    /// A deferred recipient waits for this, on this relay.
    retry: Option<(Instant, usize)>,
    /// The sessions this message lost: the relay, and why.
    failures: Vec<(usize, String)>,
    /// How many sends it took.
    sends: u32,
}

impl RecipientPlan {
    /// A plan for `envelope`'s recipients (a recipient named twice is sent
    /// once).
    pub fn new(envelope: &Envelope) -> RecipientPlan {
        let mut entries: Vec<Entry> = Vec::new();
        for recipient in &envelope.recipients {
            if !entries
                .iter()
                .any(|e| e.recipient.address == recipient.address)
            {
                entries.push(Entry {
                    recipient: recipient.clone(),
                    attempts: 0,
                    last: None,
                    outcome: None,
                });
            }
        }
        RecipientPlan {
            entries,
            retry: None,
            failures: Vec::new(),
            sends: 0,
        }
    }

    /// What to do now.
    pub fn next(&mut self, breakers: &Breakers, policy: &RelayPolicy, now: Instant) -> Step {
        // Recipients out of attempts are final.
        for e in &mut self.entries {
            if e.outcome.is_none() && e.attempts >= policy.max_attempts.max(1) {
                e.outcome = Some(Outcome::Deferred {
                    relay: e.last.as_ref().map(|(r, _)| *r),
                    reply: e.last.as_ref().map(|(_, reply)| reply.clone()),
                    attempts: e.attempts,
                });
            }
        }
        if breakers.is_empty() {
            for e in self.entries.iter_mut().filter(|e| e.outcome.is_none()) {
                e.outcome = Some(Outcome::Failed {
                    reason: "the relay set has no relay".to_owned(),
                });
            }
        }
        let pending: Vec<Recipient> = self
            .entries
            .iter()
            .filter(|e| e.outcome.is_none())
            .map(|e| e.recipient.clone())
            .collect();
        if pending.is_empty() {
            return Step::Done;
        }
        let relay = match self.retry {
            Some((at, _)) if now < at => return Step::Wait(at),
            // The same relay for deferred recipients, unless it is skipped.
            Some((_, relay)) if !breakers.is_open(relay, now) => relay,
            _ => match breakers.first_closed(now) {
                Some(relay) => relay,
                None => {
                    // Every relay is skipped: each pending recipient spends
                    // an attempt waiting for the first to come back.
                    for e in self.entries.iter_mut().filter(|e| e.outcome.is_none()) {
                        e.attempts += 1;
                    }
                    return match breakers.next_closing(now) {
                        Some(at) => Step::Wait(at),
                        None => Step::Wait(now),
                    };
                }
            },
        };
        Step::Send {
            relay,
            recipients: pending,
        }
    }

    /// The result of sending to `relay` what [`next`](Self::next) said:
    /// each recipient's outcome, the relay's breaker, the next retry.
    pub fn on_result(
        &mut self,
        relay: usize,
        result: &Result<DeliveryReport, Error>,
        breakers: &mut Breakers,
        policy: &RelayPolicy,
        now: Instant,
    ) {
        self.retry = None;
        self.sends += 1;
        let sent: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].outcome.is_none())
            .collect();
        for &i in &sent {
            self.entries[i].attempts += 1;
        }
        let report = match result {
            Ok(report) => Some(report),
            Err(Error::Send { report, .. }) => Some(report.as_ref()),
            Err(_) => None,
        };
        let Some(report) = report else {
            let Err(error) = result else { return };
            if relay_failure(error) {
                self.trip(breakers, relay, error.chain(), now, policy);
            } else {
                // Nothing any relay could do: the message itself.
                for &i in &sent {
                    self.entries[i].outcome = Some(Outcome::Failed {
                        reason: error.chain(),
                    });
                }
            }
            return;
        };
        if matches!(report.failure, Some(FailureKind::NotConnected)) {
            let reason = match result {
                Err(e) => e.chain(),
                Ok(_) => "the connection could not be established".to_owned(),
            };
            self.trip(breakers, relay, reason, now, policy);
            return;
        }
        breakers.close(relay);
        let data_sent = matches!(
            report.failure,
            Some(FailureKind::ConnectionLost {
                data_sent: true,
                ..
            })
        );
        // Why the recipients a server did not refuse one by one were not
        // delivered: the message (or the sender) refused, for good or for
        // now; a limit of this relay's; or nothing (lost before the end
        // of data: sent again).
        let refusal = message_refusal(report);
        let unsendable = match &report.failure {
            Some(
                f @ (FailureKind::TooLarge { .. }
                | FailureKind::Unsupported { .. }
                | FailureKind::RequireTlsUnavailable
                | FailureKind::ContentNotAllowed { .. }
                | FailureKind::BodyAborted),
            ) => Some(format!("{f}")),
            _ => None,
        };
        let mut deferred = false;
        for &i in &sent {
            let entry = &mut self.entries[i];
            let Some(status) = report
                .recipients
                .iter()
                .find(|r| r.address == entry.recipient.address)
                .map(|r| &r.status)
            else {
                continue;
            };
            let outcome = match status {
                RecipientStatus::Delivered(reply) => Some(Outcome::Delivered {
                    relay,
                    reply: reply.clone(),
                }),
                RecipientStatus::Rejected(reply) if reply.is_transient() => {
                    entry.last = Some((relay, reply.clone()));
                    deferred = true;
                    None
                }
                RecipientStatus::Rejected(reply) => Some(Outcome::Rejected {
                    relay,
                    reply: reply.clone(),
                }),
                // The end of data went out and no reply came: the
                // recipients the server took (the report cannot tell them
                // from ones a later RCPTMAX transaction would have sent:
                // none is sent twice, so all of them) may have it.
                RecipientStatus::AcceptedUnsent(_) | RecipientStatus::Unsent(_)
                    if data_sent && !policy.resend_unknown =>
                {
                    Some(Outcome::Unknown { relay })
                }
                // Accepted at RCPT but not delivered, or not tried.
                _ => {
                    match (refusal, &unsendable) {
                        (Some(reply), _) if reply.is_permanent() => Some(Outcome::Rejected {
                            relay,
                            reply: reply.clone(),
                        }),
                        (Some(reply), _) => {
                            entry.last = Some((relay, reply.clone()));
                            deferred = true;
                            None
                        }
                        (None, Some(reason)) => Some(Outcome::Failed {
                            reason: reason.clone(),
                        }),
                        // Not delivered, certainly: sent again.
                        (None, None) => None,
                    }
                }
            };
            if outcome.is_some() {
                entry.outcome = outcome;
            }
        }
        if matches!(report.failure, Some(FailureKind::ConnectionLost { .. })) {
            let reason = match result {
                Err(e) => e.chain(),
                Ok(_) => "the connection was lost".to_owned(),
            };
            self.trip(breakers, relay, reason, now, policy);
        } else if deferred {
            let attempts = sent
                .iter()
                .map(|&i| self.entries[i].attempts)
                .max()
                .unwrap_or(1);
            let wait = policy
                .backoff
                .saturating_mul(1 << attempts.saturating_sub(1).min(16));
            self.retry = Some((now + wait, relay));
        }
    }

    fn trip(
        &mut self,
        breakers: &mut Breakers,
        relay: usize,
        reason: String,
        now: Instant,
        policy: &RelayPolicy,
    ) {
        self.failures.push((relay, reason.clone()));
        breakers.trip(relay, reason, now, policy);
    }

    /// The sessions this message lost, in order: the relay, and why (a
    /// failover followed each, or a wait when every relay was down).
    pub fn failures(&self) -> &[(usize, String)] {
        &self.failures
    }

    /// How many sends the message took.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// `address`'s outcome, once it has one.
    pub fn outcome(&self, address: &Address) -> Option<&Outcome> {
        self.entries
            .iter()
            .find(|e| e.recipient.address == *address)
            .and_then(|e| e.outcome.as_ref())
    }

    /// Every recipient with its outcome (`None` while on its way).
    pub fn outcomes(&self) -> impl Iterator<Item = (&Address, Option<&Outcome>)> {
        self.entries
            .iter()
            .map(|e| (&e.recipient.address, e.outcome.as_ref()))
    }
}

/// The reply that refused the message after its recipients were taken.
fn message_refusal(report: &DeliveryReport) -> Option<&Reply> {
    match &report.failure {
        Some(FailureKind::MessageRejected(reply) | FailureKind::SenderRejected(reply)) => {
            Some(reply)
        }
        _ => None,
    }
}

/// Whether `error` says the relay could not take a session (unreachable,
/// refused, TLS, authentication, a timeout, the token source), rather
/// than that the message cannot be sent by anyone.
fn relay_failure(error: &Error) -> bool {
    match error {
        // The message's content, not the relay: 8-bit or NUL octets the
        // declared body type does not allow, a body the caller abandoned.
        Error::Session(SessionError::ContentNotAllowed(_) | SessionError::BodyAborted) => false,
        Error::Io(_)
        | Error::Session(_)
        | Error::Proxy(_)
        | Error::TlsConfig(_)
        | Error::AuthConfig(_)
        | Error::Poisoned => true,
        #[cfg(feature = "oauth2")]
        Error::Token(_) => true,
        Error::Send { cause, .. } => cause.as_deref().is_none_or(relay_failure),
        _ => false,
    }
}

/// A rate: at most `count` messages per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many.
    pub count: u32,
    /// In what window.
    pub per: Duration,
}

impl Rate {
    /// `count` per second.
    pub fn per_second(count: u32) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(1),
        }
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Rate {
        Rate {
            count,
            per: Duration::from_secs(60),
        }
    }
}

/// A token bucket for one [`Rate`]: `count` tokens, refilled evenly over
/// `per`, one taken per message. Sans-IO: the caller passes the time and
/// waits as told.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Rate,
    tokens: f64,
    at: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate) -> TokenBucket {
        TokenBucket {
            rate,
            tokens: f64::from(rate.count),
            at: None,
        }
    }

    /// Takes a token now, or says when one will be there.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        self.ready(now)?;
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether a token is there now (refilled up to now), or when one
    /// will be; takes none.
    pub fn ready(&mut self, now: Instant) -> Result<(), Instant> {
        let capacity = f64::from(self.rate.count.max(1));
        let per_token = self.rate.per.as_secs_f64() / capacity;
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() / per_token;
            self.tokens = (self.tokens + refill).min(capacity);
        }
        self.at = Some(self.at.map_or(now, |at| at.max(now)));
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) * per_token))
        }
    }
}

/// Where a relay set asks for a slot before each message it sends
/// through a relay. The in-process [`LocalRateLimiter`] is the default;
/// programs that send from several processes implement this over a store
/// they share (a Redis `INCR` with an expiry per relay and window, say:
/// `Ok` while the count is under the limit, else the window's end), so
/// that the relay's limit holds for all of them together.
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Takes a slot for one message through `relay` (its name, as
    /// [`Relay::name`]) now, or says when to ask again. Called from
    /// blocking and async code alike: it must not block for long.
    ///
    /// # Errors
    /// `Err(when)`: no slot until then.
    fn acquire(&self, relay: &str, now: Instant) -> Result<(), Instant>;
}

/// The default [`RateLimiter`]: token buckets in this process, one per
/// relay and [`Rate`], shared by every task and thread that uses the
/// relay set. A message takes a token from each of its relay's buckets,
/// or from none.
#[derive(Debug, Default)]
pub struct LocalRateLimiter {
    rates: Vec<(String, Rate)>,
    buckets: std::sync::Mutex<std::collections::HashMap<String, Vec<TokenBucket>>>,
}

impl LocalRateLimiter {
    /// No limits.
    pub fn new() -> LocalRateLimiter {
        LocalRateLimiter::default()
    }

    /// Limits `relay` to `rate` too.
    #[must_use]
    pub fn limit(mut self, relay: impl Into<String>, rate: Rate) -> LocalRateLimiter {
        self.rates.push((relay.into(), rate));
        self
    }
}

impl RateLimiter for LocalRateLimiter {
    fn acquire(&self, relay: &str, now: Instant) -> Result<(), Instant> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let buckets = buckets.entry(relay.to_owned()).or_insert_with(|| {
            self.rates
                .iter()
                .filter(|(r, _)| r == relay)
                .map(|(_, rate)| TokenBucket::new(*rate))
                .collect()
        });
        // All or none: a message waits for the slowest bucket.
        if let Some(at) = buckets.iter_mut().filter_map(|b| b.ready(now).err()).max() {
            return Err(at);
        }
        for bucket in buckets.iter_mut() {
            let _ = bucket.take(now);
        }
        Ok(())
    }
}

/// One relay of a set: its name (for reports and rate limits), its
/// settings, and its rates.
#[derive(Debug, Clone)]
pub struct Relay {
    /// What reports call it: `host:port` (or the Unix socket's path) by
    /// default.
    pub name: String,
    /// How to reach it, as for a single client.
    pub settings: crate::ClientSettings,
    /// Limits on how many messages go through it.
    pub rates: Vec<Rate>,
}

impl Relay {
    /// A relay for `settings`, named after its server.
    pub fn new(settings: crate::ClientSettings) -> Relay {
        let name = match &settings.unix_socket {
            Some(path) => path.display().to_string(),
            None => format!("{}:{}", settings.host, settings.port()),
        };
        Relay {
            name,
            settings,
            rates: Vec::new(),
        }
    }

    /// At most `rate` through it.
    #[must_use]
    pub fn with_rate(mut self, rate: Rate) -> Relay {
        self.rates.push(rate);
        self
    }

    /// Another name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Relay {
        self.name = name.into();
        self
    }
}

/// An ordered list of relays, tried in order, with the policy and the
/// rate limiter they share.
#[derive(Debug, Clone)]
pub struct RelaySet {
    relays: Vec<Relay>,
    policy: RelayPolicy,
    limiter: std::sync::Arc<dyn RateLimiter>,
}

impl RelaySet {
    /// The relays, first preferred; their rates go to a
    /// [`LocalRateLimiter`].
    pub fn new(relays: impl IntoIterator<Item = Relay>) -> RelaySet {
        let relays: Vec<Relay> = relays.into_iter().collect();
        let mut limiter = LocalRateLimiter::new();
        for relay in &relays {
            for rate in &relay.rates {
                limiter = limiter.limit(relay.name.clone(), *rate);
            }
        }
        RelaySet {
            relays,
            policy: RelayPolicy::default(),
            limiter: std::sync::Arc::new(limiter),
        }
    }

    /// With this policy.
    #[must_use]
    pub fn with_policy(mut self, policy: RelayPolicy) -> RelaySet {
        self.policy = policy;
        self
    }

    /// With a rate limiter of the caller's (shared between processes); the
    /// relays' own rates are then the limiter's business.
    #[must_use]
    pub fn with_rate_limiter(mut self, limiter: std::sync::Arc<dyn RateLimiter>) -> RelaySet {
        self.limiter = limiter;
        self
    }

    /// The relays, in order.
    pub fn relays(&self) -> &[Relay] {
        &self.relays
    }

    /// The policy.
    pub fn policy(&self) -> &RelayPolicy {
        &self.policy
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &std::sync::Arc<dyn RateLimiter> {
        &self.limiter
    }

    /// What each relay's connection pool is made with, in order: the
    /// relay's settings, sending partially (`mail.smtp.sendpartial`: the
    /// recipients a relay takes get the message now, the ones it refuses
    /// for now wait for their retry; all-or-nothing would hold every
    /// recipient hostage to the slowest), and `config` without retries of
    /// its own (the relay set decides them).
    pub fn pools(
        &self,
        config: crate::PoolConfig,
    ) -> impl Iterator<Item = (crate::ClientSettings, crate::PoolConfig)> + '_ {
        self.relays.iter().map(move |relay| {
            let mut settings = relay.settings.clone();
            settings.session.send_partial = true;
            (settings, config.with_retries(0))
        })
    }
}

/// One recipient in a [`RelayReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayedRecipient {
    /// The address.
    pub address: Address,
    /// What became of it.
    pub outcome: Outcome,
    /// The name of the relay its outcome came from, if one.
    pub relay: Option<String>,
}

/// What a relay set did with one message: every recipient's outcome and
/// the relay it came from, the sessions lost on the way, and how many
/// sends and rate-limit waits it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayReport {
    /// Every recipient, in envelope order.
    pub recipients: Vec<RelayedRecipient>,
    /// The sessions lost, in order: the relay's name and why. When every
    /// recipient is deferred with no reply, this is why (every relay's
    /// reason).
    pub failures: Vec<(String, String)>,
    /// How many sends the message took.
    pub sends: u32,
    /// How many times it waited for a rate-limit slot, and how long in all.
    pub rate_waits: u32,
    /// The time spent waiting for slots.
    pub rate_waited: Duration,
}

impl RelayReport {
    /// Whether every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Delivered { .. }))
    }

    /// How many relays it failed over from (sessions lost).
    pub fn failovers(&self) -> usize {
        self.failures.len()
    }
}

/// What a relay pool does next for one message.
#[derive(Debug)]
pub enum RelayAction {
    /// Send the message to `envelope` (the remaining recipients) through
    /// relay `relay`.
    Send {
        /// The relay's index.
        relay: usize,
        /// The envelope for this send.
        envelope: Envelope,
    },
    /// Sleep until then (a backoff, a cool-down, a rate-limit slot), then
    /// ask again.
    Sleep(Instant),
    /// Every recipient has its outcome.
    Done(RelayReport),
}

/// One message through a relay set: the loop every relay pool runs,
/// blocking or async. [`next`](Self::next) says what to do;
/// [`on_result`](Self::on_result) takes what a send returned.
#[derive(Debug)]
pub struct RelaySend<'s> {
    set: &'s RelaySet,
    envelope: Envelope,
    plan: RecipientPlan,
    rate_waits: u32,
    rate_waited: Duration,
    waiting_since: Option<Instant>,
}

impl<'s> RelaySend<'s> {
    /// `envelope` through `set`.
    pub fn new(set: &'s RelaySet, envelope: Envelope) -> RelaySend<'s> {
        RelaySend {
            plan: RecipientPlan::new(&envelope),
            set,
            envelope,
            rate_waits: 0,
            rate_waited: Duration::ZERO,
            waiting_since: None,
        }
    }

    /// What to do now, given the set's breakers.
    pub fn next(&mut self, breakers: &Breakers, now: Instant) -> RelayAction {
        match self.plan.next(breakers, &self.set.policy, now) {
            Step::Done => RelayAction::Done(self.report()),
            Step::Wait(at) => RelayAction::Sleep(at),
            Step::Send { relay, recipients } => {
                let name = self.set.relays.get(relay).map_or("", |r| r.name.as_str());
                if let Err(at) = self.set.limiter.acquire(name, now) {
                    if self.waiting_since.is_none() {
                        self.waiting_since = Some(now);
                        self.rate_waits += 1;
                    }
                    return RelayAction::Sleep(at);
                }
                if let Some(since) = self.waiting_since.take() {
                    self.rate_waited += now.saturating_duration_since(since);
                }
                let mut envelope = self.envelope.clone();
                envelope.recipients = recipients;
                RelayAction::Send { relay, envelope }
            }
        }
    }

    /// The result of the send [`next`](Self::next) asked for.
    pub fn on_result(
        &mut self,
        relay: usize,
        result: &Result<DeliveryReport, Error>,
        breakers: &mut Breakers,
        now: Instant,
    ) {
        self.plan
            .on_result(relay, result, breakers, &self.set.policy, now);
    }

    fn report(&self) -> RelayReport {
        let name = |relay: usize| self.set.relays.get(relay).map(|r| r.name.clone());
        RelayReport {
            recipients: self
                .plan
                .outcomes()
                .filter_map(|(address, outcome)| {
                    let outcome = outcome?.clone();
                    Some(RelayedRecipient {
                        address: address.clone(),
                        relay: outcome.relay().and_then(name),
                        outcome,
                    })
                })
                .collect(),
            failures: self
                .plan
                .failures()
                .iter()
                .map(|(relay, why)| (name(*relay).unwrap_or_default(), why.clone()))
                .collect(),
            sends: self.plan.sends(),
            rate_waits: self.rate_waits,
            rate_waited: self.rate_waited,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpkit_proto::{MessageId, RecipientReport, ReplyCode, UnsentReason};

    fn address(a: &str) -> Address {
        Address::parse(a).unwrap()
    }

    fn reply(code: u16) -> Reply {
        Reply::empty(ReplyCode::new(code).unwrap())
    }

    fn envelope(rcpts: &[&str]) -> Envelope {
        Envelope::new(address("me@example.org"), rcpts.iter().map(|r| address(r)))
    }

    fn report(
        statuses: &[(&str, RecipientStatus)],
        failure: Option<FailureKind>,
    ) -> DeliveryReport {
        let mut r = DeliveryReport::new(
            MessageId(0),
            statuses
                .iter()
                .map(|(a, s)| RecipientReport::new(address(a), s.clone()))
                .collect(),
            None,
        );
        if let Some(f) = failure {
            r = r.with_failure(f);
        }
        r
    }

    fn send_step(
        plan: &mut RecipientPlan,
        b: &Breakers,
        p: &RelayPolicy,
        now: Instant,
    ) -> (usize, Vec<String>) {
        match plan.next(b, p, now) {
            Step::Send { relay, recipients } => (
                relay,
                recipients.iter().map(|r| r.address.to_string()).collect(),
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    // The test is the clock: one origin instant, every other derived.
    #[allow(clippy::disallowed_methods)]
    fn a_relay_that_cannot_be_reached_is_skipped_and_the_next_takes_all() {
        let p = RelayPolicy::default();
        let mut b = Breakers::new(3);
        let now = Instant::now();
        let mut plan = RecipientPlan::new(&envelope(&["a@x.org", "b@x.org"]));
        assert_eq!(send_step(&mut plan, &b, &p, now).0, 0);
        let refused = Err(Error::Io(std::io::ErrorKind::ConnectionRefused.into()));
        plan.on_result(0, &refused, &mut b, &p, now);
        assert!(b.is_open(0, now));
        assert!(
            b.reason(0).unwrap().contains("refused"),
            "{:?}",
            b.reason(0)
        );
        let (relay, rcpts) = send_step(&mut plan, &b, &p, now);
        assert_eq!((relay, rcpts.len()), (1, 2));
        plan.on_result(
            1,
            &Ok(report(
                &[
                    ("a@x.org", RecipientStatus::Delivered(reply(250))),
                    ("b@x.org", RecipientStatus::Delivered(reply(250))),
                ],
                None,
            )),
            &mut b,
            &p,
            now,
        );
        assert_eq!(plan.next(&b, &p, now), Step::Done);
        assert!(
            plan.outcomes()
                .all(|(_, o)| matches!(o, Some(Outcome::Delivered { relay: 1, .. })))
        );
        // The next message skips relay 0 until the cool-down ends.
        let mut next = RecipientPlan::new(&envelope(&["c@x.org"]));
        assert_eq!(send_step(&mut next, &b, &p, now).0, 1);
        let mut later = RecipientPlan::new(&envelope(&["c@x.org"]));
        assert_eq!(send_step(&mut later, &b, &p, now + p.cool_down).0, 0);
        assert_eq!(b.trips(0), 1);
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn deferred_recipients_retry_on_the_same_relay_and_delivered_ones_are_never_resent() {
        let p = RelayPolicy::default();
        let mut b = Breakers::new(2);
        let now = Instant::now();
        let mut plan = RecipientPlan::new(&envelope(&["a@x.org", "b@x.org", "c@x.org", "a@x.org"]));
        let (_, rcpts) = send_step(&mut plan, &b, &p, now);
        assert_eq!(
            rcpts,
            ["a@x.org", "b@x.org", "c@x.org"],
            "a duplicate is sent once"
        );
        plan.on_result(
            0,
            &Ok(report(
                &[
                    ("a@x.org", RecipientStatus::Delivered(reply(250))),
                    ("b@x.org", RecipientStatus::Rejected(reply(452))),
                    ("c@x.org", RecipientStatus::Rejected(reply(550))),
                ],
                None,
            )),
            &mut b,
            &p,
            now,
        );
        assert_eq!(plan.next(&b, &p, now), Step::Wait(now + p.backoff));
        let t = now + p.backoff;
        assert_eq!(
            send_step(&mut plan, &b, &p, t),
            (0, vec!["b@x.org".to_owned()])
        );
        plan.on_result(
            0,
            &Ok(report(
                &[("b@x.org", RecipientStatus::Rejected(reply(451)))],
                None,
            )),
            &mut b,
            &p,
            t,
        );
        // Doubled backoff.
        assert_eq!(plan.next(&b, &p, t), Step::Wait(t + p.backoff * 2));
        let t = t + p.backoff * 2;
        assert_eq!(send_step(&mut plan, &b, &p, t).1, ["b@x.org"]);
        plan.on_result(
            0,
            &Ok(report(
                &[("b@x.org", RecipientStatus::Delivered(reply(250)))],
                None,
            )),
            &mut b,
            &p,
            t,
        );
        assert_eq!(plan.next(&b, &p, t), Step::Done);
        assert!(matches!(
            plan.outcome(&address("c@x.org")),
            Some(Outcome::Rejected { .. })
        ));
        assert!(matches!(
            plan.outcome(&address("b@x.org")),
            Some(Outcome::Delivered { relay: 0, .. })
        ));
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn after_the_end_of_data_nothing_is_resent_unless_asked() {
        let now = Instant::now();
        for resend in [false, true] {
            let p = RelayPolicy::default().with_resend_unknown(resend);
            let mut b = Breakers::new(2);
            let mut plan = RecipientPlan::new(&envelope(&["a@x.org", "b@x.org"]));
            send_step(&mut plan, &b, &p, now);
            let lost = Err(Error::Send {
                report: Box::new(report(
                    &[
                        ("a@x.org", RecipientStatus::AcceptedUnsent(reply(250))),
                        ("b@x.org", RecipientStatus::Rejected(reply(550))),
                    ],
                    Some(FailureKind::ConnectionLost {
                        data_sent: true,
                        reply: None,
                    }),
                )),
                cause: None,
            });
            plan.on_result(0, &lost, &mut b, &p, now);
            assert!(b.is_open(0, now), "a lost connection skips the relay");
            if resend {
                assert_eq!(
                    send_step(&mut plan, &b, &p, now),
                    (1, vec!["a@x.org".to_owned()])
                );
            } else {
                assert_eq!(plan.next(&b, &p, now), Step::Done);
                assert_eq!(
                    plan.outcome(&address("a@x.org")),
                    Some(&Outcome::Unknown { relay: 0 })
                );
            }
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn lost_before_the_end_of_data_goes_to_the_next_relay() {
        let p = RelayPolicy::default();
        let mut b = Breakers::new(2);
        let now = Instant::now();
        let mut plan = RecipientPlan::new(&envelope(&["a@x.org", "b@x.org"]));
        send_step(&mut plan, &b, &p, now);
        let lost = Err(Error::Send {
            report: Box::new(report(
                &[
                    ("a@x.org", RecipientStatus::AcceptedUnsent(reply(250))),
                    (
                        "b@x.org",
                        RecipientStatus::Unsent(UnsentReason::ConnectionLost),
                    ),
                ],
                Some(FailureKind::ConnectionLost {
                    data_sent: false,
                    reply: None,
                }),
            )),
            cause: None,
        });
        plan.on_result(0, &lost, &mut b, &p, now);
        assert_eq!(send_step(&mut plan, &b, &p, now).1, ["a@x.org", "b@x.org"]);
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn every_relay_down_waits_then_ends_deferred_with_each_reason() {
        let p = RelayPolicy::default().with_max_attempts(2);
        let mut b = Breakers::new(2);
        let now = Instant::now();
        let mut plan = RecipientPlan::new(&envelope(&["a@x.org"]));
        for relay in 0..2 {
            assert_eq!(send_step(&mut plan, &b, &p, now).0, relay);
            let greeting = Err(Error::Session(SessionError::ServiceClosing(reply(421))));
            plan.on_result(relay, &greeting, &mut b, &p, now);
        }
        assert_eq!(plan.next(&b, &p, now), Step::Done, "two attempts spent");
        assert!(matches!(
            plan.outcome(&address("a@x.org")),
            Some(Outcome::Deferred {
                attempts: 2,
                reply: None,
                ..
            })
        ));
        assert!(b.reason(0).unwrap().contains("421") && b.reason(1).unwrap().contains("421"));
        // With attempts left, the plan waits for the first relay back.
        let p = RelayPolicy::default();
        let mut plan = RecipientPlan::new(&envelope(&["a@x.org"]));
        assert_eq!(plan.next(&b, &p, now), Step::Wait(now + p.cool_down));
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_message_no_relay_can_send_fails_at_once() {
        let p = RelayPolicy::default();
        let mut b = Breakers::new(2);
        let now = Instant::now();
        let mut plan = RecipientPlan::new(&envelope(&["a@x.org"]));
        send_step(&mut plan, &b, &p, now);
        let e = Err(Error::Message(crate::message::MessageError::LineTooLong {
            line: 3,
            length: 2000,
        }));
        plan.on_result(0, &e, &mut b, &p, now);
        assert_eq!(plan.next(&b, &p, now), Step::Done);
        assert!(!b.is_open(0, now));
        assert!(matches!(
            plan.outcome(&address("a@x.org")),
            Some(Outcome::Failed { .. })
        ));
        // A body the caller abandoned is the message's failure, not the
        // relay's: no breaker trips.
        let mut plan = RecipientPlan::new(&envelope(&["b@x.org"]));
        send_step(&mut plan, &b, &p, now);
        let aborted = Err(Error::Session(SessionError::BodyAborted));
        plan.on_result(0, &aborted, &mut b, &p, now);
        assert!(!b.is_open(0, now));
        assert!(matches!(
            plan.outcome(&address("b@x.org")),
            Some(Outcome::Failed { .. })
        ));
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_token_bucket_spaces_messages_evenly() {
        let now = Instant::now();
        let mut bucket = TokenBucket::new(Rate::per_second(10));
        for _ in 0..10 {
            assert_eq!(bucket.take(now), Ok(()));
        }
        assert_eq!(bucket.take(now), Err(now + Duration::from_millis(100)));
        let t = now + Duration::from_millis(100);
        assert_eq!(bucket.take(t), Ok(()));
        // Over a minute of steady asking: 10/s, plus the first burst.
        let mut taken = 0;
        let mut t = t;
        let end = now + Duration::from_secs(60);
        while t < end {
            match bucket.take(t) {
                Ok(()) => taken += 1,
                Err(at) => t = at,
            }
        }
        assert!((598..=600).contains(&taken), "{taken}");
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn the_local_limiter_holds_every_rate_of_a_relay_and_no_other() {
        let now = Instant::now();
        let limiter = LocalRateLimiter::new()
            .limit("a:25", Rate::per_second(5))
            .limit("a:25", Rate::per_minute(6));
        for _ in 0..5 {
            assert_eq!(limiter.acquire("a:25", now), Ok(()));
        }
        assert_eq!(
            limiter.acquire("a:25", now),
            Err(now + Duration::from_millis(200))
        );
        let t = now + Duration::from_millis(200);
        assert_eq!(
            limiter.acquire("a:25", t),
            Ok(()),
            "the sixth of the minute"
        );
        let t = now + Duration::from_secs(1);
        let Err(at) = limiter.acquire("a:25", t) else {
            panic!("the minute's six are spent")
        };
        assert!(at >= now + Duration::from_secs(9), "{:?}", at - now);
        for _ in 0..100 {
            assert_eq!(limiter.acquire("b:25", now), Ok(()), "unlimited");
        }
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn a_relay_send_waits_for_its_slot_and_reports_names() {
        let relay = |host: &str| {
            let mut s = crate::ClientSettings::dangerous_plaintext(host);
            s.port = Some(2525);
            Relay::new(s).with_rate(Rate::per_second(1))
        };
        let set = RelaySet::new([relay("first.test"), relay("second.test")]);
        let now = Instant::now();
        let mut breakers = Breakers::new(2);
        let mut first = RelaySend::new(&set, envelope(&["a@x.org"]));
        let RelayAction::Send {
            relay: 0,
            envelope: e,
        } = first.next(&breakers, now)
        else {
            panic!()
        };
        assert_eq!(e.recipients.len(), 1);
        let delivered = report(&[("a@x.org", RecipientStatus::Delivered(reply(250)))], None);
        first.on_result(0, &Ok(delivered), &mut breakers, now);
        let RelayAction::Done(done) = first.next(&breakers, now) else {
            panic!()
        };
        assert!(done.all_delivered());
        assert_eq!(done.recipients[0].relay.as_deref(), Some("first.test:2525"));
        // The second message waits a second for first.test's slot.
        let mut second = RelaySend::new(&set, envelope(&["b@x.org"]));
        let RelayAction::Sleep(at) = second.next(&breakers, now) else {
            panic!()
        };
        assert_eq!(at, now + Duration::from_secs(1));
        let RelayAction::Send { relay: 0, .. } = second.next(&breakers, at) else {
            panic!()
        };
        let lost = Err(Error::Io(std::io::ErrorKind::ConnectionReset.into()));
        second.on_result(0, &lost, &mut breakers, at);
        let RelayAction::Send { relay: 1, .. } = second.next(&breakers, at) else {
            panic!()
        };
        let delivered = report(&[("b@x.org", RecipientStatus::Delivered(reply(250)))], None);
        second.on_result(1, &Ok(delivered), &mut breakers, at);
        let RelayAction::Done(done) = second.next(&breakers, at) else {
            panic!()
        };
        assert_eq!(
            done.recipients[0].relay.as_deref(),
            Some("second.test:2525")
        );
        assert_eq!((done.sends, done.failovers(), done.rate_waits), (2, 1, 1));
        assert_eq!(done.rate_waited, Duration::from_secs(1));
        assert_eq!(done.failures[0].0, "first.test:2525");
    }
}
