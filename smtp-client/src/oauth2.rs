//! Connecting with a token source (feature `oauth2`): which token a
//! connection authenticates with, and the one retry a refused token gets.
//! Every client's `connect` runs this loop, blocking or async:
//!
//! ```text
//! match TokenAttempt::new(settings, transcript) {
//!     Ok(mut attempt) => loop {
//!         let settings = attempt.settings_blocking()?;   // or .settings().await
//!         match connect_once(&settings, attempt.transcript()) {
//!             Err(failure) if attempt.retry_after(&failure.error) => continue,
//!             outcome => return outcome,
//!         }
//!     },
//!     Err(transcript) => connect_once(settings, transcript),  // no token source
//! }
//! ```
//!
//! Without the feature the module is there all the same, and
//! [`TokenAttempt::new`] always says "no token source", so the clients
//! need no feature gate of their own.

use smtpkit_proto::{AuthError, SessionError};

use crate::{ClientSettings, Error, TranscriptHook};

/// The mechanisms a token source authenticates with, unless the settings
/// name others: XOAUTH2 first (the one Microsoft 365 offers; Google and
/// Dovecot offer both), then OAUTHBEARER.
pub const TOKEN_MECHANISMS: &str = "XOAUTH2 OAUTHBEARER";

/// One `connect` with a token source: at most two connections, the second
/// only after the server refused the first one's token.
pub struct TokenAttempt<'s> {
    inner: Inner<'s>,
}

#[cfg(feature = "oauth2")]
struct Inner<'s> {
    settings: &'s ClientSettings,
    tokens: smtpkit_oauth2::TokenCache,
    token: Option<smtpkit_oauth2::AccessToken>,
    refused: bool,
    transcript: Option<std::sync::Arc<std::sync::Mutex<TranscriptHook>>>,
}

/// Without the feature there is never an attempt.
#[cfg(not(feature = "oauth2"))]
struct Inner<'s>(std::convert::Infallible, std::marker::PhantomData<&'s ()>);

impl<'s> TokenAttempt<'s> {
    /// `Err(transcript)`, handing the hook back, when `settings` have no
    /// token source (`AuthSettings::tokens`, feature `oauth2`): connect as
    /// usual. Otherwise the transcript hook, if any, sees both connections.
    pub fn new(
        settings: &'s ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<TokenAttempt<'s>, Option<TranscriptHook>> {
        #[cfg(feature = "oauth2")]
        if let Some(tokens) = &settings.auth.tokens {
            return Ok(TokenAttempt {
                inner: Inner {
                    settings,
                    tokens: tokens.clone(),
                    token: None,
                    refused: false,
                    transcript: transcript
                        .map(|hook| std::sync::Arc::new(std::sync::Mutex::new(hook))),
                },
            });
        }
        let _ = settings;
        Err(transcript)
    }

    /// The settings the next connection uses: the cache's current token
    /// as the credentials' password. Blocks while the token is renewed.
    ///
    /// # Errors
    /// [`Error::Token`] when no token can be had.
    pub fn settings_blocking(&mut self) -> Result<ClientSettings, Error> {
        #[cfg(feature = "oauth2")]
        {
            let token = self.inner.tokens.token_blocking().map_err(Error::Token)?;
            Ok(self.with_token(token))
        }
        #[cfg(not(feature = "oauth2"))]
        match self.inner.0 {}
    }

    /// [`settings_blocking`](Self::settings_blocking) for async clients.
    ///
    /// # Errors
    /// As [`settings_blocking`](Self::settings_blocking).
    pub async fn settings(&mut self) -> Result<ClientSettings, Error> {
        #[cfg(feature = "oauth2")]
        {
            let token = self.inner.tokens.token().await.map_err(Error::Token)?;
            Ok(self.with_token(token))
        }
        #[cfg(not(feature = "oauth2"))]
        match self.inner.0 {}
    }

    #[cfg(feature = "oauth2")]
    fn with_token(&mut self, token: smtpkit_oauth2::AccessToken) -> ClientSettings {
        let mut settings = self.inner.settings.clone();
        settings.auth.credentials.password = token.secret().clone();
        self.inner.token = Some(token);
        settings
    }

    /// The transcript hook for the next connection (the caller's, shared).
    pub fn transcript(&self) -> Option<TranscriptHook> {
        #[cfg(feature = "oauth2")]
        {
            self.inner.transcript.as_ref().map(|shared| {
                let shared = std::sync::Arc::clone(shared);
                Box::new(move |entry: &_| {
                    (shared
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner))(
                        entry
                    );
                }) as TranscriptHook
            })
        }
        #[cfg(not(feature = "oauth2"))]
        match self.inner.0 {}
    }

    /// Whether to connect once more after `error`: the first time the
    /// server refuses the token ([`Error::is_token_refusal`]). The token is
    /// dropped from the cache, so the next one is new (unless another
    /// connection renewed it already). A refusal of the second token is
    /// final.
    pub fn retry_after(&mut self, error: &Error) -> bool {
        #[cfg(feature = "oauth2")]
        {
            if self.inner.refused || !error.is_token_refusal() {
                return false;
            }
            self.inner.refused = true;
            if let Some(token) = &self.inner.token {
                self.inner.tokens.invalidate(token);
            }
            true
        }
        #[cfg(not(feature = "oauth2"))]
        {
            let _ = error;
            match self.inner.0 {}
        }
    }
}

impl Error {
    /// Whether the server refused the bearer token itself
    /// ([`AuthError::TokenRefused`]): expired, revoked or unknown. Not when
    /// its error says the scope is wrong (`insufficient_scope`): a new
    /// token would not have it either.
    pub fn is_token_refusal(&self) -> bool {
        matches!(
            self,
            Error::Session(SessionError::Auth(AuthError::TokenRefused { error, .. }))
                if error.as_ref().is_none_or(|e| e.is_invalid_token())
        )
    }
}
