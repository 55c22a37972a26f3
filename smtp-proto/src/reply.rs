//! Server replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463,
//! RFC 2034): an incremental, bounded decoder for the client and an encoder
//! for the server direction.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};

use crate::input::{Field, InvalidInput, Reason};
use crate::line::{LineTooLong, next_line};

/// A three-digit reply code, `2xx` to `5xx`, second digit `0` to `5`
/// (RFC 5321 §4.2: `%x32-35 %x30-35 %x30-39`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220` service ready.
    pub const SERVICE_READY: ReplyCode = ReplyCode(220);
    /// `221` closing.
    pub const CLOSING: ReplyCode = ReplyCode(221);
    /// `235` authentication succeeded.
    pub const AUTH_SUCCEEDED: ReplyCode = ReplyCode(235);
    /// `250` requested action okay.
    pub const OK: ReplyCode = ReplyCode(250);
    /// `334` SASL continuation.
    pub const AUTH_CONTINUE: ReplyCode = ReplyCode(334);
    /// `354` start mail input.
    pub const START_MAIL_INPUT: ReplyCode = ReplyCode(354);
    /// `421` service not available, closing.
    pub const SERVICE_UNAVAILABLE: ReplyCode = ReplyCode(421);
    /// `554` transaction failed (also a refused session at greeting).
    pub const TRANSACTION_FAILED: ReplyCode = ReplyCode(554);

    /// Validates a numeric code.
    ///
    /// # Errors
    /// `None` when the code is outside the RFC 5321 grammar.
    pub const fn new(code: u16) -> Option<ReplyCode> {
        let (first, second) = (code / 100, code / 10 % 10);
        if first >= 2 && first <= 5 && second <= 5 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The first digit: 2 completion, 3 intermediate, 4 transient, 5 permanent.
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// `2yz`: the request was completed.
    pub const fn is_positive_completion(self) -> bool {
        self.class() == 2
    }

    /// `3yz`: more input is expected (354 after DATA, 334 during AUTH).
    pub const fn is_intermediate(self) -> bool {
        self.class() == 3
    }

    /// `4yz`: a transient failure; the same request may succeed later.
    pub const fn is_transient(self) -> bool {
        self.class() == 4
    }

    /// `5yz`: a permanent failure; do not repeat the request unchanged.
    pub const fn is_permanent(self) -> bool {
        self.class() == 5
    }

    fn from_digits(digits: &[u8]) -> Option<ReplyCode> {
        match digits {
            [a @ b'2'..=b'5', b @ b'0'..=b'5', c @ b'0'..=b'9'] => Some(ReplyCode(
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            )),
            _ => None,
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An enhanced mail system status code `class.subject.detail` (RFC 3463),
/// such as `5.1.1` (bad destination mailbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedStatusCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedStatusCode {
    /// Builds a code; `class` must be 2, 4 or 5 and the other parts below 1000.
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<Self> {
        if (class == 2 || class == 4 || class == 5) && subject < 1000 && detail < 1000 {
            Some(EnhancedStatusCode {
                class,
                subject,
                detail,
            })
        } else {
            None
        }
    }

    /// 2 success, 4 persistent transient failure, 5 permanent failure.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject (1 addressing, 2 mailbox, 3 mail system, 4 network, 5
    /// protocol, 6 content, 7 security).
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail within the subject.
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// Parses a code at the start of `text` that is followed by a space or
    /// the end of the text; returns the code and the rest after the space.
    /// Anything else (a malformed code, a version number, prose) is `None`.
    pub(crate) fn parse_prefix(text: &[u8]) -> Option<(EnhancedStatusCode, &[u8])> {
        use nom::Parser;
        use nom::bytes::complete::take_while_m_n;
        use nom::character::complete::{char, one_of};

        let number = || {
            take_while_m_n(1, 3, |b: u8| b.is_ascii_digit()).map(|digits: &[u8]| {
                digits
                    .iter()
                    .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
            })
        };
        let mut code = (
            one_of::<_, _, nom::error::Error<&[u8]>>("245"),
            char('.'),
            number(),
            char('.'),
            number(),
        );
        let (rest, (class, _, subject, _, detail)) = code.parse(text).ok()?;
        let rest = match rest {
            [] => rest,
            [b' ', tail @ ..] => tail,
            _ => return None,
        };
        Some((
            EnhancedStatusCode {
                class: class as u8 - b'0',
                subject,
                detail,
            },
            rest,
        ))
    }
}

impl fmt::Display for EnhancedStatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl std::str::FromStr for Reply {
    type Err = ReplyError;

    /// As [`Reply::parse`].
    fn from_str(text: &str) -> Result<Reply, ReplyError> {
        Reply::parse(text)
    }
}

impl std::str::FromStr for EnhancedStatusCode {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match EnhancedStatusCode::parse_prefix(s.as_bytes()) {
            Some((code, [])) => Ok(code),
            _ => Err(InvalidInput::new(
                Field::ReplyText,
                Reason::Syntax("not an enhanced status code class.subject.detail"),
            )),
        }
    }
}

/// A complete server reply: a code, an optional enhanced status code and one
/// or more lines of text.
///
/// The text never contains CR, LF, NUL or other control characters except
/// HTAB: the decoder rejects them and [`Reply::new`] refuses them, so a
/// reply can be logged and re-encoded safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedStatusCode>,
    lines: Vec<String>,
}

impl Reply {
    /// Builds a reply for the server direction.
    ///
    /// An empty `lines` is one empty line. The enhanced code, when given,
    /// is written at the start of every line, as RFC 2034 requires.
    ///
    /// # Errors
    /// When a line contains a control character other than HTAB, or the
    /// enhanced code's class differs from the reply code's first digit.
    pub fn new(
        code: ReplyCode,
        enhanced: Option<EnhancedStatusCode>,
        lines: Vec<String>,
    ) -> Result<Reply, InvalidInput> {
        if let Some(e) = enhanced
            && e.class() != code.class()
        {
            return Err(InvalidInput::new(
                Field::ReplyText,
                Reason::Syntax("enhanced status class differs from the reply code's class"),
            ));
        }
        for line in &lines {
            if let Some(position) = line.bytes().position(|b| !is_text_byte(b)) {
                return Err(InvalidInput::new(
                    Field::ReplyText,
                    Reason::ControlCharacter {
                        byte: line.as_bytes()[position],
                        position,
                    },
                ));
            }
        }
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Ok(Reply {
            code,
            enhanced,
            lines,
        })
    }

    /// A one-line reply; see [`Reply::new`].
    ///
    /// # Errors
    /// As [`Reply::new`].
    pub fn single(
        code: ReplyCode,
        enhanced: Option<EnhancedStatusCode>,
        text: &str,
    ) -> Result<Reply, InvalidInput> {
        Reply::new(code, enhanced, vec![text.to_owned()])
    }

    /// Parses a reply as a server writes it: one line (`550 5.1.1 no such
    /// user`) or several (`250-first\r\n250 last`), CRLF or LF between
    /// them, the last line's end optional. For tests and scripted
    /// doubles (`StubMailer::refuse`), with the limits and checks the
    /// client applies to replies from the wire.
    ///
    /// ```
    /// use smtpkit_proto::Reply;
    ///
    /// let reply = Reply::parse("550 5.1.1 no such user")?;
    /// assert_eq!(reply.code().get(), 550);
    /// assert_eq!(reply.enhanced_code().map(|c| c.to_string()).as_deref(), Some("5.1.1"));
    /// assert_eq!(reply.message(), "no such user");
    /// assert_eq!(Reply::parse("250-mx.example\n250 SIZE 1000")?.lines().len(), 2);
    /// assert!(Reply::parse("hello").is_err());
    /// # Ok::<(), smtpkit_proto::ReplyError>(())
    /// ```
    ///
    /// # Errors
    /// A [`ReplyError`]: a malformed line, a code that changes, control
    /// characters, a limit exceeded, or not exactly one reply
    /// ([`ReplyError::MalformedLine`] naming what is left over).
    pub fn parse(text: &str) -> Result<Reply, ReplyError> {
        let mut wire = String::with_capacity(text.len() + 2);
        for line in text.trim_end_matches(['\r', '\n']).split('\n') {
            wire.push_str(line.strip_suffix('\r').unwrap_or(line));
            wire.push_str("\r\n");
        }
        let leftover = |rest: &[u8]| ReplyError::MalformedLine {
            line: String::from_utf8_lossy(&rest[..rest.len().min(64)]).into_owned(),
        };
        match ReplyDecoder::new(ReplyLimits::default()).decode(wire.as_bytes())? {
            Decoded::Complete { item, consumed } if consumed == wire.len() => Ok(item),
            Decoded::Complete { consumed, .. } => Err(leftover(&wire.as_bytes()[consumed..])),
            Decoded::Incomplete { .. } => Err(leftover(wire.as_bytes())),
        }
    }

    /// A reply with no text.
    pub fn empty(code: ReplyCode) -> Reply {
        Reply {
            code,
            enhanced: None,
            lines: vec![String::new()],
        }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code of the first line, when it had a well-formed
    /// one whose class matches the reply code.
    pub fn enhanced_code(&self) -> Option<EnhancedStatusCode> {
        self.enhanced
    }

    /// The text of each line, without the code and without the enhanced
    /// status code where the line repeated it.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// All lines joined with a space: the human-readable message.
    pub fn message(&self) -> String {
        self.lines.join(" ")
    }

    /// Shorthand for `code().is_positive_completion()`.
    pub fn is_positive_completion(&self) -> bool {
        self.code.is_positive_completion()
    }

    /// Shorthand for `code().is_intermediate()`.
    pub fn is_intermediate(&self) -> bool {
        self.code.is_intermediate()
    }

    /// Shorthand for `code().is_transient()`.
    pub fn is_transient(&self) -> bool {
        self.code.is_transient()
    }

    /// Shorthand for `code().is_permanent()`.
    pub fn is_permanent(&self) -> bool {
        self.code.is_permanent()
    }

    /// Writes the reply in wire form: `NNN-` continuation lines and a final
    /// `NNN ` line, each ending in CRLF (never a bare LF).
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        let code = self.code.0;
        let digits = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ];
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.put_slice(&digits);
            let separator = if i == last { b' ' } else { b'-' };
            match self.enhanced {
                Some(e) => {
                    out.put_u8(separator);
                    out.put_slice(e.to_string().as_bytes());
                    if !line.is_empty() {
                        out.put_u8(b' ');
                        out.put_slice(line.as_bytes());
                    }
                }
                None if line.is_empty() && i == last => {}
                None => {
                    out.put_u8(separator);
                    out.put_slice(line.as_bytes());
                }
            }
            out.put_slice(b"\r\n");
        }
    }

    /// The wire form as a new buffer; see [`Reply::encode`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 16).sum());
        self.encode(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(e) = self.enhanced {
            write!(f, " {e}")?;
        }
        // Server text is data: escaped before anyone sees it.
        for line in &self.lines {
            if !line.is_empty() {
                write!(f, " {}", crate::escape_text(line))?;
            }
        }
        Ok(())
    }
}

/// HTAB, printable ASCII, and any octet of a UTF-8 sequence (RFC 6531).
fn is_text_byte(b: u8) -> bool {
    // Branch-free (tab, or 0x20 and up but DEL), so that the check of a
    // whole line vectorises.
    (b == b'\t') | ((b >= 0x20) & (b != 0x7f))
}

/// The first octet of `text` that is not reply text. One branch-free pass
/// first: text is nearly always clean, and a vectorised check costs a
/// fraction of a per-octet search.
fn first_control(text: &[u8]) -> Option<u8> {
    if text.iter().fold(true, |clean, &b| clean & is_text_byte(b)) {
        return None;
    }
    text.iter().copied().find(|&b| !is_text_byte(b))
}

/// Bounds that hostile replies cannot push the decoder past. Built with
/// [`Default`], then changed field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplyLimits {
    /// Longest line, in octets without its CRLF. RFC 5321 allows 512; real
    /// servers send longer SASL challenges. Default 8192.
    pub max_line_len: usize,
    /// Most lines in one reply. Default 128 (EHLO replies have about 20).
    pub max_lines: usize,
    /// Most text octets in one reply, all lines together. Default 64 KiB.
    pub max_reply_len: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_line_len: 8192,
            max_lines: 128,
            max_reply_len: 64 * 1024,
        }
    }
}

/// Why a reply could not be decoded. Every one of these is fatal for the
/// connection: the reply stream can no longer be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// The line does not start with a valid three-digit code followed by a
    /// space, a hyphen or the end of the line.
    #[error("malformed reply line \"{}\"", crate::escape_text(line))]
    MalformedLine {
        /// The start of the offending line (at most 64 octets, lossy UTF-8).
        line: String,
    },
    /// A multi-line reply changed its code.
    #[error("reply code changed from {expected} to {found} inside a multi-line reply")]
    CodeMismatch {
        /// The code of the first line.
        expected: ReplyCode,
        /// The code of the offending line.
        found: ReplyCode,
    },
    /// A line exceeded [`ReplyLimits::max_line_len`].
    #[error("reply line longer than {max} octets")]
    LineTooLong {
        /// The limit.
        max: usize,
    },
    /// A reply exceeded [`ReplyLimits::max_lines`].
    #[error("reply has more than {max} lines")]
    TooManyLines {
        /// The limit.
        max: usize,
    },
    /// A reply exceeded [`ReplyLimits::max_reply_len`].
    #[error("reply longer than {max} octets")]
    ReplyTooLong {
        /// The limit.
        max: usize,
    },
    /// A control character (NUL, a bare CR, ESC, …) inside the text.
    #[error("control character 0x{byte:02X} in reply text")]
    ControlCharacter {
        /// The offending byte.
        byte: u8,
    },
}

/// What one call to a decoder achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A complete item; `consumed` input bytes belong to it (and to any
    /// earlier lines reported as `Incomplete`).
    Complete {
        /// The decoded item.
        item: T,
        /// Input bytes consumed by this call.
        consumed: usize,
    },
    /// No complete item yet. `consumed` bytes (whole lines) were taken and
    /// remembered; the caller drops them and offers the rest, plus more
    /// input, on the next call.
    Incomplete {
        /// Input bytes consumed by this call.
        consumed: usize,
    },
}

/// An incremental reply decoder.
///
/// Feed it whatever bytes have arrived; it takes whole lines, remembers the
/// lines of a multi-line reply it has seen, and returns a [`Reply`] once the
/// final line arrives. It never holds a partial line itself and reports
/// [`ReplyError::LineTooLong`] as soon as the unconsumed input proves a line
/// too long, so a caller that keeps only the unconsumed tail buffers at most
/// `max_line_len + 2` bytes of a line.
///
/// ```
/// use smtpkit_proto::{Decoded, ReplyDecoder};
///
/// let mut decoder = ReplyDecoder::default();
/// // Input may be split anywhere; a partial line is left unconsumed.
/// let Decoded::Incomplete { consumed } = decoder.decode(b"250-mx.example greets you\r\n250-PIPE")? else {
///     panic!("the reply is not complete yet");
/// };
/// assert_eq!(consumed, 27);
/// let Decoded::Complete { item: reply, .. } = decoder.decode(b"250-PIPELINING\r\n250 SIZE 1000\r\n")? else {
///     panic!("the reply is complete");
/// };
/// assert_eq!(reply.code().get(), 250);
/// assert_eq!(reply.lines(), ["mx.example greets you", "PIPELINING", "SIZE 1000"]);
/// # Ok::<(), smtpkit_proto::ReplyError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReplyDecoder {
    limits: ReplyLimits,
    partial: Option<Reply>,
    partial_len: usize,
    /// How many octets at the front of `decode_buf`'s buffer are known to
    /// hold no LF: a line arriving an octet at a time is searched once,
    /// not once per octet.
    searched: usize,
}

impl ReplyDecoder {
    /// A decoder with the given limits.
    pub fn new(limits: ReplyLimits) -> Self {
        ReplyDecoder {
            limits,
            partial: None,
            partial_len: 0,
            searched: 0,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> ReplyLimits {
        self.limits
    }

    /// True while lines of an unfinished multi-line reply are held.
    pub fn is_mid_reply(&self) -> bool {
        self.partial.is_some()
    }

    /// Decodes as much of `input` as forms whole lines, up to the end of the
    /// first complete reply.
    ///
    /// # Errors
    /// Any [`ReplyError`]; the decoder then forgets the partial reply. The
    /// stream cannot be resynchronised: close the connection.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded<Reply>, ReplyError> {
        // The caller manages the buffer: what `decode_buf` searched says
        // nothing about it.
        self.searched = 0;
        self.decode_after(input, 0)
    }

    /// `decode`, where `input[..searched]` is known to hold no LF.
    fn decode_after(
        &mut self,
        input: &[u8],
        mut searched: usize,
    ) -> Result<Decoded<Reply>, ReplyError> {
        let mut consumed = 0;
        loop {
            let line = next_line(&input[consumed..], self.limits.max_line_len, searched);
            searched = 0;
            let line = match line {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(Decoded::Incomplete { consumed }),
                Err(LineTooLong) => {
                    return Err(self.fail(ReplyError::LineTooLong {
                        max: self.limits.max_line_len,
                    }));
                }
            };
            consumed += line.consumed;
            match self.line(line.content) {
                Ok(Some(reply)) => {
                    return Ok(Decoded::Complete {
                        item: reply,
                        consumed,
                    });
                }
                Ok(None) => {}
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    /// Like [`decode`](Self::decode), but takes the consumed bytes off the
    /// front of `buf`. Between calls, keep what it left in `buf` and
    /// append new input after it (as a read loop does): it remembers how
    /// far it searched the unfinished line, so a line arriving an octet at
    /// a time costs one search, not one per octet. (Refilling `buf` behind
    /// its back can only make it refuse the input, never split it
    /// elsewhere; use [`decode`](Self::decode) to manage the buffer
    /// yourself.)
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn decode_buf(&mut self, buf: &mut BytesMut) -> Result<Option<Reply>, ReplyError> {
        // What was searched last time is still at the front unless the
        // caller took octets away; new input is appended after it.
        let searched = Some(std::mem::take(&mut self.searched))
            .filter(|&searched| searched <= buf.len())
            .unwrap_or(0);
        match self.decode_after(buf, searched)? {
            Decoded::Complete { item, consumed } => {
                buf.advance(consumed);
                Ok(Some(item))
            }
            Decoded::Incomplete { consumed } => {
                buf.advance(consumed);
                self.searched = buf.len();
                Ok(None)
            }
        }
    }

    fn fail(&mut self, error: ReplyError) -> ReplyError {
        self.partial = None;
        self.partial_len = 0;
        self.searched = 0;
        error
    }

    fn line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let malformed = || ReplyError::MalformedLine {
            line: String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned(),
        };
        let code = line
            .get(..3)
            .and_then(ReplyCode::from_digits)
            .ok_or_else(malformed)?;
        let (last, text) = match line.get(3) {
            None => (true, &[][..]),
            Some(b' ') => (true, &line[4..]),
            Some(b'-') => (false, &line[4..]),
            Some(_) => return Err(malformed()),
        };
        if let Some(byte) = first_control(text) {
            return Err(ReplyError::ControlCharacter { byte });
        }

        let mut reply = match self.partial.take() {
            Some(reply) if reply.code != code => {
                return Err(ReplyError::CodeMismatch {
                    expected: reply.code,
                    found: code,
                });
            }
            Some(reply) => {
                if reply.lines.len() >= self.limits.max_lines {
                    return Err(ReplyError::TooManyLines {
                        max: self.limits.max_lines,
                    });
                }
                reply
            }
            None => Reply {
                code,
                enhanced: None,
                lines: Vec::with_capacity(if last { 1 } else { 8 }),
            },
        };

        // RFC 2034: every line repeats the code; a 3xx reply has none, and a
        // code whose class differs from the reply's is not one.
        let mut text = text;
        if let Some((enhanced, rest)) = EnhancedStatusCode::parse_prefix(text)
            && enhanced.class() == code.class()
        {
            if reply.lines.is_empty() {
                reply.enhanced = Some(enhanced);
            }
            if reply.enhanced == Some(enhanced) {
                text = rest;
            }
        }

        self.partial_len += text.len();
        if self.partial_len > self.limits.max_reply_len {
            return Err(ReplyError::ReplyTooLong {
                max: self.limits.max_reply_len,
            });
        }
        reply.lines.push(String::from_utf8_lossy(text).into_owned());
        if last {
            self.partial_len = 0;
            Ok(Some(reply))
        } else {
            self.partial = Some(reply);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> Result<Reply, ReplyError> {
        match ReplyDecoder::default().decode(input)? {
            Decoded::Complete { item, consumed } => {
                assert_eq!(consumed, input.len());
                Ok(item)
            }
            Decoded::Incomplete { .. } => panic!("incomplete: {input:?}"),
        }
    }

    #[test]
    fn single_line_with_enhanced_code() {
        let reply = one(b"250 2.1.0 Ok\r\n").unwrap();
        assert_eq!(reply.code().get(), 250);
        assert_eq!(reply.enhanced_code(), EnhancedStatusCode::new(2, 1, 0));
        assert_eq!(reply.lines(), ["Ok"]);
    }

    #[test]
    fn code_without_text_and_bare_lf() {
        let reply = one(b"250\n").unwrap();
        assert_eq!(reply.lines(), [""]);
        assert_eq!(reply.to_bytes(), b"250\r\n");
        let reply = one(b"354 \r\n").unwrap();
        assert_eq!(reply.code(), ReplyCode::START_MAIL_INPUT);
        assert_eq!(reply.lines(), [""]);
    }

    #[test]
    fn enhanced_code_must_match_the_class() {
        // Postfix: "550 5.1.1 <x@y>: Recipient address rejected"
        let reply = one(b"550 5.1.1 <x@example.org>: Recipient address rejected\r\n").unwrap();
        assert_eq!(reply.enhanced_code().unwrap().to_string(), "5.1.1");
        let reply = one(b"550 2.1.1 odd\r\n").unwrap();
        assert_eq!(reply.enhanced_code(), None);
        assert_eq!(reply.lines(), ["2.1.1 odd"]);
        // Version numbers and prose are not codes.
        let reply = one(b"220 5.10.100x ESMTP\r\n").unwrap();
        assert_eq!(reply.enhanced_code(), None);
        let reply = one(b"354 2.0.0 go ahead\r\n").unwrap();
        assert_eq!(reply.enhanced_code(), None);
        let reply = one(b"421 4.4.2 mx.example Error: timeout exceeded\r\n").unwrap();
        assert!(reply.is_transient());
        assert_eq!(reply.enhanced_code().unwrap().subject(), 4);
        let reply = one(b"550 5.1234.1 x\r\n").unwrap();
        assert_eq!(reply.enhanced_code(), None);
    }

    #[test]
    fn gmail_multiline_rejection_strips_each_repeated_code() {
        let input =
            b"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n\
550-5.1.1 double-checking the recipient's email address for typos or\r\n\
550 5.1.1 unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser\r\n";
        let reply = one(input).unwrap();
        assert_eq!(reply.lines().len(), 3);
        assert!(reply.lines()[1].starts_with("double-checking"));
        assert_eq!(reply.to_bytes(), input);
    }

    #[test]
    fn malformed_codes() {
        for bad in [
            &b"25\r\n"[..],
            b"2500 x\r\n",
            b"abc hello\r\n",
            b"160 nope\r\n",
            b"260 nope\r\n",
            b"650 nope\r\n",
            b"250_x\r\n",
            b"\r\n",
        ] {
            assert!(
                matches!(one(bad), Err(ReplyError::MalformedLine { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn code_change_inside_multiline() {
        assert_eq!(
            one(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::CodeMismatch {
                expected: ReplyCode(250),
                found: ReplyCode(251)
            })
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        assert_eq!(
            one(b"250 a\rb\r\n"),
            Err(ReplyError::ControlCharacter { byte: b'\r' })
        );
        assert_eq!(
            one(b"250 a\0b\r\n"),
            Err(ReplyError::ControlCharacter { byte: 0 })
        );
        assert_eq!(one(b"250 a\tb\r\n").unwrap().lines(), ["a\tb"]);
    }

    #[test]
    fn limits() {
        let limits = ReplyLimits {
            max_line_len: 10,
            max_lines: 3,
            max_reply_len: 12,
        };
        let mut d = ReplyDecoder::new(limits);
        assert_eq!(
            d.decode(b"250 0123456789"),
            Err(ReplyError::LineTooLong { max: 10 })
        );
        // No LF in sight, but already too long: refused without buffering more.
        let mut d = ReplyDecoder::new(limits);
        assert_eq!(
            d.decode(b"250 01234567"),
            Err(ReplyError::LineTooLong { max: 10 })
        );
        let mut d = ReplyDecoder::new(limits);
        assert_eq!(
            d.decode(b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n"),
            Err(ReplyError::TooManyLines { max: 3 })
        );
        let mut d = ReplyDecoder::new(limits);
        assert_eq!(
            d.decode(b"250-abcde\r\n250-fghij\r\n250 k\r\n"),
            Ok(Decoded::Complete {
                item: Reply::new(
                    ReplyCode(250),
                    None,
                    vec!["abcde".into(), "fghij".into(), "k".into()]
                )
                .unwrap(),
                consumed: 29
            })
        );
        assert_eq!(
            d.decode(b"250-abcde\r\n250-fghij\r\n250 klm\r\n"),
            Err(ReplyError::ReplyTooLong { max: 12 })
        );
    }

    #[test]
    fn pipelined_replies_come_out_one_at_a_time() {
        let mut buf = BytesMut::from(
            &b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"[..],
        );
        let mut d = ReplyDecoder::default();
        let codes: Vec<u16> = std::iter::from_fn(|| d.decode_buf(&mut buf).unwrap())
            .map(|r| r.code().get())
            .collect();
        assert_eq!(codes, [250, 250, 354]);
        assert!(buf.is_empty());
    }

    #[test]
    fn reply_new_refuses_line_breaks() {
        assert!(Reply::single(ReplyCode::OK, None, "a\r\n250 b").is_err());
        assert!(Reply::single(ReplyCode::OK, EnhancedStatusCode::new(5, 0, 0), "x").is_err());
    }

    #[test]
    fn a_reply_arriving_an_octet_at_a_time_decodes_as_a_whole_one() {
        let wire = b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n354 go\r\n";
        let mut decoder = ReplyDecoder::default();
        let mut buf = BytesMut::new();
        let mut replies = Vec::new();
        for &octet in wire {
            buf.extend_from_slice(&[octet]);
            while let Some(reply) = decoder.decode_buf(&mut buf).unwrap() {
                replies.push(reply);
            }
        }
        assert_eq!(replies.len(), 2);
        assert_eq!(
            replies[0].lines(),
            ["mx.example", "PIPELINING", "SIZE 1000"]
        );
        assert_eq!(replies[1].code().get(), 354);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_buffer_the_caller_shortened_is_searched_afresh() {
        let mut decoder = ReplyDecoder::default();
        let mut buf = BytesMut::from(&b"250 a long partial line"[..]);
        assert!(decoder.decode_buf(&mut buf).unwrap().is_none());
        buf.clear();
        buf.extend_from_slice(b"250 ok\r\n");
        assert_eq!(
            decoder.decode_buf(&mut buf).unwrap().unwrap().lines(),
            ["ok"]
        );
    }

    #[test]
    fn a_buffer_refilled_behind_the_decoders_back_fails_rather_than_misreads() {
        // Against decode_buf's contract (keep what it left, append): an
        // LF in the part it had searched ends up inside a line, which is
        // refused; it never splits the input where the server did not.
        let mut decoder = ReplyDecoder::default();
        let mut buf = BytesMut::from(&b"250 partial"[..]);
        assert!(decoder.decode_buf(&mut buf).unwrap().is_none());
        buf.clear();
        buf.extend_from_slice(b"250 a\r\n250 b\r\n");
        assert!(decoder.decode_buf(&mut buf).is_err());
    }
}
