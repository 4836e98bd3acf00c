//! Quotas in Neutron's quota API shape (ADR 0041), under `/v2.0/vpn/quotas`, which one
//! endpoint beside a real Neutron sends here with the rest of `/v2.0/vpn`, and under Neutron's
//! own `/v2.0/quotas`, which clients of a standalone server use (beside Neutron that path is
//! Neutron's).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use utoipa::openapi::path::{OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::Required;
use vpnaas_core::quota::{Counted, Limit, Limits};
use vpnaas_core::wire;
use vpnaas_core::Fault;

use super::body::show as shown;
use super::documented::Documented;
use super::openapi::{
    json_body, json_response, object, operation, Describe, QUOTAS as TAG, SHOW_ERRORS, UPDATE_ERRORS,
};
use super::{AppState, Body, RawBody};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::quotas::Usage;
use crate::service::retrying;

/// The routes under `/v2.0/vpn/quotas` and under `/v2.0/quotas`.
pub fn routes() -> Documented {
    under::<VpnPaths>().merge(under::<NeutronPaths>())
}

/// The paths of one prefix, as `&'static str` (axum and the document need them so).
trait Paths {
    const ALL: &'static str;
    const ONE: &'static str;
    const DEFAULT: &'static str;
    const DETAILS: &'static str;
    const DETAILS_JSON: &'static str;
    /// Distinguishes the two copies' operation ids.
    const ID: &'static str;
}

struct VpnPaths;
impl Paths for VpnPaths {
    const ALL: &'static str = "/v2.0/vpn/quotas";
    const ONE: &'static str = "/v2.0/vpn/quotas/{project_id}";
    const DEFAULT: &'static str = "/v2.0/vpn/quotas/{project_id}/default";
    const DETAILS: &'static str = "/v2.0/vpn/quotas/{project_id}/details";
    const DETAILS_JSON: &'static str = "/v2.0/vpn/quotas/{project_id}/details.json";
    const ID: &'static str = "vpn_";
}

struct NeutronPaths;
impl Paths for NeutronPaths {
    const ALL: &'static str = "/v2.0/quotas";
    const ONE: &'static str = "/v2.0/quotas/{project_id}";
    const DEFAULT: &'static str = "/v2.0/quotas/{project_id}/default";
    const DETAILS: &'static str = "/v2.0/quotas/{project_id}/details";
    const DETAILS_JSON: &'static str = "/v2.0/quotas/{project_id}/details.json";
    const ID: &'static str = "";
}

fn under<P: Paths>() -> Documented {
    Documented::new()
        .get(P::ALL, describe_list::<P>, list)
        .get(P::ONE, describe_show::<P>, show)
        .put(P::ONE, describe_update::<P>, update)
        .delete(P::ONE, describe_delete::<P>, delete)
        .get(P::DEFAULT, describe_default::<P>, default)
        .get(P::DETAILS, describe_details::<P>, details)
        .get(P::DETAILS_JSON, describe_details_json::<P>, details)
}

/// `{"ikepolicy": -1, ...}`: every counted resource's limit.
fn limits_view(limits: &Limits) -> Map<String, Value> {
    Counted::ALL.iter().map(|c| (c.key().to_owned(), json!(limits.get(*c).wire()))).collect()
}

async fn list(State(st): State<AppState>, caller: Caller) -> Result<Response> {
    let quotas: Vec<Value> = st
        .service
        .quotas(&caller)
        .await?
        .into_iter()
        .map(|(project, limits)| {
            let mut item = limits_view(&limits);
            item.insert(wire::PROJECT_ID.into(), json!(project));
            item.insert(wire::TENANT_ID.into(), json!(project));
            Value::Object(item)
        })
        .collect();
    Ok(Json(json!({ "quotas": quotas })).into_response())
}

async fn show(State(st): State<AppState>, caller: Caller, Path(project): Path<String>) -> Result<Response> {
    let limits = st.service.quota(&caller, &project).await?;
    Ok(Json(json!({ "quota": limits_view(&limits) })).into_response())
}

async fn default(State(st): State<AppState>, caller: Caller, Path(project): Path<String>) -> Result<Response> {
    let limits = st.service.quota_default_for(&caller, &project)?;
    Ok(Json(json!({ "quota": limits_view(&limits) })).into_response())
}

async fn details(State(st): State<AppState>, caller: Caller, Path(project): Path<String>) -> Result<Response> {
    let usage = st.service.quota_details(&caller, &project).await?;
    let quota: Map<String, Value> = usage
        .iter()
        .map(|Usage { what, limit, used }| {
            (what.key().to_owned(), json!({ "limit": limit.wire(), "used": used, "reserved": 0 }))
        })
        .collect();
    Ok(Json(json!({ "quota": quota })).into_response())
}

async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    Body(body): RawBody,
) -> Result<Response> {
    let (changes, force) = changes(&body)?;
    let (svc, who, project) = (&st.service, &caller, project.as_str());
    let changes = changes.as_slice();
    let limits = retrying(move || svc.update_quota(who, project, changes, force)).await?;
    Ok(Json(json!({ "quota": limits_view(&limits) })).into_response())
}

async fn delete(State(st): State<AppState>, caller: Caller, Path(project): Path<String>) -> Result<Response> {
    let (svc, who, project) = (&st.service, &caller, project.as_str());
    retrying(move || svc.delete_quota(who, project)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `{"quota": {"ipsec_site_connection": 10, ...}}`: each key a counted resource, each value
/// -1 or a number from 0, converted as Neutron's `convert_to_int` does (an integer, its text,
/// a number cut to its integer part, a boolean). `force: true` sets a limit below what the
/// project holds; `check_limit` is accepted and ignored, as Neutron does since 2025.1.
fn changes(bytes: &[u8]) -> Result<(Vec<(Counted, Limit)>, bool), Fault> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| Fault::MalformedBody(e.to_string()))?;
    let Value::Object(top) = v else { return Err(Fault::BodyInvalid) };
    let mut quota = match top.get("quota") {
        None => return Err(Fault::MissingResourceKey("quota")),
        Some(Value::Object(quota)) => quota.clone(),
        Some(_) => return Err(Fault::BodyInvalid),
    };
    let force = quota.remove("force") == Some(Value::Bool(true));
    quota.remove("check_limit");
    let unknown: Vec<String> = quota.keys().filter(|k| Counted::from_key(k).is_none()).cloned().collect();
    if !unknown.is_empty() {
        return Err(Fault::Unrecognized(unknown));
    }
    let mut out = Vec::with_capacity(quota.len());
    for (key, value) in &quota {
        let Some(what) = Counted::from_key(key) else { continue };
        let Some(n) = to_int(value) else {
            return Err(Fault::invalid(key.as_str(), format!("'{}' is not an integer", shown(value))));
        };
        out.push((what, Limit::parse(key, n)?));
    }
    Ok((out, force))
}

/// Neutron's `convert_to_int`: Python's `int()` of the value.
fn to_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            let f = n.as_f64()?.trunc();
            (f.is_finite() && f.abs() < 9.0e18).then_some(f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

// --- the document ---

fn project_id() -> Parameter {
    ParameterBuilder::new()
        .name(wire::PROJECT_ID)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some("The project whose quota this is"))
        .build()
}

/// Every counted resource's key with `value`'s schema, all required, nothing else.
fn per_resource(value: impl Fn() -> Schema) -> ObjectBuilder {
    let mut o = object().additional_properties(super::openapi::closed());
    for c in Counted::ALL {
        o = o.property(c.key(), value()).required(c.key());
    }
    o
}

fn limit_schema() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(-1))
        .description(Some("At most this many; -1 is unlimited"))
        .into()
}

fn quota_envelope(inner: ObjectBuilder) -> Schema {
    object().property("quota", inner).required("quota").additional_properties(super::openapi::closed()).into()
}

fn describe_list<P: Paths>() -> OperationBuilder {
    let mut item = object();
    for c in Counted::ALL {
        item = item.property(c.key(), limit_schema()).required(c.key());
    }
    let item = item
        .property(wire::PROJECT_ID, ObjectBuilder::new().schema_type(Type::String))
        .required(wire::PROJECT_ID)
        .property(wire::TENANT_ID, ObjectBuilder::new().schema_type(Type::String))
        .required(wire::TENANT_ID);
    let answer = object().property("quotas", ArrayBuilder::new().items(item)).required("quotas");
    operation(TAG, &format!("{}list_quotas", P::ID), "Projects with quotas of their own (admins)")
        .response("200", json_response("Their limits", answer))
        .errors(&[401, 403, 503])
        .authenticated()
}

fn describe_show<P: Paths>() -> OperationBuilder {
    limits_operation(
        &format!("{}show_quota", P::ID),
        "A project's limits: its own where set, the defaults elsewhere",
        "The limits",
    )
}

fn describe_default<P: Paths>() -> OperationBuilder {
    limits_operation(&format!("{}show_quota_default", P::ID), "The default limits", "The defaults")
}

/// A read of one project's limits, every counted resource's.
fn limits_operation(id: &str, summary: &str, answer: &str) -> OperationBuilder {
    operation(TAG, id, summary)
        .parameter(project_id())
        .response("200", json_response(answer, quota_envelope(per_resource(limit_schema))))
        .errors(SHOW_ERRORS)
        .authenticated()
}

fn describe_details<P: Paths>() -> OperationBuilder {
    details_operation(&format!("{}show_quota_details", P::ID))
}

/// The same, as openstacksdk asks for it (`details.json`).
fn describe_details_json<P: Paths>() -> OperationBuilder {
    details_operation(&format!("{}show_quota_details_json", P::ID))
}

fn details_operation(id: &str) -> OperationBuilder {
    let detail = || -> Schema {
        object()
            .property("limit", limit_schema())
            .required("limit")
            .property("used", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
            .required("used")
            .property("reserved", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
            .required("reserved")
            .into()
    };
    operation(TAG, id, "A project's limits and what it holds")
        .parameter(project_id())
        .response("200", json_response("Limit, used and reserved per resource", quota_envelope(per_resource(detail))))
        .errors(SHOW_ERRORS)
        .authenticated()
}

fn describe_update<P: Paths>() -> OperationBuilder {
    let mut changes = object().additional_properties(super::openapi::closed());
    for c in Counted::ALL {
        changes = changes.property(c.key(), limit_schema());
    }
    operation(TAG, &format!("{}update_quota", P::ID), "Sets some of a project's limits (admins)")
        .parameter(project_id())
        .request_body(Some(json_body(quota_envelope(changes))))
        .response("200", json_response("All its limits", quota_envelope(per_resource(limit_schema))))
        .errors(UPDATE_ERRORS)
        .authenticated()
}

fn describe_delete<P: Paths>() -> OperationBuilder {
    operation(TAG, &format!("{}delete_quota", P::ID), "Back to the defaults (admins)")
        .parameter(project_id())
        .response("204", utoipa::openapi::ResponseBuilder::new().description("The defaults apply again").build())
        .errors(&[401, 403, 404, 503])
        .authenticated()
}
