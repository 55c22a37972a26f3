#!/usr/bin/env bash
# A private Postfix instance on loopback for the interop tests.
#
#   postfix-instance.sh install        install postfix (and its smtp-sink) and
#                                      Cyrus SASL (sasl2-bin, libsasl2-modules)
#   postfix-instance.sh start DIR      start an instance whose files all live in DIR
#   postfix-instance.sh stop DIR       stop it
#
# The instance (run as root; DIR is a fresh directory the caller made):
#   127.0.0.1:42525  Postfix smtpd, plain SMTP. Accepts any recipient in
#                    example.org and example.net, relays nothing else, and
#                    delivers each message through pipe(8), as nobody, into
#                    DIR/delivered/<recipient>/<unique-name>.
#   127.0.0.1:42526  Postfix's smtp-sink (accepts and discards everything).
#   127.0.0.1:42527  Postfix smtpd with AUTH through Cyrus SASL over plaintext
#                    (no TLS): PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM
#                    SCRAM-SHA-1 SCRAM-SHA-256 against DIR/sasldb2, which
#                    holds alice in realm example.org (password
#                    Wonderland-2026; smtpd_sasl_local_domain = example.org,
#                    so "alice" and "alice@example.org" both work).
#                    Relays (delivers, as above) only for authenticated
#                    clients; the Received: header names the SASL user
#                    ("(Authenticated sender: alice@example.org)").
#   DIR/maillog      Postfix's log (there is no syslog here).
set -euo pipefail

SMTP_PORT=42525
SINK_PORT=42526
AUTH_PORT=42527
SASL_REALM=example.org
SASL_USER=alice
SASL_PASSWORD=Wonderland-2026
PACKAGES=(postfix sasl2-bin libsasl2-modules)

die() {
    echo "postfix-instance: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 install | start DIR | stop DIR" >&2
    exit 2
}

# Prints the packages of PACKAGES that are not installed.
missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            echo "$pkg"
        fi
    done
}

do_install() {
    local missing
    missing=$(missing_packages)
    if [ -z "$missing" ] && command -v smtp-sink >/dev/null 2>&1 &&
        command -v saslpasswd2 >/dev/null 2>&1; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "install needs root"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local policy=/usr/sbin/policy-rc.d had_policy=0
    if [ -e "$policy" ]; then
        had_policy=1
        cp -p "$policy" "$policy.interop-save"
    fi
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    local rc=0
    {
        apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
    } || rc=$?
    if [ "$had_policy" = 1 ]; then
        mv -f "$policy.interop-save" "$policy"
    else
        rm -f "$policy"
    fi
    [ "$rc" = 0 ] || die "apt-get failed ($rc)"
    command -v smtp-sink >/dev/null 2>&1 || die "smtp-sink missing after installing postfix"
    command -v saslpasswd2 >/dev/null 2>&1 || die "saslpasswd2 missing after installing sasl2-bin"
    missing=$(missing_packages)
    [ -z "$missing" ] || die "still not installed: $missing"
}

# Prints the maillog's tail (for failures).
show_log() {
    local dir=$1
    if [ -f "$dir/maillog" ]; then
        echo "---- last lines of $dir/maillog ----" >&2
        tail -n 40 "$dir/maillog" >&2
    fi
    if [ -f "$dir/smtp-sink.log" ]; then
        echo "---- $dir/smtp-sink.log ----" >&2
        tail -n 20 "$dir/smtp-sink.log" >&2
    fi
}

# Waits until PORT on 127.0.0.1 answers with a 220 greeting.
wait_greeting() {
    local port=$1 dir=$2 deadline=$((SECONDS + 30)) line
    while [ "$SECONDS" -lt "$deadline" ]; do
        # (The braces keep the 2>/dev/null from applying to the whole shell.)
        if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
            line=
            IFS= read -r -t 5 line <&3 || true
            printf 'QUIT\r\n' >&3 2>/dev/null || true
            exec 3<&- 3>&-
            case $line in
                220*) return 0 ;;
            esac
        fi
        sleep 0.2
    done
    show_log "$dir"
    die "127.0.0.1:$port gave no 220 greeting within 30 s (last line: '${line:-}')"
}

do_start() {
    local dir=$1
    [ "$(id -u)" = 0 ] || die "start needs root"
    command -v postfix >/dev/null 2>&1 || die "postfix is not installed (run: $0 install)"
    command -v saslpasswd2 >/dev/null 2>&1 || die "saslpasswd2 is not installed (run: $0 install)"
    [ -d "$dir" ] || die "$dir is not a directory"
    dir=$(cd "$dir" && pwd -P)
    local etc=$dir/etc
    [ ! -e "$etc/main.cf" ] || die "$dir already holds an instance"
    local port
    for port in "$SMTP_PORT" "$SINK_PORT" "$AUTH_PORT"; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            die "127.0.0.1:$port is already in use (another instance? stop it first)"
        fi
    done

    # nobody runs the delivery script and writes under delivered/.
    chmod 755 "$dir"
    mkdir -p "$etc/sasl" "$dir/spool" "$dir/data" "$dir/delivered/.tmp"
    chown postfix "$dir/data"
    chown nobody "$dir/delivered" "$dir/delivered/.tmp"
    : >"$dir/maillog"

    cat >"$dir/deliver.sh" <<DELIVER
#!/bin/sh
# pipe(8) runs this as nobody with the one recipient as \$1 and the message
# on stdin. It is written whole under .tmp/, then renamed into place, so a
# reader never sees a partial file. 75 = EX_TEMPFAIL (Postfix retries).
set -eu
umask 022
rcpt=\$1
case \$rcpt in
    ''|.*|*/*) echo "bad recipient: \$rcpt" >&2; exit 65 ;;
esac
root='$dir/delivered'
mkdir -p "\$root/\$rcpt" || exit 75
tmp=\$(mktemp "\$root/.tmp/msg.XXXXXXXX") || exit 75
cat >"\$tmp" || { rm -f "\$tmp"; exit 75; }
mv "\$tmp" "\$root/\$rcpt/\$(date +%s.%N).\$\$" || exit 75
DELIVER
    chmod 755 "$dir/deliver.sh"

    # Cyrus SASL: one user in a Berkeley DB sasldb that only root and the
    # postfix group (smtpd runs as postfix) can read. saslpasswd2 also
    # stores the SCRAM and DIGEST-MD5 secrets derived from the password.
    printf '%s' "$SASL_PASSWORD" |
        saslpasswd2 -c -p -f "$dir/sasldb2" -u "$SASL_REALM" "$SASL_USER" ||
        die "saslpasswd2 failed"
    chgrp postfix "$dir/sasldb2"
    chmod 640 "$dir/sasldb2"
    # Debian's Postfix reads <config_directory>/sasl/<smtpd_sasl_path>.conf
    # (it ignores cyrus_sasl_config_path).
    cat >"$etc/sasl/smtpd.conf" <<SASL
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $dir/sasldb2
mech_list: PLAIN LOGIN CRAM-MD5 DIGEST-MD5 NTLM SCRAM-SHA-1 SCRAM-SHA-256
SASL

    cat >"$etc/main.cf" <<MAIN
# Private interop instance (scripts/postfix-instance.sh). No DNS, no
# syslog, no system paths written.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
myhostname = postfix.interop.test
mydomain = interop.test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP interop
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled
relay_domains = example.org, example.net
relay_recipient_maps =
relay_transport = filedrop
default_transport = error:5.7.1 this instance relays nothing
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_delay_reject = no
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_peername_lookup = no
# A stalled client fails within a minute, not five.
smtpd_timeout = 60s
in_flow_delay = 0
message_size_limit = 209715200
mailbox_size_limit = 0
filedrop_destination_recipient_limit = 1
filedrop_destination_concurrency_limit = 20
smtpd_client_connection_count_limit = 0
# Keep the delivered bytes as the client sent them: treat loopback clients
# like remote ones (no header address rewriting, no Message-Id:, Date: or
# From: added for them) and drop no headers (the default drops Bcc:,
# Content-Length:, Resent-Bcc: and Return-Path:). What is still changed:
# one Received: header prepended, CRLF stored as LF, dot-stuffing removed,
# a bare CR becomes a space, and a blank line is inserted when the message
# does not start with a header.
local_header_rewrite_clients =
message_drop_headers =
# Cyrus SASL (used only where a listener sets smtpd_sasl_auth_enable=yes):
# $etc/sasl/smtpd.conf, users in realm example.org.
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_service = smtp
smtpd_sasl_local_domain = $SASL_REALM
smtpd_sasl_security_options = noanonymous
smtpd_sasl_auth_enable = no
MAIN

    cat >"$etc/master.cf" <<MASTER
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$AUTH_PORT inet n - n - - smtpd
  -o syslog_name=postfix/sasl
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=no
  -o smtpd_sasl_local_domain=$SASL_REALM
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sasl_authenticated_header=yes
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
filedrop  unix  -       n       n       -       -       pipe
  user=nobody argv=$dir/deliver.sh \${recipient}
MASTER

    # Postfix waits ~2 s when its configuration is younger than a second.
    touch -d '-5 sec' "$etc/main.cf" "$etc/master.cf" "$etc/sasl/smtpd.conf"

    if ! postfix -c "$etc" start >"$dir/postfix-start.log" 2>&1; then
        cat "$dir/postfix-start.log" >&2
        show_log "$dir"
        die "postfix start failed"
    fi

    smtp-sink -c -u nobody "127.0.0.1:$SINK_PORT" 1000 >"$dir/smtp-sink.log" 2>&1 &
    echo $! >"$dir/smtp-sink.pid"

    wait_greeting "$SMTP_PORT" "$dir"
    wait_greeting "$SINK_PORT" "$dir"
    wait_greeting "$AUTH_PORT" "$dir"
    echo "postfix-instance: smtpd on 127.0.0.1:$SMTP_PORT, smtp-sink on 127.0.0.1:$SINK_PORT, smtpd with AUTH on 127.0.0.1:$AUTH_PORT, mail in $dir/delivered"
}

do_stop() {
    local dir=$1 rc=0 master=
    if [ -f "$dir/spool/pid/master.pid" ]; then
        master=$(tr -d ' ' <"$dir/spool/pid/master.pid")
    fi
    if [ -f "$dir/etc/main.cf" ]; then
        postfix -c "$dir/etc" stop >/dev/null 2>&1 || rc=$?
    fi
    # "postfix stop" only signals the master; wait until it is gone so the
    # ports are free for the next start.
    if [ -n "$master" ]; then
        for _ in $(seq 100); do
            kill -0 "$master" 2>/dev/null || break
            sleep 0.1
        done
    fi
    if [ -f "$dir/smtp-sink.pid" ]; then
        local pid
        pid=$(cat "$dir/smtp-sink.pid")
        if kill "$pid" 2>/dev/null; then
            # Give it a moment to exit, so the port is free for the next start.
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -f "$dir/smtp-sink.pid"
    fi
    return "$rc"
}

case ${1:-} in
    install)
        [ $# = 1 ] || usage
        do_install
        ;;
    start)
        [ $# = 2 ] || usage
        do_start "$2"
        ;;
    stop)
        [ $# = 2 ] || usage
        do_stop "$2"
        ;;
    *) usage ;;
esac
