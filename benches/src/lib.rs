//! Inputs shared by the criterion benches (`benches/codec.rs`): message
//! bodies and reply streams built the same way in every run.

/// A body of `len` octets made of 76-character lines ending in CRLF.
pub fn crlf_text(len: usize) -> Vec<u8> {
    lines(len, b"\r\n", b'a')
}

/// A body of `len` octets made of 76-character lines ending in a bare LF.
pub fn lf_text(len: usize) -> Vec<u8> {
    lines(len, b"\n", b'a')
}

/// A body of `len` octets of CRLF lines that all start with a dot.
pub fn dotted_text(len: usize) -> Vec<u8> {
    lines(len, b"\r\n", b'.')
}

fn lines(len: usize, ending: &[u8], first: u8) -> Vec<u8> {
    let mut line = Vec::with_capacity(76 + ending.len());
    line.push(first);
    line.extend((1..76).map(|i| b"abcdefghijklmnopqrstuvwxyz0123456789"[i % 36]));
    line.extend_from_slice(ending);
    line.iter().copied().cycle().take(len).collect()
}

/// A 20-line EHLO reply as a large server sends it.
pub const EHLO_20_LINES: &[u8] = b"250-mx.example.org Hello client.example [192.0.2.7]\r\n\
250-SIZE 157286400\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n\
250-AUTH LOGIN PLAIN XOAUTH2\r\n250-AUTH=LOGIN PLAIN\r\n250-8BITMIME\r\n250-BINARYMIME\r\n\
250-CHUNKING\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250-REQUIRETLS\r\n250-DELIVERBY 240\r\n\
250-MT-PRIORITY MIXER\r\n250-LIMITS RCPTMAX=100 MAILMAX=1000\r\n250-VRFY\r\n250-ETRN\r\n\
250-XCLIENT NAME ADDR PROTO HELO\r\n250 HELP\r\n";

/// A one-line reply, the most common thing a client parses.
pub const ONE_LINE: &[u8] = b"250 2.1.5 Ok\r\n";
