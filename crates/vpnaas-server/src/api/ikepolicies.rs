//! `/v2.0/vpn/ikepolicies`: attribute map, wire view and request parsing.

use serde_json::json;
use vpnaas_core::algorithms::*;
use vpnaas_core::resources::{Draft, IkePatch, IkePolicy, IkeSpec};
use vpnaas_core::Fault;

use super::body::{rw, Attr, Attributes};
use super::view::View;
use super::{common, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;

fn patch(f: &mut Attributes) -> Result<IkePatch, Fault> {
    Ok(IkePatch {
        text: f.text_patch()?,
        auth_algorithm: f.choice("auth_algorithm", AuthAlgorithm::parse)?,
        encryption_algorithm: f.choice("encryption_algorithm", EncryptionAlgorithm::parse)?,
        phase1_negotiation_mode: f.choice("phase1_negotiation_mode", Phase1Mode::parse)?,
        lifetime: f.lifetime("lifetime")?,
        ike_version: f.choice("ike_version", IkeVersion::parse)?,
        pfs: f.choice("pfs", Pfs::parse)?,
    })
}

impl Collection for IkePolicy {
    const SINGULAR: &'static str = "ikepolicy";
    const PLURAL: &'static str = "ikepolicies";
    const PATH: &'static str = "/v2.0/vpn/ikepolicies";
    const ATTRS: &'static [Attr] = &[
        rw("auth_algorithm"),
        rw("encryption_algorithm"),
        rw("phase1_negotiation_mode"),
        rw("lifetime"),
        rw("ike_version"),
        rw("pfs"),
    ];

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        let s = &self.spec;
        common(&self.meta, profile, v);
        v.field("auth_algorithm", s.auth_algorithm.as_str())
            .field("encryption_algorithm", s.encryption_algorithm.as_str())
            .field("phase1_negotiation_mode", s.phase1_negotiation_mode.as_str())
            .field("lifetime", &json!({"units": s.lifetime.units.as_str(), "value": s.lifetime.value}))
            .field("ike_version", s.ike_version.as_str())
            .field("pfs", s.pfs.as_str());
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let p = patch(&mut f)?;
        let mut spec = IkeSpec::default();
        p.apply_spec(&mut spec);
        svc.create_ikepolicy(caller, Draft::new(owner, p.text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_ikepolicy(caller, id, patch(&mut f)?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_ikepolicy(caller, id).await
    }
}
