//! Which tapes are still needed and which tape a run writes next. Pure: no I/O.
//!
//! A tape is needed while it is among the newest `tapecycle - 1` written, or while it holds
//! the newest level 0 of some DLE or a dump that depends on one. Among the rest the least
//! recently written is reused; never-written tapes (and empty slots, with autolabel) count as
//! the oldest.

use crate::catalog::DumpRecord;
use std::collections::{BTreeMap, HashMap};

/// What rotation needs to know of one slot.
#[derive(Debug, Clone, PartialEq)]
pub struct TapeInfo {
    pub slot: u32,
    pub label: Option<String>,
    /// Datestamp of the run that last wrote it; None if never written.
    pub last_written: Option<String>,
}

/// label → why it must be kept, from the dump history.
pub fn needed_by_dumps(records: &[DumpRecord]) -> BTreeMap<String, String> {
    let mut by_dle: HashMap<(&str, &str), Vec<&DumpRecord>> = HashMap::new();
    for r in records {
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
            out.entry(r.label.clone())
                .or_insert_with(|| format!("holds {what} of {host} {disk}"));
        }
    }
    out
}

/// label → why it is protected by recency (among the newest `tapecycle - 1` written).
pub fn needed_by_cycle(tapes: &[TapeInfo], tapecycle: u32) -> BTreeMap<String, String> {
    let mut written: Vec<&TapeInfo> = tapes.iter().filter(|t| t.last_written.is_some()).collect();
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

/// Every needed label with its first reason.
pub fn needed(
    tapes: &[TapeInfo],
    records: &[DumpRecord],
    tapecycle: u32,
) -> BTreeMap<String, String> {
    let mut n = needed_by_dumps(records);
    for (l, why) in needed_by_cycle(tapes, tapecycle) {
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
    tapecycle: u32,
    autolabel: bool,
    used: &[u32],
) -> (BTreeMap<String, String>, Option<u32>) {
    let infos: Vec<TapeInfo> = slots
        .iter()
        .filter(|s| s.label_error.is_none() && lost_label(s, records).is_none())
        .map(super::Slot::info)
        .collect();
    let needed = needed(&infos, records, tapecycle);
    let next = choose_next(&infos, &needed, autolabel, used).map(|t| t.slot);
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
        }
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
        let n = needed(&tapes, &[], 3);
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
        let n = needed_by_dumps(&recs);
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
