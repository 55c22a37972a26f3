# The set-up the end-to-end measuring scripts share (sourced, not run):
# the smtp-send to measure, a scratch directory, and Postfix's smtp-sink
# on a free loopback port.
#
#   measure_setup WHO TOOL...
#       checks that each TOOL is installed (exit 2 naming it); sets `send`
#       to $SMTP_SEND when given (an older build, to compare two commits
#       in one run), else builds smtp-send in release mode; makes `work`, a
#       scratch directory removed on exit with the sink.
#   start_smtp_sink WHO
#       starts `smtp-sink -c 127.0.0.1:PORT 1000` (as nobody when run as
#       root: smtp-sink refuses root) on a random port in 43000-44999
#       (outside the interop instances' reserved ports), tries five ports,
#       waits until it accepts; sets `port`. Exits 1 naming WHO, with the
#       sink's log, when it does not start.

measure_setup() {
    local who=$1 tool
    shift
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "$who: $tool not found (Debian postfix)" >&2; exit 2; }
    done
    if [ -n "${SMTP_SEND:-}" ]; then
        send=$SMTP_SEND
    else
        cargo build -q --release -p smtpkit-send
        send="$PWD/target/release/smtp-send"
    fi
    work=$(mktemp -d "${TMPDIR:-/tmp}/$who.XXXXXX")
    sink_pid=
    trap measure_cleanup EXIT
}

measure_cleanup() {
    if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}

start_smtp_sink() {
    local who=$1 user_opt=() up=
    [ "$(id -u)" = 0 ] && user_opt=(-u nobody)
    for _ in 1 2 3 4 5; do
        port=$((43000 + RANDOM % 2000))
        smtp-sink -c "${user_opt[@]}" "127.0.0.1:$port" 1000 >"$work/sink.log" 2>&1 &
        sink_pid=$!
        for _ in $(seq 50); do
            kill -0 "$sink_pid" 2>/dev/null || break
            if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
                up=1
                break
            fi
            sleep 0.1
        done
        [ -n "$up" ] && return 0
    done
    echo "$who: smtp-sink did not start:" >&2
    cat "$work/sink.log" >&2
    exit 1
}
