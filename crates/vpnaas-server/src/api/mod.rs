//! The HTTP API: routes, extractors, the generic list and show handlers, discovery and the fallbacks, all answering in Neutron's wire format.

pub mod body;
mod connections;
mod discovery;
mod endpoint_groups;
mod gateway;
mod ikepolicies;
mod inventory;
mod ipsecpolicies;
mod ops;
pub mod query;
mod view;
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
use axum::Router;
use vpnaas_core::resources::{EndpointGroup, IkePolicy, IpsecPolicy, Meta, SiteConnection, Subnet, VpnService};
use vpnaas_core::Fault;

use self::body::{Attr, Attributes, Op, Overrides, COMMON};
use self::view::{Keep, View};
use crate::auth::Caller;
use crate::clock::{rfc3339, space_micros};
use crate::config::Config;
use crate::error::{Error, Result};
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
    /// Readiness and metrics (ADR 0015).
    pub ops: Arc<crate::ops::Ops>,
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

/// The attributes every resource shows: both owner names (ADR 0009 §1.3) and ADR 0001 D6.
pub fn common(meta: &Meta, profile: &Profile, v: &mut View<'_>) {
    v.text("id", meta.id)
        .field("name", &meta.name)
        .field("description", &meta.description)
        .field("tenant_id", &meta.project_id)
        .field("project_id", &meta.project_id)
        .field("created_at", &wire_time(profile, meta.created_at))
        .field("updated_at", &wire_time(profile, meta.updated_at))
        .field("revision_number", &meta.revision_number);
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
    let mut v = View::open(out, Keep { hidden: T::hidden(profile), fields });
    item.view(profile, &mut v);
    if caller.is_admin {
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

impl<S: Send + Sync, const LIMIT: usize> FromRequest<S> for Body<LIMIT> {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), LIMIT).await.map_err(|_| Fault::RequestTooLarge)?;
        Ok(Body(bytes))
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
    let profile = st.service.profile();
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
    let item: T = st.service.show(&caller, &id).await?;
    let fields = query::Selection::from_pairs(&query::pairs(raw.as_deref()));
    one(StatusCode::OK, st.service.profile(), &caller, &item, &fields.0)
}

fn fields<T: Collection>(svc: &Service, bytes: &[u8], op: Op) -> Result<Attributes, Fault> {
    body::parse_body(bytes, T::SINGULAR, T::PLURAL, &[&COMMON, T::ATTRS], T::overrides(svc.profile()), op)
}

async fn create<T: Collection>(State(st): State<AppState>, caller: Caller, Body(b): RawBody) -> Result<Response> {
    let item = T::create(&st.service, &caller, fields::<T>(&st.service, &b, Op::Create)?).await?;
    one(StatusCode::CREATED, st.service.profile(), &caller, &item, &[])
}

async fn update<T: Collection>(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(b): RawBody,
) -> Result<Response> {
    let item = T::update(&st.service, &caller, &id, fields::<T>(&st.service, &b, Op::Update)?).await?;
    one(StatusCode::OK, st.service.profile(), &caller, &item, &[])
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
    let mut resp = next.run(req).await;
    // A route that exists with another method: axum's bare 405 becomes the envelope.
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED && !resp.headers().contains_key("content-type") {
        let allow = resp.headers().get("allow").cloned();
        resp = Error::from(Fault::MethodNotAllowed).into_response();
        if let Some(allow) = allow {
            resp.headers_mut().insert("allow", allow);
        }
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
        .merge(ops::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), ops::count))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}
