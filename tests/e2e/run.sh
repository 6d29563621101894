#!/usr/bin/env bash
# Runs hookd's end-to-end suite against the real binary.
# Usage: tests/e2e/run.sh [extra node --test args]   (HOOKD_BIN overrides build/hookd)
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT" || exit 2
export HOOKD_BIN="${HOOKD_BIN:-$ROOT/build/hookd}"
if [ ! -x "$HOOKD_BIN" ]; then
  echo "run.sh: hookd binary not found or not executable: $HOOKD_BIN" >&2
  exit 2
fi
if [ ! -d "$ROOT/tests/node_modules/standardwebhooks" ]; then
  echo "run.sh: missing test dependencies; run: (cd $ROOT/tests && npm ci)" >&2
  exit 2
fi
node --test --test-concurrency=1 --test-timeout=60000 "$@" "$HERE"/*.test.mjs
exit $?
