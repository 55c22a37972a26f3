//! xtext (RFC 3461 §4) and utf-8-addr-xtext (RFC 6533 §3): the encodings
//! of ENVID, ORCPT and AUTH= parameter values.
//!
//! ```
//! use smtpkit_proto::xtext;
//!
//! assert_eq!(xtext::encode("a+b=c d"), "a+2Bb+3Dc+20d");
//! assert_eq!(xtext::decode("a+2Bb+3Dc+20d")?, b"a+b=c d");
//! assert_eq!(xtext::encode_utf8_addr("jöe@x"), "j\\x{F6}e@x");
//! assert_eq!(xtext::decode_utf8_addr("j\\x{F6}e@x")?, "jöe@x");
//! # Ok::<(), smtpkit_proto::InvalidInput>(())
//! ```

use std::fmt::Write as _;

use crate::input::{Field, InvalidInput, Reason};

fn syntax(what: &'static str) -> InvalidInput {
    InvalidInput::new(Field::Xtext, Reason::Syntax(what))
}

/// `xchar`: `!` to `~` except `+` and `=`, which stand for themselves.
fn is_xchar(b: u8) -> bool {
    (33..=126).contains(&b) && b != b'+' && b != b'='
}

/// Encodes octets as xtext: `xchar`s stay, every other octet becomes `+HH`
/// with upper-case hex.
pub fn encode(value: impl AsRef<[u8]>) -> String {
    let value = value.as_ref();
    let mut out = String::with_capacity(value.len());
    for &b in value {
        if is_xchar(b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "+{b:02X}");
        }
    }
    out
}

/// Decodes xtext into octets.
///
/// # Errors
/// When a character is not an `xchar` or a `+` is not followed by two
/// upper-case hex digits.
pub fn decode(text: &str) -> Result<Vec<u8>, InvalidInput> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .ok_or(syntax("'+' not followed by two hex digits"))?;
                out.push(
                    hex_pair(hex).ok_or(syntax("'+' not followed by two upper-case hex digits"))?,
                );
                i += 3;
            }
            b if is_xchar(b) => {
                out.push(b);
                i += 1;
            }
            _ => {
                return Err(InvalidInput::new(
                    Field::Xtext,
                    Reason::InvalidCharacter {
                        ch: text[i..].chars().next().unwrap_or('\u{FFFD}'),
                        position: i,
                    },
                ));
            }
        }
    }
    Ok(out)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_pair(hex: &[u8]) -> Option<u8> {
    match hex {
        [h, l] => Some(hex_digit(*h)? << 4 | hex_digit(*l)?),
        _ => None,
    }
}

/// RFC 6533 `QCHAR`: printable ASCII except SP, `+`, `=` and `\`.
fn is_qchar(ch: char) -> bool {
    matches!(ch, '!'..='~') && !matches!(ch, '+' | '=' | '\\')
}

/// Encodes a string as utf-8-addr-xtext: `QCHAR`s stay, every other
/// character becomes `\x{HEX}` (upper-case hex, at least two digits).
pub fn encode_utf8_addr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        if is_qchar(ch) {
            out.push(ch);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{{{:02X}}}", u32::from(ch));
        }
    }
    out
}

/// Decodes utf-8-addr-xtext (and, leniently, utf-8-addr-unitext, which also
/// allows raw non-ASCII characters).
///
/// # Errors
/// When a character is neither a `QCHAR` nor part of a well-formed
/// `\x{HEX}` escape naming a Unicode scalar value.
pub fn decode_utf8_addr(text: &str) -> Result<String, InvalidInput> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if ch == '\\' {
            let body = rest
                .strip_prefix("\\x{")
                .ok_or(syntax("'\\' not followed by x{"))?;
            let end = body.find('}').ok_or(syntax("unterminated \\x{ escape"))?;
            let hex = &body[..end];
            if !(2..=6).contains(&hex.len()) || !hex.bytes().all(|b| hex_digit(b).is_some()) {
                return Err(syntax("\\x{ } must hold 2 to 6 upper-case hex digits"));
            }
            let scalar = u32::from_str_radix(hex, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or(syntax("\\x{ } is not a Unicode scalar value"))?;
            out.push(scalar);
            rest = &body[end + 1..];
        } else if is_qchar(ch) || !ch.is_ascii() {
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        } else {
            return Err(InvalidInput::new(
                Field::Xtext,
                Reason::InvalidCharacter {
                    ch,
                    position: text.len() - rest.len(),
                },
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3461_examples() {
        // RFC 3461 §4: "+" and "=" and anything outside ! to ~ are encoded.
        assert_eq!(encode("QQ314159"), "QQ314159");
        assert_eq!(encode("Bob+Smith@example.com"), "Bob+2BSmith@example.com");
        assert_eq!(encode("a\r\nb"), "a+0D+0Ab");
        assert_eq!(
            decode("Bob+2BSmith@example.com").unwrap(),
            b"Bob+Smith@example.com"
        );
    }

    #[test]
    fn bad_xtext() {
        assert!(decode("a+2").is_err());
        assert!(decode("a+2b").is_err(), "lower-case hex is not xtext");
        assert!(decode("a b").is_err());
        assert!(decode("a=b").is_err());
        assert!(decode("é").is_err());
    }

    #[test]
    fn rfc6533_examples() {
        assert_eq!(encode_utf8_addr("user@example.com"), "user@example.com");
        assert_eq!(
            encode_utf8_addr("用户@例子.广告"),
            "\\x{7528}\\x{6237}@\\x{4F8B}\\x{5B50}.\\x{5E7F}\\x{544A}"
        );
        assert_eq!(encode_utf8_addr("a+b"), "a\\x{2B}b");
        assert_eq!(decode_utf8_addr("a\\x{2B}b").unwrap(), "a+b");
        assert_eq!(decode_utf8_addr("\\x{1F600}").unwrap(), "😀");
        assert!(decode_utf8_addr("\\x{D800}").is_err());
        assert!(decode_utf8_addr("\\x{110000}").is_err());
        assert!(decode_utf8_addr("\\x{2b}").is_err());
        assert!(decode_utf8_addr("\\y").is_err());
        assert!(decode_utf8_addr("a b").is_err());
    }
}
