# Shared by the storage benchmarks (sourced, not run).

# size DIR: the sum of the file sizes under DIR (not `du`, which counts directories too).
size() { find "$1" -type f -printf "%s\n" | awk "{s+=\$1} END {print s+0}"; }

# real_documents DEST: copy every complete, well-formed document of ../shared/data/cda (per
# its MANIFEST.tsv) into DEST/kanta and DEST/hl7, one folder (source) per origin.
real_documents() {
  local shared=$PWD/../shared/data/cda
  rm -rf "$1"; mkdir -p "$1/kanta" "$1/hl7"
  awk -F'\t' 'NR>1 && $5=="full" && $6=="yes" {print $1 "\t" $2}' "$shared/MANIFEST.tsv" | while IFS=$'\t' read -r src path; do
    case "$src" in kela-*) d=kanta ;; *) d=hl7 ;; esac
    cp "$shared/$path" "$1/$d/$(echo "$path" | tr '/ ' '__')"
  done
}
