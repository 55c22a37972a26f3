//! Replays every committed cargo-fuzz corpus file (and every crash
//! artifact saved under `fuzz/regressions/`) through the same invariant
//! checks the fuzz targets run, so the corpus is a regression suite on a
//! stable toolchain with plain `cargo test`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use smtp_fuzz_harness as fuzz_harness;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable corpus directory").path();
            let data = std::fs::read(&path).expect("readable corpus file");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: invariant failed on {}",
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus for fuzz target {target}");
}

#[test]
fn reply_corpus() {
    replay("reply", fuzz_harness::reply);
}

#[test]
fn ehlo_corpus() {
    replay("ehlo", fuzz_harness::ehlo);
}

#[test]
fn command_corpus() {
    replay("command", fuzz_harness::command);
}

#[test]
fn xtext_corpus() {
    replay("xtext", fuzz_harness::xtext);
}

#[test]
fn body_corpus() {
    replay("body", fuzz_harness::body);
}

#[test]
fn address_corpus() {
    replay("address", fuzz_harness::address);
}

#[test]
fn session_corpus() {
    replay("session", fuzz_harness::session);
}

#[test]
fn bdat_corpus() {
    replay("bdat", fuzz_harness::bdat);
}

#[test]
fn reply_round_trip_corpus() {
    replay("reply_round_trip", fuzz_harness::reply_round_trip);
}

#[test]
fn session_script_corpus() {
    replay("session_script", fuzz_harness::session_script);
}

#[test]
fn driver_corpus() {
    replay("driver", fuzz_harness::driver);
}

#[test]
fn message_corpus() {
    replay("message", fuzz_harness::message);
}
