//! The remote site's configuration of a connection (ADR 0019): the mirror image of what our gateway runs, as swanctl.conf text (rendered by `render`, as the agent's own) or as libreswan's ipsec.conf (`libreswan`).
//!
//! The mirror swaps addresses, identities and traffic selectors, keeps the proposals,
//! lifetimes and dead peer detection, and decides who starts the tunnel so that the two
//! gateways do not both start at once (the crossing `render` avoids between two agents).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vpnaas_core::algorithms::{DpdAction, Initiator};
use vpnaas_core::contract::{CertCredentials, DesiredConnection};
use vpnaas_core::values::{PeerAddress, PrivateKey, Psk};

use crate::render::{render, RenderError, Rendered};
use crate::swanctl::{hex, value, write_section};
use crate::vici::{Message, Value};

/// The dialects a peer configuration is exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Swanctl,
    Libreswan,
}

impl Format {
    /// Every accepted `format` value.
    pub const ALL: &'static [&'static str] = &["swanctl", "libreswan"];

    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "swanctl" => Some(Format::Swanctl),
            "libreswan" => Some(Format::Libreswan),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Swanctl => "swanctl",
            Format::Libreswan => "libreswan",
        }
    }
}

/// Whether the export carries the pre-shared key, or a placeholder in its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    Include,
    Withhold,
}

/// What stands where a withheld pre-shared key would be.
pub const PSK_PLACEHOLDER: &str = "REPLACE-WITH-THE-PRE-SHARED-KEY";
/// The file names a certificate export refers to: the peer's own certificate and key,
/// and the CA certificate that issued our gateway's certificate.
pub const PEER_CERT_FILE: &str = "vpnaas-peer.pem";
pub const PEER_KEY_FILE: &str = "vpnaas-peer.key";
pub const OUR_CA_FILE: &str = "vpnaas-ca.pem";
/// libreswan's NSS nicknames for the same two certificates.
pub const PEER_CERT_NICKNAME: &str = "vpnaas-peer";
pub const OUR_CA_NICKNAME: &str = "vpnaas-ca";

/// The peer's side of `c`, the connection as our gateway runs it: addresses, identities and
/// selectors swapped. A certificate connection refers to the peer's files by name (our
/// certificate and key are not in it); the key is `c`'s, or the placeholder.
pub fn mirror(c: &DesiredConnection, secret: Secret) -> DesiredConnection {
    let local_address = match &c.peer_address {
        PeerAddress::Ip(ip) => *ip,
        // A peer known by its host name: the address is written as that name (see `swanctl`).
        PeerAddress::Fqdn(_) if c.local_address.is_ipv6() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        PeerAddress::Fqdn(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let psk = match secret {
        Secret::Include => c.psk.clone(),
        Secret::Withhold => c.psk.as_ref().and_then(|_| Psk::parse(PSK_PLACEHOLDER).ok()),
    };
    let certs = c.certs.as_ref().map(|_| CertCredentials {
        certificate: PEER_CERT_FILE.to_owned(),
        private_key: PrivateKey::checked(String::new()),
        chain: Vec::new(),
        peer_cas: vec![OUR_CA_FILE.to_owned()],
    });
    DesiredConnection {
        id: c.id,
        vpnservice_id: c.vpnservice_id,
        revision: c.revision,
        enabled: true,
        ike: c.ike,
        ipsec: c.ipsec,
        psk,
        certs,
        local_id: peer_id(c),
        local_address,
        peer_address: PeerAddress::Ip(c.local_address),
        peer_id: c.local_id.clone(),
        local_cidrs: c.peer_cidrs.clone(),
        peer_cidrs: c.local_cidrs.clone(),
        dpd: c.dpd,
        mtu: c.mtu,
        initiator: Initiator::BiDirectional,
        ha: None,
        options: c.options,
    }
}

/// The identity our gateway expects of the peer (`render`'s rule: the peer address when empty).
fn peer_id(c: &DesiredConnection) -> String {
    if c.peer_id.is_empty() {
        c.peer_address.to_string()
    } else {
        c.peer_id.clone()
    }
}

/// Who starts the tunnel, seen from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Initiation {
    /// The peer starts the tunnel at once (and restarts it): our gateway never initiates
    /// (`response-only`), or both do and the peer's identity orders first, as our agent
    /// then waits for the peer (`render`'s eager rule).
    pub peer_starts: bool,
    /// The CHILD_SA's action on a dead peer, in strongSwan's words; `None`: no DPD.
    pub dpd_action: Option<&'static str>,
}

/// The peer's initiation and DPD action for our connection `c`. When our gateway starts at
/// once, the peer installs a trap instead (it negotiates on traffic, so it does not race
/// ours at start and still brings the tunnel back by itself).
pub fn initiation(c: &DesiredConnection) -> Initiation {
    let we_start = c.initiator == Initiator::BiDirectional && c.local_id <= peer_id(c);
    let peer_starts = !we_start;
    let dpd_action = match c.dpd.action {
        DpdAction::Disabled => None,
        // Ours tears down and expects the peer to re-establish.
        DpdAction::RestartByPeer => Some("restart"),
        DpdAction::Clear => Some("clear"),
        DpdAction::Hold | DpdAction::Restart => Some(if peer_starts { "restart" } else { "trap" }),
    };
    Initiation { peer_starts, dpd_action }
}

/// The peer's configuration of `c` as swanctl.conf text: load it with
/// `swanctl --load-all --file FILE`, or put it in `/etc/swanctl/conf.d/`.
pub fn swanctl(c: &DesiredConnection, secret: Secret) -> Result<String, RenderError> {
    let m = mirror(c, secret);
    let mut r = render(&m)?;
    let start = initiation(c);
    adjust(&mut r, c, start);
    let mut out = String::new();
    let _ =
        writeln!(out, "# Peer configuration of IPsec site connection {}, exported by vpnaas (swanctl.conf(5)).", c.id);
    let _ = writeln!(
        out,
        "# The remote gateway's side ({}) of the tunnel to {}: addresses, identities and traffic",
        c.peer_address, c.local_address
    );
    out.push_str("# selectors are this connection's, swapped; proposals, lifetimes and DPD are the same.\n");
    out.push_str("# Load it with `swanctl --load-all --file FILE`, or put it in /etc/swanctl/conf.d/.\n");
    if start.peer_starts {
        out.push_str("# This side starts the tunnel (start_action = start); the vpnaas gateway answers.\n");
    } else {
        out.push_str("# The vpnaas gateway starts the tunnel; this side answers, and negotiates on traffic\n");
        out.push_str("# (start_action = trap) so that both ends do not start at once.\n");
    }
    let _ = writeln!(
        out,
        "# MTU {}: swanctl.conf has no per-connection MTU; set it on the route or interface toward {}.",
        c.mtu,
        c.local_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    if c.certs.is_some() {
        let _ = writeln!(out, "# Certificates: this export holds none. Supply, on this gateway:");
        let _ = writeln!(
            out,
            "#   /etc/swanctl/x509/{PEER_CERT_FILE}      your certificate; its subject or a subjectAltName must be {}",
            m.local_id
        );
        let _ = writeln!(
            out,
            "#   /etc/swanctl/private/{PEER_KEY_FILE}   your private key (PEM; pkcs8/, rsa/ or ecdsa/ work too)"
        );
        let _ = writeln!(
            out,
            "#   /etc/swanctl/x509ca/{OUR_CA_FILE}      the CA certificate that issued the vpnaas gateway's ({})",
            m.peer_id
        );
        out.push_str("# Your certificate must chain to the CA(s) given as the connection's peer_ca.\n");
    }
    out.push_str("connections {\n");
    write_section(&mut out, 1, &r.conn);
    out.push_str("}\n");
    if c.psk.is_some() {
        out.push_str("\nsecrets {\n");
        if secret == Secret::Withhold {
            out.push_str(
                "    # The pre-shared key is withheld: only the connection's owners (members of its project)\n",
            );
            out.push_str("    # and admins see it. Replace the placeholder with the key.\n");
        }
        let _ = writeln!(out, "    ike-{} {{", r.name);
        for (n, owner) in r.secret.strings("owners").iter().enumerate() {
            let _ = writeln!(out, "        id-{} = {}", n + 1, value(owner));
        }
        match (secret, r.secret.get("data")) {
            (Secret::Include, Some(Value::Str(data))) => {
                let _ = writeln!(out, "        secret = 0x{}", hex(data));
            }
            _ => {
                let _ = writeln!(out, "        secret = {PSK_PLACEHOLDER}");
            }
        }
        out.push_str("    }\n}\n");
    }
    Ok(out)
}

/// The peer's initiation, and its own address as a host name when it is known by one.
fn adjust(r: &mut Rendered, c: &DesiredConnection, start: Initiation) {
    let Some((_, Value::Section(ike))) = r.conn.entries.first_mut() else { return };
    if let PeerAddress::Fqdn(name) = &c.peer_address {
        set(ike, "local_addrs", Value::List(vec![name.clone().into_bytes()]));
    }
    for (key, v) in &mut ike.entries {
        if key != "children" {
            continue;
        }
        if let Value::Section(children) = v {
            for (_, child) in &mut children.entries {
                if let Value::Section(child) = child {
                    let action = if start.peer_starts { "start" } else { "trap" };
                    set(child, "start_action", Value::Str(action.as_bytes().to_vec()));
                    match start.dpd_action {
                        Some(a) => set(child, "dpd_action", Value::Str(a.as_bytes().to_vec())),
                        None => child.entries.retain(|(k, _)| k != "dpd_action"),
                    }
                }
            }
        }
    }
}

/// Replaces `key`'s value in place, or appends it.
fn set(m: &mut Message, key: &str, v: Value) {
    match m.entries.iter_mut().find(|(k, _)| k == key) {
        Some((_, slot)) => *slot = v,
        None => m.entries.push((key.to_owned(), v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpnaas_core::algorithms::IkeVersion;
    use vpnaas_core::values::{Cidr, Dpd};

    use crate::render::tests::desired;

    fn line(text: &str, wanted: &str) -> bool {
        text.lines().any(|l| l.trim() == wanted)
    }

    #[test]
    fn the_mirror_swaps_addresses_identities_and_selectors_and_keeps_the_rest() {
        let mut c = desired();
        c.local_id = "@a.example".into();
        c.peer_id = "@b.example".into();
        c.local_cidrs.push(Cidr::parse("10.1.1.0/24").unwrap());
        let m = mirror(&c, Secret::Include);
        assert_eq!(m.local_address.to_string(), "192.0.2.2");
        assert_eq!(m.peer_address.to_string(), "192.0.2.1");
        assert_eq!((m.local_id.as_str(), m.peer_id.as_str()), ("@b.example", "@a.example"));
        assert_eq!(m.local_cidrs, c.peer_cidrs);
        assert_eq!(m.peer_cidrs, c.local_cidrs);
        assert_eq!((m.ike, m.ipsec, m.dpd, m.mtu), (c.ike, c.ipsec, c.dpd, c.mtu));
        assert_eq!(m.psk, c.psk);
        assert_eq!(mirror(&c, Secret::Withhold).psk.map(|p| p.expose().to_owned()).as_deref(), Some(PSK_PLACEHOLDER));
        c.peer_id = String::new();
        assert_eq!(mirror(&c, Secret::Include).local_id, "192.0.2.2", "an empty peer_id is the peer address");
    }

    #[test]
    fn the_swanctl_export_is_the_mirrored_rendering_with_the_key_in_hex() {
        let c = desired();
        let text = swanctl(&c, Secret::Include).unwrap();
        for wanted in [
            "local_addrs = 192.0.2.2",
            "remote_addrs = 192.0.2.1",
            "id = 192.0.2.2",
            "id = 192.0.2.1",
            "local_ts = 10.2.0.0/24",
            "remote_ts = 10.1.0.0/24",
            "proposals = aes128-sha1-modp1536",
            "esp_proposals = aes128-sha1-modp1536",
            "life_time = 3600s",
            "dpd_delay = 30s",
            "id-1 = 192.0.2.2",
            "id-2 = 192.0.2.1",
            "secret = 0x7333637265742d70736b",
        ] {
            assert!(line(&text, wanted), "{wanted:?} missing in\n{text}");
        }
        assert!(!text.contains("s3cret-psk"));
        let (local, remote) = (text.find("local {").unwrap(), text.find("remote {").unwrap());
        assert!(text[local..remote].contains("id = 192.0.2.2"), "the peer's own id is its local id\n{text}");
    }

    #[test]
    fn a_withheld_key_is_a_placeholder_with_a_comment() {
        let text = swanctl(&desired(), Secret::Withhold).unwrap();
        assert!(line(&text, &format!("secret = {PSK_PLACEHOLDER}")), "{text}");
        assert!(text.contains("# The pre-shared key is withheld"));
        assert!(!text.contains("0x7333637265742d70736b") && !text.contains("s3cret-psk"));
    }

    #[test]
    fn who_starts_is_mirrored_so_that_exactly_one_side_starts_at_once() {
        // (our initiator, our id orders first?, our dpd) → (peer start_action, peer dpd_action)
        let table = [
            (Initiator::BiDirectional, true, DpdAction::Hold, "trap", Some("trap")),
            (Initiator::BiDirectional, true, DpdAction::Restart, "trap", Some("trap")),
            (Initiator::BiDirectional, false, DpdAction::Restart, "start", Some("restart")),
            (Initiator::ResponseOnly, true, DpdAction::Hold, "start", Some("restart")),
            (Initiator::ResponseOnly, false, DpdAction::Clear, "start", Some("clear")),
            (Initiator::BiDirectional, true, DpdAction::RestartByPeer, "trap", Some("restart")),
            (Initiator::BiDirectional, true, DpdAction::Disabled, "trap", None),
        ];
        for (initiator, ours_first, action, start, dpd) in table {
            let mut c = desired();
            c.initiator = initiator;
            c.dpd = Dpd { action, interval: 5, timeout: 20 };
            if !ours_first {
                c.local_id = "192.0.2.9".into();
            }
            let text = swanctl(&c, Secret::Include).unwrap();
            assert!(line(&text, &format!("start_action = {start}")), "{initiator} {ours_first} {action}\n{text}");
            match dpd {
                Some(d) => assert!(line(&text, &format!("dpd_action = {d}")), "{action}\n{text}"),
                None => assert!(!text.contains("dpd_action"), "{text}"),
            }
            assert!(line(&text, "keyingtries = 0"), "the peer retries whenever it initiates");
        }
    }

    #[test]
    fn certificates_are_named_files_and_our_key_never_appears() {
        let mut c = desired();
        c.psk = None;
        c.ike.ike_version = IkeVersion::V2;
        c.local_id = "CN=site-a, O=Example".into();
        c.peer_id = "site-b.example".into();
        c.certs = Some(CertCredentials {
            certificate: "OUR-CERT-PEM".into(),
            private_key: PrivateKey::checked("OUR-KEY-canary".into()),
            chain: vec!["OUR-CHAIN".into()],
            peer_cas: vec!["THEIR-CA".into()],
        });
        let text = swanctl(&c, Secret::Include).unwrap();
        for wanted in [
            "auth = pubkey",
            &format!("certs = {PEER_CERT_FILE}"),
            &format!("cacerts = {OUR_CA_FILE}"),
            "id = site-b.example",
            "id = \"CN=site-a, O=Example\"",
        ] {
            assert!(line(&text, wanted), "{wanted:?} missing in\n{text}");
        }
        for secret in ["OUR-KEY-canary", "OUR-CERT-PEM", "OUR-CHAIN", "THEIR-CA", "secrets {"] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
        assert!(text.contains(&format!("/etc/swanctl/private/{PEER_KEY_FILE}")));
    }

    #[test]
    fn a_peer_known_by_name_uses_its_name_as_its_address() {
        let mut c = desired();
        c.peer_address = PeerAddress::parse("vpn.example.com").unwrap();
        c.peer_id = "@vpn.example.com".into();
        let text = swanctl(&c, Secret::Include).unwrap();
        assert!(line(&text, "local_addrs = vpn.example.com"), "{text}");
        assert!(line(&text, "id = @vpn.example.com"), "{text}");
    }

    #[test]
    fn formats_parse_their_names_only() {
        for name in Format::ALL {
            assert_eq!(Format::parse(name).map(Format::as_str), Some(*name));
        }
        assert_eq!(Format::parse("openswan"), None);
    }
}
