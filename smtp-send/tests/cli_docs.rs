//! The committed man page matches the command line; completions generate.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_smtp-send"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn committed_man_page_matches_the_cli() {
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    // The committed page is the default binary's (no `demo`); a binary
    // with the demo documents it too.
    let committed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/smtp-send.1")).unwrap();
    if cfg!(feature = "demo") {
        assert!(String::from_utf8_lossy(&out.stdout).contains("demo"));
    } else {
        assert!(
            out.stdout == committed,
            "smtp-send.1 is stale: regenerate it with \
             `cargo run -p smtpkit-send -- man > smtp-send/smtp-send.1`"
        );
    }
    let page = String::from_utf8(out.stdout).unwrap();
    for flag in ["account", "logfile", "attach", "dsn\\-notify"] {
        assert!(page.contains(flag), "{flag}");
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("smtp-send"), "{shell}");
        assert!(script.contains("account"), "{shell}: the flags are there");
    }
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(64));
}
