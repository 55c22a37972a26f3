//! Message-level send, JavaMail's `Transport.send(message)`: the envelope
//! comes from the message itself and Bcc is never transmitted.
//!
//! - The sender is `mail.smtp.from` ([`ClientSettings::from`]) when set,
//!   else the `From:` address (the `Sender:` address when `From:` has
//!   several, RFC 5322 §3.6.2).
//! - The recipients are every address of `To:`, `Cc:` and `Bcc:`, groups
//!   and folded lines included, each once (JavaMail would send a repeated
//!   address twice; a server would deliver it twice).
//! - The `Bcc:` field, with its folded lines, is removed from what is
//!   transmitted; only the header block (at most [`MAX_HEADER`] octets) is
//!   held in memory, the rest of the message streams.
//!
//! The clients' `send_message` read the header block, call
//! [`MessageHeader::parse`] and send the rewritten header followed by the
//! rest of the message.
//!
//! [`ClientSettings::from`]: crate::ClientSettings::from

use smtpkit_proto::{Address, Envelope, ReversePath};

/// The largest header block a message may have.
pub const MAX_HEADER: usize = 1 << 20;

/// Why a message cannot be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// No To:, Cc: or Bcc: address.
    #[error("the message has no recipient (no To:, Cc: or Bcc: address)")]
    NoRecipients,
    /// No mail.smtp.from, and no usable From: (or Sender:) address.
    #[error("the message has no sender (no mail.smtp.from, no From: or Sender: address)")]
    NoSender,
    /// The header block is larger than [`MAX_HEADER`], or has no end.
    #[error("the header block is larger than {MAX_HEADER} octets")]
    HeaderTooLarge,
    /// An address in a header field is not a valid SMTP address.
    #[error("{field}: {address:?} is not a valid address: {reason}")]
    BadAddress {
        /// The header field.
        field: &'static str,
        /// The address as written.
        address: String,
        /// Why.
        reason: String,
    },
}

/// What a message's header block says about its envelope, and the header
/// to transmit.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageHeader {
    /// The envelope: sender and every recipient.
    pub envelope: Envelope,
    /// The header block to transmit: the original without `Bcc:`.
    pub header: Vec<u8>,
}

/// Where the header block of `message` ends (after the empty line), or
/// `None` when `message` holds no complete header block. A message that
/// is only a header (no empty line) ends at its end: pass `at_end`.
pub fn header_end(message: &[u8], at_end: bool) -> Option<usize> {
    let mut line_start = 0;
    while let Some(nl) = memchr_newline(&message[line_start..]) {
        let line = &message[line_start..line_start + nl + 1];
        let next = line_start + nl + 1;
        if line == b"\n" || line == b"\r\n" {
            return Some(next);
        }
        line_start = next;
    }
    at_end.then_some(message.len())
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

impl MessageHeader {
    /// Derives the envelope from `header` (a complete header block, see
    /// [`header_end`]) and removes `Bcc:` from it; `from` is
    /// `mail.smtp.from` when set.
    ///
    /// # Errors
    /// A [`MessageError`] naming what is missing or malformed.
    ///
    /// ```
    /// use smtpkit_client::message::MessageHeader;
    ///
    /// let header = b"From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n  undisclosed: carol@example.net;\r\nBcc: dave@example.net\r\nSubject: hi\r\n\r\n";
    /// let parsed = MessageHeader::parse(header, None)?;
    /// let to: Vec<_> = parsed.envelope.recipients.iter().map(|r| r.address.as_str()).collect();
    /// assert_eq!(to, ["bob@example.net", "carol@example.net", "dave@example.net"]);
    /// assert_eq!(parsed.header, b"From: Alice <alice@example.org>\r\nTo: bob@example.net,\r\n  undisclosed: carol@example.net;\r\nSubject: hi\r\n\r\n");
    /// # Ok::<(), smtpkit_client::message::MessageError>(())
    /// ```
    pub fn parse(header: &[u8], from: Option<&ReversePath>) -> Result<MessageHeader, MessageError> {
        let fields = HeaderAddresses::of(header)?;
        let reverse_path = match (from, fields.sender) {
            (Some(from), _) => from.clone(),
            (None, Some(sender)) => ReversePath::Mailbox(sender),
            (None, None) => return Err(MessageError::NoSender),
        };
        if fields.recipients.is_empty() {
            return Err(MessageError::NoRecipients);
        }
        Ok(MessageHeader {
            envelope: Envelope::new(reverse_path, fields.recipients),
            header: strip_bcc(header),
        })
    }
}

/// The addresses a header block names for the envelope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderAddresses {
    /// From: (Sender: when From: has several).
    pub sender: Option<Address>,
    /// To:, Cc: and Bcc:, each address once, in that order.
    pub recipients: Vec<Address>,
}

impl HeaderAddresses {
    /// Reads the addresses of `header`, a complete header block.
    ///
    /// # Errors
    /// [`MessageError::BadAddress`] for an address that is not a valid
    /// SMTP address.
    pub fn of(header: &[u8]) -> Result<HeaderAddresses, MessageError> {
        HeaderAddresses::read(header, true)
    }

    /// Only the sender of `header` (the recipient fields are not read, so
    /// a malformed one does not matter).
    ///
    /// # Errors
    /// [`MessageError::BadAddress`] for a malformed From: or Sender:.
    pub fn sender_of(header: &[u8]) -> Result<Option<Address>, MessageError> {
        HeaderAddresses::read(header, false).map(|a| a.sender)
    }

    fn read(header: &[u8], with_recipients: bool) -> Result<HeaderAddresses, MessageError> {
        let Some(parsed) = mail_parser::MessageParser::new().parse_headers(header) else {
            return Ok(HeaderAddresses::default());
        };
        let addresses = |field: &'static str,
                         list: Option<&mail_parser::Address<'_>>|
         -> Result<Vec<Address>, MessageError> {
            list.into_iter()
                .flat_map(|l| l.iter())
                .filter_map(|a| a.address())
                .map(|a| {
                    Address::parse(a).map_err(|e| MessageError::BadAddress {
                        field,
                        address: a.to_owned(),
                        reason: e.to_string(),
                    })
                })
                .collect()
        };
        let authors = addresses("From", parsed.from())?;
        let sender = if authors.len() > 1 {
            addresses("Sender", parsed.sender())?.into_iter().next()
        } else {
            authors.into_iter().next()
        };
        let mut recipients: Vec<Address> = Vec::new();
        let fields = [
            ("To", parsed.to()),
            ("Cc", parsed.cc()),
            ("Bcc", parsed.bcc()),
        ];
        for (field, list) in fields.into_iter().filter(|_| with_recipients) {
            for address in addresses(field, list)? {
                let seen = recipients
                    .iter()
                    .any(|r| r.as_str().eq_ignore_ascii_case(address.as_str()));
                if !seen {
                    recipients.push(address);
                }
            }
        }
        Ok(HeaderAddresses { sender, recipients })
    }
}

/// `header` without its `Bcc:` field (folded continuation lines too).
pub fn strip_bcc(header: &[u8]) -> Vec<u8> {
    header_fields(header)
        .filter(|f| !(f.len() >= 4 && f[..4].eq_ignore_ascii_case(b"bcc:")))
        .flatten()
        .copied()
        .collect()
}

/// The header's fields, each with its folded continuation lines.
fn header_fields(header: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = header;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = 0;
        loop {
            end = memchr_newline(&rest[end..]).map_or(rest.len(), |p| end + p + 1);
            if end >= rest.len() || !matches!(rest[end], b' ' | b'\t') {
                break;
            }
        }
        let (field, tail) = rest.split_at(end);
        rest = tail;
        Some(field)
    })
}

/// A message ready for a client to send: its envelope, how its body is
/// known, the rewritten header block to send first, and where in the
/// original the rest starts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Prepared {
    /// From the header (or `mail.smtp.from`).
    pub envelope: Envelope,
    /// How the driver learns the body's size and type.
    pub plan: crate::BodyPlan,
    /// The header block without `Bcc:` (and, for a stream, the octets
    /// read past it).
    pub head: Vec<u8>,
    /// Where the rest of the message starts in the original (what a
    /// rewind seeks to).
    pub rest_at: u64,
}

impl Prepared {
    /// The parts: envelope, plan, head, `rest_at`, and whether the source
    /// must be positioned at `rest_at` before it is read (reading the
    /// header went past it, or the original starts with the header).
    pub fn into_parts(self) -> (Envelope, crate::BodyPlan, Vec<u8>, u64, bool) {
        let seek = !matches!(self.plan, crate::BodyPlan::Streamed);
        (self.envelope, self.plan, self.head, self.rest_at, seek)
    }

    /// What goes on the wire for a message held in memory: the rewritten
    /// header block (no `Bcc:`), then `original` from `rest_at`.
    pub fn transmitted(&self, original: &[u8]) -> Vec<u8> {
        let rest = usize::try_from(self.rest_at)
            .ok()
            .and_then(|at| original.get(at..))
            .unwrap_or(&[]);
        let mut data = Vec::with_capacity(self.head.len() + rest.len());
        data.extend_from_slice(&self.head);
        data.extend_from_slice(rest);
        data
    }

    /// A message held in memory.
    ///
    /// # Errors
    /// A [`MessageError`].
    pub fn in_memory(message: &[u8], from: Option<&ReversePath>) -> Result<Prepared, MessageError> {
        let end = header_end(message, true).unwrap_or(message.len());
        if end > MAX_HEADER {
            return Err(MessageError::HeaderTooLarge);
        }
        let parsed = MessageHeader::parse(&message[..end], from)?;
        let mut inspector = smtpkit_proto::BodyInspector::new();
        inspector.update(&parsed.header);
        inspector.update(&message[end..]);
        Ok(Prepared {
            envelope: parsed.envelope,
            plan: crate::BodyPlan::Known(smtpkit_proto::BodyInfo::from_report(&inspector.finish())),
            head: parsed.header,
            rest_at: end as u64,
        })
    }

    /// A message whose header block a client read (with
    /// [`HeaderCollector`]) from a file (`seekable`: inspected, then sent
    /// from `rest_at`, and again if needed) or a stream (sent once: what
    /// was read past the header goes out with it).
    ///
    /// # Errors
    /// A [`MessageError`].
    pub fn after_read(
        (header, excess): (Vec<u8>, Vec<u8>),
        seekable: bool,
        from: Option<&ReversePath>,
    ) -> Result<Prepared, MessageError> {
        let parsed = MessageHeader::parse(&header, from)?;
        let mut head = parsed.header;
        let (plan, rest_at) = if seekable {
            (crate::BodyPlan::Inspect, header.len() as u64)
        } else {
            head.extend_from_slice(&excess);
            (crate::BodyPlan::Streamed, 0)
        };
        Ok(Prepared {
            envelope: parsed.envelope,
            plan,
            head,
            rest_at,
        })
    }
}

/// Collects a message's header block from the pieces a reader returns,
/// sans-IO: feed what was read until it says the block is complete.
#[derive(Debug, Default)]
pub struct HeaderCollector {
    buf: Vec<u8>,
    /// Where the line being read starts, and how far newlines were looked for.
    line_start: usize,
    scanned: usize,
    end: Option<usize>,
}

impl HeaderCollector {
    /// An empty collector.
    pub fn new() -> HeaderCollector {
        HeaderCollector::default()
    }

    /// Takes the next piece (empty at the end of the message); returns
    /// whether the header block is complete.
    ///
    /// # Errors
    /// [`MessageError::HeaderTooLarge`] past [`MAX_HEADER`] octets.
    pub fn feed(&mut self, piece: &[u8]) -> Result<bool, MessageError> {
        if self.end.is_some() {
            return Ok(true);
        }
        self.buf.extend_from_slice(piece);
        while let Some(p) = memchr_newline(&self.buf[self.scanned..]) {
            let newline = self.scanned + p;
            let line = &self.buf[self.line_start..=newline];
            self.line_start = newline + 1;
            self.scanned = newline + 1;
            if line == b"\n" || line == b"\r\n" {
                self.end = Some(newline + 1);
                return Ok(true);
            }
        }
        self.scanned = self.buf.len();
        if piece.is_empty() {
            self.end = Some(self.buf.len());
            return Ok(true);
        }
        if self.buf.len() > MAX_HEADER {
            return Err(MessageError::HeaderTooLarge);
        }
        Ok(false)
    }

    /// The header block and the octets read past it, once complete.
    pub fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        let end = self.end.unwrap_or(self.buf.len());
        let excess = self.buf.split_off(end);
        (self.buf, excess)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(header: &str) -> Result<MessageHeader, MessageError> {
        MessageHeader::parse(header.as_bytes(), None)
    }

    #[test]
    fn sender_is_from_or_sender_or_the_setting() {
        let h = parse("From: a@example.org\r\nTo: b@example.org\r\n\r\n").unwrap();
        assert_eq!(h.envelope.from.to_string(), "<a@example.org>");
        let h = parse(
            "From: a@example.org, c@example.org\r\nSender: s@example.org\r\nTo: b@example.org\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.envelope.from.to_string(), "<s@example.org>");
        let from = ReversePath::Null;
        let h = MessageHeader::parse(
            b"From: a@example.org\r\nTo: b@example.org\r\n\r\n",
            Some(&from),
        )
        .unwrap();
        assert_eq!(h.envelope.from, ReversePath::Null);
    }

    #[test]
    fn missing_parts_are_typed_errors() {
        assert_eq!(
            parse("To: b@example.org\r\n\r\n"),
            Err(MessageError::NoSender)
        );
        assert_eq!(
            parse("From: a@example.org\r\nSubject: x\r\n\r\n"),
            Err(MessageError::NoRecipients)
        );
        assert!(matches!(
            parse("From: a@example.org\r\nTo: \"bad\r\n\r\n"),
            Err(MessageError::NoRecipients | MessageError::BadAddress { .. })
        ));
    }

    #[test]
    fn recipients_once_in_order_with_folded_bcc_removed() {
        let h = parse(
            "From: a@example.org\nTo: b@example.org\nCc: B@example.org, c@example.org\nBcc: d@example.org,\n\te@example.org\nSubject: s\n\nbody\n",
        )
        .unwrap();
        let to: Vec<&str> = h
            .envelope
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect();
        assert_eq!(
            to,
            [
                "b@example.org",
                "c@example.org",
                "d@example.org",
                "e@example.org"
            ]
        );
        assert_eq!(
            h.header,
            b"From: a@example.org\nTo: b@example.org\nCc: B@example.org, c@example.org\nSubject: s\n\nbody\n"
        );
    }

    #[test]
    fn the_collector_finds_the_header_in_any_pieces() {
        let message = b"From: a@example.org\r\nTo: b@example.org\r\n\r\nbody\r\n";
        for size in 1..message.len() {
            let mut c = HeaderCollector::new();
            let mut done = false;
            for piece in message.chunks(size) {
                if c.feed(piece).unwrap() {
                    done = true;
                    break;
                }
            }
            assert!(done);
            let (header, excess) = c.finish();
            assert_eq!(header, b"From: a@example.org\r\nTo: b@example.org\r\n\r\n");
            assert!(b"body\r\n".starts_with(&excess));
        }
        let mut c = HeaderCollector::new();
        assert!(!c.feed(b"Subject: only a header\r\n").unwrap());
        assert!(c.feed(b"").unwrap());
        assert_eq!(c.finish().1, b"");
        let mut c = HeaderCollector::new();
        let line = vec![b'x'; 4096];
        let mut result = Ok(false);
        for _ in 0..300 {
            result = c.feed(&line);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(MessageError::HeaderTooLarge));
    }

    #[test]
    fn header_end_finds_the_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody", false), Some(8));
        assert_eq!(header_end(b"A: b\n\nbody", false), Some(6));
        assert_eq!(header_end(b"A: b\r\n", false), None);
        assert_eq!(header_end(b"A: b\r\n", true), Some(6));
    }
}
