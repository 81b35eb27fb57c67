//! `tapir find`: the dumps the catalog knows, or (`--file GLOB`) the files in them.

use super::Cli;
use crate::catalog::history;
use crate::units::human;
use crate::vault::state::Listed;

/// List dumps, or with --file the files in them
///
/// Without `--file`: every dump (date, level, tape, file, sizes, status), oldest first.
/// With `--file GLOB`: the files matching GLOB in every dump's index, which dumps hold them,
/// with size, mtime and level (restic find); exit 1 when nothing matched.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub host: Option<String>,
    pub disk: Option<String>,
    /// Search the indexes for files matching GLOB: without a `/` it matches file names
    /// (`*.conf`), with one the path inside the DLE (`etc/nginx/*.conf`, `**/id_rsa`); `*`
    /// does not cross `/`, `**` does. An incremental lists a file only when it holds its
    /// content.
    #[arg(long, value_name = "GLOB")]
    pub file: Option<String>,
    /// Only this host (as HOST).
    #[arg(long = "host", value_name = "HOST", conflicts_with = "host")]
    pub host_opt: Option<String>,
    /// Only this disk (as DISK).
    #[arg(long = "disk", value_name = "DISK", conflicts_with = "disk")]
    pub disk_opt: Option<String>,
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
    let host = a.host.as_ref().or(a.host_opt.as_ref());
    let disk = a.disk.as_ref().or(a.disk_opt.as_ref());
    recs.retain(|r| host.is_none_or(|h| &r.host == h) && disk.is_none_or(|d| &r.disk == d));
    if let Some(glob) = &a.file {
        return files(cli, &cfg, &recs, glob);
    }
    let listed = if a.root.from.is_some() {
        let copies = |r: &history::DumpRecord| match &r.path {
            Some(p) => vec![p.clone()],
            None => vec![crate::vtape::slot_name(r.slot)],
        };
        recs.into_iter()
            .map(|r| Listed {
                copies: copies(&r),
                record: r,
            })
            .collect()
    } else {
        let mut l = crate::vault::state::listed(&cfg.catalog, recs);
        l.retain(|x| {
            host.is_none_or(|h| &x.record.host == h) && disk.is_none_or(|d| &x.record.disk == d)
        });
        l
    };
    if cli.json {
        super::print_json(&listed)?;
        return Ok(0);
    }
    outln!(
        "{:<19} {:<12} {:<20} {:>3} {:<10} {:>5} {:>10} {:>10}  {:<8} COPIES",
        "DATE",
        "HOST",
        "DISK",
        "LVL",
        "TAPE",
        "FILE",
        "ORIG",
        "OUT",
        "STATUS"
    );
    for Listed { record: r, copies } in &listed {
        let date = crate::clock::show_datestamp_secs(&r.datestamp);
        let line = format!(
            "{date:<19} {:<12} {:<20} {:>3} {:<10} {:>5} {:>10} {:>10}  {:<8} {}",
            r.host,
            r.disk,
            r.level,
            r.label,
            r.file_number,
            human(r.original_size),
            human(r.payload_size),
            crate::report::name(&r.status),
            copies.join(", ")
        );
        outln!("{}", line.trim_end());
    }
    let recs = listed;
    if recs.is_empty() {
        eprintln!("tapir: no dumps found");
    }
    Ok(0)
}

/// `find --file GLOB`: the matching files of every dump, oldest dump first. Exit 0 when
/// something matched, 1 when nothing did (as grep), 1 also when an index could not be read.
fn files(
    cli: &Cli,
    cfg: &crate::config::Config,
    recs: &[history::DumpRecord],
    glob: &str,
) -> anyhow::Result<i32> {
    use crate::catalog::search::{self, FileHit};
    let glob =
        search::FileGlob::new(glob).map_err(|e| crate::error::Error::config(format!("{e:#}")))?;
    let found = search::find_files(&cfg.catalog, recs, &glob);
    let hits: Vec<FileHit> = found
        .hits
        .iter()
        .map(|h| FileHit::of(&recs[h.record], &h.line))
        .collect();
    if cli.json {
        super::print_json(&hits)?;
    } else {
        outln!(
            "{:<19} {:<12} {:<20} {:>3} {:>10} {:<16}  PATH",
            "DATE",
            "HOST",
            "DISK",
            "LVL",
            "SIZE",
            "MTIME"
        );
        for (h, f) in found.hits.iter().zip(&hits) {
            let mtime = chrono::DateTime::from_timestamp(h.line.m, 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            outln!(
                "{:<19} {:<12} {:<20} {:>3} {:>10} {mtime:<16}  {}",
                crate::clock::show_datestamp_secs(&f.datestamp),
                f.host,
                f.disk,
                f.level,
                human(f.file_bytes),
                f.path
            );
        }
    }
    let unread: Vec<&String> = found
        .skipped
        .iter()
        .filter(|s| !s.ends_with(": no index"))
        .collect();
    for s in &unread {
        eprintln!("tapir: could not search {s}");
    }
    let no_index = found.skipped.len() - unread.len();
    eprintln!(
        "tapir: {} file(s) in {} of {} dump(s){}",
        hits.len(),
        hits.iter()
            .map(|h| (&h.host, &h.disk, &h.datestamp))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        found.searched,
        if no_index > 0 {
            format!("; {no_index} dump(s) without an index not searched")
        } else {
            String::new()
        }
    );
    Ok(if hits.is_empty() || !unread.is_empty() {
        1
    } else {
        0
    })
}
