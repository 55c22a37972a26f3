//! # smtp-smol: the SMTP client on futures-io and async-io
//!
//! [`Smol`] implements `smtp-async`'s [`Runtime`] with `async-io` (the
//! reactor smol and async-std both run on) and `blocking` for name
//! resolution, so the same client runs under `smol::block_on`, any smol
//! executor, and async-std (discontinued upstream, still in use; tested
//! here, not built on). [`Client::from_stream`](smtpkit_async::Client::from_stream)
//! takes an already-connected stream of any `futures-io` type.
//!
//! ```
//! use smtpkit_smol::{Address, Client, ClientSettings, Envelope, Protocol};
//! # let server = smtpkit_testserver::TestServer::start(smtpkit_testserver::Script::new()).unwrap();
//!
//! smol::block_on(async {
//!     let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
//!     settings.port = Some(server.addr().port()); // a test server on loopback
//!     let mut client = Client::connect(&settings).await?;
//!     let envelope = Envelope::new(Address::parse("me@example.org")?, [Address::parse("you@example.net")?]);
//!     let report = client.send(envelope, b"Subject: hi\r\n\r\nHello.\r\n".to_vec()).await?;
//!     assert!(report.all_delivered());
//!     client.close().await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Instant;

use async_io::{Async, Timer};
use futures_util::future::Either;

/// The async-io runtime (smol, async-std).
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

impl Runtime for Smol {
    /// TCP on the left, a Unix domain socket on the right.
    type Stream = Either<Async<TcpStream>, Async<std::os::unix::net::UnixStream>>;
    /// A small pipe: the default (8 MiB) would dominate a streamed send's
    /// memory.
    type File = blocking::Unblock<std::fs::File>;

    async fn connect(addr: SocketAddr, local: Option<SocketAddr>) -> io::Result<Self::Stream> {
        let stream = match local {
            None => Async::<TcpStream>::connect(addr).await?,
            Some(local) => {
                use socket2::{Domain, Socket, Type};
                let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
                socket.set_reuse_address(true)?;
                socket.bind(&local.into())?;
                socket.set_nonblocking(true)?;
                match socket.connect(&addr.into()) {
                    Ok(()) => {}
                    Err(e)
                        if e.raw_os_error() == Some(115)
                            || e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                let stream = Async::new(TcpStream::from(socket))?;
                stream.writable().await?;
                if let Some(e) = stream.get_ref().take_error()? {
                    return Err(e);
                }
                stream
            }
        };
        stream.get_ref().set_nodelay(true)?;
        Ok(Either::Left(stream))
    }

    async fn connect_unix(path: PathBuf) -> io::Result<Self::Stream> {
        // The error names no path: the connector adds it, once.
        let stream = Async::<std::os::unix::net::UnixStream>::connect(&path).await?;
        Ok(Either::Right(stream))
    }

    fn now() -> Instant {
        Instant::now()
    }

    async fn sleep_until(deadline: Instant) {
        Timer::at(deadline).await;
    }

    async fn resolve(host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        blocking::unblock(move || {
            (host.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect)
        })
        .await
    }

    fn local_addr(stream: &Self::Stream) -> Option<SocketAddr> {
        match stream {
            Either::Left(tcp) => tcp.get_ref().local_addr().ok(),
            Either::Right(_) => None,
        }
    }

    async fn open_file(path: PathBuf) -> io::Result<Self::File> {
        let file = blocking::unblock(move || std::fs::File::open(path)).await?;
        Ok(blocking::Unblock::with_capacity(256 * 1024, file))
    }
}

smtpkit_async::runtime_api!(Smol, "smol / async-std");
