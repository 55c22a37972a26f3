//! Every SASL mechanism through the blocking adapter against smtp-testkit's
//! server side (written independently from the RFCs): the right secret
//! authenticates, a wrong one is refused with the server's reply.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use smtp_blocking::{Body, Client, ClientSettings, Error, Protocol};
use smtp_proto::{Address, AuthError, Envelope, SessionError};
use smtp_testkit::{Script, TestServer};

const MECHANISMS: &[&str] = &[
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "XOAUTH2",
    "OAUTHBEARER",
    "DIGEST-MD5",
    "NTLM",
];

fn settings(server: &TestServer, mechanism: &str, password: &str) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = Some(server.addr().port());
    s.local_name = Some("client.example".parse().unwrap());
    s.user = Some("alice".into());
    s.auth.enabled = true;
    s.auth.password = Some(password.into());
    s.auth.mechanisms = Some(mechanism.into());
    // The test server has no TLS: PLAIN and LOGIN need the explicit opt-in.
    s.auth.allow_plaintext = true;
    s
}

fn envelope() -> Envelope {
    Envelope::new(
        Address::parse("alice@example.org").unwrap(),
        [Address::parse("bob@example.org").unwrap()],
    )
}

#[test]
fn each_mechanism_authenticates_and_sends() {
    for mechanism in MECHANISMS {
        let server = TestServer::start(
            Script::new().auth(MECHANISMS.iter().copied(), &[("alice", "s3cret pass")]),
        )
        .unwrap();
        let mut client = Client::connect(&settings(&server, mechanism, "s3cret pass"))
            .unwrap_or_else(|e| panic!("{mechanism}: {e}"));
        assert_eq!(client.info().auth_mechanism.as_deref(), Some(*mechanism));
        client
            .send(envelope(), Body::Bytes(b"Subject: hi\r\n\r\nx\r\n"))
            .unwrap();
        client.close().unwrap();
        assert_eq!(
            server.authentications(),
            [((*mechanism).to_owned(), "alice".to_owned())]
        );
        assert_eq!(server.transactions().len(), 1);
    }
}

#[test]
fn wrong_secret_is_refused_with_the_reply() {
    for mechanism in MECHANISMS {
        let server = TestServer::start(
            Script::new().auth(MECHANISMS.iter().copied(), &[("alice", "right")]),
        )
        .unwrap();
        match Client::connect(&settings(&server, mechanism, "wrong")) {
            Err(Error::Session(SessionError::Auth(AuthError::Rejected { reply }))) => {
                assert_eq!(reply.code().get(), 535, "{mechanism}");
            }
            Err(Error::Session(SessionError::Auth(AuthError::Mechanism { error, .. })))
                if mechanism.starts_with("OAUTH") =>
            {
                // OAUTHBEARER reports the server's JSON error on the way.
                assert!(error.to_string().contains("invalid_token"), "{error}");
            }
            other => panic!("{mechanism}: {other:?}"),
        }
        assert!(server.authentications().is_empty());
        assert!(server.transactions().is_empty());
    }
}

#[test]
fn anonymous_and_external() {
    for mechanism in ["ANONYMOUS", "EXTERNAL"] {
        let server = TestServer::start(Script::new().auth([mechanism], &[("alice", "x")])).unwrap();
        let mut s = settings(&server, mechanism, "");
        s.auth.allow_plaintext = false;
        let client = Client::connect(&s).unwrap();
        assert_eq!(client.info().auth_mechanism.as_deref(), Some(mechanism));
        assert_eq!(server.authentications().len(), 1);
    }
}

#[test]
fn plaintext_mechanisms_need_tls_or_an_explicit_opt_in() {
    let server =
        TestServer::start(Script::new().auth(["PLAIN", "LOGIN"], &[("alice", "pw")])).unwrap();
    let mut s = settings(&server, "PLAIN LOGIN", "pw");
    s.auth.allow_plaintext = false;
    match Client::connect(&s) {
        Err(Error::Session(SessionError::Auth(AuthError::PlaintextRefused { mechanism }))) => {
            assert_eq!(mechanism, "PLAIN")
        }
        other => panic!("{other:?}"),
    }
    // Nothing secret went on the wire.
    assert!(server.commands().iter().all(|c| !c.starts_with("AUTH")));
    // The default order prefers a mechanism that does not reveal the password.
    let server =
        TestServer::start(Script::new().auth(["PLAIN", "CRAM-MD5"], &[("alice", "pw")])).unwrap();
    let mut s = settings(&server, "", "pw");
    s.auth.mechanisms = None;
    s.auth.allow_plaintext = false;
    assert_eq!(
        Client::connect(&s)
            .unwrap()
            .info()
            .auth_mechanism
            .as_deref(),
        Some("CRAM-MD5")
    );
}

#[test]
fn no_usable_mechanism_and_not_offered() {
    let server = TestServer::start(Script::new().auth(["GSSAPI"], &[("alice", "pw")])).unwrap();
    assert!(matches!(
        Client::connect(&settings(&server, "PLAIN", "pw")),
        Err(Error::Session(SessionError::Auth(
            AuthError::NoUsableMechanism { .. }
        )))
    ));
    let server = TestServer::start(Script::new()).unwrap();
    assert!(matches!(
        Client::connect(&settings(&server, "PLAIN", "pw")),
        Err(Error::Session(SessionError::Auth(AuthError::NotOffered)))
    ));
}

#[test]
fn properties_select_and_disable_mechanisms() {
    let server = TestServer::start(Script::new().auth(
        ["XOAUTH2", "SCRAM-SHA-256", "CRAM-MD5"],
        &[("alice", "tok")],
    ))
    .unwrap();
    let port = server.addr().port().to_string();
    let mut s = ClientSettings::from_properties(
        Protocol::Smtp,
        [
            ("mail.smtp.host", "127.0.0.1"),
            ("mail.smtp.port", port.as_str()),
            ("mail.smtp.auth", "true"),
            ("mail.smtp.user", "alice"),
            ("mail.smtp.auth.scram-sha-256.disable", "true"),
        ],
    )
    .unwrap();
    s.auth.password = Some("tok".into());
    assert_eq!(
        Client::connect(&s)
            .unwrap()
            .info()
            .auth_mechanism
            .as_deref(),
        Some("CRAM-MD5")
    );
    // XOAUTH2 is off unless asked for (as in JavaMail)…
    s.set("mail.smtp.auth.xoauth2.disable", "false").unwrap();
    s.set("mail.smtp.auth.cram-md5.disable", "true").unwrap();
    // …and, like PLAIN, a bearer token never crosses a connection without
    // TLS unless allowed (a token is a password).
    assert!(matches!(
        Client::connect(&s),
        Err(Error::Session(SessionError::Auth(
            AuthError::PlaintextRefused { .. }
        )))
    ));
    s.auth.allow_plaintext = true;
    assert_eq!(
        Client::connect(&s)
            .unwrap()
            .info()
            .auth_mechanism
            .as_deref(),
        Some("XOAUTH2")
    );
}
