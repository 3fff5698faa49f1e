#!/usr/bin/env bash
# Audit throughput (issue 14): `arkisto-audit` over a whole store, side by side with the floor
# it is held to, `sha256sum` plus `zstd -d` over the same bytes (every pack hashed, then every
# pack decompressed, with its dictionary).
#
#   benches/audit.sh [RECORDS] [RUNS]      (defaults: 20000 generated records, 3 runs)
#
# Target: arkisto-audit's throughput >= 80% of the floor's (floor seconds / audit seconds).
# Needs GNU time and zstd. Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
RUNS=${2:-3}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
cargo build --release --quiet -p arkisto -p arkisto-audit
BIN=$PWD/target/release/arkisto
AUDIT=$PWD/target/release/arkisto-audit

if [ ! -f "$W/gen.complete-$N" ]; then
  rm -rf "$W/gen"; "$BIN" fixtures generate --records "$N" --seed 1 --out "$W/gen" >/dev/null; touch "$W/gen.complete-$N"
fi
if [ ! -f "$W/data.complete-$N" ]; then
  rm -rf "$W/data"
  "$BIN" --data-dir "$W/data" key generate --name bench.example/arkisto >/dev/null
  "$BIN" --data-dir "$W/data" ingest "$W/gen" >/dev/null
  touch "$W/data.complete-$N"
fi
STORE=$W/data/store
KEY=$("$BIN" --data-dir "$W/data" key show)
PACKS=$(find "$STORE/packs" -type f | sort)
BYTES=$(find "$STORE/packs" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
DICTS=$(ls "$STORE/dicts")
[ "$(echo "$DICTS" | wc -l)" = 1 ] || { echo "expected one dictionary, found: $DICTS" >&2; exit 1; }
# The floor must decode what the audit decodes: check it once.
ORIG=$(echo "$PACKS" | xargs zstd -d -q -c -D "$STORE/dicts/$DICTS" | wc -c)

floor() {
  echo "$PACKS" | xargs sha256sum >/dev/null
  echo "$PACKS" | xargs zstd -d -q -c -D "$STORE/dicts/$DICTS" >/dev/null
}
export -f floor; export PACKS STORE DICTS
cat "$STORE"/packs/*/* >/dev/null   # warm the page cache
rm -f "$W/times.txt"
for _ in $(seq "$RUNS"); do
  /usr/bin/time -f "audit %e %U %S %M" -a -o "$W/times.txt" "$AUDIT" --store "$STORE" --key "$KEY" >/dev/null
  /usr/bin/time -f "floor %e %U %S %M" -a -o "$W/times.txt" bash -c floor
  /usr/bin/time -f "sha256sum %e %U %S %M" -a -o "$W/times.txt" bash -c 'echo "$PACKS" | xargs sha256sum >/dev/null'
  /usr/bin/time -f "zstd-d %e %U %S %M" -a -o "$W/times.txt" bash -c 'echo "$PACKS" | xargs zstd -d -q -c -D "$STORE/dicts/$DICTS" >/dev/null'
done
"$AUDIT" --store "$STORE" --key "$KEY" | tail -n 3

python3 - "$W/times.txt" "$BYTES" "$ORIG" "$N" "$RUNS" <<'PY'
import sys, statistics
path, stored, orig, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
t = {}
for line in open(path):
    name, e, u, s, m = line.split()
    t.setdefault(name, []).append((float(e), float(u) + float(s), int(m) / 1024))
print(f"{n} records; packs {stored/1e6:.1f} MB stored, {orig/1e6:.1f} MB decompressed; 2 CPUs, median of {runs}")
print(f"{'tool':<12}{'median s':>9}{'CPU s':>8}{'MB/s':>8}{'peak RSS MiB':>14}  runs")
for name in ["audit", "floor", "sha256sum", "zstd-d"]:
    rows = t[name]
    med = statistics.median(r[0] for r in rows)
    cpu = statistics.median(r[1] for r in rows)
    rss = max(r[2] for r in rows)
    print(f"{name:<12}{med:>9.2f}{cpu:>8.2f}{stored/1e6/med:>8.1f}{rss:>14.1f}  " + " ".join(f"{r[0]:.2f}" for r in rows))
a = statistics.median(r[0] for r in t["audit"]); f = statistics.median(r[0] for r in t["floor"])
print(f"audit throughput / floor throughput = {f/a:.2f} (target >= 0.80)")
PY
