#!/usr/bin/env bash
# Every benchmark in one go: installs PostgreSQL from Debian's packages if its server is
# missing, starts a temporary cluster on loopback, runs `frontdoor-bench append`, `rebuild`,
# `sse`, `reads` and `children` in turn against it, then `summary` (the log's speed and memory
# table from their figures), and stops and removes the cluster on exit. Any failure
# stops the run with a non-zero exit. Extra arguments go to every subcommand (flags all of
# them take, e.g. `--quick`, `--runs 5`, `--quiet-wait-s 300`). See ops/bench/README.md.
#
#   ops/bench/run.sh            # the official run: writes ops/bench/RESULTS.md and the CSVs
#   ops/bench/run.sh --quick    # smoke test: reports go to target/bench-tmp/quick/
#
# Environment: FRONTDOOR_BENCH_SUBCOMMANDS (default "append rebuild sse reads children replication summary") picks the
# subcommands; FRONTDOOR_BENCH_PG_PARENT (default <workspace>/target/bench-tmp, the disk the
# benchmarks measure) is where the cluster's temporary directory goes; CARGO_TARGET_DIR as cargo.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SUBCOMMANDS=${FRONTDOOR_BENCH_SUBCOMMANDS:-append rebuild sse reads children replication summary}
PG_PARENT=${FRONTDOOR_BENCH_PG_PARENT:-$ROOT/target/bench-tmp}

say() { printf 'run.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# --- PostgreSQL's server binaries, installed if missing ------------------------------------
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n $dir && -x $dir/initdb && -x $dir/postgres ]]; then echo "$dir"; fi
}
PG_BIN=$(pg_bin)
if [[ -z $PG_BIN ]]; then
  [[ $EUID -eq 0 ]] || die "PostgreSQL's server is not installed and this is not root: run 'apt-get install -y postgresql' (or run this as root)"
  say "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y postgresql
  PG_BIN=$(pg_bin)
  [[ -n $PG_BIN ]] || die "apt-get installed postgresql, but no /usr/lib/postgresql/*/bin/initdb"
fi
say "PostgreSQL server binaries: $PG_BIN"

# initdb and postgres refuse to run as root: as root, the cluster belongs to the postgres user.
if [[ $EUID -eq 0 ]]; then
  id postgres >/dev/null 2>&1 || die "no postgres user (Debian's postgresql package creates it)"
  AS=(runuser -u postgres --)
else
  AS=()
fi

# --- A temporary cluster on loopback ---------------------------------------------------------
mkdir -p "$PG_PARENT"
PG_TMP=$(mktemp -d "$PG_PARENT/postgres-XXXXXX")
PG_DATA=$PG_TMP/data
cleanup() {
  local status=$?
  if [[ -f $PG_DATA/postmaster.pid ]]; then
    say "stopping PostgreSQL"
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null || status=1
  fi
  rm -rf "$PG_TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_TMP"; fi
"${AS[@]}" test -w "$PG_TMP" || die "the postgres user cannot write to $PG_TMP (every directory above it must be searchable)"

# A free loopback port: the first from 55432 on that nothing answers.
PORT=
for candidate in $(seq 55432 55532); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then PORT=$candidate; break; fi
done
[[ -n $PORT ]] || die "no free port in 55432..55532"

say "creating a temporary cluster in $PG_DATA (port $PORT)"
"${AS[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
# What a council's DBA would set on a machine like this, durability untouched: commits are
# acknowledged only once their WAL is flushed (synchronous_commit, fsync, full_page_writes on,
# the defaults, written out so the report shows they were not changed); enough connections for
# 256 writers; shared_buffers a few hundred MB rather than the 128 MB default; checkpoints spread
# out (max_wal_size, checkpoint_timeout) as is usual for a write-heavy server.
cat >>"$PG_DATA/postgresql.conf" <<EOF

# ops/bench/run.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PG_TMP'
max_connections = 300
shared_buffers = 512MB
fsync = on
synchronous_commit = on
full_page_writes = on
max_wal_size = 4GB
checkpoint_timeout = 15min
EOF
"${AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" -w start >/dev/null \
  || { cat "$PG_TMP/server.log" >&2 || true; die "PostgreSQL did not start"; }
"${AS[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres frontdoor_bench
URL="postgresql://postgres@127.0.0.1:$PORT/frontdoor_bench"
export FRONTDOOR_BENCH_PG_URL=$URL
say "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') listening on 127.0.0.1:$PORT"

# --- NATS for `replication`, installed if missing ---------------------------------------------
if [[ " $SUBCOMMANDS " == *" replication "* ]] && ! command -v nats-server >/dev/null; then
  [[ $EUID -eq 0 ]] || die "nats-server is not installed and this is not root: run 'apt-get install -y nats-server'"
  say "installing nats-server from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server
fi

# --- The benchmarks ----------------------------------------------------------------------------
cd "$ROOT"
# Built apart, as `frontdoor-bench` itself builds the server (features unify per build).
cargo build --release -p frontdoor --bin frontdoor
cargo build --release -p frontdoor-bench
for sub in $SUBCOMMANDS; do
  say "frontdoor-bench $sub $*"
  case $sub in
    rebuild) cargo run --quiet --release -p frontdoor-bench -- rebuild --pg-url "$URL" "$@" ;;
    append) cargo run --quiet --release -p frontdoor-bench -- append --pg-url "$URL" "$@" ;;
    *) cargo run --quiet --release -p frontdoor-bench -- "$sub" "$@" ;;
  esac || die "frontdoor-bench $sub failed"
done
say "done"
