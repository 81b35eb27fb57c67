//! Balancing and capacity: promote fulls early to bring tonight toward an even share of the
//! cycle's full volume, then delay the lowest-priority fulls if tonight does not fit.

use super::{Params, PlanEntry};
use crate::units::human;

/// The balanced nightly volume: everything at its incremental size (fixed fulls as they
/// are), plus one `runspercycle`-th of the movable fulls' extra size.
pub fn target(entries: &[PlanEntry], p: &Params) -> u64 {
    let base: u64 = entries
        .iter()
        .filter(|e| e.level.is_some())
        .map(|e| if e.movable { e.incr_size } else { e.size })
        .fold(0, u64::saturating_add);
    let extra: u64 = entries
        .iter()
        .filter(|e| e.movable)
        .map(|e| e.full_size.saturating_sub(e.incr_size))
        .fold(0, u64::saturating_add);
    base.saturating_add(extra / p.runspercycle.max(1) as u64)
}

fn volume(entries: &[PlanEntry]) -> u64 {
    entries
        .iter()
        .filter(|e| e.level.is_some())
        .map(|e| e.size)
        .fold(0, u64::saturating_add)
}

/// Amanda's balance: tonight's fulls should come to about one `runspercycle`-th of the
/// cycle's full volume. On a light night, fulls move forward (soonest due first, ties by host
/// and disk, so the same input always gives the same plan) while tonight's fulls stay at or
/// below that share: a promotion never takes tonight past it. Never a DLE whose last full is
/// from today.
pub fn promote(entries: &mut [PlanEntry], runspercycle: u32, dumpcycle: u32) {
    let cycle: u64 = entries
        .iter()
        .filter(|e| e.movable || e.level == Some(0))
        .map(|e| e.full_size)
        .fold(0, u64::saturating_add);
    let share = cycle / runspercycle.max(1) as u64;
    let mut tonight: u64 = entries
        .iter()
        .filter(|e| e.level == Some(0))
        .map(|e| e.full_size)
        .fold(0, u64::saturating_add);
    let mut order: Vec<usize> = (0..entries.len())
        .filter(|&k| entries[k].movable && entries[k].level.is_some_and(|l| l > 0))
        .collect();
    order.sort_by(|&a, &b| {
        let key = |k: usize| {
            let e = &entries[k];
            (e.nights_to_due, std::cmp::Reverse(e.full_size))
        };
        key(a)
            .cmp(&key(b))
            .then_with(|| entries[a].dle.host.cmp(&entries[b].dle.host))
            .then_with(|| entries[a].dle.disk.cmp(&entries[b].dle.disk))
    });
    for k in order {
        let e = &mut entries[k];
        if e.nights_to_due >= dumpcycle as i64 || tonight.saturating_add(e.full_size) > share {
            continue;
        }
        tonight += e.full_size;
        e.reason = format!(
            "promoted to balance: full was due in {} night(s)",
            e.nights_to_due
        );
        e.level = Some(0);
        e.size = e.full_size;
    }
}

/// While tonight exceeds `capacity`: turn the lowest-priority, largest fulls that have an
/// older full into incrementals; then leave out lowest-priority DLEs entirely.
pub fn fit(entries: &mut [PlanEntry], capacity: u64, notes: &mut Vec<String>) {
    let mut v = volume(entries);
    if v <= capacity {
        return;
    }
    // a DLE whose client claims an implausible size gives way first, whole
    for e in entries
        .iter_mut()
        .filter(|e| e.suspect.is_some() && e.level.is_some())
    {
        if v <= capacity {
            return;
        }
        v = v.saturating_sub(e.size);
        e.reason = format!("delayed: {}", e.suspect.as_deref().unwrap_or(""));
        notes.push(format!("{} {}: {}", e.dle.host, e.dle.disk, e.reason));
        e.level = None;
        e.size = 0;
        e.delayed = true;
    }
    // a forced full stays a full: the admin asked for it
    let mut fulls: Vec<usize> = (0..entries.len())
        .filter(|&k| entries[k].level == Some(0) && entries[k].has_full && entries[k].movable)
        .collect();
    fulls.sort_by_key(|&k| (entries[k].priority, std::cmp::Reverse(entries[k].full_size)));
    for k in fulls {
        if v <= capacity {
            return;
        }
        let e = &mut entries[k];
        v = v.saturating_sub(e.size).saturating_add(e.incr_size);
        e.level = Some(e.incr_level);
        e.size = e.incr_size;
        e.reason = format!(
            "delayed: full does not fit tonight ({} planned, capacity {}); incremental instead",
            human(v + e.full_size - e.incr_size),
            human(capacity)
        );
        notes.push(format!("{} {}: {}", e.dle.host, e.dle.disk, e.reason));
    }
    let mut rest: Vec<usize> = (0..entries.len())
        .filter(|&k| entries[k].level.is_some())
        .collect();
    rest.sort_by_key(|&k| (entries[k].priority, std::cmp::Reverse(entries[k].size)));
    for k in rest {
        if v <= capacity {
            return;
        }
        let e = &mut entries[k];
        v = v.saturating_sub(e.size);
        e.reason = format!(
            "delayed: does not fit tonight ({} needed, capacity {})",
            human(e.size),
            human(capacity)
        );
        e.level = None;
        e.size = 0;
        e.delayed = true;
    }
}
