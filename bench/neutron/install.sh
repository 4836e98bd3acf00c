#!/usr/bin/env bash
# Installs the reference (Neutron 28.0.2 + neutron-vpnaas 28.0.0, neutron-lib 3.25.0, uwsgi)
# into a virtualenv cached outside the clone, once; prints the virtualenv's path.
# Why these pins (docs/adr/0010-reference-and-keystone-side-by-side.md): 29.x answers 500 on lists;
# 28.0.2 imports a neutron-lib module that later neutron-lib releases dropped.
set -euo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../.ci/lib.sh"
cache="${VPNAAS_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-bench}"
venv="$cache/neutron-28.0.2"
install_reference() {
  "$venv/bin/pip" install --quiet --disable-pip-version-check neutron==28.0.2 neutron-vpnaas==28.0.0 uwsgi &&
    "$venv/bin/pip" install --quiet --disable-pip-version-check neutron-lib==3.25.0
}
# The stamp (empty: the pins are here) is written last, so an interrupted install is redone
# rather than half used. About 3 minutes the first time. Messages on stderr: stdout is the path.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
ensure_venv --stamp .installed "$venv" "" "$log" install_reference >&2
echo "$venv"
