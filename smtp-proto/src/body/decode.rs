//! The server side of DATA (feature `server`).

/// The server side of DATA: finds the `CRLF.CRLF` end and removes
/// dot-stuffing (RFC 5321 §4.5.2).
///
/// Only CRLF counts as a line ending, so `<LF>.<LF>` and `<CR>.<CR>` never
/// end the data: what the decoder accepts is what a smuggling-safe server
/// accepts. The content it writes ends with the CRLF before the final dot.
#[derive(Debug, Clone, Default)]
pub struct DataDecoder {
    state: DecodeState,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum DecodeState {
    #[default]
    LineStart,
    Mid,
    SawCr,
    Dot,
    DotCr,
    Done,
}

/// Progress of a [`DataDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataProgress {
    /// Input octets consumed.
    pub consumed: usize,
    /// The end of data was reached; input after `consumed` belongs to the
    /// next command.
    pub done: bool,
}

impl DataDecoder {
    /// A decoder at the start of the message content.
    pub fn new() -> Self {
        DataDecoder::default()
    }

    /// Whether the end of data was seen.
    pub fn is_done(&self) -> bool {
        self.state == DecodeState::Done
    }

    /// Decodes `input`, appending the un-stuffed content to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> DataProgress {
        use DecodeState::*;
        let mut i = 0;
        while i < input.len() {
            match self.state {
                Done => break,
                Mid => match memchr::memchr(b'\r', &input[i..]) {
                    Some(cr) => {
                        out.extend_from_slice(&input[i..=i + cr]);
                        i += cr + 1;
                        self.state = SawCr;
                    }
                    None => {
                        out.extend_from_slice(&input[i..]);
                        i = input.len();
                    }
                },
                LineStart => {
                    self.state = if input[i] == b'.' {
                        i += 1;
                        Dot
                    } else {
                        Mid
                    };
                }
                SawCr => {
                    if input[i] == b'\n' {
                        out.push(b'\n');
                        i += 1;
                        self.state = LineStart;
                    } else {
                        self.state = Mid;
                    }
                }
                // A leading dot is removed; if the line is just ".", it ends.
                Dot => {
                    if input[i] == b'\r' {
                        i += 1;
                        self.state = DotCr;
                    } else {
                        self.state = Mid;
                    }
                }
                DotCr => {
                    if input[i] == b'\n' {
                        i += 1;
                        self.state = Done;
                    } else {
                        out.push(b'\r');
                        self.state = SawCr;
                    }
                }
            }
        }
        DataProgress {
            consumed: i,
            done: self.state == Done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_unstuffs_and_stops_at_the_end() {
        let mut d = DataDecoder::new();
        let mut out = Vec::new();
        let wire = b"..a\r\n.b\r\nc\r\n.\r\nQUIT\r\n";
        let p = d.decode(wire, &mut out);
        assert_eq!(out, b".a\r\nb\r\nc\r\n");
        assert_eq!(&wire[p.consumed..], b"QUIT\r\n");
        // Byte by byte gives the same.
        let mut d = DataDecoder::new();
        let mut out2 = Vec::new();
        let mut consumed = 0;
        for b in wire.iter() {
            if d.is_done() {
                break;
            }
            consumed += d.decode(std::slice::from_ref(b), &mut out2).consumed;
        }
        assert_eq!(out2, out);
        assert_eq!(consumed, p.consumed);
        // ".\r" followed by something else is content.
        let mut d = DataDecoder::new();
        let mut out = Vec::new();
        assert!(d.decode(b".\rx\r\n.\r\n", &mut out).done);
        assert_eq!(out, b"\rx\r\n");
    }
}
