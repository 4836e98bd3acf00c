//! The attribute map: every wire name of the API, written once, and each resource's
//! attributes declared once with what neutron-lib's `RESOURCE_ATTRIBUTE_MAP` says of them
//! (ADR 0044): whether a create or an update may send it, whether a create must, whether a
//! list filters or sorts on it and through which column, and who sees it in answers.
//!
//! Everything else reads this map: the API's body checks and the OpenAPI document
//! (`Collection::ATTRS`), the list filters and sort keys ([`crate::listing`]), and the
//! answers' visibility in the document, and the columns of the plain fields
//! ([`crate::descriptor`], ADR 0048). Parsing, views and rows name an attribute through its
//! constant here, never through a string of their own. The policies' choices are declared
//! with the policies (ADR 0036).

/// How a filter's value is read from the query string, and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    Text,
    Int,
    Bool,
}

/// Who sees an attribute in answers (neutron-lib's `is_visible`, with the policy's part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Every caller who may see the resource.
    Always,
    /// Only callers the secret rule lets see it (the PSK, ADR 0040).
    Secret,
    /// Only admins.
    Admins,
    /// Nobody: written on create, never answered (a private key).
    Never,
}

/// One attribute of a resource.
#[derive(Debug, Clone, Copy)]
pub struct Attribute {
    /// The wire name.
    pub name: &'static str,
    /// A create may send it (`allow_post`).
    pub post: bool,
    /// An update may send it (`allow_put`).
    pub put: bool,
    /// A create must send it (no default).
    pub required: bool,
    /// Lists filter on it (`is_filter`), read as this kind.
    pub filter: Option<FilterKind>,
    /// Lists sort by it (`is_sort_key`).
    pub sortable: bool,
    /// The column that holds it: for filters and sort keys, and where its field is stored
    /// ([`crate::descriptor::Fields`]).
    pub column: &'static str,
    pub shown: Shown,
}

const fn attribute(name: &'static str, post: bool, put: bool, required: bool) -> Attribute {
    Attribute { name, post, put, required, filter: None, sortable: false, column: name, shown: Shown::Always }
}

/// Shown, never written.
pub const fn ro(name: &'static str) -> Attribute {
    attribute(name, false, false, false)
}
/// Writable on create only.
pub const fn post(name: &'static str) -> Attribute {
    attribute(name, true, false, false)
}
/// Writable on update only.
pub const fn put(name: &'static str) -> Attribute {
    attribute(name, false, true, false)
}
/// Writable on create and update.
pub const fn rw(name: &'static str) -> Attribute {
    attribute(name, true, true, false)
}
/// Required on create, not updatable.
pub const fn req(name: &'static str) -> Attribute {
    attribute(name, true, false, true)
}
/// Required on create and updatable.
pub const fn req_rw(name: &'static str) -> Attribute {
    attribute(name, true, true, true)
}

impl Attribute {
    /// Lists filter on it.
    pub const fn filtered(self, kind: FilterKind) -> Attribute {
        Attribute { filter: Some(kind), ..self }
    }
    /// Lists filter on it as text and sort by it.
    pub const fn sorted(self) -> Attribute {
        Attribute { filter: Some(FilterKind::Text), sortable: true, ..self }
    }
    /// Its column has another name.
    pub const fn stored_as(self, column: &'static str) -> Attribute {
        Attribute { column, ..self }
    }
    /// Not every caller sees it.
    pub const fn shown(self, shown: Shown) -> Attribute {
        Attribute { shown, ..self }
    }
}

/// The column of the attribute `name` in `map`; a name the map lacks (a value the server keeps
/// beside the attributes) is its own column. Evaluated where descriptors are declared.
pub const fn column_in(map: &[Attribute], name: &'static str) -> &'static str {
    let mut i = 0;
    while i < map.len() {
        if same(map[i].name, name) {
            return map[i].column;
        }
        i += 1;
    }
    name
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

// ------------------------------------------------------------------ the wire names

// Every resource's.
pub const ID: &str = "id";
pub const TENANT_ID: &str = "tenant_id";
pub const PROJECT_ID: &str = "project_id";
pub const NAME: &str = "name";
pub const DESCRIPTION: &str = "description";
pub const CREATED_AT: &str = "created_at";
pub const UPDATED_AT: &str = "updated_at";
pub const REVISION_NUMBER: &str = "revision_number";
// Several resources'.
pub const ADMIN_STATE_UP: &str = "admin_state_up";
pub const STATUS: &str = "status";
pub const SUBNET_ID: &str = "subnet_id";
pub const NETWORK_ID: &str = "network_id";
// IKE and IPsec policies' (their choices are in `resources`).
pub const LIFETIME: &str = "lifetime";
// VPN services'.
pub const ROUTER_ID: &str = "router_id";
pub const FLAVOR_ID: &str = "flavor_id";
pub const EXTERNAL_V4_IP: &str = "external_v4_ip";
pub const EXTERNAL_V6_IP: &str = "external_v6_ip";
// Endpoint groups'; `endpoint_type` is the filter name the SDK sends, and the column.
pub const TYPE: &str = "type";
pub const ENDPOINT_TYPE: &str = "endpoint_type";
pub const ENDPOINTS: &str = "endpoints";
// IPsec site connections'.
pub const PEER_ADDRESS: &str = "peer_address";
pub const PEER_ID: &str = "peer_id";
pub const LOCAL_ID: &str = "local_id";
pub const PEER_CIDRS: &str = "peer_cidrs";
pub const LOCAL_EP_GROUP_ID: &str = "local_ep_group_id";
pub const PEER_EP_GROUP_ID: &str = "peer_ep_group_id";
pub const ROUTE_MODE: &str = "route_mode";
pub const MTU: &str = "mtu";
pub const INITIATOR: &str = "initiator";
pub const AUTH_MODE: &str = "auth_mode";
pub const PSK: &str = "psk";
pub const LOCAL_CERTIFICATE_ID: &str = "local_certificate_id";
pub const PEER_CA: &str = "peer_ca";
pub const DPD: &str = "dpd";
pub const VPNSERVICE_ID: &str = "vpnservice_id";
pub const IKEPOLICY_ID: &str = "ikepolicy_id";
pub const IPSECPOLICY_ID: &str = "ipsecpolicy_id";
pub const STATUS_DESCRIPTION: &str = "status_description";
pub const TUNNEL: &str = "tunnel";
// Certificates'.
pub const CERTIFICATE: &str = "certificate";
pub const PRIVATE_KEY: &str = "private_key";
pub const CHAIN: &str = "chain";
pub const SUBJECT: &str = "subject";
pub const NOT_BEFORE: &str = "not_before";
pub const NOT_AFTER: &str = "not_after";
pub const FINGERPRINT: &str = "fingerprint";
// Routers' (standalone inventory, ADR 0021); the host is stored in `host`.
pub const EXTERNAL_GATEWAY_INFO: &str = "external_gateway_info";
pub const HOST: &str = "binding:host_id";
pub const ROUTES: &str = "routes";
// Subnets'.
pub const CIDR: &str = "cidr";
pub const IP_VERSION: &str = "ip_version";
pub const GATEWAY_IP: &str = "gateway_ip";
pub const ENABLE_DHCP: &str = "enable_dhcp";
pub const ALLOCATION_POOLS: &str = "allocation_pools";
pub const DNS_NAMESERVERS: &str = "dns_nameservers";
pub const HOST_ROUTES: &str = "host_routes";

// ------------------------------------------------------------------ the maps

use FilterKind::{Bool, Int, Text};

/// The attributes every resource has. The owner goes by both of its names, stored once.
pub const COMMON: [Attribute; 8] = [
    ro(ID).sorted(),
    rw(NAME).sorted(),
    post(PROJECT_ID).sorted(),
    post(TENANT_ID).sorted().stored_as(PROJECT_ID),
    rw(DESCRIPTION).filtered(Text),
    ro(CREATED_AT),
    ro(UPDATED_AT),
    ro(REVISION_NUMBER),
];

/// An IKE or IPsec policy's attribute besides its choices.
pub const POLICY: &[Attribute] = &[rw(LIFETIME)];

pub const VPNSERVICE: &[Attribute] = &[
    req(ROUTER_ID).sorted(),
    post(SUBNET_ID).filtered(Text),
    // There are no flavors; only null is accepted (ADR 0009 §2.3).
    post(FLAVOR_ID),
    rw(ADMIN_STATE_UP).filtered(Bool),
    ro(STATUS).filtered(Text),
    ro(EXTERNAL_V4_IP).filtered(Text),
    ro(EXTERNAL_V6_IP).filtered(Text),
];

pub const ENDPOINT_GROUP: &[Attribute] = &[req(TYPE).filtered(Text).stored_as(ENDPOINT_TYPE), post(ENDPOINTS)];

pub const CONNECTION: &[Attribute] = &[
    req_rw(PEER_ADDRESS).filtered(Text),
    req_rw(PEER_ID).filtered(Text),
    rw(LOCAL_ID).filtered(Text),
    rw(PEER_CIDRS),
    rw(LOCAL_EP_GROUP_ID).filtered(Text),
    rw(PEER_EP_GROUP_ID).filtered(Text),
    ro(ROUTE_MODE).filtered(Text),
    rw(MTU).filtered(Int),
    rw(INITIATOR).filtered(Text),
    // ADR 0017: writable (the reference has psk only); the profile's rules still apply.
    rw(AUTH_MODE).filtered(Text),
    // Required for auth_mode psk only (ADR 0017): checked when the mode is known. Never a
    // filter: a secret must not travel in a URL.
    rw(PSK).shown(Shown::Secret),
    rw(LOCAL_CERTIFICATE_ID),
    rw(PEER_CA),
    rw(DPD),
    rw(ADMIN_STATE_UP).filtered(Bool),
    ro(STATUS).filtered(Text),
    req(VPNSERVICE_ID).filtered(Text),
    req(IKEPOLICY_ID).filtered(Text),
    req(IPSECPOLICY_ID).filtered(Text),
];

/// The PEM is fixed at create: a new certificate is a new resource, named on the connection
/// (ADR 0017, rotation).
pub const CERTIFICATE_MAP: &[Attribute] = &[
    req(CERTIFICATE),
    req(PRIVATE_KEY).shown(Shown::Never),
    post(CHAIN),
    ro(SUBJECT).filtered(Text),
    ro(NOT_BEFORE),
    ro(NOT_AFTER),
    ro(FINGERPRINT).filtered(Text),
];

pub const ROUTER: &[Attribute] = &[
    rw(ADMIN_STATE_UP).filtered(Bool),
    rw(EXTERNAL_GATEWAY_INFO),
    ro(STATUS),
    // Where the router's gateway runs is the operator's business (like a port's binding).
    rw(HOST).filtered(Text).stored_as("host").shown(Shown::Admins),
    // extraroute: set by update only, as in Neutron.
    put(ROUTES),
];

pub const SUBNET: &[Attribute] =
    &[req(CIDR).filtered(Text), post(IP_VERSION).filtered(Int), post(NETWORK_ID).filtered(Text)];

/// What answers carry besides a resource's map, and whether only admins see it: never
/// written, so a request that sends one is told it is unrecognized, as in the reference.
pub const CONNECTION_SHOWN: &[(&str, Shown)] = &[(STATUS_DESCRIPTION, Shown::Admins), (TUNNEL, Shown::Always)];
pub const SUBNET_SHOWN: &[(&str, Shown)] = &[
    (GATEWAY_IP, Shown::Always),
    (ENABLE_DHCP, Shown::Always),
    (ALLOCATION_POOLS, Shown::Always),
    (DNS_NAMESERVERS, Shown::Always),
    (HOST_ROUTES, Shown::Always),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A map names an attribute once, and every common name is in the common map.
    #[test]
    fn no_map_names_an_attribute_twice() {
        for map in [&COMMON[..], POLICY, VPNSERVICE, ENDPOINT_GROUP, CONNECTION, CERTIFICATE_MAP, ROUTER, SUBNET] {
            for (i, a) in map.iter().enumerate() {
                assert!(!map[..i].iter().any(|b| b.name == a.name), "{} twice", a.name);
                assert!(!COMMON.iter().any(|c| c.name == a.name) || map.len() == COMMON.len(), "{}", a.name);
                assert!(!a.required || a.post, "{} required but not allowed on create", a.name);
            }
        }
    }
}
