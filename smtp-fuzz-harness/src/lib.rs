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

use smtpkit_proto::{
    Address, BdatChunker, BodyInspector, Command, DataDecoder, DataEncoder, Decoded, EhloResponse,
    ForwardPath, MAX_LOCAL_PART_LEN, MAX_PATH_LEN, RcptParameters, Reply, ReplyDecoder, ReplyError,
    ReplyLimits, xtext,
};

/// The straightforward byte-at-a-time CRLF normalisation: the oracle the
/// memchr-based encoders are checked against.
pub fn reference_normalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8);
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if input.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
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

/// Replies: split invariance, bounded buffering, encode/decode round trip.
pub fn reply(data: &[u8]) {
    let (sizes, stream) = data.split_at(data.len().min(4));
    let limits = small_limits();
    let whole = decode_stream(&[stream], limits);
    let pieces = decode_stream(&split(stream, sizes), limits);
    assert_eq!(
        whole, pieces,
        "the result depends on how the input was split"
    );
    for reply in &whole.0 {
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

/// Bodies: DATA output un-stuffs to the normalised input, has no bare CR or
/// LF and no early end, and does not depend on the split; BDAT chunks
/// reassemble to the normalised input; the inspector agrees on the size.
pub fn body(data: &[u8]) {
    let (sizes, body) = data.split_at(data.len().min(8));
    let chunks = split(body, sizes);

    let mut whole = Vec::new();
    let mut encoder = DataEncoder::new();
    encoder.push(body, &mut whole);
    encoder.finish(&mut whole);

    let mut pieces = Vec::new();
    let mut encoder = DataEncoder::new();
    let mut written = 0;
    for chunk in &chunks {
        written += encoder.push(chunk, &mut pieces);
    }
    written += encoder.finish(&mut pieces);
    assert_eq!(whole, pieces, "DATA output depends on the split");
    assert_eq!(written, pieces.len());

    // Every CR is followed by LF and every LF preceded by CR.
    for (i, &b) in whole.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(whole.get(i + 1), Some(&b'\n'), "bare CR at {i}");
        }
        if b == b'\n' {
            assert!(i > 0 && whole[i - 1] == b'\r', "bare LF at {i}");
        }
    }

    let normalized = reference_normalize(body);

    let mut content = Vec::new();
    let progress = DataDecoder::new().decode(&whole, &mut content);
    assert!(progress.done, "no end of data");
    assert_eq!(progress.consumed, whole.len(), "data ended early");
    let expected_data = {
        let mut n = normalized.clone();
        if !n.is_empty() && !n.ends_with(b"\r\n") {
            n.extend_from_slice(b"\r\n");
        }
        n
    };
    assert_eq!(
        content, expected_data,
        "un-stuffed output differs from the input"
    );

    let mut inspector = BodyInspector::new();
    for chunk in &chunks {
        inspector.update(chunk);
    }
    let report = inspector.finish();
    assert_eq!(report.size, expected_data.len() as u64);
    assert_eq!(report.raw_size, body.len() as u64);
    assert_eq!(report.has_8bit, body.iter().any(|&b| b >= 0x80));
    assert_eq!(report.has_nul, body.contains(&0));

    let chunk_size = usize::from(sizes.first().copied().unwrap_or(7)) % 64 + 1;
    let mut wire = Vec::new();
    let mut chunker = BdatChunker::new(chunk_size, false);
    let mut commands = 0;
    for chunk in &chunks {
        commands += chunker.push(chunk, &mut wire);
    }
    commands += chunker.finish(&mut wire);
    let (payload, count) = parse_bdat_stream(&wire);
    assert_eq!(count, commands);
    assert_eq!(
        payload, expected_data,
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
/// once, and nothing is transmitted after it closed.
pub fn session(data: &[u8]) {
    use smtpkit_proto::{BodyInfo, Envelope, Event, Host, MessageId, Session, SessionConfig};
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let (flags, rest) = data.split_at(data.len().min(2));
    let (sizes, server) = rest.split_at(rest.len().min(6));
    let flag = |i: u32| flags.first().is_some_and(|f| f & (1 << i) != 0);
    let mut config = SessionConfig::new(Host::parse("client.example").unwrap(), "mx.example");
    config.pipelining = flag(0);
    config.chunking = flag(1);
    config.send_partial = flag(2);
    config.quit_wait = !flag(3);
    config.use_ehlo = !flag(4);
    config.chunk_size = 16;
    config.max_buffered = 64;
    config.reply_limits = small_limits();
    config.transcript = flag(5);
    // The clock is read once, for an origin of virtual time: the session
    // itself never reads one.
    let start = Instant::now();
    let mut session = Session::new(Arc::new(config), start);
    let body = b"Subject: x\r\n\r\n.dot\nline\r\n";
    let mut ids = Vec::new();
    let rcpts = ["a@mx.example", "b@mx.example", "c@mx.example"];
    for n in 1..=2 {
        let envelope = Envelope::new(
            Address::parse("from@client.example").unwrap(),
            rcpts[..n].iter().map(|r| Address::parse(r).unwrap()),
        );
        let info = if flag(6) {
            BodyInfo::streamed()
        } else {
            let mut i = BodyInspector::new();
            i.update(body);
            BodyInfo::from_report(&i.finish())
        };
        ids.push(session.send(envelope, info).unwrap());
    }
    if flag(7) {
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
        let mut events = Vec::new();
        while let Some(e) = session.poll_event() {
            events.push(e);
        }
        events
    };
    let mut now = start;
    for chunk in split(server, sizes) {
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
