//! Message bodies as a client holds them, and the I/O loop's view of the
//! driver: everything about a body that is not a read or a seek is decided
//! here once, for every runtime.
//!
//! A [`Source`] is a body in memory (sent in place, in pieces, never
//! copied into a read buffer), a file (`F`: read once to inspect it, then
//! again to send it, and again when LIMITS RCPTMAX splits the
//! recipients) or a reader (`R`: streamed once). A message-level send
//! reads the header block first ([`MessageReader`]) and sends the
//! rewritten header, then the rest of the original.
//!
//! The loop asks [`Driver::next_io`] what to do and performs it: a write,
//! a read into the buffer it is given, or a [`BodyIo`] on a caller's file
//! or reader; then it reports back. A blocking loop:
//!
//! ```text
//! loop {
//!     match driver.next_io(now(), &mut bodies) {
//!         Io::Write { bytes, deadline } => driver.on_written(now(), write_all(bytes, deadline)),
//!         Io::Read { buf, deadline }    => driver.on_read_into(now(), read(buf, deadline)),
//!         Io::Body(io)                  => driver.on_body_io(&mut bodies, perform(io)),
//!         Io::Done                      => break,
//!     }
//! }
//! ```

use std::io;
use std::time::Instant;

use smtpkit_proto::{BodyPiece, Envelope};

use crate::driver::{BODY_READ_MAX, BodyPlan, Driver, MemoryBody, Step};
use crate::error::Error;
#[cfg(feature = "dkim")]
use crate::message::MessageError;
use crate::message::{HeaderCollector, LineCheck, MessageOptions, Prepared};

/// What the loop does to a caller's file or reader; report the outcome
/// with [`Driver::on_body_io`] (or [`MessageReader::on_io`]).
#[derive(Debug)]
pub enum BodyIo<'a, F, R> {
    /// Read at most `buf.len()` octets of the file into `buf`; report how
    /// many (0 at its end).
    ReadFile {
        /// The file.
        file: &'a mut F,
        /// Where to read to.
        buf: &'a mut [u8],
    },
    /// Read at most `buf.len()` octets of the reader into `buf`; report
    /// how many (0 at its end).
    ReadStream {
        /// The reader.
        reader: &'a mut R,
        /// Where to read to.
        buf: &'a mut [u8],
    },
    /// Move the file's position to `to` octets from its start; report 0.
    SeekFile {
        /// The file.
        file: &'a mut F,
        /// The new position.
        to: u64,
    },
}

/// What an I/O loop does next ([`Driver::next_io`]).
#[derive(Debug)]
pub enum Io<'a, F, R> {
    /// Write all of `bytes` in one write (a pipelined flight must not be
    /// split), giving up at `deadline`; then [`Driver::on_written`].
    Write {
        /// The flight.
        bytes: &'a [u8],
        /// When to give up (`mail.smtp.writetimeout`).
        deadline: Option<Instant>,
    },
    /// Read from the server into `buf`, giving up at `deadline`; then
    /// [`Driver::on_read_into`] with the count (0: end of stream).
    Read {
        /// Where to read to.
        buf: &'a mut [u8],
        /// When to give up.
        deadline: Option<Instant>,
    },
    /// Perform this on a body; then [`Driver::on_body_io`].
    Body(BodyIo<'a, F, R>),
    /// The operation is complete: collect its result.
    Done,
}

/// Where the octets after a message's (rewritten) header come from.
enum Rest<B, F, R> {
    Memory(MemoryBody<B>),
    File(F),
    Reader(R),
    /// A file that could not be opened: the first read reports why.
    Failed(Option<io::Error>),
}

/// A message body, ready for the driver: see the [module docs](self).
pub struct Source<B, F, R> {
    /// Octets to send before `rest` (a message's rewritten header block;
    /// empty for a raw body), and how many of them were sent.
    head: Vec<u8>,
    head_sent: usize,
    rest: Rest<B, F, R>,
    /// Where `rest` starts in the original (what a rewind returns to).
    rest_at: u64,
    /// Whether a file is at the position the next read expects; cleared
    /// by a rewind, so that the seek happens only when the file is read.
    positioned: bool,
    plan: BodyPlan,
}

impl<B, F, R> std::fmt::Debug for Source<B, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.rest {
            Rest::Memory(_) => "memory",
            Rest::File(_) => "file",
            Rest::Reader(_) => "reader",
            Rest::Failed(_) => "failed",
        };
        f.debug_struct("Source")
            .field("kind", &kind)
            .field("head", &self.head.len())
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl<B: AsRef<[u8]>, F, R> Source<B, F, R> {
    /// A body in memory: inspected now, in one pass, and sent in place.
    pub fn memory(bytes: B) -> Self {
        Source::memory_after(bytes, None)
    }

    /// As [`memory`](Self::memory), but when `previous` is a raw body in
    /// memory with the very same octets (one buffer sent as many messages
    /// in a batch), its inspection is shared instead of repeated.
    pub fn memory_after(bytes: B, previous: Option<&Self>) -> Self {
        let shared = match previous {
            Some(Source {
                head,
                rest: Rest::Memory(body),
                ..
            }) if head.is_empty() => body.share(bytes),
            _ => Err(bytes),
        };
        let body = shared.unwrap_or_else(MemoryBody::new);
        let plan = BodyPlan::Known(body.info());
        Source::with_rest(Rest::Memory(body), plan)
    }
}

impl<B, F, R> Source<B, F, R> {
    /// A file, from its first octet: read once to learn its size and type,
    /// then again to send it.
    pub fn file(file: F) -> Self {
        let mut source = Source::with_rest(Rest::File(file), BodyPlan::Inspect);
        source.positioned = false;
        source
    }

    /// Any reader, streamed once (its type checked on the way).
    pub fn reader(reader: R) -> Self {
        Source::with_rest(Rest::Reader(reader), BodyPlan::Streamed)
    }

    /// A body that could not be opened: the message fails with
    /// [`Error::Body`] carrying `error`, and nothing of it is sent.
    pub fn failed(error: io::Error) -> Self {
        Source::with_rest(Rest::Failed(Some(error)), BodyPlan::Inspect)
    }

    fn with_rest(rest: Rest<B, F, R>, plan: BodyPlan) -> Self {
        Source {
            head: Vec::new(),
            head_sent: 0,
            rest,
            rest_at: 0,
            positioned: true,
            plan,
        }
    }

    /// How the driver learns the body's size and type.
    pub fn plan(&self) -> &BodyPlan {
        &self.plan
    }
}

/// What a body the driver asked about gives without I/O, or which I/O
/// it needs.
enum Next<'s> {
    /// A piece of memory (empty at the end).
    Piece(BodyPiece<'s>),
    /// The body cannot be read.
    Failed(io::Error),
    /// The caller's file or reader must be read or moved
    /// ([`Source::io`]).
    Io(Pending),
}

/// What the outstanding [`BodyIo`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Body data the driver asked for.
    Data,
    /// Moving a file to where the next read starts: not the driver's
    /// business unless it fails.
    Position,
}

impl<B: AsRef<[u8]>, F, R> Source<B, F, R> {
    /// The next at most `max` octets when they need no I/O.
    fn next(&mut self, max: usize) -> Next<'_> {
        if self.head_sent < self.head.len() {
            let end = self.head.len().min(self.head_sent.saturating_add(max));
            let piece = &self.head[self.head_sent..end];
            self.head_sent = end;
            return Next::Piece(piece.into());
        }
        match &mut self.rest {
            Rest::Memory(body) => Next::Piece(body.next_piece(max)),
            Rest::Failed(error) => Next::Failed(
                error
                    .take()
                    .unwrap_or_else(|| io::Error::other("the body could not be opened")),
            ),
            Rest::File(_) if !self.positioned => Next::Io(Pending::Position),
            Rest::File(_) | Rest::Reader(_) => Next::Io(Pending::Data),
        }
    }

    /// The I/O that [`next`](Self::next) said is needed.
    fn io<'a>(&'a mut self, buf: &'a mut [u8]) -> BodyIo<'a, F, R> {
        let (to, positioned) = (self.rest_at, self.positioned);
        match &mut self.rest {
            Rest::File(file) => {
                if positioned {
                    BodyIo::ReadFile { file, buf }
                } else {
                    BodyIo::SeekFile { file, to }
                }
            }
            Rest::Reader(reader) => BodyIo::ReadStream { reader, buf },
            // `next` answers `Next::Io` only for a file or a reader, and
            // both callers call this right after it, with nothing between
            // that could change `rest`.
            Rest::Memory(_) | Rest::Failed(_) => {
                unreachable!("Source::io is called only after next() asked for I/O")
            }
        }
    }

    /// Back to the first octet. No I/O: a file is moved when it is next
    /// read.
    fn rewind(&mut self) -> io::Result<()> {
        match &mut self.rest {
            Rest::Memory(body) => body.seek(self.rest_at),
            Rest::File(_) => self.positioned = false,
            Rest::Reader(_) | Rest::Failed(_) => {
                return Err(io::Error::other("a streamed body cannot be sent twice"));
            }
        }
        self.head_sent = 0;
        Ok(())
    }
}

/// The bodies of one [`Driver::start_send_sources`] operation, slot `i`
/// for message `i`.
pub struct Bodies<B, F, R> {
    sources: Vec<Source<B, F, R>>,
    /// The slot whose [`BodyIo`] is outstanding, and what for.
    pending: Option<(usize, Pending)>,
}

impl<B, F, R> std::fmt::Debug for Bodies<B, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bodies")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl<B, F, R> Bodies<B, F, R> {
    /// No bodies: for the operations that send nothing (start-up,
    /// liveness, close).
    pub fn none() -> Self {
        Bodies {
            sources: Vec::new(),
            pending: None,
        }
    }
}

impl Driver {
    /// Starts sending `messages` in one pipelined stream (as
    /// [`start_send`](Self::start_send)), their bodies held by the
    /// returned [`Bodies`]; drive with [`next_io`](Self::next_io), then
    /// [`finish_send`](Self::finish_send).
    pub fn start_send_sources<B, F, R>(
        &mut self,
        messages: Vec<(Envelope, Source<B, F, R>)>,
    ) -> Bodies<B, F, R> {
        let mut sources = Vec::with_capacity(messages.len());
        let mut plans = Vec::with_capacity(messages.len());
        for (envelope, source) in messages {
            plans.push((envelope, source.plan.clone()));
            sources.push(source);
        }
        self.start_send(plans);
        Bodies {
            sources,
            pending: None,
        }
    }

    /// What the I/O loop does next: [`next_action`](Self::next_action),
    /// with the bodies' work that needs no I/O done here (pieces of
    /// memory, a message's header, rewinds, a body that failed to open),
    /// so that the loop sees only I/O.
    pub fn next_io<'a, B: AsRef<[u8]>, F, R>(
        &'a mut self,
        now: Instant,
        bodies: &'a mut Bodies<B, F, R>,
    ) -> Io<'a, F, R> {
        // Decide without holding a borrow, then lend once: a borrow that
        // is returned on one path of a loop would be held on all of them.
        let (slot, max, pending) = loop {
            match self.poll_action(now) {
                Step::Write(deadline) => {
                    return Io::Write {
                        bytes: self.flight(),
                        deadline,
                    };
                }
                Step::Read(deadline) => {
                    return Io::Read {
                        buf: self.read_buf_vec(),
                        deadline,
                    };
                }
                Step::Done => return Io::Done,
                Step::RewindBody(slot) => {
                    let rewound = bodies
                        .sources
                        .get_mut(slot)
                        .map_or_else(|| Err(no_such_body()), Source::rewind);
                    self.on_rewound(slot, rewound);
                }
                Step::ReadBody(slot, max) => {
                    let max = max.min(BODY_READ_MAX);
                    match bodies.sources.get_mut(slot).map(|s| s.next(max)) {
                        Some(Next::Piece(piece)) => self.on_body_piece(slot, piece),
                        Some(Next::Failed(e)) => self.on_body(slot, Err(e)),
                        Some(Next::Io(pending)) => break (slot, max, pending),
                        None => self.on_body(slot, Err(no_such_body())),
                    }
                }
            }
        };
        bodies.pending = Some((slot, pending));
        let buf = &mut self.body_buf_vec()[..max];
        match bodies.sources.get_mut(slot) {
            Some(source) => Io::Body(source.io(buf)),
            // The loop above found this slot.
            None => unreachable!("the slot was found just above"),
        }
    }

    /// The outcome of the [`Io::Read`] last returned: how many octets
    /// were read into its buffer (0: the end of the stream), or the error
    /// (`TimedOut`/`WouldBlock` when its deadline passed).
    pub fn on_read_into(&mut self, now: Instant, result: io::Result<usize>) {
        let buf = std::mem::take(self.read_buf_vec());
        self.on_read(now, result.map(|n| &buf[..n.min(buf.len())]));
        *self.read_buf_vec() = buf;
    }

    /// The outcome of the [`BodyIo`] last returned: octets read (0 at the
    /// end), or the error.
    pub fn on_body_io<B, F, R>(&mut self, bodies: &mut Bodies<B, F, R>, result: io::Result<usize>) {
        let Some((slot, pending)) = bodies.pending.take() else {
            return;
        };
        match (pending, result) {
            (Pending::Position, Ok(_)) => {
                if let Some(source) = bodies.sources.get_mut(slot) {
                    source.positioned = true;
                }
            }
            // Asked again by the driver's next ReadBody.
            (Pending::Position, Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            (_, Err(e)) => self.on_body(slot, Err(e)),
            (Pending::Data, Ok(n)) => {
                let buf = std::mem::take(self.body_buf_vec());
                self.on_body(slot, Ok(&buf[..n.min(buf.len())]));
                *self.body_buf_vec() = buf;
            }
        }
    }
}

fn no_such_body() -> io::Error {
    io::Error::other("no such body")
}

/// Reads a whole RFC 5322 message's header block from a [`Source`] and
/// derives the envelope from it (see [`message`](crate::message)): the
/// I/O loop performs [`next_io`](Self::next_io) until it is `None`, then
/// takes [`finish`](Self::finish). Only the header block is held in
/// memory; the source then sends the header without `Bcc:`, followed by
/// the rest of the original.
pub struct MessageReader<'o, B, F, R> {
    source: Source<B, F, R>,
    options: &'o MessageOptions,
    collector: Option<HeaderCollector>,
    /// After the header: the rest still to read before the message can
    /// go (a DKIM signature's first pass).
    pass: Option<Pass<'o>>,
    /// The envelope, once the header is in, while `pass` runs.
    envelope: Option<Envelope>,
    buf: Vec<u8>,
    outcome: Option<Result<Envelope, Error>>,
}

/// A pass over the rest of the message before it is sent: a file (read
/// again afterwards to send it), or a one-shot reader held whole.
struct Pass<'o> {
    /// Looking for lines longer than SMTP allows.
    lines: Option<LineCheck>,
    /// The DKIM hash of what will be transmitted.
    #[cfg(feature = "dkim")]
    hash: Option<Box<crate::dkim::DkimStream<'o>>>,
    /// A one-shot reader, kept whole in the head to be signed (the
    /// caller allowed buffering).
    hold: bool,
    _options: std::marker::PhantomData<&'o ()>,
}

impl<B, F, R> std::fmt::Debug for MessageReader<'_, B, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<'o, B: AsRef<[u8]>, F, R> MessageReader<'o, B, F, R> {
    /// Starts reading `source`'s header; `options` say which sender
    /// overrides the header's (`mail.smtp.from`), what the header gets
    /// when it lacks it (`Date:`, `Message-ID:`) and whether to sign. A
    /// message in memory is read at once.
    pub fn new(mut source: Source<B, F, R>, options: &'o MessageOptions) -> Self {
        let mut outcome = None;
        let mut collector = None;
        match &mut source.rest {
            Rest::Memory(body) => match Prepared::in_memory(body.bytes(), options) {
                Ok(prepared) => {
                    outcome = Some(Ok(prepared.envelope));
                    source.plan = prepared.plan;
                    source.rest_at = prepared.rest_at;
                    source.head = prepared.head;
                    body.seek(source.rest_at);
                }
                Err(e) => outcome = Some(Err(e.into())),
            },
            Rest::Failed(error) => {
                let error = error.take().unwrap_or_else(no_such_body);
                outcome = Some(Err(Error::Body(error)));
            }
            Rest::File(_) | Rest::Reader(_) => collector = Some(HeaderCollector::new()),
        }
        MessageReader {
            source,
            options,
            collector,
            pass: None,
            envelope: None,
            buf: Vec::new(),
            outcome,
        }
    }

    /// The read (or seek) to perform next; `None` once the message is
    /// ready to send.
    pub fn next_io(&mut self) -> Option<BodyIo<'_, F, R>> {
        if self.collector.is_none() && self.pass.is_none() {
            return None;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; 8192];
        }
        Some(self.source.io(&mut self.buf))
    }

    /// The outcome of the I/O [`next_io`](Self::next_io) gave.
    pub fn on_io(&mut self, result: io::Result<usize>) {
        let n = match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            Err(e) => {
                self.collector = None;
                self.pass = None;
                self.outcome = Some(Err(Error::Body(e)));
                return;
            }
            Ok(n) => n,
        };
        if !self.source.positioned {
            self.source.positioned = true;
            return;
        }
        let n = n.min(self.buf.len());
        if self.pass.is_some() {
            self.on_pass(n);
            return;
        }
        let Some(collector) = self.collector.as_mut() else {
            return;
        };
        match collector.feed(&self.buf[..n]) {
            Ok(false) => {}
            Ok(true) => {
                let Some(collector) = self.collector.take() else {
                    return;
                };
                let seekable = matches!(self.source.rest, Rest::File(_));
                let (header, excess) = collector.finish();
                // What the line check reads first: the message as given,
                // up to where a file's pass starts reading.
                let original = if seekable {
                    header.clone()
                } else {
                    [header.as_slice(), &excess].concat()
                };
                match Prepared::after_read((header, excess), seekable, self.options) {
                    Ok(prepared) => {
                        self.source.plan = prepared.plan;
                        self.source.rest_at = prepared.rest_at;
                        self.source.head = prepared.head;
                        // A file is read again from `rest_at`.
                        self.source.positioned = !seekable;
                        self.envelope = Some(prepared.envelope);
                        self.start_pass(seekable, &original);
                    }
                    Err(e) => self.outcome = Some(Err(e.into())),
                }
            }
            Err(e) => {
                self.collector = None;
                self.outcome = Some(Err(e.into()));
            }
        }
    }

    /// After the header (`original`, as read): the message is ready, or a
    /// pass over the rest comes first (long lines, signing).
    fn start_pass(&mut self, seekable: bool, original: &[u8]) {
        let mut pass = Pass {
            lines: None,
            #[cfg(feature = "dkim")]
            hash: None,
            hold: false,
            _options: std::marker::PhantomData,
        };
        if !self.options.settings.allow_long_lines {
            let mut lines = LineCheck::default();
            lines.feed(original);
            pass.lines = Some(lines);
        }
        #[cfg(feature = "dkim")]
        if let Some(signer) = &self.options.dkim {
            if let Some(signature) = self.options.signed() {
                // A retry: the signature this message already has.
                let head = std::mem::take(&mut self.source.head);
                self.source.head = [signature.as_slice(), &head].concat();
            } else if seekable {
                let mut stream = signer.stream();
                stream.update(&self.source.head);
                pass.hash = Some(Box::new(stream));
            } else if signer.settings().allow_buffering {
                pass.hold = true;
            } else {
                self.fail(MessageError::CannotSignStream.into());
                return;
            }
        }
        #[cfg(feature = "dkim")]
        let hashing = pass.hash.is_some();
        #[cfg(not(feature = "dkim"))]
        let hashing = false;
        if pass.hold || (seekable && (hashing || pass.lines.is_some())) {
            self.pass = Some(pass);
            return;
        }
        // A one-shot reader: checked as far as it was read.
        if let Some(Err(e)) = pass.lines.map(LineCheck::finish) {
            self.fail(e.into());
            return;
        }
        self.outcome = self.envelope.take().map(Ok);
    }

    /// `n` more octets of the rest (0: its end).
    fn on_pass(&mut self, n: usize) {
        let Some(pass) = self.pass.as_mut() else {
            return;
        };
        let data = &self.buf[..n];
        if n > 0 {
            if let Some(lines) = &mut pass.lines {
                lines.feed(data);
            }
            #[cfg(feature = "dkim")]
            if let Some(hash) = &mut pass.hash {
                hash.update(data);
            }
            if pass.hold {
                self.source.head.extend_from_slice(data);
            }
            return;
        }
        let Some(pass) = self.pass.take() else {
            return;
        };
        if !pass.hold {
            // A file: sent from `rest_at` again.
            self.source.positioned = false;
        }
        if let Some(Err(e)) = pass.lines.map(LineCheck::finish) {
            self.fail(e.into());
            return;
        }
        #[cfg(feature = "dkim")]
        {
            let signed = match (pass.hash, pass.hold, &self.options.dkim) {
                (Some(hash), _, _) => Some(hash.finish()),
                (None, true, Some(signer)) => Some(signer.sign(&self.source.head)),
                _ => None,
            };
            match signed {
                Some(Ok(signature)) => {
                    self.options.keep_signature(&signature);
                    let head = std::mem::take(&mut self.source.head);
                    self.source.head = [signature, head].concat();
                }
                Some(Err(e)) => {
                    self.fail(MessageError::from(e).into());
                    return;
                }
                None => {}
            }
        }
        self.outcome = self.envelope.take().map(Ok);
    }

    /// The message cannot go: `error`, and nothing more to read.
    fn fail(&mut self, error: Error) {
        self.envelope = None;
        self.pass = None;
        self.outcome = Some(Err(error));
    }

    /// The envelope and the body to transmit: the header without `Bcc:`,
    /// then the rest.
    ///
    /// # Errors
    /// [`Error::Message`] when the header names no sender or recipient or
    /// a malformed address, or is too large; [`Error::Body`] when the
    /// source could not be read.
    pub fn finish(self) -> Result<(Envelope, Source<B, F, R>), Error> {
        match self.outcome {
            Some(Ok(envelope)) => Ok((envelope, self.source)),
            Some(Err(e)) => Err(e),
            None => Err(Error::Body(io::Error::other(
                "the message header was not read to its end",
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::{Body, sources};
    use smtpkit_proto::Address;

    type Memory<'a> = Source<&'a [u8], std::fs::File, std::io::Empty>;

    fn envelope() -> Envelope {
        let address = |s: &str| Address::parse(s).unwrap_or_else(|e| panic!("{e}"));
        Envelope::new(address("a@example.org"), [address("b@example.org")])
    }

    fn memory<'a, 'b>(source: &'a mut Memory<'b>) -> &'a mut MemoryBody<&'b [u8]> {
        match &mut source.rest {
            Rest::Memory(body) => body,
            _ => panic!("not in memory"),
        }
    }

    /// A batch that sends one buffer many times shares the first
    /// inspection, and the shared proof is the one a fresh inspection
    /// gives, for wire-ready text and for text that needs normalising; a
    /// copy of the same octets elsewhere is inspected on its own.
    #[test]
    fn a_batch_shares_the_inspection_of_one_buffer() {
        for text in [
            &b"Subject: a\r\n\r\nready\r\n"[..],
            &b"Subject: b\n\n.dot and bare LF\n"[..],
        ] {
            let copy = text.to_vec();
            let messages = vec![
                (envelope(), Body::Bytes(text)),
                (envelope(), Body::Bytes(text)),
                (envelope(), Body::Bytes(&copy[..])),
            ];
            let mut batch: Vec<(Envelope, Memory<'_>)> = sources(messages);
            let mut fresh: Memory<'_> = Source::memory(text);
            let expected = memory(&mut fresh).next_piece(usize::MAX).is_wire_ready();
            assert_eq!(expected, text.ends_with(b"\r\n"), "{text:?}");
            for (_, source) in &mut batch {
                assert_eq!(
                    format!("{:?}", source.plan()),
                    format!("{:?}", fresh.plan())
                );
                let piece = memory(source).next_piece(usize::MAX);
                assert_eq!(piece.bytes(), text);
                assert_eq!(piece.is_wire_ready(), expected, "{text:?}");
            }
        }
    }
}
