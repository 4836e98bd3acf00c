//! `/v2.0/vpn/vpnservices`: attribute map, wire view and request parsing.

use vpnaas_core::resources::{Draft, NewService, ServicePatch, VpnService};
use vpnaas_core::Fault;

use super::body::Attributes;
use super::view::View;
use super::{common, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;
use vpnaas_core::wire::{self, Attribute};

impl Collection for VpnService {
    const SINGULAR: &'static str = "vpnservice";
    const PLURAL: &'static str = "vpnservices";
    const PATH: &'static str = "/v2.0/vpn/vpnservices";
    const ATTRS: &'static [Attribute] = wire::VPNSERVICE;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        common(&self.meta, profile, v);
        v.fields(&self.spec).field(wire::FLAVOR_ID, &());
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let router_id = f.uuid(wire::ROUTER_ID)?.ok_or(Fault::RequiredMissing(wire::ROUTER_ID))?;
        let subnet_id = f.uuid_or_none(wire::SUBNET_ID)?.flatten();
        // There are no flavors here, only the default provider (ADR 0009 §2.3, flavor errors).
        if f.uuid_or_none(wire::FLAVOR_ID)?.flatten().is_some() {
            return Err(Fault::FlavorsPluginNotLoaded.into());
        }
        let admin_state_up = f.boolean(wire::ADMIN_STATE_UP)?.unwrap_or(true);
        let spec = NewService { router_id, subnet_id, admin_state_up };
        svc.create_vpnservice(caller, Draft::new(owner, text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        let patch = ServicePatch { text: f.text_patch()?, admin_state_up: f.boolean(wire::ADMIN_STATE_UP)? };
        svc.update_vpnservice(caller, id, patch).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_vpnservice(caller, id).await
    }
}
