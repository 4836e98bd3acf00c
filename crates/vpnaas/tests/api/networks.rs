//! The standalone inventory as Horizon and gophercloud read it (ADR 0021): read-only networks,
//! gateway subnets, the interface port in `add_router_interface`'s answer, and `routes`.

use serde_json::{json, Value};

use crate::support::*;

fn ids(body: &Value) -> Vec<String> {
    body["networks"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect()
}

fn network_of(app_body: &Value, subnet: &str) -> Value {
    app_body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["subnets"].as_array().unwrap().iter().any(|s| s == subnet))
        .cloned()
        .unwrap_or_else(|| panic!("no network holds subnet {subnet}: {app_body:#}"))
}

#[tokio::test]
async fn each_subnet_is_on_a_network_that_horizon_finds_with_its_filters() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    app.topology(P2).await;
    let r = app.get("/v2.0/networks", P1).await;
    let all = r.ok(200).clone();
    // s4, s6, loose (one network each) and r1's external network; bare has no gateway.
    assert_eq!(ids(&all).len(), 4, "{all:#}");
    let net = network_of(&all, &topo.subnet4);
    assert_eq!(net["subnets"], json!([topo.subnet4]));
    assert_eq!(
        (&net["name"], &net["project_id"], &net["tenant_id"], &net["shared"], &net["router:external"]),
        (&json!("s4"), &json!(P1), &json!(P1), &json!(false), &json!(false))
    );
    assert_eq!((&net["admin_state_up"], &net["status"], &net["mtu"]), (&json!(true), &json!("ACTIVE"), &json!(1500)));
    // The subnet and its interface port name the same network.
    let s = app.get(&format!("/v2.0/subnets/{}", topo.subnet4), P1).await;
    assert_eq!(s.ok(200)["subnet"]["network_id"], net["id"]);
    let ports = app.get(&format!("/v2.0/ports?device_id={}", topo.router), P1).await;
    let port = ports.ok(200)["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["fixed_ips"][0]["subnet_id"] == topo.subnet4.as_str())
        .cloned()
        .unwrap();
    assert_eq!(port["network_id"], net["id"]);

    // Horizon's three queries for a project's networks.
    let shared = app.get("/v2.0/networks?shared=True", P1).await;
    assert_eq!(shared.ok(200)["networks"], json!([]));
    let mine = app.get(&format!("/v2.0/networks?project_id={P1}&shared=False"), P1).await;
    assert_eq!(ids(mine.ok(200)), ids(&all));
    let ext = app.get("/v2.0/networks?router:external=True", P1).await;
    let ext = ext.ok(200)["networks"].as_array().unwrap().clone();
    assert_eq!(ext.len(), 1);
    let router = app.get(&format!("/v2.0/routers/{}", topo.router), P1).await;
    let gw = router.ok(200)["router"]["external_gateway_info"].clone();
    assert_eq!(ext[0]["id"], gw["network_id"]);
    let gw_subnets: Vec<Value> =
        gw["external_fixed_ips"].as_array().unwrap().iter().map(|ip| ip["subnet_id"].clone()).collect();
    assert_eq!(ext[0]["subnets"], json!(gw_subnets));

    // Filters by id (any of several), name, tenant_id; fields; the show.
    let id = net["id"].as_str().unwrap();
    let by_id = app.get(&format!("/v2.0/networks?id={id}&id={}", ext[0]["id"].as_str().unwrap()), P1).await;
    assert_eq!(ids(by_id.ok(200)).len(), 2);
    let by_name = app.get(&format!("/v2.0/networks?name=s4&tenant_id={P1}&fields=id&fields=subnets"), P1).await;
    assert_eq!(by_name.ok(200)["networks"], json!([{"id": id, "subnets": [topo.subnet4]}]));
    assert_eq!(app.get(&format!("/v2.0/networks?tenant_id={P2}"), P1).await.ok(200)["networks"], json!([]));
    let shown = app.get(&format!("/v2.0/networks/{id}"), P1).await;
    assert_eq!(shown.ok(200)["network"], net);
    let shown = app.get(&format!("/v2.0/networks/{id}?fields=name"), P1).await;
    assert_eq!(shown.ok(200)["network"], json!({"name": "s4"}));
    let page = app.get("/v2.0/networks?limit=2", P1).await;
    let first = ids(page.ok(200));
    assert_eq!(first, ids(&all)[..2].to_vec());
    let rest = app.get(&format!("/v2.0/networks?limit=5&marker={}", first[1]), P1).await;
    assert_eq!(ids(rest.ok(200)), ids(&all)[2..].to_vec());
}

#[tokio::test]
async fn networks_are_read_only_and_another_projects_are_hidden() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let all = app.get("/v2.0/networks", P1).await.ok(200).clone();
    let id = network_of(&all, &topo.subnet4)["id"].as_str().unwrap().to_owned();
    app.get(&format!("/v2.0/networks/{id}"), P2).await.refused(404, "NetworkNotFound", &id);
    assert_eq!(app.get("/v2.0/networks", P2).await.ok(200)["networks"], json!([]));
    assert_eq!(ids(app.get("/v2.0/networks", ADMIN).await.ok(200)), ids(&all), "admins see every project's");
    app.get("/v2.0/networks/not-a-uuid", P1).await.refused(404, "HTTPNotFound", "could not be found");
    app.get("/v2.0/networks?mac_address=x", P1).await.refused(
        400,
        "HTTPBadRequest",
        "[mac_address] is invalid attribute for filtering",
    );
    app.get("/v2.0/networks?shared=maybe", P1).await.refused(400, "HTTPBadRequest", "shared");
    let r = app.post("/v2.0/networks", ADMIN, json!({"network": {"name": "n"}})).await;
    assert_eq!(r.status.as_u16(), 405, "{:#}", r.body);
    let r = app.delete(&format!("/v2.0/networks/{id}"), ADMIN).await;
    assert_eq!(r.status.as_u16(), 405, "{:#}", r.body);
}

#[tokio::test]
async fn subnets_naming_one_network_share_it_and_a_deleted_subnet_leaves_it() {
    let app = spawn_app().await;
    let net = "6f0c7a34-1b6e-4b0e-9a55-2f9c3e6a1d10";
    let mut subnets = Vec::new();
    for (name, cidr) in [("a", "10.5.0.0/24"), ("b", "2001:db8:5::/64")] {
        let body = json!({"subnet": {"name": name, "tenant_id": P1, "cidr": cidr, "network_id": net}});
        subnets.push(app.create("/v2.0/subnets", ADMIN, body).await);
    }
    subnets.sort();
    let r = app.get(&format!("/v2.0/networks/{net}"), P1).await;
    assert_eq!(r.ok(200)["network"]["subnets"], json!(subnets));
    app.delete(&format!("/v2.0/subnets/{}", subnets[0]), ADMIN).await.ok(204);
    let r = app.get(&format!("/v2.0/networks/{net}"), P1).await;
    assert_eq!(r.ok(200)["network"]["subnets"], json!([subnets[1]]));
    app.delete(&format!("/v2.0/subnets/{}", subnets[1]), ADMIN).await.ok(204);
    app.get(&format!("/v2.0/networks/{net}"), P1).await.refused(404, "NetworkNotFound", net);
}

#[tokio::test]
async fn gateway_fixed_ips_name_their_subnet_and_routers_on_one_network_share_it() {
    let app = spawn_app().await;
    let public = "0d7c1a55-2a43-4c3e-8f5e-7d1b9f0c2e11";
    let gw = |ip: &str| json!({"network_id": public, "external_fixed_ips": [{"ip_address": ip}]});
    let a = app.router(P1, "a", gw("172.24.4.20")).await;
    let b = app.router(P2, "b", gw("172.24.4.21")).await;
    let r = app.get(&format!("/v2.0/routers/{a}"), P1).await;
    let ga = r.ok(200)["router"]["external_gateway_info"].clone();
    let r = app.get(&format!("/v2.0/routers/{b}"), P2).await;
    let gb = r.ok(200)["router"]["external_gateway_info"].clone();
    assert_eq!(ga["network_id"], public);
    let subnet = ga["external_fixed_ips"][0]["subnet_id"].clone();
    assert!(subnet.as_str().is_some_and(|s| s.len() == 36), "{ga:#}");
    assert_eq!(gb["external_fixed_ips"][0]["subnet_id"], subnet, "one subnet per external network and IP version");
    let r = app.get(&format!("/v2.0/networks/{public}"), ADMIN).await;
    let n = r.ok(200)["network"].clone();
    assert_eq!((&n["router:external"], &n["subnets"]), (&json!(true), &json!([subnet])));
}

#[tokio::test]
async fn add_router_interface_answers_the_port_and_network_as_neutron_does() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let path = format!("/v2.0/routers/{}/add_router_interface", topo.bare_router);
    let r = app.put(&path, ADMIN, json!({"subnet_id": topo.loose_subnet})).await;
    let answer = r.ok(200).clone();
    assert_eq!(answer["id"], topo.bare_router.as_str());
    assert_eq!((&answer["tenant_id"], &answer["project_id"]), (&json!(P1), &json!(P1)));
    assert_eq!((&answer["subnet_id"], &answer["subnet_ids"]), (&json!(topo.loose_subnet), &json!([topo.loose_subnet])));
    let ports = app.get(&format!("/v2.0/ports?device_id={}", topo.bare_router), P1).await;
    let port = ports.ok(200)["ports"][0].clone();
    assert_eq!(answer["port_id"], port["id"]);
    assert_eq!(answer["network_id"], port["network_id"]);
    let s = app.get(&format!("/v2.0/subnets/{}", topo.loose_subnet), P1).await;
    assert_eq!(answer["network_id"], s.ok(200)["subnet"]["network_id"]);
    let remove = format!("/v2.0/routers/{}/remove_router_interface", topo.bare_router);
    let r = app.put(&remove, ADMIN, json!({"subnet_id": topo.loose_subnet})).await;
    assert_eq!(r.ok(200)["port_id"], port["id"]);
}

#[tokio::test]
async fn router_updates_accept_empty_routes_and_refuse_real_ones() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let path = format!("/v2.0/routers/{}", topo.router);
    // tempest's cleanup, and an explicit empty list.
    let r = app.put(&path, ADMIN, json!({"router": {"routes": null}})).await;
    assert_eq!(r.ok(200)["router"]["routes"], json!([]));
    let r = app.put(&path, ADMIN, json!({"router": {"routes": [], "name": "r1b"}})).await;
    assert_eq!((&r.ok(200)["router"]["routes"], &r.body["router"]["name"]), (&json!([]), &json!("r1b")));
    let route = json!([{"destination": "10.20.0.0/24", "nexthop": "10.1.0.5"}]);
    app.put(&path, ADMIN, json!({"router": {"routes": route}})).await.refused(
        400,
        "HTTPBadRequest",
        "Invalid input for routes",
    );
    app.put(&path, ADMIN, json!({"router": {"routes": "x"}})).await.refused(400, "HTTPBadRequest", "is not a list");
    // Neutron sets routes by update only.
    app.post("/v2.0/routers", ADMIN, json!({"router": {"name": "x", "routes": []}})).await.refused(
        400,
        "HTTPBadRequest",
        "routes",
    );
    app.put(&path, P1, json!({"router": {"routes": null}})).await.refused(403, "PolicyNotAuthorized", "update_router");
}
