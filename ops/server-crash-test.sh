#!/usr/bin/env bash
# kill -9 the real frontdoor SERVER in the middle of concurrent HTTP appends, CYCLES times,
# restarting it on the same data directory each time, and check that every append it
# answered 201 is in the log at the position it was given, and that the hash chain verifies.
#   ops/server-crash-test.sh [CYCLES] [CLIENTS]
# Loopback only (the server listens on 127.0.0.1:0); bounded by CYCLES.
# Prints per-cycle lines and a summary: acknowledged / lost / corrupt. Exits non-zero if any
# acknowledged append was lost or corrupt, or the chain does not verify.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-200}"
clients="${2:-8}"
FRONTDOOR_CRASH_CYCLES="$cycles" FRONTDOOR_CRASH_CLIENTS="$clients" \
  exec cargo test --quiet -p frontdoor --test api -- --exact \
  faults::server_kill_9_mid_concurrent_appends_loses_no_acknowledged_event --nocapture
