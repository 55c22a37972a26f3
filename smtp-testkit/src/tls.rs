//! TLS for the test server (STARTTLS and implicit TLS) and a throwaway
//! certificate authority for tests and the demo.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

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
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
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
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Upgrades a plaintext stream (STARTTLS, or implicit TLS at accept).
    pub(crate) fn upgrade(self, config: &Arc<ServerConfig>) -> io::Result<Stream> {
        match self {
            Stream::Plain(sock) => {
                let conn = ServerConnection::new(Arc::clone(config)).map_err(io::Error::other)?;
                Ok(Stream::Tls(Box::new(StreamOwned::new(conn, sock))))
            }
            tls => Ok(tls),
        }
    }

    pub(crate) fn shutdown(&mut self) {
        if let Stream::Tls(s) = self {
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
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}
