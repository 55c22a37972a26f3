//! The message-level send's preparation (smtp-client's `message` module):
//! whatever the message, no panic, and what is transmitted keeps its
//! promises.

use smtpkit_client::MessageOptions;
use smtpkit_client::message::{
    HeaderCollector, LineCheck, MessageError, Prepared, complete_header, header_end, strip_bcc,
};

/// Prepares `data` as a message held in memory and as one read from a
/// stream in pieces (the first octets choose the cut), and checks:
/// - the two agree (envelope, and the stream's head is the memory's head
///   followed by what the stream read past the header);
/// - no `Bcc:` field is transmitted, and a header that had `Date:` and
///   `Message-ID:` goes out as it was, Bcc aside;
/// - completing the transmitted header again changes nothing;
/// - the long-line verdict agrees with a plain line split.
pub fn message(data: &[u8]) {
    let (cut, data) = match data.split_first() {
        Some((&cut, rest)) => (usize::from(cut) + 1, rest),
        None => return,
    };
    // One clock and one draw of randomness for every preparation here.
    let mut options = MessageOptions::default().for_one_message();
    options.settings = options.settings.with_allow_long_lines(true);

    let memory = Prepared::in_memory(data, &options);
    let mut collector = HeaderCollector::new();
    let mut fed = Ok(false);
    for piece in data.chunks(cut).chain(std::iter::once(&[][..])) {
        fed = collector.feed(piece);
        if !matches!(fed, Ok(false)) {
            break;
        }
    }
    let stream = match fed {
        Ok(_) => {
            let (header, excess) = collector.finish();
            let excess_len = excess.len();
            Prepared::after_read((header, excess), false, &options).map(|p| (p, excess_len))
        }
        Err(e) => Err(e),
    };
    match (&memory, &stream) {
        (Ok(m), Ok((s, excess))) => {
            assert_eq!(m.envelope, s.envelope);
            let end = usize::try_from(m.rest_at).unwrap();
            assert_eq!(s.head, [&m.head[..], &data[end..end + excess]].concat());
            assert!(!m.envelope.recipients.is_empty());
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (m, s) => panic!("memory {m:?}, stream {s:?}"),
    }
    if let Ok(m) = &memory {
        let end = usize::try_from(m.rest_at).unwrap();
        let original = &data[..end];
        // No Bcc field goes out (a field starts a line: after the
        // previous line's LF, or at the start).
        let head_end = header_end(&m.head, true).unwrap_or(m.head.len());
        let head = &m.head[..head_end];
        for line in head.split(|&b| b == b'\n') {
            assert!(!(line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:")));
        }
        let has = |name: &[u8]| {
            original.split(|&b| b == b'\n').any(|l| {
                l.len() > name.len()
                    && l[..name.len()].eq_ignore_ascii_case(name)
                    && l[name.len()..].iter().find(|&&b| b != b' ' && b != b'\t') == Some(&b':')
            })
        };
        if has(b"date") && has(b"message-id") {
            assert_eq!(m.head, strip_bcc(original));
        }
        let mut again = m.head.clone();
        assert_eq!(
            complete_header(&mut again, &m.envelope.from, &options),
            Ok(false)
        );
        assert_eq!(again, m.head);
    }

    // Long lines: the verdict of a plain split, in any pieces.
    let mut check = LineCheck::new();
    for piece in data.chunks(cut) {
        check.feed(piece);
    }
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let expected = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| !(*i == lines.len() - 1 && l.is_empty()))
        .map(|(i, l)| (i as u64 + 1, l.len() - usize::from(l.ends_with(b"\r"))))
        .find(|&(_, length)| length > 998);
    let verdict = check.finish();
    match expected {
        Some((line, length)) if !data.contains(&0) => {
            assert_eq!(verdict, Err(MessageError::LineTooLong { line, length }));
        }
        _ => assert_eq!(verdict, Ok(())),
    }
}
