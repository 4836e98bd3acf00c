//! The storage ceiling: the same connection rows written and read straight in SQLite (writes through sqlx's SQLite driver, as the server's writer; reads through rusqlite on blocking threads, as the server's readers), with vpnaas's durability settings and schema.
//!
//! The schema comes from `vpnaas migrate`, so it is exactly the server's. Each write is its
//! own transaction, as an API write is (WAL with `synchronous=FULL`: one fsync per commit),
//! on one connection, since SQLite has one writer at a time anyway and vpnaas serialises its
//! writers too. Reads run on up to 8 connections (the server's pool size) at the same
//! concurrency as the API run. Nothing else is done: no lookups of the referenced objects,
//! no rules, no JSON. What is left is the most the database itself allows.

use anyhow::anyhow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::Value as SqlValue;
use rusqlite::OpenFlags;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, Transaction};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::client::PROJECT;
use crate::load::{drive_fn, Bounds, Measure};
use crate::workload::{peer_cidr, OpKind, FULL, NEW, PAGE, PEER_ADDRESS};

/// The most readers run at once (the server allows as many as its pool size, 16 by default).
const MAX_READERS: usize = 8;

const INSERT: &str = "INSERT INTO ipsec_site_connections (id, project_id, name, description, peer_address,
    peer_id, local_id, route_mode, mtu, initiator, auth_mode, psk, dpd_action, dpd_interval, dpd_timeout,
    admin_state_up, status, vpnservice_id, ikepolicy_id, ipsecpolicy_id, local_ep_group_id, peer_ep_group_id,
    created_at, updated_at, revision_number)
    VALUES (?, ?, ?, ?, ?, ?, '', 'static', 1500, 'bi-directional', 'psk', ?, 'hold', 30, 120, 1,
    'PENDING_CREATE', ?, ?, ?, ?, ?, ?, ?, 0)";

/// Text and integer columns of a connection row, decoded as the server decodes them.
const TEXT: &[&str] = &[
    "id",
    "project_id",
    "name",
    "description",
    "peer_address",
    "peer_id",
    "local_id",
    "route_mode",
    "initiator",
    "auth_mode",
    "psk",
    "dpd_action",
    "status",
    "vpnservice_id",
    "ikepolicy_id",
    "ipsecpolicy_id",
];
const OPT_TEXT: &[&str] = &["local_ep_group_id", "peer_ep_group_id"];
const INT: &[&str] =
    &["mtu", "dpd_interval", "dpd_timeout", "admin_state_up", "created_at", "updated_at", "revision_number"];

fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The objects every connection row refers to, inserted directly.
struct Refs {
    vpnservice: String,
    ike: String,
    ipsec: String,
    local: String,
}

/// An open ceiling database and the rows it holds.
pub struct StorageCeiling {
    writer: SqlitePool,
    readers: Arc<Readers>,
    refs: Arc<Refs>,
    full_ids: Arc<Vec<String>>,
    page_ids: Arc<Vec<String>>,
    page_size: usize,
    pool: Arc<Mutex<Vec<String>>>,
    /// Peer groups made ahead for `create` (one per connection, as in the API run).
    groups: Arc<Mutex<Vec<(u64, String)>>>,
    counter: Arc<AtomicU64>,
}

fn options(db: &Path) -> SqliteConnectOptions {
    // ADR 0001 / store::open_sqlite: WAL, synchronous=FULL, foreign keys on, 5 s busy timeout.
    SqliteConnectOptions::new()
        .filename(db)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
}

impl StorageCeiling {
    /// Opens the migrated database `db` and inserts the referenced objects.
    pub async fn open(db: &Path, page_size: usize) -> anyhow::Result<StorageCeiling> {
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options(db)).await?;
        let readers =
            Arc::new(Readers { db: db.to_owned(), idle: Mutex::new(Vec::new()), permits: Semaphore::new(MAX_READERS) });
        let refs = Arc::new(insert_refs(&writer).await?);
        Ok(StorageCeiling {
            writer,
            readers,
            refs,
            full_ids: Arc::new(Vec::new()),
            page_ids: Arc::new(Vec::new()),
            page_size,
            pool: Arc::new(Mutex::new(Vec::new())),
            groups: Arc::new(Mutex::new(Vec::new())),
            counter: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Seeds `count` rows named `name`, each with its peer group, in large transactions
    /// (seeding is not measured).
    pub async fn seed(&mut self, name: &str, count: usize) -> anyhow::Result<()> {
        let mut ids = Vec::with_capacity(count);
        for chunk in 0..count.div_ceil(1000) {
            let mut tx = self.writer.begin().await?;
            for _ in (chunk * 1000)..count.min((chunk + 1) * 1000) {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                let group = insert_group(&mut tx, n).await?;
                ids.push(insert_row(&mut tx, &self.refs, name, n, &group).await?);
            }
            tx.commit().await?;
        }
        match name {
            FULL => self.full_ids = Arc::new(ids),
            PAGE => {
                ids.sort();
                self.page_ids = Arc::new(ids);
            }
            _ => self.pool.lock().map_err(|e| anyhow!("{e}"))?.extend(ids),
        }
        Ok(())
    }

    /// Makes sure `count` peer groups wait for `create`.
    pub async fn prepare_groups(&self, count: usize) -> anyhow::Result<()> {
        let have = self.groups.lock().map_or(0, |g| g.len());
        let mut tx = self.writer.begin().await?;
        let mut made = Vec::new();
        for _ in have..count {
            let n = self.counter.fetch_add(1, Ordering::Relaxed);
            made.push((n, insert_group(&mut tx, n).await?));
        }
        tx.commit().await?;
        self.groups.lock().map_err(|e| anyhow!("{e}"))?.extend(made);
        Ok(())
    }

    /// Rows available to `delete`.
    pub fn deletable(&self) -> usize {
        self.pool.lock().map_or(0, |p| p.len())
    }

    /// Runs the SQL behind `op` under `bounds`.
    pub async fn run(&self, op: OpKind, bounds: Bounds) -> Measure {
        let writer = self.writer.clone();
        let readers = self.readers.clone();
        let refs = self.refs.clone();
        let full = self.full_ids.clone();
        let page = self.page_ids.clone();
        let page_size = self.page_size;
        let pool = self.pool.clone();
        let groups = self.groups.clone();
        let pick = |ids: &[String], i: u64| -> String {
            let n = ids.len().max(1) as u64;
            ids.get(((i * 7919) % n) as usize).cloned().unwrap_or_default()
        };
        drive_fn(bounds, move |i| {
            let (writer, readers, refs, full, page, pool, groups) = (
                writer.clone(),
                readers.clone(),
                refs.clone(),
                full.clone(),
                page.clone(),
                pool.clone(),
                groups.clone(),
            );
            let target = pick(&full, i);
            let marker = pick(&page[..page.len().saturating_sub(page_size)], i);
            async move {
                match op {
                    OpKind::Create => {
                        let Some((n, group)) = groups.lock().ok().and_then(|mut g| g.pop()) else {
                            return Err(anyhow!("no peer group left to create with"));
                        };
                        let mut tx = writer.begin().await?;
                        let id = insert_row(&mut tx, &refs, NEW, n, &group).await?;
                        tx.commit().await?;
                        if let Ok(mut p) = pool.lock() {
                            p.push(id);
                        }
                        Ok(())
                    }
                    OpKind::Show => {
                        readers.read("SELECT * FROM ipsec_site_connections WHERE id = ?", vec![target.into()], 1).await
                    }
                    OpKind::List => {
                        let sql = "SELECT * FROM ipsec_site_connections WHERE project_id = ? ORDER BY id";
                        readers.read(sql, vec![PROJECT.to_owned().into()], full.len()).await
                    }
                    OpKind::Page => {
                        let sql = "SELECT * FROM ipsec_site_connections WHERE project_id = ? AND name = ? AND id > ?
                             ORDER BY id LIMIT ?";
                        let limit = i64::try_from(page_size).unwrap_or(i64::MAX);
                        let params =
                            vec![PROJECT.to_owned().into(), PAGE.to_owned().into(), marker.into(), limit.into()];
                        readers.read(sql, params, page_size).await
                    }
                    OpKind::Update => {
                        let mut tx = writer.begin().await?;
                        let n = sqlx::query(
                            "UPDATE ipsec_site_connections SET mtu = ?, description = ?, updated_at = ?,
                             revision_number = revision_number + 1 WHERE id = ?",
                        )
                        .bind(1400 + (i % 100) as i64)
                        .bind(format!("updated {i}"))
                        .bind(now_micros())
                        .bind(&target)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        tx.commit().await?;
                        if n == 1 {
                            Ok(())
                        } else {
                            Err(anyhow!("update touched {n} rows"))
                        }
                    }
                    OpKind::Delete => {
                        let Some(id) = pool.lock().ok().and_then(|mut p| p.pop()) else {
                            return Err(anyhow!("nothing left to delete"));
                        };
                        let mut tx = writer.begin().await?;
                        sqlx::query("DELETE FROM ipsec_peer_cidrs WHERE parent_id = ?")
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("DELETE FROM ipsec_site_connections WHERE id = ?")
                            .bind(&id)
                            .execute(&mut *tx)
                            .await?;
                        Ok(tx.commit().await?)
                    }
                }
            }
        })
        .await
    }

    pub async fn close(&self) {
        self.writer.close().await;
    }
}

/// Read-only connections, as the server's SQLite readers: at most [`MAX_READERS`] at once,
/// each read whole on a blocking thread.
struct Readers {
    db: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    permits: Semaphore,
}

impl Readers {
    async fn read(self: &Arc<Self>, sql: &'static str, params: Vec<SqlValue>, n: usize) -> anyhow::Result<()> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let popped = this.idle.lock().map_err(|e| anyhow!("{e}"))?.pop();
            let conn = match popped {
                Some(conn) => conn,
                None => {
                    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                    let conn = rusqlite::Connection::open_with_flags(&this.db, flags)?;
                    conn.busy_timeout(Duration::from_secs(5))?;
                    conn
                }
            };
            let read = expect_rows(&conn, sql, &params, n);
            if let Ok(mut idle) = this.idle.lock() {
                idle.push(conn);
            }
            read
        })
        .await?
    }
}

/// Reads every column of every row (the server decodes them too) and checks the count.
fn expect_rows(conn: &rusqlite::Connection, sql: &str, params: &[SqlValue], n: usize) -> anyhow::Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    let index = |names: &[&str]| -> anyhow::Result<Vec<usize>> {
        Ok(names.iter().map(|c| stmt.column_index(c)).collect::<Result<_, _>>()?)
    };
    let (text, opt_text, int) = (index(TEXT)?, index(OPT_TEXT)?, index(INT)?);
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let (mut count, mut bytes) = (0usize, 0usize);
    while let Some(row) = rows.next()? {
        count += 1;
        for c in &text {
            bytes += row.get::<_, String>(*c)?.len();
        }
        for c in &opt_text {
            bytes += row.get::<_, Option<String>>(*c)?.map_or(0, |s| s.len());
        }
        for c in &int {
            bytes += usize::from(row.get::<_, i64>(*c)? != 0);
        }
    }
    std::hint::black_box(bytes);
    if count != n {
        return Err(anyhow!("expected {n} rows, read {count}"));
    }
    Ok(())
}

async fn insert_row(
    tx: &mut Transaction<'static, Sqlite>,
    refs: &Refs,
    name: &str,
    i: u64,
    peer_group: &str,
) -> anyhow::Result<String> {
    let id = Uuid::new_v4().to_string();
    let now = now_micros();
    sqlx::query(INSERT)
        .bind(&id)
        .bind(PROJECT)
        .bind(name)
        .bind(format!("bench connection {i}"))
        .bind(PEER_ADDRESS)
        .bind(PEER_ADDRESS)
        .bind(format!("bench-secret-{i:08}"))
        .bind(&refs.vpnservice)
        .bind(&refs.ike)
        .bind(&refs.ipsec)
        .bind(&refs.local)
        .bind(peer_group)
        .bind(now)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| anyhow!("insert into the server's schema failed (has it changed?): {e}"))?;
    Ok(id)
}

/// Peer group `n` with its one CIDR, as the API run makes it.
async fn insert_group(tx: &mut Transaction<'static, Sqlite>, n: u64) -> anyhow::Result<String> {
    let id = Uuid::new_v4().to_string();
    let now = now_micros();
    sqlx::query(
        "INSERT INTO endpoint_groups (id, project_id, name, description, endpoint_type, created_at, updated_at,
         revision_number) VALUES (?, ?, ?, '', 'cidr', ?, ?, 0)",
    )
    .bind(&id)
    .bind(PROJECT)
    .bind(format!("peer-{n}"))
    .bind(now)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    sqlx::query("INSERT INTO endpoint_group_endpoints (parent_id, position, value) VALUES (?, 0, ?)")
        .bind(&id)
        .bind(peer_cidr(n))
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// The router, subnet, policies, service and local endpoint group a connection row refers to.
async fn insert_refs(writer: &SqlitePool) -> anyhow::Result<Refs> {
    let id = || Uuid::new_v4().to_string();
    let (router, subnet) = (id(), id());
    let refs = Refs { vpnservice: id(), ike: id(), ipsec: id(), local: id() };
    let now = now_micros();
    let statements: Vec<(String, Vec<String>)> = vec![
        (
            "INSERT INTO routers (id, project_id, name, description, admin_state_up, has_gateway, gw_network_id,
             gw_v4_ip, gw_v6_ip, created_at, updated_at, revision_number)
             VALUES (?, ?, 'bench-router', '', 1, 1, NULL, '172.24.4.10', NULL, ?, ?, 0)"
                .into(),
            vec![router.clone(), PROJECT.into()],
        ),
        (
            "INSERT INTO subnets (id, project_id, name, description, cidr, ip_version, network_id, router_id,
             created_at, updated_at, revision_number)
             VALUES (?, ?, 'bench-subnet', '', '10.1.0.0/24', 4, NULL, ?, ?, ?, 0)"
                .into(),
            vec![subnet.clone(), PROJECT.into(), router.clone()],
        ),
        (
            "INSERT INTO ikepolicies (id, project_id, name, description, auth_algorithm, encryption_algorithm,
             phase1_negotiation_mode, lifetime_units, lifetime_value, ike_version, pfs, created_at, updated_at,
             revision_number)
             VALUES (?, ?, 'bench-ike', '', 'sha256', 'aes-256', 'main', 'seconds', 3600, 'v2', 'group14', ?, ?, 0)"
                .into(),
            vec![refs.ike.clone(), PROJECT.into()],
        ),
        (
            "INSERT INTO ipsecpolicies (id, project_id, name, description, transform_protocol, auth_algorithm,
             encryption_algorithm, encapsulation_mode, lifetime_units, lifetime_value, pfs, created_at, updated_at,
             revision_number)
             VALUES (?, ?, 'bench-ipsec', '', 'esp', 'sha256', 'aes-256', 'tunnel', 'seconds', 3600, 'group14',
             ?, ?, 0)"
                .into(),
            vec![refs.ipsec.clone(), PROJECT.into()],
        ),
        (
            "INSERT INTO vpnservices (id, project_id, name, description, router_id, subnet_id, admin_state_up,
             external_v4_ip, external_v6_ip, status, created_at, updated_at, revision_number)
             VALUES (?, ?, 'bench-vpn', '', ?, NULL, 1, '172.24.4.10', NULL, 'PENDING_CREATE', ?, ?, 0)"
                .into(),
            vec![refs.vpnservice.clone(), PROJECT.into(), router.clone()],
        ),
        (
            "INSERT INTO endpoint_groups (id, project_id, name, description, endpoint_type, created_at, updated_at,
             revision_number) VALUES (?, ?, 'bench-local', '', 'subnet', ?, ?, 0)"
                .into(),
            vec![refs.local.clone(), PROJECT.into()],
        ),
    ];
    let mut tx = writer.begin().await?;
    for (sql, texts) in &statements {
        let mut q = sqlx::query(sql);
        for t in texts {
            q = q.bind(t);
        }
        q.bind(now).bind(now).execute(&mut *tx).await.map_err(|e| anyhow!("{e} in {sql}"))?;
    }
    sqlx::query("INSERT INTO endpoint_group_endpoints (parent_id, position, value) VALUES (?, 0, ?)")
        .bind(&refs.local)
        .bind(&subnet)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(refs)
}
