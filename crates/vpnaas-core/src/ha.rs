//! Active/standby pairs: two connections of one VPN service with the same local and peer endpoint groups and different peers.
//!
//! Semantics (ADR 0002): a pair has at most two members. Their roles are remembered by the
//! server (`ha_standby`, `ha_since`): the older member (by creation time, then id) starts
//! active, and the roles change only by a fail-over, when the active member is reported DOWN
//! or ERROR after the hold-down. A connection without a partner is simply active. Each member's `status` is its own
//! tunnel's: the gateway establishes only the active member, so a healthy standby is DOWN.

use uuid::Uuid;

use crate::algorithms::Status;
use crate::fault::Fault;
use crate::resources::{ConnectionSpec, SiteConnection};

/// The most connections one pair of endpoint groups may have on one VPN service.
pub const MAX_MEMBERS: usize = 2;

/// A member's role, as the gateway contract carries it.
pub use crate::contract::Role;

/// Whether two connections belong to the same pair (same service and both endpoint groups).
pub fn same_pair(a: &ConnectionSpec, b: &ConnectionSpec) -> bool {
    a.vpnservice_id == b.vpnservice_id
        && a.local_ep_group_id.is_some()
        && a.local_ep_group_id == b.local_ep_group_id
        && a.peer_ep_group_id.is_some()
        && a.peer_ep_group_id == b.peer_ep_group_id
}

/// Checks that `spec` (with id `id`) may join the connections already sharing its groups.
pub fn check_join(id: Uuid, spec: &ConnectionSpec, others: &[SiteConnection]) -> Result<(), Fault> {
    let members: Vec<&SiteConnection> = others.iter().filter(|o| o.meta.id != id && same_pair(spec, &o.spec)).collect();
    if members.len() >= MAX_MEMBERS {
        return Err(Fault::ConnectionPairFull { members: members.iter().map(|m| m.meta.id.to_string()).collect() });
    }
    if let Some(twin) = members.iter().find(|m| m.spec.peer_address == spec.peer_address) {
        return Err(Fault::ConnectionPairSamePeer { other: twin.meta.id.to_string() });
    }
    Ok(())
}

/// The role of each member of one pair (one or two connections), older first. The server
/// remembers which member stands by (`standby`); without exactly one such member the older
/// one is active. A healthy standby reads DOWN (its tunnel is not up), so roles cannot be
/// derived from status: they change only by [`should_fail_over`].
pub fn roles(members: &[&SiteConnection], standby: impl Fn(Uuid) -> bool) -> Vec<(Uuid, Role)> {
    let mut sorted: Vec<&SiteConnection> = members.to_vec();
    sorted.sort_by_key(|c| (c.meta.created_at, c.meta.id));
    match sorted.as_slice() {
        [older, younger] if standby(older.meta.id) && !standby(younger.meta.id) => {
            vec![(older.meta.id, Role::Standby), (younger.meta.id, Role::Active)]
        }
        [older, younger] => vec![(older.meta.id, Role::Active), (younger.meta.id, Role::Standby)],
        _ => sorted.iter().map(|c| (c.meta.id, Role::Active)).collect(),
    }
}

/// Whether a gateway's report about a pair's *active* member means the pair should swap:
/// the member failed (DOWN or ERROR) and has been active for at least `hold_down`, so a
/// member that is still connecting, or a pair whose two peers are both dead, does not flap
/// faster than that.
pub fn should_fail_over(reported: Status, active_since: i64, now: i64, hold_down: i64) -> bool {
    matches!(reported, Status::Down | Status::Error) && now.saturating_sub(active_since) >= hold_down
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::{DpdAction, Initiator};
    use crate::resources::{ConnectionAuth, Meta, Stored};
    use crate::values::{Dpd, PeerAddress, Psk, StoredPsk};

    fn conn(created_at: i64, peer: &str, groups: (Uuid, Uuid), service: Uuid) -> SiteConnection {
        let mut meta = Meta::new("p".into(), String::new(), String::new(), created_at);
        meta.created_at = created_at;
        Stored {
            meta,
            spec: ConnectionSpec {
                peer_address: PeerAddress::parse(peer).unwrap(),
                peer_id: peer.into(),
                local_id: String::new(),
                peer_cidrs: vec![],
                local_ep_group_id: Some(groups.0),
                peer_ep_group_id: Some(groups.1),
                mtu: 1500,
                initiator: Initiator::BiDirectional,
                auth: ConnectionAuth::Psk(StoredPsk::Clear(Psk::parse("secret").unwrap())),
                dpd: Dpd { action: DpdAction::Hold, interval: 30, timeout: 120 },
                admin_state_up: true,
                status: Status::PendingCreate,
                status_reason: None,
                vpnservice_id: service,
                ikepolicy_id: Uuid::new_v4(),
                ipsecpolicy_id: Uuid::new_v4(),
                runtime: Default::default(),
            },
        }
    }

    #[test]
    fn the_remembered_standby_stands_by_and_otherwise_the_older_member_is_active() {
        let (g, s) = ((Uuid::new_v4(), Uuid::new_v4()), Uuid::new_v4());
        let a = conn(1, "192.0.2.1", g, s);
        let b = conn(2, "192.0.2.2", g, s);
        assert_eq!(roles(&[&b, &a], |_| false), vec![(a.meta.id, Role::Active), (b.meta.id, Role::Standby)]);
        assert_eq!(roles(&[&a, &b], |id| id == b.meta.id)[0].1, Role::Active);
        assert_eq!(roles(&[&a, &b], |id| id == a.meta.id), vec![(a.meta.id, Role::Standby), (b.meta.id, Role::Active)]);
        assert_eq!(roles(&[&a, &b], |_| true)[0], (a.meta.id, Role::Active), "both flagged: the older");
        assert_eq!(roles(&[&b], |_| true), vec![(b.meta.id, Role::Active)], "a lone member is active");
    }

    #[test]
    fn fail_over_waits_for_the_hold_down() {
        assert!(should_fail_over(Status::Down, 0, 31, 30));
        assert!(should_fail_over(Status::Error, 0, 30, 30));
        assert!(!should_fail_over(Status::Down, 10, 30, 30), "active for only 20 of 30");
        assert!(!should_fail_over(Status::Active, 0, 100, 30));
    }

    #[test]
    fn a_third_member_or_a_second_one_to_the_same_peer_is_refused() {
        let (g, s) = ((Uuid::new_v4(), Uuid::new_v4()), Uuid::new_v4());
        let a = conn(1, "192.0.2.1", g, s);
        let b = conn(2, "192.0.2.2", g, s);
        let c = conn(3, "192.0.2.3", g, s);
        assert!(check_join(b.meta.id, &b.spec, std::slice::from_ref(&a)).is_ok());
        assert!(matches!(
            check_join(c.meta.id, &c.spec, &[a.clone(), b.clone()]),
            Err(Fault::ConnectionPairFull { .. })
        ));
        let twin = conn(3, "192.0.2.1", g, s);
        assert!(matches!(
            check_join(twin.meta.id, &twin.spec, std::slice::from_ref(&a)),
            Err(Fault::ConnectionPairSamePeer { .. })
        ));
        let elsewhere = conn(3, "192.0.2.3", (g.0, Uuid::new_v4()), s);
        assert!(check_join(elsewhere.meta.id, &elsewhere.spec, &[a, b]).is_ok(), "other groups, no pair");
    }
}
