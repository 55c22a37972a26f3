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
//! Every protocol decision is made by `smtp-proto`'s [`Session`]; this crate
//! only moves bytes, owns the clock and the socket, and reads bodies.
//!
//! ```
//! use smtp_blocking::{Body, Client, ClientSettings, Protocol};
//! use smtp_proto::{Address, Envelope};
//! # let server = smtp_testkit::TestServer::start(smtp_testkit::Script::new())?;
//!
//! let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
//! settings.port = server.addr().port(); // a test server on loopback
//! let mut client = Client::connect(&settings)?;
//! let envelope = Envelope::new(Address::parse("me@example.org")?, [Address::parse("you@example.net")?]);
//! let report = client.send(envelope, Body::Bytes(b"Subject: hi\r\n\r\nHello.\r\n"))?;
//! assert!(report.all_delivered());
//! client.close()?;
//! assert_eq!(server.transactions()[0].data, b"Subject: hi\r\n\r\nHello.\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use smtp_proto::properties::{ClientSettings, PropertyError, Protocol};
use smtp_proto::{
    BodyInfo, DeliveryReport, EhloResponse, Envelope, MessageId, Session, SessionConfig, TlsInfo,
    UsageError, default_ehlo_name,
};

use smtp_proto::driver::Collector;
pub use smtp_proto::driver::{Error, TranscriptHook};

/// A connection a [`Client`] can run on: a byte stream whose reads can be
/// bounded in time. Implemented for `TcpStream`; implement it to bring
/// your own (`mail.smtp.socketFactory`'s role).
pub trait Transport: Read + Write + Send {
    /// Bounds the next reads (`None`: block).
    ///
    /// # Errors
    /// As the underlying socket.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

/// A message body.
pub enum Body<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// A file, read twice: once to learn its size and type, once to send.
    File(std::fs::File),
    /// Any reader, streamed once with its type checked on the way (see
    /// [`BodyInfo::body_type`]).
    Reader(Box<dyn Read + Send + 'a>),
}

impl<'a> Body<'a> {
    fn prepare(self) -> Result<(BodyInfo, Source<'a>), Error> {
        match self {
            Body::Bytes(bytes) => Ok((BodyInfo::of_bytes(bytes), Source::Bytes { bytes, at: 0 })),
            Body::File(mut file) => {
                let info = BodyInfo::of_reader(&mut file).map_err(Error::Body)?;
                file.seek(SeekFrom::Start(0)).map_err(Error::Body)?;
                Ok((info, Source::File(file)))
            }
            Body::Reader(reader) => Ok((BodyInfo::streamed(), Source::Reader(reader))),
        }
    }
}

enum Source<'a> {
    Bytes { bytes: &'a [u8], at: usize },
    File(std::fs::File),
    Reader(Box<dyn Read + Send + 'a>),
}

impl Source<'_> {
    fn rewind(&mut self) -> io::Result<()> {
        match self {
            Source::Bytes { at, .. } => {
                *at = 0;
                Ok(())
            }
            Source::File(f) => f.seek(SeekFrom::Start(0)).map(|_| ()),
            Source::Reader(_) => Err(io::Error::other("a streamed body cannot be sent twice")),
        }
    }

    /// Reads the next piece: `Ok(None)` at the end.
    fn next<'b>(&'b mut self, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
        match self {
            Source::Bytes { bytes, at } => {
                let n = buf.len().min(bytes.len() - *at);
                let piece = &bytes[*at..*at + n];
                *at += n;
                Ok((n > 0).then_some(piece))
            }
            Source::File(f) => read_some(f, buf),
            Source::Reader(r) => read_some(r, buf),
        }
    }
}

fn read_some<'b>(r: &mut impl Read, buf: &'b mut [u8]) -> io::Result<Option<&'b [u8]>> {
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(&buf[..n])),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// An established SMTP connection.
pub struct Client {
    transport: Box<dyn Transport>,
    session: Session,
    read_buf: Vec<u8>,
    body_buf: Vec<u8>,
    write_buf: Vec<u8>,
    events: Collector,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// Opens the TCP connection the settings describe: resolves the host,
/// binds `localaddress`/`localport` when set, connects within
/// `connectiontimeout`, sets TCP_NODELAY (a pipelined flight must not wait
/// for delayed ACKs) and the write timeout.
///
/// # Errors
/// [`Error::Io`] with the last address's error.
pub fn open_tcp(settings: &ClientSettings) -> Result<TcpStream, Error> {
    open_tcp_to(&settings.host, settings.port, settings)
}

/// Opens the connection to the server, directly or through the configured
/// proxy ([`ClientSettings::effective_proxy`]), running the proxy's
/// handshake (smtp-proto's sans-IO codec). Returns the stream and the
/// octets that arrived after the proxy's reply, which belong to the SMTP
/// session.
///
/// # Errors
/// [`Error::Io`] for the TCP connection, [`Error::Proxy`] when the proxy
/// refuses.
pub fn open(settings: &ClientSettings) -> Result<(TcpStream, Vec<u8>), Error> {
    let Some(proxy) = settings.effective_proxy() else {
        return Ok((open_tcp(settings)?, Vec::new()));
    };
    let mut stream = open_tcp_to(&proxy.host, proxy.port, settings)?;
    let mut handshake = proxy.handshake(&settings.host, settings.port)?;
    let timeout = finite(settings.connect_timeout).or(finite(settings.session.timeouts.command));
    stream.set_read_timeout(timeout)?;
    let mut buf = [0u8; 4096];
    loop {
        if let Some(out) = handshake.poll_transmit() {
            stream.write_all(&out)?;
        }
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Io(e)),
        };
        if n == 0 {
            handshake.handle_eof()?;
        }
        if let smtp_proto::proxy::ProxyStatus::Done { leftover } =
            handshake.handle_input(&buf[..n])?
        {
            stream.set_read_timeout(None)?;
            return Ok((stream, leftover));
        }
    }
}

fn open_tcp_to(host: &str, port: u16, settings: &ClientSettings) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let local_ip: Option<IpAddr> = match &settings.local_address {
        Some(a) => Some(
            (a.as_str(), 0)
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("local address {a} not found"),
                    )
                })?
                .ip(),
        ),
        None => None,
    };
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host} resolves to nothing"),
    );
    for addr in addrs {
        match connect_one(addr, local_ip, settings) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(Error::Io(last))
}

fn finite(d: Duration) -> Option<Duration> {
    (d != Duration::MAX).then_some(d)
}

fn connect_one(
    addr: SocketAddr,
    local_ip: Option<IpAddr>,
    settings: &ClientSettings,
) -> io::Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if local_ip.is_some() || settings.local_port.is_some() {
        let ip = local_ip.unwrap_or(match addr {
            SocketAddr::V4(_) => IpAddr::from([0, 0, 0, 0]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        });
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::new(ip, settings.local_port.unwrap_or(0)).into())?;
    }
    match finite(settings.connect_timeout) {
        Some(t) => socket.connect_timeout(&addr.into(), t)?,
        None => socket.connect(&addr.into())?,
    }
    let stream: TcpStream = socket.into();
    stream.set_nodelay(true)?;
    stream.set_write_timeout(finite(settings.write_timeout))?;
    Ok(stream)
}

/// The EHLO name for a connection: `mail.smtp.localhost`, else the host
/// name, else an address literal of the local socket address.
pub fn ehlo_name_for(settings: &ClientSettings, stream: &TcpStream) -> smtp_proto::Host {
    let hostname = gethostname::gethostname();
    settings.local_name.clone().unwrap_or_else(|| {
        default_ehlo_name(hostname.to_str(), stream.local_addr().ok().map(|a| a.ip()))
    })
}

impl Client {
    /// Connects and establishes the session (greeting, EHLO, STARTTLS and
    /// AUTH as configured).
    ///
    /// # Errors
    /// [`Error::Io`] when the connection fails, [`Error::Session`] when the
    /// server refuses or the session fails.
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
        let (stream, already_read) = open(settings)?;
        let mut config = smtp_tls::session_config(settings, ehlo_name_for(settings, &stream))
            .map_err(Error::TlsConfig)?;
        config.transcript |= transcript.is_some();
        Client::from_transport(
            Box::new(stream),
            Arc::new(config),
            transcript,
            &already_read,
        )
    }

    /// Runs a session over a connection the caller made (a proxy tunnel,
    /// a Unix socket, an in-memory pipe); `already_read` are octets of the
    /// SMTP stream that arrived with the tunnel's setup.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub fn from_transport(
        transport: Box<dyn Transport>,
        config: Arc<SessionConfig>,
        transcript: Option<TranscriptHook>,
        already_read: &[u8],
    ) -> Result<Client, Error> {
        let mut session = Session::new(config, Instant::now());
        if !already_read.is_empty() {
            session.handle_input(Instant::now(), already_read);
        }
        let mut client = Client {
            transport,
            session,
            read_buf: vec![0; 64 * 1024],
            body_buf: vec![0; 64 * 1024],
            write_buf: Vec::new(),
            events: Collector::new(transcript),
        };
        let mut none: Vec<(MessageId, Source<'_>)> = Vec::new();
        client.drive(&mut none, |c| c.events.is_ready())?;
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

    /// The server's greeting.
    pub fn greeting(&self) -> Option<&smtp_proto::Reply> {
        self.session.greeting()
    }

    /// The capabilities the server offered before STARTTLS.
    pub fn extensions_before_tls(&self) -> Option<&EhloResponse> {
        self.session.extensions_before_tls()
    }

    /// The SASL mechanism that authenticated the session.
    pub fn auth_mechanism(&self) -> Option<&str> {
        self.session.auth_mechanism()
    }

    /// Sends one message and waits for its outcome.
    ///
    /// # Errors
    /// [`Error::Send`] when nobody received it (with every recipient's
    /// outcome), [`Error::Body`] when the body could not be read,
    /// [`Error::Io`] or [`Error::Session`] when the connection failed
    /// before the message was reported.
    pub fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error> {
        self.send_all(vec![(envelope, body)])
            .pop()
            .unwrap_or(Err(Error::Usage(UsageError::Busy)))
    }

    /// Sends several messages in one pipelined stream (each message's
    /// envelope rides with the previous one's end of data) and returns
    /// their outcomes in order.
    pub fn send_all<'a>(
        &mut self,
        messages: Vec<(Envelope, Body<'a>)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let mut ids = Vec::with_capacity(messages.len());
        let mut sources: Vec<(MessageId, Source<'a>)> = Vec::new();
        for (envelope, body) in messages {
            let queued = body
                .prepare()
                .and_then(|(info, source)| Ok((self.session.send(envelope, info)?, source)));
            match queued {
                Ok((id, source)) => {
                    ids.push(Ok(id));
                    sources.push((id, source));
                }
                Err(e) => ids.push(Err(e)),
            }
        }
        let wanted: Vec<MessageId> = ids
            .iter()
            .filter_map(|r| r.as_ref().ok().copied())
            .collect();
        let driven = self.drive(&mut sources, |c| {
            wanted.iter().all(|id| c.events.has_outcome(*id))
        });
        self.events.results(ids, driven.err())
    }

    /// Whether the connection still works: NOOP (or RSET with
    /// `mail.smtp.userset`), as JavaMail's `isConnected`.
    pub fn is_connected(&mut self) -> bool {
        let mut none: Vec<(MessageId, Source<'_>)> = Vec::new();
        // Replies still owed (an RSET after a failed transaction) first.
        if self.drive(&mut none, |c| c.session.is_idle()).is_err()
            || self.session.check_liveness().is_err()
        {
            return false;
        }
        self.events.reset_liveness();
        let mut answer = None;
        let ok = self
            .drive(&mut none, |c| {
                answer = answer.or(c.events.take_liveness());
                answer.is_some()
            })
            .is_ok();
        ok && answer.unwrap_or(false)
    }

    /// QUIT (waiting for the reply with `mail.smtp.quitwait`), then closes.
    ///
    /// # Errors
    /// [`Error::Io`] when the socket fails on the way.
    pub fn close(mut self) -> Result<(), Error> {
        self.session.quit();
        let mut none: Vec<(MessageId, Source<'_>)> = Vec::new();
        self.drive(&mut none, |_| false)?;
        Ok(())
    }

    /// The adapter loop: feed body data, write what the session has, hand
    /// events up, then wait for input or the session's deadline.
    fn drive<'a>(
        &mut self,
        sources: &mut Vec<(MessageId, Source<'a>)>,
        mut done: impl FnMut(&mut Client) -> bool,
    ) -> Result<(), Error> {
        loop {
            while let Some(request) = self.session.body_request() {
                let Some(index) = sources.iter().position(|(id, _)| *id == request.id) else {
                    break;
                };
                let source = &mut sources[index].1;
                if request.restart {
                    source.rewind().map_err(Error::Body)?;
                }
                let cap = request.max_len.min(self.body_buf.len());
                match source.next(&mut self.body_buf[..cap]) {
                    Ok(Some(piece)) => self.session.push_body(request.id, piece, false)?,
                    Ok(None) => self.session.push_body(request.id, &[], true)?,
                    Err(e) => {
                        let _ = self.session.abort_body(request.id);
                        self.pump_events();
                        return Err(Error::Body(e));
                    }
                }
            }
            let now = Instant::now();
            if self.session.poll_transmit_into(now, &mut self.write_buf) {
                let written = self
                    .transport
                    .write_all(&self.write_buf)
                    .and_then(|()| self.transport.flush());
                self.write_buf.clear();
                if let Err(e) = written {
                    self.session.handle_eof(Instant::now());
                    self.pump_events();
                    return Err(Error::Io(e));
                }
            }
            self.pump_events();
            if self.events.closed().is_some() || done(self) {
                return Ok(());
            }
            // The session says when to wait for input (not while it takes
            // body data).
            if !self.session.should_read() {
                continue;
            }
            let timeout = self
                .session
                .poll_timeout()
                .map(|d| d.saturating_duration_since(now));
            if timeout == Some(Duration::ZERO) {
                self.session.handle_timeout(now);
                continue;
            }
            self.transport.set_read_timeout(timeout)?;
            match self.transport.read(&mut self.read_buf) {
                Ok(0) => self.session.handle_eof(Instant::now()),
                Ok(n) => self
                    .session
                    .handle_input(Instant::now(), &self.read_buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    self.session.handle_timeout(Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.session.handle_eof(Instant::now());
                    self.pump_events();
                    return Err(Error::Io(e));
                }
            }
        }
    }

    fn pump_events(&mut self) {
        self.events.drain(&mut self.session);
    }
}

/// Connects, sends one message, and closes: JavaMail's static
/// `Transport.send`.
///
/// # Errors
/// As [`Client::connect`] and [`Client::send`].
pub fn send(
    settings: &ClientSettings,
    envelope: Envelope,
    body: Body<'_>,
) -> Result<DeliveryReport, Error> {
    let mut client = Client::connect(settings)?;
    let report = client.send(envelope, body)?;
    client.close()?;
    Ok(report)
}
