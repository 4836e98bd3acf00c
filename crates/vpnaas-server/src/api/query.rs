//! List query strings: filters, `fields`, sorting and pagination parameters, and the `<collection>_links` of ADR 0009 §5.2.

use serde_json::{json, Map, Value};
use vpnaas_core::fault::Fault;

use super::body::to_bool;
use vpnaas_core::listing::{Filter, FilterKind, FilterValue, ListQuery, Listed, SortDir};

/// A parsed list request: what the store runs, plus what the view needs.
#[derive(Debug, Default)]
pub struct Listing {
    pub query: ListQuery,
    pub fields: Selection,
    /// The raw pairs, kept to build the pagination links.
    pub pairs: Vec<(String, String)>,
}

/// The `fields` a caller asked for; empty means all.
#[derive(Debug, Default, Clone)]
pub struct Selection(pub Vec<String>);

impl Selection {
    pub fn from_pairs(pairs: &[(String, String)]) -> Selection {
        Selection(pairs.iter().filter(|(k, _)| k == "fields").map(|(_, v)| v.clone()).collect())
    }

    /// Keeps only the asked-for attributes; unknown names are ignored, as in the reference.
    pub fn project(&self, mut item: Map<String, Value>) -> Map<String, Value> {
        if !self.0.is_empty() {
            item.retain(|k, _| self.0.iter().any(|f| f == k));
        }
        item
    }
}

pub fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn filter_value(filter: &Filter, raw: &str) -> Result<FilterValue, Fault> {
    Ok(match filter.kind {
        FilterKind::Text => FilterValue::Text(raw.to_owned()),
        FilterKind::Bool => FilterValue::Bool(to_bool(filter.attr, &Value::String(raw.to_owned()))?),
        FilterKind::Int => FilterValue::Int(
            raw.trim().parse::<i64>().map_err(|_| Fault::invalid(filter.attr, format!("'{raw}' is not an integer")))?,
        ),
    })
}

/// Parses a list query string for `T`. Every key is a control parameter or a filterable
/// attribute; anything else is a 400 naming it (neutron's `filter-validation`).
pub fn parse_listing<T: Listed>(raw: Option<&str>) -> Result<Listing, Fault> {
    let pairs = pairs(raw);
    let mut q = ListQuery::default();
    let mut sort_keys: Vec<&'static Filter> = Vec::new();
    let mut sort_dirs: Vec<SortDir> = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "fields" => {}
            "sort_key" => {
                let column = T::filter(value)
                    .filter(|c| c.sortable)
                    .ok_or_else(|| Fault::BadQuery(format!("[{value}] is invalid attribute for sort_keys")))?;
                sort_keys.push(column);
            }
            "sort_dir" => sort_dirs.push(match value.as_str() {
                "asc" => SortDir::Asc,
                "desc" => SortDir::Desc,
                other => {
                    return Err(Fault::BadQuery(format!(
                        "{other} is invalid value for sort_dirs, valid values are 'asc' and 'desc'"
                    )))
                }
            }),
            "limit" => {
                let limit = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| Fault::BadQuery(format!("Limit must be an integer 0 or greater and not '{value}'")))?;
                q.limit = (limit > 0).then_some(limit);
            }
            "marker" => q.marker = Some(value.clone()),
            "page_reverse" => q.page_reverse = to_bool("page_reverse", &Value::String(value.clone()))?,
            attr => {
                let column = T::filter(attr)
                    .ok_or_else(|| Fault::BadQuery(format!("[{attr}] is invalid attribute for filtering")))?;
                let v = filter_value(column, value)?;
                match q.filters.iter_mut().find(|(c, _)| std::ptr::eq(*c, column)) {
                    Some((_, values)) => values.push(v),
                    None => q.filters.push((column, vec![v])),
                }
            }
        }
    }
    if sort_dirs.len() != sort_keys.len() {
        return Err(Fault::BadQuery("The number of sort_keys and sort_dirs must be same".to_owned()));
    }
    q.sort = sort_keys.into_iter().zip(sort_dirs).collect();
    Ok(Listing { query: q, fields: Selection::from_pairs(&pairs), pairs })
}

/// The `next` and `previous` links of ADR 0009 §5.2 (neutron `get_pagination_links`):
/// `next` unless a forward page came back short, `previous` unless a backward page did.
pub fn links(base: &str, listing: &Listing, ids: &[String]) -> Option<Vec<Value>> {
    let limit = usize::try_from(listing.query.limit?).unwrap_or(usize::MAX);
    let short = ids.len() < limit;
    let reverse = listing.query.page_reverse;
    let mut links = Vec::new();
    let without = |drop: &[&str]| -> form_urlencoded::Serializer<'static, String> {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in listing.pairs.iter().filter(|(k, _)| !drop.contains(&k.as_str())) {
            s.append_pair(k, v);
        }
        s
    };
    if !short || reverse {
        let mut s = without(&["marker", "page_reverse"]);
        if let Some(last) = ids.last() {
            s.append_pair("marker", last);
        }
        links.push(json!({"rel": "next", "href": format!("{base}?{}", s.finish())}));
    }
    if !short || !reverse {
        let mut s = without(&["marker", "page_reverse"]);
        if let Some(first) = ids.first() {
            s.append_pair("marker", first);
        }
        s.append_pair("page_reverse", "True");
        links.push(json!({"rel": "previous", "href": format!("{base}?{}", s.finish())}));
    }
    Some(links)
}
