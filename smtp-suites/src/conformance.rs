//! The one conformance suite. Every adapter (blocking, tokio, smol,
//! async-std) implements [`Adapter`] in a few lines and expands
//! [`conformance_suite!`](crate::conformance_suite) in its tests; the
//! scenarios below run unchanged against each, over loopback, and the
//! client's half of each transcript, the server's record and the errors
//! must be what the scenario expects, so every runtime provably says the
//! same thing. A client test against the test server belongs here, not in
//! one client's tests.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use smtpkit_client::exports::oauth2;
use smtpkit_client::{ClientSettings, Protocol, ProxyKind, ProxySettings};
use smtpkit_client::{ConnectFailure, Error, TranscriptHook};
use smtpkit_proto::proxy::ProxyError;
use smtpkit_proto::{
    Address, AuthError, DeliveryReport, Envelope, FailureKind, Host, SaslError, SelectError,
    SessionError, SessionInfo, TlsErrorKind,
};
use smtpkit_tls::{TlsFailure, TlsFailureKind};

use smtpkit_testserver::{Action, ProxyProtocol, Script, TestCa, TestProxy, TestServer, When};

/// Each message's result, or the connection's error.
pub type RunResult = Result<Vec<Result<DeliveryReport, Error>>, Error>;

/// A message body the suites send.
#[derive(Debug, Clone)]
pub enum TestBody {
    /// In memory.
    Bytes(Vec<u8>),
    /// A file (inspected, and replayable, on every client).
    File(std::path::PathBuf),
    /// A reader over these bytes, streamed once, of unknown content.
    Reader(Vec<u8>),
}

/// A message a builder made, handed to the client's `send_message` as it
/// is (smtpkit-client's `lettre` and `mail-builder` features): see
/// [`built_messages`].
#[derive(Debug, Clone)]
pub enum BuiltMessage {
    /// A `lettre::Message`, by value.
    Lettre(lettre::Message),
    /// A `lettre::Message`, by reference (as lettre's transports take it).
    LettreRef(lettre::Message),
    /// A `mail_builder::MessageBuilder`.
    MailBuilder(mail_builder::MessageBuilder<'static>),
}

/// `match $message { … }` on a [`BuiltMessage`], evaluating `$send` with
/// `$m` bound to the message as `send_message` takes it (by value, or a
/// reference for [`BuiltMessage::LettreRef`]): the adapters' one line for
/// each way they send one.
#[macro_export]
macro_rules! with_built {
    ($message:expr, $m:ident => $send:expr) => {
        match $message {
            $crate::conformance::BuiltMessage::Lettre($m) => $send,
            $crate::conformance::BuiltMessage::LettreRef(ref $m) => $send,
            $crate::conformance::BuiltMessage::MailBuilder($m) => $send,
        }
    };
}

/// One established connection of an adapter, driven synchronously.
pub trait Connection {
    /// Sends one message (the client's `send`).
    ///
    /// # Errors
    /// As the client's `send`.
    fn send(&mut self, envelope: Envelope, body: TestBody) -> Result<DeliveryReport, Error>;
    /// Sends `messages` in one pipelined batch.
    fn send_all(
        &mut self,
        messages: Vec<(Envelope, TestBody)>,
    ) -> Vec<Result<DeliveryReport, Error>>;
    /// Sends a whole RFC 5322 message, the envelope from its header (the
    /// client's `send_message`).
    ///
    /// # Errors
    /// As the client's `send_message`.
    fn send_message(&mut self, message: TestBody) -> Result<DeliveryReport, Error>;
    /// Sends a message a builder made, as it is (the client's
    /// `send_message`).
    ///
    /// # Errors
    /// As the client's `send_message`.
    fn send_built(&mut self, message: BuiltMessage) -> Result<DeliveryReport, Error>;
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
    /// As the client's `connect_reporting`: the error, and what the
    /// session learnt before it.
    fn connect(
        settings: &ClientSettings,
        transcript: Option<TranscriptHook>,
    ) -> Result<Box<dyn Connection>, ConnectFailure>;

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

    /// The client's one-call `send_message`: connects, sends, closes.
    ///
    /// # Errors
    /// As the client's `send_message` function.
    fn send_message_once(
        settings: &ClientSettings,
        message: TestBody,
    ) -> Result<DeliveryReport, Error>;

    /// A pool's `send_message` (with its retries), on a pool made for
    /// `settings` with `config`, which is closed afterwards.
    ///
    /// # Errors
    /// As the pool's `send_message`.
    fn pool_send_message(
        settings: &ClientSettings,
        config: smtpkit_client::PoolConfig,
        message: TestBody,
    ) -> Result<DeliveryReport, Error>;

    /// The client's one-call `send_message` with a message a builder
    /// made.
    ///
    /// # Errors
    /// As the client's `send_message` function.
    fn send_built_once(
        settings: &ClientSettings,
        message: BuiltMessage,
    ) -> Result<DeliveryReport, Error>;

    /// A pool's `send_message` with a message a builder made, as
    /// [`pool_send_message`](Self::pool_send_message).
    ///
    /// # Errors
    /// As the pool's `send_message`.
    fn pool_send_built(
        settings: &ClientSettings,
        config: smtpkit_client::PoolConfig,
        message: BuiltMessage,
    ) -> Result<DeliveryReport, Error>;

    /// A relay pool for `set` with `config` sends each message (a
    /// message-level send, one after the other), then is closed; each
    /// message's report.
    fn relay_send_messages(
        set: smtpkit_client::relay::RelaySet,
        config: smtpkit_client::PoolConfig,
        messages: Vec<TestBody>,
    ) -> Vec<Result<smtpkit_client::relay::RelayReport, Error>>;

    /// The client's one-call `send_message_via`: a message through a
    /// relay set.
    ///
    /// # Errors
    /// As the client's `send_message_via`.
    fn relay_send_once(
        set: &smtpkit_client::relay::RelaySet,
        message: TestBody,
    ) -> Result<smtpkit_client::relay::RelayReport, Error>;

    /// A pool made for `settings` with `config`, shared by the threads of
    /// [`pool_send_until`].
    fn pool(settings: &ClientSettings, config: smtpkit_client::PoolConfig) -> Box<dyn SharedPool>;

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

/// A client's pool, driven from many threads at once (each call runs on
/// the client's runtime).
pub trait SharedPool: Sync {
    /// The pool's `send_message`.
    ///
    /// # Errors
    /// As the pool's `send_message`.
    fn send_message(&self, message: TestBody) -> Result<DeliveryReport, Error>;

    /// Closes the pool (QUIT on every idle connection).
    fn close(self: Box<Self>);
}

/// `tasks` concurrent senders share one pool of `A` made for `settings`
/// with `config`; each sends message `message(i)` (`i` counts every
/// message of the run) once, then more until `until`. Then the pool is
/// closed. Each message's result, in no particular order.
pub fn pool_send_until<A: Adapter>(
    settings: &ClientSettings,
    config: smtpkit_client::PoolConfig,
    tasks: usize,
    until: Instant,
    message: &(dyn Fn(usize) -> TestBody + Sync),
) -> Vec<Result<DeliveryReport, Error>> {
    let pool = A::pool(settings, config);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::thread::scope(|scope| {
        let senders: Vec<_> = (0..tasks)
            .map(|_| {
                scope.spawn(|| {
                    let mut results = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        results.push(pool.send_message(message(i)));
                        if Instant::now() >= until {
                            return results;
                        }
                    }
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap_or_default())
            .collect()
    });
    pool.close();
    results
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
    s.session.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(10));
    s
}

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

fn start(script: Script) -> TestServer {
    TestServer::start(script).unwrap_or_else(|e| panic!("test server: {e}"))
}

fn set(settings: &mut ClientSettings, key: &str, value: &str) {
    settings
        .set(key, value)
        .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
}

/// Connects without a transcript; a failure is the test's.
fn connect<A: Adapter>(settings: &ClientSettings) -> Box<dyn Connection> {
    A::connect(settings, None).unwrap_or_else(|e| panic!("{}: {e}", A::NAME))
}

/// The error that connecting must end in.
fn connect_error<A: Adapter>(settings: &ClientSettings) -> Error {
    match A::connect(settings, None) {
        Ok(_) => panic!("{}: connected, expected an error", A::NAME),
        Err(e) => e.error,
    }
}

/// Connects, sends one small message, closes.
fn send_one<A: Adapter>(settings: &ClientSettings) -> Result<(), Error> {
    let mut connection = A::connect(settings, None)?;
    connection.send(envelope(&["b@example.org"]), TestBody::Bytes(BODY.to_vec()))?;
    connection.close()
}

/// `data` without the `Date:` and `Message-ID:` lines a message-level
/// send added (each send draws its own), which must both be there.
pub fn unstamped(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let kept: String = lines
        .iter()
        .filter(|l| !l.starts_with("Date: ") && !l.starts_with("Message-ID: "))
        .copied()
        .collect();
    assert_eq!(lines.len() - kept.lines().count(), 2, "{text}");
    kept
}

/// A path in the temporary directory for this process and adapter:
/// `what` with the process id and the adapter's name before its
/// extension (`smtp-long.eml` → `smtp-long-PID-blocking.eml`).
fn scratch<A: Adapter>(what: &str) -> std::path::PathBuf {
    let (stem, ext) = what.split_once('.').map_or((what, ""), |(s, e)| (s, e));
    let adapter = A::NAME.replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let dot = if ext.is_empty() { "" } else { "." };
    std::env::temp_dir().join(format!("{stem}-{}-{adapter}{dot}{ext}", std::process::id()))
}

/// A message-level send `way`: on a connection (`client`), through the
/// one-call function (`one-call`), or through a pool (`pool`, a short
/// retry backoff).
fn send_message_by<A: Adapter>(
    way: &str,
    settings: &ClientSettings,
    body: TestBody,
) -> Result<DeliveryReport, Error> {
    match way {
        "client" => {
            let mut connection = connect::<A>(settings);
            let report = connection.send_message(body);
            let _ = connection.close();
            report
        }
        "one-call" => A::send_message_once(settings, body),
        _ => {
            let mut config = smtpkit_client::PoolConfig::default();
            config.retry_backoff = Duration::from_millis(10);
            A::pool_send_message(settings, config, body)
        }
    }
}

/// The server's commands once it has seen `n` of them: it records each on
/// its own thread, possibly after the client has moved on.
fn commands_seen(server: &TestServer, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let commands = server.commands();
        if commands.len() >= n || Instant::now() >= deadline {
            return commands;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// CHUNKING: BDAT LAST once MAIL and RCPT were accepted.
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

/// A message whose lines are commands: a server that reads a refused BDAT
/// chunk as commands (Dovecot 2.3's submission service before AUTH,
/// go-smtp after a refused MAIL) would run them, and store spam for
/// `victim@example.net`.
const INJECTING: &[u8] = b"Subject: lines that are commands\r\n\r\n\
MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\n\
Subject: spam\r\n\r\nspam\r\n.\r\nQUIT\r\n";

/// [`run`], with the whole transcript (the server's lines too).
fn run_with_replies<A: Adapter>(
    settings: &ClientSettings,
    messages: Vec<(Envelope, Vec<u8>)>,
) -> (RunResult, Vec<String>) {
    let (hook, lines) = recorder();
    let result = A::run(settings, hook, messages);
    let lines = lines.lock().unwrap_or_else(PoisonError::into_inner).clone();
    (result, lines)
}

/// The commands a transcript shows the client writing, as a server logs
/// them.
fn commands_written(transcript: &[String]) -> Vec<String> {
    transcript
        .iter()
        .filter_map(|l| l.strip_prefix("C: "))
        .map(|l| l.strip_suffix(" [chunk]").unwrap_or(l).to_owned())
        .collect()
}

/// The replies a transcript shows (a multi-line reply once), the greeting
/// left out.
fn replies_read(transcript: &[String]) -> usize {
    transcript
        .iter()
        .filter(|l| l.starts_with("S: ") && l.as_bytes().get(6) != Some(&b'-'))
        .count()
        .saturating_sub(1)
}

/// The server's transactions once one matches `found`, or after 5 s.
fn transactions_eventually(
    server: &TestServer,
    found: impl Fn(&smtpkit_testserver::Transaction) -> bool,
) -> Vec<smtpkit_testserver::Transaction> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let transactions = server.transactions();
        if transactions.iter().any(&found) || Instant::now() >= deadline {
            return transactions;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Issue 25: no message octet reaches a server before it accepted the
/// transaction. Against a server that reads a refused chunk as commands
/// (`Script::chunks_not_discarded`): a refused MAIL, a refused AUTH-less
/// MAIL (530) and an envelope whose only recipient is refused get no BDAT,
/// and the server runs exactly the commands the client wrote (as many
/// replies as commands); an accepted envelope on the same connection gets
/// its BDAT after the MAIL and RCPT replies, delivered byte-exact. With
/// `mail.smtp.chunking.pipelinefirst=true` the chunk rides with MAIL and
/// RCPT again, and the same server runs the message's lines.
pub fn chunks_only_into_an_accepted_transaction<A: Adapter>() {
    let name = A::NAME;
    let script = Script::new()
        .chunks_not_discarded()
        .rule_times(
            When::Command("MAIL"),
            Action::reply("550 5.7.1 sender refused\r\n"),
            1,
        )
        .rule(
            When::RcptTo("nobody@example.org".into()),
            Action::reply("550 5.1.1 no such user\r\n"),
        );
    let server = start(script.clone());
    let (result, transcript) = run_with_replies::<A>(
        &settings_for(&server),
        vec![
            (envelope(&["a@example.org"]), INJECTING.to_vec()),
            (envelope(&["nobody@example.org"]), INJECTING.to_vec()),
            (envelope(&["a@example.org"]), INJECTING.to_vec()),
        ],
    );
    let results = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    let report = |i: usize| {
        results[i]
            .as_ref()
            .unwrap_or_else(|e| panic!("{name}: message {i}: {e}"))
    };
    assert!(
        matches!(&report(0).failure, Some(FailureKind::SenderRejected(r)) if r.code().get() == 550),
        "{name}: {:?}",
        report(0)
    );
    assert_eq!(report(0).unsent().count(), 1, "{name}: not tried");
    assert_eq!(
        report(1).failure,
        Some(FailureKind::RecipientsRejected),
        "{name}"
    );
    assert_eq!(report(1).rejected().count(), 1, "{name}");
    assert!(report(2).all_delivered(), "{name}: {:?}", report(2));
    let written = commands_written(&transcript);
    assert_eq!(
        written.iter().filter(|c| c.starts_with("BDAT")).count(),
        1,
        "{name}: one chunk, for the accepted message: {transcript:#?}"
    );
    // The chunk follows the server's replies to its MAIL and RCPT.
    let bdat = transcript
        .iter()
        .position(|l| l.starts_with("C: BDAT"))
        .unwrap_or_else(|| panic!("{name}: no BDAT: {transcript:#?}"));
    assert!(
        transcript[bdat - 2..bdat]
            .iter()
            .all(|l| l.starts_with("S: 250")),
        "{name}: {transcript:#?}"
    );
    // The server ran exactly what the client wrote: no line of a message.
    assert_eq!(
        commands_seen(&server, written.len()),
        written,
        "{name}: the server ran other commands than the client wrote"
    );
    assert_eq!(replies_read(&transcript), written.len(), "{name}");
    let transactions = server.transactions();
    assert_eq!(transactions.len(), 1, "{name}: {transactions:?}");
    assert_eq!(transactions[0].rcpt_to, ["a@example.org"], "{name}");
    assert!(transactions[0].bdat, "{name}");
    assert_eq!(transactions[0].data, INJECTING, "{name}: byte-exact");

    // MAIL before AUTH (530, as Dovecot's submission answers): no chunk.
    let server = start(
        Script::new()
            .chunks_not_discarded()
            .auth(["PLAIN"], &[("alice", "secret")]),
    );
    let (result, transcript) = run_with_replies::<A>(
        &settings_for(&server),
        vec![(envelope(&["a@example.org"]), INJECTING.to_vec())],
    );
    let results = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        matches!(
            &results[0],
            Ok(DeliveryReport { failure: Some(FailureKind::SenderRejected(r)), .. }) if r.code().get() == 530
        ),
        "{name}: {results:?}"
    );
    let written = commands_written(&transcript);
    assert!(
        !written.iter().any(|c| c.starts_with("BDAT")),
        "{name}: {written:?}"
    );
    assert_eq!(commands_seen(&server, written.len()), written, "{name}");
    assert_eq!(replies_read(&transcript), written.len(), "{name}");
    assert!(server.transactions().is_empty(), "{name}");

    // The opt-in: the chunk in the envelope's flight, before any reply.
    let server = start(Script::new());
    let mut s = settings_for(&server);
    set(&mut s, "mail.smtp.chunking.pipelinefirst", "true");
    let (result, transcript) =
        run_with_replies::<A>(&s, vec![(envelope(&["a@example.org"]), INJECTING.to_vec())]);
    let results = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        results[0].as_ref().is_ok_and(DeliveryReport::all_delivered),
        "{name}: {results:?}"
    );
    let bdat = transcript
        .iter()
        .position(|l| l.starts_with("C: BDAT"))
        .unwrap_or_else(|| panic!("{name}: no BDAT: {transcript:#?}"));
    assert!(
        transcript[bdat - 2].starts_with("C: MAIL") && transcript[bdat - 1].starts_with("C: RCPT"),
        "{name}: {transcript:#?}"
    );
    assert_eq!(server.transactions()[0].data, INJECTING, "{name}");
    // …and against the server that does not discard a refused chunk, the
    // message's lines run: what the default prevents.
    let server = start(script);
    let mut s = settings_for(&server);
    set(&mut s, "mail.smtp.chunking.pipelinefirst", "true");
    let _ = run::<A>(&s, vec![(envelope(&["a@example.org"]), INJECTING.to_vec())]);
    let injected = transactions_eventually(&server, |t| t.mail_from == "evil@example.net");
    assert!(
        injected
            .iter()
            .any(|t| t.mail_from == "evil@example.net" && t.rcpt_to == ["victim@example.net"]),
        "{name}: the test server's defect did not show: {injected:?}"
    );
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
        // A completed transaction, refusals included, is an `Ok` report.
        Ok(report) => {
            assert_eq!(report.failure, Some(FailureKind::RecipientsRejected));
            assert_eq!(report.unsent().count(), 1);
            // JavaMail's all-or-nothing view of the same report.
            let failure = report.clone().into_result().unwrap_err();
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

/// STARTTLS with a verified certificate (what the client knows of it, EHLO
/// again after the upgrade), implicit TLS, and an untrusted certificate.
pub fn tls<A: Adapter>() {
    let name = A::NAME;
    let ca = TestCa::new(&["localhost"]).unwrap_or_else(|e| panic!("{e}"));
    let server = start(
        Script::new()
            .starttls(&ca)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let mut s = settings_for(&server);
    s.host = "localhost".into();
    set(&mut s, "mail.smtp.starttls.required", "true");
    s.tls.trust_ca_pem(ca.ca_pem.clone(), true);
    let (hook, seen) = recorder();
    let mut connection = A::connect(&s, Some(hook)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let info = connection
        .info()
        .tls
        .unwrap_or_else(|| panic!("{name}: no TLS"));
    assert!(info.verified, "{name}");
    assert!(
        info.version.is_some() && info.cipher_suite.is_some(),
        "{name}: {info:?}"
    );
    assert!(!info.peer_certificates.is_empty(), "{name}");
    connection
        .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    connection.close().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        client_lines(&seen)[..3],
        lines(&[
            "C: EHLO client.example",
            "C: STARTTLS",
            "C: EHLO client.example"
        ]),
        "{name}"
    );
    assert_eq!(
        server
            .commands()
            .iter()
            .filter(|c| c.starts_with("EHLO"))
            .count(),
        2,
        "{name}: EHLO again after TLS"
    );
    assert_eq!(server.transactions().len(), 1, "{name}");

    let server = start(
        Script::new()
            .implicit_tls(&ca)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let mut s2 = s.clone();
    s2.port = Some(server.addr().port());
    set(&mut s2, "mail.smtp.starttls.required", "false");
    set(&mut s2, "mail.smtp.ssl.enable", "true");
    let mut connection = connect::<A>(&s2);
    assert!(
        connection.info().tls.is_some_and(|t| t.verified),
        "{name}: implicit TLS"
    );
    connection
        .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = connection.close();
    assert_eq!(server.commands()[0], "EHLO client.example", "{name}");

    // An untrusted certificate is an error, never a fallback.
    let other = TestCa::new(&["localhost"]).unwrap_or_else(|e| panic!("{e}"));
    let mut s3 = s.clone();
    s3.tls.settings.extra_ca_pem = vec![other.ca_pem.into_bytes()];
    match run::<A>(&s3, vec![]).0 {
        Err(Error::Session(SessionError::Tls(e))) => {
            assert_eq!(e.kind, TlsErrorKind::Certificate, "{name}");
            assert_eq!(
                TlsFailure::of(&e).map(TlsFailure::kind),
                Some(TlsFailureKind::UnknownIssuer),
                "{name}"
            );
        }
        other => panic!("{name}: {other:?}"),
    }
}

/// Every mechanism the test server knows: the right secret authenticates
/// and the message goes; a wrong one is refused with the server's reply.
pub fn auth_mechanisms<A: Adapter>() {
    let name = A::NAME;
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
        let server = start(Script::new().auth(mechanisms, &[("alice", "s3cret pass")]));
        let mut s = settings_for(&server);
        s.auth.credentials.user = "alice".into();
        s.auth.enabled = true;
        s.auth.credentials.password = "s3cret pass".into();
        s.auth.mechanisms = Some(mechanism.into());
        // The test server has no TLS: PLAIN and LOGIN need the opt-in.
        s.auth.allow_plaintext = true;
        if let Some(feature) = smtpkit_auth::missing_feature(mechanism) {
            // This build left the mechanism out (a legacy one, behind its
            // feature): naming it, typed or by property, is a typed error
            // naming the feature, before anything is sent.
            let mut by_property = s.clone();
            by_property.auth.mechanisms = None;
            set(&mut by_property, "mail.smtp.auth.mechanisms", mechanism);
            for s in [&s, &by_property] {
                match connect_error::<A>(s) {
                    Error::AuthConfig(SelectError::NotBuiltIn {
                        mechanism: m,
                        feature: f,
                    }) => assert_eq!((m.as_str(), f), (mechanism, feature), "{name}"),
                    other => panic!("{name} {mechanism}: {other:?}"),
                }
            }
            assert!(server.commands().is_empty(), "{name} {mechanism}");
            continue;
        }
        let (hook, seen) = recorder();
        let mut connection =
            A::connect(&s, Some(hook)).unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        assert_eq!(
            connection.info().auth_mechanism.as_deref(),
            Some(mechanism),
            "{name}"
        );
        connection
            .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
            .unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        connection
            .close()
            .unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        let transcript = client_lines(&seen);
        assert!(
            transcript.contains(&format!("C: AUTH {mechanism}"))
                || transcript.contains(&format!("C: AUTH {mechanism} [redacted]")),
            "{name}: {transcript:?}"
        );
        assert!(
            !transcript.iter().any(|l| l.contains("s3cret")),
            "{name} {mechanism}"
        );
        assert_eq!(
            server.authentications(),
            [(mechanism.to_owned(), "alice".to_owned())],
            "{name}"
        );
        assert_eq!(server.transactions().len(), 1, "{name} {mechanism}");

        s.auth.credentials.password = "wrong".into();
        let server = start(Script::new().auth(mechanisms, &[("alice", "s3cret pass")]));
        s.port = Some(server.addr().port());
        match connect_error::<A>(&s) {
            Error::Session(SessionError::Auth(AuthError::Rejected { reply })) => {
                assert_eq!(reply.code().get(), 535, "{name} {mechanism}");
            }
            // A refused bearer token is typed, with the server's JSON
            // error challenge parsed.
            Error::Session(SessionError::Auth(AuthError::TokenRefused {
                reply,
                error: Some(error),
                ..
            })) if mechanism.contains("OAUTH") => {
                assert_eq!(reply.code().get(), 535, "{name} {mechanism}");
                assert!(error.is_invalid_token(), "{name}: {error}");
            }
            other => panic!("{name} {mechanism}: {other:?}"),
        }
        assert!(server.authentications().is_empty(), "{name} {mechanism}");
        assert!(server.transactions().is_empty(), "{name} {mechanism}");
    }
    // Secrets that travel in the clear (passwords, bearer tokens) never
    // cross a connection without TLS unless the caller said so.
    for mechanism in ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER"] {
        let server = TestServer::start(Script::new().auth([mechanism], &[("alice", "secret")]))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut s = settings_for(&server);
        s.auth.credentials.user = "alice".into();
        s.auth.enabled = true;
        s.auth.credentials.password = "secret".into();
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

/// Faults: a reply that never comes (the deadline, not earlier), a drop
/// mid-DATA, a 421 in the middle of a transaction.
pub fn faults<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().rule(When::EndOfData, Action::Hang));
    let mut s = settings_for(&server);
    set(&mut s, "mail.smtp.timeout", "300");
    let started = Instant::now();
    let (result, _) = run::<A>(&s, vec![(envelope(&["a@example.org"]), BODY.to_vec())]);
    match result {
        Ok(results) => match &results[0] {
            Err(Error::Send {
                report,
                cause: Some(cause),
            }) if matches!(**cause, Error::Session(SessionError::Timeout { .. })) => {
                assert!(
                    matches!(
                        report.failure,
                        Some(FailureKind::ConnectionLost {
                            data_sent: true,
                            ..
                        })
                    ),
                    "{name}: {report:?}"
                );
                assert!(report.may_have_been_delivered(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        },
        Err(e) => panic!("{name}: {e}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{name}: gave up before the deadline"
    );

    let server = start(
        Script::new()
            .extensions(["PIPELINING"])
            .rule(When::DataBytes(10_000), Action::Disconnect),
    );
    let big = vec![b'x'; 200_000];
    let (result, _) = run::<A>(
        &settings_for(&server),
        vec![(envelope(&["a@example.org"]), big)],
    );
    match result {
        Ok(results) => match &results[0] {
            Err(Error::Send { report, .. }) => {
                assert!(
                    matches!(report.failure, Some(FailureKind::ConnectionLost { .. })),
                    "{name}: {report:?}"
                );
                assert_eq!(report.delivered().count(), 0, "{name}");
            }
            Err(Error::Io(_)) => {}
            other => panic!("{name}: {other:?}"),
        },
        Err(e) => panic!("{name}: {e}"),
    }
    assert!(server.transactions().is_empty(), "{name}");

    let server = start(Script::new().rule(
        When::Command("RCPT"),
        Action::reply("421 4.3.2 shutting down\r\n"),
    ));
    let mut connection = connect::<A>(&settings_for(&server));
    match connection.send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec())) {
        Err(Error::Send {
            report,
            cause: Some(cause),
        }) if matches!(*cause, Error::Session(SessionError::ServiceClosing(_))) => assert!(
            matches!(
                report.failure,
                Some(FailureKind::ConnectionLost { reply: Some(_), .. })
            ),
            "{name}: {report:?}"
        ),
        other => panic!("{name}: {other:?}"),
    }
    assert!(!connection.is_connected(), "{name}: connected after 421");
    let _ = connection.close();
}

/// Connects, reads what the client knows, closes.
fn established<A: Adapter>(settings: &ClientSettings) -> (Result<SessionInfo, Error>, Vec<String>) {
    let (hook, lines) = recorder();
    let result = A::connect(settings, Some(hook)).map_err(Error::from);
    let result = result.map(|c| {
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

/// The typed TLS failure of a connection that failed, through the
/// client's error.
fn tls_failure(result: &Result<SessionInfo, Error>) -> Option<TlsFailureKind> {
    result
        .as_ref()
        .err()
        .and_then(Error::tls_failure)
        .map(TlsFailure::kind)
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
        s.tls.trust_ca_pem(ca.ca_pem.clone(), true);
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
    default.tls.trust_ca_pem(ca.ca_pem.clone(), true);
    let (info, transcript) = established::<A>(&default);
    assert!(
        info.unwrap_or_else(|e| panic!("{name}: {e}"))
            .tls
            .is_some_and(|t| t.verified)
    );
    assert_eq!(transcript[1], "C: STARTTLS", "{name}");
    // …and an unverifiable certificate is an error, not plaintext.
    default.tls.settings.extra_ca_pem.clear();
    default.tls.settings.roots = smtpkit_tls::RootSource::default();
    let result = established::<A>(&default).0;
    assert_eq!(tls_kind(&result), Some(TlsErrorKind::Certificate), "{name}");
    assert_eq!(
        tls_failure(&result),
        Some(TlsFailureKind::UnknownIssuer),
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
    // The server saw the same: nothing but EHLO and QUIT, twice (the two
    // connections' lines may interleave: the client does not wait for the
    // reply to a QUIT that ends a failed session).
    let mut seen = commands_seen(&plain, 4);
    seen.sort();
    assert_eq!(
        seen,
        ["EHLO client.example", "EHLO client.example", "QUIT", "QUIT"],
        "{name}"
    );

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
    let result = established::<A>(&wrong_name).0;
    assert_eq!(tls_kind(&result), Some(TlsErrorKind::Certificate), "{name}");
    assert_eq!(
        tls_failure(&result),
        Some(TlsFailureKind::NameMismatch),
        "{name}"
    );
    let mut typed = wrong_name.clone();
    typed.tls.settings.check_server_identity = false;
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
    untrusted.tls.settings.extra_ca_pem = vec![other.ca_pem.into_bytes()];
    let result = established::<A>(&untrusted).0;
    assert_eq!(tls_kind(&result), Some(TlsErrorKind::Certificate), "{name}");
    assert_eq!(
        tls_failure(&result),
        Some(TlsFailureKind::UnknownIssuer),
        "{name}"
    );
    let mut typed = untrusted.clone();
    typed.tls.settings.trust = smtpkit_tls::Trust::All;
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
    typed.tls.settings.protocols = vec!["TLSv1.2".into()];
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
    typed.tls.settings.cipher_suites = vec![suite.into()];
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
    typed.tls.settings.extra_ca_pem.clear();
    typed.tls.settings.extra_ca_files = vec![ca_file];
    let (info, _) = established::<A>(&typed);
    assert!(
        info.unwrap_or_else(|e| panic!("{name}: {e}"))
            .tls
            .is_some_and(|t| t.verified)
    );
    // RootSource::None: without the CA nothing is trusted (a configuration
    // error, never a fallback); off, the CA is trusted beside the
    // platform's roots.
    let mut typed = required.clone();
    typed.tls.settings.extra_ca_pem.clear();
    assert!(
        matches!(established::<A>(&typed).0, Err(Error::TlsConfig(_))),
        "{name}"
    );
    // roots: what this build has works, what it left out is a typed
    // configuration error naming the feature (never a panic, never
    // another source).
    for (roots, feature, built) in [
        (
            smtpkit_tls::RootSource::Platform,
            "platform-roots",
            smtpkit_tls::RootSource::Platform.is_built_in(),
        ),
        (
            smtpkit_tls::RootSource::Bundled,
            "bundled-roots",
            smtpkit_tls::RootSource::Bundled.is_built_in(),
        ),
    ] {
        let mut typed = required.clone();
        typed.tls.settings.roots = smtpkit_tls::RootSource::default();
        typed.tls.settings.roots = roots;
        let result = established::<A>(&typed).0;
        if built {
            assert!(result.is_ok(), "{name} {roots:?}: {result:?}");
        } else {
            match &result {
                Err(Error::TlsConfig(e)) => assert_eq!(
                    TlsFailure::of(e).map(TlsFailure::kind),
                    Some(TlsFailureKind::MissingFeature(feature)),
                    "{name}"
                ),
                other => panic!("{name} {roots:?}: {other:?}"),
            }
        }
    }
    let mut typed = required.clone();
    typed.tls.settings.roots = smtpkit_tls::RootSource::default();
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
    let pin = smtpkit_tls::spki_sha256(&leaf).unwrap_or_else(|| panic!("{name}: no SPKI"));
    let mut typed = required.clone();
    typed.tls.settings.pins = vec![pin];
    assert!(established::<A>(&typed).0.is_ok(), "{name}");
    typed.tls.settings.pins = vec![[0u8; 32]];
    match established::<A>(&typed).0 {
        Err(Error::Session(SessionError::Tls(e))) => {
            assert_eq!(e.kind, TlsErrorKind::Certificate, "{name}");
            let failure = TlsFailure::of(&e).unwrap_or_else(|| panic!("{name}: {e:?}"));
            assert_eq!(failure.kind(), TlsFailureKind::PinMismatch, "{name}");
            assert!(failure.to_string().contains("pinned"), "{name}: {failure}");
        }
        other => panic!("{name}: {other:?}"),
    }
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
                    let _ = finished.recv_timeout(Duration::from_secs(20));
                    return Ok(());
                }
            }
        });
        let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
        s.port = Some(addr.port());
        s.local_name = Some(Host::parse("client.example").unwrap_or_else(|_| unreachable!()));
        s.write_timeout = Duration::from_millis(500);
        s.session.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(30));
        let connection = if own_stream {
            let stream = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{e}"));
            A::connect_stream(stream, &s, None)
        } else {
            A::connect(&s, None).map_err(Error::from)
        };
        let mut connection = connection.unwrap_or_else(|e| panic!("{}: {e}", A::NAME));
        let started = Instant::now();
        let body = vec![b'x'; 64 << 20];
        let results =
            connection.send_all(vec![(envelope(&["a@example.org"]), TestBody::Bytes(body))]);
        let elapsed = started.elapsed();
        // The report says nobody got it, and why.
        match &results[0] {
            Err(Error::Send {
                report,
                cause: Some(cause),
            }) if matches!(**cause, Error::Session(SessionError::Io { .. })) => {
                let Error::Session(SessionError::Io { kind, message }) = &**cause else {
                    unreachable!()
                };
                assert_eq!(
                    *kind,
                    std::io::ErrorKind::TimedOut,
                    "{}: {message}",
                    A::NAME
                );
                assert!(message.contains("write"), "{}: {message}", A::NAME);
                assert_eq!(report.delivered().count(), 0, "{}", A::NAME);
                assert_eq!(report.unsent().count(), 1, "{}", A::NAME);
            }
            other => panic!("{} (own stream: {own_stream}): {other:?}", A::NAME),
        }
        assert!(
            elapsed < Duration::from_secs(15),
            "{}: {elapsed:?}",
            A::NAME
        );
        let _ = done.send(());
        drop(connection);
        let _ = server.join();
    }
}

// ----- delivery -----------------------------------------------------------

/// The octets the server receives are the message, CRLF-normalised: 8-bit
/// content over BDAT with BODY=8BITMIME; the connection stays usable.
pub fn delivers_exact_bytes<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new());
    let mut connection = connect::<A>(&settings_for(&server));
    let message =
        "Subject: caf\u{e9}\n\n.leading dot\nLF only\r\nCRLF\n..two dots\nno final newline"
            .as_bytes();
    let report = connection
        .send(
            envelope(&["a@example.org"]),
            TestBody::Bytes(message.to_vec()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.all_delivered(), "{name}: {report:?}");
    assert!(connection.is_connected(), "{name}");
    connection.close().unwrap_or_else(|e| panic!("{name}: {e}"));
    let t = &server.transactions()[0];
    assert_eq!(
        t.data,
        "Subject: caf\u{e9}\r\n\r\n.leading dot\r\nLF only\r\nCRLF\r\n..two dots\r\nno final newline\r\n"
            .as_bytes(),
        "{name}"
    );
    assert!(t.bdat, "{name}: CHUNKING offered: BDAT used");
    assert!(
        t.mail_params.iter().any(|p| p == "BODY=8BITMIME"),
        "{name}: {:?}",
        t.mail_params
    );
    let commands = server.commands();
    assert_eq!(
        commands.first().map(String::as_str),
        Some("EHLO client.example"),
        "{name}"
    );
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"), "{name}");
}

/// Twenty messages pipelined over DATA (no CHUNKING) on one connection,
/// each delivered intact to both recipients.
pub fn many_messages_pipelined_over_data<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().extensions(["PIPELINING", "8BITMIME"]));
    let mut connection = connect::<A>(&settings_for(&server));
    let bodies: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("Subject: {i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    let results = connection.send_all(
        bodies
            .iter()
            .map(|b| {
                (
                    envelope(&["a@example.org", "b@example.org"]),
                    TestBody::Bytes(b.clone()),
                )
            })
            .collect(),
    );
    let _ = connection.close();
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(DeliveryReport::all_delivered)),
        "{name}: {results:?}"
    );
    let transactions = server.transactions();
    assert_eq!(transactions.len(), 20, "{name}");
    for (t, b) in transactions.iter().zip(&bodies) {
        assert_eq!(&t.data, b, "{name}");
        assert!(!t.bdat, "{name}");
        assert_eq!(t.rcpt_to, ["a@example.org", "b@example.org"], "{name}");
    }
}

/// A streamed body larger than the session's send buffer, over DATA and
/// over BDAT: the client must keep writing while the body is wanted, not
/// wait for a reply (a DATA regression).
pub fn streamed_reader_body_over_data_and_bdat<A: Adapter>() {
    let name = A::NAME;
    let big: Vec<u8> = b"0123456789abcdef\n"
        .iter()
        .copied()
        .cycle()
        .take(3_000_000)
        .collect();
    for chunksize in ["0", "65536"] {
        let server = start(Script::new());
        let mut s = settings_for(&server);
        set(&mut s, "mail.smtp.chunksize", chunksize);
        set(&mut s, "mail.smtp.timeout", "5000");
        let mut connection = connect::<A>(&s);
        let report = connection
            .send(envelope(&["a@example.org"]), TestBody::Reader(big.clone()))
            .unwrap_or_else(|e| panic!("{name} chunksize={chunksize}: {e}"));
        assert!(report.all_delivered(), "{name}: {report:?}");
        let _ = connection.close();
        let t = &server.transactions()[0];
        assert_eq!(t.bdat, chunksize != "0", "{name} chunksize={chunksize}");
        // Every LF became CRLF, and the final CRLF was added.
        assert_eq!(
            t.data.len(),
            3_000_000 / 17 * 18 + 3_000_000 % 17 + 2,
            "{name} chunksize={chunksize}"
        );
    }
}

/// A 4xx to one RCPT: without sendpartial nothing is sent and the
/// connection survives the failed transaction; with it, the rest get it.
/// The test double answers as the client does: the same message with one
/// refused Cc, through the client against the test server and through a
/// `StubMailer` made from the same settings, gives the same outcome for
/// every recipient — with the client's defaults (`sendpartial` off: no
/// one gets it) and with `mail.smtp.sendpartial=true`.
pub fn stub_agrees_with_the_client<A: Adapter>() {
    let name = A::NAME;
    const MESSAGE: &[u8] =
        b"From: a@example.org\r\nTo: b@example.org\r\nCc: refused@example.org\r\nSubject: s\r\n\r\nbody\r\n";
    let outcome = |report: &DeliveryReport| {
        let statuses: Vec<(String, &'static str)> = report
            .recipients
            .iter()
            .map(|r| {
                let kind = match &r.status {
                    smtpkit_proto::RecipientStatus::Delivered(_) => "delivered",
                    smtpkit_proto::RecipientStatus::Rejected(_) => "rejected",
                    smtpkit_proto::RecipientStatus::AcceptedUnsent(_) => "accepted-unsent",
                    _ => "other",
                };
                (r.address.to_string(), kind)
            })
            .collect();
        (statuses, report.failure.clone())
    };
    for send_partial in ["false", "true"] {
        let script = Script::new().rule(
            When::RcptTo("refused@example.org".into()),
            Action::reply("550 5.1.1 no such user\r\n"),
        );
        let server = start(script);
        let mut s = settings_for(&server);
        set(&mut s, "mail.smtp.sendpartial", send_partial);
        let mut connection = connect::<A>(&s);
        let wire = connection
            .send_message(TestBody::Bytes(MESSAGE.to_vec()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let _ = connection.close();
        let stub = smtpkit_client::doubles::StubMailer::for_settings(&s);
        stub.refuse(
            "refused@example.org",
            smtpkit_proto::Reply::new(
                smtpkit_proto::ReplyCode::new(550).unwrap(),
                None,
                vec!["5.1.1 no such user".into()],
            )
            .unwrap(),
        );
        let double = stub.deliver_message(MESSAGE).unwrap();
        assert_eq!(
            outcome(&double),
            outcome(&wire),
            "{name}: sendpartial={send_partial}"
        );
        let delivered = wire.delivered().count();
        assert_eq!(
            delivered,
            usize::from(send_partial == "true"),
            "{name}: sendpartial={send_partial}: {wire:?}"
        );
    }
}

pub fn transient_rcpt_failure_with_and_without_sendpartial<A: Adapter>() {
    let name = A::NAME;
    let script = Script::new().rule(
        When::RcptTo("busy@example.org".into()),
        Action::reply("451 4.3.0 try later\r\n"),
    );
    let server = start(script.clone());
    let mut connection = connect::<A>(&settings_for(&server));
    match connection.send(
        envelope(&["a@example.org", "busy@example.org"]),
        TestBody::Bytes(b"x\r\n".to_vec()),
    ) {
        Ok(report) => {
            assert_eq!(
                report.failure,
                Some(FailureKind::RecipientsRejected),
                "{name}"
            );
            assert!(
                report.rejected().all(|(_, r)| r.is_transient()),
                "{name}: {report:?}"
            );
            let failure = Error::from(report.into_result().unwrap_err());
            assert!(failure.is_transient() && !failure.is_permanent(), "{name}");
        }
        other => panic!("{name}: {other:?}"),
    }
    assert!(
        server.transactions().is_empty(),
        "{name}: nothing sent without sendpartial"
    );
    assert!(
        connection.is_connected(),
        "{name}: the connection survives a failed transaction"
    );
    let _ = connection.close();

    let server = start(script);
    let mut s = settings_for(&server);
    set(&mut s, "mail.smtp.sendpartial", "true");
    let mut connection = connect::<A>(&s);
    let report = connection
        .send(
            envelope(&["a@example.org", "busy@example.org"]),
            TestBody::Bytes(b"x\r\n".to_vec()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = connection.close();
    assert_eq!(
        report.delivered().map(Address::as_str).collect::<Vec<_>>(),
        ["a@example.org"],
        "{name}"
    );
    assert_eq!(
        server.transactions()[0].rcpt_to,
        ["a@example.org"],
        "{name}"
    );
}

/// A 554 greeting fails the connect with the server's refusal; a port
/// nobody listens on is an I/O error.
pub fn greeting_refused_and_connection_refused<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().rule(When::Connect, Action::reply("554 5.7.1 go away\r\n")));
    let err = connect_error::<A>(&settings_for(&server));
    assert!(
        matches!(err, Error::Session(SessionError::Rejected(_))),
        "{name}: {err:?}"
    );

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    drop(listener);
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = Some(port);
    let err = connect_error::<A>(&s);
    assert!(matches!(err, Error::Io(_)), "{name}: {err:?}");
}

/// A line longer than 998 octets: a message-level send refuses it before
/// MAIL, naming the line, from memory and from a file, through the client,
/// the one-call function and the pool; allowed by setting and by property,
/// it goes unaltered. A one-shot reader is checked in its header block.
pub fn long_lines_are_refused_before_mail<A: Adapter>() {
    use smtpkit_client::message::MessageError;
    let name = A::NAME;
    let long = "x".repeat(1200);
    let message = format!(
        "From: sender@example.org\r\nTo: a@example.org\r\nSubject: long\r\n\r\nshort\r\n{long}\r\nend\r\n"
    );
    let path = scratch::<A>("smtp-long.eml");
    std::fs::write(&path, &message).unwrap_or_else(|e| panic!("{e}"));
    for body in [
        TestBody::Bytes(message.clone().into_bytes()),
        TestBody::File(path.clone()),
    ] {
        for way in ["client", "one-call", "pool"] {
            let server = start(Script::new());
            let settings = settings_for(&server);
            let result = send_message_by::<A>(way, &settings, body.clone());
            match result {
                Err(Error::Message(MessageError::LineTooLong {
                    line: 6,
                    length: 1200,
                })) => {}
                other => panic!("{name} {way}: {other:?}"),
            }
            assert!(
                !server.commands().iter().any(|c| c.starts_with("MAIL")),
                "{name} {way}: {:?}",
                server.commands()
            );
        }
        // Allowed: sent as it is.
        let server = start(Script::new());
        let mut settings = settings_for(&server);
        set(&mut settings, "mail.smtp.allowlonglines", "true");
        let mut connection = connect::<A>(&settings);
        connection
            .send_message(body.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let _ = connection.close();
        let data = String::from_utf8_lossy(&server.transactions()[0].data).into_owned();
        assert!(data.contains(&format!("\r\n{long}\r\nend\r\n")), "{name}");
    }
    // A reader: its header block is checked (a long Subject:).
    let server = start(Script::new());
    let settings = settings_for(&server);
    let mut connection = connect::<A>(&settings);
    let header_long =
        format!("From: s@example.org\r\nTo: a@example.org\r\nSubject: {long}\r\n\r\nbody\r\n");
    match connection.send_message(TestBody::Reader(header_long.into_bytes())) {
        Err(Error::Message(MessageError::LineTooLong { line: 3, .. })) => {}
        other => panic!("{name}: reader: {other:?}"),
    }
    let _ = connection.close();
    assert!(server.transactions().is_empty(), "{name}");
    let _ = std::fs::remove_file(&path);
}

/// The test keys' directory (smtp-client/tests/data).
const DKIM_KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-client/tests/data");

/// Runs dkimpy (interop/dkim/verify.py, Debian's python3-dkim) over
/// `files`, serving the test selectors' TXT records; every file's verdict.
pub fn dkimpy_verdicts(files: &[std::path::PathBuf]) -> Vec<(bool, String)> {
    let record = |kind: &str, file: &str| {
        let p = std::fs::read_to_string(format!("{DKIM_KEYS}/{file}"))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        format!("v=DKIM1; k={kind}; p={}", p.trim())
    };
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../interop/dkim/verify.py"
        ))
        .arg("--txt")
        .arg(format!(
            "rsa2026._domainkey.example.org={}",
            record("rsa", "dkim-rsa2048.pub.b64")
        ))
        .arg("--txt")
        .arg(format!(
            "ed2026._domainkey.example.org={}",
            record("ed25519", "dkim-ed25519.pub.b64")
        ))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("running dkimpy (apt-get install python3-dkim): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "dkimpy failed to run (apt-get install python3-dkim): {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .map(|l| (l.starts_with("pass "), l.to_owned()))
        .collect()
}

/// A signer with a test key: `rsa` (2048, PKCS#8 or PKCS#1) or `ed25519`.
pub fn test_signer(
    key: &str,
    canonicalization: smtpkit_client::dkim::DkimCanonicalization,
) -> smtpkit_client::dkim::DkimSigner {
    use smtpkit_client::dkim::{DkimKey, DkimSettings, DkimSigner};
    let (file, selector) = match key {
        "rsa" => ("dkim-rsa2048.pem", "rsa2026"),
        "rsa-pkcs1" => ("dkim-rsa2048-pkcs1.pem", "rsa2026"),
        _ => ("dkim-ed25519.pem", "ed2026"),
    };
    let key = DkimKey::from_file(format!("{DKIM_KEYS}/{file}")).unwrap_or_else(|e| panic!("{e}"));
    let settings = DkimSettings::new("example.org", selector)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_canonicalization(canonicalization, canonicalization);
    DkimSigner::new(settings, key).unwrap_or_else(|e| panic!("{e}"))
}

/// DKIM: what arrives verifies with dkimpy, for RSA (PKCS#8 and PKCS#1
/// keys) and Ed25519, simple and relaxed, LF-only lines, a long folded
/// header and an 8-bit body, from memory and from a file, through the
/// client, the one-call function and the pool. A LIMITS RCPTMAX split
/// sends the same signed octets in both transactions (one signature per
/// message). A one-shot reader is a typed error before anything is sent,
/// unless buffering is allowed; an altered message fails (the verifier
/// is not a rubber stamp).
pub fn dkim_signatures_verify_with_dkimpy<A: Adapter>() {
    use smtpkit_client::dkim::DkimCanonicalization::{Relaxed, Simple};
    let name = A::NAME;
    let dir = scratch::<A>("smtp-dkim");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let long_subject = format!(
        "Subject: {}\n",
        "a folded subject "
            .repeat(12)
            .trim_end()
            .replace("subject a", "subject\n a")
    );
    let lf_message = format!(
        "From: Sender <sender@example.org>\nTo: a@example.org\nCc: b@example.org\nBcc: hidden@example.org\n{long_subject}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\u{fc}\u{df}e  with  spaces \t\n.a dot line\n\n\n"
    );
    let crlf_message = b"From: sender@example.org\r\nTo: a@example.org, b@example.org\r\nSubject: crlf\r\n\r\nbody\r\n".to_vec();
    let mut files = Vec::new();
    let mut n = 0;
    for (key, canon) in [
        ("rsa", Relaxed),
        ("rsa-pkcs1", Simple),
        ("ed25519", Simple),
        ("ed25519", Relaxed),
    ] {
        for (kind, message) in [
            ("lf", lf_message.as_bytes().to_vec()),
            ("crlf", crlf_message.clone()),
        ] {
            for way in ["client", "one-call", "pool"] {
                n += 1;
                let path = dir.join(format!("m{n}.eml"));
                std::fs::write(&path, &message).unwrap_or_else(|e| panic!("{e}"));
                let body = if n % 2 == 0 {
                    TestBody::File(path.clone())
                } else {
                    TestBody::Bytes(message.clone())
                };
                let server =
                    start(Script::new().extensions(["PIPELINING", "8BITMIME", "LIMITS RCPTMAX=1"]));
                let mut settings = settings_for(&server);
                settings.dkim = Some(test_signer(key, canon));
                let report = send_message_by::<A>(way, &settings, body)
                    .unwrap_or_else(|e| panic!("{name} {key} {kind} {way}: {e}"));
                assert!(
                    report.all_delivered(),
                    "{name} {key} {kind} {way}: {report:?}"
                );
                let transactions = server.transactions();
                let expected = if kind == "lf" { 3 } else { 2 };
                assert_eq!(
                    transactions.len(),
                    expected,
                    "{name} {key} {kind} {way}: RCPTMAX=1"
                );
                for t in &transactions {
                    // One signature per message: every transaction the same octets.
                    assert_eq!(t.data, transactions[0].data, "{name} {key} {kind} {way}");
                }
                let data = &transactions[0].data;
                assert!(
                    data.starts_with(b"DKIM-Signature: v=1; a="),
                    "{name} {key} {kind} {way}"
                );
                let out = dir.join(format!("d{n}-{key}-{kind}-{way}.eml"));
                std::fs::write(&out, data).unwrap_or_else(|e| panic!("{e}"));
                files.push(out);
            }
        }
    }
    // A one-shot reader: refused before anything is sent, unless buffering
    // is allowed.
    let server = start(Script::new().extensions(["PIPELINING", "8BITMIME"]));
    let mut settings = settings_for(&server);
    settings.dkim = Some(test_signer("ed25519", Relaxed));
    let mut connection = connect::<A>(&settings);
    match connection.send_message(TestBody::Reader(crlf_message.clone())) {
        Err(Error::Message(smtpkit_client::message::MessageError::CannotSignStream)) => {}
        other => panic!("{name}: a one-shot reader was signed: {other:?}"),
    }
    let _ = connection.close();
    assert!(server.transactions().is_empty(), "{name}");
    let signer = settings.dkim.take().map(|s| {
        let buffered = s.settings().clone().with_buffering(true);
        let key = smtpkit_client::dkim::DkimKey::from_file(format!("{DKIM_KEYS}/dkim-ed25519.pem"))
            .unwrap_or_else(|e| panic!("{e}"));
        smtpkit_client::dkim::DkimSigner::new(buffered, key).unwrap_or_else(|e| panic!("{e}"))
    });
    settings.dkim = signer;
    let mut connection = connect::<A>(&settings);
    connection
        .send_message(TestBody::Reader(lf_message.as_bytes().to_vec()))
        .unwrap_or_else(|e| panic!("{name}: buffered reader: {e}"));
    let _ = connection.close();
    let buffered = dir.join("buffered.eml");
    std::fs::write(&buffered, &server.transactions()[0].data).unwrap_or_else(|e| panic!("{e}"));
    files.push(buffered);
    // A control that must fail: one body octet changed.
    let mut altered = std::fs::read(&files[0]).unwrap_or_else(|e| panic!("{e}"));
    if let Some(at) = altered.windows(5).position(|w| w == b"spaces") {
        altered[at] = b'S';
    } else if let Some(last) = altered.iter().rposition(|&b| b.is_ascii_alphabetic()) {
        altered[last] ^= 0x20;
    }
    let tampered = dir.join("tampered.eml");
    std::fs::write(&tampered, &altered).unwrap_or_else(|e| panic!("{e}"));
    files.push(tampered);
    let verdicts = dkimpy_verdicts(&files);
    assert_eq!(verdicts.len(), files.len(), "{name}: {verdicts:?}");
    let (signed, control) = verdicts.split_at(verdicts.len() - 1);
    for (pass, line) in signed {
        assert!(pass, "{name}: dkimpy: {line}");
    }
    assert!(
        !control[0].0,
        "{name}: dkimpy passed an altered message: {}",
        control[0].1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A connection that fails after the greeting keeps what the session
/// learnt (`connect_reporting`): after a refused login, the greeting and
/// the extensions, AUTH among them; a refused connection knows nothing.
pub fn a_failed_set_up_keeps_what_the_session_learnt<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().auth(["SCRAM-SHA-256"], &[("alice", "right")]));
    let mut s = settings_for(&server);
    s.auth.enabled = true;
    s.auth.credentials.user = "alice".into();
    s.auth.credentials.password = "wrong".into();
    let Err(failure) = A::connect(&s, None) else {
        panic!("{name}: logged in with a wrong password");
    };
    assert!(
        matches!(failure.error, Error::Session(SessionError::Auth(_))),
        "{name}: {:?}",
        failure.error
    );
    assert!(failure.info.greeting.is_some(), "{name}");
    let extensions = failure.info.extensions.as_ref();
    assert!(
        extensions.is_some_and(|e| e.keywords().any(|k| k == "AUTH")),
        "{name}: {extensions:?}"
    );
    assert_eq!(failure.info.auth_mechanism, None, "{name}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    drop(listener);
    s.port = Some(port);
    let Err(failure) = A::connect(&s, None) else {
        panic!("{name}: connected to a closed port");
    };
    assert!(
        matches!(failure.error, Error::Io(_)),
        "{name}: {:?}",
        failure.error
    );
    assert_eq!(*failure.info, SessionInfo::default(), "{name}");
}

/// `mail.smtp.*` properties alone configure the connection: host, port,
/// EHLO name, local address, no BDAT, HELO only.
pub fn properties_drive_the_connection<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new());
    let port = server.addr().port().to_string();
    let s = ClientSettings::from_properties(
        Protocol::Smtp,
        [
            ("mail.smtp.host", "127.0.0.1"),
            ("mail.smtp.port", port.as_str()),
            ("mail.smtp.localhost", "props.example"),
            ("mail.smtp.localaddress", "127.0.0.1"),
            ("mail.smtp.chunksize", "0"),
            ("mail.smtp.ehlo", "false"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut connection = connect::<A>(&s);
    connection
        .send(
            envelope(&["a@example.org"]),
            TestBody::Bytes(b"hi\r\n".to_vec()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = connection.close();
    let commands = server.commands();
    assert_eq!(commands[0], "HELO props.example", "{name}");
    assert!(
        commands.contains(&"DATA".to_owned()),
        "{name}: {commands:?}"
    );
}

// ----- TLS ----------------------------------------------------------------

/// Settings for STARTTLS to `host` on `server`, trusting only `trusted`.
fn starttls_settings(server: &TestServer, host: &str, trusted: &TestCa) -> ClientSettings {
    let mut s = settings_for(server);
    s.host = host.into();
    set(&mut s, "mail.smtp.starttls.enable", "true");
    s.tls.trust_ca_pem(trusted.ca_pem.clone(), true);
    s
}

fn test_ca(names: &[&str]) -> TestCa {
    TestCa::new(names).unwrap_or_else(|e| panic!("test CA: {e}"))
}

fn starttls_script(ca: &TestCa) -> Script {
    Script::new().starttls(ca).unwrap_or_else(|e| panic!("{e}"))
}

/// The TLS error that connecting must end in: its broad kind, its typed
/// failure and the whole chain's text.
fn tls_error<A: Adapter>(settings: &ClientSettings) -> (TlsErrorKind, TlsFailureKind, String) {
    let error = connect_error::<A>(settings);
    let failure = error.tls_failure().map(TlsFailure::kind);
    match (&error, failure) {
        (Error::Session(SessionError::Tls(e)), Some(failure)) => (e.kind, failure, error.chain()),
        _ => panic!("{}: expected a TLS error, got {error:?}", A::NAME),
    }
}

/// An untrusted CA and a certificate for another name fail the handshake
/// before MAIL; `mail.smtp.ssl.checkserveridentity=false` still verifies
/// the chain but accepts the name, and says it is not verified.
pub fn untrusted_ca_and_wrong_name_fail_before_anything_is_sent<A: Adapter>() {
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    let other = test_ca(&["localhost"]);
    let server = start(starttls_script(&ca));
    let (kind, failure, message) = tls_error::<A>(&starttls_settings(&server, "localhost", &other));
    assert_eq!(kind, TlsErrorKind::Certificate, "{name}");
    assert_eq!(failure, TlsFailureKind::UnknownIssuer, "{name}");
    assert!(message.contains("unknown CA"), "{name}: {message}");
    // The chain says it once in our words, once in rustls'.
    assert!(
        message.ends_with("invalid peer certificate: UnknownIssuer"),
        "{name}: {message}"
    );

    let named = test_ca(&["mx.example"]);
    let server2 = start(starttls_script(&named));
    let (kind, failure, message) =
        tls_error::<A>(&starttls_settings(&server2, "localhost", &named));
    assert_eq!(kind, TlsErrorKind::Certificate, "{name}");
    assert_eq!(failure, TlsFailureKind::NameMismatch, "{name}");
    assert!(
        message.contains("does not match the server name"),
        "{name}: {message}"
    );
    for server in [&server, &server2] {
        assert!(
            server.commands().iter().all(|c| !c.starts_with("MAIL")),
            "{name}"
        );
    }

    let mut s = starttls_settings(&server2, "localhost", &named);
    set(&mut s, "mail.smtp.ssl.checkserveridentity", "false");
    let connection = connect::<A>(&s);
    assert!(connection.info().tls.is_some_and(|t| !t.verified), "{name}");
    let _ = connection.close();
}

/// `mail.smtp.ssl.trust`: `*` and a host list naming the server accept an
/// untrusted certificate (unverified); a list without it does not.
pub fn ssl_trust_star_and_host_lists<A: Adapter>() {
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    let other = test_ca(&["localhost"]);
    let server = start(starttls_script(&ca));
    for trust in ["*", "mx.example localhost"] {
        let mut s = starttls_settings(&server, "localhost", &other);
        set(&mut s, "mail.smtp.ssl.trust", trust);
        let connection =
            A::connect(&s, None).unwrap_or_else(|e| panic!("{name} trust={trust}: {e}"));
        assert!(
            connection.info().tls.is_some_and(|t| !t.verified),
            "{name} trust={trust}"
        );
        let _ = connection.close();
    }
    let mut s = starttls_settings(&server, "localhost", &other);
    set(&mut s, "mail.smtp.ssl.trust", "mx.example");
    let (kind, failure, _) = tls_error::<A>(&s);
    assert_eq!(kind, TlsErrorKind::Certificate, "{name}");
    assert_eq!(failure, TlsFailureKind::UnknownIssuer, "{name}");
}

/// An expired certificate, and one not valid yet, fail the handshake
/// with their own kinds, over STARTTLS and implicit TLS, before MAIL.
pub fn expired_and_not_yet_valid_certificates_fail<A: Adapter>() {
    let name = A::NAME;
    for (ca, expected) in [
        (TestCa::expired(&["localhost"]), TlsFailureKind::Expired),
        (
            TestCa::not_yet_valid(&["localhost"]),
            TlsFailureKind::NotYetValid,
        ),
    ] {
        let ca = ca.unwrap_or_else(|e| panic!("test CA: {e}"));
        let starttls = start(starttls_script(&ca));
        let implicit = start(
            Script::new()
                .implicit_tls(&ca)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let mut implicit_settings = starttls_settings(&implicit, "localhost", &ca);
        set(&mut implicit_settings, "mail.smtp.ssl.enable", "true");
        for (server, s) in [
            (&starttls, starttls_settings(&starttls, "localhost", &ca)),
            (&implicit, implicit_settings),
        ] {
            let (kind, failure, message) = tls_error::<A>(&s);
            assert_eq!(kind, TlsErrorKind::Certificate, "{name}: {message}");
            assert_eq!(failure, expected, "{name}: {message}");
            assert!(
                server.commands().iter().all(|c| !c.starts_with("MAIL")),
                "{name}"
            );
        }
    }
}

/// `mail.smtp.ssl.protocols` against a TLS 1.2-only server: 1.3 alone
/// fails the handshake, "TLSv1.2 TLSv1.3" negotiates 1.2, SSLv3 is a
/// configuration error.
pub fn protocol_version_not_allowed<A: Adapter>() {
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    let mut script = Script::new();
    script.starttls = Some(
        ca.server_config(&[&smtpkit_testserver::rustls::version::TLS12])
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let server = start(script);
    let mut s = starttls_settings(&server, "localhost", &ca);
    set(&mut s, "mail.smtp.ssl.protocols", "TLSv1.3");
    let (kind, failure, message) = tls_error::<A>(&s);
    assert_eq!(kind, TlsErrorKind::Handshake, "{name}: {message}");
    assert_eq!(
        failure,
        TlsFailureKind::ProtocolVersion,
        "{name}: {message}"
    );
    set(&mut s, "mail.smtp.ssl.protocols", "TLSv1.2 TLSv1.3");
    let connection = connect::<A>(&s);
    assert_eq!(
        connection.info().tls.and_then(|t| t.version).as_deref(),
        Some("TLSv1.2"),
        "{name}"
    );
    let _ = connection.close();
    set(&mut s, "mail.smtp.ssl.protocols", "SSLv3");
    let err = connect_error::<A>(&s);
    assert!(
        matches!(&err, Error::TlsConfig(e) if e.kind == TlsErrorKind::Config),
        "{name}: {err:?}"
    );
}

/// Bytes after the 220 to STARTTLS (CVE-2011-0411 class) end the session
/// before anything is acted on: no AUTH, no MAIL.
pub fn response_injection_after_starttls<A: Adapter>() {
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    let server = start(starttls_script(&ca).rule(
        When::Command("STARTTLS"),
        Action::reply("220 2.0.0 Ready\r\n250-injected\r\n250 AUTH PLAIN\r\n"),
    ));
    let err = connect_error::<A>(&starttls_settings(&server, "localhost", &ca));
    assert!(
        matches!(err, Error::Session(SessionError::ResponseInjection(_))),
        "{name}: {err:?}"
    );
    assert!(
        server
            .commands()
            .iter()
            .all(|c| !c.starts_with("AUTH") && !c.starts_with("MAIL")),
        "{name}"
    );
}

/// PLAIN needs no opt-in over TLS; the same settings without TLS are
/// refused before anything secret is sent.
pub fn plaintext_mechanisms_are_fine_over_tls<A: Adapter>() {
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    let server = start(starttls_script(&ca).auth(["PLAIN"], &[("u", "p")]));
    let mut s = starttls_settings(&server, "localhost", &ca);
    s.auth.credentials.user = "u".into();
    s.auth.enabled = true;
    s.auth.credentials.password = "p".into();
    let connection = connect::<A>(&s);
    assert_eq!(
        connection.info().auth_mechanism.as_deref(),
        Some("PLAIN"),
        "{name}"
    );
    let _ = connection.close();
    let plain = start(Script::new().auth(["PLAIN"], &[("u", "p")]));
    let mut s2 = s.clone();
    s2.port = Some(plain.addr().port());
    set(&mut s2, "mail.smtp.starttls.enable", "false");
    let err = connect_error::<A>(&s2);
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Auth(AuthError::PlaintextRefused { .. }))
        ),
        "{name}: {err:?}"
    );
}

/// Secure by default, dangerous by name: with credentials, the default
/// settings (opportunistic STARTTLS) require TLS, so a server that does not
/// offer STARTTLS (or a man in the middle who strips it) ends the session
/// with a typed error before AUTH or MAIL. Without credentials the same
/// settings send in plaintext (opportunistic TLS, as MX-to-MX mail does);
/// turning STARTTLS off by name (`mail.smtp.starttls.enable=false`,
/// `dangerous_plaintext`) lets SCRAM authenticate without TLS.
pub fn credentials_need_tls_unless_turned_off_by_name<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().auth(["SCRAM-SHA-256"], &[("alice", "pw")]));
    let plain = settings_for(&server);
    let mut s = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    s.port = plain.port;
    s.local_name = plain.local_name.clone();
    s.session.timeouts = plain.session.timeouts;
    s.auth.login("alice", "pw");
    let error = connect_error::<A>(&s);
    match &error {
        Error::Session(SessionError::StartTlsUnavailable(why)) => {
            assert!(why.contains("credentials"), "{name}: {why}");
        }
        other => panic!("{name}: expected StartTlsUnavailable, got {other:?}"),
    }
    assert!(
        error.to_string().contains("STARTTLS is required"),
        "{name}: {error}"
    );
    let commands = server.commands();
    assert!(
        commands
            .iter()
            .all(|c| !c.starts_with("AUTH") && !c.starts_with("MAIL")),
        "{name}: {commands:?}"
    );

    // Without credentials: opportunistic, the message goes in plaintext.
    let open = start(Script::new());
    let mut anonymous = ClientSettings::new(Protocol::Smtp, "127.0.0.1");
    anonymous.port = Some(open.addr().port());
    anonymous.session.timeouts = plain.session.timeouts;
    let mut connection = connect::<A>(&anonymous);
    assert!(connection.info().tls.is_none(), "{name}");
    connection
        .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = connection.close();

    // TLS turned off by name: SCRAM authenticates without TLS.
    let mut by_property = s.clone();
    set(&mut by_property, "mail.smtp.starttls.enable", "false");
    let mut by_constructor = ClientSettings::dangerous_plaintext("127.0.0.1");
    by_constructor.port = s.port;
    by_constructor.session.timeouts = plain.session.timeouts;
    by_constructor.auth.login("alice", "pw");
    for settings in [by_property, by_constructor] {
        let connection = connect::<A>(&settings);
        assert_eq!(
            connection.info().auth_mechanism.as_deref(),
            Some("SCRAM-SHA-256"),
            "{name}"
        );
        let _ = connection.close();
    }
    assert_eq!(server.authentications().len(), 2, "{name}");
}

/// `{e}` says why in one line, and the error's class says what to do:
/// nothing listening (transient, the system's reason), an untrusted CA
/// (configuration, "unknown issuer"), a wrong password (configuration,
/// the server's 535 reply).
pub fn errors_say_why<A: Adapter>() {
    let name = A::NAME;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.port = Some(closed.port());
    let error = connect_error::<A>(&s);
    let text = error.to_string();
    assert!(
        text.starts_with("the connection failed: ") && text.len() > "the connection failed: ".len(),
        "{name}: {text}"
    );
    assert!(error.is_transient(), "{name}: {error:?}");

    let ca = test_ca(&["localhost"]);
    let other = test_ca(&["localhost"]);
    let server = start(starttls_script(&ca));
    let error = connect_error::<A>(&starttls_settings(&server, "localhost", &other));
    let text = error.to_string();
    assert!(text.to_lowercase().contains("issuer"), "{name}: {text}");
    assert!(error.is_configuration(), "{name}: {error:?}");

    let server = start(Script::new().auth(["SCRAM-SHA-256"], &[("alice", "pw")]));
    let error = connect_error::<A>(&auth_settings(&server, "SCRAM-SHA-256", "wrong"));
    let text = error.to_string();
    assert!(text.contains("535"), "{name}: {text}");
    assert!(!text.contains('\n'), "{name}: {text}");
    assert!(error.is_configuration(), "{name}: {error:?}");
}

// ----- Channel binding (SCRAM-*-PLUS) ---------------------------------------

const PLUS_AND_PLAIN: [&str; 4] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
];

/// The test server offering every SCRAM variant as alice, over implicit
/// TLS limited to `version`.
fn scram_plus_script(
    ca: &TestCa,
    version: &'static smtpkit_testserver::rustls::SupportedProtocolVersion,
) -> Script {
    let mut script = Script::new().auth(PLUS_AND_PLAIN, &[("alice", "pw")]);
    script.implicit_tls = Some(
        ca.server_config(&[version])
            .unwrap_or_else(|e| panic!("{e}")),
    );
    script
}

/// Implicit TLS to `port` as alice, trusting `trusted` only.
fn scram_plus_settings(port: u16, trusted: &[&TestCa]) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtps, "localhost");
    s.port = Some(port);
    s.local_name =
        Some(Host::parse("client.example").unwrap_or_else(|_| unreachable!("a valid name")));
    s.session.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(10));
    for (i, ca) in trusted.iter().enumerate() {
        s.tls.trust_ca_pem(ca.ca_pem.clone(), i == 0);
    }
    s.auth.enabled = true;
    s.auth.credentials.user = "alice".into();
    s.auth.credentials.password = "pw".into();
    s
}

/// The GS2 header of the client-first message the server received with
/// `AUTH` (`p=tls-exporter,,`, `y,,`, …).
fn gs2_header_sent(server: &TestServer) -> String {
    use base64::Engine as _;
    let auth = server
        .commands()
        .into_iter()
        .find(|c| c.starts_with("AUTH "))
        .unwrap_or_else(|| panic!("no AUTH in {:?}", server.commands()));
    let initial = auth.split(' ').nth(2).unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(initial)
        .unwrap_or_else(|e| panic!("{auth}: {e}"));
    let text = String::from_utf8_lossy(&decoded).into_owned();
    let mut parts = text.splitn(3, ',');
    format!(
        "{},{},",
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default()
    )
}

/// Over TLS the client prefers SCRAM-*-PLUS and binds it to the
/// connection: `tls-exporter` (RFC 9266) on TLS 1.3,
/// `tls-server-end-point` (RFC 5929) on TLS 1.2; the test server checks
/// the binding against its own end. The configured order picks among the
/// -PLUS variants.
pub fn scram_plus_binds_to_the_tls_connection<A: Adapter>() {
    use smtpkit_testserver::rustls::version::{TLS12, TLS13};
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    // TLS 1.3: -PLUS by default. TLS 1.2: `tls-server-end-point`, which
    // the SMTP servers with -PLUS refuse there (they bind to tls-unique),
    // only when the configured order names -PLUS; by default plain SCRAM,
    // `n` since the server offers -PLUS.
    for (version, order, expected, binding) in [
        (&TLS13, None, "SCRAM-SHA-256-PLUS", "p=tls-exporter,,"),
        (
            &TLS13,
            Some("SCRAM-SHA-1-PLUS"),
            "SCRAM-SHA-1-PLUS",
            "p=tls-exporter,,",
        ),
        (&TLS12, None, "SCRAM-SHA-256", "n,,"),
        (
            &TLS12,
            Some("SCRAM-SHA-1-PLUS"),
            "SCRAM-SHA-1-PLUS",
            "p=tls-server-end-point,,",
        ),
    ] {
        {
            let server = start(scram_plus_script(&ca, version));
            let mut s = scram_plus_settings(server.addr().port(), &[&ca]);
            s.auth.mechanisms = order.map(str::to_owned);
            let mut connection = connect::<A>(&s);
            assert_eq!(
                connection.info().auth_mechanism.as_deref(),
                Some(expected),
                "{name} {binding}"
            );
            connection
                .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let _ = connection.close();
            assert_eq!(
                server.authentications(),
                vec![(expected.to_owned(), "alice".to_owned())],
                "{name}"
            );
            assert_eq!(gs2_header_sent(&server), binding, "{name} {expected}");
        }
    }
    // The server offers -PLUS but the configuration names plain SCRAM:
    // the client says it does not bind (`n`), and the server agrees.
    let server = start(scram_plus_script(&ca, &TLS13));
    let mut s = scram_plus_settings(server.addr().port(), &[&ca]);
    s.auth.mechanisms = Some("SCRAM-SHA-256".into());
    let connection = connect::<A>(&s);
    assert_eq!(
        connection.info().auth_mechanism.as_deref(),
        Some("SCRAM-SHA-256")
    );
    let _ = connection.close();
    assert_eq!(gs2_header_sent(&server), "n,,", "{name}");
    // Without TLS, never -PLUS.
    let server = start(Script::new().auth(PLUS_AND_PLAIN, &[("alice", "pw")]));
    let mut s = settings_for(&server);
    s.auth.enabled = true;
    s.auth.credentials.user = "alice".into();
    s.auth.credentials.password = "pw".into();
    let connection = connect::<A>(&s);
    assert_eq!(
        connection.info().auth_mechanism.as_deref(),
        Some("SCRAM-SHA-256"),
        "{name}"
    );
    let _ = connection.close();
    assert_eq!(gs2_header_sent(&server), "n,,", "{name}");
}

/// Someone strips -PLUS from the EHLO list of a server that supports it
/// (here a scripted EHLO reply): the client, able to bind, says so with
/// the GS2 flag `y`; the server sees the downgrade and fails the exchange
/// (`e=server-does-support-channel-binding`), a typed error.
pub fn scram_plus_stripped_from_the_list_is_detected<A: Adapter>() {
    use smtpkit_testserver::rustls::version::{TLS12, TLS13};
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    for version in [&TLS13, &TLS12] {
        let server = start(scram_plus_script(&ca, version).rule(
            When::Command("EHLO"),
            Action::reply("250-testkit.invalid\r\n250 AUTH SCRAM-SHA-256 SCRAM-SHA-1\r\n"),
        ));
        let s = scram_plus_settings(server.addr().port(), &[&ca]);
        let error = connect_error::<A>(&s);
        assert!(
            matches!(
                &error,
                Error::Session(SessionError::Auth(AuthError::Mechanism {
                    error: SaslError::ChannelBinding(value),
                    ..
                })) if value == "server-does-support-channel-binding"
            ),
            "{name}: {error:?}"
        );
        assert_eq!(gs2_header_sent(&server), "y,,", "{name}");
        assert!(server.authentications().is_empty(), "{name}");
        assert!(
            error.to_string().contains("channel binding"),
            "{name}: {error}"
        );
    }
}

/// A man in the middle whose certificate the client trusts terminates
/// the client's TLS and opens its own to the server: plain SCRAM goes
/// through it unnoticed, SCRAM-*-PLUS fails with a typed error, on TLS 1.3
/// (the exporters differ) and TLS 1.2 (the certificates differ).
pub fn scram_plus_through_a_man_in_the_middle_fails<A: Adapter>() {
    use smtpkit_testserver::rustls::version::{TLS12, TLS13};
    let name = A::NAME;
    let ca = test_ca(&["localhost"]);
    let mitm_ca = test_ca(&["localhost"]);
    // On TLS 1.2 -PLUS goes only when named (see smtpkit_auth::Chooser).
    for (version, order) in [(&TLS13, None), (&TLS12, Some("SCRAM-SHA-256-PLUS"))] {
        let server = start(scram_plus_script(&ca, version));
        let presented = mitm_ca
            .server_config(&[version])
            .unwrap_or_else(|e| panic!("{e}"));
        let mitm = smtpkit_testserver::TlsInterceptor::start(
            presented,
            server.addr(),
            "localhost",
            &ca.ca_pem,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut s = scram_plus_settings(mitm.addr().port(), &[&ca, &mitm_ca]);
        s.auth.mechanisms = order.map(str::to_owned);
        let error = connect_error::<A>(&s);
        assert!(
            matches!(
                &error,
                Error::Session(SessionError::Auth(AuthError::Mechanism {
                    mechanism,
                    error: SaslError::ChannelBinding(value),
                })) if value == "channel-bindings-dont-match" && mechanism == "SCRAM-SHA-256-PLUS"
            ),
            "{name}: {error:?}"
        );
        assert!(server.authentications().is_empty(), "{name}");
        // Without channel binding the same relay goes unnoticed.
        s.auth.mechanisms = Some("SCRAM-SHA-256".into());
        let connection = connect::<A>(&s);
        let _ = connection.close();
        assert_eq!(
            server.authentications(),
            vec![("SCRAM-SHA-256".to_owned(), "alice".to_owned())],
            "{name}"
        );
    }
}

// ----- AUTH ---------------------------------------------------------------

/// Settings for `mechanism` (a list, or empty) as alice, without TLS and
/// with the plaintext opt-in.
fn auth_settings(server: &TestServer, mechanism: &str, password: &str) -> ClientSettings {
    let mut s = settings_for(server);
    s.auth.credentials.user = "alice".into();
    s.auth.enabled = true;
    s.auth.credentials.password = password.into();
    s.auth.mechanisms = Some(mechanism.into());
    s.auth.allow_plaintext = true;
    s
}

/// ANONYMOUS and EXTERNAL need no password and no opt-in.
pub fn anonymous_and_external<A: Adapter>() {
    let name = A::NAME;
    for mechanism in ["ANONYMOUS", "EXTERNAL"] {
        let server = start(Script::new().auth([mechanism], &[("alice", "x")]));
        let mut s = auth_settings(&server, mechanism, "");
        s.auth.allow_plaintext = false;
        let connection = A::connect(&s, None).unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        assert_eq!(
            connection.info().auth_mechanism.as_deref(),
            Some(mechanism),
            "{name}"
        );
        let _ = connection.close();
        assert_eq!(server.authentications().len(), 1, "{name} {mechanism}");
    }
}

/// Without TLS and without the opt-in, PLAIN and LOGIN are refused before
/// AUTH is sent; the default order prefers a mechanism that does not
/// reveal the password.
pub fn plaintext_mechanisms_need_tls_or_an_explicit_opt_in<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().auth(["PLAIN", "LOGIN"], &[("alice", "pw")]));
    let mut s = auth_settings(&server, "PLAIN LOGIN", "pw");
    s.auth.allow_plaintext = false;
    match connect_error::<A>(&s) {
        Error::Session(SessionError::Auth(AuthError::PlaintextRefused { mechanism })) => {
            assert_eq!(mechanism, "PLAIN", "{name}");
        }
        other => panic!("{name}: {other:?}"),
    }
    // Nothing secret went on the wire.
    assert!(
        server.commands().iter().all(|c| !c.starts_with("AUTH")),
        "{name}"
    );

    let server = start(Script::new().auth(["PLAIN", "SCRAM-SHA-1"], &[("alice", "pw")]));
    let mut s = auth_settings(&server, "", "pw");
    s.auth.mechanisms = None;
    s.auth.allow_plaintext = false;
    let connection = connect::<A>(&s);
    assert_eq!(
        connection.info().auth_mechanism.as_deref(),
        Some("SCRAM-SHA-1"),
        "{name}"
    );
    let _ = connection.close();
}

/// A server offering only mechanisms the client does not run, and one
/// offering no AUTH at all.
pub fn no_usable_mechanism_and_not_offered<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().auth(["GSSAPI"], &[("alice", "pw")]));
    let err = connect_error::<A>(&auth_settings(&server, "PLAIN", "pw"));
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Auth(AuthError::NoUsableMechanism { .. }))
        ),
        "{name}: {err:?}"
    );
    let server = start(Script::new());
    let err = connect_error::<A>(&auth_settings(&server, "PLAIN", "pw"));
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Auth(AuthError::NotOffered))
        ),
        "{name}: {err:?}"
    );
}

/// `mail.smtp.auth.<mech>.disable` takes a mechanism out of the choice,
/// and XOAUTH2 is off unless asked for; a bearer token, like a password,
/// needs TLS or the opt-in.
pub fn properties_select_and_disable_mechanisms<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new().auth(
        ["XOAUTH2", "SCRAM-SHA-256", "SCRAM-SHA-1"],
        &[("alice", "tok")],
    ));
    let port = server.addr().port().to_string();
    let mut s = ClientSettings::from_properties(
        Protocol::Smtp,
        [
            ("mail.smtp.host", "127.0.0.1"),
            ("mail.smtp.port", port.as_str()),
            ("mail.smtp.auth", "true"),
            ("mail.smtp.user", "alice"),
            // No TLS on the test server: turned off by name (with
            // credentials, STARTTLS is otherwise required).
            ("mail.smtp.starttls.enable", "false"),
            ("mail.smtp.auth.scram-sha-256.disable", "true"),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    s.auth.credentials.password = "tok".into();
    let mechanism = |s: &ClientSettings| {
        let connection = connect::<A>(s);
        let used = connection.info().auth_mechanism;
        let _ = connection.close();
        used
    };
    assert_eq!(mechanism(&s).as_deref(), Some("SCRAM-SHA-1"), "{name}");
    set(&mut s, "mail.smtp.auth.xoauth2.disable", "false");
    set(&mut s, "mail.smtp.auth.scram-sha-1.disable", "true");
    let err = connect_error::<A>(&s);
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Auth(AuthError::PlaintextRefused { .. }))
        ),
        "{name}: {err:?}"
    );
    s.auth.allow_plaintext = true;
    assert_eq!(mechanism(&s).as_deref(), Some("XOAUTH2"), "{name}");
}

// ----- proxies ------------------------------------------------------------

/// The test proxies resolve the invented name `mx.test.invalid` to
/// `server`: a name only the proxy can resolve proves remote DNS.
fn proxy_resolver(
    server: std::net::SocketAddr,
) -> impl Fn(&str, u16) -> Option<std::net::SocketAddr> + Send + Sync + 'static {
    move |host, port| (host == "mx.test.invalid" && port == 25).then_some(server)
}

fn proxied_settings() -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "mx.test.invalid");
    s.local_name =
        Some(Host::parse("client.example").unwrap_or_else(|_| unreachable!("a valid name")));
    s.session.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(10));
    s
}

/// SOCKS5 without authentication (by `mail.smtp.socks.*`), with a user
/// and password (typed), a wrong password, and no credentials for a proxy
/// that wants them.
pub fn socks5_without_and_with_credentials<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new());
    let proxy = TestProxy::start(ProxyProtocol::Socks5, None, proxy_resolver(server.addr()))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = proxied_settings();
    set(&mut s, "mail.smtp.socks.host", "127.0.0.1");
    set(
        &mut s,
        "mail.smtp.socks.port",
        &proxy.addr().port().to_string(),
    );
    send_one::<A>(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(proxy.targets(), ["mx.test.invalid:25"], "{name}");

    let proxy = TestProxy::start(
        ProxyProtocol::Socks5,
        Some(("bob", "s0cks")),
        proxy_resolver(server.addr()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut with = ProxySettings::new(ProxyKind::Socks5, "127.0.0.1", proxy.addr().port());
    with.user = Some("bob".into());
    with.password = Some("s0cks".into());
    let mut s = proxied_settings();
    s.proxy = Some(with.clone());
    send_one::<A>(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(server.transactions().len(), 2, "{name}");

    with.password = Some("wrong".into());
    s.proxy = Some(with);
    let result = send_one::<A>(&s);
    assert!(
        matches!(result, Err(Error::Proxy(ProxyError::AuthenticationFailed))),
        "{name}: {result:?}"
    );
    if let Some(p) = s.proxy.as_mut() {
        p.user = None;
    }
    let result = send_one::<A>(&s);
    assert!(
        matches!(result, Err(Error::Proxy(ProxyError::NoAcceptableMethod))),
        "{name}: {result:?}"
    );
}

/// HTTP CONNECT with Basic credentials by `mail.smtp.proxy.*`; a wrong
/// password is the proxy's 407.
pub fn http_connect_with_basic_auth<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new());
    let proxy = TestProxy::start(
        ProxyProtocol::HttpConnect,
        Some(("alice", "h77p")),
        proxy_resolver(server.addr()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut s = proxied_settings();
    set(&mut s, "mail.smtp.proxy.host", "127.0.0.1");
    set(
        &mut s,
        "mail.smtp.proxy.port",
        &proxy.addr().port().to_string(),
    );
    set(&mut s, "mail.smtp.proxy.user", "alice");
    set(&mut s, "mail.smtp.proxy.password", "h77p");
    send_one::<A>(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(proxy.targets(), ["mx.test.invalid:25"], "{name}");
    set(&mut s, "mail.smtp.proxy.password", "nope");
    let result = send_one::<A>(&s);
    assert!(
        matches!(
            result,
            Err(Error::Proxy(ProxyError::HttpStatus { status: 407, .. }))
        ),
        "{name}: {result:?}"
    );
}

/// A SOCKS5 proxy that cannot reach the target says so (reply 4, host
/// unreachable), as a proxy error.
pub fn proxy_cannot_reach_the_target<A: Adapter>() {
    let name = A::NAME;
    let proxy = TestProxy::start(ProxyProtocol::Socks5, None, |_, _| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = proxied_settings();
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        "127.0.0.1",
        proxy.addr().port(),
    ));
    let result = send_one::<A>(&s);
    assert!(
        matches!(
            result,
            Err(Error::Proxy(ProxyError::ConnectFailed {
                code: 4,
                message: "host unreachable"
            }))
        ),
        "{name}: {result:?}"
    );
}

/// Per-recipient replies after the data decide each recipient: LMTP over
/// TCP and over a Unix domain socket (one reply per accepted recipient,
/// a full mailbox refused alone), and PRDR (353, one reply per recipient,
/// a final reply).
pub fn per_recipient_data_replies<A: Adapter>() {
    let name = A::NAME;
    let lmtp = start(
        Script::new()
            .lmtp()
            .rule(
                When::DataFor("full@example.org".into()),
                Action::reply("452 4.2.2 Mailbox full\r\n"),
            )
            .rule(
                When::RcptTo("unknown@example.org".into()),
                Action::reply("550 5.1.1 No such user\r\n"),
            ),
    );
    let mut s = settings_for(&lmtp);
    s.protocol = Protocol::Lmtp;
    s.session.send_partial = true;
    let statuses = |report: &DeliveryReport| -> Vec<(String, &'static str, u16)> {
        report
            .recipients
            .iter()
            .map(|r| match &r.status {
                smtpkit_proto::RecipientStatus::Delivered(x) => {
                    (r.address.to_string(), "delivered", x.code().get())
                }
                smtpkit_proto::RecipientStatus::Rejected(x) => {
                    (r.address.to_string(), "rejected", x.code().get())
                }
                other => panic!("{name}: {other:?}"),
            })
            .collect()
    };
    let expected = [
        ("a@example.org".to_owned(), "delivered", 250),
        ("full@example.org".to_owned(), "rejected", 452),
        ("unknown@example.org".to_owned(), "rejected", 550),
    ];
    let rcpts = ["a@example.org", "full@example.org", "unknown@example.org"];
    let mut connection = connect::<A>(&s);
    let report = connection
        .send(envelope(&rcpts), TestBody::Bytes(BODY.to_vec()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(statuses(&report), expected, "{name}: LMTP over TCP");
    // Refusals at the end of data are transient or permanent per reply.
    assert!(report.recipients[1].status.is_transient(), "{name}");
    let _ = connection.close();
    let commands = lmtp.commands();
    assert!(commands[0].starts_with("LHLO "), "{name}: {commands:?}");
    assert_eq!(lmtp.transactions()[0].rcpt_to, ["a@example.org"], "{name}");

    #[cfg(unix)]
    {
        let path = scratch::<A>("smtpkit-lmtp.sock");
        let _ = std::fs::remove_file(&path);
        lmtp.listen_unix(&path)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut over_unix = s.clone();
        over_unix.unix_socket = Some(path.clone());
        over_unix.port = Some(1); // unused: the socket is
        let mut connection = connect::<A>(&over_unix);
        let report = connection
            .send(envelope(&rcpts), TestBody::Bytes(BODY.to_vec()))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            statuses(&report),
            expected,
            "{name}: LMTP over a Unix socket"
        );
        let _ = connection.close();
        assert_eq!(lmtp.transactions().len(), 2, "{name}");
        // A socket that is not there: a clear error naming it.
        let mut missing = over_unix.clone();
        missing.unix_socket = Some(path.with_extension("missing"));
        let err = connect_error::<A>(&missing);
        let chain = err.chain();
        let path = missing
            .unix_socket
            .as_ref()
            .map(|p| p.display().to_string());
        let path = path.unwrap_or_default();
        // Named once: the connector names the socket, the runtime does not.
        assert_eq!(chain.matches(path.as_str()).count(), 1, "{name}: {chain}");
    }

    let prdr = start(Script::new().prdr().rule(
        When::DataFor("picky@example.org".into()),
        Action::reply("550 5.7.1 Not wanted here\r\n"),
    ));
    let mut connection = connect::<A>(&settings_for(&prdr));
    let report = connection
        .send(
            envelope(&["a@example.org", "picky@example.org"]),
            TestBody::Bytes(BODY.to_vec()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        statuses(&report),
        [
            ("a@example.org".to_owned(), "delivered", 250),
            ("picky@example.org".to_owned(), "rejected", 550),
        ],
        "{name}: PRDR"
    );
    assert_eq!(report.failure, None, "{name}");
    let _ = connection.close();
    let mail = prdr
        .commands()
        .into_iter()
        .find(|c| c.starts_with("MAIL"))
        .unwrap_or_default();
    assert!(mail.ends_with(" PRDR"), "{name}: {mail}");
    assert_eq!(prdr.transactions()[0].rcpt_to, ["a@example.org"], "{name}");
}

/// A server out to mislead the client, on every runtime: a reply nobody
/// asked for is a protocol error (not the next command's answer); a 354
/// to RSET drops the connection rather than put the next command into
/// DATA; reply text with C1 controls and bidirectional overrides is kept
/// exactly in the report and escaped wherever it is displayed; an ESC in
/// a reply is a malformed reply whose error shows no raw control; a
/// server that never answers QUIT delays neither the report nor `close`
/// beyond the QUIT deadline.
pub fn hostile_server<A: Adapter>() {
    let name = A::NAME;
    // An extra reply that arrives with the greeting.
    let server = start(Script::new().rule(
        When::Connect,
        Action::reply("220 testkit ESMTP\r\n250 I answer before you ask\r\n"),
    ));
    let err = connect_error::<A>(&settings_for(&server));
    assert!(
        matches!(err, Error::Session(SessionError::UnexpectedReply(_))),
        "{name}: {err:?}"
    );

    // RSET answered with 354: the client must not go on as if in DATA.
    // (DATA: after a BDAT LAST the transaction is over without RSET.)
    let server = start(
        Script::new()
            .extensions(["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"])
            .rule(
                When::RcptTo("bad@example.org".into()),
                Action::reply("550 5.1.1 unknown\r\n"),
            )
            .rule(When::Command("RSET"), Action::reply("354 go ahead\r\n")),
    );
    let mut connection = connect::<A>(&settings_for(&server));
    let result = connection.send(
        envelope(&["bad@example.org"]),
        TestBody::Bytes(BODY.to_vec()),
    );
    assert!(
        matches!(&result, Ok(r) if r.failure == Some(FailureKind::RecipientsRejected)),
        "{name}: {result:?}"
    );
    assert!(
        !connection.is_connected(),
        "{name}: still connected after a 354 to RSET: {:?}",
        server.commands()
    );
    let _ = connection.close();
    let commands = commands_seen(&server, 3);
    assert!(
        !commands
            .iter()
            .skip_while(|c| *c != "RSET")
            .skip(1)
            .any(|c| c != "QUIT" && c != "NOOP"),
        "{name}: wrote on as if in DATA: {commands:?}"
    );
    assert!(server.transactions().is_empty(), "{name}");

    // C1 controls and a bidi override in reply text.
    let hostile = "550 5.1.1 user\u{9b}2J unknown \u{202e}gnp.exe\r\n";
    let server = start(Script::new().rule(
        When::RcptTo("bad@example.org".into()),
        Action::reply(hostile),
    ));
    let mut s = settings_for(&server);
    s.session.send_partial = true;
    let mut connection = connect::<A>(&s);
    let report = connection
        .send(
            envelope(&["ok@example.org", "bad@example.org"]),
            TestBody::Bytes(BODY.to_vec()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let (_, reply) = report
        .rejected()
        .next()
        .unwrap_or_else(|| panic!("{name}: {report:?}"));
    assert_eq!(
        reply.message(),
        "user\u{9b}2J unknown \u{202e}gnp.exe",
        "{name}: exact"
    );
    let shown = reply.to_string();
    assert!(
        !shown.contains('\u{9b}') && !shown.contains('\u{202e}'),
        "{name}: displayed raw: {shown:?}"
    );
    let _ = connection.close();

    // ESC in a reply: malformed, and the error shows it escaped.
    let server = start(Script::new().rule(
        When::Command("MAIL"),
        Action::reply("250 ok \u{1b}]0;pwned\u{7}\r\n"),
    ));
    let mut connection = connect::<A>(&settings_for(&server));
    let err = connection
        .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
        .expect_err("an ESC in a reply is malformed");
    let chain = err.chain();
    assert!(
        !chain.contains('\u{1b}') && !chain.contains('\u{7}'),
        "{name}: {chain:?}"
    );
    assert!(
        err.report().is_some_and(|r| r.unsent().count() == 1),
        "{name}: {err:?}"
    );

    // QUIT never answered.
    let server = start(Script::new().rule(When::Command("QUIT"), Action::Hang));
    let mut s = settings_for(&server);
    s.session.timeouts.quit = Duration::from_secs(1);
    let mut connection = connect::<A>(&s);
    let report = connection
        .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(report.all_delivered(), "{name}");
    let started = Instant::now();
    let _ = connection.close();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{name}: close waited {:?} for a QUIT reply",
        started.elapsed()
    );
}

/// Expands the whole suite as `#[test]` functions for an [`Adapter`].
/// A strict server without PIPELINING drops a client that writes a
/// command before the previous reply: after a refused recipient the
/// client waits for RSET's reply before QUIT, and after a refused
/// greeting, EHLO or STARTTLS it does not write ahead either.
pub fn strict_server_without_pipelining<A: Adapter>() {
    let name = A::NAME;
    let server = TestServer::start(
        Script::new()
            .extensions(["8BITMIME", "ENHANCEDSTATUSCODES"])
            .strict_pipelining()
            .rule(
                When::RcptTo("busy@example.org".into()),
                Action::reply("450 4.2.0 try later\r\n"),
            ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (result, _) = run::<A>(
        &settings_for(&server),
        vec![
            (envelope(&["busy@example.org"]), BODY.to_vec()),
            (
                envelope(&["a@example.org", "busy@example.org"]),
                BODY.to_vec(),
            ),
        ],
    );
    let results = result.unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        matches!(&results[0], Ok(report) if report.failure == Some(FailureKind::RecipientsRejected)),
        "{name}: {:?}",
        results[0]
    );
    assert!(
        matches!(&results[1], Ok(report) if report.failure == Some(FailureKind::RecipientsRejected) && report.delivered().count() == 0),
        "{name}: sendpartial is off: {:?}",
        results[1]
    );
    let commands = commands_seen(&server, 1);
    assert!(
        !commands
            .iter()
            .any(|c| c == smtpkit_testserver::PIPELINING_VIOLATION),
        "{name}: wrote ahead: {commands:?}"
    );
    assert_eq!(
        commands.last().map(String::as_str),
        Some("QUIT"),
        "{name}: {commands:?}"
    );
    assert!(server.transactions().is_empty(), "{name}");
}

const MESSAGE: &[u8] = b"From: Sender <sender@client.example>\r\nTo: a@example.org\r\nCc: b@example.org\r\nBcc: c@example.org\r\nSubject: m\r\n\r\n.dot\nline\r\n";
const MESSAGE_WIRE: &[u8] = b"From: Sender <sender@client.example>\r\nTo: a@example.org\r\nCc: b@example.org\r\nSubject: m\r\n\r\n.dot\r\nline\r\n";

/// A message-level send takes its envelope from the header and does not
/// transmit `Bcc:`, from memory, a file and a reader alike, through the
/// client, the one-call function and the pool: the same octets arrive
/// whichever way. A file is read again after its header when LIMITS
/// RCPTMAX splits the recipients, and again when the pool retries after
/// a refused connection.
pub fn message_level_send<A: Adapter>() {
    let name = A::NAME;
    let path = scratch::<A>("smtp-message.eml");
    std::fs::write(&path, MESSAGE).unwrap_or_else(|e| panic!("{e}"));
    let bodies = [
        ("memory", TestBody::Bytes(MESSAGE.to_vec())),
        ("file", TestBody::File(path.clone())),
        ("reader", TestBody::Reader(MESSAGE.to_vec())),
    ];
    for (kind, body) in bodies {
        // A stream cannot be read twice: no RCPTMAX split for it.
        let split = !matches!(body, TestBody::Reader(_));
        let script = if split {
            Script::new().extensions(["PIPELINING", "SIZE 1000000", "LIMITS RCPTMAX=2"])
        } else {
            Script::new()
        };
        for way in ["client", "one-call", "pool"] {
            let script = if way == "pool" && kind != "reader" {
                // The first connection is refused: the pool tries again,
                // reading the body again.
                script
                    .clone()
                    .rule_times(When::Connect, Action::reply("421 4.3.2 busy\r\n"), 1)
            } else {
                script.clone()
            };
            let server = start(script);
            let settings = settings_for(&server);
            let report = send_message_by::<A>(way, &settings, body.clone())
                .unwrap_or_else(|e| panic!("{name}, {kind}, {way}: {e}"));
            assert!(report.all_delivered(), "{name}, {kind}, {way}: {report:?}");
            let transactions = server.transactions();
            assert_eq!(
                transactions.len(),
                if split { 2 } else { 1 },
                "{name}, {kind}, {way}"
            );
            let mut rcpts: Vec<String> = Vec::new();
            for t in &transactions {
                assert_eq!(
                    t.mail_from, "sender@client.example",
                    "{name}, {kind}, {way}"
                );
                // The header gained Date: and Message-ID: (the sender's
                // domain), the same in every transaction of the message.
                assert_eq!(t.data, transactions[0].data, "{name}, {kind}, {way}");
                let data = String::from_utf8_lossy(&t.data);
                let added: Vec<&str> = data
                    .lines()
                    .filter(|l| l.starts_with("Date: ") || l.starts_with("Message-ID: "))
                    .collect();
                assert_eq!(added.len(), 2, "{name}, {kind}, {way}: {data}");
                assert!(
                    added[1].ends_with("@client.example>"),
                    "{name}, {kind}, {way}: {data}"
                );
                let mut without = data.to_string();
                for line in added {
                    without = without.replacen(&format!("{line}\r\n"), "", 1);
                }
                assert_eq!(
                    without,
                    String::from_utf8_lossy(MESSAGE_WIRE),
                    "{name}, {kind}, {way}"
                );
                rcpts.extend(t.rcpt_to.iter().cloned());
            }
            assert_eq!(
                rcpts,
                ["a@example.org", "b@example.org", "c@example.org"],
                "{name}, {kind}, {way}"
            );
            if way == "pool" && kind != "reader" {
                assert_eq!(server.connections(), 2, "{name}, {kind}: one retry");
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

/// The attachment of [`built_messages`]'s messages.
const ATTACHMENT: &[u8] = b"\x00\xff\r\n.\r\nbinary, a lone dot line and no final newline";

/// The messages of [`built_messages`], with the envelope each must be
/// sent to (sender, sorted recipients): From: Alice, To: bob, Cc: carol,
/// Bcc: hidden (or Bcc: alone, or an envelope of lettre's own), a text
/// part and an attachment.
type BuiltCase = (
    &'static str,
    BuiltMessage,
    &'static str,
    &'static [&'static str],
);

fn built_messages_to_send() -> Vec<BuiltCase> {
    const ALL: &[&str] = &["bob@example.net", "carol@example.net", "hidden@example.com"];
    const ALICE: &str = "alice@example.org";
    let mailbox =
        |s: &str| -> lettre::message::Mailbox { s.parse().unwrap_or_else(|e| panic!("{s}: {e}")) };
    let lettre = |keep_bcc: bool, bcc_only: bool, envelope: Option<lettre::address::Envelope>| {
        let mut builder = lettre::Message::builder()
            .from(mailbox("Alice <alice@example.org>"))
            .bcc(mailbox("Hidden <hidden@example.com>"))
            .subject("Quarterly report");
        if !bcc_only {
            builder = builder
                .to(mailbox("Bob <bob@example.net>"))
                .cc(mailbox("carol@example.net"));
        }
        if keep_bcc {
            builder = builder.keep_bcc();
        }
        if let Some(envelope) = envelope {
            builder = builder.envelope(envelope);
        }
        let attachment = lettre::message::Attachment::new("report.bin".into()).body(
            ATTACHMENT.to_vec(),
            "application/octet-stream"
                .parse()
                .unwrap_or_else(|e| panic!("content type: {e}")),
        );
        builder
            .multipart(
                lettre::message::MultiPart::mixed()
                    .singlepart(lettre::message::SinglePart::plain(String::from(
                        "The report is attached.",
                    )))
                    .singlepart(attachment),
            )
            .unwrap_or_else(|e| panic!("lettre: {e}"))
    };
    let mail_builder = mail_builder::MessageBuilder::new()
        .from(("Alice", "alice@example.org"))
        .to(("Bob", "bob@example.net"))
        .cc("carol@example.net")
        .bcc(("Hidden", "hidden@example.com"))
        .subject("Quarterly report")
        .text_body("The report is attached.")
        .attachment("application/octet-stream", "report.bin", ATTACHMENT);
    let address = |s: &str| -> lettre::Address { s.parse().unwrap_or_else(|e| panic!("{s}: {e}")) };
    // A bounce address and a list of lettre's own: sent to, not the header.
    let own = lettre::address::Envelope::new(
        Some(address("bounces@example.org")),
        vec![address("hidden@example.com"), address("bob@example.net")],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    vec![
        (
            "lettre",
            BuiltMessage::Lettre(lettre(false, false, None)),
            ALICE,
            ALL,
        ),
        (
            "lettre by reference",
            BuiltMessage::LettreRef(lettre(false, false, None)),
            ALICE,
            ALL,
        ),
        (
            "lettre with keep_bcc",
            BuiltMessage::Lettre(lettre(true, false, None)),
            ALICE,
            ALL,
        ),
        // No To: or Cc: left once lettre drops Bcc:.
        (
            "lettre, Bcc only",
            BuiltMessage::Lettre(lettre(false, true, None)),
            ALICE,
            &["hidden@example.com"],
        ),
        (
            "lettre with an envelope of its own",
            BuiltMessage::Lettre(lettre(false, false, Some(own))),
            "bounces@example.org",
            &["bob@example.net", "hidden@example.com"],
        ),
        (
            "mail-builder",
            BuiltMessage::MailBuilder(mail_builder),
            ALICE,
            ALL,
        ),
    ]
}

/// A message built with lettre or mail-builder, handed to `send_message`
/// as it is, through the client, the one-call function and a pool (which
/// retries it on a second connection), and DKIM-signed through the
/// client: every recipient is in the envelope, the Bcc one included
/// (lettre drops `Bcc:` from the message it builds; its envelope keeps
/// the address), `Bcc:` is not transmitted (mail-builder writes it;
/// lettre's `keep_bcc()` keeps it), the header is completed as for every
/// message-level send (one `Message-ID:`, which lettre does not write),
/// the signature verifies with dkimpy, and the message arrives whole:
/// subject, text and attachment.
pub fn built_messages<A: Adapter>() {
    use smtpkit_client::dkim::DkimCanonicalization::Relaxed;
    let name = A::NAME;
    let dir = std::env::temp_dir().join(format!(
        "smtp-built-{}-{}",
        std::process::id(),
        name.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let mut signed = Vec::new();
    for way in ["client", "one-call", "pool", "signed"] {
        for (kind, message, from, expected) in built_messages_to_send() {
            let script = if way == "pool" {
                // The first connection is refused: the pool tries again
                // with the same message.
                Script::new().rule_times(When::Connect, Action::reply("421 4.3.2 busy\r\n"), 1)
            } else {
                Script::new()
            };
            let server = start(script);
            let mut settings = settings_for(&server);
            if way == "signed" {
                settings.dkim = Some(test_signer("ed25519", Relaxed));
            }
            let report = match way {
                "client" | "signed" => {
                    let mut connection = connect::<A>(&settings);
                    let report = connection.send_built(message);
                    let _ = connection.close();
                    report
                }
                "one-call" => A::send_built_once(&settings, message),
                _ => {
                    let mut config = smtpkit_client::PoolConfig::default();
                    config.retry_backoff = Duration::from_millis(10);
                    A::pool_send_built(&settings, config, message)
                }
            }
            .unwrap_or_else(|e| panic!("{name}, {kind}, {way}: {e}"));
            assert!(report.all_delivered(), "{name}, {kind}, {way}: {report:?}");
            let transactions = server.transactions();
            assert_eq!(transactions.len(), 1, "{name}, {kind}, {way}");
            let t = &transactions[0];
            assert_eq!(t.mail_from, from, "{name}, {kind}, {way}");
            let mut rcpts = t.rcpt_to.clone();
            rcpts.sort();
            assert_eq!(
                rcpts, expected,
                "{name}, {kind}, {way}: every recipient, the Bcc one included"
            );
            let text = String::from_utf8_lossy(&t.data);
            let parsed = mail_parser::MessageParser::new()
                .parse(&t.data)
                .unwrap_or_else(|| panic!("{name}, {kind}, {way}: not a message: {text}"));
            assert!(
                parsed.header_raw("Bcc").is_none() && !text.contains("hidden@example.com"),
                "{name}, {kind}, {way}: Bcc: transmitted: {text}"
            );
            assert_eq!(
                text.matches("\nMessage-ID: ").count(),
                1,
                "{name}, {kind}, {way}: {text}"
            );
            assert_eq!(
                parsed.subject(),
                Some("Quarterly report"),
                "{name}, {kind}, {way}"
            );
            if kind != "lettre, Bcc only" {
                assert!(
                    parsed
                        .header_raw("To")
                        .is_some_and(|to| to.contains("bob@example.net"))
                        && parsed
                            .header_raw("Cc")
                            .is_some_and(|cc| cc.contains("carol@example.net")),
                    "{name}, {kind}, {way}: {text}"
                );
            }
            assert_eq!(
                parsed.body_text(0).as_deref().map(str::trim_end),
                Some("The report is attached."),
                "{name}, {kind}, {way}"
            );
            use mail_parser::MimeHeaders as _;
            let attachments: Vec<_> = parsed.attachments().collect();
            assert_eq!(attachments.len(), 1, "{name}, {kind}, {way}: {text}");
            assert_eq!(
                attachments[0].attachment_name(),
                Some("report.bin"),
                "{name}, {kind}, {way}"
            );
            assert_eq!(
                attachments[0].contents(),
                ATTACHMENT,
                "{name}, {kind}, {way}"
            );
            if way == "pool" {
                assert_eq!(server.connections(), 2, "{name}, {kind}: one retry");
            }
            if way == "signed" {
                assert!(
                    t.data.starts_with(b"DKIM-Signature: v=1; a="),
                    "{name}, {kind}: not signed: {text}"
                );
                let out = dir.join(format!("{}.eml", signed.len()));
                std::fs::write(&out, &t.data).unwrap_or_else(|e| panic!("{e}"));
                signed.push(out);
            }
        }
    }
    let verdicts = dkimpy_verdicts(&signed);
    assert_eq!(verdicts.len(), signed.len(), "{name}: {verdicts:?}");
    for (pass, line) in verdicts {
        assert!(pass, "{name}: dkimpy: {line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The default EHLO name is decided once for every way of connecting: on
/// a stream the caller connected it is `ehlo_name(settings, None)`
/// (`mail.smtp.localhost`, else the host name), never the stream's local
/// address, on every adapter.
pub fn ehlo_default_on_a_callers_stream<A: Adapter>() {
    let name = A::NAME;
    let server = start(Script::new());
    let mut s = settings_for(&server);
    s.local_name = None;
    let stream = std::net::TcpStream::connect(server.addr()).unwrap_or_else(|e| panic!("{e}"));
    let connection = A::connect_stream(stream, &s, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let _ = connection.close();
    let expected = format!("EHLO {}", smtpkit_client::ehlo_name(&s, None));
    assert_eq!(
        server.commands().first(),
        Some(&expected),
        "{name}: the EHLO on a caller's stream"
    );
}

/// A Unix domain socket is connected within `connectiontimeout`, as TCP
/// is: a listener whose backlog is full (it never accepts) fails the
/// connect promptly, naming the socket, on every adapter.
#[cfg(unix)]
pub fn unix_socket_connect_is_bounded<A: Adapter + 'static>() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let name = A::NAME;
    let path = scratch::<A>("smtpkit-backlog.sock");
    let _ = std::fs::remove_file(&path);
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap_or_else(|e| panic!("{e}"));
    let addr = SockAddr::unix(&path).unwrap_or_else(|e| panic!("{e}"));
    listener.bind(&addr).unwrap_or_else(|e| panic!("{e}"));
    // A backlog of 0 holds one connection that is never accepted; the
    // next one has to wait (or is refused at once).
    listener.listen(0).unwrap_or_else(|e| panic!("{e}"));
    let _first = std::os::unix::net::UnixStream::connect(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.unix_socket = Some(path.clone());
    s.connect_timeout = Duration::from_millis(500);
    let (done, outcome) = std::sync::mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        let _ = done.send(A::connect(&s, None).err().map(|e| e.error.chain()));
    });
    let outcome = outcome
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{name}: the Unix socket connect outlasted its timeout"));
    let _ = std::fs::remove_file(&path);
    let Some(error) = outcome else {
        panic!("{name}: connected to a listener that never accepts");
    };
    assert!(started.elapsed() < Duration::from_secs(5), "{name}");
    assert!(
        error.contains("backlog"),
        "{name}: the error names the socket: {error}"
    );
}

/// A token source for the OAuth 2.0 scenario: hands out the scripted
/// tokens in turn (long-lived), or fails when they run out, and counts
/// the requests.
#[derive(Debug, Clone)]
struct ScriptedTokens {
    tokens: Arc<Mutex<std::collections::VecDeque<&'static str>>>,
    fetched: Arc<std::sync::atomic::AtomicUsize>,
    /// How long each request takes (a slow authorization server).
    delay: Duration,
}

impl ScriptedTokens {
    fn new(tokens: &[&'static str]) -> ScriptedTokens {
        ScriptedTokens {
            tokens: Arc::new(Mutex::new(tokens.iter().copied().collect())),
            fetched: Arc::default(),
            delay: Duration::ZERO,
        }
    }

    fn fetched(&self) -> usize {
        self.fetched.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl oauth2::TokenSource for ScriptedTokens {
    fn fetch(&self) -> Result<oauth2::AccessToken, oauth2::TokenError> {
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(self.delay);
        let next = self
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        match next {
            Some(token) => Ok(oauth2::AccessToken::new(
                token,
                Some(Duration::from_secs(3600)),
            )),
            None => Err(oauth2::TokenError::Refused {
                status: 400,
                error: "invalid_grant".into(),
                description: Some("the refresh token was revoked".into()),
            }),
        }
    }
}

/// OAuth 2.0 access tokens from a token source (`AuthSettings::tokens`):
/// each connection asks the cache; a token the server refuses is dropped
/// and a new one tried once, on a new connection; a second refusal is a
/// typed, final error; a token endpoint failure is [`Error::Token`]
/// before any connection; no token reaches the transcript; 1,000 pooled
/// sends that find no token cause one request.
pub fn oauth2_tokens_renew_and_retry_once<A: Adapter>() {
    let name = A::NAME;
    let users = [("alice", "good-2")];
    for mechanism in ["XOAUTH2", "OAUTHBEARER"] {
        let server = start(Script::new().auth(["XOAUTH2", "OAUTHBEARER"], &users));
        let mut s = settings_for(&server);
        s.auth.allow_plaintext = true;
        let source = ScriptedTokens::new(&["expired-1", "good-2"]);
        let tokens = oauth2::TokenCache::new(source.clone());
        s.auth.login_with_tokens("alice", tokens.clone());
        if mechanism == "OAUTHBEARER" {
            s.auth.mechanisms = Some(mechanism.into());
        }
        let (hook, seen) = recorder();
        let mut connection =
            A::connect(&s, Some(hook)).unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        connection
            .send(envelope(&["a@example.org"]), TestBody::Bytes(BODY.to_vec()))
            .unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        connection
            .close()
            .unwrap_or_else(|e| panic!("{name} {mechanism}: {e}"));
        // The first token refused, the second taken: two connections, two
        // requests, one authentication.
        assert_eq!(server.connections(), 2, "{name} {mechanism}");
        assert_eq!(
            (source.fetched(), tokens.requests()),
            (2, 2),
            "{name} {mechanism}"
        );
        assert_eq!(
            server.authentications(),
            [(mechanism.to_owned(), "alice".to_owned())],
            "{name}"
        );
        let transcript = client_lines(&seen);
        let auths = transcript
            .iter()
            .filter(|l| l.starts_with(&format!("C: AUTH {mechanism}")))
            .count();
        assert_eq!(
            auths, 2,
            "{name} {mechanism}: the hook sees both: {transcript:?}"
        );
        assert!(
            !transcript
                .iter()
                .any(|l| l.contains("good-2") || l.contains("expired-1")),
            "{name}: {transcript:?}"
        );
        // The token is fresh: the one-call function and a pool use it
        // without asking again.
        A::send_message_once(&s, TestBody::Bytes(MESSAGE.to_vec()))
            .unwrap_or_else(|e| panic!("{name} {mechanism} one call: {e}"));
        A::pool_send_message(
            &s,
            smtpkit_client::PoolConfig::default(),
            TestBody::Bytes(MESSAGE.to_vec()),
        )
        .unwrap_or_else(|e| panic!("{name} {mechanism} pool: {e}"));
        assert_eq!(source.fetched(), 2, "{name} {mechanism}");
        assert_eq!(server.transactions().len(), 3, "{name} {mechanism}");

        // Both tokens refused: exactly one retry, then the typed refusal.
        let server = start(Script::new().auth(["XOAUTH2", "OAUTHBEARER"], &users));
        s.port = Some(server.addr().port());
        let source = ScriptedTokens::new(&["revoked-1", "revoked-2", "good-2"]);
        s.auth.tokens = Some(oauth2::TokenCache::new(source.clone()));
        let error = connect_error::<A>(&s);
        match &error {
            Error::Session(SessionError::Auth(AuthError::TokenRefused {
                mechanism: m,
                reply,
                error: Some(bearer),
            })) => {
                assert_eq!(
                    (m.as_str(), reply.code().get(), bearer.status.as_str()),
                    (mechanism, 535, "invalid_token"),
                    "{name}"
                );
            }
            other => panic!("{name} {mechanism}: {other:?}"),
        }
        assert!(error.is_token_refusal(), "{name}");
        assert_eq!(error.class(), smtpkit_proto::ErrorClass::Configuration);
        assert!(error.to_string().contains("refused the"), "{name}: {error}");
        assert_eq!(
            (server.connections(), source.fetched()),
            (2, 2),
            "{name} {mechanism}"
        );
        assert!(server.authentications().is_empty(), "{name}");
    }

    // A pool whose sends all find no token: one request for all of them,
    // however slow the authorization server.
    let server = start(Script::new().auth(["XOAUTH2"], &users));
    let mut s = settings_for(&server);
    s.auth.allow_plaintext = true;
    let mut source = ScriptedTokens::new(&["good-2"]);
    source.delay = Duration::from_millis(300);
    s.auth
        .login_with_tokens("alice", oauth2::TokenCache::new(source.clone()));
    let mut config = smtpkit_client::PoolConfig::default();
    config.max_connections = 16;
    eprintln!("POOLSTART {:?}", std::time::Instant::now());
    let results = pool_send_until::<A>(&s, config, 1000, Instant::now(), &|_| {
        TestBody::Bytes(MESSAGE.to_vec())
    });
    assert_eq!(results.len(), 1000, "{name}");
    assert!(results.iter().all(Result::is_ok), "{name}: {results:?}");
    eprintln!("POOLTIME {:?}", std::time::Instant::now());
    assert_eq!(
        source.fetched(),
        1,
        "{name}: 1,000 sends, 16 connections, one token request"
    );

    // The token endpoint refuses the grant: a typed error, no connection.
    let server = start(Script::new().auth(["XOAUTH2"], &users));
    let mut s = settings_for(&server);
    s.auth.allow_plaintext = true;
    s.auth
        .login_with_tokens("alice", oauth2::TokenCache::new(ScriptedTokens::new(&[])));
    match connect_error::<A>(&s) {
        Error::Token(oauth2::TokenError::Refused { error, .. }) => {
            assert_eq!(error, "invalid_grant", "{name}");
        }
        other => panic!("{name}: {other:?}"),
    }
    assert_eq!(server.connections(), 0, "{name}");

    // Without TLS a token is a password in the clear: refused unless
    // allowed by name.
    let server = start(Script::new().auth(["XOAUTH2"], &users));
    let mut s = settings_for(&server);
    s.auth.login_with_tokens(
        "alice",
        oauth2::TokenCache::new(oauth2::StaticToken("good-2".into())),
    );
    assert!(
        matches!(
            connect_error::<A>(&s),
            Error::Session(SessionError::Auth(AuthError::PlaintextRefused { .. }))
        ),
        "{name}"
    );
}

/// A message with these recipients, From: the suite's sender.
fn message_to(rcpts: &[&str], tag: &str) -> Vec<u8> {
    format!(
        "From: <sender@client.example>\r\nTo: {}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@relay.test>\r\n\r\nbody\r\n",
        rcpts.join(", ")
    )
    .into_bytes()
}

/// A port nothing listens on: a relay that is down.
fn down_relay() -> smtpkit_client::relay::Relay {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = closed
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    drop(closed);
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.port = Some(port);
    s.connect_timeout = Duration::from_secs(5);
    smtpkit_client::relay::Relay::new(s)
}

fn relay_to(server: &TestServer) -> smtpkit_client::relay::Relay {
    smtpkit_client::relay::Relay::new(settings_for(server))
}

/// How many of the server's accepted transactions name `rcpt`.
fn accepted_for(server: &TestServer, rcpt: &str) -> usize {
    server
        .transactions()
        .iter()
        .filter(|t| t.reply.starts_with('2'))
        .map(|t| {
            t.rcpt_to
                .iter()
                .filter(|r| r.eq_ignore_ascii_case(rcpt))
                .count()
        })
        .sum()
}

/// A relay set: failover from a relay that is down, with the breaker
/// skipping it for the next message; a greylisted recipient (451) and a
/// "452 too many recipients" rule retried on the same relay until each
/// recipient is delivered exactly once; a permanent refusal never sent
/// again; the end of data without a reply (unknown: not resent, unless
/// asked); every relay down (each reason in the report); a rate limit.
pub fn relay_failover_and_per_recipient_retry<A: Adapter>() {
    use smtpkit_client::relay::{Outcome, Rate, RelayPolicy, RelaySet};
    let name = A::NAME;
    let quick = RelayPolicy::default()
        .with_backoff(Duration::from_millis(20))
        .with_cool_down(Duration::from_secs(60));
    let config = smtpkit_client::PoolConfig::default();

    // Failover, then the breaker.
    let server = start(Script::new());
    let set = RelaySet::new([down_relay(), relay_to(&server)]).with_policy(quick);
    let reports = A::relay_send_messages(
        set,
        config,
        vec![
            TestBody::Bytes(message_to(
                &["a@example.org", "b@example.org"],
                "failover-1",
            )),
            TestBody::Bytes(message_to(&["c@example.org"], "failover-2")),
        ],
    );
    let relay1 = format!("127.0.0.1:{}", server.addr().port());
    let first = reports[0]
        .as_ref()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(first.all_delivered(), "{name}: {first:?}");
    assert!(
        first
            .recipients
            .iter()
            .all(|r| r.relay.as_deref() == Some(relay1.as_str())),
        "{name}: {first:?}"
    );
    assert_eq!((first.sends, first.failovers()), (2, 1), "{name}");
    assert!(
        first.failures[0].1.contains("refused"),
        "{name}: {:?}",
        first.failures
    );
    let second = reports[1]
        .as_ref()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        (second.sends, second.failovers()),
        (1, 0),
        "{name}: the relay that is down is skipped"
    );
    assert_eq!(server.transactions().len(), 2, "{name}");
    // The one-call function fails over the same way.
    let set = RelaySet::new([down_relay(), relay_to(&server)]).with_policy(quick);
    let once = A::relay_send_once(
        &set,
        TestBody::Bytes(message_to(&["d@example.org"], "once")),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        once.all_delivered() && once.failovers() == 1,
        "{name}: {once:?}"
    );
    assert_eq!(server.transactions().len(), 3, "{name}");

    // Greylisting, 452 after two recipients, and a permanent refusal.
    let rcpts = [
        "a@example.org",
        "b@example.org",
        "c@example.org",
        "d@example.org",
        "e@example.org",
        "x@example.org",
    ];
    let server = start(
        Script::new()
            .rule_times(
                When::RcptTo("b@example.org".into()),
                Action::reply("451 4.7.1 greylisted, try again\r\n"),
                1,
            )
            .rule(
                When::RcptTo("x@example.org".into()),
                Action::reply("550 5.1.1 no such user\r\n"),
            )
            .rule(
                When::RcptFrom(2),
                Action::reply("452 4.5.3 too many recipients\r\n"),
            ),
    );
    let set = RelaySet::new([relay_to(&server)]).with_policy(quick);
    let reports = A::relay_send_messages(
        set,
        config,
        vec![TestBody::Bytes(message_to(&rcpts, "retry"))],
    );
    let report = reports[0]
        .as_ref()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    for rcpt in &rcpts[..5] {
        assert_eq!(
            accepted_for(&server, rcpt),
            1,
            "{name}: {rcpt} delivered once: {report:?}"
        );
    }
    assert_eq!(accepted_for(&server, "x@example.org"), 0, "{name}");
    let x = report
        .recipients
        .iter()
        .find(|r| r.address.to_string() == "x@example.org");
    assert!(
        matches!(x.map(|r| &r.outcome), Some(Outcome::Rejected { .. })),
        "{name}: {report:?}"
    );
    assert_eq!(
        report
            .recipients
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Delivered { .. }))
            .count(),
        5,
        "{name}: {report:?}"
    );
    // x is refused at once (permanent) and never sent again.
    let x_rcpts = server
        .commands()
        .iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("RCPT TO:<X@"))
        .count();
    assert_eq!(x_rcpts, 1, "{name}");

    // The end of data without a reply: unknown, not resent; resent when
    // asked (the same Message-ID), to the next relay.
    for resend in [false, true] {
        let silent = start(Script::new().rule(When::EndOfData, Action::Disconnect));
        let healthy = start(Script::new());
        let set = RelaySet::new([relay_to(&silent), relay_to(&healthy)])
            .with_policy(quick.with_resend_unknown(resend));
        let reports = A::relay_send_messages(
            set,
            config,
            vec![TestBody::Bytes(message_to(&["a@example.org"], "unknown"))],
        );
        let report = reports[0]
            .as_ref()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if resend {
            assert!(report.all_delivered(), "{name}: {report:?}");
            assert_eq!(healthy.transactions().len(), 1, "{name}");
            let data = String::from_utf8_lossy(&healthy.transactions()[0].data).into_owned();
            assert!(data.contains("Message-ID: <unknown@relay.test>"), "{name}");
        } else {
            assert!(
                matches!(report.recipients[0].outcome, Outcome::Unknown { relay: 0 }),
                "{name}: {report:?}"
            );
            assert!(
                healthy.transactions().is_empty(),
                "{name}: never sent twice"
            );
        }
    }

    // Every relay down: each recipient deferred, every relay's reason.
    let set = RelaySet::new([down_relay(), down_relay()]).with_policy(
        quick
            .with_max_attempts(2)
            .with_cool_down(Duration::from_millis(10)),
    );
    let reports = A::relay_send_messages(
        set,
        config,
        vec![TestBody::Bytes(message_to(&["a@example.org"], "down"))],
    );
    let report = reports[0]
        .as_ref()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        matches!(
            report.recipients[0].outcome,
            Outcome::Deferred { reply: None, .. }
        ),
        "{name}: {report:?}"
    );
    assert!(report.failures.len() >= 2, "{name}: {report:?}");
    assert_ne!(
        report.failures[0].0, report.failures[1].0,
        "{name}: both relays named"
    );

    // A rate limit: 3 per second, 6 messages: the last waits.
    let server = start(Script::new());
    let set = RelaySet::new([relay_to(&server).with_rate(Rate::per_second(3))]);
    let started = Instant::now();
    let reports = A::relay_send_messages(
        set,
        config,
        (0..6)
            .map(|i| TestBody::Bytes(message_to(&["a@example.org"], &format!("rate-{i}"))))
            .collect(),
    );
    let waits: u32 = reports
        .iter()
        .map(|r| r.as_ref().map_or(0, |r| r.rate_waits))
        .sum();
    assert!(
        reports
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.all_delivered())),
        "{name}"
    );
    assert!(waits >= 1, "{name}: {reports:?}");
    // At most 3 in the first second: the sixth cannot go before 1 s
    // (a lower bound only: a slow machine is slower, never faster).
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{name}: {:?}",
        started.elapsed()
    );
}

#[macro_export]
macro_rules! conformance_suite {
    ($adapter:ty) => {
        #[test]
        fn conformance_message_level_send() {
            $crate::conformance::message_level_send::<$adapter>();
        }
        #[test]
        fn conformance_oauth2_tokens_renew_and_retry_once() {
            $crate::conformance::oauth2_tokens_renew_and_retry_once::<$adapter>();
        }
        #[test]
        fn conformance_relay_failover_and_per_recipient_retry() {
            $crate::conformance::relay_failover_and_per_recipient_retry::<$adapter>();
        }
        #[test]
        fn conformance_built_messages() {
            $crate::conformance::built_messages::<$adapter>();
        }
        #[test]
        fn conformance_ehlo_default_on_a_callers_stream() {
            $crate::conformance::ehlo_default_on_a_callers_stream::<$adapter>();
        }
        #[cfg(unix)]
        #[test]
        fn conformance_unix_socket_connect_is_bounded() {
            $crate::conformance::unix_socket_connect_is_bounded::<$adapter>();
        }
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
        fn conformance_chunks_only_into_an_accepted_transaction() {
            $crate::conformance::chunks_only_into_an_accepted_transaction::<$adapter>();
        }
        #[test]
        fn conformance_long_lines_are_refused_before_mail() {
            $crate::conformance::long_lines_are_refused_before_mail::<$adapter>();
        }
        #[test]
        fn conformance_dkim_signatures_verify_with_dkimpy() {
            $crate::conformance::dkim_signatures_verify_with_dkimpy::<$adapter>();
        }
        #[test]
        fn conformance_a_failed_set_up_keeps_what_the_session_learnt() {
            $crate::conformance::a_failed_set_up_keeps_what_the_session_learnt::<$adapter>();
        }
        #[test]
        fn conformance_stub_agrees_with_the_client() {
            $crate::conformance::stub_agrees_with_the_client::<$adapter>();
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
        fn conformance_errors_say_why() {
            $crate::conformance::errors_say_why::<$adapter>();
        }
        #[test]
        fn conformance_credentials_need_tls_unless_turned_off_by_name() {
            $crate::conformance::credentials_need_tls_unless_turned_off_by_name::<$adapter>();
        }
        #[test]
        fn conformance_scram_plus_binds_to_the_tls_connection() {
            $crate::conformance::scram_plus_binds_to_the_tls_connection::<$adapter>();
        }
        #[test]
        fn conformance_scram_plus_stripped_from_the_list_is_detected() {
            $crate::conformance::scram_plus_stripped_from_the_list_is_detected::<$adapter>();
        }
        #[test]
        fn conformance_scram_plus_through_a_man_in_the_middle_fails() {
            $crate::conformance::scram_plus_through_a_man_in_the_middle_fails::<$adapter>();
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
        fn conformance_per_recipient_data_replies() {
            $crate::conformance::per_recipient_data_replies::<$adapter>();
        }
        #[test]
        fn conformance_hostile_server() {
            $crate::conformance::hostile_server::<$adapter>();
        }
        #[test]
        fn conformance_strict_server_without_pipelining() {
            $crate::conformance::strict_server_without_pipelining::<$adapter>();
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
        #[test]
        fn conformance_delivers_exact_bytes() {
            $crate::conformance::delivers_exact_bytes::<$adapter>();
        }
        #[test]
        fn conformance_many_messages_pipelined_over_data() {
            $crate::conformance::many_messages_pipelined_over_data::<$adapter>();
        }
        #[test]
        fn conformance_streamed_reader_body_over_data_and_bdat() {
            $crate::conformance::streamed_reader_body_over_data_and_bdat::<$adapter>();
        }
        #[test]
        fn conformance_transient_rcpt_failure_with_and_without_sendpartial() {
            $crate::conformance::transient_rcpt_failure_with_and_without_sendpartial::<$adapter>();
        }
        #[test]
        fn conformance_greeting_refused_and_connection_refused() {
            $crate::conformance::greeting_refused_and_connection_refused::<$adapter>();
        }
        #[test]
        fn conformance_properties_drive_the_connection() {
            $crate::conformance::properties_drive_the_connection::<$adapter>();
        }
        #[test]
        fn conformance_untrusted_ca_and_wrong_name_fail_before_anything_is_sent() {
            $crate::conformance::untrusted_ca_and_wrong_name_fail_before_anything_is_sent::<$adapter>();
        }
        #[test]
        fn conformance_ssl_trust_star_and_host_lists() {
            $crate::conformance::ssl_trust_star_and_host_lists::<$adapter>();
        }
        #[test]
        fn conformance_expired_and_not_yet_valid_certificates_fail() {
            $crate::conformance::expired_and_not_yet_valid_certificates_fail::<$adapter>();
        }
        #[test]
        fn conformance_protocol_version_not_allowed() {
            $crate::conformance::protocol_version_not_allowed::<$adapter>();
        }
        #[test]
        fn conformance_response_injection_after_starttls() {
            $crate::conformance::response_injection_after_starttls::<$adapter>();
        }
        #[test]
        fn conformance_plaintext_mechanisms_are_fine_over_tls() {
            $crate::conformance::plaintext_mechanisms_are_fine_over_tls::<$adapter>();
        }
        #[test]
        fn conformance_anonymous_and_external() {
            $crate::conformance::anonymous_and_external::<$adapter>();
        }
        #[test]
        fn conformance_plaintext_mechanisms_need_tls_or_an_explicit_opt_in() {
            $crate::conformance::plaintext_mechanisms_need_tls_or_an_explicit_opt_in::<$adapter>();
        }
        #[test]
        fn conformance_no_usable_mechanism_and_not_offered() {
            $crate::conformance::no_usable_mechanism_and_not_offered::<$adapter>();
        }
        #[test]
        fn conformance_properties_select_and_disable_mechanisms() {
            $crate::conformance::properties_select_and_disable_mechanisms::<$adapter>();
        }
        #[test]
        fn conformance_socks5_without_and_with_credentials() {
            $crate::conformance::socks5_without_and_with_credentials::<$adapter>();
        }
        #[test]
        fn conformance_http_connect_with_basic_auth() {
            $crate::conformance::http_connect_with_basic_auth::<$adapter>();
        }
        #[test]
        fn conformance_proxy_cannot_reach_the_target() {
            $crate::conformance::proxy_cannot_reach_the_target::<$adapter>();
        }
    };
}
