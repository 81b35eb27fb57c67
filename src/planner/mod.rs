//! The planner: (disklist, dumptypes, history, estimates, forced) → tonight's [`Plan`], each
//! entry with its level and the reason for it. Pure code: no I/O; the driver gathers the
//! inputs and runs the plan.
//!
//! Rules: a new DLE gets a full at once; a full is due `dumpcycle` nights after the last;
//! fulls are promoted early to fill light nights toward total/runspercycle; incrementals bump
//! a level when that saves enough; when tonight does not fit the tapes, the lowest-priority
//! fulls are delayed, and that is always said.

pub mod balance;
pub mod levels;
pub mod views;

use crate::catalog::DumpRecord;
use crate::config::disklist::Dle;
use crate::config::dumptype::{Compress, Dumptype, Priority, Strategy};
use chrono::{DateTime, Local};
use std::collections::BTreeMap;

/// Bumping thresholds (Amanda's bumpsize, bumpmult, bumpdays).
#[derive(Debug, Clone, Copy)]
pub struct Bump {
    pub size: u64,
    pub mult: f64,
    pub days: u32,
}

/// The run's fixed parameters.
#[derive(Debug, Clone)]
pub struct Params {
    pub now: DateTime<Local>,
    pub dumpcycle: u32,
    pub runspercycle: u32,
    /// Bytes tonight's tapes hold (runtapes × tape_size, less file headers).
    pub capacity: u64,
    pub bump: Bump,
}

/// The planner's parameters for a run of `cfg` at `now`.
pub fn params(cfg: &crate::config::Config, now: DateTime<Local>) -> Params {
    let per_tape = cfg.changer.tape_size.saturating_sub(HEADER);
    Params {
        now,
        dumpcycle: cfg.dumpcycle,
        runspercycle: cfg.runspercycle,
        capacity: per_tape * cfg.runtapes as u64,
        bump: Bump {
            size: cfg.bumpsize,
            mult: cfg.bumpmult,
            days: cfg.bumpdays,
        },
    }
}

/// What the planner knows of one DLE.
pub struct Input<'a> {
    pub dle: &'a Dle,
    pub dumptype: &'a Dumptype,
    /// This DLE's dumps, oldest first.
    pub history: Vec<&'a DumpRecord>,
    /// Tar bytes per level, from the client's estimate pass.
    pub estimates: Option<BTreeMap<u8, u64>>,
    pub forced: bool,
}

/// Bytes a tape file header adds.
const HEADER: u64 = crate::vtape::header::HEADER_SIZE as u64;

impl Input<'_> {
    /// The client's estimate for `level`, if it gave one.
    pub fn estimate(&self, level: u8) -> Option<u64> {
        self.estimates.as_ref()?.get(&level).copied()
    }

    /// Best guess of the tar bytes of a dump at `level`: the estimate, else history.
    pub fn raw_size(&self, level: u8) -> u64 {
        if let Some(e) = self.estimate(level) {
            return e;
        }
        let at = |l: u8| {
            self.history
                .iter()
                .rev()
                .find(|r| r.level == l)
                .map(|r| r.original_size)
        };
        match level {
            0 => at(0).unwrap_or(0),
            l => at(l)
                .or_else(|| {
                    self.history
                        .iter()
                        .rev()
                        .find(|r| r.level > 0)
                        .map(|r| r.original_size)
                })
                .unwrap_or(self.raw_size(0) / 10),
        }
    }

    /// Output bytes per tar byte, from the last dump, else a guess by compression.
    pub fn ratio(&self) -> f64 {
        match self.history.last() {
            Some(r) if r.original_size > 0 => r.payload_size as f64 / r.original_size as f64,
            _ if self.dumptype.compress == Compress::None => 1.0,
            _ => 0.5,
        }
    }

    /// Expected tape bytes of a dump at `level` (header included).
    pub fn payload(&self, level: u8) -> u64 {
        ((self.raw_size(level) as f64 * self.ratio()) as u64).saturating_add(HEADER)
    }
}

/// What to do with one DLE tonight.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanEntry {
    pub dle: Dle,
    /// None: not dumped tonight.
    pub level: Option<u8>,
    pub reason: String,
    /// Expected tape bytes at the chosen level.
    pub size: u64,
    pub full_size: u64,
    /// Tonight's incremental level and its expected tape bytes (what a full replaces).
    pub incr_level: u8,
    pub incr_size: u64,
    /// Standard strategy with a full on tape: its full may be moved for balance.
    pub movable: bool,
    pub has_full: bool,
    pub nights_to_due: i64,
    pub priority: Priority,
    /// Left out tonight because it does not fit (a MISSED DLE, with the reason).
    pub delayed: bool,
    /// Tar bytes expected at the chosen level (what a runaway dump is measured against).
    pub expected: u64,
    /// The client's estimate is implausible for this DLE: it is the first to give way when
    /// tonight does not fit, so that one client cannot move the others' plan.
    pub suspect: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub entries: Vec<PlanEntry>,
    /// Delays, promotions and sanity warnings, for the report.
    pub notes: Vec<String>,
    /// The balanced nightly volume the planner aimed for, and what it planned.
    pub target: u64,
    pub volume: u64,
    pub capacity: u64,
}

/// Plan tonight.
pub fn plan(inputs: &[Input], p: &Params) -> Plan {
    let mut notes = Vec::new();
    let mut entries: Vec<PlanEntry> = inputs.iter().map(|i| entry(i, p, &mut notes)).collect();
    let target = balance::target(&entries, p);
    balance::promote(&mut entries, p.runspercycle, p.dumpcycle);
    balance::fit(&mut entries, p.capacity, &mut notes);
    let volume = entries
        .iter()
        .filter(|e| e.level.is_some())
        .map(|e| e.size)
        .fold(0, u64::saturating_add);
    Plan {
        entries,
        notes,
        target,
        volume,
        capacity: p.capacity,
    }
}

fn entry(i: &Input, p: &Params, notes: &mut Vec<String>) -> PlanEntry {
    let (level, reason) = levels::decide(i, p);
    let nights = levels::nights_since_full(&i.history, p);
    let incr_level = match level {
        Some(l) if l > 0 => l,
        _ => levels::candidate_levels(&i.history)
            .first()
            .copied()
            .unwrap_or(1),
    };
    let (full_size, incr_size) = (i.payload(0), i.payload(incr_level));
    sanity(i, level, notes);
    PlanEntry {
        dle: i.dle.clone(),
        size: match level {
            Some(0) => full_size,
            Some(_) => incr_size,
            None => 0,
        },
        level,
        reason,
        full_size,
        incr_level,
        incr_size,
        movable: i.dumptype.strategy == Strategy::Standard
            && i.dumptype.program.is_none()
            && nights.is_some()
            && !i.forced,
        has_full: nights.is_some(),
        nights_to_due: nights.map_or(0, |n| p.dumpcycle as i64 - n),
        priority: i.dumptype.priority,
        delayed: false,
        expected: level.map_or(0, |l| i.raw_size(l)),
        suspect: suspect(i, p.capacity),
    }
}

/// An estimate this DLE cannot plausibly have: more than `max_growth` times its last full
/// (at least 64 MiB), or more than any tape run could hold.
fn suspect(i: &Input, capacity: u64) -> Option<String> {
    use crate::units::human;
    let est = i.estimate(0)?;
    if i.payload(0) > capacity {
        return Some(format!(
            "does not fit tonight ({} needed, capacity {})",
            human(i.payload(0)),
            human(capacity)
        ));
    }
    let last = i.history.iter().rev().find(|r| r.level == 0)?.original_size;
    let limit = last.max(64 << 20) as f64 * i.dumptype.max_growth;
    (est as f64 > limit).then(|| {
        format!(
            "estimate {} is more than max_growth {} × its last full ({}); tonight does not fit \
             with it",
            human(est),
            i.dumptype.max_growth,
            human(last)
        )
    })
}

/// Warnings Amanda admins rely on: an incremental as big as a full, a full much smaller
/// than the last one.
fn sanity(i: &Input, level: Option<u8>, notes: &mut Vec<String>) {
    use crate::units::human;
    let name = format!("{} {}", i.dle.host, i.dle.disk);
    let (Some(full), Some(l)) = (i.estimate(0), level) else {
        return;
    };
    if l > 0
        && let Some(inc) = i.estimate(l)
        && full > 1 << 20
        && inc as f64 > 0.8 * full as f64
    {
        notes.push(format!(
            "{name}: level {l} estimate {} is close to the level 0 estimate {}: looks like a full (device change?)",
            human(inc),
            human(full)
        ));
    }
    if let Some(last) = i.history.iter().rev().find(|r| r.level == 0)
        && last.original_size > 1 << 20
        && (full as f64) < 0.5 * last.original_size as f64
    {
        notes.push(format!(
            "{name}: level 0 estimate {} is much smaller than the last full ({}): empty mount point?",
            human(full),
            human(last.original_size)
        ));
    }
}

#[cfg(test)]
mod tests;
