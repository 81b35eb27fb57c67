//! `tapir mirror`: copy the tapes and the catalog to the mirror, verified.

use super::Cli;
use crate::error::Error;
use anyhow::bail;

/// Copy the tapes and the catalog to a mirror, verified.
///
/// Make DIR or s3://BUCKET/PREFIX (default: each of mirror.to in turn) a verified copy of the vtape root plus the catalog: only
/// changed files are copied, each to a temp name, fsynced, read back and checked against its
/// header before the rename. A recycled slot replaces the mirror's only once complete; a
/// source file that fails its checksum is reported and never copied. Takes the run lock.
/// DIR then restores alone: `tapir recover --from DIR`, `verify --from DIR`. Exit 0, or 1
/// when something was not mirrored.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub to: Option<String>,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = super::load_config(cli)?;
    let targets = match &a.to {
        Some(t) => vec![t.clone()],
        None => cfg.mirror.to.clone(),
    };
    if targets.is_empty() {
        bail!(Error::config(
            "no mirror target: set [mirror] to = \"DIR\" or \"s3://BUCKET/PREFIX\" in the \
             config, or give --to"
        ));
    }
    let mut failed = false;
    let mut reports = Vec::new();
    for t in &targets {
        let rep = match crate::mirror::run_target(&cfg, t) {
            Ok(r) => r,
            // one target down must not stop the others
            Err(e) if targets.len() > 1 => {
                eprintln!("tapir: mirror {t}: {e:#}");
                failed = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        failed |= !rep.problems.is_empty();
        if !cli.json {
            say(t, &rep)?;
        }
        reports.push(rep);
    }
    if cli.json {
        match reports.as_slice() {
            [one] if targets.len() == 1 => super::print_json(one)?,
            _ => super::print_json(&reports)?,
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn say(to: &str, rep: &crate::mirror::Report) -> anyhow::Result<()> {
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
        "mirror {to}: {} file(s) copied ({}), {} unchanged, {} problem(s)",
        rep.copied.len(),
        crate::units::human(rep.bytes),
        rep.unchanged,
        rep.problems.len()
    );
    Ok(())
}
