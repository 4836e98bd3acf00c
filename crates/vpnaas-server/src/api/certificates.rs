//! `/v2.0/vpn/certificates`: certificates with their private keys for certificate authentication (ADR 0017): attribute map, wire view and request parsing.

use vpnaas_core::resources::{CertSpec, Certificate, Draft};
use vpnaas_core::values::StoredKey;
use vpnaas_core::Fault;

use super::body::Attributes;
use super::view::View;
use super::{common, wire_time, Collection};
use crate::auth::Caller;
use crate::certs;
use crate::clock::now_micros;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;
use vpnaas_core::wire::{self, Attribute};

/// Required PEM text.
fn pem(f: &mut Attributes, attr: &'static str) -> Result<String, Fault> {
    f.pem(attr)?.flatten().ok_or(Fault::RequiredMissing(attr))
}

impl Collection for Certificate {
    const SINGULAR: &'static str = wire::CERTIFICATE;
    const PLURAL: &'static str = "certificates";
    const PATH: &'static str = "/v2.0/vpn/certificates";
    const ATTRS: &'static [Attribute] = wire::CERTIFICATE_MAP;

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        let s = &self.spec;
        common(&self.meta, profile, v);
        // `private_key` is write-only: never written here.
        v.fields(s)
            .field(wire::NOT_BEFORE, &wire_time(profile, s.not_before))
            .field(wire::NOT_AFTER, &wire_time(profile, s.not_after));
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let now = now_micros();
        // ADR 0017: a certificate not valid now is refused at upload.
        let cert = certs::certificate(wire::CERTIFICATE, &pem(&mut f, wire::CERTIFICATE)?, now)?;
        let key = certs::private_key(wire::PRIVATE_KEY, &pem(&mut f, wire::PRIVATE_KEY)?, &cert)?;
        let chain = match f.pem(wire::CHAIN)?.flatten() {
            Some(text) => Some(certs::chain(wire::CHAIN, &text, now)?.concat()),
            None => None,
        };
        let spec = CertSpec {
            certificate: cert.pem,
            private_key: StoredKey::Clear(key),
            chain,
            subject: cert.subject,
            not_before: cert.not_before,
            not_after: cert.not_after,
            fingerprint: cert.fingerprint,
        };
        svc.create_certificate(caller, Draft::new(owner, text, spec)).await
    }

    async fn update(svc: &Service, caller: &Caller, id: &str, mut f: Attributes) -> Result<Self> {
        svc.update_certificate(caller, id, f.text_patch()?).await
    }

    async fn delete(svc: &Service, caller: &Caller, id: &str) -> Result<()> {
        svc.delete_certificate(caller, id).await
    }
}
