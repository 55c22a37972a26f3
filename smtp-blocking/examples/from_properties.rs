//! Settings from JavaMail's `mail.smtp.*` properties (as a Java
//! application's `Properties` would hold them), one send, and JavaMail's
//! all-or-nothing view of the report.
//!
//! `cargo run -p smtpkit-blocking --example from_properties`

use smtpkit_blocking::{Address, Body, Client, ClientSettings, Envelope, Error, Protocol};
use smtpkit_testserver::{Action, Script, TestServer, When};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TestServer::start(Script::new().rule(
        When::RcptTo("gone@example.net".into()),
        Action::reply("550 5.1.1 no such user\r\n"),
    ))?;
    let port = server.addr().port().to_string();

    let properties = [
        ("mail.smtp.host", "127.0.0.1"),
        ("mail.smtp.port", port.as_str()),
        ("mail.smtp.from", "bounces@example.org"),
        ("mail.smtp.localhost", "client.example.org"),
        ("mail.smtp.timeout", "30000"),
        // The test server offers no STARTTLS: say so by name (the default
        // upgrades whenever STARTTLS is offered and verifies the server).
        ("mail.smtp.starttls.enable", "false"),
    ];
    let settings = ClientSettings::from_properties(Protocol::Smtp, properties)?;
    assert!(settings.unknown_keys.is_empty());

    let mut client = Client::connect(&settings)?;
    let envelope = Envelope::new(
        settings.from.clone().ok_or("mail.smtp.from is set")?,
        [
            Address::parse("you@example.net")?,
            Address::parse("gone@example.net")?,
        ],
    );
    let report = client.send(envelope, Body::Bytes(b"Subject: hi\r\n\r\nHello.\r\n"))?;
    client.close()?;

    // Without mail.smtp.sendpartial one refusal stops the message for all:
    // the report says who was refused and why nobody got it.
    println!(
        "failure: {:?}",
        report.failure.as_ref().map(ToString::to_string)
    );
    assert_eq!(report.delivered().count(), 0);
    // JavaMail's view: an exception naming the invalid and valid-unsent
    // addresses. Here: `?` on `into_result()` gives `Error::Undelivered`.
    match report.into_result().map_err(Error::from) {
        Err(Error::Undelivered(failure)) => {
            let invalid: Vec<_> = failure.invalid().map(Address::as_str).collect();
            let valid_unsent: Vec<_> = failure.valid_unsent().map(Address::as_str).collect();
            println!("invalid: {invalid:?}, valid unsent: {valid_unsent:?}");
            assert_eq!(invalid, ["gone@example.net"]);
            assert_eq!(valid_unsent, ["you@example.net"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(server.transactions().is_empty());
    Ok(())
}
