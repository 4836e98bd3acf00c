//! Online copies of a SQLite database (`vpnaas backup`): `VACUUM INTO` on a connection of its
//! own reads one snapshot of the database while the server goes on writing (WAL), and writes a
//! compact, self-contained database file.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::StoreResult;

/// Copies the database at `source` into the new file `target`, as of one moment: every
/// transaction committed before the copy began is in it, none that began after.
pub fn vacuum_into(source: &Path, target: &Path) -> StoreResult<()> {
    let conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    // A writer's checkpoint may hold the file for a moment; wait for it rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let target = target.to_string_lossy().into_owned();
    conn.execute("VACUUM INTO ?1", [target])?;
    Ok(())
}

/// The rows of each resource table in the database at `path`, and its schema version.
pub fn summary(path: &Path) -> StoreResult<(i64, Vec<(&'static str, i64)>)> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let schema: i64 = conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    let mut rows = Vec::new();
    for table in RESOURCE_TABLES {
        let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
        rows.push((table, n));
    }
    Ok((schema, rows))
}

/// The tables of the API's resources, as a backup's summary names them.
const RESOURCE_TABLES: [&str; 8] = [
    "routers",
    "subnets",
    "ikepolicies",
    "ipsecpolicies",
    "vpnservices",
    "endpoint_groups",
    "ipsec_site_connections",
    "certificates",
];
