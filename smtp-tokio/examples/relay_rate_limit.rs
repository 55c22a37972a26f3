//! A relay's rate limit under load: 100 tasks share one `RelayPool`
//! whose relay allows RATE messages per second, for SECONDS seconds,
//! against the in-process test server. Prints the rate achieved and the
//! waits the reports counted; fails when the steady rate (after the
//! bucket's first full second, its burst) is off by more than 5 %.
//!
//! `cargo run -p smtpkit-tokio --example relay_rate_limit -- [RATE] [SECONDS]`
//! (50 and 60 by default; `scripts/rate-limit-check.sh` runs it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smtpkit_testserver::{Script, TestServer};
use smtpkit_tokio::relay::{Rate, Relay, RelaySet};
use smtpkit_tokio::{ClientSettings, PoolConfig, RelayPool};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rate: u32 = args.next().map_or(Ok(50), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(60), |a| a.parse())?;
    let server = TestServer::start(Script::new())?;
    let mut settings = ClientSettings::dangerous_plaintext("127.0.0.1");
    settings.port = Some(server.addr().port());
    let set = RelaySet::new([Relay::new(settings).with_rate(Rate::per_second(rate))]);
    let pool = RelayPool::new(set, PoolConfig::default().with_max_connections(8));

    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let sent = Arc::new(AtomicU64::new(0));
    let after_burst = Arc::new(AtomicU64::new(0));
    let waits = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..100 {
        let (pool, sent, after_burst, waits) = (
            pool.clone(),
            sent.clone(),
            after_burst.clone(),
            waits.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < end {
                let message = format!(
                    "From: me@example.org\r\nTo: user{task}@example.net\r\nSubject: {task}-{i}\r\n\r\nHi.\r\n"
                );
                let report = pool
                    .send_message(message.into_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                if !report.all_delivered() {
                    return Err(format!("not delivered: {report:?}"));
                }
                waits.fetch_add(u64::from(report.rate_waits), Ordering::Relaxed);
                let done = Instant::now();
                if done <= end {
                    sent.fetch_add(1, Ordering::Relaxed);
                    if done >= started + Duration::from_secs(1) {
                        after_burst.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
            Ok::<(), String>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    pool.close().await;
    let sent = sent.load(Ordering::Relaxed);
    let steady = after_burst.load(Ordering::Relaxed) as f64 / (seconds - 1) as f64;
    let ratio = steady / f64::from(rate);
    println!(
        "rate limit {rate}/s, {seconds} s, 100 tasks: {sent} messages ({:.2}/s overall, \
         {steady:.2}/s after the first second: {:.1} % of the limit); {} waits for a slot",
        sent as f64 / seconds as f64,
        ratio * 100.0,
        waits.load(Ordering::Relaxed)
    );
    if (ratio - 1.0).abs() > 0.05 {
        return Err(format!("the steady rate is {:.1} % of the limit", ratio * 100.0).into());
    }
    Ok(())
}
