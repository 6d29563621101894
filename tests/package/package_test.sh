#!/usr/bin/env bash
# The Debian package on a fresh Debian 12 (SPEC.md §11, docs/operations.md):
#   - scripts/package.sh builds build/hookd_<version>_<arch>.deb; lintian finds no error or warning
#   - systemd-analyze verify accepts the packaged unit; systemd-analyze security scores it
#     (exposure at most HOOKD_MAX_EXPOSURE, default 2.0)
#   - in a minimal Debian 12 root made by debootstrap (cached), `apt-get install ./hookd_*.deb`
#     pulls every runtime dependency and creates the hookd user, /etc/hookd and /var/lib/hookd;
#     `hookd serve --config /etc/hookd/hookd.conf` started as hookd answers /healthz (in a
#     network namespace of its own, so the shipped 127.0.0.1:8080 is free); `hookd backup`
#     copies the live database; an upgrade keeps the data, the key and the token; remove
#     keeps the data; purge deletes it.
# Prints PASS/FAIL per check and ends with "N passed, M failed". Exits non-zero on a failure.
# Skips the chroot checks (with a message saying so) only when no cached root exists and
# the Debian mirror cannot be reached.
#
# Root only (debootstrap, chroot, mount, unshare). Environment:
#   HOOKD_PKG_CACHE     cache folder (default /var/cache/hookd-package-test): the debootstrap
#                       root as a tar (rebuilt after 30 days), debootstrap's and apt's .debs
#   HOOKD_MAX_EXPOSURE  highest accepted `systemd-analyze security` exposure (default 2.0)
#   HOOKD_BUILD_DIR     build folder (default build)
set -uo pipefail
cd "$(dirname "$0")/../.."
root_dir=$(pwd)
source scripts/debian-root.sh
build=${HOOKD_BUILD_DIR:-build}
cache=${HOOKD_PKG_CACHE:-/var/cache/hookd-package-test}
max_exposure=${HOOKD_MAX_EXPOSURE:-2.0}
suite=bookworm  # as scripts/debian-root.sh's debian_suite
started=$(date +%s)
logs="$root_dir/$build/package-test"  # apt's and hookd's logs of this run
rm -rf "$logs"; mkdir -p "$logs"

passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "package test: $(($(date +%s) - started)) s"
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}
check() {  # check "what" command...: PASS when the command succeeds
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

[[ $(id -u) -eq 0 ]] || { fail "runs as root only (debootstrap, chroot, mount)"; finish; }

# ------------------------------------------------------------------ the package
echo "== scripts/package.sh"
if ! deb_rel=$(scripts/package.sh | tail -1) || [[ ! -f "$deb_rel" ]]; then
  fail "scripts/package.sh builds the package"
  finish
fi
deb="$root_dir/$deb_rel"
pass "scripts/package.sh builds $deb_rel ($(du -k "$deb" | cut -f1) KiB)"
version=$(dpkg-deb -f "$deb" Version)

echo "== lintian"
lint=$(lintian --display-level ">=pedantic" "$deb" 2>&1 | grep -v "^running with root privileges")
echo "$lint"
if grep -qE '^[EW]: ' <<<"$lint"; then
  fail "lintian: errors or warnings"
else
  pass "lintian: no error, no warning ($(grep -cE '^[IPX]: ' <<<"$lint") info/pedantic tags, see docs/operations.md)"
fi

echo "== systemd-analyze"
# Offline, on the unit as packaged: its root holds the package's files and Debian 12's own
# units (for the targets it names), so ExecStart= finds /usr/bin/hookd.
unit_root=$(mktemp -d /tmp/hookd-unit-XXXXXX)
dpkg-deb -x "$deb" "$unit_root"
mkdir -p "$unit_root/lib/systemd/system"
cp -rn /lib/systemd/system/. "$unit_root/lib/systemd/system/" 2>/dev/null
unit=/lib/systemd/system/hookd.service
verify=$(systemd-analyze verify --man=no --root="$unit_root" "$unit" 2>&1)
rc=$?
[[ -n "$verify" ]] && echo "$verify"
if [[ $rc -eq 0 && -z "$verify" ]]; then pass "systemd-analyze verify hookd.service"; else fail "systemd-analyze verify hookd.service"; fi
# The credentials drop-in docs/operations.md ("Secrets") shows is valid too.
mkdir -p "$unit_root/etc/systemd/system/hookd.service.d"
sed -n '/^LoadCredential=master.key/,/^Environment=HOOKD_OPERATOR_TOKEN_FILE/p' docs/operations.md |
  sed '1i [Service]' >"$unit_root/etc/systemd/system/hookd.service.d/credentials.conf"
verify=$(systemd-analyze verify --man=no --root="$unit_root" "$unit" 2>&1)
rc=$?
[[ -n "$verify" ]] && echo "$verify"
if [[ $rc -eq 0 && -z "$verify" ]] && [[ $(grep -c . "$unit_root/etc/systemd/system/hookd.service.d/credentials.conf") -eq 5 ]]; then
  pass "systemd-analyze verify hookd.service with the documented credentials drop-in"
else
  fail "systemd-analyze verify hookd.service with the documented credentials drop-in"
fi
rm -rf "$unit_root/etc/systemd/system/hookd.service.d"
security=$(systemd-analyze security --offline=true --root="$unit_root" "$unit" 2>&1)
echo "$security" | grep -E "✗|Overall"
exposure=$(sed -nE 's/.*Overall exposure level for hookd.service: ([0-9.]+).*/\1/p' <<<"$security")
if [[ -n "$exposure" ]] && awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
  pass "systemd-analyze security: exposure $exposure (at most $max_exposure)"
else
  fail "systemd-analyze security: exposure '${exposure:-?}' (at most $max_exposure)"
fi
rm -rf "$unit_root"

# ------------------------------------------------------------------ a fresh Debian 12
echo "== a minimal Debian 12 root"
# Made, cached and set up by scripts/debian-root.sh (as scripts/fresh-debian.sh's root), with
# this machine's Debian mirror (and security mirror) and apt proxy.
debian_root_mirrors
mkdir -p "$cache/debootstrap" "$cache/archives/partial"
tarball="$cache/$suite-minbase.tar"
if debian_root_cached "$tarball"; then
  echo "using the cached root $tarball"
else
  if [[ "$mirror" == "-" ]]; then
    echo "SKIP: this machine's apt has no Debian $suite source to debootstrap from; the package install test did not run"
    finish
  fi
  if ! curl -sfI --max-time 30 "$mirror/dists/$suite/Release" >/dev/null; then
    echo "SKIP: debootstrap cannot reach the Debian mirror of this machine's apt sources; the package install test did not run"
    finish
  fi
  echo "debootstrap --variant=minbase $suite (first run; later runs use $tarball)"
  if debian_root_debootstrap "$cache" "$tarball"; then
    pass "debootstrap made a minimal Debian $suite root"
  else
    fail "debootstrap made a minimal Debian $suite root (log: $cache/debootstrap.log)"
  fi
  [[ -f "$tarball" ]] || finish
fi

chroot_dir=$(mktemp -d /tmp/hookd-chroot-XXXXXX)
cleanup() {
  for m in var/cache/apt/archives proc; do umount "$chroot_dir/$m" 2>/dev/null; done
  # Never delete through a mount that is still there.
  if grep -q " $chroot_dir/" /proc/mounts; then
    echo "leaving $chroot_dir: something is still mounted in it"
  else
    rm -rf "$chroot_dir"
  fi
}
trap cleanup EXIT
tar -C "$chroot_dir" -xf "$tarball"
chmod 755 "$chroot_dir"
for dev in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<<"$dev"
  [[ -e "$chroot_dir/dev/$name" ]] || mknod -m 666 "$chroot_dir/dev/$name" c "$major" "$minor"
done
mount -t proc proc "$chroot_dir/proc"
mount --bind "$cache/archives" "$chroot_dir/var/cache/apt/archives"
cp /etc/resolv.conf "$chroot_dir/etc/resolv.conf"
# apt's sources and proxy; no service is started by a maintainer script.
debian_root_configure "$chroot_dir"
cp "$deb" "$chroot_dir/tmp/"
in_root() { chroot "$chroot_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
apt_get() { in_root timeout 600 apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }

echo "== apt-get install ./$(basename "$deb")"
if ! apt_get update >"$logs/apt-update.log" 2>&1; then
  tail -20 "$logs/apt-update.log"
  fail "apt-get update in the fresh root"
  finish
fi
before=$(in_root dpkg-query -W -f='${Package}\n' | sort)
if apt_get install "/tmp/$(basename "$deb")" >"$logs/apt-install.log" 2>&1; then
  pass "apt-get install ./$(basename "$deb") on a fresh Debian $suite"
else
  tail -30 "$logs/apt-install.log"
  fail "apt-get install ./$(basename "$deb") on a fresh Debian $suite"
  finish
fi
added=$(comm -13 <(echo "$before") <(in_root dpkg-query -W -f='${Package}\n' | sort) | tr '\n' ' ')
echo "installed with it: $added"
check "every library hookd needs is installed (ldd)" bash -c "! chroot '$chroot_dir' ldd /usr/bin/hookd | grep -q 'not found'"
check "hookd --version is $version" bash -c "chroot '$chroot_dir' /usr/bin/hookd --version | grep -q '^hookd $version '"

stat_is() {  # stat_is PATH "MODE USER GROUP"
  local got
  got=$(in_root stat -c '%a %U %G' "$1" 2>/dev/null)
  [[ "$got" == "$2" ]] || { echo "  $1: '$got', want '$2'"; return 1; }
}
check "the hookd system user (no login shell, home /var/lib/hookd)" bash -c "
  line=\$(chroot '$chroot_dir' getent passwd hookd) && IFS=: read -r _ _ uid _ _ home shell <<<\"\$line\" &&
  [[ \$uid -lt 1000 && \$home == /var/lib/hookd && \$shell == /usr/sbin/nologin ]]"
check "/var/lib/hookd is 0750 hookd:hookd" stat_is /var/lib/hookd "750 hookd hookd"
check "/etc/hookd is 0750 root:hookd" stat_is /etc/hookd "750 root hookd"
check "/etc/hookd/hookd.conf is 0640 root:hookd and a conffile" bash -c "
  $(declare -f stat_is in_root); chroot_dir='$chroot_dir'; stat_is /etc/hookd/hookd.conf '640 root hookd' &&
  chroot '$chroot_dir' dpkg-query -W -f='\${Conffiles}' hookd | grep -q '/etc/hookd/hookd.conf'"
check "/etc/hookd/master.key: 64 hex characters, 0640 root:hookd" bash -c "
  $(declare -f stat_is in_root); chroot_dir='$chroot_dir'; stat_is /etc/hookd/master.key '640 root hookd' &&
  grep -qxE '[0-9a-f]{64}' '$chroot_dir/etc/hookd/master.key'"
check "the unit, the man page and the examples are installed" bash -c "
  test -f '$chroot_dir/lib/systemd/system/hookd.service' && test -f '$chroot_dir/usr/share/man/man1/hookd.1.gz' &&
  test -f '$chroot_dir/usr/share/doc/hookd/examples/hookd-alerts.yml' && test -f '$chroot_dir/usr/share/doc/hookd/copyright'"

# hookd serve as the hookd user with the shipped configuration, in a network namespace of
# its own (loopback only): it answers /healthz, /readyz and /metrics, writes the operator
# token to /var/lib/hookd, and a backup of its live database can be taken meanwhile.
serve_check() {  # serve_check LABEL: start, probe, back up, stop (SIGTERM)
  local label=$1 log="$logs/serve-$1.log"
  unshare --net bash -s "$chroot_dir" "$label" >"$log" 2>&1 <<'EOF'
set -u
root=$1; label=$2
ip link set lo up
umask 077  # as hookd.service's UMask=
chroot "$root" env -i PATH=/usr/bin:/bin setpriv --reuid=hookd --regid=hookd --init-groups \
  /usr/bin/hookd serve --config /etc/hookd/hookd.conf >"$root/tmp/serve-$label.log" 2>&1 &
pid=$!
ok=""
for _ in $(seq 1 100); do
  if curl -sf --max-time 2 http://127.0.0.1:8080/healthz >/dev/null; then ok=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
[[ -n "$ok" ]] && echo "healthz: ok"
curl -sf --max-time 5 http://127.0.0.1:8080/readyz >/dev/null && echo "readyz: ok"
curl -sf --max-time 5 http://127.0.0.1:8080/metrics | grep -qx 'hookd_store_up 1' && echo "metrics: ok"
token=$(cat "$root/var/lib/hookd/operator-token" 2>/dev/null)
[[ -n "$token" ]] && curl -sf --max-time 5 -H "Authorization: Bearer $token" http://127.0.0.1:8080/v1/me | grep -q '"role":"operator"' &&
  echo "operator token: ok"
curl -sf --max-time 5 -XPOST -H "Authorization: Bearer $token" http://127.0.0.1:8080/v1/sites \
  -d "{\"id\":\"site-$label\",\"name\":\"package test\"}" >/dev/null && echo "site: ok"
echo "sites: $(curl -sf --max-time 5 -H "Authorization: Bearer $token" http://127.0.0.1:8080/v1/sites | grep -oE '"id":"[^"]+"' | tr '\n' ' ')"
chroot "$root" env -i PATH=/usr/bin:/bin hookd backup --config /etc/hookd/hookd.conf --to "/root/backup-$label.db" &&
  echo "backup: ok"
kill -TERM $pid
for _ in $(seq 1 150); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then kill -KILL $pid; else wait $pid && echo "sigterm: ok"; fi
EOF
  cat "$log"
  for want in healthz readyz metrics "operator token" site backup sigterm; do
    grep -qx "$want: ok" "$log" || { echo "  serve ($label): no '$want: ok'; its log:"; tail -20 "$chroot_dir/tmp/serve-$label.log"; return 1; }
  done
}
echo "== hookd serve --config /etc/hookd/hookd.conf as hookd"
check "hookd serve as hookd with the shipped config answers /healthz, /readyz, /metrics; hookd backup of the live database; SIGTERM stops it" serve_check first
check "the database, the operator token (0600 hookd) and no second master key in /var/lib/hookd" bash -c "
  $(declare -f stat_is in_root); chroot_dir='$chroot_dir'; stat_is /var/lib/hookd/hookd.db '600 hookd hookd' &&
  stat_is /var/lib/hookd/operator-token '600 hookd hookd' && ! test -e '$chroot_dir/var/lib/hookd/master.key' &&
  ! find '$chroot_dir/var/lib/hookd' ! -user hookd | grep -q ."
# What hookd keeps: every file of /var/lib/hookd, the master key, the configuration.
state_sum() { (cd "$chroot_dir" && find var/lib/hookd etc/hookd -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16; }
sum_before=$(state_sum)

echo "== upgrade to $version+test1 (the same files under a higher version)"
up_dir=$(mktemp -d /tmp/hookd-upgrade-XXXXXX)
dpkg-deb -R "$deb" "$up_dir/pkg"
sed -i "s/^Version: .*/Version: $version+test1/" "$up_dir/pkg/DEBIAN/control"
dpkg-deb -b --root-owner-group "$up_dir/pkg" "$chroot_dir/tmp/hookd_upgrade.deb" >/dev/null
rm -rf "$up_dir"
if apt_get install /tmp/hookd_upgrade.deb >"$logs/apt-upgrade.log" 2>&1 &&
   in_root dpkg-query -W -f='${Version}' hookd | grep -qx "$version+test1"; then
  pass "apt-get upgrades the installed package"
else
  tail -20 "$logs/apt-upgrade.log"
  fail "apt-get upgrades the installed package"
fi
check "the upgrade kept the master key, the operator token and the configuration" test "$(state_sum)" == "$sum_before"
check "after the upgrade hookd serve starts on the same database" serve_check upgraded
check "the site created before the upgrade is still there" grep -q '"id":"site-first"' "$logs/serve-upgraded.log"

echo "== apt-get remove, then purge"
apt_get remove hookd >"$logs/apt-remove.log" 2>&1
check "remove: the program is gone" test ! -e "$chroot_dir/usr/bin/hookd"
check "remove: the database, the key and the configuration stay" bash -c "
  test -s '$chroot_dir/var/lib/hookd/hookd.db' && test -s '$chroot_dir/etc/hookd/master.key' && test -s '$chroot_dir/etc/hookd/hookd.conf'"
apt_get purge hookd >"$logs/apt-purge.log" 2>&1
check "purge: /etc/hookd and /var/lib/hookd are gone" bash -c "test ! -e '$chroot_dir/etc/hookd' && test ! -e '$chroot_dir/var/lib/hookd'"
check "purge: the package is not installed and its statoverrides are gone" bash -c "
  ! chroot '$chroot_dir' dpkg-query -W -f='\${Status}' hookd 2>/dev/null | grep -q installed &&
  ! chroot '$chroot_dir' dpkg-statoverride --list | grep -q hookd"
finish
