//! The EHLO reply: the server's name and its service extensions
//! (RFC 5321 §4.1.1.1), typed for the extensions a client acts on.

use std::fmt;

use crate::reply::Reply;

/// `LIMITS` (RFC 9422): the server's advertised transaction limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// `RCPTMAX`: most RCPT commands per transaction.
    pub rcpt_max: Option<u32>,
    /// `MAILMAX`: most transactions per connection.
    pub mail_max: Option<u32>,
    /// `RCPTDOMAINMAX`: most distinct recipient domains per transaction.
    pub rcpt_domain_max: Option<u32>,
    /// Limits this crate does not know, as `(NAME, value)`.
    pub other: Vec<(String, String)>,
}

/// One service extension from an EHLO reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Extension {
    /// `SIZE [n]` (RFC 1870): `None` when no number was given; `Some(0)`
    /// means the server declares no fixed limit.
    Size(Option<u64>),
    /// `PIPELINING` (RFC 2920).
    Pipelining,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BINARYMIME` (RFC 3030).
    BinaryMime,
    /// `CHUNKING` (RFC 3030): BDAT.
    Chunking,
    /// `SMTPUTF8` (RFC 6531).
    SmtpUtf8,
    /// `DSN` (RFC 3461).
    Dsn,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    EnhancedStatusCodes,
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mech…` (RFC 4954), or the legacy `AUTH=mech…` form; mechanism
    /// names upper-cased.
    Auth(Vec<String>),
    /// `REQUIRETLS` (RFC 8689).
    RequireTls,
    /// `DELIVERBY [min-by-time]` (RFC 2852).
    DeliverBy(Option<u64>),
    /// `MT-PRIORITY [profile]` (RFC 6710).
    MtPriority(Option<String>),
    /// `LIMITS name=value…` (RFC 9422).
    Limits(Limits),
    /// PRDR: per-recipient replies after the data
    /// (draft-hall-prdr-00, Exim and others).
    Prdr,
    /// Any other keyword (upper-cased) with its parameters as sent.
    Other {
        /// The keyword, upper-cased.
        keyword: String,
        /// The space-separated parameters, unchanged.
        params: Vec<String>,
    },
}

impl Extension {
    /// The keyword as it would appear in an EHLO reply.
    pub fn keyword(&self) -> &str {
        match self {
            Extension::Size(_) => "SIZE",
            Extension::Pipelining => "PIPELINING",
            Extension::EightBitMime => "8BITMIME",
            Extension::BinaryMime => "BINARYMIME",
            Extension::Chunking => "CHUNKING",
            Extension::SmtpUtf8 => "SMTPUTF8",
            Extension::Dsn => "DSN",
            Extension::EnhancedStatusCodes => "ENHANCEDSTATUSCODES",
            Extension::StartTls => "STARTTLS",
            Extension::Auth(_) => "AUTH",
            Extension::RequireTls => "REQUIRETLS",
            Extension::DeliverBy(_) => "DELIVERBY",
            Extension::MtPriority(_) => "MT-PRIORITY",
            Extension::Limits(_) => "LIMITS",
            Extension::Prdr => "PRDR",
            Extension::Other { keyword, .. } => keyword,
        }
    }

    /// Parses one extension line (`keyword [params]`). The keyword is
    /// matched case-insensitively. Returns `None` for a line whose keyword
    /// is not an `ehlo-keyword` (RFC 5321: `(ALPHA / DIGIT) *(ALPHA / DIGIT
    /// / "-")`), which a client must ignore.
    pub fn parse(line: &str) -> Option<Extension> {
        let line = line.trim_matches(|c| c == ' ' || c == '\t');
        let (keyword, rest) = match line.find([' ', '=']) {
            // Legacy `AUTH=LOGIN PLAIN` (Outlook Express era): treat `=` as a
            // separator only for AUTH; elsewhere it is part of a parameter.
            Some(i) if line.as_bytes()[i] == b'=' && !line[..i].eq_ignore_ascii_case("AUTH") => {
                (line, "")
            }
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, ""),
        };
        if !is_keyword(keyword) {
            return None;
        }
        let params = || rest.split_ascii_whitespace();
        let keyword = keyword.to_ascii_uppercase();
        let number = |s: Option<&str>| s.and_then(|n| n.parse::<u64>().ok());
        Some(match keyword.as_str() {
            "SIZE" => Extension::Size(number(params().next())),
            "PIPELINING" => Extension::Pipelining,
            "8BITMIME" => Extension::EightBitMime,
            "BINARYMIME" => Extension::BinaryMime,
            "CHUNKING" => Extension::Chunking,
            "SMTPUTF8" => Extension::SmtpUtf8,
            "DSN" => Extension::Dsn,
            "ENHANCEDSTATUSCODES" => Extension::EnhancedStatusCodes,
            "STARTTLS" => Extension::StartTls,
            "REQUIRETLS" => Extension::RequireTls,
            "AUTH" => Extension::Auth(params().map(|m| m.to_ascii_uppercase()).collect()),
            "DELIVERBY" => Extension::DeliverBy(number(params().next())),
            "MT-PRIORITY" => Extension::MtPriority(params().next().map(str::to_owned)),
            "LIMITS" => Extension::Limits(parse_limits(params())),
            "PRDR" => Extension::Prdr,
            _ => Extension::Other {
                keyword,
                params: params().map(str::to_owned).collect(),
            },
        })
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Extension::Size(Some(n)) | Extension::DeliverBy(Some(n)) => write!(f, " {n}"),
            Extension::MtPriority(Some(p)) => write!(f, " {p}"),
            Extension::Auth(mechs) | Extension::Other { params: mechs, .. } => {
                mechs.iter().try_for_each(|m| write!(f, " {m}"))
            }
            Extension::Limits(l) => {
                for (name, value) in [
                    ("RCPTMAX", l.rcpt_max),
                    ("MAILMAX", l.mail_max),
                    ("RCPTDOMAINMAX", l.rcpt_domain_max),
                ] {
                    if let Some(v) = value {
                        write!(f, " {name}={v}")?;
                    }
                }
                l.other.iter().try_for_each(|(n, v)| write!(f, " {n}={v}"))
            }
            _ => Ok(()),
        }
    }
}

fn is_keyword(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn parse_limits<'a>(params: impl Iterator<Item = &'a str>) -> Limits {
    let mut limits = Limits::default();
    for param in params {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        // RFC 9422 §4: a limit with an unparseable value is ignored.
        let number = value.parse::<u32>().ok();
        match name.to_ascii_uppercase().as_str() {
            "RCPTMAX" => limits.rcpt_max = number.or(limits.rcpt_max),
            "MAILMAX" => limits.mail_max = number.or(limits.mail_max),
            "RCPTDOMAINMAX" => limits.rcpt_domain_max = number.or(limits.rcpt_domain_max),
            _ => limits
                .other
                .push((name.to_ascii_uppercase(), value.to_owned())),
        }
    }
    limits
}

/// Why an EHLO reply could not be read as capabilities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EhloError {
    /// The reply was not `250`: the server refused EHLO (fall back to HELO
    /// on `5xx`).
    #[error("EHLO refused with {code}")]
    Refused {
        /// The code the server gave.
        code: u16,
    },
}

/// A parsed EHLO reply: the server's domain, its greeting and extensions.
///
/// ```
/// use smtpkit_proto::{EhloResponse, Extension, ReplyDecoder, Decoded};
///
/// // Postfix's reply, as documented in its smtpd(8) manual.
/// let wire = b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
/// 250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n\
/// 250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
/// let Decoded::Complete { item: reply, .. } = ReplyDecoder::default().decode(wire)? else {
///     unreachable!()
/// };
/// let ehlo = EhloResponse::from_reply(&reply)?;
/// assert_eq!(ehlo.domain(), "mx.example.org");
/// assert!(ehlo.has(&Extension::Pipelining));
/// assert_eq!(ehlo.max_message_size(), Some(10_240_000));
/// assert_eq!(ehlo.auth_mechanisms(), ["PLAIN", "LOGIN"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EhloResponse {
    domain: String,
    greeting: String,
    extensions: Vec<Extension>,
}

impl EhloResponse {
    /// Reads the capabilities from a `250` reply to EHLO. Lines that are
    /// not extension keywords are ignored; repeated AUTH lines (including
    /// the legacy `AUTH=` form) are merged into one mechanism list.
    ///
    /// # Errors
    /// [`EhloError::Refused`] when the reply is not `250`.
    pub fn from_reply(reply: &Reply) -> Result<EhloResponse, EhloError> {
        if reply.code().get() != 250 {
            return Err(EhloError::Refused {
                code: reply.code().get(),
            });
        }
        let mut lines = reply.lines().iter();
        let first = lines.next().map(String::as_str).unwrap_or_default();
        let (domain, greeting) = first.split_once(' ').unwrap_or((first, ""));
        let mut response = EhloResponse {
            domain: domain.to_owned(),
            greeting: greeting.to_owned(),
            extensions: Vec::with_capacity(reply.lines().len()),
        };
        for extension in lines.filter_map(|l| Extension::parse(l)) {
            response.add(extension);
        }
        Ok(response)
    }

    /// Builds a response (for the server direction and tests).
    pub fn new(domain: &str, greeting: &str, extensions: Vec<Extension>) -> EhloResponse {
        let mut response = EhloResponse {
            domain: domain.to_owned(),
            greeting: greeting.to_owned(),
            extensions: Vec::with_capacity(extensions.len()),
        };
        for e in extensions {
            response.add(e);
        }
        response
    }

    fn add(&mut self, extension: Extension) {
        if let Extension::Auth(more) = &extension
            && let Some(Extension::Auth(mechs)) = self
                .extensions
                .iter_mut()
                .find(|e| matches!(e, Extension::Auth(_)))
        {
            for m in more {
                if !mechs.contains(m) {
                    mechs.push(m.clone());
                }
            }
            return;
        }
        self.extensions.push(extension);
    }

    /// The domain the server gave for itself.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The rest of the first line after the domain.
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Every extension, in the order offered.
    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    /// Whether an extension with the same keyword as `extension` was
    /// offered (parameters are ignored: `has(&Extension::Size(None))` is
    /// true for `SIZE 1000`).
    pub fn has(&self, extension: &Extension) -> bool {
        if matches!(extension, Extension::Other { .. }) {
            return self.has_keyword(extension.keyword());
        }
        // A known extension has one keyword per variant, so comparing
        // variants finds it without a string comparison per line (the
        // session asks on every message); an `Other` line built by hand with
        // a known keyword still counts.
        let wanted = std::mem::discriminant(extension);
        self.extensions.iter().any(|e| match e {
            Extension::Other { keyword, .. } => keyword.eq_ignore_ascii_case(extension.keyword()),
            known => std::mem::discriminant(known) == wanted,
        })
    }

    /// Whether the keyword was offered, case-insensitively.
    pub fn has_keyword(&self, keyword: &str) -> bool {
        self.extensions
            .iter()
            .any(|e| e.keyword().eq_ignore_ascii_case(keyword))
    }

    /// The SIZE limit, when the server declared a non-zero one.
    pub fn max_message_size(&self) -> Option<u64> {
        self.extensions.iter().find_map(|e| match e {
            Extension::Size(Some(n)) if *n > 0 => Some(*n),
            _ => None,
        })
    }

    /// The SASL mechanisms offered, upper-cased, in order.
    pub fn auth_mechanisms(&self) -> &[String] {
        self.extensions
            .iter()
            .find_map(|e| match e {
                Extension::Auth(m) => Some(m.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// The LIMITS the server declared, if any.
    pub fn limits(&self) -> Option<&Limits> {
        self.extensions.iter().find_map(|e| match e {
            Extension::Limits(l) => Some(l),
            _ => None,
        })
    }

    /// The keywords offered, in order (for reports).
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.extensions.iter().map(Extension::keyword)
    }

    /// The reply a server would send for these capabilities.
    ///
    /// # Errors
    /// When the domain, greeting or an extension contains a control
    /// character.
    pub fn to_reply(&self) -> Result<Reply, crate::InvalidInput> {
        let mut lines = Vec::with_capacity(self.extensions.len() + 1);
        lines.push(if self.greeting.is_empty() {
            self.domain.clone()
        } else {
            format!("{} {}", self.domain, self.greeting)
        });
        lines.extend(self.extensions.iter().map(ToString::to_string));
        Reply::new(crate::ReplyCode::OK, None, lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Decoded, ReplyDecoder};

    fn ehlo(wire: &[u8]) -> EhloResponse {
        let Decoded::Complete { item, .. } = ReplyDecoder::default().decode(wire).unwrap() else {
            panic!("incomplete")
        };
        EhloResponse::from_reply(&item).unwrap()
    }

    #[test]
    fn has_matches_variants_and_keywords() {
        let e = ehlo(b"250-mx.example\r\n250-SIZE 100\r\n250-pipelining\r\n250 X-FOO bar\r\n");
        assert!(e.has(&Extension::Pipelining));
        assert!(e.has(&Extension::Size(None)), "any SIZE parameter");
        assert!(!e.has(&Extension::Chunking));
        assert!(e.has(&Extension::parse("x-foo").unwrap()));
        assert!(!e.has(&Extension::parse("X-BAR").unwrap()));
    }

    #[test]
    fn gmail() {
        // smtp.gmail.com on port 587, before STARTTLS.
        let e = ehlo(
            b"250-smtp.gmail.com at your service, [192.0.2.7]\r\n250-SIZE 35882577\r\n\
250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n\
250-CHUNKING\r\n250 SMTPUTF8\r\n",
        );
        assert_eq!(e.domain(), "smtp.gmail.com");
        assert_eq!(e.greeting(), "at your service, [192.0.2.7]");
        assert_eq!(e.max_message_size(), Some(35_882_577));
        for x in [
            Extension::EightBitMime,
            Extension::StartTls,
            Extension::EnhancedStatusCodes,
            Extension::Pipelining,
            Extension::Chunking,
            Extension::SmtpUtf8,
        ] {
            assert!(e.has(&x), "{x:?}");
        }
        assert!(!e.has(&Extension::Dsn));
    }

    #[test]
    fn exchange_online() {
        let e = ehlo(
            b"250-AM0PR02CA0001.outlook.office365.com Hello [192.0.2.7]\r\n250-SIZE 157286400\r\n\
250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n\
250-8BITMIME\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
        );
        assert_eq!(e.auth_mechanisms(), ["LOGIN", "XOAUTH2"]);
        assert!(e.has(&Extension::BinaryMime));
    }

    #[test]
    fn exim_with_lowercase_and_legacy_forms() {
        let e = ehlo(
            b"250-mail.example.net Hello client [192.0.2.7]\r\n250-size 52428800\r\n\
250-Pipelining\r\n250-AUTH=login\r\n250-auth PLAIN CRAM-MD5\r\n250-X_UNKNOWN\r\n\
250-XCLIENT NAME ADDR\r\n250-LIMITS RCPTMAX=100 MAILMAX=10 RCPTDOMAINMAX=x FOO=bar\r\n\
250-DELIVERBY 240\r\n250-MT-PRIORITY MIXER\r\n250 HELP\r\n",
        );
        assert_eq!(e.max_message_size(), Some(52_428_800));
        assert!(e.has_keyword("pipelining"));
        assert_eq!(e.auth_mechanisms(), ["LOGIN", "PLAIN", "CRAM-MD5"]);
        assert!(!e.has_keyword("X_UNKNOWN"), "not an ehlo-keyword");
        assert_eq!(
            e.limits(),
            Some(&Limits {
                rcpt_max: Some(100),
                mail_max: Some(10),
                rcpt_domain_max: None,
                other: vec![("FOO".into(), "bar".into())],
            })
        );
        assert!(e.extensions().contains(&Extension::DeliverBy(Some(240))));
        assert!(
            e.extensions()
                .contains(&Extension::MtPriority(Some("MIXER".into())))
        );
        assert!(e.extensions().contains(&Extension::Other {
            keyword: "XCLIENT".into(),
            params: vec!["NAME".into(), "ADDR".into()]
        }));
    }

    #[test]
    fn size_without_number_and_zero() {
        let e = ehlo(b"250-x\r\n250 SIZE\r\n");
        assert!(e.has(&Extension::Size(None)));
        assert_eq!(e.max_message_size(), None);
        let e = ehlo(b"250-x\r\n250 SIZE 0\r\n");
        assert_eq!(e.max_message_size(), None);
    }

    #[test]
    fn refused() {
        let Decoded::Complete { item, .. } = ReplyDecoder::default()
            .decode(b"502 5.5.2 Error: command not recognized\r\n")
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            EhloResponse::from_reply(&item),
            Err(EhloError::Refused { code: 502 })
        );
    }

    #[test]
    fn round_trip_through_a_reply() {
        let original = EhloResponse::new(
            "mx.example",
            "hi",
            vec![
                Extension::Size(Some(1000)),
                Extension::Auth(vec!["PLAIN".into()]),
                Extension::Limits(Limits {
                    rcpt_max: Some(5),
                    ..Limits::default()
                }),
            ],
        );
        let reply = original.to_reply().unwrap();
        assert_eq!(EhloResponse::from_reply(&reply).unwrap(), original);
    }
}
