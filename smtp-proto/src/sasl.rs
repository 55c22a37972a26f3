//! The authentication step of the session: where it sits (after TLS and
//! the EHLO that follows it, before any MAIL) and its errors. Mechanisms
//! and the choice between them come from `smtp-auth`
//! ([`Authenticator`], [`SaslMechanism`]); the base64 and `334` framing
//! (RFC 4954) live in the session.

pub use smtp_auth::{Authenticator, Mechanism as SaslMechanism, SaslError, SelectError};

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
    #[error("{mechanism}: {error}")]
    Mechanism {
        /// The mechanism.
        mechanism: String,
        /// What went wrong.
        error: SaslError,
    },
    /// The server refused the credentials (535, 534, 454, …).
    #[error("authentication failed: {reply}")]
    Rejected {
        /// The server's reply.
        reply: crate::Reply,
    },
    /// A mechanism that sends the password in the clear was refused on a
    /// connection without TLS.
    #[error(
        "{mechanism} would send the password in the clear without TLS; allow it explicitly to proceed"
    )]
    PlaintextRefused {
        /// The mechanism.
        mechanism: String,
    },
}

impl From<SelectError> for AuthError {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::NoUsableMechanism { offered } => AuthError::NoUsableMechanism { offered },
            SelectError::PlaintextRefused { mechanism } => {
                AuthError::PlaintextRefused { mechanism }
            }
            other => AuthError::NoUsableMechanism {
                offered: other.to_string(),
            },
        }
    }
}
