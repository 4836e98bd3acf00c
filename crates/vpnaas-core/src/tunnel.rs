//! Tunnel detail (ADR 0018): why a connection is down, as a short machine-readable reason with a sentence for tenants, and the negotiation events a gateway reports.

use serde::{Deserialize, Serialize};

/// Why a site connection is `DOWN` or `ERROR`. On the wire (the gateway contract and the
/// API) the snake_case name; a name this build does not know reads as `Unknown`, so a newer
/// agent's reason never makes an older server refuse a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownReason {
    /// The peer does not answer IKE (nobody there, a firewall, a dead peer).
    PeerUnreachable,
    /// Authentication failed on either side (pre-shared key or certificate, identities).
    AuthFailed,
    /// The two sides have no IKE or ESP/AH proposal in common.
    NoProposalChosen,
    /// The two sides' subnets (traffic selectors) do not match.
    TsUnacceptable,
    /// The peer closed the tunnel.
    PeerDeleted,
    /// The gateway's charon refused the configuration or lacks an algorithm it needs.
    ConfigRefused,
    /// The gateway's IKE daemon does not answer.
    IkeDaemonDown,
    /// The router's network namespace does not exist on its gateway host, so its IKE daemon
    /// cannot start there (the L3 agent has not created `qrouter-<id>`, or the router is
    /// placed on the wrong host).
    NamespaceMissing,
    /// The gateway's agent stopped reporting (set by the server).
    GatewaySilent,
    /// The connection or its VPN service is administratively down.
    AdminDown,
    /// The standby member of an active/standby pair (ADR 0002).
    Standby,
    /// Negotiating, and no failure seen yet.
    Negotiating,
    /// Responder only: waiting for the peer to start.
    WaitingForPeer,
    /// A reason this build does not know.
    #[serde(other)]
    Unknown,
}

/// Stored by name, or NULL; a name this release does not know reads back as `Unknown`.
impl crate::descriptor::Plain for Option<DownReason> {
    fn scalar(&self) -> crate::descriptor::Scalar<'_> {
        match self {
            Some(reason) => crate::descriptor::Scalar::Str(reason.as_str()),
            None => crate::descriptor::Scalar::OptShown(None),
        }
    }
    fn read(row: &dyn crate::descriptor::Columns, column: &'static str) -> Result<Self, crate::descriptor::Unreadable> {
        Ok(row.opt_text(column)?.map(|r| DownReason::parse(&r)))
    }
}

impl DownReason {
    pub const ALL: &'static [DownReason] = &[
        DownReason::PeerUnreachable,
        DownReason::AuthFailed,
        DownReason::NoProposalChosen,
        DownReason::TsUnacceptable,
        DownReason::PeerDeleted,
        DownReason::ConfigRefused,
        DownReason::IkeDaemonDown,
        DownReason::NamespaceMissing,
        DownReason::GatewaySilent,
        DownReason::AdminDown,
        DownReason::Standby,
        DownReason::Negotiating,
        DownReason::WaitingForPeer,
        DownReason::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DownReason::PeerUnreachable => "peer_unreachable",
            DownReason::AuthFailed => "auth_failed",
            DownReason::NoProposalChosen => "no_proposal_chosen",
            DownReason::TsUnacceptable => "ts_unacceptable",
            DownReason::PeerDeleted => "peer_deleted",
            DownReason::ConfigRefused => "config_refused",
            DownReason::IkeDaemonDown => "ike_daemon_down",
            DownReason::NamespaceMissing => "namespace_missing",
            DownReason::GatewaySilent => "gateway_silent",
            DownReason::AdminDown => "admin_down",
            DownReason::Standby => "standby",
            DownReason::Negotiating => "negotiating",
            DownReason::WaitingForPeer => "waiting_for_peer",
            DownReason::Unknown => "unknown",
        }
    }

    /// The stored name back; anything else is `Unknown`.
    pub fn parse(text: &str) -> DownReason {
        DownReason::ALL.iter().copied().find(|r| r.as_str() == text).unwrap_or(DownReason::Unknown)
    }

    /// The sentence tenants read: fixed per reason, so it never carries what the gateway
    /// logged (addresses of other tenants, charon's internals).
    pub fn sentence(self) -> &'static str {
        match self {
            DownReason::PeerUnreachable => {
                "The peer does not answer IKE messages: check peer_address, that the peer gateway is up, and that \
                 UDP ports 500 and 4500 are open between the two."
            }
            DownReason::AuthFailed => {
                "Authentication failed: the pre-shared keys (or certificates) and the identities (local_id, peer_id) \
                 of the two sides do not match."
            }
            DownReason::NoProposalChosen => {
                "The two sides have no algorithms in common: compare the IKE and IPsec policies (encryption, \
                 integrity, PFS group, IKE version) with the peer's."
            }
            DownReason::TsUnacceptable => {
                "The peer does not accept the subnets: the local and peer subnets (endpoint groups or peer_cidrs) \
                 must mirror the peer's configuration."
            }
            DownReason::PeerDeleted => "The peer closed the tunnel; it is brought up again when either side initiates.",
            DownReason::ConfigRefused => {
                "The gateway cannot run this configuration (an algorithm or option it does not support)."
            }
            DownReason::IkeDaemonDown => "The gateway's IKE daemon is not running; the operator has been told.",
            DownReason::NamespaceMissing => {
                "The router's network namespace does not exist on its gateway host yet; the operator has been told."
            }
            DownReason::GatewaySilent => "The gateway stopped reporting; the tunnel's state is not known.",
            DownReason::AdminDown => "The connection or its VPN service is administratively down (admin_state_up).",
            DownReason::Standby => "This connection is the standby member of an active/standby pair.",
            DownReason::Negotiating => "The tunnel is being negotiated; no failure has been seen yet.",
            DownReason::WaitingForPeer => "The connection is response-only and waits for the peer to initiate.",
            DownReason::Unknown => "The tunnel is down for a reason this server does not know.",
        }
    }
}

/// What kind of negotiation event a gateway saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An IKE_SA came up (charon's `ike-updown` event).
    IkeUp,
    /// An IKE_SA went down.
    IkeDown,
    /// A CHILD_SA came up (`child-updown`).
    ChildUp,
    /// A CHILD_SA went down.
    ChildDown,
    /// A line of charon's log about the negotiation (a failure when it has a reason).
    Log,
    #[serde(other)]
    Unknown,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::IkeUp => "ike_up",
            EventKind::IkeDown => "ike_down",
            EventKind::ChildUp => "child_up",
            EventKind::ChildDown => "child_down",
            EventKind::Log => "log",
            EventKind::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> EventKind {
        [EventKind::IkeUp, EventKind::IkeDown, EventKind::ChildUp, EventKind::ChildDown, EventKind::Log]
            .into_iter()
            .find(|k| k.as_str() == text)
            .unwrap_or(EventKind::Unknown)
    }
}

/// The longest event message kept (characters).
pub const MAX_EVENT_MESSAGE: usize = 200;

/// One negotiation event of a connection, as a gateway saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelEvent {
    /// Orders the agent's events; with `at`, identifies the event (a report sent twice
    /// stores it once).
    pub seq: u64,
    /// When, in microseconds since the epoch (the gateway's clock).
    pub at: i64,
    pub kind: EventKind,
    /// The failure this event shows, if it shows one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DownReason>,
    /// charon's words (never a key: charon logs none at the level it sends).
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_unknown_names_are_unknown() {
        for r in DownReason::ALL {
            assert_eq!(DownReason::parse(r.as_str()), *r);
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<DownReason>(&json).unwrap(), *r);
            assert!(!r.sentence().is_empty());
        }
        assert_eq!(serde_json::from_str::<DownReason>("\"cosmic_rays\"").unwrap(), DownReason::Unknown);
        assert_eq!(DownReason::parse("cosmic_rays"), DownReason::Unknown);
        assert_eq!(serde_json::from_str::<EventKind>("\"ike_rekeyed\"").unwrap(), EventKind::Unknown);
    }
}
