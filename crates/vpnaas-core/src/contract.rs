//! The gateway contract (ADR 0003): a router's desired state, the agent's status reports and its heartbeat, as JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::algorithms::{
    AuthAlgorithm, EncapsulationMode, EncryptionAlgorithm, IkeVersion, Initiator, Pfs, Phase1Mode, Status,
    TransformProtocol,
};
use crate::tunnel::{DownReason, TunnelEvent};
use crate::values::{Cidr, Dpd, PeerAddress, PrivateKey, Psk};

/// Everything one gateway (router) must run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayState {
    pub router_id: Uuid,
    /// Opaque; changes whenever anything in `connections` changes. Compare for equality only.
    pub version: String,
    pub connections: Vec<DesiredConnection>,
}

/// One IPsec site connection as a gateway renders it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredConnection {
    pub id: Uuid,
    pub vpnservice_id: Uuid,
    /// The connection's `revision_number`, echoed in status reports.
    pub revision: i64,
    /// The connection and its VPN service are both `admin_state_up`.
    pub enabled: bool,
    pub ike: IkeProposal,
    pub ipsec: IpsecProposal,
    /// The pre-shared key, for `auth_mode` psk; absent for certs (ADR 0017).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psk: Option<Psk>,
    /// The certificates and key, for `auth_mode` certs (ADR 0017).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs: Option<CertCredentials>,
    /// The connection's `local_id`, or when that is empty the local address (psk) or the
    /// certificate's subject DN (certs).
    pub local_id: String,
    /// The router's external address of the peer's IP version (IPv4 for a host-name peer when it has one).
    pub local_address: IpAddr,
    pub peer_address: PeerAddress,
    pub peer_id: String,
    /// The local endpoint group's subnets, or the service's subnet in legacy mode.
    pub local_cidrs: Vec<Cidr>,
    pub peer_cidrs: Vec<Cidr>,
    pub dpd: Dpd,
    pub mtu: i64,
    pub initiator: Initiator,
    /// Membership of an active/standby pair (ADR 0002).
    pub ha: Option<HaMember>,
    /// The switches that have a default; absent on the wire when all are (ADR 0034).
    #[serde(default, skip_serializing_if = "TunnelOptions::is_default")]
    pub options: TunnelOptions,
}

/// A connection's switches that have a default. A new one is a field here with its default,
/// the line of `vpnaas-strongswan`'s render that reads it, and the line of the server that
/// decides it: whoever else makes a connection (the peer's mirror, tests, examples) copies the
/// options or takes the defaults. An agent that predates a switch ignores it, and one that
/// reads a server that predates it gets the default (ADR 0034).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TunnelOptions {
    /// MOBIKE (RFC 4555), IKEv2 only. Off, as the reference has it: a site gateway does not
    /// move; no API attribute turns it on yet.
    pub mobike: bool,
}

impl TunnelOptions {
    /// Whether every switch has its default.
    pub fn is_default(&self) -> bool {
        *self == TunnelOptions::default()
    }
}

/// What a gateway presents and trusts when it authenticates with certificates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertCredentials {
    /// PEM of this side's certificate.
    pub certificate: String,
    /// PEM (PKCS#8) of its private key; `Debug` never shows it.
    pub private_key: PrivateKey,
    /// PEM of intermediate certificates sent with it, if any.
    #[serde(default)]
    pub chain: Vec<String>,
    /// PEM of each CA certificate the peer's certificate must chain to.
    pub peer_cas: Vec<String>,
}

/// What a gateway negotiates the IKE SA with: the connection's IKE policy without its
/// name, owner and bookkeeping. The JSON keeps the policy's attribute names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeProposal {
    pub auth_algorithm: AuthAlgorithm,
    pub encryption_algorithm: EncryptionAlgorithm,
    pub phase1_negotiation_mode: Phase1Mode,
    /// The IKE SA's lifetime in seconds (on the wire `{"units": "seconds", "value": N}`).
    #[serde(rename = "lifetime", with = "lifetime_wire")]
    pub lifetime_secs: u64,
    pub ike_version: IkeVersion,
    /// The Diffie-Hellman group of the IKE SA.
    pub pfs: Pfs,
}

/// What a gateway negotiates each CHILD_SA with (ESP or AH): the connection's IPsec policy
/// without its name, owner and bookkeeping. The JSON keeps the policy's attribute names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpsecProposal {
    pub transform_protocol: TransformProtocol,
    pub auth_algorithm: AuthAlgorithm,
    pub encryption_algorithm: EncryptionAlgorithm,
    pub encapsulation_mode: EncapsulationMode,
    /// The CHILD_SA's lifetime in seconds (on the wire `{"units": "seconds", "value": N}`).
    #[serde(rename = "lifetime", with = "lifetime_wire")]
    pub lifetime_secs: u64,
    /// The Diffie-Hellman group of perfect forward secrecy.
    pub pfs: Pfs,
}

/// A lifetime on the gateway wire: the object the API's policies use, in seconds only, so
/// that the JSON is the one agents have always read.
mod lifetime_wire {
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Wire {
        units: String,
        value: u64,
    }

    pub fn serialize<S: Serializer>(secs: &u64, s: S) -> Result<S::Ok, S::Error> {
        Wire { units: "seconds".to_owned(), value: *secs }.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let wire = Wire::deserialize(d)?;
        if wire.units != "seconds" {
            return Err(D::Error::custom(format!("lifetime units {:?}: only seconds", wire.units)));
        }
        Ok(wire.value)
    }
}

/// A member's role in an active/standby pair (ADR 0002; the rules are in `ha`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Active,
    Standby,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaMember {
    pub role: Role,
    pub partner: Uuid,
}

/// What an agent observed, per connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub connections: Vec<ConnectionStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    pub id: Uuid,
    /// The `revision` of the desired connection the agent applied.
    pub revision: i64,
    /// `ACTIVE`, `DOWN` or `ERROR`.
    pub status: Status,
    /// Why, for `ERROR` (shown to admins).
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub counters: Counters,
    /// Why it is `DOWN` or `ERROR`, machine-readable (ADR 0018); absent from older agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<DownReason>,
    /// Negotiation events the server has not acknowledged yet, oldest first (ADR 0018).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<TunnelEvent>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub packets_out: u64,
}

/// What a host's agent is told to run (ADR 0011): every router placed on the host, and the
/// state of those changed after the cursor it asked with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    pub host: String,
    /// Give it back with the next poll.
    pub cursor: i64,
    pub routers: Vec<Uuid>,
    pub changed: Vec<GatewayState>,
}

/// A host's status reports, for all its routers at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStatusReport {
    pub routers: Vec<RouterStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterStatus {
    pub router_id: Uuid,
    pub connections: Vec<ConnectionStatus>,
}

/// The agent's registration and heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentHello {
    pub host: String,
    pub version: String,
}

/// The server's answer to a heartbeat, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub heartbeat_interval: u64,
    pub dead_after: u64,
}

/// The header with which a gateway agent names the gateway contract it speaks (ADR 0034); an
/// agent that sends none speaks contract 1.
pub const CONTRACT_HEADER: &str = "x-vpnaas-contract";

/// The gateway contract this build speaks. Within one number, a release only adds: optional
/// fields (readers ignore fields they do not know) and values of the enums whose readers fall
/// back on an `unknown` one (`DownReason`, `EventKind`). Anything else takes the next number,
/// and a server refuses an agent of a newer number: servers are upgraded before agents.
pub const CONTRACT: u32 = 1;

/// The protocol a waiting poll asks to switch to (`Connection: Upgrade`,
/// `Upgrade: vpnaas-wait/1`; ADR 0028). The server answers `101 Switching Protocols`, keeps
/// nothing of HTTP while it waits, and then writes the poll's answer as [`waited_answer`]
/// frames it and closes the connection. A server that does not know it answers the poll as
/// an ordinary long poll, which the agent reads as before.
pub const WAIT_UPGRADE: &str = "vpnaas-wait/1";

/// The answer of a waiting poll after the switch: the HTTP status as three digits, a line
/// feed, then the body the long poll would have answered (the state, or the NeutronError
/// envelope); its end is the connection's end.
pub fn waited_answer(status: u16, body: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(body.len() + 4);
    framed.extend_from_slice(format!("{status:03}\n").as_bytes());
    framed.extend_from_slice(body);
    framed
}

/// A [`waited_answer`] taken apart: its status and body, or `None` when the bytes are not one
/// (the connection ended before the status line, or the line is not a status).
pub fn parse_waited_answer(bytes: &[u8]) -> Option<(u16, &[u8])> {
    let (line, body) = (bytes.get(..3)?, bytes.get(4..)?);
    if bytes.get(3) != Some(&b'\n') || !line.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let status = std::str::from_utf8(line).ok()?.parse().ok()?;
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waited_answer_is_its_status_then_its_body_and_nothing_else_parses() {
        let framed = waited_answer(200, br#"{"version": "v2"}"#);
        assert_eq!(framed, b"200\n{\"version\": \"v2\"}");
        assert_eq!(parse_waited_answer(&framed), Some((200, &br#"{"version": "v2"}"#[..])));
        assert_eq!(parse_waited_answer(b"404\n"), Some((404, &b""[..])));
        for bad in [&b""[..], b"20", b"200", b"200 {}", b"2x0\n{}", b"HTTP/1.1 200 OK\r\n"] {
            assert_eq!(parse_waited_answer(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_status_report_round_trips_and_refuses_unknown_statuses() {
        let json =
            r#"{"connections": [{"id": "6c27e2e7-e6bd-48cb-8980-187b496b4ec4", "revision": 3, "status": "ACTIVE"}]}"#;
        let report: StatusReport = serde_json::from_str(json).unwrap();
        assert_eq!(report.connections[0].status, Status::Active);
        assert_eq!(report.connections[0].counters, Counters::default());
        let bad = json.replace("ACTIVE", "UP");
        assert!(serde_json::from_str::<StatusReport>(&bad).is_err());
        assert_eq!(report.connections[0].code, None, "an older agent's report has no reason code");
    }

    #[test]
    fn a_report_with_a_reason_and_events_reads_on_both_sides() {
        let json = r#"{"connections": [{"id": "6c27e2e7-e6bd-48cb-8980-187b496b4ec4", "revision": 3,
            "status": "DOWN", "code": "auth_failed", "future_field": 1,
            "events": [{"seq": 7, "at": 1, "kind": "log", "reason": "auth_failed", "message": "MAC mismatched"}]}]}"#;
        let report: StatusReport = serde_json::from_str(json).unwrap();
        let c = &report.connections[0];
        assert_eq!(c.code, Some(DownReason::AuthFailed));
        assert_eq!(c.events[0].seq, 7);
        assert_eq!(c.events[0].reason, Some(DownReason::AuthFailed));
        let up = ConnectionStatus { code: None, events: Vec::new(), ..c.clone() };
        let text = serde_json::to_string(&up).unwrap();
        assert!(!text.contains("code") && !text.contains("events"), "nothing new on the wire when empty: {text}");
    }

    /// Within one contract number a newer server may add fields (ADR 0034): an agent of this
    /// build reads a state, a host's state and a heartbeat answer with fields it does not know.
    #[test]
    fn an_agent_reads_states_with_fields_a_newer_server_added() {
        let state = r#"{"router_id": "6c27e2e7-e6bd-48cb-8980-187b496b4ec4", "version": "v9",
            "connections": [], "placement_epoch": 3}"#;
        let parsed: GatewayState = serde_json::from_str(state).unwrap();
        assert_eq!(parsed.version, "v9");
        let host = format!(r#"{{"host": "net-1", "cursor": 4, "routers": [], "changed": [{state}], "leases": {{}}}}"#);
        assert_eq!(serde_json::from_str::<HostState>(&host).unwrap().changed, vec![parsed]);
        let config = r#"{"heartbeat_interval": 10, "dead_after": 30, "jitter": 0.1}"#;
        assert_eq!(serde_json::from_str::<AgentConfig>(config).unwrap().dead_after, 30);
    }

    #[test]
    fn proposals_send_the_json_the_policies_sent() {
        use crate::resources::{IkeSpec, IpsecSpec};
        use crate::values::Lifetime;
        let lifetime = Lifetime { units: crate::algorithms::LifetimeUnits::Seconds, value: 28800 };
        let ike = IkeSpec { lifetime, ike_version: IkeVersion::V2, pfs: Pfs::Group14, ..IkeSpec::default() };
        let ipsec = IpsecSpec { lifetime, transform_protocol: TransformProtocol::Ah, ..IpsecSpec::default() };
        let (ike_p, ipsec_p) = (IkeProposal::from(&ike), IpsecProposal::from(&ipsec));
        assert_eq!((ike_p.lifetime_secs, ipsec_p.lifetime_secs), (28800, 28800));
        // The same members; their order is the declaration's, not part of the contract.
        assert_eq!(serde_json::to_value(ike_p).unwrap(), serde_json::to_value(ike).unwrap());
        assert_eq!(serde_json::to_value(ipsec_p).unwrap(), serde_json::to_value(ipsec).unwrap());
        let text = serde_json::to_string(&ike).unwrap();
        assert_eq!(serde_json::from_str::<IkeProposal>(&text).unwrap(), ike_p);
        let kilobytes = text.replace(r#""units":"seconds""#, r#""units":"kilobytes""#);
        assert!(serde_json::from_str::<IkeProposal>(&kilobytes).is_err());
    }
}
