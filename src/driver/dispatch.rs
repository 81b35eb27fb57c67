//! Tonight's plan handed out: each planned DLE waits (with what the planner expects from it),
//! is missed or skipped, and the DLEs of hosts whose group's pre hooks failed are held back.

use super::events::{Event, Events};
use super::{failed_outcome, groups};
use crate::config::Config;
use crate::planner;
use crate::report::Status;

/// Each planned DLE waits, is missed or is skipped; those with a level are returned.
pub fn dispatch<'p>(
    cfg: &Config,
    plan: &'p planner::Plan,
    events: &Events,
) -> Vec<&'p planner::PlanEntry> {
    let mut to_dump = Vec::new();
    for entry in &plan.entries {
        match entry.level {
            Some(level) => {
                // what arrives from the client: its compressed stream, or the tar
                let planned = if cfg.dumptype(&entry.dle).compress.on_client() {
                    entry.size
                } else {
                    entry.expected
                };
                events.emit(Event::Waiting {
                    dle: &entry.dle,
                    level,
                    reason: &entry.reason,
                    planned,
                });
                to_dump.push(entry)
            }
            None if entry.delayed => {
                let mut o = failed_outcome(&entry.dle, entry.reason.clone());
                o.status = Status::Missed;
                events.emit(Event::Missed(o));
            }
            None => events.emit(Event::Skipped(&entry.dle, &entry.reason)),
        }
    }
    to_dump
}

/// The DLEs of hosts whose group's pre hooks failed are FAILED, not dumped.
pub fn hold_back<'p>(
    held: &groups::Held,
    to_dump: Vec<&'p planner::PlanEntry>,
    events: &Events,
) -> Vec<&'p planner::PlanEntry> {
    to_dump
        .into_iter()
        .filter(|e| {
            let Some(why) = held.failed.get(&e.dle.host) else {
                return true;
            };
            let mut o = failed_outcome(&e.dle, why.clone());
            o.level = e.level.unwrap_or(0);
            o.plan = e.reason.clone();
            events.emit(Event::Failed(o, e.level));
            false
        })
        .collect()
}
