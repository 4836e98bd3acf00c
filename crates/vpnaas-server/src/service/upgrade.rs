//! Upgrades (ADR 0033): each replica says in the database which release and schema it runs,
//! and `vpnaas migrate --contract` refuses while a replica of an older release still serves.

use std::time::Duration;

use crate::clock::now_micros;
use crate::error::Result;
use crate::store::replicas::{self, Replica};
use crate::store::{self, Applied, Phase, Store};

/// How often a serving replica says it is alive.
pub const REPLICA_EVERY: Duration = Duration::from_secs(10);

/// A replica not heard from for this long is taken as gone (three missed reports).
const REPLICA_GONE_AFTER: Duration = Duration::from_secs(30);

/// Records that the replica `id` runs this release, now.
pub async fn register_replica(store: &Store, id: &str) -> Result<()> {
    let mut w = store.begin_write().await?;
    replicas::register(w.conn(), id, env!("CARGO_PKG_VERSION"), store::schema_version(), now_micros()).await?;
    Ok(w.commit().await?)
}

/// Forgets the replica `id`: it stops.
pub async fn forget_replica(store: &Store, id: &str) -> Result<()> {
    let mut w = store.begin_write().await?;
    replicas::forget(w.conn(), id).await?;
    Ok(w.commit().await?)
}

/// What `vpnaas migrate --contract` did: the steps it applied, or the replicas that still run
/// a release older than its first pending contract step.
pub enum Contracted {
    Applied(Applied),
    Refused { step: i64, old: Vec<Replica> },
}

/// Applies the pending contract steps (and any expand and data steps before them), unless a replica
/// heard from in the last 30 s expects a schema older than the first of them.
pub async fn contract(store: &Store) -> Result<Contracted> {
    let (_, pending) = store.schema_status().await?;
    let Some(step) = pending.iter().find(|(_, p)| *p == Phase::Contract).map(|(v, _)| *v) else {
        return Ok(Contracted::Applied(store.migrate_to(Phase::Contract).await?));
    };
    let old = older_than(live_replicas(store).await?, step);
    if !old.is_empty() {
        return Ok(Contracted::Refused { step, old });
    }
    Ok(Contracted::Applied(store.migrate_to(Phase::Contract).await?))
}

/// The replicas heard from in the last 30 s.
pub async fn live_replicas(store: &Store) -> Result<Vec<Replica>> {
    let since = now_micros() - i64::try_from(REPLICA_GONE_AFTER.as_micros()).unwrap_or(i64::MAX);
    let mut r = store.begin_read().await?;
    let heard = replicas::heard_since(&mut r, since).await?;
    r.commit().await?;
    Ok(heard)
}

/// The replicas that do not know schema version `step`: their release predates it.
fn older_than(live: Vec<Replica>, step: i64) -> Vec<Replica> {
    live.into_iter().filter(|r| r.schema_version < step).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(id: &str, schema_version: i64) -> Replica {
        Replica { id: id.into(), release: format!("r{schema_version}"), schema_version, last_seen: 1 }
    }

    /// A contract step is refused by every live replica of a release that predates it, and by
    /// none that knows it.
    #[test]
    fn a_contract_step_waits_for_every_replica_that_predates_it() {
        let live = vec![replica("old", 8), replica("new", 9), replica("newer", 10)];
        assert_eq!(older_than(live.clone(), 9), vec![replica("old", 8)]);
        assert!(older_than(live, 8).is_empty());
    }

    /// A serving replica is listed, with its release and schema, and forgotten when it stops;
    /// one not heard from for 30 s is not listed.
    #[tokio::test]
    async fn replicas_are_listed_while_they_report_and_forgotten_when_they_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("r.db"), store::PoolSettings::default()).await.unwrap();
        store.migrate().await.unwrap();
        register_replica(&store, "a").await.unwrap();
        let mut w = store.begin_write().await.unwrap();
        replicas::register(w.conn(), "gone", "0.0.1", 1, now_micros() - 31_000_000).await.unwrap();
        w.commit().await.unwrap();
        let live = live_replicas(&store).await.unwrap();
        assert_eq!(live.len(), 1, "{live:?}");
        assert_eq!((live[0].id.as_str(), live[0].schema_version), ("a", store::schema_version()));
        assert_eq!(live[0].release, env!("CARGO_PKG_VERSION"));
        forget_replica(&store, "a").await.unwrap();
        assert!(live_replicas(&store).await.unwrap().is_empty());
    }
}
