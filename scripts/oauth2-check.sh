#!/usr/bin/env bash
# OAuth 2.0 against software nobody here wrote: starts oidc-provider (npm)
# and Dovecot's submission service checking every token at it
# (scripts/oauth2-instance.sh, tokens living TTL seconds, 6 by default),
# then runs
#   - the OAuth 2.0 suite (smtp-suites/src/oauth2.rs) on every adapter:
#     every built-in grant by XOAUTH2 and OAUTHBEARER; a revoked token
#     re-authenticated once, then the final refusal; a pool sending for
#     four token lifetimes with every message relayed and one token
#     request per lifetime, and one through a revocation that costs one
#     request (the counts go to the log);
#   - smtp-send with the --oauth2-* flags for each grant, the token
#     command, and --dry-run (no secret in its output);
# and always stops the instance. Needs root (Dovecot).
#   SMTP_SEND=path/to/smtp-send (default: builds target/debug/smtp-send)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
instance=$here/oauth2-instance.sh
ttl=${OAUTH2_TTL_SECONDS:-6}

"$here/reserve-ports.sh"
"$instance" install

dir=$(mktemp -d "${TMPDIR:-/tmp}/smtp-oauth2.XXXXXX")
chmod 755 "$dir"
cleanup() {
    local rc=$?
    "$instance" stop "$dir" || echo "oauth2-check: stopping the instance failed" >&2
    if [ "$rc" != 0 ]; then
        for log in provider.log dovecot.log; do
            if [ -f "$dir/$log" ]; then
                echo "---- last lines of $log ----" >&2
                tail -n 20 "$dir/$log" >&2
            fi
        done
    fi
    rm -rf "$dir"
    exit "$rc"
}
trap cleanup EXIT

"$instance" start "$dir" "$ttl"
set -a
# shellcheck disable=SC1091
. "$dir/env"
set +a
export SMTP_INTEROP_REQUIRED=1

cd "$root"
status=0
# One at a time: the tests switch the provider's refuse-all on and off.
# The features interop.sh builds the clients with: CI reuses that build.
cargo test --no-fail-fast -p smtpkit-blocking -p smtpkit-tokio -p smtpkit-smol --features legacy-auth \
    --test oauth2 ${OAUTH2_TESTS:-} \
    -- --test-threads=1 --nocapture 2>&1 | tee "$dir/suite.log" || status=1
grep -E '^[a-z-]+: (pool for|a token revoked)' "$dir/suite.log" || true

# smtp-send: each grant from the command line, by the flags.
if [ -z "${SMTP_SEND:-}" ]; then
    cargo build -q -p smtpkit-send
    SMTP_SEND=$root/target/debug/smtp-send
fi
fail() {
    echo "oauth2-check: smtp-send: $*" >&2
    status=1
}
common=(-s "$OAUTH2_SUBMISSION" --tls none --allow-plaintext-auth -u "$OAUTH2_USER"
    --oauth2-ca "$OAUTH2_CA_FILE" -f sender@example.org)
send() {
    local tag=$1
    shift
    printf 'From: <sender@example.org>\r\nTo: <rcpt@example.org>\r\nSubject: %s\r\nMessage-ID: <%s@cli.test>\r\n\r\nbody\r\n' \
        "$tag" "$tag" | "$SMTP_SEND" "${common[@]}" "$@" rcpt@example.org
}
# How many relayed files hold message TAG (smtp-sink writes a file once
# Dovecot's relay session ends: wait a little for it).
relayed() {
    local n
    for _ in $(seq 50); do
        n=$(grep -rlF "Message-ID: <$1@cli.test>" "$OAUTH2_RELAY_DIR" | wc -l)
        [ "$n" -gt 0 ] && break
        sleep 0.1
    done
    echo "$n"
}
send cli-refresh --oauth2-token-url "$OAUTH2_TOKEN_URL" --oauth2-client-id "$OAUTH2_REFRESH_CLIENT_ID" \
    --oauth2-client-secret-file "$OAUTH2_REFRESH_CLIENT_SECRET_FILE" \
    --oauth2-refresh-token-file "$OAUTH2_REFRESH_TOKEN_FILE" || fail "refresh_token"
OAUTH2_SECRET=$(cat "$OAUTH2_APP_CLIENT_SECRET_FILE") send cli-app \
    --oauth2-token-url "$OAUTH2_TOKEN_URL" --oauth2-client-id "$OAUTH2_APP_CLIENT_ID" \
    --oauth2-client-secret-env OAUTH2_SECRET --oauth2-secret-in-form --oauth2-scope "$OAUTH2_SCOPE" ||
    fail "client_credentials"
send cli-jwt --auth OAUTHBEARER --oauth2-token-url "$OAUTH2_TOKEN_URL" \
    --oauth2-client-id "$OAUTH2_APP_JWT_CLIENT_ID" --oauth2-client-key "$OAUTH2_APP_JWT_KEY_FILE" \
    --oauth2-client-key-id "$OAUTH2_APP_JWT_KID" --oauth2-scope "$OAUTH2_SCOPE" || fail "private_key_jwt"
send cli-service --oauth2-service-account "$OAUTH2_SERVICE_ACCOUNT_FILE" \
    --oauth2-scope "$OAUTH2_SCOPE" || fail "service account"
# A token command: the token once asked for with curl.
token=$(curl -sS --cacert "$OAUTH2_CA_FILE" -u "$OAUTH2_APP_CLIENT_ID:$(cat "$OAUTH2_APP_CLIENT_SECRET_FILE")" \
    -d grant_type=client_credentials -d scope="$OAUTH2_SCOPE" "$OAUTH2_TOKEN_URL" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
printf '%s\n' "$token" >"$dir/token"
send cli-command --oauth2-token-command "cat $dir/token" || fail "token command"
for tag in cli-refresh cli-app cli-jwt cli-service cli-command; do
    [ "$(relayed "$tag")" = 1 ] || fail "$tag was not relayed once"
done
# A refused token: exit 77, the reply named, the token not shown.
printf 'not-a-token\n' >"$dir/bad-token"
set +e
out=$(send cli-refused --oauth2-token-command "cat $dir/bad-token" 2>&1)
rc=$?
set -e
[ "$rc" = 77 ] || fail "a refused token exits $rc, not 77: $out"
case $out in *"refused the XOAUTH2 token"*) ;; *) fail "the refusal is not named: $out" ;; esac
# --dry-run names the grant and never a secret.
out=$(send cli-dry --dry-run --json --oauth2-token-url "$OAUTH2_TOKEN_URL" \
    --oauth2-client-id "$OAUTH2_REFRESH_CLIENT_ID" \
    --oauth2-client-secret-file "$OAUTH2_REFRESH_CLIENT_SECRET_FILE" \
    --oauth2-refresh-token-file "$OAUTH2_REFRESH_TOKEN_FILE")
case $out in *"refresh_token grant"*) ;; *) fail "--dry-run does not name the grant: $out" ;; esac
for secret_file in "$OAUTH2_REFRESH_CLIENT_SECRET_FILE" "$OAUTH2_REFRESH_TOKEN_FILE"; do
    case $out in *"$(cat "$secret_file")"*) fail "--dry-run shows a secret" ;; esac
done
[ "$status" = 0 ] && echo "oauth2-check: smtp-send: every grant relayed; refusal exit 77; dry run redacted"
exit "$status"
