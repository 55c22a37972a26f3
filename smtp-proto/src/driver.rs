//! What every adapter (blocking, tokio, smol) shares besides the session:
//! the error type of the client API, and the [`Collector`] that turns the
//! session's events into results. An adapter's own code is then only
//! plumbing: sockets, clocks and reading bodies.

use std::collections::HashMap;
use std::io;

use crate::envelope::{DeliveryReport, MessageId, SendFailure};
use crate::properties::PropertyError;
use crate::session::{Event, Session, SessionError, TranscriptEntry, UsageError};

/// What can go wrong in a client call, on every runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing the socket failed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// Reading the caller's message body failed.
    #[error("reading the message: {0}")]
    Body(io::Error),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(#[from] PropertyError),
    /// The TLS configuration is unusable (a CA file, a client key, a
    /// protocol or cipher name).
    #[error("TLS configuration: {0}")]
    TlsConfig(crate::TlsError),
    /// The session ended (refused greeting, TLS or AUTH failure, timeout,
    /// malformed reply, connection closed).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The message was not sent to anyone; the report says why for each
    /// recipient.
    #[error("{failure}")]
    Send {
        /// The failure with every recipient's outcome.
        failure: Box<SendFailure>,
        /// The session error that caused it, when the connection ended.
        cause: Option<SessionError>,
    },
    /// A request the session could not take.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The SOCKS5 or HTTP CONNECT proxy refused or failed.
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
    /// An earlier call on this connection was cancelled (its future
    /// dropped) midway: what the server saw is unknown, so the connection
    /// is not used again.
    #[error(
        "an earlier operation on this connection was cancelled midway; the connection cannot be reused"
    )]
    Poisoned,
}

impl Error {
    /// Whether the connection this error came from may still be used
    /// (the message failed, the session did not).
    pub fn connection_usable(&self) -> bool {
        matches!(
            self,
            Error::Send { cause: None, .. } | Error::Body(_) | Error::Usage(_)
        )
    }
}

/// A callback that receives every transcript line (secrets redacted).
pub type TranscriptHook = Box<dyn FnMut(&TranscriptEntry) + Send>;

/// Collects the session's events for an adapter's calls.
#[derive(Default)]
pub struct Collector {
    outcomes: HashMap<MessageId, Result<DeliveryReport, SendFailure>>,
    closed: Option<Option<SessionError>>,
    liveness: Option<bool>,
    ready: bool,
    transcript: Option<TranscriptHook>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("outcomes", &self.outcomes.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// A collector handing transcript lines to `transcript`.
    pub fn new(transcript: Option<TranscriptHook>) -> Collector {
        Collector {
            transcript,
            ..Collector::default()
        }
    }

    /// Takes every pending event from the session.
    pub fn drain(&mut self, session: &mut Session) {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Ready { .. } => self.ready = true,
                Event::Message { id, result } => {
                    self.outcomes.insert(id, result);
                }
                Event::Liveness { alive, .. } => self.liveness = Some(alive),
                Event::Transcript(entry) => {
                    if let Some(hook) = self.transcript.as_mut() {
                        hook(&entry);
                    }
                }
                Event::Closed(error) => self.closed = Some(error),
                _ => {}
            }
        }
    }

    /// Whether the session reported itself established.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Whether the session closed, and why (`Some(None)`: orderly).
    pub fn closed(&self) -> Option<&Option<SessionError>> {
        self.closed.as_ref()
    }

    /// Whether an outcome for `id` is in.
    pub fn has_outcome(&self, id: MessageId) -> bool {
        self.outcomes.contains_key(&id)
    }

    /// The answer to the last liveness check, taken.
    pub fn take_liveness(&mut self) -> Option<bool> {
        self.liveness.take()
    }

    /// Clears a previous liveness answer before a new check.
    pub fn reset_liveness(&mut self) {
        self.liveness = None;
    }

    /// The error for a connection that could not be established.
    pub fn establish_error(&mut self) -> Option<Error> {
        match self.closed.take() {
            Some(Some(e)) => Some(Error::Session(e)),
            Some(None) => Some(Error::Session(SessionError::ConnectionClosed {
                while_waiting: true,
            })),
            None => None,
        }
    }

    /// The results of queued messages, in order: each message's outcome,
    /// or, when none came, `driven` (the error that stopped the adapter's
    /// loop) once and then `ConnectionClosed`.
    pub fn results(
        &mut self,
        ids: Vec<Result<MessageId, Error>>,
        mut driven: Option<Error>,
    ) -> Vec<Result<DeliveryReport, Error>> {
        let cause = self.closed.clone().flatten();
        ids.into_iter()
            .map(|r| {
                let id = r?;
                match self.outcomes.remove(&id) {
                    Some(Ok(report)) => Ok(report),
                    Some(Err(failure)) => Err(Error::Send {
                        failure: Box::new(failure),
                        cause: cause.clone(),
                    }),
                    None => Err(driven.take().unwrap_or(Error::Session(
                        SessionError::ConnectionClosed {
                            while_waiting: true,
                        },
                    ))),
                }
            })
            .collect()
    }
}
