//! `tapir find`: the dumps the catalog knows.

use super::Cli;
use crate::catalog::history;
use crate::units::human;

/// List dumps (date, level, tape, file, sizes, status), oldest first.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub host: Option<String>,
    pub disk: Option<String>,
    #[command(flatten)]
    pub root: super::FromRoot,
    #[command(flatten)]
    pub trust: super::TrustArgs,
}

/// The catalog's records (and the MISSING ones); with `--from` a copy that carries no
/// catalog of its own, what its signed headers say: never the server's catalog.
fn records(cfg: &crate::config::Config, a: &Args) -> anyhow::Result<Vec<history::DumpRecord>> {
    let local_copy = a
        .root
        .from
        .as_ref()
        .filter(|r| !crate::s3::is_url_path(r) && !r.join("catalog").is_dir());
    if let Some(root) = local_copy {
        let trust = a.trust.trust(cfg, None)?;
        let (recs, skipped) =
            crate::rebuild::records_on(cfg, &crate::vtape::Root::Local(root.clone()), &trust)?;
        for s in skipped {
            eprintln!("tapir: skipped {s}");
        }
        return Ok(recs);
    }
    let mut recs = history::load_all(&cfg.catalog)?;
    let missing = history::load_missing(&cfg.catalog)?;
    recs.extend(missing.into_iter().map(|mut r| {
        r.status = history::DumpStatus::Missing;
        r
    }));
    recs.sort_by(|x, y| x.datestamp.cmp(&y.datestamp));
    Ok(recs)
}

pub fn run(cli: &Cli, a: &Args) -> anyhow::Result<i32> {
    let cfg = a.root.config(cli)?;
    let mut recs = records(&cfg, a)?;
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
