//! What every connection pool decides (the async pool in `smtp-async`, the
//! blocking one in `smtp-blocking`), once: whether an idle connection is
//! reused as it is, probed first, or retired; when a connection has done
//! its share; and which failed sends are tried again on a fresh
//! connection, after how long.

use std::time::{Duration, Instant};

use smtpkit_proto::{FailureKind, SessionError};

use crate::error::Error;

/// How a pool behaves: [`PoolConfig::default`], then the `with_*`
/// setters.
///
/// ```
/// use std::time::Duration;
/// use smtpkit_client::PoolConfig;
///
/// let config = PoolConfig::default()
///     .with_max_connections(8)
///     .with_idle_timeout(Duration::from_secs(30));
/// assert_eq!((config.max_connections, config.retries), (8, 2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// At most this many connections at once (default 4).
    pub max_connections: usize,
    /// An idle connection older than this is closed (QUIT) instead of
    /// reused (default 60 s).
    pub idle_timeout: Duration,
    /// A connection used within this long is reused without a probe; one
    /// idle longer is probed (NOOP, or RSET with `mail.smtp.userset`)
    /// first (default 30 s). `Duration::ZERO` probes before every reuse.
    pub probe_after: Duration,
    /// Probe at all before reuse (default true).
    pub check_before_reuse: bool,
    /// A connection that has sent this many messages is retired (QUIT),
    /// as is one that reached the server's LIMITS MAILMAX (default 100).
    pub max_messages_per_connection: usize,
    /// `Pool::maintain` keeps at least this many idle connections open
    /// (default 0).
    pub min_idle: usize,
    /// How many times a send is tried again on a fresh connection after a
    /// transient failure before its end of data was written (default 2).
    pub retries: u32,
    /// The wait before the first retry; it doubles for each further one
    /// (default 200 ms).
    pub retry_backoff: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_connections: 4,
            idle_timeout: Duration::from_secs(60),
            probe_after: Duration::from_secs(30),
            check_before_reuse: true,
            max_messages_per_connection: 100,
            min_idle: 0,
            retries: 2,
            retry_backoff: Duration::from_millis(200),
        }
    }
}

/// `PoolConfig` builder-style setters (the struct is `#[non_exhaustive]`,
/// so `PoolConfig { .., ..Default::default() }` cannot be written outside
/// this crate).
macro_rules! setters {
    ($($setter:ident => $field:ident: $ty:ty),* $(,)?) => {
        impl PoolConfig {
            $(
                #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
                #[must_use]
                pub fn $setter(mut self, value: $ty) -> PoolConfig {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    with_max_connections => max_connections: usize,
    with_idle_timeout => idle_timeout: Duration,
    with_probe_after => probe_after: Duration,
    with_check_before_reuse => check_before_reuse: bool,
    with_max_messages_per_connection => max_messages_per_connection: usize,
    with_min_idle => min_idle: usize,
    with_retries => retries: u32,
    with_retry_backoff => retry_backoff: Duration,
}

/// What to do with an idle connection taken from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reuse {
    /// Use it as it is: it was used a moment ago.
    Use,
    /// Check it first (NOOP or RSET); use it if it answers.
    Probe,
    /// Close it (QUIT) and take another.
    Retire,
}

impl PoolConfig {
    /// What to do with a connection idle since `since`, now.
    pub fn reuse(&self, since: Instant, now: Instant) -> Reuse {
        let idle = now.saturating_duration_since(since);
        if idle > self.idle_timeout {
            Reuse::Retire
        } else if self.check_before_reuse && idle >= self.probe_after {
            Reuse::Probe
        } else {
            Reuse::Use
        }
    }

    /// Whether a connection that has sent `sent` messages has done its
    /// share, given the server's LIMITS MAILMAX.
    pub fn spent(&self, sent: u64, mail_max: Option<u32>) -> bool {
        let cap = mail_max.map_or(self.max_messages_per_connection as u64, |m| {
            u64::from(m).min(self.max_messages_per_connection as u64)
        });
        sent >= cap.max(1)
    }

    /// Whether a send that failed with `error` on its `attempt`-th try
    /// (0 for the first) is tried again on a fresh connection, and after
    /// how long. Only failures that left the message certainly
    /// undelivered and may pass: the connection could not be made or was
    /// lost, or the server said 421, before the end of data was written.
    /// Never after the end of data was written (RFC 5321 §4.1.1.4: the
    /// message may have been delivered), never after a refusal.
    pub fn retry_after(&self, error: &Error, attempt: u32) -> Option<Duration> {
        self.retry_after_attempt(error, attempt)
    }

    /// A pool's send loop in one call: after `result` of attempt
    /// `*attempt`, how long to wait before the next one (`None`: `result`
    /// is final), counting the attempt. A body that cannot be read again
    /// (`replayable` false: a stream) is tried once.
    pub fn next_attempt<T>(
        &self,
        result: &Result<T, Error>,
        replayable: bool,
        attempt: &mut u32,
    ) -> Option<Duration> {
        let wait = match result {
            Err(error) if replayable => self.retry_after_attempt(error, *attempt)?,
            _ => return None,
        };
        *attempt += 1;
        Some(wait)
    }

    fn retry_after_attempt(&self, error: &Error, attempt: u32) -> Option<Duration> {
        if attempt >= self.retries || !retryable(error) {
            return None;
        }
        Some(self.retry_backoff.saturating_mul(1 << attempt.min(16)))
    }
}

fn retryable(error: &Error) -> bool {
    match error {
        Error::Io(_) => true,
        Error::Session(e) => connection_level(e),
        Error::Send { report, cause } => match report.failure {
            Some(FailureKind::ConnectionLost {
                data_sent: false, ..
            }) => true,
            // Never connected: retry only what retrying can mend.
            Some(FailureKind::NotConnected) => cause.as_deref().is_none_or(retryable),
            _ => false,
        },
        _ => false,
    }
}

/// A session error that is about the connection, not about the message or
/// the credentials.
fn connection_level(e: &SessionError) -> bool {
    matches!(
        e,
        SessionError::ServiceClosing(_)
            | SessionError::ConnectionClosed { .. }
            | SessionError::Io { .. }
            | SessionError::Timeout { .. }
    ) || matches!(e, SessionError::Rejected(r) if r.is_transient())
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpkit_proto::{DeliveryReport, MessageId};

    fn lost(data_sent: bool) -> Error {
        Error::Send {
            report: Box::new(
                DeliveryReport::new(MessageId(0), Vec::new(), None).with_failure(
                    FailureKind::ConnectionLost {
                        data_sent,
                        reply: None,
                    },
                ),
            ),
            cause: None,
        }
    }

    #[test]
    // The test is the clock: one origin instant, every other derived.
    #[allow(clippy::disallowed_methods)]
    fn probes_only_after_the_window_and_retires_after_the_timeout() {
        let c = PoolConfig::default();
        let t = Instant::now();
        assert_eq!(c.reuse(t, t + Duration::from_secs(1)), Reuse::Use);
        assert_eq!(c.reuse(t, t + Duration::from_secs(31)), Reuse::Probe);
        assert_eq!(c.reuse(t, t + Duration::from_secs(61)), Reuse::Retire);
        let always = PoolConfig {
            probe_after: Duration::ZERO,
            ..c
        };
        assert_eq!(always.reuse(t, t), Reuse::Probe);
    }

    #[test]
    fn spent_counts_messages_and_mailmax() {
        let c = PoolConfig::default();
        assert!(!c.spent(99, None) && c.spent(100, None));
        assert!(c.spent(10, Some(10)) && !c.spent(9, Some(10)));
        assert!(c.spent(1, Some(0)));
    }

    #[test]
    fn retries_only_before_the_end_of_data() {
        let c = PoolConfig::default();
        assert_eq!(
            c.retry_after(&lost(false), 0),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            c.retry_after(&lost(false), 1),
            Some(Duration::from_millis(400))
        );
        assert_eq!(c.retry_after(&lost(false), 2), None, "budget spent");
        assert_eq!(
            c.retry_after(&lost(true), 0),
            None,
            "may have been delivered"
        );
        let io = Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert!(c.retry_after(&io, 0).is_some());
        let refused = Error::Message(crate::message::MessageError::NoRecipients);
        assert_eq!(c.retry_after(&refused, 0), None);
    }
}
