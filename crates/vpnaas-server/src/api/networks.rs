//! `GET /v2.0/networks` and `/v2.0/networks/{id}`: the read-only networks the standalone inventory implies (ADR 0021).

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use uuid::Uuid;
use vpnaas_core::profile::Profile;
use vpnaas_core::Fault;

use super::body::to_bool;
use super::documented::Documented;
use super::openapi::{
    closed, json_response, object, operation, path_id, query, repeated, string, Describe, INVENTORY, LIST_ERRORS,
    SHOW_ERRORS,
};
use super::query::{pairs, Selection};
use super::{wire_time, AppState};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Network;
use vpnaas_core::wire;

/// The attributes a list may be filtered by, and how a filter's value is read.
pub(super) const FILTERS: &[(&str, Kind)] = &[
    (wire::ID, Kind::Text),
    (wire::NAME, Kind::Text),
    (wire::DESCRIPTION, Kind::Text),
    (wire::PROJECT_ID, Kind::Text),
    (wire::TENANT_ID, Kind::Text),
    (wire::STATUS, Kind::Text),
    ("shared", Kind::Bool),
    ("router:external", Kind::Bool),
    (wire::ADMIN_STATE_UP, Kind::Bool),
    ("port_security_enabled", Kind::Bool),
    ("is_default", Kind::Bool),
    (wire::MTU, Kind::Int),
];

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Text,
    Bool,
    Int,
}

/// The MTU every derived network shows: Ethernet's, as Neutron's default `global_physnet_mtu`.
const MTU: i64 = 1500;

/// A network as Neutron shows it; what the inventory does not model has Neutron's defaults.
fn view(n: &Network, profile: &Profile) -> Map<String, Value> {
    let subnets: Vec<String> = n.subnets.iter().map(Uuid::to_string).collect();
    let v = json!({
        wire::ID: n.meta.id.to_string(),
        wire::NAME: n.meta.name,
        wire::DESCRIPTION: n.meta.description,
        wire::TENANT_ID: n.meta.project_id,
        wire::PROJECT_ID: n.meta.project_id,
        "subnets": subnets,
        "shared": false,
        "router:external": n.external,
        wire::ADMIN_STATE_UP: true,
        wire::STATUS: "ACTIVE",
        wire::MTU: MTU,
        "availability_zone_hints": [],
        "availability_zones": [],
        "ipv4_address_scope": null,
        "ipv6_address_scope": null,
        "port_security_enabled": true,
        "l2_adjacency": true,
        "is_default": false,
        "qos_policy_id": null,
        "tags": [],
        wire::CREATED_AT: wire_time(profile, n.meta.created_at),
        wire::UPDATED_AT: wire_time(profile, n.meta.updated_at),
        wire::REVISION_NUMBER: n.meta.revision_number,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A filter's value in the type of the attribute, so `shared=False` and `shared=0` match `false`.
fn wanted(key: &str, kind: Kind, raw: &str) -> Result<Value, Fault> {
    Ok(match kind {
        Kind::Text => Value::String(raw.to_owned()),
        Kind::Bool => Value::Bool(to_bool(key, &Value::String(raw.to_owned()))?),
        Kind::Int => Value::from(
            raw.trim().parse::<i64>().map_err(|_| Fault::invalid(key, format!("'{raw}' is not an integer")))?,
        ),
    })
}

/// What a list asks for: filters (values of one key are alternatives), a page, the fields.
struct Query {
    filters: Vec<(String, Vec<Value>)>,
    limit: Option<usize>,
    marker: Option<String>,
    fields: Selection,
}

fn parse(raw: Option<&str>) -> Result<Query, Fault> {
    let pairs = pairs(raw);
    let mut q = Query { filters: Vec::new(), limit: None, marker: None, fields: Selection::from_pairs(&pairs) };
    for (key, value) in &pairs {
        match key.as_str() {
            "fields" => {}
            // Always id order (sorting by other keys is ignored, as a single sort key would be).
            "sort_key" | "sort_dir" => {}
            "limit" => {
                let n = value
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| Fault::BadQuery(format!("Limit must be an integer 0 or greater and not '{value}'")))?;
                q.limit = (n > 0).then_some(n);
            }
            "marker" => q.marker = Some(value.clone()),
            other => {
                let kind = FILTERS
                    .iter()
                    .find(|(name, _)| *name == other)
                    .map(|(_, kind)| *kind)
                    .ok_or_else(|| Fault::BadQuery(format!("[{other}] is invalid attribute for filtering")))?;
                let v = wanted(other, kind, value)?;
                match q.filters.iter_mut().find(|(k, _)| k == other) {
                    Some((_, values)) => values.push(v),
                    None => q.filters.push((other.to_owned(), vec![v])),
                }
            }
        }
    }
    Ok(q)
}

async fn list(State(st): State<AppState>, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response> {
    let q = parse(raw.as_deref())?;
    let profile = st.service.profile();
    let all = st.service.networks(&caller).await?;
    let after = q.marker.as_deref();
    let views: Vec<Value> = all
        .iter()
        .filter(|n| after.is_none_or(|m| n.meta.id.to_string().as_str() > m))
        .map(|n| view(n, profile))
        .filter(|v| q.filters.iter().all(|(k, values)| values.iter().any(|want| v.get(k) == Some(want))))
        .take(q.limit.unwrap_or(usize::MAX))
        .map(|v| Value::Object(q.fields.project(v)))
        .collect();
    Ok(Json(json!({ "networks": views })).into_response())
}

async fn show(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let Ok(wanted) = Uuid::parse_str(&id) else {
        return Err(Fault::HttpNotFound.into());
    };
    let fields = Selection::from_pairs(&pairs(raw.as_deref()));
    let networks = st.service.networks(&caller).await?;
    let n = networks.iter().find(|n| n.meta.id == wanted).ok_or(Fault::NetworkNotFound(id))?;
    Ok(Json(json!({ "network": fields.project(view(n, st.service.profile())) })).into_response())
}

/// The two read routes, with their documents; writes are not served (an unknown method is
/// the usual 405).
pub fn routes() -> Documented {
    Documented::new()
        .get(
            "/v2.0/networks",
            || {
                let all = object().property("networks", ArrayBuilder::new().items(network())).required("networks");
                list_doc().response("200", json_response("Networks", all)).errors(LIST_ERRORS).authenticated()
            },
            list,
        )
        .get(
            "/v2.0/networks/{id}",
            || {
                let one = object().property("network", network()).required("network");
                operation(INVENTORY, "show_network", "One network")
                    .parameter(path_id())
                    .parameter(repeated("fields", string(), "Only these attributes in the answer"))
                    .response("200", json_response("The network", one))
                    .errors(SHOW_ERRORS)
                    .authenticated()
            },
            show,
        )
}

/// The list's parameters: `fields`, the page and every filter.
fn list_doc() -> OperationBuilder {
    let limit = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1));
    let mut listed = operation(INVENTORY, "list_networks", "Networks derived from subnets and router gateways")
        .parameter(repeated("fields", string(), "Only these attributes in the answer"))
        .parameter(query("limit", limit, "At most this many"))
        .parameter(query("marker", string(), "The page after this network's id"));
    for (name, kind) in FILTERS {
        let schema = match kind {
            Kind::Text => string(),
            Kind::Bool => ObjectBuilder::new().schema_type(Type::Boolean),
            Kind::Int => ObjectBuilder::new().schema_type(Type::Integer),
        };
        listed = listed.parameter(query(name, schema, "Only networks with this value"));
    }
    listed
}

/// A network of the standalone inventory's read-only view (ADR 0021), as Neutron shows one.
fn network() -> ObjectBuilder {
    let nullable = || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
    let boolean = || ObjectBuilder::new().schema_type(Type::Boolean);
    let strings = || ArrayBuilder::new().items(string());
    object()
        .property(wire::ID, string())
        .property(wire::NAME, string())
        .property(wire::DESCRIPTION, string())
        .property(wire::TENANT_ID, string())
        .property(wire::PROJECT_ID, string())
        .property("subnets", strings())
        .property("shared", boolean())
        .property("router:external", boolean())
        .property(wire::ADMIN_STATE_UP, boolean())
        .property(wire::STATUS, string())
        .property(wire::MTU, ObjectBuilder::new().schema_type(Type::Integer))
        .property("availability_zone_hints", strings())
        .property("availability_zones", strings())
        .property("ipv4_address_scope", nullable())
        .property("ipv6_address_scope", nullable())
        .property("port_security_enabled", boolean())
        .property("l2_adjacency", boolean())
        .property("is_default", boolean())
        .property("qos_policy_id", nullable())
        .property("tags", strings())
        .property(wire::CREATED_AT, string())
        .property(wire::UPDATED_AT, string())
        .property(wire::REVISION_NUMBER, ObjectBuilder::new().schema_type(Type::Integer))
        .additional_properties(closed())
}
