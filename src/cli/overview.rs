//! `tapir overview`: the nights at a glance (amoverview).

use super::Cli;
use crate::report::overview;

/// A DLE × night matrix of levels and states
///
/// One column per night with a run (the last NIGHTS), one row per DLE: the level dumped OK,
/// `nP` partial, `F` failed, `M` missed, `.` not dumped. Made from the runs' summaries in
/// the catalog, which outlive the tapes' rotation.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many nights to show (the newest).
    #[arg(long, default_value_t = 30, value_name = "N")]
    pub nights: usize,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let o = overview::of(&summaries(&cfg.catalog)?, a.nights, None);
    if cli.json {
        super::print_json(&o)?;
    } else if o.nights.is_empty() {
        anyhow::bail!(crate::error::Error::nothing_done("no run has finished yet"));
    } else {
        crate::cli::out::text(&overview::render(&o))?;
    }
    Ok(0)
}

/// Every finished run's summary, oldest first.
pub fn summaries(catalog: &std::path::Path) -> anyhow::Result<Vec<crate::report::RunSummary>> {
    let mut out = Vec::new();
    for ds in crate::catalog::runlog::runs(catalog) {
        if let Some(s) = crate::catalog::runlog::load_summary(catalog, &ds)? {
            out.push(s);
        }
    }
    Ok(out)
}
