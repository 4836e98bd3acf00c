#!/usr/bin/env bash
# vpnaas beside a real Neutron, through one endpoint, under upstream's test suite (ADR 0022):
#
#   .ci/tempest.sh VPNAAS_BINARY KEYSTONE_ENV
#
# KEYSTONE_ENV is the env file of `.ci/keystone.sh start DIR`. Starts Neutron 28.0.2
# (.ci/neutron.sh), vpnaas with topology = "neutron" in keystone mode, and HAProxy in front of
# both (.ci/proxy.sh); registers the proxy in the Keystone catalog as the `network` service
# (public and admin interfaces) and Neutron itself as its internal interface, where vpnaas
# finds it. Then neutron-tempest-plugin 3.3.0 with tempest 47.0.0 (a virtualenv cached in
# venv-tempest under the CI cache, cache_root in .ci/lib.sh) runs its VPNaaS API tests, unmodified:
#   tempest run --serial --regex '^neutron_tempest_plugin\.vpnaas\.api'
# (the 34 API tests; the 4 scenario tests boot Nova servers and are out of scope). The last
# line is `tempest: N passed, M failed`; the exit code is non-zero when any test fails.
# Then .ci/neutron-cli.sh drives the openstack CLI through the proxy (its own `clients:` line;
# VPNAAS_CI_NEUTRON_CLI=0 leaves it out: 22 CLI runs, 2 to 4 minutes on a loaded machine).
# VPNAAS_TEMPEST_REGEX runs other tests (e.g. one, when trying a change by hand).
# VPNAAS_TEMPEST_MARIADB (an admin URL, `mysql://user:pw@host:port`) puts Neutron's database and
# vpnaas's, each its own, on that MariaDB server, as a cloud would have them (ADR 0031).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/lib.sh
. "$here/lib.sh"
[ $# = 2 ] || { echo "usage: $0 VPNAAS_BINARY KEYSTONE_ENV" >&2; exit 2; }
binary=$1
case "$binary" in /*) ;; *) binary="$PWD/$binary" ;; esac
# shellcheck disable=SC1090
source "$2"
venv="$(cache_root)/venv-tempest"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
say() { echo "tempest.sh: $*"; }
started=$(now)

work="$(mktemp -d "${TMPDIR:-/tmp}/vpnaas-tempest.XXXXXX")"
vpnaas_pid=""
cleanup() {
  bash "$here/proxy.sh" stop "$work/proxy" >/dev/null 2>&1 || true
  bash "$here/neutron.sh" stop "$work/neutron" >/dev/null 2>&1 || true
  if [ -n "$vpnaas_pid" ] && kill -0 "$vpnaas_pid" 2>/dev/null; then
    kill "$vpnaas_pid" 2>/dev/null || true
    wait "$vpnaas_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "tempest.sh: $*" >&2
  for f in "$work/vpnaas.log" "$work/neutron/neutron.log" "$work/proxy/haproxy.log"; do
    [ -f "$f" ] && { echo "--- tail of $f" >&2; tail -n 40 "$f" >&2; }
  done
  echo "tempest: 0 passed, 1 failed"
  exit 1
}

# ---- tempest and the plugin, pinned (the stamp names the pins and the Python version)
want="tempest==47.0.0 neutron-tempest-plugin==3.3.0 $("${PYTHON:-python3}" -c 'import sys; print(sys.version)')"
ensure_venv --stamp .installed "$venv" "$want" "$work/pip.log" \
  "$venv/bin/pip" install --quiet tempest==47.0.0 neutron-tempest-plugin==3.3.0 || fail "pip install failed"
say "tempest ready after $(since "$started") s"

# ---- Neutron, vpnaas, the proxy
if [ -n "${VPNAAS_TEMPEST_MARIADB:-}" ]; then
  server=${VPNAAS_TEMPEST_MARIADB#mysql://}
  creds=${server%@*} hostport=${server#*@}
  mariadb -h "${hostport%:*}" -P "${hostport#*:}" -u "${creds%%:*}" -p"${creds#*:}" -e "
    DROP DATABASE IF EXISTS neutron_tempest; CREATE DATABASE neutron_tempest CHARACTER SET utf8mb4;
    DROP DATABASE IF EXISTS vpnaas_tempest;
    CREATE DATABASE vpnaas_tempest CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;" || fail "could not make the databases"
  export NEUTRON_DATABASE_URL="mysql+pymysql://$creds@$hostport/neutron_tempest?charset=utf8mb4"
  export VPNAAS_DATABASE_URL="mysql://$creds@$hostport/vpnaas_tempest" VPNAAS_PSK_KEY_FILE="$work/psk.key"
  VPNAAS_DATA_DIR="$work/data" "$binary" rotate-key >/dev/null || fail "could not make the key file"
  say "Neutron and vpnaas each in their own database on MariaDB $hostport"
fi
bash "$here/neutron.sh" start "$work/neutron" || fail "Neutron did not start"
# shellcheck disable=SC1091
source "$work/neutron/env"
port=$(free_port)
# No neutron_url: vpnaas finds Neutron as the catalog's internal network endpoint.
VPNAAS_LISTEN="127.0.0.1:$port" VPNAAS_DATA_DIR="$work/data" VPNAAS_AUTH_STRATEGY=keystone \
  VPNAAS_KEYSTONE_URL="$KEYSTONE_URL" VPNAAS_KEYSTONE_USERNAME="$KEYSTONE_SERVICE_USERNAME" \
  VPNAAS_KEYSTONE_PASSWORD="$KEYSTONE_PASSWORD" VPNAAS_TOPOLOGY=neutron VPNAAS_NEUTRON_CACHE_SECS=2 \
  "$binary" serve >"$work/vpnaas.log" 2>&1 &
vpnaas_pid=$!
wait_for 10 0.1 "vpnaas on http://127.0.0.1:$port/healthz" "$vpnaas_pid" url_answers "http://127.0.0.1:$port/healthz" 2 ||
  fail "vpnaas did not start"
bash "$here/proxy.sh" start "$work/proxy" "http://127.0.0.1:$port" "$NEUTRON_URL" || fail "HAProxy did not start"
# shellcheck disable=SC1091
source "$work/proxy/env"

# ---- the catalog: the proxy for users, Neutron itself for vpnaas
python3 - "$PROXY_URL" "$NEUTRON_URL" <<'EOF' || fail "could not register the network service"
import json, os, sys, urllib.request
URL = os.environ["KEYSTONE_URL"] + "/v3"
def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode() if body else None,
                                 headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return (json.loads(r.read() or b"null")), r.headers
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
        "domain": {"id": "default"}, "password": os.environ["KEYSTONE_ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
token = call("POST", "/auth/tokens?nocatalog", auth)[1]["X-Subject-Token"]
for svc in call("GET", "/services?type=network", token=token)[0]["services"]:
    call("DELETE", f"/services/{svc['id']}", token=token)
svc = call("POST", "/services", {"service": {"type": "network", "name": "neutron", "enabled": True}}, token)[0]
for interface, url in (("public", sys.argv[1]), ("admin", sys.argv[1]), ("internal", sys.argv[2])):
    call("POST", "/endpoints", {"endpoint": {"service_id": svc["service"]["id"], "interface": interface,
                                             "url": url, "region_id": "RegionOne", "enabled": True}}, token)
EOF
say "catalog: network public/admin $PROXY_URL, internal $NEUTRON_URL; vpnaas on 127.0.0.1:$port"

# ---- tempest's workspace and configuration
mkdir -p "$work/tempest/etc"
# what `tempest init` writes, without registering a workspace in ~/.tempest
discover=$("$venv/bin/python" -c 'import os, tempest.test_discover as t; print(os.path.dirname(t.__file__))')
printf '[DEFAULT]\ntest_path=%s\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' "$discover" "$(dirname "$discover")" >"$work/tempest/.stestr.conf"
cat >"$work/tempest/etc/tempest.conf" <<EOF
[DEFAULT]
log_dir = $work/tempest
log_file = tempest.log

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = $KEYSTONE_ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default

[identity]
uri_v3 = $KEYSTONE_URL/v3
auth_version = v3
region = RegionOne

[identity-feature-enabled]
api_v2 = false

[service_available]
neutron = true
nova = false
glance = false
cinder = false
swift = false

[network]
public_network_id = $NEUTRON_PUBLIC_NETWORK_ID
project_network_cidr = 10.100.0.0/16
project_network_mask_bits = 28
project_networks_reachable = false
endpoint_type = publicURL

[network-feature-enabled]
api_extensions = router,external-net,ext-gw-mode,extraroute,project-id,vpnaas,vpn-endpoint-groups
ipv6 = false
EOF
cd "$work/tempest"
export TEMPEST_CONFIG_DIR="$work/tempest/etc" TEMPEST_CONFIG=tempest.conf
run_started=$(now)
set +e
"$venv/bin/tempest" run --serial --regex "${VPNAAS_TEMPEST_REGEX:-^neutron_tempest_plugin\.vpnaas\.api}" >"$work/tempest/run.log" 2>&1
rc=$?
set -e
grep -E '^\{[0-9]+\} .* \.\.\. (FAILED|SKIPPED)' "$work/tempest/run.log" || true
sed -n '/^Totals$/,/^Worker Balance/p' "$work/tempest/run.log"
passed=$(sed -n 's/^ - Passed: \([0-9]*\)$/\1/p' "$work/tempest/run.log" | tail -1)
failed=$(sed -n 's/^ - Failed: \([0-9]*\)$/\1/p' "$work/tempest/run.log" | tail -1)
skipped=$(sed -n 's/^ - Skipped: \([0-9]*\)$/\1/p' "$work/tempest/run.log" | tail -1)
if [ -z "$passed" ]; then
  tail -n 60 "$work/tempest/run.log" >&2
  fail "tempest run did not report totals"
fi
if [ "${failed:-0}" != 0 ] || [ "$rc" != 0 ]; then
  # tracebacks of the failures, and the servers' last words
  sed -n '/^Captured traceback:/,/^$/p' "$work/tempest/run.log" | head -n 200 >&2
  tail -n 30 "$work/vpnaas.log" >&2
fi
say "tempest run took $(since "$run_started") s"
# The openstack CLI workflow through the same endpoint, as a project member.
cli_started=$(now)
cli=0
if [ "${VPNAAS_CI_NEUTRON_CLI:-1}" != 0 ]; then
  bash "$here/neutron-cli.sh" || cli=$?
fi
say "CLI workflow took $(since "$cli_started") s; everything $(since "$started") s"
echo "tempest: ${passed:-0} passed, ${failed:-0} failed${skipped:+, $skipped skipped}"
[ "${failed:-0}" = 0 ] && [ "$rc" = 0 ] && [ "$cli" = 0 ]
