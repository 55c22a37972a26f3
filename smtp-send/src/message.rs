//! The message and its envelope: the message read (from a file, standard
//! input or a quick message), its header block split off, what the header
//! says, and the envelope from the command line, the settings and the
//! header.

use std::io::{self, BufRead, BufReader, Read};

use smtpkit_blocking::ClientSettings;
use smtpkit_client::message::LineCheck;
use smtpkit_proto::{Address, Envelope, ReversePath};

use crate::cli::Cli;
use crate::{Fail, exit, fail, quick};

/// The message, split into its (possibly rewritten) header block and the
/// rest, with what the header says.
pub(crate) struct Message {
    pub(crate) header: Vec<u8>,
    pub(crate) rest: Box<dyn Read + Send>,
    pub(crate) rewritten: bool,
    /// The header's length as read (before any rewriting): where the rest
    /// starts in `-m FILE`.
    pub(crate) header_read: u64,
    pub(crate) from: Option<Address>,
    pub(crate) recipients: Vec<Address>,
}

impl Message {
    /// The whole message in memory (`--count` sends it many times).
    pub(crate) fn into_bytes(self) -> Result<Vec<u8>, Fail> {
        let mut data = self.header;
        self.rest
            .take(u64::MAX)
            .read_to_end(&mut data)
            .map_err(|e| fail(exit::DATAERR, format!("reading the message: {e}")))?;
        Ok(data)
    }
}

/// The envelope and the message: recipients from the arguments, `--to`
/// and (with `-t`) the header; the sender from `-f` and the settings, else
/// the header's From:.
pub(crate) fn prepare(cli: &Cli, settings: &ClientSettings) -> Result<(Envelope, Message), Fail> {
    let mut recipients = Vec::new();
    for r in &cli.recipients {
        recipients
            .push(Address::parse(r).map_err(|e| fail(exit::USAGE, format!("recipient {r}: {e}")))?);
    }
    let built = quick_message(cli, settings, &mut recipients)?;
    let built_in_memory = built.is_some();
    let mut message = read_message(cli, built, settings.message.allow_long_lines)?;
    recipients.extend(message.recipients.iter().cloned());
    if recipients.is_empty() {
        return Err(fail(
            exit::USAGE,
            "no recipients (give them as arguments, or use -t)",
        ));
    }
    let from = envelope_sender(cli, settings, &message)?;
    add_from_header(cli, &mut message, &from)?;
    // Date: and Message-ID: when missing, as msmtp adds them (and the
    // library's message-level send): `set_date_header`/`set_msgid_header`
    // off, or mail.smtp.setdate/setmessageid=false, turn it off.
    let options = smtpkit_client::MessageOptions::of(settings);
    if smtpkit_client::message::complete_header(&mut message.header, &from, &options)
        .map_err(|e| fail(exit::TEMPFAIL, e.to_string()))?
    {
        message.rewritten = true;
    }
    if let Some(signer) = &settings.dkim {
        sign(cli, signer, &mut message, built_in_memory)?;
    }
    Ok((Envelope::new(from, recipients), message))
}

/// `--to`, `--subject`, `--header`, `--body`, `--attach`: the message
/// built, its `--to` recipients added; `None` without these flags.
fn quick_message(
    cli: &Cli,
    settings: &ClientSettings,
    recipients: &mut Vec<Address>,
) -> Result<Option<Vec<u8>>, Fail> {
    let quick = !cli.to.is_empty()
        || cli.subject.is_some()
        || !cli.headers.is_empty()
        || cli.body.is_some()
        || !cli.attach.is_empty();
    if !quick {
        return Ok(None);
    }
    let Some(ReversePath::Mailbox(from)) = &settings.from else {
        return Err(fail(
            exit::USAGE,
            "a quick message (--to, --subject, --body, ...) needs a sender: -f, \
             mail.smtp.from or the account's from",
        ));
    };
    for r in &cli.to {
        recipients
            .push(Address::parse(r).map_err(|e| fail(exit::USAGE, format!("--to {r}: {e}")))?);
    }
    quick::build(&quick::Quick {
        from,
        to: &cli.to,
        subject: cli.subject.as_deref(),
        headers: &cli.headers,
        body: cli.body.as_deref(),
        attach: &cli.attach,
    })
    .map(Some)
}

/// The envelope sender: the header's with `--read-envelope-from`, else the
/// settings' (`-f`, `mail.smtp.from`, the account), else the header's.
fn envelope_sender(
    cli: &Cli,
    settings: &ClientSettings,
    message: &Message,
) -> Result<ReversePath, Fail> {
    match (&settings.from, &message.from) {
        (_, Some(from)) if cli.read_envelope_from => Ok(ReversePath::Mailbox(from.clone())),
        (_, None) if cli.read_envelope_from => Err(fail(
            exit::DATAERR,
            "--read-envelope-from: the message has no From: header",
        )),
        (Some(from), _) => Ok(from.clone()),
        (None, Some(from)) => Ok(ReversePath::Mailbox(from.clone())),
        (None, None) => Err(fail(
            exit::DATAERR,
            "no envelope sender: use -f or give the message a From: header",
        )),
    }
}

/// sendmail's `-F`: when the message has no From: (nor Sender:), one is
/// added from the full name and the envelope sender.
fn add_from_header(cli: &Cli, message: &mut Message, from: &ReversePath) -> Result<(), Fail> {
    let (Some(name), None, ReversePath::Mailbox(address)) = (&cli.full_name, &message.from, from)
    else {
        return Ok(());
    };
    if name.chars().any(char::is_control) {
        return Err(fail(
            exit::USAGE,
            "-F: the name must not contain CR, LF or other control characters",
        ));
    }
    // mail-builder quotes the name, and encodes it (RFC 2047) when it is
    // not ASCII.
    use mail_builder::headers::Header as _;
    let mut header = b"From: ".to_vec();
    mail_builder::headers::address::Address::new_address(Some(name.as_str()), address.as_str())
        .write_header(&mut header, "From: ".len());
    header.extend_from_slice(&message.header);
    message.header = header;
    message.rewritten = true;
    Ok(())
}

/// DKIM: the signature over what will be transmitted (the header as it
/// now is, the rest CRLF-normalised) goes first. `-m FILE` is read once to
/// hash it and again to send it, at constant memory; standard input and a
/// quick message are held in memory (they cannot be read twice).
fn sign(
    cli: &Cli,
    signer: &smtpkit_client::dkim::DkimSigner,
    message: &mut Message,
    built_in_memory: bool,
) -> Result<(), Fail> {
    let data_error = |e: &dyn std::fmt::Display| fail(exit::DATAERR, format!("DKIM: {e}"));
    let mut stream = signer.stream();
    stream.update(&message.header);
    match (&cli.message, built_in_memory) {
        (Some(path), false) => {
            use std::io::{Seek, SeekFrom};
            let mut file = std::fs::File::open(path)
                .map_err(|e| data_error(&format!("{}: {e}", path.display())))?;
            file.seek(SeekFrom::Start(message.header_read))
                .map_err(|e| data_error(&e))?;
            let mut buf = vec![0; 64 * 1024];
            loop {
                match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => stream.update(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(data_error(&e)),
                }
            }
        }
        _ => {
            let mut rest = Vec::new();
            message
                .rest
                .read_to_end(&mut rest)
                .map_err(|e| data_error(&e))?;
            stream.update(&rest);
            message.rest = Box::new(io::Cursor::new(rest));
        }
    }
    let signature = stream.finish().map_err(|e| data_error(&e))?;
    message.header = [signature, std::mem::take(&mut message.header)].concat();
    message.rewritten = true;
    Ok(())
}

const MAX_HEADER: usize = smtpkit_client::message::MAX_HEADER;

/// The message (`built`, else `-m FILE`, else standard input), its header
/// block read and, with `-t`, Bcc: stripped.
fn read_message(
    cli: &Cli,
    built: Option<Vec<u8>>,
    allow_long_lines: bool,
) -> Result<Message, Fail> {
    let file = if built.is_none() {
        cli.message.as_deref()
    } else {
        None
    };
    let source: Box<dyn Read + Send> = match (built, &cli.message) {
        (Some(built), _) => Box::new(io::Cursor::new(built)),
        (None, Some(path)) => Box::new(
            std::fs::File::open(path)
                .map_err(|e| fail(exit::DATAERR, format!("{}: {e}", path.display())))?,
        ),
        (None, None) => Box::new(io::stdin()),
    };
    let mut reader = BufReader::with_capacity(64 * 1024, source);
    let mut header = read_header(&mut reader)?;
    let header_read = header.len() as u64;
    // Lines longer than SMTP allows: a file is read through first, so the
    // refusal comes before anything is sent; a stream is checked as it
    // goes (a long line ends the transfer before its end of data).
    let mut lines = None;
    if !allow_long_lines {
        let mut check = LineCheck::new();
        check.feed(&header);
        match file {
            Some(path) => {
                scan_lines(path, header_read, &mut check)?;
                check.finish().map_err(|e| long_line(Some(path), &e))?;
            }
            None => lines = Some(check),
        }
    }
    let rest: Box<dyn Read + Send> = match lines {
        Some(check) => Box::new(CheckedLines {
            inner: reader,
            check,
        }),
        None => Box::new(reader),
    };
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
        rest,
        rewritten,
        header_read,
        from: sender,
        recipients,
    })
}

/// The refusal of a long line, naming it (exit 65).
fn long_line(path: Option<&std::path::Path>, e: &dyn std::fmt::Display) -> Fail {
    match path {
        Some(path) => fail(exit::DATAERR, format!("{}: {e}", path.display())),
        None => fail(exit::DATAERR, e.to_string()),
    }
}

/// Feeds `path` from `from` to its end into `check`.
fn scan_lines(path: &std::path::Path, from: u64, check: &mut LineCheck) -> Result<(), Fail> {
    use std::io::{Seek, SeekFrom};
    let read_error = |e: io::Error| fail(exit::DATAERR, format!("{}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    file.seek(SeekFrom::Start(from)).map_err(read_error)?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => check.feed(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(e)),
        }
    }
}

/// A stream checked for long lines as it is read: the read that completes
/// one fails (`InvalidData`, the line named), so the transfer ends before
/// its end of data and nothing is delivered.
struct CheckedLines<R> {
    inner: R,
    check: LineCheck,
}

impl<R: Read> Read for CheckedLines<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.check.feed(&buf[..n]);
        let verdict = if n == 0 {
            self.check.clone().finish()
        } else if self.check.is_binary() {
            Ok(())
        } else {
            match self.check.long_line() {
                Some((line, length)) => {
                    Err(smtpkit_client::message::MessageError::LineTooLong { line, length })
                }
                None => Ok(()),
            }
        };
        verdict.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(n)
    }
}

/// The header block, through the empty line that ends it (or the end of
/// the input); at most [`MAX_HEADER`] octets.
fn read_header(reader: &mut impl BufRead) -> Result<Vec<u8>, Fail> {
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
            return Ok(header);
        }
    }
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
