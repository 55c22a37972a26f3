//! # smtp-tokio: the SMTP client on tokio
//!
//! [`Tokio`] implements `smtp-async`'s [`Runtime`] (connect, sleep,
//! resolve); everything else — the session, TLS, AUTH, proxies, pipelining,
//! the pool — is shared with every other runtime. Futures are `Send +
//! 'static` when their inputs are, so they can be spawned.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use smtpkit_tokio::{Address, Client, ClientSettings, Envelope, Protocol};
//! # let server = smtpkit_testserver::TestServer::start(smtpkit_testserver::Script::new())?;
//!
//! let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
//! settings.port = Some(server.addr().port()); // a test server on loopback
//! let mut client = Client::connect(&settings).await?;
//! let envelope = Envelope::new(Address::parse("me@example.org")?, [Address::parse("you@example.net")?]);
//! let report = client.send(envelope, b"Subject: hi\r\n\r\nHello.\r\n".to_vec()).await?;
//! assert!(report.all_delivered());
//! client.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `ring` | on | TLS crypto from rustls' `ring` provider |
//! | `aws-lc-rs` | off | rustls' `aws-lc-rs` provider instead (`ring` is used when both are on; each TLS configuration gets exactly one, the process default is never used) |
//! | `platform-roots` | on | trust the operating system's roots (`RootSource::Platform`, the default) |
//! | `bundled-roots` | off | Mozilla's roots compiled in (`RootSource::Bundled`), for systems without a trust store |
//! | `tracing` | on | `tracing` debug events: the transcript (secrets redacted) and why a session failed; off, the log calls compile to nothing |
//! | `legacy-auth` | off | the legacy SASL mechanisms CRAM-MD5, DIGEST-MD5 and NTLM (MD4, MD5, DES); one at a time: `cram-md5`, `digest-md5`, `ntlm` |
//! | `lettre` | off | `send_message` takes a `lettre::Message` (lettre with only its `builder` feature) as it is, sent to the envelope lettre gives it (Bcc recipients included, `Bcc:` never transmitted) |
//! | `mail-builder` | off | `send_message` takes a `mail_builder::MessageBuilder` (mail-builder 2) as it is, the envelope from its header (`Bcc:` not transmitted) |
//!
//! A setting that needs a feature that is off is a typed error naming the
//! feature, never a panic: `mail.smtp.auth.mechanisms=NTLM` without `ntlm`
//! is `Error::AuthConfig(SelectError::NotBuiltIn { feature: "ntlm", .. })`
//! before anything is sent; `RootSource::Bundled` without `bundled-roots`
//! is `Error::TlsConfig` whose `TlsFailure` kind is
//! `MissingFeature("bundled-roots")`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use tokio::net::{TcpStream, UnixStream};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};
use tokio_util::either::Either;

/// The tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    /// TCP on the left, a Unix domain socket on the right.
    type Stream = Compat<Either<TcpStream, UnixStream>>;
    type File = Compat<tokio::fs::File>;

    async fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<Self::Stream> {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        if let Some(local) = local {
            socket.set_reuseaddr(true)?;
            socket.bind(local)?;
        }
        let stream = socket.connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Either::Left(stream).compat())
    }

    async fn connect_unix(path: PathBuf) -> io::Result<Self::Stream> {
        // The error names no path: the connector adds it, once.
        let stream = UnixStream::connect(&path).await?;
        Ok(Either::Right(stream).compat())
    }

    fn now() -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(deadline: Instant) -> impl std::future::Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }

    async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host.as_str(), port))
            .await?
            .collect())
    }

    fn local_addr(stream: &Self::Stream) -> Option<SocketAddr> {
        match stream.get_ref() {
            Either::Left(tcp) => tcp.local_addr().ok(),
            Either::Right(_) => None,
        }
    }

    async fn open_file(path: PathBuf) -> io::Result<Self::File> {
        Ok(tokio::fs::File::open(path).await?.compat())
    }
}

smtpkit_async::runtime_api!(Tokio, "tokio");
