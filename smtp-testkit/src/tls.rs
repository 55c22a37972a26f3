//! TLS for the test server (STARTTLS and implicit TLS) and a throwaway
//! certificate authority for tests and the demo.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use sha2::Digest as _;

use crate::auth::Channel;

/// A CA and a server certificate it signed, PEM.
#[derive(Clone)]
pub struct TestCa {
    /// The CA certificate: what clients must trust.
    pub ca_pem: String,
    /// The server certificate chain (leaf, then the CA).
    pub chain_pem: String,
    /// The server's private key.
    pub key_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa { .. }")
    }
}

impl TestCa {
    /// A new CA and a certificate for `names` (DNS names or IP addresses),
    /// valid now (rcgen's default validity, 1975 to 4096).
    ///
    /// # Errors
    /// When key generation fails.
    pub fn new(names: &[&str]) -> Result<TestCa, rcgen::Error> {
        TestCa::issue(names, None)
    }

    /// A CA (valid now) and a certificate for `names` that expired at the
    /// end of 2001.
    ///
    /// # Errors
    /// When key generation fails.
    pub fn expired(names: &[&str]) -> Result<TestCa, rcgen::Error> {
        TestCa::issue(
            names,
            Some((
                rcgen::date_time_ymd(2000, 1, 1),
                rcgen::date_time_ymd(2001, 12, 31),
            )),
        )
    }

    /// A CA (valid now) and a certificate for `names` that becomes valid
    /// in 2999.
    ///
    /// # Errors
    /// When key generation fails.
    pub fn not_yet_valid(names: &[&str]) -> Result<TestCa, rcgen::Error> {
        TestCa::issue(
            names,
            Some((
                rcgen::date_time_ymd(2999, 1, 1),
                rcgen::date_time_ymd(3000, 1, 1),
            )),
        )
    }

    fn issue(
        names: &[&str],
        validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    ) -> Result<TestCa, rcgen::Error> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        // A distinct name per CA, so that an untrusted one is "unknown",
        // not a trusted name with a bad signature.
        let id: String = ca_key
            .public_key_raw()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("smtp-testkit CA {id}"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        if let Some((not_before, not_after)) = validity {
            params.not_before = not_before;
            params.not_after = not_after;
        }
        let ca_pem = ca.pem();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(TestCa {
            chain_pem: format!("{}{ca_pem}", cert.pem()),
            ca_pem,
            key_pem: key.serialize_pem(),
        })
    }

    /// A rustls server configuration presenting this certificate, limited
    /// to `versions` (both TLS 1.2 and 1.3 when empty).
    ///
    /// # Errors
    /// When the PEM does not parse.
    pub fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> io::Result<Arc<ServerConfig>> {
        let chain = CertificateDer::pem_slice_iter(self.chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(io::Error::other)?;
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(io::Error::other)?;
        let versions = if versions.is_empty() {
            rustls::DEFAULT_VERSIONS
        } else {
            versions
        };
        // ring's provider is deprecated in rustls 0.23.48 (no post-quantum
        // key exchange) with no replacement; a test server needs none.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
        Ok(Arc::new(config))
    }
}

/// The connection's byte stream, plaintext or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(
        Box<StreamOwned<ServerConnection, TcpStream>>,
        Arc<Presented>,
    ),
}

/// Wraps a configuration's certificate resolver to remember which
/// certificate this connection presented: rustls does not say, and
/// `tls-server-end-point` is its hash.
#[derive(Debug)]
pub(crate) struct Presented {
    inner: Arc<dyn ResolvesServerCert>,
    chosen: Mutex<Option<Arc<CertifiedKey>>>,
}

impl ResolvesServerCert for Presented {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let key = self.inner.resolve(hello);
        *self.chosen.lock().unwrap_or_else(PoisonError::into_inner) = key.clone();
        key
    }
}

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s, _) => &s.sock,
        }
    }

    /// The channel-binding data of this end (none in plaintext):
    /// `tls-exporter` on TLS 1.3 (RFC 9266), and `tls-server-end-point`
    /// (RFC 5929), the SHA-256 of the certificate presented: the test
    /// certificates are ECDSA with SHA-256, for which RFC 5929 §4.1 picks
    /// SHA-256.
    pub(crate) fn channel(&self, offers_plus: bool) -> Channel {
        let Stream::Tls(s, presented) = self else {
            return Channel::default();
        };
        let exporter = (s.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3))
            .then(|| {
                s.conn
                    .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(&[]))
                    .ok()
                    .map(|data| data.to_vec())
            })
            .flatten();
        let end_point = presented
            .chosen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .and_then(|key| key.cert.first())
            .map(|leaf| sha2::Sha256::digest(leaf.as_ref()).to_vec());
        Channel {
            exporter,
            end_point,
            offers_plus,
        }
    }

    /// Upgrades a plaintext stream (STARTTLS, or implicit TLS at accept).
    pub(crate) fn upgrade(self, config: &Arc<ServerConfig>) -> io::Result<Stream> {
        match self {
            Stream::Plain(sock) => {
                let presented = Arc::new(Presented {
                    inner: Arc::clone(&config.cert_resolver),
                    chosen: Mutex::new(None),
                });
                let mut config = ServerConfig::clone(config);
                config.cert_resolver = Arc::clone(&presented) as Arc<dyn ResolvesServerCert>;
                let conn = ServerConnection::new(Arc::new(config)).map_err(io::Error::other)?;
                Ok(Stream::Tls(
                    Box::new(StreamOwned::new(conn, sock)),
                    presented,
                ))
            }
            tls => Ok(tls),
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if let Stream::Tls(s, _) = self {
            s.conn.send_close_notify();
            let _ = s.conn.complete_io(&mut s.sock);
        }
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s, _) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s, _) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s, _) => s.flush(),
        }
    }
}
