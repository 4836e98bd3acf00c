#!/usr/bin/env bash
# strongSwan for the gateway agent's tests (crates/vpnaas-agent/tests/charon.rs): charon,
# swanctl and kernel-libipsec (the kernels we run on have no ESP; see docs/adr/0007-two-site-strongswan-lab.md).
# Installs Debian's packages only when something is missing, so a warm machine pays nothing.
set -euo pipefail
charon=/usr/lib/ipsec/charon
libipsec=/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so
have() { [ -x "$charon" ] && [ -e "$libipsec" ] && command -v swanctl >/dev/null && command -v ip >/dev/null \
  && command -v ping >/dev/null; }
if have; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "strongswan.sh: installing strongSwan needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  strongswan-charon strongswan-swanctl libcharon-extra-plugins iproute2 iputils-ping >/dev/null
# Debian starts the packaged charon-systemd/strongswan service where systemd runs; the tests
# run their own charons and need none, but we leave a running service alone (not ours).
have || { echo "strongswan.sh: packages installed but charon, swanctl or kernel-libipsec is still missing" >&2; exit 1; }
echo "strongswan.sh: $($charon --version 2>/dev/null || echo charon) installed"
