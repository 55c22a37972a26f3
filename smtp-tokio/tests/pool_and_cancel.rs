//! The pool and cancellation, on tokio (the same code serves smol: both
//! live in smtp-async).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use smtp_proto::{Address, Envelope};
use smtp_testkit::{Action, Script, TestServer, When};
use smtp_tokio::{Body, Client, ClientSettings, Error, Pool, PoolConfig, Protocol};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_bounds_and_reuses_connections() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(
        settings(&server),
        PoolConfig {
            max_connections: 2,
            max_messages_per_connection: 10,
            ..PoolConfig::default()
        },
    );
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.send(
                    envelope(i),
                    Body::from(format!("Subject: {i}\r\n\r\nx\r\n").into_bytes()),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().all_delivered());
    }
    assert_eq!(server.transactions().len(), 40);
    // 40 messages at most 10 per connection over at most 2 at a time.
    assert!(
        (4..=8).contains(&server.connections()),
        "{} connections",
        server.connections()
    );
    assert!(pool.idle_count() <= 2);
    // Reuse was checked with NOOP.
    assert!(server.commands().iter().any(|c| c == "NOOP"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_drops_a_connection_after_421() {
    let server = TestServer::start(Script::new().rule_times(
        When::Command("MAIL"),
        Action::reply("421 4.3.2 bye\r\n"),
        1,
    ))
    .unwrap();
    let pool = Pool::new(settings(&server), PoolConfig::default());
    assert!(matches!(
        pool.send(envelope(0), b"x\r\n".to_vec()).await,
        Err(Error::Send { .. })
    ));
    assert_eq!(pool.idle_count(), 0, "the closed connection is not kept");
    assert!(
        pool.send(envelope(1), b"x\r\n".to_vec())
            .await
            .unwrap()
            .all_delivered()
    );
    assert_eq!(server.connections(), 2);
    assert_eq!(pool.idle_count(), 1);
}

#[tokio::test]
async fn idle_connections_expire() {
    let server = TestServer::start(Script::new()).unwrap();
    let pool = Pool::new(
        settings(&server),
        PoolConfig {
            idle_timeout: Duration::from_millis(50),
            ..PoolConfig::default()
        },
    );
    pool.send(envelope(0), b"x\r\n".to_vec()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    pool.send(envelope(1), b"x\r\n".to_vec()).await.unwrap();
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn streamed_file_body() {
    let server = TestServer::start(Script::new()).unwrap();
    let path = std::env::temp_dir().join(format!("smtp-tokio-body-{}", std::process::id()));
    std::fs::write(&path, b"Subject: file\n\nfrom a file\n").unwrap();
    let mut client = Client::connect(&settings(&server)).await.unwrap();
    client
        .send(envelope(0), smtp_tokio::Body::File(path.clone()))
        .await
        .unwrap();
    client.close().await.unwrap();
    assert_eq!(
        server.transactions()[0].data,
        b"Subject: file\r\n\r\nfrom a file\r\n"
    );
    let _ = std::fs::remove_file(path);
}
