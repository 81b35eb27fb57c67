//! `tapir forget HOST DISK`: retire a DLE that is gone from the disklist (amadmin delete), so
//! that its last full stops pinning a tape once the keep-until date has passed.

use super::Cli;
use crate::catalog::admin::{Admin, Retired};
use crate::error::Error;
use anyhow::bail;

/// Retire a DLE taken out of the disklist, so that its dumps stop pinning tapes.
///
/// Its dumps keep their tapes until --keep-until (default: one tapecycle of nights from
/// today); after that their tapes are reused in turn. `tapir find` lists them until then.
/// A DLE put back in the disklist is no longer retired at its next dump.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub host: String,
    pub disk: String,
    /// The last day its dumps still pin their tapes (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub keep_until: Option<String>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    if let Some(d) = cfg.dle(&a.host, &a.disk) {
        bail!(
            Error::config(format!(
                "{} {} is still in the disklist ({})",
                a.host, a.disk, d.origin
            ))
            .hint("take its line out of the disklist first: forget retires a DLE that is gone")
        );
    }
    let records = crate::catalog::history::load(&cfg.catalog, &a.host, &a.disk)?;
    if records.is_empty() {
        bail!(
            Error::config(format!("the catalog has no dumps of {} {}", a.host, a.disk))
                .hint("`tapir find` lists the DLEs the catalog knows")
        );
    }
    let now = crate::clock::now()?;
    let keep_until = match &a.keep_until {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| Error::config(format!("--keep-until {d:?} is not a date (YYYY-MM-DD)")))?
            .format("%Y-%m-%d")
            .to_string(),
        None => crate::clock::date(&(now + chrono::Duration::days(cycle_days(&cfg)))),
    };
    let _lock = crate::catalog::lock::exclusive(&cfg.catalog, "forget")?;
    let mut admin = Admin::load(&cfg.catalog)?;
    admin.retire(Retired {
        host: a.host.clone(),
        disk: a.disk.clone(),
        keep_until: keep_until.clone(),
        since: crate::clock::datestamp(&now),
    });
    admin.save(&cfg.catalog)?;
    crate::catalog::forced::set(&cfg.catalog, &a.host, &a.disk, false)?;
    let mut tapes: Vec<&str> = records.iter().map(|r| r.label.as_str()).collect();
    tapes.sort();
    tapes.dedup();
    outln!(
        "{} {} retired: its {} dump(s) on {} pin their tapes until {keep_until}; `tapir find {} {}` lists them until their tapes are reused",
        a.host,
        a.disk,
        records.len(),
        tapes.join(", "),
        a.host,
        a.disk
    );
    Ok(0)
}

/// One tapecycle of nights in days: tapecycle runs at runspercycle runs per dumpcycle days.
fn cycle_days(cfg: &crate::config::Config) -> i64 {
    let runs = cfg.tapecycle as i64 * cfg.dumpcycle as i64;
    let per = cfg.runspercycle.max(1) as i64;
    (runs + per - 1) / per
}
