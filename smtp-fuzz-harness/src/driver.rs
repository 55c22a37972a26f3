//! The `driver` target: smtp-client's sans-IO [`Driver`] run by an I/O
//! loop whose every outcome the input decides — server bytes (replies a
//! cooperative server would send, others no server should, raw octets,
//! SOCKS5 and HTTP CONNECT answers, split anywhere), end of stream,
//! `Interrupted`, `TimedOut` and `WouldBlock` reads at or before their
//! deadline, reset connections, write failures, short, interrupted and
//! failed body reads, failed rewinds, and the clock's steps — through the
//! start-up and a few operations (sends of up to four messages with every
//! [`BodyPlan`], liveness checks, QUIT with and without waiting).
//!
//! It checks the driver's guarantees:
//! - every message handed to `start_send` gets exactly one result, for
//!   its own recipients, and distinct messages distinct reports;
//! - a message's result is [`Error::Body`] exactly when reading or
//!   rewinding its body failed;
//! - a recipient is reported delivered only when the end of its message's
//!   body was written;
//! - `Done` is stable: asked again (then or an hour later) without a new
//!   operation, the driver says `Done` again, and after `finish_*` too;
//! - nothing is written once the driver said `Done` on a closed
//!   connection;
//! - write deadlines are the write timeout from `now`; during the session
//!   a read always has a deadline (every session timeout is finite), and
//!   it is after `now`: a deadline that has passed is the driver's to
//!   act on, never handed out; during the proxy handshake a read that
//!   timed out at its deadline is not asked for again with it;
//! - the loop ends: more actions than the input can account for is a
//!   driver that spins without progress;
//! - no panic.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use smtpkit_client::{Action, BODY_READ_MAX, BodyPlan, Driver, Error, IoTimeouts, MemoryBody};
use smtpkit_proto::proxy::ProxyHandshake;
use smtpkit_proto::{Address, BodyInfo, Envelope, Host, RecipientStatus, SessionConfig};

use super::{REPLY_CODES, REPLY_TEXTS, keyword, pick, render_reply, small_limits};

/// Options, one bit each.
mod flag {
    pub(super) const PIPELINING: u16 = 1 << 0;
    pub(super) const CHUNKING: u16 = 1 << 1;
    pub(super) const SEND_PARTIAL: u16 = 1 << 2;
    pub(super) const NO_QUIT_WAIT: u16 = 1 << 3;
    pub(super) const HELO: u16 = 1 << 4;
    pub(super) const TRANSCRIPT: u16 = 1 << 5;
    pub(super) const NO_WRITE_TIMEOUT: u16 = 1 << 6;
    pub(super) const SOCKS5: u16 = 1 << 7;
    pub(super) const HTTP_PROXY: u16 = 1 << 8;
    pub(super) const RSET_LIVENESS: u16 = 1 << 9;
    pub(super) const LAX_NOOP: u16 = 1 << 10;
    pub(super) const QUIT_ON_REJECT: u16 = 1 << 11;
    /// The greeting arrives with the connection (`already_read`).
    pub(super) const GREETING_READ: u16 = 1 << 12;
    pub(super) const NO_PROXY_TIMEOUT: u16 = 1 << 13;
}

/// Message bodies: text with dot lines and bare line ends, 8-bit text,
/// and one longer than the session's send buffer. None contains a slot
/// marker.
const BODIES: [&[u8]; 3] = [
    b"Subject: dots\r\n\r\n.dot line\nbare lf\r..two\r\n",
    b"Subject: 8bit\r\n\r\nna\xc3\xafve caf\xc3\xa9\r\n",
    b"Subject: long\r\n\r\n\
      0123456789 0123456789 0123456789 0123456789 0123456789\r\n\
      0123456789 0123456789 0123456789 0123456789 0123456789\r\n\
      0123456789 0123456789 0123456789 0123456789 0123456789\r\n\
      0123456789 0123456789 0123456789 0123456789 0123456789\r\n\
      0123456789 0123456789 0123456789 0123456789 0123456789\r\n",
];

/// The octet that ends the body of slot `i` (and appears nowhere else on
/// the wire): a body whose end was written put it there.
const MARKERS: [u8; 4] = [b'!', b'#', b'%', b'&'];

const MAX_MESSAGES: usize = 4;
const MAX_RCPTS: usize = 3;

struct Fixtures {
    client: Host,
    from: Address,
    rcpts: Vec<Vec<Address>>,
}

/// Parsed once per process (the parsers have their own targets).
fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| Fixtures {
        client: Host::parse("client.example").unwrap(),
        from: Address::parse("from@client.example").unwrap(),
        rcpts: (0..MAX_MESSAGES)
            .map(|m| {
                (0..MAX_RCPTS)
                    .map(|r| Address::parse(&format!("m{m}r{r}@mx.example")).unwrap())
                    .collect()
            })
            .collect(),
    })
}

/// The next action, copied out of the driver's borrow.
enum Next {
    Write(Vec<u8>, Option<Instant>),
    Read(Option<Instant>),
    ReadBody(usize, usize),
    Rewind(usize),
    Done,
}

/// A body as the loop holds it.
enum Source {
    File { data: Vec<u8>, pos: usize },
    Memory(MemoryBody<Vec<u8>>),
}

/// What the client wrote, parsed as far as a server must to answer it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Commands,
    /// After a 354: the message, up to the lone dot.
    Data,
    /// BDAT payload still to come.
    Skip(usize),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Command {
    Ehlo,
    Helo,
    Ok,
    Data,
    EndOfData,
    Bdat,
    Quit,
    Unknown,
}

struct ClientStream {
    buf: Vec<u8>,
    pos: usize,
    mode: Mode,
}

impl ClientStream {
    fn push(&mut self, bytes: &[u8]) {
        if self.pos > 4096 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next command (or end of data) that awaits a reply, if the
    /// client wrote one.
    fn next(&mut self) -> Option<Command> {
        loop {
            let rest = &self.buf[self.pos..];
            match self.mode {
                Mode::Skip(n) => {
                    if rest.len() < n {
                        self.pos = self.buf.len();
                        self.mode = Mode::Skip(n - rest.len());
                        return None;
                    }
                    self.pos += n;
                    self.mode = Mode::Commands;
                }
                Mode::Data => {
                    let end = if rest.starts_with(b".\r\n") {
                        3
                    } else {
                        memchr::memmem::find(rest, b"\r\n.\r\n")? + 5
                    };
                    self.pos += end;
                    self.mode = Mode::Commands;
                    return Some(Command::EndOfData);
                }
                Mode::Commands => {
                    let end = memchr::memmem::find(rest, b"\r\n")?;
                    let line = &rest[..end];
                    self.pos += end + 2;
                    let verb = line.get(..4).unwrap_or(line).to_ascii_uppercase();
                    return Some(match &verb[..] {
                        b"EHLO" | b"LHLO" => Command::Ehlo,
                        b"HELO" => Command::Helo,
                        b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => Command::Ok,
                        b"DATA" => Command::Data,
                        b"QUIT" => Command::Quit,
                        b"BDAT" => {
                            let size = line
                                .split(|&b| b == b' ')
                                .nth(1)
                                .and_then(|s| std::str::from_utf8(s).ok())
                                .and_then(|s| s.parse::<usize>().ok())
                                .unwrap_or(0);
                            self.mode = Mode::Skip(size);
                            Command::Bdat
                        }
                        _ => Command::Unknown,
                    });
                }
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Proxy {
    Socks5,
    Http,
}

struct Harness<'a> {
    u: Unstructured<'a>,
    d: Driver,
    now: Instant,
    write_timeout: Option<Duration>,
    proxy: Option<Proxy>,
    proxy_writes: usize,
    proxy_answers: usize,
    greeting_owed: bool,
    client: ClientStream,
    /// Server octets not yet read by the client.
    server_out: VecDeque<u8>,
    /// Everything the client wrote to the server (after the proxy).
    wire: Vec<u8>,
    /// The driver said `Done` with the connection closed.
    closed_done: bool,
    actions: usize,
    budget: usize,
    last_read_deadline: Option<Instant>,
    /// A proxy read that timed out at this deadline.
    proxy_timed_out: Option<Instant>,
    sources: Vec<Source>,
    body_failed: Vec<bool>,
}

/// Runs the driver as the input says and checks its guarantees (see the
/// module docs); panics on a violation.
pub fn driver(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(flags) = u.arbitrary::<u16>() else {
        return;
    };
    let flag = |f: u16| flags & f != 0;
    let fixtures = fixtures();
    let mut config = SessionConfig::new(fixtures.client.clone(), "mx.example");
    config.options.pipelining = flag(flag::PIPELINING);
    config.options.chunking = flag(flag::CHUNKING);
    config.options.send_partial = flag(flag::SEND_PARTIAL);
    config.options.quit_wait = !flag(flag::NO_QUIT_WAIT);
    config.options.use_ehlo = !flag(flag::HELO);
    config.options.use_rset_for_liveness = flag(flag::RSET_LIVENESS);
    config.options.noop_strict = !flag(flag::LAX_NOOP);
    config.options.quit_on_session_reject = flag(flag::QUIT_ON_REJECT);
    config.options.chunk_size = 16;
    config.options.max_buffered = 64;
    config.options.reply_limits = small_limits();
    config.options.transcript = flag(flag::TRANSCRIPT);
    config.options.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(30));
    config.options.timeouts.data_term = Duration::from_secs(60);
    let write_timeout = (!flag(flag::NO_WRITE_TIMEOUT)).then_some(Duration::from_secs(7));
    let proxy_timeout = (!flag(flag::NO_PROXY_TIMEOUT)).then_some(Duration::from_secs(20));
    let proxy = if flag(flag::SOCKS5) {
        Some(Proxy::Socks5)
    } else if flag(flag::HTTP_PROXY) {
        Some(Proxy::Http)
    } else {
        None
    };
    let handshake = proxy.map(|p| match p {
        Proxy::Socks5 => ProxyHandshake::socks5("mx.example", 25, None).unwrap(),
        Proxy::Http => ProxyHandshake::http_connect("mx.example", 25, None).unwrap(),
    });
    let transcript: Option<smtpkit_client::TranscriptHook> =
        flag(flag::TRANSCRIPT).then(|| Box::new(|_: &smtpkit_proto::TranscriptEntry| {}) as _);
    let greeting_read = flag(flag::GREETING_READ) && proxy.is_none();
    let already: &[u8] = if greeting_read {
        b"220 mx.example ESMTP\r\n"
    } else {
        b""
    };
    // The clock is read once, for an origin of virtual time: the driver
    // itself never reads one.
    let start = Instant::now();
    let d = Driver::new(
        Arc::new(config),
        handshake,
        IoTimeouts::new(write_timeout, proxy_timeout),
        transcript,
        already,
        start,
    );
    let mut h = Harness {
        budget: 2_000 + 16 * data.len(),
        u,
        d,
        now: start,
        write_timeout,
        proxy,
        proxy_writes: 0,
        proxy_answers: 0,
        greeting_owed: !greeting_read,
        client: ClientStream {
            buf: Vec::new(),
            pos: 0,
            mode: Mode::Commands,
        },
        server_out: VecDeque::new(),
        wire: Vec::new(),
        closed_done: false,
        actions: 0,
        last_read_deadline: None,
        proxy_timed_out: None,
        sources: Vec::new(),
        body_failed: Vec::new(),
    };
    h.run();
}

impl Harness<'_> {
    fn choose(&mut self, n: usize) -> usize {
        self.u.choose_index(n).unwrap_or(0)
    }

    fn run(&mut self) {
        self.drive();
        let established = self.d.establish_result();
        match &established {
            Ok(()) => {
                assert!(!self.d.is_closed(), "established, yet closed");
                assert!(
                    self.d.info().greeting.is_some(),
                    "established without a greeting"
                );
            }
            Err(e) => {
                assert!(
                    self.d.is_closed(),
                    "start-up failed ({e:?}), yet not closed"
                );
                assert!(
                    matches!(e, Error::Io(_) | Error::Proxy(_) | Error::Session(_)),
                    "{e:?}"
                );
            }
        }
        self.still_done();
        for _ in 0..4 {
            match self.choose(5) {
                0 => return,
                1 => self.send(),
                2 => {
                    self.d.start_liveness();
                    self.drive();
                    let alive = self.d.finish_liveness();
                    assert!(!(alive && self.d.is_closed()), "alive, yet closed");
                }
                op => {
                    if op == 3 {
                        self.d.start_close();
                    } else {
                        self.d.start_quit_without_waiting();
                    }
                    self.drive();
                    assert!(self.d.is_closed(), "QUIT done, yet not closed");
                    if let Err(e) = self.d.finish_close() {
                        assert!(matches!(e, Error::Io(_)), "{e:?}");
                    }
                }
            }
            self.still_done();
        }
    }

    /// After `finish_*`: still `Done`, then and later.
    fn still_done(&mut self) {
        for later in [Duration::ZERO, Duration::from_secs(3600)] {
            let action = self.d.next_action(self.now + later);
            assert!(
                matches!(action, Action::Done),
                "{action:?} with no operation"
            );
        }
    }

    fn send(&mut self) {
        let fixtures = fixtures();
        let n = self.u.int_in_range(0..=MAX_MESSAGES).unwrap_or(0);
        self.sources.clear();
        self.body_failed = vec![false; n];
        let mut messages = Vec::new();
        let mut recipients = Vec::new();
        for (all, &marker) in fixtures.rcpts.iter().zip(&MARKERS).take(n) {
            let count = self.u.int_in_range(1..=MAX_RCPTS).unwrap_or(1);
            let rcpts = &all[..count];
            recipients.push(rcpts);
            let envelope = Envelope::new(fixtures.from.clone(), rcpts.iter().cloned());
            let mut body = BODIES[self.choose(BODIES.len())].to_vec();
            body.extend_from_slice(b"end ");
            body.push(marker);
            body.extend_from_slice(b"\r\n");
            let (plan, source) = match self.choose(4) {
                0 => {
                    let memory = MemoryBody::new(body);
                    (BodyPlan::Known(memory.info()), Source::Memory(memory))
                }
                1 => (
                    BodyPlan::Known(BodyInfo::of_bytes(&body)),
                    Source::File { data: body, pos: 0 },
                ),
                2 => (BodyPlan::Inspect, Source::File { data: body, pos: 0 }),
                _ => (BodyPlan::Streamed, Source::File { data: body, pos: 0 }),
            };
            messages.push((envelope, plan));
            self.sources.push(source);
        }
        let wire_start = self.wire.len();
        self.d.start_send(messages);
        self.drive();
        let results = self.d.finish_send();
        assert_eq!(results.len(), n, "one result per message");
        let wire = &self.wire[wire_start..];
        let mut ids = Vec::new();
        for (slot, result) in results.iter().enumerate() {
            assert_eq!(
                matches!(result, Err(Error::Body(_))),
                self.body_failed[slot],
                "message {slot}: {result:?}, its body failed: {}",
                self.body_failed[slot]
            );
            let report = match result {
                Ok(report) => report,
                Err(Error::Send { report, .. }) => report,
                Err(_) => continue,
            };
            let addresses: Vec<&Address> = report.recipients.iter().map(|r| &r.address).collect();
            let expected: Vec<&Address> = recipients[slot].iter().collect();
            assert_eq!(addresses, expected, "message {slot}'s report is another's");
            assert!(!ids.contains(&report.id), "two messages, one report");
            ids.push(report.id);
            let delivered = report
                .recipients
                .iter()
                .any(|r| matches!(r.status, RecipientStatus::Delivered(_)));
            assert!(
                !delivered || wire.contains(&MARKERS[slot]),
                "message {slot} delivered, but the end of its body was never written"
            );
        }
    }

    /// Performs what the driver asks until it says `Done`.
    fn drive(&mut self) {
        loop {
            self.actions += 1;
            assert!(
                self.actions <= self.budget,
                "{} actions: the driver spins without progress",
                self.actions
            );
            self.step_clock();
            let now = self.now;
            let in_proxy = self.d.session().is_none() && !self.d.is_closed();
            let next = match self.d.next_action(now) {
                Action::Write { bytes, deadline } => Next::Write(bytes.to_vec(), deadline),
                Action::Read { deadline } => Next::Read(deadline),
                Action::ReadBody { slot, max } => Next::ReadBody(slot, max),
                Action::RewindBody { slot } => Next::Rewind(slot),
                Action::Done => Next::Done,
            };
            match next {
                Next::Write(bytes, deadline) => {
                    assert!(
                        !self.closed_done,
                        "a write after Done on a closed connection: {:?}",
                        String::from_utf8_lossy(&bytes)
                    );
                    assert_eq!(
                        deadline,
                        self.write_timeout.map(|t| now + t),
                        "write deadline"
                    );
                    assert!(!bytes.is_empty(), "an empty flight");
                    self.write(bytes, in_proxy);
                }
                Next::Read(deadline) => {
                    if in_proxy {
                        assert!(
                            deadline.is_none() || deadline != self.proxy_timed_out,
                            "the proxy read timed out at its deadline, and is asked for again"
                        );
                    } else {
                        let deadline = deadline.expect("a session read without a deadline");
                        assert!(deadline > now, "a read deadline that has passed");
                    }
                    self.last_read_deadline = deadline;
                    self.read(deadline, in_proxy);
                }
                Next::ReadBody(slot, max) => {
                    assert!(slot < self.sources.len(), "no body {slot}");
                    assert!((1..=BODY_READ_MAX).contains(&max), "body read of {max}");
                    self.read_body(slot, max);
                }
                Next::Rewind(slot) => {
                    assert!(slot < self.sources.len(), "no body {slot}");
                    self.rewind(slot);
                }
                Next::Done => {
                    if self.d.is_closed() {
                        self.closed_done = true;
                    }
                    for later in [Duration::ZERO, Duration::from_secs(3600)] {
                        let action = self.d.next_action(now + later);
                        assert!(matches!(action, Action::Done), "{action:?} after Done");
                    }
                    return;
                }
            }
        }
    }

    fn step_clock(&mut self) {
        let step = match self.choose(10) {
            6 => Duration::from_millis(1),
            7 => Duration::from_secs(1),
            8 => Duration::from_millis(u64::from(self.u.arbitrary::<u16>().unwrap_or(0))),
            9 => match self.last_read_deadline {
                Some(deadline) if deadline >= self.now => {
                    deadline - self.now + Duration::from_millis(1)
                }
                _ => Duration::ZERO,
            },
            _ => Duration::ZERO,
        };
        self.now += step;
    }

    fn write(&mut self, bytes: Vec<u8>, in_proxy: bool) {
        let result = match self.choose(24) {
            20 => Err(io::ErrorKind::BrokenPipe.into()),
            21 => Err(io::ErrorKind::TimedOut.into()),
            22 => Err(io::ErrorKind::WouldBlock.into()),
            23 => Err(io::ErrorKind::ConnectionReset.into()),
            _ => Ok(()),
        };
        let ok = result.is_ok();
        self.d.on_written(self.now, result);
        if !ok {
            return;
        }
        if in_proxy {
            self.proxy_writes += 1;
        } else {
            self.wire.extend_from_slice(&bytes);
            self.client.push(&bytes);
        }
    }

    fn read(&mut self, deadline: Option<Instant>, in_proxy: bool) {
        let now = self.now;
        match self.choose(16) {
            // The end of the stream (and where the input runs out).
            0 => self.d.on_read(now, Ok(&[])),
            n @ 1..=7 => {
                self.answer(n);
                self.deliver(deadline, in_proxy);
            }
            8 => {
                let code = pick(&mut self.u, REPLY_CODES);
                let text = pick(&mut self.u, REPLY_TEXTS);
                let mut wire = Vec::new();
                render_reply(&mut self.u, &mut wire, code, &[text]);
                self.server_out.extend(wire);
                self.deliver(deadline, in_proxy);
            }
            9 => {
                let n = self.u.int_in_range(0..=16usize).unwrap_or(0);
                let raw = self.u.bytes(n).unwrap_or(&[]).to_vec();
                self.server_out.extend(raw);
                self.deliver(deadline, in_proxy);
            }
            10 => self.d.on_read(now, Err(io::ErrorKind::Interrupted.into())),
            11 => self.time_out(deadline, io::ErrorKind::TimedOut, in_proxy),
            12 => self.time_out(deadline, io::ErrorKind::WouldBlock, in_proxy),
            13 => {
                // A read that gives up before its deadline (a socket
                // timeout rounded down).
                if let Some(deadline) = deadline
                    && deadline > now
                {
                    self.now = now + (deadline - now) / 2;
                }
                self.d
                    .on_read(self.now, Err(io::ErrorKind::WouldBlock.into()));
            }
            14 => self
                .d
                .on_read(now, Err(io::ErrorKind::ConnectionReset.into())),
            _ => {
                // Whatever the server already said, without more.
                self.deliver(deadline, in_proxy);
            }
        }
    }

    fn time_out(&mut self, deadline: Option<Instant>, kind: io::ErrorKind, in_proxy: bool) {
        if let Some(deadline) = deadline {
            self.now = self.now.max(deadline);
            if in_proxy {
                self.proxy_timed_out = Some(deadline);
            }
        }
        self.d.on_read(self.now, Err(kind.into()));
    }

    /// Hands the client some of what the server said; with nothing to
    /// say, the read times out (or, without a deadline, the server hangs
    /// up rather than block for ever).
    fn deliver(&mut self, deadline: Option<Instant>, in_proxy: bool) {
        if self.server_out.is_empty() {
            match deadline {
                Some(_) => self.time_out(deadline, io::ErrorKind::TimedOut, in_proxy),
                None => self.d.on_read(self.now, Ok(&[])),
            }
            return;
        }
        let len = self.server_out.len();
        let keep = self.u.int_in_range(0..=len - 1).unwrap_or(0);
        let chunk: Vec<u8> = self.server_out.drain(..len - keep).collect();
        self.d.on_read(self.now, Ok(&chunk));
    }

    /// The server answers up to `n` things it owes: proxy replies, the
    /// greeting, then the client's commands in order — mostly as a
    /// cooperative server would, now and then with any code.
    fn answer(&mut self, n: usize) {
        for _ in 0..n {
            let mut wire = Vec::new();
            if let Some(proxy) = self.proxy
                && self.proxy_answers < self.proxy_writes
            {
                let reply: &[u8] = match (proxy, self.proxy_answers) {
                    (Proxy::Socks5, 0) => &[5, 0],
                    (Proxy::Socks5, _) => &[5, 0, 0, 1, 127, 0, 0, 1, 0, 25],
                    (Proxy::Http, _) => b"HTTP/1.1 200 Connection established\r\n\r\n",
                };
                self.proxy_answers += 1;
                self.server_out.extend(reply);
                continue;
            }
            let proxy_through = match self.proxy {
                Some(Proxy::Socks5) => self.proxy_answers >= 2,
                Some(Proxy::Http) => self.proxy_answers >= 1,
                None => true,
            };
            if !proxy_through {
                return;
            }
            if self.greeting_owed {
                self.greeting_owed = false;
                let code = if self.choose(8) == 7 {
                    pick(&mut self.u, REPLY_CODES)
                } else {
                    "220"
                };
                render_reply(&mut self.u, &mut wire, code, &["mx.example ESMTP"]);
                self.server_out.extend(wire);
                continue;
            }
            let Some(command) = self.client.next() else {
                return;
            };
            let cooperative = self.choose(8) != 7;
            match command {
                Command::Ehlo if cooperative => {
                    let mut lines = vec!["mx.example".to_owned()];
                    while lines.len() < 8 && self.u.ratio(2, 3).unwrap_or(false) {
                        lines.push(keyword(&mut self.u));
                    }
                    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
                    render_reply(&mut self.u, &mut wire, "250", &lines);
                }
                _ => {
                    let code = if cooperative {
                        match command {
                            Command::Data => "354",
                            Command::Quit => "221",
                            Command::Unknown => "500",
                            _ => "250",
                        }
                    } else {
                        pick(&mut self.u, REPLY_CODES)
                    };
                    if command == Command::Data && code == "354" {
                        self.client.mode = Mode::Data;
                    }
                    let text = pick(&mut self.u, REPLY_TEXTS);
                    render_reply(&mut self.u, &mut wire, code, &[text]);
                }
            }
            self.server_out.extend(wire);
        }
    }

    fn read_body(&mut self, slot: usize, max: usize) {
        let choice = self.choose(12);
        let short = match choice {
            9 => self.u.int_in_range(1..=max).unwrap_or(1),
            _ => max,
        };
        match &mut self.sources[slot] {
            Source::Memory(memory) => {
                self.d.on_body_piece(slot, memory.next_piece(short));
            }
            Source::File { data, pos } => match choice {
                10 => self.d.on_body(slot, Err(io::ErrorKind::Interrupted.into())),
                11 => {
                    self.body_failed[slot] = true;
                    self.d.on_body(slot, Err(io::Error::other("read failed")));
                }
                _ => {
                    let start = *pos;
                    let end = (start + short).min(data.len());
                    *pos = end;
                    self.d.on_body(slot, Ok(&data[start..end]));
                }
            },
        }
    }

    fn rewind(&mut self, slot: usize) {
        let fails = self.choose(8) == 7;
        match &mut self.sources[slot] {
            Source::Memory(memory) => {
                memory.seek(0);
                self.d.on_rewound(slot, Ok(()));
            }
            Source::File { pos, .. } if !fails => {
                *pos = 0;
                self.d.on_rewound(slot, Ok(()));
            }
            Source::File { .. } => {
                self.body_failed[slot] = true;
                self.d
                    .on_rewound(slot, Err(io::Error::other("seek failed")));
            }
        }
    }
}
