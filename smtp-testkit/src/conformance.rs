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
    Address, AuthError, DeliveryReport, Envelope, FailureKind, SessionError, SessionInfo,
    TlsErrorKind,
};

use crate::{Action, ProxyProtocol, Script, TestCa, TestProxy, TestServer, When};

/// Each message's result, or the connection's error.
pub type RunResult = Result<Vec<Result<DeliveryReport, Error>>, Error>;

/// A message body the suites send.
#[derive(Debug, Clone)]
pub enum TestBody {
    /// In memory.
    Bytes(Vec<u8>),
    /// A file (inspected, and replayable, on every client).
    File(std::path::PathBuf),
}

/// One established connection of an adapter, driven synchronously.
pub trait Connection {
    /// Sends `messages` in one pipelined batch.
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, TestBody)>,
    ) -> Vec<Result<DeliveryReport, Error>>;
    /// The liveness check (NOOP, or RSET with `mail.smtp.userset`).
    fn is_connected(&mut self) -> bool;
    /// What the client knows about the connection.
    fn info(&self) -> SessionInfo;
    /// QUIT and close.
    ///
    /// # Errors
    /// As the client's `close`.
    fn close(self: Box<Self>) -> Result<(), Error>;
}

/// What the suites need from an adapter: connect with these settings (or
/// over a stream the test connected), then drive the [`Connection`].
pub trait Adapter {
    /// The adapter's name, for messages.
    const NAME: &'static str;

    /// Connects and establishes the session as `settings` describe.
    ///
    /// # Errors
    /// As the client's `connect`.
    fn connect(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, Error>;

    /// Establishes the session over `stream`, a TCP connection the test
    /// made (`from_transport` / `from_stream`).
    ///
    /// # Errors
    /// As the client's `connect`.
    fn connect_stream(
        stream: std::net::TcpStream,
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, Error>;

    /// Connects, sends `messages` in one pipelined batch, then closes
    /// (QUIT). Returns the connection error, or each message's result.
    ///
    /// # Errors
    /// The connection's error.
    fn run(
        settings: &ClientSettings,
        transcript: TranscriptHook,
        messages: Vec<(Envelope, Vec<u8>)>,
    ) -> RunResult {
        let mut connection = Self::connect(settings, Some(transcript))?;
        let results = connection.send_all(
            messages
                .into_iter()
                .map(|(e, b)| (e, TestBody::Bytes(b)))
                .collect(),
        );
        let _ = connection.close();
        Ok(results)
    }
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
/// timeout, STARTTLS off (the scenarios that upgrade say so).
pub fn settings_for(server: &TestServer) -> ClientSettings {
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.port = Some(server.addr().port());
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
    s2.port = Some(server.addr().port());
    s2.set("mail.smtp.starttls.required", "false")
        .unwrap_or_else(|e| panic!("{e}"));
    s2.set("mail.smtp.ssl.enable", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    s2.port = Some(server.addr().port());
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
        s.port = Some(server.addr().port());
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
    // Secrets that travel in the clear (passwords, bearer tokens) never
    // cross a connection without TLS unless the caller said so.
    for mechanism in ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"] {
        let server = TestServer::start(Script::new().auth([mechanism], &[("alice", "secret")]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = settings_for(&server);
        s.user = Some("alice".into());
        s.auth.enabled = true;
        s.auth.password = Some("secret".into());
        s.auth.mechanisms = Some(mechanism.into());
        let (result, transcript) = run::<A>(&s, vec![]);
        assert!(
            matches!(
                result,
                Err(Error::Session(SessionError::Auth(
                    AuthError::PlaintextRefused { .. }
                )))
            ),
            "{} {mechanism}: {result:?}",
            A::NAME
        );
        assert!(
            !transcript.iter().any(|l| l.starts_with("C: AUTH")),
            "{} {mechanism}: {transcript:?}",
            A::NAME
        );
        assert!(server.authentications().is_empty());
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
        s.port = Some(25);
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
/// Connects, reads what the client knows, closes.
fn established<A: Adapter>(settings: &ClientSettings) -> (Result<SessionInfo, Error>, Vec<String>) {
    let (hook, lines) = recorder();
    let result = A::connect(settings, Some(hook)).map(|c| {
        let info = c.info();
        let _ = c.close();
        info
    });
    (result, client_lines(&lines))
}

fn tls_kind(result: &Result<SessionInfo, Error>) -> Option<TlsErrorKind> {
    match result {
        Err(Error::Session(SessionError::Tls(e))) => Some(e.kind),
        _ => None,
    }
}

/// Every TLS and STARTTLS setting takes effect when set through the typed
/// API, with the same wire behaviour as through its `mail.smtp.*`
/// property.
pub fn typed_tls_settings<A: Adapter>() {
    let ca = TestCa::new(&["localhost"]).unwrap_or_else(|e| panic!("{e}"));
    let start = |script: Result<Script, std::io::Error>| {
        TestServer::start(script.unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let starttls = start(Script::new().starttls(&ca));
    let implicit = start(Script::new().implicit_tls(&ca));
    let plain = start(Ok(Script::new()));
    let base = |server: &TestServer| {
        let mut s = settings_for(server);
        s.host = "localhost".into();
        s.tls.ca_pem = vec![ca.ca_pem.clone()];
        s.tls.only_extra_roots = true;
        s
    };
    let set = |mut s: ClientSettings, key: &str, value: &str| {
        s.set(key, value).unwrap_or_else(|e| panic!("{key}: {e}"));
        s
    };
    let name = A::NAME;

    // starttls_enable / mail.smtp.starttls.enable: the upgrade happens.
    let mut typed = base(&starttls);
    typed.tls.starttls_enable = true;
    let by_property = set(base(&starttls), "mail.smtp.starttls.enable", "true");
    for s in [&typed, &by_property] {
        let (info, transcript) = established::<A>(s);
        let info = info.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(info.tls.as_ref().is_some_and(|t| t.verified), "{name}");
        assert_eq!(transcript[1], "C: STARTTLS", "{name}");
    }
    // Off (dangerous_plaintext, as `base` is, or the property): no upgrade.
    let by_property = set(base(&starttls), "mail.smtp.starttls.enable", "false");
    for s in [&base(&starttls), &by_property] {
        let (info, transcript) = established::<A>(s);
        assert!(info.unwrap_or_else(|e| panic!("{name}: {e}")).tls.is_none());
        assert!(!transcript.iter().any(|l| l == "C: STARTTLS"), "{name}");
    }
    // The library's default (ClientSettings::new, and properties, which
    // start from it) upgrades, verified.
    let mut default = ClientSettings::new(Protocol::Smtp, "localhost");
    default.port = Some(starttls.addr().port());
    default.local_name = base(&starttls).local_name;
    default.tls.ca_pem = vec![ca.ca_pem.clone()];
    default.tls.only_extra_roots = true;
    let (info, transcript) = established::<A>(&default);
    assert!(
        info.unwrap_or_else(|e| panic!("{name}: {e}"))
            .tls
            .is_some_and(|t| t.verified)
    );
    assert_eq!(transcript[1], "C: STARTTLS", "{name}");
    // …and an unverifiable certificate is an error, not plaintext.
    default.tls.ca_pem.clear();
    default.tls.only_extra_roots = false;
    assert_eq!(
        tls_kind(&established::<A>(&default).0),
        Some(TlsErrorKind::Certificate),
        "{name}"
    );
    // Offered, then refused: an error, not plaintext.
    let refusing = start(Script::new().starttls(&ca).map(|s| {
        s.rule(
            When::Command("STARTTLS"),
            Action::reply("454 4.7.0 TLS not available\r\n"),
        )
    }));
    let mut s = base(&refusing);
    s.tls.starttls_enable = true;
    let (result, transcript) = established::<A>(&s);
    assert!(
        matches!(
            result,
            Err(Error::Session(SessionError::StartTlsRefused(_)))
        ),
        "{name}: {result:?}"
    );
    assert!(
        !transcript.iter().any(|l| l.starts_with("C: MAIL")),
        "{name}"
    );

    // starttls_required: a server without STARTTLS fails the session
    // before anything but EHLO.
    let mut typed = base(&plain);
    typed.tls.starttls_required = true;
    let by_property = set(base(&plain), "mail.smtp.starttls.required", "true");
    for s in [&typed, &by_property] {
        let (result, transcript) = established::<A>(s);
        assert!(
            matches!(
                result,
                Err(Error::Session(SessionError::StartTlsUnavailable(_)))
            ),
            "{name}: {result:?}"
        );
        assert_eq!(
            transcript,
            lines(&["C: EHLO client.example", "C: QUIT"]),
            "{name}"
        );
    }

    // implicit / mail.smtp.ssl.enable.
    let mut typed = base(&implicit);
    typed.tls.implicit = true;
    let mut by_property = set(base(&implicit), "mail.smtp.ssl.enable", "true");
    by_property.port = Some(implicit.addr().port());
    for s in [&typed, &by_property] {
        let (info, _) = established::<A>(s);
        assert!(
            info.unwrap_or_else(|e| panic!("{name}: {e}")).tls.is_some(),
            "{name}"
        );
    }

    // check_server_identity: the certificate names localhost, we connect
    // to 127.0.0.1.
    let mut wrong_name = base(&starttls);
    wrong_name.host = "127.0.0.1".into();
    wrong_name.tls.starttls_required = true;
    assert_eq!(
        tls_kind(&established::<A>(&wrong_name).0),
        Some(TlsErrorKind::Certificate),
        "{name}"
    );
    let mut typed = wrong_name.clone();
    typed.tls.check_server_identity = false;
    let by_property = set(
        wrong_name.clone(),
        "mail.smtp.ssl.checkserveridentity",
        "false",
    );
    for s in [&typed, &by_property] {
        let (info, _) = established::<A>(s);
        assert!(
            info.unwrap_or_else(|e| panic!("{name}: {e}")).tls.is_some(),
            "{name}"
        );
    }

    // trust: an untrusted CA is refused unless its host is trusted.
    let other = TestCa::new(&["localhost"]).unwrap_or_else(|e| panic!("{e}"));
    let mut untrusted = base(&starttls);
    untrusted.tls.starttls_required = true;
    untrusted.tls.ca_pem = vec![other.ca_pem];
    assert_eq!(
        tls_kind(&established::<A>(&untrusted).0),
        Some(TlsErrorKind::Certificate),
        "{name}"
    );
    let mut typed = untrusted.clone();
    typed.tls.trust = "*".into();
    let by_property = set(untrusted.clone(), "mail.smtp.ssl.trust", "localhost");
    for s in [&typed, &by_property] {
        let (info, _) = established::<A>(s);
        let info = info.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(info.tls.is_some_and(|t| !t.verified), "{name}");
    }

    // protocols and cipher suites.
    let mut required = base(&starttls);
    required.tls.starttls_required = true;
    let mut typed = required.clone();
    typed.tls.protocols = vec!["TLSv1.2".into()];
    let by_property = set(required.clone(), "mail.smtp.ssl.protocols", "TLSv1.2");
    for s in [&typed, &by_property] {
        let (info, _) = established::<A>(s);
        let tls = info.unwrap_or_else(|e| panic!("{name}: {e}")).tls;
        assert_eq!(
            tls.and_then(|t| t.version).as_deref(),
            Some("TLSv1.2"),
            "{name}"
        );
    }
    let suite = "TLS13_CHACHA20_POLY1305_SHA256";
    let mut typed = required.clone();
    typed.tls.cipher_suites = vec![suite.into()];
    let by_property = set(required.clone(), "mail.smtp.ssl.ciphersuites", suite);
    for s in [&typed, &by_property] {
        let (info, _) = established::<A>(s);
        let tls = info.unwrap_or_else(|e| panic!("{name}: {e}")).tls;
        assert_eq!(
            tls.and_then(|t| t.cipher_suite).as_deref(),
            Some(suite),
            "{name}"
        );
    }

    // ca_files (typed only: JavaMail has no such property).
    let dir = std::env::temp_dir().join(format!("smtp-conformance-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap_or_else(|e| panic!("{e}"));
    let mut typed = required.clone();
    typed.tls.ca_pem.clear();
    typed.tls.ca_files = vec![ca_file];
    let (info, _) = established::<A>(&typed);
    assert!(
        info.unwrap_or_else(|e| panic!("{name}: {e}"))
            .tls
            .is_some_and(|t| t.verified)
    );
    // only_extra_roots: without the CA nothing is trusted (a configuration
    // error, never a fallback); off, the CA is trusted beside the
    // platform's roots.
    let mut typed = required.clone();
    typed.tls.ca_pem.clear();
    assert!(
        matches!(established::<A>(&typed).0, Err(Error::TlsConfig(_))),
        "{name}"
    );
    let mut typed = required.clone();
    typed.tls.only_extra_roots = false;
    let (info, _) = established::<A>(&typed);
    assert!(
        info.unwrap_or_else(|e| panic!("{name}: {e}"))
            .tls
            .is_some_and(|t| t.verified)
    );

    // pins (typed only): the right SPKI pin passes, a wrong one fails.
    let leaf = established::<A>(&required)
        .0
        .ok()
        .and_then(|i| i.tls)
        .and_then(|t| t.peer_certificates.into_iter().next())
        .unwrap_or_else(|| panic!("{name}: no certificate"));
    let pin = smtp_tls::spki_sha256(&leaf).unwrap_or_else(|| panic!("{name}: no SPKI"));
    let mut typed = required.clone();
    typed.tls.pins = vec![pin];
    assert!(established::<A>(&typed).0.is_ok(), "{name}");
    typed.tls.pins = vec![[0u8; 32]];
    assert!(established::<A>(&typed).0.is_err(), "{name}");
}

/// A file body is inspected (SIZE=) and, when LIMITS RCPTMAX splits the
/// recipients into two transactions, read again for the second.
pub fn file_body_replayed_across_rcptmax_split<A: Adapter>() {
    let server = TestServer::start(Script::new().extensions([
        "PIPELINING",
        "SIZE 1000000",
        "LIMITS RCPTMAX=2",
    ]))
    .unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!(
        "smtp-conformance-{}-{}",
        std::process::id(),
        A::NAME
    ));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("message.eml");
    std::fs::write(&path, BODY).unwrap_or_else(|e| panic!("{e}"));
    let (hook, lines_seen) = recorder();
    let mut connection = A::connect(&settings_for(&server), Some(hook))
        .unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
    let results = connection.send_all(vec![(
        envelope(&["a@example.org", "b@example.org", "c@example.org"]),
        TestBody::File(path),
    )]);
    let _ = connection.close();
    let report = match &results[0] {
        Ok(report) => report,
        Err(e) => panic!("{}: {e}", A::NAME),
    };
    assert!(report.all_delivered(), "{}: {report:?}", A::NAME);
    let transactions = server.transactions();
    assert_eq!(transactions.len(), 2, "{}", A::NAME);
    assert!(
        transactions.iter().all(|t| t.data == BODY_WIRE),
        "{}",
        A::NAME
    );
    let mails: Vec<String> = client_lines(&lines_seen)
        .into_iter()
        .filter(|l| l.starts_with("C: MAIL"))
        .collect();
    assert_eq!(
        mails,
        lines(&[
            "C: MAIL FROM:<sender@client.example> SIZE=36",
            "C: MAIL FROM:<sender@client.example> SIZE=36"
        ]),
        "{}",
        A::NAME
    );
}

/// A server that greets, accepts the envelope, answers DATA with 354 and
/// then stops reading: the client's writes must give up at the write
/// timeout, on a connection it made and on one the caller made.
pub fn write_timeout_when_the_server_stops_reading<A: Adapter>() {
    use std::io::{BufRead, BufReader, Write};
    for own_stream in [false, true] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || -> std::io::Result<()> {
            let (stream, _) = listener.accept()?;
            let mut writer = stream.try_clone()?;
            let mut reader = BufReader::new(stream);
            writer.write_all(b"220 stall.example ESMTP\r\n")?;
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let reply: &[u8] = match verb.as_str() {
                    "EHLO" => b"250 stall.example\r\n",
                    "DATA" => b"354 go ahead\r\n",
                    "QUIT" => return Ok(()),
                    _ => b"250 ok\r\n",
                };
                writer.write_all(reply)?;
                if verb == "DATA" {
                    // Stop reading; keep the socket open until the test is done.
                    let _ = finished.recv_timeout(std::time::Duration::from_secs(20));
                    return Ok(());
                }
            }
        });
        let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
        s.port = Some(addr.port());
        s.local_name = Some(Host::parse("client.example").unwrap_or_else(|_| unreachable!()));
        s.write_timeout = std::time::Duration::from_millis(500);
        s.session.timeouts = smtp_proto::Timeouts::uniform(std::time::Duration::from_secs(30));
        let connection = if own_stream {
            let stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
            A::connect_stream(stream, &s, None)
        } else {
            A::connect(&s, None)
        };
        let mut connection = connection.unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
        let started = std::time::Instant::now();
        let body = vec![b'x'; 64 << 20];
        let results =
            connection.send_all(vec![(envelope(&["a@example.org"]), TestBody::Bytes(body))]);
        let elapsed = started.elapsed();
        // The report says nobody got it, and why.
        match &results[0] {
            Err(Error::Send {
                failure,
                cause: Some(SessionError::Io { kind, message }),
            }) => {
                assert_eq!(
                    *kind,
                    std::io::ErrorKind::TimedOut,
                    "{}: {message}",
                    A::NAME
                );
                assert!(message.contains("write"), "{}: {message}", A::NAME);
                assert_eq!(failure.report.delivered().count(), 0, "{}", A::NAME);
                assert_eq!(failure.report.unsent().count(), 1, "{}", A::NAME);
            }
            other => panic!("{} (own stream: {own_stream}): {other:?}", A::NAME),
        }
        assert!(
            elapsed < std::time::Duration::from_secs(15),
            "{}: {elapsed:?}",
            A::NAME
        );
        let _ = done.send(());
        drop(connection);
        let _ = server.join();
    }
}

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
        #[test]
        fn conformance_typed_tls_settings() {
            $crate::conformance::typed_tls_settings::<$adapter>();
        }
        #[test]
        fn conformance_file_body_replayed_across_rcptmax_split() {
            $crate::conformance::file_body_replayed_across_rcptmax_split::<$adapter>();
        }
        #[test]
        fn conformance_write_timeout_when_the_server_stops_reading() {
            $crate::conformance::write_timeout_when_the_server_stops_reading::<$adapter>();
        }
    };
}
