//! The HTTP API: routes, extractors, the generic list and show handlers, discovery and the fallbacks, all answering in Neutron's wire format.

mod audit;
pub mod body;
mod certificates;
mod connections;
mod detail;
mod discovery;
mod documented;
mod endpoint_groups;
mod gateway;
mod inventory;
mod networks;
pub mod openapi;
mod ops;
mod peer_config;
mod policies;
pub mod query;
mod quotas;
mod schemas;
mod topology;
mod view;
mod vpnservices;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Extension, FromRequest, FromRequestParts, OriginalUri, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use vpnaas_core::resources::{EndpointGroup, IkePolicy, IpsecPolicy, Meta, SiteConnection, Subnet, VpnService};
use vpnaas_core::Fault;

use self::body::{Attributes, Echo, Op, Overrides};
use self::view::{Keep, View};
use crate::auth::Caller;
use crate::clock::{rfc3339, space_micros};
use crate::config::Config;
use crate::error::{self, Error, Result};
use crate::notifications::{Action, Notes};
use crate::service::{retrying, Resource, Service};
use vpnaas_core::profile::{Profile, TimeStyle};
use vpnaas_core::wire::{self, Attribute, Shown};

/// The largest request body, as oslo.middleware's `max_request_body_size` default (112 KiB).
pub const MAX_BODY: usize = 114_688;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub config: Arc<Config>,
    pub auth: Arc<crate::auth::Auth>,
    /// Readiness and metrics (ADR 0015).
    pub ops: Arc<crate::ops::Ops>,
}

/// The caller of a request: its credentials in the configured authentication mode, the
/// policy rules, and its `If-Match` precondition.
impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // The audit layer authenticated this request already.
        if let Some(caller) = parts.extensions.remove::<Caller>() {
            return Ok(caller);
        }
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
    const ATTRS: &'static [Attribute];
    /// What answers carry besides the map, never written ([`wire::CONNECTION_SHOWN`]).
    const SHOWN: &'static [(&'static str, Shown)] = &[];
    /// Writes the wire object, every attribute the profile shows included.
    fn view(&self, profile: &Profile, v: &mut View<'_>);
    /// Writes the attributes only admins see (none by default).
    fn admin_view(&self, _profile: &Profile, _v: &mut View<'_>) {}
    /// Attributes the profile never shows (none by default).
    fn hidden(_profile: &'static Profile) -> &'static [&'static str] {
        &[]
    }
    /// How the profile changes the attribute map.
    fn overrides(_profile: &'static Profile) -> Overrides {
        Overrides::default()
    }
    fn create(svc: &Service, caller: &Caller, body: Attributes) -> impl Future<Output = Result<Self>> + Send;
    fn update(svc: &Service, caller: &Caller, id: &str, body: Attributes) -> impl Future<Output = Result<Self>> + Send;
    fn delete(svc: &Service, caller: &Caller, id: &str) -> impl Future<Output = Result<()>> + Send;
}

/// The one attribute that carries a secret: opened only for answers that show it.
const SECRET: &str = wire::PSK;

/// The attributes every resource shows: both owner names (ADR 0009 §1.3) and ADR 0001 D6.
pub fn common(meta: &Meta, profile: &Profile, v: &mut View<'_>) {
    v.text(wire::ID, meta.id)
        .field(wire::NAME, &meta.name)
        .field(wire::DESCRIPTION, &meta.description)
        .field(wire::TENANT_ID, &meta.project_id)
        .field(wire::PROJECT_ID, &meta.project_id)
        .field(wire::CREATED_AT, &wire_time(profile, meta.created_at))
        .field(wire::UPDATED_AT, &wire_time(profile, meta.updated_at))
        .field(wire::REVISION_NUMBER, &meta.revision_number);
}

/// A time as the profile renders it.
pub fn wire_time(profile: &Profile, micros: i64) -> String {
    match profile.time_style {
        TimeStyle::Rfc3339 => rfc3339(micros),
        TimeStyle::SpaceMicros => space_micros(micros),
    }
}

/// `{"<singular>": {...}}` with the status code of the operation.
pub fn one<T: Collection>(
    code: StatusCode,
    profile: &'static Profile,
    caller: &Caller,
    item: &T,
    fields: &[String],
) -> Result<Response> {
    let mut out = Vec::with_capacity(1024);
    out.push(b'{');
    view::key(&mut out, T::SINGULAR)?;
    render(&mut out, item, profile, caller, fields)?;
    out.push(b'}');
    Ok(view::respond(code, out))
}

/// Writes the wire object this caller sees: the view, plus what only admins see.
fn render<T: Collection>(
    out: &mut Vec<u8>,
    item: &T,
    profile: &'static Profile,
    caller: &Caller,
    fields: &[String],
) -> Result<()> {
    render_keeping(out, item, profile, caller.is_admin, Keep { hidden: T::hidden(profile), fields })
}

/// [`render`] of the attributes that `keep` keeps, for an admin or not.
fn render_keeping<T: Collection>(
    out: &mut Vec<u8>,
    item: &T,
    profile: &'static Profile,
    admin: bool,
    keep: Keep<'_>,
) -> Result<()> {
    let mut v = View::open(out, keep);
    item.view(profile, &mut v);
    if admin {
        item.admin_view(profile, &mut v);
    }
    v.close()
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
    let profile = st.service.profile();
    let keep = Keep { hidden: T::hidden(profile), fields: &listing.fields.0 };
    let items: Vec<T> = st.service.list(&caller, listing.query.clone(), keep.keeps(SECRET)).await?;
    // About 800 bytes a connection: one allocation for most lists.
    let mut out = Vec::with_capacity(1024 + items.len() * 1024);
    out.push(b'{');
    view::key(&mut out, T::PLURAL)?;
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        render(&mut out, item, profile, &caller, &listing.fields.0)?;
    }
    out.push(b']');
    if listing.query.limit.is_some() {
        let ids: Vec<String> = items.iter().map(|i| i.meta().id.to_string()).collect();
        if let Some(links) = query::links(&base_url(&headers, uri.path()), &listing, &ids) {
            if !links.is_empty() {
                out.push(b',');
                view::key(&mut out, &format!("{}_links", T::PLURAL))?;
                serde_json::to_writer(&mut out, &links).map_err(|e| Error::Internal(e.to_string()))?;
            }
        }
    }
    out.push(b'}');
    Ok(view::respond(StatusCode::OK, out))
}

async fn show<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response> {
    let fields = query::Selection::from_pairs(&query::pairs(raw.as_deref()));
    let profile = st.service.profile();
    let keep = Keep { hidden: T::hidden(profile), fields: &fields.0 };
    let item: T = st.service.show(&caller, &id, keep.keeps(SECRET)).await?;
    one(StatusCode::OK, profile, &caller, &item, &fields.0)
}

fn fields<T: Collection>(svc: &Service, bytes: &[u8], op: Op) -> Result<Attributes, Fault> {
    body::parse_body(bytes, T::SINGULAR, T::PLURAL, &[&wire::COMMON, T::ATTRS], T::overrides(svc.profile()), op)
}

/// The answer to a create or update: [`one`], with what the client sent echoed as sent.
fn written<T: Collection>(
    code: StatusCode,
    profile: &'static Profile,
    caller: &Caller,
    item: &T,
    echo: &Echo,
) -> Result<Response> {
    if echo.is_empty() {
        return one(code, profile, caller, item, &[]);
    }
    let mut out = Vec::with_capacity(1024);
    render(&mut out, item, profile, caller, &[])?;
    let mut view: Map<String, Value> = serde_json::from_slice(&out).map_err(|e| Error::Internal(e.to_string()))?;
    echo.apply(&mut view);
    let mut outer = Map::new();
    outer.insert(T::SINGULAR.into(), Value::Object(view));
    let body = serde_json::to_vec(&outer).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(view::respond(code, body))
}

async fn create<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    request: Option<Extension<RequestId>>,
    Body(b): RawBody,
) -> Response {
    let request_id = request.map(|Extension(RequestId(id))| id).unwrap_or_default();
    let answer = async {
        let echo = fields::<T>(&st.service, &b, Op::Create)?.echo();
        let noting = noted::<T>(&st, &caller, &request_id, Action::Create, || serde_json::from_slice(&b).ok(), None);
        // Parsed again for each attempt: a write that collided is run again whole (ADR 0030).
        let (svc, who, bytes) = (&st.service, &noting, &b[..]);
        let item =
            retrying(move || async move { T::create(svc, who, fields::<T>(svc, bytes, Op::Create)?).await }).await?;
        st.service.kick_relay();
        let mut response = written(StatusCode::CREATED, st.service.profile(), &caller, &item, &echo)?;
        response.extensions_mut().insert(audit::Created(item.id().to_string()));
        Ok::<_, Error>(response)
    }
    .await;
    answer.into_response()
}

/// Who makes the request, for its notifications' and audit events' context.
pub(crate) fn requester<'a>(caller: &'a Caller, request_id: &'a str) -> crate::notifications::Requester<'a> {
    crate::notifications::Requester {
        project: caller.project_id(),
        user: caller.creds.user_id.as_deref(),
        roles: &caller.creds.roles,
        is_admin: caller.is_admin,
        request_id,
    }
}

/// The request's id (`x-openstack-request-id`), for the notifications' context.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The caller whose write publishes its notifications (ADR 0043), when the server publishes:
/// the `.start` payload from `start` (with `id` for an update), the `.end` payload rendered
/// as the caller's own answer would be.
fn noted<T: Collection>(
    st: &AppState,
    caller: &Caller,
    request_id: &str,
    action: Action,
    start: impl FnOnce() -> Option<Value>,
    id: Option<&str>,
) -> Caller {
    if st.service.publisher().is_none() {
        return caller.clone();
    }
    let start = match (action, id) {
        (Action::Delete, Some(id)) => serde_json::json!({ format!("{}_id", T::SINGULAR): id }),
        (Action::Update, Some(id)) => {
            let mut body = start().unwrap_or(Value::Null);
            if let Value::Object(map) = &mut body {
                map.insert(wire::ID.into(), Value::String(id.to_owned()));
            }
            body
        }
        _ => start().unwrap_or(Value::Null),
    };
    let start = crate::notifications::without_secrets(start).to_string();
    let (profile, admin) = (st.service.profile(), caller.is_admin);
    // The caller's own view, its secret attributes left out.
    let hidden: Vec<&'static str> = T::hidden(profile).iter().copied().chain(crate::notifications::SECRETS).collect();
    let render: crate::notifications::Render = Box::new(move |any| {
        let item = any.downcast_ref::<T>()?;
        let mut out = Vec::with_capacity(1024);
        render_keeping(&mut out, item, profile, admin, Keep { hidden: &hidden, fields: &[] }).ok()?;
        Some(out)
    });
    let context = crate::notifications::context(&requester(caller, request_id), crate::clock::now_micros());
    caller.noting(Notes { resource: T::SINGULAR, action, start, id: id.map(str::to_owned), render, context })
}

async fn update<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    request: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    Body(b): RawBody,
) -> Response {
    let request_id = request.map(|Extension(RequestId(id))| id).unwrap_or_default();
    let answer = async {
        let echo = fields::<T>(&st.service, &b, Op::Update)?.echo();
        let start = || serde_json::from_slice(&b).ok();
        let noting = noted::<T>(&st, &caller, &request_id, Action::Update, start, Some(&id));
        let (svc, who, bytes, id) = (&st.service, &noting, &b[..], id.as_str());
        let item = retrying(move || async move { T::update(svc, who, id, fields::<T>(svc, bytes, Op::Update)?).await })
            .await?;
        st.service.kick_relay();
        written(StatusCode::OK, st.service.profile(), &caller, &item, &echo)
    }
    .await
    .into_response();
    answer
}

async fn delete<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    request: Option<Extension<RequestId>>,
    Path(id): Path<String>,
) -> Response {
    let request_id = request.map(|Extension(RequestId(id))| id).unwrap_or_default();
    let noting = noted::<T>(&st, &caller, &request_id, Action::Delete, || None, Some(&id));
    let (svc, who, target) = (&st.service, &noting, id.as_str());
    let answer = match retrying(move || T::delete(svc, who, target)).await {
        Ok(()) => {
            st.service.kick_relay();
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    };
    answer
}

/// The five routes of a collection.
fn resource<T: Collection>() -> Router<AppState> {
    Router::new()
        .route(T::PATH, get(list::<T>).post(create::<T>))
        .route(&format!("{}/{{id}}", T::PATH), get(show::<T>).put(update::<T>).delete(delete::<T>))
}

/// Every response gets an `x-openstack-request-id`; every request one log line without secrets.
async fn request_id(req: Request, next: Next) -> Response {
    identified(req, |req| next.run(req)).await
}

/// The gateway API's only layer: what `request_id` and `ops::count` do, in one boxed future
/// instead of three. Each waiting long poll holds its layers' futures for its whole wait, and
/// a fleet holds 10,000 of them (ADR 0026); `inventory_off` concerns no gateway path.
async fn gateway_layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    identified(req, |req| ops::counted(&st, req, next)).await
}

/// [`request_id`]'s work around `run`.
async fn identified<F, Fut>(req: Request, run: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let mut req = req;
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    // Every id is a UUID and every route is ASCII: a path that does not percent-decode to
    // UTF-8 names nothing, and is the 404 any unknown id gets (ADR 0006 rule 3).
    let mut resp = if percent_encoding::percent_decode_str(&path).decode_utf8().is_err() {
        Error::from(Fault::HttpNotFound).into_response()
    } else {
        run(req).await
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
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = resp.status().as_u16();
    // Gateway agents' heartbeats, polls and reports are most of the traffic and say nothing
    // an operator reads at INFO: their lines are at debug; what they change is logged where
    // it changes (joins, deaths, placements, statuses; ADR 0023).
    if path.starts_with("/v2.0/gateway/") {
        tracing::debug!(request.id = %id, http.method = %method, http.path = %path, http.status = status, elapsed_ms, "request");
    } else {
        tracing::info!(request.id = %id, http.method = %method, http.path = %path, http.status = status, elapsed_ms, "request");
    }
    resp
}

fn is_json(resp: &Response) -> bool {
    resp.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"))
}

async fn not_found() -> Error {
    Fault::HttpNotFound.into()
}

/// The whole API: the gateway API with its one layer, everything else with three.
pub fn router(state: AppState) -> Router {
    client_routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), audit::audited))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), topology::inventory_off))
        .layer(middleware::from_fn_with_state(state.clone(), ops::count))
        .layer(middleware::from_fn(request_id))
        .merge(gateway::routes().layer(middleware::from_fn_with_state(state.clone(), gateway_layer)))
        .with_state(state)
}

/// Every route, without the fallback and the layers (the API suite walks them against
/// `/openapi.json`, ADR 0020).
pub fn routes() -> Router<AppState> {
    client_routes().merge(gateway::routes())
}

/// Every public route outside the collections, each with its OpenAPI operation (ADR 0037).
fn documented() -> documented::Documented {
    discovery::routes()
        .merge(inventory::interface_routes())
        .merge(networks::routes())
        .merge(peer_config::routes())
        .merge(quotas::routes())
        .merge(policies::algorithm_routes())
        .merge(detail::routes())
        .merge(ops::routes())
        .merge(openapi::routes())
}

/// Every route but the gateway API's.
fn client_routes() -> Router<AppState> {
    Router::new()
        .merge(resource::<IkePolicy>())
        .merge(resource::<IpsecPolicy>())
        .merge(resource::<VpnService>())
        .merge(resource::<EndpointGroup>())
        .merge(resource::<SiteConnection>())
        .merge(resource::<vpnaas_core::resources::Certificate>())
        .merge(resource::<vpnaas_core::resources::Router>())
        .merge(resource::<Subnet>())
        .merge(documented().router())
}
