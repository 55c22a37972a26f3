//! The authentication step of the session: where it sits (after TLS and
//! the EHLO that follows it, before any MAIL), the traits a SASL mechanism
//! implements ([`SaslMechanism`], [`Authenticator`]) and the errors.
//! `smtp-auth` implements the mechanisms and the chooser; the core only
//! drives them, so it links no cryptography. The base64 and `334` framing
//! (RFC 4954) live in the session.

/// Why a mechanism step failed on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The server's challenge is malformed or unusable.
    #[error("bad server challenge: {}", crate::escape_text(.0))]
    BadChallenge(String),
    /// The server could not prove it knows the password (SCRAM server
    /// signature, DIGEST-MD5 rspauth): it may be an impostor.
    #[error("server verification failed: {}", crate::escape_text(.0))]
    ServerVerification(String),
    /// The exchange went on longer than the mechanism allows.
    #[error("unexpected step: {0}")]
    UnexpectedStep(&'static str),
    /// The credentials cannot be used with this mechanism (for example a
    /// password SASLprep rejects).
    #[error("unusable credentials: {}", crate::escape_text(.0))]
    Credentials(String),
    /// The server sent an error (OAUTHBEARER's JSON error response).
    #[error("server error: {}", crate::escape_text(.0))]
    ServerError(String),
    /// The system random generator failed.
    #[error("no randomness: {0}")]
    Random(String),
    /// Channel binding failed: the server found that the client's binding
    /// does not match its own end of the TLS connection (a man in the
    /// middle, RFC 5802 `channel-bindings-dont-match`), or that the client
    /// claimed the server cannot bind when it can (a stripped mechanism
    /// list, `server-does-support-channel-binding`), or it does not know
    /// the binding type. The value is the server's RFC 5802 error.
    #[error("channel binding failed: {}", crate::escape_text(.0))]
    ChannelBinding(String),
}

/// One SASL client exchange.
pub trait SaslMechanism: Send {
    /// The mechanism name, upper-case.
    fn name(&self) -> &str;

    /// The initial response sent with `AUTH`, if the mechanism has one
    /// (`Some(vec![])` is an empty initial response).
    ///
    /// # Errors
    /// A [`SaslError`].
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError>;

    /// The response to a server challenge.
    ///
    /// # Errors
    /// A [`SaslError`], for a malformed challenge or a failed verification.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError>;

    /// Called when the server says success; mechanisms that verify the
    /// server fail here if it never proved itself.
    ///
    /// # Errors
    /// [`SaslError::ServerVerification`].
    fn finish(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}

/// Chooses and starts a mechanism for a connection. `smtp-auth`'s `Chooser` is
/// the standard one; implement this to replace the policy entirely.
pub trait Authenticator: Send + Sync {
    /// Picks a mechanism among `offered` (upper-case names from EHLO),
    /// knowing whether the connection is protected by TLS.
    ///
    /// # Errors
    /// A [`SelectError`].
    fn start(&self, offered: &[String], tls: bool) -> Result<Box<dyn SaslMechanism>, SelectError>;

    /// As [`start`](Self::start), with the TLS connection's
    /// channel-binding data when there is one (so that SCRAM-*-PLUS can be
    /// chosen). The session calls this; the default ignores the binding.
    ///
    /// # Errors
    /// A [`SelectError`].
    fn start_with_binding(
        &self,
        offered: &[String],
        tls: bool,
        binding: Option<&crate::ChannelBinding>,
    ) -> Result<Box<dyn SaslMechanism>, SelectError> {
        let _ = binding;
        self.start(offered, tls)
    }
}

/// Why no mechanism could be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// Nothing the server offers is configured, registered and enabled.
    #[error(
        "no usable authentication mechanism (server offers: {})",
        crate::escape_text(offered)
    )]
    NoUsableMechanism {
        /// The server's list, space-separated.
        offered: String,
    },
    /// The only usable mechanisms send the password in the clear and the
    /// connection has no TLS (allow it with `allow_plaintext`,
    /// `smtp-send --allow-plaintext-auth`).
    #[error("{mechanism} would send the password or token in the clear without TLS (not allowed)")]
    PlaintextRefused {
        /// The first such mechanism.
        mechanism: String,
    },
    /// The configuration names a mechanism that this build left out (it
    /// is behind a Cargo feature that is off).
    #[error("the {mechanism} mechanism is not built in: enable the `{feature}` feature")]
    NotBuiltIn {
        /// The mechanism.
        mechanism: String,
        /// The Cargo feature that adds it (of `smtpkit-auth`; the client
        /// crates have it too, or `legacy-auth` for all the legacy ones).
        feature: &'static str,
    },
}

/// Why authentication failed or could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The server offers no mechanism we may use (with what it offered).
    #[error(
        "no usable authentication mechanism (server offers: {})",
        crate::escape_text(offered)
    )]
    NoUsableMechanism {
        /// The server's AUTH list, space-separated.
        offered: String,
    },
    /// The server does not offer AUTH at all.
    #[error("the server does not offer AUTH")]
    NotOffered,
    /// The mechanism failed on the client side (bad challenge, bad server
    /// signature).
    #[error("{}: {error}", crate::escape_text(mechanism))]
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
        "{mechanism} would send the password or token in the clear without TLS; allow it explicitly to proceed"
    )]
    PlaintextRefused {
        /// The mechanism.
        mechanism: String,
    },
    /// The configuration names a mechanism that this build left out.
    #[error("the {mechanism} mechanism is not built in: enable the `{feature}` feature")]
    NotBuiltIn {
        /// The mechanism.
        mechanism: String,
        /// The Cargo feature that adds it.
        feature: &'static str,
    },
}

impl From<SelectError> for AuthError {
    fn from(e: SelectError) -> Self {
        match e {
            SelectError::NoUsableMechanism { offered } => AuthError::NoUsableMechanism { offered },
            SelectError::PlaintextRefused { mechanism } => {
                AuthError::PlaintextRefused { mechanism }
            }
            SelectError::NotBuiltIn { mechanism, feature } => {
                AuthError::NotBuiltIn { mechanism, feature }
            }
        }
    }
}
