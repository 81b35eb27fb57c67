//! `tapir verify`: re-read tape files. Without a key: the header, the length and the
//! payload's sha256. With an identity: also decrypt, decompress and read the tar to its end,
//! and compare its members with the catalog index.

use crate::catalog::{self, DumpRecord};
use crate::config::Config;
use crate::pipeline::index::{EntrySink, IndexEntry, TarIndexer};
use crate::vtape::{self, Slot, header::HEADER_SIZE};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Ok,
    Corrupt,
    Truncated,
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub verdict: Verdict,
    pub label: String,
    pub file: String,
    pub detail: String,
}

/// Verify the slots under `root` (labels `only`, or all), and report catalog records whose
/// files are gone as MISSING.
pub fn run(
    cfg: &Config,
    root: &Path,
    only: &[String],
    identity: Option<&Path>,
) -> anyhow::Result<Vec<Checked>> {
    let ids = identity.map(crate::keys::identities).transpose()?;
    let records = catalog::history::load_all(&cfg.catalog).unwrap_or_default();
    let mut out = Vec::new();
    for n in 1..=cfg.changer.slots {
        let slot = vtape::scan_slot(root, n)?;
        let Some(label) = slot.label_name().map(String::from) else {
            continue;
        };
        if !only.is_empty() && !only.contains(&label) {
            continue;
        }
        for f in &slot.files {
            let rec = records
                .iter()
                .find(|r| r.label == label && r.file_name == f.name);
            let (verdict, detail) = file(&slot, &f.name, ids.as_deref(), rec, &cfg.catalog);
            out.push(Checked {
                verdict,
                label: label.clone(),
                file: f.name.clone(),
                detail,
            });
        }
        out.extend(missing(&records, &label, &slot));
    }
    Ok(out)
}

fn missing(records: &[DumpRecord], label: &str, slot: &Slot) -> Vec<Checked> {
    records
        .iter()
        .filter(|r| r.label == label && !slot.files.iter().any(|f| f.name == r.file_name))
        .map(|r| Checked {
            verdict: Verdict::Missing,
            label: label.to_string(),
            file: r.file_name.clone(),
            detail: format!(
                "the catalog lists {} {} level {} here, the tape does not have it",
                r.host, r.disk, r.level
            ),
        })
        .collect()
}

type Ids = [Box<dyn age::Identity + Send + Sync>];

fn file(
    slot: &Slot,
    name: &str,
    ids: Option<&Ids>,
    rec: Option<&DumpRecord>,
    catalog: &Path,
) -> (Verdict, String) {
    let path = slot.dir.join(name);
    let h = match vtape::header::read_dump(&path) {
        Ok(h) => h,
        Err(e) => return (Verdict::Corrupt, format!("{e:#}")),
    };
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let want = HEADER_SIZE as u64 + h.payload_size;
    if !h.complete {
        return (
            Verdict::Corrupt,
            "the header says the dump is incomplete".into(),
        );
    }
    if len < want {
        return (
            Verdict::Truncated,
            format!("{len} bytes, the header says {want}"),
        );
    }
    if len > want {
        return (
            Verdict::Corrupt,
            format!("{len} bytes, the header says {want}"),
        );
    }
    let Some(ids) = ids else {
        return match sha_of(&path) {
            Ok(sha) if sha == h.payload_sha256 => (
                Verdict::Ok,
                format!("sha256 matches ({} {} level {})", h.host, h.disk, h.level),
            ),
            Ok(sha) => (
                Verdict::Corrupt,
                format!("payload sha256 {sha}, the header says {}", h.payload_sha256),
            ),
            Err(e) => (Verdict::Corrupt, format!("{e:#}")),
        };
    };
    match read_tar(&path, ids) {
        Err(e) => (Verdict::Corrupt, format!("{e:#}")),
        Ok(entries) => compare_index(entries, rec, catalog, &h),
    }
}

fn sha_of(path: &PathBuf) -> anyhow::Result<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut (&mut f).take(HEADER_SIZE as u64), &mut std::io::sink())?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(crate::keys::hex(&hash.finalize()))
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
fn read_tar(path: &Path, ids: &Ids) -> anyhow::Result<Members> {
    let mut ix = TarIndexer::new(Members::default());
    let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut ix);
    crate::fetch::fetch_with(path, Some(ids), &mut w)?;
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
