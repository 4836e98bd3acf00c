//! VPN services (checked against the router inventory) and endpoint groups (checked against subnets).

use vpnaas_core::algorithms::{EndpointType, Status};
use vpnaas_core::resources::{
    Draft, EndpointGroup, GroupSpec, NewService, Router, ServicePatch, ServiceSpec, Stored, Subnet, TextPatch,
    VpnService,
};
use vpnaas_core::rules;
use vpnaas_core::Fault;

use super::{fetch_for_change, find, lock, new_meta, owner, Resource, Service};
use crate::auth::Caller;
use crate::clock::now_micros;
use crate::error::Result;
use crate::store;
use crate::store::uses::Reference;

impl Service {
    /// Reference `validate_vpnservice`: the router exists and has a gateway; a legacy-mode
    /// subnet is attached to it. The gateway's addresses are copied as the driver does.
    pub async fn create_vpnservice(&self, caller: &Caller, draft: Draft<NewService>) -> Result<VpnService> {
        let project = owner::<VpnService>(caller, &draft.owner)?;
        let new = draft.spec;
        self.refresh_router(new.router_id).await?;
        // Deleted in Neutron, its mirror kept for the services it had: Neutron's 404, as the
        // reference answers for a router that does not exist.
        if self.topology().gone(new.router_id) {
            return Err(Fault::RouterNotFound(new.router_id.to_string()).into());
        }
        let mut w = self.store.begin_write().await?;
        // Locked: the router's gateway cannot change while a service is created on it.
        let router: Router = lock(&mut w, caller, &new.router_id.to_string()).await?;
        let Some(gateway) = router.spec.gateway else {
            return Err(Fault::RouterIsNotExternal(router.meta.id.to_string()).into());
        };
        if let Some(subnet_id) = new.subnet_id {
            let attached = find::<Subnet>(w.conn(), caller, subnet_id)
                .await?
                .is_some_and(|s| s.spec.router_id == Some(router.meta.id));
            if !attached {
                return Err(Fault::SubnetIsNotConnectedToRouter {
                    subnet: subnet_id.to_string(),
                    router: router.meta.id.to_string(),
                }
                .into());
            }
        }
        let item = Stored {
            meta: new_meta(project, draft.name, draft.description),
            spec: ServiceSpec {
                router_id: router.meta.id,
                subnet_id: new.subnet_id,
                admin_state_up: new.admin_state_up,
                external_v4_ip: gateway.v4,
                external_v6_ip: gateway.v6,
                status: Status::PendingCreate,
            },
        };
        self.charge::<VpnService>(&mut w, &item.meta.project_id).await?;
        store::insert(w.conn(), &item).await?;
        self.note(&mut w, caller, &item).await?;
        w.commit().await?;
        Ok(item)
    }

    /// ADR 0001 D4: accepted in any status.
    pub async fn update_vpnservice(&self, caller: &Caller, id: &str, patch: ServicePatch) -> Result<VpnService> {
        let mut w = self.store.begin_write().await?;
        let mut item: VpnService = fetch_for_change(&mut w, caller, id, VpnService::RULES.update).await?;
        patch.apply(&mut item);
        item.meta.touch(now_micros());
        store::update(w.conn(), &item).await?;
        self.note(&mut w, caller, &item).await?;
        // Its admin state decides whether its connections run.
        self.commit_marking(w, &[item.spec.router_id], &[]).await?;
        Ok(item)
    }

    pub async fn delete_vpnservice(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_unreferenced::<VpnService>(caller, id, &[Reference::ConnectionService], Fault::VpnServiceInUse)
            .await
    }

    /// Reference `validate_endpoint_group`, plus one IP version per group (which the
    /// reference checks only when a connection uses the group).
    pub async fn create_endpoint_group(
        &self,
        caller: &Caller,
        draft: Draft<(EndpointType, Vec<String>)>,
    ) -> Result<EndpointGroup> {
        let project = owner::<EndpointGroup>(caller, &draft.owner)?;
        let (endpoint_type, raw) = draft.spec;
        let endpoints = rules::parse_endpoints(endpoint_type, &raw)?;
        let meta = new_meta(project, draft.name, draft.description);
        if endpoint_type == EndpointType::Subnet {
            self.refresh_subnets(&endpoints).await?;
        }
        let mut w = self.store.begin_write().await?;
        if endpoint_type == EndpointType::Subnet {
            let mut versions = Vec::with_capacity(endpoints.len());
            for endpoint in &endpoints {
                let id = uuid::Uuid::parse_str(endpoint)
                    .map_err(|_| Fault::NonExistingSubnetInEndpointGroup(endpoint.clone()))?;
                let Some(subnet) = find::<Subnet>(w.conn(), caller, id).await? else {
                    return Err(Fault::NonExistingSubnetInEndpointGroup(endpoint.clone()).into());
                };
                versions.push(subnet.spec.cidr.version());
            }
            rules::check_one_version(&meta.id.to_string(), versions.into_iter())?;
        }
        let item = Stored { meta, spec: GroupSpec { endpoint_type, endpoints } };
        self.charge::<EndpointGroup>(&mut w, &item.meta.project_id).await?;
        store::insert(w.conn(), &item).await?;
        self.note(&mut w, caller, &item).await?;
        w.commit().await?;
        Ok(item)
    }

    pub async fn update_endpoint_group(&self, caller: &Caller, id: &str, patch: TextPatch) -> Result<EndpointGroup> {
        self.update_texts(caller, id, patch).await
    }

    /// ADR 0001 D2: an endpoint group in use is a 409, like every other in-use error.
    pub async fn delete_endpoint_group(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_unreferenced::<EndpointGroup>(
            caller,
            id,
            &[Reference::ConnectionLocalGroup, Reference::ConnectionPeerGroup],
            Fault::EndpointGroupInUse,
        )
        .await
    }
}
