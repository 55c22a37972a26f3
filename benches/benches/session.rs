//! End to end, in criterion's terms: the sans-IO `Session` against an
//! in-memory server model (pure protocol CPU: no sockets, no threads), and
//! each client over loopback to the test server's sink. `Throughput`
//! is messages (`Elements`) for the 1 KiB cases and octets (`Bytes`) for
//! the 1 MiB ones.
//!
//! Run: `cargo bench -p smtp-benches --bench session`

#![allow(clippy::unwrap_used, clippy::expect_used)]
// The bench is the clock: the session under test never reads one.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use smtpkit_proto::{Address, BodyInfo, Envelope, Event, Host, Session, SessionConfig};

/// The server side, reduced to what a sink does: reply 250 to everything
/// (354 to DATA, 221 to QUIT), skip BDAT chunks and DATA content.
#[derive(Default)]
struct Sink {
    inbuf: Vec<u8>,
    data: bool,
    skip: usize,
    out: Vec<u8>,
    /// LMTP: one reply per recipient after the data.
    lmtp: bool,
    /// RCPTs of the current transaction.
    rcpts: usize,
}

impl Sink {
    fn feed(&mut self, mut bytes: &[u8]) {
        if self.inbuf.is_empty() {
            // Most flights end on a line boundary: no copy needed.
            self.scan(&mut bytes);
            self.inbuf.extend_from_slice(bytes);
        } else {
            self.inbuf.extend_from_slice(bytes);
            let pending = std::mem::take(&mut self.inbuf);
            let mut rest = &pending[..];
            self.scan(&mut rest);
            self.inbuf.extend_from_slice(rest);
        }
    }

    fn scan(&mut self, input: &mut &[u8]) {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(input.len());
                *input = &input[n..];
                self.skip -= n;
                if self.skip > 0 {
                    return;
                }
            }
            let Some(nl) = memchr::memchr(b'\n', input) else {
                return;
            };
            let line = &input[..nl.saturating_sub(1)];
            *input = &input[nl + 1..];
            if self.data {
                if line == b"." {
                    self.data = false;
                    let replies = if self.lmtp { self.rcpts } else { 1 };
                    for _ in 0..replies {
                        self.out.extend_from_slice(b"250 2.0.0 queued\r\n");
                    }
                }
                continue;
            }
            match line.get(..4) {
                Some(b"MAIL") => {
                    self.rcpts = 0;
                    self.out.extend_from_slice(b"250 ok\r\n");
                }
                Some(b"RCPT") => {
                    self.rcpts += 1;
                    self.out.extend_from_slice(b"250 ok\r\n");
                }
                Some(b"EHLO" | b"LHLO") => self.out.extend_from_slice(
                    b"250-sink.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 CHUNKING\r\n",
                ),
                Some(b"DATA") => {
                    self.data = true;
                    self.out.extend_from_slice(b"354 go\r\n");
                }
                Some(b"BDAT") => {
                    let size = line[5..]
                        .split(|&b| b == b' ')
                        .next()
                        .and_then(|n| std::str::from_utf8(n).ok())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    self.skip = size;
                    let last = line.ends_with(b" LAST");
                    let replies = if self.lmtp && last { self.rcpts } else { 1 };
                    for _ in 0..replies {
                        self.out.extend_from_slice(b"250 2.0.0 ok\r\n");
                    }
                }
                Some(b"QUIT") => self.out.extend_from_slice(b"221 bye\r\n"),
                _ => self.out.extend_from_slice(b"250 ok\r\n"),
            }
        }
    }
}

/// Connects a session to the sink, sends `count` messages of `body` to
/// `rcpts` recipients, and quits; returns the octets the client wrote.
fn run(count: usize, rcpts: usize, body: &[u8], chunking: bool) -> usize {
    let mut config = SessionConfig::new(Host::parse("client.example").unwrap(), "sink.example");
    config.options.chunking = chunking;
    config.options.send_partial = true;
    run_with(config, count, rcpts, body)
}

/// [`run`] with the default settings (`send_partial` off: DATA waits for
/// every RCPT reply) over DATA, over LMTP when `lmtp`.
fn run_default(count: usize, rcpts: usize, body: &[u8], lmtp: bool) -> usize {
    let mut config = SessionConfig::new(Host::parse("client.example").unwrap(), "sink.example");
    config.lmtp = lmtp;
    config.options.chunking = false;
    run_with(config, count, rcpts, body)
}

fn run_with(config: SessionConfig, count: usize, rcpts: usize, body: &[u8]) -> usize {
    let lmtp = config.lmtp;
    let now = Instant::now();
    let mut session = Session::new(Arc::new(config), now);
    let from = Address::parse("a@example.org").unwrap();
    let to: Vec<Address> = (0..rcpts)
        .map(|i| Address::parse(&format!("r{i}@example.net")).unwrap())
        .collect();
    let info = BodyInfo::of_bytes(body);
    for _ in 0..count {
        session
            .send(Envelope::new(from.clone(), to.iter().cloned()), info)
            .unwrap();
    }
    session.quit();
    let mut sink = Sink {
        lmtp,
        ..Sink::default()
    };
    sink.out.extend_from_slice(b"220 sink.example ESMTP\r\n");
    let mut written = 0;
    let mut flight = Vec::new();
    let mut pushed = 0;
    while !session.is_closed() {
        while let Some(request) = session.body_request() {
            let n = request.max_len.min(body.len() - pushed);
            let last = pushed + n == body.len();
            session
                .push_body(request.id, &body[pushed..pushed + n], last)
                .unwrap();
            pushed = if last { 0 } else { pushed + n };
        }
        if session.poll_transmit_into(now, &mut flight) {
            written += flight.len();
            sink.feed(&flight);
            flight.clear();
        }
        while let Some(event) = session.poll_event() {
            if let Event::Message { report, .. } = event {
                assert!(report.all_delivered());
                black_box(report);
            }
        }
        if !sink.out.is_empty() {
            let replies = std::mem::take(&mut sink.out);
            session.handle_input(now, &replies);
        }
    }
    written
}

fn session(c: &mut Criterion) {
    let small = smtp_benches::crlf_text(1024);
    let large = smtp_benches::crlf_text(1 << 20);
    let mut group = c.benchmark_group("session");
    group.measurement_time(Duration::from_secs(3));
    for (transfer, chunking) in [("data", false), ("bdat", true)] {
        for rcpts in [1, 50] {
            group.throughput(Throughput::Elements(100));
            group.bench_function(
                BenchmarkId::new(format!("1KiB_{rcpts}rcpt_{transfer}"), "100msgs"),
                |b| b.iter(|| run(100, rcpts, &small, chunking)),
            );
        }
        group.throughput(Throughput::Bytes(8 << 20));
        group.bench_function(
            BenchmarkId::new(format!("1MiB_1rcpt_{transfer}"), "8msgs"),
            |b| b.iter(|| run(8, 1, &large, chunking)),
        );
    }
    group.finish();
}

/// Cost per unit of work as the work grows: one message to more and more
/// recipients (over DATA and over LMTP, whose per-recipient replies after
/// the data are matched to recipients), and more and more messages queued
/// on one session. Throughput is recipients or messages, so a cost that
/// grows faster than the work shows as a falling rate along a group.
fn scaling(c: &mut Criterion) {
    let small = smtp_benches::crlf_text(60);
    let mut group = c.benchmark_group("scaling");
    group.measurement_time(Duration::from_secs(3));
    group.sample_size(10);
    for (name, lmtp) in [("rcpts_data", false), ("rcpts_lmtp", true)] {
        for rcpts in [1, 100, 1_000, 10_000, 100_000] {
            group.throughput(Throughput::Elements(rcpts as u64));
            group.bench_function(BenchmarkId::new(name, rcpts), |b| {
                b.iter(|| run_default(1, rcpts, &small, lmtp));
            });
        }
    }
    for messages in [1, 1_000, 100_000] {
        group.throughput(Throughput::Elements(messages as u64));
        group.bench_function(BenchmarkId::new("messages", messages), |b| {
            b.iter(|| run_default(messages, 1, &small, false));
        });
    }
    group.finish();
}

/// The clients over loopback to the test server's sink (one connection,
/// 100 pipelined 1 KiB messages per iteration).
fn clients(c: &mut Criterion) {
    let server =
        smtpkit_testserver::TestServer::start(smtpkit_testserver::Script::new().sink()).unwrap();
    let mut settings = smtpkit_blocking::ClientSettings::dangerous_plaintext("127.0.0.1");
    settings.port = Some(server.addr().port());
    settings.local_name = Some(Host::parse("client.example").unwrap());
    let body = smtp_benches::crlf_text(1024);
    let envelope = Envelope::new(
        Address::parse("a@example.org").unwrap(),
        [Address::parse("b@example.net").unwrap()],
    );
    let mut group = c.benchmark_group("client_loopback");
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(100));

    let mut blocking = smtpkit_blocking::Client::connect(&settings).unwrap();
    group.bench_function("blocking_1KiB_x100", |b| {
        b.iter(|| {
            let batch = (0..100)
                .map(|_| (envelope.clone(), smtpkit_blocking::Body::Bytes(&body)))
                .collect();
            for r in blocking.send_all(batch) {
                black_box(r.unwrap());
            }
        })
    });
    let _ = blocking.close();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut tokio_client = runtime
        .block_on(smtpkit_tokio::Client::connect(&settings))
        .unwrap();
    let bytes = bytes::Bytes::from(body.clone());
    group.bench_function("tokio_1KiB_x100", |b| {
        b.iter(|| {
            let batch = (0..100)
                .map(|_| (envelope.clone(), smtpkit_tokio::Body::Bytes(bytes.clone())))
                .collect();
            for r in runtime.block_on(tokio_client.send_all(batch)) {
                black_box(r.unwrap());
            }
        })
    });
    let _ = runtime.block_on(tokio_client.close());

    let mut smol_client = smol::block_on(smtpkit_smol::Client::connect(&settings)).unwrap();
    group.bench_function("smol_1KiB_x100", |b| {
        b.iter(|| {
            let batch = (0..100)
                .map(|_| (envelope.clone(), smtpkit_smol::Body::Bytes(bytes.clone())))
                .collect();
            for r in smol::block_on(smol_client.send_all(batch)) {
                black_box(r.unwrap());
            }
        })
    });
    let _ = smol::block_on(smol_client.close());
    group.finish();
}

criterion_group!(benches, session, scaling, clients);
criterion_main!(benches);
