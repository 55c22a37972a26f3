#!/usr/bin/env bash
# A private Dovecot instance for the interop suite: LMTP, and the
# submission service relaying to two private smtp-sinks.
#   dovecot-instance.sh install        apt-get install dovecot-lmtpd and
#                                      dovecot-submissiond (if missing)
#   dovecot-instance.sh start DIR PORT [SUBMISSION_PORT]
#       LMTP on DIR/run/lmtp and 127.0.0.1:PORT; with SUBMISSION_PORT also:
#       127.0.0.1:SUBMISSION_PORT    Dovecot's submission service (plaintext,
#                                    AUTH PLAIN/LOGIN without TLS; MAIL
#                                    before AUTH is answered 530), relaying
#                                    for `alice` to the first sink and for
#                                    `refused` to the second;
#       127.0.0.1:SUBMISSION_PORT+1  Postfix's smtp-sink that accepts every
#                                    transaction and dumps each one into its
#                                    own file under DIR/relay (smtp-sink's
#                                    X-Mail-Args:/X-Rcpt-Args: records, a
#                                    Received: header, then the message as
#                                    Dovecot relayed it);
#       127.0.0.1:SUBMISSION_PORT+2  smtp-sink refusing every MAIL (550):
#                                    a relay that refuses the sender.
#       Both sinks log every command they read (smtp-sink -v) in
#       DIR/relay-sink.log and DIR/refusing-sink.log.
#   dovecot-instance.sh stop DIR
# Users (the domain is ignored; password `secret`): `alice` (mail under
# DIR/mail/alice), `full`, whose quota (1 KiB) refuses any real message
# after the data, and `refused` (submission only: its relay refuses MAIL).
# Mail is stored as `nobody`; no system user is created. Needs root.
set -euo pipefail

cmd=${1:?usage: dovecot-instance.sh install|start DIR PORT [SUBMISSION_PORT]|stop DIR}

# Starts smtp-sink with ARGS... on 127.0.0.1:PORT, its pid in FILE.
start_sink() {
    local file=$1 port=$2
    shift 2
    smtp-sink -u nobody "$@" "127.0.0.1:$port" 100 >"$file.log" 2>&1 &
    echo $! >"$file.pid"
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "dovecot-instance: smtp-sink on $port did not start:" >&2
    cat "$file.log" >&2 || true
    exit 1
}

case "$cmd" in
install)
    if ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ] ||
        [ ! -x /usr/lib/dovecot/submission ] || ! command -v smtp-sink >/dev/null; then
        # Keep package scripts from starting the system's Dovecot.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        apt-get update -q >/dev/null
        # smtp-sink is Postfix's (scripts/postfix-instance.sh installs it
        # the same way).
        if ! command -v smtp-sink >/dev/null; then
            echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix >/dev/null
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-lmtpd dovecot-submissiond >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
    ;;
start)
    dir=${2:?DIR}
    port=${3:?PORT}
    submission_port=${4:-}
    mkdir -p "$dir/run" "$dir/state" "$dir/mail" "$dir/relay"
    # The auth and lmtp processes (users dovecot, nobody) read below DIR.
    chmod 755 "$dir"
    chown nobody:nogroup "$dir/mail" "$dir/relay"
    nobody=$(id -u nobody)
    nogroup=$(id -g nobody)
    protocols=lmtp
    refusing_relay=
    if [ -n "$submission_port" ]; then
        protocols="lmtp submission"
        refusing_relay="userdb_submission_relay_port=$((submission_port + 2))"
    fi
    cat >"$dir/users" <<USERS
alice:{PLAIN}secret:$nobody:$nogroup::$dir/mail/alice::
full:{PLAIN}secret:$nobody:$nogroup::$dir/mail/full::userdb_quota_rule=*:storage=1K
refused:{PLAIN}secret:$nobody:$nogroup::$dir/mail/refused::$refusing_relay
USERS
    cat >"$dir/dovecot.conf" <<CONF
protocols = $protocols
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
    if [ -n "$submission_port" ]; then
        start_sink "$dir/relay-sink" $((submission_port + 1)) -v -d "$dir/relay/message."
        start_sink "$dir/refusing-sink" $((submission_port + 2)) -v -f MAIL \
            -B "550 5.7.1 sender refused by the relay"
        cat >>"$dir/dovecot.conf" <<CONF
hostname = submission.invalid
disable_plaintext_auth = no
auth_mechanisms = plain login
submission_relay_host = 127.0.0.1
submission_relay_port = $((submission_port + 1))
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $submission_port
  }
}
CONF
    fi
    dovecot -c "$dir/dovecot.conf"
    for _ in $(seq 50); do
        if [ -S "$dir/run/lmtp" ] && { [ -z "$submission_port" ] ||
            (exec 3<>"/dev/tcp/127.0.0.1/$submission_port") 2>/dev/null; }; then
            exit 0
        fi
        sleep 0.1
    done
    echo "dovecot-instance: no LMTP socket or submission port; log:" >&2
    cat "$dir/dovecot.log" >&2 || true
    exit 1
    ;;
stop)
    dir=${2:?DIR}
    if [ -f "$dir/dovecot.conf" ]; then
        doveadm -c "$dir/dovecot.conf" stop 2>/dev/null || true
    fi
    for sink in relay-sink refusing-sink; do
        if [ -f "$dir/$sink.pid" ]; then
            pid=$(cat "$dir/$sink.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            rm -f "$dir/$sink.pid"
        fi
    done
    ;;
*)
    echo "usage: dovecot-instance.sh install|start DIR PORT [SUBMISSION_PORT]|stop DIR" >&2
    exit 2
    ;;
esac
