//! # smtp-async: one async SMTP client for every runtime
//!
//! quinn's shape: a runtime-neutral client over a small [`Runtime`] trait
//! (connect, sleep, resolve), which `smtp-tokio` and `smtp-smol` implement
//! in a few dozen lines each. The client moves bytes between a
//! `futures-io` stream and `smtp-proto`'s sans-IO [`Session`]; TLS runs
//! inside the session, so no runtime needs a TLS crate of its own, and
//! every decision is made once, in `smtp-proto`.
//!
//! ## A runtime in a few lines
//!
//! `smtp-tokio` and `smtp-smol` are this, plus a file helper:
//!
//! ```
//! use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
//! use std::time::Instant;
//! use async_io::{Async, Timer};
//! use smtp_async::{Client, ClientSettings, Protocol, Runtime};
//! use smtp_proto::{Address, Envelope};
//!
//! struct MyRuntime;
//!
//! impl Runtime for MyRuntime {
//!     type Stream = Async<TcpStream>;
//!     async fn connect(addr: SocketAddr, _local: Option<SocketAddr>) -> std::io::Result<Self::Stream> {
//!         let stream = Async::<TcpStream>::connect(addr).await?;
//!         stream.get_ref().set_nodelay(true)?;
//!         Ok(stream)
//!     }
//!     async fn sleep_until(deadline: Instant) {
//!         Timer::at(deadline).await;
//!     }
//!     async fn resolve(host: String, port: u16) -> std::io::Result<Vec<SocketAddr>> {
//!         Ok((host.as_str(), port).to_socket_addrs()?.collect()) // blocking: fine for a sketch
//!     }
//!     fn local_addr(stream: &Self::Stream) -> Option<SocketAddr> {
//!         stream.get_ref().local_addr().ok()
//!     }
//! }
//!
//! # let server = smtp_testkit::TestServer::start(smtp_testkit::Script::new())?;
//! let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
//! settings.port = server.addr().port(); // a test server on loopback
//! futures_lite::future::block_on(async {
//!     let mut client = Client::<MyRuntime>::connect(&settings).await?;
//!     let envelope = Envelope::new(Address::parse("me@example.org")?, [Address::parse("you@example.net")?]);
//!     client.send(envelope, b"Subject: hi\r\n\r\nHello.\r\n".to_vec()).await?;
//!     client.close().await?;
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! assert_eq!(server.transactions().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Cancellation
//! Dropping a future of [`Client`] (`send`, `send_all`, `is_connected`,
//! `close`) at an `.await` point may leave a command half written or a
//! reply unread. The client notices on the next call and refuses with
//! [`Error::Poisoned`]: a connection in an unknown state is never reused
//! (a [`Pool`] discards it). A message whose future was dropped was either
//! not sent, or its end of data was written and it may have been
//! delivered: only a completed call reports which.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smtp_proto::driver::Collector;
pub use smtp_proto::driver::{Error, TranscriptHook};
pub use smtp_proto::properties::{ClientSettings, Protocol};
use smtp_proto::proxy::ProxyStatus;
use smtp_proto::{
    BodyInfo, DeliveryReport, EhloResponse, Envelope, MessageId, Session, SessionConfig, TlsInfo,
    UsageError,
};

mod pool;

pub use pool::{Pool, PoolConfig, Pooled};

/// What a runtime provides: TCP connections, timers and name resolution.
pub trait Runtime: Send + Sync + 'static {
    /// A connected TCP stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Connects to `addr`, binding `local` first when given, with
    /// TCP_NODELAY set (a pipelined flight must not wait for delayed ACKs).
    fn connect(
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Completes at `deadline`.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;

    /// Resolves a host name without blocking the executor.
    fn resolve(host: String, port: u16)
    -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// The stream's local address (for the EHLO address literal).
    fn local_addr(stream: &Self::Stream) -> Option<SocketAddr>;
}

/// Runs `future`, or gives up at `deadline` (`None`: never).
pub async fn deadline<R: Runtime, T>(
    deadline: Option<Instant>,
    future: impl Future<Output = T>,
) -> Option<T> {
    match deadline {
        None => Some(future.await),
        Some(at) => {
            futures_lite::future::or(async { Some(future.await) }, async {
                R::sleep_until(at).await;
                None
            })
            .await
        }
    }
}

fn finite(d: Duration) -> Option<Duration> {
    (d != Duration::MAX).then_some(d)
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// A message body.
pub enum Body {
    /// In memory; cheap to clone for bulk sending.
    Bytes(Bytes),
    /// Any reader, streamed once with its type checked on the way.
    Reader(Box<dyn AsyncRead + Send + Unpin>),
    /// A reader whose content was inspected beforehand (for example a file
    /// read once with a `BodyInspector`): SIZE= and BODY= are declared
    /// and what the server lacks is refused before MAIL.
    Inspected {
        /// What the inspection found (`replayable` is ignored: a reader is
        /// read once).
        info: BodyInfo,
        /// The content.
        reader: Box<dyn AsyncRead + Send + Unpin>,
    },
}

impl Body {
    fn prepare(self) -> (BodyInfo, Source) {
        match self {
            Body::Bytes(bytes) => (BodyInfo::of_bytes(&bytes), Source::Bytes { bytes, at: 0 }),
            Body::Reader(reader) => (BodyInfo::streamed(), Source::Reader(reader)),
            Body::Inspected { info, reader } => (
                BodyInfo {
                    replayable: false,
                    ..info
                },
                Source::Reader(reader),
            ),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Bytes(Bytes::from(v))
    }
}

impl From<&'static [u8]> for Body {
    fn from(v: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(v))
    }
}

enum Source {
    Bytes { bytes: Bytes, at: usize },
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

/// Opens the connection to the server, directly or through the configured
/// proxy, and returns the stream with any octets that arrived after the
/// proxy's reply.
///
/// # Errors
/// [`Error::Io`] (including timeouts) or [`Error::Proxy`].
pub async fn open<R: Runtime>(settings: &ClientSettings) -> Result<(R::Stream, Vec<u8>), Error> {
    let proxy = settings.effective_proxy();
    let (host, port) = match &proxy {
        Some(p) => (p.host.clone(), p.port),
        None => (settings.host.clone(), settings.port),
    };
    let local = match &settings.local_address {
        Some(a) => Some(
            R::resolve(a.clone(), settings.local_port.unwrap_or(0))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("local address {a} not found"),
                    )
                })?,
        ),
        None => settings
            .local_port
            .map(|p| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), p)),
    };
    let connect_deadline = finite(settings.connect_timeout).map(|t| Instant::now() + t);
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolves to nothing"),
    );
    let mut stream = None;
    for addr in R::resolve(host.clone(), port).await? {
        let local = local.map(|l| match (l.ip(), addr) {
            (IpAddr::V4(ip), SocketAddr::V6(_)) if ip.is_unspecified() => {
                SocketAddr::new(IpAddr::from([0u16; 8]), l.port())
            }
            _ => l,
        });
        match deadline::<R, _>(connect_deadline, R::connect(addr, local)).await {
            Some(Ok(s)) => {
                stream = Some(s);
                break;
            }
            Some(Err(e)) => last = e,
            None => last = timed_out("connect"),
        }
    }
    let mut stream = stream.ok_or(Error::Io(last))?;
    let Some(proxy) = proxy else {
        return Ok((stream, Vec::new()));
    };
    let mut handshake = proxy.handshake(&settings.host, settings.port)?;
    let timeout = finite(settings.connect_timeout).or(finite(settings.session.timeouts.command));
    let until = timeout.map(|t| Instant::now() + t);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(out) = handshake.poll_transmit() {
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
        let n = deadline::<R, _>(until, stream.read(&mut buf))
            .await
            .ok_or_else(|| timed_out("proxy handshake"))??;
        if n == 0 {
            handshake.handle_eof()?;
        }
        if let ProxyStatus::Done { leftover } = handshake.handle_input(&buf[..n])? {
            return Ok((stream, leftover));
        }
    }
}

/// What a connection runs over: any `futures-io` byte stream.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// An established SMTP connection on runtime `R`, over the runtime's TCP
/// stream or any `futures-io` stream `S` the caller connected.
pub struct Client<R: Runtime, S: Stream = <R as Runtime>::Stream> {
    stream: S,
    session: Session,
    events: Collector,
    read_buf: Vec<u8>,
    body_buf: Vec<u8>,
    write_buf: Vec<u8>,
    write_timeout: Option<Duration>,
    /// Set while a call runs; still set when its future was dropped.
    busy: bool,
    _runtime: PhantomData<R>,
}

impl<R: Runtime, S: Stream> std::fmt::Debug for Client<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session)
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Client<R> {
    /// Connects (through the proxy, if configured) and establishes the
    /// session: greeting, EHLO, STARTTLS and AUTH as configured.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Proxy`], [`Error::TlsConfig`] or
    /// [`Error::Session`].
    pub async fn connect(settings: &ClientSettings) -> Result<Client<R>, Error> {
        Client::connect_with(settings, None).await
    }

    /// [`connect`](Self::connect) with a transcript hook.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<R>, Error> {
        let (stream, already_read) = open::<R>(settings).await?;
        let hostname = gethostname::gethostname();
        let local_ip = R::local_addr(&stream).map(|a| a.ip());
        let default_name = settings
            .local_name
            .clone()
            .unwrap_or_else(|| smtp_proto::default_ehlo_name(hostname.to_str(), local_ip));
        let mut config =
            smtp_tls::session_config(settings, default_name).map_err(Error::TlsConfig)?;
        config.transcript |= transcript.is_some();
        Client::from_stream(
            stream,
            Arc::new(config),
            transcript,
            &already_read,
            finite(settings.write_timeout),
        )
        .await
    }
}

impl<R: Runtime, S: Stream> Client<R, S> {
    /// Runs a session over a stream the caller connected;
    /// `already_read` are octets of the SMTP stream that came with it.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn from_stream(
        stream: S,
        config: Arc<SessionConfig>,
        transcript: Option<TranscriptHook>,
        already_read: &[u8],
        write_timeout: Option<Duration>,
    ) -> Result<Client<R, S>, Error> {
        let mut session = Session::new(config, Instant::now());
        if !already_read.is_empty() {
            session.handle_input(Instant::now(), already_read);
        }
        let mut client = Client {
            stream,
            session,
            events: Collector::new(transcript),
            read_buf: vec![0; 64 * 1024],
            body_buf: vec![0; 64 * 1024],
            write_buf: Vec::new(),
            write_timeout,
            busy: false,
            _runtime: PhantomData,
        };
        client
            .drive(&mut Vec::new(), |c| c.events.is_ready())
            .await?;
        match client.events.establish_error() {
            Some(e) => Err(e),
            None => Ok(client),
        }
    }

    /// The server's capabilities (after TLS when upgraded).
    pub fn extensions(&self) -> Option<&EhloResponse> {
        self.session.extensions()
    }

    /// The TLS connection, if any.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.session.tls_info()
    }

    /// The SASL mechanism that authenticated the session.
    pub fn auth_mechanism(&self) -> Option<&str> {
        self.session.auth_mechanism()
    }

    /// The server's greeting.
    pub fn greeting(&self) -> Option<&smtp_proto::Reply> {
        self.session.greeting()
    }

    /// The capabilities the server offered before STARTTLS.
    pub fn extensions_before_tls(&self) -> Option<&EhloResponse> {
        self.session.extensions_before_tls()
    }

    /// Whether the session has ended (or a call was cancelled midway).
    pub fn is_closed(&self) -> bool {
        self.busy || self.session.is_closed()
    }

    /// Sends one message and waits for its outcome.
    ///
    /// # Errors
    /// As [`send_all`](Self::send_all)'s entries.
    pub async fn send(
        &mut self,
        envelope: Envelope,
        body: impl Into<Body>,
    ) -> Result<DeliveryReport, Error> {
        self.send_all(vec![(envelope, body.into())])
            .await
            .pop()
            .unwrap_or(Err(Error::Usage(UsageError::Busy)))
    }

    /// Sends several messages in one pipelined stream and returns their
    /// outcomes in order: [`Error::Send`] for a message nobody received
    /// (with every recipient's outcome), [`Error::Body`] when a body could
    /// not be read, [`Error::Io`] / [`Error::Session`] when the connection
    /// failed first, [`Error::Poisoned`] after a cancelled call.
    pub async fn send_all(
        &mut self,
        messages: Vec<(Envelope, Body)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        if self.busy {
            return messages.iter().map(|_| Err(Error::Poisoned)).collect();
        }
        let mut ids = Vec::with_capacity(messages.len());
        let mut sources = Vec::new();
        for (envelope, body) in messages {
            let (info, source) = body.prepare();
            match self.session.send(envelope, info) {
                Ok(id) => {
                    ids.push(Ok(id));
                    sources.push((id, source));
                }
                Err(e) => ids.push(Err(Error::Usage(e))),
            }
        }
        let wanted: Vec<MessageId> = ids
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        let driven = self
            .drive(&mut sources, |c| {
                wanted.iter().all(|id| c.events.has_outcome(*id))
            })
            .await;
        self.events.results(ids, driven.err())
    }

    /// Whether the connection still works: NOOP, or RSET with
    /// `mail.smtp.userset`.
    pub async fn is_connected(&mut self) -> bool {
        if self.busy
            || self
                .drive(&mut Vec::new(), |c| c.session.is_idle())
                .await
                .is_err()
        {
            return false;
        }
        if self.session.check_liveness().is_err() {
            return false;
        }
        self.events.reset_liveness();
        let mut answer = None;
        let ok = self
            .drive(&mut Vec::new(), |c| {
                answer = answer.or(c.events.take_liveness());
                answer.is_some()
            })
            .await
            .is_ok();
        ok && answer.unwrap_or(false)
    }

    /// QUIT (waiting for the reply with `mail.smtp.quitwait`), then closes.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket fails on the way; [`Error::Poisoned`]
    /// after a cancelled call.
    pub async fn close(mut self) -> Result<(), Error> {
        if self.busy {
            return Err(Error::Poisoned);
        }
        self.session.quit();
        self.drive(&mut Vec::new(), |_| false).await?;
        let _ = self.stream.close().await;
        Ok(())
    }

    /// The adapter loop; see `smtp-blocking`'s, which this mirrors.
    async fn drive(
        &mut self,
        sources: &mut [(MessageId, Source)],
        mut done: impl FnMut(&mut Client<R, S>) -> bool,
    ) -> Result<(), Error> {
        if self.busy {
            return Err(Error::Poisoned);
        }
        self.busy = true;
        let result = self.drive_inner(sources, &mut done).await;
        self.busy = false;
        result
    }

    async fn drive_inner(
        &mut self,
        sources: &mut [(MessageId, Source)],
        done: &mut impl FnMut(&mut Client<R, S>) -> bool,
    ) -> Result<(), Error> {
        loop {
            while let Some(request) = self.session.body_request() {
                let Some(index) = sources.iter().position(|(id, _)| *id == request.id) else {
                    break;
                };
                let cap = request.max_len.min(self.body_buf.len());
                let read = match &mut sources[index].1 {
                    Source::Bytes { bytes, at } => {
                        if request.restart {
                            *at = 0;
                        }
                        let n = cap.min(bytes.len() - *at);
                        self.body_buf[..n].copy_from_slice(&bytes[*at..*at + n]);
                        *at += n;
                        Ok(n)
                    }
                    Source::Reader(_) if request.restart => {
                        Err(io::Error::other("a streamed body cannot be sent twice"))
                    }
                    Source::Reader(reader) => reader.read(&mut self.body_buf[..cap]).await,
                };
                match read {
                    Ok(0) => self.session.push_body(request.id, &[], true)?,
                    Ok(n) => self
                        .session
                        .push_body(request.id, &self.body_buf[..n], false)?,
                    Err(e) => {
                        let _ = self.session.abort_body(request.id);
                        self.events.drain(&mut self.session);
                        return Err(Error::Body(e));
                    }
                }
            }
            let now = Instant::now();
            if self.session.poll_transmit_into(now, &mut self.write_buf) {
                let until = self.write_timeout.map(|t| now + t);
                let written = deadline::<R, _>(until, async {
                    self.stream.write_all(&self.write_buf).await?;
                    self.stream.flush().await
                })
                .await
                .unwrap_or_else(|| Err(timed_out("write")));
                self.write_buf.clear();
                if let Err(e) = written {
                    self.session.handle_eof(Instant::now());
                    self.events.drain(&mut self.session);
                    return Err(Error::Io(e));
                }
            }
            self.events.drain(&mut self.session);
            if self.events.closed().is_some() || done(self) {
                return Ok(());
            }
            if !self.session.should_read() {
                continue;
            }
            let read = deadline::<R, _>(
                self.session.poll_timeout(),
                self.stream.read(&mut self.read_buf),
            )
            .await;
            match read {
                None => self.session.handle_timeout(Instant::now()),
                Some(Ok(0)) => self.session.handle_eof(Instant::now()),
                Some(Ok(n)) => self
                    .session
                    .handle_input(Instant::now(), &self.read_buf[..n]),
                Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Some(Err(e)) => {
                    self.session.handle_eof(Instant::now());
                    self.events.drain(&mut self.session);
                    return Err(Error::Io(e));
                }
            }
        }
    }
}
