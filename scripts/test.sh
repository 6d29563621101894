#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test:
#   1. build/        the release binary: unit, end-to-end and browser tests (ctest)
#   2. build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer: unit and end-to-end tests
# Ends with one line "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/deps.sh --test || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
(cd tests && npm ci --no-audit --no-fund --silent) || { echo "npm ci failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0
run_ctest() {  # $1 = build dir, $2 = label, rest = ctest args
  local dir=$1 label=$2; shift 2
  local log="$root/$dir/ctest.log"
  (cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log"
  local line; line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  if [[ -z "$line" ]]; then
    echo "$label: ctest did not finish"; failed=$((failed + 1)); return
  fi
  local total fails
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  fails=$(sed -E 's/.*tests passed, ([0-9]+) tests failed.*/\1/' <<<"$line")
  passed=$((passed + total - fails)); failed=$((failed + fails))
}

if scripts/build.sh build; then
  run_ctest build release --timeout 300
else
  echo "release build failed"; failed=$((failed + 1))
fi

if scripts/build.sh build-asan -DHOOKD_SANITIZE=ON -DHOOKD_BUILD_BENCH=OFF; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan sanitizers --timeout 300 -LE browser
else
  echo "sanitizer build failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
