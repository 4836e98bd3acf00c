//! The business rules of endpoint groups and site connections, as pure functions over already-loaded objects.
//!
//! The order of checks follows ADR 0009 §2.3 ("ipsec-site-connections, create"), so that the
//! same request gets the same first error as from the reference.

use uuid::Uuid;

use crate::algorithms::{EndpointType, TransformProtocol};
use crate::fault::{Fault, Which};
use crate::resources::{ConnectionSpec, EndpointGroup, IpsecPolicy, Subnet, VpnService};
use crate::values::{Cidr, IpVersion, PeerAddress};
use crate::wire;

/// How a connection names its two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The service has a subnet; the connection lists `peer_cidrs`.
    Legacy,
    /// The connection names a local (subnet) and a peer (cidr) endpoint group.
    EndpointGroups { local: Uuid, peer: Uuid },
}

/// The Swan driver validator: `ah-esp` cannot be rendered (ADR 0009 §2.3, IKE/IPsec policies).
pub fn check_ipsec_policy_supported(policy: &IpsecPolicy) -> Result<(), Fault> {
    if policy.spec.transform_protocol == TransformProtocol::AhEsp {
        return Err(Fault::IpsecValidationFailure {
            resource: "ipsecpolicy",
            key: "transform_protocol",
            value: TransformProtocol::AhEsp.as_str().to_owned(),
        });
    }
    Ok(())
}

/// Step 4 of the reference: legacy mode versus endpoint-group mode, and every mixing error.
pub fn connection_mode(spec: &ConnectionSpec, service: &VpnService) -> Result<Mode, Fault> {
    let local = spec.local_ep_group_id;
    let peer = spec.peer_ep_group_id;
    if service.spec.subnet_id.is_some() {
        if let Some(which) = Which::from_flags(local.is_some(), peer.is_some()) {
            return Err(Fault::InvalidEndpointGroup(which));
        }
        if spec.peer_cidrs.is_empty() {
            return Err(Fault::MissingPeerCidrs);
        }
        return Ok(Mode::Legacy);
    }
    if !spec.peer_cidrs.is_empty() {
        return Err(Fault::PeerCidrsInvalid);
    }
    match (local, peer) {
        (Some(local), Some(peer)) => Ok(Mode::EndpointGroups { local, peer }),
        _ => Err(Fault::MissingRequiredEndpointGroup(
            Which::from_flags(local.is_none(), peer.is_none()).unwrap_or(Which::Both),
        )),
    }
}

/// The local side of a connection, loaded by the service layer for the mode it found.
pub enum LocalSide<'a> {
    /// The service's subnet.
    Legacy { subnet: &'a Subnet },
    /// The two endpoint groups and the subnets the local group names.
    Groups { local: &'a EndpointGroup, local_subnets: &'a [Subnet], peer: &'a EndpointGroup },
}

/// Steps 5 to 8 of the reference: endpoint types, attachment to the router, IP versions,
/// DPD, MTU and the peer address family. Returns the IP version of the local side.
pub fn check_connection(spec: &ConnectionSpec, service: &VpnService, side: &LocalSide<'_>) -> Result<IpVersion, Fault> {
    let router = service.spec.router_id;
    let local_version = match side {
        LocalSide::Legacy { subnet } => {
            let peer_version = one_version(spec.peer_cidrs.iter().map(Cidr::version))
                .map_err(|()| Fault::MixedIpVersionsForPeerCidrs)?;
            let local_version = subnet.spec.cidr.version();
            if peer_version.is_some_and(|v| v != local_version) {
                return Err(Fault::MixedIpVersionsForConnection);
            }
            local_version
        }
        LocalSide::Groups { local, local_subnets, peer } => {
            if local.spec.endpoint_type != EndpointType::Subnet {
                return Err(Fault::WrongEndpointGroupType {
                    which: Which::Local,
                    group_type: local.spec.endpoint_type.as_str().to_owned(),
                    expected: "subnet",
                });
            }
            for subnet in local_subnets.iter() {
                if subnet.spec.router_id != Some(router) {
                    return Err(Fault::SubnetIsNotConnectedToRouter {
                        subnet: subnet.meta.id.to_string(),
                        router: router.to_string(),
                    });
                }
            }
            let local_version = one_version(local_subnets.iter().map(|s| s.spec.cidr.version()))
                .map_err(|()| Fault::MixedIpVersionsForEndpoints { group: local.meta.id.to_string() })?;
            if peer.spec.endpoint_type != EndpointType::Cidr {
                return Err(Fault::WrongEndpointGroupType {
                    which: Which::Peer,
                    group_type: peer.spec.endpoint_type.as_str().to_owned(),
                    expected: "cidr",
                });
            }
            let peer_version =
                one_version(peer.spec.endpoints.iter().filter_map(|e| Cidr::parse(e).ok()).map(|c| c.version()))
                    .map_err(|()| Fault::MixedIpVersionsForEndpoints { group: peer.meta.id.to_string() })?;
            match (local_version, peer_version) {
                (Some(l), Some(p)) if l != p => return Err(Fault::MixedIpVersionsForConnection),
                (Some(l), _) => l,
                // An endpoint group is never empty, so this is unreachable in practice.
                (None, _) => return Err(Fault::MissingEndpointForEndpointGroup),
            }
        }
    };
    let dpd = spec.dpd;
    if dpd.interval <= 0 {
        return Err(Fault::invalid(wire::DPD, format!("interval {} is not a positive integer", dpd.interval)));
    }
    if dpd.timeout <= dpd.interval {
        return Err(Fault::DpdTimeoutNotGreater);
    }
    // ADR 0001 D2: zero is not "unset", it is too small.
    if spec.mtu < local_version.min_mtu() {
        return Err(Fault::MtuTooSmall { mtu: spec.mtu, version: local_version.number() });
    }
    if let PeerAddress::Ip(ip) = &spec.peer_address {
        let version = IpVersion::of(ip);
        let has = match version {
            IpVersion::V4 => service.spec.external_v4_ip.is_some(),
            IpVersion::V6 => service.spec.external_v6_ip.is_some(),
        };
        if !has {
            return Err(Fault::ExternalNetworkHasNoSubnet { router: router.to_string(), version: version.number() });
        }
    }
    Ok(local_version)
}

/// Parses the endpoints of a new group (reference `validate_endpoint_group`): not empty,
/// unique, a CIDR each for `cidr` groups, a UUID each for `subnet` groups (their existence
/// and IP versions are checked by the caller with [`check_one_version`]). Returns canonical texts.
pub fn parse_endpoints(group_type: EndpointType, raw: &[String]) -> Result<Vec<String>, Fault> {
    if raw.is_empty() {
        return Err(Fault::MissingEndpointForEndpointGroup);
    }
    let invalid = |endpoint: &str, why: &'static str| Fault::InvalidEndpointInEndpointGroup {
        endpoint: endpoint.to_owned(),
        group_type: group_type.as_str().to_owned(),
        why,
    };
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for endpoint in raw {
        let canonical = match group_type {
            EndpointType::Cidr => Cidr::parse(endpoint).map_err(|_| invalid(endpoint, "Invalid CIDR"))?.to_string(),
            EndpointType::Subnet => {
                Uuid::parse_str(endpoint).map_err(|_| invalid(endpoint, "Invalid UUID"))?.to_string()
            }
            EndpointType::Network | EndpointType::Router | EndpointType::Vlan => endpoint.clone(),
        };
        if out.contains(&canonical) {
            return Err(invalid(endpoint, "Endpoints have to be unique"));
        }
        out.push(canonical);
    }
    if group_type == EndpointType::Cidr {
        let versions = out.iter().filter_map(|e| Cidr::parse(e).ok()).map(|c| c.version());
        check_one_version("(new)", versions)?;
    }
    Ok(out)
}

/// One IP version for all endpoints of a group (a check the reference misses for cidr groups).
pub fn check_one_version(group: &str, versions: impl Iterator<Item = IpVersion>) -> Result<(), Fault> {
    one_version(versions).map(|_| ()).map_err(|()| Fault::MixedIpVersionsForEndpoints { group: group.to_owned() })
}

fn one_version(mut versions: impl Iterator<Item = IpVersion>) -> Result<Option<IpVersion>, ()> {
    let Some(first) = versions.next() else {
        return Ok(None);
    };
    if versions.all(|v| v == first) {
        Ok(Some(first))
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_present_unique_and_valid() {
        assert_eq!(parse_endpoints(EndpointType::Cidr, &[]), Err(Fault::MissingEndpointForEndpointGroup));
        let dup = parse_endpoints(EndpointType::Cidr, &["10.0.0.0/24".into(), "10.0.0.0/24".into()]);
        assert!(matches!(dup, Err(Fault::InvalidEndpointInEndpointGroup { why: "Endpoints have to be unique", .. })));
        let bad = parse_endpoints(EndpointType::Subnet, &["nope".into()]);
        assert!(matches!(bad, Err(Fault::InvalidEndpointInEndpointGroup { why: "Invalid UUID", .. })));
        let mixed = parse_endpoints(EndpointType::Cidr, &["10.0.0.0/24".into(), "2001:db8::/64".into()]);
        assert!(matches!(mixed, Err(Fault::MixedIpVersionsForEndpoints { .. })));
        assert_eq!(parse_endpoints(EndpointType::Vlan, &["100".into()]), Ok(vec!["100".to_owned()]));
    }
}
