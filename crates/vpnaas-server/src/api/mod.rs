//! The HTTP API: routes, extractors, the generic list and show handlers, discovery and the fallbacks, all answering in Neutron's wire format.

pub mod body;
mod connections;
mod discovery;
mod endpoint_groups;
mod gateway;
mod ikepolicies;
mod inventory;
mod ipsecpolicies;
pub mod query;
mod vpnservices;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};
use vpnaas_core::resources::{EndpointGroup, IkePolicy, IpsecPolicy, Meta, SiteConnection, Subnet, VpnService};
use vpnaas_core::Fault;

use self::body::{Attr, Attributes, Echo, Op, Overrides, COMMON};
use crate::auth::Caller;
use crate::clock::{rfc3339, space_micros};
use crate::config::Config;
use crate::error::{self, Error, Result};
use crate::service::{Resource, Service};
use vpnaas_core::profile::{Profile, TimeStyle};

/// The largest request body, as oslo.middleware's `max_request_body_size` default (112 KiB).
pub const MAX_BODY: usize = 114_688;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub config: Arc<Config>,
    pub auth: Arc<crate::auth::Auth>,
}

/// The caller of a request: its credentials in the configured authentication mode, the
/// policy rules, and its `If-Match` precondition.
impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let if_match = crate::auth::header(&parts.headers, "if-match").and_then(crate::auth::revision_constraint);
        let creds = state.auth.identify(&parts.headers).await?;
        Ok(Caller::new(creds, state.auth.policy.clone(), if_match))
    }
}

/// A resource served under a collection URL: its wire names, attribute map and view, and
/// how a request body becomes a call of the service layer.
pub trait Collection: Resource + Send + Sync + 'static {
    const SINGULAR: &'static str;
    const PLURAL: &'static str;
    /// The collection's URL path.
    const PATH: &'static str;
    /// The resource's own attributes (the common ones are added).
    const ATTRS: &'static [Attr];
    /// The wire object, every attribute the profile shows included.
    fn view(&self, profile: &Profile) -> Map<String, Value>;
    /// Attributes only admins see (none by default).
    fn admin_view(&self, _profile: &Profile, _view: &mut Map<String, Value>) {}
    /// How the profile changes the attribute map.
    fn overrides(_profile: &'static Profile) -> Overrides {
        Overrides::default()
    }
    fn create(svc: &Service, caller: &Caller, body: Attributes) -> impl Future<Output = Result<Self>> + Send;
    fn update(svc: &Service, caller: &Caller, id: &str, body: Attributes) -> impl Future<Output = Result<Self>> + Send;
    fn delete(svc: &Service, caller: &Caller, id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// The attributes every resource shows: both owner names (ADR 0009 §1.3) and ADR 0001 D6.
pub fn common(meta: &Meta, profile: &Profile) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), meta.id.to_string().into());
    m.insert("name".into(), meta.name.clone().into());
    m.insert("description".into(), meta.description.clone().into());
    m.insert("tenant_id".into(), meta.project_id.clone().into());
    m.insert("project_id".into(), meta.project_id.clone().into());
    m.insert("created_at".into(), wire_time(profile, meta.created_at).into());
    m.insert("updated_at".into(), wire_time(profile, meta.updated_at).into());
    m.insert("revision_number".into(), meta.revision_number.into());
    m
}

/// An optional value as JSON: its text, or null.
pub fn optional<T: ToString>(v: &Option<T>) -> Value {
    v.as_ref().map_or(Value::Null, |x| Value::String(x.to_string()))
}

/// A time as the profile renders it.
pub fn wire_time(profile: &Profile, micros: i64) -> String {
    match profile.time_style {
        TimeStyle::Rfc3339 => rfc3339(micros),
        TimeStyle::SpaceMicros => space_micros(micros),
    }
}

/// `{"<singular>": {...}}` with the status code of the operation.
pub fn one<T: Collection>(code: StatusCode, profile: &Profile, caller: &Caller, item: &T) -> Response {
    let mut outer = Map::new();
    outer.insert(T::SINGULAR.into(), Value::Object(render(item, profile, caller)));
    (code, Json(Value::Object(outer))).into_response()
}

/// The wire object this caller sees: the view, plus what only admins see.
fn render<T: Collection>(item: &T, profile: &Profile, caller: &Caller) -> Map<String, Value> {
    let mut view = item.view(profile);
    if caller.is_admin {
        item.admin_view(profile, &mut view);
    }
    view
}

/// A request body, read up to `LIMIT` bytes; larger is a 413 in the envelope.
pub struct Body<const LIMIT: usize>(pub axum::body::Bytes);

/// An API request's body, up to [`MAX_BODY`].
pub type RawBody = Body<MAX_BODY>;

/// The largest body of the gateway API: a host's status report for all its routers (a
/// thousand routers of ten connections is about 1.5 MB of JSON).
pub const MAX_AGENT_BODY: usize = 16 * 1024 * 1024;

/// A gateway agent's request body, up to [`MAX_AGENT_BODY`].
pub type AgentBody = Body<MAX_AGENT_BODY>;

/// How long a request's body may take to arrive; the connection layer sets it on each
/// request (`http_body_timeout_secs`), and without it a body may take any time.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub std::time::Duration);

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for Body<LIMIT> {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let timeout = req.extensions().get::<BodyTimeout>().copied();
        let read = axum::body::to_bytes(req.into_body(), LIMIT);
        let bytes = match timeout {
            Some(BodyTimeout(t)) => tokio::time::timeout(t, read).await.map_err(|_| Fault::RequestTimeout)?,
            None => read.await,
        };
        Ok(Body(bytes.map_err(|_| Fault::RequestTooLarge)?))
    }
}

/// The URL of this request without its query, as the client reached us (for links).
pub fn base_url(headers: &HeaderMap, path: &str) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    format!("{scheme}://{host}{path}")
}

async fn list<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let listing = query::parse_listing::<T>(raw.as_deref())?;
    let items: Vec<T> = st.service.list(&caller, listing.query.clone()).await?;
    let ids: Vec<String> = items.iter().map(|i| i.meta().id.to_string()).collect();
    let profile = st.service.profile();
    let views: Vec<Value> =
        items.iter().map(|i| Value::Object(listing.fields.project(render(i, profile, &caller)))).collect();
    let mut outer = Map::new();
    outer.insert(T::PLURAL.into(), Value::Array(views));
    if let Some(links) = query::links(&base_url(&headers, uri.path()), &listing, &ids) {
        if !links.is_empty() {
            outer.insert(format!("{}_links", T::PLURAL), Value::Array(links));
        }
    }
    Ok(Json(Value::Object(outer)).into_response())
}

async fn show<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let item: T = st.service.show(&caller, &id).await?;
    let fields = query::Selection::from_pairs(&query::pairs(raw.as_deref()));
    let mut outer = Map::new();
    outer.insert(T::SINGULAR.into(), Value::Object(fields.project(render(&item, st.service.profile(), &caller))));
    Ok(Json(Value::Object(outer)).into_response())
}

fn fields<T: Collection>(svc: &Service, bytes: &[u8], op: Op) -> Result<Attributes, Fault> {
    body::parse_body(bytes, T::SINGULAR, T::PLURAL, &[&COMMON, T::ATTRS], T::overrides(svc.profile()), op)
}

/// The answer to a create or update: [`one`], with what the client sent echoed as sent.
fn written<T: Collection>(code: StatusCode, profile: &Profile, caller: &Caller, item: &T, echo: &Echo) -> Response {
    let mut view = render(item, profile, caller);
    echo.apply(&mut view);
    let mut outer = Map::new();
    outer.insert(T::SINGULAR.into(), Value::Object(view));
    (code, Json(Value::Object(outer))).into_response()
}

async fn create<T: Collection>(State(st): State<AppState>, caller: Caller, Body(b): RawBody) -> Result<Response> {
    let attrs = fields::<T>(&st.service, &b, Op::Create)?;
    let echo = attrs.echo();
    let item = T::create(&st.service, &caller, attrs).await?;
    Ok(written(StatusCode::CREATED, st.service.profile(), &caller, &item, &echo))
}

async fn update<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): RawBody,
) -> Result<Response> {
    let attrs = fields::<T>(&st.service, &b, Op::Update)?;
    let echo = attrs.echo();
    let item = T::update(&st.service, &caller, &id, attrs).await?;
    Ok(written(StatusCode::OK, st.service.profile(), &caller, &item, &echo))
}

async fn delete<T: Collection>(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response> {
    T::delete(&st.service, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The five routes of a collection.
fn resource<T: Collection>() -> Router<AppState> {
    Router::new()
        .route(T::PATH, get(list::<T>).post(create::<T>))
        .route(&format!("{}/{{id}}", T::PATH), get(show::<T>).put(update::<T>).delete(delete::<T>))
}

/// Every response gets an `x-openstack-request-id`; every request one log line without secrets.
async fn request_id(req: Request, next: Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    // Every id is a UUID and every route is ASCII: a path that does not percent-decode to
    // UTF-8 names nothing, and is the 404 any unknown id gets (ADR 0006 rule 3).
    let mut resp = if percent_encoding::percent_decode_str(&path).decode_utf8().is_err() {
        Error::from(Fault::HttpNotFound).into_response()
    } else {
        next.run(req).await
    };
    // Whatever a layer below the handlers answered bare (axum's 405 and its extractors'
    // plain-text rejections) becomes the envelope, keeping its headers (ADR 0013 §1).
    if (resp.status().is_client_error() || resp.status().is_server_error()) && !is_json(&resp) {
        let mut enveloped = error::status_envelope(resp.status());
        for name in ["allow", "www-authenticate", "retry-after"] {
            if let Some(v) = resp.headers().get(name) {
                enveloped.headers_mut().insert(name, v.clone());
            }
        }
        resp = enveloped;
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    tracing::info!(
        request.id = %id,
        http.method = %method,
        http.path = %path,
        http.status = resp.status().as_u16(),
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    resp
}

fn is_json(resp: &Response) -> bool {
    resp.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

async fn not_found() -> Error {
    Fault::HttpNotFound.into()
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(discovery::versions))
        .route("/v2.0", get(discovery::resources))
        .route("/v2.0/", get(discovery::resources))
        .route("/v2.0/extensions", get(discovery::extensions))
        .route("/v2.0/extensions/{alias}", get(discovery::extension))
        .merge(resource::<IkePolicy>())
        .merge(resource::<IpsecPolicy>())
        .merge(resource::<VpnService>())
        .merge(resource::<EndpointGroup>())
        .merge(resource::<SiteConnection>())
        .merge(resource::<vpnaas_core::resources::Router>())
        .merge(resource::<Subnet>())
        .merge(inventory::interface_routes())
        .merge(gateway::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}
