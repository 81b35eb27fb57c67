//! Run outcomes and their text rendering (amreport-style). Pure: data in, text out.

use crate::config::size::human;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The name a status has in JSON (its serde name, e.g. `OK`), for text output too.
pub fn name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|j| j.as_str().map(String::from))
        .unwrap_or_default()
}

/// How one DLE ended in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Partial,
    Failed,
    Missed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub host: String,
    pub disk: String,
    pub level: u8,
    pub status: Status,
    /// Why it failed or was missed.
    pub reason: Option<String>,
    /// Why the planner chose this level.
    #[serde(default)]
    pub plan: String,
    /// Files that could not be read whole (PARTIAL).
    pub warnings: Vec<String>,
    pub original_size: u64,
    pub payload_size: u64,
    pub seconds: f64,
    /// `LABEL:FILE` where it was written.
    pub tape_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub org: String,
    pub datestamp: String,
    pub tapes: Vec<String>,
    /// No tape could be had for this run (every slot still needed, none labelled…).
    #[serde(default)]
    pub no_tape: bool,
    pub outcomes: Vec<Outcome>,
    pub notes: Vec<String>,
}

impl RunSummary {
    /// Exit code per DESIGN.md: 0 all OK, 1 something not OK, 4 nothing could be done.
    pub fn exit_code(&self) -> i32 {
        use crate::error::exit;
        let written = self
            .outcomes
            .iter()
            .any(|o| matches!(o.status, Status::Ok | Status::Partial));
        if self.outcomes.is_empty() || self.outcomes.iter().all(|o| o.status == Status::Ok) {
            exit::OK
        } else if !written && self.no_tape {
            exit::NOTHING_DONE
        } else {
            exit::PARTIAL
        }
    }
}

/// The text report.
pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tapir report for {} run {}", s.org, s.datestamp);
    let _ = writeln!(
        out,
        "tapes written: {}",
        if s.tapes.is_empty() {
            "none".into()
        } else {
            s.tapes.join(", ")
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:<24} {:>3} {:<8} {:>10} {:>10} {:>6} {:>8}  TAPE",
        "HOST", "DISK", "LVL", "STATUS", "ORIG", "OUT", "COMP%", "MB/s"
    );
    for o in &s.outcomes {
        let comp = if o.original_size > 0 {
            format!(
                "{:.1}",
                100.0 * o.payload_size as f64 / o.original_size as f64
            )
        } else {
            "-".into()
        };
        let rate = if o.seconds > 0.0 {
            format!("{:.1}", o.original_size as f64 / 1e6 / o.seconds)
        } else {
            "-".into()
        };
        let status = name(&o.status);
        let _ = writeln!(
            out,
            "{:<12} {:<24} {:>3} {:<8} {:>10} {:>10} {:>6} {:>8}  {}",
            o.host,
            o.disk,
            o.level,
            status,
            human(o.original_size),
            human(o.payload_size),
            comp,
            rate,
            o.tape_file.as_deref().unwrap_or("-")
        );
    }
    details(&mut out, s);
    out
}

fn details(out: &mut String, s: &RunSummary) {
    if s.outcomes.iter().any(|o| !o.plan.is_empty()) {
        let _ = writeln!(out, "\nplanner:");
        for o in s.outcomes.iter().filter(|o| !o.plan.is_empty()) {
            let _ = writeln!(out, "  {} {} level {}: {}", o.host, o.disk, o.level, o.plan);
        }
    }
    for o in s
        .outcomes
        .iter()
        .filter(|o| o.reason.is_some() || !o.warnings.is_empty())
    {
        let _ = writeln!(out, "\n{} {}: {}", o.host, o.disk, name(&o.status));
        if let Some(r) = &o.reason {
            let _ = writeln!(out, "  {r}");
        }
        for w in &o.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    for n in &s.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
}

/// The planner's decisions as text (`dump --dry-run`).
pub fn render_plan(p: &crate::planner::Plan, failed: &[Outcome]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<24} {:>5} {:>10}  REASON",
        "HOST", "DISK", "LEVEL", "EXPECTED"
    );
    for e in &p.entries {
        let level = e.level.map_or("-".to_string(), |l| l.to_string());
        let _ = writeln!(
            out,
            "{:<12} {:<24} {:>5} {:>10}  {}",
            e.dle.host,
            e.dle.disk,
            level,
            human(e.size),
            e.reason
        );
    }
    for o in failed {
        let _ = writeln!(
            out,
            "{:<12} {:<24} {:>5} {:>10}  {}",
            o.host,
            o.disk,
            "-",
            "-",
            o.reason.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(
        out,
        "\ntonight: {} planned, balanced target {}, capacity {}",
        human(p.volume),
        human(p.target),
        human(p.capacity)
    );
    for n in &p.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}
