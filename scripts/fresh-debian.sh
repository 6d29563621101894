#!/usr/bin/env bash
# Runs a command in a fresh Debian 12 (bookworm) root, on a clean clone of this repository:
# what the README's two commands meet on a newly installed machine.
#
#   scripts/fresh-debian.sh [--commit REV] [--reuse] DIR [COMMAND...]
#
#   DIR         the root: made anew from a pristine minimal Debian 12 (debootstrap --variant=minbase,
#               cached as a tar in HOOKD_PKG_CACHE; made and set up by scripts/debian-root.sh,
#               as tests/package/package_test.sh's root); whatever DIR held is deleted first
#   --reuse     keep DIR as a previous run left it (what it installed, its build/), and refresh
#               only the clone
#   --commit    the commit to clone (default HEAD); the clone is at /root/hookd in the root
#   COMMAND     run by bash in /root/hookd as root (default: scripts/test.sh); its exit status is
#               this script's
#
# The root shares this machine's network (apt and npm reach their registries as on a fresh
# machine), and gets /proc, /sys, /dev, /dev/pts and /dev/shm, unmounted again on exit.
# Only /etc/apt/sources.list (bookworm, -updates, -security), /etc/resolv.conf, /etc/hosts,
# this machine's local CA certificates (/usr/local/share/ca-certificates: where HTTPS goes
# through a re-signing proxy, npm needs them as this machine does) and policy-rc.d (no
# service is started by a package's maintainer script, as in Debian's container images, so
# installing postgresql-15 starts no cluster on this machine) are set up; no locale, no
# user, nothing else the project might need. The command runs with a minimal
# environment (env -i: PATH, HOME, TERM) as a root login on a fresh machine has.
#
# Root only. Environment: HOOKD_PKG_CACHE (default /var/cache/hookd-package-test).
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "fresh-debian.sh: runs as root only (debootstrap, chroot, mount)" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
commit=HEAD; reuse=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --commit) commit=${2:?--commit REV}; shift 2 ;;
    --reuse) reuse=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fresh-debian.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
dir=${1:?usage: scripts/fresh-debian.sh [--commit REV] [--reuse] DIR [COMMAND...]}; shift
command=${*:-scripts/test.sh}
rev=$(git -C "$repo" rev-parse --verify "$commit^{commit}")
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[[ "$dir" != / ]] || { echo "fresh-debian.sh: DIR must not be /" >&2; exit 2; }

cache=${HOOKD_PKG_CACHE:-/var/cache/hookd-package-test}
suite=bookworm  # as scripts/debian-root.sh's debian_suite
tarball="$cache/$suite-minbase.tar"

mounted() { grep -q " $dir/" /proc/mounts; }
cleanup() {
  local m
  # Innermost first; what the command left mounted inside the root (e.g. the package test's
  # own chroot) goes too.
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if mounted; then echo "fresh-debian.sh: still mounted under $dir:"; grep " $dir/" /proc/mounts; fi
}
trap cleanup EXIT
# Never delete through a mount (a bound /dev would take the machine's with it).
if mounted; then cleanup; fi
mounted && { echo "fresh-debian.sh: $dir has mounts that do not go away; not touching it" >&2; exit 1; }

# ------------------------------------------------------------------ the root (scripts/debian-root.sh)
source "$repo/scripts/debian-root.sh"
debian_root_mirrors
[[ "$mirror" != "-" ]] || { echo "fresh-debian.sh: this machine's apt has no Debian $suite source" >&2; exit 1; }

if [[ -z "$reuse" || ! -x "$dir/bin/bash" ]]; then
  if ! debian_root_cached "$tarball"; then
    command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    echo "fresh-debian.sh: debootstrap --variant=minbase $suite (cached afterwards as $tarball)"
    debian_root_debootstrap "$cache" "$tarball" || exit 1
  fi
  echo "fresh-debian.sh: a pristine Debian $suite root in $dir (from $tarball)"
  find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  tar -C "$dir" -xf "$tarball"
  chmod 755 "$dir"
  debian_root_configure "$dir"
  debian_root_local_cas "$dir"
  [[ -s "$dir/etc/hosts" ]] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$dir/etc/hosts"
fi
cp /etc/resolv.conf "$dir/etc/resolv.conf"

# ------------------------------------------------------------------ the clone
rm -rf "$dir/root/hookd"
git clone -q --no-local --no-checkout "$repo" "$dir/root/hookd"
git -C "$dir/root/hookd" checkout -q --detach "$rev"
echo "fresh-debian.sh: /root/hookd is a clean clone at $(git -C "$dir/root/hookd" log -1 --format='%h %s')"

# ------------------------------------------------------------------ mounts
bind() { mkdir -p "$dir$1"; mount --bind "$1" "$dir$1"; mount --make-rslave "$dir$1"; }
mount -t proc proc "$dir/proc"
bind /sys
bind /dev
bind /dev/pts
bind /dev/shm

# ------------------------------------------------------------------ the command
label=${command%%$'\n'*}; [[ "$label" == "$command" ]] || label="$label …"
echo "fresh-debian.sh: running '$label' in $dir:/root/hookd ($(date -u +%T) UTC)"
set +e
chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root TERM="${TERM:-dumb}" /bin/bash -c "cd /root/hookd && $command"
rc=$?
set -e
echo "fresh-debian.sh: '$label' exited $rc ($(date -u +%T) UTC)"
exit $rc
