//! IKE and IPsec policies: create, update (crypto frozen while in use; new words only as the
//! algorithm policy allows, ADR 0042) and delete (refused while in use).

use vpnaas_core::allowed::AlgorithmPolicy;
use vpnaas_core::descriptor::Choices;
use vpnaas_core::resources::{
    Draft, IkePatch, IkePolicy, IkeSpec, IpsecPatch, IpsecPolicy, IpsecSpec, SiteConnection, Stored,
};
use vpnaas_core::Fault;

use super::{fetch_for_change, referrers, stored, Resource, Service};
use crate::auth::{Caller, Reach};
use crate::clock::now_micros;
use crate::error::Result;
use crate::store;
use crate::store::uses::Reference;

/// What differs between the two policy kinds: their patch and the column connections use.
trait Policy: Resource {
    type Patch;
    type Spec: Choices + Clone;
    fn spec(&self) -> &Self::Spec;
    /// How a connection refers to a policy of this kind.
    const REFERENCE: Reference;
    fn in_use(id: String) -> Fault;
    fn touches_crypto(patch: &Self::Patch) -> bool;
    fn apply(patch: &Self::Patch, item: &mut Self);
}

impl Policy for IkePolicy {
    type Patch = IkePatch;
    type Spec = IkeSpec;
    fn spec(&self) -> &IkeSpec {
        &self.spec
    }
    const REFERENCE: Reference = Reference::ConnectionIkePolicy;
    fn in_use(id: String) -> Fault {
        Fault::IkePolicyInUse(id)
    }
    fn touches_crypto(patch: &IkePatch) -> bool {
        patch.touches_crypto()
    }
    fn apply(patch: &IkePatch, item: &mut Self) {
        patch.apply(item)
    }
}

impl Policy for IpsecPolicy {
    type Patch = IpsecPatch;
    type Spec = IpsecSpec;
    fn spec(&self) -> &IpsecSpec {
        &self.spec
    }
    const REFERENCE: Reference = Reference::ConnectionIpsecPolicy;
    fn in_use(id: String) -> Fault {
        Fault::IpsecPolicyInUse(id)
    }
    fn touches_crypto(patch: &IpsecPatch) -> bool {
        patch.touches_crypto()
    }
    fn apply(patch: &IpsecPatch, item: &mut Self) {
        patch.apply(item)
    }
}

impl Service {
    pub async fn create_ikepolicy(&self, caller: &Caller, draft: Draft<IkeSpec>) -> Result<IkePolicy> {
        self.create_policy(caller, draft).await
    }
    pub async fn update_ikepolicy(&self, caller: &Caller, id: &str, patch: IkePatch) -> Result<IkePolicy> {
        self.update_policy(caller, id, patch).await
    }
    pub async fn delete_ikepolicy(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_policy::<IkePolicy>(caller, id).await
    }
    pub async fn create_ipsecpolicy(&self, caller: &Caller, draft: Draft<IpsecSpec>) -> Result<IpsecPolicy> {
        self.create_policy(caller, draft).await
    }
    pub async fn update_ipsecpolicy(&self, caller: &Caller, id: &str, patch: IpsecPatch) -> Result<IpsecPolicy> {
        self.update_policy(caller, id, patch).await
    }
    pub async fn delete_ipsecpolicy(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_policy::<IpsecPolicy>(caller, id).await
    }

    /// A new policy uses only algorithms the cloud's algorithm policy allows (ADR 0042).
    async fn create_policy<S>(&self, caller: &Caller, draft: Draft<S>) -> Result<Stored<S>>
    where
        Stored<S>: Policy,
        S: Choices,
    {
        self.algorithms.check_new(&draft.spec, self.profile.name)?;
        self.insert(caller, stored(caller, draft)?).await
    }

    /// ADR 0001 D2: name and description may change while a connection uses the policy;
    /// what a gateway negotiates with may not (409, as the reference answers every update).
    async fn update_policy<T: Policy>(&self, caller: &Caller, id: &str, patch: T::Patch) -> Result<T> {
        let mut w = self.store.begin_write().await?;
        let mut item: T = fetch_for_change(&mut w, caller, id, T::RULES.update).await?;
        if T::touches_crypto(&patch) && !referrers(w.conn(), T::REFERENCE, item.id()).await?.is_empty() {
            return Err(T::in_use(item.id().to_string()).into());
        }
        let before = item.spec().clone();
        T::apply(&patch, &mut item);
        // Only what the update changes must be allowed: a policy made before a restriction
        // keeps its words, and can still be renamed (ADR 0042).
        self.algorithms.check_changed(&before, item.spec(), self.profile.name)?;
        item.meta_mut().touch(now_micros());
        store::update(w.conn(), &item).await?;
        self.note(&mut w, caller, &item).await?;
        w.commit().await?;
        Ok(item)
    }

    async fn delete_policy<T: Policy>(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_unreferenced::<T>(caller, id, &[T::REFERENCE], T::in_use).await
    }
}

impl Service {
    /// The algorithm policy, and how many of the connections the caller may see use a word it
    /// no longer allows (ADR 0042): every project's for those who read every project's, the
    /// caller's own otherwise.
    pub async fn algorithm_report(&self, caller: &Caller) -> Result<(AlgorithmPolicy, i64)> {
        let policy = (*self.algorithms).clone();
        let project = match caller.reach(SiteConnection::RULES.get) {
            Reach::All => None,
            Reach::Own => Some(caller.project_id()),
            Reach::None => return Ok((policy, 0)),
        };
        let n = self.store.connections_not_allowed(policy.restrictions(), project).await?;
        Ok((policy, n))
    }

    /// Every project's connections that use a word the algorithm policy no longer allows.
    pub async fn connections_not_allowed(&self) -> Result<i64> {
        Ok(self.store.connections_not_allowed(self.algorithms.restrictions(), None).await?)
    }
}
