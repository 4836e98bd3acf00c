//! Lists in SQL: filters, sort keys and keyset pagination by marker, never the whole table in memory.
//!
//! The statements are built here once for both read paths: sqlx's (PostgreSQL, and SQLite
//! inside write transactions) and SQLite's own (`sqlite.rs`).

use vpnaas_core::listing::{FilterKind, FilterValue, ListQuery, SortDir};
use vpnaas_core::wire;

use super::tables::{from_rows, Table};
use super::{fetch_all, Conn, StoreResult, Value};

/// The other way round (a reverse page walks the sort backwards).
fn flip(dir: SortDir) -> SortDir {
    match dir {
        SortDir::Asc => SortDir::Desc,
        SortDir::Desc => SortDir::Asc,
    }
}

fn sql_of(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => "ASC",
        SortDir::Desc => "DESC",
    }
}

/// The comparison that keeps rows after the marker's.
fn beyond(dir: SortDir) -> &'static str {
    match dir {
        SortDir::Asc => ">",
        SortDir::Desc => "<",
    }
}

/// A filter's value as a statement's parameter.
fn param(v: &FilterValue) -> Value {
    match v {
        FilterValue::Text(s) => Value::Text(s.clone()),
        FilterValue::Int(i) => Value::Int(*i),
        FilterValue::Bool(b) => Value::from(*b),
    }
}

/// The sort keys of a list, `id` last as the tie-breaker, flipped for a reverse page.
pub(super) type SortKeys = Vec<(&'static str, FilterKind, SortDir)>;

pub(super) fn sort_keys(q: &ListQuery) -> SortKeys {
    let mut sort: SortKeys = q.sort.iter().map(|(c, d)| (c.column, c.kind, *d)).collect();
    if !sort.iter().any(|(c, _, _)| *c == wire::ID) {
        sort.push((wire::ID, FilterKind::Text, SortDir::Asc));
    }
    if q.page_reverse {
        for s in &mut sort {
            s.2 = flip(s.2);
        }
    }
    sort
}

/// The statement reading the marker row's sort-key values.
pub(super) fn marker_sql<T: Table>(q: &ListQuery, marker: &str, sort: &SortKeys) -> (String, Vec<Value>) {
    let columns: Vec<&str> = sort.iter().map(|(c, _, _)| *c).collect();
    let mut sql = format!("SELECT {} FROM {} WHERE id = $1", columns.join(", "), T::TABLE);
    let mut values: Vec<Value> = vec![marker.into()];
    if let Some(p) = &q.project {
        values.push(p.as_str().into());
        sql.push_str(" AND project_id = $2");
    }
    (sql, values)
}

/// The page's statement, after the marker row's sort-key values if there is a marker.
pub(super) fn page_sql<T: Table>(q: &ListQuery, sort: &SortKeys, after: Option<&[Value]>) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT * FROM {} WHERE 1 = 1", T::TABLE);
    let mut values: Vec<Value> = Vec::new();
    if let Some(p) = &q.project {
        values.push(p.clone().into());
        sql.push_str(&format!(" AND project_id = ${}", values.len()));
    }
    for (column, allowed) in &q.filters {
        let mut marks = Vec::with_capacity(allowed.len());
        for v in allowed {
            values.push(param(v));
            marks.push(format!("${}", values.len()));
        }
        sql.push_str(&format!(" AND {} IN ({})", column.column, marks.join(", ")));
    }
    if let Some(marker_values) = after {
        let mut alternatives = Vec::with_capacity(sort.len());
        for (i, (column, _, dir)) in sort.iter().enumerate() {
            let mut terms = Vec::with_capacity(i + 1);
            for (j, (prev, _, _)) in sort.iter().enumerate().take(i) {
                values.push(marker_values[j].clone());
                terms.push(format!("{prev} = ${}", values.len()));
            }
            values.push(marker_values[i].clone());
            terms.push(format!("{column} {} ${}", beyond(*dir), values.len()));
            alternatives.push(format!("({})", terms.join(" AND ")));
        }
        sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
    }
    let order: Vec<String> = sort.iter().map(|(c, _, d)| format!("{c} {}", sql_of(*d))).collect();
    sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    (sql, values)
}

pub(super) async fn run<T: Table>(conn: &mut Conn, q: &ListQuery) -> StoreResult<Vec<T>> {
    let sort = sort_keys(q);
    let after = match &q.marker {
        Some(marker) => match marker_row::<T>(conn, q, marker, &sort).await? {
            Some(values) => Some(values),
            // The reference returns an empty page for an unknown marker.
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let (sql, values) = page_sql::<T>(q, &sort, after.as_deref());
    let rows = fetch_all(conn, &sql, &values).await?;
    let mut items = from_rows::<T>(conn, &rows).await?;
    if q.page_reverse {
        items.reverse();
    }
    Ok(items)
}

async fn marker_row<T: Table>(
    conn: &mut Conn,
    q: &ListQuery,
    marker: &str,
    sort: &SortKeys,
) -> StoreResult<Option<Vec<Value>>> {
    let (sql, values) = marker_sql::<T>(q, marker, sort);
    let rows = fetch_all(conn, &sql, &values).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(sort.len());
    for (i, (_, kind, _)) in sort.iter().enumerate() {
        out.push(match kind {
            FilterKind::Text => Value::Text(row.get::<String>(i)?),
            FilterKind::Int | FilterKind::Bool => Value::Int(row.get::<i64>(i)?),
        });
    }
    Ok(Some(out))
}
