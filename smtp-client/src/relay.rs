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
    Address, DeliveryReport, Envelope, FailureKind, Recipient, RecipientStatus, Reply,
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
        self.retry = None;
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
                breakers.trip(relay, error.chain(), now, policy);
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
            breakers.trip(relay, reason, now, policy);
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
                RecipientStatus::AcceptedUnsent(_) if data_sent && !policy.resend_unknown => {
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
            breakers.trip(relay, reason, now, policy);
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
        let capacity = f64::from(self.rate.count.max(1));
        let per_token = self.rate.per.as_secs_f64() / capacity;
        if let Some(at) = self.at {
            let refill = now.saturating_duration_since(at).as_secs_f64() / per_token;
            self.tokens = (self.tokens + refill).min(capacity);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(now + Duration::from_secs_f64((1.0 - self.tokens) * per_token))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpkit_proto::{MessageId, RecipientReport, ReplyCode, SessionError, UnsentReason};

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
}
