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

# Public test documents live beside the project (../shared/data); the tests fail without them.
if [ ! -d ../shared/data/cda ]; then
  echo "infra/test.sh: ../shared/data is missing (see ../shared/data/README.md)" >&2
  exit 1
fi

echo "== cargo fmt --check"; cargo fmt --check
echo "== cargo clippy"; cargo clippy --all-targets --quiet -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
