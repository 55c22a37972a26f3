//! Message bodies: the streaming DATA encoder (CRLF normalisation and
//! dot-stuffing), the BDAT chunker, the body inspector, and (feature
//! `server`) the server's DATA decoder.
//!
//! All of them keep constant state across chunk boundaries: a body is fed
//! in chunks of any size and never copied whole.

use bytes::BufMut;
use memchr::memchr2;

/// The first CR or LF. On x86-64 with AVX2 the searcher is built once per
/// process instead of dispatched on every call: lines are short, so the
/// per-call cost is what the DATA encoder pays per line.
#[inline]
fn find_line_end(haystack: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static TWO: OnceLock<Option<memchr::arch::x86_64::avx2::memchr::Two>> = OnceLock::new();
        if let Some(two) =
            TWO.get_or_init(|| memchr::arch::x86_64::avx2::memchr::Two::new(b'\r', b'\n'))
        {
            return two.find(haystack);
        }
    }
    memchr2(b'\r', b'\n', haystack)
}

use crate::command::BodyType;

/// The length of the fast paths' blocks: long enough to amortise one
/// check, short enough that an odd line sends little text the slow way.
const BLOCK: usize = 256;

/// What [`scan_block`] found in a block.
#[derive(Clone, Copy)]
struct BlockFacts(u8);

impl BlockFacts {
    /// A CR not followed by LF, or an LF not preceded by CR.
    const IRREGULAR: u8 = 1;
    /// An LF followed by a dot (a line to stuff).
    const DOT_LINE: u8 = 2;
    /// A NUL.
    const NUL: u8 = 4;
    /// An octet of 0x80 or above.
    const HIGH: u8 = 0x80;

    fn has(self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

/// Looks at `input[at..at + BLOCK]` and the octet after it, when there are
/// that many. The caller is at a position where an LF would be bare (not
/// between the CR and LF of a pair), so a leading LF counts as irregular.
/// The loop is branch-free over fixed-size arrays, which the compiler turns
/// into vector compares: well-formed text costs a fraction of the per-line
/// `memchr` steps.
#[inline]
fn scan_block(input: &[u8], at: usize) -> Option<BlockFacts> {
    let current: &[u8; BLOCK] = input.get(at..at + BLOCK)?.try_into().ok()?;
    let next: &[u8; BLOCK] = input.get(at + 1..at + BLOCK + 1)?.try_into().ok()?;
    let mut irregular = u8::from(current[0] == b'\n');
    let mut dot_line = 0u8;
    let mut nul = 0u8;
    let mut all = 0u8;
    for (&x, &y) in current.iter().zip(next.iter()) {
        irregular |= u8::from(x == b'\r') ^ u8::from(y == b'\n');
        dot_line |= u8::from(x == b'\n') & u8::from(y == b'.');
        nul |= u8::from(x == 0);
        all |= x;
    }
    Some(BlockFacts(
        (irregular * BlockFacts::IRREGULAR)
            | (dot_line * BlockFacts::DOT_LINE)
            | (nul * BlockFacts::NUL)
            | (all & BlockFacts::HIGH),
    ))
}

/// CRLF normalisation with optional dot-stuffing, the shared engine of the
/// DATA encoder and the BDAT chunker.
///
/// Bare CR and bare LF both become CRLF; a CR at the end of one chunk and an
/// LF at the start of the next are one CRLF.
#[derive(Debug, Clone, Copy)]
struct Normalizer {
    stuff_dots: bool,
    /// The last byte seen was a CR, already written as CRLF: an LF that
    /// follows belongs to it.
    after_cr: bool,
    /// The output ends with CRLF (or nothing was written yet).
    at_line_start: bool,
}

impl Normalizer {
    const fn new(stuff_dots: bool) -> Self {
        Normalizer {
            stuff_dots,
            after_cr: false,
            at_line_start: true,
        }
    }

    /// Writes `piece`: copied as it is when it was proven wire-ready and
    /// nothing at its edges needs attention, else normalised.
    ///
    /// The proof covers the piece's inside (every CR with its LF, every LF
    /// after its CR, no LF followed by a dot); what lies across its edges
    /// is checked here, so wire-ready pieces from any body in any order
    /// still give a normalised, dot-stuffed stream.
    fn push_piece<B: BufMut>(&mut self, piece: BodyPiece<'_>, out: &mut B) -> usize {
        if !self.copies_as_is(piece) {
            return self.push(piece.bytes, out);
        }
        out.put_slice(piece.bytes);
        self.copied(piece.bytes);
        piece.bytes.len()
    }

    /// Whether `piece` goes out unchanged: it is proven wire-ready and
    /// nothing at its edges needs attention.
    fn copies_as_is(&self, piece: BodyPiece<'_>) -> bool {
        match (piece.bytes.first(), piece.bytes.last()) {
            (Some(&first), Some(&last)) => {
                piece.wire_ready
                    && !self.after_cr
                    && first != b'\n'
                    && !(self.stuff_dots && self.at_line_start && first == b'.')
                    && last != b'\r'
            }
            _ => false,
        }
    }

    /// Records that `bytes`, which [`copies_as_is`](Self::copies_as_is)
    /// accepted, were written as they are.
    fn copied(&mut self, bytes: &[u8]) {
        // An LF last is a pair's (the first octet is not a bare LF, and the
        // proof covers the rest).
        self.at_line_start = bytes.ends_with(b"\n");
    }

    /// Writes `input` normalised; returns the number of octets written.
    ///
    /// Well-formed CRLF text is copied in one piece: only a bare CR, a
    /// bare LF or a dot to stuff interrupts the copy, so the common case
    /// costs one `memchr2` step per line and a single `memcpy`.
    fn push<B: BufMut>(&mut self, input: &[u8], out: &mut B) -> usize {
        let mut written = 0;
        // input[..copied] has been written; input[..scan] examined.
        let mut copied = 0;
        let mut scan = 0;
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if input[0] == b'\n' {
                copied = 1;
                scan = 1;
            }
        }
        let mut emit = |out: &mut B, from: &mut usize, upto: usize, extra: &[u8]| {
            out.put_slice(&input[*from..upto]);
            out.put_slice(extra);
            written += upto - *from + extra.len();
            *from = upto;
        };
        // Where the last block that needed the slow path ends: no block
        // check before it, so that text full of bare line endings does not
        // pay for a failed check on every line.
        let mut slow_until = 0;
        let stop = if self.stuff_dots {
            BlockFacts::IRREGULAR | BlockFacts::DOT_LINE
        } else {
            BlockFacts::IRREGULAR
        };
        while scan < input.len() {
            if self.at_line_start {
                self.at_line_start = false;
                if self.stuff_dots && input[scan] == b'.' {
                    emit(out, &mut copied, scan, b".");
                }
            }
            if scan >= slow_until {
                match scan_block(input, scan) {
                    Some(facts) if !facts.has(stop) => {
                        // Well-formed CRLF text with no line to stuff: it
                        // is copied as it is. A block ending in the CR of a
                        // pair takes its LF along.
                        let last = input[scan + BLOCK - 1];
                        scan += BLOCK + usize::from(last == b'\r');
                        self.at_line_start = matches!(last, b'\r' | b'\n');
                        continue;
                    }
                    Some(_) => slow_until = scan + BLOCK,
                    None => slow_until = usize::MAX,
                }
            }
            let Some(offset) = find_line_end(&input[scan..]) else {
                break;
            };
            let at = scan + offset;
            self.at_line_start = true;
            match (input[at], input.get(at + 1)) {
                (b'\r', Some(b'\n')) => scan = at + 2,
                (b'\r', None) => {
                    self.after_cr = true;
                    emit(out, &mut copied, at, b"\r\n");
                    copied = at + 1;
                    scan = at + 1;
                }
                // A bare CR or a bare LF becomes CRLF.
                _ => {
                    emit(out, &mut copied, at, b"\r\n");
                    copied = at + 1;
                    scan = at + 1;
                }
            }
        }
        emit(out, &mut copied, input.len(), b"");
        written
    }
}

/// CRLF normalisation alone, exactly as the DATA encoder and the BDAT
/// chunker apply it (without dot-stuffing): the octets the server stores.
/// A DKIM signer hashes these, so that what it signs is what arrives.
///
/// ```
/// use smtpkit_proto::CrlfNormalizer;
///
/// let mut out = Vec::new();
/// let mut n = CrlfNormalizer::new();
/// n.push(b"Subject: hi\n\n.dot\r", &mut out);
/// n.push(b"\nlast", &mut out);
/// n.finish(&mut out);
/// assert_eq!(out, b"Subject: hi\r\n\r\n.dot\r\nlast\r\n");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CrlfNormalizer(Normalizer);

impl Default for CrlfNormalizer {
    fn default() -> Self {
        CrlfNormalizer::new()
    }
}

impl CrlfNormalizer {
    /// At the start of a message.
    pub const fn new() -> Self {
        CrlfNormalizer(Normalizer::new(false))
    }

    /// Writes `input` normalised (bare CR and bare LF become CRLF, also
    /// across calls); returns the octets written.
    pub fn push<B: BufMut>(&mut self, input: &[u8], out: &mut B) -> usize {
        self.0.push(input, out)
    }

    /// Ends the message: the CRLF a text message must end with, when it
    /// lacks one (as both transfers add it). Returns the octets written.
    pub fn finish<B: BufMut>(&mut self, out: &mut B) -> usize {
        if self.0.at_line_start {
            0
        } else {
            self.0.at_line_start = true;
            out.put_slice(b"\r\n");
            2
        }
    }
}

/// The streaming DATA encoder: CRLF-normalises and dot-stuffs the message
/// and ends it with `CRLF.CRLF`.
///
/// Bare CR and bare LF both become CRLF, so no byte sequence in a message
/// (`<LF>.<LF>`, `<CR>.<CR>`, `<CR><LF>.<LF>`) can end the DATA early: the
/// only end of data the server sees is the one [`finish`](Self::finish)
/// writes.
///
/// ```
/// use smtpkit_proto::DataEncoder;
///
/// let mut out = Vec::new();
/// let mut encoder = DataEncoder::new();
/// encoder.push(b"Subject: hi\n\n.hidden\r", &mut out);
/// encoder.push(b"\n.\nmore", &mut out);
/// encoder.finish(&mut out);
/// assert_eq!(out, b"Subject: hi\r\n\r\n..hidden\r\n..\r\nmore\r\n.\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct DataEncoder {
    normalizer: Normalizer,
    finished: bool,
}

impl Default for DataEncoder {
    fn default() -> Self {
        DataEncoder::new()
    }
}

impl DataEncoder {
    /// A new encoder, at the start of the message.
    pub const fn new() -> Self {
        DataEncoder {
            normalizer: Normalizer::new(true),
            finished: false,
        }
    }

    /// Encodes the next chunk of the message; returns octets written.
    /// Chunks pushed after [`finish`](Self::finish) are ignored.
    pub fn push<B: BufMut>(&mut self, chunk: &[u8], out: &mut B) -> usize {
        if self.finished {
            return 0;
        }
        self.normalizer.push(chunk, out)
    }

    /// Like [`push`](Self::push) for a piece of an [`InspectedBody`]: a
    /// wire-ready piece is copied without being looked at again.
    pub fn push_piece<B: BufMut>(&mut self, piece: BodyPiece<'_>, out: &mut B) -> usize {
        if self.finished {
            return 0;
        }
        self.normalizer.push_piece(piece, out)
    }

    /// Ends the message: CRLF if the message did not end with a line
    /// break, then `.CRLF`. Returns octets written; a second call writes
    /// nothing.
    pub fn finish<B: BufMut>(&mut self, out: &mut B) -> usize {
        if self.finished {
            return 0;
        }
        self.finished = true;
        if self.normalizer.at_line_start {
            out.put_slice(b".\r\n");
            3
        } else {
            out.put_slice(b"\r\n.\r\n");
            5
        }
    }
}

/// Cuts a message into BDAT chunks (RFC 3030): `BDAT n CRLF` followed by
/// exactly `n` octets, the last one `BDAT n LAST`.
///
/// No dot-stuffing (BDAT has no end marker to protect). Line endings are
/// normalised to CRLF unless the body is sent as BINARYMIME, which is
/// passed through untouched.
///
/// ```
/// use smtpkit_proto::BdatChunker;
///
/// let mut out = Vec::new();
/// let mut chunker = BdatChunker::new(8, false);
/// assert_eq!(chunker.push(b"line one\nline two\n", &mut out), 2);
/// chunker.finish(&mut out);
/// assert_eq!(out, b"BDAT 8\r\nline oneBDAT 8\r\n\r\nline tBDAT 4 LAST\r\nwo\r\n");
/// // An unterminated last line gets its CRLF, as with DATA.
/// let mut out = Vec::new();
/// let mut chunker = BdatChunker::new(100, false);
/// chunker.push(b"no newline", &mut out);
/// chunker.finish(&mut out);
/// assert_eq!(out, b"BDAT 12 LAST\r\nno newline\r\n");
/// ```
#[derive(Debug, Clone)]
pub struct BdatChunker {
    chunk_size: usize,
    chunks: u64,
    payload: u64,
    normalizer: Option<Normalizer>,
    pending: Vec<u8>,
    finished: bool,
}

impl BdatChunker {
    /// A chunker emitting chunks of `chunk_size` octets (at least 1;
    /// `mail.smtp.chunksize`). `binary` passes octets through unchanged,
    /// for `BODY=BINARYMIME`.
    pub fn new(chunk_size: usize, binary: bool) -> Self {
        let chunk_size = chunk_size.max(1);
        BdatChunker {
            chunk_size,
            chunks: 0,
            payload: 0,
            normalizer: (!binary).then(|| Normalizer::new(false)),
            // Grows with the data pushed, up to one chunk; freed by finish.
            pending: Vec::new(),
            finished: false,
        }
    }

    /// The chunk size in use.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// BDAT commands written so far.
    pub fn chunks_written(&self) -> u64 {
        self.chunks
    }

    /// Payload octets written so far (excluding the BDAT lines).
    pub fn payload_written(&self) -> u64 {
        self.payload
    }

    /// Adds message data; writes every chunk that is now full, each with
    /// its `BDAT n` line. Returns the number of BDAT commands written, each
    /// of which the server answers. Holds back less than one chunk.
    pub fn push<B: BufMut>(&mut self, chunk: &[u8], out: &mut B) -> usize {
        self.push_piece(BodyPiece::from(chunk), out)
    }

    /// Like [`push`](Self::push) for a piece of an [`InspectedBody`]: a
    /// wire-ready piece is copied without being looked at again.
    pub fn push_piece<B: BufMut>(&mut self, piece: BodyPiece<'_>, out: &mut B) -> usize {
        if self.finished {
            return 0;
        }
        let as_is = match &mut self.normalizer {
            Some(n) if n.copies_as_is(piece) => {
                n.copied(piece.bytes);
                true
            }
            Some(n) => {
                n.push(piece.bytes, &mut self.pending);
                false
            }
            None => true,
        };
        let mut commands = 0;
        if as_is {
            // Whole chunks go out straight from the piece; only what
            // completes the held-back chunk, and the tail, are copied.
            let mut input = piece.bytes;
            if !self.pending.is_empty() {
                let take = input.len().min(self.chunk_size - self.pending.len());
                self.pending.extend_from_slice(&input[..take]);
                input = &input[take..];
                if self.pending.len() == self.chunk_size {
                    write_chunk(&self.pending, false, out);
                    self.pending.clear();
                    commands += 1;
                }
            }
            while input.len() >= self.chunk_size {
                write_chunk(&input[..self.chunk_size], false, out);
                input = &input[self.chunk_size..];
                commands += 1;
            }
            self.pending.extend_from_slice(input);
            self.chunks += commands as u64;
            self.payload += (commands * self.chunk_size) as u64;
            return commands;
        }
        let mut start = 0;
        while self.pending.len() - start >= self.chunk_size {
            write_chunk(&self.pending[start..start + self.chunk_size], false, out);
            start += self.chunk_size;
            commands += 1;
        }
        self.chunks += commands as u64;
        self.payload += start as u64;
        self.pending.drain(..start);
        commands
    }

    /// Writes the final `BDAT n LAST` chunk (possibly `BDAT 0 LAST`), after
    /// adding the CRLF a text message must end with when it lacks one (as
    /// the DATA encoder does, so both transfers deliver the same octets).
    /// Returns the number of BDAT commands written: usually 1, 2 when that
    /// CRLF overflowed a chunk, 0 when already finished.
    pub fn finish<B: BufMut>(&mut self, out: &mut B) -> usize {
        if self.finished {
            return 0;
        }
        self.finished = true;
        if self.normalizer.is_some_and(|n| !n.at_line_start) {
            self.pending.extend_from_slice(b"\r\n");
        }
        let mut commands = 1;
        if self.pending.len() > self.chunk_size {
            write_chunk(&self.pending[..self.chunk_size], false, out);
            self.pending.drain(..self.chunk_size);
            commands += 1;
        }
        write_chunk(&self.pending, true, out);
        self.chunks += commands as u64;
        self.payload += (self.pending.len() + (commands - 1) * self.chunk_size) as u64;
        // A finished message may wait a while for its reply: keep nothing.
        self.pending = Vec::new();
        commands
    }
}

/// `BDAT <size>[ LAST]` and the chunk. The command line is written by hand
/// rather than through [`Command`](crate::Command)'s formatter: there is one
/// per chunk, and a small chunk size makes them as many as the lines.
fn write_chunk<B: BufMut>(data: &[u8], last: bool, out: &mut B) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = data.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789"[n % 10];
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(b"BDAT ");
    out.put_slice(&digits[at..]);
    if last {
        out.put_slice(b" LAST");
    }
    out.put_slice(b"\r\n");
    out.put_slice(data);
}

/// What the [`BodyInspector`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyReport {
    /// Octets as given.
    pub raw_size: u64,
    /// Octets after CRLF normalisation, with the final CRLF added when
    /// missing: the value for `SIZE=` (RFC 1870 excludes dot-stuffing).
    pub size: u64,
    /// Some octet is 0x80 or above: needs `BODY=8BITMIME` (or SMTPUTF8).
    pub has_8bit: bool,
    /// Some octet is NUL: only `BODY=BINARYMIME` carries it unchanged.
    pub has_nul: bool,
    /// A CR not followed by LF (normalised to CRLF unless sent binary).
    pub has_bare_cr: bool,
    /// An LF not preceded by CR (normalised to CRLF unless sent binary).
    pub has_bare_lf: bool,
    /// The longest line in octets, without its line ending.
    pub longest_line: usize,
}

impl BodyReport {
    /// RFC 5322 §2.1.1: lines must not exceed 998 octets.
    pub const MAX_LINE_LEN: usize = 998;

    /// Lines longer than 998 octets (RFC 5322 §2.1.1).
    pub fn has_long_lines(&self) -> bool {
        self.longest_line > Self::MAX_LINE_LEN
    }

    /// The least `BODY=` type that carries this body once its line endings
    /// are normalised: NUL needs BINARYMIME, 8-bit octets 8BITMIME.
    pub fn body_type(&self) -> BodyType {
        if self.has_nul {
            BodyType::BinaryMime
        } else if self.has_8bit {
            BodyType::EightBitMime
        } else {
            BodyType::SevenBit
        }
    }

    /// Whether normalisation changes the body (it has bare CR or LF).
    pub fn has_bare_line_endings(&self) -> bool {
        self.has_bare_cr || self.has_bare_lf
    }
}

/// Looks at a body in one pass, in chunks of any size, and reports what a
/// client must know before MAIL FROM: its size, whether it is 8-bit or
/// binary, and its longest line.
///
/// ```
/// use smtpkit_proto::{BodyInspector, BodyType};
///
/// let mut inspector = BodyInspector::new();
/// inspector.update(b"Subject: caf\xc3\xa9\n\nbody");
/// let report = inspector.finish();
/// assert_eq!(report.body_type(), BodyType::EightBitMime);
/// assert!(report.has_bare_lf);
/// assert_eq!(report.size, 24); // two LFs became CRLF, and a final CRLF
/// ```
#[derive(Debug, Clone)]
pub struct BodyInspector {
    report: BodyReport,
    line_len: usize,
    after_cr: bool,
    /// Whether `longest_line` is measured; without it, well-formed text
    /// is inspected in blocks instead of line by line.
    line_lengths: bool,
    /// What was inspected last ended a line (or nothing was): a dot next
    /// starts a line to stuff.
    line_start: bool,
    /// Some line starts with a dot.
    dot_line: bool,
}

impl Default for BodyInspector {
    fn default() -> Self {
        BodyInspector::new()
    }
}

impl BodyInspector {
    /// A new inspector.
    pub fn new() -> Self {
        BodyInspector {
            report: BodyReport::default(),
            line_len: 0,
            after_cr: false,
            line_lengths: true,
            line_start: true,
            dot_line: false,
        }
    }

    /// An inspector for what MAIL FROM needs (the size and the body type),
    /// several times faster on well-formed text: it does not measure lines,
    /// and its report's `longest_line` is 0.
    pub fn for_envelope() -> Self {
        BodyInspector {
            line_lengths: false,
            ..BodyInspector::new()
        }
    }

    /// Inspects the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        let r = &mut self.report;
        r.raw_size += chunk.len() as u64;
        r.size += chunk.len() as u64;
        let mut input = chunk;
        if self.after_cr && !input.is_empty() {
            self.after_cr = false;
            if input[0] == b'\n' {
                input = &input[1..];
            } else {
                r.has_bare_cr = true;
                r.size += 1;
            }
        }
        let mut at = 0;
        // As in the normaliser: no block check before the end of the last
        // block that needed the slow path.
        let mut slow_until = if self.line_lengths { usize::MAX } else { 0 };
        while at < input.len() {
            if self.line_start {
                self.line_start = false;
                self.dot_line |= input[at] == b'.';
            }
            if at >= slow_until {
                match scan_block(input, at) {
                    Some(facts) if !facts.has(BlockFacts::IRREGULAR | BlockFacts::NUL) => {
                        self.report.has_8bit |= facts.has(BlockFacts::HIGH);
                        self.dot_line |= facts.has(BlockFacts::DOT_LINE);
                        let last = input[at + BLOCK - 1];
                        at += BLOCK + usize::from(last == b'\r');
                        // Only whether the last line is unterminated is
                        // kept: `finish` adds its CRLF.
                        self.line_len = usize::from(!matches!(last, b'\r' | b'\n'));
                        self.line_start = matches!(last, b'\r' | b'\n');
                        continue;
                    }
                    Some(_) => slow_until = at + BLOCK,
                    None => slow_until = usize::MAX,
                }
            }
            at += self.line_step(&input[at..]);
        }
    }

    /// Whether the body inspected so far needs neither normalisation nor
    /// dot-stuffing: no bare CR or LF (a CR last counts as bare until its
    /// LF comes) and no line starting with a dot.
    fn wire_ready(&self) -> bool {
        let r = &self.report;
        !(r.has_bare_cr || r.has_bare_lf || self.after_cr || self.dot_line)
    }

    /// Inspects `input` up to and including its first line ending (or all
    /// of it when it has none); returns the octets consumed.
    fn line_step(&mut self, input: &[u8]) -> usize {
        let r = &mut self.report;
        let end = memchr2(b'\r', b'\n', input).unwrap_or(input.len());
        let segment = &input[..end];
        if !r.has_8bit {
            r.has_8bit = segment.iter().fold(0u8, |acc, &b| acc | b) & 0x80 != 0;
        }
        if !r.has_nul {
            r.has_nul = memchr::memchr(0, segment).is_some();
        }
        self.line_len += segment.len();
        r.longest_line = r.longest_line.max(self.line_len);
        if end == input.len() {
            return end;
        }
        self.line_len = 0;
        self.line_start = true;
        match (input[end], input.get(end + 1)) {
            (b'\r', Some(b'\n')) => end + 2,
            (b'\r', None) => {
                self.after_cr = true;
                end + 1
            }
            (b'\r', Some(_)) => {
                r.has_bare_cr = true;
                r.size += 1;
                end + 1
            }
            _ => {
                r.has_bare_lf = true;
                r.size += 1;
                end + 1
            }
        }
    }

    /// The report; a trailing CR or an unterminated last line count as
    /// normalisation will send them.
    pub fn finish(mut self) -> BodyReport {
        if self.after_cr {
            self.report.has_bare_cr = true;
            self.report.size += 1;
        } else if self.line_len > 0 {
            self.report.size += 2;
        }
        if !self.line_lengths {
            self.report.longest_line = 0;
        }
        self.report
    }
}

/// A body in memory, inspected once for everything sending it needs: the
/// [`BodyReport`] MAIL FROM needs, and whether the text is already what
/// the wire needs (CRLF line endings only, no line starting with a dot).
/// Its [`piece`](Self::piece)s carry that proof to
/// [`DataEncoder::push_piece`] and [`BdatChunker::push_piece`], which then
/// copy wire-ready text without looking at it a second time.
///
/// ```
/// use smtpkit_proto::{DataEncoder, InspectedBody};
///
/// let body = InspectedBody::new(&b"Subject: hi\r\n\r\nready\r\n"[..]);
/// assert!(body.is_wire_ready());
/// assert_eq!(body.report().size, 22);
/// let mut out = Vec::new();
/// let mut encoder = DataEncoder::new();
/// encoder.push_piece(body.piece(0..10), &mut out);
/// encoder.push_piece(body.piece(10..22), &mut out);
/// encoder.finish(&mut out);
/// assert_eq!(out, b"Subject: hi\r\n\r\nready\r\n.\r\n");
///
/// // A line to stuff: the pieces are encoded the usual way.
/// let body = InspectedBody::new(&b"a\r\n.b\r\n"[..]);
/// assert!(!body.is_wire_ready());
/// ```
#[derive(Debug, Clone)]
pub struct InspectedBody<B> {
    bytes: B,
    report: BodyReport,
    wire_ready: bool,
    /// Where the inspected octets were (address and length): `piece`
    /// vouches only for those, so a `B` whose `as_ref` hands out other
    /// octets later gets unproven pieces, not a false proof.
    inspected: (usize, usize),
}

impl<B: AsRef<[u8]>> InspectedBody<B> {
    /// Inspects `bytes` in one pass (as [`BodyInspector::for_envelope`]:
    /// the report's `longest_line` is 0).
    pub fn new(bytes: B) -> Self {
        let mut inspector = BodyInspector::for_envelope();
        let octets = bytes.as_ref();
        inspector.update(octets);
        let wire_ready = inspector.wire_ready();
        let inspected = (octets.as_ptr() as usize, octets.len());
        InspectedBody {
            bytes,
            report: inspector.finish(),
            wire_ready,
            inspected,
        }
    }

    /// What the inspection found.
    pub fn report(&self) -> &BodyReport {
        &self.report
    }

    /// Whether the text goes to the wire as it is (CRLF line endings only,
    /// no line starting with a dot).
    pub fn is_wire_ready(&self) -> bool {
        self.wire_ready && self.still_inspected(self.bytes.as_ref())
    }

    fn still_inspected(&self, octets: &[u8]) -> bool {
        (octets.as_ptr() as usize, octets.len()) == self.inspected
    }

    /// The body.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// This body's inspection for `bytes`, when they are the very octets
    /// it inspected: the same address and length, as two clones of one
    /// `Bytes` or two borrows of one buffer are while both are alive (a
    /// batch that sends one message many times). `Err(bytes)` otherwise:
    /// inspect them with [`new`](Self::new). Saves a pass over the body
    /// per message without trusting anything but the address.
    ///
    /// ```
    /// use smtpkit_proto::InspectedBody;
    ///
    /// let message = bytes::Bytes::from_static(b"Subject: hi\r\n\r\nHello\r\n");
    /// let first = InspectedBody::new(message.clone());
    /// let again = first.share(message.clone()).expect("the same buffer");
    /// assert!(again.is_wire_ready());
    /// let copy = bytes::Bytes::copy_from_slice(&message);
    /// assert!(first.share(copy).is_err());
    /// ```
    ///
    /// # Errors
    /// `bytes`, given back, when they are other octets.
    pub fn share(&self, bytes: B) -> Result<InspectedBody<B>, B> {
        let octets = bytes.as_ref();
        if !(self.still_inspected(octets) && self.still_inspected(self.bytes.as_ref())) {
            return Err(bytes);
        }
        Ok(InspectedBody {
            bytes,
            report: self.report,
            wire_ready: self.wire_ready,
            inspected: self.inspected,
        })
    }

    /// The body back.
    pub fn into_inner(self) -> B {
        self.bytes
    }

    /// The octets in `range` (clamped to the body), with the proof.
    pub fn piece(&self, range: std::ops::Range<usize>) -> BodyPiece<'_> {
        let bytes = self.bytes.as_ref();
        let end = range.end.min(bytes.len());
        BodyPiece {
            bytes: &bytes[range.start.min(end)..end],
            wire_ready: self.wire_ready && self.still_inspected(bytes),
        }
    }
}

/// Part of a body for the encoders: a piece of an [`InspectedBody`] (with
/// its proof), or any octets (`From<&[u8]>`, normalised as usual).
#[derive(Debug, Clone, Copy)]
pub struct BodyPiece<'a> {
    bytes: &'a [u8],
    /// Set only by [`InspectedBody::piece`]: nothing outside this module
    /// can claim text is wire-ready.
    wire_ready: bool,
}

impl<'a> BodyPiece<'a> {
    /// The octets.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the octets come with the wire-ready proof.
    pub fn is_wire_ready(&self) -> bool {
        self.wire_ready
    }
}

impl<'a> From<&'a [u8]> for BodyPiece<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        BodyPiece {
            bytes,
            wire_ready: false,
        }
    }
}

#[cfg(feature = "server")]
mod decode;
#[cfg(feature = "server")]
pub use decode::{DataDecoder, DataProgress};

#[cfg(test)]
mod tests {
    use super::*;

    /// A body whose `as_ref` hands out other octets from the second call
    /// on: clean text when inspected, a bare LF and a dot line after.
    struct Shifty(std::cell::Cell<bool>);

    impl AsRef<[u8]> for Shifty {
        fn as_ref(&self) -> &[u8] {
            if self.0.replace(true) {
                b"a\n.\n"
            } else {
                b"ok\r\n"
            }
        }
    }

    #[test]
    fn a_body_that_changes_under_the_proof_loses_it() {
        let body = InspectedBody::new(Shifty(std::cell::Cell::new(false)));
        assert!(!body.is_wire_ready());
        let piece = body.piece(0..4);
        assert!(!piece.is_wire_ready());
        let mut out = Vec::new();
        let mut encoder = DataEncoder::new();
        encoder.push_piece(piece, &mut out);
        encoder.finish(&mut out);
        assert_eq!(out, b"a\r\n..\r\n.\r\n");
    }

    fn encode_all(chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut e = DataEncoder::new();
        for c in chunks {
            e.push(c, &mut out);
        }
        e.finish(&mut out);
        out
    }

    #[test]
    fn smuggling_sequences_are_neutralised() {
        // The sequences of the 2023 SMTP smuggling research.
        for body in [
            &b"a\n.\nMAIL FROM:<evil@x>"[..],
            b"a\r.\rMAIL FROM:<evil@x>",
            b"a\r\n.\nMAIL FROM:<evil@x>",
            b"a\n.\r\nMAIL FROM:<evil@x>",
            b"a\r.\r\nMAIL FROM:<evil@x>",
        ] {
            let out = encode_all(&[body]);
            let mut d = DataDecoder::new();
            let mut content = Vec::new();
            let p = d.decode(&out, &mut content);
            assert!(p.done);
            assert_eq!(p.consumed, out.len(), "ended early: {out:?}");
            assert!(content.ends_with(b"MAIL FROM:<evil@x>\r\n"));
        }
    }

    #[test]
    fn empty_and_terminated_bodies() {
        assert_eq!(encode_all(&[]), b".\r\n");
        assert_eq!(encode_all(&[b"x\r\n"]), b"x\r\n.\r\n");
        assert_eq!(encode_all(&[b"x"]), b"x\r\n.\r\n");
        assert_eq!(encode_all(&[b"x\r"]), b"x\r\n.\r\n");
        assert_eq!(encode_all(&[b".", b".", b"\n."]), b"...\r\n..\r\n.\r\n");
    }

    #[test]
    fn cr_at_chunk_end_then_lf() {
        assert_eq!(encode_all(&[b"a\r", b"\n.b"]), b"a\r\n..b\r\n.\r\n");
        assert_eq!(encode_all(&[b"a\r", b"", b"\n"]), b"a\r\n.\r\n");
        assert_eq!(encode_all(&[b"a\r", b"\r", b"\n"]), b"a\r\n\r\n.\r\n");
    }

    #[test]
    fn bdat_binary_passes_through() {
        let mut out = Vec::new();
        let mut c = BdatChunker::new(4, true);
        assert_eq!(c.push(b"a\nb\r\0", &mut out), 1);
        assert_eq!(c.finish(&mut out), 1);
        assert_eq!(out, b"BDAT 4\r\na\nb\rBDAT 1 LAST\r\n\0");
        let mut out = Vec::new();
        let mut c = BdatChunker::new(4, false);
        c.finish(&mut out);
        assert_eq!(out, b"BDAT 0 LAST\r\n");
    }

    #[test]
    fn inspector_facts() {
        let mut i = BodyInspector::new();
        i.update(b"a\r");
        i.update(b"\nb\0\rc");
        let r = i.finish();
        assert!(r.has_nul && r.has_bare_cr && !r.has_bare_lf && !r.has_8bit);
        assert_eq!(r.body_type(), BodyType::BinaryMime);
        assert_eq!(r.raw_size, 7);
        assert_eq!(r.size, 10); // bare CR -> CRLF, final CRLF added
        let mut i = BodyInspector::new();
        i.update(&[b'x'; 999]);
        i.update(b"\r\n");
        let r = i.finish();
        assert!(r.has_long_lines());
        assert_eq!(r.size, 1001);
    }
}
