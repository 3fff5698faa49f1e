#!/usr/bin/env bash
# Storage efficiency of per-source dictionaries (issue 7), side by side with restic.
#
#   benches/dict.sh [RECORDS] [RUNS]      (defaults: 20000 generated records, 3 runs)
#
# 1. Real documents: every complete, well-formed document of ../shared/data/cda (per its
#    MANIFEST.tsv), one source per origin (Kanta, HL7). Stored bytes of arkisto's whole store
#    (packs with metadata, dictionaries, ledger) vs restic repositories (default compression
#    and --compression max) holding the same files.
# 2. Generated: `fixtures generate --records RECORDS --seed 1`; ingest throughput (median of
#    RUNS) and stored bytes with and without dictionaries, and restic's stored bytes.
# Needs restic and GNU time. Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
RUNS=${2:-3}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
export RESTIC_PASSWORD=arkisto-bench
. benches/common.sh

# The real documents, copied by origin.
real_documents "$W/real"
REAL_BYTES=$(size "$W/real")
REAL_FILES=$(find "$W/real" -type f | wc -l)

restic_size() { # DIR COMPRESSION -> bytes of a fresh repository holding DIR
  rm -rf "$W/rr"; restic init --repo "$W/rr" -q >/dev/null
  restic -r "$W/rr" backup "$1" -q --compression "$2" >/dev/null
  size "$W/rr"
}

rm -rf "$W/real-data"
"$BIN" --data-dir "$W/real-data" ingest "$W/real/kanta" --source kanta >/dev/null
"$BIN" --data-dir "$W/real-data" ingest "$W/real/hl7" --source hl7 >/dev/null
ARK_REAL=$(size "$W/real-data/store")
rm -rf "$W/real-nodict"
ARKISTO__DICT__ENABLED=false "$BIN" --data-dir "$W/real-nodict" ingest "$W/real/kanta" --source kanta >/dev/null
ARKISTO__DICT__ENABLED=false "$BIN" --data-dir "$W/real-nodict" ingest "$W/real/hl7" --source hl7 >/dev/null
ARK_REAL_ND=$(size "$W/real-nodict/store")
RES_REAL=$(restic_size "$W/real" auto)
RES_REAL_MAX=$(restic_size "$W/real" max)

if [ ! -f "$W/gen.complete-$N" ]; then
  rm -rf "$W/gen"; "$BIN" fixtures generate --records "$N" --seed 1 --out "$W/gen" >/dev/null; touch "$W/gen.complete-$N"
fi
GEN_BYTES=$(find "$W/gen" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
cat "$W"/gen/* > /dev/null
rm -f "$W/times.txt"
for r in $(seq "$RUNS"); do
  for mode in dict nodict; do
    rm -rf "$W/gen-$mode"
    flag=true; [ "$mode" = nodict ] && flag=false
    ARKISTO__DICT__ENABLED=$flag /usr/bin/time -f "$mode %e %M" -a -o "$W/times.txt" "$BIN" --data-dir "$W/gen-$mode" ingest "$W/gen" >/dev/null
  done
done
ARK_GEN=$(size "$W/gen-dict/store")
ARK_GEN_ND=$(size "$W/gen-nodict/store")
RES_GEN=$(restic_size "$W/gen" auto)
RES_GEN_MAX=$(restic_size "$W/gen" max)

python3 - "$W/times.txt" <<PY
import sys, statistics
t = {}
for line in open(sys.argv[1]):
    m, s, rss = line.split(); t.setdefault(m, []).append(float(s))
def row(name, stored, orig, res):
    print(f"  {name:<28} {stored/1e6:>9.2f} MB  ratio {orig/stored:>6.2f}x   restic/arkisto {res/stored:>5.2f}")
print("Real documents: $REAL_FILES complete well-formed CDA files, {:.2f} MB".format($REAL_BYTES/1e6))
row("arkisto, dictionaries", $ARK_REAL, $REAL_BYTES, $RES_REAL)
row("arkisto, no dictionaries", $ARK_REAL_ND, $REAL_BYTES, $RES_REAL)
row("restic (default)", $RES_REAL, $REAL_BYTES, $RES_REAL)
row("restic --compression max", $RES_REAL_MAX, $REAL_BYTES, $RES_REAL)
print(f"  target: restic default stores >= 2.5x arkisto's bytes -> {($RES_REAL)/($ARK_REAL):.2f}x")
print()
print("Generated: $N records, {:.1f} MB".format($GEN_BYTES/1e6))
row("arkisto, dictionaries", $ARK_GEN, $GEN_BYTES, $RES_GEN)
row("arkisto, no dictionaries", $ARK_GEN_ND, $GEN_BYTES, $RES_GEN)
row("restic (default)", $RES_GEN, $GEN_BYTES, $RES_GEN)
row("restic --compression max", $RES_GEN_MAX, $GEN_BYTES, $RES_GEN)
d, nd = statistics.median(t['dict']), statistics.median(t['nodict'])
print(f"  ingest median of {len(t['dict'])}: with dictionaries {d:.2f} s ({$N/d:.0f} records/s), without {nd:.2f} s ({$N/nd:.0f} records/s); lost to the dictionary: {(d-nd)/nd*100:+.1f}%")
print(f"  runs: dict {t['dict']} nodict {t['nodict']}")
PY
