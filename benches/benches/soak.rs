//! A fault soak: messages with 1–50 recipients through the pool, on the
//! blocking and tokio clients, against the test server in chaos mode; then
//! every recipient of every message is reconciled with what the server
//! stored.
//!
//! ```text
//! cargo bench -p smtp-benches --bench soak -- [--messages N] [--runtime blocking|tokio|both]
//!     [--concurrency C] [--rate R] [--seed S] [--relays]
//! ```
//!
//! `--relays` sends through a `RelayPool` of three relays instead: the
//! first and third are chaotic, the second refuses its first connections
//! with 421 (down for a stretch); a recipient stored by any of them
//! counts, and the failovers and retries are counted.
//!
//! A recipient is *lost* when reported delivered but never stored,
//! *duplicated* when stored twice (a retry after an end of data that went
//! through), *contradicted* when reported refused or unsent (without "may
//! have been delivered") but stored. Each must be 0; the run exits 1
//! otherwise, or when file descriptors grew. Messages reported "may have
//! been delivered" are decided by the server's record.

#![allow(clippy::unwrap_used, clippy::expect_used)]
// A benchmark is the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use smtpkit_blocking::{ClientSettings, DeliveryReport, Envelope, Error, RecipientStatus};
use smtpkit_proto::Address;
use smtpkit_testserver::{Chaos, Fault, Script, TestServer};

struct Options {
    relays: bool,
    messages: u64,
    runtimes: Vec<&'static str>,
    concurrency: usize,
    rate: f64,
    seed: u64,
}

fn options() -> Options {
    let mut o = Options {
        relays: false,
        messages: 1_000_000,
        runtimes: vec!["blocking", "tokio"],
        concurrency: 16,
        rate: 0.002,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match arg.as_str() {
            "--messages" => o.messages = value().parse().expect("--messages N"),
            "--concurrency" => o.concurrency = value().parse().expect("--concurrency C"),
            "--rate" => o.rate = value().parse().expect("--rate R"),
            "--seed" => o.seed = value().parse().expect("--seed S"),
            "--relays" => o.relays = true,
            "--runtime" => {
                o.runtimes = match value().as_str() {
                    "blocking" => vec!["blocking"],
                    "tokio" => vec!["tokio"],
                    _ => vec!["blocking", "tokio"],
                }
            }
            // cargo bench passes --bench.
            _ => {}
        }
    }
    o
}

/// What the client reported for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Delivered,
    NotDelivered,
    MayHaveBeenDelivered,
}

struct Outcome {
    id: u64,
    /// Per recipient index.
    said: Vec<Said>,
    /// False when the result named no recipient (an error without a
    /// report): a recipient not accounted for.
    accounted: bool,
}

fn recipients_of(id: u64) -> usize {
    // 1–50, deterministic per message.
    (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % 50 + 1
}

fn envelope(id: u64) -> Envelope {
    Envelope::new(
        Address::parse("soak@client.example").unwrap(),
        (0..recipients_of(id)).map(|j| Address::parse(&format!("r{j}.m{id}@example.org")).unwrap()),
    )
}

fn body(id: u64) -> Vec<u8> {
    format!("X-Soak-Id: {id}\r\nSubject: soak\r\n\r\nsoak message {id}\r\n").into_bytes()
}

fn outcome(id: u64, result: &Result<DeliveryReport, Error>) -> Outcome {
    let n = recipients_of(id);
    let report = match result {
        Ok(report) => Some(report),
        Err(e) => e.report(),
    };
    let may_have = report.is_some_and(DeliveryReport::may_have_been_delivered);
    let said = match report {
        Some(report) => report
            .recipients
            .iter()
            .map(|r| match r.status {
                RecipientStatus::Delivered(_) => Said::Delivered,
                RecipientStatus::Unsent(_) | RecipientStatus::AcceptedUnsent(_) if may_have => {
                    Said::MayHaveBeenDelivered
                }
                _ => Said::NotDelivered,
            })
            .collect(),
        None => Vec::new(),
    };
    let accounted = said.len() == n;
    if !accounted {
        eprintln!("message {id}: not every recipient in the result: {result:?}");
    }
    let said = if accounted {
        said
    } else {
        vec![Said::NotDelivered; n]
    };
    Outcome {
        id,
        said,
        accounted,
    }
}

/// What a relay set reported for one message.
fn relay_outcome(
    id: u64,
    result: &Result<smtpkit_blocking::relay::RelayReport, Error>,
    counts: &RelayCounts,
) -> Outcome {
    use smtpkit_blocking::relay::Outcome as O;
    let n = recipients_of(id);
    let said: Vec<Said> = match result {
        Ok(report) => {
            counts
                .sends
                .fetch_add(u64::from(report.sends), Ordering::Relaxed);
            counts
                .failovers
                .fetch_add(report.failovers() as u64, Ordering::Relaxed);
            report
                .recipients
                .iter()
                .map(|r| match r.outcome {
                    O::Delivered { .. } => Said::Delivered,
                    O::Unknown { .. } => Said::MayHaveBeenDelivered,
                    _ => Said::NotDelivered,
                })
                .collect()
        }
        Err(e) => {
            eprintln!("message {id}: {e}");
            Vec::new()
        }
    };
    let accounted = said.len() == n;
    Outcome {
        id,
        said: if accounted {
            said
        } else {
            vec![Said::NotDelivered; n]
        },
        accounted,
    }
}

/// Sends and failovers over a relay run.
#[derive(Default)]
struct RelayCounts {
    sends: AtomicU64,
    failovers: AtomicU64,
}

#[derive(Default)]
struct Tally {
    messages: u64,
    recipients: u64,
    delivered: u64,
    ambiguous: u64,
    lost: u64,
    duplicated: u64,
    contradicted: u64,
    late_stores: u64,
    unaccounted: u64,
}

/// The server's stores, by message id: per recipient, how many times.
#[derive(Default)]
struct Stores(HashMap<u64, Vec<u8>>);

impl Stores {
    fn drain(&mut self, server: &TestServer, done: &[u64], tally: &mut Tally) {
        for t in server.take_transactions() {
            let id: u64 = std::str::from_utf8(&t.data)
                .ok()
                .and_then(|d| d.strip_prefix("X-Soak-Id: "))
                .and_then(|d| d.split("\r\n").next())
                .and_then(|d| d.parse().ok())
                .expect("a soak message");
            if done[(id / 64) as usize] & (1 << (id % 64)) != 0 {
                // Stored after its outcome was reported.
                tally.late_stores += 1;
                continue;
            }
            let counts = self
                .0
                .entry(id)
                .or_insert_with(|| vec![0; recipients_of(id)]);
            for r in &t.rcpt_to {
                let j: usize = r[1..r.find('.').unwrap()].parse().unwrap();
                counts[j] = counts[j].saturating_add(1);
            }
        }
    }
}

fn reconcile(outcome: &Outcome, stores: &mut Stores, tally: &mut Tally) {
    let counts = stores
        .0
        .remove(&outcome.id)
        .unwrap_or_else(|| vec![0; outcome.said.len()]);
    tally.messages += 1;
    if !outcome.accounted {
        tally.unaccounted += 1;
    }
    for (said, &stored) in outcome.said.iter().zip(&counts) {
        tally.recipients += 1;
        if stored > 1 {
            tally.duplicated += 1;
        }
        match said {
            Said::Delivered if stored == 0 => tally.lost += 1,
            Said::Delivered => tally.delivered += 1,
            Said::NotDelivered if stored > 0 => tally.contradicted += 1,
            Said::MayHaveBeenDelivered => tally.ambiguous += 1,
            Said::NotDelivered => {}
        }
    }
}

fn settings(server: &TestServer) -> ClientSettings {
    let mut s = ClientSettings::dangerous_plaintext("127.0.0.1");
    s.port = Some(server.addr().port());
    s.local_name = Some("client.example".parse().unwrap());
    s.session.send_partial = true;
    s.session.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(2));
    s
}

fn relay_set(servers: &[TestServer]) -> smtpkit_blocking::relay::RelaySet {
    use smtpkit_blocking::relay::{Relay, RelayPolicy, RelaySet};
    RelaySet::new(servers.iter().map(|s| Relay::new(settings(s)))).with_policy(
        RelayPolicy::default()
            .with_backoff(Duration::from_millis(2))
            .with_cool_down(Duration::from_millis(200)),
    )
}

fn pool_config(concurrency: usize) -> smtpkit_blocking::PoolConfig {
    let mut c = smtpkit_blocking::PoolConfig::default();
    c.max_connections = concurrency;
    c.retries = 3;
    c.retry_backoff = Duration::from_millis(2);
    c
}

fn status_value(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Sends `o.messages` messages on `runtime`; the outcomes arrive on the
/// channel as they complete.
fn spawn_senders(
    runtime: &'static str,
    o: &Options,
    servers: &[TestServer],
    tx: mpsc::Sender<Outcome>,
    counts: &Arc<RelayCounts>,
) -> std::thread::JoinHandle<()> {
    let next = Arc::new(AtomicU64::new(0));
    let total = o.messages;
    let concurrency = o.concurrency;
    if o.relays {
        return spawn_relay_senders(runtime, o, relay_set(servers), tx, counts);
    }
    let settings = settings(&servers[0]);
    std::thread::spawn(move || match runtime {
        "blocking" => {
            let pool = smtpkit_blocking::Pool::new(settings, pool_config(concurrency));
            let threads: Vec<_> = (0..concurrency)
                .map(|_| {
                    let (pool, next, tx) = (pool.clone(), Arc::clone(&next), tx.clone());
                    std::thread::spawn(move || {
                        loop {
                            let id = next.fetch_add(1, Ordering::Relaxed);
                            if id >= total {
                                return;
                            }
                            let result = pool.send(envelope(id), &body(id));
                            let _ = tx.send(outcome(id, &result));
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            pool.close();
        }
        _ => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let pool = smtpkit_tokio::Pool::new(settings, pool_config(concurrency));
                let tasks: Vec<_> = (0..concurrency)
                    .map(|_| {
                        let (pool, next, tx) = (pool.clone(), Arc::clone(&next), tx.clone());
                        tokio::spawn(async move {
                            loop {
                                let id = next.fetch_add(1, Ordering::Relaxed);
                                if id >= total {
                                    return;
                                }
                                let result = pool.send(envelope(id), body(id)).await;
                                let _ = tx.send(outcome(id, &result));
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                pool.close().await;
            });
        }
    })
}

/// [`spawn_senders`] through a relay pool.
fn spawn_relay_senders(
    runtime: &'static str,
    o: &Options,
    set: smtpkit_blocking::relay::RelaySet,
    tx: mpsc::Sender<Outcome>,
    counts: &Arc<RelayCounts>,
) -> std::thread::JoinHandle<()> {
    let next = Arc::new(AtomicU64::new(0));
    let total = o.messages;
    let concurrency = o.concurrency;
    let counts = Arc::clone(counts);
    std::thread::spawn(move || match runtime {
        "blocking" => {
            let pool = smtpkit_blocking::RelayPool::new(set, pool_config(concurrency));
            std::thread::scope(|scope| {
                for _ in 0..concurrency {
                    scope.spawn(|| {
                        loop {
                            let id = next.fetch_add(1, Ordering::Relaxed);
                            if id >= total {
                                return;
                            }
                            let result = pool.send(envelope(id), &body(id));
                            let _ = tx.send(relay_outcome(id, &result, &counts));
                        }
                    });
                }
            });
            pool.close();
        }
        _ => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let pool = smtpkit_tokio::RelayPool::new(set, pool_config(concurrency));
                let tasks: Vec<_> = (0..concurrency)
                    .map(|_| {
                        let (pool, next, tx, counts) = (
                            pool.clone(),
                            Arc::clone(&next),
                            tx.clone(),
                            Arc::clone(&counts),
                        );
                        tokio::spawn(async move {
                            loop {
                                let id = next.fetch_add(1, Ordering::Relaxed);
                                if id >= total {
                                    return;
                                }
                                let result = pool.send(envelope(id), body(id)).await;
                                let _ = tx.send(relay_outcome(id, &result, &counts));
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
                pool.close().await;
            });
        }
    })
}

/// The servers of a run: one chaotic server, or (`--relays`) two chaotic
/// ones around a relay that refuses its first connections with 421.
fn servers(o: &Options) -> Vec<TestServer> {
    let chaotic = |seed: u64| {
        let mut chaos = Chaos::uniform(seed, o.rate);
        chaos.withhold = o.rate / 50.0;
        TestServer::start(Script::new().chaos(chaos).without_command_log()).unwrap()
    };
    if !o.relays {
        return vec![chaotic(o.seed)];
    }
    // Down for a stretch: its first connections (a few per cool-down, as
    // the breaker lets them through) are refused.
    let down = TestServer::start(
        Script::new()
            .rule_times(
                smtpkit_testserver::When::Connect,
                smtpkit_testserver::Action::reply("421 4.3.2 down for maintenance\r\n"),
                (o.messages / 10_000).clamp(5, 200) as usize,
            )
            .without_command_log(),
    )
    .unwrap();
    // The down relay second: the first's failures send traffic to it,
    // and while it is down, on to the third.
    vec![chaotic(o.seed), down, chaotic(o.seed + 1)]
}

fn soak(runtime: &'static str, o: &Options) -> bool {
    let servers = servers(o);
    let counts = Arc::new(RelayCounts::default());
    let fds_before = open_fds();
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let senders = spawn_senders(runtime, o, &servers, tx, &counts);
    let mut done = vec![0u64; (o.messages / 64 + 1) as usize];
    let mut stores = Stores::default();
    let mut tally = Tally::default();
    let mut rss_samples = Vec::new();
    let mut batch = Vec::with_capacity(1024);
    let mut finished = false;
    while !finished {
        let mut idle = false;
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(outcome) => batch.push(outcome),
            Err(mpsc::RecvTimeoutError::Timeout) => idle = true,
            Err(mpsc::RecvTimeoutError::Disconnected) => finished = true,
        }
        if batch.len() >= 1000 || finished || (idle && !batch.is_empty()) {
            // Every store of these messages happened before their outcome.
            for server in &servers {
                stores.drain(server, &done, &mut tally);
            }
            for outcome in batch.drain(..) {
                reconcile(&outcome, &mut stores, &mut tally);
                done[(outcome.id / 64) as usize] |= 1 << (outcome.id % 64);
            }
            let step = (o.messages / 10).max(1);
            if tally.messages / step > rss_samples.len() as u64 {
                rss_samples.push(status_value("VmRSS:"));
            }
        }
    }
    senders.join().unwrap();
    for server in &servers {
        stores.drain(server, &done, &mut tally);
    }
    let wall = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let fds_after = open_fds();
    let connections: usize = servers.iter().map(TestServer::connections).sum();
    let mut faults: Vec<(Fault, u64)> = Vec::new();
    for (fault, n) in servers.iter().flat_map(TestServer::faults) {
        match faults.iter_mut().find(|(f, _)| *f == fault) {
            Some((_, total)) => *total += n,
            None => faults.push((fault, n)),
        }
    }
    let per_relay: Vec<usize> = servers.iter().map(TestServer::connections).collect();
    drop(servers);

    let injected: u64 = faults.iter().map(|(_, n)| n).sum();
    // Faults that end a connection (refusals do not).
    let connection_faults: u64 = faults
        .iter()
        .filter(|(f, _)| {
            !matches!(
                f,
                Fault::RecipientTemporary | Fault::RecipientPermanent | Fault::TemporaryAtEndOfData
            )
        })
        .map(|(_, n)| n)
        .sum();
    println!(
        "## soak: {runtime}{}",
        if o.relays {
            " through three relays"
        } else {
            ""
        }
    );
    if o.relays {
        println!(
            "sends {} (retries {}), failovers {}, connections per relay {per_relay:?}",
            counts.sends.load(Ordering::Relaxed),
            counts
                .sends
                .load(Ordering::Relaxed)
                .saturating_sub(tally.messages),
            counts.failovers.load(Ordering::Relaxed)
        );
    }
    println!(
        "messages {} recipients {} delivered {} may-have-been-delivered {}",
        tally.messages, tally.recipients, tally.delivered, tally.ambiguous
    );
    println!(
        "LOST {} DUPLICATED {} CONTRADICTED {} stored after the report {} unaccounted {}",
        tally.lost, tally.duplicated, tally.contradicted, tally.late_stores, tally.unaccounted
    );
    println!(
        "connections {connections} ({:.2} % ended by a fault), faults injected {injected}:",
        100.0 * connection_faults as f64 / connections.max(1) as f64
    );
    for (fault, n) in &faults {
        println!("  {:<28} {n}", fault.name());
    }
    println!(
        "wall {:.1} s, {:.0} messages/s, peak RSS {} KiB, RSS samples (KiB) {:?}",
        wall.as_secs_f64(),
        tally.messages as f64 / wall.as_secs_f64(),
        status_value("VmHWM:"),
        rss_samples
    );
    println!("open fds: before {fds_before}, after {fds_after}");
    let ok = tally.lost == 0
        && tally.duplicated == 0
        && tally.contradicted == 0
        && tally.late_stores == 0
        && tally.unaccounted == 0
        && tally.messages == o.messages
        && fds_after <= fds_before + 2;
    println!("{}", if ok { "OK" } else { "FAILED" });
    ok
}

fn main() {
    let o = options();
    let mut ok = true;
    for runtime in o.runtimes.clone() {
        ok &= soak(runtime, &o);
    }
    if !ok {
        std::process::exit(1);
    }
}
