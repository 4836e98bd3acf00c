//! `/v2.0/vpn/ikepolicies` and `/v2.0/vpn/ipsecpolicies`: both read their attributes from the
//! policy's descriptor ([`vpnaas_core::descriptor::Choices::CHOICES`], ADR 0036), so neither names one.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use vpnaas_core::allowed::{self, ATTRIBUTES};
use vpnaas_core::resources::{Draft, IkePolicy, IkeSpec, IpsecPolicy, IpsecSpec, PolicySpec, Stored};
use vpnaas_core::Fault;

use super::body::Attributes;
use super::documented::Documented;
use super::openapi::{closed, json_response, object, operation, string, Describe, VPN};
use super::view::View;
use super::{common, AppState, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;
use vpnaas_core::wire::{self, Attribute};

/// An update (or a create's attributes over the defaults) from the request.
fn patch<S: PolicySpec>(f: &mut Attributes) -> Result<S::Patch, Fault> {
    let mut p = S::update(f.text_patch()?, f.lifetime(wire::LIFETIME)?);
    for choice in S::CHOICES {
        if let Some(word) = f.word(choice.name) {
            (choice.patch)(&mut p, &word)?;
        }
    }
    Ok(p)
}

fn view<S: PolicySpec>(policy: &Stored<S>, profile: &Profile, v: &mut View<'_>) {
    let s = &policy.spec;
    common(&policy.meta, profile, v);
    for choice in S::CHOICES {
        v.field(choice.name, (choice.get)(s));
    }
    // `{"units", "value"}`, as the value type serialises itself.
    v.field(wire::LIFETIME, s.lifetime());
}

impl Collection for IkePolicy {
    const SINGULAR: &'static str = "ikepolicy";
    const PLURAL: &'static str = "ikepolicies";
    const PATH: &'static str = "/v2.0/vpn/ikepolicies";
    const ATTRS: &'static [Attribute] = IkeSpec::MAP;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        view(self, profile, v);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let p = patch::<IkeSpec>(&mut f)?;
        let mut spec = IkeSpec::default();
        p.apply_spec(&mut spec);
        svc.create_ikepolicy(caller, Draft::new(owner, p.text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_ikepolicy(caller, id, patch::<IkeSpec>(&mut f)?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_ikepolicy(caller, id).await
    }
}

impl Collection for IpsecPolicy {
    const SINGULAR: &'static str = "ipsecpolicy";
    const PLURAL: &'static str = "ipsecpolicies";
    const PATH: &'static str = "/v2.0/vpn/ipsecpolicies";
    const ATTRS: &'static [Attribute] = IpsecSpec::MAP;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        view(self, profile, v);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let p = patch::<IpsecSpec>(&mut f)?;
        let mut spec = IpsecSpec::default();
        p.apply_spec(&mut spec);
        svc.create_ipsecpolicy(caller, Draft::new(owner, p.text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_ipsecpolicy(caller, id, patch::<IpsecSpec>(&mut f)?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_ipsecpolicy(caller, id).await
    }
}

/// `GET /v2.0/vpn/algorithm-policy`: what new and updated policies may use, and how many of
/// the connections the caller may see use what it no longer allows (ADR 0042).
pub fn algorithm_routes() -> Documented {
    Documented::new().get("/v2.0/vpn/algorithm-policy", describe_algorithm_policy, algorithm_policy)
}

async fn algorithm_policy(State(st): State<AppState>, caller: Caller) -> Result<Response> {
    let (policy, not_allowed) = st.service.algorithm_report(&caller).await?;
    let mut body = serde_json::Map::new();
    for attr in ATTRIBUTES {
        let allowed = policy.allowed(attr).map_or_else(|| allowed::words(attr), <[&str]>::to_vec);
        body.insert(attr.to_owned(), json!(allowed));
    }
    let restricted: Vec<&str> = policy.restrictions().iter().map(|(a, _)| *a).collect();
    body.insert("restricted".to_owned(), json!(restricted));
    body.insert("connections_not_allowed".to_owned(), json!(not_allowed));
    Ok(Json(json!({ "algorithm_policy": body })).into_response())
}

fn describe_algorithm_policy() -> OperationBuilder {
    let words = || ArrayBuilder::new().items(string());
    let mut inner = object().additional_properties(closed());
    for attr in ATTRIBUTES {
        inner = inner.property(attr, words()).required(attr);
    }
    let inner = inner
        .property("restricted", words())
        .required("restricted")
        .property("connections_not_allowed", ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
        .required("connections_not_allowed");
    let answer = object().property("algorithm_policy", inner).required("algorithm_policy");
    operation(
        VPN,
        "show_algorithm_policy",
        "The algorithms new and updated IKE and IPsec policies may use, and the visible connections that use others",
    )
    .response("200", json_response("The algorithm policy", answer))
    .errors(&[401, 403, 503])
    .authenticated()
}
