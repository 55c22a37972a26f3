//! Invariant checks of smtp-proto shared by the cargo-fuzz targets
//! (`fuzz/`) and by `cargo test`, which replays every committed corpus file
//! through them (`tests/fuzz_corpus.rs`). Unpublished: it is a test oracle
//! over smtp-proto's public API (with its `server` feature), kept out of
//! the core so that no build of the core carries it.
//!
//! Each function takes arbitrary bytes and panics, by design, when an
//! invariant of the codec does not hold: a panic here is a finding.

// An oracle's unwrap is an assertion: its panic is what the fuzzer reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod driver;
mod message;

pub use driver::driver;
pub use message::message;

use smtpkit_proto::{
    Address, BdatChunker, BodyInspector, Command, DataDecoder, DataEncoder, Decoded, EhloResponse,
    ForwardPath, InspectedBody, MAX_LOCAL_PART_LEN, MAX_PATH_LEN, RcptParameters, Reply,
    ReplyDecoder, ReplyError, ReplyLimits, xtext,
};

/// The straightforward CRLF normalisation (every CR, LF or CRLF becomes
/// CRLF): the oracle the encoders' fast paths are checked against.
pub fn reference_normalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    let mut rest = input;
    while let Some(i) = memchr::memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(b"\r\n");
        let pair = rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n');
        rest = &rest[i + 1 + usize::from(pair)..];
    }
    out.extend_from_slice(rest);
    out
}

/// Cuts `data` into chunks whose lengths come from `sizes` (cycled), so a
/// fuzzer controls the split points.
pub fn split<'a>(data: &'a [u8], sizes: &[u8]) -> Vec<&'a [u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    let mut k = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(k % sizes.len().max(1))
            .map_or(rest.len(), |&s| usize::from(s) + 1);
        let n = n.min(rest.len());
        chunks.push(&rest[..n]);
        rest = &rest[n..];
        k += 1;
    }
    chunks
}

/// Decodes a stream of replies fed in the given chunks; returns the replies
/// and the error that ended the stream, if any. Checks that the caller's
/// buffer never holds more than one line's worth of unconsumed input.
pub fn decode_stream(chunks: &[&[u8]], limits: ReplyLimits) -> (Vec<Reply>, Option<ReplyError>) {
    let mut decoder = ReplyDecoder::new(limits);
    let mut buffer = bytes::BytesMut::new();
    let mut replies = Vec::new();
    for chunk in chunks {
        buffer.extend_from_slice(chunk);
        loop {
            match decoder.decode_buf(&mut buffer) {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(e) => return (replies, Some(e)),
            }
        }
        assert!(
            buffer.len() <= limits.max_line_len + 1,
            "{} bytes buffered, limit {}",
            buffer.len(),
            limits.max_line_len
        );
    }
    (replies, None)
}

fn small_limits() -> ReplyLimits {
    let mut limits = ReplyLimits::default();
    limits.max_line_len = 256;
    limits.max_lines = 16;
    limits.max_reply_len = 1024;
    limits
}

/// Replies: split invariance and bounded buffering (the round trip has its
/// own target, [`reply_round_trip`], so that each runs at campaign speed).
pub fn reply(data: &[u8]) {
    let (sizes, stream) = data.split_at(data.len().min(4));
    let limits = small_limits();
    let whole = decode_stream(&[stream], limits);
    let pieces = decode_stream(&split(stream, sizes), limits);
    assert_eq!(
        whole, pieces,
        "the result depends on how the input was split"
    );
}

/// Replies: every decoded reply is clean text and re-encodes to bytes that
/// decode to the same reply.
pub fn reply_round_trip(data: &[u8]) {
    let (replies, _) = decode_stream(&[data], small_limits());
    for reply in &replies {
        assert!(
            reply
                .lines()
                .iter()
                .all(|l| !l.contains(['\r', '\n', '\0']))
        );
        let wire = reply.to_bytes();
        match ReplyDecoder::new(ReplyLimits::default()).decode(&wire) {
            Ok(Decoded::Complete { item, consumed }) => {
                assert_eq!(consumed, wire.len());
                assert_eq!(
                    &item,
                    reply,
                    "re-encoded as {:?}",
                    String::from_utf8_lossy(&wire)
                );
            }
            other => panic!("re-encoded reply did not decode: {other:?}"),
        }
    }
}

/// EHLO replies: capabilities survive a round trip through a reply.
pub fn ehlo(data: &[u8]) {
    let (replies, _) = decode_stream(&[data], ReplyLimits::default());
    for reply in replies {
        let Ok(ehlo) = EhloResponse::from_reply(&reply) else {
            assert_ne!(reply.code().get(), 250);
            continue;
        };
        let again = EhloResponse::from_reply(&ehlo.to_reply().unwrap()).unwrap();
        assert_eq!(again, ehlo);
        assert!(ehlo.max_message_size() != Some(0));
    }
}

/// Commands: anything the parser accepts encodes to one clean line that
/// parses back to the same command.
pub fn command(data: &[u8]) {
    let Ok(command) = Command::parse(data) else {
        return;
    };
    let wire = command.to_bytes();
    let line = wire.strip_suffix(b"\r\n").expect("command ends in CRLF");
    assert!(
        !line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0),
        "control byte in {wire:?}"
    );
    assert_eq!(Command::parse(line).unwrap(), command);
    assert!(!command.redacted().contains(['\r', '\n']));
}

/// xtext: encoding is ASCII and decodes back; decoding is stable.
pub fn xtext(data: &[u8]) {
    let encoded = xtext::encode(data);
    assert!(encoded.bytes().all(|b| (33..=126).contains(&b)));
    assert_eq!(xtext::decode(&encoded).unwrap(), data);
    if let Ok(text) = std::str::from_utf8(data) {
        let encoded = xtext::encode_utf8_addr(text);
        assert!(encoded.bytes().all(|b| (33..=126).contains(&b)));
        assert_eq!(xtext::decode_utf8_addr(&encoded).unwrap(), text);
        if let Ok(decoded) = xtext::decode(text) {
            assert_eq!(xtext::decode(&xtext::encode(&decoded)).unwrap(), decoded);
        }
        if let Ok(decoded) = xtext::decode_utf8_addr(text) {
            let encoded = xtext::encode_utf8_addr(&decoded);
            assert_eq!(xtext::decode_utf8_addr(&encoded).unwrap(), decoded);
        }
    }
}

/// DATA by the rules, from the normalised content: a dot before every line
/// that starts with one, then the end of data.
fn reference_data(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 8);
    let mut rest = content;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        if rest[0] == b'.' {
            out.push(b'.');
        }
        out.extend_from_slice(&rest[..end]);
        rest = &rest[end..];
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// What the encoders must send for `body`: the normalised input, with a
/// final CRLF when it lacks one.
fn expected_content(body: &[u8]) -> Vec<u8> {
    let mut n = reference_normalize(body);
    if !n.is_empty() && !n.ends_with(b"\r\n") {
        n.extend_from_slice(b"\r\n");
    }
    n
}

/// Bodies: DATA output un-stuffs to the normalised input, has no bare CR or
/// LF and no early end, and does not depend on the split; the inspector
/// agrees on the size and the content facts. BDAT has its own target,
/// [`bdat`].
pub fn body(data: &[u8]) {
    let (sizes, body) = data.split_at(data.len().min(8));
    let chunks = split(body, sizes);

    // The encoding of the chunks, as pieces of the inspected body (copied
    // as they are when it is wire-ready), must be the one by the rules,
    // which does not depend on the split.
    let inspected = InspectedBody::new(body);
    let mut whole = Vec::new();
    let mut encoder = DataEncoder::new();
    let mut written = 0;
    let mut start = 0;
    for chunk in &chunks {
        written += encoder.push_piece(inspected.piece(start..start + chunk.len()), &mut whole);
        start += chunk.len();
    }
    written += encoder.finish(&mut whole);
    assert_eq!(written, whole.len());
    let normal = reference_normalize(body);
    let unchanged = normal == body
        && body.first() != Some(&b'.')
        && memchr::memmem::find(body, b"\n.").is_none();
    assert_eq!(inspected.is_wire_ready(), unchanged, "wire-ready verdict");
    let mut expected_data = normal;
    if !expected_data.is_empty() && !expected_data.ends_with(b"\r\n") {
        expected_data.extend_from_slice(b"\r\n");
    }
    assert_eq!(whole, reference_data(&expected_data), "DATA output");

    // Every CR is followed by LF and every LF preceded by CR (visited line
    // ending by line ending: a byte loop here would cost more than the
    // encoder under the fuzzer's compare tracing).
    for i in memchr::memchr2_iter(b'\r', b'\n', &whole) {
        if whole[i] == b'\r' {
            assert_eq!(whole.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        } else {
            assert!(i > 0 && whole[i - 1] == b'\r', "bare LF at {i}");
        }
    }

    let mut content = Vec::new();
    let progress = DataDecoder::new().decode(&whole, &mut content);
    assert!(progress.done, "no end of data");
    assert_eq!(progress.consumed, whole.len(), "data ended early");
    assert_eq!(
        content, expected_data,
        "un-stuffed output differs from the input"
    );

    let mut inspector = BodyInspector::new();
    let mut quick = BodyInspector::for_envelope();
    for chunk in &chunks {
        inspector.update(chunk);
        quick.update(chunk);
    }
    let report = inspector.finish();
    let quick = quick.finish();
    assert_eq!(report.size, expected_data.len() as u64);
    assert_eq!(report.raw_size, body.len() as u64);
    assert_eq!(report.has_8bit, !body.is_ascii());
    assert_eq!(report.has_nul, memchr::memchr(0, body).is_some());
    assert_eq!(
        (
            quick.size,
            quick.has_8bit,
            quick.has_nul,
            quick.has_bare_cr,
            quick.has_bare_lf
        ),
        (
            report.size,
            report.has_8bit,
            report.has_nul,
            report.has_bare_cr,
            report.has_bare_lf
        ),
        "the envelope inspection disagrees with the full one"
    );
}

/// BDAT: the chunks, in any split and any chunk size, reassemble to the
/// normalised input, and the chunker counts the commands it wrote.
pub fn bdat(data: &[u8]) {
    let (sizes, body) = data.split_at(data.len().min(8));
    let chunks = split(body, sizes);
    let chunk_size = usize::from(sizes.first().copied().unwrap_or(7)) % 64 + 1;
    let mut wire = Vec::new();
    let mut chunker = BdatChunker::new(chunk_size, false);
    let mut commands = 0;
    // As pieces of the inspected body: a wire-ready one goes out in whole
    // chunks straight from the input.
    let inspected = InspectedBody::new(body);
    let mut start = 0;
    for chunk in &chunks {
        commands += chunker.push_piece(inspected.piece(start..start + chunk.len()), &mut wire);
        start += chunk.len();
    }
    commands += chunker.finish(&mut wire);
    let (payload, count) = parse_bdat_stream(&wire);
    assert_eq!(count, commands);
    assert_eq!(
        payload,
        expected_content(body),
        "BDAT payload differs from the input"
    );
}

/// Reassembles a BDAT stream; returns the payload and the command count.
fn parse_bdat_stream(mut wire: &[u8]) -> (Vec<u8>, usize) {
    let mut payload = Vec::new();
    let mut count = 0;
    loop {
        let end = memchr::memmem::find(wire, b"\r\n").expect("BDAT line");
        // The chunker writes exactly `BDAT <size>[ LAST]`; parsing that
        // by hand (the command parser has its own target) keeps this
        // oracle fast on inputs split into one-octet chunks.
        let (size, last) = bdat_line(&wire[..end]);
        payload.extend_from_slice(&wire[end + 2..end + 2 + size]);
        wire = &wire[end + 2 + size..];
        count += 1;
        if last {
            assert!(wire.is_empty(), "bytes after BDAT LAST");
            return (payload, count);
        }
    }
}

/// `BDAT <size>` or `BDAT <size> LAST`, exactly as the chunker writes it.
fn bdat_line(line: &[u8]) -> (usize, bool) {
    let rest = line.strip_prefix(b"BDAT ").expect("a BDAT command");
    let (digits, last) = match rest.strip_suffix(b" LAST") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    assert!(
        !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0'),
        "malformed BDAT size in {:?}",
        String::from_utf8_lossy(line)
    );
    let size = digits
        .iter()
        .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
    (size, last)
}

/// Addresses: anything accepted fits the limits, carries no control
/// character, and survives a RCPT TO round trip.
pub fn address(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(address) = Address::parse(text) else {
        return;
    };
    assert!(address.as_str().len() + 2 <= MAX_PATH_LEN);
    assert!(address.local_part().len() <= MAX_LOCAL_PART_LEN);
    assert!(!address.as_str().bytes().any(|b| b < 0x20 || b == 0x7f));
    assert_eq!(address.needs_smtputf8(), !text.is_ascii());
    let rcpt = Command::Rcpt {
        to: ForwardPath::Mailbox(address),
        params: RcptParameters::default(),
    };
    let wire = rcpt.to_bytes();
    assert_eq!(Command::parse(&wire[..wire.len() - 2]).unwrap(), rcpt);
}

/// The client session against arbitrary server bytes: never panics, every
/// queued message is reported exactly once, the session closes exactly
/// once, nothing is transmitted after it closed, and no BDAT chunk is
/// written in the flight of a RCPT (unless `pipeline_first_chunk`, a flag
/// [`session_script`] can set).
pub fn session(data: &[u8]) {
    let (flags, rest) = data.split_at(data.len().min(2));
    let (sizes, server) = rest.split_at(rest.len().min(6));
    let flags = u16::from(flags.first().copied().unwrap_or(0))
        | u16::from(flags.get(1).copied().unwrap_or(0)) << 8;
    run_session(flags & 0xff, &split(server, sizes));
}

/// Session options, one bit each, shared by [`session`] and
/// [`session_script`].
mod flag {
    pub(crate) const PIPELINING: u16 = 1 << 0;
    pub(crate) const CHUNKING: u16 = 1 << 1;
    pub(crate) const SEND_PARTIAL: u16 = 1 << 2;
    pub(crate) const NO_QUIT_WAIT: u16 = 1 << 3;
    pub(crate) const HELO: u16 = 1 << 4;
    pub(crate) const TRANSCRIPT: u16 = 1 << 5;
    pub(crate) const STREAMED: u16 = 1 << 6;
    pub(crate) const QUIT_EARLY: u16 = 1 << 7;
    pub(crate) const AUTH: u16 = 1 << 8;
    /// STARTTLS when offered, through [`super::PassThroughTls`].
    pub(crate) const STARTTLS: u16 = 1 << 9;
    /// STARTTLS required (with `STARTTLS`).
    pub(crate) const STARTTLS_REQUIRED: u16 = 1 << 10;
    /// `pipeline_first_chunk`: the first BDAT chunk may ride with MAIL and
    /// RCPT.
    pub(crate) const PIPELINE_FIRST_CHUNK: u16 = 1 << 11;
}

/// Whether `flight` (one `poll_transmit`) has a BDAT command after a RCPT
/// command: a chunk written before the RCPT's reply could have come.
fn chunk_behind_rcpt(flight: &[u8]) -> bool {
    let mut rcpt = false;
    for line in flight.split(|&b| b == b'\n') {
        if line.starts_with(b"RCPT TO:") {
            rcpt = true;
        } else if rcpt && line.starts_with(b"BDAT ") {
            return true;
        }
    }
    false
}

/// A "TLS" layer that passes octets through unchanged, so that a scripted
/// server can answer STARTTLS and carry on in the clear: the fuzzer then
/// reaches the second EHLO, AUTH after TLS and REQUIRETLS decisions, which
/// no real handshake would let it script. The first input after STARTTLS is
/// the server's side of the handshake (consumed, like a real one's), and
/// ends it; everything after that is plaintext.
struct PassThroughTls {
    handshaking: bool,
    received: Vec<u8>,
    to_send: Vec<u8>,
}

impl smtpkit_proto::TlsLayer for PassThroughTls {
    fn read_tls(&mut self, ciphertext: &[u8]) -> Result<usize, smtpkit_proto::TlsError> {
        if self.handshaking {
            self.handshaking = false;
        } else {
            self.received.extend_from_slice(ciphertext);
        }
        Ok(ciphertext.len())
    }

    fn write_tls(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.to_send);
    }

    fn read_plaintext(&mut self, out: &mut Vec<u8>) -> Result<(), smtpkit_proto::TlsError> {
        out.append(&mut self.received);
        Ok(())
    }

    fn write_plaintext(&mut self, plaintext: &[u8]) -> Result<(), smtpkit_proto::TlsError> {
        self.to_send.extend_from_slice(plaintext);
        Ok(())
    }

    fn is_handshaking(&self) -> bool {
        self.handshaking
    }

    fn send_close_notify(&mut self) {}

    fn info(&self) -> smtpkit_proto::TlsInfo {
        let mut info = smtpkit_proto::TlsInfo::default();
        info.version = Some("pass-through".to_owned());
        info.verified = true;
        info
    }
}

struct PassThroughConnector;

impl smtpkit_proto::TlsConnector for PassThroughConnector {
    fn connect(
        &self,
        _server_name: &str,
    ) -> Result<Box<dyn smtpkit_proto::TlsLayer>, smtpkit_proto::TlsError> {
        Ok(Box::new(PassThroughTls {
            handshaking: true,
            received: Vec::new(),
            to_send: Vec::new(),
        }))
    }
}

/// The message every fuzzed session sends.
const SESSION_BODY: &[u8] = b"Subject: x\r\n\r\n.dot\nline\r\n";

/// What every fuzzed session is set up with, parsed once per process: the
/// parsers have their own targets, and parsing these on every execution
/// cost a fifth of the session target's time.
struct SessionFixtures {
    client: smtpkit_proto::Host,
    from: Address,
    rcpts: [Address; 3],
    body: smtpkit_proto::BodyInfo,
}

fn session_fixtures() -> &'static SessionFixtures {
    static FIXTURES: std::sync::OnceLock<SessionFixtures> = std::sync::OnceLock::new();
    FIXTURES.get_or_init(|| SessionFixtures {
        client: smtpkit_proto::Host::parse("client.example").unwrap(),
        from: Address::parse("from@client.example").unwrap(),
        rcpts: ["a@mx.example", "b@mx.example", "c@mx.example"].map(|r| Address::parse(r).unwrap()),
        body: smtpkit_proto::BodyInfo::of_bytes(SESSION_BODY),
    })
}

/// Runs a session with the options in `flags` against the server bytes in
/// `chunks` (each fed as one read), then a timeout and the end of input,
/// and checks the session's guarantees.
fn run_session(flags: u16, chunks: &[&[u8]]) {
    use smtpkit_proto::{BodyInfo, Envelope, Event, MessageId, Session, SessionConfig};
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let flag = |f: u16| flags & f != 0;
    let fixtures = session_fixtures();
    let mut config = SessionConfig::new(fixtures.client.clone(), "mx.example");
    config.options.pipelining = flag(flag::PIPELINING);
    config.options.chunking = flag(flag::CHUNKING);
    config.options.send_partial = flag(flag::SEND_PARTIAL);
    config.options.quit_wait = !flag(flag::NO_QUIT_WAIT);
    config.options.use_ehlo = !flag(flag::HELO);
    config.options.chunk_size = 16;
    config.options.max_buffered = 64;
    config.options.reply_limits = small_limits();
    config.options.transcript = flag(flag::TRANSCRIPT);
    config.options.pipeline_first_chunk = flag(flag::PIPELINE_FIRST_CHUNK);
    if flag(flag::STARTTLS) {
        config.starttls = if flag(flag::STARTTLS_REQUIRED) {
            smtpkit_proto::StartTlsPolicy::Required
        } else {
            smtpkit_proto::StartTlsPolicy::Opportunistic
        };
        config.tls = Some(Arc::new(PassThroughConnector));
    }
    if flag(flag::AUTH) {
        let credentials = smtpkit_auth::Credentials::new("user", "secret".into());
        let chooser = smtpkit_auth::Chooser::new(credentials)
            .mechanisms("SCRAM-SHA-256 SCRAM-SHA-1 PLAIN LOGIN XOAUTH2")
            .allow_plaintext(true);
        config.authenticator = Some(Arc::new(chooser));
    }
    // The clock is read once, for an origin of virtual time: the session
    // itself never reads one.
    let start = Instant::now();
    let mut session = Session::new(Arc::new(config), start);
    let body = SESSION_BODY;
    let mut ids = Vec::new();
    for n in 1..=2 {
        let envelope = Envelope::new(fixtures.from.clone(), fixtures.rcpts[..n].iter().cloned());
        let info = if flag(flag::STREAMED) {
            BodyInfo::streamed()
        } else {
            fixtures.body
        };
        ids.push(session.send(envelope, info).unwrap());
    }
    if flag(flag::QUIT_EARLY) {
        session.quit();
    }
    let mut outcomes: HashMap<MessageId, usize> = HashMap::new();
    let mut closed = 0;
    let mut offsets: HashMap<MessageId, usize> = HashMap::new();
    let mut drain = |session: &mut Session, now: Instant, closed_before: bool| {
        while let Some(request) = session.body_request() {
            let at = offsets.entry(request.id).or_insert(0);
            if request.restart {
                *at = 0;
            }
            let n = request.max_len.min(body.len() - *at).min(7);
            let last = *at + n == body.len();
            session
                .push_body(request.id, &body[*at..*at + n], last)
                .unwrap();
            *at += n;
        }
        let sent = session.poll_transmit(now);
        assert!(
            !(closed_before && sent.is_some()),
            "transmitted after Closed"
        );
        // No message octet before the server accepted the transaction:
        // never a chunk in the flight of a RCPT (the body has no line
        // that starts with BDAT or RCPT).
        assert!(
            flag(flag::PIPELINE_FIRST_CHUNK) || !sent.as_deref().is_some_and(chunk_behind_rcpt),
            "a BDAT chunk in the same flight as a RCPT"
        );
        let mut events = Vec::new();
        while let Some(e) = session.poll_event() {
            events.push(e);
        }
        events
    };
    let mut now = start;
    for chunk in chunks {
        now += Duration::from_millis(10);
        let was_closed = closed > 0;
        session.handle_input(now, chunk);
        for event in drain(&mut session, now, was_closed) {
            match event {
                Event::Message { id, .. } => *outcomes.entry(id).or_insert(0) += 1,
                Event::Closed(_) => closed += 1,
                _ => assert!(closed == 0, "event after Closed"),
            }
        }
    }
    session.handle_timeout(now + Duration::from_secs(3600));
    session.handle_eof(now);
    for event in drain(&mut session, now, true) {
        match event {
            Event::Message { id, .. } => *outcomes.entry(id).or_insert(0) += 1,
            Event::Closed(_) => closed += 1,
            _ => {}
        }
    }
    assert_eq!(closed, 1, "closed {closed} times");
    for id in ids {
        assert_eq!(
            outcomes.get(&id),
            Some(&1),
            "message {id} reported {:?} times",
            outcomes.get(&id)
        );
    }
}

/// The structure-aware session target: the input is read (with
/// `arbitrary`) as a server script — a greeting, an EHLO reply built from
/// real capabilities, then replies with plausible codes, enhanced status
/// codes, continuation lines, AUTH challenges, TLS handshakes and further
/// EHLO replies (STARTTLS runs through a pass-through TLS layer when the flags
/// ask for it, AUTH is configured when they ask for that) and the odd
/// malformed line — rendered to bytes and fed in chunks the script also
/// chooses, no chunk spanning two steps. It checks
/// the same guarantees as [`session`], but spends its executions on
/// conversations a server could have instead of on bytes no parser gets
/// past.
pub fn session_script(data: &[u8]) {
    let mut u = arbitrary::Unstructured::new(data);
    let Ok(flags) = u.arbitrary::<u16>() else {
        return;
    };
    let mut wire = Vec::new();
    let greeting_code = if u.ratio(1, 8).unwrap_or(false) {
        pick(&mut u, REPLY_CODES)
    } else {
        "220"
    };
    render_reply(&mut u, &mut wire, greeting_code, &["mx.example ESMTP"]);
    // The EHLO (or HELO) reply.
    let mut keywords: Vec<String> = vec!["mx.example".to_owned()];
    while keywords.len() < 12 && u.ratio(3, 4).unwrap_or(false) {
        keywords.push(keyword(&mut u));
    }
    let keyword_refs: Vec<&str> = keywords.iter().map(String::as_str).collect();
    render_reply(&mut u, &mut wire, "250", &keyword_refs);
    // Where each step's octets end: no chunk spans two steps, so that a
    // TLS handshake arrives as its own input.
    let mut step_ends = vec![wire.len()];
    while wire.len() < 4096 && !u.is_empty() {
        match u.choose_index(10).unwrap_or(0) {
            2 => {
                // The server's side of a TLS handshake (see PassThroughTls).
                wire.extend_from_slice(b"\x16\x03\x03\x00\x00");
            }
            3 => {
                // Another EHLO reply (after STARTTLS), other capabilities.
                let mut keywords: Vec<String> = vec!["mx.example".to_owned()];
                while keywords.len() < 12 && u.ratio(3, 4).unwrap_or(false) {
                    keywords.push(keyword(&mut u));
                }
                let keyword_refs: Vec<&str> = keywords.iter().map(String::as_str).collect();
                render_reply(&mut u, &mut wire, "250", &keyword_refs);
            }
            0 => {
                // An AUTH challenge: base64 of a SCRAM server-first message,
                // of arbitrary octets, or not base64 at all.
                let text = match u.choose_index(3).unwrap_or(0) {
                    0 => {
                        let nonce: String = (0..u.int_in_range(0..=12u8).unwrap_or(4))
                            .map(|_| char::from(u.int_in_range(b'a'..=b'z').unwrap_or(b'x')))
                            .collect();
                        let iterations = u.int_in_range(0..=5000u32).unwrap_or(4096);
                        base64(format!("r={nonce},s=c2FsdA==,i={iterations}").as_bytes())
                    }
                    1 => {
                        let n = u.int_in_range(0..=40usize).unwrap_or(0);
                        base64(u.bytes(n).unwrap_or(&[]))
                    }
                    _ => "not base64!".to_owned(),
                };
                render_reply(&mut u, &mut wire, "334", &[&text]);
            }
            1 => {
                // Raw octets, as a broken server might send.
                let n = u.int_in_range(0..=24usize).unwrap_or(0);
                wire.extend_from_slice(u.bytes(n).unwrap_or(&[]));
            }
            _ => {
                let code = pick(&mut u, REPLY_CODES);
                let text = pick(&mut u, REPLY_TEXTS);
                let lines = u.int_in_range(1..=3usize).unwrap_or(1);
                let texts = vec![text; lines];
                render_reply(&mut u, &mut wire, code, &texts);
            }
        }
        step_ends.push(wire.len());
    }
    // The chunks: each step's octets cut at sizes from the script (what is
    // left of the input), the rest of a step in one.
    let mut chunks = Vec::new();
    let mut start = 0;
    for end in step_ends {
        let mut rest = &wire[start..end];
        start = end;
        while !rest.is_empty() {
            let n = match u.int_in_range(0..=64usize) {
                Ok(n) if n > 0 => n.min(rest.len()),
                _ => rest.len(),
            };
            chunks.push(&rest[..n]);
            rest = &rest[n..];
        }
    }
    run_session(flags & 0x7ff, &chunks);
}

/// Codes servers send, with a few no server should.
const REPLY_CODES: &[&str] = &[
    "250", "250", "250", "251", "252", "354", "354", "221", "235", "334", "421", "450", "451",
    "452", "454", "500", "501", "502", "503", "504", "530", "535", "550", "551", "552", "553",
    "554", "555", "220", "199", "600", "25", "2500",
];

/// Reply texts as Postfix, Exim, Exchange and Gmail word them, with
/// enhanced status codes right and wrong.
const REPLY_TEXTS: &[&str] = &[
    "2.0.0 Ok",
    "2.1.0 Ok",
    "2.1.5 Ok",
    "2.0.0 Ok: queued as 4F2D81C0A3E",
    "OK id=1tQ5Xz-000Abc-2B",
    "2.6.0 <id@example> [InternalId=123] Queued mail for delivery",
    "2.0.0 OK  1700000000 a1-20020a05600c000000b0040e3b2c1234si123456wmb.12 - gsmtp",
    "End data with <CR><LF>.<CR><LF>",
    "Enter message, ending with \".\" on a line by itself",
    "5.1.1 <b@mx.example>: Recipient address rejected: User unknown in local recipient table",
    "5.7.1 Service unavailable; client host blocked",
    "4.7.0 Temporary authentication failure",
    "4.3.0 Error: queue file write error",
    "4.2.2 The email account that you tried to reach is over quota",
    "5.7.8 Username and Password not accepted",
    "5.5.1 Error: need MAIL command",
    "5.3.4 Message size exceeds fixed limit",
    "9.9.9 not a real status",
    "2.0",
    "",
];

/// One EHLO capability line.
fn keyword(u: &mut arbitrary::Unstructured<'_>) -> String {
    const PLAIN: &[&str] = &[
        "PIPELINING",
        "CHUNKING",
        "8BITMIME",
        "SMTPUTF8",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "STARTTLS",
        "BINARYMIME",
        "PRDR",
        "REQUIRETLS",
        "VRFY",
        "ETRN",
        "X-EXPS GSSAPI NTLM",
        "DELIVERBY 120",
        "MT-PRIORITY MIXER",
    ];
    match u.choose_index(5).unwrap_or(0) {
        0 => format!("SIZE {}", u.int_in_range(0..=50_000_000u32).unwrap_or(0)),
        1 => {
            let mut line = String::from(if u.ratio(1, 4).unwrap_or(false) {
                "AUTH="
            } else {
                "AUTH "
            });
            const MECHS: &[&str] = &[
                "PLAIN",
                "LOGIN",
                "SCRAM-SHA-256",
                "SCRAM-SHA-1",
                "XOAUTH2",
                "CRAM-MD5",
                "GSSAPI",
            ];
            for _ in 0..u.int_in_range(1..=4u8).unwrap_or(1) {
                line.push_str(pick(u, MECHS));
                line.push(' ');
            }
            line.trim_end().to_owned()
        }
        2 => format!(
            "LIMITS RCPTMAX={} MAILMAX={}",
            u.int_in_range(0..=3u8).unwrap_or(1),
            u.int_in_range(0..=3u8).unwrap_or(1)
        ),
        _ => pick(u, PLAIN).to_owned(),
    }
}

fn pick<'a>(u: &mut arbitrary::Unstructured<'_>, from: &[&'a str]) -> &'a str {
    from[u.choose_index(from.len()).unwrap_or(0)]
}

/// Writes a reply: `code-text` continuation lines and a `code text` last
/// line, each ended as the script says (mostly CRLF, sometimes a bare LF,
/// now and then a last line without the space).
fn render_reply(
    u: &mut arbitrary::Unstructured<'_>,
    wire: &mut Vec<u8>,
    code: &str,
    lines: &[&str],
) {
    for (i, text) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        wire.extend_from_slice(code.as_bytes());
        let separator: &[u8] = match (last, u.choose_index(16).unwrap_or(0)) {
            (_, 0) => b"",
            (true, _) => b" ",
            (false, _) => b"-",
        };
        wire.extend_from_slice(separator);
        wire.extend_from_slice(text.as_bytes());
        let ending: &[u8] = match u.choose_index(16).unwrap_or(0) {
            0 => b"\n",
            1 => b"\r",
            _ => b"\r\n",
        };
        wire.extend_from_slice(ending);
    }
}

/// Standard base64 with padding (the oracle's own, so that the harness
/// needs no codec crate).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in data.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * k) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpkit_proto::{Session, SessionConfig, StartTlsPolicy};
    use std::sync::Arc;
    use std::time::Instant;

    /// The session target's chunk check: a scripted server offering
    /// PIPELINING and CHUNKING, accepting everything, takes both messages
    /// through BDAT with no chunk in a RCPT's flight; with
    /// `PIPELINE_FIRST_CHUNK` the chunk rides with the RCPT (which the
    /// check then allows).
    #[test]
    fn the_session_target_checks_where_chunks_go() {
        let server: &[u8] = b"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n\
250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n";
        let lines: Vec<&[u8]> = server.split_inclusive(|&b| b == b'\n').collect();
        let flags = flag::PIPELINING | flag::CHUNKING;
        run_session(flags, &lines);
        run_session(flags | flag::PIPELINE_FIRST_CHUNK, &lines);
        assert!(chunk_behind_rcpt(
            b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3 LAST\r\nabc"
        ));
        assert!(!chunk_behind_rcpt(
            b"BDAT 3 LAST\r\nabcMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"
        ));
    }

    /// The pass-through layer lets a scripted server take the session
    /// through STARTTLS to the second EHLO, as `session_script` needs.
    #[test]
    fn a_scripted_server_gets_past_starttls() {
        let mut config = SessionConfig::new(session_fixtures().client.clone(), "mx.example");
        config.starttls = StartTlsPolicy::Required;
        config.tls = Some(Arc::new(PassThroughConnector));
        let now = Instant::now();
        let mut session = Session::new(Arc::new(config), now);
        let mut sent = Vec::new();
        let step = |session: &mut Session, sent: &mut Vec<u8>, input: &[u8]| {
            session.handle_input(now, input);
            while let Some(bytes) = session.poll_transmit(now) {
                sent.extend_from_slice(&bytes);
            }
        };
        step(&mut session, &mut sent, b"220 mx.example ESMTP\r\n");
        step(
            &mut session,
            &mut sent,
            b"250-mx.example\r\n250 STARTTLS\r\n",
        );
        step(&mut session, &mut sent, b"220 2.0.0 go ahead\r\n");
        step(&mut session, &mut sent, b"[server handshake]");
        step(&mut session, &mut sent, b"250 mx.example\r\n");
        assert_eq!(
            String::from_utf8_lossy(&sent),
            "EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\n"
        );
        assert!(session.tls_info().is_some(), "TLS is up");
        assert!(
            session.extensions().is_some(),
            "the EHLO after TLS was answered"
        );
        assert!(!session.is_closed());
    }
}
