//! `smtp-send demo`: the whole library on one page. Starts smtp-testkit on
//! an ephemeral loopback port, upgrades with STARTTLS (a certificate made
//! on the spot, verified), authenticates (SCRAM-SHA-256), sends a
//! sample message to two recipients (the server refuses one), prints the
//! transcript and the report, and checks that everything happened as
//! expected.

use std::sync::{Arc, Mutex};

use serde_json::json;
use smtpkit_blocking::{Body, Client, ClientSettings, Protocol};
use smtpkit_proto::{Address, DeliveryReport, Envelope, RecipientStatus, TlsInfo};
use smtpkit_testserver::{Action, Script, TestCa, TestServer, When};

const MESSAGE: &[u8] = b"From: Demo Sender <sender@demo.invalid>\n\
To: alice@demo.invalid, nobody@demo.invalid\n\
Subject: smtp-send demo\n\
\n\
This message travels over a pipelined SMTP session.\n\
.A line that starts with a dot is dot-stuffed on the wire.\n";

const REFUSAL: &str =
    "550 5.1.1 <nobody@demo.invalid>: Recipient address rejected: User unknown\r\n";

pub(crate) fn run() -> u8 {
    match demo() {
        Ok(()) => {
            println!("demo: everything happened as expected");
            0
        }
        Err(problem) => {
            eprintln!("demo: FAILED: {problem}");
            1
        }
    }
}

fn set(s: &mut ClientSettings, key: &str, value: &str) -> Result<(), String> {
    s.set(key, value).map_err(|e| e.to_string())
}

fn demo() -> Result<(), String> {
    // A throwaway CA and a certificate for localhost: the demo's STARTTLS
    // is verified like any other.
    let ca = TestCa::new(&["localhost"]).map_err(|e| format!("making a test certificate: {e}"))?;
    let server = start_server(&ca)?;
    println!("demo: smtp-testkit listening on {}", server.addr());
    let settings = settings(&ca, server.addr().port())?;
    let transcript = Arc::new(Mutex::new(Vec::new()));
    let sent = send(&settings, Arc::clone(&transcript))?;
    print_report(&sent)?;
    let lines = transcript.lock().map_err(|_| "transcript lock")?.clone();
    check(&server, &sent, &lines)
}

/// The test server: STARTTLS with the CA's certificate, SCRAM-SHA-256 and
/// PLAIN, and nobody@ refused.
fn start_server(ca: &TestCa) -> Result<TestServer, String> {
    let script = Script::new()
        .starttls(ca)
        .map_err(|e| format!("loading the test certificate: {e}"))?;
    TestServer::start(
        script
            .auth(["SCRAM-SHA-256", "PLAIN"], &[("demo", "demo-password")])
            .rule(
                When::RcptTo("nobody@demo.invalid".into()),
                Action::reply(REFUSAL),
            ),
    )
    .map_err(|e| format!("starting the test server: {e}"))
}

fn settings(ca: &TestCa, port: u16) -> Result<ClientSettings, String> {
    let mut settings = ClientSettings::new(Protocol::Smtp, "localhost");
    set(&mut settings, "mail.smtp.starttls.required", "true")?;
    settings.tls.trust_ca_pem(ca.ca_pem.clone(), true);
    settings.port = Some(port);
    set(&mut settings, "mail.smtp.localhost", "client.demo.invalid")?;
    set(&mut settings, "mail.smtp.sendpartial", "true")?;
    // Authenticate: without TLS the chooser refuses PLAIN and picks
    // SCRAM-SHA-256, which never reveals the password.
    set(&mut settings, "mail.smtp.auth", "true")?;
    set(&mut settings, "mail.smtp.user", "demo")?;
    settings.auth.credentials.password = "demo-password".into();
    Ok(settings)
}

/// What the session did.
struct Sent {
    report: DeliveryReport,
    auth: Option<String>,
    tls: Option<TlsInfo>,
}

/// Connects, sends the sample message, and closes; the transcript is
/// printed and kept in `transcript`.
fn send(settings: &ClientSettings, transcript: Arc<Mutex<Vec<String>>>) -> Result<Sent, String> {
    let hook: smtpkit_blocking::TranscriptHook = Box::new(move |e| {
        println!("{e}");
        if let Ok(mut lines) = transcript.lock() {
            lines.push(e.to_string());
        }
    });
    let mut client = Client::connect_with(settings, Some(hook))
        .map_err(|e| format!("connect: {}", e.chain()))?;
    let address = |s: &str| Address::parse(s).map_err(|e| e.to_string());
    let envelope = Envelope::new(
        address("sender@demo.invalid")?,
        [
            address("alice@demo.invalid")?,
            address("nobody@demo.invalid")?,
        ],
    );
    let auth = client.info().auth_mechanism.clone();
    let tls = client.info().tls.clone();
    let report = client
        .send(envelope, Body::Bytes(MESSAGE))
        .map_err(|e| format!("send: {}", e.chain()))?;
    client
        .close()
        .map_err(|e| format!("close: {}", e.chain()))?;
    Ok(Sent { report, auth, tls })
}

fn print_report(sent: &Sent) -> Result<(), String> {
    let Sent { report, auth, tls } = sent;
    let json = json!({
        "accepted": report.delivered().map(Address::as_str).collect::<Vec<_>>(),
        "rejected": report.rejected().map(|(a, r)| json!({
            "address": a.as_str(),
            "code": r.code().get(),
            "enhanced_code": r.enhanced_code().map(|c| c.to_string()),
            "message": r.message(),
        })).collect::<Vec<_>>(),
        "unsent": report.unsent().map(Address::as_str).collect::<Vec<_>>(),
        "auth": auth,
        "tls": tls.as_ref().map(crate::output::tls_json),
        "reply": report.reply.as_ref().map(|r| json!({
            "code": r.code().get(),
            "enhanced_code": r.enhanced_code().map(|c| c.to_string()),
            "message": r.message(),
        })),
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// What the demo expects, checked rather than assumed.
fn check(server: &TestServer, sent: &Sent, lines: &[String]) -> Result<(), String> {
    let Sent { report, auth, tls } = sent;
    if !tls.as_ref().is_some_and(|t| t.verified) {
        return Err("expected a verified STARTTLS connection".into());
    }
    if auth.as_deref() != Some("SCRAM-SHA-256")
        || server.authentications() != [("SCRAM-SHA-256".to_owned(), "demo".to_owned())]
    {
        return Err(format!(
            "expected SCRAM-SHA-256 authentication, got {auth:?}"
        ));
    }
    let delivered: Vec<&str> = report.delivered().map(Address::as_str).collect();
    if delivered != ["alice@demo.invalid"] {
        return Err(format!(
            "expected delivery to alice only, got {delivered:?}"
        ));
    }
    match &report.recipients[1].status {
        RecipientStatus::Rejected(r)
            if r.code().get() == 550
                && r.enhanced_code().is_some_and(|c| c.to_string() == "5.1.1") => {}
        other => {
            return Err(format!(
                "expected nobody@ to be refused with 550 5.1.1, got {other:?}"
            ));
        }
    }
    let transactions = server.transactions();
    let [t] = transactions.as_slice() else {
        return Err(format!(
            "expected one transaction at the server, got {}",
            transactions.len()
        ));
    };
    let expected: Vec<u8> = String::from_utf8_lossy(MESSAGE)
        .replace('\n', "\r\n")
        .into_bytes();
    if t.data != expected || t.rcpt_to != ["alice@demo.invalid"] {
        return Err("the server did not receive exactly the message".into());
    }
    if !lines.iter().any(|l| l.starts_with("S: 550 5.1.1")) || !lines.iter().any(|l| l == "C: QUIT")
    {
        return Err("the transcript misses the refusal or the QUIT".into());
    }
    Ok(())
}
