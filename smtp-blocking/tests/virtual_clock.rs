//! The virtual-time suite (`smtp_suites::virtual_time`) on the blocking
//! client: its `Clock` is the suite's virtual clock. The server of the
//! deadline scenario is the suite's in-memory `FakeServer`, behind a
//! transport that moves the clock on by the read timeout it was given
//! whenever the server has nothing to say, as a socket that waits would.
//! The pool connects over loopback to the test server, which answers at
//! once, so only the idle timeout can move time.

// Helpers outside #[test] functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use smtp_suites::virtual_time::{self, Behaviour, FakeServer, VirtualClock};
use smtpkit_blocking::{Client, ClientSettings, Clock, Pool, Protocol, Transport};
use smtpkit_testserver::{Script, TestServer};

/// The suite's virtual clock, as the blocking client's `Clock`.
struct Virtual;

impl Clock for Virtual {
    fn now() -> Instant {
        VirtualClock::now()
    }

    fn sleep(duration: Duration) {
        VirtualClock::advance(duration);
    }
}

/// A [`FakeServer`] as a blocking transport.
struct FakeTransport {
    server: FakeServer,
    read_timeout: Option<Duration>,
}

impl Read for FakeTransport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.server.reply(buf) {
            0 => {
                // Nothing will come: the read waits out its timeout.
                VirtualClock::advance(self.read_timeout.unwrap_or(Duration::from_secs(3600)));
                Err(io::ErrorKind::WouldBlock.into())
            }
            n => Ok(n),
        }
    }
}

impl Write for FakeTransport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.server.receive(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for FakeTransport {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn virtual_time_reply_deadline() {
    let real = Instant::now();
    let transport = FakeTransport {
        server: FakeServer::new(Behaviour::SilentMail),
        read_timeout: None,
    };
    let settings = virtual_time::mail_timeout_settings();
    let connecting = VirtualClock::now();
    let mut client =
        Client::<Virtual>::from_transport_with_clock(Box::new(transport), &settings, None).unwrap();
    let start = VirtualClock::now();
    virtual_time::answered_at_once(start - connecting);
    let result = client.send(virtual_time::envelope(), virtual_time::MESSAGE);
    let waited = VirtualClock::now() - start;
    virtual_time::unanswered_mail_times_out_on_time(&result, waited, real.elapsed());
}

#[test]
fn virtual_time_pool_idle_timeout() {
    let real = Instant::now();
    let server = TestServer::start(Script::new()).unwrap();
    let mut settings = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    settings.port = Some(server.addr().port());
    settings.tls.starttls_enable = false;
    settings.local_name = virtual_time::settings().local_name;
    let pool = Pool::<Virtual>::with_clock(settings, virtual_time::idle_pool_config());
    let mut connections = [0; 3];
    for (i, wait) in [0, 59, 61].into_iter().enumerate() {
        VirtualClock::advance(Duration::from_secs(wait));
        pool.send(virtual_time::envelope(), virtual_time::MESSAGE)
            .unwrap();
        connections[i] = server.connections();
    }
    pool.close();
    // The retired connection was closed with QUIT, as the last one was.
    assert_eq!(server.count_eventually("QUIT", 2), 2);
    virtual_time::pool_retires_idle_connections_on_time(connections, real.elapsed());
}
