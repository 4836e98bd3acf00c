//! Validation profiles (ADR 0001 D3): OpenStack's rules, or Open Telekom Cloud's stricter ones, written as data.
//!
//! The `otc` profile follows the Open Telekom Cloud restrictions of the second specification
//! document (ADR 0008). Every rule names the attribute it refuses and the profile.

use crate::algorithms::Initiator;
use crate::fault::Fault;
use crate::resources::{ConnectionPatch, ConnectionSpec};
use crate::wire;

/// How times are rendered on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// `2026-11-22T03:41:42Z`, as Neutron renders standard attributes.
    Rfc3339,
    /// `2018-11-03 14:24:33.749714` (UTC), as the Open Telekom Cloud document shows.
    SpaceMicros,
}

/// What a pre-shared key must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PskRule {
    pub min: usize,
    pub max: usize,
    pub forbidden: &'static [char],
    /// A key made only of this character is refused (OTC: asterisks, a masked key).
    pub not_only: char,
}

/// A set of rules a server enforces on top of the API's own.
#[derive(Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    /// Connection request attributes the profile does not support at all.
    pub unsupported: &'static [&'static str],
    /// Read-only connection attributes a create may send, each with its only value.
    pub settable: &'static [(&'static str, &'static str)],
    /// Connection attributes the API requires that the profile lets a create omit.
    pub optional: &'static [&'static str],
    /// Length limits of a connection's `name`, when stricter than 0 to 255.
    pub name_len: Option<(usize, usize)>,
    /// The longest `peer_address` and `peer_id`.
    pub max_peer_len: usize,
    pub only_mtu: Option<i64>,
    pub only_initiator: Option<Initiator>,
    pub only_admin_state_up: Option<bool>,
    pub psk: Option<PskRule>,
    /// `peer_id` may be omitted and then equals `peer_address`; if sent it must equal it.
    pub peer_id_is_peer_address: bool,
    /// Connections name their sides with endpoint groups; `peer_cidrs` may only be empty.
    pub endpoint_groups_required: bool,
    pub time_style: TimeStyle,
    /// Connection attributes the profile's responses do not carry.
    pub hidden_connection_fields: &'static [&'static str],
}

/// The default: the first specification document and the reference.
pub const OPENSTACK: Profile = Profile {
    name: "openstack",
    unsupported: &[],
    settable: &[],
    optional: &[],
    name_len: None,
    max_peer_len: 255,
    only_mtu: None,
    only_initiator: None,
    only_admin_state_up: None,
    psk: None,
    peer_id_is_peer_address: false,
    endpoint_groups_required: false,
    time_style: TimeStyle::Rfc3339,
    hidden_connection_fields: &[],
};

/// Open Telekom Cloud's restrictions (second specification document).
pub const OTC: Profile = Profile {
    name: "otc",
    unsupported: &[wire::PROJECT_ID, wire::DPD, wire::LOCAL_ID, wire::LOCAL_CERTIFICATE_ID, wire::PEER_CA],
    settable: &[(wire::ROUTE_MODE, "static"), (wire::AUTH_MODE, "psk")],
    optional: &[wire::PEER_ID],
    name_len: Some((1, 64)),
    max_peer_len: 250,
    only_mtu: Some(1500),
    only_initiator: Some(Initiator::BiDirectional),
    only_admin_state_up: Some(true),
    psk: Some(PskRule { min: 6, max: 128, forbidden: &[' ', '?'], not_only: '*' }),
    peer_id_is_peer_address: true,
    endpoint_groups_required: true,
    time_style: TimeStyle::SpaceMicros,
    // The document's example response has exactly the other fields.
    hidden_connection_fields: &[
        wire::PROJECT_ID,
        wire::LOCAL_ID,
        wire::UPDATED_AT,
        wire::REVISION_NUMBER,
        wire::LOCAL_CERTIFICATE_ID,
        wire::PEER_CA,
        // ADR 0018: tunnel detail is this server's own attribute.
        wire::TUNNEL,
    ],
};

pub const ALL: [&Profile; 2] = [&OPENSTACK, &OTC];

impl Profile {
    pub fn by_name(name: &str) -> Option<&'static Profile> {
        ALL.into_iter().find(|p| p.name == name)
    }

    fn refuse(&self, attr: &str, rule: impl std::fmt::Display) -> Fault {
        Fault::invalid(attr, format!("{rule} under the '{}' profile", self.name))
    }

    /// Refuses the attributes the profile does not support; `present` tells which were sent.
    pub fn check_supported(&self, present: impl Fn(&str) -> bool) -> Result<(), Fault> {
        match self.unsupported.iter().find(|a| present(a)) {
            Some(attr) => Err(self.refuse(attr, "the attribute is not supported")),
            None => Ok(()),
        }
    }

    /// A value sent for one of the `settable` attributes must be its only value.
    pub fn check_setting(&self, attr: &str, value: &str) -> Result<(), Fault> {
        match self.settable.iter().find(|(a, _)| *a == attr) {
            Some((_, only)) if *only == value => Ok(()),
            Some((_, only)) => Err(self.refuse(attr, format!("'{value}' is not allowed, it can only be '{only}'"))),
            None => Err(Fault::NotAllowedInPost(attr.to_owned())),
        }
    }

    /// Checks what a connection create or update sends; on create fills `peer_id` from
    /// `peer_address` where the profile says they are the same.
    pub fn check_connection_request(&self, p: &mut ConnectionPatch) -> Result<(), Fault> {
        if let (Some((min, max)), Some(name)) = (self.name_len, &p.text.name) {
            let n = name.chars().count();
            if n < min || n > max {
                return Err(self.refuse(wire::NAME, format!("the name must be {min} to {max} characters long")));
            }
        }
        for (attr, value) in
            [(wire::PEER_ADDRESS, p.peer_address.as_ref().map(ToString::to_string)), (wire::PEER_ID, p.peer_id.clone())]
        {
            if value.is_some_and(|v| v.chars().count() > self.max_peer_len) {
                return Err(self.refuse(attr, format!("at most {} characters are allowed", self.max_peer_len)));
            }
        }
        if let (Some(only), Some(mtu)) = (self.only_mtu, p.mtu) {
            if mtu != only {
                return Err(self.refuse(wire::MTU, format!("{mtu} is not allowed, the MTU can only be {only}")));
            }
        }
        if let (Some(only), Some(initiator)) = (self.only_initiator, p.initiator) {
            if initiator != only {
                return Err(
                    self.refuse(wire::INITIATOR, format!("'{initiator}' is not allowed, it can only be '{only}'"))
                );
            }
        }
        if let (Some(only), Some(up)) = (self.only_admin_state_up, p.admin_state_up) {
            if up != only {
                return Err(self.refuse(wire::ADMIN_STATE_UP, format!("{up} is not allowed, it can only be {only}")));
            }
        }
        if let (Some(rule), Some(psk)) = (self.psk, &p.psk) {
            let key = psk.expose();
            let n = key.chars().count();
            // The reasons name the rule, never the key.
            if n < rule.min || n > rule.max {
                return Err(self.refuse(
                    wire::PSK,
                    format!("the pre-shared key must be {} to {} characters long", rule.min, rule.max),
                ));
            }
            if let Some(c) = rule.forbidden.iter().find(|c| key.contains(**c)) {
                return Err(self.refuse(wire::PSK, format!("the pre-shared key must not contain {c:?}")));
            }
            if key.chars().all(|c| c == rule.not_only) {
                return Err(
                    self.refuse(wire::PSK, format!("the pre-shared key must not consist only of {:?}", rule.not_only))
                );
            }
        }
        // A settable attribute sent on update (auth_mode is writable since ADR 0017) has the
        // same only value.
        if let Some(mode) = p.auth.auth_mode {
            if self.settable.iter().any(|(a, _)| *a == wire::AUTH_MODE) {
                self.check_setting(wire::AUTH_MODE, mode.as_str())?;
            }
        }
        if self.endpoint_groups_required && p.peer_cidrs.as_ref().is_some_and(|c| !c.is_empty()) {
            return Err(self.refuse(
                wire::PEER_CIDRS,
                "peer_cidrs is deprecated: name the remote side with an endpoint group (only [] is accepted)",
            ));
        }
        if self.peer_id_is_peer_address && p.peer_id.is_none() {
            p.peer_id = p.peer_address.as_ref().map(ToString::to_string);
        }
        Ok(())
    }

    /// Checks a connection as it will be stored (after an update's values are merged in).
    pub fn check_connection(&self, spec: &ConnectionSpec) -> Result<(), Fault> {
        if self.peer_id_is_peer_address && spec.peer_id != spec.peer_address.to_string() {
            return Err(self.refuse(wire::PEER_ID, "peer_id must equal peer_address"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::{PeerAddress, Psk};

    fn psk(s: &str) -> ConnectionPatch {
        ConnectionPatch { psk: Some(Psk::parse(s).unwrap()), ..ConnectionPatch::default() }
    }

    #[test]
    fn otc_psk_rules_name_the_rule_never_the_key() {
        for bad in ["short", "has space1", "what?now1", "********", &"k".repeat(129)] {
            let err = OTC.check_connection_request(&mut psk(bad)).unwrap_err().to_string();
            assert!(err.contains("Invalid input for psk") && err.contains("'otc' profile"), "{err}");
            assert!(!err.contains(bad), "{err}");
        }
        assert!(OTC.check_connection_request(&mut psk("secret")).is_ok());
        assert!(OPENSTACK.check_connection_request(&mut psk("s")).is_ok());
    }

    #[test]
    fn otc_fills_peer_id_from_peer_address_on_request() {
        let mut p = ConnectionPatch { peer_address: PeerAddress::parse("192.0.2.1"), ..ConnectionPatch::default() };
        OTC.check_connection_request(&mut p).unwrap();
        assert_eq!(p.peer_id.as_deref(), Some("192.0.2.1"));
        let mut p = ConnectionPatch { peer_address: PeerAddress::parse("192.0.2.1"), ..ConnectionPatch::default() };
        OPENSTACK.check_connection_request(&mut p).unwrap();
        assert_eq!(p.peer_id, None);
    }

    #[test]
    fn profiles_are_found_by_name() {
        assert_eq!(Profile::by_name("otc").map(|p| p.name), Some("otc"));
        assert!(Profile::by_name("aws").is_none());
    }
}
