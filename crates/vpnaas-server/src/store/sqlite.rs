//! SQLite's read path: list and show on SQLite's own driver (rusqlite), off the async workers.
//!
//! sqlx's SQLite driver hands every row from its worker thread to the caller through a
//! channel, and its `Any` layer copies each row once more; a list of 1,000 rows paid for
//! 1,000 thread wake-ups. Here one blocking-pool thread runs the whole read (its statements
//! prepared once per connection and cached) and decodes the rows into resources where it
//! reads them. Writes go to the writer with group commit (ADR 0012), and since a write is
//! answered only after its commit, a read that follows it sees it.
//!
//! The other reads (the gateway API's state builds, the markers, health) take a reader too,
//! but run their statements on the calling task's thread ([`InlineRead`]), as the writer
//! does: each statement is microseconds on pages in memory, and a state build is about ten
//! of them; handing each to sqlx's worker thread cost more than the statement (ADR 0026).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::list::{marker_sql, page_sql, sort_keys};
use super::rows::bind;
use super::rows::RowRead;
use super::tables::adopt;
use super::tables::Table;
use super::{PoolSettings, StoreError, StoreResult, Value};
use vpnaas_core::listing::{FilterKind, ListQuery};

/// Statements each connection keeps prepared (the lists' shapes vary with their filters).
const CACHED_STATEMENTS: usize = 128;

/// Who a read is for. Each lane has `max` readers of its own: a fleet's state builds queue
/// behind each other, never in front of an API client's read (ADR 0026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Api,
    Gateway,
}

/// Read-only connections to one SQLite file, at most `max` of them in use at once per lane.
pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    gateway_permits: Arc<Semaphore>,
    max: usize,
    acquire_timeout: Duration,
    /// Where the wait for a reader is recorded (`db_acquire{kind="read"}`).
    stats: super::health::StoreStats,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        if let rusqlite::Error::SqliteFailure(failure, _) = &e {
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY {
                return StoreError::Conflict("a foreign key".into());
            }
        }
        match e.sqlite_error_code() {
            // Another connection holds the lock past busy_timeout: busy, the file is fine.
            Some(DatabaseBusy | DatabaseLocked) => StoreError::Busy(e.to_string()),
            Some(SystemIoFailure | DiskFull | CannotOpen | ReadOnly | OutOfMemory) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Corrupt(e.to_string()),
        }
    }
}

impl Readers {
    pub fn new(path: &Path, settings: PoolSettings, stats: super::health::StoreStats) -> Readers {
        let max = usize::try_from(settings.max_connections).unwrap_or(1).max(1);
        Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            gateway_permits: Arc::new(Semaphore::new(max)),
            max,
            acquire_timeout: settings.acquire_timeout,
            stats,
        }
    }

    fn open(&self) -> StoreResult<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.set_prepared_statement_cache_capacity(CACHED_STATEMENTS);
        Ok(conn)
    }

    /// Reader connections open, idle, and the most in use at once, both lanes together (the
    /// pool gauges on SQLite).
    pub fn usage(&self) -> (u32, usize, u32) {
        let max = 2 * self.max;
        let in_use = max
            .saturating_sub(self.permits.available_permits())
            .saturating_sub(self.gateway_permits.available_permits());
        let idle = self.idle.lock().map(|i| i.len()).unwrap_or(0);
        let open = u32::try_from(in_use + idle).unwrap_or(u32::MAX);
        (open, idle, u32::try_from(max).unwrap_or(u32::MAX))
    }

    /// A reader's permit in `lane`, or busy after `acquire_timeout`.
    async fn permit(&self, lane: Lane) -> StoreResult<OwnedSemaphorePermit> {
        let permits = match lane {
            Lane::Api => &self.permits,
            Lane::Gateway => &self.gateway_permits,
        };
        tokio::time::timeout(self.acquire_timeout, permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Busy("no SQLite reader became free in time".into()))?
            .map_err(|_| StoreError::Unavailable("the readers are closed".into()))
    }

    fn take(&self) -> StoreResult<Connection> {
        let popped = self.idle.lock().map_err(|_| StoreError::Corrupt("reader pool poisoned".into()))?.pop();
        match popped {
            Some(conn) => Ok(conn),
            None => self.open(),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    /// A read transaction whose statements run on the caller's thread ([`InlineRead`]).
    pub async fn begin(self: &Arc<Self>, lane: Lane) -> StoreResult<InlineRead> {
        let asked = std::time::Instant::now();
        let permit = self.permit(lane).await?;
        let conn = self.take()?;
        conn.execute_batch("BEGIN")?;
        self.stats.waited("read", asked);
        Ok(InlineRead { conn: Some(conn), readers: self.clone(), open: true, _permit: permit })
    }

    /// Runs `read` in one read transaction on a connection of its own, on the blocking pool.
    pub async fn run<R, F>(self: &Arc<Self>, read: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let asked = std::time::Instant::now();
        let permit = self.permit(Lane::Api).await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = this.take()?;
            let tx = conn.transaction()?;
            this.stats.waited("read", asked);
            let result = read(&tx);
            tx.commit()?;
            this.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("a read stopped: {e}")))?
    }
}

/// A read transaction on one of the readers, holding its permit; its statements run where
/// they are called. Rolled back when dropped uncommitted; the connection goes back either way.
pub struct InlineRead {
    conn: Option<Connection>,
    readers: Arc<Readers>,
    open: bool,
    _permit: OwnedSemaphorePermit,
}

impl InlineRead {
    pub fn conn(&self) -> StoreResult<&Connection> {
        self.conn.as_ref().ok_or_else(|| StoreError::Corrupt("a finished read transaction was used".into()))
    }

    pub fn commit(mut self) -> StoreResult<()> {
        self.open = false;
        self.conn()?.execute_batch("COMMIT")?;
        Ok(())
    }
}

impl Drop for InlineRead {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        // A connection whose rollback failed is not given back: the next read opens another.
        if !self.open || conn.execute_batch("ROLLBACK").is_ok() {
            self.readers.give_back(conn);
        }
    }
}

/// A row being read, with its statement's column names (looked up once per statement).
struct SqliteRow<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a [String],
}

impl SqliteRow<'_> {
    fn index(&self, col: &str) -> StoreResult<usize> {
        self.names.iter().position(|n| n == col).ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }
}

impl RowRead for SqliteRow<'_> {
    fn text(&self, col: &str) -> StoreResult<String> {
        Ok(self.row.get::<_, String>(self.index(col)?)?)
    }
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>> {
        Ok(self.row.get::<_, Option<String>>(self.index(col)?)?)
    }
    fn int(&self, col: &str) -> StoreResult<i64> {
        Ok(self.row.get::<_, i64>(self.index(col)?)?)
    }
}

/// Runs `sql` and hands each row to `each`.
fn query(
    conn: &Connection,
    sql: &str,
    values: &[Value],
    mut each: impl FnMut(&SqliteRow<'_>) -> StoreResult<()>,
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, values)?;
    let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        each(&SqliteRow { row, names: &names })?;
    }
    Ok(())
}

/// Resources from `sql`, each with its children (one statement per chunk of parents).
fn resources<T: Table>(conn: &Connection, sql: &str, values: &[Value]) -> StoreResult<Vec<T>> {
    let mut items = Vec::new();
    query(conn, sql, values, |row| {
        items.push(T::from_row(row)?);
        Ok(())
    })?;
    if let Some(child) = T::CHILD {
        // One statement for the whole page: its ids as one JSON array (binding them one
        // parameter each costs SQLite a scan of the parameter names per parameter).
        let ids: Vec<String> = items.iter().map(|i| i.id().to_string()).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "SELECT parent_id, value FROM {child} WHERE parent_id IN (SELECT value FROM json_each($1)) \
             ORDER BY parent_id, position"
        );
        let mut children: HashMap<String, Vec<String>> = HashMap::with_capacity(items.len());
        query(conn, &sql, &[ids.into()], |row| {
            children.entry(row.text("parent_id")?).or_default().push(row.text("value")?);
            Ok(())
        })?;
        adopt(&mut items, children)?;
    }
    Ok(items)
}

/// One row of `T` by id.
pub fn get<T: Table>(conn: &Connection, id: Uuid) -> StoreResult<Option<T>> {
    let sql = format!("SELECT * FROM {} WHERE id = $1", T::TABLE);
    Ok(resources::<T>(conn, &sql, &[id.to_string().into()])?.pop())
}

/// A list of `T`: the same statements as sqlx's path (`list.rs`).
pub fn list<T: Table>(conn: &Connection, q: &ListQuery) -> StoreResult<Vec<T>> {
    let sort = sort_keys(q);
    let after = match &q.marker {
        Some(marker) => {
            let (sql, values) = marker_sql::<T>(q, marker, &sort);
            let mut found = None;
            query(conn, &sql, &values, |row| {
                let mut keys = Vec::with_capacity(sort.len());
                for (column, kind, _) in &sort {
                    keys.push(match kind {
                        FilterKind::Text => Value::Text(row.text(column)?),
                        FilterKind::Int | FilterKind::Bool => Value::Int(row.int(column)?),
                    });
                }
                found = Some(keys);
                Ok(())
            })?;
            match found {
                Some(keys) => Some(keys),
                // The reference returns an empty page for an unknown marker.
                None => return Ok(Vec::new()),
            }
        }
        None => None,
    };
    let (sql, values) = page_sql::<T>(q, &sort, after.as_deref());
    let mut items = resources::<T>(conn, &sql, &values)?;
    if q.page_reverse {
        items.reverse();
    }
    Ok(items)
}
