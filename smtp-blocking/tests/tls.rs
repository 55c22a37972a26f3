//! STARTTLS and implicit TLS through the blocking adapter against
//! smtp-testkit's rustls server: trust, names, pins, versions, injection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_proto::{Address, AuthError, Envelope, SessionError, TlsErrorKind};
use smtp_testkit::{Action, Script, TestCa, TestServer, When};

fn ca_file(ca: &TestCa) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "smtp-tls-test-{}-{}.pem",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::write(&path, &ca.ca_pem).unwrap();
    path
}

fn settings(server: &TestServer, host: &str, trusted: &TestCa) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    s.port = Some(server.addr().port());
    s.local_name = Some("client.example".parse().unwrap());
    s.set("mail.smtp.starttls.enable", "true").unwrap();
    s.tls.ca_files = vec![ca_file(trusted)];
    s.tls.only_extra_roots = true;
    s
}

fn envelope() -> Envelope {
    Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse("b@example.org").unwrap()],
    )
}

fn tls_error(result: Result<Client, Error>) -> (TlsErrorKind, String) {
    match result {
        Err(Error::Session(SessionError::Tls(e))) => (e.kind, e.message),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn starttls_delivers_with_a_verified_certificate() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().starttls(&ca).unwrap()).unwrap();
    let mut client = Client::connect(&settings(&server, "localhost", &ca)).unwrap();
    let info = client.info().tls.as_ref().cloned().unwrap();
    assert!(info.verified);
    assert!(info.version.is_some() && info.cipher_suite.is_some());
    assert!(!info.peer_certificates.is_empty());
    client
        .send(envelope(), Body::Bytes(b"Subject: tls\r\n\r\nx\r\n"))
        .unwrap();
    client.close().unwrap();
    let commands = server.commands();
    assert_eq!(
        commands.iter().filter(|c| c.starts_with("EHLO")).count(),
        2,
        "EHLO again after TLS"
    );
    assert_eq!(server.transactions().len(), 1);
}

#[test]
fn untrusted_ca_and_wrong_name_fail_before_anything_is_sent() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let other = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().starttls(&ca).unwrap()).unwrap();
    let (kind, message) = tls_error(Client::connect(&settings(&server, "localhost", &other)));
    assert_eq!(kind, TlsErrorKind::Certificate);
    assert!(message.contains("unknown CA"), "{message}");

    let named = TestCa::new(&["mx.example"]).unwrap();
    let server2 = TestServer::start(Script::new().starttls(&named).unwrap()).unwrap();
    let (kind, message) = tls_error(Client::connect(&settings(&server2, "localhost", &named)));
    assert_eq!(kind, TlsErrorKind::Certificate);
    assert!(
        message.contains("does not match the server name"),
        "{message}"
    );
    for server in [&server, &server2] {
        assert!(server.commands().iter().all(|c| !c.starts_with("MAIL")));
    }

    // mail.smtp.ssl.checkserveridentity=false: the chain is still verified.
    let mut s = settings(&server2, "localhost", &named);
    s.set("mail.smtp.ssl.checkserveridentity", "false").unwrap();
    let client = Client::connect(&s).unwrap();
    assert!(!client.info().tls.as_ref().unwrap().verified);
}

#[test]
fn ssl_trust_star_and_host_lists() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let other = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().starttls(&ca).unwrap()).unwrap();
    for trust in ["*", "mx.example localhost"] {
        let mut s = settings(&server, "localhost", &other);
        s.set("mail.smtp.ssl.trust", trust).unwrap();
        let client = Client::connect(&s).unwrap_or_else(|e| panic!("{trust}: {e}"));
        assert!(!client.info().tls.as_ref().unwrap().verified);
    }
    let mut s = settings(&server, "localhost", &other);
    s.set("mail.smtp.ssl.trust", "mx.example").unwrap();
    assert_eq!(tls_error(Client::connect(&s)).0, TlsErrorKind::Certificate);
}

#[test]
fn public_key_pins() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().starttls(&ca).unwrap()).unwrap();
    let leaf = rustls_pki_types_leaf(&ca);
    let pin = smtp_tls::spki_sha256(&leaf).unwrap();
    let mut s = settings(&server, "localhost", &ca);
    s.tls.pins = vec![pin];
    Client::connect(&s).unwrap();
    s.tls.pins = vec![[0u8; 32]];
    let (kind, message) = tls_error(Client::connect(&s));
    assert_eq!(kind, TlsErrorKind::Certificate);
    assert!(message.contains("pinned"), "{message}");
}

fn rustls_pki_types_leaf(ca: &TestCa) -> Vec<u8> {
    use smtp_testkit::rustls::pki_types::CertificateDer;
    use smtp_testkit::rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(ca.chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[test]
fn starttls_required_without_starttls_fails_before_mail() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new()).unwrap();
    let mut s = settings(&server, "localhost", &ca);
    s.set("mail.smtp.starttls.required", "true").unwrap();
    assert!(matches!(
        Client::connect(&s),
        Err(Error::Session(SessionError::StartTlsUnavailable(_)))
    ));
    // The server records QUIT on its own thread: give it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while server.commands().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(server.commands(), ["EHLO client.example", "QUIT"]);
}

#[test]
fn protocol_version_not_allowed() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let mut script = Script::new();
    script.starttls = Some(
        ca.server_config(&[&smtp_testkit::rustls::version::TLS12])
            .unwrap(),
    );
    let server = TestServer::start(script).unwrap();
    let mut s = settings(&server, "localhost", &ca);
    s.set("mail.smtp.ssl.protocols", "TLSv1.3").unwrap();
    let (kind, message) = tls_error(Client::connect(&s));
    assert_eq!(kind, TlsErrorKind::Handshake, "{message}");
    s.set("mail.smtp.ssl.protocols", "TLSv1.2 TLSv1.3").unwrap();
    assert_eq!(
        Client::connect(&s)
            .unwrap()
            .info()
            .tls
            .as_ref()
            .unwrap()
            .version
            .as_deref(),
        Some("TLSv1.2")
    );
    s.set("mail.smtp.ssl.protocols", "SSLv3").unwrap();
    assert!(
        matches!(Client::connect(&s), Err(Error::TlsConfig(e)) if e.kind == TlsErrorKind::Config)
    );
}

#[test]
fn implicit_tls_smtps() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().implicit_tls(&ca).unwrap()).unwrap();
    let mut s = settings(&server, "localhost", &ca);
    s.set("mail.smtp.starttls.enable", "false").unwrap();
    s.set("mail.smtp.ssl.enable", "true").unwrap();
    s.port = Some(server.addr().port());
    let mut client = Client::connect(&s).unwrap();
    assert!(client.info().tls.as_ref().unwrap().verified);
    client.send(envelope(), Body::Bytes(b"x\r\n")).unwrap();
    assert_eq!(server.commands()[0], "EHLO client.example");
}

#[test]
fn response_injection_after_starttls() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().starttls(&ca).unwrap().rule(
        When::Command("STARTTLS"),
        Action::reply("220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n"),
    ))
    .unwrap();
    assert!(matches!(
        Client::connect(&settings(&server, "localhost", &ca)),
        Err(Error::Session(SessionError::ResponseInjection(_)))
    ));
    assert!(
        server
            .commands()
            .iter()
            .all(|c| !c.starts_with("AUTH") && !c.starts_with("MAIL"))
    );
}

#[test]
fn plaintext_mechanisms_are_fine_over_tls() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(
        Script::new()
            .starttls(&ca)
            .unwrap()
            .auth(["PLAIN"], &[("u", "p")]),
    )
    .unwrap();
    let mut s = settings(&server, "localhost", &ca);
    s.user = Some("u".into());
    s.auth.enabled = true;
    s.auth.password = Some("p".into());
    let client = Client::connect(&s).unwrap();
    assert_eq!(client.info().auth_mechanism.as_deref(), Some("PLAIN"));
    // Without TLS the same configuration is refused.
    let plain = TestServer::start(Script::new().auth(["PLAIN"], &[("u", "p")])).unwrap();
    let mut s2 = s.clone();
    s2.port = Some(plain.addr().port());
    s2.set("mail.smtp.starttls.enable", "false").unwrap();
    assert!(matches!(
        Client::connect(&s2),
        Err(Error::Session(SessionError::Auth(
            AuthError::PlaintextRefused { .. }
        )))
    ));
}
