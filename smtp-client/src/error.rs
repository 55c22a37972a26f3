//! The error of every client call, on every runtime.

use std::io;

use smtpkit_proto::{SendFailure, SessionError, TranscriptEntry, UsageError};

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
    /// The message was not sent to anyone; the report says why for each
    /// recipient, `cause` why the connection ended when it did.
    #[error("{failure}")]
    Send {
        /// The failure with every recipient's outcome.
        failure: Box<SendFailure>,
        /// The session error that caused it, when the connection ended
        /// (also [`source()`](std::error::Error::source)).
        #[source]
        cause: Option<SessionError>,
    },
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
            Error::Send { failure, cause } => {
                let refusals_transient = failure.report.rejected().all(|(_, r)| r.is_transient());
                match &failure.kind {
                    smtpkit_proto::FailureKind::RecipientsRejected => refusals_transient,
                    kind => {
                        kind.is_transient()
                            || cause.as_ref().is_some_and(SessionError::is_transient)
                    }
                }
            }
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
            Error::Send { failure, .. } => match &failure.kind {
                smtpkit_proto::FailureKind::RecipientsRejected => {
                    failure.report.rejected().all(|(_, r)| r.is_permanent())
                }
                smtpkit_proto::FailureKind::SenderRejected(r)
                | smtpkit_proto::FailureKind::MessageRejected(r) => r.is_permanent(),
                smtpkit_proto::FailureKind::TooLarge { .. } => true,
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the connection this error came from may still be used
    /// (the message failed, the session did not).
    pub fn connection_usable(&self) -> bool {
        matches!(
            self,
            Error::Send { cause: None, .. } | Error::Body(_) | Error::Usage(_) | Error::Message(_)
        )
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
