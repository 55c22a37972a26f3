#!/usr/bin/env bash
# Supply-chain checks, as CI runs them (.ci/run), offline:
#   1. every advisory ignored in .cargo/audit.toml is informational
#      (unmaintained, unsound, notice), known to the database, and about a
#      crate still in Cargo.lock: a vulnerability is fixed, never ignored;
#   2. `cargo audit` on Cargo.lock (and fuzz/Cargo.lock, the fuzz project's
#      own) against the database, without fetching it: a vulnerability
#      fails, and so does any warning (unmaintained, unsound, yanked) that
#      .cargo/audit.toml does not ignore;
#   3. the shipped smtp-send (default features) links neither the
#      discontinued async-std nor the test server and its certificate
#      generator (smtp-testkit, rcgen). (`time` is no longer a sign of
#      them: DKIM's mail-auth links it through its DNS resolver.)
# Usage: scripts/audit.sh [DB]. DB defaults to ../shared/advisory-db, the
# RustSec snapshot beside the checkout (relative to the repository root).
# Needs cargo-audit 0.22 (`cargo install cargo-audit --locked`).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" # cargo-audit reads ./.cargo/audit.toml
db=${1:-../shared/advisory-db}
if [ ! -d "$db/crates" ]; then
    echo "audit: no advisory database at $db (expected RustSec's layout, crates/*/RUSTSEC-*.md)" >&2
    exit 1
fi

status=0

# 1. The exceptions. Ids outside comments only.
ids=$(sed 's/#.*//' .cargo/audit.toml | grep -oE 'RUSTSEC-[0-9]{4}-[0-9]{4}' || true)
for id in $ids; do
    file=$(find "$db/crates" "$db/rust" -name "$id.md" -print -quit 2>/dev/null || true)
    if [ -z "$file" ]; then
        echo "audit: .cargo/audit.toml ignores $id, which $db does not know" >&2
        status=1
        continue
    fi
    if ! grep -qE '^informational = ' "$file"; then
        echo "audit: .cargo/audit.toml ignores $id, a vulnerability ($file): fix it, do not ignore it" >&2
        status=1
    fi
    package=$(sed -n 's/^package = "\(.*\)"$/\1/p' "$file" | head -n 1)
    if [ -n "$package" ] && ! grep -qxF "name = \"$package\"" Cargo.lock; then
        echo "audit: .cargo/audit.toml ignores $id, but $package is no longer in Cargo.lock: remove the entry" >&2
        status=1
    fi
done
echo "audit: exceptions in .cargo/audit.toml: ${ids:-none}" | tr '\n' ' '
echo

# 2. The audit itself (`--deny warnings` repeats .cargo/audit.toml's
# [output] deny, so that removing it there does not relax CI). Resolving
# each lock first (--locked: it must match its Cargo.toml) puts its crates
# into cargo's local index cache, which the yanked check reads.
for lock in Cargo.lock fuzz/Cargo.lock; do
    cargo metadata --locked --format-version 1 --manifest-path "$(dirname "$lock")/Cargo.toml" >/dev/null
    if ! cargo audit --db "$db" --no-fetch --stale --deny warnings --file "$lock"; then
        echo "audit: cargo audit failed on $lock: a vulnerability, or a warning that .cargo/audit.toml does not list" >&2
        status=1
    fi
done

# 3. What ships: smtp-send with default features, every target platform.
shipped=$(cargo tree --locked -p smtpkit-send -e normal --target all --prefix none)
unwanted=$(grep -E '^(async-std|rcgen|smtp-testkit) ' <<<"$shipped" | cut -d' ' -f1,2 | sort -u || true)
if [ -n "$unwanted" ]; then
    echo "audit: smtp-send's default build links what only the demo or --runtime async-std needs:" >&2
    echo "$unwanted" >&2
    echo "(keep them behind its \`demo\` and \`async-std\` features)" >&2
    status=1
else
    echo "audit: smtp-send (default features) links none of async-std, rcgen, smtp-testkit"
fi

exit "$status"
