//! Building blocks for the server direction (the test server and anything
//! else that reads commands): command-line framing with a length limit.
//! Commands themselves are parsed by [`Command::parse`](crate::Command::parse),
//! replies written by [`Reply::encode`](crate::Reply::encode), message
//! content read by [`DataDecoder`](crate::DataDecoder).

use crate::line;

/// A command line longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("command line longer than the limit")]
pub struct LineTooLong;

/// The first complete line of `input` (without CRLF or a bare LF) and the
/// octets it occupies; `Ok(None)` when more input is needed.
///
/// # Errors
/// [`LineTooLong`] as soon as the line is known to exceed `max_len`.
pub fn next_line(input: &[u8], max_len: usize) -> Result<Option<(&[u8], usize)>, LineTooLong> {
    match line::next_line(input, max_len, 0) {
        Ok(Some(l)) => Ok(Some((l.content, l.consumed))),
        Ok(None) => Ok(None),
        Err(line::LineTooLong) => Err(LineTooLong),
    }
}
