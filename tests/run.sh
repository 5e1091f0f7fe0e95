#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need
# (Node packages for the strophe.js interop tests, Python's slixmpp for the
# component interop test), builds the daemons, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
if [ -f tests/js/package.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f tests/python/requirements.txt ]; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

echo "== building"
cargo build --workspace --bins --all-targets

echo "== tests"
cargo test --workspace --no-fail-fast -- --test-threads=2
