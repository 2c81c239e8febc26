#!/usr/bin/env bash
# kill -9 the real frontdoor SERVER in the middle of concurrent HTTP appends, CYCLES times,
# restarting it on the same data directory each time, and check that every append it
# answered 201 is in the log at the position it was given, and that the hash chain verifies.
#   ops/server-crash-test.sh [CYCLES] [CLIENTS]
# Loopback only (the server listens on 127.0.0.1:0); bounded by CYCLES.
# Prints per-cycle lines and a summary: acknowledged / lost / corrupt. Exits non-zero if any
# acknowledged append was lost or corrupt, or the chain does not verify. Then the same number of
# kills right after concurrent reads: exits non-zero if any answered read's access-log entry is
# missing after the restart.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-200}"
clients="${2:-8}"
# Appends, then reads: every answered read's access-log entry must be there after each kill.
FRONTDOOR_CRASH_CYCLES="$cycles" FRONTDOOR_CRASH_CLIENTS="$clients" \
  cargo test --quiet -p frontdoor --test api -- --exact \
  faults::server_kill_9_mid_concurrent_appends_loses_no_acknowledged_event --nocapture
FRONTDOOR_CRASH_CYCLES="$cycles" \
  exec cargo test --quiet -p frontdoor --test api -- --exact \
  faults::server_kill_9_right_after_reads_loses_no_answered_reads_entry --nocapture
