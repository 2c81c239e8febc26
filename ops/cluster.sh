#!/usr/bin/env bash
# A three-node NATS JetStream cluster on loopback, to run a frontdoor primary and standby
# against by hand (README, "Beyond one machine"). Debian's nats-server (apt-get install
# nats-server) and the openssl CLI. Each node keeps its JetStream files, its config and its
# log under DIR/n1..n3.
#
# As in production: TLS for clients and for the cluster's routes (a throwaway CA made here in
# DIR/tls, client certificates required), and users with permissions: `frontdoor` (the nodes)
# alone may use the full stream; `warehouse` (a downstream reader) may read the downstream
# stream only. Passwords are made at the first start, kept in DIR/passwords (mode 0600).
#
#   ops/cluster.sh start [DIR] [BASE_PORT]   clients on BASE_PORT..+2 (default 4222), routes on +100..+102
#   ops/cluster.sh stop  [DIR]               stops the nodes this script started there
#   ops/cluster.sh kill  [DIR] N             kill -9 node N (1..3), to try a failure
#   ops/cluster.sh start-node [DIR] N [BASE_PORT]   starts node N again
set -euo pipefail
umask 077

command -v nats-server >/dev/null || { echo "nats-server is missing: apt-get install -y nats-server" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install -y openssl" >&2; exit 1; }

cmd=${1:-start}
dir=${2:-${TMPDIR:-/tmp}/frontdoor-nats}
stream=FRONTDOOR
reader=warehouse

# A CA, a server certificate (for clients and routes) and a client certificate, once per DIR.
certificates() {
  local tls=$dir/tls
  [ -f "$tls/client.pem" ] && return
  mkdir -p "$tls"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 30 -subj "/CN=frontdoor cluster CA" 2>/dev/null
  for name in server client; do
    local usage=clientAuth
    [ "$name" = server ] && usage=serverAuth,clientAuth
    openssl req "${ec[@]}" -keyout "$tls/$name.key" -out "$tls/$name.csr" -subj "/CN=frontdoor $name" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=%s\n' "$usage" >"$tls/$name.ext"
    openssl x509 -req -in "$tls/$name.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
      -out "$tls/$name.pem" -days 30 -extfile "$tls/$name.ext" 2>/dev/null
  done
}

passwords() {
  if [ ! -f "$dir/passwords" ]; then
    printf 'FRONTDOOR_NATS_PASSWORD=%s\nWAREHOUSE_NATS_PASSWORD=%s\n' \
      "$(openssl rand -hex 16)" "$(openssl rand -hex 16)" >"$dir/passwords"
  fi
  # shellcheck disable=SC1091
  . "$dir/passwords"
}

start_node() {
  local n=$1 base=$2
  local port=$((base + n - 1)) cport=$((base + 100 + n - 1))
  local routes="\"nats://127.0.0.1:$((base + 100))\", \"nats://127.0.0.1:$((base + 101))\", \"nats://127.0.0.1:$((base + 102))\""
  local tls="tls { cert_file: \"$dir/tls/server.pem\", key_file: \"$dir/tls/server.key\", ca_file: \"$dir/tls/ca.pem\", verify: true, timeout: 5 }"
  mkdir -p "$dir/n$n"
  cat >"$dir/n$n/nats.conf" <<EOF
server_name: n$n
listen: "127.0.0.1:$port"
jetstream { store_dir: "$dir/n$n" }
$tls
cluster {
  name: frontdoor
  listen: "127.0.0.1:$cport"
  routes: [$routes]
  $tls
}
authorization {
  users: [
    { user: frontdoor, password: "$FRONTDOOR_NATS_PASSWORD", permissions: {
        publish: { allow: ["${stream,,}.>", "\$JS.API.>", "_FRONTDOOR_INBOX.>"] },
        subscribe: { allow: ["${stream,,}.>", "_FRONTDOOR_INBOX.>"] } } }
    { user: $reader, password: "$WAREHOUSE_NATS_PASSWORD", permissions: {
        publish: { allow: ["\$JS.API.STREAM.INFO.${stream}_DOWNSTREAM", "\$JS.API.STREAM.MSG.GET.${stream}_DOWNSTREAM"] },
        subscribe: { allow: ["_INBOX_$reader.>"] } } }
  ]
}
EOF
  nats-server -c "$dir/n$n/nats.conf" >"$dir/n$n/server.log" 2>&1 &
  echo $! >"$dir/n$n/pid"
  echo "node n$n: tls://127.0.0.1:$port (log $dir/n$n/server.log)"
}

case "$cmd" in
  start)
    base=${3:-4222}
    mkdir -p "$dir"
    certificates
    passwords
    for n in 1 2 3; do start_node "$n" "$base"; done
    echo "# [replication] lines for a frontdoor node (the warehouse's password is in $dir/passwords):"
    echo "urls = [\"tls://127.0.0.1:$base\", \"tls://127.0.0.1:$((base + 1))\", \"tls://127.0.0.1:$((base + 2))\"]"
    echo "user = \"frontdoor\""
    echo "password = \"$FRONTDOOR_NATS_PASSWORD\""
    echo "tls_ca_file = \"$dir/tls/ca.pem\""
    echo "tls_cert_file = \"$dir/tls/client.pem\""
    echo "tls_key_file = \"$dir/tls/client.key\""
    echo "downstream_users = [\"$reader\"]"
    ;;
  start-node)
    passwords
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
