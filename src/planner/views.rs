//! Admin views of the schedule: when each DLE's next full is due (`tapir due`) and the
//! expected volume per night over the next cycle (`tapir balance`). Pure.

use super::{Input, Params, levels};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Due {
    pub host: String,
    pub disk: String,
    /// Datestamp of the newest full, if any.
    pub last_full: Option<String>,
    /// Nights until the next full is due (0: tonight, negative: overdue).
    pub nights: i64,
    #[serde(rename = "full_tape_bytes")]
    pub full_size: u64,
}

pub fn due(inputs: &[Input], p: &Params) -> Vec<Due> {
    inputs
        .iter()
        .map(|i| Due {
            host: i.dle.host.clone(),
            disk: i.dle.disk.clone(),
            last_full: i
                .history
                .iter()
                .rev()
                .find(|r| r.level == 0)
                .map(|r| r.datestamp.clone()),
            nights: levels::nights_since_full(&i.history, p).map_or(0, |n| p.dumpcycle as i64 - n),
            full_size: i.payload(0),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Night {
    /// 0 = tonight.
    pub night: u32,
    pub fulls: usize,
    #[serde(rename = "full_tape_bytes")]
    pub full_bytes: u64,
    #[serde(rename = "incr_tape_bytes")]
    pub incr_bytes: u64,
}

/// Expected volume per night over the next `dumpcycle` nights if every full ran when due
/// (overdue ones tonight) and every other DLE dumped its usual incremental.
pub fn balance(inputs: &[Input], p: &Params) -> Vec<Night> {
    let n = p.dumpcycle.max(1);
    let mut nights: Vec<Night> = (0..n)
        .map(|night| Night {
            night,
            fulls: 0,
            full_bytes: 0,
            incr_bytes: 0,
        })
        .collect();
    for (i, d) in inputs.iter().zip(due(inputs, p)) {
        let full_night = d.nights.clamp(0, n as i64 - 1) as u32;
        let incr = i.payload(
            levels::candidate_levels(&i.history)
                .first()
                .copied()
                .unwrap_or(1),
        );
        for night in &mut nights {
            if night.night == full_night {
                night.fulls += 1;
                night.full_bytes += d.full_size;
            } else {
                night.incr_bytes += incr;
            }
        }
    }
    nights
}
