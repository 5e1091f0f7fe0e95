#!/usr/bin/env bash
# Browser end-to-end tests of the meeting UI. Installs what it needs
# (Debian's Chromium, playwright-core), builds the UI, starts a server on
# free loopback ports and runs the tests with node's test runner:
#   - when `meetctl up` runs meet-web (it has --web-port), the whole stack,
#     and the full-stack conference tests run too;
#   - else meet-web alone if it is built (UI-only tests);
#   - else static-server.mjs (UI-only tests).
# Artifacts (screenshots) go to tests/e2e/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
E2E=$(pwd)
ROOT=$(cd ../.. && pwd)
BIN=${MEET_BIN_DIR:-$ROOT/target/debug}

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "== installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "== building the UI"
"$ROOT/crates/web/ui/build.sh"
DIST="$ROOT/crates/web/ui/dist"

echo "== UI unit tests"
(cd "$ROOT/crates/web/ui" && node --test test/)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_TMP:-0}" != 1 ]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT

WEB_PORT=$(free_port)
FULL=0
if [ -x "$BIN/meetctl" ] && "$BIN/meetctl" up --help 2>/dev/null | grep -q -- '--web-port'; then
  echo "== starting the whole stack (meetctl up)"
  args=(up --state "$TMP/state" --domain localhost --web-port "$WEB_PORT"
        --c2s-port "$(free_port)" --http-port "$(free_port)" --component-port "$(free_port)"
        --jvb-udp-port "$(free_port)" --jvb-http-port "$(free_port)")
  help=$("$BIN/meetctl" up --help)
  if grep -q -- '--focus-http-port' <<<"$help"; then args+=(--focus-http-port "$(free_port)"); fi
  if grep -q -- '--web-root' <<<"$help"; then args+=(--web-root "$DIST"); fi
  "$BIN/meetctl" "${args[@]}" >"$TMP/stack.log" 2>&1 &
  PIDS+=($!)
  FULL=1
elif [ -x "$BIN/meet-web" ]; then
  echo "== starting meet-web alone (UI-only tests)"
  cat >"$TMP/web.toml" <<TOML
[hosts]
domain = "localhost"
[server]
plain_http = true
http_listen = ["127.0.0.1:$WEB_PORT"]
https_listen = []
static_root = "$DIST"
TOML
  "$BIN/meet-web" --config "$TMP/web.toml" >"$TMP/stack.log" 2>&1 &
  PIDS+=($!)
else
  echo "== starting static-server.mjs (UI-only tests)"
  node static-server.mjs "$DIST" "$WEB_PORT" >"$TMP/stack.log" 2>&1 &
  PIDS+=($!)
fi

BASE="http://localhost:$WEB_PORT"
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null "$BASE/config.js" 2>/dev/null; then break; fi
  sleep 0.5
done
if ! curl -fsS -o /dev/null "$BASE/config.js"; then
  echo "web server did not come up; its log:"; cat "$TMP/stack.log"; exit 1
fi

echo "== browser tests against $BASE (full stack: $FULL)"
status=0
MEET_BASE_URL="$BASE" MEET_FULL_STACK="$FULL" node --test --test-concurrency=1 --test-timeout=300000 \
  ui.test.mjs conference.test.mjs || status=$?
if [ "$status" != 0 ]; then
  echo "== server log (last 80 lines)"; tail -n 80 "$TMP/stack.log"
fi
exit "$status"
