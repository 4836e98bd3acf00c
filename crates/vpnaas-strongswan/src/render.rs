//! Pure rendering of a desired connection into charon's `load-conn` and `load-shared` VICI messages, and the check of what this charon can do.
//!
//! The algorithm names are the ones neutron-vpnaas's strongSwan driver writes for the API's
//! values: `aes-128` → `aes128`, `group14` → `modp2048`, `aes-128-gcm-16` → `aes128gcm16`, ...
//! The option names are swanctl.conf(5)'s, which `load-conn` takes as they are.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

use uuid::Uuid;
use vpnaas_core::algorithms::{
    AuthAlgorithm, DpdAction, EncapsulationMode, EncryptionAlgorithm, IkeVersion, Initiator, Pfs, Phase1Mode,
    TransformProtocol,
};
use vpnaas_core::contract::DesiredConnection;

use crate::vici::{Message, WireError};

/// A digest of a rendering (both messages, PSK included): equal renderings, equal prints.
pub type Fingerprint = u64;

/// One connection as charon will load it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub id: Uuid,
    /// The IKE config name: the connection id.
    pub name: String,
    /// The CHILD_SA config names: the connection id (IKEv1 with several subnet pairs: `id-N`).
    pub children: Vec<String>,
    /// The argument of `load-conn` (`{ <id> = { ... } }`).
    pub conn: Message,
    /// The argument of `load-shared`; `Message`'s `Debug` hides the key. Empty for a
    /// connection that authenticates with certificates.
    pub secret: Message,
    /// For certificates (ADR 0017): the `load-key` and `load-cert` commands to run before
    /// `load-conn`, in order; `Debug` hides the key's `data`.
    pub credentials: Vec<Credential>,
    pub needs: Needs,
    pub fingerprint: Fingerprint,
    /// The print of the rendering without its credentials (the certificate, its key and
    /// chain, the peer's CAs). Two renderings that differ only in credentials have the
    /// same shape: the agent replaces them in charon without tearing the tunnel down
    /// (ADR 0017, rotation). Pre-shared keys are part of the shape.
    pub shape: Fingerprint,
    /// Whether the gateway initiates (and so re-initiates) this connection.
    pub initiates: bool,
    /// Of two gateways that both initiate, the one with the smaller IKE identity starts at
    /// once (its agent initiates right after loading; DPD `restart`); the other waits, and
    /// initiates only if no tunnel came (see `render`). The VICI rendering has no
    /// `start_action`: charon closes the SAs of a `start_action = start` connection whenever
    /// it is replaced, and a credential rotation replaces it while its tunnel runs (ADR
    /// 0017). The swanctl.conf text, for a charon without an agent, says `start` instead.
    pub eager: bool,
}

/// One `load-key` or `load-cert` command.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    pub command: &'static str,
    pub message: Message,
}

/// What the rendering asks of charon beyond parsing: checked against `Capabilities`,
/// because charon accepts any algorithm it can name in `load-conn` and only fails when
/// it negotiates (measured: `aes128gcm16-...-ecp256` loads, then "DH group ECP_256 not
/// supported" at initiation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub algorithms: Vec<Need>,
    pub ah: bool,
    pub transport: bool,
}

/// One algorithm, by charon's name (as `get-algorithms` lists it) and the API setting it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub charon: &'static str,
    pub setting: String,
}

/// What one running charon can do: its loaded algorithms and plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Every algorithm name of `get-algorithms`, whatever its kind (`AES_CBC`, `MODP_2048`, ...).
    pub algorithms: BTreeSet<String>,
    /// The loaded plugins (`stats`): `kernel-libipsec` does ESP in tunnel mode only.
    pub plugins: BTreeSet<String>,
}

impl Capabilities {
    /// From the answers to `get-algorithms` and `stats`.
    pub fn from_answers(algorithms: &Message, stats: &Message) -> Capabilities {
        let algorithms =
            algorithms.sections().flat_map(|(_, kind)| kind.entries.iter().map(|(name, _)| name.clone())).collect();
        let plugins = stats.strings("plugins").into_iter().collect();
        Capabilities { algorithms, plugins }
    }

    /// `Err` when this charon cannot run a rendering; its message is for admins.
    pub fn check(&self, needs: &Needs) -> Result<(), Unsupported> {
        let mut missing: Vec<String> = Vec::new();
        for need in &needs.algorithms {
            if !self.algorithms.contains(need.charon) {
                let line = format!("{} ({} is not loaded in charon)", need.setting, need.charon);
                if !missing.contains(&line) {
                    missing.push(line);
                }
            }
        }
        // libipsec answers "IPsec SA: protocol not supported" / "unsupported mode" only when
        // it installs the SA, after a successful negotiation (strings of libipsec.so).
        if self.plugins.contains("kernel-libipsec") {
            if needs.ah {
                missing.push("transform_protocol ah (kernel-libipsec carries ESP only)".to_owned());
            }
            if needs.transport {
                missing.push("encapsulation_mode transport (kernel-libipsec does tunnel mode only)".to_owned());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Unsupported { missing })
        }
    }
}

/// What a running charon lacks for a rendering: each setting, with the algorithm or plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this gateway's strongSwan cannot do {}", .missing.join("; "))]
pub struct Unsupported {
    pub missing: Vec<String>,
}

/// Why a desired connection cannot be rendered for charon at all, whatever charon runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("IKEv1 has no combined-mode (GCM/CCM) ciphers for the IKE SA (ike policy encryption_algorithm {0})")]
    AeadForIkeV1(EncryptionAlgorithm),
    // The reference's Swan validator refuses it too (rules.rs); charon has no AH+ESP bundles.
    #[error("strongSwan cannot bundle AH with ESP (ipsec policy transform_protocol ah-esp)")]
    AhEspBundle,
    #[error("the connection has no local subnets (local endpoint group or service subnet)")]
    NoLocalSubnets,
    #[error("the connection has no peer CIDRs")]
    NoPeerCidrs,
    #[error("the connection has neither a pre-shared key nor certificates")]
    NoCredentials,
    /// `what`: the connection, the pre-shared key, or a certificate or key.
    #[error("cannot encode {what}: {source}")]
    Encode { what: &'static str, source: WireError },
}

struct Cipher {
    keyword: &'static str,
    charon: &'static str,
    aead: bool,
}

fn cipher(e: EncryptionAlgorithm) -> Cipher {
    use EncryptionAlgorithm::*;
    let (keyword, charon) = match e {
        TripleDes => ("3des", "3DES_CBC"),
        Aes128 => ("aes128", "AES_CBC"),
        Aes192 => ("aes192", "AES_CBC"),
        Aes256 => ("aes256", "AES_CBC"),
        Aes128Ctr => ("aes128ctr", "AES_CTR"),
        Aes192Ctr => ("aes192ctr", "AES_CTR"),
        Aes256Ctr => ("aes256ctr", "AES_CTR"),
        Aes128Ccm8 => ("aes128ccm8", "AES_CCM_8"),
        Aes128Ccm12 => ("aes128ccm12", "AES_CCM_12"),
        Aes128Ccm16 => ("aes128ccm16", "AES_CCM_16"),
        Aes192Ccm8 => ("aes192ccm8", "AES_CCM_8"),
        Aes192Ccm12 => ("aes192ccm12", "AES_CCM_12"),
        Aes192Ccm16 => ("aes192ccm16", "AES_CCM_16"),
        Aes256Ccm8 => ("aes256ccm8", "AES_CCM_8"),
        Aes256Ccm12 => ("aes256ccm12", "AES_CCM_12"),
        Aes256Ccm16 => ("aes256ccm16", "AES_CCM_16"),
        Aes128Gcm8 => ("aes128gcm8", "AES_GCM_8"),
        Aes128Gcm12 => ("aes128gcm12", "AES_GCM_12"),
        Aes128Gcm16 => ("aes128gcm16", "AES_GCM_16"),
        Aes192Gcm8 => ("aes192gcm8", "AES_GCM_8"),
        Aes192Gcm12 => ("aes192gcm12", "AES_GCM_12"),
        Aes192Gcm16 => ("aes192gcm16", "AES_GCM_16"),
        Aes256Gcm8 => ("aes256gcm8", "AES_GCM_8"),
        Aes256Gcm12 => ("aes256gcm12", "AES_GCM_12"),
        Aes256Gcm16 => ("aes256gcm16", "AES_GCM_16"),
    };
    Cipher { keyword, charon, aead: charon.contains("CM_") }
}

struct Integrity {
    keyword: &'static str,
    charon: &'static str,
    prf_keyword: &'static str,
    prf: &'static str,
}

fn integrity(a: AuthAlgorithm) -> Integrity {
    let (keyword, charon, prf_keyword, prf) = match a {
        AuthAlgorithm::Sha1 => ("sha1", "HMAC_SHA1_96", "prfsha1", "PRF_HMAC_SHA1"),
        AuthAlgorithm::Sha256 => ("sha256", "HMAC_SHA2_256_128", "prfsha256", "PRF_HMAC_SHA2_256"),
        AuthAlgorithm::Sha384 => ("sha384", "HMAC_SHA2_384_192", "prfsha384", "PRF_HMAC_SHA2_384"),
        AuthAlgorithm::Sha512 => ("sha512", "HMAC_SHA2_512_256", "prfsha512", "PRF_HMAC_SHA2_512"),
        AuthAlgorithm::AesXcbc => ("aesxcbc", "AES_XCBC_96", "prfaesxcbc", "PRF_AES128_XCBC"),
        AuthAlgorithm::AesCmac => ("aescmac", "AES_CMAC_96", "prfaescmac", "PRF_AES128_CMAC"),
    };
    Integrity { keyword, charon, prf_keyword, prf }
}

/// The Diffie-Hellman group: strongSwan keyword and charon name (RFC 3526/5114/5903/7027/8031 numbers).
fn dh(p: Pfs) -> (&'static str, &'static str) {
    match p {
        Pfs::Group2 => ("modp1024", "MODP_1024"),
        Pfs::Group5 => ("modp1536", "MODP_1536"),
        Pfs::Group14 => ("modp2048", "MODP_2048"),
        Pfs::Group15 => ("modp3072", "MODP_3072"),
        Pfs::Group16 => ("modp4096", "MODP_4096"),
        Pfs::Group17 => ("modp6144", "MODP_6144"),
        Pfs::Group18 => ("modp8192", "MODP_8192"),
        Pfs::Group19 => ("ecp256", "ECP_256"),
        Pfs::Group20 => ("ecp384", "ECP_384"),
        Pfs::Group21 => ("ecp521", "ECP_521"),
        Pfs::Group22 => ("modp1024s160", "MODP_1024_160"),
        Pfs::Group23 => ("modp2048s224", "MODP_2048_224"),
        Pfs::Group24 => ("modp2048s256", "MODP_2048_256"),
        Pfs::Group25 => ("ecp192", "ECP_192"),
        Pfs::Group26 => ("ecp224", "ECP_224"),
        Pfs::Group27 => ("ecp224bp", "ECP_224_BP"),
        Pfs::Group28 => ("ecp256bp", "ECP_256_BP"),
        Pfs::Group29 => ("ecp384bp", "ECP_384_BP"),
        Pfs::Group30 => ("ecp512bp", "ECP_512_BP"),
        Pfs::Group31 => ("curve25519", "CURVE_25519"),
    }
}

/// The child's action on a dead peer. `trap` (strongSwan's "hold": keep the policy and
/// renegotiate on traffic) is never used: kernel-libipsec delivers no acquires (charon is
/// never told of traffic for a missing SA), so a held tunnel would stay dead. The eager initiator restarts at once
/// instead; every other gateway clears and lets the peer (or, if it initiates, its agent a
/// little later) bring the tunnel back, so that two gateways do not restart into each other.
fn dpd_action(action: DpdAction, eager: bool) -> Option<&'static str> {
    match (action, eager) {
        (DpdAction::Disabled, _) => None,
        (DpdAction::Hold | DpdAction::Restart, true) => Some("restart"),
        (DpdAction::Hold | DpdAction::Restart, false) => Some("clear"),
        // restart-by-peer: tear down and let the peer re-establish (openswan's meaning).
        (DpdAction::Clear | DpdAction::RestartByPeer, _) => Some("clear"),
    }
}

/// Rekey 10% before the policy's lifetime and let the SA die at the lifetime: the
/// lifetime is the hard limit, as in the reference's ipsec.conf (`ikelifetime`, `lifetime`).
fn soft_and_margin(lifetime: u64) -> (u64, u64) {
    let margin = (lifetime / 10).max(1);
    (lifetime.saturating_sub(margin), margin)
}

/// charon's word for a switch.
fn yes_no(on: bool) -> &'static str {
    if on {
        "yes"
    } else {
        "no"
    }
}

fn seconds(n: impl std::fmt::Display) -> String {
    format!("{n}s")
}

/// `DesiredConnection` → what charon must load, or why it cannot be rendered at all.
pub fn render(c: &DesiredConnection) -> Result<Rendered, RenderError> {
    let name = c.id.to_string();
    let mut needs = Needs::default();
    let v1 = c.ike.ike_version == IkeVersion::V1;
    let initiates = c.initiator == Initiator::BiDirectional;
    let peer_id = if c.peer_id.is_empty() { c.peer_address.to_string() } else { c.peer_id.clone() };
    // When both gateways start at once, their IKE_SAs cross; the responder of one then
    // destroys a duplicate on the peer's INITIAL_CONTACT without telling it, and the peer
    // keeps a dead SA (and shows ACTIVE) until dead peer detection (measured in the lab,
    // ~6 s with fast retransmits, minutes with charon's defaults). Both gateways order
    // their two identities the same way, so exactly one of them starts at once.
    let eager = initiates && c.local_id <= peer_id;

    // IKE proposal: enc-integ-dh, or for AEAD (IKEv2 only) enc-prf-dh.
    let enc = cipher(c.ike.encryption_algorithm);
    let integ = integrity(c.ike.auth_algorithm);
    let (dh_kw, dh_name) = dh(c.ike.pfs);
    let ike_setting = |what: &str, value: &str| format!("ike policy {what} {value}");
    needs.algorithms.push(Need {
        charon: enc.charon,
        setting: ike_setting("encryption_algorithm", c.ike.encryption_algorithm.as_str()),
    });
    let ike_proposal = if enc.aead {
        if v1 {
            return Err(RenderError::AeadForIkeV1(c.ike.encryption_algorithm));
        }
        format!("{}-{}-{}", enc.keyword, integ.prf_keyword, dh_kw)
    } else {
        needs
            .algorithms
            .push(Need { charon: integ.charon, setting: ike_setting("auth_algorithm", c.ike.auth_algorithm.as_str()) });
        format!("{}-{}-{}", enc.keyword, integ.keyword, dh_kw)
    };
    needs
        .algorithms
        .push(Need { charon: integ.prf, setting: ike_setting("auth_algorithm", c.ike.auth_algorithm.as_str()) });
    needs.algorithms.push(Need { charon: dh_name, setting: ike_setting("pfs", c.ike.pfs.as_str()) });

    // CHILD_SA proposal.
    let penc = cipher(c.ipsec.encryption_algorithm);
    let pinteg = integrity(c.ipsec.auth_algorithm);
    let (pdh_kw, pdh_name) = dh(c.ipsec.pfs);
    let ipsec_setting = |what: &str, value: &str| format!("ipsec policy {what} {value}");
    needs.algorithms.push(Need { charon: pdh_name, setting: ipsec_setting("pfs", c.ipsec.pfs.as_str()) });
    let (proposal_key, child_proposal) = match c.ipsec.transform_protocol {
        TransformProtocol::Esp => {
            needs.algorithms.push(Need {
                charon: penc.charon,
                setting: ipsec_setting("encryption_algorithm", c.ipsec.encryption_algorithm.as_str()),
            });
            if penc.aead {
                ("esp_proposals", format!("{}-{}", penc.keyword, pdh_kw))
            } else {
                needs.algorithms.push(Need {
                    charon: pinteg.charon,
                    setting: ipsec_setting("auth_algorithm", c.ipsec.auth_algorithm.as_str()),
                });
                ("esp_proposals", format!("{}-{}-{}", penc.keyword, pinteg.keyword, pdh_kw))
            }
        }
        TransformProtocol::Ah => {
            needs.ah = true;
            needs.algorithms.push(Need {
                charon: pinteg.charon,
                setting: ipsec_setting("auth_algorithm", c.ipsec.auth_algorithm.as_str()),
            });
            ("ah_proposals", format!("{}-{}", pinteg.keyword, pdh_kw))
        }
        TransformProtocol::AhEsp => return Err(RenderError::AhEspBundle),
    };
    needs.transport = c.ipsec.encapsulation_mode == EncapsulationMode::Transport;

    if c.local_cidrs.is_empty() {
        return Err(RenderError::NoLocalSubnets);
    }
    if c.peer_cidrs.is_empty() {
        return Err(RenderError::NoPeerCidrs);
    }
    let local: Vec<String> = c.local_cidrs.iter().map(ToString::to_string).collect();
    let peer: Vec<String> = c.peer_cidrs.iter().map(ToString::to_string).collect();
    // IKEv1 negotiates one selector pair per CHILD_SA (swanctl.conf(5), local_ts): one
    // child per pair. IKEv2 carries them all in one.
    let pairs: Vec<(Vec<String>, Vec<String>)> = if v1 && local.len() * peer.len() > 1 {
        local.iter().flat_map(|l| peer.iter().map(move |p| (vec![l.clone()], vec![p.clone()]))).collect()
    } else {
        vec![(local, peer)]
    };
    let child_names: Vec<String> =
        if pairs.len() == 1 { vec![name.clone()] } else { (1..=pairs.len()).map(|n| format!("{name}-{n}")).collect() };

    let (child_soft, _) = soft_and_margin(c.ipsec.lifetime_secs);
    let mut children = Message::new();
    for (child_name, (l, r)) in child_names.iter().zip(pairs) {
        let mut child = Message::new()
            .list("local_ts", l)
            .list("remote_ts", r)
            .kv("mode", c.ipsec.encapsulation_mode.as_str())
            .list(proposal_key, [child_proposal.clone()])
            .kv("rekey_time", seconds(child_soft))
            .kv("life_time", seconds(c.ipsec.lifetime_secs));
        if let Some(action) = dpd_action(c.dpd.action, eager) {
            child = child.kv("dpd_action", action);
        }
        // No start_action (`none`): the agent starts the eager side (see `Rendered::eager`).
        // `trap` would be the reference's `auto=route`, but kernel-libipsec never triggers it.
        children = children.section(child_name, child);
    }

    let (ike_soft, ike_margin) = soft_and_margin(c.ike.lifetime_secs);
    let mut ike = Message::new()
        .kv("version", if v1 { "1" } else { "2" })
        .list("local_addrs", [c.local_address.to_string()])
        .list("remote_addrs", [c.peer_address.to_string()])
        .list("proposals", [ike_proposal]);
    if v1 {
        // IKEv1 cannot rekey an ISAKMP SA in place; charon reauthenticates instead.
        ike = ike.kv("reauth_time", seconds(ike_soft));
        if c.ike.phase1_negotiation_mode == Phase1Mode::Aggressive {
            ike = ike.kv("aggressive", "yes");
        }
    } else {
        ike = ike.kv("rekey_time", seconds(ike_soft)).kv("mobike", yes_no(c.options.mobike));
    }
    ike = ike.kv("over_time", seconds(ike_margin));
    if c.dpd.action != DpdAction::Disabled {
        ike = ike.kv("dpd_delay", seconds(c.dpd.interval));
        // charon honours dpd_timeout for IKEv1 only; IKEv2 liveness follows its retransmission settings.
        if v1 {
            ike = ike.kv("dpd_timeout", seconds(c.dpd.timeout));
        }
    }
    if initiates {
        // Retry the initial connect until it works or fails for good (0: without limit).
        ike = ike.kv("keyingtries", "0");
    }
    // The local and remote sections without the credential lists, for `shape`.
    let (local, remote, secret, credentials, bare) = match (&c.certs, &c.psk) {
        // ADR 0017: the certificate travels in the connection (`certs`, as swanctl sends a
        // file's contents), the peer must chain to one of `cacerts`, and the key is loaded
        // on its own; intermediates and the CAs are also loaded as certificates, so that
        // charon can send the chain and finds the CAs as trust anchors.
        (Some(certs), _) => {
            let bare_local = Message::new().kv("auth", "pubkey").kv("id", c.local_id.clone());
            let bare_remote = Message::new().kv("auth", "pubkey").kv("id", peer_id.clone());
            let local = bare_local.clone().list("certs", [certs.certificate.clone()]);
            let remote = bare_remote.clone().list("cacerts", certs.peer_cas.iter().cloned());
            let mut credentials = vec![Credential {
                command: "load-key",
                message: Message::new().kv("type", "any").kv("data", certs.private_key.expose()),
            }];
            for (flag, pems) in [("NONE", &certs.chain), ("CA", &certs.peer_cas)] {
                for pem in pems {
                    credentials.push(Credential {
                        command: "load-cert",
                        message: Message::new().kv("type", "X509").kv("flag", flag).kv("data", pem.clone()),
                    });
                }
            }
            (local, remote, Message::new(), credentials, Some((bare_local, bare_remote)))
        }
        (None, Some(psk)) => {
            // `id` names the secret so that `unload-shared` removes exactly this one and a new
            // `load-shared` replaces it.
            let secret = Message::new()
                .kv("id", name.clone())
                .kv("type", "IKE")
                .kv("data", psk.expose())
                .list("owners", [c.local_id.clone(), peer_id.clone()]);
            let local = Message::new().kv("auth", "psk").kv("id", c.local_id.clone());
            let remote = Message::new().kv("auth", "psk").kv("id", peer_id.clone());
            (local, remote, secret, Vec::new(), None)
        }
        (None, None) => return Err(RenderError::NoCredentials),
    };
    let shape = match bare {
        Some((bare_local, bare_remote)) => {
            let ike = ike.clone().section("local", bare_local).section("remote", bare_remote);
            Some(fingerprint(&Message::new().section(&name, ike.section("children", children.clone())), &secret, &[])?)
        }
        None => None,
    };
    ike = ike.section("local", local).section("remote", remote).section("children", children);
    let conn = Message::new().section(&name, ike);

    let fingerprint = fingerprint(&conn, &secret, &credentials)?;
    let shape = shape.unwrap_or(fingerprint);
    Ok(Rendered {
        id: c.id,
        name,
        children: child_names,
        conn,
        secret,
        credentials,
        needs,
        fingerprint,
        shape,
        initiates,
        eager,
    })
}

fn fingerprint(conn: &Message, secret: &Message, credentials: &[Credential]) -> Result<Fingerprint, RenderError> {
    let encode = |what: &'static str, m: &Message| m.encode().map_err(|source| RenderError::Encode { what, source });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    encode("the connection", conn)?.hash(&mut h);
    encode("the pre-shared key", secret)?.hash(&mut h);
    for c in credentials {
        encode("a certificate or key", &c.message)?.hash(&mut h);
    }
    Ok(h.finish())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vpnaas_core::contract::{DesiredConnection, IkeProposal, IpsecProposal};
    use vpnaas_core::values::{Cidr, Dpd, PeerAddress, Psk};

    /// A connection every rendering test starts from (also swanctl.rs's).
    pub(crate) fn desired() -> DesiredConnection {
        DesiredConnection {
            id: Uuid::parse_str("6c27e2e7-e6bd-48cb-8980-187b496b4ec4").unwrap(),
            vpnservice_id: Uuid::nil(),
            revision: 3,
            enabled: true,
            ike: IkeProposal::default(),
            ipsec: IpsecProposal::default(),
            psk: Some(Psk::parse("s3cret-psk").unwrap()),
            certs: None,
            local_id: "192.0.2.1".into(),
            local_address: "192.0.2.1".parse().unwrap(),
            peer_address: PeerAddress::parse("192.0.2.2").unwrap(),
            peer_id: "192.0.2.2".into(),
            local_cidrs: vec![Cidr::parse("10.1.0.0/24").unwrap()],
            peer_cidrs: vec![Cidr::parse("10.2.0.0/24").unwrap()],
            dpd: Dpd::default(),
            mtu: 1500,
            initiator: Initiator::BiDirectional,
            ha: None,
            options: Default::default(),
        }
    }

    fn ike_of(r: &Rendered) -> &Message {
        r.conn.sub(&r.name).unwrap()
    }

    fn child_of(r: &Rendered) -> &Message {
        ike_of(r).sub("children").unwrap().sub(&r.name).unwrap()
    }

    #[test]
    fn the_defaults_render_like_the_reference_template() {
        let r = render(&desired()).unwrap();
        assert_eq!(r.name, "6c27e2e7-e6bd-48cb-8980-187b496b4ec4");
        assert_eq!(r.children, vec![r.name.clone()]);
        let ike = ike_of(&r);
        assert_eq!(ike.str("version").as_deref(), Some("1"));
        assert_eq!(ike.strings("proposals"), vec!["aes128-sha1-modp1536"]);
        assert_eq!(ike.strings("local_addrs"), vec!["192.0.2.1"]);
        assert_eq!(ike.strings("remote_addrs"), vec!["192.0.2.2"]);
        assert_eq!(ike.str("reauth_time").as_deref(), Some("3240s"));
        assert_eq!(ike.str("over_time").as_deref(), Some("360s"));
        assert_eq!(ike.str("dpd_delay").as_deref(), Some("30s"));
        assert_eq!(ike.str("dpd_timeout").as_deref(), Some("120s"));
        assert_eq!(ike.str("aggressive"), None);
        assert_eq!(ike.sub("local").and_then(|l| l.str("id")).as_deref(), Some("192.0.2.1"));
        assert_eq!(ike.sub("local").and_then(|l| l.str("auth")).as_deref(), Some("psk"));
        assert_eq!(ike.sub("remote").and_then(|l| l.str("id")).as_deref(), Some("192.0.2.2"));
        let child = child_of(&r);
        assert_eq!(child.strings("local_ts"), vec!["10.1.0.0/24"]);
        assert_eq!(child.strings("remote_ts"), vec!["10.2.0.0/24"]);
        assert_eq!(child.strings("esp_proposals"), vec!["aes128-sha1-modp1536"]);
        assert_eq!(child.str("mode").as_deref(), Some("tunnel"));
        assert_eq!(child.str("rekey_time").as_deref(), Some("3240s"));
        assert_eq!(child.str("life_time").as_deref(), Some("3600s"));
        assert_eq!(child.str("dpd_action").as_deref(), Some("restart"));
        assert_eq!(child.str("start_action"), None, "the agent starts it (Rendered::eager)");
    }

    #[test]
    fn the_shared_key_belongs_to_both_ids_and_is_named_by_the_connection() {
        let r = render(&desired()).unwrap();
        assert_eq!(r.secret.str("id").as_deref(), Some(r.name.as_str()));
        assert_eq!(r.secret.str("type").as_deref(), Some("IKE"));
        assert_eq!(r.secret.str("data").as_deref(), Some("s3cret-psk"));
        assert_eq!(r.secret.strings("owners"), vec!["192.0.2.1", "192.0.2.2"]);
        assert!(!format!("{r:?}").contains("s3cret-psk"), "Debug of a rendering shows the PSK");
    }

    #[test]
    fn certificates_authenticate_with_pubkey_trusting_only_the_peer_ca_and_never_show_the_key() {
        use vpnaas_core::contract::CertCredentials;
        use vpnaas_core::values::PrivateKey;
        let mut c = desired();
        c.psk = None;
        c.local_id = "site-a.example".into();
        c.peer_id = "CN=site-b, O=Example".into();
        c.certs = Some(CertCredentials {
            certificate: "LOCAL-CERT".into(),
            private_key: PrivateKey::checked("KEY-canary".into()),
            chain: vec!["INTERMEDIATE".into()],
            peer_cas: vec!["CA-1".into(), "CA-2".into()],
        });
        let r = render(&c).unwrap();
        let ike = ike_of(&r);
        let (local, remote) = (ike.sub("local").unwrap(), ike.sub("remote").unwrap());
        assert_eq!((local.str("auth").as_deref(), remote.str("auth").as_deref()), (Some("pubkey"), Some("pubkey")));
        assert_eq!(local.strings("certs"), vec!["LOCAL-CERT"]);
        assert_eq!(local.str("id").as_deref(), Some("site-a.example"));
        assert_eq!(remote.str("id").as_deref(), Some("CN=site-b, O=Example"));
        assert_eq!(remote.strings("cacerts"), vec!["CA-1", "CA-2"]);
        assert!(r.secret.entries.is_empty(), "no shared secret");
        let commands: Vec<(&str, Option<String>)> =
            r.credentials.iter().map(|c| (c.command, c.message.str("flag"))).collect();
        assert_eq!(
            commands,
            vec![
                ("load-key", None),
                ("load-cert", Some("NONE".into())),
                ("load-cert", Some("CA".into())),
                ("load-cert", Some("CA".into()))
            ]
        );
        assert_eq!(r.credentials[0].message.str("data").as_deref(), Some("KEY-canary"));
        assert!(!format!("{r:?}").contains("KEY-canary"), "Debug of a rendering shows the key");
        // Another certificate is another rendering of the same shape: the agent replaces it
        // in charon without tearing the tunnel down.
        if let Some(certs) = c.certs.as_mut() {
            certs.certificate = "ROTATED".into();
            certs.private_key = PrivateKey::checked("KEY-rotated".into());
            certs.peer_cas = vec!["CA-3".into()];
        }
        let rotated = render(&c).unwrap();
        assert_ne!(rotated.fingerprint, r.fingerprint);
        assert_eq!(rotated.shape, r.shape);
        assert_ne!(r.shape, r.fingerprint, "the shape leaves the credentials out");
        // Anything else changes the shape: the tunnel is rebuilt.
        c.peer_id = "CN=someone else".into();
        assert_ne!(render(&c).unwrap().shape, r.shape);
        // A pre-shared key is part of the shape.
        c.certs = None;
        c.psk = Some(vpnaas_core::values::Psk::parse("secret").unwrap());
        let psk = render(&c).unwrap();
        c.psk = Some(vpnaas_core::values::Psk::parse("another").unwrap());
        assert_ne!(render(&c).unwrap().shape, psk.shape);
        assert_eq!(psk.shape, psk.fingerprint);
        c.psk = None;
        c.certs = None;
        assert!(render(&c).unwrap_err().to_string().contains("neither a pre-shared key nor certificates"));
    }

    #[test]
    fn proposals_follow_the_strongswan_dialect_map() {
        use AuthAlgorithm as A;
        use EncryptionAlgorithm as E;
        // (ike enc, ike auth, ike pfs, ike version) → IKE proposal
        let ike_table = [
            (E::Aes256, A::Sha256, Pfs::Group14, IkeVersion::V2, "aes256-sha256-modp2048"),
            (E::Aes192, A::Sha384, Pfs::Group19, IkeVersion::V2, "aes192-sha384-ecp256"),
            (E::Aes128Ctr, A::Sha512, Pfs::Group20, IkeVersion::V1, "aes128ctr-sha512-ecp384"),
            (E::TripleDes, A::AesXcbc, Pfs::Group2, IkeVersion::V1, "3des-aesxcbc-modp1024"),
            (E::Aes128Gcm16, A::Sha256, Pfs::Group31, IkeVersion::V2, "aes128gcm16-prfsha256-curve25519"),
            (E::Aes256Ccm8, A::AesCmac, Pfs::Group24, IkeVersion::V2, "aes256ccm8-prfaescmac-modp2048s256"),
            (E::Aes192Gcm12, A::Sha1, Pfs::Group28, IkeVersion::V2, "aes192gcm12-prfsha1-ecp256bp"),
        ];
        for (enc, auth, pfs, version, expected) in ike_table {
            let mut c = desired();
            c.ike.encryption_algorithm = enc;
            c.ike.auth_algorithm = auth;
            c.ike.pfs = pfs;
            c.ike.ike_version = version;
            let r = render(&c).unwrap();
            assert_eq!(ike_of(&r).strings("proposals"), vec![expected], "{enc} {auth} {pfs} {version}");
        }
        // (transform, enc, auth, pfs) → (proposal key, CHILD_SA proposal)
        let child_table = [
            (TransformProtocol::Esp, E::Aes256, A::Sha256, Pfs::Group14, "esp_proposals", "aes256-sha256-modp2048"),
            (TransformProtocol::Esp, E::Aes128Gcm16, A::Sha256, Pfs::Group21, "esp_proposals", "aes128gcm16-ecp521"),
            (TransformProtocol::Esp, E::Aes256Ccm12, A::Sha1, Pfs::Group5, "esp_proposals", "aes256ccm12-modp1536"),
            (
                TransformProtocol::Esp,
                E::Aes192Ctr,
                A::AesXcbc,
                Pfs::Group22,
                "esp_proposals",
                "aes192ctr-aesxcbc-modp1024s160",
            ),
            (TransformProtocol::Ah, E::Aes128, A::Sha512, Pfs::Group15, "ah_proposals", "sha512-modp3072"),
            (TransformProtocol::Ah, E::Aes128, A::Sha1, Pfs::Group30, "ah_proposals", "sha1-ecp512bp"),
        ];
        for (transform, enc, auth, pfs, key, expected) in child_table {
            let mut c = desired();
            c.ipsec.transform_protocol = transform;
            c.ipsec.encryption_algorithm = enc;
            c.ipsec.auth_algorithm = auth;
            c.ipsec.pfs = pfs;
            let r = render(&c).unwrap();
            let child = child_of(&r);
            assert_eq!(child.strings(key), vec![expected], "{transform} {enc} {auth} {pfs}");
            let other = if key == "esp_proposals" { "ah_proposals" } else { "esp_proposals" };
            assert!(child.get(other).is_none());
        }
    }

    #[test]
    fn every_api_value_has_a_mapping() {
        for enc in EncryptionAlgorithm::ALL {
            let e = EncryptionAlgorithm::parse("e", enc).unwrap();
            assert!(!cipher(e).keyword.is_empty());
        }
        for pfs in Pfs::ALL {
            let (kw, name) = dh(Pfs::parse("p", pfs).unwrap());
            assert!(!kw.is_empty() && !name.is_empty());
        }
    }

    /// The mirror image of `desired()`: the peer gateway's side of the same tunnel.
    fn mirrored() -> DesiredConnection {
        let mut c = desired();
        std::mem::swap(&mut c.local_id, &mut c.peer_id);
        c.local_address = "192.0.2.2".parse().unwrap();
        c.peer_address = PeerAddress::parse("192.0.2.1").unwrap();
        std::mem::swap(&mut c.local_cidrs, &mut c.peer_cidrs);
        c
    }

    #[test]
    fn dpd_maps_to_delay_timeout_and_a_child_action() {
        // (action, initiator, the eager side?) → the child's dpd_action
        let table = [
            (DpdAction::Hold, Initiator::BiDirectional, true, Some("restart")),
            (DpdAction::Hold, Initiator::BiDirectional, false, Some("clear")),
            (DpdAction::Hold, Initiator::ResponseOnly, true, Some("clear")),
            (DpdAction::Restart, Initiator::BiDirectional, true, Some("restart")),
            (DpdAction::Restart, Initiator::BiDirectional, false, Some("clear")),
            (DpdAction::Restart, Initiator::ResponseOnly, true, Some("clear")),
            (DpdAction::Clear, Initiator::BiDirectional, true, Some("clear")),
            (DpdAction::RestartByPeer, Initiator::BiDirectional, true, Some("clear")),
            (DpdAction::Disabled, Initiator::BiDirectional, true, None),
        ];
        for (action, initiator, smaller_id, expected) in table {
            let mut c = if smaller_id { desired() } else { mirrored() };
            c.dpd = Dpd { action, interval: 5, timeout: 20 };
            c.initiator = initiator;
            let r = render(&c).unwrap();
            assert_eq!(child_of(&r).str("dpd_action").as_deref(), expected, "{action} {initiator} {smaller_id}");
            let delay = ike_of(&r).str("dpd_delay");
            assert_eq!(delay.as_deref(), expected.map(|_| "5s"), "{action}");
        }
        let mut v2 = desired();
        v2.ike.ike_version = IkeVersion::V2;
        let r = render(&v2).unwrap();
        assert_eq!(ike_of(&r).str("dpd_timeout"), None, "charon ignores dpd_timeout for IKEv2");
    }

    #[test]
    fn the_initiator_decides_who_starts_and_keyingtries() {
        let r = render(&desired()).unwrap();
        assert!(r.initiates && r.eager);
        assert_eq!(child_of(&r).str("start_action"), None, "charon would close its SAs when it is replaced");
        assert_eq!(ike_of(&r).str("keyingtries").as_deref(), Some("0"));
        let mut c = desired();
        c.initiator = Initiator::ResponseOnly;
        let r = render(&c).unwrap();
        assert!(!r.initiates && !r.eager);
        assert_eq!(child_of(&r).str("start_action"), None);
        assert_eq!(ike_of(&r).str("keyingtries"), None);
    }

    #[test]
    fn of_two_initiating_gateways_exactly_one_starts_at_once() {
        let (a, b) = (render(&desired()).unwrap(), render(&mirrored()).unwrap());
        assert!(a.initiates && b.initiates);
        assert_eq!((a.eager, b.eager), (true, false), "192.0.2.1 < 192.0.2.2");
        assert_eq!(child_of(&b).str("start_action"), None);
        assert_eq!(ike_of(&b).str("keyingtries").as_deref(), Some("0"), "it still retries once it initiates");
    }

    #[test]
    fn ike_versions_lifetimes_and_aggressive_mode() {
        let mut c = desired();
        c.ike.ike_version = IkeVersion::V2;
        c.ike.lifetime_secs = 28800;
        c.ipsec.lifetime_secs = 60;
        c.ike.phase1_negotiation_mode = Phase1Mode::Aggressive;
        let r = render(&c).unwrap();
        let ike = ike_of(&r);
        assert_eq!(ike.str("version").as_deref(), Some("2"));
        assert_eq!(ike.str("rekey_time").as_deref(), Some("25920s"));
        assert_eq!(ike.str("over_time").as_deref(), Some("2880s"));
        assert_eq!(ike.str("reauth_time"), None);
        assert_eq!(ike.str("mobike").as_deref(), Some("no"));
        assert_eq!(ike.str("aggressive"), None, "aggressive mode is IKEv1's");
        assert_eq!(child_of(&r).str("rekey_time").as_deref(), Some("54s"));
        assert_eq!(child_of(&r).str("life_time").as_deref(), Some("60s"));
        c.ike.ike_version = IkeVersion::V1;
        let r = render(&c).unwrap();
        assert_eq!(ike_of(&r).str("aggressive").as_deref(), Some("yes"));
    }

    /// A switch set in the contract's options reaches charon.
    #[test]
    fn tunnel_options_reach_charon() {
        let mut c = desired();
        c.ike.ike_version = IkeVersion::V2;
        c.options.mobike = true;
        assert_eq!(ike_of(&render(&c).unwrap()).str("mobike").as_deref(), Some("yes"));
    }

    #[test]
    fn ikev2_puts_every_subnet_in_one_child_and_ikev1_makes_one_child_per_pair() {
        let mut c = desired();
        c.local_cidrs.push(Cidr::parse("10.1.1.0/24").unwrap());
        c.peer_cidrs.push(Cidr::parse("2001:db8::/64").unwrap());
        c.ike.ike_version = IkeVersion::V2;
        let r = render(&c).unwrap();
        assert_eq!(child_of(&r).strings("local_ts"), vec!["10.1.0.0/24", "10.1.1.0/24"]);
        assert_eq!(child_of(&r).strings("remote_ts"), vec!["10.2.0.0/24", "2001:db8::/64"]);
        c.ike.ike_version = IkeVersion::V1;
        let r = render(&c).unwrap();
        assert_eq!(r.children.len(), 4);
        assert_eq!(r.children[0], format!("{}-1", r.name));
        let children = ike_of(&r).sub("children").unwrap();
        let last = children.sub(&r.children[3]).unwrap();
        assert_eq!(last.strings("local_ts"), vec!["10.1.1.0/24"]);
        assert_eq!(last.strings("remote_ts"), vec!["2001:db8::/64"]);
    }

    #[test]
    fn host_names_and_empty_peer_ids_render_as_given() {
        let mut c = desired();
        c.peer_address = PeerAddress::parse("vpn.example.com").unwrap();
        c.peer_id = String::new();
        let r = render(&c).unwrap();
        assert_eq!(ike_of(&r).strings("remote_addrs"), vec!["vpn.example.com"]);
        assert_eq!(ike_of(&r).sub("remote").and_then(|m| m.str("id")).as_deref(), Some("vpn.example.com"));
        assert_eq!(r.secret.strings("owners"), vec!["192.0.2.1", "vpn.example.com"]);
    }

    #[test]
    fn what_cannot_be_rendered_is_an_error_with_a_reason() {
        let mut c = desired();
        c.ipsec.transform_protocol = TransformProtocol::AhEsp;
        assert!(render(&c).unwrap_err().to_string().contains("ah-esp"));
        let mut c = desired();
        c.ike.encryption_algorithm = EncryptionAlgorithm::Aes128Gcm16;
        assert!(render(&c).unwrap_err().to_string().contains("IKEv1"));
        let mut c = desired();
        c.peer_cidrs.clear();
        assert!(render(&c).unwrap_err().to_string().contains("peer CIDRs"));
        let mut c = desired();
        c.local_cidrs.clear();
        assert!(render(&c).unwrap_err().to_string().contains("local subnets"));
    }

    #[test]
    fn fingerprints_change_with_anything_charon_sees_psk_included() {
        let base = render(&desired()).unwrap().fingerprint;
        assert_eq!(render(&desired()).unwrap().fingerprint, base);
        let mut c = desired();
        c.psk = Some(Psk::parse("another").unwrap());
        assert_ne!(render(&c).unwrap().fingerprint, base);
        let mut c = desired();
        c.dpd.interval = 31;
        assert_ne!(render(&c).unwrap().fingerprint, base);
        let mut c = desired();
        c.revision = 9;
        c.mtu = 1400;
        assert_eq!(render(&c).unwrap().fingerprint, base, "revision and mtu do not reach charon");
    }

    /// What `get-algorithms` and `stats` answered on the lab's plugin set (measured).
    fn lab_capabilities() -> Capabilities {
        let algs = Message::new()
            .section("encryption", Message::new().kv("AES_CBC", "aes").kv("AES_ECB", "aes"))
            .section(
                "integrity",
                Message::new()
                    .kv("HMAC_SHA1_96", "hmac")
                    .kv("HMAC_SHA2_256_128", "hmac")
                    .kv("HMAC_SHA2_384_192", "hmac")
                    .kv("HMAC_SHA2_512_256", "hmac"),
            )
            .section("aead", Message::new())
            .section(
                "prf",
                Message::new()
                    .kv("PRF_HMAC_SHA1", "hmac")
                    .kv("PRF_HMAC_SHA2_256", "hmac")
                    .kv("PRF_HMAC_SHA2_384", "hmac")
                    .kv("PRF_HMAC_SHA2_512", "hmac"),
            )
            .section(
                "dh",
                Message::new()
                    .kv("MODP_1024", "gmp")
                    .kv("MODP_1536", "gmp")
                    .kv("MODP_2048", "gmp")
                    .kv("MODP_3072", "gmp"),
            );
        let stats = Message::new()
            .section("uptime", Message::new().kv("running", "1 second").kv("since", "Nov 22 04:49:03 2025"))
            .list(
                "plugins",
                ["charon", "aes", "sha1", "sha2", "hmac", "gmp", "kernel-libipsec", "kernel-netlink", "vici"],
            );
        Capabilities::from_answers(&algs, &stats)
    }

    #[test]
    fn capabilities_come_from_get_algorithms_and_stats() {
        let caps = lab_capabilities();
        assert!(caps.algorithms.contains("AES_CBC") && caps.algorithms.contains("MODP_2048"));
        assert!(caps.plugins.contains("kernel-libipsec"));
    }

    #[test]
    fn what_this_charon_cannot_do_is_named_in_the_reason() {
        let caps = lab_capabilities();
        assert_eq!(caps.check(&render(&desired()).unwrap().needs), Ok(()));
        type Change = fn(&mut DesiredConnection);
        let table: [(Change, &str); 6] = [
            (
                |c| c.ipsec.encryption_algorithm = EncryptionAlgorithm::Aes128Gcm16,
                "ipsec policy encryption_algorithm aes-128-gcm-16 (AES_GCM_16",
            ),
            (|c| c.ike.pfs = Pfs::Group19, "ike policy pfs group19 (ECP_256"),
            (
                |c| c.ike.encryption_algorithm = EncryptionAlgorithm::TripleDes,
                "ike policy encryption_algorithm 3des (3DES_CBC",
            ),
            (|c| c.ipsec.auth_algorithm = AuthAlgorithm::AesXcbc, "ipsec policy auth_algorithm aes-xcbc (AES_XCBC_96"),
            (|c| c.ipsec.transform_protocol = TransformProtocol::Ah, "transform_protocol ah (kernel-libipsec"),
            (|c| c.ipsec.encapsulation_mode = EncapsulationMode::Transport, "transport (kernel-libipsec"),
        ];
        for (change, expected) in table {
            let mut c = desired();
            change(&mut c);
            let reason = caps.check(&render(&c).unwrap().needs).unwrap_err().to_string();
            assert!(reason.contains(expected), "{reason}");
            assert!(reason.starts_with("this gateway's strongSwan cannot do "), "{reason}");
        }
        let mut without_libipsec = caps.clone();
        without_libipsec.plugins.remove("kernel-libipsec");
        let mut c = desired();
        c.ipsec.encapsulation_mode = EncapsulationMode::Transport;
        assert_eq!(without_libipsec.check(&render(&c).unwrap().needs), Ok(()));
    }
}
