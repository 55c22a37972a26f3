//! The one conformance suite. Every adapter (blocking, tokio, smol,
//! async-std) implements [`Adapter`] in a few lines and expands
//! [`conformance_suite!`](crate::conformance_suite) in its tests; the
//! scenarios below run unchanged against each, over loopback, and the
//! client's half of each transcript must equal the literal the scenario
//! expects, so every runtime provably says the same thing.

use std::sync::{Arc, Mutex, PoisonError};

use smtp_client::{ClientSettings, Protocol, ProxyKind, ProxySettings};
use smtp_client::{Error, TranscriptHook};
use smtp_proto::{
    Address, AuthError, DeliveryReport, Envelope, FailureKind, SessionError, TlsErrorKind,
};

use crate::{Action, ProxyProtocol, Script, TestCa, TestProxy, TestServer, When};

/// Each message's result, or the connection's error.
pub type RunResult = Result<Vec<Result<DeliveryReport, Error>>, Error>;

/// What the suite needs from an adapter: connect with these settings,
/// send these messages on one connection, close.
pub trait Adapter {
    /// The adapter's name, for messages.
    const NAME: &'static str;

    /// Connects, sends `messages` in one pipelined batch, then closes
    /// (QUIT). Returns the connection error, or each message's result.
    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> Result<Vec<Result<DeliveryReport, Error>>, Error>;
}

/// A transcript recorder: the hook to pass, and the lines it saw.
pub fn recorder() -> (TranscriptHook, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let hook: TranscriptHook = Box::new(move |e| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e.to_string());
    });
    (hook, lines)
}

fn client_lines(lines: &Mutex<Vec<String>>) -> Vec<String> {
    lines
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|l| l.starts_with("C: "))
        .cloned()
        .collect()
}

/// Settings for a test server, with a fixed EHLO name and a short
/// timeout, STARTTLS off.
pub fn settings_for(server: &TestServer) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = server.addr().port();
    s.local_name =
        Some(Host::parse("client.example").unwrap_or_else(|_| unreachable!("a valid name")));
    s.session.timeouts = smtp_proto::Timeouts::uniform(std::time::Duration::from_secs(10));
    s
}

use smtp_proto::Host;

fn address(s: &str) -> Address {
    Address::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(
        address("sender@client.example"),
        rcpts.iter().map(|r| address(r)),
    )
}

const BODY: &[u8] = b"Subject: conformance\r\n\r\n.dot\nline\r\n";
const BODY_WIRE: &[u8] = b"Subject: conformance\r\n\r\n.dot\r\nline\r\n";

fn run<A: Adapter>(
    settings: &ClientSettings,
    messages: Vec<(Envelope, Vec<u8>)>,
) -> (RunResult, Vec<String>) {
    let (hook, lines) = recorder();
    let result = A::run(settings, hook, messages);
    (result, client_lines(&lines))
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| (*s).to_owned()).collect()
}

/// Two messages pipelined on one connection: envelopes ride with the
/// previous end of data; content arrives intact.
pub fn pipelined_delivery<A: Adapter>() {
    let server =
        TestServer::start(Script::new().extensions(["PIPELINING", "8BITMIME", "SIZE 1000000"]))
            .unwrap_or_else(|e| panic!("{e}"));
    let (result, transcript) = run::<A>(
        &settings_for(&server),
        vec![
            (envelope(&["a@example.org", "b@example.org"]), BODY.to_vec()),
            (envelope(&["c@example.org"]), BODY.to_vec()),
        ],
    );
    let results = result.unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(DeliveryReport::all_delivered)),
        "{}: {results:?}",
        A::NAME
    );
    assert_eq!(
        transcript,
        lines(&[
            "C: EHLO client.example",
            "C: MAIL FROM:<sender@client.example> SIZE=36",
            "C: RCPT TO:<a@example.org>",
            "C: RCPT TO:<b@example.org>",
            "C: DATA",
            "C: [message content, 40 octets, ending with <CRLF>.<CRLF>]",
            "C: MAIL FROM:<sender@client.example> SIZE=36",
            "C: RCPT TO:<c@example.org>",
            "C: DATA",
            "C: [message content, 40 octets, ending with <CRLF>.<CRLF>]",
            "C: QUIT",
        ]),
        "{}",
        A::NAME
    );
    let transactions = server.transactions();
    assert_eq!(transactions.len(), 2);
    assert!(transactions.iter().all(|t| t.data == BODY_WIRE));
}

/// A server without PIPELINING gets one command at a time.
pub fn lockstep_without_pipelining<A: Adapter>() {
    let server =
        TestServer::start(Script::new().extensions(["8BITMIME"])).unwrap_or_else(|e| panic!("{e}"));
    let (result, transcript) = run::<A>(
        &settings_for(&server),
        vec![(envelope(&["a@example.org"]), BODY.to_vec())],
    );
    assert!(result.unwrap_or_else(|e| panic!("{e}"))[0].is_ok());
    assert_eq!(
        transcript,
        lines(&[
            "C: EHLO client.example",
            "C: MAIL FROM:<sender@client.example>",
            "C: RCPT TO:<a@example.org>",
            "C: DATA",
            "C: [message content, 40 octets, ending with <CRLF>.<CRLF>]",
            "C: QUIT",
        ]),
        "{}",
        A::NAME
    );
    // Lockstep is visible at the server as one command per read; what
    // matters here is that it delivered.
    assert_eq!(server.transactions()[0].data, BODY_WIRE);
}

/// CHUNKING: BDAT LAST rides in the envelope's flight.
pub fn chunking<A: Adapter>() {
    let server = TestServer::start(Script::new()).unwrap_or_else(|e| panic!("{e}"));
    let (result, transcript) = run::<A>(
        &settings_for(&server),
        vec![(envelope(&["a@example.org"]), BODY.to_vec())],
    );
    assert!(result.unwrap_or_else(|e| panic!("{e}"))[0].is_ok());
    assert!(
        transcript.contains(&"C: BDAT 36 LAST [chunk]".to_owned()),
        "{}: {transcript:?}",
        A::NAME
    );
    let t = &server.transactions()[0];
    assert!(t.bdat);
    assert_eq!(t.data, BODY_WIRE);
}

/// sendpartial=false: a refused recipient means nothing is sent;
/// sendpartial=true: the rest get it.
pub fn send_partial<A: Adapter>() {
    let script = Script::new().extensions(["PIPELINING"]).rule(
        When::RcptTo("bad@example.org".into()),
        Action::reply("550 5.1.1 unknown user\r\n"),
    );
    let server = TestServer::start(script.clone()).unwrap_or_else(|e| panic!("{e}"));
    let (result, transcript) = run::<A>(
        &settings_for(&server),
        vec![(
            envelope(&["a@example.org", "bad@example.org"]),
            BODY.to_vec(),
        )],
    );
    let results = result.unwrap_or_else(|e| panic!("{e}"));
    match &results[0] {
        Err(Error::Send {
            failure,
            cause: None,
        }) => {
            assert_eq!(failure.kind, FailureKind::RecipientsRejected);
            assert_eq!(
                failure.invalid().map(Address::as_str).collect::<Vec<_>>(),
                ["bad@example.org"]
            );
        }
        other => panic!("{}: {other:?}", A::NAME),
    }
    assert!(transcript.contains(&"C: RSET".to_owned()));
    assert!(server.transactions().is_empty());

    let server = TestServer::start(script).unwrap_or_else(|e| panic!("{e}"));
    let mut s = settings_for(&server);
    s.set("mail.smtp.sendpartial", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    let (result, _) = run::<A>(
        &s,
        vec![(
            envelope(&["a@example.org", "bad@example.org"]),
            BODY.to_vec(),
        )],
    );
    let report = result
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.delivered().map(Address::as_str).collect::<Vec<_>>(),
        ["a@example.org"]
    );
    assert_eq!(server.transactions()[0].rcpt_to, ["a@example.org"]);
}

/// STARTTLS with a verified certificate, and implicit TLS.
pub fn tls<A: Adapter>() {
    let ca = TestCa::new(&["localhost"]).unwrap_or_else(|e| panic!("{e}"));
    let server = TestServer::start(
        Script::new()
            .starttls(&ca)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s = settings_for(&server);
    s.host = "localhost".into();
    s.set("mail.smtp.starttls.required", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    s.tls.ca_pem = vec![ca.ca_pem.clone()];
    s.tls.only_extra_roots = true;
    let (result, transcript) = run::<A>(&s, vec![(envelope(&["a@example.org"]), BODY.to_vec())]);
    assert!(result.unwrap_or_else(|e| panic!("{}: {e}", A::NAME))[0].is_ok());
    assert_eq!(
        transcript[..3],
        lines(&[
            "C: EHLO client.example",
            "C: STARTTLS",
            "C: EHLO client.example"
        ]),
        "{}",
        A::NAME
    );

    let server = TestServer::start(
        Script::new()
            .implicit_tls(&ca)
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s2 = s.clone();
    s2.port = server.addr().port();
    s2.set("mail.smtp.starttls.required", "false")
        .unwrap_or_else(|e| panic!("{e}"));
    s2.set("mail.smtp.ssl.enable", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    s2.port = server.addr().port();
    let (result, _) = run::<A>(&s2, vec![(envelope(&["a@example.org"]), BODY.to_vec())]);
    assert!(result.unwrap_or_else(|e| panic!("{}: {e}", A::NAME))[0].is_ok());

    // An untrusted certificate is an error, never a fallback.
    let other = TestCa::new(&["localhost"]).unwrap_or_else(|e| panic!("{e}"));
    let mut s3 = s.clone();
    s3.tls.ca_pem = vec![other.ca_pem];
    match run::<A>(&s3, vec![]).0 {
        Err(Error::Session(SessionError::Tls(e))) => assert_eq!(e.kind, TlsErrorKind::Certificate),
        other => panic!("{}: {other:?}", A::NAME),
    }
}

/// Every mechanism the test server knows, right and wrong secrets.
pub fn auth_mechanisms<A: Adapter>() {
    let mechanisms = [
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
    for mechanism in mechanisms {
        let server = TestServer::start(Script::new().auth(mechanisms, &[("alice", "secret")]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = settings_for(&server);
        s.user = Some("alice".into());
        s.auth.enabled = true;
        s.auth.password = Some("secret".into());
        s.auth.mechanisms = Some(mechanism.into());
        s.auth.allow_plaintext = true;
        let (result, transcript) =
            run::<A>(&s, vec![(envelope(&["a@example.org"]), BODY.to_vec())]);
        assert!(result.unwrap_or_else(|e| panic!("{} {mechanism}: {e}", A::NAME))[0].is_ok());
        assert!(
            transcript.contains(&format!("C: AUTH {mechanism}"))
                || transcript.contains(&format!("C: AUTH {mechanism} [redacted]")),
            "{transcript:?}"
        );
        assert!(!transcript.iter().any(|l| l.contains("secret")));
        assert_eq!(
            server.authentications(),
            [(mechanism.to_owned(), "alice".to_owned())]
        );
        s.auth.password = Some("wrong".into());
        let server = TestServer::start(Script::new().auth(mechanisms, &[("alice", "secret")]))
            .unwrap_or_else(|e| panic!("{e}"));
        s.port = server.addr().port();
        assert!(
            matches!(
                run::<A>(&s, vec![]).0,
                Err(Error::Session(SessionError::Auth(
                    AuthError::Rejected { .. } | AuthError::Mechanism { .. }
                )))
            ),
            "{} {mechanism}",
            A::NAME
        );
    }
}

/// Through SOCKS5 (with credentials) and HTTP CONNECT, the host name sent
/// to the proxy.
pub fn proxies<A: Adapter>() {
    let server = TestServer::start(Script::new()).unwrap_or_else(|e| panic!("{e}"));
    let target = server.addr();
    for (protocol, kind) in [
        (ProxyProtocol::Socks5, ProxyKind::Socks5),
        (ProxyProtocol::HttpConnect, ProxyKind::HttpConnect),
    ] {
        let proxy = TestProxy::start(protocol, Some(("pu", "pp")), move |host, port| {
            (host == "mx.conformance.invalid" && port == 25).then_some(target)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let mut s = settings_for(&server);
        s.host = "mx.conformance.invalid".into();
        s.port = 25;
        let mut p = ProxySettings::new(kind, "127.0.0.1", proxy.addr().port());
        p.user = Some("pu".into());
        p.password = Some("pp".into());
        s.proxy = Some(p);
        let (result, _) = run::<A>(&s, vec![(envelope(&["a@example.org"]), BODY.to_vec())]);
        assert!(result.unwrap_or_else(|e| panic!("{} {kind:?}: {e}", A::NAME))[0].is_ok());
        assert_eq!(proxy.targets(), ["mx.conformance.invalid:25"]);
        if let Some(p) = s.proxy.as_mut() {
            p.password = Some("wrong".into());
        }
        assert!(
            matches!(run::<A>(&s, vec![]).0, Err(Error::Proxy(_))),
            "{} {kind:?}",
            A::NAME
        );
    }
}

/// Faults: a reply that never comes (timeout), a drop mid-DATA, 421.
pub fn faults<A: Adapter>() {
    let server = TestServer::start(Script::new().rule(When::EndOfData, Action::Hang))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = settings_for(&server);
    s.set("mail.smtp.timeout", "300")
        .unwrap_or_else(|e| panic!("{e}"));
    let (result, _) = run::<A>(&s, vec![(envelope(&["a@example.org"]), BODY.to_vec())]);
    match result {
        Ok(results) => match &results[0] {
            Err(Error::Send {
                failure,
                cause: Some(SessionError::Timeout { .. }),
            }) => {
                assert!(matches!(
                    failure.kind,
                    FailureKind::ConnectionLost {
                        data_sent: true,
                        ..
                    }
                ));
            }
            other => panic!("{}: {other:?}", A::NAME),
        },
        Err(e) => panic!("{}: {e}", A::NAME),
    }

    let server = TestServer::start(
        Script::new()
            .extensions(["PIPELINING"])
            .rule(When::DataBytes(10_000), Action::Disconnect),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let big = vec![b'x'; 200_000];
    let (result, _) = run::<A>(
        &settings_for(&server),
        vec![(envelope(&["a@example.org"]), big)],
    );
    if let Ok(results) = result {
        assert!(results[0].is_err(), "{}", A::NAME);
    }
    assert!(server.transactions().is_empty());

    let server = TestServer::start(Script::new().rule(
        When::Command("RCPT"),
        Action::reply("421 4.3.2 shutting down\r\n"),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let (result, _) = run::<A>(
        &settings_for(&server),
        vec![(envelope(&["a@example.org"]), BODY.to_vec())],
    );
    match result {
        Ok(results) => assert!(
            matches!(
                &results[0],
                Err(Error::Send {
                    cause: Some(SessionError::ServiceClosing(_)),
                    ..
                })
            ),
            "{}: {results:?}",
            A::NAME
        ),
        Err(e) => panic!("{}: {e}", A::NAME),
    }
}

/// Expands the whole suite as `#[test]` functions for an [`Adapter`].
#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty) => {
        #[test]
        fn conformance_pipelined_delivery() {
            $crate::conformance::pipelined_delivery::<$adapter>();
        }
        #[test]
        fn conformance_lockstep_without_pipelining() {
            $crate::conformance::lockstep_without_pipelining::<$adapter>();
        }
        #[test]
        fn conformance_chunking() {
            $crate::conformance::chunking::<$adapter>();
        }
        #[test]
        fn conformance_send_partial() {
            $crate::conformance::send_partial::<$adapter>();
        }
        #[test]
        fn conformance_tls() {
            $crate::conformance::tls::<$adapter>();
        }
        #[test]
        fn conformance_auth_mechanisms() {
            $crate::conformance::auth_mechanisms::<$adapter>();
        }
        #[test]
        fn conformance_proxies() {
            $crate::conformance::proxies::<$adapter>();
        }
        #[test]
        fn conformance_faults() {
            $crate::conformance::faults::<$adapter>();
        }
    };
}
