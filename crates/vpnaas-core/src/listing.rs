//! Lists in domain terms: which attributes of each resource a caller may filter on and sort by,
//! and a list request built from them. The API parses a query string into a [`ListQuery`]; the
//! store turns it into SQL. Neither needs the other's types (ADR 0029).

use crate::descriptor::{Choice, Choices};
use crate::resources::{
    Certificate, EndpointGroup, IkePolicy, IkeSpec, IpsecPolicy, IpsecSpec, Router, SiteConnection, Subnet, VpnService,
};

/// How a filter's value is read from the query string, and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterKind {
    Text,
    Int,
    Bool,
}

/// An attribute a list can be filtered on (and perhaps sorted by), and the column that holds it.
#[derive(Debug, Clone, Copy)]
pub struct Filter {
    pub attr: &'static str,
    pub column: &'static str,
    pub kind: FilterKind,
    pub sortable: bool,
}

/// A value a filter compares with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl From<String> for FilterValue {
    fn from(s: String) -> FilterValue {
        FilterValue::Text(s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

/// A parsed list request. Filters and sort keys come from the resource's [`Listed::FILTERS`],
/// never from the caller's words.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only resources of this project (callers who are not admins).
    pub project: Option<String>,
    /// Each entry: a filter and the values it may take (OR); entries are ANDed.
    pub filters: Vec<(&'static Filter, Vec<FilterValue>)>,
    pub sort: Vec<(&'static Filter, SortDir)>,
    pub limit: Option<u64>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

impl ListQuery {
    /// Adds `attr = value` for `T`; an attribute that is not one of its filters adds nothing.
    pub fn with<T: Listed>(mut self, attr: &str, value: FilterValue) -> ListQuery {
        if let Some(filter) = T::filter(attr) {
            self.filters.push((filter, vec![value]));
        }
        self
    }
}

/// A resource that can be listed.
pub trait Listed {
    const FILTERS: &'static [Filter];

    fn filter(attr: &str) -> Option<&'static Filter> {
        Self::FILTERS.iter().find(|f| f.attr == attr)
    }
}

const fn text(attr: &'static str) -> Filter {
    Filter { attr, column: attr, kind: FilterKind::Text, sortable: false }
}
const fn int(attr: &'static str) -> Filter {
    Filter { attr, column: attr, kind: FilterKind::Int, sortable: false }
}
const fn boolean(attr: &'static str) -> Filter {
    Filter { attr, column: attr, kind: FilterKind::Bool, sortable: false }
}
const fn sorted(attr: &'static str, column: &'static str) -> Filter {
    Filter { attr, column, kind: FilterKind::Text, sortable: true }
}
const fn alias(attr: &'static str, column: &'static str) -> Filter {
    Filter { attr, column, kind: FilterKind::Text, sortable: false }
}

/// The filters every resource has: `id`, `name`, the owner under both of its names (all
/// sort keys, as in the reference) and `description`.
const COMMON: [Filter; 5] = [
    sorted("id", "id"),
    sorted("name", "name"),
    sorted("project_id", "project_id"),
    sorted("tenant_id", "project_id"),
    text("description"),
];

/// The common filters and then the resource's own.
macro_rules! filters {
    ($($extra:expr),* $(,)?) => {
        &[COMMON[0], COMMON[1], COMMON[2], COMMON[3], COMMON[4], $($extra),*]
    };
}

/// The common filters and then one per choice of `choices` (ADR 0036); `N` is their sum.
const fn with_choices<S: 'static, P: 'static, const N: usize>(choices: &[Choice<S, P>]) -> [Filter; N] {
    let mut all = [COMMON[0]; N];
    let mut i = 0;
    while i < N {
        all[i] = if i < COMMON.len() { COMMON[i] } else { text(choices[i - COMMON.len()].name) };
        i += 1;
    }
    all
}

impl Listed for IkePolicy {
    const FILTERS: &'static [Filter] =
        &with_choices::<_, _, { COMMON.len() + IkeSpec::CHOICES.len() }>(IkeSpec::CHOICES);
}

impl Listed for IpsecPolicy {
    const FILTERS: &'static [Filter] =
        &with_choices::<_, _, { COMMON.len() + IpsecSpec::CHOICES.len() }>(IpsecSpec::CHOICES);
}

impl Listed for VpnService {
    const FILTERS: &'static [Filter] = filters![
        sorted("router_id", "router_id"),
        text("subnet_id"),
        boolean("admin_state_up"),
        text("status"),
        text("external_v4_ip"),
        text("external_v6_ip"),
    ];
}

impl Listed for EndpointGroup {
    const FILTERS: &'static [Filter] =
        filters![alias("type", "endpoint_type"), alias("endpoint_type", "endpoint_type")];
}

impl Listed for SiteConnection {
    // `psk` is deliberately not filterable: a secret must not travel in a URL.
    const FILTERS: &'static [Filter] = filters![
        text("peer_address"),
        text("peer_id"),
        text("local_id"),
        text("route_mode"),
        int("mtu"),
        text("auth_mode"),
        text("initiator"),
        boolean("admin_state_up"),
        text("status"),
        text("vpnservice_id"),
        text("ikepolicy_id"),
        text("ipsecpolicy_id"),
        text("local_ep_group_id"),
        text("peer_ep_group_id"),
    ];
}

impl Listed for Router {
    const FILTERS: &'static [Filter] = filters![boolean("admin_state_up"), alias("binding:host_id", "host")];
}

impl Listed for Subnet {
    const FILTERS: &'static [Filter] = filters![text("cidr"), int("ip_version"), text("network_id")];
}

impl Listed for Certificate {
    const FILTERS: &'static [Filter] = filters![text("subject"), text("fingerprint")];
}
