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
//! - `Date:` and `Message-ID:` are added when the header has none, as
//!   msmtp does by default (`set_date_header`, `set_msgid_header`);
//!   [`MessageSettings`] turns either off. A field the message has is never
//!   changed. Message-ID's domain is the sender's, else the EHLO name.
//!
//! The clients' `send_message` read the header block, call
//! [`MessageHeader::parse`], complete the header ([`complete_header`]) and
//! send the rewritten header followed by the rest of the message.
//!
//! [`ClientSettings::from`]: crate::ClientSettings::from

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use smtpkit_auth::{Inputs, SystemInputs};
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
    /// A line is longer than SMTP allows (998 octets before its line
    /// ending, RFC 5321 §4.5.3.1.6): a relay may wrap it (Haraka inserts
    /// CRLF SP at 990), which changes the message and breaks a signature.
    /// Nothing was sent.
    #[error(
        "line {line} of the message is {length} octets long; SMTP allows 998: encode the part \
         (quoted-printable or base64) or allow long lines (mail.smtp.allowlonglines)"
    )]
    LineTooLong {
        /// The line's number in the message as given, from 1.
        line: u64,
        /// Its length in octets, without the line ending.
        length: usize,
    },
    /// DKIM signing is on and the body is a one-shot reader: it cannot be
    /// read once to be hashed and again to be sent. Send a file or bytes,
    /// or allow buffering ([`DkimSettings::allow_buffering`](crate::dkim::DkimSettings::allow_buffering)).
    #[error(
        "a DKIM-signed message must be read twice (hashed, then sent): send it from a file or from memory, or allow buffering"
    )]
    CannotSignStream,
    /// The message could not be signed.
    #[cfg(feature = "dkim")]
    #[error(transparent)]
    Dkim(#[from] crate::dkim::DkimError),
    /// No random octets for a Message-ID (the operating system gave none).
    #[error("no random octets for a Message-ID: {0}")]
    Random(String),
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

/// What message-level sends add to a header that lacks it
/// ([`ClientSettings::message`](crate::ClientSettings::message)). Both on
/// by default, as msmtp's `set_date_header` and `set_msgid_header` (and
/// JavaMail's `saveChanges` for Message-ID); a field the message has is
/// never changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageSettings {
    /// Add `Date:` (the time of sending, UTC) when missing
    /// (`mail.smtp.setdate`).
    pub add_date: bool,
    /// Add `Message-ID:` (`<time.random@domain>`, the domain the
    /// sender's, else the EHLO name) when missing
    /// (`mail.smtp.setmessageid`).
    pub add_message_id: bool,
    /// Send lines longer than 998 octets as they are
    /// (`mail.smtp.allowlonglines`). Off: a message-level send refuses
    /// them before MAIL ([`MessageError::LineTooLong`]), unless the
    /// message is binary (a NUL: it needs BINARYMIME, which has no line
    /// limit). A one-shot reader is checked as far as it is read before
    /// sending: its header block (all of it when DKIM holds it whole).
    pub allow_long_lines: bool,
}

impl Default for MessageSettings {
    fn default() -> MessageSettings {
        MessageSettings {
            add_date: true,
            add_message_id: true,
            allow_long_lines: false,
        }
    }
}

impl MessageSettings {
    /// With or without `Date:` completion.
    #[must_use]
    pub fn with_add_date(mut self, on: bool) -> MessageSettings {
        self.add_date = on;
        self
    }

    /// With or without `Message-ID:` completion.
    #[must_use]
    pub fn with_add_message_id(mut self, on: bool) -> MessageSettings {
        self.add_message_id = on;
        self
    }

    /// Whether lines longer than 998 octets may be sent.
    #[must_use]
    pub fn with_allow_long_lines(mut self, on: bool) -> MessageSettings {
        self.allow_long_lines = on;
        self
    }
}

/// Looks for the first line longer than SMTP allows (998 octets), in
/// pieces of any size, counting lines as the message is given (an LF ends
/// one; a CR before it is not counted). Message-level sends use it (see
/// [`MessageSettings::allow_long_lines`]); so does smtp-send.
///
/// ```
/// use smtpkit_client::message::{LineCheck, MessageError};
///
/// let mut check = LineCheck::new();
/// check.feed(b"Subject: x\r\n\r\n");
/// check.feed(&[b'a'; 1000]);
/// check.feed(b"\r\n");
/// assert_eq!(check.long_line(), Some((3, 1000)));
/// assert_eq!(check.finish(), Err(MessageError::LineTooLong { line: 3, length: 1000 }));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LineCheck {
    line: u64,
    length: usize,
    last_cr: bool,
    nul: bool,
    long: Option<(u64, usize)>,
}

impl LineCheck {
    /// The longest line SMTP allows, without its line ending.
    const MAX: usize = 998;

    /// At the start of a message.
    pub fn new() -> LineCheck {
        LineCheck::default()
    }

    /// The next octets of the message.
    pub fn feed(&mut self, data: &[u8]) {
        self.nul |= data.contains(&0);
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            // A CR just before the LF (here, or ending the previous
            // piece) is the line ending, not part of the line.
            let cr = if nl > 0 {
                rest[nl - 1] == b'\r'
            } else {
                self.last_cr
            };
            self.end_line(self.length + nl - usize::from(cr));
            rest = &rest[nl + 1..];
            self.length = 0;
            self.last_cr = false;
        }
        self.length += rest.len();
        if let Some(&last) = rest.last() {
            self.last_cr = last == b'\r';
        }
    }

    fn end_line(&mut self, length: usize) {
        self.line += 1;
        if length > Self::MAX && self.long.is_none() {
            self.long = Some((self.line, length));
        }
    }

    /// The first line over the limit ended so far: its number (from 1)
    /// and length.
    pub fn long_line(&self) -> Option<(u64, usize)> {
        self.long
    }

    /// Whether a NUL was seen (the message is binary: BINARYMIME carries
    /// it, with no line limit).
    pub fn is_binary(&self) -> bool {
        self.nul
    }

    /// The verdict, once everything was fed: the first long line, unless
    /// the message is binary.
    ///
    /// # Errors
    /// [`MessageError::LineTooLong`].
    pub fn finish(mut self) -> Result<(), MessageError> {
        if self.length > 0 {
            let length = self.length - usize::from(self.last_cr);
            self.end_line(length);
        }
        match self.long {
            Some((line, length)) if !self.nul => Err(MessageError::LineTooLong { line, length }),
            _ => Ok(()),
        }
    }
}

/// Everything a message-level send needs besides the message: the
/// sender that overrides the header's, what to add to the header, and
/// where the time and randomness come from (inputs: the driver is
/// sans-IO).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageOptions {
    /// `mail.smtp.from`: the envelope sender instead of the header's.
    pub from: Option<ReversePath>,
    /// What to add to the header.
    pub settings: MessageSettings,
    /// Message-ID's domain when the sender has none (the null sender):
    /// the EHLO name (`mail.smtp.localhost`; `None`: the host name).
    pub local_name: Option<smtpkit_proto::Host>,
    /// The clock and the random octets (the operating system's by
    /// default).
    pub inputs: Arc<dyn Inputs>,
    /// Signs what is transmitted (`ClientSettings::dkim`).
    #[cfg(feature = "dkim")]
    pub dkim: Option<crate::dkim::DkimSigner>,
    /// The signature of the one message these options are for
    /// ([`for_one_message`](Self::for_one_message)), once made: a retry
    /// sends it again instead of signing anew.
    #[cfg(feature = "dkim")]
    signed: Option<Arc<std::sync::OnceLock<Vec<u8>>>>,
}

impl Default for MessageOptions {
    fn default() -> MessageOptions {
        MessageOptions {
            from: None,
            settings: MessageSettings::default(),
            local_name: None,
            inputs: Arc::new(SystemInputs),
            #[cfg(feature = "dkim")]
            dkim: None,
            #[cfg(feature = "dkim")]
            signed: None,
        }
    }
}

impl MessageOptions {
    /// The options `settings` describe (`mail.smtp.from`, the message
    /// settings, the EHLO name).
    pub fn of(settings: &crate::ClientSettings) -> MessageOptions {
        MessageOptions {
            from: settings.from.clone(),
            settings: settings.message,
            local_name: settings.local_name.clone(),
            inputs: Arc::new(SystemInputs),
            #[cfg(feature = "dkim")]
            dkim: settings.dkim.clone(),
            #[cfg(feature = "dkim")]
            signed: None,
        }
    }

    /// With these inputs (a fixed clock and randomness, in tests).
    #[must_use]
    pub fn with_inputs(mut self, inputs: Arc<dyn Inputs>) -> MessageOptions {
        self.inputs = inputs;
        self
    }

    /// These options with the time and the random octets drawn now, once:
    /// every read of a message with them completes its header the same
    /// way. A pool that reads a message again for a retry keeps its
    /// `Date:` and `Message-ID:`, so a receiving system can recognise a
    /// message it already has.
    #[must_use]
    pub fn for_one_message(&self) -> MessageOptions {
        let mut random = [0u8; 12];
        let random = match self.inputs.fill_random(&mut random) {
            Ok(()) => Ok(random),
            Err(e) => Err(e.to_string()),
        };
        let drawn = Drawn {
            now: self.inputs.now(),
            random,
        };
        #[allow(unused_mut)] // without `dkim`
        let mut options = self.clone().with_inputs(Arc::new(drawn));
        #[cfg(feature = "dkim")]
        {
            options.signed = Some(Arc::default());
        }
        options
    }

    /// The `DKIM-Signature:` field for a message whose transmitted header
    /// is `head` and body `body` (in memory), or `None` without signing.
    ///
    /// # Errors
    /// [`MessageError::Dkim`].
    #[cfg(feature = "dkim")]
    pub(crate) fn signature(
        &self,
        sign: impl FnOnce(&crate::dkim::DkimSigner) -> Result<Vec<u8>, crate::dkim::DkimError>,
    ) -> Result<Option<Vec<u8>>, MessageError> {
        let Some(signer) = &self.dkim else {
            return Ok(None);
        };
        if let Some(made) = self.signed.as_ref().and_then(|s| s.get()) {
            return Ok(Some(made.clone()));
        }
        let made = sign(signer)?;
        if let Some(cache) = &self.signed {
            let _ = cache.set(made.clone());
        }
        Ok(Some(made))
    }

    /// The signature already made for this message (a retry's).
    #[cfg(feature = "dkim")]
    pub(crate) fn signed(&self) -> Option<&Vec<u8>> {
        self.signed.as_ref().and_then(|s| s.get())
    }

    /// Keeps the signature made for this message.
    #[cfg(feature = "dkim")]
    pub(crate) fn keep_signature(&self, signature: &[u8]) {
        if let Some(cache) = &self.signed {
            let _ = cache.set(signature.to_vec());
        }
    }
}

/// Inputs drawn once ([`MessageOptions::for_one_message`]), given again
/// on every call.
#[derive(Debug)]
struct Drawn {
    now: SystemTime,
    random: Result<[u8; 12], String>,
}

impl Inputs for Drawn {
    fn fill_random(&self, buf: &mut [u8]) -> Result<(), smtpkit_auth::SaslError> {
        let random = self
            .random
            .as_ref()
            .map_err(|e| smtpkit_auth::SaslError::Random(e.clone()))?;
        for (b, r) in buf.iter_mut().zip(random.iter().cycle()) {
            *b = *r;
        }
        Ok(())
    }

    fn now(&self) -> SystemTime {
        self.now
    }
}

/// Adds `Date:` and `Message-ID:` to `header` (a header block, see
/// [`header_end`]) when it has none and `options` say so, before the
/// empty line that ends it, with the header's own line ending. Returns
/// whether anything was added; a field present (in any case, folded or
/// not) is left as it is.
///
/// # Errors
/// [`MessageError::Random`] when no random octets are available.
///
/// ```
/// use smtpkit_client::message::{MessageOptions, complete_header};
/// use smtpkit_proto::ReversePath;
///
/// let mut header = b"From: a@example.org\r\nTo: b@example.net\r\n\r\n".to_vec();
/// let sender = ReversePath::Mailbox("a@example.org".parse()?);
/// assert!(complete_header(&mut header, &sender, &MessageOptions::default())?);
/// let text = String::from_utf8(header.clone())?;
/// assert!(text.contains("\r\nDate: ") && text.contains("@example.org>\r\n\r\n"));
/// // Complete now: a second pass changes nothing.
/// assert!(!complete_header(&mut header, &sender, &MessageOptions::default())?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn complete_header(
    header: &mut Vec<u8>,
    sender: &ReversePath,
    options: &MessageOptions,
) -> Result<bool, MessageError> {
    let add_date = options.settings.add_date && !has_field(header, b"date");
    let add_id = options.settings.add_message_id && !has_field(header, b"message-id");
    if !add_date && !add_id {
        return Ok(false);
    }
    let eol: &[u8] = match memchr_newline(header) {
        Some(p) if p > 0 && header[p - 1] == b'\r' => b"\r\n",
        Some(_) => b"\n",
        None => b"\r\n",
    };
    // Before the empty line, or at the end of a header without one.
    let at = if header.ends_with(b"\r\n\r\n") || header == b"\r\n" {
        header.len() - 2
    } else if header.ends_with(b"\n\n") || header == b"\n" {
        header.len() - 1
    } else {
        if !header.is_empty() && !header.ends_with(b"\n") {
            header.extend_from_slice(eol);
        }
        header.len()
    };
    let now = options.inputs.now();
    let mut fields = Vec::new();
    if add_date {
        fields.extend_from_slice(b"Date: ");
        fields.extend_from_slice(rfc5322_date(now).as_bytes());
        fields.extend_from_slice(eol);
    }
    if add_id {
        let mut random = [0u8; 12];
        options
            .inputs
            .fill_random(&mut random)
            .map_err(|e| MessageError::Random(e.to_string()))?;
        let domain = match (sender, &options.local_name) {
            (ReversePath::Mailbox(address), _) => address.domain().to_owned(),
            (_, Some(name)) => name.to_string(),
            (_, None) => {
                smtpkit_proto::default_ehlo_name(gethostname::gethostname().to_str(), None)
                    .to_string()
            }
        };
        let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
        fields.extend_from_slice(format!("Message-ID: <{secs:x}.{random}@{domain}>").as_bytes());
        fields.extend_from_slice(eol);
    }
    header.splice(at..at, fields);
    Ok(true)
}

/// Whether `header` has a field named `name` (lower case).
fn has_field(header: &[u8], name: &[u8]) -> bool {
    header_fields(header).any(|f| {
        f.len() > name.len()
            && f[..name.len()].eq_ignore_ascii_case(name)
            && f[name.len()..]
                .iter()
                .find(|&&b| b != b' ' && b != b'\t')
                .is_some_and(|&b| b == b':')
    })
}

/// `time` as an RFC 5322 date in UTC: `Mon, 07 Dec 2026 12:47:32 +0000`.
fn rfc5322_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Howard Hinnant's days-to-civil, for days since 1970-01-01 (>= 0).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
    )
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
    pub fn in_memory(message: &[u8], options: &MessageOptions) -> Result<Prepared, MessageError> {
        let end = header_end(message, true).unwrap_or(message.len());
        if end > MAX_HEADER {
            return Err(MessageError::HeaderTooLarge);
        }
        let mut parsed = MessageHeader::parse(&message[..end], options.from.as_ref())?;
        if !options.settings.allow_long_lines {
            let mut lines = LineCheck::default();
            lines.feed(message);
            lines.finish()?;
        }
        complete_header(&mut parsed.header, &parsed.envelope.from, options)?;
        #[cfg(feature = "dkim")]
        if let Some(mut signature) = options.signature(|signer| {
            let mut stream = signer.stream();
            stream.update(&parsed.header);
            stream.update(&message[end..]);
            stream.finish()
        })? {
            signature.extend_from_slice(&parsed.header);
            parsed.header = signature;
        }
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
        options: &MessageOptions,
    ) -> Result<Prepared, MessageError> {
        let parsed = MessageHeader::parse(&header, options.from.as_ref())?;
        let mut head = parsed.header;
        complete_header(&mut head, &parsed.envelope.from, options)?;
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

    /// A fixed clock (2026-12-07 12:47:32 UTC) and counting "randomness".
    #[derive(Debug)]
    struct Fixed;

    impl Inputs for Fixed {
        fn fill_random(&self, buf: &mut [u8]) -> Result<(), smtpkit_auth::SaslError> {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = i as u8;
            }
            Ok(())
        }
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + std::time::Duration::from_secs(1_796_647_652)
        }
    }

    fn fixed() -> MessageOptions {
        MessageOptions::default().with_inputs(Arc::new(Fixed))
    }

    fn completed(header: &str, sender: &ReversePath, options: &MessageOptions) -> String {
        let mut h = header.as_bytes().to_vec();
        complete_header(&mut h, sender, options).unwrap();
        String::from_utf8(h).unwrap()
    }

    #[test]
    fn missing_date_and_message_id_are_added_before_the_empty_line() {
        let alice = ReversePath::Mailbox(Address::parse("alice@example.org").unwrap());
        assert_eq!(
            completed(
                "From: alice@example.org\r\nTo: b@example.net\r\n\r\n",
                &alice,
                &fixed()
            ),
            "From: alice@example.org\r\nTo: b@example.net\r\n\
             Date: Mon, 07 Dec 2026 12:47:32 +0000\r\n\
             Message-ID: <6b16aae4.000102030405060708090a0b@example.org>\r\n\r\n"
        );
        // LF-only lines get LF; a header without the empty line (no body),
        // or without a final newline, gets the fields at its end.
        let lf = completed(
            "From: alice@example.org\nTo: b@example.net\n\n",
            &alice,
            &fixed(),
        );
        assert!(
            lf.ends_with("+0000\nMessage-ID: <6b16aae4.000102030405060708090a0b@example.org>\n\n"),
            "{lf}"
        );
        let no_body = completed("To: b@example.net\r\n", &alice, &fixed());
        assert!(
            no_body.starts_with("To: b@example.net\r\nDate: ") && no_body.ends_with(">\r\n"),
            "{no_body}"
        );
        let no_newline = completed("To: b@example.net", &alice, &fixed());
        assert!(
            no_newline.starts_with("To: b@example.net\r\nDate: "),
            "{no_newline}"
        );
        // The null sender: the EHLO name.
        let mut options = fixed();
        options.local_name = Some(smtpkit_proto::Host::parse("client.example").unwrap());
        let bounce = completed("To: b@example.net\r\n\r\n", &ReversePath::Null, &options);
        assert!(bounce.contains("@client.example>\r\n\r\n"), "{bounce}");
    }

    #[test]
    fn present_fields_are_never_changed_and_completion_can_be_turned_off() {
        let alice = ReversePath::Mailbox(Address::parse("alice@example.org").unwrap());
        for header in [
            "DATE: Tue, 1 Dec 2026 00:00:00 -0500\r\nmessage-id : <x@y>\r\nTo: b@example.net\r\n\r\n",
            "Message-Id:\r\n <folded@y>\r\nDate:\r\n Tue, 1 Dec 2026 00:00:00 -0500\r\n\r\n",
        ] {
            let mut h = header.as_bytes().to_vec();
            assert!(
                !complete_header(&mut h, &alice, &fixed()).unwrap(),
                "{header}"
            );
            assert_eq!(h, header.as_bytes());
        }
        // One present, one missing: only the missing one is added.
        let only_id = completed(
            "Date: Tue, 1 Dec 2026 00:00:00 -0500\r\n\r\n",
            &alice,
            &fixed(),
        );
        assert_eq!(only_id.matches("Date:").count(), 1);
        assert!(only_id.contains("\r\nMessage-ID: <"), "{only_id}");
        // Off: nothing added; a field merely named like one is not it.
        let mut off = fixed();
        off.settings = MessageSettings::default()
            .with_add_date(false)
            .with_add_message_id(false);
        let header = "X-Date: x\r\nMessage-IDs: y\r\n\r\n";
        assert_eq!(completed(header, &alice, &off), header);
        off.settings = off.settings.with_add_date(true);
        assert!(completed(header, &alice, &off).contains("\r\nDate: Mon, 07 Dec 2026"));
    }

    /// A pool reads a message again for a retry: with the options drawn
    /// for it, the header comes out the same; with fresh system inputs,
    /// the Message-ID differs.
    #[test]
    fn options_drawn_for_one_message_complete_it_the_same_way_every_time() {
        let alice = ReversePath::Mailbox(Address::parse("alice@example.org").unwrap());
        let header = "To: b@example.net\r\n\r\n";
        let once = MessageOptions::default().for_one_message();
        assert_eq!(
            completed(header, &alice, &once),
            completed(header, &alice, &once)
        );
        let system = MessageOptions::default();
        assert_ne!(
            completed(header, &alice, &system),
            completed(header, &alice, &system)
        );
    }

    fn long_line(pieces: &[&[u8]]) -> Result<(), MessageError> {
        let mut check = LineCheck::default();
        for piece in pieces {
            check.feed(piece);
        }
        check.finish()
    }

    #[test]
    fn the_first_line_over_998_octets_is_named_in_any_pieces() {
        let ok = [b'a'; 998];
        let long = [b'a'; 999];
        let message = [
            &b"A: b\r\n\r\n"[..],
            &ok,
            b"\r\n",
            &long,
            b"\n",
            &long,
            b"\r\n",
        ]
        .concat();
        for size in [1, 2, 3, 7, 500, 999, 1000, message.len()] {
            let pieces: Vec<&[u8]> = message.chunks(size).collect();
            assert_eq!(
                long_line(&pieces),
                Err(MessageError::LineTooLong {
                    line: 4,
                    length: 999
                }),
                "pieces of {size}"
            );
        }
        // 998 with CRLF, with LF, last without a line ending: allowed.
        assert_eq!(long_line(&[&ok, b"\r", b"\n", &ok, b"\n", &ok]), Ok(()));
        // The last line, without a line ending, counts too.
        assert_eq!(
            long_line(&[b"x\n", &long]),
            Err(MessageError::LineTooLong {
                line: 2,
                length: 999
            })
        );
        // A binary message (NUL) goes BINARYMIME, which has no line limit.
        assert_eq!(long_line(&[&long, b"\n\0\n"]), Ok(()));
    }

    #[test]
    fn dates_are_rfc5322_in_utc() {
        let at = |secs| rfc5322_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(at(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 +0000");
    }

    #[test]
    fn header_end_finds_the_empty_line() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody", false), Some(8));
        assert_eq!(header_end(b"A: b\n\nbody", false), Some(6));
        assert_eq!(header_end(b"A: b\r\n", false), None);
        assert_eq!(header_end(b"A: b\r\n", true), Some(6));
    }
}
