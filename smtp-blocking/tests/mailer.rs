//! One piece of code, generic over `Mailer`, against a client, a pool and
//! both doubles: the same outcomes, and the stub records what the server
//! stores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use smtpkit_blocking::{
    Body, Client, ClientSettings, DeliveryReport, Error, FileMailer, Mailer, Pool, PoolConfig,
    StubMailer,
};
use smtpkit_proto::{Reply, ReplyCode};
use smtpkit_testserver::{Action, Script, TestServer, When};

const MESSAGE: &[u8] = b"From: a@example.org\r\nTo: ok@example.org, bad@example.org\r\nBcc: hidden@example.org\r\nSubject: hi\r\n\r\nHello.\r\n";

fn notify(mailer: &mut impl Mailer) -> Result<DeliveryReport, Error> {
    mailer.send_message(Body::Bytes(MESSAGE))
}

fn shape(report: &DeliveryReport) -> (Vec<&str>, Vec<&str>) {
    (
        report.delivered().map(|a| a.as_str()).collect(),
        report.rejected().map(|(a, _)| a.as_str()).collect(),
    )
}

#[test]
fn clients_pools_and_doubles_answer_alike() {
    let server = TestServer::start(Script::new().rule(
        When::RcptTo("bad@example.org".into()),
        Action::reply("550 5.1.1 no such user\r\n"),
    ))
    .unwrap();
    let mut settings = ClientSettings::dangerous_plaintext("127.0.0.1");
    settings.port = Some(server.addr().port());
    settings.session.send_partial = true;

    let mut client = Client::connect(&settings).unwrap();
    let from_client = notify(&mut client).unwrap();
    client.close().unwrap();
    let mut pool = Pool::new(settings.clone(), PoolConfig::default());
    let from_pool = notify(&mut pool).unwrap();
    pool.close();

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
    let from_stub = notify(&mut stub).unwrap();

    let expected = (
        vec!["ok@example.org", "hidden@example.org"],
        vec!["bad@example.org"],
    );
    assert_eq!(shape(&from_client), expected);
    assert_eq!(shape(&from_pool), expected);
    assert_eq!(shape(&from_stub), expected);
    // What the stub recorded is what the server stored: Bcc stripped.
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

    let dir = std::env::temp_dir().join(format!("smtpkit-mailer-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = FileMailer::new(&dir);
    let report = notify(&mut files).unwrap();
    assert_eq!(
        report.delivered().count(),
        3,
        "the file sink refuses nobody"
    );
    let eml = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "eml"))
        .unwrap();
    assert_eq!(
        smtp_suites::conformance::unstamped(&std::fs::read(eml).unwrap()),
        smtp_suites::conformance::unstamped(&stored[0].data)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A lettre message through the stub: recorded to lettre's envelope (Bcc
/// included) with its header rewritten as the clients rewrite it: no
/// `Bcc:`, `Date:` added (lettre writes one) and a `Message-ID:`.
#[test]
fn the_stub_rewrites_a_lettre_message_as_the_client_does() {
    let message = lettre::Message::builder()
        .from("a@example.org".parse().unwrap())
        .to("b@example.org".parse().unwrap())
        .bcc("hidden@example.org".parse().unwrap())
        .subject("s")
        .body(String::from("hi"))
        .unwrap();
    let mut stub = StubMailer::new();
    stub.send_message(message).unwrap();
    let sent = &stub.sent()[0];
    assert_eq!(sent.recipients(), ["b@example.org", "hidden@example.org"]);
    let data = String::from_utf8_lossy(&sent.data);
    assert!(!data.contains("hidden@example.org"), "{data}");
    assert_eq!(
        data.matches("\r\nDate: ").count() + usize::from(data.starts_with("Date: ")),
        1,
        "{data}"
    );
    assert_eq!(data.matches("Message-ID: ").count(), 1, "{data}");
}
