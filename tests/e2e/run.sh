#!/usr/bin/env bash
# Browser end-to-end tests of the meeting UI. Installs what it needs
# (Debian's Chromium, playwright-core), builds the UI, starts a server on
# free loopback ports and runs the tests with node's test runner:
#   - when `meetctl up` runs meet-web (it has --web-port), the whole stack,
#     and the full-stack conference tests run too;
#   - else meet-web alone if it is built (UI-only tests);
#   - else static-server.mjs (UI-only tests).
# With the full stack it then starts a stack imported from the guide's own
# files (guide-stack.py) for the two-person conference, a secure-domain stack
# (secure-stack.py) for secure.test.mjs, and one without a videobridge for
# nobridge.test.mjs.
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

# The extra stacks below: stop the running one, generate a deployment,
# start daemons from a folder of configs, wait until meet-web answers.
stop_stack() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
generate_stack() { # STATE WEB_PORT LOG
  "$BIN/meetctl" up --generate-only --state "$1" --domain localhost --web-port "$2" \
    --c2s-port "$(free_port)" --http-port "$(free_port)" --component-port "$(free_port)" \
    --jvb-udp-port "$(free_port)" --jvb-http-port "$(free_port)" --focus-http-port "$(free_port)" \
    --web-root "$DIST" >"$3" 2>&1
}
start_daemons() { # DIR LOG DAEMON:CONFIG...
  local dir=$1 log=$2
  shift 2
  for d in "$@"; do
    # The guide's jicofo variables in this environment would override the files.
    env -u JICOFO_SECRET -u JICOFO_AUTH_PASSWORD "$BIN/${d%%:*}" --config "$dir/${d#*:}" >>"$log" 2>&1 &
    PIDS+=($!)
  done
}
wait_web() { # BASE_URL
  for _ in $(seq 1 120); do
    if curl -fsS -o /dev/null "$1/config.js" 2>/dev/null; then break; fi
    sleep 0.5
  done
}

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
wait_web "$BASE"
if ! curl -fsS -o /dev/null "$BASE/config.js"; then
  echo "web server did not come up; its log:"; cat "$TMP/stack.log"; exit 1
fi

echo "== browser tests against $BASE (full stack: $FULL)"
# The conference tests run first, on a fresh stack, so the Go-to-first-frame
# figure is not skewed by earlier conferences.
status=0
MEET_BASE_URL="$BASE" MEET_FULL_STACK="$FULL" node --test --test-concurrency=1 --test-timeout=300000 \
  conference.test.mjs ui.test.mjs || status=$?
if [ "$status" != 0 ]; then
  echo "== server log (last 80 lines)"; tail -n 80 "$TMP/stack.log"
fi

# A stack made from the guide's own files (tests/fixtures/guide) through
# `meetctl import` (guide-stack.py), daemons started here: the two-person
# conference (media both ways, chat, hand, password, mute and kick …) on the
# guide's domain.
if [ "$FULL" = 1 ] && [ "${SKIP_GUIDE:-0}" != 1 ]; then
  stop_stack
  echo "== starting a stack from the guide's own files (meetctl import)"
  GWEB=$(free_port)
  python3 guide-stack.py "$BIN" "$ROOT/tests/fixtures/guide" "$TMP/guide" "$DIST" \
    "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$(free_port)" "$GWEB" \
    >"$TMP/guide.log" 2>&1 || { cat "$TMP/guide.log"; exit 1; }
  start_daemons "$TMP/guide/etc/meet-rs" "$TMP/guide.log" xmpp-server:xmpp-server.toml \
    videobridge:videobridge.toml focus:focus.toml meet-web:web.toml
  GBASE="http://localhost:$GWEB"
  wait_web "$GBASE"
  sleep 2 # the focus and the bridge find each other in the brewery
  gstatus=0
  MEET_BASE_URL="$GBASE" MEET_FULL_STACK=1 node --test --test-timeout=300000 \
    --test-name-pattern="two participants in one room" conference.test.mjs || gstatus=$?
  if [ "$gstatus" != 0 ]; then
    echo "== guide stack log (last 80 lines)"; tail -n 80 "$TMP/guide.log"
    status=$gstatus
  fi
fi

# The secure-domain flow needs its own stack: the guide's last section
# applied to a generated deployment (secure-stack.py), daemons started here.
if [ "$FULL" = 1 ] && [ "${SKIP_SECURE:-0}" != 1 ]; then
  stop_stack
  echo "== starting a secure-domain stack"
  SEC="$TMP/secure"
  SWEB=$(free_port)
  generate_stack "$SEC" "$SWEB" "$TMP/secure.log"
  python3 secure-stack.py "$SEC" localhost
  "$BIN/xmpp-server" --config "$SEC/xmpp-server.toml" register host1 localhost hostpass >>"$TMP/secure.log" 2>&1
  start_daemons "$SEC" "$TMP/secure.log" xmpp-server:xmpp-server.toml \
    videobridge:videobridge.toml focus:focus.toml meet-web:web.toml
  SBASE="http://localhost:$SWEB"
  wait_web "$SBASE"
  sleep 2 # the focus and the bridge find each other in the brewery
  sstatus=0
  MEET_SECURE_BASE_URL="$SBASE" MEET_SECURE_USER=host1 MEET_SECURE_PASSWORD=hostpass \
    node --test --test-timeout=300000 secure.test.mjs || sstatus=$?
  if [ "$sstatus" != 0 ]; then
    echo "== secure stack log (last 80 lines)"; tail -n 80 "$TMP/secure.log"
    status=$sstatus
  fi
fi

# "No bridge": xmpp-server, focus and meet-web without a videobridge (the
# test starts one later to see the notice clear).
if [ "$FULL" = 1 ] && [ "${SKIP_NOBRIDGE:-0}" != 1 ]; then
  stop_stack
  echo "== starting a stack without a videobridge"
  NB="$TMP/nobridge"
  NWEB=$(free_port)
  generate_stack "$NB" "$NWEB" "$TMP/nobridge.log"
  start_daemons "$NB" "$TMP/nobridge.log" xmpp-server:xmpp-server.toml focus:focus.toml meet-web:web.toml
  NBASE="http://localhost:$NWEB"
  wait_web "$NBASE"
  nstatus=0
  MEET_NOBRIDGE_BASE_URL="$NBASE" MEET_NOBRIDGE_BRIDGE="$BIN/videobridge $NB/videobridge.toml" \
    node --test --test-timeout=300000 nobridge.test.mjs || nstatus=$?
  if [ "$nstatus" != 0 ]; then
    echo "== no-bridge stack log (last 60 lines)"; tail -n 60 "$TMP/nobridge.log"
    status=$nstatus
  fi
fi
exit "$status"
