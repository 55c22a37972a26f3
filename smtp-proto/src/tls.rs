//! The TLS layer the session drives itself, so adapters never swap streams.
//!
//! rustls' `ClientConnection` is sans-IO, and so is this trait: the session
//! feeds it the ciphertext that arrived, takes the ciphertext to send, and
//! reads and writes plaintext through it. `smtp-tls` implements it with
//! rustls; tests use a fake.

use std::fmt;
use std::sync::Arc;

/// Why TLS failed; the session closes with it.
///
/// `Display` says what failed (`TLS certificate error`, and the message
/// when there is one); the TLS library's own error, when there is one, is
/// [`source()`](std::error::Error::source) and is not repeated in the
/// text. `smtpkit-tls` puts a typed failure there (its `TlsFailure`, with
/// a kind such as an unknown issuer, an expired certificate or a name
/// mismatch, and the `rustls::Error` as its own source).
#[derive(Clone)]
#[non_exhaustive]
pub struct TlsError {
    /// What kind of failure.
    pub kind: TlsErrorKind,
    /// Details that are not in the source (may be empty).
    pub message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TlsError {
    /// An error of `kind` with a message and no source.
    pub fn new(kind: TlsErrorKind, message: impl Into<String>) -> TlsError {
        TlsError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` whose details are `source` (the message is
    /// empty: the source says it).
    pub fn from_source(
        kind: TlsErrorKind,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> TlsError {
        TlsError {
            kind,
            message: String::new(),
            source: Some(Arc::new(source)),
        }
    }

    /// The underlying error, typed, for downcasting (also
    /// [`source()`](std::error::Error::source)).
    pub fn source_ref(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Debug for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS {}", self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Equal when the kind, the message and the source's text are (a source
/// cannot be compared otherwise).
impl PartialEq for TlsError {
    fn eq(&self, other: &TlsError) -> bool {
        self.kind == other.kind
            && self.message == other.message
            && self.source.as_ref().map(ToString::to_string)
                == other.source.as_ref().map(ToString::to_string)
    }
}

impl Eq for TlsError {}

/// The broad reason for a [`TlsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsErrorKind {
    /// The configuration could not be used (bad server name, no roots).
    Config,
    /// The certificate was not trusted (unknown CA, expired, name mismatch).
    Certificate,
    /// The handshake failed (alert, version or cipher not allowed).
    Handshake,
    /// The peer sent something that is not valid TLS.
    Protocol,
}

impl fmt::Display for TlsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsErrorKind::Config => "configuration error",
            TlsErrorKind::Certificate => "certificate error",
            TlsErrorKind::Handshake => "handshake failure",
            TlsErrorKind::Protocol => "protocol error",
        })
    }
}

/// What is known about an established TLS connection. A [`TlsLayer`]
/// builds it from [`Default`], field by field.
///
/// `Debug` shows each certificate's subject and SHA-256 fingerprint
/// ([`peer_summaries`](Self::peer_summaries)), not its DER octets.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// For example `TLSv1.3`.
    pub version: Option<String>,
    /// For example `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: Option<String>,
    /// The server's certificate chain, DER, leaf first.
    pub peer_certificates: Vec<Vec<u8>>,
    /// The same chain as a person reads it: subject and fingerprint, leaf
    /// first (filled by `smtpkit-tls`, which can hash).
    pub peer_summaries: Vec<CertificateSummary>,
    /// Whether the server certificate was verified against trusted roots
    /// and the server name (REQUIRETLS needs this).
    pub verified: bool,
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("TlsInfo");
        s.field("version", &self.version)
            .field("cipher_suite", &self.cipher_suite)
            .field("verified", &self.verified);
        if self.peer_summaries.is_empty() {
            let octets: usize = self.peer_certificates.iter().map(Vec::len).sum();
            s.field(
                "peer_certificates",
                &format_args!(
                    "{} certificate(s), {octets} octets of DER",
                    self.peer_certificates.len()
                ),
            );
        } else {
            s.field("peer_certificates", &self.peer_summaries);
        }
        s.finish()
    }
}

/// A certificate as a person reads it: its subject and its SHA-256
/// fingerprint, the value `openssl x509 -fingerprint -sha256` prints. The
/// subject is the server's text: `Debug` and `Display` escape it
/// ([`escape_text`](crate::escape_text)); escape it too before showing the
/// field itself.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateSummary {
    /// The subject's attributes, `CN=mx.example.org, O=Example`.
    pub subject: String,
    /// The SHA-256 of the DER.
    pub sha256: [u8; 32],
}

impl CertificateSummary {
    /// A summary of these values.
    pub fn new(subject: impl Into<String>, sha256: [u8; 32]) -> CertificateSummary {
        CertificateSummary {
            subject: subject.into(),
            sha256,
        }
    }

    /// The fingerprint as `AB:CD:…`, as openssl prints it.
    pub fn fingerprint(&self) -> String {
        let mut out = String::with_capacity(95);
        for (i, b) in self.sha256.iter().enumerate() {
            if i > 0 {
                out.push(':');
            }
            out.push_str(&format!("{b:02X}"));
        }
        out
    }
}

impl fmt::Debug for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (SHA-256 {})",
            crate::escape_text(&self.subject),
            self.fingerprint()
        )
    }
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A channel-binding type (RFC 5056) this library can bind SASL to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelBindingType {
    /// `tls-exporter` (RFC 9266): 32 octets from the TLS exporter with the
    /// label `EXPORTER-Channel-Binding` and an empty context. Unique to
    /// the connection; the binding for TLS 1.3.
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 §4): a hash of the server's
    /// certificate. Proves that both ends saw the same certificate, not
    /// the same connection; the binding this library uses on TLS 1.2,
    /// where rustls offers no `tls-unique`.
    TlsServerEndPoint,
}

impl ChannelBindingType {
    /// The registered name, as the GS2 header carries it (`p=NAME`).
    pub fn name(self) -> &'static str {
        match self {
            ChannelBindingType::TlsExporter => "tls-exporter",
            ChannelBindingType::TlsServerEndPoint => "tls-server-end-point",
        }
    }
}

impl fmt::Display for ChannelBindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The channel-binding data of one TLS connection, handed by the
/// [`TlsLayer`] to the SASL mechanism (SCRAM-*-PLUS) through the session,
/// so that the core links no cryptography. `Debug` shows the type and the
/// length, not the octets.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    kind: ChannelBindingType,
    data: Vec<u8>,
}

impl ChannelBinding {
    /// Binding data of this type.
    pub fn new(kind: ChannelBindingType, data: Vec<u8>) -> ChannelBinding {
        ChannelBinding { kind, data }
    }

    /// The type.
    pub fn kind(&self) -> ChannelBindingType {
        self.kind
    }

    /// The octets (the `cbind-data` of RFC 5802).
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("len", &self.data.len())
            .finish()
    }
}

/// One TLS connection, driven by the session (see the module docs).
pub trait TlsLayer: Send {
    /// Feeds ciphertext received from the peer; returns how much was taken
    /// (the session offers the rest again later).
    ///
    /// # Errors
    /// A [`TlsError`] that ends the connection.
    fn read_tls(&mut self, ciphertext: &[u8]) -> Result<usize, TlsError>;

    /// Appends ciphertext that must be sent to the peer to `out`.
    fn write_tls(&mut self, out: &mut Vec<u8>);

    /// Appends decrypted plaintext to `out`.
    ///
    /// # Errors
    /// A [`TlsError`] that ends the connection.
    fn read_plaintext(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError>;

    /// Encrypts plaintext to send (emitted by the next `write_tls`).
    ///
    /// # Errors
    /// A [`TlsError`] that ends the connection.
    fn write_plaintext(&mut self, plaintext: &[u8]) -> Result<(), TlsError>;

    /// True until the handshake has completed.
    fn is_handshaking(&self) -> bool;

    /// Queues a close_notify alert.
    fn send_close_notify(&mut self);

    /// Details of the established connection.
    fn info(&self) -> TlsInfo;

    /// The connection's channel-binding data, once the handshake is done:
    /// the type this layer can produce for the negotiated TLS version, or
    /// `None` (the default) when it can produce none. SCRAM-*-PLUS is
    /// chosen only when this is `Some`.
    fn channel_binding(&self) -> Option<ChannelBinding> {
        None
    }
}

/// Makes a [`TlsLayer`] for a connection to `server_name` (the name the
/// certificate must match).
pub trait TlsConnector: Send + Sync {
    /// Starts a client TLS connection.
    ///
    /// # Errors
    /// A [`TlsError`] of kind [`TlsErrorKind::Config`].
    fn connect(&self, server_name: &str) -> Result<Box<dyn TlsLayer>, TlsError>;
}
