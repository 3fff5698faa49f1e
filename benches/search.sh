#!/usr/bin/env bash
# Search at scale on both index backends (issue 6): N synthetic records generated directly
# into the index (SQL, not ingest), then subject lookups, set-id chains and free-text
# queries through the Index trait, p50/p99.
#
#   benches/search.sh [N=10000000] [QUERIES=300]
#
# SQLite in BENCH_DIR (default a temp dir); PostgreSQL in a fresh database on
# ${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}'s server. Needs several GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000000}
Q=${2:-300}
W=${BENCH_DIR:-$(mktemp -d)}
ADMIN=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}
DB=arkisto_bench_$N
cargo build --release --quiet --example search_scale
BIN=target/release/examples/search_scale
rm -f "$W/search.sqlite"*
/usr/bin/time -f "sqlite fill+queries: %e s, peak RSS %M KiB" "$BIN" sqlite "$W/search.sqlite" "$N" "$Q"
du -sh "$W/search.sqlite" | sed 's/^/sqlite size: /'
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
/usr/bin/time -f "postgres fill+queries: %e s, peak RSS %M KiB" "$BIN" postgres "${ADMIN%/*}/$DB" "$N" "$Q"
psql "$ADMIN" -Atc "SELECT pg_size_pretty(pg_database_size('$DB'))" | sed 's/^/postgres size: /'
[ -n "${KEEP_DB:-}" ] || psql "$ADMIN" -qc "DROP DATABASE $DB"
