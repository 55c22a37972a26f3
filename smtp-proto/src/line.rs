//! Line framing shared by the reply and command decoders: find the next
//! complete line without ever looking further than the line limit allows.

/// A complete line found at the start of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// The line without its terminator (CRLF, or a bare LF when reading).
    pub content: &'a [u8],
    /// How many input bytes the line and its terminator occupy.
    pub consumed: usize,
}

/// The line at the start of `input` is longer than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineTooLong;

/// Returns the first complete line of `input`, `Ok(None)` when more input is
/// needed, or `LineTooLong` as soon as the line's content is known to exceed
/// `max_len` octets (without its terminator). Accepts CRLF and bare LF.
///
/// Looks at no more than `max_len + 2` bytes, so a caller that keeps only the
/// unconsumed tail buffers at most one line. `input[..searched]` is known to
/// hold no LF (a line that arrives in pieces is searched once).
pub(crate) fn next_line(
    input: &[u8],
    max_len: usize,
    searched: usize,
) -> Result<Option<Line<'_>>, LineTooLong> {
    let window = &input[..input.len().min(max_len.saturating_add(2))];
    let from = searched.min(window.len());
    match memchr::memchr(b'\n', &window[from..]).map(|at| from + at) {
        Some(lf) => {
            let content = match window[..lf].last() {
                Some(b'\r') => &window[..lf - 1],
                _ => &window[..lf],
            };
            if content.len() > max_len {
                return Err(LineTooLong);
            }
            Ok(Some(Line {
                content,
                consumed: lf + 1,
            }))
        }
        // `max_len` content bytes and a CR may still be followed by the LF.
        None if window.len() > max_len.saturating_add(1) => Err(LineTooLong),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_bare_lf() {
        let line = next_line(b"abc\r\ndef", 10, 0).unwrap().unwrap();
        assert_eq!(line.content, b"abc");
        assert_eq!(line.consumed, 5);
        let line = next_line(b"abc\ndef", 10, 0).unwrap().unwrap();
        assert_eq!(line.content, b"abc");
        assert_eq!(line.consumed, 4);
    }

    #[test]
    fn incomplete_until_the_limit_is_passed() {
        assert_eq!(next_line(b"abcd", 4, 0), Ok(None));
        assert_eq!(next_line(b"abcd\r", 4, 0), Ok(None));
        assert_eq!(next_line(b"abcde\r", 4, 0), Err(LineTooLong));
        assert_eq!(
            next_line(b"abcd\r\n", 4, 0).unwrap().unwrap().content,
            b"abcd"
        );
        assert_eq!(next_line(b"abcde\n", 4, 0), Err(LineTooLong));
    }
}
