//! # smtp-client: the one SMTP client driver, for every runtime
//!
//! Everything a client decides around `smtp-proto`'s sans-IO
//! [`Session`](smtpkit_proto::Session) lives here once: the typed
//! [`ClientSettings`] and JavaMail's `mail.smtp.*` properties, the SASL
//! chooser they configure, where to connect and what to bind
//! ([`ConnectPlan`]), and the [`Driver`], which owns the session, the
//! message bodies' bookkeeping, the proxy handshake, the write buffer and
//! the results, and tells an I/O loop what to do next. `smtp-blocking` and
//! `smtp-async` (and through it tokio and smol) are such loops: with the
//! body sources of [`source`] (memory, files, readers, whole messages
//! whose envelope comes from their header), [`Driver::next_io`] leaves
//! them only writes, reads and a body's read or seek to perform. What a
//! message-level send does to a message lives in [`message`] (envelope,
//! Bcc, `Date:`/`Message-ID:`, long lines) and, with the `dkim` feature,
//! `dkim` (signing what is transmitted, files at constant memory). How a
//! connection gets its OAuth 2.0 token, and the one retry a refused token
//! earns, is [`oauth2`] (the tokens themselves are smtpkit-oauth2's, with
//! the `oauth2` feature).
//!
//! ```
//! use smtpkit_client::{ClientSettings, Protocol};
//!
//! let settings = ClientSettings::from_properties(Protocol::Smtp, [
//!     ("mail.smtp.host", "mail.example.org"),
//!     ("mail.smtp.port", "587"),
//!     ("mail.smtp.auth", "true"),
//!     ("mail.smtp.user", "alice"),
//! ])?;
//! assert_eq!(settings.port(), 587);
//! assert!(settings.authenticates());
//! # Ok::<(), smtpkit_client::PropertyError>(())
//! ```
//!
//! ## A driver in virtual time
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//! use smtpkit_client::{Action, Driver, IoTimeouts};
//! use smtpkit_proto::{Host, SessionConfig};
//!
//! let config = SessionConfig::new(Host::parse("client.example")?, "mx.example");
//! let start = Instant::now();
//! let mut driver = Driver::new(Arc::new(config), None, IoTimeouts::default(), None, &[], start);
//! // The server greets; the driver answers with EHLO.
//! driver.on_read(start, Ok(b"220 mx.example ESMTP\r\n"));
//! assert!(matches!(driver.next_action(start), Action::Write { bytes: b"EHLO client.example\r\n", .. }));
//! driver.on_written(start, Ok(()));
//! // No reply: the loop is told to read until the EHLO deadline…
//! let Action::Read { deadline: Some(deadline) } = driver.next_action(start) else { panic!() };
//! assert_eq!(deadline, start + Duration::from_secs(300));
//! // …and when that passes, the connection has failed.
//! driver.on_read(deadline, Err(std::io::ErrorKind::TimedOut.into()));
//! assert!(matches!(driver.next_action(deadline), Action::Done));
//! assert!(driver.establish_result().unwrap_err().to_string().contains("timed out"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it does |
//! |---|---|---|
//! | `ring` | on | TLS crypto from rustls' `ring` provider |
//! | `aws-lc-rs` | off | rustls' `aws-lc-rs` provider instead (`ring` is used when both are on; each TLS configuration gets exactly one, the process default is never used) |
//! | `platform-roots` | on | trust the operating system's roots (`RootSource::Platform`, the default) |
//! | `bundled-roots` | off | Mozilla's roots compiled in (`RootSource::Bundled`), for systems without a trust store |
//! | `tracing` | on | `tracing` debug events: the transcript (secrets redacted) and why a session failed; off, the log calls compile to nothing |
//! | `legacy-auth` | off | the legacy SASL mechanisms CRAM-MD5, DIGEST-MD5 and NTLM (MD4, MD5, DES); one at a time: `cram-md5`, `digest-md5`, `ntlm` |
//! | `lettre` | off | `body::IntoMessage` for `lettre::Message` (lettre with only its `builder` feature): every client's `send_message` takes one as it is, sent to the envelope lettre gives it (Bcc recipients included, `Bcc:` never transmitted) |
//! | `mail-builder` | off | `body::IntoMessage` for `mail_builder::MessageBuilder` (mail-builder 2): every client's `send_message` takes one as it is, the envelope from its header (`Bcc:` not transmitted) |
//!
//! A setting that needs a feature that is off is a typed error naming the
//! feature, never a panic: `mail.smtp.auth.mechanisms=NTLM` without `ntlm`
//! is `Error::AuthConfig(SelectError::NotBuiltIn { feature: "ntlm", .. })`
//! before anything is sent; `RootSource::Bundled` without `bundled-roots`
//! is `Error::TlsConfig` whose `TlsFailure` kind is
//! `MissingFeature("bundled-roots")`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod body;
mod connect;
#[cfg(feature = "dkim")]
pub mod dkim;
pub mod doubles;
mod driver;
mod error;
pub mod message;
pub mod oauth2;
pub mod pool;
pub mod relay;
pub mod settings;
mod socket_timeouts;
pub mod source;

pub use body::{Body, ReplayFile, sources};
pub use connect::{ConnectPlan, ConnectStep, Connector, ehlo_name, finite, io_timeouts};
pub use driver::{Action, BODY_READ_MAX, BodyPlan, Driver, IoTimeouts, MemoryBody};
pub use error::{ConnectFailure, Error, TranscriptHook, timed_out};
pub use message::{MessageOptions, MessageSettings};
pub use pool::{PoolConfig, Reuse};
pub use settings::{
    AuthSettings, ClientSettings, Credentials, KEYS, Key, PropertyError, Protocol, ProxyKind,
    ProxySettings, SessionOptions, TlsOptions,
};
// The TLS settings' own types, so that a caller needs no other crate. (A
// `///` here would be glued to the docs of each item.)
pub use smtpkit_tls::{RootSource, TlsSettings, Trust};
pub use socket_timeouts::SocketTimeouts;
pub use source::{Bodies, BodyIo, Io, MessageReader, Source};

/// The names every client crate re-exports (`pub use
/// smtpkit_client::exports::*`), listed once so that the clients agree:
/// the settings, the envelope, the report and error types and the test
/// doubles a user of any one client names. Hidden: users name these
/// through their client crate (or here, at the crate root).
#[doc(hidden)]
pub mod exports {
    #[cfg(feature = "dkim")]
    pub use crate::dkim;
    pub use crate::doubles::{FileMailer, RecordsMessages, SentMessage, StubFault, StubMailer};
    pub use crate::relay::{
        self, LocalRateLimiter, Outcome, Rate, RateLimiter, Relay, RelayPolicy, RelayReport,
        RelaySet,
    };
    pub use crate::{
        AuthSettings, ClientSettings, ConnectFailure, Credentials, Error, MessageSettings,
        PropertyError, Protocol, RootSource, TlsOptions, TlsSettings, TranscriptHook, Trust,
    };
    #[cfg(feature = "oauth2")]
    pub use smtpkit_oauth2 as oauth2;
    pub use smtpkit_proto::{
        Address, DeliveryReport, EnhancedStatusCode, Envelope, ErrorClass, FailureKind, Host,
        RecipientReport, RecipientStatus, Reply, ReplyCode, ReversePath, Secret, SendFailure,
        SessionError, SessionInfo, StartTlsPolicy, Timeouts, UnsentReason,
    };
}
