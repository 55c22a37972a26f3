//! SMTP commands: typed values, the client-side encoder and the server-side
//! parser (RFC 5321 §4.1 and the extensions that add parameters).
//!
//! Every value in a [`Command`] is validated when it is built, so encoding
//! cannot fail and can never put CR, LF or NUL on the wire.

use std::fmt;

use bytes::BufMut;

use crate::address::{ForwardPath, Host, ReversePath};
use crate::input::{Field, InvalidInput, Reason, check_text, reject_controls};
use crate::xtext;

fn invalid(field: Field, reason: Reason) -> InvalidInput {
    InvalidInput::new(field, reason)
}

/// A free-text argument (VRFY, EXPN, HELP, NOOP): non-empty, at most 1000
/// octets, no control characters; UTF-8 is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Argument(String);

impl Argument {
    /// Validates an argument.
    ///
    /// # Errors
    /// [`Field::Argument`] when empty, too long or containing a control.
    pub fn new(text: impl Into<String>) -> Result<Argument, InvalidInput> {
        let text = text.into();
        check_text(Field::Argument, &text, 1000)?;
        Ok(Argument(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SASL mechanism name (RFC 4422 §3.1: 1 to 20 of `A-Z 0-9 - _`),
/// upper-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mechanism(String);

impl Mechanism {
    /// Validates and upper-cases a mechanism name.
    ///
    /// # Errors
    /// [`Field::Mechanism`] when empty, longer than 20 or using other
    /// characters.
    pub fn new(name: &str) -> Result<Mechanism, InvalidInput> {
        let f = Field::Mechanism;
        check_text(f, name, 20)?;
        if let Some((position, ch)) = name
            .char_indices()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(invalid(f, Reason::InvalidCharacter { ch, position }));
        }
        Ok(Mechanism(name.to_ascii_uppercase()))
    }

    /// The upper-cased name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A SASL response already in base64 (or `=` for an empty one). The value
/// is a credential: `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct InitialResponse(String);

impl InitialResponse {
    /// Validates base64 text (`A-Z a-z 0-9 + /`, `=` padding) or `=`.
    ///
    /// # Errors
    /// [`Field::InitialResponse`] when empty or not base64. The error never
    /// echoes the value.
    pub fn new(base64: impl Into<String>) -> Result<InitialResponse, InvalidInput> {
        let text = base64.into();
        let f = Field::InitialResponse;
        if text.is_empty() {
            return Err(invalid(f, Reason::Empty));
        }
        let body = text.trim_end_matches('=');
        let padding = text.len() - body.len();
        let ok = text == "="
            || (body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
                && padding <= 2);
        if !ok {
            return Err(invalid(f, Reason::Syntax("not base64")));
        }
        Ok(InitialResponse(text))
    }

    /// The base64 text. Handle with care: it is a credential.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InitialResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InitialResponse([redacted])")
    }
}

/// `BODY=` (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BodyType {
    /// `7BIT`
    SevenBit,
    /// `8BITMIME`
    EightBitMime,
    /// `BINARYMIME` (needs BDAT)
    BinaryMime,
}

impl BodyType {
    fn as_str(self) -> &'static str {
        match self {
            BodyType::SevenBit => "7BIT",
            BodyType::EightBitMime => "8BITMIME",
            BodyType::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` (RFC 3461), `mail.smtp.dsn.ret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DsnReturn {
    /// `FULL`: return the whole message in a DSN.
    Full,
    /// `HDRS`: return only the headers.
    Headers,
}

impl std::str::FromStr for DsnReturn {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            v if v.eq_ignore_ascii_case("FULL") => Ok(DsnReturn::Full),
            v if v.eq_ignore_ascii_case("HDRS") => Ok(DsnReturn::Headers),
            _ => Err(invalid(Field::Ret, Reason::Syntax("expected FULL or HDRS"))),
        }
    }
}

/// `NOTIFY=` (RFC 3461), `mail.smtp.dsn.notify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NEVER`
    Never,
    /// Some combination of `SUCCESS`, `FAILURE` and `DELAY` (at least one).
    On {
        /// `SUCCESS`
        success: bool,
        /// `FAILURE`
        failure: bool,
        /// `DELAY`
        delay: bool,
    },
}

impl std::str::FromStr for Notify {
    type Err = InvalidInput;
    /// Parses `NEVER` or a comma-separated list of `SUCCESS`, `FAILURE`,
    /// `DELAY`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let f = Field::Notify;
        if s.trim().eq_ignore_ascii_case("NEVER") {
            return Ok(Notify::Never);
        }
        let (mut success, mut failure, mut delay) = (false, false, false);
        for word in s.split(',').map(str::trim) {
            let flag = match word.to_ascii_uppercase().as_str() {
                "SUCCESS" => &mut success,
                "FAILURE" => &mut failure,
                "DELAY" => &mut delay,
                "NEVER" => {
                    return Err(invalid(f, Reason::Syntax("NEVER cannot be combined")));
                }
                _ => {
                    return Err(invalid(
                        f,
                        Reason::Syntax("expected NEVER or SUCCESS, FAILURE, DELAY"),
                    ));
                }
            };
            if *flag {
                return Err(invalid(f, Reason::Syntax("a condition is repeated")));
            }
            *flag = true;
        }
        Ok(Notify::On {
            success,
            failure,
            delay,
        })
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Notify::Never => f.write_str("NEVER"),
            Notify::On {
                success,
                failure,
                delay,
            } => {
                let words = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")];
                let mut first = true;
                for (_, word) in words.iter().filter(|(on, _)| *on) {
                    if !first {
                        f.write_str(",")?;
                    }
                    f.write_str(word)?;
                    first = false;
                }
                Ok(())
            }
        }
    }
}

/// `ENVID=` (RFC 3461 §4.4): printable ASCII, at most 100 octets once
/// xtext-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Envid(String);

impl Envid {
    /// Validates an envelope identifier (the decoded value).
    ///
    /// # Errors
    /// [`Field::Envid`] when empty, not ASCII, with a control character or
    /// too long.
    pub fn new(value: impl Into<String>) -> Result<Envid, InvalidInput> {
        let value = value.into();
        let f = Field::Envid;
        check_text(f, &value, 100)?;
        if let Some((position, ch)) = value.char_indices().find(|(_, c)| !c.is_ascii()) {
            return Err(invalid(f, Reason::InvalidCharacter { ch, position }));
        }
        let encoded = xtext::encode(&value).len();
        if encoded > 100 {
            return Err(invalid(
                f,
                Reason::TooLong {
                    len: encoded,
                    max: 100,
                },
            ));
        }
        Ok(Envid(value))
    }

    /// The decoded value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `AUTH=` of MAIL (RFC 4954 §5), `mail.smtp.submitter`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MailAuth {
    /// `AUTH=<>`: the submitter is not known or not trusted.
    Unknown,
    /// The authenticated identity of the submitter (decoded).
    Identity(String),
}

impl MailAuth {
    /// Validates a submitter identity.
    ///
    /// # Errors
    /// [`Field::MailAuth`] when empty, with a control character or longer
    /// than 500 octets.
    pub fn identity(value: impl Into<String>) -> Result<MailAuth, InvalidInput> {
        let value = value.into();
        check_text(Field::MailAuth, &value, 500)?;
        Ok(MailAuth::Identity(value))
    }
}

/// `ORCPT=` (RFC 3461 §4.2; RFC 6533 for `utf-8`): the original recipient.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginalRecipient {
    addr_type: String,
    address: String,
}

impl OriginalRecipient {
    /// An `rfc822` original recipient; when the address is not ASCII, the
    /// `utf-8` address type (RFC 6533) is used instead.
    ///
    /// # Errors
    /// [`Field::Orcpt`] when empty, with a control character or too long.
    pub fn new(address: impl Into<String>) -> Result<OriginalRecipient, InvalidInput> {
        let address = address.into();
        let addr_type = if address.is_ascii() {
            "rfc822"
        } else {
            "utf-8"
        };
        OriginalRecipient::with_type(addr_type, address)
    }

    /// An original recipient with an explicit address type (`rfc822`,
    /// `utf-8`, …).
    ///
    /// # Errors
    /// [`Field::Orcpt`] when the type is not an atom, or the address is
    /// empty, has a control character or is longer than 500 octets encoded.
    pub fn with_type(
        addr_type: impl Into<String>,
        address: impl Into<String>,
    ) -> Result<OriginalRecipient, InvalidInput> {
        let (addr_type, address) = (addr_type.into(), address.into());
        let f = Field::Orcpt;
        check_text(f, &addr_type, 64)?;
        if !addr_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(invalid(f, Reason::Syntax("address type is not an atom")));
        }
        check_text(f, &address, 500)?;
        let recipient = OriginalRecipient { addr_type, address };
        let len = recipient.encoded().len();
        if len > 500 {
            return Err(invalid(f, Reason::TooLong { len, max: 500 }));
        }
        Ok(recipient)
    }

    /// The address type.
    pub fn addr_type(&self) -> &str {
        &self.addr_type
    }

    /// The decoded address.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn is_utf8_type(&self) -> bool {
        self.addr_type.eq_ignore_ascii_case("utf-8")
    }

    fn encoded(&self) -> String {
        let value = if self.is_utf8_type() {
            xtext::encode_utf8_addr(&self.address)
        } else {
            xtext::encode(&self.address)
        };
        format!("{};{}", self.addr_type, value)
    }
}

/// `MT-PRIORITY=` (RFC 6710): -9 to 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MtPriority(i8);

impl MtPriority {
    /// Validates a priority.
    ///
    /// # Errors
    /// [`Field::MtPriority`] outside -9..=9.
    pub fn new(priority: i8) -> Result<MtPriority, InvalidInput> {
        if (-9..=9).contains(&priority) {
            Ok(MtPriority(priority))
        } else {
            Err(invalid(Field::MtPriority, Reason::OutOfRange))
        }
    }

    /// The priority.
    pub fn get(self) -> i8 {
        self.0
    }
}

/// What the server does when a `BY=` deadline passes (RFC 2852).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByMode {
    /// `N`: deliver anyway, notify the sender.
    Notify,
    /// `R`: return the message undelivered.
    Return,
}

/// `BY=` (RFC 2852): a delivery deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliverBy {
    seconds: i32,
    mode: ByMode,
    trace: bool,
}

impl DeliverBy {
    /// A deadline `seconds` from now (at most nine digits, may be negative
    /// with [`ByMode::Notify`]).
    ///
    /// # Errors
    /// [`Field::By`] out of range, or a non-positive time with
    /// [`ByMode::Return`] (RFC 2852 §4).
    pub fn new(seconds: i32, mode: ByMode, trace: bool) -> Result<DeliverBy, InvalidInput> {
        if seconds.unsigned_abs() > 999_999_999 || (mode == ByMode::Return && seconds <= 0) {
            return Err(invalid(Field::By, Reason::OutOfRange));
        }
        Ok(DeliverBy {
            seconds,
            mode,
            trace,
        })
    }

    /// Seconds until the deadline.
    pub fn seconds(self) -> i32 {
        self.seconds
    }

    /// What happens at the deadline.
    pub fn mode(self) -> ByMode {
        self.mode
    }

    /// Whether trace (`T`) was requested.
    pub fn trace(self) -> bool {
        self.trace
    }
}

/// Any other `keyword[=value]` parameter: the typed form of
/// The MAIL parameters the session derives from the message, the
/// envelope and what the server offers.
const SESSION_MAIL_PARAMETERS: &[&str] = &[
    "SIZE",
    "BODY",
    "SMTPUTF8",
    "RET",
    "ENVID",
    "AUTH",
    "REQUIRETLS",
    "MT-PRIORITY",
    "BY",
    "PRDR",
];

/// `mail.smtp.mailextension`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EsmtpParam {
    keyword: String,
    value: Option<String>,
}

impl EsmtpParam {
    /// Validates a parameter: `keyword` is `(ALPHA / DIGIT) *(ALPHA / DIGIT
    /// / "-")`, `value` is `1*(%d33-60 / %d62-126)` or UTF-8 (RFC 6531).
    ///
    /// # Errors
    /// [`Field::ParamKeyword`] or [`Field::ParamValue`] naming the problem.
    pub fn new(keyword: &str, value: Option<&str>) -> Result<EsmtpParam, InvalidInput> {
        let f = Field::ParamKeyword;
        check_text(f, keyword, 64)?;
        if let Some((position, ch)) = keyword
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_alphanumeric() || (c == '-' && i > 0)))
        {
            return Err(invalid(f, Reason::InvalidCharacter { ch, position }));
        }
        if let Some(value) = value {
            let f = Field::ParamValue;
            check_text(f, value, 1000)?;
            if let Some((position, ch)) = value.char_indices().find(|&(_, c)| c == ' ' || c == '=')
            {
                return Err(invalid(f, Reason::InvalidCharacter { ch, position }));
            }
        }
        Ok(EsmtpParam {
            keyword: keyword.to_owned(),
            value: value.map(str::to_owned),
        })
    }

    /// Parses a space-separated list such as `mail.smtp.mailextension`'s
    /// value (`XVERP ORCPT-FOO=bar`).
    ///
    /// # Errors
    /// As [`EsmtpParam::new`], for the first bad parameter.
    pub fn parse_list(text: &str) -> Result<Vec<EsmtpParam>, InvalidInput> {
        reject_controls(Field::ParamValue, text)?;
        text.split(' ')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => EsmtpParam::new(k, Some(v)),
                None => EsmtpParam::new(p, None),
            })
            .collect()
    }

    /// The keyword as given.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// Whether the session sets this parameter itself (SIZE, BODY,
    /// SMTPUTF8, RET, ENVID, AUTH, REQUIRETLS, MT-PRIORITY, BY, PRDR): an
    /// extra parameter of that name would repeat or contradict it.
    pub fn is_set_by_the_session(&self) -> bool {
        SESSION_MAIL_PARAMETERS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&self.keyword))
    }

    /// The value, if any.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

impl fmt::Display for EsmtpParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}", self.keyword, v),
            None => f.write_str(&self.keyword),
        }
    }
}

/// The parameters of MAIL FROM. Built with [`Default`], then set field by
/// field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailParameters {
    /// `SIZE=` (RFC 1870): the message size in octets.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<BodyType>,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<DsnReturn>,
    /// `ENVID=` (RFC 3461).
    pub envid: Option<Envid>,
    /// `AUTH=` (RFC 4954).
    pub auth: Option<MailAuth>,
    /// `REQUIRETLS` (RFC 8689).
    pub requiretls: bool,
    /// `MT-PRIORITY=` (RFC 6710).
    pub mt_priority: Option<MtPriority>,
    /// `BY=` (RFC 2852).
    pub by: Option<DeliverBy>,
    /// `PRDR` (per-recipient data responses,
    /// draft-hall-prdr): one reply per recipient after the data.
    pub prdr: bool,
    /// Any other parameters, in order.
    pub extra: Vec<EsmtpParam>,
}

/// The parameters of RCPT TO. Built with [`Default`], then set field by
/// field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RcptParameters {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461).
    pub orcpt: Option<OriginalRecipient>,
    /// Any other parameters, in order.
    pub extra: Vec<EsmtpParam>,
}

/// An SMTP command.
///
/// ```
/// use smtpkit_proto::{Address, Command, MailParameters, BodyType};
///
/// let mut params = MailParameters::default();
/// params.size = Some(1024);
/// params.body = Some(BodyType::EightBitMime);
/// let mail = Command::Mail { from: Address::parse("alice@example.org")?.into(), params };
/// assert_eq!(mail.to_bytes(), b"MAIL FROM:<alice@example.org> SIZE=1024 BODY=8BITMIME\r\n");
/// // The server direction (feature `server`) reads it back.
/// assert_eq!(Command::parse(b"mail from:<alice@example.org> size=1024 body=8bitmime")?, mail);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `HELO domain`
    Helo(Host),
    /// `EHLO domain-or-literal`
    Ehlo(Host),
    /// `LHLO domain-or-literal` (LMTP, RFC 2033)
    Lhlo(Host),
    /// `MAIL FROM:<path> [params]`
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its parameters.
        params: MailParameters,
    },
    /// `RCPT TO:<path> [params]`
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its parameters.
        params: RcptParameters,
    },
    /// `DATA`
    Data,
    /// `BDAT size [LAST]` (RFC 3030)
    Bdat {
        /// Octets in this chunk.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP [argument]`
    Noop(Option<Argument>),
    /// `QUIT`
    Quit,
    /// `VRFY argument`
    Vrfy(Argument),
    /// `EXPN argument`
    Expn(Argument),
    /// `HELP [argument]`
    Help(Option<Argument>),
    /// `STARTTLS` (RFC 3207)
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954)
    Auth {
        /// The SASL mechanism.
        mechanism: Mechanism,
        /// The initial response, base64.
        initial_response: Option<InitialResponse>,
    },
}

impl Command {
    /// The verb, upper-cased.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Helo(_) => "HELO",
            Command::Ehlo(_) => "EHLO",
            Command::Lhlo(_) => "LHLO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop(_) => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }

    /// Writes the command line, CRLF included.
    pub fn encode<B: BufMut>(&self, out: &mut B) {
        struct Writer<'a, B>(&'a mut B);
        impl<B: BufMut> fmt::Write for Writer<'_, B> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.put_slice(s.as_bytes());
                Ok(())
            }
        }
        // Display for Command only formats validated values into a
        // BufMut that grows, so it cannot fail.
        let _ = fmt::write(&mut Writer(out), format_args!("{self}\r\n"));
    }

    /// The command line as a new buffer, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode(&mut out);
        out
    }

    /// The command line without CRLF, with any SASL initial response
    /// replaced by `[redacted]`: what transcripts and logs show.
    pub fn redacted(&self) -> String {
        match self {
            Command::Auth {
                mechanism,
                initial_response: Some(_),
            } => format!("AUTH {} [redacted]", mechanism.as_str()),
            _ => self.to_string(),
        }
    }
}

/// The wire form without CRLF. Includes SASL initial responses: use
/// [`Command::redacted`] for anything a person may read.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Helo(host) => write!(f, "HELO {host}"),
            Command::Ehlo(host) => write!(f, "EHLO {host}"),
            Command::Lhlo(host) => write!(f, "LHLO {host}"),
            Command::Mail { from, params } => {
                write!(f, "MAIL FROM:{from}")?;
                if let Some(size) = params.size {
                    write!(f, " SIZE={size}")?;
                }
                if let Some(body) = params.body {
                    write!(f, " BODY={}", body.as_str())?;
                }
                if params.smtputf8 {
                    f.write_str(" SMTPUTF8")?;
                }
                match params.ret {
                    Some(DsnReturn::Full) => f.write_str(" RET=FULL")?,
                    Some(DsnReturn::Headers) => f.write_str(" RET=HDRS")?,
                    None => {}
                }
                if let Some(envid) = &params.envid {
                    write!(f, " ENVID={}", xtext::encode(envid.as_str()))?;
                }
                match &params.auth {
                    Some(MailAuth::Unknown) => f.write_str(" AUTH=<>")?,
                    Some(MailAuth::Identity(id)) => write!(f, " AUTH={}", xtext::encode(id))?,
                    None => {}
                }
                if params.requiretls {
                    f.write_str(" REQUIRETLS")?;
                }
                if let Some(p) = params.mt_priority {
                    write!(f, " MT-PRIORITY={}", p.get())?;
                }
                if let Some(by) = params.by {
                    let mode = match by.mode {
                        ByMode::Notify => 'N',
                        ByMode::Return => 'R',
                    };
                    let trace = if by.trace { "T" } else { "" };
                    write!(f, " BY={};{mode}{trace}", by.seconds)?;
                }
                if params.prdr {
                    f.write_str(" PRDR")?;
                }
                params.extra.iter().try_for_each(|p| write!(f, " {p}"))
            }
            Command::Rcpt { to, params } => {
                write!(f, "RCPT TO:{to}")?;
                if let Some(notify) = params.notify {
                    write!(f, " NOTIFY={notify}")?;
                }
                if let Some(orcpt) = &params.orcpt {
                    write!(f, " ORCPT={}", orcpt.encoded())?;
                }
                params.extra.iter().try_for_each(|p| write!(f, " {p}"))
            }
            Command::Data => f.write_str("DATA"),
            Command::Bdat { size, last: true } => write!(f, "BDAT {size} LAST"),
            Command::Bdat { size, last: false } => write!(f, "BDAT {size}"),
            Command::Rset => f.write_str("RSET"),
            Command::Noop(None) => f.write_str("NOOP"),
            Command::Noop(Some(a)) => write!(f, "NOOP {}", a.as_str()),
            Command::Quit => f.write_str("QUIT"),
            Command::Vrfy(a) => write!(f, "VRFY {}", a.as_str()),
            Command::Expn(a) => write!(f, "EXPN {}", a.as_str()),
            Command::Help(None) => f.write_str("HELP"),
            Command::Help(Some(a)) => write!(f, "HELP {}", a.as_str()),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                write!(f, "AUTH {}", mechanism.as_str())?;
                match initial_response {
                    Some(r) => write!(f, " {}", r.expose()),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(feature = "server")]
mod parse;
#[cfg(feature = "server")]
pub use parse::CommandError;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;

    #[test]
    fn wire_forms() {
        let rcpt = Command::Rcpt {
            to: Address::parse("用户@例子.广告").unwrap().into(),
            params: RcptParameters {
                notify: Some("FAILURE,DELAY".parse().unwrap()),
                orcpt: Some(OriginalRecipient::new("用户@例子.广告").unwrap()),
                extra: vec![],
            },
        };
        assert_eq!(
            String::from_utf8(rcpt.to_bytes()).unwrap(),
            "RCPT TO:<用户@例子.广告> NOTIFY=FAILURE,DELAY \
ORCPT=utf-8;\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}\r\n"
        );
        let auth = Command::Auth {
            mechanism: Mechanism::new("PLAIN").unwrap(),
            initial_response: Some(InitialResponse::new("c2VjcmV0").unwrap()),
        };
        assert_eq!(auth.redacted(), "AUTH PLAIN [redacted]");
        assert!(!format!("{auth:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn values_with_line_breaks_are_refused_when_built() {
        for (result, field) in [
            (Argument::new("a\r\nQUIT").map(|_| ()), Field::Argument),
            (Envid::new("id\n").map(|_| ()), Field::Envid),
            (MailAuth::identity("x\0").map(|_| ()), Field::MailAuth),
            (OriginalRecipient::new("a@b\r").map(|_| ()), Field::Orcpt),
            (
                EsmtpParam::new("X", Some("a\rb")).map(|_| ()),
                Field::ParamValue,
            ),
            (
                EsmtpParam::parse_list("XVERP\r\nRSET").map(|_| ()),
                Field::ParamValue,
            ),
            (Mechanism::new("PLAIN\n").map(|_| ()), Field::Mechanism),
            (
                InitialResponse::new("AAAA\r\n").map(|_| ()),
                Field::InitialResponse,
            ),
        ] {
            assert_eq!(result.unwrap_err().field, field);
        }
    }

    #[test]
    fn notify_and_ret_properties() {
        assert_eq!("NEVER".parse::<Notify>().unwrap(), Notify::Never);
        assert_eq!(
            "SUCCESS,FAILURE".parse::<Notify>().unwrap().to_string(),
            "SUCCESS,FAILURE"
        );
        assert!("NEVER,SUCCESS".parse::<Notify>().is_err());
        assert!("SOMETIMES".parse::<Notify>().is_err());
        assert!("".parse::<Notify>().is_err());
        assert_eq!("hdrs".parse::<DsnReturn>().unwrap(), DsnReturn::Headers);
        assert!("ALL".parse::<DsnReturn>().is_err());
    }
}
