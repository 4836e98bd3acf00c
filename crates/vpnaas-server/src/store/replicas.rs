//! The replicas sharing the database, each saying which release and schema it runs (ADR 0033):
//! what `vpnaas migrate --contract` checks before it removes anything.

use super::{execute, fetch_all, Conn, StoreResult};

/// A replica heard from: its id, release, the schema version it expects, when it was last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub id: String,
    pub release: String,
    pub schema_version: i64,
    pub last_seen: i64,
}

/// Records that the replica `id` runs `release` expecting `schema_version`, now.
pub async fn register(conn: &mut Conn, id: &str, release: &str, schema_version: i64, now: i64) -> StoreResult<()> {
    execute(
        conn,
        "INSERT INTO replicas (id, release_name, schema_version, started_at, last_seen) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (id) DO UPDATE SET last_seen = $4",
        &[id.into(), release.into(), schema_version.into(), now.into()],
    )
    .await?;
    Ok(())
}

/// Forgets the replica `id` (it stopped cleanly).
pub async fn forget(conn: &mut Conn, id: &str) -> StoreResult<()> {
    execute(conn, "DELETE FROM replicas WHERE id = $1", &[id.into()]).await?;
    Ok(())
}

/// The replicas heard from at or after `since` (microseconds).
pub async fn heard_since(conn: &mut Conn, since: i64) -> StoreResult<Vec<Replica>> {
    let rows = fetch_all(
        conn,
        "SELECT id, release_name, schema_version, last_seen FROM replicas WHERE last_seen >= $1 ORDER BY id",
        &[since.into()],
    )
    .await?;
    rows.iter()
        .map(|r| Ok(Replica { id: r.get(0)?, release: r.get(1)?, schema_version: r.get(2)?, last_seen: r.get(3)? }))
        .collect()
}
