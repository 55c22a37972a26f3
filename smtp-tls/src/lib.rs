//! # smtp-tls: TLS for the SMTP session, with rustls
//!
//! [`TlsSettings`] (the `mail.smtp.ssl.*` world) becomes a rustls
//! `ClientConfig`, and [`RustlsConnector`] implements `smtp-proto`'s
//! [`TlsConnector`] / [`TlsLayer`], so STARTTLS and implicit TLS run inside
//! the sans-IO session and every adapter (blocking, tokio, smol) gets them
//! without a TLS dependency of its own.
//!
//! A failure is a [`TlsError`] (a broad [`TlsErrorKind`]) whose source is a
//! [`TlsFailure`] with a [`TlsFailureKind`] (unknown issuer, name mismatch,
//! expired, the server's alert, no common protocol version, …), whose
//! source in turn is the `rustls::Error`.
//!
//! Where this differs from JavaMail 1.6: the server's host name is checked
//! by default (`mail.smtp.ssl.checkserveridentity` defaults to false in
//! JavaMail 1.6; Jakarta Mail 2 turned it on, as we do); an explicit
//! `false` is honoured (the chain is still verified).
//!
//! ```
//! use smtpkit_tls::{TlsSettings, Trust};
//!
//! let mut settings = TlsSettings::default();       // the platform's roots
//! assert_eq!(settings.trust, Trust::Verify);        // the chain is verified
//! assert!(settings.verifies());                     // and the name
//! settings.protocols = vec!["TLSv1.3".into()];      // mail.smtp.ssl.protocols
//! let connector = settings.connector()?;
//! // `connector` goes into SessionConfig::tls; the session drives it.
//! # let _ = connector;
//! # Ok::<(), smtpkit_proto::TlsError>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `ring` | on | rustls' crypto provider `ring` (builds with a C compiler only) |
//! | `aws-lc-rs` | off | the `aws-lc-rs` provider instead; when both are on, `ring` is used |
//! | `platform-roots` | on | [`RootSource::Platform`], the default: the operating system's trust store (rustls-native-certs) |
//! | `bundled-roots` | off | [`RootSource::Bundled`]: Mozilla's roots compiled in (webpki-roots), for systems without a trust store |
//!
//! Each `ClientConfig` is built with one provider, chosen here
//! ([`crypto_provider`]); the process-wide default provider is never
//! consulted or installed, so enabling both providers (as
//! `--all-features` does) cannot panic. A setting that needs a feature that
//! is off ([`RootSource::Bundled`] without `bundled-roots`, no provider at
//! all) is a [`TlsErrorKind::Config`] error whose [`TlsFailure`] is
//! [`TlsFailureKind::MissingFeature`] naming it. Without `platform-roots`
//! the default [`RootSource`] is `Bundled` when that is on, else `None`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};
pub use smtpkit_proto::{
    CertificateSummary, ChannelBinding, ChannelBindingType, TlsConnector, TlsError, TlsErrorKind,
    TlsInfo, TlsLayer,
};

mod failure;
mod spki;

pub use failure::{TlsFailure, TlsFailureKind, map_error};
use sha2::Digest as _;
pub use spki::{spki_sha256, summarize, tls_server_end_point};

/// A [`TlsErrorKind::Config`] error with this message.
pub fn config_error(message: impl Into<String>) -> TlsError {
    TlsError::new(TlsErrorKind::Config, message)
}

/// Where trusted root certificates come from.
///
/// The default is `Platform` (with the `platform-roots` feature, on by
/// default), else `Bundled` (with `bundled-roots`), else `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootSource {
    /// The operating system's store (rustls-native-certs; feature
    /// `platform-roots`).
    #[cfg_attr(feature = "platform-roots", default)]
    Platform,
    /// Mozilla's roots compiled in (webpki-roots; feature `bundled-roots`).
    #[cfg_attr(
        all(feature = "bundled-roots", not(feature = "platform-roots")),
        default
    )]
    Bundled,
    /// None: only `extra_ca` (and `trust`).
    #[cfg_attr(
        not(any(feature = "platform-roots", feature = "bundled-roots")),
        default
    )]
    None,
}

impl RootSource {
    /// Whether this build has these roots (`Platform` needs the
    /// `platform-roots` feature, `Bundled` `bundled-roots`).
    pub fn is_built_in(self) -> bool {
        match self {
            RootSource::Platform => cfg!(feature = "platform-roots"),
            RootSource::Bundled => cfg!(feature = "bundled-roots"),
            RootSource::None => true,
        }
    }
}

/// Whom to trust beyond a verified chain (`mail.smtp.ssl.trust`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Trust {
    /// Verify the chain (and the name unless `check_server_identity` is
    /// false).
    #[default]
    Verify,
    /// `*`: every host, no verification at all.
    All,
    /// These hosts' certificates are accepted without verification, as
    /// JavaMail's `MailSSLSocketFactory` does; other hosts are verified.
    Hosts(Vec<String>),
}

impl Trust {
    /// Parses `mail.smtp.ssl.trust`: `*`, or a whitespace-separated host
    /// list; empty is [`Trust::Verify`].
    pub fn parse(value: &str) -> Trust {
        match value.trim() {
            "" => Trust::Verify,
            "*" => Trust::All,
            hosts => Trust::Hosts(hosts.split_whitespace().map(str::to_owned).collect()),
        }
    }
}

/// A client certificate chain and its private key, PEM.
#[derive(Clone)]
pub struct ClientCertificate {
    /// The chain, leaf first.
    pub chain_pem: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCertificate { key: [redacted], .. }")
    }
}

/// TLS settings, the typed form of the `mail.smtp.ssl.*` properties.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Root certificates.
    pub roots: RootSource,
    /// More CA certificates, PEM files (`--ca FILE`).
    pub extra_ca_files: Vec<PathBuf>,
    /// More CA certificates, PEM text.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// `mail.smtp.ssl.trust`.
    pub trust: Trust,
    /// `mail.smtp.ssl.checkserveridentity` (default true; see crate docs).
    pub check_server_identity: bool,
    /// `mail.smtp.ssl.protocols`: `TLSv1.2`, `TLSv1.3` (empty: both).
    pub protocols: Vec<String>,
    /// `mail.smtp.ssl.ciphersuites`: rustls or IANA names (empty: the
    /// provider's defaults).
    pub cipher_suites: Vec<String>,
    /// A client certificate (`--client-cert`, `--client-key`).
    pub client_certificate: Option<ClientCertificate>,
    /// SHA-256 pins of the server's SubjectPublicKeyInfo: when non-empty,
    /// the leaf's key must match one (checked in addition to the chain).
    pub pins: Vec<[u8; 32]>,
    /// SHA-256 fingerprints of whole server certificates (their DER, as
    /// `openssl x509 -fingerprint -sha256` and msmtp's `tls_fingerprint`
    /// show them): when non-empty, a leaf certificate with one of these
    /// fingerprints is accepted without chain or name verification, and any
    /// other is refused.
    pub certificate_pins: Vec<[u8; 32]>,
    /// Send SNI (default true).
    pub sni: bool,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            roots: RootSource::default(),
            extra_ca_files: Vec::new(),
            extra_ca_pem: Vec::new(),
            trust: Trust::Verify,
            check_server_identity: true,
            protocols: Vec::new(),
            cipher_suites: Vec::new(),
            client_certificate: None,
            pins: Vec::new(),
            certificate_pins: Vec::new(),
            sni: true,
        }
    }
}

/// The crypto provider every `ClientConfig` of this crate is built with:
/// `ring` when that feature is on, else `aws-lc-rs`. Use it for a
/// `ClientConfig` of your own ([`RustlsConnector::new`]) to stay
/// independent of the process-wide default.
///
/// rustls 0.23.48 deprecates its `ring` provider because it has no
/// post-quantum key exchange (X25519MLKEM768); there is no replacement for
/// `ring` users, so the `ring` feature keeps it, with the deprecation
/// allowed here. Build with `default-features = false, features =
/// ["aws-lc-rs", ...]` for post-quantum key exchange.
///
/// # Errors
/// [`TlsFailureKind::MissingFeature`] when neither feature is on.
pub fn crypto_provider() -> Result<CryptoProvider, TlsError> {
    #[cfg(feature = "ring")]
    {
        // Deprecated in rustls 0.23.48 for lacking post-quantum key
        // exchange, with no replacement: see above.
        #[allow(deprecated)]
        Ok(rustls::crypto::ring::default_provider())
    }
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    {
        Ok(rustls::crypto::aws_lc_rs::default_provider())
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    {
        Err(failure::missing_feature("a crypto provider", "ring"))
    }
}

impl TlsSettings {
    /// Whether connections made with these settings verify the server
    /// fully (chain and name), which REQUIRETLS needs.
    pub fn verifies(&self) -> bool {
        self.trust == Trust::Verify && self.check_server_identity
    }

    /// The rustls configuration.
    ///
    /// # Errors
    /// [`TlsErrorKind::Config`]: unreadable CA files, unknown protocol or
    /// cipher suite names, a bad client key, no roots at all.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut provider = crypto_provider()?;
        if !self.cipher_suites.is_empty() {
            let mut chosen = Vec::new();
            for name in &self.cipher_suites {
                let suite = provider
                    .cipher_suites
                    .iter()
                    .find(|s| suite_matches(s, name))
                    .ok_or_else(|| {
                        config_error(format!("unknown or unsupported cipher suite {name}"))
                    })?;
                chosen.push(*suite);
            }
            provider.cipher_suites = chosen;
        }
        let versions: Vec<&'static rustls::SupportedProtocolVersion> = if self.protocols.is_empty()
        {
            vec![&rustls::version::TLS13, &rustls::version::TLS12]
        } else {
            self.protocols
                .iter()
                .map(|p| match p.trim() {
                    "TLSv1.3" | "TLS1.3" | "1.3" => Ok(&rustls::version::TLS13),
                    "TLSv1.2" | "TLS1.2" | "1.2" => Ok(&rustls::version::TLS12),
                    other => Err(config_error(format!(
                        "protocol {other} is not available (TLSv1.2 and TLSv1.3 are)"
                    ))),
                })
                .collect::<Result<_, _>>()?
        };
        let provider = Arc::new(provider);
        let roots = Arc::new(self.root_store()?);
        let webpki = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(
                    Arc::clone(&roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| config_error(format!("the root certificates: {e}")))?,
            )
        };
        if webpki.is_none() && !matches!(self.trust, Trust::All) && self.certificate_pins.is_empty()
        {
            return Err(config_error(if cfg!(feature = "platform-roots") {
                "no trusted root certificates (add a CA, or use the platform or bundled roots)"
            } else {
                "no trusted root certificates (add a CA; the platform roots need the \
                 `platform-roots` feature, the bundled ones `bundled-roots`)"
            }));
        }
        let verifier = Arc::new(Verifier {
            webpki,
            trust: self.trust.clone(),
            check_name: self.check_server_identity,
            pins: self.pins.clone(),
            certificate_pins: self.certificate_pins.clone(),
            provider: Arc::clone(&provider),
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| failure::config_rustls("the protocol versions", e))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match &self.client_certificate {
            Some(c) => {
                let chain = CertificateDer::pem_slice_iter(&c.chain_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| config_error(format!("client certificate: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(&c.key_pem)
                    .map_err(|e| config_error(format!("client key: {e}")))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| failure::config_rustls("the client certificate", e))?
            }
            None => builder.with_no_client_auth(),
        };
        config.enable_sni = self.sni;
        Ok(Arc::new(config))
    }

    fn root_store(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match self.roots {
            #[cfg(feature = "platform-roots")]
            RootSource::Platform => roots = platform_roots().clone(),
            #[cfg(not(feature = "platform-roots"))]
            RootSource::Platform => {
                return Err(failure::missing_feature(
                    "RootSource::Platform (the operating system's roots)",
                    "platform-roots",
                ));
            }
            #[cfg(feature = "bundled-roots")]
            RootSource::Bundled => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            #[cfg(not(feature = "bundled-roots"))]
            RootSource::Bundled => {
                return Err(failure::missing_feature(
                    "RootSource::Bundled (the compiled-in roots)",
                    "bundled-roots",
                ));
            }
            RootSource::None => {}
        }
        let mut pems: Vec<(String, Vec<u8>)> = self
            .extra_ca_pem
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("extra CA #{i}"), p.clone()))
            .collect();
        for path in &self.extra_ca_files {
            let text = std::fs::read(path)
                .map_err(|e| config_error(format!("{}: {e}", path.display())))?;
            pems.push((path.display().to_string(), text));
        }
        for (name, pem) in pems {
            let certs = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config_error(format!("{name}: {e}")))?;
            if certs.is_empty() {
                return Err(config_error(format!("{name}: no certificate found")));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| config_error(format!("{name}: {e}")))?;
            }
        }
        Ok(roots)
    }

    /// A connector for the session (`SessionConfig::tls`).
    ///
    /// # Errors
    /// As [`client_config`](Self::client_config).
    pub fn connector(&self) -> Result<Arc<dyn TlsConnector>, TlsError> {
        Ok(Arc::new(RustlsConnector {
            config: self.client_config()?,
            verifies: self.verifies(),
        }))
    }
}

/// The operating system's trust store, read once per process: reading and
/// parsing it costs milliseconds, and a pool or a bulk send builds a
/// configuration per connection. A store changed while the process runs is
/// seen by the next process.
#[cfg(feature = "platform-roots")]
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: std::sync::OnceLock<RootCertStore> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(platform_root_certificates().iter().cloned());
        roots
    })
}

/// The operating system's root certificates as DER, read once per process
/// (the store [`RootSource::Platform`] trusts), for another TLS client of
/// the same program (smtpkit-oauth2's token endpoint) to trust the same.
#[cfg(feature = "platform-roots")]
pub fn platform_root_certificates() -> &'static [CertificateDer<'static>] {
    static CERTS: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    CERTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

fn suite_matches(suite: &rustls::SupportedCipherSuite, name: &str) -> bool {
    let rustls_name = format!("{:?}", suite.suite());
    let iana = rustls_name.replacen("TLS13_", "TLS_", 1);
    name.eq_ignore_ascii_case(&rustls_name) || name.eq_ignore_ascii_case(&iana)
}

/// The chain verifier with JavaMail's trust options and key pinning.
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    trust: Trust,
    check_name: bool,
    pins: Vec<[u8; 32]>,
    certificate_pins: Vec<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl Verifier {
    fn check_pins(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        if self.pins.is_empty() {
            return Ok(());
        }
        let digest = spki_sha256(end_entity.as_ref()).ok_or(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        ))?;
        if self.pins.contains(&digest) {
            Ok(())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.certificate_pins.is_empty() {
            // The pinned certificate is the trust anchor (msmtp's
            // tls_fingerprint): no chain, no name, nothing else accepted.
            let digest: [u8; 32] = sha2::Sha256::digest(end_entity.as_ref()).into();
            return if self.certificate_pins.contains(&digest) {
                self.check_pins(end_entity)?;
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ))
            };
        }
        let host = server_name.to_str();
        let trusted_host = match &self.trust {
            Trust::All => true,
            Trust::Hosts(hosts) => hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)),
            Trust::Verify => false,
        };
        if !trusted_host {
            let Some(webpki) = &self.webpki else {
                return Err(rustls::Error::InvalidCertificate(
                    CertificateError::UnknownIssuer,
                ));
            };
            match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(_) => {}
                // The chain was verified before the name was checked.
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) if !self.check_name => {}
                Err(e) => return Err(e),
            }
        }
        self.check_pins(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Makes rustls TLS layers: from [`TlsSettings`], or from your own
/// `ClientConfig` (the role of `mail.smtp.ssl.socketFactory`).
#[derive(Debug, Clone)]
pub struct RustlsConnector {
    config: Arc<ClientConfig>,
    verifies: bool,
}

impl RustlsConnector {
    /// A connector with your own configuration. `verifies` says whether it
    /// verifies chain and name (REQUIRETLS relies on it).
    pub fn new(config: Arc<ClientConfig>, verifies: bool) -> RustlsConnector {
        RustlsConnector { config, verifies }
    }
}

impl TlsConnector for RustlsConnector {
    fn connect(&self, server_name: &str) -> Result<Box<dyn TlsLayer>, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| config_error(format!("server name {server_name:?}: {e}")))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name).map_err(map_error)?;
        // The session bounds what it buffers; rustls must take whatever
        // the session hands it in one call.
        conn.set_buffer_limit(None);
        Ok(Box::new(RustlsLayer {
            conn,
            verifies: self.verifies,
        }))
    }
}

/// One rustls client connection as a [`TlsLayer`].
pub struct RustlsLayer {
    conn: ClientConnection,
    verifies: bool,
}

impl std::fmt::Debug for RustlsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsLayer")
            .field("handshaking", &self.conn.is_handshaking())
            .finish()
    }
}

fn io_error(e: std::io::Error) -> TlsError {
    TlsError::from_source(TlsErrorKind::Protocol, e)
}

impl TlsLayer for RustlsLayer {
    fn read_tls(&mut self, ciphertext: &[u8]) -> Result<usize, TlsError> {
        let mut reader = ciphertext;
        let n = self.conn.read_tls(&mut reader).map_err(io_error)?;
        self.conn.process_new_packets().map_err(map_error)?;
        Ok(n)
    }

    fn write_tls(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    fn read_plaintext(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(io_error(e)),
            }
        }
    }

    fn write_plaintext(&mut self, plaintext: &[u8]) -> Result<(), TlsError> {
        self.conn.writer().write_all(plaintext).map_err(io_error)
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn send_close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// `tls-exporter` on TLS 1.3 (RFC 9266: the exporter with the label
    /// `EXPORTER-Channel-Binding`, an empty context, 32 octets);
    /// `tls-server-end-point` on TLS 1.2 (RFC 5929 §4.1, from the server's
    /// certificate), where rustls offers no `tls-unique` and the exporter
    /// is only safe with the extended master secret, which rustls does not
    /// report.
    fn channel_binding(&self) -> Option<ChannelBinding> {
        if self.conn.is_handshaking() {
            return None;
        }
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => {
                let data = self
                    .conn
                    .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(&[]))
                    .ok()?;
                Some(ChannelBinding::new(
                    ChannelBindingType::TlsExporter,
                    data.to_vec(),
                ))
            }
            rustls::ProtocolVersion::TLSv1_2 => {
                let leaf = self.conn.peer_certificates()?.first()?;
                let data = tls_server_end_point(leaf)?;
                Some(ChannelBinding::new(
                    ChannelBindingType::TlsServerEndPoint,
                    data,
                ))
            }
            _ => None,
        }
    }

    fn info(&self) -> TlsInfo {
        let mut info = TlsInfo::default();
        info.version = self.conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        });
        info.cipher_suite = self
            .conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()));
        info.peer_certificates = self
            .conn
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
            .unwrap_or_default();
        info.peer_summaries = info
            .peer_certificates
            .iter()
            .map(|der| summarize(der))
            .collect();
        info.verified = self.verifies;
        info
    }
}
