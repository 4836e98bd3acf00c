//! The peer's configuration of a connection in libreswan's dialect (ipsec.conf(5) `conn` section and its ipsec.secrets line), for libreswan 4 (ADR 0019).
//!
//! Algorithm names are libreswan's (`aes_gcm_c256`, `sha2_256`, `dh19`, ...), checked with
//! libreswan 4.10's own parser (`algparse`). What libreswan cannot express (IKE with CCM or
//! an AES-CMAC PRF, DH groups it does not implement, AH with ESP) is never dropped silently:
//! the export says so in a comment, and the directive is written commented out.

use std::fmt::Write as _;

use vpnaas_core::algorithms::{
    AuthAlgorithm, EncapsulationMode, EncryptionAlgorithm, IkeVersion, Pfs, Phase1Mode, TransformProtocol,
};
use vpnaas_core::contract::DesiredConnection;
use vpnaas_core::values::PeerAddress;

use crate::peer::{
    initiation, mirror, Secret, OUR_CA_NICKNAME, PEER_CERT_FILE, PEER_CERT_NICKNAME, PEER_KEY_FILE, PSK_PLACEHOLDER,
};

/// libreswan's name of an encryption algorithm with its key length, and whether it is AEAD.
pub fn cipher(e: EncryptionAlgorithm) -> (&'static str, bool) {
    use EncryptionAlgorithm::*;
    match e {
        TripleDes => ("3des", false),
        Aes128 => ("aes128", false),
        Aes192 => ("aes192", false),
        Aes256 => ("aes256", false),
        Aes128Ctr => ("aes_ctr128", false),
        Aes192Ctr => ("aes_ctr192", false),
        Aes256Ctr => ("aes_ctr256", false),
        // _a, _b, _c: the 8, 12 and 16 octet ICV.
        Aes128Ccm8 => ("aes_ccm_a128", true),
        Aes128Ccm12 => ("aes_ccm_b128", true),
        Aes128Ccm16 => ("aes_ccm_c128", true),
        Aes192Ccm8 => ("aes_ccm_a192", true),
        Aes192Ccm12 => ("aes_ccm_b192", true),
        Aes192Ccm16 => ("aes_ccm_c192", true),
        Aes256Ccm8 => ("aes_ccm_a256", true),
        Aes256Ccm12 => ("aes_ccm_b256", true),
        Aes256Ccm16 => ("aes_ccm_c256", true),
        Aes128Gcm8 => ("aes_gcm_a128", true),
        Aes128Gcm12 => ("aes_gcm_b128", true),
        Aes128Gcm16 => ("aes_gcm_c128", true),
        Aes192Gcm8 => ("aes_gcm_a192", true),
        Aes192Gcm12 => ("aes_gcm_b192", true),
        Aes192Gcm16 => ("aes_gcm_c192", true),
        Aes256Gcm8 => ("aes_gcm_a256", true),
        Aes256Gcm12 => ("aes_gcm_b256", true),
        Aes256Gcm16 => ("aes_gcm_c256", true),
    }
}

/// libreswan's name of an integrity algorithm (in `ike=` also the PRF).
pub fn integrity(a: AuthAlgorithm) -> &'static str {
    match a {
        AuthAlgorithm::Sha1 => "sha1",
        AuthAlgorithm::Sha256 => "sha2_256",
        AuthAlgorithm::Sha384 => "sha2_384",
        AuthAlgorithm::Sha512 => "sha2_512",
        AuthAlgorithm::AesXcbc => "aes_xcbc",
        AuthAlgorithm::AesCmac => "aes_cmac",
    }
}

/// libreswan's name of a Diffie-Hellman group, or why libreswan 4 has none.
pub fn dh(p: Pfs) -> Result<&'static str, &'static str> {
    match p {
        Pfs::Group2 => Err("libreswan 4 builds leave out DH group 2 (modp1024) by default"),
        Pfs::Group5 => Ok("modp1536"),
        Pfs::Group14 => Ok("modp2048"),
        Pfs::Group15 => Ok("modp3072"),
        Pfs::Group16 => Ok("modp4096"),
        Pfs::Group17 => Ok("modp6144"),
        Pfs::Group18 => Ok("modp8192"),
        Pfs::Group19 => Ok("dh19"),
        Pfs::Group20 => Ok("dh20"),
        Pfs::Group21 => Ok("dh21"),
        Pfs::Group22 | Pfs::Group23 | Pfs::Group24 => {
            Err("libreswan 4 removed the MODP groups with prime order subgroups (22, 23, 24)")
        }
        Pfs::Group25 | Pfs::Group26 | Pfs::Group27 | Pfs::Group28 | Pfs::Group29 | Pfs::Group30 => {
            Err("libreswan has no NIST P-192/P-224 or Brainpool groups (25 to 30)")
        }
        Pfs::Group31 => Ok("dh31"),
    }
}

/// A proposal libreswan cannot express, or a connection it cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Inexpressible {
    /// The proposal as libreswan would name it (`?` for a group it lacks), and every reason.
    #[error("{proposal}: {}", .why.join("; "))]
    Proposal { proposal: String, why: Vec<String> },
    #[error("libreswan cannot bundle AH with ESP (ipsec policy transform_protocol ah-esp)")]
    AhEspBundle,
    #[error("the connection has no local subnets or no peer CIDRs")]
    NoSelectors,
}

impl Inexpressible {
    /// What the commented-out line shows: the proposal as libreswan would name it.
    fn written(&self) -> String {
        match self {
            Inexpressible::Proposal { proposal, .. } => proposal.clone(),
            other => other.to_string(),
        }
    }
}

/// The `ike=` proposal, or why libreswan cannot express it (with the name it would have).
pub fn ike_proposal(c: &DesiredConnection) -> Result<String, Inexpressible> {
    let (enc, aead) = cipher(c.ike.encryption_algorithm);
    let integ = integrity(c.ike.auth_algorithm);
    let v1 = c.ike.ike_version == IkeVersion::V1;
    let proposal = format!("{enc}-{integ};{}", dh(c.ike.pfs).unwrap_or("?"));
    let mut why = Vec::new();
    if c.ike.encryption_algorithm.as_str().contains("ccm") {
        why.push(format!(
            "libreswan has no CCM for IKE (ike policy encryption_algorithm {})",
            c.ike.encryption_algorithm
        ));
    } else if aead && v1 {
        why.push(format!("IKEv1 has no GCM for IKE (ike policy encryption_algorithm {})", c.ike.encryption_algorithm));
    }
    if c.ike.auth_algorithm == AuthAlgorithm::AesCmac {
        why.push("libreswan has no AES-CMAC PRF for IKE (ike policy auth_algorithm aes-cmac)".to_owned());
    } else if c.ike.auth_algorithm == AuthAlgorithm::AesXcbc && v1 {
        why.push("libreswan has no AES-XCBC PRF for IKEv1 (ike policy auth_algorithm aes-xcbc)".to_owned());
    }
    if let Err(e) = dh(c.ike.pfs) {
        why.push(format!("{e} (ike policy pfs {})", c.ike.pfs));
    }
    if why.is_empty() {
        Ok(proposal)
    } else {
        Err(Inexpressible::Proposal { proposal, why })
    }
}

/// `phase2` and the `phase2alg=` proposal, or why libreswan cannot express it.
pub fn child_proposal(c: &DesiredConnection) -> Result<(&'static str, String), Inexpressible> {
    let v1 = c.ike.ike_version == IkeVersion::V1;
    let group = match dh(c.ipsec.pfs) {
        // Measured with algparse: quick mode takes only MODP groups for PFS.
        Ok(name) if v1 && name.starts_with("dh") => Err("libreswan's IKEv1 has no elliptic-curve groups for PFS"),
        other => other,
    }
    .map_err(|e| format!("{e} (ipsec policy pfs {})", c.ipsec.pfs));
    let integ = integrity(c.ipsec.auth_algorithm);
    match c.ipsec.transform_protocol {
        TransformProtocol::Esp => {
            let (enc, aead) = cipher(c.ipsec.encryption_algorithm);
            // AEAD ciphers take `null` integrity (libreswan refuses any other).
            let alg = if aead { format!("{enc}-null") } else { format!("{enc}-{integ}") };
            let group = group.map_err(|e| Inexpressible::Proposal { proposal: format!("{alg};?"), why: vec![e] })?;
            Ok(("esp", format!("{alg};{group}")))
        }
        TransformProtocol::Ah => {
            let group = group.map_err(|e| Inexpressible::Proposal { proposal: format!("{integ};?"), why: vec![e] })?;
            Ok(("ah", format!("{integ};{group}")))
        }
        TransformProtocol::AhEsp => Err(Inexpressible::AhEspBundle),
    }
}

/// An identity as libreswan reads it: addresses and `@name`s as they are, a distinguished
/// name in quotes, a bare host name with `@` (else libreswan would resolve it; strongSwan
/// takes a bare name as the same FQDN identity).
fn identity(id: &str) -> String {
    if id.parse::<std::net::IpAddr>().is_ok() || id.starts_with('@') {
        id.to_owned()
    } else if id.contains('=') {
        format!("\"{}\"", id.replace('"', "\\\""))
    } else if id.contains('@') {
        // user@domain: an e-mail (USER_FQDN) identity.
        id.to_owned()
    } else {
        format!("@{id}")
    }
}

/// The subnets of one side: `leftsubnet=` for one, `leftsubnets={a b}` for several.
fn subnets(side: &str, cidrs: &[vpnaas_core::values::Cidr]) -> String {
    let list: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
    match list.as_slice() {
        [one] => format!("{side}subnet={one}"),
        _ => format!("{side}subnets={{{}}}", list.join(" ")),
    }
}

/// The secrets line for a pre-shared key: quoted when it can be, else hexadecimal (`0x`),
/// which ipsec.secrets(5) reads as the same bytes.
fn psk_literal(psk: &str) -> String {
    if psk.contains('"') || psk.contains('\\') {
        let hex = psk.bytes().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
        format!("0x{hex}")
    } else {
        format!("\"{psk}\"")
    }
}

/// The peer's configuration of `c` for libreswan: a `conn` section for /etc/ipsec.d/*.conf,
/// with the ipsec.secrets line (PSK) or the certificate steps in comments.
pub fn libreswan(c: &DesiredConnection, secret: Secret) -> Result<String, Inexpressible> {
    if c.local_cidrs.is_empty() || c.peer_cidrs.is_empty() {
        return Err(Inexpressible::NoSelectors);
    }
    let m = mirror(c, secret);
    let start = initiation(c);
    let name = format!("vpnaas-{}", c.id);
    let v1 = c.ike.ike_version == IkeVersion::V1;
    let mut problems = Vec::new();
    let mut body = Vec::new();
    let left = match &c.peer_address {
        PeerAddress::Ip(ip) => ip.to_string(),
        PeerAddress::Fqdn(host) => host.clone(),
    };
    body.push(format!("left={left}"));
    body.push(format!("leftid={}", identity(&m.local_id)));
    body.push(subnets("left", &m.local_cidrs));
    body.push(format!("right={}", c.local_address));
    body.push(format!("rightid={}", identity(&m.peer_id)));
    body.push(subnets("right", &m.peer_cidrs));
    if c.certs.is_some() {
        body.push("authby=rsasig".to_owned());
        body.push(format!("leftcert={PEER_CERT_NICKNAME}"));
        body.push("leftsendcert=always".to_owned());
    } else {
        body.push("authby=secret".to_owned());
    }
    body.push(format!("ikev2={}", if v1 { "no" } else { "yes" }));
    if v1 && c.ike.phase1_negotiation_mode == Phase1Mode::Aggressive {
        body.push("aggressive=yes".to_owned());
    }
    match ike_proposal(c) {
        Ok(p) => body.push(format!("ike={p}")),
        Err(why) => {
            problems.push(format!("ike: {why}"));
            body.push(format!("#ike={}", why.written()));
        }
    }
    match child_proposal(c) {
        Ok((phase2, p)) => {
            body.push(format!("phase2={phase2}"));
            body.push(format!("phase2alg={p}"));
        }
        Err(why) => {
            problems.push(format!("phase2alg: {why}"));
            if c.ipsec.transform_protocol != TransformProtocol::AhEsp {
                let phase2 = if c.ipsec.transform_protocol == TransformProtocol::Ah { "ah" } else { "esp" };
                body.push(format!("phase2={phase2}"));
                body.push(format!("#phase2alg={}", why.written()));
            }
        }
    }
    body.push("pfs=yes".to_owned());
    body.push(format!("ikelifetime={}s", c.ike.lifetime_secs));
    body.push(format!("salifetime={}s", c.ipsec.lifetime_secs));
    body.push(format!(
        "type={}",
        if c.ipsec.encapsulation_mode == EncapsulationMode::Transport { "transport" } else { "tunnel" }
    ));
    if let Some(action) = start.dpd_action {
        body.push(format!("dpddelay={}", c.dpd.interval));
        body.push(format!("dpdtimeout={}", c.dpd.timeout));
        // libreswan's words: `hold` keeps the policy and renegotiates on traffic (strongSwan's trap).
        let action = if action == "trap" { "hold" } else { action };
        body.push(format!("dpdaction={action}"));
    }
    body.push(format!("mtu={}", c.mtu));
    body.push(format!("auto={}", if start.peer_starts { "start" } else { "route" }));

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Peer configuration of IPsec site connection {}, exported by vpnaas (libreswan 4, ipsec.conf(5)).",
        c.id
    );
    let _ = writeln!(
        out,
        "# The remote gateway's side ({left}) of the tunnel to {}: addresses, identities and subnets are",
        c.local_address
    );
    out.push_str("# this connection's, swapped; proposals, lifetimes, DPD and MTU are the same.\n");
    let _ = writeln!(out, "# Put it in /etc/ipsec.d/{name}.conf (ipsec.conf includes /etc/ipsec.d/*.conf), then");
    let _ = writeln!(out, "# `ipsec auto --add {name}`; pluto also loads it when it starts, with its auto= below.");
    if start.peer_starts {
        out.push_str("# This side starts the tunnel (auto=start); the vpnaas gateway answers.\n");
    } else {
        out.push_str(
            "# The vpnaas gateway starts the tunnel; this side answers and negotiates on traffic (auto=route).\n",
        );
    }
    for p in &problems {
        let _ = writeln!(out, "# NOT EXPRESSIBLE in libreswan, written commented out: {p}");
    }
    if !problems.is_empty() {
        out.push_str("# Without it libreswan proposes its defaults, which the vpnaas gateway will not accept:\n");
        out.push_str("# change the connection's policies to algorithms both ends have.\n");
    }
    match (&c.psk, secret) {
        (None, _) => {
            out.push_str("# Certificates: this export holds none. Import, into libreswan's NSS database:\n");
            let _ = writeln!(
                out,
                "#   your certificate and key ({PEER_CERT_FILE}, {PEER_KEY_FILE}; its subject or a subjectAltName must be {}):",
                m.local_id
            );
            let _ = writeln!(
                out,
                "#     openssl pkcs12 -export -in {PEER_CERT_FILE} -inkey {PEER_KEY_FILE} -name {PEER_CERT_NICKNAME} -out peer.p12 && ipsec import peer.p12"
            );
            let _ = writeln!(out, "#   the CA certificate that issued the vpnaas gateway's ({}):", m.peer_id);
            let _ = writeln!(out, "#     certutil -A -d sql:/var/lib/ipsec/nss -n {OUR_CA_NICKNAME} -t CT,, -i ca.pem");
            out.push_str("# Your certificate must chain to the CA(s) given as the connection's peer_ca.\n");
        }
        (Some(psk), secret) => {
            let _ = writeln!(
                out,
                "# The pre-shared key: put this line, without the leading '# ', in /etc/ipsec.d/{name}.secrets"
            );
            let literal = match secret {
                Secret::Include => psk_literal(psk.expose()),
                Secret::Withhold => {
                    out.push_str(
                        "# (the key is withheld: only the connection's owners, members of its project, and admins\n",
                    );
                    out.push_str("# see it; replace the placeholder with the key):\n");
                    format!("\"{PSK_PLACEHOLDER}\"")
                }
            };
            let _ = writeln!(out, "# {} {} : PSK {literal}", identity(&m.local_id), identity(&m.peer_id));
        }
    }
    let _ = writeln!(out, "\nconn {name}");
    for line in body {
        let _ = writeln!(out, "    {line}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpnaas_core::algorithms::{DpdAction, Initiator};
    use vpnaas_core::values::{Cidr, Dpd};

    use crate::render::tests::desired;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().map(str::trim).collect()
    }

    #[test]
    fn every_encryption_algorithm_has_its_libreswan_name() {
        use EncryptionAlgorithm as E;
        let table = [
            (E::TripleDes, "3des"),
            (E::Aes128, "aes128"),
            (E::Aes192, "aes192"),
            (E::Aes256, "aes256"),
            (E::Aes128Ctr, "aes_ctr128"),
            (E::Aes192Ctr, "aes_ctr192"),
            (E::Aes256Ctr, "aes_ctr256"),
            (E::Aes128Ccm8, "aes_ccm_a128"),
            (E::Aes128Ccm12, "aes_ccm_b128"),
            (E::Aes128Ccm16, "aes_ccm_c128"),
            (E::Aes192Ccm8, "aes_ccm_a192"),
            (E::Aes192Ccm12, "aes_ccm_b192"),
            (E::Aes192Ccm16, "aes_ccm_c192"),
            (E::Aes256Ccm8, "aes_ccm_a256"),
            (E::Aes256Ccm12, "aes_ccm_b256"),
            (E::Aes256Ccm16, "aes_ccm_c256"),
            (E::Aes128Gcm8, "aes_gcm_a128"),
            (E::Aes128Gcm12, "aes_gcm_b128"),
            (E::Aes128Gcm16, "aes_gcm_c128"),
            (E::Aes192Gcm8, "aes_gcm_a192"),
            (E::Aes192Gcm12, "aes_gcm_b192"),
            (E::Aes192Gcm16, "aes_gcm_c192"),
            (E::Aes256Gcm8, "aes_gcm_a256"),
            (E::Aes256Gcm12, "aes_gcm_b256"),
            (E::Aes256Gcm16, "aes_gcm_c256"),
        ];
        assert_eq!(table.len(), EncryptionAlgorithm::ALL.len(), "every API value is in the table");
        for (e, name) in table {
            assert_eq!(cipher(e).0, name, "{e}");
            assert_eq!(cipher(e).1, name.contains("gcm") || name.contains("ccm"), "{e}");
            let mut c = desired();
            c.ipsec.encryption_algorithm = e;
            let (_, p) = child_proposal(&c).unwrap();
            let expected = if cipher(e).1 { format!("{name}-null;modp1536") } else { format!("{name}-sha1;modp1536") };
            assert_eq!(p, expected);
        }
    }

    #[test]
    fn every_integrity_algorithm_and_group_has_its_name_or_a_reason() {
        use AuthAlgorithm as A;
        let table = [
            (A::Sha1, "sha1"),
            (A::Sha256, "sha2_256"),
            (A::Sha384, "sha2_384"),
            (A::Sha512, "sha2_512"),
            (A::AesXcbc, "aes_xcbc"),
            (A::AesCmac, "aes_cmac"),
        ];
        assert_eq!(table.len(), AuthAlgorithm::ALL.len());
        for (a, name) in table {
            assert_eq!(integrity(a), name);
        }
        let groups = [
            (Pfs::Group2, None),
            (Pfs::Group5, Some("modp1536")),
            (Pfs::Group14, Some("modp2048")),
            (Pfs::Group15, Some("modp3072")),
            (Pfs::Group16, Some("modp4096")),
            (Pfs::Group17, Some("modp6144")),
            (Pfs::Group18, Some("modp8192")),
            (Pfs::Group19, Some("dh19")),
            (Pfs::Group20, Some("dh20")),
            (Pfs::Group21, Some("dh21")),
            (Pfs::Group22, None),
            (Pfs::Group23, None),
            (Pfs::Group24, None),
            (Pfs::Group25, None),
            (Pfs::Group26, None),
            (Pfs::Group27, None),
            (Pfs::Group28, None),
            (Pfs::Group29, None),
            (Pfs::Group30, None),
            (Pfs::Group31, Some("dh31")),
        ];
        assert_eq!(groups.len(), Pfs::ALL.len());
        for (p, name) in groups {
            assert_eq!(dh(p).ok(), name, "{p}");
        }
    }

    #[test]
    fn ike_proposals_and_what_libreswan_cannot_express() {
        use AuthAlgorithm as A;
        use EncryptionAlgorithm as E;
        // (enc, auth, pfs, version) → Ok(ike=) or Err(contains)
        type Case = (E, A, Pfs, IkeVersion, Result<&'static str, &'static str>);
        let table: [Case; 9] = [
            (E::Aes256, A::Sha256, Pfs::Group14, IkeVersion::V2, Ok("aes256-sha2_256;modp2048")),
            (E::Aes256Gcm16, A::Sha384, Pfs::Group20, IkeVersion::V2, Ok("aes_gcm_c256-sha2_384;dh20")),
            (E::Aes128Ctr, A::Sha1, Pfs::Group5, IkeVersion::V1, Ok("aes_ctr128-sha1;modp1536")),
            (E::Aes128, A::AesXcbc, Pfs::Group31, IkeVersion::V2, Ok("aes128-aes_xcbc;dh31")),
            (E::Aes128, A::AesXcbc, Pfs::Group14, IkeVersion::V1, Err("AES-XCBC PRF for IKEv1")),
            (E::Aes128, A::AesCmac, Pfs::Group14, IkeVersion::V2, Err("AES-CMAC")),
            (E::Aes128Ccm16, A::Sha256, Pfs::Group14, IkeVersion::V2, Err("no CCM for IKE")),
            (E::Aes128, A::Sha256, Pfs::Group2, IkeVersion::V2, Err("group 2")),
            (E::Aes128, A::Sha256, Pfs::Group28, IkeVersion::V2, Err("Brainpool")),
        ];
        for (enc, auth, pfs, version, expected) in table {
            let mut c = desired();
            (c.ike.encryption_algorithm, c.ike.auth_algorithm, c.ike.pfs, c.ike.ike_version) =
                (enc, auth, pfs, version);
            match (ike_proposal(&c), expected) {
                (Ok(p), Ok(e)) => assert_eq!(p, e),
                (Err(why), Err(e)) => assert!(why.to_string().contains(e), "{why}"),
                (got, e) => panic!("{enc} {auth} {pfs} {version}: {got:?}, expected {e:?}"),
            }
        }
    }

    #[test]
    fn ikev1_pfs_takes_modp_groups_only() {
        let mut c = desired();
        c.ipsec.pfs = Pfs::Group19;
        assert!(child_proposal(&c).unwrap_err().to_string().contains("IKEv1 has no elliptic-curve groups"));
        c.ipsec.pfs = Pfs::Group18;
        assert_eq!(child_proposal(&c).unwrap(), ("esp", "aes128-sha1;modp8192".to_owned()));
        c.ike.ike_version = IkeVersion::V2;
        c.ipsec.pfs = Pfs::Group31;
        assert_eq!(child_proposal(&c).unwrap(), ("esp", "aes128-sha1;dh31".to_owned()));
    }

    #[test]
    fn the_export_is_the_mirrored_conn_with_the_secrets_line() {
        let mut c = desired();
        c.ike.ike_version = IkeVersion::V2;
        c.ike.auth_algorithm = AuthAlgorithm::Sha256;
        c.ike.encryption_algorithm = EncryptionAlgorithm::Aes256;
        c.ike.pfs = Pfs::Group14;
        c.ike.lifetime_secs = 28800;
        c.ipsec.transform_protocol = TransformProtocol::Ah;
        c.ipsec.auth_algorithm = AuthAlgorithm::Sha512;
        c.ipsec.pfs = Pfs::Group19;
        c.ipsec.lifetime_secs = 1200;
        c.mtu = 1400;
        c.dpd = Dpd { action: DpdAction::Restart, interval: 5, timeout: 20 };
        c.local_cidrs.push(Cidr::parse("10.1.1.0/24").unwrap());
        c.peer_id = "@b.example".into();
        let text = libreswan(&c, Secret::Include).unwrap();
        let got = lines(&text);
        for wanted in [
            "conn vpnaas-6c27e2e7-e6bd-48cb-8980-187b496b4ec4",
            "left=192.0.2.2",
            "leftid=@b.example",
            "leftsubnet=10.2.0.0/24",
            "right=192.0.2.1",
            "rightid=192.0.2.1",
            "rightsubnets={10.1.0.0/24 10.1.1.0/24}",
            "authby=secret",
            "ikev2=yes",
            "ike=aes256-sha2_256;modp2048",
            "phase2=ah",
            "phase2alg=sha2_512;dh19",
            "pfs=yes",
            "ikelifetime=28800s",
            "salifetime=1200s",
            "type=tunnel",
            "dpddelay=5",
            "dpdtimeout=20",
            "dpdaction=hold",
            "mtu=1400",
            "auto=route",
            "# @b.example 192.0.2.1 : PSK \"s3cret-psk\"",
        ] {
            assert!(got.contains(&wanted), "{wanted:?} missing in\n{text}");
        }
        assert!(!text.contains("NOT EXPRESSIBLE"), "{text}");
        // Its comments say what the conn does: it waits for traffic, it does not start.
        assert!(!text.contains("auto=start"), "{text}");
    }

    #[test]
    fn what_libreswan_cannot_express_is_said_and_commented_out() {
        let mut c = desired();
        c.ike.pfs = Pfs::Group25;
        c.ipsec.transform_protocol = TransformProtocol::AhEsp;
        let text = libreswan(&c, Secret::Include).unwrap();
        assert!(text.contains("# NOT EXPRESSIBLE in libreswan, written commented out: ike: aes128-sha1;?: "), "{text}");
        assert!(text.contains("P-192"), "{text}");
        assert!(text.contains("cannot bundle AH with ESP"), "{text}");
        assert!(lines(&text).contains(&"#ike=aes128-sha1;?"), "{text}");
        assert!(!lines(&text).iter().any(|l| l.starts_with("ike=") || l.starts_with("phase2")), "{text}");
    }

    #[test]
    fn identities_keys_certificates_and_initiation_in_libreswan_words() {
        assert_eq!(identity("192.0.2.1"), "192.0.2.1");
        assert_eq!(identity("@a.example"), "@a.example");
        assert_eq!(identity("a.example"), "@a.example");
        assert_eq!(identity("ops@a.example"), "ops@a.example");
        assert_eq!(identity("CN=a, O=Ex"), "\"CN=a, O=Ex\"");
        assert_eq!(psk_literal("plain key"), "\"plain key\"");
        assert_eq!(psk_literal("a\"b"), "0x612262");
        let withheld = libreswan(&desired(), Secret::Withhold).unwrap();
        assert!(withheld.contains(&format!(": PSK \"{PSK_PLACEHOLDER}\"")) && !withheld.contains("s3cret-psk"));
        let mut c = desired();
        c.initiator = Initiator::ResponseOnly;
        let text = libreswan(&c, Secret::Include).unwrap();
        assert!(lines(&text).contains(&"auto=start") && lines(&text).contains(&"dpdaction=restart"), "{text}");
        use vpnaas_core::contract::CertCredentials;
        use vpnaas_core::values::PrivateKey;
        c.psk = None;
        c.certs = Some(CertCredentials {
            certificate: "OUR-CERT".into(),
            private_key: PrivateKey::checked("OUR-KEY-canary".into()),
            chain: Vec::new(),
            peer_cas: vec!["THEIR-CA".into()],
        });
        let text = libreswan(&c, Secret::Include).unwrap();
        assert!(lines(&text).contains(&"authby=rsasig") && lines(&text).contains(&"leftcert=vpnaas-peer"), "{text}");
        assert!(!text.contains("OUR-KEY-canary") && !text.contains("OUR-CERT") && !text.contains(": PSK"), "{text}");
    }
}
