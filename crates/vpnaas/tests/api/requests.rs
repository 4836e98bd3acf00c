//! Bad requests: body shape, size, unknown attributes, paths and methods, all in the envelope, none a 500, nothing written.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

async fn post_raw(app: &App, path: &str, body: &str) -> Resp {
    let req = app.raw(Method::POST, path).header("X-Project-Id", P1).header("content-type", "application/json");
    app.send(req.body(body.to_owned())).await
}

#[tokio::test]
async fn body_shape_errors_are_400_with_the_reference_messages() {
    let app = spawn_app().await;
    let cases = [
        ("", "Resource body required"),
        ("{\"ikepolicy\": ", "Malformed request body"),
        ("not json", "Malformed request body"),
        ("[1, 2]", "Body contains invalid data"),
        ("\"ikepolicy\"", "Body contains invalid data"),
        ("{\"ikepolicy\": [1]}", "Body contains invalid data"),
        ("{\"ikepolicy\": null}", "Body contains invalid data"),
        ("{\"ipsecpolicy\": {}}", "Unable to find 'ikepolicy' in request body"),
        ("{\"ikepolicies\": [{}, {}]}", "Bulk operation not supported"),
        ("{\"ikepolicy\": {\"colour\": \"red\", \"units\": 5}}", "Unrecognized attribute(s) 'colour', 'units'"),
        ("{\"ikepolicy\": {\"id\": \"x\"}}", "Attribute 'id' not allowed in POST"),
        ("{\"ikepolicy\": {\"created_at\": \"x\"}}", "Attribute 'created_at' not allowed in POST"),
        ("{\"ikepolicy\": {\"name\": 5}}", "Invalid input for name. Reason: '5' is not a valid string."),
        ("{\"ikepolicy\": {\"description\": null}}", "Invalid input for description"),
    ];
    for (body, needle) in cases {
        post_raw(&app, IKE, body).await.refused(400, "HTTPBadRequest", needle);
    }
    let long = "n".repeat(256);
    app.post(IKE, P1, json!({"ikepolicy": {"name": long}})).await.refused(
        400,
        "HTTPBadRequest",
        "exceeds maximum length of 255",
    );
    app.post(
        SERVICES,
        P1,
        json!({"vpnservice": {"router_id": "11111111-2222-3333-4444-555555555555", "description": "d".repeat(256)}}),
    )
    .await
    .refused(400, "HTTPBadRequest", "Invalid input for description");
    assert_eq!(app.count(IKE).await, 0);
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_413_in_the_envelope() {
    let app = spawn_app().await;
    let huge = format!("{{\"ikepolicy\": {{\"name\": \"{}\"}}}}", "x".repeat(200_000));
    post_raw(&app, IKE, &huge).await.refused(413, "HTTPRequestEntityTooLarge", "Request is too large");
    assert_eq!(app.count(IKE).await, 0);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_in_the_envelope() {
    let app = spawn_app().await;
    app.get("/v2.0/vpn/nonsense", P1).await.refused(404, "HTTPNotFound", "could not be found");
    app.get("/v3/anything", P1).await.refused(404, "HTTPNotFound", "");
    let r = app.call(Method::PATCH, IKE, P1, Some(json!({}))).await;
    r.refused(405, "HTTPMethodNotAllowed", "not allowed");
    app.delete(IKE, P1).await.refused(405, "HTTPMethodNotAllowed", "");
    app.post(&format!("{IKE}/11111111-2222-3333-4444-555555555555"), P1, json!({})).await.refused(
        405,
        "HTTPMethodNotAllowed",
        "",
    );
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_the_resources_not_found() {
    let app = spawn_app().await;
    let cases = [
        (IKE, "ikepolicy", "IKEPolicyNotFound", "IKEPolicy ike1 could not be found"),
        (IPSEC, "ipsecpolicy", "IPsecPolicyNotFound", "IPsecPolicy ike1 could not be found"),
        (SERVICES, "vpnservice", "VPNServiceNotFound", "VPNService ike1 could not be found"),
        (GROUPS, "endpoint_group", "VPNEndpointGroupNotFound", "Endpoint group ike1 could not be found"),
        (CONNS, "ipsec_site_connection", "IPsecSiteConnectionNotFound", "ipsec_site_connection ike1 not found"),
        ("/v2.0/routers", "router", "RouterNotFound", "Router ike1 could not be found"),
        ("/v2.0/subnets", "subnet", "SubnetNotFound", "Subnet ike1 could not be found"),
    ];
    for (coll, singular, type_name, message) in cases {
        app.get(&format!("{coll}/ike1"), P1).await.refused(404, type_name, message);
        app.put(&format!("{coll}/ike1"), P1, json!({ singular: {"name": "x"} })).await.refused(404, type_name, message);
        app.delete(&format!("{coll}/ike1"), P1).await.refused(404, type_name, message);
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    for r in [app.get(IKE, P1).await, app.get("/nowhere", P1).await, app.get(IKE, NOBODY).await] {
        let id = r.headers.get("x-openstack-request-id").expect("request id").to_str().unwrap().to_owned();
        assert!(id.starts_with("req-") && id.len() == 40, "{id}");
    }
}
