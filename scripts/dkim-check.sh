#!/usr/bin/env bash
# DKIM, checked by a verifier nobody here wrote, after a real MTA, and the
# memory signing costs:
#   1. smtp-send signs a matrix -- RSA 2048 (PKCS#1 key) and Ed25519, each
#      simple/simple and relaxed/relaxed; an LF-only message with a long
#      folded Subject: and an 8-bit body, a CRLF message, and a 64 MiB file
#      (relaxed, both keys) -- and sends it through the private Postfix
#      (scripts/postfix-instance.sh, 127.0.0.1:42525), which delivers each
#      message into a file. dkimpy (interop/dkim/verify.py, Debian's
#      python3-dkim) verifies every delivered file, the selectors' TXT
#      records served from the test keys. A delivered file with a body
#      octet changed must fail (the verifier is not a rubber stamp).
#   2. Peak RSS (wait4's ru_maxrss) of smtp-send sending the 64 MiB file
#      to smtp-sink, unsigned and signed: fails when signed is above 1.5x
#      unsigned. Prints both.
# Needs root (Postfix). Usage: scripts/dkim-check.sh. SMTP_SEND=PATH
# measures another build.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
# shellcheck source=scripts/measure.sh
. "$here/measure.sh"
# shellcheck source=scripts/packages.sh
. "$here/packages.sh"

install_missing dkim-check python3-dkim
"$here/reserve-ports.sh"
"$here/postfix-instance.sh" install >/dev/null
measure_setup dkim-check smtp-sink
pf=
cleanup() {
    if [ -n "$pf" ]; then "$here/postfix-instance.sh" stop "$pf" >/dev/null 2>&1 || true; fi
    measure_cleanup
}
trap cleanup EXIT

keys=$root/smtp-client/tests/data
install -m 600 "$keys/dkim-rsa2048-pkcs1.pem" "$work/rsa.pem"
install -m 600 "$keys/dkim-ed25519.pem" "$work/ed25519.pem"
txt=(--txt "rsa2026._domainkey.example.org=v=DKIM1; k=rsa; p=$(cat "$keys/dkim-rsa2048.pub.b64")"
    --txt "ed2026._domainkey.example.org=v=DKIM1; k=ed25519; p=$(cat "$keys/dkim-ed25519.pub.b64")")

# The messages. (printf: LF-only lines, a Subject: folded over three lines,
# an 8-bit body with trailing white space; then CRLF; then 64 MiB of text.)
printf 'From: Sender <sender@example.org>\nTo: to@example.org\nSubject: a long subject that is folded\n over several lines, as long headers are,\n\tand signed across the folds\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGr\303\274\303\237e  aus  K\303\266ln \t\n.a line with a dot\n\n\n' >"$work/lf.eml"
printf 'From: sender@example.org\r\nTo: to@example.org\r\nSubject: crlf\r\n\r\nbody\r\n' >"$work/crlf.eml"
python3 - "$work/big.eml" <<'PY'
import sys
line = b"0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"From: sender@example.org\r\nTo: to@example.org\r\nSubject: 64 MiB\r\n\r\n")
    n = (64 << 20) // len(line)
    for _ in range(n // 1024):
        f.write(line * 1024)
PY

pf=$(mktemp -d "${TMPDIR:-/tmp}/dkim-postfix.XXXXXX")
"$here/postfix-instance.sh" start "$pf" >/dev/null

sign() { # KEY CANON -> the smtp-send flags
    local selector=rsa2026
    [ "$1" = ed25519 ] && selector=ed2026
    echo "--dkim-domain example.org --dkim-selector $selector --dkim-key $work/$1.pem --dkim-canonicalization $2"
}
cases=()
for key in rsa ed25519; do
    for canon in simple relaxed; do
        for message in lf crlf; do
            cases+=("$key $canon $message")
        done
    done
    cases+=("$key relaxed big")
done
for c in "${cases[@]}"; do
    read -r key canon message <<<"$c"
    rcpt="$key-$canon-$message@example.org"
    # shellcheck disable=SC2046
    "$send" -s 127.0.0.1:42525 --tls none -m "$work/$message.eml" $(sign "$key" "$canon") "$rcpt" >/dev/null || {
        echo "dkim-check: smtp-send failed for $c" >&2
        exit 1
    }
done
# Delivery is asynchronous.
for _ in $(seq 600); do
    n=$(find "$pf/delivered" -type f -not -path '*/.tmp/*' | wc -l)
    [ "$n" -ge "${#cases[@]}" ] && break
    sleep 0.1
done
mapfile -t delivered < <(find "$pf/delivered" -type f -not -path '*/.tmp/*' | sort)
if [ "${#delivered[@]}" -ne "${#cases[@]}" ]; then
    echo "dkim-check: Postfix delivered ${#delivered[@]} of ${#cases[@]} messages" >&2
    tail -n 20 "$pf/maillog" >&2
    exit 1
fi
# The control: a delivered message with one body octet changed.
small=$(grep -l 'signed across the folds' "${delivered[@]}" | head -n 1)
sed 's/dot$/DOT/' "$small" >"$work/tampered.eml"
result=0
/usr/bin/python3 "$root/interop/dkim/verify.py" "${txt[@]}" "${delivered[@]}" | sed "s|$pf/delivered/||" || result=1
if /usr/bin/python3 "$root/interop/dkim/verify.py" "${txt[@]}" "$work/tampered.eml" >/dev/null; then
    echo "dkim-check: dkimpy passed an altered message" >&2
    result=1
fi
[ "$result" = 0 ] || { echo "dkim-check: dkimpy refused a delivered message" >&2; exit 1; }
echo "dkim-check: dkimpy verified all ${#delivered[@]} messages delivered by Postfix (RSA and Ed25519, simple and relaxed, LF-only, folded, 8-bit, 64 MiB)"

# 2. Peak RSS, signed and unsigned, to smtp-sink.
start_smtp_sink dkim-check
cat >"$work/maxrss.py" <<'PY'
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(1)
print(usage.ru_maxrss)
PY
rss() { # extra flags... -> KiB
    # shellcheck disable=SC2068
    python3 "$work/maxrss.py" "$send" -s "127.0.0.1:$port" --tls none -m "$work/big.eml" $@ rss@example.net 2>/dev/null
}
unsigned=$(rss)
# shellcheck disable=SC2046
signed_rsa=$(rss $(sign rsa relaxed))
# shellcheck disable=SC2046
signed_ed=$(rss $(sign ed25519 relaxed))
echo "dkim-check: peak RSS sending 64 MiB from a file: unsigned ${unsigned} KiB, RSA-signed ${signed_rsa} KiB, Ed25519-signed ${signed_ed} KiB"
for signed in "$signed_rsa" "$signed_ed"; do
    if [ $((signed * 2)) -gt $((unsigned * 3)) ]; then
        echo "dkim-check: signing costs more than 1.5x the unsigned peak RSS" >&2
        exit 1
    fi
done
echo "dkim-check: ok"
