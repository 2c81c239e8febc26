#!/usr/bin/env bash
# Prometheus's own tool on what frontdoor serves (issue 15, "Metrics").
#
# Starts the built `frontdoor serve --demo` on 127.0.0.1:0 (four weeks of a synthetic county,
# in a fresh temporary directory), makes a few requests and opens both event streams so every
# metric has samples, scrapes /metrics and pipes it to `promtool check metrics`: any problem
# (a parse error or a lint finding, e.g. a counter without `_total` or a metric without help)
# fails. Then checks the alerting rules: `promtool check rules ops/alerts.yml` and their unit
# tests, `promtool test rules ops/alerts.test.yml`. Loopback only.
#
#   ops/promtool-check.sh
#
# promtool comes from Debian's `prometheus` package, installed when missing (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-target}
BIN=${FRONTDOOR_BIN:-$TARGET/debug/frontdoor}

if ! command -v promtool >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus
fi
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
[[ -x "$BIN" ]] || cargo build --locked --bin frontdoor

DATA=$(mktemp -d)
PID=
STREAMS=()
cleanup() {
  for s in "${STREAMS[@]}"; do kill "$s" 2>/dev/null || true; done
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA"
}
trap cleanup EXIT

exec 3< <(FRONTDOOR_LOG=error "$BIN" serve --demo --listen 127.0.0.1:0 --data-dir "$DATA/data" 2>"$DATA/server.log")
PID=$!
read -r -t 120 FIRST <&3 || { echo "server did not start:"; cat "$DATA/server.log"; exit 1; } >&2
URL=${FIRST#frontdoor listening on }
[[ "$URL" == http://127.0.0.1:* ]] || { echo "server did not start: $FIRST" >&2; exit 1; }
# The demo's banner: one token per role; the admin's reads everything (and /metrics, should
# it ever need a token).
TOKEN=
while read -r -t 30 LINE <&3; do
  case "$LINE" in admin\ *) TOKEN=${LINE##* } ;; try:*) break ;; esac
done
[[ "$TOKEN" == fd_* ]] || { echo "no admin token in the demo's banner" >&2; exit 1; }
cat <&3 >/dev/null &   # keep draining stdout

for _ in $(seq 300); do
  curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null && break
  sleep 0.2
done
AUTH=(-H "Authorization: Bearer $TOKEN")
curl -fsS -o /dev/null "${AUTH[@]}" "$URL/v1/queue"
curl -fsS -o /dev/null "${AUTH[@]}" "$URL/v1/events?limit=5"
curl -sS -o /dev/null "$URL/v1/queue" || true   # a 401, counted too
for stream in queue events; do
  curl -sS -N -o /dev/null "${AUTH[@]}" "$URL/v1/$stream/stream" &
  STREAMS+=($!)
done
sleep 1

curl -fsS "${AUTH[@]}" "$URL/metrics" >"$DATA/metrics.txt"
set +e
LINT=$(promtool check metrics <"$DATA/metrics.txt" 2>&1)
STATUS=$?
set -e
if [[ $STATUS -ne 0 || -n "$LINT" ]]; then
  echo "promtool check metrics failed (exit $STATUS):" >&2
  echo "$LINT" >&2
  exit 1
fi
for series in frontdoor_queue_contacts frontdoor_queue_decisions_overdue frontdoor_queue_handovers_overdue \
  frontdoor_queue_oldest_undecided_age_seconds 'frontdoor_sse_clients{stream="queue"}' \
  'frontdoor_sse_clients{stream="events"}' frontdoor_http_requests_total frontdoor_failed_authentications_total; do
  grep -qF "$series" "$DATA/metrics.txt" || { echo "$series missing from /metrics" >&2; exit 1; }
done
families=$(grep -c '^# TYPE ' "$DATA/metrics.txt")
samples=$(grep -vc '^#' "$DATA/metrics.txt")
echo "promtool check metrics: OK, $families metric families, $samples samples (the demo county):"
grep -E '^frontdoor_(queue_|sse_clients)' "$DATA/metrics.txt" | sed 's/^/  /'

promtool check rules ops/alerts.yml
promtool test rules ops/alerts.test.yml
