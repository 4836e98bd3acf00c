//! Storage: the connection pool, migrations, write transactions and the generic row machinery, in SQL that runs on SQLite and PostgreSQL.
//!
//! Every statement uses `$n` placeholders and standard types (`VARCHAR`, `BIGINT`), so the
//! same text runs on both engines through sqlx's `Any` driver. Booleans are stored as
//! `BIGINT` 0/1 and times as microseconds since the epoch, which both engines and the
//! `Any` driver carry without conversion.

pub mod gateway;
mod list;
pub mod markers;
mod migrations;
pub mod psk;
mod tables;
pub mod uses;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyConnection, AnyPool, Arguments, Row, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use list::{ListQuery, SortDir};
pub use tables::{Column, ColumnKind, Table};

/// A storage failure. Constraint names are mapped by the service layer where they mean something.
#[derive(Debug)]
pub enum StoreError {
    /// The database cannot be reached or is read-only or full: retryable, answered 503.
    Unavailable(String),
    /// A stored row does not parse, or an unexpected database error: answered 500.
    Corrupt(String),
    /// A foreign key refused a write: a concurrent change won a race (PostgreSQL). Answered 409.
    Conflict(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::Corrupt(m) => write!(f, "database error: {m}"),
            StoreError::Conflict(m) => write!(f, "constraint {m} refused a write"),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("a foreign key").to_owned())
            }
            // PostgreSQL: connection exceptions (08), shutting down or starting (57P0x).
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) => {
                let msg = db.message().to_ascii_lowercase();
                // SQLite: a full disk, a read-only file or a lock held too long.
                if msg.contains("full")
                    || msg.contains("readonly")
                    || msg.contains("read-only")
                    || msg.contains("locked")
                {
                    StoreError::Unavailable(e.to_string())
                } else {
                    StoreError::Corrupt(e.to_string())
                }
            }
            _ => StoreError::Corrupt(e.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A database connection, as the service layer holds it inside a transaction.
pub type Conn = AnyConnection;

/// Which engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before it is answered 503.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { max_connections: 16, acquire_timeout: Duration::from_secs(3) }
    }
}

/// The database: a pool, plus (for SQLite) one in-process writer at a time, so that a
/// write transaction never fails on a lock upgrade. PostgreSQL serialises writers of one
/// row with row locks instead ([`WriteTx::lock_clause`]).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    writer: Option<Arc<Mutex<()>>>,
    backend: Backend,
}

/// A read transaction; derefs to its [`Conn`].
pub struct ReadTx(Transaction<'static, Any>);

impl ReadTx {
    pub async fn commit(self) -> StoreResult<()> {
        self.0.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for ReadTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl std::ops::DerefMut for ReadTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

/// A write transaction; on SQLite it also holds the writer lock until commit or drop.
pub struct WriteTx {
    pub tx: Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    backend: Backend,
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
    /// What makes a `SELECT` lock the rows it reads until commit: `FOR UPDATE` on
    /// PostgreSQL; nothing on SQLite, whose writers are already one at a time.
    pub fn lock_clause(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl Store {
    /// Opens a PostgreSQL database (`postgres://...`); it must exist already.
    pub async fn open_postgres(url: &str, settings: PoolSettings) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A pool must not keep handing out connections to a server that restarted.
            .test_before_acquire(true)
            .connect_lazy(url)?;
        Ok(Store { pool, writer: None, backend: Backend::Postgres })
    }

    /// Opens (creating if needed) the SQLite database file `path`.
    pub async fn open_sqlite(path: &Path, settings: PoolSettings) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    // ADR 0001 (Storage): an acknowledged write survives power loss
                    // (WAL with synchronous=FULL fsyncs the log at every commit).
                    for pragma in [
                        "PRAGMA journal_mode = WAL",
                        "PRAGMA synchronous = FULL",
                        "PRAGMA foreign_keys = ON",
                        "PRAGMA busy_timeout = 5000",
                    ] {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        Ok(Store { pool, writer: Some(Arc::new(Mutex::new(()))), backend: Backend::Sqlite })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema to the newest version; safe when several replicas start at once.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let mut w = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // One migrator at a time; the lock ends with the transaction.
            fetch_all(w.conn(), "SELECT pg_advisory_xact_lock(7270707370)", &[]).await?;
        }
        let applied = migrations::run(w.conn()).await?;
        w.commit().await?;
        Ok(applied)
    }

    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        let guard = match &self.writer {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _writer: guard, backend: self.backend })
    }

    pub async fn begin_read(&self) -> StoreResult<ReadTx> {
        Ok(ReadTx(self.pool.begin().await?))
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        Value::OptText(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Int(i64::from(b))
    }
}

fn bind_all(values: &[Value]) -> StoreResult<AnyArguments<'static>> {
    let mut args = AnyArguments::default();
    for v in values {
        let r = match v {
            Value::Text(s) => args.add(s.clone()),
            Value::OptText(s) => args.add(s.clone()),
            Value::Int(i) => args.add(*i),
        };
        r.map_err(|e| StoreError::Corrupt(e.to_string()))?;
    }
    Ok(args)
}

async fn fetch_all(conn: &mut AnyConnection, sql: &str, values: &[Value]) -> StoreResult<Vec<AnyRow>> {
    Ok(sqlx::query_with(sql, bind_all(values)?).fetch_all(conn).await?)
}

async fn execute(conn: &mut AnyConnection, sql: &str, values: &[Value]) -> StoreResult<u64> {
    Ok(sqlx::query_with(sql, bind_all(values)?).execute(conn).await?.rows_affected())
}

/// Reads the first column of each row as text (ids of referring rows, for in-use checks).
async fn ids(conn: &mut AnyConnection, sql: &str, values: &[Value]) -> StoreResult<Vec<String>> {
    let rows = fetch_all(conn, sql, values).await?;
    rows.iter().map(|r| r.try_get::<String, _>(0).map_err(StoreError::from)).collect()
}

pub use tables::{delete, get, get_locked, insert, update};

/// Lists rows of `T` with filters, sorting and keyset pagination done by the database.
pub async fn list<T: Table>(conn: &mut AnyConnection, q: &ListQuery) -> StoreResult<Vec<T>> {
    list::run::<T>(conn, q).await
}
