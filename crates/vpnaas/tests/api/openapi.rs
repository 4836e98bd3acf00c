//! `GET /openapi.json` (ADR 0020): an OpenAPI 3.1 document with every route of the router, whose schemas the real responses satisfy.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// The internal gateway API is left out of the document on purpose (ADR 0003, ADR 0020).
const UNDOCUMENTED: &str = "/v2.0/gateway/";

/// Every path template of the router. axum has no public route listing; its `Debug` form
/// names every path (`RouteId(3): "/v2.0/..."`), and finding none fails the test.
fn router_paths() -> BTreeSet<String> {
    let debug = format!("{:?}", vpnaas_server::api::routes());
    let paths: BTreeSet<String> = debug
        .split('"')
        .filter(|s| s.starts_with('/'))
        .filter(|s| !s.starts_with(UNDOCUMENTED))
        // axum's own catch-all of the fallback router.
        .filter(|s| !s.contains("__private__axum"))
        .map(str::to_owned)
        .collect();
    assert!(paths.len() > 20, "the router's paths were not found in its Debug form: {debug}");
    paths
}

/// A concrete path for a template: every `{parameter}` a fresh UUID.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| if seg.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { seg.to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

async fn document(app: &App) -> Value {
    let r = app.get("/openapi.json", NOBODY).await;
    assert_eq!(r.headers["content-type"], "application/json");
    r.ok(200).clone()
}

#[tokio::test]
async fn openapi_json_is_a_3_1_document_naming_the_profile() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."), "{}", doc["openapi"]);
    assert!(doc["info"]["description"].as_str().unwrap().contains("'openstack' validation profile"));
    let conn = &doc["components"]["schemas"]["IpsecSiteConnectionCreate"]["properties"];
    assert_eq!(conn["dpd"]["properties"]["action"]["default"], "hold");
    assert!(conn["initiator"]["enum"].as_array().unwrap().contains(&json!("response-only")));
    // Every error status of an operation is the NeutronError envelope.
    let create = &doc["paths"]["/v2.0/vpn/ikepolicies"]["post"]["responses"];
    assert_eq!(create["409"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/NeutronError");

    let otc = spawn_app_with(|c| c.profile = vpnaas_core::profile::Profile::by_name("otc").unwrap()).await;
    let doc = document(&otc).await;
    assert!(doc["info"]["description"].as_str().unwrap().contains("'otc' validation profile"));
    let conn = &doc["components"]["schemas"]["IpsecSiteConnectionCreate"]["properties"];
    assert!(conn.get("dpd").is_none(), "{conn}");
    assert_eq!(conn["initiator"]["enum"], json!(["bi-directional"]));
}

/// Each route of the router is in the document with exactly the methods it answers (the
/// `Allow` header of a 405 to TRACE), and the document names no route the router lacks.
#[tokio::test]
async fn openapi_json_has_every_route_of_the_router_and_no_other() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| (path.clone(), item.as_object().unwrap().keys().cloned().collect()))
        .collect();
    let paths = router_paths();
    let mut missing = Vec::new();
    for path in &paths {
        let r = app.send(app.raw(Method::TRACE, &concrete(path))).await;
        assert_eq!(r.status.as_u16(), 405, "TRACE {path}: {:#}", r.body);
        let allowed: BTreeSet<String> = r.headers["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_ascii_lowercase())
            .filter(|m| m != "head")
            .collect();
        let has = documented.get(path).cloned().unwrap_or_default();
        for method in allowed.difference(&has) {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
        for method in has.difference(&allowed) {
            missing.push(format!("{} {path} is documented but not routed", method.to_uppercase()));
        }
    }
    assert!(missing.is_empty(), "routes missing from /openapi.json (api/openapi.rs): {missing:#?}");
    let phantom: Vec<&String> = documented.keys().filter(|p| !paths.contains(*p)).collect();
    assert!(phantom.is_empty(), "documented paths the router does not have: {phantom:?}");
}

/// A validator of the document's component `name` (its `$ref`s resolve in the document).
fn validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$ref"] = json!(format!("#/components/schemas/{name}"));
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("schema {name}: {e}"))
}

#[track_caller]
fn conforms(doc: &Value, name: &str, object: &Value) {
    let v = validator(doc, name);
    let errors: Vec<String> = v.iter_errors(object).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{name} does not describe {object:#}: {errors:#?}");
}

/// Real answers of every collection, as the owner and as an admin, satisfy the document's
/// schemas (all attributes present, no attribute the document does not name), and an
/// answer with one attribute more does not.
#[tokio::test]
async fn real_responses_satisfy_the_documents_schemas() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let site = Site::new(&app, P1).await;
    let conn = app.post(CONNS, P1, site.connection()).await;
    let conn = conn.ok(201)["ipsec_site_connection"].clone();
    conforms(&doc, "IpsecSiteConnection", &conn);
    let id = conn["id"].as_str().unwrap();

    for (path, name, who) in [
        (IKE, "Ikepolicy", P1),
        (IPSEC, "Ipsecpolicy", P1),
        (SERVICES, "Vpnservice", P1),
        (GROUPS, "EndpointGroup", P1),
        (CONNS, "IpsecSiteConnection", P1),
        (CONNS, "IpsecSiteConnection", ADMIN),
        ("/v2.0/routers", "Router", ADMIN),
        ("/v2.0/routers", "Router", P1),
        ("/v2.0/subnets", "Subnet", ADMIN),
    ] {
        let list = app.get(path, who).await;
        let items = list.ok(200).as_object().unwrap().values().next().unwrap().as_array().unwrap();
        assert!(!items.is_empty(), "{path} as {who}");
        for item in items {
            conforms(&doc, name, item);
        }
    }
    let updated = app.put(&format!("{CONNS}/{id}"), P1, json!({"ipsec_site_connection": {"mtu": 1400}})).await;
    conforms(&doc, "IpsecSiteConnection", &updated.ok(200)["ipsec_site_connection"]);
    let fields = app.get(&format!("{CONNS}/{id}?fields=id&fields=mtu"), P1).await;
    conforms(&doc, "IpsecSiteConnectionFields", &fields.ok(200)["ipsec_site_connection"]);

    let refused = app.post(IKE, P1, json!({"ikepolicy": {"pfs": "group1"}})).await;
    conforms(&doc, "NeutronError", &refused.body);

    // The check can fail: an attribute the document does not name, or one it requires missing.
    let mut extra = conn.clone();
    extra["bogus"] = json!(1);
    assert!(!validator(&doc, "IpsecSiteConnection").is_valid(&extra));
    let mut short = conn.clone();
    short.as_object_mut().unwrap().remove("dpd");
    assert!(!validator(&doc, "IpsecSiteConnection").is_valid(&short));
}
