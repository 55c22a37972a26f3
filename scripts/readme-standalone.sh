#!/usr/bin/env bash
# Builds every Rust example of each published library's README in a
# scratch crate that depends on that library alone (plus the async
# runtime a tokio or smol example runs on, and the message builders a
# migration example keeps, with the features that take their messages),
# so that an example naming a type its crate does not re-export fails
# here, as it would for a user (E0432). The doctests cannot show it: they
# see the crate's dev-dependencies too.
#
#   scripts/readme-standalone.sh
#
# Each ```rust block becomes examples/readme_N.rs of the scratch crate; a
# block without `fn main` (items only) gets an empty one. The workspace's
# Cargo.lock is copied so the versions are the ones CI tests, and the
# workspace's target directory is shared (target/readme-standalone).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/readme-standalone.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}/readme-standalone"

# folder  package  features of the package  extra dependency lines (split
# on ';'): what a user of the example would write in their Cargo.toml
# (the migration examples' message builders and the features that take
# their messages).
lettre='lettre = { version = "0.11", default-features = false, features = ["builder"] }'
crates=(
    "smtp-proto|smtpkit-proto||"
    "smtp-auth|smtpkit-auth||"
    "smtp-tls|smtpkit-tls||"
    "smtp-client|smtpkit-client||"
    "smtp-blocking|smtpkit-blocking|\"lettre\"|$lettre"
    "smtp-async|smtpkit-async||"
    "smtp-tokio|smtpkit-tokio|\"lettre\", \"mail-builder\"|tokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] };$lettre;mail-builder = \"2\""
    "smtp-smol|smtpkit-smol||smol = \"2\""
    "smtp-testkit|smtpkit-testserver||"
)

failed=0
for entry in "${crates[@]}"; do
    IFS='|' read -r folder package features extra <<<"$entry"
    extra=${extra//;/$'\n'}
    dir="$scratch/$folder"
    mkdir -p "$dir/src" "$dir/examples"
    : >"$dir/src/lib.rs"
    cat >"$dir/Cargo.toml" <<TOML
[package]
name = "readme-${folder}"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
${package} = { path = "$root/${folder}", features = [${features}] }
${extra}

[workspace]
TOML
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
    # Every ```rust block (any attributes: no_run, ...), in order.
    awk -v out="$dir/examples/readme_" '
        /^```rust/ { n++; file = out n ".rs"; inside = 1; next }
        /^```/ && inside { inside = 0; close(file); next }
        inside { print > file }
    ' "$root/$folder/README.md"
    count=0
    for example in "$dir"/examples/readme_*.rs; do
        [ -e "$example" ] || continue
        count=$((count + 1))
        grep -q 'fn main' "$example" || printf '\nfn main() {}\n' >>"$example"
    done
    if [ "$count" = 0 ]; then
        echo "readme-standalone: $folder: no Rust example"
        continue
    fi
    if (cd "$dir" && cargo build -q --examples 2>"$dir/build.log"); then
        echo "ok $folder: $count example(s) build with $package alone"
    else
        echo "FAIL $folder: an example does not build with $package alone:"
        sed 's/^/    /' "$dir/build.log" | head -40
        failed=1
    fi
done
exit "$failed"
