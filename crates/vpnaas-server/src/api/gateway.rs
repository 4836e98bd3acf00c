//! `/v2.0/gateway/routers/{id}/...`: the internal API gateway agents use (ADR 0003), behind the agent credential, the `gateway_agent` rule or a client certificate (ADR 0016).

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;
use vpnaas_core::contract::{
    waited_answer, AgentConfig, AgentHello, GatewayState, HostStatusReport, StatusReport, CONTRACT, CONTRACT_HEADER,
    WAIT_UPGRADE,
};
use vpnaas_core::Fault;

use super::{AgentBody, AppState, Body};
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::http::Connection;
use crate::service::retrying;
use crate::tls::{ClientIdentity, Peer};

/// A request from a gateway agent: it presented the configured agent credential
/// (`Authorization: Bearer ...`), or a token of the configured mode (Keystone, static, or
/// noauth) whose holder the `gateway_agent` rule allows (the `service` role by default).
/// A project's member never opens this API. Over HTTPS with `tls_client_ca_file`, a client
/// certificate of that CA opens it too, for the hosts and routers the certificate names only
/// (ADR 0016); a request that presents one is held to it, whatever else it carries.
pub struct Agent {
    peer: Option<Peer>,
    /// The verified client certificate, when one was presented.
    certificate: Option<std::sync::Arc<ClientIdentity>>,
}

impl FromRequestParts<AppState> for Agent {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        contract_spoken(parts)?;
        let peer = parts.extensions.get::<Peer>().cloned();
        let certificate = peer.as_ref().and_then(|p| p.client.clone());
        let agent = Agent { peer, certificate };
        if agent.certificate.is_some() {
            return Ok(agent);
        }
        let bearer =
            parts.headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if let (Some(token), Some(offered)) = (&state.config.agent_token, bearer) {
            if token.matches(offered.trim()) {
                return Ok(agent);
            }
        }
        if parts.headers.contains_key("x-auth-token") || parts.headers.contains_key("x-project-id") {
            // Boxed: a token's check (Keystone's included) would otherwise size every gateway
            // handler's future, which a waiting long poll holds for its whole wait (ADR 0026).
            let caller = Box::pin(Caller::from_request_parts(parts, state)).await?;
            caller.authorize(GATEWAY_RULE, caller.project_id())?;
            return Ok(agent);
        }
        Err(Fault::NotAuthenticated.into())
    }
}

/// The gateway contract the agent names (ADR 0034): none or one this server speaks; a newer
/// one is refused before anything else, so that an agent upgraded before its servers says so.
fn contract_spoken(parts: &Parts) -> Result<()> {
    let Some(value) = parts.headers.get(CONTRACT_HEADER) else { return Ok(()) };
    let shown = String::from_utf8_lossy(value.as_bytes()).into_owned();
    match shown.trim().parse::<u32>() {
        Ok(agent) if agent <= CONTRACT => Ok(()),
        Ok(agent) => Err(Fault::GatewayContractTooNew { agent, server: CONTRACT }.into()),
        Err(_) => Err(Fault::invalid(CONTRACT_HEADER, format!("'{shown}' is not a contract number")).into()),
    }
}

impl Agent {
    /// A host path: a certificate must name the host (else a 403: host names are no secret).
    fn host<'a>(&self, host: &'a str) -> Result<&'a str> {
        let host = host_name(host)?;
        match &self.certificate {
            Some(cert) if !cert.covers_host(host) => Err(Fault::PolicyNotAuthorized(CERTIFICATE_RULE).into()),
            _ => Ok(host),
        }
    }

    /// A router path: a certificate must name the router, or a host it is placed on; any
    /// other router is a 404, as a router of another host is on the host paths (ADR 0011).
    async fn router(&self, st: &AppState, id: &str) -> Result<Uuid> {
        let router = router_id(id)?;
        let Some(cert) = &self.certificate else { return Ok(router) };
        if cert.covers_router(router) {
            return Ok(router);
        }
        for host in cert.hosts() {
            if st.service.router_on_host(host, router).await? {
                return Ok(router);
            }
        }
        Err(Fault::RouterNotFound(id.to_owned()).into())
    }

    /// The plaintext guard: pre-shared keys go over TLS, or to loopback, or where
    /// `allow_plaintext_secrets` allows them; else a 403 and a warning naming the peer.
    fn may_receive<'a>(&self, st: &AppState, states: impl IntoIterator<Item = &'a GatewayState>) -> Result<()> {
        if !states.into_iter().any(|s| !s.connections.is_empty()) {
            return Ok(());
        }
        let allow = st.config.allow_plaintext_secrets;
        match &self.peer {
            Some(peer) if peer.may_receive_secrets(allow) => Ok(()),
            peer => {
                let peer = peer.as_ref().map(|p| p.addr.to_string()).unwrap_or_default();
                tracing::warn!(
                    peer,
                    "refused a desired state with pre-shared keys over plain HTTP to a peer that is not loopback; \
                     use HTTPS (or allow_plaintext_secrets)"
                );
                Err(Fault::PolicyNotAuthorized(PLAINTEXT_RULE).into())
            }
        }
    }
}

const GATEWAY_RULE: &str = "gateway_agent";
/// The refusal of a host that a client certificate does not name.
const CERTIFICATE_RULE: &str = "gateway_client_certificate";
/// The refusal of pre-shared keys over plain HTTP to a peer that is not loopback.
const PLAINTEXT_RULE: &str = "gateway_plaintext_secrets";

/// A poll that asked to switch to [`WAIT_UPGRADE`] (ADR 0028): hyper's pending switch and the
/// connection to take over, when both are there.
pub struct Switch(Option<(OnUpgrade, Connection)>);

impl<S: Send + Sync> FromRequestParts<S> for Switch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Infallible> {
        let asked = parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes() == WAIT_UPGRADE.as_bytes());
        let connection = parts.extensions.get::<Connection>().cloned();
        let switch = match (asked, connection) {
            (true, Some(connection)) => parts.extensions.remove::<OnUpgrade>().map(|up| (up, connection)),
            _ => None,
        };
        Ok(Switch(switch))
    }
}

/// The longest the answer after a switch may take to write (a host's state can be megabytes).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

impl Switch {
    /// `answer`, as an ordinary response; or, when the poll `waits` and asked to switch,
    /// `101 Switching Protocols` at once, and `answer` written after it as the contract's
    /// waited answer, ready at once or not (an agent's first poll is switched too, so that a
    /// fleet's first polls do not each hold an HTTP connection while their states are built). Meanwhile hyper holds nothing of the connection (its buffers, its
    /// state, the layers' futures): only the socket and `answer` are kept. The wait ends
    /// early when the agent closes the connection, and with a 503 when the server stops.
    async fn answer<F>(self, waits: bool, answer: F) -> Result<Response>
    where
        F: Future<Output = Result<Response>> + Send + 'static,
    {
        let Some((upgrade, connection)) = self.0.filter(|_| waits) else { return answer.await };
        let mut held = connection.take_over();
        let answer = Box::pin(answer);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut io = TokioIo::new(upgraded);
            let mut byte = [0u8; 1];
            let response = tokio::select! {
                answered = answer => answered.unwrap_or_else(IntoResponse::into_response),
                // The agent left (or spoke out of turn): nobody reads an answer.
                _ = io.read(&mut byte) => return,
                () = held.stopping() => Error::Busy.into_response(),
            };
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
            let written = tokio::time::timeout(WRITE_TIMEOUT, async {
                io.write_all(&waited_answer(status, &body)).await?;
                io.shutdown().await
            });
            if let Ok(Err(e)) | Err(e) = written.await.map_err(std::io::Error::from) {
                tracing::debug!(error = %e, "a waited answer was not written");
            }
            drop(held);
        });
        let mut switching = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = switching.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static(WAIT_UPGRADE));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        Ok(switching)
    }
}

fn router_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| Fault::RouterNotFound(id.to_owned()).into())
}

fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Fault::MalformedBody(e.to_string()).into())
}

async fn heartbeat(
    State(st): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let hello: AgentHello = json_body(&b)?;
    let (svc, router, hello) = (&st.service, agent.router(&st, &id).await?, &hello);
    retrying(move || svc.agent_heartbeat(router, hello)).await?;
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
    agent: Agent,
    Path(id): Path<String>,
    Query(q): Query<StateQuery>,
    switch: Switch,
) -> Result<Response> {
    let router = agent.router(&st, &id).await?;
    let wait = q.wait.unwrap_or(0);
    let waits = wait > 0;
    switch
        .answer(waits, async move {
            let state = st.service.wait_gateway_state(router, q.known.as_deref(), wait).await?;
            agent.may_receive(&st, [&*state])?;
            Ok(Json(&*state).into_response())
        })
        .await
}

async fn status(
    State(st): State<AppState>,
    agent: Agent,
    Path(id): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let report: StatusReport = json_body(&b)?;
    let (svc, router, statuses) = (&st.service, agent.router(&st, &id).await?, &report.connections[..]);
    retrying(move || svc.report_status(router, statuses)).await?;
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
    agent: Agent,
    Path(host): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let hello: AgentHello = json_body(&b)?;
    st.service.host_heartbeat(agent.host(&host)?, &hello);
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
    agent: Agent,
    Path(host): Path<String>,
    Query(q): Query<HostQuery>,
    switch: Switch,
) -> Result<Response> {
    let host = agent.host(&host)?.to_owned();
    let wait = q.wait.unwrap_or(0);
    let waits = wait > 0;
    switch
        .answer(waits, async move {
            let state = st.service.host_state(&host, q.cursor, wait).await?;
            agent.may_receive(&st, state.changed.iter().map(|s| &**s))?;
            Ok(Json(state).into_response())
        })
        .await
}

/// `GET .../hosts/{host}/routers/{id}/state`: one router of the host (404 for another host's).
async fn host_router_state(
    State(st): State<AppState>,
    agent: Agent,
    Path((host, id)): Path<(String, String)>,
) -> Result<Response> {
    let host = agent.host(&host)?;
    let router = router_id(&id)?;
    if !st.service.router_on_host(host, router).await? {
        return Err(Fault::RouterNotFound(id).into());
    }
    let state = st.service.gateway_state(router).await?;
    agent.may_receive(&st, [&*state])?;
    Ok(Json(&*state).into_response())
}

async fn host_status(
    State(st): State<AppState>,
    agent: Agent,
    Path(host): Path<String>,
    Body(b): AgentBody,
) -> Result<Response> {
    let report: HostStatusReport = json_body(&b)?;
    let reports: Vec<_> = report.routers.into_iter().map(|r| (r.router_id, r.connections)).collect();
    let (svc, host, reports) = (&st.service, agent.host(&host)?, &reports[..]);
    retrying(move || svc.report_host_status(host, reports)).await?;
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
