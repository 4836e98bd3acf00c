//! The statements of the gateway side: agents' heartbeats, status reports, active/standby
//! roles, and the sweep that shows silent gateways' connections DOWN.

use uuid::Uuid;
use vpnaas_core::algorithms::Status;
use vpnaas_core::contract::Counters;
use vpnaas_core::resources::{SiteConnection, VpnService};
use vpnaas_core::tunnel::DownReason;

use super::tables::count;
use super::{execute, fetch_all, ids, marks, tables::select, Conn, StoreError, StoreResult, Value};

/// One row of `gateway_agents`: the last heartbeat of a router's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub router_id: String,
    pub host: String,
    pub version: String,
    /// Microseconds since the epoch.
    pub last_seen: i64,
}

/// Registers an agent for a router, or renews its heartbeat; a router deleted since its
/// heartbeat arrived has no row to refer to, and its heartbeat is dropped in the same statement.
pub async fn upsert_agent(conn: &mut Conn, agent: &AgentRow) -> StoreResult<()> {
    execute(
        conn,
        "INSERT INTO gateway_agents (router_id, host, version, last_seen) \
         SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM routers WHERE id = $1) \
         ON CONFLICT (router_id) DO UPDATE SET host = $2, version = $3, last_seen = $4",
        &[
            agent.router_id.clone().into(),
            agent.host.clone().into(),
            agent.version.clone().into(),
            agent.last_seen.into(),
        ],
    )
    .await?;
    Ok(())
}

/// Every agent row, by router id (for copying a database).
pub async fn agents(conn: &mut Conn) -> StoreResult<Vec<AgentRow>> {
    let rows =
        fetch_all(conn, "SELECT router_id, host, version, last_seen FROM gateway_agents ORDER BY router_id", &[])
            .await?;
    rows.iter()
        .map(|r| Ok(AgentRow { router_id: r.get(0)?, host: r.get(1)?, version: r.get(2)?, last_seen: r.get(3)? }))
        .collect::<StoreResult<_>>()
}

/// What an agent observed of one connection.
pub struct StatusRow<'a> {
    pub id: Uuid,
    /// The revision the agent applied: a report about an older one changes nothing.
    pub revision: i64,
    pub status: Status,
    pub reason: Option<String>,
    pub counters: &'a Counters,
    /// Why it is down (ADR 0018).
    pub code: Option<DownReason>,
    /// When the report arrived (microseconds): the time it was reported, and the start of
    /// a new status.
    pub now: i64,
}

/// Records a report about one connection of `router`; returns whether a row changed.
pub async fn record_status(conn: &mut Conn, router: Uuid, s: &StatusRow<'_>) -> StoreResult<bool> {
    let n = execute(
        conn,
        "UPDATE ipsec_site_connections SET status_since = CASE WHEN status = $1 THEN status_since ELSE $10 END, \
         status = $1, status_reason = $2, bytes_in = $3, bytes_out = $4, \
         packets_in = $5, packets_out = $6, reported_at = $10, down_reason = $11 \
         WHERE id = $7 AND revision_number = $8 \
         AND vpnservice_id IN (SELECT id FROM vpnservices WHERE router_id = $9)",
        &[
            s.status.as_str().into(),
            Value::OptText(s.reason.clone()),
            count(s.counters.bytes_in),
            count(s.counters.bytes_out),
            count(s.counters.packets_in),
            count(s.counters.packets_out),
            s.id.to_string().into(),
            s.revision.into(),
            router.to_string().into(),
            s.now.into(),
            Value::OptText(s.code.map(|c| c.as_str().to_owned())),
        ],
    )
    .await?;
    Ok(n > 0)
}

/// The status connection `id` of `router` has at `revision`, if it is one of the router's at
/// that revision (what a report would change, read before it does: the log's old -> new).
pub async fn status_of(conn: &mut Conn, router: Uuid, id: Uuid, revision: i64) -> StoreResult<Option<String>> {
    let found = ids(
        conn,
        "SELECT status FROM ipsec_site_connections WHERE id = $1 AND revision_number = $2 \
         AND vpnservice_id IN (SELECT id FROM vpnservices WHERE router_id = $3)",
        &[id.to_string().into(), revision.into(), router.to_string().into()],
    )
    .await?;
    Ok(found.into_iter().next())
}

/// Whether connection `id` is one of `router`'s.
pub async fn connection_on_router(conn: &mut Conn, router: Uuid, id: Uuid) -> StoreResult<bool> {
    let found = ids(
        conn,
        "SELECT id FROM ipsec_site_connections WHERE id = $1 \
         AND vpnservice_id IN (SELECT id FROM vpnservices WHERE router_id = $2)",
        &[id.to_string().into(), router.to_string().into()],
    )
    .await?;
    Ok(!found.is_empty())
}

/// A VPN service of `router` is ACTIVE when one of its connections is, DOWN when any
/// reported DOWN or ERROR and none is ACTIVE, else unchanged.
pub async fn services_follow_connections(conn: &mut Conn, router: Uuid) -> StoreResult<()> {
    for (status, condition) in [
        ("ACTIVE", "EXISTS (SELECT 1 FROM ipsec_site_connections c WHERE c.vpnservice_id = vpnservices.id AND c.status = 'ACTIVE')"),
        (
            "DOWN",
            "NOT EXISTS (SELECT 1 FROM ipsec_site_connections c WHERE c.vpnservice_id = vpnservices.id AND c.status = 'ACTIVE') \
             AND EXISTS (SELECT 1 FROM ipsec_site_connections c WHERE c.vpnservice_id = vpnservices.id AND c.status IN ('DOWN', 'ERROR'))",
        ),
    ] {
        let sql = format!("UPDATE vpnservices SET status = '{status}' WHERE router_id = $1 AND {condition}");
        execute(conn, &sql, &[router.to_string().into()]).await?;
    }
    Ok(())
}

/// The routers whose agent's last heartbeat is older than `cutoff` (microseconds).
pub async fn silent_routers(conn: &mut Conn, cutoff: i64) -> StoreResult<Vec<String>> {
    ids(conn, "SELECT router_id FROM gateway_agents WHERE last_seen < $1", &[cutoff.into()]).await
}

/// A connection shown DOWN because its gateway fell silent: its id and project, for the
/// notification of its change of status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silenced {
    pub id: String,
    pub project_id: String,
}

/// Shows the ACTIVE services and connections of routers silent since `cutoff` as DOWN
/// (since `now`, because the gateway is silent: ADR 0018); returns the connections that changed.
/// `lock` is the write's row-lock clause ([`super::WriteTx::lock_clause`]).
pub async fn mark_silent_down(conn: &mut Conn, lock: &str, cutoff: i64, now: i64) -> StoreResult<Vec<Silenced>> {
    let dead =
        "SELECT s.id FROM vpnservices s JOIN gateway_agents g ON g.router_id = s.router_id WHERE g.last_seen < $1";
    silence(conn, lock, dead, &[cutoff.into()], now).await
}

/// Shows the ACTIVE connections of the services that `services` selects (with `values`) DOWN
/// since `now` with the reason `gateway_silent`, and the services DOWN. The connections are
/// read and locked first, then exactly those change: another replica's sweep waits for the
/// lock, finds them DOWN and reports nothing, so each change is announced once.
pub(super) async fn silence(
    conn: &mut Conn,
    lock: &str,
    services: &str,
    values: &[Value],
    now: i64,
) -> StoreResult<Vec<Silenced>> {
    let sql = format!(
        "SELECT id, project_id FROM ipsec_site_connections \
         WHERE status = 'ACTIVE' AND vpnservice_id IN ({services}) ORDER BY id{lock}"
    );
    let rows = fetch_all(conn, &sql, values).await?;
    let changed: Vec<Silenced> =
        rows.iter().map(|r| Ok(Silenced { id: r.get(0)?, project_id: r.get(1)? })).collect::<StoreResult<_>>()?;
    for chunk in changed.chunks(500) {
        let mut ids: Vec<Value> = vec![now.into(), "gateway_silent".into()];
        ids.extend(chunk.iter().map(|c| c.id.as_str().into()));
        let sql = format!(
            "UPDATE ipsec_site_connections SET status = 'DOWN', status_since = $1, down_reason = $2 \
             WHERE id IN ({})",
            marks(chunk.len(), 3)
        );
        execute(conn, &sql, &ids).await?;
    }
    silent_reason(conn, services, values).await?;
    execute(
        conn,
        &format!("UPDATE vpnservices SET status = 'DOWN' WHERE status = 'ACTIVE' AND id IN ({services})"),
        values,
    )
    .await?;
    Ok(changed)
}

/// The connections of silent gateways that were already DOWN are so because of the silence now.
pub(super) async fn silent_reason(conn: &mut Conn, services: &str, values: &[Value]) -> StoreResult<()> {
    execute(
        conn,
        &format!(
            "UPDATE ipsec_site_connections SET down_reason = 'gateway_silent' \
             WHERE status = 'DOWN' AND vpnservice_id IN ({services})"
        ),
        values,
    )
    .await?;
    Ok(())
}

/// The VPN services on a router.
pub async fn services_of_router(conn: &mut Conn, router: Uuid) -> StoreResult<Vec<VpnService>> {
    select(conn, "router_id = $1", &[router.to_string().into()]).await
}

/// The connections of a VPN service.
pub async fn connections_of_service(conn: &mut Conn, service: Uuid) -> StoreResult<Vec<SiteConnection>> {
    select(conn, "vpnservice_id = $1", &[service.to_string().into()]).await
}

// ------------------------------------------------------------------ active/standby pairs

/// The members of one service's pair of endpoint groups, oldest first: (id, stands by).
pub async fn pair_members(conn: &mut Conn, service: Uuid, local: Uuid, peer: Uuid) -> StoreResult<Vec<(String, bool)>> {
    let rows = fetch_all(
        conn,
        "SELECT id, ha_standby FROM ipsec_site_connections \
         WHERE vpnservice_id = $1 AND local_ep_group_id = $2 AND peer_ep_group_id = $3 ORDER BY created_at, id",
        &[service.to_string().into(), local.to_string().into(), peer.to_string().into()],
    )
    .await?;
    rows.iter().map(|r| Ok((r.get::<String>(0)?, r.get::<i64>(1)? != 0))).collect::<StoreResult<_>>()
}

/// A connection's place in a pair, as a status report about one revision of it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairPlace {
    pub service: Uuid,
    pub local: Uuid,
    pub peer: Uuid,
    pub standby: bool,
    /// When it took its role (microseconds).
    pub since: i64,
}

/// Where revision `revision` of connection `id` stands, if it is that revision and uses
/// endpoint groups (only those can pair).
pub async fn pair_place(conn: &mut Conn, id: Uuid, revision: i64) -> StoreResult<Option<PairPlace>> {
    let rows = fetch_all(
        conn,
        "SELECT vpnservice_id, local_ep_group_id, peer_ep_group_id, ha_standby, ha_since \
         FROM ipsec_site_connections WHERE id = $1 AND revision_number = $2",
        &[id.to_string().into(), revision.into()],
    )
    .await?;
    let Some(row) = rows.first() else { return Ok(None) };
    let uuid = |text: String| Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()));
    let (Some(local), Some(peer)) = (row.get::<Option<String>>(1)?, row.get::<Option<String>>(2)?) else {
        return Ok(None);
    };
    Ok(Some(PairPlace {
        service: uuid(row.get(0)?)?,
        local: uuid(local)?,
        peer: uuid(peer)?,
        standby: row.get::<i64>(3)? != 0,
        since: row.get(4)?,
    }))
}

/// Sets whether a connection stands by, leaving when it took the role as it is.
pub async fn set_standby(conn: &mut Conn, id: &str, standby: bool) -> StoreResult<()> {
    execute(conn, "UPDATE ipsec_site_connections SET ha_standby = $1 WHERE id = $2", &[standby.into(), id.into()])
        .await?;
    Ok(())
}

/// Starts the role clock of the members of a pair that have none yet.
pub async fn start_role_clocks(conn: &mut Conn, service: Uuid, local: Uuid, peer: Uuid, now: i64) -> StoreResult<()> {
    execute(
        conn,
        "UPDATE ipsec_site_connections SET ha_since = $4 \
         WHERE vpnservice_id = $1 AND local_ep_group_id = $2 AND peer_ep_group_id = $3 AND ha_since = 0",
        &[service.to_string().into(), local.to_string().into(), peer.to_string().into(), now.into()],
    )
    .await?;
    Ok(())
}

/// Swaps a pair's roles: `failed` stands by, `partner` becomes active, both since `now`.
pub async fn swap_roles(conn: &mut Conn, failed: Uuid, partner: Uuid, now: i64) -> StoreResult<()> {
    let swap = "UPDATE ipsec_site_connections SET ha_standby = $1, ha_since = $2 WHERE id = $3";
    execute(conn, swap, &[true.into(), now.into(), failed.to_string().into()]).await?;
    execute(conn, swap, &[false.into(), now.into(), partner.to_string().into()]).await?;
    Ok(())
}
