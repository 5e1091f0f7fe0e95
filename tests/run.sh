#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need
# (Node packages for the strophe.js interop tests, Python's slixmpp for the
# component interop test, stock Prosody for the interop tests, systemd-analyze
# for the unit checks, cargo-deb and dpkg-dev for the package, Chromium and
# Playwright for the browser tests), builds the daemons and the UI, runs every
# test: unit, integration, interop, packaging, then the browser end-to-end
# tests (tests/e2e/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
# tests/tests/prosody_interop.rs runs our focus and videobridge against
# Debian's stock Prosody. Only its binaries are used: each test writes its
# own config, pidfile and data in a temporary directory. The system-wide
# service the package may start is stopped and disabled.
if ! command -v prosody >/dev/null || ! command -v prosodyctl >/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    as_root=""
  elif command -v sudo >/dev/null; then
    as_root=sudo
  else
    echo "tests/run.sh: prosody is missing; installing it needs root or sudo" >&2
    exit 1
  fi
  $as_root apt-get update -qq
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prosody
  if [ -d /run/systemd/system ]; then
    $as_root systemctl disable --now prosody >/dev/null 2>&1 || true
  fi
  $as_root prosodyctl stop >/dev/null 2>&1 || true
fi
if [ -f tests/js/package.json ]; then
  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f tests/python/requirements.txt ]; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
fi

apt_updated=no
apt_install() {
  if [ "$apt_updated" = no ]; then
    apt-get update -qq
    apt_updated=yes
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}
# tests/tests/systemd_units.rs: `systemd-analyze verify` on systemd/*.
if ! command -v systemd-analyze >/dev/null; then
  apt_install systemd
fi
# tests/tests/packaging.rs: cargo-deb builds the .deb (pinned: it accepts
# the debug profile the package test uses with a warning, a later major
# version may refuse it), dpkg-shlibdeps computes its libc dependency, and
# the throwaway install uses unshare/setpriv (util-linux) and ip.
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --version 3.8.0 --locked
fi
if ! command -v dpkg-shlibdeps >/dev/null; then
  apt_install dpkg-dev
fi
if ! command -v ip >/dev/null; then
  apt_install iproute2
fi

# The meeting UI (npm): meet-web's tests, the package and the browser tests
# serve it.
crates/web/ui/build.sh

echo "== building"
cargo build --workspace --bins --all-targets

echo "== tests"
status=0
cargo test --workspace --no-fail-fast -- --test-threads=2 || status=$?

echo "== browser end-to-end tests (Playwright + Chromium against the whole stack)"
tests/e2e/run.sh || status=$?
exit "$status"
