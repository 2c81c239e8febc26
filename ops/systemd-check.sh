#!/usr/bin/env bash
# The systemd units checked as systemd would read them, offline (issue 15, "systemd").
#
#   1. `systemd-analyze verify` on ops/frontdoor.service, ops/frontdoor-backup.service and
#      ops/frontdoor-backup.timer, inside a scratch root (systemd's own units, the units, the
#      built binaries where the units name them): any message fails.
#   2. `systemd-sysusers --root` on ops/frontdoor.sysusers: it must make the user the units
#      run as, with no login shell.
#   3. `systemd-analyze security --offline=true` on both services: an exposure above 2.5
#      fails (`--threshold=25`: the tool counts in tenths).
#   4. The system-call filter against the real thing: the built `frontdoor serve` runs under
#      strace through appends, reads, the pages, both event streams, a revoked token and a
#      SIGTERM; every system call it made must be one ops/frontdoor.service's
#      SystemCallFilter= allows, and every socket family one RestrictAddressFamilies= allows.
#      (This machine has no systemd as PID 1 to start the unit itself.)
#
#   ops/systemd-check.sh
#
# systemd-analyze and systemd-sysusers come from Debian's `systemd` package, strace from
# `strace`; both installed when missing (CI runs as root). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=${CARGO_TARGET_DIR:-target}
BIN=${FRONTDOOR_BIN:-$TARGET/debug/frontdoor}
REPLAY=${FRONTDOOR_REPLAY_BIN:-$TARGET/debug/frontdoor-replay}
THRESHOLD=25
UNITS=(frontdoor.service frontdoor-backup.service frontdoor-backup.timer)

missing=()
command -v systemd-analyze >/dev/null && command -v systemd-sysusers >/dev/null || missing+=(systemd)
command -v strace >/dev/null || missing+=(strace)
command -v curl >/dev/null || missing+=(curl)
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[[ -x "$BIN" && -x "$REPLAY" ]] || cargo build --locked -p frontdoor -p replay --bins

WORK=$(mktemp -d)
STRACE_PID=
cleanup() {
  if [[ -n "$STRACE_PID" ]]; then kill "$STRACE_PID" 2>/dev/null || true; wait "$STRACE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. verify, in a scratch root.
ROOT=$WORK/root
mkdir -p "$ROOT/usr/lib/systemd" "$ROOT/etc/systemd/system" "$ROOT/usr/local/bin" "$ROOT/bin"
cp -a "$(dirname "$(readlink -f /lib/systemd/system/sysinit.target)")" "$ROOT/usr/lib/systemd/system"
for unit in "${UNITS[@]}"; do cp "ops/$unit" "$ROOT/etc/systemd/system/"; done
cp "$BIN" "$ROOT/usr/local/bin/frontdoor"
cp "$REPLAY" "$ROOT/usr/local/bin/frontdoor-replay"
cp -L /bin/sh "$ROOT/bin/sh"
set +e
VERIFY=$(systemd-analyze verify --man=no --root="$ROOT" "${UNITS[@]}" 2>&1)
STATUS=$?
set -e
if [[ $STATUS -ne 0 || -n "$VERIFY" ]]; then
  echo "systemd-analyze verify failed (exit $STATUS):" >&2
  echo "$VERIFY" >&2
  exit 1
fi
echo "systemd-analyze verify: ${UNITS[*]}: no messages"

# 2. sysusers makes the user the units name.
# Installed where the unit's comment says; sysusers reads every sysusers.d file in the root.
mkdir -p "$ROOT/usr/lib/sysusers.d"
cp ops/frontdoor.sysusers "$ROOT/usr/lib/sysusers.d/frontdoor.conf"
touch "$ROOT/etc/passwd" "$ROOT/etc/group"
systemd-sysusers --root="$ROOT" >"$WORK/sysusers.log" 2>&1 || { cat "$WORK/sysusers.log" >&2; exit 1; }
ENTRY=$(grep '^frontdoor:' "$ROOT/etc/passwd" || true)
grep -q '^frontdoor:' "$ROOT/etc/group" || { echo "ops/frontdoor.sysusers made no group frontdoor" >&2; exit 1; }
[[ "$ENTRY" == *:/var/lib/frontdoor:/usr/sbin/nologin ]] ||
  { echo "ops/frontdoor.sysusers: want user frontdoor, home /var/lib/frontdoor, no login; got: ${ENTRY:-nothing}" >&2; exit 1; }
for unit in frontdoor.service frontdoor-backup.service; do
  grep -qx 'User=frontdoor' "ops/$unit" || { echo "$unit does not run as the sysusers user" >&2; exit 1; }
done
echo "systemd-sysusers: $ENTRY"

# 3. exposure.
for unit in frontdoor.service frontdoor-backup.service; do
  set +e
  SCORE=$(systemd-analyze security --offline=true --threshold="$THRESHOLD" "ops/$unit" 2>&1)
  STATUS=$?
  set -e
  LINE=$(grep 'Overall exposure level' <<<"$SCORE" || true)
  if [[ $STATUS -ne 0 ]]; then
    echo "$SCORE" | grep '✗' >&2 || true
    echo "systemd-analyze security: $unit is above 2.5: ${LINE:-no score} (exit $STATUS)" >&2
    exit 1
  fi
  echo "systemd-analyze security: ${LINE#→ }"
done

# 4. every system call the service makes, against the unit's filter.
DATA=$WORK/data
mkdir -p "$DATA"
ADMIN=$("$BIN" token create --data-dir "$DATA" --role admin --actor ops-check --agency childrens_social_care)
PRACTITIONER=$("$BIN" token create --data-dir "$DATA" --role practitioner --actor sw-check --agency childrens_social_care)
FRONTDOOR_LOG=error strace -f -qq -o "$WORK/trace" -- "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" \
  >"$WORK/stdout" 2>"$WORK/stderr" &
STRACE_PID=$!
URL=
for _ in $(seq 300); do
  URL=$(sed -n 's/^frontdoor listening on //p' "$WORK/stdout" 2>/dev/null || true)
  [[ -n "$URL" ]] && break
  sleep 0.2
done
[[ "$URL" == http://127.0.0.1:* ]] || { echo "server did not start under strace:" >&2; cat "$WORK/stderr" >&2; exit 1; }
SERVER_PID=$(pgrep -P "$STRACE_PID")
for _ in $(seq 300); do curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null && break; sleep 0.1; done
BODY='{"channel":"phone","source":"2A","referrer":{"name":"Jo Teacher"},"children":[{"name":"Sam Example"}],"concerns":"Bruising.","consent":"given"}'
for _ in 1 2 3; do
  curl -fsS -o /dev/null -H "Authorization: Bearer $PRACTITIONER" -H 'Content-Type: application/json' -d "$BODY" "$URL/v1/contacts"
done
curl -fsS -o /dev/null -H "Authorization: Bearer $PRACTITIONER" "$URL/v1/queue"
curl -fsS -o /dev/null -H "Authorization: Bearer $ADMIN" "$URL/v1/events?limit=10"
curl -fsS -o /dev/null -H "Authorization: Bearer $ADMIN" "$URL/metrics"
curl -sS -o /dev/null "$URL/"
timeout 2 curl -sS -N -o /dev/null -H "Authorization: Bearer $PRACTITIONER" "$URL/v1/queue/stream" || true
timeout 2 curl -sS -N -o /dev/null -H "Authorization: Bearer $ADMIN" "$URL/v1/events/stream" || true
"$BIN" token revoke --data-dir "$DATA" "$(cut -d_ -f2 <<<"$ADMIN")" 2>/dev/null
curl -sS -o /dev/null -H "Authorization: Bearer $ADMIN" "$URL/v1/queue"
kill -TERM "$SERVER_PID"
wait "$STRACE_PID" || { echo "the server did not exit cleanly on SIGTERM:" >&2; cat "$WORK/stderr" >&2; exit 1; }
STRACE_PID=

python3 - "$WORK/trace" ops/frontdoor.service <<'PY'
import re, subprocess, sys

trace, unit = sys.argv[1], sys.argv[2]

def expand(group):
    """The system calls a filter group names, groups inside it expanded."""
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        calls |= expand(line) if line.startswith("@") else {line}
    return calls

allowed, denied, families = None, set(), None
for line in open(unit):
    line = line.strip()
    if line.startswith("SystemCallFilter="):
        value = line.split("=", 1)[1]
        names = value.lstrip("~").split()
        calls = set().union(*(expand(n) if n.startswith("@") else {n} for n in names))
        if value.startswith("~"):
            denied |= calls
        else:
            allowed = calls if allowed is None else allowed | calls
    elif line.startswith("RestrictAddressFamilies="):
        families = set(line.split("=", 1)[1].split())
if allowed is None or families is None:
    sys.exit(f"{unit}: no SystemCallFilter= allow list or no RestrictAddressFamilies=")
allowed -= denied

used, sockets = set(), set()
for line in open(trace):
    line = re.sub(r"^\d+\s+", "", line)
    m = re.match(r"<\.\.\. (\w+) resumed>", line) or re.match(r"(\w+)\(", line)
    if m:
        used.add(m.group(1))
    m = re.match(r"socket\((AF_\w+)", line)
    if m:
        sockets.add(m.group(1))
if len(used) < 20:
    sys.exit(f"strace saw only {len(used)} system calls: the trace is not the server's")
refused = sorted(used - allowed)
# socketpair() is not subject to RestrictAddressFamilies= (systemd.exec(5)).
bad_families = sorted(sockets - families)
print(f"system calls: the server made {len(used)} distinct calls; the unit's filter allows {len(allowed)}; "
      f"refused: {', '.join(refused) or 'none'}; socket families {', '.join(sorted(sockets))}"
      f" (allowed {', '.join(sorted(families))})")
if refused or bad_families:
    sys.exit(f"the unit would stop the service: system calls {refused}, socket families {bad_families}")
PY
