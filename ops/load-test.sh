#!/usr/bin/env bash
# The load run: the real frontdoor server (release build) with the demo data holds 200
# appends/s and 500 reads/s, open loop, with 200 Server-Sent Events clients connected, for
# MINUTES minutes after a 30 s warm-up; reports errors, p50/p99/max latency per request kind,
# the rates achieved, the events the streams delivered, and the server's RSS at the start, once
# a minute and at the end, against the data it holds.
#   ops/load-test.sh [MINUTES] [more frontdoor-bench load flags, e.g. --quick or --out DIR]
# Writes the `load` section of ops/RELIABILITY.md and ops/bench/results-load*.csv (a run shorter
# than 10 minutes says so in its section). Exits non-zero on any error, on a rate below 95% of
# its target, on a stream dropped or inconsistent, or on memory growth beyond the data.
# Loopback only (127.0.0.1:0); its data goes to a temporary directory under target/bench-tmp.
# Run it on a quiet machine: the load generator shares the CPUs with the server.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
shift || true
command -v cargo >/dev/null || { echo "load-test: cargo (rustup) is needed" >&2; exit 2; }
# The benchmark stops the server with SIGTERM through kill(1) (procps), to check a clean exit.
if ! type -P kill >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq procps; else
    echo "load-test: kill(1) is needed (apt-get install procps)" >&2; exit 2; fi
fi
# 200 streams and the requests beside them need more open files than some defaults allow; the
# benchmark raises its soft limit to the hard one, and says so if that is not enough.
cargo build --release -p frontdoor --bin frontdoor -p frontdoor-bench
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/frontdoor-bench" load --minutes "$minutes" --server "$target/release/frontdoor" "$@"
