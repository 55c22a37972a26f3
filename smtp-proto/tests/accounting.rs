//! Every recipient, exactly once, in every outcome: a property test of the
//! session against a scripted server that answers each command at random
//! (accept, refuse temporarily or permanently) and fails at a random point
//! (the connection drops, a reply never comes, a 421, a malformed reply).
//! Whatever happens, each queued message gets exactly one outcome, each
//! report lists each of its recipients exactly once, and a recipient is
//! reported delivered exactly when the server stored the message for it.
//! Unless `pipeline_first_chunk` is on, no BDAT chunk reaches the server
//! before the client has the replies to MAIL and every RCPT and the server
//! accepted MAIL and at least one RCPT.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The harness is the clock: it reads `Instant::now` once as the origin of
// virtual time, which the session under test never does.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use smtpkit_proto::{
    Address, BodyInfo, Envelope, Event, Host, MessageId, RecipientStatus, Session, SessionConfig,
};

/// How the server ends the session early, after `at` replies.
#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    Eof,
    Silence,
    ServiceClosing,
    Malformed,
}

/// Which replies follow the end of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One for the message.
    Smtp,
    /// LMTP: one per accepted recipient.
    Lmtp,
    /// PRDR offered: 353, one per recipient, a final one.
    Prdr,
}

#[derive(Debug, Clone)]
struct Case {
    mode: Mode,
    messages: Vec<usize>,
    pipelining: bool,
    chunking: bool,
    send_partial: bool,
    pipeline_first_chunk: bool,
    /// One choice per reply: 0 accept, 1 temporary refusal, 2 permanent.
    choices: Vec<u8>,
    fault: Fault,
    fault_at: usize,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(Mode::Smtp), Just(Mode::Lmtp), Just(Mode::Prdr)],
        prop::collection::vec(1usize..5, 1..4),
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
        prop::collection::vec(
            prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
            64,
        ),
        prop_oneof![
            Just(Fault::None),
            Just(Fault::Eof),
            Just(Fault::Silence),
            Just(Fault::ServiceClosing),
            Just(Fault::Malformed)
        ],
        0usize..40,
    )
        .prop_map(
            |(
                mode,
                messages,
                (pipelining, chunking, send_partial, pipeline_first_chunk),
                choices,
                fault,
                fault_at,
            )| Case {
                mode,
                messages,
                pipelining,
                chunking,
                send_partial,
                pipeline_first_chunk,
                choices,
                fault,
                fault_at,
            },
        )
}

/// A small SMTP server: reads the client's bytes, answers each command,
/// stores a message for the recipients it accepted when it accepts the end
/// of data.
struct Server {
    inbuf: Vec<u8>,
    data: bool,
    bdat_left: usize,
    rcpts: Vec<String>,
    mail: bool,
    replies: usize,
    choices: Vec<u8>,
    stored: Vec<String>,
    extensions: String,
    mode: Mode,
    /// The transaction's MAIL asked for PRDR.
    prdr: bool,
    /// Check that a transaction's first chunk comes only after the client
    /// had every reply before it and the transaction was accepted.
    strict_chunks: bool,
    /// Replies produced and not yet delivered to the client (set by the
    /// harness before each `feed`).
    undelivered: usize,
    /// A chunk of this transaction arrived.
    chunked: bool,
}

impl Server {
    fn choice(&mut self) -> u8 {
        let c = self.choices.get(self.replies).copied().unwrap_or(0);
        self.replies += 1;
        c
    }

    /// Consumes the client's bytes; returns the replies, each with the
    /// recipients it stored the message for.
    fn feed(&mut self, bytes: &[u8]) -> Vec<(Vec<u8>, Vec<String>)> {
        self.inbuf.extend_from_slice(bytes);
        let mut replies = Vec::new();
        loop {
            if self.bdat_left > 0 {
                let n = self.bdat_left.min(self.inbuf.len());
                self.inbuf.drain(..n);
                self.bdat_left -= n;
                if self.bdat_left > 0 {
                    break;
                }
                continue;
            }
            let Some(end) = self.inbuf.windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let line = String::from_utf8_lossy(&self.inbuf[..end]).into_owned();
            self.inbuf.drain(..end + 2);
            if self.data {
                if line == "." {
                    self.data = false;
                    replies.extend(self.end_of_data());
                }
                continue;
            }
            let owed = self.undelivered + replies.len();
            replies.extend(self.command(&line, owed));
        }
        replies
    }

    fn end_of_data(&mut self) -> Vec<(Vec<u8>, Vec<String>)> {
        let rcpts = std::mem::take(&mut self.rcpts);
        self.mail = false;
        self.chunked = false;
        let per_recipient = self.mode == Mode::Lmtp || self.prdr;
        if per_recipient && !rcpts.is_empty() {
            let mut replies = Vec::new();
            if self.prdr {
                replies.push((b"353 content analysis started\r\n".to_vec(), Vec::new()));
            }
            let mut any = false;
            for rcpt in rcpts {
                match self.choice() {
                    0 => {
                        any = true;
                        self.stored.push(rcpt.clone());
                        replies.push((b"250 2.0.0 delivered\r\n".to_vec(), vec![rcpt]));
                    }
                    1 => replies.push((b"452 4.2.2 over quota\r\n".to_vec(), Vec::new())),
                    _ => replies.push((b"550 5.7.1 refused\r\n".to_vec(), Vec::new())),
                }
            }
            if self.prdr {
                let last: &[u8] = if any {
                    b"250 2.0.0 accepted for some\r\n"
                } else {
                    b"550 5.7.1 refused for all\r\n"
                };
                replies.push((last.to_vec(), Vec::new()));
            }
            return replies;
        }
        let accepted = self.choice() == 0;
        if accepted && !rcpts.is_empty() {
            self.stored.extend(rcpts.iter().cloned());
            vec![(b"250 2.0.0 queued\r\n".to_vec(), rcpts)]
        } else {
            vec![(b"451 4.3.0 not today\r\n".to_vec(), Vec::new())]
        }
    }

    /// `owed`: replies to earlier commands the client has not read yet.
    fn command(&mut self, line: &str, owed: usize) -> Vec<(Vec<u8>, Vec<String>)> {
        if line
            .split(' ')
            .next()
            .unwrap_or("")
            .eq_ignore_ascii_case("BDAT")
        {
            if self.strict_chunks && !self.chunked {
                assert_eq!(
                    owed, 0,
                    "a first chunk before the client had the replies to MAIL and RCPT"
                );
                assert!(
                    self.mail && !self.rcpts.is_empty(),
                    "a first chunk into a transaction the server refused"
                );
            }
            self.chunked = true;
            return self.bdat(line);
        }
        vec![(self.simple_command(line), Vec::new())]
    }

    fn bdat(&mut self, line: &str) -> Vec<(Vec<u8>, Vec<String>)> {
        let mut parts = line.split(' ').skip(1);
        self.bdat_left = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let last = parts.next().is_some_and(|p| p.eq_ignore_ascii_case("LAST"));
        if !self.mail || self.rcpts.is_empty() {
            if last {
                self.rcpts.clear();
                self.mail = false;
                self.chunked = false;
            }
            return vec![(b"554 no valid recipients\r\n".to_vec(), Vec::new())];
        }
        if last {
            // The chunk's octets are skipped before the next line.
            return self.end_of_data();
        }
        vec![(b"250 chunk\r\n".to_vec(), Vec::new())]
    }

    fn simple_command(&mut self, line: &str) -> Vec<u8> {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "LHLO" => format!("250-mx.example\r\n{}", self.extensions).into_bytes(),
            "MAIL" => {
                self.chunked = false;
                match self.choice() {
                    0 => {
                        self.mail = true;
                        self.prdr = line.to_ascii_uppercase().ends_with(" PRDR");
                        b"250 ok\r\n".to_vec()
                    }
                    1 => b"451 later\r\n".to_vec(),
                    _ => b"550 no\r\n".to_vec(),
                }
            }
            "RCPT" => {
                let address = line
                    .split('<')
                    .nth(1)
                    .and_then(|r| r.split('>').next())
                    .unwrap_or("")
                    .to_owned();
                match (self.mail, self.choice()) {
                    (true, 0) => {
                        self.rcpts.push(address);
                        b"250 ok\r\n".to_vec()
                    }
                    (false, _) => b"503 need MAIL\r\n".to_vec(),
                    (_, 1) => b"450 later\r\n".to_vec(),
                    _ => b"550 unknown\r\n".to_vec(),
                }
            }
            "DATA" if self.mail && !self.rcpts.is_empty() => {
                self.data = true;
                b"354 go\r\n".to_vec()
            }
            "DATA" => b"554 no valid recipients\r\n".to_vec(),
            "RSET" => {
                self.rcpts.clear();
                self.mail = false;
                self.data = false;
                self.chunked = false;
                b"250 reset\r\n".to_vec()
            }
            "QUIT" => b"221 bye\r\n".to_vec(),
            _ => b"500 what\r\n".to_vec(),
        }
    }
}

fn run(case: &Case) {
    let mut config = SessionConfig::new(Host::parse("client.example").unwrap(), "mx.example");
    config.options.send_partial = case.send_partial;
    config.lmtp = case.mode == Mode::Lmtp;
    config.options.chunk_size = 16;
    config.options.pipeline_first_chunk = case.pipeline_first_chunk;
    let mut session = Session::new(Arc::new(config), Instant::now());
    let mut now = Instant::now();
    let body = b"Subject: x\r\n\r\nsome text that spans chunks\r\n";
    let mut envelopes: HashMap<MessageId, Vec<String>> = HashMap::new();
    for (i, &n) in case.messages.iter().enumerate() {
        let rcpts: Vec<String> = (0..n).map(|j| format!("m{i}r{j}@mx.example")).collect();
        let envelope = Envelope::new(
            Address::parse("from@client.example").unwrap(),
            rcpts.iter().map(|r| Address::parse(r).unwrap()),
        );
        let mut inspector = smtpkit_proto::BodyInspector::new();
        inspector.update(body);
        let id = session
            .send(envelope, BodyInfo::from_report(&inspector.finish()))
            .unwrap();
        envelopes.insert(id, rcpts);
    }
    session.quit();
    let mut extensions = Vec::new();
    if case.pipelining {
        extensions.push("PIPELINING");
    }
    if case.chunking {
        extensions.push("CHUNKING");
    }
    extensions.push("8BITMIME");
    if case.mode == Mode::Prdr {
        extensions.push("PRDR");
    }
    let last = extensions.len() - 1;
    let extensions: String = extensions
        .iter()
        .enumerate()
        .map(|(i, e)| format!("250{}{e}\r\n", if i == last { ' ' } else { '-' }))
        .collect();
    let mut server = Server {
        inbuf: Vec::new(),
        data: false,
        bdat_left: 0,
        rcpts: Vec::new(),
        mail: false,
        replies: 0,
        choices: case.choices.clone(),
        stored: Vec::new(),
        extensions,
        mode: case.mode,
        prdr: false,
        strict_chunks: !case.pipeline_first_chunk,
        undelivered: 0,
        chunked: false,
    };
    let mut outcomes: HashMap<MessageId, usize> = HashMap::new();
    let mut delivered: Vec<String> = Vec::new();
    let mut pending: Vec<(Vec<u8>, Vec<String>)> =
        vec![(b"220 mx.example ESMTP\r\n".to_vec(), Vec::new())];
    // Recipients the server stored for whose acceptance the client never
    // got the reply: "may have been delivered".
    let mut ambiguous: Vec<String> = Vec::new();
    let mut unsent_after_data: Vec<String> = Vec::new();
    let mut sent_replies = 0;
    for _round in 0..500 {
        while let Some(request) = session.body_request() {
            session.push_body(request.id, body, true).unwrap();
        }
        if let Some(out) = session.poll_transmit(now) {
            server.undelivered = pending.len();
            pending.extend(server.feed(&out));
        }
        while let Some(event) = session.poll_event() {
            if let Event::Message { id, report } = event {
                *outcomes.entry(id).or_default() += 1;
                let listed: Vec<String> = report
                    .recipients
                    .iter()
                    .map(|r| r.address.as_str().to_owned())
                    .collect();
                assert_eq!(
                    &listed, &envelopes[&id],
                    "each recipient exactly once, in order"
                );
                for r in &report.recipients {
                    match r.status {
                        RecipientStatus::Delivered(_) => {
                            delivered.push(r.address.as_str().to_owned())
                        }
                        RecipientStatus::Unsent(_) => {
                            unsent_after_data.push(r.address.as_str().to_owned());
                        }
                        _ => {}
                    }
                }
            }
        }
        if session.is_closed() {
            break;
        }
        if pending.is_empty() {
            // The client waits for nothing the server owes: only a
            // deadline can move it.
            now += Duration::from_secs(3600);
            session.handle_timeout(now);
            continue;
        }
        let (reply, stores) = pending.remove(0);
        if sent_replies == case.fault_at && !matches!(case.fault, Fault::None) {
            // The replies not delivered: what they stored is ambiguous.
            ambiguous.extend(stores);
            for (_, stores) in pending.drain(..) {
                ambiguous.extend(stores);
            }
        }
        if sent_replies == case.fault_at {
            match case.fault {
                Fault::None => {}
                Fault::Eof => {
                    session.handle_eof(now);
                    continue;
                }
                Fault::Silence => {
                    now += Duration::from_secs(3600);
                    session.handle_timeout(now);
                    continue;
                }
                Fault::ServiceClosing => {
                    session.handle_input(now, b"421 4.3.2 closing\r\n");
                    continue;
                }
                Fault::Malformed => {
                    session.handle_input(now, b"2500 what\r\n");
                    continue;
                }
            }
        }
        sent_replies += 1;
        session.handle_input(now, &reply);
    }
    assert!(session.is_closed(), "the session ends: {case:?}");
    for id in envelopes.keys() {
        assert_eq!(outcomes.get(id), Some(&1), "one outcome for {id}: {case:?}");
    }
    let stored: HashSet<&String> = server.stored.iter().collect();
    let reported: HashSet<&String> = delivered.iter().collect();
    let ambiguous: HashSet<&String> = ambiguous.iter().collect();
    // Never reported delivered unless stored…
    assert!(
        reported.is_subset(&stored),
        "reported delivered but not stored: {:?}: {case:?}",
        reported.difference(&stored).collect::<Vec<_>>()
    );
    // …stored and acknowledged means reported delivered…
    for address in stored.difference(&ambiguous) {
        assert!(
            reported.contains(address),
            "stored, acknowledged, not reported: {address}: {case:?}"
        );
    }
    // …and stored without an acknowledgement the client saw is reported
    // unsent (the end of data was written: it may have been delivered).
    for address in &ambiguous {
        assert!(
            unsent_after_data.iter().any(|u| u == *address),
            "ambiguous {address} not reported unsent: {case:?}"
        );
    }
    assert_eq!(server.stored.len(), stored.len(), "nothing stored twice");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_recipient_is_accounted_for_once(case in case()) {
        run(&case);
    }
}
