//! `tapir report`: a run's report again, as text, JSON or mail.

use super::Cli;
use crate::error::Error;
use crate::report::{RunSummary, mail};
use anyhow::{Context, bail};

/// Show (or mail) the report of a run.
///
/// The report of RUN (a datestamp or its prefix, e.g. 2026-11-20; default: the last run):
/// per DLE level, status, sizes, compression, duration, MB/s, tape, with reasons, unreadable
/// files, planner notes and the tape the next run expects. --mail sends it to the config's
/// mailto: over SMTP to the `smtp` relay, or with `sendmail -t` when `smtp` is unset, the
/// text with an HTML alternative (the page of --html). A mail that did not leave can be sent
/// again: the report stays in the catalog.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub run: Option<String>,
    #[arg(long)]
    pub mail: bool,
    /// Print the run as an HTML page: a timeline (a lane per dumper, a bar per dump coloured
    /// by its state, with size and rate), the dumps, the last 30 nights and the text report;
    /// inline SVG, no JavaScript, no external resources.
    #[arg(long, conflicts_with = "mail")]
    pub html: bool,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let dir = find_run(&cfg.catalog, a.run.as_deref())?;
    let path = dir.join("summary.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        bail!(Error::nothing_done(format!(
            "run {} did not finish (no {}); its events are in {}",
            dir.file_name().unwrap_or_default().to_string_lossy(),
            path.display(),
            dir.join("log.jsonl").display()
        )));
    };
    let summary: RunSummary =
        serde_json::from_str(&text).with_context(|| format!("bad {}", path.display()))?;
    let body = crate::report::render(&summary);
    if a.html || a.mail {
        let html = page(&cfg.catalog, &summary)?;
        if a.html {
            crate::cli::out::text(&html)?;
            return Ok(0);
        }
        let subject = mail::subject(&cfg.org, &summary);
        let body = mail::Body {
            subject: &subject,
            text: &body,
            html: Some(&html),
        };
        let run = dir.file_name().unwrap_or_default().to_string_lossy();
        mail::send(&mail::Outbox::of(&cfg), &body).map_err(|e| {
            let kept = format!(
                "the report of run {run} was not mailed; it stays in {} (send it again with `tapir report --mail {run}`)",
                dir.display()
            );
            match e.downcast::<Error>() {
                Ok(err) => anyhow::Error::from(err.prefixed(&format!("{kept}: "))),
                Err(e) => e.context(kept),
            }
        })?;
    } else if cli.json {
        super::print_json(&summary)?;
    } else {
        crate::cli::out::text(&body)?;
    }
    Ok(0)
}

/// The run's HTML page: its timeline from its log, the overview of the 30 nights up to it.
fn page(catalog: &std::path::Path, s: &RunSummary) -> anyhow::Result<String> {
    let log = crate::catalog::runlog::load_log(catalog, &s.datestamp).unwrap_or_else(|e| {
        // the page is still worth having; it says nothing of the dumps' times
        eprintln!("tapir: {e:#}: the page has no timeline");
        Vec::new()
    });
    let timeline = crate::report::html::Timeline::of(&log);
    let runs = super::overview::summaries(catalog)?;
    let o = crate::report::overview::of(&runs, 30, Some(&s.datestamp));
    Ok(crate::report::html::page(s, &timeline, &o))
}

/// The newest run directory whose datestamp starts with the digits of `run`.
fn find_run(catalog: &std::path::Path, run: Option<&str>) -> anyhow::Result<std::path::PathBuf> {
    let digits: String = run
        .unwrap_or("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let runs = catalog.join("runs");
    let mut names: Vec<String> = std::fs::read_dir(&runs)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&digits) && n.chars().all(|c| c.is_ascii_digit()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    match names.pop() {
        Some(n) => Ok(runs.join(n)),
        None => bail!(Error::config(match run {
            Some(r) => format!("no run {r} in {}", runs.display()),
            None => format!("no runs yet in {}", runs.display()),
        })),
    }
}
