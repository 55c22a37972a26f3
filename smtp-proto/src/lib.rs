//! # smtp-proto: the sans-IO SMTP codec
//!
//! Pure parsing and encoding for SMTP, with no sockets, clocks or runtime:
//! bytes in, values and bytes out. Every other crate of the workspace (the
//! blocking, tokio and smol clients, the test server, the command line)
//! makes its protocol decisions through this one.
//!
//! - [`ReplyDecoder`]: incremental, bounded decoding of server replies
//!   (RFC 5321 §4.2), with enhanced status codes (RFC 3463).
//! - [`EhloResponse`] and [`Extension`]: the capabilities an EHLO reply
//!   advertises.
//! - [`Command`]: every command a client sends, typed; its encoder and the
//!   server-side parser. [`Address`], [`Domain`], [`Host`] and the
//!   parameter types are validated when built, so nothing can put CR, LF or
//!   NUL on the wire.
//! - [`xtext`]: the encodings of DSN and AUTH parameters.
//! - [`DataEncoder`], [`BdatChunker`], [`BodyInspector`], [`DataDecoder`]:
//!   message bodies, streamed in chunks of any size.
//!
//! Parsers never guess: input split at any byte yields the same result, a
//! partial line is reported as incomplete, and every buffer has a limit.
//!
//! ## Example: one transaction's bytes, both directions
//!
//! ```
//! use smtp_proto::{
//!     Address, Command, DataEncoder, Decoded, MailParameters, ReplyDecoder,
//!     RcptParameters,
//! };
//!
//! // What a client writes: MAIL, RCPT and DATA in one pipelined flight…
//! let mut flight = Vec::new();
//! Command::Mail {
//!     from: Address::parse("alice@example.org")?.into(),
//!     params: MailParameters::default(),
//! }
//! .encode(&mut flight);
//! Command::Rcpt {
//!     to: Address::parse("bob@example.net")?.into(),
//!     params: RcptParameters::default(),
//! }
//! .encode(&mut flight);
//! Command::Data.encode(&mut flight);
//! assert_eq!(
//!     flight,
//!     b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nDATA\r\n"
//! );
//!
//! // …and the server's three replies, arriving in arbitrary pieces.
//! let mut decoder = ReplyDecoder::default();
//! let mut buffer = bytes::BytesMut::new();
//! let mut codes = Vec::new();
//! for piece in [&b"250 2.1.0 Ok\r\n25"[..], b"0 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"] {
//!     buffer.extend_from_slice(piece);
//!     while let Some(reply) = decoder.decode_buf(&mut buffer)? {
//!         codes.push(reply.code().get());
//!     }
//! }
//! assert_eq!(codes, [250, 250, 354]);
//!
//! // The body, streamed: normalised to CRLF, dot-stuffed, terminated.
//! let mut body = Vec::new();
//! let mut encoder = DataEncoder::new();
//! encoder.push(b"Subject: test\n\n.leading dot\n", &mut body);
//! encoder.finish(&mut body);
//! assert_eq!(body, b"Subject: test\r\n\r\n..leading dot\r\n.\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod address;
mod body;
mod command;
mod config;
mod display;
mod ehlo;
mod envelope;
mod input;
mod line;
pub mod proxy;
mod reply;
mod sasl;
mod secret;
pub mod server;
mod session;
mod tls;
pub mod xtext;

#[doc(hidden)]
pub mod fuzz_harness;

pub use address::{
    Address, AddressLiteral, Domain, ForwardPath, Host, MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN,
    MAX_PATH_LEN, ReversePath,
};
pub use body::{BdatChunker, BodyInspector, BodyReport, DataDecoder, DataEncoder, DataProgress};
pub use command::{
    Argument, BodyType, ByMode, Command, CommandError, DeliverBy, DsnReturn, Envid, EsmtpParam,
    InitialResponse, MailAuth, MailParameters, Mechanism, MtPriority, Notify, OriginalRecipient,
    RcptParameters,
};
pub use config::{SessionConfig, StartTlsPolicy, Timeouts, default_ehlo_name};
pub use display::escape_text;
pub use ehlo::{EhloError, EhloResponse, Extension, Limits};
pub use envelope::{
    BodyInfo, DeliveryReport, Envelope, FailureKind, MessageId, Recipient, RecipientReport,
    RecipientStatus, SendFailure, UnsentReason,
};
pub use input::{Field, InvalidInput, Reason};
pub use reply::{
    Decoded, EnhancedStatusCode, Reply, ReplyCode, ReplyDecoder, ReplyError, ReplyLimits,
};
pub use sasl::{AuthError, Authenticator, SaslError, SaslMechanism, SelectError};
pub use secret::Secret;
pub use session::{
    BodyRequest, Direction, Event, Session, SessionError, SessionInfo, TranscriptEntry, UsageError,
};
pub use tls::{TlsConnector, TlsError, TlsErrorKind, TlsInfo, TlsLayer};
