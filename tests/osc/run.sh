#!/usr/bin/env bash
# The Rust OpenStack CLI `osc` (crate openstack_cli 0.13.8) against vpnaas in keystone mode:
# a real Keystone (.ci/keystone.sh), vpnaas registered in its catalog, password auth as
# demo-member, and the whole VPNaaS workflow. Not part of .ci/run: a cold `cargo install` of
# osc takes about 29 minutes and 2.8 GB here (it builds every service's crates, whatever the
# features say). Run from the repository root:   bash tests/osc/run.sh
# Settings: W (work dir, /tmp/osc-demo), PORT (9696), OSC_ROOT (~/.cache/osc), VPNAAS (binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${W:-/tmp/osc-demo}; PORT=${PORT:-9696}; mkdir -p "$W"
OSC_ROOT=${OSC_ROOT:-$HOME/.cache/osc}
[ -x "$OSC_ROOT/bin/osc" ] || CARGO_TARGET_DIR=$OSC_ROOT/target nice -n 19 cargo install --locked \
  openstack_cli --version 0.13.8 --no-default-features --features network --root "$OSC_ROOT"
VPNAAS=${VPNAAS:-target/release/vpnaas}; [ -x "$VPNAAS" ] || cargo build --release -p vpnaas
KEYSTONE_TOKEN_EXPIRATION=3600 bash .ci/keystone.sh start "$W/ks"; source "$W/ks/env"
VPNAAS_AUTH_STRATEGY=keystone VPNAAS_KEYSTONE_URL=$KEYSTONE_URL VPNAAS_KEYSTONE_USERNAME=vpnaas \
  VPNAAS_KEYSTONE_PASSWORD=$KEYSTONE_PASSWORD "$VPNAAS" serve --listen 127.0.0.1:$PORT \
  --data-dir "$W/data" >"$W/server.log" 2>&1 & SERVER=$!
trap 'kill $SERVER; bash .ci/keystone.sh stop "$W/ks"' EXIT
sleep 2; bash .ci/keystone.sh register "$W/ks" http://127.0.0.1:$PORT
ADMIN=$(curl -si -X POST "$KEYSTONE_URL/v3/auth/tokens" -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"'"$KEYSTONE_ADMIN_PASSWORD"'"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' | awk 'tolower($1)=="x-subject-token:"{print $2}' | tr -d '\r')
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
api() { curl -sf -X "$1" "http://127.0.0.1:$PORT$2" -H "X-Auth-Token: $ADMIN" -H 'Content-Type: application/json' -d "$3"; }
R=$(api POST /v2.0/routers '{"router":{"tenant_id":"'$KEYSTONE_DEMO_PROJECT_ID'","external_gateway_info":{"external_fixed_ips":[{"ip_address":"172.24.4.10"}]}}}' | json 'd["router"]["id"]')
S=$(api POST /v2.0/subnets '{"subnet":{"tenant_id":"'$KEYSTONE_DEMO_PROJECT_ID'","cidr":"10.1.0.0/24"}}' | json 'd["subnet"]["id"]')
api PUT /v2.0/routers/$R/add_router_interface '{"subnet_id":"'$S'"}' >/dev/null
mkdir -p "$W/config/openstack"; cat >"$W/config/openstack/clouds.yaml" <<EOF
clouds:
  vpnaas-demo:
    auth_type: password
    auth: {auth_url: "$KEYSTONE_URL/v3", username: demo-member, password: "$KEYSTONE_PASSWORD",
           project_name: demo, user_domain_name: Default, project_domain_name: Default}
    region_name: RegionOne
EOF
export OS_CLIENT_CONFIG_FILE=$W/config/openstack/clouds.yaml OS_CLOUD=vpnaas-demo
osc() { "$OSC_ROOT/bin/osc" "$@"; }
id() { json 'd["id"]'; }
# -o json: the default table output fails (exit 1, after the request succeeded) for ikepolicy/ipsecpolicy/ipsec-site-connection (osc 0.13.8 bug)
IKE=$(osc network vpn ikepolicy create --name ike1 -o json | id)
IPSEC=$(osc network vpn ipsecpolicy create --name ipsec1 -o json | id)
VPN=$(osc network vpn vpnservice create --name vpn1 --router-id "$R" -o json | id)
LOCAL=$(osc network vpn endpoint-group create --name local --type subnet --endpoints "$S" -o json | id)
PEER=$(osc network vpn endpoint-group create --name peer --type cidr --endpoints 10.2.0.0/24 -o json | id)
CONN=$(osc network vpn ipsec-site-connection create --name conn1 --vpnservice-id "$VPN" \
  --ikepolicy-id "$IKE" --ipsecpolicy-id "$IPSEC" --local-ep-group-id "$LOCAL" --peer-ep-group-id "$PEER" \
  --peer-address 172.24.4.233 --peer-id 172.24.4.233 --psk secret -o json | id)
for k in ikepolicy ipsecpolicy vpnservice endpoint-group ipsec-site-connection; do osc network vpn $k list -o json; echo; done
osc network vpn ipsec-site-connection show "$CONN" -o json; echo
osc network vpn ipsec-site-connection set "$CONN" --description updated -o json; echo
osc network vpn ipsec-site-connection delete "$CONN"
osc network vpn endpoint-group delete "$PEER"; osc network vpn endpoint-group delete "$LOCAL"
osc network vpn vpnservice delete "$VPN"; osc network vpn ipsecpolicy delete "$IPSEC"; osc network vpn ikepolicy delete "$IKE"
echo "workflow done"
