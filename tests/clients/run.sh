#!/usr/bin/env bash
# Client conformance suite: drives the real vpnaas server with unmodified OpenStack clients.
#
#   tests/clients/run.sh [PATH_TO_vpnaas_BINARY]
#
# Without an argument the server is built with cargo (honouring CARGO_TARGET_DIR). Two
# virtualenvs are kept in ${VPNAAS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-ci}:
# venv-new (newest python-openstackclient + openstacksdk) and venv-old (OSC 7.5.0 +
# python-neutronclient 11.8.0); each is rebuilt when its requirements file changes. One server
# on a free loopback port with a fresh data directory serves both runs, which use distinct
# names and run at the same time:
#   new: test_cli.py (newest CLI) and test_sdk.py (openstacksdk as a library)
#   old: test_cli.py (old CLI pair, with --dpd and --lifetime)
# With VPNAAS_CLIENTS_KEYSTONE_ENV=DIR/env (the env file of `.ci/keystone.sh start DIR`) a
# second server runs in keystone mode, and a third run at the same time drives it:
#   keystone: test_cli.py and test_sdk.py with the new set, logging in with passwords
#   (demo-member in project demo; admin for the admin steps) and finding the server in the
#   catalog: its network endpoint is registered at the recording proxy's port.
# Always, at the same time: https: test_https.py with the new set against a fourth server on
#   HTTPS (a throwaway CA made by the test), through --os-cacert and openstacksdk's cacert.
# The last line is `clients: N passed, N failed[, N skipped]`; the exit code is non-zero when
# any step fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=.ci/lib.sh
. "$root/.ci/lib.sh"
started=$(date +%s)
cache="$(cache_root)"
python="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_INPUT=1

work="$(mktemp -d "${TMPDIR:-/tmp}/vpnaas-clients.XXXXXX")"
server_pid=""
keystone_server_pid=""
cleanup() {
  for pid in "$server_pid" "$keystone_server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "clients: $*" >&2
  echo "clients: 0 passed, 1 failed"
  exit 1
}

# ---- the server binary
binary="$(vpnaas_binary ${1:+"$1"})" || fail "no vpnaas binary to run"

# ---- the keystone pass, if asked for
keystone_env="${VPNAAS_CLIENTS_KEYSTONE_ENV:-}"
if [ -n "$keystone_env" ]; then
  [ -f "$keystone_env" ] || fail "VPNAAS_CLIENTS_KEYSTONE_ENV: no file $keystone_env (.ci/keystone.sh start DIR writes DIR/env)"
  keystone_env="$(cd "$(dirname "$keystone_env")" && pwd)/$(basename "$keystone_env")"
fi

# ---- the two virtualenvs (created or reused; rebuilt when the requirements file changed)
client_venv() { # NAME: venv-NAME from requirements-NAME.txt (ensure_venv in .ci/lib.sh)
  local venv="$cache/venv-$1" req="$here/requirements-$1.txt"
  ensure_venv "$venv" "$(venv_hash "$req")" "$work/pip-$1.log" "$venv/bin/python" -m pip install --quiet -r "$req"
}

mkdir -p "$cache" || fail "cannot create the cache directory $cache"
echo "== virtualenvs in $cache"
venv_started=$(date +%s)
client_venv new >"$work/venv-new.log" 2>&1 &
new_pid=$!
client_venv old >"$work/venv-old.log" 2>&1 &
old_pid=$!
venv_ok=1
wait "$new_pid" || { venv_ok=0; echo "venv-new failed:"; cat "$work/venv-new.log"; }
wait "$old_pid" || { venv_ok=0; echo "venv-old failed:"; cat "$work/venv-old.log"; }
[ "$venv_ok" = 1 ] || fail "creating the virtualenvs failed"
cat "$work/venv-new.log" "$work/venv-old.log" | grep -v '^$' || true
echo "virtualenvs ready in $(( $(date +%s) - venv_started )) s"

# ---- the server: a free loopback port, a fresh data directory
mkdir "$work/data"
echo "== starting $binary"
VPNAAS_NOAUTH_TOKENS='notused=demo:member;admin-token=admin:admin' VPNAAS_LOG=info \
  "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
if ! url="$(listening_url "$work/server.log" "$server_pid")"; then
  cat "$work/server.log" >&2
  fail "the server did not start"
fi
echo "server at $url"
export VPNAAS_URL="$url"

# ---- the keystone-mode server, and the catalog pointing at the proxy its run will open
if [ -n "$keystone_env" ]; then
  mkdir "$work/data-keystone"
  echo "== starting $binary in keystone mode (Keystone from $keystone_env)"
  (
    # shellcheck disable=SC1090
    source "$keystone_env"
    VPNAAS_AUTH_STRATEGY=keystone VPNAAS_KEYSTONE_URL="$KEYSTONE_URL" \
      VPNAAS_KEYSTONE_USERNAME="${KEYSTONE_SERVICE_USERNAME:-vpnaas}" \
      VPNAAS_KEYSTONE_PASSWORD="$KEYSTONE_PASSWORD" VPNAAS_KEYSTONE_PROJECT_NAME=service \
      VPNAAS_LOG=info exec "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data-keystone"
  ) >"$work/server-keystone.log" 2>&1 &
  keystone_server_pid=$!
  if ! keystone_url="$(listening_url "$work/server-keystone.log" "$keystone_server_pid")"; then
    cat "$work/server-keystone.log" >&2
    fail "the keystone-mode server did not start"
  fi
  echo "keystone-mode server at $keystone_url"
  proxy_port="$(free_port)"
  bash "$root/.ci/keystone.sh" register "$(dirname "$keystone_env")" "http://127.0.0.1:$proxy_port" ||
    fail "registering the network endpoint in Keystone failed"
fi

# ---- the suite with each client, both at once
run_suite() { # NAME FILES...
  local name="$1"
  shift
  (cd "$here" && VPNAAS_CLIENT="$name" "$cache/venv-$name/bin/python" -m pytest \
    --junitxml="$work/junit-$name.xml" "$@") >"$work/pytest-$name.log" 2>&1
}
run_keystone_suite() { # the new set against the keystone-mode server, through the catalog
  # shellcheck disable=SC1090
  (cd "$here" && source "$keystone_env" && VPNAAS_CLIENT=new VPNAAS_CLIENTS_RUN=keystone \
    VPNAAS_CLIENTS_AUTH=keystone VPNAAS_URL="$keystone_url" VPNAAS_CLIENTS_PROXY_PORT="$proxy_port" \
    "$cache/venv-new/bin/python" -m pytest --junitxml="$work/junit-keystone.xml" test_cli.py test_sdk.py) \
    >"$work/pytest-keystone.log" 2>&1
}
run_https_suite() { # the new set against an HTTPS server the test starts itself
  (cd "$here" && VPNAAS_CLIENT=new VPNAAS_BINARY="$binary" "$cache/venv-new/bin/python" -m pytest \
    --junitxml="$work/junit-https.xml" test_https.py) >"$work/pytest-https.log" 2>&1
}
echo "== running the suite (new: newest CLI + openstacksdk; old: OSC 7.5.0 + neutronclient 11.8.0${keystone_env:+; keystone: new, with Keystone})"
suite_started=$(date +%s)
run_suite new test_cli.py test_sdk.py &
new_pid=$!
run_suite old test_cli.py &
old_pid=$!
run_https_suite &
https_pid=$!
runs="new old https"
if [ -n "$keystone_env" ]; then
  run_keystone_suite &
  keystone_pid=$!
  runs="new old https keystone"
fi
status=0
wait "$new_pid" || status=1
wait "$old_pid" || status=1
wait "$https_pid" || status=1
if [ -n "$keystone_env" ]; then wait "$keystone_pid" || status=1; fi
for name in $runs; do
  echo
  echo "================ client set: $name"
  cat "$work/pytest-$name.log"
done
echo "suite ran in $(( $(date +%s) - suite_started )) s"

# the server must have survived
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "the server exited during the run:" >&2
  tail -n 50 "$work/server.log" >&2
  status=1
fi
if [ -n "$keystone_env" ] && ! kill -0 "$keystone_server_pid" 2>/dev/null; then
  echo "the keystone-mode server exited during the run:" >&2
  tail -n 50 "$work/server-keystone.log" >&2
  status=1
fi
if [ "$status" != 0 ]; then
  echo "---- server log (last 40 lines)"
  tail -n 40 "$work/server.log"
  if [ -n "$keystone_env" ]; then
    echo "---- keystone-mode server log (last 40 lines)"
    tail -n 40 "$work/server-keystone.log"
  fi
fi

# ---- the closing line, summed over all runs
counts="$("$python" - "$work"/junit-*.xml <<'EOF'
import sys
import xml.etree.ElementTree as ET
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        failed += 1  # a run that wrote no report counts as a failure
        continue
    for suite in root.iter("testsuite"):
        tests, errors = int(suite.get("tests", 0)), int(suite.get("errors", 0))
        fails, skips = int(suite.get("failures", 0)), int(suite.get("skipped", 0))
        passed += tests - errors - fails - skips
        failed += errors + fails
        skipped += skips
print(passed, failed, skipped)
EOF
)" || counts="0 1 0"
read -r passed failed skipped <<<"$counts"
[ "$(ls "$work"/junit-*.xml 2>/dev/null | wc -l)" = "$(wc -w <<<"$runs")" ] || failed=$((failed + 1))
[ "$failed" = 0 ] || status=1
echo "== tests/clients/run.sh took $(( $(date +%s) - started )) s"
echo "clients: $passed passed, $failed failed, $skipped skipped"
exit "$status"
