//! `/v2.0/vpn/vpnservices`: attribute map, wire view and request parsing.

use vpnaas_core::resources::{Draft, NewService, ServicePatch, VpnService};
use vpnaas_core::Fault;

use super::body::{post, req, ro, rw, Attr, Attributes};
use super::view::View;
use super::{common, Collection};
use crate::auth::Caller;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;

impl Collection for VpnService {
    const SINGULAR: &'static str = "vpnservice";
    const PLURAL: &'static str = "vpnservices";
    const PATH: &'static str = "/v2.0/vpn/vpnservices";
    const ATTRS: &'static [Attr] = &[
        req("router_id"),
        post("subnet_id"),
        post("flavor_id"),
        rw("admin_state_up"),
        ro("status"),
        ro("external_v4_ip"),
        ro("external_v6_ip"),
    ];

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        let s = &self.spec;
        common(&self.meta, profile, v);
        v.text("router_id", s.router_id)
            .opt_text("subnet_id", s.subnet_id.as_ref())
            .field("flavor_id", &())
            .field("admin_state_up", &s.admin_state_up)
            .opt_text("external_v4_ip", s.external_v4_ip.as_ref())
            .opt_text("external_v6_ip", s.external_v6_ip.as_ref())
            .field("status", s.status.as_str());
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let router_id = f.uuid("router_id")?.ok_or(Fault::RequiredMissing("router_id"))?;
        let subnet_id = f.uuid_or_none("subnet_id")?.flatten();
        // There are no flavors here, only the default provider (ADR 0009 §2.3, flavor errors).
        if f.uuid_or_none("flavor_id")?.flatten().is_some() {
            return Err(Fault::FlavorsPluginNotLoaded.into());
        }
        let admin_state_up = f.boolean("admin_state_up")?.unwrap_or(true);
        let spec = NewService { router_id, subnet_id, admin_state_up };
        svc.create_vpnservice(caller, Draft::new(owner, text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        let patch = ServicePatch { text: f.text_patch()?, admin_state_up: f.boolean("admin_state_up")? };
        svc.update_vpnservice(caller, id, patch).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_vpnservice(caller, id).await
    }
}
