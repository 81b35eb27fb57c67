//! The one clock of the server: real time, or `TAPIR_NOW` (RFC 3339) for simulated schedules.

use anyhow::{Context, Result};
use chrono::{DateTime, Local};

/// Now, honouring `TAPIR_NOW`.
pub fn now() -> Result<DateTime<Local>> {
    match std::env::var("TAPIR_NOW") {
        Ok(s) if !s.is_empty() => DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Local))
            .with_context(|| format!("TAPIR_NOW={s:?} is not an RFC 3339 time")),
        _ => Ok(Local::now()),
    }
}

/// Amanda-style datestamp `YYYYMMDDHHMMSS` (local time).
pub fn datestamp(t: &DateTime<Local>) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

/// Parse a datestamp back into a time (for ages and reports).
pub fn parse_datestamp(s: &str) -> Option<DateTime<Local>> {
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    naive.and_local_timezone(Local).earliest()
}

/// Nanoseconds since the epoch as RFC 3339 in UTC (`2026-01-01T02:00:00.123456789Z`).
pub fn rfc3339_ns(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
