//! The client session: a sans-IO state machine in the style of quinn-proto
//! and rustls. One [`Session`] per connection.
//!
//! Inputs: [`handle_input`](Session::handle_input) (bytes read from the
//! socket), [`handle_eof`](Session::handle_eof),
//! [`handle_timeout`](Session::handle_timeout); requests:
//! [`send`](Session::send), [`push_body`](Session::push_body),
//! [`check_liveness`](Session::check_liveness), [`reset`](Session::reset),
//! [`quit`](Session::quit). Outputs, drained after every input or request:
//! [`poll_transmit`](Session::poll_transmit) (bytes to write, ciphertext
//! once TLS is up), [`poll_event`](Session::poll_event),
//! [`body_request`](Session::body_request) and
//! [`poll_timeout`](Session::poll_timeout). The session never reads a
//! clock: every input carries `now`.
//!
//! A caller's misuse is an error returned at the call ([`UsageError`]). A
//! fatal connection problem is reported once, as [`Event::Closed`], after
//! which the session stays closed; every unfinished message is reported
//! first. An SMTP 4xx/5xx reply is not a session error: it is an outcome in
//! a message's report.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::BytesMut;

use crate::address::ForwardPath;
use crate::body::{BdatChunker, BodyInspector, DataEncoder};
use crate::command::{BodyType, Command, InitialResponse, Mechanism, RcptParameters};
use crate::config::{SessionConfig, StartTlsPolicy};
use crate::ehlo::{EhloResponse, Extension};
use crate::envelope::{
    BodyInfo, DeliveryReport, Envelope, FailureKind, MessageId, Recipient, RecipientReport,
    RecipientStatus, UnsentReason,
};
use crate::reply::{Reply, ReplyCode, ReplyDecoder, ReplyError};
use crate::sasl::{AuthError, SaslError, SaslMechanism};
use crate::tls::{TlsError, TlsErrorKind, TlsInfo, TlsLayer};

mod mail;

/// RFC 4954 §4: an AUTH command line longer than this sends its initial
/// response in a second step instead.
const MAX_AUTH_LINE: usize = 500;

/// Octets of a pipelined BDAT body written before the RCPT replies are in
/// (only with `SessionOptions::pipeline_first_chunk`).
const BODY_BEFORE_RCPT_REPLIES: u64 = 64 * 1024;

/// The most `334` challenges one AUTH exchange may take.
const MAX_AUTH_ROUNDS: u32 = 16;

/// A fatal session error: the connection cannot be used any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The greeting was not 220 (usually 554): the server refuses service.
    #[error("session refused by the server: {0}")]
    Rejected(Reply),
    /// The server said 421: it is closing the connection.
    #[error("service closing: {0}")]
    ServiceClosing(Reply),
    /// Both EHLO and HELO were refused.
    #[error("HELO refused: {0}")]
    HeloRejected(Reply),
    /// A malformed reply.
    #[error("malformed server reply: {0}")]
    Protocol(#[from] ReplyError),
    /// A reply when none was expected.
    #[error("unexpected reply with nothing outstanding: {0}")]
    UnexpectedReply(Reply),
    /// The server closed the connection.
    #[error("connection closed by the server{}", if *.while_waiting { " while a reply was awaited" } else { "" })]
    ConnectionClosed {
        /// Whether a reply was outstanding.
        while_waiting: bool,
    },
    /// Reading or writing the connection failed, or a write did not
    /// finish within its deadline (what the I/O loop reported).
    #[error("connection: {message}")]
    Io {
        /// The I/O error's kind (`TimedOut` for a write deadline).
        kind: std::io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
    /// No reply within the deadline.
    #[error("timed out after {after:?} waiting for the reply to {waiting_for}")]
    Timeout {
        /// The command whose reply did not come.
        waiting_for: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// Bytes arrived after the 220 to STARTTLS, before the TLS handshake:
    /// a response injection attempt (CVE-2011-0411 class). Nothing was
    /// acted on.
    #[error("{0} octets arrived after the STARTTLS reply, before TLS: possible response injection")]
    ResponseInjection(usize),
    /// STARTTLS is required and the server does not offer it, or no TLS
    /// connector is configured.
    #[error("STARTTLS is required but {0}")]
    StartTlsUnavailable(&'static str),
    /// The server offered STARTTLS and then refused it: the session does
    /// not go on in plaintext.
    #[error("the server offered STARTTLS but refused it: {0}")]
    StartTlsRefused(Reply),
    /// TLS failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Authentication failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The caller abandoned a body after DATA was accepted: the only safe
    /// way to stop is to drop the connection.
    #[error(
        "message content abandoned after DATA; connection dropped so nothing partial is delivered"
    )]
    BodyAborted,
    /// Streamed content needed a BODY type that was not declared, after
    /// DATA was accepted: the connection was dropped so that nothing
    /// corrupted is delivered.
    #[error("message content needs {0:?}, which was not declared; connection dropped")]
    ContentNotAllowed(BodyType),
}

impl SessionError {
    /// The server's reply that ended the session, when one did.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            SessionError::Rejected(r)
            | SessionError::ServiceClosing(r)
            | SessionError::HeloRejected(r)
            | SessionError::StartTlsRefused(r)
            | SessionError::UnexpectedReply(r)
            | SessionError::Auth(AuthError::Rejected { reply: r })
            | SessionError::Auth(AuthError::TokenRefused { reply: r, .. }) => Some(r),
            _ => None,
        }
    }

    /// Whether a new connection may succeed later: timeouts, lost
    /// connections, 4xx refusals, a malformed reply
    /// ([`ErrorClass::Transient`]).
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// What kind of failure this is: transient (timeouts, lost
    /// connections, 4xx, a malformed reply, a TLS protocol error),
    /// permanent (a 5xx refusal, content the server cannot take) or
    /// configuration (certificates, the STARTTLS policy, credentials and
    /// mechanisms, a response injection).
    pub fn class(&self) -> ErrorClass {
        match self {
            SessionError::Rejected(r)
            | SessionError::HeloRejected(r)
            | SessionError::UnexpectedReply(r) => ErrorClass::of_reply(r),
            SessionError::ServiceClosing(_)
            | SessionError::Protocol(_)
            | SessionError::ConnectionClosed { .. }
            | SessionError::Io { .. }
            | SessionError::Timeout { .. }
            | SessionError::BodyAborted => ErrorClass::Transient,
            SessionError::StartTlsRefused(r)
            | SessionError::Auth(AuthError::Rejected { reply: r })
                if r.is_transient() =>
            {
                ErrorClass::Transient
            }
            SessionError::Tls(e) if e.kind == TlsErrorKind::Protocol => ErrorClass::Transient,
            SessionError::ResponseInjection(_)
            | SessionError::StartTlsUnavailable(_)
            | SessionError::StartTlsRefused(_)
            | SessionError::Tls(_)
            | SessionError::Auth(_) => ErrorClass::Configuration,
            SessionError::ContentNotAllowed(_) => ErrorClass::Permanent,
        }
    }
}

/// What kind of failure an error is, for whoever decides what happens
/// next (a retry queue, an operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// Trying again later, on a new connection, may succeed.
    Transient,
    /// This message fails the same way however often it is tried.
    Permanent,
    /// Nothing will go until the settings, a certificate or the server's
    /// policy is fixed: the same for every message.
    Configuration,
}

impl ErrorClass {
    /// A refusal's class: a 4xx reply is transient, anything else
    /// permanent.
    pub fn of_reply(reply: &Reply) -> ErrorClass {
        if reply.is_transient() {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Configuration => "configuration",
        })
    }
}

/// A request the session cannot take now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// QUIT was requested; nothing more can be queued.
    #[error("the session is quitting")]
    Quitting,
    /// The envelope has no recipients.
    #[error("the envelope has no recipients")]
    NoRecipients,
    /// The request needs an idle, established session.
    #[error("the session is busy or not yet ready")]
    Busy,
    /// No such message, or it is not the one whose body is wanted.
    #[error("message {0} is not waiting for its body")]
    BodyNotWanted(MessageId),
}

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The client (`C:`).
    Client,
    /// The server (`S:`).
    Server,
    /// A note from the session (TLS, AUTH steps).
    Info,
}

/// One transcript line; secrets are already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TranscriptEntry {
    /// Who wrote it.
    pub direction: Direction,
    /// The line, without CRLF.
    pub line: String,
}

impl fmt::Display for TranscriptEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.direction {
            Direction::Client => "C: ",
            Direction::Server => "S: ",
            Direction::Info => "* ",
        };
        write!(f, "{prefix}{}", crate::escape_text(&self.line))
    }
}

/// What the session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The session is established (greeting, EHLO, TLS and AUTH done) and
    /// messages can flow.
    Ready {
        /// The server's greeting.
        greeting: Reply,
        /// The capabilities (after TLS when upgraded); `None` after HELO.
        extensions: Option<EhloResponse>,
        /// The TLS connection, when there is one.
        tls: Option<TlsInfo>,
        /// The SASL mechanism used, when authenticated.
        auth: Option<String>,
    },
    /// A message finished: every recipient's outcome, and in
    /// [`DeliveryReport::failure`] why it failed, when it did.
    Message {
        /// The message.
        id: MessageId,
        /// Every recipient's outcome.
        report: DeliveryReport,
    },
    /// The answer to [`Session::check_liveness`].
    Liveness {
        /// Whether the connection is usable.
        alive: bool,
        /// The server's reply.
        reply: Reply,
    },
    /// The answer to [`Session::reset`].
    Reset(Reply),
    /// A transcript line (only with `SessionConfig::transcript`).
    Transcript(TranscriptEntry),
    /// The session ended: `None` after an orderly QUIT. Drain
    /// [`Session::poll_transmit`] once more, then close the socket.
    Closed(Option<SessionError>),
}

/// What is known about an established connection: one snapshot for
/// every client, report and test, instead of accessor copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The server's greeting.
    pub greeting: Option<Reply>,
    /// The capabilities offered before STARTTLS (forgotten for every
    /// decision after it; kept for reports such as `smtp-send probe`).
    pub extensions_before_tls: Option<EhloResponse>,
    /// The capabilities in force: after TLS when upgraded; `None` after
    /// HELO.
    pub extensions: Option<EhloResponse>,
    /// The TLS connection, when there is one.
    pub tls: Option<TlsInfo>,
    /// The SASL mechanism that authenticated the session.
    pub auth_mechanism: Option<String>,
}

/// The body data the session wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyRequest {
    /// Whose body.
    pub id: MessageId,
    /// At most this many octets should be pushed now.
    pub max_len: usize,
    /// The body must be supplied again from its first octet (a further
    /// transaction after LIMITS RCPTMAX split the recipients).
    pub restart: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Handshake,
    Auth,
    Ready,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail(MessageId),
    Rcpt(MessageId, usize),
    Data(MessageId),
    Bdat { id: MessageId, last: bool },
    EndOfData(MessageId),
    Rset { reported: bool },
    Liveness,
    Quit,
}

impl Awaiting {
    fn name(self) -> &'static str {
        match self {
            Awaiting::Greeting => "the greeting",
            Awaiting::Ehlo => "EHLO",
            Awaiting::Helo => "HELO",
            Awaiting::StartTls => "STARTTLS",
            Awaiting::Auth => "AUTH",
            Awaiting::Mail(_) => "MAIL",
            Awaiting::Rcpt(..) => "RCPT",
            Awaiting::Data(_) => "DATA",
            Awaiting::Bdat { .. } => "BDAT",
            Awaiting::EndOfData(_) => "the end of data",
            Awaiting::Rset { .. } => "RSET",
            Awaiting::Liveness => "NOOP",
            Awaiting::Quit => "QUIT",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    awaiting: Awaiting,
    sent_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not started (or the next RCPTMAX transaction).
    Queued,
    /// Lockstep: MAIL or RCPT written, its reply awaited.
    Envelope,
    /// Pipelined: DATA, or the first BDAT chunk, held back until every
    /// RCPT reply is in.
    AwaitRcpts,
    /// DATA written, 354 awaited.
    AwaitData,
    /// Body wanted from the caller.
    Body,
    /// End of data (or BDAT LAST) written; the final reply is awaited.
    Sent,
}

enum Transfer {
    Data(DataEncoder),
    Bdat(BdatChunker),
}

/// The RCPT replies of one transaction, with running counts: whether all
/// are in and how many were accepted is asked after every reply, so it
/// must not cost a pass over 100,000 recipients each time.
#[derive(Default)]
struct RcptReplies {
    replies: Vec<Option<Reply>>,
    /// Slots filled.
    answered: usize,
    /// Slots filled with a positive completion.
    accepted: usize,
}

impl RcptReplies {
    fn new(len: usize) -> RcptReplies {
        RcptReplies {
            replies: vec![None; len],
            answered: 0,
            accepted: 0,
        }
    }

    fn len(&self) -> usize {
        self.replies.len()
    }

    /// Records recipient `i`'s reply (a slot outside the transaction is
    /// ignored).
    fn set(&mut self, i: usize, reply: Reply) {
        let Some(slot) = self.replies.get_mut(i) else {
            return;
        };
        match slot {
            Some(old) if old.is_positive_completion() => self.accepted -= 1,
            Some(_) => {}
            None => self.answered += 1,
        }
        if reply.is_positive_completion() {
            self.accepted += 1;
        }
        *slot = Some(reply);
    }
}

struct Message {
    id: MessageId,
    envelope: Envelope,
    body: BodyInfo,
    stage: Stage,
    /// Recipients of the current transaction: `range.start..range.end`.
    range: std::ops::Range<usize>,
    rcpt_replies: RcptReplies,
    /// LMTP and PRDR: each accepted recipient's reply after the data.
    data_replies: Vec<Option<Reply>>,
    /// No accepted recipient before this index is owed a data reply (the
    /// replies come in recipient order): where the search for the next
    /// one starts, so that each reply costs O(1), not O(recipients).
    data_replies_from: usize,
    /// This transaction asked for PRDR; `prdr_started` once its 353 came.
    prdr: bool,
    prdr_started: bool,
    statuses: Vec<Option<RecipientStatus>>,
    mail_reply: Option<Reply>,
    next_rcpt: usize,
    transfer: Option<Transfer>,
    declared: BodyType,
    inspector: Option<BodyInspector>,
    failure: Option<FailureKind>,
    final_reply: Option<Reply>,
    transactions: usize,
    restart: bool,
    body_octets: u64,
    /// Octets of body taken from the caller in this transaction.
    pushed: u64,
}

impl Message {
    /// Resets the per-transaction state for the next transaction: its
    /// transfer, its recipients (the next LIMITS RCPTMAX of them), whether
    /// it asks for PRDR, and every reply and counter of the last one.
    fn begin_transaction(
        &mut self,
        ehlo: &EhloResponse,
        config: &SessionConfig,
        declared: BodyType,
        use_bdat: bool,
    ) {
        self.declared = declared;
        self.inspector = self
            .body
            .body_type
            .is_none()
            .then(BodyInspector::for_envelope);
        self.transfer = Some(if use_bdat {
            Transfer::Bdat(BdatChunker::new(
                config.options.chunk_size,
                declared == BodyType::BinaryMime,
            ))
        } else {
            Transfer::Data(DataEncoder::new())
        });
        let start = self.range.end;
        let per_transaction =
            mail::recipients_per_transaction(ehlo, self.envelope.recipients.len() - start);
        self.range = start..start + per_transaction;
        self.rcpt_replies = RcptReplies::new(per_transaction);
        self.reset_data_replies(0);
        self.prdr = mail::asks_for_prdr(ehlo, config, per_transaction);
        self.prdr_started = false;
        self.mail_reply = None;
        self.final_reply = None;
        self.failure = None;
        self.next_rcpt = 0;
        self.body_octets = 0;
        self.pushed = 0;
        self.restart = self.transactions > 0;
        self.transactions += 1;
    }

    fn accepted(&self) -> usize {
        self.rcpt_replies.accepted
    }

    fn refused(&self) -> usize {
        self.rcpt_replies.answered - self.rcpt_replies.accepted
    }

    /// Makes room for `len` replies after the data, none received yet.
    fn reset_data_replies(&mut self, len: usize) {
        self.data_replies = vec![None; len];
        self.data_replies_from = 0;
    }

    /// Whether another transaction (LIMITS RCPTMAX) will follow this one.
    fn has_more(&self) -> bool {
        self.range.end < self.envelope.recipients.len()
            && self.body.replayable
            && !matches!(self.failure, Some(FailureKind::SenderRejected(_)))
    }

    fn all_rcpt_replies_in(&self) -> bool {
        self.rcpt_replies.answered == self.rcpt_replies.replies.len()
    }

    /// The next accepted recipient still owed a per-recipient data reply.
    /// Replies are taken in order, so the search goes on from where the
    /// last one ended: O(1) amortised per reply.
    fn next_owed_data_reply(&mut self) -> Option<usize> {
        while self.data_replies_from < self.rcpt_replies.replies.len() {
            let i = self.data_replies_from;
            let accepted = self.rcpt_replies.replies[i]
                .as_ref()
                .is_some_and(Reply::is_positive_completion);
            if accepted && self.data_replies.get(i).is_some_and(Option::is_none) {
                return Some(i);
            }
            self.data_replies_from += 1;
        }
        None
    }

    /// Whether the replies after the data are per recipient.
    fn per_recipient(&self, lmtp: bool) -> bool {
        lmtp || self.prdr_started
    }

    /// Records the outcome of every recipient whose fate is already known
    /// (refused at RCPT, or answered after the data): also when the
    /// connection ends before the transaction does.
    fn settle_known(&mut self) {
        // After a refused MAIL, the RCPT replies ("503 need MAIL") say
        // nothing about the recipients (as in `finish_transaction`).
        if matches!(self.failure, Some(FailureKind::SenderRejected(_))) {
            return;
        }
        for (i, reply) in self.rcpt_replies.replies.iter().enumerate() {
            let status = match (reply, self.data_replies.get(i).cloned().flatten()) {
                (Some(r), _) if !r.is_positive_completion() => RecipientStatus::Rejected(r.clone()),
                (Some(_), Some(d)) if d.is_positive_completion() => RecipientStatus::Delivered(d),
                (Some(_), Some(d)) => RecipientStatus::Rejected(d),
                _ => continue,
            };
            if let Some(slot) = self.statuses.get_mut(self.range.start + i) {
                *slot = Some(status);
            }
        }
    }
}

/// One SMTP client connection, sans IO. See the module documentation,
/// and the crate documentation for a longer session driven by hand.
///
/// ```
/// use std::time::Instant;
/// use smtpkit_proto::{Address, BodyInfo, Envelope, Event, Host, Session, SessionConfig};
///
/// let config = SessionConfig::new(Host::parse("client.example")?, "mx.example");
/// let now = Instant::now();
/// let mut session = Session::new(config.into(), now);
/// let from = Address::parse("a@client.example")?;
/// let to = Address::parse("b@mx.example")?;
/// let body = b"Subject: hi\r\n\r\nhello\r\n";
/// let id = session.send(Envelope::new(from, [to]), BodyInfo::of_bytes(body))?;
///
/// // A scripted server; a real adapter reads these bytes from a socket.
/// session.handle_input(now, b"220 mx.example ESMTP\r\n");
/// assert_eq!(session.poll_transmit(now).unwrap(), b"EHLO client.example\r\n");
/// session.handle_input(now, b"250-mx.example\r\n250 PIPELINING\r\n");
/// assert_eq!(session.poll_transmit(now).unwrap(), b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n");
/// session.handle_input(now, b"250 ok\r\n250 ok\r\n354 go\r\n");
/// let request = session.body_request().unwrap();
/// session.push_body(request.id, body, true)?;
/// assert_eq!(session.poll_transmit(now).unwrap(), b"Subject: hi\r\n\r\nhello\r\n.\r\n");
/// session.handle_input(now, b"250 2.0.0 queued\r\n");
/// let outcome = std::iter::from_fn(|| session.poll_event())
///     .find_map(|e| match e { Event::Message { id: done, report } if done == id => Some(report), _ => None })
///     .unwrap();
/// assert!(outcome.all_delivered());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Session {
    config: Arc<SessionConfig>,
    phase: Phase,
    decoder: ReplyDecoder,
    inbuf: BytesMut,
    out: Vec<u8>,
    transmit: Vec<u8>,
    tls: Option<Box<dyn TlsLayer>>,
    tls_info: Option<TlsInfo>,
    plaintext: Vec<u8>,
    inflight: VecDeque<Pending>,
    messages: VecDeque<Message>,
    events: VecDeque<Event>,
    greeting: Option<Reply>,
    ehlo: Option<EhloResponse>,
    pre_tls_ehlo: Option<EhloResponse>,
    sasl: Option<Box<dyn SaslMechanism>>,
    deferred_initial: Option<Vec<u8>>,
    auth_rounds: u32,
    auth_used: Option<String>,
    next_id: u64,
    last_reply_at: Instant,
    handshake_started: Option<Instant>,
    quit_requested: bool,
    /// QUIT without waiting for its reply, whatever `quit_wait` says.
    quit_no_wait: bool,
    quit_sent: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("phase", &self.phase)
            .field("server", &self.config.server_name)
            .field("tls", &self.tls_info)
            .field("inflight", &self.inflight.len())
            .field("messages", &self.messages.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for a connection that was just established at `now`. With
    /// implicit TLS the handshake starts at once (its first flight is in
    /// [`poll_transmit`](Self::poll_transmit)); otherwise the session waits
    /// for the greeting.
    pub fn new(config: Arc<SessionConfig>, now: Instant) -> Session {
        let mut session = Session {
            decoder: ReplyDecoder::new(config.options.reply_limits),
            phase: Phase::Greeting,
            inbuf: BytesMut::with_capacity(4096),
            out: Vec::with_capacity(4096),
            transmit: Vec::new(),
            tls: None,
            tls_info: None,
            plaintext: Vec::new(),
            inflight: VecDeque::new(),
            messages: VecDeque::new(),
            events: VecDeque::new(),
            greeting: None,
            ehlo: None,
            pre_tls_ehlo: None,
            sasl: None,
            deferred_initial: None,
            auth_rounds: 0,
            auth_used: None,
            next_id: 0,
            last_reply_at: now,
            handshake_started: None,
            quit_requested: false,
            quit_no_wait: false,
            quit_sent: false,
            config,
        };
        session.inflight.push_back(Pending {
            awaiting: Awaiting::Greeting,
            sent_at: Some(now),
        });
        if session.config.implicit_tls {
            session.start_tls(now);
        }
        session
    }

    // ----- inputs -------------------------------------------------------

    /// Bytes read from the connection (ciphertext once TLS is up).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.phase == Phase::Closed {
            return;
        }
        if let Some(tls) = self.tls.as_mut() {
            if let Err(e) = decrypt(tls.as_mut(), data, &mut self.plaintext) {
                self.plaintext.clear();
                return self.fail(SessionError::Tls(e));
            }
            let handshaking = tls.is_handshaking();
            if self.phase == Phase::Handshake && !handshaking {
                self.handshake_done(now);
            }
            self.inbuf.extend_from_slice(&self.plaintext);
            self.plaintext.clear();
        } else {
            self.inbuf.extend_from_slice(data);
        }
        self.process_replies(now);
        self.flush();
    }

    /// The server closed the connection (a read returned 0).
    pub fn handle_eof(&mut self, _now: Instant) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.quit_sent {
            self.close(None);
        } else {
            let while_waiting = !self.inflight.is_empty();
            self.fail(SessionError::ConnectionClosed { while_waiting });
        }
    }

    /// Reading or writing the connection failed (or a write missed its
    /// deadline): the session ends with [`SessionError::Io`], every
    /// unfinished message reported lost with it. After QUIT was written it
    /// is an orderly end.
    pub fn handle_io_error(&mut self, _now: Instant, error: &std::io::Error) {
        if self.phase == Phase::Closed {
            return;
        }
        if self.quit_sent {
            self.close(None);
        } else {
            self.fail(SessionError::Io {
                kind: error.kind(),
                message: error.to_string(),
            });
        }
    }

    /// Call when [`poll_timeout`](Self::poll_timeout)'s deadline has
    /// passed; a call before it is a no-op.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some((deadline, what, after)) = self.deadline() else {
            return;
        };
        if now >= deadline {
            if what == Awaiting::Quit {
                self.close(None);
            } else {
                self.fail(SessionError::Timeout {
                    waiting_for: what.name(),
                    after,
                });
            }
        }
    }

    // ----- requests -----------------------------------------------------

    /// Queues a message. It is sent when the session is ready, after the
    /// messages queued before it; with PIPELINING its commands ride in the
    /// same flight as the previous message's end of data. The body is
    /// asked for through [`body_request`](Self::body_request).
    ///
    /// # Errors
    /// [`UsageError::Closed`], [`UsageError::Quitting`],
    /// [`UsageError::NoRecipients`].
    pub fn send(&mut self, envelope: Envelope, body: BodyInfo) -> Result<MessageId, UsageError> {
        if self.phase == Phase::Closed {
            return Err(UsageError::Closed);
        }
        if self.quit_requested {
            return Err(UsageError::Quitting);
        }
        if envelope.recipients.is_empty() {
            return Err(UsageError::NoRecipients);
        }
        let id = MessageId(self.next_id);
        self.next_id += 1;
        let n = envelope.recipients.len();
        self.messages.push_back(Message {
            id,
            envelope,
            body,
            stage: Stage::Queued,
            range: 0..0,
            rcpt_replies: RcptReplies::default(),
            data_replies_from: 0,
            data_replies: Vec::new(),
            prdr: false,
            prdr_started: false,
            statuses: vec![None; n],
            mail_reply: None,
            next_rcpt: 0,
            transfer: None,
            declared: BodyType::SevenBit,
            inspector: None,
            failure: None,
            final_reply: None,
            transactions: 0,
            restart: false,
            body_octets: 0,
            pushed: 0,
        });
        self.pump();
        self.flush();
        Ok(id)
    }

    /// The body the session wants now, if any: push it with
    /// [`push_body`](Self::push_body). `None` while the session waits for
    /// replies or its send buffer is full (backpressure): drain
    /// [`poll_transmit`](Self::poll_transmit) and feed input first. While
    /// it is `Some`, keep writing rather than wait for input: replies wait
    /// in the socket buffer, and a blocking read would wait for a reply to
    /// data not yet sent.
    pub fn body_request(&self) -> Option<BodyRequest> {
        if self.phase != Phase::Ready {
            return None;
        }
        let m = self.write_head()?;
        if m.stage != Stage::Body {
            return None;
        }
        let lockstep_bdat = matches!(m.transfer, Some(Transfer::Bdat(_))) && !self.pipelining();
        if lockstep_bdat && !self.inflight.is_empty() {
            return None;
        }
        let buffered = self.out.len() + self.transmit.len();
        let mut room = self.config.options.max_buffered.saturating_sub(buffered);
        // With `pipeline_first_chunk` a BDAT body rides behind the RCPTs;
        // until their replies are in, only a prefix goes, so that a
        // refused recipient does not cost the whole message on the wire.
        // A message up to the prefix still goes in the envelope's flight.
        if matches!(m.transfer, Some(Transfer::Bdat(_))) && !m.all_rcpt_replies_in() {
            let left = BODY_BEFORE_RCPT_REPLIES.saturating_sub(m.pushed);
            room = room.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        if let (true, Some(Transfer::Bdat(c))) = (lockstep_bdat, &m.transfer) {
            room = room.min(c.chunk_size());
        }
        (room > 0).then_some(BodyRequest {
            id: m.id,
            max_len: room,
            restart: m.restart,
        })
    }

    /// Supplies the next `chunk` of message `id`'s body; `last` marks its
    /// end. The chunk should not exceed the request's `max_len`.
    ///
    /// # Errors
    /// [`UsageError::BodyNotWanted`] when the message is not the one whose
    /// body is wanted (for example because its transaction already failed:
    /// its [`Event::Message`] says why).
    pub fn push_body(&mut self, id: MessageId, chunk: &[u8], last: bool) -> Result<(), UsageError> {
        self.push_body_piece(id, chunk.into(), last)
    }

    /// Like [`push_body`](Self::push_body) for a piece of an
    /// [`InspectedBody`](crate::InspectedBody): text proven wire-ready is
    /// copied to the wire without being scanned again.
    ///
    /// # Errors
    /// As [`push_body`](Self::push_body).
    pub fn push_body_piece(
        &mut self,
        id: MessageId,
        piece: crate::BodyPiece<'_>,
        last: bool,
    ) -> Result<(), UsageError> {
        let chunk = piece.bytes();
        if self.phase == Phase::Closed {
            return Err(UsageError::Closed);
        }
        let transcript = self.config.options.transcript;
        // On a plaintext connection with nothing staged, the body is
        // encoded straight into the transmit buffer: staging it would copy
        // every octet once more in `flush`.
        let out = if self.tls.is_none() && self.out.is_empty() {
            &mut self.transmit
        } else {
            &mut self.out
        };
        let Some(m) = head_mut(&mut self.messages).filter(|m| m.id == id && m.stage == Stage::Body)
        else {
            return Err(UsageError::BodyNotWanted(id));
        };
        m.restart = false;
        m.pushed += chunk.len() as u64;
        if let Some(inspector) = &mut m.inspector {
            inspector.update(chunk);
            let report = inspector.clone().finish();
            let needed = report.body_type();
            if needed > m.declared {
                self.content_not_allowed(id, needed);
                return Ok(());
            }
        }
        let mut new_pending = Vec::new();
        let mut notes = Vec::new();
        match &mut m.transfer {
            Some(Transfer::Data(encoder)) => {
                m.body_octets += encoder.push_piece(piece, out) as u64;
                if last {
                    m.body_octets += encoder.finish(out) as u64;
                    new_pending.push(Awaiting::EndOfData(id));
                    notes.push(format!(
                        "[message content, {} octets, ending with <CRLF>.<CRLF>]",
                        m.body_octets
                    ));
                }
            }
            Some(Transfer::Bdat(chunker)) => {
                let size = chunker.chunk_size();
                let n = chunker.push_piece(piece, out);
                new_pending.extend((0..n).map(|_| Awaiting::Bdat { id, last: false }));
                notes.extend((0..n).map(|_| format!("BDAT {size} [chunk]")));
                if last {
                    let before = chunker.payload_written();
                    let n = chunker.finish(out);
                    let mut final_size = chunker.payload_written() - before;
                    if n == 2 {
                        notes.push(format!("BDAT {size} [chunk]"));
                        final_size -= size as u64;
                    }
                    new_pending.extend((1..n).map(|_| Awaiting::Bdat { id, last: false }));
                    new_pending.push(Awaiting::Bdat { id, last: true });
                    notes.push(format!("BDAT {final_size} LAST [chunk]"));
                }
            }
            None => return Err(UsageError::BodyNotWanted(id)),
        }
        if last {
            m.stage = Stage::Sent;
        }
        for awaiting in new_pending {
            self.expect(awaiting);
        }
        if transcript || crate::log::debug_enabled!() {
            for note in notes {
                self.note(Direction::Client, note);
            }
        }
        self.pump();
        self.flush();
        Ok(())
    }

    /// Gives up on message `id`'s body. With BDAT the transaction is reset
    /// and the message reported as [`FailureKind::BodyAborted`]; after a
    /// 354 the connection must be dropped (a `.` would deliver a truncated
    /// message), so the session closes with [`SessionError::BodyAborted`].
    ///
    /// # Errors
    /// [`UsageError::BodyNotWanted`] when that body is not being sent.
    pub fn abort_body(&mut self, id: MessageId) -> Result<(), UsageError> {
        let Some(m) = self
            .write_head()
            .filter(|m| m.id == id && m.stage == Stage::Body)
        else {
            return Err(UsageError::BodyNotWanted(id));
        };
        if matches!(m.transfer, Some(Transfer::Data(_))) {
            self.fail(SessionError::BodyAborted);
        } else {
            self.abandon(id, FailureKind::BodyAborted);
            self.pump();
            self.flush();
        }
        Ok(())
    }

    /// Checks that the connection is alive: NOOP, or RSET with
    /// `use_rset_for_liveness` (`mail.smtp.userset`). The answer is
    /// [`Event::Liveness`].
    ///
    /// # Errors
    /// [`UsageError::Busy`] unless the session is ready and idle.
    pub fn check_liveness(&mut self) -> Result<(), UsageError> {
        self.require_idle()?;
        let command = if self.config.options.use_rset_for_liveness {
            Command::Rset
        } else {
            Command::Noop(None)
        };
        self.write(&command);
        self.expect(Awaiting::Liveness);
        self.flush();
        Ok(())
    }

    /// Sends RSET; the answer is [`Event::Reset`].
    ///
    /// # Errors
    /// [`UsageError::Busy`] unless the session is ready and idle.
    pub fn reset(&mut self) -> Result<(), UsageError> {
        self.require_idle()?;
        self.write(&Command::Rset);
        self.expect(Awaiting::Rset { reported: true });
        self.flush();
        Ok(())
    }

    /// Ends the session after the queued messages: QUIT once every message
    /// is written (pipelined behind the last one), then
    /// [`Event::Closed`]`(None)` on the reply, or at once with `quit_wait =
    /// false`. To drop a connection without QUIT, drop the session.
    pub fn quit(&mut self) {
        if self.phase == Phase::Closed || self.quit_requested {
            return;
        }
        self.quit_requested = true;
        self.pump();
        self.flush();
    }

    /// [`quit`](Self::quit), without waiting for the reply to QUIT (a
    /// pool retiring a connection: nothing is pending, the reply tells
    /// nothing).
    pub fn quit_without_waiting(&mut self) {
        self.quit_no_wait = true;
        self.quit();
    }

    // ----- outputs ------------------------------------------------------

    /// Bytes to write to the connection, all pending ones in one buffer
    /// (write them in one call: a pipelined flight must not be split into
    /// many small writes). Stamps the outstanding commands as sent at
    /// `now`, which starts their reply deadlines.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let mut buffer = Vec::new();
        self.poll_transmit_into(now, &mut buffer).then_some(buffer)
    }

    /// Like [`poll_transmit`](Self::poll_transmit), but swaps the pending
    /// bytes into `buffer` (which must be empty; clear it after writing)
    /// and keeps `buffer`'s old allocation for the next flight, so a busy
    /// connection allocates nothing per flight. Returns whether there is
    /// anything to write.
    pub fn poll_transmit_into(&mut self, now: Instant, buffer: &mut Vec<u8>) -> bool {
        self.flush();
        for p in self.inflight.iter_mut().rev() {
            if p.sent_at.is_some() {
                break;
            }
            p.sent_at = Some(now);
        }
        if self.phase == Phase::Handshake && self.handshake_started.is_none() {
            self.handshake_started = Some(now);
        }
        if self.transmit.is_empty() {
            return false;
        }
        buffer.clear();
        std::mem::swap(buffer, &mut self.transmit);
        true
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called if no
    /// input arrives first; `None` when no reply is awaited.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline().map(|(deadline, ..)| deadline)
    }

    // ----- state --------------------------------------------------------

    /// True once [`Event::Closed`] was emitted.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// True when established, with no message queued and no reply awaited.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Ready && self.messages.is_empty() && self.inflight.is_empty()
    }

    /// A snapshot of what is known about the connection.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            greeting: self.greeting.clone(),
            extensions_before_tls: self.pre_tls_ehlo.clone(),
            extensions: self.ehlo.clone(),
            tls: self.tls_info.clone(),
            auth_mechanism: self.auth_used.clone(),
        }
    }

    /// The capabilities of the last EHLO (after TLS when upgraded).
    pub fn extensions(&self) -> Option<&EhloResponse> {
        self.ehlo.as_ref()
    }

    /// The server's greeting, once received.
    pub fn greeting(&self) -> Option<&Reply> {
        self.greeting.as_ref()
    }

    /// The capabilities offered before STARTTLS (forgotten for every
    /// decision after it; kept for reports such as `smtp-send probe`).
    pub fn extensions_before_tls(&self) -> Option<&EhloResponse> {
        self.pre_tls_ehlo.as_ref()
    }

    /// The TLS connection, when there is one.
    pub fn tls_info(&self) -> Option<&TlsInfo> {
        self.tls_info.as_ref()
    }

    /// The SASL mechanism that authenticated the session.
    pub fn auth_mechanism(&self) -> Option<&str> {
        self.auth_used.as_deref()
    }

    // ----- internals: plumbing -----------------------------------------

    fn note(&mut self, direction: Direction, line: String) {
        crate::log::debug!(target: "smtpkit_proto::transcript", ?direction, line = %line);
        if self.config.options.transcript {
            self.events
                .push_back(Event::Transcript(TranscriptEntry { direction, line }));
        }
    }

    fn write(&mut self, command: &Command) {
        command.encode(&mut self.out);
        if self.config.options.transcript || crate::log::debug_enabled!() {
            self.note(Direction::Client, command.redacted());
        }
    }

    fn write_secret_line(&mut self, base64: &str) {
        self.out.extend_from_slice(base64.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.note(Direction::Client, "[redacted]".into());
    }

    fn expect(&mut self, awaiting: Awaiting) {
        self.inflight.push_back(Pending {
            awaiting,
            sent_at: None,
        });
    }

    /// Moves staged plaintext into the transmit buffer, through TLS when up.
    fn flush(&mut self) {
        match self.tls.as_mut() {
            Some(tls) => {
                let mut result = Ok(());
                if !self.out.is_empty() && !tls.is_handshaking() {
                    result = tls.write_plaintext(&self.out);
                    self.out.clear();
                }
                tls.write_tls(&mut self.transmit);
                if let Err(e) = result {
                    self.fail(SessionError::Tls(e));
                }
            }
            None => {
                if self.transmit.is_empty() {
                    std::mem::swap(&mut self.transmit, &mut self.out);
                } else {
                    self.transmit.append(&mut self.out);
                }
            }
        }
    }

    fn deadline(&self) -> Option<(Instant, Awaiting, Duration)> {
        let t = &self.config.options.timeouts;
        if self.phase == Phase::Closed {
            return None;
        }
        if self.phase == Phase::Handshake
            && self
                .inflight
                .iter()
                .all(|p| p.awaiting != Awaiting::Greeting)
        {
            let started = self.handshake_started?;
            return Some((
                started.checked_add(t.command)?,
                Awaiting::StartTls,
                t.command,
            ));
        }
        let front = self.inflight.front()?;
        let sent_at = front.sent_at?;
        let timeout = match front.awaiting {
            Awaiting::Greeting => t.greeting,
            Awaiting::Mail(_) => t.mail,
            Awaiting::Rcpt(..) => t.rcpt,
            Awaiting::Data(_) => t.data_init,
            Awaiting::EndOfData(_) | Awaiting::Bdat { .. } => t.data_term,
            Awaiting::Quit => t.quit,
            _ => t.command,
        };
        Some((
            sent_at.max(self.last_reply_at) + timeout,
            front.awaiting,
            timeout,
        ))
    }

    fn require_idle(&self) -> Result<(), UsageError> {
        match self.phase {
            Phase::Closed => Err(UsageError::Closed),
            _ if self.quit_requested => Err(UsageError::Quitting),
            _ if !self.is_idle() => Err(UsageError::Busy),
            _ => Ok(()),
        }
    }

    fn pipelining(&self) -> bool {
        self.config.options.pipelining && self.has(&Extension::Pipelining)
    }

    fn has(&self, extension: &Extension) -> bool {
        self.ehlo.as_ref().is_some_and(|e| e.has(extension))
    }

    fn tls_up(&self) -> bool {
        self.tls.is_some() && self.tls_info.is_some()
    }

    // ----- internals: connection setup ----------------------------------

    fn start_tls(&mut self, now: Instant) {
        let connector = match &self.config.tls {
            Some(c) => Arc::clone(c),
            None => {
                return self.fail(SessionError::StartTlsUnavailable(
                    "no TLS connector is configured",
                ));
            }
        };
        match connector.connect(&self.config.server_name) {
            Ok(layer) => {
                self.tls = Some(layer);
                self.phase = Phase::Handshake;
                self.handshake_started = Some(now);
                self.note(Direction::Info, "TLS handshake started".into());
                self.flush();
            }
            Err(e) => self.fail(SessionError::Tls(e)),
        }
    }

    fn handshake_done(&mut self, _now: Instant) {
        let info = self.tls.as_ref().map(|t| t.info()).unwrap_or_default();
        self.note(
            Direction::Info,
            format!(
                "TLS established: {} {}{}",
                info.version.as_deref().unwrap_or("?"),
                info.cipher_suite.as_deref().unwrap_or("?"),
                if info.verified {
                    ", certificate verified"
                } else {
                    ", certificate NOT verified"
                }
            ),
        );
        self.tls_info = Some(info);
        self.handshake_started = None;
        if self.greeting.is_some() {
            // STARTTLS: everything learned before TLS is forgotten.
            self.pre_tls_ehlo = self.ehlo.take();
            self.send_greeting_reply();
        } else {
            self.phase = Phase::Greeting;
        }
    }

    fn send_greeting_reply(&mut self) {
        let name = self.config.local_name.clone();
        if self.config.lmtp {
            self.write(&Command::Lhlo(name));
            self.expect(Awaiting::Ehlo);
            self.phase = Phase::Ehlo;
        } else if self.config.options.use_ehlo {
            self.write(&Command::Ehlo(name));
            self.expect(Awaiting::Ehlo);
            self.phase = Phase::Ehlo;
        } else {
            self.write(&Command::Helo(name));
            self.expect(Awaiting::Helo);
            self.phase = Phase::Helo;
        }
    }

    fn after_ehlo(&mut self) {
        let tls_active = self.tls.is_some();
        if !tls_active && self.config.starttls != StartTlsPolicy::Never {
            let required = self.config.starttls == StartTlsPolicy::Required;
            if self.has(&Extension::StartTls) && self.config.tls.is_some() {
                self.write(&Command::StartTls);
                self.expect(Awaiting::StartTls);
                self.phase = Phase::StartTls;
                return;
            }
            if required {
                let why = if self.config.tls.is_none() {
                    "no TLS connector is configured"
                } else if self.config.authenticator.is_some() {
                    "the server does not offer it (credentials never cross a connection \
                     without TLS unless TLS is turned off explicitly)"
                } else {
                    "the server does not offer it"
                };
                return self.fail_with_quit(SessionError::StartTlsUnavailable(why));
            }
        }
        if let (Some(authenticator), None) = (self.config.authenticator.clone(), &self.auth_used) {
            let offered = self
                .ehlo
                .as_ref()
                .map(|e| e.auth_mechanisms().to_vec())
                .unwrap_or_default();
            if offered.is_empty() {
                return self.fail_with_quit(SessionError::Auth(AuthError::NotOffered));
            }
            let binding = self.tls.as_ref().and_then(|tls| tls.channel_binding());
            let started = authenticator
                .start_with_binding(&offered, tls_active, binding.as_ref())
                .map_err(AuthError::from)
                .and_then(|mut mech| {
                    let initial =
                        mech.initial_response()
                            .map_err(|error| AuthError::Mechanism {
                                mechanism: mech.name().to_owned(),
                                error,
                            })?;
                    Ok((mech, initial))
                });
            let (mech, initial) = match started {
                Ok(x) => x,
                Err(e) => return self.fail_with_quit(SessionError::Auth(e)),
            };
            let mechanism = match Mechanism::new(mech.name()) {
                Ok(m) => m,
                Err(e) => {
                    return self.fail_with_quit(SessionError::Auth(AuthError::Mechanism {
                        mechanism: mech.name().to_owned(),
                        error: SaslError::Credentials(e.to_string()),
                    }));
                }
            };
            let encoded = initial.as_ref().map(|i| {
                if i.is_empty() {
                    "=".to_owned()
                } else {
                    BASE64.encode(i)
                }
            });
            let fits = encoded
                .as_ref()
                .is_none_or(|e| 6 + mechanism.as_str().len() + e.len() <= MAX_AUTH_LINE);
            let initial_response = match (&encoded, fits) {
                (Some(e), true) => InitialResponse::new(e.clone()).ok(),
                _ => None,
            };
            if !fits {
                self.deferred_initial = initial;
            }
            self.note(
                Direction::Info,
                format!("authenticating with {}", mechanism.as_str()),
            );
            self.write(&Command::Auth {
                mechanism,
                initial_response,
            });
            self.expect(Awaiting::Auth);
            self.sasl = Some(mech);
            self.phase = Phase::Auth;
            return;
        }
        self.become_ready();
    }

    fn become_ready(&mut self) {
        self.phase = Phase::Ready;
        let greeting = self
            .greeting
            .clone()
            .unwrap_or_else(|| Reply::empty(ReplyCode::SERVICE_READY));
        self.events.push_back(Event::Ready {
            greeting,
            extensions: self.ehlo.clone(),
            tls: self.tls_info.clone(),
            auth: self.auth_used.clone(),
        });
        self.pump();
    }

    fn on_auth_reply(&mut self, reply: Reply) {
        let Some(mech) = self.sasl.as_mut() else {
            return self.fail(SessionError::UnexpectedReply(reply));
        };
        let name = mech.name().to_owned();
        match reply.code().get() {
            // A server that never stops challenging must not keep the
            // session going forever: no mechanism needs more than a few.
            334 if self.auth_rounds >= MAX_AUTH_ROUNDS => {
                self.out.extend_from_slice(b"*\r\n");
                self.note(Direction::Client, "*".into());
                self.fail_with_quit(SessionError::Auth(AuthError::Mechanism {
                    mechanism: name,
                    error: SaslError::UnexpectedStep("too many AUTH challenges"),
                }));
            }
            334 => {
                self.auth_rounds += 1;
                let response = if let Some(initial) = self.deferred_initial.take() {
                    Ok(initial)
                } else {
                    let text = reply
                        .lines()
                        .first()
                        .map(String::as_str)
                        .unwrap_or_default();
                    BASE64
                        .decode(text.trim())
                        .map_err(|_| SaslError::BadChallenge("not base64".into()))
                        .and_then(|challenge| mech.respond(&challenge))
                        .map_err(|error| AuthError::Mechanism {
                            mechanism: name.clone(),
                            error,
                        })
                };
                match response {
                    Ok(bytes) => {
                        let line = BASE64.encode(bytes);
                        self.write_secret_line(&line);
                        self.expect(Awaiting::Auth);
                    }
                    Err(e) => {
                        // RFC 4954 §4: "*" cancels the exchange.
                        self.out.extend_from_slice(b"*\r\n");
                        self.note(Direction::Client, "*".into());
                        self.fail_with_quit(SessionError::Auth(e));
                    }
                }
            }
            235 => match mech.finish().map_err(|error| AuthError::Mechanism {
                mechanism: name.clone(),
                error,
            }) {
                Ok(()) => {
                    self.note(Direction::Info, format!("authenticated with {name}"));
                    self.auth_used = Some(name);
                    self.sasl = None;
                    self.become_ready();
                }
                Err(e) => self.fail_with_quit(SessionError::Auth(e)),
            },
            _ if mech.carries_bearer_token() && !reply.is_transient() => {
                let error = mech.bearer_error().map(Box::new);
                self.fail_with_quit(SessionError::Auth(AuthError::TokenRefused {
                    mechanism: name,
                    reply,
                    error,
                }))
            }
            _ => self.fail_with_quit(SessionError::Auth(AuthError::Rejected { reply })),
        }
    }

    // ----- internals: replies -------------------------------------------

    fn process_replies(&mut self, now: Instant) {
        while self.phase != Phase::Closed {
            match self.decoder.decode_buf(&mut self.inbuf) {
                Ok(Some(reply)) => self.on_reply(now, reply),
                Ok(None) => break,
                Err(e) => return self.fail(SessionError::Protocol(e)),
            }
        }
    }

    fn on_reply(&mut self, now: Instant, reply: Reply) {
        if self.config.options.transcript || crate::log::debug_enabled!() {
            let wire = reply.to_bytes();
            for line in String::from_utf8_lossy(&wire).split_terminator("\r\n") {
                self.note(Direction::Server, line.to_owned());
            }
        }
        self.last_reply_at = now;
        // A reply to a command not yet written (it came with an earlier
        // reply, or before the greeting's answer was sent) is not an
        // answer: the server is out of step, or hostile.
        if self.inflight.front().is_some_and(|p| p.sent_at.is_none()) {
            return self.fail(SessionError::UnexpectedReply(reply));
        }
        let Some(pending) = self.inflight.pop_front() else {
            return if reply.code() == ReplyCode::SERVICE_UNAVAILABLE {
                self.fail(SessionError::ServiceClosing(reply))
            } else {
                self.fail(SessionError::UnexpectedReply(reply))
            };
        };
        if reply.code() == ReplyCode::SERVICE_UNAVAILABLE && pending.awaiting != Awaiting::Quit {
            return self.fail(SessionError::ServiceClosing(reply));
        }
        // Only DATA (354) and AUTH (334) take an intermediate reply. Taking
        // one as a refusal would let the server steer what follows (a
        // pipelined DATA ended with a lone dot delivers an empty message),
        // so the connection is dropped instead.
        if reply.is_intermediate()
            && !matches!(pending.awaiting, Awaiting::Data(_) | Awaiting::Auth)
            && !self.prdr_start(pending.awaiting, &reply)
        {
            return self.fail(SessionError::UnexpectedReply(reply));
        }
        match pending.awaiting {
            Awaiting::Greeting => {
                if reply.code() == ReplyCode::SERVICE_READY {
                    self.greeting = Some(reply);
                    self.send_greeting_reply();
                } else if self.config.options.quit_on_session_reject {
                    self.fail_with_quit(SessionError::Rejected(reply));
                } else {
                    self.fail(SessionError::Rejected(reply));
                }
            }
            Awaiting::Ehlo => match EhloResponse::from_reply(&reply) {
                Ok(ehlo) => {
                    self.ehlo = Some(ehlo);
                    self.after_ehlo();
                }
                Err(_) if self.config.lmtp => {
                    // LMTP has no HELO.
                    self.fail_with_quit(SessionError::HeloRejected(reply));
                }
                Err(_) => {
                    // JavaMail falls back to HELO whenever EHLO fails.
                    let name = self.config.local_name.clone();
                    self.write(&Command::Helo(name));
                    self.expect(Awaiting::Helo);
                    self.phase = Phase::Helo;
                }
            },
            Awaiting::Helo => {
                if reply.is_positive_completion() {
                    self.ehlo = None;
                    self.after_ehlo();
                } else {
                    self.fail_with_quit(SessionError::HeloRejected(reply));
                }
            }
            Awaiting::StartTls => {
                if reply.code() == ReplyCode::SERVICE_READY {
                    if !self.inbuf.is_empty() {
                        let n = self.inbuf.len();
                        self.inbuf.clear();
                        return self.fail(SessionError::ResponseInjection(n));
                    }
                    self.start_tls(now);
                } else {
                    // Offered, then refused: never a silent fallback to
                    // plaintext (JavaMail fails here too).
                    self.fail_with_quit(SessionError::StartTlsRefused(reply));
                }
            }
            Awaiting::Auth => self.on_auth_reply(reply),
            Awaiting::Mail(id) => self.on_mail_reply(id, reply),
            Awaiting::Rcpt(id, i) => self.on_rcpt_reply(id, i, reply),
            Awaiting::Data(id) => self.on_data_reply(id, reply),
            Awaiting::Bdat { id, last } => {
                if self.on_bdat_reply(id, last, reply) {
                    self.inflight.push_front(pending);
                }
            }
            Awaiting::EndOfData(id) => {
                // LMTP and PRDR: one entry, several replies.
                if self.on_final_reply(id, reply) {
                    self.inflight.push_front(pending);
                }
            }
            Awaiting::Rset { reported } => {
                if reported {
                    self.events.push_back(Event::Reset(reply));
                }
            }
            Awaiting::Liveness => {
                let alive = if self.config.options.noop_strict {
                    reply.code() == ReplyCode::OK
                } else {
                    reply.is_positive_completion()
                };
                self.events.push_back(Event::Liveness { alive, reply });
            }
            Awaiting::Quit => return self.close(None),
        }
        self.pump();
    }

    // ----- internals: transactions --------------------------------------

    /// The message that owns the output stream: the first one not yet
    /// completely written. A message with another RCPTMAX transaction to
    /// go keeps it, so no later message slips in between.
    fn write_head(&self) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| m.stage != Stage::Sent || m.has_more())
    }

    /// Whether the last message written had a body larger than one flight
    /// (`max_buffered`) and its end-of-data reply is still owed: then the
    /// next command waits for that reply instead of riding behind the end
    /// of data. A server that reads the end of data without the commands
    /// behind it answers it at once, and (without TCP_NODELAY, as Postfix's
    /// smtpd and smtp-sink) holds its next replies under Nagle until that
    /// segment is acknowledged, which a client with nothing to send does
    /// after its delayed-ACK timer: 40 ms a message on Linux (a 1 MiB
    /// message went at 23 a second). Sending the next command after the
    /// reply carries the acknowledgement; the round trip it costs is small
    /// beside more than a flight of data. Smaller messages keep riding in
    /// the flight of the previous end of data, where a server reads both
    /// at once. The search covers the messages written and not yet
    /// answered, as [`write_head`](Self::write_head) does.
    fn behind_large_body(&self) -> bool {
        let flight = self.config.options.max_buffered as u64;
        self.messages
            .iter()
            .take_while(|m| m.stage == Stage::Sent && !m.has_more())
            .last()
            .is_some_and(|m| m.pushed > flight)
    }

    fn message_mut(&mut self, id: MessageId) -> Option<&mut Message> {
        self.messages.iter_mut().find(|m| m.id == id)
    }

    /// Starts whatever can be written now: the next message's envelope, or
    /// QUIT once every message is written.
    fn pump(&mut self) {
        if self.phase != Phase::Ready {
            return;
        }
        loop {
            let pipelining = self.pipelining();
            let Some(head) = self.write_head() else {
                break;
            };
            if head.stage != Stage::Queued || (!pipelining && !self.inflight.is_empty()) {
                break;
            }
            if self.behind_large_body() {
                break;
            }
            let id = head.id;
            self.start_transaction(id);
        }
        // Without PIPELINING, QUIT waits for every outstanding reply too
        // (RFC 2920 §3): a strict server drops a client that writes early.
        let may_write =
            (self.pipelining() || self.inflight.is_empty()) && !self.behind_large_body();
        if self.quit_requested && !self.quit_sent && self.write_head().is_none() && may_write {
            self.write(&Command::Quit);
            self.quit_sent = true;
            if self.config.options.quit_wait && !self.quit_no_wait {
                self.expect(Awaiting::Quit);
            } else {
                self.flush();
                self.close(None);
            }
        }
    }

    /// Starts the next transaction of message `id`: checks what it needs
    /// from the server, chooses DATA or BDAT, takes the next recipients
    /// (LIMITS RCPTMAX), and writes MAIL (and, pipelined, the RCPTs and
    /// DATA). A BDAT body waits for the MAIL and RCPT replies unless
    /// `pipeline_first_chunk` says otherwise.
    fn start_transaction(&mut self, id: MessageId) {
        let ehlo = self.ehlo.clone().unwrap_or_default();
        let verified_tls = self.tls_info.as_ref().is_some_and(|i| i.verified) && self.tls_up();
        let config = Arc::clone(&self.config);
        let pipelining = self.pipelining();
        let Some(m) = self.message_mut(id) else {
            return;
        };
        if let Some(kind) = mail::unmet_need(&ehlo, &m.body, &m.envelope, verified_tls) {
            return self.finish_unsent(id, kind);
        }
        let use_bdat = mail::uses_bdat(&ehlo, &config.options, &m.body);
        let declared = mail::declared_body(&ehlo, &m.body);
        m.begin_transaction(&ehlo, &config, declared, use_bdat);
        if m.restart && !m.body.replayable {
            // Unreachable by construction (see finish_transaction), kept as
            // a guard: never ask for a body twice that cannot be replayed.
            return self.finish_unsent(
                id,
                FailureKind::Unsupported {
                    extension: "LIMITS RCPTMAX",
                },
            );
        }
        let mail = Command::Mail {
            from: m.envelope.from.clone(),
            params: mail::parameters(&ehlo, &config.options, m, declared),
        };
        let rcpts: Vec<Command> = m.envelope.recipients[m.range.clone()]
            .iter()
            .map(|r| rcpt_command(Some(&ehlo), &config, r))
            .collect();
        let hold_data = !config.options.send_partial && rcpts.len() > 1;
        // No message octet before the server accepted the transaction
        // (MAIL and at least one RCPT answered 250): a server that does
        // not discard a refused chunk reads its lines as commands.
        let hold_body = use_bdat && !config.options.pipeline_first_chunk;
        let stage = if !pipelining {
            Stage::Envelope
        } else if hold_data || hold_body {
            Stage::AwaitRcpts
        } else if use_bdat {
            Stage::Body
        } else {
            Stage::AwaitData
        };
        m.stage = stage;
        if pipelining {
            m.next_rcpt = rcpts.len();
        }
        self.write_envelope(id, &mail, pipelining.then_some(&rcpts[..]), stage);
    }

    /// Writes MAIL, and with `pipelined` the RCPTs (and DATA when the
    /// stage says it goes with them), expecting a reply to each.
    fn write_envelope(
        &mut self,
        id: MessageId,
        mail: &Command,
        pipelined: Option<&[Command]>,
        stage: Stage,
    ) {
        self.write(mail);
        self.expect(Awaiting::Mail(id));
        let Some(rcpts) = pipelined else { return };
        for (i, rcpt) in rcpts.iter().enumerate() {
            self.write(rcpt);
            self.expect(Awaiting::Rcpt(id, i));
        }
        if stage == Stage::AwaitData {
            self.write(&Command::Data);
            self.expect(Awaiting::Data(id));
        }
    }

    /// Writes the RCPT for recipient `i` of the message's transaction.
    fn write_rcpt(&mut self, id: MessageId, i: usize) {
        let Some(recipient) = self
            .messages
            .iter()
            .find(|m| m.id == id)
            .and_then(|m| m.envelope.recipients.get(m.range.start + i))
            .cloned()
        else {
            return;
        };
        let command = rcpt_command(self.ehlo.as_ref(), &self.config, &recipient);
        self.write(&command);
        self.expect(Awaiting::Rcpt(id, i));
    }

    fn on_mail_reply(&mut self, id: MessageId, reply: Reply) {
        let Some(m) = self.message_mut(id) else {
            return;
        };
        let ok = reply.is_positive_completion();
        m.mail_reply = Some(reply.clone());
        if !ok && m.failure.is_none() {
            m.failure = Some(FailureKind::SenderRejected(reply));
        }
        match m.stage {
            Stage::Envelope if ok => {
                m.next_rcpt = 1;
                self.write_rcpt(id, 0);
            }
            Stage::Envelope => self.abandon_with_rset(id),
            // A BDAT body pipelined before the replies
            // (`pipeline_first_chunk`) may be streaming: stop it at a chunk
            // boundary.
            Stage::Body if !ok => self.abandon_with_rset(id),
            _ => {}
        }
    }

    fn on_rcpt_reply(&mut self, id: MessageId, i: usize, reply: Reply) {
        let send_partial = self.config.options.send_partial;
        let Some(m) = self.message_mut(id) else {
            return;
        };
        m.rcpt_replies.set(i, reply);
        match m.stage {
            Stage::Envelope if m.next_rcpt < m.rcpt_replies.len() => {
                let next = m.next_rcpt;
                m.next_rcpt += 1;
                self.write_rcpt(id, next);
            }
            Stage::Envelope | Stage::AwaitRcpts if m.all_rcpt_replies_in() => {
                let dead =
                    m.failure.is_some() || m.accepted() == 0 || (!send_partial && m.refused() > 0);
                if dead {
                    if m.failure.is_none() {
                        m.failure = Some(FailureKind::RecipientsRejected);
                    }
                    self.abandon_with_rset(id);
                } else if matches!(m.transfer, Some(Transfer::Bdat(_))) {
                    m.stage = Stage::Body;
                } else {
                    m.stage = Stage::AwaitData;
                    self.write(&Command::Data);
                    self.expect(Awaiting::Data(id));
                }
            }
            // BDAT pipelined before the replies (`pipeline_first_chunk`):
            // once every recipient is refused, stop.
            Stage::Body if m.all_rcpt_replies_in() && m.accepted() == 0 => {
                m.failure.get_or_insert(FailureKind::RecipientsRejected);
                self.abandon_with_rset(id);
            }
            _ => {}
        }
    }

    fn on_data_reply(&mut self, id: MessageId, reply: Reply) {
        let send_partial = self.config.options.send_partial;
        let Some(m) = self.message_mut(id) else {
            return;
        };
        if reply.code() == ReplyCode::START_MAIL_INPUT {
            let dead =
                m.failure.is_some() || m.accepted() == 0 || (!send_partial && m.refused() > 0);
            if dead {
                // The server wants content for a transaction that failed:
                // end it empty rather than send the message to anyone.
                m.failure.get_or_insert(FailureKind::RecipientsRejected);
                m.stage = Stage::Sent;
                self.out.extend_from_slice(b".\r\n");
                self.note(Direction::Client, ".".into());
                self.expect(Awaiting::EndOfData(id));
            } else {
                m.stage = Stage::Body;
            }
        } else {
            let kind = if m.failure.is_some() {
                None
            } else if m.accepted() == 0 {
                Some(FailureKind::RecipientsRejected)
            } else {
                Some(FailureKind::MessageRejected(reply))
            };
            if let Some(kind) = kind {
                m.failure = Some(kind);
            }
            self.abandon_with_rset(id);
        }
    }

    fn on_bdat_reply(&mut self, id: MessageId, last: bool, reply: Reply) -> bool {
        let lmtp = self.config.lmtp;
        let Some(m) = self.message_mut(id) else {
            return false;
        };
        // After BDAT LAST, per-recipient replies are each recipient's.
        if last && (m.per_recipient(lmtp) || m.prdr) {
            return self.on_final_reply(id, reply);
        }
        if !reply.is_positive_completion() && m.failure.is_none() {
            m.failure = Some(if m.accepted() == 0 {
                FailureKind::RecipientsRejected
            } else {
                FailureKind::MessageRejected(reply.clone())
            });
            if m.stage == Stage::Body {
                self.abandon_with_rset(id);
                return false;
            }
        }
        last && self.on_final_reply(id, reply)
    }

    /// Whether `reply` is the 353 that starts PRDR's per-recipient replies
    /// for the transaction `awaiting` ends.
    fn prdr_start(&self, awaiting: Awaiting, reply: &Reply) -> bool {
        let id = match awaiting {
            Awaiting::EndOfData(id) | Awaiting::Bdat { id, last: true } => id,
            _ => return false,
        };
        reply.code().get() == 353
            && self
                .messages
                .iter()
                .any(|m| m.id == id && m.prdr && !m.prdr_started)
    }

    /// A reply after the end of data. Returns whether more replies belong
    /// to it: LMTP's one per accepted recipient, PRDR's 353, one per
    /// recipient and a final one.
    fn on_final_reply(&mut self, id: MessageId, reply: Reply) -> bool {
        let lmtp = self.config.lmtp;
        let Some(m) = self.message_mut(id) else {
            return false;
        };
        if m.prdr && !m.prdr_started && reply.code().get() == 353 {
            m.prdr_started = true;
            m.reset_data_replies(m.rcpt_replies.len());
            return true;
        }
        if m.per_recipient(lmtp) {
            if m.data_replies.len() != m.rcpt_replies.len() {
                m.reset_data_replies(m.rcpt_replies.len());
            }
            if let Some(i) = m.next_owed_data_reply() {
                m.data_replies[i] = Some(reply.clone());
                if m.next_owed_data_reply().is_some() || m.prdr_started {
                    // More recipients to hear about, or PRDR's final reply.
                    return true;
                }
            }
            // Every recipient answered (LMTP's last reply is also the
            // message's), or this is PRDR's final reply.
            let any = m
                .data_replies
                .iter()
                .flatten()
                .any(Reply::is_positive_completion);
            if !any && m.failure.is_none() {
                m.failure = Some(FailureKind::RecipientsRejected);
            }
            m.final_reply = Some(reply);
            self.finish_transaction(id);
            return false;
        }
        if !reply.is_positive_completion() && m.failure.is_none() {
            m.failure = Some(FailureKind::MessageRejected(reply.clone()));
        }
        m.final_reply = Some(reply);
        self.finish_transaction(id);
        false
    }

    /// Ends the current transaction with RSET (written now, answered later)
    /// and reports the message.
    fn abandon_with_rset(&mut self, id: MessageId) {
        self.write(&Command::Rset);
        self.expect(Awaiting::Rset { reported: false });
        self.finish_transaction(id);
    }

    fn abandon(&mut self, id: MessageId, kind: FailureKind) {
        if let Some(m) = self.message_mut(id) {
            m.failure = Some(kind);
        }
        self.abandon_with_rset(id);
    }

    fn content_not_allowed(&mut self, id: MessageId, needed: BodyType) {
        let data = self
            .message_mut(id)
            .is_some_and(|m| matches!(m.transfer, Some(Transfer::Data(_))));
        if data {
            self.fail(SessionError::ContentNotAllowed(needed));
        } else {
            self.abandon(id, FailureKind::ContentNotAllowed { needed });
            self.flush();
        }
    }

    /// Records the transaction's recipient outcomes; starts the next
    /// RCPTMAX transaction or reports the message.
    fn finish_transaction(&mut self, id: MessageId) {
        let Some(index) = self.messages.iter().position(|m| m.id == id) else {
            return;
        };
        let m = &mut self.messages[index];
        let delivered = m.failure.is_none();
        // After a refused MAIL, pipelined RCPTs are answered "503 need
        // MAIL": that says nothing about the recipients, who were simply
        // not tried.
        let sender_refused = matches!(m.failure, Some(FailureKind::SenderRejected(_)));
        let per_recipient = m.data_replies.iter().any(Option::is_some);
        for (i, reply) in m.rcpt_replies.replies.iter().enumerate() {
            // LMTP, PRDR: the reply after the data decides.
            let data_reply = m.data_replies.get(i).cloned().flatten();
            if let (true, Some(d), false) = (per_recipient, data_reply, sender_refused) {
                m.statuses[m.range.start + i] = Some(if d.is_positive_completion() {
                    RecipientStatus::Delivered(d)
                } else {
                    RecipientStatus::Rejected(d)
                });
                continue;
            }
            let status = match reply {
                _ if sender_refused => RecipientStatus::Unsent(UnsentReason::TransactionFailed),
                Some(r) if !r.is_positive_completion() => RecipientStatus::Rejected(r.clone()),
                Some(r) if delivered => RecipientStatus::Delivered(r.clone()),
                Some(r) => RecipientStatus::AcceptedUnsent(r.clone()),
                None => RecipientStatus::Unsent(UnsentReason::TransactionFailed),
            };
            m.statuses[m.range.start + i] = Some(status);
        }
        let more = m.range.end < m.envelope.recipients.len();
        if more && m.body.replayable && !sender_refused {
            m.stage = Stage::Queued;
            // Keep it at the write head: move it before any later message
            // is not needed, as later messages wait behind it.
            return;
        }
        let Some(m) = self.messages.remove(index) else {
            return;
        };
        let reason = if more && !m.body.replayable {
            UnsentReason::RcptMax
        } else {
            UnsentReason::TransactionFailed
        };
        let kind = m.failure.clone();
        self.report(m, reason, kind);
    }

    fn finish_unsent(&mut self, id: MessageId, kind: FailureKind) {
        if let Some(index) = self.messages.iter().position(|m| m.id == id)
            && let Some(m) = self.messages.remove(index)
        {
            self.report(m, UnsentReason::TransactionFailed, Some(kind));
        }
    }

    fn report_unsent(&mut self, m: Message, reason: UnsentReason, kind: FailureKind) {
        self.report(m, reason, Some(kind));
    }

    fn report(&mut self, m: Message, unsent: UnsentReason, kind: Option<FailureKind>) {
        let recipients: Vec<RecipientReport> = m
            .envelope
            .recipients
            .iter()
            .zip(m.statuses)
            .map(|(r, status)| RecipientReport {
                address: r.address.clone(),
                status: status.unwrap_or(RecipientStatus::Unsent(unsent)),
            })
            .collect();
        // A 421 that ended the connection is the reply that decided this
        // message, when no later one did.
        let closing = match &kind {
            Some(FailureKind::ConnectionLost { reply, .. }) => reply.clone(),
            _ => None,
        };
        let any_delivered = recipients
            .iter()
            .any(|r| matches!(r.status, RecipientStatus::Delivered(_)));
        let failure = match kind {
            Some(kind) => Some(kind),
            None if !any_delivered => Some(FailureKind::RecipientsRejected),
            None => None,
        };
        let report = DeliveryReport {
            id: m.id,
            recipients,
            reply: m.final_reply.or(closing),
            transactions: m.transactions,
            failure,
        };
        self.events.push_back(Event::Message { id: m.id, report });
    }

    // ----- internals: closing -------------------------------------------

    fn fail_with_quit(&mut self, error: SessionError) {
        // Without PIPELINING a QUIT behind an unanswered command would be
        // written early; then the connection is just closed.
        if !self.quit_sent && (self.pipelining() || self.inflight.is_empty()) {
            self.write(&Command::Quit);
            self.quit_sent = true;
        }
        self.flush();
        self.fail(error);
    }

    fn fail(&mut self, error: SessionError) {
        if self.phase == Phase::Closed {
            return;
        }
        crate::log::debug!(target: "smtpkit_proto::session", %error, "session failed");
        let closing_reply = match &error {
            SessionError::ServiceClosing(r) => Some(r.clone()),
            _ => None,
        };
        self.report_all_lost(closing_reply);
        self.finish_close(Some(error));
    }

    /// Reports every unfinished message as lost with the connection.
    fn report_all_lost(&mut self, reply: Option<Reply>) {
        // Before the session was ready (greeting, EHLO, TLS, AUTH) no
        // message command was written.
        if self.phase != Phase::Ready {
            for m in std::mem::take(&mut self.messages) {
                self.report_unsent(m, UnsentReason::NotConnected, FailureKind::NotConnected);
            }
            return;
        }
        for mut m in std::mem::take(&mut self.messages) {
            // Recipients already answered after the data keep that answer.
            m.settle_known();
            // A 421 answers the oldest command still awaiting a reply, and
            // the server processes nothing after it: no unfinished message
            // can have been delivered, even with its end of data written.
            let data_sent = m.stage == Stage::Sent && reply.is_none();
            self.report_unsent(
                m,
                UnsentReason::ConnectionLost,
                FailureKind::ConnectionLost {
                    data_sent,
                    reply: reply.clone(),
                },
            );
        }
    }

    fn close(&mut self, error: Option<SessionError>) {
        if self.phase == Phase::Closed {
            return;
        }
        self.report_all_lost(None);
        if let Some(tls) = self.tls.as_mut() {
            tls.send_close_notify();
        }
        self.finish_close(error);
    }

    fn finish_close(&mut self, error: Option<SessionError>) {
        if let (Some(tls), false) = (self.tls.as_mut(), self.out.is_empty()) {
            if !tls.is_handshaking() {
                let _ = tls.write_plaintext(&self.out);
            }
            self.out.clear();
            tls.write_tls(&mut self.transmit);
        } else if self.tls.is_none() {
            self.transmit.append(&mut self.out);
        }
        self.phase = Phase::Closed;
        self.inflight.clear();
        self.events.push_back(Event::Closed(error));
    }
}

/// The mutable write head; see [`Session::write_head`].
fn head_mut(messages: &mut VecDeque<Message>) -> Option<&mut Message> {
    messages
        .iter_mut()
        .find(|m| m.stage != Stage::Sent || m.has_more())
}

/// Feeds ciphertext through the TLS layer, collecting plaintext.
fn decrypt(
    tls: &mut dyn TlsLayer,
    mut data: &[u8],
    plaintext: &mut Vec<u8>,
) -> Result<(), TlsError> {
    while !data.is_empty() {
        let taken = tls.read_tls(data)?;
        tls.read_plaintext(plaintext)?;
        if taken == 0 {
            return Err(TlsError::new(
                TlsErrorKind::Protocol,
                "the TLS layer stopped taking input",
            ));
        }
        data = &data[taken..];
    }
    tls.read_plaintext(plaintext)
}

/// The RCPT command for one recipient, with DSN options only when the
/// server offers DSN.
fn rcpt_command(ehlo: Option<&EhloResponse>, config: &SessionConfig, r: &Recipient) -> Command {
    let dsn = ehlo.is_some_and(|e| e.has(&Extension::Dsn));
    Command::Rcpt {
        to: ForwardPath::Mailbox(r.address.clone()),
        params: RcptParameters {
            notify: if dsn {
                r.notify.or(config.options.dsn_notify)
            } else {
                None
            },
            orcpt: r.orcpt.clone().filter(|_| dsn),
            extra: Vec::new(),
        },
    }
}

const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Session>();
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn reply(code: u16) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), None, vec!["x".into()]).unwrap()
    }

    #[test]
    fn rcpt_replies_keep_their_counts() {
        let mut replies = RcptReplies::new(3);
        replies.set(0, reply(250));
        replies.set(1, reply(550));
        assert_eq!((replies.answered, replies.accepted), (2, 1));
        // A slot answered again (never by a correct server) is not
        // counted twice, and its verdict follows the new reply.
        replies.set(0, reply(450));
        assert_eq!((replies.answered, replies.accepted), (2, 0));
        replies.set(7, reply(250));
        assert_eq!((replies.answered, replies.accepted), (2, 0));
        replies.set(2, reply(251));
        assert_eq!(
            (replies.answered, replies.accepted, replies.len()),
            (3, 1, 3)
        );
    }
}
