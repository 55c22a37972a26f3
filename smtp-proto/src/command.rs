//! SMTP commands: typed values, the client-side encoder and the server-side
//! parser (RFC 5321 §4.1 and the extensions that add parameters).
//!
//! Every value in a [`Command`] is validated when it is built, so encoding
//! cannot fail and can never put CR, LF or NUL on the wire.

use std::fmt;

use bytes::BufMut;

use crate::address::{Address, ForwardPath, Host, ReversePath};
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

/// The parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Any other parameters, in order.
    pub extra: Vec<EsmtpParam>,
}

/// The parameters of RCPT TO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
/// use smtp_proto::{Address, Command, MailParameters, BodyType};
///
/// let mail = Command::Mail {
///     from: Address::parse("alice@example.org")?.into(),
///     params: MailParameters { size: Some(1024), body: Some(BodyType::EightBitMime), ..Default::default() },
/// };
/// assert_eq!(mail.to_bytes(), b"MAIL FROM:<alice@example.org> SIZE=1024 BODY=8BITMIME\r\n");
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

/// Why a command line could not be parsed (server direction). The server
/// answers it with a 500/501/555 reply and reads the next line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The verb is not one this crate knows (reply 500).
    #[error("unrecognised command {verb:?}")]
    UnknownCommand {
        /// The verb as sent (at most 16 characters).
        verb: String,
    },
    /// The line is not UTF-8.
    #[error("command line is not UTF-8")]
    NotUtf8,
    /// The verb is known but its syntax is wrong (reply 501).
    #[error("syntax error in {verb}: {what}")]
    Syntax {
        /// The command.
        verb: &'static str,
        /// What was wrong.
        what: &'static str,
    },
    /// A parameter keyword is repeated or unknown where only known ones may
    /// appear, or a value is wrong (reply 555).
    #[error("bad parameter {keyword:?} in {verb}: {what}")]
    Parameter {
        /// The command.
        verb: &'static str,
        /// The parameter keyword.
        keyword: String,
        /// What was wrong.
        what: &'static str,
    },
    /// A value failed validation.
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
}

impl Command {
    /// Parses one command line (without its CRLF), as a server does. Verbs
    /// and keywords are case-insensitive; a space after `FROM:`/`TO:` and
    /// source routes (`<@a,@b:user@c>`) are accepted and ignored, as RFC
    /// 5321 asks of servers.
    ///
    /// # Errors
    /// A [`CommandError`] saying what is wrong.
    pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
        let line = std::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
        reject_controls(Field::Argument, line)?;
        let (verb, rest) = match line.split_once(' ') {
            Some((v, r)) => (v, Some(r)),
            None => (line, None),
        };
        let syntax = |verb: &'static str, what: &'static str| CommandError::Syntax { verb, what };
        let no_args = |verb: &'static str, command: Command| match rest {
            None => Ok(command),
            Some(_) => Err(syntax(verb, "takes no argument")),
        };
        let argument = |verb: &'static str| match rest {
            Some(r) if !r.is_empty() => Ok(Argument::new(r)?),
            _ => Err(syntax(verb, "argument required")),
        };
        let optional = || {
            rest.filter(|r| !r.is_empty())
                .map(Argument::new)
                .transpose()
        };
        match verb.to_ascii_uppercase().as_str() {
            "HELO" => Ok(Command::Helo(Host::parse(
                rest.ok_or(syntax("HELO", "domain required"))?,
            )?)),
            "EHLO" => Ok(Command::Ehlo(Host::parse(
                rest.ok_or(syntax("EHLO", "domain required"))?,
            )?)),
            "MAIL" => parse_mail(rest.unwrap_or_default()),
            "RCPT" => parse_rcpt(rest.unwrap_or_default()),
            "DATA" => no_args("DATA", Command::Data),
            "BDAT" => parse_bdat(rest.unwrap_or_default()),
            "RSET" => no_args("RSET", Command::Rset),
            "NOOP" => Ok(Command::Noop(optional()?)),
            "QUIT" => no_args("QUIT", Command::Quit),
            "VRFY" => Ok(Command::Vrfy(argument("VRFY")?)),
            "EXPN" => Ok(Command::Expn(argument("EXPN")?)),
            "HELP" => Ok(Command::Help(optional()?)),
            "STARTTLS" => no_args("STARTTLS", Command::StartTls),
            "AUTH" => {
                let mut words = rest.unwrap_or_default().split(' ');
                let mechanism = match words.next() {
                    Some(m) if !m.is_empty() => Mechanism::new(m)?,
                    _ => return Err(syntax("AUTH", "mechanism required")),
                };
                let initial_response = words.next().map(InitialResponse::new).transpose()?;
                if words.next().is_some() {
                    return Err(syntax("AUTH", "too many arguments"));
                }
                Ok(Command::Auth {
                    mechanism,
                    initial_response,
                })
            }
            _ => Err(CommandError::UnknownCommand {
                verb: verb.chars().take(16).collect(),
            }),
        }
    }
}

fn parse_bdat(rest: &str) -> Result<Command, CommandError> {
    use nom::Parser;
    use nom::bytes::complete::tag_no_case;
    use nom::character::complete::{char, digit1};
    use nom::combinator::{all_consuming, map_res, opt};

    let size = map_res(digit1::<_, nom::error::Error<&str>>, str::parse::<u64>);
    let last = opt((char(' '), tag_no_case("LAST")));
    all_consuming((size, last))
        .parse(rest)
        .map(|(_, (size, last))| Command::Bdat {
            size,
            last: last.is_some(),
        })
        .map_err(|_| CommandError::Syntax {
            verb: "BDAT",
            what: "expected BDAT <size> [LAST]",
        })
}

/// Splits `FROM:<path> params` into the path's inside and the parameters.
fn split_path<'a>(
    verb: &'static str,
    prefix: &'static str,
    rest: &'a str,
) -> Result<(&'a str, &'a str), CommandError> {
    use nom::Parser;
    use nom::bytes::complete::{tag_no_case, take_while};
    use nom::character::complete::char;

    let syntax = |what| CommandError::Syntax { verb, what };
    let (after, _) = (
        tag_no_case::<_, _, nom::error::Error<&str>>(prefix),
        take_while(|c| c == ' '),
        char('<'),
    )
        .parse(rest)
        .map_err(|_| syntax("expected FROM:<path> or TO:<path>"))?;
    let end = path_end(after).ok_or(syntax("unterminated <path>"))?;
    let mut path = &after[..end];
    let params = &after[end + 1..];
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(syntax("expected a space after the path"));
    }
    // A-d-l ":" (a source route) is accepted and ignored.
    if path.starts_with('@') {
        path = path
            .split_once(':')
            .map(|(_, p)| p)
            .ok_or(syntax("source route without ':'"))?;
    }
    Ok((path, params.trim_start_matches(' ')))
}

/// The offset of the `>` that closes a path: the first one outside a
/// quoted local part and outside an address literal's brackets (both may
/// contain `>`).
fn path_end(path: &str) -> Option<usize> {
    let bytes = path.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'@') {
        i = path.find(':')? + 1;
    }
    if bytes.get(i) == Some(&b'"') {
        i += 1;
        loop {
            match bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        i += 1;
    }
    let mut in_literal = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'[' => in_literal = true,
            b']' => in_literal = false,
            b'>' if !in_literal => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Iterates `keyword[=value]` words, refusing repeats of a keyword.
fn params<'a>(
    verb: &'static str,
    text: &'a str,
) -> impl Iterator<Item = Result<(String, Option<&'a str>), CommandError>> {
    let mut seen: Vec<String> = Vec::new();
    text.split(' ').filter(|w| !w.is_empty()).map(move |word| {
        let (keyword, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        let upper = keyword.to_ascii_uppercase();
        if seen.contains(&upper) {
            return Err(CommandError::Parameter {
                verb,
                keyword: keyword.to_owned(),
                what: "repeated",
            });
        }
        seen.push(upper.clone());
        Ok((upper, value))
    })
}

fn parse_mail(rest: &str) -> Result<Command, CommandError> {
    const VERB: &str = "MAIL";
    let (path, text) = split_path(VERB, "FROM:", rest)?;
    let from = if path.is_empty() {
        ReversePath::Null
    } else {
        ReversePath::Mailbox(Address::parse(path)?)
    };
    let mut p = MailParameters::default();
    for param in params(VERB, text) {
        let (keyword, value) = param?;
        let bad = |what| CommandError::Parameter {
            verb: VERB,
            keyword: keyword.clone(),
            what,
        };
        let flag = |value: Option<&str>| match value {
            None => Ok(true),
            Some(_) => Err(bad("takes no value")),
        };
        let value_of = || value.ok_or_else(|| bad("value required"));
        match keyword.as_str() {
            "SIZE" => {
                p.size = Some(value_of()?.parse().map_err(|_| bad("not a number"))?);
            }
            "BODY" => {
                let v = value_of()?.to_ascii_uppercase();
                p.body = Some(match v.as_str() {
                    "7BIT" => BodyType::SevenBit,
                    "8BITMIME" => BodyType::EightBitMime,
                    "BINARYMIME" => BodyType::BinaryMime,
                    _ => return Err(bad("expected 7BIT, 8BITMIME or BINARYMIME")),
                });
            }
            "SMTPUTF8" => p.smtputf8 = flag(value)?,
            "REQUIRETLS" => p.requiretls = flag(value)?,
            "RET" => p.ret = Some(value_of()?.parse()?),
            "ENVID" => {
                let decoded = xtext::decode(value_of()?)?;
                let text = String::from_utf8(decoded).map_err(|_| bad("not UTF-8"))?;
                p.envid = Some(Envid::new(text)?);
            }
            "AUTH" => {
                let v = value_of()?;
                p.auth = Some(if v == "<>" {
                    MailAuth::Unknown
                } else {
                    let decoded = xtext::decode(v)?;
                    MailAuth::identity(String::from_utf8(decoded).map_err(|_| bad("not UTF-8"))?)?
                });
            }
            "MT-PRIORITY" => {
                let n: i8 = value_of()?.parse().map_err(|_| bad("not a number"))?;
                p.mt_priority = Some(MtPriority::new(n)?);
            }
            "BY" => {
                p.by = Some(parse_by(value_of()?).ok_or_else(|| bad("expected <seconds>;R|N[T]"))?)
            }
            _ => p.extra.push(EsmtpParam::new(&keyword, value)?),
        }
    }
    Ok(Command::Mail { from, params: p })
}

fn parse_by(value: &str) -> Option<DeliverBy> {
    let (time, mode) = value.split_once(';')?;
    let digits = time.strip_prefix(['+', '-']).unwrap_or(time);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i32 = time.parse().ok()?;
    let (mode, trace) = match mode.to_ascii_uppercase().as_str() {
        "N" => (ByMode::Notify, false),
        "NT" => (ByMode::Notify, true),
        "R" => (ByMode::Return, false),
        "RT" => (ByMode::Return, true),
        _ => return None,
    };
    DeliverBy::new(seconds, mode, trace).ok()
}

fn parse_rcpt(rest: &str) -> Result<Command, CommandError> {
    const VERB: &str = "RCPT";
    let (path, text) = split_path(VERB, "TO:", rest)?;
    let to = if path.eq_ignore_ascii_case("postmaster") {
        ForwardPath::Postmaster
    } else {
        ForwardPath::Mailbox(Address::parse(path)?)
    };
    let mut p = RcptParameters::default();
    for param in params(VERB, text) {
        let (keyword, value) = param?;
        let bad = |what| CommandError::Parameter {
            verb: VERB,
            keyword: keyword.clone(),
            what,
        };
        match keyword.as_str() {
            "NOTIFY" => p.notify = Some(value.ok_or_else(|| bad("value required"))?.parse()?),
            "ORCPT" => {
                let v = value.ok_or_else(|| bad("value required"))?;
                let (addr_type, encoded) = v
                    .split_once(';')
                    .ok_or_else(|| bad("expected type;address"))?;
                let address = if addr_type.eq_ignore_ascii_case("utf-8") {
                    xtext::decode_utf8_addr(encoded)?
                } else {
                    String::from_utf8(xtext::decode(encoded)?).map_err(|_| bad("not UTF-8"))?
                };
                p.orcpt = Some(OriginalRecipient::with_type(addr_type, address)?);
            }
            _ => p.extra.push(EsmtpParam::new(&keyword, value)?),
        }
    }
    Ok(Command::Rcpt { to, params: p })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: &Command) {
        let bytes = c.to_bytes();
        assert!(bytes.ends_with(b"\r\n"));
        let parsed = Command::parse(&bytes[..bytes.len() - 2]).unwrap();
        assert_eq!(&parsed, c, "{}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn every_command_encodes_and_parses_back() {
        let addr = |s: &str| Address::parse(s).unwrap();
        let commands = vec![
            Command::Helo(Host::parse("client.example").unwrap()),
            Command::Ehlo(Host::parse("[IPv6:2001:db8::1]").unwrap()),
            Command::Ehlo(Host::parse("[192.0.2.1]").unwrap()),
            Command::Mail {
                from: ReversePath::Null,
                params: MailParameters::default(),
            },
            Command::Mail {
                from: addr("a@b.example").into(),
                params: MailParameters {
                    size: Some(12345),
                    body: Some(BodyType::BinaryMime),
                    smtputf8: true,
                    ret: Some(DsnReturn::Headers),
                    envid: Some(Envid::new("QQ314159 x+y").unwrap()),
                    auth: Some(MailAuth::identity("e+x@y.example").unwrap()),
                    requiretls: true,
                    mt_priority: Some(MtPriority::new(-3).unwrap()),
                    by: Some(DeliverBy::new(120, ByMode::Return, true).unwrap()),
                    extra: EsmtpParam::parse_list("XVERP X-FOO=bar").unwrap(),
                },
            },
            Command::Mail {
                from: addr("a@b.example").into(),
                params: MailParameters {
                    auth: Some(MailAuth::Unknown),
                    ..Default::default()
                },
            },
            Command::Rcpt {
                to: ForwardPath::Postmaster,
                params: RcptParameters::default(),
            },
            Command::Rcpt {
                to: addr("\"x y\"@c.example").into(),
                params: RcptParameters {
                    notify: Some("success,delay".parse().unwrap()),
                    orcpt: Some(OriginalRecipient::new("x+y@c.example").unwrap()),
                    extra: vec![],
                },
            },
            Command::Rcpt {
                to: addr("用户@例子.广告").into(),
                params: RcptParameters {
                    notify: Some(Notify::Never),
                    orcpt: Some(OriginalRecipient::new("用户@例子.广告").unwrap()),
                    extra: vec![],
                },
            },
            Command::Data,
            Command::Bdat {
                size: 0,
                last: true,
            },
            Command::Bdat {
                size: 65536,
                last: false,
            },
            Command::Rset,
            Command::Noop(None),
            Command::Noop(Some(Argument::new("ping").unwrap())),
            Command::Quit,
            Command::Vrfy(Argument::new("Smith").unwrap()),
            Command::Expn(Argument::new("staff list").unwrap()),
            Command::Help(None),
            Command::Help(Some(Argument::new("MAIL").unwrap())),
            Command::StartTls,
            Command::Auth {
                mechanism: Mechanism::new("plain").unwrap(),
                initial_response: Some(InitialResponse::new("AHVzZXIAcGFzcw==").unwrap()),
            },
            Command::Auth {
                mechanism: Mechanism::new("LOGIN").unwrap(),
                initial_response: None,
            },
        ];
        for c in &commands {
            round_trip(c);
        }
    }

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
    fn lenient_server_parsing() {
        let c = Command::parse(b"MAIL FROM: <@relay.example:a@b.example> BODY=8bitmime").unwrap();
        assert_eq!(
            c,
            Command::Mail {
                from: Address::parse("a@b.example").unwrap().into(),
                params: MailParameters {
                    body: Some(BodyType::EightBitMime),
                    ..Default::default()
                }
            }
        );
        assert_eq!(
            Command::parse(b"rcpt to:<postMaster>").unwrap(),
            Command::Rcpt {
                to: ForwardPath::Postmaster,
                params: RcptParameters::default()
            }
        );
        assert_eq!(
            Command::parse(b"bdat 10 last").unwrap(),
            Command::Bdat {
                size: 10,
                last: true
            }
        );
    }

    #[test]
    fn parse_errors() {
        let err = |line: &[u8]| Command::parse(line).unwrap_err();
        assert!(matches!(
            err(b"FOO bar"),
            CommandError::UnknownCommand { .. }
        ));
        assert!(matches!(
            err(b"MAIL FROM:<a@b.example"),
            CommandError::Syntax { .. }
        ));
        assert!(matches!(
            err(b"MAIL TO:<a@b.example>"),
            CommandError::Syntax { .. }
        ));
        assert!(matches!(
            err(b"MAIL FROM:<a@b.example> SIZE=1 SIZE=2"),
            CommandError::Parameter {
                what: "repeated",
                ..
            }
        ));
        assert!(matches!(
            err(b"MAIL FROM:<a@b.example> SIZE=x"),
            CommandError::Parameter { .. }
        ));
        assert!(matches!(
            err(b"MAIL FROM:<a@b.example> SMTPUTF8=yes"),
            CommandError::Parameter { .. }
        ));
        assert!(matches!(
            err(b"MAIL FROM:<a..b@c>"),
            CommandError::Invalid(_)
        ));
        assert!(matches!(err(b"BDAT x"), CommandError::Syntax { .. }));
        assert!(matches!(err(b"BDAT 1 FIRST"), CommandError::Syntax { .. }));
        assert!(matches!(err(b"DATA now"), CommandError::Syntax { .. }));
        assert!(matches!(err(b"VRFY"), CommandError::Syntax { .. }));
        assert!(matches!(
            err(b"AUTH PLAIN a b"),
            CommandError::Syntax { .. }
        ));
        assert!(matches!(err(b"AUTH PLAIN !!"), CommandError::Invalid(_)));
        assert!(matches!(err(b"NOOP \x01"), CommandError::Invalid(_)));
        assert!(matches!(err(b"\xff\xfe"), CommandError::NotUtf8));
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
