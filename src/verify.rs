//! `tapir verify`: re-read tape files. Without a key: the header, the length and the
//! payload's sha256. With an identity: also decrypt, decompress and read the tar to its end,
//! and compare its members with the catalog index.

use crate::catalog::verified::{self, Mark, Verified};
use crate::catalog::{self, DumpRecord};
use crate::config::Config;
use crate::pipeline::index::{EntrySink, IndexEntry, TarIndexer};
use crate::signing::Trust;
use crate::vtape::reader::{self, Expect, Problem, TapeError};
use crate::vtape::{self, Slot};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Ok,
    Corrupt,
    Truncated,
    Missing,
    /// The header does not say what the catalog recorded, or names another place.
    Mismatch,
    /// No signature (`--insecure-skip-signature` reads it).
    Unsigned,
    /// A signature that does not verify with the trusted key.
    Badsig,
}

impl Verdict {
    fn of(p: &Problem) -> Verdict {
        match p.verdict() {
            "TRUNCATED" => Verdict::Truncated,
            "MISMATCH" => Verdict::Mismatch,
            "UNSIGNED" => Verdict::Unsigned,
            "BADSIG" => Verdict::Badsig,
            _ => Verdict::Corrupt,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Checked {
    #[serde(rename = "status")]
    pub verdict: Verdict,
    pub label: String,
    pub file: String,
    pub detail: String,
}

/// How far one verify run goes, and what it knows of earlier ones.
#[derive(Default)]
pub struct Limits<'a> {
    /// Stop once this much time has passed (after the files being read at that moment).
    pub max_time: Option<std::time::Duration>,
    /// Earlier verifications of this copy: with `max_time`, the least recently verified
    /// files are read first.
    pub marks: Option<(&'a Verified, &'a str)>,
}

/// What a verify run found.
pub struct Run {
    pub checked: Vec<Checked>,
    /// The dump files read and found good, with this run's mark.
    pub good: Vec<(String, Mark)>,
    /// Every dump file the catalog lists now (marks of others are dropped).
    pub current: Vec<String>,
    /// Dump files not reached before `max_time` ran out.
    pub left: usize,
}

/// One dump file to read: where, what the catalog says of it, and where its verdict goes
/// in the output (slot, position).
struct Job<'r> {
    order: (u32, u32, usize),
    path: crate::vtape::TapePath,
    slot: u32,
    label: String,
    file: String,
    record: Option<&'r DumpRecord>,
    /// A vault copy: a file that is gone is MISSING (a slot's are found by listing it).
    copy: bool,
}

/// Verify the slots under `root` (labels `only`, or all): every label and dump file, and
/// every file the catalog lists that is not there (MISSING), also when a whole slot or its
/// label file is gone; then a vault's copies (its catalog's records with a `path`).
pub fn run(
    cfg: &Config,
    root: &vtape::Root,
    only: &[String],
    identity: Option<&Path>,
    trust: &Trust,
    limits: &Limits,
) -> anyhow::Result<Run> {
    let ids = identity.map(crate::keys::identities).transpose()?;
    let (copies, records): (Vec<DumpRecord>, Vec<DumpRecord>) =
        catalog::history::load_all(&cfg.catalog)?
            .into_iter()
            .partition(|r| r.path.is_some());
    let mut out: Vec<((u32, u32, usize), Checked)> = Vec::new();
    let mut jobs: Vec<Job> = Vec::new();
    let last = records.iter().map(|r| r.slot).max().unwrap_or(0);
    for n in 1..=cfg.changer.slots.max(last) {
        let slot = vtape::scan_checked(root, n, trust)?;
        let listed: Vec<&DumpRecord> = records.iter().filter(|r| r.slot == n).collect();
        // a damaged label's own word is not trusted: the catalog names the tape first
        let on_file = slot
            .label_file
            .as_deref()
            .and_then(|f| f.strip_prefix("00000."));
        let named = match slot.damaged {
            Some(_) => listed.first().map(|r| r.label.as_str()).or(on_file),
            None => slot.label_name(),
        };
        let Some(label) = named
            .or_else(|| listed.first().map(|r| r.label.as_str()))
            .map(String::from)
        else {
            continue;
        };
        if !only.is_empty() && !only.contains(&label) {
            continue;
        }
        out.extend(label_file(&slot, &label, &listed, trust).map(|c| ((n, 0, 0), c)));
        for (i, f) in slot.files.iter().enumerate() {
            jobs.push(Job {
                order: (n, 1, i),
                path: slot.dir.join(&f.name),
                slot: n,
                label: label.clone(),
                file: f.name.clone(),
                record: listed
                    .iter()
                    .find(|r| r.label == label && r.file_name == f.name)
                    .copied(),
                copy: false,
            });
        }
        let gone = missing(&listed, &label, &slot).into_iter();
        out.extend(gone.enumerate().map(|(i, c)| ((n, 2, i), c)));
    }
    let wanted = copies
        .iter()
        .filter(|r| only.is_empty() || only.contains(&r.label));
    for (i, r) in wanted.enumerate() {
        jobs.push(Job {
            order: (u32::MAX, 1, i),
            path: cfg.dump_path(r),
            slot: r.slot,
            label: r.label.clone(),
            file: r.path.clone().unwrap_or_default(),
            record: Some(r),
            copy: true,
        });
    }
    let current = records.iter().chain(&copies).map(verified::id).collect();
    if let (Some(_), Some((v, copy))) = (limits.max_time, limits.marks) {
        // never verified first, then the longest ago
        let at = |j: &Job| {
            j.record
                .and_then(|r| v.get(copy, &verified::id(r)))
                .map(|m| m.at.clone())
        };
        jobs.sort_by_cached_key(|j| (at(j), j.order));
    }
    let (done, left) = read_jobs(cfg, &jobs, limits, trust, ids.as_deref());
    let now = crate::clock::datestamp(&crate::clock::now()?);
    let depth = if ids.is_some() { "decode" } else { "sha256" };
    // a run told to skip signatures (--insecure-skip-signature) records nothing as verified
    let good = jobs
        .iter()
        .zip(&done)
        .filter(|_| !trust.skip_signature)
        .filter(|(_, c)| c.verdict == Verdict::Ok)
        .filter_map(|(j, _)| j.record)
        .map(|r| {
            let m = Mark {
                at: now.clone(),
                depth: depth.into(),
            };
            (verified::id(r), m)
        })
        .collect();
    let ordered = limits.max_time.is_none();
    out.extend(jobs.iter().zip(done).map(|(j, c)| (j.order, c)));
    if ordered {
        out.sort_by_key(|(k, _)| *k);
    }
    Ok(Run {
        checked: out.into_iter().map(|(_, c)| c).collect(),
        good,
        current,
        left,
    })
}

/// Read the jobs on every core, in order, until `max_time` has passed (each core reads at
/// least one): the verdicts of those read, a prefix of the jobs, and how many were left.
fn read_jobs(
    cfg: &Config,
    jobs: &[Job],
    limits: &Limits,
    trust: &Trust,
    ids: Option<&Ids>,
) -> (Vec<Checked>, usize) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let t0 = std::time::Instant::now();
    let numbered: Vec<(usize, &Job)> = jobs.iter().enumerate().collect();
    // a core takes the next job only while time is left: once it is up, every later job is
    // left, so those read are the first ones
    let read = crate::pool::par_map(&numbered, threads as u32, |(i, j)| {
        let late = limits.max_time.is_some_and(|m| t0.elapsed() >= m);
        (*i < threads || !late).then(|| read_job(cfg, j, trust, ids))
    });
    let done: Vec<Checked> = read.into_iter().map_while(|c| c).collect();
    let left = jobs.len() - done.len();
    (done, left)
}

fn read_job(cfg: &Config, j: &Job, trust: &Trust, ids: Option<&Ids>) -> Checked {
    let gone =
        j.copy && matches!(j.path.open(), Err(e) if e.kind() == std::io::ErrorKind::NotFound);
    let (verdict, detail) = match j.record {
        Some(r) if gone => (
            Verdict::Missing,
            format!(
                "the catalog lists {} {} level {} of {} at {}, the vault does not have it",
                r.host, r.disk, r.level, r.datestamp, j.file
            ),
        ),
        _ => {
            let expect = Expect {
                slot: j.slot,
                label: Some(&j.label),
                record: j.record,
            };
            file(&j.path, expect, trust, ids, &cfg.catalog)
        }
    };
    Checked {
        verdict,
        label: j.label.clone(),
        file: j.file.clone(),
        detail,
    }
}

/// The label file: signed, or MISSING while the catalog lists dumps on the tape.
fn label_file(slot: &Slot, label: &str, listed: &[&DumpRecord], trust: &Trust) -> Option<Checked> {
    let name = slot
        .label_file
        .clone()
        .unwrap_or_else(|| format!("00000.{label}"));
    let (verdict, detail) = if let Some(p) = &slot.damaged {
        (Verdict::of(p), format!("DAMAGED label: {p}"))
    } else if slot.label.is_some() {
        match reader::open_label(&slot.dir.join(&name), trust) {
            Ok(_) => return None,
            Err(e) => (Verdict::of(&e.problem), e.problem.to_string()),
        }
    } else if let Some(why) = &slot.label_error {
        (Verdict::Corrupt, why.clone())
    } else {
        (
            Verdict::Missing,
            format!(
                "slot {} has no label file; the catalog lists {} dump(s) on tape {label} there",
                slot.slot,
                listed.len()
            ),
        )
    };
    Some(Checked {
        verdict,
        label: label.to_string(),
        file: name,
        detail,
    })
}

fn missing(listed: &[&DumpRecord], label: &str, slot: &Slot) -> Vec<Checked> {
    listed
        .iter()
        .filter(|r| !(r.label == label && slot.files.iter().any(|f| f.name == r.file_name)))
        .map(|r| Checked {
            verdict: Verdict::Missing,
            label: r.label.clone(),
            file: r.file_name.clone(),
            detail: format!(
                "the catalog lists {} {} level {} of {} in slot {}, the slot does not have it",
                r.host, r.disk, r.level, r.datestamp, slot.slot
            ),
        })
        .collect()
}

type Ids = crate::vtape::decode::Ids;

fn file(
    path: &crate::vtape::TapePath,
    expect: Expect,
    trust: &Trust,
    ids: Option<&Ids>,
    catalog: &Path,
) -> (Verdict, String) {
    let opened = match reader::open(path, trust, expect) {
        Ok(o) => o,
        Err(e) => return (Verdict::of(&e.problem), e.problem.to_string()),
    };
    let h = opened.header.clone();
    let unsigned = if opened.signed {
        ""
    } else {
        " (signature NOT checked)"
    };
    let Some(ids) = ids else {
        return match opened.payload().and_then(|p| p.finish()) {
            Ok(()) => (
                Verdict::Ok,
                format!(
                    "sha256 matches ({} {} level {}){unsigned}",
                    h.host, h.disk, h.level
                ),
            ),
            Err(e) => (Verdict::of(&e.problem), e.problem.to_string()),
        };
    };
    if h.is_stream() {
        return match opened.decode_stream(ids, &mut std::io::sink()) {
            Ok((_, n)) => (
                Verdict::Ok,
                format!(
                    "stream of {} {} ({n} bytes, program {}) read to the end; its sha256 \
                     matches the header{unsigned}",
                    h.host, h.disk, h.program
                ),
            ),
            Err(e) => match e.downcast_ref::<TapeError>() {
                Some(t) => (Verdict::of(&t.problem), t.problem.to_string()),
                None => (Verdict::Corrupt, format!("{e:#}")),
            },
        };
    }
    match read_tar(opened, ids) {
        Err(e) => match e.downcast_ref::<TapeError>() {
            Some(t) => (Verdict::of(&t.problem), t.problem.to_string()),
            None => (Verdict::Corrupt, format!("{e:#}")),
        },
        Ok(entries) => {
            let (v, d) = compare_index(entries, expect.record, catalog, &h);
            (v, format!("{d}{unsigned}"))
        }
    }
}

/// Counts the members and hashes their paths in order, for the index comparison: a
/// digest, not a list, so that verifying a dump of 10 million files takes no more memory
/// than one of ten.
#[derive(Default)]
pub struct Members {
    count: u64,
    hash: Sha256,
}

impl Members {
    fn add(&mut self, path: &[u8]) {
        self.count += 1;
        self.hash.update((path.len() as u64).to_le_bytes());
        self.hash.update(path);
    }
    fn same(self, other: Members) -> bool {
        self.count == other.count && self.hash.finalize() == other.hash.finalize()
    }
}

impl EntrySink for Members {
    fn entry(&mut self, e: IndexEntry) -> std::io::Result<()> {
        if !e.prev {
            self.add(&e.path);
        }
        Ok(())
    }
}

/// Decrypt and decompress the whole payload (checksum included) and parse its tar.
fn read_tar(opened: reader::Opened, ids: &Ids) -> anyhow::Result<Members> {
    // the comparison is of member names: hashing each file's content would be work for
    // nothing here (recover and drill check contents against the index)
    let mut ix = TarIndexer::with_sums(Members::default(), false);
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut ix);
    opened.decode(ids, &mut w)?;
    drop(w);
    let (members, _, broken) = ix.finish();
    if let Some(why) = broken {
        anyhow::bail!("the tar inside is damaged: {why}");
    }
    Ok(members)
}

fn compare_index(
    members: Members,
    rec: Option<&DumpRecord>,
    catalog: &Path,
    h: &vtape::header::DumpHeader,
) -> (Verdict, String) {
    let Some(ix) = rec.and_then(|r| r.index.as_ref()) else {
        return (
            Verdict::Ok,
            format!(
                "{} members read to the end (no index to compare)",
                members.count
            ),
        );
    };
    let mut indexed = Members::default();
    let read = catalog::index::each(&catalog.join(ix), |l| {
        if !l.prev {
            indexed.add(&catalog::index::unescape(&l.p));
        }
        Ok(())
    });
    if let Err(e) = read {
        return (
            Verdict::Ok,
            format!("{} members read; index unreadable: {e:#}", members.count),
        );
    }
    let (count, listed) = (members.count, indexed.count);
    if !members.same(indexed) {
        return (
            Verdict::Corrupt,
            format!("the tar has {count} members, the index {listed}: they differ"),
        );
    }
    (
        Verdict::Ok,
        format!(
            "{} members of {} {} level {} read to the end and match the index",
            count, h.host, h.disk, h.level
        ),
    )
}
