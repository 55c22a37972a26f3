//! The one real-peer interop suite. Every adapter (blocking, tokio, smol,
//! async-std) expands [`interop_suite!`](crate::interop_suite) with the
//! same [`Adapter`] it gives the [conformance suite](crate::conformance),
//! and the scenarios below run unchanged against a real Postfix, Cyrus
//! SASL behind it, Postfix's `smtp-sink`, and real SOCKS5 servers
//! (microsocks, dante).
//!
//! `scripts/interop.sh` starts a private instance
//! (`scripts/postfix-instance.sh`) and sets:
//! - `SMTP_INTEROP_POSTFIX`: host:port of Postfix's plain smtpd, which
//!   delivers every message for example.org through pipe(8) into
//!   `$SMTP_INTEROP_DELIVERED/<recipient>/<unique-name>`;
//! - `SMTP_INTEROP_DELIVERED`: that directory;
//! - `SMTP_INTEROP_SINK`: host:port of `smtp-sink`;
//! - `SMTP_INTEROP_SASL`: host:port of a smtpd that offers AUTH (PLAIN
//!   LOGIN CRAM-MD5 DIGEST-MD5 NTLM SCRAM-SHA-1 SCRAM-SHA-256) over
//!   plaintext, checked by Cyrus SASL against a sasldb holding `alice` in
//!   realm `example.org` (`smtpd_sasl_local_domain = example.org`), and
//!   relays to example.org only for authenticated clients;
//! - `SMTP_INTEROP_TLS_DIR`: a directory holding `ca.pem`, the CA that
//!   signed the certificate every TLS listener presents (for
//!   `DNS:localhost` only, no IP address), and `other-ca.pem`, an
//!   unrelated CA;
//! - `SMTP_INTEROP_STARTTLS`: a smtpd offering STARTTLS
//!   (`smtpd_tls_security_level = may`);
//! - `SMTP_INTEROP_SMTPS`: a smtpd with implicit TLS
//!   (`smtpd_tls_wrappermode = yes`);
//! - `SMTP_INTEROP_SUBMISSION`: a smtpd that requires STARTTLS
//!   (`smtpd_tls_security_level = encrypt`), offers AUTH only after it
//!   (`smtpd_tls_auth_only = yes`; the Cyrus setup above) and relays only
//!   for authenticated clients;
//! - `SMTP_INTEROP_TLS12`: a smtpd offering STARTTLS with TLS 1.2 only;
//! - `SMTP_INTEROP_SOCKS`: microsocks without authentication, and
//!   `SMTP_INTEROP_SOCKS_LOG`, its log, where it names each target it
//!   connected to (the host name the client sent: remote DNS);
//! - `SMTP_INTEROP_SOCKS_AUTH`: microsocks requiring user `proxyuser`,
//!   password `proxypass` (RFC 1929);
//! - `SMTP_INTEROP_DANTE` (only when dante runs): dante without
//!   authentication;
//! - `SMTP_INTEROP_LMTP`, `SMTP_INTEROP_LMTP_SOCKET`,
//!   `SMTP_INTEROP_LMTP_MAIL`: Dovecot's LMTP service
//!   (`scripts/dovecot-instance.sh`) over TCP and its Unix socket, and
//!   the users' mail;
//! - `SMTP_INTEROP_DOVECOT_SUBMISSION`: Dovecot's submission service
//!   (plaintext, AUTH PLAIN for `alice` and `refused`, password `secret`),
//!   and `SMTP_INTEROP_DOVECOT_RELAY`, the instance's directory: `relay/`
//!   holds the accepting relay's dump of each message (smtp-sink's
//!   `X-Mail-Args:`/`X-Rcpt-Args:` records and `Received:` header, then the
//!   message as Dovecot relayed it), `relay-sink.log` and
//!   `refusing-sink.log` every command each relay read (`refused`'s
//!   relay refuses every MAIL);
//! - `SMTP_INTEROP_EXIM`, `SMTP_INTEROP_EXIM_LOG`: Exim with PRDR and its
//!   log.
//!
//! Without them each test says on stderr that it was skipped, unless
//! `SMTP_INTEROP_REQUIRED=1`, which makes it fail. The dante test is
//! skipped whenever `SMTP_INTEROP_DANTE` is unset (dante is optional).
//!
//! The instance is configured to leave headers alone, so a delivered file
//! is: one `Received:` header Postfix prepends (with the TLS protocol and
//! cipher, `smtpd_tls_received_header = yes`, and the SASL user), then the
//! message as the client put it on the wire with every line ending stored
//! as LF (the client turns CRLF, bare LF and bare CR into CRLF and ends an
//! unterminated last line; Postfix undoes dot-stuffing).
//!
//! [`Adapter::run`] connects, sends and closes in one call, so what a test
//! of one adapter would ask the connected client (the TLS version and
//! whether the certificate was verified, the SASL mechanism used, the
//! EHLO capabilities before and after STARTTLS, a clean QUIT) is read from
//! the transcript instead: the session notes `* TLS established: …`,
//! `* authenticated with …` and every server line. Recipients carry the
//! adapter's name, the process id and a counter, so adapters and tests
//! never share a mailbox.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smtpkit_client::{ClientSettings, Protocol, ProxyKind, ProxySettings};
use smtpkit_client::{Error, TranscriptHook};
use smtpkit_proto::proxy::ProxyError;
use smtpkit_proto::{
    Address, AuthError, DeliveryReport, EhloResponse, Envelope, Host, SessionError, SessionInfo,
    TlsErrorKind,
};

use crate::conformance::{Adapter, RunResult};

/// Alice's password in the instance's sasldb (realm `example.org`).
pub const PASSWORD: &str = "Wonderland-2026";
/// The name Postfix reports for alice after Cyrus canonicalised it (both
/// user name forms end up here: the realm comes from
/// `smtpd_sasl_local_domain` when the name has none).
pub const SASL_USERNAME: &str = "alice@example.org";
/// The user name forms every mechanism is tried with.
pub const USER_FORMS: [&str; 2] = ["alice", "alice@example.org"];
/// The user microsocks on `SMTP_INTEROP_SOCKS_AUTH` wants.
pub const PROXY_USER: &str = "proxyuser";
/// Its password.
pub const PROXY_PASSWORD: &str = "proxypass";

/// Headers of the Postfix delivery tests' messages.
pub const HEADERS: &str = "From: Sender <sender@client.example>\r\n\
    To: <rcpt@example.org>\r\n\
    Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
    Message-ID: <interop@client.example>\r\n";

// ----- shared helpers ---------------------------------------------------

/// The environment variables named, or `None` (skipped) when one is unset;
/// with `SMTP_INTEROP_REQUIRED=1` an unset one fails the test instead.
pub fn interop_vars<const N: usize>(test: &str, names: [&str; N]) -> Option<[String; N]> {
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

/// `host:port` split.
pub fn split(host_port: &str) -> (&str, u16) {
    let (host, port) = host_port.rsplit_once(':').expect("host:port");
    (host, port.parse().expect("port"))
}

/// `client.example`, the EHLO name every test uses (Postfix's `Received:`
/// header starts with it).
pub fn client_example() -> Host {
    "client.example".parse().expect("a valid host name")
}

/// Parses an address, naming it when it does not parse.
pub fn address(s: &str) -> Address {
    Address::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

static RECIPIENTS: AtomicUsize = AtomicUsize::new(0);

/// A recipient in example.org that no other test, adapter or run uses:
/// `<tag>.<adapter>.<pid>.<counter>.<seconds, base 36>`.
pub fn unique_recipient<A: Adapter>(tag: &str) -> String {
    let n = RECIPIENTS.fetch_add(1, Ordering::Relaxed);
    let mut secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mut base36 = Vec::new();
    while secs > 0 {
        base36.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(secs % 36) as usize]);
        secs /= 36;
    }
    base36.reverse();
    let local = format!(
        "{tag}.{}.{}.{n}.{}",
        A::NAME,
        std::process::id(),
        String::from_utf8_lossy(&base36)
    );
    assert!(
        local.len() <= smtpkit_proto::MAX_LOCAL_PART_LEN,
        "local part too long ({} octets): {local}",
        local.len()
    );
    format!("{local}@example.org")
}

/// `what` with everything but ASCII letters and digits made `-`: a tag
/// for recipients and Message-IDs.
pub fn tag_of(what: &str) -> String {
    what.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// What Postfix stores for `input`: every CRLF, bare LF and bare CR as LF,
/// and a line ending after an unterminated last line.
pub fn stored_form(input: &[u8]) -> Vec<u8> {
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
/// this connection (from `client.example`, for `recipient`), with its
/// folded continuation lines: the header, and the rest of the file.
pub fn split_received<'a>(delivered: &'a [u8], recipient: &str) -> (String, &'a [u8]) {
    assert!(
        delivered.starts_with(b"Received: from client.example ("),
        "no Received: header first: {:?}",
        String::from_utf8_lossy(&delivered[..delivered.len().min(300)])
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
    let received = String::from_utf8_lossy(&delivered[..end]).into_owned();
    assert!(
        received.contains(&format!("for <{recipient}>")),
        "{received}"
    );
    (received, &delivered[end..])
}

/// The delivered file without Postfix's `Received:` header (checked as in
/// [`split_received`]).
pub fn strip_received<'a>(delivered: &'a [u8], recipient: &str) -> &'a [u8] {
    split_received(delivered, recipient).1
}

/// Waits (30 s at most) for the one file delivered to `recipient` and
/// returns its bytes; more than one is an error.
pub fn wait_delivered(dir: &Path, recipient: &str) -> Vec<u8> {
    let mailbox = dir.join(recipient);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(&mailbox)
            .map(|entries| {
                entries
                    .map(|e| e.expect("a directory entry").path())
                    .filter(|p| {
                        !p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                    })
                    .collect()
            })
            .unwrap_or_default();
        match files.as_slice() {
            [] => {}
            [one] => {
                return std::fs::read(one).unwrap_or_else(|e| panic!("{}: {e}", one.display()));
            }
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

/// Byte equality, with the first difference shown when it fails.
pub fn assert_same_bytes(what: &str, expected: &[u8], actual: &[u8]) {
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

// ----- runs and their transcripts ---------------------------------------

/// Every transcript line of one run (`C: `, `S: ` or `* ` before each),
/// with when it came.
#[derive(Debug)]
pub struct Transcript {
    started: Instant,
    lines: Vec<(Instant, String)>,
    /// What the client knew once connected (`None`: it never was).
    info: Option<SessionInfo>,
}

/// The TLS connection, as the client's `SessionInfo` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsNote {
    /// For example `TLSv1.3`; `None` when the session did not know.
    pub version: Option<String>,
    /// For example `TLS13_AES_256_GCM_SHA384`; `None` when unknown.
    pub cipher_suite: Option<String>,
    /// Whether the certificate was verified (chain and name).
    pub verified: bool,
}

impl Transcript {
    /// Every line, prefixed.
    pub fn all(&self) -> Vec<String> {
        self.lines.iter().map(|(_, l)| l.clone()).collect()
    }

    /// The lines the client sent, without the `C: ` prefix (secrets
    /// redacted).
    pub fn client(&self) -> Vec<String> {
        self.lines
            .iter()
            .filter_map(|(_, l)| l.strip_prefix("C: ").map(str::to_owned))
            .collect()
    }

    /// The TLS connection (the client's `SessionInfo`); `None` without
    /// TLS or without a connection.
    pub fn tls(&self) -> Option<TlsNote> {
        let tls = self.info.as_ref()?.tls.as_ref()?;
        Some(TlsNote {
            version: tls.version.clone(),
            cipher_suite: tls.cipher_suite.clone(),
            verified: tls.verified,
        })
    }

    /// The SASL mechanism that authenticated the session.
    pub fn auth_mechanism(&self) -> Option<String> {
        self.info.as_ref()?.auth_mechanism.clone()
    }

    /// How long after the run started the session authenticated.
    pub fn authenticated_after(&self) -> Option<Duration> {
        self.lines
            .iter()
            .find(|(_, l)| l.starts_with("* authenticated with "))
            .map(|(at, _)| at.duration_since(self.started))
    }

    /// The capabilities in force (after STARTTLS when upgraded).
    pub fn extensions(&self) -> Option<EhloResponse> {
        self.info.as_ref()?.extensions.clone()
    }

    /// The capabilities offered in plaintext before STARTTLS; `None`
    /// without STARTTLS.
    pub fn extensions_before_tls(&self) -> Option<EhloResponse> {
        self.info.as_ref()?.extensions_before_tls.clone()
    }

    /// Whether the connection ended with QUIT answered by 221: the
    /// client's `close()` succeeding.
    pub fn closed_cleanly(&self) -> bool {
        self.lines
            .iter()
            .position(|(_, l)| l == "C: QUIT")
            .is_some_and(|q| self.lines[q..].iter().any(|(_, l)| l.starts_with("S: 221")))
    }

    /// Asserts [`closed_cleanly`](Self::closed_cleanly).
    pub fn assert_closed(&self, what: &str) {
        assert!(
            self.closed_cleanly(),
            "{what}: no QUIT answered by 221: {:?}",
            self.tail()
        );
    }

    fn tail(&self) -> Vec<String> {
        let all = self.all();
        all[all.len().saturating_sub(12)..].to_vec()
    }
}

/// Runs `messages` on one connection of adapter `A` with `settings`,
/// recording the transcript.
pub fn run<A: Adapter>(
    settings: &ClientSettings,
    messages: Vec<(Envelope, Vec<u8>)>,
) -> (RunResult, Transcript) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let hook: TranscriptHook = Box::new(move |e| {
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), e.to_string()));
    });
    let started = Instant::now();
    let mut info = None;
    let result = A::connect(settings, Some(hook)).map_err(Error::from);
    let result = result.map(|mut connection| {
        info = Some(connection.info());
        let messages = messages
            .into_iter()
            .map(|(e, b)| (e, crate::conformance::TestBody::Bytes(b)))
            .collect();
        let results = connection.send_all(messages);
        let _ = connection.close();
        results
    });
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(PoisonError::into_inner));
    (
        result,
        Transcript {
            started,
            lines,
            info,
        },
    )
}

/// The one message's report of a run that sent one: a connection error
/// or a message error fails the test.
fn one_report(what: &str, result: RunResult) -> DeliveryReport {
    let mut results = result.unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    assert_eq!(results.len(), 1, "{what}: {results:?}");
    results
        .remove(0)
        .unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"))
}

/// The `(Envelope, body)` of one message.
fn message(from: &str, recipients: &[&str], body: &[u8]) -> (Envelope, Vec<u8>) {
    (
        Envelope::new(address(from), recipients.iter().map(|r| address(r))),
        body.to_vec(),
    )
}

// ----- Postfix: delivery ------------------------------------------------

/// Settings for the plain Postfix smtpd (or smtp-sink) at `host_port`.
pub fn postfix_settings(host_port: &str, chunking: bool) -> ClientSettings {
    let (host, port) = split(host_port);
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    s.port = Some(port);
    s.local_name = Some(client_example());
    s.session.chunking = chunking;
    s
}

/// Sends `body` to Postfix once with BDAT (Postfix offers CHUNKING) and
/// once with DATA, and checks each delivered file. Returns the client's
/// lines of each send.
fn deliver_and_check<A: Adapter>(test: &str, body: &[u8]) -> Vec<Vec<String>> {
    let test = format!("{test} [{}]", A::NAME);
    let Some([postfix, delivered]) =
        interop_vars(&test, ["SMTP_INTEROP_POSTFIX", "SMTP_INTEROP_DELIVERED"])
    else {
        return Vec::new();
    };
    let tag = test.split(' ').next().unwrap_or_default().to_owned();
    let expected = stored_form(body);
    let mut transcripts = Vec::new();
    for (mode, chunking) in [("bdat", true), ("data", false)] {
        let what = format!("{test} ({mode})");
        let recipient = unique_recipient::<A>(&format!("{tag}.{mode}"));
        let (result, transcript) = run::<A>(
            &postfix_settings(&postfix, chunking),
            vec![message("sender@client.example", &[&recipient], body)],
        );
        let report = one_report(&what, result);
        assert!(report.all_delivered(), "{what}: {report:?}");
        transcript.assert_closed(&what);
        let lines = transcript.client();
        assert_eq!(
            lines.iter().any(|l| l.starts_with("BDAT ")),
            chunking,
            "{what}: {lines:?}"
        );
        let file = wait_delivered(Path::new(&delivered), &recipient);
        assert_same_bytes(&what, &expected, strip_received(&file, &recipient));
        transcripts.push(lines);
    }
    transcripts
}

/// Leading dots in every position survive dot-stuffing, with BDAT and DATA.
pub fn postfix_leading_dots<A: Adapter>() {
    let body = format!(
        "{HEADERS}Subject: leading dots\r\n\r\n\
         .one dot\r\n..two dots\r\n.\r\nbetween\r\n...\r\n. space\r\n\
         a line. with a dot\r\n.\r\n."
    );
    deliver_and_check::<A>("leading_dots", body.as_bytes());
}

/// A message with LF-only line endings arrives with every line intact.
pub fn postfix_lf_only_line_endings<A: Adapter>() {
    let body = HEADERS.replace("\r\n", "\n")
        + "Subject: LF only\n\nfirst\n\nthird after an empty line\n.dot\nlast\n";
    deliver_and_check::<A>("lf_only_line_endings", body.as_bytes());
}

/// 8-bit UTF-8 content arrives byte for byte, announced with BODY=8BITMIME.
pub fn postfix_eight_bit_utf8<A: Adapter>() {
    let body = format!(
        "{HEADERS}Subject: 8bit\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Gr\u{fc}\u{df}e aus K\u{f6}ln, \u{e6}\u{f8}\u{e5}, \u{3b1}\u{3b2}\u{3b3}\r\n\
         \u{65e5}\u{672c}\u{8a9e}\u{306e}\u{30c6}\u{30ad}\u{30b9}\u{30c8} \u{1f980}\r\n\
         .\u{e9} after a dot\r\n\u{ff}\u{fe}\r\n"
    );
    let transcripts = deliver_and_check::<A>("eight_bit_utf8", body.as_bytes());
    for lines in transcripts {
        let mail = lines
            .iter()
            .find(|l| l.starts_with("MAIL FROM:"))
            .unwrap_or_else(|| panic!("{}: no MAIL: {lines:?}", A::NAME));
        assert!(mail.contains(" BODY=8BITMIME"), "{}: {mail}", A::NAME);
    }
}

/// CRLF, bare LF and bare CR mixed, and no final line end.
pub fn postfix_mixed_line_endings<A: Adapter>() {
    let body = format!(
        "{HEADERS}Subject: mixed\n\r\n\
         crlf\r\nlf\n\r\n\nbare cr\rthen lf\n.dot after lf\n..\r\nno final line end"
    );
    deliver_and_check::<A>("mixed_line_endings", body.as_bytes());
}

/// A 50 MiB multipart message with a base64 attachment.
pub fn postfix_fifty_mib_attachment<A: Adapter>() {
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
    deliver_and_check::<A>("fifty_mib_attachment", &body);
}

/// Five messages of fifty recipients each, pipelined on one connection to
/// Postfix's `smtp-sink`: every recipient accepted, in order, and the first
/// RCPT sent before the reply to MAIL came.
pub fn postfix_pipelined_fifty_recipients_to_smtp_sink<A: Adapter>() {
    let test = format!("pipelined_fifty_recipients_to_smtp_sink [{}]", A::NAME);
    let Some([sink]) = interop_vars(&test, ["SMTP_INTEROP_SINK"]) else {
        return;
    };
    let name = A::NAME;
    let messages: Vec<(Vec<Address>, Vec<u8>)> = (0..5)
        .map(|m| {
            let recipients = (0..50)
                .map(|r| address(&format!("m{m}.r{r}.{name}@example.net")))
                .collect();
            let body = format!("{HEADERS}Subject: message {m}\r\n\r\nbody {m}\r\n.\r\n");
            (recipients, body.into_bytes())
        })
        .collect();
    let (result, transcript) = run::<A>(
        &postfix_settings(&sink, true),
        messages
            .iter()
            .map(|(recipients, body)| {
                (
                    Envelope::new(address("sender@client.example"), recipients.iter().cloned()),
                    body.clone(),
                )
            })
            .collect(),
    );
    let results = result.unwrap_or_else(|e| panic!("{test}: {e} ({e:?})"));
    assert!(
        transcript
            .extensions()
            .is_some_and(|e| e.has_keyword("PIPELINING")),
        "{test}: smtp-sink offers PIPELINING"
    );
    assert_eq!(results.len(), messages.len(), "{test}");
    for (result, (recipients, _)) in results.into_iter().zip(&messages) {
        let report = result.unwrap_or_else(|e| panic!("{test}: {e} ({e:?})"));
        assert!(report.all_delivered(), "{test}: {report:?}");
        let delivered: Vec<&Address> = report.delivered().collect();
        assert_eq!(delivered, recipients.iter().collect::<Vec<_>>(), "{test}");
    }
    transcript.assert_closed(&test);
    // Pipelined: the first RCPT goes out before the reply to MAIL comes.
    let lines = transcript.all();
    let mail = lines.iter().position(|l| l.starts_with("C: MAIL FROM:"));
    let rcpt = lines.iter().position(|l| l.starts_with("C: RCPT TO:"));
    let reply = mail.and_then(|m| lines[m..].iter().position(|l| l.starts_with("S: ")));
    assert!(
        matches!((mail, rcpt, reply), (Some(m), Some(r), Some(s)) if r < m + s),
        "{test}: not pipelined: {:?}",
        &lines[..lines.len().min(12)]
    );
}

// ----- Cyrus SASL behind Postfix, without TLS ---------------------------

/// Settings for the AUTH listener: `mechanism` only, as `user`. No TLS
/// here: PLAIN and LOGIN need the explicit opt-in.
pub fn sasl_settings(
    host_port: &str,
    mechanism: &str,
    user: &str,
    password: &str,
) -> ClientSettings {
    let (host, port) = split(host_port);
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    s.port = Some(port);
    s.local_name = Some(client_example());
    s.auth.credentials.user = user.into();
    s.auth.enabled = true;
    s.auth.credentials.password = password.into();
    s.auth.mechanisms = Some(mechanism.into());
    s.auth.allow_plaintext = true;
    s
}

/// A mechanism the client does not have yet is named as such rather than
/// reported as an interop failure.
fn check_mechanism_available(mechanism: &str, result: &RunResult) {
    if let Err(Error::Session(SessionError::Auth(AuthError::NoUsableMechanism { offered }))) =
        result
    {
        assert!(
            !offered
                .split(' ')
                .any(|o| o.eq_ignore_ascii_case(mechanism)),
            "{mechanism} is not available in the client yet (not registered in \
             smtpkit_auth::Chooser): NoUsableMechanism, though the server offers it ({offered})"
        );
        panic!("the server does not offer {mechanism} (it offers: {offered})");
    }
}

/// The right password authenticates with `mechanism` under each user name
/// form, and the message is relayed (only authenticated clients may) and
/// delivered with Cyrus's user name in the Received: header.
pub fn cyrus_authenticates_and_delivers<A: Adapter>(mechanism: &str) {
    let test = format!("authenticates_and_delivers({mechanism}) [{}]", A::NAME);
    let Some([server, delivered]) =
        interop_vars(&test, ["SMTP_INTEROP_SASL", "SMTP_INTEROP_DELIVERED"])
    else {
        return;
    };
    for user in USER_FORMS {
        let what = format!("{mechanism} as {user}");
        let recipient =
            unique_recipient::<A>(&format!("{}.{}", mechanism.to_lowercase(), user.len()));
        let body = format!(
            "From: <alice@example.org>\r\nTo: <{recipient}>\r\n\
             Subject: {what}\r\n\r\nauthenticated with {what}\r\n"
        );
        let started = Instant::now();
        let (result, transcript) = run::<A>(
            &sasl_settings(&server, mechanism, user, PASSWORD),
            vec![message("alice@example.org", &[&recipient], body.as_bytes())],
        );
        check_mechanism_available(mechanism, &result);
        let sent = what;
        let what = format!("{sent} [{}]", A::NAME);
        let report = one_report(&what, result);
        assert_eq!(
            transcript.auth_mechanism().as_deref(),
            Some(mechanism),
            "{what}"
        );
        assert!(report.all_delivered(), "{what}: {report:?}");
        transcript.assert_closed(&what);
        let file = String::from_utf8(wait_delivered(Path::new(&delivered), &recipient))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let received = file.split("\nSubject:").next().unwrap_or_default();
        assert!(
            received.starts_with("Received: from client.example (")
                && received.contains(&format!("(Authenticated sender: {SASL_USERNAME})"))
                && received.contains(" with ESMTPA id "),
            "{what}: {received}"
        );
        assert!(
            file.ends_with(&format!("\n\nauthenticated with {sent}\n")),
            "{what}: {file}"
        );
        eprintln!(
            "{what}: authenticated in {:?}, delivered after {:?}",
            transcript.authenticated_after(),
            started.elapsed()
        );
    }
}

/// A wrong password is refused with Postfix's 535.
pub fn cyrus_wrong_password_is_rejected<A: Adapter>(mechanism: &str) {
    let test = format!("wrong_password_is_rejected({mechanism}) [{}]", A::NAME);
    let Some([server]) = interop_vars(&test, ["SMTP_INTEROP_SASL"]) else {
        return;
    };
    for user in USER_FORMS {
        let what = format!("{mechanism} as {user} [{}]", A::NAME);
        let started = Instant::now();
        let (result, transcript) = run::<A>(
            &sasl_settings(&server, mechanism, user, "Wonderland-2025"),
            vec![],
        );
        check_mechanism_available(mechanism, &result);
        match result {
            Err(Error::Session(SessionError::Auth(AuthError::Rejected { reply }))) => {
                assert_eq!(reply.code().get(), 535, "{what}: {reply}");
            }
            Err(other) => panic!("{what}: {other} ({other:?})"),
            Ok(_) => panic!(
                "{what}: a wrong password authenticated ({:?})",
                transcript.auth_mechanism()
            ),
        }
        eprintln!("{what}: refused in {:?}", started.elapsed());
    }
}

/// DIGEST-MD5 with the realm given explicitly (`mail.smtp.sasl.realm`):
/// the sasldb realm works, any other realm is refused.
pub fn cyrus_digest_md5_explicit_realm<A: Adapter>() {
    let test = format!("digest_md5_explicit_realm [{}]", A::NAME);
    let Some([server]) = interop_vars(&test, ["SMTP_INTEROP_SASL"]) else {
        return;
    };
    let mut s = sasl_settings(&server, "DIGEST-MD5", "alice", PASSWORD);
    s.auth.credentials.realm = Some("example.org".into());
    let (result, transcript) = run::<A>(&s, vec![]);
    check_mechanism_available("DIGEST-MD5", &result);
    result.unwrap_or_else(|e| panic!("{test}: realm example.org: {e}"));
    assert_eq!(
        transcript.auth_mechanism().as_deref(),
        Some("DIGEST-MD5"),
        "{test}"
    );
    transcript.assert_closed(&test);
    s.auth.credentials.realm = Some("other.example".into());
    let (result, _) = run::<A>(&s, vec![]);
    check_mechanism_available("DIGEST-MD5", &result);
    match result {
        Err(Error::Session(SessionError::Auth(AuthError::Rejected { reply }))) => {
            assert_eq!(reply.code().get(), 535, "{test}: {reply}");
        }
        Err(other) => panic!("{test}: realm other.example: {other} ({other:?})"),
        Ok(_) => panic!("{test}: realm other.example authenticated"),
    }
}

// ----- TLS against Postfix (OpenSSL on the server side) -----------------

/// `host` at the port of `host_port`, trusting only `ca` (a file in the
/// TLS directory); no TLS is enabled yet. Only the port is taken from
/// `host_port`: the tests connect to `localhost` (the certificate's name),
/// or to `127.0.0.1` where the name must not match.
pub fn tls_settings(host: &str, host_port: &str, tls_dir: &str, ca: &str) -> ClientSettings {
    let (_, port) = split(host_port);
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    // By property: a port assigned to `s.port` would give way to 465 when
    // `mail.smtp.ssl.enable` is set afterwards.
    s.set("mail.smtp.port", &port.to_string()).expect("port");
    s.local_name = Some(client_example());
    s.tls.settings.extra_ca_files = vec![Path::new(tls_dir).join(ca)];
    s.tls.settings.roots = smtpkit_tls::RootSource::None;
    // Each scenario turns on what it tests (the library default would
    // upgrade whenever STARTTLS is offered).
    s.tls.starttls_enable = false;
    s
}

/// The TLS error of a run that must fail the handshake or the
/// certificate check: its kind and message.
fn tls_error(what: &str, result: RunResult, transcript: &Transcript) -> (TlsErrorKind, String) {
    match result {
        Err(error) => match &error {
            Error::Session(SessionError::Tls(e)) => (e.kind, error.chain()),
            other => panic!("{what}: expected a TLS error, got {other} ({other:?})"),
        },
        Ok(_) => panic!(
            "{what}: expected a TLS error, but connected ({:?})",
            transcript.tls()
        ),
    }
}

/// The verified TLS connection's protocol version, from the transcript.
fn verified_version(what: &str, transcript: &Transcript) -> String {
    let info = transcript
        .tls()
        .unwrap_or_else(|| panic!("{what}: no TLS: {:?}", transcript.all()));
    assert!(info.verified, "{what}: not verified: {info:?}");
    assert!(info.cipher_suite.is_some(), "{what}: {info:?}");
    info.version
        .clone()
        .unwrap_or_else(|| panic!("{what}: no version: {info:?}"))
}

/// Sends one message from `from` with `settings` (TLS, verified) and checks
/// the delivered bytes: Postfix's Received: header says it came over TLS
/// with the client's protocol version (`with ESMTPS`, or `ESMTPSA` and the
/// SASL user when `authenticated`), the rest is the message. Returns the
/// TLS version and the transcript.
fn tls_send_and_check<A: Adapter>(
    what: &str,
    settings: &ClientSettings,
    delivered: &str,
    from: &str,
    authenticated: bool,
) -> (String, Transcript) {
    let tag = tag_of(what);
    let recipient = unique_recipient::<A>(&tag);
    let what = format!("{what} [{}]", A::NAME);
    // (The blocking test put the TLS version, known once connected, into
    // the body; one run connects and sends, so the body says only TLS.)
    let body = format!(
        "From: <{from}>\r\nTo: <{recipient}>\r\n\
         Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         Message-ID: <{tag}@client.example>\r\n\
         Subject: {what}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         over TLS\r\n.leading dot\r\n..two\r\n.\r\n\
         Gr\u{fc}\u{df}e \u{65e5}\u{672c}\u{8a9e}\r\n"
    );
    let (result, transcript) = run::<A>(
        settings,
        vec![message(from, &[&recipient], body.as_bytes())],
    );
    let report = one_report(&what, result);
    let version = verified_version(&what, &transcript);
    assert!(report.all_delivered(), "{what}: {report:?}");
    transcript.assert_closed(&what);
    let file = wait_delivered(Path::new(delivered), &recipient);
    let (received, rest) = split_received(&file, &recipient);
    assert!(
        received.contains(&format!("(using {version} with cipher ")),
        "{what}: Postfix's Received: does not say {version}: {received}"
    );
    let with = if authenticated {
        " with ESMTPSA id "
    } else {
        " with ESMTPS id "
    };
    assert!(received.contains(with), "{what}: {received}");
    assert_eq!(
        received.contains("(Authenticated sender: alice@example.org)"),
        authenticated,
        "{what}: {received}"
    );
    assert!(
        rest == stored_form(body.as_bytes()).as_slice(),
        "{what}: delivered {:?}\nexpected {:?}",
        String::from_utf8_lossy(rest),
        body
    );
    (version, transcript)
}

/// STARTTLS on the listener that offers it: verified, TLS 1.3, EHLO again
/// after it, and delivered over TLS.
pub fn tls_starttls_delivers_verified<A: Adapter>() {
    let test = format!("starttls_delivers_verified [{}]", A::NAME);
    let Some([tls_dir, port, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut s = tls_settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.enable", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    let (version, transcript) =
        tls_send_and_check::<A>("starttls", &s, &delivered, "sender@client.example", false);
    assert!(
        transcript
            .extensions_before_tls()
            .is_some_and(|e| e.has_keyword("STARTTLS")),
        "{test}: STARTTLS offered in plaintext"
    );
    // OpenSSL 3 on the server, rustls on the client: 1.3 when both may.
    assert_eq!(version, "TLSv1.3", "{test}");
    let lines = transcript.client();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.as_str() == "EHLO client.example")
            .count(),
        2,
        "{test}: EHLO again after STARTTLS: {lines:?}"
    );
    let starttls = lines.iter().position(|l| l == "STARTTLS");
    let mail = lines.iter().position(|l| l.starts_with("MAIL FROM:"));
    assert!(
        matches!((starttls, mail), (Some(t), Some(m)) if t < m),
        "{test}: {lines:?}"
    );
    eprintln!("{test}: {version}, delivered in {:?}", started.elapsed());
}

/// Implicit TLS (wrapper mode): EHLO first thing, no STARTTLS.
pub fn tls_implicit_tls_delivers_verified<A: Adapter>() {
    let test = format!("implicit_tls_delivers_verified [{}]", A::NAME);
    let Some([tls_dir, port, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_SMTPS",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut s = tls_settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.ssl.enable", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    let (version, transcript) = tls_send_and_check::<A>(
        "implicit-tls",
        &s,
        &delivered,
        "sender@client.example",
        false,
    );
    let lines = transcript.client();
    assert_eq!(lines[0], "EHLO client.example", "{test}: {lines:?}");
    assert!(!lines.iter().any(|l| l == "STARTTLS"), "{test}: {lines:?}");
    eprintln!("{test}: {version}, delivered in {:?}", started.elapsed());
}

/// The submission listener: STARTTLS (required on both sides), then AUTH
/// with `mechanism`, which Postfix offers only after STARTTLS.
pub fn tls_submission_delivers<A: Adapter>(mechanism: &str) {
    let test = format!("submission_delivers({mechanism}) [{}]", A::NAME);
    let Some([tls_dir, port, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_SUBMISSION",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let started = Instant::now();
    let mut s = tls_settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.required", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    s.auth.credentials.user = "alice".into();
    s.auth.enabled = true;
    s.auth.credentials.password = PASSWORD.into();
    s.auth.mechanisms = Some(mechanism.into());
    let (version, transcript) = tls_send_and_check::<A>(
        &format!("submission-{mechanism}"),
        &s,
        &delivered,
        "alice@example.org",
        true,
    );
    assert_eq!(
        transcript.auth_mechanism().as_deref(),
        Some(mechanism),
        "{test}"
    );
    let before = transcript
        .extensions_before_tls()
        .unwrap_or_else(|| panic!("{test}: no EHLO before STARTTLS: {:?}", transcript.all()));
    assert!(
        before.has_keyword("STARTTLS") && !before.has_keyword("AUTH"),
        "{test}: no AUTH before STARTTLS (smtpd_tls_auth_only)"
    );
    assert!(
        transcript
            .extensions()
            .is_some_and(|e| e.auth_mechanisms().iter().any(|m| m == mechanism)),
        "{test}: {mechanism} offered after STARTTLS"
    );
    let lines = transcript.client();
    let starttls = lines.iter().position(|l| l == "STARTTLS");
    let auth = lines.iter().position(|l| l.starts_with("AUTH "));
    assert!(
        matches!((starttls, auth), (Some(t), Some(a)) if t < a),
        "{test}: {lines:?}"
    );
    eprintln!(
        "{test}: {version}, authenticated and delivered in {:?}",
        started.elapsed()
    );
}

/// Without STARTTLS the submission listener offers no AUTH, so a client
/// that must authenticate stops before MAIL.
pub fn tls_submission_without_starttls_offers_no_auth<A: Adapter>() {
    let test = format!("submission_without_starttls_offers_no_auth [{}]", A::NAME);
    let Some([tls_dir, port]) =
        interop_vars(&test, ["SMTP_INTEROP_TLS_DIR", "SMTP_INTEROP_SUBMISSION"])
    else {
        return;
    };
    let mut s = tls_settings("localhost", &port, &tls_dir, "ca.pem");
    s.auth.credentials.user = "alice".into();
    s.auth.enabled = true;
    s.auth.credentials.password = PASSWORD.into();
    s.auth.mechanisms = Some("SCRAM-SHA-256".into());
    let (result, transcript) = run::<A>(&s, vec![]);
    match result {
        Err(Error::Session(SessionError::Auth(AuthError::NotOffered))) => {}
        Err(other) => panic!("{test}: expected AuthError::NotOffered, got {other} ({other:?})"),
        Ok(_) => panic!(
            "{test}: connected without TLS ({:?})",
            transcript.auth_mechanism()
        ),
    }
    let lines = transcript.client();
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("AUTH") || l.starts_with("MAIL")),
        "{test}: {lines:?}"
    );
}

/// Trusting only the unrelated CA: the certificate is refused, on the
/// STARTTLS and on the implicit-TLS listener, and no MAIL is sent.
pub fn tls_untrusted_ca_is_refused<A: Adapter>() {
    let test = format!("untrusted_ca_is_refused [{}]", A::NAME);
    let Some([tls_dir, starttls, smtps]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_SMTPS",
        ],
    ) else {
        return;
    };
    for (what, port, property) in [
        ("starttls", &starttls, "mail.smtp.starttls.enable"),
        ("implicit TLS", &smtps, "mail.smtp.ssl.enable"),
    ] {
        let what = format!("{what} [{}]", A::NAME);
        let mut s = tls_settings("localhost", port, &tls_dir, "other-ca.pem");
        s.set(property, "true").unwrap_or_else(|e| panic!("{e}"));
        let (result, transcript) = run::<A>(&s, vec![]);
        let (kind, message) = tls_error(&what, result, &transcript);
        assert_eq!(kind, TlsErrorKind::Certificate, "{what}: {message}");
        assert!(message.contains("unknown CA"), "{what}: {message}");
        let lines = transcript.client();
        assert!(
            !lines.iter().any(|l| l.starts_with("MAIL")),
            "{what}: {lines:?}"
        );
        eprintln!("{what}: {message}; sent only {lines:?}");
    }
}

/// The certificate names `localhost` only (no IP address SAN): connecting
/// to 127.0.0.1, the same server with the trusted CA fails the name check.
pub fn tls_wrong_name_is_refused<A: Adapter>() {
    let test = format!("wrong_name_is_refused [{}]", A::NAME);
    let Some([tls_dir, starttls, smtps]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_SMTPS",
        ],
    ) else {
        return;
    };
    for (what, port, property) in [
        ("starttls", &starttls, "mail.smtp.starttls.enable"),
        ("implicit TLS", &smtps, "mail.smtp.ssl.enable"),
    ] {
        let what = format!("{what} [{}]", A::NAME);
        let mut s = tls_settings("127.0.0.1", port, &tls_dir, "ca.pem");
        s.set(property, "true").unwrap_or_else(|e| panic!("{e}"));
        let (result, transcript) = run::<A>(&s, vec![]);
        let (kind, message) = tls_error(&what, result, &transcript);
        assert_eq!(kind, TlsErrorKind::Certificate, "{what}: {message}");
        assert!(
            message.contains("does not match the server name"),
            "{what}: {message}"
        );
        let lines = transcript.client();
        assert!(
            !lines.iter().any(|l| l.starts_with("MAIL")),
            "{what}: {lines:?}"
        );
        eprintln!("{what}: {message}");
    }
}

/// `mail.smtp.starttls.required` against the plain listener, which offers
/// no STARTTLS: EHLO, then QUIT, and an error.
pub fn tls_starttls_required_but_not_offered<A: Adapter>() {
    let test = format!("starttls_required_but_not_offered [{}]", A::NAME);
    let Some([tls_dir, port]) =
        interop_vars(&test, ["SMTP_INTEROP_TLS_DIR", "SMTP_INTEROP_POSTFIX"])
    else {
        return;
    };
    let mut s = tls_settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.required", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    let (result, transcript) = run::<A>(&s, vec![]);
    match result {
        Err(Error::Session(SessionError::StartTlsUnavailable(why))) => {
            eprintln!("{test}: {why}");
        }
        Err(other) => panic!("{test}: expected StartTlsUnavailable, got {other} ({other:?})"),
        Ok(_) => panic!("{test}: connected without STARTTLS"),
    }
    assert_eq!(
        transcript.client(),
        ["EHLO client.example", "QUIT"],
        "{test}"
    );
}

/// The TLS 1.2-only listener: a client limited to TLS 1.3 fails the
/// handshake; limited to TLS 1.2, or with the default (1.2 and 1.3), it
/// delivers over TLS 1.2.
pub fn tls_tls12_only_listener<A: Adapter>() {
    let test = format!("tls12_only_listener [{}]", A::NAME);
    let Some([tls_dir, port, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_TLS12",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let mut s = tls_settings("localhost", &port, &tls_dir, "ca.pem");
    s.set("mail.smtp.starttls.required", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    s.set("mail.smtp.ssl.protocols", "TLSv1.3")
        .unwrap_or_else(|e| panic!("{e}"));
    let (result, transcript) = run::<A>(&s, vec![]);
    let (kind, message) = tls_error(&format!("{test}: TLSv1.3 only"), result, &transcript);
    assert_eq!(kind, TlsErrorKind::Handshake, "{test}: {message}");
    let lines = transcript.client();
    assert!(
        !lines.iter().any(|l| l.starts_with("MAIL")),
        "{test}: {lines:?}"
    );
    eprintln!("{test}: TLSv1.3 against TLS 1.2 only: {message}");

    for protocols in ["TLSv1.2", ""] {
        s.set("mail.smtp.ssl.protocols", protocols)
            .unwrap_or_else(|e| panic!("{e}"));
        let what = format!("tls12-protocols-{protocols}");
        let (version, _) =
            tls_send_and_check::<A>(&what, &s, &delivered, "sender@client.example", false);
        assert_eq!(version, "TLSv1.2", "{what} [{}]", A::NAME);
    }
}

// ----- SOCKS5: microsocks and dante -------------------------------------

/// `localhost` at the port of `target` (host:port), no proxy yet: the
/// client asks the proxy for `localhost`, and the proxy resolves it.
pub fn socks_settings(target: &str) -> ClientSettings {
    let mut s = ClientSettings::new(Protocol::Smtp, "localhost");
    s.set("mail.smtp.port", &split(target).1.to_string())
        .expect("port");
    s.local_name = Some(client_example());
    s
}

/// Connects with `s` and sends one message to `recipient`: the connection's
/// or the message's error as it comes; a report must say delivered.
fn try_send<A: Adapter>(
    s: &ClientSettings,
    recipient: &str,
    body: &str,
) -> (Result<(), Error>, Transcript) {
    let (result, transcript) = run::<A>(
        s,
        vec![message(
            "sender@client.example",
            &[recipient],
            body.as_bytes(),
        )],
    );
    let result = result.and_then(|mut results| {
        assert_eq!(results.len(), 1, "{results:?}");
        let report = results.remove(0)?;
        assert!(report.all_delivered(), "{report:?}");
        Ok(())
    });
    (result, transcript)
}

/// Sends one message with `s` and checks the delivered bytes: Postfix's
/// Received: header (with `with ESMTPS` when `tls`), then the message with
/// LF line endings. Returns the transcript.
fn socks_deliver_and_check<A: Adapter>(
    what: &str,
    s: &ClientSettings,
    delivered: &str,
    tls: bool,
) -> Transcript {
    let started = Instant::now();
    let tag = tag_of(what);
    let what = format!("{what} [{}]", A::NAME);
    let recipient = unique_recipient::<A>(&tag);
    let body = format!(
        "From: <sender@client.example>\r\nTo: <{recipient}>\r\n\
         Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n\
         Message-ID: <{tag}@client.example>\r\n\
         Subject: {what}\r\n\r\nthrough the proxy\r\n.leading dot\r\n.\r\n"
    );
    let (result, transcript) = try_send::<A>(s, &recipient, &body);
    result.unwrap_or_else(|e| panic!("{what}: {e} ({e:?})"));
    transcript.assert_closed(&what);
    let file = wait_delivered(Path::new(delivered), &recipient);
    let text = String::from_utf8(file).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (received, rest) = text
        .split_once("\nFrom: ")
        .unwrap_or_else(|| panic!("{what}: {text}"));
    assert!(
        received.starts_with("Received: from client.example (")
            && received.contains(&format!("for <{recipient}>")),
        "{what}: {received}"
    );
    let with = if tls {
        " with ESMTPS id "
    } else {
        " with ESMTP id "
    };
    assert!(received.contains(with), "{what}: {received}");
    assert_eq!(
        format!("From: {rest}"),
        body.replace("\r\n", "\n"),
        "{what}"
    );
    eprintln!("{what}: delivered in {:?}", started.elapsed());
    transcript
}

/// Tests of different adapters in one process (smol and async-std) take
/// turns at counting microsocks' log lines.
static SOCKS_LOG: Mutex<()> = Mutex::new(());

/// microsocks without authentication, configured by properties; it is
/// asked for the host name (remote DNS).
pub fn socks_microsocks_without_auth<A: Adapter>() {
    let test = format!("microsocks_without_auth [{}]", A::NAME);
    let Some([proxy, postfix, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_SOCKS",
            "SMTP_INTEROP_POSTFIX",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = socks_settings(&postfix);
    s.set("mail.smtp.socks.host", proxy_host)
        .unwrap_or_else(|e| panic!("{e}"));
    s.set("mail.smtp.socks.port", &proxy_port.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    // Remote DNS: microsocks logs one more connection to the name (not an
    // address). No other test sends it there, and the adapters in this
    // process take turns.
    let _turn = SOCKS_LOG.lock().unwrap_or_else(PoisonError::into_inner);
    let log = std::env::var("SMTP_INTEROP_SOCKS_LOG")
        .ok()
        .filter(|v| !v.is_empty());
    let expected = format!("connected to localhost:{}\n", split(&postfix).1);
    let logged = || {
        log.as_ref().map_or(0, |log| {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .matches(&expected)
                .count()
        })
    };
    let before = logged();
    socks_deliver_and_check::<A>("microsocks", &s, &delivered, false);
    if let Some(log) = &log {
        let deadline = Instant::now() + Duration::from_secs(5);
        while logged() != before + 1 {
            assert!(
                Instant::now() < deadline,
                "{test}: {log} does not say {expected:?} once more ({before} before): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// microsocks with user/password (RFC 1929), set in code; a wrong password
/// and missing credentials are refused before any SMTP.
pub fn socks_microsocks_with_user_password<A: Adapter>() {
    let test = format!("microsocks_with_user_password [{}]", A::NAME);
    let Some([proxy, postfix, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_SOCKS_AUTH",
            "SMTP_INTEROP_POSTFIX",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut with = ProxySettings::new(ProxyKind::Socks5, proxy_host, proxy_port);
    with.user = Some(PROXY_USER.into());
    with.password = Some(PROXY_PASSWORD.into());
    let mut s = socks_settings(&postfix);
    s.proxy = Some(with.clone());
    socks_deliver_and_check::<A>("microsocks-auth", &s, &delivered, false);

    let recipient = unique_recipient::<A>("microsocks-wrong-password");
    with.password = Some("proxypasS".into());
    s.proxy = Some(with.clone());
    match try_send::<A>(&s, &recipient, "Subject: x\r\n\r\nx\r\n").0 {
        Err(Error::Proxy(ProxyError::AuthenticationFailed)) => {}
        Err(other) => panic!("{test}: wrong password: {other} ({other:?})"),
        Ok(()) => panic!("{test}: wrong password: delivered"),
    }
    with.user = None;
    with.password = None;
    s.proxy = Some(with);
    match try_send::<A>(&s, &recipient, "Subject: x\r\n\r\nx\r\n").0 {
        Err(Error::Proxy(ProxyError::NoAcceptableMethod)) => {}
        Err(other) => panic!("{test}: no credentials: {other} ({other:?})"),
        Ok(()) => panic!("{test}: no credentials: delivered"),
    }
    // Give Postfix a moment: had anything gone through, it would show.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !Path::new(&delivered).join(&recipient).exists(),
        "{test}: delivered without proxy authentication"
    );
}

/// STARTTLS through the proxy: the certificate is checked against the
/// target's name (`localhost`), not the proxy's address.
pub fn socks_starttls_through_microsocks<A: Adapter>() {
    let test = format!("starttls_through_microsocks [{}]", A::NAME);
    let Some([proxy, starttls, tls_dir, delivered]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_SOCKS",
            "SMTP_INTEROP_STARTTLS",
            "SMTP_INTEROP_TLS_DIR",
            "SMTP_INTEROP_DELIVERED",
        ],
    ) else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = socks_settings(&starttls);
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        proxy_host,
        proxy_port,
    ));
    s.set("mail.smtp.starttls.required", "true")
        .unwrap_or_else(|e| panic!("{e}"));
    s.tls.settings.extra_ca_files = vec![Path::new(&tls_dir).join("ca.pem")];
    s.tls.settings.roots = smtpkit_tls::RootSource::None;
    let transcript =
        socks_deliver_and_check::<A>("starttls-through-microsocks", &s, &delivered, true);
    let info = transcript
        .tls()
        .unwrap_or_else(|| panic!("{test}: no TLS: {:?}", transcript.all()));
    assert!(info.verified, "{test}: {info:?}");
}

/// dante without authentication (optional: only when it runs here).
pub fn socks_dante_without_auth<A: Adapter>() {
    let test = format!("dante_without_auth [{}]", A::NAME);
    let Some(proxy) = std::env::var("SMTP_INTEROP_DANTE")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("skipped {test}: SMTP_INTEROP_DANTE not set (dante not running)");
        return;
    };
    let Some([postfix, delivered]) =
        interop_vars(&test, ["SMTP_INTEROP_POSTFIX", "SMTP_INTEROP_DELIVERED"])
    else {
        return;
    };
    let (proxy_host, proxy_port) = split(&proxy);
    let mut s = socks_settings(&postfix);
    s.proxy = Some(ProxySettings::new(
        ProxyKind::Socks5,
        proxy_host,
        proxy_port,
    ));
    socks_deliver_and_check::<A>("dante", &s, &delivered, false);
}

// ----- Dovecot: LMTP ------------------------------------------------------

/// Each recipient as `(address, reply code, delivered)`; a recipient that
/// was neither delivered nor refused fails the test.
fn decided(what: &str, report: &DeliveryReport) -> Vec<(String, u16, bool)> {
    report
        .recipients
        .iter()
        .map(|r| match &r.status {
            smtpkit_proto::RecipientStatus::Delivered(x) => {
                (r.address.to_string(), x.code().get(), true)
            }
            smtpkit_proto::RecipientStatus::Rejected(x) => {
                (r.address.to_string(), x.code().get(), false)
            }
            other => panic!("{what}: {other:?}"),
        })
        .collect()
}

/// Dovecot's LMTP service, over its Unix socket (BDAT: Dovecot offers
/// CHUNKING) and over TCP (DATA): one reply per recipient after the data.
/// `alice` gets the message (found in her Maildir), `full` is over quota
/// (552 after the data, while `alice` is delivered), `nobody` is refused
/// at RCPT (550).
pub fn dovecot_lmtp_per_recipient_replies<A: Adapter>() {
    let test = format!("dovecot_lmtp [{}]", A::NAME);
    let Some([socket, tcp, mail]) = interop_vars(
        &test,
        [
            "SMTP_INTEROP_LMTP_SOCKET",
            "SMTP_INTEROP_LMTP",
            "SMTP_INTEROP_LMTP_MAIL",
        ],
    ) else {
        return;
    };
    for (mode, unix) in [("unix-bdat", true), ("tcp-data", false)] {
        let what = format!("{test} ({mode})");
        let (host, port) = split(&tcp);
        let mut s = ClientSettings::dangerous_plaintext(host);
        s.protocol = Protocol::Lmtp;
        s.port = Some(port);
        s.local_name = Some(client_example());
        s.session.send_partial = true;
        s.session.chunking = unix;
        if unix {
            s.unix_socket = Some(socket.clone().into());
        }
        let tag = unique_recipient::<A>(&format!("lmtp.{mode}"))
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        let alice = format!("alice+{tag}@example.org");
        // Over the 1 KiB quota of `full`.
        let body = format!(
            "{HEADERS}Subject: {tag}\r\n\r\n{}\r\n",
            "LMTP interop. ".repeat(200)
        );
        let (result, transcript) = run::<A>(
            &s,
            vec![message(
                "sender@client.example",
                &[&alice, "full@example.org", "nobody@example.org"],
                body.as_bytes(),
            )],
        );
        let report = one_report(&what, result);
        assert_eq!(
            decided(&what, &report),
            [
                (alice.clone(), 250, true),
                ("full@example.org".to_owned(), 552, false),
                ("nobody@example.org".to_owned(), 550, false),
            ],
            "{what}"
        );
        transcript.assert_closed(&what);
        let lines = transcript.client();
        assert!(lines[0].starts_with("LHLO "), "{what}: {lines:?}");
        assert_eq!(
            lines.iter().any(|l| l.starts_with("BDAT ")),
            unix,
            "{what}: {lines:?}"
        );
        // The message is in alice's Maildir.
        let new = Path::new(&mail).join("alice/Maildir/new");
        let found = std::fs::read_dir(&new)
            .unwrap_or_else(|e| panic!("{what}: {}: {e}", new.display()))
            .filter_map(Result::ok)
            .any(|f| {
                std::fs::read(f.path())
                    .is_ok_and(|b| String::from_utf8_lossy(&b).contains(&format!("Subject: {tag}")))
            });
        assert!(found, "{what}: not in {}", new.display());
    }
}

// ----- Dovecot: submission, BDAT only into an accepted transaction --------

/// The users' password in the Dovecot instance.
const DOVECOT_PASSWORD: &str = "secret";

/// One Dovecot submission check's addresses and message, unique to the
/// test, the adapter and the run: a body whose lines are `MAIL FROM:`,
/// `RCPT TO:` and `DATA` commands for `evil`/`victim`.
struct Injection {
    sender: String,
    recipient: String,
    evil: String,
    victim: String,
    body: Vec<u8>,
}

impl Injection {
    fn new<A: Adapter>(tag: &str) -> Injection {
        let recipient = unique_recipient::<A>(tag);
        let local = recipient.split('@').next().unwrap_or_default().to_owned();
        let victim = format!("victim.{local}@example.net");
        let evil = format!("evil.{local}@example.net");
        let body = format!(
            "{HEADERS}Subject: {local}\r\n\r\nMAIL FROM:<{evil}>\r\nRCPT TO:<{victim}>\r\nDATA\r\n\
             Subject: spam\r\n\r\nspam\r\n"
        );
        Injection {
            sender: format!("sender.{local}@client.example"),
            recipient,
            evil,
            victim,
            body: body.into_bytes(),
        }
    }

    fn message(&self) -> (Envelope, Vec<u8>) {
        message(&self.sender, &[&self.recipient], &self.body)
    }

    /// Whether `text` (a relay's log or dump) names anything of this
    /// check's but its sender.
    fn named_in(&self, text: &str) -> bool {
        [&self.recipient, &self.evil, &self.victim]
            .iter()
            .any(|a| text.contains(a.as_str()))
    }
}

/// The replies of a transcript (a multi-line reply once), the greeting
/// left out.
fn replies_in(transcript: &Transcript) -> usize {
    transcript
        .all()
        .iter()
        .filter(|l| l.starts_with("S: ") && l.as_bytes().get(6) != Some(&b'-'))
        .count()
        .saturating_sub(1)
}

/// What the relay behind Dovecot stored: each dump's text.
fn relay_dumps(dir: &str) -> Vec<String> {
    std::fs::read_dir(Path::new(dir).join("relay"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The common checks of a refused transaction: no BDAT written, no reply
/// to a line of the body (no more replies than commands; `exact`: as
/// many), and nothing of the message at either relay.
fn assert_nothing_injected(
    what: &str,
    dir: &str,
    check: &Injection,
    transcript: &Transcript,
    exact: bool,
) {
    let client = transcript.client();
    assert!(
        !client.iter().any(|l| l.starts_with("BDAT")),
        "{what}: a chunk was written: {client:?}"
    );
    let replies = replies_in(transcript);
    if exact {
        assert_eq!(replies, client.len(), "{what}: {:?}", transcript.all());
    } else {
        assert!(replies <= client.len(), "{what}: {:?}", transcript.all());
    }
    for log in ["relay-sink.log", "refusing-sink.log"] {
        let text = std::fs::read_to_string(Path::new(dir).join(log)).unwrap_or_default();
        assert!(
            !check.named_in(&text),
            "{what}: the relay saw the message ({log})"
        );
    }
    assert!(
        !relay_dumps(dir).iter().any(|d| check.named_in(d)),
        "{what}: the relay stored the message"
    );
}

/// The submission service's address and the relays' directory, from
/// `scripts/interop.sh`; `None` (the test is skipped, and says so) when
/// they are not set.
fn dovecot_submission_vars(test: &str) -> Option<[String; 2]> {
    interop_vars(
        test,
        [
            "SMTP_INTEROP_DOVECOT_SUBMISSION",
            "SMTP_INTEROP_DOVECOT_RELAY",
        ],
    )
}

/// Dovecot's submission service (2.3.19, which offers PIPELINING and
/// CHUNKING and does not discard a refused chunk): MAIL before AUTH is
/// refused (530) with a message whose lines are commands; the client
/// writes no BDAT, Dovecot answers exactly the commands written (none of
/// the body's lines), and nothing reaches the relay.
pub fn dovecot_submission_mail_refused_before_auth<A: Adapter>() {
    let test = format!("dovecot_submission_before_auth [{}]", A::NAME);
    let Some([submission, dir]) = dovecot_submission_vars(&test) else {
        return;
    };
    let (host, port) = split(&submission);
    let mut s = ClientSettings::new(Protocol::Smtp, host);
    s.port = Some(port);
    s.local_name = Some(client_example());
    let check = Injection::new::<A>("dv-noauth");
    let (result, transcript) = run::<A>(&s, vec![check.message()]);
    let report = one_report(&test, result);
    assert!(
        matches!(&report.failure, Some(smtpkit_proto::FailureKind::SenderRejected(r)) if r.code().get() == 530),
        "{test}: {report:?}"
    );
    assert_eq!(report.unsent().count(), 1, "{test}: {report:?}");
    assert!(
        transcript
            .extensions()
            .is_some_and(|e| e.has(&smtpkit_proto::Extension::Chunking)),
        "{test}: Dovecot offers CHUNKING"
    );
    assert_nothing_injected(&test, &dir, &check, &transcript, true);
    transcript.assert_closed(&test);
}

/// Dovecot's submission service after AUTH, for the user whose relay
/// refuses every sender: MAIL is answered with the relay's 550, the client
/// writes no BDAT, Dovecot answers no line of the body, and the relay saw
/// MAIL only. (Dovecot 2.3.19 then aborts on the client's RSET, a server
/// bug: the check is what the client wrote and what the relay got.)
pub fn dovecot_submission_sender_refused_by_the_relay<A: Adapter>() {
    let test = format!("dovecot_submission_relay_refuses [{}]", A::NAME);
    let Some([submission, dir]) = dovecot_submission_vars(&test) else {
        return;
    };
    let s = sasl_settings(&submission, "PLAIN", "refused", DOVECOT_PASSWORD);
    let check = Injection::new::<A>("dv-refused");
    let (result, transcript) = run::<A>(&s, vec![check.message()]);
    let report = one_report(&test, result);
    assert!(
        matches!(&report.failure, Some(smtpkit_proto::FailureKind::SenderRejected(r)) if r.code().get() == 550),
        "{test}: {report:?}"
    );
    assert_eq!(report.unsent().count(), 1, "{test}: {report:?}");
    assert_eq!(
        transcript.auth_mechanism().as_deref(),
        Some("PLAIN"),
        "{test}"
    );
    assert_nothing_injected(&test, &dir, &check, &transcript, false);
    // The relay was asked for the sender, and refused it.
    let log =
        std::fs::read_to_string(Path::new(&dir).join("refusing-sink.log")).unwrap_or_default();
    assert!(
        log.contains(&format!("MAIL FROM:<{}>", check.sender)),
        "{test}: the refusing relay never saw MAIL"
    );
}

/// Dovecot's submission service after AUTH, relay accepting: the chunk
/// goes after the MAIL and RCPT replies, by BDAT, and the relay gets the
/// message byte for byte (after Dovecot's `Received:` header; the sink's
/// dump stores LF line endings): its `MAIL FROM:`/`RCPT TO:` lines are
/// content, the envelope the relay got is the client's.
pub fn dovecot_submission_delivers_by_bdat<A: Adapter>() {
    let test = format!("dovecot_submission_bdat [{}]", A::NAME);
    let Some([submission, dir]) = dovecot_submission_vars(&test) else {
        return;
    };
    let s = sasl_settings(&submission, "PLAIN", "alice", DOVECOT_PASSWORD);
    let check = Injection::new::<A>("dv-bdat");
    let (result, transcript) = run::<A>(&s, vec![check.message()]);
    let report = one_report(&test, result);
    assert!(report.all_delivered(), "{test}: {report:?}");
    let all = transcript.all();
    let bdat = all
        .iter()
        .position(|l| l.starts_with("C: BDAT ") && l.contains(" LAST"))
        .unwrap_or_else(|| panic!("{test}: no BDAT: {all:?}"));
    assert!(
        all[bdat - 2..bdat].iter().all(|l| l.starts_with("S: 250")),
        "{test}: the chunk before the MAIL and RCPT replies: {all:?}"
    );
    assert_eq!(
        replies_in(&transcript),
        transcript.client().len(),
        "{test}: {all:?}"
    );
    transcript.assert_closed(&test);
    // The relay's dump for this recipient: the relay's envelope is the
    // client's, and the message follows Dovecot's Received: header.
    let deadline = Instant::now() + Duration::from_secs(10);
    let dump = loop {
        let found: Vec<String> = relay_dumps(&dir)
            .into_iter()
            .filter(|d| d.contains(&format!("X-Rcpt-Args: <{}>", check.recipient)))
            .collect();
        match found.as_slice() {
            [one] => break one.clone(),
            [] if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            other => panic!("{test}: {} relayed copies", other.len()),
        }
    };
    assert!(
        dump.contains(&format!("X-Mail-Args: <{}>", check.sender)),
        "{test}: {dump}"
    );
    assert!(
        !dump.contains(&format!("X-Mail-Args: <{}>", check.evil))
            && !dump.contains(&format!("X-Rcpt-Args: <{}>", check.victim)),
        "{test}: {dump}"
    );
    assert!(
        !relay_dumps(&dir)
            .iter()
            .any(|d| d.contains(&format!("X-Rcpt-Args: <{}>", check.victim))),
        "{test}: the victim got a message"
    );
    let dovecot = dump
        .find("\nReceived: from client.example ")
        .unwrap_or_else(|| panic!("{test}: no Received: header from Dovecot: {dump}"));
    let mut end = dovecot + 1;
    loop {
        let nl = dump[end..].find('\n').map_or(dump.len(), |n| end + n + 1);
        end = nl;
        if !dump[end..].starts_with(['\t', ' ']) {
            break;
        }
    }
    assert!(
        dump[dovecot..end].contains("with ESMTPA"),
        "{test}: {}",
        &dump[dovecot..end]
    );
    // The dump ends the message with an empty line.
    let mut expected = stored_form(&check.body);
    expected.push(b'\n');
    assert_same_bytes(&test, &expected, &dump.as_bytes()[end..]);
}

// ----- Exim: PRDR, NTLMv1 -------------------------------------------------

/// Exim with `prdr_enable`: the client asks for PRDR (`MAIL … PRDR`), and
/// after the data Exim answers 353, one reply per recipient (`picky` is
/// refused by the per-recipient data ACL) and a final reply; with DATA and
/// with BDAT (Exim offers CHUNKING).
pub fn exim_prdr_per_recipient_replies<A: Adapter>() {
    let test = format!("exim_prdr [{}]", A::NAME);
    let Some([exim, log]) = interop_vars(&test, ["SMTP_INTEROP_EXIM", "SMTP_INTEROP_EXIM_LOG"])
    else {
        return;
    };
    for (mode, chunking) in [("bdat", true), ("data", false)] {
        let what = format!("{test} ({mode})");
        let (host, port) = split(&exim);
        let mut s = ClientSettings::dangerous_plaintext(host);
        s.port = Some(port);
        s.local_name = Some(client_example());
        s.session.send_partial = true;
        s.session.chunking = chunking;
        let alice = unique_recipient::<A>(&format!("prdr.{mode}"));
        let (result, transcript) = run::<A>(
            &s,
            vec![message(
                "sender@client.example",
                &[&alice, "picky@example.org", "unknown@example.org"],
                format!("{HEADERS}Subject: PRDR {mode}\r\n\r\nper recipient\r\n").as_bytes(),
            )],
        );
        let report = one_report(&what, result);
        assert_eq!(
            decided(&what, &report),
            [
                (alice.clone(), 250, true),
                ("picky@example.org".to_owned(), 550, false),
                ("unknown@example.org".to_owned(), 550, false),
            ],
            "{what}"
        );
        let lines = transcript.client();
        let mail = lines.iter().find(|l| l.starts_with("MAIL ")).cloned();
        assert!(
            mail.as_deref().is_some_and(|m| m.ends_with(" PRDR")),
            "{what}: {lines:?}"
        );
        assert_eq!(
            lines.iter().any(|l| l.starts_with("BDAT ")),
            chunking,
            "{what}: {lines:?}"
        );
        assert!(
            report
                .reply
                .as_ref()
                .is_some_and(|r| r.is_positive_completion()),
            "{what}: {report:?}"
        );
        transcript.assert_closed(&what);
        // Exim logged the refusal of picky for this message.
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            logged.lines().any(|l| l.contains("PRDR picky@example.org")),
            "{what}: {log}"
        );
    }
}

/// Exim's `spa` authenticator checks NTLMv1 only, and its challenge asks
/// for nothing more (no target information): the client answers with
/// NTLMv1 and is authenticated; a wrong password is refused.
pub fn exim_ntlm_v1_authenticates<A: Adapter>() {
    let test = format!("exim_ntlm_v1 [{}]", A::NAME);
    let Some([exim]) = interop_vars(&test, ["SMTP_INTEROP_EXIM"]) else {
        return;
    };
    let mut s = sasl_settings(&exim, "NTLM", "alice", "secret");
    s.tls = smtpkit_client::TlsOptions::default();
    s.tls.starttls_enable = false;
    let (result, transcript) = run::<A>(
        &s,
        vec![message(
            "sender@client.example",
            &[&unique_recipient::<A>("ntlm")],
            format!("{HEADERS}Subject: NTLM\r\n\r\nv1\r\n").as_bytes(),
        )],
    );
    check_mechanism_available("NTLM", &result);
    let report = one_report(&test, result);
    assert!(report.all_delivered(), "{test}: {report:?}");
    assert_eq!(
        transcript.auth_mechanism().as_deref(),
        Some("NTLM"),
        "{test}"
    );
    let mut wrong = sasl_settings(&exim, "NTLM", "alice", "wrong");
    wrong.tls = s.tls.clone();
    let (result, _) = run::<A>(
        &wrong,
        vec![message(
            "sender@client.example",
            &["x@example.org"],
            b"x\r\n",
        )],
    );
    assert!(
        matches!(
            result,
            Err(Error::Session(SessionError::Auth(
                AuthError::Rejected { .. }
            )))
        ),
        "{test}: {result:?}"
    );
}

/// Expands the whole interop suite as `#[test]` functions for an
/// [`Adapter`]. Each test skips (or, with `SMTP_INTEROP_REQUIRED=1`, fails)
/// when `scripts/interop.sh`'s instance is not there.
#[macro_export]
macro_rules! interop_suite {
    ($adapter:ty) => {
        #[test]
        fn interop_exim_prdr_per_recipient_replies() {
            $crate::interop::exim_prdr_per_recipient_replies::<$adapter>();
        }
        #[test]
        fn interop_exim_ntlm_v1_authenticates() {
            $crate::interop::exim_ntlm_v1_authenticates::<$adapter>();
        }
        #[test]
        fn interop_dovecot_submission_mail_refused_before_auth() {
            $crate::interop::dovecot_submission_mail_refused_before_auth::<$adapter>();
        }
        #[test]
        fn interop_dovecot_submission_sender_refused_by_the_relay() {
            $crate::interop::dovecot_submission_sender_refused_by_the_relay::<$adapter>();
        }
        #[test]
        fn interop_dovecot_submission_delivers_by_bdat() {
            $crate::interop::dovecot_submission_delivers_by_bdat::<$adapter>();
        }
        #[test]
        fn interop_dovecot_lmtp_per_recipient_replies() {
            $crate::interop::dovecot_lmtp_per_recipient_replies::<$adapter>();
        }
        #[test]
        fn interop_postfix_leading_dots() {
            $crate::interop::postfix_leading_dots::<$adapter>();
        }
        #[test]
        fn interop_postfix_lf_only_line_endings() {
            $crate::interop::postfix_lf_only_line_endings::<$adapter>();
        }
        #[test]
        fn interop_postfix_eight_bit_utf8() {
            $crate::interop::postfix_eight_bit_utf8::<$adapter>();
        }
        #[test]
        fn interop_postfix_mixed_line_endings() {
            $crate::interop::postfix_mixed_line_endings::<$adapter>();
        }
        #[test]
        fn interop_postfix_fifty_mib_attachment() {
            $crate::interop::postfix_fifty_mib_attachment::<$adapter>();
        }
        #[test]
        fn interop_postfix_pipelined_fifty_recipients_to_smtp_sink() {
            $crate::interop::postfix_pipelined_fifty_recipients_to_smtp_sink::<$adapter>();
        }
        #[test]
        fn interop_cyrus_plain_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("PLAIN");
        }
        #[test]
        fn interop_cyrus_plain_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("PLAIN");
        }
        #[test]
        fn interop_cyrus_login_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("LOGIN");
        }
        #[test]
        fn interop_cyrus_login_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("LOGIN");
        }
        #[test]
        fn interop_cyrus_cram_md5_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("CRAM-MD5");
        }
        #[test]
        fn interop_cyrus_cram_md5_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("CRAM-MD5");
        }
        #[test]
        fn interop_cyrus_scram_sha_1_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("SCRAM-SHA-1");
        }
        #[test]
        fn interop_cyrus_scram_sha_1_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("SCRAM-SHA-1");
        }
        #[test]
        fn interop_cyrus_scram_sha_256_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("SCRAM-SHA-256");
        }
        #[test]
        fn interop_cyrus_scram_sha_256_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("SCRAM-SHA-256");
        }
        #[test]
        fn interop_cyrus_digest_md5_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("DIGEST-MD5");
        }
        #[test]
        fn interop_cyrus_digest_md5_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("DIGEST-MD5");
        }
        #[test]
        fn interop_cyrus_ntlm_authenticates_and_delivers() {
            $crate::interop::cyrus_authenticates_and_delivers::<$adapter>("NTLM");
        }
        #[test]
        fn interop_cyrus_ntlm_wrong_password_is_rejected() {
            $crate::interop::cyrus_wrong_password_is_rejected::<$adapter>("NTLM");
        }
        #[test]
        fn interop_cyrus_digest_md5_explicit_realm() {
            $crate::interop::cyrus_digest_md5_explicit_realm::<$adapter>();
        }
        #[test]
        fn interop_tls_starttls_delivers_verified() {
            $crate::interop::tls_starttls_delivers_verified::<$adapter>();
        }
        #[test]
        fn interop_tls_implicit_tls_delivers_verified() {
            $crate::interop::tls_implicit_tls_delivers_verified::<$adapter>();
        }
        #[test]
        fn interop_tls_submission_delivers_scram_sha_256() {
            $crate::interop::tls_submission_delivers::<$adapter>("SCRAM-SHA-256");
        }
        #[test]
        fn interop_tls_submission_delivers_plain() {
            $crate::interop::tls_submission_delivers::<$adapter>("PLAIN");
        }
        #[test]
        fn interop_tls_submission_delivers_login() {
            $crate::interop::tls_submission_delivers::<$adapter>("LOGIN");
        }
        #[test]
        fn interop_tls_submission_delivers_cram_md5() {
            $crate::interop::tls_submission_delivers::<$adapter>("CRAM-MD5");
        }
        #[test]
        fn interop_tls_submission_delivers_digest_md5() {
            $crate::interop::tls_submission_delivers::<$adapter>("DIGEST-MD5");
        }
        #[test]
        fn interop_tls_submission_delivers_ntlm() {
            $crate::interop::tls_submission_delivers::<$adapter>("NTLM");
        }
        #[test]
        fn interop_tls_submission_delivers_scram_sha_1() {
            $crate::interop::tls_submission_delivers::<$adapter>("SCRAM-SHA-1");
        }
        #[test]
        fn interop_tls_submission_without_starttls_offers_no_auth() {
            $crate::interop::tls_submission_without_starttls_offers_no_auth::<$adapter>();
        }
        #[test]
        fn interop_tls_untrusted_ca_is_refused() {
            $crate::interop::tls_untrusted_ca_is_refused::<$adapter>();
        }
        #[test]
        fn interop_tls_wrong_name_is_refused() {
            $crate::interop::tls_wrong_name_is_refused::<$adapter>();
        }
        #[test]
        fn interop_tls_starttls_required_but_not_offered() {
            $crate::interop::tls_starttls_required_but_not_offered::<$adapter>();
        }
        #[test]
        fn interop_tls_tls12_only_listener() {
            $crate::interop::tls_tls12_only_listener::<$adapter>();
        }
        #[test]
        fn interop_socks_microsocks_without_auth() {
            $crate::interop::socks_microsocks_without_auth::<$adapter>();
        }
        #[test]
        fn interop_socks_microsocks_with_user_password() {
            $crate::interop::socks_microsocks_with_user_password::<$adapter>();
        }
        #[test]
        fn interop_socks_starttls_through_microsocks() {
            $crate::interop::socks_starttls_through_microsocks::<$adapter>();
        }
        #[test]
        fn interop_socks_dante_without_auth() {
            $crate::interop::socks_dante_without_auth::<$adapter>();
        }
    };
}
