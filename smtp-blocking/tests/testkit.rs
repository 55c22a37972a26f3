//! The blocking adapter against smtp-testkit, with fault injection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_proto::{Address, Envelope, FailureKind, SessionError};
use smtp_testkit::{Action, Script, TestServer, When};

fn settings(server: &TestServer) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = Some(server.addr().port());
    s.local_name = Some("client.example".parse().unwrap());
    s
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(
        Address::parse("sender@client.example").unwrap(),
        rcpts.iter().map(|r| Address::parse(r).unwrap()),
    )
}

#[test]
fn delivers_exact_bytes() {
    let server = TestServer::start(Script::new()).unwrap();
    let mut client = Client::connect(&settings(&server)).unwrap();
    let message =
        "Subject: caf\u{e9}\n\n.leading dot\nLF only\r\nCRLF\n..two dots\nno final newline"
            .as_bytes();
    let report = client
        .send(envelope(&["a@example.org"]), Body::Bytes(message))
        .unwrap();
    assert!(report.all_delivered());
    assert!(client.is_connected());
    client.close().unwrap();
    let t = &server.transactions()[0];
    assert_eq!(
        t.data,
        "Subject: caf\u{e9}\r\n\r\n.leading dot\r\nLF only\r\nCRLF\r\n..two dots\r\nno final newline\r\n".as_bytes()
    );
    assert!(t.bdat, "CHUNKING offered: BDAT used");
    assert!(t.mail_params.iter().any(|p| p == "BODY=8BITMIME"));
    let commands = server.commands();
    assert_eq!(
        commands.first().map(String::as_str),
        Some("EHLO client.example")
    );
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
}

#[test]
fn data_path_and_many_messages_pipelined() {
    let server = TestServer::start(Script::new().extensions(["PIPELINING", "8BITMIME"])).unwrap();
    let mut client = Client::connect(&settings(&server)).unwrap();
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("Subject: {i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    let results = client.send_all(
        bodies
            .iter()
            .map(|b| {
                (
                    envelope(&["a@example.org", "b@example.org"]),
                    Body::Bytes(b),
                )
            })
            .collect(),
    );
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.all_delivered()))
    );
    let transactions = server.transactions();
    assert_eq!(transactions.len(), 20);
    for (t, b) in transactions.iter().zip(&bodies) {
        assert_eq!(&t.data, b);
        assert!(!t.bdat);
        assert_eq!(t.rcpt_to, ["a@example.org", "b@example.org"]);
    }
}

#[test]
fn streamed_reader_body_over_data_and_bdat() {
    // Larger than the session's send buffer: the adapter must keep writing
    // while the body is wanted, not wait for a reply (a DATA regression).
    let big: Vec<u8> = b"0123456789abcdef\n"
        .iter()
        .copied()
        .cycle()
        .take(3_000_000)
        .collect();
    for chunksize in ["0", "65536"] {
        let server = TestServer::start(Script::new()).unwrap();
        let mut s = settings(&server);
        s.set("mail.smtp.chunksize", chunksize).unwrap();
        s.set("mail.smtp.timeout", "5000").unwrap();
        let mut client = Client::connect(&s).unwrap();
        let report = client
            .send(
                envelope(&["a@example.org"]),
                Body::Reader(Box::new(std::io::Cursor::new(big.clone()))),
            )
            .unwrap();
        assert!(report.all_delivered());
        let t = &server.transactions()[0];
        assert_eq!(t.bdat, chunksize != "0");
        assert_eq!(t.data.len(), 3_000_000 / 17 * 18 + 3_000_000 % 17 + 2);
    }
}

#[test]
fn server_drops_mid_data() {
    let server = TestServer::start(
        Script::new()
            .extensions(["PIPELINING"])
            .rule(When::DataBytes(1000), Action::Disconnect),
    )
    .unwrap();
    let mut client = Client::connect(&settings(&server)).unwrap();
    let body = vec![b'x'; 100_000];
    let err = client
        .send(envelope(&["a@example.org"]), Body::Bytes(&body))
        .unwrap_err();
    match err {
        Error::Send { failure, .. } => {
            assert!(
                matches!(failure.kind, FailureKind::ConnectionLost { .. }),
                "{failure:?}"
            );
            assert_eq!(failure.report.delivered().count(), 0);
        }
        Error::Io(_) => {}
        other => panic!("{other:?}"),
    }
    assert!(server.transactions().is_empty());
}

#[test]
fn service_closing_mid_transaction() {
    let server = TestServer::start(Script::new().rule(
        When::Command("RCPT"),
        Action::reply("421 4.3.2 Service shutting down\r\n"),
    ))
    .unwrap();
    let mut client = Client::connect(&settings(&server)).unwrap();
    let err = client
        .send(envelope(&["a@example.org"]), Body::Bytes(b"x\r\n"))
        .unwrap_err();
    let Error::Send { failure, cause } = err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        failure.kind,
        FailureKind::ConnectionLost { reply: Some(_), .. }
    ));
    assert!(matches!(cause, Some(SessionError::ServiceClosing(_))));
    assert!(!client.is_connected());
}

#[test]
fn transient_rcpt_failure_with_and_without_sendpartial() {
    let script = Script::new().rule(
        When::RcptTo("busy@example.org".into()),
        Action::reply("451 4.3.0 try later\r\n"),
    );
    let server = TestServer::start(script.clone()).unwrap();
    let mut client = Client::connect(&settings(&server)).unwrap();
    let err = client
        .send(
            envelope(&["a@example.org", "busy@example.org"]),
            Body::Bytes(b"x\r\n"),
        )
        .unwrap_err();
    let Error::Send { failure, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.kind, FailureKind::RecipientsRejected);
    assert!(failure.report.rejected().all(|(_, r)| r.is_transient()));
    assert!(
        server.transactions().is_empty(),
        "nothing sent without sendpartial"
    );
    assert!(
        client.is_connected(),
        "the connection survives a failed transaction"
    );

    let server = TestServer::start(script).unwrap();
    let mut s = settings(&server);
    s.set("mail.smtp.sendpartial", "true").unwrap();
    let mut client = Client::connect(&s).unwrap();
    let report = client
        .send(
            envelope(&["a@example.org", "busy@example.org"]),
            Body::Bytes(b"x\r\n"),
        )
        .unwrap();
    assert_eq!(
        report.delivered().map(Address::as_str).collect::<Vec<_>>(),
        ["a@example.org"]
    );
    assert_eq!(server.transactions()[0].rcpt_to, ["a@example.org"]);
}

#[test]
fn reply_that_never_comes_times_out() {
    let server = TestServer::start(Script::new().rule(When::EndOfData, Action::Hang)).unwrap();
    let mut s = settings(&server);
    s.set("mail.smtp.timeout", "400").unwrap();
    let mut client = Client::connect(&s).unwrap();
    let started = std::time::Instant::now();
    let err = client
        .send(envelope(&["a@example.org"]), Body::Bytes(b"x\r\n"))
        .unwrap_err();
    let Error::Send { failure, cause } = err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        failure.kind,
        FailureKind::ConnectionLost {
            data_sent: true,
            ..
        }
    ));
    assert!(
        matches!(cause, Some(SessionError::Timeout { .. })),
        "{cause:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[test]
fn greeting_refused_and_connection_refused() {
    let server = TestServer::start(
        Script::new().rule(When::Connect, Action::reply("554 5.7.1 go away\r\n")),
    )
    .unwrap();
    let err = Client::connect(&settings(&server)).unwrap_err();
    assert!(
        matches!(err, Error::Session(SessionError::Rejected(_))),
        "{err:?}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = Some(port);
    assert!(matches!(Client::connect(&s), Err(Error::Io(_))));
}

#[test]
fn properties_drive_the_connection() {
    let server = TestServer::start(Script::new()).unwrap();
    let port = server.addr().port().to_string();
    let s = ClientSettings::from_properties(
        Protocol::Smtp,
        [
            ("mail.smtp.host", "127.0.0.1"),
            ("mail.smtp.port", port.as_str()),
            ("mail.smtp.localhost", "props.example"),
            ("mail.smtp.localaddress", "127.0.0.1"),
            ("mail.smtp.chunksize", "0"),
            ("mail.smtp.ehlo", "false"),
        ],
    )
    .unwrap();
    smtp_blocking::send(&s, envelope(&["a@example.org"]), Body::Bytes(b"hi\r\n")).unwrap();
    let commands = server.commands();
    assert_eq!(commands[0], "HELO props.example");
    assert!(commands.contains(&"DATA".to_owned()));
}
