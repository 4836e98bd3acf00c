//! Endpoint groups: types, endpoint validation, one IP version, immutable endpoints, in-use deletes (409).

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn endpoint_group_create_show_update_delete() {
    let app = spawn_app().await;
    let body = json!({"endpoint_group": {"name": "peers", "description": "d", "type": "cidr",
        "endpoints": ["10.2.0.0/24", "10.3.0.0/24"], "project_id": P1}});
    let r = app.post(GROUPS, P1, body).await;
    let g = r.ok(201)["endpoint_group"].clone();
    assert_eq!(g["type"], "cidr");
    assert_eq!(g["endpoints"], json!(["10.2.0.0/24", "10.3.0.0/24"]));
    assert_eq!((g["name"].as_str(), g["description"].as_str()), (Some("peers"), Some("d")));
    assert_eq!((g["tenant_id"].as_str(), g["project_id"].as_str()), (Some(P1), Some(P1)));
    let path = format!("{GROUPS}/{}", g["id"].as_str().unwrap());
    assert_eq!(app.get(&path, P1).await.ok(200)["endpoint_group"], g);
    let r = app.put(&path, P1, json!({"endpoint_group": {"name": "n", "description": "d2"}})).await;
    let u = &r.ok(200)["endpoint_group"];
    assert_eq!((u["name"].as_str(), u["description"].as_str()), (Some("n"), Some("d2")));
    assert_eq!(u["endpoints"], g["endpoints"]);
    app.put(&path, P1, json!({"endpoint_group": {"endpoints": ["10.9.0.0/24"]}})).await.refused(
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute endpoints",
    );
    app.put(&path, P1, json!({"endpoint_group": {"type": "subnet"}})).await.refused(
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute type",
    );
    assert_eq!(app.delete(&path, P1).await.status, 204);
    app.get(&path, P1).await.refused(404, "VPNEndpointGroupNotFound", "could not be found");
}

#[tokio::test]
async fn endpoint_group_subnet_type_needs_existing_subnets_of_one_version() {
    let app = spawn_app().await;
    let topo = app.topology(P1).await;
    let id = app.group(P1, "subnet", json!([topo.subnet4, topo.loose_subnet])).await;
    assert!(!id.is_empty());
    let ghost = "99999999-2222-3333-4444-555555555555";
    let r = app.post(GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [ghost]}})).await;
    r.refused(400, "NonExistingSubnetInEndpointGroup", ghost);
    let r = app.post(GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": ["10.0.0.0/24"]}})).await;
    r.refused(400, "InvalidEndpointInEndpointGroup", "Invalid UUID");
    let r = app
        .post(GROUPS, P1, json!({"endpoint_group": {"type": "subnet", "endpoints": [topo.subnet4, topo.subnet6]}}))
        .await;
    r.refused(400, "MixedIPVersionsForIPSecEndpoints", "do not have the same IP version");
    // Another project's subnet does not exist for this caller.
    let r = app.post(GROUPS, P2, json!({"endpoint_group": {"type": "subnet", "endpoints": [topo.subnet4]}})).await;
    r.refused(400, "NonExistingSubnetInEndpointGroup", &topo.subnet4);
    assert_eq!(app.count(GROUPS).await, 1);
}

#[tokio::test]
async fn endpoint_group_endpoints_are_required_unique_and_valid() {
    let app = spawn_app().await;
    let cases = [
        (json!({"type": "cidr", "endpoints": []}), "MissingEndpointForEndpointGroup", "No endpoints"),
        (json!({"type": "cidr"}), "MissingEndpointForEndpointGroup", "No endpoints"),
        (
            json!({"type": "cidr", "endpoints": ["10.0.0.0/24", "10.0.0.0/24"]}),
            "InvalidEndpointInEndpointGroup",
            "unique",
        ),
        (json!({"type": "cidr", "endpoints": ["1.0.0.0/33"]}), "InvalidEndpointInEndpointGroup", "Invalid CIDR"),
        (json!({"type": "cidr", "endpoints": ["2000::1"]}), "InvalidEndpointInEndpointGroup", "Invalid CIDR"),
        (
            json!({"type": "cidr", "endpoints": ["10.0.0.0/24", "2001:db8::/64"]}),
            "MixedIPVersionsForIPSecEndpoints",
            "same IP version",
        ),
        (json!({"type": "vlan", "endpoints": ["100", "100"]}), "InvalidEndpointInEndpointGroup", "unique"),
        (json!({"type": "bridge", "endpoints": ["x"]}), "HTTPBadRequest", "Invalid input for type"),
        (json!({"endpoints": ["10.0.0.0/24"]}), "HTTPBadRequest", "Required attribute 'type'"),
        (json!({"type": "cidr", "endpoints": [5]}), "HTTPBadRequest", "Invalid input for endpoints"),
    ];
    for (inner, type_name, needle) in cases {
        app.post(GROUPS, P1, json!({ "endpoint_group": inner })).await.refused(400, type_name, needle);
    }
    assert_eq!(app.count(GROUPS).await, 0);
    // A bare string is a list of one (convert_to_list), and other types only need unique endpoints.
    let r = app.post(GROUPS, P1, json!({"endpoint_group": {"type": "cidr", "endpoints": "10.6.0.0/24"}})).await;
    assert_eq!(r.ok(201)["endpoint_group"]["endpoints"], json!(["10.6.0.0/24"]));
    let r = app.post(GROUPS, P1, json!({"endpoint_group": {"type": "vlan", "endpoints": ["100", "200"]}})).await;
    r.ok(201);
}

#[tokio::test]
async fn endpoint_group_in_use_is_a_409_not_the_reference_400() {
    let app = spawn_app().await;
    let site = Site::new(&app, P1).await;
    app.create(CONNS, P1, site.connection()).await;
    for id in [&site.local, &site.peer] {
        app.delete(&format!("{GROUPS}/{id}"), P1).await.refused(409, "EndpointGroupInUse", id);
    }
    assert_eq!(app.count(GROUPS).await, 2);
}
