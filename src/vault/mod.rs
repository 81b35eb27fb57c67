//! `tapir vault`: long-term copies of the fulls a retention policy keeps (`[vault.NAME]`),
//! outliving the rotation. A vault target ([`target`]: a directory, an NFS mount, or an S3
//! prefix) holds the same signed tape files as the slots, each under
//! `dumps/HOST/DISK/DATESTAMP/NAME` (labels recycle, so a slot's name would collide), and its
//! own `catalog/` (history records that say where each file is, and the dumps' indexes), so
//! that `find/recover/verify --from VAULT` work on a fresh machine and
//! `dd | age -d | gzip -dc | tar -x` restores any file.
//!
//! A copy is read through the one tape reader (signature, place, catalog record, sha256) and
//! written as the mirror writes: to a temp name, fsynced, read back past the page cache and
//! renamed (on S3: every request's sha256 checked by the store, or the object read back),
//! then opened by the reader again in its place; only then does the vault's catalog list it.
//! Pruning ([`prune`]) removes the catalog record before the file, so a killed run leaves at
//! most a file nothing lists, which the next prune removes.

pub mod prune;
pub mod state;
pub mod target;

pub use target::Target;

use crate::catalog::retention::{self, Kept};
use crate::catalog::{DumpRecord, DumpStatus, history, index};
use crate::config::Config;
use crate::config::vault::Vault;
use crate::fsutil;
use crate::signing::Trust;
use crate::vtape::reader::{self, Expect};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::Path;

pub use crate::config::vault::MARKER;

/// What one vault run to one target did.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    pub vault: String,
    pub to: String,
    /// The files copied (`dumps/HOST/DISK/DATESTAMP/NAME`).
    pub copied: Vec<String>,
    pub copied_bytes: u64,
    /// Copies the policy keeps that the vault already held.
    pub held: usize,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

/// What `tapir vault [--prune]` did to one target (`--json` prints a list of them).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Outcome {
    pub vault: String,
    pub to: String,
    /// The copy (absent with `--dry-run`).
    pub copy: Option<Report>,
    /// The prune (with `--prune`).
    pub prune: Option<prune::Plan>,
}

/// The vault's place for a dump's file, relative to the target.
pub fn rel_path(r: &DumpRecord) -> String {
    format!(
        "dumps/{}/{}/{}/{}",
        fsutil::escape_component(&r.host),
        fsutil::escape_component(&r.disk),
        r.datestamp,
        r.file_name
    )
}

/// One dump, whoever holds it: host, disk, datestamp, level.
pub type Key = (String, String, String, u8);

pub fn key(r: &DumpRecord) -> Key {
    (r.host.clone(), r.disk.clone(), r.datestamp.clone(), r.level)
}

/// Where a copy can be read from: the vtape root, or a mirror that still has the slot.
pub struct Source {
    pub cfg: Config,
    pub records: Vec<DumpRecord>,
    /// `rotation`, or `mirror:TARGET`.
    pub name: String,
}

/// The rotation first, then each mirror (read only for dumps the rotation lost); a mirror
/// that cannot be read is a note.
pub fn sources(cfg: &Config, notes: &mut Vec<String>) -> Result<Vec<Source>> {
    let mut out = vec![Source {
        cfg: cfg.clone(),
        records: history::load_all(&cfg.catalog)?,
        name: "rotation".into(),
    }];
    for m in &cfg.mirror.to {
        let read = crate::config::reading::from_root(Path::new(m), Some(cfg.clone()))
            .and_then(|c| Ok((history::load_all(&c.catalog)?, c)));
        match read {
            Ok((records, c)) => out.push(Source {
                cfg: c,
                records,
                name: format!("mirror:{m}"),
            }),
            Err(e) => notes.push(format!("mirror {m} not read: {e:#}")),
        }
    }
    Ok(out)
}

/// The fulls of `vault`'s DLEs in `sources` (the first source to name a dump wins), with
/// the index of the source that holds each.
pub fn candidates<'s>(
    cfg: &Config,
    vault: &Vault,
    sources: &'s [Source],
) -> Vec<(usize, &'s DumpRecord)> {
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    for (i, s) in sources.iter().enumerate() {
        for r in &s.records {
            let covered = match cfg.dle(&r.host, &r.disk) {
                Some(d) => vault.covers(d, cfg.dumptype(d)),
                None => vault.matches(&r.host, &r.disk),
            };
            let full = r.level == 0 && matches!(r.status, DumpStatus::Ok | DumpStatus::Partial);
            if covered && full && !r.is_held() && seen.insert(key(r)) {
                out.push((i, r));
            }
        }
    }
    out
}

/// The vault a marker names.
pub fn vault_name(marker: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct M {
        vault: String,
    }
    toml::from_str::<M>(marker).ok().map(|m| m.vault)
}

/// Today, as the policy counts it.
pub fn today() -> Result<chrono::NaiveDate> {
    Ok(crate::clock::now()?.date_naive())
}

/// The vault's copies and the fulls the sources offer that it lacks: what the policy is
/// counted over.
pub fn union(held: &[DumpRecord], offered: &[(usize, &DumpRecord)]) -> Vec<DumpRecord> {
    let have: BTreeSet<Key> = held.iter().map(key).collect();
    let mut all = held.to_vec();
    all.extend(
        offered
            .iter()
            .filter(|(_, r)| !have.contains(&key(r)))
            .map(|(_, r)| (*r).clone()),
    );
    all
}

/// Copy to `to` every dump the policy keeps that the vault lacks.
pub fn run(cfg: &Config, vault: &Vault, to: &str) -> Result<Report> {
    let _lock = crate::catalog::lock::exclusive(&cfg.catalog, "vault")?;
    let (trust, set) = crate::mirror::server_set(cfg)?;
    let mut target = Target::open(cfg, vault, to, &set, &trust)?;
    let mut rep = Report {
        vault: vault.name.clone(),
        to: target.name.clone(),
        ..Report::default()
    };
    target.abort_orphans(&mut rep.notes);
    let sources = sources(cfg, &mut rep.notes)?;
    let offered = candidates(cfg, vault, &sources);
    let held = target.records()?;
    let have: BTreeSet<Key> = held.iter().map(key).collect();
    let all = union(&held, &offered);
    let source_of: std::collections::HashMap<Key, usize> =
        offered.iter().map(|(i, r)| (key(r), *i)).collect();
    let today = today()?;
    let mut todo: Vec<Todo> = vec![];
    for k in retention::kept(&all, &vault.policy(), today) {
        let r = k.record;
        let k_r = key(r);
        if have.contains(&k_r) {
            rep.held += 1;
            continue;
        }
        let Some(&i) = source_of.get(&k_r) else {
            continue;
        };
        if r.status == DumpStatus::Partial {
            rep.notes.push(format!(
                "{}:{} {}: a PARTIAL full (some files were not read) is the last of {}",
                r.host,
                r.disk,
                r.datestamp,
                periods(&k)
            ));
        }
        let lock = vault.object_lock.then(|| until(&k)).flatten();
        todo.push((r, i, lock));
    }
    // the files: several at once into a directory (the reads, hashes and read-backs of
    // several dumps overlap), one at a time to S3 (each upload is parallel in itself)
    let copied: Vec<Result<u64>> = match target.dir() {
        Some(dir) => {
            // twice the cores: one copy hashes while another waits for the disk (1.9 s
            // against 2.2 s with one per core for the 1.35 GB of scripts/bench-s3)
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let threads = (2 * cores).min(8) as u32;
            crate::pool::par_map(&todo, threads, |(r, i, _)| {
                copy_file(&sources[*i].cfg, &trust, r, |o, e| {
                    target::put_dir(dir, &rel_path(r), o, e, &trust)
                })
            })
        }
        None => todo
            .iter()
            .map(|(r, i, lock)| {
                copy_file(&sources[*i].cfg, &trust, r, |o, e| {
                    target.put_dump(&rel_path(r), o, e, &trust, *lock)
                })
            })
            .collect(),
    };
    let used: Vec<String> = todo.iter().map(|(r, _, _)| rel_path(r)).collect();
    if let Err(e) = target.abort_stale(&used) {
        // the copies are up: listing them matters more; the next run tries again
        rep.notes
            .push(format!("uploads a killed run left open not aborted: {e:#}"));
    }
    // then each listed, in order, once its index is there
    for ((r, i, _), done) in todo.iter().zip(copied) {
        let src = &sources[*i];
        match done.and_then(|bytes| list_copy(&src.cfg, &target, r).map(|()| bytes)) {
            Ok(bytes) => {
                rep.copied.push(rel_path(r));
                rep.copied_bytes += bytes;
                if src.name != "rotation" {
                    rep.notes.push(format!(
                        "{}: read from {} (its slot was recycled)",
                        rel_path(r),
                        src.name
                    ));
                }
            }
            Err(e) => rep.problems.push(format!("{}: {e:#}", rel_path(r))),
        }
    }
    state::save(cfg, vault, &target, rep.problems.len())?;
    Ok(rep)
}

/// `week 2026-W31, month 2026-07`.
pub fn periods(k: &Kept) -> String {
    k.periods
        .iter()
        .map(|p| p.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The instant a copy's retention ends: the day its policy releases it, at midnight UTC.
fn until(k: &Kept) -> Option<chrono::DateTime<chrono::Utc>> {
    Some(k.until.and_hms_opt(0, 0, 0)?.and_utc())
}

/// One dump to copy: its record, the source that holds it, the retention its copy gets.
type Todo<'r> = (&'r DumpRecord, usize, Option<chrono::DateTime<chrono::Utc>>);

/// Open one dump at its source through the tape reader and `put` it; the bytes written.
fn copy_file(
    src: &Config,
    trust: &Trust,
    r: &DumpRecord,
    mut put: impl FnMut(reader::Opened, Expect) -> Result<u64>,
) -> Result<u64> {
    let expect = Expect {
        slot: r.slot,
        label: Some(&r.label),
        record: Some(r),
    };
    let opened = reader::open(&src.dump_path(r), trust, expect)?;
    put(opened, expect)
}

/// A copy in place: its index into the vault's catalog, then its record.
fn list_copy(src: &Config, target: &Target, r: &DumpRecord) -> Result<()> {
    crate::failpoint::hit("vault-before-index");
    if let Some(ix) = &r.index {
        for f in copy_index(&src.catalog, &target.catalog, ix)? {
            target.put_catalog(&f)?;
        }
    }
    crate::failpoint::hit("vault-before-catalog");
    target.list(DumpRecord {
        path: Some(rel_path(r)),
        ..r.clone()
    })
}

/// A dump's index and its companions (browse tree, block table), when the source has them:
/// copied into the vault's local catalog; their names under it.
fn copy_index(from: &Path, to: &Path, ix: &str) -> Result<Vec<String>> {
    let src = from.join(ix);
    let dst = to.join(ix);
    let pairs = std::iter::once((src.clone(), dst.clone())).chain(
        index::companions(&src)
            .into_iter()
            .zip(index::companions(&dst)),
    );
    let mut out = vec![];
    for (s, d) in pairs {
        if !s.exists() {
            continue;
        }
        fsutil::create_dir_all(d.parent().unwrap())?;
        crate::mirror::copy_verified(&s, &d, None)?;
        out.push(d.strip_prefix(to)?.display().to_string());
    }
    Ok(out)
}
