#!/usr/bin/env bash
# The tour's lab: two IPsec sites on one machine, so that a connection made through the API
# becomes a real tunnel that pings. Run as root, beside a running `vpnaas serve` (noauth, its
# embedded default) that was started with VPNAAS_AGENT_TOKEN set, as this shell has it.
#
#   scripts/lab.sh up          the gateway's router in the inventory (project p1, placed on host
#                              "lab"), its qrouter-<id> namespace, the peer site's namespace, a
#                              veth between them, and `vpnaas agent --host lab` with the agent's
#                              defaults; writes ROUTER=... and SUBNET=... to
#                              /tmp/vpnaas-lab/env, for the shell to source
#   scripts/lab.sh peer CONN   the peer site's own charon, loaded with nothing but the
#                              connection's peer configuration export (swanctl)
#   scripts/lab.sh wait CONN   until the connection is ACTIVE (60 s), printing its status
#   scripts/lab.sh ping        from the peer's LAN (10.2.0.1) to the gateway's (10.1.0.1),
#                              through the tunnel
#   scripts/lab.sh down        stops the agent and both charons, removes the namespaces; the
#                              resources stay in the server's database
#
# Addresses: the gateway 192.0.2.1 with LAN 10.1.0.0/24, the peer 192.0.2.2 with LAN
# 10.2.0.0/24 (RFC 5737 documentation addresses, only inside the two namespaces).
# VPNAAS_URL (default http://127.0.0.1:9696) names the server, VPNAAS_LAB_DIR (default
# /tmp/vpnaas-lab) the lab's files: the agent's log, the peer's configuration and log.
set -euo pipefail

API=${VPNAAS_URL:-http://127.0.0.1:9696}
LAB=${VPNAAS_LAB_DIR:-/tmp/vpnaas-lab}
STATE=/var/lib/vpnaas/charons # the agent's default --state-dir
CHARON=/usr/lib/ipsec/charon  # the agent's default --charon
PEER_NS=vpnaas-lab-peer
HOST=lab
ADMIN=(-H 'X-Project-Id: admin' -H 'X-Roles: admin' -H 'Content-Type: application/json')

say() { echo "lab: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# api METHOD PATH [BODY]: the response body; a status that is not 2xx stops the lab, with the body.
api() {
  local out status
  out=$(curl -sS -X "$1" "$API$2" "${ADMIN[@]}" ${3:+-d "$3"} -w '\n%{http_code}') || die "the server at $API does not answer; is 'vpnaas serve' running?"
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  [[ $status == 2* ]] || die "$1 $2 answered $status: $out"
  printf '%s' "$out"
}
# field KEY... : a value out of the JSON on stdin, e.g. field router id.
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[k]
print(v)' "$@"; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# stop PIDFILE: TERM, then KILL after 3 s.
stop() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 30); do pid_alive "$pid" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# site NAMESPACE WAN_ADDRESS LAN_ADDRESS: a namespace with a WAN and a LAN interface. The LAN is
# a dummy interface, or a bridge with no ports on kernels without dummy interfaces.
site() {
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$2/24" dev wan
  ip -n "$1" link set wan up
  ip -n "$1" link add lan type dummy 2>/dev/null || ip -n "$1" link add lan type bridge
  ip -n "$1" addr add "$3/24" dev lan
  ip -n "$1" link set lan up
}

need() {
  [ "$(id -u)" = 0 ] || die "run me as root: I make network namespaces and start charons"
  local missing=()
  for tool in ip swanctl curl python3 ping; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  [ -x "$CHARON" ] || missing+=("$CHARON")
  [ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] || missing+=(kernel-libipsec)
  [ ${#missing[@]} = 0 ] || die "missing: ${missing[*]}; apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins iproute2 iputils-ping curl"
}

up() {
  need
  command -v vpnaas >/dev/null || die "vpnaas is not on the PATH (see the README's Install)"
  [ -n "${VPNAAS_AGENT_TOKEN:-}" ] || die "VPNAAS_AGENT_TOKEN is not set: export it, and start 'vpnaas serve' with it"
  [ ! -e "$LAB/env" ] || die "the lab is up already ($LAB/env); 'scripts/lab.sh down' first"
  mkdir -p "$LAB/peer/run"

  say "the inventory: router lab-router (project p1) with gateway 192.0.2.1, subnet 10.1.0.0/24, placed on host $HOST"
  local router subnet
  router=$(api POST /v2.0/routers '{"router": {"name": "lab-router", "tenant_id": "p1",
    "external_gateway_info": {"external_fixed_ips": [{"ip_address": "192.0.2.1"}]}}}' | field router id)
  subnet=$(api POST /v2.0/subnets '{"subnet": {"name": "lab-lan", "tenant_id": "p1", "cidr": "10.1.0.0/24"}}' | field subnet id)
  api PUT "/v2.0/routers/$router/add_router_interface" "{\"subnet_id\": \"$subnet\"}" >/dev/null
  api PUT "/v2.0/routers/$router" "{\"router\": {\"binding:host_id\": \"$HOST\"}}" >/dev/null
  printf 'ROUTER=%s\nSUBNET=%s\n' "$router" "$subnet" >"$LAB/env"

  say "the namespaces: qrouter-$router (as Neutron's L3 agent names it) and $PEER_NS"
  ip netns add "qrouter-$router"
  ip netns add "$PEER_NS"
  ip link add wan netns "qrouter-$router" type veth peer name wan netns "$PEER_NS"
  site "qrouter-$router" 192.0.2.1 10.1.0.1
  site "$PEER_NS" 192.0.2.2 10.2.0.1

  say "the gateway agent: vpnaas agent --host $HOST --server $API (log: $LAB/agent.log)"
  setsid vpnaas agent --host "$HOST" --server "$API" >"$LAB/agent.log" 2>&1 </dev/null &
  echo $! >"$LAB/agent.pid"
  sleep 1
  pid_alive "$(cat "$LAB/agent.pid")" || die "the agent stopped: $(cat "$LAB/agent.log")"
  cat "$LAB/env"
}

peer() {
  need
  local conn=${1:?usage: scripts/lab.sh peer CONNECTION_ID} router
  [ -e "$LAB/env" ] || die "the lab is not up: 'scripts/lab.sh up' first"
  router=$(sed -n 's/^ROUTER=//p' "$LAB/env")
  api GET "/v2.0/vpn/ipsec-site-connections/$conn/peer-config?format=swanctl" >"$LAB/peer/swanctl.conf"
  say "the peer's swanctl.conf is the connection's export ($LAB/peer/swanctl.conf)"
  # The peer's charon runs the agent's own strongswan.conf (plugins, retransmits), with its
  # own files: the agent writes the router's when it starts that router's charon.
  local conf="$STATE/$router/strongswan.conf"
  for _ in $(seq 100); do [ -e "$conf" ] && break; sleep 0.2; done
  [ -e "$conf" ] || die "the agent has not started the router's charon ($conf); see $LAB/agent.log"
  sed "s#$STATE/$router#$LAB/peer#g" "$conf" >"$LAB/peer/strongswan.conf"
  stop "$LAB/peer/run/charon.pid"
  rm -f "$LAB/peer/charon.vici"
  # A private /run (ip netns exec gives a mount namespace): charon's PID file is always
  # /run/charon.pid, and the gateway's charon has one too.
  STRONGSWAN_CONF="$LAB/peer/strongswan.conf" setsid ip netns exec "$PEER_NS" \
    sh -c "mount --bind '$LAB/peer/run' /run && exec '$CHARON'" >"$LAB/peer/charon.stdout" 2>&1 </dev/null &
  for _ in $(seq 100); do [ -S "$LAB/peer/charon.vici" ] && break; sleep 0.1; done
  [ -S "$LAB/peer/charon.vici" ] || die "the peer's charon did not start: $(cat "$LAB/peer/charon.stdout")"
  swanctl --load-all --file "$LAB/peer/swanctl.conf" --uri "unix://$LAB/peer/charon.vici" >"$LAB/peer/swanctl.out" 2>&1 ||
    die "swanctl refused the export: $(cat "$LAB/peer/swanctl.out")"
  say "the peer's charon runs in $PEER_NS with the export loaded: $(grep -c '^loaded connection' "$LAB/peer/swanctl.out") connection"
}

wait_active() {
  local conn=${1:?usage: scripts/lab.sh wait CONNECTION_ID} seen="" now
  for _ in $(seq 120); do
    now=$(api GET "/v2.0/vpn/ipsec-site-connections/$conn" | field ipsec_site_connection status)
    [ "$now" = "$seen" ] || say "connection $conn: $now"
    seen=$now
    [ "$now" = ACTIVE ] && return 0
    sleep 0.5
  done
  api GET "/v2.0/vpn/ipsec-site-connections/$conn?fields=status&fields=tunnel" >&2
  echo >&2
  die "not ACTIVE after 60 s; the agent's log: $LAB/agent.log, the peer's: $LAB/peer/charon.log"
}

ping_through() {
  ip netns exec "$PEER_NS" ping -c 3 -W 2 -I 10.2.0.1 10.1.0.1
}

down() {
  local router=""
  if [ -e "$LAB/env" ]; then router=$(sed -n 's/^ROUTER=//p' "$LAB/env"); fi
  stop "$LAB/agent.pid"
  # The agent's charons outlive it (an agent upgrade keeps tunnels up), so they go by their PID files.
  if [ -n "$router" ]; then stop "$STATE/$router/run/charon.pid"; fi
  stop "$LAB/peer/run/charon.pid"
  if [ -n "$router" ]; then ip netns del "qrouter-$router" 2>/dev/null || true; fi
  ip netns del "$PEER_NS" 2>/dev/null || true
  if [ -n "$router" ]; then rm -rf "${STATE:?}/$router"; fi
  rm -rf "$LAB"
  if [ -n "$router" ]; then
    say "down (router $router and its VPN resources stay in the server's database)"
  else
    say "down"
  fi
}

case "${1:-}" in
up) up ;;
peer) peer "${2:-}" ;;
wait) wait_active "${2:-}" ;;
ping) ping_through ;;
down) down ;;
*) die "usage: scripts/lab.sh up | peer CONNECTION_ID | wait CONNECTION_ID | ping | down" ;;
esac
