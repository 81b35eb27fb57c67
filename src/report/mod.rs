//! Run outcomes and their text rendering (amreport-style). Pure: data in, text out.

pub mod drills;
pub mod html;
pub mod mail;
pub mod overview;

use crate::units::human;
use std::fmt::Write;

pub use crate::catalog::outcome::{Outcome, RunSummary, Status, name};

/// The text report.
pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    let date = crate::clock::parse_datestamp(&s.datestamp).map_or(s.datestamp.clone(), |t| {
        t.format("%Y-%m-%d %H:%M").to_string()
    });
    let _ = writeln!(
        out,
        "tapir report for {} run {} ({date}, {})",
        s.org,
        s.datestamp,
        duration(s.seconds)
    );
    let _ = writeln!(
        out,
        "tapes written: {}",
        if s.tapes.is_empty() {
            "none".into()
        } else {
            s.tapes.join(", ")
        }
    );
    if !s.held.is_empty() {
        let _ = writeln!(
            out,
            "\nHELD (dumped, waiting in the holding area for a tape; `tapir flush` writes them):"
        );
        for h in &s.held {
            let _ = writeln!(out, "  {h}");
        }
    }
    if !s.problems.is_empty() {
        let _ = writeln!(
            out,
            "\nPROBLEMS (the run exits 1 until they are dealt with):"
        );
        for p in &s.problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:<24} {:>3} {:<8} {:>10} {:>10} {:>6} {:>8} {:>8}  TAPE",
        "HOST", "DISK", "LVL", "STATUS", "ORIG", "OUT", "COMP%", "DUR", "MB/s"
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
            "{:<12} {:<24} {:>3} {:<8} {:>10} {:>10} {:>6} {:>8} {:>8}  {}",
            o.host,
            o.disk,
            o.level,
            status,
            human(o.original_size),
            human(o.payload_size),
            comp,
            duration(o.seconds),
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
        .filter(|o| o.reason.is_some() || !o.warnings.is_empty() || !o.notes.is_empty())
    {
        let _ = writeln!(out, "\n{} {}: {}", o.host, o.disk, name(&o.status));
        if let Some(r) = &o.reason {
            let _ = writeln!(out, "  {r}");
        }
        for w in o.warnings.iter().chain(&o.notes) {
            let _ = writeln!(out, "  {w}");
        }
    }
    for n in &s.notes {
        let _ = writeln!(out, "\nnote: {n}");
    }
    if !s.drills.is_empty() {
        let _ = writeln!(out, "\nrestore drills:");
        for l in &s.drills {
            let _ = writeln!(out, "  {l}");
        }
    }
    if let Some(next) = &s.next_tape {
        let _ = writeln!(out, "\nnext run: {next}");
    }
}

/// `83.2` → `1:23`; hours when needed.
pub fn duration(secs: f64) -> String {
    let t = secs.round() as u64;
    match t {
        0..3600 => format!("{}:{:02}", t / 60, t % 60),
        _ => format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(disk: &str, level: u8, status: Status, orig: u64, secs: f64) -> Outcome {
        Outcome {
            host: "web1".into(),
            disk: disk.into(),
            level,
            status,
            reason: None,
            plan: String::new(),
            warnings: vec![],
            notes: vec![],
            original_size: orig,
            payload_size: orig / 4,
            seconds: secs,
            tape_file: Some("daily-03:1".into()),
        }
    }

    /// The whole text of a run with every status: a snapshot (update it deliberately).
    #[test]
    fn report_snapshot_with_ok_partial_failed_and_missed() {
        let mut partial = outcome("/home", 1, Status::Partial, 10 << 20, 2.0);
        partial.warnings = vec!["./alice/locked: cannot read: Permission denied".into()];
        partial.plan = "incremental: full due in 3 night(s)".into();
        partial.tape_file = Some("daily-03:2".into());
        let mut failed = outcome("/srv", 0, Status::Failed, 0, 0.0);
        failed.reason = Some("cannot connect to web1:22: connection refused".into());
        failed.tape_file = None;
        let mut missed = outcome("/var", 0, Status::Missed, 0, 0.0);
        missed.reason = Some("does not fit: 30 GiB, 12 GiB left".into());
        missed.tape_file = None;
        let mut ok = outcome("/etc", 0, Status::Ok, 3 << 20, 75.0);
        ok.plan = "full due (7 nights since the last)".into();
        let s = RunSummary {
            org: "Example".into(),
            datestamp: "20261120030000".into(),
            tapes: vec!["daily-03".into()],
            no_tape: false,
            outcomes: vec![ok, partial, failed, missed],
            notes: vec!["promoted web1 /etc by 2 nights to balance".into()],
            problems: vec![],
            seconds: 3725.0,
            next_tape: Some("tape daily-04 (slot 4)".into()),
            held: vec![],
            drills: vec![],
        };
        let want = "\
tapir report for Example run 20261120030000 (2026-11-20 03:00, 1:02:05)
tapes written: daily-03

HOST         DISK                     LVL STATUS         ORIG        OUT  COMP%      DUR     MB/s  TAPE
web1         /etc                       0 OK          3.0 MiB  768.0 KiB   25.0     1:15      0.0  daily-03:1
web1         /home                      1 PARTIAL    10.0 MiB    2.5 MiB   25.0     0:02      5.2  daily-03:2
web1         /srv                       0 FAILED          0 B        0 B      -     0:00        -  -
web1         /var                       0 MISSED          0 B        0 B      -     0:00        -  -

planner:
  web1 /etc level 0: full due (7 nights since the last)
  web1 /home level 1: incremental: full due in 3 night(s)

web1 /home: PARTIAL
  ./alice/locked: cannot read: Permission denied

web1 /srv: FAILED
  cannot connect to web1:22: connection refused

web1 /var: MISSED
  does not fit: 30 GiB, 12 GiB left

note: promoted web1 /etc by 2 nights to balance

next run: tape daily-04 (slot 4)
";
        assert_eq!(render(&s), want);
        assert_eq!(
            mail::subject("Example", &s),
            "tapir Example run 20261120030000: PROBLEMS: 1 PARTIAL, 1 FAILED, 1 MISSED"
        );
    }
}
