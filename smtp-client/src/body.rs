//! [`Body`]: a message body as a caller hands it to a client, written once
//! for every runtime. Each client crate names its own kinds of memory,
//! file and reader: `smtpkit_blocking::Body<'a>` is a slice, an open
//! `File` or a `Read`; `smtpkit_async::Body` is `Bytes`, a path the
//! runtime opens, or an `AsyncRead`.

use std::path::PathBuf;

use bytes::Bytes;

use smtpkit_proto::Envelope;

use crate::source::Source;

/// A message body as a caller hands it to a client: in memory, a file, or
/// a reader. Convert into it with `From` (`&[u8]`, `Vec<u8>`, `String`,
/// a `File`, … as the client's type allows), or name a variant.
pub enum Body<M, F, R> {
    /// In memory: inspected once and sent in place, never copied.
    Bytes(M),
    /// A file: read once to learn its size and type, then again to send
    /// it; a retry reads it again from its start.
    File(F),
    /// Any reader, streamed once: a retry cannot read it again.
    Reader(R),
}

impl<M, F, R> std::fmt::Debug for Body<M, F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Body::Bytes(_) => "Body::Bytes(..)",
            Body::File(_) => "Body::File(..)",
            Body::Reader(_) => "Body::Reader(..)",
        })
    }
}

/// A file a retry can read again: a second handle on an open file, or the
/// same path to open again.
pub trait ReplayFile: Sized {
    /// Another handle on the same file; `None` when there cannot be one.
    fn replay(&self) -> Option<Self>;
}

impl ReplayFile for std::fs::File {
    fn replay(&self) -> Option<Self> {
        // The handles share a position: the driver seeks a file to its
        // start before it reads it, so that does not matter.
        self.try_clone().ok()
    }
}

impl ReplayFile for PathBuf {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<M: Clone, F: ReplayFile, R> Body<M, F, R> {
    /// The same body again, for a retry; `None` for a reader (streamed
    /// once) or a file that cannot be opened twice.
    pub fn replay(&self) -> Option<Self> {
        match self {
            Body::Bytes(bytes) => Some(Body::Bytes(bytes.clone())),
            Body::File(file) => file.replay().map(Body::File),
            Body::Reader(_) => None,
        }
    }
}

/// A body whose file is already open becomes a [`Source`] without I/O.
impl<M: AsRef<[u8]>, F, R> From<Body<M, F, R>> for Source<M, F, R> {
    fn from(body: Body<M, F, R>) -> Self {
        body.into_source_after(None)
    }
}

impl<M: AsRef<[u8]>, F, R> Body<M, F, R> {
    /// The [`Source`] of this body (an open file needs no I/O), sharing
    /// the inspection of `previous` when both are the very same octets in
    /// memory ([`Source::memory_after`]): a batch that sends one buffer
    /// many times inspects it once.
    pub fn into_source_after(self, previous: Option<&Source<M, F, R>>) -> Source<M, F, R> {
        match self {
            Body::Bytes(bytes) => Source::memory_after(bytes, previous),
            Body::File(file) => Source::file(file),
            Body::Reader(reader) => Source::reader(reader),
        }
    }
}

/// A batch's bodies as sources ([`Body::into_source_after`]: the same
/// buffer sent many times is inspected once).
pub fn sources<M: AsRef<[u8]>, F, R>(
    messages: Vec<(Envelope, Body<M, F, R>)>,
) -> Vec<(Envelope, Source<M, F, R>)> {
    let mut sources: Vec<(Envelope, Source<M, F, R>)> = Vec::with_capacity(messages.len());
    for (envelope, body) in messages {
        let source = body.into_source_after(sources.last().map(|(_, s)| s));
        sources.push((envelope, source));
    }
    sources
}

impl<'a, F, R> From<&'a [u8]> for Body<&'a [u8], F, R> {
    fn from(bytes: &'a [u8]) -> Self {
        Body::Bytes(bytes)
    }
}

impl<'a, const N: usize, F, R> From<&'a [u8; N]> for Body<&'a [u8], F, R> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Body::Bytes(bytes)
    }
}

impl<'a, F, R> From<&'a Vec<u8>> for Body<&'a [u8], F, R> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Body::Bytes(bytes)
    }
}

impl<'a, F, R> From<&'a str> for Body<&'a [u8], F, R> {
    fn from(text: &'a str) -> Self {
        Body::Bytes(text.as_bytes())
    }
}

impl<M, R> From<std::fs::File> for Body<M, std::fs::File, R> {
    fn from(file: std::fs::File) -> Self {
        Body::File(file)
    }
}

impl<F, R> From<Bytes> for Body<Bytes, F, R> {
    fn from(bytes: Bytes) -> Self {
        Body::Bytes(bytes)
    }
}

impl<F, R> From<Vec<u8>> for Body<Bytes, F, R> {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(bytes.into())
    }
}

impl<F, R> From<String> for Body<Bytes, F, R> {
    fn from(text: String) -> Self {
        Body::Bytes(text.into())
    }
}

impl<F, R> From<&'static [u8]> for Body<Bytes, F, R> {
    fn from(bytes: &'static [u8]) -> Self {
        Body::Bytes(Bytes::from_static(bytes))
    }
}

impl<F, R> From<&'static str> for Body<Bytes, F, R> {
    fn from(text: &'static str) -> Self {
        Body::Bytes(Bytes::from_static(text.as_bytes()))
    }
}
