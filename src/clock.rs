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

/// How far the clock may stand behind the catalog's newest datestamp before `dump` refuses
/// (a little NTP correction; within it the run is dated just after the newest).
pub const SETBACK_TOLERANCE: chrono::Duration = chrono::Duration::minutes(5);

/// Why `now` may not date a new run: it is earlier than `newest` (a catalog datestamp)
/// by more than [`SETBACK_TOLERANCE`]. `Ok` gives the time to date it by: now, or one
/// second after `newest` when the clock stands a little behind it, so that the order of
/// datestamps is always the order of writing ("latest" and "oldest tape" follow it).
pub fn not_before(
    now: DateTime<Local>,
    newest: Option<&str>,
) -> Result<DateTime<Local>, crate::error::Error> {
    let Some((ds, t)) = newest.and_then(|d| parse_datestamp(d).map(|t| (d, t))) else {
        return Ok(now);
    };
    if now + SETBACK_TOLERANCE < t {
        let why = format!(
            "the clock says {}, earlier than the newest dump in the catalog ({}, datestamp \
             {ds}) by {}: a run now would be dated before it, a default restore would return \
             the older state and rotation would overwrite the newest tape",
            now.format("%Y-%m-%d %H:%M:%S %Z"),
            t.format("%Y-%m-%d %H:%M:%S %Z"),
            human_span(t - now)
        );
        return Err(crate::error::Error::config(why).hint(
            "set the clock right (`timedatectl`, NTP) and run again; `tapir check` compares \
             the two. If the clock is right and that dump was dated by a clock that ran \
             ahead, `tapir dump --after-newest` dates this run one second after it",
        ));
    }
    Ok(if datestamp(&now).as_str() <= ds {
        t + chrono::Duration::seconds(1)
    } else {
        now
    })
}

/// One second after `newest` (a datestamp), or `now` when there is none or it is earlier.
pub fn just_after(newest: Option<&str>, now: DateTime<Local>) -> DateTime<Local> {
    newest
        .and_then(parse_datestamp)
        .map(|t| t + chrono::Duration::seconds(1))
        .filter(|t| *t > now)
        .unwrap_or(now)
}

/// `5 days 3 h`, `12 min`: a span for messages.
pub fn human_span(d: chrono::Duration) -> String {
    let s = d.num_seconds().abs();
    match s {
        s if s >= 86_400 => format!("{} day(s) {} h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
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

/// A datestamp as people read it: `2026-12-01 01:30` (local time); as given if malformed.
/// A bound a date was widened to (`20200101999999`, see `fetch::date_bound`) shows as the
/// last instant it stands for.
pub fn show_datestamp(ds: &str) -> String {
    readable(ds).map_or(ds.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// A datestamp, or a bound whose fields run past their range (`…999999`) clamped to the
/// last valid value of each: `20200101999999` is 2020-01-01 23:59:59.
fn readable(ds: &str) -> Option<chrono::NaiveDateTime> {
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(ds, "%Y%m%d%H%M%S") {
        return Some(t);
    }
    if ds.len() != 14 || !ds.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |a: usize, b: usize| ds[a..b].parse::<u32>().ok();
    let (y, mo) = (n(0, 4)? as i32, n(4, 6)?.clamp(1, 12));
    let last_day = (28..=31)
        .rev()
        .find(|d| chrono::NaiveDate::from_ymd_opt(y, mo, *d).is_some())?;
    let date = chrono::NaiveDate::from_ymd_opt(y, mo, n(6, 8)?.clamp(1, last_day))?;
    date.and_hms_opt(n(8, 10)?.min(23), n(10, 12)?.min(59), n(12, 14)?.min(59))
}

/// A datestamp with its seconds: `2026-12-01 01:30:05` (local time); as given if malformed.
pub fn show_datestamp_secs(ds: &str) -> String {
    readable(ds).map_or(ds.to_string(), |t| {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    })
}

/// The date of `t` (YYYY-MM-DD, local time).
pub fn date(t: &DateTime<Local>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// Nanoseconds since the epoch as RFC 3339 in UTC (`2026-01-01T02:00:00.123456789Z`).
pub fn rfc3339_ns(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ds: &str) -> DateTime<Local> {
        parse_datestamp(ds).unwrap()
    }

    #[test]
    fn a_widened_bound_reads_as_the_last_instant_it_stands_for() {
        assert_eq!(show_datestamp_secs("20200101999999"), "2020-01-01 23:59:59");
        assert_eq!(show_datestamp("20200299999999"), "2020-02-29 23:59");
        assert_eq!(show_datestamp("20261201013000"), "2026-12-01 01:30");
        assert_eq!(show_datestamp("garbage"), "garbage");
    }

    #[test]
    fn a_clock_behind_the_catalog_is_refused_beyond_the_tolerance() {
        let newest = Some("20261120020000");
        let e = not_before(at("20261115020000"), newest)
            .unwrap_err()
            .to_string();
        assert!(e.contains("earlier than the newest dump"), "{e}");
        assert!(e.contains("5 day(s)"), "{e}");
        // a minute behind: dated one second after the newest, so order is kept
        let t = not_before(at("20261120015900"), newest).unwrap();
        assert_eq!(datestamp(&t), "20261120020001");
        // ahead: now
        let t = not_before(at("20261121020000"), newest).unwrap();
        assert_eq!(datestamp(&t), "20261121020000");
        assert_eq!(
            datestamp(&not_before(at("20261121020000"), None).unwrap()),
            "20261121020000"
        );
    }
}
