#!/usr/bin/env bash
# Ingest throughput into S3 (Garage 2.5 on loopback), side by side with restic's s3 backend
# into the same Garage.
#
#   benches/s3.sh [RECORDS] [RUNS]        (defaults: 20000 records, 3 runs)
#
# Starts a single-node Garage in the work dir (infra/garage/cluster.sh), generates
# `arkisto fixtures generate --records RECORDS --seed 1`, then for each run, in turn and with
# the same warm page cache: arkisto ingest into a fresh prefix of the bucket (and a fresh
# index), restic backup into a fresh repository in the same bucket. Prints median wall time,
# records/s, MB/s, peak RSS and the ratio. Needs: garage, restic, GNU time.
# Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
RUNS=${2:-3}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
export PATH="$HOME/.cargo/bin:$PATH"
for t in garage restic /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing $t (cargo install --locked garage --version 2.5.0; apt-get install restic time)" >&2; exit 1; }
done
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
if [ ! -f "$W/batch.complete-$N" ]; then
  rm -rf "$W/batch"
  "$BIN" fixtures generate --records "$N" --seed 1 --out "$W/batch" >/dev/null
  touch "$W/batch.complete-$N"
fi
BYTES=$(find "$W/batch" -type f -name '*.xml' -printf '%s\n' | awk '{s+=$1} END {print s}')
cat "$W"/batch/*.xml > /dev/null

PORT=${GARAGE_BASE:-$((30000 + RANDOM % 20000))}
rm -rf "$W/garage"
bash infra/garage/cluster.sh start "$W/garage" 1 "$PORT"
trap 'bash infra/garage/cluster.sh stop "$W/garage"' EXIT
set -a; . "$W/garage/env"; set +a
EP=$ARKISTO_TEST_GARAGE_ENDPOINT

measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$W/time.txt" "$@" > "$W/$name.out" 2> "$W/$name.err" || { echo "$name failed:" >&2; tail -20 "$W/$name.err" >&2; exit 1; }
  echo "$name $(cat "$W/time.txt")" >> "$W/results.txt"
}
rm -f "$W/results.txt"
export ARKISTO__STORE__KIND=s3 ARKISTO__STORE__ENDPOINT=$EP ARKISTO__STORE__REGION=garage ARKISTO__STORE__BUCKET=arkisto
export ARKISTO__STORE__ACCESS_KEY_ID=$ARKISTO_TEST_GARAGE_KEY_ID ARKISTO__STORE__SECRET_ACCESS_KEY=$ARKISTO_TEST_GARAGE_SECRET
export AWS_ACCESS_KEY_ID=$ARKISTO_TEST_GARAGE_KEY_ID AWS_SECRET_ACCESS_KEY=$ARKISTO_TEST_GARAGE_SECRET AWS_DEFAULT_REGION=garage
export RESTIC_PASSWORD=arkisto-bench
RO=(-o s3.region=garage -o s3.bucket-lookup=path)
for r in $(seq "$RUNS"); do
  rm -rf "$W/data"
  ARKISTO__STORE__PREFIX="run$r-$RANDOM/" measure arkisto "$BIN" --data-dir "$W/data" ingest "$W/batch"
  repo="s3:$EP/arkisto/restic-$r-$RANDOM"
  restic "${RO[@]}" init --repo "$repo" -q >/dev/null
  measure restic restic "${RO[@]}" -r "$repo" backup "$W/batch" -q
done
python3 - "$W/results.txt" "$N" "$BYTES" "$(nproc)" <<'PY'
import sys, statistics
path, n, nbytes, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
runs = {}
for line in open(path):
    name, sec, rss, usr, sys_ = line.split()
    runs.setdefault(name, []).append((float(sec), int(rss), float(usr) + float(sys_)))
med = {k: (statistics.median(s for s, _, _ in v), max(r for _, r, _ in v), statistics.median(c for _, _, c in v), [s for s, _, _ in v]) for k, v in runs.items()}
print(f"S3 (Garage 2.5, 1 node, loopback): {n} records, {nbytes/1e6:.1f} MB, {cpus} CPUs, median of {len(runs['arkisto'])} runs")
print(f"{'tool':<10} {'median s':>9} {'CPU s':>7} {'records/s':>10} {'MB/s':>8} {'peak RSS MiB':>13} {'vs restic':>10}   runs")
rs = med['restic'][0]
for k in ['arkisto', 'restic']:
    s, rss, cpu, all_ = med[k]
    print(f"{k:<10} {s:>9.2f} {cpu:>7.2f} {n/s:>10.0f} {nbytes/1e6/s:>8.1f} {rss/1024:>13.1f} {rs/s:>9.2f}x   {' '.join(f'{x:.2f}' for x in all_)}")
PY
