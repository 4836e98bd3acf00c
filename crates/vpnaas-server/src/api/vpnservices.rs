//! `/v2.0/vpn/vpnservices`: attribute map, wire view and handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{Map, Value};
use vpnaas_core::resources::{Draft, NewService, ServicePatch, VpnService};
use vpnaas_core::Fault;

use super::body::{self, post, req, ro, rw, Op, COMMON};
use super::{common, list, no_content, one, show, AppState, RawBody, Resource};
use crate::auth::Caller;
use crate::error::Result;

const ATTRS: &[body::Attr] = &[
    req("router_id"),
    post("subnet_id"),
    post("flavor_id"),
    rw("admin_state_up"),
    ro("status"),
    ro("external_v4_ip"),
    ro("external_v6_ip"),
];

fn opt<T: ToString>(v: &Option<T>) -> Value {
    v.as_ref()
        .map_or(Value::Null, |x| Value::String(x.to_string()))
}

impl Resource for VpnService {
    const SINGULAR: &'static str = "vpnservice";
    const PLURAL: &'static str = "vpnservices";
    fn view(&self) -> Map<String, Value> {
        let s = &self.spec;
        let mut m = common(&self.meta);
        m.insert("router_id".into(), s.router_id.to_string().into());
        m.insert("subnet_id".into(), opt(&s.subnet_id));
        m.insert("flavor_id".into(), Value::Null);
        m.insert("admin_state_up".into(), s.admin_state_up.into());
        m.insert("external_v4_ip".into(), opt(&s.external_v4_ip));
        m.insert("external_v6_ip".into(), opt(&s.external_v6_ip));
        m.insert("status".into(), s.status.as_str().into());
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
        VpnService::SINGULAR,
        VpnService::PLURAL,
        &[&COMMON, ATTRS],
        Op::Create,
    )?;
    let owner = f.owner()?;
    let text = f.text_patch()?;
    let router_id = f
        .uuid("router_id")?
        .ok_or(Fault::RequiredMissing("router_id"))?;
    let subnet_id = f.uuid_or_none("subnet_id")?.flatten();
    // There are no flavors here: only the default provider (reference §2.3, flavor errors).
    if f.uuid_or_none("flavor_id")?.flatten().is_some() {
        return Err(Fault::FlavorsPluginNotLoaded.into());
    }
    let admin_state_up = f.boolean("admin_state_up")?.unwrap_or(true);
    let draft = Draft {
        owner,
        name: text.name.unwrap_or_default(),
        description: text.description.unwrap_or_default(),
        spec: NewService {
            router_id,
            subnet_id,
            admin_state_up,
        },
    };
    Ok(one(
        StatusCode::CREATED,
        &st.service.create_vpnservice(&caller, draft).await?,
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
        VpnService::SINGULAR,
        VpnService::PLURAL,
        &[&COMMON, ATTRS],
        Op::Update,
    )?;
    let patch = ServicePatch {
        text: f.text_patch()?,
        admin_state_up: f.boolean("admin_state_up")?,
    };
    Ok(one(
        StatusCode::OK,
        &st.service.update_vpnservice(&caller, &id, patch).await?,
    ))
}

async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    st.service.delete_vpnservice(&caller, &id).await?;
    Ok(no_content())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/vpnservices", get(list::<VpnService>).post(create))
        .route(
            "/vpnservices/{id}",
            get(show::<VpnService>).put(update).delete(delete),
        )
}
