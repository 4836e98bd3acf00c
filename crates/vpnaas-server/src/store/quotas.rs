//! The statements behind quotas: a project's own limits (`quotas`), what it holds, and the
//! row a create locks while it counts (`quota_locks`).

use vpnaas_core::quota::{Counted, Limit};

use super::{execute, fetch_all, Backend, Conn, StoreError, StoreResult, WriteTx};

/// The table whose rows a counted resource is.
fn table(what: Counted) -> &'static str {
    match what {
        Counted::IkePolicy => "ikepolicies",
        Counted::IpsecPolicy => "ipsecpolicies",
        Counted::VpnService => "vpnservices",
        Counted::EndpointGroup => "endpoint_groups",
        Counted::SiteConnection => "ipsec_site_connections",
        Counted::Certificate => "certificates",
    }
}

/// A stored limit back into its type; a row this release cannot read is corrupt.
fn limit_of(resource: &str, hard_limit: i64) -> StoreResult<(Counted, Limit)> {
    let what = Counted::from_key(resource)
        .ok_or_else(|| StoreError::Corrupt(format!("quota for an unknown resource {resource:?}")))?;
    let limit = Limit::parse(resource, hard_limit).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((what, limit))
}

/// The limits set for `project` (the rest are the defaults).
pub async fn of_project(conn: &mut Conn, project: &str) -> StoreResult<Vec<(Counted, Limit)>> {
    let rows =
        fetch_all(conn, "SELECT resource, hard_limit FROM quotas WHERE project_id = $1", &[project.into()]).await?;
    rows.iter().map(|r| limit_of(&r.get::<String>(0)?, r.get(1)?)).collect()
}

/// The limit set for `project` on `what`, if one is.
pub async fn of(conn: &mut Conn, project: &str, what: Counted) -> StoreResult<Option<Limit>> {
    let sql = "SELECT resource, hard_limit FROM quotas WHERE project_id = $1 AND resource = $2";
    let rows = fetch_all(conn, sql, &[project.into(), what.key().into()]).await?;
    rows.first().map(|r| Ok(limit_of(&r.get::<String>(0)?, r.get(1)?)?.1)).transpose()
}

/// Every project with a limit of its own, and those limits, by project.
pub async fn all(conn: &mut Conn) -> StoreResult<Vec<(String, Counted, Limit)>> {
    let rows =
        fetch_all(conn, "SELECT project_id, resource, hard_limit FROM quotas ORDER BY project_id, resource", &[])
            .await?;
    rows.iter()
        .map(|r| {
            let (what, limit) = limit_of(&r.get::<String>(1)?, r.get(2)?)?;
            Ok((r.get::<String>(0)?, what, limit))
        })
        .collect()
}

/// Sets `project`'s limit on `what`.
pub async fn set(conn: &mut Conn, project: &str, what: Counted, limit: Limit) -> StoreResult<()> {
    let sql = "INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3) \
               ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = $3";
    execute(conn, sql, &[project.into(), what.key().into(), limit.wire().into()]).await?;
    Ok(())
}

/// Removes `project`'s own limits (the defaults apply again); says how many there were.
pub async fn clear(conn: &mut Conn, project: &str) -> StoreResult<u64> {
    execute(conn, "DELETE FROM quotas WHERE project_id = $1", &[project.into()]).await
}

/// How many of `what` `project` holds.
pub async fn used(conn: &mut Conn, project: &str, what: Counted) -> StoreResult<u64> {
    let sql = format!("SELECT COUNT(*) FROM {} WHERE project_id = $1", table(what));
    let rows = fetch_all(conn, &sql, &[project.into()]).await?;
    let n: i64 = rows.first().map(|r| r.get(0)).transpose()?.unwrap_or(0);
    Ok(n.unsigned_abs())
}

/// How many of `what` each project holds, for projects holding any.
pub async fn used_by_project(conn: &mut Conn, what: Counted) -> StoreResult<Vec<(String, u64)>> {
    let sql = format!("SELECT project_id, COUNT(*) FROM {} GROUP BY project_id", table(what));
    let rows = fetch_all(conn, &sql, &[]).await?;
    rows.iter().map(|r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?.unsigned_abs()))).collect()
}

/// Makes concurrent creates of `project` count one after another until `w` ends, so that a
/// limit holds however many replicas and connections create at once: the project's row of
/// `quota_locks` is made if missing, then locked (`FOR UPDATE`). A second create waits on
/// the lock and, reading committed rows, counts the first one's. SQLite's one writer already
/// runs writes one at a time.
pub async fn lock_project(w: &mut WriteTx, project: &str) -> StoreResult<()> {
    if w.backend == Backend::Sqlite {
        return Ok(());
    }
    let lock = w.lock_clause();
    let conn = w.conn();
    let sql = "INSERT INTO quota_locks (project_id) VALUES ($1) ON CONFLICT (project_id) DO NOTHING";
    execute(conn, sql, &[project.into()]).await?;
    fetch_all(conn, &format!("SELECT project_id FROM quota_locks WHERE project_id = $1{lock}"), &[project.into()])
        .await?;
    Ok(())
}
