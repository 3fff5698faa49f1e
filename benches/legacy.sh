#!/usr/bin/env bash
# Legacy exports: memory and speed of the two streaming paths.
#
#   benches/legacy.sh attachment [MIB]   (default 2048): one vendor XML record with one
#       attachment of MIB MiB (a PDF header and trailer around random bytes, so zstd cannot
#       shrink it); prints wall time, MB/s and peak RSS of `arkisto ingest`, then `verify`.
#   benches/legacy.sh vendor-xml [MIB]   (default 5120): one vendor XML file of about MIB MiB
#       (records of ~64 KiB of text, no attachments); the same figures.
#
# Target (issue 3): a 2 GB attachment archives with peak RSS under 200 MiB; a 5 GB vendor
# XML file ingests with flat memory. Needs GNU time. Set BENCH_DIR to keep the files.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:-attachment}
W=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$W"
command -v /usr/bin/time >/dev/null || { echo "missing GNU time (apt-get install time)" >&2; exit 1; }
cargo build --release --quiet
BIN=$PWD/target/release/arkisto
B=$W/batch-$KIND
rm -rf "$B" "$W/data"
mkdir -p "$B/liitteet"
printf 'legacy-patient-xml\n' > "$B/PROFILE"
rec() { # id text attachment-xml
  printf '  <Asiakirja id="%s"><Potilas><Hetu>010170-900J</Hetu></Potilas><Tyyppi>1</Tyyppi><Otsikko>Hoitokertomus</Otsikko><Laadittu>3.8.2016</Laadittu><Sailytysluokka>POT</Sailytysluokka><Teksti>%s</Teksti>%s</Asiakirja>\n' "$1" "$2" "$3"
}
case $KIND in
  attachment)
    MIB=${2:-2048}
    { printf '%%PDF-1.4\n'; head -c "$((MIB * 1024 * 1024))" /dev/urandom; printf '\n%%%%EOF\n'; } > "$B/liitteet/scan.pdf"
    { echo '<?xml version="1.0" encoding="UTF-8"?>'; echo '<Vienti>'; rec D1 "Skannattu lähete" '<Liitteet><Liite tiedosto="scan.pdf" tyyppi="application/pdf"/></Liitteet>'; echo '</Vienti>'; } > "$B/export.xml"
    ;;
  vendor-xml)
    MIB=${2:-5120}
    python3 - "$B/export.xml" "$MIB" <<'PY'
import sys, random
path, mib = sys.argv[1], int(sys.argv[2])
words = "potilas kontrolli päänsärky väsymys hoito lähete kotikäynti lääkitys verenpaine laboratorio".split()
rnd = random.Random(1)
para = " ".join(rnd.choice(words) for _ in range(12000))  # ~64 KiB of text
with open(path, "w", encoding="utf-8") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<Vienti>\n')
    i, size = 0, 0
    while size < mib * 1024 * 1024:
        i += 1
        r = (f'  <Asiakirja id="D{i}"><Potilas><Hetu>010170-900J</Hetu></Potilas><Tyyppi>1</Tyyppi><Otsikko>Hoitokertomus {i}</Otsikko>'
             f'<Laadittu>3.8.2016</Laadittu><Sailytysluokka>POT</Sailytysluokka><Teksti>{i} {para}</Teksti></Asiakirja>\n')
        f.write(r)
        size += len(r.encode())
    f.write('</Vienti>\n')
PY
    ;;
  *) echo "usage: benches/legacy.sh attachment|vendor-xml [MIB]" >&2; exit 2 ;;
esac
BYTES=$(du -sb "$B" | cut -f1)
cat "$B"/export.xml > /dev/null
export ARKISTO__INGEST__MAX_FILE_SIZE_MIB=$((MIB + 64))
/usr/bin/time -f "%e %M" -o "$W/time.txt" "$BIN" --data-dir "$W/data" --json ingest "$B" > "$W/report.json"
read -r SECS RSS < "$W/time.txt"
/usr/bin/time -f "%e %M" -o "$W/vtime.txt" "$BIN" --data-dir "$W/data" --json verify > "$W/verify.json"
read -r VSECS VRSS < "$W/vtime.txt"
GSECS=0 GRSS=0
if [ "$KIND" = attachment ]; then
  ID=$(python3 -c 'import json,sys; print(next(f["record_id"] for f in json.load(open(sys.argv[1]))["files"] if f["path"].endswith("scan.pdf")))' "$W/report.json")
  /usr/bin/time -f "%e %M" -o "$W/gtime.txt" "$BIN" --data-dir "$W/data" get "$ID" -o "$W/out.pdf" --purpose bench 2>/dev/null
  read -r GSECS GRSS < "$W/gtime.txt"
  cmp -s "$W/out.pdf" "$B/liitteet/scan.pdf" || { echo "get returned different bytes" >&2; exit 1; }
  rm -f "$W/out.pdf"
fi
python3 - "$W/report.json" "$W/verify.json" "$KIND" "$BYTES" "$SECS" "$RSS" "$VSECS" "$VRSS" "$GSECS" "$GRSS" <<'PY'
import sys, json
r, v = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
kind, nbytes, secs, rss, vsecs, vrss = sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8])
gsecs, grss = float(sys.argv[9]), int(sys.argv[10])
c = r["counts"]
print(f"{kind}: {nbytes/2**20:.0f} MiB in, {c['archived']} archived, {c['quarantined']} quarantined, status {r['status']}")
print(f"ingest: {secs:.1f} s, {nbytes/1e6/secs:.1f} MB/s, peak RSS {rss/1024:.1f} MiB")
print(f"verify: {vsecs:.1f} s, peak RSS {vrss/1024:.1f} MiB, problems {len(v.get('problems', v.get('findings', [])))}")
if gsecs:
    print(f"get -o: {gsecs:.1f} s, peak RSS {grss/1024:.1f} MiB, bytes identical")
PY
