//! What the readiness probe and the metrics scrape ask of the database (ADR 0015), and the store's own measurements: group-commit batch sizes and the wait for a transaction.

use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use super::{fetch_all, migrations, Backend, Store, StoreError, StoreResult, Value};

/// Which wait a transaction had: the pool's (reads, and PostgreSQL's writes) or SQLite's one
/// writer (ADR 0012).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaitLabels {
    pub kind: &'static str,
}

fn acquire_histogram() -> Histogram {
    // 50 µs .. 5 s: an idle pool answers in microseconds; the timeout is seconds.
    Histogram::new([0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0])
}

/// The store's measurements; clones share their values (the metrics registry holds clones).
#[derive(Clone)]
pub struct StoreStats {
    /// Writes per SQLite group commit (one fsync).
    pub commit_batch: Histogram,
    /// Seconds from asking for a transaction to having it, by [`WaitLabels::kind`].
    pub acquire: Family<WaitLabels, Histogram, fn() -> Histogram>,
}

impl Default for StoreStats {
    fn default() -> Self {
        StoreStats {
            commit_batch: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
            acquire: Family::new_with_constructor(acquire_histogram),
        }
    }
}

impl StoreStats {
    /// Records how long a transaction of `kind` took to begin.
    pub(super) fn waited(&self, kind: &'static str, since: Instant) {
        self.acquire.get_or_create(&WaitLabels { kind }).observe(since.elapsed().as_secs_f64());
    }
}

/// The pool's connections now: open, idle, and the most it may open (on SQLite, the readers').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUse {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl Store {
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    pub fn pool_use(&self) -> PoolUse {
        let (open, idle, max) = match &self.readers {
            Some(readers) => readers.usage(),
            None => self.pool.usage(),
        };
        PoolUse { open, idle: u32::try_from(idle).unwrap_or(u32::MAX), max }
    }

    /// `SELECT 1` on a pooled connection: the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.begin_read().await?;
        fetch_all(&mut conn, "SELECT 1", &[]).await?;
        Ok(())
    }

    /// Why this server's database node may not serve, on a Galera node that is not ready
    /// (`wsrep_ready` off) or not in the primary component; `None` when it may, and on every
    /// database that is no Galera node.
    pub async fn cluster_trouble(&self) -> StoreResult<Option<String>> {
        if self.backend != Backend::Mariadb {
            return Ok(None);
        }
        let mut conn = self.begin_read().await?;
        let on = fetch_all(&mut conn, "SHOW VARIABLES LIKE 'wsrep_on'", &[]).await?;
        if on.first().map(|r| r.get::<String>(1)).transpose()?.is_none_or(|v| v != "ON") {
            return Ok(None);
        }
        let sql =
            "SHOW STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status', 'wsrep_local_state_comment')";
        let mut status = std::collections::HashMap::new();
        for row in fetch_all(&mut conn, sql, &[]).await? {
            status.insert(row.get::<String>(0)?, row.get::<String>(1)?);
        }
        let get = |k: &str| status.get(k).map_or("unknown", String::as_str);
        let (ready, component, state) =
            (get("wsrep_ready"), get("wsrep_cluster_status"), get("wsrep_local_state_comment"));
        Ok((ready != "ON" || component != "Primary").then(|| {
            format!("the Galera node is not ready (wsrep_ready {ready}, component {component}, state {state})")
        }))
    }

    /// The schema version the database is at, and the newest this server knows.
    pub async fn schema_versions(&self) -> StoreResult<(i64, i64)> {
        let mut conn = self.begin_read().await?;
        let rows = fetch_all(&mut conn, "SELECT MAX(version) FROM schema_migrations", &[]).await?;
        let at: Option<i64> = match rows.first() {
            Some(r) => r.get(0)?,
            None => None,
        };
        Ok((at.unwrap_or(0), migrations::latest()))
    }

    /// How many site connections are in each status: one statement, counts only.
    pub async fn connections_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        let mut conn = self.begin_read().await?;
        let rows =
            fetch_all(&mut conn, "SELECT status, COUNT(*) FROM ipsec_site_connections GROUP BY status", &[]).await?;
        rows.iter().map(|r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?))).collect()
    }

    /// Site connections whose IKE or IPsec policy uses a word outside `restrictions` (an
    /// attribute, which is also its column, and its allowed words), of `project` or of every
    /// project (ADR 0042). The columns are the algorithm policy's fixed names, never a caller's.
    pub async fn connections_not_allowed(
        &self,
        restrictions: &[(&'static str, Vec<&'static str>)],
        project: Option<&str>,
    ) -> StoreResult<i64> {
        if restrictions.is_empty() {
            return Ok(0);
        }
        let mut values: Vec<Value> = Vec::new();
        let mut refused = Vec::new();
        for (column, allowed) in restrictions {
            for table in ["i", "p"] {
                let mut marks = Vec::with_capacity(allowed.len());
                for word in allowed {
                    values.push((*word).into());
                    marks.push(format!("${}", values.len()));
                }
                refused.push(format!("{table}.{column} NOT IN ({})", marks.join(", ")));
            }
        }
        let mut sql = format!(
            "SELECT COUNT(*) FROM ipsec_site_connections c JOIN ikepolicies i ON i.id = c.ikepolicy_id \
             JOIN ipsecpolicies p ON p.id = c.ipsecpolicy_id WHERE ({})",
            refused.join(" OR ")
        );
        if let Some(project) = project {
            values.push(project.into());
            sql.push_str(&format!(" AND c.project_id = ${}", values.len()));
        }
        let mut conn = self.begin_read().await?;
        let rows = fetch_all(&mut conn, &sql, &values).await?;
        conn.commit().await?;
        rows.first().map_or(Ok(0), |r| r.get::<i64>(0))
    }

    /// Gateways (single-router agents, then host agents) heard from at or after `cutoff`
    /// (microseconds), and all of them: `[(alive, total); 2]`.
    pub async fn gateways_alive(&self, cutoff: i64) -> StoreResult<[(i64, i64); 2]> {
        let mut conn = self.begin_read().await?;
        let sql = "SELECT CAST(0 AS BIGINT), COUNT(CASE WHEN last_seen >= $1 THEN 1 END), COUNT(*) FROM gateway_agents \
                   UNION ALL SELECT CAST(1 AS BIGINT), COUNT(CASE WHEN last_seen >= $1 THEN 1 END), COUNT(*) FROM gateway_hosts";
        let rows = fetch_all(&mut conn, sql, &[cutoff.into()]).await?;
        let mut out = [(0, 0); 2];
        for r in &rows {
            let which: i64 = r.get(0)?;
            let slot = out
                .get_mut(usize::try_from(which).unwrap_or(usize::MAX))
                .ok_or_else(|| StoreError::Corrupt("unexpected gateway count row".into()))?;
            *slot = (r.get(1)?, r.get(2)?);
        }
        Ok(out)
    }
}
