//! `/v2.0/vpn/ikepolicies` and `/v2.0/vpn/ipsecpolicies`: both read their attributes from the
//! policy's descriptor ([`Choices::CHOICES`], ADR 0036), so neither names one.

use serde_json::json;
use vpnaas_core::descriptor::{Choice, Choices};
use vpnaas_core::resources::{Draft, IkePolicy, IkeSpec, IpsecPolicy, IpsecSpec, PolicySpec, Stored};
use vpnaas_core::Fault;

use super::body::{rw, Attr, Attributes};
use super::view::View;
use super::{common, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;

/// The attribute map: every choice, then `lifetime`; all writable on create and update.
const fn attrs<S: 'static, P: 'static, const N: usize>(choices: &[Choice<S, P>]) -> [Attr; N] {
    let mut all = [rw("lifetime"); N];
    let mut i = 0;
    while i + 1 < N {
        all[i] = rw(choices[i].name);
        i += 1;
    }
    all
}

/// An update (or a create's attributes over the defaults) from the request.
fn patch<S: PolicySpec>(f: &mut Attributes) -> Result<S::Patch, Fault> {
    let mut p = S::update(f.text_patch()?, f.lifetime("lifetime")?);
    for choice in S::CHOICES {
        if let Some(word) = f.word(choice.name) {
            (choice.patch)(&mut p, &word)?;
        }
    }
    Ok(p)
}

fn view<S: PolicySpec>(policy: &Stored<S>, profile: &Profile, v: &mut View<'_>) {
    let s = &policy.spec;
    common(&policy.meta, profile, v);
    for choice in S::CHOICES {
        v.field(choice.name, (choice.get)(s));
    }
    let lifetime = s.lifetime();
    v.field("lifetime", &json!({"units": lifetime.units.as_str(), "value": lifetime.value}));
}

impl Collection for IkePolicy {
    const SINGULAR: &'static str = "ikepolicy";
    const PLURAL: &'static str = "ikepolicies";
    const PATH: &'static str = "/v2.0/vpn/ikepolicies";
    const ATTRS: &'static [Attr] = &attrs::<_, _, { IkeSpec::CHOICES.len() + 1 }>(IkeSpec::CHOICES);

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        view(self, profile, v);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let p = patch::<IkeSpec>(&mut f)?;
        let mut spec = IkeSpec::default();
        p.apply_spec(&mut spec);
        svc.create_ikepolicy(caller, Draft::new(owner, p.text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_ikepolicy(caller, id, patch::<IkeSpec>(&mut f)?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_ikepolicy(caller, id).await
    }
}

impl Collection for IpsecPolicy {
    const SINGULAR: &'static str = "ipsecpolicy";
    const PLURAL: &'static str = "ipsecpolicies";
    const PATH: &'static str = "/v2.0/vpn/ipsecpolicies";
    const ATTRS: &'static [Attr] = &attrs::<_, _, { IpsecSpec::CHOICES.len() + 1 }>(IpsecSpec::CHOICES);

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        view(self, profile, v);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let p = patch::<IpsecSpec>(&mut f)?;
        let mut spec = IpsecSpec::default();
        p.apply_spec(&mut spec);
        svc.create_ipsecpolicy(caller, Draft::new(owner, p.text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_ipsecpolicy(caller, id, patch::<IpsecSpec>(&mut f)?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_ipsecpolicy(caller, id).await
    }
}
