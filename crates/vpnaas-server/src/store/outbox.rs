//! The notification outbox (ADRs 0043, 0047): one row per write, holding its messages, written
//! in the transaction of the change it describes, claimed by one replica's relay at a time,
//! removed once the broker confirmed all its messages.
//!
//! This release writes `notification_batches`. The previous release wrote one row per message
//! into `notification_outbox`; a relay of this release drains that table too, so that nothing
//! a replica of the previous release wrote during a rolling upgrade is left behind.

use super::{execute, fetch_all, marks, Conn, Store, StoreResult};
use crate::notifications::{Form, Outgoing};

/// Adds rows to the outbox, in the caller's transaction: one statement per [`CHUNK`].
pub async fn add(conn: &mut Conn, rows: &[Outgoing]) -> StoreResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let marks: Vec<String> = (0..chunk.len()).map(|i| format!("({}, 0)", marks(5, 5 * i + 1))).collect();
        let sql = format!(
            "INSERT INTO notification_batches (batch_id, created_at, messages, body, routing_key, claimed_until) VALUES {}",
            marks.join(", ")
        );
        let mut values = Vec::with_capacity(5 * chunk.len());
        for r in chunk {
            values.push(r.id.as_str().into());
            values.push(r.created_at.into());
            values.push(r.messages.into());
            values.push(r.body.as_str().into());
            values.push(r.routing_key.clone().into());
        }
        execute(conn, &sql, &values).await?;
    }
    Ok(())
}

/// At most this many rows or ids in one statement.
const CHUNK: usize = 500;

/// One of the outbox's tables.
struct Table {
    name: &'static str,
    key: &'static str,
    /// How many messages a row holds, as a column expression.
    messages: &'static str,
    /// Oldest first.
    order: &'static str,
    form: Form,
}

/// The previous release's table, drained first: its rows are the older ones.
const TABLES: [Table; 2] = [
    Table {
        name: "notification_outbox",
        key: "message_id",
        // Typed, so that PostgreSQL reads it as a BIGINT and not an INT.
        messages: "CAST(1 AS BIGINT)",
        order: "created_at, message_id",
        form: Form::Envelope,
    },
    Table { name: "notification_batches", key: "batch_id", messages: "messages", order: "batch_id", form: Form::Batch },
];

impl Table {
    /// Its oldest rows `filter` keeps, at most `limit` (a placeholder): the columns [`row`]
    /// reads, then `claimed_until`.
    fn select(&self, filter: &str, limit: &str) -> String {
        format!(
            "SELECT {}, created_at, {}, body, routing_key, claimed_until FROM {} {filter} ORDER BY {} LIMIT {limit}",
            self.key, self.messages, self.name, self.order
        )
    }
}

fn table(form: Form) -> &'static Table {
    match form {
        Form::Envelope => &TABLES[0],
        Form::Batch => &TABLES[1],
    }
}

fn row(t: &Table, r: &super::rows::Row) -> StoreResult<Outgoing> {
    Ok(Outgoing {
        id: r.get(0)?,
        created_at: r.get(1)?,
        messages: r.get(2)?,
        body: r.get(3)?,
        routing_key: r.get(4)?,
        form: t.form,
    })
}

impl Store {
    /// Claims up to `limit` of the oldest rows no relay holds (or whose claim ran out at `now`)
    /// until `until`, for this relay; each claim is a compare-and-set, so two relays never hold
    /// one row at once. The claimed rows, oldest first.
    pub async fn claim_outbox(&self, now: i64, until: i64, limit: i64) -> StoreResult<Vec<Outgoing>> {
        if self.backend() == super::Backend::Sqlite {
            return self.read_outbox(limit).await;
        }
        let mut w = self.begin_write().await?;
        let mut out = Vec::new();
        for t in &TABLES {
            let left = limit - i64::try_from(out.len()).unwrap_or(i64::MAX);
            if left <= 0 {
                break;
            }
            let sql = t.select("WHERE claimed_until < $1", "$2");
            let rows = fetch_all(w.conn(), &sql, &[now.into(), left.into()]).await?;
            let claim = format!("UPDATE {} SET claimed_until = $1 WHERE {} = $2 AND claimed_until = $3", t.name, t.key);
            for r in &rows {
                let item = row(t, r)?;
                let seen: i64 = r.get(5)?;
                if execute(w.conn(), &claim, &[until.into(), item.id.as_str().into(), seen.into()]).await? == 1 {
                    out.push(item);
                }
            }
        }
        w.commit().await?;
        Ok(out)
    }

    /// SQLite's outbox has one relay, this process's (SQLite is one server's): it reads the
    /// oldest rows without claiming them, so that a round costs the single writer nothing but
    /// the removal of what the broker confirmed.
    async fn read_outbox(&self, limit: i64) -> StoreResult<Vec<Outgoing>> {
        let mut conn = self.begin_read().await?;
        let mut out = Vec::new();
        for t in &TABLES {
            let left = limit - i64::try_from(out.len()).unwrap_or(i64::MAX);
            if left <= 0 {
                break;
            }
            let sql = t.select("", "$1");
            for r in &fetch_all(&mut conn, &sql, &[left.into()]).await? {
                out.push(row(t, r)?);
            }
        }
        conn.commit().await?;
        Ok(out)
    }

    /// Removes rows whose every message the broker confirmed.
    pub async fn remove_outbox(&self, rows: &[&Outgoing]) -> StoreResult<()> {
        self.each_table(rows, |t| format!("DELETE FROM {} WHERE {} IN ", t.name, t.key)).await
    }

    /// Gives claimed rows back at once (the broker went away before confirming them).
    pub async fn release_outbox(&self, rows: &[&Outgoing]) -> StoreResult<()> {
        if self.backend() == super::Backend::Sqlite {
            return Ok(());
        }
        self.each_table(rows, |t| format!("UPDATE {} SET claimed_until = 0 WHERE {} IN ", t.name, t.key)).await
    }

    /// Runs `statement` (up to its list of keys) over `rows`, table by table, in one transaction.
    async fn each_table(&self, rows: &[&Outgoing], statement: impl Fn(&Table) -> String) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut w = self.begin_write().await?;
        for form in [Form::Envelope, Form::Batch] {
            let ids: Vec<&str> = rows.iter().filter(|r| r.form == form).map(|r| r.id.as_str()).collect();
            for chunk in ids.chunks(CHUNK) {
                let sql = format!("{}({})", statement(table(form)), marks(chunk.len(), 1));
                let values: Vec<_> = chunk.iter().map(|id| (*id).into()).collect();
                execute(w.conn(), &sql, &values).await?;
            }
        }
        w.commit().await
    }

    /// How many messages wait, and when the oldest was written (microseconds), for `/metrics`.
    pub async fn outbox_backlog(&self) -> StoreResult<(i64, Option<i64>)> {
        let mut conn = self.begin_read().await?;
        let (mut count, mut oldest) = (0, None::<i64>);
        for t in &TABLES {
            let sql =
                format!("SELECT COALESCE(CAST(SUM({}) AS BIGINT), 0), MIN(created_at) FROM {}", t.messages, t.name);
            if let Some(r) = fetch_all(&mut conn, &sql, &[]).await?.first() {
                count += r.get::<i64>(0)?;
                if let Some(at) = r.get::<Option<i64>>(1)? {
                    oldest = Some(oldest.map_or(at, |o| o.min(at)));
                }
            }
        }
        conn.commit().await?;
        Ok((count, oldest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notifications::tests::publisher;
    use crate::notifications::{context, head, Requester};
    use crate::store::PoolSettings;

    #[tokio::test]
    async fn rows_of_both_releases_are_read_oldest_first_counted_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("outbox.db"), PoolSettings::default()).await.unwrap();
        store.migrate().await.unwrap();
        let roles = ["member".to_owned()];
        let who = Requester { project: "p1", user: None, roles: &roles, is_admin: false, request_id: "req-1" };
        let p = publisher();
        let heads = [head(&p, "ikepolicy.create.start", "{}", 5), head(&p, "ikepolicy.create.end", "{}", 5)];
        let rows =
            [Outgoing::batch(&heads, &context(&who, 5), None), Outgoing::batch(&heads[..1], &context(&who, 6), None)];
        let mut w = store.begin_write().await.unwrap();
        add(w.conn(), &rows).await.unwrap();
        // A message the previous release wrote, in its envelope, into its own table.
        let old = "{\"oslo.version\": \"2.0\", \"oslo.message\": \"{}\"}";
        execute(
            w.conn(),
            "INSERT INTO notification_outbox (message_id, created_at, body, routing_key, claimed_until) \
             VALUES ('11111111-2222-4333-8444-555555555555', 1, $1, NULL, 0)",
            &[old.into()],
        )
        .await
        .unwrap();
        w.commit().await.unwrap();

        let (count, oldest) = store.outbox_backlog().await.unwrap();
        assert_eq!((count, oldest), (4, Some(1)), "messages, not rows");
        let got = store.claim_outbox(10, 20, 10).await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].form, got[0].body.as_str()), (Form::Envelope, old), "the previous release's first");
        assert_eq!(got[0].unpack().unwrap()[0].message_id, "11111111-2222-4333-8444-555555555555");
        assert_eq!(&got[1..], &rows[..]);
        assert_eq!(got[1].unpack().unwrap().len(), 2);
        assert_eq!(store.claim_outbox(10, 20, 2).await.unwrap().len(), 2, "the limit counts rows of both tables");

        store.remove_outbox(&[&got[0], &got[2]]).await.unwrap();
        let left = store.claim_outbox(10, 20, 10).await.unwrap();
        assert_eq!(left, vec![rows[0].clone()]);
        assert_eq!(store.outbox_backlog().await.unwrap(), (2, Some(rows[0].created_at)));
    }
}
