//! The blocking pool: the async pool's behaviour, from threads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use smtpkit_blocking::{ClientSettings, Error, Pool, PoolConfig};
use smtpkit_proto::{Address, Envelope};
use smtpkit_testserver::{Action, Script, TestServer, When};

fn settings(server: &TestServer) -> ClientSettings {
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.port = Some(server.addr().port());
    s.local_name = Some("client.example".parse().unwrap());
    s
}

fn envelope(i: usize) -> Envelope {
    Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse(&format!("r{i}@example.org")).unwrap()],
    )
}

#[test]
fn threads_share_connections_one_round_trip_per_message() {
    let server = TestServer::start(Script::new()).unwrap();
    let mut config = PoolConfig::default();
    config.max_connections = 4;
    config.max_messages_per_connection = 100;
    let pool = Pool::new(settings(&server), config);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    let report = pool.send(envelope(t * 1000 + i), b"x\r\n").unwrap();
                    assert!(report.all_delivered());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    pool.close();
    assert_eq!(server.transactions().len(), 1000);
    assert_eq!(server.count("NOOP"), 0, "no probe within probe_after");
    assert!(
        server.connections() >= 10,
        "1000 messages, 100 per connection"
    );
    assert_eq!(
        server.count_eventually("QUIT", server.connections()),
        server.connections()
    );
    eprintln!(
        "1000 pooled sends: {} connections, {} NOOP, {} QUIT, {} RSET",
        server.connections(),
        server.count("NOOP"),
        server.count("QUIT"),
        server.count("RSET")
    );
}

#[test]
fn retries_before_the_end_of_data_only() {
    let server = TestServer::start(Script::new().rule_times(
        When::Command("MAIL"),
        Action::reply("421 4.3.2 bye\r\n"),
        1,
    ))
    .unwrap();
    let mut config = PoolConfig::default();
    config.retry_backoff = Duration::from_millis(10);
    let pool = Pool::new(settings(&server), config);
    assert!(pool.send(envelope(0), b"x\r\n").unwrap().all_delivered());
    assert_eq!(server.connections(), 2);

    let server =
        TestServer::start(Script::new().rule_times(When::EndOfData, Action::Disconnect, 1))
            .unwrap();
    let pool = Pool::new(settings(&server), config);
    assert!(matches!(
        pool.send(envelope(0), b"x\r\n"),
        Err(Error::Send { .. })
    ));
    assert_eq!(server.connections(), 1, "never after the end of data");
}

#[test]
fn probe_idle_timeout_and_min_idle() {
    let server = TestServer::start(Script::new()).unwrap();
    let mut config = PoolConfig::default();
    config.probe_after = Duration::ZERO;
    config.min_idle = 1;
    let pool = Pool::new(settings(&server), config);
    pool.maintain().unwrap();
    assert_eq!(pool.idle_count(), 1);
    pool.send(envelope(0), b"x\r\n").unwrap();
    assert_eq!(server.count("NOOP"), 1, "probed: probe_after is zero");
    let mut config = PoolConfig::default();
    config.idle_timeout = Duration::from_millis(20);
    let pool = Pool::new(settings(&server), config);
    pool.send(envelope(1), b"x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(60));
    pool.send(envelope(2), b"x\r\n").unwrap();
    assert_eq!(
        server.count_eventually("QUIT", 1),
        1,
        "the expired connection said goodbye"
    );
    pool.close();
}

/// As the async pool: a send that cannot connect lists every recipient.
#[test]
fn a_send_that_cannot_connect_lists_every_recipient_unsent() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.port = Some(closed.local_addr().unwrap().port());
    drop(closed);
    let mut config = PoolConfig::default();
    config.retry_backoff = Duration::from_millis(10);
    let pool = Pool::new(s.clone(), config);
    let error = pool.send(envelope(0), b"x\r\n").unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.report().map(|r| r.unsent().count()), Some(1));
    // The one-shot send accounts for them the same way.
    let error = smtpkit_blocking::send(&s, envelope(1), smtpkit_blocking::Body::Bytes(b"x\r\n"))
        .unwrap_err();
    assert!(
        matches!(&error, Error::Send { report, cause: Some(_) } if report.unsent().count() == 1),
        "{error:?}"
    );
}
