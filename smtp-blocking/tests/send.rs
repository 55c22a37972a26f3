//! The blocking-only API: the one-call `smtpkit_blocking::send`. Everything
//! the clients share is in the conformance suite (`conformance.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use smtpkit_blocking::{Body, ClientSettings, Protocol};
use smtpkit_proto::{Address, Envelope};
use smtpkit_testserver::{Script, TestServer};

#[test]
fn one_call_send_connects_by_properties_sends_and_quits() {
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
    let envelope = Envelope::new(
        Address::parse("sender@client.example").unwrap(),
        [Address::parse("a@example.org").unwrap()],
    );
    let report = smtpkit_blocking::send(&s, envelope, Body::Bytes(b"hi\r\n")).unwrap();
    assert!(report.all_delivered());
    let commands = server.commands();
    assert_eq!(commands[0], "HELO props.example");
    assert!(commands.contains(&"DATA".to_owned()));
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
    assert_eq!(server.transactions()[0].data, b"hi\r\n");
}
