//! Property tests: encode/parse round trips, split invariance, and the body
//! encoder's guarantees.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use smtp_fuzz_harness::{decode_stream, reference_normalize};
use smtpkit_proto::{
    Address, Argument, BdatChunker, BodyInspector, BodyType, ByMode, Command, CrlfNormalizer,
    DataDecoder, DataEncoder, DeliverBy, DsnReturn, EnhancedStatusCode, Envid, EsmtpParam,
    ForwardPath, Host, InitialResponse, InspectedBody, MailAuth, MailParameters, Mechanism,
    MtPriority, Notify, OriginalRecipient, RcptParameters, Reply, ReplyCode, ReplyLimits,
    ReversePath,
};

fn reply_code() -> impl Strategy<Value = ReplyCode> {
    (2u16..=5, 0u16..=5, 0u16..=9)
        .prop_map(|(a, b, c)| ReplyCode::new(a * 100 + b * 10 + c).unwrap())
}

/// Reply text that does not itself start with something like a status code.
fn reply_text() -> impl Strategy<Value = String> {
    "([a-zA-Z<>@.:;\\[\\]()!?'\" \t-][ -~\t]{0,60})?".prop_map(|s| s)
}

fn reply() -> impl Strategy<Value = Reply> {
    (
        reply_code(),
        any::<bool>(),
        0u16..1000,
        0u16..1000,
        prop::collection::vec(reply_text(), 1..6),
    )
        .prop_map(|(code, with_enhanced, subject, detail, lines)| {
            let enhanced = (with_enhanced && code.class() != 3)
                .then(|| EnhancedStatusCode::new(code.class(), subject, detail).unwrap());
            Reply::new(code, enhanced, lines).unwrap()
        })
}

fn domain() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4).prop_map(|l| l.join("."))
}

fn address() -> impl Strategy<Value = Address> {
    let dot_string = prop::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}", 1..4)
        .prop_map(|a| a.join("."));
    let quoted = "\"([ !#-\\[\\]-~]|\\\\[ -~]){0,12}\"";
    let utf8 = "[a-zé用户δ]{1,6}";
    (
        prop_oneof![
            dot_string,
            quoted.prop_map(String::from),
            utf8.prop_map(String::from)
        ],
        domain(),
    )
        .prop_filter_map("valid address", |(local, domain)| {
            Address::parse(&format!("{local}@{domain}")).ok()
        })
}

fn printable(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[!-~][ -~]{{0,{max}}}")).unwrap()
}

fn mail_params() -> impl Strategy<Value = MailParameters> {
    (
        (
            prop::option::of(any::<u64>()),
            prop::option::of(prop_oneof![
                Just(BodyType::SevenBit),
                Just(BodyType::EightBitMime),
                Just(BodyType::BinaryMime)
            ]),
            any::<bool>(),
            prop::option::of(prop_oneof![Just(DsnReturn::Full), Just(DsnReturn::Headers)]),
            prop::option::of(printable(30).prop_filter_map("envid", |s| Envid::new(s).ok())),
        ),
        (
            prop::option::of(prop_oneof![
                Just(MailAuth::Unknown),
                "[ -~é]{1,20}".prop_filter_map("auth", |s| MailAuth::identity(s).ok())
            ]),
            any::<bool>(),
            prop::option::of((-9i8..=9).prop_map(|p| MtPriority::new(p).unwrap())),
            prop::option::of((1i32..999_999_999, any::<bool>(), any::<bool>()).prop_map(
                |(s, r, t)| {
                    DeliverBy::new(s, if r { ByMode::Return } else { ByMode::Notify }, t).unwrap()
                },
            )),
            prop::collection::vec(
                ("X[A-Z0-9-]{0,8}", prop::option::of("[!-<>-~]{1,10}"))
                    .prop_map(|(k, v)| EsmtpParam::new(&k, v.as_deref()).unwrap()),
                0..3,
            )
            .prop_filter("distinct keywords", |ps| {
                let mut k: Vec<_> = ps
                    .iter()
                    .map(|p| p.keyword().to_ascii_uppercase())
                    .collect();
                k.sort();
                k.dedup();
                k.len() == ps.len()
            }),
        ),
    )
        .prop_map(
            |((size, body, smtputf8, ret, envid), (auth, requiretls, mt_priority, by, extra))| {
                let mut p = MailParameters::default();
                p.size = size;
                p.body = body;
                p.smtputf8 = smtputf8;
                p.ret = ret;
                p.envid = envid;
                p.auth = auth;
                p.requiretls = requiretls;
                p.mt_priority = mt_priority;
                p.by = by;
                p.extra = extra;
                p
            },
        )
}

fn rcpt_params() -> impl Strategy<Value = RcptParameters> {
    (
        prop::option::of(prop_oneof![
            Just(Notify::Never),
            (any::<bool>(), any::<bool>(), any::<bool>())
                .prop_filter("one condition", |(a, b, c)| *a || *b || *c)
                .prop_map(|(success, failure, delay)| Notify::On {
                    success,
                    failure,
                    delay
                })
        ]),
        prop::option::of(
            "[ -~é用]{1,30}".prop_filter_map("orcpt", |s| OriginalRecipient::new(s).ok()),
        ),
    )
        .prop_map(|(notify, orcpt)| {
            let mut p = RcptParameters::default();
            p.notify = notify;
            p.orcpt = orcpt;
            p
        })
}

fn command() -> impl Strategy<Value = Command> {
    let host = prop_oneof![
        domain().prop_map(|d| Host::parse(&d).unwrap()),
        any::<[u8; 4]>().prop_map(|ip| Host::from(std::net::IpAddr::from(ip))),
        any::<[u16; 8]>().prop_map(|ip| Host::from(std::net::IpAddr::from(ip))),
    ];
    let argument = || printable(40).prop_map(|s| Argument::new(s).unwrap());
    prop_oneof![
        host.clone().prop_map(Command::Helo),
        host.prop_map(Command::Ehlo),
        (prop::option::of(address()), mail_params()).prop_map(|(a, params)| Command::Mail {
            from: a.map_or(ReversePath::Null, ReversePath::Mailbox),
            params
        }),
        (prop::option::of(address()), rcpt_params()).prop_map(|(a, params)| Command::Rcpt {
            to: a.map_or(ForwardPath::Postmaster, ForwardPath::Mailbox),
            params
        }),
        Just(Command::Data),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Rset),
        Just(Command::Quit),
        Just(Command::StartTls),
        prop::option::of(argument()).prop_map(Command::Noop),
        prop::option::of(argument()).prop_map(Command::Help),
        argument().prop_map(Command::Vrfy),
        argument().prop_map(Command::Expn),
        (
            "[A-Za-z0-9_-]{1,20}",
            prop::option::of("[A-Za-z0-9+/]{0,40}={0,2}|=")
        )
            .prop_filter_map("auth", |(m, r)| Some(Command::Auth {
                mechanism: Mechanism::new(&m).ok()?,
                initial_response: match r {
                    Some(r) => Some(InitialResponse::new(r).ok()?),
                    None => None,
                },
            })),
    ]
}

/// Splits `data` at the given (sorted, deduplicated) offsets.
fn split_at<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(&data[start..cut]);
        start = cut;
    }
    pieces.push(&data[start..]);
    pieces
}

/// Bodies of text lines, mostly well-formed CRLF ones, so that the
/// encoders' and the inspector's block fast paths run, with the odd bare
/// CR or LF, leading dot, NUL or 8-bit octet among them.
fn line_body() -> impl Strategy<Value = Vec<u8>> {
    let text = prop::collection::vec(
        prop_oneof![20 => b'a'..=b'z', 2 => Just(b'.'), 1 => Just(0u8), 1 => Just(0xc3u8)],
        0..300,
    );
    let ending = prop_oneof![
        30 => Just(&b"\r\n"[..]),
        1 => Just(&b"\n"[..]),
        1 => Just(&b"\r"[..]),
        1 => Just(&b""[..]),
    ];
    prop::collection::vec((text, ending), 0..40).prop_map(|lines| {
        let mut body = Vec::new();
        for (text, ending) in lines {
            body.extend_from_slice(&text);
            body.extend_from_slice(ending);
        }
        body
    })
}

/// Bodies that need neither normalisation nor stuffing: CRLF lines (the
/// last one maybe unterminated), none starting with a dot.
fn wire_ready_body() -> impl Strategy<Value = Vec<u8>> {
    let text = prop::collection::vec(
        prop_oneof![20 => b'a'..=b'z', 2 => Just(b'.'), 1 => Just(0u8), 1 => Just(0xc3u8)],
        0..300,
    );
    (prop::collection::vec(text, 0..40), any::<bool>()).prop_map(|(lines, terminated)| {
        let mut body = Vec::new();
        for mut text in lines {
            if text.first() == Some(&b'.') {
                text[0] = b'x';
            }
            body.extend_from_slice(&text);
            body.extend_from_slice(b"\r\n");
        }
        if !terminated && body.ends_with(b"\r\n") {
            body.truncate(body.len() - 2);
        }
        body
    })
}

/// CRLF text with no NUL, so that the inspector's block fast path runs,
/// some lines starting with a dot and the odd 8-bit octet.
fn crlf_text_body() -> impl Strategy<Value = Vec<u8>> {
    let text = prop::collection::vec(
        prop_oneof![30 => b'a'..=b'z', 1 => Just(b'.'), 1 => Just(0xc3u8)],
        0..120,
    );
    prop::collection::vec(text, 0..60).prop_map(|lines| lines.join(&b"\r\n"[..]))
}

/// A BDAT stream's payload and chunk sizes; panics unless it is exactly
/// BDAT commands with their chunks, the last one `LAST`.
fn parse_bdat(wire: &[u8]) -> (Vec<u8>, Vec<usize>) {
    let mut payload = Vec::new();
    let mut sizes = Vec::new();
    let mut rest = wire;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let Command::Bdat { size, last } = Command::parse(&rest[..end]).unwrap() else {
            panic!(
                "not a BDAT command: {:?}",
                String::from_utf8_lossy(&rest[..end])
            )
        };
        let n = size as usize;
        payload.extend_from_slice(&rest[end + 2..end + 2 + n]);
        sizes.push(n);
        rest = &rest[end + 2 + n..];
        if last {
            assert!(rest.is_empty(), "octets after BDAT LAST");
            return (payload, sizes);
        }
    }
}

/// The DATA encoding by the rules, one octet at a time.
fn reference_data(body: &[u8]) -> Vec<u8> {
    let mut normal = reference_normalize(body);
    if !normal.is_empty() && !normal.ends_with(b"\r\n") {
        normal.extend_from_slice(b"\r\n");
    }
    let mut out = Vec::new();
    let mut line_start = true;
    for &b in &normal {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replies_round_trip_in_any_split(replies in prop::collection::vec(reply(), 1..5), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let wire: Vec<u8> = replies.iter().flat_map(Reply::to_bytes).collect();
        let (decoded, error) = decode_stream(&split_at(&wire, &cuts), ReplyLimits::default());
        prop_assert_eq!(error, None);
        prop_assert_eq!(decoded, replies);
    }

    #[test]
    fn arbitrary_reply_bytes_decode_the_same_in_any_split(wire in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'-'), b'0'..=b'9', any::<u8>()], 0..200), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let mut limits = ReplyLimits::default();
        limits.max_line_len = 32;
        limits.max_lines = 4;
        limits.max_reply_len = 64;
        prop_assert_eq!(decode_stream(&[&wire], limits), decode_stream(&split_at(&wire, &cuts), limits));
    }

    #[test]
    fn commands_round_trip(command in command()) {
        let wire = command.to_bytes();
        prop_assert!(wire.ends_with(b"\r\n"));
        let line = &wire[..wire.len() - 2];
        prop_assert!(!line.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0));
        prop_assert_eq!(Command::parse(line).unwrap(), command);
    }

    #[test]
    fn xtext_round_trips(data in prop::collection::vec(any::<u8>(), 0..64), text in "\\PC{0,20}") {
        prop_assert_eq!(smtpkit_proto::xtext::decode(&smtpkit_proto::xtext::encode(&data)).unwrap(), data);
        prop_assert_eq!(smtpkit_proto::xtext::decode_utf8_addr(&smtpkit_proto::xtext::encode_utf8_addr(&text)).unwrap(), text);
    }

    #[test]
    fn data_encoder_guarantees(body in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), any::<u8>()], 0..400), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        let encode = |chunks: &[&[u8]]| {
            let mut out = Vec::new();
            let mut e = DataEncoder::new();
            for c in chunks { e.push(c, &mut out); }
            e.finish(&mut out);
            out
        };
        let whole = encode(&[&body]);
        prop_assert_eq!(&encode(&split_at(&body, &cuts)), &whole, "output depends on the split");
        // No bare CR or LF anywhere.
        for (i, &b) in whole.iter().enumerate() {
            if b == b'\r' { prop_assert_eq!(whole.get(i + 1), Some(&b'\n')); }
            if b == b'\n' { prop_assert!(i > 0 && whole[i - 1] == b'\r'); }
        }
        // A line that is just "." appears only at the very end.
        let lone_dot = whole.windows(5).position(|w| w == b"\r\n.\r\n");
        if let Some(p) = lone_dot { prop_assert_eq!(p + 5, whole.len()); }
        prop_assert!(!whole.starts_with(b".\r\n") || whole.len() == 3);
        // Un-stuffed, it is the normalised input (plus a final CRLF).
        let mut expected = reference_normalize(&body);
        if !expected.is_empty() && !expected.ends_with(b"\r\n") { expected.extend_from_slice(b"\r\n"); }
        let mut content = Vec::new();
        let progress = DataDecoder::new().decode(&whole, &mut content);
        prop_assert!(progress.done);
        prop_assert_eq!(progress.consumed, whole.len());
        prop_assert_eq!(content, expected);
    }

    #[test]
    fn bdat_chunks_reassemble(body in prop::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..300), size in 1usize..50, binary: bool, cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut wire = Vec::new();
        let mut chunker = BdatChunker::new(size, binary);
        for piece in split_at(&body, &cuts) { chunker.push(piece, &mut wire); }
        chunker.finish(&mut wire);
        let (payload, chunks) = parse_bdat(&wire);
        for (i, &n) in chunks.iter().enumerate() {
            prop_assert!(n <= size);
            prop_assert!(i + 1 == chunks.len() || n == size, "only the LAST chunk is short");
        }
        let expected = if binary {
            body.clone()
        } else {
            let mut n = reference_normalize(&body);
            if !n.is_empty() && !n.ends_with(b"\r\n") {
                n.extend_from_slice(b"\r\n");
            }
            n
        };
        prop_assert_eq!(payload, expected);
    }

    #[test]
    fn data_encoder_matches_the_reference_on_line_text(body in line_body(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut out = Vec::new();
        let mut e = DataEncoder::new();
        for piece in split_at(&body, &cuts) { e.push(piece, &mut out); }
        e.finish(&mut out);
        prop_assert_eq!(out, reference_data(&body));
    }

    #[test]
    fn envelope_inspection_agrees_with_the_full_one(body in line_body(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut full = BodyInspector::new();
        full.update(&body);
        let full = full.finish();
        let mut quick = BodyInspector::for_envelope();
        for piece in split_at(&body, &cuts) { quick.update(piece); }
        let quick = quick.finish();
        prop_assert_eq!(quick.size, full.size);
        prop_assert_eq!(quick.raw_size, full.raw_size);
        prop_assert_eq!(quick.body_type(), full.body_type());
        prop_assert_eq!(quick.has_8bit, full.has_8bit);
        prop_assert_eq!(quick.has_nul, full.has_nul);
        prop_assert_eq!(quick.has_bare_cr, full.has_bare_cr);
        prop_assert_eq!(quick.has_bare_lf, full.has_bare_lf);
        prop_assert_eq!(quick.longest_line, 0);
        // And the size is what the encoder sends, before stuffing.
        let mut normal = reference_normalize(&body);
        if !normal.is_empty() && !normal.ends_with(b"\r\n") { normal.extend_from_slice(b"\r\n"); }
        prop_assert_eq!(full.size, normal.len() as u64);
    }

    #[test]
    fn inspected_bodies_are_wire_ready_exactly_when_nothing_needs_changing(body in prop_oneof![line_body(), wire_ready_body(), crlf_text_body()], cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let inspected = InspectedBody::new(&body[..]);
        let unchanged = reference_normalize(&body) == body
            && !body.starts_with(b".")
            && !body.windows(2).any(|w| w == b"\n.");
        prop_assert_eq!(inspected.is_wire_ready(), unchanged);
        // Fed in pieces, the inspector reports the same.
        let mut inspector = BodyInspector::for_envelope();
        for piece in split_at(&body, &cuts) { inspector.update(piece); }
        prop_assert_eq!(inspected.report(), &inspector.finish());
    }

    /// Pieces of several inspected bodies, wire-ready or not, in any order:
    /// the encoders' edge checks keep the stream what the reference makes
    /// of the same octets.
    #[test]
    fn pieces_in_any_order_encode_as_the_reference(
        bodies in prop::collection::vec((prop_oneof![line_body(), wire_ready_body(), crlf_text_body()], prop::collection::vec(any::<usize>(), 0..6)), 1..4),
        swaps in prop::collection::vec((any::<usize>(), any::<usize>()), 0..8),
        size in 1usize..5000,
    ) {
        let inspected: Vec<_> = bodies.iter().map(|(b, _)| InspectedBody::new(&b[..])).collect();
        let mut pieces = Vec::new();
        for (body, (bytes, cuts)) in inspected.iter().zip(&bodies) {
            let mut start = 0;
            for piece in split_at(bytes, cuts) {
                pieces.push(body.piece(start..start + piece.len()));
                start += piece.len();
            }
        }
        let n = pieces.len();
        for (a, b) in swaps { pieces.swap(a % n, b % n); }
        let sent: Vec<u8> = pieces.iter().flat_map(|p| p.bytes().iter().copied()).collect();

        let mut out = Vec::new();
        let mut encoder = DataEncoder::new();
        for piece in &pieces { encoder.push_piece(*piece, &mut out); }
        encoder.finish(&mut out);
        prop_assert_eq!(out, reference_data(&sent));

        let mut wire = Vec::new();
        let mut chunker = BdatChunker::new(size, false);
        for piece in &pieces { chunker.push_piece(*piece, &mut wire); }
        chunker.finish(&mut wire);
        let (payload, _) = parse_bdat(&wire);
        let mut expected = reference_normalize(&sent);
        if !expected.is_empty() && !expected.ends_with(b"\r\n") { expected.extend_from_slice(b"\r\n"); }
        prop_assert_eq!(payload, expected);
    }

    /// What a DKIM signer hashes (`CrlfNormalizer`) is what the transfers
    /// deliver: the BDAT payload, octet for octet, in any split.
    #[test]
    fn the_crlf_normalizer_gives_what_bdat_delivers(body in line_body(), size in 1usize..5000, cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut normalized = Vec::new();
        let mut normalizer = CrlfNormalizer::new();
        for piece in split_at(&body, &cuts) { normalizer.push(piece, &mut normalized); }
        normalizer.finish(&mut normalized);
        let mut wire = Vec::new();
        let mut chunker = BdatChunker::new(size, false);
        chunker.push(&body, &mut wire);
        chunker.finish(&mut wire);
        let (payload, _) = parse_bdat(&wire);
        prop_assert_eq!(normalized, payload);
    }

    #[test]
    fn bdat_chunks_match_the_reference_on_line_text(body in line_body(), size in 1usize..5000, cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let mut wire = Vec::new();
        let mut chunker = BdatChunker::new(size, false);
        for piece in split_at(&body, &cuts) { chunker.push(piece, &mut wire); }
        chunker.finish(&mut wire);
        let (payload, _) = parse_bdat(&wire);
        let mut expected = reference_normalize(&body);
        if !expected.is_empty() && !expected.ends_with(b"\r\n") { expected.extend_from_slice(b"\r\n"); }
        prop_assert_eq!(payload, expected);
    }
}
