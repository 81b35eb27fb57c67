//! `tapir verify`: re-read tape files and say which are OK, CORRUPT, TRUNCATED or MISSING.

use super::Cli;
use crate::catalog::verified::{self, Verified};
use crate::verify::{self, Verdict};
use std::path::PathBuf;

/// Re-read tape files and check each one.
///
/// Check every label and dump file (or those on LABELs): signature, place, the catalog's
/// record, length and payload sha256, and name every catalogued file, label or slot that is
/// gone (MISSING); with --identity also decrypt, decompress and read the tar to its end
/// against the index. Each good file's verification is recorded (per copy: the vtape root, or
/// the --from ROOT), and with --max-time the least recently verified files are read first and
/// the run stops cleanly at the limit, to go on the next night. Exit 0 when all read are OK,
/// 1 otherwise.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub labels: Vec<String>,
    #[arg(short, long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Stop after this long (e.g. 30m), least recently verified files first; the next run
    /// goes on where this one stopped. Every run reads at least one file a core.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_time: Option<std::time::Duration>,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

/// A duration; `0s` reads one batch (one file a core) and stops.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    match s.trim() {
        "0" | "0s" => Ok(std::time::Duration::ZERO),
        _ => crate::units::parse_duration(s),
    }
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let root = cfg.changer.root.clone();
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let trust = a.trust.trust(&cfg, a.identity.as_deref())?;
    // the marks live in the server's catalog, under the copy's name; a reader with no
    // config keeps them in its own state directory
    let (store, copy) = match &a.root.from {
        None => (verified::path(&cfg.catalog), "rotation".to_string()),
        Some(from) => {
            let name = match from.to_str().filter(|f| crate::s3::is_url(f)) {
                Some(url) => url.to_string(),
                None => std::path::absolute(from)?.display().to_string(),
            };
            let store = if super::no_config_file(cli) {
                verified::state_path()
            } else {
                verified::path(&super::load_config(cli)?.catalog)
            };
            (store, name)
        }
    };
    let mut marks = Verified::load(&store);
    let limits = verify::Limits {
        max_time: a.max_time,
        marks: Some((&marks, &copy)),
    };
    let run = verify::run(
        &cfg,
        &root,
        &a.labels,
        a.identity.as_deref(),
        &trust,
        &limits,
    )?;
    let checked = &run.checked;
    if cli.json {
        super::print_json(checked)?;
    } else {
        for c in checked {
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
    if run.left > 0 {
        eprintln!(
            "tapir: stopped at --max-time: {} dump file(s) not read this run; the next run \
             reads them first (least recently verified first)",
            run.left
        );
    }
    marks.record(&copy, run.good, &run.current);
    if let Err(e) = marks.save(&store) {
        eprintln!(
            "tapir: the verification could not be recorded in {}: {e:#}",
            store.display()
        );
    }
    Ok(if bad > 0 { 1 } else { 0 })
}
