#!/usr/bin/env bash
# A private OAuth 2.0 authorization server and a Dovecot submission service
# that checks OAuth2 bearer tokens with it, for the OAuth2 interop tests
# (interop/oauth2/README.md says what each piece is and how a client calls
# it).
#   oauth2-instance.sh install     apt-get installs what is missing
#                                  (dovecot-core, dovecot-submissiond,
#                                  postfix for smtp-sink, openssl, nodejs,
#                                  npm), then `npm ci` in interop/oauth2
#                                  when its node_modules is missing
#   oauth2-instance.sh start DIR [TTL_SECONDS]     (TTL default 6)
#       127.0.0.1:42544  oidc-provider over HTTPS (certificate for
#                        127.0.0.1/localhost from a throwaway CA,
#                        DIR/ca.pem); the issuer is https://127.0.0.1:42544;
#                        access tokens live TTL_SECONDS
#       127.0.0.1:42545  the same provider over plain HTTP (Dovecot
#                        introspects there)
#       127.0.0.1:42546  Dovecot's submission service: no TLS, AUTH XOAUTH2
#                        and OAUTHBEARER only (user alice), each token
#                        introspected at the provider (active, user name
#                        alice, scope mail), no auth cache, no failure
#                        delay or penalty; relays to
#       127.0.0.1:42547  Postfix's smtp-sink, which dumps each transaction
#                        into its own file under DIR/relay
#       Writes DIR/env (shell-sourceable: ports, URLs, files, client ids and
#       secrets). Fails naming what did not start, with its log; what it
#       had started is stopped again then.
#   oauth2-instance.sh stop DIR
# Switches while it runs: DIR/refuse-all exists -> introspection reports
# every token inactive, so Dovecot refuses every token.
# (scripts/reserve-ports.sh keeps 42525-42570 out of the ephemeral range.)
# Needs root (Dovecot); no system user is created.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
app=$root/interop/oauth2

HTTPS_PORT=42544
HTTP_PORT=42545
SUBMISSION_PORT=42546
SINK_PORT=42547
DEFAULT_TTL=6
PACKAGES=(dovecot-core dovecot-submissiond postfix openssl)
# Commands start runs, and the package that has each (install also needs
# npm).
COMMANDS=(dovecot:dovecot-core doveadm:dovecot-core smtp-sink:postfix openssl:openssl node:nodejs)

die() {
    echo "oauth2-instance: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 install | start DIR [TTL_SECONDS] | stop DIR" >&2
    exit 2
}

# shellcheck source=scripts/packages.sh
. "$here/packages.sh"

# Prints "COMMAND (PACKAGE)" for each command of COMMANDS not on PATH.
missing_commands() {
    local entry
    for entry in "${COMMANDS[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || echo "${entry%%:*} (${entry#*:})"
    done
}

do_install() {
    local to_install=() entry
    mapfile -t to_install < <(missing_packages "${PACKAGES[@]}")
    [ -x /usr/lib/dovecot/submission ] || to_install+=(dovecot-submissiond)
    # Node 20+ is installed by hand on some machines: only a missing
    # command asks for Debian's package.
    command -v node >/dev/null 2>&1 || to_install+=(nodejs)
    command -v npm >/dev/null 2>&1 || to_install+=(npm)
    if [ "${#to_install[@]}" -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "install needs root (missing: ${to_install[*]})"
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        # Keep package scripts from starting the system's Dovecot and
        # Postfix.
        local policy=/usr/sbin/policy-rc.d had_policy=0 rc=0
        if [ -e "$policy" ]; then
            had_policy=1
            cp -p "$policy" "$policy.oauth2-save"
        fi
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        mapfile -t to_install < <(printf '%s\n' "${to_install[@]}" | sort -u)
        {
            apt-get update -q &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${to_install[@]}"
        } || rc=$?
        if [ "$had_policy" = 1 ]; then
            mv -f "$policy.oauth2-save" "$policy"
        else
            rm -f "$policy"
        fi
        [ "$rc" = 0 ] || die "apt-get failed ($rc)"
    fi
    entry=$(missing_commands)
    command -v npm >/dev/null 2>&1 || entry="$entry npm (npm)"
    [ -z "$entry" ] || die "missing after installing: $entry"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
        die "oidc-provider 9 needs Node.js >= 20.19; $(command -v node) is $(node --version)"
    if [ ! -d "$app/node_modules/oidc-provider" ]; then
        (cd "$app" && npm ci --no-audit --no-fund) || die "npm ci in $app failed"
    fi
}

# True when something accepts connections on 127.0.0.1:PORT.
port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Prints the tail of FILE (for failures).
show() {
    echo "---- $1 ----" >&2
    tail -n "${2:-40}" "$1" >&2 2>/dev/null || echo "(no $1)" >&2
}

# Keys, certificates and secrets, all made with openssl under DIR.
make_keys() {
    local dir=$1 rc=0
    # errexit is off inside a subshell whose status a || or if tests: run
    # it untested, with errexit on inside.
    set +e
    (
        set -e
        cd "$dir"
        umask 022
        openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout ca-key.pem -out ca.pem -sha256 -days 2 \
            -subj "/O=smtp interop/CN=OAuth2 test CA $(openssl rand -hex 4)" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -keyout server-key.pem -out server.csr -subj "/O=smtp interop/CN=127.0.0.1"
        printf '%s\n' 'subjectAltName=IP:127.0.0.1,DNS:localhost' 'basicConstraints=critical,CA:FALSE' \
            'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' \
            'subjectKeyIdentifier=hash' 'authorityKeyIdentifier=keyid,issuer' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 8)" \
            -out server.pem -days 2 -sha256 -extfile server.ext
        openssl verify -CAfile ca.pem -purpose sslserver server.pem >/dev/null
        rm -f server.csr server.ext
        # RS256 keys: PKCS#8 private keys, SPKI public keys; the kid is the
        # first 40 hex digits of the SHA-256 of the public key's DER.
        local name
        for name in app-jwt service-account; do
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name-key.pem"
            openssl pkey -in "$name-key.pem" -pubout -out "$name-pub.pem"
            openssl pkey -pubin -in "$name-pub.pem" -outform DER | openssl dgst -sha256 -r |
                cut -c1-40 >"$name-kid"
        done
        for name in refresh-client-secret app-client-secret introspect-client-secret; do
            openssl rand -hex 24 >"$name"
        done
        # Dovecot's auth process (user dovecot) and smtp-sink (nobody) read
        # below DIR. The clients' secrets and keys are their owner's only,
        # as smtp-send requires of a secret file (msmtp's rule).
        chmod 644 ./*.pem ./*-kid
        chmod 600 ./*-key.pem ./*-secret
    ) >"$dir/openssl.log" 2>&1
    rc=$?
    set -e
    if [ "$rc" != 0 ]; then
        show "$dir/openssl.log"
        die "making keys and certificates under $dir failed"
    fi
}

start_provider() {
    local dir=$1 ttl=$2 pid
    [ -d "$app/node_modules/oidc-provider" ] ||
        die "$app/node_modules is missing: run $0 install"
    (cd "$app" && exec node provider.mjs "$dir" "$HTTPS_PORT" "$HTTP_PORT" "$ttl") \
        </dev/null >"$dir/provider.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/provider.pid"
    for _ in $(seq 150); do
        if [ -f "$dir/ready" ] && port_open "$HTTPS_PORT" && port_open "$HTTP_PORT"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    show "$dir/provider.log"
    fail_start "$dir" "the OAuth2 provider (node provider.mjs, pid $pid) did not start on 127.0.0.1:$HTTPS_PORT and :$HTTP_PORT"
}

start_sink() {
    local dir=$1
    smtp-sink -u nobody -v -d "$dir/relay/message." "127.0.0.1:$SINK_PORT" 100 \
        </dev/null >"$dir/relay-sink.log" 2>&1 &
    echo $! >"$dir/relay-sink.pid"
    for _ in $(seq 50); do
        port_open "$SINK_PORT" && return 0
        sleep 0.1
    done
    show "$dir/relay-sink.log"
    fail_start "$dir" "smtp-sink did not start on 127.0.0.1:$SINK_PORT"
}

start_dovecot() {
    local dir=$1 nobody nogroup
    nobody=$(id -u nobody)
    nogroup=$(id -g nobody)
    echo "alice::$nobody:$nogroup::$dir/mail/alice::" >"$dir/users"
    cat >"$dir/dovecot-oauth2.conf.ext" <<CONF
# Every token is introspected (RFC 7662) at the provider's plain-HTTP
# listener; Dovecot sends token, client_id and client_secret in the body.
introspection_mode = post
introspection_url = http://127.0.0.1:$HTTP_PORT/token/introspection
client_id = dovecot
client_secret = $(cat "$dir/introspect-client-secret")
username_attribute = username
active_attribute = active
active_value = true
# Only tokens whose introspected scope includes mail.
scope = mail
timeout_msecs = 5000
CONF
    cat >"$dir/dovecot.conf" <<CONF
protocols = submission
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
listen = 127.0.0.1
hostname = submission.invalid
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
auth_username_format = %Ln
# No cache: a revoked token is refused at once. No failure delay: refusals
# answer at once.
auth_cache_size = 0
auth_failure_delay = 0
auth_verbose = yes
mail_location = maildir:~/Maildir
first_valid_uid = 1
submission_relay_host = 127.0.0.1
submission_relay_port = $SINK_PORT
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $dir/dovecot-oauth2.conf.ext
}
userdb {
  driver = passwd-file
  args = $dir/users
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SUBMISSION_PORT
  }
}
# No auth penalty (anvil delays each further attempt from an IP after a
# failure, 2 s doubling up to 15 s): refusals must answer at once.
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
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
    chmod 644 "$dir/dovecot-oauth2.conf.ext" "$dir/dovecot.conf" "$dir/users"
    if ! dovecot -c "$dir/dovecot.conf" </dev/null >"$dir/dovecot-start.log" 2>&1; then
        show "$dir/dovecot-start.log"
        show "$dir/dovecot.log"
        fail_start "$dir" "Dovecot did not start (dovecot -c $dir/dovecot.conf)"
    fi
    for _ in $(seq 50); do
        port_open "$SUBMISSION_PORT" && return 0
        sleep 0.1
    done
    show "$dir/dovecot.log"
    fail_start "$dir" "Dovecot's submission service did not start on 127.0.0.1:$SUBMISSION_PORT"
}

write_env() {
    local dir=$1 ttl=$2 issuer="https://127.0.0.1:$HTTPS_PORT" plain="http://127.0.0.1:$HTTP_PORT"
    {
        echo "# Written by scripts/oauth2-instance.sh start; shell-sourceable."
        printf '%s=%q\n' \
            OAUTH2_DIR "$dir" \
            OAUTH2_TTL "$ttl" \
            OAUTH2_USER alice \
            OAUTH2_SCOPE mail \
            OAUTH2_HTTPS_PORT "$HTTPS_PORT" \
            OAUTH2_HTTP_PORT "$HTTP_PORT" \
            OAUTH2_ISSUER "$issuer" \
            OAUTH2_DISCOVERY_URL "$issuer/.well-known/openid-configuration" \
            OAUTH2_TOKEN_URL "$issuer/token" \
            OAUTH2_REVOCATION_URL "$issuer/token/revocation" \
            OAUTH2_INTROSPECTION_URL "$issuer/token/introspection" \
            OAUTH2_HTTP_TOKEN_URL "$plain/token" \
            OAUTH2_HTTP_REVOCATION_URL "$plain/token/revocation" \
            OAUTH2_HTTP_INTROSPECTION_URL "$plain/token/introspection" \
            OAUTH2_CA_FILE "$dir/ca.pem" \
            OAUTH2_SUBMISSION "127.0.0.1:$SUBMISSION_PORT" \
            OAUTH2_SUBMISSION_HOST 127.0.0.1 \
            OAUTH2_SUBMISSION_PORT "$SUBMISSION_PORT" \
            OAUTH2_RELAY_SINK "127.0.0.1:$SINK_PORT" \
            OAUTH2_RELAY_DIR "$dir/relay" \
            OAUTH2_REFRESH_CLIENT_ID smtp-refresh \
            OAUTH2_REFRESH_CLIENT_SECRET "$(cat "$dir/refresh-client-secret")" \
            OAUTH2_REFRESH_CLIENT_SECRET_FILE "$dir/refresh-client-secret" \
            OAUTH2_REFRESH_TOKEN "$(cat "$dir/refresh-token")" \
            OAUTH2_REFRESH_TOKEN_FILE "$dir/refresh-token" \
            OAUTH2_REFRESH_TOKENS_FILE "$dir/refresh-tokens" \
            OAUTH2_APP_CLIENT_ID smtp-app \
            OAUTH2_APP_CLIENT_SECRET "$(cat "$dir/app-client-secret")" \
            OAUTH2_APP_CLIENT_SECRET_FILE "$dir/app-client-secret" \
            OAUTH2_APP_JWT_CLIENT_ID smtp-app-jwt \
            OAUTH2_APP_JWT_KEY_FILE "$dir/app-jwt-key.pem" \
            OAUTH2_APP_JWT_KID "$(cat "$dir/app-jwt-kid")" \
            OAUTH2_APP_JWT_KID_FILE "$dir/app-jwt-kid" \
            OAUTH2_SERVICE_ACCOUNT_FILE "$dir/service-account.json" \
            OAUTH2_SERVICE_ACCOUNT_KEY_FILE "$dir/service-account-key.pem" \
            OAUTH2_SERVICE_ACCOUNT_KID "$(cat "$dir/service-account-kid")" \
            OAUTH2_SERVICE_ACCOUNT_EMAIL sender@example.iam.invalid \
            OAUTH2_SERVICE_ACCOUNT_CLIENT_ID smtp-service-account \
            OAUTH2_INTROSPECT_CLIENT_ID dovecot \
            OAUTH2_INTROSPECT_CLIENT_SECRET_FILE "$dir/introspect-client-secret" \
            OAUTH2_REFUSE_ALL_FILE "$dir/refuse-all" \
            OAUTH2_TOKEN_LOG "$dir/token-requests.log" \
            OAUTH2_INTROSPECTION_LOG "$dir/introspection-requests.log" \
            OAUTH2_REVOCATION_LOG "$dir/revocation-requests.log" \
            OAUTH2_PROVIDER_LOG "$dir/provider.log" \
            OAUTH2_DOVECOT_LOG "$dir/dovecot.log" \
            OAUTH2_RELAY_SINK_LOG "$dir/relay-sink.log"
    } >"$dir/env.tmp"
    mv "$dir/env.tmp" "$dir/env"
}

# Stops the process whose pid is in FILE (if any) and removes FILE.
stop_pidfile() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

do_stop() {
    local dir=$1
    if [ -f "$dir/dovecot.conf" ] && [ -e "$dir/run/master.pid" ]; then
        doveadm -c "$dir/dovecot.conf" stop 2>/dev/null || true
        for _ in $(seq 50); do
            [ -e "$dir/run/master.pid" ] || break
            sleep 0.1
        done
    fi
    stop_pidfile "$dir/relay-sink.pid"
    stop_pidfile "$dir/provider.pid"
    rm -f "$dir/ready"
}

# Stops what start had started, then fails with MESSAGE.
fail_start() {
    do_stop "$1"
    die "$2"
}

do_start() {
    local dir=$1 ttl=$2 port missing
    case "$ttl" in
    '' | *[!0-9]* | 0) die "TTL_SECONDS must be a positive integer, not '$ttl'" ;;
    esac
    missing=$(missing_commands)
    [ -z "$missing" ] || die "missing: $missing (run $0 install)"
    [ -x /usr/lib/dovecot/submission ] || die "Dovecot's submission service is missing (run $0 install)"
    for port in "$HTTPS_PORT" "$HTTP_PORT" "$SUBMISSION_PORT" "$SINK_PORT"; do
        if port_open "$port"; then
            die "127.0.0.1:$port is already in use (an instance still running? $0 stop DIR)"
        fi
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # A fresh start: no leftovers from an earlier run in the same DIR.
    rm -rf "$dir/run" "$dir/state" "$dir/mail" "$dir/relay"
    rm -f "$dir/ready" "$dir/refuse-all" "$dir/env" "$dir"/*.log "$dir"/*.pid
    mkdir -p "$dir/run" "$dir/state" "$dir/mail" "$dir/relay"
    # Dovecot's unprivileged processes and smtp-sink read below DIR.
    chmod 755 "$dir"
    chown nobody:nogroup "$dir/mail" "$dir/relay"
    make_keys "$dir"
    start_provider "$dir" "$ttl"
    start_sink "$dir"
    start_dovecot "$dir"
    write_env "$dir" "$ttl"
}

cmd=${1:-}
case "$cmd" in
install)
    do_install
    ;;
start)
    [ $# -ge 2 ] && [ $# -le 3 ] || usage
    do_start "$2" "${3:-$DEFAULT_TTL}"
    ;;
stop)
    [ $# -eq 2 ] || usage
    do_stop "$2"
    ;;
*)
    usage
    ;;
esac
