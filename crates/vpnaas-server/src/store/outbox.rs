//! The notification outbox (ADR 0043): messages written in the transaction of the change they
//! describe, claimed by one replica's relay at a time, removed once the broker confirmed them.

use super::{execute, fetch_all, marks, Conn, Store, StoreResult};
use crate::notifications::Outgoing;

/// Adds messages to the outbox, in the caller's transaction: one statement per [`CHUNK`].
pub async fn add(conn: &mut Conn, messages: &[Outgoing]) -> StoreResult<()> {
    for chunk in messages.chunks(CHUNK) {
        let rows: Vec<String> = (0..chunk.len()).map(|i| format!("({}, 0)", marks(4, 4 * i + 1))).collect();
        let sql = format!(
            "INSERT INTO notification_outbox (message_id, created_at, body, routing_key, claimed_until) VALUES {}",
            rows.join(", ")
        );
        let mut values = Vec::with_capacity(4 * chunk.len());
        for m in chunk {
            values.push(m.message_id.as_str().into());
            values.push(m.created_at.into());
            values.push(m.body.as_str().into());
            values.push(m.routing_key.clone().into());
        }
        execute(conn, &sql, &values).await?;
    }
    Ok(())
}

/// At most this many rows or ids in one statement.
const CHUNK: usize = 500;

impl Store {
    /// Claims up to `limit` of the oldest messages no relay holds (or whose claim ran out at
    /// `now`) until `until`, for this relay; each claim is a compare-and-set, so two relays
    /// never hold one message at once. The claimed messages, oldest first.
    pub async fn claim_outbox(&self, now: i64, until: i64, limit: i64) -> StoreResult<Vec<Outgoing>> {
        if self.backend() == super::Backend::Sqlite {
            return self.read_outbox(limit).await;
        }
        let mut w = self.begin_write().await?;
        let sql = "SELECT message_id, created_at, claimed_until, body, routing_key FROM notification_outbox \
                   WHERE claimed_until < $1 ORDER BY created_at, message_id LIMIT $2";
        let rows = fetch_all(w.conn(), sql, &[now.into(), limit.into()]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let (id, seen): (String, i64) = (r.get(0)?, r.get(2)?);
            let claim =
                "UPDATE notification_outbox SET claimed_until = $1 WHERE message_id = $2 AND claimed_until = $3";
            if execute(w.conn(), claim, &[until.into(), id.as_str().into(), seen.into()]).await? == 1 {
                out.push(Outgoing { message_id: id, created_at: r.get(1)?, body: r.get(3)?, routing_key: r.get(4)? });
            }
        }
        w.commit().await?;
        Ok(out)
    }

    /// SQLite's outbox has one relay, this process's (SQLite is one server's): it reads the
    /// oldest messages without claiming them, so that a round costs the single writer nothing
    /// but the removal of what the broker confirmed.
    async fn read_outbox(&self, limit: i64) -> StoreResult<Vec<Outgoing>> {
        let mut conn = self.begin_read().await?;
        let sql = "SELECT message_id, created_at, body, routing_key FROM notification_outbox \
                   ORDER BY created_at, message_id LIMIT $1";
        let rows = fetch_all(&mut conn, sql, &[limit.into()]).await?;
        conn.commit().await?;
        rows.iter()
            .map(|r| {
                Ok(Outgoing { message_id: r.get(0)?, created_at: r.get(1)?, body: r.get(2)?, routing_key: r.get(3)? })
            })
            .collect()
    }

    /// Removes messages the broker confirmed.
    pub async fn remove_outbox(&self, ids: &[String]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            let sql = format!("DELETE FROM notification_outbox WHERE message_id IN ({})", marks(chunk.len(), 1));
            let values: Vec<_> = chunk.iter().map(|id| id.as_str().into()).collect();
            execute(w.conn(), &sql, &values).await?;
        }
        w.commit().await
    }

    /// Gives claimed messages back at once (the broker went away before confirming them).
    pub async fn release_outbox(&self, ids: &[String]) -> StoreResult<()> {
        if ids.is_empty() || self.backend() == super::Backend::Sqlite {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE notification_outbox SET claimed_until = 0 WHERE message_id IN ({})",
                marks(chunk.len(), 1)
            );
            let values: Vec<_> = chunk.iter().map(|id| id.as_str().into()).collect();
            execute(w.conn(), &sql, &values).await?;
        }
        w.commit().await
    }

    /// How many messages wait, and when the oldest was written (microseconds), for `/metrics`.
    pub async fn outbox_backlog(&self) -> StoreResult<(i64, Option<i64>)> {
        let mut conn = self.begin_read().await?;
        let rows = fetch_all(&mut conn, "SELECT COUNT(*), MIN(created_at) FROM notification_outbox", &[]).await?;
        conn.commit().await?;
        match rows.first() {
            Some(r) => Ok((r.get(0)?, r.get::<Option<i64>>(1)?)),
            None => Ok((0, None)),
        }
    }
}
