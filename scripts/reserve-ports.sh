#!/usr/bin/env bash
# Keeps the kernel from handing the interop instances' fixed loopback ports
# (42525-42570: Postfix, smtp-sink, Dovecot, Exim, see interop.sh; the GNU
# SASL harnesses, see gsasl-check.sh; PostgreSQL and its SMTP bridge, see
# postgres-endpoint-check.sh; the OAuth2 provider, Dovecot submission and
# smtp-sink on 42544-42547, see oauth2-instance.sh) to
# outgoing connections as ephemeral source ports. They sit inside Linux's
# default ephemeral range (32768-60999), and the soak's thousands of
# connections leave sockets in TIME_WAIT on random ports for a minute: CI
# failed once with "smtp-sink: fatal: bind 127.0.0.1 port 42526: Address
# already in use". Needs root to write the sysctl; without it, says so and
# carries on. Then waits (up to 70 s, longer than TIME_WAIT) until no socket
# holds one of the ports, and fails naming the port if one still does.
set -euo pipefail

FIRST=42525
LAST=42570
sysctl=/proc/sys/net/ipv4/ip_local_reserved_ports

if [ -w "$sysctl" ]; then
    current=$(cat "$sysctl")
    case ",$current," in
    *",$FIRST-$LAST,"*) ;;
    *) echo "${current:+$current,}$FIRST-$LAST" >"$sysctl" ;;
    esac
else
    echo "reserve-ports: cannot write $sysctl (not root?); ports $FIRST-$LAST may be taken by outgoing connections" >&2
fi

command -v ss >/dev/null 2>&1 || exit 0
busy_port() {
    ss -Htan "( sport >= :$FIRST and sport <= :$LAST )" | awk '{ n = split($4, a, ":"); print a[n]; exit }'
}
for _ in $(seq 70); do
    [ -z "$(busy_port)" ] && exit 0
    sleep 1
done
port=$(busy_port)
[ -z "$port" ] && exit 0
echo "reserve-ports: 127.0.0.1:$port is still held after 70 s:" >&2
ss -Htanp "( sport = :$port )" >&2 || true
exit 1
