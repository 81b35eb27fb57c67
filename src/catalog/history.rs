//! Per-DLE dump history: one JSON-lines file per DLE, rewritten atomically on every change.

use crate::fsutil;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Outcome of a dump that reached a tape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum DumpStatus {
    Ok,
    Partial,
    /// The catalog recorded it, but its file is no longer on the tape (listed by `find`
    /// from `catalog/missing.jsonl` until an admin drops it with
    /// `tapir catalog forget-missing`).
    Missing,
}

/// One dump as the catalog knows it (a cache of its tape header).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DumpRecord {
    pub host: String,
    pub disk: String,
    pub datestamp: String,
    pub level: u8,
    pub label: String,
    pub slot: u32,
    pub file_number: u32,
    pub file_name: String,
    pub status: DumpStatus,
    /// The tar stream's size (JSON `tar_bytes`; `original_size` in older catalogs).
    #[serde(rename = "tar_bytes", alias = "original_size")]
    pub original_size: u64,
    /// The payload on tape (JSON `tape_bytes`; `payload_size` in older catalogs).
    #[serde(rename = "tape_bytes", alias = "payload_size")]
    pub payload_size: u64,
    pub payload_sha256: String,
    pub compress: String,
    pub encrypt: String,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub seconds: f64,
    /// The client's clock when the dump started (reference for later incrementals).
    /// Nanoseconds since the epoch, as a string in JSON (it exceeds 2^53, which JSON
    /// numbers in jq and JavaScript cannot hold); older catalogs have a number.
    #[serde(default, with = "crate::catalog::ns_string")]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub client_time_ns: i64,
    /// The same instant as RFC 3339 (UTC, nanoseconds).
    #[serde(default)]
    pub client_time: String,
    /// Index file, relative to the catalog, if one was written.
    #[serde(default)]
    pub index: Option<String>,
    /// Where the file is under its root when that is not its slot: a vault copy
    /// (`dumps/HOST/DISK/DATESTAMP/NAME`, in the vault's own catalog). Absent on a tape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// While `tapir rekey` replaces the file: the payload it had before (readers take
    /// either until the new file is in place and the rekey has dropped this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rekeyed_from: Option<Payload>,
}

/// A payload's size and sha256.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Payload {
    pub tape_bytes: u64,
    pub payload_sha256: String,
}

/// The label of a dump waiting in the holding area (slot 0): no tape has that label (a
/// label must match `labelstr`, and `tapir label` refuses this one).
pub const HOLDING: &str = "HOLDING";

impl DumpRecord {
    /// The dump waits in the holding area, not on a tape yet.
    pub fn is_held(&self) -> bool {
        self.slot == 0 && self.label == HOLDING
    }
}

/// The history file of one DLE.
pub fn path(catalog: &Path, host: &str, disk: &str) -> PathBuf {
    catalog
        .join("history")
        .join(fsutil::escape_component(host))
        .join(format!("{}.jsonl", fsutil::escape_component(disk)))
}

/// All records of one DLE, oldest first.
pub fn load(catalog: &Path, host: &str, disk: &str) -> Result<Vec<DumpRecord>> {
    load_file(&path(catalog, host, disk))
}

fn load_file(p: &Path) -> Result<Vec<DumpRecord>> {
    let text = match std::fs::read_to_string(p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: bad history record", p.display(), i + 1))
        })
        .collect()
}

/// Replace the history of one DLE.
pub fn save(catalog: &Path, host: &str, disk: &str, records: &[DumpRecord]) -> Result<()> {
    let p = path(catalog, host, disk);
    fsutil::create_dir_all(p.parent().unwrap())?;
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    fsutil::write_atomic(&p, text.as_bytes())
}

/// How many times this process read the whole history ([`load_all`]): a `dump` reads it
/// once and passes it down (its run log's `end` event says so).
static LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The number of [`load_all`] calls so far in this process.
pub fn loads() -> usize {
    LOADS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Every record of every DLE, sorted by datestamp then host and disk.
pub fn load_all(catalog: &Path) -> Result<Vec<DumpRecord>> {
    LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut out = Vec::new();
    let root = catalog.join("history");
    // a catalog this user may not read is an error, never an empty history
    if !root
        .try_exists()
        .with_context(|| format!("cannot read {}", root.display()))?
    {
        return Ok(out);
    }
    for entry in walkdir::WalkDir::new(&root).min_depth(2).max_depth(2) {
        let entry = entry.with_context(|| format!("cannot read {}", root.display()))?;
        let name = entry.file_name().to_string_lossy();
        if name.ends_with(".jsonl") && !name.starts_with('.') {
            out.extend(load_file(entry.path())?);
        }
    }
    out.sort_by(|a, b| (&a.datestamp, &a.host, &a.disk).cmp(&(&b.datestamp, &b.host, &b.disk)));
    Ok(out)
}

/// Add one record to its DLE's history.
pub fn append(catalog: &Path, rec: &DumpRecord) -> Result<()> {
    let mut all = load(catalog, &rec.host, &rec.disk)?;
    all.retain(|r| !(r.label == rec.label && r.file_number == rec.file_number));
    all.push(rec.clone());
    all.sort_by(|a, b| a.datestamp.cmp(&b.datestamp));
    save(catalog, &rec.host, &rec.disk, &all)
}

/// Records whose tape file is gone: kept, listed and reported, never used for a restore.
pub fn missing_path(catalog: &Path) -> PathBuf {
    catalog.join("missing.jsonl")
}

/// The records of dumps whose files are gone (status as they were written).
pub fn load_missing(catalog: &Path) -> Result<Vec<DumpRecord>> {
    load_file(&missing_path(catalog))
}

/// Replace the list of missing dumps (an empty list removes the file).
pub fn save_missing(catalog: &Path, records: &[DumpRecord]) -> Result<()> {
    let p = missing_path(catalog);
    if records.is_empty() {
        return match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        };
    }
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    fsutil::write_atomic(&p, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_records_load_and_new_ones_speak_the_json_vocabulary() {
        let old = r#"{"host":"h","disk":"/d","datestamp":"20260101020000","level":0,"label":"daily-01","slot":1,"file_number":1,"file_name":"00001.h._d.0","status":"OK","original_size":10,"payload_size":20,"payload_sha256":"ab","compress":"server-fast","encrypt":"server","client_time_ns":1767232800123456789}"#;
        let r: DumpRecord = serde_json::from_str(old).unwrap();
        assert_eq!((r.original_size, r.payload_size), (10, 20));
        assert_eq!(r.client_time_ns, 1_767_232_800_123_456_789);
        let new = serde_json::to_value(&r).unwrap();
        assert_eq!(new["tar_bytes"], 10);
        assert_eq!(new["tape_bytes"], 20);
        assert_eq!(new["client_time_ns"], "1767232800123456789");
        let back: DumpRecord = serde_json::from_value(new).unwrap();
        assert_eq!(back, r);
    }
}
