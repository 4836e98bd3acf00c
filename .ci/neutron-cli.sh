#!/usr/bin/env bash
# The openstack CLI workflow through the one Networking endpoint (ADR 0022): a project member
# makes a network, a subnet and a router with a gateway in Neutron, and the five VPN
# resources in vpnaas, naming Neutron's objects by name, then deletes everything.
#   .ci/neutron-cli.sh     (called by .ci/tempest.sh with a Keystone env sourced and the
#                           proxy registered as the catalog's network service)
# Uses the newest python-openstackclient of the client suite's cached virtualenv
# (tests/clients/run.sh makes it). The last line is `clients: N passed, M failed`.
set -uo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

osc="$(cache_root)/venv-new/bin/openstack"
if [ ! -x "$osc" ]; then
  echo "neutron-cli.sh: no $osc (tests/clients/run.sh makes it)" >&2
  echo "clients: 0 passed, 1 failed"
  exit 1
fi
export OS_AUTH_URL="$KEYSTONE_URL/v3" OS_IDENTITY_API_VERSION=3 OS_INTERFACE=public OS_REGION_NAME=RegionOne \
  OS_USERNAME="$KEYSTONE_DEMO_MEMBER" OS_PASSWORD="$KEYSTONE_PASSWORD" OS_PROJECT_NAME=demo \
  OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
passed=0
failed=0
step() { # WHAT COMMAND...
  local what=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "neutron-cli.sh: ok: $what"
  else
    failed=$((failed + 1))
    echo "neutron-cli.sh: FAILED: $what: $*" >&2
    echo "$out" | tail -n 5 >&2
  fi
}
# The whole answer first: `grep -q` ending the pipe early would fail the CLI with SIGPIPE.
both_extensions() {
  local aliases
  aliases=$("$osc" extension list --network -c Alias -f value) || return 1
  grep -qx vpnaas <<<"$aliases" && grep -qx router <<<"$aliases"
}
connection_active_or_pending() {
  local status
  status=$("$osc" vpn ipsec site connection show conn-cli -c status -f value) || return 1
  grep -Eqx 'PENDING_CREATE|ACTIVE|DOWN' <<<"$status"
}
# Quotas through the one endpoint (ADR 0041): /v2.0/quotas is Neutron's (its keys, none of
# vpnaas's), /v2.0/vpn/quotas is vpnaas's, both for the same Keystone project.
neutron_quota_is_neutrons() {
  local rows project
  # By id: a project member may read its own project, not look projects up by name.
  project=$("$osc" token issue -f value -c project_id) || return 1
  rows=$("$osc" quota show --network "$project" -f value -c Resource) || return 1
  grep -qx networks <<<"$rows" && ! grep -q ipsec_site_connection <<<"$rows"
}
vpn_quota_through_the_endpoint() {
  local token project url answer
  token=$("$osc" token issue -f value -c id) || return 1
  project=$("$osc" token issue -f value -c project_id) || return 1
  url=$("$osc" catalog show network -f json | python3 -c '
import json, sys
for e in json.load(sys.stdin)["endpoints"]:
    if e.get("interface") == "public":
        print(e["url"].rstrip("/")); break') || return 1
  answer=$(curl -sf -H "X-Auth-Token: $token" "$url/v2.0/vpn/quotas/$project") || return 1
  python3 -c 'import json, sys; q = json.loads(sys.argv[1])["quota"]; assert q["ipsec_site_connection"] == -1 and "network" not in q, q' "$answer"
}

step "the extension list has vpnaas's vpnaas and Neutron's router" both_extensions
step "quota show --network is Neutron's (/v2.0/quotas)" neutron_quota_is_neutrons
step "vpnaas's quotas at /v2.0/vpn/quotas through the same endpoint" vpn_quota_through_the_endpoint
step "network create (Neutron)" "$osc" network create net-cli
step "subnet create (Neutron)" "$osc" subnet create --network net-cli --subnet-range 10.50.0.0/24 sub-cli
step "router create with a gateway (Neutron)" "$osc" router create --external-gateway public rtr-cli
step "router add subnet (Neutron)" "$osc" router add subnet rtr-cli sub-cli
step "vpn ike policy create" "$osc" vpn ike policy create --ike-version v2 --pfs group14 ike-cli
step "vpn ipsec policy create" "$osc" vpn ipsec policy create --pfs group14 ipsec-cli
step "vpn service create on Neutron's router" "$osc" vpn service create --router rtr-cli vpn-cli
step "vpn endpoint group of Neutron's subnet" "$osc" vpn endpoint group create --type subnet --value sub-cli local-cli
step "vpn endpoint group of cidrs" "$osc" vpn endpoint group create --type cidr --value 10.60.0.0/24 peer-cli
step "vpn ipsec site connection create" "$osc" vpn ipsec site connection create --vpnservice vpn-cli \
  --ikepolicy ike-cli --ipsecpolicy ipsec-cli --local-endpoint-group local-cli --peer-endpoint-group peer-cli \
  --peer-address 172.24.4.233 --peer-id 172.24.4.233 --psk secret-cli conn-cli
step "vpn ipsec site connection show" connection_active_or_pending
step "vpn ipsec site connection list --long" "$osc" vpn ipsec site connection list --long
step "vpn ipsec site connection delete" "$osc" vpn ipsec site connection delete conn-cli
step "vpn endpoint group delete" "$osc" vpn endpoint group delete local-cli peer-cli
step "vpn service delete" "$osc" vpn service delete vpn-cli
step "vpn ike policy delete" "$osc" vpn ike policy delete ike-cli
step "vpn ipsec policy delete" "$osc" vpn ipsec policy delete ipsec-cli
step "router remove subnet (Neutron)" "$osc" router remove subnet rtr-cli sub-cli
step "router delete (Neutron)" "$osc" router delete rtr-cli
step "subnet delete (Neutron)" "$osc" subnet delete sub-cli
step "network delete (Neutron)" "$osc" network delete net-cli
echo "clients: $passed passed, $failed failed"
[ "$failed" = 0 ]
