"""openstacksdk used as a library against the server: all five VPN resources, each created,
fetched, found by name, listed with a filter, updated and deleted. The SDK sends integers,
dicts and `project_id` in bodies (where the CLI sends strings), so this covers the typed side
of the wire format. Steps run in file order and share ids through the `state` fixture.
"""

from __future__ import annotations

import pytest
from openstack import exceptions

from conftest import unique
from harness import ADMIN_PROJECT, PROJECT, describe_exchanges, sdk_connection

IKE = ("vpn/ikepolicies", "ikepolicy")
IPSEC = ("vpn/ipsecpolicies", "ipsecpolicy")
SERVICE = ("vpn/vpnservices", "vpnservice")
GROUP = ("vpn/endpoint-groups", "endpoint_group")
CONN = ("vpn/ipsec-site-connections", "ipsec_site_connection")

GATEWAY, SUBNET, PEERS = "172.24.4.23", "10.23.1.0/24", ["10.23.2.0/24"]


@pytest.fixture(scope="module")
def names():
    p = unique("sdk")
    return {r: f"{p}-{r}" for r in ("router", "subnet", "ike", "ipsec", "vpn", "local", "peer", "conn")}


@pytest.fixture(scope="module")
def member(proxy):
    return sdk_connection(proxy).network


@pytest.fixture(scope="module")
def admin(proxy):
    return sdk_connection(proxy, admin=True).network


class Recorded:
    """Runs SDK calls and keeps the HTTP exchanges they caused, for messages and body checks."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.mark = proxy.mark()

    def __enter__(self):
        self.mark = self.proxy.mark()
        return self

    def __exit__(self, *exc):
        self.exchanges = self.proxy.since(self.mark)
        return False

    def body(self, method="POST"):
        sent = [e for e in self.proxy.since(self.mark) if e.method == method]
        assert sent, f"no {method} was sent:\n{self.text()}"
        return sent[-1].request_json()

    def text(self):
        return describe_exchanges(self.proxy.since(self.mark))


def need(state, *keys):
    missing = [k for k in keys if k not in state]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, which an earlier step did not create")
    return [state[k] for k in keys]


# ---------------------------------------------------------------- inventory


def test_admin_creates_inventory_for_the_project(admin, member, api, names, state, proxy):
    rec = Recorded(proxy)
    router = admin.create_router(
        name=names["router"], project_id=PROJECT,
        external_gateway_info={"external_fixed_ips": [{"ip_address": GATEWAY}]},
    )
    subnet = admin.create_subnet(name=names["subnet"], project_id=PROJECT, cidr=SUBNET, ip_version=4)
    attached = admin.add_interface_to_router(router, subnet=subnet.id)
    assert attached["subnet_id"] == subnet.id, rec.text()
    state["router"], state["subnet"] = router.id, subnet.id
    assert api.show("routers", "router", router.id, admin=True)["project_id"] == PROJECT
    # the project sees its router and subnet through the SDK too
    assert member.find_router(names["router"]).id == router.id
    assert [s.id for s in member.subnets(name=names["subnet"])] == [subnet.id]
    assert member.get_router(router.id).external_gateway_info["external_fixed_ips"][0]["ip_address"] == GATEWAY


def test_member_cannot_write_inventory(member, names):
    with pytest.raises(exceptions.ForbiddenException):
        member.create_router(name=names["router"] + "-x")


# ---------------------------------------------------------------- create


def test_create_ike_policy_sends_ints_dicts_and_project_id(member, api, names, state, proxy):
    rec = Recorded(proxy)
    ike = member.create_vpn_ike_policy(
        name=names["ike"], project_id=PROJECT, auth_algorithm="sha384",
        encryption_algorithm="aes-256", ike_version="v2", pfs="group14",
        phase1_negotiation_mode="main", lifetime={"units": "seconds", "value": 7200},
    )
    sent = rec.body()["ikepolicy"]
    assert sent["lifetime"] == {"units": "seconds", "value": 7200} and sent["project_id"] == PROJECT
    assert ike.lifetime == {"units": "seconds", "value": 7200}, rec.text()
    state["ike"] = ike.id
    got = api.show(*IKE, ike.id)
    assert (got["auth_algorithm"], got["encryption_algorithm"], got["ike_version"], got["pfs"]) == (
        "sha384", "aes-256", "v2", "group14")
    assert got["lifetime"] == {"units": "seconds", "value": 7200}
    assert got["tenant_id"] == got["project_id"] == PROJECT


def test_admin_creates_ipsec_policy_for_the_project(admin, member, api, names, state, proxy):
    rec = Recorded(proxy)
    pol = admin.create_vpn_ipsec_policy(
        name=names["ipsec"], project_id=PROJECT, auth_algorithm="sha256",
        encryption_algorithm="aes-128", pfs="group14", transform_protocol="esp",
        encapsulation_mode="tunnel", lifetime={"units": "seconds", "value": 1800},
    )
    assert rec.body()["ipsecpolicy"]["project_id"] == PROJECT
    assert pol.project_id == PROJECT, rec.text()
    state["ipsec"] = pol.id
    got = api.show(*IPSEC, pol.id)  # as project demo: it is the project's
    assert got["project_id"] == PROJECT and got["lifetime"] == {"units": "seconds", "value": 1800}
    assert member.get_vpn_ipsec_policy(pol.id).name == names["ipsec"]


def test_member_naming_another_project_is_refused(member, names):
    with pytest.raises(exceptions.BadRequestException) as err:
        member.create_vpn_ike_policy(name=names["ike"] + "-other", project_id="someone-else")
    assert "Specifying 'project_id' other than the authenticated project" in str(err.value)


def test_create_vpn_service(member, api, names, state, proxy):
    router, = need(state, "router")
    rec = Recorded(proxy)
    svc = member.create_vpn_service(name=names["vpn"], router_id=router, project_id=PROJECT,
                                    is_admin_state_up=True)
    assert rec.body()["vpnservice"]["admin_state_up"] is True
    assert svc.external_v4_ip == GATEWAY and svc.status == "PENDING_CREATE", rec.text()
    state["vpn"] = svc.id
    got = api.show(*SERVICE, svc.id)
    assert (got["router_id"], got["external_v4_ip"], got["project_id"]) == (router, GATEWAY, PROJECT)


def test_create_endpoint_groups(member, api, names, state):
    subnet, = need(state, "subnet")
    local = member.create_vpn_endpoint_group(name=names["local"], type="subnet", endpoints=[subnet],
                                             project_id=PROJECT)
    peer = member.create_vpn_endpoint_group(name=names["peer"], type="cidr", endpoints=PEERS)
    state["local"], state["peer"] = local.id, peer.id
    assert api.show(*GROUP, local.id)["endpoints"] == [subnet]
    assert api.show(*GROUP, peer.id)["endpoints"] == PEERS
    assert (local.type, peer.type) == ("subnet", "cidr")


def test_create_site_connection(member, api, names, state, proxy):
    vpn, ike, ipsec, local, peer = need(state, "vpn", "ike", "ipsec", "local", "peer")
    rec = Recorded(proxy)
    conn = member.create_vpn_ipsec_site_connection(
        name=names["conn"], project_id=PROJECT, vpnservice_id=vpn, ikepolicy_id=ike,
        ipsecpolicy_id=ipsec, local_ep_group_id=local, peer_ep_group_id=peer,
        peer_address="172.24.4.50", peer_id="peer@example.org", psk="secret", mtu=1400,
        initiator="bi-directional", local_id="@me", description="sdk conn",
        dpd={"action": "hold", "interval": 30, "timeout": 120},
    )
    sent = rec.body()["ipsec_site_connection"]
    assert sent["mtu"] == 1400 and sent["dpd"]["interval"] == 30 and sent["project_id"] == PROJECT
    assert conn.mtu == 1400 and conn.dpd == {"action": "hold", "interval": 30, "timeout": 120}, rec.text()
    state["conn"] = conn.id
    got = api.show(*CONN, conn.id)
    assert (got["mtu"], got["initiator"], got["local_id"], got["description"]) == (
        1400, "bi-directional", "@me", "sdk conn")
    assert (got["peer_address"], got["peer_id"], got["status"]) == ("172.24.4.50", "peer@example.org", "PENDING_CREATE")


# ---------------------------------------------------------------- get, find, list with a filter

RESOURCES = {
    "ike": ("vpn_ike_policy", "vpn_ike_policies"),
    "ipsec": ("vpn_ipsec_policy", "vpn_ipsec_policies"),
    "vpn": ("vpn_service", "vpn_services"),
    "local": ("vpn_endpoint_group", "vpn_endpoint_groups"),
    "peer": ("vpn_endpoint_group", "vpn_endpoint_groups"),
    "conn": ("vpn_ipsec_site_connection", "vpn_ipsec_site_connections"),
}


@pytest.mark.parametrize("role", list(RESOURCES))
def test_get_and_find_by_name(member, names, state, role, proxy):
    ident, = need(state, role)
    one, _ = RESOURCES[role]
    rec = Recorded(proxy)
    got = getattr(member, f"get_{one}")(ident)
    assert (got.id, got.name) == (ident, names[role]), rec.text()
    found = getattr(member, f"find_{one}")(names[role])
    assert found is not None and found.id == ident, rec.text()
    assert getattr(member, f"find_{one}")(names[role] + "-missing") is None, rec.text()
    with pytest.raises(exceptions.NotFoundException):
        getattr(member, f"get_{one}")("00000000-0000-4000-8000-000000000000")


def ids(it):
    return [x.id for x in it]


def test_list_with_filters(member, names, state, proxy):
    ike, ipsec, vpn, local, peer, conn, router = need(
        state, "ike", "ipsec", "vpn", "local", "peer", "conn", "router")
    rec = Recorded(proxy)
    assert ids(member.vpn_ike_policies(name=names["ike"])) == [ike], rec.text()
    assert ike in ids(member.vpn_ike_policies(ike_version="v2", pfs="group14")), rec.text()
    assert ike not in ids(member.vpn_ike_policies(ike_version="v1")), rec.text()
    assert ids(member.vpn_ipsec_policies(name=names["ipsec"], transform_protocol="esp")) == [ipsec], rec.text()
    assert ids(member.vpn_services(router_id=router)) == [vpn], rec.text()
    # the SDK maps `type` to the query parameter `endpoint_type`
    cidr_groups = ids(member.vpn_endpoint_groups(type="cidr"))
    assert peer in cidr_groups and local not in cidr_groups, rec.text()
    assert ids(member.vpn_ipsec_site_connections(peer_address="172.24.4.50", is_admin_state_up=True)) == [conn], rec.text()
    assert ids(member.vpn_ipsec_site_connections(vpnservice_id=vpn, mtu=1400)) == [conn], rec.text()


def test_list_pages_through_links(member, names, state, proxy):
    """With a limit the server answers `<collection>_links`; the SDK follows `next`."""
    need(state, "ike")
    extra = [member.create_vpn_ike_policy(name=f"{names['ike']}-page{i}").id for i in range(3)]
    try:
        rec = Recorded(proxy)
        listed = ids(member.vpn_ike_policies(limit=2, paginated=True))
        pages = [e for e in rec.proxy.since(rec.mark) if e.path.startswith("/v2.0/vpn/ikepolicies")]
        assert len(listed) == len(set(listed)), rec.text()
        assert set(extra + [state["ike"]]) <= set(listed), rec.text()
        assert len(pages) >= 2 and any("marker=" in e.path for e in pages), rec.text()
    finally:
        for ident in extra:
            member.delete_vpn_ike_policy(ident)


def test_list_filtered_by_project(member, admin, state):
    conn, = need(state, "conn")
    assert conn in ids(member.vpn_ipsec_site_connections(project_id=PROJECT))
    assert conn in ids(admin.vpn_ipsec_site_connections(project_id=PROJECT))
    assert conn not in ids(admin.vpn_ipsec_site_connections(project_id=ADMIN_PROJECT))


# ---------------------------------------------------------------- update


def test_update_each_resource(member, api, names, state, proxy):
    ike, ipsec, vpn, local, conn = need(state, "ike", "ipsec", "vpn", "local", "conn")
    member.update_vpn_ike_policy(ike, description="renamed in use")
    assert api.show(*IKE, ike)["description"] == "renamed in use"
    member.update_vpn_ipsec_policy(ipsec, description="d2")
    assert api.show(*IPSEC, ipsec)["description"] == "d2"
    svc = member.update_vpn_service(vpn, description="svc2", is_admin_state_up=False)
    assert svc.is_admin_state_up is False
    assert api.show(*SERVICE, vpn)["admin_state_up"] is False
    member.update_vpn_endpoint_group(local, name=names["local"] + "2")
    assert api.show(*GROUP, local)["name"] == names["local"] + "2"
    state["local_renamed"] = True

    rec = Recorded(proxy)
    updated = member.update_vpn_ipsec_site_connection(
        conn, mtu=1300, dpd={"action": "clear", "interval": 10, "timeout": 40})
    assert rec.body("PUT")["ipsec_site_connection"] == {
        "mtu": 1300, "dpd": {"action": "clear", "interval": 10, "timeout": 40}}
    assert updated.mtu == 1300, rec.text()
    got = api.show(*CONN, conn)
    assert got["mtu"] == 1300 and got["dpd"] == {"action": "clear", "interval": 10, "timeout": 40}


def test_update_errors(member, api, state, proxy):
    ike, conn = need(state, "ike", "conn")
    with pytest.raises(exceptions.BadRequestException) as err:
        member.update_vpn_ipsec_site_connection(conn, mtu=10)
    assert "ipsec_site_connection MTU 10 is too small for ipv4" in str(err.value)
    with pytest.raises(exceptions.BadRequestException) as err:
        member.update_vpn_ipsec_site_connection(conn, dpd={"action": "hold", "interval": 60, "timeout": 30})
    assert "dpd_interval" in str(err.value)
    with pytest.raises(exceptions.ConflictException) as err:
        member.update_vpn_ike_policy(ike, pfs="group19")
    assert f"IKEPolicy {ike} is in use" in str(err.value)
    with pytest.raises(exceptions.ConflictException) as err:
        member.delete_vpn_ike_policy(ike)
    assert f"IKEPolicy {ike} is in use" in str(err.value)
    got = api.show(*CONN, conn)
    assert got["mtu"] == 1300 and got["dpd"]["interval"] == 10


# ---------------------------------------------------------------- certificate authentication


def _ca_and_site_pem(host):
    """A throwaway CA and a site certificate for `host` (ECDSA P-256), as PEM texts."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, site_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sdk test ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    site = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(site_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()
    key = site_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return pem(ca), pem(site), key


def test_create_certs_connection_through_the_sdk(member, api, names, state):
    """The SDK's resources know `auth_mode` but not the certificate attributes (ADR 0017), so
    the certificate and the connection are created through its authenticated network adapter,
    and the connection is read back as the SDK's typed resource."""
    vpn, ike, ipsec, local, peer = need(state, "vpn", "ike", "ipsec", "local", "peer")
    ca, site, key = _ca_and_site_pem("site.sdk.test")
    resp = member.post("/vpn/certificates", raise_exc=False, json={"certificate": {
        "name": names["conn"] + "-cert", "certificate": site, "private_key": key}})
    assert resp.status_code == 201, resp.text
    cert = resp.json()["certificate"]
    assert "private_key" not in cert and cert["subject"] == "CN=site.sdk.test"
    resp = member.post("/vpn/ipsec-site-connections", raise_exc=False, json={"ipsec_site_connection": {
        "name": names["conn"] + "-certs", "vpnservice_id": vpn, "ikepolicy_id": ike, "ipsecpolicy_id": ipsec,
        "local_ep_group_id": local, "peer_ep_group_id": peer, "peer_address": "172.24.4.51",
        "peer_id": "CN=peer.sdk.test", "auth_mode": "certs", "local_certificate_id": cert["id"], "peer_ca": ca}})
    assert resp.status_code == 201, resp.text
    conn = member.get_vpn_ipsec_site_connection(resp.json()["ipsec_site_connection"]["id"])
    assert (conn.auth_mode, conn.psk) == ("certs", None)
    got = api.show(*CONN, conn.id)
    assert got["local_certificate_id"] == cert["id"] and "BEGIN CERTIFICATE" in got["peer_ca"]
    assert member.delete(f"/vpn/certificates/{cert['id']}", raise_exc=False).status_code == 409
    member.delete_vpn_ipsec_site_connection(conn.id)
    assert member.delete(f"/vpn/certificates/{cert['id']}", raise_exc=False).status_code == 204


# ---------------------------------------------------------------- delete


def test_delete_everything_in_reverse(member, api, state):
    conn, local, peer, vpn, ipsec, ike = need(state, "conn", "local", "peer", "vpn", "ipsec", "ike")
    for delete, ident, where in [
        (member.delete_vpn_ipsec_site_connection, conn, CONN),
        (member.delete_vpn_endpoint_group, local, GROUP),
        (member.delete_vpn_endpoint_group, peer, GROUP),
        (member.delete_vpn_service, vpn, SERVICE),
        (member.delete_vpn_ipsec_policy, ipsec, IPSEC),
        (member.delete_vpn_ike_policy, ike, IKE),
    ]:
        delete(ident)
        api.missing(where[0], ident)
        delete(ident, ignore_missing=True)  # a second delete: 404, which the SDK ignores
        with pytest.raises(exceptions.NotFoundException):
            delete(ident, ignore_missing=False)


def test_admin_removes_inventory(admin, api, state):
    router, subnet = need(state, "router", "subnet")
    admin.remove_interface_from_router(router, subnet=subnet)
    admin.delete_subnet(subnet)
    api.missing("subnets", subnet, admin=True)
    admin.delete_router(router)
    api.missing("routers", router, admin=True)


# ---------------------------------------------------------------- quotas (ADR 0041)


def test_quotas_through_the_sdk(admin, member, names, proxy):
    """openstacksdk's quota calls as Neutron serves them: the project reads its quota (the VPN
    keys kept as the SDK keeps unknown keys), an admin sets a limit, a create past it is the
    SDK's ConflictException with Neutron's OverQuota message, the details count what is held,
    and deleting the quota brings the defaults back."""
    rec = Recorded(proxy)
    quota = member.get_quota(PROJECT)
    assert quota.to_dict()["ikepolicy"] == -1, rec.text()
    held = member.get_quota(PROJECT, details=True).to_dict()["ikepolicy"]["used"]
    assert admin.update_quota(PROJECT, ikepolicy=held + 1).to_dict()["ikepolicy"] == held + 1
    created = []
    try:
        created.append(member.create_vpn_ike_policy(name=names["ike"] + "-quota"))
        with pytest.raises(exceptions.ConflictException) as err:
            member.create_vpn_ike_policy(name=names["ike"] + "-over")
        assert "Quota exceeded for resources: ['ikepolicy']." in str(err.value), rec.text()
        details = member.get_quota(PROJECT, details=True).to_dict()["ikepolicy"]
        assert details == {"limit": held + 1, "used": held + 1, "reserved": 0}, rec.text()
        assert [q.project_id for q in admin.quotas()] == [PROJECT], rec.text()
        assert admin.get_quota_default(PROJECT).to_dict()["ikepolicy"] == -1
    finally:
        admin.delete_quota(PROJECT)
        for ike in created:
            member.delete_vpn_ike_policy(ike)
    assert member.get_quota(PROJECT).to_dict()["ikepolicy"] == -1
