//! The message: read (from a file, standard input or a quick message), its
//! header block split off, and what the header says.

use std::io::{self, BufRead, BufReader, Read};

use smtpkit_proto::Address;

use crate::cli::Cli;
use crate::{Fail, exit, fail};

/// The message, split into its (possibly rewritten) header block and the
/// rest, with what the header says.
pub(crate) struct Message {
    pub(crate) header: Vec<u8>,
    pub(crate) rest: Box<dyn Read + Send>,
    pub(crate) rewritten: bool,
    pub(crate) from: Option<Address>,
    pub(crate) recipients: Vec<Address>,
}

const MAX_HEADER: usize = smtpkit_client::message::MAX_HEADER;

pub(crate) fn read_message(cli: &Cli, built: Option<Vec<u8>>) -> Result<Message, Fail> {
    let source: Box<dyn Read + Send> = match (built, &cli.message) {
        (Some(built), _) => Box::new(io::Cursor::new(built)),
        (None, Some(path)) => Box::new(
            std::fs::File::open(path)
                .map_err(|e| fail(exit::DATAERR, format!("{}: {e}", path.display())))?,
        ),
        (None, None) => Box::new(io::stdin()),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, source);
    let mut header = Vec::new();
    loop {
        let before = header.len();
        let n = reader
            .by_ref()
            .take((MAX_HEADER + 1 - header.len()) as u64)
            .read_until(b'\n', &mut header)
            .map_err(|e| fail(exit::DATAERR, format!("reading the message: {e}")))?;
        if header.len() > MAX_HEADER {
            return Err(fail(exit::DATAERR, "the header block is larger than 1 MiB"));
        }
        let line = &header[before..];
        if n == 0 || line == b"\n" || line == b"\r\n" {
            break;
        }
    }
    // The envelope from the header, as the library's message-level send
    // reads it (smtpkit_client::message): From:/Sender:, and with -t every
    // To:, Cc: and Bcc: address once, Bcc: stripped.
    use smtpkit_client::message::HeaderAddresses;
    let (sender, recipients) = if cli.read_recipients {
        let a = HeaderAddresses::of(&header).map_err(|e| fail(exit::DATAERR, e.to_string()))?;
        (a.sender, a.recipients)
    } else {
        let sender =
            HeaderAddresses::sender_of(&header).map_err(|e| fail(exit::DATAERR, e.to_string()))?;
        (sender, Vec::new())
    };
    let rewritten = if cli.read_recipients {
        let stripped = smtpkit_client::message::strip_bcc(&header);
        let changed = stripped != header;
        header = stripped;
        changed
    } else {
        false
    };
    Ok(Message {
        header,
        rest: Box::new(reader),
        rewritten,
        from: sender,
        recipients,
    })
}

/// Counts the octets read through it (the log's `mailsize`).
pub(crate) struct Counting<R> {
    pub(crate) inner: R,
    pub(crate) count: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}
