//! The error of every client call, on every runtime.

use std::io;

use smtpkit_proto::{
    DeliveryReport, Envelope, FailureKind, RecipientReport, RecipientStatus, SendFailure,
    SessionError, TranscriptEntry, UnsentReason, UsageError,
};

/// What can go wrong in a client call, on every runtime.
///
/// `Display` says what failed; the underlying error is
/// [`source()`](std::error::Error::source), never repeated in the text
/// (print the chain, e.g. with [`Error::chain`], to show both).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing the socket failed.
    #[error("the connection failed")]
    Io(#[from] io::Error),
    /// Reading the caller's message body failed.
    #[error("reading the message failed")]
    Body(#[source] io::Error),
    /// The TLS configuration is unusable (a CA file, a client key, a
    /// protocol or cipher name).
    #[error("the TLS configuration is unusable")]
    TlsConfig(#[source] smtpkit_proto::TlsError),
    /// The authentication configuration is unusable: it names a SASL
    /// mechanism this build left out ([`SelectError::NotBuiltIn`](smtpkit_proto::SelectError::NotBuiltIn),
    /// with the Cargo feature that adds it). Nothing was sent.
    #[error("the authentication configuration is unusable")]
    AuthConfig(#[source] smtpkit_proto::SelectError),
    /// The session ended (refused greeting, TLS or AUTH failure, timeout,
    /// malformed reply, connection closed).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The connection failed (or could not be made) while the message
    /// was being sent. `report` still says what became of every
    /// recipient: delivered before the failure (an earlier RCPTMAX
    /// transaction), refused, or unsent; `report.failure` says whether
    /// the end of data was written
    /// ([`may_have_been_delivered`](DeliveryReport::may_have_been_delivered)).
    /// `cause` (also [`source()`](std::error::Error::source)) is why the
    /// connection ended.
    #[error("{}", send_failure_text(report))]
    Send {
        /// Every recipient's outcome.
        report: Box<DeliveryReport>,
        /// Why the connection ended, when known.
        #[source]
        cause: Option<Box<Error>>,
    },
    /// The message did not reach every recipient, in JavaMail's
    /// all-or-nothing view: what `?` makes of
    /// [`DeliveryReport::into_result`]. Sends never return it themselves;
    /// a completed transaction is an `Ok(report)`, refusals included.
    #[error("{0}")]
    Undelivered(Box<SendFailure>),
    /// The message cannot be sent as it is (no recipient, no sender, a
    /// bad address in a header): nothing was sent.
    #[error("the message cannot be sent as it is")]
    Message(#[from] crate::message::MessageError),
    /// A request the session could not take.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The SOCKS5 or HTTP CONNECT proxy refused or failed.
    #[error("the proxy failed")]
    Proxy(#[from] smtpkit_proto::proxy::ProxyError),
    /// An earlier call on this connection was cancelled (its future
    /// dropped) midway: what the server saw is unknown, so the connection
    /// is not used again.
    #[error(
        "an earlier operation on this connection was cancelled midway; the connection cannot be reused"
    )]
    Poisoned,
}

impl Error {
    /// This error and its sources, joined by `": "`, for a person to read.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            text.push_str(": ");
            text.push_str(&e.to_string());
            source = e.source();
        }
        text
    }

    /// Whether trying again later (on a new connection) may succeed: lost
    /// connections, timeouts, 4xx replies, a cancelled call.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io(_) | Error::Poisoned => true,
            Error::Session(e) => e.is_transient(),
            // Lost mid-transaction: transient. Never connected: as the
            // reason (a refused login stays refused).
            Error::Send { cause, .. } => cause.as_deref().is_none_or(Error::is_transient),
            Error::Undelivered(failure) => match &failure.kind {
                FailureKind::RecipientsRejected => {
                    failure.report.rejected().all(|(_, r)| r.is_transient())
                }
                kind => kind.is_transient(),
            },
            _ => false,
        }
    }

    /// Whether trying again would fail the same way: the server refused
    /// permanently (5xx), or the configuration or the message is unusable.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::TlsConfig(_) | Error::AuthConfig(_) | Error::Message(_) => true,
            Error::Session(e) => {
                !e.is_transient() && e.reply().is_some_and(smtpkit_proto::Reply::is_permanent)
            }
            Error::Send { cause, .. } => cause.as_deref().is_some_and(Error::is_permanent),
            Error::Undelivered(failure) => match &failure.kind {
                FailureKind::RecipientsRejected => {
                    failure.report.rejected().all(|(_, r)| r.is_permanent())
                }
                FailureKind::SenderRejected(r) | FailureKind::MessageRejected(r) => {
                    r.is_permanent()
                }
                FailureKind::TooLarge { .. } => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// Every recipient's outcome, when this error came from a send:
    /// [`Error::Send`] and [`Error::Undelivered`].
    pub fn report(&self) -> Option<&DeliveryReport> {
        match self {
            Error::Send { report, .. } => Some(report),
            Error::Undelivered(failure) => Some(&failure.report),
            _ => None,
        }
    }

    /// The error for a message whose connection could not be made (or
    /// broke before it was queued): every recipient unsent, `cause` kept.
    /// The pools and the one-shot sends use it, so that a send's error
    /// always accounts for every recipient.
    pub fn not_connected(envelope: &Envelope, cause: Error) -> Error {
        if matches!(cause, Error::Send { .. } | Error::Undelivered(_)) {
            return cause;
        }
        let recipients = envelope
            .recipients
            .iter()
            .map(|r| {
                RecipientReport::new(
                    r.address.clone(),
                    RecipientStatus::Unsent(UnsentReason::NotConnected),
                )
            })
            .collect();
        let report = DeliveryReport::new(smtpkit_proto::MessageId(0), recipients, None)
            .with_failure(FailureKind::NotConnected);
        Error::Send {
            report: Box::new(report),
            cause: Some(Box::new(cause)),
        }
    }

    /// Whether the kind of error leaves the connection usable (the
    /// message failed, the session did not). One case cannot be told from
    /// the error alone: an [`Error::Body`] after DATA's 354 ends the
    /// connection (a message cannot be abandoned mid-DATA without risking
    /// its delivery), so ask the client's `is_closed()` before reusing it,
    /// as the pools do.
    pub fn connection_usable(&self) -> bool {
        matches!(
            self,
            Error::Undelivered(_) | Error::Body(_) | Error::Usage(_) | Error::Message(_)
        )
    }
}

impl From<SendFailure> for Error {
    fn from(failure: SendFailure) -> Self {
        Error::Undelivered(Box::new(failure))
    }
}

impl From<Box<SendFailure>> for Error {
    fn from(failure: Box<SendFailure>) -> Self {
        Error::Undelivered(failure)
    }
}

fn send_failure_text(report: &DeliveryReport) -> String {
    match &report.failure {
        Some(kind) => kind.to_string(),
        None => "connection lost".to_owned(),
    }
}

impl Error {
    /// The typed TLS failure (unknown issuer, name mismatch, expired, the
    /// server's alert, …) when TLS is why this failed, from the TLS
    /// handshake or the TLS configuration.
    pub fn tls_failure(&self) -> Option<&smtpkit_tls::TlsFailure> {
        smtpkit_tls::TlsFailure::find(self)
    }
}

/// A callback that receives every transcript line (secrets redacted).
pub type TranscriptHook = Box<dyn FnMut(&TranscriptEntry) + Send>;

/// The error a read or write that gave up at its deadline reports.
pub fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtpkit_proto::{Reply, ReplyCode};

    fn reply(code: u16) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), None, vec!["text".to_owned()]).unwrap()
    }

    #[test]
    fn transient_and_permanent() {
        let lost = Error::Io(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        assert!(lost.is_transient() && !lost.is_permanent());
        let refused = Error::Session(SessionError::Rejected(reply(554)));
        assert!(!refused.is_transient() && refused.is_permanent());
        let busy = Error::Session(SessionError::Rejected(reply(421)));
        assert!(busy.is_transient() && !busy.is_permanent());
        let timeout = Error::Session(SessionError::Timeout {
            waiting_for: "MAIL",
            after: std::time::Duration::from_secs(1),
        });
        assert!(timeout.is_transient() && !timeout.is_permanent());
        let message = Error::Message(crate::message::MessageError::NoRecipients);
        assert!(!message.is_transient() && message.is_permanent());
    }

    #[test]
    fn display_does_not_repeat_the_source_and_chain_shows_both() {
        let e = Error::Io(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
        assert_eq!(e.to_string(), "the connection failed");
        assert_eq!(e.chain(), "the connection failed: write timed out");
        let e = Error::Session(SessionError::Timeout {
            waiting_for: "end of data",
            after: std::time::Duration::from_secs(600),
        });
        assert!(e.chain().contains("timed out"), "{}", e.chain());
    }
}
