//! The gateway side of the service (ADR 0003): agent heartbeats, a router's desired state, and the status agents report.

use std::collections::HashMap;
use std::net::IpAddr;

use uuid::Uuid;
use vpnaas_core::algorithms::{EndpointType, Status};
use vpnaas_core::desired::{AgentHello, ConnectionStatus, DesiredConnection, GatewayState, HaMember};
use vpnaas_core::resources::{EndpointGroup, IkePolicy, IpsecPolicy, Router, SiteConnection, Subnet, VpnService};
use vpnaas_core::values::{Cidr, IpVersion};
use vpnaas_core::{ha, Fault};

use super::Service;
use crate::clock::now_micros;
use crate::error::Result;
use crate::secrets::KeyRing;
use crate::store::{self, StoreError};

fn corrupt(what: String) -> crate::error::Error {
    StoreError::Corrupt(what).into()
}

impl Service {
    /// Registers an agent for a router, or renews its heartbeat.
    pub async fn agent_heartbeat(&self, router_id: Uuid, hello: &AgentHello) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        if store::get::<Router>(w.conn(), router_id).await?.is_none() {
            return Err(Fault::RouterNotFound(router_id.to_string()).into());
        }
        let agent = store::gateway::AgentRow {
            router_id: router_id.to_string(),
            host: hello.host.chars().take(255).collect(),
            version: hello.version.chars().take(64).collect(),
            last_seen: now_micros(),
        };
        store::gateway::upsert_agent(w.conn(), &agent).await?;
        w.commit().await?;
        Ok(())
    }

    /// Everything the router's gateway must run, with a version that changes with it.
    pub async fn gateway_state(&self, router_id: Uuid) -> Result<GatewayState> {
        let mut tx = self.store.begin_read().await?;
        let Some(router) = store::get::<Router>(&mut tx, router_id).await? else {
            return Err(Fault::RouterNotFound(router_id.to_string()).into());
        };
        let connections = desired_connections(&mut tx, &router, &self.keys).await?;
        tx.commit().await?;
        let version = fingerprint(&serde_json::to_string(&connections).map_err(|e| corrupt(e.to_string()))?);
        Ok(GatewayState { router_id, version, connections })
    }

    /// Applies an agent's report. A report about an older revision of a connection is
    /// ignored (the connection stays pending until the gateway has the newest one).
    pub async fn report_status(&self, router_id: Uuid, report: &[ConnectionStatus]) -> Result<()> {
        for s in report {
            if !matches!(s.status, Status::Active | Status::Down | Status::Error) {
                return Err(
                    Fault::invalid("status", format!("'{}' is not in ['ACTIVE', 'DOWN', 'ERROR']", s.status)).into()
                );
            }
        }
        let mut w = self.store.begin_write().await?;
        for s in report {
            let row = store::gateway::StatusRow {
                id: s.id,
                revision: s.revision,
                status: s.status,
                reason: s.reason.as_ref().map(|r| r.chars().take(255).collect()),
                counters: &s.counters,
            };
            store::gateway::record_status(w.conn(), router_id, &row).await?;
        }
        for s in report.iter().filter(|s| matches!(s.status, Status::Down | Status::Error)) {
            self.fail_over(w.conn(), s).await?;
        }
        store::gateway::services_follow_connections(w.conn(), router_id).await?;
        w.commit().await?;
        Ok(())
    }

    /// Swaps an active/standby pair when its active member failed (ADR 0002): the standby
    /// becomes active and the agent, reading the new roles, brings its tunnel up.
    async fn fail_over(&self, conn: &mut store::Conn, report: &ConnectionStatus) -> Result<()> {
        let Some(place) = store::gateway::pair_place(conn, report.id, report.revision).await? else {
            return Ok(());
        };
        if place.standby || !ha::should_fail_over(report.status, place.since, now_micros(), self.ha_hold_down) {
            return Ok(());
        }
        let members = store::gateway::pair_members(conn, place.service, place.local, place.peer).await?;
        let partner = members.iter().find(|(id, standby)| *standby && *id != report.id.to_string());
        let Some(partner) = partner.and_then(|(id, _)| Uuid::parse_str(id).ok()) else { return Ok(()) };
        store::gateway::swap_roles(conn, report.id, partner, now_micros()).await?;
        tracing::info!(site_connection.id = %report.id, partner.id = %partner, "active/standby pair failed over");
        Ok(())
    }

    /// Shows the services and connections of routers whose agent went silent as DOWN.
    pub async fn mark_dead_gateways(&self, dead_after_micros: i64) -> Result<u64> {
        let cutoff = now_micros() - dead_after_micros;
        // Every replica sweeps every second: look before taking the writer, which SQLite has one of.
        let mut tx = self.store.begin_read().await?;
        let silent = store::gateway::silent_routers(&mut tx, cutoff).await?;
        tx.commit().await?;
        if silent.is_empty() {
            return Ok(0);
        }
        let mut w = self.store.begin_write().await?;
        let n = store::gateway::mark_silent_down(w.conn(), cutoff).await?;
        w.commit().await?;
        Ok(n)
    }
}

/// FNV-1a over the state's JSON: stable across processes and releases, for equality only.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The router's connections as its gateway needs them, pre-shared keys opened.
async fn desired_connections(
    conn: &mut store::Conn,
    router: &Router,
    keys: &KeyRing,
) -> Result<Vec<DesiredConnection>> {
    let services = store::gateway::services_of_router(conn, router.meta.id).await?;
    let mut out = Vec::new();
    let mut all: Vec<SiteConnection> = Vec::new();
    for service in &services {
        all.extend(store::gateway::connections_of_service(conn, service.meta.id).await?);
    }
    for c in &mut all {
        keys.reveal(&mut c.spec.psk, c.meta.id)?;
    }
    let roles = pair_roles(&all);
    let mut loaded = Loaded::default();
    for c in &all {
        let service =
            services.iter().find(|s| s.meta.id == c.spec.vpnservice_id).ok_or_else(|| corrupt("service".into()))?;
        out.push(desired(conn, &mut loaded, c, service, roles.get(&c.meta.id).copied()).await?);
    }
    Ok(out)
}

/// The role and partner of each connection that is in an active/standby pair.
fn pair_roles(conns: &[SiteConnection]) -> HashMap<Uuid, HaMember> {
    let mut out = HashMap::new();
    for c in conns {
        let members: Vec<&SiteConnection> = conns.iter().filter(|o| ha::same_pair(&c.spec, &o.spec)).collect();
        if let [a, b] = members.as_slice() {
            let standby = |id: Uuid| conns.iter().any(|o| o.meta.id == id && o.spec.runtime.ha_standby);
            for (id, role) in ha::roles(&members, standby) {
                let partner = if id == a.meta.id { b.meta.id } else { a.meta.id };
                out.insert(id, HaMember { role, partner });
            }
        }
    }
    out
}

/// What one state build has read: each policy, group and subnet once, however many
/// connections share it (a waiting long poll rebuilds the state four times a second).
#[derive(Default)]
struct Loaded {
    ike: HashMap<Uuid, Option<IkePolicy>>,
    ipsec: HashMap<Uuid, Option<IpsecPolicy>>,
    groups: HashMap<Uuid, Option<EndpointGroup>>,
    subnets: HashMap<Uuid, Option<Subnet>>,
}

/// Reads `T` by id once per build.
async fn once<T: store::Table + Clone>(
    conn: &mut store::Conn,
    seen: &mut HashMap<Uuid, Option<T>>,
    id: Uuid,
) -> Result<Option<T>> {
    if let Some(hit) = seen.get(&id) {
        return Ok(hit.clone());
    }
    let item = store::get::<T>(conn, id).await?;
    seen.insert(id, item.clone());
    Ok(item)
}

async fn desired(
    conn: &mut store::Conn,
    loaded: &mut Loaded,
    c: &SiteConnection,
    service: &VpnService,
    ha: Option<HaMember>,
) -> Result<DesiredConnection> {
    let missing = |what: &str| corrupt(format!("{what} of connection {} is gone", c.meta.id));
    let ike = once(conn, &mut loaded.ike, c.spec.ikepolicy_id).await?.ok_or_else(|| missing("IKE policy"))?;
    let ipsec = once(conn, &mut loaded.ipsec, c.spec.ipsecpolicy_id).await?.ok_or_else(|| missing("IPsec policy"))?;
    let (local_cidrs, peer_cidrs) = match (c.spec.local_ep_group_id, c.spec.peer_ep_group_id, service.spec.subnet_id) {
        (Some(local), Some(peer), _) => {
            let local = once(conn, &mut loaded.groups, local).await?.ok_or_else(|| missing("local endpoint group"))?;
            let peer = once(conn, &mut loaded.groups, peer).await?.ok_or_else(|| missing("peer endpoint group"))?;
            let mut locals = Vec::new();
            if local.spec.endpoint_type == EndpointType::Subnet {
                for e in &local.spec.endpoints {
                    let id = Uuid::parse_str(e).map_err(|_| missing("subnet"))?;
                    locals.push(once(conn, &mut loaded.subnets, id).await?.ok_or_else(|| missing("subnet"))?.spec.cidr);
                }
            }
            let peers: Vec<Cidr> = peer.spec.endpoints.iter().filter_map(|e| Cidr::parse(e).ok()).collect();
            (locals, peers)
        }
        (_, _, Some(subnet)) => {
            let subnet = once(conn, &mut loaded.subnets, subnet).await?.ok_or_else(|| missing("service subnet"))?;
            (vec![subnet.spec.cidr], c.spec.peer_cidrs.clone())
        }
        _ => (Vec::new(), c.spec.peer_cidrs.clone()),
    };
    let v4 = service.spec.external_v4_ip.map(IpAddr::V4);
    let v6 = service.spec.external_v6_ip.map(IpAddr::V6);
    let local_address = match c.spec.peer_address.ip_version() {
        Some(IpVersion::V6) => v6.or(v4),
        _ => v4.or(v6),
    }
    .ok_or_else(|| missing("router gateway address"))?;
    let local_id = if c.spec.local_id.is_empty() { local_address.to_string() } else { c.spec.local_id.clone() };
    Ok(DesiredConnection {
        id: c.meta.id,
        vpnservice_id: service.meta.id,
        revision: c.meta.revision_number,
        enabled: c.spec.admin_state_up && service.spec.admin_state_up,
        ike: (&ike.spec).into(),
        ipsec: (&ipsec.spec).into(),
        psk: c.spec.psk.clear().cloned().ok_or_else(|| missing("opened pre-shared key"))?,
        local_id,
        local_address,
        peer_address: c.spec.peer_address.clone(),
        peer_id: c.spec.peer_id.clone(),
        local_cidrs,
        peer_cidrs,
        dpd: c.spec.dpd,
        mtu: c.spec.mtu,
        initiator: c.spec.initiator,
        ha,
    })
}
