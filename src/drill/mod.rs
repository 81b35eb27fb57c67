//! `tapir drill`: restores for real, on a schedule, from the copy an admin would restore from
//! after a disaster. Each run takes the DLEs drilled least recently (every DLE within the
//! drill cycle), restores each one's latest state (or a seeded random sample of its files)
//! into a scratch directory, and holds every restored entry against its index; once a cycle
//! the stock tools restore one DLE instead. The rate it measures gives each host's
//! recovery-time estimate.

pub mod compare;
pub mod nagios;
mod stock;

use crate::catalog::drills::{self as state, Copy, Drills, Last};
use crate::catalog::{DumpRecord, history, search};
use crate::config::Config;
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one run is asked to do.
pub struct Options<'a> {
    /// The copy's name in the state (the `--from` root as given).
    pub copy: String,
    pub identity: &'a Path,
    pub trust: crate::signing::Trust,
    /// Only these hosts (empty: all).
    pub hosts: &'a [String],
    pub max_bytes: Option<u64>,
    pub scratch: PathBuf,
    /// Every DLE is drilled within this many days (one drill run a day).
    pub cycle_days: u32,
    /// The seed of this run's samples; default: from the clock (printed, so that a drill can
    /// be repeated).
    pub seed: Option<u64>,
    pub now: chrono::DateTime<chrono::Local>,
}

/// One DLE's drill.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    pub host: String,
    pub disk: String,
    /// The datestamp of the state restored (the newest dump of the chain).
    pub datestamp: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `tapir` (restored by tapir recover) or `stock` (dd | age | gzip | tar, sha256sum -c).
    pub by: String,
    /// The seed of the random sample when only a sample of files was restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Entries compared with the index.
    pub entries: u64,
    /// Tape bytes of the chain (read whole; a sample reads less).
    pub tape_bytes: u64,
    /// The whole drill: restore and comparison.
    pub seconds: f64,
    /// The restore alone, what the copy's rate is measured from (the comparison reads every
    /// restored file again).
    pub restore_seconds: f64,
    /// CPU seconds the restore took (all its threads): how many cores one restore keeps
    /// busy, so how much restoring several DLEs at once can gain on this machine.
    pub restore_cpu_seconds: f64,
}

/// A host's recovery-time estimate from one copy.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Rto {
    pub host: String,
    /// Tape bytes of the latest chain of every DLE of the host.
    pub tape_bytes: u64,
    /// At the copy's measured rate, one DLE at a time.
    pub seconds: f64,
    /// With `--parallel N` (N = this machine's cores): the largest DLE, or the total at the
    /// rate times what N restores at once can gain (N, or fewer when one restore already
    /// keeps several cores busy), whichever is longer.
    pub parallel_seconds: f64,
    pub parallel: usize,
}

/// What a run did and found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    pub copy: String,
    pub drilled: Vec<Outcome>,
    /// The copy's restore rate (tape bytes a second), measured now or by an earlier drill.
    pub bytes_per_second: Option<f64>,
    pub rto: Vec<Rto>,
}

/// The DLEs of the copy, each with its latest chain, oldest first; hosts filtered.
fn dles(cfg: &Config, hosts: &[String]) -> Result<Vec<Vec<DumpRecord>>> {
    let mut by: BTreeMap<(String, String), Vec<DumpRecord>> = BTreeMap::new();
    for r in history::load_all(&cfg.catalog)? {
        if hosts.is_empty() || hosts.contains(&r.host) {
            by.entry((r.host.clone(), r.disk.clone()))
                .or_default()
                .push(r);
        }
    }
    Ok(by
        .into_values()
        .map(|rs| {
            crate::recover::chain(&rs, None)
                .into_iter()
                .cloned()
                .collect()
        })
        .filter(|c: &Vec<DumpRecord>| !c.is_empty())
        .collect())
}

/// Which DLEs this run drills: every DLE whose last drill failed or that was not drilled
/// within the cycle, and at least a cycle's share of all (least recently drilled first,
/// never drilled before all).
pub fn pick<'c>(
    chains: &'c [Vec<DumpRecord>],
    copy: &Copy,
    cycle_days: u32,
    now: &chrono::DateTime<chrono::Local>,
) -> Vec<&'c [DumpRecord]> {
    let last = |c: &[DumpRecord]| {
        copy.dles
            .get(&state::key(&c[0].host, &c[0].disk))
            .map(|l| l.at.clone())
    };
    let mut order: Vec<&[DumpRecord]> = chains.iter().map(Vec::as_slice).collect();
    order.sort_by_key(|c| last(c));
    let due_before =
        crate::clock::datestamp(&(*now - chrono::Duration::days(cycle_days as i64 - 1)));
    // a DLE whose last drill failed goes first again: the next run proves the fix
    let failed = |c: &[DumpRecord]| {
        copy.dles
            .get(&state::key(&c[0].host, &c[0].disk))
            .is_some_and(|l| !l.ok)
    };
    order.sort_by_key(|c| !failed(c));
    let overdue = order
        .iter()
        .filter(|c| failed(c) || last(c).is_none_or(|at| at < due_before))
        .count();
    let share = chains.len().div_ceil(cycle_days.max(1) as usize);
    order.truncate(overdue.max(share));
    order
}

/// Run the drills; the state records each outcome.
pub fn run(cfg: &Config, o: &Options, drills: &mut Drills) -> Result<Report> {
    let chains = dles(cfg, o.hosts)?;
    let copy = drills.copies.entry(o.copy.clone()).or_default();
    if o.hosts.is_empty() {
        // a DLE the copy no longer holds (retired, or its dumps rotated out) is not due
        let held: std::collections::HashSet<String> = chains
            .iter()
            .map(|c| state::key(&c[0].host, &c[0].disk))
            .collect();
        copy.dles.retain(|k, _| held.contains(k));
    }
    crate::fsutil::create_dir_all(&o.scratch)?;
    tidy_scratch(&o.scratch);
    let picked = pick(&chains, copy, o.cycle_days, &o.now);
    let stock_due = copy.stock_ok.as_deref().is_none_or(|at| {
        at < crate::clock::datestamp(&(o.now - chrono::Duration::days(o.cycle_days as i64 - 1)))
            .as_str()
    });
    let stock_pick = stock_due.then(|| stock::choose(cfg, &picked)).flatten();
    // one seed a run, printed with each sample: `--seed` draws the same samples again
    let seed = o.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        t.map_or(0, |d| d.as_nanos() as u64) ^ u64::from(std::process::id())
    });
    let mut drilled = Vec::new();
    let (mut whole_bytes, mut whole_secs, mut whole_cpu) = (0u64, 0f64, 0f64);
    for (n, chain) in picked.iter().enumerate() {
        let dir = o
            .scratch
            .join(format!("tapir-drill-{}-{n}", std::process::id()));
        let by_stock = stock_pick == Some(n);
        let out = if by_stock {
            stock::drill(cfg, o, chain, &dir)
        } else {
            drill_one(cfg, o, chain, &dir, seed)
        };
        if let Err(e) = std::fs::remove_dir_all(&dir)
            && dir.exists()
        {
            // the drill's result stands; the next run removes what is left (tidy_scratch)
            crate::say::problem(format!(
                "WARNING: the drill's scratch {} could not be removed: {e}",
                dir.display()
            ));
        }
        if out.ok && out.seed.is_none() && !by_stock {
            whole_bytes += out.tape_bytes;
            whole_secs += out.restore_seconds;
            whole_cpu += out.restore_cpu_seconds;
        }
        if out.ok && by_stock {
            copy.stock_ok = Some(crate::clock::datestamp(&o.now));
        }
        record(copy, &out, &o.now);
        drilled.push(out);
    }
    if whole_secs > 0.0 && whole_bytes > 0 {
        copy.bytes_per_second = Some(whole_bytes as f64 / whole_secs);
        copy.cores_busy = Some((whole_cpu / whole_secs).max(0.1));
    }
    let rate = copy.bytes_per_second;
    let busy = copy.cores_busy.unwrap_or(1.0);
    let rto = rate.map(|r| rto(&chains, r, busy)).unwrap_or_default();
    if o.hosts.is_empty() {
        copy.rto.clear();
    }
    copy.rto
        .extend(rto.iter().map(|h| (h.host.clone(), h.seconds)));
    Ok(Report {
        copy: o.copy.clone(),
        rto,
        bytes_per_second: rate,
        drilled,
    })
}

fn record(copy: &mut Copy, out: &Outcome, now: &chrono::DateTime<chrono::Local>) {
    let k = state::key(&out.host, &out.disk);
    let at = crate::clock::datestamp(now);
    let last_ok = if out.ok {
        Some(at.clone())
    } else {
        copy.dles.get(&k).and_then(|l| l.last_ok.clone())
    };
    copy.dles.insert(
        k,
        Last {
            host: out.host.clone(),
            disk: out.disk.clone(),
            at,
            ok: out.ok,
            reason: out.reason.clone(),
            last_ok,
        },
    );
}

/// Scratch directories of drills that were killed (their process is gone).
fn tidy_scratch(scratch: &Path) {
    let Ok(rd) = std::fs::read_dir(scratch) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("tapir-drill-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !crate::sys::alive(pid) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn outcome(chain: &[DumpRecord], by: &str) -> Outcome {
    let newest = chain.last().unwrap();
    Outcome {
        host: newest.host.clone(),
        disk: newest.disk.clone(),
        datestamp: newest.datestamp.clone(),
        ok: false,
        reason: None,
        by: by.to_string(),
        seed: None,
        entries: 0,
        tape_bytes: chain.iter().map(|r| r.payload_size).sum(),
        seconds: 0.0,
        restore_seconds: 0.0,
        restore_cpu_seconds: 0.0,
    }
}

/// Restore one DLE's latest state (or a sample) with tapir and compare it with the index.
fn drill_one(cfg: &Config, o: &Options, chain: &[DumpRecord], dir: &Path, seed: u64) -> Outcome {
    let mut out = outcome(chain, "tapir");
    let (started, cpu) = (Instant::now(), crate::sys::cpu_seconds());
    let result = (|| -> Result<compare::Compared> {
        let refs: Vec<&DumpRecord> = chain.iter().collect();
        let state = search::state(&cfg.catalog, &refs)?;
        let sample = o.max_bytes.and_then(|max| sample(&state, max, seed));
        if sample.is_some() {
            out.seed = Some(seed);
        }
        let newest = chain.last().unwrap();
        let req = crate::recover::Request {
            host: newest.host.clone(),
            disk: newest.disk.clone(),
            date: Some(newest.datestamp.clone()),
            to: dir.to_path_buf(),
            paths: sample
                .iter()
                .flatten()
                .map(|p| crate::catalog::index::unescape(p))
                .collect(),
            identity: o.identity.to_path_buf(),
            overwrite: false,
            trust: o.trust.clone(),
        };
        // a program DLE's stream restores as one file, with no metadata of its own
        let file = cfg.dump_path(newest);
        let stream = crate::fetch::open(&file, newest, &o.trust)?
            .header
            .is_stream();
        let report = crate::recover::run(cfg, &req)?;
        out.restore_seconds = started.elapsed().as_secs_f64();
        out.restore_cpu_seconds = crate::sys::cpu_seconds() - cpu;
        crate::failpoint::hit("drill-restored");
        if let Some(first) = report.refused.first() {
            anyhow::bail!("{} member(s) refused, first: {first}", report.refused.len());
        }
        Ok(compare::compare(dir, &state, sample.as_deref(), stream))
    })();
    out.seconds = started.elapsed().as_secs_f64();
    match result {
        Err(e) => out.reason = Some(cause(&e)),
        Ok(c) => {
            out.entries = c.entries;
            out.ok = c.problems.is_empty();
            if let Some(first) = c.problems.first() {
                out.reason = Some(format!(
                    "{} entr{} differ from the index, first: {first}",
                    c.problems.len(),
                    if c.problems.len() == 1 { "y" } else { "ies" }
                ));
            }
        }
    }
    out
}

/// Why a restore failed, without the staging directory's "nothing was restored" (a drill's
/// scratch is always removed).
fn cause(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e
        .chain()
        .map(|c| c.to_string())
        .filter(|m| !m.starts_with("nothing was restored into"))
        .collect();
    parts.join(": ")
}

/// A random sample of the state's regular files up to `max` bytes (at least one file), or
/// `None` when the whole state fits.
pub fn sample(
    state: &BTreeMap<String, crate::catalog::index::IndexLine>,
    max: u64,
    seed: u64,
) -> Option<Vec<String>> {
    let mut files: Vec<(&String, u64)> = state
        .iter()
        .filter(|(_, l)| matches!(l.t.as_str(), "0" | "7"))
        .map(|(k, l)| (k, l.s))
        .collect();
    if files.iter().map(|(_, s)| s).sum::<u64>() <= max {
        return None;
    }
    let mut rng = SplitMix(seed);
    for i in (1..files.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        files.swap(i, j);
    }
    let mut taken = Vec::new();
    let mut total = 0u64;
    for (k, s) in files {
        if !taken.is_empty() && total + s > max {
            continue;
        }
        total += s;
        taken.push(k.clone());
    }
    Some(taken)
}

/// SplitMix64: a seeded sequence, so that a sample can be drawn again from its seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Each host's recovery time at `rate` tape bytes a second; with several DLEs at once, as
/// much faster as this machine's cores allow when one restore keeps `busy` of them busy.
fn rto(chains: &[Vec<DumpRecord>], rate: f64, busy: f64) -> Vec<Rto> {
    let mut hosts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for c in chains {
        let bytes = c.iter().map(|r| r.payload_size).sum();
        hosts.entry(&c[0].host).or_default().push(bytes);
    }
    let parallel = crate::codec::threads().max(1);
    let gain = (parallel as f64 / busy).clamp(1.0, parallel as f64);
    hosts
        .into_iter()
        .map(|(host, dles)| {
            let total: u64 = dles.iter().sum();
            let largest = dles.iter().copied().max().unwrap_or(0);
            let seconds = total as f64 / rate;
            Rto {
                host: host.to_string(),
                tape_bytes: total,
                seconds,
                parallel_seconds: (largest as f64 / rate).max(seconds / gain),
                parallel,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::index::IndexLine;

    #[test]
    fn a_sample_is_the_same_for_a_seed_and_stays_within_the_bytes() {
        let mut state = BTreeMap::new();
        for i in 0..100 {
            state.insert(format!("f{i}"), IndexLine::file(&format!("./f{i}"), 10, 0));
        }
        let a = sample(&state, 95, 7).unwrap();
        assert_eq!(a.len(), 9);
        assert_eq!(a, sample(&state, 95, 7).unwrap());
        assert_ne!(a, sample(&state, 95, 8).unwrap());
        assert_eq!(sample(&state, 1000, 7), None);
        assert_eq!(sample(&state, 3, 7).unwrap().len(), 1, "at least one file");
    }
}
