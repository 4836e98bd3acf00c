#!/usr/bin/env bash
# A throwaway Neutron 28.0.2 on loopback, Keystone-authenticated, without any VPN plugin of its
# own: the source of routers and subnets for vpnaas's neutron topology (ADR 0022).
#   .ci/neutron.sh start DIR    needs a Keystone's env sourced (.ci/keystone.sh start KSDIR)
#   .ci/neutron.sh stop DIR
# The virtualenv is the benchmark's (bench/neutron/install.sh: neutron 28.0.2 and neutron-lib
# 3.25.0 from PyPI, cached outside the clone); neutron-vpnaas is installed there but not loaded.
# Neutron runs under uwsgi (one process: its SQLite database takes one writer), ML2 with flat
# and VXLAN types and no mechanism driver (ports exist but are not bound: no agents run), the L3
# router plugin, and a flat external network `public` (172.24.4.0/24) made as admin.
# NEUTRON_DATABASE_URL (SQLAlchemy's, `mysql+pymysql://user:pw@host:port/db`) puts its database
# on a MariaDB server instead of SQLite (PyMySQL is added to the virtualenv then).
# `start` gives the Keystone user `neutron` (admin on project service) for keystonemiddleware,
# gives vpnaas's service user the admin role on project service so that it reads every
# project's routers, subnets and ports, and writes DIR/env: NEUTRON_URL, NEUTRON_PUBLIC_NETWORK_ID.
set -euo pipefail

usage() { echo "usage: $0 start DIR | stop DIR" >&2; exit 2; }
[ $# = 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=.ci/lib.sh
. "$root/.ci/lib.sh"
say() { echo "neutron.sh: $*"; }

running() { pid_running "$dir/neutron.pid"; }
# setsid made the uwsgi master a group leader: its workers go with it
stop() { stop_pidfile "$dir/neutron.pid" KILL; }

case $cmd in
  start)
    : "${KEYSTONE_URL:?source a Keystone env first (.ci/keystone.sh start DIR; source DIR/env)}"
    running && { say "already running in $dir" >&2; exit 1; }
    started=$(now)
    venv="$(bash "$root/bench/neutron/install.sh")"
    say "virtualenv $venv ready in $(since "$started") s"
    port=$(free_port)
    rm -rf "$dir/state" "$dir/lock" "$dir/neutron.sqlite" "$dir/env" "$dir"/*.log
    database="${NEUTRON_DATABASE_URL:-sqlite:///$dir/neutron.sqlite}"
    case $database in
      mysql*) "$venv/bin/python" -c 'import pymysql' 2>/dev/null ||
        "$venv/bin/pip" install --quiet --disable-pip-version-check PyMySQL==1.1.1 ;;
    esac
    mkdir -p "$dir/state" "$dir/lock"

    # the Keystone side: a user for keystonemiddleware, vpnaas's service user made admin
    "$venv/bin/python" - <<'EOF'
import json, os, urllib.error, urllib.request
URL = os.environ["KEYSTONE_URL"] + "/v3"
def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    req = urllib.request.Request(URL + path, data=json.dumps(body).encode() if body else None,
                                 headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    if status not in ok:
        raise SystemExit(f"{method} {path}: {status} {raw[:300]!r}")
    return (json.loads(raw) if raw else None), hdrs
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
        "domain": {"id": "default"}, "password": os.environ["KEYSTONE_ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
token = call("POST", "/auth/tokens?nocatalog", auth)[1]["X-Subject-Token"]
roles = {r["name"]: r["id"] for r in call("GET", "/roles", token=token)[0]["roles"]}
service = call("GET", "/projects?name=service", token=token)[0]["projects"][0]["id"]
users = {u["name"]: u["id"] for u in call("GET", "/users", token=token)[0]["users"]}
if "neutron" not in users:
    users["neutron"] = call("POST", "/users", {"user": {"name": "neutron", "domain_id": "default", "enabled": True,
                             "password": os.environ["KEYSTONE_PASSWORD"]}}, token)[0]["user"]["id"]
for user in ("neutron", os.environ.get("KEYSTONE_SERVICE_USERNAME", "vpnaas")):
    for role in ("admin", "service"):
        call("PUT", f"/projects/{service}/users/{users[user]}/roles/{roles[role]}", token=token)
EOF

    cat >"$dir/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router
auth_strategy = keystone
transport_url = fake:/
api_workers = 1
rpc_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_paste_config = $venv/etc/neutron/api-paste.ini
state_path = $dir/state
log_file = $dir/neutron.log
debug = false
allow_overlapping_ips = true

[database]
connection = $database

[oslo_concurrency]
lock_path = $dir/lock

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
username = neutron
password = $KEYSTONE_PASSWORD
user_domain_name = Default
project_name = service
project_domain_name = Default
service_token_roles_required = true
memcached_servers =

[nova]
auth_url = $KEYSTONE_URL
auth_type = password
username = neutron
password = $KEYSTONE_PASSWORD
user_domain_name = Default
project_name = service
project_domain_name = Default
EOF
    cat >"$dir/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vxlan
tenant_network_types = vxlan
mechanism_drivers =
extension_drivers = port_security

[ml2_type_flat]
flat_networks = public

[ml2_type_vxlan]
vni_ranges = 1:10000
EOF
    # neutron-db-manage cannot ALTER on SQLite: the schema from the models, as the benchmark does
    # (on MariaDB too, so that both start from the same schema)
    "$venv/bin/python" - "$database" <<'EOF' 2>>"$dir/schema.log"
import sys
import sqlalchemy
from neutron.db.migration.models import head  # noqa: F401  (registers neutron's tables)
from neutron_lib.db import model_base
engine = sqlalchemy.create_engine(sys.argv[1])
model_base.BASEV2.metadata.create_all(engine)
EOF
    cat >"$dir/uwsgi.ini" <<EOF
[uwsgi]
http = 127.0.0.1:$port
module = neutron.wsgi.api:application
virtualenv = $venv
master = true
processes = 1
threads = 1
lazy-apps = true
die-on-term = true
add-header = Connection: close
buffer-size = 65535
logto = $dir/uwsgi.log
disable-logging = true
EOF
    serve_started=$(now)
    OS_NEUTRON_CONFIG_DIR="$dir" OS_NEUTRON_CONFIG_FILES="$dir/neutron.conf;$dir/ml2_conf.ini" \
      setsid "$venv/bin/uwsgi" --ini "$dir/uwsgi.ini" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/neutron.pid"
    # up once / answers (the versions document needs no token); 120 s at most
    if ! wait_for 120 0.2 "Neutron on http://127.0.0.1:$port/" "$(cat "$dir/neutron.pid")" url_answers "http://127.0.0.1:$port/"; then
      tail -n 60 "$dir/uwsgi.log" "$dir/neutron.log" >&2 2>/dev/null || true
      stop
      say "Neutron did not answer on 127.0.0.1:$port" >&2
      exit 1
    fi
    say "serving on http://127.0.0.1:$port after $(since "$serve_started") s"

    # the external network, as admin through Neutron's API
    public=$(NEUTRON_URL="http://127.0.0.1:$port" "$venv/bin/python" - <<'EOF'
import json, os, urllib.request
def call(url, method, path, body=None, token=None, want=(200, 201)):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else None,
                                 headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null"), r.headers
auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
        "domain": {"id": "default"}, "password": os.environ["KEYSTONE_ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
token = call(os.environ["KEYSTONE_URL"] + "/v3", "POST", "/auth/tokens?nocatalog", auth)[1]["X-Subject-Token"]
n = os.environ["NEUTRON_URL"]
net = call(n, "POST", "/v2.0/networks", {"network": {"name": "public", "router:external": True,
      "provider:network_type": "flat", "provider:physical_network": "public", "shared": False}}, token)[0]["network"]
call(n, "POST", "/v2.0/subnets", {"subnet": {"name": "public-v4", "network_id": net["id"], "ip_version": 4,
     "cidr": "172.24.4.0/24", "gateway_ip": "172.24.4.1", "enable_dhcp": False}}, token)
print(net["id"])
EOF
    )
    cat >"$dir/env" <<EOF
export NEUTRON_URL=http://127.0.0.1:$port
export NEUTRON_PUBLIC_NETWORK_ID=$public
export NEUTRON_LOG=$dir/neutron.log
EOF
    say "external network public ($public); ready in $(since "$started") s; source $dir/env"
    ;;
  stop)
    stop
    ;;
  *) usage ;;
esac
