//! MariaDB's dialect: the store's statements, written once with `$n` placeholders for SQLite
//! and PostgreSQL, as MariaDB takes them (ADR 0030).
//!
//! The translation is mechanical and covers only what the store writes (never a caller's
//! text): `$n` becomes `?` with the arguments repeated in the order they are named,
//! `ON CONFLICT (...) DO UPDATE SET` becomes `ON DUPLICATE KEY UPDATE`, `ON CONFLICT (...)
//! DO NOTHING` becomes a no-op update of the key's first column, and `CAST(... AS BIGINT)`
//! becomes `CAST(... AS SIGNED)`. `UPDATE ... RETURNING` has no MariaDB form; its one use
//! (the change-marker counter) asks [`super::Conn::is_mariadb`] and writes both.

use std::borrow::Cow;

use super::{StoreError, StoreResult, Value};

/// `sql` and its `values` as MariaDB runs them.
pub(super) fn statement(sql: &str, values: &[Value]) -> StoreResult<(String, Vec<Value>)> {
    let sql = dialect(sql);
    let mut out = String::with_capacity(sql.len());
    let mut args = Vec::with_capacity(values.len());
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        let mut digits = 0;
        while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
            n = n * 10 + (d as usize - '0' as usize);
            digits += 1;
            chars.next();
        }
        if digits == 0 {
            out.push('$');
            continue;
        }
        let value = n
            .checked_sub(1)
            .and_then(|i| values.get(i))
            .ok_or_else(|| StoreError::Corrupt(format!("parameter ${n} has no value")))?;
        args.push(value.clone());
        out.push('?');
    }
    Ok((out, args))
}

fn dialect(sql: &str) -> Cow<'_, str> {
    if !(sql.contains("ON CONFLICT (") || sql.contains(" AS BIGINT)")) {
        return Cow::Borrowed(sql);
    }
    let mut out = sql.replace(" AS BIGINT)", " AS SIGNED)");
    while let Some(start) = out.find("ON CONFLICT (") {
        let keys_at = start + "ON CONFLICT (".len();
        let Some(close) = out[keys_at..].find(')').map(|i| keys_at + i) else { break };
        let first_key = out[keys_at..close].split(',').next().unwrap_or("").trim().to_owned();
        let rest = &out[close + 1..];
        let (with, skip) = if rest.starts_with(" DO NOTHING") {
            (format!("ON DUPLICATE KEY UPDATE {first_key} = {first_key}"), " DO NOTHING".len())
        } else if rest.starts_with(" DO UPDATE SET") {
            ("ON DUPLICATE KEY UPDATE".to_owned(), " DO UPDATE SET".len())
        } else {
            break;
        };
        out.replace_range(start..close + 1 + skip, &with);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks_with_their_values_in_order() {
        let values = [Value::Text("a".into()), Value::Int(2)];
        let (sql, args) = statement("UPDATE t SET x = $2 WHERE id = $1 AND y = $2", &values).unwrap();
        assert_eq!(sql, "UPDATE t SET x = ? WHERE id = ? AND y = ?");
        assert_eq!(args, [Value::Int(2), Value::Text("a".into()), Value::Int(2)]);
        assert!(statement("SELECT $3", &values).is_err(), "a parameter without a value");
        assert_eq!(statement("SELECT 1", &[]).unwrap().0, "SELECT 1");
    }

    #[test]
    fn upserts_and_casts_are_said_as_mariadb_says_them() {
        let (sql, _) = statement(
            "INSERT INTO h (host, seq) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET seq = $2",
            &[Value::Text("h".into()), Value::Int(1)],
        )
        .unwrap();
        assert_eq!(sql, "INSERT INTO h (host, seq) VALUES (?, ?) ON DUPLICATE KEY UPDATE seq = ?");
        let (sql, _) = statement("INSERT INTO e (a, b) VALUES (1, 2) ON CONFLICT (a, b) DO NOTHING", &[]).unwrap();
        assert_eq!(sql, "INSERT INTO e (a, b) VALUES (1, 2) ON DUPLICATE KEY UPDATE a = a");
        let (sql, _) = statement("SELECT CAST(0 AS BIGINT), COUNT(*) FROM g", &[]).unwrap();
        assert_eq!(sql, "SELECT CAST(0 AS SIGNED), COUNT(*) FROM g");
    }
}
