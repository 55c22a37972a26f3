//! The README's blocking quick start, run against the in-process test
//! server: STARTTLS with a custom CA, AUTH, one message-level send, the
//! per-recipient report.
//!
//! `cargo run -p smtpkit-blocking --example blocking_quickstart`

use smtpkit_blocking::{Body, Client, ClientSettings, Protocol};
use smtpkit_testserver::{Action, Script, TestCa, TestServer, When};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A server to talk to: STARTTLS with a throwaway CA, SCRAM-SHA-256,
    // and one mailbox that does not exist.
    let ca = TestCa::new(&["localhost"])?;
    let server = TestServer::start(
        Script::new()
            .starttls(&ca)?
            .auth(["SCRAM-SHA-256"], &[("alice", "secret")])
            .rule(
                When::RcptTo("nobody@example.net".into()),
                Action::reply("550 5.1.1 no such user\r\n"),
            ),
    )?;

    // --- the quick start ---
    let mut settings = ClientSettings::new(Protocol::Smtp, "localhost"); // STARTTLS, verified
    settings.port = Some(server.addr().port());
    settings.tls.trust_ca_pem(ca.ca_pem.clone(), false); // trust this CA too
    settings.auth.login("alice", "secret");
    settings.session.send_partial = true; // deliver to the valid recipients (JavaMail's sendpartial)

    let message = b"From: me@example.org\r\nTo: you@example.net, nobody@example.net\r\n\
                    Subject: hello\r\n\r\nHello.\r\n";
    let mut client = Client::connect(&settings)?;
    // Ok whenever the transaction completed, refusals included; Err only
    // when the connection failed (its report is `error.report()`).
    let report = client.send_message(Body::Bytes(message))?;
    for address in report.delivered() {
        println!("delivered: {address}");
    }
    for (address, reply) in report.rejected() {
        println!("refused:   {address} ({reply})");
    }
    client.close()?;
    // --- end ---

    assert_eq!(server.transactions().len(), 1);
    Ok(())
}
