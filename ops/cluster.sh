#!/usr/bin/env bash
# A three-node NATS JetStream cluster on loopback, to run a frontdoor primary and standby
# against by hand (README, "Beyond one machine"). Debian's nats-server (apt-get install
# nats-server). Each node keeps its JetStream files and its log under DIR/n1..n3.
#
#   ops/cluster.sh start [DIR] [BASE_PORT]   clients on BASE_PORT..+2 (default 4222), routes on +100..+102
#   ops/cluster.sh stop  [DIR]               stops the nodes this script started there
#   ops/cluster.sh kill  [DIR] N             kill -9 node N (1..3), to try a failure
#   ops/cluster.sh start-node [DIR] N [BASE_PORT]   starts node N again
set -euo pipefail

command -v nats-server >/dev/null || { echo "nats-server is missing: apt-get install -y nats-server" >&2; exit 1; }

cmd=${1:-start}
dir=${2:-${TMPDIR:-/tmp}/frontdoor-nats}

start_node() {
  local n=$1 base=$2
  local port=$((base + n - 1)) cport=$((base + 100 + n - 1))
  local routes="nats://127.0.0.1:$((base + 100)),nats://127.0.0.1:$((base + 101)),nats://127.0.0.1:$((base + 102))"
  mkdir -p "$dir/n$n"
  nats-server --server_name "n$n" -a 127.0.0.1 -p "$port" -js -sd "$dir/n$n" \
    --cluster_name frontdoor --cluster "nats://127.0.0.1:$cport" --routes "$routes" \
    >"$dir/n$n/server.log" 2>&1 &
  echo $! >"$dir/n$n/pid"
  echo "node n$n: nats://127.0.0.1:$port (log $dir/n$n/server.log)"
}

case "$cmd" in
  start)
    base=${3:-4222}
    mkdir -p "$dir"
    for n in 1 2 3; do start_node "$n" "$base"; done
    echo "urls = [\"nats://127.0.0.1:$base\", \"nats://127.0.0.1:$((base + 1))\", \"nats://127.0.0.1:$((base + 2))\"]"
    ;;
  start-node)
    start_node "${3:?node number}" "${4:-4222}"
    ;;
  kill)
    kill -9 "$(cat "$dir/n${3:?node number}/pid")"
    ;;
  stop)
    for n in 1 2 3; do
      [ -f "$dir/n$n/pid" ] && kill "$(cat "$dir/n$n/pid")" 2>/dev/null || true
    done
    ;;
  *)
    echo "usage: $0 start|stop|kill|start-node [DIR] [N] [BASE_PORT]" >&2
    exit 2
    ;;
esac
