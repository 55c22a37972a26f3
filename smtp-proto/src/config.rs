//! Session configuration: every protocol decision the client makes is
//! driven by these values, whichever adapter runs the session.

use std::sync::Arc;
use std::time::Duration;

use crate::address::{Domain, Host};
use crate::command::{DsnReturn, EsmtpParam, MailAuth, Notify};
use crate::reply::ReplyLimits;
use crate::sasl::Authenticator;
use crate::tls::TlsConnector;

/// When to use STARTTLS (`mail.smtp.starttls.enable` /
/// `mail.smtp.starttls.required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartTlsPolicy {
    /// Never upgrade.
    #[default]
    Never,
    /// Upgrade when the server offers STARTTLS; continue in plaintext only
    /// when it does not offer it. Offered and then refused, or a failed
    /// handshake, ends the session: never a silent fallback.
    Opportunistic,
    /// Upgrade or fail before anything but EHLO/STARTTLS/QUIT is sent.
    Required,
}

/// Reply deadlines per phase. Defaults are RFC 5321 §4.5.3.2's;
/// `mail.smtp.timeout` sets them all. Built with [`Default`] or
/// [`uniform`](Timeouts::uniform), then changed field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// The 220 greeting: 5 minutes.
    pub greeting: Duration,
    /// EHLO, HELO, STARTTLS, AUTH, the TLS handshake, RSET, NOOP: 5 minutes.
    pub command: Duration,
    /// MAIL: 5 minutes.
    pub mail: Duration,
    /// RCPT: 5 minutes.
    pub rcpt: Duration,
    /// DATA (the 354): 2 minutes.
    pub data_init: Duration,
    /// The reply after end of data, and to each BDAT: 10 minutes.
    pub data_term: Duration,
    /// The reply to QUIT (when `quit_wait`): 10 seconds. Everything was
    /// reported before QUIT, so a server that never answers it only costs
    /// this much, and never delays a report.
    pub quit: Duration,
}

/// The longest wait for the reply to QUIT.
const QUIT_WAIT: Duration = Duration::from_secs(10);

impl Default for Timeouts {
    fn default() -> Self {
        let five = Duration::from_secs(300);
        Timeouts {
            greeting: five,
            command: five,
            mail: five,
            rcpt: five,
            data_init: Duration::from_secs(120),
            data_term: Duration::from_secs(600),
            quit: QUIT_WAIT,
        }
    }
}

impl Timeouts {
    /// The same deadline for every phase (`mail.smtp.timeout`), QUIT's at
    /// most 10 seconds.
    pub fn uniform(timeout: Duration) -> Self {
        Timeouts {
            greeting: timeout,
            command: timeout,
            mail: timeout,
            rcpt: timeout,
            data_init: timeout,
            data_term: timeout,
            quit: timeout.min(QUIT_WAIT),
        }
    }
}

/// How a session behaves: the switches that are the session's alone (the
/// `mail.smtp.*` properties of the same names). Defaults are JavaMail's
/// where they are sound, with PIPELINING and BDAT used when offered and
/// RFC 5321 deadlines. `smtp-client`'s `ClientSettings::session` is this
/// struct, so a new option is written once.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionOptions {
    /// `mail.smtp.ehlo`: false sends HELO only.
    pub use_ehlo: bool,
    /// Ask for per-recipient data replies (`MAIL … PRDR`) when the server
    /// offers PRDR and the transaction has several recipients: a recipient
    /// one refuses after the data is refused alone, with its own reply
    /// (default true; JavaMail has no PRDR).
    pub prdr: bool,
    /// Use PIPELINING when offered (RFC 2920).
    pub pipelining: bool,
    /// Use BDAT when CHUNKING is offered (RFC 3030; `mail.smtp.chunksize`
    /// of 0 or less turns it off).
    pub chunking: bool,
    /// BDAT chunk size in octets (`mail.smtp.chunksize`).
    pub chunk_size: usize,
    /// `mail.smtp.chunking.pipelinefirst`: write a transaction's first
    /// BDAT chunk in the same flight as MAIL and RCPT, before their
    /// replies (default false).
    ///
    /// By default no message octet reaches the server before it has
    /// accepted the transaction (MAIL answered 250 and at least one RCPT
    /// answered 250), as with DATA, whose body waits for the 354. RFC 3030
    /// requires a server to read and discard a chunk whose transaction
    /// failed, but some do not: Dovecot's submission service (2.3.19)
    /// answers `530 Authentication required` to MAIL, RCPT and BDAT before
    /// AUTH and then reads the chunk's lines as commands, and go-smtp's
    /// server does the same after a refused MAIL. Whoever controls a
    /// message's content could then run `MAIL FROM:`/`RCPT TO:`/`DATA`
    /// lines placed in it. Waiting costs nothing on a reused connection
    /// (the next message's MAIL and RCPT still ride with the previous
    /// message's last chunk: one round trip per message, as with DATA),
    /// and one round trip on a message's first transaction. Turn this on
    /// only for servers known to discard chunk data correctly (Postfix,
    /// Exim); LMTP and PRDR transactions follow the same rule. Even then
    /// only a bounded prefix of the body (64 KiB) is written before the
    /// RCPT replies are in.
    pub pipeline_first_chunk: bool,
    /// `mail.smtp.sendpartial`.
    pub send_partial: bool,
    /// `mail.smtp.dsn.notify`, used for recipients without their own.
    pub dsn_notify: Option<Notify>,
    /// `mail.smtp.dsn.ret`.
    pub dsn_ret: Option<DsnReturn>,
    /// `mail.smtp.submitter`: the `AUTH=` parameter of MAIL.
    pub submitter: Option<MailAuth>,
    /// `mail.smtp.mailextension`: appended to every MAIL command.
    pub mail_extension: Vec<EsmtpParam>,
    /// `mail.smtp.quitwait`: wait for the reply to QUIT.
    pub quit_wait: bool,
    /// `mail.smtp.quitonsessionreject`: send QUIT after a refused greeting.
    pub quit_on_session_reject: bool,
    /// `mail.smtp.userset`: the liveness check sends RSET, not NOOP.
    pub use_rset_for_liveness: bool,
    /// `mail.smtp.noop.strict`: only 250 to the liveness check counts.
    pub noop_strict: bool,
    /// Reply deadlines (`mail.smtp.timeout` sets them all).
    pub timeouts: Timeouts,
    /// Bounds on server replies.
    pub reply_limits: ReplyLimits,
    /// Emit [`Event::Transcript`](crate::Event::Transcript) entries (a
    /// client's transcript hook turns this on).
    pub transcript: bool,
    /// Most octets the session buffers for sending before it stops taking
    /// body data (backpressure).
    pub max_buffered: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            use_ehlo: true,
            prdr: true,
            pipelining: true,
            chunking: true,
            chunk_size: 1 << 20,
            pipeline_first_chunk: false,
            send_partial: false,
            dsn_notify: None,
            dsn_ret: None,
            submitter: None,
            mail_extension: Vec::new(),
            quit_wait: true,
            quit_on_session_reject: false,
            use_rset_for_liveness: false,
            noop_strict: true,
            timeouts: Timeouts::default(),
            reply_limits: ReplyLimits::default(),
            transcript: false,
            max_buffered: 256 * 1024,
        }
    }
}

/// How a session behaves. Cheap to clone; share one per pool. Built with
/// [`new`](SessionConfig::new), then changed field by field.
#[derive(Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The EHLO/HELO argument (`mail.smtp.localhost`); see
    /// [`default_ehlo_name`].
    pub local_name: Host,
    /// The server's host name, for TLS verification and SNI.
    pub server_name: String,
    /// LMTP (RFC 2033): LHLO instead of EHLO (no HELO fallback), and one
    /// reply per accepted recipient after the data, each deciding that
    /// recipient's outcome.
    pub lmtp: bool,
    /// STARTTLS policy.
    pub starttls: StartTlsPolicy,
    /// Implicit TLS from the first byte (`mail.smtp.ssl.enable`, smtps).
    pub implicit_tls: bool,
    /// Makes the TLS layer for STARTTLS and implicit TLS.
    pub tls: Option<Arc<dyn TlsConnector>>,
    /// Authentication (`mail.smtp.auth`): chooses and runs a SASL mechanism
    /// after TLS, before MAIL.
    pub authenticator: Option<Arc<dyn Authenticator>>,
    /// Everything else: the session's own switches.
    pub options: SessionOptions,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("local_name", &self.local_name)
            .field("server_name", &self.server_name)
            .field("lmtp", &self.lmtp)
            .field("starttls", &self.starttls)
            .field("implicit_tls", &self.implicit_tls)
            .field("tls", &self.tls.is_some())
            .field("authenticator", &self.authenticator.is_some())
            .field("options", &self.options)
            .finish()
    }
}

impl SessionConfig {
    /// No TLS, no authentication, and the default [`SessionOptions`].
    pub fn new(local_name: Host, server_name: impl Into<String>) -> Self {
        SessionConfig {
            local_name,
            server_name: server_name.into(),
            lmtp: false,
            starttls: StartTlsPolicy::Never,
            implicit_tls: false,
            tls: None,
            authenticator: None,
            options: SessionOptions::default(),
        }
    }
}

/// The default EHLO argument: the local host name when it is a valid
/// domain (JavaMail's `InetAddress.getLocalHost().getHostName()`), else an
/// address literal of the local socket address (RFC 5321 §4.1.4), else
/// `[127.0.0.1]`.
///
/// ```
/// use smtpkit_proto::default_ehlo_name;
/// use std::net::IpAddr;
///
/// let ip: IpAddr = "192.0.2.7".parse().unwrap();
/// assert_eq!(default_ehlo_name(Some("mail.example.org"), Some(ip)).to_string(), "mail.example.org");
/// assert_eq!(default_ehlo_name(Some("my_laptop"), Some(ip)).to_string(), "[192.0.2.7]");
/// assert_eq!(default_ehlo_name(None, None).to_string(), "[127.0.0.1]");
/// ```
pub fn default_ehlo_name(host_name: Option<&str>, local_addr: Option<std::net::IpAddr>) -> Host {
    if let Some(domain) = host_name.and_then(|n| Domain::parse(n).ok()) {
        return Host::Domain(domain);
    }
    let ip = local_addr.unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    Host::from(ip)
}
