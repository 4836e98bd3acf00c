//! X.509 for certificate authentication (ADR 0017): PEM blocks, the checks of an upload
//! (parses, valid now, key matches, CA flag) and IKE identities. Messages name the attribute
//! and the rule, never a key.

use std::net::IpAddr;
use vpnaas_core::wire;

use sha2::{Digest, Sha256};
use vpnaas_core::fault::Fault;
use vpnaas_core::values::{is_hostname, PrivateKey};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// What an upload's certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The certificate re-encoded as one PEM block.
    pub pem: String,
    /// The subject DN, as strongSwan writes one (`CN=..., O=...`).
    pub subject: String,
    /// Microseconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER, as `AB:CD:...`.
    pub fingerprint: String,
    /// The subjectAltNames usable as IKE identities: DNS names, e-mail addresses, IPs.
    pub alt_names: Vec<String>,
    /// The subject's public key bits (for the key match).
    public_key: Vec<u8>,
    is_ca: bool,
}

/// One PEM block with Unix line endings (the `pem` crate's default is CRLF).
fn encode(block: &pem::Pem) -> String {
    pem::encode_config(block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

/// The PEM blocks of `text`, each of the `tag` kind; none, or another kind, is refused.
fn blocks(attr: &str, text: &str, tag: &str) -> Result<Vec<pem::Pem>, Fault> {
    let what = if tag == "CERTIFICATE" { "certificate" } else { "private key" };
    let blocks = pem::parse_many(text)
        .map_err(|_| Fault::invalid(attr, format!("the value is not PEM: expected '-----BEGIN {tag}-----' blocks")))?;
    if blocks.is_empty() {
        return Err(Fault::invalid(attr, format!("the value holds no PEM {what} ('-----BEGIN {tag}-----')")));
    }
    if let Some(other) = blocks.iter().find(|b| b.tag() != tag) {
        let hint = if tag == "PRIVATE KEY" {
            " (an unencrypted PKCS#8 key: convert with `openssl pkcs8 -topk8 -nocrypt`)"
        } else {
            ""
        };
        return Err(Fault::invalid(attr, format!("a PEM block is '{}', expected '{tag}'{hint}", other.tag())));
    }
    Ok(blocks)
}

fn micros(t: x509_parser::time::ASN1Time) -> i64 {
    t.timestamp().saturating_mul(1_000_000)
}

/// One certificate's facts, checked to be valid at `now` (microseconds).
fn info(attr: &str, block: &pem::Pem, now: Option<i64>) -> Result<CertInfo, Fault> {
    let der = block.contents();
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|_| Fault::invalid(attr, "the PEM block does not parse as an X.509 certificate"))?;
    if !rest.is_empty() {
        return Err(Fault::invalid(attr, "the PEM block holds bytes after the certificate"));
    }
    let validity = cert.validity();
    let (not_before, not_after) = (micros(validity.not_before), micros(validity.not_after));
    let subject = cert.subject().to_string();
    if now.is_some_and(|now| now < not_before) {
        return Err(Fault::invalid(
            attr,
            format!("the certificate '{subject}' is not valid yet (not before {})", validity.not_before),
        ));
    }
    if now.is_some_and(|now| now > not_after) {
        return Err(Fault::invalid(
            attr,
            format!("the certificate '{subject}' has expired (not after {})", validity.not_after),
        ));
    }
    let mut alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => alt_names.push((*d).to_owned()),
                GeneralName::RFC822Name(e) => alt_names.push((*e).to_owned()),
                GeneralName::IPAddress(b) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                        alt_names.push(IpAddr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                        alt_names.push(IpAddr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let fingerprint = Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":");
    Ok(CertInfo {
        pem: encode(block),
        subject,
        not_before,
        not_after,
        fingerprint,
        alt_names,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
        is_ca: cert.is_ca(),
    })
}

/// The one certificate of an upload, valid at `now`.
pub fn certificate(attr: &str, text: &str, now: i64) -> Result<CertInfo, Fault> {
    let blocks = blocks(attr, text, "CERTIFICATE")?;
    let [block] = blocks.as_slice() else {
        return Err(Fault::invalid(attr, "exactly one certificate is expected (intermediates go in 'chain')"));
    };
    info(attr, block, Some(now))
}

/// A stored certificate's facts, whatever its validity now.
pub fn stored(text: &str) -> Result<CertInfo, Fault> {
    let blocks = blocks(wire::CERTIFICATE, text, "CERTIFICATE")?;
    let block = blocks.first().ok_or_else(|| Fault::invalid(wire::CERTIFICATE, "no certificate"))?;
    info(wire::CERTIFICATE, block, None)
}

/// Intermediate certificates: each parses and is valid at `now`. One PEM block each.
pub fn chain(attr: &str, text: &str, now: i64) -> Result<Vec<String>, Fault> {
    blocks(attr, text, "CERTIFICATE")?.iter().map(|b| info(attr, b, Some(now)).map(|i| i.pem)).collect()
}

/// The CA certificates trusted for a peer: each parses, is valid at `now` and is a CA
/// (basicConstraints CA:TRUE). Returned as the PEM to store.
pub fn peer_ca(attr: &str, text: &str, now: i64) -> Result<String, Fault> {
    let mut out = String::new();
    for block in blocks(attr, text, "CERTIFICATE")? {
        let ca = info(attr, &block, Some(now))?;
        if !ca.is_ca {
            return Err(Fault::invalid(
                attr,
                format!("the certificate '{}' is not a CA (basicConstraints CA:TRUE is required)", ca.subject),
            ));
        }
        out.push_str(&ca.pem);
    }
    Ok(out)
}

/// The PEM blocks of stored certificates, one text each.
pub fn split(text: &str) -> Vec<String> {
    pem::parse_many(text).map(|blocks| blocks.iter().map(encode).collect()).unwrap_or_default()
}

/// The private key of `cert`: one unencrypted PKCS#8 PEM block whose public half is the
/// certificate's public key. Errors never quote the key.
pub fn private_key(attr: &str, text: &str, cert: &CertInfo) -> Result<PrivateKey, Fault> {
    let blocks = blocks(attr, text, "PRIVATE KEY")?;
    let [block] = blocks.as_slice() else {
        return Err(Fault::invalid(attr, "exactly one private key is expected"));
    };
    let pem = encode(block);
    let pair = rcgen::KeyPair::from_pem(&pem).map_err(|_| {
        Fault::invalid(attr, "the private key does not parse (RSA of 2048 bits or more, ECDSA P-256/P-384, or Ed25519)")
    })?;
    if rcgen::PublicKeyData::der_bytes(&pair) != cert.public_key.as_slice() {
        return Err(Fault::invalid(attr, "the private key does not match the certificate's public key"));
    }
    Ok(PrivateKey::checked(pem))
}

/// The RDN attribute names strongSwan reads in a DN identity.
const DN_KEYS: &[&str] = &[
    "C",
    "ST",
    "L",
    "O",
    "OU",
    "CN",
    "E",
    "EMAILADDRESS",
    "DC",
    "SN",
    "SERIALNUMBER",
    "UID",
    "T",
    "TITLE",
    "G",
    "GN",
    "I",
    "N",
    "D",
    "ID",
    "STREET",
    "POSTALCODE",
    "PSEUDONYM",
];

fn dn_parts(id: &str) -> Option<Vec<(String, String)>> {
    let mut parts = Vec::new();
    for rdn in id.split(',') {
        let (k, v) = rdn.split_once('=')?;
        let (k, v) = (k.trim().to_ascii_uppercase(), v.trim());
        if !DN_KEYS.contains(&k.as_str()) || v.is_empty() {
            return None;
        }
        parts.push((k, v.to_owned()));
    }
    (!parts.is_empty()).then_some(parts)
}

/// Whether `id` can name a certificate's holder in IKE: a DN (`CN=site-a, O=Example`), a
/// host name (optionally `@`-prefixed), an e-mail address or an IP address.
pub fn check_identity(attr: &str, id: &str) -> Result<(), Fault> {
    let id = id.trim();
    let ok = id.parse::<IpAddr>().is_ok()
        || is_hostname(id.strip_prefix('@').unwrap_or(id))
        || id.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !user.contains(' ') && is_hostname(host))
        || dn_parts(id).is_some();
    if ok {
        Ok(())
    } else {
        Err(Fault::invalid(
            attr,
            format!(
                "'{id}' is not an identity a certificate can hold: give its subject DN (CN=..., O=...) or one of \
                 its subjectAltNames (host name, e-mail address or IP address)"
            ),
        ))
    }
}

/// Whether the certificate holds `id`, as its subject DN or a subjectAltName.
pub fn holds(cert: &CertInfo, id: &str) -> bool {
    let id = id.trim();
    if let (Some(a), Some(b)) = (dn_parts(id), dn_parts(&cert.subject)) {
        return a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x.0 == y.0 && x.1 == y.1);
    }
    let bare = id.strip_prefix('@').unwrap_or(id);
    cert.alt_names.iter().any(|n| n.eq_ignore_ascii_case(bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_for_certificates() {
        for good in
            ["CN=site-a, O=Example", "cn=a,o=b", "site-a.example.com", "@site-a", "ops@example.com", "192.0.2.1"]
        {
            assert!(check_identity("peer_id", good).is_ok(), "{good}");
        }
        for bad in ["", "has space", "XX=a", "CN=", "@", "a@", "CN=a,,O=b"] {
            let e = check_identity("peer_id", bad).unwrap_err().to_string();
            assert!(e.contains("peer_id"), "{e}");
        }
    }

    #[test]
    fn garbage_is_refused_naming_the_attribute() {
        let e = certificate("certificate", "hello", 0).unwrap_err().to_string();
        assert!(e.contains("Invalid input for certificate"), "{e}");
        let e = certificate("certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not parse"), "{e}");
    }
}
