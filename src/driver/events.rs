//! One run, one stream of events: each state change of a DLE and each note or problem of the
//! run is said once, here, and reaches every listener: the run log (`runs/DS/log.jsonl`), the
//! progress file and terminal line (`status.json`), what a person sees (`say`: progress on a
//! terminal only, problems always) and the report's collector (outcomes, notes, problems).

use super::progress::Progress;
use crate::catalog::runlog::RunLog;
use crate::config::disklist::Dle;
use crate::report::{Outcome, Status};
use serde_json::json;
use std::io::Write;
use std::sync::Mutex;

/// What happened.
pub enum Event<'e> {
    /// reconcile's note (a partial removed, a dump learnt or gone).
    Reconciled(String),
    /// Something an admin must look at; the run exits 1.
    Problem(String),
    /// The planner's decision.
    Plan(&'e crate::planner::Plan),
    /// A DLE failed before its dump (its estimate, its group's hook), at `level` if known.
    Failed(Outcome, Option<u8>),
    /// A DLE waits for its turn at `level`; the planner expects `planned` bytes from it.
    Waiting {
        dle: &'e Dle,
        level: u8,
        reason: &'e str,
        planned: u64,
    },
    /// A DLE does not fit tonight.
    Missed(Outcome),
    /// A DLE is not dumped tonight, on purpose (`strategy = "skip"`…).
    Skipped(&'e Dle, &'e str),
    /// A DLE's dump starts on one of the run's dumpers.
    Dumping {
        dle: &'e Dle,
        level: u8,
        reason: &'e str,
        dumper: usize,
    },
    /// Bytes of a dump's tar arrived (`at`: the DLE's place in the progress file).
    Bytes(Option<usize>, u64),
    /// A DLE's dump ended (the scheduler hands the outcomes back in plan order).
    Finished(&'e Outcome),
    /// A group's post hook said something.
    Group(String),
}

/// What the report is made of, as the events left it.
#[derive(Default)]
pub struct Collected {
    pub outcomes: Vec<Outcome>,
    pub notes: Vec<String>,
    pub problems: Vec<String>,
}

/// Where `tapir dump --json-progress` writes its lines (stdout).
pub type Stream = Box<dyn std::io::Write + Send>;

/// The listeners of one run.
pub struct Events {
    log: Mutex<RunLog>,
    progress: Progress,
    collected: Mutex<Collected>,
    /// One JSON object a line per state change and progress tick, for dashboards
    /// (`restic backup --json`).
    stream: Option<Mutex<Stream>>,
}

fn why(o: &Outcome) -> String {
    o.reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

impl Events {
    pub fn new(log: RunLog, progress: Progress, stream: Option<Stream>) -> Events {
        Events {
            log: Mutex::new(log),
            progress,
            collected: Mutex::new(Collected::default()),
            stream: stream.map(Mutex::new),
        }
    }

    /// One line on the JSON stream, `{"event": what, ...detail}` (a dashboard that went
    /// away does not stop the run).
    pub fn stream(&self, what: &str, detail: serde_json::Value) {
        let Some(out) = &self.stream else {
            return;
        };
        let mut line = json!({ "event": what });
        if let (Some(l), serde_json::Value::Object(d)) = (line.as_object_mut(), detail) {
            l.extend(d);
        }
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }

    /// A DLE's state changed: its line on the stream.
    fn stream_dle(&self, host: &str, disk: &str) {
        if self.stream.is_none() {
            return;
        }
        if let Some(d) = self.progress.dle(host, disk) {
            self.stream("dle", serde_json::to_value(d).unwrap_or_default());
        }
    }

    /// How far the run is: the total and each running dump.
    fn stream_progress(&self) {
        if self.stream.is_none() {
            return;
        }
        let st = self.progress.snapshot();
        let dumping: Vec<_> = st.dles.iter().filter(|d| d.state == "dumping").collect();
        let mut total = serde_json::to_value(&st.total).unwrap_or_default();
        if let Some(t) = total.as_object_mut() {
            t.insert("dumping".into(), json!(dumping));
        }
        self.stream("progress", total);
    }

    /// Where a DLE is in the progress file (looked up once per dump, not per data frame).
    pub fn place(&self, host: &str, disk: &str) -> Option<usize> {
        self.progress.index(host, disk)
    }

    fn log(&self, what: &str, detail: serde_json::Value) {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .event(what, detail);
    }

    fn collect(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.collected.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tell every listener.
    pub fn emit(&self, e: Event) {
        match e {
            Event::Reconciled(n) => {
                self.log("reconcile", json!(n));
                self.collect().notes.push(n);
            }
            Event::Problem(p) => {
                self.log("problem", json!(p));
                self.stream("problem", json!({ "message": p }));
                crate::say::problem(&p);
                let mut c = self.collect();
                c.problems.push(p);
                self.progress.problems(&c.problems);
            }
            Event::Plan(plan) => {
                self.log(
                    "plan",
                    json!({ "target": plan.target, "volume": plan.volume, "capacity": plan.capacity, "notes": plan.notes }),
                );
                self.stream(
                    "plan",
                    json!({ "target_tape_bytes": plan.target, "planned_tape_bytes": plan.volume, "notes": plan.notes }),
                );
                self.collect().notes.extend(plan.notes.iter().cloned());
            }
            Event::Failed(o, level) => {
                let reason = o.reason.as_deref().unwrap_or("");
                self.progress.set(&o.host, &o.disk, level, "FAILED", reason);
                self.stream_dle(&o.host, &o.disk);
                self.collect().outcomes.push(o);
            }
            Event::Waiting {
                dle: d,
                level,
                reason,
                planned,
            } => {
                self.progress.plan(&d.host, &d.disk, planned);
                self.progress
                    .set(&d.host, &d.disk, Some(level), "waiting", reason);
                self.stream_dle(&d.host, &d.disk);
            }
            Event::Missed(o) => {
                let reason = o.reason.as_deref().unwrap_or("");
                self.progress.set(&o.host, &o.disk, None, "MISSED", reason);
                self.stream_dle(&o.host, &o.disk);
                self.collect().outcomes.push(o);
            }
            Event::Skipped(d, reason) => {
                self.progress.set(&d.host, &d.disk, None, "skipped", reason);
                self.stream_dle(&d.host, &d.disk);
                let note = format!("{} {}: not dumped: {reason}", d.host, d.disk);
                self.collect().notes.push(note);
            }
            Event::Dumping {
                dle: d,
                level,
                reason,
                dumper,
            } => {
                let start = json!({ "host": d.host, "disk": d.disk, "level": level, "reason": reason, "dumper": dumper });
                self.log("dump-start", start);
                self.progress
                    .set(&d.host, &d.disk, Some(level), "dumping", "");
                self.stream_dle(&d.host, &d.disk);
            }
            Event::Bytes(at, n) => {
                if self.progress.bytes(at, n) {
                    self.stream_progress();
                }
            }
            Event::Finished(o) => self.finished(o),
            Event::Group(n) => {
                crate::say::problem(&n);
                self.log("group", json!(n));
                self.collect().notes.push(n);
            }
        }
    }

    fn finished(&self, o: &Outcome) {
        self.log("dump-end", serde_json::to_value(o).unwrap_or_default());
        let status = crate::report::name(&o.status);
        let reason = o.reason.as_deref().unwrap_or("");
        self.progress
            .set(&o.host, &o.disk, Some(o.level), &status, reason);
        self.stream_dle(&o.host, &o.disk);
        crate::say::progress(format!(
            "{} {} level {}: {status}{}",
            o.host,
            o.disk,
            o.level,
            why(o)
        ));
    }

    /// The run is over: what someone must look at reaches stderr under cron too (the report
    /// goes by mail); the collected outcomes (then `dumped`), notes and problems are handed
    /// back with the run log.
    pub fn end(self, dumped: Vec<Outcome>) -> (Collected, RunLog, Progress) {
        let mut c = self
            .collected
            .into_inner()
            .unwrap_or_else(|p| p.into_inner());
        c.outcomes.extend(dumped);
        for o in c.outcomes.iter().filter(|o| o.status != Status::Ok) {
            crate::say::problem(format!(
                "{} {} level {}: {}{}",
                o.host,
                o.disk,
                o.level,
                crate::report::name(&o.status),
                why(o)
            ));
        }
        let log = self.log.into_inner().unwrap_or_else(|p| p.into_inner());
        (c, log, self.progress)
    }
}
