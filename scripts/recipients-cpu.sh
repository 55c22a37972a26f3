#!/usr/bin/env bash
# Client CPU per recipient as the recipient list grows: the release
# smtp-send sends one 60-octet message to N recipients
# (`smtp-send -s 127.0.0.1:PORT --tls none -f a@example.com -m msg.eml
# r0@example.net … r{N-1}@example.net`) through a private Postfix
# smtp-sink on loopback, for each N given, REPEATS times, and prints the
# median user CPU (seconds, from wait4's rusage), the microseconds per
# recipient, and each N's cost per recipient over the smallest N's. A
# linear cost keeps that ratio near 1; a quadratic one doubles it with
# every doubling of N.
#
#   scripts/recipients-cpu.sh [REPEATS] [N...]
#
# Defaults: 3 repeats; N = 10000 20000 40000 50000 60000 (the command
# line of 80,000 addresses passes the kernel's argument limit; below
# 10,000 the process start-up outweighs the recipients).
# SMTP_SEND names another binary (an older build) instead of building.
set -euo pipefail

repeats=${1:-3}
shift || true
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(10000 20000 40000 50000 60000)
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/measure.sh
. "$root/scripts/measure.sh"
measure_setup recipients-cpu smtp-sink
printf 'Subject: fan-out\r\n\r\nOne message, many recipients.\r\n' >"$work/msg.eml"

start_smtp_sink recipients-cpu

# User CPU of one run with microsecond resolution (wait4's rusage;
# /usr/bin/time prints hundredths). The argument list comes in a file:
# python's own command line would hit the same kernel limit.
cat >"$work/user-cpu.py" <<'PY'
import os, subprocess, sys
argv = open(sys.argv[1], "rb").read().split(b"\0")[:-1]
with open(sys.argv[2], "wb") as err:
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    _, status, usage = os.wait4(child.pid, 0)
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(1)
print(f"{usage.ru_utime:.4f}")
PY

results=()
for n in "${sizes[@]}"; do
    mapfile -t rcpts < <(seq 0 $((n - 1)) | sed 's/^/r/; s/$/@example.net/')
    runs=()
    for _ in $(seq "$repeats"); do
        printf '%s\0' "$send" -s "127.0.0.1:$port" --tls none -f a@example.com \
            -m "$work/msg.eml" "${rcpts[@]}" >"$work/argv"
        runs+=("$(python3 "$work/user-cpu.py" "$work/argv" "$work/err")") || {
            cat "$work/err" >&2
            exit 1
        }
    done
    results+=("$n:${runs[*]}")
done
python3 - "${results[@]}" <<'PY'
import statistics, sys
rows = []
for arg in sys.argv[1:]:
    n, runs = arg.split(":")
    rows.append((int(n), statistics.median(float(x) for x in runs.split())))
base_n, base_cpu = rows[0]
base = max(base_cpu, 1e-6) / base_n
print(f"{'recipients':>10} {'user CPU (s)':>12} {'µs/recipient':>13} {'× per recipient at ' + str(base_n):>24}")
for n, cpu in rows:
    print(f"{n:>10} {cpu:>12.3f} {cpu * 1e6 / n:>13.2f} {cpu / n / base:>24.2f}")
PY
