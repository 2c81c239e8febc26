#!/usr/bin/env bash
# schemathesis against the real server's own /openapi.json (issue 8, "Bad input").
#
# Starts the built `frontdoor` on 127.0.0.1:0 with a fresh data directory and runs
# `schemathesis run` twice: every operation with an admin token, then the operations a referrer
# has a view of its own in (`GET /v1/contacts?made_by=me`, which answers only a referrer, and
# its own contacts) with a referrer's token. Two checks: `not_a_server_error` (no 5xx) and
# `errors_are_problem_json` (ops/schemathesis_hooks.py: every 4xx/5xx is
# application/problem+json with type, title, detail and a matching status; the HTML pages
# excepted), then stops the server and prints the figures. Loopback only.
#
#   ops/schemathesis.sh            # 50 examples per operation per phase, at most 120 s (+ 40 s)
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
REFERRER=$("$BIN" token create --data-dir "$DATA" --role referrer --actor schemathesis-referrer --agency education)
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
# pass NAME TOKEN MAX_TIME [schemathesis options...]: one run, its report in $REPORT/NAME.
pass() {
  local name=$1 token=$2 max_time=$3
  shift 3
  mkdir -p "$REPORT/$name"
  (cd "$REPORT/$name" && SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$OPS" "$VENV/bin/schemathesis" run "$URL/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,errors_are_problem_json \
    --max-examples "$MAX_EXAMPLES" --max-time "$max_time" \
    --request-timeout 10 --generation-database none \
    --exclude-path-regex '/stream$' \
    --report json --report-dir "$REPORT/$name" --no-color "$@")
}
set +e
# An admin may not list "own" contacts (403): that operation is the referrer pass's.
pass admin "$TOKEN" "$MAX_TIME" --exclude-operation-id list_own_contacts
STATUS=$?
pass referrer "$REFERRER" $((MAX_TIME / 3)) --include-operation-id-regex '^(list_own_contacts|create_contact|read_contact|append_event)$'
REFERRER_STATUS=$?
set -e
[[ $STATUS -eq 0 ]] && STATUS=$REFERRER_STATUS

python3 - "$REPORT" <<'PY'
import glob, json, sys
for name in ("admin", "referrer"):
    report = json.load(open(sorted(glob.glob(f"{sys.argv[1]}/{name}/*.json"))[-1]))
    cases = report["test_cases"]
    failures = report.get("failures", [])
    server = sum(1 for f in failures if "not_a_server_error" in json.dumps(f) or "Server error" in json.dumps(f))
    problem = sum(1 for f in failures if "errors_are_problem_json" in json.dumps(f))
    print(f"schemathesis {report['schemathesis_version']} as {name}: {report['operations']['tested']} operations, "
          f"{cases['generated']} test cases, {cases['with_failures']} with failures "
          f"({server} 5xx, {problem} non-problem errors), {cases['errored']} errored, "
          f"{len(report.get('errors', []))} run errors, {report['running_time']:.0f} s")
PY
[[ -s "$DATA.log" ]] && { echo "server log (errors):"; tail -20 "$DATA.log"; }
rm -f "$DATA.log"
exit "$STATUS"
