//! IPsec site connections: the specification's example, defaults, every attribute, and every rule of ADR 0009 §2.3.

use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn the_otc_example_request_with_real_ids_is_created_as_the_document_shows() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let body = json!({"ipsec_site_connection": {
        "psk": "secret", "initiator": "bi-directional", "ipsecpolicy_id": site.ipsec, "admin_state_up": true,
        "mtu": 1500, "peer_ep_group_id": site.peer, "ikepolicy_id": site.ike, "vpnservice_id": site.service,
        "local_ep_group_id": site.local, "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "name": "vpnconnection1"}});
    let r = app.post(CONNS, P1, body.clone()).await;
    let c = r.ok(201)["ipsec_site_connection"].clone();
    for (k, v) in body["ipsec_site_connection"].as_object().unwrap() {
        assert_eq!(&c[k], v, "{k} is echoed");
    }
    assert_eq!(c["status"], "PENDING_CREATE");
    assert_eq!(c["auth_mode"], "psk");
    assert_eq!(c["route_mode"], "static");
    assert_eq!(c["dpd"], json!({"action": "hold", "interval": 30, "timeout": 120}));
    assert_eq!(c["peer_cidrs"], json!([]));
    assert_eq!(c["tenant_id"], P1);
    assert_eq!(c["local_id"], "");
    assert_eq!(c["description"], "");
    assert!(uuid::Uuid::parse_str(c["id"].as_str().unwrap()).is_ok());
    assert!(c["created_at"].as_str().unwrap().len() >= 20);
}

#[tokio::test]
async fn connection_with_every_attribute_then_update_of_every_updatable_one() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let body = with(
        site.connection(),
        json!({"description": "d", "local_id": "@me", "mtu": "1400", "initiator": "response-only",
               "dpd": {"action": "clear", "interval": 20, "timeout": 60}, "admin_state_up": false, "tenant_id": P1}),
    );
    let id = app.create(CONNS, P1, body).await;
    let path = format!("{CONNS}/{id}");
    let c = app.get(&path, P1).await.ok(200)["ipsec_site_connection"].clone();
    assert_eq!(c["mtu"], 1400, "the CLI's string MTU is converted");
    assert_eq!(c["local_id"], "@me");
    assert_eq!(c["initiator"], "response-only");
    assert_eq!(c["dpd"], json!({"action": "clear", "interval": 20, "timeout": 60}));
    assert_eq!(c["admin_state_up"], false);
    assert_eq!(c["description"], "d");

    let peer2 = app.group(P1, "cidr", json!(["10.7.0.0/24"])).await;
    let update = json!({"ipsec_site_connection": {
        "name": "c2", "description": "d2", "peer_address": "vpn.example.com", "peer_id": "@peer", "local_id": "@me2",
        "peer_ep_group_id": peer2, "mtu": 1300, "initiator": "bi-directional", "psk": "other-secret",
        "dpd": {"interval": 10, "timeout": 40}, "admin_state_up": true}});
    let r = app.put(&path, P1, update).await;
    let u = &r.ok(200)["ipsec_site_connection"];
    assert_eq!(u["name"], "c2");
    assert_eq!(u["description"], "d2");
    assert_eq!(u["peer_address"], "vpn.example.com", "an FQDN is stored as given (ADR 0001 D2)");
    assert_eq!(u["peer_id"], "@peer");
    assert_eq!(u["local_id"], "@me2");
    assert_eq!(u["peer_ep_group_id"], peer2.as_str());
    assert_eq!(u["mtu"], 1300);
    assert_eq!(u["initiator"], "bi-directional");
    assert_eq!(u["psk"], "other-secret");
    assert_eq!(u["dpd"], json!({"action": "clear", "interval": 10, "timeout": 40}), "a partial dpd keeps the action");
    assert_eq!(u["admin_state_up"], true);
    assert_eq!(u["status"], "PENDING_CREATE", "never acknowledged, still pending create");
    assert_eq!(u["revision_number"], 2);
    assert_eq!(app.get(&path, P1).await.ok(200)["ipsec_site_connection"], *u);
    assert_eq!(app.delete(&path, P1).await.status, 204);
    app.get(&path, P1).await.refused(404, "IPsecSiteConnectionNotFound", &id);
}

#[tokio::test]
async fn legacy_mode_connection_takes_peer_cidrs_even_as_a_bare_string() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let body = with(site.legacy_connection(), json!({"peer_cidrs": "10.6.0.0/24"}));
    let r = app.post(CONNS, P1, body).await;
    let c = &r.ok(201)["ipsec_site_connection"];
    assert_eq!(c["peer_cidrs"], json!(["10.6.0.0/24"]));
    assert_eq!(c["local_ep_group_id"], Value::Null);
    let path = format!("{CONNS}/{}", c["id"].as_str().unwrap());
    let r = app.put(&path, P1, json!({"ipsec_site_connection": {"peer_cidrs": ["10.8.0.0/24", "10.9.0.0/24"]}})).await;
    assert_eq!(r.ok(200)["ipsec_site_connection"]["peer_cidrs"], json!(["10.8.0.0/24", "10.9.0.0/24"]));
}

#[tokio::test]
async fn long_ipv6_peer_cidrs_are_stored_whole() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let service6 = app.vpnservice(P1, &site.topo.router, Some(&site.topo.subnet6)).await;
    let long = "2001:db8:1234:5678:9abc:def0:1234:5600/120";
    let body = with(
        site.legacy_connection(),
        json!({"vpnservice_id": service6, "peer_cidrs": [long], "peer_address": "2001:db8:ffff::99", "mtu": 1280}),
    );
    let r = app.post(CONNS, P1, body).await;
    let c = r.ok(201)["ipsec_site_connection"].clone();
    let shown = app.get(&format!("{CONNS}/{}", c["id"].as_str().unwrap()), P1).await;
    assert_eq!(shown.ok(200)["ipsec_site_connection"]["peer_cidrs"], json!([long]));
}

#[tokio::test]
async fn required_attributes_are_named_when_missing() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    for attr in ["peer_address", "peer_id", "psk", "vpnservice_id", "ikepolicy_id", "ipsecpolicy_id"] {
        let r = app.post(CONNS, P1, without(site.connection(), attr)).await;
        r.refused(400, "HTTPBadRequest", &format!("Required attribute '{attr}' not specified"));
    }
    assert_eq!(app.count(CONNS).await, 0);
}

#[tokio::test]
async fn mtu_is_at_least_68_for_ipv4_and_1280_for_ipv6_zero_included() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    for mtu in [json!(67), json!(0), json!("10")] {
        let r = app.post(CONNS, P1, with(site.connection(), json!({ "mtu": mtu }))).await;
        r.refused(400, "IPsecSiteConnectionMtuError", "is too small for ipv4");
    }
    for mtu in [json!(-1), json!("abc"), json!(70000), json!(null)] {
        let r = app.post(CONNS, P1, with(site.connection(), json!({ "mtu": mtu }))).await;
        r.refused(400, "HTTPBadRequest", "Invalid input for mtu");
    }
    assert_eq!(app.count(CONNS).await, 0);
    app.post(CONNS, P1, with(site.connection(), json!({"mtu": 68}))).await.ok(201);

    let service6 = app.vpnservice(P1, &site.topo.router, Some(&site.topo.subnet6)).await;
    let v6 = with(
        site.legacy_connection(),
        json!({"vpnservice_id": service6, "peer_cidrs": ["2001:db8:9::/64"], "peer_address": "2001:db8:ffff::99", "mtu": 1279}),
    );
    app.post(CONNS, P1, v6.clone()).await.refused(400, "IPsecSiteConnectionMtuError", "MTU 1279 is too small for ipv6");
    app.post(CONNS, P1, with(v6, json!({"mtu": 1280}))).await.ok(201);
    // An update is checked against the local side's version too.
    let id = app.create(CONNS, P1, with(site.connection(), json!({"peer_address": "172.24.4.234"}))).await;
    app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"mtu": 0}})).await.refused(
        400,
        "IPsecSiteConnectionMtuError",
        "MTU 0",
    );
}

#[tokio::test]
async fn dpd_interval_is_positive_and_timeout_greater_than_interval() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let cases = [
        (json!({"interval": 0, "timeout": 60}), "HTTPBadRequest", "Invalid input for dpd"),
        (
            json!({"interval": 30, "timeout": 30}),
            "IPsecSiteConnectionDpdIntervalValueError",
            "dpd_timeout is equal to or less than dpd_interval",
        ),
        (json!({"timeout": 20}), "IPsecSiteConnectionDpdIntervalValueError", "dpd_timeout"),
        (json!({"action": "explode"}), "HTTPBadRequest", "Invalid input for dpd"),
        (json!({"interval": -5}), "HTTPBadRequest", "Invalid input for dpd"),
        (json!({"delay": 5}), "HTTPBadRequest", "Invalid input for dpd"),
        (json!(59), "HTTPBadRequest", "is not a dictionary"),
    ];
    for (dpd, type_name, needle) in cases {
        app.post(CONNS, P1, with(site.connection(), json!({ "dpd": dpd }))).await.refused(400, type_name, needle);
    }
    assert_eq!(app.count(CONNS).await, 0);
    let r = app
        .post(
            CONNS,
            P1,
            with(site.connection(), json!({"dpd": {"action": "restart", "interval": "5", "timeout": "6"}})),
        )
        .await;
    assert_eq!(r.ok(201)["ipsec_site_connection"]["dpd"], json!({"action": "restart", "interval": 5, "timeout": 6}));
    // On update the stored values fill in: timeout 6 is not greater than a new interval of 10.
    let id = r.id();
    app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"dpd": {"interval": 10}}})).await.refused(
        400,
        "IPsecSiteConnectionDpdIntervalValueError",
        "dpd_timeout",
    );
}

#[tokio::test]
async fn peer_cidrs_must_be_valid_unique_and_of_one_version_matching_the_local_subnet() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let cases = [
        (json!(["1.0.0.0/33"]), "HTTPBadRequest", "'1.0.0.0/33' is not a valid IP subnet"),
        (json!(["10.5.0.0"]), "HTTPBadRequest", "Invalid input for peer_cidrs"),
        (json!(["10.5.0.0/24", "10.5.0.0/24"]), "HTTPBadRequest", "Duplicate items in the list"),
        (
            json!(["10.5.0.0/24", "2001:db8::/64"]),
            "MixedIPVersionsForPeerCidrs",
            "Peer CIDRs do not have the same IP version",
        ),
        (json!(["2001:db8::/64"]), "MixedIPVersionsForIPSecConnection", "IP versions are not compatible"),
        (json!([]), "MissingPeerCidrs", "Missing peer CIDRs"),
        (json!(null), "MissingPeerCidrs", "Missing peer CIDRs"),
    ];
    for (cidrs, type_name, needle) in cases {
        app.post(CONNS, P1, with(site.legacy_connection(), json!({ "peer_cidrs": cidrs })))
            .await
            .refused(400, type_name, needle);
    }
    app.post(CONNS, P1, without(site.legacy_connection(), "peer_cidrs")).await.refused(
        400,
        "MissingPeerCidrs",
        "Missing",
    );
    assert_eq!(app.count(CONNS).await, 0);
}

#[tokio::test]
async fn legacy_and_endpoint_group_modes_cannot_be_mixed() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let legacy = site.legacy_connection();
    let r = app.post(CONNS, P1, with(legacy.clone(), json!({"local_ep_group_id": site.local}))).await;
    r.refused(
        400,
        "InvalidEndpointGroup",
        "Endpoint group local cannot be specified, when VPN Service has subnet specified",
    );
    let r = app.post(CONNS, P1, with(legacy.clone(), json!({"peer_ep_group_id": site.peer}))).await;
    r.refused(400, "InvalidEndpointGroup", "Endpoint group peer cannot be specified");
    let r = app
        .post(CONNS, P1, with(legacy, json!({"local_ep_group_id": site.local, "peer_ep_group_id": site.peer})))
        .await;
    r.refused(400, "InvalidEndpointGroup", "Endpoint groups local and peer cannot be specified");

    let groups = site.connection();
    let r = app.post(CONNS, P1, with(groups.clone(), json!({"peer_cidrs": ["10.5.0.0/24"]}))).await;
    r.refused(400, "PeerCidrsInvalid", "Peer CIDRs cannot be specified, when using endpoint groups");
    let r = app.post(CONNS, P1, without(groups.clone(), "peer_ep_group_id")).await;
    r.refused(400, "MissingRequiredEndpointGroup", "Missing endpoint group peer for IPSec site-to-site connection");
    let r = app.post(CONNS, P1, without(groups.clone(), "local_ep_group_id")).await;
    r.refused(400, "MissingRequiredEndpointGroup", "Missing endpoint group local");
    let r = app.post(CONNS, P1, without(without(groups, "local_ep_group_id"), "peer_ep_group_id")).await;
    r.refused(400, "MissingRequiredEndpointGroup", "Missing endpoint groups local and peer");
    assert_eq!(app.count(CONNS).await, 0);

    // An update is checked with the stored values filling in.
    let id = app.create(CONNS, P1, site.connection()).await;
    app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"peer_cidrs": ["10.5.0.0/24"]}}))
        .await
        .refused(400, "PeerCidrsInvalid", "Peer CIDRs cannot be specified");
    app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"peer_ep_group_id": null}})).await.refused(
        400,
        "MissingRequiredEndpointGroup",
        "peer",
    );
}

#[tokio::test]
async fn endpoint_groups_must_have_the_right_types_attachment_and_versions() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let conn = site.connection();
    let r = app.post(CONNS, P1, with(conn.clone(), json!({"local_ep_group_id": site.peer}))).await;
    r.refused(400, "WrongEndpointGroupType", "Endpoint group local type is 'cidr' and should be 'subnet'");
    let r = app.post(CONNS, P1, with(conn.clone(), json!({"peer_ep_group_id": site.local}))).await;
    r.refused(400, "WrongEndpointGroupType", "Endpoint group peer type is 'subnet' and should be 'cidr'");
    let loose = app.group(P1, "subnet", json!([site.topo.loose_subnet])).await;
    let r = app.post(CONNS, P1, with(conn.clone(), json!({"local_ep_group_id": loose}))).await;
    r.refused(400, "SubnetIsNotConnectedToRouter", &site.topo.loose_subnet);
    let peer6 = app.group(P1, "cidr", json!(["2001:db8:7::/64"])).await;
    let r = app.post(CONNS, P1, with(conn.clone(), json!({"peer_ep_group_id": peer6}))).await;
    r.refused(
        400,
        "MixedIPVersionsForIPSecConnection",
        "IP versions are not compatible between peer and local endpoints",
    );
    let ghost = "99999999-2222-3333-4444-555555555555";
    let r = app.post(CONNS, P1, with(conn.clone(), json!({"peer_ep_group_id": ghost}))).await;
    r.refused(404, "VPNEndpointGroupNotFound", ghost);
    let r = app.post(CONNS, P1, with(conn, json!({"local_ep_group_id": "not-a-uuid"}))).await;
    r.refused(400, "HTTPBadRequest", "Invalid input for local_ep_group_id");
    assert_eq!(app.count(CONNS).await, 0);
}

#[tokio::test]
async fn references_to_missing_objects_are_404_never_500() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let ghost = "99999999-2222-3333-4444-555555555555";
    let cases = [
        ("vpnservice_id", "VPNServiceNotFound", "VPNService"),
        ("ikepolicy_id", "IKEPolicyNotFound", "IKEPolicy"),
        ("ipsecpolicy_id", "IPsecPolicyNotFound", "IPsecPolicy"),
    ];
    for (attr, type_name, word) in cases {
        let r = app.post(CONNS, P1, with(site.connection(), json!({ attr: ghost }))).await;
        r.refused(404, type_name, &format!("{word} {ghost} could not be found"));
    }
    // Another project's objects do not exist for this caller either.
    let other = Site::new(&app, P2).await;
    let r = app.post(CONNS, P1, with(site.connection(), json!({"ikepolicy_id": other.ike}))).await;
    r.refused(404, "IKEPolicyNotFound", &other.ike);
    assert_eq!(app.count(CONNS).await, 0);
}

#[tokio::test]
async fn peer_address_must_be_an_ip_or_host_name_with_a_gateway_of_its_version() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    for bad in ["not a host", "1.2.3.999", "-bad.example.com", ""] {
        let r = app.post(CONNS, P1, with(site.connection(), json!({ "peer_address": bad }))).await;
        r.refused(400, "HTTPBadRequest", "Invalid input for peer_address");
    }
    app.post(CONNS, P1, with(site.connection(), json!({"peer_id": ""}))).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for peer_id",
    );
    // A router with only an IPv4 gateway cannot reach an IPv6 peer.
    let v4only = app.router(P1, "v4only", json!({"external_fixed_ips": [{"ip_address": "172.24.4.20"}]})).await;
    let sub = app.subnet(P1, "s", "10.20.0.0/24").await;
    app.attach(&v4only, &sub).await;
    let service = app.vpnservice(P1, &v4only, Some(&sub)).await;
    let body = with(site.legacy_connection(), json!({"vpnservice_id": service, "peer_address": "2001:db8::1"}));
    app.post(CONNS, P1, body).await.refused(400, "ExternalNetworkHasNoSubnet", "has no IPv6 subnet");
    assert_eq!(app.count(CONNS).await, 0);
}

#[tokio::test]
async fn psk_is_required_non_empty_and_never_echoed_in_errors() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let long = "k".repeat(256);
    for psk in [json!(""), json!(long), json!(42)] {
        let r = app.post(CONNS, P1, with(site.connection(), json!({ "psk": psk }))).await;
        r.refused(400, "HTTPBadRequest", "Invalid input for psk");
        assert!(!r.message().contains("kkkk"), "{}", r.message());
    }
    assert_eq!(app.count(CONNS).await, 0);
}

#[tokio::test]
async fn read_only_and_create_only_connection_attributes_are_refused() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    // auth_mode is writable since ADR 0017 (certs.rs tests it).
    for (attr, value) in [("route_mode", json!("static")), ("status", json!("ACTIVE")), ("id", json!("x"))] {
        let r = app.post(CONNS, P1, with(site.connection(), json!({ attr: value }))).await;
        r.refused(400, "HTTPBadRequest", &format!("Attribute '{attr}' not allowed in POST"));
    }
    let id = app.create(CONNS, P1, site.connection()).await;
    for attr in ["vpnservice_id", "ikepolicy_id", "ipsecpolicy_id", "tenant_id", "route_mode"] {
        let r = app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": { attr: site.ike }})).await;
        r.refused(400, "HTTPBadRequest", &format!("Cannot update read-only attribute {attr}"));
    }
    assert_eq!(app.count(CONNS).await, 1);
}
