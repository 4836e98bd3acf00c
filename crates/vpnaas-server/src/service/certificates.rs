//! Certificates (ADR 0017): create with the private key sealed, rename, delete unless a connection uses one.

use vpnaas_core::resources::{CertSpec, Certificate, Draft, TextPatch};
use vpnaas_core::Fault;

use super::{stored, Service};
use crate::auth::Caller;
use crate::error::Result;
use crate::store::uses::Reference;

impl Service {
    pub async fn create_certificate(&self, caller: &Caller, draft: Draft<CertSpec>) -> Result<Certificate> {
        let item = stored(caller, draft)?;
        let mut row = item.clone();
        row.spec.private_key = self.keys.sealed_key(&item.spec.private_key, item.meta.id)?;
        self.insert(caller, row).await?;
        Ok(item)
    }

    pub async fn update_certificate(&self, caller: &Caller, id: &str, patch: TextPatch) -> Result<Certificate> {
        self.update_texts(caller, id, patch).await
    }

    pub async fn delete_certificate(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_unreferenced::<Certificate>(
            caller,
            id,
            &[Reference::ConnectionCertificate],
            Fault::CertificateInUse,
        )
        .await
    }
}
