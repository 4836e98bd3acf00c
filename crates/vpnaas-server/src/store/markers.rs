//! Change markers (ADR 0011): which routers and hosts changed, in commit order, and the
//! hosts' batched heartbeats.

use uuid::Uuid;

use super::{execute, fetch_all, ids, Conn, StoreError, StoreResult, Value};

/// What one transaction marked: the sequence number it took, each router with the host it
/// is placed on now, and the hosts whose placement changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marked {
    pub seq: i64,
    pub routers: Vec<(Uuid, Option<String>)>,
    pub hosts: Vec<String>,
}

/// Records that `routers` (and the placement of `hosts`) changed. Call it last in the
/// transaction: on PostgreSQL it holds the counter row's lock until commit, which is what
/// makes markers commit in `seq` order.
pub async fn mark(conn: &mut Conn, routers: &[Uuid], hosts: &[String]) -> StoreResult<Marked> {
    if routers.is_empty() && hosts.is_empty() {
        return Ok(Marked::default());
    }
    let rows = if conn.is_mariadb() {
        // No `UPDATE ... RETURNING` on MariaDB: the session's LAST_INSERT_ID carries the value.
        execute(conn, "UPDATE gateway_seq SET n = LAST_INSERT_ID(n + 1) WHERE id = 1", &[]).await?;
        fetch_all(conn, "SELECT CAST(LAST_INSERT_ID() AS BIGINT)", &[]).await?
    } else {
        fetch_all(conn, "UPDATE gateway_seq SET n = n + 1 WHERE id = 1 RETURNING n", &[]).await?
    };
    let seq: i64 = rows.first().ok_or_else(|| StoreError::Corrupt("gateway_seq has no row".into()))?.get(0)?;
    let mut marked = Marked { seq, routers: Vec::with_capacity(routers.len()), hosts: hosts.to_vec() };
    for router in routers {
        let id = router.to_string();
        let found = fetch_all(conn, "SELECT host FROM routers WHERE id = $1", &[id.clone().into()]).await?;
        let host: Option<String> = match found.first() {
            Some(row) => row.get(0)?,
            None => None,
        };
        execute(
            conn,
            "INSERT INTO router_changes (router_id, seq, host) VALUES ($1, $2, $3) \
             ON CONFLICT (router_id) DO UPDATE SET seq = $2, host = $3",
            &[id.into(), seq.into(), Value::OptText(host.clone())],
        )
        .await?;
        marked.routers.push((*router, host));
    }
    for host in hosts {
        execute(
            conn,
            "INSERT INTO host_changes (host, seq) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET seq = $2",
            &[host.as_str().into(), seq.into()],
        )
        .await?;
    }
    Ok(marked)
}

/// Every marker newer than `after`, routers and hosts, as one [`Marked`] per `seq`, oldest
/// first. One statement, so one snapshot: on PostgreSQL (read committed) two statements could
/// see a commit's host marker and miss its router markers.
pub async fn since(conn: &mut Conn, after: i64) -> StoreResult<Vec<Marked>> {
    let mut by_seq: std::collections::BTreeMap<i64, Marked> = std::collections::BTreeMap::new();
    let rows = fetch_all(
        conn,
        "SELECT 'r', router_id, seq, host FROM router_changes WHERE seq > $1 \
         UNION ALL SELECT 'h', host, seq, CAST(NULL AS VARCHAR(255)) FROM host_changes WHERE seq > $1",
        &[after.into()],
    )
    .await?;
    for row in &rows {
        let kind: String = row.get(0)?;
        let key: String = row.get(1)?;
        let seq: i64 = row.get(2)?;
        let m = by_seq.entry(seq).or_insert_with(|| Marked { seq, ..Marked::default() });
        if kind == "r" {
            let router = Uuid::parse_str(&key).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            m.routers.push((router, row.get(3)?));
        } else {
            m.hosts.push(key);
        }
    }
    Ok(by_seq.into_values().collect())
}

/// The newest sequence number taken.
pub async fn current_seq(conn: &mut Conn) -> StoreResult<i64> {
    let rows = fetch_all(conn, "SELECT n FROM gateway_seq WHERE id = 1", &[]).await?;
    Ok(rows.first().map(|r| r.get::<i64>(0)).transpose()?.unwrap_or(0))
}

/// Moves the counter to `n` (copying a database: cursors agents hold stay meaningful).
pub async fn set_seq(conn: &mut Conn, n: i64) -> StoreResult<()> {
    execute(conn, "UPDATE gateway_seq SET n = $1 WHERE id = 1", &[n.into()]).await?;
    Ok(())
}

/// The routers placed on `host`, by id.
pub async fn routers_on_host(conn: &mut Conn, host: &str) -> StoreResult<Vec<Uuid>> {
    ids(conn, "SELECT id FROM routers WHERE host = $1 ORDER BY id", &[host.into()])
        .await?
        .iter()
        .map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// The routers whose connections use the row `id` through `reference` (a policy or a group).
pub async fn routers_using(conn: &mut Conn, reference: super::uses::Reference, id: Uuid) -> StoreResult<Vec<Uuid>> {
    let column = reference
        .column_of_connections()
        .ok_or_else(|| StoreError::Corrupt(format!("{reference:?} is not a column of ipsec_site_connections")))?;
    let sql = format!(
        "SELECT DISTINCT s.router_id FROM vpnservices s JOIN ipsec_site_connections c ON c.vpnservice_id = s.id \
         WHERE c.{column} = $1"
    );
    ids(conn, &sql, &[id.to_string().into()])
        .await?
        .iter()
        .map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// The router a VPN service is on.
pub async fn router_of_service(conn: &mut Conn, service: Uuid) -> StoreResult<Option<Uuid>> {
    let found = ids(conn, "SELECT router_id FROM vpnservices WHERE id = $1", &[service.to_string().into()]).await?;
    found.first().map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}

/// One host's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBeat {
    pub host: String,
    pub version: String,
    /// Microseconds since the epoch.
    pub last_seen: i64,
}

/// Writes a batch of heartbeats (hosts' or, with `router` keys, single-router agents').
pub async fn record_host_beats(conn: &mut Conn, beats: &[HostBeat]) -> StoreResult<()> {
    for b in beats {
        execute(
            conn,
            "INSERT INTO gateway_hosts (host, version, last_seen) VALUES ($1, $2, $3) \
             ON CONFLICT (host) DO UPDATE SET version = $2, last_seen = $3",
            &[b.host.as_str().into(), b.version.as_str().into(), b.last_seen.into()],
        )
        .await?;
    }
    Ok(())
}

/// Every host row (for copying a database).
pub async fn host_beats(conn: &mut Conn) -> StoreResult<Vec<HostBeat>> {
    let rows = fetch_all(conn, "SELECT host, version, last_seen FROM gateway_hosts ORDER BY host", &[]).await?;
    rows.iter()
        .map(|r| Ok(HostBeat { host: r.get(0)?, version: r.get(1)?, last_seen: r.get(2)? }))
        .collect::<StoreResult<_>>()
}

/// The hosts whose last heartbeat is older than `cutoff`.
pub async fn silent_hosts(conn: &mut Conn, cutoff: i64) -> StoreResult<Vec<String>> {
    ids(conn, "SELECT host FROM gateway_hosts WHERE last_seen < $1 ORDER BY host", &[cutoff.into()]).await
}

/// Shows the ACTIVE services and connections on `hosts` DOWN since `now` (the hosts' agent
/// fell silent: ADR 0018); returns the connections that changed. `lock` as for
/// [`super::gateway::mark_silent_down`].
pub async fn mark_hosts_down(
    conn: &mut Conn,
    lock: &str,
    hosts: &[String],
    now: i64,
) -> StoreResult<Vec<super::gateway::Silenced>> {
    let mut changed = Vec::new();
    for chunk in hosts.chunks(500) {
        let values: Vec<Value> = chunk.iter().map(|h| h.as_str().into()).collect();
        let services = format!(
            "SELECT s.id FROM vpnservices s JOIN routers r ON r.id = s.router_id WHERE r.host IN ({})",
            super::marks(chunk.len(), 1)
        );
        changed.extend(super::gateway::silence(conn, lock, &services, &values, now).await?);
    }
    Ok(changed)
}
