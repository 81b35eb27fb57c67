//! `tapir mirror`: copy the tapes and the catalog to the mirror, verified.

use super::Cli;
use crate::error::Error;
use anyhow::bail;
use std::path::PathBuf;

/// Copy the tapes and the catalog to a mirror, verified.
///
/// Make DIR (default: mirror.to) a verified copy of the vtape root plus the catalog: only
/// changed files are copied, each to a temp name, fsynced, read back and checked against its
/// header before the rename. A recycled slot replaces the mirror's only once complete; a
/// source file that fails its checksum is reported and never copied. Takes the run lock.
/// DIR then restores alone: `tapir recover --from DIR`, `verify --from DIR`. Exit 0, or 1
/// when something was not mirrored.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let Some(to) = a.to.clone().or_else(|| cfg.mirror.to.clone()) else {
        bail!(Error::config(
            "no mirror target: set [mirror] to = \"DIR\" in the config or give --to DIR"
        ));
    };
    let to = std::path::absolute(&to)?;
    let rep = crate::mirror::run(&cfg, &to)?;
    if cli.json {
        super::print_json(&rep)?;
    } else {
        for c in &rep.copied {
            outln!("copied {c}");
        }
        for n in &rep.notes {
            outln!("note: {n}");
        }
        for p in &rep.problems {
            eprintln!("tapir: mirror: {p}");
        }
        outln!(
            "mirror {}: {} file(s) copied ({}), {} unchanged, {} problem(s)",
            to.display(),
            rep.copied.len(),
            crate::config::size::human(rep.bytes),
            rep.unchanged,
            rep.problems.len()
        );
    }
    Ok(if rep.problems.is_empty() { 0 } else { 1 })
}
