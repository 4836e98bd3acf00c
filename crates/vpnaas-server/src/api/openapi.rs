//! `GET /openapi.json`: the OpenAPI 3.1 document of the public API, built from the collections' attribute maps, the store's filter columns and one route table (ADR 0020).
//!
//! The five routes of every [`Collection`] are described by [`collection`] from the same
//! constants the router uses (`PATH`, `SINGULAR`, `ATTRS`, `Listed::FILTERS`). Every other
//! public route is served through [`super::documented::Documented`] and carries its own
//! operation, written next to its handler (ADR 0037). The API suite walks the router and fails when a
//! route is missing here, and validates real responses against these schemas.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn, ParameterStyle,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Components, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder,
};
use vpnaas_core::profile::Profile;
use vpnaas_core::resources::{EndpointGroup, IkePolicy, IpsecPolicy, SiteConnection, Subnet, VpnService};

use super::documented::Documented;
use super::schemas::{self, Side};
use super::{AppState, Collection};
use crate::error::{Error, Result};
use vpnaas_core::listing::FilterKind;
use vpnaas_core::wire::{self, Attribute, Shown};

const JSON: &str = "application/json";
pub(super) const VPN: &str = "vpn";
pub(super) const INVENTORY: &str = "inventory";
pub(super) const DISCOVERY: &str = "discovery";
pub(super) const OPS: &str = "operations";
pub(super) const QUOTAS: &str = "quotas";

/// Error statuses by kind of operation; each is answered in the NeutronError envelope.
pub(super) const LIST_ERRORS: &[u16] = &[400, 401, 403, 503];
pub(super) const SHOW_ERRORS: &[u16] = &[401, 403, 404, 503];
const CREATE_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 413, 503];
pub(super) const UPDATE_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 409, 412, 413, 503];
const DELETE_ERRORS: &[u16] = &[401, 403, 404, 409, 412, 503];

/// The document for the server's validation profile, and the attribute names the schema
/// table did not know (empty unless an attribute was added without its type).
pub fn document(profile: &'static Profile) -> (OpenApi, Vec<String>) {
    let mut doc = Doc { paths: PathsBuilder::new(), components: Components::new(), unknown: Vec::new(), profile };
    doc.collection::<IkePolicy>(VPN);
    doc.collection::<IpsecPolicy>(VPN);
    doc.collection::<VpnService>(VPN);
    doc.collection::<EndpointGroup>(VPN);
    doc.collection::<SiteConnection>(VPN);
    doc.collection::<vpnaas_core::resources::Certificate>(VPN);
    doc.collection::<vpnaas_core::resources::Router>(INVENTORY);
    doc.collection::<Subnet>(INVENTORY);
    for (method, path, operation) in super::documented().operations() {
        doc.add(path, method, operation);
    }
    let mut components = doc.components;
    components.schemas.insert("NeutronError".into(), RefOr::T(schemas::neutron_error()));
    components.security_schemes.insert(
        "token".into(),
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-Auth-Token",
            "A Keystone token, a static token or a noauth token, as the server's auth_strategy says. In noauth \
             mode X-Project-Id and X-Roles name the caller instead, and without them the noauth default project \
             applies.",
        ))),
    );
    components.security_schemes.insert(
        "metrics".into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("metrics_token, when the server has one"))
                .build(),
        ),
    );
    let description = format!(
        "The OpenStack Networking (Neutron) VPNaaS v2.0 API as vpnaas serves it, with its router and subnet \
         inventory, discovery and operations routes. This server enforces the '{}' validation profile. The \
         gateway agents' internal API (/v2.0/gateway/...) is not described here (ADR 0003).",
        profile.name
    );
    let api = OpenApiBuilder::new()
        .info(InfoBuilder::new().title("vpnaas").version(env!("CARGO_PKG_VERSION")).description(Some(description)))
        .paths(doc.paths)
        .components(Some(components))
        .tags(Some([
            tag(VPN, "The VPNaaS resources and certificates"),
            tag(INVENTORY, "Routers, subnets, router interfaces and their ports"),
            tag(QUOTAS, "What each project may hold of each VPN resource"),
            tag(DISCOVERY, "Versions, resources and extensions"),
            tag(OPS, "Health, readiness, metrics and this document"),
        ]))
        .build();
    (api, doc.unknown)
}

/// `GET /openapi.json`, described like every other route.
pub fn routes() -> Documented {
    let describe =
        || operation(OPS, "openapi", "This document").response("200", json_response("OpenAPI 3.1", object()));
    Documented::new().get("/openapi.json", describe, serve)
}

/// `GET /openapi.json`. Built on each request from the running profile (about a millisecond;
/// clients fetch it rarely), so there is nothing to keep in step.
pub async fn serve(State(st): State<AppState>) -> Result<Response> {
    let (api, _) = document(st.service.profile());
    let body = serde_json::to_vec(&api).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(super::view::respond(StatusCode::OK, body))
}

fn tag(name: &str, description: &str) -> utoipa::openapi::Tag {
    TagBuilder::new().name(name).description(Some(description)).build()
}

struct Doc {
    paths: PathsBuilder,
    components: Components,
    unknown: Vec<String>,
    profile: &'static Profile,
}

/// The component name of a resource's schema (`ipsec_site_connection` → `IpsecSiteConnection`).
fn component(singular: &str, suffix: &str) -> String {
    let mut out = String::new();
    for word in singular.split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out + suffix
}

fn reference(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

impl Doc {
    fn add(&mut self, path: &str, method: HttpMethod, operation: Operation) {
        let paths = std::mem::take(&mut self.paths).build();
        let mut paths = paths;
        paths.add_path_operation(path, vec![method], operation);
        self.paths = PathsBuilder::from(paths);
    }

    fn schema(&mut self, singular: &str, name: &str, side: Side) -> Option<Schema> {
        let found = schemas::attribute(singular, name, self.profile, side);
        if found.is_none() {
            self.unknown.push(format!("{singular}.{name}"));
        }
        found
    }

    /// The five operations of a collection and its three schemas.
    fn collection<T: Collection>(&mut self, tag: &str) {
        let profile = self.profile;
        let attrs: Vec<Attribute> = wire::COMMON.iter().chain(T::ATTRS).copied().collect();
        let hidden = T::hidden(profile);
        let overrides = T::overrides(profile);
        let unsupported: &[&str] = if T::SINGULAR == SiteConnection::SINGULAR { profile.unsupported } else { &[] };

        // What responses show: the map minus what is hidden or write-only, plus the extras.
        let mut shown = ObjectBuilder::new().schema_type(Type::Object).additional_properties(closed());
        let mut partial = ObjectBuilder::new().schema_type(Type::Object).additional_properties(closed());
        let answered = attrs.iter().map(|a| (a.name, a.shown)).chain(T::SHOWN.iter().copied());
        for (name, seen) in answered.filter(|(n, s)| !hidden.contains(n) && *s != Shown::Never) {
            if let Some(s) = self.schema(T::SINGULAR, name, Side::Response) {
                shown = shown.property(name, s.clone());
                partial = partial.property(name, s);
                if seen == Shown::Always {
                    shown = shown.required(name);
                }
            }
        }

        // What requests send: the map's writable attributes, as the profile changes them.
        let mut create = ObjectBuilder::new().schema_type(Type::Object).additional_properties(closed());
        let mut update = ObjectBuilder::new().schema_type(Type::Object).additional_properties(closed());
        for a in attrs.iter().filter(|a| !unsupported.contains(&a.name)) {
            let settable = overrides.settable.iter().any(|(n, _)| *n == a.name);
            if a.post || settable {
                if let Some(s) = self.schema(T::SINGULAR, a.name, Side::Request) {
                    create = create.property(a.name, s);
                }
                if a.required && !overrides.optional.contains(&a.name) {
                    create = create.required(a.name);
                }
            }
            if a.put {
                if let Some(s) = self.schema(T::SINGULAR, a.name, Side::Request) {
                    update = update.property(a.name, s);
                }
            }
        }
        let name = component(T::SINGULAR, "");
        let partial_name = component(T::SINGULAR, "Fields");
        let create_name = component(T::SINGULAR, "Create");
        let update_name = component(T::SINGULAR, "Update");
        for (n, s) in [(&name, shown), (&partial_name, partial), (&create_name, create), (&update_name, update)] {
            self.components.schemas.insert(n.clone(), RefOr::T(s.into()));
        }

        let one = |schema: &str| envelope(T::SINGULAR, reference(schema));
        let list: Schema = {
            let links = ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("rel", schemas::text(16).enum_values(Some(["next", "previous"])))
                    .property("href", ObjectBuilder::new().schema_type(Type::String))
                    .required("rel")
                    .required("href"),
            );
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(T::PLURAL, ArrayBuilder::new().items(reference(&partial_name)))
                .property(format!("{}_links", T::PLURAL), links)
                .required(T::PLURAL)
                .additional_properties(closed())
                .into()
        };
        let item = format!("{}/{{id}}", T::PATH);
        let what = T::SINGULAR.replace('_', " ");
        let ops = [
            (
                T::PATH.to_owned(),
                HttpMethod::Get,
                operation(tag, &format!("list_{}", T::PLURAL), &format!("List {}s", what))
                    .parameters(Some(list_parameters::<T>(&attrs)))
                    .response("200", json_response("The objects the caller may see", list))
                    .errors(LIST_ERRORS)
                    .authenticated(),
            ),
            (
                T::PATH.to_owned(),
                HttpMethod::Post,
                operation(tag, &format!("create_{}", T::SINGULAR), &format!("Create a {what}"))
                    .request_body(Some(json_body(request_envelope(T::SINGULAR, reference(&create_name)))))
                    .response("201", json_response("Created", one(&name)))
                    .errors(CREATE_ERRORS)
                    .authenticated(),
            ),
            (
                item.clone(),
                HttpMethod::Get,
                operation(tag, &format!("show_{}", T::SINGULAR), &format!("Show a {what}"))
                    .parameter(path_id())
                    .parameter(fields(&attrs))
                    .response("200", json_response("The object", one(&partial_name)))
                    .errors(SHOW_ERRORS)
                    .authenticated(),
            ),
            (
                item.clone(),
                HttpMethod::Put,
                operation(tag, &format!("update_{}", T::SINGULAR), &format!("Update a {what}"))
                    .parameter(path_id())
                    .parameter(if_match())
                    .request_body(Some(json_body(request_envelope(T::SINGULAR, reference(&update_name)))))
                    .response("200", json_response("Updated", one(&name)))
                    .errors(UPDATE_ERRORS)
                    .authenticated(),
            ),
            (
                item,
                HttpMethod::Delete,
                operation(tag, &format!("delete_{}", T::SINGULAR), &format!("Delete a {what}"))
                    .parameter(path_id())
                    .parameter(if_match())
                    .response("204", ResponseBuilder::new().description("Deleted").build())
                    .errors(DELETE_ERRORS)
                    .authenticated(),
            ),
        ];
        for (path, method, op) in ops {
            self.add(&path, method, op.build());
        }
    }
}

/// `{"<key>": <schema>}`.
fn envelope(key: &str, inner: RefOr<Schema>) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(key, inner)
        .required(key)
        .additional_properties(closed())
        .into()
}

/// A request's `{"<key>": <schema>}`: other top-level keys are ignored, as the reference
/// reads only the resource's key (found by schemathesis's negative_data_rejection).
fn request_envelope(key: &str, inner: RefOr<Schema>) -> Schema {
    ObjectBuilder::new().schema_type(Type::Object).property(key, inner).required(key).into()
}

pub(super) fn operation(tag: &str, id: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new().tag(tag).operation_id(Some(id)).summary(Some(summary))
}

pub(super) fn json_response(description: &str, schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

pub(super) fn json_body(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(JSON, ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// What the route table's entries chain onto an operation.
pub(super) trait Describe {
    /// The error statuses, each with the NeutronError envelope.
    fn errors(self, codes: &[u16]) -> Self;
    /// The caller is identified (`X-Auth-Token`, or noauth's headers and default project).
    fn authenticated(self) -> Self;
}

impl Describe for OperationBuilder {
    fn errors(mut self, codes: &[u16]) -> Self {
        for code in codes {
            let code = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (type_name, _) = crate::error::status_words(code);
            let description = format!("{} (for example {type_name})", code.canonical_reason().unwrap_or("Error"));
            self = self.response(code.as_str(), json_response(&description, reference("NeutronError")));
        }
        self
    }

    fn authenticated(self) -> Self {
        self.security(SecurityRequirement::new("token", Vec::<String>::new())).security(SecurityRequirement::default())
    }
}

pub(super) fn query(name: &str, schema: impl Into<RefOr<Schema>>, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

/// A query parameter that may be repeated (`?fields=a&fields=b`).
pub(super) fn repeated(name: &str, item: impl Into<RefOr<Schema>>, description: &str) -> Parameter {
    let item: RefOr<Schema> = item.into();
    let mut p = query(name, ArrayBuilder::new().items(item), description);
    p.style = Some(ParameterStyle::Form);
    p.explode = Some(true);
    p
}

pub(super) fn path_id() -> Parameter {
    ParameterBuilder::new()
        .name(wire::ID)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some("The object's id (a UUID; anything else is a 404)"))
        .build()
}

fn if_match() -> Parameter {
    ParameterBuilder::new()
        .name("If-Match")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(
            "revision_number=N: only if the object is still at revision N, else a 412; other values are ignored, \
             as in the reference",
        ))
        .build()
}

fn fields(attrs: &[Attribute]) -> Parameter {
    let names: BTreeSet<&str> = attrs.iter().map(|a| a.name).collect();
    repeated(
        "fields",
        ObjectBuilder::new().schema_type(Type::String),
        &format!("Only these attributes in the answer; unknown names are ignored. Attributes: {}", {
            names.into_iter().collect::<Vec<_>>().join(", ")
        }),
    )
}

/// Filters (each filterable column, repeatable: any of the values), `fields`, sorting and pagination.
fn list_parameters<T: Collection>(attrs: &[Attribute]) -> Vec<Parameter> {
    let mut out = vec![fields(attrs)];
    for column in T::FILTERS {
        let t = match column.kind {
            FilterKind::Text => Type::String,
            FilterKind::Bool => Type::Boolean,
            FilterKind::Int => Type::Integer,
        };
        out.push(repeated(column.attr, ObjectBuilder::new().schema_type(t), "Only objects with one of these values"));
    }
    let sortable: Vec<&str> = T::FILTERS.iter().filter(|c| c.sortable).map(|c| c.attr).collect();
    out.push(repeated(
        "sort_key",
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(sortable)),
        "Sort by these attributes; as many sort_dir as sort_key",
    ));
    out.push(repeated(
        "sort_dir",
        ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["asc", "desc"])),
        "The direction of each sort_key",
    ));
    out.push(query(
        "limit",
        ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)),
        "At most this many objects (0: all), with <collection>_links for the next and previous pages",
    ));
    out.push(query(
        "marker",
        ObjectBuilder::new().schema_type(Type::String),
        "The id of the last object of the previous page",
    ));
    out.push(query("page_reverse", ObjectBuilder::new().schema_type(Type::Boolean), "The page before the marker"));
    out
}

/// No attributes but the listed ones.
pub(super) fn closed() -> Option<AdditionalProperties<Schema>> {
    Some(AdditionalProperties::FreeForm(false))
}

pub(super) fn object() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Object)
}

pub(super) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vpnaas_core::profile::ALL;

    #[test]
    fn every_attribute_of_every_profile_has_a_schema() {
        for profile in ALL {
            let (_, unknown) = document(profile);
            assert!(unknown.is_empty(), "attributes without a schema in api/schemas.rs: {unknown:?}");
        }
    }

    #[test]
    fn the_otc_document_leaves_out_what_the_profile_refuses_or_hides() {
        let (api, _) = document(&vpnaas_core::profile::OTC);
        let v = serde_json::to_value(&api).unwrap();
        let create = &v["components"]["schemas"]["IpsecSiteConnectionCreate"];
        assert!(create["properties"].get("dpd").is_none(), "{create}");
        assert_eq!(create["properties"]["mtu"]["enum"], json!([1500]));
        assert!(!create["required"].as_array().unwrap().contains(&json!("peer_id")));
        let shown = &v["components"]["schemas"]["IpsecSiteConnection"];
        assert!(shown["properties"].get("revision_number").is_none(), "{shown}");
        let (api, _) = document(&vpnaas_core::profile::OPENSTACK);
        let v = serde_json::to_value(&api).unwrap();
        assert!(v["components"]["schemas"]["IpsecSiteConnectionCreate"]["properties"].get("dpd").is_some());
    }
}
