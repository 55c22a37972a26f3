//! The blocking client's clock is a `Clock`: on a virtual one, a reply
//! deadline fires at the right virtual instant and the pool's idle timeout
//! is measured on it, in milliseconds of real time — the tests
//! `smtp-tokio/tests/virtual_clock.rs` runs on tokio's paused clock. The
//! server of the deadline test is a scripted in-memory transport that
//! moves the virtual clock on by the read timeout it was given whenever it
//! has nothing to say, as a socket that waits would.

// Helpers outside #[test] functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smtpkit_blocking::{Client, ClientSettings, Clock, Pool, PoolConfig, Protocol, Transport};
use smtpkit_proto::{Address, Envelope, Host, Timeouts};
use smtpkit_testserver::{Script, TestServer};

/// A clock that moves only when told to: a base instant plus an offset.
struct Virtual;

static BASE: OnceLock<Instant> = OnceLock::new();
/// The clock is the process's: the tests take turns with it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
static OFFSET_NANOS: AtomicU64 = AtomicU64::new(0);

impl Virtual {
    fn advance(by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap();
        OFFSET_NANOS.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for Virtual {
    fn now() -> Instant {
        *BASE.get_or_init(Instant::now) + Duration::from_nanos(OFFSET_NANOS.load(Ordering::SeqCst))
    }

    fn sleep(duration: Duration) {
        Virtual::advance(duration);
    }
}

/// A server in memory: greets, offers no PIPELINING (so MAIL waits
/// alone), answers every command with 250 (354 to DATA, 221 to QUIT), and
/// never answers MAIL. With nothing to say, a read waits out its timeout
/// on the virtual clock.
#[derive(Default)]
struct SilentMail {
    replies: VecDeque<u8>,
    line: Vec<u8>,
    in_data: bool,
    read_timeout: Option<Duration>,
}

impl SilentMail {
    fn new() -> SilentMail {
        SilentMail {
            replies: b"220 fake.example ESMTP\r\n".iter().copied().collect(),
            ..SilentMail::default()
        }
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
            "MAIL" => return,
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

impl Read for SilentMail {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.replies.is_empty() {
            // Nothing will come: the read waits out its timeout.
            Virtual::advance(self.read_timeout.unwrap_or(Duration::from_secs(3600)));
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.replies.len());
        for (slot, octet) in buf.iter_mut().zip(self.replies.drain(..n)) {
            *slot = octet;
        }
        Ok(n)
    }
}

impl Write for SilentMail {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &octet in buf {
            self.line.push(octet);
            if octet == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.command(&line);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for SilentMail {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

fn settings() -> ClientSettings {
    let mut s = ClientSettings::dangerous_plaintext("fake.example");
    s.local_name = Some(Host::parse("client.example").unwrap());
    s
}

fn envelope() -> Envelope {
    Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse("b@example.org").unwrap()],
    )
}

#[test]
fn reply_deadline_fires_at_the_virtual_instant() {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let real = Instant::now();
    let mut s = settings();
    s.session.timeouts = Timeouts::default();
    s.session.timeouts.mail = smtp_suites::virtual_time::MAIL_TIMEOUT;
    let mut client =
        Client::<Virtual>::from_transport_with_clock(Box::new(SilentMail::new()), &s, None)
            .unwrap();
    let start = Virtual::now();
    let result = client.send(
        envelope(),
        smtpkit_blocking::Body::Bytes(b"Subject: x\r\n\r\nx\r\n"),
    );
    let waited = Virtual::now() - start;
    smtp_suites::virtual_time::unanswered_mail_times_out_on_time(&result, waited, real.elapsed());
}

#[test]
fn pool_idle_timeout_uses_the_clients_clock() {
    let _turn = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let server = TestServer::start(Script::new()).unwrap();
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = Some(server.addr().port());
    s.tls.starttls_enable = false;
    s.local_name = Some(Host::parse("client.example").unwrap());
    let mut config = PoolConfig::default();
    config.idle_timeout = Duration::from_secs(60);
    config.check_before_reuse = false;
    let pool = Pool::<Virtual>::with_clock(s, config);
    pool.send(envelope(), b"x\r\n").unwrap();
    // Within the idle window the connection is reused…
    Virtual::advance(Duration::from_secs(59));
    pool.send(envelope(), b"x\r\n").unwrap();
    assert_eq!(server.connections(), 1);
    // …past it, it is retired (QUIT) and a new one is made, though no
    // real second has passed.
    Virtual::advance(Duration::from_secs(61));
    pool.send(envelope(), b"x\r\n").unwrap();
    assert_eq!(server.connections(), 2);
    pool.close();
    assert_eq!(server.count_eventually("QUIT", 2), 2);
}
