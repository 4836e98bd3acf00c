#!/usr/bin/env bash
# libreswan's own parsers for the peer configuration tests (ADR 0019): `addconn --checkconfig`
# (ipsec.conf syntax) and `algparse` (proposals). Debian's libreswan conflicts with strongSwan
# (both ship `ipsec` and declare ike-server), so the package is downloaded and extracted into
# a cache directory, never installed. The two tools need only libraries strongSwan's machine
# already has. Prints the directory to give the tests as VPNAAS_TEST_LIBRESWAN.
set -euo pipefail
dir="${VPNAAS_TEST_LIBRESWAN:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-libreswan}"
tools="$dir/usr/libexec/ipsec"
have() { "$tools/algparse" -v2 'ike=aes256-sha2_256;modp2048' >/dev/null 2>&1 && [ -x "$tools/addconn" ]; }
if ! have; then
  mkdir -p "$dir"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # apt-get download drops root to _apt, which must be able to write the directory.
  chmod 755 "$work"
  (cd "$work" && apt-get download libreswan >/dev/null 2>&1) || {
    apt-get update -qq && (cd "$work" && apt-get download libreswan >/dev/null)
  }
  dpkg-deb -x "$work"/libreswan_*.deb "$dir"
  have || { echo "libreswan.sh: extracted, but algparse/addconn do not run (missing libraries?)" >&2; exit 1; }
fi
echo "$dir"
