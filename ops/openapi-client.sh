#!/usr/bin/env bash
# An integrator's view of /openapi.json: generate a Python client with openapi-python-client
# (PyPI, pinned, in its own virtualenv), then use it against the real binary with the demo's
# data, so the document is judged by a tool we did not write.
#
# Fails when the generator warns (except for the one response it cannot model: the pages'
# SVG icon), when a response the contract gives a shape comes out as an untyped dictionary,
# when the event variants are numbered (`NewEventType0`) rather than named, or when a real
# response does not parse into the generated models without leftover fields.
#
#   ops/openapi-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.29.1
TARGET=${CARGO_TARGET_DIR:-target}
BIN=${FRONTDOOR_BIN:-$TARGET/debug/frontdoor}
VENV=${OPENAPI_CLIENT_VENV:-$TARGET/openapi-client-venv}

if [[ -x "$VENV/bin/openapi-python-client" ]] && "$VENV/bin/openapi-python-client" --version | grep -q "$VERSION"; then
  :
else
  if ! python3 -m venv "$VENV" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q "openapi-python-client==$VERSION"
fi
[[ -x "$BIN" ]] || cargo build --locked --bin frontdoor

WORK=$(mktemp -d)
PID=
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

exec 3< <(FRONTDOOR_LOG=error "$BIN" serve --demo --listen 127.0.0.1:0 --data-dir "$WORK/data" 2>"$WORK/server.log")
PID=$!
read -r -t 60 FIRST <&3
URL=${FIRST#frontdoor listening on }
[[ "$URL" == http://127.0.0.1:* ]] || { echo "server did not start: $FIRST" >&2; exit 1; }
# The demo prints a token per role; keep the lines, then keep draining stdout.
timeout 60 sed -n '/^tokens/,/^try:/p; /^try:/q' <&3 >"$WORK/tokens" || true
cat <&3 >/dev/null &

"$VENV/bin/python" - "$URL" "$WORK" "$VENV" <<'PY'
import importlib, json, pathlib, re, subprocess, sys, time, urllib.request

url, work, venv = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
for _ in range(600):
    try:
        if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
            break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("the server never became ready")

tokens = {}
for line in (work / "tokens").read_text().splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[2].startswith("fd_"):
        tokens.setdefault(parts[0], parts[2])

doc = urllib.request.urlopen(f"{url}/openapi.json").read()
(work / "openapi.json").write_bytes(doc)
run = subprocess.run(
    [f"{venv}/bin/openapi-python-client", "generate", "--path", str(work / "openapi.json"),
     "--output-path", str(work / "client"), "--meta", "none"],
    capture_output=True, text=True,
)
output = run.stdout + run.stderr
warnings = [w for w in re.findall(r"WARNING parsing (\S+ \S+)", output) if w != "GET /assets/icon.svg"]
if run.returncode != 0 or warnings or "Unable to process schema" in output:
    print(output[-4000:])
    sys.exit(f"openapi-python-client could not model the document ({run.returncode}): {warnings}")

sys.path.insert(0, str(work))
models = importlib.import_module("client.models")
names = set(dir(models))
numbered = sorted(n for n in names if re.search(r"Type\d+$", n))
if numbered:
    sys.exit(f"numbered variants instead of named ones: {numbered[:10]}")
for wanted in ["NewEventDecisionMade", "NewEventHandoverSent", "EventContactReceived", "TrailEntryAccess",
               "Queue", "QueueItem", "AsOf", "AuditSample", "AuditTrail", "Timeliness", "Volumes", "Practice",
               "Contact", "ContactCreated", "EventsPage", "Problem"]:
    if wanted not in names:
        sys.exit(f"no model {wanted} in the generated client")

from client import AuthenticatedClient
from client.api.contacts import read_contact, read_contact_audit
from client.api.figures import as_of, audit_sample, metrics_practice, metrics_timeliness, metrics_volumes
from client.api.log import read_events
from client.api.queue import read_queue

def leftovers(obj, path="body"):
    """Fields the generated model did not know, anywhere inside it."""
    found = []
    extra = getattr(obj, "additional_properties", None)
    # Objects documented as maps (counts by channel, ...) keep their keys here by design.
    if extra and not type(obj).__name__.endswith(("ByChannel", "BySource", "ByWeekday", "Outcomes",
                                                      "ByConsent", "ByLevelOfNeed", "ByConcernCategory", "ByReferralSource",
                                                      "Policy", "Data")):
        found.append(f"{path}: {sorted(extra)}")
    if hasattr(obj, "__attrs_attrs__"):
        for a in obj.__attrs_attrs__:
            if a.name != "additional_properties":
                found += leftovers(getattr(obj, a.name), f"{path}.{a.name}")
    elif isinstance(obj, list):
        for i, item in enumerate(obj[:5]):
            found += leftovers(item, f"{path}[{i}]")
    return found

admin = AuthenticatedClient(base_url=url, token=tokens["admin"], raise_on_unexpected_status=True)
checked = []
def check(label, response, model):
    parsed = response.parsed
    if response.status_code != 200 or not isinstance(parsed, getattr(models, model)):
        sys.exit(f"{label}: status {response.status_code}, parsed as {type(parsed).__name__}, not {model}")
    extra = leftovers(parsed)
    if extra:
        sys.exit(f"{label}: fields the document does not describe: {extra[:5]}")
    checked.append(f"{label} → {model}")
    return parsed

queue = check("GET /v1/queue", read_queue.sync_detailed(client=admin), "Queue")
if not queue.items:
    sys.exit("the demo's queue is empty: nothing was checked")
contact_id = queue.items[0].contact_id
check("GET /v1/contacts/{id}", read_contact.sync_detailed(id=str(contact_id), client=admin), "Contact")
check("GET /v1/contacts/{id}/audit", read_contact_audit.sync_detailed(id=str(contact_id), client=admin), "AuditTrail")
check("GET /v1/events", read_events.sync_detailed(client=admin, limit=200), "EventsPage")
check("GET /v1/metrics/timeliness", metrics_timeliness.sync_detailed(client=admin), "Timeliness")
check("GET /v1/metrics/volumes", metrics_volumes.sync_detailed(client=admin), "Volumes")
check("GET /v1/metrics/practice", metrics_practice.sync_detailed(client=admin), "Practice")
check("GET /v1/audit/sample", audit_sample.sync_detailed(client=admin, seed=7, n=20), "AuditSample")
check("GET /v1/as-of", as_of.sync_detailed(client=admin, position=5000), "AsOf")
print("openapi-python-client: the generated client reads every typed response")
for line in checked:
    print("  ", line)
PY
