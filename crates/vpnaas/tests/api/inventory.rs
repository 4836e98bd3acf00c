//! The router and subnet inventory: admin-only writes, interfaces, and the guards VPN objects put on it.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn admins_create_routers_and_subnets_that_their_project_sees_by_name() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let r = app.get("/v2.0/routers?name=r1", P1).await;
    let routers = r.ok(200)["routers"].as_array().unwrap().clone();
    assert_eq!(routers.len(), 1);
    assert_eq!(routers[0]["id"], topo.router.as_str());
    let ips = &routers[0]["external_gateway_info"]["external_fixed_ips"];
    assert_eq!(ips[0]["ip_address"], "172.24.4.10");
    assert_eq!(ips[1]["ip_address"], "2001:db8:ffff::10");
    let r = app.get(&format!("/v2.0/subnets/{}", topo.subnet6), P1).await;
    let s = &r.ok(200)["subnet"];
    assert_eq!((s["cidr"].as_str(), s["ip_version"].as_i64()), (Some("2001:db8:1::/64"), Some(6)));
    let r = app.get("/v2.0/subnets?name=s4&ip_version=4", P1).await;
    assert_eq!(r.ok(200)["subnets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn members_cannot_change_the_inventory() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    app.post("/v2.0/routers", P1, json!({"router": {"name": "x"}})).await.refused(
        403,
        "PolicyNotAuthorized",
        "create_router",
    );
    app.post("/v2.0/subnets", P1, json!({"subnet": {"cidr": "10.0.0.0/24"}})).await.refused(
        403,
        "PolicyNotAuthorized",
        "create_subnet",
    );
    app.delete(&format!("/v2.0/routers/{}", topo.router), P1).await.refused(
        403,
        "PolicyNotAuthorized",
        "delete_router",
    );
    let path = format!("/v2.0/routers/{}/add_router_interface", topo.router);
    app.put(&path, P1, json!({"subnet_id": topo.loose_subnet})).await.refused(
        403,
        "PolicyNotAuthorized",
        "add_router_interface",
    );
}

#[tokio::test]
async fn subnets_validate_cidr_and_version_and_attach_once() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    app.post("/v2.0/subnets", ADMIN, json!({"subnet": {"cidr": "10.0.0.0/33"}})).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for cidr",
    );
    app.post("/v2.0/subnets", ADMIN, json!({"subnet": {"cidr": "10.0.0.0/24", "ip_version": 6}})).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for ip_version",
    );
    app.post("/v2.0/subnets", ADMIN, json!({"subnet": {"name": "x"}})).await.refused(
        400,
        "HTTPBadRequest",
        "Required attribute 'cidr'",
    );
    let path = format!("/v2.0/routers/{}/add_router_interface", topo.bare_router);
    app.put(&path, ADMIN, json!({"subnet_id": topo.subnet4})).await.refused(409, "SubnetAlreadyAttached", &topo.router);
    app.put(&path, ADMIN, json!({"port_id": topo.subnet4})).await.refused(400, "HTTPBadRequest", "port_id");
    let remove = format!("/v2.0/routers/{}/remove_router_interface", topo.bare_router);
    app.put(&remove, ADMIN, json!({"subnet_id": topo.subnet4})).await.refused(
        404,
        "RouterInterfaceNotFoundForSubnet",
        &topo.subnet4,
    );
}

#[tokio::test]
async fn router_interfaces_and_gateways_in_use_by_vpn_objects_are_409() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    let remove = format!("/v2.0/routers/{}/remove_router_interface", site.topo.router);
    // The legacy service uses subnet4.
    app.put(&remove, ADMIN, json!({"subnet_id": site.topo.subnet4})).await.refused(
        409,
        "SubnetInUseByVPNService",
        &site.legacy_service,
    );
    let router = format!("/v2.0/routers/{}", site.topo.router);
    app.put(&router, ADMIN, json!({"router": {"external_gateway_info": null}})).await.refused(
        409,
        "RouterInUse",
        "is currently used by VPN service(s)",
    );
    app.delete(&router, ADMIN).await.refused(409, "RouterInUse", "VPN service(s)");
    app.delete(&format!("/v2.0/subnets/{}", site.topo.subnet4), ADMIN).await.refused(
        409,
        "SubnetInUse",
        "attached to router",
    );
    app.delete(&format!("/v2.0/subnets/{}", site.topo.loose_subnet), ADMIN).await.ok(204);
    let r = app.get(&router, P1).await;
    assert!(r.ok(200)["router"]["external_gateway_info"].is_object(), "the gateway is still there");
    // A renamed router is fine.
    app.put(&router, ADMIN, json!({"router": {"name": "renamed"}})).await.ok(200);

    // Without the legacy service, the connection's local endpoint group pins subnet4.
    app.delete(&format!("{SERVICES}/{}", site.legacy_service), P1).await.ok(204);
    app.create(CONNS, P1, site.connection()).await;
    app.put(&remove, ADMIN, json!({"subnet_id": site.topo.subnet4})).await.refused(
        409,
        "SubnetInUseByIPsecSiteConnection",
        &site.topo.subnet4,
    );
    // subnet6 is used by nothing and comes off; a subnet in an endpoint group cannot be deleted.
    app.put(&remove, ADMIN, json!({"subnet_id": site.topo.subnet6})).await.ok(200);
    let g = app.group(P1, "subnet", json!([site.topo.subnet6])).await;
    app.delete(&format!("/v2.0/subnets/{}", site.topo.subnet6), ADMIN).await.refused(
        409,
        "SubnetInUseByEndpointGroup",
        &g,
    );
}

#[tokio::test]
async fn routers_without_users_are_updated_and_deleted() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let path = format!("/v2.0/routers/{}", topo.bare_router);
    let gw = json!({"external_fixed_ips": [{"ip_address": "198.51.100.1"}]});
    let r = app.put(&path, ADMIN, json!({"router": {"external_gateway_info": gw, "admin_state_up": false}})).await;
    let router = &r.ok(200)["router"];
    assert_eq!(router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"], "198.51.100.1");
    assert_eq!(router["admin_state_up"], false);
    let bad = json!({"external_fixed_ips": [{"ip_address": "198.51.100.1"}, {"ip_address": "198.51.100.2"}]});
    app.put(&path, ADMIN, json!({"router": {"external_gateway_info": bad}})).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for external_gateway_info",
    );
    app.delete(&path, ADMIN).await.ok(204);
    app.delete(&format!("/v2.0/routers/{}", topo.router), ADMIN).await.refused(409, "RouterInUse", "still has ports");
}

/// A gateway address given with the subnet it is on answers with that subnet, as Neutron
/// echoes it (gophercloud's router test compares them), in the create and in a show read back from
/// the database; one given without keeps its derived subnet; a subnet that is no UUID is a 400.
#[tokio::test]
async fn a_named_gateway_subnet_is_echoed_as_neutron_does() {
    let app = spawn_app().await;
    let named = "5a1d8a3e-2f4b-4b7a-9d0e-0c6f1b2a3c4d";
    let gw = json!({"external_fixed_ips": [{"subnet_id": named, "ip_address": "198.51.100.7"}, {"ip_address": "2001:db8::7"}]});
    let r = app.post("/v2.0/routers", ADMIN, json!({"router": {"tenant_id": P1, "external_gateway_info": gw}})).await;
    let id = r.id();
    let ips = r.ok(201)["router"]["external_gateway_info"]["external_fixed_ips"].clone();
    assert_eq!((ips[0]["subnet_id"].as_str(), ips[0]["ip_address"].as_str()), (Some(named), Some("198.51.100.7")));
    assert_ne!(ips[1]["subnet_id"], named, "the v6 address keeps its derived subnet");
    let shown = app.get(&format!("/v2.0/routers/{id}"), P1).await;
    assert_eq!(shown.ok(200)["router"]["external_gateway_info"]["external_fixed_ips"], ips);
    let bad = json!({"external_fixed_ips": [{"subnet_id": "nope", "ip_address": "198.51.100.8"}]});
    app.post("/v2.0/routers", ADMIN, json!({"router": {"tenant_id": P1, "external_gateway_info": bad}})).await.refused(
        400,
        "HTTPBadRequest",
        "subnet_id 'nope' is not a valid UUID",
    );
}

#[tokio::test]
async fn router_interfaces_show_as_ports_for_openstack_router_show() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let r = app.get(&format!("/v2.0/ports?device_id={}", topo.router), P1).await;
    let ports = r.ok(200)["ports"].as_array().unwrap().clone();
    assert_eq!(ports.len(), 2, "subnet4 and subnet6 are attached");
    let p4 = ports.iter().find(|p| p["fixed_ips"][0]["subnet_id"] == topo.subnet4.as_str()).unwrap();
    assert_eq!(p4["device_owner"], "network:router_interface");
    assert_eq!(p4["device_id"], topo.router.as_str());
    assert_eq!(p4["fixed_ips"][0]["ip_address"], "10.1.0.1");
    let again = app.get(&format!("/v2.0/ports?device_id={}", topo.router), P1).await;
    assert_eq!(again.ok(200)["ports"], r.body["ports"], "port ids are stable");
    assert_eq!(app.get(&format!("/v2.0/ports?device_id={}", topo.bare_router), P1).await.ok(200)["ports"], json!([]));
    assert_eq!(app.get("/v2.0/ports", P2).await.ok(200)["ports"], json!([]), "another project's ports are hidden");
    app.get("/v2.0/ports?mac_address=x", P1).await.refused(
        400,
        "HTTPBadRequest",
        "[mac_address] is invalid attribute for filtering",
    );
    let s = app.get(&format!("/v2.0/subnets/{}", topo.subnet4), P1).await;
    assert_eq!(s.ok(200)["subnet"]["gateway_ip"], "10.1.0.1");
    assert_eq!(app.get(&format!("/v2.0/routers/{}", topo.router), P1).await.ok(200)["router"]["routes"], json!([]));
}
