#!/usr/bin/env bash
# vpnaas against the real reference (Neutron 28.0.2 + neutron-vpnaas 28.0.0) on this machine:
# the same workload through the same program, then vpnaas/reference ratios per operation.
#
#   bench/neutron/run.sh [extra vpnaas-bench options, e.g. --requests 500 --duration 5]
#
# Takes a few minutes (the first time 2 more, to install the reference into a virtualenv
# cached outside the clone). Not part of CI. Results go to $VPNAAS_BENCH_OUT, by default
# bench/neutron/results/: reference.{txt,json}, vpnaas.{txt,json}, compare.txt.
# How the reference is set up, and why: docs/adr/0010-reference-and-keystone-side-by-side.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=.ci/lib.sh
. "$repo/.ci/lib.sh"
out="${VPNAAS_BENCH_OUT:-$here/results}"
mkdir -p "$out"

venv="$("$here/install.sh")"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "vpnaas commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$repo" diff --quiet HEAD 2>/dev/null || echo ' (plus uncommitted changes)')"
  echo "reference: neutron 28.0.2, neutron-vpnaas 28.0.0, neutron-lib 3.25.0 ($venv)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "options: $*"
} >"$out/run-info.txt"

echo "== building vpnaas and vpnaas-bench (release)" >&2
(cd "$repo" && cargo build --release --locked -p vpnaas -p vpnaas-bench >&2)
bin="${CARGO_TARGET_DIR:-$repo/target}/release"
[ -d "$bin" ] || bin="$repo/$bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/vpnaas-bench-neutron.XXXXXX")"
uwsgi_pid=""
cleanup() {
  # Only the uwsgi master this script started; die-on-term makes it take its workers along.
  if [ -n "$uwsgi_pid" ] && kill -0 "$uwsgi_pid" 2>/dev/null; then
    kill -TERM "$uwsgi_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$uwsgi_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$uwsgi_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(free_port)"
cores="$(nproc)"
db="$work/neutron.sqlite"

cat >"$work/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router,vpnaas
auth_strategy = noauth
transport_url = fake:/
api_workers = 1
rpc_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_paste_config = $venv/etc/neutron/api-paste.ini
state_path = $work/state
log_file = $work/neutron.log
debug = false

[database]
connection = sqlite:///$db

[oslo_concurrency]
lock_path = $work/lock

[service_providers]
service_provider = VPN:strongswan:neutron_vpnaas.services.vpn.service_drivers.ipsec.IPsecVPNDriver:default
EOF

cat >"$work/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers =

[ml2_type_flat]
flat_networks = public

[ml2_type_vxlan]
vni_ranges = 1:1000
EOF

echo "== creating the reference's schema with SQLAlchemy (neutron-db-manage cannot ALTER on SQLite)" >&2
"$venv/bin/python" - "$db" <<'EOF' 2>/dev/null
import sys
import sqlalchemy
from neutron.db.migration.models import head  # noqa: F401  (registers neutron's tables)
from neutron_vpnaas.db.models import head as vpn_head  # noqa: F401
from neutron_lib.db import model_base
engine = sqlalchemy.create_engine("sqlite:///" + sys.argv[1])
model_base.BASEV2.metadata.create_all(engine)
print(len(model_base.BASEV2.metadata.tables), "tables", file=sys.stderr)
EOF

# One process per core, one thread each, as the facts file recommends; uwsgi's HTTP router
# drops kept-alive connections, hence Connection: close (as devstack does).
cat >"$work/uwsgi.ini" <<EOF
[uwsgi]
http = 127.0.0.1:$port
module = neutron.wsgi.api:application
virtualenv = $venv
master = true
processes = $cores
threads = 1
lazy-apps = true
die-on-term = true
add-header = Connection: close
buffer-size = 65535
listen = 128
logto = $work/uwsgi.log
disable-logging = true
EOF

echo "== starting the reference on 127.0.0.1:$port ($cores uwsgi processes)" >&2
OS_NEUTRON_CONFIG_DIR="$work" OS_NEUTRON_CONFIG_FILES="$work/neutron.conf;$work/ml2_conf.ini" \
  "$venv/bin/uwsgi" --ini "$work/uwsgi.ini" &
uwsgi_pid=$!
if ! wait_for 120 1 "the reference on 127.0.0.1:$port" "$uwsgi_pid" url_answers "http://127.0.0.1:$port/v2.0/vpn/ikepolicies"; then
  echo "the reference did not start; its log:" >&2
  tail -50 "$work/uwsgi.log" "$work/neutron.log" >&2 || true
  exit 1
fi
# Every uwsgi process (master, HTTP router, workers): their memory is summed.
pids="$uwsgi_pid,$(pgrep -d, -P "$uwsgi_pid")"

common=(--rss-rows 0 --no-ceilings "$@")

echo "== the reference under load" >&2
"$bin/vpnaas-bench" --reference --url "http://127.0.0.1:$port" --pid "$pids" \
  --seed-command "$venv/bin/python $here/clone_rows.py $db" \
  --json "$out/reference.json" "${common[@]}" | tee "$out/reference.txt"

# Stop the reference before vpnaas runs, so that each has the machine to itself.
kill -TERM "$uwsgi_pid" 2>/dev/null || true
wait "$uwsgi_pid" 2>/dev/null || true
uwsgi_pid=""

echo "== vpnaas under the same load" >&2
"$bin/vpnaas-bench" --vpnaas "$bin/vpnaas" --json "$out/vpnaas.json" "${common[@]}" | tee "$out/vpnaas.txt"

echo >&2
"$bin/vpnaas-bench" compare --reference "$out/reference.json" --vpnaas "$out/vpnaas.json" | tee "$out/compare.txt"
