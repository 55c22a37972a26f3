//! DKIM signing (RFC 6376) of message-level sends (feature `dkim`): RSA-SHA256
//! and Ed25519-SHA256 through mail-auth over ring.
//!
//! What is signed is what is transmitted: the header after `Bcc:` was
//! stripped and `Date:`/`Message-ID:` were added, and the body CRLF-normalised
//! as the server will store it ([`CrlfNormalizer`], the transfers' own). The
//! signature is made once per message and put first in its header; a LIMITS
//! RCPTMAX split and a pool's retry send the same signed octets.
//!
//! Memory stays constant: the body is hashed as it streams past. A message
//! in memory is hashed where it lies; a file is read once to hash it, then
//! again to send it; a one-shot reader cannot be read twice, so signing it
//! is a typed error ([`MessageError::CannotSignStream`](crate::message::MessageError::CannotSignStream))
//! unless [`DkimSettings::allow_buffering`] lets the whole message be held
//! in memory.
//!
//! ```
//! use smtpkit_client::dkim::{DkimKey, DkimSettings, DkimSigner};
//!
//! # let pem = include_bytes!("../tests/data/dkim-ed25519.pem");
//! let key = DkimKey::from_pem(pem)?; // PKCS#1 or PKCS#8, RSA or Ed25519
//! let signer = DkimSigner::new(DkimSettings::new("example.org", "mail2026")?, key)?;
//! let mut stream = signer.stream();
//! stream.update(b"From: a@example.org\nTo: b@example.net\nSubject: hi\n\nHello\n");
//! let header = String::from_utf8(stream.finish()?)?;
//! assert!(header.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; s=mail2026; d=example.org; c=relaxed/relaxed;"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter as _;
use mail_auth::dkim::{Canonicalization, DkimSigner as Signer, DkimSigningStream, Done};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};
use smtpkit_proto::CrlfNormalizer;

/// The header fields signed by default: the ones a reader sees and the
/// ones that give a message its identity. Each is listed twice, so that a
/// field added in transit (a second `From:`, a `Subject:` where there was
/// none) breaks the signature (RFC 6376 §8.15 "oversigning").
pub const DEFAULT_HEADERS: &[&str] = &[
    "From",
    "From",
    "Sender",
    "Sender",
    "Reply-To",
    "Reply-To",
    "To",
    "To",
    "Cc",
    "Cc",
    "Subject",
    "Subject",
    "Date",
    "Date",
    "Message-ID",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "MIME-Version",
    "Content-Type",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Why a DKIM setting or signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    /// The key is not an RSA or Ed25519 private key in PEM or DER
    /// (PKCS#1 or PKCS#8).
    #[error(
        "the DKIM key is not an RSA or Ed25519 private key (PEM or DER, PKCS#1 or PKCS#8): {0}"
    )]
    Key(String),
    /// The key file could not be read.
    #[error("reading the DKIM key {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The signing domain is not a domain name.
    #[error("the DKIM domain {0:?} is not a domain name")]
    Domain(String),
    /// The selector is not a sequence of dot-separated labels.
    #[error("the DKIM selector {0:?} is not a selector (letters, digits, '-', '_' and dots)")]
    Selector(String),
    /// A header field name to sign is empty or has a character a field
    /// name cannot have.
    #[error("{0:?} is not a header field name")]
    HeaderName(String),
    /// The message has none of the header fields to sign.
    #[error("the message has none of the header fields the DKIM signature covers")]
    NoHeaders,
    /// Signing failed.
    #[error("DKIM signing failed: {0}")]
    Sign(String),
}

/// How a part of the message is canonicalised before it is hashed
/// (RFC 6376 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DkimCanonicalization {
    /// `relaxed`: survives whitespace changes and header re-folding by
    /// relays (the default).
    #[default]
    Relaxed,
    /// `simple`: every octet counts.
    Simple,
}

impl From<DkimCanonicalization> for Canonicalization {
    fn from(c: DkimCanonicalization) -> Canonicalization {
        match c {
            DkimCanonicalization::Relaxed => Canonicalization::Relaxed,
            DkimCanonicalization::Simple => Canonicalization::Simple,
        }
    }
}

/// What to sign and how: the `d=` domain, the `s=` selector, the header
/// fields, canonicalisation and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DkimSettings {
    /// The signing domain (`d=`).
    pub domain: String,
    /// The selector (`s=`): the public key is the TXT record
    /// `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// The header fields to sign, in order; a name listed more often
    /// than the message has the field signs its absence. Default:
    /// [`DEFAULT_HEADERS`].
    pub headers: Vec<String>,
    /// The header canonicalisation (`c=`, first part).
    pub header_canonicalization: DkimCanonicalization,
    /// The body canonicalisation (`c=`, second part).
    pub body_canonicalization: DkimCanonicalization,
    /// `x=`: the signature expires this long after it was made.
    pub expire_after: Option<Duration>,
    /// A one-shot reader (a body that cannot be read twice) is read
    /// whole into memory to be signed; without it, signing one is a typed
    /// error.
    pub allow_buffering: bool,
}

impl DkimSettings {
    /// Signing for `domain` with `selector`; the default headers,
    /// relaxed/relaxed, no expiry.
    ///
    /// # Errors
    /// [`DkimError::Domain`] or [`DkimError::Selector`].
    pub fn new(
        domain: impl Into<String>,
        selector: impl Into<String>,
    ) -> Result<DkimSettings, DkimError> {
        let settings = DkimSettings {
            domain: domain.into(),
            selector: selector.into(),
            headers: DEFAULT_HEADERS.iter().map(|&h| h.to_owned()).collect(),
            header_canonicalization: DkimCanonicalization::Relaxed,
            body_canonicalization: DkimCanonicalization::Relaxed,
            expire_after: None,
            allow_buffering: false,
        };
        settings.check()?;
        Ok(settings)
    }

    /// Whether every value can go into a `DKIM-Signature:` field as it
    /// is: the fields are public, so [`DkimSigner::new`] checks again
    /// (nothing a caller set reaches the header with a CR, LF or `;`).
    ///
    /// # Errors
    /// [`DkimError::Domain`], [`DkimError::Selector`] or
    /// [`DkimError::HeaderName`].
    pub fn check(&self) -> Result<(), DkimError> {
        let domain = &self.domain;
        if smtpkit_proto::Host::parse(domain).is_err()
            || domain.starts_with('[')
            || !domain.contains(|c: char| c.is_ascii_alphabetic())
        {
            return Err(DkimError::Domain(domain.clone()));
        }
        let label = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !self.selector.split('.').all(label) {
            return Err(DkimError::Selector(self.selector.clone()));
        }
        // RFC 5322 field names: printable ASCII but the colon.
        if let Some(bad) = self
            .headers
            .iter()
            .find(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_graphic() && b != b':'))
        {
            return Err(DkimError::HeaderName(bad.clone()));
        }
        Ok(())
    }

    /// Signs these header fields instead of the default ones.
    ///
    /// # Errors
    /// [`DkimError::HeaderName`] for a name with a space, a colon or a
    /// control character.
    pub fn with_headers(
        mut self,
        headers: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<DkimSettings, DkimError> {
        self.headers = headers.into_iter().map(Into::into).collect();
        self.check()?;
        Ok(self)
    }

    /// With this canonicalisation of the header and the body.
    #[must_use]
    pub fn with_canonicalization(
        mut self,
        header: DkimCanonicalization,
        body: DkimCanonicalization,
    ) -> DkimSettings {
        self.header_canonicalization = header;
        self.body_canonicalization = body;
        self
    }

    /// With an `x=` expiry this long after signing.
    #[must_use]
    pub fn with_expiry(mut self, after: Duration) -> DkimSettings {
        self.expire_after = Some(after);
        self
    }

    /// Whether a one-shot reader may be held in memory to be signed.
    #[must_use]
    pub fn with_buffering(mut self, allow: bool) -> DkimSettings {
        self.allow_buffering = allow;
        self
    }
}

/// A private key for DKIM signing. Its `Debug` shows the algorithm only.
pub struct DkimKey(Key);

enum Key {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            Key::Rsa(_) => "DkimKey(rsa, [redacted])",
            Key::Ed25519(_) => "DkimKey(ed25519, [redacted])",
        })
    }
}

impl DkimKey {
    /// A key in PEM: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8,
    /// RSA or Ed25519).
    ///
    /// # Errors
    /// [`DkimError::Key`].
    pub fn from_pem(pem: &[u8]) -> Result<DkimKey, DkimError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| DkimError::Key(e.to_string()))?;
        DkimKey::from_key_der(der)
    }

    /// A key in DER: PKCS#8 (RSA or Ed25519) or PKCS#1 (RSA).
    ///
    /// # Errors
    /// [`DkimError::Key`].
    pub fn from_der(der: &[u8]) -> Result<DkimKey, DkimError> {
        DkimKey::from_key_der(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)))
            .or_else(|_| DkimKey::from_key_der(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der))))
    }

    /// A key file, PEM or DER.
    ///
    /// # Errors
    /// [`DkimError::KeyFile`] when it cannot be read, else as
    /// [`from_pem`](Self::from_pem).
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<DkimKey, DkimError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| DkimError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if bytes.starts_with(b"-----") || bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            DkimKey::from_pem(&bytes)
        } else {
            DkimKey::from_der(&bytes)
        }
    }

    fn from_key_der(der: PrivateKeyDer<'_>) -> Result<DkimKey, DkimError> {
        if let PrivateKeyDer::Pkcs8(pkcs8) = &der
            && let Ok(key) = Ed25519Key::from_pkcs8_maybe_unchecked_der(pkcs8.secret_pkcs8_der())
        {
            return Ok(DkimKey(Key::Ed25519(key)));
        }
        RsaKey::<Sha256>::from_key_der(der)
            .map(|key| DkimKey(Key::Rsa(key)))
            .map_err(|e| DkimError::Key(e.to_string()))
    }
}

/// A DKIM signer: settings and key, shared (cloning is cheap), the same
/// on every client, pool and double.
#[derive(Clone)]
pub struct DkimSigner(Arc<Inner>);

struct Inner {
    settings: DkimSettings,
    signer: Signers,
}

enum Signers {
    Rsa(Signer<RsaKey<Sha256>, Done>),
    Ed25519(Signer<Ed25519Key, Done>),
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner")
            .field("settings", &self.0.settings)
            .field(
                "algorithm",
                &match self.0.signer {
                    Signers::Rsa(_) => "rsa-sha256",
                    Signers::Ed25519(_) => "ed25519-sha256",
                },
            )
            .finish_non_exhaustive()
    }
}

impl PartialEq for DkimSigner {
    fn eq(&self, other: &DkimSigner) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl DkimSigner {
    /// Signs as `settings` say with `key`.
    ///
    /// # Errors
    /// As [`DkimSettings::check`]: a value that cannot go into the
    /// header.
    pub fn new(settings: DkimSettings, key: DkimKey) -> Result<DkimSigner, DkimError> {
        settings.check()?;
        fn configure<T: mail_auth::common::crypto::SigningKey>(
            key: T,
            s: &DkimSettings,
        ) -> Signer<T, Done> {
            let signer = Signer::from_key(key)
                .domain(s.domain.clone())
                .selector(s.selector.clone())
                .headers(s.headers.iter().cloned())
                .header_canonicalization(s.header_canonicalization.into())
                .body_canonicalization(s.body_canonicalization.into());
            match s.expire_after {
                Some(after) => signer.expiration(after.as_secs()),
                None => signer,
            }
        }
        let signer = match key.0 {
            Key::Rsa(key) => Signers::Rsa(configure(key, &settings)),
            Key::Ed25519(key) => Signers::Ed25519(configure(key, &settings)),
        };
        Ok(DkimSigner(Arc::new(Inner { settings, signer })))
    }

    /// The settings.
    pub fn settings(&self) -> &DkimSettings {
        &self.0.settings
    }

    /// Starts signing a message: feed it whole, as it will be
    /// transmitted, then take the `DKIM-Signature:` field to put first.
    pub fn stream(&self) -> DkimStream<'_> {
        let stream = match &self.0.signer {
            Signers::Rsa(s) => Streams::Rsa(s.sign_streaming()),
            Signers::Ed25519(s) => Streams::Ed25519(s.sign_streaming()),
        };
        DkimStream {
            stream,
            normalizer: CrlfNormalizer::new(),
            buf: Vec::new(),
        }
    }

    /// The `DKIM-Signature:` field (with its CRLF) of a whole message.
    ///
    /// # Errors
    /// As [`DkimStream::finish`].
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DkimError> {
        let mut stream = self.stream();
        stream.update(message);
        stream.finish()
    }
}

/// A message being signed ([`DkimSigner::stream`]): the header block is
/// held, the body hashed as it passes, after the same CRLF normalisation
/// the transfer applies.
pub struct DkimStream<'a> {
    stream: Streams<'a>,
    normalizer: CrlfNormalizer,
    buf: Vec<u8>,
}

enum Streams<'a> {
    Rsa(DkimSigningStream<'a, RsaKey<Sha256>>),
    Ed25519(DkimSigningStream<'a, Ed25519Key>),
}

impl std::fmt::Debug for DkimStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimStream").finish_non_exhaustive()
    }
}

/// The most octets normalised at once: the copy stays small however large
/// a piece the caller passes.
const PIECE: usize = 64 * 1024;

impl DkimStream<'_> {
    /// The next octets of the message, as the caller has them (bare LF
    /// allowed).
    pub fn update(&mut self, data: &[u8]) {
        for piece in data.chunks(PIECE) {
            self.buf.clear();
            self.normalizer.push(piece, &mut self.buf);
            self.write_buf();
        }
    }

    fn write_buf(&mut self) {
        match &mut self.stream {
            Streams::Rsa(s) => s.write(&self.buf),
            Streams::Ed25519(s) => s.write(&self.buf),
        }
    }

    /// The `DKIM-Signature:` field, folded, with its CRLF.
    ///
    /// # Errors
    /// [`DkimError::NoHeaders`] when the message has none of the fields
    /// to sign; [`DkimError::Sign`] when the key could not sign.
    pub fn finish(mut self) -> Result<Vec<u8>, DkimError> {
        self.buf.clear();
        self.normalizer.finish(&mut self.buf);
        self.write_buf();
        let signature = match self.stream {
            Streams::Rsa(s) => s.finish(),
            Streams::Ed25519(s) => s.finish(),
        }
        .map_err(|e| match e {
            mail_auth::Error::NoHeadersFound => DkimError::NoHeaders,
            e => DkimError::Sign(e.to_string()),
        })?;
        let mut header = signature.to_header().into_bytes();
        if !header.ends_with(b"\r\n") {
            header.extend_from_slice(b"\r\n");
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing a caller sets reaches the header with a line break or a
    /// tag separator: not through the constructors, nor through the public
    /// fields set afterwards.
    #[test]
    fn values_that_cannot_go_into_the_header_are_refused() {
        assert!(matches!(
            DkimSettings::new("example.org\r\nBcc: x", "s"),
            Err(DkimError::Domain(_))
        ));
        assert!(matches!(
            DkimSettings::new("[127.0.0.1]", "s"),
            Err(DkimError::Domain(_))
        ));
        assert!(matches!(
            DkimSettings::new("example.org", "s; x=1"),
            Err(DkimError::Selector(_))
        ));
        assert!(matches!(
            DkimSettings::new("example.org", ""),
            Err(DkimError::Selector(_))
        ));
        let ok = DkimSettings::new("mail.example.org", "2026-12._sel").unwrap();
        assert!(matches!(
            ok.clone().with_headers(["From", "X:Y"]),
            Err(DkimError::HeaderName(_))
        ));
        let key = DkimKey::from_pem(include_bytes!("../tests/data/dkim-ed25519.pem")).unwrap();
        let mut bad = ok.clone();
        bad.headers.push("Subject\r\nX-Injected".into());
        assert!(matches!(
            DkimSigner::new(bad, key),
            Err(DkimError::HeaderName(_))
        ));
        let key = DkimKey::from_pem(include_bytes!("../tests/data/dkim-ed25519.pem")).unwrap();
        let mut bad = ok;
        bad.domain = "example.org\n".into();
        assert!(matches!(
            DkimSigner::new(bad, key),
            Err(DkimError::Domain(_))
        ));
    }

    #[test]
    fn keys_in_every_form_load_and_never_show() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        for file in [
            "dkim-rsa2048.pem",
            "dkim-rsa2048-pkcs1.pem",
            "dkim-ed25519.pem",
        ] {
            let key = DkimKey::from_file(format!("{data}/{file}")).unwrap();
            let shown = format!("{key:?}");
            assert!(
                shown.contains("[redacted]") && !shown.contains("MII"),
                "{shown}"
            );
        }
        assert!(matches!(
            DkimKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(DkimError::Key(_))
        ));
        assert!(matches!(
            DkimKey::from_file("/nonexistent/key.pem"),
            Err(DkimError::KeyFile { .. })
        ));
        // DER: the PEM's content.
        let pem = std::fs::read(format!("{data}/dkim-rsa2048.pem")).unwrap();
        let der = PrivateKeyDer::from_pem_slice(&pem).unwrap();
        assert!(DkimKey::from_der(der.secret_der()).is_ok());
    }
}
