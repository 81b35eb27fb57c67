//! `tapir find`: the dumps the catalog knows.

use super::Cli;
use crate::catalog::history;
use crate::config::size::human;

/// List dumps (date, level, tape, file, sizes, status), oldest first.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub host: Option<String>,
    pub disk: Option<String>,
    #[command(flatten)]
    pub root: super::FromRoot,
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let mut recs = history::load_all(&cfg.catalog)?;
    recs.retain(|r| {
        a.host.as_ref().is_none_or(|h| &r.host == h) && a.disk.as_ref().is_none_or(|d| &r.disk == d)
    });
    if cli.json {
        super::print_json(&recs)?;
        return Ok(0);
    }
    outln!(
        "{:<19} {:<12} {:<20} {:>3} {:<10} {:>5} {:>10} {:>10}  STATUS",
        "DATE",
        "HOST",
        "DISK",
        "LVL",
        "TAPE",
        "FILE",
        "ORIG",
        "OUT"
    );
    for r in &recs {
        let date = crate::clock::parse_datestamp(&r.datestamp).map_or(r.datestamp.clone(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        });
        outln!(
            "{date:<19} {:<12} {:<20} {:>3} {:<10} {:>5} {:>10} {:>10}  {}",
            r.host,
            r.disk,
            r.level,
            r.label,
            r.file_number,
            human(r.original_size),
            human(r.payload_size),
            crate::report::name(&r.status)
        );
    }
    if recs.is_empty() {
        eprintln!("tapir: no dumps found");
    }
    Ok(0)
}
