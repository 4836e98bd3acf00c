//! `/v2.0/vpn/certificates`: certificates with their private keys for certificate authentication (ADR 0017): attribute map, wire view and request parsing.

use vpnaas_core::resources::{CertSpec, Certificate, Draft};
use vpnaas_core::values::StoredKey;
use vpnaas_core::Fault;

use super::body::{req, ro, Attr, Attributes};
use super::view::View;
use super::{common, wire_time, Collection};
use crate::auth::Caller;
use crate::certs;
use crate::clock::now_micros;
use crate::error::Result;
use crate::service::Service;
use vpnaas_core::profile::Profile;

/// Required PEM text.
fn pem(f: &mut Attributes, attr: &'static str) -> Result<String, Fault> {
    f.pem(attr)?.flatten().ok_or(Fault::RequiredMissing(attr))
}

impl Collection for Certificate {
    const SINGULAR: &'static str = "certificate";
    const PLURAL: &'static str = "certificates";
    const PATH: &'static str = "/v2.0/vpn/certificates";
    // The PEM is fixed at create: a new certificate is a new resource, named on the
    // connection (ADR 0017, rotation).
    const ATTRS: &'static [Attr] = &[
        req("certificate"),
        req("private_key"),
        Attr { name: "chain", post: true, put: false, required: false },
        ro("subject"),
        ro("not_before"),
        ro("not_after"),
        ro("fingerprint"),
    ];

    fn view(&self, profile: &Profile, v: &mut View<'_>) {
        let s = &self.spec;
        common(&self.meta, profile, v);
        // `private_key` is write-only: never written here.
        v.field("certificate", &s.certificate)
            .field("chain", &s.chain)
            .field("subject", &s.subject)
            .field("not_before", &wire_time(profile, s.not_before))
            .field("not_after", &wire_time(profile, s.not_after))
            .field("fingerprint", &s.fingerprint);
    }

    async fn create(svc: &Service, caller: &Caller, mut f: Attributes) -> Result<Self> {
        let owner = f.owner()?;
        let text = f.text_patch()?;
        let now = now_micros();
        // ADR 0017: a certificate not valid now is refused at upload.
        let cert = certs::certificate("certificate", &pem(&mut f, "certificate")?, now)?;
        let key = certs::private_key("private_key", &pem(&mut f, "private_key")?, &cert)?;
        let chain = match f.pem("chain")?.flatten() {
            Some(text) => Some(certs::chain("chain", &text, now)?.concat()),
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
