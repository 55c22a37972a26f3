//! Every SASL mechanism the client implements and Cyrus SASL ships, against
//! Cyrus SASL 2.1 behind a real Postfix, without TLS.
//!
//! `scripts/interop.sh` starts a private instance
//! (`scripts/postfix-instance.sh`) and sets:
//! - `SMTP_INTEROP_SASL`: host:port of a Postfix smtpd that offers AUTH
//!   (PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM SCRAM-SHA-1 SCRAM-SHA-256) over
//!   plaintext, checked by Cyrus SASL against a sasldb holding `alice` in
//!   realm `example.org` (`smtpd_sasl_local_domain = example.org`), and
//!   relays to example.org only for authenticated clients;
//! - `SMTP_INTEROP_DELIVERED`: the directory Postfix delivers into,
//!   `<recipient>/<unique-name>` per message.
//!
//! Without them each test says on stderr that it was skipped, unless
//! `SMTP_INTEROP_REQUIRED=1`, which makes it fail.
//!
//! PLAIN and LOGIN go over plaintext only because the tests opt in
//! (`auth.allow_plaintext = true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_proto::{Address, AuthError, Envelope, SessionError};

const PASSWORD: &str = "Wonderland-2026";
/// The name Postfix reports for alice after Cyrus canonicalised it (both
/// user name forms end up here: the realm comes from
/// `smtpd_sasl_local_domain` when the name has none).
const SASL_USERNAME: &str = "alice@example.org";
/// The user name forms every mechanism is tried with.
const USER_FORMS: [&str; 2] = ["alice", "alice@example.org"];

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

fn settings(host_port: &str, mechanism: &str, user: &str, password: &str) -> ClientSettings {
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    s.port = port.parse().expect("port");
    s.local_name = Some("client.example".parse().unwrap());
    s.user = Some(user.into());
    s.auth.enabled = true;
    s.auth.password = Some(password.into());
    s.auth.mechanisms = Some(mechanism.into());
    // No TLS here: PLAIN and LOGIN need the explicit opt-in.
    s.auth.allow_plaintext = true;
    s
}

/// A recipient no other test or run uses.
fn unique_recipient(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}.{}.{nanos}@example.org", std::process::id())
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

/// Connects (which authenticates); a mechanism the client does not have
/// yet is named as such rather than reported as an interop failure.
fn connect(mechanism: &str, settings: &ClientSettings) -> Result<Client, Error> {
    let result = Client::connect(settings);
    if let Err(Error::Session(SessionError::Auth(AuthError::NoUsableMechanism { offered }))) =
        &result
    {
        assert!(
            !offered
                .split(' ')
                .any(|o| o.eq_ignore_ascii_case(mechanism)),
            "{mechanism} is not available in the client yet (not registered in \
             smtp_auth::Chooser): NoUsableMechanism, though the server offers it ({offered})"
        );
        panic!("the server does not offer {mechanism} (it offers: {offered})");
    }
    result
}

/// The right password authenticates with `mechanism` under each user name
/// form, and the message is relayed (only authenticated clients may) and
/// delivered with Cyrus's user name in the Received: header.
fn authenticates_and_delivers(mechanism: &str) {
    let test = format!("authenticates_and_delivers({mechanism})");
    let Some([server, delivered]) =
        interop_vars(&test, ["SMTP_INTEROP_SASL", "SMTP_INTEROP_DELIVERED"])
    else {
        return;
    };
    for user in USER_FORMS {
        let what = format!("{mechanism} as {user}");
        let recipient = unique_recipient(&format!("{}.{}", mechanism.to_lowercase(), user.len()));
        let started = Instant::now();
        let mut client = connect(mechanism, &settings(&server, mechanism, user, PASSWORD))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let authenticated = started.elapsed();
        assert_eq!(client.auth_mechanism(), Some(mechanism), "{what}");
        let body = format!(
            "From: <alice@example.org>\r\nTo: <{recipient}>\r\n\
             Subject: {what}\r\n\r\nauthenticated with {what}\r\n"
        );
        let envelope = Envelope::new(
            Address::parse("alice@example.org").unwrap(),
            [Address::parse(&recipient).unwrap()],
        );
        let report = client
            .send(envelope, Body::Bytes(body.as_bytes()))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(report.all_delivered(), "{what}: {report:?}");
        client.close().unwrap();
        let file = String::from_utf8(wait_delivered(Path::new(&delivered), &recipient)).unwrap();
        let received = file.split("\nSubject:").next().unwrap();
        assert!(
            received.starts_with("Received: from client.example (")
                && received.contains(&format!("(Authenticated sender: {SASL_USERNAME})"))
                && received.contains(" with ESMTPA id "),
            "{what}: {received}"
        );
        assert!(
            file.ends_with(&format!("\n\nauthenticated with {what}\n")),
            "{what}: {file}"
        );
        eprintln!(
            "{what}: authenticated in {authenticated:?}, delivered after {:?}",
            started.elapsed()
        );
    }
}

/// A wrong password is refused with Postfix's 535.
fn wrong_password_is_rejected(mechanism: &str) {
    let test = format!("wrong_password_is_rejected({mechanism})");
    let Some([server]) = interop_vars(&test, ["SMTP_INTEROP_SASL"]) else {
        return;
    };
    for user in USER_FORMS {
        let what = format!("{mechanism} as {user}");
        let started = Instant::now();
        match connect(
            mechanism,
            &settings(&server, mechanism, user, "Wonderland-2025"),
        ) {
            Err(Error::Session(SessionError::Auth(AuthError::Rejected { reply }))) => {
                assert_eq!(reply.code().get(), 535, "{what}: {reply}");
            }
            Err(other) => panic!("{what}: {other} ({other:?})"),
            Ok(client) => panic!(
                "{what}: a wrong password authenticated ({:?})",
                client.auth_mechanism()
            ),
        }
        eprintln!("{what}: refused in {:?}", started.elapsed());
    }
}

/// One right-password and one wrong-password test per mechanism.
macro_rules! mechanisms {
    ($($module:ident => $mechanism:literal,)*) => {$(
        mod $module {
            #[test]
            fn authenticates_and_delivers() {
                super::authenticates_and_delivers($mechanism);
            }

            #[test]
            fn wrong_password_is_rejected() {
                super::wrong_password_is_rejected($mechanism);
            }
        }
    )*};
}

mechanisms! {
    plain => "PLAIN",
    login => "LOGIN",
    cram_md5 => "CRAM-MD5",
    scram_sha_1 => "SCRAM-SHA-1",
    scram_sha_256 => "SCRAM-SHA-256",
    digest_md5 => "DIGEST-MD5",
    ntlm => "NTLM",
}

/// DIGEST-MD5 with the realm given explicitly (`mail.smtp.sasl.realm`):
/// the sasldb realm works, any other realm is refused.
#[test]
fn digest_md5_explicit_realm() {
    let Some([server]) = interop_vars("digest_md5_explicit_realm", ["SMTP_INTEROP_SASL"]) else {
        return;
    };
    let mut s = settings(&server, "DIGEST-MD5", "alice", PASSWORD);
    s.auth.realm = Some("example.org".into());
    let client = connect("DIGEST-MD5", &s).unwrap_or_else(|e| panic!("realm example.org: {e}"));
    assert_eq!(client.auth_mechanism(), Some("DIGEST-MD5"));
    client.close().unwrap();
    s.auth.realm = Some("other.example".into());
    match connect("DIGEST-MD5", &s) {
        Err(Error::Session(SessionError::Auth(AuthError::Rejected { reply }))) => {
            assert_eq!(reply.code().get(), 535, "{reply}");
        }
        Err(other) => panic!("realm other.example: {other} ({other:?})"),
        Ok(_) => panic!("realm other.example authenticated"),
    }
}
