//! `/v2.0/vpn/ipsecpolicies`: attribute map, wire view and request parsing.

use serde_json::json;
use vpnaas_core::algorithms::*;
use vpnaas_core::resources::{Draft, IpsecPatch, IpsecPolicy, IpsecSpec};
use vpnaas_core::Fault;

use super::body::{rw, Attr, Attributes};
use super::view::View;
use super::{common, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;

fn patch(f: &mut Attributes) -> Result<IpsecPatch, Fault> {
    Ok(IpsecPatch {
        text: f.text_patch()?,
        transform_protocol: f.choice("transform_protocol", TransformProtocol::parse)?,
        auth_algorithm: f.choice("auth_algorithm", AuthAlgorithm::parse)?,
        encryption_algorithm: f.choice("encryption_algorithm", EncryptionAlgorithm::parse)?,
        encapsulation_mode: f.choice("encapsulation_mode", EncapsulationMode::parse)?,
        lifetime: f.lifetime("lifetime")?,
        pfs: f.choice("pfs", Pfs::parse)?,
    })
}

impl Collection for IpsecPolicy {
    const SINGULAR: &'static str = "ipsecpolicy";
    const PLURAL: &'static str = "ipsecpolicies";
    const PATH: &'static str = "/v2.0/vpn/ipsecpolicies";
    const ATTRS: &'static [Attr] = &[
        rw("transform_protocol"),
        rw("auth_algorithm"),
        rw("encryption_algorithm"),
        rw("encapsulation_mode"),
        rw("lifetime"),
        rw("pfs"),
    ];

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        let s = &self.spec;
        common(&self.meta, profile, v);
        v.field("transform_protocol", s.transform_protocol.as_str())
            .field("auth_algorithm", s.auth_algorithm.as_str())
            .field("encryption_algorithm", s.encryption_algorithm.as_str())
            .field("encapsulation_mode", s.encapsulation_mode.as_str())
            .field("lifetime", &json!({"units": s.lifetime.units.as_str(), "value": s.lifetime.value}))
            .field("pfs", s.pfs.as_str());
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let p = patch(&mut f)?;
        let mut spec = IpsecSpec::default();
        p.apply_spec(&mut spec);
        svc.create_ipsecpolicy(caller, Draft::new(owner, p.text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_ipsecpolicy(caller, id, patch(&mut f)?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_ipsecpolicy(caller, id).await
    }
}
