//! # smtp-client: the one SMTP client driver, for every runtime
//!
//! Everything a client decides around `smtp-proto`'s sans-IO
//! [`Session`](smtpkit_proto::Session) lives here once: the typed
//! [`ClientSettings`] and JavaMail's `mail.smtp.*` properties, the SASL
//! chooser they configure, where to connect and what to bind
//! ([`ConnectPlan`]), and the [`Driver`], which owns the session, the
//! message bodies' bookkeeping, the proxy handshake, the write buffer and
//! the results, and tells an I/O loop what to do next. `smtp-blocking` and
//! `smtp-async` (and through it tokio and smol) are such loops.
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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connect;
pub mod doubles;
mod driver;
mod error;
pub mod message;
pub mod pool;
pub mod settings;

pub use connect::{ConnectPlan, ehlo_name, finite, io_timeouts};
pub use driver::{Action, BODY_READ_MAX, BodyPlan, Driver, IoTimeouts};
pub use error::{Error, TranscriptHook, timed_out};
pub use pool::{PoolConfig, Reuse};
pub use settings::{
    AuthSettings, ClientSettings, KEYS, Key, PropertyError, Protocol, ProxyKind, ProxySettings,
    SessionOptions, TlsOptions,
};
