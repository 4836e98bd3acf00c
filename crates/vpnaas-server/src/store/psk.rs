//! The statements of re-sealing: pre-shared keys and certificates' private keys read in
//! keyset batches and replaced only where they still hold what was read.

use super::{execute, fetch_all, Conn, StoreResult};
use vpnaas_core::wire;

/// A sealed column: connections' pre-shared keys or certificates' private keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    Psk,
    PrivateKey,
}

impl Sealed {
    fn table_and_column(self) -> (&'static str, &'static str) {
        match self {
            Sealed::Psk => ("ipsec_site_connections", wire::PSK),
            Sealed::PrivateKey => ("certificates", wire::PRIVATE_KEY),
        }
    }
}

/// Up to `limit` (row id, stored value) pairs with ids after `after`, in id order; a
/// certificate connection's empty `psk` is not one.
pub async fn batch(conn: &mut Conn, what: Sealed, after: &str, limit: usize) -> StoreResult<Vec<(String, String)>> {
    let (table, column) = what.table_and_column();
    let sql = format!("SELECT id, {column} FROM {table} WHERE id > $1 AND {column} <> '' ORDER BY id LIMIT {limit}");
    let rows = fetch_all(conn, &sql, &[after.into()]).await?;
    rows.iter().map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?))).collect::<StoreResult<_>>()
}

/// Replaces a row's stored value if it still is `old`; returns whether it did.
pub async fn replace(conn: &mut Conn, what: Sealed, id: &str, old: &str, new: &str) -> StoreResult<bool> {
    let (table, column) = what.table_and_column();
    let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3");
    Ok(execute(conn, &sql, &[new.into(), id.into(), old.into()]).await? > 0)
}
