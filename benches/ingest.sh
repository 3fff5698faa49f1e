#!/usr/bin/env bash
# Ingest throughput on both index backends, side by side with restic and the floor tools.
#
#   benches/ingest.sh [RECORDS] [RUNS]        (defaults: 20000 records, 3 runs)
#
# Generates `arkisto fixtures generate --records RECORDS --seed 1`, then for each run (in
# turn, same warm page cache) times: arkisto ingest into a fresh ./data dir with the embedded
# SQLite index; the same with a fresh PostgreSQL database as the index (PG_URL, default
# postgres://postgres@127.0.0.1:5432; skipped with PG_URL=none); restic backup into a fresh
# local repository on the same disk; sha256sum and zstd -3 over the same bytes.
# Prints the median wall time, CPU seconds (user+sys), records/s, MB/s, peak RSS and the
# ratio to restic. Needs: restic and GNU time (apt-get install restic time zstd).
# Set BENCH_DIR to keep the files; LEVEL to set pack.compression_level.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
RUNS=${2:-3}
W=${BENCH_DIR:-$(mktemp -d)}
PG=${PG_URL:-postgres://postgres@127.0.0.1:5432}
mkdir -p "$W"
for t in restic /usr/bin/time zstd sha256sum; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install restic time zstd)" >&2; exit 1; }
done
if [ "$PG" != none ]; then command -v psql >/dev/null || { echo "missing psql (or PG_URL=none)" >&2; exit 1; }; fi
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
if [ ! -f "$W/batch.complete-$N" ]; then
  rm -rf "$W/batch"
  "$BIN" fixtures generate --records "$N" --seed 1 --out "$W/batch" >/dev/null
  touch "$W/batch.complete-$N"
fi
BYTES=$(find "$W/batch" -type f -name '*.xml' -printf '%s\n' | awk '{s+=$1} END {print s}')
cat "$W"/batch/*.xml > /dev/null   # warm the page cache for every contender alike
[ -n "${LEVEL:-}" ] && export ARKISTO__PACK__COMPRESSION_LEVEL=$LEVEL

# measure NAME CMD... : append "name wall_s maxrss_kb user_s sys_s" to results
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$W/time.txt" "$@" > "$W/$name.out" 2> "$W/$name.err" || { echo "$name failed:" >&2; tail -20 "$W/$name.err" >&2; exit 1; }
  echo "$name $(cat "$W/time.txt")" >> "$W/results.txt"
}
rm -f "$W/results.txt"
export RESTIC_PASSWORD=arkisto-bench
for r in $(seq "$RUNS"); do
  rm -rf "$W/data"; measure arkisto-sqlite "$BIN" --data-dir "$W/data" ingest "$W/batch"
  if [ "$PG" != none ]; then
    db=arkisto_bench_ingest
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    rm -rf "$W/data-pg"
    ARKISTO__INDEX__KIND=postgres ARKISTO__INDEX__URL="$PG/$db" measure arkisto-postgres "$BIN" --data-dir "$W/data-pg" ingest "$W/batch"
  fi
  rm -rf "$W/restic"; restic init --repo "$W/restic" -q >/dev/null
  measure restic restic -r "$W/restic" backup "$W/batch" -q
  measure sha256sum sh -c "cat '$W'/batch/*.xml | sha256sum"
  measure zstd-3 sh -c "cat '$W'/batch/*.xml | zstd -3 -q -c > /dev/null"
done
[ "$PG" != none ] && psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS arkisto_bench_ingest" >/dev/null
STORED_ARKISTO=$(find "$W/data/store" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}")
STORED_RESTIC=$(find "$W/restic" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}")
python3 - "$W/results.txt" "$N" "$BYTES" "$STORED_ARKISTO" "$STORED_RESTIC" "$(nproc)" <<'PY'
import sys, statistics
path, n, nbytes, s_ark, s_res, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
runs = {}
for line in open(path):
    name, sec, rss, usr, sys_ = line.split()
    runs.setdefault(name, []).append((float(sec), int(rss), float(usr) + float(sys_)))
med = {k: (statistics.median(s for s, _, _ in v), max(r for _, r, _ in v), statistics.median(c for _, _, c in v), [s for s, _, _ in v]) for k, v in runs.items()}
print(f"{n} records, {nbytes/1e6:.1f} MB, {cpus} CPUs, median of {len(runs['restic'])} runs")
print(f"{'tool':<17} {'median s':>9} {'CPU s':>7} {'records/s':>10} {'MB/s':>8} {'peak RSS MiB':>13} {'vs restic':>10}   runs")
rs = med['restic'][0]
for k in ['arkisto-sqlite', 'arkisto-postgres', 'restic', 'sha256sum', 'zstd-3']:
    if k not in med: continue
    s, rss, cpu, all_ = med[k]
    print(f"{k:<17} {s:>9.2f} {cpu:>7.2f} {n/s:>10.0f} {nbytes/1e6/s:>8.1f} {rss/1024:>13.1f} {rs/s:>9.2f}x   {' '.join(f'{x:.2f}' for x in all_)}")
if 'arkisto-postgres' in med:
    print(f"postgres / sqlite time: {med['arkisto-postgres'][0] / med['arkisto-sqlite'][0]:.2f}x")
print(f"stored bytes: arkisto {s_ark/1e6:.1f} MB ({nbytes/s_ark:.2f}x), restic {s_res/1e6:.1f} MB ({nbytes/s_res:.2f}x); arkisto stores {s_res/s_ark:.2f}x less")
PY
