//! The one error type for caller-supplied values (addresses, parameters,
//! arguments): it names the field that was wrong and why, so a bad value is
//! rejected where it is built and can never reach the wire.

use std::fmt;

/// Which field of a command a rejected value was meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// A mailbox address (`local@domain`).
    Address,
    /// The part of an address before the `@`.
    LocalPart,
    /// A domain name (of an address, or the EHLO/HELO argument).
    Domain,
    /// An address literal such as `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    AddressLiteral,
    /// The `ENVID=` parameter of MAIL (RFC 3461).
    Envid,
    /// The `AUTH=` parameter of MAIL (RFC 4954), `mail.smtp.submitter`.
    MailAuth,
    /// The `NOTIFY=` parameter of RCPT (RFC 3461), `mail.smtp.dsn.notify`.
    Notify,
    /// The `RET=` parameter of MAIL (RFC 3461), `mail.smtp.dsn.ret`.
    Ret,
    /// The `ORCPT=` parameter of RCPT (RFC 3461).
    Orcpt,
    /// The `MT-PRIORITY=` parameter of MAIL (RFC 6710).
    MtPriority,
    /// The `BY=` parameter of MAIL (RFC 2852).
    By,
    /// The keyword of an extension parameter (`mail.smtp.mailextension`).
    ParamKeyword,
    /// The value of an extension parameter (`mail.smtp.mailextension`).
    ParamValue,
    /// The argument of VRFY, EXPN, HELP or NOOP.
    Argument,
    /// A SASL mechanism name.
    Mechanism,
    /// A SASL initial response (base64).
    InitialResponse,
    /// The text of a reply line.
    ReplyText,
    /// xtext (RFC 3461 §4) or utf-8-addr-xtext (RFC 6533) encoded text.
    Xtext,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Address => "address",
            Field::LocalPart => "local part",
            Field::Domain => "domain",
            Field::AddressLiteral => "address literal",
            Field::Envid => "ENVID",
            Field::MailAuth => "AUTH= (submitter)",
            Field::Notify => "NOTIFY",
            Field::Ret => "RET",
            Field::Orcpt => "ORCPT",
            Field::MtPriority => "MT-PRIORITY",
            Field::By => "BY",
            Field::ParamKeyword => "parameter keyword",
            Field::ParamValue => "parameter value",
            Field::Argument => "argument",
            Field::Mechanism => "SASL mechanism",
            Field::InitialResponse => "SASL initial response",
            Field::ReplyText => "reply text",
            Field::Xtext => "xtext",
        })
    }
}

/// What was wrong with a rejected value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The value was empty where something is required.
    Empty,
    /// A control character (CR, LF, NUL, …) at this byte offset. These can
    /// never be sent: they would end or corrupt the command line.
    ControlCharacter {
        /// The offending byte.
        byte: u8,
        /// Its offset in the value.
        position: usize,
    },
    /// Longer than the protocol allows.
    TooLong {
        /// The length of the value in octets.
        len: usize,
        /// The most the protocol allows.
        max: usize,
    },
    /// A character not allowed at this offset.
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its byte offset in the value.
        position: usize,
    },
    /// Another syntax rule was broken; the text says which.
    Syntax(&'static str),
    /// A number out of its range.
    OutOfRange,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => f.write_str("empty"),
            Reason::ControlCharacter { byte, position } => {
                write!(f, "control character 0x{byte:02X} at byte {position}")
            }
            Reason::TooLong { len, max } => write!(f, "{len} octets, longer than {max}"),
            Reason::InvalidCharacter { ch, position } => {
                write!(f, "character {ch:?} not allowed at byte {position}")
            }
            Reason::Syntax(what) => f.write_str(what),
            Reason::OutOfRange => f.write_str("out of range"),
        }
    }
}

/// A caller-supplied value that cannot be sent, naming the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidInput {
    /// The field the value was meant for.
    pub field: Field,
    /// What was wrong with it.
    pub reason: Reason,
}

impl InvalidInput {
    pub(crate) fn new(field: Field, reason: Reason) -> Self {
        InvalidInput { field, reason }
    }
}

/// Rejects the first control character (C0, DEL) in `value`; the check every
/// value passes before it may be part of a command line.
pub(crate) fn reject_controls(field: Field, value: &str) -> Result<(), InvalidInput> {
    match value.bytes().position(|b| b < 0x20 || b == 0x7f) {
        Some(position) => Err(InvalidInput::new(
            field,
            Reason::ControlCharacter {
                byte: value.as_bytes()[position],
                position,
            },
        )),
        None => Ok(()),
    }
}

/// Rejects an empty value, control characters and values over `max` octets.
pub(crate) fn check_text(field: Field, value: &str, max: usize) -> Result<(), InvalidInput> {
    if value.is_empty() {
        return Err(InvalidInput::new(field, Reason::Empty));
    }
    reject_controls(field, value)?;
    if value.len() > max {
        return Err(InvalidInput::new(
            field,
            Reason::TooLong {
                len: value.len(),
                max,
            },
        ));
    }
    Ok(())
}
