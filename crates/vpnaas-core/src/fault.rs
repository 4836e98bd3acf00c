//! Every refusal the API can answer with: the reference's exception classes, their classes of HTTP status and their exact messages.
//!
//! Messages and `type` names follow neutron-lib `neutron_lib/exceptions/vpn.py` and the
//! generic attribute errors of `neutron_lib/api/attributes.py` (ADR 0009 §1.1, §2.2).
//! A message never contains a pre-shared key: PSK errors name the attribute, not the value.

use std::fmt;

/// The class of a refusal; the server maps each to one HTTP status in one exhaustive match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    RequestTimeout,
    Unavailable,
    Internal,
}

/// Which endpoint group(s) an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Local,
    Peer,
    Both,
}

impl Which {
    pub fn from_flags(local: bool, peer: bool) -> Option<Which> {
        match (local, peer) {
            (true, true) => Some(Which::Both),
            (true, false) => Some(Which::Local),
            (false, true) => Some(Which::Peer),
            (false, false) => None,
        }
    }
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Which::Local => ("", "local"),
            Which::Peer => ("", "peer"),
            Which::Both => ("s", "local and peer"),
        }
    }
}

/// A refusal, typed. `Display` is the message of the NeutronError envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    // --- request shape (type HTTPBadRequest, as webob raises them in the reference) ---
    MalformedBody(String),
    ResourceBodyRequired,
    MissingResourceKey(&'static str),
    BodyInvalid,
    BulkNotSupported,
    Unrecognized(Vec<String>),
    NotAllowedInPost(String),
    ReadOnly(String),
    RequiredMissing(&'static str),
    /// A validator failure: `Invalid input for <attr>. Reason: <reason>.`
    InvalidInput {
        attr: String,
        reason: String,
    },
    /// A bad query parameter (filter, sort, page).
    BadQuery(String),
    ProjectMismatch,
    ProjectNotAllowed,

    // --- business rules (400) ---
    DpdTimeoutNotGreater,
    MtuTooSmall {
        mtu: i64,
        version: u8,
    },
    PeerCidrInvalid(String),
    MixedIpVersionsForPeerCidrs,
    MixedIpVersionsForEndpoints {
        group: String,
    },
    MixedIpVersionsForConnection,
    InvalidEndpointGroup(Which),
    WrongEndpointGroupType {
        which: Which,
        group_type: String,
        expected: &'static str,
    },
    PeerCidrsInvalid,
    MissingPeerCidrs,
    MissingRequiredEndpointGroup(Which),
    InvalidEndpointInEndpointGroup {
        endpoint: String,
        group_type: String,
        why: &'static str,
    },
    MissingEndpointForEndpointGroup,
    NonExistingSubnetInEndpointGroup(String),
    SubnetIsNotConnectedToRouter {
        subnet: String,
        router: String,
    },
    RouterIsNotExternal(String),
    ExternalNetworkHasNoSubnet {
        router: String,
        version: u8,
    },
    IpsecValidationFailure {
        resource: &'static str,
        key: &'static str,
        value: String,
    },

    // --- not found (404) ---
    /// A path that names nothing we serve, or an object hidden from the caller.
    HttpNotFound,
    IkePolicyNotFound(String),
    IpsecPolicyNotFound(String),
    VpnServiceNotFound(String),
    EndpointGroupNotFound(String),
    SiteConnectionNotFound(String),
    RouterNotFound(String),
    SubnetNotFound(String),
    NetworkNotFound(String),
    CertificateNotFound(String),
    RouterInterfaceNotFoundForSubnet {
        router: String,
        subnet: String,
    },
    FlavorsPluginNotLoaded,

    // --- conflicts (409) ---
    IkePolicyInUse(String),
    IpsecPolicyInUse(String),
    VpnServiceInUse(String),
    EndpointGroupInUse(String),
    CertificateInUse(String),
    RouterInUse {
        router: String,
        reason: String,
    },
    SubnetInUseByVpnService {
        subnet: String,
        vpnservice: String,
    },
    SubnetInUseByEndpointGroup {
        subnet: String,
        group: String,
    },
    SubnetInUseBySiteConnection {
        subnet: String,
        connection: String,
    },
    SubnetInUse {
        subnet: String,
        reason: String,
    },
    SubnetAlreadyAttached {
        subnet: String,
        router: String,
    },
    /// A third connection for one service and pair of endpoint groups.
    ConnectionPairFull {
        members: Vec<String>,
    },
    /// A pair's two members must reach different peers.
    ConnectionPairSamePeer {
        other: String,
    },
    /// The peer's configuration cannot be written in the asked dialect (ADR 0019).
    PeerConfigUnavailable {
        connection: String,
        format: &'static str,
        reason: String,
    },

    /// `If-Match: revision_number=N` and the resource has moved on.
    RevisionNumberConstraintFailed {
        expected: i64,
        current: i64,
    },

    // --- callers ---
    NotAuthenticated,
    PolicyNotAuthorized(&'static str),

    // --- transport ---
    MethodNotAllowed,
    RequestTooLarge,
    /// The body did not arrive in time (`http_body_timeout_secs`).
    RequestTimeout,
}

impl Fault {
    pub fn invalid(attr: impl Into<String>, reason: impl Into<String>) -> Fault {
        Fault::InvalidInput { attr: attr.into(), reason: reason.into() }
    }

    pub fn class(&self) -> Class {
        use Fault::*;
        match self {
            MalformedBody(_)
            | ResourceBodyRequired
            | MissingResourceKey(_)
            | BodyInvalid
            | BulkNotSupported
            | Unrecognized(_)
            | NotAllowedInPost(_)
            | ReadOnly(_)
            | RequiredMissing(_)
            | InvalidInput { .. }
            | BadQuery(_)
            | ProjectMismatch
            | ProjectNotAllowed
            | DpdTimeoutNotGreater
            | MtuTooSmall { .. }
            | PeerCidrInvalid(_)
            | MixedIpVersionsForPeerCidrs
            | MixedIpVersionsForEndpoints { .. }
            | MixedIpVersionsForConnection
            | InvalidEndpointGroup(_)
            | WrongEndpointGroupType { .. }
            | PeerCidrsInvalid
            | MissingPeerCidrs
            | MissingRequiredEndpointGroup(_)
            | InvalidEndpointInEndpointGroup { .. }
            | MissingEndpointForEndpointGroup
            | NonExistingSubnetInEndpointGroup(_)
            | SubnetIsNotConnectedToRouter { .. }
            | RouterIsNotExternal(_)
            | ExternalNetworkHasNoSubnet { .. }
            | IpsecValidationFailure { .. } => Class::BadRequest,
            HttpNotFound
            | IkePolicyNotFound(_)
            | IpsecPolicyNotFound(_)
            | VpnServiceNotFound(_)
            | EndpointGroupNotFound(_)
            | SiteConnectionNotFound(_)
            | RouterNotFound(_)
            | SubnetNotFound(_)
            | NetworkNotFound(_)
            | CertificateNotFound(_)
            | RouterInterfaceNotFoundForSubnet { .. }
            | FlavorsPluginNotLoaded => Class::NotFound,
            IkePolicyInUse(_)
            | IpsecPolicyInUse(_)
            | VpnServiceInUse(_)
            | EndpointGroupInUse(_)
            | CertificateInUse(_)
            | RouterInUse { .. }
            | SubnetInUseByVpnService { .. }
            | SubnetInUseByEndpointGroup { .. }
            | SubnetInUseBySiteConnection { .. }
            | SubnetInUse { .. }
            | SubnetAlreadyAttached { .. }
            | ConnectionPairFull { .. }
            | ConnectionPairSamePeer { .. }
            | PeerConfigUnavailable { .. } => Class::Conflict,
            RevisionNumberConstraintFailed { .. } => Class::PreconditionFailed,
            NotAuthenticated => Class::Unauthorized,
            PolicyNotAuthorized(_) => Class::Forbidden,
            MethodNotAllowed => Class::MethodNotAllowed,
            RequestTooLarge => Class::PayloadTooLarge,
            RequestTimeout => Class::RequestTimeout,
        }
    }

    /// The `type` of the NeutronError envelope: the reference's exception class name.
    pub fn type_name(&self) -> &'static str {
        use Fault::*;
        match self {
            MalformedBody(_)
            | ResourceBodyRequired
            | MissingResourceKey(_)
            | BodyInvalid
            | BulkNotSupported
            | Unrecognized(_)
            | NotAllowedInPost(_)
            | ReadOnly(_)
            | RequiredMissing(_)
            | InvalidInput { .. }
            | BadQuery(_)
            | ProjectMismatch
            | ProjectNotAllowed => "HTTPBadRequest",
            DpdTimeoutNotGreater => "IPsecSiteConnectionDpdIntervalValueError",
            MtuTooSmall { .. } => "IPsecSiteConnectionMtuError",
            PeerCidrInvalid(_) => "IPsecSiteConnectionPeerCidrError",
            MixedIpVersionsForPeerCidrs => "MixedIPVersionsForPeerCidrs",
            MixedIpVersionsForEndpoints { .. } => "MixedIPVersionsForIPSecEndpoints",
            MixedIpVersionsForConnection => "MixedIPVersionsForIPSecConnection",
            InvalidEndpointGroup(_) => "InvalidEndpointGroup",
            WrongEndpointGroupType { .. } => "WrongEndpointGroupType",
            PeerCidrsInvalid => "PeerCidrsInvalid",
            MissingPeerCidrs => "MissingPeerCidrs",
            MissingRequiredEndpointGroup(_) => "MissingRequiredEndpointGroup",
            InvalidEndpointInEndpointGroup { .. } => "InvalidEndpointInEndpointGroup",
            MissingEndpointForEndpointGroup => "MissingEndpointForEndpointGroup",
            NonExistingSubnetInEndpointGroup(_) => "NonExistingSubnetInEndpointGroup",
            SubnetIsNotConnectedToRouter { .. } => "SubnetIsNotConnectedToRouter",
            RouterIsNotExternal(_) => "RouterIsNotExternal",
            ExternalNetworkHasNoSubnet { .. } => "ExternalNetworkHasNoSubnet",
            IpsecValidationFailure { .. } => "IpsecValidationFailure",
            HttpNotFound => "HTTPNotFound",
            IkePolicyNotFound(_) => "IKEPolicyNotFound",
            IpsecPolicyNotFound(_) => "IPsecPolicyNotFound",
            VpnServiceNotFound(_) => "VPNServiceNotFound",
            EndpointGroupNotFound(_) => "VPNEndpointGroupNotFound",
            SiteConnectionNotFound(_) => "IPsecSiteConnectionNotFound",
            RouterNotFound(_) => "RouterNotFound",
            SubnetNotFound(_) => "SubnetNotFound",
            NetworkNotFound(_) => "NetworkNotFound",
            CertificateNotFound(_) => "CertificateNotFound",
            RouterInterfaceNotFoundForSubnet { .. } => "RouterInterfaceNotFoundForSubnet",
            FlavorsPluginNotLoaded => "FlavorsPluginNotLoaded",
            IkePolicyInUse(_) => "IKEPolicyInUse",
            IpsecPolicyInUse(_) => "IPsecPolicyInUse",
            VpnServiceInUse(_) => "VPNServiceInUse",
            EndpointGroupInUse(_) => "EndpointGroupInUse",
            CertificateInUse(_) => "CertificateInUse",
            RouterInUse { .. } => "RouterInUse",
            SubnetInUseByVpnService { .. } => "SubnetInUseByVPNService",
            SubnetInUseByEndpointGroup { .. } => "SubnetInUseByEndpointGroup",
            SubnetInUseBySiteConnection { .. } => "SubnetInUseByIPsecSiteConnection",
            SubnetInUse { .. } => "SubnetInUse",
            SubnetAlreadyAttached { .. } => "SubnetAlreadyAttached",
            ConnectionPairFull { .. } => "ConnectionPairFull",
            ConnectionPairSamePeer { .. } => "ConnectionPairSamePeer",
            PeerConfigUnavailable { .. } => "PeerConfigUnavailable",
            RevisionNumberConstraintFailed { .. } => "RevisionNumberConstraintFailed",
            NotAuthenticated => "NotAuthenticated",
            PolicyNotAuthorized(_) => "PolicyNotAuthorized",
            MethodNotAllowed => "HTTPMethodNotAllowed",
            RequestTooLarge => "HTTPRequestEntityTooLarge",
            RequestTimeout => "HTTPRequestTimeout",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Fault::*;
        match self {
            MalformedBody(why) => write!(f, "Malformed request body: {why}"),
            ResourceBodyRequired => f.write_str("Resource body required"),
            MissingResourceKey(key) => write!(f, "Unable to find '{key}' in request body"),
            BodyInvalid => f.write_str("Body contains invalid data"),
            BulkNotSupported => f.write_str("Bulk operation not supported"),
            Unrecognized(keys) => {
                let quoted: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
                write!(f, "Unrecognized attribute(s) {}", quoted.join(", "))
            }
            NotAllowedInPost(attr) => write!(f, "Attribute '{attr}' not allowed in POST"),
            ReadOnly(attr) => write!(f, "Cannot update read-only attribute {attr}"),
            RequiredMissing(attr) => {
                write!(f, "Failed to parse request. Required attribute '{attr}' not specified")
            }
            InvalidInput { attr, reason } => write!(f, "Invalid input for {attr}. Reason: {reason}."),
            BadQuery(msg) => f.write_str(msg),
            ProjectMismatch => f.write_str("'project_id' and 'tenant_id' do not match"),
            ProjectNotAllowed => f.write_str(
                "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
            ),
            DpdTimeoutNotGreater => {
                f.write_str("ipsec_site_connection dpd_timeout is equal to or less than dpd_interval")
            }
            MtuTooSmall { mtu, version } => {
                write!(f, "ipsec_site_connection MTU {mtu} is too small for ipv{version}")
            }
            PeerCidrInvalid(cidr) => {
                write!(f, "ipsec_site_connection peer cidr {cidr} is invalid CIDR")
            }
            MixedIpVersionsForPeerCidrs => f.write_str(
                "Peer CIDRs do not have the same IP version, as required for IPSec site-to-site connection",
            ),
            MixedIpVersionsForEndpoints { group } => write!(
                f,
                "Endpoints in group {group} do not have the same IP version, as required for IPSec site-to-site connection"
            ),
            MixedIpVersionsForConnection => {
                f.write_str("IP versions are not compatible between peer and local endpoints")
            }
            InvalidEndpointGroup(which) => {
                let (suffix, which) = which.words();
                write!(f, "Endpoint group{suffix} {which} cannot be specified, when VPN Service has subnet specified")
            }
            WrongEndpointGroupType { which, group_type, expected } => {
                let (_, which) = which.words();
                write!(f, "Endpoint group {which} type is '{group_type}' and should be '{expected}'")
            }
            PeerCidrsInvalid => f.write_str("Peer CIDRs cannot be specified, when using endpoint groups"),
            MissingPeerCidrs => f.write_str("Missing peer CIDRs for IPsec site-to-site connection"),
            MissingRequiredEndpointGroup(which) => {
                let (suffix, which) = which.words();
                write!(f, "Missing endpoint group{suffix} {which} for IPSec site-to-site connection")
            }
            InvalidEndpointInEndpointGroup { endpoint, group_type, why } => write!(
                f,
                "Endpoint '{endpoint}' is invalid for group type '{group_type}': {why}"
            ),
            MissingEndpointForEndpointGroup => {
                f.write_str("No endpoints specified for endpoint group: endpoints must not be empty")
            }
            NonExistingSubnetInEndpointGroup(subnet) => {
                write!(f, "Subnet {subnet} in endpoint group does not exist")
            }
            SubnetIsNotConnectedToRouter { subnet, router } => {
                write!(f, "Subnet {subnet} is not connected to Router {router}")
            }
            RouterIsNotExternal(router) => {
                write!(f, "Router {router} has no external network gateway set")
            }
            ExternalNetworkHasNoSubnet { router, version } => {
                write!(f, "Router's {router} external network has no IPv{version} subnet")
            }
            IpsecValidationFailure { resource, key, value } => {
                write!(f, "IPSec does not support {resource} attribute {key} with value '{value}'")
            }
            HttpNotFound => f.write_str("The resource could not be found."),
            IkePolicyNotFound(id) => write!(f, "IKEPolicy {id} could not be found"),
            IpsecPolicyNotFound(id) => write!(f, "IPsecPolicy {id} could not be found"),
            VpnServiceNotFound(id) => write!(f, "VPNService {id} could not be found"),
            EndpointGroupNotFound(id) => write!(f, "Endpoint group {id} could not be found"),
            SiteConnectionNotFound(id) => write!(f, "ipsec_site_connection {id} not found"),
            RouterNotFound(id) => write!(f, "Router {id} could not be found"),
            SubnetNotFound(id) => write!(f, "Subnet {id} could not be found."),
            NetworkNotFound(id) => write!(f, "Network {id} could not be found."),
            CertificateNotFound(id) => write!(f, "Certificate {id} could not be found"),
            RouterInterfaceNotFoundForSubnet { router, subnet } => {
                write!(f, "Router {router} has no interface on subnet {subnet}")
            }
            FlavorsPluginNotLoaded => {
                f.write_str("Flavors plugin not found: flavor_id is not supported by this server")
            }
            IkePolicyInUse(id) => write!(
                f,
                "IKEPolicy {id} is in use by existing IPsecSiteConnection and can't be updated or deleted"
            ),
            IpsecPolicyInUse(id) => write!(
                f,
                "IPsecPolicy {id} is in use by existing IPsecSiteConnection and can't be updated or deleted"
            ),
            VpnServiceInUse(id) => write!(f, "VPNService {id} is still in use"),
            CertificateInUse(id) => {
                write!(f, "Certificate {id} is in use by an IPsec site connection and cannot be deleted")
            }
            EndpointGroupInUse(id) => {
                write!(f, "Endpoint group {id} is in use and cannot be deleted")
            }
            RouterInUse { router, reason } => {
                write!(f, "Router {router} {reason}")
            }
            SubnetInUseByVpnService { subnet, vpnservice } => {
                write!(f, "Subnet {subnet} is used by VPNService {vpnservice}")
            }
            SubnetInUseByEndpointGroup { subnet, group } => {
                write!(f, "Subnet {subnet} is used by endpoint group {group}")
            }
            SubnetInUseBySiteConnection { subnet, connection } => {
                write!(f, "Subnet {subnet} is used by ipsec site connection {connection}")
            }
            SubnetInUse { subnet, reason } => write!(f, "Unable to complete operation on subnet {subnet}: {reason}"),
            SubnetAlreadyAttached { subnet, router } => {
                write!(f, "Subnet {subnet} is already attached to router {router}")
            }
            ConnectionPairFull { members } => write!(
                f,
                "The VPN service already has an active/standby pair for these endpoint groups ({}); a third connection with the same local_ep_group_id and peer_ep_group_id is not allowed",
                members.join(", ")
            ),
            ConnectionPairSamePeer { other } => write!(
                f,
                "Connection {other} already uses these endpoint groups and this peer_address; the standby of an active/standby pair must reach a different peer"
            ),
            PeerConfigUnavailable { connection, format, reason } => {
                write!(f, "The peer configuration of connection {connection} cannot be written as {format}: {reason}")
            }
            RevisionNumberConstraintFailed { expected, current } => {
                write!(f, "Constraint revision_number={expected} failed. Current revision is {current}.")
            }
            NotAuthenticated => f.write_str(
                "Authentication required: send a valid X-Auth-Token (in noauth mode, X-Project-Id and X-Roles)",
            ),
            PolicyNotAuthorized(rule) => write!(f, "rule:{rule} is disallowed by policy"),
            MethodNotAllowed => f.write_str("The method is not allowed for this resource."),
            RequestTooLarge => f.write_str("Request is too large."),
            RequestTimeout => {
                f.write_str("The server has waited too long for the request to be sent by the client.")
            }
        }
    }
}

impl std::error::Error for Fault {}

pub type Result<T, E = Fault> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant with sample arguments, and its class, `type` and message as clients see
    /// them: the wire contract, pinned so that a change of how faults are declared cannot move it.
    fn pinned() -> Vec<(Fault, Class, &'static str, &'static str)> {
        use Fault::*;
        vec![
            (
                MalformedBody("expected value at line 1 column 1".into()),
                Class::BadRequest,
                "HTTPBadRequest",
                "Malformed request body: expected value at line 1 column 1",
            ),
            (
                ResourceBodyRequired,
                Class::BadRequest,
                "HTTPBadRequest",
                "Resource body required",
            ),
            (
                MissingResourceKey("ikepolicy"),
                Class::BadRequest,
                "HTTPBadRequest",
                "Unable to find 'ikepolicy' in request body",
            ),
            (
                BodyInvalid,
                Class::BadRequest,
                "HTTPBadRequest",
                "Body contains invalid data",
            ),
            (
                BulkNotSupported,
                Class::BadRequest,
                "HTTPBadRequest",
                "Bulk operation not supported",
            ),
            (
                Unrecognized(vec!["colour".into(), "size".into()]),
                Class::BadRequest,
                "HTTPBadRequest",
                "Unrecognized attribute(s) 'colour', 'size'",
            ),
            (
                NotAllowedInPost("id".into()),
                Class::BadRequest,
                "HTTPBadRequest",
                "Attribute 'id' not allowed in POST",
            ),
            (
                ReadOnly("status".into()),
                Class::BadRequest,
                "HTTPBadRequest",
                "Cannot update read-only attribute status",
            ),
            (
                RequiredMissing("peer_address"),
                Class::BadRequest,
                "HTTPBadRequest",
                "Failed to parse request. Required attribute 'peer_address' not specified",
            ),
            (
                InvalidInput { attr: "mtu".into(), reason: "'x' is not an integer".into() },
                Class::BadRequest,
                "HTTPBadRequest",
                "Invalid input for mtu. Reason: 'x' is not an integer.",
            ),
            (
                BadQuery("Invalid sort key: colour".into()),
                Class::BadRequest,
                "HTTPBadRequest",
                "Invalid sort key: colour",
            ),
            (
                ProjectMismatch,
                Class::BadRequest,
                "HTTPBadRequest",
                "'project_id' and 'tenant_id' do not match",
            ),
            (
                ProjectNotAllowed,
                Class::BadRequest,
                "HTTPBadRequest",
                "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
            ),
            (
                DpdTimeoutNotGreater,
                Class::BadRequest,
                "IPsecSiteConnectionDpdIntervalValueError",
                "ipsec_site_connection dpd_timeout is equal to or less than dpd_interval",
            ),
            (
                MtuTooSmall { mtu: 67, version: 4 },
                Class::BadRequest,
                "IPsecSiteConnectionMtuError",
                "ipsec_site_connection MTU 67 is too small for ipv4",
            ),
            (
                PeerCidrInvalid("10.0.0.0/33".into()),
                Class::BadRequest,
                "IPsecSiteConnectionPeerCidrError",
                "ipsec_site_connection peer cidr 10.0.0.0/33 is invalid CIDR",
            ),
            (
                MixedIpVersionsForPeerCidrs,
                Class::BadRequest,
                "MixedIPVersionsForPeerCidrs",
                "Peer CIDRs do not have the same IP version, as required for IPSec site-to-site connection",
            ),
            (
                MixedIpVersionsForEndpoints { group: "eg-1".into() },
                Class::BadRequest,
                "MixedIPVersionsForIPSecEndpoints",
                "Endpoints in group eg-1 do not have the same IP version, as required for IPSec site-to-site connection",
            ),
            (
                MixedIpVersionsForConnection,
                Class::BadRequest,
                "MixedIPVersionsForIPSecConnection",
                "IP versions are not compatible between peer and local endpoints",
            ),
            (
                InvalidEndpointGroup(Which::Local),
                Class::BadRequest,
                "InvalidEndpointGroup",
                "Endpoint group local cannot be specified, when VPN Service has subnet specified",
            ),
            (
                InvalidEndpointGroup(Which::Peer),
                Class::BadRequest,
                "InvalidEndpointGroup",
                "Endpoint group peer cannot be specified, when VPN Service has subnet specified",
            ),
            (
                InvalidEndpointGroup(Which::Both),
                Class::BadRequest,
                "InvalidEndpointGroup",
                "Endpoint groups local and peer cannot be specified, when VPN Service has subnet specified",
            ),
            (
                WrongEndpointGroupType { which: Which::Local, group_type: "cidr".into(), expected: "subnet" },
                Class::BadRequest,
                "WrongEndpointGroupType",
                "Endpoint group local type is 'cidr' and should be 'subnet'",
            ),
            (
                WrongEndpointGroupType { which: Which::Both, group_type: "subnet".into(), expected: "cidr" },
                Class::BadRequest,
                "WrongEndpointGroupType",
                "Endpoint group local and peer type is 'subnet' and should be 'cidr'",
            ),
            (
                PeerCidrsInvalid,
                Class::BadRequest,
                "PeerCidrsInvalid",
                "Peer CIDRs cannot be specified, when using endpoint groups",
            ),
            (
                MissingPeerCidrs,
                Class::BadRequest,
                "MissingPeerCidrs",
                "Missing peer CIDRs for IPsec site-to-site connection",
            ),
            (
                MissingRequiredEndpointGroup(Which::Peer),
                Class::BadRequest,
                "MissingRequiredEndpointGroup",
                "Missing endpoint group peer for IPSec site-to-site connection",
            ),
            (
                MissingRequiredEndpointGroup(Which::Both),
                Class::BadRequest,
                "MissingRequiredEndpointGroup",
                "Missing endpoint groups local and peer for IPSec site-to-site connection",
            ),
            (
                InvalidEndpointInEndpointGroup { endpoint: "10.0.0.0/33".into(), group_type: "cidr".into(), why: "not a CIDR" },
                Class::BadRequest,
                "InvalidEndpointInEndpointGroup",
                "Endpoint '10.0.0.0/33' is invalid for group type 'cidr': not a CIDR",
            ),
            (
                MissingEndpointForEndpointGroup,
                Class::BadRequest,
                "MissingEndpointForEndpointGroup",
                "No endpoints specified for endpoint group: endpoints must not be empty",
            ),
            (
                NonExistingSubnetInEndpointGroup("s-1".into()),
                Class::BadRequest,
                "NonExistingSubnetInEndpointGroup",
                "Subnet s-1 in endpoint group does not exist",
            ),
            (
                SubnetIsNotConnectedToRouter { subnet: "s-1".into(), router: "r-1".into() },
                Class::BadRequest,
                "SubnetIsNotConnectedToRouter",
                "Subnet s-1 is not connected to Router r-1",
            ),
            (
                RouterIsNotExternal("r-1".into()),
                Class::BadRequest,
                "RouterIsNotExternal",
                "Router r-1 has no external network gateway set",
            ),
            (
                ExternalNetworkHasNoSubnet { router: "r-1".into(), version: 6 },
                Class::BadRequest,
                "ExternalNetworkHasNoSubnet",
                "Router's r-1 external network has no IPv6 subnet",
            ),
            (
                IpsecValidationFailure { resource: "ikepolicy", key: "lifetime_units", value: "kilobytes".into() },
                Class::BadRequest,
                "IpsecValidationFailure",
                "IPSec does not support ikepolicy attribute lifetime_units with value 'kilobytes'",
            ),
            (
                HttpNotFound,
                Class::NotFound,
                "HTTPNotFound",
                "The resource could not be found.",
            ),
            (
                IkePolicyNotFound("i-1".into()),
                Class::NotFound,
                "IKEPolicyNotFound",
                "IKEPolicy i-1 could not be found",
            ),
            (
                IpsecPolicyNotFound("p-1".into()),
                Class::NotFound,
                "IPsecPolicyNotFound",
                "IPsecPolicy p-1 could not be found",
            ),
            (
                VpnServiceNotFound("v-1".into()),
                Class::NotFound,
                "VPNServiceNotFound",
                "VPNService v-1 could not be found",
            ),
            (
                EndpointGroupNotFound("e-1".into()),
                Class::NotFound,
                "VPNEndpointGroupNotFound",
                "Endpoint group e-1 could not be found",
            ),
            (
                SiteConnectionNotFound("c-1".into()),
                Class::NotFound,
                "IPsecSiteConnectionNotFound",
                "ipsec_site_connection c-1 not found",
            ),
            (
                RouterNotFound("r-1".into()),
                Class::NotFound,
                "RouterNotFound",
                "Router r-1 could not be found",
            ),
            (
                SubnetNotFound("s-1".into()),
                Class::NotFound,
                "SubnetNotFound",
                "Subnet s-1 could not be found.",
            ),
            (
                NetworkNotFound("n-1".into()),
                Class::NotFound,
                "NetworkNotFound",
                "Network n-1 could not be found.",
            ),
            (
                CertificateNotFound("x-1".into()),
                Class::NotFound,
                "CertificateNotFound",
                "Certificate x-1 could not be found",
            ),
            (
                RouterInterfaceNotFoundForSubnet { router: "r-1".into(), subnet: "s-1".into() },
                Class::NotFound,
                "RouterInterfaceNotFoundForSubnet",
                "Router r-1 has no interface on subnet s-1",
            ),
            (
                FlavorsPluginNotLoaded,
                Class::NotFound,
                "FlavorsPluginNotLoaded",
                "Flavors plugin not found: flavor_id is not supported by this server",
            ),
            (
                IkePolicyInUse("i-1".into()),
                Class::Conflict,
                "IKEPolicyInUse",
                "IKEPolicy i-1 is in use by existing IPsecSiteConnection and can't be updated or deleted",
            ),
            (
                IpsecPolicyInUse("p-1".into()),
                Class::Conflict,
                "IPsecPolicyInUse",
                "IPsecPolicy p-1 is in use by existing IPsecSiteConnection and can't be updated or deleted",
            ),
            (
                VpnServiceInUse("v-1".into()),
                Class::Conflict,
                "VPNServiceInUse",
                "VPNService v-1 is still in use",
            ),
            (
                EndpointGroupInUse("e-1".into()),
                Class::Conflict,
                "EndpointGroupInUse",
                "Endpoint group e-1 is in use and cannot be deleted",
            ),
            (
                CertificateInUse("x-1".into()),
                Class::Conflict,
                "CertificateInUse",
                "Certificate x-1 is in use by an IPsec site connection and cannot be deleted",
            ),
            (
                RouterInUse { router: "r-1".into(), reason: "still has VPN services".into() },
                Class::Conflict,
                "RouterInUse",
                "Router r-1 still has VPN services",
            ),
            (
                SubnetInUseByVpnService { subnet: "s-1".into(), vpnservice: "v-1".into() },
                Class::Conflict,
                "SubnetInUseByVPNService",
                "Subnet s-1 is used by VPNService v-1",
            ),
            (
                SubnetInUseByEndpointGroup { subnet: "s-1".into(), group: "e-1".into() },
                Class::Conflict,
                "SubnetInUseByEndpointGroup",
                "Subnet s-1 is used by endpoint group e-1",
            ),
            (
                SubnetInUseBySiteConnection { subnet: "s-1".into(), connection: "c-1".into() },
                Class::Conflict,
                "SubnetInUseByIPsecSiteConnection",
                "Subnet s-1 is used by ipsec site connection c-1",
            ),
            (
                SubnetInUse { subnet: "s-1".into(), reason: "it has ports".into() },
                Class::Conflict,
                "SubnetInUse",
                "Unable to complete operation on subnet s-1: it has ports",
            ),
            (
                SubnetAlreadyAttached { subnet: "s-1".into(), router: "r-1".into() },
                Class::Conflict,
                "SubnetAlreadyAttached",
                "Subnet s-1 is already attached to router r-1",
            ),
            (
                ConnectionPairFull { members: vec!["c-1".into(), "c-2".into()] },
                Class::Conflict,
                "ConnectionPairFull",
                "The VPN service already has an active/standby pair for these endpoint groups (c-1, c-2); a third connection with the same local_ep_group_id and peer_ep_group_id is not allowed",
            ),
            (
                ConnectionPairFull { members: vec![] },
                Class::Conflict,
                "ConnectionPairFull",
                "The VPN service already has an active/standby pair for these endpoint groups (); a third connection with the same local_ep_group_id and peer_ep_group_id is not allowed",
            ),
            (
                ConnectionPairSamePeer { other: "c-1".into() },
                Class::Conflict,
                "ConnectionPairSamePeer",
                "Connection c-1 already uses these endpoint groups and this peer_address; the standby of an active/standby pair must reach a different peer",
            ),
            (
                PeerConfigUnavailable { connection: "c-1".into(), format: "libreswan", reason: "no such cipher".into() },
                Class::Conflict,
                "PeerConfigUnavailable",
                "The peer configuration of connection c-1 cannot be written as libreswan: no such cipher",
            ),
            (
                RevisionNumberConstraintFailed { expected: 3, current: 4 },
                Class::PreconditionFailed,
                "RevisionNumberConstraintFailed",
                "Constraint revision_number=3 failed. Current revision is 4.",
            ),
            (
                NotAuthenticated,
                Class::Unauthorized,
                "NotAuthenticated",
                "Authentication required: send a valid X-Auth-Token (in noauth mode, X-Project-Id and X-Roles)",
            ),
            (
                PolicyNotAuthorized("create_ikepolicy"),
                Class::Forbidden,
                "PolicyNotAuthorized",
                "rule:create_ikepolicy is disallowed by policy",
            ),
            (
                MethodNotAllowed,
                Class::MethodNotAllowed,
                "HTTPMethodNotAllowed",
                "The method is not allowed for this resource.",
            ),
            (
                RequestTooLarge,
                Class::PayloadTooLarge,
                "HTTPRequestEntityTooLarge",
                "Request is too large.",
            ),
            (
                RequestTimeout,
                Class::RequestTimeout,
                "HTTPRequestTimeout",
                "The server has waited too long for the request to be sent by the client.",
            ),
            (
                Unrecognized(vec![]),
                Class::BadRequest,
                "HTTPBadRequest",
                "Unrecognized attribute(s) ",
            ),
        ]
    }

    #[test]
    fn every_fault_keeps_its_class_type_and_message() {
        for (fault, class, type_name, message) in pinned() {
            assert_eq!(
                (fault.class(), fault.type_name(), fault.to_string().as_str()),
                (class, type_name, message),
                "{fault:?}"
            );
        }
    }
}
