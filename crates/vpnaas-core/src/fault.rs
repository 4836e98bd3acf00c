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
