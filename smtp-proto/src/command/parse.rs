//! The server direction (feature `server`): one command line to a
//! [`Command`], leniently where RFC 5321 asks servers to be.

use super::{
    Argument, ByMode, Command, DeliverBy, Envid, EsmtpParam, InitialResponse, MailAuth,
    MailParameters, Mechanism, MtPriority, OriginalRecipient, RcptParameters,
};
use crate::address::{Address, ForwardPath, Host, ReversePath};
use crate::command::BodyType;
use crate::input::{Field, InvalidInput, reject_controls};
use crate::xtext;

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
            "LHLO" => Ok(Command::Lhlo(Host::parse(
                rest.ok_or(syntax("LHLO", "domain required"))?,
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
            "PRDR" => p.prdr = flag(value)?,
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
    use crate::command::{DsnReturn, Notify};

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
            Command::Lhlo(Host::parse("client.example").unwrap()),
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
                    prdr: true,
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
}
