//! `tapir mirror`: make a directory (NFS) or an S3 prefix ([`s3`]) a verified copy of the
//! vtape root plus the catalog,
//! so that it alone restores. Only what changed is copied; every copy goes to a temp name, is
//! fsynced, read back and checked against the dump's header before it is renamed into place.
//! A recycled slot is built beside the old one and swapped in only when complete; a source
//! file whose payload does not match its header is reported and never replaces a copy.

pub mod s3;
pub mod tapeset;

use crate::catalog::{self, DumpRecord, history};
use crate::config::Config;
use crate::fsutil;
use crate::signing::Trust;
use crate::vtape::reader::{self, Expect, Opened, Problem};
use crate::vtape::{self, Slot, header::HEADER_SIZE};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a mirror run did.
#[derive(Debug, Default, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    pub copied: Vec<String>,
    #[serde(rename = "copied_bytes")]
    pub bytes: u64,
    pub unchanged: usize,
    pub problems: Vec<String>,
    /// Said, but not problems (unsigned files from before tapes were signed).
    pub notes: Vec<String>,
}

impl Report {
    /// Count one file of a slot: copied (its bytes), unchanged, or a problem; false for a
    /// problem.
    fn count(&mut self, slot: u32, name: &str, r: Result<Option<u64>>) -> bool {
        match r {
            Ok(Some(bytes)) => {
                self.copied.push(format!("slot{slot}/{name}"));
                self.bytes += bytes;
            }
            Ok(None) => self.unchanged += 1,
            Err(e) => {
                self.problems.push(format!("slot{slot}/{name}: {e:#}"));
                return false;
            }
        }
        true
    }
}

/// The last mirror run to one target, kept in the source catalog (`mirror.json`, one entry
/// a target) for `check-rpo`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub to: String,
    /// RFC 3339 time the run ended.
    pub finished: String,
    /// The newest dump datestamp the mirror holds.
    pub newest_datestamp: Option<String>,
    pub problems: usize,
    /// The dumps the target held complete after the run (`LABEL/FILE@DATESTAMP`).
    #[serde(default)]
    pub held: std::collections::BTreeSet<String>,
}

impl State {
    /// The target held this dump after its last run.
    pub fn holds(&self, r: &DumpRecord) -> bool {
        self.held.contains(&held_name(r))
    }
}

fn held_name(r: &DumpRecord) -> String {
    format!("{}/{}@{}", r.label, r.file_name, r.datestamp)
}

/// Every target's last run (a file from before lists held one).
pub fn load_states(catalog: &Path) -> Vec<State> {
    let Ok(text) = fs::read_to_string(catalog.join("mirror.json")) else {
        return vec![];
    };
    serde_json::from_str::<Vec<State>>(&text)
        .or_else(|_| serde_json::from_str::<State>(&text).map(|s| vec![s]))
        .unwrap_or_default()
}

/// The last run to `target`.
pub fn load_state(catalog: &Path, target: &str) -> Option<State> {
    load_states(catalog).into_iter().find(|s| s.to == target)
}

/// Record a run to `target`: the newest dump datestamp on the labels it now holds.
fn save_state(cfg: &Config, target: &str, labels: &[String], problems: usize) -> Result<()> {
    let held: Vec<DumpRecord> = history::load_all(&cfg.catalog)?
        .into_iter()
        .filter(|r| labels.contains(&r.label))
        .collect();
    let newest = held.iter().map(|r| r.datestamp.clone()).max();
    let mut all = load_states(&cfg.catalog);
    all.retain(|s| s.to != target);
    all.push(State {
        to: target.to_string(),
        finished: crate::clock::now()?.to_rfc3339(),
        newest_datestamp: newest,
        problems,
        held: held.iter().map(held_name).collect(),
    });
    fsutil::write_atomic(
        &cfg.catalog.join("mirror.json"),
        serde_json::to_string_pretty(&all)?.as_bytes(),
    )
}

/// Mirror to one target: a directory or `s3://BUCKET/PREFIX`.
pub fn run_target(cfg: &Config, target: &str) -> Result<Report> {
    if crate::s3::is_url(target) {
        let store = crate::s3::Store::open(target, &cfg.s3)?;
        s3::run(cfg, &store)
    } else {
        run(cfg, &std::path::absolute(target)?)
    }
}

/// Mirror the vtape root and catalog of `cfg` into `to`.
pub fn run(cfg: &Config, to: &Path) -> Result<Report> {
    let _lock = catalog::lock::exclusive(&cfg.catalog, "mirror")?;
    let root = cfg.changer.root.local_only("mirror")?;
    if to.starts_with(root) || root.starts_with(to) {
        bail!(crate::error::Error::config(format!(
            "mirror target {} overlaps the vtape root {}",
            to.display(),
            root.display()
        )));
    }
    let check = Check::new(cfg)?;
    let target = to.display().to_string();
    let found = tapeset::found_in_dir(to)?;
    if tapeset::claim(&check.set, &found, &target, |fp| check.trust.trusts(fp))? {
        fsutil::create_dir_all(to)?;
        fsutil::write_atomic(&to.join(tapeset::FILE), &check.set.encode()?)?;
    }
    // the copy's own lock too: a `rekey --from` it (on this or another machine) holds it
    let target_lock = catalog::lock::copy(&to.join("catalog"), "mirror")?;
    let mut rep = Report::default();
    if target_lock.is_none() {
        rep.notes.push(no_lock_note(to));
    }
    let mut mirrored_labels = vec![];
    for slot in vtape::scan(&cfg.changer, &check.trust)? {
        if mirror_slot(&slot, to, &check, &mut rep)? {
            mirrored_labels.extend(slot.label_name().map(String::from));
        }
    }
    mirror_tree(&cfg.catalog, &to.join("catalog"), &mut rep)?;
    save_state(
        cfg,
        &to.display().to_string(),
        &mirrored_labels,
        rep.problems.len(),
    )?;
    Ok(rep)
}

/// Names of a slot's files: the label file, then the dumps.
fn slot_names(slot: &Slot) -> Vec<String> {
    slot.label_name()
        .map(|l| format!("00000.{l}"))
        .into_iter()
        .chain(slot.files.iter().map(|f| f.name.clone()))
        .collect()
}

/// A name a mirror writes in a slot (`NNNNN.…`, the label or a dump): only such names are
/// ever replaced or deleted there; anything else (an admin's note) was not put there by
/// the mirror and is kept.
fn is_tape_name(name: &str) -> bool {
    name.len() > 6
        && name.as_bytes()[..5].iter().all(u8::is_ascii_digit)
        && name.as_bytes()[5] == b'.'
}

/// Names in a mirror directory that are not temp files.
fn dir_names(dir: &Path) -> Result<Vec<String>> {
    let mut out = vec![];
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let name = e?.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                out.push(name);
            }
        }
    }
    Ok(out)
}

/// What a source file must hold to be copied: the server's signature and the catalog's record.
struct Check {
    trust: Trust,
    records: Vec<DumpRecord>,
    /// The tape set this server's copies belong to.
    set: tapeset::TapeSet,
}

impl Check {
    fn new(cfg: &Config) -> Result<Check> {
        let (trust, set) = server_set(cfg)?;
        Ok(Check {
            trust,
            records: history::load_all(&cfg.catalog)?,
            set,
        })
    }

    /// Refuse a source file whose header is not what the catalog recorded or not signed by
    /// this server; a file written before tapes were signed is copied, and said so. A dump
    /// comes back opened by the one tape reader, whose payload the copy reads.
    fn source(&self, slot: &Slot, name: &str, rep: &mut Report) -> Result<Option<Opened>> {
        let path = slot.dir.join(name);
        let Some(label) = slot.label_name() else {
            bail!("the slot has no label");
        };
        if name.starts_with("00000.") {
            return match reader::open_label(&path, &self.trust) {
                Err(e) if e.problem == Problem::Unsigned => {
                    rep.notes.push(unsigned_note(slot.slot, name));
                    Ok(None)
                }
                r => r.map(|_| None).map_err(Into::into),
            };
        }
        {
            let record = self
                .records
                .iter()
                .find(|r| r.label == label && r.file_name == name);
            if record.is_none() {
                bail!("the catalog has no record of this file: not copied");
            }
            let expect = Expect {
                slot: slot.slot,
                label: Some(label),
                record,
            };
            match reader::open(&path, &self.trust, expect) {
                Err(e) if e.problem == Problem::Unsigned => {
                    rep.notes.push(unsigned_note(slot.slot, name));
                    let legacy = Trust::new(vec![], true);
                    Ok(Some(reader::open(&path, &legacy, expect)?))
                }
                r => Ok(Some(r?)),
            }
        }
    }
}

/// The keys this server's copies are checked with, and the tape set they belong to: what a
/// mirror or a vault writes under.
pub fn server_set(cfg: &Config) -> Result<(Trust, tapeset::TapeSet)> {
    let signer = crate::keys::signer(&cfg.signing, &cfg.encryption, &cfg.changer)?;
    let fp = crate::signing::fingerprint(signer.public());
    Ok((
        Trust::of_server(signer.public(), &cfg.signing)?,
        tapeset::ours(cfg, &fp)?,
    ))
}

fn unsigned_note(slot: u32, name: &str) -> String {
    format!("slot{slot}/{name}: unsigned (written before tapes were signed): copied")
}

/// Bring one slot up to date; `true` when the mirror's slot now equals the source's.
fn mirror_slot(slot: &Slot, to: &Path, check: &Check, rep: &mut Report) -> Result<bool> {
    let names = slot_names(slot);
    let src = slot.dir.local_only()?;
    let dest = to.join(vtape::slot_name(slot.slot));
    let staging = to.join(format!(".slot{}.new", slot.slot));
    let old = to.join(format!(".slot{}.old", slot.slot));
    finish_swap(&dest, &staging, &old)?;
    if names.is_empty() {
        return Ok(false);
    }
    // Appends (the same tape, more dumps) are copied in place; anything else is a recycled
    // tape and is built in the staging directory.
    let in_place = !staging.exists()
        && dir_names(&dest)?
            .iter()
            .filter(|n| is_tape_name(n))
            .all(|n| names.contains(n) && same_header(&src.join(n), &dest.join(n)));
    let work = if in_place { &dest } else { &staging };
    fsutil::create_dir_all(work)?;
    remove_temps(work)?;
    let mut complete = true;
    for n in &names {
        let copied = check
            .source(slot, n, rep)
            .and_then(|opened| copy_verified(&src.join(n), &work.join(n), opened));
        complete &= rep.count(slot.slot, n, copied);
    }
    if !in_place {
        if !complete {
            rep.problems.push(format!(
                "slot{}: the recycled tape is not complete on the mirror yet; the mirror keeps \
                 its previous content",
                slot.slot
            ));
            return Ok(false);
        }
        // what the mirror did not put there moves along into the new copy
        for n in dir_names(&dest)?.iter().filter(|n| !is_tape_name(n)) {
            fsutil::rename_durable(&dest.join(n), &staging.join(n))?;
        }
        if dest.exists() {
            fsutil::rename_durable(&dest, &old)?;
        }
        fsutil::rename_durable(&staging, &dest)?;
        fs::remove_dir_all(&old).ok();
    }
    Ok(complete)
}

/// Complete a swap a crash interrupted: `.old` without `slotN` means the new one is ready.
fn finish_swap(dest: &Path, staging: &Path, old: &Path) -> Result<()> {
    if !old.exists() {
        return Ok(());
    }
    if !dest.exists() {
        let back = if staging.exists() { staging } else { old };
        fsutil::rename_durable(back, dest)?;
    }
    fs::remove_dir_all(old).ok();
    Ok(())
}

fn remove_temps(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            fs::remove_file(e.path())?;
        }
    }
    Ok(())
}

/// The first 32 KiB (the header) of two files are the same dump.
fn same_header(a: &Path, b: &Path) -> bool {
    let head = |p: &Path| -> Option<Vec<u8>> {
        let mut buf = Vec::with_capacity(HEADER_SIZE);
        File::open(p)
            .ok()?
            .take(HEADER_SIZE as u64)
            .read_to_end(&mut buf)
            .ok()?;
        Some(buf)
    };
    matches!((head(a), head(b)), (Some(x), Some(y)) if x == y)
}

/// Same size and mtime (copies get the source's mtime): nothing to copy. Whether a slot's
/// copies are of the same dumps at all was settled by their headers before (`in_place`).
fn unchanged(src: &Path, dst: &Path) -> bool {
    match (fs::metadata(src), fs::metadata(dst)) {
        (Ok(a), Ok(b)) => {
            a.len() == b.len() && a.mtime() == b.mtime() && a.mtime_nsec() == b.mtime_nsec()
        }
        _ => false,
    }
}

/// What a copy without a lock of its own is told (its file system has none).
pub(crate) fn no_lock_note(dir: &Path) -> String {
    format!(
        "{}: its file system has no locks (NFS without its lock daemon?): a `tapir rekey --from` \
         it is not kept out while this runs",
        dir.join("catalog/lock").display()
    )
}

/// Copy `src` to `dst` unless unchanged; `Some(bytes)` when copied. A dump (`opened` by the
/// tape reader) is copied from the reader's own file: its payload must hold as the reader
/// checks it, and read back from the target with the header's sha256; any other file must
/// read back as it was read.
pub(crate) fn copy_verified(src: &Path, dst: &Path, opened: Option<Opened>) -> Result<Option<u64>> {
    if unchanged(src, dst) {
        return Ok(None);
    }
    let tmp = fsutil::temp_name(dst);
    let result = match opened {
        Some(o) => copy_dump(o, &tmp),
        None => copy_whole(src, &tmp),
    };
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let mtime = fs::metadata(src)?.modified()?;
    File::options()
        .write(true)
        .open(&tmp)?
        .set_modified(mtime)?;
    fsutil::rename_durable(&tmp, dst)?;
    Ok(Some(fs::metadata(dst)?.len()))
}

/// A dump: its header block and its payload, fsync, then read back past the page cache and
/// hashed once there: the copy holds the payload the signed header names, so the source did
/// too. Only when it does not is the source read again through the reader, to name which of
/// the two is bad.
pub(crate) fn copy_dump(mut opened: Opened, tmp: &Path) -> Result<()> {
    let want = opened.header.payload_sha256.clone();
    let head = opened.header_block()?;
    let mut to = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let wrote = |e: std::io::Error| {
        anyhow::Error::new(e).context(format!("cannot write {}", tmp.display()))
    };
    to.write_all(&head).map_err(wrote)?;
    let path = opened.path.to_string();
    let mut payload = opened.unhashed()?;
    let (mut pos, mut buf) = (HEADER_SIZE as u64, vec![0u8; 1 << 20]);
    loop {
        let n = (payload.read(&mut buf)).with_context(|| format!("cannot read {path}"))?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).map_err(wrote)?;
        pos += n as u64;
        if pos >= 1 << 20 {
            crate::failpoint::hit("mirror-mid-copy"); // inside a big file, after others
        }
    }
    drop(payload);
    to.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    drop(to);
    if read_back(tmp, false)?.0 == want {
        return Ok(());
    }
    opened
        .payload()?
        .finish()
        .map_err(|e| anyhow::anyhow!("{}: not copied", e.problem))?;
    bail!("the copy {} does not read back as written", tmp.display())
}

/// Any other file (a label, the catalog): copied, fsynced, and read back whole.
fn copy_whole(src: &Path, tmp: &Path) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    let mut to = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut whole = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        whole.update(&buf[..n]);
    }
    to.sync_all()
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    drop(to);
    if read_back(tmp, true)?.1 != whole.finalize() {
        bail!("the copy {} does not read back as written", tmp.display());
    }
    Ok(())
}

fn hash_payload(hash: &mut Sha256, chunk: &[u8], pos: u64) {
    let skip = (HEADER_SIZE as u64)
        .saturating_sub(pos)
        .min(chunk.len() as u64) as usize;
    hash.update(&chunk[skip..]);
}

/// Hash a file's payload (and, when `whole`, all of it) after asking the kernel to drop its
/// cached pages (so NFS reads the server).
fn read_back(p: &Path, whole: bool) -> Result<(String, sha2::digest::Output<Sha256>)> {
    let mut f = crate::sys::Uncached::open(p)?;
    let (mut hash, mut all) = (Sha256::new(), Sha256::new());
    let (mut pos, mut buf) = (0u64, crate::sys::Uncached::buffer(1 << 20));
    loop {
        let got = f.fill(&mut buf)?;
        if got.is_empty() {
            break;
        }
        hash_payload(&mut hash, got, pos);
        if whole {
            all.update(got);
        }
        pos += got.len() as u64;
    }
    Ok((crate::units::hex(&hash.finalize()), all.finalize()))
}

/// Copy a plain tree (the catalog) by size and mtime, each file atomically, then remove
/// what the source no longer has. Lock files stay behind.
fn mirror_tree(src: &Path, dst: &Path, rep: &mut Report) -> Result<()> {
    let skip = |rel: &Path| {
        let n = rel.file_name().unwrap_or_default().to_string_lossy();
        matches!(n.as_ref(), "lock" | "tapes.lock") || n.starts_with('.')
    };
    let mut seen = std::collections::HashSet::new();
    for e in walkdir::WalkDir::new(src).min_depth(1) {
        let e = e.with_context(|| format!("cannot read {}", src.display()))?;
        let rel = e.path().strip_prefix(src).unwrap().to_path_buf();
        if skip(&rel) || !e.file_type().is_file() {
            continue;
        }
        seen.insert(rel.clone());
        let to = dst.join(&rel);
        if let Some(parent) = to.parent() {
            fsutil::create_dir_all(parent)?;
        }
        match copy_verified(e.path(), &to, None) {
            Ok(Some(b)) => rep.bytes += b,
            Ok(None) => rep.unchanged += 1,
            Err(err) => rep
                .problems
                .push(format!("catalog/{}: {err:#}", rel.display())),
        }
    }
    remove_stale(dst, &seen, &skip)
}

fn remove_stale(
    dst: &Path,
    seen: &std::collections::HashSet<PathBuf>,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<()> {
    for e in walkdir::WalkDir::new(dst).min_depth(1).contents_first(true) {
        let Ok(e) = e else { continue };
        let rel = e.path().strip_prefix(dst).unwrap();
        if e.file_type().is_file() && !seen.contains(rel) && !skip(rel) {
            fs::remove_file(e.path())?;
        } else if e.file_type().is_dir() {
            let _ = fs::remove_dir(e.path()); // only when empty
        }
    }
    Ok(())
}
