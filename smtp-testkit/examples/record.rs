//! A standalone recording server for parity runs against other clients
//! (`scripts/javamail-parity.sh`): prints its address on the first line of
//! stdout, then every command line it receives, one a line, as it arrives
//! (flushed at once, so the output file is complete whenever the process is
//! killed). Successful authentications follow as `# AUTH-OK MECHANISM USER`
//! lines (AUTH continuation lines are not recorded by the testkit).
//!
//! Run: `cargo run -p smtpkit-testserver --example record -- [OPTIONS]`
//!
//! ```text
//!   --extensions LIST   comma-separated EHLO extensions, replacing the default
//!                       PIPELINING,SIZE 104857600,8BITMIME,SMTPUTF8,
//!                       ENHANCEDSTATUSCODES,DSN (no CHUNKING); "" for none
//!   --refuse ADDRESS    answer RCPT for ADDRESS with 550 5.1.1 (repeatable)
//!   --reply WHEN=REPLY  answer with REPLY (one line, CRLF added) where WHEN is
//!                       a verb (EHLO, MAIL, DATA, ...), RCPT:ADDRESS, or END
//!                       (the end of data); repeatable, first match wins
//!   --auth MECHS        offer AUTH with these comma-separated mechanisms and
//!                       require it before MAIL
//!   --user USER:PASS    an account AUTH accepts (repeatable; with --auth)
//!   --auth-optional     accept MAIL without AUTH (default: AUTH required)
//!   --starttls CA_FILE  offer STARTTLS with a throwaway certificate for
//!                       "localhost" and write its CA certificate (PEM) here
//!   --seconds N         exit after N seconds (default 120)
//! ```

use std::io::Write;
use std::time::{Duration, Instant};

use smtpkit_testserver::{Action, Script, TestServer, When};

const DEFAULT_EXTENSIONS: &str =
    "PIPELINING,SIZE 104857600,8BITMIME,SMTPUTF8,ENHANCEDSTATUSCODES,DSN";

fn usage(message: &str) -> ! {
    eprintln!("record: {message}");
    eprintln!(
        "usage: record [--extensions LIST] [--refuse ADDRESS]... [--reply WHEN=REPLY]... [--auth MECHS] \
         [--user USER:PASS]... [--auth-optional] [--starttls CA_FILE] [--seconds N]"
    );
    std::process::exit(64);
}

fn main() -> std::io::Result<()> {
    let mut extensions = DEFAULT_EXTENSIONS.to_owned();
    let mut refuse = Vec::new();
    let mut replies: Vec<(When, String)> = Vec::new();
    let mut mechanisms: Option<String> = None;
    let mut users: Vec<(String, String)> = Vec::new();
    let mut seconds = 120u64;
    let mut auth_optional = false;
    let mut starttls_ca: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--extensions" => extensions = value(),
            "--refuse" => refuse.push(value()),
            "--reply" => {
                let v = value();
                let (when, reply) = v
                    .split_once('=')
                    .unwrap_or_else(|| usage("--reply expects WHEN=REPLY"));
                let when = match when.split_once(':') {
                    Some((verb, address)) if verb.eq_ignore_ascii_case("RCPT") => {
                        When::RcptTo(address.to_owned())
                    }
                    _ if when.eq_ignore_ascii_case("END") => When::EndOfData,
                    // When::Command wants a &'static str; this runs once.
                    _ => When::Command(Box::leak(when.to_ascii_uppercase().into_boxed_str())),
                };
                replies.push((when, format!("{reply}\r\n")));
            }
            "--auth" => mechanisms = Some(value()),
            "--user" => {
                let v = value();
                let (u, p) = v
                    .split_once(':')
                    .unwrap_or_else(|| usage("--user expects USER:PASS"));
                users.push((u.to_owned(), p.to_owned()));
            }
            "--auth-optional" => auth_optional = true,
            "--starttls" => starttls_ca = Some(value()),
            "--seconds" => {
                seconds = value()
                    .parse()
                    .unwrap_or_else(|_| usage("--seconds expects a number"))
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }

    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut script = Script::new().extensions(list(&extensions));
    for (when, reply) in replies {
        script = script.rule(when, Action::reply(&reply));
    }
    for address in refuse {
        script = script.rule(
            When::RcptTo(address),
            Action::reply("550 5.1.1 Recipient address rejected: no such user\r\n"),
        );
    }
    if let Some(mechs) = &mechanisms {
        let accounts: Vec<(&str, &str)> = users
            .iter()
            .map(|(u, p)| (u.as_str(), p.as_str()))
            .collect();
        script = script.auth(list(mechs), &accounts);
        script.require_auth = !auth_optional;
    } else if !users.is_empty() {
        usage("--user needs --auth");
    }

    if let Some(path) = &starttls_ca {
        let ca = smtpkit_testserver::TestCa::new(&["localhost"]).map_err(std::io::Error::other)?;
        std::fs::write(path, &ca.ca_pem)?;
        script = script.starttls(&ca)?;
    }

    let server = TestServer::start(script)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "{}", server.addr())?;
    out.flush()?;

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut printed, mut printed_auth) = (0, 0);
    loop {
        let done = Instant::now() >= deadline;
        let commands = server.commands();
        for line in &commands[printed..] {
            writeln!(out, "{line}")?;
        }
        printed = commands.len();
        let auths = server.authentications();
        for (mechanism, user) in &auths[printed_auth..] {
            writeln!(out, "# AUTH-OK {mechanism} {user}")?;
        }
        printed_auth = auths.len();
        out.flush()?;
        if done {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
