//! TLS against a real Postfix (OpenSSL on the server side): STARTTLS,
//! implicit TLS, a submission listener that requires STARTTLS and AUTH,
//! certificate trust and names, and protocol versions.
//!
//! `scripts/interop.sh` starts a private instance
//! (`scripts/postfix-instance.sh`) and sets:
//! - `SMTP_INTEROP_TLS_DIR`: a directory holding `ca.pem`, the CA that
//!   signed the certificate every TLS listener presents (for `DNS:localhost`
//!   only, no IP address), and `other-ca.pem`, an unrelated CA;
//! - `SMTP_INTEROP_STARTTLS`: host:port of a smtpd offering STARTTLS
//!   (`smtpd_tls_security_level = may`);
//! - `SMTP_INTEROP_SMTPS`: host:port of a smtpd with implicit TLS
//!   (`smtpd_tls_wrappermode = yes`);
//! - `SMTP_INTEROP_SUBMISSION`: host:port of a smtpd that requires STARTTLS
//!   (`smtpd_tls_security_level = encrypt`), offers AUTH only after it
//!   (`smtpd_tls_auth_only = yes`; Cyrus SASL, `alice` / `Wonderland-2026`
//!   in realm `example.org`) and relays only for authenticated clients;
//! - `SMTP_INTEROP_TLS12`: host:port of a smtpd offering STARTTLS with
//!   TLS 1.2 only (`smtpd_tls_protocols = >=TLSv1.2, <=TLSv1.2`);
//! - `SMTP_INTEROP_POSTFIX`: host:port of the plain smtpd (no STARTTLS);
//! - `SMTP_INTEROP_DELIVERED`: the directory Postfix delivers into,
//!   `<recipient>/<unique-name>` per message.
//!
//! Only the ports are taken from the host:port values: the tests connect
//! to `localhost` (the certificate's name), or to `127.0.0.1` where the
//! name must not match.
//!
//! Without them each test says on stderr that it was skipped, unless
//! `SMTP_INTEROP_REQUIRED=1`, which makes it fail.
//!
//! Postfix adds TLS details to its `Received:` header
//! (`smtpd_tls_received_header = yes`), so the delivered file also says
//! which protocol the server negotiated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_proto::{Address, AuthError, Direction, Envelope, SessionError, TlsErrorKind};

const PASSWORD: &str = "Wonderland-2026";

/// The environment variables named, or `None` (skipped) when one is unset.
fn interop_vars<const N: usize>(test: &str, names: [&str; N]) -> Option<[String; N]> {
    let values = names.map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    if values.iter().all(Option::is_some) {
        return Some(values.map(Option::unwrap));
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    assert!(
        std::env::var("SMTP_INTEROP_REQUIRED").as_deref() != Ok("1"),
        "{test}: SMTP_INTEROP_REQUIRED=1 but {missing:?} not set (run scripts/interop.sh)"
    );
    eprintln!("skipped {test}: {missing:?} not set (scripts/interop.sh sets them)");
    None
}

/// `host` at the port of `host_port`, trusting only `ca` (a file in the
/// TLS directory); no TLS is enabled yet.
fn settings(host: &str, host_port: &str, tls_dir: &str, ca: &str) -> ClientSettings {
    let (_, port) = host_port.rsplit_once(':').expect("host:port");
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    // By property: a port assigned to `s.port` would give way to 465 when
    // `mail.smtp.ssl.enable` is set afterwards.
    s.set("mail.smtp.port", port).expect("port");
    s.local_name = Some("client.example".parse().unwrap());
    s.tls.ca_files = vec![Path::new(tls_dir).join(ca)];
    s.tls.only_extra_roots = true;
    s
}

/// Connects, recording the lines the client sends.
fn connect(settings: &ClientSettings) -> (Result<Client, Error>, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let result = Client::connect_with(
        settings,
        Some(Box::new(move |entry| {
            if entry.direction == Direction::Client {
                sink.lock().unwrap().push(entry.line.clone());
            }
        })),
    );
    (result, lines)
}

fn tls_error(what: &str, result: Result<Client, Error>) -> (TlsErrorKind, String) {
    match result {
        Err(Error::Session(SessionError::Tls(e))) => (e.kind, e.message),
        Err(other) => panic!("{what}: expected a TLS error, got {other} ({other:?})"),
        Ok(client) => panic!(
            "{what}: expected a TLS error, but connected ({:?})",
            client.tls_info()
        ),
    }
}

/// A recipient no other test or run uses.
fn unique_recipient(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}.{}.{nanos}@example.org", std::process::id())
}

/// What Postfix stores for `input`: every CRLF as LF.
fn stored_form(input: &str) -> Vec<u8> {
    input.replace("\r\n", "\n").into_bytes()
}

/// Splits off the first header, which must be Postfix's `Received:` for
/// this connection, with its folded continuation lines.
fn split_received<'a>(delivered: &'a [u8], recipient: &str) -> (String, &'a [u8]) {
    assert!(
        delivered.starts_with(b"Received: from client.example ("),
        "no Received: header first: {:?}",
        String::from_utf8_lossy(&delivered[..delivered.len().min(300)])
    );
    let mut end = 0;
    loop {
        let nl = delivered[end..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("Received: header ends");
        end += nl + 1;
        if !matches!(delivered.get(end), Some(b' ' | b'\t')) {
            break;
        }
    }
    let received = String::from_utf8_lossy(&delivered[..end]).into_owned();
    assert!(
        received.contains(&format!("for <{recipient}>")),
        "{received}"
    );
    (received, &delivered[end..])
}

/// Waits for the one file delivered to `recipient` and returns its bytes.
fn wait_delivered(dir: &Path, recipient: &str) -> Vec<u8> {
    let mailbox = dir.join(recipient);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&mailbox)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        match files.as_slice() {
            [] => {}
            [one] => return std::fs::read(one).unwrap(),
            more => panic!("{recipient}: {} deliveries: {more:?}", more.len()),
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered to {} within 30 s; see maillog beside it",
            mailbox.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The verified TLS connection's protocol version.
fn verified_version(what: &str, client: &Client) -> String {
    let info = client
        .tls_info()
        .unwrap_or_else(|| panic!("{what}: no TLS"));
    assert!(info.verified, "{what}: not verified: {info:?}");
    assert!(info.cipher_suite.is_some(), "{what}: {info:?}");
    assert!(!info.peer_certificates.is_empty(), "{what}: {info:?}");
    info.version
        .clone()
        .unwrap_or_else(|| panic!("{what}: no version: {info:?}"))
}

/// Sends one message from `from` over `client` (connected, TLS verified)
/// and checks the delivered bytes: Postfix's Received: header says it came
/// over TLS with the client's protocol version (`with ESMTPS`, or
/// `ESMTPSA` and the SASL user when `authenticated`), the rest is the
/// message. Returns the TLS version.
fn send_and_check(
    what: &str,
    mut client: Client,
    delivered: &str,
    from: &str,
    authenticated: bool,
) -> String {
    let version = verified_version(what, &client);
    let tag: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let recipient = unique_recipient(&tag);
    let body = format!(
        "From: <{from}>\r\nTo: <{recipient}>\r\n\
         Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         Message-ID: <{tag}@client.example>\r\n\
         Subject: {what}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         over {version}\r\n.leading dot\r\n..two\r\n.\r\n\
         Gr\u{fc}\u{df}e \u{65e5}\u{672c}\u{8a9e}\r\n"
    );
    let envelope = Envelope::new(
        Address::parse(from).unwrap(),
        [Address::parse(&recipient).unwrap()],
    );
    let report = client
        .send(envelope, Body::Bytes(body.as_bytes()))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(report.all_delivered(), "{what}: {report:?}");
    client.close().unwrap();
    let file = wait_delivered(Path::new(delivered), &recipient);
    let (received, rest) = split_received(&file, &recipient);
    assert!(
        received.contains(&format!("(using {version} with cipher ")),
        "{what}: Postfix's Received: does not say {version}: {received}"
    );
    let with = if authenticated {
        " with ESMTPSA id "
    } else {
        " with ESMTPS id "
    };
    assert!(received.contains(with), "{what}: {received}");
    assert_eq!(
        received.contains("(Authenticated sender: alice@example.org)"),
        authenticated,
        "{what}: {received}"
    );
    assert!(
        rest == stored_form(&body).as_slice(),
        "{what}: delivered {:?}\nexpected {:?}",
        String::from_utf8_lossy(rest),
        body
    );
    version
}

#[test]
fn starttls_delivers_verified() {
    let Some([tls_dir, port, delivered]) = interop_vars(
        "starttls_delivers_verified",
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut s = settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.enable", "true").unwrap();
    let (result, lines) = connect(&s);
    let client = result.unwrap();
    assert!(
        client
            .extensions_before_tls()
            .is_some_and(|e| e.has_keyword("STARTTLS")),
        "STARTTLS offered in plaintext"
    );
    let version = send_and_check(
        "starttls",
        client,
        &delivered,
        "sender@client.example",
        false,
    );
    // OpenSSL 3 on the server, rustls on the client: 1.3 when both may.
    assert_eq!(version, "TLSv1.3");
    let lines = lines.lock().unwrap();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.as_str() == "EHLO client.example")
            .count(),
        2,
        "EHLO again after STARTTLS: {lines:?}"
    );
    let starttls = lines.iter().position(|l| l == "STARTTLS");
    let mail = lines.iter().position(|l| l.starts_with("MAIL FROM:"));
    assert!(
        matches!((starttls, mail), (Some(t), Some(m)) if t < m),
        "{lines:?}"
    );
    eprintln!("starttls: {version}, delivered in {:?}", started.elapsed());
}

#[test]
fn implicit_tls_delivers_verified() {
    let Some([tls_dir, port, delivered]) = interop_vars(
        "implicit_tls_delivers_verified",
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_SMTPS",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut s = settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.ssl.enable", "true").unwrap();
    let (result, lines) = connect(&s);
    let client = result.unwrap();
    let version = send_and_check(
        "implicit-tls",
        client,
        &delivered,
        "sender@client.example",
        false,
    );
    let lines = lines.lock().unwrap();
    assert_eq!(lines[0], "EHLO client.example", "{lines:?}");
    assert!(!lines.iter().any(|l| l == "STARTTLS"), "{lines:?}");
    eprintln!(
        "implicit TLS: {version}, delivered in {:?}",
        started.elapsed()
    );
}

/// The submission listener: STARTTLS (required on both sides), then AUTH
/// with `mechanism`, which Postfix offers only after STARTTLS.
fn submission_delivers(mechanism: &str) {
    let test = format!("submission_delivers({mechanism})");
    let Some([tls_dir, port, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_SUBMISSION",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut s = settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.required", "true").unwrap();
    s.user = Some("alice".into());
    s.auth.enabled = true;
    s.auth.password = Some(PASSWORD.into());
    s.auth.mechanisms = Some(mechanism.into());
    let (result, lines) = connect(&s);
    let client = result.unwrap_or_else(|e| panic!("{test}: {e} ({e:?})"));
    assert_eq!(client.auth_mechanism(), Some(mechanism), "{test}");
    let before = client.extensions_before_tls().unwrap();
    assert!(
        before.has_keyword("STARTTLS") && !before.has_keyword("AUTH"),
        "{test}: no AUTH before STARTTLS (smtpd_tls_auth_only)"
    );
    assert!(
        client
            .extensions()
            .unwrap()
            .auth_mechanisms()
            .iter()
            .any(|m| m == mechanism),
        "{test}: {mechanism} offered after STARTTLS"
    );
    let version = send_and_check(
        &format!("submission-{mechanism}"),
        client,
        &delivered,
        "alice@example.org",
        true,
    );
    let lines = lines.lock().unwrap();
    let starttls = lines.iter().position(|l| l == "STARTTLS");
    let auth = lines.iter().position(|l| l.starts_with("AUTH "));
    assert!(
        matches!((starttls, auth), (Some(t), Some(a)) if t < a),
        "{test}: {lines:?}"
    );
    eprintln!(
        "{test}: {version}, authenticated and delivered in {:?}",
        started.elapsed()
    );
}

#[test]
fn submission_delivers_scram_sha_256() {
    submission_delivers("SCRAM-SHA-256");
}

#[test]
fn submission_delivers_plain() {
    submission_delivers("PLAIN");
}

/// Without STARTTLS the submission listener offers no AUTH, so a client
/// that must authenticate stops before MAIL.
#[test]
fn submission_without_starttls_offers_no_auth() {
    let Some([tls_dir, port]) = interop_vars(
        "submission_without_starttls_offers_no_auth",
        ["SMTP_INTEROP_TLS_DIR", "SMTP_INTEROP_SUBMISSION"],
    ) else {
        return;
    };
    let mut s = settings("localhost", &port, &tls_dir, "ca.pem");
    s.user = Some("alice".into());
    s.auth.enabled = true;
    s.auth.password = Some(PASSWORD.into());
    s.auth.mechanisms = Some("SCRAM-SHA-256".into());
    let (result, lines) = connect(&s);
    match result {
        Err(Error::Session(SessionError::Auth(AuthError::NotOffered))) => {}
        Err(other) => panic!("expected AuthError::NotOffered, got {other} ({other:?})"),
        Ok(client) => panic!("connected without TLS ({:?})", client.auth_mechanism()),
    }
    let lines = lines.lock().unwrap();
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("AUTH") || l.starts_with("MAIL")),
        "{lines:?}"
    );
}

/// Trusting only the unrelated CA: the certificate is refused, on the
/// STARTTLS and on the implicit-TLS listener, and no MAIL is sent.
#[test]
fn untrusted_ca_is_refused() {
    let Some([tls_dir, starttls, smtps]) = interop_vars(
        "untrusted_ca_is_refused",
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_SMTPS",
        ],
    ) else {
        return;
    };
    for (what, port, property) in [
        ("starttls", &starttls, "mail.smtp.starttls.enable"),
        ("implicit TLS", &smtps, "mail.smtp.ssl.enable"),
    ] {
        let mut s = settings("localhost", port, &tls_dir, "other-ca.pem");
        s.set(property, "true").unwrap();
        let (result, lines) = connect(&s);
        let (kind, message) = tls_error(what, result);
        assert_eq!(kind, TlsErrorKind::Certificate, "{what}: {message}");
        assert!(message.contains("unknown CA"), "{what}: {message}");
        let lines = lines.lock().unwrap();
        assert!(
            !lines.iter().any(|l| l.starts_with("MAIL")),
            "{what}: {lines:?}"
        );
        eprintln!("{what}: {message}; sent only {lines:?}");
    }
}

/// The certificate names `localhost` only (no IP address SAN): connecting
/// to 127.0.0.1, the same server with the trusted CA fails the name check.
#[test]
fn wrong_name_is_refused() {
    let Some([tls_dir, starttls, smtps]) = interop_vars(
        "wrong_name_is_refused",
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_SMTPS",
        ],
    ) else {
        return;
    };
    for (what, port, property) in [
        ("starttls", &starttls, "mail.smtp.starttls.enable"),
        ("implicit TLS", &smtps, "mail.smtp.ssl.enable"),
    ] {
        let mut s = settings("127.0.0.1", port, &tls_dir, "ca.pem");
        s.set(property, "true").unwrap();
        let (result, lines) = connect(&s);
        let (kind, message) = tls_error(what, result);
        assert_eq!(kind, TlsErrorKind::Certificate, "{what}: {message}");
        assert!(
            message.contains("does not match the server name"),
            "{what}: {message}"
        );
        let lines = lines.lock().unwrap();
        assert!(
            !lines.iter().any(|l| l.starts_with("MAIL")),
            "{what}: {lines:?}"
        );
        eprintln!("{what}: {message}");
    }
}

/// `mail.smtp.starttls.required` against the plain listener, which offers
/// no STARTTLS: EHLO, then QUIT, and an error.
#[test]
fn starttls_required_but_not_offered() {
    let Some([tls_dir, port]) = interop_vars(
        "starttls_required_but_not_offered",
        ["SMTP_INTEROP_TLS_DIR", "SMTP_INTEROP_POSTFIX"],
    ) else {
        return;
    };
    let mut s = settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.required", "true").unwrap();
    let (result, lines) = connect(&s);
    match result {
        Err(Error::Session(SessionError::StartTlsUnavailable(why))) => {
            eprintln!("starttls required: {why}");
        }
        Err(other) => panic!("expected StartTlsUnavailable, got {other} ({other:?})"),
        Ok(_) => panic!("connected without STARTTLS"),
    }
    assert_eq!(*lines.lock().unwrap(), ["EHLO client.example", "QUIT"]);
}

/// The TLS 1.2-only listener: a client limited to TLS 1.3 fails the
/// handshake; limited to TLS 1.2, or with the default (1.2 and 1.3), it
/// delivers over TLS 1.2.
#[test]
fn tls12_only_listener() {
    let Some([tls_dir, port, delivered]) = interop_vars(
        "tls12_only_listener",
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_TLS12",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let mut s = settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.required", "true").unwrap();
    s.set("mail.smtp.ssl.protocols", "TLSv1.3").unwrap();
    let (result, lines) = connect(&s);
    let (kind, message) = tls_error("TLSv1.3 only", result);
    assert_eq!(kind, TlsErrorKind::Handshake, "{message}");
    assert!(
        !lines.lock().unwrap().iter().any(|l| l.starts_with("MAIL")),
        "{:?}",
        lines.lock().unwrap()
    );
    eprintln!("TLSv1.3 against TLS 1.2 only: {message}");

    for protocols in ["TLSv1.2", ""] {
        s.set("mail.smtp.ssl.protocols", protocols).unwrap();
        let what = format!("tls12-protocols-{protocols}");
        let client = Client::connect(&s).unwrap_or_else(|e| panic!("{what}: {e}"));
        let version = send_and_check(&what, client, &delivered, "sender@client.example", false);
        assert_eq!(version, "TLSv1.2", "{what}");
    }
}
