//! The gateway side of the service (ADR 0003): agent heartbeats, a router's desired state, and the status agents report.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use vpnaas_core::wire;

use uuid::Uuid;
use vpnaas_core::algorithms::{EndpointType, Status};
use vpnaas_core::contract::{
    AgentHello, CertCredentials, ConnectionStatus, DesiredConnection, GatewayState, HaMember, TunnelOptions,
};
use vpnaas_core::resources::{
    Certificate, EndpointGroup, IkePolicy, IpsecPolicy, Router, SiteConnection, Subnet, VpnService,
};
use vpnaas_core::tunnel::DownReason;
use vpnaas_core::values::{Cidr, IpVersion};
use vpnaas_core::{ha, Fault};

use super::Service;
use crate::clock::now_micros;
use crate::error::Result;
use crate::notifications::StatusChange;
use crate::secrets::KeyRing;
use crate::store::{self, StoreError};

fn corrupt(what: String) -> crate::error::Error {
    StoreError::Corrupt(what).into()
}

/// The longest a long poll waits (seconds).
pub const MAX_WAIT: u64 = 30;

/// How long a router seen to exist is believed to, for heartbeats.
const CONFIRMED_FOR: Duration = Duration::from_secs(60);

/// Heartbeats received since the last flush, by router (single-router agents) and by host,
/// and the routers lately seen to exist.
#[derive(Default)]
pub struct Beats {
    routers: HashMap<Uuid, store::gateway::AgentRow>,
    hosts: HashMap<String, store::markers::HostBeat>,
    confirmed: HashMap<Uuid, std::time::Instant>,
    /// Agents (`router:ID`, `host:NAME`) heard from since they joined or were last declared
    /// dead: the log's one line per agent joining and leaving (ADR 0023).
    alive: std::collections::HashSet<String>,
}

/// What a host's agent is told to run (ADR 0011); the wire form of
/// `vpnaas_core::contract::HostState`, with each router's state shared rather than copied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostState {
    pub host: String,
    pub cursor: i64,
    /// Every router placed on the host.
    pub routers: Vec<Uuid>,
    /// The state of each router of the host that changed after the cursor asked about.
    pub changed: Vec<Arc<GatewayState>>,
}

impl Service {
    /// Registers an agent for a router, or renews its heartbeat. Heartbeats are kept in
    /// memory and written together once a second ([`Service::flush_heartbeats`]).
    pub async fn agent_heartbeat(&self, router_id: Uuid, hello: &AgentHello) -> Result<()> {
        // A router seen to exist lately is not looked up again: 10,000 agents' heartbeats
        // would otherwise cost 10,000 reads per interval (a deleted router's heartbeats are
        // dropped when they are written).
        let now = std::time::Instant::now();
        let known =
            self.lock_beats().confirmed.get(&router_id).is_some_and(|at| now.duration_since(*at) < CONFIRMED_FOR);
        if !known {
            let mut tx = self.store.begin_gateway_read().await?;
            let exists = store::get::<Router>(&mut tx, router_id).await?.is_some();
            tx.commit().await?;
            if !exists {
                return Err(Fault::RouterNotFound(router_id.to_string()).into());
            }
            self.lock_beats().confirmed.insert(router_id, now);
        }
        let agent = store::gateway::AgentRow {
            router_id: router_id.to_string(),
            host: hello.host.chars().take(255).collect(),
            version: hello.version.chars().take(64).collect(),
            last_seen: now_micros(),
        };
        let key = format!("router:{router_id}");
        let joined = {
            let mut beats = self.lock_beats();
            beats.routers.insert(router_id, agent);
            beats.alive.insert(key.clone())
        };
        if joined {
            tracing::info!(router.id = %router_id, agent.host = %hello.host, agent.version = %hello.version, "gateway agent joined (router {router_id})");
        }
        self.swept_forget(&key);
        Ok(())
    }

    /// A host's heartbeat (ADR 0011), kept in memory like the routers' ones.
    pub fn host_heartbeat(&self, host: &str, hello: &AgentHello) {
        let beat = store::markers::HostBeat {
            host: host.to_owned(),
            version: hello.version.chars().take(64).collect(),
            last_seen: now_micros(),
        };
        let key = format!("host:{host}");
        let joined = {
            let mut beats = self.lock_beats();
            beats.hosts.insert(host.to_owned(), beat);
            beats.alive.insert(key.clone())
        };
        if joined {
            tracing::info!(agent.host = %host, agent.version = %hello.version, "gateway agent joined (host {host})");
        }
        self.swept_forget(&key);
    }

    fn lock_beats(&self) -> std::sync::MutexGuard<'_, Beats> {
        self.beats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the heartbeats received since the last flush in one transaction; returns how many.
    pub async fn flush_heartbeats(&self) -> Result<usize> {
        let (routers, hosts) = {
            let mut beats = self.lock_beats();
            let now = std::time::Instant::now();
            beats.confirmed.retain(|_, at| now.duration_since(*at) < CONFIRMED_FOR);
            (std::mem::take(&mut beats.routers), std::mem::take(&mut beats.hosts))
        };
        let n = routers.len() + hosts.len();
        if n == 0 {
            return Ok(0);
        }
        let mut w = self.store.begin_write().await?;
        for agent in routers.values() {
            store::gateway::upsert_agent(w.conn(), agent).await?;
        }
        let hosts: Vec<_> = hosts.into_values().collect();
        store::markers::record_host_beats(w.conn(), &hosts).await?;
        w.commit().await?;
        Ok(n)
    }

    /// Everything the router's gateway must run, with a version that changes with it;
    /// built once per change marker and shared.
    pub async fn gateway_state(&self, router_id: Uuid) -> Result<Arc<GatewayState>> {
        let seq = self.hub.router_seq(router_id);
        if let Some(state) = self.hub.built(router_id, seq) {
            return Ok(state);
        }
        let mut tx = self.store.begin_gateway_read().await?;
        let Some(router) = store::get::<Router>(&mut tx, router_id).await? else {
            self.hub.forget(router_id);
            return Err(Fault::RouterNotFound(router_id.to_string()).into());
        };
        let connections = desired_connections(&mut tx, &router, &self.keys).await?;
        tx.commit().await?;
        let version = fingerprint(&serde_json::to_string(&connections).map_err(|e| corrupt(e.to_string()))?);
        let state = Arc::new(GatewayState { router_id, version, connections });
        self.hub.keep(router_id, seq, state.clone());
        Ok(state)
    }

    /// The router's state at once if its version is not `known`, else when it changes or
    /// after `wait` seconds (at most [`MAX_WAIT`]). Waiting costs nothing until the
    /// router's change marker moves.
    pub async fn wait_gateway_state(
        &self,
        router_id: Uuid,
        known: Option<&str>,
        wait: u64,
    ) -> Result<Arc<GatewayState>> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(MAX_WAIT));
        let mut changes = self.hub.watch_router(router_id);
        loop {
            changes.borrow_and_update();
            // Boxed: a waiting poll's future then holds a pointer while it waits, not the
            // build's whole state machine (10,000 waiters: ADR 0023).
            let state = Box::pin(self.gateway_state(router_id)).await?;
            if known != Some(state.version.as_str()) {
                return Ok(state);
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return Ok(state);
            }
        }
    }

    /// What `host`'s agent must run (ADR 0011): without `cursor` every router placed on it;
    /// with one, the routers changed since, waiting up to `wait` seconds for a change.
    pub async fn host_state(&self, host: &str, cursor: Option<i64>, wait: u64) -> Result<HostState> {
        // A cursor from the future (another database, or a replica that has not caught up
        // yet) cannot be trusted: answer with everything.
        let cursor = cursor.filter(|c| *c <= self.hub.last_seq());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(MAX_WAIT));
        let mut changes = self.hub.watch_host(host);
        loop {
            changes.borrow_and_update();
            // Read the newest seq before the routers: a change landing meanwhile is seen next time.
            let now = self.hub.last_seq();
            // Boxed, as in `wait_gateway_state`: what a waiting poll holds stays small.
            let routers = Box::pin(self.routers_on_host(host)).await?;
            let changed: Vec<Uuid> = match cursor {
                None => routers.clone(),
                Some(c) => routers.iter().copied().filter(|r| self.hub.router_seq(*r) > c).collect(),
            };
            let placement_moved = cursor.is_some_and(|c| self.hub.host_seq(host) > c);
            let timed_out = tokio::time::Instant::now() >= deadline;
            if cursor.is_none() || !changed.is_empty() || placement_moved || timed_out {
                let mut states = Vec::with_capacity(changed.len());
                for router in changed {
                    match Box::pin(self.gateway_state(router)).await {
                        Ok(state) => states.push(state),
                        // Deleted since it was listed: the next answer leaves it out.
                        Err(crate::error::Error::Fault(Fault::RouterNotFound(_))) => {}
                        Err(e) => return Err(e),
                    }
                }
                return Ok(HostState { host: host.to_owned(), cursor: now, routers, changed: states });
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                continue;
            }
        }
    }

    /// A host's status reports for its routers, in one transaction. Reports about routers
    /// not placed on the host are refused whole (404), and nothing changes.
    pub async fn report_host_status(&self, host: &str, reports: &[(Uuid, Vec<ConnectionStatus>)]) -> Result<()> {
        for (_, report) in reports {
            check_statuses(report)?;
        }
        let mut w = self.store.begin_write().await?;
        let placed = store::markers::routers_on_host(w.conn(), host).await?;
        if let Some((stranger, _)) = reports.iter().find(|(r, _)| !placed.contains(r)) {
            return Err(Fault::RouterNotFound(stranger.to_string()).into());
        }
        let mut swapped = Vec::new();
        for (router, report) in reports {
            if self.apply_report(w.conn(), *router, report).await? {
                swapped.push(*router);
            }
        }
        self.commit_marking(w, &swapped, &[]).await?;
        self.kick_relay();
        Ok(())
    }

    async fn routers_on_host(&self, host: &str) -> Result<Vec<Uuid>> {
        let mut tx = self.store.begin_gateway_read().await?;
        let routers = store::markers::routers_on_host(&mut tx, host).await?;
        tx.commit().await?;
        Ok(routers)
    }

    /// Whether `host` is where `router` is placed (a host's agent may act for its routers only).
    pub async fn router_on_host(&self, host: &str, router: Uuid) -> Result<bool> {
        let mut tx = self.store.begin_gateway_read().await?;
        let found = store::get::<Router>(&mut tx, router).await?;
        tx.commit().await?;
        Ok(found.is_some_and(|r| r.spec.host.as_deref() == Some(host)))
    }

    /// Applies an agent's report. A report about an older revision of a connection is
    /// ignored (the connection stays pending until the gateway has the newest one).
    pub async fn report_status(&self, router_id: Uuid, report: &[ConnectionStatus]) -> Result<()> {
        check_statuses(report)?;
        let mut w = self.store.begin_write().await?;
        let swapped = self.apply_report(w.conn(), router_id, report).await?;
        let routers = if swapped { vec![router_id] } else { Vec::new() };
        self.commit_marking(w, &routers, &[]).await?;
        self.kick_relay();
        Ok(())
    }

    /// Records one router's statuses; returns whether an active/standby pair swapped (which
    /// changes what the gateway must run).
    async fn apply_report(&self, conn: &mut store::Conn, router_id: Uuid, report: &[ConnectionStatus]) -> Result<bool> {
        let now = now_micros();
        for s in report {
            let row = store::gateway::StatusRow {
                id: s.id,
                revision: s.revision,
                status: s.status,
                reason: s.reason.as_ref().map(|r| r.chars().take(255).collect()),
                counters: &s.counters,
                // ADR 0018: an ACTIVE connection has no reason, whatever an agent says.
                code: if s.status == Status::Active { None } else { s.code },
                now,
            };
            let before = store::gateway::status_of(conn, router_id, s.id, s.revision).await?;
            // Events of a connection of this router only (its revision does not matter:
            // what happened, happened); a stranger's are dropped with its status.
            let recorded = store::gateway::record_status(conn, router_id, &row).await?;
            // One line per change of status at INFO; the reports that change nothing at debug
            // (ADR 0023). Logged before commit: a report that fails to commit is retried.
            match before.as_deref() {
                Some(old) if recorded && old != s.status.as_str() => {
                    tracing::info!(
                        site_connection.id = %s.id,
                        router.id = %router_id,
                        from = old,
                        to = s.status.as_str(),
                        "connection status changed: {old} -> {}",
                        s.status.as_str()
                    );
                    self.note_status(conn, s, old, row.code, now).await?;
                }
                _ => tracing::debug!(site_connection.id = %s.id, status = s.status.as_str(), "status reported"),
            }
            let ours = recorded
                || (!s.events.is_empty() && store::gateway::connection_on_router(conn, router_id, s.id).await?);
            if ours {
                store::events::record(conn, s.id, &s.events).await?;
            }
        }
        let mut swapped = false;
        for s in report.iter().filter(|s| matches!(s.status, Status::Down | Status::Error)) {
            swapped |= self.fail_over(conn, s).await?;
        }
        store::gateway::services_follow_connections(conn, router_id).await?;
        Ok(swapped)
    }

    /// The notification of a connection's change of status, in the report's transaction
    /// (ADR 0043), when the server publishes notifications.
    async fn note_status(
        &self,
        conn: &mut store::Conn,
        s: &ConnectionStatus,
        previous: &str,
        code: Option<DownReason>,
        now: i64,
    ) -> Result<()> {
        let Some(publisher) = self.publisher() else { return Ok(()) };
        let Some(connection) = store::get::<SiteConnection>(conn, s.id).await? else { return Ok(()) };
        let id = s.id.to_string();
        let change = StatusChange {
            id: &id,
            project: &connection.meta.project_id,
            previous,
            status: s.status.as_str(),
            reason: code.map(|c| (c.as_str(), c.sentence())),
            now,
        };
        store::outbox::add(conn, &[crate::notifications::status_change(&change, publisher)]).await?;
        Ok(())
    }

    /// Swaps an active/standby pair when its active member failed (ADR 0002): the standby
    /// becomes active and the agent, reading the new roles, brings its tunnel up.
    async fn fail_over(&self, conn: &mut store::Conn, report: &ConnectionStatus) -> Result<bool> {
        let Some(place) = store::gateway::pair_place(conn, report.id, report.revision).await? else {
            return Ok(false);
        };
        if place.standby || !ha::should_fail_over(report.status, place.since, now_micros(), self.ha_hold_down) {
            return Ok(false);
        }
        let members = store::gateway::pair_members(conn, place.service, place.local, place.peer).await?;
        let partner = members.iter().find(|(id, standby)| *standby && *id != report.id.to_string());
        let Some(partner) = partner.and_then(|(id, _)| Uuid::parse_str(id).ok()) else { return Ok(false) };
        store::gateway::swap_roles(conn, report.id, partner, now_micros()).await?;
        tracing::info!(site_connection.id = %report.id, partner.id = %partner, "active/standby pair failed over");
        Ok(true)
    }

    /// Shows the services and connections of routers whose agent, or whose host's agent,
    /// went silent as DOWN: once per silence (a heartbeat starts a new one).
    pub async fn mark_dead_gateways(&self, dead_after_micros: i64) -> Result<u64> {
        let cutoff = now_micros() - dead_after_micros;
        // Every replica sweeps every second: look before taking the writer, which SQLite has one of.
        let mut tx = self.store.begin_gateway_read().await?;
        let routers = store::gateway::silent_routers(&mut tx, cutoff).await?;
        let hosts = store::markers::silent_hosts(&mut tx, cutoff).await?;
        tx.commit().await?;
        let keys: Vec<String> =
            routers.iter().map(|r| format!("router:{r}")).chain(hosts.iter().map(|h| format!("host:{h}"))).collect();
        if keys.iter().all(|k| self.swept_has(k)) {
            return Ok(0);
        }
        let mut w = self.store.begin_write().await?;
        let (lock, now) = (w.lock_clause(), now_micros());
        let mut silenced = store::gateway::mark_silent_down(w.conn(), lock, cutoff, now).await?;
        silenced.extend(store::markers::mark_hosts_down(w.conn(), lock, &hosts, now).await?);
        if !silenced.is_empty() {
            tracing::info!(connections = silenced.len(), "connections shown DOWN: their gateway is silent");
        }
        if let Some(publisher) = self.publisher() {
            let reason = Some((DownReason::GatewaySilent.as_str(), DownReason::GatewaySilent.sentence()));
            let (previous, status) = (Status::Active.as_str(), Status::Down.as_str());
            let messages: Vec<_> = silenced
                .iter()
                .map(|c| {
                    let change = StatusChange { id: &c.id, project: &c.project_id, previous, status, reason, now };
                    crate::notifications::status_change(&change, publisher)
                })
                .collect();
            store::outbox::add(w.conn(), &messages).await?;
        }
        w.commit().await?;
        if !silenced.is_empty() {
            self.kick_relay();
        }
        let n = u64::try_from(silenced.len()).unwrap_or(u64::MAX);
        let fresh: Vec<String> = keys.iter().filter(|k| !self.swept_has(k)).cloned().collect();
        // One line per agent this server saw alive; those silent since before it started
        // (or heard by another replica only) in one line together.
        let mut earlier = 0usize;
        for key in &fresh {
            if self.lock_beats().alive.remove(key) {
                tracing::info!(agent = %key, "gateway agent declared dead (no heartbeat for {} s)", dead_after_micros / 1_000_000);
            } else {
                earlier += 1;
            }
        }
        if earlier > 0 {
            tracing::info!(agents = earlier, "{earlier} gateway agents found silent, not heard from by this server");
        }
        let mut swept = self.swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        swept.extend(keys);
        Ok(n)
    }

    fn swept_has(&self, key: &str) -> bool {
        self.swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(key)
    }

    fn swept_forget(&self, key: &str) {
        self.swept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
    }
}

/// Agents report ACTIVE, DOWN or ERROR only.
fn check_statuses(report: &[ConnectionStatus]) -> Result<()> {
    for s in report {
        if !matches!(s.status, Status::Active | Status::Down | Status::Error) {
            return Err(
                Fault::invalid(wire::STATUS, format!("'{}' is not in ['ACTIVE', 'DOWN', 'ERROR']", s.status)).into()
            );
        }
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
        if let Some(psk) = c.spec.auth.psk_mut() {
            keys.reveal(psk, c.meta.id)?;
        }
    }
    let roles = pair_roles(&all);
    let mut loaded = Loaded::default();
    for c in &all {
        let service =
            services.iter().find(|s| s.meta.id == c.spec.vpnservice_id).ok_or_else(|| corrupt("service".into()))?;
        out.push(desired(conn, &mut loaded, keys, c, service, roles.get(&c.meta.id).copied()).await?);
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
pub(super) struct Loaded {
    ike: HashMap<Uuid, Option<IkePolicy>>,
    ipsec: HashMap<Uuid, Option<IpsecPolicy>>,
    groups: HashMap<Uuid, Option<EndpointGroup>>,
    subnets: HashMap<Uuid, Option<Subnet>>,
    certificates: HashMap<Uuid, Option<Certificate>>,
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

pub(super) async fn desired(
    conn: &mut store::Conn,
    loaded: &mut Loaded,
    keys: &KeyRing,
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
    // ADR 0017: a certificate connection presents its certificate, key and chain, and
    // trusts the peer CAs; without a local_id it is known by the certificate's subject.
    let certs = match c.spec.auth.certs() {
        Some(auth) => {
            let id = auth.local_certificate_id;
            let mut cert =
                once(conn, &mut loaded.certificates, id).await?.ok_or_else(|| missing("local certificate"))?;
            keys.reveal_key(&mut cert.spec.private_key, id)?;
            let private_key = cert.spec.private_key.clear().cloned().ok_or_else(|| missing("opened private key"))?;
            Some((
                cert.spec.subject.clone(),
                CertCredentials {
                    certificate: cert.spec.certificate.clone(),
                    private_key,
                    chain: cert.spec.chain.as_deref().map(crate::certs::split).unwrap_or_default(),
                    peer_cas: crate::certs::split(&auth.peer_ca),
                },
            ))
        }
        None => None,
    };
    let local_id = match (&certs, c.spec.local_id.is_empty()) {
        (_, false) => c.spec.local_id.clone(),
        (Some((subject, _)), true) => subject.clone(),
        (None, true) => local_address.to_string(),
    };
    let psk = match c.spec.auth.psk() {
        Some(psk) => Some(psk.clear().cloned().ok_or_else(|| missing("opened pre-shared key"))?),
        None => None,
    };
    Ok(DesiredConnection {
        id: c.meta.id,
        vpnservice_id: service.meta.id,
        revision: c.meta.revision_number,
        enabled: c.spec.admin_state_up && service.spec.admin_state_up,
        ike: (&ike.spec).into(),
        ipsec: (&ipsec.spec).into(),
        psk,
        certs: certs.map(|(_, credentials)| credentials),
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
        options: TunnelOptions::default(),
    })
}
