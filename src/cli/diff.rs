//! `tapir diff`: what changed in a DLE between two dates (restic diff, borg diff), from the
//! indexes alone: no tape is read, no key needed.

use super::Cli;
use crate::catalog::search::{self, DiffReport};
use crate::catalog::{DumpRecord, history};
use crate::error::Error;
use anyhow::bail;

/// List the files added, removed and changed in a DLE between two dates.
///
/// Each state is the newest dump at or before its date and the chain a restore of it reads;
/// only the catalog's indexes are read (no tape, no key). A change is one of type, size,
/// mtime, mode, owner, link target, content (the sha256 each file had when it was dumped,
/// where both dumps recorded it; a program stream's too).
#[derive(Debug, clap::Args)]
pub struct Args {
    pub host: String,
    pub disk: String,
    /// The older state: YYYY-MM-DD, or a datestamp (or its prefix).
    pub date1: String,
    /// The newer state, the same way.
    pub date2: String,
    #[command(flatten)]
    pub root: super::FromRoot,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let records = history::load(&cfg.catalog, &a.host, &a.disk)?;
    if records.is_empty() {
        bail!(Error::nothing_done(format!(
            "no dumps of {} {} in the catalog",
            a.host, a.disk
        )));
    }
    let from = chain_at(&records, &a.date1, a)?;
    let to = chain_at(&records, &a.date2, a)?;
    let old = search::state(&cfg.catalog, &from)?;
    let new = search::state(&cfg.catalog, &to)?;
    let report = DiffReport {
        host: a.host.clone(),
        disk: a.disk.clone(),
        from_dumps: from.iter().map(|r| r.datestamp.clone()).collect(),
        to_dumps: to.iter().map(|r| r.datestamp.clone()).collect(),
        diff: search::diff(&old, &new),
    };
    if cli.json {
        super::print_json(&report)?;
        return Ok(0);
    }
    outln!(
        "{} {}: {} -> {}",
        a.host,
        a.disk,
        show_chain(&from),
        show_chain(&to)
    );
    let d = &report.diff;
    for p in &d.added {
        outln!("+ {p}");
    }
    for p in &d.removed {
        outln!("- {p}");
    }
    for c in &d.changed {
        outln!("M {} ({})", c.path, c.what.join(", "));
    }
    outln!(
        "{} added, {} removed, {} changed",
        d.added.len(),
        d.removed.len(),
        d.changed.len()
    );
    Ok(0)
}

/// The chain a restore as of `date` reads.
fn chain_at<'r>(
    records: &'r [DumpRecord],
    date: &str,
    a: &Args,
) -> anyhow::Result<Vec<&'r DumpRecord>> {
    let bound = crate::fetch::date_bound(date)?;
    let chain = crate::recover::chain(records, Some(&bound));
    if chain.is_empty() {
        bail!(Error::nothing_done(format!(
            "no full of {} {} at or before {date}: the oldest dump in the catalog is of {}",
            a.host,
            a.disk,
            records
                .iter()
                .map(|r| r.datestamp.as_str())
                .min()
                .map(crate::clock::show_datestamp_secs)
                .unwrap_or_default()
        )));
    }
    Ok(chain)
}

/// `2026-12-03 01:30:00 (levels 0, 1)`.
fn show_chain(chain: &[&DumpRecord]) -> String {
    let newest = chain.last().map_or(String::new(), |r| {
        crate::clock::show_datestamp_secs(&r.datestamp)
    });
    let levels: Vec<String> = chain.iter().map(|r| r.level.to_string()).collect();
    format!("{newest} (level {})", levels.join(" + "))
}
