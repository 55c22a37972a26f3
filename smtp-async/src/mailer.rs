//! [`Mailer`]: what sends mail, so that code can be written once and
//! tested with a double.

use std::future::Future;

use bytes::Bytes;
use futures_lite::AsyncReadExt;
use smtpkit_client::doubles::{FileMailer, RecordsMessages, StubMailer};
use smtpkit_client::message::MessageError;
use smtpkit_proto::{DeliveryReport, Envelope};

use crate::{Body, Client, Error, IntoMessage, Pool, Pooled, Runtime, Stream, WholeMessage};

/// What sends mail, on every runtime: a [`Client`], a [`Pool`] (or a
/// [`Pooled`] connection), and the test doubles [`StubMailer`] (in memory,
/// scripted outcomes) and [`FileMailer`] (an `.eml` and an envelope
/// `.json` per message, written with blocking I/O). Write the code that
/// sends against `&mut impl Mailer`; hand it a double in its tests.
///
/// ```
/// use smtpkit_async::{Mailer, StubMailer};
///
/// async fn welcome(mailer: &mut impl Mailer, to: &str) -> Result<bool, smtpkit_async::Error> {
///     let message = format!("From: hello@example.org\r\nTo: {to}\r\nSubject: Welcome\r\n\r\nHi!\r\n");
///     Ok(mailer.send_message(message.into_bytes()).await?.all_delivered())
/// }
///
/// let mut stub = StubMailer::new();
/// assert!(futures_lite::future::block_on(welcome(&mut stub, "new@example.net"))?);
/// assert_eq!(stub.sent()[0].recipients(), ["new@example.net"]);
/// # Ok::<(), smtpkit_async::Error>(())
/// ```
pub trait Mailer {
    /// Sends one message to `envelope`, as [`Client::send`].
    fn send(
        &mut self,
        envelope: Envelope,
        body: Body,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send;

    /// Sends a whole RFC 5322 message, the envelope taken from its header
    /// and `Bcc:` not transmitted, or a message a builder made
    /// ([`IntoMessage`]), as [`Client::send_message`]. The message is
    /// converted before the future is made: the future holds only a
    /// [`WholeMessage`].
    fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send;
}

impl<R: Runtime, S: Stream> Mailer for Client<R, S> {
    async fn send(&mut self, envelope: Envelope, body: Body) -> Result<DeliveryReport, Error> {
        Client::send(self, envelope, body).await
    }
    fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send {
        let message = message.into_message();
        async move { Client::send_message(self, message?).await }
    }
}

impl<R: Runtime> Mailer for Pooled<R> {
    async fn send(&mut self, envelope: Envelope, body: Body) -> Result<DeliveryReport, Error> {
        Client::send(self, envelope, body).await
    }
    fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send {
        let message = message.into_message();
        async move { Client::send_message(self, message?).await }
    }
}

/// Files are streamed (and opened again for a retry); a reader is tried
/// once.
impl<R: Runtime> Mailer for Pool<R> {
    async fn send(&mut self, envelope: Envelope, body: Body) -> Result<DeliveryReport, Error> {
        Pool::send(self, envelope, body).await
    }
    fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send {
        let message = message.into_message();
        async move { Pool::send_message(self, message?).await }
    }
}

/// A message that carries its own envelope (lettre's) is recorded to
/// that envelope, its header rewritten as the clients rewrite it
/// (`Bcc:` stripped, `Date:`/`Message-ID:` completed, signed).
impl Mailer for StubMailer {
    async fn send(&mut self, envelope: Envelope, body: Body) -> Result<DeliveryReport, Error> {
        let body = in_memory(body).await?;
        self.deliver(envelope, body.to_vec())
    }
    fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send {
        record(self, message.into_message())
    }
}

/// As the [`StubMailer`]'s, for a message that carries its own envelope.
impl Mailer for FileMailer {
    async fn send(&mut self, envelope: Envelope, body: Body) -> Result<DeliveryReport, Error> {
        self.deliver(envelope, &in_memory(body).await?)
    }
    fn send_message(
        &mut self,
        message: impl IntoMessage<Body>,
    ) -> impl Future<Output = Result<DeliveryReport, Error>> + Send {
        record(self, message.into_message())
    }
}

/// A message-level send to a double: the message in memory, recorded as
/// the clients send it ([`RecordsMessages`]).
async fn record(
    double: &impl RecordsMessages,
    message: Result<WholeMessage<Body>, MessageError>,
) -> Result<DeliveryReport, Error> {
    match message? {
        WholeMessage::Body(body) => double.deliver_whole(None, &in_memory(body).await?),
        WholeMessage::Built { envelope, bytes } => double.deliver_whole(envelope, &bytes),
    }
}

/// The body's octets. A file is read with blocking I/O (the doubles
/// only; clients and pools stream files).
async fn in_memory(body: Body) -> Result<Bytes, Error> {
    match body {
        Body::Bytes(b) => Ok(b),
        Body::File(path) => std::fs::read(path).map(Bytes::from).map_err(Error::Body),
        Body::Reader(mut r) => {
            let mut data = Vec::new();
            r.read_to_end(&mut data).await.map_err(Error::Body)?;
            Ok(Bytes::from(data))
        }
    }
}
