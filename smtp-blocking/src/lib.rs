//! # smtp-blocking: the SMTP client on `std::net`
//!
//! The JavaMail `Transport` shape over blocking sockets: [`Client::connect`]
//! (host, port, connect/read/write timeouts, local address and port),
//! [`Client::send`] a message (bytes, a file, or any `Read`, streamed) to an
//! envelope, [`Client::is_connected`], [`Client::close`], and the one-call
//! [`send`]. Configuration comes from a typed [`ClientSettings`] or from
//! JavaMail-style `mail.smtp.*` properties
//! ([`ClientSettings::from_properties`]).
//!
//! Every decision is made by `smtp-client`'s [`Driver`] (and where to
//! connect by its `Connector`); this crate only performs the I/O they ask
//! for, on `std::net` and `std::io`. Time is read through a [`Clock`]
//! ([`SystemClock`] unless a test passes a virtual one), as the async
//! clients read their runtime's.
//!
//! ```
//! use smtpkit_blocking::{Address, Body, Client, ClientSettings, Envelope, Protocol};
//! # let server = smtpkit_testserver::TestServer::start(smtpkit_testserver::Script::new())?;
//!
//! let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
//! settings.port = Some(server.addr().port()); // a test server on loopback
//! let mut client = Client::connect(&settings)?;
//! let envelope = Envelope::new(Address::parse("me@example.org")?, [Address::parse("you@example.net")?]);
//! let report = client.send(envelope, Body::Bytes(b"Subject: hi\r\n\r\nHello.\r\n"))?;
//! assert!(report.all_delivered());
//! client.close()?;
//! assert_eq!(server.transactions()[0].data, b"Subject: hi\r\n\r\nHello.\r\n");
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

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use smtpkit_client::{
    Bodies, BodyIo, ConnectPlan, ConnectStep, Connector, Driver, Io, MessageOptions, MessageReader,
    SocketTimeouts, Source,
};
use socket2::{Domain, SockAddr, Socket, Type};

mod mailer;
mod pool;
mod relay_pool;

pub use mailer::Mailer;
pub use pool::{Pool, PoolConfig, Pooled};
pub use relay_pool::RelayPool;
pub use smtpkit_client::body::{IntoMessage, WholeMessage};
// The settings, envelope, report and error types and the test doubles,
// so that a caller needs no other crate. (A `///` here would be glued to
// the docs of every item the glob brings in.)
pub use smtpkit_client::exports::*;
use smtpkit_proto::UsageError;

/// A connection a [`Client`] can run on: a byte stream whose reads and
/// writes can be bounded in time. Implemented for `TcpStream`,
/// `UnixStream` and `socket2::Socket`; implement it to bring your own
/// (`mail.smtp.socketFactory`'s role).
pub trait Transport: Read + Write + Send {
    /// Bounds the next reads (`None`: block).
    ///
    /// # Errors
    /// As the underlying socket.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Bounds the next writes (`None`: block).
    ///
    /// # Errors
    /// As the underlying socket.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

/// `Transport` for a socket type with std's timeout setters.
macro_rules! transport_for {
    ($($socket:ty),*) => {$(
        impl Transport for $socket {
            fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                <$socket>::set_read_timeout(self, timeout)
            }
            fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                <$socket>::set_write_timeout(self, timeout)
            }
        }
    )*};
}
transport_for!(TcpStream, Socket);
#[cfg(unix)]
transport_for!(std::os::unix::net::UnixStream);

/// A message body: in memory ([`Body::Bytes`], also from `&[u8]`,
/// `&[u8; N]`, `&Vec<u8>` and `&str`), a file ([`Body::File`], also from
/// a `File`: read once to learn its size and type, then to send, and
/// again when LIMITS RCPTMAX splits the recipients or a pool retries), or
/// any reader ([`Body::Reader`], streamed once with its type checked on
/// the way; see [`BodyInfo::body_type`](smtpkit_proto::BodyInfo::body_type)).
pub type Body<'a> = smtpkit_client::Body<&'a [u8], std::fs::File, Reader<'a>>;

/// The reader of a [`Body::Reader`].
pub type Reader<'a> = Box<dyn Read + Send + 'a>;

/// A body as the driver holds it.
pub(crate) type BodySource<'a> = Source<&'a [u8], std::fs::File, Reader<'a>>;

/// The envelope the message's header gives (see
/// [`smtpkit_client::message`]) and the body to transmit: the header
/// without `Bcc:`, then the rest.
pub(crate) fn read_message<'a>(
    message: Body<'a>,
    options: &MessageOptions,
) -> Result<(Envelope, BodySource<'a>), Error> {
    let mut reader = MessageReader::new(message.into(), options);
    while let Some(io) = reader.next_io() {
        let outcome = perform(io);
        reader.on_io(outcome);
    }
    reader.finish()
}

/// [`read_message`], sent to `envelope` when the message carries one.
pub(crate) fn read_whole<'a>(
    message: Body<'a>,
    envelope: Option<Envelope>,
    options: &MessageOptions,
) -> Result<(Envelope, BodySource<'a>), Error> {
    let (from_header, source) = read_message(message, options)?;
    Ok((envelope.unwrap_or(from_header), source))
}

/// Calls `send` with the body of a message-level send (a message a
/// builder made is borrowed from here) and the envelope the message
/// carries (`None`: its header gives it).
pub(crate) fn with_whole<'a, T>(
    message: impl IntoMessage<Body<'a>>,
    send: impl FnOnce(Body<'_>, Option<Envelope>) -> Result<T, Error>,
) -> Result<T, Error> {
    match message.into_message()? {
        WholeMessage::Body(body) => send(body, None),
        WholeMessage::Built { envelope, bytes } => send(Body::Bytes(&bytes), envelope),
    }
}

/// Performs a read or seek the driver asked for on a caller's body.
fn perform(io: BodyIo<'_, std::fs::File, Reader<'_>>) -> io::Result<usize> {
    match io {
        BodyIo::ReadFile { file, buf } => file.read(buf),
        BodyIo::ReadStream { reader, buf } => reader.read(buf),
        BodyIo::SeekFile { file, to } => file.seek(SeekFrom::Start(to)).map(|_| 0),
    }
}

/// The clock the blocking client and pool read (reply and write
/// deadlines, idle connections) and sleep on (a retry's backoff), as the
/// async clients read their `Runtime`'s: [`SystemClock`] by default; a
/// test gives [`Client::from_transport_with_clock`] or
/// [`Pool::with_clock`] a virtual one.
pub trait Clock: Send + Sync + 'static {
    /// The time now.
    fn now() -> Instant;

    /// Waits `duration` (on a virtual clock: moves it on).
    fn sleep(duration: Duration);
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now() -> Instant {
        Instant::now()
    }

    fn sleep(duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// An established SMTP connection, on clock `C` (the system's unless a
/// test says otherwise).
pub struct Client<C: Clock = SystemClock> {
    transport: Box<dyn Transport>,
    driver: Driver,
    timeouts: SocketTimeouts,
    clock: std::marker::PhantomData<C>,
}

impl<C: Clock> std::fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("driver", &self.driver)
            .finish_non_exhaustive()
    }
}

/// Opens the TCP connection the settings describe (to the proxy, when one
/// is configured): resolves the host, binds `localaddress`/`localport`
/// when set, connects within `connectiontimeout`, sets TCP_NODELAY (a
/// pipelined flight must not wait for delayed ACKs).
///
/// # Errors
/// [`Error::Io`] with the last address's error.
pub fn open(settings: &ClientSettings) -> Result<TcpStream, Error> {
    let mut plan = ConnectPlan::new(settings, Instant::now());
    plan.unix_socket = None;
    Ok(connect(Connector::for_plan(plan))?.into())
}

/// Performs the connector's steps with `std::net` and `socket2`: the
/// Unix domain socket when [`ClientSettings::unix_socket`] is set, else
/// TCP.
fn connect(mut connector: Connector) -> Result<Socket, Error> {
    loop {
        let now = Instant::now();
        let left = |deadline: Option<Instant>| deadline.map(|d| d.saturating_duration_since(now));
        let attempt = match connector.next(now) {
            ConnectStep::Resolve { host, port } => {
                let addrs = (host, port).to_socket_addrs();
                connector.on_resolved(addrs.map(Iterator::collect));
                continue;
            }
            ConnectStep::Tcp {
                addr,
                bind,
                deadline,
            } => connect_socket(&addr.into(), bind, left(deadline)),
            ConnectStep::Unix { path, deadline } => {
                SockAddr::unix(path).and_then(|addr| connect_socket(&addr, None, left(deadline)))
            }
            ConnectStep::Failed(error) => return Err(error),
        };
        match attempt {
            Ok(socket) => return Ok(socket),
            Err(e) => connector.on_failed(e),
        }
    }
}

fn connect_socket(
    addr: &SockAddr,
    bind: Option<SocketAddr>,
    timeout: Option<Duration>,
) -> io::Result<Socket> {
    let socket = Socket::new(addr.domain(), Type::STREAM, None)?;
    if let Some(bind) = bind {
        socket.set_reuse_address(true)?;
        socket.bind(&bind.into())?;
    }
    match timeout {
        Some(t) => socket.connect_timeout(addr, t)?,
        None => socket.connect(addr)?,
    }
    if addr.domain() != Domain::UNIX {
        socket.set_tcp_nodelay(true)?;
    }
    Ok(socket)
}

impl Client {
    /// Connects and establishes the session (proxy, greeting, EHLO,
    /// STARTTLS and AUTH as configured).
    ///
    /// # Errors
    /// [`Error::Io`] when the connection fails, [`Error::Proxy`],
    /// [`Error::TlsConfig`], [`Error::Session`] when the server refuses or
    /// the session fails.
    pub fn connect(settings: &ClientSettings) -> Result<Client, Error> {
        Client::connect_with(settings, None)
    }

    /// [`connect`](Self::connect), with a transcript hook that sees every
    /// line from the greeting on.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn connect_with(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client, Error> {
        Client::connect_with_clock(settings, transcript)
    }

    /// Runs a session as `settings` describe (the proxy handshake first,
    /// when one is configured) over a connection the caller made: a Unix
    /// socket, an in-memory pipe, a tunnel. Reads and writes are bounded
    /// as on a connection [`connect`](Self::connect) made; the default
    /// EHLO name is [`Driver::for_stream`]'s.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn from_transport(
        transport: Box<dyn Transport>,
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client, Error> {
        Client::from_transport_with_clock(transport, settings, transcript)
    }

    /// Runs `driver` (made with [`Driver::new`] from a session
    /// configuration of the caller's) over `transport`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn from_driver(transport: Box<dyn Transport>, driver: Driver) -> Result<Client, Error> {
        Client::from_driver_with_clock(transport, driver)
    }
}

impl<C: Clock> Client<C> {
    /// [`Client::connect_with`] on clock `C`.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn connect_with_clock(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<C>, Error> {
        Ok(Client::connect_reporting(settings, transcript)?)
    }

    /// [`Client::connect_with`], keeping on failure what the session
    /// learnt (greeting, extensions, TLS) for a report.
    ///
    /// # Errors
    /// As [`Client::connect`], with that [`SessionInfo`].
    pub fn connect_reporting(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<C>, ConnectFailure> {
        let transcript = match smtpkit_client::oauth2::TokenAttempt::new(settings, transcript) {
            Ok(mut attempt) => loop {
                let settings = attempt.settings_blocking()?;
                match Client::connect_once(&settings, attempt.transcript()) {
                    Err(failure) if attempt.retry_after(&failure.error) => continue,
                    outcome => return outcome,
                }
            },
            Err(transcript) => transcript,
        };
        Client::connect_once(settings, transcript)
    }

    fn connect_once(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<C>, ConnectFailure> {
        let socket = connect(Connector::new(settings, Instant::now()))?;
        let local_ip = socket.local_addr().ok().and_then(|a| a.as_socket());
        let local_ip = local_ip.map(|a| a.ip());
        let driver = Driver::for_settings(settings, local_ip, transcript, C::now())?;
        Client::establish(Box::new(socket), driver)
    }

    /// [`Client::from_transport`] on clock `C`.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn from_transport_with_clock(
        transport: Box<dyn Transport>,
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Client<C>, Error> {
        // A token source gives this one connection a token; a refusal is
        // final (the caller's transport cannot be made again).
        if let Ok(mut attempt) = smtpkit_client::oauth2::TokenAttempt::new(settings, None) {
            let driver = Driver::for_stream(&attempt.settings_blocking()?, transcript, C::now())?;
            return Client::from_driver_with_clock(transport, driver);
        }
        let driver = Driver::for_stream(settings, transcript, C::now())?;
        Client::from_driver_with_clock(transport, driver)
    }

    /// [`Client::from_driver`] on clock `C`.
    ///
    /// # Errors
    /// As [`Client::connect`].
    pub fn from_driver_with_clock(
        transport: Box<dyn Transport>,
        driver: Driver,
    ) -> Result<Client<C>, Error> {
        Ok(Client::establish(transport, driver)?)
    }

    fn establish(
        transport: Box<dyn Transport>,
        driver: Driver,
    ) -> Result<Client<C>, ConnectFailure> {
        let mut client = Client {
            transport,
            driver,
            timeouts: SocketTimeouts::default(),
            clock: std::marker::PhantomData,
        };
        client.run(&mut Bodies::none());
        match client.driver.establish_result() {
            Ok(()) => Ok(client),
            Err(e) => Err(ConnectFailure::new(e, client.driver.info().clone())),
        }
    }

    /// What is known about the connection: greeting, extensions before and
    /// after TLS, TLS, the SASL mechanism.
    pub fn info(&self) -> &SessionInfo {
        self.driver.info()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.driver.is_closed()
    }

    /// Sends one message and waits for its outcome: `Ok` with every
    /// recipient's outcome whenever the transaction completed, refusals
    /// included (`report.into_result()?` for JavaMail's all-or-nothing
    /// view).
    ///
    /// # Errors
    /// [`Error::Send`] when the connection failed under the message (its
    /// report still says what became of every recipient),
    /// [`Error::Body`] when the body could not be read (nothing was
    /// delivered), [`Error::Io`] or [`Error::Session`] when the
    /// connection had already failed.
    pub fn send<'a>(
        &mut self,
        envelope: Envelope,
        body: impl Into<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        self.send_source(envelope, body.into().into())
    }

    /// Sends several messages in one pipelined stream (each message's
    /// envelope rides with the previous one's end of data) and returns
    /// their outcomes in order, as [`send`](Self::send)'s.
    pub fn send_all(
        &mut self,
        messages: Vec<(Envelope, Body<'_>)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        self.send_sources(smtpkit_client::sources(messages))
    }

    pub(crate) fn send_source(
        &mut self,
        envelope: Envelope,
        body: BodySource<'_>,
    ) -> Result<DeliveryReport, Error> {
        self.send_sources(vec![(envelope, body)])
            .pop()
            .unwrap_or(Err(Error::Usage(UsageError::Busy)))
    }

    fn send_sources(
        &mut self,
        messages: Vec<(Envelope, BodySource<'_>)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let mut bodies = self.driver.start_send_sources(messages);
        self.run(&mut bodies);
        self.driver.finish_send()
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
    pub fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        with_whole(message, |body, envelope| {
            let (envelope, body) = read_whole(body, envelope, self.driver.message_options())?;
            self.send_source(envelope, body)
        })
    }

    /// Whether the connection still works: NOOP (or RSET with
    /// `mail.smtp.userset`), as JavaMail's `isConnected`.
    pub fn is_connected(&mut self) -> bool {
        self.driver.start_liveness();
        self.run(&mut Bodies::none());
        self.driver.finish_liveness()
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
    pub fn quit_without_waiting(mut self) -> Result<(), Error> {
        self.driver.start_quit_without_waiting();
        self.run(&mut Bodies::none());
        self.driver.finish_close()
    }

    /// QUIT (waiting for the reply with `mail.smtp.quitwait`), then closes.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket fails on the way.
    pub fn close(mut self) -> Result<(), Error> {
        self.driver.start_close();
        self.run(&mut Bodies::none());
        self.driver.finish_close()
    }

    /// The I/O loop: perform what the driver asks until it is done.
    fn run(&mut self, bodies: &mut Bodies<&[u8], std::fs::File, Reader<'_>>) {
        loop {
            match self.driver.next_io(C::now(), bodies) {
                Io::Write { bytes, deadline } => {
                    let written =
                        write_by::<C>(&mut *self.transport, &mut self.timeouts, bytes, deadline);
                    self.driver.on_written(C::now(), written);
                }
                Io::Read { buf, deadline } => {
                    let read =
                        read_by::<C>(&mut *self.transport, &mut self.timeouts, buf, deadline);
                    self.driver.on_read_into(C::now(), read);
                }
                Io::Body(io) => {
                    let outcome = perform(io);
                    self.driver.on_body_io(bodies, outcome);
                }
                Io::Done => return,
            }
        }
    }
}

fn write_by<C: Clock>(
    transport: &mut dyn Transport,
    set: &mut SocketTimeouts,
    mut bytes: &[u8],
    deadline: Option<Instant>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        if let Some(timeout) = set.write(deadline, C::now())? {
            transport.set_write_timeout(timeout)?;
        }
        match transport.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    transport.flush()
}

fn read_by<C: Clock>(
    transport: &mut dyn Transport,
    set: &mut SocketTimeouts,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> io::Result<usize> {
    if let Some(timeout) = set.read(deadline, C::now())? {
        transport.set_read_timeout(timeout)?;
    }
    transport.read(buf)
}

/// Connects, sends one RFC 5322 message with the envelope it names
/// ([`Client::send_message`]), and closes: JavaMail's static
/// `Transport.send(message)`.
///
/// # Errors
/// As [`Client::send_message`]; a connection that cannot be made is an
/// [`Error::Send`] listing every recipient as unsent.
pub fn send_message<'a>(
    settings: &ClientSettings,
    message: impl IntoMessage<Body<'a>>,
) -> Result<DeliveryReport, Error> {
    // The envelope first, so that a connection that cannot be made still
    // accounts for every recipient.
    let options = MessageOptions::of(settings);
    with_whole(message, |body, envelope| {
        let (envelope, source) = read_whole(body, envelope, &options)?;
        send_once(settings, envelope, source)
    })
}

/// Connects, sends one message to `envelope`, and closes: JavaMail's
/// static `Transport.send(message, addresses)`.
///
/// # Errors
/// As [`Client::send`]; a connection that cannot be made is an
/// [`Error::Send`] listing every recipient as unsent.
pub fn send<'a>(
    settings: &ClientSettings,
    envelope: Envelope,
    body: impl Into<Body<'a>>,
) -> Result<DeliveryReport, Error> {
    send_once(settings, envelope, body.into().into())
}

fn send_once(
    settings: &ClientSettings,
    envelope: Envelope,
    body: BodySource<'_>,
) -> Result<DeliveryReport, Error> {
    let mut client = Client::connect(settings).map_err(|e| Error::not_connected(&envelope, e))?;
    let report = client.send_source(envelope, body)?;
    // The outcome is decided; a failed QUIT changes nothing about it.
    let _ = client.close();
    Ok(report)
}

/// Sends one RFC 5322 message through a relay set and closes: the
/// one-call [`send_message`] with failover, per-recipient retries and
/// rate limits ([`RelayPool::send_message`] on a pool made for this
/// message). Each recipient's outcome and relay is in the report.
///
/// # Errors
/// As [`RelayPool::send_message`].
pub fn send_message_via<'a>(
    set: &smtpkit_client::relay::RelaySet,
    message: impl IntoMessage<Body<'a>>,
) -> Result<smtpkit_client::relay::RelayReport, Error> {
    let pool = RelayPool::new(set.clone(), PoolConfig::default());
    let report = pool.send_message(message);
    pool.close();
    report
}

/// [`send_message_via`] for a message to `envelope`.
///
/// # Errors
/// As [`RelayPool::send`].
pub fn send_via<'a>(
    set: &smtpkit_client::relay::RelaySet,
    envelope: Envelope,
    body: impl Into<Body<'a>>,
) -> Result<smtpkit_client::relay::RelayReport, Error> {
    let pool = RelayPool::new(set.clone(), PoolConfig::default());
    let report = pool.send(envelope, body);
    pool.close();
    report
}
