//! Quick messages (--to, --subject, --header, --body, --attach) against
//! smtp-testkit: the message as the server stored it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};

use base64::Engine;
use smtpkit_testserver::{Script, TestServer};

fn smtp_send(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The base64 part after `filename="NAME"`, decoded.
fn attachment(data: &str, name: &str) -> Vec<u8> {
    let start = data.find(&format!("filename=\"{name}\"")).expect(data);
    let part = &data[start..];
    let body_start = part.find("\r\n\r\n").unwrap() + 4;
    let body = &part[body_start..];
    let end = body.find("\r\n--").unwrap();
    let b64: String = body[..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn builds_and_sends_a_mime_message() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    let dir = std::env::temp_dir().join(format!("smtp-send-quick-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("blob.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(&file, &bytes).unwrap();
    let out = smtp_send(&[
        "-s",
        &addr,
        "-f",
        "me@example.org",
        "--to",
        "a@example.org",
        "--to",
        "b@example.org",
        "--subject",
        "Grüße",
        "--header",
        "X-Test: yes",
        "--body",
        "hello there",
        "--attach",
        file.to_str().unwrap(),
    ]);
    ok(&out);
    let t = &server.transactions()[0];
    assert_eq!(t.mail_from, "me@example.org");
    assert_eq!(t.rcpt_to, vec!["a@example.org", "b@example.org"]);
    let data = String::from_utf8(t.data.clone()).unwrap();
    for h in [
        "Date: ",
        "Message-ID: ",
        "MIME-Version: 1.0",
        "From: <me@example.org>",
        "X-Test: yes",
        "Subject: =?utf-8?",
        "multipart/mixed",
        "hello there",
    ] {
        assert!(data.contains(h), "{h}: {data}");
    }
    assert!(data.contains("application/octet-stream"));
    assert!(data.contains("Content-Transfer-Encoding: base64"));
    assert_eq!(
        attachment(&data, "blob.bin"),
        bytes,
        "the attachment decodes to the file"
    );

    // --body @FILE; no attachment: no multipart.
    let body = dir.join("body.txt");
    std::fs::write(&body, "from a file\n").unwrap();
    let out = smtp_send(&[
        "-s",
        &addr,
        "-f",
        "me@example.org",
        "--to",
        "a@example.org",
        "--body",
        &format!("@{}", body.display()),
    ]);
    ok(&out);
    let data = String::from_utf8(server.transactions()[1].data.clone()).unwrap();
    assert!(
        data.contains("from a file") && !data.contains("multipart"),
        "{data}"
    );

    // Nothing but --to: the test message (a connectivity test).
    let out = smtp_send(&["-s", &addr, "-f", "me@example.org", "--to", "a@example.org"]);
    ok(&out);
    let data = String::from_utf8(server.transactions()[2].data.clone()).unwrap();
    assert!(
        data.contains("This is a test message sent by smtp-send."),
        "{data}"
    );
    assert!(data.contains("Subject: smtp-send test"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_quick_input_is_refused_before_connecting() {
    let server = TestServer::start(Script::new()).unwrap();
    let addr = server.addr().to_string();
    for args in [
        // CR/LF in a header value would smuggle a header.
        vec!["--header", "X-A: 1\r\nBcc: evil@example.org"],
        vec!["--header", "X-A: 1\nBcc: evil@example.org"],
        vec!["--header", "no colon"],
        vec!["--to", "not an address"],
        vec!["--attach", "/nonexistent/file"],
    ] {
        let mut all = vec![
            "-s",
            addr.as_str(),
            "-f",
            "me@example.org",
            "--to",
            "a@example.org",
        ];
        all.extend(args.iter());
        let out = smtp_send(&all);
        assert!(
            matches!(out.status.code(), Some(64 | 65)),
            "{args:?}: {:?}",
            out.status
        );
    }
    // No sender.
    let out = smtp_send(&["-s", &addr, "--to", "a@example.org"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a sender"));
    // -m and quick flags conflict.
    let out = smtp_send(&["-s", &addr, "-m", "/dev/null", "--to", "a@example.org"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(server.transactions().is_empty());
}
