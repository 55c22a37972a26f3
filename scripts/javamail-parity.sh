#!/usr/bin/env bash
# Parity between JavaMail 1.6.5 (the reference behaviour) and smtp-send.
#
# For every case file interop/javamail/cases/*.properties, sends the same
# message with the same mail.smtp.* properties twice, each time to a fresh
# recording server (smtp-testkit's `record` example, which prints every
# command line it receives): once with JavaMail (interop/javamail/Send.java)
# and once with `smtp-send --properties FILE`. The two command sequences are
# normalised and compared:
#   - the EHLO/HELO argument becomes <name>;
#   - an AUTH initial response becomes <initial-response> (continuation lines
#     are never recorded by the testkit);
#   - SIZE=n becomes SIZE=<n> and BDAT n becomes BDAT <n>;
#   - "# AUTH-OK MECHANISM USER" lines (from the server) are moved to the end;
#   - then the outcome per address, "# sent: ...", "# unsent: ...",
#     "# invalid: ..." (JavaMail's SendFailedException lists, smtp-send's
#     JSON accepted / unsent / rejected), and a last line "# exit N", the
#     client's exit status (both use sysexits: 0 all sent, 67 a recipient
#     refused, 77 AUTH failed, ...).
# Order is compared as is: neither client reorders commands; PIPELINING only
# groups them, which the recording does not show.
#
# Every difference is a diff line "CASE: -LINE" (JavaMail only) or
# "CASE: +LINE" (smtp-send only). Lines listed in
# interop/javamail/expected-differences.txt (CASE may be "*") are the
# deliberate ones (see docs/javamail-parity.md); any other makes the script
# exit 1, as does a case that did not run. Allow-list entries that no longer
# occur are reported as stale (an error with PARITY_STRICT=1).
#
# Directives in a case file (Java .properties comments, ignored by both
# property parsers):
#   #! server: ARGS       arguments for the recording server (see record.rs)
# (ARGS are split as shell words: quote a value that contains spaces)
#   #! recipients: A B    envelope recipients (default rcpt1@ and rcpt2@example.org)
#   #! message: NAME      ascii (default) or 8bit
#   #! host: NAME         server host name to give both clients (default 127.0.0.1)
#   #! smtp-send: ARGS    extra arguments for smtp-send
#   #! java: ARGS         extra arguments for Send.java
#   #! jvm: ARGS          extra JVM options
#   #! note: TEXT         what the case checks
# In ARGS, @CA@ is the PEM file the server wrote for --starttls and
# @TRUSTSTORE@ a PKCS12 trust store made from it for the JVM.
# Both clients get PARITY_PASSWORD (the password of the test accounts)
# through --password-env.
#
# Usage: scripts/javamail-parity.sh [CASE...]   (case names without .properties)
# PARITY_SMTP_SEND_ARGS adds arguments to every smtp-send run (shell words),
# e.g. PARITY_SMTP_SEND_ARGS='--runtime blocking' (smtp-send is built with
# its `async-std` feature, so every --runtime value works here).
# Artifacts (recordings, normalised sequences, client output) are kept in
# $PARITY_OUT (default target/javamail-parity).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
interop=$root/interop/javamail
allow=$interop/expected-differences.txt
target=${CARGO_TARGET_DIR:-$root/target}
out=${PARITY_OUT:-$target/javamail-parity}
started=$(date +%s%N)

log() { printf '%s\n' "$*" >&2; }

# --- 1. packages (idempotent) ---------------------------------------------
mail_jar=/usr/share/java/javax.mail.jar
activation_jar=/usr/share/java/javax.activation.jar
if ! dpkg -s libmail-java default-jdk-headless >/dev/null 2>&1 \
    || [ ! -f "$mail_jar" ] || ! command -v javac >/dev/null 2>&1 \
    || ! command -v python3 >/dev/null 2>&1; then
    log "javamail-parity: installing libmail-java, default-jdk-headless and python3"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmail-java default-jdk-headless \
        python3 >/dev/null
fi
# javax.mail.jar names javax.activation.jar in its manifest's Class-Path
# (libactivation-java, a dependency of libmail-java); JDK 11+ has no
# javax.activation of its own, so put it on the class path explicitly too.
for jar in "$mail_jar" "$activation_jar"; do
    [ -f "$jar" ] || { log "javamail-parity: $jar is missing"; exit 1; }
done

# --- 2. builds --------------------------------------------------------------
cd "$root"
cargo build -q -p smtpkit-send --features async-std
cargo build -q -p smtpkit-testserver --example record
smtp_send=$target/debug/smtp-send
record=$target/debug/examples/record

# Only a directory this script made (it has the marker) is emptied.
if [ -e "$out" ]; then
    if [ -f "$out/.javamail-parity" ]; then
        rm -rf "$out"
    elif [ -n "$(ls -A "$out")" ]; then
        log "javamail-parity: $out is not empty and was not made by this script"
        exit 1
    fi
fi
mkdir -p "$out/classes"
touch "$out/.javamail-parity"
javac -d "$out/classes" -cp "$mail_jar" "$interop/Send.java"
classpath=$mail_jar:$activation_jar:$out/classes

# --- 3. messages ------------------------------------------------------------
printf '%s\r\n' \
    'From: Sender <sender@example.org>' \
    'To: rcpt1@example.org, rcpt2@example.org' \
    'Subject: parity' \
    'Date: Thu, 26 Nov 2026 12:00:00 +0000' \
    'Message-ID: <parity-ascii@example.org>' \
    'MIME-Version: 1.0' \
    'Content-Type: text/plain; charset=us-ascii' \
    '' \
    'Hello from the parity test.' \
    '.leading dot' >"$out/ascii.eml"
printf '%s\r\n' \
    'From: Sender <sender@example.org>' \
    'To: rcpt1@example.org, rcpt2@example.org' \
    'Subject: parity 8bit' \
    'Date: Thu, 26 Nov 2026 12:00:00 +0000' \
    'Message-ID: <parity-8bit@example.org>' \
    'MIME-Version: 1.0' \
    'Content-Type: text/plain; charset=UTF-8' \
    'Content-Transfer-Encoding: 8bit' \
    '' \
    'Grüße aus dem Paritätstest.' >"$out/8bit.eml"

export PARITY_PASSWORD=s3cret-Passw0rd

# --- 4. one side of one case ------------------------------------------------
# The one recording server running (cleared once it has been waited for,
# so that a recycled process id is never signalled).
server_pid=
# shellcheck disable=SC2317 # called through the trap
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

directive() { sed -n "s/^#! $1: *//p" "$2" | head -n 1; }

# run_side CASE_FILE SIDE(java|ours) DIR -> DIR/SIDE.rec, .stdout, .stderr, .exit
run_side() {
    local file=$1 side=$2 dir=$3
    local server_args recipients message host extra jvm addr port pid rc
    server_args=$(directive server "$file")
    recipients=$(directive recipients "$file")
    recipients=${recipients:-rcpt1@example.org rcpt2@example.org}
    message=$(directive message "$file")
    message=$out/${message:-ascii}.eml
    host=$(directive host "$file")
    host=${host:-127.0.0.1}
    local ca=$dir/$side-ca.pem truststore=$dir/$side-truststore.p12
    server_args=${server_args//@CA@/$ca}

    local -a server_argv extra_argv jvm_argv recipient_argv
    eval "server_argv=($server_args)"
    eval "recipient_argv=($recipients)"
    "$record" --seconds 60 "${server_argv[@]}" >"$dir/$side.rec" 2>"$dir/$side.server-stderr" &
    pid=$!
    server_pid=$pid
    for _ in $(seq 200); do
        addr=$(head -n 1 "$dir/$side.rec" 2>/dev/null || true)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if [ -z "$addr" ]; then
        log "javamail-parity: the recording server did not start:"
        cat "$dir/$side.server-stderr" >&2
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        server_pid=
        return 1
    fi
    port=${addr##*:}
    if [ -f "$ca" ]; then
        keytool -importcert -noprompt -alias testkit -file "$ca" -keystore "$truststore" \
            -storetype PKCS12 -storepass changeit >/dev/null 2>&1
    fi

    set +e
    if [ "$side" = java ]; then
        extra=$(directive java "$file")
        jvm=$(directive jvm "$file")
        eval "extra_argv=(${extra//@CA@/$ca})"
        eval "jvm_argv=(${jvm//@TRUSTSTORE@/$truststore})"
        timeout 60 java "${jvm_argv[@]}" -cp "$classpath" Send --properties "$file" \
            -s "$host:$port" -m "$message" --password-env PARITY_PASSWORD "${extra_argv[@]}" \
            "${recipient_argv[@]}" \
            >"$dir/$side.stdout" 2>"$dir/$side.stderr"
    else
        extra=$(directive smtp-send "$file")
        eval "extra_argv=(${extra//@CA@/$ca})"
        eval "extra_argv+=(${PARITY_SMTP_SEND_ARGS:-})"
        timeout 60 "$smtp_send" --properties "$file" -s "$host:$port" -m "$message" \
            --password-env PARITY_PASSWORD --transcript --json "${extra_argv[@]}" \
            "${recipient_argv[@]}" \
            >"$dir/$side.stdout" 2>"$dir/$side.stderr"
    fi
    rc=$?
    set -e
    echo "$rc" >"$dir/$side.exit"
    # The server prints each command within 5 ms; give QUIT a moment.
    for _ in $(seq 40); do
        grep -q '^QUIT' "$dir/$side.rec" && break
        sleep 0.025
    done
    sleep 0.05
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    server_pid=
}

# report SIDE DIR -> "# sent: ...", "# unsent: ...", "# invalid: ..." lines:
# JavaMail's SendFailedException address lists (Send.java's summary) and
# smtp-send's JSON report (accepted, unsent, rejected).
report() {
    local side=$1 dir=$2
    if [ "$side" = java ]; then
        sed -n -E \
            -e 's/^valid-sent: /# sent: /p' \
            -e 's/^valid-unsent: /# unsent: /p' \
            -e 's/^invalid: /# invalid: /p' "$dir/java.stderr"
    else
        python3 - "$dir/ours.stdout" <<'PY'
import json, sys
try:
    with open(sys.argv[1]) as f:
        r = json.loads(f.read().strip().splitlines()[-1])
except Exception:
    print("# report: none")
    sys.exit()
def show(addresses):
    return " ".join(addresses) or "-"
print("# sent: " + show(r.get("accepted", [])))
print("# unsent: " + show(r.get("unsent", [])))
print("# invalid: " + show(a["address"] for a in r.get("rejected", [])))
PY
    fi
}

# normalise REC EXIT SIDE DIR -> stdout
normalise() {
    local rec=$1 rc=$2
    tail -n +2 "$rec" | sed -E \
        -e 's/^(EHLO|HELO|ehlo|helo)( .*)?$/\1 <name>/' \
        -e 's/^(AUTH|auth) ([^ ]+) [^ ]+$/\1 \2 <initial-response>/' \
        -e 's/SIZE=[0-9]+/SIZE=<n>/g' \
        -e 's/^BDAT [0-9]+/BDAT <n>/' \
        | grep -v '^# AUTH-OK' || true
    grep '^# AUTH-OK' "$rec" | sort || true
    report "$3" "$4"
    echo "# exit $rc"
}

# --- 5. the cases -----------------------------------------------------------
if [ "$#" -gt 0 ]; then
    cases=()
    for name in "$@"; do
        cases+=("$interop/cases/$name.properties")
    done
else
    cases=("$interop"/cases/*.properties)
fi

: >"$out/differences.txt"
failed_cases=()
for file in "${cases[@]}"; do
    name=$(basename "$file" .properties)
    if [ ! -f "$file" ]; then
        log "javamail-parity: no case $file"
        failed_cases+=("$name")
        continue
    fi
    dir=$out/$name
    mkdir -p "$dir"
    if ! run_side "$file" java "$dir" || ! run_side "$file" ours "$dir"; then
        failed_cases+=("$name")
        continue
    fi
    normalise "$dir/java.rec" "$(cat "$dir/java.exit")" java "$dir" >"$dir/java.norm"
    normalise "$dir/ours.rec" "$(cat "$dir/ours.exit")" ours "$dir" >"$dir/ours.norm"
    if ! grep -q . <(tail -n +2 "$dir/java.rec"); then
        log "javamail-parity: $name: JavaMail sent no command (see $dir/java.stderr)"
        failed_cases+=("$name")
    fi
    { diff -U0 "$dir/java.norm" "$dir/ours.norm" || true; } | tail -n +3 | grep -v '^@@' \
        | sed "s/^/$name: /" >"$dir/differences.txt" || true
    cat "$dir/differences.txt" >>"$out/differences.txt"
    printf '%-28s java exit %-3s ours exit %-3s %s difference line(s)\n' "$name" \
        "$(cat "$dir/java.exit")" "$(cat "$dir/ours.exit")" "$(wc -l <"$dir/differences.txt")"
done

# --- 6. the verdict ---------------------------------------------------------
allowed=$out/allowed.txt
if [ -f "$allow" ]; then
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$allow" >"$allowed" || true
else
    : >"$allowed"
fi
unexpected=()
while IFS= read -r line; do
    rest=${line#*: }
    if grep -qxF -- "$line" "$allowed" || grep -qxF -- "*: $rest" "$allowed"; then
        continue
    fi
    unexpected+=("$line")
done <"$out/differences.txt"

stale=()
while IFS= read -r entry; do
    entry_case=${entry%%: *}
    entry_rest=${entry#*: }
    if [ "$entry_case" = "*" ]; then
        sed 's/^[^:]*//' "$out/differences.txt" | grep -qxF -- ": $entry_rest" && continue
    else
        # Only entries for cases that ran this time can be judged.
        [ -f "$out/$entry_case/differences.txt" ] || continue
        grep -qxF -- "$entry" "$out/differences.txt" && continue
    fi
    stale+=("$entry")
done <"$allowed"

elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo
echo "javamail-parity: ${#cases[@]} case(s), $(wc -l <"$out/differences.txt") difference line(s), ${#unexpected[@]} not in $(basename "$allow"); $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))s; artifacts in $out"
status=0
if [ "${#unexpected[@]}" -gt 0 ]; then
    echo "Unexpected differences (JavaMail '-', smtp-send '+'):"
    printf '  %s\n' "${unexpected[@]}"
    status=1
fi
if [ "${#stale[@]}" -gt 0 ]; then
    echo "Allow-list entries that did not occur (stale):"
    printf '  %s\n' "${stale[@]}"
    [ "${PARITY_STRICT:-0}" = 1 ] && status=1
fi
if [ "${#failed_cases[@]}" -gt 0 ]; then
    echo "Cases that did not run: ${failed_cases[*]}"
    status=1
fi
exit "$status"
