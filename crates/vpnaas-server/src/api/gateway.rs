//! `/v2.0/gateway/routers/{id}/...`: the internal API gateway agents use (ADR 0003), behind the agent credential or the `gateway_agent` rule.

use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;
use vpnaas_core::desired::{AgentConfig, AgentHello, StatusReport};
use vpnaas_core::Fault;

use super::{AppState, RawBody};
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
    RawBody(b): RawBody,
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

/// How often a long poll looks for a change. A short poll of the database rather than
/// LISTEN/NOTIFY: it works the same on SQLite and across PostgreSQL replicas, and a
/// quarter second is well inside the one-second goal for a change to reach a gateway.
const POLL: Duration = Duration::from_millis(250);
const MAX_WAIT: u64 = 30;

async fn state(
    State(st): State<AppState>,
    _: Agent,
    Path(id): Path<String>,
    Query(q): Query<StateQuery>,
) -> Result<Response> {
    let router = router_id(&id)?;
    let deadline = Instant::now() + Duration::from_secs(q.wait.unwrap_or(0).min(MAX_WAIT));
    loop {
        let state = st.service.gateway_state(router).await?;
        if q.known.as_deref() != Some(state.version.as_str()) || Instant::now() >= deadline {
            return Ok(Json(state).into_response());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn status(State(st): State<AppState>, _: Agent, Path(id): Path<String>, RawBody(b): RawBody) -> Result<Response> {
    let report: StatusReport = json_body(&b)?;
    st.service.report_status(router_id(&id)?, &report.connections).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2.0/gateway/routers/{id}/agent", put(heartbeat))
        .route("/v2.0/gateway/routers/{id}/state", get(state))
        .route("/v2.0/gateway/routers/{id}/status", post(status))
}
