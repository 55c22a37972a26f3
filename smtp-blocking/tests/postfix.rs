//! Interop with a real Postfix and Postfix's `smtp-sink`.
//!
//! `scripts/interop.sh` starts a private instance
//! (`scripts/postfix-instance.sh`) and sets:
//! - `SMTP_INTEROP_POSTFIX`: host:port of Postfix's smtpd, which delivers
//!   every message for example.org through pipe(8) into
//!   `$SMTP_INTEROP_DELIVERED/<recipient>/<unique-name>`;
//! - `SMTP_INTEROP_DELIVERED`: that directory;
//! - `SMTP_INTEROP_SINK`: host:port of `smtp-sink`.
//!
//! Without them each test says on stderr that it was skipped, unless
//! `SMTP_INTEROP_REQUIRED=1`, which makes it fail.
//!
//! The instance is configured to leave headers alone, so the delivered file
//! is: one `Received:` header Postfix prepends, then the message as the
//! client put it on the wire with every line ending stored as LF (the
//! client turns CRLF, bare LF and bare CR into CRLF and ends an
//! unterminated last line; Postfix undoes dot-stuffing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtp_blocking::{Body, Client, ClientSettings, Protocol, send};
use smtp_proto::{Address, Direction, Envelope};

/// The environment variables named, or `None` (skipped) when one is unset.
fn interop_vars<const N: usize>(test: &str, names: [&str; N]) -> Option<[String; N]> {
    let values = names.map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()));
    if values.iter().all(Option::is_some) {
        return Some(values.map(Option::unwrap));
    }
    let missing: Vec<&str> = names
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    assert!(
        std::env::var("SMTP_INTEROP_REQUIRED").as_deref() != Ok("1"),
        "{test}: SMTP_INTEROP_REQUIRED=1 but {missing:?} not set (run scripts/interop.sh)"
    );
    eprintln!("skipped {test}: {missing:?} not set (scripts/interop.sh sets them)");
    None
}

fn settings(host_port: &str, chunking: bool) -> ClientSettings {
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    s.port = port.parse().expect("port");
    s.local_name = Some("client.example".parse().unwrap());
    s.session.chunking = chunking;
    s
}

/// A recipient no other test or run uses.
fn unique_recipient(tag: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{tag}.{}.{nanos}@example.org", std::process::id())
}

/// What Postfix stores for `input`: every CRLF, bare LF and bare CR as LF,
/// and a line ending after an unterminated last line.
fn stored_form(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + 1);
    let mut bytes = input.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\r' {
            bytes.next_if_eq(&b'\n');
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    if out.last().is_some_and(|&b| b != b'\n') {
        out.push(b'\n');
    }
    out
}

/// Splits off the first header, which must be Postfix's `Received:` for
/// this connection, with its folded continuation lines.
fn strip_received<'a>(delivered: &'a [u8], recipient: &str) -> &'a [u8] {
    assert!(
        delivered.starts_with(b"Received: from client.example ("),
        "no Received: header first: {:?}",
        String::from_utf8_lossy(&delivered[..delivered.len().min(200)])
    );
    let mut end = 0;
    loop {
        let nl = delivered[end..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("Received: header ends");
        end += nl + 1;
        if !matches!(delivered.get(end), Some(b' ' | b'\t')) {
            break;
        }
    }
    let received = String::from_utf8_lossy(&delivered[..end]);
    assert!(
        received.contains(&format!("for <{recipient}>")),
        "{received}"
    );
    &delivered[end..]
}

/// Waits for the one file delivered to `recipient` and returns its bytes.
fn wait_delivered(dir: &Path, recipient: &str) -> Vec<u8> {
    let mailbox = dir.join(recipient);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&mailbox)
            .map(|entries| {
                entries
                    .map(|e| e.unwrap().path())
                    .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        match files.as_slice() {
            [] => {}
            [one] => return std::fs::read(one).unwrap(),
            more => panic!("{recipient}: {} deliveries: {more:?}", more.len()),
        }
        assert!(
            Instant::now() < deadline,
            "nothing delivered to {} within 30 s; see maillog beside it",
            mailbox.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_same_bytes(what: &str, expected: &[u8], actual: &[u8]) {
    if expected == actual {
        return;
    }
    let at = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let around = |b: &[u8]| {
        String::from_utf8_lossy(&b[at.saturating_sub(60).min(b.len())..(at + 60).min(b.len())])
            .into_owned()
    };
    panic!(
        "{what}: delivered {} bytes, expected {}; first difference at byte {at}:\n expected {:?}\n delivered {:?}",
        actual.len(),
        expected.len(),
        around(expected),
        around(actual),
    );
}

/// Sends `body` to Postfix once with BDAT (Postfix offers CHUNKING) and
/// once with DATA, and checks each delivered file. Returns the client's
/// transcript lines of each send.
fn deliver_and_check(test: &str, body: &[u8]) -> Vec<Vec<String>> {
    let Some([postfix, delivered]) =
        interop_vars(test, ["SMTP_INTEROP_POSTFIX", "SMTP_INTEROP_DELIVERED"])
    else {
        return Vec::new();
    };
    let expected = stored_form(body);
    let mut transcripts = Vec::new();
    for (mode, chunking) in [("bdat", true), ("data", false)] {
        let recipient = unique_recipient(&format!("{test}.{mode}"));
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let mut client = Client::connect_with(
            &settings(&postfix, chunking),
            Some(Box::new(move |entry| {
                if entry.direction == Direction::Client {
                    sink.lock().unwrap().push(entry.line.clone());
                }
            })),
        )
        .unwrap();
        let envelope = Envelope::new(
            Address::parse("sender@client.example").unwrap(),
            [Address::parse(&recipient).unwrap()],
        );
        let report = client.send(envelope, Body::Bytes(body)).unwrap();
        assert!(report.all_delivered(), "{mode}: {report:?}");
        client.close().unwrap();
        let lines = std::mem::take(&mut *lines.lock().unwrap());
        assert_eq!(
            lines.iter().any(|l| l.starts_with("BDAT ")),
            chunking,
            "{mode}: {lines:?}"
        );
        let file = wait_delivered(Path::new(&delivered), &recipient);
        assert_same_bytes(
            &format!("{test} ({mode})"),
            &expected,
            strip_received(&file, &recipient),
        );
        transcripts.push(lines);
    }
    transcripts
}

const HEADERS: &str = "From: Sender <sender@client.example>\r\n\
    To: <rcpt@example.org>\r\n\
    Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
    Message-ID: <interop@client.example>\r\n";

#[test]
fn leading_dots() {
    let body = format!(
        "{HEADERS}Subject: leading dots\r\n\r\n\
         .one dot\r\n..two dots\r\n.\r\nbetween\r\n...\r\n. space\r\n\
         a line. with a dot\r\n.\r\n."
    );
    deliver_and_check("leading_dots", body.as_bytes());
}

#[test]
fn lf_only_line_endings() {
    let body = HEADERS.replace("\r\n", "\n")
        + "Subject: LF only\n\nfirst\n\nthird after an empty line\n.dot\nlast\n";
    deliver_and_check("lf_only_line_endings", body.as_bytes());
}

#[test]
fn eight_bit_utf8() {
    let body = format!(
        "{HEADERS}Subject: 8bit\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Gr\u{fc}\u{df}e aus K\u{f6}ln, \u{e6}\u{f8}\u{e5}, \u{3b1}\u{3b2}\u{3b3}\r\n\
         \u{65e5}\u{672c}\u{8a9e}\u{306e}\u{30c6}\u{30ad}\u{30b9}\u{30c8} \u{1f980}\r\n\
         .\u{e9} after a dot\r\n\u{ff}\u{fe}\r\n"
    );
    let transcripts = deliver_and_check("eight_bit_utf8", body.as_bytes());
    for lines in transcripts {
        let mail = lines.iter().find(|l| l.starts_with("MAIL FROM:")).unwrap();
        assert!(mail.contains(" BODY=8BITMIME"), "{mail}");
    }
}

#[test]
fn mixed_line_endings() {
    let body = format!(
        "{HEADERS}Subject: mixed\n\r\n\
         crlf\r\nlf\n\r\n\nbare cr\rthen lf\n.dot after lf\n..\r\nno final line end"
    );
    deliver_and_check("mixed_line_endings", body.as_bytes());
}

#[test]
fn fifty_mib_attachment() {
    const SIZE: usize = 50 << 20;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut body = format!(
        "{HEADERS}Subject: 50 MiB\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\n\
         --b0undary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         The attachment follows.\r\n\
         --b0undary\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n"
    )
    .into_bytes();
    // 76-character lines of base64 (each line is 57 pseudo-random octets).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while body.len() < SIZE {
        for _ in 0..76 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            body.push(ALPHABET[(state >> 58) as usize]);
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--b0undary--\r\n");
    deliver_and_check("fifty_mib_attachment", &body);
}

#[test]
fn pipelined_fifty_recipients_to_smtp_sink() {
    let Some([sink]) = interop_vars(
        "pipelined_fifty_recipients_to_smtp_sink",
        ["SMTP_INTEROP_SINK"],
    ) else {
        return;
    };
    let messages: Vec<(Vec<Address>, Vec<u8>)> = (0..5)
        .map(|m| {
            let recipients = (0..50)
                .map(|r| Address::parse(&format!("m{m}.r{r}@example.net")).unwrap())
                .collect();
            let body = format!("{HEADERS}Subject: message {m}\r\n\r\nbody {m}\r\n.\r\n");
            (recipients, body.into_bytes())
        })
        .collect();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&lines);
    let mut client = Client::connect_with(
        &settings(&sink, true),
        Some(Box::new(move |entry| {
            seen.lock().unwrap().push(entry.to_string());
        })),
    )
    .unwrap();
    assert!(
        client.extensions().unwrap().has_keyword("PIPELINING"),
        "smtp-sink offers PIPELINING"
    );
    let results = client.send_all(
        messages
            .iter()
            .map(|(recipients, body)| {
                let envelope = Envelope::new(
                    Address::parse("sender@client.example").unwrap(),
                    recipients.iter().cloned(),
                );
                (envelope, Body::Bytes(body))
            })
            .collect(),
    );
    assert_eq!(results.len(), messages.len());
    for (result, (recipients, _)) in results.into_iter().zip(&messages) {
        let report = result.unwrap();
        assert!(report.all_delivered(), "{report:?}");
        let delivered: Vec<&Address> = report.delivered().collect();
        assert_eq!(delivered, recipients.iter().collect::<Vec<_>>());
    }
    client.close().unwrap();
    // Pipelined: the first RCPT goes out before the reply to MAIL comes.
    let lines = lines.lock().unwrap();
    let mail = lines.iter().position(|l| l.starts_with("C: MAIL FROM:"));
    let rcpt = lines.iter().position(|l| l.starts_with("C: RCPT TO:"));
    let reply = mail.and_then(|m| lines[m..].iter().position(|l| l.starts_with("S: ")));
    assert!(
        matches!((mail, rcpt, reply), (Some(m), Some(r), Some(s)) if r < m + s),
        "not pipelined: {:?}",
        &lines[..lines.len().min(12)]
    );
}

/// The sends above go through the one-call API too.
#[test]
fn one_call_send() {
    let Some([postfix, delivered]) = interop_vars(
        "one_call_send",
        ["SMTP_INTEROP_POSTFIX", "SMTP_INTEROP_DELIVERED"],
    ) else {
        return;
    };
    let recipient = unique_recipient("one_call_send");
    let body = format!("{HEADERS}Subject: one call\r\n\r\nhello\r\n");
    let envelope = Envelope::new(
        Address::parse("sender@client.example").unwrap(),
        [Address::parse(&recipient).unwrap()],
    );
    let report = send(
        &settings(&postfix, true),
        envelope,
        Body::Bytes(body.as_bytes()),
    )
    .unwrap();
    assert!(report.all_delivered());
    let file = wait_delivered(Path::new(&delivered), &recipient);
    assert_same_bytes(
        "one_call_send",
        &stored_form(body.as_bytes()),
        strip_received(&file, &recipient),
    );
}
