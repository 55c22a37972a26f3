//! What a caller asks the session to send (an [`Envelope`] and a
//! description of its body) and what it gets back: a [`DeliveryReport`]
//! with every recipient's outcome, or a [`SendFailure`] that carries one.
//!
//! These mirror JavaMail's exceptions as data:
//! `SMTPSenderFailedException` is [`FailureKind::SenderRejected`],
//! `SMTPAddressFailedException` is a [`RecipientStatus::Rejected`] entry,
//! `SMTPSendFailedException` is [`FailureKind::MessageRejected`] with
//! [`SendFailure::valid_unsent`] and [`SendFailure::invalid`], and
//! `SMTPAddressSucceededException` (`mail.smtp.reportsuccess`) is a
//! [`RecipientStatus::Delivered`] entry with the server's reply.

use std::fmt;

use crate::address::{Address, ReversePath};
use crate::body::BodyReport;
use crate::command::{
    BodyType, DeliverBy, DsnReturn, Envid, EsmtpParam, MailAuth, MtPriority, Notify,
    OriginalRecipient,
};
use crate::reply::Reply;

/// Identifies one message queued on a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One recipient with its DSN options: from an [`Address`], then set
/// field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recipient {
    /// The address.
    pub address: Address,
    /// `NOTIFY=`; the session's `dsn_notify` when `None`.
    pub notify: Option<Notify>,
    /// `ORCPT=`.
    pub orcpt: Option<OriginalRecipient>,
}

impl From<Address> for Recipient {
    fn from(address: Address) -> Self {
        Recipient {
            address,
            notify: None,
            orcpt: None,
        }
    }
}

/// The envelope of one message: sender, recipients and MAIL options. Built
/// with [`new`](Envelope::new), then set field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The reverse path (`mail.smtp.from`, or the message's sender).
    pub from: ReversePath,
    /// The recipients, in order.
    pub recipients: Vec<Recipient>,
    /// `RET=`; the session's `dsn_ret` when `None`.
    pub ret: Option<DsnReturn>,
    /// `ENVID=`.
    pub envid: Option<Envid>,
    /// `AUTH=`; the session's `submitter` when `None`.
    pub submitter: Option<MailAuth>,
    /// `MT-PRIORITY=`, sent when the server offers MT-PRIORITY.
    pub mt_priority: Option<MtPriority>,
    /// `BY=`, sent when the server offers DELIVERBY.
    pub deliver_by: Option<DeliverBy>,
    /// REQUIRETLS (RFC 8689): refuse to send unless the connection is TLS
    /// with a verified certificate and the server offers REQUIRETLS.
    pub require_tls: bool,
    /// More MAIL parameters, after the session's `mail_extension`.
    pub extra: Vec<EsmtpParam>,
}

impl Envelope {
    /// An envelope with default options.
    pub fn new<R: Into<Recipient>>(
        from: impl Into<ReversePath>,
        recipients: impl IntoIterator<Item = R>,
    ) -> Envelope {
        Envelope {
            from: from.into(),
            recipients: recipients.into_iter().map(Into::into).collect(),
            ret: None,
            envid: None,
            submitter: None,
            mt_priority: None,
            deliver_by: None,
            require_tls: false,
            extra: Vec::new(),
        }
    }

    /// Whether any address needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.from.needs_smtputf8() || self.recipients.iter().any(|r| r.address.needs_smtputf8())
    }
}

/// What the session must know about a body before MAIL FROM: from
/// [`of_bytes`](BodyInfo::of_bytes), [`from_report`](BodyInfo::from_report)
/// or [`streamed`](BodyInfo::streamed), then changed field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct BodyInfo {
    /// The size after CRLF normalisation (`SIZE=`), when known.
    pub size: Option<u64>,
    /// The `BODY=` type the content needs, when known. When `None` the
    /// session declares 8BITMIME if offered and checks the content as it
    /// streams: content the declared type cannot carry ends the
    /// transaction before its end of data, so nothing corrupted is sent.
    pub body_type: Option<BodyType>,
    /// Whether the caller can supply the body again from the start, which
    /// a message needs when the server's LIMITS RCPTMAX splits it into
    /// several transactions. Without it, recipients beyond the limit are
    /// reported [`UnsentReason::RcptMax`].
    pub replayable: bool,
}

impl BodyInfo {
    /// From a [`BodyInspector`](crate::BodyInspector) report of the whole
    /// body (which can be supplied again).
    pub fn from_report(report: &BodyReport) -> BodyInfo {
        BodyInfo {
            size: Some(report.size),
            body_type: Some(report.body_type()),
            replayable: true,
        }
    }

    /// Inspects a whole body in memory.
    pub fn of_bytes(body: &[u8]) -> BodyInfo {
        let mut inspector = crate::BodyInspector::for_envelope();
        inspector.update(body);
        BodyInfo::from_report(&inspector.finish())
    }

    /// A body streamed from a source read once, of unknown content.
    pub fn streamed() -> BodyInfo {
        BodyInfo::default()
    }
}

/// Why a recipient that was not refused did not receive the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnsentReason {
    /// The transaction failed (sender refused, another recipient refused
    /// without `sendpartial`, message refused, content not allowed).
    TransactionFailed,
    /// The server's LIMITS RCPTMAX left no room, and the body could not be
    /// sent again.
    RcptMax,
    /// The connection ended first. When the end of data had been sent, the
    /// message may or may not have been delivered.
    ConnectionLost,
    /// The connection could not be established.
    NotConnected,
}

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecipientStatus {
    /// The server accepted the recipient and then the message.
    Delivered(Reply),
    /// The server refused the recipient (RCPT reply).
    Rejected(Reply),
    /// The server accepted the recipient, but the message was not accepted.
    AcceptedUnsent(Reply),
    /// The recipient was not tried.
    Unsent(UnsentReason),
}

/// For people: why the recipient was not tried.
///
/// ```
/// use smtpkit_proto::UnsentReason;
/// assert_eq!(UnsentReason::ConnectionLost.to_string(), "the connection ended first");
/// ```
impl fmt::Display for UnsentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnsentReason::TransactionFailed => "the transaction failed",
            UnsentReason::RcptMax => {
                "the server's LIMITS RCPTMAX left no room and the body could not be sent again"
            }
            UnsentReason::ConnectionLost => "the connection ended first",
            UnsentReason::NotConnected => "the connection could not be established",
        })
    }
}

/// For people: the outcome and the server's reply (escaped, as a
/// [`Reply`] displays).
///
/// ```
/// use smtpkit_proto::{RecipientStatus, UnsentReason};
/// let status = RecipientStatus::Unsent(UnsentReason::NotConnected);
/// assert_eq!(status.to_string(), "not tried: the connection could not be established");
/// ```
impl fmt::Display for RecipientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecipientStatus::Delivered(reply) => write!(f, "delivered: {reply}"),
            RecipientStatus::Rejected(reply) => write!(f, "refused: {reply}"),
            RecipientStatus::AcceptedUnsent(reply) => {
                write!(f, "accepted, but the message was not sent: {reply}")
            }
            RecipientStatus::Unsent(reason) => write!(f, "not tried: {reason}"),
        }
    }
}

impl RecipientStatus {
    /// Whether this recipient may succeed if tried again later: refused
    /// with a 4xx, accepted but the message not sent, or not tried. (For
    /// a message refused after DATA, the message's failure says whether
    /// that refusal was temporary.)
    pub fn is_transient(&self) -> bool {
        match self {
            RecipientStatus::Delivered(_) => false,
            RecipientStatus::Rejected(r) => r.is_transient(),
            RecipientStatus::AcceptedUnsent(_) | RecipientStatus::Unsent(_) => true,
        }
    }

    /// Whether this recipient was refused for good (a 5xx to its RCPT).
    pub fn is_permanent(&self) -> bool {
        matches!(self, RecipientStatus::Rejected(r) if r.is_permanent())
    }
}

/// A recipient and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecipientReport {
    /// The address.
    pub address: Address,
    /// What happened.
    pub status: RecipientStatus,
}

impl RecipientReport {
    /// A recipient's outcome.
    pub fn new(address: Address, status: RecipientStatus) -> Self {
        RecipientReport { address, status }
    }
}

/// Every recipient's outcome, and the server's final reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// The message.
    pub id: MessageId,
    /// One entry per recipient, in envelope order.
    pub recipients: Vec<RecipientReport>,
    /// The final reply to the message (after end of data or BDAT LAST);
    /// `None` when the message was not sent. With several transactions
    /// (RCPTMAX), the last one's.
    pub reply: Option<Reply>,
    /// How many transactions the message took.
    pub transactions: usize,
    /// Why recipients that were not refused did not all receive the
    /// message: the sender or the message was refused, recipients were
    /// refused without `sendpartial` (or all of them were), the message
    /// was too large, or the connection ended. `None` when every
    /// recipient either received it or was refused at RCPT.
    pub failure: Option<FailureKind>,
}

impl DeliveryReport {
    /// A report (for test doubles and adapters of other transports; the
    /// session makes its own).
    pub fn new(id: MessageId, recipients: Vec<RecipientReport>, reply: Option<Reply>) -> Self {
        DeliveryReport {
            id,
            recipients,
            reply,
            transactions: 1,
            failure: None,
        }
    }

    /// The same report with `failure` set (for test doubles and adapters).
    pub fn with_failure(mut self, failure: FailureKind) -> Self {
        self.failure = Some(failure);
        self
    }

    /// JavaMail's all-or-nothing view: `Ok` only when every recipient
    /// received the message; otherwise a [`SendFailure`] holding this
    /// report (its `kind` is the report's `failure`, or
    /// [`FailureKind::RecipientsRejected`] when some recipients were
    /// refused and the others received it, as with `sendpartial`).
    ///
    /// ```
    /// # use smtpkit_proto::{Address, DeliveryReport, MessageId, RecipientReport, RecipientStatus, Reply, ReplyCode};
    /// let ok = Reply::new(ReplyCode::new(250).unwrap(), None, vec!["ok".into()]).unwrap();
    /// let no = Reply::new(ReplyCode::new(550).unwrap(), None, vec!["no such user".into()]).unwrap();
    /// let report = DeliveryReport::new(MessageId(1), vec![
    ///     RecipientReport::new(Address::parse("a@example.org").unwrap(), RecipientStatus::Delivered(ok.clone())),
    ///     RecipientReport::new(Address::parse("b@example.org").unwrap(), RecipientStatus::Rejected(no)),
    /// ], Some(ok));
    /// let failure = report.into_result().unwrap_err();
    /// assert_eq!(failure.invalid().count(), 1);
    /// assert_eq!(failure.valid_sent().count(), 1);
    /// ```
    pub fn into_result(self) -> Result<DeliveryReport, Box<SendFailure>> {
        if self.failure.is_none() && self.all_delivered() {
            return Ok(self);
        }
        let kind = self
            .failure
            .clone()
            .unwrap_or(FailureKind::RecipientsRejected);
        Err(Box::new(SendFailure { kind, report: self }))
    }

    /// Whether the message may have been delivered although no reply
    /// said so: the end of data was written and the connection ended
    /// before its reply (RFC 5321 §4.1.1.4). Do not resend blindly.
    pub fn may_have_been_delivered(&self) -> bool {
        matches!(
            self.failure,
            Some(FailureKind::ConnectionLost {
                data_sent: true,
                ..
            })
        )
    }

    /// Recipients that received the message.
    pub fn delivered(&self) -> impl Iterator<Item = &Address> {
        self.with(|s| matches!(s, RecipientStatus::Delivered(_)))
    }

    /// Recipients the server refused, with its reply.
    pub fn rejected(&self) -> impl Iterator<Item = (&Address, &Reply)> {
        self.recipients.iter().filter_map(|r| match &r.status {
            RecipientStatus::Rejected(reply) => Some((&r.address, reply)),
            _ => None,
        })
    }

    /// Recipients that were not refused but did not get the message.
    pub fn unsent(&self) -> impl Iterator<Item = &Address> {
        self.with(|s| {
            matches!(
                s,
                RecipientStatus::AcceptedUnsent(_) | RecipientStatus::Unsent(_)
            )
        })
    }

    /// True when every recipient received the message.
    pub fn all_delivered(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| matches!(r.status, RecipientStatus::Delivered(_)))
    }

    fn with(&self, pick: impl Fn(&RecipientStatus) -> bool) -> impl Iterator<Item = &Address> {
        self.recipients
            .iter()
            .filter(move |r| pick(&r.status))
            .map(|r| &r.address)
    }
}

/// Why a message was not sent to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// MAIL FROM was refused (JavaMail's `SMTPSenderFailedException`).
    SenderRejected(Reply),
    /// Recipients were refused and, without `sendpartial`, nothing was
    /// sent; or every recipient was refused. The report says which. (In
    /// [`DeliveryReport::into_result`]'s view, also: some were refused
    /// and the others received it.)
    RecipientsRejected,
    /// The message was refused after its content (or DATA itself was
    /// refused): JavaMail's `SMTPSendFailedException`.
    MessageRejected(Reply),
    /// The message is larger than the server's SIZE.
    TooLarge {
        /// The message size.
        size: u64,
        /// The server's limit.
        max: u64,
    },
    /// The message needs an extension the server does not offer
    /// (`8BITMIME`, `SMTPUTF8`, `BINARYMIME`, `CHUNKING`).
    Unsupported {
        /// The missing extension.
        extension: &'static str,
    },
    /// REQUIRETLS was asked for, and the connection is not TLS with a
    /// verified certificate, or the server does not offer REQUIRETLS.
    RequireTlsUnavailable,
    /// The streamed content needs more than the declared BODY type
    /// (8-bit octets without 8BITMIME, NUL without BINARYMIME).
    ContentNotAllowed {
        /// What the content needed.
        needed: BodyType,
    },
    /// The caller abandoned the body.
    BodyAborted,
    /// The connection could not be established (connecting, the proxy,
    /// the greeting, TLS or AUTH failed): nothing was sent.
    NotConnected,
    /// The connection ended first; `data_sent` when the end of data was
    /// already written, so the message may have been delivered.
    ConnectionLost {
        /// Whether the end of data had been sent.
        data_sent: bool,
        /// The 421 reply, when the server announced it.
        reply: Option<Reply>,
    },
}

impl FailureKind {
    /// Whether trying again later may succeed (4xx replies, lost
    /// connections).
    pub fn is_transient(&self) -> bool {
        match self {
            FailureKind::SenderRejected(r) | FailureKind::MessageRejected(r) => r.is_transient(),
            FailureKind::ConnectionLost { .. } | FailureKind::NotConnected => true,
            _ => false,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureKind::SenderRejected(r) => write!(f, "sender refused: {r}"),
            FailureKind::RecipientsRejected => f.write_str("recipients refused"),
            FailureKind::MessageRejected(r) => write!(f, "message refused: {r}"),
            FailureKind::TooLarge { size, max } => {
                write!(
                    f,
                    "message of {size} octets exceeds the server's SIZE {max}"
                )
            }
            FailureKind::Unsupported { extension } => {
                write!(
                    f,
                    "the message needs {extension}, which the server does not offer"
                )
            }
            FailureKind::RequireTlsUnavailable => {
                f.write_str("REQUIRETLS needs a verified TLS connection and server support")
            }
            FailureKind::ContentNotAllowed { needed } => {
                write!(
                    f,
                    "the content needs BODY={needed:?}, which was not declared"
                )
            }
            FailureKind::BodyAborted => f.write_str("the body was abandoned"),
            FailureKind::NotConnected => f.write_str("not connected"),
            FailureKind::ConnectionLost { data_sent, reply } => {
                f.write_str("connection lost")?;
                if *data_sent {
                    f.write_str(" after the end of data: the message may have been delivered")?;
                }
                match reply {
                    Some(r) => write!(f, " (the server said {r})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// A message that did not reach every recipient, with every recipient's
/// outcome: what [`DeliveryReport::into_result`] returns, and what a
/// connection failure carries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
#[non_exhaustive]
pub struct SendFailure {
    /// What went wrong.
    pub kind: FailureKind,
    /// Every recipient's outcome.
    pub report: DeliveryReport,
}

impl SendFailure {
    /// A failure with every recipient's outcome.
    pub fn new(kind: FailureKind, report: DeliveryReport) -> Self {
        SendFailure { kind, report }
    }

    /// Recipients the server accepted that did not get the message
    /// (JavaMail's `getValidUnsentAddresses`).
    pub fn valid_unsent(&self) -> impl Iterator<Item = &Address> {
        self.report.unsent()
    }

    /// Recipients the server refused (`getInvalidAddresses`).
    pub fn invalid(&self) -> impl Iterator<Item = &Address> {
        self.report.rejected().map(|(a, _)| a)
    }

    /// Recipients that received it (`getValidSentAddresses`; empty unless
    /// an earlier RCPTMAX transaction succeeded).
    pub fn valid_sent(&self) -> impl Iterator<Item = &Address> {
        self.report.delivered()
    }
}
