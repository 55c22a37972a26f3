//! Small SOCKS5 and HTTP CONNECT proxies on loopback, for testing clients
//! that connect through one. They record the target each client asked for
//! (so a test can see that the host name, not an address, was sent).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

/// The kind of test proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    /// SOCKS5 (RFC 1928), optionally with RFC 1929 user/password.
    Socks5,
    /// HTTP CONNECT, optionally with Basic proxy authentication.
    HttpConnect,
}

/// A running test proxy; stops accepting when dropped.
pub struct TestProxy {
    addr: SocketAddr,
    targets: Arc<Mutex<Vec<String>>>,
}

impl TestProxy {
    /// Starts a proxy. With `credentials`, clients must authenticate with
    /// them. Every target is resolved here and connected to; `resolve`
    /// maps a requested host name to an address (names the tests invent).
    ///
    /// # Errors
    /// When the listening socket cannot be made.
    pub fn start(
        protocol: ProxyProtocol,
        credentials: Option<(&str, &str)>,
        resolve: impl Fn(&str, u16) -> Option<SocketAddr> + Send + Sync + 'static,
    ) -> io::Result<TestProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let targets = Arc::new(Mutex::new(Vec::new()));
        let credentials = credentials.map(|(u, p)| (u.to_owned(), p.to_owned()));
        let shared = Arc::clone(&targets);
        let resolve = Arc::new(resolve);
        thread::Builder::new()
            .name("smtp-testkit-proxy".into())
            .spawn(move || {
                for client in listener.incoming().flatten() {
                    let credentials = credentials.clone();
                    let targets = Arc::clone(&shared);
                    let resolve = Arc::clone(&resolve);
                    let _ = thread::Builder::new().spawn(move || {
                        let _ = serve(
                            protocol,
                            client,
                            credentials.as_ref(),
                            &targets,
                            resolve.as_ref(),
                        );
                    });
                }
            })?;
        Ok(TestProxy { addr, targets })
    }

    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `host:port` targets requested so far.
    pub fn targets(&self) -> Vec<String> {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn refuse(mut client: TcpStream, reply: &[u8]) -> io::Result<()> {
    client.write_all(reply)?;
    client.shutdown(Shutdown::Both)
}

fn serve(
    protocol: ProxyProtocol,
    mut client: TcpStream,
    credentials: Option<&(String, String)>,
    targets: &Mutex<Vec<String>>,
    resolve: &(dyn Fn(&str, u16) -> Option<SocketAddr> + Send + Sync),
) -> io::Result<()> {
    let (host, port) = match protocol {
        ProxyProtocol::Socks5 => {
            let mut head = [0u8; 2];
            client.read_exact(&mut head)?;
            let mut methods = vec![0u8; usize::from(head[1])];
            client.read_exact(&mut methods)?;
            let wanted = if credentials.is_some() { 2 } else { 0 };
            if !methods.contains(&wanted) {
                return refuse(client, &[5, 0xff]);
            }
            client.write_all(&[5, wanted])?;
            if let Some((user, password)) = credentials {
                let mut version_len = [0u8; 2];
                client.read_exact(&mut version_len)?;
                let mut u = vec![0u8; usize::from(version_len[1])];
                client.read_exact(&mut u)?;
                let mut plen = [0u8; 1];
                client.read_exact(&mut plen)?;
                let mut p = vec![0u8; usize::from(plen[0])];
                client.read_exact(&mut p)?;
                if u != user.as_bytes() || p != password.as_bytes() {
                    return refuse(client, &[1, 1]);
                }
                client.write_all(&[1, 0])?;
            }
            let mut request = [0u8; 4];
            client.read_exact(&mut request)?;
            let host = match request[3] {
                1 => {
                    let mut a = [0u8; 4];
                    client.read_exact(&mut a)?;
                    std::net::Ipv4Addr::from(a).to_string()
                }
                4 => {
                    let mut a = [0u8; 16];
                    client.read_exact(&mut a)?;
                    std::net::Ipv6Addr::from(a).to_string()
                }
                _ => {
                    let mut len = [0u8; 1];
                    client.read_exact(&mut len)?;
                    let mut name = vec![0u8; usize::from(len[0])];
                    client.read_exact(&mut name)?;
                    String::from_utf8_lossy(&name).into_owned()
                }
            };
            let mut port = [0u8; 2];
            client.read_exact(&mut port)?;
            (host, u16::from_be_bytes(port))
        }
        ProxyProtocol::HttpConnect => {
            let mut reader = BufReader::new(client.try_clone()?);
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let authority = line.split(' ').nth(1).unwrap_or_default().to_owned();
            let mut authorized = credentials.is_none();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header)?;
                if header.trim().is_empty() {
                    break;
                }
                if let (Some((user, password)), Some(value)) = (
                    credentials,
                    header.strip_prefix("Proxy-Authorization: Basic "),
                ) {
                    use base64::Engine as _;
                    let expected = base64::engine::general_purpose::STANDARD
                        .encode(format!("{user}:{password}"));
                    authorized |= value.trim() == expected;
                }
            }
            if !authorized {
                return refuse(client, b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\n\r\n");
            }
            let (host, port) = authority.rsplit_once(':').unwrap_or((&authority, "80"));
            (
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
                port.parse().unwrap_or(80),
            )
        }
    };
    targets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!("{host}:{port}"));
    let Some(target) = resolve(&host, port) else {
        return match protocol {
            ProxyProtocol::Socks5 => refuse(client, &[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]),
            ProxyProtocol::HttpConnect => refuse(client, b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
        };
    };
    let upstream = match TcpStream::connect(target) {
        Ok(s) => s,
        Err(_) => {
            return match protocol {
                ProxyProtocol::Socks5 => refuse(client, &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
                ProxyProtocol::HttpConnect => refuse(client, b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
            };
        }
    };
    match protocol {
        ProxyProtocol::Socks5 => client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?,
        ProxyProtocol::HttpConnect => {
            client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?
        }
    }
    pipe(client, upstream)
}

fn pipe(client: TcpStream, upstream: TcpStream) -> io::Result<()> {
    let (mut c2, mut u2) = (client.try_clone()?, upstream.try_clone()?);
    let forward = thread::spawn(move || {
        let _ = io::copy(&mut c2, &mut u2);
        let _ = u2.shutdown(Shutdown::Write);
    });
    let (mut u, mut c) = (upstream, client);
    let _ = io::copy(&mut u, &mut c);
    let _ = c.shutdown(Shutdown::Write);
    let _ = forward.join();
    Ok(())
}

/// A man in the middle for implicit TLS (smtps): terminates the client's
/// TLS with its own certificate, opens its own TLS connection to the real
/// server, and relays the plaintext both ways. A client that trusts the
/// interceptor's certificate sees nothing wrong; SCRAM-*-PLUS channel
/// binding is what catches it (the two TLS connections differ). For the
/// conformance suite's channel-binding scenarios.
pub struct TlsInterceptor {
    addr: SocketAddr,
}

impl TlsInterceptor {
    /// Listens on loopback. Each client is served with `presented` (a
    /// rustls server configuration, e.g. [`TestCa::server_config`] of a CA
    /// the client also trusts) and relayed to `upstream`, whose
    /// certificate must be valid for `upstream_name` under the CA
    /// certificates in `upstream_ca_pem`.
    ///
    /// # Errors
    /// When the listening socket cannot be made or the PEM does not parse.
    ///
    /// [`TestCa::server_config`]: crate::TestCa::server_config
    pub fn start(
        presented: Arc<rustls::ServerConfig>,
        upstream: SocketAddr,
        upstream_name: &str,
        upstream_ca_pem: &str,
    ) -> io::Result<TlsInterceptor> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(upstream_ca_pem.as_bytes()) {
            roots
                .add(cert.map_err(io::Error::other)?)
                .map_err(io::Error::other)?;
        }
        // Deprecated in rustls 0.23.48 (no post-quantum key exchange),
        // with no replacement for ring; a test proxy needs none.
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let client = Arc::new(client);
        let name = rustls::pki_types::ServerName::try_from(upstream_name.to_owned())
            .map_err(io::Error::other)?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        thread::Builder::new()
            .name("smtp-testkit-tls-interceptor".into())
            .spawn(move || {
                for downstream in listener.incoming().flatten() {
                    let (presented, client, name) =
                        (Arc::clone(&presented), Arc::clone(&client), name.clone());
                    let _ = thread::Builder::new().spawn(move || {
                        let _ = intercept(downstream, presented, upstream, client, name);
                    });
                }
            })?;
        Ok(TlsInterceptor { addr })
    }

    /// Where the interceptor listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Relays one client: two TLS streams, polled in turn with a short read
/// timeout (a blocking rustls stream cannot be shared by two threads).
fn intercept(
    downstream: TcpStream,
    presented: Arc<rustls::ServerConfig>,
    upstream: SocketAddr,
    client: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
) -> io::Result<()> {
    let upstream = TcpStream::connect(upstream)?;
    for socket in [&downstream, &upstream] {
        socket.set_nodelay(true)?;
        socket.set_read_timeout(Some(std::time::Duration::from_millis(5)))?;
    }
    let server_side = rustls::ServerConnection::new(presented).map_err(io::Error::other)?;
    let client_side = rustls::ClientConnection::new(client, name).map_err(io::Error::other)?;
    let mut down = rustls::StreamOwned::new(server_side, downstream);
    let mut up = rustls::StreamOwned::new(client_side, upstream);
    let mut buf = vec![0u8; 16 * 1024];
    let idle_limit = std::time::Duration::from_secs(30);
    let mut last = std::time::Instant::now();
    loop {
        // Both directions every round, so neither starves the other.
        let (Some(sent), Some(received)) = (
            relay(&mut down, &mut up, &mut buf)?,
            relay(&mut up, &mut down, &mut buf)?,
        ) else {
            return Ok(());
        };
        if sent || received {
            last = std::time::Instant::now();
        } else if last.elapsed() > idle_limit {
            return Ok(());
        }
    }
}

/// Moves what `from` has ready to `to`: `Some(true)` when something
/// moved, `None` when `from` has closed.
fn relay(
    from: &mut dyn ReadWrite,
    to: &mut dyn ReadWrite,
    buf: &mut [u8],
) -> io::Result<Option<bool>> {
    match from.read(buf) {
        Ok(0) => Ok(None),
        Ok(n) => {
            to.write_all(&buf[..n])?;
            to.flush()?;
            Ok(Some(true))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(Some(false))
        }
        Err(e) => Err(e),
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
