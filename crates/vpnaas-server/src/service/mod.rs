//! The service layer: business rules and transactions; every write is one transaction.

mod certificates;
mod connections;
mod detail;
pub use detail::{GatewayAgent, GATEWAY_AGENTS_RULE};
mod gateway;
mod hub;
mod inventory;
mod keys;
mod networks;
mod notes;
mod peer_config;
mod policies;
pub mod quotas;
mod topology;
pub mod upgrade;
mod vpn;

use std::sync::Arc;

use uuid::Uuid;
use vpnaas_core::allowed::AlgorithmPolicy;
use vpnaas_core::profile::Profile;
use vpnaas_core::quota::{Counted, Limits};
use vpnaas_core::resources::{Draft, Meta, Owner, Stored, TextPatch};
use vpnaas_core::values::StoredPsk;
use vpnaas_core::Fault;

use crate::auth::{Caller, Reach};
use crate::clock::now_micros;
use crate::error::Result;
use crate::secrets::KeyRing;
use crate::store::uses::Reference;
use crate::store::{self, Store, Table, WriteTx};
use vpnaas_core::listing::ListQuery;

pub use gateway::{HostState, MAX_WAIT};
pub use hub::{Hub, CATCH_UP_EVERY};
pub use inventory::RouterInterface;
pub use keys::{check as check_secrets, reseal};
pub use networks::{gateway_network, gateway_subnet, interface_port, subnet_network, Network};
pub use topology::{NeutronTopology, Standalone, Topology};

/// The operations of the API, over one store.
#[derive(Clone)]
pub struct Service {
    store: Store,
    /// Seals pre-shared keys at rest and opens them for answers and gateways.
    keys: Arc<KeyRing>,
    profile: &'static Profile,
    /// Microseconds a pair's active member stays active before a failure swaps the pair.
    ha_hold_down: i64,
    /// Change markers, waiters and built gateway states (ADR 0011).
    hub: Arc<Hub>,
    /// Heartbeats not yet written.
    beats: Arc<std::sync::Mutex<gateway::Beats>>,
    /// Silent routers and hosts already shown DOWN (`router:<id>`, `host:<name>`).
    swept: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Where routers and subnets come from (ADR 0022).
    topology: Arc<dyn Topology>,
    /// The limits of a project that has none of its own (ADR 0041).
    quota_defaults: Limits,
    /// The algorithms new and updated policies may use (ADR 0042).
    algorithms: Arc<AlgorithmPolicy>,
    /// As whom and where writes publish notifications, when they do (ADR 0043).
    publisher: Option<Arc<crate::notifications::Publisher>>,
    /// Wakes the relay when a write added to the outbox.
    outbox_kick: Arc<tokio::sync::Notify>,
    /// Where CADF audit events of API writes go (ADR 0043).
    audit: Arc<crate::audit::AuditSink>,
}

/// The policy rules that guard one resource (upstream's names, `auth/policy.rs`).
pub struct Rules {
    pub create: &'static str,
    pub get: &'static str,
    pub update: &'static str,
    pub delete: &'static str,
}

/// A stored type the caller refers to by id, with the 404 its absence gives.
pub trait Resource: Table + Send + Sync + 'static {
    const RULES: Rules;
    /// The quota that counts this resource, if one does (ADR 0041).
    const COUNTED: Option<Counted> = None;
    fn not_found(id: &str) -> Fault;
    /// The secret the type holds sealed at rest, if it has one.
    fn secret_mut(&mut self) -> Option<&mut StoredPsk> {
        None
    }
    fn meta_mut(&mut self) -> &mut Meta;
}

macro_rules! resource {
    ($t:ty, $nf:path, $name:literal, $counted:expr $(, $secret:ident)?) => {
        impl Resource for $t {
            const COUNTED: Option<Counted> = $counted;
            const RULES: Rules = Rules {
                create: concat!("create_", $name),
                get: concat!("get_", $name),
                update: concat!("update_", $name),
                delete: concat!("delete_", $name),
            };
            fn not_found(id: &str) -> Fault {
                $nf(id.to_owned())
            }
            fn meta_mut(&mut self) -> &mut Meta {
                &mut self.meta
            }
            $(
                fn secret_mut(&mut self) -> Option<&mut StoredPsk> {
                    self.spec.$secret.psk_mut()
                }
            )?
        }
    };
}
use vpnaas_core::resources::{
    Certificate, EndpointGroup, IkePolicy, IpsecPolicy, Router, SiteConnection, Subnet, VpnService,
};
resource!(IkePolicy, Fault::IkePolicyNotFound, "ikepolicy", Some(Counted::IkePolicy));
resource!(IpsecPolicy, Fault::IpsecPolicyNotFound, "ipsecpolicy", Some(Counted::IpsecPolicy));
resource!(VpnService, Fault::VpnServiceNotFound, "vpnservice", Some(Counted::VpnService));
resource!(EndpointGroup, Fault::EndpointGroupNotFound, "endpoint_group", Some(Counted::EndpointGroup));
resource!(SiteConnection, Fault::SiteConnectionNotFound, "ipsec_site_connection", Some(Counted::SiteConnection), auth);
// Its private key is never opened for an answer: it has no secret to show.
resource!(Certificate, Fault::CertificateNotFound, "certificate", Some(Counted::Certificate));
// The inventory stands in for Neutron, whose quotas count routers and subnets.
resource!(Router, Fault::RouterNotFound, "router", None);
resource!(Subnet, Fault::SubnetNotFound, "subnet", None);

/// Whether the caller may see `item` (the `get_*` rule); another project's object it may
/// not see is a 404, never a 403.
fn visible<T: Resource>(caller: &Caller, item: &T) -> bool {
    caller.may(T::RULES.get, &item.meta().project_id)
}

/// Loads `T` by the id as the caller wrote it: a text that is not a UUID, a missing row and
/// another project's row are all the same 404 (clients resolve names this way).
pub(crate) async fn fetch<T: Resource>(conn: &mut store::Conn, caller: &Caller, id: &str) -> Result<T> {
    let found = store::get::<T>(conn, id_of::<T>(id)?).await?;
    seen(caller, id, found)
}

/// The id as the caller wrote it, as a UUID: a text that is not one is the 404 of `T`.
fn id_of<T: Resource>(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| T::not_found(id).into())
}

/// What was found under `id`, if the caller may see it; else the 404 of `T`.
fn seen<T: Resource>(caller: &Caller, id: &str, found: Option<T>) -> Result<T> {
    match found {
        Some(item) if visible(caller, &item) => Ok(item),
        _ => Err(T::not_found(id).into()),
    }
}

/// Loads `T` to change or delete it: locked until commit (so concurrent writers of one
/// object are serialised, and nothing can refer to it meanwhile), allowed by `rule` (a 403
/// when the caller can see it but not change it), and checked against the caller's
/// `If-Match: revision_number=N`.
pub(crate) async fn fetch_for_change<T: Resource>(
    w: &mut WriteTx,
    caller: &Caller,
    id: &str,
    rule: &'static str,
) -> Result<T> {
    let item = lock::<T>(w, caller, id).await?;
    caller.authorize(rule, &item.meta().project_id)?;
    if let Some(expected) = caller.if_match {
        let current = item.meta().revision_number;
        if current != expected {
            return Err(Fault::RevisionNumberConstraintFailed { expected, current }.into());
        }
    }
    Ok(item)
}

/// Loads `T` and locks it until commit, without a precondition (an object the write depends on).
pub(crate) async fn lock<T: Resource>(w: &mut WriteTx, caller: &Caller, id: &str) -> Result<T> {
    let found = store::get_locked::<T>(w, id_of::<T>(id)?).await?;
    seen(caller, id, found)
}

/// Loads `T` if it exists and the caller may see it.
pub(crate) async fn find<T: Resource>(conn: &mut store::Conn, caller: &Caller, id: Uuid) -> Result<Option<T>> {
    Ok(store::get::<T>(conn, id).await?.filter(|item| visible(caller, item)))
}

/// The same as [`fetch`] for an id that is already a UUID.
pub(crate) async fn fetch_id<T: Resource>(conn: &mut store::Conn, caller: &Caller, id: Uuid) -> Result<T> {
    fetch::<T>(conn, caller, &id.to_string()).await
}

/// The project a new `T` belongs to (ADR 0009 §1.4), the caller's own unless it names
/// another, and whether the `create_*` rule allows the caller to create it there: one who
/// may create in its own project but names another gets the reference's 400 (ADR 0009 §1.4), any other
/// refusal is a 403.
pub(crate) fn owner<T: Resource>(caller: &Caller, owner: &Owner) -> Result<String> {
    let project = owner.0.clone().unwrap_or_else(|| caller.project_id().to_owned());
    if caller.may(T::RULES.create, &project) {
        Ok(project)
    } else if project != caller.project_id() && caller.may(T::RULES.create, caller.project_id()) {
        Err(Fault::ProjectNotAllowed.into())
    } else {
        Err(Fault::PolicyNotAuthorized(T::RULES.create).into())
    }
}

pub(crate) fn new_meta(project_id: String, name: String, description: String) -> Meta {
    Meta::new(project_id, name, description, now_micros())
}

/// A new stored object from a create request: its owner checked, a fresh id and times.
pub(crate) fn stored<S>(caller: &Caller, draft: Draft<S>) -> Result<Stored<S>>
where
    Stored<S>: Resource,
{
    let project = owner::<Stored<S>>(caller, &draft.owner)?;
    Ok(Stored { meta: new_meta(project, draft.name, draft.description), spec: draft.spec })
}

impl Service {
    pub fn new(store: Store, profile: &'static Profile, keys: Arc<KeyRing>) -> Service {
        Service {
            store,
            keys,
            profile,
            ha_hold_down: 30_000_000,
            hub: Arc::new(Hub::default()),
            beats: Arc::default(),
            swept: Arc::default(),
            topology: Arc::new(Standalone),
            quota_defaults: Limits::UNLIMITED,
            algorithms: Arc::new(AlgorithmPolicy::everything()),
            publisher: None,
            outbox_kick: Arc::new(tokio::sync::Notify::new()),
            audit: Arc::new(crate::audit::AuditSink::default()),
        }
    }

    /// Sets the algorithms new and updated policies may use (ADR 0042).
    pub fn with_algorithm_policy(mut self, policy: AlgorithmPolicy) -> Service {
        self.algorithms = Arc::new(policy);
        self
    }

    /// The algorithms new and updated policies may use.
    pub fn algorithm_policy(&self) -> &AlgorithmPolicy {
        &self.algorithms
    }

    /// Sets the limits of projects that have none of their own (ADR 0041).
    pub fn with_quota_defaults(mut self, limits: Limits) -> Service {
        self.quota_defaults = limits;
        self
    }

    /// The change markers this server knows (ADR 0011).
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Loads the change markers (at start), then reads other replicas' markers now and then.
    pub async fn load_markers(&self) -> Result<()> {
        Ok(self.hub.load(&self.store).await?)
    }

    /// Reads the markers other replicas wrote since the last look.
    pub async fn catch_up(&self) -> Result<usize> {
        Ok(self.hub.catch_up(&self.store).await?)
    }

    /// Commits `w` after marking `routers` (and the placement of `hosts`) as changed, in the
    /// same transaction, then wakes whoever waits on them here.
    pub(crate) async fn commit_marking(&self, mut w: WriteTx, routers: &[Uuid], hosts: &[String]) -> Result<()> {
        let marked = store::markers::mark(w.conn(), routers, hosts).await?;
        w.commit().await?;
        if marked.seq > 0 {
            // Reading the markers back moves the hub's cursor past this one (and any other
            // replica's before it); if that read fails, the waiters here still wake.
            if self.hub.catch_up(&self.store).await.is_err() {
                self.hub.publish(&marked);
            }
        }
        Ok(())
    }

    /// Opens what `item` holds sealed, for an answer.
    /// Opens the item's secret for an answer to `caller`, if the secret rule
    /// ([`peer_config::PSK_RULE`], members and admins by default) lets it see it; otherwise the
    /// secret stays sealed and the answer leaves it out (ADR 0040). The one rule for the
    /// pre-shared key wherever an answer could carry it: show, list, `fields=`, the export.
    fn reveal_to<T: Resource>(&self, caller: &Caller, item: &mut T) -> Result<()> {
        let project = item.meta_mut().project_id.clone();
        if item.secret_mut().is_none() || !caller.may(peer_config::PSK_RULE, &project) {
            return Ok(());
        }
        self.reveal(item)
    }

    pub(crate) fn reveal<T: Resource>(&self, item: &mut T) -> Result<()> {
        let id = item.id();
        match item.secret_mut() {
            Some(secret) => self.keys.reveal(secret, id),
            None => Ok(()),
        }
    }

    /// Sets how long a pair's active member stays active before a failure swaps the pair.
    pub fn with_ha_hold_down(mut self, seconds: u64) -> Service {
        self.ha_hold_down = i64::try_from(seconds.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        self
    }

    /// The validation profile this server enforces.
    pub fn profile(&self) -> &'static Profile {
        self.profile
    }

    /// Lists what the caller may see: as far as the `get_*` rule reaches (every project,
    /// the caller's own, or nothing). Secrets are opened only if the answer carries them.
    pub async fn list<T: Resource + Send + 'static>(
        &self,
        caller: &Caller,
        mut q: ListQuery,
        open_secrets: bool,
    ) -> Result<Vec<T>> {
        match caller.reach(T::RULES.get) {
            Reach::All => {}
            Reach::Own => q.project = Some(caller.project_id().to_owned()),
            Reach::None => return Ok(Vec::new()),
        }
        let mut items = self.store.read_list::<T>(q).await?;
        if open_secrets {
            for item in &mut items {
                self.reveal_to(caller, item)?;
            }
        }
        Ok(items)
    }

    pub async fn show<T: Resource + Send + 'static>(&self, caller: &Caller, id: &str, open_secrets: bool) -> Result<T> {
        let found = self.store.read_one::<T>(id_of::<T>(id)?).await?;
        let mut item = seen(caller, id, found)?;
        if open_secrets {
            self.reveal_to(caller, &mut item)?;
        }
        Ok(item)
    }

    /// Inserts an object whose rules need nothing else from the database, within its
    /// project's quota.
    async fn insert<T: Resource>(&self, caller: &Caller, item: T) -> Result<T> {
        let messages = self.rendered(caller, &item);
        let mut w = self.store.begin_write().await?;
        self.charge::<T>(&mut w, &item.meta().project_id).await?;
        store::insert(w.conn(), &item).await?;
        self.note_rendered(&mut w, &messages).await?;
        w.commit().await?;
        Ok(item)
    }

    /// Changes only the name and description of an object.
    async fn update_texts<T: Resource>(&self, caller: &Caller, id: &str, patch: TextPatch) -> Result<T> {
        let mut w = self.store.begin_write().await?;
        let mut item: T = fetch_for_change(&mut w, caller, id, T::RULES.update).await?;
        patch.apply(item.meta_mut());
        item.meta_mut().touch(now_micros());
        store::update(w.conn(), &item).await?;
        self.note(&mut w, caller, &item).await?;
        w.commit().await?;
        Ok(item)
    }

    /// Deletes a resource unless a row of `referrers` (table, column) points at it, which
    /// is the `in_use` conflict. One transaction: no referrer can appear in between.
    async fn delete_unreferenced<T: Resource>(
        &self,
        caller: &Caller,
        id: &str,
        references: &[Reference],
        in_use: fn(String) -> Fault,
    ) -> Result<()> {
        let mut w = self.store.begin_write().await?;
        let item = fetch_for_change::<T>(&mut w, caller, id, T::RULES.delete).await?;
        for reference in references {
            if !referrers(w.conn(), *reference, item.id()).await?.is_empty() {
                return Err(in_use(item.id().to_string()).into());
            }
        }
        store::delete::<T>(w.conn(), item.id()).await?;
        self.note(&mut w, caller, &item).await?;
        w.commit().await?;
        Ok(())
    }
}

/// How many times a write that collided is run in all (ADR 0030).
const WRITE_ATTEMPTS: u32 = 16;

/// The longest pause between two runs of a write that collided.
const MAX_WRITE_PAUSE: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs the write `attempt` makes, again when its transaction was rolled back by a collision
/// with a concurrent one (`StoreError::Retry`: a deadlock, a lock wait timeout, a Galera
/// certification failure, a serialization failure), after a random pause that doubles each
/// time from 5 ms up to 500 ms. Nothing of a rolled-back attempt was written, so no create is made twice and no
/// update applied twice; an attempt that fails otherwise, or the last one, is the answer.
pub async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut pause = std::time::Duration::from_millis(5);
    for _ in 1..WRITE_ATTEMPTS {
        match attempt().await {
            Err(crate::error::Error::Store(store::StoreError::Retry(why))) => {
                tracing::debug!(error.cause = %why, "a write collided with a concurrent one; running it again");
                // Between half the pause and all of it, so that colliders come back apart.
                let half = pause.as_micros() as u64 / 2;
                let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u16) % half.max(1);
                tokio::time::sleep(std::time::Duration::from_micros(half + jitter)).await;
                pause = (pause * 2).min(MAX_WRITE_PAUSE);
            }
            answer => return answer,
        }
    }
    attempt().await
}

/// The ids of rows that refer to `id` through `reference`.
pub(crate) async fn referrers(conn: &mut store::Conn, reference: Reference, id: Uuid) -> Result<Vec<String>> {
    Ok(store::uses::referrers(conn, reference, id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::store::StoreError;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_write_that_collided_runs_again_and_other_failures_do_not() {
        let runs = AtomicU32::new(0);
        let answer = retrying(|| async {
            match runs.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Error::Store(StoreError::Retry("deadlock".into()))),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(answer.ok(), Some(2), "the third run is the answer");

        runs.store(0, Ordering::SeqCst);
        let refused: Result<()> = retrying(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(Fault::RouterNotFound("r".into()).into())
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(runs.load(Ordering::SeqCst), 1, "a refusal is not a collision: it runs once");

        runs.store(0, Ordering::SeqCst);
        let stuck: Result<()> = retrying(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err(Error::Store(StoreError::Retry("certification failed".into())))
        })
        .await;
        assert!(matches!(stuck, Err(Error::Store(StoreError::Retry(_)))));
        assert_eq!(runs.load(Ordering::SeqCst), WRITE_ATTEMPTS, "bounded");
    }
}
