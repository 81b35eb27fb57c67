//! `tapir status`: the running run's progress (or the last run's end), from another terminal.

use super::Cli;
use crate::driver::progress::{RunStatus, rate, show_eta};
use crate::error::Error;
use anyhow::{Context, bail};

/// Show the progress of the running (or the last) run.
///
/// Per DLE of the running run (or the last one): waiting, estimating, dumping (bytes, MB/s,
/// percent of the estimate and ETA so far), OK, PARTIAL, FAILED, MISSED, with the reason;
/// the whole run's percent and ETA. Times are local.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(cli: &Cli, _a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let runs = cfg.catalog.join("runs");
    let mut names: Vec<String> = std::fs::read_dir(&runs)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| runs.join(n).join("status.json").exists())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let Some(last) = names.pop() else {
        bail!(Error::nothing_done("no run has started yet"));
    };
    let path = runs.join(&last).join("status.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let st: RunStatus =
        serde_json::from_str(&text).with_context(|| format!("bad {}", path.display()))?;
    // the figures were measured when the file was written
    let measured = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .map(chrono::DateTime::<chrono::Local>::from)
        .unwrap_or_else(|_| chrono::Local::now());
    if cli.json {
        super::print_json(&st)?;
        return Ok(0);
    }
    // SAFETY: signal 0 only asks whether the process exists.
    let alive = crate::sys::alive(st.pid);
    let state = match (&st.finished, alive) {
        (Some(f), _) => format!("finished {}", crate::clock::show_datestamp_secs(f)),
        (None, true) => format!(
            "RUNNING (pid {}), {}% done, ETA {}",
            st.pid,
            st.total.percent,
            show_eta(st.total.eta_seconds, measured)
        ),
        (None, false) => format!(
            "DID NOT FINISH: pid {} is gone (killed?); the next run cleans up",
            st.pid
        ),
    };
    outln!(
        "run {} started {}: {state}",
        st.datestamp,
        crate::clock::show_datestamp_secs(&st.started)
    );
    outln!(
        "{:<12} {:<24} {:>3} {:<10} {:>10} {:>6} {:>11} {:>8} {:>16}  DETAIL",
        "HOST",
        "DISK",
        "LVL",
        "STATE",
        "BYTES",
        "DONE",
        "RATE",
        "SECONDS",
        "ETA"
    );
    for d in &st.dles {
        outln!(
            "{:<12} {:<24} {:>3} {:<10} {:>10} {:>6} {:>11} {:>8.0} {:>16}  {}",
            d.host,
            d.disk,
            d.level.map_or("-".into(), |l| l.to_string()),
            d.state,
            crate::units::human(d.bytes),
            d.percent.map_or("-".into(), |p| format!("{p}%")),
            rate(d),
            d.seconds,
            if d.state == "dumping" {
                show_eta(d.eta_seconds, measured)
            } else {
                "-".into()
            },
            d.detail
        );
    }
    let records = crate::catalog::history::load_all(&cfg.catalog)?;
    for h in crate::driver::held_lines(&cfg, &records) {
        outln!("HELD (not on tape yet; `tapir flush`): {h}");
    }
    for p in &st.problems {
        outln!("PROBLEM: {p}");
    }
    history_section(&cfg)?;
    verified_section(&cfg, &records)?;
    drills_section(&cfg)?;
    Ok(if st.problems.is_empty() { 0 } else { 1 })
}

/// What the next run overwrites and which DLEs will fall below min_history in 7 days
/// (`tapir forecast` has the whole of it).
fn history_section(cfg: &crate::config::Config) -> anyhow::Result<()> {
    let f = match crate::forecast::run(cfg, 7) {
        Ok(f) => f,
        Err(e) => {
            outln!("forecast: not available: {e:#}");
            return Ok(());
        }
    };
    if let Some(n) = f.nights.first() {
        match (&n.slot, &n.label) {
            (Some(s), Some(l)) => outln!(
                "next run: overwrites slot {s} ({l}), {} dump(s) leave the rotation",
                n.dropped.len()
            ),
            _ => outln!("next run: no tape may be written (`tapir tapes` says why)"),
        }
    }
    for d in f.dles.iter().filter(|d| d.below_min_history) {
        outln!(
            "WARN {} {}: in 7 days its oldest restorable full is younger than min_history \
             (`tapir forecast`)",
            d.host,
            d.disk
        );
    }
    Ok(())
}

/// How much of each copy `tapir verify` read within verify_max_age (ever, without it).
fn verified_section(
    cfg: &crate::config::Config,
    records: &[crate::catalog::DumpRecord],
) -> anyhow::Result<()> {
    let now = crate::clock::now()?;
    let mirrors = crate::mirror::load_states(&cfg.catalog);
    let within = cfg.verify_max_age.map_or("ever".to_string(), |s| {
        format!(
            "within {}",
            crate::clock::human_span(chrono::Duration::seconds(s as i64))
        )
    });
    for (copy, c) in crate::rpo::coverage(cfg, records, &mirrors, &now) {
        let oldest = c.oldest_unverified.as_deref().map_or(String::new(), |o| {
            format!(
                "; oldest not verified since {}",
                crate::clock::show_datestamp(o)
            )
        });
        outln!(
            "verified {within}: {copy}: {:.0}% of {} tape file(s){oldest}",
            100.0 * c.ratio(),
            c.files
        );
    }
    Ok(())
}

/// The restore drills drill hosts wrote back (signed) beside the directory copies.
fn drills_section(cfg: &crate::config::Config) -> anyhow::Result<()> {
    for l in crate::report::drills::lines(cfg) {
        outln!("{l}");
    }
    Ok(())
}
