#!/usr/bin/env bash
# A private Exim 4.96 for the interop suite: PRDR and an NTLMv1-only
# authenticator (Exim's `spa`).
#   exim-instance.sh install          the libraries it needs (apt-get) and
#                                     the exim4-daemon-heavy package,
#                                     unpacked into $EXIM_ROOT (it conflicts
#                                     with postfix as an installed package)
#   exim-instance.sh start DIR PORT   a daemon on 127.0.0.1:PORT, state in DIR
#   exim-instance.sh stop DIR
# The binary looks up its compiled-in user `Debian-exim` before it reads
# any configuration: the daemon runs in a private mount namespace whose
# /etc/passwd and /etc/group (copies, bind-mounted) have it, so no system
# user is created. Messages stay in DIR's spool (queue_only). Needs root.
set -euo pipefail

EXIM_ROOT=${EXIM_ROOT:-/opt/smtpkit-exim}
exim=$EXIM_ROOT/usr/sbin/exim4
cmd=${1:?usage: exim-instance.sh install|start DIR PORT|stop DIR}

case "$cmd" in
install)
    [ -x "$exim" ] && exit 0
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libgnutls-dane0 libidn12 \
        libmariadb3 libpq5 libspf2-2 libperl5.36 libsqlite3-0 libldap-2.5-0 libnsl2 \
        libdb5.3 libpcre2-8-0 libsasl2-2 >/dev/null
    work=$(mktemp -d)
    (cd "$work" && apt-get download -q exim4-daemon-heavy >/dev/null)
    mkdir -p "$EXIM_ROOT"
    # Unpacked as root: the binary keeps its setuid bit.
    dpkg-deb -x "$work"/exim4-daemon-heavy_*.deb "$EXIM_ROOT"
    rm -rf "$work"
    ;;
start)
    dir=${2:?DIR}
    port=${3:?PORT}
    mkdir -p "$dir/spool" "$dir/log"
    chmod 755 "$dir"
    chown nobody:nogroup "$dir/spool" "$dir/log"
    cp /etc/passwd "$dir/passwd"
    cp /etc/group "$dir/group"
    grep -q '^Debian-exim:' "$dir/passwd" ||
        echo "Debian-exim:x:$(id -u nobody):$(id -g nobody):Exim:/nonexistent:/usr/sbin/nologin" >>"$dir/passwd"
    grep -q '^Debian-exim:' "$dir/group" || echo "Debian-exim:x:$(id -g nobody):" >>"$dir/group"
    cat >"$dir/exim.conf" <<CONF
primary_hostname = exim.test
exim_user = nobody
exim_group = nogroup
spool_directory = $dir/spool
log_file_path = $dir/log/%slog
daemon_smtp_ports = $port
local_interfaces = 127.0.0.1
tls_advertise_hosts =
prdr_enable = true
queue_only = true
acl_smtp_rcpt = acl_rcpt
acl_smtp_data_prdr = acl_prdr
acl_smtp_data = acl_data

begin acl
acl_rcpt:
  deny local_parts = unknown
       message = 5.1.1 No such user
  accept
# Once per recipient after the data (PRDR).
acl_prdr:
  deny local_parts = picky
       message = 5.7.1 \$local_part does not want this message
  accept
acl_data:
  accept

begin routers
blackhole:
  driver = redirect
  data = :blackhole:

begin authenticators
# NTLM that verifies NTLMv1 responses only.
ntlm:
  driver = spa
  public_name = NTLM
  server_password = \${if eq{\$auth1}{alice}{secret}fail}
CONF
    unshare -m sh -c "mount --bind '$dir/passwd' /etc/passwd &&
        mount --bind '$dir/group' /etc/group &&
        exec '$exim' -C '$dir/exim.conf' -bd -oX '$port' -oP '$dir/exim.pid'"
    for _ in $(seq 50); do
        [ -s "$dir/exim.pid" ] && exit 0
        sleep 0.1
    done
    echo "exim-instance: the daemon did not start" >&2
    cat "$dir/log/paniclog" "$dir/log/mainlog" 2>/dev/null >&2 || true
    exit 1
    ;;
stop)
    dir=${2:?DIR}
    if [ -s "$dir/exim.pid" ]; then
        pid=$(cat "$dir/exim.pid")
        kill "$pid" 2>/dev/null || true
        # Wait for it: the daemon still writes its logs on the way out, and
        # the caller removes DIR next (rm -rf failed on a log written after
        # it had emptied the directory).
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    ;;
*)
    echo "usage: exim-instance.sh install|start DIR PORT|stop DIR" >&2
    exit 2
    ;;
esac
