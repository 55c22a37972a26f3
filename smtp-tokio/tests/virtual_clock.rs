//! The clock belongs to the runtime: with tokio's paused clock, a reply
//! deadline, the connect timeout and the pool's idle timeout fire at the
//! right virtual instant, in milliseconds of real time. The server is an
//! in-memory task on the same runtime, so time only moves when every task
//! waits (no real socket can race the virtual clock).

// Helpers outside #[test] functions unwrap too: a panic is a test failure.
#![allow(clippy::unwrap_used)]

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use smtpkit_async::{Pool, PoolConfig, Runtime};
use smtpkit_client::{ClientSettings, Error, Protocol};
use smtpkit_proto::{Address, Envelope, Host, Timeouts};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// A scripted server on the other end of an in-memory pipe: greets,
/// offers no PIPELINING (so MAIL waits alone), answers every command with
/// 250 (354 to DATA, 221 to QUIT), and never
/// answers MAIL when `silent_mail` is set.
async fn fake_server(stream: DuplexStream, silent_mail: bool) {
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read).lines();
    if write
        .write_all(b"220 fake.example ESMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut in_data = false;
    while let Ok(Some(line)) = lines.next_line().await {
        if in_data {
            if line == "." {
                in_data = false;
                let _ = write.write_all(b"250 queued\r\n").await;
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250 fake.example\r\n",
            "MAIL" if silent_mail => continue,
            "DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Connections made by [`Answering`] (the pool test's runtime only).
static CONNECTS: AtomicUsize = AtomicUsize::new(0);

/// Tokio's clock and timers; connections are in-memory pipes to
/// [`fake_server`] (or, for `Stalled`, never complete).
macro_rules! virtual_runtime {
    ($name:ident, $connect:expr) => {
        struct $name;
        impl Runtime for $name {
            type Stream = Compat<DuplexStream>;
            type File = Compat<tokio::fs::File>;
            async fn connect(_: SocketAddr, _: Option<SocketAddr>) -> io::Result<Self::Stream> {
                $connect.await
            }
            fn now() -> Instant {
                tokio::time::Instant::now().into_std()
            }
            fn sleep_until(deadline: Instant) -> impl std::future::Future<Output = ()> + Send {
                tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
            }
            async fn resolve(_: String, port: u16) -> io::Result<Vec<SocketAddr>> {
                Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
            }
            fn local_addr(_: &Self::Stream) -> Option<SocketAddr> {
                None
            }
            async fn open_file(path: PathBuf) -> io::Result<Self::File> {
                Ok(tokio::fs::File::open(path).await?.compat())
            }
        }
    };
}

async fn pipe(silent_mail: bool) -> io::Result<Compat<DuplexStream>> {
    if !silent_mail {
        CONNECTS.fetch_add(1, Ordering::SeqCst);
    }
    let (client, server) = tokio::io::duplex(64 * 1024);
    tokio::spawn(fake_server(server, silent_mail));
    Ok(client.compat())
}

virtual_runtime!(Answering, pipe(false));
virtual_runtime!(SilentMail, pipe(true));
virtual_runtime!(
    Stalled,
    std::future::pending::<io::Result<Compat<DuplexStream>>>()
);

fn settings() -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "fake.example");
    s.local_name = Some(Host::parse("client.example").unwrap());
    s
}

fn envelope() -> Envelope {
    Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse("b@example.org").unwrap()],
    )
}

#[tokio::test(start_paused = true)]
async fn reply_deadline_fires_at_the_virtual_instant() {
    let real = Instant::now();
    let mut s = settings();
    s.session.timeouts = Timeouts::default();
    s.session.timeouts.mail = smtp_suites::virtual_time::MAIL_TIMEOUT;
    let mut client = smtpkit_async::Client::<SilentMail>::connect(&s)
        .await
        .unwrap();
    let start = tokio::time::Instant::now();
    let result = client
        .send(envelope(), b"Subject: x\r\n\r\nx\r\n".to_vec())
        .await;
    let waited = tokio::time::Instant::now() - start;
    smtp_suites::virtual_time::unanswered_mail_times_out_on_time(&result, waited, real.elapsed());
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_fires_at_the_virtual_instant() {
    let real = Instant::now();
    let mut s = settings();
    s.connect_timeout = Duration::from_secs(30);
    let start = tokio::time::Instant::now();
    let result = smtpkit_async::Client::<Stalled>::connect(&s).await;
    let waited = tokio::time::Instant::now() - start;
    let Err(Error::Io(e)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(e.to_string().contains("connect"), "{e}");
    assert_eq!(waited, Duration::from_secs(30));
    assert!(
        real.elapsed() < Duration::from_secs(5),
        "{:?}",
        real.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn pool_idle_timeout_uses_the_runtime_clock() {
    let real = Instant::now();
    let mut config = PoolConfig::default();
    config.idle_timeout = Duration::from_secs(60);
    let pool = Pool::<Answering>::new(settings(), config);
    let before = CONNECTS.load(Ordering::SeqCst);
    pool.send(envelope(), b"x\r\n".to_vec()).await.unwrap();
    // Within the idle window the connection is reused…
    tokio::time::advance(Duration::from_secs(59)).await;
    pool.send(envelope(), b"x\r\n".to_vec()).await.unwrap();
    assert_eq!(CONNECTS.load(Ordering::SeqCst) - before, 1);
    // …past it, a new one is made.
    tokio::time::advance(Duration::from_secs(61)).await;
    pool.send(envelope(), b"x\r\n".to_vec()).await.unwrap();
    assert_eq!(CONNECTS.load(Ordering::SeqCst) - before, 2);
    assert!(
        real.elapsed() < Duration::from_secs(5),
        "{:?}",
        real.elapsed()
    );
}
