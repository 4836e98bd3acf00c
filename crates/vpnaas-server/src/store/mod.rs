//! Storage: the connection pool, migrations, write transactions and the generic row machinery, in SQL that runs on SQLite, PostgreSQL and MariaDB.
//!
//! Every statement uses `$n` placeholders and standard types (`VARCHAR`, `BIGINT`), so the
//! same text runs on both engines: through sqlx's `Any` driver (PostgreSQL, and SQLite's
//! pool), and on SQLite's writer and readers through rusqlite (ADR 0014); MariaDB takes
//! them through `mariadb.rs`'s mechanical translation (ADR 0030). Booleans are
//! stored as `BIGINT` 0/1 and times as microseconds since the epoch, which every driver
//! carries without conversion.

pub mod backup;
pub mod events;
pub mod gateway;
pub mod health;
mod list;
mod mariadb;
pub mod markers;
mod migrations;
pub mod mirror;
pub mod outbox;
pub mod psk;
pub mod quotas;
pub mod replicas;
mod rows;
mod sqlite;
mod tables;
pub mod uses;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::OpenFlags;
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::mysql::{MySqlArguments, MySqlPoolOptions};
use sqlx::postgres::{PgArguments, PgPoolOptions};
use sqlx::{Any, AnyPool, Arguments, MySql, MySqlPool, PgPool, Postgres, Transaction};
use tokio::sync::{watch, Mutex, Notify, OwnedMutexGuard};
use vpnaas_core::listing::ListQuery;

pub use rows::Row;

/// The database schema version this release expects (its newest migration, contract steps
/// included).
pub fn schema_version() -> i64 {
    migrations::newest()
}

pub use migrations::{Applied, Phase};
pub use tables::Table;

/// A storage failure. Constraint names are mapped by the service layer where they mean something.
#[derive(Debug)]
pub enum StoreError {
    /// The database cannot be reached or is read-only or full: retryable, answered 503.
    Unavailable(String),
    /// The database answers, but no connection of the pool (or SQLite's lock) became free in
    /// time: this server is busy. Answered 503 busy with `Retry-After` (ADR 0023).
    Busy(String),
    /// A stored row does not parse, or an unexpected database error: answered 500.
    Corrupt(String),
    /// A foreign key refused a write: a concurrent change won a race (PostgreSQL). Answered 409.
    Conflict(String),
    /// The transaction was rolled back because it collided with a concurrent one (a deadlock,
    /// a lock wait past its timeout, a Galera certification failure, a serialization failure):
    /// nothing of it was written, and running it again may succeed (`service::retrying`).
    Retry(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            StoreError::Busy(m) => write!(f, "database busy: {m}"),
            StoreError::Corrupt(m) => write!(f, "database error: {m}"),
            StoreError::Conflict(m) => write!(f, "constraint {m} refused a write"),
            StoreError::Retry(m) => write!(f, "transaction rolled back by a concurrent one: {m}"),
        }
    }
}

/// So that a store error can be the source of the errors that wrap it.
impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // A timeout is told apart where the pool is known (`Pool::explain`).
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::Conflict(db.constraint().unwrap_or("a foreign key").to_owned())
            }
            // Rolled back by a collision, so safe to run again: a serialization failure or a
            // deadlock (SQLSTATE 40001, 40P01; MariaDB's 1213, Galera's certification failure
            // included), or MariaDB's lock wait timeout (1205), which rolls back the statement:
            // the store then rolls back the rest of the transaction with it.
            sqlx::Error::Database(db)
                if db.code().is_some_and(|c| c == "40001" || c == "40P01")
                    || db
                        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                        .is_some_and(|e| e.number() == 1213 || e.number() == 1205) =>
            {
                StoreError::Retry(e.to_string())
            }
            // PostgreSQL: connection exceptions (08), shutting down or starting (57P0x).
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) => {
                StoreError::Unavailable(e.to_string())
            }
            // MariaDB ending a statement for reasons outside the request, as a Galera node does
            // around a view change: an error during COMMIT (1180), a query interrupted (1317),
            // a connection killed (1927) or dropped for inactivity (4031). Whether a COMMIT so
            // ended took effect is unknown, as with a lost connection: 503, try again.
            sqlx::Error::Database(db)
                if db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|e| matches!(e.number(), 1180 | 1317 | 1927 | 4031)) =>
            {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) => {
                let msg = db.message().to_ascii_lowercase();
                // SQLite: a full disk, a read-only file or a lock held too long.
                // A lock held past busy_timeout: another writer is at work, the file is fine.
                if msg.contains("locked") || msg.contains("busy") {
                    StoreError::Busy(e.to_string())
                } else if msg.contains("full") || msg.contains("readonly") || msg.contains("read-only") {
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

/// A database connection inside a transaction, as the service layer holds it.
pub enum Conn {
    /// sqlx's PostgreSQL driver, typed (no `Any` layer; ADR 0014).
    Pg(Transaction<'static, Postgres>),
    /// sqlx's MySQL driver, for MariaDB (ADR 0030).
    My(Transaction<'static, MySql>),
    /// sqlx's `Any` driver: reads on SQLite's pool (other than lists and shows).
    Any(Transaction<'static, Any>),
    /// SQLite's writer inside its batch (ADR 0012): statements run on the calling thread,
    /// with no hand-off to a driver thread (ADR 0014).
    Lite(Savepoint),
    /// One of SQLite's readers in a read transaction, likewise on the calling thread (ADR 0026).
    Read(sqlite::InlineRead),
}

/// Which engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mariadb,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
            Backend::Mariadb => "mariadb",
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

/// The database: a pool for reads (and PostgreSQL's writes), plus for SQLite one writer
/// connection with group commit ([`Writer`]). PostgreSQL serialises writers of one row with
/// row locks instead ([`WriteTx::lock_clause`]) and groups commits by itself.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    writer: Option<Arc<Writer>>,
    /// SQLite's read path for lists and shows (ADR 0014).
    readers: Option<Arc<sqlite::Readers>>,
    backend: Backend,
    /// Measurements for the metrics scrape (ADR 0015).
    stats: health::StoreStats,
}

/// sqlx's pool: PostgreSQL's, typed; or SQLite's, through `Any`, which only creates the
/// database file now (every read takes one of the readers, every write the writer).
#[derive(Clone)]
enum Pool {
    Pg(PgPool),
    My(MySqlPool),
    Lite(AnyPool),
}

impl Pool {
    async fn begin(&self) -> StoreResult<Conn> {
        let begun = match self {
            Pool::Pg(pool) => pool.begin().await.map(Conn::Pg),
            Pool::My(pool) => pool.begin().await.map(Conn::My),
            Pool::Lite(pool) => pool.begin().await.map(Conn::Any),
        };
        begun.map_err(|e| self.explain(e))
    }

    /// sqlx says `PoolTimedOut` both when every connection was in use for the whole wait
    /// and when it kept failing to open one (a database that refuses connections): the first
    /// is a busy server, the second an unreachable database (ADR 0023). A pool holding all
    /// the connections it may open was busy; one with room left could not connect.
    fn explain(&self, e: sqlx::Error) -> StoreError {
        let (open, _, max) = self.usage();
        match e {
            sqlx::Error::PoolTimedOut if open >= max => {
                StoreError::Busy(format!("all {max} database connections stayed in use"))
            }
            sqlx::Error::PoolTimedOut => StoreError::Unavailable(e.to_string()),
            e => e.into(),
        }
    }

    /// Open connections, idle ones, and the most it opens.
    fn usage(&self) -> (u32, usize, u32) {
        match self {
            Pool::Pg(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Pool::My(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
            Pool::Lite(p) => (p.size(), p.num_idle(), p.options().get_max_connections()),
        }
    }

    async fn close(&self) {
        match self {
            Pool::Pg(p) => p.close().await,
            Pool::My(p) => p.close().await,
            Pool::Lite(p) => p.close().await,
        }
    }
}

/// SQLite's one writer, with group commit: each write transaction is a savepoint inside a
/// batch transaction on the writer's connection, taken one at a time (the mutex is fair);
/// releasing it does not make it durable. The committer queues on the same mutex behind the
/// writers already waiting and commits the batch with one fsync; only then does each writer
/// in it get its answer. A write that fails rolls back its own savepoint and nobody else's.
pub struct Writer {
    state: Arc<Mutex<WriterState>>,
    /// Wakes the committer (a permit is kept when it is busy, so no commit is missed).
    kick: Arc<Notify>,
}

struct WriterState {
    conn: rusqlite::Connection,
    /// A batch transaction is open.
    open: bool,
    /// A dropped write left its savepoint: it is rolled back before anything else.
    dirty: bool,
    /// Savepoints released into the open batch.
    released: usize,
    /// Where the open batch's outcome will be told.
    outcome: Arc<watch::Sender<Option<Result<(), String>>>>,
}

impl WriterState {
    fn run(&mut self, sql: &str) -> StoreResult<()> {
        self.conn.execute_batch(sql)?;
        Ok(())
    }

    /// Rolls back a savepoint a failed write left behind. If that fails, SQLite has already
    /// rolled back the whole transaction (a full disk, say): the batch is lost, and told so.
    fn clean(&mut self) {
        if self.dirty {
            self.dirty = false;
            let rolled = match self.run("ROLLBACK TO w") {
                Ok(()) => self.run("RELEASE w"),
                Err(e) => Err(e),
            };
            if let Err(e) = rolled {
                self.abort(e.to_string());
            }
        }
    }

    /// Ends the open batch without committing it; its writers get `why` as their answer.
    fn abort(&mut self, why: String) {
        let _ = self.run("ROLLBACK");
        self.open = false;
        self.dirty = false;
        self.released = 0;
        let outcome = std::mem::replace(&mut self.outcome, Arc::new(watch::channel(None).0));
        outcome.send_replace(Some(Err(why)));
    }
}

/// Runs `f`, which may wait for the disk (a commit's fsync), without stalling the other
/// tasks of a multi-threaded runtime.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // The committer holds only a weak reference; this wakes it to notice and end.
        self.kick.notify_one();
    }
}

impl Writer {
    /// Commits the open batch, if any, and tells its writers; runs until the store is gone.
    async fn committer(
        state: std::sync::Weak<Mutex<WriterState>>,
        kick: Arc<Notify>,
        batches: prometheus_client::metrics::histogram::Histogram,
    ) {
        loop {
            kick.notified().await;
            let Some(state) = state.upgrade() else { return };
            let mut s = state.lock().await;
            s.clean();
            if !s.open {
                continue;
            }
            let batch = s.released;
            if let Err(e) = blocking(|| s.run("COMMIT")) {
                // Nothing of the batch is durable: undo it, and tell every writer in it.
                s.abort(e.to_string());
                continue;
            }
            s.open = false;
            s.released = 0;
            let outcome = std::mem::replace(&mut s.outcome, Arc::new(watch::channel(None).0));
            drop(s);
            tracing::trace!(writes = batch, "group commit");
            batches.observe(batch as f64);
            outcome.send_replace(Some(Ok(())));
        }
    }
}

/// A read transaction; derefs to its [`Conn`].
pub struct ReadTx(Conn);

impl ReadTx {
    pub async fn commit(self) -> StoreResult<()> {
        match self.0 {
            Conn::Pg(tx) => tx.commit().await?,
            Conn::My(tx) => tx.commit().await?,
            Conn::Any(tx) => tx.commit().await?,
            Conn::Lite(_) => {}
            Conn::Read(r) => r.commit()?,
        }
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

/// A write transaction: PostgreSQL's own, or a savepoint in SQLite's batch (holding the
/// writer until it commits or is dropped).
pub struct WriteTx {
    conn: Conn,
    backend: Backend,
}

/// One write's savepoint in SQLite's batch, holding the writer.
pub struct Savepoint {
    state: OwnedMutexGuard<WriterState>,
    kick: Arc<Notify>,
    released: bool,
}

impl Drop for Savepoint {
    fn drop(&mut self) {
        if !self.released {
            // Dropped without commit (a refused write): its savepoint is rolled back by
            // whoever takes the writer next; the committer is woken to make sure.
            self.state.dirty = true;
            self.kick.notify_one();
        }
    }
}

/// ADR 0001 (Storage): an acknowledged write survives power loss (WAL with
/// synchronous=FULL fsyncs the log at every commit).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
    PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

async fn sqlite_pragmas(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    for pragma in SQLITE_PRAGMAS.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        sqlx::query(pragma).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every MariaDB session reads committed data, as PostgreSQL does by default, and compares
/// text by bytes (sqlx already makes it strict about what it stores).
const MARIADB_SESSION: &str =
    "SET SESSION tx_isolation = 'READ-COMMITTED', SESSION collation_connection = 'utf8mb4_bin'";

/// One migrator at a time on MariaDB (waits up to 60 s).
const MARIADB_MIGRATION_LOCK: &str = "SELECT GET_LOCK('vpnaas_migrate', 60)";

/// Statements the writer keeps prepared.
const WRITER_STATEMENTS: usize = 256;

/// SQLite's writer connection, with the same settings as the pool's.
fn open_writer(path: &Path) -> StoreResult<rusqlite::Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.execute_batch(SQLITE_PRAGMAS)?;
    conn.set_prepared_statement_cache_capacity(WRITER_STATEMENTS);
    Ok(conn)
}

impl WriteTx {
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }
    /// What makes a `SELECT` lock the rows it reads until commit: `FOR UPDATE` on
    /// PostgreSQL and MariaDB; nothing on SQLite, whose writers are already one at a time.
    pub fn lock_clause(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres | Backend::Mariadb => " FOR UPDATE",
        }
    }
    /// Makes the write durable: returns once it is committed (with SQLite, once its batch is).
    pub async fn commit(self) -> StoreResult<()> {
        match self.conn {
            Conn::Pg(tx) => {
                tx.commit().await?;
                Ok(())
            }
            Conn::My(tx) => {
                tx.commit().await?;
                Ok(())
            }
            Conn::Any(tx) => {
                tx.commit().await?;
                Ok(())
            }
            Conn::Lite(mut sp) => {
                sp.state.run("RELEASE w")?;
                sp.state.dirty = false;
                sp.state.released += 1;
                sp.released = true;
                let mut outcome = sp.state.outcome.subscribe();
                sp.kick.notify_one();
                // Let the writers queued behind join the batch; the committer comes after them.
                drop(sp);
                let result = outcome
                    .wait_for(Option::is_some)
                    .await
                    .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
                    .clone();
                result.unwrap_or(Err("no outcome".into())).map_err(StoreError::Unavailable)
            }
            Conn::Read(r) => r.commit(),
        }
    }
}

impl Store {
    /// Opens a PostgreSQL database (`postgres://...`); it must exist already.
    pub async fn open_postgres(url: &str, settings: PoolSettings) -> StoreResult<Store> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            // A pool must not keep handing out connections to a server that restarted.
            .test_before_acquire(true)
            .connect_lazy(url)?;
        let pool = Pool::Pg(pool);
        Ok(Store { pool, writer: None, readers: None, backend: Backend::Postgres, stats: Default::default() })
    }

    /// Opens a MariaDB database (`mysql://...` or `mariadb://...`); it must exist already.
    /// Every session reads committed data (as PostgreSQL's default does), and names compare
    /// and sort by their bytes whatever the database's default collation (ADR 0030).
    pub async fn open_mariadb(url: &str, settings: PoolSettings) -> StoreResult<Store> {
        let url = match url.strip_prefix("mariadb://") {
            Some(rest) => format!("mysql://{rest}"),
            None => url.to_owned(),
        };
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(true)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query(MARIADB_SESSION).execute(&mut *conn).await?;
                    // A Galera node: every read first waits until the node has applied what
                    // the cluster committed before it, so a client reads its own writes
                    // whichever node its next request reaches (ADR 0030).
                    let galera: Option<(String, String)> =
                        sqlx::query_as("SHOW VARIABLES LIKE 'wsrep_on'").fetch_optional(&mut *conn).await?;
                    if galera.is_some_and(|(_, on)| on == "ON") {
                        sqlx::query("SET SESSION wsrep_sync_wait = 1").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy(&url)?;
        Ok(Store {
            pool: Pool::My(pool),
            writer: None,
            readers: None,
            backend: Backend::Mariadb,
            stats: Default::default(),
        })
    }

    /// Opens (creating if needed) the SQLite database file `path`.
    pub async fn open_sqlite(path: &Path, settings: PoolSettings) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let pool = AnyPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(|conn, _meta| Box::pin(async move { sqlite_pragmas(conn).await }))
            .connect(&url)
            .await?;
        let pool = Pool::Lite(pool);
        let conn = open_writer(path)?;
        let kick = Arc::new(Notify::new());
        let state = Arc::new(Mutex::new(WriterState {
            conn,
            open: false,
            dirty: false,
            released: 0,
            outcome: Arc::new(watch::channel(None).0),
        }));
        let stats = health::StoreStats::default();
        tokio::spawn(Writer::committer(Arc::downgrade(&state), kick.clone(), stats.commit_batch.clone()));
        let writer = Writer { state, kick };
        let readers = Arc::new(sqlite::Readers::new(path, settings, stats.clone()));
        Ok(Store { pool, writer: Some(Arc::new(writer)), readers: Some(readers), backend: Backend::Sqlite, stats })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the pending expand steps, as a server does at start; safe when several replicas
    /// start at once.
    pub async fn migrate(&self) -> StoreResult<usize> {
        Ok(self.migrate_to(Phase::Expand).await?.steps)
    }

    /// The version the database is at, and the steps not applied yet.
    pub async fn schema_status(&self) -> StoreResult<(i64, Vec<(i64, Phase)>)> {
        let mut w = self.begin_write().await?;
        let at = migrations::current(w.conn()).await?;
        let pending = migrations::pending(at);
        w.commit().await?;
        Ok((at, pending))
    }

    /// Applies the pending steps up to `upto` (with [`Phase::Contract`], every one): a data
    /// step one batch per transaction (ADR 0035). The steps applied and the rows rewritten.
    pub async fn migrate_to(&self, upto: Phase) -> StoreResult<Applied> {
        let mut total = Applied::default();
        loop {
            let round = self.migrate_round(upto).await?;
            total.steps += round.steps;
            total.rows += round.rows;
            if !round.more {
                return Ok(total);
            }
        }
    }

    /// One transaction of [`Store::migrate_to`], under the migration lock.
    async fn migrate_round(&self, upto: Phase) -> StoreResult<Applied> {
        let mut w = self.begin_write().await?;
        let migrated = match self.backend {
            // One migrator at a time; the lock ends with the transaction.
            Backend::Postgres => match fetch_all(w.conn(), "SELECT pg_advisory_xact_lock(7270707370)", &[]).await {
                Ok(_) => migrations::run(w.conn(), upto).await,
                Err(e) => Err(e),
            },
            // MariaDB commits at every DDL statement, so no lock that ends with a transaction
            // would last: a named lock of the session does, taken and given back on the
            // migration's own connection (after its last commit), so that a pool of one
            // connection migrates too (ADR 0030).
            Backend::Mariadb => {
                let got = fetch_all(w.conn(), MARIADB_MIGRATION_LOCK, &[]).await?;
                if got.first().map(|r| r.get::<Option<i64>>(0)).transpose()?.flatten() != Some(1) {
                    return Err(StoreError::Busy("another server kept migrating the schema for 60 s".into()));
                }
                let migrated = match migrations::run(w.conn(), upto).await {
                    Ok(applied) => execute(w.conn(), "COMMIT", &[]).await.map(|_| applied),
                    Err(e) => Err(e),
                };
                // Given back whatever happened: the pooled session outlives this migration.
                fetch_all(w.conn(), "SELECT RELEASE_LOCK('vpnaas_migrate')", &[]).await?;
                migrated
            }
            Backend::Sqlite => migrations::run(w.conn(), upto).await,
        };
        match migrated {
            Ok(applied) => {
                w.commit().await?;
                Ok(applied)
            }
            // A named lock holds on one Galera node only: a server migrating through another
            // node at the same moment makes this one's next DDL fail (its table is there
            // already). Each DDL statement is ordered across the cluster, so exactly one of
            // them goes on; this one waits for it to finish (ADR 0030).
            Err(e) if self.backend == Backend::Mariadb => {
                drop(w);
                self.await_migration(e).await
            }
            Err(e) => Err(e),
        }
    }

    /// Waits up to a minute for another server's migration to bring the schema to the newest
    /// version; `failed` when it does not.
    async fn await_migration(&self, failed: StoreError) -> StoreResult<Applied> {
        for _ in 0..120 {
            if let Ok((at, newest)) = self.schema_versions().await {
                if at >= newest {
                    tracing::info!("another server migrated the schema meanwhile");
                    return Ok(Applied::default());
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(failed)
    }

    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        let asked = std::time::Instant::now();
        let Some(writer) = &self.writer else {
            let conn = self.pool.begin().await?;
            self.stats.waited("write", asked);
            return Ok(WriteTx { conn, backend: self.backend });
        };
        let mut state = writer.state.clone().lock_owned().await;
        self.stats.waited("write", asked);
        state.clean();
        if !state.open {
            if let Err(e) = state.run("BEGIN IMMEDIATE") {
                let _ = state.run("ROLLBACK");
                return Err(e);
            }
            state.open = true;
        }
        if let Err(e) = state.run("SAVEPOINT w") {
            state.abort(e.to_string());
            return Err(e);
        }
        let sp = Savepoint { state, kick: writer.kick.clone(), released: false };
        Ok(WriteTx { conn: Conn::Lite(sp), backend: self.backend })
    }

    /// Lists `T` in a read transaction of its own.
    pub async fn read_list<T: Table + Send + 'static>(&self, q: ListQuery) -> StoreResult<Vec<T>> {
        if let Some(readers) = &self.readers {
            return readers.run(move |conn| sqlite::list::<T>(conn, &q)).await;
        }
        let mut tx = self.begin_read().await?;
        let items = list::run::<T>(&mut tx, &q).await?;
        tx.commit().await?;
        Ok(items)
    }

    /// Reads one `T` in a read transaction of its own.
    pub async fn read_one<T: Table + Send + 'static>(&self, id: uuid::Uuid) -> StoreResult<Option<T>> {
        if let Some(readers) = &self.readers {
            return readers.run(move |conn| sqlite::get::<T>(conn, id)).await;
        }
        let mut tx = self.begin_read().await?;
        let item = tables::get::<T>(&mut tx, id).await?;
        tx.commit().await?;
        Ok(item)
    }

    /// A read transaction for an API client's request (or the server's own work).
    pub async fn begin_read(&self) -> StoreResult<ReadTx> {
        self.begin_read_in(sqlite::Lane::Api).await
    }

    /// A read transaction for the gateway API: on SQLite from the gateways' own readers, so
    /// that thousands of gateways' first polls never queue an API client's read (ADR 0026).
    /// PostgreSQL's pool is one budget: its connections are the database's to give.
    pub async fn begin_gateway_read(&self) -> StoreResult<ReadTx> {
        self.begin_read_in(sqlite::Lane::Gateway).await
    }

    async fn begin_read_in(&self, lane: sqlite::Lane) -> StoreResult<ReadTx> {
        if let Some(readers) = &self.readers {
            return Ok(ReadTx(Conn::Read(readers.begin(lane).await?)));
        }
        let asked = std::time::Instant::now();
        let conn = self.pool.begin().await?;
        self.stats.waited("read", asked);
        Ok(ReadTx(conn))
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

impl Conn {
    /// Whether this is a MariaDB transaction (for the one statement MariaDB says differently).
    pub fn is_mariadb(&self) -> bool {
        matches!(self, Conn::My(_))
    }
}

/// `$first, $first+1, ...`: `n` placeholders, for `VALUES (...)` and `IN (...)`.
pub(crate) fn marks(n: usize, first: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `values` as one driver's statement arguments (sqlx's PostgreSQL, MySQL or `Any`).
fn arguments<A>(values: &[Value]) -> StoreResult<A>
where
    A: Arguments<'static> + Default,
    String: sqlx::Encode<'static, A::Database> + sqlx::Type<A::Database>,
    Option<String>: sqlx::Encode<'static, A::Database> + sqlx::Type<A::Database>,
    i64: sqlx::Encode<'static, A::Database> + sqlx::Type<A::Database>,
{
    let mut args = A::default();
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

async fn fetch_all(conn: &mut Conn, sql: &str, values: &[Value]) -> StoreResult<Vec<Row>> {
    match conn {
        Conn::Pg(tx) => {
            let rows = sqlx::query_with(sql, arguments::<PgArguments>(values)?).fetch_all(&mut **tx).await?;
            Ok(rows.into_iter().map(Row::Pg).collect())
        }
        Conn::My(tx) => {
            let (sql, values) = mariadb::statement(sql, values)?;
            let rows = sqlx::query_with(&sql, arguments::<MySqlArguments>(&values)?).fetch_all(&mut **tx).await?;
            Ok(rows.into_iter().map(Row::My).collect())
        }
        Conn::Any(tx) => {
            let rows = sqlx::query_with(sql, arguments::<AnyArguments<'static>>(values)?).fetch_all(&mut **tx).await?;
            Ok(rows.into_iter().map(Row::Any).collect())
        }
        Conn::Lite(sp) => rows::lite_fetch(&sp.state.conn, sql, values),
        Conn::Read(r) => rows::lite_fetch(r.conn()?, sql, values),
    }
}

async fn execute(conn: &mut Conn, sql: &str, values: &[Value]) -> StoreResult<u64> {
    match conn {
        Conn::Pg(tx) => {
            Ok(sqlx::query_with(sql, arguments::<PgArguments>(values)?).execute(&mut **tx).await?.rows_affected())
        }
        Conn::My(tx) => {
            let (sql, values) = mariadb::statement(sql, values)?;
            Ok(sqlx::query_with(&sql, arguments::<MySqlArguments>(&values)?).execute(&mut **tx).await?.rows_affected())
        }
        Conn::Any(tx) => Ok(sqlx::query_with(sql, arguments::<AnyArguments<'static>>(values)?)
            .execute(&mut **tx)
            .await?
            .rows_affected()),
        Conn::Lite(sp) => rows::lite_execute(&sp.state.conn, sql, values),
        Conn::Read(r) => rows::lite_execute(r.conn()?, sql, values),
    }
}

/// Reads the first column of each row as text (ids of referring rows, for in-use checks).
async fn ids(conn: &mut Conn, sql: &str, values: &[Value]) -> StoreResult<Vec<String>> {
    let rows = fetch_all(conn, sql, values).await?;
    rows.iter().map(|r| r.get::<String>(0)).collect()
}

pub use tables::{delete, get, get_locked, insert, update};

/// Lists rows of `T` with filters, sorting and keyset pagination done by the database.
pub async fn list<T: Table>(conn: &mut Conn, q: &ListQuery) -> StoreResult<Vec<T>> {
    list::run::<T>(conn, q).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An update is written only over the revision it was read at: one made from a stale read
    /// is refused as a collision (run again), never written over the newer one (ADR 0031).
    #[tokio::test]
    async fn an_update_from_a_stale_read_is_a_collision_not_a_lost_update() {
        use vpnaas_core::resources::{IkePolicy, IkeSpec, Meta, Stored};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("cas.db"), PoolSettings::default()).await.unwrap();
        store.migrate().await.unwrap();
        let item: IkePolicy =
            Stored { meta: Meta::new("p1".into(), "first".into(), String::new(), 1), spec: IkeSpec::default() };
        let mut w = store.begin_write().await.unwrap();
        insert(w.conn(), &item).await.unwrap();
        w.commit().await.unwrap();

        // Two writers read revision 1; the first moves it to 2.
        let (mut one, mut two) = (item.clone(), item.clone());
        one.meta.name = "one".into();
        one.meta.touch(2);
        two.meta.name = "two".into();
        two.meta.touch(3);
        let mut w = store.begin_write().await.unwrap();
        assert!(update(w.conn(), &one).await.unwrap());
        w.commit().await.unwrap();

        let mut w = store.begin_write().await.unwrap();
        assert!(
            matches!(update(w.conn(), &two).await, Err(StoreError::Retry(_))),
            "the second read a revision gone by"
        );
        drop(w);
        let stored: IkePolicy = store.read_one(item.meta.id).await.unwrap().unwrap();
        assert_eq!((stored.meta.name.as_str(), stored.meta.revision_number), ("one", 2));

        let mut gone = one.clone();
        gone.meta.id = uuid::Uuid::new_v4();
        gone.meta.touch(4);
        let mut w = store.begin_write().await.unwrap();
        assert!(!update(w.conn(), &gone).await.unwrap(), "a row that is not there is not a collision");
    }

    #[tokio::test]
    async fn a_pool_whose_connections_are_all_in_use_is_busy_not_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        let settings = PoolSettings { max_connections: 1, acquire_timeout: Duration::from_millis(200) };
        let store = Store::open_sqlite(&dir.path().join("busy.db"), settings).await.unwrap();
        let held = store.begin_read().await.unwrap();
        match store.begin_read().await {
            Err(StoreError::Busy(_)) => {}
            Err(e) => panic!("the database answers, the pool is busy: {e}"),
            Ok(_) => panic!("one connection, and it is held"),
        }
        drop(held);
        assert!(store.begin_read().await.is_ok(), "free again");
    }

    #[tokio::test]
    async fn gateway_reads_never_take_an_api_clients_reader() {
        let dir = tempfile::tempdir().unwrap();
        let settings = PoolSettings { max_connections: 2, acquire_timeout: Duration::from_millis(200) };
        let store = Store::open_sqlite(&dir.path().join("lanes.db"), settings).await.unwrap();
        store.migrate().await.unwrap();
        // A fleet's first polls hold every gateway reader...
        let fleet = [store.begin_gateway_read().await.unwrap(), store.begin_gateway_read().await.unwrap()];
        assert!(matches!(store.begin_gateway_read().await, Err(StoreError::Busy(_))), "the gateways' lane is full");
        // ...and an API client still reads at once, inline and on the blocking pool.
        let mut api = store.begin_read().await.expect("an API client's read is not queued behind gateways");
        fetch_all(&mut api, "SELECT 1", &[]).await.unwrap();
        api.commit().await.unwrap();
        let page = store.read_list::<vpnaas_core::resources::IkePolicy>(ListQuery::default()).await;
        assert!(page.is_ok_and(|p| p.is_empty()));
        drop(fleet);
        assert!(store.begin_gateway_read().await.is_ok(), "free again");
    }

    #[tokio::test]
    async fn an_inline_read_sees_what_was_committed_before_it_began() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("inline.db"), PoolSettings::default()).await.unwrap();
        store.migrate().await.unwrap();
        let mut w = store.begin_write().await.unwrap();
        execute(w.conn(), "CREATE TABLE probe (n INTEGER PRIMARY KEY)", &[]).await.unwrap();
        execute(w.conn(), "INSERT INTO probe (n) VALUES (7)", &[]).await.unwrap();
        w.commit().await.unwrap();
        let mut r = store.begin_gateway_read().await.unwrap();
        let rows = fetch_all(&mut r, "SELECT n FROM probe", &[]).await.unwrap();
        assert_eq!(rows.iter().map(|row| row.get::<i64>(0).unwrap()).collect::<Vec<_>>(), [7]);
        // A reader refuses writes: a read transaction never changes the database.
        assert!(execute(&mut r, "INSERT INTO probe (n) VALUES (8)", &[]).await.is_err());
        drop(r);
        let mut again = store.begin_read().await.unwrap();
        assert_eq!(fetch_all(&mut again, "SELECT n FROM probe", &[]).await.unwrap().len(), 1, "dropped, rolled back");
    }
}
