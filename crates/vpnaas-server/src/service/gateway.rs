//! The gateway side of the service (ADR 0003): agent heartbeats, a router's desired state, and the status agents report.

use std::collections::HashMap;
use std::net::IpAddr;

use sqlx::AnyConnection;
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
use crate::store::{self, StoreError, Value};

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
        let host: String = hello.host.chars().take(255).collect();
        let version: String = hello.version.chars().take(64).collect();
        store::execute(
            w.conn(),
            "INSERT INTO gateway_agents (router_id, host, version, last_seen) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (router_id) DO UPDATE SET host = $2, version = $3, last_seen = $4",
            &[router_id.to_string().into(), host.into(), version.into(), now_micros().into()],
        )
        .await?;
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
        let router = router_id.to_string();
        for s in report {
            let reason: Option<String> = s.reason.as_ref().map(|r| r.chars().take(255).collect());
            let count = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
            store::execute(
                w.conn(),
                "UPDATE ipsec_site_connections SET status = $1, status_reason = $2, bytes_in = $3, bytes_out = $4, \
                 packets_in = $5, packets_out = $6 \
                 WHERE id = $7 AND revision_number = $8 \
                 AND vpnservice_id IN (SELECT id FROM vpnservices WHERE router_id = $9)",
                &[
                    s.status.as_str().into(),
                    reason.into(),
                    count(s.counters.bytes_in),
                    count(s.counters.bytes_out),
                    count(s.counters.packets_in),
                    count(s.counters.packets_out),
                    s.id.to_string().into(),
                    s.revision.into(),
                    router.clone().into(),
                ],
            )
            .await?;
        }
        for s in report.iter().filter(|s| matches!(s.status, Status::Down | Status::Error)) {
            self.fail_over(w.conn(), s).await?;
        }
        service_status_follows_connections(w.conn(), &router).await?;
        w.commit().await?;
        Ok(())
    }

    /// Swaps an active/standby pair when its active member failed (ADR 0002): the standby
    /// becomes active and the agent, reading the new roles, brings its tunnel up.
    async fn fail_over(&self, conn: &mut AnyConnection, report: &ConnectionStatus) -> Result<()> {
        use sqlx::Row;
        let rows = store::fetch_all(
            conn,
            "SELECT vpnservice_id, local_ep_group_id, peer_ep_group_id, ha_standby, ha_since \
             FROM ipsec_site_connections WHERE id = $1 AND revision_number = $2",
            &[report.id.to_string().into(), report.revision.into()],
        )
        .await?;
        let Some(row) = rows.first() else { return Ok(()) };
        let (Some(local), Some(peer)) = (row.try_get::<Option<String>, _>(1)?, row.try_get::<Option<String>, _>(2)?)
        else {
            return Ok(());
        };
        let (service, standby, since) =
            (row.try_get::<String, _>(0)?, row.try_get::<i64, _>(3)?, row.try_get::<i64, _>(4)?);
        if standby != 0 || !ha::should_fail_over(report.status, since, now_micros(), self.ha_hold_down) {
            return Ok(());
        }
        let partners = store::ids(
            conn,
            "SELECT id FROM ipsec_site_connections WHERE vpnservice_id = $1 AND local_ep_group_id = $2 \
             AND peer_ep_group_id = $3 AND id <> $4 AND ha_standby = 1",
            &[service.into(), local.into(), peer.into(), report.id.to_string().into()],
        )
        .await?;
        let Some(partner) = partners.first() else { return Ok(()) };
        let now = now_micros();
        let swap = "UPDATE ipsec_site_connections SET ha_standby = $1, ha_since = $2 WHERE id = $3";
        store::execute(conn, swap, &[1_i64.into(), now.into(), report.id.to_string().into()]).await?;
        store::execute(conn, swap, &[0_i64.into(), now.into(), partner.clone().into()]).await?;
        tracing::info!(site_connection.id = %report.id, partner.id = %partner, "active/standby pair failed over");
        Ok(())
    }

    /// Shows the services and connections of routers whose agent went silent as DOWN.
    pub async fn mark_dead_gateways(&self, dead_after_micros: i64) -> Result<u64> {
        let cutoff = now_micros() - dead_after_micros;
        // Every replica sweeps every second: look before taking the writer, which SQLite has one of.
        let mut tx = self.store.begin_read().await?;
        let silent =
            store::ids(&mut tx, "SELECT router_id FROM gateway_agents WHERE last_seen < $1", &[cutoff.into()]).await?;
        tx.commit().await?;
        if silent.is_empty() {
            return Ok(0);
        }
        let mut w = self.store.begin_write().await?;
        let dead =
            "SELECT s.id FROM vpnservices s JOIN gateway_agents g ON g.router_id = s.router_id WHERE g.last_seen < $1";
        let n = store::execute(
            w.conn(),
            &format!("UPDATE ipsec_site_connections SET status = 'DOWN' WHERE status = 'ACTIVE' AND vpnservice_id IN ({dead})"),
            &[cutoff.into()],
        )
        .await?;
        store::execute(
            w.conn(),
            &format!("UPDATE vpnservices SET status = 'DOWN' WHERE status = 'ACTIVE' AND id IN ({dead})"),
            &[cutoff.into()],
        )
        .await?;
        w.commit().await?;
        Ok(n)
    }
}

/// A VPN service is ACTIVE when one of its connections is, DOWN when any reported, else unchanged.
async fn service_status_follows_connections(conn: &mut AnyConnection, router: &str) -> Result<()> {
    for (status, condition) in [
        ("ACTIVE", "EXISTS (SELECT 1 FROM ipsec_site_connections c WHERE c.vpnservice_id = vpnservices.id AND c.status = 'ACTIVE')"),
        (
            "DOWN",
            "NOT EXISTS (SELECT 1 FROM ipsec_site_connections c WHERE c.vpnservice_id = vpnservices.id AND c.status = 'ACTIVE') \
             AND EXISTS (SELECT 1 FROM ipsec_site_connections c WHERE c.vpnservice_id = vpnservices.id AND c.status IN ('DOWN', 'ERROR'))",
        ),
    ] {
        let sql = format!("UPDATE vpnservices SET status = '{status}' WHERE router_id = $1 AND {condition}");
        store::execute(conn, &sql, &[router.into()]).await?;
    }
    Ok(())
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
    conn: &mut AnyConnection,
    router: &Router,
    keys: &KeyRing,
) -> Result<Vec<DesiredConnection>> {
    let rid = router.meta.id.to_string();
    let services: Vec<VpnService> = store::select(conn, "router_id = $1", &[rid.clone().into()]).await?;
    let mut out = Vec::new();
    let mut all: Vec<SiteConnection> = Vec::new();
    for service in &services {
        let conns: Vec<SiteConnection> =
            store::select(conn, "vpnservice_id = $1", &[service.meta.id.to_string().into()]).await?;
        all.extend(conns);
    }
    for c in &mut all {
        keys.reveal(&mut c.spec.psk, c.meta.id)?;
    }
    let standby: Vec<String> = store::ids(
        conn,
        "SELECT c.id FROM ipsec_site_connections c JOIN vpnservices s ON s.id = c.vpnservice_id \
         WHERE s.router_id = $1 AND c.ha_standby = 1",
        &[rid.clone().into()],
    )
    .await?;
    let roles = pair_roles(&all, &standby);
    let mut loaded = Loaded::default();
    for c in &all {
        let service =
            services.iter().find(|s| s.meta.id == c.spec.vpnservice_id).ok_or_else(|| corrupt("service".into()))?;
        out.push(desired(conn, &mut loaded, c, service, roles.get(&c.meta.id).copied()).await?);
    }
    Ok(out)
}

/// The role and partner of each connection that is in an active/standby pair.
fn pair_roles(conns: &[SiteConnection], standby: &[String]) -> HashMap<Uuid, HaMember> {
    let mut out = HashMap::new();
    for c in conns {
        let members: Vec<&SiteConnection> = conns.iter().filter(|o| ha::same_pair(&c.spec, &o.spec)).collect();
        if let [a, b] = members.as_slice() {
            for (id, role) in ha::roles(&members, |id| standby.contains(&id.to_string())) {
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
    conn: &mut AnyConnection,
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
    conn: &mut AnyConnection,
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
