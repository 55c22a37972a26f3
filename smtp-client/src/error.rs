//! The error of every client call, on every runtime.

use std::io;

use smtpkit_proto::proxy::ProxyError;
use smtpkit_proto::{
    DeliveryReport, Envelope, ErrorClass, FailureKind, RecipientReport, RecipientStatus,
    SendFailure, SessionError, SessionInfo, TranscriptEntry, UnsentReason, UsageError,
};

/// What can go wrong in a client call, on every runtime.
///
/// `Display` says what failed and, in the same line, the innermost cause
/// (`the connection failed: Connection refused (os error 111)`,
/// `authentication failed: 535 5.7.8 …`), so that `{e}` and `?` in `main`
/// tell a person why. The cause stays typed in
/// [`source()`](std::error::Error::source); [`Error::chain`] gives every
/// level once.
///
/// Every error has a [`class`](Error::class): transient (try again
/// later), permanent (this message will not go as it is) or configuration
/// (fix the settings, the certificate or the server's policy first):
///
/// | class | errors |
/// |---|---|
/// | [`Transient`](ErrorClass::Transient) | socket errors, timeouts, the connection lost or closed, 4xx replies (421, 450, 451, 452, 454), a malformed reply, a TLS protocol error, a cancelled call ([`Error::Poisoned`]), a proxy that cannot reach the server |
/// | [`Permanent`](ErrorClass::Permanent) | 5xx replies to the greeting, EHLO, MAIL, RCPT (every recipient) or the data, a message too large, content the server cannot take (8-bit without 8BITMIME), a message that cannot be sent as it is ([`Error::Message`]), a body that cannot be read ([`Error::Body`]) |
/// | [`Configuration`](ErrorClass::Configuration) | TLS: an untrusted or expired certificate, a name mismatch, no common version, an unusable TLS setting; STARTTLS required and not offered, or refused with 5xx; a response injection; authentication: credentials refused (535), no usable mechanism, a mechanism left out of the build, a channel-binding failure; a proxy refusing our credentials; a call the session cannot take ([`Error::Usage`], but a closed session, which is transient) |
///
/// A message some of whose recipients were refused for good and others
/// only for now is transient: trying again may reach the others
/// ([`DeliveryReport`] says which).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing the socket failed.
    #[error("{}", with_cause("the connection failed", .0))]
    Io(#[from] io::Error),
    /// Reading the caller's message body failed.
    #[error("{}", with_cause("reading the message failed", .0))]
    Body(#[source] io::Error),
    /// The TLS configuration is unusable (a CA file, a client key, a
    /// protocol or cipher name).
    #[error("{}", with_cause("the TLS configuration is unusable", .0))]
    TlsConfig(#[source] smtpkit_proto::TlsError),
    /// The authentication configuration is unusable: it names a SASL
    /// mechanism this build left out ([`SelectError::NotBuiltIn`](smtpkit_proto::SelectError::NotBuiltIn),
    /// with the Cargo feature that adds it). Nothing was sent.
    #[error("{}", with_cause("the authentication configuration is unusable", .0))]
    AuthConfig(#[source] smtpkit_proto::SelectError),
    /// The session ended (refused greeting, TLS or AUTH failure, timeout,
    /// malformed reply, connection closed).
    #[error("{}", with_cause(.0, .0))]
    Session(#[from] SessionError),
    /// The connection failed (or could not be made) while the message
    /// was being sent. `report` still says what became of every
    /// recipient: delivered before the failure (an earlier RCPTMAX
    /// transaction), refused, or unsent; `report.failure` says whether
    /// the end of data was written
    /// ([`may_have_been_delivered`](DeliveryReport::may_have_been_delivered)).
    /// `cause` (also [`source()`](std::error::Error::source)) is why the
    /// connection ended.
    #[error("{}", send_failure_text(report, cause.as_deref()))]
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
    #[error("{}", with_cause("the message cannot be sent as it is", .0))]
    Message(#[from] crate::message::MessageError),
    /// A request the session could not take.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The SOCKS5 or HTTP CONNECT proxy refused or failed.
    #[error("{}", with_cause("the proxy failed", .0))]
    Proxy(#[from] smtpkit_proto::proxy::ProxyError),
    /// An earlier call on this connection was cancelled (its future
    /// dropped) midway: what the server saw is unknown, so the connection
    /// is not used again.
    #[error(
        "an earlier operation on this connection was cancelled midway; the connection cannot be reused"
    )]
    Poisoned,
    /// No access token could be had for XOAUTH2 / OAUTHBEARER (the token
    /// endpoint is unreachable or refused the grant): nothing was sent.
    #[cfg(feature = "oauth2")]
    #[error("{}", with_cause("no access token", .0))]
    Token(#[source] smtpkit_oauth2::TokenError),
}

impl Error {
    /// This error and its sources, joined by `": "`, each text once (a
    /// level whose text an outer one already shows is left out), for a
    /// person to read.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            let level = e.to_string();
            if !text.contains(&level) {
                text.push_str(": ");
                text.push_str(&level);
            }
            source = e.source();
        }
        text
    }

    /// What kind of failure this is: see the table in the [type's
    /// docs](Error).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Io(_) | Error::Poisoned => ErrorClass::Transient,
            Error::Body(_) | Error::Message(_) => ErrorClass::Permanent,
            Error::TlsConfig(_) | Error::AuthConfig(_) => ErrorClass::Configuration,
            Error::Session(e) => e.class(),
            #[cfg(feature = "oauth2")]
            Error::Token(e) if e.is_transient() => ErrorClass::Transient,
            #[cfg(feature = "oauth2")]
            Error::Token(_) => ErrorClass::Configuration,
            Error::Usage(UsageError::Closed | UsageError::Quitting) => ErrorClass::Transient,
            Error::Usage(UsageError::NoRecipients) => ErrorClass::Permanent,
            Error::Usage(_) => ErrorClass::Configuration,
            Error::Proxy(e) => match e {
                ProxyError::NoAcceptableMethod
                | ProxyError::CredentialsRequired
                | ProxyError::AuthenticationFailed
                | ProxyError::Invalid(_) => ErrorClass::Configuration,
                _ => ErrorClass::Transient,
            },
            // Lost mid-transaction: transient. Never connected: as the
            // reason (a refused login stays refused).
            Error::Send { cause, .. } => {
                cause.as_deref().map_or(ErrorClass::Transient, Error::class)
            }
            Error::Undelivered(failure) => match &failure.kind {
                FailureKind::RecipientsRejected => {
                    if failure.report.rejected().all(|(_, r)| r.is_permanent()) {
                        ErrorClass::Permanent
                    } else {
                        ErrorClass::Transient
                    }
                }
                FailureKind::SenderRejected(r) | FailureKind::MessageRejected(r) => {
                    ErrorClass::of_reply(r)
                }
                FailureKind::RequireTlsUnavailable => ErrorClass::Configuration,
                kind if kind.is_transient() => ErrorClass::Transient,
                _ => ErrorClass::Permanent,
            },
        }
    }

    /// Whether trying again later (on a new connection) may succeed: lost
    /// connections, timeouts, 4xx replies, a cancelled call
    /// ([`ErrorClass::Transient`]).
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// Whether this message will fail the same way however often it is
    /// tried: the server refused it permanently (5xx), or it cannot be
    /// sent as it is ([`ErrorClass::Permanent`]).
    pub fn is_permanent(&self) -> bool {
        self.class() == ErrorClass::Permanent
    }

    /// Whether the settings, a certificate or the server's policy must be
    /// fixed first: nothing will go until then
    /// ([`ErrorClass::Configuration`]).
    pub fn is_configuration(&self) -> bool {
        self.class() == ErrorClass::Configuration
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

fn send_failure_text(report: &DeliveryReport, cause: Option<&Error>) -> String {
    let what = match &report.failure {
        Some(kind) => kind.to_string(),
        None => "connection lost".to_owned(),
    };
    match cause {
        Some(cause) => with_cause(what, cause),
        None => what,
    }
}

/// `what`, then the innermost cause of `cause` (the last of its
/// sources, or `cause` itself), unless `what` already says it. A typed
/// TLS failure counts as innermost: its words ("the certificate's issuer
/// is not trusted (unknown CA)") say more to a person than rustls'
/// (`UnknownIssuer`), which stays in the chain below it.
fn with_cause(what: impl std::fmt::Display, cause: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = cause;
    while let Some(next) = innermost.source() {
        innermost = next;
        if innermost.is::<smtpkit_tls::TlsFailure>() {
            break;
        }
    }
    let what = what.to_string();
    let why = innermost.to_string();
    if why.is_empty() || what.contains(&why) {
        what
    } else {
        format!("{what}: {why}")
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

/// A connection that could not be set up, with what the session learnt
/// before it failed: the greeting, the extensions before and after TLS,
/// the TLS connection. A report of a refused login can then say what the
/// server offered (`smtp-send --json` does). The clients'
/// `connect_reporting` return it; `?` turns it into its [`Error`].
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
#[non_exhaustive]
pub struct ConnectFailure {
    /// Why the connection could not be set up.
    #[source]
    pub error: Error,
    /// What was known when it failed (empty when no connection was made).
    pub info: Box<SessionInfo>,
}

impl ConnectFailure {
    /// `error`, after a session that learnt `info`.
    pub fn new(error: Error, info: SessionInfo) -> ConnectFailure {
        ConnectFailure {
            error,
            info: Box::new(info),
        }
    }
}

/// A failure before the session began: nothing is known about it.
impl From<Error> for ConnectFailure {
    fn from(error: Error) -> ConnectFailure {
        ConnectFailure::new(error, SessionInfo::default())
    }
}

impl From<ConnectFailure> for Error {
    fn from(failure: ConnectFailure) -> Error {
        failure.error
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

    /// One error of each row of the table in the type's docs, in its
    /// class, and exactly one of the three predicates true.
    #[test]
    fn every_error_has_one_class() {
        use smtpkit_proto::{AuthError, SaslError, SelectError, TlsError, TlsErrorKind};
        let session = |e: SessionError| Error::Session(e);
        let tls = |kind| session(SessionError::Tls(TlsError::new(kind, "x")));
        let cases: Vec<(Error, ErrorClass)> = vec![
            (
                Error::Io(io::ErrorKind::ConnectionRefused.into()),
                ErrorClass::Transient,
            ),
            (Error::Poisoned, ErrorClass::Transient),
            (
                session(SessionError::ServiceClosing(reply(421))),
                ErrorClass::Transient,
            ),
            (
                session(SessionError::Rejected(reply(554))),
                ErrorClass::Permanent,
            ),
            (
                session(SessionError::HeloRejected(reply(450))),
                ErrorClass::Transient,
            ),
            (session(SessionError::BodyAborted), ErrorClass::Transient),
            (tls(TlsErrorKind::Protocol), ErrorClass::Transient),
            (tls(TlsErrorKind::Certificate), ErrorClass::Configuration),
            (tls(TlsErrorKind::Handshake), ErrorClass::Configuration),
            (
                session(SessionError::StartTlsUnavailable(
                    "the server does not offer it",
                )),
                ErrorClass::Configuration,
            ),
            (
                session(SessionError::StartTlsRefused(reply(454))),
                ErrorClass::Transient,
            ),
            (
                session(SessionError::StartTlsRefused(reply(554))),
                ErrorClass::Configuration,
            ),
            (
                session(SessionError::ResponseInjection(7)),
                ErrorClass::Configuration,
            ),
            (
                session(SessionError::Auth(AuthError::Rejected {
                    reply: reply(535),
                })),
                ErrorClass::Configuration,
            ),
            (
                session(SessionError::Auth(AuthError::Rejected {
                    reply: reply(454),
                })),
                ErrorClass::Transient,
            ),
            (
                session(SessionError::Auth(AuthError::Mechanism {
                    mechanism: "SCRAM-SHA-256-PLUS".into(),
                    error: SaslError::ChannelBinding("channel-bindings-dont-match".into()),
                })),
                ErrorClass::Configuration,
            ),
            (
                Error::AuthConfig(SelectError::NotBuiltIn {
                    mechanism: "NTLM".into(),
                    feature: "ntlm",
                }),
                ErrorClass::Configuration,
            ),
            (
                Error::TlsConfig(TlsError::new(TlsErrorKind::Config, "bad CA file")),
                ErrorClass::Configuration,
            ),
            (
                Error::Body(io::ErrorKind::NotFound.into()),
                ErrorClass::Permanent,
            ),
            (
                Error::Message(crate::message::MessageError::NoRecipients),
                ErrorClass::Permanent,
            ),
            (Error::Usage(UsageError::Closed), ErrorClass::Transient),
            (Error::Usage(UsageError::Busy), ErrorClass::Configuration),
            (
                Error::Proxy(ProxyError::AuthenticationFailed),
                ErrorClass::Configuration,
            ),
            (Error::Proxy(ProxyError::Closed), ErrorClass::Transient),
        ];
        for (error, class) in cases {
            assert_eq!(error.class(), class, "{error:?}");
            let answers = [
                error.is_transient(),
                error.is_permanent(),
                error.is_configuration(),
            ];
            assert_eq!(answers.iter().filter(|a| **a).count(), 1, "{error:?}");
        }
        // A send that never connected takes its cause's class.
        let envelope = Envelope::new(
            smtpkit_proto::Address::parse("a@example.org").unwrap(),
            [smtpkit_proto::Address::parse("b@example.org").unwrap()],
        );
        let refused = Error::not_connected(
            &envelope,
            session(SessionError::Auth(AuthError::Rejected {
                reply: reply(535),
            })),
        );
        assert!(refused.is_configuration(), "{refused:?}");
        let lost =
            Error::not_connected(&envelope, Error::Io(io::ErrorKind::ConnectionReset.into()));
        assert!(lost.is_transient());
    }

    /// `{e}` says why, in one line, without saying it twice.
    #[test]
    fn display_names_the_innermost_cause_once() {
        let e = Error::Io(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
        assert_eq!(e.to_string(), "the connection failed: write timed out");
        assert_eq!(e.chain(), "the connection failed: write timed out");
        let envelope = Envelope::new(
            smtpkit_proto::Address::parse("a@example.org").unwrap(),
            [smtpkit_proto::Address::parse("b@example.org").unwrap()],
        );
        let refused = Error::not_connected(
            &envelope,
            Error::Session(SessionError::Auth(smtpkit_proto::AuthError::Rejected {
                reply: reply(535),
            })),
        );
        let text = refused.to_string();
        assert!(text.contains("535 text"), "{text}");
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(text.matches("535").count(), 1, "{text}");
        assert_eq!(
            refused.chain().matches("535").count(),
            1,
            "{}",
            refused.chain()
        );
        let e = Error::Session(SessionError::Timeout {
            waiting_for: "end of data",
            after: std::time::Duration::from_secs(600),
        });
        assert!(e.chain().contains("timed out"), "{}", e.chain());
    }
}
