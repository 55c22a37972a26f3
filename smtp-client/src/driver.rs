//! The one client driver: a sans-IO object that owns the [`Session`], the
//! message bodies' bookkeeping, the write buffer, the proxy handshake and
//! the results, and tells the I/O loop what to do next (h11's
//! `next_event`, rustls' `complete_io`). Every client (blocking, async on
//! any runtime) is a loop that performs the [`Action`] it is given and
//! reports back; it makes no decision of its own.
//!
//! ```text
//! loop {
//!     match driver.next_action(now) {
//!         Action::Write { bytes, deadline }  => driver.on_written(now, write_all(bytes, deadline)),
//!         Action::ReadBody { slot, max }     => driver.on_body(slot, bodies[slot].read(&mut buf[..max])),
//!         Action::RewindBody { slot }        => driver.on_rewound(slot, bodies[slot].rewind()),
//!         Action::Read { deadline }          => driver.on_read(now, socket.read(&mut buf, deadline)),
//!         Action::Done                       => break,
//!     }
//! }
//! ```
//!
//! A read or write that gives up at its deadline reports an error of kind
//! [`io::ErrorKind::TimedOut`] (or `WouldBlock`, as a socket timeout does);
//! `Interrupted` is retried. Everything else about errors is decided here.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtpkit_proto::proxy::{ProxyHandshake, ProxyStatus};
use smtpkit_proto::{
    BodyInfo, BodyInspector, BodyPiece, DeliveryReport, Envelope, Event, FailureKind,
    InspectedBody, MessageId, Session, SessionConfig, SessionError, SessionInfo, UsageError,
};

use crate::error::{Error, TranscriptHook, timed_out};

/// The largest body read the driver asks for at once.
pub const BODY_READ_MAX: usize = 64 * 1024;

/// Where the next at most `max` octets of a body held in memory lie,
/// given its length and the read position.
fn in_memory_chunk(len: usize, position: u64, max: usize) -> std::ops::Range<usize> {
    let start = usize::try_from(position).map_or(len, |p| p.min(len));
    start..start + max.min(len - start)
}

/// A body held in memory, inspected once, with a read position: the I/O
/// loops hand its [`next_piece`](Self::next_piece) to
/// [`Driver::on_body_piece`] as it is, so its octets are neither copied
/// into a read buffer nor, when the inspection proved them wire-ready,
/// scanned a second time by the encoder.
#[derive(Debug, Clone)]
pub struct MemoryBody<B> {
    body: InspectedBody<B>,
    position: usize,
}

impl<B: AsRef<[u8]>> MemoryBody<B> {
    /// Inspects `bytes` (one pass) and starts at its first octet.
    pub fn new(bytes: B) -> Self {
        MemoryBody {
            body: InspectedBody::new(bytes),
            position: 0,
        }
    }

    /// `bytes` with this body's inspection when they are the very same
    /// octets ([`InspectedBody::share`]), from the first one.
    ///
    /// # Errors
    /// `bytes`, given back, when they are other octets.
    pub fn share(&self, bytes: B) -> Result<MemoryBody<B>, B> {
        self.body
            .share(bytes)
            .map(|body| MemoryBody { body, position: 0 })
    }

    /// What MAIL FROM needs to know about it.
    pub fn info(&self) -> BodyInfo {
        BodyInfo::from_report(self.body.report())
    }

    /// The next at most `max` octets (empty at the end), and moves past them.
    pub fn next_piece(&mut self, max: usize) -> BodyPiece<'_> {
        let range = in_memory_chunk(self.body.bytes().len(), self.position as u64, max);
        self.position = range.end;
        self.body.piece(range)
    }

    /// The whole body.
    pub fn bytes(&self) -> &[u8] {
        self.body.bytes()
    }

    /// Moves the read position to `at` (the end when past it).
    pub fn seek(&mut self, at: u64) {
        self.position = usize::try_from(at)
            .map_or(usize::MAX, |at| at)
            .min(self.body.bytes().len());
    }
}

/// What the I/O loop must do next. Exhaustive on purpose: a loop matches
/// every variant, so a new one cannot compile into a silent catch-all.
#[derive(Debug)]
pub enum Action<'a> {
    /// Write all of `bytes` in one write (a pipelined flight must not be
    /// split), giving up at `deadline`; then call
    /// [`on_written`](Driver::on_written).
    Write {
        /// The flight.
        bytes: &'a [u8],
        /// When to give up (`mail.smtp.writetimeout`).
        deadline: Option<Instant>,
    },
    /// Read at most `max` octets of body `slot` (the index of the message
    /// in the batch given to [`start_send`](Driver::start_send)); then call
    /// [`on_body`](Driver::on_body), with an empty chunk at its end.
    ReadBody {
        /// Which body.
        slot: usize,
        /// At most this many octets.
        max: usize,
    },
    /// Go back to the first octet of body `slot`; then call
    /// [`on_rewound`](Driver::on_rewound).
    RewindBody {
        /// Which body.
        slot: usize,
    },
    /// Wait for bytes from the server, giving up at `deadline`; then call
    /// [`on_read`](Driver::on_read).
    Read {
        /// When to give up.
        deadline: Option<Instant>,
    },
    /// The operation is complete: collect its result.
    Done,
}

/// How a body is known before it is sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BodyPlan {
    /// Inspected already (bytes in memory: [`BodyInfo::of_bytes`]).
    Known(BodyInfo),
    /// Read once to learn its size and type, rewound, then sent: files.
    /// It can be sent again when LIMITS RCPTMAX splits the recipients.
    Inspect,
    /// Streamed once, its type checked on the way.
    Streamed,
}

/// Timeouts of the I/O around the session (its reply deadlines are the
/// session's own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoTimeouts {
    /// Each flight must be written within this (`mail.smtp.writetimeout`).
    pub write: Option<Duration>,
    /// The proxy handshake must finish within this.
    pub proxy: Option<Duration>,
}

impl IoTimeouts {
    /// Write and proxy timeouts.
    pub fn new(write: Option<Duration>, proxy: Option<Duration>) -> IoTimeouts {
        IoTimeouts { write, proxy }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Being read through an inspector before it is queued.
    Inspecting,
    /// Inspected; to be rewound before it is queued.
    NeedsRewind,
    /// Waiting for the messages before it to be queued.
    Waiting,
    /// Queued in the session.
    Queued,
    /// Queued, and rewound for a restart the session asked for.
    Rewound,
    /// Failed before it was queued, or finished.
    Finished,
}

struct Slot {
    state: SlotState,
    envelope: Option<Envelope>,
    info: Option<BodyInfo>,
    inspector: Option<BodyInspector>,
    result: Option<Result<MessageId, Error>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Idle,
    Establish,
    Send,
    /// Waiting for the replies still owed, then the liveness check.
    LivenessWaitIdle,
    LivenessWaitAnswer,
    Close,
}

enum Link {
    /// The proxy tunnel is being opened; the session starts after it.
    Proxy {
        handshake: ProxyHandshake,
        deadline: Option<Instant>,
        config: Arc<SessionConfig>,
    },
    Session(Box<Session>),
    /// The proxy failed; nothing else will happen.
    Failed,
}

/// The sans-IO client. An I/O loop asks [`next_action`](Driver::next_action),
/// performs the [`Action`] and reports back (`on_written`, `on_read`,
/// `on_body`, `on_rewound`) until [`Action::Done`]; the crate docs show one
/// in virtual time.
pub struct Driver {
    link: Link,
    timeouts: IoTimeouts,
    write_buf: Vec<u8>,
    write_deadline: Option<Option<Instant>>,
    op: Op,
    slots: Vec<Slot>,
    next_to_queue: usize,
    /// The queued messages' ids and slots, in id order (the session
    /// numbers messages in the order they are queued).
    queued: Vec<(MessageId, usize)>,
    /// Slots of this batch whose outcome is not in yet.
    pending: usize,
    outcomes: HashMap<MessageId, DeliveryReport>,
    body_errors: HashMap<MessageId, io::Error>,
    liveness: Option<bool>,
    ready: bool,
    closed: Option<Option<SessionError>>,
    /// The I/O or proxy error that ended the connection.
    link_error: Option<Error>,
    info: SessionInfo,
    transcript: Option<TranscriptHook>,
    /// `mail.smtp.from`: the sender of message-level sends.
    message: crate::message::MessageOptions,
    /// Messages handed to this connection.
    messages: u64,
    /// The buffers [`Driver::next_io`] lends the I/O loop (allocated on
    /// first use: a caller of [`Driver::next_action`] needs neither).
    read_buf: Vec<u8>,
    body_buf: Vec<u8>,
}

/// [`Action`] without the borrow of the flight, so that
/// [`Driver::next_io`] can go on using the driver after a body action.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    Write(Option<Instant>),
    ReadBody(usize, usize),
    RewindBody(usize),
    Read(Option<Instant>),
    Done,
}

/// The size of the buffer the I/O loop reads server bytes into.
const READ_BUF_LEN: usize = 64 * 1024;

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("op", &self.op)
            .field("ready", &self.ready)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver for a connection established at `now`. With `proxy`, its
    /// handshake runs first (within `timeouts.proxy`) and the session
    /// starts on the tunnel. `already_read` are octets of the SMTP stream
    /// that arrived with the connection's setup. Drive the returned driver
    /// until [`Action::Done`], then check [`establish_result`](Self::establish_result).
    pub fn new(
        config: Arc<SessionConfig>,
        proxy: Option<ProxyHandshake>,
        timeouts: IoTimeouts,
        transcript: Option<TranscriptHook>,
        already_read: &[u8],
        now: Instant,
    ) -> Driver {
        let link = match proxy {
            Some(handshake) => Link::Proxy {
                handshake,
                deadline: timeouts.proxy.map(|t| now + t),
                config,
            },
            None => Link::Session(Box::new(Session::new(config, now))),
        };
        let mut driver = Driver {
            link,
            timeouts,
            write_buf: Vec::new(),
            write_deadline: None,
            op: Op::Establish,
            slots: Vec::new(),
            next_to_queue: 0,
            queued: Vec::new(),
            pending: 0,
            outcomes: HashMap::new(),
            body_errors: HashMap::new(),
            liveness: None,
            ready: false,
            closed: None,
            link_error: None,
            info: SessionInfo::default(),
            transcript,
            message: crate::message::MessageOptions::default(),
            messages: 0,
            read_buf: Vec::new(),
            body_buf: Vec::new(),
        };
        if !already_read.is_empty() {
            driver.on_read(now, Ok(already_read));
        }
        driver
    }

    // ----- operations ---------------------------------------------------

    /// After the start-up ran to [`Action::Done`]: the session is ready,
    /// or why it is not.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Proxy`] or [`Error::Session`].
    pub fn establish_result(&mut self) -> Result<(), Error> {
        self.op = Op::Idle;
        if self.ready && self.closed.is_none() {
            return Ok(());
        }
        if let Some(e) = self.link_error.take() {
            return Err(e);
        }
        // `closed` stays recorded: a close or liveness check started after
        // a failed start-up must find the session ended, not wait for it.
        Err(Error::Session(self.closed.clone().flatten().unwrap_or(
            SessionError::ConnectionClosed {
                while_waiting: true,
            },
        )))
    }

    /// Starts sending `messages` in one pipelined stream; the body of
    /// message `i` is slot `i` of [`Action::ReadBody`]. Drive to
    /// [`Action::Done`], then call [`finish_send`](Self::finish_send).
    pub fn start_send(&mut self, messages: impl IntoIterator<Item = (Envelope, BodyPlan)>) {
        self.slots.clear();
        self.queued.clear();
        self.next_to_queue = 0;
        self.outcomes.clear();
        self.body_errors.clear();
        for (envelope, plan) in messages {
            let (state, info, inspector) = match plan {
                BodyPlan::Known(info) => (SlotState::Waiting, Some(info), None),
                BodyPlan::Streamed => (SlotState::Waiting, Some(BodyInfo::streamed()), None),
                BodyPlan::Inspect => (
                    SlotState::Inspecting,
                    None,
                    Some(BodyInspector::for_envelope()),
                ),
            };
            self.slots.push(Slot {
                state,
                envelope: Some(envelope),
                info,
                inspector,
                result: None,
            });
        }
        self.pending = self.slots.len();
        self.messages += self.slots.len() as u64;
        self.op = Op::Send;
        self.queue_ready();
    }

    /// The outcomes of [`start_send`](Self::start_send)'s messages, in
    /// order.
    pub fn finish_send(&mut self) -> Vec<Result<DeliveryReport, Error>> {
        self.op = Op::Idle;
        let cause = self.closed.clone().flatten();
        let mut link_error = self.link_error.take();
        let slots = std::mem::take(&mut self.slots);
        slots
            .into_iter()
            .map(|slot| {
                let id = match slot.result {
                    Some(Ok(id)) => id,
                    Some(Err(e)) => return Err(e),
                    None => return Err(self.lost(&mut link_error)),
                };
                if let Some(e) = self.body_errors.remove(&id) {
                    return Err(Error::Body(e));
                }
                match self.outcomes.remove(&id) {
                    // The connection failed under the message: an error,
                    // with the report. Anything else completed.
                    Some(report)
                        if matches!(
                            report.failure,
                            Some(FailureKind::ConnectionLost { .. } | FailureKind::NotConnected)
                        ) =>
                    {
                        let cause = cause
                            .clone()
                            .map(Error::Session)
                            .or_else(|| link_error.take());
                        Err(Error::Send {
                            report: Box::new(report),
                            cause: cause.map(Box::new),
                        })
                    }
                    Some(report) => Ok(report),
                    None => Err(self.lost(&mut link_error)),
                }
            })
            .collect()
    }

    /// The error for a message that got no outcome: the I/O error once,
    /// then the session's.
    fn lost(&self, link_error: &mut Option<Error>) -> Error {
        link_error.take().unwrap_or_else(|| {
            Error::Session(self.closed.clone().flatten().unwrap_or(
                SessionError::ConnectionClosed {
                    while_waiting: true,
                },
            ))
        })
    }

    /// Starts a liveness check (NOOP, or RSET with `mail.smtp.userset`),
    /// after any replies still owed. Drive to [`Action::Done`], then call
    /// [`finish_liveness`](Self::finish_liveness).
    pub fn start_liveness(&mut self) {
        self.liveness = None;
        self.op = Op::LivenessWaitIdle;
    }

    /// Whether the connection answered the check as alive.
    pub fn finish_liveness(&mut self) -> bool {
        self.op = Op::Idle;
        self.link_error = None;
        self.liveness.take().unwrap_or(false) && self.closed.is_none()
    }

    /// How many messages this connection was given to send.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// The server's LIMITS MAILMAX (most transactions per connection).
    pub fn mail_max(&self) -> Option<u32> {
        self.info
            .extensions
            .as_ref()
            .and_then(|e| e.limits())
            .and_then(|l| l.mail_max)
    }

    /// Starts QUIT without waiting for its reply (a pool retiring an idle
    /// connection). Drive to [`Action::Done`], then call
    /// [`finish_close`](Self::finish_close).
    pub fn start_quit_without_waiting(&mut self) {
        if let Link::Session(session) = &mut self.link {
            session.quit_without_waiting();
        }
        self.op = Op::Close;
    }

    /// Starts QUIT (waiting for its reply with `mail.smtp.quitwait`).
    /// Drive to [`Action::Done`], then call [`finish_close`](Self::finish_close).
    pub fn start_close(&mut self) {
        if let Link::Session(session) = &mut self.link {
            session.quit();
        }
        self.op = Op::Close;
    }

    /// The I/O error that interrupted the QUIT exchange, if any.
    ///
    /// # Errors
    /// [`Error::Io`] when the connection failed on the way.
    pub fn finish_close(&mut self) -> Result<(), Error> {
        self.op = Op::Idle;
        match self.link_error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    // ----- state --------------------------------------------------------

    /// What message-level sends on this connection use besides the
    /// message: `mail.smtp.from`, the header completion, the inputs.
    pub fn set_message_options(&mut self, options: crate::message::MessageOptions) {
        self.message = options;
    }

    /// See [`set_message_options`](Self::set_message_options).
    pub fn message_options(&self) -> &crate::message::MessageOptions {
        &self.message
    }

    /// What is known about the connection: complete once established;
    /// after a failed start-up, as far as it got.
    pub fn info(&self) -> &SessionInfo {
        &self.info
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        match &self.link {
            Link::Session(session) => session.is_closed(),
            Link::Proxy { .. } => false,
            Link::Failed => true,
        }
    }

    /// The session, once the proxy (if any) is through.
    pub fn session(&self) -> Option<&Session> {
        match &self.link {
            Link::Session(session) => Some(session),
            _ => None,
        }
    }

    // ----- the loop's side -----------------------------------------------

    /// What the I/O loop must do next. `now` is the runtime's clock.
    pub fn next_action(&mut self, now: Instant) -> Action<'_> {
        match self.poll_action(now) {
            Step::Write(deadline) => Action::Write {
                bytes: &self.write_buf,
                deadline,
            },
            Step::ReadBody(slot, max) => Action::ReadBody { slot, max },
            Step::RewindBody(slot) => Action::RewindBody { slot },
            Step::Read(deadline) => Action::Read { deadline },
            Step::Done => Action::Done,
        }
    }

    /// The flight of the last [`Step::Write`].
    pub(crate) fn flight(&self) -> &[u8] {
        &self.write_buf
    }

    /// The buffer the loop reads server bytes into.
    pub(crate) fn read_buf_vec(&mut self) -> &mut Vec<u8> {
        if self.read_buf.is_empty() {
            self.read_buf = vec![0; READ_BUF_LEN];
        }
        &mut self.read_buf
    }

    /// The buffer the loop reads a caller's body into.
    pub(crate) fn body_buf_vec(&mut self) -> &mut Vec<u8> {
        if self.body_buf.is_empty() {
            self.body_buf = vec![0; BODY_READ_MAX];
        }
        &mut self.body_buf
    }

    /// [`next_action`](Self::next_action) without the borrow.
    pub(crate) fn poll_action(&mut self, now: Instant) -> Step {
        loop {
            if let Some(deadline) = self.write_deadline {
                return Step::Write(deadline);
            }
            match &mut self.link {
                Link::Failed => return Step::Done,
                Link::Proxy {
                    handshake,
                    deadline,
                    ..
                } => {
                    if let Some(out) = handshake.poll_transmit() {
                        self.write_buf = out;
                        self.write_deadline = Some(self.timeouts.write.map(|t| now + t));
                        continue;
                    }
                    if deadline.is_some_and(|d| d <= now) {
                        // Passed already: the handshake times out here, as
                        // the session's phases do, rather than hand the
                        // loop a deadline in the past.
                        self.fail_link(now, Error::Io(timed_out("proxy handshake")));
                        continue;
                    }
                    return Step::Read(*deadline);
                }
                Link::Session(_) => {}
            }
            if let Some(step) = self.body_action() {
                return step;
            }
            let Link::Session(session) = &mut self.link else {
                unreachable!("matched as a session above")
            };
            if self.op == Op::LivenessWaitIdle && session.is_idle() {
                // The replies still owed are in: now the check itself.
                if session.check_liveness().is_err() {
                    self.liveness = Some(false);
                }
                self.op = Op::LivenessWaitAnswer;
            }
            if session.poll_transmit_into(now, &mut self.write_buf) {
                self.write_deadline = Some(self.timeouts.write.map(|t| now + t));
                continue;
            }
            self.drain();
            if self.op_done() {
                return Step::Done;
            }
            let Link::Session(session) = &mut self.link else {
                unreachable!("only on_* calls change the link")
            };
            if session.body_request().is_some() {
                // Body data is wanted but no slot can give it (the caller
                // gave no such message): give it up rather than spin.
                if let Some(request) = session.body_request() {
                    let _ = session.abort_body(request.id);
                }
                continue;
            }
            match session.poll_timeout() {
                Some(deadline) if deadline <= now => {
                    session.handle_timeout(now);
                    continue;
                }
                deadline => return Step::Read(deadline),
            }
        }
    }

    /// Whether a body must be read or rewound now, for inspection before
    /// queueing or because the session asks for it.
    fn body_action(&mut self) -> Option<Step> {
        if let Some(slot) = self.slots.get(self.next_to_queue) {
            match slot.state {
                SlotState::Inspecting => {
                    return Some(Step::ReadBody(self.next_to_queue, BODY_READ_MAX));
                }
                SlotState::NeedsRewind => return Some(Step::RewindBody(self.next_to_queue)),
                _ => {}
            }
        }
        let Link::Session(session) = &self.link else {
            return None;
        };
        let request = session.body_request()?;
        let index = self.slot_of(request.id)?;
        if request.restart && self.slots[index].state != SlotState::Rewound {
            return Some(Step::RewindBody(index));
        }
        Some(Step::ReadBody(index, request.max_len.min(BODY_READ_MAX)))
    }

    fn slot_of(&self, id: MessageId) -> Option<usize> {
        self.queued
            .binary_search_by_key(&id, |(queued, _)| *queued)
            .ok()
            .map(|i| self.queued[i].1)
    }

    /// The flight of the last [`Action::Write`] was written, or failed.
    pub fn on_written(&mut self, now: Instant, result: io::Result<()>) {
        self.write_deadline = None;
        self.write_buf.clear();
        if let Err(e) = result {
            let e = match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => timed_out("write"),
                _ => e,
            };
            self.fail_link(now, Error::Io(e));
        }
    }

    /// Bytes read from the server: `Ok(&[])` at the end of the stream; an
    /// error of kind `TimedOut`/`WouldBlock` when the read's deadline
    /// passed.
    pub fn on_read(&mut self, now: Instant, result: io::Result<&[u8]>) {
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                match &mut self.link {
                    Link::Session(session) => session.handle_timeout(now),
                    // A read that gave up before the deadline (a socket
                    // timeout rounded down) is simply asked for again.
                    Link::Proxy { deadline, .. } if deadline.is_none_or(|d| now < d) => {}
                    Link::Proxy { .. } => {
                        self.fail_link(now, Error::Io(timed_out("proxy handshake")));
                    }
                    Link::Failed => {}
                }
            }
            Err(e) => self.fail_link(now, Error::Io(e)),
            Ok(bytes) => match &mut self.link {
                Link::Session(session) if bytes.is_empty() => session.handle_eof(now),
                Link::Session(session) => session.handle_input(now, bytes),
                Link::Proxy { handshake, .. } => {
                    let status = if bytes.is_empty() {
                        handshake.handle_eof().map(|()| ProxyStatus::NeedMore)
                    } else {
                        handshake.handle_input(bytes)
                    };
                    match status {
                        Ok(ProxyStatus::Done { leftover }) => self.start_session(now, &leftover),
                        Ok(_) => {}
                        Err(e) => self.fail_link(now, Error::Proxy(e)),
                    }
                }
                Link::Failed => {}
            },
        }
    }

    /// The next piece of body `slot` (empty at its end), or why it could
    /// not be read.
    pub fn on_body(&mut self, slot: usize, result: io::Result<&[u8]>) {
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => self.body_failed(slot, e),
            Ok(chunk) => self.on_body_piece(slot, chunk.into()),
        }
    }

    /// Like [`on_body`](Self::on_body) for a piece of a body in memory
    /// ([`MemoryBody::next_piece`]).
    pub fn on_body_piece(&mut self, slot: usize, piece: BodyPiece<'_>) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        let chunk = piece.bytes();
        if s.state == SlotState::Inspecting {
            if !chunk.is_empty() {
                if let Some(inspector) = s.inspector.as_mut() {
                    inspector.update(chunk);
                }
            } else if let Some(inspector) = s.inspector.take() {
                s.info = Some(BodyInfo::from_report(&inspector.finish()));
                s.state = SlotState::NeedsRewind;
            }
            return;
        }
        let Some(Ok(id)) = s.result else { return };
        s.state = SlotState::Queued;
        if let Link::Session(session) = &mut self.link {
            // Only asked for when the session wants this body, so it takes it.
            let _ = session.push_body_piece(id, piece, chunk.is_empty());
        }
    }

    /// Body `slot` is back at its first octet, or could not be.
    pub fn on_rewound(&mut self, slot: usize, result: io::Result<()>) {
        if let Err(e) = result {
            return self.body_failed(slot, e);
        }
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        match s.state {
            SlotState::NeedsRewind => {
                s.state = SlotState::Waiting;
                self.queue_ready();
            }
            SlotState::Queued => s.state = SlotState::Rewound,
            _ => {}
        }
    }

    // ----- internals ------------------------------------------------------

    fn body_failed(&mut self, slot: usize, error: io::Error) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        match s.result {
            Some(Ok(id)) => {
                if let Link::Session(session) = &mut self.link {
                    let _ = session.abort_body(id);
                }
                self.body_errors.insert(id, error);
            }
            _ => {
                s.state = SlotState::Finished;
                s.envelope = None;
                s.result = Some(Err(Error::Body(error)));
                self.pending = self.pending.saturating_sub(1);
                if slot == self.next_to_queue {
                    self.next_to_queue += 1;
                }
                self.queue_ready();
            }
        }
    }

    /// Queues, in order, every message whose body is known, stopping at
    /// one still being inspected (pipelined order is submission order).
    fn queue_ready(&mut self) {
        while let Some(slot) = self.slots.get_mut(self.next_to_queue) {
            match slot.state {
                SlotState::Inspecting | SlotState::NeedsRewind => return,
                SlotState::Waiting => {
                    let (Some(envelope), Some(info)) = (slot.envelope.take(), slot.info.take())
                    else {
                        unreachable!("a waiting slot holds its envelope and body info")
                    };
                    let queued = match &mut self.link {
                        Link::Session(session) => session.send(envelope, info),
                        _ => Err(UsageError::Closed),
                    };
                    slot.state = SlotState::Queued;
                    match queued {
                        Ok(id) => self.queued.push((id, self.next_to_queue)),
                        Err(_) => self.pending = self.pending.saturating_sub(1),
                    }
                    slot.result = Some(queued.map_err(Error::Usage));
                }
                _ => {}
            }
            self.next_to_queue += 1;
        }
    }

    fn start_session(&mut self, now: Instant, leftover: &[u8]) {
        let link = std::mem::replace(&mut self.link, Link::Failed);
        if let Link::Proxy { config, .. } = link {
            let mut session = Session::new(config, now);
            if !leftover.is_empty() {
                session.handle_input(now, leftover);
            }
            self.link = Link::Session(Box::new(session));
        }
    }

    fn fail_link(&mut self, now: Instant, error: Error) {
        match (&mut self.link, &error) {
            (Link::Session(session), Error::Io(e)) => session.handle_io_error(now, e),
            (Link::Session(session), _) => session.handle_eof(now),
            _ => self.link = Link::Failed,
        }
        self.link_error.get_or_insert(error);
        self.write_deadline = None;
        self.drain();
    }

    fn drain(&mut self) {
        let Link::Session(session) = &mut self.link else {
            return;
        };
        while let Some(event) = session.poll_event() {
            match event {
                Event::Ready { .. } => {
                    self.ready = true;
                    self.info = session.info();
                }
                Event::Message { id, report } => {
                    let ours = self
                        .queued
                        .binary_search_by_key(&id, |(queued, _)| *queued)
                        .is_ok();
                    if ours && self.outcomes.insert(id, report).is_none() {
                        self.pending = self.pending.saturating_sub(1);
                    }
                }
                Event::Liveness { alive, .. } => self.liveness = Some(alive),
                Event::Transcript(entry) => {
                    if let Some(hook) = self.transcript.as_mut() {
                        hook(&entry);
                    }
                }
                Event::Closed(error) => {
                    // A session that never became ready still reports
                    // how far it got (greeting, extensions, TLS).
                    self.info = session.info();
                    self.closed = Some(error);
                }
                _ => {}
            }
        }
    }

    fn op_done(&self) -> bool {
        if !matches!(self.link, Link::Session(_)) {
            return true;
        }
        if self.closed.is_some() {
            return true;
        }
        match self.op {
            Op::Idle => true,
            Op::Establish => self.ready,
            Op::Send => self.pending == 0,
            Op::LivenessWaitIdle => false,
            Op::LivenessWaitAnswer => self.liveness.is_some(),
            Op::Close => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_memory_chunk;

    #[test]
    fn in_memory_chunks_cover_the_body_once() {
        assert_eq!(in_memory_chunk(10, 0, 4), 0..4);
        assert_eq!(in_memory_chunk(10, 8, 4), 8..10);
        assert_eq!(
            in_memory_chunk(10, 10, 4),
            10..10,
            "the end: an empty chunk"
        );
        assert_eq!(
            in_memory_chunk(10, 99, 4),
            10..10,
            "past the end (a seek): empty"
        );
        assert_eq!(in_memory_chunk(0, 0, 4), 0..0);
    }
}
