//! `all` mode: every sink × scenario × client, each client run in a
//! subprocess of this binary (with the TCP_NODELAY shim preloaded where
//! asked), Postfix's `smtp-source` timed as the reference, then a Markdown
//! table, the issue's targets, and a JSON file. `sink` mode: the testkit
//! sink as a process of its own.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use smtpkit_testserver::{Script, TestServer};

use crate::Args;
use crate::clients::{FROM, message};

/// `sink` mode: smtp-testkit's sink mode on an ephemeral loopback port.
/// Prints the address, serves until stdin closes, then prints its counts.
pub(crate) fn sink() -> Result<(), String> {
    let server = TestServer::start(Script::new().sink()).map_err(|e| e.to_string())?;
    println!("{}", server.addr());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    // (Its octet count stays 0 in sink mode, which keeps no content.)
    eprintln!(
        "testkit sink: {} connections, {} messages accepted",
        server.connections(),
        server.messages(),
    );
    Ok(())
}

struct Scenario {
    key: &'static str,
    title: &'static str,
    size: usize,
    rcpts: usize,
    count: u64,
    conns: u64,
    file: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    SmtpSource,
    Client {
        name: &'static str,
        /// LD_PRELOAD the TCP_NODELAY shim.
        shim: bool,
        /// `--nodelay-api` (mail-send).
        nodelay_api: bool,
        /// `--send-partial` (ours).
        send_partial: bool,
    },
}

struct Variant {
    label: &'static str,
    kind: Kind,
    /// Run in this scenario only.
    only: Option<&'static str>,
}

const fn client(label: &'static str, name: &'static str) -> Variant {
    Variant {
        label,
        kind: Kind::Client {
            name,
            shim: false,
            nodelay_api: false,
            send_partial: false,
        },
        only: None,
    }
}

const VARIANTS: &[Variant] = &[
    Variant {
        label: "smtp-source",
        kind: Kind::SmtpSource,
        only: None,
    },
    client("lettre", "lettre"),
    Variant {
        label: "lettre+nodelay",
        kind: Kind::Client {
            name: "lettre",
            shim: true,
            nodelay_api: false,
            send_partial: false,
        },
        only: None,
    },
    client("mail-send", "mail-send"),
    Variant {
        label: "mail-send+nodelay",
        kind: Kind::Client {
            name: "mail-send",
            shim: false,
            nodelay_api: true,
            send_partial: false,
        },
        only: None,
    },
    client("ours-blocking", "ours-blocking"),
    client("ours-tokio", "ours-tokio"),
    client("ours-smol", "ours-smol"),
    // Not a target row: what mail.smtp.sendpartial (DATA/BDAT pipelined
    // with the RCPTs) does to the 50-recipient case.
    Variant {
        label: "ours-blocking+sendpartial",
        kind: Kind::Client {
            name: "ours-blocking",
            shim: false,
            nodelay_api: false,
            send_partial: true,
        },
        only: Some("rcpt50"),
    },
];

const OURS: &[&str] = &["ours-blocking", "ours-tokio", "ours-smol"];
const LETTRE_REF: &str = "lettre+nodelay";
const SOURCE_REF: &str = "smtp-source";

/// Round trips per message the protocol takes, for the clients whose
/// reads are not counted: lockstep is one per command (MAIL, each RCPT,
/// DATA, the end of data); lettre's pool also sends NOOP before reusing
/// its connection for each message.
fn stated_round_trips(label: &str, rcpts: usize) -> Option<String> {
    let r = rcpts as u64;
    match label {
        "smtp-source" | "mail-send" | "mail-send+nodelay" => Some(format!("{} (lockstep)", 3 + r)),
        "lettre" | "lettre+nodelay" => Some(format!("{} (NOOP + lockstep)", 4 + r)),
        _ => None,
    }
}

struct Config {
    exe: PathBuf,
    /// CPUs for the clients and the sinks (`taskset -c`).
    pin: Option<(String, String)>,
    shim: Option<PathBuf>,
    smtp_source: Option<PathBuf>,
    big_file: PathBuf,
    batch: u64,
    max_seconds: f64,
    repeat: usize,
}

/// Runs shorter than this are repeated (`--repeat`); longer ones, such as
/// the time-capped runs of a client stalled by Nagle's algorithm, are not.
const REPEAT_UNDER_SECONDS: f64 = 2.0;

/// One row of the table.
struct Row {
    sink: String,
    scenario: &'static str,
    title: &'static str,
    label: &'static str,
    /// The median run (by messages/s), its peak RSS the largest of all.
    result: Result<Value, String>,
    /// messages/s of every run.
    samples: Vec<f64>,
    shim_hits: Option<usize>,
    round_trips: Option<String>,
    /// The sink's CPU time during the median run, when its pid is known.
    sink_cpu: Option<f64>,
}

impl Row {
    fn f(&self, key: &str) -> Option<f64> {
        self.result.as_ref().ok()?.get(key)?.as_f64()
    }
}

/// `all` mode.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // target/<profile>/deps/throughput-HASH
    let target_dir = exe
        .ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    let smtp_source = match args.get("smtp-source") {
        Some(p) => Some(PathBuf::from(p)),
        None => Some(PathBuf::from("/usr/sbin/smtp-source")).filter(|p| p.exists()),
    };
    let taskset = Path::new("/usr/bin/taskset").exists();
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let pin = match args.get("pin") {
        Some("none") => None,
        Some(spec) => {
            let (c, s) = spec
                .split_once(',')
                .ok_or("--pin: CLIENT_CPU,SINK_CPU or none")?;
            Some((c.to_owned(), s.to_owned()))
        }
        None if taskset && cpus >= 2 => Some(("0".to_owned(), "1".to_owned())),
        None => None,
    };
    let config = Config {
        exe,
        pin,
        shim: args.get("shim").map(PathBuf::from),
        smtp_source,
        big_file: args
            .get("big-file")
            .map_or_else(|| target_dir.join("throughput-64MiB.eml"), PathBuf::from),
        batch: args.num("batch", 64)?,
        max_seconds: args.num("max-seconds", 5.0)?,
        repeat: args.num::<usize>("repeat", 3)?.max(1),
    };
    let json_path = args
        .get("json")
        .map_or_else(|| target_dir.join("throughput.json"), PathBuf::from);
    let big_size: usize = 64 << 20;
    let all_scenarios = [
        Scenario {
            key: "small",
            title: "1 KiB, 1 rcpt, 1 conn",
            size: 1024,
            rcpts: 1,
            count: args.num("small", 2000)?,
            conns: 1,
            file: false,
        },
        Scenario {
            key: "rcpt50",
            title: "1 KiB, 50 rcpts, 1 conn",
            size: 1024,
            rcpts: 50,
            count: args.num("rcpt50", 200)?,
            conns: 1,
            file: false,
        },
        Scenario {
            key: "large",
            title: "1 MiB, 1 rcpt, 1 conn",
            size: 1 << 20,
            rcpts: 1,
            count: args.num("large", 100)?,
            conns: 1,
            file: false,
        },
        Scenario {
            key: "big",
            title: "64 MiB from a file, 1 conn",
            size: big_size,
            rcpts: 1,
            count: args.num("big", 1)?,
            conns: 1,
            file: true,
        },
        Scenario {
            key: "concurrent",
            title: "1 KiB, 1 rcpt, 4 conns",
            size: 1024,
            rcpts: 1,
            count: args.num("concurrent", 4000)?,
            conns: 4,
            file: false,
        },
    ];
    let pick =
        |list: Option<&str>, name: &str| list.is_none_or(|l| l.split(',').any(|x| x == name));
    let scenarios: Vec<&Scenario> = all_scenarios
        .iter()
        .filter(|s| pick(args.get("scenarios"), s.key))
        .collect();
    let variants: Vec<&Variant> = VARIANTS
        .iter()
        .filter(|v| pick(args.get("clients"), v.label))
        .collect();

    if scenarios.iter().any(|s| s.file) {
        ensure_file(&config.big_file, big_size)?;
    }

    let mut sinks: Vec<Sink> = Vec::new();
    let mut testkit: Option<Child> = None;
    if pick(args.get("sinks"), "testkit") {
        let (child, addr) = start_testkit_sink(&config)?;
        sinks.push(Sink {
            name: "testkit".to_owned(),
            addr,
            pid: Some(child.id()),
        });
        testkit = Some(child);
    }
    if let Some(addr) = args.get("postfix-sink")
        && pick(args.get("sinks"), "postfix")
    {
        sinks.push(Sink {
            name: "smtp-sink".to_owned(),
            addr: addr.to_owned(),
            pid: args.get("postfix-sink-pid").and_then(|p| p.parse().ok()),
        });
    }
    if sinks.is_empty() {
        return Err("no sink to send to".into());
    }

    let started = Instant::now();
    let mut rows = Vec::new();
    for sink in &sinks {
        for scenario in &scenarios {
            for variant in variants
                .iter()
                .filter(|v| v.only.is_none_or(|o| o == scenario.key))
            {
                let row = run_one(&config, sink, scenario, variant);
                progress(&row);
                rows.push(row);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(mut child) = testkit {
        drop(child.stdin.take());
        let _ = child.wait();
    }

    let table = table(&rows);
    let targets = targets(&rows);
    println!();
    println!("{table}");
    println!("Targets:");
    for t in &targets {
        println!("- {}", t["text"].as_str().unwrap_or_default());
    }
    println!("\n(all runs: {elapsed:.0} s)");

    let json = json!({
        "generated_unix": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "config": {
            "batch": config.batch,
            "max_seconds": config.max_seconds,
            "repeat": config.repeat,
            "repeat_under_seconds": REPEAT_UNDER_SECONDS,
            "shim": config.shim,
            "smtp_source": config.smtp_source,
            "big_file": config.big_file,
            "pin": config.pin.as_ref().map(|(c, s)| json!({"clients": c, "sinks": s})),
            "sinks": sinks.iter().map(|s| json!({"name": s.name, "addr": s.addr, "pid": s.pid})).collect::<Vec<_>>(),
            "scenarios": scenarios.iter().map(|s| json!({
                "key": s.key, "title": s.title, "size": s.size, "rcpts": s.rcpts,
                "count": s.count, "conns": s.conns, "file": s.file,
            })).collect::<Vec<_>>(),
        },
        "runs": rows.iter().map(|r| row_json(r, &rows)).collect::<Vec<_>>(),
        "targets": targets,
        "markdown": table,
        "seconds": elapsed,
    });
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(&json_path, text + "\n").map_err(|e| format!("{}: {e}", json_path.display()))?;
    println!("wrote {}", json_path.display());
    Ok(())
}

/// The 64 MiB message file, made once (the same text as the in-memory
/// messages).
fn ensure_file(path: &Path, size: usize) -> Result<(), String> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size as u64) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, message(size)).map_err(|e| format!("{}: {e}", path.display()))
}

/// A sink to send to.
struct Sink {
    name: String,
    addr: String,
    /// Its process, for its CPU time.
    pid: Option<u32>,
}

/// A command for `program`, under `taskset -c CPU` when pinned.
fn pinned(program: &Path, cpu: Option<&String>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut cmd = Command::new("/usr/bin/taskset");
            cmd.args(["-c", cpu]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// A process's user + system CPU time (all threads), in seconds.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn start_testkit_sink(config: &Config) -> Result<(Child, String), String> {
    let mut child = pinned(&config.exe, config.pin.as_ref().map(|p| &p.1))
        .arg("sink")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the testkit sink: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line.trim().to_owned();
    if addr.is_empty() {
        return Err("the testkit sink printed no address".into());
    }
    Ok((child, addr))
}

fn run_one(config: &Config, sink: &Sink, scenario: &Scenario, variant: &Variant) -> Row {
    let mut row = Row {
        sink: sink.name.clone(),
        scenario: scenario.key,
        title: scenario.title,
        label: variant.label,
        result: Err(String::new()),
        samples: Vec::new(),
        shim_hits: None,
        round_trips: stated_round_trips(variant.label, scenario.rcpts),
        sink_cpu: None,
    };
    let mut runs = Vec::new();
    for _ in 0..config.repeat {
        let before = sink.pid.and_then(process_cpu);
        let result = run_once(config, &sink.addr, scenario, variant.kind, &mut row);
        let after = sink.pid.and_then(process_cpu);
        match result {
            Ok(mut value) => {
                if let (Some(b), Some(a)) = (before, after) {
                    value["sink_cpu_seconds"] = json!(a - b);
                }
                let seconds = value["seconds"].as_f64().unwrap_or(0.0);
                let capped = value["messages"].as_u64() < value["requested"].as_u64();
                runs.push(value);
                if capped || seconds >= REPEAT_UNDER_SECONDS {
                    break;
                }
            }
            Err(e) => {
                row.result = Err(e);
                return row;
            }
        }
    }
    row.samples = runs
        .iter()
        .filter_map(|v| v["messages_per_second"].as_f64())
        .collect();
    let peak_rss = runs.iter().filter_map(|v| v["vm_hwm_kib"].as_u64()).max();
    runs.sort_by(|a, b| {
        let key = |v: &Value| v["messages_per_second"].as_f64().unwrap_or(0.0);
        key(a).total_cmp(&key(b))
    });
    let median = runs.len() / 2;
    row.result = match runs.into_iter().nth(median) {
        Some(mut value) => {
            value["vm_hwm_kib"] = json!(peak_rss);
            row.sink_cpu = value["sink_cpu_seconds"].as_f64();
            Ok(value)
        }
        None => Err("no run".into()),
    };
    if let Ok(value) = &row.result
        && let Some(r) = value.get("reads_per_message").and_then(Value::as_f64)
    {
        row.round_trips = Some(format!("{r:.2} (counted reads)"));
    } else if row.round_trips.is_none() && row.result.is_ok() {
        row.round_trips = Some("as ours-blocking (same session)".into());
    }
    row
}

fn run_once(
    config: &Config,
    addr: &str,
    scenario: &Scenario,
    kind: Kind,
    row: &mut Row,
) -> Result<Value, String> {
    match kind {
        Kind::SmtpSource => run_smtp_source(config, addr, scenario),
        Kind::Client {
            name,
            shim,
            nodelay_api,
            send_partial,
        } => {
            let mut cmd = pinned(&config.exe, config.pin.as_ref().map(|p| &p.0));
            cmd.args(["client", "--client", name, "--addr", addr])
                .args(["--size", &scenario.size.to_string()])
                .args(["--rcpts", &scenario.rcpts.to_string()])
                .args(["--count", &scenario.count.to_string()])
                .args(["--conns", &scenario.conns.to_string()])
                .args(["--batch", &config.batch.to_string()])
                .args(["--max-seconds", &config.max_seconds.to_string()]);
            if scenario.file {
                cmd.arg("--file").arg(&config.big_file);
            }
            if nodelay_api {
                cmd.arg("--nodelay-api");
            }
            if send_partial {
                cmd.arg("--send-partial");
            }
            match (&config.shim, shim) {
                (Some(so), true) => {
                    cmd.env("LD_PRELOAD", so).env("NODELAY_SHIM_REPORT", "1");
                }
                (None, true) => return Err("no --shim given".into()),
                _ => {}
            }
            run_client(cmd).map(|(value, hits)| {
                if shim {
                    row.shim_hits = Some(row.shim_hits.map_or(hits, |h| h.min(hits)));
                }
                value
            })
        }
    }
}

/// Runs a `client` subprocess; returns its JSON line and how many sockets
/// the shim set TCP_NODELAY on.
fn run_client(mut cmd: Command) -> Result<(Value, usize), String> {
    let output = cmd.output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut hits = 0;
    for line in stderr.lines() {
        if line.starts_with("nodelay-shim:") {
            hits += 1;
        } else {
            eprintln!("  | {line}");
        }
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok());
    match value {
        Some(v) if output.status.success() => Ok((v, hits)),
        Some(v) => Err(format!("{}: {}", output.status, v["errors"])),
        None => Err(format!("{}: no result", output.status)),
    }
}

/// Times Postfix's `smtp-source` (under `/usr/bin/time` for its peak RSS).
fn run_smtp_source(config: &Config, addr: &str, scenario: &Scenario) -> Result<Value, String> {
    let source = config
        .smtp_source
        .as_ref()
        .ok_or("smtp-source not installed")?;
    let time = Path::new("/usr/bin/time");
    let client_cpu = config.pin.as_ref().map(|p| &p.0);
    let mut cmd = if time.exists() {
        let mut c = pinned(time, client_cpu);
        c.args(["-f", "THROUGHPUT_TIME %M %U %S"]).arg(source);
        c
    } else {
        pinned(source, client_cpu)
    };
    cmd.args(["-d", "-s", &scenario.conns.to_string()])
        .args(["-m", &scenario.count.to_string()])
        .args(["-f", FROM, "-t", "b@example.net"]);
    if scenario.rcpts > 1 {
        cmd.args(["-r", &scenario.rcpts.to_string()]);
    }
    let per_message = if scenario.file {
        cmd.arg("-F").arg(&config.big_file);
        std::fs::metadata(&config.big_file)
            .map_err(|e| e.to_string())?
            .len()
    } else {
        cmd.args(["-l", &scenario.size.to_string()]);
        scenario.size as u64
    };
    cmd.arg(addr);
    let started = Instant::now();
    let output = cmd.output().map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut rss = None;
    let mut cpu = None;
    for line in stderr.lines() {
        match line.strip_prefix("THROUGHPUT_TIME ") {
            Some(fields) => {
                let fields: Vec<&str> = fields.split_whitespace().collect();
                rss = fields.first().and_then(|k| k.parse::<u64>().ok());
                let user = fields.get(1).and_then(|u| u.parse::<f64>().ok());
                let system = fields.get(2).and_then(|s| s.parse::<f64>().ok());
                cpu = user.zip(system).map(|(u, s)| u + s);
            }
            None => eprintln!("  | {line}"),
        }
    }
    if !output.status.success() {
        return Err(format!("smtp-source: {}", output.status));
    }
    let bytes = scenario.count * per_message;
    Ok(json!({
        "client": "smtp-source",
        "messages": scenario.count,
        "requested": scenario.count,
        "bytes": bytes,
        "seconds": seconds,
        "messages_per_second": scenario.count as f64 / seconds,
        "mb_per_second": bytes as f64 / seconds / 1e6,
        "vm_hwm_kib": rss,
        "cpu_seconds": cpu,
        "note": "payload octets (-l); smtp-source adds its own headers; time includes exec",
    }))
}

fn progress(row: &Row) {
    match &row.result {
        Ok(_) => eprintln!(
            "[{}] {:<10} {:<18} {:>9.0} msg/s {:>8.1} MB/s  ({:.2} s)",
            row.sink,
            row.scenario,
            row.label,
            row.f("messages_per_second").unwrap_or(0.0),
            row.f("mb_per_second").unwrap_or(0.0),
            row.f("seconds").unwrap_or(0.0),
        ),
        Err(e) => eprintln!(
            "[{}] {:<10} {:<18} FAILED: {e}",
            row.sink, row.scenario, row.label
        ),
    }
}

/// `row`'s messages/s over the reference client's in the same sink and
/// scenario.
fn ratio(row: &Row, rows: &[Row], reference: &str) -> Option<f64> {
    let mine = row.f("messages_per_second")?;
    let other = rows
        .iter()
        .find(|r| r.sink == row.sink && r.scenario == row.scenario && r.label == reference)?
        .f("messages_per_second")?;
    (other > 0.0).then(|| mine / other)
}

fn row_json(row: &Row, rows: &[Row]) -> Value {
    json!({
        "sink": row.sink,
        "scenario": row.scenario,
        "title": row.title,
        "client": row.label,
        "result": row.result.as_ref().ok(),
        "error": row.result.as_ref().err(),
        "messages_per_second_samples": row.samples,
        "shim_nodelay_sockets": row.shim_hits,
        "round_trips_per_message": row.round_trips,
        "vs_lettre_nodelay": ratio(row, rows, LETTRE_REF),
        "vs_smtp_source": ratio(row, rows, SOURCE_REF),
    })
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| sink | scenario | client | messages | s | msg/s | msg/s range | MB/s | × lettre+nodelay | × smtp-source | round trips/msg | peak RSS MiB | CPU s | sink CPU s |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|\n",
    );
    let opt = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "–".to_owned(), |x| format!("{x:.digits$}"))
    };
    for row in rows {
        let label = match row.shim_hits {
            Some(n) => format!(
                "{} (shim: {n} socket{})",
                row.label,
                if n == 1 { "" } else { "s" }
            ),
            None => row.label.to_owned(),
        };
        match &row.result {
            Ok(v) => {
                let messages = v["messages"].as_u64().unwrap_or(0);
                let requested = v["requested"].as_u64().unwrap_or(messages);
                let messages = if messages < requested {
                    format!("{messages} of {requested} (time cap)")
                } else {
                    messages.to_string()
                };
                let range = match (
                    row.samples.iter().copied().reduce(f64::min),
                    row.samples.iter().copied().reduce(f64::max),
                ) {
                    (Some(lo), Some(hi)) if row.samples.len() > 1 => {
                        format!("{lo:.0}–{hi:.0} ({} runs)", row.samples.len())
                    }
                    _ => "1 run".to_owned(),
                };
                out += &format!(
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    row.sink,
                    row.title,
                    label,
                    messages,
                    opt(row.f("seconds"), 2),
                    opt(row.f("messages_per_second"), 0),
                    range,
                    opt(row.f("mb_per_second"), 1),
                    opt(ratio(row, rows, LETTRE_REF), 2),
                    opt(ratio(row, rows, SOURCE_REF), 2),
                    row.round_trips.as_deref().unwrap_or("–"),
                    opt(row.f("vm_hwm_kib").map(|k| k / 1024.0), 1),
                    opt(row.f("cpu_seconds"), 2),
                    opt(row.sink_cpu, 2),
                );
            }
            Err(e) => {
                out += &format!(
                    "| {} | {} | {} | failed: {} | | | | | | | | | | |\n",
                    row.sink,
                    row.title,
                    label,
                    e.replace('|', "/")
                );
            }
        }
    }
    out
}

/// The issue's targets, per sink and runtime.
fn targets(rows: &[Row]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut check = |name: &str,
                     scenario: &str,
                     goal: &str,
                     value: &dyn Fn(&Row) -> Option<f64>,
                     ok: &dyn Fn(f64) -> bool,
                     unit: &str| {
        let mut parts = Vec::new();
        let mut all = true;
        let mut any = false;
        for row in rows
            .iter()
            .filter(|r| r.scenario == scenario && OURS.contains(&r.label))
        {
            match value(row) {
                Some(v) => {
                    any = true;
                    all &= ok(v);
                    parts.push(format!("{} {}: {v:.2}{unit}", row.sink, row.label));
                }
                None => {
                    all = false;
                    parts.push(format!("{} {}: n/a", row.sink, row.label));
                }
            }
        }
        let verdict = match (any, all) {
            (false, _) => "NOT MEASURED",
            (true, true) => "MET",
            (true, false) => "MISSED",
        };
        out.push(json!({
            "target": name,
            "goal": goal,
            "verdict": verdict,
            "values": parts,
            "text": format!("{verdict}: {name} ({goal}): {}", parts.join(", ")),
        }));
    };
    check(
        "1 KiB, one connection vs lettre+nodelay",
        "small",
        ">= 3x",
        &|r| ratio(r, rows, LETTRE_REF),
        &|v| v >= 3.0,
        "x",
    );
    check(
        "50 recipients vs lettre+nodelay",
        "rcpt50",
        ">= 10x",
        &|r| ratio(r, rows, LETTRE_REF),
        &|v| v >= 10.0,
        "x",
    );
    check(
        "1 MiB MB/s vs smtp-source",
        "large",
        ">= 0.95x",
        &|r| ratio(r, rows, SOURCE_REF),
        &|v| v >= 0.95,
        "x",
    );
    check(
        "64 MiB message peak RSS",
        "big",
        "< 16 MiB",
        &|r| r.f("vm_hwm_kib").map(|k| k / 1024.0),
        &|v| v < 16.0,
        " MiB",
    );
    out
}
