//! `/v2.0/vpn/endpoint-groups`: attribute map, wire view and request parsing.

use vpnaas_core::algorithms::EndpointType;
use vpnaas_core::resources::{Draft, EndpointGroup};
use vpnaas_core::Fault;

use super::body::Attributes;
use super::view::View;
use super::{common, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;
use vpnaas_core::wire::{self, Attribute};

impl Collection for EndpointGroup {
    const SINGULAR: &'static str = "endpoint_group";
    const PLURAL: &'static str = "endpoint_groups";
    const PATH: &'static str = "/v2.0/vpn/endpoint-groups";
    const ATTRS: &'static [Attribute] = wire::ENDPOINT_GROUP;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        common(&self.meta, profile, v);
        v.fields(&self.spec).field(wire::ENDPOINTS, &self.spec.endpoints);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let endpoint_type = f.choice(wire::TYPE, EndpointType::parse)?.ok_or(Fault::RequiredMissing(wire::TYPE))?;
        let endpoints = f.list(wire::ENDPOINTS)?.unwrap_or_default();
        svc.create_endpoint_group(caller, Draft::new(owner, text, (endpoint_type, endpoints))).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_endpoint_group(caller, id, f.text_patch()?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_endpoint_group(caller, id).await
    }
}
