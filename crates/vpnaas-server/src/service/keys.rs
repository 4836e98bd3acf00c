//! Re-sealing stored pre-shared keys: after a key is added (`vpnaas rotate-key`), and at
//! startup for rows from before keys were sealed.

use uuid::Uuid;
use vpnaas_core::values::Psk;

use crate::error::{Error, Result};
use crate::secrets::{is_sealed, KeyRing};
use crate::store::psk::Sealed;
use crate::store::{self, Store};

/// Rows re-sealed per transaction, so a rotation never holds the writer for long.
const BATCH: usize = 500;

/// Seals every stored pre-shared key and certificate private key that is not sealed with
/// the current key: rows written before keys were sealed, and (after a new key was added)
/// rows sealed with older keys. Each row is rewritten only if it still holds what was read.
/// Returns how many changed.
pub async fn reseal(store: &Store, keys: &KeyRing) -> Result<usize> {
    Ok(reseal_column(store, keys, Sealed::Psk).await? + reseal_column(store, keys, Sealed::PrivateKey).await?)
}

async fn reseal_column(store: &Store, keys: &KeyRing, what: Sealed) -> Result<usize> {
    let mut changed = 0;
    // Keyset batches: each transaction reads the next BATCH rows by id.
    let mut after = String::new();
    loop {
        let mut w = store.begin_write().await?;
        let rows = store::psk::batch(w.conn(), what, &after, BATCH).await?;
        if rows.is_empty() {
            w.commit().await?;
            return Ok(changed);
        }
        for (id, old) in rows {
            if is_sealed(&old) && keys.is_current(&old) {
                after = id;
                continue;
            }
            let uuid = Uuid::parse_str(&id).map_err(|_| Error::Internal(format!("row id {id:?} is not a UUID")))?;
            let new = match what {
                Sealed::Psk => {
                    let clear = if is_sealed(&old) {
                        keys.open_value(&old, uuid)?
                    } else {
                        Psk::from_stored(&old).map_err(|e| Error::Secret(format!("connection {id}: {e}")))?
                    };
                    keys.seal(&clear, uuid)?
                }
                // Private keys were sealed from the start; only a rotation re-seals them.
                Sealed::PrivateKey => {
                    let clear = keys.open_key(&old, uuid)?;
                    keys.seal_key(&clear, uuid)?
                }
            };
            if store::psk::replace(w.conn(), what, &id, &old, &new).await? {
                changed += 1;
            }
            after = id;
        }
        w.commit().await?;
    }
}

/// Opens every sealed pre-shared key and private key with `keys`, as a restored database must
/// allow: returns how many opened and the ids of the keys they were sealed with, or the first
/// that does not open (its error names the connection or certificate and the key).
pub async fn check(store: &Store, keys: &KeyRing) -> Result<(usize, std::collections::BTreeSet<String>)> {
    let (mut opened, mut key_ids) = (0, std::collections::BTreeSet::new());
    for what in [Sealed::Psk, Sealed::PrivateKey] {
        let mut after = String::new();
        loop {
            let mut r = store.begin_read().await?;
            let rows = store::psk::batch(&mut r, what, &after, BATCH).await?;
            r.commit().await?;
            if rows.is_empty() {
                break;
            }
            for (id, sealed) in rows {
                let uuid = Uuid::parse_str(&id).map_err(|_| Error::Internal(format!("row id {id:?} is not a UUID")))?;
                if let Some(key_id) = crate::secrets::key_id_of(&sealed) {
                    match what {
                        Sealed::Psk => drop(keys.open_value(&sealed, uuid)?),
                        Sealed::PrivateKey => drop(keys.open_key(&sealed, uuid)?),
                    }
                    key_ids.insert(key_id.to_owned());
                    opened += 1;
                }
                after = id;
            }
        }
    }
    Ok((opened, key_ids))
}
