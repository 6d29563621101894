#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test.
#   1. build/        release: unit, end-to-end (SQLite and PostgreSQL), browser, bench smoke;
#                    then the Debian package on a fresh Debian 12 (tests/package/package_test.sh)
#   2. build-asan/   AddressSanitizer + UndefinedBehaviorSanitizer: unit and end-to-end (SQLite)
#   3. build-tsan/   ThreadSanitizer: the dispatcher and store unit tests
#   4. build-fuzz/   libFuzzer targets, each for HOOKD_FUZZ_SECONDS (default 20)
# A throwaway PostgreSQL cluster is started for the run and removed afterwards.
# Ends with one line "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
passed=0; failed=0
finish() { echo "$passed passed, $failed failed"; [[ $failed -eq 0 ]]; exit $?; }

scripts/deps.sh --test || { echo "dependency installation failed"; failed=1; finish; }
(cd tests && npm ci --no-audit --no-fund --silent) || { echo "npm ci failed"; failed=1; finish; }

pgdir=$(mktemp -d /tmp/hookd-pg-XXXXXX)
trap 'scripts/pg.sh stop "$pgdir"' EXIT
if HOOKD_TEST_PG_URL=$(scripts/pg.sh start "$pgdir"); then
  export HOOKD_TEST_PG_URL
  echo "PostgreSQL for the tests: $HOOKD_TEST_PG_URL"
else
  echo "could not start PostgreSQL"; failed=$((failed + 1))
fi

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

step() { echo; echo "=== $* ($(date +%T))"; }

step "release build"
if scripts/build.sh build; then
  run_ctest build release --timeout 300
else
  echo "release build failed"; failed=$((failed + 1))
fi

step "Debian package (build/hookd_*.deb on a fresh Debian 12)"
# Bounded: about 30 s with a cached Debian root (/var/cache/hookd-package-test), about a
# minute more the first time (debootstrap). Its last line is "N passed, M failed".
pkglog="$root/build/package-test.log"
timeout 900 tests/package/package_test.sh 2>&1 | tee "$pkglog"
line=$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$pkglog" | tail -1)
if [[ -n "$line" ]]; then
  passed=$((passed + $(cut -d' ' -f1 <<<"$line"))); failed=$((failed + $(cut -d' ' -f3 <<<"$line")))
else
  echo "package test did not finish"; failed=$((failed + 1))
fi

step "AddressSanitizer + UndefinedBehaviorSanitizer build"
# Sanitizer builds use -O1 -g1: much faster to compile (Beast), still fast to run.
san_flags=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" -DHOOKD_BUILD_BENCH=OFF)
if scripts/build.sh build-asan -DHOOKD_SANITIZE=ON "${san_flags[@]}"; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan sanitizers --timeout 300 -LE "browser|postgres"
else
  echo "sanitizer build failed"; failed=$((failed + 1))
fi

step "ThreadSanitizer build (dispatcher and store tests)"
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if cmake -S . -B build-tsan -DHOOKD_TSAN=ON "${san_flags[@]}" "${launcher[@]}" >/dev/null &&
   cmake --build build-tsan -j"$(nproc)" --target delivery_test store_test capture_test; then
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_ctest build-tsan tsan --timeout 300 -R "Dispatcher|HttpClient|StoreTest|GroupCommit|PgConn|PgPool|PgStoreListener|CaptureTest"
else
  echo "tsan build failed"; failed=$((failed + 1))
fi

step "fuzzing"
if scripts/fuzz.sh "${HOOKD_FUZZ_SECONDS:-20}"; then
  passed=$((passed + 3))
else
  echo "fuzzing failed"; failed=$((failed + 1))
fi

step "done"
finish
