#!/usr/bin/env bash
# Builds the meeting UI into dist/ (what meet-web serves as static_root).
# Idempotent: installs npm packages only when the lock file changed and
# rebuilds only when a source is newer than dist/.stamp.
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

stamp=dist/.stamp
if [ -f "$stamp" ] && [ "${FORCE:-0}" != 1 ] \
  && [ -z "$(find src lang static build.mjs package-lock.json tsconfig.json -newer "$stamp" -print -quit)" ]; then
  echo "meet-web UI: dist/ is up to date"
  exit 0
fi
npm run --silent build
touch "$stamp"
