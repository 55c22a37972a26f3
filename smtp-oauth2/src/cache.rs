//! The cache every connection asks for a token: it renews before expiry
//! and lets one caller at a time ask the source.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{AccessToken, AsyncTokenSource, TokenError, TokenSource};

/// How long before its expiry a token is renewed, at most: one minute,
/// enough for a connection to be made and authenticated with it. A token
/// that lives less than ten minutes is renewed when a tenth of its
/// lifetime is left instead, so that a short-lived token is not renewed
/// on every connection.
pub const DEFAULT_RENEWAL_MARGIN: Duration = Duration::from_secs(60);

/// The monotonic clock the cache measures lifetimes with.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The operating system's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A shared, renewing cache of one access token. Clones share it: give
/// one to every client, pool and task that authenticates as the same
/// account.
///
/// - A token is handed out until its renewal time (the margin before its
///   expiry, [`DEFAULT_RENEWAL_MARGIN`]); then the next caller asks the
///   source.
/// - Renewals are coalesced: while one caller asks the source, the others
///   wait for its answer, whether token or error. A thousand connections
///   that find the token stale cause one request, and an unreachable
///   endpoint is asked once per wave, not once per connection.
/// - [`invalidate`](Self::invalidate) drops a token the server refused;
///   only that token, so a hundred connections refused the same token
///   cause one renewal.
///
/// Blocking callers use [`token_blocking`](Self::token_blocking), async
/// ones [`token`](Self::token); both share the one lock. A blocking source
/// called from async code runs on the `blocking` crate's thread pool, so
/// no runtime's worker is held.
#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    margin: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Held by the one caller asking the source.
    renewal: async_lock::Mutex<()>,
}

#[derive(Clone)]
enum Source {
    Blocking(Arc<dyn TokenSource>),
    Async(Arc<dyn AsyncTokenSource>),
}

#[derive(Default)]
struct State {
    current: Option<Cached>,
    /// Counts completed requests, so that a caller who waited for the lock
    /// knows whether someone else asked meanwhile.
    generation: u64,
    /// The outcome of the latest request, for those who waited for it.
    last: Option<Result<AccessToken, TokenError>>,
    requests: u64,
    failures: u64,
}

struct Cached {
    token: AccessToken,
    renew_at: Option<Instant>,
}

impl TokenCache {
    /// A cache over a blocking source.
    pub fn new(source: impl TokenSource + 'static) -> TokenCache {
        TokenCache::with_source(Source::Blocking(Arc::new(source)))
    }

    /// A cache over an async source.
    pub fn new_async(source: impl AsyncTokenSource + 'static) -> TokenCache {
        TokenCache::with_source(Source::Async(Arc::new(source)))
    }

    fn with_source(source: Source) -> TokenCache {
        TokenCache {
            inner: Arc::new(Inner {
                source,
                margin: DEFAULT_RENEWAL_MARGIN,
                clock: Arc::new(SystemClock),
                state: Mutex::default(),
                renewal: async_lock::Mutex::new(()),
            }),
        }
    }

    /// The same cache with another renewal margin (before any token is
    /// fetched: this makes a new cache).
    pub fn with_margin(self, margin: Duration) -> TokenCache {
        self.rebuild(|inner| inner.margin = margin)
    }

    /// The same cache on another clock (tests).
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> TokenCache {
        self.rebuild(|inner| inner.clock = clock)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> TokenCache {
        let mut inner = Inner {
            source: self.inner.source.clone(),
            margin: self.inner.margin,
            clock: Arc::clone(&self.inner.clock),
            state: Mutex::default(),
            renewal: async_lock::Mutex::new(()),
        };
        change(&mut inner);
        TokenCache {
            inner: Arc::new(inner),
        }
    }

    /// A fresh token, asking the source when the cached one is due for
    /// renewal (or was invalidated). Blocks while another caller asks.
    ///
    /// # Errors
    /// The source's [`TokenError`], to every caller that waited for that
    /// request.
    pub fn token_blocking(&self) -> Result<AccessToken, TokenError> {
        let seen = match self.fresh() {
            Ok(token) => return Ok(token),
            Err(generation) => generation,
        };
        let _renewing = self.inner.renewal.lock_blocking();
        if let Some(outcome) = self.after_wait(seen) {
            return outcome;
        }
        let requested_at = self.inner.clock.now();
        let outcome = match &self.inner.source {
            Source::Blocking(source) => source.fetch(),
            Source::Async(source) => futures_lite::future::block_on(source.fetch()),
        };
        self.store(outcome, requested_at)
    }

    /// [`token_blocking`](Self::token_blocking) for async callers, on any
    /// runtime.
    ///
    /// # Errors
    /// As [`token_blocking`](Self::token_blocking).
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let seen = match self.fresh() {
            Ok(token) => return Ok(token),
            Err(generation) => generation,
        };
        let _renewing = self.inner.renewal.lock().await;
        if let Some(outcome) = self.after_wait(seen) {
            return outcome;
        }
        let requested_at = self.inner.clock.now();
        let outcome = match &self.inner.source {
            Source::Blocking(source) => {
                let source = Arc::clone(source);
                blocking::unblock(move || source.fetch()).await
            }
            Source::Async(source) => source.fetch().await,
        };
        self.store(outcome, requested_at)
    }

    /// Forgets `token` if it is the cached one: the server refused it, so
    /// the next caller asks for a new one. A token already replaced is
    /// left alone.
    pub fn invalidate(&self, token: &AccessToken) {
        let mut state = self.state();
        if state.current.as_ref().is_some_and(|c| c.token == *token) {
            state.current = None;
        }
    }

    /// How many times the source was asked (every renewal, failed or not).
    pub fn requests(&self) -> u64 {
        self.state().requests
    }

    /// How many of those failed.
    pub fn failures(&self) -> u64 {
        self.state().failures
    }

    /// What the source is, for a dry run or a log; never a secret.
    pub fn describe(&self) -> String {
        match &self.inner.source {
            Source::Blocking(s) => s.describe(),
            Source::Async(s) => s.describe(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock still holds a
        // consistent state.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached token if it is not due for renewal, else the generation
    /// seen.
    fn fresh(&self) -> Result<AccessToken, u64> {
        let state = self.state();
        let now = self.inner.clock.now();
        match &state.current {
            Some(c) if c.renew_at.is_none_or(|at| now < at) => Ok(c.token.clone()),
            _ => Err(state.generation),
        }
    }

    /// After waiting for the lock: the outcome of a request someone else
    /// completed meanwhile, or a token that is fresh after all.
    fn after_wait(&self, seen: u64) -> Option<Result<AccessToken, TokenError>> {
        let state = self.state();
        if state.generation != seen {
            return state.last.clone();
        }
        let now = self.inner.clock.now();
        state
            .current
            .as_ref()
            .filter(|c| c.renew_at.is_none_or(|at| now < at))
            .map(|c| Ok(c.token.clone()))
    }

    fn store(
        &self,
        outcome: Result<AccessToken, TokenError>,
        requested_at: Instant,
    ) -> Result<AccessToken, TokenError> {
        let mut state = self.state();
        state.generation += 1;
        state.requests += 1;
        match &outcome {
            Ok(token) => {
                let renew_at = token.expires_in().map(|lifetime| {
                    let margin = self.inner.margin.min(lifetime / 10);
                    requested_at + lifetime.saturating_sub(margin)
                });
                state.current = Some(Cached {
                    token: token.clone(),
                    renew_at,
                });
            }
            Err(_) => state.failures += 1,
        }
        state.last = Some(outcome.clone());
        outcome
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.describe())
            .field("margin", &self.inner.margin)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, Default)]
    struct ManualClock(Mutex<Option<Instant>>);

    impl ManualClock {
        fn advance(&self, by: Duration) {
            let mut now = self.0.lock().unwrap();
            *now = Some(now.unwrap_or_else(Instant::now) + by);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> Instant {
            *self.0.lock().unwrap().get_or_insert_with(Instant::now)
        }
    }

    /// Counts requests; slow, so that concurrent callers pile up.
    #[derive(Debug)]
    struct Slow {
        calls: AtomicU32,
        lifetime: Duration,
        fail: bool,
    }

    impl TokenSource for Slow {
        fn fetch(&self) -> Result<AccessToken, TokenError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            if self.fail {
                return Err(TokenError::Unreachable {
                    endpoint: "https://idp.invalid/token".into(),
                    reason: "refused".into(),
                });
            }
            Ok(AccessToken::new(format!("t{n}"), Some(self.lifetime)))
        }
    }

    fn slow(lifetime: Duration, fail: bool) -> Slow {
        Slow {
            calls: AtomicU32::new(0),
            lifetime,
            fail,
        }
    }

    #[test]
    fn renews_at_the_margin_before_expiry() {
        let clock = Arc::new(ManualClock::default());
        let cache =
            TokenCache::new(slow(Duration::from_secs(3600), false)).with_clock(clock.clone());
        assert_eq!(cache.token_blocking().unwrap().secret().expose(), "t0");
        clock.advance(Duration::from_secs(3600 - 61));
        assert_eq!(cache.token_blocking().unwrap().secret().expose(), "t0");
        clock.advance(Duration::from_secs(1));
        assert_eq!(cache.token_blocking().unwrap().secret().expose(), "t1");
        assert_eq!(cache.requests(), 2);
        // A short-lived token: a tenth of its life, not a minute.
        let clock = Arc::new(ManualClock::default());
        let cache = TokenCache::new(slow(Duration::from_secs(10), false)).with_clock(clock.clone());
        cache.token_blocking().unwrap();
        clock.advance(Duration::from_millis(8_900));
        assert_eq!(cache.token_blocking().unwrap().secret().expose(), "t0");
        clock.advance(Duration::from_millis(100));
        assert_eq!(cache.token_blocking().unwrap().secret().expose(), "t1");
    }

    #[test]
    fn a_thousand_stale_callers_cause_one_request() {
        let cache = TokenCache::new(slow(Duration::from_secs(3600), false));
        std::thread::scope(|s| {
            for _ in 0..100 {
                s.spawn(|| {
                    for _ in 0..10 {
                        assert_eq!(cache.token_blocking().unwrap().secret().expose(), "t0");
                    }
                });
            }
        });
        assert_eq!(cache.requests(), 1);
    }

    #[test]
    fn async_callers_coalesce_on_any_executor() {
        let cache = TokenCache::new(slow(Duration::from_secs(3600), false));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let cache = cache.clone();
                blocking::unblock(move || futures_lite::future::block_on(cache.token()))
            })
            .collect();
        for task in tasks {
            assert_eq!(
                futures_lite::future::block_on(task)
                    .unwrap()
                    .secret()
                    .expose(),
                "t0"
            );
        }
        assert_eq!(cache.requests(), 1);
    }

    #[test]
    fn a_failure_is_shared_with_those_who_waited_then_retried_later() {
        let cache = TokenCache::new(slow(Duration::from_secs(3600), true));
        std::thread::scope(|s| {
            for _ in 0..50 {
                s.spawn(|| assert!(cache.token_blocking().is_err()));
            }
        });
        let first_wave = cache.requests();
        assert!(
            first_wave < 50,
            "{first_wave} requests for 50 concurrent callers"
        );
        assert!(cache.token_blocking().is_err());
        assert_eq!(cache.requests(), first_wave + 1);
        assert_eq!(cache.failures(), cache.requests());
    }

    #[test]
    fn invalidate_drops_only_the_refused_token() {
        let cache = TokenCache::new(slow(Duration::from_secs(3600), false));
        let t0 = cache.token_blocking().unwrap();
        cache.invalidate(&t0);
        let t1 = cache.token_blocking().unwrap();
        assert_eq!(t1.secret().expose(), "t1");
        // A second connection refused t0 late: t1 stays.
        cache.invalidate(&t0);
        assert_eq!(cache.token_blocking().unwrap(), t1);
        assert_eq!(cache.requests(), 2);
    }

    #[test]
    fn debug_never_shows_a_token() {
        let cache = TokenCache::new(crate::StaticToken(crate::Secret::new("sekrit-token")));
        let token = cache.token_blocking().unwrap();
        for text in [format!("{cache:?}"), format!("{token:?}")] {
            assert!(!text.contains("sekrit"), "{text}");
        }
        assert_eq!(cache.describe(), "a fixed token");
    }
}
