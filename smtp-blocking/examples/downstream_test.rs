//! How a crate that sends mail tests itself: write the sending code
//! against `impl Mailer`, test the logic with the in-memory `StubMailer`
//! (scripted refusals, faults), and the wire with the in-process test
//! server. (In a real crate the two halves below are `#[test]`s.)
//!
//! `cargo run -p smtpkit-blocking --example downstream_test`

use smtpkit_blocking::{Body, Client, ClientSettings, Error, Mailer, Reply, StubFault, StubMailer};
use smtpkit_proto::ReplyCode;
use smtpkit_testserver::{Action, Script, TestServer, When};

/// The code under test: sends an invoice, and says whom to retry later.
fn send_invoice(mailer: &mut impl Mailer, to: &str) -> Result<Vec<String>, Error> {
    let message = format!(
        "From: billing@example.org\r\nTo: {to}\r\nBcc: archive@example.org\r\n\
         Subject: Your invoice\r\n\r\nPlease pay.\r\n"
    );
    let report = mailer.send_message(Body::Bytes(message.as_bytes()))?;
    Ok(report
        .recipients
        .iter()
        .filter(|r| r.status.is_transient())
        .map(|r| r.address.to_string())
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The settings the code runs with: the stub answers as a client with
    // them would (here `sendpartial`: the other recipients still get it).
    let mut settings = ClientSettings::dangerous_plaintext("127.0.0.1");
    settings.session.send_partial = true;

    // 1. The logic, against the stub: a greylisting 451 means "retry".
    let mut stub = StubMailer::for_settings(&settings);
    stub.refuse(
        "slow@example.net",
        Reply::new(
            ReplyCode::new(451).ok_or("code")?,
            None,
            vec!["4.7.1 greylisted".into()],
        )?,
    );
    assert_eq!(
        send_invoice(&mut stub, "slow@example.net")?,
        ["slow@example.net"]
    );
    let sent = &stub.sent()[0];
    assert_eq!(
        sent.recipients(),
        ["slow@example.net", "archive@example.org"]
    );
    assert!(
        !String::from_utf8_lossy(&sent.data).contains("Bcc"),
        "Bcc stripped"
    );
    // A lost connection after the end of data: an error whose report says
    // the message may have been delivered (do not resend blindly).
    stub.fail_next(StubFault::LoseConnection { data_sent: true });
    let Err(error) = send_invoice(&mut stub, "a@example.net") else {
        return Err("the scripted fault did not fail the send".into());
    };
    assert!(error.report().is_some_and(|r| r.may_have_been_delivered()));

    // 2. The wire, against the test server.
    let server = TestServer::start(Script::new().rule(
        When::RcptTo("slow@example.net".into()),
        Action::reply("451 4.7.1 greylisted\r\n"),
    ))?;
    settings.port = Some(server.addr().port());
    let mut client = Client::connect(&settings)?;
    assert_eq!(
        send_invoice(&mut client, "slow@example.net")?,
        ["slow@example.net"]
    );
    client.close()?;
    let stored = &server.transactions()[0];
    assert_eq!(stored.rcpt_to, ["archive@example.org"]);
    println!("stub and server agree: retry slow@example.net");
    Ok(())
}
