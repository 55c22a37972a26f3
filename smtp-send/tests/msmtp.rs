//! msmtp configuration files (-C, -a, the user's file), the log (-X,
//! logfile) and sendmail mode (a `sendmail` name, -oi, -N, -R, -F,
//! --read-envelope-from) against smtp-testkit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use smtpkit_testserver::{Script, TestCa, TestServer};

const MESSAGE: &[u8] = b"From: Sender <sender@example.org>\nTo: a@example.org\nBcc: hidden@example.org\nSubject: hi\n\nbody\n.\nafter the dot\n";

fn run(program: &Path, args: &[&str], stdin: &[u8], home: Option<&Path>) -> Output {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(home) = home {
        command.env("HOME", home).env_remove("XDG_CONFIG_HOME");
    }
    let mut child = command.spawn().unwrap();
    match child.stdin.take().unwrap().write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.unwrap(),
    }
    child.wait_with_output().unwrap()
}

fn smtp_send(args: &[&str], stdin: &[u8]) -> Output {
    run(
        Path::new(env!("CARGO_BIN_EXE_smtp-send")),
        args,
        stdin,
        None,
    )
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smtp-send-msmtp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rc(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("msmtprc");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// defaults + two accounts, STARTTLS with a trust file, `auth on`,
/// `passwordeval`, selected with -a; the log line.
#[test]
fn accounts_file_with_starttls_auth_and_log() {
    let ca = TestCa::new(&["localhost"]).unwrap();
    let server = TestServer::start(
        Script::new()
            .starttls(&ca)
            .unwrap()
            .auth(["PLAIN"], &[("alice", "pa55")]),
    )
    .unwrap();
    let d = dir("tls");
    let ca_file = d.join("ca.pem");
    std::fs::write(&ca_file, &ca.ca_pem).unwrap();
    let log = d.join("log");
    let file = rc(
        &d,
        &format!(
            "# written for msmtp\n\
             defaults\n\
             tls on\n\
             tls_trust_file {ca}\n\
             logfile {log}\n\
             \n\
             account plain\n\
             host 127.0.0.1\n\
             port 1\n\
             tls off\n\
             \n\
             account work : plain\n\
             host localhost\n\
             port {port}\n\
             tls on\n\
             from \"me@work.example\"\n\
             domain client.example\n\
             auth on\n\
             user alice\n\
             passwordeval \"printf %s pa55\"\n\
             dsn_notify success,failure\n\
             dsn_return headers\n\
             \n\
             account default : plain\n",
            ca = ca_file.display(),
            log = log.display(),
            port = server.addr().port()
        ),
    );
    let out = smtp_send(
        &[
            "-C",
            file.to_str().unwrap(),
            "-a",
            "work",
            "-t",
            "--transcript",
        ],
        MESSAGE,
    );
    ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("pa55"),
        "the password is never printed: {stderr}"
    );
    assert_eq!(
        server.authentications(),
        vec![("PLAIN".into(), "alice".into())]
    );
    let commands = server.commands();
    assert_eq!(commands[0], "EHLO client.example");
    assert_eq!(commands[1], "STARTTLS");
    let t = &server.transactions()[0];
    assert_eq!(t.mail_from, "me@work.example", "the account's from");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<me@work.example>") && c.contains("RET=HDRS"))
    );
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("RCPT TO:<hidden@example.org>")
                && c.contains("NOTIFY=SUCCESS,FAILURE"))
    );
    let data = String::from_utf8_lossy(&t.data);
    assert!(!data.contains("Bcc:"), "-t strips Bcc");
    assert!(
        data.contains("\r\n.\r\nafter the dot"),
        "a lone dot does not end the input"
    );
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(
        line.contains("host=localhost tls=on auth=on user=alice from=me@work.example recipients=a@example.org,hidden@example.org mailsize="),
        "{line}"
    );
    assert!(line.contains(" smtpstatus=250 smtpmsg='250 "), "{line}");
    assert!(line.trim_end().ends_with("' exitcode=EX_OK"), "{line}");
    // Flags win over the file: -X elsewhere.
    let other = d.join("other.log");
    let out = smtp_send(
        &[
            "-C",
            file.to_str().unwrap(),
            "-a",
            "work",
            "-X",
            other.to_str().unwrap(),
            "x@example.org",
        ],
        MESSAGE,
    );
    ok(&out);
    assert!(
        std::fs::read_to_string(&other)
            .unwrap()
            .contains("recipients=x@example.org ")
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// The default account, -o and -s over the file, and a `sendmail` symlink
/// reading ~/.msmtprc.
#[test]
fn default_account_precedence_and_sendmail_name() {
    let server = TestServer::start(Script::new()).unwrap();
    let d = dir("default");
    let file = rc(
        &d,
        &format!(
            "account one\nhost 127.0.0.1\nport {}\nfrom one@example.org\n\
             account two\nhost 127.0.0.1\nport 1\n\
             account default : one\n",
            server.addr().port()
        ),
    );
    let out = smtp_send(&["-C", file.to_str().unwrap(), "x@example.org"], MESSAGE);
    ok(&out);
    assert_eq!(
        server.commands()[0],
        "EHLO localhost",
        "msmtp's default domain"
    );
    assert_eq!(server.transactions()[0].mail_from, "one@example.org");
    // -o and flags win over the file.
    let out = smtp_send(
        &[
            "-C",
            file.to_str().unwrap(),
            "-a",
            "two",
            "-o",
            &format!("mail.smtp.port={}", server.addr().port()),
            "-f",
            "flag@example.org",
            "x@example.org",
        ],
        MESSAGE,
    );
    ok(&out);
    assert_eq!(server.transactions()[1].mail_from, "flag@example.org");
    // --read-envelope-from: the From: header's address, whatever -f says.
    let out = smtp_send(
        &[
            "-C",
            file.to_str().unwrap(),
            "-f",
            "flag@example.org",
            "--read-envelope-from",
            "x@example.org",
        ],
        MESSAGE,
    );
    ok(&out);
    assert_eq!(server.transactions()[2].mail_from, "sender@example.org");

    // A `sendmail` symlink, the default account of ~/.msmtprc, -oi and -t.
    let home = d.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::copy(&file, home.join(".msmtprc")).unwrap();
    let sendmail = d.join("sendmail");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_smtp-send"), &sendmail).unwrap();
    let out = run(&sendmail, &["-oi", "-oem", "-t"], MESSAGE, Some(&home));
    ok(&out);
    let t = &server.transactions()[3];
    assert_eq!(t.mail_from, "one@example.org");
    assert_eq!(t.rcpt_to, vec!["a@example.org", "hidden@example.org"]);
    // Usage errors name the program as it was called.
    let out = run(&sendmail, &["--bogus"], b"", Some(&home));
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sendmail"));
    // With -s and no -C/-a, the user's file is not read.
    let out = run(
        Path::new(env!("CARGO_BIN_EXE_smtp-send")),
        &["-s", &server.addr().to_string(), "x@example.org"],
        MESSAGE,
        Some(&home),
    );
    ok(&out);
    assert_eq!(server.transactions()[4].mail_from, "sender@example.org");
    std::fs::remove_dir_all(&d).unwrap();
}

/// -F adds From: when the message has none; -N never, -R full.
#[test]
fn full_name_and_dsn_flags() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-f",
            "me@example.org",
            "-F",
            "Jo \"Q\" User",
            "-N",
            "never",
            "-R",
            "full",
            "x@example.org",
        ],
        b"Subject: no from\n\nbody\n",
    );
    ok(&out);
    let t = &server.transactions()[0];
    let data = String::from_utf8_lossy(&t.data);
    assert!(
        data.starts_with("From: \"Jo \\\"Q\\\" User\" <me@example.org>\r\nSubject: no from"),
        "{data}"
    );
    let commands = server.commands();
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("MAIL FROM:<me@example.org>") && c.contains("RET=FULL"))
    );
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("RCPT TO:<x@example.org>") && c.contains("NOTIFY=NEVER"))
    );
    // A name that is not ASCII is encoded (RFC 2047), not refused.
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-f",
            "me@example.org",
            "-F",
            "José Ñandú",
            "x@example.org",
        ],
        b"Subject: s\n\nb\n",
    );
    ok(&out);
    let data = String::from_utf8_lossy(&server.transactions()[1].data).into_owned();
    assert!(
        data.starts_with("From: =?utf-8?B?Sm9zw6kgw5FhbmTDug==?= <me@example.org>\r\n"),
        "{data}"
    );
    // A message with a From: keeps it.
    let out = smtp_send(&["-s", &addr, "-F", "Other", "x@example.org"], MESSAGE);
    ok(&out);
    assert!(String::from_utf8_lossy(&server.transactions()[2].data).starts_with("From: Sender"));
    // A name with a line break is refused.
    let out = smtp_send(
        &[
            "-s",
            &addr,
            "-f",
            "me@example.org",
            "-F",
            "a\r\nBcc: x@y",
            "x@example.org",
        ],
        b"Subject: s\n\nb\n",
    );
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(server.transactions().len(), 3);
    let out = smtp_send(&["-s", &addr, "-R", "most", "x@example.org"], MESSAGE);
    assert_eq!(out.status.code(), Some(64));
}

/// Date: and Message-ID: are added when missing, as msmtp does; a message
/// that has them goes out byte for byte; `set_date_header off` and
/// `set_msgid_header off` in an account, or the properties, turn it off.
#[test]
fn date_and_message_id_are_added_when_missing() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let out = smtp_send(&["-s", &addr, "x@example.org"], MESSAGE);
    ok(&out);
    let data = String::from_utf8_lossy(&server.transactions()[0].data).into_owned();
    let header = &data[..data.find("\r\n\r\n").unwrap()];
    assert!(header.contains("\r\nDate: "), "{data}");
    // The sender's domain names the Message-ID.
    assert!(
        header.contains("\r\nMessage-ID: <") && header.ends_with("@example.org>"),
        "{data}"
    );
    // Present: untouched (the file's octets, CRLF as sent).
    let complete = b"From: s@example.org\r\nTo: x@example.org\r\nDate: Tue, 1 Dec 2026 10:00:00 -0500\r\nmessage-id: <mine@example.org>\r\n\r\nbody\r\n";
    ok(&smtp_send(&["-s", &addr, "x@example.org"], complete));
    assert_eq!(server.transactions()[1].data, complete);
    // Off in an account.
    let d = dir("stamp");
    let port = server.addr().port().to_string();
    let off = rc(
        &d,
        &format!(
            "account plain\nhost 127.0.0.1\nport {port}\ntls off\nset_date_header off\nset_msgid_header off\n"
        ),
    );
    ok(&smtp_send(
        &["-C", off.to_str().unwrap(), "-a", "plain", "x@example.org"],
        MESSAGE,
    ));
    let data = String::from_utf8_lossy(&server.transactions()[2].data).into_owned();
    assert!(
        !data.contains("Date:") && !data.contains("Message-ID:"),
        "{data}"
    );
    // One off by property: only the other is added.
    ok(&smtp_send(
        &[
            "-s",
            &addr,
            "-o",
            "mail.smtp.setmessageid=false",
            "x@example.org",
        ],
        MESSAGE,
    ));
    let data = String::from_utf8_lossy(&server.transactions()[3].data).into_owned();
    assert!(
        data.contains("\r\nDate: ") && !data.contains("Message-ID:"),
        "{data}"
    );
    // msmtp's words only.
    let bad = rc(&d, "account bad\nhost 127.0.0.1\nset_date_header maybe\n");
    let out = smtp_send(
        &["-C", bad.to_str().unwrap(), "-a", "bad", "x@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(78));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("set_date_header maybe: expected auto or off"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(d);
}

/// DKIM from the flags and from an account: `-m FILE` (hashed, then sent,
/// from the file), standard input and `-t`; dkimpy verifies what arrived.
/// A key file others can read, or a missing part, is exit 78; the dry run
/// names the domain and selector and never the key.
#[test]
fn dkim_from_flags_and_accounts_verifies_with_dkimpy() {
    let server = TestServer::start(Script::new().extensions(["PIPELINING", "8BITMIME"])).unwrap();
    let addr = server.addr().to_string();
    let d = dir("dkim");
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../smtp-client/tests/data");
    let key = d.join("ed.pem");
    std::fs::copy(format!("{keys}/dkim-ed25519.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let rsa = d.join("rsa.pem");
    std::fs::copy(format!("{keys}/dkim-rsa2048-pkcs1.pem"), &rsa).unwrap();
    std::fs::set_permissions(&rsa, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = d.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    let flags = [
        "--dkim-domain",
        "example.org",
        "--dkim-selector",
        "ed2026",
        "--dkim-key",
        key.to_str().unwrap(),
    ];
    let mut args = vec!["-s", &addr, "-m", file.to_str().unwrap(), "x@example.org"];
    args.extend(flags);
    ok(&smtp_send(&args, b""));
    let mut args = vec!["-s", &addr, "-t"];
    args.extend(flags);
    ok(&smtp_send(&args, MESSAGE));
    let port = server.addr().port().to_string();
    let account = rc(
        &d,
        &format!(
            "account signed\nhost 127.0.0.1\nport {port}\ntls off\ndkim_domain example.org\n\
             dkim_selector rsa2026\ndkim_key {}\n",
            rsa.display()
        ),
    );
    ok(&smtp_send(
        &[
            "-C",
            account.to_str().unwrap(),
            "-a",
            "signed",
            "x@example.org",
        ],
        MESSAGE,
    ));
    let mut files = Vec::new();
    for (i, t) in server.transactions().iter().enumerate() {
        assert!(t.data.starts_with(b"DKIM-Signature: v=1; a="), "{i}");
        let path = d.join(format!("got{i}.eml"));
        std::fs::write(&path, &t.data).unwrap();
        files.push(path);
    }
    assert_eq!(files.len(), 3);
    for (pass, line) in smtp_suites::conformance::dkimpy_verdicts(&files) {
        assert!(pass, "dkimpy: {line}");
    }
    // The dry run: domain and selector, no key.
    let mut args = vec!["-s", &addr, "--dry-run", "--json", "x@example.org"];
    args.extend(flags);
    let out = smtp_send(&args, MESSAGE);
    ok(&out);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("d=example.org s=ed2026"), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    // A key others can read; a selector without the rest.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut args = vec!["-s", &addr, "x@example.org"];
    args.extend(flags);
    let out = smtp_send(&args, MESSAGE);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    let out = smtp_send(
        &["-s", &addr, "--dkim-selector", "s", "x@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--dkim-domain, --dkim-key missing"), "{err}");
    assert_eq!(server.transactions().len(), 3, "nothing more was sent");
    let _ = std::fs::remove_dir_all(d);
}

/// A line over 998 octets: exit 65 naming the line, before MAIL for a
/// file, before the end of data for standard input (nothing delivered);
/// `--allow-long-lines` sends it as it is.
#[test]
fn long_lines_are_refused_naming_the_line() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let d = dir("long");
    let message = format!(
        "From: s@example.org\nTo: x@example.org\nSubject: long\n\nfine\n{}\nend\n",
        "y".repeat(1500)
    );
    let file = d.join("long.eml");
    std::fs::write(&file, &message).unwrap();
    let out = smtp_send(
        &["-s", &addr, "-m", file.to_str().unwrap(), "x@example.org"],
        b"",
    );
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6 of the message is 1500 octets long"),
        "{err}"
    );
    assert!(server.commands().is_empty(), "{:?}", server.commands());
    let out = smtp_send(&["-s", &addr, "x@example.org"], message.as_bytes());
    assert_eq!(out.status.code(), Some(65));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6 of the message is 1500 octets long"),
        "{err}"
    );
    assert!(server.transactions().is_empty(), "nothing delivered");
    ok(&smtp_send(
        &["-s", &addr, "--allow-long-lines", "x@example.org"],
        message.as_bytes(),
    ));
    let data = &server.transactions()[0].data;
    assert!(
        String::from_utf8_lossy(data).contains(&format!("\r\n{}\r\nend\r\n", "y".repeat(1500))),
        "sent as it is"
    );
    let _ = std::fs::remove_dir_all(d);
}

/// Configuration errors: exit 78, the file and the line named, secrets kept.
#[test]
fn configuration_errors() {
    let d = dir("errors");
    let file = rc(&d, "account a\nhost 127.0.0.1\nfrobnicate yes\n");
    let out = smtp_send(&["-C", file.to_str().unwrap(), "x@example.org"], MESSAGE);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3: unknown command frobnicate", file.display())),
        "{stderr}"
    );
    // A password in a file others can read.
    let file = rc(
        &d,
        "account a\nhost 127.0.0.1\npassword hunter2\naccount default : a\n",
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = smtp_send(&["-C", file.to_str().unwrap(), "x@example.org"], MESSAGE);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("must have no more than user read/write permissions"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
    // An account that is not there; no default account.
    let file = rc(&d, "account a\nhost 127.0.0.1\n");
    let out = smtp_send(
        &["-C", file.to_str().unwrap(), "-a", "b", "x@example.org"],
        MESSAGE,
    );
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("account b not found (it defines: a)"),
        "{stderr}"
    );
    assert!(stderr.contains(file.to_str().unwrap()), "{stderr}");
    let out = smtp_send(&["-C", file.to_str().unwrap(), "x@example.org"], MESSAGE);
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no default account"));
    // A failing passwordeval: named, and its output not shown.
    let file = rc(
        &d,
        "account a\nhost 127.0.0.1\nauth on\nuser u\npasswordeval \"echo leaked; exit 3\"\naccount default : a\n",
    );
    let out = smtp_send(&["-C", file.to_str().unwrap(), "x@example.org"], MESSAGE);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(":5: passwordeval: the command failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("leaked"));
    std::fs::remove_dir_all(&d).unwrap();
}

/// --dry-run (--pretend): the settings with secrets redacted, the envelope
/// and the header; nothing is sent.
#[test]
fn dry_run_redacts_and_sends_nothing() {
    let server = TestServer::start(Script::new()).unwrap();
    let d = dir("dry");
    let file = rc(
        &d,
        &format!(
            "account a\nhost 127.0.0.1\nport {}\nauth on\nuser alice\npassword s3cret-pw\n\
             proxy_host 127.0.0.1\nproxy_port 1080\naccount b : a\npassword x\n\
             passwordeval \"printf %s evaled-pw\"\naccount default : a\n",
            server.addr().port()
        ),
    );
    let out = smtp_send(&["-C", file.to_str().unwrap(), "--dry-run", "-t"], MESSAGE);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("password: [redacted]"), "{stdout}");
    assert!(
        !stdout.contains("s3cret-pw")
            && !String::from_utf8_lossy(&out.stderr).contains("s3cret-pw")
    );
    assert!(stdout.contains("from: <sender@example.org>"), "{stdout}");
    assert!(stdout.contains("hidden@example.org"), "{stdout}");
    assert!(stdout.contains("header:\nFrom: Sender"), "{stdout}");
    assert!(
        !stdout.contains("Bcc:"),
        "-t strips Bcc from the header shown"
    );
    let out = smtp_send(
        &[
            "-C",
            file.to_str().unwrap(),
            "--pretend",
            "--json",
            "x@example.org",
        ],
        MESSAGE,
    );
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["password"], "[redacted]");
    assert_eq!(v["proxy"]["server"], "127.0.0.1:1080");
    assert_eq!(v["recipients"], serde_json::json!(["x@example.org"]));
    // passwordeval is not run by a dry run: it may prompt, or unlock a key.
    let marker = d.join("evaluated");
    let file = rc(
        &d,
        &format!(
            "account e\nhost 127.0.0.1\nport {}\nauth on\nuser alice\n\
             passwordeval \"touch {} && printf %s pw\"\naccount default : e\n",
            server.addr().port(),
            marker.display()
        ),
    );
    let out = smtp_send(&["-C", file.to_str().unwrap(), "--dry-run", "-t"], MESSAGE);
    ok(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("password: [passwordeval, not run]"),
        "{stdout}"
    );
    assert!(!marker.exists(), "the dry run ran passwordeval");
    assert!(server.commands().is_empty(), "nothing was sent");
    std::fs::remove_dir_all(&d).unwrap();
}
