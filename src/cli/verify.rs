//! `tapir verify`: re-read tape files and say which are OK, CORRUPT, TRUNCATED or MISSING.

use super::Cli;
use crate::verify::{self, Verdict};
use std::path::PathBuf;

/// Re-read tape files and check each one.
///
/// Check every label and dump file (or those on LABELs): signature, place, the catalog's
/// record, length and payload sha256, and name every catalogued file, label or slot that is
/// gone (MISSING); with --identity also decrypt, decompress and read the tar to its end
/// against the index. Exit 0 when all are OK, 1 otherwise.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub labels: Vec<String>,
    #[arg(short, long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let root = cfg.changer.root.clone();
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let trust = a.trust.trust(&cfg, a.identity.as_deref())?;
    let checked = verify::run(&cfg, &root, &a.labels, a.identity.as_deref(), &trust)?;
    if cli.json {
        super::print_json(&checked)?;
    } else {
        for c in &checked {
            let v = crate::report::name(&c.verdict);
            outln!("{v:<9} {} {}: {}", c.label, c.file, c.detail);
        }
    }
    let bad = checked.iter().filter(|c| c.verdict != Verdict::Ok).count();
    if !cli.json {
        outln!(
            "{} files: {} OK, {bad} with problems",
            checked.len(),
            checked.len() - bad
        );
    }
    Ok(if bad > 0 { 1 } else { 0 })
}
