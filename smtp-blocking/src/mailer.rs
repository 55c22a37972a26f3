//! [`Mailer`]: what sends mail, so that code can be written once and
//! tested with a double.

use std::borrow::Cow;
use std::io::Read;

use smtpkit_client::doubles::{FileMailer, RecordsMessages, StubMailer};
use smtpkit_proto::{DeliveryReport, Envelope};

use crate::{Body, Client, Clock, Error, IntoMessage, Pool, Pooled, WholeMessage};

/// What sends mail: a [`Client`], a [`Pool`] (or a [`Pooled`] connection),
/// and the test doubles [`StubMailer`] (in memory, scripted outcomes) and
/// [`FileMailer`] (an `.eml` and an envelope `.json` per message). Write
/// the code that sends against `&mut impl Mailer`; hand it a double in
/// its tests.
///
/// ```
/// use smtpkit_blocking::{Body, Mailer, StubMailer};
///
/// fn welcome(mailer: &mut impl Mailer, to: &str) -> Result<bool, smtpkit_blocking::Error> {
///     let message = format!("From: hello@example.org\r\nTo: {to}\r\nSubject: Welcome\r\n\r\nHi!\r\n");
///     Ok(mailer.send_message(Body::Bytes(message.as_bytes()))?.all_delivered())
/// }
///
/// let mut stub = StubMailer::new();
/// assert!(welcome(&mut stub, "new@example.net")?);
/// assert_eq!(stub.sent()[0].recipients(), ["new@example.net"]);
/// # Ok::<(), smtpkit_blocking::Error>(())
/// ```
pub trait Mailer {
    /// Sends one message to `envelope`, as [`Client::send`].
    ///
    /// # Errors
    /// As [`Client::send`].
    fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error>;

    /// Sends a whole RFC 5322 message, the envelope taken from its header
    /// and `Bcc:` not transmitted, or a message a builder made
    /// ([`IntoMessage`]), as [`Client::send_message`].
    ///
    /// # Errors
    /// As [`Client::send_message`].
    fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error>;
}

impl<C: Clock> Mailer for Client<C> {
    fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error> {
        Client::send(self, envelope, body)
    }
    fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        Client::send_message(self, message)
    }
}

impl<C: Clock> Mailer for Pooled<C> {
    fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error> {
        Client::send(self, envelope, body)
    }
    fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        Client::send_message(self, message)
    }
}

/// Files are streamed (and read again for a retry); a reader is tried
/// once.
impl<C: Clock> Mailer for Pool<C> {
    fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error> {
        Pool::send(self, envelope, body)
    }
    fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        Pool::send_message(self, message)
    }
}

/// A message that carries its own envelope (lettre's) is recorded to
/// that envelope, its header rewritten as the clients rewrite it
/// (`Bcc:` stripped, `Date:`/`Message-ID:` completed, signed).
impl Mailer for StubMailer {
    fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error> {
        let body = in_memory(body)?;
        self.deliver(envelope, body.into_owned())
    }
    fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        record(self, message)
    }
}

/// As the [`StubMailer`]'s, for a message that carries its own envelope.
impl Mailer for FileMailer {
    fn send(&mut self, envelope: Envelope, body: Body<'_>) -> Result<DeliveryReport, Error> {
        self.deliver(envelope, &in_memory(body)?)
    }
    fn send_message<'a>(
        &mut self,
        message: impl IntoMessage<Body<'a>>,
    ) -> Result<DeliveryReport, Error> {
        record(self, message)
    }
}

/// A message-level send to a double: the message in memory, recorded as
/// the clients send it ([`RecordsMessages`]).
fn record<'a>(
    double: &impl RecordsMessages,
    message: impl IntoMessage<Body<'a>>,
) -> Result<DeliveryReport, Error> {
    match message.into_message()? {
        WholeMessage::Body(body) => double.deliver_whole(None, &in_memory(body)?),
        WholeMessage::Built { envelope, bytes } => double.deliver_whole(envelope, &bytes),
    }
}

fn in_memory(body: Body<'_>) -> Result<Cow<'_, [u8]>, Error> {
    let mut data = Vec::new();
    match body {
        Body::Bytes(b) => return Ok(Cow::Borrowed(b)),
        Body::File(mut f) => f.read_to_end(&mut data),
        Body::Reader(mut r) => r.read_to_end(&mut data),
    }
    .map_err(Error::Body)?;
    Ok(Cow::Owned(data))
}
