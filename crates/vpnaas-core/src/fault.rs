//! Every refusal the API can answer with: the reference's exception classes, their classes of HTTP status and their exact messages.
//!
//! Messages and `type` names follow neutron-lib `neutron_lib/exceptions/vpn.py` and the
//! generic attribute errors of `neutron_lib/api/attributes.py` (ADR 0009 §1.1, §2.2).
//! A message never contains a pre-shared key: PSK errors name the attribute, not the value.

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
    /// The plural ending of "group" in a message.
    fn plural(self) -> &'static str {
        match self {
            Which::Both => "s",
            Which::Local | Which::Peer => "",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Which::Local => "local",
            Which::Peer => "peer",
            Which::Both => "local and peer",
        }
    }
}

/// Declares [`Fault`] with its table: every variant is written once, its class and the
/// reference's exception name (`#[neutron(...)]`) above its message (thiserror's `#[error]`),
/// so a variant cannot be added without all three and no parallel match can drift from it.
macro_rules! faults {
    (
        $(#[$meta:meta])*
        pub enum Fault {
            $(
                $(#[doc = $doc:literal])*
                #[neutron($class:ident, $type_name:literal)]
                #[error($($message:tt)*)]
                $variant:ident $(($($tuple:ty),*))? $({ $($field:ident: $field_ty:ty),* $(,)? })?,
            )*
        }
    ) => {
        $(#[$meta])*
        pub enum Fault {
            $(
                $(#[doc = $doc])*
                #[error($($message)*)]
                $variant $(($($tuple),*))? $({ $($field: $field_ty),* })?,
            )*
        }

        impl Fault {
            fn neutron(&self) -> (Class, &'static str) {
                match self {
                    $(Fault::$variant { .. } => (Class::$class, $type_name),)*
                }
            }

            /// Every variant's name, so the pinning test can tell that none lacks a sample.
            #[cfg(test)]
            const VARIANTS: &'static [&'static str] = &[$(stringify!($variant)),*];

            #[cfg(test)]
            fn variant(&self) -> &'static str {
                match self {
                    $(Fault::$variant { .. } => stringify!($variant),)*
                }
            }
        }
    };
}

faults! {
    /// A refusal, typed. `Display` is the message of the NeutronError envelope.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum Fault {
        // --- request shape (type HTTPBadRequest, as webob raises them in the reference) ---
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Malformed request body: {0}")]
        MalformedBody(String),
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Resource body required")]
        ResourceBodyRequired,
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Unable to find '{0}' in request body")]
        MissingResourceKey(&'static str),
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Body contains invalid data")]
        BodyInvalid,
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Bulk operation not supported")]
        BulkNotSupported,
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Unrecognized attribute(s) {}", quoted(.0))]
        Unrecognized(Vec<String>),
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Attribute '{0}' not allowed in POST")]
        NotAllowedInPost(String),
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Cannot update read-only attribute {0}")]
        ReadOnly(String),
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Failed to parse request. Required attribute '{0}' not specified")]
        RequiredMissing(&'static str),
        /// A validator failure.
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Invalid input for {attr}. Reason: {reason}.")]
        InvalidInput { attr: String, reason: String },
        /// A bad query parameter (filter, sort, page).
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("{0}")]
        BadQuery(String),
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("'project_id' and 'tenant_id' do not match")]
        ProjectMismatch,
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.")]
        ProjectNotAllowed,

        // --- business rules (400) ---
        #[neutron(BadRequest, "IPsecSiteConnectionDpdIntervalValueError")]
        #[error("ipsec_site_connection dpd_timeout is equal to or less than dpd_interval")]
        DpdTimeoutNotGreater,
        #[neutron(BadRequest, "IPsecSiteConnectionMtuError")]
        #[error("ipsec_site_connection MTU {mtu} is too small for ipv{version}")]
        MtuTooSmall { mtu: i64, version: u8 },
        #[neutron(BadRequest, "IPsecSiteConnectionPeerCidrError")]
        #[error("ipsec_site_connection peer cidr {0} is invalid CIDR")]
        PeerCidrInvalid(String),
        #[neutron(BadRequest, "MixedIPVersionsForPeerCidrs")]
        #[error("Peer CIDRs do not have the same IP version, as required for IPSec site-to-site connection")]
        MixedIpVersionsForPeerCidrs,
        #[neutron(BadRequest, "MixedIPVersionsForIPSecEndpoints")]
        #[error("Endpoints in group {group} do not have the same IP version, as required for IPSec site-to-site connection")]
        MixedIpVersionsForEndpoints { group: String },
        #[neutron(BadRequest, "MixedIPVersionsForIPSecConnection")]
        #[error("IP versions are not compatible between peer and local endpoints")]
        MixedIpVersionsForConnection,
        #[neutron(BadRequest, "InvalidEndpointGroup")]
        #[error("Endpoint group{} {} cannot be specified, when VPN Service has subnet specified", .0.plural(), .0.name())]
        InvalidEndpointGroup(Which),
        #[neutron(BadRequest, "WrongEndpointGroupType")]
        #[error("Endpoint group {} type is '{group_type}' and should be '{expected}'", .which.name())]
        WrongEndpointGroupType { which: Which, group_type: String, expected: &'static str },
        #[neutron(BadRequest, "PeerCidrsInvalid")]
        #[error("Peer CIDRs cannot be specified, when using endpoint groups")]
        PeerCidrsInvalid,
        #[neutron(BadRequest, "MissingPeerCidrs")]
        #[error("Missing peer CIDRs for IPsec site-to-site connection")]
        MissingPeerCidrs,
        #[neutron(BadRequest, "MissingRequiredEndpointGroup")]
        #[error("Missing endpoint group{} {} for IPSec site-to-site connection", .0.plural(), .0.name())]
        MissingRequiredEndpointGroup(Which),
        #[neutron(BadRequest, "InvalidEndpointInEndpointGroup")]
        #[error("Endpoint '{endpoint}' is invalid for group type '{group_type}': {why}")]
        InvalidEndpointInEndpointGroup { endpoint: String, group_type: String, why: &'static str },
        #[neutron(BadRequest, "MissingEndpointForEndpointGroup")]
        #[error("No endpoints specified for endpoint group: endpoints must not be empty")]
        MissingEndpointForEndpointGroup,
        #[neutron(BadRequest, "NonExistingSubnetInEndpointGroup")]
        #[error("Subnet {0} in endpoint group does not exist")]
        NonExistingSubnetInEndpointGroup(String),
        #[neutron(BadRequest, "SubnetIsNotConnectedToRouter")]
        #[error("Subnet {subnet} is not connected to Router {router}")]
        SubnetIsNotConnectedToRouter { subnet: String, router: String },
        #[neutron(BadRequest, "RouterIsNotExternal")]
        #[error("Router {0} has no external network gateway set")]
        RouterIsNotExternal(String),
        #[neutron(BadRequest, "ExternalNetworkHasNoSubnet")]
        #[error("Router's {router} external network has no IPv{version} subnet")]
        ExternalNetworkHasNoSubnet { router: String, version: u8 },
        #[neutron(BadRequest, "IpsecValidationFailure")]
        #[error("IPSec does not support {resource} attribute {key} with value '{value}'")]
        IpsecValidationFailure { resource: &'static str, key: &'static str, value: String },

        // --- not found (404) ---
        /// A path that names nothing we serve, or an object hidden from the caller.
        #[neutron(NotFound, "HTTPNotFound")]
        #[error("The resource could not be found.")]
        HttpNotFound,
        #[neutron(NotFound, "IKEPolicyNotFound")]
        #[error("IKEPolicy {0} could not be found")]
        IkePolicyNotFound(String),
        #[neutron(NotFound, "IPsecPolicyNotFound")]
        #[error("IPsecPolicy {0} could not be found")]
        IpsecPolicyNotFound(String),
        #[neutron(NotFound, "VPNServiceNotFound")]
        #[error("VPNService {0} could not be found")]
        VpnServiceNotFound(String),
        #[neutron(NotFound, "VPNEndpointGroupNotFound")]
        #[error("Endpoint group {0} could not be found")]
        EndpointGroupNotFound(String),
        #[neutron(NotFound, "IPsecSiteConnectionNotFound")]
        #[error("ipsec_site_connection {0} not found")]
        SiteConnectionNotFound(String),
        #[neutron(NotFound, "RouterNotFound")]
        #[error("Router {0} could not be found")]
        RouterNotFound(String),
        #[neutron(NotFound, "SubnetNotFound")]
        #[error("Subnet {0} could not be found.")]
        SubnetNotFound(String),
        #[neutron(NotFound, "NetworkNotFound")]
        #[error("Network {0} could not be found.")]
        NetworkNotFound(String),
        #[neutron(NotFound, "CertificateNotFound")]
        #[error("Certificate {0} could not be found")]
        CertificateNotFound(String),
        #[neutron(NotFound, "RouterInterfaceNotFoundForSubnet")]
        #[error("Router {router} has no interface on subnet {subnet}")]
        RouterInterfaceNotFoundForSubnet { router: String, subnet: String },
        /// A DELETE of a project's quota that has no limit of its own (Neutron's words).
        #[neutron(NotFound, "TenantQuotaNotFound")]
        #[error("Quota for project {0} could not be found.")]
        TenantQuotaNotFound(String),
        /// A limit set below what the project holds, without `force`.
        #[neutron(BadRequest, "HTTPBadRequest")]
        #[error("Quota limit {limit} for {resource} must be greater than or equal to already used {used}")]
        QuotaBelowUsage { resource: &'static str, limit: i64, used: u64 },
        #[neutron(NotFound, "FlavorsPluginNotLoaded")]
        #[error("Flavors plugin not found: flavor_id is not supported by this server")]
        FlavorsPluginNotLoaded,

        // --- conflicts (409) ---
        #[neutron(Conflict, "IKEPolicyInUse")]
        #[error("IKEPolicy {0} is in use by existing IPsecSiteConnection and can't be updated or deleted")]
        IkePolicyInUse(String),
        #[neutron(Conflict, "IPsecPolicyInUse")]
        #[error("IPsecPolicy {0} is in use by existing IPsecSiteConnection and can't be updated or deleted")]
        IpsecPolicyInUse(String),
        #[neutron(Conflict, "VPNServiceInUse")]
        #[error("VPNService {0} is still in use")]
        VpnServiceInUse(String),
        #[neutron(Conflict, "EndpointGroupInUse")]
        #[error("Endpoint group {0} is in use and cannot be deleted")]
        EndpointGroupInUse(String),
        #[neutron(Conflict, "CertificateInUse")]
        #[error("Certificate {0} is in use by an IPsec site connection and cannot be deleted")]
        CertificateInUse(String),
        #[neutron(Conflict, "RouterInUse")]
        #[error("Router {router} {reason}")]
        RouterInUse { router: String, reason: String },
        #[neutron(Conflict, "SubnetInUseByVPNService")]
        #[error("Subnet {subnet} is used by VPNService {vpnservice}")]
        SubnetInUseByVpnService { subnet: String, vpnservice: String },
        #[neutron(Conflict, "SubnetInUseByEndpointGroup")]
        #[error("Subnet {subnet} is used by endpoint group {group}")]
        SubnetInUseByEndpointGroup { subnet: String, group: String },
        #[neutron(Conflict, "SubnetInUseByIPsecSiteConnection")]
        #[error("Subnet {subnet} is used by ipsec site connection {connection}")]
        SubnetInUseBySiteConnection { subnet: String, connection: String },
        #[neutron(Conflict, "SubnetInUse")]
        #[error("Unable to complete operation on subnet {subnet}: {reason}")]
        SubnetInUse { subnet: String, reason: String },
        #[neutron(Conflict, "SubnetAlreadyAttached")]
        #[error("Subnet {subnet} is already attached to router {router}")]
        SubnetAlreadyAttached { subnet: String, router: String },
        /// A third connection for one service and pair of endpoint groups.
        #[neutron(Conflict, "ConnectionPairFull")]
        #[error("The VPN service already has an active/standby pair for these endpoint groups ({}); a third connection with the same local_ep_group_id and peer_ep_group_id is not allowed", .members.join(", "))]
        ConnectionPairFull { members: Vec<String> },
        /// A pair's two members must reach different peers.
        #[neutron(Conflict, "ConnectionPairSamePeer")]
        #[error("Connection {other} already uses these endpoint groups and this peer_address; the standby of an active/standby pair must reach a different peer")]
        ConnectionPairSamePeer { other: String },
        /// The peer's configuration cannot be written in the asked dialect (ADR 0019).
        #[neutron(Conflict, "PeerConfigUnavailable")]
        #[error("The peer configuration of connection {connection} cannot be written as {format}: {reason}")]
        PeerConfigUnavailable { connection: String, format: &'static str, reason: String },

        /// A create that would take the project past its quota (Neutron's own words).
        #[neutron(Conflict, "OverQuota")]
        #[error("Quota exceeded for resources: [{}].", .overs.iter().map(|o| format!("'{o}'")).collect::<Vec<_>>().join(", "))]
        OverQuota { overs: Vec<String> },

        /// `If-Match: revision_number=N` and the resource has moved on.
        #[neutron(PreconditionFailed, "RevisionNumberConstraintFailed")]
        #[error("Constraint revision_number={expected} failed. Current revision is {current}.")]
        RevisionNumberConstraintFailed { expected: i64, current: i64 },

        /// A gateway agent speaks a newer gateway contract than this server (ADR 0034).
        #[neutron(BadRequest, "GatewayContractTooNew")]
        #[error("The agent speaks gateway contract {agent}; this server speaks up to {server}: upgrade the servers before the agents")]
        GatewayContractTooNew { agent: u32, server: u32 },

        // --- callers ---
        #[neutron(Unauthorized, "NotAuthenticated")]
        #[error("Authentication required: send a valid X-Auth-Token (in noauth mode, X-Project-Id and X-Roles)")]
        NotAuthenticated,
        #[neutron(Forbidden, "PolicyNotAuthorized")]
        #[error("rule:{0} is disallowed by policy")]
        PolicyNotAuthorized(&'static str),
        /// A client looked a project up at the endpoint it was given: there is no identity API
        /// here, and a 403 makes the openstack CLI and openstacksdk use the name as the id.
        #[neutron(Forbidden, "HTTPForbidden")]
        #[error("vpnaas serves no identity API: give the project's id (a name is used as the id)")]
        NoIdentityApi,

        // --- transport ---
        #[neutron(MethodNotAllowed, "HTTPMethodNotAllowed")]
        #[error("The method is not allowed for this resource.")]
        MethodNotAllowed,
        #[neutron(PayloadTooLarge, "HTTPRequestEntityTooLarge")]
        #[error("Request is too large.")]
        RequestTooLarge,
        /// The body did not arrive in time (`http_body_timeout_secs`).
        #[neutron(RequestTimeout, "HTTPRequestTimeout")]
        #[error("The server has waited too long for the request to be sent by the client.")]
        RequestTimeout,
    }
}

/// `'a', 'b'`: how the reference lists unrecognized attributes.
fn quoted(keys: &[String]) -> String {
    keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
}

impl Fault {
    pub fn invalid(attr: impl Into<String>, reason: impl Into<String>) -> Fault {
        Fault::InvalidInput { attr: attr.into(), reason: reason.into() }
    }

    pub fn class(&self) -> Class {
        self.neutron().0
    }

    /// The `type` of the NeutronError envelope: the reference's exception class name.
    pub fn type_name(&self) -> &'static str {
        self.neutron().1
    }
}

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
                TenantQuotaNotFound("p-1".into()),
                Class::NotFound,
                "TenantQuotaNotFound",
                "Quota for project p-1 could not be found.",
            ),
            (
                QuotaBelowUsage { resource: "ipsec_site_connection", limit: 2, used: 3 },
                Class::BadRequest,
                "HTTPBadRequest",
                "Quota limit 2 for ipsec_site_connection must be greater than or equal to already used 3",
            ),
            (
                OverQuota { overs: vec!["ipsec_site_connection".into(), "vpnservice".into()] },
                Class::Conflict,
                "OverQuota",
                "Quota exceeded for resources: ['ipsec_site_connection', 'vpnservice'].",
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
                GatewayContractTooNew { agent: 2, server: 1 },
                Class::BadRequest,
                "GatewayContractTooNew",
                "The agent speaks gateway contract 2; this server speaks up to 1: upgrade the servers before the agents",
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
                NoIdentityApi,
                Class::Forbidden,
                "HTTPForbidden",
                "vpnaas serves no identity API: give the project's id (a name is used as the id)",
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
    fn every_variant_is_pinned() {
        let pinned: std::collections::BTreeSet<&str> = pinned().iter().map(|(f, ..)| f.variant()).collect();
        let declared: std::collections::BTreeSet<&str> = Fault::VARIANTS.iter().copied().collect();
        assert_eq!(pinned, declared);
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
