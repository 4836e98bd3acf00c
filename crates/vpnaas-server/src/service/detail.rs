//! Tunnel detail reads (ADR 0018): a connection's negotiation events for whoever may see the connection, and the gateway agents for admins.

use vpnaas_core::resources::SiteConnection;
use vpnaas_core::tunnel::TunnelEvent;

use super::Service;
use crate::auth::Caller;
use crate::clock::now_micros;
use crate::error::Result;
use crate::store;

/// The rule of the gateway agents' list (admins only by default).
pub const GATEWAY_AGENTS_RULE: &str = "get_gateway_agents";

/// A gateway agent as admins see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GatewayAgent {
    /// `host` (one agent per host, ADR 0011) or `router` (one agent per router).
    pub kind: &'static str,
    /// The host's name, or the router's id.
    pub name: String,
    /// The host it says it runs on.
    pub host: String,
    pub version: String,
    /// Microseconds since the epoch.
    pub last_seen: i64,
    /// Heard from within `agent_dead_after_secs`.
    pub alive: bool,
}

impl Service {
    /// The last negotiation events of a connection the caller may see (another project's
    /// is the 404 a show gives), oldest first.
    pub async fn connection_events(&self, caller: &Caller, id: &str) -> Result<(SiteConnection, Vec<TunnelEvent>)> {
        let connection: SiteConnection = self.show(caller, id, false).await?;
        let mut tx = self.store.begin_read().await?;
        let events = store::events::list(&mut tx, connection.meta.id).await?;
        tx.commit().await?;
        Ok((connection, events))
    }

    /// Every gateway agent with its last heartbeat, for admins (the `get_gateway_agents` rule).
    pub async fn gateway_agents(&self, caller: &Caller, dead_after_micros: i64) -> Result<Vec<GatewayAgent>> {
        caller.authorize(GATEWAY_AGENTS_RULE, caller.project_id())?;
        let mut tx = self.store.begin_read().await?;
        let routers = store::gateway::agents(&mut tx).await?;
        let hosts = store::markers::host_beats(&mut tx).await?;
        tx.commit().await?;
        let cutoff = now_micros() - dead_after_micros;
        let mut out: Vec<GatewayAgent> = hosts
            .into_iter()
            .map(|h| GatewayAgent {
                kind: "host",
                name: h.host.clone(),
                host: h.host,
                version: h.version,
                last_seen: h.last_seen,
                alive: h.last_seen >= cutoff,
            })
            .collect();
        out.extend(routers.into_iter().map(|r| GatewayAgent {
            kind: "router",
            name: r.router_id,
            host: r.host,
            version: r.version,
            last_seen: r.last_seen,
            alive: r.last_seen >= cutoff,
        }));
        Ok(out)
    }
}
