#!/usr/bin/env bash
# Run every fuzz target (or the ones named) for SECONDS each and print what happened.
# Usage: fuzz/run.sh SECONDS [target...]
# Seeds come from the project's fixtures and ../shared/data; crashes land in
# fuzz/artifacts/<target>/ (keep them: copy each into fuzz/regressions/<target>/ with a fix).
# cargo-fuzz wants nightly for its sanitizer flags; on the stable toolchain RUSTC_BOOTSTRAP=1
# lets the same compiler accept them (address sanitizer, coverage instrumentation).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz/run.sh SECONDS [target...]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cda_header vendor_xml csv_reader bagit_manifest pack_reader)
export PATH="$HOME/.cargo/bin:$PATH" RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

seed() {
  set +o pipefail   # `head` closing a pipe early is fine here
  local t=$1 d=fuzz/corpus/$1
  mkdir -p "$d"
  case $t in
    cda_header|vendor_xml)
      find fixtures -name '*.xml' -size -200k -exec cp {} "$d/" \;
      find ../shared/data/xml/xmltest -name '*.xml' | head -200 | while read -r f; do cp "$f" "$d/$(echo "$f" | md5sum | cut -c1-12).xml"; done ;;
    csv_reader) find fixtures -name '*.csv' -exec cp {} "$d/" \; ;;
    bagit_manifest) find ../shared/data/bagit-v1.0 fixtures -name '*manifest*.txt' -o -name 'bag*.txt' | while read -r f; do cp "$f" "$d/$(echo "$f" | md5sum | cut -c1-12)"; done ;;
    pack_reader)
      if [ -z "$(ls -A "$d")" ]; then
        tmp=$(mktemp -d)
        cargo run -q --release -- --data-dir "$tmp/data" --json ingest fixtures/batches/vendor-xml >/dev/null || true
        find "$tmp/data" -name '*.pack' -size -300k -exec cp {} "$d/" \;
        rm -rf "$tmp"
      fi ;;
  esac
  set -o pipefail
}

status=0
for t in "${targets[@]}"; do
  seed "$t"
  log=fuzz/artifacts/$t.log
  mkdir -p fuzz/artifacts/"$t"
  echo "== $t: ${secs}s"
  if cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=262144 \
       -print_final_stats=1 >"$log" 2>&1; then
    echo "   ok: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') runs, peak RSS $(grep -E '^stat::peak_rss_mb' "$log" | awk '{print $2}') MB, corpus $(ls fuzz/corpus/"$t" | wc -l)"
  else
    status=1
    echo "   FAILED: see $log; inputs in fuzz/artifacts/$t/"
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -5
  fi
done
exit $status
