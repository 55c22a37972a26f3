#!/usr/bin/env bash
# End-to-end throughput benchmark (benches/benches/throughput/): our client
# on blocking, tokio and smol, lettre 0.11 and mail-send (each as shipped
# and with TCP_NODELAY), and Postfix's smtp-source as the reference, all
# sending to smtp-testkit's sink and to Postfix's smtp-sink.
#
#   scripts/bench-throughput.sh [OPTIONS]
#
# Compiles the TCP_NODELAY LD_PRELOAD shim
# (benches/benches/throughput/nodelay_shim.c) with gcc, starts a private
# smtp-sink on a free 127.0.0.1 high port when it is installed, runs
# `cargo bench -p smtp-benches --bench throughput -- all ...` (each client
# runs in its own subprocess of the bench binary), prints a Markdown table
# and the issue's targets, and writes target/throughput.json. OPTIONS go to
# the bench: --small N (1 KiB messages, default 2000), --rcpt50 N (default
# 200), --large N (1 MiB messages, default 100), --big N (64 MiB messages,
# default 1), --concurrent N (over 4 connections, default 4000), --repeat N
# (default 3), --max-seconds S (default 5), --batch N (default 64),
# --scenarios/--clients/--sinks LIST; see `... --bench throughput -- help`.
# THROUGHPUT_PIN=C,S (default 0,1 on 2+ CPUs) runs the clients on CPU C and
# both sinks on CPU S with taskset, so that every run has the same
# placement (on a VM a wakeup across CPUs costs several times one on the
# same CPU, and an unpinned run flips between the two); THROUGHPUT_PIN=none
# leaves placement to the scheduler. Takes about 3 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target"

work=$(mktemp -d "${TMPDIR:-/tmp}/smtp-throughput.XXXXXX")
sink_pid=
cleanup() {
    local rc=$?
    if [ -n "$sink_pid" ]; then
        kill "$sink_pid" 2>/dev/null || true
        wait "$sink_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# 1. The shim.
shim=
if command -v "${CC:-gcc}" >/dev/null 2>&1; then
    "${CC:-gcc}" -O2 -shared -fPIC -o "$work/nodelay_shim.so" \
        benches/benches/throughput/nodelay_shim.c -ldl
    shim=$work/nodelay_shim.so
else
    echo "bench-throughput: no C compiler: the +nodelay shim runs are skipped" >&2
fi

# CPU placement.
pin=${THROUGHPUT_PIN:-}
if [ -z "$pin" ]; then
    if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
        pin=0,1
    else
        pin=none
    fi
fi
sink_pin=()
if [ "$pin" != none ]; then
    sink_pin=(taskset -c "${pin#*,}")
fi

# 2. Postfix's smtp-sink, private, on a free loopback port.
smtp_sink=${SMTP_SINK:-$(command -v smtp-sink || echo /usr/sbin/smtp-sink)}
sink_addr=
if [ -x "$smtp_sink" ]; then
    user_opt=()
    [ "$(id -u)" = 0 ] && user_opt=(-u nobody)
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        port=$((40000 + RANDOM % 20000))
        "${sink_pin[@]}" "$smtp_sink" -c "${user_opt[@]}" "127.0.0.1:$port" 1000 \
            >"$work/smtp-sink.log" 2>&1 &
        sink_pid=$!
        up=
        for _ in $(seq 50); do
            if ! kill -0 "$sink_pid" 2>/dev/null; then
                break
            fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                up=1
                break
            fi
            sleep 0.1
        done
        if [ -n "$up" ]; then
            sink_addr=127.0.0.1:$port
            break
        fi
        kill "$sink_pid" 2>/dev/null || true
        wait "$sink_pid" 2>/dev/null || true
        sink_pid=
    done
    if [ -z "$sink_addr" ]; then
        echo "bench-throughput: smtp-sink did not start:" >&2
        cat "$work/smtp-sink.log" >&2 || true
        exit 1
    fi
    echo "bench-throughput: smtp-sink on $sink_addr (pid $sink_pid)" >&2
else
    echo "bench-throughput: smtp-sink not installed: testkit sink only" >&2
fi

# 3. The bench.
args=(all --json "$target/throughput.json" --big-file "$target/throughput-64MiB.eml" --pin "$pin")
[ -n "$shim" ] && args+=(--shim "$shim")
[ -n "$sink_addr" ] && args+=(--postfix-sink "$sink_addr" --postfix-sink-pid "$sink_pid")
cargo bench -p smtp-benches --bench throughput -- "${args[@]}" "$@"
