#!/usr/bin/env bash
# A private Dovecot LMTP instance for the interop suite.
#   dovecot-instance.sh install        apt-get install dovecot-lmtpd (if missing)
#   dovecot-instance.sh start DIR PORT LMTP on DIR/run/lmtp and 127.0.0.1:PORT
#   dovecot-instance.sh stop DIR
# Users (the domain is ignored): `alice` (mail under DIR/mail/alice) and
# `full`, whose quota (1 KiB) refuses any real message after the data.
# Mail is stored as `nobody`; no system user is created. Needs root.
set -euo pipefail

cmd=${1:?usage: dovecot-instance.sh install|start DIR PORT|stop DIR}

case "$cmd" in
install)
    if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ]; then
        # Keep package scripts from starting the system's Dovecot.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-lmtpd >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
    ;;
start)
    dir=${2:?DIR}
    port=${3:?PORT}
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    # The auth and lmtp processes (users dovecot, nobody) read below DIR.
    chmod 755 "$dir"
    chown nobody:nogroup "$dir/mail"
    nobody=$(id -u nobody)
    nogroup=$(id -g nobody)
    cat >"$dir/users" <<USERS
alice:{PLAIN}secret:$nobody:$nogroup::$dir/mail/alice::
full:{PLAIN}secret:$nobody:$nogroup::$dir/mail/full::userdb_quota_rule=*:storage=1K
USERS
    cat >"$dir/dovecot.conf" <<CONF
protocols = lmtp
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
listen = 127.0.0.1
auth_username_format = %Ln
recipient_delimiter = +
mail_location = maildir:~/Maildir
mail_plugins = quota
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = $dir/users
}
userdb {
  driver = passwd-file
  args = $dir/users
}
plugin {
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:storage=100M
}
protocol lmtp {
  mail_plugins = quota
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
  inet_listener lmtp {
    address = 127.0.0.1
    port = $port
  }
}
service anvil {
  chroot =
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
CONF
    dovecot -c "$dir/dovecot.conf"
    for _ in $(seq 50); do
        [ -S "$dir/run/lmtp" ] && exit 0
        sleep 0.1
    done
    echo "dovecot-instance: no LMTP socket; log:" >&2
    cat "$dir/dovecot.log" >&2 || true
    exit 1
    ;;
stop)
    dir=${2:?DIR}
    if [ -f "$dir/dovecot.conf" ]; then
        doveadm -c "$dir/dovecot.conf" stop 2>/dev/null || true
    fi
    ;;
*)
    echo "usage: dovecot-instance.sh install|start DIR PORT|stop DIR" >&2
    exit 2
    ;;
esac
