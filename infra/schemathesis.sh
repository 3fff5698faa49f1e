#!/usr/bin/env bash
# The API against its own description: schemathesis (property-based, `--checks all`) sends
# generated requests to a running `arkisto serve` with a token of each role and fails on any
# server error or any disagreement between src/api/openapi.json and the server.
# Usage: infra/schemathesis.sh [path/to/arkisto]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/arkisto}
command -v st >/dev/null 2>&1 || python3 -m pip install --quiet schemathesis
W=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$W"' EXIT
A=("$BIN" --data-dir "$W/data")
"${A[@]}" ingest fixtures/batches/valid-small >/dev/null
token() { "${A[@]}" --json token create --role "$1" --name "schemathesis $1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'; }
OPS=$(token operator); OFFICER=$(token records-officer); AUDITOR=$(token auditor)
ARKISTO__SERVE__LISTEN=127.0.0.1:0 ARKISTO__SERVE__FIXITY_SCHEDULE=off ARKISTO__SERVE__INGEST_SCHEDULE=off \
  "${A[@]}" serve >"$W/serve.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  ADDR=$(sed -n 's/.*api listening on http:\/\/\([^ ]*\).*/\1/p' "$W/serve.log" | head -1)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "${ADDR:-}" ] || { echo "schemathesis: serve did not start"; cat "$W/serve.log"; exit 1; }
status=0
for role in operator records-officer auditor; do
  case $role in operator) T=$OPS ;; records-officer) T=$OFFICER ;; auditor) T=$AUDITOR ;; esac
  echo "== schemathesis as $role"
  st run src/api/openapi.json --url "http://$ADDR" -H "Authorization: Bearer $T" --checks all \
    --max-examples "${ST_EXAMPLES:-40}" --seed "${ST_SEED:-1}" --no-color >"$W/st-$role.txt" 2>&1 || status=1
  grep -E "Test cases:|generated|failures|passed" "$W/st-$role.txt" | tail -3
  [ $status = 0 ] || { cat "$W/st-$role.txt"; break; }
done
if grep -q "internal" "$W/serve.log"; then echo "schemathesis: server errors in the log:"; grep internal "$W/serve.log"; status=1; fi
exit $status
