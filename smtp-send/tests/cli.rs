//! The command line against smtp-testkit: reports, exit codes, -t, and the
//! precedence of properties, -o and flags.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use smtpkit_testserver::{Action, Script, TestServer, When};

fn smtp_send(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The tool may exit before reading its input (a usage or
    // configuration error): a closed pipe is not a test failure.
    match child.stdin.take().unwrap().write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

const MESSAGE: &[u8] = b"From: Sender <sender@example.org>\nTo: a@example.org\nCc: c@example.org\nBcc: hidden@example.org,\n  hidden2@example.org\nSubject: hi\n\nbody\n";

#[test]
fn sends_and_reports_json() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--json",
            "--ehlo",
            "cli.example",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["accepted"], serde_json::json!(["x@example.org"]));
    assert_eq!(report["reply"]["code"], 250);
    assert_eq!(report["tls"], serde_json::Value::Null);
    assert_eq!(report["auth"], serde_json::Value::Null);
    assert!(
        report["extensions"]
            .as_array()
            .unwrap()
            .contains(&"PIPELINING".into())
    );
    let t = &server.transactions()[0];
    assert_eq!(
        t.mail_from, "sender@example.org",
        "envelope sender from the From: header"
    );
    assert!(
        String::from_utf8_lossy(&t.data).contains("Bcc: hidden"),
        "without -t, Bcc is not touched"
    );
    assert_eq!(server.commands()[0], "EHLO cli.example");
}

#[test]
fn read_recipients_strips_bcc() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-t",
            "-f",
            "<bounce@example.org>",
            "--transcript",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = &server.transactions()[0];
    assert_eq!(t.mail_from, "bounce@example.org");
    assert_eq!(
        t.rcpt_to,
        [
            "a@example.org",
            "c@example.org",
            "hidden@example.org",
            "hidden2@example.org"
        ]
    );
    let data = String::from_utf8(t.data.clone()).unwrap();
    assert!(!data.contains("hidden"), "{data}");
    assert!(data.starts_with("From: Sender <sender@example.org>\r\nTo: a@example.org\r\nCc: c@example.org\r\nSubject: hi\r\n"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("C: MAIL FROM:<bounce@example.org>"),
        "{stderr}"
    );
    assert!(stderr.contains("S: 221 2.0.0 Bye"));
}

#[test]
fn exit_codes() {
    // 67: a recipient refused (sendpartial: delivered to the rest).
    let server = TestServer::start(Script::new().rule(
        When::RcptTo("bad@example.org".into()),
        Action::reply("550 5.1.1 unknown\r\n"),
    ))
    .unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--json",
            "-o",
            "mail.smtp.sendpartial=true",
            "ok@example.org",
            "bad@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(67));
    let report = json(&out);
    assert_eq!(report["rejected"][0]["address"], "bad@example.org");
    assert_eq!(report["rejected"][0]["enhanced_code"], "5.1.1");
    // 67 and nothing sent without sendpartial.
    let out = smtp_send(
        &["-s", &addr, "--json", "ok@example.org", "bad@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(67));
    let report = json(&out);
    assert_eq!(report["unsent"], serde_json::json!(["ok@example.org"]));
    // The library's report, serialised: each recipient and the failure.
    assert_eq!(report["recipients"][0]["address"], "ok@example.org");
    assert_eq!(report["recipients"][0]["status"], "accepted_unsent");
    assert_eq!(report["recipients"][1]["status"], "rejected");
    assert_eq!(report["recipients"][1]["reply"]["code"], 550);
    assert_eq!(report["failure"]["kind"], "recipients_rejected");
    assert_eq!(server.transactions().len(), 1);

    // 69: permanent refusal; 75: temporary.
    for (reply, code) in [("554 5.7.1 spam\r\n", 69), ("451 4.3.0 later\r\n", 75)] {
        let server =
            TestServer::start(Script::new().rule(When::EndOfData, Action::reply(reply))).unwrap();
        let out = smtp_send(
            &["-s", &server.addr().to_string(), "x@example.org"],
            MESSAGE,
        );
        assert_eq!(out.status.code(), Some(code), "{reply}");
    }
    // 76: malformed reply.
    let server =
        TestServer::start(Script::new().rule(When::Command("MAIL"), Action::reply("2x0 what\r\n")))
            .unwrap();
    let out = smtp_send(
        &["-s", &server.addr().to_string(), "x@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(76));
    // 75: timeout.
    let server =
        TestServer::start(Script::new().rule(When::Command("MAIL"), Action::Hang)).unwrap();
    let out = smtp_send(
        &[
            "-s",
            &server.addr().to_string(),
            "-o",
            "mail.smtp.timeout=300",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(75));
    // 64: usage; 65: bad message; 78: bad configuration.
    assert_eq!(smtp_send(&["--no-such-flag"], b"").status.code(), Some(64));
    assert_eq!(
        smtp_send(&["-s", "127.0.0.1:1"], MESSAGE).status.code(),
        Some(64),
        "no recipients"
    );
    assert_eq!(
        smtp_send(
            &["-s", "127.0.0.1:1", "x@example.org"],
            b"Subject: no from\n\nx\n"
        )
        .status
        .code(),
        Some(65)
    );
    assert_eq!(
        smtp_send(&["-o", "mail.smtp.port=abc", "x@example.org"], MESSAGE)
            .status
            .code(),
        Some(78)
    );
    assert_eq!(
        smtp_send(&["-m", "/nonexistent/message", "x@example.org"], b"")
            .status
            .code(),
        Some(65)
    );
}

#[test]
fn precedence_of_properties_options_and_flags() {
    let server = TestServer::start(Script::new()).unwrap();
    let dir = std::env::temp_dir().join(format!("smtp-send-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let props = dir.join("mail.properties");
    std::fs::write(
        &props,
        "mail.smtp.host=127.0.0.1\nmail.smtp.port=1\nmail.smtp.localhost=from-file.example\nmail.smtp.ehlo=false\n",
    )
    .unwrap();
    let port = server.addr().port().to_string();
    let out = smtp_send(
        &[
            "--properties",
            props.to_str().unwrap(),
            "-o",
            &format!("mail.smtp.port={port}"),
            "-o",
            "mail.smtp.localhost=from-option.example",
            "-o",
            "mail.smtp.localhost=later-option.example",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.commands()[0], "HELO later-option.example");
    let out = smtp_send(
        &[
            "--properties",
            props.to_str().unwrap(),
            "-s",
            &server.addr().to_string(),
            "--ehlo",
            "flag.example",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        server
            .commands()
            .iter()
            .rfind(|c| c.starts_with("HELO"))
            .unwrap(),
        "HELO flag.example"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A misspelt mail.smtp.* key (-o or --properties) is a configuration
/// error, 78, naming the closest key; nothing is sent. Other mail.* keys
/// are not SMTP settings and pass.
#[test]
fn unknown_keys_are_errors() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-o",
            "mail.smtp.startls.enable=true",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown key mail.smtp.startls.enable"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean mail.smtp.starttls.enable?"),
        "{stderr}"
    );
    // Nothing close: no guess.
    let out = smtp_send(
        &["-s", &addr, "-o", "mail.smtp.foo=bar", "x@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown key mail.smtp.foo"), "{stderr}");
    assert!(!stderr.contains("did you mean"), "{stderr}");
    // In a properties file: the file named, even on a dry run.
    let props = write_temp(
        "misspelt.properties",
        "mail.smtp.starttls.enable=false\nmail.smtp.sendpartail=true\n",
    );
    for extra in [None, Some("--dry-run")] {
        let mut args = vec!["-s", &addr, "--properties", props.to_str().unwrap()];
        args.extend(extra);
        args.push("x@example.org");
        let out = smtp_send(&args, MESSAGE);
        assert_eq!(out.status.code(), Some(78), "{extra:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(props.to_str().unwrap()), "{stderr}");
        assert!(
            stderr.contains("did you mean mail.smtp.sendpartial?"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    }
    assert_eq!(server.connections(), 0, "nothing was sent");
    // Correct keys still work, and JavaMail's other mail.* keys pass.
    let props = write_temp(
        "correct.properties",
        "mail.smtp.starttls.enable=false\nmail.smtp.localhost=props.example\nmail.from=a@example.org\nmail.mime.allowutf8=true\n",
    );
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--properties",
            props.to_str().unwrap(),
            "-o",
            "mail.smtp.sendpartial=true",
            "-o",
            "mail.debug=true",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.commands()[0], "EHLO props.example");
    assert_eq!(server.transactions().len(), 1);
}

#[cfg(feature = "demo")]
#[test]
fn demo_passes() {
    let out = Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .arg("demo")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("S: 550 5.1.1"));
    assert!(stdout.contains("\"accepted\""));
}

/// Without the `demo` feature the subcommand is a usage error that says
/// how to get it (and never reads a message or connects).
#[cfg(not(feature = "demo"))]
#[test]
fn demo_without_the_feature_is_a_usage_error() {
    let out = smtp_send(&["demo"], b"");
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`demo` feature"), "{stderr}");
    assert!(stderr.contains("--features demo"), "{stderr}");
}

/// Every runtime built in sends the same message; async-std only with its
/// feature, and without it `--runtime async-std` is a usage error naming
/// the feature, before any connection.
#[test]
fn every_runtime_sends() {
    let mut runtimes = vec!["blocking", "tokio", "smol"];
    if cfg!(feature = "async-std") {
        runtimes.push("async-std");
    }
    for runtime in runtimes {
        let server = TestServer::start(Script::new()).unwrap();
        let addr = server.addr().to_string();
        let out = smtp_send(
            &["-s", &addr, "--json", "--runtime", runtime, "x@example.org"],
            MESSAGE,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{runtime}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json(&out)["accepted"], serde_json::json!(["x@example.org"]));
        assert_eq!(server.transactions().len(), 1, "{runtime}");
    }
    if !cfg!(feature = "async-std") {
        let server = TestServer::start(Script::new()).unwrap();
        let addr = server.addr().to_string();
        let out = smtp_send(
            &["-s", &addr, "--runtime", "async-std", "x@example.org"],
            MESSAGE,
        );
        assert_eq!(out.status.code(), Some(64));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("`async-std` feature"), "{stderr}");
        assert_eq!(server.connections(), 0, "no connection was made");
    }
}

/// Bulk mode: --count messages over --connections, one JSON summary.
#[test]
fn bulk_sends_count_messages() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--json",
            "--count",
            "5",
            "--connections",
            "2",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = json(&out);
    assert_eq!(summary["messages"], 5);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["connections"], 2);
    assert_eq!(summary["runtime"], "tokio");
    assert_eq!(server.transactions().len(), 5);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent 5 messages (0 failed)"));
    // Nothing listens: every message failed, 75.
    let out = smtp_send(
        &["-s", "127.0.0.1:1", "--count", "3", "x@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent 0 messages (3 failed)"));
}

#[test]
fn help_documents_exit_codes() {
    let out = smtp_send(&["--help"], b"");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--read-recipients",
        "--transcript",
        "77  authentication failed",
        "Precedence",
    ] {
        assert!(help.contains(needle), "{needle}");
    }
}

#[test]
fn authentication_flags_and_exit_77() {
    let server =
        TestServer::start(Script::new().auth(["PLAIN", "SCRAM-SHA-1"], &[("alice", "pa55")]))
            .unwrap();
    let addr = server.addr().to_string();
    let dir = std::env::temp_dir().join(format!("smtp-send-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("password");
    std::fs::write(&file, "pa55\n").unwrap();
    // Credentials and a server without STARTTLS: TLS is required, so the
    // session ends before AUTH (exit 69), naming why.
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-u",
            "alice",
            "--password-file",
            file.to_str().unwrap(),
            "x@example.org",
        ],
        MESSAGE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("STARTTLS is required"), "{stderr}");
    assert!(stderr.contains("credentials"), "{stderr}");
    assert!(server.authentications().is_empty());
    // --dry-run shows that decision.
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-u",
            "alice",
            "--password-file",
            file.to_str().unwrap(),
            "--dry-run",
            "x@example.org",
        ],
        MESSAGE,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("starttls-required (credentials are set)"),
        "{stdout}"
    );
    // --tls none opts out by name; the chooser picks SCRAM over plaintext
    // PLAIN (--password-file).
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--tls",
            "none",
            "--json",
            "-u",
            "alice",
            "--password-file",
            file.to_str().unwrap(),
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["auth"], "SCRAM-SHA-1");
    // --auth PLAIN without TLS: refused unless --allow-plaintext-auth.
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--tls",
            "none",
            "-u",
            "alice",
            "--password-file",
            file.to_str().unwrap(),
            "--auth",
            "PLAIN",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(77));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the clear"));
    let out = Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .args([
            "-s",
            &addr,
            "--json",
            "-u",
            "alice",
            "--password-env",
            "SMTP_TEST_PW",
            "--auth",
            "PLAIN",
            "--allow-plaintext-auth",
            "--transcript",
            "x@example.org",
        ])
        .env("SMTP_TEST_PW", "pa55")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(MESSAGE)?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["auth"], "PLAIN");
    let transcript = String::from_utf8_lossy(&out.stderr);
    assert!(
        transcript.contains("C: AUTH PLAIN [redacted]"),
        "{transcript}"
    );
    assert!(
        !transcript.contains("pa55") && !transcript.contains("cGE1NQ"),
        "{transcript}"
    );
    // A wrong password: 77.
    std::fs::write(&file, "wrong\n").unwrap();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "--tls",
            "none",
            "-u",
            "alice",
            "--password-file",
            file.to_str().unwrap(),
            "--json",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(77));
    // The report accounts for the recipient as the library's one-call
    // send does: failure `not_connected`, the recipient unsent, the why.
    let report = json(&out);
    assert_eq!(report["failure"]["kind"], "not_connected");
    assert_eq!(report["unsent"], serde_json::json!(["x@example.org"]));
    assert_eq!(report["recipients"][0]["status"], "unsent");
    assert_eq!(report["recipients"][0]["reason"], "not_connected");
    let why = report["error"].as_str().unwrap();
    assert!(
        why.contains("authentication failed") && why.contains("535"),
        "{why}"
    );
    // What the session learnt before the refusal is reported as after a
    // send: the server's extensions (AUTH among them).
    let extensions = report["extensions"].as_array().unwrap();
    assert!(extensions.iter().any(|e| e == "AUTH"), "{extensions:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn help_offers_the_demo_only_when_built_in() {
    let out = Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        help.to_lowercase().contains("demo"),
        cfg!(feature = "demo"),
        "{help}"
    );
}

#[test]
fn a_connection_error_names_the_server() {
    // Port 1 on loopback: nothing listens there.
    let out = smtp_send(
        &["-s", "127.0.0.1:1", "-f", "a@example.org", "x@example.org"],
        MESSAGE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("connecting to 127.0.0.1:1: "), "{stderr}");
    assert!(stderr.contains("unsent: x@example.org"), "{stderr}");
}

#[test]
fn a_user_without_a_password_is_a_configuration_error() {
    let server =
        TestServer::start(Script::new().auth(["PLAIN", "SCRAM-SHA-1"], &[("alice", "pa55")]))
            .unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(&["-s", &addr, "-u", "alice", "x@example.org"], MESSAGE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains("alice needs a password") && stderr.contains("--password-env"),
        "{stderr}"
    );
    // Nothing was sent: the error comes before the connection.
    assert_eq!(server.connections(), 0);
    // EXTERNAL alone needs no password: the error is not this one.
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-u",
            "alice",
            "--auth",
            "EXTERNAL",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("needs a password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_temp(name: &str, contents: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("smtp-send-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn tls_flags_and_probe() {
    let ca = smtpkit_testserver::TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(Script::new().starttls(&ca).unwrap()).unwrap();
    let server_arg = format!("localhost:{}", server.addr().port());
    let ca_file = write_temp("ca.pem", &ca.ca_pem);
    // Default: STARTTLS when offered, verified, so an unknown CA fails (69)
    // and nothing is sent in plaintext.
    let out = smtp_send(&["-s", &server_arg, "x@example.org"], MESSAGE);
    assert_eq!(
        out.status.code(),
        Some(69),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate"));
    assert!(server.transactions().is_empty());
    // The report still accounts for the recipient: unsent, with the why.
    let out = smtp_send(&["-s", &server_arg, "--json", "x@example.org"], MESSAGE);
    assert_eq!(out.status.code(), Some(69));
    let report = json(&out);
    assert_eq!(report["unsent"], serde_json::json!(["x@example.org"]));
    assert_eq!(report["accepted"], serde_json::json!([]));
    assert_eq!(report["rejected"], serde_json::json!([]));
    assert!(report["error"].as_str().unwrap().contains("certificate"));
    // --ca: verified delivery; the report says tls.
    let out = smtp_send(
        &[
            "-s",
            &server_arg,
            "--ca",
            ca_file.to_str().unwrap(),
            "--json",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["tls"]["verified"], true);
    // -o mail.smtp.starttls.enable=false overrides the default; --tls overrides both.
    let out = smtp_send(
        &[
            "-s",
            &server_arg,
            "-o",
            "mail.smtp.starttls.enable=false",
            "--json",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(json(&out)["tls"], serde_json::Value::Null);
    let out = smtp_send(
        &[
            "-s",
            &server_arg,
            "-o",
            "mail.smtp.starttls.enable=false",
            "--tls",
            "starttls",
            "--trust-all",
            "--json",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(json(&out)["tls"]["verified"], false);
    // starttls-required against a server without STARTTLS: fails before MAIL.
    let plain = TestServer::start(Script::new()).unwrap();
    let out = smtp_send(
        &[
            "-s",
            &plain.addr().to_string(),
            "--tls",
            "starttls-required",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(69));
    assert!(plain.commands().iter().all(|c| !c.starts_with("MAIL")));
    // probe: extensions before and after TLS, the chain.
    let out = smtp_send(
        &[
            "probe",
            "-s",
            &server_arg,
            "--ca",
            ca_file.to_str().unwrap(),
            "--json",
        ],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = json(&out);
    assert!(
        probe["extensions_before_tls"]
            .as_array()
            .unwrap()
            .contains(&"STARTTLS".into())
    );
    assert!(
        !probe["extensions_after_tls"]
            .as_array()
            .unwrap()
            .contains(&"STARTTLS".into())
    );
    assert_eq!(probe["tls"]["verified"], true);
    assert_eq!(probe["tls"]["certificates"].as_array().unwrap().len(), 2);
    assert!(
        probe["tls"]["certificates"][0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("CN="),
        "{probe}"
    );
    let out = smtp_send(&["probe", "-s", &server_arg, "--trust-all"], b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOT verified"));
    let _ = std::fs::remove_file(ca_file);
}

#[test]
fn through_proxies() {
    use smtpkit_testserver::{ProxyProtocol, TestProxy};
    let server = TestServer::start(Script::new()).unwrap();
    let target = server.addr();
    let resolve =
        move |host: &str, port: u16| (host == "mx.example.invalid" && port == 25).then_some(target);
    let socks = TestProxy::start(ProxyProtocol::Socks5, Some(("u", "p")), resolve).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .args([
            "-s",
            "mx.example.invalid",
            "--socks5",
            &socks.addr().to_string(),
            "--socks5-user",
            "u",
            "--socks5-password-env",
            "SOCKS_PW",
            "x@example.org",
        ])
        .env("SOCKS_PW", "p")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(MESSAGE)?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(socks.targets(), ["mx.example.invalid:25"]);
    let http = TestProxy::start(ProxyProtocol::HttpConnect, None, resolve).unwrap();
    let out = smtp_send(
        &[
            "-s",
            "mx.example.invalid",
            "--proxy",
            &http.addr().to_string(),
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let closed = TestProxy::start(ProxyProtocol::HttpConnect, Some(("a", "b")), resolve).unwrap();
    let out = smtp_send(
        &[
            "-s",
            "mx.example.invalid",
            "--proxy",
            &closed.addr().to_string(),
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("407"));
    // --proxy is mail.smtp.proxy.host and .port: the credentials are the
    // proxy keys, from any layer (as --help says).
    let out = smtp_send(
        &[
            "-s",
            "mx.example.invalid",
            "--proxy",
            &closed.addr().to_string(),
            "-o",
            "mail.smtp.proxy.user=a",
            "-o",
            "mail.smtp.proxy.password=b",
            "x@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A proxy needs a host and a port (an empty host would mean none).
    for bad in [":8080", "proxy.example", "proxy.example:0"] {
        let out = smtp_send(
            &["-s", "mx.example.invalid", "--proxy", bad, "x@example.org"],
            MESSAGE,
        );
        assert_eq!(out.status.code(), Some(64), "{bad}");
    }
    assert_eq!(server.transactions().len(), 3);
}

/// `--lmtp -s unix:PATH`: LMTP over a Unix domain socket; a recipient
/// refused after the data is refused (exit 75 for a 4xx, as at RCPT).
#[test]
fn lmtp_over_a_unix_socket() {
    let server = TestServer::start(Script::new().lmtp().rule(
        When::DataFor("full@example.org".into()),
        Action::reply("452 4.2.2 Mailbox full\r\n"),
    ))
    .unwrap();
    let path = std::env::temp_dir().join(format!("smtp-send-lmtp-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    server.listen_unix(&path).unwrap();
    let socket = format!("unix:{}", path.display());
    let out = smtp_send(
        &[
            "-s",
            &socket,
            "--lmtp",
            "--json",
            "-o",
            "mail.smtp.sendpartial=true",
            "a@example.org",
            "full@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    assert_eq!(report["accepted"], serde_json::json!(["a@example.org"]));
    assert_eq!(report["rejected"][0]["address"], "full@example.org");
    assert_eq!(report["rejected"][0]["code"], 452);
    assert_eq!(server.transactions()[0].rcpt_to, ["a@example.org"]);
    assert!(server.commands()[0].starts_with("LHLO "));
    // A socket that is not there: exit 75 (temporary), the path named.
    let out = smtp_send(
        &[
            "-s",
            "unix:/nonexistent/lmtp.sock",
            "--lmtp",
            "a@example.org",
        ],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/lmtp.sock"));
}

/// OAuth 2.0 from the command line: a token command (run again when the
/// server refuses its token), an msmtp account whose `passwordeval` gives
/// a bearer token, the built-in grants' flags in a dry run (the grant
/// named, no secret shown), secret files that others can read refused,
/// and flags that cannot work together named.
#[test]
fn oauth2_tokens_from_flags_and_accounts() {
    use std::os::unix::fs::PermissionsExt;
    let server =
        TestServer::start(Script::new().auth(["XOAUTH2", "OAUTHBEARER"], &[("alice", "tok-2")]))
            .unwrap();
    let addr = server.addr().to_string();
    let dir = std::env::temp_dir().join(format!("smtp-send-oauth2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The command prints tok-1 the first time, tok-2 after: the server
    // refuses tok-1, smtp-send runs the command again and succeeds.
    let counter = dir.join("count");
    let command = format!(
        "if [ -e {c} ]; then echo tok-2; else touch {c}; echo tok-1; fi",
        c = counter.display()
    );
    let base = [
        "-s",
        &addr,
        "--tls",
        "none",
        "--allow-plaintext-auth",
        "-u",
        "alice",
    ];
    let mut args = base.to_vec();
    args.extend([
        "--transcript",
        "--oauth2-token-command",
        &command,
        "x@example.org",
    ]);
    let out = smtp_send(&args, MESSAGE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.matches("C: AUTH XOAUTH2").count(), 2, "{stderr}");
    assert!(!stderr.contains("tok-"), "{stderr}");
    assert_eq!(
        server.authentications(),
        [("XOAUTH2".to_owned(), "alice".to_owned())]
    );

    // Refused twice: exit 77, the refusal named.
    let mut args = base.to_vec();
    args.extend(["--oauth2-token-command", "echo stale", "x@example.org"]);
    let out = smtp_send(&args, MESSAGE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(stderr.contains("refused the XOAUTH2 token"), "{stderr}");
    assert!(stderr.contains("invalid_token"), "{stderr}");

    // An msmtp account: `auth oauthbearer` with passwordeval.
    let rc = dir.join("msmtprc");
    std::fs::write(
        &rc,
        format!(
            "account a\nhost 127.0.0.1\nport {}\ntls off\nauth oauthbearer\nuser alice\n\
             passwordeval \"echo tok-2\"\naccount default : a\n",
            server.addr().port()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = smtp_send(
        &[
            "-C",
            rc.to_str().unwrap(),
            "--allow-plaintext-auth",
            "x@example.org",
        ],
        MESSAGE,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        server.authentications().last().unwrap(),
        &("OAUTHBEARER".to_owned(), "alice".to_owned())
    );

    // The built-in grants: a dry run names the grant and never a secret;
    // the token endpoint is not asked.
    let secret = dir.join("client-secret");
    let refresh = dir.join("refresh-token");
    std::fs::write(&secret, "client-SECRET-value\n").unwrap();
    std::fs::write(&refresh, "refresh-SECRET-value\n").unwrap();
    for f in [&secret, &refresh] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let grant = [
        "--oauth2-token-url",
        "https://idp.invalid/token",
        "--oauth2-client-id",
        "app",
        "--oauth2-client-secret-file",
        secret.to_str().unwrap(),
        "--oauth2-refresh-token-file",
        refresh.to_str().unwrap(),
    ];
    let mut args = base.to_vec();
    args.extend(grant);
    args.extend(["--dry-run", "--json", "x@example.org"]);
    let out = smtp_send(&args, MESSAGE);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("OAuth 2.0 refresh_token grant at https://idp.invalid/token, client app"),
        "{stdout}"
    );
    assert!(!stdout.contains("SECRET"), "{stdout}");
    // Unreachable endpoint: exit 75, nothing sent, no secret in the words.
    let mut args = base.to_vec();
    args.extend(grant);
    args.extend(["--json", "x@example.org"]);
    let before = server.connections();
    let out = smtp_send(&args, MESSAGE);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(75), "{all}");
    assert!(all.contains("no access token"), "{all}");
    assert!(!all.contains("SECRET"), "{all}");
    assert_eq!(server.connections(), before);
    // A secret file others can read is refused (exit 78), as msmtp does.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut args = base.to_vec();
    args.extend(grant);
    args.extend(["--dry-run", "x@example.org"]);
    let out = smtp_send(&args, MESSAGE);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    // Flags without a token endpoint, or two ways to authenticate the
    // client: usage errors.
    for (extra, words) in [
        (
            &["--oauth2-client-id", "app"][..],
            "need --oauth2-token-url",
        ),
        (
            &[
                "--oauth2-token-command",
                "true",
                "--oauth2-token-url",
                "https://idp.invalid/t",
            ][..],
            "gives the token itself",
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(extra);
        args.extend(["--dry-run", "x@example.org"]);
        let out = smtp_send(&args, MESSAGE);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A repeated `-s`: the first relay is down, the second takes the
/// message; `--json` names each recipient's relay and the failover; a
/// recipient refused for good exits 67, one refused for now, on every
/// try, 75.
#[test]
fn repeated_servers_fail_over_in_order() {
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_addr = down.local_addr().unwrap().to_string();
    drop(down);
    let server = TestServer::start(
        Script::new()
            .rule(
                When::RcptTo("gone@example.org".into()),
                Action::reply("550 5.1.1 no such user\r\n"),
            )
            .rule(
                When::RcptTo("later@example.org".into()),
                Action::reply("451 4.7.1 try later\r\n"),
            ),
    )
    .unwrap();
    let addr = server.addr().to_string();
    let args = [
        "-s",
        &down_addr,
        "-s",
        &addr,
        "--tls",
        "none",
        "--json",
        "-f",
        "me@example.org",
    ];
    let mut ok = args.to_vec();
    ok.extend(["a@example.org", "b@example.org"]);
    let out = smtp_send(&ok, b"Subject: relays\n\nbody\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for r in report["recipients"].as_array().unwrap() {
        assert_eq!(r["status"], "delivered", "{stdout}");
        assert_eq!(r["relay"], addr.as_str(), "{stdout}");
    }
    assert_eq!(
        report["failovers"][0]["relay"],
        down_addr.as_str(),
        "{stdout}"
    );
    assert_eq!(server.transactions().len(), 1);

    let mut refused = args.to_vec();
    refused.extend(["a@example.org", "gone@example.org"]);
    let out = smtp_send(&refused, b"Subject: relays\n\nbody\n");
    assert_eq!(
        out.status.code(),
        Some(67),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // --dry-run lists the relays in order, and sends nothing.
    let mut dry = args.to_vec();
    dry.extend(["--dry-run", "a@example.org"]);
    let out = smtp_send(&dry, b"Subject: relays\n\nbody\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let shown: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown["relays"],
        serde_json::json!([down_addr, addr]),
        "{stdout}"
    );
    assert_eq!(server.transactions().len(), 2);

    let mut deferred = args.to_vec();
    deferred.extend(["later@example.org"]);
    let out = smtp_send(&deferred, b"Subject: relays\n\nbody\n");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(75), "{stdout}");
    assert!(stdout.contains("\"deferred\""), "{stdout}");
}

/// `-a first,second`: msmtp accounts as a relay set, in order.
#[test]
fn a_list_of_accounts_is_a_relay_set() {
    use std::os::unix::fs::PermissionsExt;
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_port = down.local_addr().unwrap().port();
    drop(down);
    let server = TestServer::start(Script::new()).unwrap();
    let dir = std::env::temp_dir().join(format!("smtp-send-accounts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rc = dir.join("msmtprc");
    std::fs::write(
        &rc,
        format!(
            "defaults\ntls off\nfrom me@example.org\n\
             account primary\nhost 127.0.0.1\nport {down_port}\n\
             account backup\nhost 127.0.0.1\nport {}\n",
            server.addr().port()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = smtp_send(
        &[
            "-C",
            rc.to_str().unwrap(),
            "-a",
            "primary,backup",
            "--json",
            "a@example.org",
        ],
        b"Subject: accounts\n\nbody\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["recipients"][0]["relay"],
        format!("127.0.0.1:{}", server.addr().port())
    );
    assert_eq!(
        report["failovers"][0]["relay"],
        format!("127.0.0.1:{down_port}")
    );
    assert_eq!(server.transactions().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
