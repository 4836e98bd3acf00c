#!/usr/bin/env bash
# Notifications end to end (ADR 0043): a throwaway RabbitMQ node (.ci/rabbitmq.sh), vpnaas with
# transport_url set to it (started by the tests, which also kill and restart it), and an
# unmodified oslo.messaging notification listener from PyPI in a cached virtualenv.
#   tests/notifications/run.sh [VPNAAS_BINARY]     (default: the debug build, built if missing)
# The last line is `notifications: N passed, M failed`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=.ci/lib.sh
. "$root/.ci/lib.sh"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_INPUT=1
binary="$(vpnaas_binary "$@")"
cache="$(cache_root)"
mkdir -p "$cache"
work="$(mktemp -d /tmp/vpnaas-notifications.XXXXXX)"
chmod 755 "$work"
trap 'bash "$root/.ci/rabbitmq.sh" stop "$work/rabbitmq" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

venv="$cache/venv-notifications"
ensure_venv "$venv" "$(venv_hash "$here/requirements.txt")" "$work/pip.log" \
  "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"

mkdir "$work/rabbitmq"
started=$(date +%s)
bash "$root/.ci/rabbitmq.sh" start "$work/rabbitmq" "$(free_port_block 2)"
echo "RabbitMQ started in $(( $(date +%s) - started )) s"
# shellcheck disable=SC1091
source "$work/rabbitmq/env"
rc=0
(cd "$here" && VPNAAS_BINARY="$binary" "$venv/bin/python" -W ignore -m pytest -q -s -p no:cacheprovider \
  test_notifications.py) >"$work/pytest.log" 2>&1 || rc=$?
cat "$work/pytest.log"
passed=$(grep -oE '[0-9]+ passed' "$work/pytest.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -oE '[0-9]+ failed' "$work/pytest.log" | tail -1 | grep -oE '[0-9]+' || echo 0)
[ "$rc" = 0 ] || [ "$failed" != 0 ] || failed=1
echo "notifications: $passed passed, $failed failed"
[ "$rc" = 0 ]
