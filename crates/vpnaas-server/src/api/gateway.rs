//! `/v2.0/gateway/routers/{id}/...`: the internal API gateway agents use (ADR 0003), behind the agent credential or the `gateway_agent` rule.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;
use vpnaas_core::desired::{AgentConfig, AgentHello, HostStatusReport, StatusReport};
use vpnaas_core::Fault;

use super::{AgentBody, AppState, Body};
use crate::auth::Caller;
use crate::error::{Error, Result};

/// A request from a gateway agent: it presented the configured agent credential
/// (`Authorization: Bearer ...`), or a token of the configured mode (Keystone, static, or
/// noauth) whose holder the `gateway_agent` rule allows (the `service` role by default).
/// A project's member never opens this API.
pub struct Agent;

impl FromRequestParts<AppState> for Agent {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let bearer =
            parts.headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if let (Some(token), Some(offered)) = (&state.config.agent_token, bearer) {
            if token.matches(offered.trim()) {
                return Ok(Agent);
            }
        }
        if parts.headers.contains_key("x-auth-token") || parts.headers.contains_key("x-project-id") {
            let caller = Caller::from_request_parts(parts, state).await?;
            caller.authorize(GATEWAY_RULE, caller.project_id())?;
            return Ok(Agent);
        }
        Err(Fault::NotAuthenticated.into())
    }
}

const GATEWAY_RULE: &str = "gateway_agent";

fn router_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| Fault::RouterNotFound(id.to_owned()).into())
}

fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Fault::MalformedBody(e.to_string()).into())
}

async fn heartbeat(
    State(st): State<AppState>,
    _: Agent,
    Path(id): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let hello: AgentHello = json_body(&b)?;
    st.service.agent_heartbeat(router_id(&id)?, &hello).await?;
    let config =
        AgentConfig { heartbeat_interval: st.config.agent_heartbeat_secs, dead_after: st.config.agent_dead_after_secs };
    Ok(Json(config).into_response())
}

#[derive(Deserialize)]
struct StateQuery {
    known: Option<String>,
    wait: Option<u64>,
}

/// `?known=V&wait=S`: at once when `V` is not the current version, else when the router's
/// change marker moves and its state's version differs, or after `S` seconds (ADR 0011).
async fn state(
    State(st): State<AppState>,
    _: Agent,
    Path(id): Path<String>,
    Query(q): Query<StateQuery>,
) -> Result<Response> {
    let state = st.service.wait_gateway_state(router_id(&id)?, q.known.as_deref(), q.wait.unwrap_or(0)).await?;
    Ok(Json(&*state).into_response())
}

async fn status(State(st): State<AppState>, _: Agent, Path(id): Path<String>, Body(b): AgentBody) -> Result<Response> {
    let report: StatusReport = json_body(&b)?;
    st.service.report_status(router_id(&id)?, &report.connections).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- one agent per host (ADR 0011)

/// A host name in a path: 1 to 255 characters, no control characters.
fn host_name(host: &str) -> Result<&str> {
    if host.is_empty() || host.len() > 255 || host.chars().any(char::is_control) {
        return Err(Fault::invalid("host", format!("'{host}' is not a host name of 1 to 255 characters")).into());
    }
    Ok(host)
}

async fn host_heartbeat(
    State(st): State<AppState>,
    _: Agent,
    Path(host): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let hello: AgentHello = json_body(&b)?;
    st.service.host_heartbeat(host_name(&host)?, &hello);
    let config =
        AgentConfig { heartbeat_interval: st.config.agent_heartbeat_secs, dead_after: st.config.agent_dead_after_secs };
    Ok(Json(config).into_response())
}

#[derive(Deserialize)]
struct HostQuery {
    cursor: Option<i64>,
    wait: Option<u64>,
}

async fn host_state(
    State(st): State<AppState>,
    _: Agent,
    Path(host): Path<String>,
    Query(q): Query<HostQuery>,
) -> Result<Response> {
    let state = st.service.host_state(host_name(&host)?, q.cursor, q.wait.unwrap_or(0)).await?;
    Ok(Json(state).into_response())
}

/// `GET .../hosts/{host}/routers/{id}/state`: one router of the host (404 for another host's).
async fn host_router_state(
    State(st): State<AppState>,
    _: Agent,
    Path((host, id)): Path<(String, String)>,
) -> Result<Response> {
    let router = router_id(&id)?;
    if !st.service.router_on_host(host_name(&host)?, router).await? {
        return Err(Fault::RouterNotFound(id).into());
    }
    let state = st.service.gateway_state(router).await?;
    Ok(Json(&*state).into_response())
}

async fn host_status(
    State(st): State<AppState>,
    _: Agent,
    Path(host): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let report: HostStatusReport = json_body(&b)?;
    let reports: Vec<_> = report.routers.into_iter().map(|r| (r.router_id, r.connections)).collect();
    st.service.report_host_status(host_name(&host)?, &reports).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/gateway/routers/{id}/agent", put(heartbeat))
        .route("/v2.0/gateway/routers/{id}/state", get(state))
        .route("/v2.0/gateway/routers/{id}/status", post(status))
        .route("/v2.0/gateway/hosts/{host}/agent", put(host_heartbeat))
        .route("/v2.0/gateway/hosts/{host}/state", get(host_state))
        .route("/v2.0/gateway/hosts/{host}/routers/{id}/state", get(host_router_state))
        .route("/v2.0/gateway/hosts/{host}/status", post(host_status))
}
