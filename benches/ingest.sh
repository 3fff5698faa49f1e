#!/usr/bin/env bash
# Ingest throughput on the embedded default, side by side with restic and the floor tools.
#
#   benches/ingest.sh [RECORDS] [RUNS]        (defaults: 20000 records, 3 runs)
#
# Generates `arkisto fixtures generate --records RECORDS --seed 1`, then for each run (in
# turn, same warm page cache) times: arkisto ingest into a fresh ./data dir; restic backup
# into a fresh local repository on the same disk; sha256sum and zstd -3 over the same bytes.
# Prints the median wall time, records/s, MB/s, peak RSS and the ratio to restic.
# Needs: restic and GNU time (apt-get install restic time). Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
RUNS=${2:-3}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
for t in restic /usr/bin/time zstd sha256sum; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install restic time zstd)" >&2; exit 1; }
done
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
if [ ! -f "$W/batch.complete-$N" ]; then
  rm -rf "$W/batch"
  "$BIN" fixtures generate --records "$N" --seed 1 --out "$W/batch" >/dev/null
  touch "$W/batch.complete-$N"
fi
BYTES=$(find "$W/batch" -type f -name '*.xml' -printf '%s\n' | awk '{s+=$1} END {print s}')
cat "$W"/batch/*.xml > /dev/null   # warm the page cache for every contender alike

# measure NAME CMD... : append "name seconds maxrss_kb" to results
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/time.txt" "$@" > "$W/$name.out" 2> "$W/$name.err" || { echo "$name failed:" >&2; cat "$W/$name.err" >&2; exit 1; }
  echo "$name $(cat "$W/time.txt")" >> "$W/results.txt"
}
rm -f "$W/results.txt"
export RESTIC_PASSWORD=arkisto-bench
for r in $(seq "$RUNS"); do
  rm -rf "$W/data"; measure arkisto "$BIN" --data-dir "$W/data" ingest "$W/batch"
  rm -rf "$W/restic"; restic init --repo "$W/restic" -q >/dev/null
  measure restic restic -r "$W/restic" backup "$W/batch" -q
  measure sha256sum sh -c "cat '$W'/batch/*.xml | sha256sum"
  measure zstd-3 sh -c "cat '$W'/batch/*.xml | zstd -3 -q -c > /dev/null"
done
STORED_ARKISTO=$(find "$W/data/store" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}")
STORED_RESTIC=$(find "$W/restic" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}")
python3 - "$W/results.txt" "$N" "$BYTES" "$STORED_ARKISTO" "$STORED_RESTIC" "$(nproc)" <<'PY'
import sys, statistics
path, n, nbytes, s_ark, s_res, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
runs = {}
for line in open(path):
    name, sec, rss = line.split()
    runs.setdefault(name, []).append((float(sec), int(rss)))
med = {k: (statistics.median(s for s, _ in v), max(r for _, r in v), [s for s, _ in v]) for k, v in runs.items()}
print(f"{n} records, {nbytes/1e6:.1f} MB, {cpus} CPUs, median of {len(runs['arkisto'])} runs")
print(f"{'tool':<10} {'median s':>9} {'records/s':>10} {'MB/s':>8} {'peak RSS MiB':>13} {'vs restic':>10}   runs")
rs = med['restic'][0]
for k in ['arkisto', 'restic', 'sha256sum', 'zstd-3']:
    s, rss, all_ = med[k]
    print(f"{k:<10} {s:>9.2f} {n/s:>10.0f} {nbytes/1e6/s:>8.1f} {rss/1024:>13.1f} {rs/s:>9.2f}x   {' '.join(f'{x:.2f}' for x in all_)}")
print(f"stored bytes: arkisto {s_ark/1e6:.1f} MB ({nbytes/s_ark:.2f}x), restic {s_res/1e6:.1f} MB ({nbytes/s_res:.2f}x)")
PY
