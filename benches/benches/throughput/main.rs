//! End-to-end throughput: our client on every runtime (blocking, tokio,
//! smol) against `lettre` and `mail-send`, each sending to the same sinks
//! (smtp-testkit's sink mode and Postfix's `smtp-sink`), with Postfix's
//! `smtp-source` as the reference sender.
//!
//! Run everything with `scripts/bench-throughput.sh` (it compiles the
//! TCP_NODELAY `LD_PRELOAD` shim and starts `smtp-sink`). By hand:
//!
//! ```text
//! cargo bench -p smtp-benches --bench throughput -- all [--postfix-sink ADDR] [--shim SO] ...
//! cargo bench -p smtp-benches --bench throughput -- sink
//! cargo bench -p smtp-benches --bench throughput -- client --client ours-blocking --addr ADDR ...
//! ```
//!
//! `all` runs each client in a subprocess of this binary (`client` mode),
//! so every run's peak RSS (VmHWM) and CPU time are its own; `sink` runs
//! the testkit sink as a separate process. Without a mode (as `cargo bench
//! --workspace` runs it) it prints the usage and exits.

mod clients;
mod orchestrate;

use std::collections::HashMap;
use std::process::ExitCode;

const USAGE: &str = "\
usage: throughput MODE [OPTIONS]   (cargo bench -p smtp-benches --bench throughput -- MODE ...)

modes:
  all      run every sink x scenario x client, print a Markdown table, write JSON
           --postfix-sink ADDR   Postfix smtp-sink to use as well (started by the script)
           --shim PATH           LD_PRELOAD shim that sets TCP_NODELAY on connect()
           --smtp-source PATH    Postfix smtp-source (default /usr/sbin/smtp-source)
           --json PATH           where to write the results (default target/throughput.json)
           --big-file PATH       the 64 MiB message file (made when missing)
           --small N             1 KiB messages, one connection       (default 2000)
           --rcpt50 N            1 KiB messages with 50 recipients    (default 200)
           --large N             1 MiB messages                       (default 100)
           --big N               64 MiB messages from the file        (default 1)
           --concurrent N        1 KiB messages over 4 connections    (default 4000)
           --batch N             messages per send_all call           (default 64)
           --max-seconds S       stop a run after the batch that passes S seconds (default 5)
           --repeat N            runs per client (median reported) when a run takes < 2 s (default 3)
           --scenarios LIST      comma-separated subset of small,rcpt50,large,big,concurrent
           --clients LIST        comma-separated subset of the client names
           --sinks LIST          comma-separated subset of testkit,postfix
           --postfix-sink-pid P  smtp-sink's pid, to report its CPU time per run
           --pin C,S             run clients on CPU C and the sinks on CPU S with taskset
                                 (default 0,1 on 2+ CPUs; none: let the scheduler place them)
  sink     run smtp-testkit's sink; print its address; exit when stdin closes
  client   run one client once and print one JSON line
           --client NAME --addr ADDR [--size BYTES] [--rcpts N] [--count N]
           [--conns N] [--file PATH] [--batch N] [--max-seconds S] [--nodelay-api]
           [--send-partial]

clients: ours-blocking ours-tokio ours-smol lettre mail-send (mail-send takes
--nodelay-api: its SmtpClient's stream is a public tokio TcpStream; ours take
--send-partial: mail.smtp.sendpartial, which lets DATA/BDAT ride with the RCPTs)
";

/// `--key value` options (and bare `--flag`s) after the mode.
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    fn parse(args: &[String]) -> Result<Args, String> {
        let mut values = HashMap::new();
        let mut i = 0;
        while i < args.len() {
            let Some(key) = args[i].strip_prefix("--") else {
                return Err(format!("unexpected argument {:?}", args[i]));
            };
            match args.get(i + 1) {
                Some(v) if !v.starts_with("--") => {
                    values.insert(key.to_owned(), v.clone());
                    i += 2;
                }
                _ => {
                    values.insert(key.to_owned(), String::new());
                    i += 1;
                }
            }
        }
        Ok(Args { values })
    }

    /// The value of `--key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Whether `--key` was given.
    pub fn flag(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// `--key` parsed, or `default`.
    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("--{key}: bad number {v:?}")),
        }
    }
}

fn main() -> ExitCode {
    // cargo passes `--bench` to a harness-less bench target; ignore it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some((mode, rest)) = args.split_first() else {
        print!("{USAGE}");
        println!("(no mode given: nothing run; scripts/bench-throughput.sh runs the benchmark)");
        return ExitCode::SUCCESS;
    };
    let result = Args::parse(rest).and_then(|args| match mode.as_str() {
        "all" => orchestrate::run(&args),
        "sink" => orchestrate::sink(),
        "client" => clients::main(&args),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown mode {other:?}\n{USAGE}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("throughput: {e}");
            ExitCode::FAILURE
        }
    }
}
