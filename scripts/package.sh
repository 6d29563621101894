#!/usr/bin/env bash
# Builds the Debian package build/hookd_<version>_<arch>.deb (SPEC.md §11) with debhelper:
#   scripts/package.sh            (re)builds build/hookd first (scripts/build.sh, a no-op when
#                                 up to date), then packages it
# Needs debhelper and help2man (scripts/deps.sh --test installs them). The packaging files
# are in packaging/ (hookd.conf, hookd.service, debian/); docs/operations.md says why
# debhelper and what the package does. Environment:
#   HOOKD_BUILD_DIR   build folder (default build)
#   HOOKD_BUILD_LOCK  lock file serialising builds on this machine (default /tmp/hookd-build.lock)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${HOOKD_BUILD_DIR:-build}
lock=${HOOKD_BUILD_LOCK:-/tmp/hookd-build.lock}
die() { echo "package.sh: $*" >&2; exit 1; }
for tool in dpkg-buildpackage dh help2man; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debhelper help2man, or scripts/deps.sh --test)"
done
locked() {  # run "$@" holding the build lock when flock exists
  if command -v flock >/dev/null; then flock "$lock" "$@"; else "$@"; fi
}

locked scripts/build.sh "$build" >/dev/null
bin="$root/$build/hookd"
version=$("$bin" --version | awk '{print $2}')
pkg_version=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
[[ "$version" == "$pkg_version" ]] ||
  die "hookd --version says $version but packaging/debian/changelog says $pkg_version: add a changelog entry (dch -v $version)"
arch=$(dpkg --print-architecture)

# A source tree of its own: debian/ and the files it installs (the binary is not rebuilt).
work="$root/$build/pkg"
stage="$work/hookd-$version"
rm -rf "$work"
mkdir -p "$stage"
cp -r packaging/debian "$stage/debian"
cp packaging/hookd.service "$stage/debian/hookd.service"
cp "$bin" packaging/hookd.conf docs/operations.md docs/operations-reference.md "$stage/"
cp ops/prometheus/hookd-alerts.yml ops/prometheus/hookd-alerts.test.yml ops/grafana/hookd.json "$stage/"

# The man page, from the CLI's own help: `hookd --help`, then each subcommand's.
roff() {  # help text as literal roff lines
  sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" -e 's/-/\\-/g'
}
{
  echo "[DESCRIPTION]"
  echo "hookd takes change events over an HTTP API, stores each one durably and delivers it as a"
  echo "signed HTTP request to every matching webhook, retrying until the receiver accepts it."
  echo "\`hookd serve\` is the service; the other commands are tools for operators and developers."
  echo "Configuration comes from a file (\\fB\\-\\-config\\fR), \\fBHOOKD_*\\fR environment variables"
  echo "and flags, in that order of precedence (flags win)."
  echo "[COMMANDS]"
  for sub in serve backup migrate rekey listen sign verify; do
    echo ".SS \"hookd $sub\""
    echo ".nf"
    "$bin" "$sub" --help | roff
    echo ".fi"
  done
  echo "[FILES]"
  echo ".TP"; echo "/etc/hookd/hookd.conf"; echo "configuration read by hookd.service (\\fB\\-\\-config\\fR)"
  echo ".TP"; echo "/etc/hookd/master.key"; echo "the key that encrypts webhook secrets; back it up apart from the database"
  echo ".TP"; echo "/var/lib/hookd/hookd.db"; echo "the SQLite database (back it up with \\fBhookd backup\\fR)"
  echo ".TP"; echo "/var/lib/hookd/operator\\-token"; echo "the operator token written on first start"
  echo "[SEE ALSO]"
  echo "/usr/share/doc/hookd/operations.md (install, configure, upgrade, back up, monitor),"
  echo "/usr/share/doc/hookd/operations\\-reference.md (metrics, formats), \\fBsystemctl\\fR(1), \\fBjournalctl\\fR(1)"
} >"$work/hookd.h2m"
help2man --no-info --section=1 --name="durable, signed webhook delivery" --include="$work/hookd.h2m" \
  --source="hookd $version" --manual="hookd manual" --output="$stage/hookd.1" "$bin"

# Binary package only; unsigned (sign the repository, or the .deb, where you publish it).
(cd "$stage" && dpkg-buildpackage --build=binary --no-sign -j1) >"$work/build.log" 2>&1 ||
  { tail -40 "$work/build.log" >&2; die "dpkg-buildpackage failed (log: $work/build.log)"; }
deb="hookd_${version}_${arch}.deb"
[[ -f "$work/$deb" ]] || die "no $work/$deb was made (log: $work/build.log)"
mv "$work/$deb" "$root/$build/$deb"
echo "$build/$deb"
