#!/usr/bin/env bash
# Stored bytes per zstd level (pack.compression_level) against ingest time, side by side with
# restic, on the real documents and on a generated batch (issue 16).
#
#   benches/levels.sh [RECORDS] [LEVELS]     (defaults: 2000 generated records; "3 9 15 19")
#
# Real documents: every complete, well-formed document of ../shared/data/cda (per its
# MANIFEST.tsv), one source per origin, as in dict.sh. Stored bytes are the whole store
# (packs with their metadata, dictionaries, ledger) and restic's whole repository.
# Needs restic and GNU time. Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
LEVELS=${2:-"3 9 15 19"}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
export RESTIC_PASSWORD=arkisto-bench
. benches/common.sh
real_documents "$W/real"
if [ ! -f "$W/gen.complete-$N" ]; then
  rm -rf "$W/gen"; "$BIN" fixtures generate --records "$N" --seed 1 --out "$W/gen" >/dev/null; touch "$W/gen.complete-$N"
fi
for set in real gen; do
  orig=$(size "$W/$set")
  echo "$set: $(find "$W/$set" -type f | wc -l) files, $(awk "BEGIN {printf \"%.2f\", $orig/1e6}") MB"
  for c in auto max; do
    rm -rf "$W/rr"; restic init --repo "$W/rr" -q >/dev/null
    /usr/bin/time -f "%e" -o "$W/t" restic -r "$W/rr" backup "$W/$set" -q --compression "$c" >/dev/null
    r=$(size "$W/rr"); [ "$c" = auto ] && r_auto=$r
    printf "  %-22s %9.2f MB  ratio %6.2fx  %7.2f s\n" "restic --compression $c" "$(awk "BEGIN {print $r/1e6}")" "$(awk "BEGIN {print $orig/$r}")" "$(cat "$W/t")"
  done
  for l in $LEVELS; do
    rm -rf "$W/d"
    if [ "$set" = real ]; then
      start=$(date +%s.%N)
      for src in kanta hl7; do ARKISTO__PACK__COMPRESSION_LEVEL=$l "$BIN" --data-dir "$W/d" ingest "$W/real/$src" --source "$src" >/dev/null; done
      t=$(awk "BEGIN {print $(date +%s.%N) - $start}")
    else
      /usr/bin/time -f "%e" -o "$W/t" env ARKISTO__PACK__COMPRESSION_LEVEL=$l "$BIN" --data-dir "$W/d" ingest "$W/gen" >/dev/null
      t=$(cat "$W/t")
    fi
    a=$(size "$W/d/store")
    printf "  %-22s %9.2f MB  ratio %6.2fx  %7.2f s  restic(auto)/arkisto %.2f\n" "arkisto level $l" "$(awk "BEGIN {print $a/1e6}")" "$(awk "BEGIN {print $orig/$a}")" "$t" "$(awk "BEGIN {print $r_auto/$a}")"
  done
done
