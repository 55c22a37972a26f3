//! # smtp-oauth2: access tokens that renew themselves
//!
//! XOAUTH2 and OAUTHBEARER authenticate with an OAuth 2.0 access token,
//! which lives minutes to an hour. A [`TokenCache`] holds the current one,
//! renews it before it expires and makes sure that many connections that
//! find it stale at once cause **one** request to the authorization server.
//! Tokens come from a [`TokenSource`] (blocking) or an
//! [`AsyncTokenSource`]; either can be used from blocking and async code,
//! on any runtime.
//!
//! With the `http` feature (on by default) the built-in sources talk to a
//! token endpoint over HTTPS ([`OAuth2Client`], ureq over rustls with
//! smtpkit-tls's crypto provider):
//!
//! - [`Grant::RefreshToken`]: Google, Microsoft and any RFC 6749 server;
//! - [`Grant::ClientCredentials`]: Microsoft 365 app-only SMTP, with a
//!   client secret or a signed assertion ([`ClientAuth::PrivateKeyJwt`],
//!   RFC 7523 §2.2);
//! - [`Grant::JwtBearer`]: Google service accounts (RFC 7523 §2.1;
//!   [`ServiceAccount`] reads Google's JSON key file).
//!
//! The SMTP clients (smtpkit-blocking, smtpkit-tokio, smtpkit-smol, with
//! their `oauth2` feature) take a cache in `AuthSettings::tokens`: they
//! fetch a token before each connection, and when the server refuses it
//! they drop it, fetch a new one and try once more on a new connection.
//!
//! Secrets (tokens, refresh tokens, client secrets, keys, assertions) are
//! [`Secret`]s or keys whose `Debug` prints `[redacted]`; no error names
//! one.
//!
//! ```
//! use std::time::Duration;
//! use smtpkit_oauth2::{AccessToken, TokenCache, TokenError, TokenSource};
//!
//! /// A source of the caller's own: here a counter stands in for the
//! /// request to an authorization server.
//! #[derive(Debug, Default)]
//! struct Counter(std::sync::atomic::AtomicU32);
//!
//! impl TokenSource for Counter {
//!     fn fetch(&self) -> Result<AccessToken, TokenError> {
//!         let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//!         Ok(AccessToken::new(format!("token-{n}"), Some(Duration::from_secs(3600))))
//!     }
//! }
//!
//! let cache = TokenCache::new(Counter::default());
//! let first = cache.token_blocking()?;
//! assert_eq!(first.secret().expose(), "token-0");
//! // Still fresh: no second request.
//! assert_eq!(cache.token_blocking()?.secret().expose(), "token-0");
//! // The server refused it: the next caller gets a new one.
//! cache.invalidate(&first);
//! assert_eq!(cache.token_blocking()?.secret().expose(), "token-1");
//! assert_eq!(cache.requests(), 2);
//! # Ok::<(), TokenError>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `http` | on | the built-in grants over HTTPS ([`OAuth2Client`]) |
//! | `platform-roots` | on | the token endpoint trusts the operating system's roots |
//! | `bundled-roots` | off | Mozilla's roots compiled in, as an alternative |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod cache;
#[cfg(feature = "http")]
mod grant;
#[cfg(feature = "http")]
mod jwt;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use cache::{Clock, DEFAULT_RENEWAL_MARGIN, SystemClock, TokenCache};
#[cfg(feature = "http")]
pub use grant::{ClientAuth, Grant, OAuth2Client, ServiceAccount, TokenEndpoint};
#[cfg(feature = "http")]
pub use jwt::{JwtAlgorithm, SigningKey};
pub use smtpkit_proto::Secret;
#[cfg(feature = "http")]
pub use smtpkit_tls::RootSource;

/// An access token and how long it lives from the moment it was asked
/// for. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: Secret,
    expires_in: Option<Duration>,
}

impl AccessToken {
    /// A token that expires `expires_in` after it was requested (the
    /// token endpoint's `expires_in`), or never says (`None`: used until
    /// the server refuses it).
    pub fn new(secret: impl Into<Secret>, expires_in: Option<Duration>) -> AccessToken {
        AccessToken {
            secret: secret.into(),
            expires_in,
        }
    }

    /// The token, for the SASL exchange.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// Its lifetime, from the request.
    pub fn expires_in(&self) -> Option<Duration> {
        self.expires_in
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &self.secret)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Whether `token` can be a bearer token: printable ASCII without spaces
/// (RFC 6750's b64token, roughly). A line break or a control byte would
/// corrupt the SASL message it goes into; every source's token is checked
/// with this before it is used.
pub fn is_bearer_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// Why no token could be had. `Display` says which and why, with the
/// server's text escaped; no variant holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token endpoint could not be reached: DNS, the connection, TLS
    /// (an untrusted certificate), a timeout. Transient unless TLS.
    #[error("the token endpoint {endpoint} cannot be reached: {reason}")]
    Unreachable {
        /// The endpoint URL.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The authorization server refused the grant (RFC 6749 §5.2): a
    /// revoked refresh token (`invalid_grant`), a wrong client secret
    /// (`invalid_client`), a scope it will not give.
    #[error("the token endpoint refused the request ({status}): {}{}",
        smtpkit_proto::escape_text(error),
        description.as_ref().map(|d| format!(": {}", smtpkit_proto::escape_text(d))).unwrap_or_default())]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`, when given.
        description: Option<String>,
    },
    /// The token endpoint answered something that is not a token: not
    /// JSON, no `access_token`, a token type other than Bearer, an error
    /// status without an OAuth error, a response over the size limit.
    #[error("the token endpoint's response is malformed ({status}): {reason}")]
    Malformed {
        /// The HTTP status.
        status: u16,
        /// What is wrong with it.
        reason: String,
    },
    /// The token source is configured wrongly: an unusable key, a URL
    /// that is not HTTPS, a service-account file that is not one.
    #[error("the token source is misconfigured: {0}")]
    Config(String),
    /// A token source of the caller's own failed (a token command, a
    /// vault); the text is theirs.
    #[error("the token source failed: {0}")]
    Source(String),
}

impl TokenError {
    /// Whether asking again later may succeed: an unreachable endpoint,
    /// or a 5xx or 429 from it. A refused grant or a bad configuration
    /// will not get better by itself.
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Unreachable { .. } | TokenError::Source(_) => true,
            TokenError::Refused { status, .. } | TokenError::Malformed { status, .. } => {
                *status == 429 || *status >= 500
            }
            TokenError::Config(_) => false,
        }
    }
}

/// A blocking source of access tokens: one request per call. Wrap it in a
/// [`TokenCache`], which decides when to call it.
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// Asks for a new token.
    ///
    /// # Errors
    /// A [`TokenError`].
    fn fetch(&self) -> Result<AccessToken, TokenError>;

    /// What this source is, for a dry run or a log: the grant and the
    /// endpoint, never a secret.
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// The future an [`AsyncTokenSource`] returns.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + 'a>>;

/// An async source of access tokens, for callers whose token comes from
/// async code (an SDK of their cloud). Its future must not need a
/// particular runtime if a blocking client uses the cache: there it is
/// driven by `futures_lite::future::block_on`.
pub trait AsyncTokenSource: Send + Sync + std::fmt::Debug {
    /// Asks for a new token.
    fn fetch(&self) -> TokenFuture<'_>;

    /// What this source is, never a secret.
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

/// A token that never changes: a caller that renews tokens itself. Its
/// lifetime is unknown, so the cache keeps it until
/// [`TokenCache::invalidate`]; a refusal then gives the same token again,
/// and the second refusal is final.
#[derive(Debug, Clone)]
pub struct StaticToken(pub Secret);

impl TokenSource for StaticToken {
    fn fetch(&self) -> Result<AccessToken, TokenError> {
        Ok(AccessToken::new(self.0.clone(), None))
    }

    fn describe(&self) -> String {
        "a fixed token".into()
    }
}
