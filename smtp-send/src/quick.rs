//! Quick messages, swaks style: `--to`, `--subject`, `--header`, `--body`,
//! `--attach` build a message with mail-builder (Date, Message-ID,
//! MIME-Version, RFC 2047 for non-ASCII header text, multipart/mixed when
//! files are attached: binary parts base64, `text/*` parts
//! quoted-printable or 7bit, as mail-builder chooses). Attachments are read into
//! memory: mail-builder serialises from memory.

use std::path::{Path, PathBuf};

use mail_builder::MessageBuilder;
use mail_builder::headers::text::Text;
use smtpkit_proto::Address;

use crate::{Fail, exit, fail};

/// What the flags ask for.
pub(crate) struct Quick<'a> {
    pub from: &'a Address,
    pub to: &'a [String],
    pub subject: Option<&'a str>,
    pub headers: &'a [String],
    pub body: Option<&'a str>,
    pub attach: &'a [PathBuf],
}

/// swaks' test message, when no body or attachment is given.
pub(crate) const TEST_BODY: &str = "This is a test message sent by smtp-send.\r\n";

/// A content type from the file name's extension
/// (`application/octet-stream` when unknown).
pub(crate) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "text" | "log" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "md" => "text/markdown",
        "ics" => "text/calendar",
        "xml" => "application/xml",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "eml" => "message/rfc822",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt" => "application/vnd.oasis.opendocument.text",
        _ => "application/octet-stream",
    }
}

/// `Name: value` from `--header`: the name printable ASCII without a colon
/// or a blank, the value without CR, LF or other control characters (they
/// would start a new header line on the wire).
pub(crate) fn split_header(header: &str) -> Result<(&str, &str), Fail> {
    let bad = |why: &str| fail(exit::USAGE, format!("--header {header:?}: {why}"));
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| bad("expected 'Name: value'"))?;
    if name.is_empty() || !name.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return Err(bad("the name must be printable ASCII without blanks"));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(bad(
            "the value contains CR, LF or another control character",
        ));
    }
    let lower = name.to_ascii_lowercase();
    if ["mime-version", "content-type", "content-transfer-encoding"].contains(&lower.as_str()) {
        return Err(bad("the MIME structure is the tool's"));
    }
    Ok((name, value.trim()))
}

/// `--body TEXT`, or `--body @FILE` (UTF-8 text).
fn body_text(body: &str) -> Result<String, Fail> {
    match body.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| fail(exit::DATAERR, format!("--body @{path}: {e}"))),
        None => Ok(body.to_owned()),
    }
}

/// The message, as octets.
pub(crate) fn build(q: &Quick<'_>) -> Result<Vec<u8>, Fail> {
    let mut to = Vec::new();
    for address in q.to {
        Address::parse(address).map_err(|e| fail(exit::USAGE, format!("--to {address}: {e}")))?;
        to.push(mail_builder::headers::address::Address::from(
            address.as_str(),
        ));
    }
    let mut builder = MessageBuilder::new()
        .from(q.from.as_str())
        .subject(q.subject.unwrap_or("smtp-send test"));
    if !to.is_empty() {
        builder = builder.to(mail_builder::headers::address::Address::new_list(to));
    }
    for header in q.headers {
        let (name, value) = split_header(header)?;
        builder = builder.header(name.to_owned(), Text::new(value.to_owned()));
    }
    let body = match q.body {
        Some(b) => body_text(b)?,
        None => TEST_BODY.to_owned(),
    };
    builder = builder.text_body(body);
    for path in q.attach {
        let data = std::fs::read(path)
            .map_err(|e| fail(exit::DATAERR, format!("--attach {}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".to_owned());
        builder = builder.attachment(content_type(path), name, data);
    }
    builder
        .write_to_vec()
        .map_err(|e| fail(exit::DATAERR, format!("building the message: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked() {
        assert_eq!(split_header("X-Tag: a b").unwrap(), ("X-Tag", "a b"));
        assert!(split_header("X-Tag: a\r\nBcc: x@y").is_err());
        assert!(split_header("X-Tag: a\nb").is_err());
        assert!(split_header("No colon").is_err());
        assert!(split_header("Bad Name: v").is_err());
        assert!(split_header("Content-Type: text/html").is_err());
    }

    #[test]
    fn types_from_extensions() {
        assert_eq!(content_type(Path::new("a.PDF")), "application/pdf");
        assert_eq!(content_type(Path::new("a")), "application/octet-stream");
    }

    #[test]
    fn builds_a_well_formed_message() {
        let from = Address::parse("me@example.org").unwrap();
        let to = vec!["you@example.org".to_owned()];
        let headers = vec!["X-Note: grüße".to_owned()];
        let m = build(&Quick {
            from: &from,
            to: &to,
            subject: Some("Grüße"),
            headers: &headers,
            body: Some("hello"),
            attach: &[],
        })
        .unwrap();
        let text = String::from_utf8(m).unwrap();
        assert!(text.is_ascii(), "{text}");
        for h in [
            "Message-ID: ",
            "Date: ",
            "MIME-Version: 1.0",
            "To: <you@example.org>",
            "Subject: =?utf-8?",
        ] {
            assert!(text.contains(h), "{h}: {text}");
        }
        assert!(text.contains("X-Note: =?utf-8?"), "{text}");
    }

    /// What the docs say: binary attachments are base64, text ones are
    /// not.
    #[test]
    fn attachment_encodings_are_as_documented() {
        let dir = std::env::temp_dir().join(format!("smtp-send-attach-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("table.csv");
        std::fs::write(&csv, "a,b\r\n1,2\r\n").unwrap();
        let bin = dir.join("blob.bin");
        std::fs::write(&bin, [0u8, 159, 146, 150, 255]).unwrap();
        let from = Address::parse("me@example.org").unwrap();
        let to = vec!["you@example.org".to_owned()];
        let attach = vec![csv, bin];
        let m = build(&Quick {
            from: &from,
            to: &to,
            subject: None,
            headers: &[],
            body: Some("hello"),
            attach: &attach,
        })
        .unwrap();
        let text = String::from_utf8(m).unwrap();
        let part = |name: &str| {
            let at = text.find(name).unwrap_or_else(|| panic!("{name}: {text}"));
            let start = text[..at].rfind("Content-Type").unwrap();
            text[start..].split("\r\n\r\n").next().unwrap().to_owned()
        };
        assert!(part("table.csv").contains("text/csv"), "{text}");
        assert!(!part("table.csv").contains("base64"), "{text}");
        assert!(part("blob.bin").contains("base64"), "{text}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
