//! Runs one `tapir dump`: lock, reconcile, plan, then each DLE through a dumper onto the
//! taper's tapes. One DLE failing never stops the run; the exit code is decided at the end.

pub mod dumper;
pub mod reconcile;
pub mod taper;

use crate::catalog::{self, runlog::RunLog};
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

/// Run a dump; the returned summary decides the exit code.
pub fn run(cfg: &Config, opts: &DumpOptions) -> Result<RunSummary> {
    let dles = select(cfg, opts)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "dump")?;
    let datestamp = unique_datestamp(cfg)?;
    let mut log = RunLog::open(&cfg.catalog, &datestamp)?;
    log.event("start", json!({ "org": cfg.org, "dles": dles.len() }));
    let encrypts = dles
        .iter()
        .any(|d| cfg.dumptype(d).encrypt == crate::config::dumptype::Encrypt::Server);
    let recipients = if encrypts {
        crate::keys::recipients(cfg)?
    } else {
        Vec::new()
    };
    let mut notes = reconcile::reconcile(cfg)?;
    for n in &notes {
        log.event("reconcile", json!(n));
    }
    let history = catalog::history::load_all(&cfg.catalog)?;
    let plan = planner::plan(&dles, &cfg.dumptypes, &history);
    let mut taper = taper::Taper::new(cfg, &datestamp);
    let mut outcomes = Vec::new();
    for entry in &plan.entries {
        let Some(level) = entry.level else {
            notes.push(format!(
                "{} {}: not dumped: {}",
                entry.dle.host, entry.dle.disk, entry.reason
            ));
            continue;
        };
        let job = dumper::Job {
            cfg,
            dle: &entry.dle,
            level,
            datestamp: &datestamp,
            recipients: &recipients,
        };
        log.event("dump-start", json!({ "host": job.dle.host, "disk": job.dle.disk, "level": level, "reason": entry.reason }));
        let outcome = outcome_of(&job, dumper::run(&job, &mut taper));
        log.event("dump-end", serde_json::to_value(&outcome)?);
        eprintln!(
            "tapir: {} {} level {}: {}{}",
            outcome.host,
            outcome.disk,
            level,
            format!("{:?}", outcome.status).to_uppercase(),
            outcome
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        outcomes.push(outcome);
    }
    let summary = RunSummary {
        org: cfg.org.clone(),
        datestamp,
        tapes: taper.labels.clone(),
        outcomes,
        notes,
    };
    log.save_summary(&summary)?;
    log.event("end", json!({ "exit": summary.exit_code() }));
    Ok(summary)
}

fn outcome_of(job: &dumper::Job, r: Result<dumper::Written>) -> Outcome {
    let mut o = Outcome {
        host: job.dle.host.clone(),
        disk: job.dle.disk.clone(),
        level: job.level,
        status: Status::Failed,
        reason: None,
        warnings: vec![],
        original_size: 0,
        payload_size: 0,
        seconds: 0.0,
        tape_file: None,
    };
    match r {
        Ok(w) => {
            o.status = if w.warnings.is_empty() {
                Status::Ok
            } else {
                Status::Partial
            };
            o.reason = w.index_note;
            o.warnings = w.warnings;
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
fn select(cfg: &Config, opts: &DumpOptions) -> Result<Vec<Dle>> {
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

/// The run's datestamp: now, or the next free second if a run already used it.
fn unique_datestamp(cfg: &Config) -> Result<String> {
    let mut t = crate::clock::now()?;
    loop {
        let ds = crate::clock::datestamp(&t);
        if !cfg.catalog.join("runs").join(&ds).exists() {
            return Ok(ds);
        }
        t += chrono::Duration::seconds(1);
    }
}
