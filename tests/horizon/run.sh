#!/usr/bin/env bash
# Horizon's VPN panel (neutron-vpnaas-dashboard) in headless Chromium against vpnaas.
#
#   tests/horizon/run.sh [PATH_TO_vpnaas_BINARY]
#
# Without an argument the server is built with cargo (honouring CARGO_TARGET_DIR). It needs
# Debian's chromium and chromium-driver (installed here when missing and run as root; otherwise
# the run skips, and under CI=true fails) and keeps a virtualenv with Horizon 27.0.0,
# neutron-vpnaas-dashboard 15.0.0 and Selenium (requirements.txt) in
# ${VPNAAS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-ci}/venv-horizon, rebuilt when
# requirements.txt or local_settings.py changes; building it also collects and compresses
# Horizon's static files once. Then, each on a free loopback port:
#   - a Keystone of its own (.ci/keystone.sh, tokens of an hour: Horizon's session ends with
#     its token, and the suite's Keystone in .ci/run has 30-second tokens);
#   - vpnaas in keystone mode with a fresh data directory, registered in the catalog as the
#     `network` service;
#   - Horizon under Django's development server (--insecure serves the static files);
# and test_vpn_panel.py logs in as demo-member and drives the panel. Screenshots go to
# ${VPNAAS_HORIZON_SCREENSHOTS:-<repository>/target/horizon-screenshots} (emptied first).
# The last line is `horizon: N passed, N failed, N skipped`; the exit code is non-zero when any
# step fails, and then the tails of Horizon's and vpnaas's logs are printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=.ci/lib.sh
. "$root/.ci/lib.sh"
started=$(date +%s)
cache="$(cache_root)"
venv="$cache/venv-horizon"
shots="${VPNAAS_HORIZON_SCREENSHOTS:-$root/target/horizon-screenshots}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_INPUT=1

work="$(mktemp -d "${TMPDIR:-/tmp}/vpnaas-horizon.XXXXXX")"
server_pid=""
horizon_pid=""
cleanup() {
  for pid in "$horizon_pid" "$server_pid"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  bash "$root/.ci/keystone.sh" stop "$work/keystone" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

logs() {
  if [ -f "$work/horizon.log" ]; then
    echo "---- Horizon's log (last 60 lines)"
    tail -n 60 "$work/horizon.log"
  fi
  if [ -f "$work/server.log" ]; then
    echo "---- vpnaas's log (last 40 lines)"
    tail -n 40 "$work/server.log"
  fi
}
fail() {
  echo "horizon: $*" >&2
  logs
  echo "horizon: 0 passed, 1 failed"
  exit 1
}
skip() {
  if [ "${CI:-}" = true ]; then fail "$* (CI=true: this run must not skip)"; fi
  echo "horizon: skipped: $*"
  echo "horizon: 0 passed, 0 failed, 1 skipped"
  exit 0
}

# ---- the browser: Debian's Chromium and its driver
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  [ "$(id -u)" = 0 ] || skip "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver, as root)"
  echo "== installing chromium and chromium-driver"
  apt_started=$(date +%s)
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
      chromium chromium-driver; } >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "installing chromium failed"; }
  echo "chromium installed in $(( $(date +%s) - apt_started )) s"
fi
chromium --version 2>/dev/null | grep -v '^\[' || true

# ---- the server binary
binary="$(vpnaas_binary ${1:+"$1"})" || fail "no vpnaas binary to run"

# ---- Horizon's virtualenv (Horizon, the VPNaaS dashboard, Selenium; static files): reused while
# requirements, settings and Python match (ensure_venv in .ci/lib.sh).
mkdir -p "$cache" || fail "cannot create the cache directory $cache"
# shellcheck disable=SC2317 # run by ensure_venv
install_horizon() { # the requirements, the panel enabled, the settings, the static files collected
  local dashboard plugin
  "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" &&
    dashboard="$("$venv/bin/python" -c 'import openstack_dashboard, os; print(os.path.dirname(openstack_dashboard.__file__))')" &&
    plugin="$("$venv/bin/python" -c 'import neutron_vpnaas_dashboard, os; print(os.path.dirname(neutron_vpnaas_dashboard.__file__))')" &&
    cp "$plugin/enabled/_7100_project_vpn_panel.py" "$dashboard/local/enabled/" &&
    cp "$here/local_settings.py" "$dashboard/local/local_settings.py" &&
    HORIZON_STATIC_ROOT="$venv/static" DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
      "$venv/bin/django-admin" collectstatic --noinput -v0 &&
    HORIZON_STATIC_ROOT="$venv/static" DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
      "$venv/bin/django-admin" compress --force -v0
}
ensure_venv "$venv" "$(venv_hash "$here/requirements.txt" "$here/local_settings.py")" "$work/venv.log" install_horizon 2>&1 ||
  fail "building Horizon's virtualenv failed"

# ---- Keystone (its own; see above)
echo "== Keystone"
KEYSTONE_TOKEN_EXPIRATION=3600 KEYSTONE_DATABASE_URL="" bash "$root/.ci/keystone.sh" start "$work/keystone" ||
  fail "Keystone did not start"
# shellcheck disable=SC1091
source "$work/keystone/env"

# ---- vpnaas in keystone mode, in the catalog as `network`
mkdir "$work/data"
VPNAAS_AUTH_STRATEGY=keystone VPNAAS_KEYSTONE_URL="$KEYSTONE_URL" VPNAAS_KEYSTONE_USERNAME="$KEYSTONE_SERVICE_USERNAME" \
  VPNAAS_KEYSTONE_PASSWORD="$KEYSTONE_PASSWORD" VPNAAS_KEYSTONE_PROJECT_NAME=service VPNAAS_LOG=info \
  "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.log" 2>&1 &
server_pid=$!
url="$(listening_url "$work/server.log" "$server_pid")" || fail "vpnaas did not start"
echo "vpnaas at $url"
bash "$root/.ci/keystone.sh" register "$work/keystone" "$url" || fail "registering vpnaas in the catalog failed"

# ---- Horizon
port="$(free_port)"
horizon_url="http://127.0.0.1:$port"
dashboard="$("$venv/bin/python" -c 'import openstack_dashboard, os; print(os.path.dirname(openstack_dashboard.__file__))')"
cp "$here/local_settings.py" "$dashboard/local/local_settings.py"
echo "== Horizon at $horizon_url"
HORIZON_KEYSTONE_URL="$KEYSTONE_URL/v3" HORIZON_STATIC_ROOT="$venv/static" \
  DJANGO_SETTINGS_MODULE=openstack_dashboard.settings \
  "$venv/bin/django-admin" runserver --insecure --noreload "127.0.0.1:$port" >"$work/horizon.log" 2>&1 &
horizon_pid=$!
wait_for 60 0.1 "Horizon at $horizon_url/auth/login/" "$horizon_pid" url_answers "$horizon_url/auth/login/" ||
  fail "Horizon did not start"

# ---- the browser run
rm -rf "$shots"
mkdir -p "$shots"
echo "== the VPN panel in headless Chromium (screenshots in $shots)"
suite_started=$(date +%s)
status=0
HORIZON_URL="$horizon_url" VPNAAS_URL="$url" HORIZON_SCREENSHOTS="$shots" \
  "$venv/bin/python" "$here/test_vpn_panel.py" >"$work/run.log" 2>&1 || status=1
grep -v '^horizon: [0-9]' "$work/run.log" || true
summary="$(grep '^horizon: [0-9]' "$work/run.log" | tail -n1)" || true
[ -n "$summary" ] || { summary="horizon: 0 passed, 1 failed"; status=1; }
echo "the panel ran in $(( $(date +%s) - suite_started )) s"
for pid in "$server_pid" "$horizon_pid"; do
  kill -0 "$pid" 2>/dev/null || { echo "a server exited during the run"; status=1; }
done
[ "$status" = 0 ] || logs
echo "== tests/horizon/run.sh took $(( $(date +%s) - started )) s"
echo "$summary"
exit "$status"
