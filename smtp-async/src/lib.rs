//! # smtp-async: one async SMTP client for every runtime
//!
//! quinn's shape: a runtime-neutral client over a small [`Runtime`] trait
//! (connect, the clock and timers, resolve, files), which `smtp-tokio` and
//! `smtp-smol` implement in a few dozen lines each. The client performs
//! the I/O that `smtp-client`'s sans-IO [`Driver`] asks for on a
//! `futures-io` stream; TLS runs inside the session, so no runtime needs a
//! TLS crate of its own, and every decision is made once, in the driver
//! and the session.
//!
//! ## A runtime in a few lines
//!
//! `smtp-tokio` and `smtp-smol` are this, plus a file helper:
//!
//! ```
//! use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
//! use std::path::PathBuf;
//! use std::time::Instant;
//! use async_io::{Async, Timer};
//! use smtpkit_async::{Address, Client, ClientSettings, Envelope, Protocol, Runtime};
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
//!     fn now() -> Instant {
//!         Instant::now()
//!     }
//!     async fn sleep_until(deadline: Instant) {
//!         Timer::at(deadline).await;
//!     }
//!     type File = blocking::Unblock<std::fs::File>;
//!     async fn open_file(path: PathBuf) -> std::io::Result<Self::File> {
//!         Ok(blocking::Unblock::new(std::fs::File::open(path)?))
//!     }
//!     async fn resolve(host: String, port: u16) -> std::io::Result<Vec<SocketAddr>> {
//!         Ok((host.as_str(), port).to_socket_addrs()?.collect()) // blocking: fine for a sketch
//!     }
//!     fn local_addr(stream: &Self::Stream) -> Option<SocketAddr> {
//!         stream.get_ref().local_addr().ok()
//!     }
//! }
//!
//! # let server = smtpkit_testserver::TestServer::start(smtpkit_testserver::Script::new())?;
//! let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
//! settings.port = Some(server.addr().port()); // a test server on loopback
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

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// For [`runtime_api!`]'s re-exports.
#[doc(hidden)]
pub use smtpkit_client::exports;
// The settings, envelope, report and error types and the test doubles,
// so that a caller needs no other crate. (A `///` here would be glued to
// the docs of every item the glob brings in.)
pub use smtpkit_client::exports::*;
use smtpkit_client::{
    Bodies, BodyIo, ConnectStep, Connector, Driver, Io, MessageOptions, MessageReader, Source,
    timed_out,
};
use smtpkit_proto::UsageError;

mod mailer;
mod pool;
mod relay_pool;

pub use mailer::Mailer;
pub use pool::{Pool, PoolConfig, Pooled};
pub use relay_pool::RelayPool;
pub use smtpkit_client::body::{IntoMessage, WholeMessage};

/// What a runtime provides: TCP connections, the clock and timers, name
/// resolution and files. The client reads the time only through
/// [`now`](Runtime::now), so a runtime with a virtual clock (tokio's
/// paused time) drives every deadline.
pub trait Runtime: Send + Sync + 'static {
    /// A connected TCP stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// A file opened for reading.
    type File: AsyncRead + AsyncSeek + Unpin + Send + 'static;

    /// Connects to `addr`, binding `local` first when given, with
    /// TCP_NODELAY set (a pipelined flight must not wait for delayed ACKs).
    fn connect(
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Connects to the Unix domain socket at `path`. The default says the
    /// runtime cannot. An error need not name the path: the client's
    /// connector adds it.
    fn connect_unix(_path: PathBuf) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        let error = io::Error::new(
            io::ErrorKind::Unsupported,
            "this runtime cannot connect Unix domain sockets",
        );
        async move { Err(error) }
    }

    /// The runtime's clock.
    fn now() -> Instant;

    /// Completes at `deadline` on the runtime's clock.
    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send;

    /// Resolves a host name without blocking the executor.
    fn resolve(host: String, port: u16)
    -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// The stream's local address (for the EHLO address literal).
    fn local_addr(stream: &Self::Stream) -> Option<SocketAddr>;

    /// Opens a file for reading without blocking the executor.
    fn open_file(path: PathBuf) -> impl Future<Output = io::Result<Self::File>> + Send;
}

/// One timer per connection, re-armed lazily: a busy connection waits on
/// a reply deadline for every read, and registering a fresh timer with the
/// runtime for each (then dropping it) costs more than the read. The armed
/// instant is never later than the deadline being waited for; a deadline
/// that moved later (the usual case, as each flight is answered) keeps the
/// earlier timer, which then fires early once, finds the deadline not
/// reached, and is armed again at it: about one timer per timeout period
/// instead of one per read.
struct Alarm {
    armed: Option<(Instant, TimerFuture)>,
}

type TimerFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl Alarm {
    const fn new() -> Self {
        Alarm { armed: None }
    }

    /// Runs `future`, or gives up at `deadline` (`None`: never).
    async fn run<R: Runtime, T>(
        &mut self,
        deadline: Option<Instant>,
        future: impl Future<Output = T>,
    ) -> Option<T> {
        let Some(at) = deadline else {
            return Some(future.await);
        };
        let mut future = std::pin::pin!(future);
        loop {
            let timer = match &mut self.armed {
                Some((armed_at, timer)) if *armed_at <= at => timer,
                slot => &mut slot.insert((at, Box::pin(R::sleep_until(at)))).1,
            };
            let outcome = futures_lite::future::or(async { Some(future.as_mut().await) }, async {
                timer.as_mut().await;
                None
            })
            .await;
            if outcome.is_some() {
                return outcome;
            }
            // The timer fired at its armed instant, which may be before
            // `at`.
            self.armed = None;
            if R::now() >= at {
                return None;
            }
        }
    }
}

/// A message body: in memory ([`Body::Bytes`], also from `Vec<u8>`,
/// `String`, `Bytes` and static slices; cheap to clone for bulk sending),
/// a file by path ([`Body::File`], opened by the runtime and read twice:
/// once to learn its size and type, so that what the server lacks is
/// refused before MAIL, once to send, and again when LIMITS RCPTMAX splits
/// the recipients or a pool retries), or any reader ([`Body::Reader`],
/// streamed once with its type checked on the way).
pub type Body = smtpkit_client::Body<Bytes, PathBuf, Reader>;

/// The reader of a [`Body::Reader`].
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;

/// A body as the driver holds it, on runtime `R`.
pub(crate) type BodySource<R> = Source<Bytes, <R as Runtime>::File, Reader>;

/// The body the driver reads: a file is opened now (an error fails only
/// its message).
pub(crate) async fn open_body<R: Runtime>(body: Body) -> BodySource<R> {
    match body {
        Body::Bytes(bytes) => Source::memory(bytes),
        Body::File(path) => R::open_file(path)
            .await
            .map_or_else(Source::failed, Source::file),
        Body::Reader(reader) => Source::reader(reader),
    }
}

/// The envelope the message's header gives (see
/// [`smtpkit_client::message`]) and the body to transmit: the header
/// without `Bcc:`, then the rest.
pub(crate) async fn read_message<R: Runtime>(
    message: Body,
    options: &MessageOptions,
) -> Result<(Envelope, BodySource<R>), Error> {
    let mut reader = MessageReader::new(open_body::<R>(message).await, options);
    while let Some(io) = reader.next_io() {
        let outcome = perform(io).await;
        reader.on_io(outcome);
    }
    reader.finish()
}

/// [`read_message`], sent to `envelope` when the message carries one.
pub(crate) async fn read_whole<R: Runtime>(
    message: Body,
    envelope: Option<Envelope>,
    options: &MessageOptions,
) -> Result<(Envelope, BodySource<R>), Error> {
    let (from_header, source) = read_message::<R>(message, options).await?;
    Ok((envelope.unwrap_or(from_header), source))
}

/// Performs a read or seek the driver asked for on a caller's body.
async fn perform<F: AsyncRead + AsyncSeek + Unpin>(io: BodyIo<'_, F, Reader>) -> io::Result<usize> {
    match io {
        BodyIo::ReadFile { file, buf } => file.read(buf).await,
        BodyIo::ReadStream { reader, buf } => reader.read(buf).await,
        BodyIo::SeekFile { file, to } => file.seek(io::SeekFrom::Start(to)).await.map(|_| 0),
    }
}

/// Opens the TCP connection the settings describe (to the proxy, when one
/// is configured), within `connectiontimeout`, binding the local address
/// and port when set.
///
/// # Errors
/// [`Error::Io`] (including the timeout).
pub async fn open<R: Runtime>(settings: &ClientSettings) -> Result<R::Stream, Error> {
    let mut connector = Connector::new(settings, R::now());
    let mut alarm = Alarm::new();
    loop {
        let attempt = match connector.next(R::now()) {
            ConnectStep::Resolve { host, port } => {
                let addrs = R::resolve(host.to_owned(), port).await;
                connector.on_resolved(addrs);
                continue;
            }
            ConnectStep::Tcp {
                addr,
                bind,
                deadline,
            } => alarm.run::<R, _>(deadline, R::connect(addr, bind)).await,
            ConnectStep::Unix { path, deadline } => {
                alarm
                    .run::<R, _>(deadline, R::connect_unix(path.into()))
                    .await
            }
            ConnectStep::Failed(error) => return Err(error),
        };
        match attempt.unwrap_or_else(|| Err(timed_out("connect"))) {
            Ok(stream) => return Ok(stream),
            Err(e) => connector.on_failed(e),
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
    driver: Driver,
    /// Set while a call runs; still set when its future was dropped.
    busy: bool,
    alarm: Alarm,
    _runtime: PhantomData<R>,
}

impl<R: Runtime, S: Stream> std::fmt::Debug for Client<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("driver", &self.driver)
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
        Ok(Client::connect_reporting(settings, transcript).await?)
    }

    /// [`connect_with`](Self::connect_with), keeping on failure what the
    /// session learnt (greeting, extensions, TLS) for a report.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), with that [`SessionInfo`].
    pub async fn connect_reporting(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<R>, ConnectFailure> {
        let transcript = match smtpkit_client::oauth2::TokenAttempt::new(settings, transcript) {
            Ok(mut attempt) => loop {
                let settings = attempt.settings().await?;
                match Client::connect_once(&settings, attempt.transcript()).await {
                    Err(failure) if attempt.retry_after(&failure.error) => continue,
                    outcome => return outcome,
                }
            },
            Err(transcript) => transcript,
        };
        Client::connect_once(settings, transcript).await
    }

    async fn connect_once(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<R>, ConnectFailure> {
        let stream = open::<R>(settings).await?;
        let local_ip = R::local_addr(&stream).map(|a| a.ip());
        let driver = Driver::for_settings(settings, local_ip, transcript, R::now())?;
        Client::establish(stream, driver).await
    }
}

impl<R: Runtime, S: Stream> Client<R, S> {
    /// Runs a session as `settings` describe (the proxy handshake first,
    /// when one is configured) over a stream the caller connected. Reads
    /// and writes are bounded as on a connection [`connect`](Client::connect)
    /// made; the default EHLO name is [`Driver::for_stream`]'s.
    ///
    /// # Errors
    /// As [`connect`](Client::connect).
    pub async fn from_stream(
        stream: S,
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<R, S>, Error> {
        // A token source gives this one connection a token; a refusal is
        // final (the caller's stream cannot be made again).
        if let Ok(mut attempt) = smtpkit_client::oauth2::TokenAttempt::new(settings, None) {
            let driver = Driver::for_stream(&attempt.settings().await?, transcript, R::now())?;
            return Client::from_driver(stream, driver).await;
        }
        let driver = Driver::for_stream(settings, transcript, R::now())?;
        Client::from_driver(stream, driver).await
    }

    /// Runs `driver` (made with [`Driver::new`] from a session
    /// configuration of the caller's) over `stream`.
    ///
    /// # Errors
    /// As [`connect`](Client::connect).
    pub async fn from_driver(stream: S, driver: Driver) -> Result<Client<R, S>, Error> {
        Ok(Client::establish(stream, driver).await?)
    }

    async fn establish(stream: S, driver: Driver) -> Result<Client<R, S>, ConnectFailure> {
        let mut client = Client {
            stream,
            driver,
            busy: false,
            alarm: Alarm::new(),
            _runtime: PhantomData,
        };
        let run = client.run(&mut Bodies::none()).await;
        match run.and_then(|()| client.driver.establish_result()) {
            Ok(()) => Ok(client),
            Err(e) => Err(ConnectFailure::new(e, client.driver.info().clone())),
        }
    }

    /// What is known about the connection: greeting, extensions before and
    /// after TLS, TLS, the SASL mechanism.
    pub fn info(&self) -> &SessionInfo {
        self.driver.info()
    }

    /// Whether the session has ended (or a call was cancelled midway).
    pub fn is_closed(&self) -> bool {
        self.busy || self.driver.is_closed()
    }

    /// Sends one message and waits for its outcome: `Ok` with every
    /// recipient's outcome whenever the transaction completed, refusals
    /// included (`report.into_result()?` for JavaMail's all-or-nothing
    /// view).
    ///
    /// # Errors
    /// As [`send_all`](Self::send_all)'s entries.
    pub async fn send(
        &mut self,
        envelope: Envelope,
        body: impl Into<Body>,
    ) -> Result<DeliveryReport, Error> {
        let body = open_body::<R>(body.into()).await;
        self.send_source(envelope, body).await
    }

    /// Sends several messages in one pipelined stream and returns their
    /// outcomes in order: `Ok(report)` for every completed transaction,
    /// refusals included; [`Error::Send`] when the connection failed under
    /// a message (its report still says what became of every recipient),
    /// [`Error::Body`] when a body could not be read, [`Error::Io`] / [`Error::Session`] when the connection
    /// failed first, [`Error::Poisoned`] after a cancelled call.
    pub async fn send_all(
        &mut self,
        messages: Vec<(Envelope, Body)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        if self.busy {
            return messages.iter().map(|_| Err(Error::Poisoned)).collect();
        }
        let mut sources = Vec::with_capacity(messages.len());
        for (envelope, body) in messages {
            // The same buffer as the previous message shares its inspection
            // (Source::memory_after decides). Not through `open_body`: a
            // borrow of the previous source held across its `.await` would
            // make the future not `Send` (the runtime's file is not `Sync`).
            let source = match body {
                Body::Bytes(bytes) => Source::memory_after(bytes, sources.last().map(|(_, s)| s)),
                body => open_body::<R>(body).await,
            };
            sources.push((envelope, source));
        }
        self.send_sources(sources).await
    }

    pub(crate) async fn send_source(
        &mut self,
        envelope: Envelope,
        body: BodySource<R>,
    ) -> Result<DeliveryReport, Error> {
        self.send_sources(vec![(envelope, body)])
            .await
            .pop()
            .unwrap_or(Err(Error::Usage(UsageError::Busy)))
    }

    async fn send_sources(
        &mut self,
        messages: Vec<(Envelope, BodySource<R>)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let count = messages.len();
        let mut bodies = self.driver.start_send_sources(messages);
        match self.run(&mut bodies).await {
            Ok(()) => self.driver.finish_send(),
            Err(_) => (0..count).map(|_| Err(Error::Poisoned)).collect(),
        }
    }

    /// Sends a whole RFC 5322 message as JavaMail's `Transport.send` does:
    /// the envelope comes from the message (`mail.smtp.from`, else From:
    /// — Sender: when From: has several; every To:, Cc: and Bcc:
    /// address) and `Bcc:` is not transmitted. Only the header block is
    /// held in memory. The message is a [`Body`] (or converts into one),
    /// or one a builder made ([`IntoMessage`]): a `lettre::Message` (the
    /// `lettre` feature; sent to the envelope lettre gave it, Bcc
    /// included) or a `mail_builder::MessageBuilder` (`mail-builder`).
    ///
    /// # Errors
    /// [`Error::Message`] when the message has no recipient or sender or
    /// a malformed address (nothing is sent), else as [`send`](Self::send).
    pub async fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> Result<DeliveryReport, Error> {
        if self.busy {
            return Err(Error::Poisoned);
        }
        let (envelope, body) = message.into_message()?.into_parts();
        let options = self.driver.message_options().clone();
        let (envelope, body) = read_whole::<R>(body, envelope, &options).await?;
        self.send_source(envelope, body).await
    }

    /// Whether the connection still works: NOOP, or RSET with
    /// `mail.smtp.userset`.
    pub async fn is_connected(&mut self) -> bool {
        self.driver.start_liveness();
        self.run(&mut Bodies::none()).await.is_ok() && self.driver.finish_liveness()
    }

    /// How many messages this connection was given to send.
    pub fn messages_sent(&self) -> u64 {
        self.driver.messages()
    }

    /// The server's LIMITS MAILMAX (most transactions per connection).
    pub fn mail_max(&self) -> Option<u32> {
        self.driver.mail_max()
    }

    /// QUIT without waiting for its reply, then closes (a pool retiring an
    /// idle connection: one write, no round trip).
    ///
    /// # Errors
    /// As [`close`](Self::close).
    pub async fn quit_without_waiting(mut self) -> Result<(), Error> {
        self.driver.start_quit_without_waiting();
        self.run(&mut Bodies::none()).await?;
        let _ = self.stream.close().await;
        self.driver.finish_close()
    }

    /// QUIT (waiting for the reply with `mail.smtp.quitwait`), then closes.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket fails on the way; [`Error::Poisoned`]
    /// after a cancelled call.
    pub async fn close(mut self) -> Result<(), Error> {
        self.driver.start_close();
        self.run(&mut Bodies::none()).await?;
        let _ = self.stream.close().await;
        self.driver.finish_close()
    }

    /// The I/O loop: perform what the driver asks until it is done. A call
    /// whose future is dropped midway leaves `busy` set.
    async fn run(&mut self, bodies: &mut Bodies<Bytes, R::File, Reader>) -> Result<(), Error> {
        if self.busy {
            return Err(Error::Poisoned);
        }
        self.busy = true;
        loop {
            match self.driver.next_io(R::now(), bodies) {
                Io::Write { bytes, deadline } => {
                    let stream = &mut self.stream;
                    let write = async {
                        stream.write_all(bytes).await?;
                        stream.flush().await
                    };
                    let written = self.alarm.run::<R, _>(deadline, write).await;
                    let written = written.unwrap_or_else(|| Err(timed_out("write")));
                    self.driver.on_written(R::now(), written);
                }
                Io::Read { buf, deadline } => {
                    let read = self.alarm.run::<R, _>(deadline, self.stream.read(buf));
                    let read = read.await.unwrap_or_else(|| Err(timed_out("read")));
                    self.driver.on_read_into(R::now(), read);
                }
                Io::Body(io) => {
                    let outcome = perform(io).await;
                    self.driver.on_body_io(bodies, outcome);
                }
                Io::Done => break,
            }
        }
        self.busy = false;
        Ok(())
    }
}

/// Connects, sends one message to `envelope`, and closes: JavaMail's
/// static `Transport.send(message, addresses)`.
///
/// # Errors
/// As [`Client::send`]; a connection that cannot be made is an
/// [`Error::Send`] listing every recipient as unsent.
pub async fn send<R: Runtime>(
    settings: &ClientSettings,
    envelope: Envelope,
    body: impl Into<Body>,
) -> Result<DeliveryReport, Error> {
    let body = open_body::<R>(body.into()).await;
    send_once::<R>(settings, envelope, body).await
}

/// Connects, sends one RFC 5322 message with the envelope it names
/// ([`Client::send_message`]), and closes: JavaMail's static
/// `Transport.send(message)`.
///
/// # Errors
/// As [`Client::send_message`]; a connection that cannot be made is an
/// [`Error::Send`] listing every recipient as unsent.
pub async fn send_message<R: Runtime>(
    settings: &ClientSettings,
    message: impl IntoMessage<Body>,
) -> Result<DeliveryReport, Error> {
    // The envelope first, so that a connection that cannot be made still
    // accounts for every recipient.
    let (envelope, body) = message.into_message()?.into_parts();
    let options = MessageOptions::of(settings);
    let (envelope, body) = read_whole::<R>(body, envelope, &options).await?;
    send_once::<R>(settings, envelope, body).await
}

/// Sends one RFC 5322 message through a relay set and closes: the
/// one-call [`send_message`] with failover, per-recipient retries and
/// rate limits ([`RelayPool::send_message`] on a pool made for this
/// message).
///
/// # Errors
/// As [`RelayPool::send_message`].
pub async fn send_message_via<R: Runtime>(
    set: &smtpkit_client::relay::RelaySet,
    message: impl IntoMessage<Body>,
) -> Result<smtpkit_client::relay::RelayReport, Error> {
    let pool = RelayPool::<R>::new(set.clone(), PoolConfig::default());
    let report = pool.send_message(message).await;
    pool.close().await;
    report
}

/// [`send_message_via`] for a message to `envelope`.
///
/// # Errors
/// As [`RelayPool::send`].
pub async fn send_via<R: Runtime>(
    set: &smtpkit_client::relay::RelaySet,
    envelope: Envelope,
    body: impl Into<Body>,
) -> Result<smtpkit_client::relay::RelayReport, Error> {
    let pool = RelayPool::<R>::new(set.clone(), PoolConfig::default());
    let report = pool.send(envelope, body).await;
    pool.close().await;
    report
}

async fn send_once<R: Runtime>(
    settings: &ClientSettings,
    envelope: Envelope,
    body: BodySource<R>,
) -> Result<DeliveryReport, Error> {
    let mut client = Client::<R>::connect(settings)
        .await
        .map_err(|e| Error::not_connected(&envelope, e))?;
    let report = client.send_source(envelope, body).await?;
    // The outcome is decided; a failed QUIT changes nothing about it.
    let _ = client.close().await;
    Ok(report)
}

/// The items every runtime crate defines for its runtime, written once:
/// the re-exports a user names (settings, envelope, report, error and
/// body types, the doubles, [`Mailer`]), `Client` and `Pool` on it, the
/// one-call `send` and `send_message`, and a compile-time check that a
/// client moves between threads and a pool is also shared. `smtp-tokio` is its [`Runtime`] impl and
/// `smtpkit_async::runtime_api!(Tokio, "tokio");`.
#[macro_export]
macro_rules! runtime_api {
    ($runtime:ty, $name:literal) => {
        pub use $crate::exports::*;
        pub use $crate::{Body, IntoMessage, Mailer, PoolConfig, Reader, Runtime, WholeMessage};

        #[doc = concat!("A connection on ", $name, ".")]
        pub type Client = $crate::Client<$runtime>;
        #[doc = concat!("A connection pool on ", $name, ".")]
        pub type Pool = $crate::Pool<$runtime>;
        #[doc = concat!("Connection pools to an ordered list of relays on ", $name, ": failover, per-recipient retries, rate limits.")]
        pub type RelayPool = $crate::RelayPool<$runtime>;

        #[doc = concat!("Connects, sends one message to `envelope`, and closes ([`smtpkit_async::send`] on ", $name, ").")]
        ///
        /// # Errors
        /// As [`smtpkit_async::send`].
        pub async fn send(
            settings: &$crate::ClientSettings,
            envelope: $crate::Envelope,
            body: impl Into<$crate::Body>,
        ) -> Result<$crate::DeliveryReport, $crate::Error> {
            $crate::send::<$runtime>(settings, envelope, body).await
        }

        #[doc = concat!("Connects, sends one RFC 5322 message with the envelope its header names (or a message a builder made, [`IntoMessage`]), and closes ([`smtpkit_async::send_message`] on ", $name, ").")]
        ///
        /// # Errors
        /// As [`smtpkit_async::send_message`].
        pub async fn send_message(
            settings: &$crate::ClientSettings,
            message: impl $crate::IntoMessage<$crate::Body>,
        ) -> Result<$crate::DeliveryReport, $crate::Error> {
            $crate::send_message::<$runtime>(settings, message).await
        }

        #[doc = concat!("Sends one RFC 5322 message through a relay set, and closes ([`smtpkit_async::send_message_via`] on ", $name, ").")]
        ///
        /// # Errors
        /// As [`smtpkit_async::send_message_via`].
        pub async fn send_message_via(
            set: &$crate::relay::RelaySet,
            message: impl $crate::IntoMessage<$crate::Body>,
        ) -> Result<$crate::relay::RelayReport, $crate::Error> {
            $crate::send_message_via::<$runtime>(set, message).await
        }

        #[doc = concat!("Sends one message to `envelope` through a relay set, and closes ([`smtpkit_async::send_via`] on ", $name, ").")]
        ///
        /// # Errors
        /// As [`smtpkit_async::send_via`].
        pub async fn send_via(
            set: &$crate::relay::RelaySet,
            envelope: $crate::Envelope,
            body: impl Into<$crate::Body>,
        ) -> Result<$crate::relay::RelayReport, $crate::Error> {
            $crate::send_via::<$runtime>(set, envelope, body).await
        }

        // A client moves between tasks and threads; a pool is also shared.
        const _: () = {
            const fn send<T: Send>() {}
            const fn send_and_sync<T: Send + Sync>() {}
            send::<Client>();
            send_and_sync::<Pool>();
            send_and_sync::<RelayPool>();
        };
    };
}

#[cfg(test)]
// The test runtime is the one place that reads the system clock.
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Enough of a runtime for the alarm: async-io's clock and timers.
    struct Timers;

    impl Runtime for Timers {
        type Stream = async_io::Async<std::net::TcpStream>;
        type File = blocking::Unblock<std::fs::File>;
        async fn connect(_: SocketAddr, _: Option<SocketAddr>) -> io::Result<Self::Stream> {
            Err(io::Error::other("not used"))
        }
        fn now() -> Instant {
            Instant::now()
        }
        async fn sleep_until(deadline: Instant) {
            async_io::Timer::at(deadline).await;
        }
        async fn resolve(_: String, _: u16) -> io::Result<Vec<SocketAddr>> {
            Ok(Vec::new())
        }
        fn local_addr(_: &Self::Stream) -> Option<SocketAddr> {
            None
        }
        async fn open_file(path: PathBuf) -> io::Result<Self::File> {
            Ok(blocking::Unblock::new(std::fs::File::open(path)?))
        }
    }

    #[test]
    fn the_alarm_keeps_every_deadline_whichever_order_they_come_in() {
        futures_lite::future::block_on(async {
            let mut alarm = Alarm::new();
            let start = Instant::now();
            // A quick future under a distant deadline arms the timer there.
            let far = start + Duration::from_secs(600);
            assert_eq!(
                alarm.run::<Timers, _>(Some(far), async { 1 }).await,
                Some(1)
            );
            // A nearer deadline must not wait for the distant timer.
            let near = Instant::now() + Duration::from_millis(50);
            let never = futures_lite::future::pending::<()>();
            // Guarded, so that a broken alarm fails the test instead of
            // hanging it for ten minutes.
            let timed_out = futures_lite::future::or(
                async { alarm.run::<Timers, _>(Some(near), never).await.is_none() },
                async {
                    async_io::Timer::after(Duration::from_secs(5)).await;
                    false
                },
            )
            .await;
            assert!(
                timed_out,
                "the nearer deadline waited for the distant timer"
            );
            let waited = start.elapsed();
            assert!(
                waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
                "{waited:?}"
            );
            // A later deadline keeps the earlier timer, which fires early
            // and is armed again: the wait still ends at the later one.
            let first = Instant::now() + Duration::from_millis(30);
            assert_eq!(
                alarm.run::<Timers, _>(Some(first), async { 2 }).await,
                Some(2)
            );
            let later = Instant::now() + Duration::from_millis(120);
            let pending = futures_lite::future::pending::<()>();
            assert_eq!(alarm.run::<Timers, _>(Some(later), pending).await, None);
            assert!(Instant::now() >= later, "gave up before the deadline");
        });
    }
}
