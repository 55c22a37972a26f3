//! A standalone sink server for benchmarks and memory measurements:
//! accepts every message, keeps only counts, and prints them on exit.
//!
//! Run: `cargo run --release -p smtpkit-testserver --example sink -- [SECONDS]`
//! (prints the address, then serves for SECONDS, default 3600).

use std::time::Duration;

use smtpkit_testserver::{Script, TestServer};

fn main() -> std::io::Result<()> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    let script = Script::new()
        .extensions([
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            "DSN",
            "CHUNKING",
            "SIZE",
        ])
        .sink();
    let server = TestServer::start(script)?;
    println!("{}", server.addr());
    std::thread::sleep(Duration::from_secs(seconds));
    eprintln!(
        "messages: {}, octets: {}",
        server.messages(),
        server.octets()
    );
    Ok(())
}
