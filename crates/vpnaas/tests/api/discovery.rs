//! Discovery: the versions document with the request's own base URL, the resource index and the extensions.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn root_answers_the_versions_document_with_the_requests_base_url_without_credentials() {
    let app = spawn_app().await;
    let r = app.get("/", NOBODY).await;
    let href = format!("{}/v2.0/", app.base);
    assert_eq!(
        r.ok(200),
        &json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]})
    );
    let proxied = app
        .send(
            app.raw(reqwest::Method::GET, "/")
                .header("host", "vpn.example.com:8443")
                .header("x-forwarded-proto", "https"),
        )
        .await;
    assert_eq!(proxied.ok(200)["versions"][0]["links"][0]["href"], "https://vpn.example.com:8443/v2.0/");
}

#[tokio::test]
async fn v2_lists_resources_and_extensions() {
    let app = spawn_app().await;
    let r = app.get("/v2.0/", P1).await;
    let collections: Vec<&str> =
        r.ok(200)["resources"].as_array().unwrap().iter().map(|x| x["collection"].as_str().unwrap()).collect();
    assert!(
        collections.contains(&"ipsec_site_connections") && collections.contains(&"endpoint_groups"),
        "{collections:?}"
    );
    let r = app.get("/v2.0/extensions", P1).await;
    let aliases: Vec<&str> =
        r.ok(200)["extensions"].as_array().unwrap().iter().map(|x| x["alias"].as_str().unwrap()).collect();
    for alias in ["vpnaas", "vpn-endpoint-groups", "vpn-aes-ctr", "filter-validation"] {
        assert!(aliases.contains(&alias), "{alias} missing from {aliases:?}");
    }
    assert_eq!(app.get("/v2.0/extensions/vpnaas", P1).await.ok(200)["extension"]["alias"], "vpnaas");
    app.get("/v2.0/extensions/vpn-flavors", P1).await.refused(404, "HTTPNotFound", "");
}

/// A client that looks a project up at this endpoint (the openstack CLI's `--project NAME`)
/// gets a 403, which it reads as "use the name as the id"; a 404 would end its command.
#[tokio::test]
async fn identity_lookups_are_forbidden_so_that_clients_use_the_name_as_the_id() {
    let app = spawn_app().await;
    for path in ["/tenants", "/tenants/demo", "/projects?name=demo", "/projects/demo", "/v3/projects/demo"] {
        app.get(path, P1).await.refused(403, "HTTPForbidden", "serves no identity API");
    }
}
