#!/usr/bin/env bash
# Runs the admin page browser tests (tests/ui/admin.test.mjs) with node's test runner.
# Needs build/hookd (or HOOKD_BIN), /usr/bin/chromium (or CHROMIUM) and
# tests/node_modules (npm ci in tests/). Exits with node's exit code.
set -u
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export HOOKD_BIN="${HOOKD_BIN:-$(cd "$here/../.." && pwd)/build/hookd}"
exec node --test --test-reporter=spec "$here/admin.test.mjs"
