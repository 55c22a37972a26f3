#!/usr/bin/env bash
# Proves the OAuth2 harness (scripts/oauth2-instance.sh: oidc-provider and
# a Dovecot submission service that introspects tokens with it) with tools
# nobody here wrote: curl for every token request, openssl for the RS256
# JWTs (private_key_jwt client assertions, the service account's jwt-bearer
# assertion), and Python's smtplib for AUTH XOAUTH2 / OAUTHBEARER and the
# messages. Nothing of ours (no Rust) runs. See interop/oauth2/README.md.
#
# Installs what is missing (root needed then): what oauth2-instance.sh
# install installs, curl, python3. Starts an instance in a temporary
# directory with TTL_SECONDS (default 6) and runs the cases, one line each:
# "ok CASE", "FAIL CASE (why)" or "info CASE: ..." (recorded, not asserted).
# Exits 1 when a case failed. The instance is stopped on exit.
#
# Cases:
#   grant-*       one token request per grant (refresh_token with
#                 client_secret_basic and client_secret_post,
#                 client_credentials with a secret and with private_key_jwt,
#                 the service account's jwt-bearer grant), each logged as one
#                 line in token-requests.log
#   send-*        each token authenticates at Dovecot with XOAUTH2 and with
#                 OAUTHBEARER and sends one message, which lands in DIR/relay
#   refused-*     refused by Dovecot: a token past its TTL, a revoked access
#                 token (and the refresh token of its grant), a fresh token
#                 while DIR/refuse-all exists, a token without the mail
#                 scope, a token for another user
#   error-*       the token endpoint's error responses (bad refresh token,
#                 bad client secret, replayed client assertion, ...)
#   down-*        Dovecot's reply while the provider does not answer
# The exact SMTP replies and SASL challenges and the error JSON are printed
# as "info" lines (README.md records them).
#
# Usage: scripts/oauth2-smoke.sh [TTL_SECONDS]
# OAUTH2_KEEP=1 keeps the temporary directory (logs, transcripts).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
instance=$here/oauth2-instance.sh
ttl=${1:-6}

die() {
    echo "oauth2-smoke: $*" >&2
    exit 1
}

# shellcheck source=scripts/packages.sh
. "$here/packages.sh"

"$instance" install
install_missing oauth2-smoke curl python3
command -v curl >/dev/null || die "curl is missing"
command -v python3 >/dev/null || die "python3 is missing"
"$here/reserve-ports.sh"

dir=$(mktemp -d "${TMPDIR:-/tmp}/oauth2-smoke.XXXXXX")
chmod 755 "$dir"
failed=0
cleanup() {
    local rc=$?
    "$instance" stop "$dir/instance" || echo "oauth2-smoke: stopping the instance failed" >&2
    if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
        for log in provider.log dovecot.log token-requests.log introspection-requests.log; do
            if [ -f "$dir/instance/$log" ]; then
                echo "---- last lines of $log ----" >&2
                tail -n 15 "$dir/instance/$log" >&2
            fi
        done
    fi
    if [ "${OAUTH2_KEEP:-}" = 1 ]; then
        echo "oauth2-smoke: kept $dir" >&2
    else
        rm -rf "$dir"
    fi
    exit "$rc"
}
trap cleanup EXIT

ok() { echo "ok $1"; }
fail() {
    echo "FAIL $1 ($2)"
    failed=1
}
info() { echo "info $1: $2"; }

"$instance" start "$dir/instance" "$ttl"
# shellcheck source=/dev/null
. "$dir/instance/env"

# The SMTP client: Python's smtplib, AUTH through SMTP.auth (the initial
# response on the AUTH line; a 334 challenge is answered with an empty
# response for XOAUTH2 and with %x01 for OAUTHBEARER, RFC 7628 3.2.3).
# Exit 0: 235 (and with "send", the message was accepted); 1: 535; 3: any
# other reply. smtplib's debug output (every line sent, every reply line as
# bytes) goes to TRANSCRIPT.
cat >"$dir/smtp-oauth.py" <<'PY'
import smtplib
import sys

host, port, mech, user, token, action, transcript = sys.argv[1:8]
port = int(port)


def auth_object(challenge=None):
    if challenge is not None:
        print("challenge (decoded): %r" % challenge, file=sys.stderr)
        return "" if mech == "XOAUTH2" else "\x01"
    if mech == "XOAUTH2":
        return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)
    return "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (user, host, port, token)


sys.stderr = open(transcript, "w")
smtp = smtplib.SMTP(host, port, local_hostname="client.invalid", timeout=30)
smtp.set_debuglevel(1)
smtp.ehlo()
try:
    smtp.auth(mech, auth_object)
except smtplib.SMTPAuthenticationError as err:
    print("refused %d %s" % (err.smtp_code, err.smtp_error.decode()))
    smtp.quit()
    sys.exit(1 if err.smtp_code == 535 else 3)
try:
    if action == "send":
        message = "From: <alice@example.org>\r\nTo: <bob@example.org>\r\nSubject: oauth2 smoke %s\r\n\r\nsent with %s\r\n" % (
            mech, mech)
        smtp.sendmail("alice@example.org", ["bob@example.org"], message)
    smtp.quit()
except smtplib.SMTPException as err:
    print("sending failed: %r" % (err,))
    sys.exit(4)
print("accepted")
PY

# smtp_auth MECH USER TOKEN ACTION NAME: runs the client; its transcript is
# $dir/NAME.transcript. Prints the client's verdict line; returns its exit
# code.
smtp_auth() {
    python3 "$dir/smtp-oauth.py" "$OAUTH2_SUBMISSION_HOST" "$OAUTH2_SUBMISSION_PORT" "$1" "$2" "$3" "$4" \
        "$dir/$5.transcript"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# sign_jwt KEY HEADER_JSON PAYLOAD_JSON: an RS256 JWT signed by openssl.
sign_jwt() {
    local input
    input="$(printf '%s' "$2" | b64url).$(printf '%s' "$3" | b64url)"
    printf '%s.%s' "$input" "$(printf '%s' "$input" | openssl dgst -sha256 -sign "$1" -binary | b64url)"
}
json_field() {
    python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

token_requests=0
# token NAME CURL_ARGS...: a token request to the HTTPS token endpoint;
# body in $dir/NAME.json, status in $dir/NAME.status, headers in
# $dir/NAME.headers.
token() {
    local name=$1
    shift
    token_requests=$((token_requests + 1))
    curl -sS --cacert "$OAUTH2_CA_FILE" -o "$dir/$name.json" -D "$dir/$name.headers" \
        -w '%{http_code}' "$@" "$OAUTH2_TOKEN_URL" >"$dir/$name.status"
}
# grant NAME CURL_ARGS...: a token request that must succeed; sets
# $access to the access token.
access=
grant() {
    local name=$1
    token "$@"
    access=$(json_field access_token <"$dir/$name.json")
    if [ "$(cat "$dir/$name.status")" != 200 ] || [ -z "$access" ]; then
        fail "$name" "HTTP $(cat "$dir/$name.status"): $(cat "$dir/$name.json")"
        die "a token request failed; the cases after it need the token"
    fi
    if [ "$(json_field expires_in <"$dir/$name.json")" != "$ttl" ]; then
        fail "$name" "expires_in is not $ttl: $(cat "$dir/$name.json")"
    else
        ok "$name"
    fi
}
client_assertion() {
    local now
    now=$(date +%s)
    sign_jwt "$OAUTH2_APP_JWT_KEY_FILE" "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"$OAUTH2_APP_JWT_KID\"}" \
        "{\"iss\":\"$OAUTH2_APP_JWT_CLIENT_ID\",\"sub\":\"$OAUTH2_APP_JWT_CLIENT_ID\",\"aud\":\"$OAUTH2_TOKEN_URL\",\"jti\":\"$(openssl rand -hex 16)\",\"iat\":$now,\"exp\":$((now + 300))}"
}
# service_assertion [EXTRA_CLAIMS] [LIFETIME]: Google's service-account JWT.
service_assertion() {
    local now
    now=$(date +%s)
    sign_jwt "$OAUTH2_SERVICE_ACCOUNT_KEY_FILE" "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"$OAUTH2_SERVICE_ACCOUNT_KID\"}" \
        "{\"iss\":\"$OAUTH2_SERVICE_ACCOUNT_EMAIL\",\"scope\":\"mail\",\"aud\":\"$OAUTH2_TOKEN_URL\",\"iat\":$now,\"exp\":$((now + ${2:-3600}))${1:-}}"
}

relayed() { find "$OAUTH2_RELAY_DIR" -type f | wc -l; }
# relayed_one BEFORE: true once DIR/relay holds BEFORE+1 files (2 s at most).
relayed_one() {
    for _ in $(seq 20); do
        [ "$(relayed)" != "$1" ] && break
        sleep 0.1
    done
    [ "$(relayed)" = $(($1 + 1)) ]
}

# --- 1. one token per grant ---------------------------------------------------
refresh_token=$(sed -n 1p "$OAUTH2_REFRESH_TOKENS_FILE")
declare -A tokens
grant grant-refresh-token-client-secret-basic \
    -u "$OAUTH2_REFRESH_CLIENT_ID:$OAUTH2_REFRESH_CLIENT_SECRET" \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh_token"
tokens[refresh-basic]=$access
grant grant-refresh-token-client-secret-post \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh_token" \
    -d "client_id=$OAUTH2_REFRESH_CLIENT_ID" --data-urlencode "client_secret=$OAUTH2_REFRESH_CLIENT_SECRET"
tokens[refresh-post]=$access
if [ "$(json_field refresh_token <"$dir/grant-refresh-token-client-secret-post.json")" = "$refresh_token" ]; then
    ok grant-refresh-token-not-rotated
else
    fail grant-refresh-token-not-rotated "$(cat "$dir/grant-refresh-token-client-secret-post.json")"
fi
grant grant-client-credentials-secret \
    -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" -d grant_type=client_credentials -d scope=mail
tokens[client-secret]=$access
grant grant-client-credentials-private-key-jwt \
    -d grant_type=client_credentials -d scope=mail \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    -d "client_assertion=$(client_assertion)"
tokens[private-key-jwt]=$access
grant grant-jwt-bearer-service-account \
    -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d "assertion=$(service_assertion)"
tokens[service-account]=$access
first_issued=$(date +%s)
info grant-refresh-token-response "$(python3 -c 'import json, sys; d = json.load(sys.stdin); print(sorted(d))' \
    <"$dir/grant-refresh-token-client-secret-basic.json")"
info grant-jwt-bearer-response "$(cat "$dir/grant-jwt-bearer-service-account.json")"
lines=$(wc -l <"$OAUTH2_TOKEN_LOG")
if [ "$lines" = "$token_requests" ]; then
    ok token-log-one-line-per-request
else
    fail token-log-one-line-per-request "$lines lines for $token_requests requests"
fi
info token-log-line "$(tail -n 1 "$OAUTH2_TOKEN_LOG")"

# --- 2. each token at Dovecot, both mechanisms, one message each --------------
for kind in refresh-basic refresh-post client-secret private-key-jwt service-account; do
    for mech in XOAUTH2 OAUTHBEARER; do
        before=$(relayed)
        if out=$(smtp_auth "$mech" "$OAUTH2_USER" "${tokens[$kind]}" send "send-$kind-$mech"); then
            if relayed_one "$before"; then
                ok "send-$kind-$mech"
            else
                fail "send-$kind-$mech" "accepted, but nothing new in $OAUTH2_RELAY_DIR"
            fi
        else
            fail "send-$kind-$mech" "$out"
        fi
    done
done
info send-transcript-xoauth2 "$(grep -m1 "^send: 'AUTH" "$dir/send-client-secret-XOAUTH2.transcript") -> $(grep -m1 "^reply: b'235" "$dir/send-client-secret-XOAUTH2.transcript")"

# expect_refused NAME TOKEN [USER]: both mechanisms refuse with 334 then 535.
expect_refused() {
    local name=$1 tok=$2 user=${3:-$OAUTH2_USER} mech out rc
    for mech in XOAUTH2 OAUTHBEARER; do
        rc=0
        out=$(smtp_auth "$mech" "$user" "$tok" auth "$name-$mech") || rc=$?
        if [ "$rc" = 1 ] && grep -q "^reply: b'334 " "$dir/$name-$mech.transcript"; then
            ok "$name-$mech"
        else
            fail "$name-$mech" "exit $rc: $out"
        fi
    done
}
expect_accepted() {
    local name=$1 tok=$2 out
    if out=$(smtp_auth XOAUTH2 "$OAUTH2_USER" "$tok" auth "$name"); then
        ok "$name"
    else
        fail "$name" "$out"
    fi
}

# --- 3. refusals --------------------------------------------------------------
# A token for alice presented as bob: Dovecot compares the user names.
expect_refused refused-other-user "${tokens[client-secret]}" bob
# No scope asked for: the token has no `mail` scope.
grant grant-client-credentials-no-scope \
    -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" -d grant_type=client_credentials
noscope=$access
expect_refused refused-no-mail-scope "$noscope"

# Revocation (RFC 7009) of an access token from the second refresh token's
# grant, with the issuing client's credentials.
refresh2=$(sed -n 2p "$OAUTH2_REFRESH_TOKENS_FILE")
grant grant-refresh-token-for-revocation \
    -u "$OAUTH2_REFRESH_CLIENT_ID:$OAUTH2_REFRESH_CLIENT_SECRET" \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh2"
revoked=$access
expect_accepted accepted-before-revocation "$revoked"
status=$(curl -sS --cacert "$OAUTH2_CA_FILE" -o "$dir/revocation.body" -w '%{http_code}' \
    -u "$OAUTH2_REFRESH_CLIENT_ID:$OAUTH2_REFRESH_CLIENT_SECRET" \
    -d token_type_hint=access_token --data-urlencode "token=$revoked" "$OAUTH2_REVOCATION_URL")
if [ "$status" = 200 ]; then
    ok revocation-endpoint
else
    fail revocation-endpoint "HTTP $status: $(cat "$dir/revocation.body")"
fi
expect_refused refused-revoked "$revoked"
token error-refresh-after-revocation -u "$OAUTH2_REFRESH_CLIENT_ID:$OAUTH2_REFRESH_CLIENT_SECRET" \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh2"
if [ "$(json_field error <"$dir/error-refresh-after-revocation.json")" = invalid_grant ]; then
    ok error-refresh-after-revocation
else
    fail error-refresh-after-revocation "$(cat "$dir/error-refresh-after-revocation.json")"
fi
# The first refresh token (another grant) still works.
grant grant-refresh-token-other-grant-alive \
    -u "$OAUTH2_REFRESH_CLIENT_ID:$OAUTH2_REFRESH_CLIENT_SECRET" \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh_token"
# A client-credentials token revoked by its client.
grant grant-client-credentials-for-revocation \
    -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" -d grant_type=client_credentials -d scope=mail
revoked_app=$access
curl -sS --cacert "$OAUTH2_CA_FILE" -o /dev/null -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" \
    --data-urlencode "token=$revoked_app" "$OAUTH2_REVOCATION_URL"
expect_refused refused-revoked-client-credentials "$revoked_app"

# The fault switch: every token inactive, even a fresh one.
grant grant-client-credentials-for-refuse-all \
    -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" -d grant_type=client_credentials -d scope=mail
fresh=$access
touch "$OAUTH2_REFUSE_ALL_FILE"
expect_refused refused-refuse-all "$fresh"
rm -f "$OAUTH2_REFUSE_ALL_FILE"
expect_accepted accepted-after-refuse-all "$fresh"

# Expiry: the first tokens, TTL seconds (+1 for the second boundary) after
# they were issued.
wait=$((first_issued + ttl + 1 - $(date +%s)))
[ "$wait" -le 0 ] || sleep "$wait"
expect_refused refused-expired-refresh "${tokens[refresh-basic]}"
expect_refused refused-expired-client-credentials "${tokens[client-secret]}"
expect_refused refused-expired-service-account "${tokens[service-account]}"
if grep -q '"outcome":"inactive"' "$OAUTH2_INTROSPECTION_LOG"; then
    ok introspection-log-inactive
else
    fail introspection-log-inactive "no inactive line in $OAUTH2_INTROSPECTION_LOG"
fi

# The exact refusal bytes, from the transcripts.
for mech in XOAUTH2 OAUTHBEARER; do
    info "refusal-bytes-$mech" "$(grep -E "^(send: 'AUTH|send: '[^aeq]|reply: b|challenge)" \
        "$dir/refused-expired-refresh-$mech.transcript" | grep -v -E "^reply: b'(250|221)" | tr '\n' ' ')"
done

# --- 4. the token endpoint's errors -------------------------------------------
# error_case NAME EXPECTED_STATUS EXPECTED_ERROR CURL_ARGS...
error_case() {
    local name=$1 want_status=$2 want_error=$3 got
    shift 3
    token "$name" "$@"
    got=$(json_field error <"$dir/$name.json")
    if [ "$(cat "$dir/$name.status")" = "$want_status" ] && [ "$got" = "$want_error" ]; then
        ok "$name"
    else
        fail "$name" "HTTP $(cat "$dir/$name.status"): $(cat "$dir/$name.json")"
    fi
    info "$name" "HTTP $(cat "$dir/$name.status") $(cat "$dir/$name.json")$(grep -i '^www-authenticate' "$dir/$name.headers" | tr -d '\r' | sed 's/^/ + /')"
}
error_case error-bad-refresh-token 400 invalid_grant \
    -u "$OAUTH2_REFRESH_CLIENT_ID:$OAUTH2_REFRESH_CLIENT_SECRET" \
    -d grant_type=refresh_token -d refresh_token=not-a-refresh-token
error_case error-bad-client-secret-basic 401 invalid_client \
    -u "$OAUTH2_REFRESH_CLIENT_ID:wrong-secret" \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh_token"
error_case error-bad-client-secret-post 401 invalid_client \
    -d "client_id=$OAUTH2_REFRESH_CLIENT_ID" -d client_secret=wrong-secret \
    -d grant_type=refresh_token --data-urlencode "refresh_token=$refresh_token"
error_case error-unknown-client 401 invalid_client \
    -u "nobody:wrong-secret" -d grant_type=client_credentials
assertion=$(client_assertion)
token grant-client-assertion-first -d grant_type=client_credentials -d scope=mail \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    -d "client_assertion=$assertion"
error_case error-client-assertion-replayed 401 invalid_client -d grant_type=client_credentials -d scope=mail \
    -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
    -d "client_assertion=$assertion"
error_case error-service-account-lifetime-over-1h 400 invalid_grant \
    -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d "assertion=$(service_assertion '' 3601)"
error_case error-service-account-wrong-key 400 invalid_grant \
    -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer \
    -d "assertion=$(OAUTH2_SERVICE_ACCOUNT_KEY_FILE=$OAUTH2_APP_JWT_KEY_FILE service_assertion)"
error_case error-unsupported-grant-type 400 unsupported_grant_type \
    -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" -d grant_type=password
lines=$(wc -l <"$OAUTH2_TOKEN_LOG")
if [ "$lines" = "$token_requests" ]; then
    ok token-log-one-line-per-request-with-errors
else
    fail token-log-one-line-per-request-with-errors "$lines lines for $token_requests requests"
fi
info token-log-error-line "$(grep -m1 '"error":"invalid_grant"' "$OAUTH2_TOKEN_LOG")"

# --- 5. the provider down: Dovecot's introspection fails ----------------------
grant grant-client-credentials-for-down \
    -u "$OAUTH2_APP_CLIENT_ID:$OAUTH2_APP_CLIENT_SECRET" -d grant_type=client_credentials -d scope=mail
down=$access
kill "$(cat "$OAUTH2_DIR/provider.pid")"
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$OAUTH2_HTTP_PORT") 2>/dev/null || break
    sleep 0.1
done
for mech in XOAUTH2 OAUTHBEARER; do
    rc=0
    out=$(smtp_auth "$mech" "$OAUTH2_USER" "$down" auth "down-$mech") || rc=$?
    if [ "$rc" = 3 ]; then
        ok "down-$mech"
    else
        fail "down-$mech" "exit $rc: $out"
    fi
    info "down-$mech" "$(grep -E "^reply: b'[^2]" "$dir/down-$mech.transcript" | tr '\n' ' ')"
done

if [ "$failed" != 0 ]; then
    echo "oauth2-smoke: some cases failed" >&2
    exit 1
fi
echo "oauth2-smoke: all cases passed"
