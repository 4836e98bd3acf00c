//! Lists in SQL: filters, sort keys and keyset pagination by marker, never the whole table in memory.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::tables::{load_children, Column, ColumnKind, Table};
use super::{fetch_all, StoreResult, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    fn flip(self) -> SortDir {
        match self {
            SortDir::Asc => SortDir::Desc,
            SortDir::Desc => SortDir::Asc,
        }
    }
    fn sql(self) -> &'static str {
        match self {
            SortDir::Asc => "ASC",
            SortDir::Desc => "DESC",
        }
    }
    fn after(self) -> &'static str {
        match self {
            SortDir::Asc => ">",
            SortDir::Desc => "<",
        }
    }
}

/// A parsed list request. Columns come from the table's own column list, never from the caller.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only rows of this project (non-admin callers).
    pub project: Option<String>,
    /// Each entry: a column and the values it may take (OR); entries are ANDed.
    pub filters: Vec<(&'static Column, Vec<Value>)>,
    pub sort: Vec<(&'static Column, SortDir)>,
    pub limit: Option<u64>,
    pub marker: Option<String>,
    pub page_reverse: bool,
}

pub(super) async fn run<T: Table>(conn: &mut AnyConnection, q: &ListQuery) -> StoreResult<Vec<T>> {
    let mut sort: Vec<(&str, ColumnKind, SortDir)> = q.sort.iter().map(|(c, d)| (c.column, c.kind, *d)).collect();
    if !sort.iter().any(|(c, _, _)| *c == "id") {
        sort.push(("id", ColumnKind::Text, SortDir::Asc));
    }
    if q.page_reverse {
        for s in &mut sort {
            s.2 = s.2.flip();
        }
    }

    let mut sql = format!("SELECT * FROM {} WHERE 1 = 1", T::TABLE);
    let mut values: Vec<Value> = Vec::new();
    if let Some(p) = &q.project {
        values.push(p.clone().into());
        sql.push_str(&format!(" AND project_id = ${}", values.len()));
    }
    for (column, allowed) in &q.filters {
        let mut marks = Vec::with_capacity(allowed.len());
        for v in allowed {
            values.push(v.clone());
            marks.push(format!("${}", values.len()));
        }
        sql.push_str(&format!(" AND {} IN ({})", column.column, marks.join(", ")));
    }
    if let Some(marker) = &q.marker {
        let Some(marker_values) = marker_row::<T>(conn, marker, q.project.as_deref(), &sort).await? else {
            // The reference returns an empty page for an unknown marker.
            return Ok(Vec::new());
        };
        let mut alternatives = Vec::with_capacity(sort.len());
        for (i, (column, _, dir)) in sort.iter().enumerate() {
            let mut terms = Vec::with_capacity(i + 1);
            for (j, (prev, _, _)) in sort.iter().enumerate().take(i) {
                values.push(marker_values[j].clone());
                terms.push(format!("{prev} = ${}", values.len()));
            }
            values.push(marker_values[i].clone());
            terms.push(format!("{column} {} ${}", dir.after(), values.len()));
            alternatives.push(format!("({})", terms.join(" AND ")));
        }
        sql.push_str(&format!(" AND ({})", alternatives.join(" OR ")));
    }
    let order: Vec<String> = sort.iter().map(|(c, _, d)| format!("{c} {}", d.sql())).collect();
    sql.push_str(&format!(" ORDER BY {}", order.join(", ")));
    if let Some(limit) = q.limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }

    let rows = fetch_all(conn, &sql, &values).await?;
    let mut items = from_rows::<T>(conn, &rows).await?;
    if q.page_reverse {
        items.reverse();
    }
    Ok(items)
}

async fn marker_row<T: Table>(
    conn: &mut AnyConnection,
    marker: &str,
    project: Option<&str>,
    sort: &[(&str, ColumnKind, SortDir)],
) -> StoreResult<Option<Vec<Value>>> {
    let columns: Vec<&str> = sort.iter().map(|(c, _, _)| *c).collect();
    let mut sql = format!("SELECT {} FROM {} WHERE id = $1", columns.join(", "), T::TABLE);
    let mut values: Vec<Value> = vec![marker.into()];
    if let Some(p) = project {
        values.push(p.into());
        sql.push_str(" AND project_id = $2");
    }
    let rows = fetch_all(conn, &sql, &values).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(sort.len());
    for (i, (_, kind, _)) in sort.iter().enumerate() {
        out.push(match kind {
            ColumnKind::Text => Value::Text(row.try_get::<String, _>(i)?),
            ColumnKind::Int | ColumnKind::Bool => Value::Int(row.try_get::<i64, _>(i)?),
        });
    }
    Ok(Some(out))
}

/// Rows of `T` that satisfy a fixed condition (written by this crate, never by a caller).
pub async fn select<T: Table>(conn: &mut AnyConnection, condition: &str, values: &[Value]) -> StoreResult<Vec<T>> {
    let sql = format!("SELECT * FROM {} WHERE {condition} ORDER BY id", T::TABLE);
    let rows = fetch_all(conn, &sql, values).await?;
    from_rows::<T>(conn, &rows).await
}

/// Builds resources from rows, loading every row's children with one query.
pub(super) async fn from_rows<T: Table>(conn: &mut AnyConnection, rows: &[AnyRow]) -> StoreResult<Vec<T>> {
    let ids: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>("id")).collect::<Result<_, _>>()?;
    let mut children = load_children::<T>(conn, &ids).await?;
    rows.iter().zip(ids.iter()).map(|(row, id)| T::from_row(row, children.remove(id).unwrap_or_default())).collect()
}
