#!/usr/bin/env bash
# Builds the Debian package of vpnaas from a built binary, with dpkg-deb alone (no extra tool):
#   packaging/deb.sh BINARY OUTDIR      e.g. packaging/deb.sh target/release/vpnaas target/deb
# It holds /usr/bin/vpnaas, the two systemd units (their ExecStart on /usr/bin), the example
# configuration as /etc/vpnaas/vpnaas.toml (a conffile: an upgrade keeps the operator's edits),
# and maintainer scripts that create the vpnaas system user and /var/lib/vpnaas. Nothing is
# started: the operator writes /etc/vpnaas/vpnaas.env first (docs/operations.md).
set -euo pipefail
binary=${1:?usage: packaging/deb.sh BINARY OUTDIR}
out=${2:?usage: packaging/deb.sh BINARY OUTDIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# The workspace's version; Debian sorts "~" before anything, so 0.2.0~dev precedes 0.2.0.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1 | tr '-' '~')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -D -m 755 "$binary" "$stage/usr/bin/vpnaas"
install -D -m 644 "$root/packaging/vpnaas.toml" "$stage/etc/vpnaas/vpnaas.toml"
for unit in "$root"/packaging/systemd/*.service; do
  install -D -m 644 "$unit" "$stage/lib/systemd/system/$(basename "$unit")"
  sed -i 's#/usr/local/bin/vpnaas#/usr/bin/vpnaas#' "$stage/lib/systemd/system/$(basename "$unit")"
done
install -D -m 644 "$root/LICENSE" "$stage/usr/share/doc/vpnaas/copyright"
install -D -m 644 "$root/CHANGELOG.md" "$stage/usr/share/doc/vpnaas/CHANGELOG.md"

mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: vpnaas
Version: $version
Architecture: $arch
Maintainer: vpnaas developers <vpnaas@localhost>
Section: net
Priority: optional
Depends: libc6, adduser
Recommends: strongswan-charon, strongswan-swanctl
Installed-Size: $(du -sk "$stage" | cut -f1)
Description: IPsec VPN as a service, wire-compatible with OpenStack Networking's VPNaaS
 The VPNaaS v2.0 API of OpenStack Networking (Neutron), its router and subnet inventory,
 and the gateway agent that drives strongSwan through VICI.
CONTROL
echo /etc/vpnaas/vpnaas.toml > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if ! getent passwd vpnaas >/dev/null; then
    adduser --system --group --home /var/lib/vpnaas --shell /usr/sbin/nologin vpnaas
  fi
  install -d -o vpnaas -g vpnaas -m 700 /var/lib/vpnaas
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # An upgrade restarts a server that runs (it applies the new release's expand steps at start).
    systemctl try-restart vpnaas.service || true
  fi
fi
POSTINST
cat > "$stage/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
# The data (/var/lib/vpnaas: the database and its key) and the user stay, even on purge: the
# key opens every sealed secret, and only the operator may decide to destroy it.
POSTRM
chmod 755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$stage" "$out/vpnaas_${version}_${arch}.deb" >/dev/null
echo "$out/vpnaas_${version}_${arch}.deb"
