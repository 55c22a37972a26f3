//! Test doubles for code that sends mail: an in-memory [`StubMailer`] that
//! records every envelope and message and answers with scripted
//! per-recipient outcomes, and a [`FileMailer`] that writes each message to
//! a directory (one `.eml` and one envelope `.json`), as lettre's file
//! transport does.
//!
//! Both take whole messages; each client crate's `Mailer` trait (blocking
//! and async) is implemented for them, reading the body first, so code
//! generic over a `Mailer` runs unchanged against a real client, a pool
//! or a double. They apply the same rules as the clients: a message-level
//! send derives the envelope from the header and strips `Bcc:`; addresses
//! are the validated types, so nothing a double accepts could not be sent.

use std::collections::HashMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use smtpkit_proto::{
    Address, DeliveryReport, Envelope, FailureKind, MessageId, RecipientReport, RecipientStatus,
    Reply, ReplyCode, ReversePath, SessionError, SessionOptions, UnsentReason,
};

use crate::message::{MessageOptions, Prepared};
use crate::{ClientSettings, Error};

/// One message a double received: the envelope and the octets a server
/// would have been sent (`Bcc:` already stripped for a message-level send).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The envelope.
    pub envelope: Envelope,
    /// The message as transmitted.
    pub data: Vec<u8>,
}

impl SentMessage {
    /// The envelope's recipients, as text.
    pub fn recipients(&self) -> Vec<&str> {
        self.envelope
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect()
    }
}

/// What the next send (or every send) does instead of delivering.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StubFault {
    /// MAIL FROM is refused with this reply: nobody receives it.
    RefuseSender(Reply),
    /// The message is refused after its content.
    RefuseMessage(Reply),
    /// The connection is lost; `data_sent` when after the end of data
    /// (the report says the message may have been delivered).
    LoseConnection {
        /// Whether the end of data had been written.
        data_sent: bool,
    },
}

#[derive(Debug, Default)]
struct StubState {
    sent: Vec<SentMessage>,
    refusals: HashMap<String, Reply>,
    faults: Vec<StubFault>,
    next_id: u64,
}

/// An in-memory mailer for tests: records every message it is given and
/// answers each recipient with `250 2.0.0 OK`, unless told to refuse that
/// address ([`refuse`](Self::refuse)) or to fail the next send
/// ([`fail_next`](Self::fail_next)). Clones share the record, so a test
/// keeps one and hands the other to the code under test.
///
/// It starts from the client's defaults ([`new`](Self::new)) or from the
/// caller's settings ([`for_settings`](Self::for_settings)), so that code
/// under test gets the outcome the client would give: by default
/// (JavaMail's `mail.smtp.sendpartial=false`) one refused recipient fails
/// the whole message (`Rejected` for it, `AcceptedUnsent` for the others);
/// with [`send_partial`](Self::send_partial) on, the others still receive
/// it.
#[derive(Debug, Clone)]
pub struct StubMailer {
    state: Arc<Mutex<StubState>>,
    send_partial: bool,
    message: MessageOptions,
}

impl Default for StubMailer {
    fn default() -> Self {
        StubMailer::new()
    }
}

impl StubMailer {
    /// A stub that delivers everything, with the client's default
    /// settings (`ClientSettings::new`'s: `send_partial` off, no
    /// `mail.smtp.from`).
    pub fn new() -> StubMailer {
        StubMailer {
            state: Arc::default(),
            send_partial: SessionOptions::default().send_partial,
            message: MessageOptions::default(),
        }
    }

    /// A stub that answers as a client with `settings` would: their
    /// `mail.smtp.sendpartial`, `mail.smtp.from` and header completion.
    pub fn for_settings(settings: &ClientSettings) -> StubMailer {
        StubMailer {
            state: Arc::default(),
            send_partial: settings.session.send_partial,
            message: MessageOptions::of(settings),
        }
    }

    /// `mail.smtp.sendpartial`: with `false`, one refused recipient fails
    /// the message for all.
    pub fn send_partial(mut self, on: bool) -> StubMailer {
        self.send_partial = on;
        self
    }

    /// `mail.smtp.from` for message-level sends.
    pub fn from(mut self, from: ReversePath) -> StubMailer {
        self.message.from = Some(from);
        self
    }

    /// Refuse `address` at RCPT with `reply` (from now on).
    pub fn refuse(&self, address: &str, reply: Reply) -> &StubMailer {
        self.lock()
            .refusals
            .insert(address.to_ascii_lowercase(), reply);
        self
    }

    /// Make the next send fail this way (faults queue up, one per send).
    pub fn fail_next(&self, fault: StubFault) -> &StubMailer {
        self.lock().faults.push(fault);
        self
    }

    /// Every message received so far, in order (refused ones included:
    /// a test can check what the code tried to send).
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Removes and returns what was received so far.
    pub fn take(&self) -> Vec<SentMessage> {
        std::mem::take(&mut self.lock().sent)
    }

    /// Delivers a message whose envelope is known.
    ///
    /// # Errors
    /// [`Error::Send`] for a scripted lost connection.
    pub fn deliver(&self, envelope: Envelope, data: Vec<u8>) -> Result<DeliveryReport, Error> {
        let mut state = self.lock();
        state.next_id += 1;
        let id = MessageId(state.next_id);
        let fault = (!state.faults.is_empty()).then(|| state.faults.remove(0));
        let report = outcome(&state, id, &envelope, fault, self.send_partial);
        state.sent.push(SentMessage { envelope, data });
        report
    }

    /// Delivers a whole RFC 5322 message as the clients' `send_message`
    /// does: envelope from the header (or [`from`](Self::from)), `Bcc:`
    /// stripped from what is recorded.
    ///
    /// # Errors
    /// [`Error::Message`] when the header names no sender or recipient,
    /// else as [`deliver`](Self::deliver).
    pub fn deliver_message(&self, message: &[u8]) -> Result<DeliveryReport, Error> {
        self.deliver_whole(None, message)
    }

    fn lock(&self) -> MutexGuard<'_, StubState> {
        // A test that panicked while holding the lock has failed anyway;
        // the record is still the record.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[allow(clippy::expect_used)]
fn ok_reply() -> Reply {
    // `Reply::new` refuses only control characters in the text and an
    // enhanced code of another class; this literal has neither.
    Reply::new(ReplyCode::OK, None, vec!["2.0.0 OK".to_owned()])
        .expect("a literal reply without control characters")
}

fn outcome(
    state: &StubState,
    id: MessageId,
    envelope: &Envelope,
    fault: Option<StubFault>,
    send_partial: bool,
) -> Result<DeliveryReport, Error> {
    let ok = ok_reply();
    let refusal = |a: &Address| state.refusals.get(&a.as_str().to_ascii_lowercase());
    let mut failure = None;
    let mut statuses: Vec<RecipientStatus> = envelope
        .recipients
        .iter()
        .map(|r| match refusal(&r.address) {
            Some(reply) => RecipientStatus::Rejected(reply.clone()),
            None => RecipientStatus::Delivered(ok.clone()),
        })
        .collect();
    let refused = statuses
        .iter()
        .any(|s| matches!(s, RecipientStatus::Rejected(_)));
    let accepted = statuses
        .iter()
        .any(|s| matches!(s, RecipientStatus::Delivered(_)));
    let undeliver = |statuses: &mut Vec<RecipientStatus>, to: &dyn Fn() -> RecipientStatus| {
        for s in statuses.iter_mut() {
            if matches!(s, RecipientStatus::Delivered(_)) {
                *s = to();
            }
        }
    };
    match fault {
        Some(StubFault::RefuseSender(reply)) => {
            statuses
                .iter_mut()
                .for_each(|s| *s = RecipientStatus::Unsent(UnsentReason::TransactionFailed));
            failure = Some(FailureKind::SenderRejected(reply));
        }
        Some(StubFault::RefuseMessage(reply)) => {
            undeliver(&mut statuses, &|| {
                RecipientStatus::AcceptedUnsent(reply.clone())
            });
            failure = Some(FailureKind::MessageRejected(reply));
        }
        Some(StubFault::LoseConnection { data_sent }) => {
            undeliver(&mut statuses, &|| {
                RecipientStatus::Unsent(UnsentReason::ConnectionLost)
            });
            let recipients = report_recipients(envelope, statuses);
            let report = DeliveryReport::new(id, recipients, None).with_failure(
                FailureKind::ConnectionLost {
                    data_sent,
                    reply: None,
                },
            );
            return Err(Error::Send {
                report: Box::new(report),
                cause: Some(Box::new(Error::Session(SessionError::ConnectionClosed {
                    while_waiting: true,
                }))),
            });
        }
        None if refused && (!send_partial || !accepted) => {
            undeliver(&mut statuses, &|| {
                RecipientStatus::AcceptedUnsent(ok.clone())
            });
            failure = Some(FailureKind::RecipientsRejected);
        }
        None => {}
    }
    let delivered = statuses
        .iter()
        .any(|s| matches!(s, RecipientStatus::Delivered(_)));
    let recipients = report_recipients(envelope, statuses);
    let mut report = DeliveryReport::new(id, recipients, delivered.then(ok_reply));
    report.failure = failure;
    Ok(report)
}

fn report_recipients(envelope: &Envelope, statuses: Vec<RecipientStatus>) -> Vec<RecipientReport> {
    envelope
        .recipients
        .iter()
        .zip(statuses)
        .map(|(r, status)| RecipientReport::new(r.address.clone(), status))
        .collect()
}

/// Writes every message into a directory instead of sending it:
/// `PID-N.eml` (the message as transmitted, `Bcc:` stripped for a
/// message-level send) and `PID-N.json` (`{"from": "...", "recipients":
/// ["..."]}`), where `PID` is the process id and `N` the report's id
/// ([`DeliveryReport::id`]); [`eml_path`](Self::eml_path) and
/// [`json_path`](Self::json_path) name them. Every recipient is reported
/// delivered.
///
/// The files are written with blocking I/O, also from the async crates'
/// `Mailer` impls: a development double, not a spool.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    message: MessageOptions,
}

static FILE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl FileMailer {
    /// Writes into `dir` (which must exist).
    pub fn new(dir: impl Into<PathBuf>) -> FileMailer {
        FileMailer {
            dir: dir.into(),
            message: MessageOptions::default(),
        }
    }

    /// Writes into `dir` as a client with `settings` would send: their
    /// `mail.smtp.from` and header completion for message-level sends.
    pub fn for_settings(dir: impl Into<PathBuf>, settings: &ClientSettings) -> FileMailer {
        FileMailer {
            dir: dir.into(),
            message: MessageOptions::of(settings),
        }
    }

    /// `mail.smtp.from` for message-level sends.
    pub fn from(mut self, from: ReversePath) -> FileMailer {
        self.message.from = Some(from);
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `.eml` file of the message whose report has `id`.
    pub fn eml_path(&self, id: MessageId) -> PathBuf {
        self.path(id, "eml")
    }

    /// The envelope `.json` file of the message whose report has `id`.
    pub fn json_path(&self, id: MessageId) -> PathBuf {
        self.path(id, "json")
    }

    fn path(&self, id: MessageId, extension: &str) -> PathBuf {
        self.dir
            .join(format!("{}-{}.{extension}", std::process::id(), id.0))
    }

    /// Writes one message with a known envelope; the report's id names its
    /// files ([`eml_path`](Self::eml_path)).
    ///
    /// # Errors
    /// [`Error::Io`] when a file cannot be written.
    pub fn deliver(&self, envelope: Envelope, data: &[u8]) -> Result<DeliveryReport, Error> {
        let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
        write_new(&self.eml_path(MessageId(n)), data)?;
        write_new(
            &self.json_path(MessageId(n)),
            envelope_json(&envelope).as_bytes(),
        )?;
        let ok = ok_reply();
        let recipients = envelope
            .recipients
            .iter()
            .map(|r| {
                RecipientReport::new(r.address.clone(), RecipientStatus::Delivered(ok.clone()))
            })
            .collect();
        Ok(DeliveryReport::new(MessageId(n), recipients, Some(ok)))
    }

    /// Writes a whole RFC 5322 message, envelope from its header, `Bcc:`
    /// stripped.
    ///
    /// # Errors
    /// [`Error::Message`] for a header without sender or recipients,
    /// [`Error::Io`] when a file cannot be written.
    pub fn deliver_message(&self, message: &[u8]) -> Result<DeliveryReport, Error> {
        self.deliver_whole(None, message)
    }
}

/// A double that records whole messages as the clients' `send_message`
/// sends them: the client crates' `Mailer` impls of the doubles go
/// through it, so the two doubles and the clients rewrite a message one
/// way.
pub trait RecordsMessages {
    /// Records a whole message: its header rewritten as a message-level
    /// send rewrites it (`Bcc:` stripped, `Date:`/`Message-ID:` completed,
    /// long lines refused, signed as configured), sent to `envelope`
    /// when the message carries one (a lettre message), else to the one
    /// its header gives.
    ///
    /// # Errors
    /// [`Error::Message`] when the message cannot be sent as it is, else
    /// as the double's `deliver`.
    fn deliver_whole(
        &self,
        envelope: Option<Envelope>,
        message: &[u8],
    ) -> Result<DeliveryReport, Error>;
}

/// The envelope and the octets a client would transmit for `message`.
fn transmitted(
    message: &[u8],
    options: &MessageOptions,
    envelope: Option<Envelope>,
) -> Result<(Envelope, Vec<u8>), Error> {
    let prepared = Prepared::in_memory(message, options)?;
    let data = prepared.transmitted(message);
    Ok((envelope.unwrap_or(prepared.envelope), data))
}

impl RecordsMessages for StubMailer {
    fn deliver_whole(
        &self,
        envelope: Option<Envelope>,
        message: &[u8],
    ) -> Result<DeliveryReport, Error> {
        let (envelope, data) = transmitted(message, &self.message, envelope)?;
        self.deliver(envelope, data)
    }
}

impl RecordsMessages for FileMailer {
    fn deliver_whole(
        &self,
        envelope: Option<Envelope>,
        message: &[u8],
    ) -> Result<DeliveryReport, Error> {
        let (envelope, data) = transmitted(message, &self.message, envelope)?;
        self.deliver(envelope, &data)
    }
}

fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// `{"from": "...", "recipients": [...]}`; `from` is `""` for the null
/// reverse path.
fn envelope_json(envelope: &Envelope) -> String {
    let from = match &envelope.from {
        ReversePath::Mailbox(a) => a.as_str(),
        _ => "",
    };
    let recipients: Vec<String> = envelope
        .recipients
        .iter()
        .map(|r| json_string(r.address.as_str()))
        .collect();
    format!(
        "{{\"from\":{},\"recipients\":[{}]}}\n",
        json_string(from),
        recipients.join(",")
    )
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, text: &str) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), None, vec![text.to_owned()]).unwrap()
    }

    const MESSAGE: &[u8] = b"From: a@example.org\r\nTo: b@example.org\r\nBcc: hidden@example.org,\r\n secret@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

    #[test]
    fn the_stub_records_and_strips_bcc() {
        let stub = StubMailer::new();
        let report = stub.deliver_message(MESSAGE).unwrap();
        assert!(report.all_delivered());
        let sent = stub.sent();
        assert_eq!(
            sent[0].recipients(),
            ["b@example.org", "hidden@example.org", "secret@example.org"]
        );
        let data = String::from_utf8(sent[0].data.clone()).unwrap();
        assert!(!data.contains("Bcc") && !data.contains("secret"), "{data}");
        assert!(data.ends_with("\r\n\r\nbody\r\n"), "{data}");
    }

    #[test]
    fn scripted_refusals_and_faults() {
        let stub = StubMailer::new().send_partial(true);
        stub.refuse("hidden@example.org", reply(550, "5.1.1 no such user"));
        let report = stub.deliver_message(MESSAGE).unwrap();
        assert_eq!(report.delivered().count(), 2);
        assert_eq!(report.rejected().count(), 1);
        assert_eq!(report.failure, None);
        assert!(report.clone().into_result().is_err(), "not everyone");

        // The client's default: one refusal fails the message.
        let strict = StubMailer::new();
        strict.refuse("hidden@example.org", reply(550, "no"));
        let report = strict.deliver_message(MESSAGE).unwrap();
        assert_eq!(report.delivered().count(), 0);
        assert_eq!(report.unsent().count(), 2);
        assert_eq!(report.failure, Some(FailureKind::RecipientsRejected));

        stub.fail_next(StubFault::LoseConnection { data_sent: true });
        let error = stub.deliver_message(MESSAGE).unwrap_err();
        assert!(error.report().unwrap().may_have_been_delivered());
        assert!(error.is_transient());
        stub.fail_next(StubFault::RefuseSender(reply(553, "5.7.1 not you")));
        let report = stub.deliver_message(MESSAGE).unwrap();
        assert!(matches!(
            report.failure,
            Some(FailureKind::SenderRejected(_))
        ));
        assert_eq!(report.unsent().count(), 3);
        // Faults are one per send: the next one is delivered again.
        assert_eq!(
            stub.deliver_message(MESSAGE).unwrap().delivered().count(),
            2
        );
        assert_eq!(stub.take().len(), 4);
        assert!(stub.sent().is_empty());
        assert!(matches!(
            stub.deliver_message(b"Subject: nobody\r\n\r\nx\r\n"),
            Err(Error::Message(_))
        ));
    }

    #[test]
    fn the_file_mailer_writes_eml_and_envelope() {
        let dir = std::env::temp_dir().join(format!("smtpkit-file-mailer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = FileMailer::new(&dir);
        let report = files.deliver_message(MESSAGE).unwrap();
        assert!(report.all_delivered());
        let stem = format!("{}-{}", std::process::id(), report.id.0);
        assert_eq!(files.eml_path(report.id), dir.join(format!("{stem}.eml")));
        assert_eq!(files.json_path(report.id), dir.join(format!("{stem}.json")));
        let eml = std::fs::read_to_string(files.eml_path(report.id)).unwrap();
        assert!(eml.starts_with("From: a@example.org\r\n") && !eml.contains("Bcc"));
        let json = std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap();
        assert_eq!(
            json,
            "{\"from\":\"a@example.org\",\"recipients\":[\"b@example.org\",\"hidden@example.org\",\"secret@example.org\"]}\n"
        );
        let quoted = Envelope::new(
            Address::parse("\"a\\\\b\"@example.org").unwrap(),
            [Address::parse("c@example.org").unwrap()],
        );
        let report = files.deliver(quoted, b"x\r\n").unwrap();
        let stem = format!("{}-{}", std::process::id(), report.id.0);
        let json = std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap();
        assert!(
            json.starts_with("{\"from\":\"\\\"a\\\\\\\\b\\\"@example.org\""),
            "{json}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
