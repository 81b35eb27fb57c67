//! Per DLE: which level tonight and why, before balancing. Pure.

use super::{Input, Params};
use crate::catalog::DumpRecord;
use crate::config::dumptype::Strategy;

/// The dump a level-`level` incremental is taken against: the newest dump of the current
/// chain (newest full and what follows it) with a lower level.
pub fn reference<'a>(history: &[&'a DumpRecord], level: u8) -> Option<&'a DumpRecord> {
    let full = history.iter().rposition(|r| r.level == 0)?;
    history[full..]
        .iter()
        .rev()
        .find(|r| r.level < level)
        .copied()
}

/// Whole nights between the newest full and now (None: no full).
pub fn nights_since_full(history: &[&DumpRecord], p: &Params) -> Option<i64> {
    let full = history.iter().rev().find(|r| r.level == 0)?;
    let t = crate::clock::parse_datestamp(&full.datestamp)?;
    Some((p.now.date_naive() - t.date_naive()).num_days())
}

/// The incremental levels worth estimating: the current one and one higher.
pub fn candidate_levels(history: &[&DumpRecord]) -> Vec<u8> {
    match history.last() {
        None => vec![],
        Some(r) if r.level == 0 => vec![1],
        Some(r) => vec![r.level, (r.level + 1).min(9)]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// Nights the DLE has been dumped at its current incremental level in a row.
fn nights_at_level(history: &[&DumpRecord], level: u8) -> u32 {
    history
        .iter()
        .rev()
        .take_while(|r| r.level == level)
        .count() as u32
}

/// The decision before balancing: (level, reason). `None` level: not dumped.
pub fn decide(i: &Input, p: &Params) -> (Option<u8>, String) {
    let strategy = i.dumptype.strategy;
    if strategy == Strategy::Skip {
        return (None, "strategy skip".into());
    }
    if let Some(p) = &i.dumptype.program {
        return (
            Some(0),
            format!("program {p}: a full every run (a program stream has no incrementals)"),
        );
    }
    let Some(nights) = nights_since_full(&i.history, p) else {
        return (Some(0), "new DLE: no full on any tape".into());
    };
    if i.forced {
        return (Some(0), "full forced by `tapir force`".into());
    }
    match strategy {
        Strategy::Noinc => return (Some(0), "strategy noinc: a full every run".into()),
        Strategy::Nofull => {
            return incremental_at(
                i,
                1,
                "strategy nofull: level 1 against the first full".into(),
            );
        }
        Strategy::Standard if nights >= p.dumpcycle as i64 => {
            return (
                Some(0),
                format!(
                    "full due: last full {nights} night(s) ago, dumpcycle {}",
                    p.dumpcycle
                ),
            );
        }
        _ => {}
    }
    let due = p.dumpcycle as i64 - nights;
    let why = if strategy == Strategy::Incronly {
        "strategy incronly".to_string()
    } else {
        format!("full due in {due} night(s)")
    };
    bumped(i, p, why)
}

/// Stay at the current incremental level unless one level up saves at least the bump
/// threshold (bumpsize * bumpmult^(level-1)) and the DLE spent bumpdays at this level.
fn bumped(i: &Input, p: &Params, why: String) -> (Option<u8>, String) {
    let last = i.history.last().map_or(0, |r| r.level);
    let cur = last.max(1);
    let saves = match (i.estimate(cur), i.estimate(cur + 1)) {
        (Some(a), Some(b)) if last > 0 && cur < 9 => a.saturating_sub(b),
        _ => 0,
    };
    let threshold = p.bump.size as f64 * p.bump.mult.powi(cur as i32 - 1);
    if saves > 0 && saves as f64 >= threshold && nights_at_level(&i.history, cur) >= p.bump.days {
        let r = format!(
            "bumped to level {}: saves {} ({why})",
            cur + 1,
            crate::units::human(saves)
        );
        return incremental_at(i, cur + 1, r);
    }
    incremental_at(i, cur, format!("incremental: {why}"))
}

/// An incremental at `level`, unless its reference cannot support one.
fn incremental_at(i: &Input, level: u8, why: String) -> (Option<u8>, String) {
    match reference(&i.history, level) {
        Some(r) if r.index.is_some() => (Some(level), why),
        Some(_) => (
            Some(0),
            "full instead of an incremental: the reference dump has no index".into(),
        ),
        None => (
            Some(0),
            "full instead of an incremental: no reference dump".into(),
        ),
    }
}
