//! Validated mailbox addresses, domains and address literals
//! (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1; RFC 6531 for UTF-8).
//!
//! A value of these types can always be written into a command line: it has
//! no control characters, no unbalanced quoting and fits the RFC limits.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::input::{Field, InvalidInput, Reason, reject_controls};

/// RFC 5321 §4.5.3.1.1.
pub const MAX_LOCAL_PART_LEN: usize = 64;
/// RFC 5321 §4.5.3.1.2.
pub const MAX_DOMAIN_LEN: usize = 255;
/// RFC 5321 §4.5.3.1.3: the path, angle brackets included.
pub const MAX_PATH_LEN: usize = 256;

fn err(field: Field, reason: Reason) -> InvalidInput {
    InvalidInput::new(field, reason)
}

fn too_long(field: Field, len: usize, max: usize) -> InvalidInput {
    err(field, Reason::TooLong { len, max })
}

/// A domain name: dot-separated labels of letters, digits and inner hyphens
/// (RFC 5321 `Domain`), or UTF-8 U-labels (RFC 6531), which need SMTPUTF8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain {
    name: String,
    utf8: bool,
}

impl Domain {
    /// Validates a domain name.
    ///
    /// # Errors
    /// An [`InvalidInput`] naming [`Field::Domain`] and the broken rule.
    pub fn parse(name: &str) -> Result<Domain, InvalidInput> {
        let f = Field::Domain;
        if name.is_empty() {
            return Err(err(f, Reason::Empty));
        }
        reject_controls(f, name)?;
        if name.len() > MAX_DOMAIN_LEN {
            return Err(too_long(f, name.len(), MAX_DOMAIN_LEN));
        }
        let mut offset = 0;
        for label in name.split('.') {
            if label.is_empty() {
                return Err(err(
                    f,
                    Reason::Syntax("empty label (leading, trailing or double dot)"),
                ));
            }
            if label.len() > 63 {
                return Err(too_long(f, label.len(), 63));
            }
            for (i, ch) in label.char_indices() {
                let edge = i == 0 || i + ch.len_utf8() == label.len();
                let ok = ch.is_ascii_alphanumeric() || !ch.is_ascii() || (ch == '-' && !edge);
                if !ok {
                    return Err(err(
                        f,
                        Reason::InvalidCharacter {
                            ch,
                            position: offset + i,
                        },
                    ));
                }
            }
            offset += label.len() + 1;
        }
        Ok(Domain {
            name: name.to_owned(),
            utf8: !name.is_ascii(),
        })
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Whether the name has UTF-8 labels, so that using it needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.utf8
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl FromStr for Domain {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Domain::parse(s)
    }
}

/// An address literal in square brackets (RFC 5321 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressLiteral {
    /// `[192.0.2.1]`
    V4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`
    V6(Ipv6Addr),
    /// `[tag:content]`, a General-address-literal.
    General {
        /// The standardized tag.
        tag: String,
        /// The content after the colon.
        content: String,
    },
}

impl AddressLiteral {
    /// Parses a literal including its brackets.
    ///
    /// # Errors
    /// An [`InvalidInput`] naming [`Field::AddressLiteral`].
    pub fn parse(text: &str) -> Result<AddressLiteral, InvalidInput> {
        let f = Field::AddressLiteral;
        reject_controls(f, text)?;
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .ok_or(err(f, Reason::Syntax("not enclosed in [ ]")))?;
        if let Ok(v4) = inner.parse::<Ipv4Addr>() {
            return Ok(AddressLiteral::V4(v4));
        }
        let Some((tag, content)) = inner.split_once(':') else {
            return Err(err(f, Reason::Syntax("neither IPv4 nor tag:content")));
        };
        if tag.eq_ignore_ascii_case("IPv6") {
            return content
                .parse::<Ipv6Addr>()
                .map(AddressLiteral::V6)
                .map_err(|_| err(f, Reason::Syntax("invalid IPv6 address")));
        }
        // Standardized-tag = Ldh-str; dcontent = %d33-90 / %d94-126
        let tag_ok = tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && tag
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric())
            && tag
                .bytes()
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        let content_ok = !content.is_empty()
            && content
                .bytes()
                .all(|b| (33..=90).contains(&b) || (94..=126).contains(&b));
        if !tag_ok || !content_ok {
            return Err(err(f, Reason::Syntax("invalid general address literal")));
        }
        Ok(AddressLiteral::General {
            tag: tag.to_owned(),
            content: content.to_owned(),
        })
    }
}

impl fmt::Display for AddressLiteral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressLiteral::V4(a) => write!(f, "[{a}]"),
            AddressLiteral::V6(a) => write!(f, "[IPv6:{a}]"),
            AddressLiteral::General { tag, content } => write!(f, "[{tag}:{content}]"),
        }
    }
}

impl From<std::net::IpAddr> for AddressLiteral {
    fn from(ip: std::net::IpAddr) -> Self {
        match ip {
            std::net::IpAddr::V4(a) => AddressLiteral::V4(a),
            std::net::IpAddr::V6(a) => AddressLiteral::V6(a),
        }
    }
}

/// The argument of EHLO/HELO and the domain of an address: a domain name or
/// an address literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name.
    Domain(Domain),
    /// An address literal.
    Literal(AddressLiteral),
}

impl Host {
    /// Parses a domain, or an address literal when it starts with `[`.
    ///
    /// # Errors
    /// An [`InvalidInput`] naming the domain or the literal.
    pub fn parse(text: &str) -> Result<Host, InvalidInput> {
        if text.starts_with('[') {
            AddressLiteral::parse(text).map(Host::Literal)
        } else {
            Domain::parse(text).map(Host::Domain)
        }
    }

    /// Whether using this host needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        matches!(self, Host::Domain(d) if d.needs_smtputf8())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => d.fmt(f),
            Host::Literal(l) => l.fmt(f),
        }
    }
}

impl FromStr for Host {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Host::parse(s)
    }
}

impl From<std::net::IpAddr> for Host {
    fn from(ip: std::net::IpAddr) -> Self {
        Host::Literal(ip.into())
    }
}

/// A mailbox `local-part@domain` (RFC 5321 `Mailbox`), validated.
///
/// The local part is a dot-string or a quoted-string; either may contain
/// UTF-8 (RFC 6531), and so may the domain, in which case
/// [`needs_smtputf8`](Address::needs_smtputf8) is true.
///
/// ```
/// use smtpkit_proto::Address;
///
/// let a: Address = "\"john smith\"@example.org".parse()?;
/// assert_eq!(a.local_part(), "\"john smith\"");
/// assert!(!a.needs_smtputf8());
/// assert!("用户@例子.广告".parse::<Address>()?.needs_smtputf8());
/// assert!("a@b\r\nRCPT TO:<evil@x>".parse::<Address>().is_err());
/// # Ok::<(), smtpkit_proto::InvalidInput>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Address {
    text: String,
    at: usize,
    utf8: bool,
}

impl Address {
    /// Validates a mailbox.
    ///
    /// # Errors
    /// An [`InvalidInput`] naming the address, its local part or its domain.
    pub fn parse(text: &str) -> Result<Address, InvalidInput> {
        if text.is_empty() {
            return Err(err(Field::Address, Reason::Empty));
        }
        reject_controls(Field::Address, text)?;
        if text.len() + 2 > MAX_PATH_LEN {
            return Err(too_long(Field::Address, text.len() + 2, MAX_PATH_LEN));
        }
        let at = local_part_end(text)?;
        let local = &text[..at];
        if local.len() > MAX_LOCAL_PART_LEN {
            return Err(too_long(Field::LocalPart, local.len(), MAX_LOCAL_PART_LEN));
        }
        let domain = text
            .get(at + 1..)
            .filter(|_| text.as_bytes().get(at) == Some(&b'@'))
            .ok_or(err(Field::Address, Reason::Syntax("missing @domain")))?;
        let host = Host::parse(domain)?;
        Ok(Address {
            text: text.to_owned(),
            at,
            utf8: !local.is_ascii() || host.needs_smtputf8(),
        })
    }

    /// The whole address.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The local part, as written (quotes included for a quoted-string).
    pub fn local_part(&self) -> &str {
        &self.text[..self.at]
    }

    /// The domain or address literal after the `@`.
    pub fn domain(&self) -> &str {
        &self.text[self.at + 1..]
    }

    /// Whether the address contains UTF-8 and so needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        self.utf8
    }
}

/// Finds the end of a dot-string or quoted-string local part, validating it.
fn local_part_end(text: &str) -> Result<usize, InvalidInput> {
    let f = Field::LocalPart;
    let bad = |ch: char, position: usize| err(f, Reason::InvalidCharacter { ch, position });
    if text.starts_with('"') {
        let mut escaped = false;
        for (i, ch) in text.char_indices().skip(1) {
            if escaped {
                // quoted-pairSMTP = "\" %d32-126
                if !(' '..='~').contains(&ch) {
                    return Err(bad(ch, i));
                }
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                return Ok(i + 1);
            } else if !(ch == ' ' || ch == '!' || ('#'..='~').contains(&ch) || !ch.is_ascii()) {
                return Err(bad(ch, i));
            }
        }
        return Err(err(f, Reason::Syntax("unterminated quoted-string")));
    }
    let end = text.find('@').unwrap_or(text.len());
    let local = &text[..end];
    if local.is_empty() {
        return Err(err(f, Reason::Empty));
    }
    let mut previous_dot = true;
    for (i, ch) in local.char_indices() {
        if ch == '.' {
            if previous_dot {
                return Err(err(
                    f,
                    Reason::Syntax("leading or double dot in dot-string"),
                ));
            }
            previous_dot = true;
        } else if is_atext(ch) {
            previous_dot = false;
        } else {
            return Err(bad(ch, i));
        }
    }
    if previous_dot {
        return Err(err(f, Reason::Syntax("trailing dot in dot-string")));
    }
    Ok(end)
}

/// RFC 5322 atext, extended with UTF-8 by RFC 6531.
fn is_atext(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(ch) || !ch.is_ascii()
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({:?})", self.text)
    }
}

impl FromStr for Address {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl TryFrom<&str> for Address {
    type Error = InvalidInput;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Address::parse(s)
    }
}

/// The argument of MAIL FROM: a mailbox, or the null path `<>` used for
/// bounces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`
    Null,
    /// `<mailbox>`
    Mailbox(Address),
}

impl ReversePath {
    /// Whether the path needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        matches!(self, ReversePath::Mailbox(a) if a.needs_smtputf8())
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(a) => write!(f, "<{a}>"),
        }
    }
}

impl From<Address> for ReversePath {
    fn from(a: Address) -> Self {
        ReversePath::Mailbox(a)
    }
}

/// The argument of RCPT TO: a mailbox, or the special `<Postmaster>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain (RFC 5321 §4.1.1.3).
    Postmaster,
    /// `<mailbox>`
    Mailbox(Address),
}

impl ForwardPath {
    /// Whether the path needs SMTPUTF8.
    pub fn needs_smtputf8(&self) -> bool {
        matches!(self, ForwardPath::Mailbox(a) if a.needs_smtputf8())
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(a) => write!(f, "<{a}>"),
        }
    }
}

impl From<Address> for ForwardPath {
    fn from(a: Address) -> Self {
        ForwardPath::Mailbox(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses() {
        for ok in [
            "user@example.org",
            "first.last+tag@sub.example.co.uk",
            "!#$%&'*+-/=?^_`{|}~@example.org",
            "\"john smith\"@example.org",
            "\"a@b\\\"c\"@example.org",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "user@[x-tag:abc]",
            "postmaster@a-b.c",
            "δοκιμή@παράδειγμα.δοκιμή",
        ] {
            let a = Address::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(a.as_str(), ok);
        }
        let a = Address::parse("\"a@b\"@example.org").unwrap();
        assert_eq!(a.local_part(), "\"a@b\"");
        assert_eq!(a.domain(), "example.org");
    }

    #[test]
    fn invalid_addresses_name_the_field() {
        let cases: &[(&str, Field)] = &[
            ("", Field::Address),
            ("user", Field::Address),
            ("user@", Field::Domain),
            ("@example.org", Field::LocalPart),
            (".user@example.org", Field::LocalPart),
            ("us..er@example.org", Field::LocalPart),
            ("user.@example.org", Field::LocalPart),
            ("us er@example.org", Field::LocalPart),
            ("us<er@example.org", Field::LocalPart),
            ("\"unterminated@example.org", Field::LocalPart),
            ("user@-example.org", Field::Domain),
            ("user@example-.org", Field::Domain),
            ("user@example..org", Field::Domain),
            ("user@example.org.", Field::Domain),
            ("user@exa_mple.org", Field::Domain),
            ("user@[300.1.1.1]", Field::AddressLiteral),
            ("user@[IPv6:zz::1]", Field::AddressLiteral),
            ("user@[192.0.2.1", Field::AddressLiteral),
            ("user@example.org\r\nRCPT TO:<x@y>", Field::Address),
            ("us\0er@example.org", Field::Address),
        ];
        for (text, field) in cases {
            let e = Address::parse(text).expect_err(text);
            assert_eq!(e.field, *field, "{text:?}: {e}");
        }
        let e = Address::parse("a@b\nc").unwrap_err();
        assert_eq!(
            e.reason,
            Reason::ControlCharacter {
                byte: b'\n',
                position: 3
            }
        );
    }

    #[test]
    fn length_limits() {
        let local = "a".repeat(64);
        assert!(Address::parse(&format!("{local}@example.org")).is_ok());
        let e = Address::parse(&format!("a{local}@example.org")).unwrap_err();
        assert_eq!(e.field, Field::LocalPart);
        let label = "b".repeat(63);
        let domain = [label.as_str(); 4].join(".");
        let e = Address::parse(&format!("a@{domain}")).unwrap_err();
        assert!(matches!(e.reason, Reason::TooLong { max: 256, .. }), "{e}");
        assert!(Domain::parse(&"c".repeat(64)).is_err());
    }

    #[test]
    fn utf8_needs_smtputf8() {
        assert!(Address::parse("用户@example.org").unwrap().needs_smtputf8());
        assert!(
            Address::parse("user@bücher.example")
                .unwrap()
                .needs_smtputf8()
        );
        assert!(!Address::parse("user@example.org").unwrap().needs_smtputf8());
    }

    #[test]
    fn hosts_and_literals() {
        assert_eq!(Host::parse("[IPv6:::1]").unwrap().to_string(), "[IPv6:::1]");
        assert_eq!(
            Host::from(std::net::IpAddr::from([127, 0, 0, 1])).to_string(),
            "[127.0.0.1]"
        );
        assert!(Host::parse("mx.example.org").is_ok());
        assert!(Host::parse("[]").is_err());
    }
}
