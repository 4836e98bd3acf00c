//! What the readiness probe asks of the database (ADR 0015).

use sqlx::Row;

use super::{fetch_all, migrations, Store, StoreResult};

impl Store {
    /// `SELECT 1` on a pooled connection: the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        fetch_all(&mut conn, "SELECT 1", &[]).await?;
        Ok(())
    }

    /// The schema version the database is at, and the newest this server knows.
    pub async fn schema_versions(&self) -> StoreResult<(i64, i64)> {
        let mut conn = self.pool.acquire().await?;
        let rows = fetch_all(&mut conn, "SELECT MAX(version) FROM schema_migrations", &[]).await?;
        let at: Option<i64> = match rows.first() {
            Some(r) => r.try_get(0)?,
            None => None,
        };
        Ok((at.unwrap_or(0), migrations::latest()))
    }
}
