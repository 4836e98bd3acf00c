//! Where routers and subnets come from (ADR 0022): the seam between the rules that read
//! them and their source. `Standalone` is the local inventory (`inventory.rs`, unchanged):
//! nothing to do. `NeutronTopology` mirrors what Neutron says into the same rows before a
//! rule reads them (each answer reused for at most `neutron_cache_secs`), and re-checks the
//! mirrored routers on an interval, marking what a deleted router or a removed interface
//! leaves behind ERROR, since vpnaas cannot veto Neutron.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;
use vpnaas_core::resources::{Meta, Router, RouterSpec, Stored, Subnet, SubnetSpec};

use super::Service;
use crate::clock::now_micros;
use crate::error::{Error, Result};
use crate::neutron::{Interface, Neutron, NeutronError, NeutronRouter, NeutronSubnet};
use crate::store;
use crate::store::uses::Reference;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The source of routers and subnets.
pub trait Topology: Send + Sync {
    /// Whether the local inventory API (`/v2.0/routers`, `/v2.0/subnets`, ...) is served.
    fn serves_inventory(&self) -> bool;
    /// Brings `router` (its gateway, placement and interfaces) up to date before a rule reads it.
    fn router<'a>(&'a self, svc: &'a Service, id: Uuid) -> BoxFuture<'a, Result<()>>;
    /// Brings `subnets` (and the routers they are attached to) up to date.
    fn subnets<'a>(&'a self, svc: &'a Service, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>>;
    /// Re-checks everything mirrored; returns how many routers were looked at.
    fn recheck<'a>(&'a self, svc: &'a Service) -> BoxFuture<'a, Result<usize>>;
    /// The source's own extensions, to list beside vpnaas's (`None`: there is no other source).
    fn extensions(&self) -> BoxFuture<'_, Result<Option<Vec<Value>>>>;
    /// How often [`Topology::recheck`] should run (`None`: never).
    fn recheck_every(&self) -> Option<Duration>;
    /// Whether the source said, when last asked, that `router` is gone: its mirror may stay for
    /// the services that used it, but it is not a router to build on.
    fn gone(&self, _router: Uuid) -> bool {
        false
    }
}

/// The local inventory: what the rules read is already there.
pub struct Standalone;

impl Topology for Standalone {
    fn serves_inventory(&self) -> bool {
        true
    }
    fn router<'a>(&'a self, _: &'a Service, _: Uuid) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn subnets<'a>(&'a self, _: &'a Service, _: &'a [Uuid]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn recheck<'a>(&'a self, _: &'a Service) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async { Ok(0) })
    }
    fn extensions(&self) -> BoxFuture<'_, Result<Option<Vec<Value>>>> {
        Box::pin(async { Ok(None) })
    }
    fn recheck_every(&self) -> Option<Duration> {
        None
    }
}

/// What was mirrored when.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Router(Uuid),
    Subnet(Uuid),
}

/// The cloud's Neutron as the source.
pub struct NeutronTopology {
    neutron: Arc<Neutron>,
    fresh_for: Duration,
    mirrored: Mutex<HashMap<Key, Instant>>,
    /// Routers Neutron answered it does not have, when last asked.
    gone: Mutex<std::collections::HashSet<Uuid>>,
}

/// Ids per Neutron call (`?id=...&id=...` stays well under URL limits).
const CHUNK: usize = 50;

fn unavailable(e: NeutronError) -> Error {
    Error::NeutronUnavailable(e.0)
}

impl NeutronTopology {
    pub fn new(neutron: Arc<Neutron>, fresh_for: Duration) -> NeutronTopology {
        NeutronTopology { neutron, fresh_for, mirrored: Mutex::new(HashMap::new()), gone: Mutex::default() }
    }

    fn is_fresh(&self, key: Key) -> bool {
        let seen = self.mirrored.lock().map(|m| m.get(&key).copied()).unwrap_or(None);
        seen.is_some_and(|at| at.elapsed() < self.fresh_for)
    }

    fn seen(&self, keys: impl IntoIterator<Item = Key>) {
        if let Ok(mut m) = self.mirrored.lock() {
            let now = Instant::now();
            for key in keys {
                m.insert(key, now);
            }
        }
    }

    /// Mirrors `routers` as Neutron has them (with their interfaces and those subnets), and
    /// forgets those of `asked` that Neutron does not have.
    async fn sync_routers(&self, svc: &Service, asked: &[Uuid]) -> Result<()> {
        let found = self.neutron.routers(asked).await.map_err(unavailable)?;
        let ids: Vec<Uuid> = found.iter().map(|r| r.id).collect();
        let interfaces = self.neutron.interfaces_of_routers(&ids).await.map_err(unavailable)?;
        let subnet_ids: Vec<Uuid> =
            interfaces.iter().flat_map(|i| i.subnet_ids.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
        let mut subnets = Vec::new();
        for chunk in subnet_ids.chunks(CHUNK) {
            subnets.extend(self.neutron.subnets(chunk).await.map_err(unavailable)?);
        }
        for router in found {
            let host = self.neutron.l3_host(router.id).await.map_err(unavailable)?;
            let mine: Vec<&NeutronSubnet> = subnets
                .iter()
                .filter(|s| interfaces.iter().any(|i| i.router_id == router.id && i.subnet_ids.contains(&s.id)))
                .collect();
            let keys: Vec<Key> =
                std::iter::once(Key::Router(router.id)).chain(mine.iter().map(|s| Key::Subnet(s.id))).collect();
            svc.mirror_router(router, host, &mine).await?;
            self.seen(keys);
        }
        if let Ok(mut known_gone) = self.gone.lock() {
            for id in asked {
                match ids.contains(id) {
                    true => known_gone.remove(id),
                    false => known_gone.insert(*id),
                };
            }
        }
        for gone in asked.iter().filter(|id| !ids.contains(id)) {
            svc.forget_router(*gone).await?;
            self.seen([Key::Router(*gone)]);
        }
        Ok(())
    }
}

impl Topology for NeutronTopology {
    fn serves_inventory(&self) -> bool {
        false
    }

    fn gone(&self, router: Uuid) -> bool {
        self.gone.lock().is_ok_and(|g| g.contains(&router))
    }

    fn router<'a>(&'a self, svc: &'a Service, id: Uuid) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if self.is_fresh(Key::Router(id)) {
                return Ok(());
            }
            self.sync_routers(svc, &[id]).await
        })
    }

    fn subnets<'a>(&'a self, svc: &'a Service, ids: &'a [Uuid]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let stale: Vec<Uuid> = ids.iter().copied().filter(|id| !self.is_fresh(Key::Subnet(*id))).collect();
            if stale.is_empty() {
                return Ok(());
            }
            let found = self.neutron.subnets(&stale).await.map_err(unavailable)?;
            let absent: Vec<Uuid> = stale.iter().copied().filter(|id| !found.iter().any(|s| s.id == *id)).collect();
            for subnet in found {
                let on: Vec<Interface> = self.neutron.interfaces_on_subnet(subnet.id).await.map_err(unavailable)?;
                let router = on.first().map(|i| i.router_id);
                if let Some(router) = router {
                    // The subnet's row refers to its router's.
                    self.router(svc, router).await?;
                }
                svc.mirror_subnet(&subnet, router).await?;
                self.seen([Key::Subnet(subnet.id)]);
            }
            // A subnet Neutron does not have stays unknown here too; a mirrored one is
            // detached so that no rule takes it for attached.
            for id in absent {
                svc.detach_subnet_if_mirrored(id).await?;
            }
            Ok(())
        })
    }

    fn recheck<'a>(&'a self, svc: &'a Service) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            let routers: Vec<Uuid> = {
                let mut tx = svc.store.begin_read().await?;
                let rows = store::mirror::routers(&mut tx).await?;
                tx.commit().await?;
                rows.into_iter().map(|r| r.meta.id).collect()
            };
            for chunk in routers.chunks(CHUNK) {
                self.sync_routers(svc, chunk).await?;
            }
            Ok(routers.len())
        })
    }

    fn extensions(&self) -> BoxFuture<'_, Result<Option<Vec<Value>>>> {
        Box::pin(async move { Ok(Some(self.neutron.extensions().await.map_err(unavailable)?)) })
    }

    fn recheck_every(&self) -> Option<Duration> {
        Some(self.fresh_for.max(Duration::from_secs(1)))
    }
}

impl Service {
    /// The source of routers and subnets.
    pub fn topology(&self) -> &dyn Topology {
        self.topology.as_ref()
    }

    /// Uses `topology` as the source of routers and subnets.
    pub fn with_topology(mut self, topology: Arc<dyn Topology>) -> Service {
        self.topology = topology;
        self
    }

    /// Before a VPN service is created on `router`: the router and its interfaces as the
    /// source has them now (within the staleness bound).
    pub(crate) async fn refresh_router(&self, router: Uuid) -> Result<()> {
        self.topology.router(self, router).await
    }

    /// Before an endpoint group of subnets is created: those of `endpoints` that are ids.
    pub(crate) async fn refresh_subnets(&self, endpoints: &[String]) -> Result<()> {
        if self.topology.serves_inventory() {
            return Ok(());
        }
        let ids: Vec<Uuid> = endpoints.iter().filter_map(|e| Uuid::parse_str(e).ok()).collect();
        self.topology.subnets(self, &ids).await
    }

    /// Before a connection of `service` is created or changed: the service's router and its
    /// interfaces, which the local endpoint group's subnets must be on.
    pub(crate) async fn refresh_for_connection(&self, service: Uuid) -> Result<()> {
        if self.topology.serves_inventory() {
            return Ok(());
        }
        let mut tx = self.store.begin_read().await?;
        let found = store::get::<vpnaas_core::resources::VpnService>(&mut tx, service).await?;
        tx.commit().await?;
        match found {
            Some(s) => self.topology.router(self, s.spec.router_id).await,
            // The rules answer the 404.
            None => Ok(()),
        }
    }

    /// The same for the connection `id` (as the caller wrote it) before it is changed.
    pub(crate) async fn refresh_for_connection_of(&self, id: &str) -> Result<()> {
        let Some(id) = Uuid::parse_str(id).ok().filter(|_| !self.topology.serves_inventory()) else {
            return Ok(());
        };
        let mut tx = self.store.begin_read().await?;
        let found = store::get::<vpnaas_core::resources::SiteConnection>(&mut tx, id).await?;
        tx.commit().await?;
        match found {
            Some(c) => self.refresh_for_connection(c.spec.vpnservice_id).await,
            None => Ok(()),
        }
    }

    /// Re-checks what the topology mirrored (neutron mode's interval).
    pub async fn recheck_topology(&self) -> Result<usize> {
        self.topology.recheck(self).await
    }

    /// Writes Neutron's router over its mirror row, attaches `subnets` to it and detaches
    /// the rest; a detached subnet that a VPN service or connection uses marks them ERROR.
    pub(crate) async fn mirror_router(
        &self,
        r: NeutronRouter,
        host: Option<String>,
        subnets: &[&NeutronSubnet],
    ) -> Result<()> {
        let now = now_micros();
        let mut w = self.store.begin_write().await?;
        let spec = RouterSpec { admin_state_up: r.admin_state_up, gateway: r.gateway, host };
        let mut marked_hosts = Vec::new();
        let mut marked = Vec::new();
        match store::get::<Router>(w.conn(), r.id).await? {
            Some(mut row) => {
                let same = row.spec == spec
                    && row.meta.project_id == r.project_id
                    && row.meta.name == r.name
                    && row.meta.description == r.description;
                if !same {
                    if row.spec.gateway != spec.gateway || row.spec.host != spec.host {
                        // The gateway's desired state moves with its address and placement.
                        marked.push(r.id);
                        marked_hosts.extend(row.spec.host.iter().chain(spec.host.iter()).cloned());
                    }
                    row.spec = spec;
                    row.meta.project_id = r.project_id;
                    row.meta.name = r.name;
                    row.meta.description = r.description;
                    row.meta.touch(now);
                    store::update(w.conn(), &row).await?;
                }
            }
            None => {
                let meta = mirrored_meta(r.id, r.project_id, r.name, r.description, now);
                marked_hosts.extend(spec.host.iter().cloned());
                if spec.host.is_some() {
                    marked.push(r.id);
                }
                store::insert(w.conn(), &Stored { meta, spec }).await?;
            }
        }
        for subnet in subnets {
            upsert_subnet(&mut w, subnet, Some(r.id), now).await?;
        }
        for old in store::mirror::subnets_on_router(w.conn(), r.id).await? {
            if subnets.iter().any(|s| s.id == old.meta.id) {
                continue;
            }
            let reason = format!("the interface of subnet {} was removed from router {} in Neutron", old.meta.id, r.id);
            let services = store::uses::services_on_router_subnet(w.conn(), r.id, old.meta.id).await?;
            let connections = store::uses::connections_with_local_subnet(w.conn(), r.id, old.meta.id).await?;
            if !services.is_empty() || !connections.is_empty() {
                tracing::warn!(router.id = %r.id, subnet.id = %old.meta.id, vpnservices = ?services, ipsec_site_connections = ?connections, "{reason}: marked ERROR");
                store::mirror::services_lost(w.conn(), &services, &reason).await?;
                store::mirror::connections_lost(w.conn(), &connections, &reason).await?;
                marked.push(r.id);
            }
            let mut row = old;
            row.spec.router_id = None;
            row.meta.touch(now);
            store::update(w.conn(), &row).await?;
        }
        marked.dedup();
        self.commit_marking(w, &marked, &marked_hosts).await
    }

    /// Neutron no longer has `router`: an unused mirror row goes; one a VPN service uses
    /// stays without gateway or placement (so no new service takes it), and its services
    /// and their connections show ERROR with the reason.
    pub(crate) async fn forget_router(&self, router: Uuid) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        let Some(mut row) = store::get::<Router>(w.conn(), router).await? else {
            return Ok(());
        };
        let hosts: Vec<String> = row.spec.host.iter().cloned().collect();
        let services = super::referrers(w.conn(), Reference::ServiceRouter, router).await?;
        if !services.is_empty() && row.spec.gateway.is_none() && row.spec.host.is_none() {
            // Found and reported at an earlier re-check: said once, not every interval.
            return Ok(());
        }
        store::mirror::detach_all(w.conn(), router).await?;
        if services.is_empty() {
            store::delete::<Router>(w.conn(), router).await?;
        } else {
            let reason = format!("router {router} was deleted in Neutron");
            let n = store::mirror::services_lost(w.conn(), &services, &reason).await?;
            tracing::warn!(router.id = %router, vpnservices = ?services, connections = n, "{reason}: its VPN services and connections marked ERROR");
            row.spec.gateway = None;
            row.spec.host = None;
            row.meta.touch(now_micros());
            store::update(w.conn(), &row).await?;
        }
        self.commit_marking(w, &[router], &hosts).await
    }

    /// Writes Neutron's subnet over its mirror row, attached to `router` or to none.
    pub(crate) async fn mirror_subnet(&self, subnet: &NeutronSubnet, router: Option<Uuid>) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        upsert_subnet(&mut w, subnet, router, now_micros()).await?;
        w.commit().await?;
        Ok(())
    }

    /// A subnet Neutron did not return: its mirror row, if any and still attached, is detached.
    pub(crate) async fn detach_subnet_if_mirrored(&self, id: Uuid) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        if let Some(mut row) = store::get::<Subnet>(w.conn(), id).await? {
            if row.spec.router_id.is_some() {
                row.spec.router_id = None;
                row.meta.touch(now_micros());
                store::update(w.conn(), &row).await?;
            }
        }
        w.commit().await?;
        Ok(())
    }
}

fn mirrored_meta(id: Uuid, project_id: String, name: String, description: String, now: i64) -> Meta {
    Meta { id, project_id, name, description, created_at: now, updated_at: now, revision_number: 1 }
}

async fn upsert_subnet(w: &mut store::WriteTx, s: &NeutronSubnet, router: Option<Uuid>, now: i64) -> Result<()> {
    let spec = SubnetSpec { cidr: s.cidr, network_id: s.network_id, router_id: router };
    match store::get::<Subnet>(w.conn(), s.id).await? {
        Some(mut row) => {
            let same = row.spec == spec
                && row.meta.project_id == s.project_id
                && row.meta.name == s.name
                && row.meta.description == s.description;
            if !same {
                row.spec = spec;
                row.meta.project_id.clone_from(&s.project_id);
                row.meta.name.clone_from(&s.name);
                row.meta.description.clone_from(&s.description);
                row.meta.touch(now);
                store::update(w.conn(), &row).await?;
            }
        }
        None => {
            let meta = mirrored_meta(s.id, s.project_id.clone(), s.name.clone(), s.description.clone(), now);
            store::insert(w.conn(), &Stored { meta, spec }).await?;
        }
    }
    Ok(())
}
