//! `/v2.0/vpn/endpoint-groups`: attribute map, wire view and handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use vpnaas_core::algorithms::EndpointType;
use vpnaas_core::resources::{Draft, EndpointGroup};
use vpnaas_core::Fault;

use super::body::{self, post, req, Op, COMMON};
use super::{common, list, no_content, one, show, AppState, RawBody, Resource};
use crate::auth::Caller;
use crate::error::Result;

const ATTRS: &[body::Attr] = &[req("type"), post("endpoints")];

impl Resource for EndpointGroup {
    const SINGULAR: &'static str = "endpoint_group";
    const PLURAL: &'static str = "endpoint_groups";
    fn view(&self) -> Map<String, Value> {
        let mut m = common(&self.meta);
        m.insert("type".into(), self.spec.endpoint_type.as_str().into());
        m.insert("endpoints".into(), self.spec.endpoints.clone().into());
        m
    }
}

async fn create(
    State(st): State<AppState>,
    caller: Caller,
    RawBody(b): RawBody,
) -> Result<Response> {
    let mut f = body::parse(
        &b,
        EndpointGroup::SINGULAR,
        EndpointGroup::PLURAL,
        &[&COMMON, ATTRS],
        Op::Create,
    )?;
    let owner = f.owner()?;
    let text = f.text_patch()?;
    let endpoint_type = f
        .choice("type", EndpointType::parse)?
        .ok_or(Fault::RequiredMissing("type"))?;
    let endpoints = f.list("endpoints")?.unwrap_or_default();
    let draft = Draft {
        owner,
        name: text.name.unwrap_or_default(),
        description: text.description.unwrap_or_default(),
        spec: (endpoint_type, endpoints),
    };
    Ok(one(
        StatusCode::CREATED,
        &st.service.create_endpoint_group(&caller, draft).await?,
    ))
}

async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Result<Response> {
    let mut f = body::parse(
        &b,
        EndpointGroup::SINGULAR,
        EndpointGroup::PLURAL,
        &[&COMMON, ATTRS],
        Op::Update,
    )?;
    let patch = f.text_patch()?;
    Ok(one(
        StatusCode::OK,
        &st.service
            .update_endpoint_group(&caller, &id, patch)
            .await?,
    ))
}

async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    st.service.delete_endpoint_group(&caller, &id).await?;
    Ok(no_content())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/endpoint-groups", get(list::<EndpointGroup>).post(create))
        .route(
            "/endpoint-groups/{id}",
            get(show::<EndpointGroup>).put(update).delete(delete),
        )
}
