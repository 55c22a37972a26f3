#!/usr/bin/env bash
# Parity between msmtp (Debian's, the reference) and smtp-send reading the
# same msmtp configuration file.
#
# Each case writes an accounts file and sends the same message with
# `msmtp -C FILE -a ACCOUNT -t` and `smtp-send -C FILE -a ACCOUNT -t`, each
# to a fresh recording server (smtp-testkit's `record` example, on
# 127.0.0.1 only), and compares the command sequences the server received,
# normalised as scripts/javamail-parity.sh does (an AUTH initial response
# becomes <initial-response>, SIZE=n becomes SIZE=<n>), followed by the
# client's exit status. The EHLO argument is compared as is: both read it
# from the file (`domain`, msmtp's default `localhost`). One deliberate
# difference is normalised away: smtp-send streams standard input without
# inspecting it first, so it declares BODY=8BITMIME when the server offers
# it (and checks the content as it streams); msmtp declares nothing. The
# `# AUTH-OK` lines (the server's, written when it is killed) go last.
# Every case gives `from`: msmtp -t needs it (or --read-envelope-from),
# smtp-send falls back to the From: header's address.
#
# Any difference is printed as a diff and makes the script exit 1, unless
# it is exactly interop/msmtp/CASE.diff, a deliberate one: `refused`, where
# msmtp pipelines DATA behind the refused RCPT and exits 65 without QUIT,
# while smtp-send waits for the RCPT replies before DATA (several
# recipients, no sendpartial: once 354 is out a refusal cannot be taken
# back), sends RSET and QUIT, and exits 67 (a recipient refused).
#
# The `postfix` case runs against the private Postfix of
# scripts/postfix-instance.sh (installed and started here when missing), on
# its submission listener: STARTTLS required, AUTH only after it, the
# instance's CA as `tls_trust_file`, an accounts file with defaults and two
# accounts, `auth on` and `passwordeval`. smtpd logs every command it
# receives (debug_peer_list), so the sequences compared are the server's
# view, STARTTLS included. Three runs: `msmtp -a work -t`, `smtp-send -a
# work -t`, and smtp-send through a `sendmail` symlink with the default
# account; each must deliver to both recipients, Bcc included. smtp-send's
# two runs must agree exactly; against msmtp the deliberate differences are
# interop/msmtp/postfix.diff: smtp-send's `auth on` picks SCRAM-SHA-256
# (the password never crosses the connection) where msmtp built without
# GNU SASL picks PLAIN, and it sends the body with BDAT when the server
# offers CHUNKING (no dot-stuffing) where msmtp always uses DATA. The
# BDAT size counts the `Date:` both add to the message (it has none; the
# field's length is fixed: `Date: Ddd, DD Mmm YYYY HH:MM:SS +0000`).
#
# Usage: scripts/msmtp-parity.sh [CASE...] (default: every case, `postfix`
# only when running as root); artifacts in $PARITY_OUT (default
# target/msmtp-parity).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=${PARITY_OUT:-$target/msmtp-parity}
log() { printf '%s\n' "$*" >&2; }

if ! command -v msmtp >/dev/null 2>&1; then
    log "msmtp-parity: installing msmtp"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq msmtp >/dev/null
fi

cd "$root"
cargo build -q -p smtpkit-send
cargo build -q -p smtpkit-testserver --example record
smtp_send=$target/debug/smtp-send
record=$target/debug/examples/record

# Only a directory this script made (it has the marker) is emptied.
if [ -e "$out" ]; then
    if [ -f "$out/.msmtp-parity" ]; then
        rm -rf "$out"
    elif [ -n "$(ls -A "$out")" ]; then
        log "msmtp-parity: $out is not empty and was not made by this script"
        exit 1
    fi
fi
mkdir -p "$out"
touch "$out/.msmtp-parity"

printf '%s\r\n' \
    'From: Sender <sender@example.org>' \
    'To: rcpt1@example.org, rcpt2@example.org' \
    'Bcc: hidden@example.org' \
    'Subject: parity' \
    'Date: Thu, 26 Nov 2026 12:00:00 +0000' \
    'Message-ID: <msmtp-parity@example.org>' \
    '' \
    'Hello from the msmtp parity test.' >"$out/message.eml"

server_pid=
# shellcheck disable=SC2317 # called through the trap
postfix_dir=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$postfix_dir" ]; then
        "$here/postfix-instance.sh" stop "$postfix_dir" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

# The cases: server arguments, and the accounts file (@PORT@, @CA@).
case_args() {
    case $1 in
    plain) echo "" ;;
    dsn) echo "" ;;
    starttls-auth) echo "--starttls @CA@ --auth PLAIN,LOGIN --user alice:s3cret" ;;
    refused) echo "--refuse rcpt2@example.org" ;;
    *) return 1 ;;
    esac
}
case_rc() {
    case $1 in
    plain) printf '%s\n' 'account plain' 'host 127.0.0.1' 'port @PORT@' 'from sender@example.org' \
        'account default : plain' ;;
    dsn) printf '%s\n' 'defaults' 'dsn_notify failure,delay' 'dsn_return headers' \
        'account dsn' 'host 127.0.0.1' 'port @PORT@' 'domain client.example' 'from sender@example.org' \
        'account default : dsn' ;;
    starttls-auth) printf '%s\n' '# defaults + two accounts, as in the issue' 'defaults' 'tls on' \
        'tls_trust_file @CA@' 'account other' 'host 127.0.0.1' 'port 1' \
        'account work : other' 'host localhost' 'port @PORT@' 'from me@example.org' 'auth on' \
        'user alice' 'passwordeval "printf %s s3cret"' 'account default : work' ;;
    refused) printf '%s\n' 'account r' 'host 127.0.0.1' 'port @PORT@' 'from sender@example.org' \
        'account default : r' ;;
    esac
}

# run_side CASE SIDE(msmtp|ours) DIR
run_side() {
    local name=$1 side=$2 dir=$3 addr pid rc args
    local ca=$dir/$side-ca.pem
    args=$(case_args "$name")
    args=${args//@CA@/$ca}
    # shellcheck disable=SC2086 # the arguments are words without blanks
    "$record" --seconds 30 $args >"$dir/$side.rec" 2>"$dir/$side.server-stderr" &
    pid=$!
    server_pid=$pid
    addr=
    for _ in $(seq 200); do
        addr=$(head -n 1 "$dir/$side.rec" 2>/dev/null || true)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        log "msmtp-parity: the recording server did not start"
        cat "$dir/$side.server-stderr" >&2
        return 1
    fi
    case_rc "$name" | sed -e "s|@PORT@|${addr##*:}|" -e "s|@CA@|$ca|" >"$dir/$side.rc"
    chmod 600 "$dir/$side.rc"
    set +e
    if [ "$side" = msmtp ]; then
        timeout 30 msmtp -C "$dir/$side.rc" -t <"$out/message.eml" >"$dir/$side.stdout" 2>"$dir/$side.stderr"
    else
        timeout 30 "$smtp_send" -C "$dir/$side.rc" -t <"$out/message.eml" >"$dir/$side.stdout" 2>"$dir/$side.stderr"
    fi
    rc=$?
    set -e
    sleep 0.2
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    server_pid=
    tail -n +2 "$dir/$side.rec" | sed -E \
        -e 's/^(AUTH|auth) ([^ ]+) [^ ]+$/\1 \2 <initial-response>/' \
        -e 's/SIZE=[0-9]+/SIZE=<n>/g' \
        -e 's/^(MAIL FROM:<[^>]*>) BODY=8BITMIME/\1/' \
        | grep -v '^# AUTH-OK' >"$dir/$side.norm" || true
    { grep '^# AUTH-OK' "$dir/$side.rec" || true; } | sort >>"$dir/$side.norm"
    echo "# exit $rc" >>"$dir/$side.norm"
}

# The commands in Postfix's log from the line numbered $2 on, one session:
# AUTH's initial response and the SASL responses after it are replaced by
# placeholders (they hold nonces and proofs), as is a SIZE= value.
postfix_commands() {
    tail -n +"$2" "$1" | sed -nE 's/.*smtpd\[[0-9]+\]: < [^:]+: (.*)$/\1/p' | awk '
        /^(EHLO|HELO|STARTTLS|MAIL|RCPT|DATA|BDAT|QUIT|RSET|NOOP|AUTH)( |$)/ { sasl = ($1 == "AUTH") ; print; next }
        sasl { print "<sasl-response>"; next }
        { print }' | sed -E \
        -e 's/^AUTH ([^ ]+) [^ ]+$/AUTH \1 <initial-response>/' \
        -e 's/SIZE=[0-9]+/SIZE=<n>/g' \
        -e 's/^(MAIL FROM:<[^>]*>) BODY=8BITMIME/\1/'
}

postfix_case() {
    local dir=$out/postfix pf side rc start delivered before
    pf=$dir/instance
    mkdir -p "$pf"
    "$here/postfix-instance.sh" install >"$dir/install.log" 2>&1 ||
        { cat "$dir/install.log" >&2; return 1; }
    "$here/postfix-instance.sh" start "$pf" >"$dir/instance.log" 2>&1 ||
        { cat "$dir/instance.log" >&2; return 1; }
    postfix_dir=$pf
    postconf -c "$pf/etc" -e 'debug_peer_list = 127.0.0.1' 'debug_peer_level = 1'
    postfix -c "$pf/etc" reload >/dev/null 2>&1
    sleep 1
    printf '%s\n' '# defaults + two accounts, STARTTLS with a trust file, auth on, passwordeval' \
        'defaults' 'tls on' 'tls_starttls on' "tls_trust_file $pf/tls/ca.pem" \
        'account other' 'host 127.0.0.1' 'port 1' \
        'account work : other' 'host localhost' 'port 42530' 'from alice@example.org' \
        'auth on' 'user alice' 'passwordeval "printf %s Wonderland-2026"' \
        'account default : work' >"$dir/msmtprc"
    chmod 600 "$dir/msmtprc"
    printf '%s\r\n' 'From: Alice <alice@example.org>' 'To: bob@example.net' \
        'Bcc: carol@example.org' 'Subject: msmtp parity through Postfix' \
        'Message-ID: <msmtp-parity-postfix@example.org>' '' 'Hello through Postfix.' >"$dir/message.eml"
    ln -sf "$smtp_send" "$dir/sendmail"
    for side in msmtp ours sendmail; do
        start=$(($(wc -l <"$pf/maillog") + 1))
        before=$(find "$pf/delivered" -type f -not -path '*/.tmp/*' | wc -l)
        set +e
        case $side in
        msmtp) timeout 60 msmtp -C "$dir/msmtprc" -a work -t <"$dir/message.eml" ;;
        ours) timeout 60 "$smtp_send" -C "$dir/msmtprc" -a work -t <"$dir/message.eml" ;;
        sendmail) timeout 60 "$dir/sendmail" -C "$dir/msmtprc" -t <"$dir/message.eml" ;;
        esac >"$dir/$side.stdout" 2>"$dir/$side.stderr"
        rc=$?
        set -e
        # smtpd logs the disconnect after the last command; delivery is
        # asynchronous.
        for _ in $(seq 100); do
            delivered=$(find "$pf/delivered" -type f -not -path '*/.tmp/*' | wc -l)
            if tail -n +"$start" "$pf/maillog" | grep -q 'disconnect from' &&
                [ "$delivered" -ge $((before + 2)) ]; then
                break
            fi
            sleep 0.1
        done
        postfix_commands "$pf/maillog" "$start" >"$dir/$side.norm"
        echo "# exit $rc" >>"$dir/$side.norm"
        echo "# delivered $((delivered - before))" >>"$dir/$side.norm"
    done
    # The log holds the test password (AUTH PLAIN): keep the normalised
    # sequences only.
    "$here/postfix-instance.sh" stop "$pf" >/dev/null 2>&1 || true
    postfix_dir=
    rm -f "$pf/maillog"
    local result=0
    # -t strips Bcc: from what is sent, on both sides.
    if grep -rlq '^Bcc:' "$pf/delivered"; then
        echo "msmtp-parity: postfix: a delivered message still has its Bcc: header"
        result=1
    fi
    if ! diff -u --label "postfix: smtp-send -a work" --label "postfix: sendmail symlink" \
        "$dir/ours.norm" "$dir/sendmail.norm" >"$dir/sendmail.diff"; then
        echo "msmtp-parity: postfix: smtp-send and its sendmail symlink DIFFER"
        cat "$dir/sendmail.diff"
        result=1
    fi
    if diff -u --label "postfix: msmtp" --label "postfix: smtp-send" \
        "$dir/msmtp.norm" "$dir/ours.norm" >"$dir/diff"; then
        echo "msmtp-parity: postfix: same ($(grep -vc '^#' "$dir/ours.norm") commands)"
    elif cmp -s "$root/interop/msmtp/postfix.diff" "$dir/diff"; then
        echo "msmtp-parity: postfix: differs as documented in interop/msmtp/postfix.diff" \
            "($(grep -vc '^#' "$dir/ours.norm") commands; sendmail symlink the same)"
    else
        echo "msmtp-parity: postfix: DIFFERENT"
        cat "$dir/diff"
        result=1
    fi
    return "$result"
}

if [ "$#" -gt 0 ]; then
    cases=("$@")
elif [ "$(id -u)" = 0 ]; then
    cases=(plain dsn starttls-auth refused postfix)
else
    cases=(plain dsn starttls-auth refused)
fi
failed=0
for name in "${cases[@]}"; do
    if [ "$name" = postfix ]; then
        postfix_case || failed=1
        continue
    fi
    case_args "$name" >/dev/null || { log "msmtp-parity: no case $name"; exit 64; }
    dir=$out/$name
    mkdir -p "$dir"
    run_side "$name" msmtp "$dir"
    run_side "$name" ours "$dir"
    expected=$root/interop/msmtp/$name.diff
    if diff -u --label "$name: msmtp" --label "$name: smtp-send" "$dir/msmtp.norm" "$dir/ours.norm" >"$dir/diff"; then
        echo "msmtp-parity: $name: same ($(grep -vc '^#' "$dir/ours.norm") commands)"
    elif [ -f "$expected" ] && cmp -s "$expected" "$dir/diff"; then
        echo "msmtp-parity: $name: differs as documented in interop/msmtp/$name.diff"
    else
        echo "msmtp-parity: $name: DIFFERENT"
        cat "$dir/diff"
        failed=1
    fi
done
exit "$failed"
