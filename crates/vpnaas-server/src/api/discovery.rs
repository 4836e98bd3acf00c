//! Discovery: the versions document clients fetch first, the v2.0 resource index and the extension list.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use vpnaas_core::Fault;

use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder};
use utoipa::openapi::Required;

use super::documented::Documented;
use super::openapi::{json_response, object, operation, path_id, string, Describe, DISCOVERY};
use super::{base_url, AppState};
use crate::error::{Error, Result};
use vpnaas_core::profile::Profile;

/// The versions document, the resource index (with and without its slash) and the
/// extensions, with their documents.
pub fn routes() -> Documented {
    Documented::new()
        .get("/", || operation(DISCOVERY, "list_versions", "API versions").response("200", versions_doc()), versions)
        .get(
            "/v2.0",
            || operation(DISCOVERY, "list_resources", "The v2.0 resources").response("200", resources_doc()),
            resources,
        )
        .get(
            "/v2.0/",
            || operation(DISCOVERY, "list_resources_slash", "The v2.0 resources").response("200", resources_doc()),
            resources,
        )
        .get(
            "/v2.0/extensions",
            || {
                let list = object().property("extensions", ArrayBuilder::new().items(extension_schema()));
                operation(DISCOVERY, "list_extensions", "The extensions, the validation profile's included")
                    .response("200", json_response("Extensions", list.required("extensions")))
            },
            extensions,
        )
        .get(
            "/v2.0/extensions/{alias}",
            || {
                let alias = ParameterBuilder::new()
                    .name("alias")
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(string()))
                    .build();
                let one = object().property("extension", extension_schema()).required("extension");
                operation(DISCOVERY, "show_extension", "One extension")
                    .parameter(alias)
                    .response("200", json_response("The extension", one))
                    .errors(&[404])
            },
            extension,
        )
        .get("/tenants", || no_identity_doc("no_identity_tenants"), no_identity)
        .get("/tenants/{id}", || no_identity_doc("no_identity_tenant").parameter(path_id()), no_identity)
        .get("/projects", || no_identity_doc("no_identity_projects"), no_identity)
        .get("/projects/{id}", || no_identity_doc("no_identity_project").parameter(path_id()), no_identity)
        .get("/v3/projects", || no_identity_doc("no_identity_v3_projects"), no_identity)
        .get("/v3/projects/{id}", || no_identity_doc("no_identity_v3_project").parameter(path_id()), no_identity)
}

/// `openstack router create --project NAME --os-endpoint URL` looks NAME up in the identity
/// API at URL: openstacksdk at Keystone v2's `/tenants`, keystoneclient (OSC 7) at v3's
/// `/projects`, either at `/v3/projects` when told the version. A 404 there ends the command
/// with an empty error; a 403 is what the CLI and openstacksdk read as "not allowed to look",
/// and they then use NAME as the project's id, as Neutron's noauth callers do.
async fn no_identity() -> Error {
    Fault::NoIdentityApi.into()
}

fn no_identity_doc(id: &str) -> utoipa::openapi::path::OperationBuilder {
    operation(DISCOVERY, id, "Not an identity API: a project lookup is refused (403)").errors(&[403])
}

fn versions_doc() -> utoipa::openapi::Response {
    let item = object().property("id", string()).property("status", string()).property("links", links());
    json_response("Versions", object().property("versions", ArrayBuilder::new().items(item)))
}

fn resources_doc() -> utoipa::openapi::Response {
    let item = object().property("name", string()).property("collection", string()).property("links", links());
    json_response("Resources", object().property("resources", ArrayBuilder::new().items(item)))
}

fn links() -> ArrayBuilder {
    ArrayBuilder::new().items(object().property("rel", string()).property("href", string()))
}

fn extension_schema() -> ObjectBuilder {
    object()
        .property("alias", string())
        .property("name", string())
        .property("description", string())
        .property("updated", string())
        .property("links", ArrayBuilder::new().items(object()))
        .required("alias")
        .required("name")
}

/// Every extension alias we implement, with what it means here.
const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("vpnaas", "VPN service", "Extension for VPN service"),
    ("vpn-endpoint-groups", "VPN Endpoint Groups", "VPN endpoint groups support"),
    ("vpn-aes-ctr", "VPN AES CTR extension", "Support AES CTR encryption algorithms in IKE and IPsec policies"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("filter-validation", "Filter parameters validation", "Unknown filter keys are refused with 400."),
    ("pagination", "Pagination support", "Keyset pagination with limit, marker and page_reverse."),
    ("sorting", "Sorting support", "Sorting with sort_key and sort_dir."),
];

/// The resources of `GET /v2.0/`: (singular, collection path).
const RESOURCES: &[(&str, &str)] = &[
    ("ikepolicy", "vpn/ikepolicies"),
    ("ipsecpolicy", "vpn/ipsecpolicies"),
    ("vpnservice", "vpn/vpnservices"),
    ("endpoint_group", "vpn/endpoint-groups"),
    ("ipsec_site_connection", "vpn/ipsec-site-connections"),
    ("router", "routers"),
    ("subnet", "subnets"),
];

fn root(headers: &HeaderMap) -> String {
    base_url(headers, "")
}

pub async fn versions(headers: HeaderMap) -> Response {
    let href = format!("{}/v2.0/", root(&headers));
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}))
        .into_response()
}

pub async fn resources(headers: HeaderMap) -> Response {
    let base = root(&headers);
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|(name, path)| {
            let collection = path.rsplit('/').next().unwrap_or(path).replace('-', "_");
            json!({"name": name, "collection": collection, "links": [{"rel": "self", "href": format!("{base}/v2.0/{path}")}]})
        })
        .collect();
    Json(json!({ "resources": resources })).into_response()
}

fn extension_view(alias: &str, name: &str, description: &str) -> Value {
    json!({"alias": alias, "name": name, "description": description, "updated": "2026-01-01T00:00:00-00:00", "links": []})
}

/// The static list plus one entry naming the active validation profile (ADR 0001 D3).
fn all_extensions(profile: &Profile) -> Vec<Value> {
    let mut list: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| extension_view(a, n, d)).collect();
    let alias = format!("vpnaas-profile-{}", profile.name);
    let description = format!("This server enforces the '{}' validation profile on VPN requests.", profile.name);
    list.push(extension_view(&alias, "VPNaaS validation profile", &description));
    list
}

pub async fn extensions(State(st): State<AppState>) -> Result<Response> {
    let list = super::topology::with_source(&st, all_extensions(st.service.profile())).await?;
    Ok(Json(json!({ "extensions": list })).into_response())
}

pub async fn extension(State(st): State<AppState>, Path(alias): Path<String>) -> Result<Response> {
    let list = super::topology::with_source(&st, all_extensions(st.service.profile())).await?;
    let found = list.into_iter().find(|e| e["alias"] == alias.as_str());
    Ok(Json(json!({"extension": found.ok_or(Fault::HttpNotFound)?})).into_response())
}
