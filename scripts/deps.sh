#!/usr/bin/env bash
# Installs what hookd needs on Debian 12, skipping what is already there.
#   scripts/deps.sh          build dependencies
#   scripts/deps.sh --test   also what the tests need (Node.js, npm, Chromium, PostgreSQL), and
#                            what scripts/package.sh and its test need (debhelper, help2man,
#                            lintian, debootstrap, systemd-analyze, promtool and prometheus)
set -euo pipefail

pkgs=(build-essential cmake pkg-config ca-certificates ccache
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
      libcurl4-openssl-dev libsqlite3-dev libpq-dev libssl-dev libspdlog-dev libfmt-dev
      libcli11-dev libexpected-dev libmimalloc-dev libgtest-dev googletest libbenchmark-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(nodejs npm chromium openssl curl sqlite3 postgresql-15 util-linux clang libclang-rt-14-dev python3
        debhelper help2man lintian debootstrap systemd iproute2 prometheus)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A node/npm that is already on PATH (e.g. a newer one) is fine.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
if [[ -x /usr/bin/chromium ]]; then missing=("${missing[@]/chromium}"); fi
to_install=()
for p in "${missing[@]}"; do [[ -n "$p" ]] && to_install+=("$p"); done

if (( ${#to_install[@]} > 0 )); then
  echo "deps: installing ${to_install[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/dev/null
fi
