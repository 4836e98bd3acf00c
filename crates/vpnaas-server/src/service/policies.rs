//! IKE and IPsec policies: create, update (crypto frozen while in use) and delete (refused while in use).

use vpnaas_core::resources::{Draft, IkePatch, IkePolicy, IkeSpec, IpsecPatch, IpsecPolicy, IpsecSpec, Stored};
use vpnaas_core::Fault;

use super::{fetch_for_change, referrers, stored, Resource, Service};
use crate::auth::Caller;
use crate::clock::now_micros;
use crate::error::Result;
use crate::store;
use crate::store::uses::Reference;

/// What differs between the two policy kinds: their patch and the column connections use.
trait Policy: Resource {
    type Patch;
    /// How a connection refers to a policy of this kind.
    const REFERENCE: Reference;
    fn in_use(id: String) -> Fault;
    fn touches_crypto(patch: &Self::Patch) -> bool;
    fn apply(patch: &Self::Patch, item: &mut Self);
}

impl Policy for IkePolicy {
    type Patch = IkePatch;
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

    async fn create_policy<S>(&self, caller: &Caller, draft: Draft<S>) -> Result<Stored<S>>
    where
        Stored<S>: Policy,
    {
        self.insert(stored(caller, draft)?).await
    }

    /// ADR 0001 D2: name and description may change while a connection uses the policy;
    /// what a gateway negotiates with may not (409, as the reference answers every update).
    async fn update_policy<T: Policy>(&self, caller: &Caller, id: &str, patch: T::Patch) -> Result<T> {
        let mut w = self.store.begin_write().await?;
        let mut item: T = fetch_for_change(&mut w, caller, id, T::RULES.update).await?;
        if T::touches_crypto(&patch) && !referrers(w.conn(), T::REFERENCE, item.id()).await?.is_empty() {
            return Err(T::in_use(item.id().to_string()).into());
        }
        T::apply(&patch, &mut item);
        item.meta_mut().touch(now_micros());
        store::update(w.conn(), &item).await?;
        w.commit().await?;
        Ok(item)
    }

    async fn delete_policy<T: Policy>(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_unreferenced::<T>(caller, id, &[T::REFERENCE], T::in_use).await
    }
}
