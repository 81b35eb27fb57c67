//! Runs one `tapir dump`: lock, reconcile, plan, then each DLE through a dumper onto the
//! taper's tapes. One DLE failing never stops the run; the exit code is decided at the end.

mod dispatch;
pub mod dumper;
pub mod events;
pub mod flush;
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
use events::{Event, Events};
use serde_json::json;

/// What the admin asked for.
#[derive(Debug, Default)]
pub struct DumpOptions {
    pub host: Option<String>,
    pub disks: Vec<String>,
    /// The clock is right and the catalog's newest dump was dated by one that ran ahead:
    /// date this run one second after it (the order of writing is kept).
    pub after_newest: bool,
    /// `--json-progress`: a JSON line on stdout per event and progress tick.
    pub json_progress: bool,
}

/// Tonight's plan and what it was made from.
pub struct Planned {
    pub plan: planner::Plan,
    /// DLEs whose estimate failed: they are not in the plan.
    pub failed: Vec<Outcome>,
    pub history: Vec<catalog::DumpRecord>,
}

/// `tapir dump --dry-run --json`: tonight's plan as data.
#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DryRun {
    pub entries: Vec<DryRunEntry>,
    /// DLEs whose estimate failed (they would be FAILED tonight).
    pub failed: Vec<DryRunFailed>,
    pub notes: Vec<String>,
    pub target_tape_bytes: u64,
    pub planned_tape_bytes: u64,
    pub capacity_tape_bytes: u64,
}

#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DryRunEntry {
    pub host: String,
    pub disk: String,
    /// None: not dumped tonight.
    pub level: Option<u8>,
    pub reason: String,
    pub tape_bytes: u64,
}

#[derive(Debug, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    let recipients = recipients_for(cfg, &dles)?;
    let signer = crate::keys::signer(&cfg.signing, &cfg.encryption, &cfg.changer)?;
    let trust = crate::signing::Trust::of_server(signer.public(), &cfg.signing)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "dump")?;
    let run_started = std::time::Instant::now();
    // the history is read once; reconcile brings it in line with the tapes, the taper
    // keeps it as dumps are written and tapes recycled
    let records = catalog::history::load_all(&cfg.catalog)?;
    let datestamp = unique_datestamp(cfg, &records, opts.after_newest)?;
    let events = open_events(cfg, &datestamp, &dles, opts.json_progress)?;
    let records = reconcile_with(cfg, &trust, records, &events)?;
    let rules = rotation_rules(cfg, &datestamp)?;
    let mut taper = taper::Taper::new(cfg, &signer, &trust, &datestamp, records, rules);
    flush_first(cfg, &mut taper, &signer, &trust, &events);
    let Planned {
        plan,
        failed,
        history,
    } = make_plan(cfg, &dles, crate::clock::now()?, taper.records.clone())?;
    events.emit(Event::Plan(&plan));
    for o in failed {
        events.emit(Event::Failed(o, None));
    }
    let to_dump = dispatch::dispatch(cfg, &plan, &events);
    let held = groups::before(cfg, &to_dump);
    let to_dump = dispatch::hold_back(&held, to_dump, &events);
    let night = Night {
        cfg,
        history: &history,
        datestamp: &datestamp,
        recipients: &recipients,
        signer: &signer,
        taper: std::sync::Mutex::new(taper),
        events: &events,
        catalog_lock: std::sync::Mutex::new(()),
    };
    let done = schedule::run_all(cfg, &to_dump, |dumper, entry| night.dump(dumper, entry));
    let taper = night.taper.into_inner().unwrap_or_else(|p| p.into_inner());
    let (tapes, no_tape) = (taper.labels.clone(), taper.refused);
    let next = next_tape(cfg, &taper.records, &trust);
    let waiting = held_lines(cfg, &taper.records);
    if !waiting.is_empty() {
        events.emit(Event::Problem(format!(
            "{} dump(s) wait in the holding area {}, not on tape: {}; `tapir flush` writes them (the next `tapir dump` does first)",
            waiting.len(),
            cfg.holding.as_ref().map_or(String::new(), |h| h.dir.display().to_string()),
            taper.unwritable.as_deref().map_or("an earlier run held them".to_string(), |w| {
                format!("no tape could be written ({})", w.lines().next().unwrap_or(""))
            })
        )));
    }
    drop(taper);
    for n in groups::after(cfg, &held) {
        events.emit(Event::Group(n));
    }
    let (c, mut log, progress) = events.end(done);
    let summary = RunSummary {
        org: cfg.org.clone(),
        datestamp: datestamp.clone(),
        tapes,
        no_tape,
        outcomes: c.outcomes,
        notes: c.notes,
        problems: c.problems,
        seconds: run_started.elapsed().as_secs_f64(),
        next_tape: next,
        held: waiting,
        drills: crate::report::drills::lines(cfg),
    };
    log.save_summary(&summary)?;
    progress.finish();
    log.event(
        "end",
        json!({ "exit": summary.exit_code(), "history_loads": catalog::history::loads() }),
    );
    Ok(summary)
}

/// The age recipients, when any DLE is encrypted on the server.
fn recipients_for(cfg: &Config, dles: &[Dle]) -> Result<Vec<crate::keys::Recipient>> {
    let encrypts = dles
        .iter()
        .any(|d| cfg.dumptype(d).encrypt == crate::config::dumptype::Encrypt::Server);
    if !encrypts {
        return Ok(Vec::new());
    }
    anyhow::Context::with_context(crate::keys::recipients(&cfg.encryption), || {
        cfg.file.display().to_string()
    })
}

/// The run log (its `start` event) and the progress file of a new run.
fn open_events(cfg: &Config, datestamp: &str, dles: &[Dle], json: bool) -> Result<Events> {
    let mut log = RunLog::open(&cfg.catalog, datestamp)?;
    let start = json!({ "org": cfg.org, "datestamp": datestamp, "dles": dles.len() });
    log.event("start", start.clone());
    let names: Vec<(String, String)> = dles
        .iter()
        .map(|d| (d.host.clone(), d.disk.clone()))
        .collect();
    let progress = progress::Progress::new(&cfg.catalog, datestamp, &names);
    let stream: Option<events::Stream> = json.then(|| Box::new(std::io::stdout()) as _);
    let events = Events::new(log, progress, stream);
    events.stream("start", start);
    Ok(events)
}

/// Reconcile the catalog with the tapes; its notes and the run's problems (damaged or lost
/// labels, missing dumps) become events. The history as it now is.
fn reconcile_with(
    cfg: &Config,
    trust: &crate::signing::Trust,
    records: Vec<DumpRecord>,
    events: &Events,
) -> Result<Vec<DumpRecord>> {
    let reconciled = reconcile::reconcile(cfg, trust, records)?;
    for n in reconciled.notes {
        events.emit(Event::Reconciled(n));
    }
    let lost = lost_labels(cfg, &reconciled.records, trust)?;
    for p in reconciled.problems.into_iter().chain(lost) {
        events.emit(Event::Problem(p));
    }
    Ok(reconciled.records)
}

/// What every dump of one night shares.
struct Night<'a> {
    cfg: &'a Config,
    history: &'a [DumpRecord],
    datestamp: &'a str,
    recipients: &'a [crate::keys::Recipient],
    signer: &'a crate::signing::Signer,
    taper: std::sync::Mutex<taper::Taper<'a>>,
    events: &'a Events,
    /// The forced-full file is rewritten by one dump at a time.
    catalog_lock: std::sync::Mutex<()>,
}

impl Night<'_> {
    /// Dump one planned DLE on `dumper` and say how it ended.
    fn dump(&self, dumper: usize, entry: &planner::PlanEntry) -> Outcome {
        let cfg = self.cfg;
        let level = entry.level.expect("only entries with a level");
        let h = prepare::of(self.history, &entry.dle);
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
            datestamp: self.datestamp,
            recipients: self.recipients,
            signer: self.signer,
            limit: dumper::limit_for(cfg.dumptype(&entry.dle), entry.expected),
            events: self.events,
        };
        self.events.emit(Event::Dumping {
            dle: &entry.dle,
            level,
            reason: &entry.reason,
            dumper,
        });
        let mut outcome = outcome_of(&job, dumper::run(&job, &self.taper));
        outcome.plan = entry.reason.clone();
        if level == 0 && outcome.status != Status::Failed {
            self.unforce(&entry.dle);
        }
        self.events.emit(Event::Finished(&outcome));
        outcome
    }

    /// A full was taken: the DLE's force is done.
    fn unforce(&self, dle: &Dle) {
        let _guard = self.catalog_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = catalog::forced::set(&self.cfg.catalog, &dle.host, &dle.disk, false) {
            crate::say::problem(format!(
                "cannot clear the force of {} {}: {e:#}",
                dle.host, dle.disk
            ));
        }
    }
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
fn unique_datestamp(cfg: &Config, records: &[DumpRecord], after_newest: bool) -> Result<String> {
    let newest = catalog::newest_datestamp(&cfg.catalog, records)?;
    let now = crate::clock::now()?;
    let mut t = match crate::clock::not_before(now, newest.as_deref()) {
        Ok(t) => t,
        Err(_) if after_newest => crate::clock::just_after(newest.as_deref(), now),
        Err(why) => return Err(why.into()),
    };
    loop {
        let ds = crate::clock::datestamp(&t);
        if !cfg.catalog.join("runs").join(&ds).exists() {
            return Ok(ds);
        }
        t += chrono::Duration::seconds(1);
    }
}

/// `tapir flush`: the held dumps to tape, oldest first, under the run lock (after the same
/// clean-up a run does first).
pub fn flush_held(cfg: &Config) -> Result<flush::Flushed> {
    let signer = crate::keys::signer(&cfg.signing, &cfg.encryption, &cfg.changer)?;
    let trust = crate::signing::Trust::of_server(signer.public(), &cfg.signing)?;
    let _lock = catalog::lock::exclusive(&cfg.catalog, "flush")?;
    let records = catalog::history::load_all(&cfg.catalog)?;
    let datestamp = unique_datestamp(cfg, &records, false)?;
    let reconciled = reconcile::reconcile(cfg, &trust, records)?;
    for n in reconciled.notes {
        crate::say::progress(n);
    }
    let rules = rotation_rules(cfg, &datestamp)?;
    let mut taper = taper::Taper::new(cfg, &signer, &trust, &datestamp, reconciled.records, rules);
    Ok(flush::flush(cfg, &mut taper, &signer, &trust))
}

/// Held dumps go to tape before the night's dumps; what stops them is a problem.
fn flush_first(
    cfg: &Config,
    taper: &mut taper::Taper,
    signer: &crate::signing::Signer,
    trust: &crate::signing::Trust,
    events: &Events,
) {
    let waiting = cfg
        .holding
        .as_ref()
        .is_some_and(|h| std::fs::read_dir(&h.dir).is_ok_and(|mut rd| rd.next().is_some()));
    if !waiting && !taper.records.iter().any(DumpRecord::is_held) {
        return;
    }
    let f = flush::flush(cfg, taper, signer, trust);
    for n in f
        .notes
        .into_iter()
        .chain(f.written.into_iter().map(|w| format!("flushed {w}")))
    {
        events.emit(Event::Reconciled(n));
    }
    if let Some(why) = f.stopped {
        crate::say::progress(format!("held dumps stay in the holding area: {why}"));
    }
}

/// One line per dump waiting in the holding area.
pub fn held_lines(cfg: &Config, records: &[DumpRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.is_held())
        .map(|r| {
            format!(
                "{} {} level {} of {} ({}): {}",
                r.host,
                r.disk,
                r.level,
                crate::clock::show_datestamp(&r.datestamp),
                crate::units::human(r.payload_size),
                cfg.dump_path(r)
            )
        })
        .collect()
}

/// The rules of rotation for the run dated `datestamp`. A retired DLE that is back in the
/// disklist is retired no more: its dumps pin their tapes again.
fn rotation_rules(cfg: &Config, datestamp: &str) -> Result<crate::vtape::rotation::Rules> {
    let mut rules = crate::vtape::status::rules(&cfg.catalog, &cfg.changer, cfg.tapecycle)?;
    if let Some(t) = crate::clock::parse_datestamp(datestamp) {
        rules.today = crate::clock::date(&t);
    }
    let back: Vec<(String, String)> = rules
        .admin
        .retired
        .iter()
        .filter(|r| {
            cfg.disklist
                .iter()
                .any(|d| d.host == r.host && d.disk == r.disk)
        })
        .map(|r| (r.host.clone(), r.disk.clone()))
        .collect();
    for (host, disk) in &back {
        rules.admin.unretire(host, disk);
        crate::say::progress(format!(
            "{host} {disk} is back in the disklist: no longer retired"
        ));
    }
    if !back.is_empty() {
        rules.admin.save(&cfg.catalog)?;
    }
    Ok(rules)
}

/// The tape the next run will write, as the report names it.
fn next_tape(
    cfg: &Config,
    records: &[DumpRecord],
    trust: &crate::signing::Trust,
) -> Option<String> {
    let rules = crate::vtape::status::rules(&cfg.catalog, &cfg.changer, cfg.tapecycle).ok()?;
    let st = crate::vtape::status::status(&cfg.changer, records, &rules, trust).ok()?;
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
