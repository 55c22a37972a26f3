//! [`Body`]: a message body as a caller hands it to a client, written once
//! for every runtime. Each client crate names its own kinds of memory,
//! file and reader: `smtpkit_blocking::Body<'a>` is a slice, an open
//! `File` or a `Read`; `smtpkit_async::Body` is `Bytes`, a path the
//! runtime opens, or an `AsyncRead`.
//!
//! [`IntoMessage`] is what a message-level send (`send_message`) takes: a
//! [`Body`] (or anything that converts into one) whose header gives the
//! envelope, or a message a builder made — a `lettre::Message` with the
//! `lettre` feature, a `mail_builder::MessageBuilder` with `mail-builder`.

use std::path::PathBuf;

use bytes::Bytes;

use smtpkit_proto::Envelope;

use crate::message::MessageError;
use crate::source::Source;

/// A message body as a caller hands it to a client: in memory, a file, or
/// a reader. Convert into it with `From` (`&[u8]`, `Vec<u8>`, `String`,
/// a `File`, … as the client's type allows), or name a variant.
pub enum Body<M, F, R> {
    /// In memory: inspected once and sent in place, never copied.
    Bytes(M),
    /// A file: read once to learn its size and type, then again to send
    /// it; a retry reads it again from its start.
    File(F),
    /// Any reader, streamed once: a retry cannot read it again.
    Reader(R),
}

impl<M, F, R> std::fmt::Debug for Body<M, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Body::Bytes(_) => "Body::Bytes(..)",
            Body::File(_) => "Body::File(..)",
            Body::Reader(_) => "Body::Reader(..)",
        })
    }
}

/// A file a retry can read again: a second handle on an open file, or the
/// same path to open again.
pub trait ReplayFile: Sized {
    /// Another handle on the same file; `None` when there cannot be one.
    fn replay(&self) -> Option<Self>;
}

impl ReplayFile for std::fs::File {
    fn replay(&self) -> Option<Self> {
        // The handles share a position: the driver seeks a file to its
        // start before it reads it, so that does not matter.
        self.try_clone().ok()
    }
}

impl ReplayFile for PathBuf {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<M: Clone, F: ReplayFile, R> Body<M, F, R> {
    /// The same body again, for a retry; `None` for a reader (streamed
    /// once) or a file that cannot be opened twice.
    pub fn replay(&self) -> Option<Self> {
        match self {
            Body::Bytes(bytes) => Some(Body::Bytes(bytes.clone())),
            Body::File(file) => file.replay().map(Body::File),
            Body::Reader(_) => None,
        }
    }
}

/// A body whose file is already open becomes a [`Source`] without I/O.
impl<M: AsRef<[u8]>, F, R> From<Body<M, F, R>> for Source<M, F, R> {
    fn from(body: Body<M, F, R>) -> Self {
        body.into_source_after(None)
    }
}

impl<M: AsRef<[u8]>, F, R> Body<M, F, R> {
    /// The [`Source`] of this body (an open file needs no I/O), sharing
    /// the inspection of `previous` when both are the very same octets in
    /// memory ([`Source::memory_after`]): a batch that sends one buffer
    /// many times inspects it once.
    pub fn into_source_after(self, previous: Option<&Source<M, F, R>>) -> Source<M, F, R> {
        match self {
            Body::Bytes(bytes) => Source::memory_after(bytes, previous),
            Body::File(file) => Source::file(file),
            Body::Reader(reader) => Source::reader(reader),
        }
    }
}

/// A batch's bodies as sources ([`Body::into_source_after`]: the same
/// buffer sent many times is inspected once).
pub fn sources<M: AsRef<[u8]>, F, R>(
    messages: Vec<(Envelope, Body<M, F, R>)>,
) -> Vec<(Envelope, Source<M, F, R>)> {
    let mut sources: Vec<(Envelope, Source<M, F, R>)> = Vec::with_capacity(messages.len());
    for (envelope, body) in messages {
        let source = body.into_source_after(sources.last().map(|(_, s)| s));
        sources.push((envelope, source));
    }
    sources
}

impl<'a, F, R> From<&'a [u8]> for Body<&'a [u8], F, R> {
    fn from(bytes: &'a [u8]) -> Self {
        Body::Bytes(bytes)
    }
}

impl<'a, const N: usize, F, R> From<&'a [u8; N]> for Body<&'a [u8], F, R> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Body::Bytes(bytes)
    }
}

impl<'a, F, R> From<&'a Vec<u8>> for Body<&'a [u8], F, R> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Body::Bytes(bytes)
    }
}

impl<'a, F, R> From<&'a str> for Body<&'a [u8], F, R> {
    fn from(text: &'a str) -> Self {
        Body::Bytes(text.as_bytes())
    }
}

impl<M, R> From<std::fs::File> for Body<M, std::fs::File, R> {
    fn from(file: std::fs::File) -> Self {
        Body::File(file)
    }
}

impl<F, R> From<Bytes> for Body<Bytes, F, R> {
    fn from(bytes: Bytes) -> Self {
        Body::Bytes(bytes)
    }
}

impl<F, R> From<Vec<u8>> for Body<Bytes, F, R> {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes.into())
    }
}

impl<F, R> From<String> for Body<Bytes, F, R> {
    fn from(text: String) -> Self {
        Body::Bytes(text.into())
    }
}

impl<F, R> From<&'static [u8]> for Body<Bytes, F, R> {
    fn from(bytes: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(bytes))
    }
}

impl<F, R> From<&'static str> for Body<Bytes, F, R> {
    fn from(text: &'static str) -> Self {
        Body::Bytes(Bytes::from_static(text.as_bytes()))
    }
}

/// A whole message as a message-level send (`send_message`) takes it:
/// what [`IntoMessage::into_message`] gives. Either way the message is
/// sent as every message-level send sends one: its header rewritten
/// (`Bcc:` stripped; `Date:` and `Message-ID:` added and the message
/// DKIM-signed as the settings say), then the rest as it is.
#[derive(Debug)]
pub enum WholeMessage<B> {
    /// A body (bytes, a file, a reader) holding a whole RFC 5322 message:
    /// the envelope comes from its header (`mail.smtp.from`, else From:
    /// — Sender: when From: has several; every To:, Cc: and Bcc:
    /// address).
    Body(B),
    /// A message a builder made, in memory.
    Built {
        /// The envelope the message carries, used instead of the one its
        /// header gives, as it is (as a send with an explicit envelope
        /// uses its own: `mail.smtp.from` does not replace its sender);
        /// `None`: its header gives it, as for [`WholeMessage::Body`].
        /// The header must still name a sender and a recipient.
        envelope: Option<Envelope>,
        /// The whole message.
        bytes: Vec<u8>,
    },
}

impl<B> WholeMessage<B> {
    /// The envelope the message carries (`None`: its header gives it)
    /// and its body, `bytes` turning a message a builder made into one.
    pub fn into_parts_with(self, bytes: impl FnOnce(Vec<u8>) -> B) -> (Option<Envelope>, B) {
        match self {
            WholeMessage::Body(body) => (None, body),
            WholeMessage::Built { envelope, bytes: b } => (envelope, bytes(b)),
        }
    }
}

impl<F, R> WholeMessage<Body<Bytes, F, R>> {
    /// [`into_parts_with`](Self::into_parts_with) for a client whose
    /// bodies in memory are owned.
    pub fn into_parts(self) -> (Option<Envelope>, Body<Bytes, F, R>) {
        self.into_parts_with(|bytes| Body::Bytes(bytes.into()))
    }
}

/// What a message-level send takes, `B` being the client's [`Body`]
/// type: anything that converts into that body (a whole RFC 5322 message
/// whose header gives the envelope), and, with the crate features of the
/// same names, a message built with lettre or mail-builder:
///
/// - `lettre::Message` (and `&lettre::Message`), feature `lettre`: sent
///   to the envelope lettre gave it ([`Message::envelope`][lettre-env]:
///   Sender: or From:, every To:, Cc: and Bcc: address, or the one set
///   with `MessageBuilder::envelope`), as lettre's own transports send
///   it. lettre drops the `Bcc:` header when it builds a message (unless
///   `keep_bcc()`), so the header alone would lose those recipients; its
///   envelope still has them. The conversion puts the envelope's
///   recipients that To: and Cc: do not name in a `Bcc:` field, which
///   the send strips as always: `Bcc:` is never transmitted.
/// - `mail_builder::MessageBuilder`, feature `mail-builder`: written out
///   (infallibly: into memory, with `MessageBuilder::serialize`) and sent
///   as any whole message is, the envelope from its header, `Bcc:` not
///   transmitted (mail-send transmits it).
///
/// [lettre-env]: https://docs.rs/lettre/0.11/lettre/message/struct.Message.html#method.envelope
///
/// Implement it for a builder of your own: give
/// [`WholeMessage::Built`] the bytes, and the envelope when the message
/// carries one.
pub trait IntoMessage<B> {
    /// The message, and its envelope when it carries one.
    ///
    /// # Errors
    /// [`MessageError::BadAddress`] when an address of the envelope the
    /// message carries is not a valid SMTP address (nothing is sent).
    fn into_message(self) -> Result<WholeMessage<B>, MessageError>;
}

/// A whole message in a body: its header gives the envelope.
impl<T, M, F, R> IntoMessage<Body<M, F, R>> for T
where
    T: Into<Body<M, F, R>>,
{
    fn into_message(self) -> Result<WholeMessage<Body<M, F, R>>, MessageError> {
        Ok(WholeMessage::Body(self.into()))
    }
}

impl<B> IntoMessage<B> for WholeMessage<B> {
    fn into_message(self) -> Result<WholeMessage<B>, MessageError> {
        Ok(self)
    }
}

#[cfg(feature = "lettre")]
mod lettre_message {
    use lettre::message::header::{Bcc, Cc, To};
    use lettre::message::{Mailbox, Mailboxes};
    use smtpkit_proto::{Address, Envelope, ReversePath};

    use super::{IntoMessage, WholeMessage};
    use crate::message::MessageError;

    /// Sent to lettre's envelope; `Bcc:` names the recipients To: and
    /// Cc: do not (and is stripped by the send).
    impl<B> IntoMessage<B> for lettre::Message {
        fn into_message(mut self) -> Result<WholeMessage<B>, MessageError> {
            let envelope = envelope(self.envelope())?;
            let named: Vec<lettre::Address> = [
                self.headers().get::<To>().map(Mailboxes::from),
                self.headers().get::<Cc>().map(Mailboxes::from),
            ]
            .into_iter()
            .flatten()
            .flat_map(Mailboxes::into_iter)
            .map(|mailbox| mailbox.email)
            .collect();
            let bcc: Mailboxes = self
                .envelope()
                .to()
                .iter()
                .filter(|to| !named.contains(to))
                .map(|to| Mailbox::new(None, to.clone()))
                .collect();
            // Raw: every `Bcc:` field, whether or not its value parses
            // (lettre compares names without regard to case).
            while self.headers_mut().remove_raw("Bcc").is_some() {}
            if bcc.iter().next().is_some() {
                self.headers_mut().set(Bcc::from(bcc));
            }
            Ok(WholeMessage::Built {
                envelope: Some(envelope),
                bytes: self.formatted(),
            })
        }
    }

    /// As the message itself (which is copied).
    impl<B> IntoMessage<B> for &lettre::Message {
        fn into_message(self) -> Result<WholeMessage<B>, MessageError> {
            self.clone().into_message()
        }
    }

    /// lettre's envelope as ours: no sender is the null reverse path.
    fn envelope(envelope: &lettre::address::Envelope) -> Result<Envelope, MessageError> {
        let from = match envelope.from() {
            Some(from) => ReversePath::Mailbox(address("envelope sender", from)?),
            None => ReversePath::Null,
        };
        let recipients = envelope
            .to()
            .iter()
            .map(|to| address("envelope recipient", to))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Envelope::new(from, recipients))
    }

    fn address(field: &'static str, address: &lettre::Address) -> Result<Address, MessageError> {
        Address::parse(address.as_ref()).map_err(|e| MessageError::BadAddress {
            field,
            address: address.to_string(),
            reason: e.to_string(),
        })
    }
}

/// Written out into memory (`MessageBuilder::serialize`, which cannot
/// fail: `write_to_vec`'s `io::Result` is always `Ok`), the envelope from
/// its header.
#[cfg(feature = "mail-builder")]
impl<B> IntoMessage<B> for mail_builder::MessageBuilder<'_> {
    fn into_message(self) -> Result<WholeMessage<B>, MessageError> {
        let mut bytes = Vec::new();
        self.serialize(&mut bytes);
        Ok(WholeMessage::Built {
            envelope: None,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Owned = Body<Bytes, PathBuf, std::io::Empty>;

    /// A body is a whole message whose header gives the envelope.
    #[test]
    fn a_body_is_a_message_whose_header_gives_the_envelope() {
        let message = IntoMessage::<Owned>::into_message(b"To: a@example.org\r\n\r\n".to_vec());
        match message.map(WholeMessage::into_parts) {
            Ok((None, Body::Bytes(bytes))) => assert_eq!(&bytes[..], b"To: a@example.org\r\n\r\n"),
            other => panic!("{other:?}"),
        }
    }

    #[cfg(feature = "lettre")]
    fn mailbox(s: &str) -> lettre::message::Mailbox {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[cfg(feature = "lettre")]
    fn built(message: Result<WholeMessage<Owned>, MessageError>) -> (Envelope, Vec<u8>) {
        match message {
            Ok(WholeMessage::Built {
                envelope: Some(envelope),
                bytes,
            }) => (envelope, bytes),
            other => panic!("{other:?}"),
        }
    }

    /// What a message-level send makes of the bytes: the envelope its
    /// header gives, and what is transmitted.
    #[cfg(feature = "lettre")]
    fn as_sent(bytes: &[u8]) -> (Vec<String>, String) {
        let prepared =
            crate::message::Prepared::in_memory(bytes, &crate::MessageOptions::default())
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)));
        let recipients = prepared.envelope.recipients.iter();
        let recipients = recipients.map(|r| r.address.to_string()).collect();
        let transmitted = String::from_utf8_lossy(&prepared.transmitted(bytes)).into_owned();
        (recipients, transmitted)
    }

    #[cfg(feature = "lettre")]
    fn recipients(envelope: &Envelope) -> Vec<String> {
        let recipients = envelope.recipients.iter();
        recipients.map(|r| r.address.to_string()).collect()
    }

    /// lettre drops `Bcc:` when it builds a message: the message is sent
    /// to the envelope lettre gave it, Bcc included; the header names the
    /// Bcc recipients in a `Bcc:` the send strips (one kept with
    /// `keep_bcc()` is replaced), so it names a recipient even when
    /// there is no To: or Cc:; by value or by reference alike.
    #[cfg(feature = "lettre")]
    #[test]
    fn a_lettre_message_is_sent_to_its_envelope_without_bcc() {
        for (keep_bcc, to) in [(false, true), (true, true), (false, false)] {
            let mut builder = lettre::Message::builder()
                .from(mailbox("Alice <alice@example.org>"))
                .bcc(mailbox("Hidden <hidden@example.com>"))
                .subject("lettre");
            if to {
                builder = builder
                    .to(mailbox("bob@example.net"))
                    .cc(mailbox("Carol <carol@example.net>"));
            }
            if keep_bcc {
                builder = builder.keep_bcc();
            }
            let message = builder
                .body(String::from("Hello.\r\n"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                message.headers().get_raw("Bcc").is_some(),
                keep_bcc,
                "lettre's own behaviour changed"
            );
            let expected: &[&str] = if to {
                &["bob@example.net", "carol@example.net", "hidden@example.com"]
            } else {
                &["hidden@example.com"]
            };
            for (envelope, bytes) in [
                built(IntoMessage::<Owned>::into_message(&message)),
                built(IntoMessage::<Owned>::into_message(message.clone())),
            ] {
                assert_eq!(recipients(&envelope), expected);
                assert_eq!(envelope.from.to_string(), "<alice@example.org>");
                let text = String::from_utf8_lossy(&bytes);
                assert_eq!(text.matches("Bcc:").count(), 1, "{text}");
                assert!(text.contains("Bcc: hidden@example.com\r\n"), "{text}");
                let (from_header, transmitted) = as_sent(&bytes);
                assert_eq!(from_header, expected);
                // No Bcc: field (looked for as a field name: the random
                // Message-ID's hex may hold the letters "bcc").
                assert!(
                    !transmitted
                        .lines()
                        .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
                    "{transmitted}"
                );
                assert!(!transmitted.contains("hidden@example.com"), "{transmitted}");
                assert!(transmitted.ends_with("\r\n\r\nHello.\r\n"), "{transmitted}");
            }
            // The caller's message keeps its header.
            assert_eq!(message.headers().get_raw("Bcc").is_some(), keep_bcc);
        }
    }

    /// An envelope set with `MessageBuilder::envelope` is the one sent
    /// to, whatever the header says.
    #[cfg(feature = "lettre")]
    #[test]
    fn a_lettre_message_with_an_envelope_of_its_own() {
        let address = |s: &str| -> lettre::Address { s.parse().unwrap_or_else(|e| panic!("{e}")) };
        let envelope = lettre::address::Envelope::new(
            Some(address("bounces@example.org")),
            vec![address("list@example.net"), address("bob@example.net")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let message = lettre::Message::builder()
            .from(mailbox("alice@example.org"))
            .to(mailbox("Bob <bob@example.net>"))
            .envelope(envelope)
            .body(String::from("Hello.\r\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        let (envelope, bytes) = built(IntoMessage::<Owned>::into_message(message));
        assert_eq!(envelope.from.to_string(), "<bounces@example.org>");
        assert_eq!(
            recipients(&envelope),
            ["list@example.net", "bob@example.net"]
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("Bcc: list@example.net\r\n"), "{text}");
        let (_, transmitted) = as_sent(&bytes);
        assert!(!transmitted.contains("list@example.net"), "{transmitted}");
    }

    /// An envelope lettre accepts but SMTP does not (`_` in a domain) is
    /// a typed error.
    #[cfg(feature = "lettre")]
    #[test]
    fn a_lettre_envelope_we_cannot_send_to_is_an_error() {
        let to: lettre::Address = "a@ex_ample.org".parse().unwrap_or_else(|e| panic!("{e}"));
        let envelope =
            lettre::address::Envelope::new(None, vec![to]).unwrap_or_else(|e| panic!("{e}"));
        let message = lettre::Message::builder()
            .from(mailbox("alice@example.org"))
            .envelope(envelope)
            .body(String::from("Hello.\r\n"))
            .unwrap_or_else(|e| panic!("{e}"));
        match IntoMessage::<Owned>::into_message(message) {
            Err(MessageError::BadAddress { field, address, .. }) => {
                assert_eq!(
                    (field, address.as_str()),
                    ("envelope recipient", "a@ex_ample.org")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// mail-builder's message is written out whole, `Bcc:` included: the
    /// header gives the envelope, and the send strips it.
    #[cfg(feature = "mail-builder")]
    #[test]
    fn a_mail_builder_message_is_a_whole_message() {
        let message = mail_builder::MessageBuilder::new()
            .from(("Alice", "alice@example.org"))
            .to("bob@example.net")
            .bcc("hidden@example.com")
            .subject("mail-builder")
            .text_body("Hello.");
        match IntoMessage::<Owned>::into_message(message) {
            Ok(WholeMessage::Built {
                envelope: None,
                bytes,
            }) => {
                let text = String::from_utf8_lossy(&bytes);
                assert!(text.contains("Bcc: <hidden@example.com>\r\n"), "{text}");
                assert!(text.contains("Hello."), "{text}");
            }
            other => panic!("{other:?}"),
        }
    }
}
