//! A relay set against real servers: Postfix first, Exim second, Postfix
//! stopped a third of the way into the run and started again at two
//! thirds. Run by `scripts/relay-failover-check.sh`, which starts both,
//! passes the commands that stop and start Postfix, and then finds every
//! message in the two servers' deliveries by its Message-ID; without it
//! the test says it was skipped.

// A test: a panic is its failure.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use smtpkit_blocking::relay::{Outcome, Relay, RelayPolicy, RelaySet};
use smtpkit_blocking::{Body, ClientSettings, PoolConfig, RelayPool};

fn relay(addr: &str) -> Relay {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let mut s = ClientSettings::dangerous_plaintext(host);
    s.port = Some(port.parse().unwrap());
    s.connect_timeout = Duration::from_secs(5);
    s.session.timeouts = smtpkit_proto::Timeouts::uniform(Duration::from_secs(30));
    Relay::new(s)
}

fn run(command: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .unwrap();
    assert!(status.success(), "{command}: {status}");
}

#[test]
fn postfix_then_exim_with_postfix_stopped_midway() {
    let (Ok(postfix), Ok(exim)) = (
        std::env::var("SMTP_RELAY_POSTFIX"),
        std::env::var("SMTP_RELAY_EXIM"),
    ) else {
        eprintln!("skipped: no Postfix and Exim (scripts/relay-failover-check.sh starts them)");
        return;
    };
    let stop = std::env::var("SMTP_RELAY_STOP").unwrap();
    let start = std::env::var("SMTP_RELAY_START").unwrap();
    let report_path = std::env::var("SMTP_RELAY_REPORT").unwrap();
    let total: usize = std::env::var("SMTP_RELAY_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    let set = RelaySet::new([relay(&postfix), relay(&exim)]).with_policy(
        RelayPolicy::default()
            .with_cool_down(Duration::from_secs(2))
            .with_backoff(Duration::from_millis(200)),
    );
    let pool = RelayPool::new(set, PoolConfig::default().with_max_connections(8));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let results = std::thread::scope(|scope| {
        // Stops Postfix at a third, starts it again at two thirds.
        scope.spawn(|| {
            while done.load(Ordering::SeqCst) < total / 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            run(&stop);
            eprintln!(
                "Postfix stopped after {} messages",
                done.load(Ordering::SeqCst)
            );
            while done.load(Ordering::SeqCst) < total * 2 / 3 {
                std::thread::sleep(Duration::from_millis(5));
            }
            run(&start);
            eprintln!(
                "Postfix started after {} messages",
                done.load(Ordering::SeqCst)
            );
        });
        let senders: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= total {
                            return mine;
                        }
                        let message = format!(
                            "From: <sender@example.org>\r\nTo: <rcpt@example.org>\r\n\
                             Subject: failover {i}\r\nMessage-ID: <failover-{i}@relay.test>\r\n\r\n\
                             message {i}\r\n"
                        );
                        let report = pool.send_message(Body::Bytes(message.as_bytes()));
                        done.fetch_add(1, Ordering::SeqCst);
                        mine.push((i, report));
                    }
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect::<Vec<_>>()
    });
    pool.close();
    let elapsed = started.elapsed();
    // One line per message for the script: index, outcome, relay.
    let mut out = std::fs::File::create(&report_path).unwrap();
    let (mut delivered, mut unknown, mut deferred, mut other, mut failovers, mut sends) =
        (0, 0, 0, 0, 0, 0);
    for (i, report) in &results {
        let report = report.as_ref().unwrap();
        failovers += report.failovers();
        sends += report.sends as usize;
        let r = &report.recipients[0];
        let status = match r.outcome {
            Outcome::Delivered { .. } => {
                delivered += 1;
                "delivered"
            }
            Outcome::Unknown { .. } => {
                unknown += 1;
                "unknown"
            }
            Outcome::Deferred { .. } => {
                deferred += 1;
                "deferred"
            }
            _ => {
                other += 1;
                "other"
            }
        };
        writeln!(out, "{i} {status} {}", r.relay.as_deref().unwrap_or("-")).unwrap();
    }
    eprintln!(
        "relay set: {total} messages in {elapsed:.1?}: delivered {delivered}, unknown {unknown}, \
         deferred {deferred}, other {other}; {sends} sends, {failovers} failovers"
    );
    assert_eq!(results.len(), total);
    assert_eq!(other, 0);
}
