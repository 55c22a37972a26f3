//! Bulk mode: `--count N` sends the message N times over `--connections C`
//! concurrent connections, each pipelining its share in batches (a
//! message's envelope rides with the previous end of data).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;
use smtpkit_blocking::ClientSettings;
use smtpkit_proto::Envelope;

use crate::cli::Cli;
use crate::conn::{self, RuntimeKind};
use crate::{Fail, exit};

/// Messages queued on a connection at once.
const BATCH: u64 = 64;

struct Tally {
    sent: u64,
    failed: u64,
    error: Option<String>,
}

pub(crate) fn run(
    cli: &Cli,
    settings: &ClientSettings,
    runtime: RuntimeKind,
    envelope: Envelope,
    data: Vec<u8>,
    count: u64,
) -> Result<u8, Fail> {
    let connections = cli.connections.max(1) as u64;
    let data = Bytes::from(data);
    let progress = if std::io::stderr().is_terminal() && !cli.json {
        indicatif::ProgressBar::new(count)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let progress = Arc::new(progress);
    let started = Instant::now();
    let handles: Vec<_> = (0..connections)
        .map(|i| {
            let share = count / connections + u64::from(i < count % connections);
            let (settings, envelope, data, progress) = (
                settings.clone(),
                envelope.clone(),
                data.clone(),
                Arc::clone(&progress),
            );
            std::thread::spawn(move || {
                connection(runtime, &settings, &envelope, &data, share, &progress)
            })
        })
        .collect();
    let mut total = Tally {
        sent: 0,
        failed: 0,
        error: None,
    };
    let mut errors = Vec::new();
    for handle in handles {
        let tally = handle.join().map_err(|_| fail_internal())?;
        total.sent += tally.sent;
        total.failed += tally.failed;
        errors.extend(tally.error);
    }
    progress.finish_and_clear();
    let summary = Summary {
        sent: total.sent,
        failed: total.failed,
        seconds: started.elapsed().as_secs_f64(),
        octets: data.len() as u64,
        runtime,
        connections,
    };
    summary.print(cli.json, &errors);
    Ok(if total.failed == 0 {
        exit::OK
    } else {
        exit::TEMPFAIL
    })
}

/// One connection's share: sent in batches of [`BATCH`], each pipelined.
fn connection(
    runtime: RuntimeKind,
    settings: &ClientSettings,
    envelope: &Envelope,
    data: &Bytes,
    share: u64,
    progress: &indicatif::ProgressBar,
) -> Tally {
    let mut tally = Tally {
        sent: 0,
        failed: 0,
        error: None,
    };
    let mut client = match conn::connect(runtime, settings, None) {
        Ok(c) => c,
        Err(e) => {
            tally.failed = share;
            tally.error = Some(e.error.chain());
            return tally;
        }
    };
    let mut left = share;
    while left > 0 {
        let n = left.min(BATCH);
        let batch = (0..n).map(|_| (envelope.clone(), data.clone())).collect();
        for result in client.send_all(batch) {
            match result {
                Ok(report) if report.all_delivered() => tally.sent += 1,
                Ok(report) => {
                    tally.failed += 1;
                    if let Some(why) = &report.failure {
                        tally.error.get_or_insert(why.to_string());
                    }
                }
                Err(e) => {
                    tally.failed += 1;
                    tally.error.get_or_insert(e.chain());
                }
            }
        }
        progress.inc(n);
        left -= n;
    }
    client.close();
    tally
}

/// What a bulk run did, as it reports it.
struct Summary {
    sent: u64,
    failed: u64,
    seconds: f64,
    /// Of one message.
    octets: u64,
    runtime: RuntimeKind,
    connections: u64,
}

impl Summary {
    /// The JSON object with `--json`, and the summary line and the errors
    /// on standard error.
    fn print(&self, json: bool, errors: &[String]) {
        let Summary {
            sent,
            failed,
            seconds,
            octets,
            runtime,
            connections,
        } = *self;
        let per_second = sent as f64 / seconds;
        let bytes_per_second = (sent * octets) as f64 / seconds;
        if json {
            println!(
                "{}",
                json!({
                    "messages": sent,
                    "seconds": seconds,
                    "messages_per_second": per_second,
                    "bytes_per_second": bytes_per_second,
                    "failed": failed,
                    "runtime": format!("{runtime:?}").to_lowercase(),
                    "connections": connections,
                    "errors": errors,
                })
            );
        }
        eprintln!(
            "sent {sent} messages ({failed} failed) in {seconds:.3} s over {connections} connection(s): \
             {per_second:.0} messages/s, {:.1} MB/s",
            bytes_per_second / 1e6
        );
        for e in errors {
            eprintln!("smtp-send: {e}");
        }
    }
}

fn fail_internal() -> Fail {
    crate::fail(exit::UNAVAILABLE, "a sending thread panicked")
}
