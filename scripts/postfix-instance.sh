#!/usr/bin/env bash
# A private Postfix instance on loopback for the interop tests.
#
#   postfix-instance.sh install        install postfix (and its smtp-sink),
#                                      Cyrus SASL (sasl2-bin, libsasl2-modules),
#                                      openssl and the SOCKS5 servers
#                                      microsocks and dante-server (its system
#                                      service is not started)
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
#   127.0.0.1:42528  Postfix smtpd, plain SMTP offering STARTTLS
#                    (smtpd_tls_security_level=may); delivers like 42525.
#   127.0.0.1:42529  Postfix smtpd, implicit TLS (wrapper mode, "smtps");
#                    delivers like 42525.
#   127.0.0.1:42530  Postfix smtpd, submission style: STARTTLS required
#                    (smtpd_tls_security_level=encrypt), AUTH only after
#                    STARTTLS (smtpd_tls_auth_only=yes) with the Cyrus SASL
#                    setup of 42527; relays only for authenticated clients.
#   127.0.0.1:42531  Postfix smtpd offering STARTTLS with TLS 1.2 only.
#                    All TLS listeners present DIR/tls/server.pem, a
#                    certificate for DNS:localhost only (no IP address SAN:
#                    a client that connects to 127.0.0.1 and checks the name
#                    must fail) signed by the CA in DIR/tls/ca.pem.
#                    DIR/tls/other-ca.pem is an unrelated CA that signed
#                    nothing the instance presents. TLS details go into the
#                    Received: header (smtpd_tls_received_header=yes).
#   127.0.0.1:42532  microsocks, SOCKS5 without authentication.
#   127.0.0.1:42533  microsocks, SOCKS5 with user/password (RFC 1929):
#                    proxyuser / proxypass.
#   127.0.0.1:42534  dante (danted), SOCKS5 without authentication, when it
#                    starts here (DIR/danted.pid exists then; otherwise start
#                    says why on stderr and carries on without it).
#   DIR/maillog      Postfix's log (there is no syslog here);
#                    DIR/microsocks*.log and DIR/danted.log: the proxies'.
set -euo pipefail

SMTP_PORT=42525
SINK_PORT=42526
AUTH_PORT=42527
STARTTLS_PORT=42528
SMTPS_PORT=42529
SUBMISSION_PORT=42530
TLS12_PORT=42531
SOCKS_PORT=42532
SOCKS_AUTH_PORT=42533
DANTE_PORT=42534
SOCKS_USER=proxyuser
SOCKS_PASSWORD=proxypass
SASL_REALM=example.org
SASL_USER=alice
SASL_PASSWORD=Wonderland-2026
PACKAGES=(postfix sasl2-bin libsasl2-modules openssl microsocks dante-server)
# Commands the instance runs, and the package that has each.
COMMANDS=(smtp-sink:postfix saslpasswd2:sasl2-bin openssl:openssl microsocks:microsocks danted:dante-server)

die() {
    echo "postfix-instance: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 install | start DIR | stop DIR" >&2
    exit 2
}

# shellcheck source=scripts/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/packages.sh"

# Prints "COMMAND (PACKAGE)" for each command of COMMANDS not on PATH.
missing_commands() {
    local entry
    for entry in "${COMMANDS[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry%%:*} (${entry#*:})"
    done
}

do_install() {
    local missing
    missing=$(missing_packages "${PACKAGES[@]}")
    if [ -z "$missing" ] && [ -z "$(missing_commands)" ]; then
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
    # Only what is missing: naming an installed package would upgrade it.
    local to_install
    mapfile -t to_install < <(missing_packages "${PACKAGES[@]}")
    [ "${#to_install[@]}" -gt 0 ] || to_install=("${PACKAGES[@]}")
    local rc=0
    {
        apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${to_install[@]}"
    } || rc=$?
    if [ "$had_policy" = 1 ]; then
        mv -f "$policy.interop-save" "$policy"
    else
        rm -f "$policy"
    fi
    [ "$rc" = 0 ] || die "apt-get failed ($rc)"
    missing=$(missing_commands)
    [ -z "$missing" ] || die "missing after installing: $missing"
    missing=$(missing_packages "${PACKAGES[@]}")
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

# Waits until something accepts TCP connections on 127.0.0.1:PORT (a
# listener that does not greet in plaintext: implicit TLS, SOCKS).
wait_port() {
    local port=$1 dir=$2 deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    show_log "$dir"
    die "nothing listens on 127.0.0.1:$port after 30 s"
}

# Confirms that 127.0.0.1:PORT completes a TLS handshake (implicit TLS, or
# after STARTTLS with "smtp" as $3) presenting a certificate for localhost
# that the instance's CA verifies.
check_tls() {
    local port=$1 dir=$2 starttls=${3:-} out
    local args=(-connect "127.0.0.1:$port" -servername localhost
        -CAfile "$dir/tls/ca.pem" -verify_hostname localhost -verify_return_error)
    [ -z "$starttls" ] || args+=(-starttls "$starttls")
    if ! out=$(timeout 20 openssl s_client "${args[@]}" </dev/null 2>&1) ||
        ! grep -q '^Verify return code: 0 (ok)' <<<"$out"; then
        echo "$out" | tail -n 20 >&2
        show_log "$dir"
        die "127.0.0.1:$port: no verified TLS handshake"
    fi
}

# A CA (DIR/tls/ca.pem), a server certificate it signed for DNS:localhost
# only (server.pem, key server.key), and an unrelated second CA
# (other-ca.pem). ECDSA P-256, valid for 30 days from now.
make_tls() {
    local tls=$1/tls serial
    mkdir -p "$tls"
    (
        umask 077
        cd "$tls"
        cat >ca.ext <<'EXT'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EXT
        cat >server.ext <<'EXT'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EXT
        local name
        for name in ca other-ca server; do
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key"
        done
        # Distinct CA names: the wrong CA is then "unknown", not a trusted
        # name with a signature that does not verify.
        serial=$(openssl rand -hex 8)
        openssl req -new -key ca.key -subj "/O=smtp interop/CN=interop CA $serial" -out ca.csr
        openssl x509 -req -in ca.csr -signkey ca.key -extfile ca.ext -days 30 \
            -set_serial "0x$serial" -out ca.pem
        serial=$(openssl rand -hex 8)
        openssl req -new -key other-ca.key -subj "/O=smtp interop/CN=other CA $serial" -out other-ca.csr
        openssl x509 -req -in other-ca.csr -signkey other-ca.key -extfile ca.ext -days 30 \
            -set_serial "0x$serial" -out other-ca.pem
        serial=$(openssl rand -hex 8)
        openssl req -new -key server.key -subj "/O=smtp interop/CN=localhost" -out server.csr
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -extfile server.ext -days 30 \
            -set_serial "0x$serial" -out server.pem
        openssl verify -CAfile ca.pem -purpose sslserver server.pem >/dev/null
        rm -f ./*.csr ./*.ext
        # Clients read the CA certificates; only root (smtpd opens its key
        # before it drops privileges) reads the keys.
        chmod 644 ca.pem other-ca.pem server.pem
    ) 2>"$1/openssl.log" || {
        cat "$1/openssl.log" >&2
        die "making the TLS certificates under $tls failed"
    }
}

# Starts the SOCKS5 servers: microsocks twice (required), dante when it can.
start_socks() {
    local dir=$1
    # As nobody: a proxy has no business with root's privileges.
    local as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
    "${as_nobody[@]}" microsocks -i 127.0.0.1 -p "$SOCKS_PORT" \
        >"$dir/microsocks.log" 2>&1 </dev/null &
    echo $! >"$dir/microsocks.pid"
    "${as_nobody[@]}" microsocks -i 127.0.0.1 -p "$SOCKS_AUTH_PORT" \
        -u "$SOCKS_USER" -P "$SOCKS_PASSWORD" >"$dir/microsocks-auth.log" 2>&1 </dev/null &
    echo $! >"$dir/microsocks-auth.pid"
    wait_port "$SOCKS_PORT" "$dir"
    wait_port "$SOCKS_AUTH_PORT" "$dir"

    # dante: no authentication (its username method checks system
    # accounts); clients and targets on loopback only.
    cat >"$dir/danted.conf" <<DANTE
logoutput: $dir/danted.log
internal: 127.0.0.1 port = $DANTE_PORT
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
    from: 127.0.0.0/8 to: 127.0.0.0/8
    log: error
}
socks pass {
    from: 127.0.0.0/8 to: 127.0.0.0/8
    command: connect
    log: error connect
}
DANTE
    local why=
    if ! danted -V -f "$dir/danted.conf" >"$dir/danted-check.log" 2>&1; then
        why="its configuration does not verify: $(tail -n 3 "$dir/danted-check.log")"
    else
        danted -f "$dir/danted.conf" -p "$dir/danted.pid.tmp" -N 1 \
            >"$dir/danted.out" 2>&1 </dev/null &
        local pid=$! deadline=$((SECONDS + 15))
        while [ "$SECONDS" -lt "$deadline" ]; do
            if ! kill -0 "$pid" 2>/dev/null; then
                why="danted exited: $(tail -n 3 "$dir/danted.out" "$dir/danted.log" 2>/dev/null)"
                break
            fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$DANTE_PORT") 2>/dev/null; then
                break
            fi
            sleep 0.2
        done
        if [ -z "$why" ] && [ "$SECONDS" -ge "$deadline" ]; then
            why="127.0.0.1:$DANTE_PORT not listening after 15 s"
        fi
        if [ -z "$why" ]; then
            # The pid we started (the master): stop kills it, and it its
            # children.
            echo "$pid" >"$dir/danted.pid"
        else
            kill "$pid" 2>/dev/null || true
        fi
        rm -f "$dir/danted.pid.tmp"
    fi
    if [ -n "$why" ]; then
        echo "postfix-instance: dante not started, SOCKS tests use microsocks only: $why" >&2
    fi
}

# Whether process PID runs (a zombie does not: it holds no port, and the
# init process that reaps the ones we started in the background may take
# its time).
running() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $state != Z* ]]
}

# Stops the process whose pid is in FILE (one we started) and waits for it.
stop_pidfile() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do
            running "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$file"
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
    for port in "$SMTP_PORT" "$SINK_PORT" "$AUTH_PORT" "$STARTTLS_PORT" "$SMTPS_PORT" \
        "$SUBMISSION_PORT" "$TLS12_PORT" "$SOCKS_PORT" "$SOCKS_AUTH_PORT" "$DANTE_PORT"; do
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

    make_tls "$dir"

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
# TLS (used only where a listener sets smtpd_tls_security_level or
# smtpd_tls_wrappermode): a certificate for localhost signed by
# $dir/tls/ca.pem. The Received: header names the protocol and cipher.
smtpd_tls_chain_files = $dir/tls/server.key, $dir/tls/server.pem
smtpd_tls_security_level =
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_tls_session_cache_database =
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
127.0.0.1:$STARTTLS_PORT inet n - n - - smtpd
  -o syslog_name=postfix/starttls
  -o smtpd_tls_security_level=may
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_local_domain=$SASL_REALM
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sasl_authenticated_header=yes
127.0.0.1:$TLS12_PORT inet n - n - - smtpd
  -o syslog_name=postfix/tls12
  -o smtpd_tls_security_level=may
  -o smtpd_tls_protocols=>=TLSv1.2,<=TLSv1.2
  -o smtpd_tls_mandatory_protocols=>=TLSv1.2,<=TLSv1.2
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
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
    wait_greeting "$STARTTLS_PORT" "$dir"
    wait_port "$SMTPS_PORT" "$dir"
    wait_greeting "$SUBMISSION_PORT" "$dir"
    wait_greeting "$TLS12_PORT" "$dir"
    check_tls "$STARTTLS_PORT" "$dir" smtp
    check_tls "$SMTPS_PORT" "$dir"
    echo "postfix-instance: smtpd on 127.0.0.1:$SMTP_PORT, smtp-sink on 127.0.0.1:$SINK_PORT, smtpd with AUTH on 127.0.0.1:$AUTH_PORT, mail in $dir/delivered"
    echo "postfix-instance: STARTTLS on 127.0.0.1:$STARTTLS_PORT, implicit TLS on 127.0.0.1:$SMTPS_PORT, submission (STARTTLS+AUTH required) on 127.0.0.1:$SUBMISSION_PORT, STARTTLS TLS 1.2 only on 127.0.0.1:$TLS12_PORT, CA $dir/tls/ca.pem"

    start_socks "$dir"
    local dante="not running"
    [ ! -f "$dir/danted.pid" ] || dante="127.0.0.1:$DANTE_PORT"
    echo "postfix-instance: SOCKS5 microsocks on 127.0.0.1:$SOCKS_PORT, with $SOCKS_USER/$SOCKS_PASSWORD on 127.0.0.1:$SOCKS_AUTH_PORT; dante $dante"
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
    # Each waits for its process to exit, so the port is free for the next
    # start.
    local name
    for name in smtp-sink microsocks microsocks-auth danted; do
        stop_pidfile "$dir/$name.pid"
    done
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
