#!/usr/bin/env bash
# The size table: one minimal tokio sender (STARTTLS required, AUTH PLAIN,
# one message, QUIT) written three times, with our crates at their default
# features, with lettre and with mail-send (rustls + ring and platform roots
# for all three), built with the same release profile (opt-level 3,
# stripped, everything else cargo's default). Prints, per program, the
# stripped binary's size and its crate counts (and ours without `tracing`,
# the one default the program could do without). Not run in CI: it builds
# three release programs (several minutes on 2 cores).
#
#   scripts/size-table.sh            # the table
#   KEEP=1 scripts/size-table.sh     # keep the temporary directory
#   CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
#       scripts/size-table.sh        # the same with whole-program optimisation
#
# The programs are built in a temporary directory outside the repository,
# each with its own target directory and lock file (newest compatible
# versions of everything; our crates by path from this checkout).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/smtp-size-table.XXXXXX")"
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "kept: $work" >&2; fi

profile='
[profile.release]
opt-level = 3
strip = true
'

# $1 name, $2 [dependencies] lines, stdin: src/main.rs
program() {
    mkdir -p "$work/$1/src"
    cat >"$work/$1/src/main.rs"
    cat >"$work/$1/Cargo.toml" <<EOF
[package]
name = "size-$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$2
tokio = { version = "1", features = ["rt", "macros"] }
$profile
[workspace]
EOF
}

program ours "smtpkit-tokio = { path = \"$root/smtp-tokio\" }
smtpkit-proto = { path = \"$root/smtp-proto\" }" <<'EOF'
use smtpkit_proto::{Address, Envelope};
use smtpkit_tokio::{Client, ClientSettings, Protocol};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut settings = ClientSettings::new(Protocol::Smtp, "mail.example.org");
    settings.port = Some(587);
    settings.tls.starttls_required = true;
    settings.user = Some("alice".into());
    settings.auth.password = Some("secret".into());
    settings.auth.mechanisms = Some("PLAIN".into());
    let mut client = Client::connect(&settings).await?;
    let envelope = Envelope::new(Address::parse("alice@example.org")?, [Address::parse("bob@example.net")?]);
    client.send(envelope, b"Subject: hi\r\n\r\nHello.\r\n".to_vec()).await?;
    client.close().await?;
    Ok(())
}
EOF

# The same program with our crates at their minimum for it: no `tracing`
# (what the default costs).
mkdir -p "$work/ours-min"
sed "s|ours|ours-min|" "$work/ours/Cargo.toml" |
    sed 's|smtp-tokio" }|smtp-tokio", default-features = false, features = ["ring", "platform-roots"] }|; s|smtp-proto" }|smtp-proto", default-features = false }|' \
        >"$work/ours-min/Cargo.toml"
cp -r "$work/ours/src" "$work/ours-min/"

# lettre without its defaults (native-tls, builder, pool), with what the
# program needs: the SMTP transport on tokio with rustls, ring and the
# platform's roots, and the host name for EHLO as ours does.
program lettre 'lettre = { version = "0.11", default-features = false, features = ["smtp-transport", "tokio1-rustls", "ring", "rustls-native-certs", "hostname"] }' <<'EOF'
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::starttls_relay("mail.example.org")?
        .port(587)
        .credentials(Credentials::new("alice".into(), "secret".into()))
        .authentication(vec![Mechanism::Plain])
        .build();
    let envelope = Envelope::new(Some("alice@example.org".parse()?), vec!["bob@example.net".parse()?])?;
    mailer.send_raw(&envelope, b"Subject: hi\r\n\r\nHello.\r\n").await?;
    Ok(())
}
EOF

# mail-send without its defaults (aws-lc-rs, DKIM, the builder, CRAM-MD5,
# DIGEST-MD5), with ring and TLS 1.2 (it verifies with the platform's
# verifier).
program mail-send 'mail-send = { version = "0.7", default-features = false, features = ["ring", "tls12"] }' <<'EOF'
use mail_send::SmtpClientBuilder;
use mail_send::smtp::message::Message;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let message = Message::new("alice@example.org", ["bob@example.net"], &b"Subject: hi\r\n\r\nHello.\r\n"[..]);
    let mut client = SmtpClientBuilder::new("mail.example.org", 587)?
        .implicit_tls(false)
        .credentials(("alice", "secret"))
        .connect()
        .await?;
    client.send(message).await?;
    client.quit().await?;
    Ok(())
}
EOF

printf '%-10s %14s %18s %16s\n' program "stripped bytes" "crates (cargo tree)" "crates compiled"
for name in ours ours-min lettre mail-send; do
    dir="$work/$name"
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release --quiet)
    bin="$dir/target/release/size-$name"
    size=$(stat -c %s "$bin")
    # Every package in the normal dependency graph of this platform, the
    # program itself included.
    tree=$(cd "$dir" && cargo tree -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l)
    # What the build compiled (build scripts and proc macros included).
    compiled=$(find "$dir/target/release/.fingerprint" -mindepth 1 -maxdepth 1 -type d |
        sed -E 's|.*/||; s/-[0-9a-f]{16}$//' | sort -u | wc -l)
    printf '%-10s %14s %18s %16s\n' "$name" "$size" "$tree" "$compiled"
done
