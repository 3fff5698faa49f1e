#!/usr/bin/env bash
# Start or stop a throwaway Garage cluster on loopback, for tests and benchmarks.
#
#   infra/garage/cluster.sh start DIR [NODES=1] [BASE_PORT=3900]
#   infra/garage/cluster.sh stop DIR
#   infra/garage/cluster.sh kill DIR NODE      # kill -9 one node (0-based)
#   infra/garage/cluster.sh restart DIR NODE   # start that node again
#
# `start` writes DIR/env (shell syntax) with ARKISTO_TEST_GARAGE_ENDPOINT, _REGION, _KEY_ID,
# _SECRET and _BUCKET (a bucket `arkisto`, and the key may create more buckets). Node i
# listens for S3 on BASE_PORT+10*i, RPC on +1, admin on +3. NODES >= 3 uses replication
# factor 3, one zone per node. Everything lives in DIR; `stop` kills the nodes.
set -euo pipefail

GARAGE=${GARAGE_BIN:-garage}
cmd=${1:?start|stop|kill|restart}
dir=${2:?DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# Fixed, test-only credentials (imported, so nothing has to be parsed from Garage's output).
KEY_ID=GK31c2f218a2e44f485b94239e
SECRET=b892c0665f0ada8a4755dae98baa3b133590e6df4ce8a57f2c66a5e2a2bc2c8d
RPC_SECRET=9cb8c1c3c4d2f1a6a7f3e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0

conf() { echo "$dir/node$1/garage.toml"; }

start_node() {
  local i=$1
  nohup "$GARAGE" -c "$(conf "$i")" server >"$dir/node$i/log" 2>&1 &
  echo $! >"$dir/node$i/pid"
}

case "$cmd" in
start)
  nodes=${3:-1}
  base=${4:-3900}
  rf=1; [ "$nodes" -ge 3 ] && rf=3
  for ((i = 0; i < nodes; i++)); do
    mkdir -p "$dir/node$i/meta" "$dir/node$i/data"
    p=$((base + 10 * i))
    cat >"$(conf "$i")" <<TOML
metadata_dir = "$dir/node$i/meta"
data_dir = "$dir/node$i/data"
db_engine = "sqlite"
replication_factor = $rf
rpc_bind_addr = "127.0.0.1:$((p + 1))"
rpc_public_addr = "127.0.0.1:$((p + 1))"
rpc_secret = "$RPC_SECRET"
metadata_fsync = true
data_fsync = true

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$p"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$((p + 3))"
admin_token = "arkisto-test-admin"
TOML
    start_node "$i"
  done
  g() { "$GARAGE" -c "$(conf 0)" "$@"; }
  # Wait for every node to answer, then connect them to node 0.
  ids=()
  for ((i = 0; i < nodes; i++)); do
    for _ in $(seq 1 100); do
      id=$("$GARAGE" -c "$(conf "$i")" node id -q 2>/dev/null || true)
      [ -n "$id" ] && break
      sleep 0.2
    done
    [ -n "$id" ] || { echo "garage node $i did not start; see $dir/node$i/log" >&2; exit 1; }
    ids+=("$id")
  done
  # On a loaded machine a node's RPC port can open seconds after its id is readable: retry
  # (up to 30 s) the idempotent steps, then run once more so that a real failure is shown.
  retry() { for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; "$@" >/dev/null; }
  retry g status
  for ((i = 1; i < nodes; i++)); do
    retry g node connect "${ids[$i]}"
  done
  for ((i = 0; i < nodes; i++)); do
    retry g layout assign -z "z$i" -c 1G "${ids[$i]%@*}"
  done
  g layout apply --version 1 >/dev/null
  g key import --yes -n arkisto-test "$KEY_ID" "$SECRET" >/dev/null
  g key allow --create-bucket "$KEY_ID" >/dev/null
  g bucket create arkisto >/dev/null
  g bucket allow --read --write --owner arkisto --key "$KEY_ID" >/dev/null
  cat >"$dir/env" <<ENV
ARKISTO_TEST_GARAGE_ENDPOINT=http://127.0.0.1:$base
ARKISTO_TEST_GARAGE_REGION=garage
ARKISTO_TEST_GARAGE_KEY_ID=$KEY_ID
ARKISTO_TEST_GARAGE_SECRET=$SECRET
ARKISTO_TEST_GARAGE_BUCKET=arkisto
ENV
  # Ready when an anonymous request gets an S3 answer (403) from every node.
  for ((i = 0; i < nodes; i++)); do
    for _ in $(seq 1 100); do
      code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 10 * i))/arkisto" || true)
      [ "$code" = 403 ] && break
      sleep 0.2
    done
  done
  ;;
stop)
  for p in "$dir"/node*/pid; do
    [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
  done
  ;;
kill)
  kill -9 "$(cat "$dir/node$3/pid")" 2>/dev/null || true
  ;;
restart)
  start_node "$3"
  ;;
*)
  echo "usage: $0 start|stop|kill|restart DIR ..." >&2; exit 2
  ;;
esac
