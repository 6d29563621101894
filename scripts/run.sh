#!/usr/bin/env bash
# README command 1: install what is missing, build, and run `hookd serve` on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build
exec build/hookd serve --db "${HOOKD_DB:-sqlite:./data/hookd.db}" "$@"
