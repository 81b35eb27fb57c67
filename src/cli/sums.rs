//! `tapir sums`: a DLE's files as of a date with the sha256 each had when it was dumped, in
//! `sha256sum -c` format, so a restore made without tapir is checked without tapir.

use super::Cli;
use crate::catalog::{search, sums};
use crate::error::Error;
use anyhow::bail;
use std::io::Write;

/// Print the sha256 of every regular file of a DLE as of a date, for `sha256sum -c`.
///
/// The state is the one a restore as of --date writes: the newest dump at or before it and
/// the chain that restore reads (a file an incremental lists as unchanged keeps the sha256
/// of the dump that holds it; from a vault when the rotation no longer holds that date).
/// Names are relative to the directory the dump is restored into (`./etc/passwd`), escaped
/// as GNU sha256sum escapes them. Only the catalog's indexes are read: no tape, no key.
/// Run `sha256sum -c --quiet` in that directory. Exit 0; 1 when some regular files have no
/// recorded sha256 (dumped before tapir recorded them, or with `file_sha256 = false`: named
/// on stderr); 4 when none has.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long)]
    pub host: String,
    #[arg(long)]
    pub disk: String,
    /// The state as of this date: YYYY-MM-DD, or a datestamp (or its prefix); default: the
    /// newest.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    #[command(flatten)]
    pub root: super::FromRoot,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let (cfg, chain) = crate::recover::chain_or_vault(&cfg, &a.host, &a.disk, a.date.as_deref())?;
    let refs: Vec<&crate::catalog::DumpRecord> = chain.iter().collect();
    let state = search::state(&cfg.catalog, &refs)?;
    let mut out = std::io::stdout().lock();
    let written = sums::write_state(&state, &mut out).map_err(super::out::stdout_error)?;
    out.flush().map_err(super::out::stdout_error)?;
    if written.without.is_empty() {
        return Ok(0);
    }
    let first: Vec<&str> = written.without.iter().take(3).map(String::as_str).collect();
    let what = format!(
        "{} regular file(s) of {} {} have no recorded sha256 (dumped before tapir recorded \
         them, or with file_sha256 = false), so sha256sum -c cannot check them: {}{}",
        written.without.len(),
        a.host,
        a.disk,
        first.join(", "),
        if written.without.len() > first.len() {
            ", …"
        } else {
            ""
        }
    );
    if written.files == 0 {
        bail!(Error::nothing_done(what));
    }
    crate::say::problem(format!("WARNING: {what}"));
    Ok(1)
}
