//! Which tapes are still needed and which tape a run writes next. Pure: no I/O.
//!
//! A tape is needed while it is among the newest `tapecycle - 1` written, or while it holds
//! the newest level 0 of some DLE or a dump that depends on one. Among the rest the least
//! recently written is reused; never-written tapes (and empty slots, with autolabel) count as
//! the oldest. The admin's decisions bend this: a tape kept out of rotation (`label
//! --no-reuse`) is always needed and not counted among the newest; a retired DLE's dumps
//! (`forget`) stop pinning tapes once its keep-until date has passed.

use crate::catalog::DumpRecord;
use crate::catalog::admin::Admin;
use std::collections::{BTreeMap, HashMap};

/// What rotation decides by, besides the slots and the history.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub tapecycle: u32,
    pub autolabel: bool,
    pub admin: Admin,
    /// Today (YYYY-MM-DD), against retired DLEs' keep-until dates.
    pub today: String,
}

impl Rules {
    /// Does a dump of this DLE still pin its tape? No once its retirement has run out.
    fn pins(&self, host: &str, disk: &str) -> bool {
        self.admin
            .retired(host, disk)
            .is_none_or(|r| r.keep_until.as_str() >= self.today.as_str())
    }

    fn kept_out(&self, label: &str) -> Option<String> {
        self.admin.no_reuse(label).map(|n| {
            format!(
                "kept out of rotation since {} (`tapir label --reuse` puts it back)",
                crate::clock::show_datestamp(&n.since)
            )
        })
    }
}

/// What rotation needs to know of one slot.
#[derive(Debug, Clone, PartialEq)]
pub struct TapeInfo {
    pub slot: u32,
    pub label: Option<String>,
    /// Datestamp of the run that last wrote it; None if never written.
    pub last_written: Option<String>,
}

/// label → why it must be kept, from the dump history.
pub fn needed_by_dumps(records: &[DumpRecord], rules: &Rules) -> BTreeMap<String, String> {
    let mut by_dle: HashMap<(&str, &str), Vec<&DumpRecord>> = HashMap::new();
    for r in records.iter().filter(|r| rules.pins(&r.host, &r.disk)) {
        by_dle.entry((&r.host, &r.disk)).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for ((host, disk), mut rs) in by_dle {
        rs.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
        let Some(full) = rs.iter().rposition(|r| r.level == 0) else {
            continue;
        };
        for r in &rs[full..] {
            let what = if r.level == 0 {
                "the newest level 0"
            } else {
                "an incremental on the newest level 0"
            };
            let retired = rules.admin.retired(host, disk).map_or(String::new(), |t| {
                format!(" (retired; kept until {})", t.keep_until)
            });
            out.entry(r.label.clone())
                .or_insert_with(|| format!("holds {what} of {host} {disk}{retired}"));
        }
    }
    out
}

/// label → why it is protected by recency (among the newest `tapecycle - 1` written of the
/// tapes in rotation).
pub fn needed_by_cycle(tapes: &[TapeInfo], rules: &Rules) -> BTreeMap<String, String> {
    let tapecycle = rules.tapecycle;
    let mut written: Vec<&TapeInfo> = tapes
        .iter()
        .filter(|t| t.last_written.is_some())
        .filter(|t| {
            t.label
                .as_deref()
                .is_none_or(|l| rules.kept_out(l).is_none())
        })
        .collect();
    written.sort_by(|a, b| {
        b.last_written
            .cmp(&a.last_written)
            .then(b.slot.cmp(&a.slot))
    });
    let keep = tapecycle.saturating_sub(1) as usize;
    written
        .iter()
        .take(keep)
        .filter_map(|t| t.label.clone())
        .map(|l| {
            (
                l,
                format!("among the newest {keep} tapes written (tapecycle {tapecycle})"),
            )
        })
        .collect()
}

/// Every needed label with its first reason: kept out of rotation, pinned by dumps, recent.
pub fn needed(
    tapes: &[TapeInfo],
    records: &[DumpRecord],
    rules: &Rules,
) -> BTreeMap<String, String> {
    let mut n: BTreeMap<String, String> = tapes
        .iter()
        .filter_map(|t| t.label.as_deref())
        .filter_map(|l| rules.kept_out(l).map(|why| (l.to_string(), why)))
        .collect();
    for (l, why) in needed_by_dumps(records, rules)
        .into_iter()
        .chain(needed_by_cycle(tapes, rules))
    {
        n.entry(l).or_insert(why);
    }
    n
}

/// What rotation decides from the slots and the history: the needed labels (with why) and
/// the next slot to write, skipping `used`. A slot whose label file is unreadable is left
/// alone (it may hold needed dumps).
pub fn next_tape(
    slots: &[super::Slot],
    records: &[DumpRecord],
    rules: &Rules,
    used: &[u32],
) -> (BTreeMap<String, String>, Option<u32>) {
    let infos: Vec<TapeInfo> = slots
        .iter()
        .filter(|s| s.label_error.is_none() && lost_label(s, records).is_none())
        .map(super::Slot::info)
        .collect();
    let needed = needed(&infos, records, rules);
    let next = choose_next(&infos, &needed, rules.autolabel, used).map(|t| t.slot);
    (needed, next)
}

/// A slot whose label file is gone while the catalog lists dumps in it: never an empty slot
/// to reuse, but a problem to show (`tapir label SLOT LABEL --force` to give it up).
pub fn lost_label(slot: &super::Slot, records: &[DumpRecord]) -> Option<String> {
    if slot.label.is_some() || slot.label_error.is_some() {
        return None;
    }
    let listed: Vec<&DumpRecord> = records.iter().filter(|r| r.slot == slot.slot).collect();
    let first = listed.first()?;
    Some(format!(
        "label file missing, but the catalog lists {} dump(s) on tape {} in this slot ({} \
         file(s) present): not reused; `tapir label {} {} --force` gives them up",
        listed.len(),
        first.label,
        slot.files.len(),
        slot.slot,
        first.label
    ))
}

/// The next tape to write, skipping `used` slots. `None` when no tape may be written.
pub fn choose_next<'a>(
    tapes: &'a [TapeInfo],
    needed: &BTreeMap<String, String>,
    autolabel: bool,
    used: &[u32],
) -> Option<&'a TapeInfo> {
    tapes
        .iter()
        .filter(|t| !used.contains(&t.slot))
        .filter(|t| match &t.label {
            Some(l) => !needed.contains_key(l),
            None => autolabel,
        })
        .min_by(|a, b| {
            let key = |t: &TapeInfo| (t.last_written.is_some(), t.last_written.clone(), t.slot);
            key(a).cmp(&key(b))
        })
}

/// Why no tape may be written: every slot with what pins it, and what to do.
pub fn no_tape_reason(
    slots: &[super::Slot],
    needed: &std::collections::BTreeMap<String, String>,
    autolabel: bool,
) -> crate::error::Error {
    let mut lines = vec!["no tape may be written: every tape is still needed".to_string()];
    for s in slots {
        let why = match s.label_name() {
            None if s.label_error.is_some() => s.label_error.clone().unwrap_or_default(),
            Some(l) => format!(
                "{l}: {}",
                needed.get(l).map_or("used by this run", |w| w.as_str())
            ),
            None if autolabel => "empty (already used by this run)".into(),
            None => "not labelled (run `tapir label` or set changer.autolabel)".into(),
        };
        lines.push(format!("  slot {}: {why}", s.slot));
    }
    crate::error::Error::nothing_done(lines.join("\n"))
        .hint(
            "`tapir forget HOST DISK` a DLE gone from the disklist, `tapir label --reuse SLOT` a tape kept out, add slots, lower tapecycle, or `tapir label SLOT LABEL --force` a tape you can lose",
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::DumpStatus;

    fn tape(slot: u32, written: Option<&str>) -> TapeInfo {
        TapeInfo {
            slot,
            label: Some(format!("daily-{slot:02}")),
            last_written: written.map(String::from),
        }
    }

    fn rec(disk: &str, ds: &str, level: u8, label: &str) -> DumpRecord {
        DumpRecord {
            host: "h".into(),
            disk: disk.into(),
            datestamp: ds.into(),
            level,
            label: label.into(),
            slot: 0,
            file_number: 1,
            file_name: String::new(),
            status: DumpStatus::Ok,
            original_size: 0,
            payload_size: 0,
            payload_sha256: String::new(),
            compress: String::new(),
            encrypt: String::new(),
            files: 0,
            seconds: 0.0,
            client_time_ns: 0,
            client_time: String::new(),
            index: None,
            path: None,
            rekeyed_from: None,
        }
    }

    fn rules(tapecycle: u32) -> Rules {
        Rules {
            tapecycle,
            today: "2026-12-01".into(),
            ..Rules::default()
        }
    }

    #[test]
    fn a_retired_dle_pins_until_its_date_and_a_kept_out_tape_is_not_in_the_cycle() {
        use crate::catalog::admin::Retired;
        let recs = vec![
            rec("/gone", "1", 0, "daily-01"),
            rec("/a", "2", 0, "daily-02"),
        ];
        let mut r = rules(10);
        r.admin.retire(Retired {
            host: "h".into(),
            disk: "/gone".into(),
            keep_until: "2026-12-01".into(),
            since: "20261101000000".into(),
        });
        let n = needed_by_dumps(&recs, &r);
        assert!(
            n["daily-01"].contains("retired; kept until 2026-12-01"),
            "{n:?}"
        );
        r.today = "2026-12-02".into();
        let n = needed_by_dumps(&recs, &r);
        assert!(
            !n.contains_key("daily-01") && n.contains_key("daily-02"),
            "{n:?}"
        );
        // kept out: needed for that reason, and the newest tapecycle-1 are counted without it
        let tapes: Vec<_> = (1..=4).map(|s| tape(s, Some(&s.to_string()))).collect();
        let mut r = rules(3);
        r.admin.set_no_reuse("daily-04", true, "20261101000000");
        let n = needed(&tapes, &[], &r);
        assert!(n["daily-04"].starts_with("kept out of rotation"), "{n:?}");
        assert_eq!(
            n.keys().cloned().collect::<Vec<_>>(),
            ["daily-02", "daily-03", "daily-04"]
        );
        assert_eq!(choose_next(&tapes, &n, false, &[]).unwrap().slot, 1);
    }

    #[test]
    fn never_written_tapes_go_first_then_oldest() {
        let tapes = vec![tape(1, Some("2")), tape(2, None), tape(3, Some("1"))];
        let n = BTreeMap::new();
        assert_eq!(choose_next(&tapes, &n, false, &[]).unwrap().slot, 2);
        assert_eq!(choose_next(&tapes, &n, false, &[2]).unwrap().slot, 3);
    }

    #[test]
    fn cycle_protects_newest_tapecycle_minus_one() {
        let tapes: Vec<_> = (1..=4).map(|s| tape(s, Some(&s.to_string()))).collect();
        let n = needed(&tapes, &[], &rules(3));
        assert_eq!(
            n.keys().cloned().collect::<Vec<_>>(),
            ["daily-03", "daily-04"]
        );
        assert_eq!(choose_next(&tapes, &n, false, &[]).unwrap().slot, 1);
    }

    #[test]
    fn newest_full_and_its_incrementals_are_needed() {
        let recs = vec![
            rec("/a", "1", 0, "daily-01"),
            rec("/a", "2", 0, "daily-02"),
            rec("/a", "3", 1, "daily-03"),
        ];
        let n = needed_by_dumps(&recs, &rules(10));
        assert!(!n.contains_key("daily-01"));
        assert!(n["daily-02"].contains("newest level 0 of h /a"));
        assert!(n["daily-03"].contains("incremental"));
    }

    #[test]
    fn unlabelled_slots_only_with_autolabel() {
        let tapes = vec![TapeInfo {
            slot: 1,
            label: None,
            last_written: None,
        }];
        assert!(choose_next(&tapes, &BTreeMap::new(), false, &[]).is_none());
        assert!(choose_next(&tapes, &BTreeMap::new(), true, &[]).is_some());
    }
}
