//! Text from the server is data: before a person sees it (an error message,
//! a transcript line), control characters and bidirectional overrides are
//! escaped, so a hostile server cannot move the cursor, retitle the
//! terminal, clear the screen or reorder what is shown.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as itself: C0 controls (tab
/// included: it can hide text), DEL, C1 controls (U+0080–U+009F, which
/// terminals take as CSI/OSC), and the bidirectional embeddings,
/// overrides, isolates and marks.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// `text` with every unsafe character written as `\u{XXXX}` (and a
/// backslash as `\\`, so the escaping cannot be forged). Borrowed when
/// there is nothing to escape.
///
/// ```
/// use smtpkit_proto::escape_text;
///
/// assert_eq!(escape_text("250 ok"), "250 ok");
/// assert_eq!(escape_text("ok\u{1b}]0;pwned\u{7}"), "ok\\u{1b}]0;pwned\\u{7}");
/// assert_eq!(escape_text("\u{9b}2J \u{202e}txt.exe"), "\\u{9b}2J \\u{202e}txt.exe");
/// ```
pub fn escape_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) || c == '\\') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    /// Errors that carry server text show it escaped.
    #[test]
    fn server_text_in_errors_is_escaped() {
        let proxy = crate::proxy::ProxyError::HttpStatus {
            status: 403,
            reason: "no\u{1b}[2J\u{202e}".into(),
        };
        let reply = crate::ReplyError::MalformedLine {
            line: "99\u{9b}2J".into(),
        };
        for shown in [proxy.to_string(), reply.to_string()] {
            assert!(
                !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{shown:?}"
            );
        }
    }
}
