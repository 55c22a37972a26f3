//! # smtp-proto: the sans-IO SMTP client session and its codec
//!
//! [`Session`] is an SMTP client connection without the connection: a
//! state machine in the style of quinn-proto and rustls that never
//! touches a socket, never reads a clock and never blocks. Its caller (the
//! blocking and async clients of this workspace, through smtp-client's
//! `Driver`, or a test driving it by hand) moves the bytes and the time:
//!
//! - inputs: [`handle_input`](Session::handle_input) (bytes read from the
//!   server), [`handle_eof`](Session::handle_eof) (the server closed) and
//!   [`handle_timeout`](Session::handle_timeout) (a deadline passed);
//! - requests: [`send`](Session::send) queues a message (an [`Envelope`]
//!   and a [`BodyInfo`]) and returns its [`MessageId`];
//!   [`push_body`](Session::push_body) supplies its content, chunk by
//!   chunk; [`quit`](Session::quit), [`check_liveness`](Session::check_liveness),
//!   [`reset`](Session::reset), [`abort_body`](Session::abort_body);
//! - outputs, drained after every input or request:
//!   [`poll_transmit`](Session::poll_transmit) (what to write, one flight
//!   at a time; ciphertext once TLS is up), [`poll_event`](Session::poll_event)
//!   (an [`Event`]: ready, each message's outcome, closed),
//!   [`body_request`](Session::body_request) (whose body is wanted and how
//!   much: backpressure) and [`poll_timeout`](Session::poll_timeout) (when
//!   to call `handle_timeout` if nothing arrives first).
//!
//! Every protocol decision is the session's: EHLO and the HELO fallback,
//! STARTTLS and implicit TLS (through a [`TlsConnector`]), AUTH (through an
//! [`Authenticator`]), PIPELINING, CHUNKING, SIZE, 8BITMIME, SMTPUTF8,
//! DSN, REQUIRETLS, LIMITS. Its behaviour is a [`SessionConfig`]. Every
//! queued message ends in exactly one [`Event::Message`]: a
//! [`DeliveryReport`] with each recipient's outcome and, when the message
//! failed as a whole, why ([`DeliveryReport::failure`]).
//! [`DeliveryReport::into_result`] gives JavaMail's all-or-nothing view.
//! Feature `serde`: `Serialize` on reports, outcomes, replies and
//! addresses.
//!
//! ## Example: a session driven by hand
//!
//! ```
//! use std::time::Instant;
//! use smtpkit_proto::{Address, BodyInfo, Envelope, Event, Host, Session, SessionConfig};
//!
//! let config = SessionConfig::new(Host::parse("client.example")?, "mx.example");
//! let now = Instant::now();
//! let mut session = Session::new(config.into(), now);
//!
//! // A message can be queued at once; it is written when the server is ready.
//! let body = b"Subject: hi\r\n\r\nhello\r\n";
//! let from = Address::parse("a@client.example")?;
//! let to = Address::parse("b@mx.example")?;
//! let id = session.send(Envelope::new(from, [to]), BodyInfo::of_bytes(body))?;
//! // The greeting has a deadline: `handle_timeout` is due at this instant.
//! assert!(session.poll_timeout().is_some());
//!
//! // What the server says goes in; what to write comes out. A real caller
//! // reads and writes a socket here.
//! session.handle_input(now, b"220 mx.example ESMTP\r\n");
//! assert_eq!(session.poll_transmit(now).unwrap(), b"EHLO client.example\r\n");
//! session.handle_input(now, b"250-mx.example\r\n250 PIPELINING\r\n");
//! assert_eq!(
//!     session.poll_transmit(now).unwrap(),
//!     b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n"
//! );
//!
//! // After the 354 the session asks for the body, at most `max_len` at a time.
//! session.handle_input(now, b"250 ok\r\n250 ok\r\n354 go ahead\r\n");
//! let request = session.body_request().unwrap();
//! assert_eq!(request.id, id);
//! session.push_body(id, body, true)?;
//! assert_eq!(session.poll_transmit(now).unwrap(), b"Subject: hi\r\n\r\nhello\r\n.\r\n");
//! session.handle_input(now, b"250 2.0.0 queued as 42\r\n");
//!
//! // Outcomes are events.
//! let mut delivered = false;
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         Event::Ready { extensions, .. } => assert!(extensions.is_some()),
//!         Event::Message { id: done, report } => {
//!             assert_eq!(done, id);
//!             delivered = report.all_delivered();
//!         }
//!         _ => {}
//!     }
//! }
//! assert!(delivered);
//!
//! // QUIT, the 221, the end of the stream: an orderly close.
//! session.quit();
//! assert_eq!(session.poll_transmit(now).unwrap(), b"QUIT\r\n");
//! session.handle_input(now, b"221 2.0.0 bye\r\n");
//! session.handle_eof(now);
//! assert!(std::iter::from_fn(|| session.poll_event()).any(|e| e == Event::Closed(None)));
//! assert!(session.is_closed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The codec
//!
//! The session is built from parts that are useful on their own. Parsers
//! never guess: input split at any byte yields the same result, a partial
//! line is reported as incomplete, and every buffer has a limit.
//!
//! - [`ReplyDecoder`]: incremental, bounded decoding of server replies
//!   (RFC 5321 §4.2), with enhanced status codes (RFC 3463).
//! - [`EhloResponse`] and [`Extension`]: the capabilities an EHLO reply
//!   advertises.
//! - [`Command`]: every command a client sends, typed, and its encoder.
//!   [`Address`], [`Domain`], [`Host`] and the parameter types are
//!   validated when built, so nothing can put CR, LF or NUL on the wire.
//! - [`xtext`]: the encodings of DSN and AUTH parameters.
//! - [`DataEncoder`], [`BdatChunker`], [`BodyInspector`]: message bodies,
//!   streamed in chunks of any size.
//! - [`proxy`]: the SOCKS5 and HTTP CONNECT handshakes, sans IO.
//! - [`TlsLayer`] / [`TlsConnector`] and [`SaslMechanism`] /
//!   [`Authenticator`]: the traits smtp-tls and smtp-auth implement.
//!
//! ```
//! use smtpkit_proto::{Address, Command, DataEncoder, MailParameters, ReplyDecoder};
//!
//! // What a client writes: MAIL with parameters…
//! let mut params = MailParameters::default();
//! params.size = Some(1024);
//! let mail = Command::Mail { from: Address::parse("alice@example.org")?.into(), params };
//! assert_eq!(mail.to_bytes(), b"MAIL FROM:<alice@example.org> SIZE=1024\r\n");
//!
//! // …the server's replies, arriving in arbitrary pieces…
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
//! // …and the body, streamed: normalised to CRLF, dot-stuffed, terminated.
//! let mut body = Vec::new();
//! let mut encoder = DataEncoder::new();
//! encoder.push(b"Subject: test\n\n.leading dot\n", &mut body);
//! encoder.finish(&mut body);
//! assert_eq!(body, b"Subject: test\r\n\r\n..leading dot\r\n.\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tracing` | on | `tracing` debug events: the transcript (secrets redacted) under the target `smtpkit_proto::transcript`, and why a session failed under `smtpkit_proto::session`. Without it the log calls compile to nothing. |
//! | `server` | off | the server direction, for test servers and fuzzing: `Command::parse` and `CommandError`, `DataDecoder` and `DataProgress` (the DATA end and dot-unstuffing), the `server` module (command-line framing). smtp-testkit enables it; a client never needs it. |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The README's example, compiled with the doctests so that it stays right.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod address;
mod body;
mod command;
mod config;
mod display;
mod ehlo;
mod envelope;
mod input;
mod line;
mod log;
pub mod proxy;
mod reply;
mod sasl;
mod secret;
#[cfg(feature = "serde")]
mod serde_impls;
#[cfg(feature = "server")]
pub mod server;
mod session;
mod tls;
pub mod xtext;

pub use address::{
    Address, AddressLiteral, Domain, ForwardPath, Host, MAX_DOMAIN_LEN, MAX_LOCAL_PART_LEN,
    MAX_PATH_LEN, ReversePath,
};
pub use body::{
    BdatChunker, BodyInspector, BodyPiece, BodyReport, CrlfNormalizer, DataEncoder, InspectedBody,
};
#[cfg(feature = "server")]
pub use body::{DataDecoder, DataProgress};
#[cfg(feature = "server")]
pub use command::CommandError;
pub use command::{
    Argument, BodyType, ByMode, Command, DeliverBy, DsnReturn, Envid, EsmtpParam, InitialResponse,
    MailAuth, MailParameters, Mechanism, MtPriority, Notify, OriginalRecipient, RcptParameters,
};
pub use config::{SessionConfig, SessionOptions, StartTlsPolicy, Timeouts, default_ehlo_name};
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
pub use sasl::{AuthError, Authenticator, BearerError, SaslError, SaslMechanism, SelectError};
pub use secret::Secret;
pub use session::{
    BodyRequest, Direction, ErrorClass, Event, Session, SessionError, SessionInfo, TranscriptEntry,
    UsageError,
};
pub use tls::{
    CertificateSummary, ChannelBinding, ChannelBindingType, TlsConnector, TlsError, TlsErrorKind,
    TlsInfo, TlsLayer,
};
