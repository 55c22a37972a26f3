//! One piece of async code, generic over `Mailer`, against a client, a
//! pool and the stub: the same outcomes, and the stub records what the
//! server stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use smtpkit_proto::{DeliveryReport, Reply, ReplyCode};
use smtpkit_testserver::{Action, Script, TestServer, When};
use smtpkit_tokio::{Client, ClientSettings, Error, Mailer, Pool, PoolConfig, StubMailer};

const MESSAGE: &[u8] = b"From: a@example.org\r\nTo: ok@example.org, bad@example.org\r\nBcc: hidden@example.org\r\nSubject: hi\r\n\r\nHello.\r\n";

async fn notify(mailer: &mut impl Mailer) -> Result<DeliveryReport, Error> {
    mailer.send_message(MESSAGE.to_vec()).await
}

fn shape(report: &DeliveryReport) -> (Vec<&str>, Vec<&str>) {
    (
        report.delivered().map(|a| a.as_str()).collect(),
        report.rejected().map(|(a, _)| a.as_str()).collect(),
    )
}

#[tokio::test]
async fn clients_pools_and_the_stub_answer_alike() {
    let server = TestServer::start(Script::new().rule(
        When::RcptTo("bad@example.org".into()),
        Action::reply("550 5.1.1 no such user\r\n"),
    ))
    .unwrap();
    let mut settings = ClientSettings::dangerous_plaintext("127.0.0.1");
    settings.port = Some(server.addr().port());
    settings.session.send_partial = true;

    let mut client = Client::connect(&settings).await.unwrap();
    let from_client = notify(&mut client).await.unwrap();
    client.close().await.unwrap();
    let mut pool = Pool::new(settings.clone(), PoolConfig::default());
    let from_pool = notify(&mut pool).await.unwrap();
    pool.close().await;
    // The stub answers as a client with the same settings does.
    let mut stub = StubMailer::for_settings(&settings);
    stub.refuse(
        "bad@example.org",
        Reply::new(
            ReplyCode::new(550).unwrap(),
            None,
            vec!["no such user".into()],
        )
        .unwrap(),
    );
    let from_stub = notify(&mut stub).await.unwrap();

    let expected = (
        vec!["ok@example.org", "hidden@example.org"],
        vec!["bad@example.org"],
    );
    assert_eq!(shape(&from_client), expected);
    assert_eq!(shape(&from_pool), expected);
    assert_eq!(shape(&from_stub), expected);
    let stored = server.transactions();
    assert_eq!(stored.len(), 2);
    // Each send added its own Date: and Message-ID:; the rest is the same.
    assert_eq!(
        smtp_suites::conformance::unstamped(&stub.sent()[0].data),
        smtp_suites::conformance::unstamped(&stored[0].data)
    );
    assert_eq!(
        smtp_suites::conformance::unstamped(&stored[0].data),
        smtp_suites::conformance::unstamped(&stored[1].data)
    );
    assert_ne!(stored[0].data, stored[1].data, "one Message-ID per message");
}
