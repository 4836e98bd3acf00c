#!/usr/bin/env bash
# Installs the reference (Neutron 28.0.2 + neutron-vpnaas 28.0.0, neutron-lib 3.25.0, uwsgi)
# into a virtualenv cached outside the clone, once; prints the virtualenv's path.
# Why these pins (docs/adr/0010-reference-and-keystone-side-by-side.md): 29.x answers 500 on lists;
# 28.0.2 imports a neutron-lib module that later neutron-lib releases dropped.
set -euo pipefail
cache="${VPNAAS_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpnaas-bench}"
venv="$cache/neutron-28.0.2"
# The stamp is written last, so an interrupted install is redone rather than half used.
if [ ! -f "$venv/.installed" ]; then
  mkdir -p "$cache"
  rm -rf "$venv"
  echo "installing the reference into $venv (about 3 minutes)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    neutron==28.0.2 neutron-vpnaas==28.0.0 uwsgi >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check neutron-lib==3.25.0 >&2
  touch "$venv/.installed"
fi
echo "$venv"
