//! `/v2.0/vpn/ipsecpolicies`: attribute map, wire view and handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use vpnaas_core::algorithms::*;
use vpnaas_core::resources::{Draft, IpsecPatch, IpsecPolicy, IpsecSpec};
use vpnaas_core::Fault;

use super::body::{self, rw, Fields, Op, COMMON};
use super::{common, list, no_content, one, show, AppState, RawBody, Resource};
use crate::auth::Caller;
use crate::error::Result;

const ATTRS: &[body::Attr] = &[
    rw("transform_protocol"),
    rw("auth_algorithm"),
    rw("encryption_algorithm"),
    rw("encapsulation_mode"),
    rw("lifetime"),
    rw("pfs"),
];

impl Resource for IpsecPolicy {
    const SINGULAR: &'static str = "ipsecpolicy";
    const PLURAL: &'static str = "ipsecpolicies";
    fn view(&self) -> Map<String, Value> {
        let s = &self.spec;
        let mut m = common(&self.meta);
        m.insert(
            "transform_protocol".into(),
            s.transform_protocol.as_str().into(),
        );
        m.insert("auth_algorithm".into(), s.auth_algorithm.as_str().into());
        m.insert(
            "encryption_algorithm".into(),
            s.encryption_algorithm.as_str().into(),
        );
        m.insert(
            "encapsulation_mode".into(),
            s.encapsulation_mode.as_str().into(),
        );
        m.insert(
            "lifetime".into(),
            json!({"units": s.lifetime.units.as_str(), "value": s.lifetime.value}),
        );
        m.insert("pfs".into(), s.pfs.as_str().into());
        m
    }
}

fn patch(bytes: &[u8], op: Op) -> Result<(Fields, IpsecPatch), Fault> {
    let mut f = body::parse(
        bytes,
        IpsecPolicy::SINGULAR,
        IpsecPolicy::PLURAL,
        &[&COMMON, ATTRS],
        op,
    )?;
    let p = IpsecPatch {
        text: f.text_patch()?,
        transform_protocol: f.choice("transform_protocol", TransformProtocol::parse)?,
        auth_algorithm: f.choice("auth_algorithm", AuthAlgorithm::parse)?,
        encryption_algorithm: f.choice("encryption_algorithm", EncryptionAlgorithm::parse)?,
        encapsulation_mode: f.choice("encapsulation_mode", EncapsulationMode::parse)?,
        lifetime: f.lifetime("lifetime")?,
        pfs: f.choice("pfs", Pfs::parse)?,
    };
    Ok((f, p))
}

async fn create(
    State(st): State<AppState>,
    caller: Caller,
    RawBody(b): RawBody,
) -> Result<Response> {
    let (mut f, p) = patch(&b, Op::Create)?;
    let owner = f.owner()?;
    let mut spec = IpsecSpec::default();
    p.apply_spec(&mut spec);
    let draft = Draft {
        owner,
        name: p.text.name.unwrap_or_default(),
        description: p.text.description.unwrap_or_default(),
        spec,
    };
    Ok(one(
        StatusCode::CREATED,
        &st.service.create_ipsecpolicy(&caller, draft).await?,
    ))
}

async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawBody(b): RawBody,
) -> Result<Response> {
    let (_, p) = patch(&b, Op::Update)?;
    Ok(one(
        StatusCode::OK,
        &st.service.update_ipsecpolicy(&caller, &id, p).await?,
    ))
}

async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    st.service.delete_ipsecpolicy(&caller, &id).await?;
    Ok(no_content())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ipsecpolicies", get(list::<IpsecPolicy>).post(create))
        .route(
            "/ipsecpolicies/{id}",
            get(show::<IpsecPolicy>).put(update).delete(delete),
        )
}
