//! Validation profiles (openstack, otc) and active/standby connection pairs.

use serde_json::{json, Value};
use vpnaas_core::profile::OTC;

use crate::support::*;

async fn otc_app() -> App {
    spawn_app_with(|c| c.profile = &OTC).await
}

/// A 251-character host name: valid under OpenStack (255), too long under OTC (250).
fn long_host() -> String {
    let host = format!("{}.{}.{}.{}.example.com", "a".repeat(60), "b".repeat(60), "c".repeat(60), "d".repeat(56));
    assert_eq!(host.len(), 251);
    host
}

/// Each case: what to merge into a valid endpoint-group connection, and the attribute OTC names.
fn otc_only_refusals() -> Vec<(Value, &'static str)> {
    vec![
        (json!({"project_id": P1}), "project_id"),
        (json!({"dpd": {"action": "hold", "interval": 30, "timeout": 120}}), "dpd"),
        (json!({"local_id": "@me"}), "local_id"),
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(65)}), "name"),
        (json!({"peer_address": long_host(), "peer_id": long_host()}), "peer_address"),
        (json!({"peer_id": "p".repeat(251)}), "peer_id"),
        (json!({"peer_id": "@other-peer"}), "peer_id"),
        (json!({"mtu": 1400}), "mtu"),
        (json!({"initiator": "response-only"}), "initiator"),
        (json!({"admin_state_up": false}), "admin_state_up"),
        (json!({"psk": "short"}), "psk"),
        (json!({"psk": "has space"}), "psk"),
        (json!({"psk": "what?ever"}), "psk"),
        (json!({"psk": "********"}), "psk"),
        (json!({"psk": "k".repeat(129)}), "psk"),
    ]
}

#[tokio::test]
async fn every_otc_restriction_refuses_what_openstack_accepts_naming_the_attribute() {
    let openstack = spawn_app().await;
    let otc = otc_app().await;
    let (os_site, otc_site) = (Site::new(&openstack, P1).await, Site::new(&otc, P1).await);
    for (i, (extra, attr)) in otc_only_refusals().into_iter().enumerate() {
        // Distinct groups per case keep the accepted connections from forming pairs.
        let peer = openstack.group(P1, "cidr", json!([format!("10.{}.0.0/24", 100 + i)])).await;
        let accepted = with(with(os_site.connection(), json!({ "peer_ep_group_id": peer })), extra.clone());
        openstack.post(CONNS, P1, accepted).await.ok(201);
        let r = otc.post(CONNS, P1, with(otc_site.connection(), extra)).await;
        r.refused(400, "HTTPBadRequest", &format!("Invalid input for {attr}"));
        assert!(r.message().contains("'otc' profile"), "{}", r.message());
    }
    assert_eq!(otc.count(CONNS).await, 0, "nothing written under otc");
    // Legacy mode with peer CIDRs: fine for OpenStack, deprecated for OTC.
    openstack.post(CONNS, P1, os_site.legacy_connection()).await.ok(201);
    otc.post(CONNS, P1, otc_site.legacy_connection()).await.refused(400, "HTTPBadRequest", "peer_cidrs is deprecated");
    assert_eq!(otc.count(CONNS).await, 0);
}

#[tokio::test]
async fn otc_lets_a_create_send_route_and_auth_mode_only_as_static_and_psk() {
    let openstack = spawn_app().await;
    let otc = otc_app().await;
    let (os_site, otc_site) = (Site::new(&openstack, P1).await, Site::new(&otc, P1).await);
    for (attr, good, bad) in [("route_mode", "static", "dynamic"), ("auth_mode", "psk", "certs")] {
        let r = openstack.post(CONNS, P1, with(os_site.connection(), json!({ attr: good }))).await;
        if attr == "auth_mode" {
            // ADR 0017: writable under openstack, where certs is a mode of its own.
            r.ok(201);
        } else {
            r.refused(400, "HTTPBadRequest", &format!("Attribute '{attr}' not allowed in POST"));
        }
        let r = otc.post(CONNS, P1, with(otc_site.connection(), json!({ attr: bad }))).await;
        r.refused(400, "HTTPBadRequest", &format!("Invalid input for {attr}"));
    }
    // OTC refuses certs on update too, and the certificate attributes at all.
    let conn = otc.post(CONNS, P1, with(otc_site.connection(), json!({"peer_cidrs": []}))).await;
    let path = format!("{CONNS}/{}", conn.id());
    let r = otc.put(&path, P1, json!({"ipsec_site_connection": {"auth_mode": "certs"}})).await;
    r.refused(400, "HTTPBadRequest", "Invalid input for auth_mode");
    let r = otc.put(&path, P1, json!({"ipsec_site_connection": {"peer_ca": "x"}})).await;
    r.refused(400, "HTTPBadRequest", "Invalid input for peer_ca");
    otc.delete(&path, P1).await.ok(204);
    let body = with(otc_site.connection(), json!({"route_mode": "static", "auth_mode": "psk", "peer_cidrs": []}));
    otc.post(CONNS, P1, body).await.ok(201);
}

#[tokio::test]
async fn otc_example_request_answers_exactly_the_documents_fields_and_time_format() {
    let otc = otc_app().await;
    let site = Site::new(&otc, P1).await;
    let body = json!({"ipsec_site_connection": {
        "psk": "secret", "initiator": "bi-directional", "ipsecpolicy_id": site.ipsec, "admin_state_up": true,
        "mtu": 1500, "peer_ep_group_id": site.peer, "ikepolicy_id": site.ike, "vpnservice_id": site.service,
        "local_ep_group_id": site.local, "peer_address": "172.24.4.233", "peer_id": "172.24.4.233",
        "name": "vpnconnection1"}});
    let r = otc.post(CONNS, P1, body.clone()).await;
    let c = r.ok(201)["ipsec_site_connection"].as_object().unwrap().clone();
    let mut keys: Vec<&str> = c.keys().map(String::as_str).collect();
    keys.sort();
    let mut expected = vec![
        "status",
        "psk",
        "initiator",
        "name",
        "admin_state_up",
        "tenant_id",
        "auth_mode",
        "peer_cidrs",
        "mtu",
        "peer_ep_group_id",
        "ikepolicy_id",
        "vpnservice_id",
        "dpd",
        "route_mode",
        "ipsecpolicy_id",
        "local_ep_group_id",
        "peer_address",
        "created_at",
        "peer_id",
        "id",
        "description",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    for (k, v) in body["ipsec_site_connection"].as_object().unwrap() {
        assert_eq!(&c[k], v, "{k}");
    }
    assert_eq!(c["status"], "PENDING_CREATE");
    assert_eq!(c["dpd"], json!({"action": "hold", "interval": 30, "timeout": 120}));
    let created = c["created_at"].as_str().unwrap();
    let shape: Vec<usize> = created.split([' ', '-', ':', '.']).map(str::len).collect();
    assert_eq!(shape, vec![4, 2, 2, 2, 2, 2, 6], "{created}");
    // Other resources use the document's time format too; the profile is discoverable.
    let ike = otc.get(&format!("{IKE}/{}", site.ike), P1).await;
    assert!(!ike.ok(200)["ikepolicy"]["created_at"].as_str().unwrap().contains('T'));
    let ext = otc.get("/v2.0/extensions/vpnaas-profile-otc", P1).await;
    assert!(ext.ok(200)["extension"]["description"].as_str().unwrap().contains("'otc'"));
}

#[tokio::test]
async fn otc_peer_id_follows_peer_address_and_updates_keep_the_limits() {
    let otc = otc_app().await;
    let site = Site::new(&otc, P1).await;
    let r = otc.post(CONNS, P1, without(site.connection(), "peer_id")).await;
    assert_eq!(r.ok(201)["ipsec_site_connection"]["peer_id"], "172.24.4.233", "peer_id defaults to peer_address");
    let path = format!("{CONNS}/{}", r.id());
    let r = otc.put(&path, P1, json!({"ipsec_site_connection": {"peer_address": "172.24.4.240"}})).await;
    assert_eq!(r.ok(200)["ipsec_site_connection"]["peer_id"], "172.24.4.240", "and follows it on update");
    let refusals = [
        (json!({"peer_id": "172.24.4.99"}), "peer_id"),
        (json!({"mtu": 1400}), "mtu"),
        (json!({"name": ""}), "name"),
        (json!({"psk": "abc"}), "psk"),
        (json!({"admin_state_up": false}), "admin_state_up"),
        (json!({"dpd": {"interval": 10, "timeout": 40}}), "dpd"),
        (json!({"local_id": "x"}), "local_id"),
    ];
    for (patch, attr) in refusals {
        otc.put(&path, P1, json!({ "ipsec_site_connection": patch })).await.refused(400, "HTTPBadRequest", attr);
    }
    let shown = otc.get(&path, P1).await;
    let c = &shown.ok(200)["ipsec_site_connection"];
    assert_eq!(
        (c["peer_id"].as_str(), c["mtu"].as_i64(), c["name"].as_str()),
        (Some("172.24.4.240"), Some(1500), Some("conn"))
    );
    otc.put(&path, P1, json!({"ipsec_site_connection": {"name": "renamed", "psk": "another-secret"}})).await.ok(200);
}

#[tokio::test]
async fn two_connections_with_the_same_groups_form_a_pair_and_a_third_is_refused() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let active =
        app.create(CONNS, P1, with(site.connection(), json!({"name": "a", "peer_address": "172.24.4.1"}))).await;
    let standby =
        app.create(CONNS, P1, with(site.connection(), json!({"name": "b", "peer_address": "172.24.4.2"}))).await;
    let r = app.post(CONNS, P1, with(site.connection(), json!({"name": "c", "peer_address": "172.24.4.3"}))).await;
    r.refused(409, "ConnectionPairFull", &active);
    assert!(r.message().contains(&standby) && r.message().contains("third connection"), "{}", r.message());
    // Another peer group on the same service is another pair.
    let other_peer = app.group(P1, "cidr", json!(["10.77.0.0/24"])).await;
    let third =
        with(site.connection(), json!({"name": "c", "peer_address": "172.24.4.3", "peer_ep_group_id": other_peer}));
    let lone = app.create(CONNS, P1, third).await;
    // Moving that connection into the full pair by update is refused too.
    app.put(&format!("{CONNS}/{lone}"), P1, json!({"ipsec_site_connection": {"peer_ep_group_id": site.peer}}))
        .await
        .refused(409, "ConnectionPairFull", &standby);
    // Deleting the active member leaves the standby alone, so a new partner may join.
    assert_eq!(app.delete(&format!("{CONNS}/{active}"), P1).await.status, 204);
    app.create(CONNS, P1, with(site.connection(), json!({"name": "d", "peer_address": "172.24.4.4"}))).await;
    assert_eq!(app.count(CONNS).await, 3);
}

#[tokio::test]
async fn a_pairs_two_members_must_reach_different_peers() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let first = app.create(CONNS, P1, site.connection()).await;
    let r = app.post(CONNS, P1, with(site.connection(), json!({"name": "twin"}))).await;
    r.refused(409, "ConnectionPairSamePeer", &first);
    assert_eq!(app.count(CONNS).await, 1);
}
