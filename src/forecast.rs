//! `tapir forecast`: what stays restorable. The next N nightly runs are played forward on
//! the rotation's own rules (one tape a night, each DLE's full when its dumpcycle says, an
//! incremental otherwise), naming the slot each night overwrites and the dumps that leave the
//! rotation with it; the vaults' policies are counted on the day N nights ahead over their
//! copies plus the fulls they will copy. The result: per DLE and per copy (rotation, each
//! mirror, each vault) the oldest full restorable today and in N days, and the DLEs whose
//! history will be shorter than `min_history`.

use crate::catalog::retention;
use crate::catalog::{DumpRecord, DumpStatus, history};
use crate::config::Config;
use crate::config::dumptype::Strategy;
use crate::vtape::rotation::{self, TapeInfo};
use anyhow::Result;
use chrono::{DateTime, Local};
use serde::Serialize;

/// One DLE's oldest restorable full in one copy.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Copy {
    /// `rotation`, `mirror:TARGET` or `vault:NAME`.
    pub copy: String,
    /// Datestamp of the oldest full it holds today (none: nothing).
    pub oldest_now: Option<String>,
    /// The same N days ahead.
    pub oldest_then: Option<String>,
}

/// One DLE.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dle {
    pub host: String,
    pub disk: String,
    pub copies: Vec<Copy>,
    /// N days ahead, the oldest restorable full over every copy is younger than min_history.
    pub below_min_history: bool,
}

/// A dump that leaves the rotation when its tape is overwritten.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dropped {
    pub host: String,
    pub disk: String,
    pub datestamp: String,
    pub level: u8,
}

/// One run ahead.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Night {
    /// Datestamp the run is expected at (now plus a day per night).
    pub datestamp: String,
    /// The slot it overwrites (none: no tape may be written).
    pub slot: Option<u32>,
    pub label: Option<String>,
    pub dropped: Vec<Dropped>,
}

/// The forecast.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Forecast {
    pub datestamp: String,
    pub days: u32,
    pub min_history_seconds: Option<u64>,
    pub dles: Vec<Dle>,
    pub nights: Vec<Night>,
}

/// Play the next `days` runs of `cfg` forward from now.
pub fn run(cfg: &Config, days: u32) -> Result<Forecast> {
    let now = crate::clock::now()?;
    let records = history::load_all(&cfg.catalog)?;
    // labels read as the rotation reads them: a damaged one is never a tape to write
    let trust = crate::keys::server_trust(&cfg.signing)?;
    let slots = crate::vtape::scan(&cfg.changer, &trust)?;
    let mut tapes: Vec<TapeInfo> = slots
        .iter()
        .filter(|s| s.label_error.is_none() && rotation::lost_label(s, &records).is_none())
        .map(crate::vtape::Slot::info)
        .collect();
    let mut future = records.clone();
    let mut fulls = last_fulls(&records);
    let mut nights = vec![];
    for k in 1..=days {
        let at = now + chrono::Duration::days(k as i64);
        let night = play_night(cfg, &mut tapes, &mut future, &mut fulls, at)?;
        let stop = night.slot.is_none();
        nights.push(night);
        if stop {
            break;
        }
    }
    let then = now + chrono::Duration::days(days as i64);
    let seen = Copies {
        mirrors: crate::mirror::load_states(&cfg.catalog),
        vaults: crate::vault::state::load(&cfg.catalog),
    };
    let dles = cfg
        .disklist
        .iter()
        .map(|d| dle(cfg, &d.host, &d.disk, (&records, &future), &seen, then))
        .collect();
    Ok(Forecast {
        datestamp: crate::clock::datestamp(&now),
        days,
        min_history_seconds: cfg.min_history,
        dles,
        nights,
    })
}

/// One run at `at`: the tape rotation picks, the dumps on it dropped, the DLEs' new dumps
/// written to it.
/// Each DLE's newest full.
type Fulls = std::collections::HashMap<(String, String), DateTime<Local>>;

fn last_fulls(records: &[DumpRecord]) -> Fulls {
    let mut out = Fulls::new();
    for r in records.iter().filter(|r| r.level == 0) {
        if let Some(t) = crate::clock::parse_datestamp(&r.datestamp) {
            let e = out.entry((r.host.clone(), r.disk.clone())).or_insert(t);
            *e = (*e).max(t);
        }
    }
    out
}

fn play_night(
    cfg: &Config,
    tapes: &mut [TapeInfo],
    records: &mut Vec<DumpRecord>,
    fulls: &mut Fulls,
    at: DateTime<Local>,
) -> Result<Night> {
    let rules = rotation::Rules {
        today: crate::clock::date(&at),
        ..crate::vtape::status::rules(&cfg.catalog, &cfg.changer, cfg.tapecycle)?
    };
    let needed = rotation::needed(tapes, records, &rules);
    let datestamp = crate::clock::datestamp(&at);
    let Some(t) = rotation::choose_next(tapes, &needed, rules.autolabel, &[]).cloned() else {
        return Ok(Night {
            datestamp,
            slot: None,
            label: None,
            dropped: vec![],
        });
    };
    let label = t.label.clone().unwrap_or_else(|| {
        let pattern = cfg.changer.autolabel.clone().unwrap_or_default();
        crate::vtape::expand_autolabel(&pattern, t.slot)
    });
    let dropped = records
        .iter()
        .filter(|r| r.label == label && !r.is_held())
        .map(|r| Dropped {
            host: r.host.clone(),
            disk: r.disk.clone(),
            datestamp: r.datestamp.clone(),
            level: r.level,
        })
        .collect();
    records.retain(|r| r.label != label || r.is_held());
    for d in &cfg.disklist {
        let dle = (d.host.clone(), d.disk.clone());
        if let Some(level) = next_level(cfg, d, fulls.get(&dle).copied(), at) {
            records.push(planned(&d.host, &d.disk, &datestamp, level, &label, t.slot));
            if level == 0 {
                fulls.insert(dle, at);
            }
        }
    }
    if let Some(x) = tapes.iter_mut().find(|x| x.slot == t.slot) {
        x.label = Some(label.clone());
        x.last_written = Some(datestamp.clone());
    }
    Ok(Night {
        datestamp,
        slot: Some(t.slot),
        label: Some(label),
        dropped,
    })
}

/// The level a DLE is expected to get at `at`: a full when its strategy takes only fulls,
/// when it has none, or when its dumpcycle has run out; else an incremental.
fn next_level(
    cfg: &Config,
    d: &crate::config::disklist::Dle,
    last_full: Option<DateTime<Local>>,
    at: DateTime<Local>,
) -> Option<u8> {
    let dt = cfg.dumptype(d);
    match dt.strategy {
        Strategy::Skip => None,
        Strategy::Noinc => Some(0),
        _ if dt.program.is_some() => Some(0),
        Strategy::Nofull | Strategy::Incronly => Some(1),
        Strategy::Standard => match last_full {
            None => Some(0),
            Some(t) if (at.date_naive() - t.date_naive()).num_days() >= cfg.dumpcycle as i64 => {
                Some(0)
            }
            Some(_) => Some(1),
        },
    }
}

/// A dump the forecast expects (sizes and sums unknown).
fn planned(host: &str, disk: &str, ds: &str, level: u8, label: &str, slot: u32) -> DumpRecord {
    DumpRecord {
        host: host.into(),
        disk: disk.into(),
        datestamp: ds.into(),
        level,
        label: label.into(),
        slot,
        file_number: 0,
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

/// The oldest restorable full of one DLE among `records`.
fn oldest(records: &[DumpRecord], host: &str, disk: &str) -> Option<String> {
    records
        .iter()
        .filter(|r| r.host == host && r.disk == disk && r.level == 0)
        .filter(|r| matches!(r.status, DumpStatus::Ok | DumpStatus::Partial))
        .map(|r| r.datestamp.clone())
        .min()
}

/// One DLE's copies; the mirror and vault states are read once by the caller.
struct Copies {
    mirrors: Vec<crate::mirror::State>,
    vaults: Vec<crate::vault::state::State>,
}

fn dle(
    cfg: &Config,
    host: &str,
    disk: &str,
    (now, future): (&[DumpRecord], &[DumpRecord]),
    seen: &Copies,
    then: DateTime<Local>,
) -> Dle {
    let mine = |rs: &[DumpRecord]| -> Vec<DumpRecord> {
        rs.iter()
            .filter(|r| r.host == host && r.disk == disk)
            .cloned()
            .collect()
    };
    let (now, future) = (mine(now), mine(future));
    let mut copies = vec![Copy {
        copy: "rotation".into(),
        oldest_now: oldest(&now, host, disk),
        oldest_then: oldest(&future, host, disk),
    }];
    for m in &seen.mirrors {
        let held: Vec<DumpRecord> = now.iter().filter(|r| m.holds(r)).cloned().collect();
        // a mirror follows the slots: N days ahead it holds what the rotation holds
        copies.push(Copy {
            copy: format!("mirror:{}", m.to),
            oldest_now: oldest(&held, host, disk),
            oldest_then: oldest(&future, host, disk),
        });
    }
    for v in cfg.vaults.values() {
        let held: Vec<DumpRecord> = seen
            .vaults
            .iter()
            .filter(|s| s.vault == v.name)
            .flat_map(|s| s.held.iter())
            .filter(|r| r.host == host && r.disk == disk)
            .cloned()
            .collect();
        // what it will copy: every full of the DLE the rotation holds until then
        let covered = cfg
            .dle(host, disk)
            .is_some_and(|d| v.covers(d, cfg.dumptype(d)));
        let mut all = held.clone();
        if covered {
            all.extend(now.iter().chain(&future).cloned());
        }
        let kept = retention::kept(&all, &v.policy(), then.date_naive());
        let kept: Vec<DumpRecord> = kept.iter().map(|k| k.record.clone()).collect();
        copies.push(Copy {
            copy: format!("vault:{}", v.name),
            oldest_now: oldest(&held, host, disk),
            oldest_then: oldest(&kept, host, disk),
        });
    }
    let below_min_history = cfg.min_history.is_some_and(|min| {
        let best = copies.iter().filter_map(|c| c.oldest_then.clone()).min();
        let since = best
            .as_deref()
            .and_then(crate::clock::parse_datestamp)
            .map(|t| (then - t).num_seconds().max(0) as u64);
        since.is_none_or(|s| s < min)
    });
    Dle {
        host: host.into(),
        disk: disk.into(),
        copies,
        below_min_history,
    }
}
