#!/usr/bin/env bash
# schemathesis against the real server's own /openapi.json (issue 8, "Bad input").
#
# Starts the built `frontdoor` on 127.0.0.1:0 with a fresh data directory and an admin token,
# runs `schemathesis run` with two checks: `not_a_server_error` (no 5xx) and
# `errors_are_problem_json` (ops/schemathesis_hooks.py: every 4xx/5xx is
# application/problem+json with type, title, detail and a matching status; the HTML pages
# excepted), then stops the server and prints the figures. Loopback only.
#
#   ops/schemathesis.sh            # 50 examples per operation per phase, at most 120 s
#   ST_MAX_EXAMPLES=200 ST_MAX_TIME=600 ops/schemathesis.sh
#
# The SSE streams (`/v1/*/stream`) never end by design, so they are left out here; their
# headers (Last-Event-ID) are abused in tests/api/headers.rs. Exit status: schemathesis's.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-50}
MAX_TIME=${ST_MAX_TIME:-120}
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${FRONTDOOR_BIN:-$TARGET/debug/frontdoor}
VENV=${SCHEMATHESIS_VENV:-$TARGET/schemathesis-venv}

# schemathesis from PyPI, pinned, in its own virtualenv (Debian's Python refuses system-wide pip).
if [[ -x "$VENV/bin/schemathesis" ]] && "$VENV/bin/schemathesis" --version | grep -q "$VERSION"; then
  :
else
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi
[[ -x "$BIN" ]] || cargo build --locked --bin frontdoor

DATA=$(mktemp -d)
REPORT=$(mktemp -d)
PID=
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA" "$REPORT"
}
trap cleanup EXIT

TOKEN=$("$BIN" token create --data-dir "$DATA" --role admin --actor schemathesis --agency childrens_social_care)
exec 3< <(FRONTDOOR_LOG=error "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" 2>"$DATA.log")
PID=$!
read -r -t 30 FIRST <&3
URL=${FIRST#frontdoor listening on }
[[ "$URL" == http://127.0.0.1:* ]] || { echo "server did not start: $FIRST" >&2; exit 1; }
cat <&3 >/dev/null &   # keep draining stdout
"$VENV/bin/python" - "$URL/readyz" <<'PY'
import sys, time, urllib.request
for _ in range(300):
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200:
            break
    except Exception:
        time.sleep(0.1)
PY

# From the report directory, so that schemathesis's cache (.schemathesis/) stays out of the tree.
OPS=$(pwd)/ops
VENV=$(cd "$VENV" && pwd)
set +e
(cd "$REPORT" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$OPS" "$VENV/bin/schemathesis" run "$URL/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,errors_are_problem_json \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" \
  --request-timeout 10 --generation-database none \
  --exclude-path-regex '/stream$' \
  --report json --report-dir "$REPORT" --no-color)
STATUS=$?
set -e

python3 - "$REPORT" <<'PY'
import glob, json, sys
report = json.load(open(sorted(glob.glob(sys.argv[1] + "/*.json"))[-1]))
cases = report["test_cases"]
failures = report.get("failures", [])
text = json.dumps(failures)
server = sum(1 for f in failures if "not_a_server_error" in json.dumps(f) or "Server error" in json.dumps(f))
problem = sum(1 for f in failures if "errors_are_problem_json" in json.dumps(f))
print(f"schemathesis {report['schemathesis_version']}: {report['operations']['tested']} operations, "
      f"{cases['generated']} test cases, {cases['with_failures']} with failures "
      f"({server} 5xx, {problem} non-problem errors), {cases['errored']} errored, "
      f"{len(report.get('errors', []))} run errors, {report['running_time']:.0f} s")
PY
[[ -s "$DATA.log" ]] && { echo "server log (errors):"; tail -20 "$DATA.log"; }
rm -f "$DATA.log"
exit "$STATUS"
