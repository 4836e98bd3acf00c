#!/usr/bin/env bash
# The Debian package, installed and served from (root): builds it from BINARY with
# packaging/deb.sh, installs it with dpkg -i, starts the server as the package's vpnaas user on
# the installed configuration and data directory, creates a resource through it, stops it on
# SIGTERM, reinstalls the package over an edited configuration (an upgrade keeps it), and
# removes the package (the data stays).
#   .ci/package.sh BINARY
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
binary=$(vpnaas_binary "${1:-}")
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# It removes what it installs, data included: on a machine with a vpnaas server's package,
# configuration, user or data already there, it stops. /var/lib/vpnaas itself may exist: an
# agent run with its defaults keeps its charons in /var/lib/vpnaas/charons.
if dpkg -s vpnaas >/dev/null 2>&1 || [ -e /etc/vpnaas ] || getent passwd vpnaas >/dev/null ||
  [ -e /var/lib/vpnaas/vpnaas.db ] || [ -e /var/lib/vpnaas/psk.key ]; then
  echo "package.sh: a vpnaas server is on this machine already (package, /etc/vpnaas, user or data); this check needs a machine without one" >&2
  exit 1
fi
# The state directory as it was (the package makes it the vpnaas user's, mode 700).
before=$(stat -c '%u:%g %a' /var/lib/vpnaas 2>/dev/null || true)
cleanup() {
  stop_pidfile "$work/pid" KILL
  dpkg --purge vpnaas >/dev/null 2>&1 || true
  rm -rf "$work" /etc/vpnaas /var/lib/vpnaas/vpnaas.db /var/lib/vpnaas/vpnaas.db-wal /var/lib/vpnaas/vpnaas.db-shm \
    /var/lib/vpnaas/psk.key
  if [ -z "$before" ]; then
    rm -rf /var/lib/vpnaas
  elif [ -d /var/lib/vpnaas ]; then
    chown "${before% *}" /var/lib/vpnaas && chmod "${before#* }" /var/lib/vpnaas
  fi
  if getent passwd vpnaas >/dev/null; then deluser --quiet --system vpnaas >/dev/null 2>&1 || true; fi
  if getent group vpnaas >/dev/null; then delgroup --quiet --system vpnaas >/dev/null 2>&1 || true; fi
}
work=$(mktemp -d)
log="$work/server.log"
trap cleanup EXIT

deb=$(bash "$root/packaging/deb.sh" "$binary" "$work")
echo "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"
dpkg -i "$deb" >/dev/null
getent passwd vpnaas >/dev/null || { echo "package.sh: no vpnaas user after install" >&2; exit 1; }
[ "$(stat -c %U:%a /var/lib/vpnaas)" = vpnaas:700 ] || { echo "package.sh: /var/lib/vpnaas: $(stat -c %U:%a /var/lib/vpnaas)" >&2; exit 1; }
grep -q '^ExecStart=/usr/bin/vpnaas serve --config /etc/vpnaas/vpnaas.toml' /lib/systemd/system/vpnaas.service
/usr/bin/vpnaas --version

serve() {
  : >"$log"
  # As the unit runs it, but on a free port (the unit's address may be taken on this machine).
  setsid runuser -u vpnaas -- /usr/bin/vpnaas serve --config /etc/vpnaas/vpnaas.toml --listen 127.0.0.1:0 \
    >"$log" 2>&1 &
  echo $! >"$work/pid"
  listening_url "$log" "$(cat "$work/pid")" || { cat "$log" >&2; exit 1; }
}
url=$(serve)
code=$("${PYTHON:-python3}" - "$url" <<'PY'
import json, sys, urllib.request
body = json.dumps({"ikepolicy": {"name": "from-the-package"}}).encode()
req = urllib.request.Request(sys.argv[1] + "/v2.0/vpn/ikepolicies", body, {"X-Project-Id": "p1", "Content-Type": "application/json"})
print(urllib.request.urlopen(req, timeout=10).status)
PY
)
[ "$code" = 201 ] || { echo "package.sh: create answered $code" >&2; exit 1; }
[ "$(stat -c %U /var/lib/vpnaas/vpnaas.db)" = vpnaas ] || { echo "package.sh: the database is not the vpnaas user's" >&2; exit 1; }
stop_pidfile "$work/pid" TERM
grep -q 'stopped' "$log" || { echo "package.sh: no stop line in the server's log:" >&2; cat "$log" >&2; exit 1; }

# An upgrade (here the same package again) keeps the operator's configuration and the data.
echo '# edited by the operator' >>/etc/vpnaas/vpnaas.toml
dpkg -i "$deb" >/dev/null
grep -q '^# edited by the operator' /etc/vpnaas/vpnaas.toml || { echo "package.sh: the upgrade replaced the configuration" >&2; exit 1; }
url=$(serve)
"${PYTHON:-python3}" - "$url" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v2.0/vpn/ikepolicies?name=from-the-package", headers={"X-Project-Id": "p1"})
names = [p["name"] for p in json.load(urllib.request.urlopen(req, timeout=10))["ikepolicies"]]
assert names == ["from-the-package"], names
PY
stop_pidfile "$work/pid" TERM

dpkg -r vpnaas >/dev/null
[ ! -e /usr/bin/vpnaas ] && [ -s /var/lib/vpnaas/vpnaas.db ] || { echo "package.sh: remove took the data or left the binary" >&2; exit 1; }
echo "package: installed, served from /etc/vpnaas and /var/lib/vpnaas as user vpnaas, upgraded over an edited configuration, removed with the data kept"
