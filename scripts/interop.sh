#!/usr/bin/env bash
# Interop tests against a real Postfix: installs Postfix when missing,
# starts a private instance on loopback (scripts/postfix-instance.sh), runs
# smtp-blocking's tests/postfix.rs (delivery) and tests/cyrus.rs (SASL
# mechanisms against Cyrus SASL) against it, and always stops it.
# Needs root. Exits non-zero when a step or a test fails; both test files
# run even when the first fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
instance=$here/postfix-instance.sh

"$instance" install

dir=$(mktemp -d "${TMPDIR:-/tmp}/smtp-interop.XXXXXX")
cleanup() {
    local rc=$?
    "$instance" stop "$dir" || echo "interop: stopping the instance failed" >&2
    if [ "$rc" != 0 ] && [ -f "$dir/maillog" ]; then
        echo "---- last lines of $dir/maillog ----" >&2
        tail -n 30 "$dir/maillog" >&2
    fi
    # Delivered mail (the 50 MiB test leaves ~100 MiB) goes with the instance.
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

"$instance" start "$dir"

export SMTP_INTEROP_POSTFIX=127.0.0.1:42525
export SMTP_INTEROP_DELIVERED=$dir/delivered
export SMTP_INTEROP_SINK=127.0.0.1:42526
export SMTP_INTEROP_SASL=127.0.0.1:42527
export SMTP_INTEROP_REQUIRED=1

cd "$root"
status=0
cargo test -p smtp-blocking --test postfix -- --test-threads=2 || status=1
cargo test -p smtp-blocking --test cyrus -- --test-threads=2 || status=1
[ "$status" = 0 ]
