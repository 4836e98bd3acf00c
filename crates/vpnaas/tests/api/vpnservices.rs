//! VPN services: the router checks, legacy subnets, external addresses, updates at any status, in-use deletes.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn vpnservice_create_with_defaults_copies_the_router_gateway() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let r = app.post(SERVICES, P1, json!({"vpnservice": {"router_id": topo.router}})).await;
    let s = &r.ok(201)["vpnservice"];
    assert_eq!(s["router_id"], topo.router.as_str());
    assert_eq!(s["subnet_id"], json!(null));
    assert_eq!(s["flavor_id"], json!(null));
    assert_eq!(s["admin_state_up"], true);
    assert_eq!(s["status"], "PENDING_CREATE");
    assert_eq!(s["external_v4_ip"], "172.24.4.10");
    assert_eq!(s["external_v6_ip"], "2001:db8:ffff::10");
    assert_eq!(s["name"], "");
    assert_eq!(s["tenant_id"], P1);
}

#[tokio::test]
async fn vpnservice_create_with_every_attribute_and_update_of_every_updatable_one() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let body = json!({"vpnservice": {"name": "vpn1", "description": "d", "router_id": topo.router,
        "subnet_id": topo.subnet4, "admin_state_up": "false", "tenant_id": P1, "flavor_id": null}});
    let id = app.create(SERVICES, P1, body).await;
    let path = format!("{SERVICES}/{id}");
    let s = app.get(&path, P1).await.ok(200)["vpnservice"].clone();
    assert_eq!((s["name"].as_str(), s["description"].as_str()), (Some("vpn1"), Some("d")));
    assert_eq!(s["subnet_id"], topo.subnet4.as_str());
    assert_eq!(s["admin_state_up"], false);
    // ADR 0001 D4: updates are accepted while PENDING_CREATE.
    let r =
        app.put(&path, P1, json!({"vpnservice": {"name": "vpn2", "description": "d2", "admin_state_up": true}})).await;
    let s = &r.ok(200)["vpnservice"];
    assert_eq!((s["name"].as_str(), s["description"].as_str()), (Some("vpn2"), Some("d2")));
    assert_eq!(s["admin_state_up"], true);
    assert_eq!(s["status"], "PENDING_CREATE");
    assert_eq!(s["revision_number"], 2);
    assert_eq!(app.delete(&path, P1).await.status, 204);
    app.get(&path, P1).await.refused(404, "VPNServiceNotFound", &id);
}

#[tokio::test]
async fn vpnservice_router_must_exist_and_have_a_gateway() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let missing = "11111111-2222-3333-4444-555555555555";
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": missing}})).await.refused(404, "RouterNotFound", missing);
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": topo.bare_router}})).await.refused(
        400,
        "RouterIsNotExternal",
        "has no external network gateway set",
    );
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": "not-a-uuid"}})).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for router_id",
    );
    app.post(SERVICES, P1, json!({"vpnservice": {"name": "x"}})).await.refused(
        400,
        "HTTPBadRequest",
        "Required attribute 'router_id' not specified",
    );
    assert_eq!(app.count(SERVICES).await, 0);
}

#[tokio::test]
async fn vpnservice_legacy_subnet_must_be_attached_to_the_router() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let body = json!({"vpnservice": {"router_id": topo.router, "subnet_id": topo.loose_subnet}});
    app.post(SERVICES, P1, body).await.refused(400, "SubnetIsNotConnectedToRouter", &topo.loose_subnet);
    let ghost = "99999999-2222-3333-4444-555555555555";
    let body = json!({"vpnservice": {"router_id": topo.router, "subnet_id": ghost}});
    app.post(SERVICES, P1, body).await.refused(400, "SubnetIsNotConnectedToRouter", ghost);
    assert_eq!(app.count(SERVICES).await, 0);
}

#[tokio::test]
async fn vpnservice_read_only_and_post_only_attributes_are_refused() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let id = app.vpnservice(P1, &topo.router, None).await;
    let path = format!("{SERVICES}/{id}");
    app.put(&path, P1, json!({"vpnservice": {"router_id": topo.bare_router}})).await.refused(
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute router_id",
    );
    app.put(&path, P1, json!({"vpnservice": {"subnet_id": null}})).await.refused(
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute subnet_id",
    );
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": topo.router, "status": "ACTIVE"}})).await.refused(
        400,
        "HTTPBadRequest",
        "Attribute 'status' not allowed in POST",
    );
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": topo.router, "external_v4_ip": "1.2.3.4"}}))
        .await
        .refused(400, "HTTPBadRequest", "Attribute 'external_v4_ip' not allowed in POST");
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": topo.router, "admin_state_up": null}})).await.refused(
        400,
        "HTTPBadRequest",
        "'None' cannot be converted to boolean",
    );
    let flavor = "12345678-2222-3333-4444-555555555555";
    app.post(SERVICES, P1, json!({"vpnservice": {"router_id": topo.router, "flavor_id": flavor}})).await.refused(
        404,
        "FlavorsPluginNotLoaded",
        "flavor",
    );
    assert_eq!(app.count(SERVICES).await, 1);
}

#[tokio::test]
async fn vpnservice_with_connections_cannot_be_deleted() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    app.create(CONNS, P1, site.connection()).await;
    let path = format!("{SERVICES}/{}", site.service);
    app.delete(&path, P1).await.refused(409, "VPNServiceInUse", &site.service);
    app.get(&path, P1).await.ok(200);
}
