//! Chaos mode: faults at random, from a seed, at rates per fault — for
//! soaks that check that no message is lost, duplicated or contradicted.

use std::sync::atomic::{AtomicU64, Ordering};

/// Fault rates (each a probability per opportunity) and the seed that
/// makes a run repeatable. Built with [`Chaos::new`], then field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Chaos {
    /// Seeds every connection's generator (with its index).
    pub seed: u64,
    /// Per command: the connection drops instead of a reply.
    pub drop: f64,
    /// Per command: `421` and the connection closes.
    pub service_closing: f64,
    /// Per command: a malformed reply (`2500 …`), then the server closes.
    pub malformed: f64,
    /// Per command: no reply ever (the client's deadline must fire).
    pub withhold: f64,
    /// Per RCPT: `450` (temporary) or `550` (permanent), even odds.
    pub refuse_recipient: f64,
    /// Per message body: the connection drops midway (nothing stored).
    pub drop_mid_data: f64,
    /// Per end of data, each: drop before storing; store then drop before
    /// the reply (stored, not acknowledged); store, acknowledge, drop; a
    /// `451` (not stored).
    pub end_of_data: f64,
}

impl Chaos {
    /// No fault at all, until rates are set.
    pub fn new(seed: u64) -> Chaos {
        Chaos {
            seed,
            drop: 0.0,
            service_closing: 0.0,
            malformed: 0.0,
            withhold: 0.0,
            refuse_recipient: 0.0,
            drop_mid_data: 0.0,
            end_of_data: 0.0,
        }
    }

    /// Every rate scaled from one: `rate` per command for the connection
    /// faults (drops and 421s; malformed replies and withheld replies at a
    /// tenth), per recipient for refusals and per message for the data
    /// faults.
    pub fn uniform(seed: u64, rate: f64) -> Chaos {
        Chaos {
            seed,
            drop: rate,
            service_closing: rate,
            malformed: rate / 10.0,
            withhold: rate / 10.0,
            refuse_recipient: rate,
            drop_mid_data: rate,
            end_of_data: rate,
        }
    }
}

/// The faults a chaotic server injects, counted by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// Dropped instead of replying to a command.
    Drop,
    /// Answered a command with 421 and closed.
    ServiceClosing,
    /// Answered a command with a malformed reply and closed.
    Malformed,
    /// Never answered a command.
    Withhold,
    /// Refused a recipient with 450.
    RecipientTemporary,
    /// Refused a recipient with 550.
    RecipientPermanent,
    /// Dropped in the middle of a body.
    DropMidData,
    /// Dropped at the end of data before storing.
    DropBeforeStore,
    /// Stored the message, then dropped before acknowledging it.
    StoredUnacknowledged,
    /// Stored and acknowledged the message, then dropped.
    DropAfterAcknowledge,
    /// Answered the end of data with 451 (not stored).
    TemporaryAtEndOfData,
}

impl Fault {
    /// Every kind, in a stable order.
    pub const ALL: [Fault; 11] = [
        Fault::Drop,
        Fault::ServiceClosing,
        Fault::Malformed,
        Fault::Withhold,
        Fault::RecipientTemporary,
        Fault::RecipientPermanent,
        Fault::DropMidData,
        Fault::DropBeforeStore,
        Fault::StoredUnacknowledged,
        Fault::DropAfterAcknowledge,
        Fault::TemporaryAtEndOfData,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Drop => "drop",
            Fault::ServiceClosing => "421",
            Fault::Malformed => "malformed reply",
            Fault::Withhold => "reply withheld",
            Fault::RecipientTemporary => "rcpt 450",
            Fault::RecipientPermanent => "rcpt 550",
            Fault::DropMidData => "drop mid-data",
            Fault::DropBeforeStore => "drop at end of data",
            Fault::StoredUnacknowledged => "stored, not acknowledged",
            Fault::DropAfterAcknowledge => "drop after acknowledging",
            Fault::TemporaryAtEndOfData => "451 at end of data",
        }
    }

    fn index(self) -> usize {
        Fault::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }
}

/// Fault counters shared by a server's connections.
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; 11]);

impl Counters {
    pub(crate) fn count(&self, fault: Fault) {
        self.0[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Vec<(Fault, u64)> {
        Fault::ALL
            .iter()
            .map(|f| (*f, self.0[f.index()].load(Ordering::Relaxed)))
            .collect()
    }
}

/// xorshift64*: deterministic per seed, no dependency.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64, connection: u64) -> Rng {
        let mixed = seed ^ connection.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Rng(mixed.max(1))
    }

    /// A float in [0, 1).
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn hit(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.next() < rate
    }
}
