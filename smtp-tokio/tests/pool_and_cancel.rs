//! The pool and cancellation, on tokio (the same code serves smol: both
//! live in smtp-async).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use smtpkit_proto::{Address, Envelope};
use smtpkit_testserver::{Action, Script, TestServer, When};
use smtpkit_tokio::{Body, Client, ClientSettings, Error, Pool, PoolConfig, Protocol};

fn settings(server: &TestServer) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_send_poisons_the_connection() {
    let server = TestServer::start(Script::new().rule(When::EndOfData, Action::Hang)).unwrap();
    let mut client = Client::connect(&settings(&server)).await.unwrap();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(200),
        client.send(envelope(0), b"x\r\n".to_vec()),
    )
    .await;
    assert!(cancelled.is_err(), "the send was cut short");
    assert!(client.is_closed());
    assert!(matches!(
        client.send(envelope(1), b"y\r\n".to_vec()).await,
        Err(Error::Poisoned)
    ));
    assert!(!client.is_connected().await);
    assert!(matches!(client.close().await, Err(Error::Poisoned)));
}

fn config(f: impl FnOnce(&mut PoolConfig)) -> PoolConfig {
    let mut c = PoolConfig::default();
    f(&mut c);
    c
}

/// One round trip per pooled message: no NOOP before reusing a connection
/// used a moment ago; QUIT for every connection when retired or closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_reuses_without_probing_and_quits_politely() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(settings(&server), config(|c| c.max_connections = 4));
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.send(envelope(i), b"x\r\n".to_vec()).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().all_delivered());
    }
    pool.close().await;
    assert_eq!(server.transactions().len(), 1000);
    assert_eq!(server.count("NOOP"), 0, "no probe within probe_after");
    // 1000 messages, 100 per connection: at least 10 connections, every
    // one of them ended with QUIT.
    assert!(server.connections() >= 10, "{}", server.connections());
    assert_eq!(
        server.count_eventually("QUIT", server.connections()),
        server.connections()
    );
    assert_eq!(pool.idle_count(), 0);
    eprintln!(
        "1000 pooled sends: {} connections, {} NOOP, {} QUIT, {} RSET",
        server.connections(),
        server.count("NOOP"),
        server.count("QUIT"),
        server.count("RSET")
    );
}

/// `max_messages_per_connection` counts messages (a send_all of 5 counts
/// 5), and LIMITS MAILMAX lowers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_retires_by_messages_and_mailmax() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(
        settings(&server),
        config(|c| {
            c.max_connections = 1;
            c.max_messages_per_connection = 10;
        }),
    );
    for _ in 0..4 {
        let mut connection = pool.get().await.unwrap();
        let batch = (0..5)
            .map(|i| (envelope(i), Body::from(b"x\r\n".to_vec())))
            .collect();
        assert!(connection.send_all(batch).await.iter().all(Result::is_ok));
    }
    pool.close().await;
    assert_eq!(server.connections(), 2, "20 messages, 10 per connection");
    assert_eq!(server.count_eventually("QUIT", 2), 2);

    let server =
        TestServer::start(Script::new().extensions(["PIPELINING", "LIMITS MAILMAX=3"])).unwrap();
    let pool = Pool::new(settings(&server), config(|c| c.max_connections = 1));
    for i in 0..9 {
        pool.send(envelope(i), b"x\r\n".to_vec()).await.unwrap();
    }
    pool.close().await;
    assert_eq!(server.connections(), 3, "MAILMAX=3");
    assert_eq!(server.count_eventually("QUIT", 3), 3);
}

/// An idle connection is probed once it was idle for probe_after.
#[tokio::test]
async fn pool_probes_after_the_window() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(
        settings(&server),
        config(|c| c.probe_after = Duration::ZERO),
    );
    for i in 0..3 {
        pool.send(envelope(i), b"x\r\n".to_vec()).await.unwrap();
    }
    assert_eq!(server.count("NOOP"), 2, "before each reuse");
    assert_eq!(server.connections(), 1);
}

/// A 421 before the end of data is retried on a fresh connection; a drop
/// after the end of data is not (the message may have been delivered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_retries_only_before_the_end_of_data() {
    let server = TestServer::start(Script::new().rule_times(
        When::Command("MAIL"),
        Action::reply("421 4.3.2 bye\r\n"),
        1,
    ))
    .unwrap();
    let pool = Pool::new(
        settings(&server),
        config(|c| c.retry_backoff = Duration::from_millis(10)),
    );
    assert!(
        pool.send(envelope(0), b"x\r\n".to_vec())
            .await
            .unwrap()
            .all_delivered()
    );
    assert_eq!(server.connections(), 2, "retried on a fresh connection");
    assert_eq!(server.transactions().len(), 1);

    let server =
        TestServer::start(Script::new().rule_times(When::EndOfData, Action::Disconnect, 1))
            .unwrap();
    let pool = Pool::new(
        settings(&server),
        config(|c| c.retry_backoff = Duration::from_millis(10)),
    );
    match pool.send(envelope(0), b"x\r\n".to_vec()).await {
        Err(Error::Send { report, .. }) => assert!(report.may_have_been_delivered()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.connections(),
        1,
        "never retried after the end of data"
    );
}

#[tokio::test]
async fn idle_connections_expire_with_quit() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(
        settings(&server),
        config(|c| c.idle_timeout = Duration::from_millis(50)),
    );
    pool.send(envelope(0), b"x\r\n".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    pool.send(envelope(1), b"x\r\n".to_vec()).await.unwrap();
    assert_eq!(server.connections(), 2);
    assert_eq!(
        server.count_eventually("QUIT", 1),
        1,
        "the expired one said goodbye"
    );
}

#[tokio::test]
async fn maintain_keeps_min_idle() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(settings(&server), config(|c| c.min_idle = 2));
    pool.maintain().await.unwrap();
    assert_eq!(pool.idle_count(), 2);
    assert_eq!(server.connections(), 2);
    pool.close().await;
    assert_eq!(server.count_eventually("QUIT", 2), 2);
}

#[tokio::test]
async fn streamed_file_body() {
    let server = TestServer::start(Script::new()).unwrap();
    let path = std::env::temp_dir().join(format!("smtp-tokio-body-{}", std::process::id()));
    std::fs::write(&path, b"Subject: file\n\nfrom a file\n").unwrap();
    let mut client = Client::connect(&settings(&server)).await.unwrap();
    client
        .send(envelope(0), smtpkit_tokio::Body::File(path.clone()))
        .await
        .unwrap();
    client.close().await.unwrap();
    assert_eq!(
        server.transactions()[0].data,
        b"Subject: file\r\n\r\nfrom a file\r\n"
    );
    let _ = std::fs::remove_file(path);
}

/// A pooled send that cannot connect still accounts for every recipient:
/// an `Error::Send` whose report lists each one as not connected. A
/// refused greeting (5xx) is not retried; a refused connection is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_cannot_connect_lists_every_recipient_unsent() {
    let server = TestServer::start(
        Script::new().rule(When::Connect, Action::reply("554 5.7.1 go away\r\n")),
    )
    .unwrap();
    let pool = Pool::new(
        settings(&server),
        config(|c| c.retry_backoff = Duration::from_millis(10)),
    );
    let two = Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [
            Address::parse("x@example.org").unwrap(),
            Address::parse("y@example.org").unwrap(),
        ],
    );
    let error = pool.send(two.clone(), b"x\r\n".to_vec()).await.unwrap_err();
    let report = error.report().expect("a send error carries the report");
    assert_eq!(report.unsent().count(), 2, "{report:?}");
    assert_eq!(
        report.failure,
        Some(smtpkit_proto::FailureKind::NotConnected)
    );
    assert!(error.is_permanent() && !error.is_transient(), "{error:?}");
    assert_eq!(server.connections(), 1, "a 554 greeting is not retried");

    // Nobody listens on this port: refused, retried, then reported.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = settings(&server);
    s.port = Some(closed.local_addr().unwrap().port());
    drop(closed);
    let pool = Pool::new(s, config(|c| c.retry_backoff = Duration::from_millis(10)));
    let error = pool.send(two, b"x\r\n".to_vec()).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.report().map(|r| r.unsent().count()), Some(2));
}
