//! `/v2.0/vpn/ikepolicies`: attribute map, wire view and handlers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Map, Value};
use vpnaas_core::algorithms::*;
use vpnaas_core::resources::{Draft, IkePatch, IkePolicy, IkeSpec};
use vpnaas_core::Fault;

use super::body::{self, rw, Fields, Op, COMMON};
use super::{common, list, no_content, one, show, AppState, RawBody, Resource};
use crate::auth::Caller;
use crate::error::Result;

const ATTRS: &[body::Attr] = &[
    rw("auth_algorithm"),
    rw("encryption_algorithm"),
    rw("phase1_negotiation_mode"),
    rw("lifetime"),
    rw("ike_version"),
    rw("pfs"),
];

impl Resource for IkePolicy {
    const SINGULAR: &'static str = "ikepolicy";
    const PLURAL: &'static str = "ikepolicies";
    fn view(&self) -> Map<String, Value> {
        let s = &self.spec;
        let mut m = common(&self.meta);
        m.insert("auth_algorithm".into(), s.auth_algorithm.as_str().into());
        m.insert(
            "encryption_algorithm".into(),
            s.encryption_algorithm.as_str().into(),
        );
        m.insert(
            "phase1_negotiation_mode".into(),
            s.phase1_negotiation_mode.as_str().into(),
        );
        m.insert(
            "lifetime".into(),
            json!({"units": s.lifetime.units.as_str(), "value": s.lifetime.value}),
        );
        m.insert("ike_version".into(), s.ike_version.as_str().into());
        m.insert("pfs".into(), s.pfs.as_str().into());
        m
    }
}

fn patch(bytes: &[u8], op: Op) -> Result<(Fields, IkePatch), Fault> {
    let mut f = body::parse(
        bytes,
        IkePolicy::SINGULAR,
        IkePolicy::PLURAL,
        &[&COMMON, ATTRS],
        op,
    )?;
    let p = IkePatch {
        text: f.text_patch()?,
        auth_algorithm: f.choice("auth_algorithm", AuthAlgorithm::parse)?,
        encryption_algorithm: f.choice("encryption_algorithm", EncryptionAlgorithm::parse)?,
        phase1_negotiation_mode: f.choice("phase1_negotiation_mode", Phase1Mode::parse)?,
        lifetime: f.lifetime("lifetime")?,
        ike_version: f.choice("ike_version", IkeVersion::parse)?,
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
    let mut spec = IkeSpec::default();
    p.apply_spec(&mut spec);
    let draft = Draft {
        owner,
        name: p.text.name.unwrap_or_default(),
        description: p.text.description.unwrap_or_default(),
        spec,
    };
    Ok(one(
        StatusCode::CREATED,
        &st.service.create_ikepolicy(&caller, draft).await?,
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
        &st.service.update_ikepolicy(&caller, &id, p).await?,
    ))
}

async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response> {
    st.service.delete_ikepolicy(&caller, &id).await?;
    Ok(no_content())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ikepolicies", get(list::<IkePolicy>).post(create))
        .route(
            "/ikepolicies/{id}",
            get(show::<IkePolicy>).put(update).delete(delete),
        )
}
