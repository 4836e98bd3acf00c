//! Wall-clock time as microseconds since the Unix epoch, and its two renderings.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_micros() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn datetime(micros: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 3339 in UTC to the second, as Neutron renders its standard attributes (`2026-11-22T03:41:42Z`).
pub fn rfc3339(micros: i64) -> String {
    let dt = datetime(micros);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// `2018-11-03 14:24:33.749714` in UTC, the Open Telekom Cloud document's rendering.
pub fn space_micros(micros: i64) -> String {
    let dt = datetime(micros);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.microsecond()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_renders_utc_seconds() {
        assert_eq!(super::rfc3339(1_700_000_000_123_456), "2023-11-14T22:13:20Z");
        assert_eq!(super::space_micros(1_700_000_000_000_456), "2023-11-14 22:13:20.000456");
    }
}
