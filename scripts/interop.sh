#!/usr/bin/env bash
# Interop tests against a real Postfix: installs Postfix, Cyrus SASL and
# the SOCKS5 servers when missing, starts a private instance on loopback
# (scripts/postfix-instance.sh), runs the shared interop suite
# (smtp-testkit's interop module: delivery, SASL mechanisms against Cyrus
# SASL, STARTTLS, implicit TLS, submission, trust, names, versions,
# microsocks and dante; LMTP against a private Dovecot,
# scripts/dovecot-instance.sh; PRDR and NTLMv1 against a private Exim,
# scripts/exim-instance.sh; Dovecot's submission service, relaying to
# private smtp-sinks, for BDAT only into an accepted transaction) on every
# adapter — the `interop` test of
# smtp-blocking, smtp-tokio and smtp-smol (smol and async-std) — against
# it, and always stops it. Needs root. Exits non-zero when a step or a
# test fails; every adapter's tests run even when an earlier one fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
instance=$here/postfix-instance.sh
dovecot=$here/dovecot-instance.sh
exim=$here/exim-instance.sh

"$here/reserve-ports.sh"
"$instance" install
"$dovecot" install
"$exim" install

dir=$(mktemp -d "${TMPDIR:-/tmp}/smtp-interop.XXXXXX")
# Dovecot's unprivileged processes read their files below it.
chmod 755 "$dir"
cleanup() {
    local rc=$?
    "$instance" stop "$dir" || echo "interop: stopping the instance failed" >&2
    "$dovecot" stop "$dir/dovecot" || echo "interop: stopping Dovecot failed" >&2
    "$exim" stop "$dir/exim" || echo "interop: stopping Exim failed" >&2
    if [ "$rc" != 0 ] && [ -f "$dir/exim/log/mainlog" ]; then
        echo "---- last lines of Exim's mainlog ----" >&2
        tail -n 20 "$dir/exim/log/mainlog" >&2
    fi
    if [ "$rc" != 0 ] && [ -f "$dir/dovecot/dovecot.log" ]; then
        echo "---- last lines of the Dovecot log ----" >&2
        tail -n 20 "$dir/dovecot/dovecot.log" >&2
    fi
    if [ "$rc" != 0 ] && [ -f "$dir/maillog" ]; then
        echo "---- last lines of $dir/maillog ----" >&2
        tail -n 30 "$dir/maillog" >&2
    fi
    # Delivered mail (the 50 MiB test leaves ~100 MiB per adapter) goes
    # with the instance.
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

"$instance" start "$dir"
mkdir -p "$dir/dovecot"
"$dovecot" start "$dir/dovecot" 42540 42541
mkdir -p "$dir/exim"
"$exim" start "$dir/exim" 42550

export SMTP_INTEROP_POSTFIX=127.0.0.1:42525
export SMTP_INTEROP_DELIVERED=$dir/delivered
export SMTP_INTEROP_SINK=127.0.0.1:42526
export SMTP_INTEROP_SASL=127.0.0.1:42527
export SMTP_INTEROP_TLS_DIR=$dir/tls
export SMTP_INTEROP_STARTTLS=127.0.0.1:42528
export SMTP_INTEROP_SMTPS=127.0.0.1:42529
export SMTP_INTEROP_SUBMISSION=127.0.0.1:42530
export SMTP_INTEROP_TLS12=127.0.0.1:42531
export SMTP_INTEROP_SOCKS=127.0.0.1:42532
export SMTP_INTEROP_SOCKS_LOG=$dir/microsocks.log
export SMTP_INTEROP_SOCKS_AUTH=127.0.0.1:42533
# dante is optional: the instance says why when it could not start it.
if [ -f "$dir/danted.pid" ]; then
    export SMTP_INTEROP_DANTE=127.0.0.1:42534
else
    unset SMTP_INTEROP_DANTE
fi
export SMTP_INTEROP_LMTP=127.0.0.1:42540
export SMTP_INTEROP_LMTP_SOCKET=$dir/dovecot/run/lmtp
export SMTP_INTEROP_LMTP_MAIL=$dir/dovecot/mail
# Dovecot's submission service, relaying to smtp-sinks on 42542 (accepts,
# dumps into $dir/dovecot/relay) and 42543 (refuses MAIL).
export SMTP_INTEROP_DOVECOT_SUBMISSION=127.0.0.1:42541
export SMTP_INTEROP_DOVECOT_RELAY=$dir/dovecot
export SMTP_INTEROP_EXIM=127.0.0.1:42550
export SMTP_INTEROP_EXIM_LOG=$dir/exim/log/mainlog
export SMTP_INTEROP_REQUIRED=1

cd "$root"
# One suite, every adapter. --no-fail-fast: a failing adapter does not
# keep the others' tests from running.
status=0
cargo test --no-fail-fast -p smtpkit-blocking -p smtpkit-tokio -p smtpkit-smol --features legacy-auth --test interop -- --test-threads=2 ||
    status=1
[ "$status" = 0 ]
