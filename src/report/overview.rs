//! The nights at a glance (amoverview): a DLE × night matrix of levels and states, made from
//! the runs' summaries, which outlive the tapes' rotation.

use super::{RunSummary, Status};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// `tapir overview --json`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Overview {
    /// The nights shown, oldest first (`YYYY-MM-DD`, local time; a night with no run is
    /// not shown).
    pub nights: Vec<String>,
    pub dles: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Row {
    pub host: String,
    pub disk: String,
    /// One per night, in `nights`' order; `null` when no run of that night dumped the DLE.
    pub cells: Vec<Option<Cell>>,
}

/// A DLE's night: the last dump of the night that reached its data (OK or PARTIAL), else the
/// last outcome.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Cell {
    pub datestamp: String,
    pub level: u8,
    /// OK, PARTIAL, FAILED, MISSED.
    pub status: String,
}

impl Cell {
    /// `0`, `1` for OK; `0P` partial; `F` failed; `M` missed.
    pub fn code(&self) -> String {
        match self.status.as_str() {
            "OK" => self.level.to_string(),
            "PARTIAL" => format!("{}P", self.level),
            "FAILED" => "F".into(),
            "MISSED" => "M".into(),
            other => other.chars().next().unwrap_or('?').to_string(),
        }
    }
}

/// The last `nights` nights with a run, up to and including `until` (a datestamp), of
/// `runs` (oldest first). DLEs sorted by host and disk.
pub fn of(runs: &[RunSummary], nights: usize, until: Option<&str>) -> Overview {
    let night_of = |ds: &str| {
        crate::clock::parse_datestamp(ds).map_or(ds.get(..8).unwrap_or(ds).to_string(), |t| {
            crate::clock::date(&t)
        })
    };
    let runs: Vec<&RunSummary> = runs
        .iter()
        .filter(|r| until.is_none_or(|u| r.datestamp.as_str() <= u))
        .collect();
    let mut all_nights: Vec<String> = runs.iter().map(|r| night_of(&r.datestamp)).collect();
    all_nights.dedup();
    let shown: Vec<String> = all_nights[all_nights.len().saturating_sub(nights)..].to_vec();
    let mut rows: BTreeMap<(String, String), Vec<Option<Cell>>> = BTreeMap::new();
    for r in &runs {
        let Some(col) = shown.iter().position(|n| *n == night_of(&r.datestamp)) else {
            continue;
        };
        for o in &r.outcomes {
            let cells = rows
                .entry((o.host.clone(), o.disk.clone()))
                .or_insert_with(|| vec![None; shown.len()]);
            let reached = |s: &Status| matches!(s, Status::Ok | Status::Partial);
            let keep_old = cells[col].as_ref().is_some_and(|c| {
                matches!(c.status.as_str(), "OK" | "PARTIAL") && !reached(&o.status)
            });
            if !keep_old {
                cells[col] = Some(Cell {
                    datestamp: r.datestamp.clone(),
                    level: o.level,
                    status: super::name(&o.status),
                });
            }
        }
    }
    Overview {
        nights: shown,
        dles: rows
            .into_iter()
            .map(|((host, disk), cells)| Row { host, disk, cells })
            .collect(),
    }
}

/// The matrix for a terminal: a column per night (`MM-DD` over the cell codes).
pub fn render(o: &Overview) -> String {
    let mut out = String::new();
    let width = o
        .dles
        .iter()
        .map(|r| r.host.len() + r.disk.len() + 1)
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = write!(out, "{:<width$}", "DLE");
    for n in &o.nights {
        let _ = write!(out, " {:>5}", n.get(5..).unwrap_or(n));
    }
    out.push('\n');
    for r in &o.dles {
        let _ = write!(out, "{:<width$}", format!("{}:{}", r.host, r.disk));
        for c in &r.cells {
            let code = c.as_ref().map_or(".".into(), Cell::code);
            let _ = write!(out, " {code:>5}");
        }
        out.push('\n');
    }
    out.push_str("\n0-9 level dumped OK · nP partial · F failed · M missed · . not dumped\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;

    fn run(ds: &str, outs: &[(&str, u8, Status)]) -> RunSummary {
        RunSummary {
            org: "t".into(),
            datestamp: ds.into(),
            tapes: vec![],
            no_tape: false,
            outcomes: outs
                .iter()
                .map(|(disk, level, status)| Outcome {
                    host: "h".into(),
                    disk: disk.to_string(),
                    level: *level,
                    status: *status,
                    reason: None,
                    plan: String::new(),
                    warnings: vec![],
                    notes: vec![],
                    original_size: 0,
                    payload_size: 0,
                    seconds: 0.0,
                    tape_file: None,
                })
                .collect(),
            notes: vec![],
            problems: vec![],
            seconds: 0.0,
            next_tape: None,
            held: vec![],
            drills: vec![],
        }
    }

    #[test]
    fn a_rerun_that_succeeds_wins_the_night_and_old_nights_drop_off() {
        let runs = [
            run(
                "20261201013000",
                &[("/a", 0, Status::Ok), ("/b", 0, Status::Failed)],
            ),
            run(
                "20261202013000",
                &[("/a", 1, Status::Ok), ("/b", 0, Status::Failed)],
            ),
            // the admin reruns /b the same day; then a failing rerun of /a does not hide
            // the night's good dump
            run(
                "20261202093000",
                &[("/b", 0, Status::Ok), ("/a", 1, Status::Failed)],
            ),
            run("20261203013000", &[("/a", 1, Status::Partial)]),
        ];
        let o = of(&runs, 2, None);
        assert_eq!(o.nights, ["2026-12-02", "2026-12-03"]);
        let codes: Vec<Vec<String>> = o
            .dles
            .iter()
            .map(|r| {
                r.cells
                    .iter()
                    .map(|c| c.as_ref().map_or(".".into(), Cell::code))
                    .collect()
            })
            .collect();
        assert_eq!(codes, [vec!["1", "1P"], vec!["0", "."]]);
        let o = of(&runs, 30, Some("20261201999999"));
        assert_eq!(o.nights, ["2026-12-01"]);
        assert_eq!(o.dles[1].cells[0].as_ref().unwrap().code(), "F");
    }
}
