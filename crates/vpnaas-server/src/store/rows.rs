//! Rows as the store's functions read them, from either driver: sqlx's (`Any`: PostgreSQL,
//! and SQLite's pool) or rusqlite's (SQLite's writer and readers, ADR 0014).

use std::sync::Arc;

use rusqlite::types::Value as LiteValue;
use rusqlite::Statement;
use sqlx::any::AnyRow;
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::Row as _;

use super::{StoreError, StoreResult, Value};

/// A row as the decoders read it, by column name: sqlx's `Any` rows and SQLite's own
/// (`sqlite.rs`) alike.
pub trait RowRead {
    fn text(&self, col: &str) -> StoreResult<String>;
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn int(&self, col: &str) -> StoreResult<i64>;
}

impl RowRead for AnyRow {
    fn text(&self, col: &str) -> StoreResult<String> {
        Ok(self.try_get::<String, _>(col)?)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(self.try_get::<Option<String>, _>(col)?)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        Ok(self.try_get::<i64, _>(col)?)
    }
}

/// A row read by rusqlite, owned (its statement is done with when the caller gets it).
pub struct LiteRow {
    names: Arc<[String]>,
    values: Vec<LiteValue>,
}

/// One row of a result.
pub enum Row {
    Pg(PgRow),
    My(MySqlRow),
    Any(AnyRow),
    Lite(LiteRow),
}

/// A column's value as a Rust type: text, optional text or an integer.
pub trait FromCol: Sized {
    fn from_pg(row: &PgRow, i: usize) -> StoreResult<Self>;
    fn from_any(row: &AnyRow, i: usize) -> StoreResult<Self>;
    fn from_my(row: &MySqlRow, i: impl sqlx::ColumnIndex<MySqlRow> + Copy) -> StoreResult<Self>;
    fn from_lite(value: &LiteValue) -> StoreResult<Self>;
}

fn wrong(value: &LiteValue, want: &str) -> StoreError {
    StoreError::Corrupt(format!("expected {want}, read {:?}", value.data_type()))
}

/// MariaDB's text: a column of a binary collation (`utf8mb4_bin`, which the schema uses so
/// that names compare and sort by bytes, as on the other engines) may come typed as bytes.
fn my_text(row: &MySqlRow, i: impl sqlx::ColumnIndex<MySqlRow> + Copy) -> StoreResult<Option<String>> {
    match row.try_get::<Option<String>, _>(i) {
        Ok(text) => Ok(text),
        Err(sqlx::Error::ColumnDecode { .. }) => match row.try_get::<Option<Vec<u8>>, _>(i)? {
            Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|e| StoreError::Corrupt(e.to_string())),
            None => Ok(None),
        },
        Err(e) => Err(e.into()),
    }
}

impl FromCol for String {
    fn from_pg(row: &PgRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<String, _>(i)?)
    }
    fn from_my(row: &MySqlRow, i: impl sqlx::ColumnIndex<MySqlRow> + Copy) -> StoreResult<Self> {
        my_text(row, i)?.ok_or_else(|| StoreError::Corrupt("text expected, read NULL".into()))
    }
    fn from_any(row: &AnyRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<String, _>(i)?)
    }
    fn from_lite(value: &LiteValue) -> StoreResult<Self> {
        match value {
            LiteValue::Text(s) => Ok(s.clone()),
            other => Err(wrong(other, "text")),
        }
    }
}

impl FromCol for Option<String> {
    fn from_pg(row: &PgRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<Option<String>, _>(i)?)
    }
    fn from_my(row: &MySqlRow, i: impl sqlx::ColumnIndex<MySqlRow> + Copy) -> StoreResult<Self> {
        my_text(row, i)
    }
    fn from_any(row: &AnyRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<Option<String>, _>(i)?)
    }
    fn from_lite(value: &LiteValue) -> StoreResult<Self> {
        match value {
            LiteValue::Null => Ok(None),
            LiteValue::Text(s) => Ok(Some(s.clone())),
            other => Err(wrong(other, "text or null")),
        }
    }
}

impl FromCol for i64 {
    fn from_pg(row: &PgRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<i64, _>(i)?)
    }
    fn from_my(row: &MySqlRow, i: impl sqlx::ColumnIndex<MySqlRow> + Copy) -> StoreResult<Self> {
        Ok(row.try_get::<i64, _>(i)?)
    }
    fn from_any(row: &AnyRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<i64, _>(i)?)
    }
    fn from_lite(value: &LiteValue) -> StoreResult<Self> {
        match value {
            LiteValue::Integer(n) => Ok(*n),
            other => Err(wrong(other, "an integer")),
        }
    }
}

impl FromCol for Option<i64> {
    fn from_pg(row: &PgRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<Option<i64>, _>(i)?)
    }
    fn from_my(row: &MySqlRow, i: impl sqlx::ColumnIndex<MySqlRow> + Copy) -> StoreResult<Self> {
        Ok(row.try_get::<Option<i64>, _>(i)?)
    }
    fn from_any(row: &AnyRow, i: usize) -> StoreResult<Self> {
        Ok(row.try_get::<Option<i64>, _>(i)?)
    }
    fn from_lite(value: &LiteValue) -> StoreResult<Self> {
        match value {
            LiteValue::Null => Ok(None),
            LiteValue::Integer(n) => Ok(Some(*n)),
            other => Err(wrong(other, "an integer or null")),
        }
    }
}

impl Row {
    /// The value of column `i`.
    pub fn get<T: FromCol>(&self, i: usize) -> StoreResult<T> {
        match self {
            Row::Pg(row) => T::from_pg(row, i),
            Row::My(row) => T::from_my(row, i),
            Row::Any(row) => T::from_any(row, i),
            Row::Lite(row) => {
                T::from_lite(row.values.get(i).ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))?)
            }
        }
    }

    /// The value of the column named `col` of a rusqlite row.
    fn named<T: FromCol>(row: &LiteRow, col: &str) -> StoreResult<T> {
        let value = row
            .names
            .iter()
            .position(|n| n == col)
            .and_then(|i| row.values.get(i))
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))?;
        T::from_lite(value)
    }
}

impl RowRead for Row {
    fn text(&self, col: &str) -> StoreResult<String> {
        match self {
            Row::Pg(row) => Ok(row.try_get::<String, _>(col)?),
            Row::My(row) => String::from_my(row, col),
            Row::Any(row) => row.text(col),
            Row::Lite(row) => Row::named(row, col),
        }
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        match self {
            Row::Pg(row) => Ok(row.try_get::<Option<String>, _>(col)?),
            Row::My(row) => Option::<String>::from_my(row, col),
            Row::Any(row) => row.opt_text(col),
            Row::Lite(row) => Row::named(row, col),
        }
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        match self {
            Row::Pg(row) => Ok(row.try_get::<i64, _>(col)?),
            Row::My(row) => i64::from_my(row, col),
            Row::Any(row) => row.int(col),
            Row::Lite(row) => Row::named(row, col),
        }
    }
}

/// Binds `values` to the statement's `$n` parameters, by number (as sqlx does on SQLite).
pub(super) fn bind(stmt: &mut Statement<'_>, values: &[Value]) -> StoreResult<()> {
    for i in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(i)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| values.get(n))
            .ok_or_else(|| StoreError::Corrupt(format!("parameter {i} has no value")))?;
        match n {
            Value::Text(s) => stmt.raw_bind_parameter(i, s)?,
            Value::OptText(s) => stmt.raw_bind_parameter(i, s)?,
            Value::Int(v) => stmt.raw_bind_parameter(i, v)?,
        }
    }
    Ok(())
}

/// Runs `sql` on a rusqlite connection, in the calling thread, and owns its rows.
pub(super) fn lite_fetch(conn: &rusqlite::Connection, sql: &str, values: &[Value]) -> StoreResult<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, values)?;
    let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = names.len();
    let mut out = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        let values = (0..width).map(|i| row.get::<_, LiteValue>(i)).collect::<Result<Vec<_>, _>>()?;
        out.push(Row::Lite(LiteRow { names: names.clone(), values }));
    }
    Ok(out)
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub(super) fn lite_execute(conn: &rusqlite::Connection, sql: &str, values: &[Value]) -> StoreResult<u64> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, values)?;
    let changed = stmt.raw_execute()?;
    Ok(u64::try_from(changed).unwrap_or(u64::MAX))
}
