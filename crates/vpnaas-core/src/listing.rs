//! Lists in domain terms: which attributes of each resource a caller may filter on and sort by,
//! and a list request built from them. The API parses a query string into a [`ListQuery`]; the
//! store turns it into SQL. Neither needs the other's types (ADR 0029).

use crate::resources::{
    Certificate, EndpointGroup, IkePolicy, IkeSpec, IpsecPolicy, IpsecSpec, PolicySpec, Router, SiteConnection, Subnet,
    VpnService,
};
use crate::wire::{self, Attribute};

pub use crate::wire::FilterKind;

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

/// The filter of attribute `a`, if lists filter on it.
const fn filter_of(a: &Attribute) -> Option<Filter> {
    match a.filter {
        Some(kind) => Some(Filter { attr: a.name, column: a.column, kind, sortable: a.sortable }),
        None => None,
    }
}

/// How many attributes of `maps` are filters.
const fn count(maps: &[&[Attribute]]) -> usize {
    let (mut n, mut m) = (0, 0);
    while m < maps.len() {
        let mut i = 0;
        while i < maps[m].len() {
            if maps[m][i].filter.is_some() {
                n += 1;
            }
            i += 1;
        }
        m += 1;
    }
    n
}

/// The filters of `maps`, in their order, then `extra`; `N` is their number.
const fn filters<const N: usize>(maps: &[&[Attribute]], extra: &[Filter]) -> [Filter; N] {
    let mut all = [Filter { attr: "", column: "", kind: FilterKind::Text, sortable: false }; N];
    let (mut n, mut m) = (0, 0);
    while m < maps.len() {
        let mut i = 0;
        while i < maps[m].len() {
            if let Some(f) = filter_of(&maps[m][i]) {
                all[n] = f;
                n += 1;
            }
            i += 1;
        }
        m += 1;
    }
    let mut e = 0;
    while e < extra.len() {
        all[n] = extra[e];
        n += 1;
        e += 1;
    }
    all
}

/// The filters of the common map and of `$map` (the attribute map, [`crate::wire`]), then
/// any extra filter that is no attribute.
macro_rules! filters {
    ($map:expr $(, $extra:expr)* $(,)?) => {
        &filters::<{ count(&[&wire::COMMON, $map]) + <[Filter]>::len(&[$($extra),*]) }>(&[&wire::COMMON, $map], &[$($extra),*])
    };
}

impl Listed for IkePolicy {
    const FILTERS: &'static [Filter] = filters!(IkeSpec::MAP);
}

impl Listed for IpsecPolicy {
    const FILTERS: &'static [Filter] = filters!(IpsecSpec::MAP);
}

impl Listed for VpnService {
    const FILTERS: &'static [Filter] = filters!(wire::VPNSERVICE);
}

impl Listed for EndpointGroup {
    // `type` is the attribute; the SDK filters with `endpoint_type` (ADR 0009 §7).
    const FILTERS: &'static [Filter] = filters!(
        wire::ENDPOINT_GROUP,
        Filter { attr: wire::ENDPOINT_TYPE, column: wire::ENDPOINT_TYPE, kind: FilterKind::Text, sortable: false }
    );
}

impl Listed for SiteConnection {
    const FILTERS: &'static [Filter] = filters!(wire::CONNECTION);
}

impl Listed for Router {
    const FILTERS: &'static [Filter] = filters!(wire::ROUTER);
}

impl Listed for Subnet {
    const FILTERS: &'static [Filter] = filters!(wire::SUBNET);
}

impl Listed for Certificate {
    const FILTERS: &'static [Filter] = filters!(wire::CERTIFICATE_MAP);
}
