//! The shared real-peer interop suite (smtp-testkit) on the blocking
//! adapter, and the two checks only the blocking API can make: the
//! one-call `send`, and the connected client's accessors (`tls_info()`
//! with the peer's certificates, `auth_mechanism()`, `extensions()`,
//! `extensions_before_tls()`), which the shared suite reads from the
//! transcript instead. Run by `scripts/interop.sh`, which starts the
//! private Postfix, Cyrus SASL, smtp-sink and SOCKS5 servers; without
//! them each test is skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use smtp_suites::interop::{
    HEADERS, PASSWORD, Transcript, assert_same_bytes, interop_vars, postfix_settings, run,
    socks_settings, split, stored_form, strip_received, tls_settings, unique_recipient,
    wait_delivered,
};
use smtpkit_blocking::{Body, Client, ClientSettings, send};
use smtpkit_client::{ProxyKind, ProxySettings};
use smtpkit_proto::{Address, Envelope};

use common::Blocking;

smtp_suites::interop_suite!(Blocking);

/// The sends of the suite go through the one-call API too.
#[test]
fn blocking_one_call_send() {
    let Some([postfix, delivered]) = interop_vars(
        "blocking_one_call_send",
        ["SMTP_INTEROP_POSTFIX", "SMTP_INTEROP_DELIVERED"],
    ) else {
        return;
    };
    let recipient = unique_recipient::<Blocking>("one_call_send");
    let body = format!("{HEADERS}Subject: one call\r\n\r\nhello\r\n");
    let envelope = Envelope::new(
        Address::parse("sender@client.example").unwrap(),
        [Address::parse(&recipient).unwrap()],
    );
    let report = send(
        &postfix_settings(&postfix, true),
        envelope,
        Body::Bytes(body.as_bytes()),
    )
    .unwrap();
    assert!(report.all_delivered());
    let file = wait_delivered(Path::new(&delivered), &recipient);
    assert_same_bytes(
        "one_call_send",
        &stored_form(body.as_bytes()),
        strip_received(&file, &recipient),
    );
}

/// Connects with `settings` and checks the client's TLS accessors: a
/// verified connection with a cipher suite, the server's certificates and
/// `version`; and that the transcript, which the shared suite reads,
/// says the same (version, cipher, verified, SASL mechanism, the EHLO
/// capabilities before and after STARTTLS). Returns the client.
fn connect_and_check(what: &str, settings: &ClientSettings, version: &str) -> Client {
    // The transcript of the same settings through the suite's runner.
    let (result, transcript) = run::<Blocking>(settings, vec![]);
    result.unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    let client = Client::connect(settings).unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    let info = client
        .info()
        .tls
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no TLS"));
    assert!(info.verified, "{what}: not verified: {info:?}");
    assert!(info.cipher_suite.is_some(), "{what}: {info:?}");
    assert!(!info.peer_certificates.is_empty(), "{what}: {info:?}");
    assert_eq!(info.version.as_deref(), Some(version), "{what}: {info:?}");
    agrees(what, &client, &transcript);
    client
}

/// The client's accessors and the transcript of another connection with
/// the same settings tell the same story.
fn agrees(what: &str, client: &Client, transcript: &Transcript) {
    let info = client.info().tls.as_ref().unwrap();
    let note = transcript
        .tls()
        .unwrap_or_else(|| panic!("{what}: no TLS note: {:?}", transcript.all()));
    assert_eq!(note.version, info.version, "{what}");
    assert_eq!(note.cipher_suite, info.cipher_suite, "{what}");
    assert_eq!(note.verified, info.verified, "{what}");
    assert_eq!(
        transcript.auth_mechanism().as_deref(),
        client.info().auth_mechanism.as_deref(),
        "{what}"
    );
    assert_eq!(
        transcript.extensions().as_ref(),
        client.info().extensions.as_ref(),
        "{what}"
    );
    assert_eq!(
        transcript.extensions_before_tls().as_ref(),
        client.info().extensions_before_tls.as_ref(),
        "{what}"
    );
}

/// The client's TLS accessors on every TLS listener (and through the
/// SOCKS5 proxy), and the capabilities and SASL mechanism on the
/// submission listener.
#[test]
fn blocking_tls_info_and_accessors() {
    let Some([tls_dir, starttls, smtps, submission, tls12, proxy]) = interop_vars(
        "blocking_tls_info_and_accessors",
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_SMTPS",
            "SMTP_INTEROP_SUBMISSION",
            "SMTP_INTEROP_TLS12",
            "SMTP_INTEROP_SOCKS",
        ],
    ) else {
        return;
    };

    let mut s = tls_settings("localhost", &starttls, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.enable", "true").unwrap();
    let client = connect_and_check("starttls", &s, "TLSv1.3");
    assert!(
        client
            .info()
            .extensions_before_tls
            .as_ref()
            .is_some_and(|e| e.has_keyword("STARTTLS")),
        "STARTTLS offered in plaintext"
    );
    client.close().unwrap();

    let mut s = tls_settings("localhost", &smtps, &tls_dir, "ca.pem");
    s.set("mail.smtp.ssl.enable", "true").unwrap();
    let client = connect_and_check("implicit TLS", &s, "TLSv1.3");
    assert!(client.info().extensions_before_tls.as_ref().is_none());
    client.close().unwrap();

    for mechanism in ["SCRAM-SHA-256", "PLAIN"] {
        let what = format!("submission {mechanism}");
        let mut s = tls_settings("localhost", &submission, &tls_dir, "ca.pem");
        s.set("mail.smtp.starttls.required", "true").unwrap();
        s.auth.credentials.user = "alice".into();
        s.auth.enabled = true;
        s.auth.credentials.password = PASSWORD.into();
        s.auth.mechanisms = Some(mechanism.into());
        let client = connect_and_check(&what, &s, "TLSv1.3");
        assert_eq!(
            client.info().auth_mechanism.as_deref(),
            Some(mechanism),
            "{what}"
        );
        let before = client.info().extensions_before_tls.as_ref().unwrap();
        assert!(
            before.has_keyword("STARTTLS") && !before.has_keyword("AUTH"),
            "{what}: no AUTH before STARTTLS (smtpd_tls_auth_only)"
        );
        assert!(
            client
                .info()
                .extensions
                .as_ref()
                .unwrap()
                .auth_mechanisms()
                .iter()
                .any(|m| m == mechanism),
            "{what}: {mechanism} offered after STARTTLS"
        );
        client.close().unwrap();
    }

    for protocols in ["TLSv1.2", ""] {
        let what = format!("TLS 1.2 only, protocols {protocols:?}");
        let mut s = tls_settings("localhost", &tls12, &tls_dir, "ca.pem");
        s.set("mail.smtp.starttls.required", "true").unwrap();
        s.set("mail.smtp.ssl.protocols", protocols).unwrap();
        connect_and_check(&what, &s, "TLSv1.2").close().unwrap();
    }

    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = socks_settings(&starttls);
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        proxy_host,
        proxy_port,
    ));
    s.set("mail.smtp.starttls.required", "true").unwrap();
    s.tls.settings.extra_ca_files = vec![Path::new(&tls_dir).join("ca.pem")];
    s.tls.settings.roots = smtpkit_blocking::RootSource::None;
    connect_and_check("starttls through microsocks", &s, "TLSv1.3")
        .close()
        .unwrap();
}
