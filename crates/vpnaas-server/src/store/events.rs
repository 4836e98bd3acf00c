//! The statements of connections' negotiation events (ADR 0018): stored as agents report them, at most [`KEEP`] per connection, read newest last.

use uuid::Uuid;
use vpnaas_core::tunnel::{DownReason, EventKind, TunnelEvent, MAX_EVENT_MESSAGE};

use super::{execute, fetch_all, Conn, StoreResult, Value};

/// Events kept per connection; older ones are deleted as new ones arrive.
pub const KEEP: i64 = 50;

/// Stores a connection's reported events (an event stored before, from a report sent twice,
/// is stored once) and deletes all but its newest [`KEEP`].
pub async fn record(conn: &mut Conn, connection: Uuid, events: &[TunnelEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let id = connection.to_string();
    for e in events {
        execute(
            conn,
            "INSERT INTO connection_events (connection_id, at, seq, kind, reason, message) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (connection_id, at, seq) DO NOTHING",
            &[
                id.as_str().into(),
                e.at.into(),
                i64::try_from(e.seq).unwrap_or(i64::MAX).into(),
                e.kind.as_str().into(),
                Value::OptText(e.reason.map(|r| r.as_str().to_owned())),
                e.message.chars().take(MAX_EVENT_MESSAGE).collect::<String>().into(),
            ],
        )
        .await?;
    }
    // The newest KEEP by (at, seq) stay: everything older than the KEEP-th is deleted.
    execute(
        conn,
        "DELETE FROM connection_events WHERE connection_id = $1 AND at < \
         (SELECT at FROM connection_events WHERE connection_id = $1 ORDER BY at DESC, seq DESC LIMIT 1 OFFSET $2)",
        &[id.as_str().into(), (KEEP - 1).into()],
    )
    .await?;
    Ok(())
}

/// A connection's stored events, oldest first.
pub async fn list(conn: &mut Conn, connection: Uuid) -> StoreResult<Vec<TunnelEvent>> {
    let rows = fetch_all(
        conn,
        "SELECT at, seq, kind, reason, message FROM connection_events WHERE connection_id = $1 \
         ORDER BY at DESC, seq DESC LIMIT $2",
        &[connection.to_string().into(), KEEP.into()],
    )
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(TunnelEvent {
                at: r.get(0)?,
                seq: u64::try_from(r.get::<i64>(1)?).unwrap_or(0),
                kind: EventKind::parse(&r.get::<String>(2)?),
                reason: r.get::<Option<String>>(3)?.map(|t| DownReason::parse(&t)),
                message: r.get(4)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.reverse();
    Ok(out)
}
