//! Running dumps at once: at most `inparallel` in total, `maxdumps` per host (a dumptype may
//! set its own), one at a time per (host, spindle); biggest first, and a slow client only
//! ever holds its own slot.

use crate::config::Config;
use crate::planner::PlanEntry;
use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex};

struct State {
    /// Indices into the entries, biggest first.
    queue: Vec<usize>,
    per_host: HashMap<String, u32>,
    spindles: HashSet<(String, i64)>,
}

/// Run `work` for every entry on up to `cfg.inparallel` threads (dumpers, numbered from 0:
/// the report's timeline draws one lane each) under the limits above. Results come back in
/// the entries' order.
pub fn run_all<R: Send>(
    cfg: &Config,
    entries: &[&PlanEntry],
    work: impl Fn(usize, &PlanEntry) -> R + Sync,
) -> Vec<R> {
    let mut queue: Vec<usize> = (0..entries.len()).collect();
    queue.sort_by_key(|&k| std::cmp::Reverse(entries[k].size));
    let state = Mutex::new(State {
        queue,
        per_host: HashMap::new(),
        spindles: HashSet::new(),
    });
    let wake = Condvar::new();
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..entries.len()).map(|_| None).collect());
    let limit = |e: &PlanEntry| {
        cfg.dumptype(&e.dle)
            .maxdumps
            .unwrap_or_else(|| cfg.maxdumps(&e.dle.host))
            .max(1)
    };
    let workers = (cfg.inparallel as usize).clamp(1, entries.len().max(1));
    std::thread::scope(|scope| {
        let (state, wake, results, limit, work) = (&state, &wake, &results, &limit, &work);
        for dumper in 0..workers {
            scope.spawn(move || {
                while let Some(k) = next(state, wake, entries, limit) {
                    let r = work(dumper, entries[k]);
                    results.lock().unwrap()[k] = Some(r);
                    release(state, wake, entries[k]);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every entry ran"))
        .collect()
}

/// The next entry allowed to start, waiting while every queued one is blocked by a limit.
fn next(
    state: &Mutex<State>,
    wake: &Condvar,
    entries: &[&PlanEntry],
    limit: &dyn Fn(&PlanEntry) -> u32,
) -> Option<usize> {
    let mut s = state.lock().unwrap();
    loop {
        if s.queue.is_empty() {
            return None;
        }
        let pos = s.queue.iter().position(|&k| {
            let d = &entries[k].dle;
            s.per_host.get(&d.host).copied().unwrap_or(0) < limit(entries[k])
                && d.spindle
                    .is_none_or(|sp| !s.spindles.contains(&(d.host.clone(), sp)))
        });
        if let Some(pos) = pos {
            let k = s.queue.remove(pos);
            let d = &entries[k].dle;
            *s.per_host.entry(d.host.clone()).or_default() += 1;
            if let Some(sp) = d.spindle {
                s.spindles.insert((d.host.clone(), sp));
            }
            return Some(k);
        }
        s = wake.wait(s).unwrap();
    }
}

fn release(state: &Mutex<State>, wake: &Condvar, e: &PlanEntry) {
    let mut s = state.lock().unwrap();
    if let Some(n) = s.per_host.get_mut(&e.dle.host) {
        *n -= 1;
    }
    if let Some(sp) = e.dle.spindle {
        s.spindles.remove(&(e.dle.host.clone(), sp));
    }
    wake.notify_all();
}
