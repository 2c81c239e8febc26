#!/usr/bin/env bash
# Kill -9 the event log in the middle of appends, CYCLES times, and check that every
# acknowledged event survives intact and the hash chain verifies.
#   ops/crash-test.sh [CYCLES] [extra eventlog-crash flags, e.g. --seed 42 --dir /path]
# Exits non-zero if any acknowledged event was lost or corrupt.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-1000}"
shift || true
cargo build --release --quiet -p eventlog --bin eventlog-crash
exec target/release/eventlog-crash run --cycles "$cycles" "$@"
