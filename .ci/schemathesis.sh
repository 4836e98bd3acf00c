#!/usr/bin/env bash
# schemathesis (PyPI) against a live server and its own /openapi.json (ADR 0020).
#   .ci/schemathesis.sh [BINARY]      without BINARY: cargo build -p vpnaas
# A fresh server on a free loopback port (SQLite, noauth, default project `demo`; the token
# `admin-token` is an admin of `demo`, so the admin-only inventory writes are exercised too)
# for each validation profile; schemathesis generates requests from the document and checks
# every answer: no 5xx, and status codes, content types, headers and bodies as the document
# says. Deterministic and bounded: a fixed seed, a maximum of examples per operation, one
# worker. The virtualenv (.ci/schemathesis-requirements.txt, a pinned version) is kept in
# ${VPNAAS_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-ci}/venv-schemathesis and rebuilt
# when that file or the Python version changes; without the cache it is built again.
# SCHEMATHESIS_MAX_EXAMPLES (default 10) and SCHEMATHESIS_SEED (default 20261128) change the run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=.ci/lib.sh
. "$here/lib.sh"
cache="$(cache_root)"
venv="$cache/venv-schemathesis"
seed="${SCHEMATHESIS_SEED:-20261128}"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-10}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
started=$(date +%s)

work="$(mktemp -d "${TMPDIR:-/tmp}/vpnaas-schemathesis.XXXXXX")"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT
fail() { echo "schemathesis.sh: $*" >&2; exit 1; }

binary="$(vpnaas_binary ${1:+"$1"})" || fail "no vpnaas binary to run"

req="$here/schemathesis-requirements.txt"
mkdir -p "$cache" 2>/dev/null || { venv="$work/venv"; echo "schemathesis.sh: no cache directory, a throwaway virtualenv"; }
ensure_venv --ready bin/schemathesis "$venv" "$(venv_hash "$req")" "$work/venv.log" \
  "$venv/bin/python" -m pip install --quiet -r "$req" || fail "installing schemathesis failed"

total_ops=0 total_cases=0 total_failures=0 status=0
for profile in openstack otc; do
  rm -rf "$work/data" && mkdir "$work/data"
  VPNAAS_NOAUTH_DEFAULT_PROJECT=demo VPNAAS_NOAUTH_TOKENS='admin-token=demo:admin' VPNAAS_LOG=info \
    VPNAAS_PROFILE="$profile" "$binary" serve --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.log" 2>&1 &
  server_pid=$!
  url="$(listening_url "$work/server.log" "$server_pid")" || { cat "$work/server.log" >&2; fail "the server did not start"; }
  echo "== schemathesis, profile $profile, $url/openapi.json (seed $seed, at most $examples examples per operation)"
  run_started=$(date +%s)
  set +e
  # In the scratch directory: schemathesis keeps a crash cache (.schemathesis/) in its cwd.
  (cd "$work" && "$venv/bin/schemathesis" run "$url/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --header 'X-Auth-Token: admin-token' \
    --seed "$seed" --max-examples "$examples" --workers 1 --generation-database none \
    --request-timeout 10 --no-color --report ndjson --report-ndjson-path "$work/$profile.ndjson" \
    >"$work/$profile.out" 2>&1)
  rc=$?
  set -e
  stop_server
  # Counts from the run's own summary lines.
  ops=$(grep -oE '[0-9]+ (of [0-9]+ )?operations? tested|[0-9]+ selected' "$work/$profile.out" | head -n1 | grep -oE '^[0-9]+' || echo 0)
  cases=$(grep -oE '[0-9]+ generated' "$work/$profile.out" | head -n1 | grep -oE '^[0-9]+' || echo 0)
  failures=$(grep -oE '[0-9]+ unique failures?' "$work/$profile.out" | head -n1 | grep -oE '^[0-9]+' || echo 0)
  if [ "$rc" != 0 ]; then
    cat "$work/$profile.out"
    echo "--- server log (profile $profile)"; tail -n 50 "$work/server.log"
    status=1
  else
    tail -n 15 "$work/$profile.out"
  fi
  echo "schemathesis ($profile): $ops operations, $cases test cases, $failures failures, exit $rc, $(( $(date +%s) - run_started )) s"
  total_ops=$((total_ops + ops)) total_cases=$((total_cases + cases)) total_failures=$((total_failures + failures))
done
echo "schemathesis: $total_ops operations, $total_cases test cases, $total_failures failures in $(( $(date +%s) - started )) s"
exit "$status"
