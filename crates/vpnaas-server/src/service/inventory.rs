//! The router and subnet inventory (ADR 0001 D5): admins shape it (policy rules `create_router`, ...); VPN objects that use it pin it (409).

use uuid::Uuid;
use vpnaas_core::resources::{Draft, Router, RouterPatch, RouterSpec, Subnet, SubnetSpec, TextPatch};
use vpnaas_core::Fault;

use super::{fetch_for_change, referrers, stored, Resource, Service};
use crate::auth::{Caller, Reach};
use crate::clock::now_micros;
use crate::error::Result;
use crate::store;
use crate::store::uses::Reference;

/// The answer to `add_router_interface` / `remove_router_interface`.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterInterface {
    pub router: Router,
    /// The subnet as it is after the change.
    pub subnet: Subnet,
}

impl Service {
    pub async fn create_router(&self, caller: &Caller, draft: Draft<RouterSpec>) -> Result<Router> {
        let item: Router = stored(caller, draft)?;
        let mut w = self.store.begin_write().await?;
        store::insert(w.conn(), &item).await?;
        // A router placed at once joins its host's agent.
        let hosts: Vec<String> = item.spec.host.iter().cloned().collect();
        let routers = if hosts.is_empty() { Vec::new() } else { vec![item.meta.id] };
        self.commit_marking(w, &routers, &hosts).await?;
        if let Some(to) = &item.spec.host {
            tracing::info!(router.id = %item.meta.id, from = "none", to, "router placement changed: none -> {to}");
        }
        Ok(item)
    }

    /// A router whose gateway a VPN service uses keeps that gateway (ADR 0009 §2.3, RouterInUse).
    pub async fn update_router(&self, caller: &Caller, id: &str, patch: RouterPatch) -> Result<Router> {
        let mut w = self.store.begin_write().await?;
        let mut item: Router = fetch_for_change(&mut w, caller, id, Router::RULES.update).await?;
        if let Some(gateway) = &patch.gateway {
            if *gateway != item.spec.gateway {
                let services = referrers(w.conn(), Reference::ServiceRouter, item.meta.id).await?;
                if !services.is_empty() {
                    return Err(Fault::RouterInUse {
                        router: item.meta.id.to_string(),
                        reason: format!("is currently used by VPN service(s) {}", services.join(", ")),
                    }
                    .into());
                }
                item.spec.gateway.clone_from(gateway);
            }
        }
        patch.text.apply(&mut item.meta);
        if let Some(up) = patch.admin_state_up {
            item.spec.admin_state_up = up;
        }
        // A new placement: the router's gateway moves, and both hosts' agents must know.
        let mut hosts = Vec::new();
        let mut moved = None;
        if let Some(host) = &patch.host {
            if *host != item.spec.host {
                hosts.extend(item.spec.host.iter().chain(host.iter()).cloned());
                moved = Some((item.spec.host.clone(), host.clone()));
                item.spec.host.clone_from(host);
            }
        }
        item.meta.touch(now_micros());
        store::update(w.conn(), &item).await?;
        let routers = if hosts.is_empty() { Vec::new() } else { vec![item.meta.id] };
        self.commit_marking(w, &routers, &hosts).await?;
        // One line per placement change: the gateway fleet's log at INFO (ADR 0023).
        if let Some((from, to)) = moved {
            let (from, to) = (from.as_deref().unwrap_or("none"), to.as_deref().unwrap_or("none"));
            tracing::info!(router.id = %item.meta.id, from, to, "router placement changed: {from} -> {to}");
        }
        Ok(item)
    }

    pub async fn delete_router(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        let item: Router = fetch_for_change(&mut w, caller, id, Router::RULES.delete).await?;
        let router = item.meta.id.to_string();
        let services = referrers(w.conn(), Reference::ServiceRouter, item.meta.id).await?;
        if !services.is_empty() {
            let reason = format!("is currently used by VPN service(s) {}", services.join(", "));
            return Err(Fault::RouterInUse { router, reason }.into());
        }
        if !referrers(w.conn(), Reference::SubnetRouter, item.meta.id).await?.is_empty() {
            return Err(Fault::RouterInUse { router, reason: "still has ports".to_owned() }.into());
        }
        store::delete::<Router>(w.conn(), item.meta.id).await?;
        let hosts: Vec<String> = item.spec.host.iter().cloned().collect();
        self.commit_marking(w, &[item.meta.id], &hosts).await?;
        Ok(())
    }

    pub async fn add_router_interface(&self, caller: &Caller, id: &str, subnet_id: Uuid) -> Result<RouterInterface> {
        let mut w = self.store.begin_write().await?;
        let router: Router = fetch_for_change(&mut w, caller, id, "add_router_interface").await?;
        let mut subnet: Subnet = super::lock(&mut w, caller, &subnet_id.to_string()).await?;
        if let Some(attached) = subnet.spec.router_id {
            return Err(
                Fault::SubnetAlreadyAttached { subnet: subnet_id.to_string(), router: attached.to_string() }.into()
            );
        }
        subnet.spec.router_id = Some(router.meta.id);
        subnet.meta.touch(now_micros());
        store::update(w.conn(), &subnet).await?;
        w.commit().await?;
        Ok(RouterInterface { router, subnet })
    }

    /// ADR 0009 §2.3 guards: a subnet a VPN service or a connection's local group uses stays attached.
    pub async fn remove_router_interface(&self, caller: &Caller, id: &str, subnet_id: Uuid) -> Result<RouterInterface> {
        let mut w = self.store.begin_write().await?;
        let router: Router = fetch_for_change(&mut w, caller, id, "remove_router_interface").await?;
        let subnet = store::get::<Subnet>(w.conn(), subnet_id).await?;
        let Some(mut subnet) = subnet.filter(|s| s.spec.router_id == Some(router.meta.id)) else {
            return Err(Fault::RouterInterfaceNotFoundForSubnet {
                router: router.meta.id.to_string(),
                subnet: subnet_id.to_string(),
            }
            .into());
        };
        let services = store::uses::services_on_router_subnet(w.conn(), router.meta.id, subnet_id).await?;
        if let Some(service) = services.into_iter().next() {
            return Err(Fault::SubnetInUseByVpnService { subnet: subnet_id.to_string(), vpnservice: service }.into());
        }
        let connections = store::uses::connections_with_local_subnet(w.conn(), router.meta.id, subnet_id).await?;
        if let Some(connection) = connections.into_iter().next() {
            return Err(Fault::SubnetInUseBySiteConnection { subnet: subnet_id.to_string(), connection }.into());
        }
        subnet.spec.router_id = None;
        subnet.meta.touch(now_micros());
        store::update(w.conn(), &subnet).await?;
        w.commit().await?;
        Ok(RouterInterface { router, subnet })
    }

    /// The subnets attached to routers that the caller may see: each is a router interface
    /// port in Neutron's model (`GET /v2.0/ports`), optionally of one router only.
    pub async fn router_interfaces(&self, caller: &Caller, router: Option<&str>) -> Result<Vec<Subnet>> {
        let project = match caller.reach(Router::RULES.get) {
            Reach::All => None,
            Reach::Own => Some(caller.project_id()),
            Reach::None => return Ok(Vec::new()),
        };
        let mut tx = self.store.begin_read().await?;
        let subnets = store::uses::attached_subnets(&mut tx, router, project).await?;
        tx.commit().await?;
        Ok(subnets)
    }

    pub async fn create_subnet(&self, caller: &Caller, draft: Draft<SubnetSpec>) -> Result<Subnet> {
        self.insert(caller, stored(caller, draft)?).await
    }

    pub async fn update_subnet(&self, caller: &Caller, id: &str, patch: TextPatch) -> Result<Subnet> {
        self.update_texts(caller, id, patch).await
    }

    pub async fn delete_subnet(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        let item: Subnet = fetch_for_change(&mut w, caller, id, Subnet::RULES.delete).await?;
        let subnet = item.meta.id.to_string();
        if let Some(router) = item.spec.router_id {
            let reason = format!("it is attached to router {router}; remove the router interface first");
            return Err(Fault::SubnetInUse { subnet, reason }.into());
        }
        if let Some(service) = referrers(w.conn(), Reference::ServiceSubnet, item.meta.id).await?.into_iter().next() {
            return Err(Fault::SubnetInUseByVpnService { subnet, vpnservice: service }.into());
        }
        let groups = store::uses::groups_with_subnet(w.conn(), item.meta.id).await?;
        if let Some(group) = groups.into_iter().next() {
            return Err(Fault::SubnetInUseByEndpointGroup { subnet, group }.into());
        }
        store::delete::<Subnet>(w.conn(), item.meta.id).await?;
        w.commit().await?;
        Ok(())
    }
}
