#!/usr/bin/env bash
# A relay rate limit under load (issue "Never lost, never duplicated"):
# 100 tokio tasks share one RelayPool whose relay allows RATE (50)
# messages per second, for SECONDS (60), against the in-process test
# server; fails when the steady rate is off by more than 5 %.
#   scripts/rate-limit-check.sh [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo run -q -p smtpkit-tokio --example relay_rate_limit -- "${1:-50}" "${2:-60}"
