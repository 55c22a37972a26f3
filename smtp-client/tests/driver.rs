//! Integration tests of the sans-IO [`Driver`] through its public API, in
//! virtual time: a scripted fake server hands reply bytes (or end of
//! stream, or an I/O error, or a timeout) to `on_read`, records every
//! written flight with its deadline, and serves message bodies from
//! memory with scripted read and rewind failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The harness is the clock: it reads `Instant::now` once as the origin of
// virtual time, which the driver under test never does.
#![allow(clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtpkit_client::{Action, BODY_READ_MAX, BodyPlan, Driver, Error, IoTimeouts, MemoryBody};
use smtpkit_proto::proxy::{ProxyError, ProxyHandshake};
use smtpkit_proto::{
    Address, BodyInfo, DeliveryReport, Envelope, FailureKind, Host, RecipientStatus, SessionConfig,
    SessionError, UnsentReason, UsageError,
};

// ----- configuration: every deadline distinct, so each is recognisable --

const WRITE: Duration = Duration::from_secs(5);
const PROXY: Duration = Duration::from_secs(9);
const GREETING: Duration = Duration::from_secs(11);
const COMMAND: Duration = Duration::from_secs(12);
const MAIL: Duration = Duration::from_secs(13);
const RCPT: Duration = Duration::from_secs(14);
const DATA_INIT: Duration = Duration::from_secs(15);
const DATA_TERM: Duration = Duration::from_secs(16);
const QUIT: Duration = Duration::from_secs(7);

fn config() -> SessionConfig {
    let mut c = SessionConfig::new(Host::parse("client.example").unwrap(), "mx.example");
    c.options.timeouts.greeting = GREETING;
    c.options.timeouts.command = COMMAND;
    c.options.timeouts.mail = MAIL;
    c.options.timeouts.rcpt = RCPT;
    c.options.timeouts.data_init = DATA_INIT;
    c.options.timeouts.data_term = DATA_TERM;
    c.options.timeouts.quit = QUIT;
    c
}

fn io_timeouts() -> IoTimeouts {
    IoTimeouts::new(Some(WRITE), Some(PROXY))
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn envelope(rcpts: &[&str]) -> Envelope {
    Envelope::new(addr("from@client.example"), rcpts.iter().map(|r| addr(r)))
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

// ----- the scripted server ----------------------------------------------

/// What the next `Action::Read` gets.
#[derive(Debug)]
enum Input {
    /// `Ok(bytes)`.
    Bytes(Vec<u8>),
    /// `Ok(&[])`: the end of the stream.
    Eof,
    /// `Err(kind)`, at the current time.
    Fail(io::ErrorKind),
    /// The read gives up at its deadline: the clock moves to it, then
    /// `Err(TimedOut)`.
    TimeOut,
    /// The read gives up this long before its deadline, with `WouldBlock`
    /// (a socket timeout rounded down).
    Early(Duration),
}

/// What the driver asked for, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Write(Vec<u8>),
    Read,
    ReadBody(usize),
    Rewind(usize),
}

/// A message body: a file (read with `on_body`, with scripted failures)
/// or a [`MemoryBody`] (read with `on_body_piece`).
struct Body {
    data: Vec<u8>,
    pos: usize,
    /// The most octets one read returns (short reads).
    chunk: usize,
    reads: usize,
    /// The read (counted from 0 over the body's life) that fails.
    fail_read: Option<usize>,
    /// The reads that report `Interrupted`.
    interrupt_reads: Vec<usize>,
    fail_rewind: bool,
    memory: Option<MemoryBody<Vec<u8>>>,
}

impl Body {
    fn file(data: &[u8]) -> Body {
        Body {
            data: data.to_vec(),
            pos: 0,
            chunk: BODY_READ_MAX,
            reads: 0,
            fail_read: None,
            interrupt_reads: Vec::new(),
            fail_rewind: false,
            memory: None,
        }
    }

    fn memory(data: &[u8]) -> Body {
        Body {
            memory: Some(MemoryBody::new(data.to_vec())),
            ..Body::file(data)
        }
    }

    fn chunk(mut self, n: usize) -> Body {
        self.chunk = n;
        self
    }

    fn fail_read(mut self, n: usize) -> Body {
        self.fail_read = Some(n);
        self
    }

    fn interrupt_read(mut self, n: usize) -> Body {
        self.interrupt_reads.push(n);
        self
    }

    fn fail_rewind(mut self) -> Body {
        self.fail_rewind = true;
        self
    }
}

/// How a drive ended.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Done,
    /// The driver wants to read and the script has nothing left.
    Starved(Option<Instant>),
}

struct Server {
    start: Instant,
    now: Instant,
    /// Each input with the time that passes before it arrives.
    input: VecDeque<(Duration, Input)>,
    /// Outcomes of the next writes (`Ok` when none is left).
    write_results: VecDeque<io::Result<()>>,
    steps: Vec<Step>,
    /// Every flight written: (bytes, when, deadline).
    writes: Vec<(Vec<u8>, Instant, Option<Instant>)>,
    /// Every read asked for: (when, deadline).
    reads: Vec<(Instant, Option<Instant>)>,
    bodies: Vec<Body>,
}

impl Server {
    fn new() -> Server {
        let start = Instant::now();
        Server {
            start,
            now: start,
            input: VecDeque::new(),
            write_results: VecDeque::new(),
            steps: Vec::new(),
            writes: Vec::new(),
            reads: Vec::new(),
            bodies: Vec::new(),
        }
    }

    fn driver(&self) -> Driver {
        self.driver_with(config(), None)
    }

    fn driver_with(&self, config: SessionConfig, proxy: Option<ProxyHandshake>) -> Driver {
        Driver::new(
            Arc::new(config),
            proxy,
            io_timeouts(),
            None,
            &[],
            self.start,
        )
    }

    fn reply(&mut self, text: &str) {
        self.input
            .push_back((Duration::ZERO, Input::Bytes(text.as_bytes().to_vec())));
    }

    fn reply_after(&mut self, wait: Duration, text: &str) {
        self.input
            .push_back((wait, Input::Bytes(text.as_bytes().to_vec())));
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.input
            .push_back((Duration::ZERO, Input::Bytes(bytes.to_vec())));
    }

    fn then(&mut self, input: Input) {
        self.input.push_back((Duration::ZERO, input));
    }

    fn write_result(&mut self, result: io::Result<()>) {
        self.write_results.push_back(result);
    }

    /// Forgets what was recorded so far.
    fn clear(&mut self) {
        self.steps.clear();
        self.writes.clear();
        self.reads.clear();
    }

    fn flights(&self) -> Vec<String> {
        self.writes
            .iter()
            .map(|(bytes, ..)| String::from_utf8_lossy(bytes).into_owned())
            .collect()
    }

    fn wire(&self) -> String {
        self.flights().concat()
    }

    /// Performs what the driver asks until it is done or wants input the
    /// script does not have. A driver that takes more than 10,000 actions
    /// is spinning.
    fn drive(&mut self, d: &mut Driver) -> Stop {
        for _ in 0..10_000 {
            let now = self.now;
            match d.next_action(now) {
                Action::Write { bytes, deadline } => {
                    let flight = bytes.to_vec();
                    self.steps.push(Step::Write(flight.clone()));
                    self.writes.push((flight, now, deadline));
                    let result = self.write_results.pop_front().unwrap_or(Ok(()));
                    d.on_written(now, result);
                }
                Action::Read { deadline } => {
                    let Some((wait, input)) = self.input.pop_front() else {
                        return Stop::Starved(deadline);
                    };
                    self.steps.push(Step::Read);
                    self.reads.push((now, deadline));
                    self.now += wait;
                    match input {
                        Input::Bytes(bytes) => d.on_read(self.now, Ok(&bytes)),
                        Input::Eof => d.on_read(self.now, Ok(&[])),
                        Input::Fail(kind) => d.on_read(self.now, Err(kind.into())),
                        Input::TimeOut => {
                            if let Some(deadline) = deadline {
                                self.now = self.now.max(deadline);
                            }
                            d.on_read(self.now, Err(io::ErrorKind::TimedOut.into()));
                        }
                        Input::Early(by) => {
                            let deadline = deadline.expect("a deadline to give up before");
                            self.now = deadline - by;
                            d.on_read(self.now, Err(io::ErrorKind::WouldBlock.into()));
                        }
                    }
                }
                Action::ReadBody { slot, max } => {
                    self.steps.push(Step::ReadBody(slot));
                    let body = &mut self.bodies[slot];
                    let n = body.reads;
                    body.reads += 1;
                    if let Some(memory) = body.memory.as_mut() {
                        d.on_body_piece(slot, memory.next_piece(max));
                    } else if body.fail_read == Some(n) {
                        d.on_body(slot, Err(io::Error::other("disk on fire")));
                    } else if body.interrupt_reads.contains(&n) {
                        d.on_body(slot, Err(io::ErrorKind::Interrupted.into()));
                    } else {
                        let end = (body.pos + max.min(body.chunk)).min(body.data.len());
                        let start = body.pos;
                        body.pos = end;
                        d.on_body(slot, Ok(&body.data[start..end]));
                    }
                }
                Action::RewindBody { slot } => {
                    self.steps.push(Step::Rewind(slot));
                    let body = &mut self.bodies[slot];
                    if body.fail_rewind {
                        d.on_rewound(slot, Err(io::Error::other("cannot seek")));
                    } else {
                        body.pos = 0;
                        if let Some(memory) = body.memory.as_mut() {
                            memory.seek(0);
                        }
                        d.on_rewound(slot, Ok(()));
                    }
                }
                Action::Done => return Stop::Done,
            }
        }
        panic!("the driver took 10,000 actions without finishing: it spins");
    }

    /// Drives a send of `messages` (whose bodies are `self.bodies`) to
    /// `Done` and returns its results.
    fn send(
        &mut self,
        d: &mut Driver,
        messages: Vec<(Envelope, BodyPlan)>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        d.start_send(messages);
        assert_eq!(self.drive(d), Stop::Done, "steps: {:?}", self.steps);
        d.finish_send()
    }
}

/// A driver through greeting and EHLO (with `extensions`), ready, and a
/// server whose records start after that.
fn connect(extensions: &[&str]) -> (Driver, Server) {
    connect_with(config(), extensions)
}

fn connect_with(config: SessionConfig, extensions: &[&str]) -> (Driver, Server) {
    let mut s = Server::new();
    let mut d = s.driver_with(config, None);
    s.reply("220 mx.example ESMTP\r\n");
    s.reply(&ehlo_reply(extensions));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
    s.clear();
    (d, s)
}

fn known(body: &[u8]) -> BodyPlan {
    BodyPlan::Known(BodyInfo::of_bytes(body))
}

/// The `Error::Send` of a message the connection failed under.
fn send_failure(result: &Result<DeliveryReport, Error>) -> (&DeliveryReport, Option<&Error>) {
    match result {
        Err(Error::Send { report, cause }) => (report, cause.as_deref()),
        other => panic!("expected Error::Send, got {other:?}"),
    }
}

fn lost(report: &DeliveryReport) -> bool {
    matches!(
        report.failure,
        Some(FailureKind::ConnectionLost {
            data_sent: false,
            reply: None
        })
    )
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

// ----- start-up --------------------------------------------------------------

#[test]
fn start_up_greeting_ehlo_ready() {
    let mut c = config();
    c.local_name = Host::parse("relay-7.client.example").unwrap();
    let mut s = Server::new();
    let mut d = s.driver_with(c, None);
    // Nothing is written before the greeting.
    assert_eq!(s.drive(&mut d), Stop::Starved(Some(s.start + GREETING)));
    assert!(s.writes.is_empty());
    s.reply("220 mx.example ESMTP\r\n");
    s.reply(&ehlo_reply(&["PIPELINING", "SIZE 1000"]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.flights(), ["EHLO relay-7.client.example\r\n"]);
    assert_eq!(
        s.steps,
        [
            Step::Read,
            Step::Write(b"EHLO relay-7.client.example\r\n".to_vec()),
            Step::Read
        ]
    );
    d.establish_result().unwrap();
    let extensions = d.info().extensions.as_ref().expect("EHLO answered");
    assert_eq!(extensions.max_message_size(), Some(1000));
    assert!(!d.is_closed());
}

#[test]
fn eof_in_the_middle_of_the_ehlo_reply_fails_the_start_up() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.reply("220 mx.example ESMTP\r\n");
    s.reply("250-mx.example\r\n250-PIPEL");
    s.then(Input::Eof);
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert!(matches!(
        d.establish_result(),
        Err(Error::Session(SessionError::ConnectionClosed {
            while_waiting: true
        }))
    ));
    assert!(d.is_closed());
    assert_eq!(s.flights(), ["EHLO client.example\r\n"], "no QUIT");
}

// ----- write errors ------------------------------------------------------

#[test]
fn broken_pipe_on_write_fails_the_start_up_with_io() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.reply("220 mx.example ESMTP\r\n");
    s.write_result(Err(io::ErrorKind::BrokenPipe.into()));
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.flights(), ["EHLO client.example\r\n"]);
    match d.establish_result() {
        Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::BrokenPipe),
        other => panic!("{other:?}"),
    }
    assert!(d.is_closed());
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.writes.len(), 1, "nothing written after the failure");
}

#[test]
fn broken_pipe_on_write_fails_the_send() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    s.write_result(Err(io::ErrorKind::BrokenPipe.into()));
    s.bodies = vec![Body::file(b"Subject: x\r\n\r\nhi\r\n")];
    let results = s.send(
        &mut d,
        vec![(
            envelope(&["a@mx.example"]),
            known(b"Subject: x\r\n\r\nhi\r\n"),
        )],
    );
    assert_eq!(results.len(), 1);
    let (report, cause) = send_failure(&results[0]);
    assert!(lost(report), "{report:?}");
    assert!(!report.may_have_been_delivered());
    assert!(matches!(
        report.recipients[0].status,
        RecipientStatus::Unsent(UnsentReason::ConnectionLost)
    ));
    // The cause is the session's record of the I/O error.
    assert!(
        matches!(
            cause,
            Some(Error::Session(SessionError::Io {
                kind: io::ErrorKind::BrokenPipe,
                ..
            }))
        ),
        "{cause:?}"
    );
    assert_eq!(s.writes.len(), 1);
    assert!(d.is_closed());
}

#[test]
fn write_that_times_out_or_would_block_is_a_write_timeout() {
    for kind in [io::ErrorKind::TimedOut, io::ErrorKind::WouldBlock] {
        let mut s = Server::new();
        let mut d = s.driver();
        s.reply("220 mx.example ESMTP\r\n");
        s.write_result(Err(kind.into()));
        assert_eq!(s.drive(&mut d), Stop::Done, "{kind:?}");
        match d.establish_result() {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{kind:?}");
                assert_eq!(e.to_string(), "write timed out", "{kind:?}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

// ----- reads: retries and timeouts ---------------------------------------

#[test]
fn interrupted_read_is_asked_for_again() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.then(Input::Fail(io::ErrorKind::Interrupted));
    s.then(Input::Fail(io::ErrorKind::Interrupted));
    s.reply("220 mx.example ESMTP\r\n");
    s.reply(&ehlo_reply(&[]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
    // Three reads for the greeting, all with its deadline, then EHLO.
    let deadlines: Vec<_> = s.reads.iter().map(|(_, at)| *at).collect();
    assert_eq!(
        deadlines[..3],
        [Some(s.start + GREETING); 3],
        "the same deadline each time"
    );
    assert_eq!(s.flights(), ["EHLO client.example\r\n"]);
}

#[test]
fn read_that_gives_up_early_is_asked_for_again() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.then(Input::Early(Duration::from_millis(700)));
    s.reply("220 mx.example ESMTP\r\n");
    s.reply(&ehlo_reply(&[]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
    assert_eq!(s.reads[0].1, Some(s.start + GREETING));
    assert_eq!(
        s.reads[1].1,
        Some(s.start + GREETING),
        "asked again with the same deadline"
    );
}

#[test]
fn greeting_timeout() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.then(Input::TimeOut);
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.now, s.start + GREETING);
    assert!(s.writes.is_empty());
    match d.establish_result() {
        Err(Error::Session(SessionError::Timeout { waiting_for, after })) => {
            assert_eq!(waiting_for, "the greeting");
            assert_eq!(after, GREETING);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ehlo_reply_timeout() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.reply_after(Duration::from_secs(2), "220 mx.example ESMTP\r\n");
    s.then(Input::TimeOut);
    assert_eq!(s.drive(&mut d), Stop::Done);
    // EHLO was written when the greeting came, 2 s in.
    assert_eq!(s.now, s.start + Duration::from_secs(2) + COMMAND);
    match d.establish_result() {
        Err(Error::Session(SessionError::Timeout { waiting_for, after })) => {
            assert_eq!((waiting_for, after), ("EHLO", COMMAND));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mail_reply_timeout_loses_the_message_undelivered() {
    let (mut d, mut s) = connect(&[]);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    s.then(Input::TimeOut);
    let results = s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(body))]);
    assert_eq!(s.flights(), ["MAIL FROM:<from@client.example>\r\n"]);
    assert_eq!(s.reads[0].1, Some(s.start + MAIL));
    let (report, cause) = send_failure(&results[0]);
    assert!(lost(report), "{report:?}");
    assert!(!report.may_have_been_delivered());
    assert!(matches!(
        cause,
        Some(Error::Session(SessionError::Timeout {
            waiting_for: "MAIL",
            ..
        }))
    ));
    assert!(d.is_closed());
}

#[test]
fn end_of_data_timeout_may_have_been_delivered() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.then(Input::TimeOut);
    let results = s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(body))]);
    assert_eq!(
        s.flights(),
        [
            "MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n",
            "Subject: x\r\n\r\nhi\r\n.\r\n"
        ]
    );
    assert_eq!(s.reads.last().unwrap().1, Some(s.start + DATA_TERM));
    let (report, cause) = send_failure(&results[0]);
    assert_eq!(
        report.failure,
        Some(FailureKind::ConnectionLost {
            data_sent: true,
            reply: None
        })
    );
    assert!(report.may_have_been_delivered());
    let text = results[0].as_ref().unwrap_err().to_string();
    assert!(text.contains("may have been delivered"), "{text}");
    assert!(matches!(
        cause,
        Some(Error::Session(SessionError::Timeout {
            waiting_for: "the end of data",
            after: DATA_TERM
        }))
    ));
}

#[test]
fn quit_reply_timeout_ends_the_session_in_order() {
    let (mut d, mut s) = connect(&[]);
    d.start_close();
    s.then(Input::TimeOut);
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.flights(), ["QUIT\r\n"]);
    assert_eq!(s.reads[0].1, Some(s.start + QUIT));
    assert_eq!(s.now, s.start + QUIT);
    d.finish_close().unwrap();
    assert!(d.is_closed());
}

#[test]
fn read_deadline_passed_before_next_action_times_out_at_once() {
    let mut s = Server::new();
    let mut d = s.driver();
    s.reply("220 mx.example ESMTP\r\n");
    assert_eq!(s.drive(&mut d), Stop::Starved(Some(s.start + COMMAND)));
    // The loop comes back late (a suspended process): the driver decides
    // the timeout itself instead of asking for a read with a past deadline.
    let late = s.start + COMMAND + Duration::from_secs(1);
    assert!(matches!(d.next_action(late), Action::Done));
    assert!(matches!(
        d.establish_result(),
        Err(Error::Session(SessionError::Timeout {
            waiting_for: "EHLO",
            ..
        }))
    ));
}

#[test]
fn eof_mid_reply_gives_every_message_one_result() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = (0..3).map(|_| Body::file(body)).collect();
    s.reply("250 ok\r\n250-partial");
    s.then(Input::Eof);
    let messages = ["a@mx.example", "b@mx.example", "c@mx.example"]
        .iter()
        .map(|r| (envelope(&[r]), known(body)))
        .collect();
    let results = s.send(&mut d, messages);
    assert_eq!(results.len(), 3);
    for (i, result) in results.iter().enumerate() {
        let (report, cause) = send_failure(result);
        assert!(lost(report), "message {i}: {report:?}");
        assert!(
            matches!(
                cause,
                Some(Error::Session(SessionError::ConnectionClosed {
                    while_waiting: true
                }))
            ),
            "message {i}: {cause:?}"
        );
    }
    assert!(d.is_closed());
    assert_eq!(count(&s.wire(), "QUIT"), 0);
}

// ----- bodies ---------------------------------------------------------------

#[test]
fn inspect_reads_to_the_end_rewinds_then_reads_again_to_send() {
    let (mut d, mut s) = connect(&["PIPELINING", "SIZE 100000"]);
    let body = b"Subject: inspected\r\n\r\nline one\nline two\r\n";
    s.bodies = vec![Body::file(body).chunk(16)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 2.0.0 queued\r\n");
    let results = s.send(
        &mut d,
        vec![(envelope(&["a@mx.example"]), BodyPlan::Inspect)],
    );
    assert!(results[0].as_ref().unwrap().all_delivered());
    // 41 octets in reads of 16 and the empty read at the end, a rewind,
    // and only then the envelope.
    assert_eq!(
        s.steps[..5],
        [
            Step::ReadBody(0),
            Step::ReadBody(0),
            Step::ReadBody(0),
            Step::ReadBody(0),
            Step::Rewind(0)
        ]
    );
    assert!(matches!(&s.steps[5], Step::Write(_)));
    // The size is the inspected one, after CRLF normalisation.
    assert_eq!(
        s.flights()[0],
        "MAIL FROM:<from@client.example> SIZE=42\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n"
    );
    // After the 354 the body is read again from its first octet.
    let reads_after_354 = s
        .steps
        .iter()
        .skip(6)
        .filter(|st| **st == Step::ReadBody(0))
        .count();
    assert_eq!(reads_after_354, 4);
    assert_eq!(
        s.flights()[1],
        "Subject: inspected\r\n\r\nline one\r\nline two\r\n.\r\n"
    );
}

#[test]
fn body_read_error_during_inspection_skips_that_message_only() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let first = b"Subject: first\r\n\r\none\r\n";
    let third = b"Subject: third\r\n\r\nthree\r\n";
    s.bodies = vec![
        Body::file(first),
        Body::file(b"Subject: SECOND\r\n\r\ntwo\r\n").fail_read(0),
        Body::file(third),
    ];
    // Both remaining messages pipelined: the second envelope rides with
    // the first end of data.
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 3\r\n");
    let results = s.send(
        &mut d,
        vec![
            (envelope(&["a@mx.example"]), known(first)),
            (envelope(&["b@mx.example"]), BodyPlan::Inspect),
            (envelope(&["c@mx.example"]), known(third)),
        ],
    );
    assert_eq!(results.len(), 3);
    assert!(results[0].as_ref().unwrap().all_delivered());
    match &results[1] {
        Err(Error::Body(e)) => assert_eq!(e.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
    assert!(results[2].as_ref().unwrap().all_delivered());
    let wire = s.wire();
    assert_eq!(count(&wire, "MAIL FROM"), 2, "{wire}");
    assert!(!wire.contains("b@mx.example"), "{wire}");
    assert!(!wire.contains("SECOND"), "{wire}");
    // The failed inspection was the only read of that body.
    assert_eq!(
        s.steps
            .iter()
            .filter(|st| **st == Step::ReadBody(1))
            .count(),
        1
    );
    assert!(!d.is_closed());
}

#[test]
fn interrupted_body_read_is_asked_for_again() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body).interrupt_read(0).interrupt_read(3)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(
        &mut d,
        vec![(envelope(&["a@mx.example"]), BodyPlan::Inspect)],
    );
    assert!(results[0].as_ref().unwrap().all_delivered());
    assert_eq!(s.flights()[1], "Subject: x\r\n\r\nhi\r\n.\r\n");
}

#[test]
fn rewind_error_is_a_body_error_and_nothing_of_it_is_sent() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let other = b"Subject: other\r\n\r\nok\r\n";
    s.bodies = vec![
        Body::file(b"Subject: unseekable\r\n\r\nx\r\n").fail_rewind(),
        Body::file(other),
    ];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(
        &mut d,
        vec![
            (envelope(&["a@mx.example"]), BodyPlan::Inspect),
            (envelope(&["b@mx.example"]), known(other)),
        ],
    );
    match &results[0] {
        Err(Error::Body(e)) => assert_eq!(e.to_string(), "cannot seek"),
        other => panic!("{other:?}"),
    }
    assert!(results[1].as_ref().unwrap().all_delivered());
    let wire = s.wire();
    assert_eq!(count(&wire, "MAIL FROM"), 1);
    assert!(!wire.contains("a@mx.example") && !wire.contains("unseekable"));
}

#[test]
fn body_read_error_after_354_drops_the_connection_without_the_final_dot() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = b"Subject: doomed\r\n\r\nfirst part\r\nsecond part\r\n";
    let next = b"Subject: next\r\n\r\nx\r\n";
    // Reads of 8 octets; the third read fails, after MAIL, RCPT and DATA
    // were accepted.
    s.bodies = vec![Body::file(body).chunk(8).fail_read(2), Body::file(next)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    let results = s.send(
        &mut d,
        vec![
            (envelope(&["a@mx.example"]), known(body)),
            (envelope(&["b@mx.example"]), known(next)),
        ],
    );
    assert_eq!(results.len(), 2);
    match &results[0] {
        // The error's kind cannot say that the connection ended here;
        // `is_closed` (below) does.
        Err(Error::Body(io)) => assert_eq!(io.to_string(), "disk on fire"),
        other => panic!("{other:?}"),
    }
    // The other message was never started, and is lost with the
    // connection, the abandoned body its cause.
    let (report, cause) = send_failure(&results[1]);
    assert!(lost(report), "{report:?}");
    assert!(matches!(
        cause,
        Some(Error::Session(SessionError::BodyAborted))
    ));
    assert!(d.is_closed(), "the connection is dropped");
    // What was read before the failure is written (the session drains
    // it before closing), but never the end of data: no partial message
    // can be delivered. No QUIT either.
    assert_eq!(
        s.flights(),
        [
            "MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n",
            "Subject: doomed\r\n"
        ]
    );
    let wire = s.wire();
    assert!(!wire.contains("\r\n.\r\n") && !wire.contains("QUIT"));
    // Nothing more can be sent on it.
    let results = s.send(&mut d, vec![(envelope(&["c@mx.example"]), known(next))]);
    assert!(matches!(results[0], Err(Error::Usage(UsageError::Closed))));
}

#[test]
fn body_read_error_with_bdat_resets_and_keeps_the_connection() {
    let (mut d, mut s) = connect(&["PIPELINING", "CHUNKING"]);
    let body = b"Subject: doomed\r\n\r\nfirst part\r\nsecond part\r\n";
    let next = b"Subject: next\r\n\r\nx\r\n";
    s.bodies = vec![Body::file(body).chunk(8).fail_read(2), Body::file(next)];
    // The body is read once MAIL and RCPT were accepted (BDAT waits for
    // them); the failed read resets, the next envelope rides with RSET.
    s.reply("250 ok\r\n250 ok\r\n");
    s.reply("250 reset\r\n250 ok\r\n250 ok\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(
        &mut d,
        vec![
            (envelope(&["a@mx.example"]), known(body)),
            (envelope(&["b@mx.example"]), known(next)),
        ],
    );
    assert!(
        matches!(&results[0], Err(Error::Body(_))),
        "{:?}",
        results[0]
    );
    assert!(results[1].as_ref().unwrap().all_delivered());
    assert!(!d.is_closed(), "BDAT can be abandoned with RSET");
    let wire = s.wire();
    assert_eq!(count(&wire, "RSET\r\n"), 1, "{wire}");
    assert!(!wire.contains("doomed"), "{wire}");
    assert_eq!(count(&wire, "BDAT"), 1, "{wire}");
    assert!(
        wire.ends_with("BDAT 20 LAST\r\nSubject: next\r\n\r\nx\r\n"),
        "{wire}"
    );
    // And the connection goes on.
    s.clear();
    d.start_liveness();
    s.reply("250 ok\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert!(d.finish_liveness());
}

#[test]
fn known_memory_body_is_dot_stuffed_and_crlf_normalised() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = b"Subject: dots\n\n.leading dot\nmiddle . dot\r\n..two\rlast line";
    let memory = MemoryBody::new(body.to_vec());
    let plan = BodyPlan::Known(memory.info());
    s.bodies = vec![Body::memory(body)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(&mut d, vec![(envelope(&["a@mx.example"]), plan)]);
    assert!(results[0].as_ref().unwrap().all_delivered());
    assert_eq!(
        s.flights()[1],
        "Subject: dots\r\n\r\n..leading dot\r\nmiddle . dot\r\n...two\r\nlast line\r\n.\r\n"
    );
}

#[test]
fn streamed_body_is_read_once_and_its_type_declared() {
    let (mut d, mut s) = connect(&["PIPELINING", "8BITMIME", "SIZE 1000"]);
    let body = "Subject: café\r\n\r\nstreamed\r\n".as_bytes();
    s.bodies = vec![Body::file(body).chunk(3)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(
        &mut d,
        vec![(envelope(&["a@mx.example"]), BodyPlan::Streamed)],
    );
    assert!(results[0].as_ref().unwrap().all_delivered());
    // No size is known, and 8BITMIME is declared for content unseen.
    assert_eq!(
        s.flights()[0],
        "MAIL FROM:<from@client.example> BODY=8BITMIME\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n"
    );
    assert_eq!(
        s.flights()[1].as_bytes(),
        [body, b".\r\n".as_slice()].concat()
    );
    assert!(!s.steps.iter().any(|st| matches!(st, Step::Rewind(_))));
    // Read once: 10 reads of 3 octets and the empty one.
    assert_eq!(s.bodies[0].reads, body.len().div_ceil(3) + 1);
}

#[test]
fn streamed_8bit_body_without_8bitmime_is_dropped_before_its_end() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = "Subject: x\r\n\r\nnaïve\r\n".as_bytes();
    s.bodies = vec![Body::file(body)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    let results = s.send(
        &mut d,
        vec![(envelope(&["a@mx.example"]), BodyPlan::Streamed)],
    );
    let (report, cause) = send_failure(&results[0]);
    assert!(lost(report), "{report:?}");
    assert!(matches!(
        cause,
        Some(Error::Session(SessionError::ContentNotAllowed(_)))
    ));
    assert!(!s.wire().contains("\r\n.\r\n"));
    assert!(d.is_closed());
}

// ----- pipelining and batches -------------------------------------------

#[test]
fn pipelining_sends_the_envelope_in_one_flight() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(body))]);
    assert!(results[0].as_ref().unwrap().all_delivered());
    assert_eq!(
        s.flights(),
        [
            "MAIL FROM:<from@client.example>\r\nRCPT TO:<a@mx.example>\r\nDATA\r\n",
            "Subject: x\r\n\r\nhi\r\n.\r\n"
        ]
    );
}

#[test]
fn without_pipelining_one_command_per_flight() {
    let (mut d, mut s) = connect(&["8BITMIME"]);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    for reply in ["250 ok", "250 ok", "250 ok", "354 go", "250 queued"] {
        s.reply(&format!("{reply}\r\n"));
    }
    let results = s.send(
        &mut d,
        vec![(envelope(&["a@mx.example", "b@mx.example"]), known(body))],
    );
    assert!(results[0].as_ref().unwrap().all_delivered());
    assert_eq!(
        s.flights(),
        [
            "MAIL FROM:<from@client.example>\r\n",
            "RCPT TO:<a@mx.example>\r\n",
            "RCPT TO:<b@mx.example>\r\n",
            "DATA\r\n",
            "Subject: x\r\n\r\nhi\r\n.\r\n"
        ]
    );
    // Each flight waited for the reply to the one before.
    let kinds: Vec<_> = s
        .steps
        .iter()
        .filter(|st| matches!(st, Step::Write(_) | Step::Read))
        .map(|st| matches!(st, Step::Write(_)))
        .collect();
    assert_eq!(
        kinds,
        [
            true, false, true, false, true, false, true, false, true, false
        ]
    );
}

fn three_messages(s: &mut Server) -> Vec<(Envelope, BodyPlan)> {
    let bodies: [&[u8]; 3] = [
        b"Subject: one\r\n\r\n1\r\n",
        b"Subject: two\r\n\r\n2\r\n",
        b"Subject: three\r\n\r\n3\r\n",
    ];
    s.bodies = bodies.iter().map(|b| Body::file(b)).collect();
    ["one@mx.example", "two@mx.example", "three@mx.example"]
        .iter()
        .zip(bodies)
        .map(|(r, b)| (envelope(&[r]), known(b)))
        .collect()
}

#[test]
fn three_messages_get_three_results_in_order() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let messages = three_messages(&mut s);
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 2\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 3\r\n");
    let results = s.send(&mut d, messages);
    assert_eq!(results.len(), 3);
    for (i, (result, rcpt)) in results
        .iter()
        .zip(["one@mx.example", "two@mx.example", "three@mx.example"])
        .enumerate()
    {
        let report = result.as_ref().unwrap();
        assert!(report.all_delivered(), "message {i}");
        assert_eq!(report.recipients[0].address.as_str(), rcpt);
        let reply = report.reply.as_ref().unwrap().to_string();
        assert!(reply.contains(&format!("queued {}", i + 1)), "{reply}");
    }
    // The next envelope rides with each end of data.
    assert_eq!(
        s.flights()[1],
        "Subject: one\r\n\r\n1\r\n.\r\nMAIL FROM:<from@client.example>\r\nRCPT TO:<two@mx.example>\r\nDATA\r\n"
    );
    assert_eq!(s.writes.len(), 4);
}

#[test]
fn three_messages_connection_drops_after_the_second() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let messages = three_messages(&mut s);
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 1\r\n250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued 2\r\n");
    s.then(Input::Fail(io::ErrorKind::ConnectionReset));
    let results = s.send(&mut d, messages);
    assert_eq!(results.len(), 3);
    assert!(results[0].as_ref().unwrap().all_delivered());
    assert!(results[1].as_ref().unwrap().all_delivered());
    let (report, cause) = send_failure(&results[2]);
    assert_eq!(report.recipients[0].address.as_str(), "three@mx.example");
    // Its envelope was written with the second end of data, no reply came.
    assert!(lost(report), "{report:?}");
    assert!(matches!(
        cause,
        Some(Error::Session(SessionError::Io {
            kind: io::ErrorKind::ConnectionReset,
            ..
        }))
    ));
    assert!(d.is_closed());
}

// ----- deadlines -------------------------------------------------------------

#[test]
fn write_deadlines_are_now_plus_the_write_timeout() {
    let mut s = Server::new();
    let mut d = s.driver();
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    s.reply_after(Duration::from_secs(1), "220 mx.example ESMTP\r\n");
    s.reply_after(Duration::from_secs(3), &ehlo_reply(&["PIPELINING"]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
    s.reply_after(
        Duration::from_millis(1500),
        "250 ok\r\n250 ok\r\n354 go\r\n",
    );
    s.reply_after(Duration::from_secs(2), "250 queued\r\n");
    s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(body))]);
    d.start_close();
    s.reply("221 bye\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.writes.len(), 4, "EHLO, envelope, body, QUIT");
    for (bytes, at, deadline) in &s.writes {
        assert_eq!(
            *deadline,
            Some(*at + WRITE),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    let times: Vec<_> = s.writes.iter().map(|(_, at, _)| *at - s.start).collect();
    assert_eq!(
        times,
        [1000, 4000, 5500, 7500].map(Duration::from_millis),
        "written when the reply before came"
    );

    // Without a write timeout: no write deadline.
    let mut d = Driver::new(
        Arc::new(config()),
        None,
        IoTimeouts::default(),
        None,
        b"220 mx.example ESMTP\r\n",
        s.start,
    );
    assert!(matches!(
        d.next_action(s.start),
        Action::Write { deadline: None, .. }
    ));
}

#[test]
fn read_deadlines_follow_the_session_timeouts() {
    let mut s = Server::new();
    let mut d = s.driver();
    let second = Duration::from_secs(1);
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    s.reply_after(second, "220 mx.example ESMTP\r\n");
    s.reply_after(second, &ehlo_reply(&[]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
    for reply in ["250 ok", "250 ok", "354 go", "250 queued"] {
        s.reply_after(second, &format!("{reply}\r\n"));
    }
    s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(body))]);
    d.start_liveness();
    s.reply_after(second, "250 ok\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert!(d.finish_liveness());
    d.start_close();
    s.reply_after(second, "221 bye\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.finish_close().unwrap();
    // Each read is asked for when the command before it was written, at
    // 0, 1, 2, … seconds: its deadline is then plus the phase's timeout.
    let expected = [
        GREETING, COMMAND, MAIL, RCPT, DATA_INIT, DATA_TERM, COMMAND, QUIT,
    ];
    let deadlines: Vec<_> = s.reads.iter().map(|(_, at)| at.unwrap()).collect();
    let wanted: Vec<_> = expected
        .iter()
        .enumerate()
        .map(|(i, t)| s.start + Duration::from_secs(i as u64) + *t)
        .collect();
    assert_eq!(deadlines, wanted);
}

// ----- the proxy -------------------------------------------------------------

fn socks5() -> ProxyHandshake {
    ProxyHandshake::socks5("mx.example", 25, None).unwrap()
}

/// SOCKS5 CONNECT to mx.example:25 by name.
fn socks5_connect() -> Vec<u8> {
    [&[5, 1, 0, 3, 10][..], b"mx.example", &[0, 25]].concat()
}

#[test]
fn socks5_handshake_then_the_session_with_the_leftover() {
    let mut s = Server::new();
    let mut d = s.driver_with(config(), Some(socks5()));
    s.raw(&[5, 0]);
    // The proxy's last reply and the start of the greeting in one read.
    s.raw(&[&[5, 0, 0, 1, 127, 0, 0, 1, 0, 25][..], b"220 mx.exa"].concat());
    s.reply("mple ESMTP\r\n");
    s.reply(&ehlo_reply(&[]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
    let flights: Vec<_> = s.writes.iter().map(|(b, ..)| b.clone()).collect();
    assert_eq!(
        flights,
        [
            vec![5, 1, 0],
            socks5_connect(),
            b"EHLO client.example\r\n".to_vec()
        ]
    );
    // The proxy's replies are awaited until its deadline.
    assert_eq!(s.reads[0].1, Some(s.start + PROXY));
    assert_eq!(s.reads[1].1, Some(s.start + PROXY));
    // Then the greeting's, which started with the tunnel.
    assert_eq!(s.reads[2].1, Some(s.start + GREETING));
    let greeting = d.info().greeting.as_ref().unwrap().to_string();
    assert!(greeting.contains("mx.example ESMTP"), "{greeting}");
}

#[test]
fn socks5_refusal_is_a_proxy_error() {
    let mut s = Server::new();
    let mut d = s.driver_with(config(), Some(socks5()));
    s.raw(&[5, 0]);
    s.raw(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert!(matches!(
        d.establish_result(),
        Err(Error::Proxy(ProxyError::ConnectFailed { code: 5, .. }))
    ));
    assert!(d.is_closed());
    assert_eq!(s.writes.len(), 2);
    // Nothing more happens on it.
    let results = s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(b"x\r\n"))]);
    assert!(matches!(results[0], Err(Error::Usage(UsageError::Closed))));
    assert_eq!(s.writes.len(), 2);
}

#[test]
fn proxy_handshake_timeout() {
    let mut s = Server::new();
    let mut d = s.driver_with(config(), Some(socks5()));
    s.raw(&[5, 0]);
    s.then(Input::TimeOut);
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.now, s.start + PROXY);
    match d.establish_result() {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert_eq!(e.to_string(), "proxy handshake timed out");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn proxy_read_that_gives_up_early_is_asked_for_again() {
    let mut s = Server::new();
    let mut d = s.driver_with(config(), Some(socks5()));
    s.then(Input::Early(Duration::from_millis(700)));
    s.raw(&[5, 0]);
    s.raw(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 25]);
    s.reply("220 mx.example ESMTP\r\n");
    s.reply(&ehlo_reply(&[]));
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.establish_result().unwrap();
}

#[test]
fn proxy_deadline_passed_before_next_action_times_out_at_once() {
    let s = Server::new();
    let mut d = s.driver_with(config(), Some(socks5()));
    assert!(matches!(d.next_action(s.start), Action::Write { .. }));
    d.on_written(s.start, Ok(()));
    let late = s.start + PROXY + Duration::from_secs(1);
    let action = d.next_action(late);
    assert!(matches!(action, Action::Done), "{action:?}");
    assert!(
        matches!(d.establish_result(), Err(Error::Io(e)) if e.kind() == io::ErrorKind::TimedOut)
    );
}

// ----- liveness and close -------------------------------------------------

#[test]
fn liveness_noop_answered_250_is_alive() {
    let (mut d, mut s) = connect(&[]);
    d.start_liveness();
    s.reply("250 2.0.0 Ok\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.flights(), ["NOOP\r\n"]);
    assert!(d.finish_liveness());
    assert!(!d.is_closed());
}

#[test]
fn liveness_noop_answered_421_is_dead_and_closed() {
    let (mut d, mut s) = connect(&[]);
    d.start_liveness();
    s.reply("421 4.3.2 shutting down\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.flights(), ["NOOP\r\n"]);
    assert!(!d.finish_liveness());
    assert!(d.is_closed());
}

#[test]
fn close_writes_quit_and_reads_the_221() {
    let (mut d, mut s) = connect(&[]);
    d.start_close();
    s.reply("221 2.0.0 Bye\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.flights(), ["QUIT\r\n"]);
    assert_eq!(s.steps, [Step::Write(b"QUIT\r\n".to_vec()), Step::Read]);
    assert!(s.input.is_empty(), "the 221 was read");
    d.finish_close().unwrap();
    assert!(d.is_closed());
}

#[test]
fn quit_without_waiting_writes_quit_and_reads_nothing() {
    let (mut d, mut s) = connect(&[]);
    d.start_quit_without_waiting();
    s.reply("221 2.0.0 Bye\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.steps, [Step::Write(b"QUIT\r\n".to_vec())]);
    assert_eq!(s.input.len(), 1, "the 221 was not read");
    d.finish_close().unwrap();
    assert!(d.is_closed());
}

#[test]
fn close_or_liveness_after_a_failed_start_up_is_done_at_once() {
    for liveness in [false, true] {
        let mut s = Server::new();
        let mut d = s.driver();
        s.reply("554 5.7.1 no service\r\n");
        assert_eq!(s.drive(&mut d), Stop::Done);
        assert!(matches!(
            d.establish_result(),
            Err(Error::Session(SessionError::Rejected(_)))
        ));
        if liveness {
            d.start_liveness();
        } else {
            d.start_close();
        }
        // A closed server socket: every read is the end of the stream.
        for _ in 0..3 {
            s.then(Input::Eof);
        }
        assert_eq!(s.drive(&mut d), Stop::Done, "liveness: {liveness}");
        assert!(s.writes.is_empty());
        if liveness {
            assert!(!d.finish_liveness());
        } else {
            d.finish_close().unwrap();
        }
    }
}

#[test]
fn nothing_is_written_after_done() {
    let (mut d, mut s) = connect(&["PIPELINING"]);
    let later = s.start + Duration::from_secs(3600);
    for now in [s.start, later] {
        assert!(matches!(d.next_action(now), Action::Done));
    }
    // After a send.
    let body = b"Subject: x\r\n\r\nhi\r\n";
    s.bodies = vec![Body::file(body)];
    s.reply("250 ok\r\n250 ok\r\n354 go\r\n");
    s.reply("250 queued\r\n");
    let results = s.send(&mut d, vec![(envelope(&["a@mx.example"]), known(body))]);
    assert!(results[0].as_ref().unwrap().all_delivered());
    let written = s.writes.len();
    for now in [s.now, later] {
        assert!(matches!(d.next_action(now), Action::Done));
    }
    // After liveness.
    d.start_liveness();
    s.reply("250 ok\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert!(d.finish_liveness());
    assert!(matches!(d.next_action(later), Action::Done));
    // After close.
    d.start_close();
    s.reply("221 bye\r\n");
    assert_eq!(s.drive(&mut d), Stop::Done);
    d.finish_close().unwrap();
    for now in [s.now, later, later + Duration::from_secs(3600)] {
        assert!(matches!(d.next_action(now), Action::Done));
    }
    assert_eq!(s.writes.len(), written + 2, "only NOOP and QUIT since");
    assert_eq!(s.drive(&mut d), Stop::Done);
    assert_eq!(s.writes.len(), written + 2);
}
