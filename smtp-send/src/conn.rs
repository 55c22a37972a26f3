//! One connection on the runtime chosen with `--runtime`: the command line
//! is written once against [`Conn`]; each runtime is a few lines of glue.

use std::future::Future;
use std::io::Read;

use bytes::Bytes;
use smtpkit_blocking::ClientSettings;
use smtpkit_blocking::{ConnectFailure, Error, TranscriptHook};
use smtpkit_proto::{DeliveryReport, Envelope, SessionInfo};

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RuntimeKind {
    /// std::net (smtp-blocking).
    Blocking,
    /// tokio (smtp-tokio).
    Tokio,
    /// async-std (smtp-smol's runtime under async-std's executor); only
    /// with the `async-std` feature.
    #[cfg(feature = "async-std")]
    AsyncStd,
    /// smol (smtp-smol).
    Smol,
}

impl RuntimeKind {
    /// A `--runtime` value; the error says why it cannot be used (a
    /// usage error).
    pub(crate) fn parse(name: &str) -> Result<RuntimeKind, String> {
        Ok(match name {
            "blocking" => RuntimeKind::Blocking,
            "tokio" => RuntimeKind::Tokio,
            #[cfg(feature = "async-std")]
            "async-std" => RuntimeKind::AsyncStd,
            #[cfg(not(feature = "async-std"))]
            "async-std" => {
                return Err("--runtime async-std: this smtp-send was built without the \
                    `async-std` feature (async-std is discontinued upstream); use \
                    --runtime smol, which runs the same client, or rebuild with \
                    `--features async-std`"
                    .into());
            }
            "smol" => RuntimeKind::Smol,
            other => {
                return Err(format!(
                    "--runtime {other}: expected blocking, tokio, async-std or smol"
                ));
            }
        })
    }
}

/// A message body for a single send.
pub(crate) enum SendBody {
    /// A file: read twice by every client (size and type first).
    File(std::path::PathBuf),
    /// A stream, read once.
    Stream(Box<dyn Read + Send>),
}

/// One connection, whatever the runtime.
pub(crate) trait Conn: Send {
    fn send(&mut self, envelope: Envelope, body: SendBody) -> Result<DeliveryReport, Error>;
    fn send_all(&mut self, messages: Vec<(Envelope, Bytes)>) -> Vec<Result<DeliveryReport, Error>>;
    fn info(&self) -> SessionInfo;
    fn close(self: Box<Self>);
}

pub(crate) fn connect(
    kind: RuntimeKind,
    settings: &ClientSettings,
    transcript: Option<TranscriptHook>,
) -> Result<Box<dyn Conn>, ConnectFailure> {
    Ok(match kind {
        RuntimeKind::Blocking => Box::new(smtpkit_blocking::Client::connect_reporting(
            settings, transcript,
        )?),
        RuntimeKind::Tokio => {
            let exec = Exec::Tokio(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(Error::Io)?,
            );
            let client = exec.block_on(smtpkit_tokio::Client::connect_reporting(
                settings, transcript,
            ))?;
            Box::new(AsyncConn {
                client: Some(client),
                exec,
            })
        }
        RuntimeKind::Smol => connect_smol(Exec::Smol, settings, transcript)?,
        #[cfg(feature = "async-std")]
        RuntimeKind::AsyncStd => connect_smol(Exec::AsyncStd, settings, transcript)?,
    })
}

/// smtp-smol's client, its futures run by `exec` (smol or async-std).
fn connect_smol(
    exec: Exec,
    settings: &ClientSettings,
    transcript: Option<TranscriptHook>,
) -> Result<Box<dyn Conn>, ConnectFailure> {
    let client = exec.block_on(smtpkit_smol::Client::connect_reporting(
        settings, transcript,
    ))?;
    Ok(Box::new(AsyncConn {
        client: Some(client),
        exec,
    }))
}

impl Conn for smtpkit_blocking::Client {
    fn send(&mut self, envelope: Envelope, body: SendBody) -> Result<DeliveryReport, Error> {
        let body = match body {
            SendBody::File(path) => match std::fs::File::open(path) {
                Ok(f) => smtpkit_blocking::Body::File(f),
                Err(e) => return Err(Error::Body(e)),
            },
            SendBody::Stream(r) => smtpkit_blocking::Body::Reader(r),
        };
        smtpkit_blocking::Client::send(self, envelope, body)
    }
    fn send_all(&mut self, messages: Vec<(Envelope, Bytes)>) -> Vec<Result<DeliveryReport, Error>> {
        smtpkit_blocking::Client::send_all(
            self,
            messages
                .iter()
                .map(|(e, b)| (e.clone(), smtpkit_blocking::Body::Bytes(b)))
                .collect(),
        )
    }
    fn info(&self) -> SessionInfo {
        smtpkit_blocking::Client::info(self).clone()
    }
    fn close(self: Box<Self>) {
        let _ = smtpkit_blocking::Client::close(*self);
    }
}

/// How an async connection's futures are run from the command line.
pub(crate) enum Exec {
    Tokio(tokio::runtime::Runtime),
    Smol,
    #[cfg(feature = "async-std")]
    AsyncStd,
}

impl Exec {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Exec::Tokio(rt) => rt.block_on(future),
            Exec::Smol => smol::block_on(future),
            #[cfg(feature = "async-std")]
            Exec::AsyncStd => async_std::task::block_on(future),
        }
    }
}

struct AsyncConn<R: smtpkit_async::Runtime> {
    client: Option<smtpkit_async::Client<R>>,
    exec: Exec,
}

impl<R: smtpkit_async::Runtime> Conn for AsyncConn<R> {
    fn send(&mut self, envelope: Envelope, body: SendBody) -> Result<DeliveryReport, Error> {
        let Some(client) = self.client.as_mut() else {
            return Err(Error::Poisoned);
        };
        // std readers become futures-io readers on a helper thread pool.
        let body = match body {
            SendBody::File(path) => smtpkit_async::Body::File(path),
            SendBody::Stream(r) => smtpkit_async::Body::Reader(Box::new(
                blocking::Unblock::with_capacity(256 * 1024, r),
            )),
        };
        self.exec.block_on(client.send(envelope, body))
    }
    fn send_all(&mut self, messages: Vec<(Envelope, Bytes)>) -> Vec<Result<DeliveryReport, Error>> {
        let Some(client) = self.client.as_mut() else {
            return messages.iter().map(|_| Err(Error::Poisoned)).collect();
        };
        self.exec.block_on(
            client.send_all(
                messages
                    .into_iter()
                    .map(|(e, b)| (e, smtpkit_async::Body::Bytes(b)))
                    .collect(),
            ),
        )
    }
    fn info(&self) -> SessionInfo {
        self.client
            .as_ref()
            .map(|c| c.info().clone())
            .unwrap_or_default()
    }
    fn close(mut self: Box<Self>) {
        if let Some(client) = self.client.take() {
            let _ = self.exec.block_on(client.close());
        }
    }
}
