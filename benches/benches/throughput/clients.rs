//! `client` mode: one client sends its share of messages over each of
//! `--conns` connections (blocking clients: one thread per connection, as
//! `smtp-send`'s bulk mode does; our async clients: one task per
//! connection on one runtime thread, as an async program would), then
//! prints one JSON line with the counts, the time, its own peak RSS
//! (VmHWM) and CPU time.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use smtpkit_blocking::Error as SmtpError;
use smtpkit_blocking::{ClientSettings, Protocol};
use smtpkit_proto::{Address, DeliveryReport, Envelope};

use crate::Args;

/// The envelope sender every client uses.
pub(crate) const FROM: &str = "a@example.org";

/// The recipients of a message: `b@example.net`, or `r0@example.net` …
/// for more than one.
pub(crate) fn recipients(n: usize) -> Vec<String> {
    if n <= 1 {
        return vec!["b@example.net".to_owned()];
    }
    (0..n).map(|i| format!("r{i}@example.net")).collect()
}

/// A message of exactly `size` octets: a short header and CRLF text lines
/// (`smtp_benches::crlf_text`), ending in CRLF.
pub(crate) fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: throughput\r\n\r\n".to_vec();
    let text = size.saturating_sub(m.len() + 2);
    let mut body = smtp_benches::crlf_text(text);
    // A line cut between its CR and LF would leave a bare CR.
    if body.last() == Some(&b'\r') {
        body.pop();
        body.push(b'x');
    }
    m.extend_from_slice(&body);
    m.extend_from_slice(b"\r\n");
    m
}

fn err(e: impl Display) -> String {
    e.to_string()
}

/// One run, as the options say.
struct Spec {
    client: String,
    addr: SocketAddr,
    size: usize,
    rcpts: usize,
    count: u64,
    conns: u64,
    file: Option<PathBuf>,
    batch: u64,
    deadline: Instant,
    nodelay_api: bool,
    send_partial: bool,
}

/// What a message's content is.
#[derive(Clone, Copy)]
enum Payload<'a> {
    /// In memory.
    Bytes(&'a [u8]),
    /// Read from this file for every message.
    File(&'a Path),
}

/// What one connection did.
#[derive(Default)]
struct Share {
    messages: u64,
    /// Reads that returned data while sending (after the session was
    /// established, before QUIT); counted for `ours-blocking` only.
    reads: Option<u64>,
}

/// `client` mode.
pub(crate) fn main(args: &Args) -> Result<(), String> {
    let started = Instant::now();
    let max_seconds: f64 = args.num("max-seconds", 5.0)?;
    let spec = Spec {
        client: args.get("client").ok_or("--client is required")?.to_owned(),
        addr: args
            .get("addr")
            .ok_or("--addr is required")?
            .parse()
            .map_err(|e| format!("--addr: {e}"))?,
        size: args.num("size", 1024)?,
        rcpts: args.num("rcpts", 1)?,
        count: args.num("count", 1000)?,
        conns: args.num::<u64>("conns", 1)?.max(1),
        file: args.get("file").map(PathBuf::from),
        batch: args.num::<u64>("batch", 64)?.max(1),
        deadline: started + Duration::from_secs_f64(max_seconds),
        nodelay_api: args.flag("nodelay-api"),
        send_partial: args.flag("send-partial"),
    };
    let content = match &spec.file {
        Some(_) => Vec::new(),
        None => message(spec.size),
    };
    let payload = match &spec.file {
        Some(path) => Payload::File(path),
        None => Payload::Bytes(&content),
    };
    let per_message = match &spec.file {
        Some(path) => std::fs::metadata(path).map_err(err)?.len(),
        None => content.len() as u64,
    };
    let started = Instant::now();
    let share_of = |i: u64| spec.count / spec.conns + u64::from(i < spec.count % spec.conns);
    let shares: Vec<Result<Share, String>> = if spec.conns == 1 {
        vec![one_connection(&spec, payload, spec.count)]
    } else if matches!(spec.client.as_str(), "ours-tokio" | "ours-smol") {
        // An async client runs its connections as tasks on one runtime
        // thread, as an async program would, not one runtime per thread.
        let shares: Vec<u64> = (0..spec.conns).map(share_of).collect();
        if spec.client == "ours-tokio" {
            tokio_connections(&spec, payload, &shares)
        } else {
            smol_connections(&spec, payload, &shares)
        }
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..spec.conns)
                .map(|i| {
                    let share = share_of(i);
                    let spec = &spec;
                    scope.spawn(move || one_connection(spec, payload, share))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into())))
                .collect()
        })
    };
    let seconds = started.elapsed().as_secs_f64();
    let mut messages = 0;
    let mut reads: Option<u64> = None;
    let mut errors = Vec::new();
    for share in shares {
        match share {
            Ok(s) => {
                messages += s.messages;
                if let Some(r) = s.reads {
                    reads = Some(reads.unwrap_or(0) + r);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    let bytes = messages * per_message;
    let line = json!({
        "client": spec.client,
        "nodelay_api": spec.nodelay_api,
        "send_partial": spec.send_partial,
        "messages": messages,
        "requested": spec.count,
        "bytes": bytes,
        "seconds": seconds,
        "messages_per_second": messages as f64 / seconds,
        "mb_per_second": bytes as f64 / seconds / 1e6,
        "reads": reads,
        "reads_per_message": reads.map(|r| r as f64 / messages.max(1) as f64),
        "vm_hwm_kib": vm_hwm_kib(),
        "cpu_seconds": cpu_seconds(),
        "errors": errors,
    });
    println!("{line}");
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{} connection(s) failed", errors.len()))
    }
}

fn one_connection(spec: &Spec, payload: Payload<'_>, share: u64) -> Result<Share, String> {
    match spec.client.as_str() {
        "ours-blocking" => ours_blocking(spec, payload, share),
        "ours-tokio" => ours_tokio(spec, payload, share),
        "ours-smol" => ours_smol(spec, payload, share),
        "lettre" => lettre_client(spec, payload, share),
        "mail-send" => mail_send_client(spec, payload, share),
        other => Err(format!("unknown client {other:?}")),
    }
}

/// Our clients' settings: defaults, but for `--send-partial`
/// (`mail.smtp.sendpartial`).
fn settings(spec: &Spec) -> ClientSettings {
    let mut settings = ClientSettings::new(Protocol::Smtp, spec.addr.ip().to_string());
    settings.port = Some(spec.addr.port());
    settings.session.send_partial = spec.send_partial;
    settings
}

fn envelope(rcpts: usize) -> Result<Envelope, String> {
    let from = Address::parse(FROM).map_err(err)?;
    let to = recipients(rcpts)
        .iter()
        .map(|r| Address::parse(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(Envelope::new(from, to))
}

/// Fails on the first message not delivered to every recipient.
fn check(results: Vec<Result<DeliveryReport, SmtpError>>) -> Result<(), String> {
    for result in results {
        match result {
            Ok(report) if report.all_delivered() => {}
            Ok(report) => return Err(format!("not delivered to everyone: {report:?}")),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

/// The size of the next batch: none once the share is sent or the time
/// budget is spent.
fn next_batch(spec: &Spec, share: u64, sent: u64) -> u64 {
    if sent >= share || (sent > 0 && Instant::now() >= spec.deadline) {
        0
    } else {
        (share - sent).min(spec.batch)
    }
}

/// A `TcpStream` that counts the reads that returned data.
struct Counting {
    inner: TcpStream,
    reads: Arc<AtomicU64>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        Ok(n)
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl smtpkit_blocking::Transport for Counting {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }
}

/// smtp-blocking, exactly as `Client::connect` builds it but over a
/// counting transport.
fn ours_blocking(spec: &Spec, payload: Payload<'_>, share: u64) -> Result<Share, String> {
    let settings = settings(spec);
    let stream = smtpkit_blocking::open(&settings).map_err(err)?;
    let reads = Arc::new(AtomicU64::new(0));
    let transport = Counting {
        inner: stream,
        reads: Arc::clone(&reads),
    };
    let mut client = smtpkit_blocking::Client::from_transport(Box::new(transport), &settings, None)
        .map_err(err)?;
    let setup = reads.load(Ordering::Relaxed);
    let envelope = envelope(spec.rcpts)?;
    let mut sent = 0;
    loop {
        let n = next_batch(spec, share, sent);
        if n == 0 {
            break;
        }
        let mut batch = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let body = match payload {
                Payload::Bytes(b) => smtpkit_blocking::Body::Bytes(b),
                Payload::File(p) => smtpkit_blocking::Body::File(File::open(p).map_err(err)?),
            };
            batch.push((envelope.clone(), body));
        }
        check(client.send_all(batch))?;
        sent += n;
    }
    let reads = reads.load(Ordering::Relaxed) - setup;
    client.close().map_err(err)?;
    Ok(Share {
        messages: sent,
        reads: Some(reads),
    })
}

/// smtp-tokio on a current-thread runtime of its own.
fn ours_tokio(spec: &Spec, payload: Payload<'_>, share: u64) -> Result<Share, String> {
    tokio_connections(spec, payload, &[share])
        .pop()
        .unwrap_or_else(|| Err("no connection".into()))
}

/// Several smtp-tokio connections as tasks of one current-thread runtime.
fn tokio_connections(
    spec: &Spec,
    payload: Payload<'_>,
    shares: &[u64],
) -> Vec<Result<Share, String>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return vec![Err(err(e))],
    };
    runtime.block_on(async {
        let futures: Vec<_> = shares
            .iter()
            .map(|&share| async_connection::<smtpkit_tokio::Tokio>(spec, payload, share))
            .collect();
        join_all(futures).await
    })
}

/// One connection of an async client on runtime `R`.
async fn async_connection<R: smtpkit_async::Runtime>(
    spec: &Spec,
    payload: Payload<'_>,
    share: u64,
) -> Result<Share, String> {
    let settings = settings(spec);
    let envelope = envelope(spec.rcpts)?;
    let bytes = match payload {
        Payload::Bytes(b) => Bytes::copy_from_slice(b),
        Payload::File(_) => Bytes::new(),
    };
    let mut client = smtpkit_async::Client::<R>::connect(&settings)
        .await
        .map_err(err)?;
    let mut sent = 0;
    loop {
        let n = next_batch(spec, share, sent);
        if n == 0 {
            break;
        }
        let mut batch = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let body = match payload {
                Payload::Bytes(_) => smtpkit_async::Body::Bytes(bytes.clone()),
                Payload::File(p) => smtpkit_async::Body::File(p.to_path_buf()),
            };
            batch.push((envelope.clone(), body));
        }
        check(client.send_all(batch).await)?;
        sent += n;
    }
    client.close().await.map_err(err)?;
    Ok(Share {
        messages: sent,
        reads: None,
    })
}

/// smtp-smol under `smol::block_on`.
fn ours_smol(spec: &Spec, payload: Payload<'_>, share: u64) -> Result<Share, String> {
    smol_connections(spec, payload, &[share])
        .pop()
        .unwrap_or_else(|| Err("no connection".into()))
}

/// Several smtp-smol connections as futures of one `smol::block_on`.
fn smol_connections(
    spec: &Spec,
    payload: Payload<'_>,
    shares: &[u64],
) -> Vec<Result<Share, String>> {
    smol::block_on(async {
        let futures: Vec<_> = shares
            .iter()
            .map(|&share| async_connection::<smtpkit_smol::Smol>(spec, payload, share))
            .collect();
        join_all(futures).await
    })
}

/// Polls every future until all are done (no spawning: the futures borrow
/// the spec), in order of readiness; returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    smol::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *output = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// lettre 0.11's blocking `SmtpTransport` (its default connection pool of
/// one connection here), no TLS. It takes a message as one slice, so a
/// file is read into memory first.
fn lettre_client(spec: &Spec, payload: Payload<'_>, share: u64) -> Result<Share, String> {
    use lettre::Transport as _;
    let transport = lettre::SmtpTransport::builder_dangerous(spec.addr.ip().to_string())
        .port(spec.addr.port())
        .build();
    let from: lettre::Address = FROM.parse().map_err(err)?;
    let to = recipients(spec.rcpts)
        .iter()
        .map(|r| r.parse::<lettre::Address>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let envelope = lettre::address::Envelope::new(Some(from), to).map_err(err)?;
    let mut sent = 0;
    while next_batch(spec, share, sent) > 0 {
        let file;
        let body = match payload {
            Payload::Bytes(b) => b,
            Payload::File(p) => {
                file = std::fs::read(p).map_err(err)?;
                &file[..]
            }
        };
        let response = transport.send_raw(&envelope, body).map_err(err)?;
        if !response.is_positive() {
            return Err(format!("lettre: {response:?}"));
        }
        sent += 1;
    }
    transport.shutdown();
    Ok(Share {
        messages: sent,
        reads: None,
    })
}

/// mail-send (tokio) on a current-thread runtime of its own, plain TCP.
/// With `--nodelay-api` TCP_NODELAY is set on its public `stream`.
fn mail_send_client(spec: &Spec, payload: Payload<'_>, share: u64) -> Result<Share, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(err)?;
    let rcpts = recipients(spec.rcpts);
    runtime.block_on(async {
        let mut client =
            mail_send::SmtpClientBuilder::new(spec.addr.ip().to_string(), spec.addr.port())?
                .implicit_tls(false)
                .connect_plain()
                .await
                .map_err(err)?;
        if spec.nodelay_api {
            client.stream.set_nodelay(true).map_err(err)?;
        }
        let mut sent = 0;
        while next_batch(spec, share, sent) > 0 {
            let file;
            let body = match payload {
                Payload::Bytes(b) => b,
                Payload::File(p) => {
                    file = std::fs::read(p).map_err(err)?;
                    &file[..]
                }
            };
            let message = mail_send::smtp::message::Message::new(
                FROM,
                rcpts.iter().map(String::as_str),
                body,
            );
            client.send(message).await.map_err(err)?;
            sent += 1;
        }
        client.quit().await.map_err(err)?;
        Ok(Share {
            messages: sent,
            reads: None,
        })
    })
}

/// This process's peak resident set (VmHWM), in KiB.
pub(crate) fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's user + system CPU time (all threads), in seconds,
/// assuming the usual 100 clock ticks per second.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
