#!/usr/bin/env bash
# One Networking endpoint for vpnaas beside Neutron (ADR 0022): HAProxy (Debian's package) on
# loopback sends the VPN API, the gateway API and the extension list to vpnaas and every other
# path to Neutron.
#   .ci/proxy.sh start DIR VPNAAS_URL NEUTRON_URL    writes DIR/env: PROXY_URL
#   .ci/proxy.sh stop DIR
# The routing is the README's "Deploying beside OpenStack" configuration.
set -euo pipefail

usage() { echo "usage: $0 start DIR VPNAAS_URL NEUTRON_URL | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
say() { echo "proxy.sh: $*"; }

running() { pid_running "$dir/haproxy.pid"; }
stop() { stop_pidfile "$dir/haproxy.pid" TERM; }
hostport() { local u=${1#*://}; echo "${u%%/*}"; }

case $cmd in
  start)
    [ $# = 4 ] || usage
    if ! command -v haproxy >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
    fi
    running && { say "already running in $dir" >&2; exit 1; }
    port=$(free_port)
    cat >"$dir/haproxy.cfg" <<EOF
global
    maxconn 512

defaults
    mode http
    option forwardfor
    timeout connect 5s
    # longer than vpnaas's gateway long polls (30 s)
    timeout client 75s
    timeout server 75s

frontend networking
    bind 127.0.0.1:$port
    # vpnaas: the VPNaaS resources, the gateway API, and the extension list, which vpnaas in
    # neutron mode answers with Neutron's extensions and its own
    acl vpn       path_beg /v2.0/vpn/ /v2.0/gateway/
    acl vpn       path /v2.0/vpn
    acl extension path /v2.0/extensions /v2.0/extensions.json
    acl extension path_beg /v2.0/extensions/
    use_backend vpnaas if vpn or extension
    default_backend neutron

backend vpnaas
    server vpnaas $(hostport "$3")

backend neutron
    server neutron $(hostport "$4")
EOF
    haproxy -c -q -f "$dir/haproxy.cfg"
    setsid haproxy -db -f "$dir/haproxy.cfg" </dev/null >"$dir/haproxy.log" 2>&1 &
    echo $! >"$dir/haproxy.pid"
    if ! wait_for 5 0.1 "HAProxy on 127.0.0.1:$port" "" port_open "$port"; then
      cat "$dir/haproxy.log" >&2
      stop
      say "HAProxy did not listen" >&2
      exit 1
    fi
    echo "export PROXY_URL=http://127.0.0.1:$port" >"$dir/env"
    say "http://127.0.0.1:$port: /v2.0/vpn/*, /v2.0/gateway/*, /v2.0/extensions to $3; the rest to $4"
    ;;
  stop) stop ;;
  *) usage ;;
esac
