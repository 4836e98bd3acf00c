#!/usr/bin/env bash
# A throwaway Keystone on loopback, for tests that need real OpenStack identity.
#   .ci/keystone.sh start DIR          Keystone on a free port, state in DIR; writes DIR/env
#   .ci/keystone.sh register DIR URL   network service `neutron` at URL in the catalog
#   .ci/keystone.sh stop DIR
# The virtualenv (.ci/keystone-requirements.txt) is kept in
# ${VPNAAS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-ci}/venv-keystone and rebuilt when
# that file or the Python version changes. Keystone runs under gunicorn (one process, four
# threads: the token cache is per process) with fernet tokens, the in-memory cache and cheap
# password hashing: test values only.
#
# Its database: KEYSTONE_DATABASE_URL (a SQLAlchemy URL of an empty PostgreSQL database, e.g.
# postgresql+psycopg2://postgres@127.0.0.1:5432/keystone; .ci/run gives it one on its
# cluster), else a SQLite file. SQLite is for a quick start by hand only: when two of
# Keystone's transactions write at once it answers HTTP 500 "database is locked" (measured
# with .ci/keystone-hammer.py: 36 of 1,094 calls), and with one thread to avoid that, logins
# queue behind each other long enough for vpnaas's 3 s Keystone timeout to fire under load.
#
# `start` creates projects demo, other and service and, in domain Default, the users
# demo-member (member on demo), demo-reader (reader on demo), other-member (member on other),
# vpnaas and vpnaas-agent (service on service). DIR/env exports KEYSTONE_URL (no /v3),
# KEYSTONE_ADMIN_PASSWORD, KEYSTONE_PASSWORD (every created user's), the project ids and the
# user names. KEYSTONE_TOKEN_EXPIRATION (seconds, default 3600) sets the tokens' lifetime.
set -euo pipefail

usage() { echo "usage: $0 start DIR | register DIR URL | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/lib.sh
. "$here/lib.sh"
venv="$(cache_root)/venv-keystone"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
say() { echo "keystone.sh: $*"; }

ADMIN_PASSWORD=keystone-admin-test
PASSWORD=keystone-user-test

# The virtualenv (ensure_venv in lib.sh): reused while the hash of the requirements and the
# Python version matches.
keystone_venv() {
  local req="$here/keystone-requirements.txt"
  ensure_venv "$venv" "$(venv_hash "$req")" "$dir/venv.log" "$venv/bin/python" -m pip install --quiet -r "$req" ||
    { say "installing Keystone failed" >&2; exit 1; }
}

write_conf() { # PATH DATABASE-URL
  cat >"$1" <<EOF
[DEFAULT]
use_stderr = true
[database]
connection = $2
[token]
provider = fernet
expiration = ${KEYSTONE_TOKEN_EXPIRATION:-3600}
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-keys
[credential]
key_repository = $dir/credential-keys
[cache]
enabled = true
backend = dogpile.cache.memory
[identity]
password_hash_rounds = 4
EOF
}

# The schema and `keystone-manage bootstrap` (admin user and project, the roles admin,
# manager, member, reader and service, region RegionOne; no endpoints, which name a port) are
# the same every time: made once per virtualenv and copied. Made anew when the admin password
# or the hashing changes.
ensure_template() {
  template="$venv/keystone-template-$(echo "$ADMIN_PASSWORD 4" | sha256sum | cut -c1-12).db"
  [ -s "$template" ] && return 0
  local tmp
  tmp=$(mktemp -d "$venv/template.XXXXXX")
  write_conf "$tmp/keystone.conf" "sqlite:///$tmp/keystone.db"
  manage() { "$venv/bin/keystone-manage" --config-file "$tmp/keystone.conf" "$@" >>"$dir/manage.log" 2>&1; }
  if ! { manage db_sync && manage bootstrap --bootstrap-password "$ADMIN_PASSWORD" \
    --bootstrap-region-id RegionOne; }; then
    cat "$dir/manage.log" >&2
    rm -rf "$tmp"
    say "keystone-manage failed" >&2
    exit 1
  fi
  mv "$tmp/keystone.db" "$template"
  rm -rf "$tmp"
  say "database template made"
}

running() { pid_running "$dir/keystone.pid"; }
# gunicorn's own shutdown takes over 2 s; the state is throwaway, so the whole process group
# (setsid made the master its leader) is killed at once
stop() { stop_pidfile "$dir/keystone.pid" KILL; }

# Talks to Keystone's API as admin with urllib (no openstack CLI needed in this venv).
keystone_py() { "$venv/bin/python" - "$@" <<'EOF'
import json, os, sys, urllib.error, urllib.request

URL = os.environ["KEYSTONE_URL"] + "/v3"

def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["X-Auth-Token"] = token
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw, status, hdrs = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as err:
        raw, status, hdrs = err.read(), err.code, err.headers
    if status not in ok:
        sys.exit(f"{method} {path}: {status} {raw[:500]!r}")
    return (json.loads(raw) if raw else None), hdrs

def admin_token():
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": os.environ["KEYSTONE_ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    _, hdrs = call("POST", "/auth/tokens?nocatalog", body)
    return hdrs["X-Subject-Token"]

def setup(env_path):
    token = admin_token()
    # what bootstrap's --bootstrap-*-url would have made (the database is a port-less template)
    register(os.environ["KEYSTONE_URL"] + "/v3", "identity", "keystone", token)
    roles = {r["name"]: r["id"] for r in call("GET", "/roles", token=token)[0]["roles"]}
    projects = {p["name"]: p["id"] for p in call("GET", "/projects", token=token)[0]["projects"]}
    for name in ("demo", "other", "service"):
        if name not in projects:
            p = call("POST", "/projects", {"project": {"name": name, "domain_id": "default",
                                                        "description": f"test project {name}"}}, token)[0]
            projects[name] = p["project"]["id"]
    users = {}
    for user, project, role in [("demo-member", "demo", "member"), ("demo-reader", "demo", "reader"),
                                ("other-member", "other", "member"), ("vpnaas", "service", "service"),
                                ("vpnaas-agent", "service", "service")]:
        u = call("POST", "/users", {"user": {"name": user, "domain_id": "default", "enabled": True,
                                             "password": os.environ["KEYSTONE_PASSWORD"],
                                             "default_project_id": projects[project]}}, token)[0]
        users[user] = u["user"]["id"]
        call("PUT", f"/projects/{projects[project]}/users/{users[user]}/roles/{roles[role]}", token=token)
    with open(env_path, "a") as f:
        for name in ("demo", "other", "service", "admin"):
            f.write(f"export KEYSTONE_{name.upper()}_PROJECT_ID={projects[name]}\n")

def register(url, kind="network", name="neutron", token=None):
    token = token or admin_token()
    for svc in call("GET", f"/services?type={kind}", token=token)[0]["services"]:
        call("DELETE", f"/services/{svc['id']}", token=token)  # its endpoints go with it
    svc = call("POST", "/services", {"service": {"type": kind, "name": name, "enabled": True}}, token)[0]
    for interface in ("public", "internal", "admin"):
        call("POST", "/endpoints", {"endpoint": {"service_id": svc["service"]["id"], "interface": interface,
                                                 "url": url, "region_id": "RegionOne", "enabled": True}}, token)

{"setup": setup, "register": register}[sys.argv[1]](*sys.argv[2:])
EOF
}

case $cmd in
  start)
    [ $# = 2 ] || usage
    running && { say "already running in $dir (pid $(cat "$dir/keystone.pid"))" >&2; exit 1; }
    started=$(now)
    keystone_venv
    bootstrap_started=$(now)
    port=$(free_port)
    url="http://127.0.0.1:$port"
    rm -rf "$dir/keystone.db" "$dir/fernet-keys" "$dir/credential-keys" "$dir/env" "$dir/keystone.log"
    write_conf "$dir/keystone.conf" "${KEYSTONE_DATABASE_URL:-sqlite:///$dir/keystone.db}"
    # key repositories as `keystone-manage fernet_setup` and `credential_setup` make them
    # (0 staged, 1 primary), without paying for two more imports of keystone
    "$venv/bin/python" - "$dir/fernet-keys" "$dir/credential-keys" <<'EOF'
import os, sys
from cryptography.fernet import Fernet
for repo in sys.argv[1:]:
    os.makedirs(repo, mode=0o700)
    for name in ("0", "1"):
        fd = os.open(os.path.join(repo, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, Fernet.generate_key())
        os.close(fd)
EOF
    if [ -n "${KEYSTONE_DATABASE_URL:-}" ]; then
      # the schema and `bootstrap` straight into the (empty) database: about 4 s
      if ! { "$venv/bin/keystone-manage" --config-file "$dir/keystone.conf" db_sync &&
        "$venv/bin/keystone-manage" --config-file "$dir/keystone.conf" bootstrap \
          --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-region-id RegionOne; } >>"$dir/manage.log" 2>&1; then
        tail -n 40 "$dir/manage.log" >&2
        say "keystone-manage failed on KEYSTONE_DATABASE_URL" >&2
        exit 1
      fi
    else
      ensure_template
      cp "$template" "$dir/keystone.db"
    fi
    # keystone parses the command line it runs in: gunicorn's would not do
    cat >"$dir/keystone_wsgi.py" <<'EOF'
import sys
sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
EOF
    say "database and keys ready in $(since "$bootstrap_started") s"

    serve_started=$(now)
    OS_KEYSTONE_CONFIG_DIR="$dir" setsid "$venv/bin/gunicorn" --bind "127.0.0.1:$port" \
      --workers 1 --threads 4 --worker-class gthread --timeout 120 --chdir "$dir" \
      --pythonpath "$dir" keystone_wsgi:application </dev/null >"$dir/keystone.log" 2>&1 &
    echo $! >"$dir/keystone.pid"
    # up once /v3 answers; gives up after 60 s or when gunicorn exits
    if ! wait_for 60 0.1 "Keystone on $url/v3" "$(cat "$dir/keystone.pid")" url_answers "$url/v3"; then
      tail -n 80 "$dir/keystone.log" >&2
      stop
      say "Keystone did not answer on $url/v3" >&2
      exit 1
    fi
    say "serving on $url after $(since "$serve_started") s"

    cat >"$dir/env" <<EOF
export KEYSTONE_URL=$url
export KEYSTONE_ADMIN_USERNAME=admin
export KEYSTONE_ADMIN_PASSWORD=$ADMIN_PASSWORD
export KEYSTONE_PASSWORD=$PASSWORD
export KEYSTONE_DEMO_MEMBER=demo-member
export KEYSTONE_DEMO_READER=demo-reader
export KEYSTONE_OTHER_MEMBER=other-member
export KEYSTONE_SERVICE_USERNAME=vpnaas
export KEYSTONE_AGENT_USERNAME=vpnaas-agent
export KEYSTONE_CONFIG=$dir/keystone.conf
export KEYSTONE_LOG=$dir/keystone.log
EOF
    setup_started=$(now)
    if ! KEYSTONE_URL=$url KEYSTONE_ADMIN_PASSWORD=$ADMIN_PASSWORD KEYSTONE_PASSWORD=$PASSWORD \
      keystone_py setup "$dir/env"; then
      tail -n 40 "$dir/keystone.log" >&2
      stop
      rm -f "$dir/env"
      exit 1
    fi
    say "projects and users created in $(since "$setup_started") s"
    say "ready in $(since "$started") s; source $dir/env"
    ;;
  register)
    [ $# = 3 ] || usage
    [ -f "$dir/env" ] || { say "no $dir/env: start Keystone first" >&2; exit 1; }
    # shellcheck disable=SC1091
    (source "$dir/env" && keystone_py register "$3")
    say "catalog: network (neutron) at $3"
    ;;
  stop)
    [ $# = 2 ] || usage
    stop
    ;;
  *) usage ;;
esac
