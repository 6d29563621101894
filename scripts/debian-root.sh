# shellcheck shell=bash
# A minimal Debian 12 (bookworm) root made by debootstrap, cached as a tar, and set up to use
# this machine's Debian mirror and apt proxy. Shared by scripts/fresh-debian.sh and
# tests/package/package_test.sh: source it (it only defines functions and debian_suite).
# Root only (debootstrap). The functions never exit; each returns a status.
#
#   debian_root_mirrors               sets mirror and security_mirror (the first bookworm and
#                                     bookworm-security sources of this machine's apt, "-" when
#                                     there is none) and proxy (apt's Acquire::http::Proxy, or
#                                     empty; when set, exported as http_proxy)
#   debian_root_cached TARBALL        true when TARBALL exists and is younger than 30 days
#   debian_root_debootstrap CACHE TARBALL
#                                     debootstrap --variant=minbase into a temporary folder (its
#                                     .debs kept in CACHE/debootstrap, its log CACHE/debootstrap.log),
#                                     then TARBALL; on failure prints the log's last lines and
#                                     returns 1. Needs debian_root_mirrors first.
#   debian_root_configure DIR         in the root DIR: /etc/apt/sources.list (bookworm, -updates,
#                                     -security), the apt proxy, and policy-rc.d (no service is
#                                     started by a maintainer script, as in Debian's container
#                                     images). Needs debian_root_mirrors first.
#   debian_root_local_cas DIR         copies this machine's local CA certificates
#                                     (/usr/local/share/ca-certificates/*.crt) into DIR's: where
#                                     HTTPS goes through a re-signing proxy, ca-certificates, once
#                                     installed in the root, trusts them as this machine does.

debian_suite=bookworm

debian_root_mirrors() {
  read -r mirror security_mirror < <(python3 - <<'EOF'
import glob, re
mirror, security = "", ""
def consider(uri, suites):
    global mirror, security
    for s in suites:
        if s == "bookworm" and not mirror: mirror = uri
        if s == "bookworm-security" and not security: security = uri
for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
    try: lines = open(f).read().splitlines()
    except OSError: continue
    for l in lines:
        m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", l)
        if m: consider(m.group(1), [m.group(2)])
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in open(f).read().split("\n\n"):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
        if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
            for uri in fields.get("URIs", "").split(): consider(uri, fields.get("Suites", "").split())
print(mirror or "-", security or "-")
EOF
)
  proxy=$(apt-config dump Acquire::http::Proxy 2>/dev/null | sed -nE 's/^Acquire::http::Proxy "(.*)";$/\1/p')
  if [[ -n "$proxy" ]]; then export http_proxy=$proxy; fi
  return 0
}

debian_root_cached() {
  [[ -f "$1" ]] && [[ -n $(find "$1" -mtime -30) ]]
}

debian_root_debootstrap() {
  local cache=$1 tarball=$2 boot rc=0
  mkdir -p "$cache/debootstrap"
  boot=$(mktemp -d /tmp/hookd-debootstrap-XXXXXX)
  if timeout 900 debootstrap --variant=minbase --cache-dir="$cache/debootstrap" "$debian_suite" "$boot" "$mirror" \
       >"$cache/debootstrap.log" 2>&1; then
    chmod 755 "$boot"  # mktemp made it 0700: the root of a system is 0755
    tar -C "$boot" -cf "$tarball.new" . && mv "$tarball.new" "$tarball" || rc=1
  else
    tail -20 "$cache/debootstrap.log"
    rc=1
  fi
  umount "$boot/proc" "$boot/sys" 2>/dev/null || true
  grep -q " $boot" /proc/mounts || rm -rf "$boot"
  return $rc
}

debian_root_configure() {
  local dir=$1
  {
    echo "deb $mirror $debian_suite main"
    echo "deb $mirror $debian_suite-updates main"
    if [[ "$security_mirror" != "-" ]]; then echo "deb $security_mirror $debian_suite-security main"; fi
  } >"$dir/etc/apt/sources.list"
  if [[ -n "$proxy" ]]; then echo "Acquire::http::Proxy \"$proxy\";" >"$dir/etc/apt/apt.conf.d/01proxy"; fi
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
  chmod 755 "$dir/usr/sbin/policy-rc.d"
}

debian_root_local_cas() {
  local dir=$1
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$dir/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
  fi
}
