#!/usr/bin/env bash
# SCRAM-SHA-256-PLUS with the tls-server-end-point channel binding (RFC 5929
# section 4.1, what our client binds with on TLS 1.2), checked by PostgreSQL:
# GNU SASL does not implement tls-server-end-point (see gsasl-check.sh);
# PostgreSQL's server implements exactly that binding.
#
#   smtp-send --SMTP, STARTTLS, TLS 1.2, certificate X--> bridge
#       --PostgreSQL protocol, TLS, certificate X--> a private postgres
#
# interop/postgres/bridge.py presents the certificate and key postgres
# presents, so the binding data (a hash of the certificate) is the same on
# both connections, and relays the SCRAM messages; postgres checks the
# client's channel binding and proof. See interop/postgres/README.md.
#
# Installs what is missing (root needed then): postgresql openssl python3.
# Makes a throwaway CA and two server certificates for localhost in a
# temporary directory, initdb's a private cluster there (run as the postgres
# user when this script runs as root: initdb refuses root), starts it on
#   127.0.0.1:42566  postgres, TLS 1.2, hostssl scram-sha-256 only
# and the bridge on
#   127.0.0.1:42567  SMTP, STARTTLS, TLS 1.2
# (scripts/reserve-ports.sh keeps 42525-42570 out of the ephemeral range)
# and runs the cases, one line each: "ok CASE", "FAIL CASE (why)",
# "skip CASE (why)", or "info CASE: ..." (recorded, not asserted). Exits 1
# when a case failed. Postgres and the bridge are stopped on exit.
#
# Cases:
#   psql-*   the postgres side alone: psql with channel_binding=require
#            (SCRAM-SHA-256-PLUS, tls-server-end-point) logs in; with a
#            wrong password it is refused.
#   ours-*   our smtp-send through the bridge, when SMTP_SEND names a
#            binary (skipped otherwise), with each runtime: -PLUS succeeds
#            with "p=tls-server-end-point,,"; a wrong password fails (exit
#            77); and with a second certificate on the bridge (same CA,
#            trusted by the client) while postgres keeps the first, postgres
#            refuses the channel binding (exit 77): the relay detected.
#
# Usage: scripts/postgres-endpoint-check.sh
#   SMTP_SEND=target/debug/smtp-send scripts/postgres-endpoint-check.sh
# PG_CHECK_KEEP=1 keeps the temporary directory (logs, certificates).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

PACKAGES=(postgresql openssl python3)
PG_PORT=42566
BRIDGE_PORT=42567
PG_USER=alice
export PGPW=Wonderland-2026
PYTHON=/usr/bin/python3 # Debian's, standard library only

die() {
    echo "postgres-endpoint-check: $*" >&2
    exit 2
}

# --- 1. packages ------------------------------------------------------------
# shellcheck source=scripts/packages.sh
. "$(dirname "$0")/packages.sh"

pg_bindir() { find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1; }

install_missing postgres-endpoint-check "${PACKAGES[@]}"
bindir=$(pg_bindir)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    die "no /usr/lib/postgresql/*/bin/initdb"
fi
for cmd in openssl psql "$PYTHON"; do
    command -v "$cmd" >/dev/null 2>&1 || die "missing command: $cmd"
done
# Debian's own cluster (port 5432) may have been started by the install: it
# is left alone, nothing here uses it.

# initdb and postgres refuse to run as root: as root, they run as the
# postgres user the package created.
if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "no postgres user"
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

# --- 2. certificates, cluster, bridge ----------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/postgres-endpoint-check.XXXXXX")
pg=$work/pg # owned by the postgres user: data directory, its certificate
bridge_pid=
pg_started=0
# shellcheck disable=SC2317 # called through the trap
cleanup() {
    if [ -n "$bridge_pid" ]; then
        kill "$bridge_pid" 2>/dev/null || true
        wait "$bridge_pid" 2>/dev/null || true
    fi
    if [ "$pg_started" = 1 ]; then
        as_pg "$bindir/pg_ctl" -D "$pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
            local pid
            pid=$(head -n 1 "$pg/data/postmaster.pid" 2>/dev/null || true)
            if [ -n "$pid" ]; then kill -QUIT "$pid" 2>/dev/null || true; fi
        }
    fi
    if [ "${PG_CHECK_KEEP:-0}" = 1 ]; then
        echo "postgres-endpoint-check: kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap '' PIPE

# server_cert NAME: a certificate for localhost signed by the CA, in
# $work/NAME.pem and $work/NAME.key.
server_cert() {
    local d=$work name=$1
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=localhost"
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=CA:FALSE' \
        'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -out "$d/$name.pem" -days 2 -sha256 -extfile "$d/$name.ext"
}
make_certs() {
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$work/ca.key" -out "$work/ca.pem" -sha256 -days 2 \
        -subj "/CN=postgres-endpoint-check CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    server_cert server # postgres's, and the bridge's
    server_cert other  # the bridge's in the relay case only
}
make_certs >"$work/openssl.log" 2>&1 || {
    cat "$work/openssl.log" >&2
    die "making the certificates failed"
}

# The postgres user must reach its directory inside ours; postgres wants
# its key owned by itself, mode 0600. The bridge (this user) reads the same
# files.
chmod 0711 "$work"
mkdir -m 0700 "$pg" "$pg/sock"
install -m 0644 "$work/server.pem" "$pg/server.pem"
install -m 0600 "$work/server.key" "$pg/server.key"
[ "$(id -u)" != 0 ] || chown -R postgres: "$pg"

as_pg "$bindir/initdb" -D "$pg/data" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$work/initdb.log" 2>&1 || {
    cat "$work/initdb.log" >&2
    die "initdb failed"
}
# Appended: the last setting of a name wins.
as_pg tee -a "$pg/data/postgresql.conf" >/dev/null <<EOF

# postgres-endpoint-check
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$pg/sock'
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '$pg/server.pem'
ssl_key_file = '$pg/server.key'
ssl_min_protocol_version = 'TLSv1.2'
ssl_max_protocol_version = 'TLSv1.2'
log_connections = on
EOF
# TLS connections with SCRAM only: no local line, no plain host line.
printf 'hostssl all all 127.0.0.1/32 scram-sha-256\n' | as_pg tee "$pg/data/pg_hba.conf" >/dev/null

# The role, made in single-user mode before the server listens: pg_hba.conf
# has no way in without a password.
printf "CREATE ROLE %s LOGIN PASSWORD '%s';\n" "$PG_USER" "$PGPW" |
    as_pg "$bindir/postgres" --single -D "$pg/data" postgres >"$work/single.log" 2>&1 || {
    cat "$work/single.log" >&2
    die "creating role $PG_USER failed"
}

pg_started=1
as_pg "$bindir/pg_ctl" -D "$pg/data" -l "$pg/postgres.log" -w -t 30 start >"$work/pg_ctl.log" 2>&1 || {
    cat "$work/pg_ctl.log" "$pg/postgres.log" >&2
    die "postgres did not start"
}
pg_version=$("$bindir/postgres" --version)

# start_bridge CERT KEY: the bridge on $BRIDGE_PORT presenting CERT/KEY,
# logging to $work/bridge.log.
start_bridge() {
    "$PYTHON" "$root/interop/postgres/bridge.py" --port "$BRIDGE_PORT" --cert "$1" --key "$2" \
        --pg-port "$PG_PORT" --pg-ca "$work/ca.pem" --pg-user "$PG_USER" \
        --log "$work/bridge.log" >"$work/bridge.out" 2>>"$work/bridge.err" &
    bridge_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening' "$work/bridge.out" 2>/dev/null && return 0
        kill -0 "$bridge_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$work/bridge.err" >&2
    die "the bridge (port $BRIDGE_PORT) did not start"
}
stop_bridge() {
    kill "$bridge_pid" 2>/dev/null || true
    wait "$bridge_pid" 2>/dev/null || true
    bridge_pid=
}

# --- 3. case helpers --------------------------------------------------------
failed=0
ok() { echo "ok $1"; }
fail() {
    echo "FAIL $1 ($2)"
    failed=$((failed + 1))
}
skip() { echo "skip $1 ($2)"; }
info() { echo "info $1: $2"; }

info postgres "$pg_version"

# mark: the number of lines in the bridge's log so far.
mark() { if [ -f "$work/bridge.log" ]; then wc -l <"$work/bridge.log"; else echo 0; fi; }
# auth_line MARK: the first AUTH line logged after MARK (the bridge logs
# before it replies, so it is there when the client has finished).
auth_line() { tail -n "+$(($1 + 1))" "$work/bridge.log" 2>/dev/null | head -n 1; }

# run_psql PASSWORD: psql as alice, channel binding required, verifying
# the certificate for localhost; output in $work/psql.out; sets rc.
run_psql() {
    rc=0
    PGPASSWORD=$1 PGCONNECT_TIMEOUT=10 timeout 30 psql -X -At \
        "host=localhost hostaddr=127.0.0.1 port=$PG_PORT user=$PG_USER dbname=postgres sslmode=verify-full sslrootcert=$work/ca.pem channel_binding=require" \
        -c "SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()" \
        </dev/null >"$work/psql.out" 2>&1 || rc=$?
}

# --- 4. the postgres side alone ---------------------------------------------
run_psql "$PGPW"
if [ "$rc" = 0 ] && [ "$(cat "$work/psql.out")" = TLSv1.2 ]; then
    ok psql-channel-binding-require
else
    fail psql-channel-binding-require "psql exit $rc: $(tail -n 1 "$work/psql.out")"
fi
run_psql wrong-password
if [ "$rc" != 0 ] && grep -q 'password authentication failed' "$work/psql.out"; then
    ok psql-wrong-password
    info psql-wrong-password "$(tail -n 1 "$work/psql.out")"
else
    fail psql-wrong-password "psql exit $rc: $(tail -n 1 "$work/psql.out")"
fi

# --- 5. our client through the bridge ---------------------------------------
# run_ours RUNTIME [PASSWORD_VAR]: smtp-send through the bridge; output in
# $work/ours.out; sets rc.
run_ours() {
    rc=0
    timeout 60 "$SMTP_SEND" -s "localhost:$BRIDGE_PORT" --tls starttls-required \
        --ca "$work/ca.pem" -u "$PG_USER" --password-env "${2:-PGPW}" \
        --auth SCRAM-SHA-256-PLUS -f alice@example.org --to bob@example.net \
        --runtime "$1" </dev/null >"$work/ours.out" 2>&1 || rc=$?
}

# ours_case CASE RUNTIME PASSWORD_VAR EXIT PATTERN: ok when smtp-send exits
# EXIT and the bridge's AUTH line matches PATTERN (an extended regexp).
ours_case() {
    local case_name=$1 rt=$2 pw=$3 want=$4 pattern=$5 m line
    m=$(mark)
    run_ours "$rt" "$pw"
    line=$(auth_line "$m")
    if [ "$rc" != "$want" ]; then
        fail "$case_name" "smtp-send exit $rc, expected $want ($(tail -n 1 "$work/ours.out")); bridge: ${line:-nothing logged}"
    elif [ -z "$line" ]; then
        fail "$case_name" "the bridge logged no AUTH"
    elif grep -Eq -- "$pattern" <<<"$line"; then
        ok "$case_name"
    else
        fail "$case_name" "bridge logged: $line"
    fi
}

ours_cases() {
    local rt head='^AUTH mech=SCRAM-SHA-256-PLUS tls=TLSv1\.2 gs2=p=tls-server-end-point,, result='
    export PGPW_WRONG=Looking-Glass-2026

    start_bridge "$pg/server.pem" "$pg/server.key"
    for rt in blocking tokio smol; do
        ours_case "ours-scram-sha-256-plus-tls12-$rt" "$rt" PGPW 0 "${head}OK\$"
        ours_case "ours-wrong-password-$rt" "$rt" PGPW_WRONG 77 \
            "${head}FAIL sqlstate=28P01 error=password authentication failed for user \"$PG_USER\"\$"
    done
    info ours-wrong-password "$(grep -m 1 ' result=FAIL ' "$work/bridge.log" | sed 's/.* error=/postgres: /')"
    stop_bridge

    # The relay: the bridge holds another certificate the client trusts
    # just as well; postgres computes the binding from its own.
    local m
    m=$(mark)
    start_bridge "$work/other.pem" "$work/other.key"
    for rt in blocking tokio smol; do
        ours_case "ours-other-certificate-$rt" "$rt" PGPW 77 \
            "${head}FAIL sqlstate=[0-9A-Z]{5} error=.*channel binding"
    done
    info ours-other-certificate \
        "$(tail -n "+$((m + 1))" "$work/bridge.log" | grep -m 1 ' result=FAIL ' | sed 's/.* result=FAIL //')"
    stop_bridge
}

if [ -n "${SMTP_SEND:-}" ]; then
    if [ -x "$SMTP_SEND" ]; then
        ours_cases
    else
        fail ours "SMTP_SEND=$SMTP_SEND is not an executable"
    fi
else
    skip ours "set SMTP_SEND to an smtp-send binary to run our client's cases"
fi

if [ "$failed" -gt 0 ]; then
    echo "postgres-endpoint-check: $failed case(s) failed" >&2
    exit 1
fi
