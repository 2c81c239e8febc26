#!/usr/bin/env bash
# The statutory returns judged by the tools councils' data teams already run: the demo's Ofsted
# Annex A workbook through Social Finance's liiatools (`annex-a cleanfile`), and its CIN census
# referral XML through the DfE's rules (csc-validator-be-cin, `python -m cin_validator run`,
# the newest ruleset the pinned validator has). Both from PyPI, pinned, each in its own
# virtualenv under target/.
#
# Fails when liiatools blanks a cell for a value frontdoor holds (except codes missing from the
# tool's own code map, listed below with its version), when it does not recognise a sheet, or
# when the validator reports an error on a rule the front door's data owns. The rules that
# need data the front door does not own (assessments, plans, closure; docs/FIGURES.md) are
# reported, not failed. Both tools' output is kept under target/returns-check/.
#
#   ops/returns-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."

LIIATOOLS=0.2.0
CIN_VALIDATOR=0.1.13
RULESET=cin2026_27
TARGET=${CARGO_TARGET_DIR:-target}
OUT=$TARGET/returns-check
LIIA_VENV=$TARGET/liiatools-venv
CIN_VENV=$TARGET/cin-validator-venv
SERVER=${FRONTDOOR_BIN:-$TARGET/debug/frontdoor}
REPLAY=${FRONTDOOR_REPLAY_BIN:-$TARGET/debug/frontdoor-replay}

venv() {
  if ! python3 -m venv "$1" 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$1"
  fi
}

# liiatools pins cchardet 2.1.7, which does not build on Python 3.11 or later: install its
# other dependencies as it pins them, faust-cchardet (the maintained fork, same `cchardet`
# module) in its place, then liiatools itself without dependencies. pandas 1.x needs numpy 1.
if ! "$LIIA_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('liiatools') != '$LIIATOOLS')" 2>/dev/null; then
  rm -rf "$LIIA_VENV"
  venv "$LIIA_VENV"
  "$LIIA_VENV/bin/pip" install -q "PyYAML>=6,<7" "XlsxWriter>=3.0.3,<4" "faust-cchardet==2.1.19" "click>=8.1.2,<9" \
    "click-log>=0.4,<0.5" "dacite>=1.6,<2" "lxml>=4.9.1,<5" "more-itertools>=8.12,<9" "openpyxl>=3.0.9,<4" \
    "pandas>=1.4.2,<2" "numpy<2" "python-decouple>=3.8,<4" "regex>=2022.4.24,<2023" "sfdata-stream-parser==0.4.1" \
    "tablib[cli,xlsx]>=3.2,<4" "xlrd>=2.0.1,<3" "xmlschema>=1.10,<2"
  "$LIIA_VENV/bin/pip" install -q --no-deps "liiatools==$LIIATOOLS"
fi
# csc-validator-be-cin pins pandas 1.x but lets pip take numpy 2 (which pandas 1.x cannot
# load), and imports pytest at start without declaring it.
if ! "$CIN_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('csc-validator-be-cin') != '$CIN_VALIDATOR')" 2>/dev/null; then
  rm -rf "$CIN_VENV"
  venv "$CIN_VENV"
  "$CIN_VENV/bin/pip" install -q "csc-validator-be-cin==$CIN_VALIDATOR" "numpy<2" "pytest>=7,<9"
fi
[[ -x "$SERVER" && -x "$REPLAY" ]] || cargo build --locked --bin frontdoor --bin frontdoor-replay

rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The demo's data: start the demo on a fresh data directory, wait until it is ready (its data
# is written before it listens), stop it, then read the stopped directory.
exec 3< <(FRONTDOOR_LOG=error "$SERVER" serve --demo --listen 127.0.0.1:0 --data-dir "$WORK/data" 2>"$WORK/server.log")
PID=$!
read -r -t 120 FIRST <&3 || true
URL=${FIRST#frontdoor listening on }
[[ "$URL" == http://127.0.0.1:* ]] || { cat "$WORK/server.log" >&2; echo "server did not start: $FIRST" >&2; exit 1; }
cat <&3 >/dev/null &
for _ in $(seq 600); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

TODAY=$(date -u +%F)
FROM=$(date -u -d "$TODAY - 6 months" +%F)
# The census year holding today: 1 April to 31 March.
YEAR=$(date -u +%Y); [[ $(date -u +%m) < 04 ]] && YEAR=$((YEAR - 1))
CENSUS_YEAR=$YEAR-$(printf '%02d' $(((YEAR + 1) % 100)))
"$REPLAY" annex-a --data-dir "$WORK/data" --from "$FROM" --to "$TODAY" --out "$OUT/annex-a.xlsx"
"$REPLAY" cin-census --data-dir "$WORK/data" --year "$CENSUS_YEAR" --out "$OUT/cin-census.xml"

# liiatools wants a three-letter LA code of its own list; the code only names its log files.
mkdir -p "$OUT/liiatools" "$OUT/liiatools-log"
# liiatools 0.2.0 knows the sex column by its earlier name, "Gender": it reads a copy so named.
"$LIIA_VENV/bin/python" - "$OUT/annex-a.xlsx" "$OUT/liiatools-input.xlsx" <<'PY'
import sys, openpyxl
book = openpyxl.load_workbook(sys.argv[1])
for sheet in book.worksheets:
    for cell in sheet[1]:
        if cell.value == "Sex":
            cell.value = "Gender"
book.save(sys.argv[2])
PY
"$LIIA_VENV/bin/python" -m liiatools annex-a cleanfile --i "$OUT/liiatools-input.xlsx" --la_code bar \
  --la_log_dir "$OUT/liiatools-log" --o "$OUT/liiatools" >"$OUT/liiatools.out" 2>&1 \
  || { cat "$OUT/liiatools.out" >&2; echo "liiatools failed" >&2; exit 1; }

CIN_PYTHON=$(cd "$CIN_VENV/bin" && pwd)/python
(cd "$OUT" && "$CIN_PYTHON" -m cin_validator run cin-census.xml -r "$RULESET" --output) \
  >"$OUT/cin-validator.out" 2>&1 || { cat "$OUT/cin-validator.out" >&2; echo "cin_validator failed" >&2; exit 1; }

"$LIIA_VENV/bin/python" - "$OUT" "$LIIATOOLS" "$CIN_VALIDATOR" "$RULESET" <<'PY'
import pathlib, sys, openpyxl

out, liia_version, cin_version, ruleset = pathlib.Path(sys.argv[1]), *sys.argv[2:]
failures = []

# Annex A: every value frontdoor wrote must survive liiatools' cleaning, except codes its
# own map does not have.
NOT_IN_MAP = {("Contact Source", "5D"), ("Referral Source", "5D")}  # liiatools' data-map.yml has no 5D row
ours = openpyxl.load_workbook(out / "annex-a.xlsx")
cleaned_files = list((out / "liiatools").glob("*.xlsx"))
if len(cleaned_files) != 1:
    sys.exit(f"liiatools wrote {len(cleaned_files)} workbooks, not one: {(out / 'liiatools.out').read_text()[-2000:]}")
cleaned = openpyxl.load_workbook(cleaned_files[0])
unmapped = {}
checked = 0
for name in ["List 1", "List 3"]:
    mine, theirs = ours[name], None
    header = [c.value for c in mine[1]]
    for sheet in cleaned.worksheets:
        if sheet.title == name:
            theirs = sheet
    if theirs is None:
        failures.append(f"liiatools did not recognise {name} (sheets: {cleaned.sheetnames})")
        continue
    their_header = [c.value for c in theirs[1]]
    mine_rows = [[c.value for c in row] for row in mine.iter_rows(min_row=2)]
    their_rows = [[c.value for c in row] for row in theirs.iter_rows(min_row=2)]
    if len(mine_rows) != len(their_rows):
        failures.append(f"{name}: {len(mine_rows)} rows written, {len(their_rows)} after cleaning")
    for r, (a, b) in enumerate(zip(mine_rows, their_rows), start=2):
        for c, value in enumerate(a):
            column = header[c] if header[c] != "Sex" else "Gender"
            if value in (None, ""):
                continue
            checked += 1
            lower = [str(h).lower() for h in their_header]
            j = lower.index(column.lower()) if column.lower() in lower else None
            after = b[j] if j is not None and j < len(b) else None
            if after in (None, ""):
                if (column, value) in NOT_IN_MAP:
                    unmapped[(name, column, value)] = unmapped.get((name, column, value), 0) + 1
                else:
                    failures.append(f"{name} row {r}: liiatools blanked {column} {value!r}")
print(f"liiatools {liia_version} annex-a cleanfile: {checked} cells frontdoor filled, "
      f"{sum(unmapped.values())} blanked for codes missing from its code map:")
for (name, column, value), n in sorted(unmapped.items()):
    print(f"   {name} {column} {value}: {n}")

# CIN census: errors on rules the front door's data owns fail; the others are listed. Rules
# whose data the front door does not own (docs/FIGURES.md): assessments, CIN plans, section 47
# enquiries, child protection plans, disabilities, and the closure of referrals that went on to
# the Assessment Team (a child referred again while a referral is open has two open episodes
# until the case management system closes one: 8815, 8816, 8820).
NOT_OURS = {
    # Assessments
    "1103", "8608", "8614", "8670Q", "8696", "8736", "8863Q", "8867", "8869", "8873Q", "8896", "8897Q",
    "8898", "8945Q", "8950Q",
    # CIN plans
    "4000", "4001", "4003", "4004", "4008", "4009Q", "4010", "4011", "4012Q", "4013", "4014", "4015",
    "4016", "4017",
    # Section 47 enquiries and initial child protection conferences
    "1104", "2883", "2884", "2885", "2889", "2990", "2991Q", "8615", "8675Q", "8715", "8740", "8839",
    "8868", "8870Q", "8875", "8890",
    # Child protection plans and reviews
    "1105", "8720", "8730", "8832", "8840", "8841", "8842Q", "8905", "8910", "8915", "8920", "8925",
    "8930", "8935", "8940",
    # Disabilities, date of death
    "2887Q", "2888Q", "8540", "8790", "8794", "8535Q", "8545Q", "8555Q", "8585Q",
    # Closure of referrals that went on to the Assessment Team
    "8815", "8816", "8820",
}
# Queries ("please check") on the front door's data a person answers rather than the data
# being wrong: 8530Q asks about babies due outside March-December of the census year's end,
# which a contact about an unborn baby due in January or February legitimately is.
QUERIES_ANSWERED = {"8530Q"}
import csv, collections
report = out / "user_report.csv"
if not report.exists():
    sys.exit(f"cin_validator wrote no user_report.csv: {(out / 'cin-validator.out').read_text()[-2000:]}")
with open(report, newline="") as f:
    codes = collections.Counter((row["rule_code"], row["rule_description"]) for row in csv.DictReader(f))
print(f"csc-validator-be-cin {cin_version}, ruleset {ruleset}: {sum(codes.values())} issues")
for (code, description), n in sorted(codes.items()):
    owner = ("not the front door's data" if code in NOT_OURS
             else "a query a person answers" if code in QUERIES_ANSWERED else "THE FRONT DOOR'S DATA")
    print(f"   rule {code} x{n} ({owner}): {description[:100]}")
    if code not in NOT_OURS and code not in QUERIES_ANSWERED:
        failures.append(f"CIN census rule {code} ({description}) failed {n} times")

if failures:
    print("\n".join(failures[:50]), file=sys.stderr)
    sys.exit(f"returns-check: {len(failures)} failures")
print("returns-check: both tools accept the demo's returns")
PY
