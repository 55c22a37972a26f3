//! The virtual-time suite every client runs: a reply deadline, the
//! connect timeout and the pool's idle timeout fire at the right virtual
//! instant, in milliseconds of real time.
//!
//! The clock is [`VirtualClock`], which moves only when a wait would
//! pass time. The server is [`FakeServer`], a scripted server in memory
//! that answers at once or never, so that the client can only wait for
//! time: a read that finds nothing to read waits out its deadline, which
//! moves the clock to it.
//! - The async clients run [`async_virtual_time_suite!`](crate::async_virtual_time_suite) on any executor
//!   (tokio's, smol's): its runtime ([`Virtual`]) connects to a
//!   [`FakeServer`] in memory and reads the time from the virtual clock.
//! - The blocking client gives `Client::from_transport_with_clock` a
//!   transport over a [`FakeServer`] whose empty read moves the clock on
//!   by the socket's read timeout, and checks with the same functions.
//!   Its connect is a blocking system call that no clock can shorten, so
//!   the connect-timeout scenario is the async clients' only; its pool
//!   connects over loopback to the test server, which answers at once.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_io::{AsyncRead, AsyncWrite};
use smtpkit_async::Runtime;
use smtpkit_client::{ClientSettings, Error, PoolConfig};
use smtpkit_proto::{Address, DeliveryReport, Envelope, Host, SessionError, Timeouts};

/// The MAIL reply deadline of the scenario (`timeouts.mail`).
pub const MAIL_TIMEOUT: Duration = Duration::from_secs(120);

/// The connect timeout of the scenario.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The pool's idle timeout in the scenario.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How much real time a scenario may take: virtual minutes pass in it.
const REAL_TIME_LIMIT: Duration = Duration::from_secs(5);

/// A clock that moves only when told to: a base instant plus an offset
/// of this thread's. Every client and server of a scenario run on the
/// test's thread (the blocking client; an async one on a single-threaded
/// executor), so tests on other threads do not disturb it.
#[derive(Debug, Clone, Copy)]
pub struct VirtualClock;

static BASE: OnceLock<Instant> = OnceLock::new();

thread_local! {
    static OFFSET: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

impl VirtualClock {
    /// The virtual time now.
    pub fn now() -> Instant {
        *BASE.get_or_init(Instant::now) + OFFSET.with(Cell::get)
    }

    /// Moves the clock on by `by`.
    pub fn advance(by: Duration) {
        OFFSET.with(|offset| offset.set(offset.get() + by));
    }

    /// Moves the clock on to `at`, if that is later.
    pub fn advance_to(at: Instant) {
        VirtualClock::advance(at.saturating_duration_since(VirtualClock::now()));
    }
}

/// What a [`FakeServer`] does with MAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers every command.
    Answering,
    /// Never answers MAIL.
    SilentMail,
}

thread_local! {
    static CONNECTS: Cell<usize> = const { Cell::new(0) };
}

/// A server in memory: greets, offers no PIPELINING (so MAIL waits
/// alone), answers every command with 250 (354 to DATA, 221 to QUIT), and
/// never answers MAIL when [`Behaviour::SilentMail`].
#[derive(Debug)]
pub struct FakeServer {
    behaviour: Behaviour,
    replies: VecDeque<u8>,
    line: Vec<u8>,
    in_data: bool,
}

impl FakeServer {
    /// A new connection to a server that behaves so (counted in
    /// [`connects`](Self::connects)).
    pub fn new(behaviour: Behaviour) -> FakeServer {
        CONNECTS.with(|n| n.set(n.get() + 1));
        FakeServer {
            behaviour,
            replies: b"220 fake.example ESMTP\r\n".iter().copied().collect(),
            line: Vec::new(),
            in_data: false,
        }
    }

    /// How many connections this thread has made.
    pub fn connects() -> usize {
        CONNECTS.with(Cell::get)
    }

    /// Takes what the client wrote.
    pub fn receive(&mut self, bytes: &[u8]) {
        for &octet in bytes {
            self.line.push(octet);
            if octet == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.command(&line);
            }
        }
    }

    /// Moves what the server has said into `buf`: how many octets (0:
    /// nothing to say, now or ever, until the client writes again).
    pub fn reply(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.replies.len());
        for (slot, octet) in buf.iter_mut().zip(self.replies.drain(..n)) {
            *slot = octet;
        }
        n
    }

    fn command(&mut self, line: &[u8]) {
        let line = String::from_utf8_lossy(line);
        let line = line.trim_end();
        if self.in_data {
            if line == "." {
                self.in_data = false;
                self.replies.extend(b"250 queued\r\n");
            }
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250 fake.example\r\n",
            "MAIL" if self.behaviour == Behaviour::SilentMail => return,
            "DATA" => {
                self.in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => b"221 bye\r\n",
            _ => b"250 ok\r\n",
        };
        self.replies.extend(reply);
    }
}

/// A connection to a [`FakeServer`] for the async clients. A read with
/// nothing to read is pending for ever: the client's deadline ends it.
#[derive(Debug)]
pub struct FakeStream(FakeServer);

impl AsyncRead for FakeStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().0.reply(buf) {
            // Nothing will come until the client writes, which it does
            // not while it waits for this read: only its timer can end
            // the wait, and the virtual runtime's timer is ready at once.
            0 => Poll::Pending,
            n => Poll::Ready(Ok(n)),
        }
    }
}

impl AsyncWrite for FakeStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().0.receive(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Which connections a [`Virtual`] runtime makes.
pub trait Connects: Send + Sync + 'static {
    /// The server at the other end; `None`: the connect never completes.
    const SERVER: Option<Behaviour>;
}

/// Connections to a server that answers everything.
#[derive(Debug)]
pub struct AnsweringServer;
impl Connects for AnsweringServer {
    const SERVER: Option<Behaviour> = Some(Behaviour::Answering);
}

/// Connections to a server that never answers MAIL.
#[derive(Debug)]
pub struct SilentMailServer;
impl Connects for SilentMailServer {
    const SERVER: Option<Behaviour> = Some(Behaviour::SilentMail);
}

/// Connections that never complete.
#[derive(Debug)]
pub struct StalledConnect;
impl Connects for StalledConnect {
    const SERVER: Option<Behaviour> = None;
}

/// An async runtime on the virtual clock whose connections go to a
/// [`FakeServer`] in memory (or never complete): a timer completes at
/// once, moving the clock to its instant, as a paused runtime whose
/// every task waits would.
#[derive(Debug)]
pub struct Virtual<C>(PhantomData<C>);

impl<C: Connects> Runtime for Virtual<C> {
    type Stream = FakeStream;
    type File = futures_lite::io::Cursor<Vec<u8>>;

    async fn connect(_: SocketAddr, _: Option<SocketAddr>) -> io::Result<FakeStream> {
        match C::SERVER {
            Some(behaviour) => Ok(FakeStream(FakeServer::new(behaviour))),
            None => std::future::pending().await,
        }
    }

    fn now() -> Instant {
        VirtualClock::now()
    }

    // The clock moves when the timer is waited on, not when it is armed:
    // a connection arms one for every reply it may wait for.
    async fn sleep_until(deadline: Instant) {
        VirtualClock::advance_to(deadline);
    }

    async fn resolve(_: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }

    fn local_addr(_: &FakeStream) -> Option<SocketAddr> {
        None
    }

    async fn open_file(path: PathBuf) -> io::Result<Self::File> {
        Ok(futures_lite::io::Cursor::new(std::fs::read(path)?))
    }
}

/// An executor the async scenarios run on.
pub trait BlockOn {
    /// Runs `future` to completion on this thread.
    fn block_on<F: Future>(future: F) -> F::Output;
}

/// The settings of every scenario: plaintext, a fixed EHLO name.
///
/// # Panics
/// Never: the name is valid.
pub fn settings() -> ClientSettings {
    let mut s = ClientSettings::dangerous_plaintext("fake.example");
    s.local_name = Host::parse("client.example").ok();
    s
}

/// The settings of the reply-deadline scenario.
pub fn mail_timeout_settings() -> ClientSettings {
    let mut s = settings();
    s.session.timeouts = Timeouts::default();
    s.session.timeouts.mail = MAIL_TIMEOUT;
    s
}

/// The pool configuration of the idle-timeout scenario.
pub fn idle_pool_config() -> PoolConfig {
    let mut config = PoolConfig::default();
    config.idle_timeout = IDLE_TIMEOUT;
    config.check_before_reuse = false;
    config
}

/// The envelope every scenario sends to.
///
/// # Panics
/// Never: the addresses are valid.
#[allow(clippy::unwrap_used)]
pub fn envelope() -> Envelope {
    Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse("b@example.org").unwrap()],
    )
}

/// The message every scenario sends.
pub const MESSAGE: &[u8] = b"Subject: x\r\n\r\nx\r\n";

/// A MAIL that is never answered fails the message with a MAIL timeout of
/// [`MAIL_TIMEOUT`], after that much virtual time (and not a second
/// more), in a moment of real time.
///
/// # Panics
/// When it does not.
pub fn unanswered_mail_times_out_on_time(
    result: &Result<DeliveryReport, Error>,
    waited: Duration,
    real: Duration,
) {
    let Err(Error::Send { cause, .. }) = result else {
        panic!("{result:?}")
    };
    assert!(
        matches!(cause.as_deref(), Some(Error::Session(SessionError::Timeout { waiting_for: "MAIL", after })) if *after == MAIL_TIMEOUT),
        "{cause:?}"
    );
    assert!(
        waited >= MAIL_TIMEOUT && waited < MAIL_TIMEOUT + Duration::from_secs(1),
        "{waited:?}"
    );
    assert!(real < REAL_TIME_LIMIT, "{real:?}");
}

/// A session set up against a server that answers at once takes no
/// virtual time, although every reply has a deadline: time passes only
/// while a wait has nothing to wait for, not when a deadline is armed.
///
/// # Panics
/// When time passed.
pub fn answered_at_once(elapsed: Duration) {
    assert_eq!(
        elapsed,
        Duration::ZERO,
        "time passed while every reply came at once"
    );
}

/// A connect that never completes fails with `TimedOut` naming the
/// connect after exactly [`CONNECT_TIMEOUT`] of virtual time.
///
/// # Panics
/// When it does not.
pub fn stalled_connect_times_out_on_time<T: std::fmt::Debug>(
    result: &Result<T, Error>,
    waited: Duration,
    real: Duration,
) {
    let Err(Error::Io(e)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(e.to_string().contains("connect"), "{e}");
    assert_eq!(waited, CONNECT_TIMEOUT);
    assert!(real < REAL_TIME_LIMIT, "{real:?}");
}

/// A pool reuses its connection within [`IDLE_TIMEOUT`] of virtual time
/// and retires it past that: `connections` is how many it had made after
/// a send, a second one 59 s later and a third one 61 s after that.
///
/// # Panics
/// When it did not.
pub fn pool_retires_idle_connections_on_time(connections: [usize; 3], real: Duration) {
    assert_eq!(connections, [1, 1, 2], "connections after each send");
    assert!(real < REAL_TIME_LIMIT, "{real:?}");
}

/// The async scenarios, on executor `E`.
pub mod on_async {
    use super::*;

    /// An unanswered MAIL times out at [`MAIL_TIMEOUT`].
    ///
    /// # Panics
    /// When it does not, or the client does not connect.
    #[allow(clippy::unwrap_used)]
    pub fn reply_deadline<E: BlockOn>() {
        let real = Instant::now();
        E::block_on(async {
            let settings = mail_timeout_settings();
            let connecting = VirtualClock::now();
            let mut client = smtpkit_async::Client::<Virtual<SilentMailServer>>::connect(&settings)
                .await
                .unwrap();
            let start = VirtualClock::now();
            answered_at_once(start - connecting);
            let result = client.send(envelope(), MESSAGE).await;
            let waited = VirtualClock::now() - start;
            unanswered_mail_times_out_on_time(&result, waited, real.elapsed());
        });
    }

    /// A connect that never completes times out at [`CONNECT_TIMEOUT`].
    ///
    /// # Panics
    /// When it does not.
    pub fn connect_timeout<E: BlockOn>() {
        let real = Instant::now();
        E::block_on(async {
            let mut settings = settings();
            settings.connect_timeout = CONNECT_TIMEOUT;
            let start = VirtualClock::now();
            let result = smtpkit_async::Client::<Virtual<StalledConnect>>::connect(&settings).await;
            let waited = VirtualClock::now() - start;
            stalled_connect_times_out_on_time(&result, waited, real.elapsed());
        });
    }

    /// The pool's idle timeout is measured on the runtime's clock.
    ///
    /// # Panics
    /// When it is not, or a send fails.
    #[allow(clippy::unwrap_used)]
    pub fn pool_idle_timeout<E: BlockOn>() {
        let real = Instant::now();
        E::block_on(async {
            let pool = smtpkit_async::Pool::<Virtual<AnsweringServer>>::new(
                settings(),
                idle_pool_config(),
            );
            let before = FakeServer::connects();
            let mut connections = [0; 3];
            for (i, wait) in [0, 59, 61].into_iter().enumerate() {
                VirtualClock::advance(Duration::from_secs(wait));
                pool.send(envelope(), MESSAGE).await.unwrap();
                connections[i] = FakeServer::connects() - before;
            }
            pool.close().await;
            pool_retires_idle_connections_on_time(connections, real.elapsed());
        });
    }
}

/// Expands to the virtual-time scenarios as `#[test]`s of an async
/// client, run on executor `$executor` (a [`BlockOn`]).
#[macro_export]
macro_rules! async_virtual_time_suite {
    ($executor:ty) => {
        #[test]
        fn virtual_time_reply_deadline() {
            $crate::virtual_time::on_async::reply_deadline::<$executor>();
        }

        #[test]
        fn virtual_time_connect_timeout() {
            $crate::virtual_time::on_async::connect_timeout::<$executor>();
        }

        #[test]
        fn virtual_time_pool_idle_timeout() {
            $crate::virtual_time::on_async::pool_idle_timeout::<$executor>();
        }
    };
}
