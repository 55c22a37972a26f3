//! Sans-IO transcript tests of the client session: every branch of the
//! state machine and every JavaMail property it honours, with server
//! replies fed whole and byte by byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The harness is the clock: it reads `Instant::now` once as the origin of
// virtual time, which the session under test never does.
#![allow(clippy::disallowed_methods, clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use smtpkit_proto::{
    Address, AuthError, Authenticator, BodyInfo, BodyType, DsnReturn, Envelope, Envid, Event,
    FailureKind, Host, MailAuth, Notify, OriginalRecipient, Recipient, RecipientStatus, SaslError,
    SaslMechanism, SelectError, SendFailure, Session, SessionConfig, SessionError, StartTlsPolicy,
    TlsConnector, TlsError, TlsErrorKind, TlsInfo, TlsLayer, UnsentReason, UsageError,
};

// ----- a fake TLS layer: "ciphertext" is plaintext XOR 0x55 ------------

const CLIENT_HELLO: &[u8] = b"CLIENT-HELLO";
const SERVER_HELLO: &[u8] = b"SERVER-HELLO";
const SERVER_BAD: &[u8] = b"SERVER-BAD!!";

fn xor(data: &[u8]) -> Vec<u8> {
    data.iter().map(|b| b ^ 0x55).collect()
}

struct FakeTls {
    handshaking: bool,
    hello_sent: bool,
    hello_buf: Vec<u8>,
    incoming: Vec<u8>,
    outgoing: Vec<u8>,
}

impl TlsLayer for FakeTls {
    fn read_tls(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        if self.handshaking {
            let need = SERVER_HELLO.len() - self.hello_buf.len();
            let n = need.min(data.len());
            self.hello_buf.extend_from_slice(&data[..n]);
            if self.hello_buf.len() == SERVER_HELLO.len() {
                if self.hello_buf == SERVER_BAD {
                    return Err(TlsError::new(TlsErrorKind::Certificate, "unknown CA"));
                }
                self.handshaking = false;
            }
            return Ok(n);
        }
        self.incoming.extend_from_slice(&xor(data));
        Ok(data.len())
    }
    fn write_tls(&mut self, out: &mut Vec<u8>) {
        if !self.hello_sent {
            out.extend_from_slice(CLIENT_HELLO);
            self.hello_sent = true;
        }
        out.append(&mut self.outgoing);
    }
    fn read_plaintext(&mut self, out: &mut Vec<u8>) -> Result<(), TlsError> {
        out.append(&mut self.incoming);
        Ok(())
    }
    fn write_plaintext(&mut self, plaintext: &[u8]) -> Result<(), TlsError> {
        self.outgoing.extend_from_slice(&xor(plaintext));
        Ok(())
    }
    fn is_handshaking(&self) -> bool {
        self.handshaking
    }
    fn send_close_notify(&mut self) {}
    fn info(&self) -> TlsInfo {
        let mut info = TlsInfo::default();
        info.version = Some("FAKE".into());
        info.cipher_suite = Some("XOR".into());
        info.verified = true;
        info
    }
}

struct FakeConnector;

impl TlsConnector for FakeConnector {
    fn connect(&self, _server_name: &str) -> Result<Box<dyn TlsLayer>, TlsError> {
        Ok(Box::new(FakeTls {
            handshaking: true,
            hello_sent: false,
            hello_buf: Vec::new(),
            incoming: Vec::new(),
            outgoing: Vec::new(),
        }))
    }
}

// ----- a fake SASL mechanism ------------------------------------------

struct Fake {
    initial: Vec<u8>,
    verify_fails: bool,
}

impl SaslMechanism for Fake {
    fn name(&self) -> &str {
        "X-FAKE"
    }
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, SaslError> {
        Ok(Some(self.initial.clone()))
    }
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        Ok([b"re:", challenge].concat())
    }
    fn finish(&mut self) -> Result<(), SaslError> {
        if self.verify_fails {
            Err(SaslError::ServerVerification(
                "server signature mismatch".into(),
            ))
        } else {
            Ok(())
        }
    }
}

struct FakeAuth {
    initial: Vec<u8>,
    verify_fails: bool,
}

impl Authenticator for FakeAuth {
    fn start(&self, offered: &[String], _tls: bool) -> Result<Box<dyn SaslMechanism>, SelectError> {
        if !offered.iter().any(|m| m == "X-FAKE") {
            return Err(SelectError::NoUsableMechanism {
                offered: offered.join(" "),
            });
        }
        Ok(Box::new(Fake {
            initial: self.initial.clone(),
            verify_fails: self.verify_fails,
        }))
    }
}

// ----- the harness -----------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Split {
    Whole,
    Bytes,
}

struct Harness {
    session: Session,
    now: Instant,
    split: Split,
    events: Vec<Event>,
    tls: bool,
}

fn config() -> SessionConfig {
    SessionConfig::new(Host::parse("client.example").unwrap(), "mx.example")
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(addr("from@client.example"), rcpts.iter().map(|r| addr(r)))
}

fn known(body: &[u8]) -> BodyInfo {
    let mut inspector = smtpkit_proto::BodyInspector::new();
    inspector.update(body);
    BodyInfo::from_report(&inspector.finish())
}

impl Harness {
    fn new(config: SessionConfig, split: Split) -> Harness {
        let now = Instant::now();
        Harness {
            session: Session::new(Arc::new(config), now),
            now,
            split,
            events: Vec::new(),
            tls: false,
        }
    }

    /// The server writes `text`.
    fn server(&mut self, text: &str) {
        let bytes = if self.tls {
            xor(text.as_bytes())
        } else {
            text.as_bytes().to_vec()
        };
        self.server_raw(&bytes);
    }

    fn server_raw(&mut self, bytes: &[u8]) {
        match self.split {
            Split::Whole => self.session.handle_input(self.now, bytes),
            Split::Bytes => {
                for b in bytes {
                    self.session.handle_input(self.now, std::slice::from_ref(b));
                }
            }
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
    }

    /// What the client wrote since the last call.
    fn client(&mut self) -> String {
        let raw = self.session.poll_transmit(self.now).unwrap_or_default();
        self.drain();
        let plain = if self.tls { xor(&raw) } else { raw };
        String::from_utf8(plain).unwrap()
    }

    fn expect(&mut self, expected: &str) {
        assert_eq!(self.client(), expected);
    }

    /// Greeting and EHLO with the given extension lines.
    fn connect(&mut self, extensions: &[&str]) {
        self.server("220 mx.example ESMTP\r\n");
        self.expect("EHLO client.example\r\n");
        self.server(&ehlo_reply(extensions));
    }

    fn body(&mut self, id: smtpkit_proto::MessageId, body: &[u8]) {
        let request = self.session.body_request().expect("body wanted");
        assert_eq!(request.id, id);
        self.session.push_body(id, body, true).unwrap();
        self.drain();
    }

    fn outcome(
        &mut self,
        id: smtpkit_proto::MessageId,
    ) -> Result<smtpkit_proto::DeliveryReport, SendFailure> {
        self.drain();
        let position = self
            .events
            .iter()
            .position(|e| matches!(e, Event::Message { id: done, .. } if *done == id))
            .unwrap_or_else(|| panic!("no outcome for {id}: {:?}", self.events));
        // `Err` when the message failed as a whole and reached nobody.
        match self.events.remove(position) {
            Event::Message { report, .. } => match report.failure.clone() {
                Some(kind) if report.delivered().next().is_none() => {
                    Err(SendFailure::new(kind, report))
                }
                _ => Ok(report),
            },
            _ => unreachable!(),
        }
    }

    fn closed(&mut self) -> Option<Option<SessionError>> {
        self.drain();
        self.events.iter().find_map(|e| match e {
            Event::Closed(err) => Some(err.clone()),
            _ => None,
        })
    }
}

fn ehlo_reply(extensions: &[&str]) -> String {
    let mut lines = vec!["mx.example".to_owned()];
    lines.extend(extensions.iter().map(|s| s.to_string()));
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("250{}{}\r\n", if i == last { ' ' } else { '-' }, l))
        .collect()
}

fn both(test: impl Fn(Split)) {
    test(Split::Whole);
    test(Split::Bytes);
}

const BODY: &[u8] = b"Subject: test\r\n\r\nHello\r\n";

// ----- tests ------------------------------------------------------------

#[test]
fn pipelined_transaction_in_one_flight() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING", "SIZE 1000000"]);
        h.expect("MAIL FROM:<from@client.example> SIZE=24\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
        h.server("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n");
        h.body(id, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("250 2.0.0 Ok: queued as 123\r\n");
        let report = h.outcome(id).unwrap();
        assert!(report.all_delivered());
        assert_eq!(
            report.reply.unwrap().enhanced_code().unwrap().to_string(),
            "2.0.0"
        );
    });
}

#[test]
fn lockstep_without_pipelining() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["8BITMIME"]);
        h.expect("MAIL FROM:<from@client.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("RCPT TO:<a@mx.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("RCPT TO:<b@mx.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("DATA\r\n");
        assert!(h.session.body_request().is_none(), "no body before 354");
        h.server("354 go\r\n");
        h.body(id, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("250 ok\r\n");
        assert!(h.outcome(id).unwrap().all_delivered());
    });
}

#[test]
fn greeting_refused_closes_with_quit_only_when_asked() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        h.server("554 5.7.1 no service for you\r\n");
        assert!(
            matches!(h.closed(), Some(Some(SessionError::Rejected(r))) if r.code().get() == 554)
        );
        h.expect("");

        let mut c = config();
        c.options.quit_on_session_reject = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.server("554 busy\r\n");
        h.expect("QUIT\r\n");
        // Refused before the session was ready: never connected.
        let failure = h.outcome(id).unwrap_err();
        assert_eq!(failure.kind, FailureKind::NotConnected);
        assert!(matches!(
            failure.report.recipients[0].status,
            RecipientStatus::Unsent(UnsentReason::NotConnected)
        ));
    });
}

#[test]
fn helo_fallback_and_ehlo_disabled() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        h.server("220 old.example\r\n");
        h.expect("EHLO client.example\r\n");
        h.server("502 5.5.2 command not recognized\r\n");
        h.expect("HELO client.example\r\n");
        h.server("250 old.example\r\n");
        assert!(h.session.is_idle());
        assert!(h.session.extensions().is_none());

        let mut c = config();
        c.options.use_ehlo = false; // mail.smtp.ehlo=false
        let mut h = Harness::new(c, split);
        h.server("220 mx\r\n");
        h.expect("HELO client.example\r\n");
        h.server("550 go away\r\n");
        assert!(matches!(
            h.closed(),
            Some(Some(SessionError::HeloRejected(_)))
        ));
        h.expect("QUIT\r\n");
    });
}

#[test]
fn starttls_upgrades_and_forgets_pre_tls_capabilities() {
    both(|split| {
        let mut c = config();
        c.starttls = StartTlsPolicy::Opportunistic;
        c.tls = Some(Arc::new(FakeConnector));
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["STARTTLS", "AUTH PLAIN", "PIPELINING"]);
        h.expect("STARTTLS\r\n");
        h.server("220 2.0.0 Ready to start TLS\r\n");
        assert_eq!(
            h.client(),
            String::from_utf8(CLIENT_HELLO.to_vec()).unwrap()
        );
        h.server_raw(SERVER_HELLO);
        h.tls = true;
        h.expect("EHLO client.example\r\n");
        h.server(&ehlo_reply(&["PIPELINING", "CHUNKING"]));
        assert_eq!(h.session.extensions().unwrap().auth_mechanisms().len(), 0);
        assert!(matches!(&h.events[0], Event::Ready { tls: Some(info), .. } if info.verified));
        // CHUNKING: MAIL + RCPT in one flight, BDAT LAST and the body once
        // the server accepted them.
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\n");
        h.server("250 ok\r\n250 ok\r\n");
        h.body(id, BODY);
        h.expect("BDAT 24 LAST\r\nSubject: test\r\n\r\nHello\r\n");
        h.server("250 2.0.0 queued\r\n");
        assert!(h.outcome(id).unwrap().all_delivered());
    });
}

#[test]
fn starttls_required_but_not_offered_fails_before_mail() {
    both(|split| {
        let mut c = config();
        c.starttls = StartTlsPolicy::Required; // mail.smtp.starttls.required
        c.tls = Some(Arc::new(FakeConnector));
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.expect("QUIT\r\n");
        assert!(matches!(
            h.closed(),
            Some(Some(SessionError::StartTlsUnavailable(_)))
        ));
        assert_eq!(h.outcome(id).unwrap_err().kind, FailureKind::NotConnected);
    });
}

/// STARTTLS offered and then refused ends the session with either policy:
/// never a silent fallback to plaintext (as JavaMail).
#[test]
fn starttls_offered_then_refused_is_fatal() {
    for policy in [StartTlsPolicy::Opportunistic, StartTlsPolicy::Required] {
        let mut c = config();
        c.starttls = policy;
        c.tls = Some(Arc::new(FakeConnector));
        let mut h = Harness::new(c, Split::Whole);
        h.connect(&["STARTTLS"]);
        h.expect("STARTTLS\r\n");
        h.server("454 4.7.0 TLS not available\r\n");
        assert!(
            matches!(h.closed(), Some(Some(SessionError::StartTlsRefused(_)))),
            "{policy:?}"
        );
        assert_eq!(h.client(), "QUIT\r\n", "{policy:?}");
    }
}

#[test]
fn response_injection_after_starttls_is_refused() {
    let mut c = config();
    c.starttls = StartTlsPolicy::Required;
    c.tls = Some(Arc::new(FakeConnector));
    let mut h = Harness::new(c, Split::Whole);
    h.connect(&["STARTTLS"]);
    h.expect("STARTTLS\r\n");
    h.server("220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n");
    assert!(matches!(
        h.closed(),
        Some(Some(SessionError::ResponseInjection(30)))
    ));
    assert_eq!(h.client(), "", "no TLS hello, nothing acted on");
}

#[test]
fn tls_failure_closes_the_session() {
    let mut c = config();
    c.implicit_tls = true; // mail.smtp.ssl.enable / smtps
    c.tls = Some(Arc::new(FakeConnector));
    let mut h = Harness::new(c, Split::Whole);
    assert_eq!(h.client(), "CLIENT-HELLO");
    h.server_raw(SERVER_BAD);
    assert!(matches!(
        h.closed(),
        Some(Some(SessionError::Tls(TlsError {
            kind: TlsErrorKind::Certificate,
            ..
        })))
    ));
}

#[test]
fn implicit_tls_greeting_comes_encrypted() {
    both(|split| {
        let mut c = config();
        c.implicit_tls = true;
        c.tls = Some(Arc::new(FakeConnector));
        let mut h = Harness::new(c, split);
        assert_eq!(h.client(), "CLIENT-HELLO");
        h.server_raw(SERVER_HELLO);
        h.tls = true;
        h.connect(&[]);
        assert!(h.session.is_idle());
        assert!(h.session.tls_info().is_some());
    });
}

#[test]
fn sendpartial_false_refused_recipient_aborts_with_rset() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "bad@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        // More than one recipient and sendpartial=false: DATA waits.
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<bad@mx.example>\r\n");
        h.server("250 ok\r\n250 ok\r\n550 5.1.1 <bad@mx.example>: Recipient address rejected\r\n");
        h.expect("RSET\r\n");
        let failure = h.outcome(id).unwrap_err();
        assert_eq!(failure.kind, FailureKind::RecipientsRejected);
        assert_eq!(
            failure.invalid().map(Address::as_str).collect::<Vec<_>>(),
            ["bad@mx.example"]
        );
        assert_eq!(
            failure
                .valid_unsent()
                .map(Address::as_str)
                .collect::<Vec<_>>(),
            ["a@mx.example"]
        );
        assert!(failure.report.reply.is_none());
        h.server("250 reset\r\n");
        assert!(h.session.is_idle());
    });
}

#[test]
fn sendpartial_true_sends_to_the_rest() {
    both(|split| {
        let mut c = config();
        c.options.send_partial = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "bad@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING", "ENHANCEDSTATUSCODES"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<bad@mx.example>\r\nDATA\r\n");
        h.server("250 ok\r\n250 ok\r\n450 4.2.0 try later\r\n354 go\r\n");
        h.body(id, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("250 queued\r\n");
        let report = h.outcome(id).unwrap();
        assert!(!report.all_delivered());
        assert_eq!(report.delivered().count(), 1);
        let (bad, reply) = report.rejected().next().unwrap();
        assert_eq!(bad.as_str(), "bad@mx.example");
        assert!(reply.is_transient());
    });
}

#[test]
fn single_refused_recipient_with_pipelined_data() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["bad@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<bad@mx.example>\r\nDATA\r\n");
        h.server("250 ok\r\n550 no such user\r\n554 5.5.1 Error: no valid recipients\r\n");
        h.expect("RSET\r\n");
        let failure = h.outcome(id).unwrap_err();
        assert_eq!(failure.kind, FailureKind::RecipientsRejected);

        // A server that says 354 anyway gets an empty message, not ours.
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["bad@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.client();
        h.server("250 ok\r\n550 no such user\r\n354 go\r\n");
        h.expect(".\r\n");
        assert!(h.session.body_request().is_none());
        h.server("554 no valid recipients\r\n");
        assert_eq!(
            h.outcome(id).unwrap_err().kind,
            FailureKind::RecipientsRejected
        );
    });
}

#[test]
fn sender_refused() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&[]);
        h.expect("MAIL FROM:<from@client.example>\r\n");
        h.server("553 5.7.1 sender not allowed\r\n");
        h.expect("RSET\r\n");
        let failure = h.outcome(id).unwrap_err();
        assert!(matches!(&failure.kind, FailureKind::SenderRejected(r) if r.is_permanent()));
        assert!(!failure.kind.is_transient());
    });
}

#[test]
fn pipelined_rcpts_after_a_refused_mail_are_unsent_not_rejected() {
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["PIPELINING"]);
    h.client();
    h.server("553 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n");
    let failure = h.outcome(id).unwrap_err();
    assert!(matches!(failure.kind, FailureKind::SenderRejected(_)));
    assert_eq!(
        failure.invalid().count(),
        0,
        "503s are not verdicts on recipients"
    );
    assert!(
        failure
            .report
            .recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Unsent(UnsentReason::TransactionFailed))
    );
}

#[test]
fn message_refused_after_data() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.client();
        h.server("250 ok\r\n250 ok\r\n354 go\r\n");
        h.body(id, BODY);
        h.client();
        h.server("451 4.3.0 try again later\r\n");
        let failure = h.outcome(id).unwrap_err();
        assert!(matches!(&failure.kind, FailureKind::MessageRejected(r) if r.is_transient()));
        assert!(failure.kind.is_transient());
        assert_eq!(failure.valid_unsent().count(), 1);
        assert!(matches!(
            failure.report.recipients[0].status,
            RecipientStatus::AcceptedUnsent(_)
        ));
        assert!(h.session.is_idle(), "no RSET needed after end of data");
    });
}

#[test]
fn what_the_server_lacks_fails_before_mail() {
    // SIZE
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["SIZE 10"]);
    h.expect("");
    assert_eq!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::TooLarge { size: 24, max: 10 }
    );
    // 8BITMIME
    let body = "Subject: café\r\n\r\n".as_bytes();
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(body))
        .unwrap();
    h.connect(&[]);
    h.expect("");
    assert_eq!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::Unsupported {
            extension: "8BITMIME"
        }
    );
    // SMTPUTF8
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["用户@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["8BITMIME"]);
    h.expect("");
    assert_eq!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::Unsupported {
            extension: "SMTPUTF8"
        }
    );
    // BINARYMIME
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(b"a\0b"))
        .unwrap();
    h.connect(&["8BITMIME", "CHUNKING"]);
    h.expect("");
    assert_eq!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::Unsupported {
            extension: "BINARYMIME"
        }
    );
    // REQUIRETLS without TLS
    let mut h = Harness::new(config(), Split::Whole);
    let mut e = envelope(&["a@mx.example"]);
    e.require_tls = true;
    let id = h.session.send(e, known(BODY)).unwrap();
    h.connect(&["REQUIRETLS"]);
    h.expect("");
    assert_eq!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::RequireTlsUnavailable
    );
    assert!(h.session.is_idle());
}

#[test]
fn needs_are_declared_when_offered() {
    let body = "Subject: café\r\n\r\n".as_bytes();
    let mut h = Harness::new(config(), Split::Whole);
    let _ = h
        .session
        .send(envelope(&["用户@mx.example"]), known(body))
        .unwrap();
    h.connect(&["8BITMIME", "SMTPUTF8", "SIZE"]);
    h.expect("MAIL FROM:<from@client.example> SIZE=18 BODY=8BITMIME SMTPUTF8\r\n");
    let mut h = Harness::new(config(), Split::Whole);
    let _ = h
        .session
        .send(envelope(&["a@mx.example"]), known(b"a\0b"))
        .unwrap();
    h.connect(&["BINARYMIME", "CHUNKING", "PIPELINING"]);
    h.expect("MAIL FROM:<from@client.example> BODY=BINARYMIME\r\nRCPT TO:<a@mx.example>\r\n");
    h.server("250 ok\r\n250 ok\r\n");
    h.session
        .push_body(smtpkit_proto::MessageId(0), b"a\0b", true)
        .unwrap();
    h.expect("BDAT 3 LAST\r\na\0b");
}

#[test]
fn dsn_submitter_and_mail_extension() {
    let mut c = config();
    c.options.dsn_notify = Some("FAILURE,DELAY".parse().unwrap()); // mail.smtp.dsn.notify
    c.options.dsn_ret = Some(DsnReturn::Headers); // mail.smtp.dsn.ret
    c.options.submitter = Some(MailAuth::identity("agent@client.example").unwrap()); // mail.smtp.submitter
    c.options.mail_extension = smtpkit_proto::EsmtpParam::parse_list("XVERP").unwrap(); // mail.smtp.mailextension
    let mut e = envelope(&["a@mx.example"]);
    e.envid = Some(Envid::new("QQ314159").unwrap());
    let mut b = Recipient::from(addr("b@mx.example"));
    b.notify = Some(Notify::Never);
    b.orcpt = Some(OriginalRecipient::new("b+x@mx.example").unwrap());
    e.recipients.push(b);
    let mut h = Harness::new(c.clone(), Split::Whole);
    let _ = h.session.send(e.clone(), known(BODY)).unwrap();
    h.connect(&["PIPELINING", "DSN", "AUTH PLAIN"]);
    h.expect(
        "MAIL FROM:<from@client.example> RET=HDRS ENVID=QQ314159 AUTH=agent@client.example XVERP\r\n\
RCPT TO:<a@mx.example> NOTIFY=FAILURE,DELAY\r\nRCPT TO:<b@mx.example> NOTIFY=NEVER ORCPT=rfc822;b+2Bx@mx.example\r\n",
    );
    // Without DSN and AUTH offered, only the extension string is sent.
    let mut h = Harness::new(c, Split::Whole);
    let _ = h.session.send(e, known(BODY)).unwrap();
    h.connect(&["PIPELINING"]);
    h.expect("MAIL FROM:<from@client.example> XVERP\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\n");
}

#[test]
fn messages_overlap_across_transactions() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let first = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        let second = h
            .session
            .send(envelope(&["b@mx.example"]), known(BODY))
            .unwrap();
        h.session.quit();
        h.connect(&["PIPELINING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
        h.server("250 ok\r\n250 ok\r\n354 go\r\n");
        h.body(first, BODY);
        // The first body, its end, and the second envelope in one flight.
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\nMAIL FROM:<from@client.example>\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n");
        h.server("250 first queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        assert_eq!(
            h.outcome(first).unwrap().reply.unwrap().message(),
            "first queued"
        );
        h.body(second, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\nQUIT\r\n");
        h.server("250 second queued\r\n221 bye\r\n");
        assert_eq!(
            h.outcome(second).unwrap().reply.unwrap().message(),
            "second queued"
        );
        assert_eq!(h.closed(), Some(None));
    });
}

#[test]
fn rcptmax_splits_into_transactions() {
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(
            envelope(&["a@mx.example", "b@mx.example", "c@mx.example"]),
            known(BODY),
        )
        .unwrap();
    let later = h
        .session
        .send(envelope(&["d@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["PIPELINING", "LIMITS RCPTMAX=2"]);
    h.expect(
        "MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\n",
    );
    h.server("250 ok\r\n250 ok\r\n250 ok\r\n");
    h.expect("DATA\r\n");
    h.server("354 go\r\n");
    assert!(!h.session.body_request().unwrap().restart);
    h.body(id, BODY);
    // The next message must not slip in before the second transaction.
    h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
    h.server("250 queued 1\r\n");
    h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<c@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    assert!(h.session.body_request().unwrap().restart);
    h.body(id, BODY);
    h.expect("Subject: test\r\n\r\nHello\r\n.\r\nMAIL FROM:<from@client.example>\r\nRCPT TO:<d@mx.example>\r\nDATA\r\n");
    h.server("250 queued 2\r\n");
    let report = h.outcome(id).unwrap();
    assert!(report.all_delivered());
    assert_eq!(report.transactions, 2);
    let _ = later;

    // A body that cannot be replayed: the rest are reported unsent.
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(
            envelope(&["a@mx.example", "b@mx.example"]),
            BodyInfo::streamed(),
        )
        .unwrap();
    h.connect(&["PIPELINING", "8BITMIME", "LIMITS RCPTMAX=1"]);
    h.expect("MAIL FROM:<from@client.example> BODY=8BITMIME\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    h.body(id, BODY);
    h.client();
    h.server("250 ok\r\n");
    let report = h.outcome(id).unwrap();
    assert_eq!(
        report.recipients[1].status,
        RecipientStatus::Unsent(UnsentReason::RcptMax)
    );
}

#[test]
fn liveness_and_reset() {
    let mut h = Harness::new(config(), Split::Whole);
    h.connect(&[]);
    h.session.check_liveness().unwrap();
    h.expect("NOOP\r\n");
    assert_eq!(h.session.check_liveness(), Err(UsageError::Busy));
    h.server("250 2.0.0 Ok\r\n");
    assert!(matches!(
        h.events.last(),
        Some(Event::Liveness { alive: true, .. })
    ));
    h.session.reset().unwrap();
    h.expect("RSET\r\n");
    h.server("250 ok\r\n");
    assert!(matches!(h.events.last(), Some(Event::Reset(_))));

    // mail.smtp.userset=true, mail.smtp.noop.strict
    let mut c = config();
    c.options.use_rset_for_liveness = true;
    let mut h = Harness::new(c.clone(), Split::Whole);
    h.connect(&[]);
    h.session.check_liveness().unwrap();
    h.expect("RSET\r\n");
    h.server("251 odd but fine\r\n");
    assert!(
        matches!(h.events.last(), Some(Event::Liveness { alive: false, .. })),
        "strict by default"
    );
    c.options.noop_strict = false;
    let mut h = Harness::new(c, Split::Whole);
    h.connect(&[]);
    h.session.check_liveness().unwrap();
    h.client();
    h.server("251 odd but fine\r\n");
    assert!(matches!(
        h.events.last(),
        Some(Event::Liveness { alive: true, .. })
    ));
}

#[test]
fn quit_wait_or_not() {
    let mut h = Harness::new(config(), Split::Whole);
    h.connect(&[]);
    h.session.quit();
    h.expect("QUIT\r\n");
    assert_eq!(h.closed(), None, "waits for 221 (mail.smtp.quitwait=true)");
    h.server("221 bye\r\n");
    assert_eq!(h.closed(), Some(None));

    let mut c = config();
    c.options.quit_wait = false;
    let mut h = Harness::new(c, Split::Whole);
    h.connect(&[]);
    h.session.quit();
    h.expect("QUIT\r\n");
    assert_eq!(h.closed(), Some(None));
    assert_eq!(
        h.session.send(envelope(&["a@mx.example"]), known(BODY)),
        Err(UsageError::Closed)
    );
}

#[test]
fn deadlines_follow_rfc5321_and_mail_smtp_timeout() {
    let mut h = Harness::new(config(), Split::Whole);
    let start = h.now;
    assert_eq!(
        h.session.poll_timeout(),
        Some(start + Duration::from_secs(300))
    );
    h.session.handle_timeout(start + Duration::from_secs(299));
    assert_eq!(h.closed(), None, "a spurious timeout is a no-op");
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["PIPELINING"]);
    h.client();
    h.server("250 ok\r\n250 ok\r\n");
    // Waiting for the 354: two minutes.
    assert_eq!(
        h.session.poll_timeout(),
        Some(start + Duration::from_secs(120))
    );
    h.server("354 go\r\n");
    assert_eq!(
        h.session.poll_timeout(),
        None,
        "nothing awaited while the body is wanted"
    );
    h.body(id, BODY);
    h.now = start + Duration::from_secs(5);
    h.client();
    assert_eq!(
        h.session.poll_timeout(),
        Some(start + Duration::from_secs(605))
    );
    h.session.handle_timeout(start + Duration::from_secs(605));
    assert!(matches!(
        h.closed(),
        Some(Some(SessionError::Timeout {
            waiting_for: "the end of data",
            ..
        }))
    ));
    assert!(matches!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::ConnectionLost {
            data_sent: true,
            ..
        }
    ));

    let mut c = config();
    c.options.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_millis(1500)); // mail.smtp.timeout
    let h = Harness::new(c, Split::Whole);
    assert_eq!(
        h.session.poll_timeout(),
        Some(h.now + Duration::from_millis(1500))
    );
}

#[test]
fn service_closing_421_mid_transaction() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.client();
        h.server("250 ok\r\n421 4.3.2 shutting down\r\n");
        assert!(matches!(
            h.closed(),
            Some(Some(SessionError::ServiceClosing(_)))
        ));
        let failure = h.outcome(id).unwrap_err();
        assert!(matches!(
            failure.kind,
            FailureKind::ConnectionLost {
                data_sent: false,
                reply: Some(_)
            }
        ));
        assert!(failure.kind.is_transient());
    });
}

#[test]
fn eof_and_malformed_replies() {
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["PIPELINING"]);
    h.client();
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    h.session.push_body(id, b"partial", false).unwrap();
    h.session.handle_eof(h.now);
    assert_eq!(
        h.closed(),
        Some(Some(SessionError::ConnectionClosed {
            while_waiting: false
        }))
    );
    assert!(matches!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::ConnectionLost {
            data_sent: false,
            ..
        }
    ));

    let mut h = Harness::new(config(), Split::Whole);
    h.server("220 hi\r\n");
    h.server("250-mx\r\n251 mixed codes\r\n");
    assert!(matches!(h.closed(), Some(Some(SessionError::Protocol(_)))));

    let mut h = Harness::new(config(), Split::Whole);
    h.connect(&[]);
    h.server("250 nobody asked\r\n");
    assert!(matches!(
        h.closed(),
        Some(Some(SessionError::UnexpectedReply(_)))
    ));
}

#[test]
fn streamed_content_is_checked_against_the_declared_type() {
    // DATA mode: the offending chunk never reaches the wire; the
    // connection is dropped so nothing partial is delivered.
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), BodyInfo::streamed())
        .unwrap();
    h.connect(&["PIPELINING"]);
    h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    h.session.push_body(id, b"plain ascii\r\n", false).unwrap();
    h.session
        .push_body(id, "caf\u{e9}\r\n".as_bytes(), true)
        .unwrap();
    assert_eq!(h.client(), "plain ascii\r\n");
    assert_eq!(
        h.closed(),
        Some(Some(SessionError::ContentNotAllowed(
            BodyType::EightBitMime
        )))
    );

    // BDAT mode: the transaction is reset instead.
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), BodyInfo::streamed())
        .unwrap();
    h.connect(&["PIPELINING", "CHUNKING", "8BITMIME"]);
    h.expect("MAIL FROM:<from@client.example> BODY=8BITMIME\r\nRCPT TO:<a@mx.example>\r\n");
    h.server("250 ok\r\n250 ok\r\n");
    h.session.push_body(id, b"a\0b", true).unwrap();
    h.expect("RSET\r\n");
    assert_eq!(
        h.outcome(id).unwrap_err().kind,
        FailureKind::ContentNotAllowed {
            needed: BodyType::BinaryMime
        }
    );
}

#[test]
fn bodies_are_streamed_with_backpressure() {
    let mut c = config();
    c.options.max_buffered = 64 * 1024;
    let mut h = Harness::new(c, Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), BodyInfo::streamed())
        .unwrap();
    h.connect(&["PIPELINING", "8BITMIME"]);
    h.client();
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    let line = [b'x'; 1000];
    let mut sent = 0u64;
    let mut wire = 0usize;
    let total = 8 * 1024 * 1024;
    while sent < total {
        let request = h.session.body_request().expect("wanted after draining");
        let n = request.max_len.min(line.len()).min((total - sent) as usize);
        h.session
            .push_body(id, &line[..n], sent + n as u64 == total)
            .unwrap();
        sent += n as u64;
        if h.session.body_request().is_none() {
            let flight = h.session.poll_transmit(h.now).unwrap();
            assert!(
                flight.len() <= 64 * 1024 + 1002,
                "buffered {} octets",
                flight.len()
            );
            wire += flight.len();
        }
    }
    wire += h.session.poll_transmit(h.now).map_or(0, |f| f.len());
    assert!(wire as u64 > total);
    h.server("250 ok\r\n");
    assert!(h.outcome(id).unwrap().all_delivered());
}

/// The next message's envelope rides in the flight of the previous end of
/// data only when that body fit in one flight; after a larger body it
/// waits for the end-of-data reply (a server that answers the end of data
/// alone holds its next replies under Nagle until the client acknowledges,
/// 40 ms a message), and so does QUIT.
#[test]
fn after_a_body_larger_than_a_flight_the_next_command_waits_for_its_reply() {
    let mut c = config();
    c.options.max_buffered = 4096;
    let mut h = Harness::new(c, Split::Whole);
    let small = h
        .session
        .send(envelope(&["a@mx.example"]), BodyInfo::streamed())
        .unwrap();
    let large = h
        .session
        .send(envelope(&["b@mx.example"]), BodyInfo::streamed())
        .unwrap();
    let after = h
        .session
        .send(envelope(&["c@mx.example"]), BodyInfo::streamed())
        .unwrap();
    h.session.quit();
    h.connect(&["PIPELINING"]);
    h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    // 4,096 octets: one flight, so the next envelope rides with its end.
    let line = [b'x'; 62];
    let mut flight = Vec::new();
    for _ in 0..64 {
        flight.extend_from_slice(&line);
        flight.extend_from_slice(b"\r\n");
    }
    h.body(small, &flight);
    assert!(h.client().ends_with(
        "\r\n.\r\nMAIL FROM:<from@client.example>\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n"
    ));
    h.server("250 queued\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    // One octet more than a flight: the end of data goes alone.
    let request = h.session.body_request().unwrap();
    h.session
        .push_body(large, &flight[..request.max_len], false)
        .unwrap();
    let first = h.client();
    assert_eq!(first.len(), 4096);
    h.session.push_body(large, b"x\r\n", true).unwrap();
    assert_eq!(h.client(), "x\r\n.\r\n");
    h.server("250 queued\r\n");
    h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<c@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    h.session.push_body(after, &flight, false).unwrap();
    h.client();
    h.session.push_body(after, b"x\r\n", true).unwrap();
    assert_eq!(h.client(), "x\r\n.\r\n", "QUIT waits too");
    h.server("250 queued\r\n");
    h.expect("QUIT\r\n");
    h.server("221 bye\r\n");
    for id in [small, large, after] {
        assert!(h.outcome(id).unwrap().all_delivered());
    }
}

#[test]
fn authentication_step() {
    both(|split| {
        let mut c = config();
        c.options.transcript = true;
        c.authenticator = Some(Arc::new(FakeAuth {
            initial: b"secret-initial".to_vec(),
            verify_fails: false,
        }));
        let mut h = Harness::new(c.clone(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["AUTH PLAIN X-FAKE", "PIPELINING"]);
        h.expect("AUTH X-FAKE c2VjcmV0LWluaXRpYWw=\r\n");
        h.server("334 Y2hhbGxlbmdl\r\n");
        h.expect("cmU6Y2hhbGxlbmdl\r\n");
        h.server("235 2.7.0 Authentication successful\r\n");
        assert_eq!(h.session.auth_mechanism(), Some("X-FAKE"));
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
        let transcript: Vec<String> = h
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Transcript(t) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        let text = transcript.join("\n");
        assert!(text.contains("C: AUTH X-FAKE [redacted]"), "{text}");
        assert!(text.contains("C: [redacted]"));
        assert!(
            !text.contains("c2VjcmV0") && !text.contains("cmU6"),
            "{text}"
        );
        let _ = id;
    });

    // A long initial response goes in a second step (RFC 4954 §4).
    let mut c = config();
    c.authenticator = Some(Arc::new(FakeAuth {
        initial: vec![b'x'; 600],
        verify_fails: false,
    }));
    let mut h = Harness::new(c, Split::Whole);
    h.connect(&["AUTH X-FAKE"]);
    h.expect("AUTH X-FAKE\r\n");
    h.server("334 \r\n");
    assert_eq!(h.client().len(), 802);

    // Refused credentials, a server that fails verification, nothing usable.
    for (ext, reply, expected) in [
        (
            "AUTH X-FAKE",
            "535 5.7.8 Authentication credentials invalid\r\n",
            "rejected",
        ),
        ("AUTH X-FAKE", "235 ok\r\n", "mechanism"),
        ("AUTH PLAIN", "", "no usable"),
        ("PIPELINING", "", "not offered"),
    ] {
        let mut c = config();
        c.authenticator = Some(Arc::new(FakeAuth {
            initial: b"x".to_vec(),
            verify_fails: true,
        }));
        let mut h = Harness::new(c, Split::Whole);
        h.connect(&[ext]);
        h.client();
        h.server(reply);
        let err = h.closed().flatten().unwrap();
        let ok = match expected {
            "rejected" => matches!(err, SessionError::Auth(AuthError::Rejected { .. })),
            "mechanism" => matches!(err, SessionError::Auth(AuthError::Mechanism { .. })),
            "no usable" => matches!(err, SessionError::Auth(AuthError::NoUsableMechanism { .. })),
            _ => matches!(err, SessionError::Auth(AuthError::NotOffered)),
        };
        assert!(ok, "{expected}: {err:?}");
    }
}

#[test]
fn a_server_that_never_stops_challenging_is_cut_off() {
    let mut c = config();
    c.authenticator = Some(Arc::new(FakeAuth {
        initial: b"x".to_vec(),
        verify_fails: false,
    }));
    let mut h = Harness::new(c, Split::Whole);
    h.connect(&["AUTH X-FAKE"]);
    h.client();
    for _ in 0..16 {
        h.server("334 YWdhaW4=\r\n");
        assert_eq!(h.client(), "cmU6YWdhaW4=\r\n");
    }
    h.server("334 YWdhaW4=\r\n");
    assert_eq!(h.client(), "*\r\nQUIT\r\n");
    assert!(matches!(
        h.closed(),
        Some(Some(SessionError::Auth(AuthError::Mechanism {
            error: SaslError::UnexpectedStep(_),
            ..
        })))
    ));
}

#[test]
fn transcript_of_a_whole_session() {
    let mut c = config();
    c.options.transcript = true;
    let mut h = Harness::new(c, Split::Bytes);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    h.session.quit();
    h.connect(&["PIPELINING"]);
    h.client();
    h.server("250 ok\r\n250 ok\r\n354 go\r\n");
    h.body(id, BODY);
    h.client();
    h.server("250 queued\r\n221 bye\r\n");
    let lines: Vec<String> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Transcript(t) => Some(t.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [
            "S: 220 mx.example ESMTP",
            "C: EHLO client.example",
            "S: 250-mx.example",
            "S: 250 PIPELINING",
            "C: MAIL FROM:<from@client.example>",
            "C: RCPT TO:<a@mx.example>",
            "C: DATA",
            "S: 250 ok",
            "S: 250 ok",
            "S: 354 go",
            "C: [message content, 27 octets, ending with <CRLF>.<CRLF>]",
            "C: QUIT",
            "S: 250 queued",
            "S: 221 bye",
        ]
    );
}

#[test]
fn misuse_is_refused_at_the_call() {
    let mut h = Harness::new(config(), Split::Whole);
    assert_eq!(
        h.session.send(
            Envelope::new(addr("a@b.example"), Vec::<Address>::new()),
            known(BODY)
        ),
        Err(UsageError::NoRecipients)
    );
    assert_eq!(h.session.check_liveness(), Err(UsageError::Busy));
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    assert_eq!(
        h.session.push_body(id, b"x", true),
        Err(UsageError::BodyNotWanted(id))
    );
    h.session.quit();
    assert_eq!(
        h.session.send(envelope(&["a@mx.example"]), known(BODY)),
        Err(UsageError::Quitting)
    );
}

// ----- hostile and strict servers (issue 11) ---------------------------

/// Without PIPELINING, QUIT waits for RSET's reply: a strict server drops
/// a client that writes a command before the previous reply.
#[test]
fn quit_waits_for_outstanding_replies_without_pipelining() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["busy@mx.example"]), known(BODY))
            .unwrap();
        h.session.quit();
        h.connect(&[]);
        h.expect("MAIL FROM:<from@client.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("RCPT TO:<busy@mx.example>\r\n");
        h.server("450 4.2.0 try later\r\n");
        h.expect("RSET\r\n");
        assert!(h.outcome(id).is_err());
        // Nothing more until RSET is answered…
        h.expect("");
        h.server("250 reset\r\n");
        // …then QUIT.
        h.expect("QUIT\r\n");
        h.server("221 bye\r\n");
        assert_eq!(h.closed(), Some(None));
    });
}

/// With PIPELINING, QUIT may ride behind RSET.
#[test]
fn quit_is_pipelined_behind_rset_with_pipelining() {
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["busy@mx.example"]), known(BODY))
        .unwrap();
    h.session.quit();
    h.connect(&["PIPELINING"]);
    h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<busy@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n450 4.2.0 try later\r\n554 no valid recipients\r\n");
    assert!(h.outcome(id).is_err());
    h.expect("RSET\r\nQUIT\r\n");
}

/// A reply that arrives before its command was written is not an answer:
/// an extra 250 after the greeting fails the session instead of answering
/// EHLO.
#[test]
fn a_reply_to_a_command_not_yet_sent_is_a_protocol_error() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        h.server("220 mx.example ESMTP\r\n250 unsolicited\r\n");
        match h.closed() {
            Some(Some(SessionError::UnexpectedReply(r))) => assert_eq!(r.code().get(), 250),
            other => panic!("{other:?}"),
        }
    });
}

/// A 354 (or 334) answering MAIL is a protocol error, not a refusal: the
/// client must not end the pipelined DATA with a lone dot (the server
/// would queue an empty message the report calls unsent).
#[test]
fn an_intermediate_reply_to_mail_drops_the_connection() {
    for bogus in ["354 go ahead\r\n", "334 VXNlcm5hbWU6\r\n"] {
        let mut h = Harness::new(config(), Split::Whole);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
        h.server(bogus);
        let failure = h.outcome(id).unwrap_err();
        assert!(
            matches!(
                failure.kind,
                FailureKind::ConnectionLost {
                    data_sent: false,
                    ..
                }
            ),
            "{failure:?}"
        );
        assert!(matches!(
            h.closed(),
            Some(Some(SessionError::UnexpectedReply(_)))
        ));
        assert_eq!(h.client(), "", "nothing more is written, no lone dot");
        assert!(h.session.body_request().is_none());
    }
}

/// `pipeline_first_chunk`: with one recipient and BDAT, only a bounded
/// prefix of the body is written before the RCPT reply: a refused
/// recipient does not cost the whole message. A small message still goes
/// in the envelope's flight.
#[test]
fn bdat_body_waits_for_rcpt_replies_after_a_prefix() {
    let mut first = config();
    first.options.pipeline_first_chunk = true;
    let config = || first.clone();
    let mut h = Harness::new(config(), Split::Whole);
    let big = vec![b'x'; 5 << 20];
    let id = h
        .session
        .send(envelope(&["busy@mx.example"]), known(&big))
        .unwrap();
    h.connect(&["PIPELINING", "CHUNKING"]);
    let mut pushed = 0;
    while let Some(request) = h.session.body_request() {
        let n = request.max_len.min(big.len() - pushed);
        h.session
            .push_body(id, &big[pushed..pushed + n], false)
            .unwrap();
        pushed += n;
    }
    assert!(
        pushed <= 64 * 1024,
        "{pushed} octets taken before the RCPT reply"
    );
    let flight = h.client();
    assert!(!flight.contains("BDAT"), "no chunk written yet: {flight:?}");
    h.server("250 ok\r\n450 4.2.0 try later\r\n");
    assert!(h.outcome(id).is_err());
    assert!(h.session.body_request().is_none());
    assert_eq!(h.client(), "RSET\r\n");

    // 1 KiB: MAIL, RCPT and the whole body in one flight, as before.
    let mut h = Harness::new(config(), Split::Whole);
    let small = vec![b'y'; 1024];
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(&small))
        .unwrap();
    h.connect(&["PIPELINING", "CHUNKING"]);
    h.session.push_body(id, &small, true).unwrap();
    let flight = h.client();
    assert!(
        flight.starts_with(
            "MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nBDAT 1026 LAST\r\n"
        ),
        "{flight:?}"
    );
}

/// `mail.smtp.mailextension` never repeats or contradicts a parameter the
/// session sets itself.
#[test]
fn mail_extension_does_not_repeat_session_parameters() {
    let mut c = config();
    c.options.mail_extension =
        smtpkit_proto::EsmtpParam::parse_list("SIZE=1 XVERP BODY=BINARYMIME XVERP").unwrap();
    let mut h = Harness::new(c, Split::Whole);
    h.session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["PIPELINING", "SIZE 1000000"]);
    h.expect("MAIL FROM:<from@client.example> SIZE=24 XVERP\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
}

/// Reply text shown to a person has its control characters escaped: C0
/// controls are refused by the decoder, but UTF-8 C1 controls (CSI) and
/// bidirectional overrides are text to it.
#[test]
fn reply_text_is_escaped_for_display() {
    let mut h = Harness::new(config(), Split::Whole);
    h.server("554 \u{9b}2J \u{202e}gnp.exe\r\n");
    match h.closed() {
        Some(Some(e)) => {
            let shown = e.to_string();
            assert!(
                !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{shown:?}"
            );
            assert!(shown.contains("\\u{9b}2J \\u{202e}gnp.exe"), "{shown}");
        }
        other => panic!("{other:?}"),
    }
}

/// When the session dies with messages queued, the report keeps the why: a
/// 421 inside a pipelined batch is the report's reply and in its text.
#[test]
fn a_421_in_a_pipelined_batch_is_kept_in_the_report() {
    let mut h = Harness::new(config(), Split::Whole);
    let id = h
        .session
        .send(envelope(&["a@mx.example"]), known(BODY))
        .unwrap();
    h.connect(&["PIPELINING"]);
    h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
    h.server("250 ok\r\n421 4.3.2 shutting down\r\n");
    let failure = h.outcome(id).unwrap_err();
    assert_eq!(
        failure.report.reply.as_ref().map(|r| r.code().get()),
        Some(421)
    );
    assert!(failure.to_string().contains("shutting down"), "{failure}");
    assert_eq!(failure.report.unsent().count(), 1);
}

// ----- per-recipient data replies: LMTP and PRDR -------------------------

fn statuses(report: &smtpkit_proto::DeliveryReport) -> Vec<(String, u16, &'static str)> {
    report
        .recipients
        .iter()
        .map(|r| {
            let (code, kind) = match &r.status {
                RecipientStatus::Delivered(x) => (x.code().get(), "delivered"),
                RecipientStatus::Rejected(x) => (x.code().get(), "rejected"),
                RecipientStatus::AcceptedUnsent(x) => (x.code().get(), "accepted_unsent"),
                RecipientStatus::Unsent(_) => (0, "unsent"),
                _ => (0, "?"),
            };
            (r.address.to_string(), code, kind)
        })
        .collect()
}

#[test]
fn lmtp_one_reply_per_accepted_recipient_after_the_data() {
    both(|split| {
        let mut c = config();
        c.lmtp = true;
        c.options.send_partial = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(
                envelope(&["a@mx.example", "b@mx.example", "c@mx.example"]),
                known(BODY),
            )
            .unwrap();
        h.server("220 lmtp.example LMTP\r\n");
        h.expect("LHLO client.example\r\n");
        h.server("250-lmtp.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\nRCPT TO:<c@mx.example>\r\nDATA\r\n");
        h.server("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n");
        h.body(id, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        // One reply per accepted recipient (a, c): nothing is decided
        // until the last one.
        h.server("250 2.0.0 a delivered\r\n");
        assert!(
            !h.events.iter().any(|e| matches!(e, Event::Message { .. })),
            "reported before c's reply"
        );
        h.server("452 4.2.2 c is over quota\r\n");
        let report = h.outcome(id).unwrap();
        assert_eq!(
            statuses(&report),
            [
                ("a@mx.example".to_owned(), 250, "delivered"),
                ("b@mx.example".to_owned(), 550, "rejected"),
                ("c@mx.example".to_owned(), 452, "rejected"),
            ]
        );
        assert_eq!(report.failure, None);
        assert!(h.session.is_idle());
    });
}

#[test]
fn lmtp_replies_cut_short_keep_what_was_answered() {
    both(|split| {
        let mut c = config();
        c.lmtp = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
            .unwrap();
        h.server("220 lmtp.example LMTP\r\n");
        h.expect("LHLO client.example\r\n");
        h.server("250 lmtp.example\r\n");
        h.expect("MAIL FROM:<from@client.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("RCPT TO:<a@mx.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("RCPT TO:<b@mx.example>\r\n");
        h.server("250 ok\r\n");
        h.expect("DATA\r\n");
        h.server("354 go\r\n");
        h.body(id, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("250 2.0.0 a delivered\r\n");
        h.session.handle_eof(h.now);
        let failure = h.outcome(id).unwrap();
        // a's delivery was acknowledged: it stays delivered; b may have
        // been delivered, and the report says so.
        assert_eq!(failure.delivered().count(), 1);
        assert!(failure.may_have_been_delivered());
        assert_eq!(
            failure.recipients[1].status,
            RecipientStatus::Unsent(UnsentReason::ConnectionLost)
        );
    });
}

#[test]
fn lmtp_has_no_helo_fallback() {
    both(|split| {
        let mut c = config();
        c.lmtp = true;
        let mut h = Harness::new(c, split);
        h.server("220 lmtp.example\r\n");
        h.expect("LHLO client.example\r\n");
        h.server("500 5.5.1 unknown command\r\n");
        assert!(matches!(
            h.closed(),
            Some(Some(SessionError::HeloRejected(_)))
        ));
        assert!(!h.client().contains("HELO"));
    });
}

#[test]
fn prdr_refuses_one_recipient_after_the_data() {
    both(|split| {
        let mut c = config();
        c.options.send_partial = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING", "PRDR"]);
        h.expect("MAIL FROM:<from@client.example> PRDR\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n");
        h.server("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
        h.body(id, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("353 content analysis started\r\n250 2.0.0 a ok\r\n");
        h.server("550 5.7.1 b does not want it\r\n250 2.0.0 accepted for some\r\n");
        let report = h.outcome(id).unwrap();
        assert_eq!(
            statuses(&report),
            [
                ("a@mx.example".to_owned(), 250, "delivered"),
                ("b@mx.example".to_owned(), 550, "rejected"),
            ]
        );
        assert_eq!(report.reply.unwrap().message(), "accepted for some");
        assert!(h.session.is_idle());
    });
}

#[test]
fn prdr_only_for_several_recipients_and_a_plain_reply_still_decides() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let one = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING", "PRDR"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
        h.server("250 ok\r\n250 ok\r\n354 go\r\n");
        h.body(one, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("250 ok\r\n");
        assert!(h.outcome(one).unwrap().all_delivered());
        // PRDR asked for, the server answers for the whole message.
        let two = h
            .session
            .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
            .unwrap();
        // (Without sendpartial, DATA waits for the RCPT replies.)
        h.expect("MAIL FROM:<from@client.example> PRDR\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\n");
        h.server("250 ok\r\n250 ok\r\n250 ok\r\n");
        h.expect("DATA\r\n");
        h.server("354 go\r\n");
        h.body(two, BODY);
        h.expect("Subject: test\r\n\r\nHello\r\n.\r\n");
        h.server("554 5.7.1 refused for all\r\n");
        let failure = h.outcome(two).unwrap_err();
        assert!(matches!(failure.kind, FailureKind::MessageRejected(_)));
        // A 353 anywhere else is still a protocol error.
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.client();
        h.server("250 ok\r\n250 ok\r\n354 go\r\n");
        h.body(id, BODY);
        h.client();
        h.server("353 not asked for\r\n");
        assert!(matches!(
            h.closed(),
            Some(Some(SessionError::UnexpectedReply(_)))
        ));
    });
}

/// A refused MAIL, its pipelined RCPTs answered 503, then the connection
/// drops before the DATA reply: the recipients were not tried, so they
/// are unsent, not refused with the 503.
#[test]
fn recipients_behind_a_refused_mail_stay_unsent_when_the_connection_drops() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n");
        h.server("550 5.7.1 not you\r\n503 5.5.1 need MAIL\r\n");
        h.session.handle_eof(h.now);
        let failure = h.outcome(id).unwrap_err();
        assert_eq!(
            failure.report.recipients[0].status,
            RecipientStatus::Unsent(UnsentReason::ConnectionLost),
            "{failure:?}"
        );
    });
}

// ----- BDAT data only into an accepted transaction (issue 25) ------------

/// A body with lines a server that does not discard a refused chunk would
/// run as commands.
const INJECTING: &[u8] = b"Subject: hi\r\n\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nspam\r\n";

/// Whether the client has written any BDAT or any of the body's lines.
fn leaked(flight: &str) -> bool {
    flight.contains("BDAT") || flight.contains("evil@") || flight.contains("victim@")
}

/// The first chunk is written only after the replies to MAIL and every
/// RCPT, each flight exactly; on a reused connection the next message's
/// envelope rides with the previous message's last chunk: one round trip
/// per message.
#[test]
fn bdat_waits_for_the_envelope_replies_and_keeps_one_round_trip_per_message() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let one = h
            .session
            .send(envelope(&["a@mx.example"]), known(INJECTING))
            .unwrap();
        let two = h
            .session
            .send(envelope(&["b@mx.example"]), known(INJECTING))
            .unwrap();
        h.session.quit();
        h.connect(&["PIPELINING", "CHUNKING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\n");
        assert!(
            h.session.body_request().is_none(),
            "no body before the replies"
        );
        assert_eq!(
            h.session.push_body(one, INJECTING, true),
            Err(UsageError::BodyNotWanted(one))
        );
        h.server("250 2.1.0 ok\r\n");
        assert!(
            h.session.body_request().is_none(),
            "not before the RCPT reply"
        );
        h.expect("");
        h.server("250 2.1.5 ok\r\n");
        h.body(one, INJECTING);
        // Message one's only chunk, then message two's envelope.
        h.expect(
            "BDAT 87 LAST\r\nSubject: hi\r\n\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nspam\r\n\
MAIL FROM:<from@client.example>\r\nRCPT TO:<b@mx.example>\r\n",
        );
        assert!(h.session.body_request().is_none());
        h.server("250 2.0.0 one queued\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n");
        assert!(h.outcome(one).unwrap().all_delivered());
        h.body(two, INJECTING);
        let flight = h.client();
        assert!(flight.starts_with("BDAT 87 LAST\r\n"), "{flight:?}");
        assert!(flight.ends_with("spam\r\nQUIT\r\n"), "{flight:?}");
        h.server("250 2.0.0 two queued\r\n221 bye\r\n");
        assert!(h.outcome(two).unwrap().all_delivered());
        assert_eq!(h.closed(), Some(None));
    });
}

/// MAIL refused, or every RCPT refused: no BDAT and no body octet is ever
/// written; the transaction is reset and the next message starts, and
/// every recipient ends in one state that matches what the server said.
#[test]
fn refused_mail_or_recipients_get_no_chunk() {
    both(|split| {
        let mut c = config();
        c.options.send_partial = true;
        let mut h = Harness::new(c, split);
        let sender_refused = h
            .session
            .send(envelope(&["a@mx.example"]), known(INJECTING))
            .unwrap();
        let all_refused = h
            .session
            .send(
                envelope(&["b@mx.example", "c@mx.example"]),
                known(INJECTING),
            )
            .unwrap();
        let delivered = h
            .session
            .send(envelope(&["d@mx.example"]), known(BODY))
            .unwrap();
        h.session.quit();
        h.connect(&["PIPELINING", "CHUNKING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\n");
        h.server("530 5.7.0 Authentication required\r\n");
        assert!(h.session.body_request().is_none());
        h.expect("");
        h.server("530 5.7.0 Authentication required\r\n");
        let flight = h.client();
        assert!(!leaked(&flight), "{flight:?}");
        assert_eq!(
            flight,
            "RSET\r\nMAIL FROM:<from@client.example>\r\nRCPT TO:<b@mx.example>\r\nRCPT TO:<c@mx.example>\r\n"
        );
        let failure = h.outcome(sender_refused).unwrap_err();
        assert!(
            matches!(failure.kind, FailureKind::SenderRejected(ref r) if r.code().get() == 530)
        );
        assert_eq!(
            failure.report.recipients[0].status,
            RecipientStatus::Unsent(UnsentReason::TransactionFailed)
        );
        h.server("250 reset\r\n250 2.1.0 ok\r\n550 5.1.1 no b\r\n");
        assert!(h.session.body_request().is_none());
        h.server("550 5.1.1 no c\r\n");
        let flight = h.client();
        assert!(!leaked(&flight), "{flight:?}");
        assert_eq!(
            flight,
            "RSET\r\nMAIL FROM:<from@client.example>\r\nRCPT TO:<d@mx.example>\r\n"
        );
        let failure = h.outcome(all_refused).unwrap_err();
        assert_eq!(failure.kind, FailureKind::RecipientsRejected);
        assert!(
            failure.report.recipients.iter().all(
                |r| matches!(&r.status, RecipientStatus::Rejected(x) if x.code().get() == 550)
            )
        );
        h.server("250 reset\r\n250 ok\r\n250 ok\r\n");
        h.body(delivered, BODY);
        h.expect("BDAT 24 LAST\r\nSubject: test\r\n\r\nHello\r\nQUIT\r\n");
        h.server("250 2.0.0 queued\r\n221 bye\r\n");
        assert!(h.outcome(delivered).unwrap().all_delivered());
    });
}

/// The connection ends while the envelope's replies are awaited: no body
/// octet was written, and the report says so (`data_sent: false`).
#[test]
fn connection_lost_before_the_envelope_replies_sent_no_data() {
    both(|split| {
        let mut h = Harness::new(config(), split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(INJECTING))
            .unwrap();
        h.connect(&["PIPELINING", "CHUNKING"]);
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\n");
        h.server("250 ok\r\n");
        h.session.handle_eof(h.now);
        let failure = h.outcome(id).unwrap_err();
        assert!(
            matches!(
                failure.kind,
                FailureKind::ConnectionLost {
                    data_sent: false,
                    ..
                }
            ),
            "{failure:?}"
        );
        assert!(!failure.report.may_have_been_delivered());
    });
}

/// LMTP and PRDR follow the same rule: the chunk after the replies.
#[test]
fn lmtp_and_prdr_chunks_wait_for_the_envelope_replies() {
    both(|split| {
        let mut c = config();
        c.lmtp = true;
        c.options.send_partial = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
            .unwrap();
        h.server("220 lmtp.example LMTP\r\n");
        h.expect("LHLO client.example\r\n");
        h.server("250-lmtp.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n");
        h.expect("MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\n");
        h.server("250 ok\r\n250 ok\r\n");
        assert!(h.session.body_request().is_none());
        h.server("550 5.1.1 no b\r\n");
        h.body(id, BODY);
        h.expect("BDAT 24 LAST\r\nSubject: test\r\n\r\nHello\r\n");
        h.server("250 2.0.0 a delivered\r\n");
        assert_eq!(
            statuses(&h.outcome(id).unwrap()),
            [
                ("a@mx.example".to_owned(), 250, "delivered"),
                ("b@mx.example".to_owned(), 550, "rejected"),
            ]
        );

        let mut c = config();
        c.options.send_partial = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example", "b@mx.example"]), known(BODY))
            .unwrap();
        h.connect(&["PIPELINING", "CHUNKING", "PRDR"]);
        h.expect("MAIL FROM:<from@client.example> PRDR\r\nRCPT TO:<a@mx.example>\r\nRCPT TO:<b@mx.example>\r\n");
        h.server("250 ok\r\n250 ok\r\n250 ok\r\n");
        h.body(id, BODY);
        h.expect("BDAT 24 LAST\r\nSubject: test\r\n\r\nHello\r\n");
        h.server("353 go on\r\n250 2.0.0 a ok\r\n550 5.7.1 not b\r\n250 2.0.0 some\r\n");
        assert_eq!(
            statuses(&h.outcome(id).unwrap()),
            [
                ("a@mx.example".to_owned(), 250, "delivered"),
                ("b@mx.example".to_owned(), 550, "rejected"),
            ]
        );
    });
}

/// `pipeline_first_chunk` (`mail.smtp.chunking.pipelinefirst`): the old
/// flight, MAIL + RCPT + BDAT LAST and the body together; a refused MAIL
/// then costs the chunk on the wire.
#[test]
fn pipeline_first_chunk_writes_the_chunk_with_the_envelope() {
    both(|split| {
        let mut c = config();
        c.options.pipeline_first_chunk = true;
        let mut h = Harness::new(c, split);
        let id = h
            .session
            .send(envelope(&["a@mx.example"]), known(INJECTING))
            .unwrap();
        h.connect(&["PIPELINING", "CHUNKING"]);
        h.body(id, INJECTING);
        h.expect(
            "MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nBDAT 87 LAST\r\nSubject: hi\r\n\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nspam\r\n",
        );
        h.server("550 5.7.1 no\r\n503 5.5.1 need MAIL\r\n554 5.5.1 no valid recipients\r\n");
        let failure = h.outcome(id).unwrap_err();
        assert!(matches!(failure.kind, FailureKind::SenderRejected(_)));
        // BDAT LAST ended the (failed) transaction: nothing to reset.
        assert_eq!(h.client(), "");
        assert!(h.session.is_idle());
    });
}
