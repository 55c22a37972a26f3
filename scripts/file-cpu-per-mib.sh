#!/usr/bin/env bash
# CPU per MiB of a message file sent many times on one connection: the
# release smtp-send (`-m FILE --count N`, the CLI's bulk mode) side by side
# with Postfix's smtp-source (`-d -F FILE -m N`, one connection), both
# against a private smtp-sink on loopback, in one run (the machines are
# noisy: compare the ratio, not the absolute figures).
#
#   scripts/file-cpu-per-mib.sh [COUNT] [REPEATS] [KIB]
#
# COUNT 1 measures a single send (`-m FILE` without --count: the file is
# streamed from disk). Defaults: 150 messages of 1024 KiB (a text message with CRLF lines of
# 76 octets), 3 repeats, alternating the two senders. Prints user+system
# CPU in ms per MiB for each run, the medians, and smtp-send's median over
# smtp-source's. Needs smtp-sink and smtp-source (Debian postfix) and
# /usr/bin/time; builds smtp-send in release mode, unless SMTP_SEND names
# another binary (an older build, to compare two commits in one run).
set -euo pipefail

count=${1:-150}
repeats=${2:-3}
kib=${3:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/measure.sh
. "$root/scripts/measure.sh"
measure_setup file-cpu-per-mib smtp-sink smtp-source

# The message: headers, then lines of 74 letters and CRLF, to KIB KiB.
python3 - "$work/msg.eml" "$kib" <<'PY'
import sys
path, kib = sys.argv[1], int(sys.argv[2])
head = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: cpu per MiB\r\n\r\n"
line = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv\r\n"
body = bytearray(head)
while len(body) + len(line) <= kib * 1024:
    body += line
open(path, "wb").write(bytes(body))
PY
mib=$(python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) * $count / 1048576)" "$work/msg.eml")

start_smtp_sink file-cpu-per-mib

cpu() { # prints user+system seconds of the command
    /usr/bin/time -f "%U %S" -o "$work/time" "$@" >/dev/null 2>"$work/err" || {
        cat "$work/err" >&2
        exit 1
    }
    awk '{ print $1 + $2 }' "$work/time"
}

# One message goes the way a single send goes: the file streamed from
# disk (read twice: inspected, then sent), not the bulk mode's buffer.
count_opt=(--count "$count")
[ "$count" = 1 ] && count_opt=()
ours=()
theirs=()
for r in $(seq "$repeats"); do
    a=$(cpu "$send" -s "127.0.0.1:$port" --tls none -f a@example.org -m "$work/msg.eml" \
        "${count_opt[@]}" --runtime blocking b@example.net)
    b=$(cpu smtp-source -d -s 1 -m "$count" -f a@example.org -t b@example.net \
        -F "$work/msg.eml" "127.0.0.1:$port")
    a_ms=$(python3 -c "print(round($a * 1000 / $mib, 3))")
    b_ms=$(python3 -c "print(round($b * 1000 / $mib, 3))")
    echo "run $r: smtp-send $a_ms ms/MiB, smtp-source $b_ms ms/MiB"
    ours+=("$a_ms")
    theirs+=("$b_ms")
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(ours), statistics.median(theirs)
ratio = f"{a / b:.2f}x" if b > 0 else "n/a (too few messages to measure; raise COUNT)"
print(f"median: smtp-send {a:.3f} ms/MiB, smtp-source {b:.3f} ms/MiB, ratio {ratio}")
PY
