//! What a long-term retention policy keeps (grandfather-father-son, as `[vault.NAME]`'s
//! `keep_weekly`, `keep_monthly`, `keep_yearly` name it): per DLE, the last full of each of
//! the last N ISO weeks, months and years, counted in calendar periods back from today; a
//! period without a full keeps nothing. The one definition the vault's copy, prune and
//! forecast will share, kept apart from them so it can be checked on its own.

use super::{DumpRecord, DumpStatus};
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

/// How many of each period to keep (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub weekly: u32,
    pub monthly: u32,
    pub yearly: u32,
}

/// A calendar period, in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Period {
    /// ISO year and week.
    Week(i32, u32),
    Month(i32, u32),
    Year(i32),
}

impl Period {
    fn week(d: NaiveDate) -> Period {
        let w = d.iso_week();
        Period::Week(w.year(), w.week())
    }

    fn month(d: NaiveDate) -> Period {
        Period::Month(d.year(), d.month())
    }

    /// The first day of the period.
    pub fn start(self) -> NaiveDate {
        match self {
            Period::Week(y, w) => NaiveDate::from_isoywd_opt(y, w, chrono::Weekday::Mon),
            Period::Month(y, m) => NaiveDate::from_ymd_opt(y, m, 1),
            Period::Year(y) => NaiveDate::from_ymd_opt(y, 1, 1),
        }
        .unwrap_or(NaiveDate::MIN)
    }

    /// The period `n` after this one (`n` may be negative).
    pub fn shift(self, n: i64) -> Period {
        match self {
            Period::Week(..) => Period::week(self.start() + chrono::Duration::weeks(n)),
            Period::Month(y, m) => {
                let k = y as i64 * 12 + (m as i64 - 1) + n;
                Period::Month(k.div_euclid(12) as i32, k.rem_euclid(12) as u32 + 1)
            }
            Period::Year(y) => Period::Year(y + n as i32),
        }
    }

    /// `2026-W31`, `2026-07`, `2026`.
    pub fn label(self) -> String {
        match self {
            Period::Week(y, w) => format!("week {y}-W{w:02}"),
            Period::Month(y, m) => format!("month {y}-{m:02}"),
            Period::Year(y) => format!("year {y}"),
        }
    }

    fn contains(self, d: NaiveDate) -> bool {
        d >= self.start() && d < self.shift(1).start()
    }
}

/// A dump the policy keeps, and why.
#[derive(Debug, Clone)]
pub struct Kept<'r> {
    pub record: &'r DumpRecord,
    /// The periods it is the last full of, among those kept (newest kind first: week, month,
    /// year).
    pub periods: Vec<Period>,
    /// The first day on which no period keeps it any more (as things stand today).
    pub until: NaiveDate,
}

/// The period of a date, of one kind (week, month or year).
type Kind = fn(NaiveDate) -> Period;

/// The date of a datestamp (local time).
fn date_of(r: &DumpRecord) -> Option<NaiveDate> {
    crate::clock::parse_datestamp(&r.datestamp).map(|t| t.date_naive())
}

/// Fulls that count: level 0, OK or PARTIAL (a partial one is kept and said so by the caller).
fn counts(r: &DumpRecord) -> bool {
    r.level == 0 && matches!(r.status, DumpStatus::Ok | DumpStatus::Partial)
}

/// The periods of one kind the policy looks at today, newest first.
fn periods(today: NaiveDate, kind: Kind, n: u32) -> Vec<Period> {
    let now = kind(today);
    (0..n as i64).map(|k| now.shift(-k)).collect()
}

/// Every dump the policy keeps on `today`, per DLE in (host, disk) order, oldest first.
pub fn kept<'r>(records: &'r [DumpRecord], p: &Policy, today: NaiveDate) -> Vec<Kept<'r>> {
    let mut by_dle: BTreeMap<(&str, &str), Vec<(&'r DumpRecord, NaiveDate)>> = BTreeMap::new();
    for r in records.iter().filter(|r| counts(r)) {
        if let Some(d) = date_of(r).filter(|d| *d <= today) {
            by_dle.entry((&r.host, &r.disk)).or_default().push((r, d));
        }
    }
    let kinds: [(Kind, u32); 3] = [
        (Period::week, p.weekly),
        (Period::month, p.monthly),
        (|d| Period::Year(d.year()), p.yearly),
    ];
    let mut out = Vec::new();
    for fulls in by_dle.values() {
        let mut mine: BTreeMap<&str, Kept<'r>> = BTreeMap::new();
        for (kind, n) in kinds {
            let window = periods(today, kind, n);
            for period in &window {
                let last = fulls
                    .iter()
                    .filter(|(_, d)| period.contains(*d))
                    .max_by(|a, b| a.0.datestamp.cmp(&b.0.datestamp));
                let Some((r, _)) = last else { continue };
                // kept while `period` is among the last n: until the period n after it starts
                let until = period.shift(n as i64).start();
                let k = mine.entry(&r.datestamp).or_insert(Kept {
                    record: r,
                    periods: vec![],
                    until,
                });
                k.periods.push(*period);
                k.until = k.until.max(until);
            }
        }
        out.extend(mine.into_values());
    }
    out
}

/// Why the policy no longer keeps `r` (a full it does not list in `kept`): each period of
/// `r`'s date the policy counts, with its count and the full that period keeps instead
/// (`None`: the period is no longer among the last N).
pub fn released<'r>(
    r: &DumpRecord,
    kept: &[Kept<'r>],
    p: &Policy,
    today: NaiveDate,
) -> Vec<(Period, u32, Option<&'r DumpRecord>)> {
    let Some(d) = date_of(r) else { return vec![] };
    let kinds: [(Kind, u32); 3] = [
        (Period::week, p.weekly),
        (Period::month, p.monthly),
        (|d| Period::Year(d.year()), p.yearly),
    ];
    let mut out = vec![];
    for (kind, n) in kinds.into_iter().filter(|(_, n)| *n > 0) {
        let period = kind(d);
        let instead = periods(today, kind, n).contains(&period).then(|| {
            kept.iter()
                .find(|k| {
                    k.record.host == r.host
                        && k.record.disk == r.disk
                        && k.periods.contains(&period)
                })
                .map(|k| k.record)
        });
        out.push((period, n, instead.flatten()));
    }
    out
}

/// `weeks`, `months`, `years`.
pub fn plural(p: Period) -> &'static str {
    match p {
        Period::Week(..) => "weeks",
        Period::Month(..) => "months",
        Period::Year(_) => "years",
    }
}

/// Whether a prune may run today: never when the clock is behind the newest dump, nor when
/// the newest dump is older than the policy's shortest period (a clock jumped forward, or
/// dumps stopped: pruning then would drop what nothing replaces).
pub fn prune_allowed(records: &[DumpRecord], p: &Policy, today: NaiveDate) -> Result<(), String> {
    let newest = records.iter().filter_map(date_of).max();
    let Some(newest) = newest else {
        return Err("the catalog holds no dump: nothing to prune against".into());
    };
    if today < newest {
        return Err(format!(
            "the clock ({today}) is behind the newest dump ({newest}): refusing to prune"
        ));
    }
    let shortest = if p.weekly > 0 {
        7
    } else if p.monthly > 0 {
        31
    } else {
        366
    };
    let age = (today - newest).num_days();
    if age > shortest {
        return Err(format!(
            "the newest dump is {age} days old, more than the policy's shortest period \
             ({shortest} days): the clock jumped forward or dumps stopped; refusing to prune \
             what nothing newer replaces"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(host: &str, day: NaiveDate, level: u8, status: DumpStatus) -> DumpRecord {
        let mut r: DumpRecord = serde_json::from_value(serde_json::json!({
            "host": host, "disk": "/etc", "datestamp": format!("{}020000", day.format("%Y%m%d")),
            "level": level, "label": "t", "slot": 1, "file_number": 1, "file_name": "f",
            "status": "OK", "tar_bytes": 1, "tape_bytes": 1, "payload_sha256": "",
            "compress": "none", "encrypt": "none", "files": 1, "seconds": 0.0,
            "client_time_ns": "0", "client_time": ""
        }))
        .unwrap();
        r.status = status;
        r
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The kept dates, found the slow way: for each day of the last 3 years, is it the last
    /// full of its ISO week (month, year), and is that period within the last N counted by
    /// walking back from today one period at a time?
    fn by_hand(fulls: &[NaiveDate], p: &Policy, today: NaiveDate) -> Vec<NaiveDate> {
        let mut out: Vec<NaiveDate> = vec![];
        let key_w = |x: NaiveDate| (x.iso_week().year(), x.iso_week().week());
        let key_m = |x: NaiveDate| (x.year(), x.month());
        let key_y = |x: NaiveDate| (x.year(), 0);
        let last_n = |key: &dyn Fn(NaiveDate) -> (i32, u32), n: u32| {
            // the distinct keys of the days from today backwards, the first n of them
            let mut keys: Vec<(i32, u32)> = vec![];
            let mut x = today;
            while keys.len() < n as usize && x > today - chrono::Duration::days(3700) {
                if keys.last() != Some(&key(x)) {
                    keys.push(key(x));
                }
                x -= chrono::Duration::days(1);
            }
            keys
        };
        for (key, n) in [
            (&key_w as &dyn Fn(NaiveDate) -> (i32, u32), p.weekly),
            (&key_m, p.monthly),
            (&key_y, p.yearly),
        ] {
            let keys = last_n(key, n);
            for f in fulls.iter().filter(|f| **f <= today) {
                let newest_of_period = fulls
                    .iter()
                    .filter(|g| **g <= today && key(**g) == key(*f))
                    .max()
                    == Some(f);
                if newest_of_period && keys.contains(&key(*f)) && !out.contains(f) {
                    out.push(*f);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_policy_keeps_the_last_full_of_each_period_as_counted_by_hand() {
        // a full every 3rd day, an incremental and a full whose file is gone (MISSING) between, over 3 years
        let start = d("2024-01-03");
        let mut recs = vec![];
        let mut fulls = vec![];
        for k in 0..365 {
            let day = start + chrono::Duration::days(k * 3);
            recs.push(full("h", day, 0, DumpStatus::Ok));
            fulls.push(day);
            recs.push(full(
                "h",
                day + chrono::Duration::days(1),
                1,
                DumpStatus::Ok,
            ));
            recs.push(full(
                "h",
                day + chrono::Duration::days(2),
                0,
                DumpStatus::Missing,
            ));
        }
        let p = Policy {
            weekly: 8,
            monthly: 12,
            yearly: 3,
        };
        for today in [
            "2024-02-10",
            "2024-12-31",
            "2025-06-15",
            "2026-12-30",
            "2027-01-04",
        ] {
            let today = d(today);
            let mut got: Vec<NaiveDate> = kept(&recs, &p, today)
                .iter()
                .map(|k| date_of(k.record).unwrap())
                .collect();
            got.sort();
            assert_eq!(got, by_hand(&fulls, &p, today), "as of {today}");
            // nothing is kept that is not a full
            assert!(kept(&recs, &p, today).iter().all(|k| counts(k.record)));
        }
    }

    #[test]
    fn reasons_release_dates_and_periods_without_a_full() {
        let recs = [
            full("h", d("2026-03-31"), 0, DumpStatus::Ok),
            full("h", d("2026-03-30"), 0, DumpStatus::Partial),
            full("h", d("2026-05-02"), 0, DumpStatus::Ok),
            full("g", d("2026-05-02"), 1, DumpStatus::Ok),
        ];
        let p = Policy {
            weekly: 0,
            monthly: 3,
            yearly: 0,
        };
        let k = kept(&recs, &p, d("2026-05-20"));
        // April has no full: nothing kept for it; g has no full at all
        let got: Vec<(String, Vec<String>, NaiveDate)> = k
            .iter()
            .map(|k| {
                (
                    k.record.datestamp[..8].to_string(),
                    k.periods.iter().map(|p| p.label()).collect(),
                    k.until,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "20260331".into(),
                    vec!["month 2026-03".into()],
                    d("2026-06-01")
                ),
                (
                    "20260502".into(),
                    vec!["month 2026-05".into()],
                    d("2026-08-01")
                ),
            ]
        );
        assert_eq!(Period::Week(2026, 1).shift(-1), Period::Week(2025, 52));
        assert_eq!(Period::Month(2026, 1).shift(-1), Period::Month(2025, 12));
    }

    #[test]
    fn a_prune_is_refused_when_the_clock_jumped_or_went_back() {
        let recs = [full("h", d("2026-05-02"), 0, DumpStatus::Ok)];
        let p = Policy {
            weekly: 4,
            monthly: 6,
            yearly: 2,
        };
        assert!(prune_allowed(&recs, &p, d("2026-05-03")).is_ok());
        let e = prune_allowed(&recs, &p, d("2031-05-03")).unwrap_err();
        assert!(e.contains("refusing to prune"), "{e}");
        let e = prune_allowed(&recs, &p, d("2026-05-01")).unwrap_err();
        assert!(e.contains("behind the newest dump"), "{e}");
        assert!(prune_allowed(&[], &p, d("2026-05-01")).is_err());
    }
}
