# Postfix's smtp-sink on a free loopback port, for the measuring scripts
# (sourced, not run).
#
#   start_smtp_sink WHO LOG   starts `smtp-sink -c 127.0.0.1:PORT 1000`
#                             (as nobody when run as root: smtp-sink
#                             refuses root) on a random port in
#                             43000-44999 (outside the interop instances'
#                             reserved ports), tries five ports, waits until
#                             it accepts; sets `port` and `sink_pid`. Exits 1
#                             naming WHO, with LOG, when it does not start.
#                             The caller kills `sink_pid` when done.

start_smtp_sink() {
    local who=$1 log=$2 user_opt=() up=
    command -v smtp-sink >/dev/null 2>&1 || { echo "$who: smtp-sink not found (Debian postfix)" >&2; exit 2; }
    [ "$(id -u)" = 0 ] && user_opt=(-u nobody)
    for _ in 1 2 3 4 5; do
        port=$((43000 + RANDOM % 2000))
        smtp-sink -c "${user_opt[@]}" "127.0.0.1:$port" 1000 >"$log" 2>&1 &
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
    cat "$log" >&2
    exit 1
}
