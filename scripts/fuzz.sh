#!/usr/bin/env bash
# Builds hookd's libFuzzer targets (tests/fuzz/) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer, then runs each one for a bounded time on a copy of its
# seed corpus. Exits non-zero when a target crashes, leaks, hits undefined behaviour,
# breaks one of its checked properties, times out or runs out of memory.
#
# Usage: scripts/fuzz.sh [seconds per target (default 60)] [target ...]
#   HOOKD_FUZZ_BUILD_DIR  build folder (default build-fuzz)
#   HOOKD_BUILD_LOCK      lock file serialising builds on this machine (default /tmp/hookd-build.lock)
#   HOOKD_FUZZ_ARGS       extra libFuzzer flags, e.g. "-jobs=2 -workers=2"
# A crashing input is kept in <build dir>/fuzz-artifacts/<target>/; reproduce with
#   <build dir>/fuzz/<target> <that file>
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -lt 1 ]]; then
  echo "usage: scripts/fuzz.sh [seconds per target] [target ...]" >&2
  exit 2
fi
targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(fuzz_api_request fuzz_url fuzz_signature fuzz_pgoutput)

build=${HOOKD_FUZZ_BUILD_DIR:-$root/build-fuzz}
lock=${HOOKD_BUILD_LOCK:-/tmp/hookd-build.lock}
CXX=${CXX:-clang++}
if ! command -v "$CXX" >/dev/null || ! "$CXX" --version | grep -qi clang; then
  echo "fuzz.sh: needs clang (apt-get install clang); CXX=$CXX is not clang" >&2
  exit 2
fi

locked() {  # run "$@" holding the build lock when flock exists
  if command -v flock >/dev/null; then flock "$lock" "$@"; else "$@"; fi
}

# -Wno-error=format-security: clang (not gcc) flags snprintf with a forwarded format.
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
flags+=" -Wno-error=format-security"
echo "== configure and build $build"
if ! locked env CXX="$CXX" cmake -S "$root" -B "$build" -DHOOKD_FUZZ=ON -DHOOKD_BUILD_TESTS=OFF \
      -DHOOKD_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
      $(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache) "-DCMAKE_CXX_FLAGS=$flags" >/dev/null; then
  echo "fuzz.sh: cmake configure failed" >&2
  exit 1
fi
if ! locked cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"; then
  echo "fuzz.sh: build failed" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hookd-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
summary=()
for t in "${targets[@]}"; do
  exe="$build/fuzz/$t"
  seeds="$root/tests/fuzz/corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  mkdir -p "$work/$t/corpus" "$work/$t/tmp" "$artifacts"
  [[ -d $seeds ]] && cp -r "$seeds/." "$work/$t/corpus/"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [[ -f $root/tests/fuzz/$t.dict ]] && args+=(-dict="$root/tests/fuzz/$t.dict")
  # shellcheck disable=SC2206
  [[ -n ${HOOKD_FUZZ_ARGS:-} ]] && args+=($HOOKD_FUZZ_ARGS)
  log="$work/$t/log"
  echo "== $t: ${seconds}s"
  # TMPDIR: fuzz_api_request keeps its SQLite files there; removed with $work.
  (cd "$work/$t" && TMPDIR="$work/$t/tmp" "$exe" "${args[@]}" "$work/$t/corpus") >"$log" 2>&1
  rc=$?
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  speed=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  corpus=$(find "$work/$t/corpus" -type f | wc -l)
  if [[ $rc -eq 0 ]]; then
    summary+=("$t: ok, ${runs:-?} runs (${speed:-?}/s), corpus ${corpus} inputs")
  else
    failed=$((failed + 1))
    summary+=("$t: FAILED (exit $rc) after ${runs:-?} runs; artifacts in $artifacts")
    echo "---- $t failed; the end of its log:"
    grep -av '# Uses:' "$log" | tail -60
    echo "---- reproduce: $exe $artifacts/<crash-file>"
  fi
done

echo "== fuzz summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
[[ $failed -eq 0 ]]
