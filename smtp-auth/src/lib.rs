//! # smtp-auth: SASL client mechanisms, pure and IO-free
//!
//! Each mechanism is a step function: the server's challenge in, the
//! client's response out, and the server's final data verified where the
//! mechanism allows (SCRAM's server signature, DIGEST-MD5's `rspauth`).
//! Nothing here knows SMTP: base64 and the `334` exchange belong to
//! `smtp-proto`'s session, which drives any [`Mechanism`].
//!
//! [`Chooser`] picks a mechanism from what the server offers, the
//! configured order (`mail.smtp.auth.mechanisms`), the per-mechanism
//! disable switches, and one rule JavaMail lacks: mechanisms that send the
//! password in the clear (PLAIN, LOGIN) are refused on a connection without
//! TLS unless explicitly allowed.
//!
//! Secrets are held in [`Secret`], which zeroizes on drop and prints as
//! `[redacted]`.
//!
//! Randomness (nonces, NTLM's client challenge) and the wall clock
//! (NTLMv2's timestamp) are inputs: the [`Inputs`] a chooser is given
//! ([`Chooser::inputs`]; [`SystemInputs`], the operating system's, by
//! default) go to every mechanism it makes. Nothing else in the crate
//! reads them (its `clippy.toml` forbids it).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | (none) | always | PLAIN, LOGIN, SCRAM-SHA-1, SCRAM-SHA-256 and their -PLUS variants, XOAUTH2, OAUTHBEARER, ANONYMOUS, EXTERNAL |
//! | `cram-md5` | off | CRAM-MD5 (RFC 2195; `md-5`) |
//! | `digest-md5` | off | DIGEST-MD5 (RFC 2831, obsoleted by RFC 6331; `md-5`) |
//! | `ntlm` | off | NTLM v1/v2 (`md4`, `md-5`, `des`) |
//! | `legacy` | off | all three |
//!
//! The legacy mechanisms are opt-in because they bring MD4, MD5 and DES
//! implementations most programs never need. Without its feature a
//! mechanism is not in [`DEFAULT_ORDER`] or [`BUILT_IN`], the chooser never
//! picks it, and a configured order that names it fails with
//! [`SelectError::NotBuiltIn`] naming the feature ([`missing_feature`]).
//!
//! ```
//! use smtpkit_auth::{Chooser, Credentials, Secret};
//!
//! let chooser = Chooser::new(Credentials::new("user", Secret::new("pencil")));
//! // Over TLS the strongest offered mechanism wins.
//! let mut mechanism = chooser.choose(&["PLAIN".into(), "SCRAM-SHA-256".into()], true)?;
//! assert_eq!(mechanism.name(), "SCRAM-SHA-256");
//! // Without TLS, PLAIN is refused unless allowed.
//! assert!(chooser.choose(&["PLAIN".into()], false).is_err());
//! let mut plain = chooser.allow_plaintext(true).choose(&["PLAIN".into()], false)?;
//! assert_eq!(plain.initial_response()?.unwrap(), b"\0user\0pencil");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::sync::Arc;

mod chooser;
#[cfg(feature = "cram-md5")]
mod cram_md5;
#[cfg(feature = "digest-md5")]
mod digest_md5;
#[cfg(feature = "ntlm")]
mod ntlm;
mod scram;
mod simple;

pub use chooser::{BUILT_IN, Chooser, DEFAULT_ORDER, MechanismFactory, missing_feature};
#[cfg(feature = "cram-md5")]
pub use cram_md5::CramMd5;
#[cfg(feature = "digest-md5")]
pub use digest_md5::DigestMd5;
#[cfg(feature = "digest-md5")]
#[doc(hidden)]
pub use digest_md5::{DigestChallenge, fuzz_digest_challenge};
#[cfg(feature = "ntlm")]
pub use ntlm::Ntlm;
#[cfg(feature = "ntlm")]
#[doc(hidden)]
pub use ntlm::{NtlmChallenge, fuzz_ntlm_challenge};
pub use scram::Scram;
pub use simple::{Anonymous, External, Login, OAuthBearer, Plain, XOAuth2};
// The traits and the secret type are the core's (smtp-proto drives any
// mechanism); this crate implements them.
pub use smtpkit_proto::{
    Authenticator, BearerError, ChannelBinding, ChannelBindingType, SaslError,
    SaslMechanism as Mechanism, Secret, SelectError,
};

/// Who authenticates, and with what.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Credentials {
    /// The authentication identity (`mail.smtp.user`).
    pub user: String,
    /// The password (or, for XOAUTH2 / OAUTHBEARER, the access token).
    pub password: Secret,
    /// The authorization identity (`mail.smtp.sasl.authorizationid`);
    /// empty means "the same as `user`".
    pub authzid: Option<String>,
    /// The DIGEST-MD5 realm (`mail.smtp.sasl.realm`).
    pub realm: Option<String>,
    /// The NTLM domain (`mail.smtp.auth.ntlm.domain`).
    pub ntlm_domain: Option<String>,
    /// The NTLM workstation name.
    pub ntlm_workstation: Option<String>,
    /// NTLM negotiate flags (`mail.smtp.auth.ntlm.flags`); `None` for the
    /// defaults.
    pub ntlm_flags: Option<u32>,
    /// Use NTLMv1 instead of NTLMv2 (only when asked: v1 is weak).
    pub ntlm_v1: bool,
    /// The server host name (DIGEST-MD5's `digest-uri` is `smtp/host`,
    /// OAUTHBEARER's `host`).
    pub host: String,
    /// The server port (OAUTHBEARER's `port`).
    pub port: Option<u16>,
}

impl Credentials {
    /// A user and password.
    pub fn new(user: impl Into<String>, password: Secret) -> Credentials {
        Credentials {
            user: user.into(),
            password,
            ..Credentials::default()
        }
    }
}

impl Authenticator for Chooser {
    fn start(&self, offered: &[String], tls: bool) -> Result<Box<dyn Mechanism>, SelectError> {
        self.choose(offered, tls)
    }

    fn start_with_binding(
        &self,
        offered: &[String],
        tls: bool,
        binding: Option<&ChannelBinding>,
    ) -> Result<Box<dyn Mechanism>, SelectError> {
        self.choose_with_binding(offered, tls, binding)
    }
}

/// What a mechanism takes from outside the exchange: random octets
/// (SCRAM and DIGEST-MD5 nonces, NTLM's client challenge) and the wall
/// clock (NTLMv2's timestamp when the server sends none). The crate is
/// pure: it reads neither itself, so a caller (a test, a deterministic
/// simulation, a platform without `getrandom`) passes its own, as rustls
/// takes them from its provider. [`SystemInputs`] is the default.
pub trait Inputs: Send + Sync + std::fmt::Debug {
    /// Fills `buf` with cryptographically secure random octets.
    ///
    /// # Errors
    /// [`SaslError::Random`] when none are available.
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), SaslError>;

    /// The wall-clock time now.
    fn now(&self) -> std::time::SystemTime;
}

/// The operating system's CSPRNG (`getrandom`) and clock: the one place
/// in this crate that reads them.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemInputs;

impl Inputs for SystemInputs {
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), SaslError> {
        #[allow(clippy::disallowed_methods)] // the system's inputs are read here only
        getrandom::fill(buf).map_err(|e| SaslError::Random(e.to_string()))
    }

    fn now(&self) -> std::time::SystemTime {
        #[allow(clippy::disallowed_methods)] // the system's inputs are read here only
        std::time::SystemTime::now()
    }
}

/// The default inputs, shared.
pub(crate) fn system_inputs() -> std::sync::Arc<dyn Inputs> {
    std::sync::Arc::new(SystemInputs)
}

/// A random printable nonce (base64 of 24 random octets).
pub(crate) fn nonce(inputs: &dyn Inputs) -> Result<String, SaslError> {
    use base64::Engine as _;
    let mut raw = [0u8; 24];
    inputs.fill_random(&mut raw)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

/// Shared, so that factories can hand the same credentials to every
/// mechanism they start.
pub type SharedCredentials = Arc<Credentials>;
