//! The statements of re-sealing: pre-shared keys read in keyset batches and replaced only
//! where they still hold what was read.

use super::{execute, fetch_all, Conn, StoreResult};

/// Up to `limit` (connection id, stored psk) pairs with ids after `after`, in id order.
pub async fn psk_batch(conn: &mut Conn, after: &str, limit: usize) -> StoreResult<Vec<(String, String)>> {
    let sql = format!("SELECT id, psk FROM ipsec_site_connections WHERE id > $1 ORDER BY id LIMIT {limit}");
    let rows = fetch_all(conn, &sql, &[after.into()]).await?;
    rows.iter().map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?))).collect::<StoreResult<_>>()
}

/// Replaces a connection's stored psk if it still is `old`; returns whether it did.
pub async fn replace_psk(conn: &mut Conn, id: &str, old: &str, new: &str) -> StoreResult<bool> {
    let sql = "UPDATE ipsec_site_connections SET psk = $1 WHERE id = $2 AND psk = $3";
    Ok(execute(conn, sql, &[new.into(), id.into(), old.into()]).await? > 0)
}
