//! Restores: the chain of dumps that gives a DLE's state as of a date (full, then for each
//! level the newest dump before the next higher one), streamed through the safe extractor.

pub mod browse;
pub mod extract;
pub mod host;
pub mod repl;
pub mod seek;
pub mod shell;
#[cfg(test)]
mod shell_tests;
pub mod staging;
pub mod stream;
pub mod words;

use crate::catalog::{DumpRecord, history};
use crate::config::Config;
use anyhow::{Context, Result, bail};
use extract::{Extractor, Options, Report};
use std::path::{Path, PathBuf};

/// A non-interactive restore.
pub struct Request {
    pub host: String,
    pub disk: String,
    pub date: Option<String>,
    pub to: PathBuf,
    /// Member paths (as in the tar, `./` optional); empty: everything.
    pub paths: Vec<Vec<u8>>,
    pub identity: PathBuf,
    pub overwrite: bool,
    /// The key tape headers must be signed with.
    pub trust: crate::signing::Trust,
}

/// The dump(8) chain for the state as of `bound` (a datestamp upper bound), oldest first.
pub fn chain<'a>(records: &'a [DumpRecord], bound: Option<&str>) -> Vec<&'a DumpRecord> {
    let mut recs: Vec<&DumpRecord> = records
        .iter()
        .filter(|r| bound.is_none_or(|b| r.datestamp.as_str() <= b))
        .collect();
    recs.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
    let Some(full) = recs.iter().rposition(|r| r.level == 0) else {
        return vec![];
    };
    let mut out: Vec<&DumpRecord> = Vec::new();
    for r in &recs[full..] {
        while out.last().is_some_and(|c| c.level >= r.level) {
            out.pop();
        }
        out.push(r);
    }
    out
}

/// `./a/b`, `/a/b` or `a/b/` → `a/b`.
fn member_path(p: &[u8]) -> Vec<u8> {
    let mut p = p;
    loop {
        p = match p {
            [b'.', b'/', rest @ ..] | [b'/', rest @ ..] => rest,
            [rest @ .., b'/'] => rest,
            _ => return p.to_vec(),
        };
    }
}

/// The target must be new or empty unless `overwrite`.
pub fn check_target(to: &Path, overwrite: bool) -> Result<()> {
    if overwrite || !to.exists() {
        return Ok(());
    }
    let mut rd = std::fs::read_dir(to).with_context(|| format!("cannot read {}", to.display()))?;
    if rd.next().is_some() {
        bail!(
            crate::error::Error::config(format!("{} is not empty", to.display()))
                .hint("restore into an empty directory, or add --overwrite")
        );
    }
    Ok(())
}

/// The chain of dumps a restore as of `date` reads, oldest first; an error (exit code per
/// DESIGN.md) when there is none.
pub fn chain_for(
    cfg: &Config,
    host: &str,
    disk: &str,
    date: Option<&str>,
) -> Result<Vec<DumpRecord>> {
    let records = history::load(&cfg.catalog, host, disk)?;
    if records.is_empty() {
        bail!(crate::error::Error::nothing_done(format!(
            "no dumps of {host} {disk} in the catalog"
        )));
    }
    let bound = date.map(crate::fetch::date_bound).transpose()?;
    let chain: Vec<DumpRecord> = chain(&records, bound.as_deref())
        .into_iter()
        .cloned()
        .collect();
    if chain.is_empty() {
        bail!(crate::error::Error::nothing_done(format!(
            "no full of {host} {disk} at or before that date"
        )));
    }
    Ok(chain)
}

/// The chain as of `date` and the config that reads it: the rotation's or, when the
/// rotation holds no full of the DLE that old, the newest vault copy at or before the date
/// (said so: which copy a restore reads is never a guess).
pub fn chain_or_vault(
    cfg: &Config,
    host: &str,
    disk: &str,
    date: Option<&str>,
) -> Result<(Config, Vec<DumpRecord>)> {
    let err = match chain_for(cfg, host, disk, date) {
        Ok(c) => return Ok((cfg.clone(), c)),
        Err(e) => e,
    };
    let Some(date) = date else { return Err(err) };
    let bound = crate::fetch::date_bound(date)?;
    let Some((vault, name)) = crate::vault::state::holder(cfg, host, disk, &bound)? else {
        return Err(err);
    };
    let chain = chain_for(&vault, host, disk, Some(date))?;
    crate::say::notice(format!(
        "the rotation holds no full of {host} {disk} at or before {date}: reading the copy of \
         {} in {name}",
        chain[0].datestamp
    ));
    Ok((vault, chain))
}

/// A program DLE's newest dump as of `date`, opened and checked, if the DLE is one
/// (its tape header says `format = "stream"`).
pub fn open_stream(
    cfg: &Config,
    host: &str,
    disk: &str,
    date: Option<&str>,
    trust: &crate::signing::Trust,
) -> Result<Option<crate::vtape::reader::Opened>> {
    let (cfg, chain) = chain_or_vault(cfg, host, disk, date)?;
    let cfg = &cfg;
    let r = chain.last().expect("a chain has a full");
    let file = cfg.dump_path(r);
    let opened = crate::fetch::open(&file, r, trust)?;
    if !opened.header.is_stream() {
        return Ok(None);
    }
    if !opened.signed {
        crate::say::problem(format!(
            "WARNING: {} is read without a checked signature (--insecure-skip-signature)",
            file.display()
        ));
    }
    crate::say::progress(format!(
        "restoring {host} {disk} (program {}) from {} level 0 on {} file {} ({})",
        opened.header.program, r.datestamp, r.label, r.file_number, r.file_name
    ));
    Ok(Some(opened))
}

/// Restore a program DLE's stream as one file into `req.to`.
fn run_stream(
    req: &Request,
    opened: crate::vtape::reader::Opened,
    ids: &crate::vtape::decode::Ids,
) -> Result<Report> {
    let name = opened.header.stream_name.clone();
    let wanted = req.paths.iter().map(|p| member_path(p));
    if let Some(p) = wanted.into_iter().find(|p| p != name.as_bytes()) {
        bail!(crate::error::Error::config(format!(
            "{} {} is a program DLE: its one file is {name}, not {}",
            req.host,
            req.disk,
            String::from_utf8_lossy(&p)
        )));
    }
    if req.overwrite {
        bail!(crate::error::Error::config(
            "--overwrite is for tar DLEs: a program DLE's stream is restored into a new or empty directory"
        ));
    }
    let done = stream::restore(opened, ids, stream::Dest::Dir(&req.to))?;
    crate::say::progress(format!(
        "{}: {} bytes, sha256 checked",
        done.name, done.bytes
    ));
    Ok(Report {
        restored: 1,
        checked: 1,
        refused: vec![],
    })
}

/// Restore the chain as of `req.date` into `req.to`.
pub fn run(cfg: &Config, req: &Request) -> Result<Report> {
    check_target(&req.to, req.overwrite)?;
    let _reading = crate::catalog::lock::readers(&cfg.catalog)?;
    let (cfg, chain) = chain_or_vault(cfg, &req.host, &req.disk, req.date.as_deref())?;
    let cfg = &cfg;
    crate::say::progress(format!("restoring {} {} from:", req.host, req.disk));
    for r in &chain {
        crate::say::progress(format!(
            "  {} level {} on {} file {} ({})",
            r.datestamp, r.level, r.label, r.file_number, r.file_name
        ));
    }
    let ids = crate::keys::identities(&req.identity)?;
    let mut files = Vec::new();
    let mut newest = None;
    for r in &chain {
        let file = cfg.dump_path(r);
        let opened = crate::fetch::open(&file, r, &req.trust)?;
        if !opened.signed {
            crate::say::problem(format!(
                "WARNING: {} is read without a checked signature (--insecure-skip-signature)",
                file.display()
            ));
        }
        newest = Some(opened);
        files.push((r, file));
    }
    // a program DLE's chain is its one full: its stream, opened and checked above
    if let Some(opened) = newest.filter(|o| o.header.is_stream()) {
        return run_stream(req, opened, &ids);
    }
    let opts = Options {
        overwrite: req.overwrite,
        paths: resolve_paths(cfg, req, &chain),
    };
    let stage = staging::Stage::new(&req.to)?;
    let mut x = Extractor::new(stage.path(), opts)?;
    for (r, file) in files {
        let what = || format!("{} ({} level {})", file.display(), r.datestamp, r.level);
        if let Err(e) = extract_record(cfg, req, &mut x, r, &file, &ids).with_context(what) {
            return Err(stage.abandon(e));
        }
    }
    let unmatched = x.unmatched();
    if !unmatched.is_empty() {
        let e = anyhow::anyhow!(unmatched_paths(&unmatched, Some((req, &chain))));
        return Err(stage.abandon(e));
    }
    stage.commit(x)
}

/// The paths to restore, as members of the DLE: a path given with the DLE's own prefix
/// (`/etc/passwd` for DLE `/etc`; `etc/passwd` when the index has no `etc/passwd` in it
/// but has `passwd`) is taken relative to the DLE, and said so.
fn resolve_paths(cfg: &Config, req: &Request, chain: &[DumpRecord]) -> Vec<Vec<u8>> {
    let disk = member_path(req.disk.as_bytes());
    let refs: Vec<&DumpRecord> = chain.iter().collect();
    let mut view = browse::View::open(&cfg.catalog, &refs).ok();
    let mut known = |m: &[u8]| -> Option<bool> {
        let parts: Vec<String> = crate::catalog::tree::components(m)
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        view.as_mut()
            .and_then(|v| v.stat(&parts).ok())
            .map(|i| i.is_some())
    };
    req.paths
        .iter()
        .map(|given| {
            let m = member_path(given);
            let inside = (!disk.is_empty())
                .then(|| m.strip_prefix(&disk[..]))
                .flatten()
                .and_then(|r| r.strip_prefix(b"/"))
                .filter(|r| !r.is_empty());
            let Some(rel) = inside else { return m };
            let absolute = given.starts_with(b"/");
            let take = absolute || (known(&m) == Some(false) && known(rel) == Some(true));
            if !take {
                return m;
            }
            crate::say::notice(format!(
                "{} taken as {} (paths are relative to the DLE {})",
                String::from_utf8_lossy(given),
                String::from_utf8_lossy(rel),
                req.disk
            ));
            rel.to_vec()
        })
        .collect()
}

/// The error for wanted paths that matched nothing: each named, with the form that works
/// when it carries the DLE's prefix.
pub fn unmatched_paths(paths: &[Vec<u8>], of: Option<(&Request, &[DumpRecord])>) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|p| format!("`{}`", String::from_utf8_lossy(p)))
        .collect();
    let mut text = match of {
        Some((req, chain)) => format!(
            "{} matched nothing in {} {} as of {}: nothing was restored",
            names.join(", "),
            req.host,
            req.disk,
            chain.last().map_or("-", |r| r.datestamp.as_str())
        ),
        None => format!("{} matched nothing in the stream", names.join(", ")),
    };
    text.push_str(
        "; paths are relative to the DLE (for DLE /etc, the file /etc/passwd is `passwd`); \
         `tapir recover --host H --disk D` without --to browses the DLE",
    );
    text
}

/// Extract one dump of the chain: by random access when only some paths are wanted and
/// the dump allows it, else whole; either way every byte used is authenticated.
fn extract_record(
    cfg: &Config,
    req: &Request,
    x: &mut Extractor,
    r: &DumpRecord,
    file: &crate::vtape::TapePath,
    ids: &crate::vtape::decode::Ids,
) -> Result<()> {
    x.check_sums(sums_of(cfg, r));
    if !req.paths.is_empty()
        && let Some(plan) = seek::plan(&cfg.catalog, r, x)?
    {
        match extract_seeking(x, file, r, &req.trust, &plan, ids) {
            Ok(cost) => {
                crate::say::progress(format!(
                    "  {}: {} member(s) by random access: {} of {} tape bytes read, {} of {} tar bytes decompressed",
                    r.file_name,
                    plan.members.len(),
                    cost.read,
                    r.payload_size,
                    cost.decompressed,
                    r.original_size
                ));
                return Ok(());
            }
            Err(e) if e.is::<extract::ContentMismatch>() => return Err(e),
            Err(e) => crate::say::progress(format!(
                "random access to {} failed ({e:#}); reading the whole dump",
                file.display()
            )),
        }
        x.check_sums(sums_of(cfg, r));
    }
    let opened = crate::fetch::open(file, r, &req.trust)?;
    extract_one(x, opened, ids)
}

/// The per-file sha256s of a dump's index, for the extractor to check each file against;
/// `None` (said so) when the dump has no index or it cannot be read.
fn sums_of(cfg: &Config, r: &DumpRecord) -> Option<crate::catalog::sums::Cursor> {
    let ix = r.index.as_ref()?;
    match crate::catalog::sums::Cursor::open(&cfg.catalog.join(ix)) {
        Ok(c) => Some(c),
        Err(e) => {
            crate::say::problem(format!(
                "WARNING: the files of {} are restored without their per-file check: {e:#}",
                r.file_name
            ));
            None
        }
    }
}

/// Extract the planned members of one tape file, read by seeking.
fn extract_seeking(
    x: &mut Extractor,
    file: &crate::vtape::TapePath,
    r: &DumpRecord,
    trust: &crate::signing::Trust,
    plan: &seek::Plan,
    ids: &crate::vtape::decode::Ids,
) -> Result<seek::Cost> {
    if plan.members.is_empty() {
        return Ok(seek::Cost::default());
    }
    let opened = crate::fetch::open(file, r, trust)?.seekable()?;
    let (reader, mut writer) = std::io::pipe()?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || seek::read_members(opened, plan, ids, &mut writer));
        let extracted = x.extract(std::io::BufReader::with_capacity(1 << 16, reader));
        let read = producer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("reader thread panicked")));
        first_cause(read, extracted)
    })
}

/// Decrypt and decompress one tape file on a thread, extracting as it streams.
fn extract_one(
    x: &mut Extractor,
    opened: crate::vtape::reader::Opened,
    ids: &crate::vtape::decode::Ids,
) -> Result<()> {
    let (reader, mut writer) = std::io::pipe()?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || opened.decode(ids, &mut writer).map(|_| ()));
        let extracted = x.extract(std::io::BufReader::with_capacity(1 << 20, reader));
        let fetched = producer
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("reader thread panicked")));
        first_cause(fetched, extracted)
    })
}

/// Both ends of a restore pipe must succeed. When both fail, the producer's error is the
/// cause (a corrupt payload ends the tar early) unless it only saw the extractor hang up.
fn first_cause<T>(produced: Result<T>, extracted: Result<()>) -> Result<T> {
    let hung_up = |e: &anyhow::Error| {
        e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        })
    };
    match (produced, extracted) {
        (Err(p), Err(x)) if hung_up(&p) => Err(x),
        (Err(p), _) => Err(p),
        (Ok(_), Err(x)) => Err(x),
        (Ok(v), Ok(())) => Ok(v),
    }
}

/// Extract one tar stream (e.g. from `tapir fetch`) with the same safety.
pub fn extract_stream(
    r: impl std::io::Read,
    to: &Path,
    paths: &[String],
    overwrite: bool,
) -> Result<Report> {
    check_target(to, overwrite)?;
    let opts = Options {
        overwrite,
        paths: paths.iter().map(|p| member_path(p.as_bytes())).collect(),
    };
    let mut x = Extractor::new(to, opts)?;
    x.extract(r)?;
    let unmatched = x.unmatched();
    let unchanged = x.unchanged();
    let report = x.finish(None)?;
    // over an older level (--overwrite), an incremental is what was asked for
    if unchanged > 0 && !overwrite {
        crate::say::problem(format!(
            "this tar is an incremental (level 1 or more): its directories list {unchanged} \
             unchanged name(s) it does not hold, so only the files changed since the dump \
             before it were restored. Restore the whole chain with `tapir recover --host H \
             --disk D --to DIR`, or fetch the level 0 first and apply each newer level over \
             it with `recover --tar - --overwrite` (README: Restore at 3 a.m.)"
        ));
    }
    if !unmatched.is_empty() {
        bail!(unmatched_paths(&unmatched, None));
    }
    Ok(report)
}
