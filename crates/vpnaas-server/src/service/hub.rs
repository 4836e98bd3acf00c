//! What this server knows of the change markers (ADR 0011): the newest `seq` of every router
//! and host, the waiters to wake when one moves, and each router's desired state built once
//! per `seq`.
//!
//! Writes through this server publish their markers after commit; other replicas' writes
//! arrive through [`Hub::catch_up`], which the server runs every [`CATCH_UP_EVERY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;
use vpnaas_core::contract::GatewayState;

use crate::store::markers::{self, Marked};
use crate::store::{Store, StoreResult};

/// How often a server reads the markers other replicas wrote.
pub const CATCH_UP_EVERY: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Inner {
    /// The newest `seq` read from the database: every marker up to it is known here (markers
    /// commit in `seq` order, so none below it can still appear). Cursors handed to agents.
    polled: i64,
    routers: HashMap<Uuid, i64>,
    hosts: HashMap<String, i64>,
    /// Waiters on one router, or on any router of a host (the value is the newest seq).
    router_waiters: HashMap<Uuid, watch::Sender<i64>>,
    host_waiters: HashMap<String, watch::Sender<i64>>,
    /// Desired states, each with the router `seq` it was built at; kept only for routers
    /// someone waits on (a waiting agent asks again after every change), so memory follows
    /// the waiters, not the fleet.
    built: HashMap<Uuid, (i64, Arc<GatewayState>)>,
    /// Waiter maps are swept of channels nobody listens to once they grow past this.
    sweep_at: usize,
}

/// The smallest waiter map worth sweeping.
const SWEEP_FLOOR: usize = 1024;

impl Inner {
    /// Drops channels (and built states) nobody waits on, when the maps have doubled since
    /// the last sweep: amortised O(1) per new waiter, not a scan of the fleet per poll.
    fn sweep(&mut self) {
        let size = self.router_waiters.len() + self.host_waiters.len();
        if size < self.sweep_at.max(SWEEP_FLOOR) {
            return;
        }
        self.router_waiters.retain(|_, tx| tx.receiver_count() > 0);
        self.host_waiters.retain(|_, tx| tx.receiver_count() > 0);
        let waited: &HashMap<Uuid, watch::Sender<i64>> = &self.router_waiters;
        self.built.retain(|router, _| waited.contains_key(router));
        self.sweep_at = 2 * (self.router_waiters.len() + self.host_waiters.len());
    }
}

/// The markers, waiters and built states of one server.
#[derive(Default)]
pub struct Hub(Mutex<Inner>);

impl Hub {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters (each entry is written whole), so a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads every marker (at start).
    pub async fn load(&self, store: &Store) -> StoreResult<()> {
        self.catch_up(store).await.map(|_| ())
    }

    /// Reads the markers newer than the newest this server has seen, and wakes their
    /// waiters; returns how many there were. One index probe when nothing changed.
    pub async fn catch_up(&self, store: &Store) -> StoreResult<usize> {
        let after = self.last_seq();
        let mut tx = store.begin_gateway_read().await?;
        let changes = markers::since(&mut tx, after).await?;
        tx.commit().await?;
        for m in &changes {
            self.publish(m);
        }
        if let Some(newest) = changes.iter().map(|m| m.seq).max() {
            let mut inner = self.lock();
            inner.polled = inner.polled.max(newest);
        }
        Ok(changes.len())
    }

    /// Records what a committed transaction marked and wakes whoever waits on it. It does
    /// not move [`Hub::last_seq`]: only reading the database proves nothing older is missing.
    pub fn publish(&self, m: &Marked) {
        if m.routers.is_empty() && m.hosts.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for (router, host) in &m.routers {
            let seq = inner.routers.entry(*router).or_default();
            *seq = (*seq).max(m.seq);
            if let Some(tx) = inner.router_waiters.get(router) {
                tx.send_replace(m.seq);
            }
            if let Some(tx) = host.as_ref().and_then(|h| inner.host_waiters.get(h)) {
                tx.send_replace(m.seq);
            }
        }
        for host in &m.hosts {
            let seq = inner.hosts.entry(host.clone()).or_default();
            *seq = (*seq).max(m.seq);
            if let Some(tx) = inner.host_waiters.get(host) {
                tx.send_replace(m.seq);
            }
        }
    }

    /// Every marker up to this one is known here.
    pub fn last_seq(&self) -> i64 {
        self.lock().polled
    }

    pub fn router_seq(&self, router: Uuid) -> i64 {
        self.lock().routers.get(&router).copied().unwrap_or(0)
    }

    pub fn host_seq(&self, host: &str) -> i64 {
        self.lock().hosts.get(host).copied().unwrap_or(0)
    }

    /// A receiver that changes when `router` is marked.
    pub fn watch_router(&self, router: Uuid) -> watch::Receiver<i64> {
        let mut inner = self.lock();
        inner.sweep();
        inner.router_waiters.entry(router).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// A receiver that changes when a router placed on `host`, or the host's placement, is marked.
    pub fn watch_host(&self, host: &str) -> watch::Receiver<i64> {
        let mut inner = self.lock();
        inner.sweep();
        inner.host_waiters.entry(host.to_owned()).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// How many waiters are registered (for tests and metrics).
    pub fn waiters(&self) -> usize {
        let inner = self.lock();
        inner.router_waiters.values().map(watch::Sender::receiver_count).sum::<usize>()
            + inner.host_waiters.values().map(watch::Sender::receiver_count).sum::<usize>()
    }

    /// The state built at `seq`, if it is still the newest.
    pub fn built(&self, router: Uuid, seq: i64) -> Option<Arc<GatewayState>> {
        self.lock().built.get(&router).filter(|(at, _)| *at == seq).map(|(_, s)| s.clone())
    }

    /// Keeps a state built at `seq` (the router's seq read before building), if somebody
    /// waits on the router.
    pub fn keep(&self, router: Uuid, seq: i64, state: Arc<GatewayState>) {
        let mut inner = self.lock();
        let waited = inner.router_waiters.get(&router).is_some_and(|tx| tx.receiver_count() > 0);
        if !waited {
            inner.built.remove(&router);
            return;
        }
        match inner.built.get(&router) {
            Some((at, _)) if *at > seq => {}
            _ => {
                inner.built.insert(router, (seq, state));
            }
        }
    }

    /// Forgets a router's built state (it is gone).
    pub fn forget(&self, router: Uuid) {
        self.lock().built.remove(&router);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(seq: i64, router: Uuid, host: Option<&str>) -> Marked {
        Marked { seq, routers: vec![(router, host.map(str::to_owned))], hosts: vec![] }
    }

    #[test]
    fn a_marker_wakes_the_router_and_its_host_and_nobody_else() {
        let hub = Hub::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ra = hub.watch_router(a);
        let mut rb = hub.watch_router(b);
        let mut h1 = hub.watch_host("h1");
        let mut h2 = hub.watch_host("h2");
        hub.publish(&marked(7, a, Some("h1")));
        assert!(ra.has_changed().unwrap() && h1.has_changed().unwrap());
        assert!(!rb.has_changed().unwrap() && !h2.has_changed().unwrap());
        assert_eq!((hub.router_seq(a), hub.router_seq(b)), (7, 0));
        assert_eq!(hub.last_seq(), 0, "only what was read from the database moves the cursor");
        // A placement change wakes the host it leaves.
        hub.publish(&Marked { seq: 8, routers: vec![(a, Some("h2".into()))], hosts: vec!["h1".into(), "h2".into()] });
        assert_eq!((*h1.borrow_and_update(), *h2.borrow_and_update()), (8, 8));
        assert_eq!(*ra.borrow_and_update(), 8);
        let _ = rb.borrow_and_update();
        assert_eq!(hub.waiters(), 4);
    }

    #[test]
    fn a_state_is_kept_for_its_seq_only_and_never_replaced_by_an_older_build() {
        let hub = Hub::default();
        let r = Uuid::new_v4();
        let _waiter = hub.watch_router(r);
        let state = |v: &str| Arc::new(GatewayState { router_id: r, version: v.into(), connections: vec![] });
        hub.keep(r, 3, state("three"));
        assert_eq!(hub.built(r, 3).map(|s| s.version.clone()), Some("three".into()));
        assert!(hub.built(r, 4).is_none());
        hub.keep(r, 5, state("five"));
        hub.keep(r, 4, state("four"));
        assert_eq!(hub.built(r, 5).map(|s| s.version.clone()), Some("five".into()));
        // Nobody waits on another router: its state is not kept.
        let other = Uuid::new_v4();
        hub.keep(other, 1, state("one"));
        assert!(hub.built(other, 1).is_none());
    }

    #[test]
    fn waiters_that_left_are_swept_once_the_maps_have_grown() {
        let hub = Hub::default();
        let gone: Vec<_> = (0..SWEEP_FLOOR).map(|_| hub.watch_router(Uuid::new_v4())).collect();
        drop(gone);
        let kept = hub.watch_router(Uuid::new_v4());
        assert_eq!(hub.lock().router_waiters.len(), 1, "the sweep dropped the channels nobody listens to");
        assert_eq!(hub.waiters(), 1);
        drop(kept);
    }
}
