//! The authentication step of the session: where it sits (after TLS and
//! the EHLO that follows it, before any MAIL) and the interface a SASL
//! mechanism implements. The base64 and `334` framing live here; the
//! mechanisms themselves (`smtp-auth`) see only raw challenges.

use std::fmt;

/// Why authentication failed or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server offers no mechanism we may use (with what it offered).
    #[error("no usable authentication mechanism (server offers: {offered})")]
    NoUsableMechanism {
        /// The server's AUTH list, space-separated.
        offered: String,
    },
    /// The server does not offer AUTH at all.
    #[error("the server does not offer AUTH")]
    NotOffered,
    /// The mechanism failed on the client side (bad challenge, bad server
    /// signature).
    #[error("{mechanism}: {message}")]
    Mechanism {
        /// The mechanism.
        mechanism: String,
        /// What went wrong.
        message: String,
    },
    /// The server refused the credentials (535, 534, 454, …).
    #[error("authentication failed: {reply}")]
    Rejected {
        /// The server's reply.
        reply: crate::Reply,
    },
    /// A mechanism that sends the password in the clear was refused on a
    /// connection without TLS.
    #[error("{mechanism} would send the password in the clear without TLS")]
    PlaintextRefused {
        /// The mechanism.
        mechanism: String,
    },
}

/// One SASL client exchange. Challenges and responses are raw octets; the
/// session does the base64.
pub trait SaslMechanism: Send {
    /// The mechanism name, upper-case (`PLAIN`, `SCRAM-SHA-256`, …).
    fn name(&self) -> &str;

    /// The initial response to send with `AUTH`, if the mechanism has one.
    ///
    /// # Errors
    /// An [`AuthError::Mechanism`].
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, AuthError>;

    /// The response to a server challenge (`334`).
    ///
    /// # Errors
    /// An [`AuthError::Mechanism`], for example a malformed challenge.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, AuthError>;

    /// Called on `235`; a mechanism that verifies the server (SCRAM,
    /// DIGEST-MD5 rspauth) fails here when the server could not prove
    /// itself.
    ///
    /// # Errors
    /// An [`AuthError::Mechanism`].
    fn finish(&mut self) -> Result<(), AuthError> {
        Ok(())
    }
}

/// Chooses a mechanism from what the server offers. `smtp-auth` provides
/// the standard chooser (configured mechanisms, disable switches, the
/// plaintext rule); anything implementing this trait can replace it.
pub trait Authenticator: Send + Sync {
    /// Picks and starts a mechanism.
    ///
    /// # Errors
    /// [`AuthError::NoUsableMechanism`] or [`AuthError::PlaintextRefused`].
    fn start(&self, offered: &[String], tls: bool) -> Result<Box<dyn SaslMechanism>, AuthError>;
}

impl fmt::Debug for dyn Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}
