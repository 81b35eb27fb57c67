//! Runs one `tapir dump`: lock, reconcile, plan, then each DLE through a dumper onto the
//! taper's tapes. One DLE failing never stops the run; the exit code is decided at the end.

pub mod dumper;
pub mod groups;
pub mod prepare;
pub mod progress;
pub mod reconcile;
pub mod schedule;
pub mod taper;

use crate::catalog::{self, DumpRecord, runlog::RunLog};
use crate::config::{Config, disklist::Dle};
use crate::error::Error;
use crate::planner;
use crate::report::{Outcome, RunSummary, Status};
use anyhow::Result;
use serde_json::json;

/// What the admin asked for.
#[derive(Debug, Default)]
pub struct DumpOptions {
    pub host: Option<String>,
    pub disks: Vec<String>,
}

/// Tonight's plan and what it was made from.
pub struct Planned {
    pub plan: planner::Plan,
    /// DLEs whose estimate failed: they are not in the plan.
    pub failed: Vec<Outcome>,
    pub history: Vec<catalog::DumpRecord>,
}

/// `tapir dump --dry-run --json`: tonight's plan as data.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct DryRun {
    pub entries: Vec<DryRunEntry>,
    /// DLEs whose estimate failed (they would be FAILED tonight).
    pub failed: Vec<DryRunFailed>,
    pub notes: Vec<String>,
    pub target_tape_bytes: u64,
    pub planned_tape_bytes: u64,
    pub capacity_tape_bytes: u64,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct DryRunEntry {
    pub host: String,
    pub disk: String,
    /// None: not dumped tonight.
    pub level: Option<u8>,
    pub reason: String,
    pub tape_bytes: u64,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct DryRunFailed {
    pub host: String,
    pub disk: String,
    pub reason: Option<String>,
}

impl DryRun {
    pub fn of(p: &Planned) -> DryRun {
        DryRun {
            entries: p
                .plan
                .entries
                .iter()
                .map(|e| DryRunEntry {
                    host: e.dle.host.clone(),
                    disk: e.dle.disk.clone(),
                    level: e.level,
                    reason: e.reason.clone(),
                    tape_bytes: e.size,
                })
                .collect(),
            failed: p
                .failed
                .iter()
                .map(|o| DryRunFailed {
                    host: o.host.clone(),
                    disk: o.disk.clone(),
                    reason: o.reason.clone(),
                })
                .collect(),
            notes: p.plan.notes.clone(),
            target_tape_bytes: p.plan.target,
            planned_tape_bytes: p.plan.volume,
            capacity_tape_bytes: p.plan.capacity,
        }
    }
}

/// Estimate and plan (no lock, nothing written): `dump` and `dump --dry-run` share this.
pub fn make_plan(
    cfg: &Config,
    dles: &[Dle],
    now: chrono::DateTime<chrono::Local>,
    records: Vec<DumpRecord>,
) -> Result<Planned> {
    let history = prepare::history(cfg, records);
    let forced = catalog::forced::load(&cfg.catalog)?;
    let mut estimates = std::collections::BTreeMap::new();
    let mut failed = Vec::new();
    let mut planned = Vec::new();
    let asked = crate::pool::par_map(dles, cfg.inparallel, |d| {
        let h = prepare::of(&history, d);
        prepare::wants_estimate(cfg, d, &h).then(|| prepare::estimate(cfg, d, &h))
    });
    for (d, answer) in dles.iter().zip(asked) {
        match answer {
            Some(Err(e)) => {
                failed.push(failed_outcome(d, format!("estimate failed: {e:#}")));
                continue;
            }
            Some(Ok(sizes)) => {
                estimates.insert((d.host.clone(), d.disk.clone()), sizes);
            }
            None => {}
        }
        planned.push(d.clone());
    }
    let inputs = prepare::inputs(cfg, &planned, &history, &forced, &estimates);
    let params = planner::params(cfg, now);
    let plan = planner::plan(&inputs, &params);
    attempted_levels(cfg, dles, &history, &forced, &params, &mut failed);
    Ok(Planned {
        plan,
        failed,
        history,
    })
}

/// Run a dump; the returned summary decides the exit code.
pub fn run(cfg: &Config, opts: &DumpOptions) -> Result<RunSummary> {
    let dles = select(cfg, opts)?;
    let encrypts = dles
        .iter()
        .any(|d| cfg.dumptype(d).encrypt == crate::config::dumptype::Encrypt::Server);
    let recipients = if encrypts {
        anyhow::Context::with_context(crate::keys::recipients(&cfg.encryption), || {
            cfg.file.display().to_string()
        })?
    } else {
        Vec::new()
    };
    let signer = crate::keys::signer(&cfg.signing, &cfg.encryption, &cfg.changer)?;
    let trust = crate::signing::Trust::of_server(signer.public(), &cfg.signing)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "dump")?;
    let run_started = std::time::Instant::now();
    // the history is read once; reconcile brings it in line with the tapes, the taper
    // keeps it as dumps are written and tapes recycled
    let records = catalog::history::load_all(&cfg.catalog)?;
    let datestamp = unique_datestamp(cfg, &records)?;
    let mut log = RunLog::open(&cfg.catalog, &datestamp)?;
    log.event("start", json!({ "org": cfg.org, "dles": dles.len() }));
    let names: Vec<(String, String)> = dles
        .iter()
        .map(|d| (d.host.clone(), d.disk.clone()))
        .collect();
    let progress = progress::Progress::new(&cfg.catalog, &datestamp, &names);
    let reconciled = reconcile::reconcile(cfg, &trust, records)?;
    let records = reconciled.records;
    let mut notes = reconciled.notes;
    for n in &notes {
        log.event("reconcile", json!(n));
    }
    let mut problems = reconciled.problems;
    problems.extend(lost_labels(cfg, &records, &trust)?);
    for p in &problems {
        log.event("problem", json!(p));
        crate::say::problem(p);
    }
    progress.problems(&problems);
    let Planned {
        plan,
        failed,
        history,
    } = make_plan(cfg, &dles, crate::clock::now()?, records.clone())?;
    log.event("plan", json!({ "target": plan.target, "volume": plan.volume, "capacity": plan.capacity, "notes": plan.notes }));
    notes.extend(plan.notes.iter().cloned());
    for o in &failed {
        progress.set(
            &o.host,
            &o.disk,
            None,
            "FAILED",
            o.reason.as_deref().unwrap_or(""),
        );
    }
    let mut outcomes = failed;
    let mut to_dump = Vec::new();
    for entry in &plan.entries {
        let (h, d, r) = (&entry.dle.host, &entry.dle.disk, &entry.reason);
        match entry.level {
            Some(_) => {
                progress.set(h, d, entry.level, "waiting", r);
                to_dump.push(entry)
            }
            None if entry.delayed => {
                progress.set(h, d, None, "MISSED", r);
                let mut o = failed_outcome(&entry.dle, entry.reason.clone());
                o.status = Status::Missed;
                outcomes.push(o);
            }
            None => {
                progress.set(h, d, None, "skipped", r);
                notes.push(format!("{h} {d}: not dumped: {r}"));
            }
        }
    }
    let held = groups::before(cfg, &to_dump);
    to_dump.retain(|e| {
        let Some(why) = held.failed.get(&e.dle.host) else {
            return true;
        };
        progress.set(&e.dle.host, &e.dle.disk, e.level, "FAILED", why);
        let mut o = failed_outcome(&e.dle, why.clone());
        o.level = e.level.unwrap_or(0);
        o.plan = e.reason.clone();
        outcomes.push(o);
        false
    });
    let taper = std::sync::Mutex::new(taper::Taper::new(cfg, &signer, &trust, &datestamp, records));
    let log = std::sync::Mutex::new(log);
    let catalog_lock = std::sync::Mutex::new(());
    let done = schedule::run_all(cfg, &to_dump, |entry| {
        let level = entry.level.expect("only entries with a level");
        let h = prepare::of(&history, &entry.dle);
        let reference = if level > 0 {
            planner::levels::reference(&h, level)
        } else {
            None
        };
        let job = dumper::Job {
            cfg,
            dle: &entry.dle,
            level,
            reference,
            datestamp: &datestamp,
            recipients: &recipients,
            signer: &signer,
            limit: dumper::limit_for(cfg.dumptype(&entry.dle), entry.expected),
            progress: &progress,
        };
        let start = json!({ "host": job.dle.host, "disk": job.dle.disk, "level": level, "reason": entry.reason });
        log.lock().unwrap().event("dump-start", start);
        progress.set(&job.dle.host, &job.dle.disk, Some(level), "dumping", "");
        let mut outcome = outcome_of(&job, dumper::run(&job, &taper));
        outcome.plan = entry.reason.clone();
        if level == 0 && outcome.status != Status::Failed {
            let _guard = catalog_lock.lock().unwrap();
            if let Err(e) = catalog::forced::set(&cfg.catalog, &job.dle.host, &job.dle.disk, false)
            {
                crate::say::problem(format!(
                    "cannot clear the force of {} {}: {e:#}",
                    job.dle.host, job.dle.disk
                ));
            }
        }
        log.lock().unwrap().event(
            "dump-end",
            serde_json::to_value(&outcome).unwrap_or_default(),
        );
        let status = crate::report::name(&outcome.status);
        let reason = outcome.reason.as_deref().unwrap_or("");
        progress.set(&outcome.host, &outcome.disk, Some(level), &status, reason);
        let why = outcome
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        crate::say::progress(format!(
            "{} {} level {level}: {status}{why}",
            outcome.host, outcome.disk
        ));
        outcome
    });
    outcomes.extend(done);
    for n in groups::after(cfg, &held) {
        crate::say::problem(n.clone());
        log.lock().unwrap().event("group", json!(n));
        notes.push(n);
    }
    // what someone must look at reaches stderr under cron too (the report goes by mail)
    for o in outcomes.iter().filter(|o| o.status != Status::Ok) {
        let why = o
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        crate::say::problem(format!(
            "{} {} level {}: {}{why}",
            o.host,
            o.disk,
            o.level,
            crate::report::name(&o.status)
        ));
    }
    let taper = taper.into_inner().unwrap();
    let mut log = log.into_inner().unwrap();
    let summary = RunSummary {
        org: cfg.org.clone(),
        datestamp,
        tapes: taper.labels.clone(),
        no_tape: taper.refused,
        outcomes,
        notes,
        problems,
        seconds: run_started.elapsed().as_secs_f64(),
        next_tape: next_tape(cfg, &taper.records, &trust),
    };
    log.save_summary(&summary)?;
    progress.finish();
    log.event(
        "end",
        json!({ "exit": summary.exit_code(), "history_loads": catalog::history::loads() }),
    );
    Ok(summary)
}

/// A DLE that failed before planning (its estimate) is reported at the level it would have
/// had, from its history: a client with a changed host key the night after its full shows
/// level 1, not 0.
fn attempted_levels(
    cfg: &Config,
    dles: &[Dle],
    history: &[catalog::DumpRecord],
    forced: &catalog::forced::Forced,
    params: &planner::Params,
    failed: &mut [Outcome],
) {
    let failed_dles: Vec<Dle> = dles
        .iter()
        .filter(|d| failed.iter().any(|o| o.host == d.host && o.disk == d.disk))
        .cloned()
        .collect();
    let none = std::collections::BTreeMap::new();
    let inputs = prepare::inputs(cfg, &failed_dles, history, forced, &none);
    for i in &inputs {
        let (level, why) = planner::levels::decide(i, params);
        if let Some(o) = failed
            .iter_mut()
            .find(|o| o.host == i.dle.host && o.disk == i.dle.disk)
        {
            o.level = level.unwrap_or(0);
            o.plan = why;
        }
    }
}

fn failed_outcome(d: &Dle, reason: String) -> Outcome {
    Outcome {
        host: d.host.clone(),
        disk: d.disk.clone(),
        level: 0,
        status: Status::Failed,
        reason: Some(reason),
        plan: String::new(),
        warnings: vec![],
        notes: vec![],
        original_size: 0,
        payload_size: 0,
        seconds: 0.0,
        tape_file: None,
    }
}

fn outcome_of(job: &dumper::Job, r: Result<dumper::Written>) -> Outcome {
    let mut o = failed_outcome(job.dle, String::new());
    o.level = job.level;
    o.reason = None;
    match r {
        Ok(w) => {
            o.status = if w.warnings.is_empty() {
                Status::Ok
            } else {
                Status::Partial
            };
            o.reason = w.index_note;
            o.warnings = w.warnings;
            o.notes = w.notes;
            o.original_size = w.record.original_size;
            o.payload_size = w.record.payload_size;
            o.seconds = w.record.seconds;
            o.tape_file = Some(format!("{}:{}", w.record.label, w.record.file_number));
        }
        Err(e) => o.reason = Some(format!("{e:#}")),
    }
    o
}

/// The DLEs named on the command line (all when none), or a usage error naming the miss.
pub fn select(cfg: &Config, opts: &DumpOptions) -> Result<Vec<Dle>> {
    let Some(host) = &opts.host else {
        return Ok(cfg.disklist.clone());
    };
    let of_host: Vec<&Dle> = cfg.disklist.iter().filter(|d| &d.host == host).collect();
    if of_host.is_empty() {
        return Err(Error::config(format!(
            "host {host:?} is not in the disklist {}",
            cfg.disklist_file.display()
        ))
        .into());
    }
    if opts.disks.is_empty() {
        return Ok(of_host.into_iter().cloned().collect());
    }
    opts.disks
        .iter()
        .map(|d| {
            of_host
                .iter()
                .find(|x| &x.disk == d)
                .map(|x| (*x).clone())
                .ok_or_else(|| {
                    let known: Vec<&str> = of_host.iter().map(|x| x.disk.as_str()).collect();
                    Error::config(format!(
                        "no disk {d:?} on {host} in the disklist (it has: {})",
                        known.join(", ")
                    ))
                    .into()
                })
        })
        .collect()
}

/// The run's datestamp: now, or the next free second if a run already used it; never
/// before the catalog's newest (a clock set back is refused, see [`crate::clock::not_before`]).
fn unique_datestamp(cfg: &Config, records: &[DumpRecord]) -> Result<String> {
    let newest = catalog::newest_datestamp(&cfg.catalog, records)?;
    let mut t =
        crate::clock::not_before(crate::clock::now()?, newest.as_deref()).map_err(Error::config)?;
    loop {
        let ds = crate::clock::datestamp(&t);
        if !cfg.catalog.join("runs").join(&ds).exists() {
            return Ok(ds);
        }
        t += chrono::Duration::seconds(1);
    }
}

/// The tape the next run will write, as the report names it.
fn next_tape(
    cfg: &Config,
    records: &[DumpRecord],
    trust: &crate::signing::Trust,
) -> Option<String> {
    let st = crate::vtape::status::status(&cfg.changer, records, cfg.tapecycle, trust).ok()?;
    Some(match st.iter().find(|t| t.next) {
        Some(t) => match &t.label {
            Some(l) => format!("tape {l} (slot {})", t.slot),
            None => format!("a new tape in slot {} (labelled automatically)", t.slot),
        },
        None => "NO TAPE IS USABLE: label a new one (`tapir tapes` says why)".into(),
    })
}

/// Slots whose label file is gone while the catalog lists dumps there (never reused).
fn lost_labels(
    cfg: &Config,
    records: &[DumpRecord],
    trust: &crate::signing::Trust,
) -> Result<Vec<String>> {
    Ok(crate::vtape::scan(&cfg.changer, trust)?
        .iter()
        .filter_map(|s| {
            crate::vtape::rotation::lost_label(s, records).map(|w| format!("slot {}: {w}", s.slot))
        })
        .collect())
}
